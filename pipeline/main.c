/* main.c - the wiredup command line: argv -> run | replay | eval | demo | config.
 *
 * The only place that exits: every module returns a wd_err_t and main maps it
 * to the exit status (0 ok, 2 usage/config, 1 runtime) and one error line. */
#include "wiredup/config.h"
#include "wiredup/demo.h"
#include "wiredup/eval.h"
#include "wiredup/log.h"
#include "wiredup/metrics.h"
#include "wiredup/mem.h"
#include "wiredup/pipeline.h"
#include "wiredup/record.h"
#include "wiredup/stream.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef WD_VERSION
#define WD_VERSION "0.0.0"
#endif

static const char usage_main[] =
    "Usage: wiredup COMMAND [OPTIONS]\n"
    "\n"
    "Find and cluster near-duplicate news articles, from a file or a Kafka topic.\n"
    "\n"
    "Commands:\n"
    "  run      cluster articles: file mode with --input, else stream mode on Kafka\n"
    "  replay   re-read the input topic from a point (backfill), results to a topic\n"
    "  eval     score the clustering of a labelled JSON Lines file\n"
    "  demo     embedded broker + bundled sample articles; prints the clusters\n"
    "  config   print the effective configuration (--print) or its reference (--doc)\n"
    "\n"
    "Common options (every command):\n"
    "  -c, --config FILE    JSON config file (config/wiredup.json documents every key)\n"
    "  --set KEY=VALUE      override one key (dotted path; kafka.* go to librdkafka);\n"
    "                       repeatable, and wins over -c whatever the order\n"
    "  -h, --help           help for a command: wiredup COMMAND --help\n"
    "  -V, --version        print the version\n"
    "\n"
    "Exit status: 0 success, 2 usage or configuration error, 1 runtime failure.\n"
    "Logs go to stderr, one line per event: level=... msg=\"...\" key=value.\n"
    "More: man wiredup; the README's Operations section.\n";

static const char usage_run[] =
    "Usage: wiredup run [-c FILE] [--set KEY=VALUE]... [--input PATH|-] [--output PATH|-]\n"
    "                   [--fresh-state]\n"
    "\n"
    "File mode (--input): read JSON Lines articles (- is stdin), write one result\n"
    "line per valid article to --output (default stdout). Bad lines are reported on\n"
    "stderr with their line number and skipped; a summary is logged at the end.\n"
    "\n"
    "Stream mode (no --input): consume input.topic in consumer group\n"
    "kafka.group.id, publish one result per record to output.topic (invalid\n"
    "records to the dead-letter topic) and commit an input offset only once its\n"
    "output is acknowledged. Runs until SIGINT or SIGTERM, then drains, flushes,\n"
    "commits and exits 0. Serves Prometheus metrics at http://metrics.listen/metrics\n"
    "and liveness at /healthz (default 127.0.0.1:9464; --set metrics.listen= to\n"
    "turn off). File mode serves no metrics.\n"
    "\n"
    "The similarity memory is checkpointed in state.dir (stream mode: wiredup-state\n"
    "by default; file mode: only when state.dir is set) and loaded at start. A\n"
    "corrupt checkpoint stops the start (exit 1); --fresh-state starts empty and\n"
    "replaces it at the next checkpoint.\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE    JSON config file\n"
    "  --set KEY=VALUE      override one config key (see: wiredup config --doc)\n"
    "  --input PATH|-       file mode: the JSON Lines input\n"
    "  --output PATH|-      file mode: where results go (default stdout)\n"
    "  --fresh-state        start with an empty similarity memory\n"
    "\n"
    "Examples:\n"
    "  wiredup run --input articles.jsonl --output clusters.jsonl\n"
    "  wiredup run -c /etc/wiredup/wiredup.json --set kafka.bootstrap.servers=k1:9092\n";

static const char usage_replay[] =
    "Usage: wiredup replay [-c FILE] [--set KEY=VALUE]...\n"
    "                      (--from-beginning | --from-timestamp RFC3339 | --from-offsets P:O,...)\n"
    "                      [--until-end] [--output-topic TOPIC] [--fresh-state]\n"
    "\n"
    "Backfill: read input.topic again from the given point and publish one result\n"
    "per record to output.topic (or --output-topic), invalid records to the dead-letter\n"
    "topic. The partitions are read with a plain assigned consumer: no consumer group\n"
    "is joined and no offset is committed, so the live service's offsets never move.\n"
    "Records of all partitions are merged in event-time order (ties: partition, then\n"
    "offset), so two replays of the same topic publish identical results.\n"
    "\n"
    "The similarity memory starts from the checkpoint in state.dir (as the live\n"
    "service left it) or, with --fresh-state, empty. A replay never writes the\n"
    "checkpoint. No metrics endpoint; progress (records, rate, lag, ETA) on a\n"
    "terminal, else a progress log line every 10 s.\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE        JSON config file\n"
    "  --set KEY=VALUE          override one config key (see: wiredup config --doc)\n"
    "  --from-beginning         every partition from its first record\n"
    "  --from-timestamp TIME    from the first record at or after TIME (RFC 3339),\n"
    "                           per partition, by the broker's offset-for-time lookup;\n"
    "                           where the broker cannot answer, from the beginning,\n"
    "                           skipping the earlier records (logged once)\n"
    "  --from-offsets P:O,...   only the listed partitions, each from offset O\n"
    "  --until-end              stop at the end offsets seen at start; print a summary\n"
    "                           (records, duplicates, clusters, seconds, records_per_s)\n"
    "                           and exit 0. Without it, go on following the topic until\n"
    "                           SIGINT/SIGTERM.\n"
    "  --output-topic TOPIC     publish results there instead of output.topic\n"
    "  --fresh-state            start with an empty similarity memory\n"
    "\n"
    "Examples:\n"
    "  wiredup replay --from-beginning --until-end --fresh-state --output-topic clusters-v2\n"
    "  wiredup replay --from-timestamp 2026-11-01T00:00:00Z --until-end\n";

static const char usage_eval[] =
    "Usage: wiredup eval [-c FILE] [--set KEY=VALUE]... --input LABELLED.jsonl\n"
    "                    [--label-field NAME] [--stories] [--sweep] [--json]\n"
    "\n"
    "Cluster the file exactly as `run` would and score it against the label field:\n"
    "ari, pair_precision, pair_recall, pair_f1, clusters, docs, one key=value a line.\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE    JSON config file\n"
    "  --set KEY=VALUE      override one config key\n"
    "  --input PATH         the labelled JSON Lines file (required)\n"
    "  --label-field NAME   field holding the true cluster label (default \"cluster\")\n"
    "  --stories            score story_id (same event) instead of cluster_id\n"
    "  --sweep              repeat for cluster.threshold 0.05, 0.10, ... 0.95\n"
    "                       (with --stories: cluster.story_cosine 0.025 ... 0.475)\n"
    "  --json               one JSON object per result instead of key=value lines\n";

static const char usage_demo[] =
    "Usage: wiredup demo [-c FILE] [--set KEY=VALUE]...\n"
    "\n"
    "Start an embedded Kafka mock cluster, produce the bundled sample articles, run\n"
    "stream mode against it and print the clusters. Needs nothing running; serves\n"
    "no metrics endpoint.\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE    JSON config file\n"
    "  --set KEY=VALUE      override one config key\n";

static const char usage_config[] =
    "Usage: wiredup config [-c FILE] [--set KEY=VALUE]... (--print | --doc)\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE    JSON config file to apply before printing\n"
    "  --set KEY=VALUE      override one config key\n"
    "  --print              the effective configuration as JSON, every default\n"
    "                       included; values of secret keys (passwords, secrets,\n"
    "                       private keys) printed as \"***\"\n"
    "  --doc                the reference of every key (Markdown), as in the README\n";

typedef struct opts_s {
  const char *input, *output, *label_field;
  int sweep, json, print, doc, fresh_state, stories;
  /* replay */
  const char *from_timestamp, *from_offsets, *output_topic;
  int from_beginning, until_end;
} opts_t;

static int fail(wd_err_t err, const char *msg) {
  WD_LOG(WD_LOG_ERROR, msg, "%s", "");
  return err == WD_ERR_CONFIG || err == WD_ERR_USAGE ? 2 : 1;
}

static int usage_error(const char *usage, const char *fmt, const char *arg) {
  char msg[512];
  snprintf(msg, sizeof(msg), fmt, arg);
  fprintf(stderr, "wiredup: %s\n", msg);
  fputs(usage, stderr);
  return 2;
}

static void on_signal(int sig) {
  (void)sig;
  wd_stream_request_stop();
}

/* Parse the options shared by every command plus the command's own. */
static int parse_args(int argc, char **argv, const char *usage, wd_config_t *cfg,
                      opts_t *o, int *exit_code) {
  char errstr[512];
  const char *cfg_file = NULL;
  /* -c first, so that --set overrides the file whatever the order */
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      /* help wins over anything else on the line, even a broken config */
      fputs(usage, stdout);
      return *exit_code = 0, -1;
    } else if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) {
      if (i + 1 >= argc)
        return *exit_code = usage_error(usage, "%s needs a file", argv[i]), -1;
      cfg_file = argv[++i];
    } else if (!strcmp(argv[i], "--set") || !strcmp(argv[i], "--input") ||
               !strcmp(argv[i], "--output") || !strcmp(argv[i], "--label-field") ||
               !strcmp(argv[i], "--from-timestamp") || !strcmp(argv[i], "--from-offsets") ||
               !strcmp(argv[i], "--output-topic")) {
      i++;
    }
  }
  if (cfg_file && wd_config_load_file(cfg, cfg_file, errstr, sizeof(errstr)) != WD_OK)
    return *exit_code = fail(WD_ERR_CONFIG, errstr), -1;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
#define NEED_ARG()                                                             \
  if (i + 1 >= argc)                                                           \
    return *exit_code = usage_error(usage, "%s needs a value", a), -1;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(usage, stdout);
      return *exit_code = 0, -1;
    } else if (!strcmp(a, "-c") || !strcmp(a, "--config")) {
      i++;
    } else if (!strcmp(a, "--set")) {
      NEED_ARG();
      if (wd_config_set_arg(cfg, argv[++i], errstr, sizeof(errstr)) != WD_OK)
        return *exit_code = fail(WD_ERR_CONFIG, errstr), -1;
    } else if (!strncmp(a, "--set=", 6)) {
      if (wd_config_set_arg(cfg, a + 6, errstr, sizeof(errstr)) != WD_OK)
        return *exit_code = fail(WD_ERR_CONFIG, errstr), -1;
    } else if (!strcmp(a, "--input") && usage != usage_config && usage != usage_demo &&
               usage != usage_replay) {
      NEED_ARG();
      o->input = argv[++i];
    } else if (!strcmp(a, "--output") && usage == usage_run) {
      NEED_ARG();
      o->output = argv[++i];
    } else if (!strcmp(a, "--label-field") && usage == usage_eval) {
      NEED_ARG();
      o->label_field = argv[++i];
    } else if (!strcmp(a, "--fresh-state") && (usage == usage_run || usage == usage_replay)) {
      o->fresh_state = 1;
    } else if (!strcmp(a, "--from-beginning") && usage == usage_replay) {
      o->from_beginning = 1;
    } else if (!strcmp(a, "--from-timestamp") && usage == usage_replay) {
      NEED_ARG();
      o->from_timestamp = argv[++i];
    } else if (!strcmp(a, "--from-offsets") && usage == usage_replay) {
      NEED_ARG();
      o->from_offsets = argv[++i];
    } else if (!strcmp(a, "--until-end") && usage == usage_replay) {
      o->until_end = 1;
    } else if (!strcmp(a, "--output-topic") && usage == usage_replay) {
      NEED_ARG();
      o->output_topic = argv[++i];
    } else if (!strcmp(a, "--sweep") && usage == usage_eval) {
      o->sweep = 1;
    } else if (!strcmp(a, "--stories") && usage == usage_eval) {
      o->stories = 1;
    } else if (!strcmp(a, "--json") && usage == usage_eval) {
      o->json = 1;
    } else if (!strcmp(a, "--print") && usage == usage_config) {
      o->print = 1;
    } else if (!strcmp(a, "--doc") && usage == usage_config) {
      o->doc = 1;
    } else {
      return *exit_code = usage_error(usage, "unknown option '%s'", a), -1;
    }
#undef NEED_ARG
  }
  if (wd_config_validate(cfg, errstr, sizeof(errstr)) != WD_OK)
    return *exit_code = fail(WD_ERR_CONFIG, errstr), -1;
  wd_log_level_t lvl;
  if (wd_log_level_parse(cfg->log_level, &lvl) == 0)
    wd_log_set_level(lvl);
  return 0;
}

/* Stream mode, with the metrics endpoint around it when metrics.listen is
 * set: it comes up before the consumer (a bad address fails at once) and
 * goes down after the final commit, so a last scrape sees the totals. */
static int run_stream(const wd_config_t *cfg, int fresh_state) {
  char errstr[512];
  wd_err_t err = WD_OK;
  wd_metrics_t *m = wd_metrics_new();
  wd_metrics_http_t *srv = NULL;
  wd_stream_opts_t sopts;
  memset(&sopts, 0, sizeof(sopts));
  sopts.fresh_state = fresh_state;
  if (*cfg->metrics_listen) {
    err = wd_metrics_http_start(m, cfg->metrics_listen,
                                cfg->metrics_health_timeout_ms, &srv, errstr,
                                sizeof(errstr));
    sopts.metrics = m; /* nobody reads them otherwise: not even counted */
    if (err == WD_OK)
      WD_LOG(WD_LOG_INFO, "metrics endpoint listening",
             "listen=%s port=%u paths=/metrics,/healthz", cfg->metrics_listen,
             (unsigned)wd_metrics_http_port(srv));
  }
  if (err == WD_OK)
    err = wd_stream_run_opts(cfg, &sopts, errstr, sizeof(errstr));
  wd_metrics_http_stop(srv);
  wd_metrics_destroy(m);
  return err == WD_OK ? 0 : fail(err, errstr);
}

static int cmd_run(wd_config_t *cfg, const opts_t *o) {
  char errstr[512];
  wd_err_t err;
  if (!o->input) {
    if (o->output)
      return usage_error(usage_run, "%s", "--output needs --input (file mode)");
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    return run_stream(cfg, o->fresh_state);
  }

  FILE *out = stdout;
  if (o->output && strcmp(o->output, "-") != 0) {
    if (!(out = fopen(o->output, "wb"))) {
      snprintf(errstr, sizeof(errstr), "%s: %s", o->output, strerror(errno));
      return fail(WD_ERR_IO, errstr);
    }
  }
  static char obuf[1 << 16];
  setvbuf(out, obuf, _IOFBF, sizeof(obuf));
  wd_file_summary_t sum;
  err = wd_pipeline_run_file_state(cfg, o->input, out, NULL, NULL,
                                   wd_config_state_dir(cfg, 0), o->fresh_state, &sum,
                                   errstr, sizeof(errstr));
  if (out != stdout && fclose(out) != 0 && err == WD_OK) {
    snprintf(errstr, sizeof(errstr), "%s: %s", o->output, strerror(errno));
    err = WD_ERR_IO;
  } else if (out == stdout) {
    fflush(stdout);
  }
  if (err != WD_OK)
    return fail(err, errstr);
  WD_LOG(WD_LOG_INFO, "file mode done",
         "records=%llu invalid=%llu duplicates=%llu clusters=%llu seconds=%.3f "
         "records_per_s=%.0f",
         (unsigned long long)sum.records, (unsigned long long)sum.invalid,
         (unsigned long long)sum.duplicates, (unsigned long long)sum.clusters,
         sum.seconds, sum.seconds > 0 ? (double)sum.records / sum.seconds : 0.0);
  /* the benchmarks read this: the hot path should not allocate per record
   * (after the first records, only tables growing with the index do) */
  const uint64_t allocs = wd_mem_allocs();
  WD_LOG(WD_LOG_DEBUG, "file mode allocations",
         "allocs=%llu allocs_per_record=%.3f allocs_per_record_after_%u=%.4f",
         (unsigned long long)allocs, sum.records ? (double)allocs / (double)sum.records : 0.0,
         WD_FILE_WARM_RECORDS,
         sum.records > WD_FILE_WARM_RECORDS
             ? (double)(allocs - sum.allocs_warm) / (double)(sum.records - WD_FILE_WARM_RECORDS)
             : 0.0);
  return 0;
}

static int cmd_replay(wd_config_t *cfg, const opts_t *o) {
  char errstr[512];
  wd_replay_t rp;
  wd_replay_summary_t sum;
  int32_t *parts = NULL;
  int64_t *offs = NULL;
  wd_err_t err;

  memset(&rp, 0, sizeof(rp));
  memset(&sum, 0, sizeof(sum));
  if (!!o->from_beginning + !!o->from_timestamp + !!o->from_offsets != 1)
    return usage_error(usage_replay, "%s",
                       "say exactly one of --from-beginning, --from-timestamp, --from-offsets");
  if (o->from_beginning) {
    rp.from = WD_REPLAY_FROM_BEGINNING;
  } else if (o->from_timestamp) {
    rp.from = WD_REPLAY_FROM_TIMESTAMP;
    if (wd_time_parse_rfc3339(o->from_timestamp, strlen(o->from_timestamp),
                              &rp.from_ts_ms) != 0)
      return usage_error(usage_replay,
                         "--from-timestamp '%s' is not an RFC 3339 time "
                         "(e.g. 2026-11-01T00:00:00Z)",
                         o->from_timestamp);
  } else {
    rp.from = WD_REPLAY_FROM_OFFSETS;
    if (wd_replay_parse_offsets(o->from_offsets, &parts, &offs, &rp.offsets_cnt, errstr,
                                sizeof(errstr)) != WD_OK)
      return usage_error(usage_replay, "%s", errstr);
    rp.partitions = parts;
    rp.offsets = offs;
  }
  if (o->output_topic) {
    if (!*o->output_topic)
      return usage_error(usage_replay, "%s", "--output-topic needs a topic name");
    /* Through the config, so the default dead-letter topic and the logs
     * follow it. */
    if (wd_config_set(cfg, "output.topic", o->output_topic, errstr, sizeof(errstr)) !=
        WD_OK) {
      wd_free(parts);
      wd_free(offs);
      return fail(WD_ERR_CONFIG, errstr);
    }
  }
  rp.until_end = o->until_end;
  rp.summary = &sum;

  wd_stream_opts_t sopts;
  memset(&sopts, 0, sizeof(sopts));
  sopts.fresh_state = o->fresh_state;
  sopts.replay = &rp;
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  err = wd_stream_run_opts(cfg, &sopts, errstr, sizeof(errstr));
  wd_free(parts);
  wd_free(offs);
  if (err != WD_OK)
    return fail(err, errstr);
  printf("records=%llu duplicates=%llu clusters=%llu dead_lettered=%llu skipped=%llu "
         "seconds=%.3f records_per_s=%.0f\n",
         (unsigned long long)sum.records, (unsigned long long)sum.duplicates,
         (unsigned long long)sum.clusters, (unsigned long long)sum.dead,
         (unsigned long long)sum.skipped, sum.seconds,
         sum.seconds > 0 ? (double)sum.records / sum.seconds : 0.0);
  fflush(stdout);
  return 0;
}

static int cmd_eval(wd_config_t *cfg, const opts_t *o) {
  char errstr[512];
  wd_eval_scores_t s;
  const char *label = o->label_field ? o->label_field : "cluster";
  if (!o->input)
    return usage_error(usage_eval, "%s", "--input is required");
  if (!o->sweep) {
    wd_err_t err = wd_eval_file(cfg, o->input, label, o->stories, &s, errstr, sizeof(errstr));
    if (err != WD_OK)
      return fail(err, errstr);
    wd_eval_print(stdout, &s, o->json, NULL, 0);
    return 0;
  }
  /* quiet the per-line warnings: they repeat once per threshold */
  int saved = wd_log_threshold;
  for (int t = 5; t <= 95; t += 5) {
    /* stories: the story rule's level, the clusters as configured */
    if (o->stories)
      cfg->cluster_story_cosine = t / 200.0;
    else
      cfg->cluster_threshold = t / 100.0;
    wd_err_t err = wd_eval_file(cfg, o->input, label, o->stories, &s, errstr, sizeof(errstr));
    if (err != WD_OK)
      return fail(err, errstr);
    wd_eval_print(stdout, &s, o->json, o->stories ? "story_cosine" : "threshold",
                  o->stories ? t / 200.0 : t / 100.0);
    fflush(stdout);
    if (t == 5 && saved < WD_LOG_ERROR)
      wd_log_set_level(WD_LOG_ERROR);
  }
  wd_log_set_level((wd_log_level_t)saved);
  return 0;
}

static int cmd_demo(wd_config_t *cfg, const opts_t *o) {
  char errstr[512];
  (void)o;
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  wd_err_t err = wd_demo_run(cfg, stdout, errstr, sizeof(errstr));
  return err == WD_OK ? 0 : fail(err, errstr);
}

static int cmd_config(wd_config_t *cfg, const opts_t *o) {
  if (o->doc) {
    wd_config_doc_markdown(stdout);
    return 0;
  }
  if (!o->print)
    return usage_error(usage_config, "%s", "say --print or --doc");
  wd_config_print(cfg, stdout);
  return 0;
}

int main(int argc, char **argv) {
  static const struct {
    const char *name;
    const char *usage;
    int (*fn)(wd_config_t *, const opts_t *);
  } cmds[] = {
      {"run", usage_run, cmd_run},
      {"replay", usage_replay, cmd_replay},
      {"eval", usage_eval, cmd_eval},
      {"demo", usage_demo, cmd_demo},
      {"config", usage_config, cmd_config},
  };
  if (argc < 2) {
    fputs(usage_main, stderr);
    return 2;
  }
  if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
    fputs(usage_main, stdout);
    return 0;
  }
  if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
    printf("wiredup %s\n", WD_VERSION);
    return 0;
  }
  for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
    if (strcmp(argv[1], cmds[i].name) != 0)
      continue;
    opts_t o;
    int code = 0;
    memset(&o, 0, sizeof(o));
    wd_config_t *cfg = wd_config_new();
    if (parse_args(argc - 1, argv + 1, cmds[i].usage, cfg, &o, &code) == 0)
      code = cmds[i].fn(cfg, &o);
    wd_config_destroy(cfg);
    return code;
  }
  return usage_error(usage_main, "unknown command '%s'", argv[1]);
}
