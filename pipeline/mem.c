/* mem.c - counted allocation, huge-page tables and the growable buffer.
 *
 * The count uses malloc_usable_size so that it matches what the allocator
 * really holds, with no per-block header of our own. */
#include "wiredup/mem.h"
#include "wiredup/log.h"

#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static size_t mem_used;

static uint64_t mem_allocs; /* calls that (re)allocated, for the benchmarks */

/* Blocks of WD_MMAP_MIN and more come from mmap and go back with munmap.
 * The index's tables (64 LSH bands, id table, cluster table, SimHash
 * index) grow by rebuilding at a larger size; served from the heap, each
 * rebuild left the old table as a hole that stayed resident and that the
 * next, larger table could not reuse: 12 MB of free heap at 100k articles,
 * 137 B of peak RSS per article (measured with mallinfo2). Set once, before
 * the first allocation, so glibc's dynamic threshold (which rises, up to
 * 32 MiB, as mmapped blocks are freed) never moves either: huge-page
 * tables (wd_calloc_huge) must be mmapped, not carved from reused heap
 * memory that stays in small pages. */
#define WD_MMAP_MIN ((size_t)64 << 10)

__attribute__((constructor)) static void mem_init(void) {
  mallopt(M_MMAP_THRESHOLD, (int)WD_MMAP_MIN);
}

static void mem_oom(size_t size) {
  WD_LOG(WD_LOG_ERROR, "out of memory", "requested=%zu used=%zu", size,
         __atomic_load_n(&mem_used, __ATOMIC_RELAXED));
  exit(1);
}

static void *mem_count(void *p, size_t size) {
  if (!p)
    mem_oom(size);
  __atomic_add_fetch(&mem_used, malloc_usable_size(p), __ATOMIC_RELAXED);
  __atomic_add_fetch(&mem_allocs, 1, __ATOMIC_RELAXED);
  return p;
}

void *wd_malloc(size_t size) { return mem_count(malloc(size ? size : 1), size); }

void *wd_calloc(size_t cnt, size_t size) {
  if (size && cnt > SIZE_MAX / size)
    mem_oom(SIZE_MAX);
  return mem_count(calloc(cnt ? cnt : 1, size ? size : 1), cnt * size);
}

void *wd_realloc(void *ptr, size_t size) {
  size_t old = ptr ? malloc_usable_size(ptr) : 0;
  void *p = realloc(ptr, size ? size : 1);
  if (!p)
    mem_oom(size);
  __atomic_sub_fetch(&mem_used, old, __ATOMIC_RELAXED);
  __atomic_add_fetch(&mem_used, malloc_usable_size(p), __ATOMIC_RELAXED);
  __atomic_add_fetch(&mem_allocs, 1, __ATOMIC_RELAXED);
  return p;
}

void wd_free(void *ptr) {
  if (!ptr)
    return;
  __atomic_sub_fetch(&mem_used, malloc_usable_size(ptr), __ATOMIC_RELAXED);
  free(ptr);
}

void *wd_calloc_huge(size_t cnt, size_t size) {
  if (size && cnt > SIZE_MAX / size)
    mem_oom(SIZE_MAX);
  const size_t n = cnt * size;
  if (n < WD_HUGE_PAGE)
    return wd_calloc(cnt, size);
  void *p = NULL;
  if (posix_memalign(&p, WD_HUGE_PAGE, n) != 0)
    mem_oom(n);
#ifdef MADV_HUGEPAGE
  /* Not rounded up to whole huge pages (a caller that wants its tail in a
   * huge page sizes the table so, as the LSH does): the whole 4 KiB pages
   * inside the block are ours alone, so drop whatever small pages reused heap
   * memory still has there, else the block keeps them and only fresh
   * memory became huge. Hints: no harm where THP is off. */
  const size_t whole = n & ~(size_t)4095;
  (void)madvise(p, whole, MADV_DONTNEED);
  (void)madvise(p, whole, MADV_HUGEPAGE);
#endif
  memset(p, 0, n);
  return mem_count(p, n);
}

char *wd_strndup(const char *s, size_t len) {
  char *d = wd_malloc(len + 1);
  memcpy(d, s, len);
  d[len] = '\0';
  return d;
}

char *wd_strdup(const char *s) { return wd_strndup(s, strlen(s)); }

size_t wd_mem_used(void) { return __atomic_load_n(&mem_used, __ATOMIC_RELAXED); }

uint64_t wd_mem_allocs(void) { return __atomic_load_n(&mem_allocs, __ATOMIC_RELAXED); }

/* ==== Buffer ==== */

void wd_buf_init(wd_buf_t *b) { b->p = NULL, b->len = 0, b->cap = 0; }

void wd_buf_free(wd_buf_t *b) {
  wd_free(b->p);
  wd_buf_init(b);
}

void wd_buf_clear(wd_buf_t *b) {
  b->len = 0;
  if (b->p)
    b->p[0] = '\0';
}

void wd_buf_reserve(wd_buf_t *b, size_t extra) {
  size_t need = b->len + extra + 1;
  if (need <= b->cap)
    return;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need)
    cap *= 2;
  b->p = wd_realloc(b->p, cap);
  b->cap = cap;
}

void wd_buf_append(wd_buf_t *b, const void *src, size_t src_len) {
  wd_buf_reserve(b, src_len);
  if (src_len)
    memcpy(b->p + b->len, src, src_len);
  b->len += src_len;
  b->p[b->len] = '\0';
}

void wd_buf_appendc(wd_buf_t *b, char c) {
  wd_buf_reserve(b, 1);
  b->p[b->len++] = c;
  b->p[b->len] = '\0';
}

void wd_buf_appends(wd_buf_t *b, const char *s) { wd_buf_append(b, s, strlen(s)); }

void wd_buf_printf(wd_buf_t *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n <= 0)
    return;
  wd_buf_reserve(b, (size_t)n);
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

void *wd_ring_grow(void *ring, size_t elsz, size_t *head, size_t cnt, size_t *cap,
                   size_t first) {
  size_t ncap = *cap ? *cap * 2 : first;
  char *dst = wd_malloc(ncap * elsz);
  const char *src = ring;
  size_t tail = *cap - *head < cnt ? *cap - *head : cnt; /* before the wrap */
  if (cnt) {
    memcpy(dst, src + *head * elsz, tail * elsz);
    memcpy(dst + tail * elsz, src, (cnt - tail) * elsz);
  }
  wd_free(ring);
  *head = 0;
  *cap = ncap;
  return dst;
}
