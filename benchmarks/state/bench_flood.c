/* bench_flood.c - the similarity memory under floods (issue 8 part 4).
 *
 *   bench_flood identical [--articles N]
 *     N copies of one article (distinct ids) through the engine at the default
 *     settings. Prints the cost per article over the first 1,000 and the last
 *     1,000 copies and the structural bounds that keep it flat: entries kept
 *     under one LSH band key, LSH entries matched and SimHash index entries
 *     read by the last query, candidates verified. Exit 1 if a bound is
 *     exceeded (timings are reported, never asserted).
 *
 *   bench_flood unique [--articles N] [--max-articles M]
 *     N distinct articles with index.max_articles = M (default 50,000). Once
 *     the index is full, RSS must stop growing: exit 1 if RSS at the end
 *     exceeds RSS when the index first filled by more than half of the
 *     index's own bytes at that point (its tables are rebuilt in place of
 *     themselves under churn) plus 16 MiB (allocator slack), or if the index
 *     ever holds more than M articles.
 *
 * One machine-readable line per measurement: bench=flood mode=... key=value.
 */
#include "wiredup/cluster.h"
#include "wiredup/config.h"
#include "wiredup/engine.h"
#include "wiredup/simhash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Resident set size in bytes (Linux /proc), 0 if unknown. */
static size_t rss_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long pages = 0, resident = 0;
  if (!f)
    return 0;
  if (fscanf(f, "%lu %lu", &pages, &resident) != 2)
    resident = 0;
  fclose(f);
  return (size_t)resident * 4096u;
}

static unsigned long long rnd(unsigned long long *s) {
  unsigned long long z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* Article i: 80 words; unique text unless \p same (then one fixed text). */
static size_t make_article(char *buf, size_t cap, unsigned long long i, int same) {
  unsigned long long rng = same ? 777 : 1000003ULL * (i + 1);
  size_t o = (size_t)snprintf(buf, cap,
                              "{\"id\":\"flood-%010llu\",\"source\":\"wire.example\","
                              "\"published_at\":%lld,\"body\":\"",
                              i, 1750000000000LL + (long long)i);
  for (int k = 0; k < 80 && o + 16 < cap; k++)
    o += (size_t)snprintf(buf + o, cap - o, "%sw%llu", k ? " " : "", rnd(&rng) % 20000);
  o += (size_t)snprintf(buf + o, cap - o, "\"}");
  return o;
}

static int feed(wd_engine_t *eng, unsigned long long i, int same) {
  static char buf[4096];
  char errstr[256];
  wd_result_t res;
  size_t len = make_article(buf, sizeof(buf), i, same);
  if (wd_engine_process(eng, buf, len, NULL, 0, -1, &res, errstr, sizeof(errstr)) != WD_OK) {
    fprintf(stderr, "article %llu: %s\n", i, errstr);
    return -1;
  }
  return 0;
}

static int run_identical(wd_engine_t *eng, unsigned long long n) {
  const unsigned long long win = n < 2000 ? n / 2 : 1000;
  double t0 = now_s(), first = 0, last = 0;
  for (unsigned long long i = 0; i < n; i++) {
    if (i == n - win)
      last = now_s();
    if (feed(eng, i, 1))
      return 1;
    if (i + 1 == win)
      first = now_s() - t0;
  }
  last = now_s() - last;
  wd_cluster_stats_t st;
  wd_cluster_stats(wd_engine_cluster(eng), &st);
  const uint32_t bands = 64, per_key = st.lsh.max_per_key;
  printf("bench=flood mode=identical articles=%llu first_us_per_article=%.1f "
         "last_us_per_article=%.1f lsh_key_max=%u lsh_max_per_key=%u lsh_query_matches=%u "
         "lsh_dropped=%llu simhash_examined=%u simhash_skipped=%llu verified=%u\n",
         n, first / (double)win * 1e6, last / (double)win * 1e6, st.lsh.key_max, per_key,
         st.lsh.query_matches, (unsigned long long)st.lsh.dropped, st.simhash_examined,
         (unsigned long long)st.simhash_skipped, st.verified);
  /* Per query: at most bands * per_key LSH matches; SimHash reads at most
   * (blocks) x (identical kept + other chain entries) in its one pass (the
   * bound leaves room for five). */
  const int ok = st.lsh.key_max <= per_key && st.lsh.query_matches <= bands * per_key &&
                 st.simhash_examined <= 5u * 4u * (WD_SIMHASH_SAME_MAX + 64u);
  if (!ok)
    fprintf(stderr, "bench_flood: a flood bound was exceeded\n");
  return ok ? 0 : 1;
}

static int run_unique(wd_engine_t *eng, unsigned long long n, unsigned long long cap) {
  size_t rss_full = 0, bytes_full = 0, max_docs = 0;
  wd_engine_stats_t es0;
  wd_engine_stats(eng, &es0); /* fixed tables (document frequencies, boilerplate) */
  const size_t fixed = es0.index_bytes;
  double t0 = now_s();
  for (unsigned long long i = 0; i < n; i++) {
    if (feed(eng, i, 0))
      return 1;
    if ((i & 1023) == 0 || i + 1 == cap) {
      wd_engine_stats_t es;
      wd_engine_stats(eng, &es);
      if (es.index_docs > max_docs)
        max_docs = es.index_docs;
      if (!rss_full && i + 1 >= cap) {
        rss_full = rss_bytes();
        bytes_full = es.index_bytes;
      }
    }
  }
  wd_engine_stats_t es;
  wd_engine_stats(eng, &es);
  const size_t rss_end = rss_bytes();
  const size_t bound = rss_full + (bytes_full - fixed) / 2 + ((size_t)16 << 20);
  printf("bench=flood mode=unique articles=%llu max_articles=%llu seconds=%.1f "
         "index_docs=%llu max_index_docs=%zu evicted=%llu index_bytes_full=%zu "
         "bytes_per_article=%.0f rss_full=%zu rss_end=%zu rss_bound=%zu\n",
         n, cap, now_s() - t0, (unsigned long long)es.index_docs, max_docs,
         (unsigned long long)es.evicted, bytes_full,
         (double)(es.index_bytes - fixed) / (double)(es.index_docs ? es.index_docs : 1),
         rss_full, rss_end, bound);
  if (max_docs > cap || es.index_docs > cap) {
    fprintf(stderr, "bench_flood: index held %zu articles, cap %llu\n", max_docs, cap);
    return 1;
  }
  if (rss_full && rss_end > bound) {
    fprintf(stderr, "bench_flood: RSS grew after the index filled: %zu -> %zu (bound %zu)\n",
            rss_full, rss_end, bound);
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  unsigned long long n = 0, cap = 50000;
  const char *mode = argc > 1 ? argv[1] : "";
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--articles") && i + 1 < argc)
      n = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--max-articles") && i + 1 < argc)
      cap = strtoull(argv[++i], NULL, 10);
    else
      mode = "";
  }
  const int identical = !strcmp(mode, "identical");
  if ((!identical && strcmp(mode, "unique") != 0) || cap == 0) {
    fprintf(stderr, "usage: %s identical|unique [--articles N] [--max-articles M]\n", argv[0]);
    return 2;
  }
  if (!n)
    n = identical ? 20000 : 1000000;
  char errstr[512];
  wd_config_t *cfg = wd_config_new();
  if (!identical)
    cfg->index_max_articles = (int64_t)cap;
  wd_engine_t *eng = wd_engine_new(cfg, errstr, sizeof(errstr));
  if (!eng) {
    fprintf(stderr, "%s\n", errstr);
    return 1;
  }
  const int rc = identical ? run_identical(eng, n) : run_unique(eng, n, cap);
  wd_engine_destroy(eng);
  wd_config_destroy(cfg);
  return rc;
}
