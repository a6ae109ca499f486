/* stream_produce.c - stream mode's producer and commit path: records and
 * dead letters out to the idempotent producer, delivery reports into the
 * offset tracker, and the offsets that makes committable stored and
 * committed (as they move, on a revoke and before a checkpoint). */
#include "wiredup/stream.h"
#include "wiredup/log.h"
#include "wiredup/metrics.h"

#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "stream_int.h"

/* ==== Producing ==== */

/* Apply a delivery report (or a failure) to the tracker: by token, or for
 * the cluster role, whose tokens carry the fingerprints offset, by offset. */
int stream_ack(stream_t *st, uint64_t token, int ok) {
  if (st->role != STREAM_CLUSTER)
    return wd_stream_track_ack(st->trk, token, ok);
  return wd_stream_track_ack_offset(st->trk, (int32_t)(token >> TRACK_SEQ_BITS) - 1,
                                    (int64_t)(token & ((UINT64_C(1) << TRACK_SEQ_BITS) - 1)),
                                    ok);
}

void stream_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm,
                        void *opaque) {
  stream_t *st = opaque;
  uint64_t token = (uint64_t)(uintptr_t)rkm->_private;
  if (rkm->err) {
    /* librdkafka has exhausted its retries: this record's input offset must
     * never be committed, so nothing behind it can be either. Stop. */
    stream_ack(st, token, 0);
    stream_set_fatal(st,
                     "could not deliver to %s: %s (input partition %d is not "
                     "committed past it)",
                     rd_kafka_topic_name(rkm->rkt), rd_kafka_err2str(rkm->err),
                     (int)(token >> TRACK_SEQ_BITS) - 1);
    return;
  }
  if (!stream_ack(st, token, 1))
    return; /* from a partition we no longer own: already accounted for */
  st->acked++;
  int dead = strcmp(rd_kafka_topic_name(rkm->rkt), st->dlq_topic) == 0;
  /* the fingerprint role's records are not results */
  if (st->metrics && (dead || st->role != STREAM_FINGERPRINT))
    wd_metrics_add(st->metrics,
                   dead ? WD_METRIC_RECORDS_DEAD : WD_METRIC_RECORDS_OUT, 1);
  if (st->opts && st->opts->on_ack)
    st->opts->on_ack(st->opts->opaque, dead, rkm->key, rkm->key_len,
                     rkm->payload, rkm->len);
}

/* Learn the output topic's partitions before the first result: librdkafka
 * asks for an unknown topic's metadata on its 1 s topic scan, so the first
 * outputs would otherwise wait up to a second in the producer (a replay's
 * whole backfill, the first results after a start). Holding the handle keeps
 * the topic known. The dead-letter topic is left alone: asking for it could
 * create it on a broker that auto-creates topics, and dead letters are rare. */
void stream_producer_warm(stream_t *st) {
  const struct rd_kafka_metadata *md = NULL;
  if (!(st->out_rkt = rd_kafka_topic_new(st->producer, st->cfg->output_topic, NULL)))
    return;
  rd_kafka_resp_err_t err =
      rd_kafka_metadata(st->producer, 0, st->out_rkt, &md, METADATA_TIMEOUT_MS);
  if (err) /* librdkafka keeps asking by itself */
    WD_LOG(WD_LOG_DEBUG, "no metadata for the output topic yet", "topic=%s error=%s",
           st->cfg->output_topic, rd_kafka_err2name(err));
  if (md)
    rd_kafka_metadata_destroy(md);
}

/* Hand one record to the producer; never drops it. A full queue is drained
 * by serving delivery reports; a stop request while it stays full leaves the
 * record unacked (so uncommitted: it is redelivered after a restart). */
int stream_produce(stream_t *st, const char *topic, int32_t partition, const void *key,
                   size_t key_len, const void *value, size_t value_len,
                   rd_kafka_headers_t *hdrs, uint64_t token) {
  rd_kafka_vu_t vu[7];
  size_t n = 0;
  vu[n].vtype = RD_KAFKA_VTYPE_TOPIC;
  vu[n++].u.cstr = topic;
  if (partition != RD_KAFKA_PARTITION_UA) {
    vu[n].vtype = RD_KAFKA_VTYPE_PARTITION;
    vu[n++].u.i32 = partition;
  }
  vu[n].vtype = RD_KAFKA_VTYPE_KEY;
  vu[n].u.mem.ptr = (void *)(uintptr_t)key;
  vu[n++].u.mem.size = key_len;
  vu[n].vtype = RD_KAFKA_VTYPE_VALUE;
  vu[n].u.mem.ptr = (void *)(uintptr_t)value;
  vu[n++].u.mem.size = value_len;
  /* F_COPY: value and key live in buffers we reuse for the next record (or
   * in the consumed message, destroyed right after); a copy into
   * librdkafka's own buffer is cheaper than a malloc'd hand-over per record. */
  vu[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
  vu[n++].u.i = RD_KAFKA_MSG_F_COPY;
  vu[n].vtype = RD_KAFKA_VTYPE_OPAQUE;
  vu[n++].u.ptr = (void *)(uintptr_t)token;
  if (hdrs) {
    vu[n].vtype = RD_KAFKA_VTYPE_HEADERS;
    vu[n++].u.headers = hdrs;
  }
  for (int waits = 0;; waits++) {
    rd_kafka_error_t *error = rd_kafka_produceva(st->producer, vu, n);
    if (!error)
      return 0; /* hdrs now belong to librdkafka */
    rd_kafka_resp_err_t err = rd_kafka_error_code(error);
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      stream_set_fatal(st, "could not produce to %s: %s", topic,
                       rd_kafka_error_string(error));
      rd_kafka_error_destroy(error);
      break;
    }
    rd_kafka_error_destroy(error);
    if (waits == 50)
      WD_LOG(WD_LOG_WARN, "producer queue full: waiting for the broker",
             "topic=%s in_flight=%d", topic, rd_kafka_outq_len(st->producer));
    rd_kafka_poll(st->producer, 100);
    if (st->metrics) /* waiting on the broker is alive, not stuck */
      wd_metrics_heartbeat(st->metrics);
    if (st->fatal || stream_stop ||
        (st->opts && st->opts->on_tick && st->opts->on_tick(st->opts->opaque)))
      break;
  }
  if (hdrs)
    rd_kafka_headers_destroy(hdrs);
  stream_ack(st, token, 0);
  return -1;
}

void stream_dead_letter(stream_t *st, const rd_kafka_message_t *rkm,
                        const char *topic, const char *reason, uint64_t token) {
  char src[512];
  rd_kafka_headers_t *orig = NULL, *hdrs;
  char q[600];
  int n = snprintf(src, sizeof(src), "%s/%d/%lld", topic, (int)rkm->partition,
                   (long long)rkm->offset);
  /* Keep the record's own headers; ours replace any earlier wiredup.* ones. */
  if (rd_kafka_message_headers(rkm, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR &&
      orig) {
    hdrs = rd_kafka_headers_copy(orig);
    rd_kafka_header_remove(hdrs, "wiredup.error");
    rd_kafka_header_remove(hdrs, "wiredup.source");
  } else {
    hdrs = rd_kafka_headers_new(2);
  }
  rd_kafka_header_add(hdrs, "wiredup.error", -1, reason,
                      (ssize_t)strlen(reason));
  rd_kafka_header_add(hdrs, "wiredup.source", -1, src, n);
  WD_LOG(WD_LOG_WARN, "dead-lettered invalid record", "source=%s reason=%s",
         src, wd_log_quote(q, sizeof(q), reason));
  if (stream_produce(st, st->dlq_topic, RD_KAFKA_PARTITION_UA, rkm->key, rkm->key_len, rkm->payload,
                     rkm->len, hdrs, token) == 0)
    st->dead++;
}

/* ==== Committing ==== */

/* Store the committable offsets of the partitions that moved. */
void stream_store_dirty(stream_t *st) {
  int32_t parts[256];
  size_t n;
  while ((n = wd_stream_track_take_dirty(st->trk, parts, 256)) > 0) {
    rd_kafka_topic_partition_list_t *lst =
        rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
      rd_kafka_topic_partition_list_add(lst, st->in_topic, parts[i])
          ->offset = wd_stream_track_next(st->trk, parts[i]);
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(st->consumer, lst);
    if (err)
      WD_LOG(WD_LOG_DEBUG, "offsets not stored", "error=%s",
             rd_kafka_err2name(err));
    rd_kafka_topic_partition_list_destroy(lst);
  }
}

/* On revoke: let every output in flight be acknowledged, store what that
 * makes committable for the revoked partitions, and commit it before the
 * partitions go to another member. */
void stream_commit_revoked(stream_t *st,
                           rd_kafka_topic_partition_list_t *parts) {
  rd_kafka_resp_err_t err;
  if (!st->fatal) {
    err = rd_kafka_flush(st->producer, FLUSH_TIMEOUT_MS);
    if (err)
      WD_LOG(WD_LOG_WARN, "producer flush timed out on revoke", "in_flight=%d",
             rd_kafka_outq_len(st->producer));
  }
  rd_kafka_topic_partition_list_t *lst =
      rd_kafka_topic_partition_list_new(parts->cnt);
  for (int i = 0; i < parts->cnt; i++) {
    const rd_kafka_topic_partition_t *p = &parts->elems[i];
    int64_t next = wd_stream_track_next(st->trk, p->partition);
    if (strcmp(p->topic, st->in_topic) == 0 && next >= 0)
      rd_kafka_topic_partition_list_add(lst, p->topic, p->partition)->offset =
          next;
  }
  if (lst->cnt > 0) {
    rd_kafka_offsets_store(st->consumer, lst);
    err = rd_kafka_commit(st->consumer, lst, 0 /* sync */);
    if (err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS)
      /* Real brokers accept a commit while the group prepares to rebalance;
       * librdkafka's mock refuses it. The records after the last auto
       * commit are then redelivered to the next owner: duplicates, no loss. */
      WD_LOG(WD_LOG_WARN, "commit on revoke refused while rebalancing",
             "error=%s partitions=%d", rd_kafka_err2name(err), lst->cnt);
    else if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
      WD_LOG(WD_LOG_WARN, "commit on revoke failed", "error=%s",
             rd_kafka_err2name(err));
  }
  rd_kafka_topic_partition_list_destroy(lst);
}

/* Before a periodic checkpoint, as Kafka Streams commits a task: wait for
 * every output in flight, then commit the input offsets that makes
 * committable. The committed offset C is then never behind the checkpoint's
 * position S, so a restart (which starts at min(S, C)) never reads a record
 * the saved memory already holds: an article evicted from it since would be
 * answered anew, and differently. Bounded by FLUSH_TIMEOUT_MS; on a timeout
 * the checkpoint is written all the same (a restart then takes the
 * redelivery path for what lies between). */
void stream_commit_processed(stream_t *st) {
  if (st->fatal)
    return;
  rd_kafka_resp_err_t err = rd_kafka_flush(st->producer, FLUSH_TIMEOUT_MS);
  if (err) {
    WD_LOG(WD_LOG_WARN, "producer flush timed out before a checkpoint", "in_flight=%d",
           rd_kafka_outq_len(st->producer));
    return;
  }
  stream_store_dirty(st);
  err = rd_kafka_commit(st->consumer, NULL, 0 /* sync */);
  if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
    WD_LOG(WD_LOG_INFO, "commit before a checkpoint failed", "error=%s",
           rd_kafka_err2name(err));
}
