/* mockbroker.c - start/stop librdkafka's mock cluster and drive its fault
 * injection from text commands.
 *
 * The mock needs an rd_kafka_t for its bookkeeping; a producer with no
 * bootstrap servers is the cheapest one (kcat -M does the same). */
#include "wiredup/mockbroker.h"
#include "wiredup/log.h"
#include "wiredup/mem.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct wd_mockbroker_s {
  rd_kafka_t *rk;
  rd_kafka_mock_cluster_t *mcluster;
  char *bootstraps;
};

/* Own log callback rather than stream.c's: the tool links the mock alone. */
static void mock_log_cb(const rd_kafka_t *rk, int level, const char *fac,
                        const char *buf) {
  wd_log_level_t lvl = level <= 3   ? WD_LOG_ERROR
                       : level == 4 ? WD_LOG_WARN
                       : level <= 6 ? WD_LOG_INFO
                                    : WD_LOG_DEBUG;
  char qfac[64];
  /* The bookkeeping client never connects anywhere: by design, not news. */
  if (strcmp(fac, "CONFWARN") == 0 && strstr(buf, "bootstrap.servers"))
    lvl = WD_LOG_DEBUG;
  WD_LOG(lvl, buf, "component=mockbroker fac=%s",
         wd_log_quote(qfac, sizeof(qfac), fac));
}

wd_mockbroker_t *wd_mockbroker_new(int broker_cnt, char *errstr,
                                   size_t errstr_size) {
  char rderr[512];
  rd_kafka_conf_t *conf;
  wd_mockbroker_t *mb;

  if (broker_cnt < 1 || broker_cnt > 64) {
    wd_errstr_set(errstr, errstr_size, "broker count %d: must be 1..64",
                  broker_cnt);
    return NULL;
  }
  mb = wd_calloc(1, sizeof(*mb));
  conf = rd_kafka_conf_new();
  rd_kafka_conf_set_log_cb(conf, mock_log_cb);
  if (rd_kafka_conf_set(conf, "client.id", "wiredup-mock-broker", rderr,
                        sizeof(rderr)) != RD_KAFKA_CONF_OK) {
    wd_errstr_set(errstr, errstr_size, "mock cluster: %s", rderr);
    rd_kafka_conf_destroy(conf);
    goto err;
  }
  mb->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, rderr, sizeof(rderr));
  if (!mb->rk) {
    wd_errstr_set(errstr, errstr_size, "mock cluster: %s", rderr);
    rd_kafka_conf_destroy(conf);
    goto err;
  }
  conf = NULL; /* owned by mb->rk now */
  mb->mcluster = rd_kafka_mock_cluster_new(mb->rk, broker_cnt);
  if (!mb->mcluster) {
    wd_errstr_set(errstr, errstr_size,
                  "mock cluster: could not start %d brokers", broker_cnt);
    goto err;
  }
  mb->bootstraps = wd_strdup(rd_kafka_mock_cluster_bootstraps(mb->mcluster));
  return mb;

err:
  wd_mockbroker_destroy(mb);
  return NULL;
}

void wd_mockbroker_destroy(wd_mockbroker_t *mb) {
  if (!mb)
    return;
  /* The cluster first: it is bookkept on mb->rk. */
  if (mb->mcluster)
    rd_kafka_mock_cluster_destroy(mb->mcluster);
  if (mb->rk)
    rd_kafka_destroy(mb->rk);
  wd_free(mb->bootstraps);
  wd_free(mb);
}

const char *wd_mockbroker_bootstraps(const wd_mockbroker_t *mb) {
  return mb->bootstraps;
}

wd_err_t wd_mockbroker_topic_create(wd_mockbroker_t *mb, const char *topic,
                                    int partition_cnt, char *errstr,
                                    size_t errstr_size) {
  rd_kafka_resp_err_t err;
  WD_RETURN_IF(!topic || !*topic, WD_ERR_USAGE, errstr, errstr_size,
               "topic name is empty");
  WD_RETURN_IF(partition_cnt < 1, WD_ERR_USAGE, errstr, errstr_size,
               "topic %s: partition count %d must be at least 1", topic,
               partition_cnt);
  err = rd_kafka_mock_topic_create(mb->mcluster, topic, partition_cnt, 1);
  WD_RETURN_IF(err, WD_ERR_KAFKA, errstr, errstr_size, "topic %s: %s", topic,
               rd_kafka_err2str(err));
  return WD_OK;
}

/* ==== Command parsing ==== */

static int parse_long(const char *s, long min, long max, long *out) {
  char *end;
  long v;
  if (!s || !*s)
    return -1;
  errno = 0;
  v = strtol(s, &end, 10);
  if (errno || *end || v < min || v > max)
    return -1;
  *out = v;
  return 0;
}

/* The request types the mock implements (rdkafka_mock_handlers.c). */
static const struct {
  const char *name;
  int16_t key;
} api_names[] = {
    {"Produce", 0},          {"Fetch", 1},
    {"ListOffsets", 2},      {"Metadata", 3},
    {"OffsetCommit", 8},     {"OffsetFetch", 9},
    {"FindCoordinator", 10}, {"JoinGroup", 11},
    {"Heartbeat", 12},       {"LeaveGroup", 13},
    {"SyncGroup", 14},       {"ApiVersion", 18},
    {"InitProducerId", 22},  {"AddPartitionsToTxn", 24},
    {"AddOffsetsToTxn", 25}, {"EndTxn", 26},
    {"TxnOffsetCommit", 28},
};

static int parse_api(const char *s, int16_t *key) {
  long v;
  for (size_t i = 0; i < sizeof(api_names) / sizeof(api_names[0]); i++) {
    if (strcasecmp(s, api_names[i].name) == 0) {
      *key = api_names[i].key;
      return 0;
    }
  }
  if (parse_long(s, 0, 1000, &v) == 0) {
    *key = (int16_t)v;
    return 0;
  }
  return -1;
}

static int parse_resp_err(const char *s, rd_kafka_resp_err_t *err) {
  const struct rd_kafka_err_desc *descs;
  size_t cnt;
  long v;
  if (strncmp(s, "RD_KAFKA_RESP_ERR_", 18) == 0)
    s += 18;
  rd_kafka_get_err_descs(&descs, &cnt);
  for (size_t i = 0; i < cnt; i++) {
    if (descs[i].name && strcasecmp(s, descs[i].name) == 0) {
      *err = descs[i].code;
      return 0;
    }
  }
  if (parse_long(s, -200, 1000, &v) == 0) {
    *err = (rd_kafka_resp_err_t)v;
    return 0;
  }
  return -1;
}

#define MB_MAX_ARGS 40

wd_err_t wd_mockbroker_command(wd_mockbroker_t *mb, const char *line,
                               char *errstr, size_t errstr_size) {
  char buf[1024];
  char *argv[MB_MAX_ARGS];
  int argc = 0;
  long broker, n, part;
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;

  WD_RETURN_IF(strlen(line) >= sizeof(buf), WD_ERR_USAGE, errstr, errstr_size,
               "command too long");
  strcpy(buf, line);
  for (char *save = NULL, *tok = strtok_r(buf, " \t\r\n", &save); tok;
       tok = strtok_r(NULL, " \t\r\n", &save)) {
    WD_RETURN_IF(argc == MB_MAX_ARGS, WD_ERR_USAGE, errstr, errstr_size,
                 "too many arguments");
    argv[argc++] = tok;
  }
  if (argc == 0)
    return WD_OK;

#define MB_USAGE_IF(cond, ...)                                                 \
  WD_RETURN_IF(cond, WD_ERR_USAGE, errstr, errstr_size, __VA_ARGS__)

  if (!strcmp(argv[0], "down") || !strcmp(argv[0], "up")) {
    MB_USAGE_IF(argc != 2 || parse_long(argv[1], -1, INT32_MAX, &broker),
                "usage: %s BROKER (-1 = all)", argv[0]);
    err = argv[0][0] == 'd'
              ? rd_kafka_mock_broker_set_down(mb->mcluster, (int32_t)broker)
              : rd_kafka_mock_broker_set_up(mb->mcluster, (int32_t)broker);
  } else if (!strcmp(argv[0], "rtt")) {
    MB_USAGE_IF(argc != 3 || parse_long(argv[1], -1, INT32_MAX, &broker) ||
                    parse_long(argv[2], 0, 3600 * 1000, &n),
                "usage: rtt BROKER MS");
    err = rd_kafka_mock_broker_set_rtt(mb->mcluster, (int32_t)broker, (int)n);
  } else if (!strcmp(argv[0], "errors")) {
    int16_t api;
    rd_kafka_resp_err_t errs[1024];
    MB_USAGE_IF(argc < 4, "usage: errors API CNT ERR...");
    MB_USAGE_IF(parse_api(argv[1], &api), "unknown request type '%s'", argv[1]);
    MB_USAGE_IF(parse_long(argv[2], 1, 1024, &n),
                "error count '%s': must be 1..1024", argv[2]);
    MB_USAGE_IF(argc - 3 != 1 && argc - 3 != n,
                "give one error (repeated) or exactly %ld", n);
    for (long i = 0; i < n; i++) {
      const char *name = argv[3 + (argc - 3 == 1 ? 0 : i)];
      MB_USAGE_IF(parse_resp_err(name, &errs[i]), "unknown error name '%s'",
                  name);
    }
    rd_kafka_mock_push_request_errors_array(mb->mcluster, api, (size_t)n, errs);
  } else if (!strcmp(argv[0], "broker-errors")) {
    /* One push per error: the call is variadic, one (err, rtt) pair each. */
    int16_t api;
    rd_kafka_resp_err_t errs[MB_MAX_ARGS];
    long rtts[MB_MAX_ARGS];
    MB_USAGE_IF(argc < 4 || parse_long(argv[1], 1, INT32_MAX, &broker),
                "usage: broker-errors BROKER API ERR[@MS]...");
    MB_USAGE_IF(parse_api(argv[2], &api), "unknown request type '%s'", argv[2]);
    for (int i = 3; i < argc; i++) {
      char *at = strchr(argv[i], '@');
      rtts[i] = 0;
      if (at) {
        *at = '\0';
        MB_USAGE_IF(parse_long(at + 1, 0, 3600 * 1000, &rtts[i]),
                    "delay '%s': must be 0..3600000 ms", at + 1);
      }
      MB_USAGE_IF(parse_resp_err(argv[i], &errs[i]), "unknown error name '%s'",
                  argv[i]);
    }
    for (int i = 3; i < argc && !err; i++)
      err = rd_kafka_mock_broker_push_request_error_rtts(
          mb->mcluster, (int32_t)broker, api, 1, errs[i], (int)rtts[i]);
  } else if (!strcmp(argv[0], "coordinator")) {
    MB_USAGE_IF(argc != 4 ||
                    (strcmp(argv[1], "group") &&
                     strcmp(argv[1], "transaction")) ||
                    parse_long(argv[3], 1, INT32_MAX, &broker),
                "usage: coordinator group|transaction KEY BROKER");
    err = rd_kafka_mock_coordinator_set(mb->mcluster, argv[1], argv[2],
                                        (int32_t)broker);
  } else if (!strcmp(argv[0], "clear")) {
    int16_t api;
    MB_USAGE_IF(argc != 2, "usage: clear API");
    MB_USAGE_IF(parse_api(argv[1], &api), "unknown request type '%s'", argv[1]);
    rd_kafka_mock_clear_request_errors(mb->mcluster, api);
  } else if (!strcmp(argv[0], "leader")) {
    MB_USAGE_IF(argc != 4 || parse_long(argv[2], 0, INT32_MAX, &part) ||
                    parse_long(argv[3], -1, INT32_MAX, &broker),
                "usage: leader TOPIC PARTITION BROKER");
    err = rd_kafka_mock_partition_set_leader(mb->mcluster, argv[1],
                                             (int32_t)part, (int32_t)broker);
  } else if (!strcmp(argv[0], "topic")) {
    MB_USAGE_IF(argc != 3 || parse_long(argv[2], 1, 10000, &n),
                "usage: topic NAME PARTITIONS");
    return wd_mockbroker_topic_create(mb, argv[1], (int)n, errstr, errstr_size);
  } else {
    MB_USAGE_IF(
        1,
        "unknown command '%s' (down, up, rtt, errors, broker-errors, clear, "
        "leader, coordinator, topic)",
        argv[0]);
  }
#undef MB_USAGE_IF
  WD_RETURN_IF(err, WD_ERR_KAFKA, errstr, errstr_size, "%s: %s", argv[0],
               rd_kafka_err2str(err));
  return WD_OK;
}

wd_err_t wd_mockbroker_parse_topic(const char *arg, char *name, size_t name_cap,
                                   int *partitions, char *errstr,
                                   size_t errstr_size) {
  const char *colon = strrchr(arg, ':');
  size_t len = colon ? (size_t)(colon - arg) : strlen(arg);
  long n = 4;
  WD_RETURN_IF(len == 0, WD_ERR_USAGE, errstr, errstr_size,
               "--topic '%s': expected NAME:PARTITIONS", arg);
  WD_RETURN_IF(len >= name_cap || len > 249, WD_ERR_USAGE, errstr, errstr_size,
               "--topic '%s': name longer than 249 bytes", arg);
  for (size_t i = 0; i < len; i++) {
    char c = arg[i];
    /* Kafka's legal topic characters */
    WD_RETURN_IF(!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                   (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'),
                 WD_ERR_USAGE, errstr, errstr_size,
                 "--topic '%s': topic names use [a-zA-Z0-9._-]", arg);
  }
  WD_RETURN_IF(colon && parse_long(colon + 1, 1, 10000, &n), WD_ERR_USAGE,
               errstr, errstr_size, "--topic '%s': partitions must be 1..10000",
               arg);
  memcpy(name, arg, len);
  name[len] = '\0';
  *partitions = (int)n;
  return WD_OK;
}
