/* engine.c - one record through every stage: decode, normalise, boilerplate,
 * shingle, MinHash, SimHash, decide, learn.
 *
 * Stage order matters for learning: boilerplate lines and document
 * frequencies are learned only after the decision, so an article is never
 * compared using statistics that already include itself. */
#include "wiredup/engine.h"
#include "wiredup/boiler.h"
#include "wiredup/cluster.h"
#include "wiredup/minhash.h"
#include "wiredup/norm.h"
#include "wiredup/record.h"
#include "wiredup/shingle.h"
#include "wiredup/simhash.h"
#include "wiredup/state.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define WD_MAX_LINES 4096

struct wd_engine_s {
  const wd_config_t *cfg;
  wd_decoder_t *dec;
  wd_norm_t *nm;
  wd_boiler_t *bp;
  wd_shingle_t *sh;
  wd_minhash_t *mh;
  wd_simhash_t *sm;
  wd_cluster_t *cs;
  uint32_t num_perm;
  const char **phrases; /* built-in + configured, NULL-terminated */

  /* per-record scratch */
  wd_buf_t norm;
  wd_buf_t kept;
  uint32_t *sig;
  uint64_t lines[WD_MAX_LINES];
  wd_buf_t source; /* copy of the record's source for the result */
  int64_t last_ts; /* event time for records without one (deterministic) */
  int has_last_ts;
  unsigned loaded; /* checkpoint sections seen by wd_engine_load_section */

  wd_engine_stats_t st;
};

static void json_hooks_once(void) {
  static int done;
  if (done)
    return;
  /* cJSON's allocations are counted like ours. */
  cJSON_Hooks hooks = {wd_malloc, wd_free};
  cJSON_InitHooks(&hooks);
  done = 1;
}

static const char **merge_phrases(const wd_config_t *cfg) {
  size_t n = 0, k = 0;
  if (cfg->boiler_builtin)
    while (wd_boiler_default_phrases[n])
      n++;
  const char **v = wd_calloc(n + cfg->boiler_phrases.cnt + 1, sizeof(*v));
  for (size_t i = 0; i < n; i++)
    v[k++] = wd_boiler_default_phrases[i];
  for (size_t i = 0; i < cfg->boiler_phrases.cnt; i++)
    v[k++] = cfg->boiler_phrases.v[i];
  v[k] = NULL;
  return v;
}

wd_engine_t *wd_engine_new(const wd_config_t *cfg, char *errstr, size_t errstr_size) {
  wd_engine_t *eng;
  if (wd_config_validate(cfg, errstr, errstr_size) != WD_OK)
    return NULL;
  json_hooks_once();
  eng = wd_calloc(1, sizeof(*eng));
  eng->cfg = cfg;
  eng->dec = wd_decoder_new(cfg);

  wd_norm_opts_t no;
  wd_norm_opts_default(&no);
  no.html = cfg->norm_html;
  no.strip_marks = cfg->norm_strip_marks;
  no.fold_abbrev = cfg->norm_fold_abbrev;
  eng->nm = wd_norm_new(&no);

  wd_boiler_opts_t bo;
  wd_boiler_opts_default(&bo);
  bo.learn = cfg->boiler_learn;
  bo.min_clusters = (uint32_t)cfg->boiler_min_clusters;
  eng->phrases = merge_phrases(cfg);
  bo.phrases = eng->phrases;
  eng->bp = wd_boiler_new(&bo);

  wd_shingle_opts_t so;
  wd_shingle_opts_default(&so);
  so.k = (uint32_t)cfg->shingle_k;
  eng->sh = wd_shingle_new(&so);

  wd_minhash_opts_t mo;
  wd_minhash_opts_default(&mo);
  mo.num_perm = (uint32_t)cfg->minhash_num_perm;
  mo.seed = (uint64_t)cfg->minhash_seed;
  mo.method = strcmp(cfg->minhash_method, "mix") == 0 ? WD_MINHASH_MIX : WD_MINHASH_OPH;
  eng->mh = wd_minhash_new(&mo);
  eng->num_perm = mo.num_perm;
  eng->sig = wd_malloc(mo.num_perm * sizeof(uint32_t));

  wd_simhash_opts_t smo;
  wd_simhash_opts_default(&smo);
  smo.idf = cfg->simhash_idf;
  eng->sm = wd_simhash_new(&smo);

  wd_cluster_opts_t co = {
      .num_perm = mo.num_perm,
      .bands = (uint32_t)cfg->lsh_bands,
      .max_candidates = (uint32_t)cfg->lsh_max_candidates,
      .simhash_enabled = cfg->simhash_enabled,
      .simhash_max_distance = (int)cfg->simhash_max_distance,
      .threshold = cfg->cluster_threshold,
      .containment = cfg->cluster_containment,
      .containment_min_shingles = (uint32_t)cfg->cluster_containment_min_shingles,
      .cosine = cfg->cluster_cosine,
      .containment_min_shared = (uint32_t)cfg->cluster_containment_min_shared,
      .joint_containment = cfg->cluster_joint_containment,
      .joint_cosine = cfg->cluster_joint_cosine,
      .max_docs = (uint64_t)cfg->index_max_articles + 1,
  };
  eng->cs = wd_cluster_new(&co);

  if (!eng->nm || !eng->bp || !eng->sh || !eng->mh || !eng->sm || !eng->cs) {
    wd_errstr_set(errstr, errstr_size, "could not build the pipeline stages");
    wd_engine_destroy(eng);
    return NULL;
  }
  return eng;
}

void wd_engine_destroy(wd_engine_t *eng) {
  if (!eng)
    return;
  wd_decoder_destroy(eng->dec);
  wd_norm_destroy(eng->nm);
  wd_boiler_destroy(eng->bp);
  wd_shingle_destroy(eng->sh);
  wd_minhash_destroy(eng->mh);
  wd_simhash_destroy(eng->sm);
  wd_cluster_destroy(eng->cs);
  wd_free(eng->phrases);
  wd_free(eng->sig);
  wd_buf_free(&eng->norm);
  wd_buf_free(&eng->kept);
  wd_buf_free(&eng->source);
  wd_free(eng);
}

static void fill_result(wd_engine_t *eng, const wd_record_t *rec, const wd_assign_t *a,
                        wd_result_t *res) {
  wd_buf_clear(&eng->source);
  if (rec->source)
    wd_buf_append(&eng->source, rec->source, rec->source_len);
  res->id = rec->id;
  res->cluster_id = a->cluster_id;
  res->duplicate_of = a->duplicate_of;
  res->similarity = a->similarity;
  res->cluster_size = a->cluster_size;
  res->source = rec->source ? eng->source.p : NULL;
  res->redelivered = a->redelivered;
}

/* Bound the similarity memory. Before a decision (\p after 0): drop what the
 * watermark has left behind, so the article is compared with the window.
 * After it (\p after 1): enforce index.max_articles. The watermark is the
 * newest event time seen minus index.allowed_lateness. */
static void engine_evict(wd_engine_t *eng, int after) {
  const wd_config_t *cfg = eng->cfg;
  if (after) {
    wd_cluster_evict(eng->cs, INT64_MIN, (size_t)cfg->index_max_articles);
    return;
  }
  if (!eng->has_last_ts)
    return;
  /* saturating: event times near the int64 limits must not wrap */
  int64_t horizon = eng->last_ts;
  const int64_t back[2] = {cfg->index_allowed_lateness_ms, cfg->index_window_ms};
  for (int i = 0; i < 2; i++)
    horizon = horizon < INT64_MIN + back[i] ? INT64_MIN : horizon - back[i];
  wd_cluster_evict(eng->cs, horizon, SIZE_MAX);
}

wd_err_t wd_engine_process(wd_engine_t *eng, const char *json, size_t len,
                           const char *key, size_t key_len, int64_t msg_ts_ms,
                           wd_result_t *res, char *errstr, size_t errstr_size) {
  wd_record_t rec;
  wd_assign_t a;
  size_t nlines = 0, nset = 0, ntok = 0;
  wd_err_t err;

  memset(res, 0, sizeof(*res));
  err = wd_record_decode(eng->dec, json, len, key, key_len, msg_ts_ms, &rec, errstr,
                         errstr_size);
  if (err != WD_OK) {
    eng->st.invalid++;
    return err;
  }
  if (rec.has_ts) {
    if (eng->has_last_ts && rec.ts_ms < eng->last_ts - eng->cfg->index_allowed_lateness_ms)
      eng->st.late++; /* behind the watermark: answered all the same */
    if (!eng->has_last_ts || rec.ts_ms > eng->last_ts)
      eng->last_ts = rec.ts_ms;
    eng->has_last_ts = 1;
  } else {
    rec.ts_ms = eng->last_ts;
  }
  res->ts_ms = rec.ts_ms;
  res->has_ts = rec.has_ts;

  /* A redelivered id gets its stored answer, never a match with itself. */
  if (wd_cluster_lookup(eng->cs, rec.id, rec.id_len, &a)) {
    eng->st.redelivered++;
    fill_result(eng, &rec, &a, res);
    return WD_OK;
  }

  wd_norm_text(eng->nm, rec.text, rec.text_len, &eng->norm);
  wd_boiler_filter(eng->bp, rec.source, rec.source_len, eng->norm.p, eng->norm.len,
                   &eng->kept, eng->lines, &nlines, WD_MAX_LINES);
  wd_shingle_text(eng->sh, eng->kept.p ? eng->kept.p : "", eng->kept.len);
  const uint64_t *set = wd_shingle_set(eng->sh, &nset);
  const uint64_t *tok = wd_shingle_tokens(eng->sh, &ntok);
  wd_minhash_sign(eng->mh, set, nset, eng->sig);
  uint64_t simhash = wd_simhash_sign(eng->sm, tok, ntok);

  wd_doc_t doc = {
      .id = rec.id,
      .id_len = rec.id_len,
      .sig = eng->sig,
      .shingle_cnt = (uint32_t)nset,
      .simhash = simhash,
      .ts_ms = rec.ts_ms,
  };
  engine_evict(eng, 0);
  wd_cluster_assign(eng->cs, &doc, &a);
  engine_evict(eng, 1);

  wd_boiler_learn(eng->bp, rec.source, rec.source_len, eng->lines, nlines, a.cluster_key);
  wd_simhash_observe(eng->sm, tok, ntok);

  eng->st.records++;
  if (a.duplicate_of)
    eng->st.duplicates++;
  else
    eng->st.clusters++;
  fill_result(eng, &rec, &a, res);
  return WD_OK;
}

/* Similarity with at most 4 decimals and no trailing zeros: "0.87", "1", "0". */
static void append_similarity(wd_buf_t *dst, double s) {
  char tmp[32];
  int n = snprintf(tmp, sizeof(tmp), "%.4f", s);
  while (n > 1 && tmp[n - 1] == '0')
    n--;
  if (n > 1 && tmp[n - 1] == '.')
    n--;
  wd_buf_append(dst, tmp, (size_t)n);
}

/* Decimal digits of \p v; snprintf costs more than the rest of the line. */
static void append_u64(wd_buf_t *dst, uint64_t v) {
  char tmp[24];
  size_t n = sizeof(tmp);
  do {
    tmp[--n] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  wd_buf_append(dst, tmp + n, sizeof(tmp) - n);
}

void wd_result_format(const wd_result_t *res, const wd_coords_t *coords, wd_buf_t *dst) {
  char ts[40];
  wd_buf_append(dst, "{\"id\":", 6);
  wd_json_append_string(dst, res->id, strlen(res->id));
  wd_buf_append(dst, ",\"cluster_id\":", 14);
  wd_json_append_string(dst, res->cluster_id, strlen(res->cluster_id));
  wd_buf_append(dst, ",\"duplicate_of\":", 16);
  if (res->duplicate_of)
    wd_json_append_string(dst, res->duplicate_of, strlen(res->duplicate_of));
  else
    wd_buf_append(dst, "null", 4);
  wd_buf_append(dst, ",\"similarity\":", 14);
  append_similarity(dst, res->duplicate_of ? res->similarity : 0.0);
  wd_buf_append(dst, ",\"cluster_size\":", 16);
  append_u64(dst, res->cluster_size);
  wd_buf_append(dst, ",\"source\":", 10);
  if (res->source)
    wd_json_append_string(dst, res->source, strlen(res->source));
  else
    wd_buf_append(dst, "null", 4);
  wd_buf_append(dst, ",\"published_at\":", 16);
  if (res->has_ts) {
    size_t n = wd_time_format_rfc3339(ts, sizeof(ts), res->ts_ms);
    wd_json_append_string(dst, ts, n);
  } else {
    wd_buf_append(dst, "null", 4);
  }
  if (coords && coords->topic) {
    wd_buf_append(dst, ",\"input\":{\"topic\":", 18);
    wd_json_append_string(dst, coords->topic, strlen(coords->topic));
    wd_buf_printf(dst, ",\"partition\":%d,\"offset\":%lld}", (int)coords->partition,
                  (long long)coords->offset);
  } else if (coords) {
    wd_buf_append(dst, ",\"line\":", 8);
    append_u64(dst, coords->line);
  }
  wd_buf_appendc(dst, '}');
}

void wd_engine_stats(const wd_engine_t *eng, wd_engine_stats_t *st) {
  *st = eng->st;
  st->index_docs = wd_cluster_count(eng->cs);
  st->evicted = wd_cluster_evicted(eng->cs);
  st->clusters_open = wd_cluster_clusters_live(eng->cs);
  st->watermark_ms = eng->has_last_ts ? eng->last_ts - eng->cfg->index_allowed_lateness_ms
                                      : INT64_MIN;
  st->index_bytes = wd_cluster_bytes(eng->cs) + wd_boiler_bytes(eng->bp) +
                    wd_simhash_bytes(eng->sm);
}

const wd_cluster_t *wd_engine_cluster(const wd_engine_t *eng) { return eng->cs; }

/* ==== Checkpoint ==== */

/* Settings that change what a stored fingerprint means: a checkpoint made
 * with other values cannot be compared with new articles. Decision
 * thresholds may change freely between runs. */
static void settings_of(const wd_config_t *cfg, char vals[5][64]) {
  snprintf(vals[0], 64, "%lld", (long long)cfg->shingle_k);
  snprintf(vals[1], 64, "%lld", (long long)cfg->minhash_num_perm);
  snprintf(vals[2], 64, "%s", cfg->minhash_method);
  snprintf(vals[3], 64, "%lld", (long long)cfg->minhash_seed);
  snprintf(vals[4], 64, "%lld", (long long)cfg->lsh_bands);
}

static const char *const settings_keys[5] = {"shingle.size", "minhash.num_perm",
                                             "minhash.method", "minhash.seed",
                                             "lsh.bands"};

enum { SEC_CONF = 1, SEC_ENGN = 2, SEC_CLUS = 4, SEC_SIMH = 8, SEC_BOIL = 16 };

/* CONF: u32 count, then count x {str key, str value}.
 * ENGN: u8 has event time, i64 newest event time ms, then u64 counters:
 *       records, duplicates, clusters, redelivered, invalid, late. */
void wd_engine_save(const wd_engine_t *eng, wd_state_w_t *w) {
  char vals[5][64];
  settings_of(eng->cfg, vals);
  wd_state_w_begin(w, "CONF");
  wd_state_w_u32(w, 5);
  for (int i = 0; i < 5; i++) {
    wd_state_w_str(w, settings_keys[i], strlen(settings_keys[i]));
    wd_state_w_str(w, vals[i], strlen(vals[i]));
  }
  wd_state_w_end(w);

  wd_state_w_begin(w, "ENGN");
  wd_state_w_u8(w, (uint8_t)eng->has_last_ts);
  wd_state_w_i64(w, eng->last_ts);
  const uint64_t c[6] = {eng->st.records,     eng->st.duplicates, eng->st.clusters,
                         eng->st.redelivered, eng->st.invalid,    eng->st.late};
  wd_state_w_u64v(w, c, 6);
  wd_state_w_end(w);

  wd_cluster_save(eng->cs, w);
  wd_simhash_save(eng->sm, w);
  wd_boiler_save(eng->bp, w);
}

static wd_err_t load_conf(wd_engine_t *eng, wd_state_r_t *r, char *why, size_t why_size) {
  char vals[5][64];
  settings_of(eng->cfg, vals);
  uint32_t n = wd_state_r_u32(r);
  WD_RETURN_IF(!wd_state_r_fits(r, n, 8), WD_ERR_STATE, why, why_size, "truncated");
  for (uint32_t k = 0; k < n; k++) {
    size_t klen, vlen;
    const char *key = wd_state_r_str(r, &klen);
    const char *val = wd_state_r_str(r, &vlen);
    WD_RETURN_IF(r->err, WD_ERR_STATE, why, why_size, "truncated");
    for (int i = 0; i < 5; i++) {
      if (strlen(settings_keys[i]) != klen || memcmp(settings_keys[i], key, klen) != 0)
        continue;
      WD_RETURN_IF(strlen(vals[i]) != vlen || memcmp(vals[i], val, vlen) != 0,
                   WD_ERR_STATE, why, why_size,
                   "settings differ: made with %s=%.*s, config has %s "
                   "(use --fresh-state to start over)",
                   settings_keys[i], (int)vlen, val, vals[i]);
    }
  }
  return WD_OK;
}

wd_err_t wd_engine_load_section(wd_engine_t *eng, const char *tag, wd_state_r_t *r,
                                char *why, size_t why_size) {
  if (strcmp(tag, "CONF") == 0) {
    WD_RETURN_IF(eng->loaded || eng->st.records || eng->st.invalid, WD_ERR_INTERNAL, why,
                 why_size, "engine has processed records or loaded a checkpoint already");
    eng->loaded |= SEC_CONF;
    return load_conf(eng, r, why, why_size);
  }
  WD_RETURN_IF(!(eng->loaded & SEC_CONF), WD_ERR_STATE, why, why_size,
               "section %s before the settings section", tag);
  if (strcmp(tag, "ENGN") == 0) {
    uint64_t c[6];
    eng->has_last_ts = wd_state_r_u8(r) != 0;
    eng->last_ts = wd_state_r_i64(r);
    WD_RETURN_IF(wd_state_r_u64v(r, c, 6) != 0, WD_ERR_STATE, why, why_size, "truncated");
    eng->st.records = c[0], eng->st.duplicates = c[1], eng->st.clusters = c[2];
    eng->st.redelivered = c[3], eng->st.invalid = c[4], eng->st.late = c[5];
    eng->loaded |= SEC_ENGN;
    return WD_OK;
  }
  if (strcmp(tag, "CLUS") == 0) {
    eng->loaded |= SEC_CLUS;
    return wd_cluster_load(eng->cs, r, why, why_size);
  }
  if (strcmp(tag, "SIMH") == 0) {
    eng->loaded |= SEC_SIMH;
    WD_RETURN_IF(wd_simhash_load(eng->sm, r) != 0, WD_ERR_STATE, why, why_size,
                 "truncated or made with another document-frequency table size");
    return WD_OK;
  }
  if (strcmp(tag, "BOIL") == 0) {
    eng->loaded |= SEC_BOIL;
    return wd_boiler_load(eng->bp, r, why, why_size);
  }
  wd_errstr_set(why, why_size, "unknown section %s", tag);
  return WD_ERR_STATE;
}

wd_err_t wd_engine_load_finish(wd_engine_t *eng, char *why, size_t why_size) {
  static const struct {
    unsigned bit;
    const char *tag;
  } need[] = {{SEC_CONF, "CONF"}, {SEC_ENGN, "ENGN"}, {SEC_CLUS, "CLUS"},
              {SEC_SIMH, "SIMH"}, {SEC_BOIL, "BOIL"}};
  for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
    WD_RETURN_IF(!(eng->loaded & need[i].bit), WD_ERR_STATE, why, why_size,
                 "section %s missing", need[i].tag);
  return WD_OK;
}
