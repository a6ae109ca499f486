/* stream_replay.c - `wiredup replay` (wd_replay_t, stream.h): the input
 * topic from given offsets or a time, assigned rather than subscribed,
 * through the same merge, batches and producer as stream mode, and never a
 * commit; also the --from-offsets parser (wd_replay_parse_offsets). */
#include "wiredup/stream.h"
#include "wiredup/log.h"
#include "wiredup/mem.h"
#include "wiredup/merge.h"
#include "wiredup/metrics.h"
#include "wiredup/progress.h"

#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream_int.h"

/* ==== Replay ==== */

#define RP_WATERMARK_TIMEOUT_MS 10000

typedef struct rp_part_s {
  int active;   /* being replayed */
  int64_t end;  /* high watermark at start: --until-end stops before it */
  int64_t next; /* where it starts */
  int skipping; /* --from-timestamp without the broker's lookup */
} rp_part_t;

typedef struct replay_s {
  stream_t *st;
  const wd_replay_t *rp;
  rp_part_t *parts;
  int32_t part_cnt;
  uint64_t skipped;
} replay_t;

wd_err_t wd_replay_parse_offsets(const char *s, int32_t **parts, int64_t **offs,
                                 size_t *cnt, char *errstr, size_t errstr_size) {
  size_t n = 1, i = 0;
  for (const char *c = s; *c; c++)
    n += *c == ',';
  *parts = wd_malloc(n * sizeof(**parts));
  *offs = wd_malloc(n * sizeof(**offs));
  *cnt = 0;
  const char *p = s;
  for (i = 0; i < n; i++) {
    char *end;
    const char *item = p;
    errno = 0;
    if (*p < '0' || *p > '9') /* strtoll would take blanks and signs */
      goto bad;
    long long part = strtoll(p, &end, 10);
    if (end == p || *end != ':' || errno || part < 0 ||
        part > WD_STREAM_TRACK_MAX_PARTITION)
      goto bad;
    p = end + 1;
    if (*p < '0' || *p > '9')
      goto bad;
    long long off = strtoll(p, &end, 10);
    if (end == p || (*end != ',' && *end != '\0') || errno || off < 0)
      goto bad;
    for (size_t k = 0; k < i; k++)
      if ((*parts)[k] == (int32_t)part) {
        wd_errstr_set(errstr, errstr_size, "--from-offsets: partition %lld given twice",
                      part);
        goto fail;
      }
    (*parts)[i] = (int32_t)part;
    (*offs)[i] = off;
    p = *end ? end + 1 : end;
    continue;
  bad:
    wd_errstr_set(errstr, errstr_size,
                  "--from-offsets: entry %zu ('%.*s') is not PARTITION:OFFSET "
                  "(both non-negative integers)",
                  i + 1, (int)strcspn(item, ","), item);
    goto fail;
  }
  *cnt = n;
  return WD_OK;
fail:
  wd_free(*parts);
  wd_free(*offs);
  *parts = NULL;
  *offs = NULL;
  return WD_ERR_USAGE;
}

/* merge_take's skip: --from-timestamp where the broker could not look
 * times up skips what its lookup would have: every record before the first
 * one at or after the time. */
static int rp_skip(void *opaque, rd_kafka_message_t *rkm) {
  replay_t *r = opaque;
  if (rkm->partition >= r->part_cnt || !r->parts[rkm->partition].skipping)
    return 0;
  rp_part_t *p = &r->parts[rkm->partition];
  if (rd_kafka_message_timestamp(rkm, NULL) < r->rp->from_ts_ms) {
    r->skipped++;
    wd_merge_skip(r->st->mg, rkm->partition, rkm->offset);
    return 1;
  }
  p->skipping = 0;
  return 0;
}

/* Start offsets into \p assign (one entry per active partition). */
static wd_err_t rp_plan(replay_t *r, rd_kafka_topic_partition_list_t *assign,
                        char *errstr, size_t errstr_size) {
  stream_t *st = r->st;
  const wd_replay_t *rp = r->rp;
  const char *topic = st->cfg->input_topic;

  for (int32_t i = 0; i < r->part_cnt; i++) {
    rp_part_t *p = &r->parts[i];
    int64_t lo, hi;
    rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
        st->consumer, topic, i, &lo, &hi, RP_WATERMARK_TIMEOUT_MS);
    if (err) {
      wd_errstr_set(errstr, errstr_size, "%s [%d]: could not read its offsets: %s", topic,
                    (int)i, rd_kafka_err2str(err));
      return WD_ERR_KAFKA;
    }
    p->end = hi;
    p->next = lo;
  }

  if (rp->from == WD_REPLAY_FROM_OFFSETS) {
    for (size_t k = 0; k < rp->offsets_cnt; k++) {
      if (rp->partitions[k] >= r->part_cnt) {
        wd_errstr_set(errstr, errstr_size,
                      "--from-offsets: %s has no partition %d (it has %d)", topic,
                      (int)rp->partitions[k], (int)r->part_cnt);
        return WD_ERR_USAGE;
      }
      rp_part_t *p = &r->parts[rp->partitions[k]];
      p->active = 1;
      /* below the first offset kept: from the first one there is */
      if (rp->offsets[k] > p->next)
        p->next = rp->offsets[k];
    }
  } else {
    for (int32_t i = 0; i < r->part_cnt; i++)
      r->parts[i].active = 1;
  }

  if (rp->from == WD_REPLAY_FROM_TIMESTAMP) {
    rd_kafka_topic_partition_list_t *q = rd_kafka_topic_partition_list_new(r->part_cnt);
    for (int32_t i = 0; i < r->part_cnt; i++)
      rd_kafka_topic_partition_list_add(q, topic, i)->offset = rp->from_ts_ms;
    rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(st->consumer, q,
                                                         RP_WATERMARK_TIMEOUT_MS);
    int fallback = 0;
    for (int i = 0; i < q->cnt; i++) {
      rp_part_t *p = &r->parts[q->elems[i].partition];
      int64_t off = q->elems[i].offset;
      if (err || q->elems[i].err || off < 0) {
        /* No answer. A broker answers "none at or after that time" with
         * -1 as well, but so does one that cannot look times up at all
         * (librdkafka's mock): read the partition from its start and skip
         * what is earlier. Correct either way; only slower. */
        if (p->end > p->next) {
          p->skipping = 1;
          fallback = 1;
        }
      } else if (off > p->next) {
        p->next = off;
      }
    }
    rd_kafka_topic_partition_list_destroy(q);
    if (fallback)
      WD_LOG(WD_LOG_WARN,
             "the broker did not answer the offset-for-time lookup: reading from the "
             "beginning and skipping earlier records",
             "topic=%s from_timestamp_ms=%lld error=%s", topic,
             (long long)rp->from_ts_ms, rd_kafka_err2name(err));
  }

  for (int32_t i = 0; i < r->part_cnt; i++) {
    rp_part_t *p = &r->parts[i];
    if (!p->active)
      continue;
    wd_stream_track_reset(st->trk, i);
    if (rp->until_end && p->next >= p->end)
      continue; /* nothing to read: not even assigned */
    rd_kafka_topic_partition_list_add(assign, topic, i)->offset = p->next;
    wd_merge_add(st->mg, i, p->next, INT64_MIN, stream_now_ms(),
                 stream_merge_drop, NULL);
    if (rp->until_end)
      wd_merge_set_end(st->mg, i, p->end);
  }
  return WD_OK;
}

wd_err_t stream_replay_run(stream_t *st, const wd_replay_t *rp, char *errstr,
                           size_t errstr_size) {
  replay_t r;
  wd_err_t ret = WD_OK;
  double t0 = stream_now_ms();
  wd_progress_t pg;
  rd_kafka_topic_partition_list_t *assign = NULL;

  memset(&r, 0, sizeof(r));
  r.st = st;
  r.rp = rp;
  r.part_cnt = stream_topic_partition_cnt(st);
  if (r.part_cnt <= 0) {
    wd_errstr_set(errstr, errstr_size, "input topic %s: not found (or no metadata within %d ms)",
                  st->cfg->input_topic, METADATA_TIMEOUT_MS);
    return WD_ERR_KAFKA;
  }
  r.parts = wd_calloc((size_t)r.part_cnt, sizeof(*r.parts));
  assign = rd_kafka_topic_partition_list_new(r.part_cnt);
  if ((ret = rp_plan(&r, assign, errstr, errstr_size)) != WD_OK)
    goto done;
  {
    char starts[1024];
    size_t n = 0;
    starts[0] = '\0';
    for (int i = 0; i < assign->cnt && n < sizeof(starts) - 32; i++)
      n += (size_t)snprintf(starts + n, sizeof(starts) - n, "%s%d:%lld", i ? "," : "",
                            (int)assign->elems[i].partition,
                            (long long)assign->elems[i].offset);
    WD_LOG(WD_LOG_INFO, "replay started",
           "input=%s output=%s dead_letter=%s partitions=%d starts=%s until_end=%s lag=%lld",
           st->cfg->input_topic, st->cfg->output_topic, st->dlq_topic, assign->cnt,
           starts[0] ? starts : "none", rp->until_end ? "true" : "false",
           (long long)wd_merge_lag(st->mg));
  }
  rd_kafka_resp_err_t aerr = rd_kafka_assign(st->consumer, assign);
  if (aerr) {
    wd_errstr_set(errstr, errstr_size, "assign %s: %s", st->cfg->input_topic,
                  rd_kafka_err2str(aerr));
    ret = WD_ERR_KAFKA;
    goto done;
  }

  wd_progress_init(&pg, "replay", 0);
  int busy = 0;
  while (!stream_want_stop(st)) {
    if (rp->until_end && wd_merge_finished(st->mg))
      break;
    rd_kafka_message_t *rkm = rd_kafka_consumer_poll(
        st->consumer, busy || stream_batches_busy(st) ? 0 : 100);
    if (rkm)
      stream_merge_take(st, rkm, rp_skip, &r);
    busy = rkm != NULL;
    if (stream_merge_dispatch(st)) /* what the merge allows, in merge order */
      busy = 1;
    if (!busy) /* nothing more for now: commit what is in flight */
      stream_batch_publish_partial(st);
    stream_batches_commit(st, !busy);
    if (wd_progress_due(&pg)) /* the lag walks every partition: only when shown */
      wd_progress_show(&pg, st->consumed, wd_merge_lag(st->mg));
    rd_kafka_poll(st->producer, 0);
    if (st->metrics)
      wd_metrics_heartbeat(st->metrics);
  }
  stream_batches_drain(st);
  wd_progress_end(&pg);

  /* Every output acknowledged, or say how many were not. No commit: a
   * replay never moves a group's offsets. */
  if (!st->fatal && rd_kafka_flush(st->producer, FLUSH_TIMEOUT_MS) != 0 && !st->fatal)
    stream_set_fatal(st, "replay: %d outputs not acknowledged within %d ms",
                     rd_kafka_outq_len(st->producer), FLUSH_TIMEOUT_MS);
  rd_kafka_poll(st->producer, 0);
  st->closing = 1;
  rd_kafka_consumer_close(st->consumer);

  wd_engine_stats_t es;
  wd_engine_stats(st->eng, &es);
  double secs = (stream_now_ms() - t0) / 1e3;
  if (rp->summary) {
    rp->summary->records = st->consumed;
    rp->summary->duplicates = es.duplicates;
    rp->summary->clusters = es.clusters;
    rp->summary->dead = st->dead;
    rp->summary->skipped = r.skipped;
    rp->summary->seconds = secs;
  }
  WD_LOG(WD_LOG_INFO, "replay stopped",
         "records=%" PRIu64 " published=%" PRIu64 " dead_lettered=%" PRIu64
         " duplicates=%" PRIu64 " clusters=%" PRIu64 " skipped=%" PRIu64
         " lag=%lld seconds=%.3f records_per_s=%.0f",
         st->consumed, st->published, st->dead, es.duplicates, es.clusters, r.skipped,
         (long long)wd_merge_lag(st->mg), secs, secs > 0 ? (double)st->consumed / secs : 0.0);
  if (st->fatal) {
    wd_errstr_set(errstr, errstr_size, "%s", st->fatal_msg);
    ret = WD_ERR_KAFKA;
  } else {
    stream_stop = 0;
  }

done:
  wd_free(r.parts);
  if (assign)
    rd_kafka_topic_partition_list_destroy(assign);
  return ret;
}
