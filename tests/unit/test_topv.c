/* test_topv.c - heaviest-word vectors: selection, quantised cosine against
 * the exact one, numbers, the word index against brute force under churn,
 * and the word rule end to end (a rewrite across outlets joins; the same
 * outlet, or disagreeing figures, do not; stories; a checkpoint keeps the
 * vectors and the stories). */
#include "wd_test.h"
#include "wiredup/config.h"
#include "wiredup/engine.h"
#include "wiredup/mem.h"
#include "wiredup/state.h"
#include "wiredup/topv.h"
#include "wiredup/mix.h"

#include <xxhash.h>

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Word w's 64-bit hash: its 16-bit key (the top bits) is w itself, so
 * distinct words (w < 65536) never share a key here. */
static uint64_t word_key(unsigned long long w) {
  unsigned long long s = w * 0x9e3779b97f4a7c15ULL + 77;
  return (uint64_t)(w & 0xffff) << 48 | (wd_t_rand(&s) >> 16);
}

/* Exact cosine of the k heaviest of each (the truncation topv makes). */
static double exact_cos(const uint64_t *ka, const float *wa, size_t na, const uint64_t *kb,
                        const float *wb, size_t nb) {
  double dot = 0, sa = 0, sb = 0;
  for (size_t i = 0; i < na; i++) {
    sa += (double)wa[i] * wa[i];
    for (size_t j = 0; j < nb; j++)
      if (ka[i] >> 48 == kb[j] >> 48)
        dot += (double)wa[i] * wb[j];
  }
  for (size_t j = 0; j < nb; j++)
    sb += (double)wb[j] * wb[j];
  return dot / sqrt(sa * sb);
}

static int test_build_and_cosine(void) {
  unsigned long long rng = wd_t_seed(20261203);
  uint64_t ka[200], kb[200];
  float wa[200], wb[200];
  double worst = 0;
  for (int round = 0; round < 300; round++) {
    /* b shares a random part of a's words, with its own weights */
    const size_t na = 10 + wd_t_rand(&rng) % 50, nb = 10 + wd_t_rand(&rng) % 50;
    for (size_t i = 0; i < na; i++) {
      ka[i] = word_key((unsigned long long)round * 200 + i);
      wa[i] = 0.5f + (float)(wd_t_rand(&rng) % 1000) / 100.0f;
    }
    for (size_t j = 0; j < nb; j++) {
      const int shared = j < na && wd_t_rand(&rng) % 2;
      kb[j] = shared ? ka[j] : word_key((unsigned long long)round * 200 + 100 + j);
      wb[j] = 0.5f + (float)(wd_t_rand(&rng) % 1000) / 100.0f;
    }
    wd_topv_t a, b;
    wd_topv_build(&a, ka, wa, na, WD_TOPV_MAX);
    wd_topv_build(&b, kb, wb, nb, WD_TOPV_MAX);
    WD_T_ASSERT(a.n == na && b.n == nb, "kept %u of %zu", (unsigned)a.n, na);
    for (uint32_t i = 1; i < a.n; i++)
      WD_T_ASSERT(a.key[i - 1] <= a.key[i], "keys ascend");
    WD_T_ASSERT(fabs(wd_topv_cosine(&a, &a) - 1.0) < 1e-6, "self cosine %f",
                wd_topv_cosine(&a, &a));
    const double c = wd_topv_cosine(&a, &b), x = exact_cos(ka, wa, na, kb, wb, nb);
    WD_T_ASSERT(fabs(c - wd_topv_cosine(&b, &a)) < 1e-12, "symmetric");
    if (fabs(c - x) > worst)
      worst = fabs(c - x);
  }
  /* 8-bit weights: the cosine stays within a few thousandths */
  WD_T_ASSERT(worst < 0.02, "quantised cosine off by %f", worst);

  /* Only the k heaviest are kept; equal weights go to the smaller key. */
  uint64_t k[100];
  float w[100];
  for (int i = 0; i < 100; i++)
    k[i] = (uint64_t)(100 - i) << 48, w[i] = (float)(i / 2 + 1);
  wd_topv_t v;
  wd_topv_build(&v, k, w, 100, 3);
  WD_T_ASSERT(v.n == 3, "n %u", v.n);
  /* weights 50 (keys 2, 1), 49 (keys 4, 3): the 3 kept are keys 1, 2, 3 */
  WD_T_ASSERT(v.key[0] == 1 && v.key[1] == 2 && v.key[2] == 3, "kept keys %u %u %u",
              v.key[0], v.key[1], v.key[2]);
  WD_T_ASSERT(v.q[0] == 255 && v.q[2] == 250, "weights %u %u", v.q[0], v.q[2]);
  wd_topv_build(&v, k, w, 0, 64);
  WD_T_ASSERT(v.n == 0 && wd_topv_cosine(&v, &v) == 0.0, "empty vector");
  return 0;
}

/* Reference selection: every word ranked (heavier, then smaller key), the
 * first k kept, ordered by key (then weight). */
typedef struct ref_word_s {
  float w;
  uint16_t key;
} ref_word_t;

static int ref_rank_cmp(const void *x, const void *y) {
  const ref_word_t *a = x, *b = y;
  if (a->w != b->w)
    return a->w > b->w ? -1 : 1;
  return (a->key > b->key) - (a->key < b->key);
}

static int ref_key_cmp(const void *x, const void *y) {
  const ref_word_t *a = x, *b = y;
  if (a->key != b->key)
    return (a->key > b->key) - (a->key < b->key);
  return (a->w > b->w) - (a->w < b->w);
}

/* wd_topv_build against the reference on long documents (buffer refills)
 * with many tied weights and colliding 16-bit keys. */
static int test_build_vs_reference(void) {
  enum { N = 3000 };
  static uint64_t k[N];
  static float w[N];
  static ref_word_t r[N];
  unsigned long long rng = wd_t_seed(20261204);
  for (int round = 0; round < 400; round++) {
    const size_t n = wd_t_rand(&rng) % N, kk = 1 + wd_t_rand(&rng) % WD_TOPV_MAX;
    const unsigned wspan = round % 3 ? 1000 : 4, kspan = round % 2 ? 65536 : 64;
    for (size_t i = 0; i < n; i++) {
      k[i] = (wd_t_rand(&rng) % kspan) << 48 | (wd_t_rand(&rng) & 0xffff);
      w[i] = 1.0f + (float)(wd_t_rand(&rng) % wspan) / 7.0f;
      if (round % 5 == 0)
        w[i] += (float)i / 100.0f; /* weights rising along the document */
      r[i] = (ref_word_t){w[i], (uint16_t)(k[i] >> 48)};
    }
    wd_topv_t v;
    wd_topv_build(&v, k, w, n, kk);
    qsort(r, n, sizeof(*r), ref_rank_cmp);
    const size_t m = n < kk ? n : kk;
    qsort(r, m, sizeof(*r), ref_key_cmp);
    WD_T_ASSERT(v.n == m, "round %d: kept %u want %zu", round, (unsigned)v.n, m);
    float wmax = 0.0f;
    for (size_t i = 0; i < m; i++)
      wmax = r[i].w > wmax ? r[i].w : wmax;
    for (size_t i = 0; i < m; i++) {
      long q = lrintf(255.0f * r[i].w / wmax);
      WD_T_ASSERT(v.key[i] == r[i].key && v.q[i] == (q < 1 ? 1 : q),
                  "round %d word %zu: key %u q %u want %u %ld", round, i, v.key[i], v.q[i],
                  r[i].key, q);
    }
  }
  return 0;
}

static int test_numbers(void) {
  wd_topv_t a, b, c, d;
  const char *ta = "shr 12 cts vs 15 cts\nnet 1,234,000 vs 987,000 on 5 dec 4th";
  const char *tb = "profit 1234000 up from 987.000 shr 12";  /* same figures */
  const char *tc = "shr 31 cts vs 44 cts\nnet 2,718,000 vs 3,141,000";  /* others */
  const char *td = "\xd9\xa1\xd9\xa2 and \xdb\xb1\xdb\xb5 cts";  /* Arabic-Indic 12, 15 */
  a.nnum = wd_topv_numbers(a.num, ta, strlen(ta));
  b.nnum = wd_topv_numbers(b.num, tb, strlen(tb));
  c.nnum = wd_topv_numbers(c.num, tc, strlen(tc));
  d.nnum = wd_topv_numbers(d.num, td, strlen(td));
  WD_T_ASSERT(a.nnum == 4, "12 15 1234000 987000, not 5 or 4th: %u", a.nnum);
  WD_T_ASSERT(b.nnum == 3 && d.nnum == 2, "b %u d %u", b.nnum, d.nnum);
  WD_T_ASSERT(!wd_topv_numbers_differ(&a, &b), "same figures agree");
  WD_T_ASSERT(wd_topv_numbers_differ(&a, &c), "other figures differ");
  WD_T_ASSERT(!wd_topv_numbers_differ(&a, &d), "Arabic-Indic digits read as values");
  d.nnum = wd_topv_numbers(d.num, "one 12 only", 11);
  WD_T_ASSERT(d.nnum == 1 && !wd_topv_numbers_differ(&c, &d), "one number says nothing");
  /* more numbers than kept: the smallest hashes of each, still comparable */
  char big[4096];
  size_t o = 0;
  for (int i = 0; i < 100; i++)
    o += (size_t)snprintf(big + o, sizeof(big) - o, "%d ", 1000 + i);
  a.nnum = wd_topv_numbers(a.num, big, o);
  b.nnum = wd_topv_numbers(b.num, big, o);
  WD_T_ASSERT(a.nnum == WD_TOPV_NUMS && !wd_topv_numbers_differ(&a, &b), "bounded: %u",
              (unsigned)a.nnum);
  return 0;
}

static int cmp_u16(const void *x, const void *y) {
  return (int)*(const uint16_t *)x - (int)*(const uint16_t *)y;
}

/* The digit of the character at t[i] (its length in *k), -1 for '.' and
 * ',', -2 for anything else. */
static int ref_digit(const unsigned char *t, size_t i, size_t len, size_t *k) {
  *k = 1;
  if (isdigit(t[i]))
    return t[i] - '0';
  if (t[i] == '.' || t[i] == ',')
    return -1;
  if (i + 1 < len && ((t[i] == 0xd9 && t[i + 1] >= 0xa0 && t[i + 1] <= 0xa9) ||
                      (t[i] == 0xdb && t[i + 1] >= 0xb0 && t[i + 1] <= 0xb9))) {
    *k = 2;
    return t[i + 1] & 0x0f;
  }
  return -2;
}

/* wd_topv_numbers the slow way: split into tokens, keep the tokens made of
 * digits, '.' and ',' only (the first byte of any other token decides), hash
 * every one with 2+ digits, sort, and keep the smallest distinct hashes. */
static uint8_t numbers_ref(uint16_t num[WD_TOPV_NUMS], const char *text, size_t len) {
  const unsigned char *t = (const unsigned char *)text;
  uint16_t all[256];
  size_t nall = 0;
  for (size_t a = 0, b; a < len; a = b + 1) {
    for (b = a; b < len && t[b] > ' ';)
      b++;
    if (b == a || (!isdigit(t[a]) && !strchr(".,\xd9\xdb", t[a])))
      continue;
    char digits[32];
    size_t nd = 0, k;
    int ok = 1;
    for (size_t i = a; i < b; i += k) {
      const int d = ref_digit(t, i, len, &k);
      ok &= d != -2;
      if (d >= 0 && nd < sizeof(digits))
        digits[nd++] = (char)('0' + d);
    }
    if (ok && nd >= 2)
      all[nall++] = (uint16_t)wd_mix64(XXH3_64bits(digits, nd));
  }
  qsort(all, nall, sizeof(*all), cmp_u16);
  uint8_t n = 0;
  for (size_t i = 0; i < nall && n < WD_TOPV_NUMS; i++)
    if (!n || all[i] != num[n - 1])
      num[n++] = all[i];
  return n;
}

/* Random texts of the bytes the scan tells apart (digits, '.', ',',
 * separators, letters, Arabic-Indic digits and other Arabic letters, tokens
 * across word boundaries and in the tail), at every alignment. */
static int test_numbers_scan(void) {
  static const char *const atoms[] = {
      "1", "7", "0", ".", ",", " ", "\n", "\t", "a", "z", "q", "-", "'",
      "\xd9\xa1", "\xdb\xb5", "\xd9\x81", "\xdb\x8c", "\xd9", "\xdb", "\xa9", "\xff"};
  const size_t natoms = sizeof(atoms) / sizeof(atoms[0]);
  unsigned long long rng = wd_t_seed(7070);
  char buf[400];
  for (int iter = 0; iter < 20000; iter++) {
    const size_t off = wd_t_rand(&rng) % 8, want = wd_t_rand(&rng) % 120;
    size_t len = 0;
    while (len < want) {
      const char *a = atoms[wd_t_rand(&rng) % natoms];
      /* digits come in runs so that numbers of 2+ digits are common */
      const size_t rep = a[0] >= '0' && a[0] <= '9' ? 1 + wd_t_rand(&rng) % 6 : 1;
      for (size_t r = 0; r < rep && off + len + 2 < sizeof(buf); r++) {
        memcpy(buf + off + len, a, strlen(a));
        len += strlen(a);
      }
    }
    uint16_t got[WD_TOPV_NUMS] = {0}, ref[WD_TOPV_NUMS];
    const uint8_t ng = wd_topv_numbers(got, buf + off, len);
    const uint8_t nr = numbers_ref(ref, buf + off, len);
    WD_T_ASSERT(ng == nr && !memcmp(got, ref, nr * sizeof(*ref)),
                "iteration %d (len %zu): %u numbers, want %u", iter, len, ng, nr);
  }
  return 0;
}

/* A vector of ten words from a vocabulary of \p vocab, word i weighing 10 - i. */
static void rand_vec(wd_topv_t *v, unsigned long long *rng, unsigned vocab) {
  uint64_t k[10];
  float w[10];
  for (int i = 0; i < 10; i++)
    k[i] = word_key(wd_t_rand(rng) % vocab), w[i] = (float)(10 - i);
  wd_topv_build(v, k, w, 10, WD_TOPV_MAX);
}

/* The vectors, kept by the caller as the cluster store keeps them. */
typedef struct vecs_s {
  const wd_topv_t *all;
  uint32_t base; /* doc number of all[0] */
} vecs_t;

static const wd_topv_t *vecs_get(void *ctx, uint32_t doc) {
  const vecs_t *v = ctx;
  return &v->all[doc - v->base];
}

/* The index never returns an evicted doc, never one twice, and finds a doc
 * with the same vector whenever it is among the newest WD_TOPV_BUCKET
 * filed under one of the query's keys (checked by brute force). */
static int test_store_churn(void) {
  unsigned long long rng = wd_t_seed(424242);
  enum { N = 20000, LIVE = 3000 };
  wd_topv_t *all = wd_malloc(N * sizeof(*all));
  uint32_t out[WD_TOPV_PROBE * WD_TOPV_BUCKET];
  uint32_t base = 4000000000u; /* doc numbers wrap on the way */
  vecs_t vecs = {all, base};
  wd_topv_index_t *ix = wd_topv_index_new(vecs_get, &vecs);
  int missed = 0;
  for (uint32_t i = 0; i < N; i++) {
    rand_vec(&all[i], &rng, 60000);
    /* live before doc i is appended: lo .. i - 1 */
    const uint32_t lo = i >= LIVE ? i - LIVE + 1 : 0;
    if (i % 97 == 0) {
      /* query with a copy of a live doc: it must come back */
      if (i > lo) {
        const uint32_t want = lo + (uint32_t)(wd_t_rand(&rng) % (i - lo));
        const size_t n = wd_topv_index_query(ix, &all[want], base + lo, i - lo, out,
                                             sizeof(out) / sizeof(out[0]));
        int found = 0;
        for (size_t j = 0; j < n; j++) {
          const uint32_t d = out[j] - base;
          WD_T_ASSERT(d >= lo && d < i, "doc %u is not live (%u..%u)", d, lo, i);
          for (size_t q = 0; q < j; q++)
            WD_T_ASSERT(out[q] != out[j], "doc %u twice", d);
          found |= d == want;
        }
        /* it may have been pushed out of every bucket by newer docs filed
         * under the same keys: count, and require that to be rare */
        missed += !found;
      }
    }
    wd_topv_index_add(ix, base + lo, i - lo + 1);
  }
  WD_T_ASSERT(missed <= 2, "%d of %d live copies not found", missed, N / 97);
  WD_T_ASSERT(wd_topv_index_bytes(ix) > 0, "bytes");
  wd_topv_index_destroy(ix);
  wd_free(all);
  return 0;
}

/* ==== The word rule, end to end ==== */

static char tmpdir[256];

/* Background article i: common words and two rare words of its own, so the
 * common words' document frequency is high when the stories come. */
static void background(char *dst, size_t cap, int i) {
  unsigned long long rng = 99991ULL * (unsigned long long)(i + 1);
  size_t o = 0;
  for (int w = 0; w < 120 && o + 24 < cap; w++)
    o += (size_t)snprintf(dst + o, cap - o, "c%u ", (unsigned)(wd_t_rand(&rng) % 200));
  snprintf(dst + o, cap - o, "bg%dx bg%dy", i, i);
}

/* A story told by one writer (\p hand): the story's 12 rare words among 192
 * common words of the writer's own choosing, and \p figures. */
static void story(char *dst, size_t cap, int hand, const char *figures) {
  unsigned long long rng = 7919ULL * (unsigned long long)(hand + 1);
  size_t o = 0;
  for (int w = 0; w < 192 && o + 32 < cap; w++) {
    if (w % 16 == 0)
      o += (size_t)snprintf(dst + o, cap - o, "rare%u ", (unsigned)((w / 16 + hand) % 12));
    o += (size_t)snprintf(dst + o, cap - o, "c%u ", (unsigned)(wd_t_rand(&rng) % 200));
  }
  snprintf(dst + o, cap - o, "%s", figures);
}

static wd_err_t feed(wd_engine_t *eng, const char *id, const char *source, const char *body,
                     wd_result_t *res) {
  char json[8192], err[256];
  snprintf(json, sizeof(json), "{\"id\":\"%s\",\"source\":\"%s\",\"body\":\"%s\"}", id, source,
           body);
  return wd_engine_process(eng, json, strlen(json), NULL, 0, -1, res, err, sizeof(err));
}

static wd_engine_t *fresh(const wd_config_t *cfg) {
  char e[256], body[4096], id[32];
  wd_result_t r;
  wd_engine_t *eng = wd_engine_new(cfg, e, sizeof(e));
  if (!eng)
    return NULL;
  for (int i = 0; i < 300; i++) {
    background(body, sizeof(body), i);
    snprintf(id, sizeof(id), "bg%d", i);
    if (feed(eng, id, "wire", body, &r) != WD_OK)
      return NULL;
  }
  return eng;
}

/* A config with SimHash's own rules off, so only the word rule can link a
 * rewrite the shingles miss; \p word_cosine NULL keeps its default. */
static wd_config_t *rules(const char *word_cosine) {
  char e[256];
  wd_config_t *cfg = wd_config_new();
  if (wd_config_set(cfg, "cluster.cosine", "1", e, sizeof(e)) != WD_OK ||
      wd_config_set(cfg, "cluster.joint_cosine", "1", e, sizeof(e)) != WD_OK ||
      (word_cosine &&
       wd_config_set(cfg, "cluster.word_cosine", word_cosine, e, sizeof(e)) != WD_OK)) {
    wd_config_destroy(cfg);
    return NULL;
  }
  return cfg;
}

/* An earnings report's figures: six numbers in about 210 words. */
#define FIGURES "shr 12 cts vs 15 cts net 1234 vs 1120 revs 98 vs 87"

static int test_word_rule(void) {
  char e[256], a[4096], b[4096];
  wd_result_t r;
  wd_config_t *cfg = rules(NULL);
  wd_engine_t *eng = fresh(cfg);
  WD_T_ASSERT(eng, "engine");
  story(a, sizeof(a), 0, FIGURES);
  WD_T_ASSERT(feed(eng, "agency", "app", a, &r) == WD_OK && !r.duplicate_of, "agency story");
  /* different figures: a templated story, not a copy (figure-dense, as
   * templated reports are: the story layer weighs figures only then) */
  story(b, sizeof(b), 7, "shr 31 cts vs 44 cts net 2345 vs 2230 revs 76 vs 65");
  WD_T_ASSERT(feed(eng, "template", "paper", b, &r) == WD_OK, "template");
  WD_T_ASSERT(!r.duplicate_of, "figures disagree, joined %s", r.cluster_id);
  WD_T_ASSERT(!strcmp(r.story_id, "template"), "figures disagree, story %s", r.story_id);
  /* the agency telling it again: its own cluster, the same story */
  char again[4096];
  story(again, sizeof(again), 3, FIGURES);
  WD_T_ASSERT(feed(eng, "again", "app", again, &r) == WD_OK, "again");
  WD_T_ASSERT(!r.duplicate_of && !strcmp(r.story_id, "agency"), "again: cluster %s story %s",
              r.cluster_id, r.story_id);
  story(b, sizeof(b), 5, FIGURES);
  /* the same outlet telling it again is not linked by this rule */
  wd_engine_t *same = fresh(cfg);
  WD_T_ASSERT(feed(same, "agency", "app", a, &r) == WD_OK, "agency (same)");
  WD_T_ASSERT(feed(same, "again", "app", b, &r) == WD_OK && !r.duplicate_of,
              "same-outlet rewrite joined %s", r.cluster_id);
  wd_engine_destroy(same);
  /* off: nothing but MinHash and SimHash, which miss the rewrite */
  wd_config_t *off = rules("1");
  wd_engine_t *plain = fresh(off);
  WD_T_ASSERT(feed(plain, "agency", "app", a, &r) == WD_OK, "agency (off)");
  WD_T_ASSERT(feed(plain, "paper", "paper", b, &r) == WD_OK && !r.duplicate_of,
              "without the rule the rewrite is missed (joined %s)", r.cluster_id);
  wd_engine_destroy(plain);
  wd_config_destroy(off);

  /* another outlet's rewrite joins, also after a checkpoint round trip */
  snprintf(tmpdir, sizeof(tmpdir), "/tmp/wd-topv-%d", (int)getpid());
  WD_T_ASSERT(wd_engine_save(eng, tmpdir, NULL, NULL, e, sizeof(e)) == WD_OK, "%s", e);
  wd_engine_t *two = wd_engine_new(cfg, e, sizeof(e));
  WD_T_ASSERT(wd_engine_load(two, tmpdir, NULL, NULL, e, sizeof(e)) == WD_OK, "%s", e);
  char p[512];
  wd_state_path(p, sizeof(p), tmpdir);
  unlink(p);
  rmdir(tmpdir);
  for (wd_engine_t *x = eng; x; x = x == eng ? two : NULL) {
    const char *which = x == eng ? "live" : "restored";
    WD_T_ASSERT(feed(x, "paper", "paper", b, &r) == WD_OK, "rewrite");
    WD_T_ASSERT(r.duplicate_of && !strcmp(r.duplicate_of, "agency"), "%s: rewrite joined %s",
                which, r.duplicate_of ? r.duplicate_of : "nothing");
    /* a copy of "again" joins its cluster, which keeps its story */
    WD_T_ASSERT(feed(x, "mirror", "mirror", again, &r) == WD_OK, "mirror");
    WD_T_ASSERT(!strcmp(r.cluster_id, "again") && !strcmp(r.story_id, "agency"),
                "%s: copy in cluster %s story %s", which, r.cluster_id, r.story_id);
  }
  wd_engine_destroy(eng);
  wd_engine_destroy(two);
  wd_config_destroy(cfg);
  return 0;
}

/* Packed vectors (the cluster store's): for every n from 0 to WD_TOPV_MAX,
 * keys from narrow ranges (many repeats) to the whole 16 bits, 0 and 65535
 * included, unpack to exactly the vector packed, and a checkpoint vector
 * whose keys do not ascend is refused rather than packed. */
static int test_pack(void) {
  unsigned long long rng = wd_t_seed(606);
  for (uint32_t round = 0; round < 200; round++) {
    for (uint32_t n = 0; n <= WD_TOPV_MAX; n++) {
      wd_topv_t v, u;
      wd_topv_packed_t p;
      memset(&v, 0, sizeof(v));
      const uint32_t span = round % 4 == 0   ? 8
                            : round % 4 == 1 ? 65536
                                             : 1 + (uint32_t)(wd_t_rand(&rng) % 65536);
      const uint32_t lo = (uint32_t)(wd_t_rand(&rng) % (65537 - span));
      for (uint32_t i = 0; i < n; i++) {
        v.key[i] = (uint16_t)(lo + wd_t_rand(&rng) % span);
        v.q[i] = (uint8_t)(1 + wd_t_rand(&rng) % 255);
      }
      if (round % 8 == 3 && n) {
        v.key[0] = 0;
        v.key[n - 1] = 65535;
      }
      for (uint32_t i = 1; i < n; i++) /* ascending, as wd_topv_build leaves them */
        for (uint32_t j = i; j > 0 && v.key[j] < v.key[j - 1]; j--) {
          const uint16_t t = v.key[j];
          v.key[j] = v.key[j - 1];
          v.key[j - 1] = t;
        }
      v.n = (uint8_t)n;
      v.nnum = (uint8_t)(wd_t_rand(&rng) % (WD_TOPV_NUMS + 1));
      for (uint32_t i = 0; i < v.nnum; i++)
        v.num[i] = (uint16_t)wd_t_rand(&rng);
      v.scale = n ? 1.0f / (float)n : 0.0f;
      v.src = (uint32_t)wd_t_rand(&rng);
      wd_topv_pack(&p, &v);
      wd_topv_unpack(&u, &p);
      WD_T_ASSERT(memcmp(&u, &v, sizeof(v)) == 0,
                  "round %u, n %u, keys %u..%u: unpacked differs", round, n, lo,
                  lo + span - 1);
    }
  }
  WD_T_ASSERT(sizeof(wd_topv_packed_t) + 32 <= sizeof(wd_topv_t), "packed %zu of %zu bytes",
              sizeof(wd_topv_packed_t), sizeof(wd_topv_t));
  /* u8 n, u8 nnum, u32 scale, u32 src, keys 7 then 5, weights */
  const uint8_t rec[] = {2, 0, 0, 0, 128, 63, 0, 0, 0, 0, 7, 0, 5, 0, 10, 20};
  wd_state_r_t r = {.p = rec, .end = rec + sizeof(rec)};
  wd_topv_t v;
  WD_T_ASSERT(wd_topv_read(&r, &v) == -1, "keys out of order refused");
  uint8_t ok[sizeof(rec)];
  memcpy(ok, rec, sizeof(rec));
  ok[10] = 5, ok[12] = 7;
  r = (wd_state_r_t){.p = ok, .end = ok + sizeof(ok)};
  WD_T_ASSERT(wd_topv_read(&r, &v) == 0 && v.n == 2 && v.key[0] == 5 && v.key[1] == 7 &&
                  v.q[1] == 20 && v.scale == 1.0f,
              "ascending keys read");
  return 0;
}

/* A random vector of n words with keys in [lo, lo + span), ascending (so
 * repeats when the span is small), as wd_topv_build leaves them. */
static void rand_keys_vec(wd_topv_t *v, unsigned long long *rng, uint32_t n, uint32_t lo,
                     uint32_t span) {
  memset(v, 0, sizeof(*v));
  for (uint32_t i = 0; i < n; i++) {
    v->key[i] = (uint16_t)(lo + wd_t_rand(rng) % span);
    v->q[i] = (uint8_t)(1 + wd_t_rand(rng) % 255);
  }
  for (uint32_t i = 1; i < n; i++)
    for (uint32_t j = i; j > 0 && v->key[j] < v->key[j - 1]; j--) {
      const uint16_t t = v->key[j];
      const uint8_t tq = v->q[j];
      v->key[j] = v->key[j - 1], v->q[j] = v->q[j - 1];
      v->key[j - 1] = t, v->q[j - 1] = tq;
    }
  v->n = (uint8_t)n;
  double ss = 0;
  for (uint32_t i = 0; i < n; i++)
    ss += (double)v->q[i] * v->q[i];
  v->scale = n ? (float)(1.0 / sqrt(ss)) : 0.0f;
}

/* The probe's cosine is the merge's, bit for bit: vectors of every length,
 * keys dense (many shared, repeats in either vector) or sparse, one probe
 * set and cleared over and over (a clear must leave no weight behind). */
static int test_probe_cosine(void) {
  unsigned long long rng = wd_t_seed(707);
  wd_topv_probe_t *p = wd_topv_probe_new();
  uint32_t shared = 0, repeats = 0;
  for (uint32_t round = 0; round < 3000; round++) {
    wd_topv_t a, b;
    const uint32_t span = round % 3 == 0 ? 40 : round % 3 == 1 ? 300 : 65536;
    const uint32_t lo = (uint32_t)(wd_t_rand(&rng) % (65537 - span));
    rand_keys_vec(&a, &rng, (uint32_t)(wd_t_rand(&rng) % (WD_TOPV_MAX + 1)), lo, span);
    wd_topv_probe_set(p, &a);
    for (uint32_t k = 0; k < 4; k++) {
      rand_keys_vec(&b, &rng, (uint32_t)(wd_t_rand(&rng) % (WD_TOPV_MAX + 1)), lo, span);
      const double want = wd_topv_cosine(&a, &b), got = wd_topv_probe_cosine(p, &b);
      WD_T_ASSERT(got == want, "round %u: probe %.17g, merge %.17g (n %u, %u)", round, got,
                  want, a.n, b.n);
      shared += want > 0.0;
      for (uint32_t i = 1; i < b.n; i++)
        repeats += b.key[i] == b.key[i - 1];
    }
    wd_topv_probe_clear(p);
  }
  WD_T_ASSERT(shared > 3000 && repeats > 1000, "the cases happen: %u shared, %u repeats",
              shared, repeats);
  wd_topv_probe_destroy(p);
  return 0;
}

int main(void) {
  WD_T_RUN(test_build_and_cosine);
  WD_T_RUN(test_build_vs_reference);
  WD_T_RUN(test_numbers);
  WD_T_RUN(test_numbers_scan);
  WD_T_RUN(test_store_churn);
  WD_T_RUN(test_word_rule);
  WD_T_RUN(test_pack);
  WD_T_RUN(test_probe_cosine);
  return WD_T_DONE();
}
