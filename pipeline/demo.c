/* demo.c - `wiredup demo`: mock cluster, sample produced, stream mode run
 * against it, results read back from the output topic and printed.
 *
 * The stream loop is wd_stream_run_opts, the code path of `wiredup run`; the
 * demo only points it at the embedded brokers and, from the loop's tick hook,
 * reads the output topic with a separate consumer until every article is
 * accounted for: the clusters shown have made the full round trip. */
#include "wiredup/demo.h"
#include "wiredup/log.h"
#include "wiredup/mem.h"
#include "wiredup/mockbroker.h"
#include "wiredup/stream.h"

#include <cjson/cJSON.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEMO_BROKERS 3
#define DEMO_PARTITIONS 4
#define DEMO_TIMEOUT_MS 60000
#define DEMO_TITLE_BYTES 72

typedef struct demo_art_s {
  char *id;
  char *title;  /* NULL when absent */
  char *source; /* NULL when absent */
  const char *line;
  size_t line_len;
  /* filled from the output topic */
  int state; /* 0 waiting, 1 result, 2 dead letter */
  char *cluster_id;
  char *duplicate_of;
  double similarity;
  size_t cluster_first; /* sample index of the cluster's first article */
} demo_art_t;

typedef struct demo_s {
  const wd_config_t *cfg;
  demo_art_t *art;
  size_t cnt;
  size_t done, dead;
  rd_kafka_t *reader;
  double t0;
  int timed_out;
  int produce_failed;
} demo_t;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static char *json_text(const cJSON *v) {
  char num[64];
  if (cJSON_IsString(v) && v->valuestring[0])
    return wd_strdup(v->valuestring);
  if (cJSON_IsNumber(v)) {
    snprintf(num, sizeof(num), "%.17g", v->valuedouble);
    return wd_strdup(num);
  }
  return NULL;
}

/* Split the bundled JSON Lines into articles. A line the demo can not key
 * (no id) is skipped with a warning: the sample is ours and should not have
 * one. */
static void demo_load_sample(demo_t *d) {
  const char *p = wd_sample_articles,
             *end = wd_sample_articles + wd_sample_articles_len;
  size_t cap = 0;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
    cJSON *obj = cJSON_ParseWithLength(p, len);
    char *id =
        cJSON_IsObject(obj)
            ? json_text(cJSON_GetObjectItemCaseSensitive(obj, d->cfg->field_id))
            : NULL;
    if (id) {
      if (d->cnt == cap) {
        cap = cap ? cap * 2 : 64;
        d->art = wd_realloc(d->art, cap * sizeof(*d->art));
      }
      demo_art_t *a = &d->art[d->cnt++];
      memset(a, 0, sizeof(*a));
      a->id = id;
      a->title =
          json_text(cJSON_GetObjectItemCaseSensitive(obj, d->cfg->field_title));
      a->source = json_text(
          cJSON_GetObjectItemCaseSensitive(obj, d->cfg->field_source));
      a->line = p;
      a->line_len = len;
    } else if (len > 0) {
      WD_LOG(WD_LOG_WARN, "demo: sample line without an id skipped",
             "bytes=%zu", len);
    }
    cJSON_Delete(obj);
    p += len + 1;
  }
}

static demo_art_t *demo_find(demo_t *d, const char *id, size_t id_len) {
  for (size_t i = 0; i < d->cnt; i++)
    if (strlen(d->art[i].id) == id_len && memcmp(d->art[i].id, id, id_len) == 0)
      return &d->art[i];
  return NULL;
}

static void demo_free(demo_t *d) {
  for (size_t i = 0; i < d->cnt; i++) {
    wd_free(d->art[i].id);
    wd_free(d->art[i].title);
    wd_free(d->art[i].source);
    wd_free(d->art[i].cluster_id);
    wd_free(d->art[i].duplicate_of);
  }
  wd_free(d->art);
}

/* ==== Producing the sample ==== */

static void demo_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm,
                             void *opaque) {
  demo_t *d = opaque;
  if (rkm->err) {
    WD_LOG(WD_LOG_ERROR, "demo: sample article not delivered", "error=%s",
           rd_kafka_err2name(rkm->err));
    d->produce_failed = 1;
  }
}

static rd_kafka_t *demo_client(rd_kafka_type_t type, const char *bootstraps,
                               demo_t *d, char *errstr, size_t errstr_size) {
  char rderr[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  static const char *const common[][2] = {{"fetch.wait.max.ms", "10"},
                                          {"enable.auto.commit", "false"},
                                          {"group.id", "wiredup-demo-reader"},
                                          {"linger.ms", "5"}};
  rd_kafka_conf_set_opaque(conf, d);
  rd_kafka_conf_set_log_cb(conf, wd_stream_rdkafka_log);
  if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, rderr,
                        sizeof(rderr)))
    goto err;
  for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++) {
    /* each key belongs to one side; skip the other side's */
    int consumer_key = strcmp(common[i][0], "linger.ms") != 0;
    if (consumer_key != (type == RD_KAFKA_CONSUMER))
      continue;
    if (rd_kafka_conf_set(conf, common[i][0], common[i][1], rderr,
                          sizeof(rderr)))
      goto err;
  }
  if (type == RD_KAFKA_PRODUCER)
    rd_kafka_conf_set_dr_msg_cb(conf, demo_on_delivery);
  rd_kafka_t *rk = rd_kafka_new(type, conf, rderr, sizeof(rderr));
  if (!rk)
    goto err;
  return rk;
err:
  wd_errstr_set(errstr, errstr_size, "demo client: %s", rderr);
  rd_kafka_conf_destroy(conf);
  return NULL;
}

static wd_err_t demo_produce(demo_t *d, const char *bootstraps, char *errstr,
                             size_t errstr_size) {
  rd_kafka_t *rk =
      demo_client(RD_KAFKA_PRODUCER, bootstraps, d, errstr, errstr_size);
  wd_err_t ret = WD_OK;
  if (!rk)
    return WD_ERR_KAFKA;
  for (size_t i = 0; i < d->cnt && ret == WD_OK; i++) {
    const demo_art_t *a = &d->art[i];
    rd_kafka_resp_err_t err;
    /* The sample is static data that outlives the producer: no copy needed. */
    while ((err = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(d->cfg->input_topic),
                RD_KAFKA_V_KEY(a->id, strlen(a->id)),
                RD_KAFKA_V_VALUE((void *)(uintptr_t)a->line, a->line_len),
                RD_KAFKA_V_MSGFLAGS(0), RD_KAFKA_V_END)) ==
           RD_KAFKA_RESP_ERR__QUEUE_FULL)
      rd_kafka_poll(rk, 100);
    if (err) {
      wd_errstr_set(errstr, errstr_size, "demo: produce to %s: %s",
                    d->cfg->input_topic, rd_kafka_err2str(err));
      ret = WD_ERR_KAFKA;
    }
  }
  if (rd_kafka_flush(rk, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      d->produce_failed) {
    if (ret == WD_OK)
      wd_errstr_set(errstr, errstr_size,
                    "demo: the sample could not be produced");
    ret = WD_ERR_KAFKA;
  }
  rd_kafka_destroy(rk);
  return ret;
}

/* ==== Reading the results back ==== */

static void demo_take_result(demo_t *d, const rd_kafka_message_t *rkm,
                             int dead) {
  demo_art_t *a;
  if (dead) {
    a = rkm->key ? demo_find(d, rkm->key, rkm->key_len) : NULL;
    if (a && a->state == 0) {
      a->state = 2;
      d->done++;
      d->dead++;
    }
    return;
  }
  cJSON *obj = cJSON_ParseWithLength(rkm->payload, rkm->len);
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "id");
  a = cJSON_IsString(id)
          ? demo_find(d, id->valuestring, strlen(id->valuestring))
          : NULL;
  if (a && a->state == 0) {
    const cJSON *sim = cJSON_GetObjectItemCaseSensitive(obj, "similarity");
    a->state = 1;
    a->cluster_id =
        json_text(cJSON_GetObjectItemCaseSensitive(obj, "cluster_id"));
    a->duplicate_of =
        json_text(cJSON_GetObjectItemCaseSensitive(obj, "duplicate_of"));
    a->similarity = cJSON_IsNumber(sim) ? sim->valuedouble : 0.0;
    d->done++;
  }
  cJSON_Delete(obj);
}

/* Tick hook of the stream loop: drain what the reader has, stop when every
 * article has come back (or on timeout). */
static int demo_tick(void *opaque) {
  demo_t *d = opaque;
  rd_kafka_message_t *rkm;
  const char *dlq = wd_config_dlq_topic(d->cfg);
  for (int i = 0; i < 1000 && (rkm = rd_kafka_consumer_poll(d->reader, 0));
       i++) {
    if (!rkm->err)
      demo_take_result(d, rkm, strcmp(rd_kafka_topic_name(rkm->rkt), dlq) == 0);
    rd_kafka_message_destroy(rkm);
  }
  if (d->done == d->cnt)
    return 1;
  if (now_ms() - d->t0 > DEMO_TIMEOUT_MS) {
    d->timed_out = 1;
    return 1;
  }
  return 0;
}

/* ==== Printing ==== */

/* At most max bytes of s, cut on a UTF-8 character boundary. */
static int utf8_prefix(const char *s, int max) {
  int n = (int)strlen(s);
  if (n <= max)
    return n;
  n = max;
  while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
    n--;
  return n;
}

static int cmp_cluster(const void *x, const void *y) {
  const demo_art_t *a = *(demo_art_t *const *)x, *b = *(demo_art_t *const *)y;
  if (a->cluster_first != b->cluster_first)
    return a->cluster_first < b->cluster_first ? -1 : 1;
  return a < b ? -1 : a > b; /* sample order within a cluster */
}

static void demo_print(demo_t *d, FILE *out, const char *bootstraps,
                       double seconds) {
  demo_art_t **v = wd_malloc((d->cnt ? d->cnt : 1) * sizeof(*v));
  size_t n = 0, clusters = 0, multi = 0, dups = 0;
  int idw = 2, srcw = 6;

  for (size_t i = 0; i < d->cnt; i++) {
    demo_art_t *a = &d->art[i];
    if (a->state != 1)
      continue;
    /* A cluster is listed where its first article appears in the sample. */
    const demo_art_t *first =
        demo_find(d, a->cluster_id, strlen(a->cluster_id));
    a->cluster_first = first ? (size_t)(first - d->art) : i;
    v[n++] = a;
    if ((int)strlen(a->id) > idw)
      idw = (int)strlen(a->id);
    if (a->source && (int)strlen(a->source) > srcw)
      srcw = (int)strlen(a->source) > 28 ? 28 : (int)strlen(a->source);
  }
  qsort(v, n, sizeof(*v), cmp_cluster);

  fprintf(out,
          "wiredup demo: %zu sample articles through an embedded %d-broker "
          "Kafka (%s)\n"
          "topics: %s -> %s (dead letters: %s)\n\n",
          d->cnt, DEMO_BROKERS, bootstraps, d->cfg->input_topic,
          d->cfg->output_topic, wd_config_dlq_topic(d->cfg));
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && v[j]->cluster_first == v[i]->cluster_first)
      j++;
    clusters++;
    dups += j - i - 1;
    if (j - i > 1) {
      multi++;
      fprintf(out, "cluster %s: %zu articles\n", v[i]->cluster_id, j - i);
      for (size_t k = i; k < j; k++) {
        const demo_art_t *a = v[k];
        char sim[48];
        if (a->duplicate_of)
          snprintf(sim, sizeof(sim), "%.2f~%s", a->similarity, a->duplicate_of);
        else
          snprintf(sim, sizeof(sim), "first");
        const char *title = a->title ? a->title : "";
        int tl = utf8_prefix(title, DEMO_TITLE_BYTES);
        fprintf(out, "  %-*s  %-*s  %-*.*s  %.*s%s\n", idw, a->id, idw + 5, sim,
                srcw, srcw, a->source ? a->source : "-", tl, title,
                title[tl] ? "..." : "");
      }
      fputc('\n', out);
    }
    i = j;
  }
  fprintf(out,
          "%zu articles, %zu clusters (%zu with duplicates), %zu duplicates, "
          "%zu dead-lettered, %.1f s\n",
          n + d->dead, clusters, multi, dups, d->dead, seconds);
  wd_free(v);
}

/* ==== Run ==== */

wd_err_t wd_demo_run(const wd_config_t *cfg, FILE *out, char *errstr,
                     size_t errstr_size) {
  demo_t d;
  wd_mockbroker_t *mb = NULL;
  wd_err_t ret;
  int saved_level = wd_log_threshold;
  const char *topics[3] = {cfg->input_topic, cfg->output_topic,
                           wd_config_dlq_topic(cfg)};

  memset(&d, 0, sizeof(d));
  d.cfg = cfg;
  d.t0 = now_ms();
  if (wd_log_threshold > WD_LOG_DEBUG && wd_log_threshold < WD_LOG_WARN)
    wd_log_set_level(WD_LOG_WARN);

  demo_load_sample(&d);
  if (d.cnt == 0) {
    wd_errstr_set(errstr, errstr_size,
                  "demo: the bundled sample has no articles");
    ret = WD_ERR_INTERNAL;
    goto done;
  }
  if (!(mb = wd_mockbroker_new(DEMO_BROKERS, errstr, errstr_size))) {
    ret = WD_ERR_KAFKA;
    goto done;
  }
  for (int i = 0; i < 3; i++) {
    if (i > 0 && strcmp(topics[i], topics[i - 1]) == 0)
      continue;
    if ((ret = wd_mockbroker_topic_create(mb, topics[i], DEMO_PARTITIONS,
                                          errstr, errstr_size)) != WD_OK)
      goto done;
  }
  const char *bootstraps = wd_mockbroker_bootstraps(mb);
  WD_LOG(WD_LOG_DEBUG, "demo: mock cluster up", "bootstrap=%s ms=%.0f",
         bootstraps, now_ms() - d.t0);
  if ((ret = demo_produce(&d, bootstraps, errstr, errstr_size)) != WD_OK)
    goto done;
  WD_LOG(WD_LOG_DEBUG, "demo: sample produced", "articles=%zu ms=%.0f", d.cnt,
         now_ms() - d.t0);

  /* The reader takes the partitions directly: no group join to wait for. */
  if (!(d.reader = demo_client(RD_KAFKA_CONSUMER, bootstraps, &d, errstr,
                               errstr_size))) {
    ret = WD_ERR_KAFKA;
    goto done;
  }
  rd_kafka_topic_partition_list_t *asg = rd_kafka_topic_partition_list_new(8);
  for (int p = 0; p < DEMO_PARTITIONS; p++) {
    rd_kafka_topic_partition_list_add(asg, topics[1], p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_topic_partition_list_add(asg, topics[2], p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_resp_err_t aerr = rd_kafka_assign(d.reader, asg);
  rd_kafka_topic_partition_list_destroy(asg);
  if (aerr) {
    wd_errstr_set(errstr, errstr_size, "demo: reader assign: %s",
                  rd_kafka_err2str(aerr));
    ret = WD_ERR_KAFKA;
    goto done;
  }

  /* Only the connection moves to the mock; the low waits keep the demo
   * quick (the mock answers an empty fetch only after fetch.wait.max.ms). */
  static const char *const keys[] = {
      "bootstrap.servers",     "group.id",
      "fetch.wait.max.ms",     "session.timeout.ms",
      "heartbeat.interval.ms", "auto.offset.reset"};
  const char *values[] = {bootstraps, "wiredup-demo", "10",
                          "6000",     "1000",         "earliest"};
  wd_stream_opts_t opts = {.kafka_keys = keys,
                           .kafka_values = values,
                           .kafka_cnt = sizeof(keys) / sizeof(keys[0]),
                           .on_tick = demo_tick,
                           .opaque = &d,
                           /* a throwaway broker: nothing worth remembering */
                           .no_state = 1};
  if ((ret = wd_stream_run_opts(cfg, &opts, errstr, errstr_size)) != WD_OK)
    goto done;
  if (d.timed_out) {
    wd_errstr_set(errstr, errstr_size,
                  "demo: only %zu of %zu results came back within %d s", d.done,
                  d.cnt, DEMO_TIMEOUT_MS / 1000);
    ret = WD_ERR_KAFKA;
    goto done;
  }
  demo_print(&d, out, bootstraps, (now_ms() - d.t0) / 1e3);
  if (d.done < d.cnt)
    fprintf(out, "(interrupted: %zu of %zu articles had come back)\n", d.done,
            d.cnt);
  fflush(out);

done:
  if (d.reader) {
    rd_kafka_consumer_close(d.reader);
    rd_kafka_destroy(d.reader);
  }
  wd_mockbroker_destroy(mb);
  demo_free(&d);
  wd_log_set_level((wd_log_level_t)saved_level);
  return ret;
}
