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
 * handled as soon as it was polled: the same answers for any thread count.
 *
 * The module's files (stream_int.h holds what they share):
 *   stream.c          the run: configuration, batches, checkpoints, the loop
 *   stream_consume.c  the consumer side: event-time merge glue, rebalances
 *   stream_produce.c  the producer and commit path
 *   stream_replay.c   `wiredup replay`
 *   stream_track.c    the offset tracker (wd_stream_track_*) */
#include "wiredup/stream.h"
#include "wiredup/log.h"
#include "wiredup/mem.h"
#include "wiredup/merge.h"
#include "wiredup/pipeline.h"
#include "wiredup/record.h"
#include "wiredup/state.h"
#include "wiredup/workers.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stream_int.h"

/* ==== Stream state ==== */

#define STORE_INTERVAL_MS 100
#define METRICS_PUBLISH_MS 1000

volatile sig_atomic_t stream_stop;

/* How long a poll waits when nothing is in flight: also how often a wait
 * for a partition behind is looked at again. */
#define MERGE_POLL_MS 100

void wd_stream_request_stop(void) {
  stream_stop = 1;
}

double stream_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The first fatal error wins; later ones are usually its consequences. */
void stream_set_fatal(stream_t *st, const char *fmt, ...) {
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
    stream_set_fatal(st, "fatal Kafka error in %s: %s: %s", rd_kafka_name(rk),
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

/* librdkafka statistics (statistics.interval.ms), on the poll thread:
 * the per-partition consumer lag for the metrics endpoint. */
static int on_stats(rd_kafka_t *rk, char *json, size_t json_len, void *opaque) {
  stream_t *st = opaque;
  (void)rk;
  if (st->metrics)
    wd_metrics_publish_kafka_stats(st->metrics, json, json_len);
  return 0; /* librdkafka frees json */
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

const char *stream_user_value(const stream_t *st, const char *key) {
  const char *v = wd_config_kafka_get(st->cfg, key);
  if (st->opts)
    for (size_t i = 0; i < st->opts->kafka_cnt; i++)
      if (strcmp(st->opts->kafka_keys[i], key) == 0)
        v = st->opts->kafka_values[i];
  return v;
}

rd_kafka_conf_t *stream_build_conf(stream_t *st, rd_kafka_type_t type, int standby,
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
    rd_kafka_conf_set_rebalance_cb(conf, stream_on_rebalance);
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
    rd_kafka_conf_set_dr_msg_cb(conf, stream_on_delivery);
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
     * is acknowledged (stream_store_dirty), never when it is handed to us. */
    const char *v = stream_user_value(st, "enable.auto.offset.store");
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
        ((err = conf_set(conf, "enable.auto.commit", "false", errstr,
                         errstr_size)) ||
         (!stream_user_value(st, "client.id") &&
          (err = conf_set(conf, "client.id", "wiredup-replay", errstr,
                          errstr_size)))))
      goto err;
    /* The cluster role's group elects the one owner of the fingerprints
     * partition; it is not the input's group. */
    if (st->role == STREAM_CLUSTER &&
        ((err = conf_set(conf, "group.id", st->group, errstr, errstr_size)) ||
         (!stream_user_value(st, "client.id") &&
          (err = conf_set(conf, "client.id", standby ? "wiredup-standby" : "wiredup-cluster",
                          errstr, errstr_size)))))
      goto err;
    /* The cluster stage commits every second unless told otherwise: a new
     * owner answers again what was not committed. */
    if (st->role == STREAM_CLUSTER && !stream_user_value(st, "auto.commit.interval.ms") &&
        (err = conf_set(conf, "auto.commit.interval.ms", "1000", errstr, errstr_size)))
      goto err;
    /* The standby's copy reads the partition it is assigned and never
     * commits (the owner does); its lag is not the group's. */
    if (standby &&
        ((err = conf_set(conf, "enable.auto.commit", "false", errstr, errstr_size)) ||
         (err = conf_set(conf, "statistics.interval.ms", "0", errstr, errstr_size))))
      goto err;
  }
  return conf;

err:
  rd_kafka_conf_destroy(conf);
  return NULL;
}

/* ==== The serial step ==== */

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
  if (st->role == STREAM_FINGERPRINT) {
    stream_topo_send(st, rkm, fp);
    return;
  }
  /* The cluster role tracked its fingerprints offsets as it read them, in
   * their order (records are decided in event-time order, not theirs). */
  uint64_t token = st->role == STREAM_CLUSTER
                       ? stream_topo_token(rkm)
                       : wd_stream_track_push(st->trk, rkm->partition, rkm->offset);
  wd_err_t err = wd_engine_commit(st->eng, fp, &res, reason, sizeof(reason));
  /* What is left of a replay or a backlog (the merge knows each partition's
   * end or high watermark): the index is sized for it once. */
  if (st->consumed == WD_ENGINE_EXPECT_AFTER && st->mg)
    wd_engine_expect(st->eng, (uint64_t)wd_merge_lag(st->mg));
  if (err != WD_OK && st->role == STREAM_CLUSTER && st->standby) {
    if (err != WD_ERR_INPUT) /* a dead letter is the owner's to send */
      stream_set_fatal(st, "standby: %s/%d/%lld: %s", topic, (int)rkm->partition,
                       (long long)rkm->offset, reason);
    return;
  }
  if (err == WD_ERR_INPUT) {
    stream_dead_letter(st, rkm, topic, reason, token);
    return;
  }
  if (err != WD_OK) {
    stream_ack(st, token, 0);
    stream_set_fatal(st, "%s/%d/%lld: %s", topic, (int)rkm->partition,
                     (long long)rkm->offset, reason);
    return;
  }
  wd_coords_t coords = {
      .topic = topic, .partition = rkm->partition, .offset = rkm->offset};
  const int kept = st->role == STREAM_CLUSTER ? stream_topo_coords(st, rkm, token, &coords) : 0;
  if (kept == 1)
    return; /* answered by an earlier owner: in the memory again, not resent */
  wd_buf_clear(&st->out);
  wd_result_format(&res, &coords, &st->out);
  if (kept == 2) { /* a standby's copy: the owner answers, unless it dies first */
    stream_topo_store(st, rkm, res.id, strlen(res.id));
    return;
  }
  if (stream_produce(st, st->cfg->output_topic, RD_KAFKA_PARTITION_UA, res.id, strlen(res.id),
                     st->out.p, st->out.len, NULL, token) == 0)
    st->published++;
}

/* ==== Checkpoints ==== */

static wd_err_t checkpoint(stream_t *st, char *errstr, size_t errstr_size) {
  st->last_checkpoint = stream_now_ms();
  wd_err_t err = wd_pipeline_state_save(st->eng, st->state_dir, &st->processed, errstr,
                                        errstr_size);
  /* Saving can take seconds at millions of articles: do not let it delay
   * the next one into back-to-back saves. */
  st->last_checkpoint = stream_now_ms();
  return err;
}

/* ==== Run ==== */

/* ==== Batches: fingerprinted on the workers, committed here in order ==== */

/* wd_workers_job_t over st->b */
static void batch_fingerprint(void *opaque, size_t slot, wd_fingerprinter_t *fpr,
                              const wd_hint_t *hint) {
  stream_t *st = opaque;
  batch_t *b = &st->b[slot];
  for (size_t i = 0; i < b->n; i++) {
    const rd_kafka_message_t *rkm = b->rkm[i];
    if (st->role == STREAM_CLUSTER) { /* a fingerprint record: decode it */
      b->fp[i].err = wd_fprec_decode(st->fdec[slot], rkm->payload ? rkm->payload : "",
                                     rkm->len, &b->fp[i], NULL, b->fp[i].reason,
                                     sizeof(b->fp[i].reason));
      continue;
    }
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
  if (st->role == STREAM_CLUSTER) {
    st->fdec = wd_calloc(st->nb, sizeof(*st->fdec));
    for (size_t k = 0; k < st->nb; k++)
      if (!(st->fdec[k] = wd_fprec_decoder_new(st->cfg, errstr, errstr_size)))
        return WD_ERR_CONFIG;
  }
  st->wk = wd_workers_new(st->cfg, threads, st->nb, batch_fingerprint, NULL, st, errstr,
                          errstr_size);
  return st->wk ? WD_OK : WD_ERR_INTERNAL;
}

/* Commit the oldest batch: each message through the cluster stage and out,
 * in the order consumed. After a fatal error nothing more is handled (as if
 * never consumed: not stored, so redelivered after a restart). */
static void batch_commit(stream_t *st, batch_t *b) {
  /* the cluster role answers nothing its order record does not hold */
  if (b->olog_seq && !st->fatal)
    stream_topo_log_wait(st, b);
  for (size_t i = 0; i < b->n; i++) {
    rd_kafka_message_t *rkm = b->rkm[i];
    if (!st->fatal) {
      if (st->eng)
        wd_engine_set_watermark(st->eng, b->wm[i]);
      handle_message(st, rkm, &b->fp[i]);
      if (st->state_dir) /* restores the partition's watermark after a restart */
        wd_state_offsets_set_event(&st->processed, st->cfg->input_topic, rkm->partition,
                                   b->ev[i]);
      if (st->metrics)
        wd_metrics_observe_latency(st->metrics,
                                   (stream_now_ms() - b->t_in[i]) / 1e3);
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
void stream_batches_commit(stream_t *st, int wait) {
  int s = wd_workers_oldest(st->wk, wait);
  if (s >= 0)
    batch_commit(st, &st->b[s]);
}

/* The batch being filled, or NULL when none has messages yet. */
static batch_t *batch_filling(stream_t *st) {
  int s = wd_workers_next(st->wk);
  return s >= 0 && st->b[s].n ? &st->b[s] : NULL;
}

/* The batch being filled to the workers; the cluster role first writes the
 * order of its records (stream_topo_log_batch). */
static void batch_publish(stream_t *st) {
  const int s = wd_workers_next(st->wk);
  if (st->role == STREAM_CLUSTER && s >= 0)
    stream_topo_log_batch(st, &st->b[s]);
  wd_workers_publish(st->wk);
}

void stream_batch_publish_partial(stream_t *st) {
  if (batch_filling(st))
    batch_publish(st);
}

/* Take one record (ours from now on), next in the merge's order, into the
 * batch being filled, with its event time \p ev, the watermark \p wm to
 * process it under and when it was consumed, \p t_in (the latency metric
 * counts its wait in the merge); a full batch goes to the workers. */
void stream_batch_take(stream_t *st, rd_kafka_message_t *rkm, int64_t ev,
                       int64_t wm, double t_in) {
  int s = wd_workers_next(st->wk);
  if (s < 0) { /* every batch in flight: make room */
    stream_batches_commit(st, 1);
    s = wd_workers_next(st->wk);
  }
  batch_t *b = &st->b[s];
  b->rkm[b->n] = rkm;
  b->msg_ts[b->n] = rd_kafka_message_timestamp(rkm, NULL);
  b->wm[b->n] = wm;
  b->ev[b->n] = ev;
  b->t_in[b->n] = t_in;
  b->logged[b->n] = (uint8_t)st->replaying;
  if (++b->n == BATCH_MSGS)
    batch_publish(st);
}

/* Messages taken and not yet committed. */
int stream_batches_busy(stream_t *st) {
  return wd_workers_pending(st->wk) > 0 || batch_filling(st) != NULL;
}

/* Commit every message taken so far (after a fatal error: destroy them). */
void stream_batches_drain(stream_t *st) {
  if (!st->wk)
    return;
  stream_batch_publish_partial(st);
  while (wd_workers_pending(st->wk))
    stream_batches_commit(st, 1);
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
  for (size_t k = 0; st->fdec && k < st->nb; k++)
    wd_fprec_decoder_destroy(st->fdec[k]);
  wd_free(st->fdec);
}

static void publish_engine(stream_t *st) {
  wd_engine_stats_t es;
  wd_merge_stats_t ms;
  wd_merge_part_t mp;
  if (!st->metrics || !st->eng)
    return;
  wd_engine_stats(st->eng, &es);
  wd_metrics_publish_engine(st->metrics, &es);

  /* the merge: each partition's newest event time against the newest of all */
  const double now = stream_now_ms();
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

int stream_want_stop(stream_t *st) {
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
  stream_store_dirty(st);
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

wd_err_t stream_subscribe(stream_t *st, char *errstr, size_t errstr_size) {
  rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(sub, st->in_topic, RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t err = rd_kafka_subscribe(st->consumer, sub);
  rd_kafka_topic_partition_list_destroy(sub);
  if (err) {
    wd_errstr_set(errstr, errstr_size, "subscribe to %s: %s", st->in_topic,
                  rd_kafka_err2str(err));
    return WD_ERR_KAFKA;
  }
  st->subscribed = 1;
  return WD_OK;
}

/* librdkafka before 2.3.0 (Debian 12 has 2.0.2) aborts in rd_kafka_destroy()
 * of a cooperative-sticky consumer that joined its group and never completed
 * a SyncGroup ("rd_kafka_sticky_assignor_state_destroy: Assertion
 * `assignor_state' failed", librdkafka issue 4312, fixed by PR 4381): a
 * member stopped while its group is still rebalancing, as the cluster role
 * of an instance never elected may be. Its first assignment (st->synced)
 * proves a sync; a group consumer stopped before one has been closed (it has
 * left the group) and is kept, not destroyed, until the process exits. */
#define KEPT_CONSUMERS 4
static rd_kafka_t *kept_consumers[KEPT_CONSUMERS]; /* still reachable: no leak report */
static unsigned kept_cnt;

static void consumer_destroy(rd_kafka_t *rk, int unsynced) {
  if (!unsynced || rd_kafka_version() >= 0x020300ff) {
    rd_kafka_destroy(rk);
    return;
  }
  const unsigned i = __atomic_fetch_add(&kept_cnt, 1, __ATOMIC_RELAXED);
  if (i < KEPT_CONSUMERS)
    kept_consumers[i] = rk;
  WD_LOG(WD_LOG_DEBUG, "consumer stopped before its first assignment: not destroyed",
         "client=%s librdkafka=%s", rd_kafka_name(rk), rd_kafka_version_str());
}

/* One run of \p role (STREAM_ALL: the whole of stream mode, or a replay). */
wd_err_t stream_run_role(const wd_config_t *cfg, const wd_stream_opts_t *opts,
                         stream_role_t role, char *errstr, size_t errstr_size) {
  stream_t st;
  rd_kafka_conf_t *conf = NULL;
  char rderr[512];
  wd_err_t ret = WD_OK;
  double t0 = stream_now_ms(), last_store = t0, last_publish = t0;
  char cerr2[600];

  memset(&st, 0, sizeof(st));
  st.cfg = cfg;
  st.opts = opts;
  st.role = role;
  st.in_topic = cfg->input_topic;
  char *fp_topic = NULL, *cl_group = NULL;
  if (role != STREAM_ALL) {
    /* the internal names derive from the group, as Kafka Streams' do */
    const char *grp = wd_config_kafka_get(cfg, "group.id");
    if (opts)
      for (size_t i = 0; i < opts->kafka_cnt; i++)
        if (strcmp(opts->kafka_keys[i], "group.id") == 0)
          grp = opts->kafka_values[i];
    grp = grp ? grp : "wiredup";
    fp_topic = wd_malloc(strlen(grp) + sizeof(".fingerprints"));
    sprintf(fp_topic, "%s.fingerprints", grp);
    cl_group = wd_malloc(strlen(grp) + sizeof(".cluster"));
    sprintf(cl_group, "%s.cluster", grp);
    st.fp_topic = fp_topic;
    if (role == STREAM_CLUSTER) {
      st.in_topic = fp_topic;
      st.group = cl_group;
    }
  }
  st.metrics = opts ? opts->metrics : NULL;
  st.warned_assigned = -1;
  st.dlq_topic = wd_config_dlq_topic(cfg);
  wd_buf_init(&st.out);
  st.trk = wd_stream_track_new();

  if (role != STREAM_FINGERPRINT && !(st.eng = wd_engine_new(cfg, errstr, errstr_size))) {
    ret = WD_ERR_CONFIG;
    goto done;
  }
  if ((ret = batches_new(&st, errstr, errstr_size)) != WD_OK)
    goto done;
  st.mg = stream_merge_new(&st, opts && opts->replay);
  st.dec = wd_decoder_new(cfg);
  wd_decoder_defer_warnings(st.dec, 1); /* the engine logs them, in order */
  /* The cluster role's memory is restored from the fingerprints topic, its
   * changelog; the fingerprint role keeps none. */
  st.state_dir = (opts && opts->no_state) || role != STREAM_ALL
                     ? NULL
                     : wd_config_state_dir(cfg, 1);
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
  st.last_checkpoint = stream_now_ms();
  if (!(conf = stream_build_conf(&st, RD_KAFKA_PRODUCER, 0, errstr, errstr_size))) {
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
  if (role == STREAM_FINGERPRINT)
    stream_topo_prepare(&st);
  if (role == STREAM_CLUSTER) {
    /* the order records' own producer: a batch waits for its record alone,
     * not for the outputs in flight; sent at once */
    if (!(conf = stream_build_conf(&st, RD_KAFKA_PRODUCER, 0, errstr, errstr_size))) {
      ret = WD_ERR_CONFIG;
      goto done;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, stream_topo_on_olog);
    if ((ret = conf_set(conf, "linger.ms", "0", errstr, errstr_size)) != WD_OK ||
        (!stream_user_value(&st, "client.id") &&
         (ret = conf_set(conf, "client.id", "wiredup-order", errstr, errstr_size)) != WD_OK)) {
      rd_kafka_conf_destroy(conf);
      goto done;
    }
    if (!(st.olog = rd_kafka_new(RD_KAFKA_PRODUCER, conf, rderr, sizeof(rderr)))) {
      wd_errstr_set(errstr, errstr_size, "kafka producer: %s", rderr);
      rd_kafka_conf_destroy(conf);
      ret = WD_ERR_CONFIG;
      goto done;
    }
    conf = NULL;
  }
  stream_producer_warm(&st);
  if (!(conf = stream_build_conf(&st, RD_KAFKA_CONSUMER, 0, errstr, errstr_size))) {
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
    ret = stream_replay_run(&st, opts->replay, errstr, errstr_size);
    goto done;
  }

  /* the cluster role may first make a standby copy, then join */
  ret = role == STREAM_CLUSTER ? stream_topo_start(&st, errstr, errstr_size)
                               : stream_subscribe(&st, errstr, errstr_size);
  if (ret != WD_OK) {
    rd_kafka_consumer_close(st.consumer);
    goto done;
  }
  {
    const char *bs = stream_user_value(&st, "bootstrap.servers");
    const char *grp = st.group ? st.group : stream_user_value(&st, "group.id");
    static const char *const names[] = {"all", "fingerprint", "cluster"};
    WD_LOG(WD_LOG_INFO, "stream mode started",
           "role=%s input=%s output=%s dead_letter=%s group=%s "
           "bootstrap=%s",
           names[role], st.in_topic,
           role == STREAM_FINGERPRINT ? st.fp_topic : cfg->output_topic, st.dlq_topic,
           grp ? grp : "wiredup", bs ? bs : "localhost:9092");
  }

  publish_engine(&st);
  int busy = 0;
  while (!stream_want_stop(&st)) {
    if (st.warm && stream_topo_poll(&st))
      busy = 1; /* the standby's copy */
    /* Wait for the broker only when no work is in flight. */
    rd_kafka_message_t *rkm = rd_kafka_consumer_poll(
        st.consumer, busy || stream_batches_busy(&st) ? 0 : MERGE_POLL_MS);
    if (rkm)
      stream_merge_take(&st, rkm, NULL, NULL);
    busy = rkm != NULL;
    if (stream_merge_dispatch(
            &st)) /* what the merge lets go, in event-time order */
      busy = 1;
    if (!busy) {
      /* nothing more for now: commit what is in flight, the oldest batch
       * at least, fingerprinting it here if no worker has yet */
      stream_batch_publish_partial(&st);
    }
    stream_batches_commit(&st, !busy);
    rd_kafka_poll(st.producer, 0); /* delivery reports -> tracker */
    if (st.olog)
      rd_kafka_poll(st.olog, 0);
    double t = stream_now_ms();
    if (t - last_store >= STORE_INTERVAL_MS) {
      stream_store_dirty(&st);
      last_store = t;
    }
    if (st.state_dir &&
        t - st.last_checkpoint >= (double)cfg->state_checkpoint_interval_ms) {
      char cerr[512];
      stream_commit_processed(&st);
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
  stream_batches_drain(&st); /* what was consumed is handled (unless fatal) */
  shutdown_clients(&st);
  publish_engine(&st);
  if (st.fatal) {
    wd_errstr_set(errstr, errstr_size, "%s", st.fatal_msg);
    ret = WD_ERR_KAFKA;
  } else if (role == STREAM_ALL) {
    /* The stop request is consumed: a later run (tests, the demo) starts
     * afresh. A signal that came before this run still stopped it. (The
     * topology's roles leave that to stream_topo_run, after both.) */
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
  memset(&es, 0, sizeof(es));
  if (st.eng)
    wd_engine_stats(st.eng, &es);
  wd_merge_stats(st.mg, stream_now_ms(), &ms);
  WD_LOG(WD_LOG_INFO, role == STREAM_ALL ? "stream mode stopped"
                      : role == STREAM_FINGERPRINT ? "fingerprint role stopped"
                                                   : "cluster role stopped",
         "consumed=%" PRIu64 " published=%" PRIu64 " dead_lettered=%" PRIu64
         " acked=%" PRIu64 " duplicates=%" PRIu64 " redelivered=%" PRIu64
         " late=%" PRIu64 " out_of_order=%" PRIu64 " index_articles=%" PRIu64
         " seconds=%.3f",
         st.consumed, st.published, st.dead, st.acked, es.duplicates,
         es.redelivered, es.late, ms.out_of_order, es.index_docs,
         (stream_now_ms() - t0) / 1e3);

done:
  batches_destroy(&st);
  wd_merge_destroy(st.mg, stream_merge_drop,
                   NULL); /* before the consumer: it waits for them */
  wd_free(st.resumed);
  stream_topo_free(&st);
  wd_decoder_destroy(st.dec);
  if (st.consumer)
    consumer_destroy(st.consumer, st.subscribed && !st.synced);
  if (st.out_rkt)
    rd_kafka_topic_destroy(st.out_rkt);
  if (st.producer) {
    /* Flushed already; anything left is reported above and dropped here
     * uncommitted, so it is redelivered on the next start. */
    rd_kafka_flush(st.producer, 0);
    rd_kafka_destroy(st.producer);
  }
  if (st.olog) { /* every order record written was waited for */
    rd_kafka_flush(st.olog, 0);
    rd_kafka_destroy(st.olog);
  }
  wd_engine_destroy(st.eng);
  wd_state_offsets_clear(&st.processed);
  wd_stream_track_destroy(st.trk);
  wd_buf_free(&st.out);
  wd_buf_free(&st.rec);
  wd_free(fp_topic);
  wd_free(cl_group);
  return ret;
}

wd_err_t wd_stream_run_opts(const wd_config_t *cfg, const wd_stream_opts_t *opts,
                            char *errstr, size_t errstr_size) {
  if (cfg->topology_enabled && !(opts && opts->replay))
    return stream_topo_run(cfg, opts, errstr, errstr_size);
  return stream_run_role(cfg, opts, STREAM_ALL, errstr, errstr_size);
}

wd_err_t wd_stream_run(const wd_config_t *cfg, char *errstr,
                       size_t errstr_size) {
  return wd_stream_run_opts(cfg, NULL, errstr, errstr_size);
}
