/* stream_consume.c - stream mode's consumer side: consumed messages through
 * the event-time merge (merge.h) into the batches, the partitions paused and
 * resumed as its memory bound asks, and the rebalance callback (where each
 * assigned partition starts, what a revoke commits first). */
#include "wiredup/stream.h"
#include "wiredup/log.h"
#include "wiredup/mem.h"
#include "wiredup/merge.h"
#include "wiredup/metrics.h"
#include "wiredup/record.h"
#include "wiredup/state.h"

#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream_int.h"

#define COMMITTED_TIMEOUT_MS 10000

/* The merge pauses a partition holding MERGE_FETCHES_BUFFERED fetch
 * responses (max.partition.fetch.bytes each, librdkafka's per-partition
 * fetch size, 1 MiB by default) or MERGE_HIGH_MSGS records, and resumes it
 * below a quarter of that, so a partition that runs ahead in event time
 * cannot make us buffer without bound. A pause discards what librdkafka
 * prefetched for the partition, so the limit sits well above one response:
 * pausing on every batch would fetch everything twice. */
#define MERGE_FETCHES_BUFFERED 16
#define MERGE_HIGH_MSGS 65536u

/* ==== The event-time merge (merge.h) between the consumer and the batches ==== */

/* wd_merge_drop_cb_t: a queued record never processed (revoked partition,
 * shutdown). It was not stored, so it is consumed again after a restart. */
void stream_merge_drop(void *item, void *opaque) {
  (void)opaque;
  rd_kafka_message_destroy(item);
}

wd_merge_t *stream_merge_new(const stream_t *st, int deterministic) {
  wd_merge_opts_t mo;
  const char *fetch = stream_user_value(st, "max.partition.fetch.bytes");
  long long fetch_bytes = fetch ? atoll(fetch) : 0;
  memset(&mo, 0, sizeof(mo));
  mo.lateness_ms = st->cfg->index_allowed_lateness_ms;
  mo.idle_timeout_ms = st->cfg->input_idle_timeout_ms;
  /* A replay's order depends on the topic alone: it waits as long as it takes. */
  mo.max_wait_ms = deterministic ? -1 : st->cfg->input_order_timeout_ms;
  mo.high_bytes = (size_t)(fetch_bytes > 0 ? fetch_bytes : 1 << 20) * MERGE_FETCHES_BUFFERED;
  mo.high_msgs = MERGE_HIGH_MSGS;
  return wd_merge_new(&mo);
}

/* rd_kafka_pause_partitions or rd_kafka_resume_partitions on one input
 * partition. Both return NO_ERROR whatever became of the partition: its own
 * error is in the list. */
static rd_kafka_resp_err_t pause_resume(stream_t *st, int32_t partition, int pause) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, st->in_topic, partition);
  rd_kafka_resp_err_t err = pause ? rd_kafka_pause_partitions(st->consumer, l)
                                  : rd_kafka_resume_partitions(st->consumer, l);
  if (!err)
    err = l->elems[0].err;
  rd_kafka_topic_partition_list_destroy(l);
  return err;
}

/* Note \p partition as resumed since the last rebalance callback
 * (merge_reresume), once. */
static void resumed_add(stream_t *st, int32_t partition) {
  for (size_t i = 0; i < st->resumed_cnt; i++)
    if (st->resumed[i] == partition)
      return;
  if (st->resumed_cnt == st->resumed_cap) {
    st->resumed_cap = st->resumed_cap ? 2 * st->resumed_cap : 16;
    st->resumed = wd_realloc(st->resumed, st->resumed_cap * sizeof(*st->resumed));
  }
  st->resumed[st->resumed_cnt++] = partition;
}

/* Pause or resume \p partition as the merge's memory bound asks. A failure
 * leaves the merge's view as it was, to be tried again (merge_pause_retry):
 * after a failed resume, no record of the partition may come to ask again. */
static void merge_pause(stream_t *st, int32_t partition) {
  /* The cluster role's partitions are the input's, all read from one
   * fingerprints partition: pausing that would stop them all. */
  int pause = st->role == STREAM_CLUSTER ? -1 : wd_merge_pause_wanted(st->mg, partition);
  if (pause < 0)
    return;
  rd_kafka_resp_err_t err = pause_resume(st, partition, pause);
  if (err) {
    st->pause_retry = 1;
    WD_LOG(WD_LOG_WARN, pause ? "could not pause a partition" : "could not resume a partition",
           "partition=%d error=%s", (int)partition, rd_kafka_err2name(err));
    return;
  }
  wd_merge_paused(st->mg, partition, pause);
  WD_LOG(WD_LOG_DEBUG, pause ? "partition paused" : "partition resumed", "partition=%d",
         (int)partition);
  if (!pause)
    resumed_add(st, partition);
}

/* Each pause or resume still due after a failure, tried again at most once
 * a second (a lasting failure warns that often, no more). */
#define PAUSE_RETRY_MS 1000.0
static void merge_pause_retry(stream_t *st, double now) {
  if (!st->pause_retry || now - st->pause_tried < PAUSE_RETRY_MS)
    return;
  st->pause_retry = 0; /* set again by a failure */
  st->pause_tried = now;
  for (int32_t p = wd_merge_pause_due(st->mg, 0); p >= 0; p = wd_merge_pause_due(st->mg, p + 1))
    merge_pause(st, p);
}

/* The input partition \p rkm belongs to, or -1 (another topic, or out of range). */
static int32_t input_partition(stream_t *st, const rd_kafka_message_t *rkm) {
  if (!rkm->rkt || strcmp(rd_kafka_topic_name(rkm->rkt), st->in_topic) != 0)
    return -1;
  if (rkm->partition < 0 || rkm->partition > WD_STREAM_TRACK_MAX_PARTITION) {
    stream_set_fatal(
        st, "%s: partition %d: more than %d partitions are not supported",
        st->in_topic, (int)rkm->partition,
        WD_STREAM_TRACK_MAX_PARTITION + 1);
    return -1;
  }
  return rkm->partition;
}

/* A record's event time: its timestamp field, else the message's. */
static int64_t event_time(stream_t *st, const rd_kafka_message_t *rkm) {
  wd_record_t rec;
  char why[256];
  int64_t msg_ts = rd_kafka_message_timestamp(rkm, NULL);
  if (wd_record_decode(st->dec, rkm->payload ? rkm->payload : "", rkm->len,
                       rkm->key_len ? rkm->key : NULL, rkm->key_len, msg_ts, &rec, why,
                       sizeof(why)) == WD_OK &&
      rec.has_ts)
    return rec.ts_ms;
  return msg_ts;
}

/* A consumer error event: informational, librdkafka keeps trying. */
static void consumer_error(const rd_kafka_message_t *rkm) {
  char q[600];
  WD_LOG(WD_LOG_WARN, "consumer error", "error=%s reason=%s", rd_kafka_err2name(rkm->err),
         wd_log_quote(q, sizeof(q), rd_kafka_message_errstr(rkm)));
}

/* Take one consumed message (ours from now on): an end-of-partition event
 * tells the merge where the broker's end is, an error is logged, a record
 * joins its partition's queue (unless \p skip says the caller drops it). */
void stream_merge_take(stream_t *st, rd_kafka_message_t *rkm,
                       int (*skip)(void *, rd_kafka_message_t *),
                       void *skip_opaque) {
  int32_t part = input_partition(st, rkm);
  if (rkm->err) {
    if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (part >= 0 && st->role == STREAM_CLUSTER)
        stream_topo_eof(st);
      else if (part >= 0)
        wd_merge_eof(st->mg, part, rkm->offset);
    } else {
      consumer_error(rkm);
    }
    rd_kafka_message_destroy(rkm);
    return;
  }
  if (part < 0) {
    rd_kafka_message_destroy(rkm);
    return;
  }
  if (st->role == STREAM_FINGERPRINT) {
    /* no order across partitions to keep here: the cluster stage keeps it */
    stream_batch_take(st, rkm, -1, INT64_MAX, stream_now_ms());
    if (st->metrics)
      wd_metrics_add(st->metrics, WD_METRIC_RECORDS_IN, 1);
    return;
  }
  if (st->role == STREAM_CLUSTER) {
    stream_topo_take(st, rkm);
    return;
  }
  if (skip && skip(skip_opaque, rkm)) {
    rd_kafka_message_destroy(rkm);
  } else if (!wd_merge_push(st->mg, part, rkm->offset, event_time(st, rkm),
                            rkm->len, rkm, stream_now_ms())) {
    rd_kafka_message_destroy(rkm); /* not wanted, or had already */
  } else if (st->metrics) {
    wd_metrics_add(st->metrics, WD_METRIC_RECORDS_IN, 1);
  }
  merge_pause(st, part);
}

/* Hand the batches every record the merge lets go, in its order.
 * @returns how many. */
size_t stream_merge_dispatch(stream_t *st) {
  wd_merge_item_t it;
  size_t n = 0;
  int32_t refreshed = -1;
  if (st->role == STREAM_CLUSTER && !stream_topo_ends(st))
    return 0;
  while (!st->fatal) {
    double now = stream_now_ms();
    if (!wd_merge_pop(st->mg, now, &it)) {
      /* Waiting for a partition: maybe it has caught up since its last
       * record (librdkafka's cached high watermark, no broker round trip). */
      int32_t w = wd_merge_waiting(st->mg);
      int64_t lo, hi;
      if (w >= 0 && w != refreshed && st->role == STREAM_CLUSTER) {
        if (!stream_topo_refresh(st, w))
          break;
        refreshed = w;
        continue;
      }
      if (w < 0 || w == refreshed ||
          rd_kafka_get_watermark_offsets(st->consumer, st->in_topic, w, &lo, &hi) ||
          hi < 0)
        break;
      wd_merge_set_high(st->mg, w, hi);
      refreshed = w;
      continue;
    }
    refreshed = -1;
    stream_batch_take(st, it.item, it.ts_ms, wd_merge_watermark(st->mg, now),
                      it.pushed_ms);
    merge_pause(st, it.partition);
    n++;
  }
  /* Going on without a partition is legitimate (a slow or stuck one must not
   * stop the rest), but it should not go unseen: a partition that is never
   * fetched shows only here. */
  for (int32_t p = wd_merge_timeout_take(st->mg); p >= 0; p = wd_merge_timeout_take(st->mg))
    WD_LOG(WD_LOG_WARN,
           "gave up waiting for a partition that may hold earlier records: going on "
           "without it until its next record",
           "topic=%s partition=%d waited_ms=%lld", st->in_topic, (int)p,
           (long long)st->cfg->input_order_timeout_ms);
  merge_pause_retry(st, stream_now_ms());
  return n;
}

/* ==== Rebalances ==== */

int32_t stream_topic_partition_cnt(stream_t *st) {
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_topic_t *rkt =
      rd_kafka_topic_new(st->consumer, st->cfg->input_topic, NULL);
  int32_t cnt = -1;
  if (!rkt)
    return -1;
  if (rd_kafka_metadata(st->consumer, 0, rkt, &md, METADATA_TIMEOUT_MS) ==
          RD_KAFKA_RESP_ERR_NO_ERROR &&
      md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
    cnt = md->topics[0].partition_cnt;
  if (md)
    rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(rkt);
  return cnt;
}

/* Dedup scope is one process: if our assignment is a strict part of the
 * topic, another member holds the rest and duplicates across the two are
 * missed. Warn once per assignment size, i.e. once per rebalance. */
static void check_shared(stream_t *st) {
  rd_kafka_topic_partition_list_t *asg = NULL;
  int mine = 0;
  if (rd_kafka_assignment(st->consumer, &asg) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return;
  for (int i = 0; i < asg->cnt; i++)
    mine += strcmp(asg->elems[i].topic, st->in_topic) == 0;
  rd_kafka_topic_partition_list_destroy(asg);
  int32_t total = stream_topic_partition_cnt(st);
  if (total <= 0)
    return;
  if (mine >= total) {
    st->warned_assigned = -1;
  } else if (st->warned_assigned != mine) {
    st->warned_assigned = mine;
    WD_LOG(WD_LOG_WARN,
           "another group member shares the input: duplicates across members "
           "will be missed",
           "topic=%s assigned=%d partitions=%d", st->cfg->input_topic, mine,
           (int)total);
  }
}

static void log_partitions(const char *msg,
                           const rd_kafka_topic_partition_list_t *parts,
                           const char *protocol, int lost) {
  char list[1024];
  size_t o = 0;
  list[0] = '\0';
  for (int i = 0; i < parts->cnt && o + 16 < sizeof(list); i++)
    o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%d", i ? "," : "",
                          (int)parts->elems[i].partition);
  /* cooperative rebalances often hand us nothing: not worth an info line */
  WD_LOG(parts->cnt ? WD_LOG_INFO : WD_LOG_DEBUG, msg,
         "topic=%s partitions=%s protocol=%s%s",
         parts->cnt ? parts->elems[0].topic : "-", parts->cnt ? list : "-",
         protocol, lost ? " lost=true" : "");
}

/* Where to start each newly assigned partition, given the committed offset C
 * (outputs acknowledged up to there) and the offset S the similarity memory
 * reflects (from the checkpoint, or from this run):
 *  - S >= C, or no commit yet: start at the committed offset (or
 *    auto.offset.reset). Records in [C, S) are in the memory already, so
 *    they get their stored answers again (the redelivery rule): no input
 *    without a result, and the same result.
 *  - S < C: the process died after committing records its last checkpoint
 *    did not include. Start at S: records in [S, C) are processed again
 *    against the state they were first processed against, so they get the
 *    same answers (republished, keyed by id) and are back in the memory.
 * Never start after C: outputs past it may not have been delivered. */
static void start_at_state(stream_t *st, rd_kafka_t *rk,
                           rd_kafka_topic_partition_list_t *parts) {
  rd_kafka_topic_partition_list_t *q = rd_kafka_topic_partition_list_new(parts->cnt);
  for (int i = 0; i < parts->cnt; i++) {
    const rd_kafka_topic_partition_t *p = &parts->elems[i];
    if (strcmp(p->topic, st->cfg->input_topic) == 0 &&
        wd_state_offsets_get(&st->processed, p->topic, p->partition) >= 0)
      rd_kafka_topic_partition_list_add(q, p->topic, p->partition);
  }
  if (q->cnt == 0) {
    rd_kafka_topic_partition_list_destroy(q);
    return;
  }
  rd_kafka_resp_err_t err = rd_kafka_committed(rk, q, COMMITTED_TIMEOUT_MS);
  if (err) {
    /* Starting at the committed offset loses no result; only memory of
     * the records between checkpoint and commit is missing. */
    WD_LOG(WD_LOG_WARN, "could not read committed offsets: starting at them",
           "error=%s", rd_kafka_err2name(err));
    rd_kafka_topic_partition_list_destroy(q);
    return;
  }
  for (int i = 0; i < q->cnt; i++) {
    const rd_kafka_topic_partition_t *c = &q->elems[i];
    int64_t have = wd_state_offsets_get(&st->processed, c->topic, c->partition);
    if (c->err || c->offset < 0 || have >= c->offset)
      continue;
    for (int k = 0; k < parts->cnt; k++) {
      rd_kafka_topic_partition_t *p = &parts->elems[k];
      if (p->partition == c->partition && strcmp(p->topic, c->topic) == 0)
        p->offset = have;
    }
    WD_LOG(WD_LOG_INFO, "partition starts at the checkpoint, before the commit",
           "topic=%s partition=%d checkpoint_offset=%lld committed=%lld", c->topic,
           (int)c->partition, (long long)have, (long long)c->offset);
  }
  rd_kafka_topic_partition_list_destroy(q);
}

/* The newest event time \p partition had delivered when the similarity
 * memory was last saved, or INT64_MIN. */
static int64_t merge_restored_ts(const stream_t *st, int32_t partition) {
  return st->state_dir ? wd_state_offsets_get_event(&st->processed, st->cfg->input_topic,
                                                     partition)
                       : INT64_MIN;
}

/* Newly assigned input partitions join the merge at the offsets they start
 * at, unpaused: every partition was resumed when it was last revoked
 * (resume_revoked), so no pause of an earlier assignment lingers.
 *
 * They are not resumed here, though that would be simpler: the resume would
 * race the fetcher start librdkafka's main thread makes for each of them at
 * the same moment (after fetching the committed offsets). librdkafka 2.0.2
 * gives every resume a new op version, even a resume of a partition that is
 * not paused (made a no-op in 2.4.0, librdkafka issue 4686); a fetcher start
 * that took its version just before the resume's but is queued just after
 * it is dropped as outdated. That partition is then never fetched, with no
 * error, and the merge goes on without it after input.order_timeout. Forced
 * by holding the main thread inside that window, 0041 case B answered 4,404
 * of 4,688 records (all but partition 9's 284) and then nothing; the same
 * count once ended a loaded suite run. */
static void merge_assign(stream_t *st, const rd_kafka_topic_partition_list_t *parts) {
  for (int i = 0; i < parts->cnt; i++) {
    const rd_kafka_topic_partition_t *p = &parts->elems[i];
    if (strcmp(p->topic, st->in_topic) != 0 || p->partition < 0 ||
        p->partition > WD_MERGE_MAX_PARTITION)
      continue;
    wd_merge_add(st->mg, p->partition, p->offset >= 0 ? p->offset : -1,
                 merge_restored_ts(st, p->partition), stream_now_ms(),
                 stream_merge_drop, NULL);
  }
}

/* Revoked input partitions are resumed before they go, paused by the merge
 * or not: librdkafka keeps a partition's pause across assignments, and a
 * later assignment of it must start fetching without a resume (merge_assign
 * says why). The merge's own view is not enough: a resume of ours may have
 * been lost (merge_reresume). Whatever this resume races, the unassign that
 * follows stops the fetcher anyway, so resuming a partition that was not
 * paused costs nothing. */
static void resume_revoked(stream_t *st, const rd_kafka_topic_partition_list_t *parts) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts->cnt);
  for (int i = 0; i < parts->cnt; i++)
    if (strcmp(parts->elems[i].topic, st->in_topic) == 0)
      rd_kafka_topic_partition_list_add(l, st->in_topic, parts->elems[i].partition);
  if (l->cnt && !rd_kafka_resume_partitions(st->consumer, l))
    for (int i = 0; i < l->cnt; i++)
      if (l->elems[i].err)
        WD_LOG(WD_LOG_WARN, "could not resume a revoked partition: if assigned again, it stays "
               "paused", "partition=%d error=%s", (int)l->elems[i].partition,
               rd_kafka_err2name(l->elems[i].err));
  rd_kafka_topic_partition_list_destroy(l);
}

/* Whether \p parts holds input partition \p partition. */
static int parts_have(const stream_t *st, const rd_kafka_topic_partition_list_t *parts,
                      int32_t partition) {
  for (int i = 0; i < parts->cnt; i++)
    if (parts->elems[i].partition == partition && strcmp(parts->elems[i].topic, st->in_topic) == 0)
      return 1;
  return 0;
}

/* Before it hands us a rebalance, librdkafka pauses the whole assignment
 * from its main thread (a "library" pause), and that pause races a resume of
 * ours for the partition's op version as the fetcher start does in
 * merge_assign: of two ops, the one with the lower version queued second is
 * dropped. With ours dropped the partition stays paused while the merge
 * counts it resumed, and it is never fetched again. So each partition still
 * held (not in \p revoked) and resumed since the last rebalance callback is
 * resumed again here, where nothing races (librdkafka waits for our (un)assign
 * call). At worst it was not paused: librdkafka 2.0.2 then refetches from
 * where it was last paused, duplicates the merge drops. */
static void merge_reresume(stream_t *st, const rd_kafka_topic_partition_list_t *revoked) {
  for (size_t i = 0; i < st->resumed_cnt; i++) {
    const int32_t p = st->resumed[i];
    if (!wd_merge_has(st->mg, p) || wd_merge_is_paused(st->mg, p) ||
        (revoked && parts_have(st, revoked, p)))
      continue;
    rd_kafka_resp_err_t err = pause_resume(st, p, 0);
    if (err)
      WD_LOG(WD_LOG_WARN, "could not resume a partition again after a rebalance",
             "partition=%d error=%s", (int)p, rd_kafka_err2name(err));
    else
      WD_LOG(WD_LOG_DEBUG, "partition resumed again after a rebalance", "partition=%d", (int)p);
  }
  st->resumed_cnt = 0;
}

void stream_on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
  stream_t *st = opaque;
  const char *protocol = rd_kafka_rebalance_protocol(rk);
  rd_kafka_error_t *error = NULL;
  rd_kafka_resp_err_t aerr = RD_KAFKA_RESP_ERR_NO_ERROR;
  int lost = 0;

  /* Everything consumed before the rebalance is committed and produced
   * first, as if each message had been handled when it was polled: a
   * revoke then flushes and commits it, and the tracker resets below never
   * meet a message of an older assignment still to come. */
  stream_batches_drain(st);

  st->cooperative = protocol && strcmp(protocol, "COOPERATIVE") == 0;
  if (st->role == STREAM_ALL)
    merge_reresume(st, err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS ? parts : NULL);
  switch (err) {
  case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
    st->synced = 1; /* the consumer may now be destroyed (stream.c, consumer_destroy) */
    log_partitions("partitions assigned", parts, protocol ? protocol : "NONE",
                   0);
    /* Fresh trackers: consumption resumes at the committed offset, or
     * earlier where the similarity memory is behind it. */
    for (int i = 0; i < parts->cnt; i++)
      if (strcmp(parts->elems[i].topic, st->in_topic) == 0)
        wd_stream_track_reset(st->trk, parts->elems[i].partition);
    if (st->state_dir)
      start_at_state(st, rk, parts);
    if (st->role == STREAM_CLUSTER)
      stream_topo_elected(st, parts); /* from the start, quiet up to the commit */
    if (st->cooperative)
      error = rd_kafka_incremental_assign(rk, parts);
    else
      aerr = rd_kafka_assign(rk, parts);
    if (!error && !aerr && st->role == STREAM_ALL)
      merge_assign(st, parts);
    break;

  case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS: {
    /* A lost assignment already belongs to someone else: committing for it
     * could overwrite the new owner's progress. */
    lost = rd_kafka_assignment_lost(rk);
    log_partitions("partitions revoked", parts, protocol ? protocol : "NONE",
                   lost);
    if (!lost)
      stream_commit_revoked(st, parts);
    for (int i = 0; i < parts->cnt; i++)
      if (strcmp(parts->elems[i].topic, st->in_topic) == 0) {
        wd_stream_track_reset(st->trk, parts->elems[i].partition);
        /* consumed, never processed nor stored: the next owner reads them */
        if (st->role == STREAM_ALL)
          wd_merge_remove(st->mg, parts->elems[i].partition, stream_merge_drop,
                          NULL);
      }
    if (st->role == STREAM_ALL)
      resume_revoked(st, parts);
    if (st->role == STREAM_CLUSTER && parts->cnt)
      stream_topo_deposed(st);
    if (st->cooperative)
      error = rd_kafka_incremental_unassign(rk, parts);
    else
      aerr = rd_kafka_assign(rk, NULL);
    break;
  }

  default:
    WD_LOG(WD_LOG_ERROR, "rebalance failed", "error=%s",
           rd_kafka_err2name(err));
    aerr = rd_kafka_assign(rk, NULL);
    break;
  }
  if (error) {
    WD_LOG(WD_LOG_ERROR, "incremental (un)assign failed", "error=%s",
           rd_kafka_error_string(error));
    rd_kafka_error_destroy(error);
  } else if (aerr) {
    WD_LOG(WD_LOG_ERROR, "(un)assign failed", "error=%s",
           rd_kafka_err2name(aerr));
  }
  /* After a lost assignment we briefly own nothing: no one else does yet.
   * Ask with the flag read before the unassign: the unassign clears it. */
  if (!st->closing && st->role == STREAM_ALL &&
      (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS ||
                       (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS &&
                        st->cooperative && !lost)))
    check_shared(st);
}
