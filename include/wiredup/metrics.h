/* metrics.h - what stream mode counts, and the Prometheus text exposition
 * format (version 0.0.4) it is served in at /metrics (metrics_http.c).
 *
 * One writer, many readers: the poll loop is the only thread that updates a
 * wd_metrics_t; HTTP threads render it. Per-record updates (counters, the
 * latency histogram, the heartbeat) are relaxed atomics, no lock. Slower
 * gauges (engine stats, consumer lag) are published as a snapshot under a
 * mutex a few times a second at most, and copied out under it by a reader.
 *
 * @code
 *   wd_metrics_t *m = wd_metrics_new();
 *   wd_metrics_http_t *srv;
 *   if (wd_metrics_http_start(m, "127.0.0.1:9464", 30000, &srv, errstr,
 *                             sizeof(errstr)) != WD_OK) ...
 *   // poll loop:
 *   wd_metrics_heartbeat(m);
 *   wd_metrics_add(m, WD_METRIC_RECORDS_IN, 1);
 *   wd_metrics_observe_latency(m, seconds);
 *   wd_metrics_publish_engine(m, &engine_stats);   // now and then
 *   wd_metrics_publish_kafka_stats(m, json, json_len); // from stats_cb
 *   // shutdown:
 *   wd_metrics_http_stop(srv);
 *   wd_metrics_destroy(m);
 * @endcode
 */
#ifndef WD_METRICS_H
#define WD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "wiredup/engine.h"
#include "wiredup/err.h"
#include "wiredup/mem.h"

typedef struct wd_metrics_s wd_metrics_t;

/** Counters the poll loop increments per record. */
typedef enum wd_metric_counter_e {
  WD_METRIC_RECORDS_IN = 0, /**< records consumed from the input topic */
  WD_METRIC_RECORDS_OUT,    /**< results acknowledged by the broker */
  WD_METRIC_RECORDS_DEAD,   /**< dead letters acknowledged by the broker */
  WD_METRIC_COUNTER_CNT
} wd_metric_counter_t;

/** @brief A registry with every counter at 0 and no snapshot yet.
 *  @returns never NULL (out of memory exits). */
wd_metrics_t *wd_metrics_new(void);
/** @brief Free \p m; NULL is a no-op. No HTTP server may still use it. */
void wd_metrics_destroy(wd_metrics_t *m);

/** @brief Add \p n to counter \p c. One relaxed atomic add; any thread. */
void wd_metrics_add(wd_metrics_t *m, wd_metric_counter_t c, uint64_t n);
/** @brief Current value of counter \p c (any thread). */
uint64_t wd_metrics_get(const wd_metrics_t *m, wd_metric_counter_t c);

/** @brief Record one record's processing time, in seconds, in the latency
 *  histogram. Two relaxed atomic adds and a scan of a dozen bounds. */
void wd_metrics_observe_latency(wd_metrics_t *m, double seconds);

/** @brief Say the poll loop is alive (stores the monotonic clock). Call once
 *  per loop turn; /healthz reports stale when it stops being called. */
void wd_metrics_heartbeat(wd_metrics_t *m);

/** @brief Seconds since the last heartbeat (or since wd_metrics_new). */
double wd_metrics_heartbeat_age(const wd_metrics_t *m);

/** @brief Publish the engine's counters and gauges (copied under the mutex).
 *  Call from the thread that owns the engine. */
void wd_metrics_publish_engine(wd_metrics_t *m, const wd_engine_stats_t *st);

/**
 * @brief Publish consumer lag from a librdkafka statistics JSON document (the
 *        stats_cb payload). For each partition of each topic with a known lag
 *        (consumer_lag_stored, else consumer_lag, >= 0) it keeps
 *        topic/partition/lag; the previous set is replaced.
 * @returns 0, or -1 if \p json is not a statistics document (nothing changes).
 */
int wd_metrics_publish_kafka_stats(wd_metrics_t *m, const char *json,
                                   size_t json_len);

/** One input partition's place in event time (merge.h). */
typedef struct wd_metrics_part_s {
  int32_t partition;
  int64_t lag_ms; /**< newest event time of any partition minus this one's */
  int idle;       /**< not holding the watermark back (input.idle_timeout) */
} wd_metrics_part_t;

/** The input's event-time order, as stream mode publishes it. */
typedef struct wd_metrics_order_s {
  uint64_t out_of_order;  /**< records processed after one with a later time */
  uint64_t wait_timeouts; /**< partitions passed over after input.order_timeout */
  uint64_t queued;        /**< records waiting in the merge */
  const char *topic;      /**< the input topic (copied) */
  const wd_metrics_part_t *parts; /**< copied */
  size_t part_cnt;
} wd_metrics_order_t;

/** @brief Publish the event-time merge's counters and per-partition lags
 *  (copied under the mutex). Call from the poll loop. */
void wd_metrics_publish_order(wd_metrics_t *m, const wd_metrics_order_t *o);

/** @brief Record that a checkpoint of the similarity memory was completed at
 *  \p unix_ms (wall clock). Until it is first called, the checkpoint age
 *  metric is left out of the exposition. */
void wd_metrics_set_checkpoint_time(wd_metrics_t *m, int64_t unix_ms);

/** @brief Append the whole exposition (text format 0.0.4) to \p dst.
 *  Any thread; takes the snapshot mutex once. */
void wd_metrics_render(wd_metrics_t *m, wd_buf_t *dst);

/* ==== Text exposition format 0.0.4 (public for the unit tests) ==== */

/** One label pair; value is escaped on output. */
typedef struct wd_prom_label_s {
  const char *name;
  const char *value;
} wd_prom_label_t;

/** @brief `# HELP name help` (help escaped: `\\` and newline) and
 *  `# TYPE name type`. */
void wd_prom_header(wd_buf_t *dst, const char *name, const char *help,
                    const char *type);

/** @brief Append \p s as a label value: `\\`, `"` and newline escaped. */
void wd_prom_escape_label(wd_buf_t *dst, const char *s);

/** @brief Append a sample value: integers exactly, others in the shortest
 *  round-tripping form, and `+Inf`, `-Inf`, `NaN`. */
void wd_prom_value(wd_buf_t *dst, double v);

/** @brief One sample line `name{labels} value`. \p name_suffix (may be NULL)
 *  is appended to \p name (`_bucket`, `_sum`, ...); \p extra (may be NULL) is
 *  one more label written after \p labels (`le`). */
void wd_prom_sample(wd_buf_t *dst, const char *name, const char *name_suffix,
                    const wd_prom_label_t *labels, size_t label_cnt,
                    const wd_prom_label_t *extra, double v);

/**
 * @brief A histogram's samples (no header): one `_bucket` line per bound with
 *        the cumulative count, `le="+Inf"` with the total, then `_sum` and
 *        `_count` (equal to the +Inf bucket).
 * @param bounds     upper bounds, increasing, \p bound_cnt of them.
 * @param counts     per-bucket (not cumulative) counts, \p bound_cnt + 1 of
 *                   them: the last one counts observations above every bound.
 */
void wd_prom_histogram(wd_buf_t *dst, const char *name,
                       const wd_prom_label_t *labels, size_t label_cnt,
                       const double *bounds, const uint64_t *counts,
                       size_t bound_cnt, double sum);

/* ==== HTTP endpoint (metrics_http.c, libmicrohttpd) ==== */

typedef struct wd_metrics_http_s wd_metrics_http_t;

/**
 * @brief Serve GET /metrics (the exposition of \p m) and GET /healthz (200
 *        "ok", or 503 "stale" once the heartbeat is older than
 *        \p stale_ms) on \p listen, from libmicrohttpd's own thread.
 * @param m  borrowed; must outlive the server.
 * @returns WD_OK with \p *srv set; WD_ERR_CONFIG for an address that does not
 *          parse or resolve; WD_ERR_IO if it cannot be bound (errstr names
 *          metrics.listen and says why).
 */
wd_err_t wd_metrics_http_start(wd_metrics_t *m, const char *listen,
                               int64_t stale_ms, wd_metrics_http_t **srv,
                               char *errstr, size_t errstr_size);

/** @brief The port actually bound (useful with port 0). */
uint16_t wd_metrics_http_port(const wd_metrics_http_t *srv);

/** @brief Stop serving and free \p srv (NULL is a no-op). Waits for requests
 *  in progress. */
void wd_metrics_http_stop(wd_metrics_http_t *srv);

#endif
