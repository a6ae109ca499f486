/* topv.c - heaviest-word vectors, their cosine, and the word index (topv.h). */
#include "wiredup/topv.h"

#include "wiredup/mem.h"
#include "wiredup/mix.h"
#include "wiredup/state.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define BUCKETS_MIN 4096u
#define BUCKETS_MAX (1u << 22) /* keys hash into at most; 65,536 stored (KEYS) */

/* ==== Vectors ==== */

/* A word as one integer ranked as the vector keeps words: heavier first,
 * then the smaller key. Weights are > 0, and positive floats order like
 * their bits. Equal ranks are equal words (same key, same weight), so any
 * selection of the k highest gives the same vector. */
static inline uint64_t rank_of(float w, uint16_t key) {
  uint32_t bits;
  memcpy(&bits, &w, sizeof(bits));
  return (uint64_t)bits << 16 | (uint16_t)~key;
}

static inline float float_of(uint32_t bits) {
  float w;
  memcpy(&w, &bits, sizeof(w));
  return w;
}

static inline uint16_t rank_key(uint64_t r) { return (uint16_t)~r; }

/* Move the entries of a[lo..hi) at or above \p piv (\p or_equal) or
 * strictly above it to the front; returns the end of them. Branch-free
 * (Lomuto): which side an entry goes is not predictable. */
static size_t part_above(uint64_t *a, size_t lo, size_t hi, uint64_t piv, int or_equal) {
  size_t j = lo;
  for (size_t i = lo; i < hi; i++) {
    const uint64_t x = a[i];
    a[i] = a[j];
    a[j] = x;
    j += or_equal ? x >= piv : x > piv;
  }
  return j;
}

/* Reorder a[0..n) so that a[0..k) holds the k highest (k < n): quickselect
 * with a median-of-3 pivot. */
static void select_top(uint64_t *a, size_t n, size_t k) {
  size_t lo = 0, hi = n;
  while (hi - lo > 1) {
    uint64_t x = a[lo], y = a[lo + (hi - lo) / 2], z = a[hi - 1], piv;
    if (x < y)
      piv = y < z ? y : (x < z ? z : x);
    else
      piv = x < z ? x : (y < z ? z : y);
    const size_t gt = part_above(a, lo, hi, piv, 0); /* [lo,gt) > piv */
    if (k < gt) {
      hi = gt; /* piv is not in there: the range shrinks */
      continue;
    }
    if (k == gt)
      return;
    const size_t eq = part_above(a, gt, hi, piv, 1); /* [gt,eq) = piv */
    if (k <= eq)
      return;
    lo = eq;
  }
}

void wd_topv_build(wd_topv_t *out, const uint64_t *keys, const float *w, size_t n, size_t k) {
  uint64_t buf[4 * WD_TOPV_MAX];
  size_t m = 0;
  uint64_t low = 0; /* once 4k were seen: the k-th highest rank so far */
  if (k > WD_TOPV_MAX)
    k = WD_TOPV_MAX;
  /* The k highest in one pass: candidates gather in buf; when 4k are there
   * the k highest stay, and from then on only words above the k-th highest
   * so far can enter (4k: a select per 3k entries, 15% less time than 2k
   * with a three-way partition; 8k was no better). */
  for (size_t i = 0; i < n && k; i++) {
    const uint64_t r = rank_of(w[i], (uint16_t)(keys[i] >> 48));
    if (r <= low)
      continue;
    buf[m++] = r;
    if (m == 4 * k) {
      select_top(buf, m, k);
      m = k;
      low = buf[0];
      for (size_t j = 1; j < k; j++)
        if (buf[j] < low)
          low = buf[j];
    }
  }
  if (m > k) {
    select_top(buf, m, k);
    m = k;
  }
  /* by key, then weight: (key << 32 | weight bits) sorts so */
  uint32_t wmax_bits = 0;
  for (size_t i = 0; i < m; i++) {
    const uint32_t bits = (uint32_t)(buf[i] >> 16);
    buf[i] = (uint64_t)rank_key(buf[i]) << 32 | bits;
    if (bits > wmax_bits)
      wmax_bits = bits;
  }
  const float wmax = float_of(wmax_bits);
  out->n = 0;
  out->src = 0;
  out->nnum = 0;
  out->scale = 0.0f;
  if (m > 0 && wmax > 0.0f) {
    for (size_t i = 1; i < m; i++) {
      const uint64_t c = buf[i];
      size_t j = i;
      while (j > 0 && c < buf[j - 1])
        buf[j] = buf[j - 1], j--;
      buf[j] = c;
    }
    double sq = 0.0;
    for (size_t i = 0; i < m; i++) {
      long q = lrintf(255.0f * float_of((uint32_t)buf[i]) / wmax);
      if (q < 1)
        q = 1;
      out->key[i] = (uint16_t)(buf[i] >> 32);
      out->q[i] = (uint8_t)q;
      sq += (double)(q * q);
    }
    out->n = (uint8_t)m;
    out->scale = (float)(1.0 / sqrt(sq));
  }
}

/* ==== Packed vectors ==== */

/* Elias-Fano: key i is (high_i << l) | low_i, the lows stored in l bits each,
 * then bit (n * l + high_i + i) set for each key, so the highs, which never
 * decrease, cost two bits per key on average. */
static uint32_t ef_low_bits(uint32_t n) {
  uint32_t l = 0;
  while (l < 16 && ((uint64_t)n << (l + 1)) <= 65536)
    l++;
  return l;
}

static void ef_put(uint32_t *ef, uint32_t at, uint32_t v) {
  const uint64_t x = (uint64_t)v << (at % 32);
  ef[at / 32] |= (uint32_t)x;
  if (x >> 32)
    ef[at / 32 + 1] |= (uint32_t)(x >> 32);
}

static uint32_t ef_get(const uint32_t *ef, uint32_t at, uint32_t bits) {
  if (!bits)
    return 0;
  /* at most 16 bits from two words */
  const uint32_t w = at / 32, sh = at % 32;
  uint64_t v = ef[w];
  if (w + 1 < WD_TOPV_EF_WORDS)
    v |= (uint64_t)ef[w + 1] << 32;
  return (uint32_t)(v >> sh) & ((1u << bits) - 1);
}

void wd_topv_pack(wd_topv_packed_t *p, const wd_topv_t *v) {
  memset(p, 0, sizeof(*p));
  p->scale = v->scale;
  p->src = v->src;
  p->n = v->n;
  p->nnum = v->nnum;
  memcpy(p->num, v->num, v->nnum * sizeof(*v->num));
  memcpy(p->q, v->q, v->n);
  const uint32_t n = v->n, l = ef_low_bits(n), hi = n * l;
  p->lbits = (uint8_t)l;
  for (uint32_t i = 0; i < n; i++) {
    /* ascending keys (wd_topv_build, wd_topv_read) keep the bit in range */
    assert(i == 0 || v->key[i] >= v->key[i - 1]);
    ef_put(p->ef, i * l, v->key[i] & ((1u << l) - 1));
    const uint32_t bit = hi + ((uint32_t)v->key[i] >> l) + i;
    assert(bit < 32 * WD_TOPV_EF_WORDS);
    p->ef[bit / 32] |= 1u << (bit % 32);
  }
}

void wd_topv_unpack(wd_topv_t *v, const wd_topv_packed_t *p) {
  memset(v, 0, sizeof(*v));
  v->scale = p->scale;
  v->src = p->src;
  v->n = p->n;
  v->nnum = p->nnum;
  memcpy(v->num, p->num, p->nnum * sizeof(*v->num));
  memcpy(v->q, p->q, p->n);
  const uint32_t n = p->n, l = p->lbits, hi = n * l;
  uint32_t i = 0;
  for (uint32_t w = hi / 32; i < n && w < WD_TOPV_EF_WORDS; w++) {
    uint32_t bits = p->ef[w];
    if (w == hi / 32)
      bits &= UINT32_MAX << (hi % 32);
    for (; bits && i < n; bits &= bits - 1, i++) {
      const uint32_t high = w * 32 + (uint32_t)__builtin_ctz(bits) - hi - i;
      v->key[i] = (uint16_t)(high << l | ef_get(p->ef, i * l, l));
    }
  }
}

double wd_topv_cosine(const wd_topv_t *a, const wd_topv_t *b) {
  uint32_t i = 0, j = 0, dot = 0;
  while (i < a->n && j < b->n) {
    const uint16_t ka = a->key[i], kb = b->key[j];
    if (ka < kb) {
      i++;
    } else if (kb < ka) {
      j++;
    } else {
      dot += (uint32_t)a->q[i++] * b->q[j++];
    }
  }
  double c = (double)dot * a->scale * b->scale;
  return c > 1.0 ? 1.0 : c;
}

struct wd_topv_probe_s {
  const wd_topv_t *v; /* the vector set up; NULL: none */
  int dup;            /* v repeats a key: the merge pairs repeats one to one */
  uint8_t q[1u << 16]; /* v's quantised weight by key (1..255), 0: not v's */
};

wd_topv_probe_t *wd_topv_probe_new(void) { return wd_calloc(1, sizeof(wd_topv_probe_t)); }

void wd_topv_probe_destroy(wd_topv_probe_t *p) { wd_free(p); }

void wd_topv_probe_set(wd_topv_probe_t *p, const wd_topv_t *v) {
  assert(!p->v);
  p->v = v;
  p->dup = 0;
  for (uint32_t i = 0; i < v->n; i++) {
    p->dup |= i > 0 && v->key[i] == v->key[i - 1];
    p->q[v->key[i]] = v->q[i];
  }
}

void wd_topv_probe_clear(wd_topv_probe_t *p) {
  if (!p->v)
    return;
  for (uint32_t i = 0; i < p->v->n; i++)
    p->q[p->v->key[i]] = 0;
  p->v = NULL;
}

double wd_topv_probe_cosine(const wd_topv_probe_t *p, const wd_topv_t *b) {
  /* Two words of one vector may share a 16-bit key (keys ascend, not
   * strictly); the merge then pairs the repeats one to one, a table cannot.
   * Rare: the merge answers those. */
  if (p->dup)
    return wd_topv_cosine(p->v, b);
  uint32_t dot = 0, rep = 0;
  for (uint32_t j = 0; j < b->n; j++) {
    dot += (uint32_t)p->q[b->key[j]] * b->q[j];
    rep |= j > 0 && b->key[j] == b->key[j - 1];
  }
  if (rep)
    return wd_topv_cosine(p->v, b);
  double c = (double)dot * p->v->scale * b->scale;
  return c > 1.0 ? 1.0 : c;
}

/* Insert \p h into the ascending set \p set of \p *n (at most WD_TOPV_NUMS
 * smallest values kept). */
static void num_add(uint16_t *set, uint8_t *n, uint16_t h) {
  uint32_t p = *n;
  while (p > 0 && set[p - 1] > h)
    p--;
  if ((p > 0 && set[p - 1] == h) || p >= WD_TOPV_NUMS)
    return;
  if (*n < WD_TOPV_NUMS)
    (*n)++;
  memmove(set + p + 1, set + p, (*n - 1 - p) * sizeof(*set));
  set[p] = h;
}

/* Canonical text has no control characters but '\n': a token ends at the
 * first byte <= ' '. */
static inline int is_sep(unsigned char c) { return c <= ' '; }

/* Bit k of *seps is set when p[k] (k < 16) is a separator, of *cands when
 * it may start a number: a digit, '.', ',' or the lead byte 0xd9/0xdb of an
 * Arabic-Indic digit. Or-ing in 0x02 folds ',' into '.' and 0xd9 into 0xdb. */
static inline void num_masks16(const unsigned char *p, unsigned *seps, unsigned *cands) {
#ifdef __SSE2__
  const __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
  const __m128i sp = _mm_set1_epi8(' '), nine = _mm_set1_epi8(9);
  const __m128i y = _mm_sub_epi8(x, _mm_set1_epi8('0'));
  const __m128i v = _mm_or_si128(x, _mm_set1_epi8(0x02));
  /* unsigned a <= b: max(a, b) == b */
  *seps = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(x, sp), sp));
  *cands = (unsigned)_mm_movemask_epi8(
      _mm_or_si128(_mm_cmpeq_epi8(_mm_max_epu8(y, nine), nine),
                   _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('.')),
                                _mm_cmpeq_epi8(v, _mm_set1_epi8((char)0xdb)))));
#else
  *seps = *cands = 0;
  for (unsigned k = 0; k < 16; k++) {
    const unsigned c = p[k], v = c | 0x02;
    *seps |= (unsigned)(c <= ' ') << k;
    *cands |= (unsigned)(c - '0' <= 9 || v == '.' || v == 0xdb) << k;
  }
#endif
}

/* The token at p (its first byte may start a number): add it to the set
 * when it is made of digits, '.' and ',' only, with 2+ digits.
 * @returns the end of the token. */
static const unsigned char *num_token(const unsigned char *p, const unsigned char *end,
                                      uint16_t *num, uint8_t *n) {
  char digits[32];
  size_t nd = 0;
  int numeric = 1;
  while (p < end && !is_sep(*p)) {
    if (*p >= '0' && *p <= '9') {
      if (nd < sizeof(digits))
        digits[nd++] = (char)*p;
      p++;
    } else if (*p == '.' || *p == ',') {
      p++;
    } else if (p + 1 < end && ((p[0] == 0xd9 && p[1] >= 0xa0 && p[1] <= 0xa9) ||
                               (p[0] == 0xdb && p[1] >= 0xb0 && p[1] <= 0xb9))) {
      if (nd < sizeof(digits)) /* U+0660..0669, U+06F0..06F9 */
        digits[nd++] = (char)('0' + (p[1] & 0x0f));
      p += 2;
    } else {
      numeric = 0;
      p++;
    }
  }
  if (numeric && nd >= 2)
    num_add(num, n, (uint16_t)wd_mix64(XXH3_64bits(digits, nd)));
  return p;
}

/* Most tokens are words: sixteen bytes at a time, only the bytes that both
 * start a token (follow a separator or the text's start) and may start a
 * number are looked at. */
uint8_t wd_topv_numbers(uint16_t num[WD_TOPV_NUMS], const char *text, size_t len) {
  const unsigned char *p = (const unsigned char *)text, *end = p + len;
  uint8_t n = 0;
  unsigned after_sep = 1; /* byte 0 follows a separator: the start counts */
  while (p < end) {
    const size_t avail = (size_t)(end - p);
    unsigned seps, cands;
    if (avail >= 16) {
      num_masks16(p, &seps, &cands);
    } else { /* the tail, padded with separators */
      unsigned char tail[16];
      memset(tail, ' ', sizeof(tail));
      memcpy(tail, p, avail);
      num_masks16(tail, &seps, &cands);
    }
    const unsigned hits = cands & ((seps << 1) | after_sep);
    if (hits) {
      p = num_token(p + __builtin_ctz(hits), end, num, &n);
      after_sep = 0; /* p is at a separator or the end */
      continue;
    }
    after_sep = (seps >> 15) & 1;
    p += avail >= 16 ? 16 : avail;
  }
  return n;
}

int wd_topv_numbers_differ(const wd_topv_t *a, const wd_topv_t *b) {
  if (a->nnum < 2 || b->nnum < 2)
    return 0; /* one shared year or count says little either way */
  uint32_t i = 0, j = 0, shared = 0;
  while (i < a->nnum && j < b->nnum) {
    if (a->num[i] < b->num[j])
      i++;
    else if (b->num[j] < a->num[i])
      j++;
    else
      shared++, i++, j++;
  }
  const uint32_t small = a->nnum < b->nnum ? a->nnum : b->nnum;
  return 2 * shared < small;
}

/* The WD_TOPV_PROBE heaviest keys of \p v (ties: smaller key), into \p keys.
 * @returns how many. */
static size_t probe_keys(const wd_topv_t *v, uint16_t keys[WD_TOPV_PROBE]) {
  uint8_t w[WD_TOPV_PROBE];
  size_t m = 0;
  for (uint32_t i = 0; i < v->n; i++) {
    /* keys[0..m) by weight desc; keys ascend in v, so an equal weight met
     * later is a larger key and goes after */
    size_t p = m;
    while (p > 0 && w[p - 1] < v->q[i])
      p--;
    if (p >= WD_TOPV_PROBE)
      continue;
    if (m < WD_TOPV_PROBE)
      m++;
    memmove(keys + p + 1, keys + p, (m - 1 - p) * sizeof(*keys));
    memmove(w + p + 1, w + p, (m - 1 - p) * sizeof(*w));
    keys[p] = v->key[i];
    w[p] = v->q[i];
  }
  return m;
}

static int has_key(const wd_topv_t *v, uint16_t key) {
  size_t lo = 0, hi = v->n;
  while (lo < hi) {
    const size_t mid = (lo + hi) / 2;
    const uint16_t k = v->key[mid];
    if (k == key)
      return 1;
    if (k < key)
      lo = mid + 1;
    else
      hi = mid;
  }
  return 0;
}

uint32_t wd_topv_heavy_shared(const wd_topv_t *a, const wd_topv_t *b) {
  uint16_t keys[WD_TOPV_PROBE];
  uint32_t n = 0;
  const size_t m = probe_keys(a, keys);
  for (size_t i = 0; i < m; i++)
    n += (uint32_t)has_key(b, keys[i]);
  return n;
}

/* ==== Word index ==== */

/* The newest docs filed under the words that hash here: doc number + 1
 * (0: empty) and 8 more bits of the word's hash, so another word's docs in
 * the same bucket are passed over without reading their vectors. */
typedef struct bucket_s {
  uint32_t doc[WD_TOPV_BUCKET];
  uint8_t tag[WD_TOPV_BUCKET];
} bucket_t;

/* Word keys are 16 bits, so at most 65,536 of the nbuckets buckets that
 * keys hash into are ever used; from 2^16 buckets on most would stay empty
 * (40 MiB of them at 2^20 buckets, for a million articles). Only the used
 * ones are stored: slot[key] is where key's bucket is, and keys that hash
 * into the same bucket share it exactly as they would in the full table. */
#define KEYS (1u << 16)

struct wd_topv_index_s {
  wd_topv_get_fn *get;
  void *ctx;
  bucket_t *bucket; /* nused */
  uint16_t *slot;   /* KEYS: key -> its bucket in bucket[] */
  size_t nbuckets;  /* buckets keys hash into: power of two */
  size_t nused;     /* ... of them some key hashes into */
};

/* Number the buckets keys hash into at nbuckets and give them empty storage. */
static void index_layout(wd_topv_index_t *ix) {
  uint32_t *at = wd_malloc(ix->nbuckets * sizeof(*at));
  memset(at, 0xff, ix->nbuckets * sizeof(*at));
  size_t n = 0;
  for (uint32_t k = 0; k < KEYS; k++) {
    const size_t b = (size_t)wd_mix64(k) & (ix->nbuckets - 1);
    if (at[b] == UINT32_MAX)
      at[b] = (uint32_t)n++;
    ix->slot[k] = (uint16_t)at[b];
  }
  wd_free(at);
  wd_free(ix->bucket);
  ix->nused = n;
  ix->bucket = wd_calloc_huge(n, sizeof(*ix->bucket));
}

wd_topv_index_t *wd_topv_index_new(wd_topv_get_fn *get, void *ctx) {
  wd_topv_index_t *ix = wd_calloc(1, sizeof(*ix));
  ix->get = get;
  ix->ctx = ctx;
  ix->nbuckets = BUCKETS_MIN;
  ix->slot = wd_malloc(KEYS * sizeof(*ix->slot));
  index_layout(ix);
  return ix;
}

void wd_topv_index_destroy(wd_topv_index_t *ix) {
  if (!ix)
    return;
  wd_free(ix->bucket);
  wd_free(ix->slot);
  wd_free(ix);
}

static inline bucket_t *bucket_of(const wd_topv_index_t *ix, uint16_t key, uint8_t *tag) {
  *tag = (uint8_t)(wd_mix64(key) >> 56);
  return &ix->bucket[ix->slot[key]];
}

/* The buckets of \p m keys, each requested from memory before any is read:
 * in a large index every bucket is a cache miss (and a 40-byte bucket may
 * straddle two lines), and reading them one after another waited for each
 * in turn, which made the word index's cost grow with the index. */
static void buckets_of(const wd_topv_index_t *ix, const uint16_t *keys, size_t m,
                       bucket_t **b, uint8_t *tag) {
  for (size_t i = 0; i < m; i++) {
    b[i] = bucket_of(ix, keys[i], &tag[i]);
    __builtin_prefetch(b[i]);
    __builtin_prefetch((const char *)(b[i] + 1) - 1);
  }
}

static void file_doc(wd_topv_index_t *ix, uint32_t doc) {
  uint16_t keys[WD_TOPV_PROBE];
  bucket_t *bs[WD_TOPV_PROBE];
  uint8_t tags[WD_TOPV_PROBE];
  const size_t m = probe_keys(ix->get(ix->ctx, doc), keys);
  buckets_of(ix, keys, m, bs, tags);
  for (size_t i = 0; i < m; i++) {
    bucket_t *b = bs[i];
    const uint8_t tag = tags[i];
    if (b->doc[0] == doc + 1 && b->tag[0] == tag)
      continue; /* two of its keys share the bucket and the tag */
    memmove(b->doc + 1, b->doc, (WD_TOPV_BUCKET - 1) * sizeof(*b->doc));
    memmove(b->tag + 1, b->tag, (WD_TOPV_BUCKET - 1) * sizeof(*b->tag));
    b->doc[0] = doc + 1;
    b->tag[0] = tag;
  }
}

void wd_topv_index_add(wd_topv_index_t *ix, uint32_t base, size_t cnt) {
  file_doc(ix, base + (uint32_t)(cnt - 1));
  /* Keep buckets at most full on average: grow, and refile every live doc
   * oldest first, so each bucket ends as if it had always been this size. */
  size_t nb = ix->nbuckets;
  while (nb < BUCKETS_MAX && cnt * WD_TOPV_PROBE > nb * WD_TOPV_BUCKET)
    nb *= 2;
  if (nb == ix->nbuckets)
    return;
  ix->nbuckets = nb;
  index_layout(ix);
  for (size_t i = 0; i < cnt; i++)
    file_doc(ix, base + (uint32_t)i);
}

size_t wd_topv_index_query(const wd_topv_index_t *ix, const wd_topv_t *v, uint32_t base,
                           size_t cnt, uint32_t *out, size_t cap) {
  uint32_t seen[WD_TOPV_PROBE * WD_TOPV_BUCKET];
  uint8_t hits[WD_TOPV_PROBE * WD_TOPV_BUCKET];
  const size_t ns = wd_topv_index_query_all(ix, v, base, cnt, seen, hits);
  size_t n = 0;
  for (size_t j = 0; j < ns && n < cap; j++)
    if (hits[j] >= WD_TOPV_MIN_HITS)
      out[n++] = seen[j];
  return n;
}

size_t wd_topv_index_query_all(const wd_topv_index_t *ix, const wd_topv_t *v, uint32_t base,
                               size_t cnt, uint32_t seen[WD_TOPV_PROBE * WD_TOPV_BUCKET],
                               uint8_t hits[WD_TOPV_PROBE * WD_TOPV_BUCKET]) {
  uint16_t keys[WD_TOPV_PROBE];
  bucket_t *bs[WD_TOPV_PROBE];
  uint8_t tags[WD_TOPV_PROBE];
  const size_t m = probe_keys(v, keys);
  size_t ns = 0;
  buckets_of(ix, keys, m, bs, tags);
  for (size_t i = 0; i < m; i++) {
    const uint8_t tag = tags[i];
    const bucket_t *b = bs[i];
    for (size_t k = 0; k < WD_TOPV_BUCKET && b->doc[k]; k++) {
      const uint32_t d = b->doc[k] - 1;
      if (b->tag[k] != tag || (uint32_t)(d - base) >= cnt)
        continue; /* another word's, or evicted */
      size_t j = 0;
      while (j < ns && seen[j] != d)
        j++;
      if (j == ns)
        seen[ns] = d, hits[ns++] = 0;
      hits[j]++;
    }
  }
  return ns;
}

size_t wd_topv_index_bytes(const wd_topv_index_t *ix) {
  return sizeof(*ix) + ix->nused * sizeof(*ix->bucket) + KEYS * sizeof(*ix->slot);
}

/* ==== Checkpoint ==== */

void wd_topv_write(wd_state_w_t *w, const wd_topv_t *v) {
  uint32_t bits;
  memcpy(&bits, &v->scale, 4);
  wd_state_w_u8(w, v->n);
  wd_state_w_u8(w, v->nnum);
  wd_state_w_u32(w, bits);
  wd_state_w_u32(w, v->src);
  wd_state_w_u16v(w, v->num, v->nnum);
  wd_state_w_u16v(w, v->key, v->n);
  wd_state_w_bytes(w, v->q, v->n);
}

int wd_topv_read(wd_state_r_t *r, wd_topv_t *v) {
  v->n = wd_state_r_u8(r);
  v->nnum = wd_state_r_u8(r);
  uint32_t bits = wd_state_r_u32(r);
  memcpy(&v->scale, &bits, 4);
  v->src = wd_state_r_u32(r);
  if (r->err || v->n > WD_TOPV_MAX || v->nnum > WD_TOPV_NUMS ||
      wd_state_r_u16v(r, v->num, v->nnum) != 0 || wd_state_r_u16v(r, v->key, v->n) != 0)
    return -1;
  const void *q = wd_state_r_bytes(r, v->n);
  if (!q && v->n)
    return -1;
  if (v->n)
    memcpy(v->q, q, v->n);
  for (uint32_t i = 1; i < v->n; i++) /* wd_topv_build sorts them; packing needs it */
    if (v->key[i] < v->key[i - 1])
      return -1;
  return 0;
}
