/* bench_scale.c - wd-bench-scale: per-article cost and index bytes per
 * article as the similarity memory grows (10k -> 100k -> 1M articles).
 *
 * One engine takes a generated stream in batches; each batch is generated
 * first (untimed), then processed and formatted (timed), so the cost of a
 * batch is the engine's cost at that index size. At each checkpoint the last
 * batch's cost, the engine's index_bytes / index_docs (and the marginal bytes
 * per article since the previous checkpoint) and the peak RSS are printed as
 * one bench=scale line. The cost is thread CPU time (ns_per_doc) beside wall
 * time (wall_ns_per_doc): on a shared 2-core machine one timed pass per batch
 * cannot take a best-of-N, and CPU time leaves out the time other processes
 * held the core.
 *
 * The generated stream's event times advance about 15 s per article, so the
 * default 72 h window would keep the index near 17k articles: the engine here
 * runs with index.window=8760h (the 1M articles span about 180 days), so the
 * index really holds every article up to index.max_articles. --set KEY=VALUE
 * changes any other setting.
 *
 * On a shared machine the core's speed moves by 10-20% from one minute to the
 * next, more than the growth being measured. So each checkpoint batch is
 * bracketed by two half batches through a second engine held at one batch
 * of articles (index.max_articles = --batch, fed from its own generator):
 * cal_ns_per_doc is what the same work costs on a small index in the same
 * minute, and rel_cost = ns_per_doc / cal_ns_per_doc is the cost at this
 * size relative to that. Flat cost means rel_cost stays near its value at the
 * first checkpoint (1 there, where both indexes hold one batch).
 *
 * One batch can hold the rebuild of a band table (each doubles about every
 * 30% of growth, and the 64 bands are staggered over ~10% of it), so each
 * line also gives the mean over every batch since the previous checkpoint
 * (interval_ns_per_doc), and that against the calibration engine, which
 * takes a tenth of a batch around each of those batches (interval_rel_cost):
 * the amortised cost, rebuilds included. */
#include "bench.h"
#include "datagen.h"

#include "wiredup/config.h"
#include "wiredup/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Generate \p n articles (untimed) and put them through the calibration
 * engine \p cal. @returns the thread CPU seconds that took, -1 on error. */
static double cal_run(wd_engine_t *cal, wd_datagen_t *g, wd_buf_t *lines, size_t *off,
                      size_t n, char *err, size_t err_size) {
  wd_buf_clear(lines);
  off[0] = 0;
  for (size_t i = 0; i < n; i++) {
    wd_datagen_next(g, lines);
    off[i + 1] = lines->len;
  }
  const double c0 = cpu_now();
  for (size_t i = 0; i < n; i++) {
    wd_result_t res;
    if (wd_engine_process(cal, lines->p + off[i], off[i + 1] - off[i], NULL, 0, -1, &res, err,
                          err_size) != WD_OK)
      return -1;
  }
  return cpu_now() - c0;
}

static void usage(FILE *fp) {
  fprintf(fp,
          "usage: wd-bench-scale [--max N] [--batch N] [--every N] [--seed S]\n"
          "                      [--dup-share F] [--set KEY=VALUE]...\n"
          "Feeds N generated articles (default 1000000) to one engine and reports\n"
          "the cost of the batch (default 10000) ending at each checkpoint\n"
          "(1, 2, 5 x 10^k from one batch up to N; with --every, each multiple\n"
          "of it instead, to see the batches that rebuild a table).\n");
}

int main(int argc, char **argv) {
  size_t max = 1000000, batch = 10000, every = 0;
  wd_datagen_opts_t go;
  wd_datagen_opts_default(&go);
  char err[256];
  wd_config_t *cfg = wd_config_new();
  if (wd_config_set(cfg, "index.window", "8760h", err, sizeof(err)) != WD_OK) {
    fprintf(stderr, "wd-bench-scale: %s\n", err);
    return 1;
  }
  wd_config_t *cal_cfg = wd_config_new();
  if (wd_config_set(cal_cfg, "index.window", "8760h", err, sizeof(err)) != WD_OK) {
    fprintf(stderr, "wd-bench-scale: %s\n", err);
    return 1;
  }
  const char *a, *v;
  for (int i = 1; wd_bench_next_opt(argc, argv, &i, usage, &a, &v);) {
    if (wd_datagen_opt(&go, a, v))
      continue;
    if (!strcmp(a, "--set")) {
      if (wd_config_set_arg(cfg, v, err, sizeof(err)) != WD_OK ||
          wd_config_set_arg(cal_cfg, v, err, sizeof(err)) != WD_OK) {
        fprintf(stderr, "wd-bench-scale: %s\n", err);
        return 2;
      }
    } else if (!strcmp(a, "--max"))
      max = strtoull(v, NULL, 10);
    else if (!strcmp(a, "--batch"))
      batch = strtoull(v, NULL, 10);
    else if (!strcmp(a, "--every"))
      every = strtoull(v, NULL, 10);
    else {
      usage(stderr);
      return 2;
    }
  }
  if (batch == 0 || max < batch || (every && every < batch)) {
    usage(stderr);
    return 2;
  }

  char cap[32];
  snprintf(cap, sizeof(cap), "%zu", batch);
  if (wd_config_set(cal_cfg, "index.max_articles", cap, err, sizeof(err)) != WD_OK) {
    fprintf(stderr, "wd-bench-scale: %s\n", err);
    return 2;
  }
  wd_datagen_opts_t cal_go = go;
  cal_go.seed = go.seed + 1000003;
  wd_engine_t *eng = wd_engine_new(cfg, err, sizeof(err));
  wd_engine_t *cal = eng ? wd_engine_new(cal_cfg, err, sizeof(err)) : NULL;
  wd_datagen_t *g = wd_datagen_new(&go), *cal_g = wd_datagen_new(&cal_go);
  if (!eng || !cal || !g || !cal_g) {
    fprintf(stderr, "wd-bench-scale: %s\n", cal ? "bad generator options" : err);
    return 1;
  }
  wd_buf_t cal_lines = WD_BUF_INIT;
  size_t *cal_off = wd_malloc((batch + 1) * sizeof(*cal_off));
  /* fill the calibration engine to its cap, untimed */
  if (cal_run(cal, cal_g, &cal_lines, cal_off, batch, err, sizeof(err)) < 0) {
    fprintf(stderr, "wd-bench-scale: calibration: %s\n", err);
    return 1;
  }
  wd_buf_t lines = WD_BUF_INIT, out = WD_BUF_INIT;
  size_t *off = wd_malloc((batch + 1) * sizeof(*off));
  size_t done = 0, next_cp = every ? every : batch, decade = batch;
  double total_s = 0, total_cpu = 0;
  double iv_cpu = 0, iv_cal = 0; /* since the previous checkpoint */
  size_t iv_n = 0, iv_cal_n = 0;
  uint64_t prev_docs = 0, prev_bytes = 0;
  int step = 0; /* checkpoints at 1, 2, 5 x decade */

  while (done < max) {
    size_t n = max - done < batch ? max - done : batch;
    wd_buf_clear(&lines);
    off[0] = 0;
    for (size_t i = 0; i < n; i++) {
      wd_datagen_next(g, &lines);
      off[i + 1] = lines.len;
    }
    const int cp = done + n >= next_cp || done + n == max;
    /* a whole batch around a checkpoint's, a tenth around the others */
    const size_t cal_n = cp ? batch : (batch / 10 ? batch / 10 : 1);
    double cal_s = 0;
    if ((cal_s = cal_run(cal, cal_g, &cal_lines, cal_off, cal_n / 2, err, sizeof(err))) < 0) {
      fprintf(stderr, "wd-bench-scale: calibration: %s\n", err);
      return 1;
    }
    double t0 = wd_bench_now(), c0 = cpu_now();
    for (size_t i = 0; i < n; i++) {
      wd_result_t res;
      if (wd_engine_process(eng, lines.p + off[i], off[i + 1] - off[i], NULL, 0, -1, &res,
                            err, sizeof(err)) != WD_OK) {
        fprintf(stderr, "wd-bench-scale: record %zu: %s\n", done + i + 1, err);
        return 1;
      }
      wd_coords_t coords = {.line = done + i + 1};
      wd_buf_clear(&out);
      wd_result_format(&res, &coords, &out);
    }
    double dt = wd_bench_now() - t0, dc = cpu_now() - c0;
    double cal_s2 = 0;
    if ((cal_s2 = cal_run(cal, cal_g, &cal_lines, cal_off, cal_n - cal_n / 2, err,
                          sizeof(err))) < 0) {
      fprintf(stderr, "wd-bench-scale: calibration: %s\n", err);
      return 1;
    }
    const double cal_ns = (cal_s + cal_s2) * 1e9 / (double)cal_n;
    iv_cpu += dc;
    iv_n += n;
    iv_cal += cal_s + cal_s2;
    iv_cal_n += cal_n;
    total_s += dt;
    total_cpu += dc;
    done += n;
    if (done >= next_cp || done == max) {
      wd_engine_stats_t st;
      wd_engine_stats(eng, &st);
      printf("bench=scale docs=%zu batch=%zu ns_per_doc=%.1f wall_ns_per_doc=%.1f "
             "docs_per_s=%.0f mb_per_s=%.1f index_docs=%llu index_bytes=%llu "
             "index_bytes_per_doc=%.0f index_bytes_marginal=%.0f "
             "peak_rss_kb=%ld rss_per_doc=%.0f duplicates=%llu cal_ns_per_doc=%.1f "
             "rel_cost=%.3f interval_docs=%zu interval_ns_per_doc=%.1f "
             "interval_rel_cost=%.3f\n",
             done, n, dc * 1e9 / (double)n, dt * 1e9 / (double)n, (double)n / dc,
             (double)lines.len / dc / 1e6, (unsigned long long)st.index_docs,
             (unsigned long long)st.index_bytes,
             st.index_docs ? (double)st.index_bytes / (double)st.index_docs : 0.0,
             st.index_docs > prev_docs ? (double)(st.index_bytes - prev_bytes) /
                                             (double)(st.index_docs - prev_docs)
                                       : 0.0,
             wd_bench_peak_rss_kb(), (double)wd_bench_peak_rss_kb() * 1024.0 / (double)done,
             (unsigned long long)st.duplicates, cal_ns, dc * 1e9 / (double)n / cal_ns, iv_n,
             iv_cpu * 1e9 / (double)iv_n,
             (iv_cpu / (double)iv_n) / (iv_cal / (double)iv_cal_n));
      iv_cpu = iv_cal = 0;
      iv_n = iv_cal_n = 0;
      fflush(stdout);
      prev_docs = st.index_docs;
      prev_bytes = st.index_bytes;
      static const int mult[3] = {2, 5, 10};
      while (every && next_cp <= done)
        next_cp += every;
      while (next_cp <= done) {
        next_cp = decade * (size_t)mult[step];
        if (++step == 3) {
          step = 0;
          decade *= 10;
        }
      }
    }
  }
  printf("bench=scale.total docs=%zu cpu_seconds=%.3f wall_seconds=%.3f docs_per_s=%.0f "
         "peak_rss_kb=%ld\n",
         done, total_cpu, total_s, (double)done / total_cpu, wd_bench_peak_rss_kb());
  wd_free(off);
  wd_free(cal_off);
  wd_buf_free(&cal_lines);
  wd_datagen_destroy(cal_g);
  wd_engine_destroy(cal);
  wd_config_destroy(cal_cfg);
  wd_buf_free(&lines);
  wd_buf_free(&out);
  wd_datagen_destroy(g);
  wd_engine_destroy(eng);
  wd_config_destroy(cfg);
  return 0;
}
