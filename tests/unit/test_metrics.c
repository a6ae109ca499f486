/* test_metrics.c - the Prometheus text exposition (escaping, number forms,
 * cumulative histogram buckets, +Inf, _sum, _count), the registry's render,
 * consumer lag from librdkafka statistics JSON, metrics.listen parsing, and
 * the libmicrohttpd endpoint answering /metrics, /healthz and errors. */
#include "wd_test.h"
#include "wiredup/config.h"
#include "wiredup/metrics.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <math.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The buffer's text, "" when nothing was appended. */
static const char *text(const wd_buf_t *b) {
  return b->p ? b->p : "";
}

static int test_escape(void) {
  static const struct {
    const char *in, *want;
  } rows[] = {{"plain", "plain"},
              {"a\\b", "a\\\\b"},
              {"say \"hi\"", "say \\\"hi\\\""},
              {"two\nlines", "two\\nlines"},
              {"tab\tstays", "tab\tstays"},
              {"ünïcode", "ünïcode"},
              {"", ""},
              {NULL, NULL}};
  int failed = 0;
  wd_buf_t b = WD_BUF_INIT;
  for (int i = 0; rows[i].in; i++) {
    wd_buf_clear(&b);
    wd_prom_escape_label(&b, rows[i].in);
    if (strcmp(text(&b), rows[i].want) != 0) {
      fprintf(stderr, "  row %d: got [%s] want [%s]\n", i, text(&b),
              rows[i].want);
      failed++;
    }
  }
  /* HELP escapes backslash and newline but leaves quotes alone. */
  wd_buf_clear(&b);
  wd_prom_header(&b, "x_total", "a \"q\" \\ b\nc", "counter");
  const char *want_hdr = "# HELP x_total a \"q\" \\\\ b\\nc\n"
                         "# TYPE x_total counter\n";
  if (strcmp(text(&b), want_hdr) != 0)
    fprintf(stderr, "  header: got [%s]\n", text(&b)), failed++;
  /* A label value that needs all three escapes, in a full sample line. */
  wd_buf_clear(&b);
  wd_prom_label_t l[2] = {{"topic", "we\"ird\\topic\n"}, {"partition", "3"}};
  wd_prom_sample(&b, "wiredup_consumer_lag", NULL, l, 2, NULL, 17);
  const char *want_line =
      "wiredup_consumer_lag{topic=\"we\\\"ird\\\\topic\\n\",partition=\"3\"} "
      "17\n";
  if (strcmp(text(&b), want_line) != 0)
    fprintf(stderr, "  sample: got [%s]\n", text(&b)), failed++;
  wd_buf_free(&b);
  WD_T_ASSERT(failed == 0, "%d escapes wrong", failed);
  return 0;
}

static int test_values(void) {
  static const struct {
    double v;
    const char *want;
  } rows[] = {{0, "0"},
              {42, "42"},
              {-7, "-7"},
              {1.5, "1.5"},
              {0.1, "0.1"},
              {0.00005, "5e-05"},
              {1.0 / 3, "0.3333333333333333"},
              {9007199254740991.0, "9007199254740991"},
              {1e20, "1e+20"},
              {-1, "-1"}};
  int failed = 0;
  wd_buf_t b = WD_BUF_INIT;
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    wd_buf_clear(&b);
    wd_prom_value(&b, rows[i].v);
    if (strcmp(text(&b), rows[i].want) != 0)
      fprintf(stderr, "  %zu: got %s want %s\n", i, text(&b), rows[i].want),
          failed++;
  }
  const struct {
    double v;
    const char *want;
  } special[] = {{INFINITY, "+Inf"}, {-INFINITY, "-Inf"}, {NAN, "NaN"}};
  for (size_t i = 0; i < 3; i++) {
    wd_buf_clear(&b);
    wd_prom_value(&b, special[i].v);
    if (strcmp(text(&b), special[i].want) != 0)
      fprintf(stderr, "  special %zu: got %s\n", i, text(&b)), failed++;
  }
  wd_buf_free(&b);
  WD_T_ASSERT(failed == 0, "%d values wrong", failed);
  return 0;
}

static int test_histogram(void) {
  const double bounds[] = {0.1, 0.5, 1};
  const uint64_t counts[] = {2, 0, 3, 1}; /* the last: above 1 */
  wd_buf_t b = WD_BUF_INIT;
  wd_prom_histogram(&b, "lat_seconds", NULL, 0, bounds, counts, 3, 4.25);
  const char *want = "lat_seconds_bucket{le=\"0.1\"} 2\n"
                     "lat_seconds_bucket{le=\"0.5\"} 2\n"
                     "lat_seconds_bucket{le=\"1\"} 5\n"
                     "lat_seconds_bucket{le=\"+Inf\"} 6\n"
                     "lat_seconds_sum 4.25\n"
                     "lat_seconds_count 6\n";
  WD_T_ASSERT(strcmp(text(&b), want) == 0, "got:\n%s", text(&b));

  /* With labels, le comes last; an empty histogram is all zeros. */
  const uint64_t zero[] = {0, 0};
  wd_prom_label_t l = {"stage", "a\"b"};
  wd_buf_clear(&b);
  wd_prom_histogram(&b, "h", &l, 1, bounds, zero, 1, 0);
  const char *want2 = "h_bucket{stage=\"a\\\"b\",le=\"0.1\"} 0\n"
                      "h_bucket{stage=\"a\\\"b\",le=\"+Inf\"} 0\n"
                      "h_sum{stage=\"a\\\"b\"} 0\n"
                      "h_count{stage=\"a\\\"b\"} 0\n";
  WD_T_ASSERT(strcmp(text(&b), want2) == 0, "got:\n%s", text(&b));
  wd_buf_free(&b);
  return 0;
}

/* The value of the sample line starting with \p prefix (name and labels),
 * or NAN when there is none. */
static double sample(const char *exposition, const char *prefix) {
  size_t n = strlen(prefix);
  for (const char *l = exposition; l && *l;
       l = strchr(l, '\n'), l = l ? l + 1 : l)
    if (strncmp(l, prefix, n) == 0 && l[n] == ' ')
      return strtod(l + n + 1, NULL);
  return NAN;
}

/* Every line is a comment of the two kinds or `name[{labels}] value`, and
 * every family has exactly one HELP and one TYPE before its samples. */
static int well_formed(const char *t, char *why, size_t why_cap) {
  int lineno = 0;
  char family[128] = "";
  for (const char *l = t; *l;) {
    const char *e = strchr(l, '\n');
    if (!e)
      return snprintf(why, why_cap, "no final newline"), 0;
    lineno++;
    if (strncmp(l, "# HELP ", 7) == 0) {
      size_t k = strcspn(l + 7, " \n");
      snprintf(family, sizeof(family), "%.*s", (int)k, l + 7);
      if (strncmp(e + 1, "# TYPE ", 7) != 0 || strncmp(e + 8, family, k) != 0)
        return snprintf(why, why_cap, "line %d: HELP without TYPE", lineno), 0;
    } else if (l[0] != '#') {
      size_t k = strspn(l, "abcdefghijklmnopqrstuvwxyz_:0123456789");
      if (k == 0 || strncmp(l, family, strlen(family)) != 0)
        return snprintf(why, why_cap, "line %d: sample outside its family",
                        lineno),
               0;
      const char *v = l + k;
      if (*v == '{') {
        v = strstr(v, "} ");
        if (!v || v > e)
          return snprintf(why, why_cap, "line %d: bad labels", lineno), 0;
        v++;
      }
      char *end;
      if (*v != ' ' || (strtod(v + 1, &end), end != e))
        return snprintf(why, why_cap, "line %d: bad value", lineno), 0;
    }
    l = e + 1;
  }
  return 1;
}

static const char stats_json[] =
    "{\"name\":\"wiredup-consumer#consumer-1\",\"type\":\"consumer\","
    "\"topics\":{"
    " \"articles\":{\"topic\":\"articles\",\"partitions\":{"
    "  \"0\":{\"partition\":0,\"fetch_state\":\"active\",\"consumer_lag\":12,"
    "        \"consumer_lag_stored\":15},"
    "  \"1\":{\"partition\":1,\"fetch_state\":\"active\",\"consumer_lag\":4},"
    "  \"2\":{\"partition\":2,\"fetch_state\":\"none\",\"consumer_lag\":99,"
    "        \"consumer_lag_stored\":99},"
    "  \"3\":{\"partition\":3,\"fetch_state\":\"active\",\"consumer_lag\":-1,"
    "        \"consumer_lag_stored\":-1},"
    "  \"-1\":{\"partition\":-1,\"consumer_lag\":-1}}},"
    " \"other\":{\"partitions\":{\"7\":{\"partition\":7,\"consumer_lag\":0}}}"
    "}}";

static int test_render(void) {
  wd_metrics_t *m = wd_metrics_new();
  wd_buf_t b = WD_BUF_INIT;
  char why[128];

  /* Before any snapshot: counters at 0, no engine gauges, no lag samples,
   * no checkpoint age (nothing has checkpointed). */
  wd_metrics_render(m, &b);
  WD_T_ASSERT(well_formed(text(&b), why, sizeof(why)), "%s\n%s", why, text(&b));
  WD_T_ASSERT(sample(text(&b), "wiredup_records_in_total") == 0, "in");
  WD_T_ASSERT(isnan(sample(text(&b), "wiredup_index_articles")), "no engine");
  WD_T_ASSERT(strstr(text(&b), "# TYPE wiredup_consumer_lag gauge"),
              "lag TYPE");
  WD_T_ASSERT(!strstr(text(&b), "wiredup_consumer_lag{"), "no lag samples");
  WD_T_ASSERT(!strstr(text(&b), "checkpoint"), "no checkpoint age yet");

  wd_metrics_add(m, WD_METRIC_RECORDS_IN, 5);
  wd_metrics_add(m, WD_METRIC_RECORDS_OUT, 4);
  wd_metrics_add(m, WD_METRIC_RECORDS_DEAD, 1);
  wd_metrics_observe_latency(m, 0.00002); /* first bucket */
  wd_metrics_observe_latency(m, 0.0003);  /* le=0.0005 */
  wd_metrics_observe_latency(m, 0.0005);  /* le=0.0005: bounds inclusive */
  wd_metrics_observe_latency(m, 3.0);     /* above every bound */
  wd_engine_stats_t es = {.records = 4,
                          .duplicates = 2,
                          .clusters = 3,
                          .clusters_open = 2,
                          .index_docs = 4,
                          .index_bytes = 123456};
  wd_metrics_publish_engine(m, &es);
  WD_T_ASSERT(wd_metrics_publish_kafka_stats(m, stats_json,
                                             sizeof(stats_json) - 1) == 0,
              "stats parse");
  WD_T_ASSERT(wd_metrics_publish_kafka_stats(m, "[1,2]", 5) == -1,
              "not a statistics document");
  wd_metrics_set_checkpoint_time(m, (int64_t)time(NULL) * 1000 - 5000);

  wd_buf_clear(&b);
  wd_metrics_render(m, &b);
  const char *t = text(&b);
  WD_T_ASSERT(well_formed(t, why, sizeof(why)), "%s\n%s", why, t);
  WD_T_ASSERT(sample(t, "wiredup_records_in_total") == 5, "in");
  WD_T_ASSERT(sample(t, "wiredup_records_out_total") == 4, "out");
  WD_T_ASSERT(sample(t, "wiredup_records_dead_lettered_total") == 1, "dead");
  WD_T_ASSERT(sample(t, "wiredup_duplicates_found_total") == 2, "dups");
  WD_T_ASSERT(sample(t, "wiredup_clusters_open") == 2, "clusters");
  WD_T_ASSERT(sample(t, "wiredup_index_articles") == 4, "articles");
  WD_T_ASSERT(sample(t, "wiredup_index_bytes") == 123456, "bytes");
  const char *h = "wiredup_processing_latency_seconds";
  char key[128];
  snprintf(key, sizeof(key), "%s_bucket{le=\"5e-05\"}", h);
  WD_T_ASSERT(sample(t, key) == 1, "%s", key);
  snprintf(key, sizeof(key), "%s_bucket{le=\"0.0005\"}", h);
  WD_T_ASSERT(sample(t, key) == 3, "%s (cumulative, inclusive)", key);
  snprintf(key, sizeof(key), "%s_bucket{le=\"1\"}", h);
  WD_T_ASSERT(sample(t, key) == 3, "%s", key);
  snprintf(key, sizeof(key), "%s_bucket{le=\"+Inf\"}", h);
  WD_T_ASSERT(sample(t, key) == 4, "%s", key);
  snprintf(key, sizeof(key), "%s_count", h);
  WD_T_ASSERT(sample(t, key) == 4, "%s", key);
  snprintf(key, sizeof(key), "%s_sum", h);
  WD_T_ASSERT(fabs(sample(t, key) - 3.00082) < 1e-6, "%s = %g", key,
              sample(t, key));
  /* lag: stored lag preferred; not fetched, unknown and UA skipped */
  WD_T_ASSERT(
      sample(t, "wiredup_consumer_lag{topic=\"articles\",partition=\"0\"}") ==
          15,
      "p0");
  WD_T_ASSERT(
      sample(t, "wiredup_consumer_lag{topic=\"articles\",partition=\"1\"}") ==
          4,
      "p1 (consumer_lag when there is no stored lag)");
  WD_T_ASSERT(
      sample(t, "wiredup_consumer_lag{topic=\"other\",partition=\"7\"}") == 0,
      "other topic");
  WD_T_ASSERT(!strstr(t, "partition=\"2\"") && !strstr(t, "partition=\"3\"") &&
                  !strstr(t, "partition=\"-1\""),
              "skipped partitions:\n%s", t);
  double age = sample(t, "wiredup_checkpoint_age_seconds");
  WD_T_ASSERT(age >= 4 && age < 3600, "checkpoint age %g", age);

  /* A new statistics document replaces the old set. */
  const char one[] = "{\"topics\":{\"articles\":{\"partitions\":{\"1\":"
                     "{\"partition\":1,\"consumer_lag_stored\":0}}}}}";
  WD_T_ASSERT(wd_metrics_publish_kafka_stats(m, one, sizeof(one) - 1) == 0,
              "second stats");
  wd_buf_clear(&b);
  wd_metrics_render(m, &b);
  WD_T_ASSERT(isnan(sample(text(&b), "wiredup_consumer_lag{topic=\"articles\","
                                     "partition=\"0\"}")),
              "p0 gone");
  WD_T_ASSERT(sample(text(&b), "wiredup_consumer_lag{topic=\"articles\","
                               "partition=\"1\"}") == 0,
              "p1 now 0");
  wd_buf_free(&b);
  wd_metrics_destroy(m);
  wd_metrics_destroy(NULL);
  return 0;
}

static int test_parse_listen(void) {
  static const struct {
    const char *in, *host;
    int port; /* -1: rejected */
  } rows[] = {{"127.0.0.1:9464", "127.0.0.1", 9464},
              {"localhost:0", "localhost", 0},
              {":9464", "", 9464},
              {"[::1]:80", "::1", 80},
              {"[::]:65535", "::", 65535},
              {"9464", NULL, -1},
              {"host:", NULL, -1},
              {"host:65536", NULL, -1},
              {"host:-1", NULL, -1},
              {"host:+1", NULL, -1},
              {"host:12ab", NULL, -1},
              {"::1:80", NULL, -1},
              {"[::1]80", NULL, -1},
              {"[::1", NULL, -1},
              {NULL, NULL, 0}};
  int failed = 0;
  for (int i = 0; rows[i].in; i++) {
    char host[64] = "untouched";
    uint16_t port = 0;
    const char *why = NULL;
    int rc =
        wd_config_parse_listen(rows[i].in, host, sizeof(host), &port, &why);
    if (rows[i].port < 0 ? (rc != -1 || !why)
                         : (rc != 0 || strcmp(host, rows[i].host) != 0 ||
                            port != rows[i].port)) {
      fprintf(stderr, "  %s: rc %d host %s port %u\n", rows[i].in, rc, host,
              port);
      failed++;
    }
  }
  WD_T_ASSERT(failed == 0, "%d rows wrong", failed);
  return 0;
}

/* One HTTP/1.0 request to 127.0.0.1:port; the whole response into dst. */
static int http_get(uint16_t port, const char *method, const char *path,
                    char *dst, size_t dst_cap) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
    return -1;
  char req[256];
  int n = snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: x\r\n\r\n",
                   method, path);
  if (write(fd, req, (size_t)n) != n)
    return close(fd), -1;
  size_t got = 0;
  ssize_t r;
  while (got + 1 < dst_cap && (r = read(fd, dst + got, dst_cap - 1 - got)) > 0)
    got += (size_t)r;
  dst[got] = '\0';
  close(fd);
  return 0;
}

static int test_http(void) {
  char errstr[256], resp[16384];
  wd_metrics_t *m = wd_metrics_new();
  wd_metrics_http_t *srv = NULL;
  /* Port 0: the kernel picks a free one, so parallel tests never collide. */
  WD_T_ASSERT(wd_metrics_http_start(m, "127.0.0.1:0", 60000, &srv, errstr,
                                    sizeof(errstr)) == WD_OK,
              "%s", errstr);
  uint16_t port = wd_metrics_http_port(srv);
  WD_T_ASSERT(port != 0, "bound port");

  wd_metrics_add(m, WD_METRIC_RECORDS_IN, 3);
  WD_T_ASSERT(http_get(port, "GET", "/metrics", resp, sizeof(resp)) == 0,
              "get");
  WD_T_ASSERT(strncmp(resp, "HTTP/1.", 7) == 0 && strstr(resp, " 200 "), "%s",
              resp);
  WD_T_ASSERT(strstr(resp, "text/plain; version=0.0.4"), "content type: %s",
              resp);
  WD_T_ASSERT(strstr(resp, "\r\n\r\n# HELP wiredup_"), "body: %s", resp);
  WD_T_ASSERT(strstr(resp, "\nwiredup_records_in_total 3\n"), "%s", resp);

  WD_T_ASSERT(http_get(port, "GET", "/healthz", resp, sizeof(resp)) == 0,
              "get");
  WD_T_ASSERT(strstr(resp, " 200 ") && strstr(resp, "\r\n\r\nok\n"), "%s",
              resp);
  WD_T_ASSERT(http_get(port, "GET", "/nope", resp, sizeof(resp)) == 0, "get");
  WD_T_ASSERT(strstr(resp, " 404 "), "%s", resp);
  WD_T_ASSERT(http_get(port, "DELETE", "/metrics", resp, sizeof(resp)) == 0,
              "delete");
  WD_T_ASSERT(strstr(resp, " 405 "), "%s", resp);

  /* The same port again is taken: a clear error naming the key. */
  char addr[32];
  wd_metrics_http_t *srv2 = NULL;
  snprintf(addr, sizeof(addr), "127.0.0.1:%u", (unsigned)port);
  WD_T_ASSERT(wd_metrics_http_start(m, addr, 1000, &srv2, errstr,
                                    sizeof(errstr)) == WD_ERR_IO,
              "second bind");
  WD_T_ASSERT(srv2 == NULL && strstr(errstr, "metrics.listen: cannot listen") &&
                  strstr(errstr, "in use"),
              "%s", errstr);
  wd_metrics_http_stop(srv);

  /* Stale: a 1 ms limit and a loop that has not turned for 20 ms. */
  WD_T_ASSERT(wd_metrics_http_start(m, "127.0.0.1:0", 1, &srv, errstr,
                                    sizeof(errstr)) == WD_OK,
              "%s", errstr);
  port = wd_metrics_http_port(srv);
  wd_metrics_heartbeat(m);
  struct timespec ts = {0, 20 * 1000 * 1000};
  nanosleep(&ts, NULL);
  WD_T_ASSERT(http_get(port, "GET", "/healthz", resp, sizeof(resp)) == 0,
              "get");
  WD_T_ASSERT(strstr(resp, " 503 ") && strstr(resp, "stale"), "%s", resp);
  wd_metrics_http_stop(srv);
  wd_metrics_http_stop(NULL);

  /* ":port" is every IPv4 interface, loopback included. */
  WD_T_ASSERT(wd_metrics_http_start(m, ":0", 60000, &srv, errstr,
                                    sizeof(errstr)) == WD_OK,
              "%s", errstr);
  WD_T_ASSERT(http_get(wd_metrics_http_port(srv), "GET", "/healthz", resp,
                       sizeof(resp)) == 0,
              "get on :port");
  WD_T_ASSERT(strstr(resp, " 200 "), "%s", resp);
  wd_metrics_http_stop(srv);

  WD_T_ASSERT(wd_metrics_http_start(m, "127.0.0.1", 1, &srv, errstr,
                                    sizeof(errstr)) == WD_ERR_CONFIG,
              "no port");
  WD_T_ASSERT(strncmp(errstr, "metrics.listen: ", 16) == 0, "%s", errstr);
  wd_metrics_destroy(m);
  return 0;
}

/* The poll loop's side: counters, histogram, snapshots, as fast as it can. */
#define WRITER_RECORDS 200000
static void *writer(void *arg) {
  wd_metrics_t *m = arg;
  wd_engine_stats_t es = {0};
  char json[160];
  for (uint64_t i = 1; i <= WRITER_RECORDS; i++) {
    wd_metrics_add(m, WD_METRIC_RECORDS_IN, 1);
    wd_metrics_observe_latency(m, (double)(i % 1000) * 1e-6);
    wd_metrics_heartbeat(m);
    if (i % 1000 == 0) {
      es.records = es.index_docs = i;
      wd_metrics_publish_engine(m, &es);
      int n = snprintf(json, sizeof(json),
                       "{\"topics\":{\"t\":{\"partitions\":{\"0\":{"
                       "\"partition\":0,\"consumer_lag\":%d}}}}}",
                       (int)(WRITER_RECORDS - i));
      wd_metrics_publish_kafka_stats(m, json, (size_t)n);
    }
  }
  return NULL;
}

/* Scrapes while the writer runs: every exposition is consistent (_count ==
 * +Inf bucket, buckets cumulative) and counters never go backwards. */
static int test_concurrent(void) {
  wd_metrics_t *m = wd_metrics_new();
  wd_buf_t b = WD_BUF_INIT;
  pthread_t th;
  double last_in = 0, last_count = 0;
  int scrapes = 0;
  WD_T_ASSERT(pthread_create(&th, NULL, writer, m) == 0, "thread");
  for (;;) {
    int done = wd_metrics_get(m, WD_METRIC_RECORDS_IN) == WRITER_RECORDS;
    wd_buf_clear(&b);
    wd_metrics_render(m, &b);
    scrapes++;
    const char *t = text(&b);
    double in = sample(t, "wiredup_records_in_total");
    double count = sample(t, "wiredup_processing_latency_seconds_count");
    double inf =
        sample(t, "wiredup_processing_latency_seconds_bucket{le=\"+Inf\"}");
    double le1 =
        sample(t, "wiredup_processing_latency_seconds_bucket{le=\"0.0001\"}");
    WD_T_ASSERT(count == inf, "scrape %d: count %g != +Inf %g", scrapes, count,
                inf);
    WD_T_ASSERT(le1 <= inf, "scrape %d: not cumulative", scrapes);
    WD_T_ASSERT(in >= last_in && count >= last_count,
                "scrape %d: went backwards", scrapes);
    last_in = in, last_count = count;
    if (done)
      break;
  }
  pthread_join(th, NULL);
  wd_buf_clear(&b);
  wd_metrics_render(m, &b);
  WD_T_ASSERT(sample(text(&b), "wiredup_records_in_total") == WRITER_RECORDS,
              "final in");
  WD_T_ASSERT(sample(text(&b), "wiredup_processing_latency_seconds_count") ==
                  WRITER_RECORDS,
              "final count");
  WD_T_ASSERT(sample(text(&b), "wiredup_index_articles") == WRITER_RECORDS,
              "final snapshot");
  WD_T_ASSERT(sample(text(&b),
                     "wiredup_consumer_lag{topic=\"t\",partition=\"0\"}") == 0,
              "final lag");
  wd_buf_free(&b);
  wd_metrics_destroy(m);
  return 0;
}

int main(void) {
  WD_T_RUN(test_escape);
  WD_T_RUN(test_values);
  WD_T_RUN(test_histogram);
  WD_T_RUN(test_render);
  WD_T_RUN(test_parse_listen);
  WD_T_RUN(test_http);
  WD_T_RUN(test_concurrent);
  return WD_T_DONE();
}
