/* lsh.c - banded LSH index: per band, an open-addressing multimap from a band
 * key fingerprint to doc ids, with small side lists for keys shared by docs.
 *
 * A band key is XXH3 of the band's rows (seeded by band index). Only 31 bits of
 * it are kept (8-byte slots: tag + doc), and the home slot is chosen from those
 * same 31 bits, so a table can be rehashed from what it stores. Two different
 * band contents share a tag with probability 2^-31; the caller verifies
 * candidates anyway, and the worst a false tag does is add a band vote.
 *
 * Linear probing with backward-shift deletion keeps the table free of
 * tombstones under eviction churn. A key held by one doc (the common case for
 * news) lives inline; a key held by several docs points to a deque of doc ids
 * in insertion order, so a flood of identical articles costs O(1) per insert
 * and queries read only the newest max_bucket_scan of them. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "wiredup/lsh.h"
#include "wiredup/mix.h"
#include "wiredup/mem.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define NIL UINT32_MAX
#define TAG_LIST 0x80000000u /* val is a list id, not a doc */
#define TAG_FP 0x7fffffffu   /* tag 0 = empty slot */
#define BAND_MIN_CAP 16u
#define LIST_MIN_CAP 4u
#define SCAN_DEFAULT 256u

typedef struct lsh_slot_s {
  uint32_t tag;
  uint32_t val;
} lsh_slot_t;

typedef struct lsh_band_s {
  lsh_slot_t *slot;
  uint32_t cap, used;
} lsh_band_t;

/* Docs sharing one band key, oldest at docs[head], newest at docs[head+len-1].
 * A free list record has docs == NULL and links the free list through head. */
typedef struct lsh_list_s {
  uint32_t *docs;
  uint32_t head, len, cap;
} lsh_list_t;

struct wd_lsh_s {
  uint32_t bands, rows;
  uint32_t max_scan;
  size_t count;
  lsh_band_t *band;

  lsh_list_t *list;
  uint32_t list_cnt, list_cap, list_free;
  size_t list_bytes; /* doc storage of all lists */

  /* Query scratch: doc -> index into hit[], cleared by generation. */
  uint32_t *map_doc, *map_idx, *map_gen;
  uint32_t map_cap, gen;
  wd_lsh_hit_t *hit;
  uint32_t *hit_last_band; /* a doc is counted once per band */
  uint32_t hit_cnt, hit_cap;
};

/* Bytes a list buffer of cap docs really holds: glibc rounds a request up to
 * a 16-byte chunk with an 8-byte header (minimum 32), and wd_mem_used counts
 * the usable part, so wd_lsh_bytes matches it for the many small lists. */
static inline size_t list_alloc_bytes(uint32_t cap) {
  const size_t chunk = ((size_t)cap * sizeof(uint32_t) + 8 + 15) & ~(size_t)15;
  return (chunk < 32 ? 32 : chunk) - 8;
}

/* Home slot from the 31-bit tag (fastrange: any capacity, no division). */
static inline uint32_t home_of(uint32_t tag, uint32_t cap) {
  return (uint32_t)(((uint64_t)(tag & TAG_FP) * cap) >> 31);
}

static inline uint32_t next_of(uint32_t i, uint32_t cap) {
  return i + 1 == cap ? 0 : i + 1;
}

/* Fingerprint of band \p b whose rows are \p rows (rows values). */
static uint32_t band_fp_rows(const wd_lsh_t *lsh, const uint32_t *rows, uint32_t b) {
  const uint64_t seed = 0x9e3779b97f4a7c15ULL * (b + 1);
  uint64_t key;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  uint32_t le[lsh->rows];
  for (uint32_t r = 0; r < lsh->rows; r++)
    le[r] = __builtin_bswap32(rows[r]);
  key = XXH3_64bits_withSeed(le, sizeof(le), seed);
#else
  key = XXH3_64bits_withSeed(rows, lsh->rows * sizeof(*rows), seed);
#endif
  const uint32_t fp = (uint32_t)(key >> 33);
  return fp ? fp : 1;
}

static uint32_t band_fp(const wd_lsh_t *lsh, const uint32_t *sig, uint32_t b) {
  return band_fp_rows(lsh, sig + (size_t)b * lsh->rows, b);
}

wd_lsh_t *wd_lsh_new(uint32_t bands, uint32_t rows) {
  if (bands == 0 || rows == 0)
    return NULL;
  wd_lsh_t *lsh = wd_calloc(1, sizeof(*lsh));
  lsh->bands = bands;
  lsh->rows = rows;
  lsh->max_scan = SCAN_DEFAULT;
  lsh->band = wd_calloc(bands, sizeof(*lsh->band));
  lsh->list_free = NIL;
  return lsh;
}

void wd_lsh_destroy(wd_lsh_t *lsh) {
  if (!lsh)
    return;
  for (uint32_t b = 0; b < lsh->bands; b++)
    wd_free(lsh->band[b].slot);
  wd_free(lsh->band);
  for (uint32_t l = 0; l < lsh->list_cnt; l++)
    wd_free(lsh->list[l].docs);
  wd_free(lsh->list);
  wd_free(lsh->map_doc);
  wd_free(lsh->map_idx);
  wd_free(lsh->map_gen);
  wd_free(lsh->hit);
  wd_free(lsh->hit_last_band);
  wd_free(lsh);
}

void wd_lsh_set_max_bucket_scan(wd_lsh_t *lsh, uint32_t max_scan) {
  lsh->max_scan = max_scan ? max_scan : UINT32_MAX;
}

size_t wd_lsh_count(const wd_lsh_t *lsh) { return lsh->count; }

size_t wd_lsh_bytes(const wd_lsh_t *lsh) {
  size_t n = sizeof(*lsh) + lsh->bands * sizeof(*lsh->band);
  for (uint32_t b = 0; b < lsh->bands; b++)
    n += (size_t)lsh->band[b].cap * sizeof(lsh_slot_t);
  n += (size_t)lsh->list_cap * sizeof(*lsh->list) + lsh->list_bytes;
  n += (size_t)lsh->map_cap * 3 * sizeof(uint32_t);
  n += (size_t)lsh->hit_cap * (sizeof(*lsh->hit) + sizeof(uint32_t));
  return n;
}

double wd_lsh_collision_prob(double s, uint32_t bands, uint32_t rows) {
  if (s <= 0.0)
    return 0.0;
  if (s >= 1.0)
    return 1.0;
  return 1.0 - pow(1.0 - pow(s, rows), bands);
}

/* ==== Doc lists ==== */

static uint32_t list_new(wd_lsh_t *lsh, uint32_t older, uint32_t newer) {
  uint32_t id = lsh->list_free;
  if (id != NIL) {
    lsh->list_free = lsh->list[id].head;
  } else {
    if (lsh->list_cnt == lsh->list_cap) {
      lsh->list_cap = lsh->list_cap ? lsh->list_cap + lsh->list_cap / 2 : 64;
      lsh->list = wd_realloc(lsh->list, lsh->list_cap * sizeof(*lsh->list));
    }
    id = lsh->list_cnt++;
  }
  lsh_list_t *l = &lsh->list[id];
  l->cap = LIST_MIN_CAP;
  l->docs = wd_malloc(l->cap * sizeof(*l->docs));
  l->docs[0] = older;
  l->docs[1] = newer;
  l->head = 0;
  l->len = 2;
  lsh->list_bytes += list_alloc_bytes(l->cap);
  return id;
}

static void list_free(wd_lsh_t *lsh, uint32_t id) {
  lsh_list_t *l = &lsh->list[id];
  lsh->list_bytes -= list_alloc_bytes(l->cap);
  wd_free(l->docs);
  l->docs = NULL;
  l->len = l->cap = 0;
  l->head = lsh->list_free;
  lsh->list_free = id;
}

static void list_resize(wd_lsh_t *lsh, lsh_list_t *l, uint32_t ncap) {
  if (l->head) {
    memmove(l->docs, l->docs + l->head, l->len * sizeof(*l->docs));
    l->head = 0;
  }
  lsh->list_bytes -= list_alloc_bytes(l->cap);
  l->docs = wd_realloc(l->docs, ncap * sizeof(*l->docs));
  l->cap = ncap;
  lsh->list_bytes += list_alloc_bytes(l->cap);
}

static void list_push(wd_lsh_t *lsh, lsh_list_t *l, uint32_t doc) {
  if (l->head + l->len == l->cap) {
    /* Compact only when a quarter of the room is in front, so FIFO churn
     * moves each doc O(1) times; otherwise double. */
    if (l->head >= l->cap / 4) {
      memmove(l->docs, l->docs + l->head, l->len * sizeof(*l->docs));
      l->head = 0;
    } else {
      list_resize(lsh, l, l->cap * 2);
    }
  }
  l->docs[l->head + l->len++] = doc;
}

/* Remove doc (the oldest copy). @returns 1 if it was there. */
static int list_remove(wd_lsh_t *lsh, lsh_list_t *l, uint32_t doc) {
  uint32_t *d = l->docs + l->head;
  uint32_t p = 0;
  while (p < l->len && d[p] != doc)
    p++; /* eviction removes the oldest first: usually p == 0 */
  if (p == l->len)
    return 0;
  if (p < l->len / 2) {
    memmove(d + 1, d, p * sizeof(*d));
    l->head++;
  } else {
    memmove(d + p, d + p + 1, (l->len - p - 1) * sizeof(*d));
  }
  l->len--;
  if (l->cap > LIST_MIN_CAP && l->len < l->cap / 4)
    list_resize(lsh, l, l->cap / 2);
  return 1;
}

/* ==== Band tables ==== */

static uint32_t band_find(const lsh_band_t *bt, uint32_t fp) {
  if (!bt->cap)
    return NIL;
  uint32_t i = home_of(fp, bt->cap);
  while (bt->slot[i].tag) {
    if ((bt->slot[i].tag & TAG_FP) == fp)
      return i;
    i = next_of(i, bt->cap);
  }
  return NIL;
}

/* Ask for transparent huge pages on a large table before it is first
 * touched: lookups land anywhere in it, and with 4 KiB pages nearly every
 * one is a TLB miss (and, for a fresh table, a page fault). Advisory only. */
static void advise_huge(void *p, size_t len) {
#ifdef MADV_HUGEPAGE
  const uintptr_t page = 4096;
  if (len < ((size_t)4 << 20))
    return;
  const uintptr_t a = ((uintptr_t)p + page - 1) & ~(page - 1);
  const uintptr_t e = ((uintptr_t)p + len) & ~(page - 1);
  if (e > a)
    madvise((void *)a, e - a, MADV_HUGEPAGE);
#else
  (void)p, (void)len;
#endif
}

static void band_rehash(lsh_band_t *bt, uint32_t ncap) {
  lsh_slot_t *old = bt->slot;
  const uint32_t ocap = bt->cap;
  bt->slot = wd_calloc(ncap, sizeof(*bt->slot));
  advise_huge(bt->slot, (size_t)ncap * sizeof(*bt->slot));
  bt->cap = ncap;
  for (uint32_t o = 0; o < ocap; o++) {
    if (!old[o].tag)
      continue;
    uint32_t i = home_of(old[o].tag, ncap);
    while (bt->slot[i].tag)
      i = next_of(i, ncap);
    bt->slot[i] = old[o];
  }
  wd_free(old);
}

/* Keep the load at most 3/4; grow by 1.5x (load 1/2 after), which holds
 * memory closer to the 8 bytes a slot needs than doubling would. */
static void band_reserve_one(lsh_band_t *bt) {
  if ((uint64_t)(bt->used + 1) * 4 <= (uint64_t)bt->cap * 3)
    return;
  uint64_t ncap = bt->cap ? (uint64_t)bt->cap + bt->cap / 2 : BAND_MIN_CAP;
  assert(ncap <= (uint64_t)1 << 31);
  band_rehash(bt, (uint32_t)ncap);
}

/* Backward-shift deletion: pull later entries of the cluster into the hole
 * whenever their home allows, so no tombstones are ever left behind. */
static void band_delete_at(lsh_band_t *bt, uint32_t hole) {
  const uint32_t cap = bt->cap;
  uint32_t j = hole;
  for (;;) {
    j = next_of(j, cap);
    if (!bt->slot[j].tag)
      break;
    const uint32_t k = home_of(bt->slot[j].tag, cap);
    /* Entry j may move to the hole unless its home lies in (hole, j]. */
    const int home_between =
        hole <= j ? (hole < k && k <= j) : (hole < k || k <= j);
    if (home_between)
      continue;
    bt->slot[hole] = bt->slot[j];
    hole = j;
  }
  bt->slot[hole].tag = 0;
  bt->slot[hole].val = 0;
  bt->used--;
  /* Shrink after heavy eviction so churn cannot pin a peak-size table. */
  if (bt->cap > BAND_MIN_CAP && (uint64_t)bt->used * 8 < bt->cap) {
    uint32_t ncap = bt->cap / 2;
    band_rehash(bt, ncap < BAND_MIN_CAP ? BAND_MIN_CAP : ncap);
  }
}

void wd_lsh_reserve(wd_lsh_t *lsh, size_t docs) {
  /* Load 2/3 after a bulk load: room to grow before the first rehash. */
  const uint64_t want = (uint64_t)docs * 3 / 2 + BAND_MIN_CAP;
  assert(want <= (uint64_t)1 << 31);
  for (uint32_t b = 0; b < lsh->bands; b++)
    if (lsh->band[b].cap < want)
      band_rehash(&lsh->band[b], (uint32_t)want);
}

static void band_insert(wd_lsh_t *lsh, uint32_t b, uint32_t fp, uint32_t doc) {
  {
    lsh_band_t *bt = &lsh->band[b];
    band_reserve_one(bt);
    uint32_t i = home_of(fp, bt->cap);
    while (bt->slot[i].tag && (bt->slot[i].tag & TAG_FP) != fp)
      i = next_of(i, bt->cap);
    lsh_slot_t *s = &bt->slot[i];
    if (!s->tag) {
      s->tag = fp;
      s->val = doc;
      bt->used++;
    } else if (s->tag & TAG_LIST) {
      list_push(lsh, &lsh->list[s->val], doc);
    } else {
      s->val = list_new(lsh, s->val, doc);
      s->tag |= TAG_LIST;
    }
  }
}

void wd_lsh_insert(wd_lsh_t *lsh, const uint32_t *sig, uint32_t doc) {
  for (uint32_t b = 0; b < lsh->bands; b++)
    band_insert(lsh, b, band_fp(lsh, sig, b), doc);
  lsh->count++;
}

void wd_lsh_load_band(wd_lsh_t *lsh, uint32_t band, const uint32_t *rows,
                      const uint32_t *docs, size_t cnt) {
  enum { AHEAD = 16 }; /* table slots requested from memory ahead of use */
  lsh_band_t *bt = &lsh->band[band];
  uint32_t fp[AHEAD];
  assert(band < lsh->bands);
  if (cnt == 0)
    return;
  /* Room for all of them first, so the prefetched slots stay where they are. */
  if ((uint64_t)(bt->used + cnt) * 4 > (uint64_t)bt->cap * 3) {
    const uint64_t want = (uint64_t)(bt->used + cnt) * 3 / 2 + BAND_MIN_CAP;
    assert(want <= (uint64_t)1 << 31);
    band_rehash(bt, (uint32_t)want);
  }
  for (size_t i = 0; i < cnt + AHEAD; i++) {
    /* fp[i % AHEAD] holds doc i - AHEAD's until it is inserted here */
    if (i >= AHEAD)
      band_insert(lsh, band, fp[i % AHEAD], docs[i - AHEAD]);
    if (i < cnt) {
      fp[i % AHEAD] = band_fp_rows(lsh, rows + i * lsh->rows, band);
      __builtin_prefetch(&bt->slot[home_of(fp[i % AHEAD], bt->cap)], 1);
    }
  }
}

void wd_lsh_count_add(wd_lsh_t *lsh, size_t docs) { lsh->count += docs; }

void wd_lsh_remove(wd_lsh_t *lsh, const uint32_t *sig, uint32_t doc) {
  int found = 0;
  for (uint32_t b = 0; b < lsh->bands; b++) {
    lsh_band_t *bt = &lsh->band[b];
    const uint32_t i = band_find(bt, band_fp(lsh, sig, b));
    if (i == NIL)
      continue;
    lsh_slot_t *s = &bt->slot[i];
    if (!(s->tag & TAG_LIST)) {
      if (s->val == doc) {
        band_delete_at(bt, i);
        found = 1;
      }
      continue;
    }
    lsh_list_t *l = &lsh->list[s->val];
    if (!list_remove(lsh, l, doc))
      continue;
    found = 1;
    if (l->len == 1) { /* back to an inline singleton */
      const uint32_t last = l->docs[l->head];
      list_free(lsh, s->val);
      s->tag &= TAG_FP;
      s->val = last;
    }
  }
  if (found && lsh->count)
    lsh->count--;
}

/* ==== Query ==== */

static void map_grow(wd_lsh_t *lsh) {
  const uint32_t ncap = lsh->map_cap ? lsh->map_cap * 2 : 1024;
  wd_free(lsh->map_doc);
  wd_free(lsh->map_idx);
  wd_free(lsh->map_gen);
  lsh->map_doc = wd_malloc(ncap * sizeof(uint32_t));
  lsh->map_idx = wd_malloc(ncap * sizeof(uint32_t));
  lsh->map_gen = wd_calloc(ncap, sizeof(uint32_t));
  lsh->map_cap = ncap;
  lsh->gen = 1;
  /* Re-enter the hits gathered so far in this query. */
  for (uint32_t h = 0; h < lsh->hit_cnt; h++) {
    uint32_t i = wd_mix32(lsh->hit[h].doc) & (ncap - 1);
    while (lsh->map_gen[i] == lsh->gen)
      i = (i + 1) & (ncap - 1);
    lsh->map_gen[i] = lsh->gen;
    lsh->map_doc[i] = lsh->hit[h].doc;
    lsh->map_idx[i] = h;
  }
}

static void vote(wd_lsh_t *lsh, uint32_t doc, uint32_t band) {
  uint32_t mask = lsh->map_cap - 1;
  uint32_t i = wd_mix32(doc) & mask;
  while (lsh->map_gen[i] == lsh->gen) {
    if (lsh->map_doc[i] == doc) {
      const uint32_t h = lsh->map_idx[i];
      if (lsh->hit_last_band[h] != band) {
        lsh->hit_last_band[h] = band;
        lsh->hit[h].bands++;
      }
      return;
    }
    i = (i + 1) & mask;
  }
  if (lsh->hit_cnt == lsh->hit_cap) {
    lsh->hit_cap = lsh->hit_cap ? lsh->hit_cap * 2 : 256;
    lsh->hit = wd_realloc(lsh->hit, lsh->hit_cap * sizeof(*lsh->hit));
    lsh->hit_last_band = wd_realloc(lsh->hit_last_band,
                                    lsh->hit_cap * sizeof(uint32_t));
  }
  const uint32_t h = lsh->hit_cnt++;
  lsh->hit[h].doc = doc;
  lsh->hit[h].bands = 1;
  lsh->hit_last_band[h] = band;
  lsh->map_gen[i] = lsh->gen;
  lsh->map_doc[i] = doc;
  lsh->map_idx[i] = h;
  if ((uint64_t)lsh->hit_cnt * 2 > lsh->map_cap)
    map_grow(lsh);
}

static int hit_cmp(const void *pa, const void *pb) {
  const wd_lsh_hit_t *a = pa, *b = pb;
  if (a->bands != b->bands)
    return a->bands > b->bands ? -1 : 1;
  return (a->doc > b->doc) - (a->doc < b->doc);
}

size_t wd_lsh_query(wd_lsh_t *lsh, const uint32_t *sig, wd_lsh_hit_t *out,
                    size_t out_cap) {
  if (!lsh->map_cap)
    map_grow(lsh);
  if (++lsh->gen == 0) {
    memset(lsh->map_gen, 0, lsh->map_cap * sizeof(uint32_t));
    lsh->gen = 1;
  }
  lsh->hit_cnt = 0;
  for (uint32_t b = 0; b < lsh->bands; b++) {
    const lsh_band_t *bt = &lsh->band[b];
    const uint32_t i = band_find(bt, band_fp(lsh, sig, b));
    if (i == NIL)
      continue;
    const lsh_slot_t *s = &bt->slot[i];
    if (!(s->tag & TAG_LIST)) {
      vote(lsh, s->val, b);
      continue;
    }
    const lsh_list_t *l = &lsh->list[s->val];
    const uint32_t *d = l->docs + l->head;
    const uint32_t stop = l->len > lsh->max_scan ? l->len - lsh->max_scan : 0;
    for (uint32_t p = l->len; p > stop; p--) /* newest first */
      vote(lsh, d[p - 1], b);
  }
  if (lsh->hit_cnt > 1)
    qsort(lsh->hit, lsh->hit_cnt, sizeof(*lsh->hit), hit_cmp);
  const size_t n = lsh->hit_cnt < out_cap ? lsh->hit_cnt : out_cap;
  if (n)
    memcpy(out, lsh->hit, n * sizeof(*out));
  return n;
}
