/* test_lsh.c - banded LSH: round trips, exact band counts against brute force,
 * collision rates against the S-curve, removal, churn, the scan cap, and a
 * brute-force model under random churn. */
#include "wd_test.h"
#include "wiredup/lsh.h"
#include "wiredup/mem.h"
#include "wiredup/minhash.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define KMAX 128

/* The caller's signature store the index reads through doc_fn: per doc
 * reference (low 16 bits of the doc number), the signature and doc number. */
#define T_REFS (1u << 16)
static const uint32_t *t_sig[T_REFS];
static uint32_t t_doc[T_REFS];
static uint32_t t_rows = 1, t_calls;

static uint32_t t_doc_fn(void *ctx, uint32_t ref, uint32_t band, uint32_t *rows) {
  (void)ctx;
  t_calls++;
  memcpy(rows, t_sig[ref] + (size_t)band * t_rows, t_rows * sizeof(*rows));
  return t_doc[ref];
}

static wd_lsh_t *t_new_cap(uint32_t bands, uint32_t rows, uint32_t per_key) {
  const wd_lsh_opts_t o = {.bands = bands, .rows = rows, .doc_bits = 16,
                           .max_per_key = per_key, .doc_fn = t_doc_fn};
  t_rows = rows;
  return wd_lsh_new(&o);
}

static wd_lsh_t *t_new(uint32_t bands, uint32_t rows) { return t_new_cap(bands, rows, 0); }

/* \p sig must stay valid while \p doc is indexed. */
static void t_insert(wd_lsh_t *lsh, const uint32_t *sig, uint32_t doc) {
  t_sig[doc % T_REFS] = sig;
  t_doc[doc % T_REFS] = doc;
  wd_lsh_insert(lsh, sig, doc);
}

static void rand_sig(unsigned long long *rng, uint32_t *sig, uint32_t k) {
  for (uint32_t i = 0; i < k; i++)
    sig[i] = (uint32_t)wd_t_rand(rng);
}

/* A value guaranteed to differ from v. */
static uint32_t other(unsigned long long *rng, uint32_t v) {
  return v ^ ((uint32_t)wd_t_rand(rng) | 1u);
}

static uint32_t bands_equal(const uint32_t *a, const uint32_t *b,
                            uint32_t bands, uint32_t rows) {
  uint32_t n = 0;
  for (uint32_t bd = 0; bd < bands; bd++)
    n += memcmp(a + bd * rows, b + bd * rows, rows * sizeof(*a)) == 0;
  return n;
}

static int find_doc(const wd_lsh_hit_t *h, size_t n, uint32_t doc) {
  for (size_t i = 0; i < n; i++)
    if (h[i].doc == doc)
      return (int)i;
  return -1;
}

static int test_basics(void) {
  WD_T_ASSERT(t_new(0, 4) == NULL && t_new(32, 0) == NULL,
              "zero bands or rows rejected");
  const wd_lsh_opts_t bad_bits = {.bands = 4, .rows = 4, .doc_bits = 29, .doc_fn = t_doc_fn};
  const wd_lsh_opts_t no_fn = {.bands = 4, .rows = 4, .doc_bits = 16};
  WD_T_ASSERT(wd_lsh_new(&bad_bits) == NULL && wd_lsh_new(&no_fn) == NULL,
              "doc_bits above 28 or no doc_fn rejected");
  wd_lsh_destroy(NULL);
  WD_T_ASSERT(wd_lsh_collision_prob(0.0, 32, 4) == 0.0, "s=0 never collides");
  WD_T_ASSERT(wd_lsh_collision_prob(1.0, 32, 4) == 1.0, "s=1 always");
  const double want = 1.0 - pow(1.0 - 1.0 / 16.0, 32);
  WD_T_ASSERT(fabs(wd_lsh_collision_prob(0.5, 32, 4) - want) < 1e-12,
              "S-curve 1-(1-s^r)^b at s=0.5, b=32, r=4");
  WD_T_ASSERT(wd_lsh_collision_prob(0.3, 16, 8) <
                  wd_lsh_collision_prob(0.3, 32, 4),
              "more rows per band is stricter");
  wd_lsh_t *lsh = t_new(32, 4);
  uint32_t sig[128] = {0};
  wd_lsh_hit_t hit[4];
  WD_T_ASSERT(wd_lsh_query(lsh, sig, hit, 4) == 0, "empty index");
  WD_T_ASSERT(wd_lsh_count(lsh) == 0 && wd_lsh_bytes(lsh) > 0, "count/bytes");
  wd_lsh_remove(lsh, sig, 3); /* absent: no-op */
  WD_T_ASSERT(wd_lsh_count(lsh) == 0, "removing an absent doc is a no-op");
  wd_lsh_destroy(lsh);
  return 0;
}

static int test_round_trip(void) {
  unsigned long long rng = wd_t_seed(123);
  enum { N = 3000, B = 32, R = 4 };
  uint32_t(*sig)[B * R] = wd_malloc(N * sizeof(*sig));
  wd_lsh_t *lsh = t_new(B, R);
  wd_lsh_hit_t hit[8];
  for (uint32_t i = 0; i < N; i++) {
    rand_sig(&rng, sig[i], B * R);
    t_insert(lsh, sig[i], 7 * i + 1);
  }
  WD_T_ASSERT(wd_lsh_count(lsh) == N, "count %zu", wd_lsh_count(lsh));
  const size_t full = wd_lsh_bytes(lsh);
  for (uint32_t i = 0; i < N; i++) {
    const size_t n = wd_lsh_query(lsh, sig[i], hit, 8);
    WD_T_ASSERT(n >= 1 && hit[0].doc == 7 * i + 1 && hit[0].bands == B,
                "doc %u: top hit %u with %u bands (n=%zu), want itself with "
                "all %d", 7 * i + 1, n ? hit[0].doc : 0, n ? hit[0].bands : 0,
                n, B);
  }
  for (uint32_t i = 0; i < N; i++)
    wd_lsh_remove(lsh, sig[i], 7 * i + 1);
  WD_T_ASSERT(wd_lsh_count(lsh) == 0, "count after removing all: %zu",
              wd_lsh_count(lsh));
  for (uint32_t i = 0; i < N; i += 7)
    WD_T_ASSERT(wd_lsh_query(lsh, sig[i], hit, 8) == 0,
                "removed doc %u still found", 7 * i + 1);
  WD_T_ASSERT(wd_lsh_bytes(lsh) < full / 4, "tables shrink after removing "
              "everything: %zu -> %zu bytes", full, wd_lsh_bytes(lsh));
  wd_free(sig);
  wd_lsh_destroy(lsh);
  return 0;
}

/* Families of near-duplicates (shared band keys, so multi-doc buckets),
 * half removed at random: every query returns exactly the live docs that
 * share a band, with the right band counts, sorted (bands desc, doc asc). */
static int test_exact_against_brute_force(void) {
  unsigned long long rng = wd_t_seed(777);
  enum { FAM = 150, PER = 12, N = FAM * PER, B = 16, R = 8 };
  uint32_t(*sig)[B * R] = wd_malloc(N * sizeof(*sig));
  uint8_t live[N];
  wd_lsh_hit_t *hit = wd_malloc(N * sizeof(*hit));
  wd_lsh_t *lsh = t_new(B, R);
  for (uint32_t f = 0; f < FAM; f++) {
    uint32_t base[B * R];
    rand_sig(&rng, base, B * R);
    for (uint32_t v = 0; v < PER; v++) {
      uint32_t *s = sig[f * PER + v];
      for (uint32_t i = 0; i < B * R; i++) /* ~96% equal positions */
        s[i] = wd_t_rand(&rng) % 100 < 96 ? base[i] : other(&rng, base[i]);
    }
  }
  for (uint32_t i = 0; i < N; i++) {
    t_insert(lsh, sig[i], i);
    live[i] = 1;
  }
  for (int phase = 0; phase < 2; phase++) {
    if (phase == 1)
      for (uint32_t i = 0; i < N; i++)
        if (wd_t_rand(&rng) % 2) {
          wd_lsh_remove(lsh, sig[i], i);
          live[i] = 0;
        }
    size_t nlive = 0;
    for (uint32_t i = 0; i < N; i++)
      nlive += live[i];
    WD_T_ASSERT(wd_lsh_count(lsh) == nlive, "count %zu, live %zu",
                wd_lsh_count(lsh), nlive);
    for (uint32_t q = 0; q < N; q += 3) {
      const size_t n = wd_lsh_query(lsh, sig[q], hit, N);
      size_t want = 0;
      for (uint32_t d = 0; d < N; d++) {
        const uint32_t be = live[d] ? bands_equal(sig[q], sig[d], B, R) : 0;
        const int at = find_doc(hit, n, d);
        WD_T_ASSERT(!(be == 0 && at >= 0), "phase %d query %u: doc %u "
                    "returned (%u bands) but %s", phase, q, d,
                    hit[at].bands, live[d] ? "shares no band" : "was removed");
        if (be) {
          want++;
          WD_T_ASSERT(at >= 0 && hit[at].bands == be, "phase %d query %u: doc "
                      "%u shares %u bands, returned with %d", phase, q, d, be,
                      at >= 0 ? (int)hit[at].bands : -1);
        }
      }
      WD_T_ASSERT(n == want, "phase %d query %u: %zu hits, want %zu", phase, q,
                  n, want);
      for (size_t i = 1; i < n; i++)
        WD_T_ASSERT(hit[i - 1].bands > hit[i].bands ||
                        (hit[i - 1].bands == hit[i].bands &&
                         hit[i - 1].doc < hit[i].doc),
                    "query %u: hits %zu,%zu out of order", q, i - 1, i);
    }
  }
  wd_free(sig);
  wd_free(hit);
  wd_lsh_destroy(lsh);
  return 0;
}

static int test_order_and_cap(void) {
  enum { B = 32, R = 4 };
  unsigned long long rng = 5;
  uint32_t q[B * R], y[B * R], z[B * R];
  rand_sig(&rng, q, B * R);
  for (uint32_t i = 0; i < B * R; i++) {
    y[i] = (i / R) % 2 ? other(&rng, q[i]) : q[i]; /* even bands equal */
    z[i] = i < R ? q[i] : other(&rng, q[i]);      /* band 0 only */
  }
  wd_lsh_t *lsh = t_new(B, R);
  t_insert(lsh, z, 30);
  t_insert(lsh, y, 20);
  t_insert(lsh, q, 10);
  t_insert(lsh, q, 40);
  wd_lsh_hit_t hit[8];
  size_t n = wd_lsh_query(lsh, q, hit, 8);
  WD_T_ASSERT(n == 4, "4 hits, got %zu", n);
  WD_T_ASSERT(hit[0].doc == 10 && hit[0].bands == 32 && hit[1].doc == 40 &&
                  hit[1].bands == 32 && hit[2].doc == 20 &&
                  hit[2].bands == 16 && hit[3].doc == 30 && hit[3].bands == 1,
              "order (bands desc, doc asc): got %u/%u %u/%u %u/%u %u/%u",
              hit[0].doc, hit[0].bands, hit[1].doc, hit[1].bands, hit[2].doc,
              hit[2].bands, hit[3].doc, hit[3].bands);
  n = wd_lsh_query(lsh, q, hit, 2);
  WD_T_ASSERT(n == 2 && hit[0].doc == 10 && hit[1].doc == 40,
              "out_cap 2 keeps the best two");
  /* The same doc inserted twice counts once per band. */
  t_insert(lsh, z, 30);
  n = wd_lsh_query(lsh, z, hit, 8);
  WD_T_ASSERT(n >= 1 && hit[0].doc == 30 && hit[0].bands == 32,
              "doubly inserted doc: %u bands, want 32", hit[0].bands);
  wd_lsh_remove(lsh, z, 30);
  n = wd_lsh_query(lsh, z, hit, 8);
  WD_T_ASSERT(n >= 1 && hit[0].doc == 30 && hit[0].bands == 32,
              "one copy left after one removal");
  wd_lsh_destroy(lsh);
  return 0;
}

/* Number of ways to pick m of the b*r positions with no band fully picked,
 * over C(b*r, m): the exact no-collision probability when exactly m
 * positions are equal (bands are then not independent, so the S-curve is
 * only an approximation of this). */
static double exact_count_prob(uint32_t m, uint32_t bands, uint32_t rows) {
  double ways[KMAX + 1] = {1.0};
  double binr[KMAX + 1];
  for (uint32_t j = 0; j <= rows; j++)
    binr[j] =
        exp(lgamma(rows + 1.0) - lgamma(j + 1.0) - lgamma(rows - j + 1.0));
  for (uint32_t b = 0; b < bands; b++) {
    double nw[KMAX + 1] = {0};
    for (uint32_t t = 0; t <= b * rows; t++)
      for (uint32_t j = 0; j < rows; j++) /* j < rows: band not all equal */
        nw[t + j] += ways[t] * binr[j];
    memcpy(ways, nw, sizeof(ways));
  }
  const uint32_t k = bands * rows;
  const double total =
      exp(lgamma(k + 1.0) - lgamma(m + 1.0) - lgamma(k - m + 1.0));
  return 1.0 - ways[m] / total;
}

/* Collision rate of pairs whose signatures agree (a) at each position
 * independently with probability s (then the S-curve is exact) and (b) at
 * exactly round(s*K) positions (exact probability by counting). Binomial
 * tolerance: 4.5 sd over T pairs + 1/T. */
static int test_collision_rate_banding(void) {
  unsigned long long rng = wd_t_seed(4242);
  static const double ss[] = {0.2, 0.4, 0.6, 0.8};
  static const uint32_t cfg[][2] = {{32, 4}, {16, 8}};
  enum { T = 2000 };
  uint32_t(*a)[KMAX] = wd_malloc(T * sizeof(*a));
  uint32_t b[KMAX], pos[KMAX];
  wd_lsh_hit_t *hit = wd_malloc(T * sizeof(*hit));
  for (int c = 0; c < 2; c++) {
    const uint32_t bands = cfg[c][0], rows = cfg[c][1], k = bands * rows;
    for (int si = 0; si < 4; si++) {
      for (int mode = 0; mode < 2; mode++) {
        const double s = ss[si];
        const uint32_t m = (uint32_t)lround(s * k);
        wd_lsh_t *lsh = t_new(bands, rows);
        for (uint32_t t = 0; t < T; t++) {
          rand_sig(&rng, a[t], k);
          t_insert(lsh, a[t], t);
        }
        int coll = 0;
        for (uint32_t t = 0; t < T; t++) {
          if (mode == 0) {
            for (uint32_t i = 0; i < k; i++)
              b[i] = (double)(wd_t_rand(&rng) >> 11) / 9007199254740992.0 < s
                         ? a[t][i] : other(&rng, a[t][i]);
          } else {
            for (uint32_t i = 0; i < k; i++)
              pos[i] = i;
            for (uint32_t i = 0; i < k; i++) { /* shuffle; first m equal */
              const uint32_t j = i + (uint32_t)(wd_t_rand(&rng) % (k - i));
              const uint32_t tmp = pos[i];
              pos[i] = pos[j], pos[j] = tmp;
            }
            for (uint32_t i = 0; i < k; i++)
              b[pos[i]] = i < m ? a[t][pos[i]] : other(&rng, a[t][pos[i]]);
          }
          const size_t n = wd_lsh_query(lsh, b, hit, T);
          coll += find_doc(hit, n, t) >= 0;
        }
        const double p = mode == 0 ? wd_lsh_collision_prob(s, bands, rows)
                                   : exact_count_prob(m, bands, rows);
        const double rate = (double)coll / T;
        const double tol = 4.5 * sqrt(p * (1 - p) / T) + 1.0 / T;
        fprintf(stderr, "  b=%u r=%u s=%.1f %s: rate %.4f, expected %.4f "
                "(tol %.4f)\n", bands, rows, s,
                mode ? "exact-count" : "bernoulli  ", rate, p, tol);
        WD_T_ASSERT(fabs(rate - p) <= tol, "b=%u r=%u s=%.1f mode %d: "
                    "collision rate %.4f vs %.4f, tolerance %.4f", bands, rows,
                    s, mode, rate, p, tol);
        wd_lsh_destroy(lsh);
      }
    }
  }
  wd_free(a);
  wd_free(hit);
  return 0;
}

/* The same through real MinHash (OPH, the default) of sets with exact
 * Jaccard s. OPH positions are not independent, so the slack is wider:
 * 4.5 binomial sd + 0.03. */
static int test_collision_rate_minhash(void) {
  unsigned long long rng = wd_t_seed(9090);
  static const double ss[] = {0.2, 0.4, 0.6, 0.8};
  enum { T = 1500, NS = 300, B = 32, R = 4 };
  wd_minhash_t *mh = wd_minhash_new(NULL);
  uint64_t x[NS], y[NS];
  uint32_t(*a)[B * R] = wd_malloc(T * sizeof(*a));
  uint32_t b[B * R];
  wd_lsh_hit_t *hit = wd_malloc(T * sizeof(*hit));
  for (int si = 0; si < 4; si++) {
    const double s = ss[si];
    const size_t c = (size_t)lround(2.0 * NS * s / (1.0 + s));
    const double j = (double)c / (2.0 * NS - (double)c);
    wd_lsh_t *lsh = t_new(B, R);
    int coll = 0;
    for (uint32_t t = 0; t < T; t++) {
      for (size_t i = 0; i < NS; i++) { /* |x| = |y| = NS, |x & y| = c */
        x[i] = wd_t_rand(&rng);
        y[i] = i < c ? x[i] : wd_t_rand(&rng);
      }
      wd_minhash_sign(mh, x, NS, a[t]);
      wd_minhash_sign(mh, y, NS, b);
      t_insert(lsh, a[t], t);
      const size_t n = wd_lsh_query(lsh, b, hit, T);
      coll += find_doc(hit, n, t) >= 0;
    }
    const double p = wd_lsh_collision_prob(j, B, R);
    const double rate = (double)coll / T;
    const double tol = 4.5 * sqrt(p * (1 - p) / T) + 0.03;
    fprintf(stderr, "  minhash J=%.3f: rate %.4f, S-curve %.4f (tol %.4f)\n",
            j, rate, p, tol);
    WD_T_ASSERT(fabs(rate - p) <= tol, "J=%.3f: MinHash+LSH collision rate "
                "%.4f vs S-curve %.4f, tolerance %.4f", j, rate, p, tol);
    wd_lsh_destroy(lsh);
  }
  wd_free(a);
  wd_free(hit);
  wd_minhash_destroy(mh);
  return 0;
}

/* Sliding window of 2000 docs over 60k inserts, with families of near
 * duplicates so multi-doc buckets are created and freed: the count stays at
 * the window and memory at its early level. */
static int test_churn_bounded(void) {
  unsigned long long rng = wd_t_seed(5150);
  enum { W = 2000, TOTAL = 60000, B = 32, R = 4 };
  uint32_t(*ring)[B * R] = wd_malloc(W * sizeof(*ring));
  uint32_t base[B * R];
  wd_lsh_t *lsh = t_new(B, R);
  size_t early = 0, peak = 0;
  for (uint32_t i = 0; i < TOTAL; i++) {
    uint32_t *s = ring[i % W];
    if (i >= W)
      wd_lsh_remove(lsh, s, i - W);
    if (i % 8 == 0)
      rand_sig(&rng, base, B * R);
    for (uint32_t p = 0; p < B * R; p++)
      s[p] = wd_t_rand(&rng) % 10 ? base[p] : other(&rng, base[p]);
    t_insert(lsh, s, i);
    if (i == 3 * W)
      early = wd_lsh_bytes(lsh);
    if (i > 3 * W && wd_lsh_bytes(lsh) > peak)
      peak = wd_lsh_bytes(lsh);
  }
  WD_T_ASSERT(wd_lsh_count(lsh) == W, "count %zu, want %d", wd_lsh_count(lsh),
              W);
  WD_T_ASSERT(peak <= early * 3 / 2, "memory under churn: %zu bytes at 3W, "
              "peak %zu later", early, peak);
  wd_lsh_hit_t hit[16];
  const size_t n = wd_lsh_query(lsh, ring[(TOTAL - W - 1) % W], hit, 16);
  WD_T_ASSERT(find_doc(hit, n, TOTAL - W - 1) < 0, "evicted doc still found");
  for (uint32_t i = TOTAL - W; i < TOTAL; i++)
    wd_lsh_remove(lsh, ring[i % W], i);
  WD_T_ASSERT(wd_lsh_count(lsh) == 0, "all removed");
  wd_free(ring);
  wd_lsh_destroy(lsh);
  return 0;
}

/* 10,000 identical signatures: each band key keeps only the newest
 * max_per_key docs, so the index, a query's matches and its doc_fn reads stay
 * bounded however long the flood; removal of dropped docs is harmless. */
static int test_per_key_cap(void) {
  enum { N = 10000, B = 32, R = 4 };
  unsigned long long rng = 31;
  uint32_t sig[B * R];
  rand_sig(&rng, sig, B * R);
  for (int pass = 0; pass < 2; pass++) {
    const uint32_t cap = pass ? 10 : 256; /* 0 asks for the default, 256 */
    wd_lsh_t *lsh = t_new_cap(B, R, pass ? 10 : 0);
    wd_lsh_hit_t *hit = wd_malloc(N * sizeof(*hit));
    wd_lsh_stats_t st;
    for (uint32_t i = 0; i < N; i++) {
      t_insert(lsh, sig, i);
      wd_lsh_stats(lsh, &st);
      WD_T_ASSERT(st.entries <= (size_t)B * cap && st.key_max <= cap,
                  "after %u inserts: %zu entries, %u under one key (cap %u)", i + 1,
                  st.entries, st.key_max, cap);
    }
    wd_lsh_stats(lsh, &st);
    WD_T_ASSERT(st.max_per_key == cap && st.entries == (size_t)B * cap &&
                    st.dropped == (uint64_t)B * (N - cap),
                "cap %u: %zu entries, %llu dropped", cap, st.entries,
                (unsigned long long)st.dropped);
    t_calls = 0;
    size_t n = wd_lsh_query(lsh, sig, hit, N);
    wd_lsh_stats(lsh, &st);
    WD_T_ASSERT(n == cap, "cap %u: %zu hits", cap, n);
    WD_T_ASSERT(st.query_matches == B * cap && st.query_resolved <= B * cap + B &&
                    t_calls == st.query_resolved,
                "query matched %u entries, resolved %u (doc_fn %u), bound %u", st.query_matches,
                st.query_resolved, t_calls, B * cap);
    for (size_t i = 0; i < n; i++)
      WD_T_ASSERT(hit[i].doc == N - cap + i && hit[i].bands == B,
                  "hit %zu: doc %u (%u bands), want the newest %u in doc order", i,
                  hit[i].doc, hit[i].bands, cap);
    for (uint32_t i = 0; i < N / 2; i++) /* dropped long ago: nothing to do */
      wd_lsh_remove(lsh, sig, i);
    n = wd_lsh_query(lsh, sig, hit, N);
    WD_T_ASSERT(n == cap && hit[0].doc == N - cap, "after removing the older half: %zu hits "
                "from %u", n, n ? hit[0].doc : 0);
    for (uint32_t i = N / 2; i < N; i++)
      wd_lsh_remove(lsh, sig, i);
    wd_lsh_stats(lsh, &st);
    WD_T_ASSERT(wd_lsh_query(lsh, sig, hit, N) == 0 && wd_lsh_count(lsh) == 0 &&
                    st.entries == 0,
                "all removed: count %zu, entries %zu", wd_lsh_count(lsh), st.entries);
    wd_free(hit);
    wd_lsh_destroy(lsh);
  }
  return 0;
}

/* The keys a query computed serve the insert of the same signature that
 * follows it, and only that: an insert of another signature, or of the same
 * buffer with new contents, is indexed under its own keys. */
static int test_query_then_insert(void) {
  enum { B = 32, R = 4 };
  unsigned long long rng = 77;
  uint32_t a[B * R], b[B * R], buf[B * R], c[B * R];
  rand_sig(&rng, a, B * R);
  rand_sig(&rng, b, B * R);
  rand_sig(&rng, c, B * R);
  wd_lsh_t *lsh = t_new(B, R);
  wd_lsh_hit_t hit[8];
  WD_T_ASSERT(wd_lsh_query(lsh, a, hit, 8) == 0, "empty index");
  t_insert(lsh, b, 1);
  size_t n = wd_lsh_query(lsh, b, hit, 8);
  WD_T_ASSERT(n == 1 && hit[0].doc == 1 && hit[0].bands == B,
              "queried a, inserted b: b found in %u bands (n=%zu)",
              n ? hit[0].bands : 0, n);
  wd_lsh_stats_t st;
  WD_T_ASSERT(wd_lsh_query(lsh, a, hit, 8) == 0, "a was never inserted");
  wd_lsh_stats(lsh, &st);
  WD_T_ASSERT(st.query_resolved == 0,
              "b is under its own keys: %u entries matched a's",
              st.query_resolved);
  memcpy(buf, a, sizeof(buf));
  WD_T_ASSERT(wd_lsh_query(lsh, buf, hit, 8) == 0, "a again");
  memcpy(buf, c, sizeof(buf)); /* the same buffer, new contents */
  t_insert(lsh, c, 2);
  wd_lsh_insert(lsh, buf, 2); /* c twice, through the reused buffer */
  n = wd_lsh_query(lsh, c, hit, 8);
  WD_T_ASSERT(n == 1 && hit[0].doc == 2 && hit[0].bands == B,
              "c found in %u bands (n=%zu)", n ? hit[0].bands : 0, n);
  WD_T_ASSERT(wd_lsh_query(lsh, a, hit, 8) == 0,
              "a not indexed by the reused buffer");
  wd_lsh_remove(lsh, c, 2);
  wd_lsh_remove(lsh, buf, 2);
  wd_lsh_remove(lsh, b, 1);
  wd_lsh_stats(lsh, &st);
  WD_T_ASSERT(st.entries == 0 && wd_lsh_query(lsh, c, hit, 8) == 0,
              "all removed: %zu entries", st.entries);
  wd_lsh_destroy(lsh);
  return 0;
}

/* The walk's store (churn_against_model): doc k is numbered k * step and
 * kept in ring slot k % RING; a reference is turned back into the live doc
 * nearest below the newest, as the cluster store does. */
#define M_RING 2048
#define M_B 16
#define M_R 2

/* Band \p bd of two signatures equal? The model compares every live doc
 * per step: a loop, not memcmp, which ASan intercepts (the model was most of
 * this test's 30 s under ASan). */
static inline int m_band_eq(const uint32_t *a, const uint32_t *b, uint32_t bd) {
  uint32_t diff = 0;
  for (uint32_t r = 0; r < M_R; r++)
    diff |= a[bd * M_R + r] ^ b[bd * M_R + r];
  return diff == 0;
}
static struct {
  uint32_t (*sig)[M_B * M_R];
  uint32_t step, newest, ref_mask;
} m;

static uint32_t m_doc_fn(void *ctx, uint32_t ref, uint32_t band, uint32_t *rows) {
  (void)ctx;
  const uint32_t doc = m.newest - ((m.newest - ref) & m.ref_mask);
  memcpy(rows, m.sig[(doc / m.step) % M_RING] + band * M_R, M_R * sizeof(*rows));
  return doc;
}

/* A brute-force model under churn: docs come and go while the live count
 * grows, holds and shrinks (so tables grow, sweep their tombstones and
 * shrink), band keys repeat often enough that keys reach the cap, and every
 * step's query must give exactly the model's hits in the model's order. The
 * model keeps, per doc, the bands it is still indexed in: an insert over the
 * cap takes the band from the key's oldest doc. Without \p window docs leave
 * at random; with it, oldest first, as opts.window requires, and the entry
 * format follows the span (docs numbered \p step apart, so a large step
 * passes the span where 3-byte entries end). \p formats gets the entry
 * widths seen (bit w). */
static int churn_against_model(int window, uint32_t step, uint32_t doc_bits,
                               unsigned long long seed, unsigned *formats) {
  enum { RING = M_RING, STEPS = 12000, B = M_B, R = M_R, CAP = 4, PHASE = 1500 };
  unsigned long long rng = wd_t_seed(seed);
  m.sig = wd_malloc(RING * sizeof(*m.sig));
  m.step = step;
  m.newest = 0;
  m.ref_mask = (uint32_t)((1ULL << doc_bits) - 1);
  uint32_t(*sig)[B * R] = m.sig;
  /* Per doc, the bands it is indexed in (0: not live). */
  uint32_t *mask = wd_calloc(RING, sizeof(*mask));
  wd_lsh_hit_t *hit = wd_malloc(RING * sizeof(*hit)),
               *want = wd_malloc(RING * sizeof(*want));
  uint32_t q[B * R], oldest = 0, next = 0, queries = 0, peak = 0;
  const wd_lsh_opts_t o = {.bands = B, .rows = R, .doc_bits = doc_bits, .max_per_key = CAP,
                           .window = window, .doc_fn = m_doc_fn};
  wd_lsh_t *lsh = wd_lsh_new(&o);
  *formats = 0;
  for (uint32_t step_i = 0; step_i < STEPS; step_i++) {
    /* Phases: grow, hold, shrink, hold. */
    static const unsigned ins_pct[] = {90, 60, 30, 60},
                          rem_pct[] = {40, 60, 95, 60};
    const unsigned ph = (step_i / PHASE) % 4;
    /* A quarter of the bands take one of 9 keys. */
    for (uint32_t bd = 0; bd < B; bd++) {
      const int common = wd_t_rand(&rng) % 4 == 0;
      for (uint32_t r = 0; r < R; r++)
        q[bd * R + r] = common ? (uint32_t)(wd_t_rand(&rng) % 3)
                               : (uint32_t)wd_t_rand(&rng);
    }
    if (next > oldest && wd_t_rand(&rng) % 2) /* or near a live doc */
      for (uint32_t i = 0; i < B * R; i++)
        if (wd_t_rand(&rng) % 8 == 0)
          q[i] = sig[(oldest + (uint32_t)(wd_t_rand(&rng) % (next - oldest))) %
                     RING][i];
    /* Query: the model's hits, (bands desc, doc asc). */
    size_t nw = 0;
    for (uint32_t d = oldest; d < next; d++) {
      uint32_t be = 0;
      for (uint32_t bd = 0; bd < B; bd++)
        be += (mask[d % RING] >> bd & 1) &&
              m_band_eq(q, sig[d % RING], bd);
      if (be) {
        size_t at = nw++;
        for (; at > 0 && want[at - 1].bands < be;
             at--) /* docs come in ascending */
          want[at] = want[at - 1];
        want[at] = (wd_lsh_hit_t){d * step, be};
      }
    }
    const size_t n = wd_lsh_query(lsh, q, hit, RING);
    queries += nw > 0;
    WD_T_ASSERT(n == nw, "step %u: %zu hits, model %zu", step_i, n, nw);
    for (size_t i = 0; i < n; i++)
      WD_T_ASSERT(hit[i].doc == want[i].doc && hit[i].bands == want[i].bands,
                  "step %u hit %zu: doc %u (%u bands), model doc %u (%u bands)",
                  step_i, i, hit[i].doc, hit[i].bands, want[i].doc,
                  want[i].bands);
    /* Insert what was queried (the caller's order), or now and then another. */
    if (wd_t_rand(&rng) % 100 < ins_pct[ph]) {
      if (next - oldest == RING - 1 || wd_t_rand(&rng) % 4 == 0)
        for (uint32_t i = 0; i < B * R; i++)
          q[i] = (uint32_t)wd_t_rand(&rng);
      if (next - oldest == RING - 1) { /* the ring slot is needed */
        wd_lsh_remove(lsh, sig[oldest % RING], oldest * step);
        mask[oldest % RING] = 0;
      }
      const uint32_t d = next++;
      memcpy(sig[d % RING], q, sizeof(q));
      for (uint32_t bd = 0; bd < B; bd++) {
        uint32_t same = 0, first = 0;
        for (uint32_t e = d; e-- > oldest;)
          if ((mask[e % RING] >> bd & 1) &&
              m_band_eq(q, sig[e % RING], bd))
            same++, first = e;
        if (same >= CAP)
          mask[first % RING] &= ~(1u << bd);
      }
      mask[d % RING] = (1u << B) - 1;
      m.newest = d * step;
      wd_lsh_insert(lsh, sig[d % RING], d * step);
    }
    if (next > oldest && wd_t_rand(&rng) % 100 < rem_pct[ph]) {
      const uint32_t d =
          window ? oldest : oldest + (uint32_t)(wd_t_rand(&rng) % (next - oldest));
      if (mask[d % RING]) {
        wd_lsh_remove(lsh, sig[d % RING], d * step);
        mask[d % RING] = 0;
      }
    }
    while (oldest < next && !mask[oldest % RING])
      oldest++;
    size_t entries = 0, nlive = 0;
    for (uint32_t d = oldest; d < next; d++) {
      entries += (size_t)__builtin_popcount(mask[d % RING]);
      nlive += mask[d % RING] != 0;
    }
    peak = nlive > peak ? (uint32_t)nlive : peak;
    wd_lsh_stats_t st;
    wd_lsh_stats(lsh, &st);
    WD_T_ASSERT(st.entries == entries, "step %u: %zu entries, model %zu", step_i,
                st.entries, entries);
    /* every table has the same width here: bytes per slot tell it */
    if (st.slots)
      *formats |= 1u << ((st.table_bytes - B * 4) / st.slots);
  }
  WD_T_ASSERT(queries > STEPS / 4 && peak > 300,
              "the walk did its work: %u queries with "
              "hits, peak %u live",
              queries, peak);
  wd_free(m.sig);
  wd_free(mask);
  wd_free(hit);
  wd_free(want);
  wd_lsh_destroy(lsh);
  return 0;
}

static int test_churn_against_model(void) {
  unsigned formats;
  if (churn_against_model(0, 23, 16, 2718, &formats))
    return 1;
  WD_T_ASSERT(formats == 1u << 4, "without opts.window entries are 4 bytes (%#x)", formats);
  return 0;
}

/* opts.window: references only as wide as the live span needs. A span that
 * stays below ~200k numbers keeps 3-byte entries; one that grows past it
 * (docs 300 numbers apart, up to 2047 live) moves to 4 bytes, and the
 * answers stay the model's throughout. */
static int test_window_against_model(void) {
  unsigned formats;
  if (churn_against_model(1, 23, 16, 3141, &formats))
    return 1;
  WD_T_ASSERT(formats == 1u << 3, "a span below 2^16: 3-byte entries only (%#x)", formats);
  if (churn_against_model(1, 300, 20, 1618, &formats))
    return 1;
  WD_T_ASSERT(formats == (1u << 3 | 1u << 4), "3 then 4 bytes as the span grew (%#x)",
              formats);
  return 0;
}

int main(void) {
  WD_T_RUN(test_basics);
  WD_T_RUN(test_round_trip);
  WD_T_RUN(test_exact_against_brute_force);
  WD_T_RUN(test_order_and_cap);
  WD_T_RUN(test_collision_rate_banding);
  WD_T_RUN(test_collision_rate_minhash);
  WD_T_RUN(test_churn_bounded);
  WD_T_RUN(test_per_key_cap);
  WD_T_RUN(test_query_then_insert);
  WD_T_RUN(test_churn_against_model);
  WD_T_RUN(test_window_against_model);
  return WD_T_DONE();
}
