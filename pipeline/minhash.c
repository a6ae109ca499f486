/* minhash.c - MinHash signatures: one-permutation hashing with optimal
 * densification (default) and a per-permutation "mix" method.
 *
 * OPH: each shingle, re-mixed, picks a bin with its high 32 bits and competes
 * for the bin's minimum with its low 32 bits; empty bins then copy the value of
 * the first originally-filled bin on a probe sequence that depends only on
 * (bin, attempt), which keeps the estimator unbiased (Shrivastava 2017). */
#include "wiredup/minhash.h"
#include "wiredup/mix.h"
#include "wiredup/mem.h"

#include <assert.h>
#include <string.h>

#define MINHASH_PERM_MIN 16u
#define MINHASH_PERM_MAX 1024u
#define MINHASH_BLOCK 8u /* MIX works on blocks of this many permutations */

struct wd_minhash_s {
  uint32_t num_perm;
  wd_minhash_method_t method;
  uint64_t seed_mix;   /* xored into every shingle before re-mixing */
  uint64_t seed_probe; /* seeds the densification probe sequences */
  uint32_t *perm_seed; /* MIX: one 32-bit seed per permutation */
};

void wd_minhash_opts_default(wd_minhash_opts_t *opts) {
  opts->num_perm = 128;
  opts->seed = 1;
  opts->method = WD_MINHASH_OPH;
}

wd_minhash_t *wd_minhash_new(const wd_minhash_opts_t *opts) {
  wd_minhash_opts_t dflt;
  if (!opts) {
    wd_minhash_opts_default(&dflt);
    opts = &dflt;
  }
  if (opts->num_perm < MINHASH_PERM_MIN || opts->num_perm > MINHASH_PERM_MAX ||
      opts->num_perm % MINHASH_BLOCK != 0)
    return NULL;
  if (opts->method != WD_MINHASH_OPH && opts->method != WD_MINHASH_MIX)
    return NULL;

  wd_minhash_t *mh = wd_calloc(1, sizeof(*mh));
  mh->num_perm = opts->num_perm;
  mh->method = opts->method;
  uint64_t state = opts->seed;
  mh->seed_mix = wd_mix64(state += 0x9e3779b97f4a7c15ULL);
  mh->seed_probe = wd_mix64(state += 0x9e3779b97f4a7c15ULL);
  mh->perm_seed = wd_malloc(mh->num_perm * sizeof(*mh->perm_seed));
  for (uint32_t i = 0; i < mh->num_perm; i++)
    mh->perm_seed[i] = (uint32_t)wd_mix64(state += 0x9e3779b97f4a7c15ULL);
  return mh;
}

void wd_minhash_destroy(wd_minhash_t *mh) {
  if (!mh)
    return;
  wd_free(mh->perm_seed);
  wd_free(mh);
}

uint32_t wd_minhash_num_perm(const wd_minhash_t *mh) { return mh->num_perm; }

/* ==== One permutation + optimal densification ==== */

static void sign_oph(const wd_minhash_t *mh, const uint64_t *shingles,
                     size_t cnt, uint32_t *sig) {
  const uint32_t k = mh->num_perm;
  /* Emptiness is tracked apart from the values: 0xffffffff is a legal min. */
  uint64_t filled[MINHASH_PERM_MAX / 64] = {0};

  for (uint32_t i = 0; i < k; i++)
    sig[i] = UINT32_MAX;
  for (size_t n = 0; n < cnt; n++) {
    const uint64_t x = wd_mix64(shingles[n] ^ mh->seed_mix);
    const uint32_t bin = wd_fastrange32((uint32_t)(x >> 32), k);
    const uint32_t v = (uint32_t)x, cur = sig[bin];
    sig[bin] = v < cur ? v : cur; /* a new minimum is too common to branch on */
    filled[bin >> 6] |= 1ULL << (bin & 63);
  }

  uint32_t nfilled = 0;
  for (uint32_t w = 0; w < k / 64 + (k % 64 != 0); w++)
    nfilled += (uint32_t)__builtin_popcountll(filled[w]);
  if (nfilled == 0 || nfilled == k)
    return; /* empty set stays all 0xffffffff; a full one needs nothing */

  for (uint32_t i = 0; i < k; i++) {
    if (filled[i >> 6] & (1ULL << (i & 63)))
      continue;
    /* The probe sequence depends on (i, attempt) only, so two sets that both
     * lack bin i walk the same bins and copy the same source bin whenever the
     * first bin filled in either set is filled in both. */
    for (uint32_t attempt = 1;; attempt++) {
      const uint64_t r =
          wd_mix64(mh->seed_probe ^ (((uint64_t)i << 32) | attempt));
      const uint32_t j = wd_fastrange32((uint32_t)(r >> 32), k);
      if (filled[j >> 6] & (1ULL << (j & 63))) {
        sig[i] = sig[j];
        break;
      }
    }
  }
}

/* ==== Per-permutation mixing ==== */

/* GCC vector extension: 8 lanes of 32 bits, lowered to whatever SIMD the
 * target has (two SSE2 registers on baseline x86-64). gcc -O2 does not
 * auto-vectorise the 32-bit multiplies here, so the lanes are explicit. */
typedef uint32_t v8u32 __attribute__((vector_size(32)));

static void sign_mix(const wd_minhash_t *mh, const uint64_t *shingles,
                     size_t cnt, uint32_t *sig) {
  const uint32_t k = mh->num_perm;
  for (uint32_t i = 0; i < k; i++)
    sig[i] = UINT32_MAX;
  for (size_t n = 0; n < cnt; n++) {
    const uint64_t x = wd_mix64(shingles[n] ^ mh->seed_mix);
    const uint32_t lo = (uint32_t)x, hi = (uint32_t)(x >> 32);
    /* wd_mix32(lo ^ seed_i) ^ hi, lane by lane; xoring hi after the mix keeps
     * shingles that share lo apart. */
    for (uint32_t b = 0; b < k; b += MINHASH_BLOCK) {
      v8u32 v, s;
      memcpy(&v, mh->perm_seed + b, sizeof(v));
      memcpy(&s, sig + b, sizeof(s));
      v ^= lo;
      v ^= v >> 16;
      v *= 0x7feb352dU;
      v ^= v >> 15;
      v *= 0x846ca68bU;
      v ^= v >> 16;
      v ^= hi;
      const v8u32 lt = (v8u32)(v < s); /* all-ones lanes where v is smaller */
      s = (v & lt) | (s & ~lt);
      memcpy(sig + b, &s, sizeof(s));
    }
  }
}

void wd_minhash_sign(const wd_minhash_t *mh, const uint64_t *shingles,
                     size_t cnt, uint32_t *sig) {
  assert(cnt == 0 || shingles);
  if (mh->method == WD_MINHASH_MIX)
    sign_mix(mh, shingles, cnt, sig);
  else
    sign_oph(mh, shingles, cnt, sig);
}

double wd_minhash_jaccard(const uint32_t *a, const uint32_t *b,
                          uint32_t num_perm) {
  if (num_perm == 0)
    return 0.0;
  uint32_t eq = 0;
  for (uint32_t i = 0; i < num_perm; i++)
    eq += a[i] == b[i];
  return (double)eq / num_perm;
}
