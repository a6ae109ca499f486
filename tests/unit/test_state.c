/* test_state.c - bounded, durable similarity memory: eviction by event time
 * and by cap, late articles, checkpoint round trips (one-shot against
 * save-and-restore), refusal of truncated / corrupt / incompatible
 * checkpoints, the error of 16-bit b-bit signatures, and stories restored. */
#include "wd_test.h"
#include "wiredup/cluster.h"
#include "wiredup/config.h"
#include "wiredup/engine.h"
#include "wiredup/mem.h"
#include "wiredup/minhash.h"
#include "wiredup/state.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static void rm_state(const char *dir) {
  char p[512];
  wd_state_path(p, sizeof(p), dir);
  unlink(p);
  rmdir(dir);
}

/* A story: 80 words drawn from a seeded generator; variant v changes one word. */
static void story(char *dst, size_t cap, int story_no, int variant) {
  unsigned long long rng = 1000003ULL * (unsigned long long)(story_no + 1);
  size_t o = 0;
  for (int w = 0; w < 80 && o + 16 < cap; w++) {
    unsigned v = (unsigned)(wd_t_rand(&rng) % 50000);
    if (variant && w == 40 + variant)
      v = 60000u + (unsigned)variant;
    o += (size_t)snprintf(dst + o, cap - o, "%sw%u", w ? " " : "", v);
  }
}

static wd_err_t feed(wd_engine_t *eng, const char *id, int story_no, int variant,
                     long long ts_ms, wd_result_t *res) {
  char body[2048], json[4096], err[256];
  story(body, sizeof(body), story_no, variant);
  snprintf(json, sizeof(json), "{\"id\":\"%s\",\"body\":\"%s\",\"published_at\":%lld}", id,
           body, ts_ms);
  return wd_engine_process(eng, json, strlen(json), NULL, 0, -1, res, err, sizeof(err));
}

#define T0 1750000000000LL
#define MIN 60000LL
#define HOUR 3600000LL

static int test_evict_by_event_time(void) {
  char e[256];
  wd_config_t *cfg = wd_config_new();
  WD_T_ASSERT(wd_config_set(cfg, "index.window", "1h", e, sizeof(e)) == WD_OK, "%s", e);
  WD_T_ASSERT(wd_config_set(cfg, "index.allowed_lateness", "10m", e, sizeof(e)) == WD_OK,
              "%s", e);
  wd_engine_t *eng = wd_engine_new(cfg, e, sizeof(e));
  WD_T_ASSERT(eng, "%s", e);
  wd_result_t r;
  wd_engine_stats_t st;

  WD_T_ASSERT(feed(eng, "a1", 1, 0, T0, &r) == WD_OK, "a1");
  WD_T_ASSERT(feed(eng, "a2", 1, 1, T0 + 30 * MIN, &r) == WD_OK, "a2");
  WD_T_ASSERT(r.duplicate_of && !strcmp(r.cluster_id, "a1"), "a2 joins a1: %s", r.cluster_id);
  /* watermark = T0+2h-10m; horizon = T0+50m: a1 and a2 go before b1 is decided */
  WD_T_ASSERT(feed(eng, "b1", 2, 0, T0 + 2 * HOUR, &r) == WD_OK, "b1");
  wd_engine_stats(eng, &st);
  WD_T_ASSERT(st.evicted == 2 && st.index_docs == 1, "evicted %llu, docs %llu",
              (unsigned long long)st.evicted, (unsigned long long)st.index_docs);
  WD_T_ASSERT(st.clusters_open == 1, "cluster a1 left the table: %llu open",
              (unsigned long long)st.clusters_open);
  WD_T_ASSERT(st.watermark_ms == T0 + 2 * HOUR - 10 * MIN, "watermark %lld",
              (long long)st.watermark_ms);
  /* a copy of story 1 now starts a new cluster: its earlier copies are gone */
  WD_T_ASSERT(feed(eng, "a3", 1, 2, T0 + 2 * HOUR + MIN, &r) == WD_OK, "a3");
  WD_T_ASSERT(!r.duplicate_of && !strcmp(r.cluster_id, "a3"), "a3 is new: %s",
              r.cluster_id);
  /* a late copy (behind the watermark) still gets an answer from the index */
  WD_T_ASSERT(feed(eng, "a4", 1, 3, T0 + 5 * MIN, &r) == WD_OK, "a4");
  WD_T_ASSERT(r.duplicate_of && !strcmp(r.cluster_id, "a3"), "late a4 joins a3: %s",
              r.cluster_id);
  /* an article just inside the lateness is not late */
  WD_T_ASSERT(feed(eng, "c1", 3, 0, T0 + 2 * HOUR - 5 * MIN, &r) == WD_OK, "c1");
  wd_engine_stats(eng, &st);
  WD_T_ASSERT(st.late == 1, "late %llu", (unsigned long long)st.late);
  /* a redelivered evicted id is processed again, not answered from memory */
  WD_T_ASSERT(feed(eng, "a1", 1, 0, T0, &r) == WD_OK && !r.redelivered, "a1 again");
  WD_T_ASSERT(!strcmp(r.cluster_id, "a3"), "a1 now joins a3: %s", r.cluster_id);
  wd_engine_destroy(eng);
  wd_config_destroy(cfg);
  return 0;
}

static int test_evict_by_cap(void) {
  char e[256], id[32];
  wd_config_t *cfg = wd_config_new();
  WD_T_ASSERT(wd_config_set(cfg, "index.max_articles", "3", e, sizeof(e)) == WD_OK, "%s", e);
  wd_engine_t *eng = wd_engine_new(cfg, e, sizeof(e));
  wd_result_t r;
  wd_engine_stats_t st;
  for (int i = 0; i < 5; i++) {
    snprintf(id, sizeof(id), "s%d", i);
    WD_T_ASSERT(feed(eng, id, 10 + i, 0, T0 + i * MIN, &r) == WD_OK, "%s", id);
  }
  wd_engine_stats(eng, &st);
  WD_T_ASSERT(st.index_docs == 3 && st.evicted == 2, "docs %llu evicted %llu",
              (unsigned long long)st.index_docs, (unsigned long long)st.evicted);
  WD_T_ASSERT(feed(eng, "s0b", 10, 1, T0 + 10 * MIN, &r) == WD_OK, "s0b");
  WD_T_ASSERT(!r.duplicate_of, "oldest story was evicted: joined %s", r.cluster_id);
  WD_T_ASSERT(feed(eng, "s4b", 14, 1, T0 + 11 * MIN, &r) == WD_OK, "s4b");
  WD_T_ASSERT(r.duplicate_of && !strcmp(r.cluster_id, "s4"), "newest kept: %s",
              r.cluster_id);
  wd_engine_stats(eng, &st);
  WD_T_ASSERT(st.index_docs == 3, "cap holds: %llu", (unsigned long long)st.index_docs);
  wd_engine_destroy(eng);
  wd_config_destroy(cfg);
  return 0;
}

/* Record i's id in test_round_trip: every 7th record redelivers the one
 * from 50 records back (still live, after chunks were freed); from 3900
 * on, the ids of long-evicted records come back as new articles. */
static int id_of(int i) {
  if (i > 100 && i % 7 == 0)
    return id_of(i - 50);
  return i >= 3900 ? i - 3900 : i;
}

/* One stream of answers, with eviction, chunk turnover: an engine saved
 * and restored halfway must answer the rest exactly like an uninterrupted one. */
static int test_round_trip(void) {
  char e[256], id[32], dir[300];
  wd_config_t *cfg = wd_config_new();
  WD_T_ASSERT(wd_config_set(cfg, "index.max_articles", "1500", e, sizeof(e)) == WD_OK, "%s", e);
  WD_T_ASSERT(wd_config_set(cfg, "index.window", "2h", e, sizeof(e)) == WD_OK, "%s", e);
  snprintf(dir, sizeof(dir), "%s/rt", tmpdir);
  wd_engine_t *one = wd_engine_new(cfg, e, sizeof(e));
  wd_engine_t *two = wd_engine_new(cfg, e, sizeof(e));
  unsigned long long rng = wd_t_seed(42);
  const int n = 4000, half = 2600;
  wd_state_offsets_t offs = {0};
  for (int i = 0; i < n; i++) {
    int s = (int)(wd_t_rand(&rng) % 1200), v = (int)(wd_t_rand(&rng) % 5);
    long long ts = T0 + i * 10000LL - (long long)(wd_t_rand(&rng) % 600000);
    wd_result_t a, b;
    char ca[256], cb[256];
    const int redeliver = i > 100 && i % 7 == 0;
    snprintf(id, sizeof(id), "d%d", id_of(i));
    WD_T_ASSERT(feed(one, id, s, v, ts, &a) == WD_OK, "one %d", i);
    WD_T_ASSERT(feed(two, id, s, v, ts, &b) == WD_OK, "two %d", i);
    WD_T_ASSERT(a.redelivered == redeliver, "record %d (%s): redelivered %d", i, id,
                a.redelivered);
    snprintf(ca, sizeof(ca), "%s %s %s %.6f %u %d", a.id, a.cluster_id,
             a.duplicate_of ? a.duplicate_of : "-", a.similarity, a.cluster_size,
             a.redelivered);
    snprintf(cb, sizeof(cb), "%s %s %s %.6f %u %d", b.id, b.cluster_id,
             b.duplicate_of ? b.duplicate_of : "-", b.similarity, b.cluster_size,
             b.redelivered);
    WD_T_ASSERT(!strcmp(ca, cb), "record %d: uninterrupted '%s', restored '%s'", i, ca, cb);
    if (i == half) {
      wd_state_offsets_set(&offs, "articles", 3, i + 1);
      WD_T_ASSERT(wd_engine_save(two, dir, &offs, NULL, e, sizeof(e)) == WD_OK, "%s", e);
      wd_engine_destroy(two);
      two = wd_engine_new(cfg, e, sizeof(e));
      wd_state_offsets_clear(&offs);
      WD_T_ASSERT(wd_engine_load(two, dir, &offs, NULL, e, sizeof(e)) == WD_OK, "%s", e);
      WD_T_ASSERT(wd_state_offsets_get(&offs, "articles", 3) == half + 1, "offset");
      WD_T_ASSERT(wd_state_offsets_get(&offs, "articles", 2) == -1, "no offset");
    }
  }
  wd_engine_stats_t s1, s2;
  wd_engine_stats(one, &s1);
  wd_engine_stats(two, &s2);
  WD_T_ASSERT(s1.evicted > 1000, "the test evicts: %llu", (unsigned long long)s1.evicted);
  WD_T_ASSERT(s1.evicted == s2.evicted && s1.index_docs == s2.index_docs &&
                  s1.duplicates == s2.duplicates && s1.late == s2.late,
              "stats differ after restore");
  wd_state_offsets_clear(&offs);
  wd_engine_destroy(one);
  wd_engine_destroy(two);
  rm_state(dir);
  wd_config_destroy(cfg);
  return 0;
}

/* An engine that saw nothing saves and loads too (a stream stopped before
 * its first record still writes its final checkpoint). */
static int test_empty_round_trip(void) {
  char e[256], dir[300];
  wd_config_t *cfg = wd_config_new();
  snprintf(dir, sizeof(dir), "%s/empty", tmpdir);
  wd_engine_t *eng = wd_engine_new(cfg, e, sizeof(e));
  WD_T_ASSERT(wd_engine_save(eng, dir, NULL, NULL, e, sizeof(e)) == WD_OK, "%s", e);
  wd_engine_destroy(eng);
  eng = wd_engine_new(cfg, e, sizeof(e));
  WD_T_ASSERT(wd_engine_load(eng, dir, NULL, NULL, e, sizeof(e)) == WD_OK, "%s", e);
  wd_result_t r;
  WD_T_ASSERT(feed(eng, "e1", 1, 0, T0, &r) == WD_OK && !r.duplicate_of, "works after");
  wd_engine_destroy(eng);
  rm_state(dir);
  wd_config_destroy(cfg);
  return 0;
}

static int load_expect(const wd_config_t *cfg, const char *dir, const char *want) {
  char e[512];
  wd_engine_t *eng = wd_engine_new(cfg, e, sizeof(e));
  wd_err_t err = wd_engine_load(eng, dir, NULL, NULL, e, sizeof(e));
  wd_engine_destroy(eng);
  char path[512];
  wd_state_path(path, sizeof(path), dir);
  WD_T_ASSERT(err == WD_ERR_STATE, "loaded (%d) although %s", (int)err, want);
  WD_T_ASSERT(strstr(e, path) && strstr(e, want), "message '%s' lacks '%s' or the path", e,
              want);
  return 0;
}

/* Checkpoint into \p dir an engine fed \p n articles (\p per stories, ids
 * x0, x1, ...). @returns 0, or 1 if a step failed. */
static int save_fed(const wd_config_t *cfg, const char *dir, int n, int per) {
  char e[256], id[16];
  wd_engine_t *eng = wd_engine_new(cfg, e, sizeof(e));
  wd_result_t r;
  int bad = !eng;
  for (int i = 0; i < n && !bad; i++) {
    snprintf(id, sizeof(id), "x%d", i);
    bad = feed(eng, id, i % per, i / per, T0 + i * MIN, &r) != WD_OK;
  }
  bad = bad || wd_engine_save(eng, dir, NULL, NULL, e, sizeof(e)) != WD_OK;
  wd_engine_destroy(eng);
  return bad;
}

static int test_refuse_bad_checkpoints(void) {
  char e[256], dir[300], path[512];
  wd_config_t *cfg = wd_config_new();
  snprintf(dir, sizeof(dir), "%s/bad", tmpdir);
  WD_T_ASSERT(save_fed(cfg, dir, 50, 20) == 0, "feed and save 50");
  wd_engine_t *eng;
  wd_state_path(path, sizeof(path), dir);
  FILE *fp = fopen(path, "rb");
  static unsigned char good[1 << 22];
  size_t len = fread(good, 1, sizeof(good), fp);
  fclose(fp);
  WD_T_ASSERT(len > 1000 && len < sizeof(good), "size %zu", len);

  struct {
    const char *what;
    size_t keep; /* bytes kept */
    size_t flip; /* byte whose bit 3 is flipped, or SIZE_MAX */
    const char *want;
  } cases[] = {
      {"truncated body", len - 100, SIZE_MAX, "truncated"},
      {"truncated header", 20, SIZE_MAX, "truncated"},
      {"empty file", 0, SIZE_MAX, "truncated"},
      {"bit flip in the payload", len, len / 2, "checksum mismatch"},
      {"bit flip in the checksum", len, 26, "checksum mismatch"},
      {"bad magic", len, 1, "bad magic"},
      {"other version", len, 8, "format version"},
      {NULL, 0, 0, NULL},
  };
  int fails = 0;
  for (int c = 0; cases[c].what; c++) {
    fp = fopen(path, "wb");
    if (cases[c].flip != SIZE_MAX)
      good[cases[c].flip] ^= 8;
    fwrite(good, 1, cases[c].keep, fp);
    if (cases[c].flip != SIZE_MAX)
      good[cases[c].flip] ^= 8;
    fclose(fp);
    if (load_expect(cfg, dir, cases[c].want) != 0) {
      fprintf(stderr, "  case: %s\n", cases[c].what);
      fails++;
    }
  }
  WD_T_ASSERT(fails == 0, "%d cases loaded or gave the wrong message", fails);

  /* intact again, but another shingle size: refused, naming the key */
  fp = fopen(path, "wb");
  fwrite(good, 1, len, fp);
  fclose(fp);
  WD_T_ASSERT(wd_config_set(cfg, "shingle.size", "4", e, sizeof(e)) == WD_OK, "%s", e);
  WD_T_ASSERT(load_expect(cfg, dir, "shingle.size") == 0, "settings check");
  WD_T_ASSERT(wd_config_set(cfg, "shingle.size", "5", e, sizeof(e)) == WD_OK, "%s", e);
  eng = wd_engine_new(cfg, e, sizeof(e));
  WD_T_ASSERT(wd_engine_load(eng, dir, NULL, NULL, e, sizeof(e)) == WD_OK, "intact: %s", e);
  wd_engine_stats_t st;
  wd_engine_stats(eng, &st);
  WD_T_ASSERT(st.index_docs == 50 && st.records == 50, "restored %llu",
              (unsigned long long)st.index_docs);
  wd_engine_destroy(eng);
  rm_state(dir);
  wd_config_destroy(cfg);
  return 0;
}

/* The LSH keeps doc references of as many bits as index.max_articles needs
 * (at least 10): a checkpoint holding more articles than that is refused
 * with a message naming the key, not loaded into references that collide. */
static int test_refuse_too_many(void) {
  char e[256], dir[300];
  wd_config_t *cfg = wd_config_new();
  snprintf(dir, sizeof(dir), "%s/many", tmpdir);
  WD_T_ASSERT(save_fed(cfg, dir, 1100, 1100) == 0, "feed and save 1100");
  wd_engine_t *eng;
  WD_T_ASSERT(wd_config_set(cfg, "index.max_articles", "100", e, sizeof(e)) == WD_OK, "%s", e);
  WD_T_ASSERT(load_expect(cfg, dir, "index.max_articles") == 0, "1100 articles into 1024 refs");
  WD_T_ASSERT(wd_config_set(cfg, "index.max_articles", "1100", e, sizeof(e)) == WD_OK, "%s", e);
  eng = wd_engine_new(cfg, e, sizeof(e));
  WD_T_ASSERT(wd_engine_load(eng, dir, NULL, NULL, e, sizeof(e)) == WD_OK, "fits: %s", e);
  wd_engine_destroy(eng);
  rm_state(dir);
  wd_config_destroy(cfg);
  return 0;
}

/* The stored 16-bit values estimate Jaccard as the 32-bit ones do: a low-16
 * collision of two different values has probability 2^-16 per position. */
static int test_bbit_error(void) {
  wd_minhash_t *mh = wd_minhash_new(NULL);
  uint64_t a[400], b[400];
  uint32_t sa[128], sb[128];
  unsigned long long rng = wd_t_seed(7);
  double max_diff = 0, sum_diff = 0;
  const int pairs = 3000;
  for (int p = 0; p < pairs; p++) {
    size_t shared = (size_t)(wd_t_rand(&rng) % 400);
    for (size_t i = 0; i < 400; i++) {
      a[i] = wd_t_rand(&rng);
      b[i] = i < shared ? a[i] : wd_t_rand(&rng);
    }
    wd_minhash_sign(mh, a, 400, sa);
    wd_minhash_sign(mh, b, 400, sb);
    double full = wd_minhash_jaccard(sa, sb, 128);
    uint32_t eq16 = 0;
    for (int i = 0; i < 128; i++)
      eq16 += (uint16_t)sa[i] == (uint16_t)sb[i];
    double d = (double)eq16 / 128 - full;
    WD_T_ASSERT(d >= 0, "b-bit equality only adds matches");
    sum_diff += d;
    if (d > max_diff)
      max_diff = d;
  }
  fprintf(stderr, "  b-bit (16) Jaccard bias: mean %.2e, max %.4f over %d pairs\n",
          sum_diff / pairs, max_diff, pairs);
  WD_T_ASSERT(sum_diff / pairs < 1e-4, "mean bias %.2e", sum_diff / pairs);
  WD_T_ASSERT(max_diff <= 2.0 / 128, "max bias %.4f", max_diff);
  wd_minhash_destroy(mh);
  return 0;
}

/* wd_engine_expect sizes the index ahead and changes no answer: an engine
 * told what follows answers record for record like one that is not, and the
 * size it takes is bounded by what its window keeps (at the rate seen), not
 * by the records announced. */
static int test_expect(void) {
  char e[256], id[32];
  wd_config_t *cfg = wd_config_new(), *wide = wd_config_new();
  WD_T_ASSERT(wd_config_set(cfg, "index.window", "6h", e, sizeof(e)) == WD_OK, "%s", e);
  WD_T_ASSERT(wd_config_set(wide, "index.window", "365d", e, sizeof(e)) == WD_OK, "%s", e);
  wd_engine_t *plain = wd_engine_new(cfg, e, sizeof(e));
  wd_engine_t *told = wd_engine_new(cfg, e, sizeof(e));
  wd_engine_t *told_wide = wd_engine_new(wide, e, sizeof(e));
  unsigned long long rng = wd_t_seed(7);
  const int n = 4000, at = WD_ENGINE_EXPECT_AFTER;
  wd_engine_stats_t before, after, wide_after;
  for (int i = 0; i < n; i++) {
    int s = (int)(wd_t_rand(&rng) % 900), v = (int)(wd_t_rand(&rng) % 5);
    long long ts = T0 + i * 10000LL; /* 10 s apart: 6h + 1h lateness keep 2520 */
    wd_result_t a, b, c;
    char ca[256], cb[256], cc[256];
    snprintf(id, sizeof(id), "x%d", i);
    if (i == at) {
      wd_engine_stats(told, &before);
      wd_engine_expect(told, (uint64_t)(n - at));
      wd_engine_expect(told_wide, (uint64_t)(n - at));
      wd_engine_stats(told, &after);
      wd_engine_stats(told_wide, &wide_after);
    }
    WD_T_ASSERT(feed(plain, id, s, v, ts, &a) == WD_OK, "plain %d", i);
    WD_T_ASSERT(feed(told, id, s, v, ts, &b) == WD_OK, "told %d", i);
    WD_T_ASSERT(feed(told_wide, id, s, v, ts, &c) == WD_OK, "wide %d", i);
    snprintf(ca, sizeof(ca), "%s %s %s %.6f %u", a.id, a.cluster_id,
             a.duplicate_of ? a.duplicate_of : "-", a.similarity, a.cluster_size);
    snprintf(cb, sizeof(cb), "%s %s %s %.6f %u", b.id, b.cluster_id,
             b.duplicate_of ? b.duplicate_of : "-", b.similarity, b.cluster_size);
    WD_T_ASSERT(!strcmp(ca, cb), "record %d: plain '%s', sized ahead '%s'", i, ca, cb);
    if (i < 1000) { /* nothing evicted yet: the wide window answers the same */
      snprintf(cc, sizeof(cc), "%s %s %s %.6f %u", c.id, c.cluster_id,
               c.duplicate_of ? c.duplicate_of : "-", c.similarity, c.cluster_size);
      WD_T_ASSERT(!strcmp(ca, cc), "record %d: plain '%s', wide '%s'", i, ca, cc);
    }
  }
  WD_T_ASSERT(after.index_bytes > before.index_bytes + 64 * 3 * 1000,
              "sized ahead: %llu -> %llu bytes", (unsigned long long)before.index_bytes,
              (unsigned long long)after.index_bytes);
  /* the wide window keeps all 4000, the 6h one 2520 of them */
  WD_T_ASSERT(wide_after.index_bytes > after.index_bytes + 64 * 3 * 1000,
              "window bound: 6h %llu bytes, 365d %llu bytes",
              (unsigned long long)after.index_bytes,
              (unsigned long long)wide_after.index_bytes);
  /* every event time the same instant: no rate, so no size taken */
  wd_engine_t *instant = wd_engine_new(cfg, e, sizeof(e));
  for (int i = 0; i < at; i++) {
    wd_result_t r;
    snprintf(id, sizeof(id), "i%d", i);
    WD_T_ASSERT(feed(instant, id, i, 0, T0, &r) == WD_OK, "instant %d", i);
  }
  wd_engine_stats(instant, &before);
  wd_engine_expect(instant, 100000);
  wd_engine_stats(instant, &after);
  WD_T_ASSERT(after.index_bytes == before.index_bytes, "one instant: %llu -> %llu bytes",
              (unsigned long long)before.index_bytes, (unsigned long long)after.index_bytes);
  wd_engine_destroy(instant);
  wd_engine_destroy(plain);
  wd_engine_destroy(told);
  wd_engine_destroy(told_wide);
  wd_config_destroy(cfg);
  wd_config_destroy(wide);
  return 0;
}

/* Article j of story k: the story's 12 names (twice: they weigh) among 40
 * words of its own, so articles of a story are near in words and far in
 * phrases; and figures: four of its own in every fourth story
 * (figure-dense articles quoting other figures: the story decision's
 * veto), two of its own after 60 more words in the next (incidental
 * figures, no veto), the story's four in the others. */
static void article(char *dst, size_t cap, int k, int j) {
  unsigned long long rng = 7919ULL * (unsigned long long)(k * 100 + j + 1);
  size_t o = 0;
  for (int w = 0; w < 64 && o + 16 < cap; w++) {
    const unsigned v = w % 3 == 0 && w / 3 < 24
                           ? 900000u + (unsigned)k * 16u + (unsigned)(w / 3) % 12u
                           : (unsigned)(wd_t_rand(&rng) % 800000);
    o += (size_t)snprintf(dst + o, cap - o, "%sw%u", w ? " " : "", v);
  }
  if (k % 4 == 1) { /* a long report's two incidental figures: not dense */
    for (int w = 0; w < 60 && o + 16 < cap; w++)
      o += (size_t)snprintf(dst + o, cap - o, " w%u", (unsigned)(wd_t_rand(&rng) % 800000));
    for (int x = 0; x < 2 && o + 16 < cap; x++)
      o += (size_t)snprintf(dst + o, cap - o, " %d", 10 + (k * 1000 + j) * 2 + x);
    return;
  }
  const int f = k % 4 == 0 ? k * 1000 + j : k;
  for (int x = 0; x < 4 && o + 16 < cap; x++)
    o += (size_t)snprintf(dst + o, cap - o, " %d", 10 + f * 4 + x);
}

static int feed_story(wd_engine_t *eng, int k, int j, long long ts, char *line, size_t cap) {
  char body[2048], json[4096], e[256];
  wd_result_t r;
  article(body, sizeof(body), k, j);
  snprintf(json, sizeof(json), "{\"id\":\"s%d-%d\",\"body\":\"%s\",\"published_at\":%lld}",
           k, j, body, ts);
  if (wd_engine_process(eng, json, strlen(json), NULL, 0, -1, &r, e, sizeof(e)) != WD_OK)
    return -1;
  snprintf(line, cap, "%s %s %s", r.id, r.cluster_id, r.story_id);
  return strcmp(r.cluster_id, r.story_id) != 0; /* a cluster that joined a story */
}

/* Stories through a checkpoint: the same story ids, uninterrupted and
 * restored (the stories' member lists are rebuilt on load). */
static int test_story_round_trip(void) {
  char e[256], dir[300], la[128], lb[128];
  wd_config_t *cfg = wd_config_new();
  snprintf(dir, sizeof(dir), "%s/st", tmpdir);
  wd_engine_t *one = wd_engine_new(cfg, e, sizeof(e));
  wd_engine_t *two = wd_engine_new(cfg, e, sizeof(e));
  WD_T_ASSERT(one && two, "%s", e);
  unsigned long long rng = wd_t_seed(19);
  int joined = 0;
  const int n = 600;
  for (int i = 0; i < n; i++) {
    const int k = (int)(wd_t_rand(&rng) % 60), j = i;
    const long long ts = 1750000000000LL + i * 60000LL;
    const int a = feed_story(one, k, j, ts, la, sizeof(la));
    const int b = feed_story(two, k, j, ts, lb, sizeof(lb));
    WD_T_ASSERT(a >= 0 && b >= 0, "record %d", i);
    WD_T_ASSERT(!strcmp(la, lb), "record %d: uninterrupted '%s', restored '%s'", i, la, lb);
    joined += a;
    if (i == n / 2) {
      WD_T_ASSERT(wd_engine_save(two, dir, NULL, NULL, e, sizeof(e)) == WD_OK, "%s", e);
      wd_engine_destroy(two);
      two = wd_engine_new(cfg, e, sizeof(e));
      WD_T_ASSERT(wd_engine_load(two, dir, NULL, NULL, e, sizeof(e)) == WD_OK, "%s", e);
    }
  }
  WD_T_ASSERT(joined > n / 10, "the test makes stories of several clusters: %d", joined);
  wd_engine_destroy(one);
  wd_engine_destroy(two);
  rm_state(dir);
  wd_config_destroy(cfg);
  return 0;
}

int main(void) {
  snprintf(tmpdir, sizeof(tmpdir), "%s/wd-test-state.XXXXXX",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  WD_T_RUN(test_evict_by_event_time);
  WD_T_RUN(test_evict_by_cap);
  WD_T_RUN(test_round_trip);
  WD_T_RUN(test_story_round_trip);
  WD_T_RUN(test_expect);
  WD_T_RUN(test_empty_round_trip);
  WD_T_RUN(test_refuse_bad_checkpoints);
  WD_T_RUN(test_refuse_too_many);
  WD_T_RUN(test_bbit_error);
  rmdir(tmpdir);
  return WD_T_DONE();
}
