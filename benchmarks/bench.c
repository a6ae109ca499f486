/* bench.c - timing passes, best-of-N and median, the result line. */
#include "bench.h"

#include "wiredup/mem.h"


#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define REPS_MAX 1000

double wd_bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double wd_bench_cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

long wd_bench_peak_rss_kb(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0)
    return -1;
  return ru.ru_maxrss; /* KiB on Linux */
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void best_median(double *t, unsigned n, double *best, double *median) {
  qsort(t, n, sizeof(t[0]), cmp_double);
  *best = t[0];
  *median = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

void wd_bench_run(const wd_bench_params_t *p, wd_bench_outcome_t *out) {
  double t[REPS_MAX], c[REPS_MAX];
  unsigned reps = p->reps < 1 ? 1 : p->reps > REPS_MAX ? REPS_MAX : p->reps;
  /* the warm-up pass grows every scratch buffer to its high-water mark */
  if (p->reset)
    p->reset(p->ctx);
  p->run(p->ctx);
  uint64_t allocs = 0;
  for (unsigned i = 0; i < reps; i++) {
    if (p->reset)
      p->reset(p->ctx);
    const uint64_t a0 = wd_mem_allocs();
    double t0 = wd_bench_now(), c0 = wd_bench_cpu_now();
    p->run(p->ctx);
    t[i] = wd_bench_now() - t0;
    c[i] = wd_bench_cpu_now() - c0;
    allocs += wd_mem_allocs() - a0;
  }
  out->allocs = (double)allocs / reps;
  best_median(t, reps, &out->best_s, &out->median_s);
  best_median(c, reps, &out->cpu_best_s, &out->cpu_median_s);
}

void wd_bench_print(FILE *fp, const wd_bench_params_t *p, const wd_bench_outcome_t *out,
                    const char *extra) {
  const double docs = (double)(p->docs ? p->docs : 1);
  const double best = out->best_s > 0 ? out->best_s : 1e-12;
  const double med = out->median_s > 0 ? out->median_s : 1e-12;
  fprintf(fp,
          "bench=%s docs=%zu reps=%u bytes_per_doc=%.0f ns_per_doc=%.1f "
          "ns_per_doc_median=%.1f docs_per_s=%.0f docs_per_s_median=%.0f "
          "mb_per_s=%.1f mb_per_s_median=%.1f cpu_ns_per_doc=%.1f "
          "cpu_ns_per_doc_median=%.1f allocs_per_doc=%.3f%s%s\n",
          p->name, p->docs, p->reps, (double)p->bytes / docs, best * 1e9 / docs,
          med * 1e9 / docs, docs / best, docs / med, (double)p->bytes / best / 1e6,
          (double)p->bytes / med / 1e6, out->cpu_best_s * 1e9 / docs,
          out->cpu_median_s * 1e9 / docs, out->allocs / docs, extra ? " " : "",
          extra ? extra : "");
  fflush(fp);
}

int wd_bench_docs_opt(const char *name, const char *value, size_t *docs, unsigned *reps) {
  if (!strcmp(name, "--docs"))
    *docs = strtoull(value, NULL, 10);
  else if (!strcmp(name, "--reps"))
    *reps = (unsigned)atoi(value);
  else
    return 0;
  return 1;
}

int wd_bench_next_opt(int argc, char **argv, int *i, void (*usage)(FILE *),
                      const char **name, const char **value) {
  if (*i >= argc)
    return 0;
  *name = argv[*i];
  if (!strcmp(*name, "--help") || !strcmp(*name, "-h")) {
    usage(stdout);
    exit(0);
  }
  if (*i + 1 >= argc) {
    usage(stderr);
    exit(2);
  }
  *value = argv[*i + 1];
  *i += 2;
  return 1;
}
