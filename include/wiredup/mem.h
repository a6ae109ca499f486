/* mem.h - the one allocation wrapper (redis zmalloc style), huge-page
 * backed tables for the large indexes, and a growable byte buffer.
 *
 * Every allocation in libwiredup goes through wd_malloc and friends so that
 * wd_mem_used() is exact. Out of memory logs one line and exits 1: the
 * contract forbids a bare abort, and there is nothing useful left to do. */
#ifndef WD_MEM_H
#define WD_MEM_H

#include <stddef.h>
#include <stdint.h>

void *wd_malloc(size_t size);
void *wd_calloc(size_t cnt, size_t size);
void *wd_realloc(void *ptr, size_t size);
void wd_free(void *ptr); /**< wd_free(NULL) is a no-op */
#define WD_HUGE_PAGE ((size_t)2 << 20) /**< transparent huge page size */
/** @brief wd_calloc for a large table read at random: from 2 MiB up it is
 *  aligned to 2 MiB and advised as transparent huge pages (one TLB entry per
 *  2 MiB instead of per 4 KiB), and touched at once. Freed with wd_free. */
void *wd_calloc_huge(size_t cnt, size_t size);
char *wd_strdup(const char *s);
char *wd_strndup(const char *s, size_t len);

/** @brief Bytes currently allocated through this wrapper (all threads). */
size_t wd_mem_used(void);
/** @brief Allocations so far (wd_malloc, wd_calloc, wd_realloc, cJSON's):
 *  the benchmarks check that the hot path makes none per record. */
uint64_t wd_mem_allocs(void);

/** @brief The capacity for a scratch buffer that must hold \p need items,
 *  where many such buffers (one per batch slot, per thread) serve records of
 *  the same stream: the high-water mark \p hwm (shared, raised here to 1.5x
 *  a need above it) when that is enough. Each buffer then grows about once
 *  instead of creeping up to the high-water mark on its own. */
static inline size_t wd_cap_hwm(size_t *hwm, size_t need) {
  const size_t h = __atomic_load_n(hwm, __ATOMIC_RELAXED);
  if (need <= h)
    return h;
  __atomic_store_n(hwm, need + need / 2, __ATOMIC_RELAXED);
  return need + need / 2;
}

/** A growable byte buffer. Reuse it across records: it only grows, so the hot
 *  path stops allocating once it has reached its high-water mark. p is always
 *  NUL-terminated after any append (when cap > 0). */
typedef struct wd_buf_s {
  char *p;
  size_t len;
  size_t cap;
} wd_buf_t;

#define WD_BUF_INIT {NULL, 0, 0}

void wd_buf_init(wd_buf_t *b);
void wd_buf_free(wd_buf_t *b);             /**< frees storage, leaves an empty buffer */
void wd_buf_clear(wd_buf_t *b);            /**< len = 0, keeps storage */
void wd_buf_reserve(wd_buf_t *b, size_t extra); /**< room for len+extra+1 */
void wd_buf_append(wd_buf_t *b, const void *src, size_t src_len);
void wd_buf_appendc(wd_buf_t *b, char c);
void wd_buf_appends(wd_buf_t *b, const char *s);
void wd_buf_printf(wd_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** @brief Double a ring of \p cnt items of \p elsz bytes from \p *head (of
 *  \p *cap; \p first when it has none yet): returns the new ring, with its
 *  items unwrapped from index 0 (\p *head = 0, \p *cap updated). */
void *wd_ring_grow(void *ring, size_t elsz, size_t *head, size_t cnt, size_t *cap,
                   size_t first);

#endif
