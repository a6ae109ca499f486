/* pipeline.h - file mode: JSON Lines in, one result line per valid record out.
 *
 * Bad lines (not JSON, no id or text, not UTF-8, over input.max_bytes) are
 * reported on stderr with their line number and skipped; the run continues. */
#ifndef WD_PIPELINE_H
#define WD_PIPELINE_H

#include <stdint.h>
#include <stdio.h>

#include "wiredup/config.h"
#include "wiredup/engine.h"
#include "wiredup/err.h"

typedef struct wd_file_summary_s {
  uint64_t lines;      /**< lines read (blank ones included) */
  uint64_t records;    /**< valid records, one output line each */
  uint64_t invalid;    /**< bad lines reported and skipped */
  uint64_t duplicates;
  uint64_t clusters;
  double seconds;
} wd_file_summary_t;

/** Called for every line with its result (valid) or its error (invalid). */
typedef void(wd_line_cb_t)(void *opaque, uint64_t line, const char *json, size_t len,
                           const wd_result_t *res, wd_err_t err, const char *reason);

/**
 * @brief Run file mode on \p in ("-" = stdin) writing JSON Lines to \p out
 *        (NULL = none). \p cb (may be NULL) sees every line. The engine is
 *        created from \p cfg and destroyed before returning.
 * @returns WD_OK (invalid lines do not fail the run); WD_ERR_IO when \p in can
 *          not be read or \p out can not be written; WD_ERR_CONFIG for a bad cfg.
 */
wd_err_t wd_pipeline_run_file(const wd_config_t *cfg, const char *in, FILE *out,
                              wd_line_cb_t *cb, void *opaque, wd_file_summary_t *sum,
                              char *errstr, size_t errstr_size);

#endif
