/* pipeline.h - file mode: JSON Lines in, one result line per valid record out;
 * and the checkpoint steps every mode shares (load at start-up, save with a
 * log line), over wd_engine_load and wd_engine_save.
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
#include "wiredup/state.h"

typedef struct wd_file_summary_s {
  uint64_t lines;      /**< lines read (blank ones included) */
  uint64_t records;    /**< valid records, one output line each */
  uint64_t invalid;    /**< bad lines reported and skipped */
  uint64_t duplicates;
  uint64_t clusters;
  double seconds;
  uint64_t allocs_warm; /**< wd_mem_allocs() at the WD_FILE_WARM_RECORDS-th record */
} wd_file_summary_t;

/** Records after which file mode counts allocations as the steady state's. */
#define WD_FILE_WARM_RECORDS 1000u

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

/**
 * @brief wd_pipeline_run_file that keeps its similarity memory in \p state_dir
 *        (NULL = none): the checkpoint there is loaded first (unless \p fresh
 *        or there is none yet) and a new one is written after the last
 *        result, so a second run continues where the first stopped, with the
 *        answers one run over both files would give.
 * @returns as wd_pipeline_run_file, plus WD_ERR_STATE when the checkpoint is
 *          unreadable or corrupt (errstr names the file); WD_ERR_IO when the
 *          new one cannot be written.
 */
wd_err_t wd_pipeline_run_file_state(const wd_config_t *cfg, const char *in, FILE *out,
                                    wd_line_cb_t *cb, void *opaque,
                                    const char *state_dir, int fresh,
                                    wd_file_summary_t *sum, char *errstr,
                                    size_t errstr_size);

/** @brief Start-up step shared by every mode: load \p dir's checkpoint into
 *  the fresh \p eng (and its input positions into \p offs, may be NULL),
 *  or start empty when \p fresh or when there is no checkpoint yet (logged).
 *  @returns WD_OK or WD_ERR_STATE (errstr names the file and the fault). */
wd_err_t wd_pipeline_state_open(wd_engine_t *eng, const char *dir, int fresh,
                                wd_state_offsets_t *offs, char *errstr,
                                size_t errstr_size);

/** @brief wd_engine_save plus the "checkpoint written" log line. */
wd_err_t wd_pipeline_state_save(const wd_engine_t *eng, const char *dir,
                                const wd_state_offsets_t *offs, char *errstr,
                                size_t errstr_size);

#endif
