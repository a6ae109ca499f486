/* lsh.c - banded LSH index: per band, an open-addressing multimap of 4-byte
 * entries (doc reference | band-key fingerprint); the keys themselves stay in
 * the caller's signature store and are read through doc_fn.
 *
 * A band key is XXH3 of the band's rows (seeded by band index). Its low 32
 * bits choose the home slot (fastrange: any capacity), its high bits give the
 * fingerprint (the entry's bits above the doc reference, never 0: 0 marks an
 * empty slot). A probe compares fingerprints only; a matching entry is
 * confirmed by reading the doc's rows through doc_fn, so false fingerprint
 * matches (1 in 2^11 with 4-byte entries of 21-bit references) cost a read,
 * never a wrong vote.
 *
 * Entry width. With opts.window the live docs are the last `span` doc
 * numbers inserted, so a reference needs only the bits that tell those
 * apart, not doc_bits: each band table is built with references as wide as
 * the span will need by the table's next growth (fmt_want), and entries of
 * 3 bytes while that leaves at least FP3_MIN fingerprint bits (spans up to
 * ~200k docs), else 4. A reference is turned
 * back into a doc number from the newest doc inserted. At 100k docs a 3-byte
 * entry of a 17-bit reference and a 7-bit fingerprint saves a quarter of
 * the tables; the price is a false fingerprint match per 128 entries a probe
 * passes instead of per 2048, each one row read. A band whose span outgrows
 * its references is rebuilt before the insert that would outgrow them.
 *
 * Linear probing keeps the entries of one key in insertion order along its
 * run (insertion appends after the run; sweeps and rebuilds keep the order),
 * so the first match is the oldest: a key at max_per_key drops it. Deletion
 * leaves a tombstone (nothing moves, so no entry's home is needed), or an
 * empty slot where the run ends there. Once live entries and tombstones pass
 * a load between 0.78 and 0.86 (staggered by band, so the bands of one index
 * do not all rebuild on the same insert), a band is brought back to a load of
 * about 0.64: in place when that is within 1/16 of its size (a sweep: only
 * the entries behind a tombstone in their run are re-homed, their rows read
 * in position order), else rebuilt at the new size (rows read oldest first).
 * Tables shrink at 1/8.
 *
 * In an index of a million docs each band's first probe is a cache miss: a
 * query or insert computes every band's key and prefetches its home slot
 * before reading any (keys_prefetch), tables from 2 MiB up are whole huge
 * pages (band_cap_for, wd_calloc_huge), and the rows that confirm fingerprint
 * matches and that a rebuild re-homes are prefetched through touch_fn. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "wiredup/lsh.h"
#include "wiredup/mix.h"
#include "wiredup/mem.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NIL UINT32_MAX
#define BAND_MIN_CAP 16u
#define PER_KEY_DEFAULT 256u
#define ROWS_MAX 64u
#define TOMB 1u            /* fingerprint 0: a deleted entry */
#define LOAD_AFTER_PM 655u /* load after a rebuild, in 1/1024 */
#define SWEEP_SLACK 16u    /* sweep in place within 1/16 of the size wanted */
#define FP3_MIN 6u         /* fewest fingerprint bits a 3-byte entry may keep */
#define SLOT_PAD 4u        /* bytes after the last slot: a 3-byte entry is read as 4 */

/* Where a band key lives: home hash, and the hash bits its fingerprint is
 * cut from (as many as the band's entries keep). */
typedef struct lsh_key_s {
  uint32_t h, hi;
} lsh_key_t;

/* A query's fingerprint match: an entry of a band, to be confirmed. */
typedef struct lsh_match_s {
  uint32_t band, ent;
} lsh_match_t;

/* A band table's entry format: w bytes, the low ref_bits bits a doc
 * reference, the rest (fp_mask) fingerprint. */
typedef struct lsh_fmt_s {
  uint32_t w, ref_bits, ref_mask, fp_mask, ent_mask;
} lsh_fmt_t;

typedef struct lsh_band_s {
  uint8_t *slot;    /* cap entries of f.w bytes, then SLOT_PAD bytes */
  lsh_fmt_t f;
  uint32_t cap, used;
  uint32_t tombs;   /* deleted entries not yet swept */
  uint32_t grow_at; /* rebuild when used + tombs would exceed this */
  uint32_t load_pm; /* max load in 1/1024 */
} lsh_band_t;

struct wd_lsh_s {
  uint32_t bands, rows;
  uint32_t doc_bits, ref_mask;
  uint32_t max_per_key;
  int window;           /* opts.window: references as wide as the span needs */
  wd_lsh_doc_fn doc_fn;
  wd_lsh_touch_fn touch_fn;
  void *ctx;
  size_t count;
  uint32_t newest;      /* the newest doc inserted */
  uint32_t first;       /* window: no live doc is older (once any is set) */
  int any;
  uint64_t span_want;   /* window: doc numbers the references must tell apart */
  lsh_band_t *band;
  uint64_t dropped;
  uint32_t key_max;
  uint32_t q_matches, q_resolved;

  lsh_key_t *key;  /* scratch: one key per band of the signature at hand */
  uint32_t *key_sig; /* ... which is this one (valid once key_ok is set) */
  int key_ok;
  lsh_match_t *match; /* query scratch: fingerprint matches, in probe order */
  /* Rebuild and sweep scratch, kept: in a steady stream eviction's
   * tombstones make sweeps a regular event, not a growth step. */
  uint32_t *live; /* a band's live entries (a sweep's positions to
                     re-home) and the sort's second buffer */
  size_t live_cap;
  uint32_t *age_cnt;  /* the radix sort's counters (1 << 14) */
  uint32_t match_cap;
  /* Query scratch: doc -> index into hit[], cleared by generation. */
  uint32_t *map_doc, *map_idx, *map_gen;
  uint32_t map_cap, gen;
  wd_lsh_hit_t *hit;
  uint32_t *hit_last_band; /* a doc is counted once per band */
  uint32_t hit_cnt, hit_cap;
};

static inline uint32_t home_of(uint32_t h, uint32_t cap) {
  return (uint32_t)(((uint64_t)h * cap) >> 32);
}

static inline uint32_t next_of(uint32_t i, uint32_t cap) {
  return i + 1 == cap ? 0 : i + 1;
}

static inline uint32_t ld32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, sizeof(v));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap32(v);
#endif
  return v;
}

static inline void st32(uint8_t *p, uint32_t v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap32(v);
#endif
  memcpy(p, &v, sizeof(v));
}

/* Entry \p i of a band (0: empty, TOMB: deleted). One unaligned load and a
 * mask whatever the width, so no probe loop branches on it. */
static inline uint32_t slot_get(const lsh_band_t *bt, uint32_t i) {
  return ld32(bt->slot + (size_t)i * bt->f.w) & bt->f.ent_mask;
}

/* Write entry \p i, keeping the next slot's bytes a 4-byte store covers. */
static inline void slot_set(lsh_band_t *bt, uint32_t i, uint32_t e) {
  uint8_t *p = bt->slot + (size_t)i * bt->f.w;
  st32(p, (ld32(p) & ~bt->f.ent_mask) | e);
}

static inline const uint8_t *slot_at(const lsh_band_t *bt, uint32_t i) {
  return bt->slot + (size_t)i * bt->f.w;
}

static inline uint32_t ent_fp(const lsh_band_t *bt, uint32_t e) { return e >> bt->f.ref_bits; }

/* The reference doc_fn takes (the low doc_bits bits of the doc number) for
 * entry \p e: the live doc whose low ref_bits bits these are is the newest
 * doc inserted less an age below 2^ref_bits. Without opts.window ref_bits
 * is doc_bits and this is the entry's reference. */
static inline uint32_t ent_ref(const wd_lsh_t *lsh, const lsh_band_t *bt, uint32_t e) {
  const uint32_t n = lsh->newest;
  return (n - ((n - e) & bt->f.ref_mask)) & lsh->ref_mask;
}

/* The fingerprint of a key in a band's entries (never 0). */
static inline uint32_t key_fp(const lsh_band_t *bt, lsh_key_t k) {
  const uint32_t fp = k.hi & bt->f.fp_mask;
  return fp ? fp : 1;
}

/* The format for band \p bt's table built now: 4-byte entries of doc_bits
 * references, or with opts.window references as wide as the span needs by
 * the table's next growth (the span grows with the entries, from load
 * LOAD_AFTER_PM to the band's load_pm, plus 1/32), and 3 bytes while they
 * leave FP3_MIN fingerprint bits. Narrower, and the band would be rebuilt
 * for its references before it is for its load. */
static lsh_fmt_t fmt_want(const wd_lsh_t *lsh, const lsh_band_t *bt) {
  uint32_t k = lsh->doc_bits;
  if (lsh->window) {
    const uint64_t span = lsh->span_want;
    const uint64_t want = span * bt->load_pm / LOAD_AFTER_PM + span / 32 + 1;
    k = 1;
    while (k < lsh->doc_bits && ((uint64_t)1 << k) < want)
      k++;
  }
  lsh_fmt_t f;
  f.w = lsh->window && k + FP3_MIN <= 24 ? 3 : 4;
  f.ref_bits = k;
  f.ref_mask = (uint32_t)(((uint64_t)1 << k) - 1);
  f.ent_mask = f.w == 3 ? 0xFFFFFFu : UINT32_MAX;
  f.fp_mask = f.ent_mask >> k;
  return f;
}

/* Key of band \p b whose rows are \p rows (rows values). */
static lsh_key_t band_key(const wd_lsh_t *lsh, const uint32_t *rows, uint32_t b) {
  const uint64_t seed = 0x9e3779b97f4a7c15ULL * (b + 1);
  uint64_t key;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  uint32_t le[ROWS_MAX];
  for (uint32_t r = 0; r < lsh->rows; r++)
    le[r] = __builtin_bswap32(rows[r]);
  key = XXH3_64bits_withSeed(le, lsh->rows * sizeof(*le), seed);
#else
  /* A constant length lets XXH3 inline its short-input path: a band key is
   * hashed for every entry a rebuild or sweep re-homes. */
  switch (lsh->rows) {
  case 2:
    key = XXH3_64bits_withSeed(rows, 2 * sizeof(*rows), seed);
    break;
  case 4:
    key = XXH3_64bits_withSeed(rows, 4 * sizeof(*rows), seed);
    break;
  default:
    key = XXH3_64bits_withSeed(rows, lsh->rows * sizeof(*rows), seed);
  }
#endif
  return (lsh_key_t){(uint32_t)key, (uint32_t)(key >> 32)};
}

wd_lsh_t *wd_lsh_new(const wd_lsh_opts_t *o) {
  if (!o || o->bands == 0 || o->rows == 0 || o->rows > ROWS_MAX || !o->doc_fn ||
      o->doc_bits < 1 || o->doc_bits > 28)
    return NULL;
  wd_lsh_t *lsh = wd_calloc(1, sizeof(*lsh));
  lsh->bands = o->bands;
  lsh->rows = o->rows;
  lsh->doc_bits = o->doc_bits;
  lsh->ref_mask = (uint32_t)((1ULL << o->doc_bits) - 1);
  lsh->window = o->window;
  lsh->max_per_key = o->max_per_key ? o->max_per_key : PER_KEY_DEFAULT;
  lsh->doc_fn = o->doc_fn;
  lsh->touch_fn = o->touch_fn;
  lsh->ctx = o->ctx;
  lsh->band = wd_calloc(o->bands, sizeof(*lsh->band));
  lsh->key = wd_malloc(o->bands * sizeof(*lsh->key));
  lsh->key_sig = wd_malloc((size_t)o->bands * o->rows * sizeof(*lsh->key_sig));
  for (uint32_t b = 0; b < o->bands; b++)
    lsh->band[b].load_pm = 800 + (uint32_t)(80ULL * b / o->bands);
  return lsh;
}

void wd_lsh_destroy(wd_lsh_t *lsh) {
  if (!lsh)
    return;
  for (uint32_t b = 0; b < lsh->bands; b++)
    wd_free(lsh->band[b].slot);
  wd_free(lsh->band);
  wd_free(lsh->key);
  wd_free(lsh->key_sig);
  wd_free(lsh->live);
  wd_free(lsh->age_cnt);
  wd_free(lsh->match);
  wd_free(lsh->map_doc);
  wd_free(lsh->map_idx);
  wd_free(lsh->map_gen);
  wd_free(lsh->hit);
  wd_free(lsh->hit_last_band);
  wd_free(lsh);
}

size_t wd_lsh_count(const wd_lsh_t *lsh) { return lsh->count; }

size_t wd_lsh_bytes(const wd_lsh_t *lsh) {
  size_t n =
      sizeof(*lsh) + lsh->bands * (sizeof(*lsh->band) + sizeof(*lsh->key) +
                                   lsh->rows * sizeof(*lsh->key_sig));
  n += (size_t)lsh->match_cap * sizeof(*lsh->match);
  for (uint32_t b = 0; b < lsh->bands; b++)
    if (lsh->band[b].slot)
      n += (size_t)lsh->band[b].cap * lsh->band[b].f.w + SLOT_PAD;
  n += (size_t)lsh->map_cap * 3 * sizeof(uint32_t);
  n += (size_t)lsh->hit_cap * (sizeof(*lsh->hit) + sizeof(uint32_t));
  return n;
}

void wd_lsh_stats(const wd_lsh_t *lsh, wd_lsh_stats_t *st) {
  memset(st, 0, sizeof(*st));
  for (uint32_t b = 0; b < lsh->bands; b++) {
    st->entries += lsh->band[b].used;
    st->slots += lsh->band[b].cap;
    if (lsh->band[b].slot)
      st->table_bytes += (size_t)lsh->band[b].cap * lsh->band[b].f.w + SLOT_PAD;
  }
  st->dropped = lsh->dropped;
  st->max_per_key = lsh->max_per_key;
  st->query_matches = lsh->q_matches;
  st->query_resolved = lsh->q_resolved;
  st->key_max = lsh->key_max;
}

double wd_lsh_collision_prob(double s, uint32_t bands, uint32_t rows) {
  if (s <= 0.0)
    return 0.0;
  if (s >= 1.0)
    return 1.0;
  return 1.0 - pow(1.0 - pow(s, rows), bands);
}

/* ==== Band tables ==== */

static void band_set_cap(lsh_band_t *bt, uint32_t cap) {
  bt->cap = cap;
  bt->grow_at = (uint32_t)((uint64_t)cap * bt->load_pm / 1024);
}

/* Sort \p v (n entries) oldest first: by age relative to the newest doc
 * inserted, an LSD radix sort in one or two passes of at most 14 bits. The
 * digits are as wide as the oldest age needs, so a band of a few thousand
 * entries does not clear and sum 2 x 16k counters for each rebuild. */
static void sort_by_age(wd_lsh_t *lsh, const lsh_band_t *bt, uint32_t *v, uint32_t *tmp,
                        size_t n) {
  if (!lsh->age_cnt)
    lsh->age_cnt = wd_malloc(sizeof(uint32_t) << 14);
  uint32_t *cnt = lsh->age_cnt;
  const uint32_t newest = lsh->newest, mask = bt->f.ref_mask;
  uint32_t oldest = 0;
  for (size_t i = 0; i < n; i++) {
    const uint32_t age = (newest - v[i]) & mask;
    oldest = age > oldest ? age : oldest;
  }
  const unsigned bits = oldest ? 32u - (unsigned)__builtin_clz(oldest) : 1u;
  const unsigned passes = bits > 11 ? 2u : 1u,
                 digit = (bits + passes - 1) / passes;
  const uint32_t dmask = (1u << digit) - 1;
  for (unsigned pass = 0; pass < passes; pass++) {
    const unsigned sh = digit * pass;
    memset(cnt, 0, sizeof(uint32_t) << digit);
    for (size_t i = 0; i < n; i++) /* older = larger age = earlier: invert */
      cnt[((oldest - ((newest - v[i]) & mask)) >> sh) & dmask]++;
    uint32_t sum = 0;
    for (uint32_t k = 0; k <= dmask; k++) {
      const uint32_t c = cnt[k];
      cnt[k] = sum;
      sum += c;
    }
    for (size_t i = 0; i < n; i++)
      tmp[cnt[((oldest - ((newest - v[i]) & mask)) >> sh) & dmask]++] = v[i];
    memcpy(v, tmp, n * sizeof(*v));
  }
}

/* Scratch for \p n entries (and as many for the sort). */
static void live_reserve(wd_lsh_t *lsh, size_t n) {
  if (lsh->live_cap < n + 1) {
    lsh->live_cap = (n + 1) * 3 / 2;
    wd_free(lsh->live);
    lsh->live = wd_malloc(lsh->live_cap * 2 * sizeof(*lsh->live));
  }
}

/* Drop band \p b's tombstones in place, at the same capacity. Each run's
 * entries after its first tombstone are entered again in position order,
 * each at the first free slot from its home; entries before it cannot move,
 * so only the former have their rows read. Position order keeps a key's
 * entries in their order (they share a run), and the result is what
 * clearing each run and inserting its entries again would give. */
static void band_sweep(wd_lsh_t *lsh, uint32_t b) {
  enum { ROWS_AHEAD = 32 }; /* rows requested before they are read */
  lsh_band_t *bt = &lsh->band[b];
  uint32_t start = 0, rows[ROWS_MAX];
  const uint32_t cap = bt->cap;
  live_reserve(lsh, bt->used);
  uint32_t *pos = lsh->live;
  size_t n = 0;
  while (slot_get(bt, start)) /* a run never wraps past an empty slot */
    start++;
  int holed = 0; /* a tombstone earlier in this run */
  for (uint32_t k = 0, p = start; k < cap; k++, p = next_of(p, cap)) {
    const uint32_t e = slot_get(bt, p);
    if (!e) {
      holed = 0;
    } else if (e == TOMB) {
      slot_set(bt, p, 0);
      holed = 1;
    } else if (holed) {
      pos[n++] = p;
    }
  }
  bt->tombs = 0;
  for (size_t i = 0; i < n; i++) {
    if (i + ROWS_AHEAD < n && lsh->touch_fn)
      lsh->touch_fn(lsh->ctx, ent_ref(lsh, bt, slot_get(bt, pos[i + ROWS_AHEAD])), b);
    const uint32_t p = pos[i], e = slot_get(bt, p);
    lsh->doc_fn(lsh->ctx, ent_ref(lsh, bt, e), b, rows);
    uint32_t j = home_of(band_key(lsh, rows, b).h, cap);
    slot_set(bt, p, 0); /* the free slot found is p at the latest */
    while (slot_get(bt, j))
      j = next_of(j, cap);
    slot_set(bt, j, e);
  }
}

/* Rebuild band \p b in \p ncap slots of format \p f without its tombstones.
 * The entries are re-entered oldest first, so a key's entries keep their
 * order, and their rows are read in arrival order, which in the caller's
 * store is mostly sequential memory. Each entry's home needs its rows
 * anyway, so its fingerprint and reference are made again in the new
 * format from them and from the doc number doc_fn returns. */
static void band_rehash(wd_lsh_t *lsh, uint32_t b, uint32_t ncap, lsh_fmt_t f) {
  /* Table slots are requested AHEAD entries before they are written, rows
   * ROWS_AHEAD before they are read: each row is a cache line of its own (the
   * band is a few bytes of it), so without the hint every entry waited for
   * memory, and rehashing was a fifth of the cost of a growing index. */
  enum { AHEAD = 16, ROWS_AHEAD = 64 };
  lsh_band_t *bt = &lsh->band[b];
  assert(ncap > bt->used);
  live_reserve(lsh, bt->used);
  uint32_t *live = lsh->live;
  size_t n = 0;
  for (uint32_t o = 0; o < bt->cap; o++) {
    const uint32_t e = slot_get(bt, o);
    if (ent_fp(bt, e))
      live[n++] = e;
  }
  assert(n == bt->used);
  sort_by_age(lsh, bt, live, live + lsh->live_cap, n);
  for (size_t i = 0; i < n; i++) /* old format: as doc_fn references */
    live[i] = ent_ref(lsh, bt, live[i]);
  wd_free(bt->slot);
  bt->slot = wd_calloc_huge((size_t)ncap * f.w + SLOT_PAD, 1);
  bt->f = f;

  band_set_cap(bt, ncap);
  bt->tombs = 0;
  uint32_t home[AHEAD], ent[AHEAD], rows[ROWS_MAX];
  for (size_t i = 0; i < n + AHEAD; i++) {
    if (i >= AHEAD) {
      uint32_t j = home[i % AHEAD];
      while (slot_get(bt, j))
        j = next_of(j, ncap);
      slot_set(bt, j, ent[i % AHEAD]);
    }
    if (i + ROWS_AHEAD < n && lsh->touch_fn)
      lsh->touch_fn(lsh->ctx, live[i + ROWS_AHEAD], b);
    if (i < n) {
      const uint32_t doc = lsh->doc_fn(lsh->ctx, live[i], b, rows);
      const lsh_key_t k = band_key(lsh, rows, b);
      ent[i % AHEAD] = key_fp(bt, k) << f.ref_bits | (doc & f.ref_mask);
      home[i % AHEAD] = home_of(k.h, ncap);
      __builtin_prefetch(slot_at(bt, home[i % AHEAD]), 1);
    }
  }
}

/* Slots of \p w bytes for \p entries at load LOAD_AFTER_PM; from 2 MiB up,
 * whole huge pages. A table's last part-page stayed in 4 KiB pages (THP maps
 * only whole aligned 2 MiB), a quarter to a half of each table at 0.5-1M
 * docs: with 64 tables of several MiB probed at random, those probes were TLB
 * misses whose page walks no longer fit in cache, and the cost per article
 * doubled from 200k to 1M. The rest of the page is used as slots (a lower
 * load, shorter runs): at most 2 MiB per band, however large the index. */
static uint32_t band_cap_for(uint64_t entries, uint32_t w) {
  uint64_t cap = entries * 1024 / LOAD_AFTER_PM + 1;
  if (cap < BAND_MIN_CAP)
    cap = BAND_MIN_CAP;
  const uint64_t bytes = cap * w + SLOT_PAD;
  if (bytes >= WD_HUGE_PAGE)
    cap = ((bytes + WD_HUGE_PAGE - 1) / WD_HUGE_PAGE * WD_HUGE_PAGE - SLOT_PAD) / w;
  assert(cap < (uint64_t)1 << 32);
  return (uint32_t)cap;
}

/* Room for \p more entries: back to load ~0.64 when live + tombstones +
 * more would pass grow_at. In a window whose evictions balance its inserts
 * the size wanted is about the size there is, and a sweep in place costs no
 * allocation, no sort and fewer row reads than a rebuild; it keeps the
 * format, so only while the references still tell the span apart. */
static void band_reserve(wd_lsh_t *lsh, uint32_t b, size_t more) {
  lsh_band_t *bt = &lsh->band[b];
  if ((uint64_t)bt->used + bt->tombs + more <= bt->grow_at && bt->cap)
    return;
  const lsh_fmt_t f = fmt_want(lsh, bt);
  const uint32_t ncap = band_cap_for((uint64_t)bt->used + more, f.w);
  if (bt->tombs && f.w == bt->f.w && lsh->span_want <= (uint64_t)bt->f.ref_mask + 1 &&
      ncap >= bt->cap - bt->cap / SWEEP_SLACK && ncap <= bt->cap + bt->cap / SWEEP_SLACK)
    band_sweep(lsh, b);
  else
    band_rehash(lsh, b, ncap, f);
}

/* Delete the entry at \p i: a tombstone (fingerprint 0, never matched), so
 * nothing moves and no entry's home is needed; band_reserve sweeps them. At
 * the end of a run it is an empty slot instead, and so are the tombstones
 * before it: probes that passed them stop a slot earlier with the same
 * answer, and the band's next sweep comes later. */
static void band_delete_at(wd_lsh_t *lsh, uint32_t b, uint32_t i) {
  lsh_band_t *bt = &lsh->band[b];
  bt->used--;
  if (slot_get(bt, next_of(i, bt->cap))) {
    slot_set(bt, i, TOMB);
    bt->tombs++;
  } else { /* the end of a run: probes stop a slot earlier, same answers */
    slot_set(bt, i, 0);
    for (i = i ? i - 1 : bt->cap - 1; slot_get(bt, i) == TOMB;
         i = i ? i - 1 : bt->cap - 1) {
      slot_set(bt, i, 0);
      bt->tombs--;
    }
  }
  /* Shrink after heavy eviction so churn cannot pin a peak-size table. */
  if (bt->cap > BAND_MIN_CAP && (uint64_t)bt->used * 8 < bt->cap) {
    const lsh_fmt_t f = fmt_want(lsh, bt);
    band_rehash(lsh, b, band_cap_for(bt->used, f.w), f);
  }
}

/* opts.window: \p newest is about to be the newest doc. Bands whose
 * references would no longer tell the span apart are rebuilt first, while
 * their entries can still be read (relative to the old newest doc). */
static void span_advance(wd_lsh_t *lsh, uint32_t oldest, uint32_t newest) {
  if (!lsh->any) {
    lsh->first = oldest;
    lsh->any = 1;
  }
  if (!lsh->window) {
    lsh->newest = newest;
    return;
  }
  lsh->span_want = (uint64_t)(uint32_t)(newest - lsh->first) + 1;
  for (uint32_t b = 0; b < lsh->bands; b++) {
    lsh_band_t *bt = &lsh->band[b];
    if (bt->slot && lsh->span_want > (uint64_t)bt->f.ref_mask + 1) {
      const lsh_fmt_t f = fmt_want(lsh, bt);
      band_rehash(lsh, b, band_cap_for(bt->used, f.w), f);
    }
  }
  lsh->newest = newest;
}

void wd_lsh_reserve(wd_lsh_t *lsh, size_t docs) {
  /* a bulk load of docs docs spans at least that many numbers */
  if (lsh->window && docs > lsh->span_want)
    lsh->span_want = docs;
  for (uint32_t b = 0; b < lsh->bands; b++)
    band_reserve(lsh, b, docs > lsh->band[b].used ? docs - lsh->band[b].used : 0);
}

/* Does the entry at \p e hold band \p b equal to \p rows? (one doc_fn read) */
static int entry_is(wd_lsh_t *lsh, uint32_t b, uint32_t e, const uint32_t *rows,
                    uint32_t *doc) {
  uint32_t got[ROWS_MAX];
  *doc = lsh->doc_fn(lsh->ctx, ent_ref(lsh, &lsh->band[b], e), b, got);
  uint32_t diff = 0; /* a few values: a loop beats a memcmp call */
  for (uint32_t r = 0; r < lsh->rows; r++)
    diff |= got[r] ^ rows[r];
  return diff == 0;
}

static void band_insert(wd_lsh_t *lsh, uint32_t b, lsh_key_t k, const uint32_t *rows,
                        uint32_t doc) {
  band_reserve(lsh, b, 1); /* first: it may change the format */
  lsh_band_t *bt = &lsh->band[b];
  const uint32_t home = home_of(k.h, bt->cap), fp = key_fp(bt, k);
  uint32_t i = home, oldest = NIL, same = 0, d, e;
  for (; (e = slot_get(bt, i)); i = next_of(i, bt->cap))
    same += ent_fp(bt, e) == fp;
  if (same >= lsh->max_per_key) { /* maybe full: count the true matches */
    same = 0;
    for (uint32_t j = home; j != i; j = next_of(j, bt->cap)) {
      e = slot_get(bt, j);
      if (ent_fp(bt, e) != fp || !entry_is(lsh, b, e, rows, &d))
        continue;
      if (oldest == NIL)
        oldest = j;
      same++;
    }
  }
  slot_set(bt, i, fp << bt->f.ref_bits | (doc & bt->f.ref_mask));
  bt->used++;
  if (same >= lsh->max_per_key) { /* a flood: the oldest of the key gives way */
    band_delete_at(lsh, b, oldest);
    lsh->dropped++;
    same--;
  }
  if (same + 1 > lsh->key_max)
    lsh->key_max = same + 1;
}

/* Every band's key of \p sig into lsh->key, and its home slot requested
 * from memory: in a large index each band's first probe is a cache and TLB
 * miss, and asking for all of them before reading any lets them overlap
 * instead of stalling once per band. The keys of the last signature are
 * kept with a copy of it: the caller inserts the signature it just queried,
 * and comparing it is cheaper than hashing every band again. */
static void keys_prefetch(wd_lsh_t *lsh, const uint32_t *sig, int write) {
  const size_t len = (size_t)lsh->bands * lsh->rows * sizeof(*sig);
  const int known = lsh->key_ok && memcmp(sig, lsh->key_sig, len) == 0;
  if (!known) {
    memcpy(lsh->key_sig, sig, len);
    lsh->key_ok = 1;
  }
  for (uint32_t b = 0; b < lsh->bands; b++) {
    const lsh_band_t *bt = &lsh->band[b];
    if (!known)
      lsh->key[b] = band_key(lsh, sig + (size_t)b * lsh->rows, b);
    if (bt->cap) {
      const uint8_t *at = slot_at(bt, home_of(lsh->key[b].h, bt->cap));
      if (write)
        __builtin_prefetch(at, 1);
      else
        __builtin_prefetch(at, 0);
    }
  }
}

void wd_lsh_insert(wd_lsh_t *lsh, const uint32_t *sig, uint32_t doc) {
  span_advance(lsh, doc, doc);
  keys_prefetch(lsh, sig, 1);
  for (uint32_t b = 0; b < lsh->bands; b++)
    band_insert(lsh, b, lsh->key[b], sig + (size_t)b * lsh->rows, doc);
  lsh->count++;
}

void wd_lsh_load_band(wd_lsh_t *lsh, uint32_t band, const uint32_t *rows,
                      const uint32_t *docs, size_t cnt) {
  enum { AHEAD = 16 }; /* table slots requested from memory ahead of use */
  lsh_key_t k[AHEAD];
  assert(band < lsh->bands);
  if (cnt == 0)
    return;
  /* Room for all of them first, so the prefetched slots stay where they are. */
  span_advance(lsh, docs[0], docs[cnt - 1]);
  band_reserve(lsh, band, cnt);
  lsh_band_t *bt = &lsh->band[band];
  for (size_t i = 0; i < cnt + AHEAD; i++) {
    /* k[i % AHEAD] holds doc i - AHEAD's until it is inserted here */
    if (i >= AHEAD)
      band_insert(lsh, band, k[i % AHEAD], rows + (i - AHEAD) * lsh->rows, docs[i - AHEAD]);
    if (i < cnt) {
      k[i % AHEAD] = band_key(lsh, rows + i * lsh->rows, band);
      __builtin_prefetch(slot_at(bt, home_of(k[i % AHEAD].h, bt->cap)), 1);
    }
  }
}

void wd_lsh_count_add(wd_lsh_t *lsh, size_t docs) { lsh->count += docs; }

void wd_lsh_remove(wd_lsh_t *lsh, const uint32_t *sig, uint32_t doc) {
  int found = 0, full = 0;
  keys_prefetch(lsh, sig, 1);
  for (uint32_t b = 0; b < lsh->bands; b++) {
    lsh_band_t *bt = &lsh->band[b];
    if (!bt->used)
      continue;
    const uint32_t *rows = sig + (size_t)b * lsh->rows;
    const lsh_key_t k = lsh->key[b];
    const uint32_t fp = key_fp(bt, k), want = doc & bt->f.ref_mask;
    uint32_t same = 0, at = NIL, d, e;
    /* The live doc with these low bits is unique: fingerprint and reference
     * identify its entry without a read. */
    for (uint32_t i = home_of(k.h, bt->cap); (e = slot_get(bt, i)); i = next_of(i, bt->cap)) {
      if (ent_fp(bt, e) != fp)
        continue;
      if ((e & bt->f.ref_mask) == want) {
        at = i;
        break;
      }
      if (same < lsh->max_per_key && entry_is(lsh, b, e, rows, &d))
        same++;
    }
    if (at != NIL) {
      band_delete_at(lsh, b, at);
      found = 1;
    } else if (same >= lsh->max_per_key) {
      full = 1; /* it may have been dropped from this key */
    }
  }
  if ((found || (full && lsh->dropped)) && lsh->count)
    lsh->count--;
  if (lsh->window && lsh->any) /* oldest first: none older is left */
    lsh->first = doc + 1;
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
  lsh->q_matches = lsh->q_resolved = 0;
  keys_prefetch(lsh, sig, 0);
  /* Gather the fingerprint matches of every band first and have the caller
   * start loading their rows, then confirm them in the same order: the row
   * reads overlap too. */
  uint32_t nm = 0;
  for (uint32_t b = 0; b < lsh->bands; b++) {
    const lsh_band_t *bt = &lsh->band[b];
    if (!bt->used)
      continue;
    const uint32_t fp = key_fp(bt, lsh->key[b]);
    uint32_t e;
    for (uint32_t i = home_of(lsh->key[b].h, bt->cap); (e = slot_get(bt, i));
         i = next_of(i, bt->cap)) {
      if (ent_fp(bt, e) != fp)
        continue;
      if (nm == lsh->match_cap) {
        lsh->match_cap = lsh->match_cap ? lsh->match_cap * 2 : 256;
        lsh->match = wd_realloc(lsh->match, lsh->match_cap * sizeof(*lsh->match));
      }
      lsh->match[nm++] = (lsh_match_t){b, e};
      if (lsh->touch_fn)
        lsh->touch_fn(lsh->ctx, ent_ref(lsh, bt, e), b);
    }
  }
  lsh->q_resolved = nm;
  for (uint32_t m = 0; m < nm; m++) {
    const uint32_t b = lsh->match[m].band;
    uint32_t d;
    if (!entry_is(lsh, b, lsh->match[m].ent, sig + (size_t)b * lsh->rows, &d))
      continue;
    lsh->q_matches++;
    vote(lsh, d, b);
  }
  if (lsh->hit_cnt > 1)
    qsort(lsh->hit, lsh->hit_cnt, sizeof(*lsh->hit), hit_cmp);
  const size_t n = lsh->hit_cnt < out_cap ? lsh->hit_cnt : out_cap;
  if (n)
    memcpy(out, lsh->hit, n * sizeof(*out));
  return n;
}
