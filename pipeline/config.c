/* config.c - the configuration: one property table (conf_props, librdkafka
 * rdkafka_conf.c style) drives the defaults, the JSON file, --set, validation,
 * `config --print` and docs/configuration.md, so they can never disagree.
 *
 * A value arrives either as text (--set, built-in defaults) or as a cJSON node
 * (the file); both are parsed into a conf_val_t, range-checked and only then
 * stored, so a bad value never half-applies. Also the parsers and formatters
 * of sizes, durations and listen addresses (config.h). */
#include "wiredup/config.h"
#include "wiredup/log.h"
#include "wiredup/mem.h"

#include <cjson/cJSON.h>

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ==== The property table ==== */

typedef enum conf_type_e {
  CT_BOOL,
  CT_INT,
  CT_DOUBLE,
  CT_STRING,
  CT_STRLIST,
  CT_DURATION_MS,
  CT_SIZE,
  CT_ENUM
} conf_type_t;

typedef struct conf_prop_s {
  const char *name; /* dotted key */
  conf_type_t type;
  size_t offset;       /* into wd_config_t */
  const char *dflt;    /* default in --set text form */
  bool ranged;         /* numbers: vmin..vmax checked */
  double vmin, vmax;   /* inclusive */
  const char *choices; /* CT_ENUM: "a|b|c" */
  bool secret;         /* value printed as "***" */
  const char *doc;
} conf_prop_t;

/* offsetof that fails to compile (distinct pointer types) when the field does
 * not have the C type the row's conf_type needs. */
#define FIELD(field, T)                                                        \
  (offsetof(wd_config_t, field) +                                              \
   0 * sizeof((T *)0 == &((wd_config_t *)0)->field))

#define P_BOOL(nm, fld, def, d)                                                \
  {                                                                            \
    .name = nm, .type = CT_BOOL, .offset = FIELD(fld, int), .dflt = def,       \
    .doc = d                                                                   \
  }
#define P_INT(nm, fld, def, lo, hi, d)                                         \
  {                                                                            \
    .name = nm, .type = CT_INT, .offset = FIELD(fld, int64_t), .dflt = def,    \
    .ranged = true, .vmin = lo, .vmax = hi, .doc = d                           \
  }
#define P_INT_ANY(nm, fld, def, d)                                             \
  {                                                                            \
    .name = nm, .type = CT_INT, .offset = FIELD(fld, int64_t), .dflt = def,    \
    .doc = d                                                                   \
  }
#define P_DOUBLE(nm, fld, def, lo, hi, d)                                      \
  {                                                                            \
    .name = nm, .type = CT_DOUBLE, .offset = FIELD(fld, double), .dflt = def,  \
    .ranged = true, .vmin = lo, .vmax = hi, .doc = d                           \
  }
#define P_SIZE(nm, fld, def, lo, hi, d)                                        \
  {                                                                            \
    .name = nm, .type = CT_SIZE, .offset = FIELD(fld, int64_t), .dflt = def,   \
    .ranged = true, .vmin = lo, .vmax = hi, .doc = d                           \
  }
#define P_DUR(nm, fld, def, lo, hi, d)                                         \
  {                                                                            \
    .name = nm, .type = CT_DURATION_MS, .offset = FIELD(fld, int64_t),         \
    .dflt = def, .ranged = true, .vmin = lo, .vmax = hi, .doc = d              \
  }
#define P_STR(nm, fld, def, d)                                                 \
  {                                                                            \
    .name = nm, .type = CT_STRING, .offset = FIELD(fld, char *), .dflt = def,  \
    .doc = d                                                                   \
  }
#define P_LIST(nm, fld, def, d)                                                \
  {                                                                            \
    .name = nm, .type = CT_STRLIST, .offset = FIELD(fld, wd_strlist_t),        \
    .dflt = def, .doc = d                                                      \
  }
#define P_ENUM(nm, fld, def, ch, d)                                            \
  {                                                                            \
    .name = nm, .type = CT_ENUM, .offset = FIELD(fld, char *), .dflt = def,    \
    .choices = ch, .doc = d                                                    \
  }

#define P_DURATION(nm, fld, def, lo, hi, d)                                    \
  {                                                                            \
    .name = nm, .type = CT_DURATION_MS, .offset = FIELD(fld, int64_t),         \
    .dflt = def, .ranged = true, .vmin = lo, .vmax = hi, .doc = d              \
  }

#define KiB 1024.0
#define MiB (1024.0 * 1024.0)

/* Rows sharing a section must be contiguous: the printer nests by walking the
 * table in order. Defaults live here and nowhere else. */
static const conf_prop_t conf_props[] = {
    P_STR("input.topic", input_topic, "articles",
          "Kafka topic the articles are consumed from (stream mode)."),
    P_STR("input.fields.id", field_id, "id",
          "Record field holding the article id (string or integer); "
          "a Kafka message key, when set, is used instead."),
    P_LIST("input.fields.text", field_text, "body",
           "Field(s) holding the story text, joined in this order; "
           "HTML is allowed."),
    P_STR("input.fields.title", field_title, "title",
          "Field holding the headline (optional)."),
    P_STR("input.fields.source", field_source, "source",
          "Field holding the outlet name or domain (optional); boilerplate "
          "is learned per source."),
    P_STR("input.fields.timestamp", field_timestamp, "published_at",
          "Field holding the publication time, RFC 3339 or epoch ms "
          "(optional)."),
    P_SIZE("input.max_bytes", input_max_bytes, "1MiB", 1 * KiB, 256 * MiB,
           "Larger records are dead-lettered, not processed."),
    P_DUR("input.order_timeout", input_order_timeout_ms, "30s", 0, 86400000,
          "Stream mode takes records of its partitions in event-time order: "
          "a partition known to have records that are not fetched yet is "
          "waited for this long at most, then passed over until its next "
          "record (0: never wait)."),
    P_DUR("input.idle_timeout", input_idle_timeout_ms, "1m", 0, 31536000000.0,
          "A partition with nothing new for this long stops holding the "
          "watermark (and with it eviction) back, until its next record "
          "(Flink's withIdleness)."),
    P_STR("output.topic", output_topic, "articles.clusters",
          "Kafka topic the cluster assignments are published to."),
    P_STR("output.dead_letter_topic", output_dead_letter_topic, "",
          "Topic for records that cannot be processed; empty means "
          "`<input.topic>.dlq`."),
    P_BOOL("normalize.html", norm_html, "true",
           "Drop HTML tags (script and style content too) and decode "
           "entities."),
    P_BOOL("normalize.strip_marks", norm_strip_marks, "true",
           "Drop combining marks (accents, Arabic harakat) so spelling "
           "variants match."),
    P_BOOL("normalize.abbreviations", norm_fold_abbrev, "true",
           "Expand wire abbreviations (mln, pct, dlrs, ...) so wire and "
           "house style match."),
    P_BOOL("normalize.boilerplate.learn", boiler_learn, "true",
           "Learn each source's boilerplate lines from the stream and drop "
           "them."),
    P_INT("normalize.boilerplate.min_clusters", boiler_min_clusters, "3", 1,
          1000,
          "A line counts as boilerplate of its source once seen in this many "
          "distinct clusters."),
    P_BOOL("normalize.boilerplate.builtin", boiler_builtin, "true",
           "Remove the built-in phrases (ad breaks, newsletter, cookie and "
           "subscription prompts)."),
    P_LIST("normalize.boilerplate.phrases", boiler_phrases, "",
           "Extra phrases removed wherever they occur, besides the built-in "
           "ones."),
    P_INT("shingle.size", shingle_k, "5", 1, 16,
          "Words per shingle: smaller matches looser rewrites, larger is "
          "stricter."),
    P_INT("minhash.num_perm", minhash_num_perm, "128", 16, 1024,
          "MinHash signature length, a multiple of 8: longer estimates "
          "better and costs memory and time."),
    P_ENUM("minhash.method", minhash_method, "oph", "oph|mix",
           "`oph`: one-permutation hashing, O(shingles + num_perm); `mix`: "
           "num_perm hash mixes, O(shingles * num_perm), for comparison."),
    P_INT_ANY("minhash.seed", minhash_seed, "1",
              "Hash seed; signatures made with different seeds are not "
              "comparable, so keep it across restarts."),
    P_INT("lsh.bands", lsh_bands, "64", 1, 1024,
          "LSH bands, dividing num_perm: more bands find pairs of lower "
          "similarity at the cost of more candidates."),
    P_INT("lsh.max_candidates", lsh_max_candidates, "64", 1, 100000,
          "Most LSH candidates verified per article."),
    P_BOOL("simhash.enabled", simhash_enabled, "true",
           "Use SimHash (weighted word cosine) as a second signal beside "
           "MinHash."),
    P_INT("simhash.max_distance", simhash_max_distance, "3", 0, 7,
          "Hamming radius, in bits of 64, of the SimHash neighbour lookup."),
    P_BOOL("simhash.idf", simhash_idf, "true",
           "Weight words by inverse document frequency learned from the "
           "stream; false weighs by term frequency only."),
    P_DOUBLE("cluster.threshold", cluster_threshold, "0.35", 0, 1,
             "An article joins the cluster of a match whose estimated "
             "Jaccard similarity is at least this ..."),
    P_DOUBLE("cluster.containment", cluster_containment, "0.7", 0, 1,
             "... or whose estimated containment (share of the smaller "
             "article found in the larger) is at least this."),
    P_INT("cluster.containment_min_shingles", cluster_containment_min_shingles,
          "0", 0, 1e6,
          "Containment counts only when the smaller article has at least "
          "this many shingles (0: no minimum; see "
          "cluster.containment_min_shared)."),
    P_DOUBLE("cluster.cosine", cluster_cosine, "0.9", 0, 1,
             "... or whose SimHash cosine estimate is at least this (when "
             "simhash.enabled)."),
    P_INT("cluster.containment_min_shared", cluster_containment_min_shared,
          "10", 0, 1e6,
          "Containment counts only when the two articles share at least "
          "this many shingles (estimated): a short article needs a higher "
          "share to give the same evidence."),
    P_DOUBLE("cluster.joint_containment", cluster_joint_containment, "0.6",
             0, 1,
             "... or whose estimated containment is at least this while ..."),
    P_DOUBLE("cluster.joint_cosine", cluster_joint_cosine, "0.7", 0, 1,
             "... its SimHash cosine estimate is at least this: two "
             "independent signals agreeing (when simhash.enabled)."),
    P_DOUBLE("cluster.word_cosine", cluster_word_cosine, "0.15", 0, 1,
             "... or whose cosine over the two articles' 64 heaviest tf-idf "
             "words is at least this plus cluster.word_cosine_slope x "
             "ln(1 + shingles of the longer one): a rewritten copy keeps its "
             "source's rare words but few of its phrases (when "
             "simhash.enabled; 1 turns the rule off)."),
    P_DOUBLE("cluster.word_cosine_slope", cluster_word_cosine_slope, "0.04", 0, 1,
             "How fast that bar rises with length: long articles on one "
             "event share more words by chance than short ones."),
    P_DOUBLE("cluster.story_cosine", cluster_story_cosine, "0.15", 0, 1.01,
             "An article that starts a cluster joins the story (story_id) "
             "whose articles are nearest it on average: the mean "
             "64-heaviest-word cosine with the story's newest 16 live "
             "articles, highest and at least the bar, and at least 0.4 x the "
             "story's own cohesion (average linkage: the same event written "
             "independently, without chaining through one shared name). The "
             "bar is this with 200 stories within cluster.story_window, x (1 + "
             "0.2 ln(stories / 200)) within 0.5 ... 2: more stories, more near "
             "misses. Above 1: every cluster is its own story (when "
             "simhash.enabled)."),
    P_DUR("cluster.story_window", cluster_story_window_ms, "24h", 0, 31536000000.0,
          "Event time between an article and the story articles it is "
          "compared with: a story is one day's event (a trial's next day is "
          "the next story); a story with none this near is not joined."),
    P_DUR("index.window", index_window_ms, "72h", 60000, 31536000000.0,
          "Event time an article stays in the similarity memory, measured "
          "back from the watermark; older articles are evicted."),
    P_DUR("index.allowed_lateness", index_allowed_lateness_ms, "1h", 0, 31536000000.0,
          "The watermark trails the newest event time seen by this much; an "
          "article older than the watermark is late (counted, still "
          "answered)."),
    P_INT("index.max_articles", index_max_articles, "2000000", 1, 4e9,
          "Most articles kept in the similarity memory, oldest evicted first "
          "(about 1 KB of memory each)."),
    P_BOOL("state.enabled", state_enabled, "true",
           "Keep the similarity memory across restarts and crashes in "
           "checkpoints (stream mode; file mode when state.dir is set)."),
    P_STR("state.dir", state_dir, "",
          "Checkpoint directory; empty means `wiredup-state` in stream mode "
          "and no checkpoints in file mode."),
    P_DUR("state.checkpoint_interval", state_checkpoint_interval_ms, "60s",
          100, 86400000,
          "Time between checkpoints in stream mode (one is also written at "
          "shutdown)."),
    P_ENUM("log.level", log_level, "info", "debug|info|warn|error",
           "Least severe log level written to stderr."),
    P_STR("metrics.listen", metrics_listen, "127.0.0.1:9464",
          "Address (`host:port`, `[v6]:port`, `:port` for every IPv4 "
          "interface) "
          "serving Prometheus metrics at `/metrics` and liveness at "
          "`/healthz` in stream mode; empty disables. File mode and eval "
          "never serve it."),
    P_DURATION("metrics.health_timeout", metrics_health_timeout_ms, "30s", 1000,
               86400000,
               "`/healthz` answers 503 once the poll loop has not turned for "
               "this long (it turns at least every 100 ms when healthy)."),
    P_INT("pipeline.threads", pipeline_threads, "0", 0, 256,
          "Threads that decode, normalise and fingerprint articles in "
          "parallel, in file mode, stream mode and replay (0: one per CPU "
          "the process may run on; 1: no worker threads). Clustering stays "
          "on one thread in input order, so the output is the same for any "
          "value."),
    P_BOOL("topology.enabled", topology_enabled, "false",
           "Stream mode as one member of a scaled-out topology: every "
           "instance with the same kafka.group.id fingerprints its share of "
           "the input into the internal topic <group.id>.fingerprints, and "
           "one of them, elected through the consumer group "
           "<group.id>.cluster, runs the similarity memory and publishes "
           "every result. Off: one process does everything."),
    P_BOOL("topology.standby", topology_standby, "true",
           "With topology.enabled: while another instance runs the cluster "
           "stage, keep a warm copy of its memory by following the "
           "fingerprints topic and its owner's order records, and join the "
           "election only once caught up, so a failover carries on from "
           "the copy instead of rebuilding it. Costs this instance the "
           "cluster stage's memory and about its CPU. As Kafka Streams' "
           "num.standby.replicas, counted in instances: the standbys are the "
           "instances with it on, less the owner. Off: an instance is "
           "electable at once and a newly elected one rebuilds from the "
           "topic's start."),
};

#define CONF_PROP_CNT (sizeof(conf_props) / sizeof(conf_props[0]))

/* Substrings (case-insensitive) that make a key's value secret: librdkafka's
 * credential properties and the names people copy from Java clients. */
static const char *const conf_secret_words[] = {
    "password",    "secret",  "sasl.oauthbearer.config",
    "ssl.key.pem", "ssl_key", "sasl.jaas.config",
    NULL};

#define KAFKA_PREFIX "kafka."
#define KAFKA_PREFIX_LEN (sizeof(KAFKA_PREFIX) - 1)

/* ==== Private state ==== */

typedef struct conf_priv_s {
  wd_config_t pub; /* first: a wd_config_t * is this allocation */
  char *dlq;       /* "<input.topic>.dlq", for wd_config_dlq_topic */
} conf_priv_t;

/* A parsed value before it is stored; owns s and l until then. */
typedef struct conf_val_s {
  int b;
  int64_t i;
  double d;
  char *s;
  wd_strlist_t l;
} conf_val_t;

static void strlist_free(wd_strlist_t *l) {
  for (size_t i = 0; i < l->cnt; i++)
    wd_free(l->v[i]);
  wd_free(l->v);
  l->v = NULL;
  l->cnt = 0;
}

/* Takes ownership of \p s. */
static void strlist_push(wd_strlist_t *l, char *s) {
  l->v = wd_realloc(l->v, (l->cnt + 1) * sizeof(*l->v));
  l->v[l->cnt++] = s;
}

static void strlist_copy(wd_strlist_t *dst, const wd_strlist_t *src) {
  dst->v = NULL;
  dst->cnt = 0;
  for (size_t i = 0; i < src->cnt; i++)
    strlist_push(dst, wd_strdup(src->v[i]));
}

static void val_free(conf_val_t *v) {
  wd_free(v->s);
  v->s = NULL;
  strlist_free(&v->l);
}

static void *prop_ptr(wd_config_t *cfg, const conf_prop_t *p) {
  return (char *)cfg + p->offset;
}

static const void *prop_cptr(const wd_config_t *cfg, const conf_prop_t *p) {
  return (const char *)cfg + p->offset;
}

static const conf_prop_t *prop_find(const char *name) {
  for (size_t i = 0; i < CONF_PROP_CNT; i++)
    if (strcmp(conf_props[i].name, name) == 0)
      return &conf_props[i];
  return NULL;
}

/* Is \p path a section ("input", "input.fields") of some key? */
static bool is_section(const char *path) {
  size_t n = strlen(path);
  for (size_t i = 0; i < CONF_PROP_CNT; i++)
    if (strncmp(conf_props[i].name, path, n) == 0 &&
        conf_props[i].name[n] == '.')
      return true;
  return false;
}

static bool contains_nocase(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (; *hay; hay++)
    if (strncasecmp(hay, needle, n) == 0)
      return true;
  return false;
}

static bool is_secret(const char *name, bool flag) {
  if (flag)
    return true;
  for (size_t i = 0; conf_secret_words[i]; i++)
    if (contains_nocase(name, conf_secret_words[i]))
      return true;
  return false;
}

/* ==== Number parsing and formatting ==== */

static const char *skip_ws(const char *s) {
  while (*s && isspace((unsigned char)*s))
    s++;
  return s;
}

/* Parse "123" or "1.25" at *pp (no sign, no exponent) into an integer part
 * and a fraction of \p *fd decimal digits (at most 9). */
static int parse_decimal(const char **pp, uint64_t *ip, uint64_t *fp, int *fd) {
  const char *p = *pp;
  uint64_t v = 0;
  if (!isdigit((unsigned char)*p))
    return -1;
  for (; isdigit((unsigned char)*p); p++) {
    if (v > (UINT64_MAX - 9) / 10)
      return -1;
    v = v * 10 + (uint64_t)(*p - '0');
  }
  *ip = v, *fp = 0, *fd = 0;
  if (*p == '.') {
    p++;
    if (!isdigit((unsigned char)*p))
      return -1;
    for (; isdigit((unsigned char)*p); p++) {
      if (*fd == 9)
        return -1;
      *fp = *fp * 10 + (uint64_t)(*p - '0');
      (*fd)++;
    }
  }
  *pp = p;
  return 0;
}

/* (ip + fp / 10^fd) * mult as an exact integer <= INT64_MAX, else -1. */
static int scale_exact(uint64_t ip, uint64_t fp, int fd, uint64_t mult,
                       int64_t *out) {
  uint64_t pow10 = 1;
  for (int i = 0; i < fd; i++)
    pow10 *= 10;
  if (ip && mult > (uint64_t)INT64_MAX / ip)
    return -1;
  uint64_t whole = ip * mult;
  /* fp < 10^9 and every unit multiplier < 2^41, so no overflow here. */
  if (fp && mult > UINT64_MAX / fp)
    return -1;
  uint64_t frac = fp * mult;
  if (frac % pow10)
    return -1; /* not a whole number of bytes / milliseconds */
  frac /= pow10;
  if (whole > (uint64_t)INT64_MAX - frac)
    return -1;
  *out = (int64_t)(whole + frac);
  return 0;
}

typedef struct conf_unit_s {
  const char *name;
  uint64_t mult;
} conf_unit_t;

static const conf_unit_t size_units[] = {{"KiB", 1ULL << 10},
                                         {"MiB", 1ULL << 20},
                                         {"GiB", 1ULL << 30},
                                         {"TiB", 1ULL << 40},
                                         {"KB", 1000ULL},
                                         {"MB", 1000000ULL},
                                         {"GB", 1000000000ULL},
                                         {"TB", 1000000000000ULL},
                                         {"B", 1},
                                         {NULL, 0}};

/* Longest names first where one is a prefix of another ("ms" before "m"). */
static const conf_unit_t duration_units[] = {{"ms", 1},       {"s", 1000},
                                             {"m", 60000},    {"h", 3600000},
                                             {"d", 86400000}, {NULL, 0}};

int wd_config_parse_size(const char *s, int64_t *out) {
  const char *p = skip_ws(s);
  uint64_t ip, fp;
  int fd;
  if (parse_decimal(&p, &ip, &fp, &fd) != 0)
    return -1;
  p = skip_ws(p);
  uint64_t mult = 1;
  bool unit = false;
  if (*p) {
    size_t n = 0;
    while (isalpha((unsigned char)p[n]))
      n++;
    for (const conf_unit_t *u = size_units; u->name && !unit; u++)
      if (n == strlen(u->name) && strncasecmp(p, u->name, n) == 0)
        mult = u->mult, unit = true;
    if (!unit)
      return -1;
    p = skip_ws(p + n);
  }
  if (*p)
    return -1;
  int64_t v;
  if (scale_exact(ip, fp, fd, mult, &v) != 0)
    return -1;
  *out = v;
  return 0;
}

int wd_config_parse_duration_ms(const char *s, int64_t *out_ms) {
  const char *p = skip_ws(s);
  int64_t total = 0;
  int terms = 0;
  while (*p) {
    uint64_t ip, fp;
    int fd;
    if (parse_decimal(&p, &ip, &fp, &fd) != 0)
      return -1;
    const conf_unit_t *unit = NULL;
    for (const conf_unit_t *u = duration_units; u->name && !unit; u++) {
      size_t n = strlen(u->name);
      if (strncmp(p, u->name, n) == 0 && !isalpha((unsigned char)p[n]))
        unit = u;
    }
    if (!unit) {
      /* A bare number means milliseconds, but only on its own: "1h30" is a
       * typo, not 1h + 30ms. */
      if (terms > 0 || fd > 0 || *skip_ws(p))
        return -1;
      if (ip > (uint64_t)INT64_MAX)
        return -1;
      total = (int64_t)ip;
      p = skip_ws(p);
      terms++;
      break;
    }
    p += strlen(unit->name);
    int64_t v;
    if (scale_exact(ip, fp, fd, unit->mult, &v) != 0 || v > INT64_MAX - total)
      return -1;
    total += v;
    terms++;
    p = skip_ws(p);
  }
  if (terms == 0)
    return -1;
  *out_ms = total;
  return 0;
}

int wd_config_parse_listen(const char *listen, char *host, size_t host_cap,
                           uint16_t *port, const char **why) {
  const char *colon, *h = listen;
  size_t hlen;
  if (listen[0] == '[') {
    const char *close = strchr(listen, ']');
    if (!close || close[1] != ':')
      return *why = "expected [IPv6]:port", -1;
    h = listen + 1;
    hlen = (size_t)(close - h);
    colon = close + 1;
  } else {
    colon = strrchr(listen, ':');
    if (!colon)
      return *why = "expected host:port, e.g. 127.0.0.1:9464", -1;
    hlen = (size_t)(colon - listen);
    if (memchr(listen, ':', hlen))
      return *why = "an IPv6 address goes in brackets: [::1]:9464", -1;
  }
  if (hlen + 1 > host_cap)
    return *why = "host name too long", -1;
  const char *p = colon + 1;
  char *end;
  errno = 0;
  long v = strtol(p, &end, 10);
  if (!*p || *end || errno || v < 0 || v > 65535 || *p == '+' || *p == '-' ||
      *p == ' ')
    return *why = "port must be a number 0..65535", -1;
  memcpy(host, h, hlen);
  host[hlen] = '\0';
  *port = (uint16_t)v;
  return 0;
}

const char *wd_config_format_size(char *dst, size_t dst_cap, int64_t v) {
  /* Binary units first: 1048576 reads better as 1MiB than as 1048576B. */
  static const int order[] = {3, 2, 1, 0, 7, 6, 5, 4};
  if (v > 0)
    for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
      const conf_unit_t *u = &size_units[order[k]];
      if ((uint64_t)v % u->mult == 0) {
        snprintf(dst, dst_cap, "%" PRIu64 "%s", (uint64_t)v / u->mult, u->name);
        return dst;
      }
    }
  snprintf(dst, dst_cap, "%" PRId64, v);
  return dst;
}

const char *wd_config_format_duration_ms(char *dst, size_t dst_cap,
                                         int64_t ms) {
  if (ms > 0)
    for (int k = 4; k >= 0; k--) {
      const conf_unit_t *u = &duration_units[k];
      if ((uint64_t)ms % u->mult == 0) {
        snprintf(dst, dst_cap, "%" PRIu64 "%s", (uint64_t)ms / u->mult,
                 u->name);
        return dst;
      }
    }
  snprintf(dst, dst_cap, "%" PRId64, ms);
  return dst;
}

/* Shortest "%g" text that reads back as the same double. */
static const char *format_double(char *dst, size_t dst_cap, double d) {
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(dst, dst_cap, "%.*g", prec, d);
    if (strtod(dst, NULL) == d)
      break;
  }
  return dst;
}

/* A number of \p p's type, for range messages and docs. */
static const char *format_num(char *dst, size_t dst_cap, const conf_prop_t *p,
                              double x) {
  switch (p->type) {
  case CT_SIZE:
    return wd_config_format_size(dst, dst_cap, (int64_t)x);
  case CT_DURATION_MS:
    return wd_config_format_duration_ms(dst, dst_cap, (int64_t)x);
  case CT_DOUBLE:
    return format_double(dst, dst_cap, x);
  default:
    snprintf(dst, dst_cap, "%" PRId64, (int64_t)x);
    return dst;
  }
}

/* ==== Parsing a value ==== */

/* \p s quoted for an error message, shortened so one line stays readable. */
static const char *describe_text(char *dst, size_t dst_cap, const char *s,
                                 bool secret) {
  if (secret) {
    snprintf(dst, dst_cap, "\"***\"");
    return dst;
  }
  size_t k = 0, n = strlen(s);
  const size_t max = 48;
  assert(dst_cap >= 8);
  dst[k++] = '"';
  for (size_t i = 0; i < n && i < max && k + 6 < dst_cap; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\')
      dst[k++] = '\\', dst[k++] = (char)c;
    else if (c < 0x20)
      k += (size_t)snprintf(dst + k, dst_cap - k, "\\x%02x", c);
    else
      dst[k++] = (char)c;
  }
  if (n > max && k + 4 < dst_cap)
    memcpy(dst + k, "...", 3), k += 3;
  dst[k++] = '"';
  dst[k] = '\0';
  return dst;
}

/* A key the user wrote, for the start of an error message: as written, but
 * control bytes as \xNN (a JSON key may hold "\n"; an error is one line). */
static const char *describe_key(char *dst, size_t dst_cap, const char *key) {
  size_t k = 0;
  assert(dst_cap >= 8);
  for (const unsigned char *c = (const unsigned char *)key; *c; c++) {
    if (k + 8 >= dst_cap) {
      memcpy(dst + k, "...", 3), k += 3;
      break;
    }
    if (*c < 0x20 || *c == 0x7f)
      k += (size_t)snprintf(dst + k, dst_cap - k, "\\x%02x", *c);
    else
      dst[k++] = (char)*c;
  }
  dst[k] = '\0';
  return dst;
}

/* What a JSON value is, for "expected X, got Y". */
static const char *describe_json(char *dst, size_t dst_cap, const cJSON *j,
                                 bool secret) {
  if (cJSON_IsString(j))
    return describe_text(dst, dst_cap, j->valuestring, secret);
  if (cJSON_IsNumber(j))
    return format_double(dst, dst_cap, j->valuedouble);
  snprintf(dst, dst_cap, "%s",
           cJSON_IsTrue(j)     ? "true"
           : cJSON_IsFalse(j)  ? "false"
           : cJSON_IsNull(j)   ? "null"
           : cJSON_IsArray(j)  ? "an array"
           : cJSON_IsObject(j) ? "an object"
                               : "an invalid value");
  return dst;
}

static const char *type_expect(const conf_prop_t *p) {
  switch (p->type) {
  case CT_BOOL:
    return "true or false";
  case CT_INT:
    return "an integer";
  case CT_DOUBLE:
    return "a number";
  case CT_STRING:
    return "a string";
  case CT_STRLIST:
    return "a string or an array of strings";
  case CT_DURATION_MS:
    return "a duration (milliseconds, or e.g. 500ms, 30s, 5m, 72h, 7d)";
  case CT_SIZE:
    return "a size (bytes, or e.g. 64KiB, 1MiB, 2GiB, 10MB)";
  case CT_ENUM:
    return "one of";
  }
  return "?";
}

static wd_err_t err_expected(const conf_prop_t *p, const char *got,
                             char *errstr, size_t errstr_size) {
  if (p->type == CT_ENUM)
    wd_errstr_set(errstr, errstr_size, "%s: expected one of %s, got %s",
                  p->name, p->choices, got);
  else
    wd_errstr_set(errstr, errstr_size, "%s: expected %s, got %s", p->name,
                  type_expect(p), got);
  return WD_ERR_CONFIG;
}

static wd_err_t err_expected_text(const conf_prop_t *p, const char *text,
                                  char *errstr, size_t errstr_size) {
  char got[128];
  describe_text(got, sizeof(got), text, p->secret);
  return err_expected(p, got, errstr, errstr_size);
}

static wd_err_t err_expected_json(const conf_prop_t *p, const cJSON *j,
                                  char *errstr, size_t errstr_size) {
  char got[128];
  describe_json(got, sizeof(got), j, p->secret);
  return err_expected(p, got, errstr, errstr_size);
}

static int parse_bool_text(const char *s, int *out) {
  static const char *const yes[] = {"true", "1", "yes", "on", NULL};
  static const char *const no[] = {"false", "0", "no", "off", NULL};
  for (size_t i = 0; yes[i]; i++)
    if (strcasecmp(s, yes[i]) == 0)
      return *out = 1, 0;
  for (size_t i = 0; no[i]; i++)
    if (strcasecmp(s, no[i]) == 0)
      return *out = 0, 0;
  return -1;
}

static int parse_int_text(const char *s, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (end == s || errno || *skip_ws(end) || isspace((unsigned char)*s))
    return -1;
  *out = v;
  return 0;
}

static int parse_double_text(const char *s, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || errno || *skip_ws(end) || isspace((unsigned char)*s) ||
      !isfinite(v))
    return -1;
  *out = v;
  return 0;
}

/* JSON numbers are doubles: integers are exact only up to 2^53. */
static int json_int(const cJSON *j, int64_t *out) {
  const double lim = 9007199254740992.0;
  if (!cJSON_IsNumber(j))
    return -1;
  double d = j->valuedouble;
  if (!isfinite(d) || d != floor(d) || d > lim || d < -lim)
    return -1;
  *out = (int64_t)d;
  return 0;
}

static int enum_match(const conf_prop_t *p, const char *s, char **out) {
  const char *c = p->choices;
  while (*c) {
    size_t n = strcspn(c, "|");
    if (strlen(s) == n && strncasecmp(s, c, n) == 0) {
      *out = wd_strndup(c, n); /* store the table's spelling */
      return 0;
    }
    c += n + (c[n] == '|');
  }
  return -1;
}

static wd_err_t list_from_json(const conf_prop_t *p, const cJSON *j,
                               wd_strlist_t *l, char *errstr,
                               size_t errstr_size) {
  if (cJSON_IsString(j)) {
    WD_RETURN_IF(!*j->valuestring, WD_ERR_CONFIG, errstr, errstr_size,
                 "%s: list items must not be empty", p->name);
    strlist_push(l, wd_strdup(j->valuestring));
    return WD_OK;
  }
  if (!cJSON_IsArray(j))
    return err_expected_json(p, j, errstr, errstr_size);
  const cJSON *it;
  size_t i = 0;
  cJSON_ArrayForEach(it, j) {
    char got[128];
    i++;
    if (!cJSON_IsString(it)) {
      strlist_free(l);
      wd_errstr_set(errstr, errstr_size, "%s: expected %s, item %zu is %s",
                    p->name, type_expect(p), i,
                    describe_json(got, sizeof(got), it, p->secret));
      return WD_ERR_CONFIG;
    }
    if (!*it->valuestring) {
      strlist_free(l);
      wd_errstr_set(errstr, errstr_size,
                    "%s: list items must not be empty (item %zu)", p->name, i);
      return WD_ERR_CONFIG;
    }
    strlist_push(l, wd_strdup(it->valuestring));
  }
  return WD_OK;
}

/* --set form of a list: a JSON array, or comma-separated items. */
static wd_err_t list_from_text(const conf_prop_t *p, const char *s,
                               wd_strlist_t *l, char *errstr,
                               size_t errstr_size) {
  const char *t = skip_ws(s);
  if (*t == '[') {
    cJSON *j = cJSON_Parse(t);
    if (!j)
      return err_expected_text(p, s, errstr, errstr_size);
    wd_err_t err = list_from_json(p, j, l, errstr, errstr_size);
    cJSON_Delete(j);
    return err;
  }
  if (!*t)
    return WD_OK; /* "" is the empty list */
  for (const char *c = t;;) {
    size_t n = strcspn(c, ",");
    const char *b = skip_ws(c), *e = c + n;
    while (e > b && isspace((unsigned char)e[-1]))
      e--;
    if (e == b) {
      char got[128];
      strlist_free(l);
      wd_errstr_set(errstr, errstr_size,
                    "%s: list items must not be empty, got %s", p->name,
                    describe_text(got, sizeof(got), s, p->secret));
      return WD_ERR_CONFIG;
    }
    strlist_push(l, wd_strndup(b, (size_t)(e - b)));
    if (!c[n])
      break;
    c += n + 1;
  }
  return WD_OK;
}

static wd_err_t parse_text(const conf_prop_t *p, const char *s, conf_val_t *v,
                           char *errstr, size_t errstr_size) {
  int rc = 0;
  switch (p->type) {
  case CT_BOOL:
    rc = parse_bool_text(skip_ws(s), &v->b);
    break;
  case CT_INT:
    rc = parse_int_text(s, &v->i);
    break;
  case CT_DOUBLE:
    rc = parse_double_text(s, &v->d);
    break;
  case CT_STRING:
    v->s = wd_strdup(s);
    break;
  case CT_STRLIST:
    return list_from_text(p, s, &v->l, errstr, errstr_size);
  case CT_DURATION_MS:
    rc = wd_config_parse_duration_ms(s, &v->i);
    break;
  case CT_SIZE:
    rc = wd_config_parse_size(s, &v->i);
    break;
  case CT_ENUM:
    rc = enum_match(p, s, &v->s);
    break;
  }
  if (rc != 0)
    return err_expected_text(p, s, errstr, errstr_size);
  return WD_OK;
}

static wd_err_t parse_json(const conf_prop_t *p, const cJSON *j, conf_val_t *v,
                           char *errstr, size_t errstr_size) {
  int rc = -1;
  switch (p->type) {
  case CT_BOOL:
    if (cJSON_IsBool(j))
      v->b = cJSON_IsTrue(j), rc = 0;
    break;
  case CT_INT:
    rc = json_int(j, &v->i);
    break;
  case CT_DOUBLE:
    if (cJSON_IsNumber(j) && isfinite(j->valuedouble))
      v->d = j->valuedouble, rc = 0;
    break;
  case CT_STRING:
    if (cJSON_IsString(j))
      v->s = wd_strdup(j->valuestring), rc = 0;
    break;
  case CT_STRLIST:
    return list_from_json(p, j, &v->l, errstr, errstr_size);
  case CT_DURATION_MS:
  case CT_SIZE:
    /* A string carries a unit ("30s", "1MiB"); a number is ms / bytes. */
    if (cJSON_IsString(j))
      return parse_text(p, j->valuestring, v, errstr, errstr_size);
    if (json_int(j, &v->i) == 0 && v->i >= 0)
      rc = 0;
    break;
  case CT_ENUM:
    if (cJSON_IsString(j))
      rc = enum_match(p, j->valuestring, &v->s);
    break;
  }
  if (rc != 0)
    return err_expected_json(p, j, errstr, errstr_size);
  return WD_OK;
}

static bool is_number_type(conf_type_t t) {
  return t == CT_INT || t == CT_DOUBLE || t == CT_SIZE || t == CT_DURATION_MS;
}

static wd_err_t check_range(const conf_prop_t *p, const conf_val_t *v,
                            char *errstr, size_t errstr_size) {
  if (!p->ranged || !is_number_type(p->type))
    return WD_OK;
  double x = p->type == CT_DOUBLE ? v->d : (double)v->i;
  char a[64], b[64];
  WD_RETURN_IF(x < p->vmin, WD_ERR_CONFIG, errstr, errstr_size,
               "%s: %s is below the minimum %s", p->name,
               format_num(a, sizeof(a), p, x),
               format_num(b, sizeof(b), p, p->vmin));
  WD_RETURN_IF(x > p->vmax, WD_ERR_CONFIG, errstr, errstr_size,
               "%s: %s is above the maximum %s", p->name,
               format_num(a, sizeof(a), p, x),
               format_num(b, sizeof(b), p, p->vmax));
  return WD_OK;
}

/* Moves \p v's owned parts into \p cfg, freeing what they replace. */
static void store(wd_config_t *cfg, const conf_prop_t *p, conf_val_t *v) {
  void *dst = prop_ptr(cfg, p);
  switch (p->type) {
  case CT_BOOL:
    *(int *)dst = v->b;
    break;
  case CT_INT:
  case CT_DURATION_MS:
  case CT_SIZE:
    *(int64_t *)dst = v->i;
    break;
  case CT_DOUBLE:
    *(double *)dst = v->d;
    break;
  case CT_STRING:
  case CT_ENUM:
    wd_free(*(char **)dst);
    *(char **)dst = v->s;
    v->s = NULL;
    break;
  case CT_STRLIST:
    strlist_free((wd_strlist_t *)dst);
    *(wd_strlist_t *)dst = v->l;
    v->l.v = NULL, v->l.cnt = 0;
    break;
  }
}

/* The value in \p cfg as a conf_val_t view (borrowed pointers). */
static void load_val(const wd_config_t *cfg, const conf_prop_t *p,
                     conf_val_t *v) {
  const void *src = prop_cptr(cfg, p);
  memset(v, 0, sizeof(*v));
  switch (p->type) {
  case CT_BOOL:
    v->b = *(const int *)src;
    break;
  case CT_INT:
  case CT_DURATION_MS:
  case CT_SIZE:
    v->i = *(const int64_t *)src;
    break;
  case CT_DOUBLE:
    v->d = *(const double *)src;
    break;
  case CT_STRING:
  case CT_ENUM:
    v->s = *(char *const *)src;
    break;
  case CT_STRLIST:
    v->l = *(const wd_strlist_t *)src;
    break;
  }
}

/* ==== Setting keys ==== */

static void refresh_dlq(conf_priv_t *priv) {
  const char *topic = priv->pub.input_topic ? priv->pub.input_topic : "";
  size_t n = strlen(topic);
  if (priv->dlq && strncmp(priv->dlq, topic, n) == 0 &&
      strcmp(priv->dlq + n, ".dlq") == 0)
    return;
  wd_free(priv->dlq);
  priv->dlq = wd_malloc(n + 5);
  memcpy(priv->dlq, topic, n);
  memcpy(priv->dlq + n, ".dlq", 5);
}

static wd_err_t set_prop_text(wd_config_t *cfg, const conf_prop_t *p,
                              const char *value, char *errstr,
                              size_t errstr_size) {
  conf_val_t v = {0};
  wd_err_t err = parse_text(p, value, &v, errstr, errstr_size);
  if (err == WD_OK && (err = check_range(p, &v, errstr, errstr_size)) == WD_OK)
    store(cfg, p, &v);
  val_free(&v);
  return err;
}

static wd_err_t set_prop_json(wd_config_t *cfg, const conf_prop_t *p,
                              const cJSON *j, char *errstr,
                              size_t errstr_size) {
  conf_val_t v = {0};
  wd_err_t err = parse_json(p, j, &v, errstr, errstr_size);
  if (err == WD_OK && (err = check_range(p, &v, errstr, errstr_size)) == WD_OK)
    store(cfg, p, &v);
  val_free(&v);
  return err;
}

/* \p key is the full "kafka.<property>" key, named in errors. */
static wd_err_t set_kafka(wd_config_t *cfg, const char *key, const char *value,
                          char *errstr, size_t errstr_size) {
  const char *name = key + KAFKA_PREFIX_LEN;
  WD_RETURN_IF(!*name, WD_ERR_CONFIG, errstr, errstr_size,
               "%s: empty librdkafka property name (use kafka.<property>)",
               key);
  for (size_t i = 0; i < cfg->kafka_keys.cnt; i++)
    if (strcmp(cfg->kafka_keys.v[i], name) == 0) {
      wd_free(cfg->kafka_values.v[i]);
      cfg->kafka_values.v[i] = wd_strdup(value);
      return WD_OK;
    }
  strlist_push(&cfg->kafka_keys, wd_strdup(name));
  strlist_push(&cfg->kafka_values, wd_strdup(value));
  return WD_OK;
}

static bool is_kafka_key(const char *key) {
  return strncmp(key, KAFKA_PREFIX, KAFKA_PREFIX_LEN) == 0;
}

/* Edit distance, for "did you mean"; SIZE_MAX when a name is too long. */
static size_t edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  size_t row[128];
  if (la >= 128 || lb >= 128)
    return SIZE_MAX;
  for (size_t j = 0; j <= lb; j++)
    row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t up = row[j];
      size_t best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best)
        best = up + 1;
      if (row[j - 1] + 1 < best)
        best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[lb];
}

static wd_err_t err_unknown(const char *raw_key, char *errstr, size_t errstr_size) {
  char key[160];
  describe_key(key, sizeof(key), raw_key);
  const conf_prop_t *best = NULL;
  size_t best_d = 4; /* further than 3 edits is a different key */
  for (size_t i = 0; i < CONF_PROP_CNT; i++) {
    size_t d = edit_distance(key, conf_props[i].name);
    if (d < best_d)
      best_d = d, best = &conf_props[i];
  }
  if (!*key)
    wd_errstr_set(errstr, errstr_size,
                  "\"\": unknown configuration key (empty name)");
  else if (is_section(key))
    wd_errstr_set(errstr, errstr_size,
                  "%s: unknown configuration key (a section: set one of its "
                  "keys, e.g. %s.<name>)",
                  key, key);
  else if (best)
    wd_errstr_set(errstr, errstr_size,
                  "%s: unknown configuration key (did you mean %s?)", key,
                  best->name);
  else
    wd_errstr_set(errstr, errstr_size, "%s: unknown configuration key", key);
  return WD_ERR_CONFIG;
}

wd_err_t wd_config_set(wd_config_t *cfg, const char *key, const char *value,
                       char *errstr, size_t errstr_size) {
  wd_err_t err;
  if (is_kafka_key(key)) {
    err = set_kafka(cfg, key, value, errstr, errstr_size);
  } else {
    const conf_prop_t *p = prop_find(key);
    if (!p && strcmp(key, "kafka") == 0) {
      wd_errstr_set(errstr, errstr_size,
                    "kafka: set librdkafka properties as kafka.<property>");
      return WD_ERR_CONFIG;
    }
    if (!p)
      return err_unknown(key, errstr, errstr_size);
    err = set_prop_text(cfg, p, value, errstr, errstr_size);
  }
  if (err == WD_OK)
    refresh_dlq((conf_priv_t *)cfg);
  return err;
}

wd_err_t wd_config_set_arg(wd_config_t *cfg, const char *arg, char *errstr,
                           size_t errstr_size) {
  const char *eq = strchr(arg, '=');
  char shown[160];
  WD_RETURN_IF(!eq, WD_ERR_CONFIG, errstr, errstr_size,
               "%s: --set expects KEY=VALUE", describe_key(shown, sizeof(shown), arg));
  if (eq == arg) {
    char got[128];
    wd_errstr_set(errstr, errstr_size, "--set %s: empty key",
                  describe_text(got, sizeof(got), arg, false));
    return WD_ERR_CONFIG;
  }
  char *key = wd_strndup(arg, (size_t)(eq - arg));
  wd_err_t err = wd_config_set(cfg, key, eq + 1, errstr, errstr_size);
  wd_free(key);
  return err;
}

/* ==== Lifecycle ==== */

void wd_config_destroy(wd_config_t *cfg) {
  if (!cfg)
    return;
  for (size_t i = 0; i < CONF_PROP_CNT; i++) {
    const conf_prop_t *p = &conf_props[i];
    if (p->type == CT_STRING || p->type == CT_ENUM)
      wd_free(*(char **)prop_ptr(cfg, p));
    else if (p->type == CT_STRLIST)
      strlist_free((wd_strlist_t *)prop_ptr(cfg, p));
  }
  strlist_free(&cfg->kafka_keys);
  strlist_free(&cfg->kafka_values);
  conf_priv_t *priv = (conf_priv_t *)cfg;
  wd_free(priv->dlq);
  wd_free(priv);
}

wd_config_t *wd_config_new(void) {
  conf_priv_t *priv = wd_calloc(1, sizeof(*priv));
  wd_config_t *cfg = &priv->pub;
  for (size_t i = 0; i < CONF_PROP_CNT; i++) {
    char errstr[256];
    const conf_prop_t *p = &conf_props[i];
    if (set_prop_text(cfg, p, p->dflt, errstr, sizeof(errstr)) != WD_OK) {
      /* A bug in the table, caught by test_config; say so, never abort. */
      char quoted[300];
      WD_LOG(WD_LOG_ERROR, "bad built-in configuration default", "error=%s",
             wd_log_quote(quoted, sizeof(quoted), errstr));
      wd_config_destroy(cfg);
      return NULL;
    }
  }
  refresh_dlq(priv);
  return cfg;
}

/* A deep copy, so a file can be applied all-or-nothing. */
static wd_config_t *config_clone(const wd_config_t *src) {
  conf_priv_t *priv = wd_calloc(1, sizeof(*priv));
  wd_config_t *cfg = &priv->pub;
  for (size_t i = 0; i < CONF_PROP_CNT; i++) {
    const conf_prop_t *p = &conf_props[i];
    conf_val_t v;
    load_val(src, p, &v);
    if (p->type == CT_STRING || p->type == CT_ENUM)
      v.s = v.s ? wd_strdup(v.s) : NULL;
    else if (p->type == CT_STRLIST) {
      wd_strlist_t borrowed = v.l;
      strlist_copy(&v.l, &borrowed);
    }
    store(cfg, p, &v);
  }
  strlist_copy(&cfg->kafka_keys, &src->kafka_keys);
  strlist_copy(&cfg->kafka_values, &src->kafka_values);
  return cfg;
}

/* ==== JSON files ==== */

static wd_err_t kafka_from_json(wd_config_t *cfg, const char *key,
                                const cJSON *j, char *errstr,
                                size_t errstr_size) {
  char num[64];
  const char *value;
  if (cJSON_IsString(j)) {
    value = j->valuestring;
  } else if (cJSON_IsBool(j)) {
    value = cJSON_IsTrue(j) ? "true" : "false";
  } else if (cJSON_IsNumber(j) && isfinite(j->valuedouble)) {
    int64_t i;
    value = json_int(j, &i) == 0
                ? (snprintf(num, sizeof(num), "%" PRId64, i), num)
                : format_double(num, sizeof(num), j->valuedouble);
  } else {
    char got[64], shown[160];
    wd_errstr_set(errstr, errstr_size,
                  "%s: expected a string, number or boolean, got %s",
                  describe_key(shown, sizeof(shown), key),
                  describe_json(got, sizeof(got), j, true));
    return WD_ERR_CONFIG;
  }
  return set_kafka(cfg, key, value, errstr, errstr_size);
}

/* Apply the members of object \p obj found at dotted \p prefix ("" at the
 * top). Member names may themselves be dotted ("lsh.bands"). */
static wd_err_t apply_object(wd_config_t *cfg, const cJSON *obj,
                             const char *prefix, char *errstr,
                             size_t errstr_size) {
  const cJSON *it;
  wd_buf_t path = WD_BUF_INIT;
  wd_err_t err = WD_OK;
  cJSON_ArrayForEach(it, obj) {
    char got[64];
    wd_buf_clear(&path);
    if (*prefix)
      wd_buf_printf(&path, "%s.", prefix);
    wd_buf_appends(&path, it->string ? it->string : "");
    const char *key = path.p;
    const conf_prop_t *p;

    if (strcmp(key, "kafka") == 0 || is_kafka_key(key)) {
      /* Everything under "kafka" is librdkafka's: nested objects join with
       * dots, leaves pass through as text. */
      if (cJSON_IsObject(it))
        err = apply_object(cfg, it, key, errstr, errstr_size);
      else if (strcmp(key, "kafka") == 0) {
        wd_errstr_set(errstr, errstr_size,
                      "kafka: expected an object of librdkafka properties, "
                      "got %s",
                      describe_json(got, sizeof(got), it, true));
        err = WD_ERR_CONFIG;
      } else
        err = kafka_from_json(cfg, key, it, errstr, errstr_size);
    } else if ((p = prop_find(key))) {
      err = set_prop_json(cfg, p, it, errstr, errstr_size);
    } else if (cJSON_IsObject(it) && (is_section(key) || it->child)) {
      /* Descend even into an unknown section, so the error names the full
       * key the user wrote ("input.fieldz.id"). */
      err = apply_object(cfg, it, key, errstr, errstr_size);
    } else if (is_section(key)) {
      wd_errstr_set(errstr, errstr_size, "%s: expected an object, got %s", key,
                    describe_json(got, sizeof(got), it, false));
      err = WD_ERR_CONFIG;
    } else {
      err = err_unknown(key, errstr, errstr_size);
    }
    if (err != WD_OK)
      break;
  }
  wd_buf_free(&path);
  return err;
}

/* Line and column (1-based, in characters) of byte \p off of \p text. */
static void line_col(const char *text, size_t off, int *line, int *col) {
  *line = 1, *col = 1;
  for (size_t i = 0; i < off; i++) {
    unsigned char c = (unsigned char)text[i];
    if (c == '\n')
      (*line)++, *col = 1;
    else if ((c & 0xc0) != 0x80) /* count UTF-8 lead bytes only */
      (*col)++;
  }
}

/* cJSON reports a bad object key one byte late ({"a": 1, x} points past the
 * x). Move back when the byte before \p off sits where a key belongs: inside
 * an object, after '{' or ','. */
static size_t json_error_offset(const char *text, size_t off) {
  char stack[64];
  size_t depth = 0, overflow = 0;
  bool in_str = false;
  if (off == 0)
    return 0;
  size_t q = off - 1;
  for (size_t i = 0; i < q; i++) {
    char c = text[i];
    if (in_str) {
      if (c == '\\' && i + 1 < q)
        i++;
      else if (c == '"')
        in_str = false;
    } else if (c == '"') {
      in_str = true;
    } else if (c == '{' || c == '[') {
      if (depth < sizeof(stack))
        stack[depth++] = c;
      else
        overflow++;
    } else if (c == '}' || c == ']') {
      if (overflow)
        overflow--;
      else if (depth)
        depth--;
    }
  }
  if (in_str || overflow || depth == 0 || stack[depth - 1] != '{' ||
      text[q] == '"' || isspace((unsigned char)text[q]))
    return off;
  size_t k = q;
  while (k > 0 && isspace((unsigned char)text[k - 1]))
    k--;
  return k > 0 && (text[k - 1] == '{' || text[k - 1] == ',') ? q : off;
}

static wd_err_t load_json_named(wd_config_t *cfg, const char *name,
                                const char *json, size_t json_len, char *errstr,
                                size_t errstr_size) {
  /* cJSON wants a NUL-terminated buffer to detect trailing garbage. */
  const char *nul = memchr(json, '\0', json_len);
  size_t bom = json_len >= 3 && memcmp(json, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
  char *text = wd_strndup(json + bom, json_len - bom);
  const char *end = NULL;
  cJSON *root = NULL;
  wd_config_t *tmp = NULL;
  wd_err_t err = WD_OK;

  if (nul) {
    int line, col;
    line_col(json, (size_t)(nul - json), &line, &col);
    wd_errstr_set(errstr, errstr_size, "%s:%d:%d: invalid JSON: NUL byte", name,
                  line, col);
    err = WD_ERR_CONFIG;
    goto done;
  }
  root = cJSON_ParseWithLengthOpts(text, json_len - bom + 1, &end, 1);
  if (!root) {
    size_t off = end ? json_error_offset(text, (size_t)(end - text)) : 0;
    int line, col;
    char near[64];
    line_col(text, off, &line, &col);
    if (off >= json_len - bom || !*skip_ws(text)) {
      wd_errstr_set(errstr, errstr_size,
                    "%s:%d:%d: invalid JSON: unexpected end of input", name,
                    line, col);
    } else {
      /* Quote up to 16 bytes of the offending line. */
      size_t n = strcspn(text + off, "\r\n");
      char frag[17];
      n = n < 16 ? n : 16;
      memcpy(frag, text + off, n);
      frag[n] = '\0';
      wd_errstr_set(errstr, errstr_size, "%s:%d:%d: invalid JSON near %s", name,
                    line, col, describe_text(near, sizeof(near), frag, false));
    }
    err = WD_ERR_CONFIG;
    goto done;
  }
  if (!cJSON_IsObject(root)) {
    char got[64];
    wd_errstr_set(errstr, errstr_size,
                  "%s: expected a JSON object at the top level, got %s", name,
                  describe_json(got, sizeof(got), root, false));
    err = WD_ERR_CONFIG;
    goto done;
  }
  tmp = config_clone(cfg);
  if ((err = apply_object(tmp, root, "", errstr, errstr_size)) != WD_OK)
    goto done;
  /* All applied: swap the new values in; tmp takes the old ones away. */
  wd_config_t old = *cfg;
  *cfg = *tmp;
  *tmp = old;
  refresh_dlq((conf_priv_t *)cfg);

done:
  wd_config_destroy(tmp);
  cJSON_Delete(root);
  wd_free(text);
  return err;
}

wd_err_t wd_config_load_json(wd_config_t *cfg, const char *json,
                             size_t json_len, char *errstr,
                             size_t errstr_size) {
  return load_json_named(cfg, "<json>", json, json_len, errstr, errstr_size);
}

wd_err_t wd_config_load_file(wd_config_t *cfg, const char *path, char *errstr,
                             size_t errstr_size) {
  const size_t max_len = 16u << 20; /* a config, not a data file */
  wd_buf_t b = WD_BUF_INIT;
  char chunk[8192];
  size_t n;
  FILE *fp = fopen(path, "rb");
  WD_RETURN_IF(!fp, WD_ERR_CONFIG, errstr, errstr_size, "%s: cannot open: %s",
               path, strerror(errno));
  while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0 && b.len <= max_len)
    wd_buf_append(&b, chunk, n);
  int rd_err = ferror(fp) ? errno : 0;
  fclose(fp);
  wd_err_t err;
  if (rd_err) {
    wd_errstr_set(errstr, errstr_size, "%s: cannot read: %s", path,
                  strerror(rd_err));
    err = WD_ERR_CONFIG;
  } else if (b.len > max_len) {
    wd_errstr_set(errstr, errstr_size, "%s: too large for a config file", path);
    err = WD_ERR_CONFIG;
  } else {
    err =
        load_json_named(cfg, path, b.p ? b.p : "", b.len, errstr, errstr_size);
  }
  wd_buf_free(&b);
  return err;
}

/* ==== Validation and queries ==== */

wd_err_t wd_config_validate(const wd_config_t *cfg, char *errstr,
                            size_t errstr_size) {
  /* Per-key checks again: code may have written fields directly. */
  for (size_t i = 0; i < CONF_PROP_CNT; i++) {
    const conf_prop_t *p = &conf_props[i];
    conf_val_t v;
    load_val(cfg, p, &v);
    WD_FORWARD_IF_ERR(check_range(p, &v, errstr, errstr_size));
    if (p->type == CT_DOUBLE)
      WD_RETURN_IF(!isfinite(v.d), WD_ERR_CONFIG, errstr, errstr_size,
                   "%s: must be a finite number", p->name);
    if (p->type == CT_STRING || p->type == CT_ENUM)
      WD_RETURN_IF(!v.s, WD_ERR_CONFIG, errstr, errstr_size, "%s: not set",
                   p->name);
    if (p->type == CT_ENUM) {
      char *canon = NULL;
      int rc = enum_match(p, v.s, &canon);
      wd_free(canon);
      WD_RETURN_IF(rc != 0, WD_ERR_CONFIG, errstr, errstr_size,
                   "%s: expected one of %s, got \"%s\"", p->name, p->choices,
                   v.s);
    }
  }
  WD_RETURN_IF(cfg->field_text.cnt == 0, WD_ERR_CONFIG, errstr, errstr_size,
               "input.fields.text: must name at least one field");
  for (size_t i = 0; i < cfg->field_text.cnt; i++)
    WD_RETURN_IF(!*cfg->field_text.v[i], WD_ERR_CONFIG, errstr, errstr_size,
                 "input.fields.text: field names must not be empty");
  WD_RETURN_IF(!*cfg->field_id, WD_ERR_CONFIG, errstr, errstr_size,
               "input.fields.id: must not be empty");
  WD_RETURN_IF(cfg->shingle_k < 1 || cfg->shingle_k > 16, WD_ERR_CONFIG, errstr,
               errstr_size, "shingle.size: must be 1..16, got %" PRId64,
               cfg->shingle_k);
  WD_RETURN_IF(cfg->minhash_num_perm % 8 != 0, WD_ERR_CONFIG, errstr,
               errstr_size,
               "minhash.num_perm: must be a multiple of 8, got %" PRId64,
               cfg->minhash_num_perm);
  WD_RETURN_IF(
      cfg->lsh_bands < 1 || cfg->minhash_num_perm % cfg->lsh_bands != 0,
      WD_ERR_CONFIG, errstr, errstr_size,
      "lsh.bands: must divide minhash.num_perm (%" PRId64 "), got %" PRId64,
      cfg->minhash_num_perm, cfg->lsh_bands);
  const struct {
    const char *name;
    double v;
  } unit[] = {{"cluster.threshold", cfg->cluster_threshold},
              {"cluster.containment", cfg->cluster_containment},
              {"cluster.cosine", cfg->cluster_cosine},
              {"cluster.joint_containment", cfg->cluster_joint_containment},
              {"cluster.joint_cosine", cfg->cluster_joint_cosine},
              {"cluster.word_cosine", cfg->cluster_word_cosine}};
  for (size_t i = 0; i < sizeof(unit) / sizeof(unit[0]); i++)
    WD_RETURN_IF(!(unit[i].v >= 0 && unit[i].v <= 1), WD_ERR_CONFIG, errstr,
                 errstr_size, "%s: must be in [0,1], got %g", unit[i].name,
                 unit[i].v);
  if (*cfg->metrics_listen) {
    char host[256];
    uint16_t port;
    const char *why = NULL;
    WD_RETURN_IF(wd_config_parse_listen(cfg->metrics_listen, host,
                                        sizeof(host), &port, &why) != 0,
                 WD_ERR_CONFIG, errstr, errstr_size,
                 "metrics.listen: \"%s\": %s", cfg->metrics_listen, why);
  }
  return WD_OK;
}

const char *wd_config_state_dir(const wd_config_t *cfg, int stream) {
  if (!cfg->state_enabled)
    return NULL;
  if (cfg->state_dir && *cfg->state_dir)
    return cfg->state_dir;
  return stream ? "wiredup-state" : NULL;
}

const char *wd_config_kafka_get(const wd_config_t *cfg,
                                const char *rdkafka_key) {
  for (size_t i = 0; i < cfg->kafka_keys.cnt; i++)
    if (strcmp(cfg->kafka_keys.v[i], rdkafka_key) == 0)
      return cfg->kafka_values.v[i];
  return NULL;
}

const char *wd_config_dlq_topic(const wd_config_t *cfg) {
  if (cfg->output_dead_letter_topic && *cfg->output_dead_letter_topic)
    return cfg->output_dead_letter_topic;
  /* set/load keep the cache current; this catches direct field edits. */
  conf_priv_t *priv = (conf_priv_t *)(uintptr_t)cfg;
  refresh_dlq(priv);
  return priv->dlq;
}

/* ==== Printing ==== */

static void json_str(wd_buf_t *b, const char *s) {
  wd_buf_appendc(b, '"');
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    switch (*c) {
    case '"':
      wd_buf_appends(b, "\\\"");
      break;
    case '\\':
      wd_buf_appends(b, "\\\\");
      break;
    case '\n':
      wd_buf_appends(b, "\\n");
      break;
    case '\r':
      wd_buf_appends(b, "\\r");
      break;
    case '\t':
      wd_buf_appends(b, "\\t");
      break;
    default:
      if (*c < 0x20)
        wd_buf_printf(b, "\\u%04x", *c);
      else
        wd_buf_appendc(b, (char)*c);
    }
  }
  wd_buf_appendc(b, '"');
}

/* A sized or timed value: its unit form as a string, or a plain number. */
static void json_unit(wd_buf_t *b, const char *text) {
  if (text[strspn(text, "0123456789-")] == '\0')
    wd_buf_appends(b, text);
  else
    json_str(b, text);
}

/* \p p's value in \p cfg as JSON text. */
static void json_value(wd_buf_t *b, const wd_config_t *cfg,
                       const conf_prop_t *p) {
  conf_val_t v;
  char tmp[64];
  load_val(cfg, p, &v);
  if (is_secret(p->name, p->secret) && ((v.s && *v.s) || v.l.cnt)) {
    json_str(b, "***");
    return;
  }
  switch (p->type) {
  case CT_BOOL:
    wd_buf_appends(b, v.b ? "true" : "false");
    break;
  case CT_INT:
    wd_buf_printf(b, "%" PRId64, v.i);
    break;
  case CT_DOUBLE:
    wd_buf_appends(b, format_double(tmp, sizeof(tmp), v.d));
    break;
  case CT_STRING:
  case CT_ENUM:
    json_str(b, v.s ? v.s : "");
    break;
  case CT_SIZE:
    json_unit(b, wd_config_format_size(tmp, sizeof(tmp), v.i));
    break;
  case CT_DURATION_MS:
    json_unit(b, wd_config_format_duration_ms(tmp, sizeof(tmp), v.i));
    break;
  case CT_STRLIST:
    wd_buf_appendc(b, '[');
    for (size_t i = 0; i < v.l.cnt; i++) {
      if (i)
        wd_buf_appends(b, ", ");
      json_str(b, v.l.v[i]);
    }
    wd_buf_appendc(b, ']');
    break;
  }
}

/* A pretty-printer for nested objects: depth and whether the current
 * object has members yet (for commas and "{}"). */
#define PJ_MAX_DEPTH 16
typedef struct pj_s {
  wd_buf_t *b;
  int depth;
  bool nonempty[PJ_MAX_DEPTH];
} pj_t;

static void pj_key(pj_t *pj, const char *name, size_t name_len) {
  if (pj->nonempty[pj->depth])
    wd_buf_appendc(pj->b, ',');
  pj->nonempty[pj->depth] = true;
  wd_buf_appendc(pj->b, '\n');
  for (int i = 0; i < pj->depth; i++)
    wd_buf_appends(pj->b, "  ");
  char *n = wd_strndup(name, name_len);
  json_str(pj->b, n);
  wd_free(n);
  wd_buf_appends(pj->b, ": ");
}

static void pj_open(pj_t *pj, const char *name, size_t name_len) {
  pj_key(pj, name, name_len);
  wd_buf_appendc(pj->b, '{');
  pj->depth++;
  pj->nonempty[pj->depth] = false;
}

static void pj_close(pj_t *pj) {
  bool had = pj->nonempty[pj->depth];
  pj->depth--;
  if (had) {
    wd_buf_appendc(pj->b, '\n');
    for (int i = 0; i < pj->depth; i++)
      wd_buf_appends(pj->b, "  ");
  }
  wd_buf_appendc(pj->b, '}');
}

void wd_config_print(const wd_config_t *cfg, FILE *fp) {
  wd_buf_t b = WD_BUF_INIT;
  pj_t pj = {.b = &b, .depth = 1, .nonempty = {false}};
  /* Sections open now, as "input.fields." style prefixes of open_len. */
  const char *open_name = "";
  size_t open_len = 0;

  wd_buf_appendc(&b, '{');
  for (size_t i = 0; i < CONF_PROP_CNT; i++) {
    const conf_prop_t *p = &conf_props[i];
    const char *leaf = strrchr(p->name, '.');
    size_t sect_len = leaf ? (size_t)(leaf - p->name) + 1 : 0;
    /* Common prefix with the open sections, on whole segments. */
    size_t common = 0;
    for (size_t k = 0;
         k < open_len && k < sect_len && open_name[k] == p->name[k]; k++)
      if (p->name[k] == '.')
        common = k + 1;
    for (size_t k = common; k < open_len; k++)
      if (open_name[k] == '.')
        pj_close(&pj);
    for (size_t k = common, start = common; k < sect_len; k++)
      if (p->name[k] == '.') {
        assert(pj.depth + 1 < PJ_MAX_DEPTH);
        pj_open(&pj, p->name + start, k - start);
        start = k + 1;
      }
    open_name = p->name, open_len = sect_len;
    const char *leaf_name = p->name + sect_len;
    pj_key(&pj, leaf_name, strlen(leaf_name));
    json_value(&b, cfg, p);
  }
  for (size_t k = 0; k < open_len; k++)
    if (open_name[k] == '.')
      pj_close(&pj);

  pj_open(&pj, "kafka", 5);
  for (size_t i = 0; i < cfg->kafka_keys.cnt; i++) {
    const char *k = cfg->kafka_keys.v[i];
    pj_key(&pj, k, strlen(k));
    json_str(&b, is_secret(k, false) && *cfg->kafka_values.v[i]
                     ? "***"
                     : cfg->kafka_values.v[i]);
  }
  pj_close(&pj);
  wd_buf_appends(&b, "\n}\n");
  fwrite(b.p, 1, b.len, fp);
  wd_buf_free(&b);
}

/* ==== Reference documentation ==== */

/* Markdown table cell text: '|' would end the cell. */
static void md_cell(wd_buf_t *b, const char *s) {
  for (; *s; s++) {
    if (*s == '|')
      wd_buf_appendc(b, '\\');
    wd_buf_appendc(b, *s);
  }
}

static void md_type(wd_buf_t *b, const conf_prop_t *p) {
  static const char *const names[] = {
      [CT_BOOL] = "bool",           [CT_INT] = "integer",
      [CT_DOUBLE] = "number",       [CT_STRING] = "string",
      [CT_STRLIST] = "string list", [CT_DURATION_MS] = "duration",
      [CT_SIZE] = "size",           [CT_ENUM] = "enum"};
  wd_buf_appends(b, names[p->type]);
  if (p->ranged && is_number_type(p->type)) {
    char lo[64], hi[64];
    wd_buf_printf(b, " %s..%s", format_num(lo, sizeof(lo), p, p->vmin),
                  format_num(hi, sizeof(hi), p, p->vmax));
  }
  if (p->type == CT_ENUM) {
    wd_buf_appendc(b, ' ');
    md_cell(b, p->choices);
  }
}

void wd_config_doc_markdown(FILE *fp) {
  wd_config_t *dflt = wd_config_new();
  wd_buf_t b = WD_BUF_INIT, v = WD_BUF_INIT;
  wd_buf_appends(&b,
                 "<!-- Generated from pipeline/config.c by `wiredup config "
                 "--doc` (scripts/gen-config-doc.sh). Edit the table there. "
                 "-->\n\n"
                 "| key | type | default | meaning |\n"
                 "|---|---|---|---|\n");
  for (size_t i = 0; dflt && i < CONF_PROP_CNT; i++) {
    const conf_prop_t *p = &conf_props[i];
    wd_buf_printf(&b, "| `%s` | ", p->name);
    md_type(&b, p);
    wd_buf_appends(&b, " | `");
    wd_buf_clear(&v);
    json_value(&v, dflt, p);
    md_cell(&b, v.p);
    wd_buf_appends(&b, "` | ");
    md_cell(&b, p->doc);
    if (p->secret)
      wd_buf_appends(&b, " Secret: printed as `\"***\"`.");
    wd_buf_appends(&b, " |\n");
  }
  wd_buf_appends(
      &b,
      "| `kafka.<property>` | string | | Passed to librdkafka unchanged, "
      "e.g. `kafka.bootstrap.servers`; in the file, "
      "`{\"kafka\": {\"bootstrap.servers\": \"...\"}}`. Values of keys "
      "naming a password, secret or private key are printed as `\"***\"`. "
      "|\n"
      "\n"
      "In the JSON file, nested objects spell the dotted key "
      "(`{\"lsh\": {\"bands\": 16}}`) and a dotted name works at any level "
      "(`{\"lsh.bands\": 16}`). Sizes are bytes or a number with a unit: "
      "`64KiB`, `1MiB`, `2GiB` (powers of 1024) or `10MB` (powers of 1000). "
      "Durations are milliseconds or `500ms`, `30s`, `5m`, `72h`, `7d`. A "
      "string list also accepts a single string; with `--set` it is a JSON "
      "array or a comma-separated list. Booleans with `--set`: "
      "`true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`.\n");
  fwrite(b.p, 1, b.len, fp);
  wd_buf_free(&v);
  wd_buf_free(&b);
  wd_config_destroy(dflt);
}
