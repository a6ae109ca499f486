/* engine.h - one record in, one cluster result out: decode, normalise, remove
 * boilerplate, shingle, fingerprint, decide, learn. Used by file mode
 * (pipeline.c), stream mode and replay, so every mode gives the same answers.
 *
 * The engine owns all per-record scratch (no allocation per record once warm)
 * and the similarity memory (cluster store and indexes), which it keeps
 * within index.window of event time behind the watermark and within
 * index.max_articles, and which state.h saves and loads. It never includes
 * rdkafka.h: Kafka modes hand it the message value, key and timestamp.
 *
 * @code
 *   wd_engine_t *eng = wd_engine_new(cfg, errstr, sizeof(errstr));
 *   wd_result_t res;
 *   wd_err_t err = wd_engine_process(eng, json, len, key, key_len, msg_ts_ms, &res,
 *                                    errstr, sizeof(errstr));
 *   if (err == WD_ERR_INPUT) ... dead-letter with reason errstr ...
 *   else { wd_coords_t c = {.line = n}; wd_result_format(&res, &c, &out); }
 *   wd_engine_destroy(eng);
 * @endcode
 */
#ifndef WD_ENGINE_H
#define WD_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "wiredup/config.h"
#include "wiredup/err.h"
#include "wiredup/mem.h"

typedef struct wd_engine_s wd_engine_t;

/** The answer for one article. Pointers stay valid until the next
 *  wd_engine_process on the same engine. */
typedef struct wd_result_s {
  const char *id;           /**< article id (NUL-terminated) */
  const char *cluster_id;   /**< id of the cluster's first article */
  const char *duplicate_of; /**< most similar earlier article, NULL when new */
  double similarity;        /**< estimated similarity to duplicate_of, 0 when new */
  uint32_t cluster_size;    /**< articles in the cluster including this one */
  const char *source;       /**< NULL if the record had none */
  int64_t ts_ms;            /**< event time used (ms since epoch) */
  int has_ts;               /**< the record (or its Kafka message) carried a time */
  int redelivered;          /**< id seen before: the stored answer is repeated */
} wd_result_t;

/** Where a record came from; topic NULL in file mode (then line is used). */
typedef struct wd_coords_s {
  const char *topic;
  int32_t partition;
  int64_t offset;
  uint64_t line;
} wd_coords_t;

/** @brief Build an engine from \p cfg (borrowed; must outlive the engine).
 *  @returns NULL with errstr set on a bad configuration. */
wd_engine_t *wd_engine_new(const wd_config_t *cfg, char *errstr, size_t errstr_size);
void wd_engine_destroy(wd_engine_t *eng);

/**
 * @brief Process one input record.
 * @param json,len   the record (JSON object text).
 * @param key        Kafka message key or NULL; used as the id when set.
 * @param msg_ts_ms  Kafka message timestamp (ms) or -1; used when the record
 *                   has no timestamp field.
 * @returns WD_OK with \p res filled; WD_ERR_INPUT for a malformed record, with
 *          the reason in errstr ("not valid JSON", "missing id", "not UTF-8",
 *          "exceeds input.max_bytes (1048576)", ...) and no state changed.
 */
wd_err_t wd_engine_process(wd_engine_t *eng, const char *json, size_t len,
                           const char *key, size_t key_len, int64_t msg_ts_ms,
                           wd_result_t *res, char *errstr, size_t errstr_size);

/** @brief Append the output record for \p res as one JSON object (no newline). */
void wd_result_format(const wd_result_t *res, const wd_coords_t *coords, wd_buf_t *dst);

/** Counters since wd_engine_new. */
typedef struct wd_engine_stats_s {
  uint64_t records;     /**< valid records processed */
  uint64_t duplicates;  /**< records that joined an existing cluster */
  uint64_t clusters;    /**< clusters started */
  uint64_t redelivered; /**< ids seen before */
  uint64_t invalid;     /**< malformed records */
  uint64_t late;        /**< records behind the watermark (answered anyway) */
  uint64_t index_docs;  /**< articles in the index now */
  uint64_t index_bytes; /**< bytes held by the similarity memory */
  uint64_t evicted;     /**< articles evicted by index.window / index.max_articles */
  uint64_t clusters_open; /**< clusters with an article still in the index */
  int64_t watermark_ms; /**< newest event time - index.allowed_lateness; INT64_MIN before any */
} wd_engine_stats_t;

void wd_engine_stats(const wd_engine_t *eng, wd_engine_stats_t *st);

struct wd_cluster_s;
/** @brief The engine's similarity memory (for wd_cluster_stats). */
const struct wd_cluster_s *wd_engine_cluster(const wd_engine_t *eng);

/* ==== Checkpoints (see state.h for the file around these) ==== */

struct wd_state_w_s;
struct wd_state_r_s;

/** @brief Write the engine's sections (settings, counters, cluster store,
 *  document frequencies, learned boilerplate) to \p w. */
void wd_engine_save(const wd_engine_t *eng, struct wd_state_w_s *w);

/** @brief Restore one section \p tag into a fresh engine (no record
 *  processed yet). @returns WD_OK; WD_ERR_STATE with the reason in \p why
 *  (a section made with other fingerprint settings names the key). */
wd_err_t wd_engine_load_section(wd_engine_t *eng, const char *tag,
                                struct wd_state_r_s *r, char *why, size_t why_size);

/** @brief After the last section: WD_ERR_STATE if one was missing. */
wd_err_t wd_engine_load_finish(wd_engine_t *eng, char *why, size_t why_size);

#endif
