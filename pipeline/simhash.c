/* simhash.c - Charikar SimHash over tf-idf weighted words, document
 * frequencies learned online in a bounded table, and a Hamming-distance index.
 *
 * Each distinct word adds +w or -w to 64 counters according to the bits of its
 * feature hash; the sign of each counter is one bit. The index keeps one
 * exact-match table per block of bits (pigeonhole: d differing bits leave at
 * least one of d+1 blocks intact). */
#include "wiredup/simhash.h"
#include "wiredup/mix.h"
#include "wiredup/mem.h"
#include "wiredup/state.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DF_WINDOW 16u     /* probes before the df table replaces an entry */
#define DF_LANES 5u       /* df slots per 64-byte block */
#define TF_MIN_CAP 256u
#define TF_LOAD 4u        /* term map slots per token, at least */
#define NIL UINT32_MAX
#define LOG_TBL 4096u     /* log(k) for k < LOG_TBL, from the same log() call */
#define W_SLACK 0x1p-36   /* relative width around a table weight (see weight_of) */
#define DF_PREFETCH 16u   /* distinct words looked ahead in the df table */
#if defined(__x86_64__) && defined(__GNUC__)
#define ACC_X86 1 /* AVX2 and AVX-512 kernels, chosen at run time */
#else
#define ACC_X86 0
#endif

/* acc[c] += bit c of fh[d] ? w[d] : -w[d], for d in 0..n-1 in order. */
typedef void acc_fn_t(float acc[64], const uint64_t *fh, const float *w, size_t n);
static acc_fn_t *acc_fn(wd_simhash_isa_t isa);

/* DF_LANES consecutive df slots, keys and counts in one cache line: a
 * lookup that finds its word near its home slot (nearly all of them) reads
 * one line where separate key and count arrays read two, and the words of a
 * document are random lines of a table far larger than the caches, so the
 * sign was waiting on those lines. 12.8 bytes per slot instead of 12. Slot
 * numbers, probe order and the checkpoint are those of a plain array. */
typedef struct df_block_s {
  uint64_t key[DF_LANES];
  uint32_t cnt[DF_LANES];
  uint32_t unused;
} df_block_t;
_Static_assert(sizeof(df_block_t) == 64, "a df block is one cache line");

struct wd_simhash_s {
  int idf;
  uint64_t seed, seed_mix; /* feature hash seed (opts.seed) and its mix */
  uint64_t ndocs; /* documents observed */

  /* Document frequencies: key 0 marks an empty slot. Slot i lives in block
   * i / DF_LANES, key and count side by side (see df_block_t). */
  df_block_t *df;
  size_t df_mask;

  /* Term counting for the token-array calls (wd_simhash_sign/observe). */
  wd_termcount_t *tc;
  wd_terms_t terms;

  /* The last sign's distinct words, first-seen order, and their weights. */
  uint64_t *tf_word;
  uint64_t *tf_dfh; /* ... their df table hashes */
  uint32_t *tf_slot; /* ... their df slots then (NIL: absent, or no idf) */
  float *tf_w;
  size_t tf_cap, tf_distinct;
  int tf_signed; /* tf_word holds the distinct words of the last sign */

  /* log(k), for term frequencies and, through weight_of, for the idf. */
  double log_tbl[LOG_TBL];

  acc_fn_t *acc; /* the counter sums for this CPU (opts.isa) */
};

static inline uint64_t seed_mix_of(uint64_t seed) {
  return wd_mix64(seed + 0x9e3779b97f4a7c15ULL);
}

void wd_simhash_opts_default(wd_simhash_opts_t *opts) {
  opts->idf = 1;
  opts->df_capacity = (size_t)1 << 20;
  opts->seed = 7;
  opts->isa = WD_SIMHASH_ISA_BEST;
}

wd_simhash_t *wd_simhash_new(const wd_simhash_opts_t *opts) {
  wd_simhash_opts_t dflt;
  if (!opts) {
    wd_simhash_opts_default(&dflt);
    opts = &dflt;
  }
  const size_t cap = opts->df_capacity;
  if (cap < DF_WINDOW || (cap & (cap - 1)) != 0 || cap > UINT32_MAX ||
      !wd_simhash_isa_supported(opts->isa))
    return NULL; /* (slots are numbered in 32 bits, as in checkpoints) */

  wd_simhash_t *sm = wd_calloc(1, sizeof(*sm));
  sm->idf = opts->idf;
  sm->seed = opts->seed;
  sm->seed_mix = seed_mix_of(opts->seed);
  sm->df = wd_calloc_huge(cap / DF_LANES + 1, sizeof(*sm->df));
  sm->df_mask = cap - 1;
  sm->acc = acc_fn(opts->isa);
  for (unsigned k = 1; k < LOG_TBL; k++)
    sm->log_tbl[k] = log((double)k);
  return sm;
}

void wd_simhash_destroy(wd_simhash_t *sm) {
  if (!sm)
    return;
  wd_free(sm->df);
  wd_termcount_destroy(sm->tc);
  wd_terms_free(&sm->terms);
  wd_free(sm->tf_word);
  wd_free(sm->tf_dfh);
  wd_free(sm->tf_slot);
  wd_free(sm->tf_w);
  wd_free(sm);
}

size_t wd_simhash_bytes(const wd_simhash_t *sm) {
  const size_t df = ((sm->df_mask + 1) / DF_LANES + 1) * sizeof(df_block_t);
  const size_t tf = sm->tf_cap * (sizeof(*sm->tf_word) + sizeof(*sm->tf_dfh) +
                                  sizeof(*sm->tf_slot) + sizeof(*sm->tf_w));
  return sizeof(*sm) + df + tf;
}

double wd_simhash_cosine(int distance) { return cos(M_PI * distance / 64.0); }

/* ==== Document frequencies ==== */

static inline uint64_t df_keyof(uint64_t tok) { return tok ? tok : 1; }
static inline uint64_t df_hash(uint64_t tok) { return wd_mix64(df_keyof(tok)); }

/* Slot \p i's key and count (slots are numbered below 2^31: 32-bit division). */
static inline uint64_t *df_key(const wd_simhash_t *sm, size_t i) {
  return &sm->df[(uint32_t)i / DF_LANES].key[(uint32_t)i % DF_LANES];
}
static inline uint32_t *df_cnt(const wd_simhash_t *sm, size_t i) {
  return &sm->df[(uint32_t)i / DF_LANES].cnt[(uint32_t)i % DF_LANES];
}
/* The line of the slot that df hash \p h calls home. */
static inline const df_block_t *df_home(const wd_simhash_t *sm, uint64_t h) {
  return &sm->df[(uint32_t)(h & sm->df_mask) / DF_LANES];
}

/* \p h: df_hash(tok), which chooses the home slot.
 * A key never sits after an empty slot of its window: keys go into the first
 * empty slot, replacement happens only in a window with no empty slot, and
 * slots never empty again. So a lookup may stop at the first empty slot, and
 * a key sits in one slot at most. @returns the slot of \p tok, or NIL. */
static uint32_t df_find(const wd_simhash_t *sm, uint64_t tok, uint64_t h) {
  const uint64_t key = df_keyof(tok);
  size_t i = (size_t)h & sm->df_mask;
  for (unsigned p = 0; p < DF_WINDOW; p++, i = (i + 1) & sm->df_mask) {
    if (*df_key(sm, i) == key)
      return (uint32_t)i;
    if (*df_key(sm, i) == 0)
      return NIL;
  }
  return NIL;
}

static inline void df_bump(wd_simhash_t *sm, size_t i) {
  uint32_t *c = df_cnt(sm, i);
  if (*c < UINT32_MAX)
    (*c)++;
}

/* @returns 1 when \p tok took another word's slot, else 0. */
static int df_add(wd_simhash_t *sm, uint64_t tok, uint64_t h) {
  const uint64_t key = df_keyof(tok);
  size_t i = (size_t)h & sm->df_mask;
  size_t victim = i;
  for (unsigned p = 0; p < DF_WINDOW; p++, i = (i + 1) & sm->df_mask) {
    if (*df_key(sm, i) == key) {
      df_bump(sm, i);
      return 0;
    }
    if (*df_key(sm, i) == 0) {
      *df_key(sm, i) = key;
      *df_cnt(sm, i) = 1;
      return 0;
    }
    if (*df_cnt(sm, i) < *df_cnt(sm, victim))
      victim = i;
  }
  /* Window full: the rarest word makes room (first one on ties). A word that
   * comes back starts again from 1, which errs towards "rare". */
  *df_key(sm, victim) = key;
  *df_cnt(sm, victim) = 1;
  return 1;
}

/* ==== Term frequencies ==== */

/* A map from word to count, cleared by generation; order lists its slots in
 * first-seen order. One 16-byte slot per word: a probe reads one line. The
 * generation and the count share a word (gc: count << 32 | generation), so
 * that a new word and a repeat are one add apart (TC_ONE). */
typedef struct tc_slot_s {
  uint64_t key;
  uint64_t gc;
} tc_slot_t;
#define TC_ONE ((uint64_t)1 << 32)

struct wd_termcount_s {
  uint64_t seed_mix; /* for the feature hashes */
  tc_slot_t *slot;
  uint32_t *order;
  size_t mask;
  uint32_t cur;
};

wd_termcount_t *wd_termcount_new(uint64_t seed) {
  wd_termcount_t *tc = wd_calloc(1, sizeof(*tc));
  tc->seed_mix = seed_mix_of(seed);
  return tc;
}

void wd_termcount_destroy(wd_termcount_t *tc) {
  if (!tc)
    return;
  wd_free(tc->slot);
  wd_free(tc->order);
  wd_free(tc);
}

void wd_terms_free(wd_terms_t *t) {
  wd_free(t->word);
  wd_free(t->cnt);
  wd_free(t->dfh);
  wd_free(t->fh);
  memset(t, 0, sizeof(*t));
}

static size_t terms_hwm; /* the most words any wd_terms_t has needed */

/* Room for \p n distinct words in \p t (grown, never shrunk). */
static void terms_reserve(wd_terms_t *t, size_t n) {
  if (n <= t->cap)
    return;
  const size_t cap = wd_cap_hwm(&terms_hwm, n);
  wd_free(t->word);
  wd_free(t->cnt);
  wd_free(t->dfh);
  wd_free(t->fh);
  t->word = wd_malloc(cap * sizeof(*t->word));
  t->cnt = wd_malloc(cap * sizeof(*t->cnt));
  t->dfh = wd_malloc(cap * sizeof(*t->dfh));
  t->fh = wd_malloc(cap * sizeof(*t->fh));
  t->cap = cap;
}

void wd_terms_count(wd_termcount_t *tc, const uint64_t *tokens, size_t cnt, wd_terms_t *out) {
  size_t cap = tc->slot ? tc->mask + 1 : 0;
  if (cap < TF_LOAD * cnt || cap == 0) {
    size_t ncap = cap ? cap : TF_MIN_CAP;
    while (ncap < TF_LOAD * cnt)
      ncap *= 2;
    wd_free(tc->slot);
    wd_free(tc->order);
    tc->slot = wd_calloc(ncap, sizeof(*tc->slot));
    tc->order = wd_malloc(ncap * sizeof(*tc->order));
    tc->mask = ncap - 1;
    tc->cur = 0;
  }
  if (++tc->cur == 0) {
    for (size_t i = 0; i <= tc->mask; i++)
      tc->slot[i].gc = 0;
    tc->cur = 1;
  }
  /* Whether a token is new or a repeat is a coin toss to the branch
   * predictor (four in ten are new), so the home slot takes either without a
   * branch: the slot is rewritten with the count chosen, and the order entry
   * is written always and kept only for a new word. Only a token whose home
   * slot holds another word (rare at a load of 1/TF_LOAD) probes on. */
  const uint32_t cur = tc->cur;
  tc_slot_t *const slot = tc->slot;
  uint32_t *const order = tc->order;
  const size_t mask = tc->mask;
  /* The map's lines have left the cache since the last document, and a
   * word's slot is a random one of them: first every token's home slot,
   * each line asked for at once, so that the misses overlap instead of
   * each stalling the count. The homes go in the top quarter of order,
   * which the count (at most cnt entries, from the bottom) never reaches. */
  _Static_assert(TF_LOAD >= 2, "order holds the count and the homes apart");
  uint32_t *const home = order + (mask + 1 - cnt);
  /* A multiplicative hash's top bits pick the slot: the order of the words,
   * all that comes out, does not depend on where they sit. */
  const unsigned shift = 64u - (unsigned)__builtin_ctzll((uint64_t)mask + 1);
  for (size_t n = 0; n < cnt; n++) {
    home[n] = (uint32_t)((tokens[n] * 0x9E3779B97F4A7C15ull) >> shift);
    __builtin_prefetch(&slot[home[n]], 1);
  }
  size_t nd = 0;
  for (size_t n = 0; n < cnt; n++) {
    const uint64_t key = tokens[n];
    size_t i = home[n];
    const tc_slot_t old = slot[i];
    const uint64_t fresh = (uint32_t)old.gc != cur;
    /* nonzero only for another word's slot; a product, so that the compiler
     * cannot split the test into the two branches it replaces */
    const uint64_t clash = (1 - fresh) * (old.key ^ key);
    if (__builtin_expect(clash == 0, 1)) {
      slot[i] = (tc_slot_t){key, (fresh ? cur : old.gc) + TC_ONE};
      order[nd] = (uint32_t)i;
      nd += fresh;
      continue;
    }
    for (;;) {
      i = (i + 1) & mask;
      tc_slot_t *e = &slot[i];
      if ((uint32_t)e->gc != cur) {
        *e = (tc_slot_t){key, cur + TC_ONE};
        order[nd++] = (uint32_t)i;
        break;
      }
      if (e->key == key) {
        e->gc += TC_ONE;
        break;
      }
    }
  }
  terms_reserve(out, nd);
  for (size_t d = 0; d < nd; d++) {
    const tc_slot_t *e = &slot[order[d]];
    out->word[d] = e->key;
    out->cnt[d] = (uint32_t)(e->gc >> 32);
    out->dfh[d] = df_hash(e->key);
    out->fh[d] = wd_mix64(e->key ^ tc->seed_mix);
  }
  out->fh_seed = tc->seed_mix;
  out->n = nd;
}

/* The words of \p cnt tokens into sm->terms, for the token-array calls. */
static const wd_terms_t *sm_count(wd_simhash_t *sm, const uint64_t *tokens, size_t cnt) {
  if (!sm->tc)
    sm->tc = wd_termcount_new(sm->seed);
  wd_terms_count(sm->tc, tokens, cnt, &sm->terms);
  return &sm->terms;
}

/* ==== Signing ==== */

/* The weight of a word: (float)(tfw * (log(n1 / (df + 1.0)) + 1.0)), tfw
 * = 1 + log tf, n1 = documents observed + 1, ln1 = log(n1). That log() was
 * one call per word and most of the signing's arithmetic; only the float
 * is kept, so a close enough double decides it too:
 * (ln1 - log_tbl[df + 1]) + 1.0 differs from the idf above by less than
 * 2^-44 (each log() within 2 ulp, below 2^-46 for values below 64, plus
 * the roundings of the quotient, the difference and the sums; glibc's
 * bound is 0.52 ulp). With that idf at 0.5 or more, and tfw >= 1 the same
 * double on both paths, the two products differ by less than 2^-42
 * relatively. If every double within W_SLACK (2^-36) of the table product
 * rounds to one float, the exact product, inside that interval, rounds to
 * it too (rounding is monotone); otherwise, about once in 2^12 words, and
 * for df + 1 past the table, the exact expression decides. *exact says
 * which path it was (for the tests). */
static inline float weight_of(const wd_simhash_t *sm, double n1, double ln1, uint32_t tf,
                              uint32_t df, int *exact) {
  const double tfw = 1.0 + (tf < LOG_TBL ? sm->log_tbl[tf] : log((double)tf));
  if (df < LOG_TBL - 1) {
    const double idf = ln1 - sm->log_tbl[df + 1] + 1.0;
    const double w = tfw * idf;
    const float lo = (float)(w * (1.0 - W_SLACK)), hi = (float)(w * (1.0 + W_SLACK));
    *exact = !(lo == hi && idf >= 0.5);
    if (!*exact)
      return lo;
  }
  *exact = 1;
  return (float)(tfw * (log(n1 / ((double)df + 1.0)) + 1.0));
}

float wd_simhash_weight(const wd_simhash_t *sm, uint64_t ndocs, uint32_t tf, uint32_t df,
                        int *exact) {
  const double n1 = (double)ndocs + 1.0;
  int ex;
  const float w = weight_of(sm, n1, log(n1), tf, df, &ex);
  if (exact)
    *exact = ex;
  return w;
}

/* ==== Counter sums ====
 *
 * Each word adds +w or -w to the 64 counters. Adding -w is the same float
 * operation as adding w * -1.0f (negation is exact), so every kernel flips
 * the sign bit of w where the feature hash has a 0 and adds, counter by
 * counter in word order: the sums are the same floats on every path, and
 * there is no product that could become a fused multiply-add. */

/* sign_mask[byte][b]: the sign bit when bit b of byte is 0. */
#define SM1(v, b) (((v) >> (b)) & 1 ? 0u : 0x80000000u)
#define SM8(v) {SM1(v, 0), SM1(v, 1), SM1(v, 2), SM1(v, 3), \
                SM1(v, 4), SM1(v, 5), SM1(v, 6), SM1(v, 7)}
#define SM4x(v) SM8(v), SM8((v) + 1), SM8((v) + 2), SM8((v) + 3)
#define SM16x(v) SM4x(v), SM4x((v) + 4), SM4x((v) + 8), SM4x((v) + 12)
#define SM64x(v) SM16x(v), SM16x((v) + 16), SM16x((v) + 32), SM16x((v) + 48)
static const uint32_t sign_mask[256][8] __attribute__((aligned(32))) = {
    SM64x(0), SM64x(64), SM64x(128), SM64x(192)};

/* Four counters per operation with GCC vector extensions (SSE2). */
typedef float v4f __attribute__((vector_size(16)));
typedef uint32_t v4u __attribute__((vector_size(16)));

static void acc_portable(float acc[64], const uint64_t *fh, const float *w, size_t n) {
  v4f a[16];
  memcpy(a, acc, sizeof(a));
  for (size_t d = 0; d < n; d++) {
    const v4u wv = (v4u)(v4f){w[d], w[d], w[d], w[d]};
    for (int j = 0; j < 16; j++) {
      v4u m;
      memcpy(&m, &sign_mask[(fh[d] >> (8 * (j / 2))) & 0xff][4 * (j % 2)], sizeof(m));
      a[j] += (v4f)(wv ^ m);
    }
  }
  memcpy(acc, a, sizeof(a));
}

#if ACC_X86
#include <immintrin.h>

/* Eight counters per operation, the sign bits from the same table. */
__attribute__((target("avx2"))) static void acc_avx2(float acc[64], const uint64_t *fh,
                                                     const float *w, size_t n) {
  __m256 a[8];
  for (int j = 0; j < 8; j++)
    a[j] = _mm256_loadu_ps(acc + 8 * j);
  for (size_t d = 0; d < n; d++) {
    const __m256i wv = _mm256_castps_si256(_mm256_set1_ps(w[d]));
    for (int j = 0; j < 8; j++) {
      const __m256i m =
          _mm256_load_si256((const __m256i *)sign_mask[(fh[d] >> (8 * j)) & 0xff]);
      a[j] = _mm256_add_ps(a[j], _mm256_castsi256_ps(_mm256_xor_si256(wv, m)));
    }
  }
  for (int j = 0; j < 8; j++)
    _mm256_storeu_ps(acc + 8 * j, a[j]);
}

/* Sixteen counters per operation: 16 bits of the feature hash pick w or -w
 * lane by lane (a mask register), no table. */
__attribute__((target("avx512f"))) static void acc_avx512(float acc[64], const uint64_t *fh,
                                                          const float *w, size_t n) {
  __m512 a[4];
  for (int j = 0; j < 4; j++)
    a[j] = _mm512_loadu_ps(acc + 16 * j);
  for (size_t d = 0; d < n; d++) {
    const __m512 pos = _mm512_set1_ps(w[d]), neg = _mm512_set1_ps(-w[d]);
    for (int j = 0; j < 4; j++)
      a[j] = _mm512_add_ps(a[j], _mm512_mask_blend_ps((__mmask16)(fh[d] >> (16 * j)), neg, pos));
  }
  for (int j = 0; j < 4; j++)
    _mm512_storeu_ps(acc + 16 * j, a[j]);
}
#endif

int wd_simhash_isa_supported(wd_simhash_isa_t isa) {
  switch (isa) {
  case WD_SIMHASH_ISA_BEST:
  case WD_SIMHASH_ISA_PORTABLE:
    return 1;
#if ACC_X86
  case WD_SIMHASH_ISA_AVX2:
    return __builtin_cpu_supports("avx2");
  case WD_SIMHASH_ISA_AVX512:
    return __builtin_cpu_supports("avx512f");
#endif
  default:
    return 0;
  }
}

static acc_fn_t *acc_fn(wd_simhash_isa_t isa) {
  if (isa == WD_SIMHASH_ISA_BEST)
    isa = wd_simhash_isa_supported(WD_SIMHASH_ISA_AVX512) ? WD_SIMHASH_ISA_AVX512
          : wd_simhash_isa_supported(WD_SIMHASH_ISA_AVX2) ? WD_SIMHASH_ISA_AVX2
                                                          : WD_SIMHASH_ISA_PORTABLE;
  switch (isa) {
#if ACC_X86
  case WD_SIMHASH_ISA_AVX2:
    return acc_avx2;
  case WD_SIMHASH_ISA_AVX512:
    return acc_avx512;
#endif
  default:
    return acc_portable;
  }
}

void wd_simhash_accumulate(wd_simhash_isa_t isa, float acc[64], const uint64_t *fh,
                           const float *w, size_t n) {
  acc_fn(isa)(acc, fh, w, n);
}

uint64_t wd_simhash_sign_terms(wd_simhash_t *sm, const wd_terms_t *t) {
  const size_t nd = t->n;
  if (nd > sm->tf_cap) {
    sm->tf_cap = nd > 2 * sm->tf_cap ? nd : 2 * sm->tf_cap;
    wd_free(sm->tf_word);
    wd_free(sm->tf_dfh);
    wd_free(sm->tf_slot);
    wd_free(sm->tf_w);
    sm->tf_word = wd_malloc(sm->tf_cap * sizeof(*sm->tf_word));
    sm->tf_dfh = wd_malloc(sm->tf_cap * sizeof(*sm->tf_dfh));
    sm->tf_slot = wd_malloc(sm->tf_cap * sizeof(*sm->tf_slot));
    sm->tf_w = wd_malloc(sm->tf_cap * sizeof(*sm->tf_w));
  }
  sm->tf_distinct = nd;
  sm->tf_signed = 1;
  const double n1 = (double)sm->ndocs + 1.0, ln1 = sm->idf ? log(n1) : 0.0;
  /* The df table is large and read at random: start the loads of the next
   * words' home slots while this word's weight is added. */
  if (sm->idf)
    for (size_t d = 0; d < nd && d < DF_PREFETCH; d++)
      __builtin_prefetch(df_home(sm, t->dfh[d]));
  for (size_t d = 0; d < nd; d++) {
    const uint64_t tok = t->word[d];
    if (sm->idf && d + DF_PREFETCH < nd)
      __builtin_prefetch(df_home(sm, t->dfh[d + DF_PREFETCH]));
    const uint32_t tf = t->cnt[d];
    uint32_t slot = NIL;
    float w;
    if (sm->idf) {
      int exact;
      slot = df_find(sm, tok, t->dfh[d]);
      w = weight_of(sm, n1, ln1, tf, slot == NIL ? 0 : *df_cnt(sm, slot), &exact);
    } else {
      w = (float)(1.0 + (tf < LOG_TBL ? sm->log_tbl[tf] : log((double)tf)));
    }
    sm->tf_word[d] = tok;
    sm->tf_dfh[d] = t->dfh[d];
    sm->tf_slot[d] = slot;
    sm->tf_w[d] = w;
  }
  /* Then the counters, in a loop of their own: no calls, so the vector
   * kernels keep them in registers. */
  float acc[64] = {0};
  if (t->fh_seed == sm->seed_mix) {
    sm->acc(acc, t->fh, sm->tf_w, nd);
  } else { /* feature hashes for another seed: ours, a block at a time */
    uint64_t fh[64];
    for (size_t d0 = 0; d0 < nd; d0 += 64) {
      const size_t n = nd - d0 < 64 ? nd - d0 : 64;
      for (size_t d = 0; d < n; d++)
        fh[d] = wd_mix64(t->word[d0 + d] ^ sm->seed_mix);
      sm->acc(acc, fh, sm->tf_w + d0, n);
    }
  }
  uint64_t h = 0;
  for (int b = 0; b < 64; b++)
    h |= (uint64_t)(acc[b] > 0.0f) << b;
  return h;
}

uint64_t wd_simhash_sign(wd_simhash_t *sm, const uint64_t *tokens, size_t cnt) {
  return wd_simhash_sign_terms(sm, sm_count(sm, tokens, cnt));
}

void wd_simhash_topv(const wd_simhash_t *sm, wd_topv_t *out) {
  if (sm->tf_signed)
    wd_topv_build(out, sm->tf_word, sm->tf_w, sm->tf_distinct, WD_TOPV_MAX);
  else
    out->n = 0, out->src = 0, out->nnum = 0, out->scale = 0.0f;
}

/* Add one document's distinct words (with their df_hash) to the df table. */
static void observe_distinct(wd_simhash_t *sm, const uint64_t *word, const uint64_t *dfh,
                             size_t nd) {
  for (size_t d = 0; d < nd && d < DF_PREFETCH; d++)
    __builtin_prefetch(df_home(sm, dfh[d]), 1);
  for (size_t d = 0; d < nd; d++) {
    if (d + DF_PREFETCH < nd)
      __builtin_prefetch(df_home(sm, dfh[d + DF_PREFETCH]), 1);
    df_add(sm, word[d], dfh[d]);
  }
  sm->ndocs++;
  sm->tf_signed = 0;
}

void wd_simhash_observe(wd_simhash_t *sm, const uint64_t *tokens, size_t cnt) {
  const wd_terms_t *t = sm_count(sm, tokens, cnt);
  observe_distinct(sm, t->word, t->dfh, t->n);
}

/* The sign found most words' slots (tf_slot), and each still holds its word
 * until some word of this document takes another's slot (df_add returns 1):
 * from then on a slot counts only if its key is still the word's. The words
 * not found go through df_add. Same table as observe_distinct, without most
 * of its key reads. */
int wd_simhash_observe_signed(wd_simhash_t *sm) {
  if (!sm->tf_signed)
    return -1;
  const size_t nd = sm->tf_distinct;
  int moved = 0;
  for (size_t d = 0; d < nd; d++) {
    if (d + DF_PREFETCH < nd && sm->tf_slot[d + DF_PREFETCH] != NIL)
      __builtin_prefetch(df_cnt(sm, sm->tf_slot[d + DF_PREFETCH]), 1);
    const uint32_t i = sm->tf_slot[d];
    if (i != NIL && (!moved || *df_key(sm, i) == df_keyof(sm->tf_word[d])))
      df_bump(sm, i);
    else
      moved |= df_add(sm, sm->tf_word[d], sm->tf_dfh[d]);
  }
  sm->ndocs++;
  sm->tf_signed = 0;
  return 0;
}

/* ==== Checkpoint ==== */

/* SIMH section body: u64 documents observed, u64 df table capacity, u64 used
 * slots N, then N x {u32 slot index, u64 word key, u32 document frequency}.
 * Slot positions are kept: lookups stop at the first empty slot. */
void wd_simhash_save(const wd_simhash_t *sm, wd_state_w_t *w) {
  const size_t cap = sm->df_mask + 1;
  uint64_t used = 0;
  for (size_t i = 0; i < cap; i++)
    used += *df_key(sm, i) != 0;
  wd_state_w_begin(w, "SIMH");
  wd_state_w_u64(w, sm->ndocs);
  wd_state_w_u64(w, cap);
  wd_state_w_u64(w, used);
  for (size_t i = 0; i < cap; i++) {
    if (!*df_key(sm, i))
      continue;
    wd_state_w_u32(w, (uint32_t)i);
    wd_state_w_u64(w, *df_key(sm, i));
    wd_state_w_u32(w, *df_cnt(sm, i));
  }
  wd_state_w_end(w);
}

int wd_simhash_load(wd_simhash_t *sm, wd_state_r_t *r) {
  const size_t cap = sm->df_mask + 1;
  const uint64_t ndocs = wd_state_r_u64(r), rcap = wd_state_r_u64(r),
                 used = wd_state_r_u64(r);
  if (r->err || rcap != cap || !wd_state_r_fits(r, used, 16))
    return -1;
  sm->ndocs = ndocs;
  for (uint64_t n = 0; n < used; n++) {
    const uint32_t i = wd_state_r_u32(r);
    const uint64_t key = wd_state_r_u64(r);
    const uint32_t cnt = wd_state_r_u32(r);
    if (r->err || i >= cap || !key)
      return -1;
    *df_key(sm, i) = key;
    *df_cnt(sm, i) = cnt;
  }
  return 0;
}

/* ==== Hamming index ==== */

/* Entries live in one pool; each entry is on one chain per block, hanging off
 * head[b*cap + slot], slot chosen by the block's value. Chains, not linear
 * probing: with narrow blocks (8 bits at max_distance 7) many entries share
 * a block value, and equal-key runs in a linear-probing table merge into
 * long clusters that every query would have to walk.
 *
 * An entry is one node of `stride` words: the hash (words 0-1), the doc
 * (word 2) and its nb chain links (words 3..), padded to a power of two so
 * that a node never spans two cache lines (32 bytes at max_distance 3). A
 * chain step reads the next node's hash and link together: in a large index
 * every step is a cache miss, and with hash, doc and links in three arrays
 * it was two. */
struct wd_simhash_index_s {
  int md, nb;
  unsigned shift[8];
  uint64_t bmask[8];
  uint32_t stride; /* words per node */
  uint32_t *node;
  uint32_t *head;
  size_t cap;  /* pool entries == chain heads per block, power of two */
  size_t used; /* pool high-water mark */
  size_t live;
  uint32_t free_head; /* freed entries, linked through their block 0 link */
  uint64_t skipped;   /* inserts beyond WD_SIMHASH_SAME_MAX identical hashes */
  uint32_t examined;  /* chain entries read by the last query */
  /* The last query's count of entries with its hash (same_known: valid
   * until the index changes), so that inserting the article just queried
   * does not walk block 0's chain again to count them. */
  uint64_t same_hash;
  uint32_t same_cnt;
  int same_known;
  /* Query scratch, kept: (distance << 32 | doc) of every entry within
   * max_distance met. */
  uint64_t *met;
  size_t met_cap;
};

static inline uint32_t *si_node(const wd_simhash_index_t *si, uint32_t e) {
  return si->node + (size_t)e * si->stride;
}

static inline uint64_t si_hash(const wd_simhash_index_t *si, uint32_t e) {
  uint64_t h;
  memcpy(&h, si_node(si, e), sizeof(h));
  return h;
}

static inline uint32_t si_doc(const wd_simhash_index_t *si, uint32_t e) {
  return si_node(si, e)[2];
}

/* Entry \p e's link on block \p b's chain. */
static inline uint32_t *si_next(const wd_simhash_index_t *si, uint32_t e, int b) {
  return si_node(si, e) + 3 + b;
}

static inline size_t si_slot(const wd_simhash_index_t *si, int b, uint64_t v) {
  return (size_t)wd_mix64(v + (uint64_t)(b + 1) * 0x9e3779b97f4a7c15ULL) &
         (si->cap - 1);
}

static inline uint64_t si_block(const wd_simhash_index_t *si, int b,
                                uint64_t h) {
  return (h >> si->shift[b]) & si->bmask[b];
}

wd_simhash_index_t *wd_simhash_index_new(int max_distance) {
  if (max_distance < 0 || max_distance > 7)
    return NULL;
  wd_simhash_index_t *si = wd_calloc(1, sizeof(*si));
  si->md = max_distance;
  si->nb = max_distance + 1;
  unsigned shift = 0;
  for (int b = 0; b < si->nb; b++) {
    const unsigned width = 64 / si->nb + ((unsigned)b < 64 % si->nb);
    si->shift[b] = shift;
    si->bmask[b] = width == 64 ? UINT64_MAX : (1ULL << width) - 1;
    shift += width;
  }
  assert(shift == 64);
  si->stride = 4;
  while (si->stride < 3u + (unsigned)si->nb)
    si->stride *= 2;
  si->free_head = NIL;
  return si;
}

void wd_simhash_index_destroy(wd_simhash_index_t *si) {
  if (!si)
    return;
  wd_free(si->node);
  wd_free(si->head);
  wd_free(si->met);
  wd_free(si);
}

size_t wd_simhash_index_bytes(const wd_simhash_index_t *si) {
  const size_t per = ((size_t)si->stride + (size_t)si->nb) * sizeof(uint32_t);
  return sizeof(*si) + si->cap * per + si->met_cap * sizeof(*si->met);
}

static void si_link(wd_simhash_index_t *si, uint32_t e) {
  const uint64_t hash = si_hash(si, e);
  for (int b = 0; b < si->nb; b++) {
    uint32_t *h = si->head + (size_t)b * si->cap + si_slot(si, b, si_block(si, b, hash));
    *si_next(si, e, b) = *h;
    *h = e;
  }
}

/* Double the pool and rebuild the chains. Called only when the free list is
 * empty, so entries [0, used) are all live. Both arrays are read at random:
 * huge pages once large (wd_calloc_huge). */
static void si_grow(wd_simhash_index_t *si) {
  assert(si->free_head == NIL && si->used == si->cap);
  const size_t ncap = si->cap ? si->cap * 2 : 64;
  assert(ncap <= (size_t)NIL);
  uint32_t *node = wd_calloc_huge(ncap * si->stride, sizeof(*node));
  if (si->used)
    memcpy(node, si->node, si->used * si->stride * sizeof(*node));
  wd_free(si->node);
  si->node = node;
  wd_free(si->head);
  si->head = wd_calloc_huge(ncap * si->nb, sizeof(*si->head));
  memset(si->head, 0xff, ncap * si->nb * sizeof(*si->head));
  si->cap = ncap;
  for (size_t e = 0; e < si->used; e++)
    si_link(si, (uint32_t)e);
}

void wd_simhash_index_stats(const wd_simhash_index_t *si, wd_simhash_index_stats_t *st) {
  st->live = si->live;
  st->skipped = si->skipped;
  st->query_examined = si->examined;
}

void wd_simhash_index_insert(wd_simhash_index_t *si, uint64_t hash,
                             uint32_t doc) {
  uint32_t e, same = 0;
  if (si->same_known && si->same_hash == hash) {
    same = si->same_cnt;
  } else if (si->cap) { /* identical hashes share block 0's chain: count them */
    for (e = si->head[si_slot(si, 0, si_block(si, 0, hash))]; e != NIL; e = *si_next(si, e, 0))
      if (si_hash(si, e) == hash && ++same >= WD_SIMHASH_SAME_MAX)
        break;
  }
  si->same_known = 0;
  if (same >= WD_SIMHASH_SAME_MAX) {
    si->skipped++;
    return;
  }
  if (si->free_head != NIL) {
    e = si->free_head;
    si->free_head = *si_next(si, e, 0);
  } else {
    if (si->used == si->cap)
      si_grow(si);
    e = (uint32_t)si->used++;
  }
  memcpy(si_node(si, e), &hash, sizeof(hash));
  si_node(si, e)[2] = doc;
  si_link(si, e);
  si->live++;
}

void wd_simhash_index_remove(wd_simhash_index_t *si, uint64_t hash,
                             uint32_t doc) {
  if (si->live == 0)
    return;
  si->same_known = 0;
  uint32_t e = si->head[si_slot(si, 0, si_block(si, 0, hash))];
  while (e != NIL && !(si_hash(si, e) == hash && si_doc(si, e) == doc))
    e = *si_next(si, e, 0);
  if (e == NIL)
    return;
  for (int b = 0; b < si->nb; b++) {
    uint32_t *p = si->head + (size_t)b * si->cap +
                  si_slot(si, b, si_block(si, b, hash));
    while (*p != e) {
      assert(*p != NIL);
      p = si_next(si, *p, b);
    }
    *p = *si_next(si, e, b);
  }
  *si_next(si, e, 0) = si->free_head;
  si->free_head = e;
  si->live--;
}

typedef struct si_collect_s {
  uint32_t examined;   /* chain entries read */
  uint32_t same;       /* entries with the query's hash met */
  int same_known;      /* ... and that is all of them (or SAME_MAX) */
  size_t n;            /* entries within max_distance met (si->met) */
} si_collect_t;

/* Note an entry within max_distance: (distance, doc) into si->met. */
static void collect_doc(wd_simhash_index_t *si, si_collect_t *c, int d, uint32_t doc) {
  if (c->n == si->met_cap) {
    si->met_cap = si->met_cap ? 2 * si->met_cap : 64;
    si->met = wd_realloc(si->met, si->met_cap * sizeof(*si->met));
  }
  si->met[c->n++] = (uint64_t)d << 32 | doc;
}

static int u64_cmp(const void *a, const void *b) {
  const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* Sort \p v (\p n): a few entries as a rule, so insertion sort until many. */
static void sort_u64(uint64_t *v, size_t n) {
  if (n > 32) {
    qsort(v, n, sizeof(*v), u64_cmp);
    return;
  }
  for (size_t i = 1; i < n; i++) {
    const uint64_t x = v[i];
    size_t j = i;
    while (j > 0 && v[j - 1] > x)
      v[j] = v[j - 1], j--;
    v[j] = x;
  }
}

/* One entry \p e of block \p b's chain met by a scan; \p matched counts the
 * block's matches. @returns 0 when the block has been read far enough. */
static int si_visit(wd_simhash_index_t *si, uint64_t q, const uint64_t *qb, int b,
                    uint32_t e, uint32_t *matched, si_collect_t *c) {
  const uint64_t h = si_hash(si, e);
  c->examined++;
  if (si_block(si, b, h) != qb[b])
    return 1; /* another block value hashed to this chain */
  if (++*matched > WD_SIMHASH_SCAN_MAX)
    return 0; /* a flood of one block value: the newest linked are enough */
  if (b == 0 && h == q)
    c->same++;
  for (int p = 0; p < b; p++)
    if (si_block(si, p, h) == qb[p])
      return 1; /* a pair equal on an earlier block was met there */
  const int d = wd_simhash_distance(h, q);
  if (d <= si->md)
    collect_doc(si, c, d, si_doc(si, e));
  return 1;
}

/* Walk every block's chain, one step of each in turn: in a large index each
 * step is a cache miss, and the chains grow with the index (a 16-bit block
 * value is shared by one entry in 65,536), so stepping them side by side
 * overlaps nb misses instead of waiting for each. What the query makes of
 * the entries met does not depend on the order they are met in. Block 0's
 * chain holds every entry with hash q: the scan tells the insert that
 * follows how many there are (same_*). */
static void si_scan(wd_simhash_index_t *si, uint64_t q, si_collect_t *c) {
  uint64_t qb[8];
  const uint32_t *head[8];
  uint32_t e[8], matched[8];
  for (int b = 0; b < si->nb; b++) { /* every block's chain head on its way */
    qb[b] = si_block(si, b, q);
    head[b] = &si->head[(size_t)b * si->cap + si_slot(si, b, qb[b])];
    __builtin_prefetch(head[b]);
  }
  for (int b = 0; b < si->nb; b++) {
    e[b] = *head[b];
    matched[b] = 0;
    if (e[b] != NIL)
      __builtin_prefetch(si_node(si, e[b]));
  }
  c->same = 0;
  c->same_known = 1;
  for (int more = 1; more;) {
    more = 0;
    for (int b = 0; b < si->nb; b++) {
      const uint32_t cur = e[b];
      if (cur == NIL)
        continue;
      e[b] = *si_next(si, cur, b);
      if (e[b] != NIL)
        __builtin_prefetch(si_node(si, e[b]));
      if (!si_visit(si, q, qb, b, cur, &matched[b], c)) {
        e[b] = NIL;
        if (b == 0 && c->same < WD_SIMHASH_SAME_MAX)
          c->same_known = 0; /* block 0 not read to its end */
      }
      more |= e[b] != NIL;
    }
  }
}

size_t wd_simhash_index_query(wd_simhash_index_t *si, uint64_t hash,
                              uint32_t *out, size_t out_cap) {
  si->examined = 0;
  if (si->live == 0 || out_cap == 0)
    return 0;
  si_collect_t c = {0};
  si_scan(si, hash, &c);
  si->same_hash = hash;
  si->same_cnt = c.same;
  si->same_known = c.same_known;
  si->examined = c.examined;
  /* One scan; then (distance asc, doc asc), each doc once at its closest
   * (a doc stored under two hashes), the first out_cap. By doc first, to
   * keep each doc's closest entry, then by distance. */
  uint64_t *met = si->met;
  for (size_t i = 0; i < c.n; i++)
    met[i] = met[i] << 32 | met[i] >> 32;
  sort_u64(met, c.n);
  size_t u = 0;
  for (size_t i = 0; i < c.n; i++) {
    const uint64_t m = met[i];
    if (u == 0 || (uint32_t)met[u - 1] != m >> 32)
      met[u++] = m << 32 | m >> 32;
  }
  sort_u64(met, u);
  const size_t n = u < out_cap ? u : out_cap;
  for (size_t i = 0; i < n; i++)
    out[i] = (uint32_t)met[i];
  return n;
}
