/* config.h - the effective configuration: one table drives parsing, defaults,
 * validation, `config --print` and docs/configuration.md (librdkafka's
 * rdkafka_conf.c property table is the model).
 *
 * Sources, later wins: built-in defaults, the JSON file (-c), then --set
 * KEY=VALUE overrides. The JSON file nests objects by the dotted key path
 * ({"lsh": {"bands": 32}} sets lsh.bands); under "kafka" the rest of the key is
 * passed to librdkafka untouched ({"kafka": {"bootstrap.servers": "..."}}).
 * Unknown keys and bad values fail with WD_ERR_CONFIG and an errstr that starts
 * with the key: "lsh.bands: must divide minhash.num_perm (128)".
 *
 * The value parsers and formatters (sizes, durations, the metrics.listen
 * address) are public, for the modules that take such values.
 */
#ifndef WD_CONFIG_H
#define WD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "wiredup/err.h"

/** A list of strings (owned by the config). */
typedef struct wd_strlist_s {
  char **v;
  size_t cnt;
} wd_strlist_t;

typedef struct wd_config_s {
  /* input */
  char *input_topic;            /**< input.topic */
  char *field_id;               /**< input.fields.id */
  wd_strlist_t field_text;      /**< input.fields.text (one or several fields, joined) */
  char *field_title;            /**< input.fields.title */
  char *field_source;           /**< input.fields.source */
  char *field_timestamp;        /**< input.fields.timestamp */
  int64_t input_max_bytes;      /**< input.max_bytes */
  int64_t input_order_timeout_ms; /**< input.order_timeout */
  int64_t input_idle_timeout_ms;  /**< input.idle_timeout */
  /* output */
  char *output_topic;           /**< output.topic */
  char *output_dead_letter_topic; /**< output.dead_letter_topic ("" = <input.topic>.dlq) */
  /* normalise */
  int norm_html;                /**< normalize.html */
  int norm_strip_marks;         /**< normalize.strip_marks */
  int norm_fold_abbrev;         /**< normalize.abbreviations */
  int boiler_learn;             /**< normalize.boilerplate.learn */
  int64_t boiler_min_clusters;  /**< normalize.boilerplate.min_clusters */
  wd_strlist_t boiler_phrases;  /**< normalize.boilerplate.phrases (extra, beside built-ins) */
  int boiler_builtin;           /**< normalize.boilerplate.builtin */
  /* fingerprints */
  int64_t shingle_k;            /**< shingle.size */
  int64_t minhash_num_perm;     /**< minhash.num_perm */
  char *minhash_method;         /**< minhash.method: "oph" | "mix" */
  int64_t minhash_seed;         /**< minhash.seed */
  int64_t lsh_bands;            /**< lsh.bands */
  int64_t lsh_max_candidates;   /**< lsh.max_candidates */
  int simhash_enabled;          /**< simhash.enabled */
  int64_t simhash_max_distance; /**< simhash.max_distance */
  int simhash_idf;              /**< simhash.idf */
  /* decision */
  double cluster_threshold;     /**< cluster.threshold: estimated Jaccard */
  double cluster_containment;   /**< cluster.containment: estimated containment */
  int64_t cluster_containment_min_shingles; /**< cluster.containment_min_shingles */
  double cluster_cosine;        /**< cluster.cosine: SimHash-estimated weighted cosine */
  int64_t cluster_containment_min_shared; /**< cluster.containment_min_shared */
  double cluster_joint_containment; /**< cluster.joint_containment */
  double cluster_joint_cosine;  /**< cluster.joint_cosine */
  double cluster_word_cosine;   /**< cluster.word_cosine */
  double cluster_word_cosine_slope; /**< cluster.word_cosine_slope */
  double cluster_story_cosine;  /**< cluster.story_cosine */
  int64_t cluster_story_window_ms; /**< cluster.story_window */
  /* similarity memory */
  int64_t index_window_ms;      /**< index.window */
  int64_t index_allowed_lateness_ms; /**< index.allowed_lateness */
  int64_t index_max_articles;   /**< index.max_articles */
  int state_enabled;            /**< state.enabled */
  char *state_dir;              /**< state.dir ("" = wiredup-state in stream mode, none in file mode) */
  int64_t state_checkpoint_interval_ms; /**< state.checkpoint_interval */
  /* logging */
  char *log_level;              /**< log.level */
  /* observability */
  char *metrics_listen;         /**< metrics.listen: host:port, "" = off */
  int64_t metrics_health_timeout_ms; /**< metrics.health_timeout */
  /* pipeline */
  int64_t pipeline_threads;     /**< pipeline.threads (0 = one per CPU) */
  int topology_enabled;         /**< topology.enabled */
  int topology_standby;         /**< topology.standby */
  /* kafka.* pass-through, in the order set (a later set of a key replaces it) */
  wd_strlist_t kafka_keys;
  wd_strlist_t kafka_values;
} wd_config_t;

/** @brief A config holding every default. @returns NULL only on OOM.
 *  @remark Every wd_config_t must come from here (the allocation carries
 *  private state); fields may be read, and adjusted, directly. */
wd_config_t *wd_config_new(void);
void wd_config_destroy(wd_config_t *cfg);

/** @brief Apply a JSON config file. A file that is not a JSON object, a key not
 *  in the table, or a value of the wrong type or range fails naming the key;
 *  a syntax error names the file and line:col. On error \p cfg is unchanged
 *  (all or nothing). */
wd_err_t wd_config_load_file(wd_config_t *cfg, const char *path, char *errstr,
                             size_t errstr_size);

/** @brief Apply JSON text (what load_file does after reading); errors name
 *  the source "<json>". \p json need not be NUL-terminated. */
wd_err_t wd_config_load_json(wd_config_t *cfg, const char *json, size_t json_len,
                             char *errstr, size_t errstr_size);

/** @brief Set one dotted key from its string form (--set KEY=VALUE). Lists take
 *  a JSON array or a comma-separated list; booleans true/false/1/0/yes/no;
 *  durations 500ms/30s/5m/72h; sizes 4096, 64KiB, 1MiB, 2GiB. "kafka.X"
 *  stores X for librdkafka (a later set of X replaces it). On error \p cfg is
 *  unchanged. */
wd_err_t wd_config_set(wd_config_t *cfg, const char *key, const char *value,
                       char *errstr, size_t errstr_size);

/** @brief Parse "KEY=VALUE" and call wd_config_set. */
wd_err_t wd_config_set_arg(wd_config_t *cfg, const char *arg, char *errstr,
                           size_t errstr_size);

/** @brief Cross-key checks (lsh.bands divides minhash.num_perm, ...). */
wd_err_t wd_config_validate(const wd_config_t *cfg, char *errstr, size_t errstr_size);

/** @brief Look up a kafka.* value set by the user, or NULL. */
const char *wd_config_kafka_get(const wd_config_t *cfg, const char *rdkafka_key);

/** @brief The effective dead-letter topic (output.dead_letter_topic or <input.topic>.dlq).
 *  @remark Valid until \p cfg is next changed or destroyed. */
const char *wd_config_dlq_topic(const wd_config_t *cfg);

/** @brief The checkpoint directory for this mode (\p stream 1 = stream mode),
 *  or NULL when checkpoints are off (state.enabled false, or file mode with
 *  no state.dir). Valid while \p cfg is. */
const char *wd_config_state_dir(const wd_config_t *cfg, int stream);

/** @brief Print the effective config as nested JSON; values of secret keys
 *  (kafka *password*, *secret*, ssl.key.*) printed as "***". */
void wd_config_print(const wd_config_t *cfg, FILE *fp);

/** @brief Print the reference table (Markdown: key, type, default, meaning). */
void wd_config_doc_markdown(FILE *fp);

/** @brief Parse a size: integer bytes, or a number with a unit: KiB MiB GiB TiB
 *  (powers of 1024) or B KB MB GB TB (powers of 1000), e.g. "64KiB", "1.5MiB",
 *  "10MB". @returns 0 and sets \p out, or -1 (\p out untouched). */
int wd_config_parse_size(const char *s, int64_t *out);

/** @brief Parse a duration: integer milliseconds, or number+unit terms with
 *  units ms s m h d, e.g. "500ms", "30s", "1h30m", "7d".
 *  @returns 0 and sets \p out_ms, or -1 (\p out_ms untouched). */
int wd_config_parse_duration_ms(const char *s, int64_t *out_ms);

/** @brief Split a metrics.listen address, "host:port" or "[v6]:port", into
 *  \p host (\p host_cap bytes) and \p port. ":port" leaves \p host empty.
 *  @returns 0, or -1 with \p why set to a short reason. */
int wd_config_parse_listen(const char *listen, char *host, size_t host_cap,
                           uint16_t *port, const char **why);

/** @brief Format \p v in the largest exact unit ("1MiB", "10MB", "1500"); the
 *  inverse of wd_config_parse_size. @returns \p dst. */
const char *wd_config_format_size(char *dst, size_t dst_cap, int64_t v);

/** @brief Format \p ms in the largest exact unit ("7d", "90s", "1500ms", "0").
 *  @returns \p dst. */
const char *wd_config_format_duration_ms(char *dst, size_t dst_cap, int64_t ms);

#endif
