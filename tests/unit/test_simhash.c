/* test_simhash.c - SimHash tracks the tf-idf weighted cosine; learned IDF
 * separates shared common words from shared rare words; the Hamming index
 * agrees with brute force. */
#include "wd_test.h"
#include "wiredup/mem.h"
#include "wiredup/mix.h"
#include "wiredup/simhash.h"
#include "wiredup/state.h"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define VOCAB 20000

/* Token hash of word id w (any fixed 64-bit injection will do). */
static uint64_t tok(uint64_t w) {
  unsigned long long s = w * 0x2545f4914f6cdd1dULL + 12345;
  return wd_t_rand(&s);
}

/* Roughly Zipfian word ids in [0, VOCAB): log-uniform. */
static uint32_t zipf_word(unsigned long long *rng) {
  const double u = (double)(wd_t_rand(rng) >> 11) / 9007199254740992.0;
  uint32_t w = (uint32_t)floor(pow((double)VOCAB, u)) - 1;
  return w < VOCAB ? w : VOCAB - 1;
}

static wd_simhash_t *mk_isa(int idf, wd_simhash_isa_t isa) {
  wd_simhash_opts_t o;
  wd_simhash_opts_default(&o);
  o.idf = idf;
  o.isa = isa;
  return wd_simhash_new(&o);
}

static wd_simhash_t *mk(int idf) { return mk_isa(idf, WD_SIMHASH_ISA_BEST); }

/* Every counter-sum kernel, and whether this CPU runs it (else skipped). */
static const wd_simhash_isa_t isas[] = {WD_SIMHASH_ISA_PORTABLE, WD_SIMHASH_ISA_AVX2,
                                        WD_SIMHASH_ISA_AVX512};
static const char *const isa_names[] = {"portable", "avx2", "avx512"};
#define NISA (sizeof(isas) / sizeof(isas[0]))

static uint64_t sign_words(wd_simhash_t *sm, const uint32_t *w, size_t n) {
  uint64_t *t = wd_malloc((n ? n : 1) * sizeof(*t));
  for (size_t i = 0; i < n; i++)
    t[i] = tok(w[i]);
  const uint64_t h = wd_simhash_sign(sm, t, n);
  wd_free(t);
  return h;
}

static void observe_words(wd_simhash_t *sm, const uint32_t *w, size_t n) {
  uint64_t *t = wd_malloc((n ? n : 1) * sizeof(*t));
  for (size_t i = 0; i < n; i++)
    t[i] = tok(w[i]);
  wd_simhash_observe(sm, t, n);
  wd_free(t);
}

static int test_basics(void) {
  wd_simhash_opts_t o;
  wd_simhash_opts_default(&o);
  WD_T_ASSERT(o.idf == 1 && o.df_capacity == (1u << 20) && o.seed == 7,
              "defaults idf=1 df_capacity=2^20 seed=7");
  o.df_capacity = 1000;
  WD_T_ASSERT(wd_simhash_new(&o) == NULL, "df_capacity must be a power of 2");
  wd_simhash_opts_default(&o);
  o.isa = (wd_simhash_isa_t)99;
  WD_T_ASSERT(!wd_simhash_isa_supported(o.isa) && wd_simhash_new(&o) == NULL,
              "an unknown isa is refused");
  wd_simhash_destroy(NULL);
  WD_T_ASSERT(fabs(wd_simhash_cosine(0) - 1.0) < 1e-12, "cos(0) = 1");
  WD_T_ASSERT(fabs(wd_simhash_cosine(32)) < 1e-12, "32 bits = orthogonal");
  WD_T_ASSERT(fabs(wd_simhash_cosine(64) + 1.0) < 1e-12, "64 bits = opposite");
  WD_T_ASSERT(wd_simhash_distance(0, UINT64_MAX) == 64, "distance popcount");

  unsigned long long rng = 5;
  wd_simhash_t *sm = mk(1);
  uint32_t a[200], b[200];
  for (int i = 0; i < 200; i++)
    a[i] = zipf_word(&rng);
  for (int i = 0; i < 200; i++)
    b[i] = a[199 - i];
  const uint64_t ha = sign_words(sm, a, 200);
  WD_T_ASSERT(ha == sign_words(sm, a, 200), "identical docs: distance 0");
  WD_T_ASSERT(ha == sign_words(sm, b, 200), "bag of words: order is ignored");
  WD_T_ASSERT(sign_words(sm, a, 0) == 0, "empty doc hashes to 0");
  wd_simhash_destroy(sm);
  return 0;
}

/* Over many trials, the mean distance grows with the share of replaced words
 * (0% -> exactly 0; then 10%, 30%, 60% strictly increasing by >= 1 bit). */
static int test_edit_monotone(void) {
  unsigned long long rng = wd_t_seed(31337);
  wd_simhash_t *sm = mk(1);
  uint32_t doc[300], ed[300];
  for (int d = 0; d < 500; d++) { /* learn some document frequencies */
    for (int i = 0; i < 300; i++)
      doc[i] = zipf_word(&rng);
    observe_words(sm, doc, 300);
  }
  static const double frac[] = {0.0, 0.1, 0.3, 0.6};
  double mean[4] = {0};
  const int trials = 300;
  for (int t = 0; t < trials; t++) {
    for (int i = 0; i < 300; i++)
      doc[i] = zipf_word(&rng);
    const uint64_t h = sign_words(sm, doc, 300);
    for (int f = 0; f < 4; f++) {
      memcpy(ed, doc, sizeof(doc));
      for (int i = 0; i < 300; i++)
        if ((double)(wd_t_rand(&rng) % 10000) < frac[f] * 10000)
          ed[i] = zipf_word(&rng);
      mean[f] += wd_simhash_distance(h, sign_words(sm, ed, 300));
    }
  }
  for (int f = 0; f < 4; f++)
    mean[f] /= trials;
  fprintf(stderr, "  mean distance at 0/10/30/60%% edits: %.2f %.2f %.2f "
          "%.2f\n", mean[0], mean[1], mean[2], mean[3]);
  WD_T_ASSERT(mean[0] == 0.0, "no edit, distance %.2f", mean[0]);
  for (int f = 1; f < 4; f++)
    WD_T_ASSERT(mean[f] >= mean[f - 1] + 1.0, "mean distance must grow with "
                "edits: %.0f%% -> %.2f, %.0f%% -> %.2f", frac[f - 1] * 100,
                mean[f - 1], frac[f] * 100, mean[f]);
  wd_simhash_destroy(sm);
  return 0;
}

/* A corpus where 50 words occur in every document. Two documents that share
 * only those are far apart with IDF (expected ~31 bits) but fairly close
 * without it (~16); two that share 20 unseen rare words stay close (~4). */
static int test_idf_common_vs_rare(void) {
  unsigned long long rng = wd_t_seed(1001);
  wd_simhash_t *idf = mk(1), *tf = mk(0);
  uint32_t doc[100];
  for (int d = 0; d < 1000; d++) {
    for (int i = 0; i < 50; i++)
      doc[i] = 900000 + i; /* common to all */
    for (int i = 50; i < 100; i++)
      doc[i] = 1000000 + (uint32_t)(wd_t_rand(&rng) % 1000000);
    observe_words(idf, doc, 100);
    observe_words(tf, doc, 100);
  }
  const int trials = 60;
  double ab_idf = 0, ac_idf = 0, ab_tf = 0;
  uint32_t a[70], b[70], c[45];
  for (int t = 0; t < trials; t++) {
    for (int i = 0; i < 50; i++)
      a[i] = b[i] = 900000 + i;
    for (int i = 0; i < 25; i++)
      c[i] = 900000 + 2 * i;
    for (int i = 0; i < 20; i++) {
      a[50 + i] = c[25 + i] = 3000000 + (uint32_t)(wd_t_rand(&rng) % 1000000);
      b[50 + i] = 3000000 + (uint32_t)(wd_t_rand(&rng) % 1000000);
    }
    const uint64_t ha = sign_words(idf, a, 70);
    ab_idf += wd_simhash_distance(ha, sign_words(idf, b, 70));
    ac_idf += wd_simhash_distance(ha, sign_words(idf, c, 45));
    ab_tf += wd_simhash_distance(sign_words(tf, a, 70), sign_words(tf, b, 70));
  }
  ab_idf /= trials, ac_idf /= trials, ab_tf /= trials;
  fprintf(stderr, "  common-only pair: %.2f bits (idf) vs %.2f (tf only); "
          "rare-sharing pair: %.2f bits (idf)\n", ab_idf, ab_tf, ac_idf);
  WD_T_ASSERT(ab_idf > 24.0, "sharing only common words must be far with "
              "IDF: mean %.2f bits, want > 24 (expected ~31)", ab_idf);
  WD_T_ASSERT(ac_idf < 9.0, "sharing rare words must be close with IDF: "
              "mean %.2f bits, want < 9 (expected ~4)", ac_idf);
  WD_T_ASSERT(ab_idf > ab_tf + 8.0, "IDF must push the common-only pair "
              "apart: %.2f (idf) vs %.2f (tf)", ab_idf, ab_tf);
  wd_simhash_destroy(idf);
  wd_simhash_destroy(tf);
  return 0;
}

/* Estimated cosine cos(pi d / 64) against the exact tf-idf cosine computed
 * here with the documented weights and exactly counted document frequencies.
 * Per pair the distance is noisy: ideally d ~ Binomial(64, theta/pi), sd up to
 * 4 bits. So over 400 pairs (edit share 0..100%) the test checks that the
 * angle estimate is unbiased (|mean(d/64 - theta/pi)| < 0.02) and that the
 * mean |cos error| is within 1.25x (+0.01) of what that ideal binomial model
 * predicts for the same pairs (about 0.11 here). */
static double binom_expected_abs_err(double cosine) {
  const double p = acos(cosine > 1 ? 1 : cosine < -1 ? -1 : cosine) / M_PI;
  double e = 0;
  for (int d = 0; d <= 64; d++) {
    const double lp = lgamma(65.0) - lgamma(d + 1.0) - lgamma(65.0 - d) +
                      (d ? d * log(p) : 0) +
                      (d < 64 ? (64 - d) * log1p(-p) : 0);
    e += exp(lp) * fabs(cos(M_PI * d / 64.0) - cosine);
  }
  return e;
}

static int test_cosine_tracks_exact(void) {
  unsigned long long rng = wd_t_seed(2718);
  wd_simhash_t *sm = mk(1);
  uint32_t *df = wd_calloc(VOCAB, sizeof(*df));
  uint32_t *tfx = wd_calloc(VOCAB, sizeof(*tfx));
  uint32_t *tfy = wd_calloc(VOCAB, sizeof(*tfy));
  uint8_t *mark = wd_calloc(VOCAB, 1);
  uint32_t doc[600], ed[600];
  const int ndocs = 400;
  for (int d = 0; d < ndocs; d++) {
    for (int i = 0; i < 300; i++)
      doc[i] = zipf_word(&rng);
    observe_words(sm, doc, 300);
    memset(mark, 0, VOCAB);
    for (int i = 0; i < 300; i++)
      if (!mark[doc[i]]++)
        df[doc[i]]++;
  }
  memset(mark, 0, VOCAB);
  const int pairs = 400;
  double sum_abs = 0, sum_bias = 0, sum_model = 0;
  for (int p = 0; p < pairs; p++) {
    const int len = 100 + (int)(wd_t_rand(&rng) % 501);
    const double frac = (double)(wd_t_rand(&rng) % 1000) / 1000.0;
    for (int i = 0; i < len; i++) {
      doc[i] = zipf_word(&rng);
      ed[i] = (double)(wd_t_rand(&rng) % 1000) < frac * 1000
                  ? zipf_word(&rng) : doc[i];
    }
    for (int i = 0; i < len; i++)
      tfx[doc[i]]++, tfy[ed[i]]++;
    double dot = 0, nx = 0, ny = 0;
    for (int i = 0; i < 2 * len; i++) {
      const uint32_t w = i < len ? doc[i] : ed[i - len];
      if (mark[w] == 0xff)
        continue; /* each distinct word once */
      mark[w] = 0xff;
      const double idf = log((ndocs + 1.0) / (df[w] + 1.0)) + 1.0;
      const double wx = tfx[w] ? (1 + log(tfx[w])) * idf : 0;
      const double wy = tfy[w] ? (1 + log(tfy[w])) * idf : 0;
      dot += wx * wy, nx += wx * wx, ny += wy * wy;
    }
    for (int i = 0; i < len; i++)
      tfx[doc[i]] = tfy[ed[i]] = 0, mark[doc[i]] = mark[ed[i]] = 0;
    const double cosine = dot / sqrt(nx * ny);
    const int dist = wd_simhash_distance(sign_words(sm, doc, (size_t)len),
                                         sign_words(sm, ed, (size_t)len));
    sum_abs += fabs(wd_simhash_cosine(dist) - cosine);
    sum_model += binom_expected_abs_err(cosine);
    sum_bias += dist / 64.0 - acos(cosine > 1 ? 1 : cosine) / M_PI;
  }
  const double mae = sum_abs / pairs, bias = sum_bias / pairs;
  const double model = sum_model / pairs;
  fprintf(stderr, "  cosine: mean |est - exact| %.4f (binomial model %.4f), "
          "mean (d/64 - theta/pi) %+.4f over %d pairs\n", mae, model, bias,
          pairs);
  WD_T_ASSERT(mae < 1.25 * model + 0.01, "mean |estimated - exact cosine| = "
              "%.4f, want < 1.25 * %.4f + 0.01", mae, model);
  WD_T_ASSERT(fabs(bias) < 0.02, "angle bias %.4f, want |bias| < 0.02", bias);
  wd_free(df), wd_free(tfx), wd_free(tfy), wd_free(mark);
  wd_simhash_destroy(sm);
  return 0;
}

/* observe() counts a word once per document however often it occurs: after
 * one document of 100 x A, idf(A) = ln(2/2)+1 = 1 > 0. Counted 100 times, the
 * idf would be negative and the hash of {A} would come out inverted. */
static int test_observe_once_per_doc(void) {
  wd_simhash_t *fresh = mk(1), *sm = mk(1);
  uint32_t many[100];
  for (int i = 0; i < 100; i++)
    many[i] = 77;
  observe_words(sm, many, 100);
  const uint32_t one = 77;
  WD_T_ASSERT(sign_words(sm, &one, 1) == sign_words(fresh, &one, 1),
              "a word repeated in one document counts once in df");
  wd_simhash_destroy(fresh);
  wd_simhash_destroy(sm);
  return 0;
}

/* A tiny df table under a stream of 100k distinct words stays the same size
 * and keeps the word that is in every document (replacement takes the
 * lowest count): {C, R} still hashes like {R} alone since idf(C) = 1 while
 * an unseen R weighs ln(N+1)+1. */
static int test_df_bounded(void) {
  unsigned long long rng = wd_t_seed(4096);
  wd_simhash_opts_t o;
  wd_simhash_opts_default(&o);
  o.df_capacity = 1024;
  wd_simhash_t *sm = wd_simhash_new(&o);
  uint32_t doc[21];
  doc[0] = 5;
  for (int i = 1; i < 21; i++)
    doc[i] = 100 + (uint32_t)(wd_t_rand(&rng) % 10000000);
  observe_words(sm, doc, 21);
  const size_t bytes = wd_simhash_bytes(sm);
  for (int d = 0; d < 5000; d++) {
    for (int i = 1; i < 21; i++)
      doc[i] = 100 + (uint32_t)(wd_t_rand(&rng) % 10000000);
    observe_words(sm, doc, 21);
  }
  WD_T_ASSERT(wd_simhash_bytes(sm) == bytes, "df table grew: %zu -> %zu",
              bytes, wd_simhash_bytes(sm));
  const uint32_t cr[2] = {5, 20000000}, r = 20000000;
  WD_T_ASSERT(sign_words(sm, cr, 2) == sign_words(sm, &r, 1),
              "the every-document word must keep its df (idf 1) in a full "
              "table");
  wd_simhash_destroy(sm);
  return 0;
}

/* wd_simhash_observe_signed counts through the slots its sign found, and
 * must give the table wd_simhash_observe gives when the words of one
 * document take each other's slots: a table of 64 slots under documents of
 * up to 120 distinct words from 600 (every window full, a replacement for
 * most new words). Both sign every document alike all along. */
static int test_observe_signed_full_table(void) {
  unsigned long long rng = wd_t_seed(77);
  wd_simhash_opts_t o;
  wd_simhash_opts_default(&o);
  o.df_capacity = 64;
  wd_simhash_t *a = wd_simhash_new(&o), *b = wd_simhash_new(&o);
  uint64_t t[200];
  for (int d = 0; d < 3000; d++) {
    const size_t n = 1 + (size_t)(wd_t_rand(&rng) % 200);
    for (size_t i = 0; i < n; i++)
      t[i] = tok(d % 4 ? zipf_word(&rng) % 600 : wd_t_rand(&rng) % 600);
    const uint64_t ha = wd_simhash_sign(a, t, n), hb = wd_simhash_sign(b, t, n);
    WD_T_ASSERT(ha == hb, "doc %d: %016llx vs %016llx", d, (unsigned long long)ha,
                (unsigned long long)hb);
    wd_simhash_observe_signed(a);
    wd_simhash_observe(b, t, n);
  }
  wd_simhash_destroy(a);
  wd_simhash_destroy(b);
  return 0;
}

/* ==== Hamming index ==== */

typedef struct pair_s {
  int d;
  uint32_t doc;
} pair_t;

static int pair_cmp(const void *pa, const void *pb) {
  const pair_t *a = pa, *b = pb;
  if (a->d != b->d)
    return a->d - b->d;
  return (a->doc > b->doc) - (a->doc < b->doc);
}

static uint64_t flip(unsigned long long *rng, uint64_t h, int bits) {
  for (int i = 0; i < bits; i++)
    h ^= 1ULL << (wd_t_rand(rng) % 64);
  return h;
}

/* Brute force over live[]: docs within md, min distance per doc, sorted. */
static size_t brute(const uint64_t *hash, const uint32_t *doc,
                    const uint8_t *live, size_t n, uint64_t q, int md,
                    pair_t *out) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (!live[i])
      continue;
    const int d = wd_simhash_distance(hash[i], q);
    if (d <= md)
      out[k++] = (pair_t){d, doc[i]};
  }
  qsort(out, k, sizeof(*out), pair_cmp);
  size_t u = 0; /* keep each doc's closest entry */
  for (size_t i = 0; i < k; i++) {
    int dup = 0;
    for (size_t j = 0; j < u && !dup; j++)
      dup = out[j].doc == out[i].doc;
    if (!dup)
      out[u++] = out[i];
  }
  return u;
}

static int test_index_vs_brute_force(void) {
  unsigned long long rng = wd_t_seed(6464);
  enum { N = 3000, NB = 200, Q = 300 };
  uint64_t *hash = wd_malloc(N * sizeof(*hash)), base[NB];
  uint32_t *doc = wd_malloc(N * sizeof(*doc)), *got = wd_malloc(N * 4);
  uint8_t *live = wd_malloc(N);
  pair_t *want = wd_malloc(N * sizeof(*want));
  static const int mds[] = {0, 1, 3, 5, 7};
  WD_T_ASSERT(wd_simhash_index_new(-1) == NULL && wd_simhash_index_new(8) ==
              NULL, "max_distance outside 0..7 is rejected");
  for (int mi = 0; mi < 5; mi++) {
    const int md = mds[mi];
    for (int i = 0; i < NB; i++)
      base[i] = wd_t_rand(&rng);
    wd_simhash_index_t *si = wd_simhash_index_new(md);
    WD_T_ASSERT(wd_simhash_index_query(si, 1, got, N) == 0, "empty index");
    for (uint32_t i = 0; i < N; i++) {
      hash[i] = flip(&rng, base[wd_t_rand(&rng) % NB],
                     (int)(wd_t_rand(&rng) % 11));
      /* every 10th entry re-uses an earlier doc id under another hash */
      doc[i] = i % 10 == 9 ? doc[wd_t_rand(&rng) % i] : 1000000 + i;
      live[i] = 1;
      wd_simhash_index_insert(si, hash[i], doc[i]);
    }
    for (int phase = 0; phase < 2; phase++) {
      if (phase == 1) { /* remove a random half, and some absent pairs */
        for (uint32_t i = 0; i < N; i++) {
          if (wd_t_rand(&rng) % 2) {
            wd_simhash_index_remove(si, hash[i], doc[i]);
            live[i] = 0;
          }
          wd_simhash_index_remove(si, hash[i] ^ 1, doc[i] | 0x80000000u);
        }
      }
      for (int q = 0; q < Q; q++) {
        const uint64_t qh = q % 4 == 3 ? wd_t_rand(&rng)
                                       : flip(&rng, base[wd_t_rand(&rng) % NB],
                                              (int)(wd_t_rand(&rng) % 5));
        const size_t nw = brute(hash, doc, live, N, qh, md, want);
        const size_t ng = wd_simhash_index_query(si, qh, got, N);
        WD_T_ASSERT(ng == nw, "md=%d phase %d query %d: %zu docs, brute force "
                    "%zu", md, phase, q, ng, nw);
        for (size_t i = 0; i < nw; i++)
          WD_T_ASSERT(got[i] == want[i].doc, "md=%d phase %d query %d: "
                      "result %zu is doc %u, want %u (distance %d)", md, phase,
                      q, i, got[i], want[i].doc, want[i].d);
        const size_t cap = 3;
        const size_t nc = wd_simhash_index_query(si, qh, got, cap);
        WD_T_ASSERT(nc == (nw < cap ? nw : cap), "capped query count %zu", nc);
        for (size_t i = 0; i < nc; i++)
          WD_T_ASSERT(got[i] == want[i].doc, "md=%d capped query %d: result "
                      "%zu is doc %u, want %u", md, q, i, got[i], want[i].doc);
      }
    }
    WD_T_ASSERT(wd_simhash_index_bytes(si) > 0, "bytes");
    wd_simhash_index_destroy(si);
  }
  wd_free(hash), wd_free(doc), wd_free(got), wd_free(live), wd_free(want);
  return 0;
}

/* Insert/remove churn at a steady size leaves the index at a steady size. */
static int test_index_churn(void) {
  unsigned long long rng = 77;
  enum { W = 1000 };
  uint64_t ring[W];
  wd_simhash_index_t *si = wd_simhash_index_new(3);
  size_t peak = 0;
  for (uint32_t i = 0; i < 50 * W; i++) {
    if (i >= W)
      wd_simhash_index_remove(si, ring[i % W], i - W);
    ring[i % W] = wd_t_rand(&rng);
    wd_simhash_index_insert(si, ring[i % W], i);
    if (i == 2 * W)
      peak = wd_simhash_index_bytes(si);
  }
  WD_T_ASSERT(wd_simhash_index_bytes(si) == peak, "churn grew the index: "
              "%zu -> %zu bytes", peak, wd_simhash_index_bytes(si));
  uint32_t out[4];
  WD_T_ASSERT(wd_simhash_index_query(si, ring[0], out, 4) >= 1 &&
                  out[0] == 49 * W, "newest entries still found");
  wd_simhash_index_destroy(si);
  return 0;
}


/* The straightforward SimHash the fast path must reproduce bit for bit: a
 * plain word list with exact document frequencies, every weight evaluated
 * with log() (no tables, no memo), one pass per distinct word in first-seen
 * order. Only the feature hash and the weight formula come from simhash.h. */
typedef struct refsim_s {
  uint64_t *word;
  uint32_t *df;
  size_t nwords;
  uint64_t ndocs;
} refsim_t;

static uint32_t ref_df(const refsim_t *r, uint64_t w) {
  for (size_t i = 0; i < r->nwords; i++)
    if (r->word[i] == w)
      return r->df[i];
  return 0;
}

static uint64_t ref_sign(const refsim_t *r, const uint64_t *t, size_t n) {
  float acc[64] = {0};
  const uint64_t seed_mix = wd_mix64(7 + 0x9e3779b97f4a7c15ULL);
  for (size_t i = 0; i < n; i++) {
    int first = 1;
    uint32_t tf = 0;
    for (size_t j = 0; j < n; j++) {
      if (t[j] == t[i] && j < i)
        first = 0;
      tf += t[j] == t[i];
    }
    if (!first)
      continue;
    double w = 1.0 + log((double)tf);
    w *= log(((double)r->ndocs + 1.0) / ((double)ref_df(r, t[i]) + 1.0)) + 1.0;
    const float wf = (float)w;
    const uint64_t fh = wd_mix64(t[i] ^ seed_mix);
    for (int b = 0; b < 64; b++)
      acc[b] += wf * ((fh >> b) & 1 ? 1.0f : -1.0f);
  }
  uint64_t h = 0;
  for (int b = 0; b < 64; b++)
    h |= (uint64_t)(acc[b] > 0.0f) << b;
  return h;
}

static void ref_observe(refsim_t *r, const uint64_t *t, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int first = 1;
    for (size_t j = 0; j < i && first; j++)
      first = t[j] != t[i];
    if (!first)
      continue;
    size_t k = 0;
    while (k < r->nwords && r->word[k] != t[i])
      k++;
    if (k == r->nwords) {
      r->word[r->nwords] = t[i];
      r->df[r->nwords++] = 0;
    }
    r->df[k]++;
  }
  r->ndocs++;
}

/* wd_simhash_sign + wd_simhash_observe_signed (the engine's path, with its
 * log table, per-document idf memo and df prefetching) and wd_simhash_sign +
 * wd_simhash_observe equal the reference on every document of a stream
 * long enough for document frequencies past the memo (1,024) and term
 * frequencies past the log table (256). */
static int test_fast_path_vs_reference(void) {
  enum { DOCS = 1400, WORDS = 400, MAXLEN = 700 };
  unsigned long long rng = wd_t_seed(31);
  refsim_t ref = {wd_malloc(WORDS * sizeof(uint64_t)), wd_malloc(WORDS * sizeof(uint32_t)),
                  0, 0};
  wd_simhash_t *a = mk(1), *b = mk(1), *c = mk(1);
  wd_termcount_t *tc = wd_termcount_new(7), *tc8 = wd_termcount_new(8);
  wd_terms_t terms = {0}, terms8 = {0};
  wd_simhash_t *b8 = mk(1);
  wd_simhash_t *forced[NISA]; /* each kernel on the engine's path */
  for (size_t k = 0; k < NISA; k++)
    forced[k] = wd_simhash_isa_supported(isas[k]) ? mk_isa(1, isas[k]) : NULL;
  uint64_t t[MAXLEN];
  WD_T_ASSERT(wd_simhash_observe_signed(a) == -1, "nothing signed yet");
  for (int d = 0; d < DOCS; d++) {
    size_t n = (size_t)(wd_t_rand(&rng) % MAXLEN);
    const int heavy = d % 50 == 7; /* one word repeated 300+ times */
    for (size_t i = 0; i < n; i++) {
      uint64_t w = heavy && i % 2 ? 3 : wd_t_rand(&rng) % (d % 3 ? 40 : WORDS);
      t[i] = tok(w);
    }
    const uint64_t want = ref_sign(&ref, t, n);
    const uint64_t ha = wd_simhash_sign(a, t, n), hb = wd_simhash_sign(b, t, n);
    WD_T_ASSERT(ha == want && hb == want, "doc %d (%zu words): %016llx %016llx want %016llx",
                d, n, (unsigned long long)ha, (unsigned long long)hb,
                (unsigned long long)want);
    /* the fingerprint stage's split: words counted apart, then weighed */
    wd_terms_count(tc, t, n, &terms);
    WD_T_ASSERT(wd_simhash_sign_terms(c, &terms) == want, "doc %d: counted terms", d);
    for (size_t k = 0; k < NISA; k++) {
      if (!forced[k])
        continue;
      WD_T_ASSERT(wd_simhash_sign_terms(forced[k], &terms) == want, "doc %d: %s kernel", d,
                  isa_names[k]);
      wd_simhash_observe_signed(forced[k]);
    }
    /* terms counted for another seed: the sign redoes the feature hashes */
    wd_terms_count(tc8, t, n, &terms8);
    WD_T_ASSERT(wd_simhash_sign_terms(b8, &terms8) == want, "doc %d: other seed's terms", d);
    wd_simhash_observe_signed(b8);
    WD_T_ASSERT(wd_simhash_observe_signed(c) == 0, "observe counted terms");
    for (size_t i = 0; i < n; i++)
      t[i] ^= 1; /* the saved words, not the caller's array, are observed */
    WD_T_ASSERT(wd_simhash_observe_signed(a) == 0, "observe after sign");
    WD_T_ASSERT(wd_simhash_observe_signed(a) == -1, "second observe refused");
    for (size_t i = 0; i < n; i++)
      t[i] ^= 1;
    wd_simhash_observe(b, t, n);
    ref_observe(&ref, t, n);
  }
  WD_T_ASSERT(ref_df(&ref, tok(3)) > 1024, "stream reached df %u past the memo",
              ref_df(&ref, tok(3)));
  wd_simhash_destroy(a);
  wd_simhash_destroy(b);
  wd_simhash_destroy(c);
  wd_termcount_destroy(tc);
  wd_termcount_destroy(tc8);
  wd_terms_free(&terms);
  wd_terms_free(&terms8);
  wd_simhash_destroy(b8);
  for (size_t k = 0; k < NISA; k++)
    wd_simhash_destroy(forced[k]);
  wd_free(ref.word);
  wd_free(ref.df);
  return 0;
}

/* The bounded df table as plain arrays, slot by slot as simhash.h and the
 * SIMH section define it (home slot mix64(key), key 0 -> 1, 16-slot window,
 * the rarest word of a full window replaced, first on ties), with every
 * weight from log(): whatever layout, lookup order or memo the engine's
 * table uses, its signatures and its saved slots must be these. */
typedef struct reftab_s {
  uint64_t *key;
  uint32_t *cnt;
  size_t cap;
  uint64_t ndocs;
} reftab_t;

static size_t reftab_find(const reftab_t *r, uint64_t key) {
  size_t i = (size_t)wd_mix64(key) & (r->cap - 1);
  for (int p = 0; p < 16; p++, i = (i + 1) & (r->cap - 1)) {
    if (r->key[i] == key || r->key[i] == 0)
      return r->key[i] == key ? i : SIZE_MAX;
  }
  return SIZE_MAX;
}

static void reftab_add(reftab_t *r, uint64_t key) {
  size_t i = (size_t)wd_mix64(key) & (r->cap - 1), victim = i;
  for (int p = 0; p < 16; p++, i = (i + 1) & (r->cap - 1)) {
    if (r->key[i] == key) {
      r->cnt[i] += r->cnt[i] < UINT32_MAX;
      return;
    }
    if (r->key[i] == 0) {
      r->key[i] = key;
      r->cnt[i] = 1;
      return;
    }
    if (r->cnt[i] < r->cnt[victim])
      victim = i;
  }
  r->key[victim] = key;
  r->cnt[victim] = 1;
}

/* Sign (as ref_sign, with this table's frequencies), then observe. */
static uint64_t reftab_sign_observe(reftab_t *r, const uint64_t *t, size_t n) {
  float acc[64] = {0};
  const uint64_t seed_mix = wd_mix64(7 + 0x9e3779b97f4a7c15ULL);
  uint64_t *first = wd_malloc((n ? n : 1) * sizeof(*first));
  size_t nd = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t tf = 0, seen = 0;
    for (size_t j = 0; j < n; j++) {
      tf += t[j] == t[i];
      seen += t[j] == t[i] && j < i;
    }
    if (seen)
      continue;
    const size_t s = reftab_find(r, t[i] ? t[i] : 1);
    const double df = s == SIZE_MAX ? 0.0 : (double)r->cnt[s];
    double w = 1.0 + log((double)tf);
    w *= log(((double)r->ndocs + 1.0) / (df + 1.0)) + 1.0;
    const float wf = (float)w;
    const uint64_t fh = wd_mix64(t[i] ^ seed_mix);
    for (int b = 0; b < 64; b++)
      acc[b] += wf * ((fh >> b) & 1 ? 1.0f : -1.0f);
    first[nd++] = t[i];
  }
  for (size_t d = 0; d < nd; d++)
    reftab_add(r, first[d] ? first[d] : 1);
  r->ndocs++;
  wd_free(first);
  uint64_t h = 0;
  for (int b = 0; b < 64; b++)
    h |= (uint64_t)(acc[b] > 0.0f) << b;
  return h;
}

typedef struct simh_cmp_s {
  const reftab_t *ref;
  size_t seen;
  long bad; /* first differing slot, or -1 */
  int done;
} simh_cmp_t;

/* The SIMH section of a checkpoint against the reference table. */
static wd_err_t simh_cmp_cb(void *opaque, const char *tag, wd_state_r_t *r, char *why,
                            size_t why_size) {
  simh_cmp_t *c = opaque;
  (void)why;
  (void)why_size;
  if (strcmp(tag, "SIMH") != 0) {
    r->p = r->end;
    return WD_OK;
  }
  const reftab_t *ref = c->ref;
  const uint64_t ndocs = wd_state_r_u64(r), cap = wd_state_r_u64(r), used = wd_state_r_u64(r);
  size_t want = 0;
  for (size_t i = 0; i < ref->cap; i++)
    want += ref->key[i] != 0;
  if (ndocs != ref->ndocs || cap != ref->cap || used != want)
    c->bad = (long)ref->cap;
  size_t i = 0;
  for (uint64_t n = 0; n < used && c->bad < 0; n++, i++) {
    const uint32_t slot = wd_state_r_u32(r);
    const uint64_t key = wd_state_r_u64(r);
    const uint32_t cnt = wd_state_r_u32(r);
    while (i < ref->cap && ref->key[i] == 0)
      i++; /* slots go out in ascending order */
    if (r->err || i != slot || ref->key[i] != key || ref->cnt[i] != cnt)
      c->bad = (long)slot;
  }
  r->p = r->end;
  c->seen = i;
  c->done = 1;
  return WD_OK;
}

typedef struct simh_load_s {
  wd_simhash_t *sm;
  int rc;
} simh_load_t;

static wd_err_t simh_load_cb(void *opaque, const char *tag, wd_state_r_t *r, char *why,
                             size_t why_size) {
  simh_load_t *ld = opaque;
  (void)why;
  (void)why_size;
  if (strcmp(tag, "SIMH") == 0)
    ld->rc = wd_simhash_load(ld->sm, r);
  else
    r->p = r->end;
  return WD_OK;
}

/* The engine's path (wd_terms_count, wd_simhash_sign_terms,
 * wd_simhash_observe_signed) against the plain-array table over random
 * documents from a vocabulary many times the table (every window full,
 * replacements all along, tokens 0 and 1 sharing key 1, a few words in
 * every document for frequencies past the idf memo, some words repeated
 * past the log table): the same signature for every document, and the same
 * saved slots, keys and counts at every checkpoint. A checkpoint loaded into
 * a fresh table carries on alike. */
static int test_df_table_vs_plain_arrays(void) {
  enum { DOCS = 2400, MAXLEN = 900, CHECK_EVERY = 200 };
  const size_t caps[] = {64, 1024};
  unsigned long long rng = wd_t_seed(1818);
  char dir[] = "/tmp/wd-test-simhash-XXXXXX";
  WD_T_ASSERT(mkdtemp(dir) != NULL, "mkdtemp");
  for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
    wd_simhash_opts_t o;
    wd_simhash_opts_default(&o);
    o.df_capacity = caps[c];
    wd_simhash_t *sm = wd_simhash_new(&o);
    reftab_t ref = {wd_calloc(caps[c], sizeof(uint64_t)), wd_calloc(caps[c], sizeof(uint32_t)),
                    caps[c], 0};
    wd_termcount_t *tc = wd_termcount_new(7);
    wd_terms_t terms = {0};
    uint64_t *t = wd_malloc(MAXLEN * sizeof(*t));
    for (int d = 0; d < DOCS; d++) {
      const size_t n = (size_t)(wd_t_rand(&rng) % MAXLEN);
      for (size_t i = 0; i < n; i++) {
        const uint64_t r = wd_t_rand(&rng) % 100;
        t[i] = r < 3 ? r % 2              /* tokens 0 and 1: one df key */
               : r < 8 ? tok(r)           /* in most documents */
               : d % 97 == 5 && r < 40 ? tok(9) /* tf past 256 */
                                      : tok(zipf_word(&rng));
      }
      const uint64_t want = reftab_sign_observe(&ref, t, n);
      wd_terms_count(tc, t, n, &terms);
      const uint64_t got = wd_simhash_sign_terms(sm, &terms);
      WD_T_ASSERT(got == want, "cap %zu doc %d (%zu tokens): %016llx want %016llx", caps[c],
                  d, n, (unsigned long long)got, (unsigned long long)want);
      WD_T_ASSERT(wd_simhash_observe_signed(sm) == 0, "observe");
      if (d % CHECK_EVERY != CHECK_EVERY - 1)
        continue;
      char err[256];
      wd_state_w_t *w = wd_state_w_open(dir, err, sizeof(err));
      WD_T_ASSERT(w != NULL, "%s", err);
      wd_simhash_save(sm, w);
      WD_T_ASSERT(wd_state_w_close(w, NULL, err, sizeof(err)) == WD_OK, "%s", err);
      simh_cmp_t cmp = {&ref, 0, -1, 0};
      WD_T_ASSERT(wd_state_foreach(dir, simh_cmp_cb, &cmp, NULL, err, sizeof(err)) == WD_OK,
                  "%s", err);
      WD_T_ASSERT(cmp.done && cmp.bad < 0, "cap %zu after doc %d: saved slot %ld differs",
                  caps[c], d, cmp.bad);
      /* carry on from the checkpoint: a fresh table loaded from it */
      simh_load_t ld = {wd_simhash_new(&o), -1};
      WD_T_ASSERT(wd_state_foreach(dir, simh_load_cb, &ld, NULL, err, sizeof(err)) == WD_OK &&
                      ld.rc == 0,
                  "load: %s", err);
      wd_simhash_destroy(sm);
      sm = ld.sm;
    }
    WD_T_ASSERT(ref.ndocs == DOCS, "documents");
    wd_simhash_destroy(sm);
    wd_termcount_destroy(tc);
    wd_terms_free(&terms);
    wd_free(t);
    wd_free(ref.key);
    wd_free(ref.cnt);
  }
  char path[sizeof(dir) + 32];
  wd_state_path(path, sizeof(path), dir);
  unlink(path);
  rmdir(dir);
  return 0;
}

/* The word weight as the formula gives it, every log() called. */
static float plain_weight(uint64_t ndocs, uint32_t tf, uint32_t df) {
  const double n1 = (double)ndocs + 1.0;
  return (float)((1.0 + log((double)tf)) * (log(n1 / ((double)df + 1.0)) + 1.0));
}

/* The sign's weights (a table of log k and one log per document instead of
 * one per word, checked against the float's rounding) equal the formula's
 * bit for bit: over random frequencies from 1 to 2^40 documents, and on
 * every weight of a scan whose exact product lies within 2^-40 of a point
 * halfway between two floats, where only the exact expression may decide
 * (the check must have refused the table there). Nearly all weights of a
 * df + 1 within the table come from the table. */
static int test_weight_vs_formula(void) {
  unsigned long long rng = wd_t_seed(2024);
  wd_simhash_t *sm = mk(1);
  size_t fast = 0, cases = 0; /* cases: weights with df + 1 in the table */
  for (int i = 0; i < 2000000; i++) {
    const double u = (double)(wd_t_rand(&rng) >> 11) / 9007199254740992.0;
    const uint64_t ndocs = (uint64_t)pow(2.0, 40.0 * u);
    const uint64_t r = wd_t_rand(&rng);
    uint32_t df;
    switch (r % 4) {
    case 0: df = (uint32_t)(r / 4 % 4200); break;               /* table and past it */
    case 1: df = ndocs > 50 ? (uint32_t)(ndocs - r / 4 % 50) : 0; break; /* idf near 1 */
    case 2: df = (uint32_t)(r / 4 % 64); break;                 /* rare words */
    default: df = (uint32_t)((r / 4 % 4096) * (ndocs + 1) / 4096); break;
    }
    if (df > ndocs)
      df = (uint32_t)ndocs;
    const uint32_t tf = r % 7 == 0 ? 1 + (uint32_t)(r / 8 % 1000000) : 1 + (uint32_t)(r / 8 % 300);
    int exact;
    const float got = wd_simhash_weight(sm, ndocs, tf, df, &exact);
    const float want = plain_weight(ndocs, tf, df);
    fast += !exact;
    cases += df < 4095;
    WD_T_ASSERT(memcmp(&got, &want, sizeof(got)) == 0,
                "case %d: ndocs %llu tf %u df %u: %a want %a (%s)", i,
                (unsigned long long)ndocs, tf, df, got, want, exact ? "exact" : "table");
  }
  WD_T_ASSERT(fast > cases - cases / 100, "table path taken for %zu of %zu weights", fast,
              cases);
  size_t near = 0;
  for (uint64_t ndocs = 5000; ndocs < 5000 + 300; ndocs++) {
    for (uint32_t df = 0; df < 4095; df++) {
      const uint32_t tf = 1 + df % 3;
      const double n1 = (double)ndocs + 1.0;
      const double w = (1.0 + log((double)tf)) * (log(n1 / ((double)df + 1.0)) + 1.0);
      const float f = (float)w;
      const double up = ((double)f + (double)nextafterf(f, INFINITY)) / 2;
      const double dn = ((double)f + (double)nextafterf(f, 0.0f)) / 2;
      const double gap = fmin(fabs(w - up), fabs(w - dn)) / w;
      int exact;
      const float got = wd_simhash_weight(sm, ndocs, tf, df, &exact);
      WD_T_ASSERT(got == f, "ndocs %llu tf %u df %u: %a want %a", (unsigned long long)ndocs,
                  tf, df, got, f);
      if (gap >= 0x1p-40)
        continue;
      near++;
      WD_T_ASSERT(exact, "ndocs %llu tf %u df %u: %a is %.3g from a float midpoint, and the "
                  "table decided it", (unsigned long long)ndocs, tf, df, w, gap);
    }
  }
  WD_T_ASSERT(near > 0, "the scan met no weight near a float midpoint");
  wd_simhash_destroy(sm);
  return 0;
}

/* Random float bits of every size and sign (no NaN: not a weight). */
static float rand_weight(unsigned long long *rng) {
  uint32_t u;
  do
    u = (uint32_t)wd_t_rand(rng);
  while ((u & 0x7f800000u) == 0x7f800000u);
  float f;
  memcpy(&f, &u, sizeof(f));
  return f;
}

/* Each counter-sum kernel this CPU runs gives, bit for bit, the floats of
 * the scalar definition acc += w * (+1 or -1), word by word: on random
 * hashes, weights of every magnitude (zeros, subnormals, huge ones that
 * round away small ones) and random starting counters. */
static int test_accumulate_kernels(void) {
  enum { MAXN = 300 };
  unsigned long long rng = wd_t_seed(64);
  static uint64_t fh[MAXN];
  static float w[MAXN];
  float start[64], want[64], got[64];
  for (size_t k = 0; k < NISA; k++)
    if (!wd_simhash_isa_supported(isas[k]))
      fprintf(stderr, "  %s kernel: not on this CPU, skipped\n", isa_names[k]);
  for (int trial = 0; trial < 500; trial++) {
    const size_t n = (size_t)(wd_t_rand(&rng) % MAXN);
    for (size_t d = 0; d < n; d++) {
      fh[d] = wd_t_rand(&rng);
      /* mostly ordinary weights, so that sums cancel and carry */
      w[d] = trial % 2 ? rand_weight(&rng) : (float)(wd_t_rand(&rng) % 1000) / 37.0f;
    }
    w[0] = n && trial % 5 == 0 ? 0.0f : w[0];
    for (int c = 0; c < 64; c++)
      start[c] = trial % 3 ? 0.0f : rand_weight(&rng);
    memcpy(want, start, sizeof(want));
    for (size_t d = 0; d < n; d++)
      for (int c = 0; c < 64; c++)
        want[c] += w[d] * ((fh[d] >> c) & 1 ? 1.0f : -1.0f);
    for (size_t k = 0; k < NISA; k++) {
      if (!wd_simhash_isa_supported(isas[k]))
        continue;
      memcpy(got, start, sizeof(got));
      wd_simhash_accumulate(isas[k], got, fh, w, n);
      WD_T_ASSERT(memcmp(got, want, sizeof(got)) == 0, "trial %d (%zu words): %s kernel",
                  trial, n, isa_names[k]);
    }
    memcpy(got, start, sizeof(got));
    wd_simhash_accumulate(WD_SIMHASH_ISA_BEST, got, fh, w, n);
    WD_T_ASSERT(memcmp(got, want, sizeof(got)) == 0, "trial %d: best kernel", trial);
  }
  return 0;
}

/* wd_terms_count against a plain count (a linear search per token): the
 * same words in first-seen order, counts, df and feature hashes, for
 * random tokens, small integers, keys that differ only in their top or
 * bottom bits, 0, and documents from empty to larger than any before (the
 * map grows) and back, through one map. */
static int test_terms_vs_plain(void) {
  enum { MAXN = 3000 };
  unsigned long long rng = wd_t_seed(0x7c);
  wd_termcount_t *tc = wd_termcount_new(7);
  wd_terms_t terms = {0};
  uint64_t *t = wd_malloc(MAXN * sizeof(*t)), *w = wd_malloc(MAXN * sizeof(*w));
  uint32_t *c = wd_malloc(MAXN * sizeof(*c));
  for (int d = 0; d < 600; d++) {
    const size_t n = (size_t)(wd_t_rand(&rng) % (d % 40 == 39 ? MAXN : 700));
    const unsigned vocab = 1 + (unsigned)(wd_t_rand(&rng) % (d % 2 ? 30 : 5000));
    const int kind = d % 4;
    for (size_t i = 0; i < n; i++) {
      const uint64_t v = wd_t_rand(&rng) % vocab;
      t[i] = kind == 0 ? wd_mix64(v + 99) : kind == 1 ? v : kind == 2 ? v << 52 : v << 8;
    }
    size_t nw = 0;
    for (size_t i = 0; i < n; i++) {
      size_t j = 0;
      while (j < nw && w[j] != t[i])
        j++;
      if (j == nw)
        w[nw] = t[i], c[nw++] = 0;
      c[j]++;
    }
    wd_terms_count(tc, t, n, &terms);
    WD_T_ASSERT(terms.n == nw, "doc %d (%zu tokens, kind %d): %zu words, plain %zu", d, n,
                kind, terms.n, nw);
    for (size_t j = 0; j < nw; j++) {
      WD_T_ASSERT(terms.word[j] == w[j] && terms.cnt[j] == c[j],
                  "doc %d word %zu: %016llx x%u, plain %016llx x%u", d, j,
                  (unsigned long long)terms.word[j], terms.cnt[j], (unsigned long long)w[j],
                  c[j]);
      WD_T_ASSERT(terms.dfh[j] == wd_mix64(w[j] ? w[j] : 1) &&
                      terms.fh[j] == wd_mix64(w[j] ^ terms.fh_seed),
                  "doc %d word %zu: hashes", d, j);
    }
  }
  wd_free(t);
  wd_free(w);
  wd_free(c);
  wd_terms_free(&terms);
  wd_termcount_destroy(tc);
  return 0;
}

int main(void) {
  WD_T_RUN(test_terms_vs_plain);
  WD_T_RUN(test_basics);
  WD_T_RUN(test_edit_monotone);
  WD_T_RUN(test_idf_common_vs_rare);
  WD_T_RUN(test_cosine_tracks_exact);
  WD_T_RUN(test_observe_once_per_doc);
  WD_T_RUN(test_df_bounded);
  WD_T_RUN(test_observe_signed_full_table);
  WD_T_RUN(test_index_vs_brute_force);
  WD_T_RUN(test_index_churn);
  WD_T_RUN(test_fast_path_vs_reference);
  WD_T_RUN(test_df_table_vs_plain_arrays);
  WD_T_RUN(test_weight_vs_formula);
  WD_T_RUN(test_accumulate_kernels);
  return WD_T_DONE();
}
