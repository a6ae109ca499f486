/* test_config.c - the configuration table: defaults, every value type through
 * --set and the JSON file, kafka pass-through, error messages that start with
 * the key, cross-key validation, secret masking, the sample config and the
 * generated docs. Table-driven; every row that fails is counted. */
#include "wiredup/config.h"
#include "wiredup/mem.h"
#include "wd_test.h"

#include <cjson/cJSON.h>

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ==== Helpers ==== */

/* Everything written to \p fp since it was opened, as a malloc'd string. */
static char *slurp(FILE *fp) {
  long n = ftell(fp);
  char *p = malloc(n > 0 ? (size_t)n + 1 : 1);
  rewind(fp);
  size_t got = n > 0 ? fread(p, 1, (size_t)n, fp) : 0;
  p[got] = '\0';
  fclose(fp);
  return p;
}

/* wd_config_print into a string the caller frees with free(). */
static char *print_str(const wd_config_t *cfg) {
  FILE *fp = tmpfile();
  wd_config_print(cfg, fp);
  return slurp(fp);
}

static char *doc_str(void) {
  FILE *fp = tmpfile();
  wd_config_doc_markdown(fp);
  return slurp(fp);
}

/* The node at dotted \p key of the printed config (leaf names may contain
 * dots under "kafka"), or NULL. */
static const cJSON *lookup(const cJSON *root, const char *key) {
  if (strncmp(key, "kafka.", 6) == 0)
    return cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(root, "kafka"), key + 6);
  char seg[128];
  const cJSON *node = root;
  while (node && *key) {
    size_t n = strcspn(key, ".");
    if (n >= sizeof(seg))
      return NULL;
    memcpy(seg, key, n);
    seg[n] = '\0';
    node = cJSON_GetObjectItemCaseSensitive(node, seg);
    key += n + (key[n] == '.');
  }
  return node;
}

/* Does the printed value of \p key equal the JSON literal \p expect? */
static int printed_equals(const wd_config_t *cfg, const char *key,
                          const char *expect, char *why, size_t why_size) {
  char *text = print_str(cfg);
  cJSON *root = cJSON_Parse(text);
  cJSON *want = cJSON_Parse(expect);
  const cJSON *got = root ? lookup(root, key) : NULL;
  int ok = root && want && got && cJSON_Compare(got, want, 1);
  if (!ok) {
    char *g = got ? cJSON_PrintUnformatted(got) : NULL;
    snprintf(why, why_size, "%s: printed %s, expected %s%s", key,
             g ? g : "(missing)", expect, want ? "" : " (bad literal)");
    free(g);
  }
  cJSON_Delete(want);
  cJSON_Delete(root);
  free(text);
  return ok;
}

/* Flatten every leaf of \p obj outside "kafka" into "a.b.c\n" lines. */
static void flatten(const cJSON *obj, const char *prefix, wd_buf_t *out,
                    int *leaves) {
  const cJSON *it;
  cJSON_ArrayForEach(it, obj) {
    char path[256];
    snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "",
             it->string);
    if (strcmp(path, "kafka") == 0)
      continue;
    if (cJSON_IsObject(it)) {
      flatten(it, path, out, leaves);
    } else {
      wd_buf_printf(out, "%s\n", path);
      (*leaves)++;
    }
  }
}

static int starts_with(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ==== Defaults ==== */

static int test_defaults(void) {
  wd_config_t *cfg = wd_config_new();
  char errstr[256];
  WD_T_ASSERT(cfg, "wd_config_new");
  WD_T_ASSERT(!strcmp(cfg->input_topic, "articles"), "%s", cfg->input_topic);
  WD_T_ASSERT(!strcmp(cfg->field_id, "id"), "%s", cfg->field_id);
  WD_T_ASSERT(cfg->field_text.cnt == 1 && !strcmp(cfg->field_text.v[0], "body"),
              "text cnt %zu", cfg->field_text.cnt);
  WD_T_ASSERT(!strcmp(cfg->field_title, "title"), "%s", cfg->field_title);
  WD_T_ASSERT(!strcmp(cfg->field_source, "source"), "%s", cfg->field_source);
  WD_T_ASSERT(!strcmp(cfg->field_timestamp, "published_at"), "%s",
              cfg->field_timestamp);
  WD_T_ASSERT(cfg->input_max_bytes == 1048576, "%" PRId64,
              cfg->input_max_bytes);
  WD_T_ASSERT(!strcmp(cfg->output_topic, "articles.clusters"), "%s",
              cfg->output_topic);
  WD_T_ASSERT(!strcmp(cfg->output_dead_letter_topic, ""), "%s",
              cfg->output_dead_letter_topic);
  WD_T_ASSERT(cfg->norm_html == 1 && cfg->norm_strip_marks == 1 &&
                  cfg->norm_fold_abbrev == 1,
              "normalize bools");
  WD_T_ASSERT(cfg->boiler_learn == 1 && cfg->boiler_builtin == 1,
              "boilerplate bools");
  WD_T_ASSERT(cfg->boiler_min_clusters == 3, "%" PRId64,
              cfg->boiler_min_clusters);
  WD_T_ASSERT(cfg->boiler_phrases.cnt == 0, "%zu", cfg->boiler_phrases.cnt);
  WD_T_ASSERT(cfg->shingle_k == 5, "%" PRId64, cfg->shingle_k);
  WD_T_ASSERT(cfg->minhash_num_perm == 128, "%" PRId64, cfg->minhash_num_perm);
  WD_T_ASSERT(!strcmp(cfg->minhash_method, "oph"), "%s", cfg->minhash_method);
  WD_T_ASSERT(cfg->minhash_seed == 1, "%" PRId64, cfg->minhash_seed);
  WD_T_ASSERT(cfg->lsh_bands == 64, "%" PRId64, cfg->lsh_bands);
  WD_T_ASSERT(cfg->lsh_max_candidates == 64, "%" PRId64,
              cfg->lsh_max_candidates);
  WD_T_ASSERT(cfg->simhash_enabled == 1 && cfg->simhash_idf == 1, "simhash");
  WD_T_ASSERT(cfg->simhash_max_distance == 3, "%" PRId64,
              cfg->simhash_max_distance);
  WD_T_ASSERT(cfg->cluster_threshold == 0.35, "%g", cfg->cluster_threshold);
  WD_T_ASSERT(cfg->cluster_containment == 0.7, "%g", cfg->cluster_containment);
  WD_T_ASSERT(cfg->cluster_containment_min_shingles == 0, "%" PRId64,
              cfg->cluster_containment_min_shingles);
  WD_T_ASSERT(cfg->cluster_cosine == 0.9, "%g", cfg->cluster_cosine);
  WD_T_ASSERT(cfg->cluster_containment_min_shared == 10, "%" PRId64,
              cfg->cluster_containment_min_shared);
  WD_T_ASSERT(cfg->cluster_joint_containment == 0.6, "%g",
              cfg->cluster_joint_containment);
  WD_T_ASSERT(cfg->cluster_joint_cosine == 0.7, "%g", cfg->cluster_joint_cosine);
  WD_T_ASSERT(cfg->index_window_ms == 72 * 3600000LL, "%lld",
              (long long)cfg->index_window_ms);
  WD_T_ASSERT(cfg->index_allowed_lateness_ms == 3600000, "%lld",
              (long long)cfg->index_allowed_lateness_ms);
  WD_T_ASSERT(cfg->index_max_articles == 2000000, "%lld",
              (long long)cfg->index_max_articles);
  WD_T_ASSERT(cfg->state_enabled && !strcmp(cfg->state_dir, ""), "%s", cfg->state_dir);
  WD_T_ASSERT(cfg->state_checkpoint_interval_ms == 60000, "%lld",
              (long long)cfg->state_checkpoint_interval_ms);
  WD_T_ASSERT(!strcmp(wd_config_state_dir(cfg, 1), "wiredup-state"), "stream default");
  WD_T_ASSERT(wd_config_state_dir(cfg, 0) == NULL, "file mode: no state by default");
  WD_T_ASSERT(!strcmp(cfg->log_level, "info"), "%s", cfg->log_level);
  WD_T_ASSERT(!strcmp(cfg->metrics_listen, "127.0.0.1:9464"), "%s",
              cfg->metrics_listen);
  WD_T_ASSERT(cfg->metrics_health_timeout_ms == 30000, "%" PRId64,
              cfg->metrics_health_timeout_ms);
  WD_T_ASSERT(cfg->pipeline_threads == 0, "%" PRId64, cfg->pipeline_threads);
  WD_T_ASSERT(cfg->kafka_keys.cnt == 0 && cfg->kafka_values.cnt == 0, "kafka");
  WD_T_ASSERT(wd_config_validate(cfg, errstr, sizeof(errstr)) == WD_OK,
              "defaults must validate: %s", errstr);
  WD_T_ASSERT(!strcmp(wd_config_dlq_topic(cfg), "articles.dlq"), "%s",
              wd_config_dlq_topic(cfg));
  wd_config_destroy(cfg);
  return 0;
}

/* ==== --set: good values of every type ==== */

static const struct {
  const char *key, *value, *printed; /* printed: JSON literal after the set */
} set_good[] = {
    /* bool */
    {"normalize.html", "false", "false"},
    {"normalize.html", "true", "true"},
    {"normalize.html", "0", "false"},
    {"normalize.strip_marks", "no", "false"},
    {"normalize.abbreviations", "OFF", "false"},
    {"simhash.idf", "Yes", "true"},
    {"simhash.enabled", "on", "true"},
    /* integer */
    {"lsh.bands", "16", "16"},
    {"lsh.bands", "+8", "8"},
    {"shingle.size", "1", "1"},
    {"shingle.size", "16", "16"},
    {"minhash.seed", "-42", "-42"},
    {"minhash.seed", "0", "0"},
    {"cluster.containment_min_shingles", "0", "0"},
    {"cluster.containment_min_shingles", "1000000", "1000000"},
    /* double */
    {"cluster.threshold", "0.75", "0.75"},
    {"cluster.threshold", "0", "0"},
    {"cluster.threshold", "1", "1"},
    {"cluster.cosine", "9e-1", "0.9"},
    {"cluster.containment", "0.1", "0.1"},
    /* string */
    {"input.topic", "news", "\"news\""},
    {"output.dead_letter_topic", "bad", "\"bad\""},
    {"input.fields.title", "héadline \"q\"", "\"héadline \\\"q\\\"\""},
    {"input.fields.title", "", "\"\""},
    /* string list */
    {"input.fields.text", "title,body", "[\"title\",\"body\"]"},
    {"input.fields.text", " title , body ", "[\"title\",\"body\"]"},
    {"input.fields.text", "[\"a,b\", \"c\"]", "[\"a,b\",\"c\"]"},
    {"input.fields.text", "content", "[\"content\"]"},
    {"normalize.boilerplate.phrases", "", "[]"},
    {"normalize.boilerplate.phrases", "[]", "[]"},
    {"normalize.boilerplate.phrases", "read more", "[\"read more\"]"},
    /* size */
    {"input.max_bytes", "4096", "\"4KiB\""},
    {"input.max_bytes", "5000", "\"5KB\""},
    {"input.max_bytes", "64KiB", "\"64KiB\""},
    {"input.max_bytes", "1.5MiB", "\"1536KiB\""},
    {"input.max_bytes", "10MB", "\"10MB\""},
    {"input.max_bytes", "2 kb", "\"2KB\""},
    {"input.max_bytes", "256MiB", "\"256MiB\""},
    {"input.max_bytes", "1KiB", "\"1KiB\""},
    {"input.max_bytes", "123457", "123457"},
    /* enum */
    {"minhash.method", "mix", "\"mix\""},
    {"minhash.method", "OPH", "\"oph\""},
    {"log.level", "debug", "\"debug\""},
    {"log.level", "Error", "\"error\""},
    /* duration */
    {"metrics.health_timeout", "90s", "\"90s\""},
    {"metrics.health_timeout", "1500", "\"1500ms\""},
    {"metrics.listen", "", "\"\""},
    {"metrics.listen", "[::1]:9464", "\"[::1]:9464\""},
    /* kafka pass-through */
    {"kafka.bootstrap.servers", "localhost:9092", "\"localhost:9092\""},
    {"kafka.sasl.jaas", "a=b=c", "\"a=b=c\""},
    {NULL, NULL, NULL}};

static int test_set_good(void) {
  int failed = 0;
  wd_config_t *cfg = wd_config_new();
  for (int i = 0; set_good[i].key; i++) {
    char errstr[256], why[512];
    errstr[0] = '\0';
    wd_err_t err = wd_config_set(cfg, set_good[i].key, set_good[i].value,
                                 errstr, sizeof(errstr));
    if (err != WD_OK) {
      fprintf(stderr, "  row %d: %s=%s: %s\n", i, set_good[i].key,
              set_good[i].value, errstr);
      failed++;
    } else if (!printed_equals(cfg, set_good[i].key, set_good[i].printed, why,
                               sizeof(why))) {
      fprintf(stderr, "  row %d: %s\n", i, why);
      failed++;
    }
  }
  wd_config_destroy(cfg);
  WD_T_ASSERT(failed == 0, "%d rows failed", failed);
  return 0;
}

/* The struct really holds what was set, in the field the key names. */
static int test_set_fields(void) {
  wd_config_t *cfg = wd_config_new();
  char e[256];
  WD_T_ASSERT(wd_config_set(cfg, "input.max_bytes", "2MiB", e, sizeof(e)) == 0,
              "%s", e);
  WD_T_ASSERT(cfg->input_max_bytes == 2097152, "%" PRId64,
              cfg->input_max_bytes);
  WD_T_ASSERT(wd_config_set(cfg, "input.max_bytes", "10MB", e, sizeof(e)) == 0,
              "%s", e);
  WD_T_ASSERT(cfg->input_max_bytes == 10000000, "%" PRId64,
              cfg->input_max_bytes);
  WD_T_ASSERT(wd_config_set(cfg, "cluster.cosine", "0.25", e, sizeof(e)) == 0,
              "%s", e);
  WD_T_ASSERT(cfg->cluster_cosine == 0.25, "%g", cfg->cluster_cosine);
  WD_T_ASSERT(wd_config_set(cfg, "simhash.enabled", "false", e, sizeof(e)) == 0,
              "%s", e);
  WD_T_ASSERT(cfg->simhash_enabled == 0, "%d", cfg->simhash_enabled);
  WD_T_ASSERT(wd_config_set(cfg, "input.fields.text", "title,lede,body", e,
                            sizeof(e)) == 0,
              "%s", e);
  WD_T_ASSERT(cfg->field_text.cnt == 3 && !strcmp(cfg->field_text.v[1], "lede"),
              "cnt %zu", cfg->field_text.cnt);
  WD_T_ASSERT(wd_config_set(cfg, "minhash.method", "MIX", e, sizeof(e)) == 0,
              "%s", e);
  WD_T_ASSERT(!strcmp(cfg->minhash_method, "mix"), "%s", cfg->minhash_method);
  WD_T_ASSERT(wd_config_set_arg(cfg, "minhash.seed=77", e, sizeof(e)) == 0,
              "%s", e);
  WD_T_ASSERT(cfg->minhash_seed == 77, "%" PRId64, cfg->minhash_seed);
  wd_config_destroy(cfg);
  return 0;
}

/* ==== --set: bad values, each message starting with the key ==== */

static const struct {
  const char *key, *value, *message; /* message: exact errstr */
} set_bad[] = {
    {"lsh.bands", "x", "lsh.bands: expected an integer, got \"x\""},
    {"lsh.bands", "", "lsh.bands: expected an integer, got \"\""},
    {"lsh.bands", "16x", "lsh.bands: expected an integer, got \"16x\""},
    {"lsh.bands", "1.5", "lsh.bands: expected an integer, got \"1.5\""},
    {"lsh.bands", "99999999999999999999",
     "lsh.bands: expected an integer, got \"99999999999999999999\""},
    {"lsh.bands", "0", "lsh.bands: 0 is below the minimum 1"},
    {"lsh.bands", "2000", "lsh.bands: 2000 is above the maximum 1024"},
    {"shingle.size", "17", "shingle.size: 17 is above the maximum 16"},
    {"simhash.max_distance", "-1",
     "simhash.max_distance: -1 is below the minimum 0"},
    {"normalize.html", "maybe",
     "normalize.html: expected true or false, got \"maybe\""},
    {"normalize.html", "", "normalize.html: expected true or false, got \"\""},
    {"cluster.threshold", "high",
     "cluster.threshold: expected a number, got \"high\""},
    {"cluster.threshold", "nan",
     "cluster.threshold: expected a number, got \"nan\""},
    {"cluster.threshold", "1.5",
     "cluster.threshold: 1.5 is above the maximum 1"},
    {"cluster.cosine", "-0.1", "cluster.cosine: -0.1 is below the minimum 0"},
    {"minhash.method", "foo",
     "minhash.method: expected one of oph|mix, got \"foo\""},
    {"log.level", "loud",
     "log.level: expected one of debug|info|warn|error, got \"loud\""},
    {"metrics.health_timeout", "10ms",
     "metrics.health_timeout: 10ms is below the minimum 1s"},
    {"metrics.health_timeout", "soon",
     "metrics.health_timeout: expected a duration (milliseconds, or e.g. "
     "500ms, 30s, 5m, 72h, 7d), got \"soon\""},
    {"input.max_bytes", "x",
     "input.max_bytes: expected a size (bytes, or e.g. 64KiB, 1MiB, 2GiB, "
     "10MB), got \"x\""},
    {"input.max_bytes", "512",
     "input.max_bytes: 512 is below the minimum 1KiB"},
    {"input.max_bytes", "1GiB",
     "input.max_bytes: 1GiB is above the maximum 256MiB"},
    {"input.max_bytes", "1.5B",
     "input.max_bytes: expected a size (bytes, or e.g. 64KiB, 1MiB, 2GiB, "
     "10MB), got \"1.5B\""},
    {"input.max_bytes", "-4KiB",
     "input.max_bytes: expected a size (bytes, or e.g. 64KiB, 1MiB, 2GiB, "
     "10MB), got \"-4KiB\""},
    {"input.fields.text", "a,,b",
     "input.fields.text: list items must not be empty, got \"a,,b\""},
    {"input.fields.text", "[\"a\", 5]",
     "input.fields.text: expected a string or an array of strings, item 2 "
     "is 5"},
    {"input.fields.text", "[\"a\"",
     "input.fields.text: expected a string or an array of strings, got "
     "\"[\\\"a\\\"\""},
    {"nosuch.key", "1", "nosuch.key: unknown configuration key"},
    {"input.fieldz.id", "x",
     "input.fieldz.id: unknown configuration key (did you mean "
     "input.fields.id?)"},
    {"lsh.band", "4",
     "lsh.band: unknown configuration key (did you mean lsh.bands?)"},
    {"input.fields", "x",
     "input.fields: unknown configuration key (a section: set one of its "
     "keys, e.g. input.fields.<name>)"},
    {"kafka", "x", "kafka: set librdkafka properties as kafka.<property>"},
    {"kafka.", "x",
     "kafka.: empty librdkafka property name (use kafka.<property>)"},
    {NULL, NULL, NULL}};

static int test_set_bad(void) {
  int failed = 0;
  wd_config_t *cfg = wd_config_new();
  char *before = print_str(cfg);
  for (int i = 0; set_bad[i].key; i++) {
    char errstr[512] = "";
    wd_err_t err = wd_config_set(cfg, set_bad[i].key, set_bad[i].value, errstr,
                                 sizeof(errstr));
    char *after = print_str(cfg);
    if (err != WD_ERR_CONFIG || strcmp(errstr, set_bad[i].message) != 0) {
      fprintf(stderr, "  row %d: %s=%s: err %d\n    got:  %s\n    want: %s\n",
              i, set_bad[i].key, set_bad[i].value, err, errstr,
              set_bad[i].message);
      failed++;
    } else if (!starts_with(errstr, set_bad[i].key)) {
      fprintf(stderr, "  row %d: message does not start with the key\n", i);
      failed++;
    } else if (strcmp(before, after) != 0) {
      fprintf(stderr, "  row %d: a failed set changed the config\n", i);
      failed++;
    }
    free(after);
  }
  free(before);
  wd_config_destroy(cfg);
  WD_T_ASSERT(failed == 0, "%d rows failed", failed);
  return 0;
}

static int test_set_arg(void) {
  static const struct {
    const char *arg;
    wd_err_t err;
    const char *key, *printed, *message;
  } rows[] = {{"lsh.bands=16", WD_OK, "lsh.bands", "16", NULL},
              {"kafka.sasl.jaas.config=a=b", WD_OK, "kafka.sasl.jaas.config",
               "\"***\"", NULL},
              {"input.topic=", WD_OK, "input.topic", "\"\"", NULL},
              {"lsh.bands", WD_ERR_CONFIG, NULL, NULL,
               "lsh.bands: --set expects KEY=VALUE"},
              {"=5", WD_ERR_CONFIG, NULL, NULL, "--set \"=5\": empty key"},
              {"lsh.bands=0", WD_ERR_CONFIG, NULL, NULL,
               "lsh.bands: 0 is below the minimum 1"},
              {NULL, WD_OK, NULL, NULL, NULL}};
  int failed = 0;
  wd_config_t *cfg = wd_config_new();
  for (int i = 0; rows[i].arg; i++) {
    char errstr[256] = "", why[512];
    wd_err_t err = wd_config_set_arg(cfg, rows[i].arg, errstr, sizeof(errstr));
    if (err != rows[i].err) {
      fprintf(stderr, "  row %d: %s: err %d (%s)\n", i, rows[i].arg, err,
              errstr);
      failed++;
    } else if (rows[i].message && strcmp(errstr, rows[i].message) != 0) {
      fprintf(stderr, "  row %d: got %s, want %s\n", i, errstr,
              rows[i].message);
      failed++;
    } else if (rows[i].key && !printed_equals(cfg, rows[i].key, rows[i].printed,
                                              why, sizeof(why))) {
      fprintf(stderr, "  row %d: %s\n", i, why);
      failed++;
    }
  }
  WD_T_ASSERT(!strcmp(wd_config_kafka_get(cfg, "sasl.jaas.config"), "a=b"),
              "value keeps its '='");
  wd_config_destroy(cfg);
  WD_T_ASSERT(failed == 0, "%d rows failed", failed);
  return 0;
}

/* ==== JSON files ==== */

static const struct {
  const char *json, *key, *printed;
} json_good[] = {
    {"{}", "lsh.bands", "64"},
    {"{\"lsh\": {\"bands\": 16}}", "lsh.bands", "16"},
    {"{\"lsh.bands\": 16}", "lsh.bands", "16"},
    {"{\"input\": {\"fields.id\": \"uuid\"}}", "input.fields.id", "\"uuid\""},
    {"{\"input.fields\": {\"id\": \"uuid\"}}", "input.fields.id", "\"uuid\""},
    {"{\"input\": {\"fields\": {\"text\": \"content\"}}}", "input.fields.text",
     "[\"content\"]"},
    {"{\"input\": {\"fields\": {\"text\": [\"title\", \"body\"]}}}",
     "input.fields.text", "[\"title\",\"body\"]"},
    {"{\"input\": {\"max_bytes\": 2048}}", "input.max_bytes", "\"2KiB\""},
    {"{\"input\": {\"max_bytes\": \"10MB\"}}", "input.max_bytes", "\"10MB\""},
    {"{\"cluster\": {\"threshold\": 0.65}}", "cluster.threshold", "0.65"},
    {"{\"cluster\": {\"threshold\": 1}}", "cluster.threshold", "1"},
    {"{\"simhash\": {\"enabled\": false}}", "simhash.enabled", "false"},
    {"{\"minhash\": {\"method\": \"mix\", \"num_perm\": 64.0}}",
     "minhash.num_perm", "64"},
    {"{\"normalize\": {\"boilerplate\": {\"phrases\": [\"Read more\"]}}}",
     "normalize.boilerplate.phrases", "[\"Read more\"]"},
    /* a later duplicate wins, as a later --set does */
    {"{\"lsh\": {\"bands\": 8}, \"lsh.bands\": 4}", "lsh.bands", "4"},
    /* kafka: nested pass-through, flat, numbers and booleans as text */
    {"{\"kafka\": {\"bootstrap.servers\": \"b:9092\"}}",
     "kafka.bootstrap.servers", "\"b:9092\""},
    {"{\"kafka\": {\"security.protocol\": \"SASL_SSL\"}}",
     "kafka.security.protocol", "\"SASL_SSL\""},
    {"{\"kafka.client.id\": \"wd\"}", "kafka.client.id", "\"wd\""},
    {"{\"kafka\": {\"ssl\": {\"ca.location\": \"/ca\"}}}",
     "kafka.ssl.ca.location", "\"/ca\""},
    {"{\"kafka\": {\"session.timeout.ms\": 45000}}", "kafka.session.timeout.ms",
     "\"45000\""},
    {"{\"kafka\": {\"enable.idempotence\": true}}", "kafka.enable.idempotence",
     "\"true\""},
    {"\xef\xbb\xbf{\"lsh\": {\"bands\": 64}}", "lsh.bands", "64"},
    {NULL, NULL, NULL}};

static int test_json_good(void) {
  int failed = 0;
  for (int i = 0; json_good[i].json; i++) {
    wd_config_t *cfg = wd_config_new();
    char errstr[256] = "", why[512];
    wd_err_t err =
        wd_config_load_json(cfg, json_good[i].json, strlen(json_good[i].json),
                            errstr, sizeof(errstr));
    if (err != WD_OK) {
      fprintf(stderr, "  row %d: %s: %s\n", i, json_good[i].json, errstr);
      failed++;
    } else if (!printed_equals(cfg, json_good[i].key, json_good[i].printed, why,
                               sizeof(why))) {
      fprintf(stderr, "  row %d: %s\n", i, why);
      failed++;
    }
    wd_config_destroy(cfg);
  }
  WD_T_ASSERT(failed == 0, "%d rows failed", failed);
  return 0;
}

static const struct {
  const char *json, *message; /* message: exact errstr */
} json_bad[] = {
    /* wrong JSON types */
    {"{\"lsh\": {\"bands\": \"16\"}}",
     "lsh.bands: expected an integer, got \"16\""},
    {"{\"lsh\": {\"bands\": 16.5}}",
     "lsh.bands: expected an integer, got 16.5"},
    {"{\"lsh\": {\"bands\": true}}",
     "lsh.bands: expected an integer, got true"},
    {"{\"lsh\": {\"bands\": null}}",
     "lsh.bands: expected an integer, got null"},
    {"{\"lsh\": {\"bands\": 1e300}}",
     "lsh.bands: expected an integer, got 1e+300"},
    {"{\"normalize\": {\"html\": [true]}}",
     "normalize.html: expected true or false, got an array"},
    {"{\"normalize\": {\"html\": \"true\"}}",
     "normalize.html: expected true or false, got \"true\""},
    {"{\"input\": {\"topic\": {}}}",
     "input.topic: expected a string, got an object"},
    {"{\"input\": {\"topic\": 5}}", "input.topic: expected a string, got 5"},
    {"{\"cluster\": {\"threshold\": \"0.5\"}}",
     "cluster.threshold: expected a number, got \"0.5\""},
    {"{\"input\": {\"fields\": {\"text\": {}}}}",
     "input.fields.text: expected a string or an array of strings, got an "
     "object"},
    {"{\"input\": {\"fields\": {\"text\": 5}}}",
     "input.fields.text: expected a string or an array of strings, got 5"},
    {"{\"input\": {\"fields\": {\"text\": [\"a\", [\"b\"]]}}}",
     "input.fields.text: expected a string or an array of strings, item 2 is "
     "an array"},
    {"{\"input\": {\"fields\": {\"text\": [\"\"]}}}",
     "input.fields.text: list items must not be empty (item 1)"},
    {"{\"input\": {\"max_bytes\": -5}}",
     "input.max_bytes: expected a size (bytes, or e.g. 64KiB, 1MiB, 2GiB, "
     "10MB), got -5"},
    {"{\"input\": {\"max_bytes\": \"lots\"}}",
     "input.max_bytes: expected a size (bytes, or e.g. 64KiB, 1MiB, 2GiB, "
     "10MB), got \"lots\""},
    {"{\"minhash\": {\"method\": 1}}",
     "minhash.method: expected one of oph|mix, got 1"},
    /* out of range, enum */
    {"{\"lsh\": {\"bands\": 0}}", "lsh.bands: 0 is below the minimum 1"},
    {"{\"input\": {\"max_bytes\": \"1GiB\"}}",
     "input.max_bytes: 1GiB is above the maximum 256MiB"},
    {"{\"cluster\": {\"cosine\": 2}}",
     "cluster.cosine: 2 is above the maximum 1"},
    {"{\"minhash\": {\"method\": \"foo\"}}",
     "minhash.method: expected one of oph|mix, got \"foo\""},
    /* unknown keys, nested and flat */
    {"{\"nosuch\": {\"key\": 1}}", "nosuch.key: unknown configuration key"},
    {"{\"nosuch.key\": 1}", "nosuch.key: unknown configuration key"},
    {"{\"input\": {\"fieldz\": {\"id\": \"x\"}}}",
     "input.fieldz.id: unknown configuration key (did you mean "
     "input.fields.id?)"},
    {"{\"input\": {\"fieldz\": {}}}",
     "input.fieldz: unknown configuration key"},
    {"{\"input\": 5}", "input: expected an object, got 5"},
    {"{\"\": 1}", "\"\": unknown configuration key (empty name)"},
    /* kafka */
    {"{\"kafka\": 5}",
     "kafka: expected an object of librdkafka properties, got 5"},
    {"{\"kafka\": {\"acks\": null}}",
     "kafka.acks: expected a string, number or boolean, got null"},
    {"{\"kafka\": {\"acks\": [1]}}",
     "kafka.acks: expected a string, number or boolean, got an array"},
    {"{\"kafka\": {\"\": \"x\"}}",
     "kafka.: empty librdkafka property name (use kafka.<property>)"},
    /* not an object */
    {"[1]", "<json>: expected a JSON object at the top level, got an array"},
    {"\"x\"", "<json>: expected a JSON object at the top level, got \"x\""},
    /* all or nothing: the good key before the bad one is not applied */
    {"{\"lsh\": {\"bands\": 16}, \"shingle\": {\"size\": 99}}",
     "shingle.size: 99 is above the maximum 16"},
    {NULL, NULL}};

static int test_json_bad(void) {
  int failed = 0;
  wd_config_t *cfg = wd_config_new();
  char *before = print_str(cfg);
  for (int i = 0; json_bad[i].json; i++) {
    char errstr[512] = "";
    wd_err_t err =
        wd_config_load_json(cfg, json_bad[i].json, strlen(json_bad[i].json),
                            errstr, sizeof(errstr));
    char *after = print_str(cfg);
    if (err != WD_ERR_CONFIG || strcmp(errstr, json_bad[i].message) != 0) {
      fprintf(stderr, "  row %d: %s: err %d\n    got:  %s\n    want: %s\n", i,
              json_bad[i].json, err, errstr, json_bad[i].message);
      failed++;
    } else if (strcmp(before, after) != 0) {
      fprintf(stderr, "  row %d: a failed load changed the config\n", i);
      failed++;
    }
    free(after);
  }
  free(before);
  wd_config_destroy(cfg);
  WD_T_ASSERT(failed == 0, "%d rows failed", failed);
  return 0;
}

/* Syntax errors name the source and line:col of the offending character. */
static int test_json_syntax(void) {
  static const struct {
    const char *json, *message;
  } rows[] = {
      {"{\"lsh\":\n  {\"bands\": 16,}\n}",
       "<json>:2:16: invalid JSON near \"}\""},
      {"{\"a\": \"é\", x}", "<json>:1:12: invalid JSON near \"x}\""},
      {"{\"a\": x}", "<json>:1:7: invalid JSON near \"x}\""},
      {"{\"a\" 1}", "<json>:1:6: invalid JSON near \"1}\""},
      {"{\"a\": [1, 2x]}", "<json>:1:12: invalid JSON near \"x]}\""},
      {"{\"a\":1}}", "<json>:1:8: invalid JSON near \"}\""},
      {"{\n\n  \"a\": 1", "<json>:3:9: invalid JSON: unexpected end of input"},
      {"", "<json>:1:1: invalid JSON: unexpected end of input"},
      {"  \n ", "<json>:2:2: invalid JSON: unexpected end of input"},
      {NULL, NULL}};
  int failed = 0;
  wd_config_t *cfg = wd_config_new();
  for (int i = 0; rows[i].json; i++) {
    char errstr[256] = "";
    wd_err_t err = wd_config_load_json(cfg, rows[i].json, strlen(rows[i].json),
                                       errstr, sizeof(errstr));
    if (err != WD_ERR_CONFIG || strcmp(errstr, rows[i].message) != 0) {
      fprintf(stderr, "  row %d: err %d\n    got:  %s\n    want: %s\n", i, err,
              errstr, rows[i].message);
      failed++;
    }
  }
  /* A NUL byte inside the text, and the length is honoured (no NUL needed). */
  char errstr[256] = "";
  WD_T_ASSERT(wd_config_load_json(cfg, "{\"a\":\0}", 7, errstr,
                                  sizeof(errstr)) == WD_ERR_CONFIG &&
                  !strcmp(errstr, "<json>:1:6: invalid JSON: NUL byte"),
              "%s", errstr);
  WD_T_ASSERT(wd_config_load_json(cfg, "{\"lsh.bands\":8}GARBAGE", 15, errstr,
                                  sizeof(errstr)) == WD_OK,
              "%s", errstr);
  WD_T_ASSERT(cfg->lsh_bands == 8, "%" PRId64, cfg->lsh_bands);
  wd_config_destroy(cfg);
  WD_T_ASSERT(failed == 0, "%d rows failed", failed);
  return 0;
}

static int test_load_file(void) {
  char path[] = "/tmp/wd_test_config_XXXXXX";
  int fd = mkstemp(path);
  WD_T_ASSERT(fd >= 0, "mkstemp");
  const char bad[] = "{\n  \"lsh\": {\n    \"bands\": 16\n  \n}\n";
  WD_T_ASSERT(write(fd, bad, sizeof(bad) - 1) == (ssize_t)(sizeof(bad) - 1),
              "write");
  close(fd);

  wd_config_t *cfg = wd_config_new();
  char errstr[512], want[512];
  wd_err_t err = wd_config_load_file(cfg, path, errstr, sizeof(errstr));
  snprintf(want, sizeof(want), "%s:6:1: invalid JSON: unexpected end of input",
           path);
  WD_T_ASSERT(err == WD_ERR_CONFIG && !strcmp(errstr, want), "got %s", errstr);

  FILE *fp = fopen(path, "w");
  fputs("{\"lsh\": {\"bands\": 16}, \"input.topic\": \"news\"}\n", fp);
  fclose(fp);
  err = wd_config_load_file(cfg, path, errstr, sizeof(errstr));
  WD_T_ASSERT(err == WD_OK, "%s", errstr);
  WD_T_ASSERT(cfg->lsh_bands == 16 && !strcmp(cfg->input_topic, "news"),
              "loaded values");
  WD_T_ASSERT(!strcmp(wd_config_dlq_topic(cfg), "news.dlq"), "%s",
              wd_config_dlq_topic(cfg));
  unlink(path);

  err = wd_config_load_file(cfg, path, errstr, sizeof(errstr));
  snprintf(want, sizeof(want), "%s: cannot open: ", path);
  WD_T_ASSERT(err == WD_ERR_CONFIG && starts_with(errstr, want), "got %s",
              errstr);
  wd_config_destroy(cfg);
  return 0;
}

/* ==== kafka.* pass-through ==== */

static int test_kafka(void) {
  wd_config_t *cfg = wd_config_new();
  char e[256];
  WD_T_ASSERT(wd_config_kafka_get(cfg, "bootstrap.servers") == NULL, "unset");
  WD_T_ASSERT(wd_config_set(cfg, "kafka.bootstrap.servers", "a:9092", e,
                            sizeof(e)) == WD_OK,
              "%s", e);
  WD_T_ASSERT(wd_config_set(cfg, "kafka.acks", "all", e, sizeof(e)) == WD_OK,
              "%s", e);
  /* Re-setting replaces in place: one entry, order kept. */
  WD_T_ASSERT(wd_config_set(cfg, "kafka.bootstrap.servers", "b:9092", e,
                            sizeof(e)) == WD_OK,
              "%s", e);
  WD_T_ASSERT(cfg->kafka_keys.cnt == 2 && cfg->kafka_values.cnt == 2, "cnt %zu",
              cfg->kafka_keys.cnt);
  WD_T_ASSERT(!strcmp(cfg->kafka_keys.v[0], "bootstrap.servers") &&
                  !strcmp(cfg->kafka_values.v[0], "b:9092"),
              "%s=%s", cfg->kafka_keys.v[0], cfg->kafka_values.v[0]);
  WD_T_ASSERT(!strcmp(wd_config_kafka_get(cfg, "acks"), "all"), "acks");

  /* A file after --set-style values: replaces the same key, adds others. */
  const char *json = "{\"kafka\": {\"bootstrap.servers\": \"c:9092\", "
                     "\"security.protocol\": \"SASL_SSL\"}}";
  WD_T_ASSERT(wd_config_load_json(cfg, json, strlen(json), e, sizeof(e)) ==
                  WD_OK,
              "%s", e);
  WD_T_ASSERT(cfg->kafka_keys.cnt == 3, "cnt %zu", cfg->kafka_keys.cnt);
  WD_T_ASSERT(!strcmp(wd_config_kafka_get(cfg, "bootstrap.servers"), "c:9092"),
              "replaced by file");
  WD_T_ASSERT(
      !strcmp(wd_config_kafka_get(cfg, "security.protocol"), "SASL_SSL"),
      "added by file");
  WD_T_ASSERT(wd_config_kafka_get(cfg, "kafka.acks") == NULL,
              "lookups use the librdkafka name");

  /* Printed in order under "kafka", as one flat object. */
  char *text = print_str(cfg);
  const char *want = "  \"kafka\": {\n"
                     "    \"bootstrap.servers\": \"c:9092\",\n"
                     "    \"acks\": \"all\",\n"
                     "    \"security.protocol\": \"SASL_SSL\"\n"
                     "  }\n}\n";
  char *at = strstr(text, "  \"kafka\": {");
  WD_T_ASSERT(at && !strcmp(at, want), "printed:\n%s", text);
  free(text);
  wd_config_destroy(cfg);
  return 0;
}

/* ==== Secrets ==== */

static int test_secrets(void) {
  static const char *const secret_keys[] = {
      "kafka.sasl.password",
      "kafka.ssl.key.password",
      "kafka.ssl.keystore.password",
      "kafka.sasl.oauthbearer.client.secret",
      "kafka.sasl.oauthbearer.config",
      "kafka.ssl.key.pem",
      "kafka.ssl_key",
      "kafka.SASL.PASSWORD",
      NULL};
  static const char *const plain_keys[] = {
      "kafka.sasl.username", "kafka.ssl.ca.location",
      "kafka.ssl.certificate.pem", "kafka.security.protocol", NULL};
  int failed = 0;
  wd_config_t *cfg = wd_config_new();
  char e[256], why[512], value[64];
  for (int i = 0; secret_keys[i]; i++) {
    snprintf(value, sizeof(value), "hunter2-%d", i);
    WD_T_ASSERT(wd_config_set(cfg, secret_keys[i], value, e, sizeof(e)) == 0,
                "%s", e);
  }
  for (int i = 0; plain_keys[i]; i++)
    WD_T_ASSERT(wd_config_set(cfg, plain_keys[i], "visible", e, sizeof(e)) == 0,
                "%s", e);
  WD_T_ASSERT(wd_config_set(cfg, "kafka.sasl.oauthbearer.client.secret", "", e,
                            sizeof(e)) == 0,
              "%s", e);
  char *text = print_str(cfg);
  if (strstr(text, "hunter2")) {
    fprintf(stderr, "  a secret was printed:\n%s", text);
    failed++;
  }
  free(text);
  for (int i = 0; secret_keys[i]; i++) {
    const char *expect =
        strstr(secret_keys[i], "client.secret") ? "\"\"" : "\"***\"";
    if (!printed_equals(cfg, secret_keys[i], expect, why, sizeof(why))) {
      fprintf(stderr, "  %s\n", why);
      failed++;
    }
  }
  for (int i = 0; plain_keys[i]; i++)
    if (!printed_equals(cfg, plain_keys[i], "\"visible\"", why, sizeof(why))) {
      fprintf(stderr, "  %s\n", why);
      failed++;
    }
  /* The real value is still there for librdkafka. */
  WD_T_ASSERT(!strcmp(wd_config_kafka_get(cfg, "sasl.password"), "hunter2-0"),
              "stored value");
  wd_config_destroy(cfg);
  WD_T_ASSERT(failed == 0, "%d checks failed", failed);
  return 0;
}

/* ==== Cross-key validation ==== */

static int test_validate(void) {
  static const struct {
    const char *sets[4]; /* KEY=VALUE, applied in order */
    const char *message; /* NULL: valid */
  } rows[] = {
      {{"lsh.bands=48"},
       "lsh.bands: must divide minhash.num_perm (128), got 48"},
      {{"minhash.num_perm=256", "lsh.bands=48"},
       "lsh.bands: must divide minhash.num_perm (256), got 48"},
      {{"minhash.num_perm=100", "lsh.bands=10"},
       "minhash.num_perm: must be a multiple of 8, got 100"},
      {{"minhash.num_perm=64", "lsh.bands=16"}, NULL},
      {{"minhash.num_perm=1024", "lsh.bands=1024"}, NULL},
      {{"lsh.bands=1"}, NULL},
      {{"input.fields.text="},
       "input.fields.text: must name at least one field"},
      {{"input.fields.text=[]"},
       "input.fields.text: must name at least one field"},
      {{"input.fields.id="}, "input.fields.id: must not be empty"},
      {{"cluster.threshold=0", "cluster.containment=1", "cluster.cosine=1"},
       NULL},
      {{"metrics.listen="}, NULL},
      {{"metrics.listen=0.0.0.0:0"}, NULL},
      {{"metrics.listen=:9464"}, NULL},
      {{"metrics.listen=localhost:65535"}, NULL},
      {{"metrics.listen=[::1]:9464"}, NULL},
      {{"metrics.listen=9464"},
       "metrics.listen: \"9464\": expected host:port, e.g. 127.0.0.1:9464"},
      {{"metrics.listen=127.0.0.1:http"},
       "metrics.listen: \"127.0.0.1:http\": port must be a number 0..65535"},
      {{"metrics.listen=127.0.0.1:70000"},
       "metrics.listen: \"127.0.0.1:70000\": port must be a number "
       "0..65535"},
      {{"metrics.listen=127.0.0.1:"},
       "metrics.listen: \"127.0.0.1:\": port must be a number 0..65535"},
      {{"metrics.listen=::1:9464"},
       "metrics.listen: \"::1:9464\": an IPv6 address goes in brackets: "
       "[::1]:9464"},
      {{"metrics.listen=[::1]9464"},
       "metrics.listen: \"[::1]9464\": expected [IPv6]:port"},
      {{NULL}, NULL}};
  int failed = 0;
  for (int i = 0; rows[i].sets[0]; i++) {
    wd_config_t *cfg = wd_config_new();
    char errstr[256] = "";
    for (int k = 0; k < 4 && rows[i].sets[k]; k++)
      if (wd_config_set_arg(cfg, rows[i].sets[k], errstr, sizeof(errstr)))
        fprintf(stderr, "  row %d: set %s: %s\n", i, rows[i].sets[k], errstr),
            failed++;
    wd_err_t err = wd_config_validate(cfg, errstr, sizeof(errstr));
    if (rows[i].message
            ? (err != WD_ERR_CONFIG || strcmp(errstr, rows[i].message) != 0)
            : err != WD_OK) {
      fprintf(stderr, "  row %d: err %d\n    got:  %s\n    want: %s\n", i, err,
              err ? errstr : "(valid)",
              rows[i].message ? rows[i].message : "(valid)");
      failed++;
    }
    wd_config_destroy(cfg);
  }

  /* Fields written directly by code are checked too. */
  static const struct {
    int field;
    double v;
    const char *message;
  } direct[] = {
      {0, 0, "shingle.size: 0 is below the minimum 1"},
      {0, 17, "shingle.size: 17 is above the maximum 16"},
      {1, 1.5, "cluster.threshold: 1.5 is above the maximum 1"},
      {2, -0.5, "cluster.containment: -0.5 is below the minimum 0"},
      {3, NAN, "cluster.cosine: must be a finite number"},
      {4, 0, "log.level: expected one of debug|info|warn|error, got \"LOUD\""},
      {-1, 0, NULL}};
  for (int i = 0; direct[i].field >= 0; i++) {
    wd_config_t *cfg = wd_config_new();
    char errstr[256] = "";
    switch (direct[i].field) {
    case 0:
      cfg->shingle_k = (int64_t)direct[i].v;
      break;
    case 1:
      cfg->cluster_threshold = direct[i].v;
      break;
    case 2:
      cfg->cluster_containment = direct[i].v;
      break;
    case 3:
      cfg->cluster_cosine = direct[i].v;
      break;
    case 4:
      wd_free(cfg->log_level);
      cfg->log_level = wd_strdup("LOUD");
      break;
    }
    wd_err_t err = wd_config_validate(cfg, errstr, sizeof(errstr));
    if (err != WD_ERR_CONFIG || strcmp(errstr, direct[i].message) != 0) {
      fprintf(stderr, "  direct %d: got %s, want %s\n", i, errstr,
              direct[i].message);
      failed++;
    }
    wd_config_destroy(cfg);
  }
  WD_T_ASSERT(failed == 0, "%d rows failed", failed);
  return 0;
}

/* ==== Sizes and durations ==== */

static int test_units(void) {
  static const struct {
    const char *text;
    int ok;
    int64_t v;
  } sizes[] = {{"0", 1, 0},
               {"4096", 1, 4096},
               {" 4096 ", 1, 4096},
               {"64KiB", 1, 65536},
               {"64 KiB", 1, 65536},
               {"64kib", 1, 65536},
               {"1MiB", 1, 1048576},
               {"2GiB", 1, 2147483648LL},
               {"1TiB", 1, 1099511627776LL},
               {"10MB", 1, 10000000},
               {"1KB", 1, 1000},
               {"3GB", 1, 3000000000LL},
               {"7B", 1, 7},
               {"1.5KiB", 1, 1536},
               {"0.5MB", 1, 500000},
               {"1.1KB", 1, 1100},
               {"1.0001KB", 0, 0}, /* not a whole number of bytes */
               {"1.5", 0, 0},
               {"", 0, 0},
               {"KiB", 0, 0},
               {"-1", 0, 0},
               {"1 MiB x", 0, 0},
               {"1Mi", 0, 0},
               {"1e3", 0, 0},
               {"9223372036854775807", 1, INT64_MAX},
               {"9223372036854775808", 0, 0},
               {"8388608TiB", 0, 0},  /* 2^63 */
               {"16777216TiB", 0, 0}, /* 2^64: wraps to 0 unless checked */
               {NULL, 0, 0}};
  static const struct {
    const char *text;
    int ok;
    int64_t v;
  } durations[] = {{"0", 1, 0},
                   {"250", 1, 250},
                   {"500ms", 1, 500},
                   {"30s", 1, 30000},
                   {"5m", 1, 300000},
                   {"72h", 1, 259200000},
                   {"7d", 1, 604800000},
                   {"1h30m", 1, 5400000},
                   {"1h 30m", 1, 5400000},
                   {"1.5s", 1, 1500},
                   {"0.5ms", 0, 0},
                   {"1h30", 0, 0},
                   {"30 s", 0, 0},
                   {"30S", 0, 0},
                   {"5min", 0, 0},
                   {"", 0, 0},
                   {"s", 0, 0},
                   {"-5s", 0, 0},
                   {"1.5", 0, 0},
                   {"106751991168d", 0, 0}, /* overflows int64 ms */
                   {"106751991167d", 1, 9223372036828800000LL},
                   {NULL, 0, 0}};
  int failed = 0;
  for (int i = 0; sizes[i].text; i++) {
    int64_t v = -12345;
    int rc = wd_config_parse_size(sizes[i].text, &v);
    if ((rc == 0) != sizes[i].ok || (sizes[i].ok && v != sizes[i].v) ||
        (!sizes[i].ok && v != -12345)) {
      fprintf(stderr, "  size \"%s\": rc %d v %" PRId64 "\n", sizes[i].text, rc,
              v);
      failed++;
    }
  }
  for (int i = 0; durations[i].text; i++) {
    int64_t v = -12345;
    int rc = wd_config_parse_duration_ms(durations[i].text, &v);
    if ((rc == 0) != durations[i].ok ||
        (durations[i].ok && v != durations[i].v) ||
        (!durations[i].ok && v != -12345)) {
      fprintf(stderr, "  duration \"%s\": rc %d v %" PRId64 "\n",
              durations[i].text, rc, v);
      failed++;
    }
  }
  static const struct {
    int64_t v;
    const char *size, *duration;
  } fmt[] = {{0, "0", "0"},
             {1, "1", "1ms"},
             {1000, "1KB", "1s"},
             {1024, "1KiB", "1024ms"},
             {1536, "1536", "1536ms"},
             {1500, "1500", "1500ms"},
             {60000, "60KB", "1m"},
             {90000, "90KB", "90s"},
             {1048576, "1MiB", "1048576ms"},
             {3600000, "3600KB", "1h"},
             {86400000, "84375KiB", "1d"},
             {10000000, "10MB", "10000s"},
             {-1, NULL, NULL}};
  for (int i = 0; fmt[i].size; i++) {
    char a[64], b[64];
    wd_config_format_size(a, sizeof(a), fmt[i].v);
    wd_config_format_duration_ms(b, sizeof(b), fmt[i].v);
    if (strcmp(a, fmt[i].size) || strcmp(b, fmt[i].duration)) {
      fprintf(stderr, "  format %" PRId64 ": %s %s\n", fmt[i].v, a, b);
      failed++;
    }
  }

  /* Property: format then parse gives the value back, for random values. */
  unsigned long long seed = wd_t_seed(20240611), st = seed;
  for (int i = 0; i < 20000; i++) {
    unsigned long long r = wd_t_rand(&st);
    /* Mix small values, unit multiples and big ones. */
    int64_t v = (int64_t)((r >> 1) >> (wd_t_rand(&st) % 63));
    if (i % 3 == 0)
      v = (int64_t)(r % 4096) << (10 * (wd_t_rand(&st) % 4));
    char a[64];
    int64_t back = -1;
    if (wd_config_parse_size(wd_config_format_size(a, sizeof(a), v), &back) ||
        back != v) {
      fprintf(stderr,
              "  seed %llu case %d: size %" PRId64 " -> %s -> %" PRId64 "\n",
              seed, i, v, a, back);
      failed++;
      break;
    }
    back = -1;
    if (wd_config_parse_duration_ms(
            wd_config_format_duration_ms(a, sizeof(a), v), &back) ||
        back != v) {
      fprintf(stderr,
              "  seed %llu case %d: duration %" PRId64 " -> %s -> %" PRId64
              "\n",
              seed, i, v, a, back);
      failed++;
      break;
    }
  }
  WD_T_ASSERT(failed == 0, "%d rows failed", failed);
  return 0;
}

/* ==== Printing, the sample config and the docs ==== */

/* The printed config is valid JSON, names every key once, and loads back to
 * the same config. */
static int test_print_roundtrip(void) {
  wd_config_t *cfg = wd_config_new();
  char e[256];
  const char *sets[] = {"lsh.bands=16",         "input.fields.text=title,body",
                        "input.max_bytes=10MB", "cluster.cosine=0.333",
                        "minhash.seed=-7",      "output.dead_letter_topic=x\"y",
                        "kafka.client.id=wd",   NULL};
  for (int i = 0; sets[i]; i++)
    WD_T_ASSERT(wd_config_set_arg(cfg, sets[i], e, sizeof(e)) == 0, "%s", e);
  char *text = print_str(cfg);
  cJSON *root = cJSON_Parse(text);
  WD_T_ASSERT(root, "printed config is not JSON:\n%s", text);
  wd_buf_t keys = WD_BUF_INIT;
  int leaves = 0;
  flatten(root, "", &keys, &leaves);
  /* every key of the reference table, which wd_config_doc_markdown writes
   * from the same property table (kafka.* is left out by flatten) */
  char *doc = NULL;
  size_t doc_len = 0;
  FILE *mf = open_memstream(&doc, &doc_len);
  wd_config_doc_markdown(mf);
  fclose(mf);
  int rows = 0;
  for (const char *l = doc; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l))
    rows += strncmp(l, "| `", 3) == 0 && strncmp(l, "| `kafka.", 9) != 0;
  free(doc);
  WD_T_ASSERT(rows > 40, "the reference lists only %d keys", rows);
  WD_T_ASSERT(leaves == rows, "expected %d keys, printed %d:\n%s", rows, leaves,
              keys.p);
  /* No key printed twice (a non-contiguous section would reopen it). */
  for (char *line = keys.p; *line;) {
    char *nl = strchr(line, '\n');
    *nl = '\0';
    char needle[300];
    snprintf(needle, sizeof(needle), "\n%s\n", line);
    *nl = '\n';
    wd_buf_t wrapped = WD_BUF_INIT;
    wd_buf_printf(&wrapped, "\n%s", keys.p);
    char *first = strstr(wrapped.p, needle);
    int dup = first && strstr(first + 1, needle) != NULL;
    wd_buf_free(&wrapped);
    WD_T_ASSERT(!dup, "printed twice: %s", needle + 1);
    line = nl + 1;
  }
  wd_buf_free(&keys);

  wd_config_t *back = wd_config_new();
  WD_T_ASSERT(wd_config_load_json(back, text, strlen(text), e, sizeof(e)) == 0,
              "reload: %s", e);
  char *text2 = print_str(back);
  WD_T_ASSERT(!strcmp(text, text2), "reloaded config prints differently:\n%s",
              text2);
  WD_T_ASSERT(back->cluster_cosine == 0.333 && back->minhash_seed == -7,
              "values survive");
  free(text2);
  free(text);
  cJSON_Delete(root);
  wd_config_destroy(back);
  wd_config_destroy(cfg);
  return 0;
}

static int test_sample_file(void) {
  const char *dir = getenv("WD_SOURCE_DIR");
  if (!dir) {
    fprintf(stderr, "  skip: WD_SOURCE_DIR unset\n");
    return 0;
  }
  char path[4096], e[512];
  snprintf(path, sizeof(path), "%s/config/wiredup.json", dir);
  wd_config_t *dflt = wd_config_new();
  wd_config_t *cfg = wd_config_new();
  /* Make every field differ first, so loading must set each one back. */
  const char *sets[] = {"input.topic=x",
                        "input.fields.id=x",
                        "input.fields.text=x",
                        "input.fields.title=x",
                        "input.fields.source=x",
                        "input.fields.timestamp=x",
                        "input.max_bytes=2KiB",
                        "output.topic=x",
                        "output.dead_letter_topic=x",
                        "normalize.html=false",
                        "normalize.strip_marks=false",
                        "normalize.abbreviations=false",
                        "normalize.boilerplate.learn=false",
                        "normalize.boilerplate.min_clusters=9",
                        "normalize.boilerplate.builtin=false",
                        "normalize.boilerplate.phrases=x",
                        "shingle.size=9",
                        "minhash.num_perm=256",
                        "minhash.method=mix",
                        "minhash.seed=9",
                        "lsh.bands=8",
                        "lsh.max_candidates=9",
                        "simhash.enabled=false",
                        "simhash.max_distance=6",
                        "simhash.idf=false",
                        "cluster.threshold=0.1",
                        "cluster.containment=0.1",
                        "cluster.containment_min_shingles=9",
                        "cluster.cosine=0.1",
                        "log.level=error",
                        NULL};
  for (int i = 0; sets[i]; i++)
    WD_T_ASSERT(wd_config_set_arg(cfg, sets[i], e, sizeof(e)) == 0, "%s", e);
  WD_T_ASSERT(wd_config_load_file(cfg, path, e, sizeof(e)) == WD_OK, "%s", e);
  char *a = print_str(dflt), *b = print_str(cfg);
  WD_T_ASSERT(!strcmp(a, b), "%s differs from the defaults:\n%s", path, b);

  /* And it lists every key: same keys and values as the printed defaults. */
  FILE *fp = fopen(path, "rb");
  WD_T_ASSERT(fp, "open %s", path);
  wd_buf_t file = WD_BUF_INIT;
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
    wd_buf_append(&file, chunk, n);
  fclose(fp);
  cJSON *fj = cJSON_Parse(file.p), *dj = cJSON_Parse(a);
  WD_T_ASSERT(fj && dj && cJSON_Compare(fj, dj, 1),
              "%s does not list every key with its default", path);
  cJSON_Delete(fj);
  cJSON_Delete(dj);
  wd_buf_free(&file);
  free(a);
  free(b);
  wd_config_destroy(cfg);
  wd_config_destroy(dflt);
  return 0;
}

static int test_doc(void) {
  char *doc = doc_str();
  wd_config_t *cfg = wd_config_new();
  char *text = print_str(cfg);
  cJSON *root = cJSON_Parse(text);
  wd_buf_t keys = WD_BUF_INIT;
  int leaves = 0, failed = 0;
  flatten(root, "", &keys, &leaves);
  WD_T_ASSERT(starts_with(strstr(doc, "| key |"),
                          "| key | type | default | meaning |\n|---|---|---|"
                          "---|\n"),
              "table header:\n%s", doc);
  for (char *line = keys.p; *line;) {
    char *nl = strchr(line, '\n');
    *nl = '\0';
    char row[300];
    snprintf(row, sizeof(row), "\n| `%s` | ", line);
    if (!strstr(doc, row)) {
      fprintf(stderr, "  key %s has no row in the docs\n", line);
      failed++;
    }
    line = nl + 1;
  }
  static const char *const want[] = {
      "| `lsh.bands` | integer 1..1024 | `64` | ",
      "| `input.max_bytes` | size 1KiB..256MiB | `\"1MiB\"` | ",
      "| `minhash.method` | enum oph\\|mix | `\"oph\"` | ",
      "| `input.fields.text` | string list | `[\"body\"]` | ",
      "| `cluster.threshold` | number 0..1 | `0.35` | ",
      "| `normalize.html` | bool | `true` | ",
      "| `kafka.<property>` | string | | ",
      NULL};
  for (int i = 0; want[i]; i++)
    if (!strstr(doc, want[i])) {
      fprintf(stderr, "  docs lack %s\n", want[i]);
      failed++;
    }
  /* Every table row has all four cells and a non-empty meaning. */
  for (char *line = strstr(doc, "\n| `"); line;
       line = strstr(line + 1, "\n| `")) {
    int cells = 0;
    for (char *c = line + 1; *c && *c != '\n'; c++)
      if (*c == '|' && c[-1] != '\\')
        cells++;
    char *end = strchr(line + 1, '\n');
    if (cells != 5 || (end && end - line > 5 && !strncmp(end - 4, "|  |", 4))) {
      fprintf(stderr, "  malformed docs row: %.80s\n", line + 1);
      failed++;
    }
  }
  wd_buf_free(&keys);
  cJSON_Delete(root);
  free(text);
  free(doc);
  wd_config_destroy(cfg);
  WD_T_ASSERT(failed == 0, "%d checks failed", failed);
  return 0;
}

/* ==== Ownership ==== */

static int test_dlq_topic(void) {
  wd_config_t *cfg = wd_config_new();
  char e[256];
  WD_T_ASSERT(!strcmp(wd_config_dlq_topic(cfg), "articles.dlq"), "default");
  WD_T_ASSERT(wd_config_set(cfg, "input.topic", "wire", e, sizeof(e)) == 0,
              "%s", e);
  WD_T_ASSERT(!strcmp(wd_config_dlq_topic(cfg), "wire.dlq"), "%s",
              wd_config_dlq_topic(cfg));
  WD_T_ASSERT(
      wd_config_set(cfg, "output.dead_letter_topic", "bad", e, sizeof(e)) == 0,
      "%s", e);
  WD_T_ASSERT(!strcmp(wd_config_dlq_topic(cfg), "bad"), "explicit");
  WD_T_ASSERT(
      wd_config_set(cfg, "output.dead_letter_topic", "", e, sizeof(e)) == 0,
      "%s", e);
  /* A field edited directly is followed too. */
  wd_free(cfg->input_topic);
  cfg->input_topic = wd_strdup("direct");
  WD_T_ASSERT(!strcmp(wd_config_dlq_topic(cfg), "direct.dlq"), "%s",
              wd_config_dlq_topic(cfg));
  wd_config_destroy(cfg);
  return 0;
}

/* Everything allocated is given back: the counted allocator must return to
 * where it started (ASan checks the same from the other side). */
static int test_destroy_frees(void) {
  wd_config_destroy(NULL);
  size_t base = wd_mem_used();
  char e[256];
  for (int round = 0; round < 3; round++) {
    wd_config_t *cfg = wd_config_new();
    wd_config_set_arg(cfg, "input.fields.text=a,b,c", e, sizeof(e));
    wd_config_set_arg(cfg, "normalize.boilerplate.phrases=[\"x\",\"y\"]", e,
                      sizeof(e));
    wd_config_set_arg(cfg, "kafka.a=1", e, sizeof(e));
    wd_config_set_arg(cfg, "kafka.a=2", e, sizeof(e));
    wd_config_set_arg(cfg, "input.fields.text=a,,b", e, sizeof(e)); /* fails */
    const char *json = "{\"input\": {\"topic\": \"t\", \"fields\": {\"text\": "
                       "[\"x\"]}}, \"kafka\": {\"b\": \"c\"}, "
                       "\"minhash.method\": \"mix\"}";
    wd_config_load_json(cfg, json, strlen(json), e, sizeof(e));
    const char *bad = "{\"log.level\": \"debug\", \"lsh.bands\": 0}";
    wd_config_load_json(cfg, bad, strlen(bad), e, sizeof(e)); /* fails */
    wd_config_dlq_topic(cfg);
    wd_config_destroy(cfg);
  }
  WD_T_ASSERT(wd_mem_used() == base, "leaked %zd bytes",
              (ssize_t)(wd_mem_used() - base));
  return 0;
}

int main(void) {
  WD_T_RUN(test_defaults);
  WD_T_RUN(test_set_good);
  WD_T_RUN(test_set_fields);
  WD_T_RUN(test_set_bad);
  WD_T_RUN(test_set_arg);
  WD_T_RUN(test_json_good);
  WD_T_RUN(test_json_bad);
  WD_T_RUN(test_json_syntax);
  WD_T_RUN(test_load_file);
  WD_T_RUN(test_kafka);
  WD_T_RUN(test_secrets);
  WD_T_RUN(test_validate);
  WD_T_RUN(test_units);
  WD_T_RUN(test_print_roundtrip);
  WD_T_RUN(test_sample_file);
  WD_T_RUN(test_doc);
  WD_T_RUN(test_dlq_topic);
  WD_T_RUN(test_destroy_frees);
  return WD_T_DONE();
}
