/* stream_int.h - private to the stream module (stream.c, stream_consume.c,
 * stream_produce.c, stream_replay.c, stream_track.c): the run's state
 * (stream_t), the workers' batches, the limits more than one file uses and
 * the functions the files call in one another. Nothing outside the module
 * includes it; the public API stays in wiredup/stream.h. */
#ifndef WD_STREAM_INT_H
#define WD_STREAM_INT_H

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "wiredup/stream.h"
#include "wiredup/config.h"
#include "wiredup/engine.h"
#include "wiredup/fprec.h"
#include "wiredup/mem.h"
#include "wiredup/merge.h"
#include "wiredup/metrics.h"
#include "wiredup/record.h"
#include "wiredup/state.h"
#include "wiredup/workers.h"

/* A tracker token (wd_stream_track_push) is the input partition + 1 above
 * TRACK_SEQ_BITS bits of sequence number; on_delivery reads the partition
 * back out of it. */
#define TRACK_SEQ_BITS 48

#define FLUSH_TIMEOUT_MS 10000
#define METADATA_TIMEOUT_MS 2000

/* Messages consumed and not yet committed, fingerprinted on the workers. */
#define BATCH_MSGS 32 /* messages handed to a worker at a time */

typedef struct batch_s {
  size_t n;                             /* messages in the batch */
  rd_kafka_message_t *rkm[BATCH_MSGS];  /* ours: destroyed once committed */
  int64_t msg_ts[BATCH_MSGS];           /* their Kafka timestamps */
  int64_t wm[BATCH_MSGS];               /* the merge's watermark when taken */
  int64_t ev[BATCH_MSGS];               /* their event times (the merge's) */
  double t_in[BATCH_MSGS];              /* when consumed (latency metric) */
  wd_fp_t fp[BATCH_MSGS];
  uint8_t logged[BATCH_MSGS];           /* cluster role: its place in the
                                           order is in an order record already */
  uint64_t olog_seq;                    /* cluster role: the order record to be
                                           acknowledged before it commits (0: none) */
} batch_t;

/* Cluster role, standby: the answer to a record applied quietly, kept for
 * publishing if this instance is elected before the group commits past it. */
typedef struct topo_ans_s {
  int64_t fp_offset;
  char *kv;        /* key, then value */
  size_t key_len, val_len;
} topo_ans_t;

/* Cluster role: a fingerprint record read while following an earlier
 * owner's order records, waiting for one to name it. */
typedef struct topo_pend_s {
  int64_t fp_offset;
  rd_kafka_message_t *rkm; /* NULL: taken */
} topo_pend_t;

/* What a run does. One process does everything, or, with
 * topology.enabled, runs two roles on two threads (stream_topo.c): */
typedef enum stream_role_e {
  STREAM_ALL = 0,     /* consume the input, cluster, publish */
  STREAM_FINGERPRINT, /* consume its share of the input, publish fingerprint
                         records to the fingerprints topic */
  STREAM_CLUSTER      /* when elected: consume every fingerprint record,
                         cluster, publish the results */
} stream_role_t;

typedef struct stream_s {
  const wd_config_t *cfg;
  const wd_stream_opts_t *opts;
  stream_role_t role;
  const char *in_topic;  /* the topic consumed: input.topic or fp_topic */
  const char *group;     /* this role's consumer group */
  const char *fp_topic;  /* <group.id>.fingerprints (topology) */
  wd_fprec_decoder_t **fdec; /* cluster role: one per batch slot */
  wd_buf_t rec;              /* fingerprint role: the record being sent */
  int64_t quiet_until;   /* cluster role: fingerprints offsets below this
                            were answered by an earlier owner: applied to
                            the memory, not published again */
  double hwm_at;         /* cluster role: the input's ends last asked (one) */
  double ends_at;        /* ... and for every partition: asked at */
  double ends_done;      /* ... answered at */
  double arrived_at;     /* cluster role: the newest record's arrival */
  /* Cluster role, the order records (fprec.h): an owner writes them with
   * olog before it answers; a new owner follows its predecessors' up to
   * follow_end (the topic's end when elected), applying the records they
   * name in their order, then decides the rest itself. */
  rd_kafka_t *olog;
  uint64_t olog_sent, olog_acked;
  rd_kafka_resp_err_t olog_err;
  int following;
  int replaying;         /* stream_batch_take: named by an order record */
  int64_t follow_end;
  topo_pend_t *pend;     /* in fingerprints offset order, from pend_head */
  size_t pend_head, pend_n, pend_cap, pend_live, pend_pruned_at;
  wd_fpord_ent_t *ord;   /* WD_FPORD_MAX entries of scratch */
  uint64_t follow_applied, follow_missing;
  double elected_at;     /* when elected (the catch-up's time is logged) */
  /* Cluster role, topology.standby: until elected, warm (a consumer of its
   * own, assigned the fingerprints partition, no group) follows the owner's
   * order records into a copy of its memory; nothing is tracked, committed
   * or published, the answers are kept (ans, in the order applied, every
   * one of a fingerprints offset >= ans_floor) until the group commits past
   * them. The cluster group is joined once the copy has caught up. */
  rd_kafka_t *warm;
  int standby;
  int subscribed;
  int64_t warm_pos;      /* the next fingerprints offset warm reads */
  topo_ans_t *ans;
  size_t ans_head, ans_n, ans_cap;
  int64_t ans_floor;
  double ans_trim_at;
  rd_kafka_t *consumer;
  rd_kafka_t *producer;
  rd_kafka_topic_t *out_rkt; /* the output topic, held from the start */
  wd_engine_t *eng;
  wd_merge_t *mg;      /* the partitions' records in event-time order */
  int pause_retry;     /* a pause or resume failed: try the due ones again */
  double pause_tried;  /* when they were last tried */
  int32_t *resumed;    /* partitions resumed since the last rebalance callback */
  size_t resumed_cnt, resumed_cap;
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
  int synced;          /* the group's first assignment came (even an empty
                          one): librdkafka has synced with the group once */
  int fatal;           /* stop now: errstr holds why */
  char fatal_msg[512];
  uint64_t consumed, published, dead, acked;
  /* Durable state: where checkpoints go (NULL = none) and, per input
   * partition, the offset after the last record the engine has seen. */
  const char *state_dir;
  wd_state_offsets_t processed;
  double last_checkpoint;
} stream_t;

/* Set by wd_stream_request_stop() (a signal handler); a run that stops
 * cleanly clears it. */
extern volatile sig_atomic_t stream_stop;

/* ==== stream_topo.c: scale-out roles (topology.enabled) ==== */

/* Run the fingerprint role here and the cluster role on a thread of its own
 * until stopped (wd_stream_run_opts with topology.enabled). */
wd_err_t stream_topo_run(const wd_config_t *cfg, const wd_stream_opts_t *opts,
                         char *errstr, size_t errstr_size);
/* Fingerprint role: create the fingerprints topic where it is missing. */
void stream_topo_prepare(stream_t *st);
/* Fingerprint role: send the record's fingerprint (or its dead letter). */
void stream_topo_send(stream_t *st, const rd_kafka_message_t *rkm, wd_fp_t *fp);
/* Cluster role: a fingerprint record consumed: tracked, queued in the merge
 * by its input partition and offset. */
void stream_topo_take(stream_t *st, rd_kafka_message_t *rkm);
/* Cluster role: the merge waits for input partition \p w: ask the input's
 * ends (rate-limited). @returns 1 if asked. */
int stream_topo_refresh(stream_t *st, int32_t w);
/* Cluster role: before records that arrived since the input's ends were
 * last asked go out, ask again for every partition (rate-limited). */
int stream_topo_ends(stream_t *st); /* 0: not yet, the records wait */
/* Cluster role: elected (the fingerprints partition assigned, \p parts)
 * and deposed (revoked). */
void stream_topo_elected(stream_t *st, rd_kafka_topic_partition_list_t *parts);
void stream_topo_deposed(stream_t *st);
/* Cluster role: the order producer's delivery reports (dr_msg_cb). */
void stream_topo_on_olog(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque);
/* Cluster role: write the order of batch \p b's records decided here (not
 * named by an earlier owner's order record) before it goes to the workers. */
void stream_topo_log_batch(stream_t *st, batch_t *b);
/* Cluster role: wait until batch \p b's order record is acknowledged.
 * @returns 0, or -1 with st->fatal set (its records are then not answered). */
int stream_topo_log_wait(stream_t *st, const batch_t *b);
/* Cluster role: the fingerprints partition's end was reached. */
void stream_topo_eof(stream_t *st);
/* Cluster role: free what following left, and the standby's consumer
 * (at exit, before the consumer is destroyed). */
void stream_topo_free(stream_t *st);
/* Cluster role: start as a standby (topology.standby) or join the election
 * at once. @returns WD_OK, or an error with \p errstr set. */
wd_err_t stream_topo_start(stream_t *st, char *errstr, size_t errstr_size);
/* Cluster role: read what the standby's consumer has (a burst, no wait).
 * @returns how many messages. */
size_t stream_topo_poll(stream_t *st);
/* Cluster role: keep the answer in st->out to fingerprint record \p rkm
 * (a standby's, not published). */
void stream_topo_store(stream_t *st, const rd_kafka_message_t *rkm, const char *key,
                       size_t key_len);
/* Cluster role: the tracker token of a fingerprint record. */
uint64_t stream_topo_token(const rd_kafka_message_t *rkm);
/* Cluster role: the result's coordinates are the input's (\p c); 1 when the
 * record was answered by an earlier owner (acked here, not to be sent); 2
 * when this is a standby (keep the answer: stream_topo_store). */
int stream_topo_coords(stream_t *st, const rd_kafka_message_t *rkm, uint64_t token,
                       wd_coords_t *c);

/* ==== stream.c ==== */

wd_err_t stream_run_role(const wd_config_t *cfg, const wd_stream_opts_t *opts,
                         stream_role_t role, char *errstr, size_t errstr_size);
/* Subscribe the consumer to st->in_topic (its group). */
wd_err_t stream_subscribe(stream_t *st, char *errstr, size_t errstr_size);
/* A consumer (\p standby: of the cluster role's standby copy) or producer
 * configuration: our defaults, then the user's kafka.* keys. */
rd_kafka_conf_t *stream_build_conf(stream_t *st, rd_kafka_type_t type, int standby,
                                   char *errstr, size_t errstr_size);

double stream_now_ms(void);
/* The first fatal error wins; later ones are usually its consequences. */
void stream_set_fatal(stream_t *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The user's value for a kafka.* key (opts over cfg), or NULL. */
const char *stream_user_value(const stream_t *st, const char *key);
void stream_batch_take(stream_t *st, rd_kafka_message_t *rkm, int64_t ev,
                       int64_t wm, double t_in);
void stream_batches_commit(stream_t *st, int wait);
void stream_batch_publish_partial(stream_t *st);
int stream_batches_busy(stream_t *st);
void stream_batches_drain(stream_t *st);
int stream_want_stop(stream_t *st);

/* ==== stream_produce.c ==== */

/* rd_kafka_conf_set_dr_msg_cb */
void stream_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm,
                        void *opaque);
void stream_producer_warm(stream_t *st);
int stream_produce(stream_t *st, const char *topic, int32_t partition, const void *key,
                   size_t key_len, const void *value, size_t value_len,
                   rd_kafka_headers_t *hdrs, uint64_t token);
void stream_dead_letter(stream_t *st, const rd_kafka_message_t *rkm,
                        const char *topic, const char *reason, uint64_t token);
void stream_store_dirty(stream_t *st);
int stream_ack(stream_t *st, uint64_t token, int ok);
void stream_commit_revoked(stream_t *st,
                           rd_kafka_topic_partition_list_t *parts);
void stream_commit_processed(stream_t *st);

/* ==== stream_consume.c ==== */

wd_merge_t *stream_merge_new(const stream_t *st, int deterministic);
void stream_merge_take(stream_t *st, rd_kafka_message_t *rkm,
                       int (*skip)(void *, rd_kafka_message_t *),
                       void *skip_opaque);
size_t stream_merge_dispatch(stream_t *st);
/* wd_merge_drop_cb_t */
void stream_merge_drop(void *item, void *opaque);
/* The input topic's partition count, or -1 (no metadata in time). */
int32_t stream_topic_partition_cnt(stream_t *st);
/* rd_kafka_conf_set_rebalance_cb */
void stream_on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque);

/* ==== stream_replay.c ==== */

wd_err_t stream_replay_run(stream_t *st, const wd_replay_t *rp, char *errstr,
                           size_t errstr_size);

#endif
