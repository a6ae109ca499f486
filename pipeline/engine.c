/* engine.c - one record through every stage: decode, normalise, boilerplate,
 * shingle, MinHash, SimHash, decide, learn; split into the stateless
 * fingerprint stage (wd_fingerprint, any thread) and the cluster stage
 * (wd_engine_commit, in input order), with the hint of learned boilerplate
 * lines passed from the second to the first. Also the result line format,
 * and checkpoints: which sections a checkpoint holds (CONF, ENGN here; the
 * stages write their own) and saving and loading them through state.h.
 *
 * Stage order matters for learning: boilerplate lines and document
 * frequencies are learned only after the decision, so an article is never
 * compared using statistics that already include itself. */
#include "wiredup/engine.h"
#include "wiredup/log.h"
#include "wiredup/boiler.h"
#include "wiredup/cluster.h"
#include "wiredup/minhash.h"
#include "wiredup/norm.h"
#include "wiredup/record.h"
#include "wiredup/shingle.h"
#include "wiredup/simhash.h"
#include "wiredup/state.h"

#include "wiredup/mix.h"

#include <cjson/cJSON.h>
#include <xxhash.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* The stateless stage: everything a record needs that no earlier record
 * changes. Its boilerplate filter applies the phrase rules only (learning
 * off, no table); the engine's learned lines are checked at commit. */
struct wd_fingerprinter_s {
  wd_decoder_t *dec;
  wd_norm_t *nm;
  wd_boiler_t *bp;
  wd_shingle_t *sh;
  wd_minhash_t *mh;
  wd_termcount_t *tc;
  const char **phrases; /* built-in + configured, NULL-terminated */
  uint32_t num_perm;
};

struct wd_engine_s {
  const wd_config_t *cfg;
  wd_fingerprinter_t *fpr; /* for wd_engine_process and re-sketching */
  wd_boiler_t *bp;         /* phrases + learned lines */
  wd_simhash_t *sm;
  wd_topv_t topv; /* the article being committed: its heaviest words */
  wd_cluster_t *cs;
  const char **phrases;

  /* per-record scratch */
  wd_fp_t fp;
  uint8_t drop[WD_FP_MAX_LINES]; /* learned lines of the record */
  /* (source, line) keys seen dropped, for wd_engine_hint: an open-addressing
   * set, cleared when half full */
  uint64_t *hint_keys;
  size_t hint_cnt;
  int hint_dirty;
  wd_buf_t source; /* copy of the record's source for the result */
  int64_t last_ts; /* event time for records without one (deterministic) */
  int has_last_ts;
  int64_t first_ts;  /* the oldest event time seen, and how many records had one: */
  uint64_t ts_seen;  /* the input's rate, for wd_engine_expect */
  int64_t wm_cap;  /* the input's watermark (merge.h); INT64_MAX: none */
  unsigned loaded; /* checkpoint sections seen by load_section */

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

static void boiler_opts(const wd_config_t *cfg, const char **phrases, int learn,
                        wd_boiler_opts_t *bo) {
  wd_boiler_opts_default(bo);
  bo->learn = learn && cfg->boiler_learn;
  bo->min_clusters = (uint32_t)cfg->boiler_min_clusters;
  bo->phrases = phrases;
}

wd_fingerprinter_t *wd_fingerprinter_new(const wd_config_t *cfg, char *errstr,
                                         size_t errstr_size) {
  if (wd_config_validate(cfg, errstr, errstr_size) != WD_OK)
    return NULL;
  json_hooks_once();
  wd_fingerprinter_t *fpr = wd_calloc(1, sizeof(*fpr));
  fpr->dec = wd_decoder_new(cfg);
  wd_decoder_defer_warnings(fpr->dec, 1);

  wd_norm_opts_t no;
  wd_norm_opts_default(&no);
  no.html = cfg->norm_html;
  no.strip_marks = cfg->norm_strip_marks;
  no.fold_abbrev = cfg->norm_fold_abbrev;
  fpr->nm = wd_norm_new(&no);

  wd_boiler_opts_t bo;
  fpr->phrases = merge_phrases(cfg);
  boiler_opts(cfg, fpr->phrases, 0, &bo);
  fpr->bp = wd_boiler_new(&bo);

  wd_shingle_opts_t so;
  wd_shingle_opts_default(&so);
  so.seed = 0; /* fp_tokens takes the filter's token hashes: unseeded XXH3 */
  so.k = (uint32_t)cfg->shingle_k;
  fpr->sh = wd_shingle_new(&so);

  wd_minhash_opts_t mo;
  wd_minhash_opts_default(&mo);
  mo.num_perm = (uint32_t)cfg->minhash_num_perm;
  mo.seed = (uint64_t)cfg->minhash_seed;
  mo.method = strcmp(cfg->minhash_method, "mix") == 0 ? WD_MINHASH_MIX : WD_MINHASH_OPH;
  fpr->mh = wd_minhash_new(&mo);
  fpr->num_perm = mo.num_perm;
  wd_simhash_opts_t smo; /* the engine's SimHash (wd_engine_new) */
  wd_simhash_opts_default(&smo);
  fpr->tc = wd_termcount_new(smo.seed);

  if (!fpr->nm || !fpr->bp || !fpr->sh || !fpr->mh) {
    wd_errstr_set(errstr, errstr_size, "could not build the pipeline stages");
    wd_fingerprinter_destroy(fpr);
    return NULL;
  }
  return fpr;
}

void wd_fingerprinter_destroy(wd_fingerprinter_t *fpr) {
  if (!fpr)
    return;
  wd_decoder_destroy(fpr->dec);
  wd_norm_destroy(fpr->nm);
  wd_boiler_destroy(fpr->bp);
  wd_shingle_destroy(fpr->sh);
  wd_minhash_destroy(fpr->mh);
  wd_termcount_destroy(fpr->tc);
  wd_free(fpr->phrases);
  wd_free(fpr);
}

/* ==== Learned-line hints ==== */

#define HINT_CAP ((size_t)1 << 16) /* keys in the engine's set (power of 2) */

struct wd_hint_s {
  uint64_t *keys; /* open addressing, 0 = empty */
  size_t mask;
};

static inline uint64_t hint_key(uint64_t src_h, uint64_t line_h) {
  uint64_t k = wd_mix64(src_h ^ wd_mix64(line_h));
  return k ? k : 1;
}

static inline uint64_t source_hash(const char *source, size_t source_len) {
  return XXH3_64bits(source ? source : "", source ? source_len : 0);
}

static int hint_has(const uint64_t *keys, size_t mask, uint64_t k) {
  for (size_t i = k & mask;; i = (i + 1) & mask) {
    if (keys[i] == k)
      return 1;
    if (!keys[i])
      return 0;
  }
}

/* The cluster stage saw \p k dropped. */
static void hint_note(wd_engine_t *eng, uint64_t k) {
  if (!eng->hint_keys)
    eng->hint_keys = wd_calloc(HINT_CAP, sizeof(*eng->hint_keys));
  if (hint_has(eng->hint_keys, HINT_CAP - 1, k))
    return;
  if (eng->hint_cnt >= HINT_CAP / 2) { /* full: start again */
    memset(eng->hint_keys, 0, HINT_CAP * sizeof(*eng->hint_keys));
    eng->hint_cnt = 0;
  }
  size_t i = k & (HINT_CAP - 1);
  while (eng->hint_keys[i])
    i = (i + 1) & (HINT_CAP - 1);
  eng->hint_keys[i] = k;
  eng->hint_cnt++;
  eng->hint_dirty = 1;
}

wd_hint_t *wd_engine_hint(wd_engine_t *eng) {
  if (!eng->hint_dirty)
    return NULL;
  eng->hint_dirty = 0;
  size_t cap = 16;
  while (cap < 2 * eng->hint_cnt)
    cap *= 2;
  wd_hint_t *h = wd_calloc(1, sizeof(*h));
  h->keys = wd_calloc(cap, sizeof(*h->keys));
  h->mask = cap - 1;
  for (size_t i = 0; i < HINT_CAP; i++) {
    const uint64_t k = eng->hint_keys[i];
    if (!k)
      continue;
    size_t j = k & h->mask;
    while (h->keys[j])
      j = (j + 1) & h->mask;
    h->keys[j] = k;
  }
  return h;
}

void wd_hint_free(wd_hint_t *hint) {
  if (!hint)
    return;
  wd_free(hint->keys);
  wd_free(hint);
}

/* ==== Fingerprints ==== */

/* Drop from fp->tok the tokens of the lines marked in \p drop (line_tok
 * ranges are in order and disjoint: compacted in place). */
static void fp_drop_lines(wd_fp_t *fp, const uint8_t *drop) {
  size_t w = 0, r = 0;
  if (!fp->ntok)
    return;
  for (size_t i = 0; i < fp->nlines; i++) {
    if (!drop[i])
      continue;
    const size_t first = fp->line_tok[2 * i], cnt = fp->line_tok[2 * i + 1];
    memmove(fp->tok + w, fp->tok + r, (first - r) * sizeof(*fp->tok));
    w += first - r;
    r = first + cnt;
  }
  memmove(fp->tok + w, fp->tok + r, (fp->ntok - r) * sizeof(*fp->tok));
  fp->ntok = w + fp->ntok - r;
}

static void fp_lines_grow(wd_fp_t *fp, size_t cap) {
  fp->lines_cap = cap < WD_FP_MAX_LINES ? cap : WD_FP_MAX_LINES;
  wd_free(fp->lines);
  wd_free(fp->line_tok);
  wd_free(fp->pred);
  fp->lines = wd_malloc(fp->lines_cap * sizeof(*fp->lines));
  fp->line_tok = wd_malloc(2 * fp->lines_cap * sizeof(*fp->line_tok));
  fp->pred = wd_malloc(fp->lines_cap);
}

/* The phrase rules (learned lines too with the engine's \p bp) on fp->norm
 * into fp->kept, fp->lines and fp->line_tok, with room for every line up to
 * WD_FP_MAX_LINES. */
static void fp_filter(wd_boiler_t *bp, const char *source, size_t source_len, wd_fp_t *fp) {
  for (;;) {
    wd_boiler_filter_ex(bp, source, source_len, fp->norm.p ? fp->norm.p : "", fp->norm.len,
                        &fp->kept, fp->lines, fp->line_tok, &fp->nlines, fp->lines_cap);
    if (fp->nlines < fp->lines_cap || fp->lines_cap == WD_FP_MAX_LINES)
      return;
    fp_lines_grow(fp, 4 * fp->lines_cap); /* rare: a text of many short lines */
  }
}

void wd_fp_init(wd_fp_t *fp, uint32_t num_perm) {
  memset(fp, 0, sizeof(*fp));
  fp_lines_grow(fp, 256);
  fp->sig = wd_malloc((num_perm ? num_perm : 1) * sizeof(*fp->sig));
  fp->num_perm = num_perm;
}

void wd_fp_free(wd_fp_t *fp) {
  wd_buf_free(&fp->id);
  wd_buf_free(&fp->source);
  wd_buf_free(&fp->warning);
  wd_buf_free(&fp->norm);
  wd_buf_free(&fp->kept);
  wd_free(fp->lines);
  wd_free(fp->line_tok);
  wd_free(fp->pred);
  wd_free(fp->tok);
  wd_free(fp->sig);
  wd_terms_free(&fp->terms);
  memset(fp, 0, sizeof(*fp));
}

static size_t tok_hwm; /* the most room any fp->tok has needed (wd_cap_hwm) */

/* The token hashes of fp->kept into fp->tok: the hashes \p bp made while
 * filtering (XXH3 with seed 0, the shingle stage's own). fp->tok has room
 * for twice as many: wd_fingerprint's compacted copy goes after them. */
static void fp_tokens(const wd_boiler_t *bp, wd_fp_t *fp) {
  size_t ntok;
  const uint64_t *tok = wd_boiler_kept_tokens(bp, &ntok);
  if (2 * ntok > fp->tok_cap) {
    fp->tok_cap = wd_cap_hwm(&tok_hwm, 2 * ntok);
    wd_free(fp->tok);
    fp->tok = wd_malloc(fp->tok_cap * sizeof(*fp->tok));
  }
  if (ntok)
    memcpy(fp->tok, tok, ntok * sizeof(*tok));
  fp->ntok = ntok;
  fp->sketched = 0;
}

/* Shingles, MinHash and term counts of fp->tok. */
static void fp_sketch(wd_fingerprinter_t *fpr, wd_fp_t *fp) {
  size_t nset;
  wd_shingle_hashes(fpr->sh, fp->tok, fp->ntok);
  const uint64_t *set = wd_shingle_set(fpr->sh, &nset);
  fp->nset = (uint32_t)nset;
  wd_minhash_sign(fpr->mh, set, nset, fp->sig);
  wd_terms_count(fpr->tc, fp->tok, fp->ntok, &fp->terms);
  fp->sketched = 1;
}

/* Decode, normalise, apply the phrase rules and hash the tokens: fp gets
 * everything but the sketch. */
static wd_err_t fp_prepare(wd_fingerprinter_t *fpr, const char *json, size_t len,
                           const char *key, size_t key_len, int64_t msg_ts_ms,
                           wd_fp_t *fp) {
  wd_record_t rec;
  fp->sketched = 0;
  fp->npred = 0;
  fp->err = wd_record_decode(fpr->dec, json, len, key, key_len, msg_ts_ms, &rec,
                             fp->reason, sizeof(fp->reason));
  if (fp->err != WD_OK)
    return fp->err;
  wd_buf_clear(&fp->id);
  wd_buf_append(&fp->id, rec.id, rec.id_len);
  wd_buf_clear(&fp->source);
  if ((fp->has_source = rec.source != NULL))
    wd_buf_append(&fp->source, rec.source, rec.source_len);
  fp->ts_ms = rec.ts_ms;
  fp->has_ts = rec.has_ts;
  const char *warn = wd_decoder_warning(fpr->dec);
  wd_buf_clear(&fp->warning);
  if (warn)
    wd_buf_appends(&fp->warning, warn);
  wd_norm_text(fpr->nm, rec.text, rec.text_len, &fp->norm);
  fp_filter(fpr->bp, rec.source, rec.source_len, fp);
  fp_tokens(fpr->bp, fp);
  fp->nnum = wd_topv_numbers(fp->num, fp->kept.p, fp->kept.len);
  return WD_OK;
}

wd_err_t wd_fingerprint(wd_fingerprinter_t *fpr, const wd_hint_t *hint, const char *json,
                        size_t len, const char *key, size_t key_len, int64_t msg_ts_ms,
                        wd_fp_t *fp) {
  if (fp_prepare(fpr, json, len, key, key_len, msg_ts_ms, fp) != WD_OK)
    return fp->err;
  /* Sketch the text as the cluster stage will most likely see it: without
   * the lines it dropped as learned boilerplate lately. It checks. */
  if (hint && fp->nlines) {
    const uint64_t src_h = source_hash(fp->has_source ? fp->source.p : NULL,
                                       fp->has_source ? fp->source.len : 0);
    for (size_t i = 0; i < fp->nlines; i++) {
      fp->pred[i] = (uint8_t)hint_has(hint->keys, hint->mask, hint_key(src_h, fp->lines[i]));
      fp->npred += fp->pred[i];
    }
  }
  if (fp->npred && fp->ntok) {
    /* sketch a compacted copy (fp_tokens left room for it); fp->tok stays
     * whole for the check */
    wd_fp_t view = *fp;
    view.tok = fp->tok + fp->ntok;
    memcpy(view.tok, fp->tok, fp->ntok * sizeof(*fp->tok));
    fp_drop_lines(&view, fp->pred);
    fp_sketch(fpr, &view);
    fp->nset = view.nset;
    fp->terms = view.terms; /* the arrays are fp's own, maybe grown */
  } else {
    fp_sketch(fpr, fp);
  }
  fp->sketched = 1;
  return fp->err;
}

/* Apply the engine's learned lines to fp: drop their tokens, and sketch
 * what is left unless the fingerprint stage's sketch (of the text without
 * the lines its hint named) is of exactly that. */
static void engine_sketch(wd_engine_t *eng, wd_fp_t *fp, const char *source,
                          size_t source_len) {
  if (fp->nlines >= WD_FP_MAX_LINES) {
    /* line hashes were cut short: filter again, as one stage would */
    fp_filter(eng->bp, source, source_len, fp);
    fp_tokens(eng->bp, fp);
  } else {
    const size_t ndrop =
        wd_boiler_learned(eng->bp, source, source_len, fp->lines, fp->nlines, eng->drop);
    /* fp->pred is written only when the hint dropped something */
    if (fp->sketched &&
        (ndrop != fp->npred || (ndrop && memcmp(eng->drop, fp->pred, fp->nlines))))
      fp->sketched = 0; /* the hint was stale */
    if (ndrop) {
      const uint64_t src_h = source_hash(source, source_len);
      for (size_t i = 0; i < fp->nlines; i++)
        if (eng->drop[i])
          hint_note(eng, hint_key(src_h, fp->lines[i]));
      fp_drop_lines(fp, eng->drop);
    }
  }
  if (!fp->sketched)
    fp_sketch(eng->fpr, fp);
}

/* The cluster stage's options from the config (the engine's and the
 * benchmarks' one source). */
void wd_engine_cluster_opts(const wd_config_t *cfg, uint32_t num_perm,
                            struct wd_cluster_opts_s *co) {
  *co = (wd_cluster_opts_t){
      .num_perm = num_perm,
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
      .word_cosine = cfg->cluster_word_cosine,
      .word_cosine_slope = cfg->cluster_word_cosine_slope,
      .story_cosine = cfg->cluster_story_cosine,
      .story_window_ms = cfg->cluster_story_window_ms,
      .max_docs = (uint64_t)cfg->index_max_articles + 1,
  };
}

wd_engine_t *wd_engine_new(const wd_config_t *cfg, char *errstr, size_t errstr_size) {
  wd_engine_t *eng;
  wd_fingerprinter_t *fpr = wd_fingerprinter_new(cfg, errstr, errstr_size);
  if (!fpr)
    return NULL;
  eng = wd_calloc(1, sizeof(*eng));
  eng->cfg = cfg;
  eng->wm_cap = INT64_MAX;
  eng->fpr = fpr;
  wd_fp_init(&eng->fp, fpr->num_perm);

  wd_boiler_opts_t bo;
  eng->phrases = merge_phrases(cfg);
  boiler_opts(cfg, eng->phrases, 1, &bo);
  eng->bp = wd_boiler_new(&bo);

  wd_simhash_opts_t smo;
  wd_simhash_opts_default(&smo);
  smo.idf = cfg->simhash_idf;
  eng->sm = wd_simhash_new(&smo);

  wd_cluster_opts_t co;
  wd_engine_cluster_opts(cfg, fpr->num_perm, &co);
  eng->cs = wd_cluster_new(&co);

  if (!eng->bp || !eng->sm || !eng->cs) {
    wd_errstr_set(errstr, errstr_size, "could not build the pipeline stages");
    wd_engine_destroy(eng);
    return NULL;
  }
  return eng;
}

void wd_engine_destroy(wd_engine_t *eng) {
  if (!eng)
    return;
  wd_fingerprinter_destroy(eng->fpr);
  wd_boiler_destroy(eng->bp);
  wd_simhash_destroy(eng->sm);
  wd_cluster_destroy(eng->cs);
  wd_free(eng->phrases);
  wd_fp_free(&eng->fp);
  wd_free(eng->hint_keys);
  wd_buf_free(&eng->source);
  wd_free(eng);
}

static void fill_result(wd_engine_t *eng, const wd_fp_t *fp, const wd_assign_t *a,
                        wd_result_t *res) {
  wd_buf_clear(&eng->source);
  if (fp->has_source)
    wd_buf_append(&eng->source, fp->source.p, fp->source.len);
  res->id = fp->id.p;
  res->cluster_id = a->cluster_id;
  res->story_id = a->story_id;
  res->duplicate_of = a->duplicate_of;
  res->similarity = a->similarity;
  res->cluster_size = a->cluster_size;
  res->source = fp->has_source ? eng->source.p : NULL;
  res->redelivered = a->redelivered;
}

/* The watermark: the newest event time seen minus index.allowed_lateness,
 * held back to the input's own (wd_engine_set_watermark) where it is lower. */
static int64_t engine_watermark(const wd_engine_t *eng) {
  if (!eng->has_last_ts)
    return INT64_MIN;
  /* saturating: event times near the int64 limits must not wrap */
  const int64_t late = eng->cfg->index_allowed_lateness_ms;
  int64_t wm = eng->last_ts < INT64_MIN + late ? INT64_MIN : eng->last_ts - late;
  return wm < eng->wm_cap ? wm : eng->wm_cap;
}

void wd_engine_set_watermark(wd_engine_t *eng, int64_t wm_ms) { eng->wm_cap = wm_ms; }

void wd_engine_expect(wd_engine_t *eng, uint64_t more) {
  const wd_config_t *cfg = eng->cfg;
  const size_t live = wd_cluster_count(eng->cs);
  double want = (double)live + (double)more;
  /* The window keeps what arrives within index.window + allowed_lateness of
   * event time, at the rate seen so far: a year of archive through a 72 h
   * window needs a 72 h index, not a year's. */
  if (eng->ts_seen) {
    /* All at one instant so far (a bulk load stamped at once): no rate to
     * go by, and the window may keep a small part of what comes. */
    if (eng->ts_seen < 2 || eng->last_ts <= eng->first_ts)
      return;
    const double per_ms =
        (double)(eng->ts_seen - 1) / ((double)eng->last_ts - (double)eng->first_ts);
    const double kept = per_ms * ((double)cfg->index_window_ms +
                                  (double)cfg->index_allowed_lateness_ms);
    if (kept < want)
      want = kept;
  } /* else no event times: nothing leaves by the window, only by the cap */
  if (want > (double)cfg->index_max_articles)
    want = (double)cfg->index_max_articles;
  if (want > (double)live) {
    WD_LOG(WD_LOG_DEBUG, "index sized ahead", "articles=%.0f more=%llu", want,
           (unsigned long long)more);
    wd_cluster_reserve(eng->cs, (size_t)want);
  }
}

/* Bound the similarity memory. Before a decision (\p after 0): drop what the
 * watermark has left behind by more than index.window, so the article is
 * compared with the window. After it (\p after 1): enforce
 * index.max_articles. */
static void engine_evict(wd_engine_t *eng, int after) {
  const wd_config_t *cfg = eng->cfg;
  if (after) {
    wd_cluster_evict(eng->cs, INT64_MIN, (size_t)cfg->index_max_articles);
    return;
  }
  int64_t horizon = engine_watermark(eng);
  if (horizon == INT64_MIN)
    return;
  horizon = horizon < INT64_MIN + cfg->index_window_ms ? INT64_MIN
                                                       : horizon - cfg->index_window_ms;
  wd_cluster_evict(eng->cs, horizon, SIZE_MAX);
}

wd_err_t wd_engine_commit(wd_engine_t *eng, wd_fp_t *fp, wd_result_t *res, char *errstr,
                          size_t errstr_size) {
  wd_assign_t a;

  memset(res, 0, sizeof(*res));
  if (fp->err != WD_OK) {
    wd_errstr_set(errstr, errstr_size, "%s", fp->reason);
    eng->st.invalid++;
    return fp->err;
  }
  if (fp->warning.len)
    wd_record_log_warning(fp->id.p, fp->warning.p);
  const char *source = fp->has_source ? fp->source.p : NULL;
  const size_t source_len = fp->has_source ? fp->source.len : 0;
  int64_t ts_ms = fp->ts_ms;
  if (fp->has_ts) {
    if (ts_ms < engine_watermark(eng))
      eng->st.late++; /* behind the watermark: answered all the same */
    if (!eng->has_last_ts || ts_ms > eng->last_ts)
      eng->last_ts = ts_ms;
    if (!eng->ts_seen++ || ts_ms < eng->first_ts)
      eng->first_ts = ts_ms;
    eng->has_last_ts = 1;
  } else {
    ts_ms = eng->last_ts;
  }
  res->ts_ms = ts_ms;
  res->has_ts = fp->has_ts;

  /* A redelivered id gets its stored answer, never a match with itself. */
  if (wd_cluster_lookup(eng->cs, fp->id.p, fp->id.len, &a)) {
    eng->st.redelivered++;
    fill_result(eng, fp, &a, res);
    return WD_OK;
  }

  /* The stateless stage applied the phrase rules only. */
  engine_sketch(eng, fp, source, source_len);
  uint64_t simhash = wd_simhash_sign_terms(eng->sm, &fp->terms);
  wd_simhash_topv(eng->sm, &eng->topv);
  eng->topv.src = source ? (uint32_t)source_hash(source, source_len) | 1u : 0;
  eng->topv.nnum = fp->nnum;
  memcpy(eng->topv.num, fp->num, fp->nnum * sizeof(*fp->num));

  wd_doc_t doc = {
      .id = fp->id.p,
      .id_len = fp->id.len,
      .sig = fp->sig,
      .shingle_cnt = fp->nset,
      .simhash = simhash,
      .topv = &eng->topv,
      .ts_ms = ts_ms,
  };
  engine_evict(eng, 0);
  wd_cluster_assign(eng->cs, &doc, &a);
  engine_evict(eng, 1);

  wd_boiler_learn(eng->bp, source, source_len, fp->lines, fp->nlines, a.cluster_key);
  wd_simhash_observe_signed(eng->sm);

  eng->st.records++;
  if (a.duplicate_of)
    eng->st.duplicates++;
  else
    eng->st.clusters++;
  fill_result(eng, fp, &a, res);
  return WD_OK;
}

wd_err_t wd_engine_process(wd_engine_t *eng, const char *json, size_t len,
                           const char *key, size_t key_len, int64_t msg_ts_ms,
                           wd_result_t *res, char *errstr, size_t errstr_size) {
  /* One thread: sketch once, after the learned lines are known. */
  fp_prepare(eng->fpr, json, len, key, key_len, msg_ts_ms, &eng->fp);
  return wd_engine_commit(eng, &eng->fp, res, errstr, errstr_size);
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
  wd_buf_append(dst, ",\"story_id\":", 12);
  wd_json_append_string(dst, res->story_id, strlen(res->story_id));
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
  st->watermark_ms = engine_watermark(eng);
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
static void save_sections(const wd_engine_t *eng, wd_state_w_t *w) {
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
  wd_cluster_save_words(eng->cs, w);
  wd_cluster_save_stories(eng->cs, w);
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

static wd_err_t load_section(wd_engine_t *eng, const char *tag, wd_state_r_t *r,
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
  if (strcmp(tag, "STRY") == 0) {
    WD_RETURN_IF(!(eng->loaded & SEC_CLUS), WD_ERR_STATE, why, why_size,
                 "section STRY before section CLUS");
    return wd_cluster_load_stories(eng->cs, r, why, why_size);
  }
  if (strcmp(tag, "TOPV") == 0) {
    WD_RETURN_IF(!(eng->loaded & SEC_CLUS), WD_ERR_STATE, why, why_size,
                 "section TOPV before section CLUS");
    return wd_cluster_load_words(eng->cs, r, why, why_size);
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

static wd_err_t load_finish(const wd_engine_t *eng, char *why, size_t why_size) {
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

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What a save or load did, for \p info (may be NULL). */
static void state_info(const wd_engine_t *eng, uint64_t bytes, double t0,
                       wd_state_info_t *info) {
  if (!info)
    return;
  wd_engine_stats_t st;
  wd_engine_stats(eng, &st);
  info->bytes = bytes;
  info->articles = st.index_docs;
  info->seconds = now_s() - t0;
}

wd_err_t wd_engine_save(const wd_engine_t *eng, const char *dir,
                        const wd_state_offsets_t *offs, wd_state_info_t *info,
                        char *errstr, size_t errstr_size) {
  double t0 = now_s();
  uint64_t bytes = 0;
  wd_state_w_t *w = wd_state_w_open(dir, errstr, errstr_size);
  if (!w)
    return WD_ERR_IO;
  save_sections(eng, w);
  wd_state_offsets_save(w, offs);
  WD_FORWARD_IF_ERR(wd_state_w_close(w, &bytes, errstr, errstr_size));
  state_info(eng, bytes, t0, info);
  return WD_OK;
}

typedef struct load_ctx_s {
  wd_engine_t *eng;
  wd_state_offsets_t *offs;
} load_ctx_t;

/* wd_state_section_cb_t: OFFS and PTIM are the container's, the rest the
 * engine's. */
static wd_err_t load_cb(void *opaque, const char *tag, wd_state_r_t *r, char *why,
                        size_t why_size) {
  load_ctx_t *lc = opaque;
  if (strcmp(tag, "OFFS") == 0) {
    WD_RETURN_IF(wd_state_offsets_load(r, lc->offs) != 0, WD_ERR_STATE, why, why_size,
                 "truncated");
    return WD_OK;
  }
  if (strcmp(tag, "PTIM") == 0) {
    WD_RETURN_IF(wd_state_offsets_load_events(r, lc->offs) != 0, WD_ERR_STATE, why,
                 why_size, "truncated");
    return WD_OK;
  }
  return load_section(lc->eng, tag, r, why, why_size);
}

wd_err_t wd_engine_load(wd_engine_t *eng, const char *dir, wd_state_offsets_t *offs,
                        wd_state_info_t *info, char *errstr, size_t errstr_size) {
  char path[4096], why[256];
  double t0 = now_s();
  uint64_t bytes = 0;
  load_ctx_t lc = {eng, offs};

  if (offs)
    wd_state_offsets_clear(offs);
  WD_FORWARD_IF_ERR(wd_state_foreach(dir, load_cb, &lc, &bytes, errstr, errstr_size));
  if (load_finish(eng, why, sizeof(why)) != WD_OK) {
    wd_state_path(path, sizeof(path), dir);
    wd_errstr_set(errstr, errstr_size, "checkpoint %s: %s", path, why);
    return WD_ERR_STATE;
  }
  state_info(eng, bytes, t0, info);
  return WD_OK;
}
