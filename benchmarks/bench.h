/* bench.h - the benchmark harness (xxHash tests/bench/benchfn.h style): a
 * params struct goes in, an outcome comes out, one machine-readable line per
 * result.
 *
 * A run times \p run over the whole document set \p reps times (after one
 * untimed warm-up pass), calling \p reset, untimed, before each pass, and
 * reports the best and the median pass. Lines look like
 *   bench=stage.minhash.oph docs=2000 reps=5 bytes_per_doc=4410 ns_per_doc=812.4
 *   ns_per_doc_median=830.1 docs_per_s=1230920 docs_per_s_median=1204675
 *   mb_per_s=5428.4 mb_per_s_median=5312.6
 * cpu_ns_per_doc=... cpu_ns_per_doc_median=...
 * (one line), where MB/s counts input record bytes (10^6 bytes) for every
 * stage, so stages compare directly. The wall-clock figures are the primary
 * ones; the cpu_ ones (process CPU time) are the steadier figures when other
 * jobs load the machine. */
#ifndef WD_BENCH_H
#define WD_BENCH_H

#include <stddef.h>
#include <stdio.h>

typedef void(wd_bench_fn_t)(void *ctx);

typedef struct wd_bench_params_s {
  const char *name;      /**< "stage.minhash.oph", ... */
  wd_bench_fn_t *run;    /**< one pass over every document */
  wd_bench_fn_t *reset;  /**< untimed, before every pass (may be NULL) */
  void *ctx;
  size_t docs;           /**< documents per pass */
  size_t bytes;          /**< input record bytes per pass */
  unsigned reps;         /**< timed passes (at least 1) */
} wd_bench_params_t;

typedef struct wd_bench_outcome_s {
  double best_s;       /**< fastest pass (wall clock) */
  double median_s;     /**< median pass (wall clock) */
  double cpu_best_s;   /**< least process CPU time of a pass */
  double cpu_median_s; /**< median process CPU time of a pass */
  double allocs;       /**< wd_mem_allocs() calls per timed pass (mean) */
} wd_bench_outcome_t;

/** @brief Monotonic clock, seconds. */
double wd_bench_now(void);

/** @brief CPU time of this process, seconds: on a shared machine it leaves
 *  out the time other processes held the core. */
double wd_bench_cpu_now(void);

/** @brief Peak resident set size of this process in KiB (getrusage). */
long wd_bench_peak_rss_kb(void);

/** @brief Run \p p (one warm-up pass, then p->reps timed passes). */
void wd_bench_run(const wd_bench_params_t *p, wd_bench_outcome_t *out);

/** @brief Print the result line for \p p and \p out; \p extra (may be NULL)
 *  is appended as more key=value fields. */
void wd_bench_print(FILE *fp, const wd_bench_params_t *p, const wd_bench_outcome_t *out,
                    const char *extra);

/** @brief Walk "--name value" options from argv[*i]: sets \p name and
 *  \p value and moves *i past them. --help or -h prints \p usage to stdout
 *  and exits 0; a name without a value prints it to stderr and exits 2.
 *  @returns 1 for an option, 0 at the end of argv. */
int wd_bench_next_opt(int argc, char **argv, int *i, void (*usage)(FILE *),
                      const char **name, const char **value);

/** @brief The options every document bench takes: --docs N sets \p docs,
 *  --reps N sets \p reps. @returns 1 when \p name was one of them. */
int wd_bench_docs_opt(const char *name, const char *value, size_t *docs, unsigned *reps);

#endif
