/* metrics.c - stream mode's counters, latency histogram and gauges, and their
 * Prometheus text exposition (format 0.0.4).
 *
 * The poll loop writes, HTTP threads read. Per-record state is relaxed
 * atomics (a scrape may see the latency sum a record ahead of its bucket;
 * _count is derived from the buckets so it always equals le="+Inf"). The rest
 * is a snapshot swapped under one mutex, held only to copy. */
#include "wiredup/metrics.h"

#include <cjson/cJSON.h>

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ==== What is exported ==== */

/* Processing time of one record: decode to producer hand-off. Most records
 * take tens of microseconds; the top buckets catch stalls. */
static const double latency_bounds[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001,
                                        0.0025,  0.005,  0.01,    0.025,  0.05,
                                        0.1,     0.25,   1.0};
#define LATENCY_BOUND_CNT (sizeof(latency_bounds) / sizeof(latency_bounds[0]))

static const struct {
  const char *name, *help;
} counter_meta[WD_METRIC_COUNTER_CNT] = {
    [WD_METRIC_RECORDS_IN] = {"wiredup_records_in_total",
                              "Records consumed from the input topic."},
    [WD_METRIC_RECORDS_OUT] = {"wiredup_records_out_total",
                               "Results published to the output topic and "
                               "acknowledged by the broker."},
    [WD_METRIC_RECORDS_DEAD] = {"wiredup_records_dead_lettered_total",
                                "Invalid records published to the "
                                "dead-letter topic and acknowledged."},
};

/* wd_engine_stats_t fields, one row each: exporting a new field is one row. */
#define ENGINE_METRIC(field, name, type, help)                                 \
  { offsetof(wd_engine_stats_t, field), name, type, help }
static const struct {
  size_t offset;
  const char *name, *type, *help;
} engine_metrics[] = {
    ENGINE_METRIC(records, "wiredup_records_processed_total", "counter",
                  "Valid records run through the similarity engine."),
    ENGINE_METRIC(duplicates, "wiredup_duplicates_found_total", "counter",
                  "Records that joined an existing cluster."),
    ENGINE_METRIC(redelivered, "wiredup_records_redelivered_total", "counter",
                  "Records whose id was already known: the stored answer was "
                  "published again."),
    ENGINE_METRIC(invalid, "wiredup_records_invalid_total", "counter",
                  "Records rejected as malformed (not JSON, no id or text, "
                  "not UTF-8, too large)."),
    ENGINE_METRIC(clusters_open, "wiredup_clusters_open", "gauge",
                  "Clusters with an article still in the similarity memory."),
    ENGINE_METRIC(evicted, "wiredup_index_evictions_total", "counter",
                  "Articles evicted by index.window or index.max_articles."),
    ENGINE_METRIC(late, "wiredup_records_late_total", "counter",
                  "Records behind the watermark (answered anyway)."),
    ENGINE_METRIC(index_docs, "wiredup_index_articles", "gauge",
                  "Articles in the similarity memory."),
    ENGINE_METRIC(index_bytes, "wiredup_index_bytes", "gauge",
                  "Bytes held by the similarity memory (store, LSH and "
                  "SimHash indexes, boilerplate model)."),
};
#define ENGINE_METRIC_CNT (sizeof(engine_metrics) / sizeof(engine_metrics[0]))

/* ==== Registry ==== */

typedef struct lag_s {
  char *topic;
  int32_t partition;
  int64_t lag;
} lag_t;

struct wd_metrics_s {
  _Atomic uint64_t counters[WD_METRIC_COUNTER_CNT];
  _Atomic uint64_t lat_counts[LATENCY_BOUND_CNT + 1];
  _Atomic uint64_t lat_sum_ns;
  _Atomic int64_t heartbeat_ns;  /* CLOCK_MONOTONIC */
  _Atomic int64_t checkpoint_ms; /* wall clock, 0 = none yet */

  pthread_mutex_t mu; /* guards everything below */
  int has_engine;
  wd_engine_stats_t engine;
  lag_t *lags;
  size_t lag_cnt;
  int has_order;
  uint64_t out_of_order, wait_timeouts, queued;
  char *order_topic;
  wd_metrics_part_t *order_parts;
  size_t order_part_cnt;
};

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void lags_free(lag_t *lags, size_t cnt) {
  for (size_t i = 0; i < cnt; i++)
    wd_free(lags[i].topic);
  wd_free(lags);
}

wd_metrics_t *wd_metrics_new(void) {
  wd_metrics_t *m = wd_calloc(1, sizeof(*m));
  pthread_mutex_init(&m->mu, NULL);
  atomic_store(&m->heartbeat_ns, mono_ns());
  return m;
}

void wd_metrics_destroy(wd_metrics_t *m) {
  if (!m)
    return;
  lags_free(m->lags, m->lag_cnt);
  wd_free(m->order_topic);
  wd_free(m->order_parts);
  pthread_mutex_destroy(&m->mu);
  wd_free(m);
}

void wd_metrics_add(wd_metrics_t *m, wd_metric_counter_t c, uint64_t n) {
  assert(c < WD_METRIC_COUNTER_CNT);
  atomic_fetch_add_explicit(&m->counters[c], n, memory_order_relaxed);
}

uint64_t wd_metrics_get(const wd_metrics_t *m, wd_metric_counter_t c) {
  assert(c < WD_METRIC_COUNTER_CNT);
  return atomic_load_explicit(&((wd_metrics_t *)(uintptr_t)m)->counters[c],
                              memory_order_relaxed);
}

void wd_metrics_observe_latency(wd_metrics_t *m, double seconds) {
  size_t i = 0;
  if (!(seconds >= 0))
    seconds = 0; /* NaN or a clock step backwards */
  while (i < LATENCY_BOUND_CNT && seconds > latency_bounds[i])
    i++;
  atomic_fetch_add_explicit(&m->lat_counts[i], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&m->lat_sum_ns, (uint64_t)(seconds * 1e9 + 0.5),
                            memory_order_relaxed);
}

void wd_metrics_heartbeat(wd_metrics_t *m) {
  atomic_store_explicit(&m->heartbeat_ns, mono_ns(), memory_order_relaxed);
}

double wd_metrics_heartbeat_age(const wd_metrics_t *m) {
  int64_t hb = atomic_load_explicit(
      &((wd_metrics_t *)(uintptr_t)m)->heartbeat_ns, memory_order_relaxed);
  return (double)(mono_ns() - hb) / 1e9;
}

void wd_metrics_publish_order(wd_metrics_t *m, const wd_metrics_order_t *o) {
  wd_metrics_part_t *parts = NULL;
  if (o->part_cnt) {
    parts = wd_malloc(o->part_cnt * sizeof(*parts));
    memcpy(parts, o->parts, o->part_cnt * sizeof(*parts));
  }
  char *topic = wd_strdup(o->topic ? o->topic : "");
  pthread_mutex_lock(&m->mu);
  m->has_order = 1;
  m->out_of_order = o->out_of_order;
  m->wait_timeouts = o->wait_timeouts;
  m->queued = o->queued;
  wd_free(m->order_topic);
  wd_free(m->order_parts);
  m->order_topic = topic;
  m->order_parts = parts;
  m->order_part_cnt = o->part_cnt;
  pthread_mutex_unlock(&m->mu);
}

void wd_metrics_publish_engine(wd_metrics_t *m, const wd_engine_stats_t *st) {
  pthread_mutex_lock(&m->mu);
  m->engine = *st;
  m->has_engine = 1;
  pthread_mutex_unlock(&m->mu);
}

void wd_metrics_set_checkpoint_time(wd_metrics_t *m, int64_t unix_ms) {
  atomic_store_explicit(&m->checkpoint_ms, unix_ms > 0 ? unix_ms : 1,
                        memory_order_relaxed);
}

/* ==== librdkafka statistics ==== */

static int64_t json_i64(const cJSON *obj, const char *key, int64_t dflt) {
  const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
  return cJSON_IsNumber(j) ? (int64_t)j->valuedouble : dflt;
}

int wd_metrics_publish_kafka_stats(wd_metrics_t *m, const char *json,
                                   size_t json_len) {
  cJSON *root = cJSON_ParseWithLength(json, json_len);
  const cJSON *topics = cJSON_GetObjectItemCaseSensitive(root, "topics");
  if (!cJSON_IsObject(topics)) {
    cJSON_Delete(root);
    return -1;
  }
  lag_t *lags = NULL;
  size_t cnt = 0, cap = 0;
  const cJSON *t, *p;
  cJSON_ArrayForEach(t, topics) {
    const cJSON *parts = cJSON_GetObjectItemCaseSensitive(t, "partitions");
    cJSON_ArrayForEach(p, parts) {
      int64_t part = json_i64(p, "partition", -1);
      /* consumer_lag_stored counts from the offset stored for commit, which
       * wiredup advances only behind acknowledged outputs: the records not
       * yet safely done. Older librdkafka has only consumer_lag. */
      int64_t lag =
          json_i64(p, "consumer_lag_stored", json_i64(p, "consumer_lag", -1));
      const cJSON *fs = cJSON_GetObjectItemCaseSensitive(p, "fetch_state");
      /* -1 is the internal UA partition; a lag of -1 is unknown, and a
       * partition no longer fetched (revoked) keeps a stale one. */
      if (part < 0 || lag < 0 ||
          (cJSON_IsString(fs) && strcmp(fs->valuestring, "none") == 0))
        continue;
      if (cnt == cap) {
        cap = cap ? cap * 2 : 16;
        lags = wd_realloc(lags, cap * sizeof(*lags));
      }
      lags[cnt++] = (lag_t){wd_strdup(t->string), (int32_t)part, lag};
    }
  }
  cJSON_Delete(root);
  pthread_mutex_lock(&m->mu);
  lag_t *old = m->lags;
  size_t old_cnt = m->lag_cnt;
  m->lags = lags;
  m->lag_cnt = cnt;
  pthread_mutex_unlock(&m->mu);
  lags_free(old, old_cnt);
  return 0;
}

/* ==== Exposition format ==== */

void wd_prom_header(wd_buf_t *dst, const char *name, const char *help,
                    const char *type) {
  wd_buf_printf(dst, "# HELP %s ", name);
  for (const char *c = help; *c; c++) {
    if (*c == '\\')
      wd_buf_appends(dst, "\\\\");
    else if (*c == '\n')
      wd_buf_appends(dst, "\\n");
    else
      wd_buf_appendc(dst, *c);
  }
  wd_buf_printf(dst, "\n# TYPE %s %s\n", name, type);
}

void wd_prom_escape_label(wd_buf_t *dst, const char *s) {
  for (; *s; s++) {
    if (*s == '\\')
      wd_buf_appends(dst, "\\\\");
    else if (*s == '"')
      wd_buf_appends(dst, "\\\"");
    else if (*s == '\n')
      wd_buf_appends(dst, "\\n");
    else
      wd_buf_appendc(dst, *s);
  }
}

void wd_prom_value(wd_buf_t *dst, double v) {
  if (isnan(v)) {
    wd_buf_appends(dst, "NaN");
  } else if (isinf(v)) {
    wd_buf_appends(dst, v > 0 ? "+Inf" : "-Inf");
  } else if (v == floor(v) && fabs(v) < 9007199254740992.0) {
    wd_buf_printf(dst, "%" PRId64, (int64_t)v); /* exact below 2^53 */
  } else {
    char tmp[40];
    for (int prec = 15; prec <= 17; prec++) {
      snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
      if (strtod(tmp, NULL) == v)
        break;
    }
    wd_buf_appends(dst, tmp);
  }
}

static void prom_label(wd_buf_t *dst, const wd_prom_label_t *l, int first) {
  wd_buf_printf(dst, "%s%s=\"", first ? "" : ",", l->name);
  wd_prom_escape_label(dst, l->value);
  wd_buf_appendc(dst, '"');
}

void wd_prom_sample(wd_buf_t *dst, const char *name, const char *name_suffix,
                    const wd_prom_label_t *labels, size_t label_cnt,
                    const wd_prom_label_t *extra, double v) {
  wd_buf_appends(dst, name);
  if (name_suffix)
    wd_buf_appends(dst, name_suffix);
  if (label_cnt || extra) {
    wd_buf_appendc(dst, '{');
    for (size_t i = 0; i < label_cnt; i++)
      prom_label(dst, &labels[i], i == 0);
    if (extra)
      prom_label(dst, extra, label_cnt == 0);
    wd_buf_appendc(dst, '}');
  }
  wd_buf_appendc(dst, ' ');
  wd_prom_value(dst, v);
  wd_buf_appendc(dst, '\n');
}

void wd_prom_histogram(wd_buf_t *dst, const char *name,
                       const wd_prom_label_t *labels, size_t label_cnt,
                       const double *bounds, const uint64_t *counts,
                       size_t bound_cnt, double sum) {
  uint64_t cum = 0;
  wd_buf_t le = WD_BUF_INIT;
  for (size_t i = 0; i <= bound_cnt; i++) {
    cum += counts[i];
    wd_buf_clear(&le);
    if (i < bound_cnt)
      wd_prom_value(&le, bounds[i]);
    else
      wd_buf_appends(&le, "+Inf");
    wd_prom_label_t l = {"le", le.p};
    wd_prom_sample(dst, name, "_bucket", labels, label_cnt, &l, (double)cum);
  }
  wd_buf_free(&le);
  wd_prom_sample(dst, name, "_sum", labels, label_cnt, NULL, sum);
  wd_prom_sample(dst, name, "_count", labels, label_cnt, NULL, (double)cum);
}

static void render_one(wd_buf_t *dst, const char *name, const char *type,
                       const char *help, double v) {
  wd_prom_header(dst, name, help, type);
  wd_prom_sample(dst, name, NULL, NULL, 0, NULL, v);
}

/* A gauge family with one sample per input partition: its event-time lag
 * in seconds, or (\p idle) whether it is idle. */
static void render_parts(wd_buf_t *dst, const char *name, const char *help,
                         const char *topic, const wd_metrics_part_t *parts, size_t cnt,
                         int idle) {
  wd_prom_header(dst, name, help, "gauge");
  for (size_t i = 0; i < cnt; i++) {
    char part[16];
    snprintf(part, sizeof(part), "%d", (int)parts[i].partition);
    wd_prom_label_t l[2] = {{"topic", topic}, {"partition", part}};
    wd_prom_sample(dst, name, NULL, l, 2, NULL,
                   idle ? (double)parts[i].idle : (double)parts[i].lag_ms / 1e3);
  }
}

void wd_metrics_render(wd_metrics_t *m, wd_buf_t *dst) {
  /* Copy the snapshot out, then format without the lock. */
  wd_engine_stats_t eng;
  int has_engine;
  lag_t *lags = NULL;
  size_t lag_cnt;
  wd_metrics_order_t ord = {0};
  char *ord_topic = NULL;
  wd_metrics_part_t *ord_parts = NULL;
  int has_order;
  pthread_mutex_lock(&m->mu);
  has_engine = m->has_engine;
  eng = m->engine;
  has_order = m->has_order;
  if (has_order) {
    ord.out_of_order = m->out_of_order;
    ord.wait_timeouts = m->wait_timeouts;
    ord.queued = m->queued;
    ord.part_cnt = m->order_part_cnt;
    ord_topic = wd_strdup(m->order_topic ? m->order_topic : "");
    if (ord.part_cnt) {
      ord_parts = wd_malloc(ord.part_cnt * sizeof(*ord_parts));
      memcpy(ord_parts, m->order_parts, ord.part_cnt * sizeof(*ord_parts));
    }
  }
  lag_cnt = m->lag_cnt;
  if (lag_cnt) {
    lags = wd_malloc(lag_cnt * sizeof(*lags));
    for (size_t i = 0; i < lag_cnt; i++)
      lags[i] = (lag_t){wd_strdup(m->lags[i].topic), m->lags[i].partition,
                        m->lags[i].lag};
  }
  pthread_mutex_unlock(&m->mu);

  wd_prom_header(dst, "wiredup_build_info",
                 "Always 1; the version label says which wiredup runs.",
                 "gauge");
  wd_prom_label_t ver = {"version", WD_VERSION};
  wd_prom_sample(dst, "wiredup_build_info", NULL, &ver, 1, NULL, 1);

  for (size_t c = 0; c < WD_METRIC_COUNTER_CNT; c++)
    render_one(dst, counter_meta[c].name, "counter", counter_meta[c].help,
               (double)wd_metrics_get(m, (wd_metric_counter_t)c));

  if (has_engine)
    for (size_t i = 0; i < ENGINE_METRIC_CNT; i++)
      render_one(dst, engine_metrics[i].name, engine_metrics[i].type,
                 engine_metrics[i].help,
                 (double)*(const uint64_t *)((const char *)&eng +
                                             engine_metrics[i].offset));

  if (has_engine && eng.watermark_ms != INT64_MIN)
    render_one(dst, "wiredup_watermark_seconds", "gauge",
               "The engine's watermark in Unix seconds: the newest event time "
               "seen less index.allowed_lateness, held back to the slowest "
               "partition that is not idle. Eviction follows it.",
               (double)eng.watermark_ms / 1e3);

  if (has_order) {
    render_one(dst, "wiredup_records_out_of_order_total", "counter",
               "Records processed after a record with a later event time "
               "(the event-time merge could not wait for them).",
               (double)ord.out_of_order);
    render_one(dst, "wiredup_order_wait_timeouts_total", "counter",
               "Times a partition known to have records was passed over after "
               "input.order_timeout.",
               (double)ord.wait_timeouts);
    render_one(dst, "wiredup_merge_queued_records", "gauge",
               "Records consumed and waiting for their turn in event-time order.",
               (double)ord.queued);
    render_parts(dst, "wiredup_partition_event_time_lag_seconds",
                 "How far the partition's newest event time is behind the "
                 "newest of any partition.",
                 ord_topic, ord_parts, ord.part_cnt, 0);
    render_parts(dst, "wiredup_partition_idle",
                 "1 when the partition has had nothing new for "
                 "input.idle_timeout and does not hold the watermark back.",
                 ord_topic, ord_parts, ord.part_cnt, 1);
  }
  wd_free(ord_topic);
  wd_free(ord_parts);

  uint64_t counts[LATENCY_BOUND_CNT + 1];
  for (size_t i = 0; i <= LATENCY_BOUND_CNT; i++)
    counts[i] = atomic_load_explicit(&m->lat_counts[i], memory_order_relaxed);
  double sum =
      (double)atomic_load_explicit(&m->lat_sum_ns, memory_order_relaxed) / 1e9;
  wd_prom_header(dst, "wiredup_processing_latency_seconds",
                 "Time to process one record, from its arrival to the "
                 "hand-off of its result to the producer.",
                 "histogram");
  wd_prom_histogram(dst, "wiredup_processing_latency_seconds", NULL, 0,
                    latency_bounds, counts, LATENCY_BOUND_CNT, sum);

  /* Always present (HELP/TYPE) so dashboards see the family; one sample per
   * partition being consumed, from librdkafka's statistics. */
  wd_prom_header(dst, "wiredup_consumer_lag",
                 "Records of the partition not yet processed and "
                 "acknowledged: high watermark minus the stored offset "
                 "(librdkafka statistics).",
                 "gauge");
  for (size_t i = 0; i < lag_cnt; i++) {
    char part[16];
    snprintf(part, sizeof(part), "%d", (int)lags[i].partition);
    wd_prom_label_t l[2] = {{"topic", lags[i].topic}, {"partition", part}};
    wd_prom_sample(dst, "wiredup_consumer_lag", NULL, l, 2, NULL,
                   (double)lags[i].lag);
  }
  lags_free(lags, lag_cnt);

  render_one(dst, "wiredup_poll_loop_age_seconds", "gauge",
             "Seconds since the poll loop last turned (/healthz fails past "
             "metrics.health_timeout).",
             wd_metrics_heartbeat_age(m));

  int64_t ck = atomic_load_explicit(&m->checkpoint_ms, memory_order_relaxed);
  if (ck) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    render_one(dst, "wiredup_checkpoint_age_seconds", "gauge",
               "Seconds since the similarity memory was last checkpointed.",
               now - (double)ck / 1e3);
  }
}
