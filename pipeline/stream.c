/* stream.c - stream mode: consumer group in, idempotent producer out, offsets
 * committed only behind acknowledged outputs.
 *
 * Everything Kafka happens on the caller's thread: rd_kafka_consumer_poll
 * serves messages, rebalances and consumer errors; rd_kafka_poll on the
 * producer serves delivery reports. The offset tracker is therefore never
 * touched concurrently and needs no lock.
 *
 * Consumed messages are gathered in batches that worker threads fingerprint
 * (workers.h, pipeline.threads); this thread commits them to the engine in
 * the order it consumed them, then produces. Every message is committed
 * before a rebalance is served and before shutdown, so the engine, the
 * tracker and the checkpoint see the same sequence as if each message were
 * handled as soon as it was polled: the same answers for any thread count. */
#include "wiredup/stream.h"
#include "wiredup/log.h"
#include "wiredup/mem.h"
#include "wiredup/merge.h"
#include "wiredup/pipeline.h"
#include "wiredup/progress.h"
#include "wiredup/record.h"
#include "wiredup/state.h"
#include "wiredup/workers.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ==== Offset tracker ==== */

#define TRACK_SEQ_BITS 48
#define TRACK_SEQ_MASK ((UINT64_C(1) << TRACK_SEQ_BITS) - 1)

enum { ENT_PENDING = 0, ENT_ACKED = 1, ENT_FAILED = 2 };

typedef struct track_ent_s {
  int64_t offset;
  int state;
} track_ent_t;

typedef struct track_part_s {
  track_ent_t *ring;
  size_t cap, head, cnt; /* cnt entries from ring[head], wrapping */
  uint64_t base_seq;     /* sequence number of ring[head] */
  uint64_t next_seq;     /* sequence number the next push gets */
  int64_t next_offset;   /* committable position, -1 = none */
  int dirty;
} track_part_t;

struct wd_stream_track_s {
  track_part_t *parts;
  size_t part_cnt;
  int32_t *dirty; /* partitions with dirty set, in the order they moved */
  size_t dirty_cnt, dirty_cap;
};

wd_stream_track_t *wd_stream_track_new(void) {
  return wd_calloc(1, sizeof(wd_stream_track_t));
}

void wd_stream_track_destroy(wd_stream_track_t *trk) {
  if (!trk)
    return;
  for (size_t i = 0; i < trk->part_cnt; i++)
    wd_free(trk->parts[i].ring);
  wd_free(trk->parts);
  wd_free(trk->dirty);
  wd_free(trk);
}

static track_part_t *track_part(wd_stream_track_t *trk, int32_t partition) {
  assert(partition >= 0 && partition <= WD_STREAM_TRACK_MAX_PARTITION);
  if ((size_t)partition >= trk->part_cnt) {
    size_t cnt = (size_t)partition + 1;
    trk->parts = wd_realloc(trk->parts, cnt * sizeof(*trk->parts));
    memset(trk->parts + trk->part_cnt, 0,
           (cnt - trk->part_cnt) * sizeof(*trk->parts));
    for (size_t i = trk->part_cnt; i < cnt; i++)
      trk->parts[i].next_offset = -1;
    trk->part_cnt = cnt;
  }
  return &trk->parts[partition];
}

static void track_remove_dirty(wd_stream_track_t *trk, int32_t partition) {
  for (size_t i = 0; i < trk->dirty_cnt; i++) {
    if (trk->dirty[i] == partition) {
      memmove(trk->dirty + i, trk->dirty + i + 1,
              (trk->dirty_cnt - i - 1) * sizeof(*trk->dirty));
      trk->dirty_cnt--;
      return;
    }
  }
}

void wd_stream_track_reset(wd_stream_track_t *trk, int32_t partition) {
  track_part_t *tp = track_part(trk, partition);
  /* Keep next_seq: tokens handed out before the reset now fall below
   * base_seq and are recognised as stale. */
  tp->base_seq = tp->next_seq;
  tp->head = tp->cnt = 0;
  tp->next_offset = -1;
  if (tp->dirty) {
    tp->dirty = 0;
    track_remove_dirty(trk, partition);
  }
}

uint64_t wd_stream_track_push(wd_stream_track_t *trk, int32_t partition,
                              int64_t offset) {
  track_part_t *tp = track_part(trk, partition);
  /* A rewind (librdkafka reset the position, e.g. offset out of range after
   * an unclean leader election): what is in flight is consumed again, so it
   * is forgotten as on a reassignment and the offsets rise again. */
  if (tp->cnt > 0 &&
      tp->ring[(tp->head + tp->cnt - 1) % tp->cap].offset >= offset) {
    wd_stream_track_reset(trk, partition);
  }
  if (tp->cnt == tp->cap) /* grow to the high-water mark of offsets in flight */
    tp->ring = wd_ring_grow(tp->ring, sizeof(*tp->ring), &tp->head, tp->cnt, &tp->cap, 256);
  assert(tp->cnt == 0 ||
         tp->ring[(tp->head + tp->cnt - 1) % tp->cap].offset < offset);
  tp->ring[(tp->head + tp->cnt) % tp->cap] = (track_ent_t){offset, ENT_PENDING};
  tp->cnt++;
  uint64_t seq = tp->next_seq++;
  return ((uint64_t)(partition + 1) << TRACK_SEQ_BITS) | (seq & TRACK_SEQ_MASK);
}

int wd_stream_track_ack(wd_stream_track_t *trk, uint64_t token, int ok) {
  uint64_t hi = token >> TRACK_SEQ_BITS;
  if (hi == 0 || hi - 1 >= trk->part_cnt)
    return 0;
  int32_t partition = (int32_t)(hi - 1);
  track_part_t *tp = &trk->parts[partition];
  /* Rebuild the full sequence number from its low bits: in-flight windows
   * are far smaller than 2^48. */
  uint64_t seq = tp->base_seq +
                 (((token & TRACK_SEQ_MASK) - tp->base_seq) & TRACK_SEQ_MASK);
  if (seq < tp->base_seq || seq >= tp->base_seq + tp->cnt)
    return 0;
  track_ent_t *ent =
      &tp->ring[(tp->head + (size_t)(seq - tp->base_seq)) % tp->cap];
  if (ent->state != ENT_PENDING)
    return 0;
  ent->state = ok ? ENT_ACKED : ENT_FAILED;
  int64_t before = tp->next_offset;
  while (tp->cnt > 0 && tp->ring[tp->head].state == ENT_ACKED) {
    tp->next_offset = tp->ring[tp->head].offset + 1;
    tp->head = (tp->head + 1) % tp->cap;
    tp->cnt--;
    tp->base_seq++;
  }
  if (tp->next_offset != before && !tp->dirty) {
    if (trk->dirty_cnt == trk->dirty_cap) {
      trk->dirty_cap = trk->dirty_cap ? trk->dirty_cap * 2 : 16;
      trk->dirty = wd_realloc(trk->dirty, trk->dirty_cap * sizeof(*trk->dirty));
    }
    trk->dirty[trk->dirty_cnt++] = partition;
    tp->dirty = 1;
  }
  return 1;
}

int64_t wd_stream_track_next(const wd_stream_track_t *trk, int32_t partition) {
  if (partition < 0 || (size_t)partition >= trk->part_cnt)
    return -1;
  return trk->parts[partition].next_offset;
}

size_t wd_stream_track_inflight(const wd_stream_track_t *trk,
                                int32_t partition) {
  if (partition < 0 || (size_t)partition >= trk->part_cnt)
    return 0;
  return trk->parts[partition].cnt;
}

size_t wd_stream_track_take_dirty(wd_stream_track_t *trk, int32_t *dst,
                                  size_t dst_cap) {
  size_t n = trk->dirty_cnt < dst_cap ? trk->dirty_cnt : dst_cap;
  if (n == 0)
    return 0;
  for (size_t i = 0; i < n; i++) {
    dst[i] = trk->dirty[i];
    trk->parts[dst[i]].dirty = 0;
  }
  memmove(trk->dirty, trk->dirty + n,
          (trk->dirty_cnt - n) * sizeof(*trk->dirty));
  trk->dirty_cnt -= n;
  return n;
}

/* ==== Stream state ==== */

#define FLUSH_TIMEOUT_MS 10000
#define STORE_INTERVAL_MS 100
#define METADATA_TIMEOUT_MS 2000
#define COMMITTED_TIMEOUT_MS 10000
#define METRICS_PUBLISH_MS 1000

static volatile sig_atomic_t stream_stop;

/* Messages consumed and not yet committed, fingerprinted on the workers. */
#define BATCH_MSGS 32 /* messages handed to a worker at a time */

/* The merge pauses a partition holding MERGE_FETCHES_BUFFERED fetch
 * responses (max.partition.fetch.bytes each, librdkafka's per-partition
 * fetch size, 1 MiB by default) or MERGE_HIGH_MSGS records, and resumes it
 * below a quarter of that, so a partition that runs ahead in event time
 * cannot make us buffer without bound. A pause discards what librdkafka
 * prefetched for the partition, so the limit sits well above one response:
 * pausing on every batch would fetch everything twice. */
#define MERGE_FETCHES_BUFFERED 16
/* How long a poll waits when nothing is in flight: also how often a wait
 * for a partition behind is looked at again. */
#define MERGE_POLL_MS 100
#define MERGE_HIGH_MSGS 65536u

typedef struct batch_s {
  size_t n;                             /* messages in the batch */
  rd_kafka_message_t *rkm[BATCH_MSGS];  /* ours: destroyed once committed */
  int64_t msg_ts[BATCH_MSGS];           /* their Kafka timestamps */
  int64_t wm[BATCH_MSGS];               /* the merge's watermark when taken */
  int64_t ev[BATCH_MSGS];               /* their event times (the merge's) */
  double t_in[BATCH_MSGS];              /* when taken (latency metric) */
  wd_fp_t fp[BATCH_MSGS];
} batch_t;

void wd_stream_request_stop(void) {
  stream_stop = 1;
}

typedef struct stream_s {
  const wd_config_t *cfg;
  const wd_stream_opts_t *opts;
  rd_kafka_t *consumer;
  rd_kafka_t *producer;
  rd_kafka_topic_t *out_rkt; /* the output topic, held from the start */
  wd_engine_t *eng;
  wd_merge_t *mg;      /* the partitions' records in event-time order */
  wd_decoder_t *dec;   /* reads a record's event time for the merge */
  wd_workers_t *wk;
  batch_t *b;      /* the workers' ring of batches */
  size_t nb;
  wd_metrics_t *metrics; /* NULL: not counted */
  wd_stream_track_t *trk;
  wd_buf_t out; /* output value, reused for every record */
  const char *dlq_topic;
  int cooperative;
  int warned_assigned; /* assignment size last warned about, -1 = none */
  int closing;         /* consumer_close in progress */
  int fatal;           /* stop now: errstr holds why */
  char fatal_msg[512];
  uint64_t consumed, published, dead, acked;
  /* Durable state: where checkpoints go (NULL = none) and, per input
   * partition, the offset after the last record the engine has seen. */
  const char *state_dir;
  wd_state_offsets_t processed;
  double last_checkpoint;
} stream_t;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The first fatal error wins; later ones are usually its consequences. */
static void set_fatal(stream_t *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_fatal(stream_t *st, const char *fmt, ...) {
  va_list ap;
  if (st->fatal)
    return;
  st->fatal = 1;
  va_start(ap, fmt);
  vsnprintf(st->fatal_msg, sizeof(st->fatal_msg), fmt, ap);
  va_end(ap);
}

/* ==== librdkafka callbacks ==== */

void wd_stream_rdkafka_log(const rd_kafka_t *rk, int level, const char *fac,
                           const char *buf) {
  wd_log_level_t lvl = level <= 3   ? WD_LOG_ERROR
                       : level == 4 ? WD_LOG_WARN
                       : level <= 6 ? WD_LOG_INFO
                                    : WD_LOG_DEBUG;
  char qfac[64], qname[128];
  WD_LOG(lvl, buf, "component=rdkafka client=%s fac=%s",
         wd_log_quote(qname, sizeof(qname), rd_kafka_name(rk)),
         wd_log_quote(qfac, sizeof(qfac), fac));
}

static void on_error(rd_kafka_t *rk, int err, const char *reason,
                     void *opaque) {
  stream_t *st = opaque;
  char q[600];
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    char why[512];
    rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, why, sizeof(why));
    set_fatal(st, "fatal Kafka error in %s: %s: %s", rd_kafka_name(rk),
              rd_kafka_err2name(orig), why);
    return;
  }
  /* Everything else is retried by librdkafka: say so and carry on. A lost
   * connection is already in librdkafka's own log line. */
  WD_LOG(err == RD_KAFKA_RESP_ERR__TRANSPORT ? WD_LOG_INFO : WD_LOG_WARN,
         "kafka error", "client=%s error=%s reason=%s", rd_kafka_name(rk),
         rd_kafka_err2name((rd_kafka_resp_err_t)err),
         wd_log_quote(q, sizeof(q), reason));
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm,
                        void *opaque) {
  stream_t *st = opaque;
  uint64_t token = (uint64_t)(uintptr_t)rkm->_private;
  if (rkm->err) {
    /* librdkafka has exhausted its retries: this record's input offset must
     * never be committed, so nothing behind it can be either. Stop. */
    wd_stream_track_ack(st->trk, token, 0);
    set_fatal(st,
              "could not deliver to %s: %s (input partition %d is not "
              "committed past it)",
              rd_kafka_topic_name(rkm->rkt), rd_kafka_err2str(rkm->err),
              (int)(token >> TRACK_SEQ_BITS) - 1);
    return;
  }
  if (!wd_stream_track_ack(st->trk, token, 1))
    return; /* from a partition we no longer own: already accounted for */
  st->acked++;
  int dead = strcmp(rd_kafka_topic_name(rkm->rkt), st->dlq_topic) == 0;
  if (st->metrics)
    wd_metrics_add(st->metrics,
                   dead ? WD_METRIC_RECORDS_DEAD : WD_METRIC_RECORDS_OUT, 1);
  if (st->opts && st->opts->on_ack)
    st->opts->on_ack(st->opts->opaque, dead, rkm->key, rkm->key_len,
                     rkm->payload, rkm->len);
}

/* librdkafka statistics (statistics.interval.ms), on the poll thread:
 * the per-partition consumer lag for the metrics endpoint. */
static int on_stats(rd_kafka_t *rk, char *json, size_t json_len, void *opaque) {
  stream_t *st = opaque;
  (void)rk;
  if (st->metrics)
    wd_metrics_publish_kafka_stats(st->metrics, json, json_len);
  return 0; /* librdkafka frees json */
}

/* Store the committable offsets of the partitions that moved. */
static void store_dirty(stream_t *st) {
  int32_t parts[256];
  size_t n;
  while ((n = wd_stream_track_take_dirty(st->trk, parts, 256)) > 0) {
    rd_kafka_topic_partition_list_t *lst =
        rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
      rd_kafka_topic_partition_list_add(lst, st->cfg->input_topic, parts[i])
          ->offset = wd_stream_track_next(st->trk, parts[i]);
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(st->consumer, lst);
    if (err)
      WD_LOG(WD_LOG_DEBUG, "offsets not stored", "error=%s",
             rd_kafka_err2name(err));
    rd_kafka_topic_partition_list_destroy(lst);
  }
}

static int32_t topic_partition_cnt(stream_t *st) {
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

/* Learn the output topic's partitions before the first result: librdkafka
 * asks for an unknown topic's metadata on its 1 s topic scan, so the first
 * outputs would otherwise wait up to a second in the producer (a replay's
 * whole backfill, the first results after a start). Holding the handle keeps
 * the topic known. The dead-letter topic is left alone: asking for it could
 * create it on a broker that auto-creates topics, and dead letters are rare. */
static void producer_warm(stream_t *st) {
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

/* Dedup scope is one process: if our assignment is a strict part of the
 * topic, another member holds the rest and duplicates across the two are
 * missed. Warn once per assignment size, i.e. once per rebalance. */
static void check_shared(stream_t *st) {
  rd_kafka_topic_partition_list_t *asg = NULL;
  int mine = 0;
  if (rd_kafka_assignment(st->consumer, &asg) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return;
  for (int i = 0; i < asg->cnt; i++)
    mine += strcmp(asg->elems[i].topic, st->cfg->input_topic) == 0;
  rd_kafka_topic_partition_list_destroy(asg);
  int32_t total = topic_partition_cnt(st);
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

/* On revoke: let every output in flight be acknowledged, store what that
 * makes committable for the revoked partitions, and commit it before the
 * partitions go to another member. */
static void commit_revoked(stream_t *st,
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
    if (strcmp(p->topic, st->cfg->input_topic) == 0 && next >= 0)
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

static void batches_drain(stream_t *st);
static void merge_drop(void *item, void *opaque);

/* The newest event time \p partition had delivered when the similarity
 * memory was last saved, or INT64_MIN. */
static int64_t merge_restored_ts(const stream_t *st, int32_t partition) {
  return st->state_dir ? wd_state_offsets_get_event(&st->processed, st->cfg->input_topic,
                                                     partition)
                       : INT64_MIN;
}

/* Newly assigned input partitions join the merge at the offsets they start
 * at, unpaused (a pause of an earlier assignment must not linger). */
static void merge_assign(stream_t *st, const rd_kafka_topic_partition_list_t *parts) {
  rd_kafka_topic_partition_list_t *mine = rd_kafka_topic_partition_list_new(parts->cnt);
  for (int i = 0; i < parts->cnt; i++) {
    const rd_kafka_topic_partition_t *p = &parts->elems[i];
    if (strcmp(p->topic, st->cfg->input_topic) != 0 || p->partition < 0 ||
        p->partition > WD_MERGE_MAX_PARTITION)
      continue;
    wd_merge_add(st->mg, p->partition, p->offset >= 0 ? p->offset : -1,
                 merge_restored_ts(st, p->partition), now_ms(), merge_drop, NULL);
    rd_kafka_topic_partition_list_add(mine, p->topic, p->partition);
  }
  if (mine->cnt)
    rd_kafka_resume_partitions(st->consumer, mine);
  rd_kafka_topic_partition_list_destroy(mine);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
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
  batches_drain(st);

  st->cooperative = protocol && strcmp(protocol, "COOPERATIVE") == 0;
  switch (err) {
  case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
    log_partitions("partitions assigned", parts, protocol ? protocol : "NONE",
                   0);
    /* Fresh trackers: consumption resumes at the committed offset, or
     * earlier where the similarity memory is behind it. */
    for (int i = 0; i < parts->cnt; i++)
      if (strcmp(parts->elems[i].topic, st->cfg->input_topic) == 0)
        wd_stream_track_reset(st->trk, parts->elems[i].partition);
    if (st->state_dir)
      start_at_state(st, rk, parts);
    if (st->cooperative)
      error = rd_kafka_incremental_assign(rk, parts);
    else
      aerr = rd_kafka_assign(rk, parts);
    if (!error && !aerr)
      merge_assign(st, parts);
    break;

  case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS: {
    /* A lost assignment already belongs to someone else: committing for it
     * could overwrite the new owner's progress. */
    lost = rd_kafka_assignment_lost(rk);
    log_partitions("partitions revoked", parts, protocol ? protocol : "NONE",
                   lost);
    if (!lost)
      commit_revoked(st, parts);
    for (int i = 0; i < parts->cnt; i++)
      if (strcmp(parts->elems[i].topic, st->cfg->input_topic) == 0) {
        wd_stream_track_reset(st->trk, parts->elems[i].partition);
        /* consumed, never processed nor stored: the next owner reads them */
        wd_merge_remove(st->mg, parts->elems[i].partition, merge_drop, NULL);
      }
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
  if (!st->closing && (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS ||
                       (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS &&
                        st->cooperative && !lost)))
    check_shared(st);
}

/* ==== Configuration ==== */

/* Keys librdkafka documents as consumer-only (C) or producer-only (P) in
 * CONFIGURATION.md 2.0.2; everything else goes to both clients. Giving a
 * key to the other side only earns a "will be ignored" warning. */
static const char *const consumer_only[] = {"auto.commit.enable",
                                            "auto.commit.interval.ms",
                                            "auto.offset.reset",
                                            "check.crcs",
                                            "consume.callback.max.messages",
                                            "coordinator.query.interval.ms",
                                            "enable.auto.commit",
                                            "enable.auto.offset.store",
                                            "enable.partition.eof",
                                            "fetch.error.backoff.ms",
                                            "fetch.max.bytes",
                                            "fetch.message.max.bytes",
                                            "fetch.min.bytes",
                                            "fetch.wait.max.ms",
                                            "group.id",
                                            "group.instance.id",
                                            "group.protocol.type",
                                            "heartbeat.interval.ms",
                                            "isolation.level",
                                            "max.partition.fetch.bytes",
                                            "max.poll.interval.ms",
                                            "offset.store.method",
                                            "offset.store.path",
                                            "offset.store.sync.interval.ms",
                                            "partition.assignment.strategy",
                                            "queued.max.messages.kbytes",
                                            "queued.min.messages",
                                            "session.timeout.ms",
                                            NULL};
static const char *const producer_only[] = {
    "acks",
    "batch.num.messages",
    "batch.size",
    "compression.codec",
    "compression.level",
    "compression.type",
    "delivery.report.only.error",
    "delivery.timeout.ms",
    "enable.gapless.guarantee",
    "enable.idempotence",
    "linger.ms",
    "message.send.max.retries",
    "message.timeout.ms",
    "partitioner",
    "produce.offset.report",
    "queue.buffering.backpressure.threshold",
    "queue.buffering.max.kbytes",
    "queue.buffering.max.messages",
    "queue.buffering.max.ms",
    "queuing.strategy",
    "request.required.acks",
    "request.timeout.ms",
    "retries",
    "retry.backoff.ms",
    "sticky.partitioning.linger.ms",
    "transaction.timeout.ms",
    "transactional.id",
    NULL};

static int in_list(const char *const *list, const char *key) {
  for (; *list; list++)
    if (strcmp(*list, key) == 0)
      return 1;
  return 0;
}

static wd_err_t conf_set(rd_kafka_conf_t *conf, const char *key,
                         const char *value, char *errstr, size_t errstr_size) {
  char rderr[512];
  if (rd_kafka_conf_set(conf, key, value, rderr, sizeof(rderr)) !=
      RD_KAFKA_CONF_OK) {
    wd_errstr_set(errstr, errstr_size, "kafka.%s: %s", key, rderr);
    return WD_ERR_CONFIG;
  }
  return WD_OK;
}

/* Apply the user's pairs (cfg, then opts) that mean something to this side. */
static wd_err_t conf_apply_user(rd_kafka_conf_t *conf, rd_kafka_type_t type,
                                const char *const *keys,
                                const char *const *values, size_t cnt,
                                char *errstr, size_t errstr_size) {
  const char *const *skip =
      type == RD_KAFKA_CONSUMER ? producer_only : consumer_only;
  for (size_t i = 0; i < cnt; i++) {
    if (in_list(skip, keys[i]))
      continue;
    WD_FORWARD_IF_ERR(conf_set(conf, keys[i], values[i], errstr, errstr_size));
  }
  return WD_OK;
}

static const char *user_value(const stream_t *st, const char *key) {
  const char *v = wd_config_kafka_get(st->cfg, key);
  if (st->opts)
    for (size_t i = 0; i < st->opts->kafka_cnt; i++)
      if (strcmp(st->opts->kafka_keys[i], key) == 0)
        v = st->opts->kafka_values[i];
  return v;
}

static rd_kafka_conf_t *build_conf(stream_t *st, rd_kafka_type_t type,
                                   char *errstr, size_t errstr_size) {
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  const wd_config_t *cfg = st->cfg;
  char num[32];
  wd_err_t err;

  rd_kafka_conf_set_opaque(conf, st);
  rd_kafka_conf_set_log_cb(conf, wd_stream_rdkafka_log);
  rd_kafka_conf_set_error_cb(conf, on_error);

  /* Our defaults first, so any kafka.* key the user gives replaces them. */
#define SET(k, v)                                                              \
  if ((err = conf_set(conf, (k), (v), errstr, errstr_size)) != WD_OK)          \
    goto err;
  SET("bootstrap.servers", "localhost:9092");
  if (type == RD_KAFKA_CONSUMER) {
    SET("client.id", "wiredup-consumer");
    SET("group.id", "wiredup");
    SET("partition.assignment.strategy", "cooperative-sticky");
    SET("enable.auto.commit", "true");
    /* A new group reads the topic from the start, as Kafka Streams does:
     * articles published before the first run are clustered too. */
    SET("auto.offset.reset", "earliest");
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    if (st->metrics) {
      /* Consumer lag for /metrics; a scrape every 15 s or so sees it fresh. */
      SET("statistics.interval.ms", "5000");
      rd_kafka_conf_set_stats_cb(conf, on_stats);
    }
  } else {
    SET("client.id", "wiredup-producer");
    /* Retries without duplicates or reordering within an output partition. */
    SET("enable.idempotence", "true");
    /* A dead letter carries the original record, which may be as large as
     * input.max_bytes (or larger: that is why it is a dead letter). */
    int64_t want = cfg->input_max_bytes + 65536;
    if (want > 1000000) {
      snprintf(num, sizeof(num), "%lld",
               (long long)(want < 1000000000 ? want : 1000000000));
      SET("message.max.bytes", num);
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  }
#undef SET

  err = conf_apply_user(conf, type, (const char *const *)cfg->kafka_keys.v,
                        (const char *const *)cfg->kafka_values.v,
                        cfg->kafka_keys.cnt, errstr, errstr_size);
  if (err == WD_OK && st->opts && st->opts->kafka_cnt)
    err = conf_apply_user(conf, type, st->opts->kafka_keys,
                          st->opts->kafka_values, st->opts->kafka_cnt, errstr,
                          errstr_size);
  if (err != WD_OK)
    goto err;

  if (type == RD_KAFKA_CONSUMER) {
    /* Not negotiable: the offset of a record is stored only after its output
     * is acknowledged (store_dirty), never when it is handed to us. */
    const char *v = user_value(st, "enable.auto.offset.store");
    if (v && strcmp(v, "false") != 0)
      WD_LOG(WD_LOG_WARN,
             "kafka.enable.auto.offset.store ignored: wiredup stores offsets "
             "after delivery",
             "value=%s", v);
    if ((err = conf_set(conf, "enable.auto.offset.store", "false", errstr,
                        errstr_size)))
      goto err;
    /* Partition EOF events tell the event-time merge which partitions are
     * at the broker's end (they hold nothing back). */
    if ((err = conf_set(conf, "enable.partition.eof", "true", errstr, errstr_size)))
      goto err;
    /* A replay reads with rd_kafka_assign and never commits, so the live
     * group's offsets stay where they are whatever the user's keys say. */
    if (st->opts && st->opts->replay &&
        ((err = conf_set(conf, "enable.auto.commit", "false", errstr, errstr_size)) ||
         (!user_value(st, "client.id") &&
          (err = conf_set(conf, "client.id", "wiredup-replay", errstr, errstr_size)))))
      goto err;
  }
  return conf;

err:
  rd_kafka_conf_destroy(conf);
  return NULL;
}

/* ==== Producing ==== */

/* Hand one record to the producer; never drops it. A full queue is drained
 * by serving delivery reports; a stop request while it stays full leaves the
 * record unacked (so uncommitted: it is redelivered after a restart). */
static int produce(stream_t *st, const char *topic, const void *key,
                   size_t key_len, const void *value, size_t value_len,
                   rd_kafka_headers_t *hdrs, uint64_t token) {
  rd_kafka_vu_t vu[6];
  size_t n = 0;
  vu[n].vtype = RD_KAFKA_VTYPE_TOPIC;
  vu[n++].u.cstr = topic;
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
      set_fatal(st, "could not produce to %s: %s", topic,
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
  wd_stream_track_ack(st->trk, token, 0);
  return -1;
}

static void dead_letter(stream_t *st, const rd_kafka_message_t *rkm,
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
  if (produce(st, st->dlq_topic, rkm->key, rkm->key_len, rkm->payload, rkm->len,
              hdrs, token) == 0)
    st->dead++;
}

/* A consumer error event: informational, librdkafka keeps trying. */
static void consumer_error(const rd_kafka_message_t *rkm) {
  char q[600];
  WD_LOG(WD_LOG_WARN, "consumer error", "error=%s reason=%s", rd_kafka_err2name(rkm->err),
         wd_log_quote(q, sizeof(q), rd_kafka_message_errstr(rkm)));
}

/* The serial step for one record: its fingerprint \p fp goes through the
 * cluster stage, then out to the producer. */
static void handle_message(stream_t *st, const rd_kafka_message_t *rkm, wd_fp_t *fp) {
  char reason[512];
  wd_result_t res;

  const char *topic = rd_kafka_topic_name(rkm->rkt);
  st->consumed++;
  /* The engine sees this record now (a dead letter changes no state, but the
   * position still moves past it). A redelivery of an earlier record does
   * not move it back: the state still reflects everything below it. */
  if (st->state_dir &&
      wd_state_offsets_get(&st->processed, topic, rkm->partition) < rkm->offset + 1)
    wd_state_offsets_set(&st->processed, topic, rkm->partition, rkm->offset + 1);
  uint64_t token = wd_stream_track_push(st->trk, rkm->partition, rkm->offset);
  wd_err_t err = wd_engine_commit(st->eng, fp, &res, reason, sizeof(reason));
  if (err == WD_ERR_INPUT) {
    dead_letter(st, rkm, topic, reason, token);
    return;
  }
  if (err != WD_OK) {
    wd_stream_track_ack(st->trk, token, 0);
    set_fatal(st, "%s/%d/%lld: %s", topic, (int)rkm->partition,
              (long long)rkm->offset, reason);
    return;
  }
  wd_coords_t coords = {
      .topic = topic, .partition = rkm->partition, .offset = rkm->offset};
  wd_buf_clear(&st->out);
  wd_result_format(&res, &coords, &st->out);
  if (produce(st, st->cfg->output_topic, res.id, strlen(res.id), st->out.p,
              st->out.len, NULL, token) == 0)
    st->published++;
}

/* ==== Checkpoints ==== */

static wd_err_t checkpoint(stream_t *st, char *errstr, size_t errstr_size) {
  st->last_checkpoint = now_ms();
  wd_err_t err = wd_pipeline_state_save(st->eng, st->state_dir, &st->processed, errstr,
                                        errstr_size);
  /* Saving can take seconds at millions of articles: do not let it delay
   * the next one into back-to-back saves. */
  st->last_checkpoint = now_ms();
  return err;
}

/* Before a periodic checkpoint, as Kafka Streams commits a task: wait for
 * every output in flight, then commit the input offsets that makes
 * committable. The committed offset C is then never behind the checkpoint's
 * position S, so a restart (which starts at min(S, C)) never reads a record
 * the saved memory already holds: an article evicted from it since would be
 * answered anew, and differently. Bounded by FLUSH_TIMEOUT_MS; on a timeout
 * the checkpoint is written all the same (a restart then takes the
 * redelivery path for what lies between). */
static void commit_processed(stream_t *st) {
  if (st->fatal)
    return;
  rd_kafka_resp_err_t err = rd_kafka_flush(st->producer, FLUSH_TIMEOUT_MS);
  if (err) {
    WD_LOG(WD_LOG_WARN, "producer flush timed out before a checkpoint", "in_flight=%d",
           rd_kafka_outq_len(st->producer));
    return;
  }
  store_dirty(st);
  err = rd_kafka_commit(st->consumer, NULL, 0 /* sync */);
  if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
    WD_LOG(WD_LOG_INFO, "commit before a checkpoint failed", "error=%s",
           rd_kafka_err2name(err));
}

/* ==== Run ==== */

/* ==== Batches: fingerprinted on the workers, committed here in order ==== */

/* wd_workers_job_t over st->b */
static void batch_fingerprint(void *opaque, size_t slot, wd_fingerprinter_t *fpr,
                              const wd_hint_t *hint) {
  batch_t *b = &((stream_t *)opaque)->b[slot];
  for (size_t i = 0; i < b->n; i++) {
    const rd_kafka_message_t *rkm = b->rkm[i];
    wd_fingerprint(fpr, hint, rkm->payload ? rkm->payload : "", rkm->len,
                   rkm->key_len ? rkm->key : NULL, rkm->key_len, b->msg_ts[i], &b->fp[i]);
  }
}

static wd_err_t batches_new(stream_t *st, char *errstr, size_t errstr_size) {
  const int threads = wd_workers_threads(st->cfg);
  st->nb = 4 * (size_t)threads;
  st->b = wd_calloc(st->nb, sizeof(*st->b));
  for (size_t k = 0; k < st->nb; k++)
    for (size_t i = 0; i < BATCH_MSGS; i++)
      wd_fp_init(&st->b[k].fp[i], (uint32_t)st->cfg->minhash_num_perm);
  st->wk = wd_workers_new(st->cfg, threads, st->nb, batch_fingerprint, NULL, st, errstr,
                          errstr_size);
  return st->wk ? WD_OK : WD_ERR_INTERNAL;
}

/* Commit the oldest batch: each message through the cluster stage and out,
 * in the order consumed. After a fatal error nothing more is handled (as if
 * never consumed: not stored, so redelivered after a restart). */
static void batch_commit(stream_t *st, batch_t *b) {
  for (size_t i = 0; i < b->n; i++) {
    rd_kafka_message_t *rkm = b->rkm[i];
    if (!st->fatal) {
      wd_engine_set_watermark(st->eng, b->wm[i]);
      handle_message(st, rkm, &b->fp[i]);
      if (st->state_dir) /* restores the partition's watermark after a restart */
        wd_state_offsets_set_event(&st->processed, st->cfg->input_topic, rkm->partition,
                                   b->ev[i]);
      if (st->metrics)
        wd_metrics_observe_latency(st->metrics, (now_ms() - b->t_in[i]) / 1e3);
    }
    rd_kafka_message_destroy(rkm);
  }
  wd_workers_release(st->wk, st->eng, b->n);
  b->n = 0;
}

/* Commit the oldest batch if it is fingerprinted; with \p wait, once it is
 * (fingerprinting meanwhile). One batch a call, so the batches freed are
 * refilled between commits: committing every finished batch at once left
 * the workers idle while this thread drained them (as in file mode). */
static void batches_commit(stream_t *st, int wait) {
  int s = wd_workers_oldest(st->wk, wait);
  if (s >= 0)
    batch_commit(st, &st->b[s]);
}

/* The batch being filled, or NULL when none has messages yet. */
static batch_t *batch_filling(stream_t *st) {
  int s = wd_workers_next(st->wk);
  return s >= 0 && st->b[s].n ? &st->b[s] : NULL;
}

static void batch_publish_partial(stream_t *st) {
  if (batch_filling(st))
    wd_workers_publish(st->wk);
}

/* Take one record (ours from now on), next in the merge's order, into the
 * batch being filled, with its event time \p ev and the watermark \p wm to
 * process it under; a full batch goes to the workers. */
static void batch_take(stream_t *st, rd_kafka_message_t *rkm, int64_t ev, int64_t wm) {
  int s = wd_workers_next(st->wk);
  if (s < 0) { /* every batch in flight: make room */
    batches_commit(st, 1);
    s = wd_workers_next(st->wk);
  }
  batch_t *b = &st->b[s];
  b->rkm[b->n] = rkm;
  b->msg_ts[b->n] = rd_kafka_message_timestamp(rkm, NULL);
  b->wm[b->n] = wm;
  b->ev[b->n] = ev;
  if (st->metrics)
    b->t_in[b->n] = now_ms();
  if (++b->n == BATCH_MSGS)
    wd_workers_publish(st->wk);
}

/* ==== The event-time merge (merge.h) between the consumer and the batches ==== */

/* wd_merge_drop_cb_t: a queued record never processed (revoked partition,
 * shutdown). It was not stored, so it is consumed again after a restart. */
static void merge_drop(void *item, void *opaque) {
  (void)opaque;
  rd_kafka_message_destroy(item);
}

static wd_merge_t *merge_new(const stream_t *st, int deterministic) {
  wd_merge_opts_t mo;
  const char *fetch = user_value(st, "max.partition.fetch.bytes");
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

/* Pause or resume \p partition as the merge's memory bound asks. */
static void merge_pause(stream_t *st, int32_t partition) {
  int pause = wd_merge_pause_wanted(st->mg, partition);
  if (pause < 0)
    return;
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, st->cfg->input_topic, partition);
  rd_kafka_resp_err_t err = pause ? rd_kafka_pause_partitions(st->consumer, l)
                                  : rd_kafka_resume_partitions(st->consumer, l);
  rd_kafka_topic_partition_list_destroy(l);
  if (err) {
    WD_LOG(WD_LOG_WARN, pause ? "could not pause a partition" : "could not resume a partition",
           "partition=%d error=%s", (int)partition, rd_kafka_err2name(err));
    return;
  }
  wd_merge_paused(st->mg, partition, pause);
  WD_LOG(WD_LOG_DEBUG, pause ? "partition paused" : "partition resumed", "partition=%d",
         (int)partition);
}

/* The input partition \p rkm belongs to, or -1 (another topic, or out of range). */
static int32_t input_partition(stream_t *st, const rd_kafka_message_t *rkm) {
  if (!rkm->rkt || strcmp(rd_kafka_topic_name(rkm->rkt), st->cfg->input_topic) != 0)
    return -1;
  if (rkm->partition < 0 || rkm->partition > WD_STREAM_TRACK_MAX_PARTITION) {
    set_fatal(st, "%s: partition %d: more than %d partitions are not supported",
              st->cfg->input_topic, (int)rkm->partition, WD_STREAM_TRACK_MAX_PARTITION + 1);
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

/* Take one consumed message (ours from now on): an end-of-partition event
 * tells the merge where the broker's end is, an error is logged, a record
 * joins its partition's queue (unless \p skip says the caller drops it). */
static void merge_take(stream_t *st, rd_kafka_message_t *rkm,
                       int (*skip)(void *, rd_kafka_message_t *), void *skip_opaque) {
  int32_t part = input_partition(st, rkm);
  if (rkm->err) {
    if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (part >= 0)
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
  if (skip && skip(skip_opaque, rkm)) {
    rd_kafka_message_destroy(rkm);
  } else if (!wd_merge_push(st->mg, part, rkm->offset, event_time(st, rkm), rkm->len, rkm,
                            now_ms())) {
    rd_kafka_message_destroy(rkm); /* not wanted, or had already */
  } else if (st->metrics) {
    wd_metrics_add(st->metrics, WD_METRIC_RECORDS_IN, 1);
  }
  merge_pause(st, part);
}

/* Hand the batches every record the merge lets go, in its order.
 * @returns how many. */
static size_t merge_dispatch(stream_t *st) {
  wd_merge_item_t it;
  size_t n = 0;
  int32_t refreshed = -1;
  while (!st->fatal) {
    double now = now_ms();
    if (!wd_merge_pop(st->mg, now, &it)) {
      /* Waiting for a partition: maybe it has caught up since its last
       * record (librdkafka's cached high watermark, no broker round trip). */
      int32_t w = wd_merge_waiting(st->mg);
      int64_t lo, hi;
      if (w < 0 || w == refreshed ||
          rd_kafka_get_watermark_offsets(st->consumer, st->cfg->input_topic, w, &lo, &hi) ||
          hi < 0)
        break;
      wd_merge_set_high(st->mg, w, hi);
      refreshed = w;
      continue;
    }
    refreshed = -1;
    batch_take(st, it.item, it.ts_ms, wd_merge_watermark(st->mg, now));
    merge_pause(st, it.partition);
    n++;
  }
  return n;
}

/* Messages taken and not yet committed. */
static int batches_busy(stream_t *st) {
  return wd_workers_pending(st->wk) > 0 || batch_filling(st) != NULL;
}

/* Commit every message taken so far (after a fatal error: destroy them). */
static void batches_drain(stream_t *st) {
  if (!st->wk)
    return;
  batch_publish_partial(st);
  while (wd_workers_pending(st->wk))
    batches_commit(st, 1);
}

/* Free the batches; messages still in them (left by a fatal error or a
 * failed start) are destroyed unhandled. Before the consumer is destroyed:
 * it waits for its messages. */
static void batches_destroy(stream_t *st) {
  if (st->wk) {
    double workers_s, help_s;
    wd_workers_stop(st->wk); /* no worker reads a message from here on */
    wd_workers_cpu_s(st->wk, &workers_s, &help_s);
    /* where the time went: this thread's share bounds the speed-up */
    WD_LOG(WD_LOG_DEBUG, "stream mode threads",
           "threads=%d poll_cluster_produce_cpu_s=%.3f fingerprint_cpu_s=%.3f",
           wd_workers_threads(st->cfg), wd_workers_thread_cpu_s() - help_s,
           workers_s + help_s);
  }
  for (size_t k = 0; k < st->nb; k++) {
    for (size_t i = 0; i < st->b[k].n; i++)
      rd_kafka_message_destroy(st->b[k].rkm[i]);
    for (size_t i = 0; i < BATCH_MSGS; i++)
      wd_fp_free(&st->b[k].fp[i]);
  }
  wd_workers_destroy(st->wk);
  wd_free(st->b);
}

static void publish_engine(stream_t *st) {
  wd_engine_stats_t es;
  wd_merge_stats_t ms;
  wd_merge_part_t mp;
  if (!st->metrics)
    return;
  wd_engine_stats(st->eng, &es);
  wd_metrics_publish_engine(st->metrics, &es);

  /* the merge: each partition's newest event time against the newest of all */
  const double now = now_ms();
  wd_merge_stats(st->mg, now, &ms);
  wd_metrics_part_t *parts = wd_calloc(ms.partitions ? ms.partitions : 1, sizeof(*parts));
  int64_t newest = INT64_MIN;
  for (size_t i = 0; wd_merge_part(st->mg, i, now, &mp); i++)
    if (mp.max_ts_ms > newest)
      newest = mp.max_ts_ms;
  size_t n = 0;
  for (size_t i = 0; n < ms.partitions && wd_merge_part(st->mg, i, now, &mp); i++, n++)
    parts[n] = (wd_metrics_part_t){mp.partition,
                                   mp.max_ts_ms == INT64_MIN ? 0 : newest - mp.max_ts_ms,
                                   mp.idle};
  wd_metrics_order_t o = {ms.out_of_order, ms.wait_timeouts, ms.queued,
                          st->cfg->input_topic, parts, n};
  wd_metrics_publish_order(st->metrics, &o);
  wd_free(parts);
}

static int want_stop(stream_t *st) {
  return stream_stop || st->fatal ||
         (st->opts && st->opts->on_tick && st->opts->on_tick(st->opts->opaque));
}

static void shutdown_clients(stream_t *st) {
  rd_kafka_resp_err_t err;
  WD_LOGM(WD_LOG_DEBUG, "shutdown: stop consuming");
  /* 1. Drain: every output in flight acknowledged (bounded). A fatal
   *    producer error fails them all at once, so there is nothing to wait for.
   */
  if (!st->fatal && rd_kafka_flush(st->producer, FLUSH_TIMEOUT_MS))
    WD_LOG(WD_LOG_WARN,
           "producer flush timed out: their inputs stay uncommitted",
           "in_flight=%d", rd_kafka_outq_len(st->producer));
  else
    rd_kafka_poll(st->producer, 0);
  WD_LOGM(WD_LOG_DEBUG, "shutdown: producer flushed");
  /* 2. Store and commit what that made committable, synchronously. */
  store_dirty(st);
  err = rd_kafka_commit(st->consumer, NULL, 0);
  WD_LOG(WD_LOG_DEBUG, "shutdown: committed", "error=%s",
         rd_kafka_err2name(err));
  if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
    WD_LOG(WD_LOG_WARN, "final commit failed", "error=%s",
           rd_kafka_err2name(err));
  /* 3. Leave the group; the revoke callback runs once more (nothing left). */
  st->closing = 1;
  err = rd_kafka_consumer_close(st->consumer);
  if (err)
    WD_LOG(WD_LOG_WARN, "consumer close failed", "error=%s",
           rd_kafka_err2name(err));
  int left = rd_kafka_outq_len(st->producer);
  if (left > 0)
    WD_LOG(WD_LOG_WARN, "outputs not delivered at exit", "count=%d", left);
}

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
    wd_merge_add(st->mg, i, p->next, INT64_MIN, now_ms(), merge_drop, NULL);
    if (rp->until_end)
      wd_merge_set_end(st->mg, i, p->end);
  }
  return WD_OK;
}

static wd_err_t replay_run(stream_t *st, const wd_replay_t *rp, char *errstr,
                           size_t errstr_size) {
  replay_t r;
  wd_err_t ret = WD_OK;
  double t0 = now_ms();
  wd_progress_t pg;
  rd_kafka_topic_partition_list_t *assign = NULL;

  memset(&r, 0, sizeof(r));
  r.st = st;
  r.rp = rp;
  r.part_cnt = topic_partition_cnt(st);
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
  while (!want_stop(st)) {
    if (rp->until_end && wd_merge_finished(st->mg))
      break;
    rd_kafka_message_t *rkm =
        rd_kafka_consumer_poll(st->consumer, busy || batches_busy(st) ? 0 : 100);
    if (rkm)
      merge_take(st, rkm, rp_skip, &r);
    busy = rkm != NULL;
    if (merge_dispatch(st)) /* what the merge allows, in merge order */
      busy = 1;
    if (!busy) /* nothing more for now: commit what is in flight */
      batch_publish_partial(st);
    batches_commit(st, !busy);
    if (wd_progress_due(&pg)) /* the lag walks every partition: only when shown */
      wd_progress_show(&pg, st->consumed, wd_merge_lag(st->mg));
    rd_kafka_poll(st->producer, 0);
    if (st->metrics)
      wd_metrics_heartbeat(st->metrics);
  }
  batches_drain(st);
  wd_progress_end(&pg);

  /* Every output acknowledged, or say how many were not. No commit: a
   * replay never moves a group's offsets. */
  if (!st->fatal && rd_kafka_flush(st->producer, FLUSH_TIMEOUT_MS) != 0 && !st->fatal)
    set_fatal(st, "replay: %d outputs not acknowledged within %d ms",
              rd_kafka_outq_len(st->producer), FLUSH_TIMEOUT_MS);
  rd_kafka_poll(st->producer, 0);
  st->closing = 1;
  rd_kafka_consumer_close(st->consumer);

  wd_engine_stats_t es;
  wd_engine_stats(st->eng, &es);
  double secs = (now_ms() - t0) / 1e3;
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

wd_err_t wd_stream_run_opts(const wd_config_t *cfg,
                            const wd_stream_opts_t *opts, char *errstr,
                            size_t errstr_size) {
  stream_t st;
  rd_kafka_conf_t *conf = NULL;
  rd_kafka_topic_partition_list_t *sub = NULL;
  char rderr[512];
  wd_err_t ret = WD_OK;
  rd_kafka_resp_err_t err;
  double t0 = now_ms(), last_store = t0, last_publish = t0;
  char cerr2[600];

  memset(&st, 0, sizeof(st));
  st.cfg = cfg;
  st.opts = opts;
  st.metrics = opts ? opts->metrics : NULL;
  st.warned_assigned = -1;
  st.dlq_topic = wd_config_dlq_topic(cfg);
  wd_buf_init(&st.out);
  st.trk = wd_stream_track_new();

  if (!(st.eng = wd_engine_new(cfg, errstr, errstr_size))) {
    ret = WD_ERR_CONFIG;
    goto done;
  }
  if ((ret = batches_new(&st, errstr, errstr_size)) != WD_OK)
    goto done;
  st.mg = merge_new(&st, opts && opts->replay);
  st.dec = wd_decoder_new(cfg);
  wd_decoder_defer_warnings(st.dec, 1); /* the engine logs them, in order */
  st.state_dir = opts && opts->no_state ? NULL : wd_config_state_dir(cfg, 1);
  if (st.state_dir && opts && opts->replay && opts->fresh_state) {
    /* a replay never writes the checkpoint: nothing to load, nothing to replace */
    WD_LOG(WD_LOG_INFO, "replay starts with empty state (--fresh-state); the checkpoint "
           "is left as it is", "state_dir=%s", st.state_dir);
    st.state_dir = NULL;
  }
  if (st.state_dir &&
      (ret = wd_pipeline_state_open(st.eng, st.state_dir, opts && opts->fresh_state,
                                    &st.processed, errstr, errstr_size)) != WD_OK)
    goto done;
  st.last_checkpoint = now_ms();
  if (!(conf = build_conf(&st, RD_KAFKA_PRODUCER, errstr, errstr_size))) {
    ret = WD_ERR_CONFIG;
    goto done;
  }
  if (!(st.producer =
            rd_kafka_new(RD_KAFKA_PRODUCER, conf, rderr, sizeof(rderr)))) {
    wd_errstr_set(errstr, errstr_size, "kafka producer: %s", rderr);
    rd_kafka_conf_destroy(conf);
    ret = WD_ERR_CONFIG;
    goto done;
  }
  conf = NULL; /* owned by the producer now */
  producer_warm(&st);
  if (!(conf = build_conf(&st, RD_KAFKA_CONSUMER, errstr, errstr_size))) {
    ret = WD_ERR_CONFIG;
    goto done;
  }
  if (!(st.consumer =
            rd_kafka_new(RD_KAFKA_CONSUMER, conf, rderr, sizeof(rderr)))) {
    wd_errstr_set(errstr, errstr_size, "kafka consumer: %s", rderr);
    rd_kafka_conf_destroy(conf);
    ret = WD_ERR_CONFIG;
    goto done;
  }
  conf = NULL;
  /* One queue for messages, rebalances and errors, served by consumer_poll. */
  rd_kafka_poll_set_consumer(st.consumer);

  if (opts && opts->replay) {
    ret = replay_run(&st, opts->replay, errstr, errstr_size);
    goto done;
  }

  sub = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(sub, cfg->input_topic,
                                    RD_KAFKA_PARTITION_UA);
  err = rd_kafka_subscribe(st.consumer, sub);
  rd_kafka_topic_partition_list_destroy(sub);
  if (err) {
    wd_errstr_set(errstr, errstr_size, "subscribe to %s: %s", cfg->input_topic,
                  rd_kafka_err2str(err));
    ret = WD_ERR_KAFKA;
    rd_kafka_consumer_close(st.consumer);
    goto done;
  }
  {
    const char *bs = user_value(&st, "bootstrap.servers");
    const char *grp = user_value(&st, "group.id");
    WD_LOG(WD_LOG_INFO, "stream mode started",
           "input=%s output=%s dead_letter=%s group=%s "
           "bootstrap=%s",
           cfg->input_topic, cfg->output_topic, st.dlq_topic,
           grp ? grp : "wiredup", bs ? bs : "localhost:9092");
  }

  publish_engine(&st);
  int busy = 0;
  while (!want_stop(&st)) {
    /* Wait for the broker only when no work is in flight. */
    rd_kafka_message_t *rkm =
        rd_kafka_consumer_poll(st.consumer, busy || batches_busy(&st) ? 0 : MERGE_POLL_MS);
    if (rkm)
      merge_take(&st, rkm, NULL, NULL);
    busy = rkm != NULL;
    if (merge_dispatch(&st)) /* what the merge lets go, in event-time order */
      busy = 1;
    if (!busy) {
      /* nothing more for now: commit what is in flight, the oldest batch
       * at least, fingerprinting it here if no worker has yet */
      batch_publish_partial(&st);
    }
    batches_commit(&st, !busy);
    rd_kafka_poll(st.producer, 0); /* delivery reports -> tracker */
    double t = now_ms();
    if (t - last_store >= STORE_INTERVAL_MS) {
      store_dirty(&st);
      last_store = t;
    }
    if (st.state_dir &&
        t - st.last_checkpoint >= (double)cfg->state_checkpoint_interval_ms) {
      char cerr[512];
      commit_processed(&st);
      if (checkpoint(&st, cerr, sizeof(cerr)) != WD_OK)
        WD_LOG(WD_LOG_ERROR, "checkpoint failed: the previous one stays",
               "reason=%s", wd_log_quote(cerr2, sizeof(cerr2), cerr));
    }
    if (st.metrics) {
      wd_metrics_heartbeat(st.metrics);
      if (t - last_publish >= METRICS_PUBLISH_MS) {
        publish_engine(&st);
        last_publish = t;
      }
    }
  }
  batches_drain(&st); /* what was consumed is handled (unless fatal) */
  shutdown_clients(&st);
  publish_engine(&st);
  if (st.fatal) {
    wd_errstr_set(errstr, errstr_size, "%s", st.fatal_msg);
    ret = WD_ERR_KAFKA;
  } else {
    /* The stop request is consumed: a later run (tests, the demo) starts
     * afresh. A signal that came before this run still stopped it. */
    stream_stop = 0;
  }
  /* Last, after the consumer has closed: the state then reflects every
   * record this run will ever see. */
  if (st.state_dir) {
    char cerr[512];
    if (checkpoint(&st, cerr, sizeof(cerr)) != WD_OK) {
      WD_LOG(WD_LOG_ERROR, "final checkpoint failed", "reason=%s",
             wd_log_quote(cerr2, sizeof(cerr2), cerr));
      if (ret == WD_OK) {
        wd_errstr_set(errstr, errstr_size, "%s", cerr);
        ret = WD_ERR_IO;
      }
    }
  }
  wd_engine_stats_t es;
  wd_merge_stats_t ms;
  wd_engine_stats(st.eng, &es);
  wd_merge_stats(st.mg, now_ms(), &ms);
  WD_LOG(WD_LOG_INFO, "stream mode stopped",
         "consumed=%" PRIu64 " published=%" PRIu64 " dead_lettered=%" PRIu64
         " acked=%" PRIu64 " duplicates=%" PRIu64 " redelivered=%" PRIu64
         " late=%" PRIu64 " out_of_order=%" PRIu64 " index_articles=%" PRIu64
         " seconds=%.3f",
         st.consumed, st.published, st.dead, st.acked, es.duplicates,
         es.redelivered, es.late, ms.out_of_order, es.index_docs, (now_ms() - t0) / 1e3);

done:
  batches_destroy(&st);
  wd_merge_destroy(st.mg, merge_drop, NULL); /* before the consumer: it waits for them */
  wd_decoder_destroy(st.dec);
  if (st.consumer)
    rd_kafka_destroy(st.consumer);
  if (st.out_rkt)
    rd_kafka_topic_destroy(st.out_rkt);
  if (st.producer) {
    /* Flushed already; anything left is reported above and dropped here
     * uncommitted, so it is redelivered on the next start. */
    rd_kafka_flush(st.producer, 0);
    rd_kafka_destroy(st.producer);
  }
  wd_engine_destroy(st.eng);
  wd_state_offsets_clear(&st.processed);
  wd_stream_track_destroy(st.trk);
  wd_buf_free(&st.out);
  return ret;
}

wd_err_t wd_stream_run(const wd_config_t *cfg, char *errstr,
                       size_t errstr_size) {
  return wd_stream_run_opts(cfg, NULL, errstr, errstr_size);
}
