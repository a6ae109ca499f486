/* stream.h - stream mode: consume input.topic in a consumer group, publish one
 * cluster result (or one dead letter) per record, and commit an input offset
 * only once its output, and every earlier output of its partition, is acked.
 * Also `wiredup replay` (a backfill from a given point, wd_replay_t) and the
 * per-partition offset tracker behind the commits (wd_stream_track_*).
 *
 * One poll loop on the caller's thread: the consumer's queue serves
 * messages, callbacks and rebalances (rd_kafka_poll_set_consumer); the
 * idempotent producer is a second client polled in the same loop, so
 * delivery reports and offset stores never race with the rebalance
 * callback. Only the fingerprint stage runs elsewhere, on pipeline.threads
 * workers (workers.h); the loop commits their batches to the cluster stage
 * in consume order, and all of them before a rebalance or shutdown, so the
 * answers are the same for any thread count.
 *
 * @code
 *   signal(SIGTERM, on_signal);  // on_signal calls wd_stream_request_stop()
 *   wd_err_t err = wd_stream_run(cfg, errstr, sizeof(errstr));
 *   // WD_OK after a clean stop: flushed, stored, committed, closed
 * @endcode
 */
#ifndef WD_STREAM_H
#define WD_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "wiredup/config.h"
#include "wiredup/engine.h"
#include "wiredup/err.h"
#include "wiredup/metrics.h"

struct rd_kafka_s; /* rd_kafka_t, so that this header needs no rdkafka.h */

/**
 * @brief Run stream mode until wd_stream_request_stop() (or a fatal error).
 *
 * Consumer and producer get every kafka.* key of \p cfg (a key that only
 * means something to one side is given to that side only). Defaults when the
 * user sets none: bootstrap.servers localhost:9092, group.id wiredup,
 * auto.offset.reset earliest (a new group starts at the beginning of the
 * topic, as Kafka Streams does). enable.auto.offset.store is always false.
 *
 * @param cfg  borrowed; must stay valid until the call returns.
 * @returns WD_OK on a clean shutdown (flushed, committed, closed);
 *          WD_ERR_CONFIG for a kafka.* key or value librdkafka rejects
 *          (errstr "kafka.<key>: <librdkafka's reason>");
 *          WD_ERR_KAFKA for a fatal client error or an output that could not
 *          be delivered (nothing past it is committed).
 * @remark Blocks the calling thread. Not reentrant: one run per process at a
 *         time (the stop flag is process-wide, as signals are).
 */
wd_err_t wd_stream_run(const wd_config_t *cfg, char *errstr,
                       size_t errstr_size);

/**
 * @brief Ask a running (or the next) wd_stream_run to stop cleanly.
 * @remark Async-signal-safe: it only sets a volatile sig_atomic_t. The loop
 *         notices within its 100 ms poll timeout.
 */
void wd_stream_request_stop(void);

/** Called after each output (\p dead == 0) or dead letter (\p dead == 1) is
 *  acknowledged by the broker. \p value is the published record, \p key its
 *  key (both borrowed for the call). Runs on the wd_stream_run thread. */
typedef void(wd_stream_ack_cb_t)(void *opaque, int dead, const char *key,
                                 size_t key_len, const void *value,
                                 size_t value_len);

/** Called once per loop turn (about every 100 ms when idle, after every
 *  message consumed when busy). Return non-zero to stop as if
 *  wd_stream_request_stop() had been called. */
typedef int(wd_stream_tick_cb_t)(void *opaque);

/** Where `wiredup replay` starts reading. */
typedef enum wd_replay_from_e {
  WD_REPLAY_FROM_BEGINNING = 1, /**< every partition's first offset */
  WD_REPLAY_FROM_TIMESTAMP,     /**< the broker's offset-for-time lookup */
  WD_REPLAY_FROM_OFFSETS        /**< the listed partitions, at the listed offsets */
} wd_replay_from_t;

/** Counted by a replay, for its summary line. */
typedef struct wd_replay_summary_s {
  uint64_t records;    /**< records processed (valid and dead-lettered) */
  uint64_t duplicates; /**< records that joined an earlier cluster */
  uint64_t clusters;   /**< clusters started */
  uint64_t dead;       /**< dead-lettered records */
  uint64_t skipped;    /**< records before --from-timestamp skipped by us */
  double seconds;
} wd_replay_summary_t;

/**
 * A replay (backfill): read input.topic from a given point with a plain
 * assigned consumer (no group membership, nothing committed: the live
 * group's offsets never move), merge the partitions in event-time order
 * (ties by partition, then offset) and publish one result per record.
 *
 * Determinism: a partition's records are taken in offset order and the next
 * record published is always the earliest head among all partitions, chosen
 * only once every partition that still has records before its end offset
 * has a head. The order is thus a function of the topic's contents alone,
 * not of how fetches interleave: two replays publish identical results.
 */
typedef struct wd_replay_s {
  wd_replay_from_t from;
  int64_t from_ts_ms;       /**< WD_REPLAY_FROM_TIMESTAMP: epoch ms */
  const int32_t *partitions; /**< WD_REPLAY_FROM_OFFSETS: the partitions... */
  const int64_t *offsets;   /**< ...and where each starts */
  size_t offsets_cnt;
  int until_end;            /**< stop at the end offsets seen at start */
  wd_replay_summary_t *summary; /**< filled at the end, or NULL */
} wd_replay_t;

/**
 * @brief Parse --from-offsets "P:O,P:O,..." into \p parts / \p offs
 *        (allocated; free both with wd_free). Partitions must be distinct,
 *        0..WD_STREAM_TRACK_MAX_PARTITION; offsets >= 0.
 * @returns WD_OK or WD_ERR_USAGE (errstr says which entry and why).
 */
wd_err_t wd_replay_parse_offsets(const char *s, int32_t **parts, int64_t **offs,
                                 size_t *cnt, char *errstr, size_t errstr_size);

/** Extra knobs for embedding the stream loop (the demo, tests). */
typedef struct wd_stream_opts_s {
  /** kafka key/value pairs applied after \p cfg's (they win), or NULL. */
  const char *const *kafka_keys;
  const char *const *kafka_values;
  size_t kafka_cnt;
  wd_stream_ack_cb_t *on_ack;   /**< may be NULL */
  wd_stream_tick_cb_t *on_tick; /**< may be NULL */
  void *opaque;                 /**< passed to both callbacks */
  int fresh_state;              /**< ignore the checkpoint (--fresh-state) */
  int no_state;                 /**< no checkpoints at all (the demo) */
  /** Replay instead of the consumer group (wiredup replay), or NULL. A
   *  replay loads the checkpoint (unless fresh_state) but never writes it:
   *  its positions are not the live service's. */
  const wd_replay_t *replay;
  /** Counted into when set (records, latency, heartbeat, engine stats,
   *  consumer lag via statistics.interval.ms), or NULL. Borrowed. */
  wd_metrics_t *metrics;
} wd_stream_opts_t;

/**
 * @brief wd_stream_run with \p opts (may be NULL = plain wd_stream_run).
 *        The demo uses this to point the loop at its embedded broker; it is
 *        the same code path as wd_stream_run.
 */
wd_err_t wd_stream_run_opts(const wd_config_t *cfg,
                            const wd_stream_opts_t *opts, char *errstr,
                            size_t errstr_size);

/** @brief A librdkafka log_cb (rd_kafka_conf_set_log_cb) that writes through
 *  WD_LOG, mapping syslog levels 0-3 to error, 4 warn, 5-6 info, 7 debug.
 *  Thread-safe: librdkafka calls it from its own threads. */
void wd_stream_rdkafka_log(const struct rd_kafka_s *rk, int level,
                           const char *fac, const char *buf);

/* ==== Offset tracking (used by the loop; public so it can be unit tested) ====
 */

/**
 * Per input partition, the offsets handed to the producer, in consume order.
 * A delivery report acks one of them; the committable position is one past
 * the longest acked prefix, so acks arriving out of order (outputs go to
 * different output partitions) never let an unacked offset be committed.
 *
 * Each pushed offset gets a 64-bit token (partition in the top 16 bits, a
 * per-partition sequence number below) that travels as the message opaque.
 * Resetting a partition (assign/revoke) discards its in-flight entries, so a
 * late report from an earlier assignment matches nothing and is ignored.
 *
 * @code
 *   wd_stream_track_t *trk = wd_stream_track_new();
 *   wd_stream_track_reset(trk, 3);
 *   uint64_t t = wd_stream_track_push(trk, 3, 42);   // opaque for produce
 *   wd_stream_track_ack(trk, t, 1);                  // in the delivery report
 *   int64_t next = wd_stream_track_next(trk, 3);     // 43: store this
 *   wd_stream_track_destroy(trk);
 * @endcode
 */
typedef struct wd_stream_track_s wd_stream_track_t;

/** Highest partition number the token format can carry. */
#define WD_STREAM_TRACK_MAX_PARTITION 0xfffe

/** @brief An empty tracker. Never NULL (out of memory exits). */
wd_stream_track_t *wd_stream_track_new(void);
/** @brief Free \p trk; NULL is a no-op. */
void wd_stream_track_destroy(wd_stream_track_t *trk);

/** @brief Forget \p partition's in-flight offsets and committable position
 *  (call on assign, revoke and lost). Reports for them are then ignored. */
void wd_stream_track_reset(wd_stream_track_t *trk, int32_t partition);

/**
 * @brief Record that \p offset of \p partition is being produced.
 * @pre 0 <= partition <= WD_STREAM_TRACK_MAX_PARTITION.
 * An offset not above the last one in flight means the consumer went back
 * within its assignment (librdkafka reset its position, e.g. offset out of
 * range after an unclean leader election): the partition is reset first, as
 * on a reassignment, because everything in flight will be consumed again.
 * @returns the token to pass as the message opaque. Amortised O(1); the ring
 *          grows (doubling) to the number of offsets in flight.
 */
uint64_t wd_stream_track_push(wd_stream_track_t *trk, int32_t partition,
                              int64_t offset);

/**
 * @brief Apply a delivery report for \p token.
 * @param ok  1 = delivered; 0 = failed: the entry stays unacked for good, so
 *            nothing at or after it is ever committable.
 * @returns 1 if the token was in flight, 0 if it was stale (ignored).
 * @remark O(1) plus the prefix it unblocks.
 */
int wd_stream_track_ack(wd_stream_track_t *trk, uint64_t token, int ok);

/** @brief wd_stream_track_ack for the entry of \p offset in \p partition (a
 *  reader whose records are decided out of offset order acks by offset).
 *  @returns 1 if it was in flight, 0 otherwise. O(log in flight). */
int wd_stream_track_ack_offset(wd_stream_track_t *trk, int32_t partition, int64_t offset,
                               int ok);

/** @brief The offset to store for \p partition (one past the last record of
 *  the acked prefix), or -1 when nothing has been acked since the reset. */
int64_t wd_stream_track_next(const wd_stream_track_t *trk, int32_t partition);

/** @brief Offsets of \p partition pushed but not yet part of the acked prefix.
 */
size_t wd_stream_track_inflight(const wd_stream_track_t *trk,
                                int32_t partition);

/** @brief Partitions whose committable position moved since the last call
 *  (or the last reset), written to \p dst (at most \p dst_cap of them).
 *  @returns how many were written; the rest stay pending for the next call. */
size_t wd_stream_track_take_dirty(wd_stream_track_t *trk, int32_t *dst,
                                  size_t dst_cap);

#endif
