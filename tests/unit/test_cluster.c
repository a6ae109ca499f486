/* test_cluster.c - the near-duplicate decision: Jaccard, containment with a
 * minimum of shared shingles, SimHash cosine, the joint containment+cosine
 * rule, and redelivery answers. Fingerprints are built from synthetic
 * shingle sets so each rule can be switched on and off around one pair.
 * Stories: average linkage does not chain two unrelated stories through
 * one bridging article, a story gains members and never loses them, the
 * same input gives the same stories, and a story whose articles left the
 * window is not joined; there the heaviest-word vectors are built directly
 * (wd_topv_build), so each cosine is known, and far SimHashes and disjoint
 * shingles keep every article its own cluster. */
#include "wd_test.h"
#include "wiredup/cluster.h"
#include "wiredup/mem.h"
#include "wiredup/minhash.h"
#include "wiredup/simhash.h"
#include "wiredup/state.h"
#include "wiredup/topv.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NP 128
#define MAXSET 512

static wd_cluster_opts_t defaults(void) {
  wd_cluster_opts_t o = {
      .num_perm = NP,
      .bands = 64,
      .max_candidates = 64,
      .simhash_enabled = 1,
      .simhash_max_distance = 3,
      .threshold = 0.35,
      .containment = 0.7,
      .containment_min_shingles = 0,
      .cosine = 0.9,
      .containment_min_shared = 10,
      .joint_containment = 0.6,
      .joint_cosine = 0.7,
  };
  return o;
}

/* Shingles [lo, hi) as hashes. */
static size_t range(uint64_t *set, size_t n, uint64_t lo, uint64_t hi) {
  for (uint64_t v = lo; v < hi; v++)
    set[n++] = v * 0x9e3779b97f4a7c15ULL + 12345;
  return n;
}

/* A 64-bit hash that differs from h in exactly d bits. */
static uint64_t flip(uint64_t h, int d) {
  for (int b = 0; b < d; b++)
    h ^= 1ULL << (b * 5 % 64);
  return h;
}

typedef struct pair_s {
  uint64_t a[MAXSET], b[MAXSET];
  size_t na, nb;
  uint64_t sha, shb;
} pair_t;

/* Assign a then b in a fresh store with \p o; b's answer in *out.
 * Returns 1 when b joined a. */
static int decide(const wd_cluster_opts_t *o, const pair_t *p, wd_assign_t *out) {
  wd_minhash_t *mh = wd_minhash_new(NULL);
  wd_cluster_t *cs = wd_cluster_new(o);
  uint32_t sa[NP], sb[NP];
  wd_minhash_sign(mh, p->a, p->na, sa);
  wd_minhash_sign(mh, p->b, p->nb, sb);
  wd_doc_t da = {.id = "a", .id_len = 1, .sig = sa, .shingle_cnt = (uint32_t)p->na,
                 .simhash = p->sha};
  wd_doc_t db = {.id = "b", .id_len = 1, .sig = sb, .shingle_cnt = (uint32_t)p->nb,
                 .simhash = p->shb};
  wd_assign_t a;
  wd_cluster_assign(cs, &da, &a);
  wd_cluster_assign(cs, &db, out);
  int joined = out->duplicate_of && strcmp(out->duplicate_of, "a") == 0;
  /* The answer outlives the store only as far as the test reads it. */
  static char dup[8];
  if (out->duplicate_of) {
    snprintf(dup, sizeof(dup), "%s", out->duplicate_of);
    out->duplicate_of = dup;
  }
  out->cluster_id = NULL;
  wd_cluster_destroy(cs);
  wd_minhash_destroy(mh);
  return joined;
}

/* A trimmed copy: b is the first 60 of a's 200 shingles (Jaccard 0.3, below
 * the threshold; containment 1). Far SimHashes isolate the MinHash rules. */
static int test_containment_min_shared(void) {
  static pair_t p;
  p.na = range(p.a, 0, 0, 200);
  p.nb = range(p.b, 0, 0, 60);
  p.sha = 0x0123456789abcdefULL;
  p.shb = ~p.sha;
  wd_cluster_opts_t o = defaults();
  wd_assign_t r;
  WD_T_ASSERT(decide(&o, &p, &r), "trimmed copy joins by containment");
  WD_T_ASSERT(r.similarity >= 0.7 && r.similarity <= 1.0, "similarity %g", r.similarity);
  o.containment_min_shared = 100; /* 60 shared < 100 */
  WD_T_ASSERT(!decide(&o, &p, &r), "too few shared shingles: no containment match");
  o = defaults();
  o.containment_min_shingles = 61; /* the smaller doc has 60 */
  WD_T_ASSERT(!decide(&o, &p, &r), "containment_min_shingles still applies");

  /* The minimum counts shared shingles, not the smaller article's size:
   * 40 of a's 200 inside b (Jaccard 0.2) is enough at 10, not at 60. */
  p.na = range(p.a, 0, 1000, 1200);
  p.nb = range(p.b, 0, 1000, 1040);
  o = defaults();
  WD_T_ASSERT(decide(&o, &p, &r), "40 shared shingles: a copy (sim %g)", r.similarity);
  o.containment_min_shared = 60;
  WD_T_ASSERT(!decide(&o, &p, &r), "fewer shared shingles than the minimum: no join");
  return 0;
}

/* Partial reuse: b shares 65 of its 100 shingles with a's 182 (Jaccard 0.3,
 * containment 0.65: neither rule alone), SimHash distance 12 (cosine 0.83,
 * under cluster.cosine 0.9). Only the joint rule joins them. */
static int test_joint_rule(void) {
  static pair_t p;
  p.na = range(p.a, 0, 0, 182);
  p.nb = range(p.b, range(p.b, 0, 0, 65), 5000, 5035);
  p.sha = 0xfeedfacecafebeefULL;
  p.shb = flip(p.sha, 12);
  WD_T_ASSERT(fabs(wd_simhash_cosine(12) - 0.8315) < 1e-3, "cos(12 bits)");
  wd_cluster_opts_t o = defaults();
  wd_assign_t r;
  WD_T_ASSERT(decide(&o, &p, &r), "containment and cosine agree: join (sim %g)", r.similarity);
  WD_T_ASSERT(r.similarity >= 0.6 && r.similarity < 0.9, "similarity %g", r.similarity);
  o.joint_cosine = 0.9;
  WD_T_ASSERT(!decide(&o, &p, &r), "cosine below joint_cosine: no join");
  o = defaults();
  o.joint_containment = 0.95;
  WD_T_ASSERT(!decide(&o, &p, &r), "containment below joint_containment: no join");
  o = defaults();
  o.simhash_enabled = 0;
  WD_T_ASSERT(!decide(&o, &p, &r), "no SimHash, no joint rule");
  p.shb = flip(p.sha, 20); /* cosine 0.56 */
  o = defaults();
  WD_T_ASSERT(!decide(&o, &p, &r), "unrelated vocabulary: no join");
  return 0;
}

/* Near-identical texts join by Jaccard; the answer is stored for redelivery. */
static int test_jaccard_and_lookup(void) {
  wd_minhash_t *mh = wd_minhash_new(NULL);
  wd_cluster_opts_t o = defaults();
  wd_cluster_t *cs = wd_cluster_new(&o);
  static uint64_t a[MAXSET], b[MAXSET];
  size_t na = range(a, 0, 0, 100), nb = range(b, range(b, 0, 0, 90), 700, 710);
  uint32_t sa[NP], sb[NP];
  wd_minhash_sign(mh, a, na, sa);
  wd_minhash_sign(mh, b, nb, sb);
  wd_doc_t da = {.id = "x1", .id_len = 2, .sig = sa, .shingle_cnt = (uint32_t)na,
                 .simhash = 1};
  wd_doc_t db = {.id = "x2", .id_len = 2, .sig = sb, .shingle_cnt = (uint32_t)nb,
                 .simhash = ~1ULL};
  wd_assign_t r;
  wd_cluster_assign(cs, &da, &r);
  WD_T_ASSERT(r.duplicate_of == NULL && r.cluster_size == 1, "first starts a cluster");
  wd_cluster_assign(cs, &db, &r);
  WD_T_ASSERT(r.duplicate_of && !strcmp(r.duplicate_of, "x1"), "joined by Jaccard");
  WD_T_ASSERT(!strcmp(r.cluster_id, "x1") && r.cluster_size == 2, "cluster x1 of 2");
  WD_T_ASSERT(wd_cluster_lookup(cs, "x2", 2, &r) && r.redelivered &&
                  !strcmp(r.cluster_id, "x1"),
              "redelivery answered from memory");
  WD_T_ASSERT(!wd_cluster_lookup(cs, "x3", 2, &r), "unknown id");
  WD_T_ASSERT(wd_cluster_count(cs) == 2 && wd_cluster_clusters(cs) == 1, "counts");
  wd_cluster_destroy(cs);
  wd_minhash_destroy(mh);
  return 0;
}

/* A flood of identical articles, with eviction by cap as the engine does it:
 * the work per article is bounded by constants, not by the flood's length.
 * Checked structurally after every article: entries kept under one LSH band
 * key, LSH entries matched and SimHash entries read by the query, candidates
 * verified; and the LSH never holds more than bands x cap entries. Every copy
 * joins the first copy's cluster. */
static int test_identical_flood_bounded(void) {
  enum { N = 3000, CAP = 1000, PER_KEY = 256 };
  wd_minhash_t *mh = wd_minhash_new(NULL);
  wd_cluster_opts_t o = defaults();
  o.max_docs = CAP + 1;
  wd_cluster_t *cs = wd_cluster_new(&o);
  static uint64_t a[MAXSET];
  const size_t na = range(a, 0, 0, 300);
  uint32_t sa[NP];
  wd_minhash_sign(mh, a, na, sa);
  wd_cluster_stats_t st;
  uint32_t first_examined = 0;
  for (uint32_t i = 0; i < N; i++) {
    char id[32];
    const int n = snprintf(id, sizeof(id), "copy-%u", i);
    wd_doc_t d = {.id = id, .id_len = (size_t)n, .sig = sa, .shingle_cnt = (uint32_t)na,
                  .simhash = 0x1234567890abcdefULL};
    wd_assign_t r;
    wd_cluster_assign(cs, &d, &r);
    wd_cluster_evict(cs, INT64_MIN, CAP);
    WD_T_ASSERT(!strcmp(r.cluster_id, "copy-0"), "copy %u in cluster %s", i, r.cluster_id);
    wd_cluster_stats(cs, &st);
    WD_T_ASSERT(st.lsh.key_max <= PER_KEY && st.lsh.query_matches <= o.bands * PER_KEY &&
                    st.lsh.entries <= (size_t)o.bands * PER_KEY,
                "copy %u: %u kept under one key, %u matched, %zu entries", i, st.lsh.key_max,
                st.lsh.query_matches, st.lsh.entries);
    WD_T_ASSERT(st.verified <= o.max_candidates + 64, "copy %u: %u verified", i, st.verified);
    /* 4 blocks, WD_SIMHASH_SAME_MAX kept: one pass reads at most 4 x that
     * (the bound leaves room for a second pass) */
    WD_T_ASSERT(st.simhash_examined <= 2 * 4 * WD_SIMHASH_SAME_MAX,
                "copy %u: SimHash query read %u entries", i, st.simhash_examined);
    if (i == 2 * WD_SIMHASH_SAME_MAX)
      first_examined = st.simhash_examined;
  }
  WD_T_ASSERT(st.simhash_examined == first_examined && st.lsh.dropped > 0 &&
                  st.simhash_skipped > 0,
              "flat after the caps bind: %u then %u entries read", first_examined,
              st.simhash_examined);
  WD_T_ASSERT(wd_cluster_count(cs) == CAP, "cap holds: %zu", wd_cluster_count(cs));
  wd_cluster_destroy(cs);
  wd_minhash_destroy(mh);
  return 0;
}

/* Id strings in a steady stream: lengths 6 to 300 (past the pooled sizes),
 * a capped store evicting as it goes. Every live id still answers with its
 * own text, and once the store is full an article costs no allocation of its
 * own: what allocation is left (LSH rebuilds) stays far below one per doc. */
static int test_id_strings_steady(void) {
  enum { N = 6000, CAP = 500, LEN = 300 };
  wd_minhash_t *mh = wd_minhash_new(NULL);
  wd_cluster_opts_t o = defaults();
  o.max_docs = CAP + 1;
  wd_cluster_t *cs = wd_cluster_new(&o);
  static uint64_t a[MAXSET];
  static char id[N][LEN + 1];
  uint64_t allocs_at = 0;
  for (uint32_t i = 0; i < N; i++) {
    const size_t len = 6 + (i * 37u) % (LEN - 5);
    for (size_t k = 0; k < len; k++)
      id[i][k] = (char)('a' + (i + k * 7) % 26);
    char num[8];
    memcpy(id[i], num, (size_t)snprintf(num, sizeof(num), "%05u", i)); /* unique */
    id[i][len] = '\0';
    uint32_t sa[NP];
    const size_t na = range(a, 0, (uint64_t)i * 1000, (uint64_t)i * 1000 + 60);
    wd_minhash_sign(mh, a, na, sa);
    wd_doc_t d = {.id = id[i], .id_len = strlen(id[i]), .sig = sa,
                  .shingle_cnt = (uint32_t)na, .simhash = (uint64_t)i * 0x9e3779b97f4a7c15ULL};
    wd_assign_t r;
    if (i == N / 2)
      allocs_at = wd_mem_allocs();
    wd_cluster_assign(cs, &d, &r);
    wd_cluster_evict(cs, INT64_MIN, CAP);
    WD_T_ASSERT(!strcmp(r.cluster_id, id[i]), "doc %u starts its own cluster", i);
  }
  const double per_doc = (double)(wd_mem_allocs() - allocs_at) / (N / 2);
  WD_T_ASSERT(per_doc < 0.25, "%.3f allocations per article once full", per_doc);
  for (uint32_t i = N - CAP; i < N; i++) {
    wd_assign_t r;
    WD_T_ASSERT(wd_cluster_lookup(cs, id[i], strlen(id[i]), &r) &&
                    !strcmp(r.cluster_id, id[i]),
                "live id %u answers with its own text", i);
  }
  wd_assign_t r;
  WD_T_ASSERT(!wd_cluster_lookup(cs, id[0], strlen(id[0]), &r), "evicted id forgotten");
  wd_cluster_destroy(cs);
  wd_minhash_destroy(mh);
  return 0;
}

/* ==== Stories ==== */

#define HOUR 3600000LL

static wd_cluster_opts_t story_opts(void) {
  wd_cluster_opts_t o = defaults();
  o.word_cosine = 0.99; /* the word index on, its cluster rule out of reach */
  o.story_cosine = 0.15;
  o.story_window_ms = 24 * HOUR;
  return o;
}

/* One article: its words (ids, equal weights), own shingles and SimHash. */
typedef struct art_s {
  const char *id;
  int words[16];
  int nw;
  int64_t ts;
} art_t;

/* Assign \p a: shingles and SimHash unique to the article (seeded by \p k),
 * its vector from its words. */
static void assign(wd_cluster_t *cs, wd_minhash_t *mh, const art_t *a, int k,
                   wd_assign_t *out) {
  uint64_t sh[64], keys[16];
  float w[16];
  uint32_t sig[NP];
  wd_topv_t v;
  unsigned long long rng = 977ULL * (unsigned long long)(k + 1);
  for (int i = 0; i < 64; i++)
    sh[i] = wd_t_rand(&rng);
  for (int i = 0; i < a->nw; i++) {
    keys[i] = (uint64_t)(a->words[i] + 1) << 48; /* the word key is the top 16 bits */
    w[i] = 1.0f;
  }
  wd_minhash_sign(mh, sh, 64, sig);
  wd_topv_build(&v, keys, w, (size_t)a->nw, WD_TOPV_MAX);
  v.src = (uint32_t)k | 1u; /* every article its own outlet */
  const wd_doc_t doc = {.id = a->id, .id_len = strlen(a->id), .sig = sig,
                        .shingle_cnt = 64, .simhash = wd_t_rand(&rng), .topv = &v,
                        .ts_ms = a->ts};
  wd_cluster_assign(cs, &doc, out);
}

static double cos_of(const art_t *a, const art_t *b) {
  uint64_t ka[16], kb[16];
  float w[16];
  wd_topv_t va, vb;
  for (int i = 0; i < 16; i++)
    w[i] = 1.0f;
  for (int i = 0; i < a->nw; i++)
    ka[i] = (uint64_t)(a->words[i] + 1) << 48;
  for (int i = 0; i < b->nw; i++)
    kb[i] = (uint64_t)(b->words[i] + 1) << 48;
  wd_topv_build(&va, ka, w, (size_t)a->nw, WD_TOPV_MAX);
  wd_topv_build(&vb, kb, w, (size_t)b->nw, WD_TOPV_MAX);
  return wd_topv_cosine(&va, &vb);
}

/* Story A: three articles on one event (words 1-8, each with two of its
 * own); B shares half of A's words and half of C's (101-108); C shares
 * nothing with A. Single link would make A, B and C one story through B. */
static const art_t trial[] = {
    {"a1", {1, 2, 3, 4, 5, 6, 7, 8, 11, 12}, 10, 0},
    {"a2", {1, 2, 3, 4, 5, 6, 7, 8, 21, 22}, 10, HOUR},
    {"a3", {1, 2, 3, 4, 5, 6, 7, 8, 31, 32}, 10, 2 * HOUR},
    {"b", {1, 2, 3, 4, 101, 102, 103, 104}, 8, 3 * HOUR},
    {"c", {101, 102, 103, 104, 105, 106, 107, 108}, 8, 4 * HOUR},
};
#define NTRIAL (sizeof(trial) / sizeof(trial[0]))

/* Run trial[] in a fresh store; story ids into \p story. */
static int run_trial(char story[NTRIAL][8]) {
  wd_cluster_opts_t o = story_opts();
  wd_cluster_t *cs = wd_cluster_new(&o);
  wd_minhash_t *mh = wd_minhash_new(NULL);
  WD_T_ASSERT(cs && mh, "new");
  for (size_t i = 0; i < NTRIAL; i++) {
    wd_assign_t r;
    assign(cs, mh, &trial[i], (int)i, &r);
    WD_T_ASSERT(!r.duplicate_of, "%s starts its own cluster (joined %s)", trial[i].id,
                r.duplicate_of);
    snprintf(story[i], 8, "%s", r.story_id);
  }
  /* Never loses a member: every earlier answer is still what was said. */
  for (size_t i = 0; i < NTRIAL; i++) {
    wd_assign_t r;
    WD_T_ASSERT(wd_cluster_lookup(cs, trial[i].id, strlen(trial[i].id), &r), "lookup");
    WD_T_ASSERT(!strcmp(r.story_id, story[i]), "%s moved from story %s to %s", trial[i].id,
                story[i], r.story_id);
  }
  wd_minhash_destroy(mh);
  wd_cluster_destroy(cs);
  return 0;
}

static int test_no_chaining(void) {
  char s1[NTRIAL][8], s2[NTRIAL][8];
  /* the premises: C is as near B as B is near A, and not near A at all */
  WD_T_ASSERT(cos_of(&trial[4], &trial[3]) >= 0.15 && cos_of(&trial[3], &trial[0]) >= 0.15,
              "single-link would chain: %.3f %.3f", cos_of(&trial[4], &trial[3]),
              cos_of(&trial[3], &trial[0]));
  WD_T_ASSERT(cos_of(&trial[4], &trial[0]) == 0.0, "C shares nothing with A");
  if (run_trial(s1))
    return 1;
  WD_T_ASSERT(!strcmp(s1[1], "a1") && !strcmp(s1[2], "a1"), "A is one story: %s %s", s1[1],
              s1[2]);
  WD_T_ASSERT(!strcmp(s1[3], "a1"), "B, near A on average, joins it: %s", s1[3]);
  WD_T_ASSERT(!strcmp(s1[4], "c"), "C, near only B of A's story, starts its own: %s", s1[4]);
  /* Replayed: the same decisions. */
  if (run_trial(s2))
    return 1;
  for (size_t i = 0; i < NTRIAL; i++)
    WD_T_ASSERT(!strcmp(s1[i], s2[i]), "%s: %s then %s", trial[i].id, s1[i], s2[i]);
  return 0;
}

/* A story is joined only through its articles within story_window of event
 * time, and its entry goes with its last article. */
static int test_story_window(void) {
  wd_cluster_opts_t o = story_opts();
  wd_cluster_t *cs = wd_cluster_new(&o);
  wd_minhash_t *mh = wd_minhash_new(NULL);
  wd_assign_t r;
  art_t late = trial[1];
  late.id = "late";
  late.ts = 3 * 24 * HOUR;
  assign(cs, mh, &trial[0], 0, &r);
  assign(cs, mh, &late, 1, &r);
  WD_T_ASSERT(!strcmp(r.story_id, "late"), "two days later: its own story, not %s", r.story_id);
  art_t next = trial[2];
  next.id = "next";
  next.ts = 3 * 24 * HOUR + HOUR;
  assign(cs, mh, &next, 2, &r);
  WD_T_ASSERT(!strcmp(r.story_id, "late"), "an hour after: the late one's story, not %s",
              r.story_id);
  /* Evict all; stories go with their articles and are not joined again. */
  WD_T_ASSERT(wd_cluster_evict(cs, INT64_MAX, 0) == 3, "evicted");
  art_t again = trial[0];
  again.id = "again";
  again.ts = 3 * 24 * HOUR + 2 * HOUR;
  assign(cs, mh, &again, 3, &r);
  WD_T_ASSERT(!strcmp(r.story_id, "again"), "the evicted story is not joined: %s", r.story_id);
  WD_T_ASSERT(wd_cluster_clusters_live(cs) == 1, "one live cluster: %zu",
              wd_cluster_clusters_live(cs));
  wd_minhash_destroy(mh);
  wd_cluster_destroy(cs);
  return 0;
}

/* Figures keep a templated report out of another's story only when both
 * are about their figures. Two earnings-style reports (about 68 words, six
 * numbers each, none shared) are other stories; two court-style write-ups
 * of one hearing (about 400 words, three numbers each, none shared: an
 * age, a date, a sum) are one, though the same words link each pair. */
static int test_story_figures(void) {
  wd_cluster_opts_t o = story_opts();
  wd_cluster_t *cs = wd_cluster_new(&o);
  wd_minhash_t *mh = wd_minhash_new(NULL);
  WD_T_ASSERT(cs && mh, "new");
  static const struct {
    art_t a;
    uint32_t shingles;
    uint16_t num[6];
    uint8_t nnum;
    const char *story;
  } arts[] = {
      {{"t1", {1, 2, 3, 4, 5, 6, 7, 8, 11, 12}, 10, 0}, 64, {100, 101, 102, 103, 104, 105}, 6,
       "t1"},
      {{"t2", {1, 2, 3, 4, 5, 6, 7, 8, 21, 22}, 10, HOUR}, 64, {200, 201, 202, 203, 204, 205},
       6, "t2"},
      {{"n1", {51, 52, 53, 54, 55, 56, 57, 58, 61, 62}, 10, 0}, 400, {300, 301, 302}, 3, "n1"},
      {{"n2", {51, 52, 53, 54, 55, 56, 57, 58, 71, 72}, 10, HOUR}, 400, {400, 401, 402}, 3,
       "n1"},
  };
  for (size_t i = 0; i < sizeof(arts) / sizeof(arts[0]); i++) {
    uint64_t sh[64], keys[16];
    float w[16];
    uint32_t sig[NP];
    wd_topv_t v;
    wd_assign_t r;
    unsigned long long rng = 313ULL * (unsigned long long)(i + 1);
    for (int j = 0; j < 64; j++)
      sh[j] = wd_t_rand(&rng);
    for (int j = 0; j < arts[i].a.nw; j++) {
      keys[j] = (uint64_t)(arts[i].a.words[j] + 1) << 48;
      w[j] = 1.0f;
    }
    wd_minhash_sign(mh, sh, 64, sig);
    wd_topv_build(&v, keys, w, (size_t)arts[i].a.nw, WD_TOPV_MAX);
    v.src = (uint32_t)i | 1u;
    v.nnum = arts[i].nnum;
    memcpy(v.num, arts[i].num, sizeof(arts[i].num));
    const wd_doc_t doc = {.id = arts[i].a.id, .id_len = strlen(arts[i].a.id), .sig = sig,
                          .shingle_cnt = arts[i].shingles, .simhash = wd_t_rand(&rng),
                          .topv = &v, .ts_ms = arts[i].a.ts};
    wd_cluster_assign(cs, &doc, &r);
    WD_T_ASSERT(!r.duplicate_of, "%s starts its own cluster (joined %s)", arts[i].a.id,
                r.duplicate_of);
    WD_T_ASSERT(!strcmp(r.story_id, arts[i].story), "%s: story %s, not %s", arts[i].a.id,
                r.story_id, arts[i].story);
  }
  /* the premise: each pair is as near in words as the other */
  WD_T_ASSERT(cos_of(&arts[0].a, &arts[1].a) == cos_of(&arts[2].a, &arts[3].a) &&
                  cos_of(&arts[0].a, &arts[1].a) >= 0.15,
              "pairs equally near: %.3f %.3f", cos_of(&arts[0].a, &arts[1].a),
              cos_of(&arts[2].a, &arts[3].a));
  wd_minhash_destroy(mh);
  wd_cluster_destroy(cs);
  return 0;
}

/* The bar rises with the stories near in time: an article one heavy word
 * from a story (a one-word link, so STORY_WEAK x the bar) joins it on a
 * desk with no other story that day, and not on a desk with 250 others
 * within story_window; 250 stories two days before count for nothing.
 * near_s1 is the story, near_x the article, on day 10. */
static const art_t near_s1 = {"s1", {1, 2, 3, 4, 5, 6, 7, 8}, 8, 10 * 24 * HOUR};
static const art_t near_x = {"x", {1, 201, 202, 203, 204, 205, 206, 207}, 8,
                             10 * 24 * HOUR + HOUR};

/* 250 stories of one article each at \p ts (+ 1 ms apart), words their own. */
static int add_fillers(wd_cluster_t *cs, wd_minhash_t *mh, int64_t ts) {
  wd_assign_t r;
  for (int i = 0; i < 250; i++) {
    char id[16];
    art_t f = {id, {0}, 8, ts + i};
    snprintf(id, sizeof(id), "f%d", i);
    for (int j = 0; j < 8; j++)
      f.words[j] = 1000 + 8 * i + j;
    assign(cs, mh, &f, 100 + i, &r);
    WD_T_ASSERT(!strcmp(r.story_id, id), "%s starts its own story, not %s", id, r.story_id);
  }
  return 0;
}

static int story_after_fillers(int64_t filler_ts, char *story, size_t cap) {
  wd_cluster_opts_t o = story_opts();
  wd_cluster_t *cs = wd_cluster_new(&o);
  wd_minhash_t *mh = wd_minhash_new(NULL);
  wd_assign_t r;
  WD_T_ASSERT(cs && mh, "new");
  if (add_fillers(cs, mh, filler_ts))
    return 1;
  assign(cs, mh, &near_s1, 1, &r);
  WD_T_ASSERT(!strcmp(r.story_id, "s1"), "s1 its own story: %s", r.story_id);
  assign(cs, mh, &near_x, 2, &r);
  snprintf(story, cap, "%s", r.story_id);
  wd_minhash_destroy(mh);
  wd_cluster_destroy(cs);
  return 0;
}

static int test_story_bar_near(void) {
  char story[16];
  /* the premise: 1.2 x the bar at one story (0.15 x 0.5) < cosine <
   * 1.2 x the bar at 251 (0.15 x (1 + 0.2 ln(252 / 200))) */
  const double c = cos_of(&near_s1, &near_x);
  WD_T_ASSERT(c > 1.2 * 0.075 && c < 1.2 * 0.15 * (1 + 0.2 * log(252.0 / 200)),
              "cosine %.3f between the bars", c);
  if (story_after_fillers(near_s1.ts - HOUR / 2, story, sizeof(story)))
    return 1;
  WD_T_ASSERT(!strcmp(story, "x"), "250 other stories that day: x its own story, not %s",
              story);
  if (story_after_fillers(near_s1.ts - 2 * 24 * HOUR, story, sizeof(story)))
    return 1;
  WD_T_ASSERT(!strcmp(story, "s1"), "the 250 two days before: x joins s1, not %s", story);
  return 0;
}

static wd_err_t load_section(void *opaque, const char *tag, wd_state_r_t *r, char *why,
                             size_t why_size) {
  wd_cluster_t *cs = opaque;
  if (!strcmp(tag, "CLUS"))
    return wd_cluster_load(cs, r, why, why_size);
  if (!strcmp(tag, "TOPV"))
    return wd_cluster_load_words(cs, r, why, why_size);
  return wd_cluster_load_stories(cs, r, why, why_size);
}

/* The newest event time the bar counts from is the checkpoint's, not the
 * newest article's left after eviction: here an article a day and a half
 * ahead of the rest, evicted before the save, puts the 250 stories out of
 * the count, and a restored store answers as the uninterrupted one. */
static int test_story_bar_restored(void) {
  wd_cluster_opts_t o = story_opts();
  wd_cluster_t *one = wd_cluster_new(&o), *two = wd_cluster_new(&o);
  wd_minhash_t *mh = wd_minhash_new(NULL);
  char dir[300], e[256], path[340];
  snprintf(dir, sizeof(dir), "%s/wd-test-cluster.XXXXXX",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  WD_T_ASSERT(one && two && mh && mkdtemp(dir), "new");
  wd_assign_t r;
  const art_t lead = {"lead", {3001, 3002, 3003, 3004, 3005, 3006, 3007, 3008}, 8,
                      near_s1.ts + 30 * HOUR};
  assign(one, mh, &lead, 99, &r);
  if (add_fillers(one, mh, near_s1.ts - HOUR / 2))
    return 1;
  assign(one, mh, &near_s1, 1, &r);
  WD_T_ASSERT(wd_cluster_evict(one, INT64_MIN, 251) == 1, "the lead article evicted");
  wd_state_w_t *w = wd_state_w_open(dir, e, sizeof(e));
  WD_T_ASSERT(w, "%s", e);
  wd_cluster_save(one, w);
  wd_cluster_save_words(one, w);
  wd_cluster_save_stories(one, w);
  WD_T_ASSERT(wd_state_w_close(w, NULL, e, sizeof(e)) == WD_OK, "%s", e);
  WD_T_ASSERT(wd_state_foreach(dir, load_section, two, NULL, e, sizeof(e)) == WD_OK, "%s", e);
  assign(one, mh, &near_x, 2, &r);
  WD_T_ASSERT(!strcmp(r.story_id, "s1"), "no story that day but s1's: x joins it, not %s",
              r.story_id);
  assign(two, mh, &near_x, 2, &r);
  WD_T_ASSERT(!strcmp(r.story_id, "s1"), "restored: x joins s1 too, not %s", r.story_id);
  snprintf(path, sizeof(path), "%s/%s", dir, WD_STATE_FILE);
  unlink(path);
  rmdir(dir);
  wd_minhash_destroy(mh);
  wd_cluster_destroy(one);
  wd_cluster_destroy(two);
  return 0;
}

/* A copy that both the LSH and the SimHash index offer is verified once,
 * and still joins; a stream of copies and strangers never verifies more
 * candidates than there are distinct live articles. */
static int test_candidate_verified_once(void) {
  wd_minhash_t *mh = wd_minhash_new(NULL);
  wd_cluster_opts_t o = defaults();
  wd_cluster_t *cs = wd_cluster_new(&o);
  static uint64_t a[MAXSET];
  const size_t na = range(a, 0, 0, 300);
  uint32_t sa[NP];
  wd_minhash_sign(mh, a, na, sa);
  wd_doc_t d = {.id = "a", .id_len = 1, .sig = sa, .shingle_cnt = (uint32_t)na,
                .simhash = 0x1234567890abcdefULL};
  wd_assign_t r;
  wd_cluster_stats_t st;
  wd_cluster_assign(cs, &d, &r);
  d.id = "b";
  wd_cluster_assign(cs, &d, &r);
  wd_cluster_stats(cs, &st);
  WD_T_ASSERT(r.duplicate_of && !strcmp(r.duplicate_of, "a"), "b joins a");
  WD_T_ASSERT(st.verified == 1, "a offered by two sources, verified %u times", st.verified);
  unsigned long long rng = wd_t_seed(99);
  for (uint32_t i = 0; i < 300; i++) {
    char id[32];
    const int n = snprintf(id, sizeof(id), "d%u", i);
    static uint64_t set[MAXSET];
    const uint64_t lo = wd_t_rand(&rng) % 4 * 1000; /* four stories */
    const size_t ns = range(set, 0, lo, lo + 200 + wd_t_rand(&rng) % 50);
    uint32_t sig[NP];
    wd_minhash_sign(mh, set, ns, sig);
    wd_doc_t x = {.id = id, .id_len = (size_t)n, .sig = sig, .shingle_cnt = (uint32_t)ns,
                  .simhash = flip(0x0f0f0f0f0f0f0f0fULL * (lo + 1), (int)(wd_t_rand(&rng) % 3))};
    wd_cluster_assign(cs, &x, &r);
    wd_cluster_stats(cs, &st);
    WD_T_ASSERT(st.verified <= wd_cluster_count(cs) - 1, "d%u: %u verified, %zu earlier", i,
                st.verified, wd_cluster_count(cs) - 1);
  }
  wd_cluster_destroy(cs);
  wd_minhash_destroy(mh);
  return 0;
}

int main(void) {
  WD_T_RUN(test_identical_flood_bounded);
  WD_T_RUN(test_candidate_verified_once);
  WD_T_RUN(test_containment_min_shared);
  WD_T_RUN(test_joint_rule);
  WD_T_RUN(test_jaccard_and_lookup);
  WD_T_RUN(test_id_strings_steady);
  WD_T_RUN(test_no_chaining);
  WD_T_RUN(test_story_window);
  WD_T_RUN(test_story_figures);
  WD_T_RUN(test_story_bar_near);
  WD_T_RUN(test_story_bar_restored);
  return WD_T_DONE();
}
