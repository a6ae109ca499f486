/* merge.h - the event-time merge of a partitioned input, and its watermark.
 *
 * Stream mode and replay read several partitions at once; each partition is
 * in offset order, but the partitions arrive in whatever order the fetches
 * come back. The merge holds each partition's records in a queue and hands
 * them out in event-time order: the next record is the earliest head among
 * the partitions (ties: the lower partition, then offset order), taken only
 * when no partition that may still deliver an earlier record is empty. This
 * is Kafka Streams' timestamp-synchronised choice (PartitionGroup, with
 * max.task.idle.ms) and what makes a backlog spread over partitions give the
 * answers of one ordered file.
 *
 * An empty partition holds the others back while it is behind: not known to
 * be at the broker's end (its high watermark past its position, or not
 * known yet) and not read to the end it was given (wd_merge_set_end). It is
 * waited for up to max_wait; after that the merge goes on without it and
 * counts the wait as timed out (its records may then come out of order).
 * A partition at the broker's end holds nothing back, so a caught-up stream
 * answers a new record at once.
 *
 * The watermark, as in Flink's per-split watermarks: each partition's is the
 * newest event time it delivered minus lateness; the merge's is the minimum
 * over the partitions that are not idle, never moving back. A partition is
 * idle once it has had nothing queued and nothing new for idle_timeout; it
 * rejoins with its next record. The engine evicts no article the watermark
 * has not passed, so a partition that lags in event time keeps the
 * originals its copies will need.
 *
 * Memory is bounded: a partition holding high_bytes or high_msgs is to be
 * paused (wd_merge_pause_wanted) and resumed below a quarter of both.
 *
 * Plain data only: items are opaque pointers the caller owns (Kafka
 * messages in stream.c), times are milliseconds, "now" is the caller's
 * monotonic clock. Not thread-safe: one thread uses a merge.
 *
 * @code
 *   wd_merge_t *m = wd_merge_new(&opts);
 *   wd_merge_add(m, 0, 0, now);
 *   wd_merge_push(m, 0, offset, ts, len, msg, now);   // 0: not taken, free msg
 *   wd_merge_item_t it;
 *   while (wd_merge_pop(m, now, &it)) process(it.item);
 *   wd_merge_remove(m, 0, free_cb, NULL);
 *   wd_merge_destroy(m, free_cb, NULL);
 * @endcode
 */
#ifndef WD_MERGE_H
#define WD_MERGE_H

#include <stddef.h>
#include <stdint.h>

typedef struct wd_merge_s wd_merge_t;

typedef struct wd_merge_opts_s {
  int64_t lateness_ms;     /**< a partition's watermark: newest event time - this */
  int64_t idle_timeout_ms; /**< idle after this long with nothing; < 0: never idle */
  int64_t max_wait_ms;     /**< wait this long for an empty partition behind; < 0: forever */
  size_t high_bytes;       /**< pause a partition holding this many bytes (> 0)... */
  size_t high_msgs;        /**< ...or this many records (0: no limit) */
} wd_merge_opts_t;

/** One record handed out by wd_merge_pop. */
typedef struct wd_merge_item_s {
  void *item;       /**< as pushed; the caller's again */
  int32_t partition;
  int64_t offset;
  int64_t ts_ms;    /**< its event time */
  size_t bytes;
  double pushed_ms; /**< when it was pushed (the caller's clock) */
  int out_of_order; /**< a record with a later time was handed out before it */
} wd_merge_item_t;

/** Counters since wd_merge_new. */
typedef struct wd_merge_stats_s {
  uint64_t out_of_order;   /**< records handed out after a later one */
  uint64_t wait_timeouts;  /**< empty partitions given up on after max_wait */
  uint64_t duplicates;     /**< pushes below the next offset (fetched again) */
  size_t queued;           /**< records queued now */
  size_t queued_bytes;
  size_t partitions;       /**< partitions being merged */
  size_t idle;             /**< of them, idle now */
  int64_t watermark_ms;    /**< as wd_merge_watermark */
  int64_t max_ts_ms;       /**< newest event time handed out; INT64_MIN before any */
} wd_merge_stats_t;

/** Called for each queued item a remove or destroy discards. */
typedef void(wd_merge_drop_cb_t)(void *item, void *opaque);

/** @brief An empty merge. Never NULL (out of memory exits). */
wd_merge_t *wd_merge_new(const wd_merge_opts_t *opts);
/** @brief Free \p m, handing each item still queued to \p drop (may be NULL);
 *  NULL \p m is a no-op. */
void wd_merge_destroy(wd_merge_t *m, wd_merge_drop_cb_t *drop, void *opaque);

/**
 * @brief Start merging \p partition (0..WD_MERGE_MAX_PARTITION), read from
 *        \p next on (-1: wherever the first record is). \p max_ts_ms is the
 *        newest event time it delivered before (a checkpoint's), or
 *        INT64_MIN: then it holds the watermark back until its first record,
 *        or until idle. Adding a partition already merged resets it (its
 *        queue goes to \p drop).
 */
void wd_merge_add(wd_merge_t *m, int32_t partition, int64_t next, int64_t max_ts_ms,
                  double now_ms, wd_merge_drop_cb_t *drop, void *opaque);

#define WD_MERGE_MAX_PARTITION 0xfffe

/** @brief Stop merging \p partition (revoked); its queue goes to \p drop. */
void wd_merge_remove(wd_merge_t *m, int32_t partition, wd_merge_drop_cb_t *drop,
                     void *opaque);

/** @brief Whether \p partition is being merged. */
int wd_merge_has(const wd_merge_t *m, int32_t partition);

/** @brief Read \p partition only up to \p end (exclusive): it is done, and
 *  holds nothing back, once its position reaches it (replay --until-end). */
void wd_merge_set_end(wd_merge_t *m, int32_t partition, int64_t end);

/** @brief The broker's end of \p partition as last heard (high watermark,
 *  or the offset of an end-of-partition event): at or past it, an empty
 *  partition is caught up and holds nothing back. */
void wd_merge_set_high(wd_merge_t *m, int32_t partition, int64_t high);

/** @brief The reader of \p partition is at the broker's end, at \p offset
 *  (an end-of-partition event): as wd_merge_set_high, and the position is
 *  \p offset where it was not known yet. */
void wd_merge_eof(wd_merge_t *m, int32_t partition, int64_t offset);

/**
 * @brief Queue record \p offset of \p partition, with event time \p ts_ms.
 * @returns 1 taken (the merge holds \p item until popped or dropped); 0 not
 *          taken (the partition is not merged, done, or the offset is below
 *          its position: fetched again after a pause): the caller frees it.
 */
int wd_merge_push(wd_merge_t *m, int32_t partition, int64_t offset, int64_t ts_ms,
                  size_t bytes, void *item, double now_ms);

/** @brief Record \p offset of \p partition was read and passed over by the
 *  caller (never queued): the position moves past it. */
void wd_merge_skip(wd_merge_t *m, int32_t partition, int64_t offset);

/** @brief Record \p offset of \p partition, event time \p ts_ms, was handed
 *  out in an order decided elsewhere (an earlier owner's order record): the
 *  position moves past it and the event times account for it, as if it had
 *  been pushed and popped. The partition is added if it is not merged.
 *  @returns 1; 0 when the offset is below the position (had it already). */
int wd_merge_passed(wd_merge_t *m, int32_t partition, int64_t offset, int64_t ts_ms,
                    double now_ms);

/**
 * @brief Take the next record in event-time order into \p out.
 * @returns 1 with \p out filled; 0 when nothing may go yet (nothing queued,
 *          or a partition behind is being waited for: wd_merge_waiting says
 *          which).
 */
int wd_merge_pop(wd_merge_t *m, double now_ms, wd_merge_item_t *out);

/** @brief The partition the last wd_merge_pop that returned 0 waited for,
 *  or -1 (it had nothing to give). */
int32_t wd_merge_waiting(const wd_merge_t *m);

/** @brief 1: \p partition holds too much and should be paused; 0: it is
 *  paused and should be resumed; -1: leave it as it is. Say what was done
 *  with wd_merge_paused. */
int wd_merge_pause_wanted(const wd_merge_t *m, int32_t partition);
void wd_merge_paused(wd_merge_t *m, int32_t partition, int paused);

/** @brief Whether \p partition is merged and paused (as wd_merge_paused said). */
int wd_merge_is_paused(const wd_merge_t *m, int32_t partition);

/** @brief The lowest merged partition at or after \p from whose pause
 *  should change (wd_merge_pause_wanted not -1), or -1: where a pause or
 *  resume that failed is to be tried again, since no record of a partition
 *  left paused with nothing queued comes to ask for it. */
int32_t wd_merge_pause_due(const wd_merge_t *m, int32_t from);

/** @brief A partition whose wait was given up (max_wait_ms) since the last
 *  call, lowest first, each timeout once; -1 when none. For a warning that
 *  names it: the count alone (wd_merge_stats) does not say which partition
 *  went silent. */
int32_t wd_merge_timeout_take(wd_merge_t *m);

/** @brief The watermark now (INT64_MIN before any; INT64_MAX when no
 *  partition holds it back). Never moves back, except to INT64_MAX. */
int64_t wd_merge_watermark(wd_merge_t *m, double now_ms);

/** @brief One partition's state, for metrics and checkpoints. */
typedef struct wd_merge_part_s {
  int32_t partition;
  int64_t next;          /**< offset after the last record pushed */
  int64_t max_ts_ms;     /**< newest event time pushed (INT64_MIN: none) */
  int64_t watermark_ms;  /**< max_ts_ms - lateness (INT64_MIN: none) */
  size_t queued;
  int idle;
  int caught_up;
  int done;
} wd_merge_part_t;

/** @brief The \p i-th merged partition (0 <= i < stats.partitions), in
 *  partition order. @returns 0 past the last. */
int wd_merge_part(const wd_merge_t *m, size_t i, double now_ms, wd_merge_part_t *out);

/** @brief Whether every partition is done with nothing queued. */
int wd_merge_finished(const wd_merge_t *m);

/** @brief Records queued plus, where the end is known, records still to read
 *  before it (a lag for progress lines). */
int64_t wd_merge_lag(const wd_merge_t *m);

void wd_merge_stats(wd_merge_t *m, double now_ms, wd_merge_stats_t *st);

#endif
