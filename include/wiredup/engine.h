/* engine.h - one record in, one cluster result out: decode, normalise, remove
 * boilerplate, shingle, fingerprint, decide, learn. Used by file mode
 * (pipeline.c), stream mode and replay, so every mode gives the same answers.
 * The work splits in two stages: a stateless fingerprint stage that worker
 * threads may run (wd_fingerprint) and the cluster stage that commits in
 * input order (wd_engine_commit); wd_engine_process is both in one call.
 *
 * The engine owns all per-record scratch (no allocation per record once warm)
 * and the similarity memory (cluster store and indexes), which it keeps
 * within index.window of event time behind the watermark and within
 * index.max_articles. It also drives checkpoints (wd_engine_save,
 * wd_engine_load): it decides the sections and has each stage write and read
 * its own, in the file format of state.h, which knows no engine. It never
 * includes rdkafka.h: Kafka modes hand it the message value, key and
 * timestamp.
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
#include "wiredup/simhash.h"
#include "wiredup/state.h"
#include "wiredup/topv.h"
#include "wiredup/mem.h"

typedef struct wd_engine_s wd_engine_t;

/** The answer for one article. Pointers stay valid until the next
 *  wd_engine_process on the same engine. */
typedef struct wd_result_s {
  const char *id;           /**< article id (NUL-terminated) */
  const char *cluster_id;   /**< id of the cluster's first article */
  const char *story_id;     /**< id of the story's first article (cluster.h) */
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
struct wd_cluster_opts_s;
/** @brief The cluster stage's options (cluster.h) as \p cfg sets them, for
 *  signatures of \p num_perm values: what wd_engine_new builds its stage with. */
void wd_engine_cluster_opts(const wd_config_t *cfg, uint32_t num_perm,
                            struct wd_cluster_opts_s *co);

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

/* ==== The two stages, for running the first on worker threads ====
 *
 * wd_engine_process = wd_fingerprint (stateless: decode, normalise, phrase
 * rules, shingle, MinHash; any thread, one wd_fingerprinter_t per thread)
 * followed by wd_engine_commit (the learned state: learned boilerplate lines,
 * SimHash over learned document frequencies, index, decision, learning; one
 * thread, records in input order). They talk through wd_fp_t, plain data.
 * Committing the fingerprints in input order gives exactly the answers (and
 * log lines) wd_engine_process gives. */

#define WD_FP_MAX_LINES 4096 /**< learnable line hashes kept per record */

/** One record after the fingerprint stage. Owns its buffers, which are
 *  reused from record to record (no allocation once warm). */
typedef struct wd_fp_s {
  wd_err_t err;            /**< WD_OK, or WD_ERR_INPUT with reason set */
  char reason[512];        /**< why the record is malformed */
  wd_buf_t id;             /**< article id, NUL-terminated */
  wd_buf_t source;         /**< source; valid when has_source */
  int has_source;
  int64_t ts_ms;           /**< event time; valid when has_ts */
  int has_ts;
  wd_buf_t warning;        /**< ignored-timestamp reason, empty when none */
  wd_buf_t norm;           /**< canonical token text (norm.h) */
  wd_buf_t kept;           /**< norm after the phrase rules (boiler.h) */
  uint64_t *lines;         /**< XXH3 of each line that may be learned... */
  uint32_t *line_tok;      /**< ...its first token in tok and its token count... */
  size_t nlines;           /**< ...how many (at most WD_FP_MAX_LINES)... */
  size_t lines_cap;        /**< ...and room for (grown up to WD_FP_MAX_LINES) */
  uint16_t num[WD_TOPV_NUMS]; /**< the numbers of kept (wd_topv_numbers)... */
  uint8_t nnum;            /**< ...how many */
  uint64_t *tok;           /**< token hashes of kept, in order */
  size_t ntok, tok_cap;
  uint8_t *pred;           /**< per line: dropped by the hint (wd_fingerprint) */
  size_t npred;            /**< lines the hint dropped; the sketch is of tok
                                without them */
  int sketched;            /**< nset and sig below are of tok (less pred) */
  uint32_t nset;           /**< distinct shingles */
  uint32_t *sig;           /**< MinHash (num_perm values) */
  uint32_t num_perm;       /**< values sig has room for (wd_fp_init) */
  wd_terms_t terms;        /**< distinct words of the sketched tokens */
} wd_fp_t;

/** @brief Ready \p fp (zeroed) for signatures of \p num_perm values. */
void wd_fp_init(wd_fp_t *fp, uint32_t num_perm);
void wd_fp_free(wd_fp_t *fp);

typedef struct wd_fingerprinter_s wd_fingerprinter_t;

/** @brief The stateless stage for \p cfg (borrowed). @returns NULL with
 *  errstr set on a bad configuration. Build every one before starting
 *  threads; each is then used by one thread at a time. */
wd_fingerprinter_t *wd_fingerprinter_new(const wd_config_t *cfg, char *errstr,
                                         size_t errstr_size);
void wd_fingerprinter_destroy(wd_fingerprinter_t *fpr);

/** A read-only copy of the (source, line) pairs the cluster stage has
 *  recently dropped as learned boilerplate: the fingerprint stage sketches
 *  the text without them, and the cluster stage keeps that sketch when its
 *  learned lines agree (it checks; a stale hint costs time, never answers). */
typedef struct wd_hint_s wd_hint_t;

/** @brief A new hint from \p eng's learned lines seen dropped so far, or
 *  NULL when nothing changed since the last one. Call on the cluster
 *  thread; the hint is immutable and may be read by any thread. */
wd_hint_t *wd_engine_hint(wd_engine_t *eng);
void wd_hint_free(wd_hint_t *hint);

/** @brief Fingerprint one input record (arguments as wd_engine_process)
 *  into \p fp, sketching the text without the lines \p hint (may be NULL)
 *  names. Never touches an engine. @returns fp->err. */
wd_err_t wd_fingerprint(wd_fingerprinter_t *fpr, const wd_hint_t *hint, const char *json,
                        size_t len, const char *key, size_t key_len, int64_t msg_ts_ms,
                        wd_fp_t *fp);

/** @brief The cluster stage for one fingerprinted record: as
 *  wd_engine_process returns. When the engine's learned boilerplate drops
 *  lines, their tokens leave \p fp->tok and the sketch is made again. \p res points into \p fp and
 *  the engine: valid until either is reused. */
wd_err_t wd_engine_commit(wd_engine_t *eng, wd_fp_t *fp, wd_result_t *res, char *errstr,
                          size_t errstr_size);

/** @brief Hold the watermark back to \p wm_ms: the input's own watermark
 *  (merge.h) when the input is partitioned and its partitions may still
 *  deliver earlier records. The engine's watermark is the newest event time
 *  seen minus index.allowed_lateness, or \p wm_ms where that is lower;
 *  eviction follows it (index.window behind it), and a record before it is
 *  counted late. INT64_MAX (the default) holds nothing back. */
void wd_engine_set_watermark(wd_engine_t *eng, int64_t wm_ms);

/** How many records an input gives before its own size is used to size the
 *  index (wd_engine_expect): enough to know the record size and the
 *  event-time rate. */
#define WD_ENGINE_EXPECT_AFTER 1024

/**
 * @brief About \p more records follow (the rest of a file, a replay's records
 *        up to its end, a backlog). The index is sized at once for as many
 *        as will be in it together: \p more plus those in it now, at most the
 *        event-time rate seen so far times index.window (+ allowed_lateness),
 *        at most index.max_articles; nothing when every event time seen is
 *        the same instant (no rate to go by). A hint: the answers are the
 *        same with or without it; only the index's growth steps go. Best
 *        called once, after WD_ENGINE_EXPECT_AFTER records, so that the
 *        rate is known.
 */
void wd_engine_expect(wd_engine_t *eng, uint64_t more);

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
  int64_t watermark_ms; /**< newest event time - index.allowed_lateness, held back by
                             wd_engine_set_watermark; INT64_MIN before any */
} wd_engine_stats_t;

void wd_engine_stats(const wd_engine_t *eng, wd_engine_stats_t *st);

struct wd_cluster_s;
/** @brief The engine's similarity memory (for wd_cluster_stats). */
const struct wd_cluster_s *wd_engine_cluster(const wd_engine_t *eng);

/* ==== Checkpoints (state.h is the file format; the engine decides what is in it) ==== */

/**
 * @brief Write a checkpoint of \p eng and \p offs (input positions; may be
 *        NULL) into directory \p dir (created if missing), atomically. The
 *        sections, in this order: CONF (fingerprint settings), ENGN (event
 *        time, counters), CLUS, TOPV, STRY (cluster store), SIMH (document
 *        frequencies), BOIL (learned boilerplate), OFFS (\p offs).
 * @param info  may be NULL.
 * @returns WD_OK; WD_ERR_IO with errstr naming the path (the previous
 *          checkpoint, if any, is left intact).
 * @remark O(articles). Blocks: at 1M articles a few hundred MB are written.
 */
wd_err_t wd_engine_save(const wd_engine_t *eng, const char *dir,
                        const wd_state_offsets_t *offs, wd_state_info_t *info,
                        char *errstr, size_t errstr_size);

/**
 * @brief Load the checkpoint in \p dir into \p eng, which must be freshly
 *        created (nothing processed) with the same fingerprint settings.
 * @param offs  receives the saved positions (cleared first); may be NULL.
 * @param info  may be NULL.
 * @returns WD_OK; WD_ERR_IO with errno text if \p dir has no checkpoint;
 *          WD_ERR_STATE if the file is unreadable, truncated, corrupt, of
 *          another version, lacks a section or was made with incompatible
 *          settings (errstr names the file and why, and the key for
 *          settings). After a failure \p eng must be destroyed.
 */
wd_err_t wd_engine_load(wd_engine_t *eng, const char *dir, wd_state_offsets_t *offs,
                        wd_state_info_t *info, char *errstr, size_t errstr_size);

#endif
