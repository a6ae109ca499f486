/* bench_state.c - how much memory the similarity index takes per article, and
 * how long a checkpoint of it takes to write and to load.
 *
 * Feeds N synthetic news articles (60-120 words from a 20k-word vocabulary,
 * 30% near-duplicates of an earlier story, event times spread over 48 h so
 * the default 72 h window evicts nothing) through the engine at the default
 * settings, then saves a checkpoint, loads it into a fresh engine and checks
 * that the loaded engine answers a probe set like the original.
 *
 *   bench_state [--articles N] [--dir DIR] [--runs R]
 *
 * One machine-readable line per measurement (best of R for save and load):
 *   bench=state articles=N index_bytes=B bytes_per_article=X ...
 */
#include "wiredup/cluster.h"
#include "wiredup/config.h"
#include "wiredup/engine.h"
#include "wiredup/mem.h"
#include "wiredup/state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned long long rnd(unsigned long long *s) {
  unsigned long long z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

#define MAX_WORDS 120
#define STORIES_KEPT 4096 /* recent stories that copies are drawn from */

typedef struct story_s {
  unsigned short n;
  unsigned short w[MAX_WORDS];
} story_t;

/* Article i as JSON into buf; deterministic in i's seed sequence. */
static size_t make_article(char *buf, size_t cap, unsigned long long *rng, story_t *ring,
                           unsigned long long i, long long t0, unsigned long long n) {
  story_t s;
  if (i > 0 && rnd(rng) % 100 < 30) {
    s = ring[rnd(rng) % (i < STORIES_KEPT ? i : STORIES_KEPT)];
    s.w[rnd(rng) % s.n] = (unsigned short)(rnd(rng) % 20000); /* an edit */
  } else {
    s.n = (unsigned short)(60 + rnd(rng) % (MAX_WORDS - 60 + 1));
    for (int k = 0; k < s.n; k++)
      s.w[k] = (unsigned short)(rnd(rng) % 20000);
  }
  ring[i % STORIES_KEPT] = s;
  long long ts = t0 + (long long)(i * (48ULL * 3600000ULL) / (n ? n : 1));
  size_t o = (size_t)snprintf(buf, cap,
                              "{\"id\":\"article-%08llu\",\"source\":\"src%llu.example\","
                              "\"published_at\":%lld,\"body\":\"",
                              i, i % 50, ts);
  for (int k = 0; k < s.n && o + 16 < cap; k++)
    o += (size_t)snprintf(buf + o, cap - o, "%sw%u", k ? " " : "", s.w[k]);
  o += (size_t)snprintf(buf + o, cap - o, "\"}");
  return o;
}

int main(int argc, char **argv) {
  unsigned long long n = 1000000;
  int runs = 3;
  char dir[512] = "";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--articles") && i + 1 < argc)
      n = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
      snprintf(dir, sizeof(dir), "%s", argv[++i]);
    else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
      runs = atoi(argv[++i]);
    else {
      fprintf(stderr, "usage: %s [--articles N] [--dir DIR] [--runs R]\n", argv[0]);
      return 2;
    }
  }
  int own_dir = !*dir;
  if (own_dir) {
    snprintf(dir, sizeof(dir), "%s/wd-bench-state.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
      perror("mkdtemp");
      return 1;
    }
  }
  char errstr[512];
  wd_config_t *cfg = wd_config_new();
  if (n > (unsigned long long)cfg->index_max_articles)
    cfg->index_max_articles = (int64_t)n;
  wd_engine_t *eng = wd_engine_new(cfg, errstr, sizeof(errstr));
  if (!eng) {
    fprintf(stderr, "%s\n", errstr);
    return 1;
  }
  struct utsname un;
  uname(&un);
  printf("# machine: %s %s, %ld cpus; articles=%llu\n", un.nodename, un.machine,
         sysconf(_SC_NPROCESSORS_ONLN), n);

  static story_t ring[STORIES_KEPT];
  static char buf[8192];
  unsigned long long rng = 12345;
  const long long t0 = 1750000000000LL;
  wd_engine_stats_t st0, st;
  wd_engine_stats(eng, &st0); /* fixed tables (boilerplate, document frequencies) */
  double t = now_s(), batch_cpu = 0;
  enum { BATCH = 10000 }; /* cost of the BATCH articles ending at 1, 2, 5 x 10^k */
  for (unsigned long long i = 0; i < n; i++) {
    wd_result_t res;
    size_t len = make_article(buf, sizeof(buf), &rng, ring, i, t0, n);
    double c0 = cpu_s();
    if (wd_engine_process(eng, buf, len, NULL, 0, -1, &res, errstr, sizeof(errstr)) != WD_OK) {
      fprintf(stderr, "article %llu: %s\n", i, errstr);
      return 1;
    }
    batch_cpu += cpu_s() - c0;
    if ((i + 1) % BATCH == 0) {
      unsigned long long p = i + 1;
      while (p % 10 == 0)
        p /= 10;
      if (p == 1 || p == 2 || p == 5)
        printf("bench=state step=cost indexed=%llu cpu_us_per_article=%.1f\n", i + 1,
               batch_cpu / BATCH * 1e6);
      batch_cpu = 0;
    }
  }
  double ingest = now_s() - t;
  wd_engine_stats(eng, &st);
  const double per = (double)(st.index_bytes - st0.index_bytes) / (double)st.index_docs;
  printf("bench=state step=ingest articles=%llu seconds=%.2f docs_per_s=%.0f duplicates=%llu\n",
         (unsigned long long)st.index_docs, ingest, (double)n / ingest,
         (unsigned long long)st.duplicates);
  printf("bench=state step=memory articles=%llu index_bytes=%llu fixed_bytes=%llu "
         "bytes_per_article=%.1f mem_used=%zu\n",
         (unsigned long long)st.index_docs, (unsigned long long)st.index_bytes,
         (unsigned long long)st0.index_bytes, per, wd_mem_used());

  wd_cluster_stats_t cst;
  wd_cluster_stats(wd_engine_cluster(eng), &cst);
  const double nd = (double)(st.index_docs ? st.index_docs : 1);
  printf("bench=state step=breakdown articles=%llu sigs=%.1f records=%.1f ids=%.1f idmap=%.1f "
         "clusters=%.1f lsh=%.1f lsh_load=%.3f simhash_index=%.1f other=%.1f\n",
         (unsigned long long)st.index_docs, cst.bytes_sigs / nd, cst.bytes_records / nd,
         cst.bytes_ids / nd, cst.bytes_idmap / nd, cst.bytes_clusters / nd, cst.bytes_lsh / nd,
         cst.lsh.slots ? (double)cst.lsh.entries / (double)cst.lsh.slots : 0.0,
         cst.bytes_simhash / nd,
         per - (double)(cst.bytes_sigs + cst.bytes_records + cst.bytes_ids + cst.bytes_idmap +
                        cst.bytes_clusters + cst.bytes_lsh + cst.bytes_simhash) / nd);

  double best_save = 1e9, best_load = 1e9;
  wd_state_info_t info = {0};
  wd_engine_t *back = NULL;
  for (int r = 0; r < runs; r++) {
    if (wd_engine_save(eng, dir, NULL, &info, errstr, sizeof(errstr)) != WD_OK) {
      fprintf(stderr, "%s\n", errstr);
      return 1;
    }
    if (info.seconds < best_save)
      best_save = info.seconds;
    wd_engine_destroy(back);
    back = wd_engine_new(cfg, errstr, sizeof(errstr));
    if (wd_engine_load(back, dir, NULL, &info, errstr, sizeof(errstr)) != WD_OK) {
      fprintf(stderr, "%s\n", errstr);
      return 1;
    }
    if (info.seconds < best_load)
      best_load = info.seconds;
  }
  printf("bench=state step=checkpoint articles=%llu file_bytes=%llu file_bytes_per_article=%.1f "
         "save_s=%.3f load_s=%.3f runs=%d\n",
         (unsigned long long)info.articles, (unsigned long long)info.bytes,
         (double)info.bytes / (double)(info.articles ? info.articles : 1), best_save,
         best_load, runs);

  /* The loaded engine must answer new articles as the original does. */
  unsigned long long rng2 = rng;
  static story_t ring2[STORIES_KEPT];
  memcpy(ring2, ring, sizeof(ring));
  int mismatches = 0;
  for (unsigned long long i = n; i < n + 2000; i++) {
    wd_result_t a, b;
    char ca[256], cb[256];
    size_t len = make_article(buf, sizeof(buf), &rng, ring, i, t0, n);
    wd_engine_process(eng, buf, len, NULL, 0, -1, &a, errstr, sizeof(errstr));
    snprintf(ca, sizeof(ca), "%s %s %.5f %u", a.cluster_id, a.duplicate_of ? a.duplicate_of : "-",
             a.similarity, a.cluster_size);
    len = make_article(buf, sizeof(buf), &rng2, ring2, i, t0, n);
    wd_engine_process(back, buf, len, NULL, 0, -1, &b, errstr, sizeof(errstr));
    snprintf(cb, sizeof(cb), "%s %s %.5f %u", b.cluster_id, b.duplicate_of ? b.duplicate_of : "-",
             b.similarity, b.cluster_size);
    mismatches += strcmp(ca, cb) != 0;
  }
  printf("bench=state step=verify probes=2000 mismatches=%d\n", mismatches);

  wd_engine_destroy(back);
  wd_engine_destroy(eng);
  wd_config_destroy(cfg);
  if (own_dir) {
    char path[600];
    wd_state_path(path, sizeof(path), dir);
    unlink(path);
    rmdir(dir);
  }
  return mismatches ? 1 : 0;
}
