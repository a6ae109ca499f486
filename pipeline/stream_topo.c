/* stream_topo.c - scale-out on Kafka itself (topology.enabled): the same
 * `wiredup run` on N machines gives one instance's answers.
 *
 * Every instance runs two roles, each on a thread with clients of its own:
 *
 *  - the fingerprint role, in the input's consumer group (kafka.group.id):
 *    its share of the input partitions is decoded, normalised and
 *    fingerprinted on the workers (the costly, stateless part) and sent as
 *    fingerprint records (fprec.h) to partition 0 of the internal topic
 *    <group.id>.fingerprints. An input offset is committed once its record
 *    (or its dead letter) is acknowledged.
 *  - the cluster role, in the group <group.id>.cluster over that topic: the
 *    member Kafka assigns partition 0 is elected. It rebuilds the
 *    similarity memory from the topic's start (the topic is its changelog:
 *    a new owner on another machine needs no disk), quietly up to the
 *    group's committed offset, whose records an earlier owner answered;
 *    then it decides every record and publishes the results, committing
 *    the fingerprints offsets behind acknowledged results.
 *
 * The cluster role puts the records through the same event-time merge as
 * stream mode, by their input partition and offset: a record sent twice
 * (the fingerprint role is at least once) is dropped by offset, and an
 * input partition is behind while the input holds records of it not yet
 * seen here (the input's ends are asked, rate-limited).
 *
 * That order depends on when records arrived, which a new owner cannot
 * know. So the owner writes it down: before a batch goes to the workers,
 * an order record (fprec.h) naming its records by fingerprints offset, with
 * the watermark each was decided under, goes to the same partition, and no
 * answer of the batch is published before the broker has it. A new owner
 * follows every order record up to the topic's end as it was at election,
 * holding the fingerprint records until one names them, so it decides each
 * record its predecessors may have answered in their order under their
 * watermarks: an answer given twice is the same answer. What no order
 * record names, it decides itself, through the merge. */
#include "wiredup/stream.h"
#include "wiredup/fprec.h"
#include "wiredup/log.h"
#include "wiredup/merge.h"
#include "wiredup/metrics.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "stream_int.h"

#define TOPO_ENDS_EVERY_MS 20 /* how often the input's ends may be asked */
#define TOPO_ENDS_TIMEOUT_MS 2000

/* ==== The internal topic ==== */

#define TOPO_ADMIN_TIMEOUT_MS 10000

/* Does the cluster know \p topic? (a metadata request for all topics: one
 * for the topic alone could have a broker auto-create it) */
static int topic_known(rd_kafka_t *rk, const char *topic) {
  const struct rd_kafka_metadata *md = NULL;
  int known = 0;
  if (rd_kafka_metadata(rk, 1, NULL, &md, METADATA_TIMEOUT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return -1;
  for (int i = 0; i < md->topic_cnt && !known; i++)
    known = strcmp(md->topics[i].topic, topic) == 0 && !md->topics[i].err;
  rd_kafka_metadata_destroy(md);
  return known;
}

/* Create <group.id>.fingerprints where it is missing and the cluster takes
 * CreateTopics: one partition (one total order for the cluster stage), the
 * broker's replication, and a retention that covers the memory's window
 * with room (a new owner rebuilds from it). Where the cluster cannot (a
 * locked-down one, or librdkafka's test broker), say so: an operator
 * creates it, or the first record has the broker auto-create it. */
void stream_topo_prepare(stream_t *st) {
  char errstr[512], ms[32];
  if (topic_known(st->producer, st->fp_topic) != 0)
    return; /* there, or the cluster cannot be asked: the first send tells */
  rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(st->fp_topic, 1, -1, errstr, sizeof(errstr));
  if (!nt) {
    WD_LOG(WD_LOG_WARN, "cannot describe the fingerprints topic", "topic=%s reason=%s",
           st->fp_topic, errstr);
    return;
  }
  const int64_t keep = 2 * (st->cfg->index_window_ms + st->cfg->index_allowed_lateness_ms);
  snprintf(ms, sizeof(ms), "%lld", (long long)keep);
  rd_kafka_NewTopic_set_config(nt, "retention.ms", ms);
  rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "delete");
  rd_kafka_queue_t *q = rd_kafka_queue_new(st->producer);
  rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(st->producer, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_request_timeout(ao, TOPO_ADMIN_TIMEOUT_MS, errstr, sizeof(errstr));
  rd_kafka_CreateTopics(st->producer, &nt, 1, ao, q);
  rd_kafka_event_t *ev = rd_kafka_queue_poll(q, TOPO_ADMIN_TIMEOUT_MS + 1000);
  const char *why = "no answer";
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TIMED_OUT;
  if (ev) {
    const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
    size_t n = 0;
    const rd_kafka_topic_result_t **tr = res ? rd_kafka_CreateTopics_result_topics(res, &n) : NULL;
    err = rd_kafka_event_error(ev);
    why = rd_kafka_event_error_string(ev);
    if (!err && n == 1) {
      err = rd_kafka_topic_result_error(tr[0]);
      why = rd_kafka_topic_result_error_string(tr[0]);
    }
  }
  if (!err || err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
    WD_LOG(WD_LOG_INFO, "fingerprints topic created", "topic=%s partitions=1 retention_ms=%s",
           st->fp_topic, ms);
  else
    WD_LOG(WD_LOG_WARN,
           "could not create the fingerprints topic: create it with one partition "
           "(docs/operations.md), or the broker's auto-creation makes it",
           "topic=%s error=%s reason=%s", st->fp_topic, rd_kafka_err2name(err),
           why ? why : "-");
  if (ev)
    rd_kafka_event_destroy(ev);
  rd_kafka_AdminOptions_destroy(ao);
  rd_kafka_queue_destroy(q);
  rd_kafka_NewTopic_destroy(nt);
}

/* ==== Fingerprint role ==== */

void stream_topo_send(stream_t *st, const rd_kafka_message_t *rkm, wd_fp_t *fp) {
  const char *topic = rd_kafka_topic_name(rkm->rkt);
  uint64_t token = wd_stream_track_push(st->trk, rkm->partition, rkm->offset);
  if (fp->err == WD_ERR_INPUT) {
    stream_dead_letter(st, rkm, topic, fp->reason, token);
    return;
  }
  if (fp->err != WD_OK) {
    stream_ack(st, token, 0);
    stream_set_fatal(st, "%s/%d/%lld: %s", topic, (int)rkm->partition,
                     (long long)rkm->offset, fp->reason);
    return;
  }
  wd_fprec_src_t src = {topic, strlen(topic), rkm->partition, rkm->offset,
                        rd_kafka_message_timestamp(rkm, NULL)};
  wd_buf_clear(&st->rec);
  wd_fprec_encode(fp, &src, &st->rec);
  /* one partition: one total order for the cluster stage to read */
  if (stream_produce(st, st->fp_topic, 0, fp->id.p, fp->id.len, st->rec.p, st->rec.len,
                     NULL, token) == 0)
    st->published++;
}

/* ==== Cluster role ==== */

/* Fingerprints record \p rkm needs no answer (not one, or had already): its
 * offset may be committed. A standby commits nothing and tracks nothing. */
static void topo_done(stream_t *st, const rd_kafka_message_t *rkm) {
  if (!st->standby)
    wd_stream_track_ack_offset(st->trk, rkm->partition, rkm->offset, 1);
}


uint64_t stream_topo_token(const rd_kafka_message_t *rkm) {
  return (uint64_t)(rkm->partition + 1) << TRACK_SEQ_BITS |
         ((uint64_t)rkm->offset & ((UINT64_C(1) << TRACK_SEQ_BITS) - 1));
}

/* ---- Following an earlier owner's order records ---- */

/* Binary search of the pending records for \p fp_offset. */
static topo_pend_t *pend_find(stream_t *st, int64_t fp_offset) {
  size_t lo = st->pend_head, hi = st->pend_n;
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (st->pend[mid].fp_offset < fp_offset)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < st->pend_n && st->pend[lo].fp_offset == fp_offset ? &st->pend[lo] : NULL;
}

/* Drop the taken records at the head, and the records the memory has had
 * (another copy, sent twice by the fingerprint role) once their number has
 * doubled since the last look: a standby follows for months. */
static void pend_compact(stream_t *st) {
  while (st->pend_head < st->pend_n && !st->pend[st->pend_head].rkm)
    st->pend_head++;
  if (st->pend_live > 2 * st->pend_pruned_at + 1024) {
    size_t w = st->pend_head;
    for (size_t i = st->pend_head; i < st->pend_n; i++) {
      rd_kafka_message_t *rkm = st->pend[i].rkm;
      int32_t part;
      int64_t off, ts;
      wd_merge_part_t mp;
      int had = 0;
      if (rkm && wd_fprec_peek(rkm->payload, rkm->len, &part, &off, &ts) == 0 &&
          wd_merge_has(st->mg, part))
        for (size_t k = 0; wd_merge_part(st->mg, k, 0, &mp); k++)
          if (mp.partition == part) {
            had = mp.next >= 0 && off < mp.next;
            break;
          }
      if (had) {
        topo_done(st, rkm);
        rd_kafka_message_destroy(rkm);
        st->pend_live--;
      } else if (rkm) {
        st->pend[w++] = st->pend[i];
      }
    }
    st->pend_n = w;
    st->pend_pruned_at = st->pend_live;
  }
  if (st->pend_head > 0 && st->pend_head * 2 >= st->pend_n) {
    memmove(st->pend, st->pend + st->pend_head,
            (st->pend_n - st->pend_head) * sizeof(*st->pend));
    st->pend_n -= st->pend_head;
    st->pend_head = 0;
  }
}

/* Drop every pending record unanswered (a new owner reads them again). */
static void pend_clear(stream_t *st) {
  for (size_t i = st->pend_head; i < st->pend_n; i++)
    if (st->pend[i].rkm)
      rd_kafka_message_destroy(st->pend[i].rkm);
  st->pend_head = st->pend_n = st->pend_live = st->pend_pruned_at = 0;
}

static void pend_add(stream_t *st, rd_kafka_message_t *rkm) {
  if (st->pend_n == st->pend_cap) {
    pend_compact(st);
    if (st->pend_n == st->pend_cap) {
      st->pend_cap = st->pend_cap ? 2 * st->pend_cap : 1024;
      st->pend = wd_realloc(st->pend, st->pend_cap * sizeof(*st->pend));
    }
  }
  st->pend[st->pend_n++] = (topo_pend_t){rkm->offset, rkm};
  st->pend_live++;
}

/* Apply the records an order record names, in its order and under its
 * watermarks, as its writer did. A record this owner does not have (the
 * topic's retention took it) is counted and passed over. */
static void follow_order(stream_t *st, const rd_kafka_message_t *orec) {
  char why[256];
  size_t n;
  if (wd_fpord_decode(orec->payload, orec->len, st->ord, &n, why, sizeof(why)) != WD_OK) {
    WD_LOG(WD_LOG_WARN, "not an order record: skipped", "topic=%s offset=%lld reason=%s",
           st->in_topic, (long long)orec->offset, why);
    return;
  }
  const double now = stream_now_ms();
  for (size_t i = 0; i < n && !st->fatal; i++) {
    topo_pend_t *pe = pend_find(st, st->ord[i].fp_offset);
    if (!pe || !pe->rkm) {
      st->follow_missing++;
      continue;
    }
    rd_kafka_message_t *rkm = pe->rkm;
    int32_t part;
    int64_t off, ts;
    pe->rkm = NULL;
    st->pend_live--;
    if (wd_fprec_peek(rkm->payload, rkm->len, &part, &off, &ts) != 0 || part < 0 ||
        part > WD_MERGE_MAX_PARTITION ||
        !wd_merge_passed(st->mg, part, off, ts, now)) { /* not ours to apply, or had it */
      topo_done(st, rkm);
      rd_kafka_message_destroy(rkm);
      continue;
    }
    st->replaying = 1;
    stream_batch_take(st, rkm, ts, st->ord[i].wm_ms, now);
    st->replaying = 0;
    st->follow_applied++;
  }
  pend_compact(st);
}

static void merge_in(stream_t *st, rd_kafka_message_t *rkm, int32_t part, int64_t off,
                     int64_t ts, double now);
static void ans_clear(stream_t *st);

/* The order records end here: what no earlier owner ordered is decided by
 * this one, through the merge, in the order they were read. */
static void go_live(stream_t *st) {
  const double now = stream_now_ms();
  const size_t left = st->pend_live;
  st->following = 0;
  for (size_t i = st->pend_head; i < st->pend_n; i++) {
    rd_kafka_message_t *rkm = st->pend[i].rkm;
    int32_t part;
    int64_t off, ts;
    if (!rkm)
      continue;
    if (wd_fprec_peek(rkm->payload, rkm->len, &part, &off, &ts) == 0)
      merge_in(st, rkm, part, off, ts, now);
    else {
      topo_done(st, rkm);
      rd_kafka_message_destroy(rkm);
    }
  }
  st->pend_head = st->pend_n = st->pend_live = st->pend_pruned_at = 0;
  st->arrived_at = now;
  WD_LOG(WD_LOG_INFO, "cluster role caught up: deciding from here",
         "topic=%s applied_in_order=%" PRIu64 " missing=%" PRIu64
         " to_decide=%zu catch_up_ms=%.0f",
         st->in_topic, st->follow_applied, st->follow_missing, left, now - st->elected_at);
}

void stream_topo_eof(stream_t *st) {
  st->hwm_at = 0; /* ask the input's ends again: it may be caught up */
  if (st->eng && st->following)
    go_live(st);
}

void stream_topo_free(stream_t *st) {
  pend_clear(st);
  wd_free(st->pend);
  st->pend = NULL;
  st->pend_cap = 0;
  wd_free(st->ord);
  st->ord = NULL;
  ans_clear(st);
  wd_free(st->ans);
  st->ans = NULL;
  st->ans_cap = 0;
  if (st->warm) {
    st->standby = 0;
    rd_kafka_consumer_close(st->warm);
    rd_kafka_destroy(st->warm);
    st->warm = NULL;
  }
}

/* ---- Writing the order ---- */

void stream_topo_on_olog(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque) {
  stream_t *st = opaque;
  (void)rk;
  const uint64_t seq = (uint64_t)(uintptr_t)rkm->_private;
  if (rkm->err) {
    if (!st->olog_err)
      st->olog_err = rkm->err;
  } else if (seq > st->olog_acked) {
    st->olog_acked = seq;
  }
}

void stream_topo_log_batch(stream_t *st, batch_t *b) {
  size_t n = 0;
  b->olog_seq = 0;
  if (!st->eng || !st->olog)
    return;
  for (size_t i = 0; i < b->n; i++)
    if (!b->logged[i])
      st->ord[n++] = (wd_fpord_ent_t){b->rkm[i]->offset, b->wm[i]};
  if (!n)
    return;
  wd_buf_clear(&st->rec);
  wd_fpord_encode(st->ord, n, &st->rec);
  const uint64_t seq = st->olog_sent + 1;
  rd_kafka_resp_err_t err;
  for (;;) {
    err = rd_kafka_producev(st->olog, RD_KAFKA_V_TOPIC(st->in_topic), RD_KAFKA_V_PARTITION(0),
                            RD_KAFKA_V_VALUE(st->rec.p, st->rec.len),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                            RD_KAFKA_V_OPAQUE((void *)(uintptr_t)seq), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
      break;
    rd_kafka_poll(st->olog, 10);
  }
  if (err) {
    stream_set_fatal(st, "%s: could not write an order record: %s", st->in_topic,
                     rd_kafka_err2str(err));
    return;
  }
  st->olog_sent = seq;
  b->olog_seq = seq;
}

int stream_topo_log_wait(stream_t *st, const batch_t *b) {
  const double t0 = stream_now_ms();
  while (b->olog_seq > st->olog_acked && !st->olog_err && !st->fatal) {
    rd_kafka_poll(st->olog, 5);
    if (stream_stop && stream_now_ms() - t0 > FLUSH_TIMEOUT_MS) {
      stream_set_fatal(st, "%s: an order record was not acknowledged in %d ms at shutdown",
                       st->in_topic, FLUSH_TIMEOUT_MS);
      return -1;
    }
  }
  if (st->olog_err)
    stream_set_fatal(st, "%s: an order record was not delivered: %s (its answers are "
                     "left to the next owner)", st->in_topic, rd_kafka_err2str(st->olog_err));
  return st->fatal ? -1 : 0;
}

/* ---- Reading the topic ---- */

static void merge_in(stream_t *st, rd_kafka_message_t *rkm, int32_t part, int64_t off,
                     int64_t ts, double now) {
  if (!wd_merge_has(st->mg, part))
    wd_merge_add(st->mg, part, -1, INT64_MIN, now, stream_merge_drop, NULL);
  if (!wd_merge_push(st->mg, part, off, ts, rkm->len, rkm, now)) {
    /* sent twice by the fingerprint role (at least once): answered once */
    topo_done(st, rkm);
    rd_kafka_message_destroy(rkm);
  }
}

void stream_topo_take(stream_t *st, rd_kafka_message_t *rkm) {
  int32_t part;
  int64_t off, ts;
  const int64_t next = rkm->offset + 1;
  /* tracked in the order read: a fingerprints offset is committed only
   * once every record before it is answered (or was never to be) */
  if (!st->standby)
    wd_stream_track_push(st->trk, rkm->partition, rkm->offset);
  if (wd_fprec_kind(rkm->payload, rkm->len) == WD_FPREC_KIND_ORDER) {
    /* an owner's order: followed when an earlier owner wrote it, ours
     * otherwise (already applied) */
    if (st->eng && st->following)
      follow_order(st, rkm);
    topo_done(st, rkm);
    rd_kafka_message_destroy(rkm);
    if (st->eng && st->following && next >= st->follow_end)
      go_live(st);
    return;
  }
  if (!st->eng || wd_fprec_peek(rkm->payload, rkm->len, &part, &off, &ts) != 0 ||
      part < 0 || part > WD_MERGE_MAX_PARTITION) {
    if (st->eng)
      WD_LOG(WD_LOG_WARN, "not a fingerprint record: skipped", "topic=%s partition=%d offset=%lld",
             st->in_topic, (int)rkm->partition, (long long)rkm->offset);
    topo_done(st, rkm);
    rd_kafka_message_destroy(rkm);
    return;
  }
  if (st->metrics && !st->standby) /* a standby's records are the owner's */
    wd_metrics_add(st->metrics, WD_METRIC_RECORDS_IN, 1);
  if (st->following) { /* until an order record names it, or the end */
    pend_add(st, rkm);
    if (next >= st->follow_end)
      go_live(st);
    return;
  }
  const double now = stream_now_ms();
  st->arrived_at = now;
  merge_in(st, rkm, part, off, ts, now);
}

/* The input's ends of partition \p p into the merge: it is caught up once
 * it has read to the end (or the partition is empty). */
static int topo_ends(stream_t *st, int32_t p) {
  int64_t lo, hi;
  if (rd_kafka_query_watermark_offsets(st->consumer, st->cfg->input_topic, p, &lo, &hi,
                                       TOPO_ENDS_TIMEOUT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return 0;
  if (lo == hi)
    wd_merge_eof(st->mg, p, hi);
  else
    wd_merge_set_high(st->mg, p, hi);
  return 1;
}

int stream_topo_refresh(stream_t *st, int32_t w) {
  const double now = stream_now_ms();
  if (now - st->hwm_at < TOPO_ENDS_EVERY_MS)
    return 0;
  st->hwm_at = now;
  return topo_ends(st, w);
}

/* Before records that arrived since the input's ends were last asked go
 * out: ask again, for every partition. A partition caught up at the last
 * answer may have records since, sent by a fingerprint role that is slower
 * than another: they must not be passed over. (Rate-limited: records that
 * arrive together are ordered by one round of questions.) */
int stream_topo_ends(stream_t *st) {
  wd_merge_part_t mp;
  const double now = stream_now_ms();
  if (!st->eng || st->ends_at >= st->arrived_at)
    return 1;
  if (now - st->ends_done < TOPO_ENDS_EVERY_MS)
    return 0; /* soon: the records wait a moment, and more gather */
  st->ends_at = now;
  /* Every empty partition's end in one request per broker: a ListOffsets
   * for the latest offset (offsets_for_times with RD_KAFKA_OFFSET_END). */
  rd_kafka_topic_partition_list_t *q = rd_kafka_topic_partition_list_new(16);
  for (size_t i = 0; wd_merge_part(st->mg, i, now, &mp); i++)
    if (!mp.queued)
      rd_kafka_topic_partition_list_add(q, st->cfg->input_topic, mp.partition)->offset =
          RD_KAFKA_OFFSET_END;
  if (q->cnt &&
      rd_kafka_offsets_for_times(st->consumer, q, TOPO_ENDS_TIMEOUT_MS) ==
          RD_KAFKA_RESP_ERR_NO_ERROR) {
    for (int i = 0; i < q->cnt; i++)
      if (!q->elems[i].err && q->elems[i].offset >= 0)
        wd_merge_set_high(st->mg, q->elems[i].partition, q->elems[i].offset);
      else /* no answer for it: ask the partition's watermarks */
        topo_ends(st, q->elems[i].partition);
  } else {
    for (int i = 0; i < q->cnt; i++)
      topo_ends(st, q->elems[i].partition);
  }
  rd_kafka_topic_partition_list_destroy(q);
  st->ends_done = stream_now_ms();
  return 1;
}

/* A fresh memory and merge, every input partition in it, not heard from. */
static void topo_reset(stream_t *st) {
  char errstr[512];
  wd_merge_destroy(st->mg, stream_merge_drop, NULL);
  st->mg = stream_merge_new(st, 0);
  wd_engine_destroy(st->eng);
  st->eng = wd_engine_new(st->cfg, errstr, sizeof(errstr)); /* the config was checked */
  if (!st->eng)
    stream_set_fatal(st, "cluster role: %s", errstr);
  int32_t parts = stream_topic_partition_cnt(st);
  for (int32_t p = 0; p < parts && p <= WD_MERGE_MAX_PARTITION; p++)
    wd_merge_add(st->mg, p, -1, INT64_MIN, stream_now_ms(), stream_merge_drop, NULL);
  st->hwm_at = 0;
  pend_clear(st);
  st->following = 0;
  st->follow_applied = st->follow_missing = 0;
  if (!st->ord)
    st->ord = wd_malloc(WD_FPORD_MAX * sizeof(*st->ord));
}

/* ---- Standby: a warm copy ---- */

/* Answers kept at most: the records after the group's last commit, about
 * a second of them in service (17 s at the writer's ceiling); past this
 * the oldest go, and a take-over below them rebuilds. */
#define TOPO_ANS_MAX (1u << 18)
#define TOPO_TRIM_EVERY_MS 2000  /* how often the group's commit is asked */

static void ans_clear(stream_t *st) {
  for (size_t i = st->ans_head; i < st->ans_n; i++)
    wd_free(st->ans[i].kv);
  st->ans_head = st->ans_n = 0;
  st->ans_floor = 0;
}

void stream_topo_store(stream_t *st, const rd_kafka_message_t *rkm, const char *key,
                       size_t key_len) {
  if (st->ans_n - st->ans_head >= TOPO_ANS_MAX) { /* the oldest go: a take-over
                                                     below them rebuilds */
    if (st->ans[st->ans_head].fp_offset + 1 > st->ans_floor)
      st->ans_floor = st->ans[st->ans_head].fp_offset + 1;
    wd_free(st->ans[st->ans_head++].kv);
  }
  if (st->ans_n == st->ans_cap) {
    if (st->ans_head) {
      memmove(st->ans, st->ans + st->ans_head, (st->ans_n - st->ans_head) * sizeof(*st->ans));
      st->ans_n -= st->ans_head;
      st->ans_head = 0;
    }
    if (st->ans_n == st->ans_cap) {
      st->ans_cap = st->ans_cap ? 2 * st->ans_cap : 4096;
      st->ans = wd_realloc(st->ans, st->ans_cap * sizeof(*st->ans));
    }
  }
  topo_ans_t *a = &st->ans[st->ans_n++];
  a->fp_offset = rkm->offset;
  a->key_len = key_len;
  a->val_len = st->out.len;
  a->kv = wd_malloc(key_len + st->out.len + 1);
  memcpy(a->kv, key, key_len);
  memcpy(a->kv + key_len, st->out.p, st->out.len);
}

/* Forget the answers the group has committed past: no owner answers them
 * again. Answers are kept in the order applied, not in offset order, so
 * the ones still wanted are moved down. */
static void ans_trim(stream_t *st) {
  rd_kafka_topic_partition_list_t *q = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(q, st->in_topic, 0);
  if (!rd_kafka_committed(st->warm, q, TOPO_ENDS_TIMEOUT_MS) && !q->elems[0].err &&
      q->elems[0].offset > 0) {
    const int64_t c = q->elems[0].offset;
    size_t w = st->ans_head;
    for (size_t i = st->ans_head; i < st->ans_n; i++)
      if (st->ans[i].fp_offset < c)
        wd_free(st->ans[i].kv);
      else
        st->ans[w++] = st->ans[i];
    st->ans_n = w;
  }
  rd_kafka_topic_partition_list_destroy(q);
}

/* Follow the fingerprints partition from its start as a standby. */
static void topo_standby_begin(stream_t *st) {
  topo_reset(st);
  ans_clear(st);
  st->standby = 1;
  st->following = 1;
  st->follow_end = INT64_MAX; /* until elected */
  st->quiet_until = INT64_MAX;
  st->warm_pos = 0;
  st->elected_at = stream_now_ms(); /* the copy's catch-up is timed from here */
  rd_kafka_topic_partition_list_t *a = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(a, st->in_topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_resp_err_t err = rd_kafka_assign(st->warm, a);
  rd_kafka_topic_partition_list_destroy(a);
  if (err)
    stream_set_fatal(st, "standby: cannot read %s: %s", st->in_topic, rd_kafka_err2str(err));
  WD_LOG(WD_LOG_INFO, "cluster role standby: following the owner into a warm copy",
         "topic=%s", st->in_topic);
}

/* Stop the standby's reading (elected, or at exit). */
static void topo_standby_stop(stream_t *st) {
  if (st->warm && st->standby)
    rd_kafka_assign(st->warm, NULL);
  st->standby = 0;
}

/* Elected with a warm copy that holds every answer from \p committed on
 * (a copy behind the commit reads on quietly up to it):
 * carry on from it. Every fingerprints offset in [committed, warm_pos) is
 * tracked again: a kept answer is published (an answer given twice is the
 * same answer), a record not yet ordered waits for its order, the rest
 * (order records, copies) need nothing. The partition is read on from
 * warm_pos, following what the predecessor ordered up to the end.
 * @returns 1 if taken over; 0: rebuild (the copy lacks answers). */
static int topo_take_over(stream_t *st, rd_kafka_topic_partition_t *mine, int64_t committed) {
  if (!st->eng || committed < st->ans_floor) {
    WD_LOG(WD_LOG_WARN, "cluster role elected: the standby copy cannot carry on: rebuilding",
           "topic=%s committed=%lld copy_at=%lld answers_from=%lld", st->in_topic,
           (long long)committed, (long long)st->warm_pos, (long long)st->ans_floor);
    return 0;
  }
  const int64_t p = st->warm_pos;
  size_t n = 0, sent = 0;
  /* the kept answers at or past the commit, by offset (they are in the
   * order applied, which is the order they go out in) */
  size_t *by_off = wd_malloc((st->ans_n - st->ans_head + 1) * sizeof(*by_off));
  for (size_t i = st->ans_head; i < st->ans_n; i++)
    if (st->ans[i].fp_offset >= committed)
      by_off[n++] = i;
  for (size_t i = 1; i < n; i++) /* nearly sorted: insertion sort */
    for (size_t k = i; k > 0 && st->ans[by_off[k - 1]].fp_offset > st->ans[by_off[k]].fp_offset; k--) {
      size_t t = by_off[k];
      by_off[k] = by_off[k - 1];
      by_off[k - 1] = t;
    }
  topo_standby_stop(st);
  size_t k = 0;
  for (int64_t off = committed; off < p; off++) {
    wd_stream_track_push(st->trk, 0, off);
    const topo_pend_t *pe;
    if (k < n && st->ans[by_off[k]].fp_offset == off)
      k++; /* acked when the kept answer is delivered */
    else if (!(pe = pend_find(st, off)) || !pe->rkm)
      wd_stream_track_ack_offset(st->trk, 0, off, 1); /* nothing to answer */
  }
  wd_free(by_off);
  for (size_t i = st->ans_head; i < st->ans_n && !st->fatal; i++) {
    const topo_ans_t *a = &st->ans[i];
    if (a->fp_offset < committed)
      continue;
    if (stream_produce(st, st->cfg->output_topic, RD_KAFKA_PARTITION_UA, a->kv, a->key_len,
                       a->kv + a->key_len, a->val_len, NULL,
                       (uint64_t)1 << TRACK_SEQ_BITS | (uint64_t)a->fp_offset) == 0) {
      st->published++;
      sent++;
    }
  }
  ans_clear(st);
  st->quiet_until = committed;
  mine->offset = p;
  int64_t lo = 0, hi = -1;
  rd_kafka_resp_err_t err =
      rd_kafka_query_watermark_offsets(st->consumer, st->in_topic, 0, &lo, &hi, 10000);
  st->following = 1;
  st->follow_end = err || hi < 0 ? INT64_MAX : hi;
  if (!err && hi <= p)
    go_live(st);
  WD_LOG(WD_LOG_INFO, "cluster role elected: carrying on from the standby copy",
         "topic=%s answered_up_to=%lld copy_at=%lld answers_sent_again=%zu follow_to=%lld",
         st->in_topic, (long long)committed, (long long)p, sent,
         (long long)(st->following ? st->follow_end : -1));
  return 1;
}

wd_err_t stream_topo_start(stream_t *st, char *errstr, size_t errstr_size) {
  if (!st->cfg->topology_standby)
    return stream_subscribe(st, errstr, errstr_size);
  char rderr[512];
  rd_kafka_conf_t *conf = stream_build_conf(st, RD_KAFKA_CONSUMER, 1, errstr, errstr_size);
  if (!conf)
    return WD_ERR_CONFIG;
  if (!(st->warm = rd_kafka_new(RD_KAFKA_CONSUMER, conf, rderr, sizeof(rderr)))) {
    wd_errstr_set(errstr, errstr_size, "kafka consumer (standby): %s", rderr);
    rd_kafka_conf_destroy(conf);
    return WD_ERR_CONFIG;
  }
  rd_kafka_poll_set_consumer(st->warm);
  topo_standby_begin(st);
  return WD_OK;
}

size_t stream_topo_poll(stream_t *st) {
  size_t n = 0;
  if (!st->standby)
    return 0;
  const double now = stream_now_ms();
  if (now - st->ans_trim_at >= TOPO_TRIM_EVERY_MS) {
    st->ans_trim_at = now;
    ans_trim(st);
  }
  rd_kafka_message_t *rkm;
  while (n < 256 && !st->fatal && st->standby && (rkm = rd_kafka_consumer_poll(st->warm, 0))) {
    n++;
    if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (rkm->offset > st->warm_pos)
        st->warm_pos = rkm->offset;
      rd_kafka_message_destroy(rkm);
      if (!st->subscribed) { /* caught up: electable from now on */
        char errstr[512];
        WD_LOG(WD_LOG_INFO, "cluster role standby caught up: joining the election",
               "topic=%s copy_at=%lld applied=%" PRIu64 " catch_up_ms=%.0f", st->in_topic,
               (long long)st->warm_pos, st->follow_applied, now - st->elected_at);
        if (stream_subscribe(st, errstr, sizeof(errstr)) != WD_OK)
          stream_set_fatal(st, "%s", errstr);
      }
      continue;
    }
    if (rkm->err) {
      char q[600];
      WD_LOG(WD_LOG_WARN, "standby consumer error", "error=%s reason=%s",
             rd_kafka_err2name(rkm->err),
             wd_log_quote(q, sizeof(q), rd_kafka_message_errstr(rkm)));
      rd_kafka_message_destroy(rkm);
      continue;
    }
    st->warm_pos = rkm->offset + 1;
    stream_topo_take(st, rkm);
  }
  return n;
}

void stream_topo_elected(stream_t *st, rd_kafka_topic_partition_list_t *parts) {
  rd_kafka_topic_partition_t *mine = NULL;
  st->elected_at = stream_now_ms();
  for (int i = 0; i < parts->cnt; i++)
    if (parts->elems[i].partition == 0 && strcmp(parts->elems[i].topic, st->in_topic) == 0)
      mine = &parts->elems[i];
  if (!mine)
    return; /* another partition (a topic made with more): nothing is sent there */
  rd_kafka_topic_partition_list_t *q = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(q, st->in_topic, 0);
  int64_t committed = -1;
  rd_kafka_resp_err_t err = rd_kafka_committed(st->consumer, q, 10000);
  if (!err && !q->elems[0].err && q->elems[0].offset >= 0)
    committed = q->elems[0].offset;
  rd_kafka_topic_partition_list_destroy(q);
  if (err) /* then everything is answered again: repeats, identical */
    WD_LOG(WD_LOG_WARN, "cluster role: could not read the committed offset", "error=%s",
           rd_kafka_err2name(err));
  if (st->standby && topo_take_over(st, mine, committed > 0 ? committed : 0))
    return;
  topo_standby_stop(st);
  topo_reset(st);
  st->quiet_until = committed > 0 ? committed : 0;
  /* The earlier owners' order records are followed up to the topic's end
   * as it is now: past it, only this owner writes them. */
  int64_t lo = 0, hi = -1;
  err = rd_kafka_query_watermark_offsets(st->consumer, st->in_topic, 0, &lo, &hi, 10000);
  st->following = 1;
  st->follow_end = err || hi < 0 ? INT64_MAX : hi; /* unknown: to the end event */
  if (!err && hi <= lo)
    st->following = 0; /* nothing to follow */
  mine->offset = RD_KAFKA_OFFSET_BEGINNING; /* the changelog, from its start */
  WD_LOG(WD_LOG_INFO, "cluster role elected: rebuilding the memory from the fingerprints",
         "topic=%s answered_up_to=%lld follow_to=%lld", st->in_topic,
         (long long)st->quiet_until, (long long)(st->following ? st->follow_end : -1));
}

void stream_topo_deposed(stream_t *st) {
  wd_engine_stats_t es;
  if (!st->eng)
    return;
  wd_engine_stats(st->eng, &es);
  wd_merge_destroy(st->mg, stream_merge_drop, NULL); /* the next owner reads them */
  st->mg = stream_merge_new(st, 0);
  pend_clear(st);
  st->following = 0;
  wd_engine_destroy(st->eng);
  st->eng = NULL;
  if (st->warm && !st->closing)
    topo_standby_begin(st); /* a warm copy again, from the topic's start */
  WD_LOG(WD_LOG_INFO, "cluster role deposed",
         "topic=%s records=%" PRIu64 " duplicates=%" PRIu64 " late=%" PRIu64
         " index_articles=%" PRIu64,
         st->in_topic, es.records, es.duplicates, es.late, es.index_docs);
}

int stream_topo_coords(stream_t *st, const rd_kafka_message_t *rkm, uint64_t token,
                       wd_coords_t *c) {
  int32_t part = -1;
  int64_t off = -1, ts;
  wd_fprec_peek(rkm->payload, rkm->len, &part, &off, &ts);
  c->topic = st->cfg->input_topic;
  c->partition = part;
  c->offset = off;
  if (st->standby)
    return 2;
  if (rkm->offset >= st->quiet_until)
    return 0;
  stream_ack(st, token, 1);
  return 1;
}

/* ==== Both, one process ==== */

typedef struct role_run_s {
  const wd_config_t *cfg;
  const wd_stream_opts_t *opts;
  wd_err_t ret;
  char errstr[512];
} role_run_t;

static void *cluster_main(void *arg) {
  role_run_t *r = arg;
  r->ret = stream_run_role(r->cfg, r->opts, STREAM_CLUSTER, r->errstr, sizeof(r->errstr));
  if (r->ret != WD_OK)
    stream_stop = 1; /* one role down takes the other with it */
  return NULL;
}

wd_err_t stream_topo_run(const wd_config_t *cfg, const wd_stream_opts_t *opts,
                         char *errstr, size_t errstr_size) {
  role_run_t r = {cfg, opts, WD_OK, ""};
  pthread_t th;
  if (pthread_create(&th, NULL, cluster_main, &r) != 0) {
    wd_errstr_set(errstr, errstr_size, "could not start the cluster role's thread");
    return WD_ERR_INTERNAL;
  }
  wd_err_t ret = stream_run_role(cfg, opts, STREAM_FINGERPRINT, errstr, errstr_size);
  if (ret != WD_OK)
    stream_stop = 1;
  pthread_join(th, NULL);
  if (ret == WD_OK && r.ret != WD_OK) {
    wd_errstr_set(errstr, errstr_size, "%s", r.errstr);
    ret = r.ret;
  }
  if (ret == WD_OK)
    stream_stop = 0; /* consumed: a later run starts afresh */
  return ret;
}
