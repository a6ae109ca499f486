/* bench_stages.c - wd-bench-stages: throughput of every pipeline stage alone,
 * through the public headers, plus the whole engine in process.
 *
 * One untimed preparation pass runs the stages in engine order and keeps each
 * stage's input (decoded text, normalised text, kept text, shingle sets,
 * tokens, signatures, answers), so every stage is then timed on exactly what
 * it sees in the pipeline. Stages with memory (LSH, cluster store, engine)
 * start empty on every pass; boilerplate and SimHash keep what they learned
 * (their steady state). The table of stages is {name, run, reset}: adding a
 * variant is one row.
 *
 * The floor.* rows time, on the same inputs, the least work each stage
 * cannot avoid on this machine, written the plainest fast way (the
 * README's per-stage table puts them beside the stages): what a stage
 * costs above its floor is what its extra rules and its data structures
 * cost. They compute nothing wiredup uses. */
#include "bench.h"
#include "datagen.h"

#include "wiredup/boiler.h"
#include "wiredup/cluster.h"
#include "wiredup/config.h"
#include "wiredup/engine.h"
#include "wiredup/lsh.h"
#include "wiredup/minhash.h"
#include "wiredup/norm.h"
#include "wiredup/record.h"
#include "wiredup/shingle.h"
#include "wiredup/simhash.h"
#include "wiredup/mix.h"
#include "wiredup/topv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#define XXH_INLINE_ALL /* the floors hash as a speed-minded program would */
#include <xxhash.h>

#define MAX_LINES 4096

/* A set of byte strings in one buffer. */
typedef struct strs_s {
  wd_buf_t buf;
  size_t *off; /* cnt + 1 offsets */
  size_t cnt, cap;
} strs_t;

static void strs_push(strs_t *s, const char *p, size_t n) {
  if (s->cnt + 2 > s->cap) {
    s->cap = s->cap ? s->cap * 2 : 1024;
    s->off = wd_realloc(s->off, s->cap * sizeof(*s->off));
  }
  if (s->cnt == 0)
    s->off[0] = 0;
  wd_buf_append(&s->buf, p, n);
  s->off[++s->cnt] = s->buf.len;
}
static const char *strs_at(const strs_t *s, size_t i, size_t *n) {
  *n = s->off[i + 1] - s->off[i];
  return s->buf.p + s->off[i];
}
static void strs_free(strs_t *s) {
  wd_buf_free(&s->buf);
  wd_free(s->off);
}

typedef struct u64s_s { /* arrays of uint64 in one block */
  uint64_t *v;
  size_t *off;
  size_t len, cap, cnt, ocap;
} u64s_t;

static void u64s_push(u64s_t *s, const uint64_t *p, size_t n) {
  if (s->cnt + 2 > s->ocap) {
    s->ocap = s->ocap ? s->ocap * 2 : 1024;
    s->off = wd_realloc(s->off, s->ocap * sizeof(*s->off));
  }
  if (s->len + n > s->cap) {
    while (s->len + n > s->cap)
      s->cap = s->cap ? s->cap * 2 : 65536;
    s->v = wd_realloc(s->v, s->cap * sizeof(*s->v));
  }
  if (s->cnt == 0)
    s->off[0] = 0;
  if (n)
    memcpy(s->v + s->len, p, n * sizeof(*p));
  s->len += n;
  s->off[++s->cnt] = s->len;
}
static const uint64_t *u64s_at(const u64s_t *s, size_t i, size_t *n) {
  *n = s->off[i + 1] - s->off[i];
  return s->v + s->off[i];
}
static void u64s_free(u64s_t *s) {
  wd_free(s->v);
  wd_free(s->off);
}

/* Everything the timed passes read and the stage objects they use. */
typedef struct ctx_s {
  wd_config_t *cfg;
  size_t docs, bytes;
  strs_t lines, ids, texts, sources, norms, kepts, clusters, stories, dups;
  u64s_t sets, toks, linehashes;
  uint64_t *cluster_keys;
  uint32_t *sigs; /* docs * num_perm */
  uint64_t *simhashes;
  wd_topv_t *topvs; /* heaviest words, numbers, source: the word rule's input */
  double *sims;
  uint32_t *sizes;
  int64_t *ts;
  uint32_t num_perm;

  wd_decoder_t *dec;
  wd_norm_t *nm;
  wd_boiler_t *bp;
  wd_shingle_t *sh;
  wd_minhash_t *mh_oph, *mh_mix;
  wd_simhash_t *sm;
  wd_lsh_t *lsh;
  wd_cluster_t *cs;
  wd_cluster_opts_t copts;
  wd_engine_t *eng;
  wd_buf_t out, out2;
  uint32_t *sig;
  wd_lsh_hit_t *hits;
  volatile uint64_t sink; /* keeps results alive */

  /* the floors' own inputs and tables */
  u64s_t cands;      /* per doc, the earlier docs the index offered it */
  uint16_t *sig16;   /* docs * num_perm, the values as the memory keeps them */
  uint64_t *ftab;    /* floor.lsh: key | count, one table for every band */
  size_t ftab_mask;
  uint32_t *fdf;     /* floor.simhash: document frequencies, as big as wiredup's */
  size_t fdf_mask;
} ctx_t;

static const char **phrases_of(const wd_config_t *cfg) {
  /* the built-in list, as the engine uses with default settings */
  (void)cfg;
  return (const char **)wd_boiler_default_phrases;
}

/* ==== Preparation: the stages in engine order, keeping every input ==== */

static int prepare_floors(ctx_t *c);

static int prepare(ctx_t *c) {
  char err[256];
  wd_record_t rec;
  uint64_t lh[MAX_LINES];
  wd_buf_t norm = WD_BUF_INIT, kept = WD_BUF_INIT;
  const wd_config_t *cfg = c->cfg;

  c->dec = wd_decoder_new(cfg);
  wd_norm_opts_t no;
  wd_norm_opts_default(&no);
  c->nm = wd_norm_new(&no);
  wd_boiler_opts_t bo;
  wd_boiler_opts_default(&bo);
  bo.phrases = phrases_of(cfg);
  c->bp = wd_boiler_new(&bo);
  wd_shingle_opts_t so;
  wd_shingle_opts_default(&so);
  so.k = (uint32_t)cfg->shingle_k;
  c->sh = wd_shingle_new(&so);
  wd_minhash_opts_t mo;
  wd_minhash_opts_default(&mo);
  mo.num_perm = (uint32_t)cfg->minhash_num_perm;
  mo.seed = (uint64_t)cfg->minhash_seed;
  c->mh_oph = wd_minhash_new(&mo);
  mo.method = WD_MINHASH_MIX;
  c->mh_mix = wd_minhash_new(&mo);
  c->num_perm = mo.num_perm;
  wd_simhash_opts_t smo;
  wd_simhash_opts_default(&smo);
  c->sm = wd_simhash_new(&smo);
  wd_engine_cluster_opts(cfg, mo.num_perm, &c->copts);
  wd_cluster_t *cs = wd_cluster_new(&c->copts);
  if (!c->nm || !c->bp || !c->sh || !c->mh_oph || !c->mh_mix || !c->sm || !cs)
    return -1;

  c->sigs = wd_malloc(c->docs * c->num_perm * sizeof(uint32_t));
  c->simhashes = wd_malloc(c->docs * sizeof(uint64_t));
  c->topvs = wd_malloc(c->docs * sizeof(wd_topv_t));
  c->cluster_keys = wd_malloc(c->docs * sizeof(uint64_t));
  c->sims = wd_malloc(c->docs * sizeof(double));
  c->sizes = wd_malloc(c->docs * sizeof(uint32_t));
  c->ts = wd_malloc(c->docs * sizeof(int64_t));
  c->sig = wd_malloc(c->num_perm * sizeof(uint32_t));
  c->hits = wd_malloc(c->copts.max_candidates * sizeof(*c->hits));

  for (size_t i = 0; i < c->docs; i++) {
    size_t n, nlines = 0, nset, ntok;
    const char *line = strs_at(&c->lines, i, &n);
    if (wd_record_decode(c->dec, line, n, NULL, 0, -1, &rec, err, sizeof(err)) != WD_OK) {
      fprintf(stderr, "wd-bench-stages: record %zu: %s\n", i + 1, err);
      return -1;
    }
    strs_push(&c->ids, rec.id, rec.id_len + 1); /* with its NUL */
    strs_push(&c->texts, rec.text, rec.text_len);
    strs_push(&c->sources, rec.source ? rec.source : "", rec.source ? rec.source_len : 0);
    c->ts[i] = rec.ts_ms;
    wd_norm_text(c->nm, rec.text, rec.text_len, &norm);
    strs_push(&c->norms, norm.p ? norm.p : "", norm.len);
    wd_boiler_filter(c->bp, rec.source, rec.source_len, norm.p, norm.len, &kept, lh,
                     &nlines, MAX_LINES);
    strs_push(&c->kepts, kept.p ? kept.p : "", kept.len);
    u64s_push(&c->linehashes, lh, nlines);
    wd_shingle_text(c->sh, kept.p ? kept.p : "", kept.len);
    const uint64_t *set = wd_shingle_set(c->sh, &nset);
    const uint64_t *tok = wd_shingle_tokens(c->sh, &ntok);
    u64s_push(&c->sets, set, nset);
    u64s_push(&c->toks, tok, ntok);
    uint32_t *sig = c->sigs + i * c->num_perm;
    wd_minhash_sign(c->mh_oph, set, nset, sig);
    c->simhashes[i] = wd_simhash_sign(c->sm, tok, ntok);
    wd_topv_t *tv = &c->topvs[i];
    wd_simhash_topv(c->sm, tv);
    tv->src = rec.source ? (uint32_t)wd_mix64(XXH3_64bits(rec.source, rec.source_len)) | 1u : 0;
    tv->nnum = wd_topv_numbers(tv->num, kept.p ? kept.p : "", kept.len);
    wd_doc_t doc = {.id = rec.id, .id_len = rec.id_len, .sig = sig,
                    .shingle_cnt = (uint32_t)nset, .simhash = c->simhashes[i],
                    .topv = tv, .ts_ms = rec.ts_ms};
    wd_assign_t a;
    wd_cluster_assign(cs, &doc, &a);
    c->cluster_keys[i] = a.cluster_key;
    strs_push(&c->clusters, a.cluster_id, strlen(a.cluster_id) + 1);
    strs_push(&c->stories, a.story_id, strlen(a.story_id) + 1);
    strs_push(&c->dups, a.duplicate_of ? a.duplicate_of : "",
              a.duplicate_of ? strlen(a.duplicate_of) + 1 : 0);
    c->sims[i] = a.similarity;
    c->sizes[i] = a.cluster_size;
    wd_boiler_learn(c->bp, rec.source, rec.source_len, lh, nlines, a.cluster_key);
    wd_simhash_observe(c->sm, tok, ntok);
  }
  wd_cluster_destroy(cs);
  wd_buf_free(&norm);
  wd_buf_free(&kept);
  return prepare_floors(c);
}

/* ==== The stages ==== */

static void run_decode(void *v) {
  ctx_t *c = v;
  char err[256];
  wd_record_t rec;
  for (size_t i = 0; i < c->docs; i++) {
    size_t n;
    const char *line = strs_at(&c->lines, i, &n);
    wd_record_decode(c->dec, line, n, NULL, 0, -1, &rec, err, sizeof(err));
    c->sink += rec.text_len;
  }
}

static void run_norm(void *v) {
  ctx_t *c = v;
  for (size_t i = 0; i < c->docs; i++) {
    size_t n;
    const char *t = strs_at(&c->texts, i, &n);
    wd_norm_text(c->nm, t, n, &c->out);
    c->sink += c->out.len;
  }
}

static void run_boiler(void *v) {
  ctx_t *c = v;
  uint64_t lh[MAX_LINES];
  for (size_t i = 0; i < c->docs; i++) {
    size_t n, sn, nl = 0;
    const char *t = strs_at(&c->norms, i, &n);
    const char *s = strs_at(&c->sources, i, &sn);
    wd_boiler_filter(c->bp, sn ? s : NULL, sn, t, n, &c->out, lh, &nl, MAX_LINES);
    wd_boiler_learn(c->bp, sn ? s : NULL, sn, lh, nl, c->cluster_keys[i]);
    c->sink += c->out.len;
  }
}

static void run_shingle(void *v) {
  ctx_t *c = v;
  for (size_t i = 0; i < c->docs; i++) {
    size_t n, m;
    const char *t = strs_at(&c->kepts, i, &n);
    wd_shingle_text(c->sh, t, n);
    c->sink += (uintptr_t)wd_shingle_set(c->sh, &m) + m;
  }
}

/* As the engine shingles: from the token hashes the boilerplate stage made. */
static void run_shingle_hashes(void *v) {
  ctx_t *c = v;
  for (size_t i = 0; i < c->docs; i++) {
    size_t n, m;
    const uint64_t *tok = u64s_at(&c->toks, i, &n);
    wd_shingle_hashes(c->sh, tok, n);
    c->sink += (uintptr_t)wd_shingle_set(c->sh, &m) + m;
  }
}

static void sign_all(ctx_t *c, const wd_minhash_t *mh) {
  for (size_t i = 0; i < c->docs; i++) {
    size_t n;
    const uint64_t *set = u64s_at(&c->sets, i, &n);
    wd_minhash_sign(mh, set, n, c->sig);
    c->sink += c->sig[0];
  }
}
static void run_minhash_oph(void *v) { sign_all(v, ((ctx_t *)v)->mh_oph); }
static void run_minhash_mix(void *v) { sign_all(v, ((ctx_t *)v)->mh_mix); }

static void run_simhash(void *v) {
  ctx_t *c = v;
  wd_topv_t tv;
  for (size_t i = 0; i < c->docs; i++) {
    size_t n;
    const uint64_t *tok = u64s_at(&c->toks, i, &n);
    c->sink += wd_simhash_sign(c->sm, tok, n);
    wd_simhash_topv(c->sm, &tv); /* the word rule's vector comes with it */
    c->sink += tv.n;
    wd_simhash_observe_signed(c->sm); /* as the engine: no recount */
  }
}

/* The LSH reads band values from the caller's signatures (doc i = row i). */
static uint32_t lsh_rows(void *ctx, uint32_t ref, uint32_t band, uint32_t *rows) {
  const ctx_t *c = ctx;
  const uint32_t nr = c->num_perm / c->copts.bands;
  memcpy(rows, c->sigs + (size_t)ref * c->num_perm + (size_t)band * nr, nr * sizeof(*rows));
  return ref;
}

static void reset_lsh(void *v) {
  ctx_t *c = v;
  wd_lsh_destroy(c->lsh);
  uint32_t bits = 21; /* as the engine at index.max_articles 2M */
  while (bits < 28 && ((size_t)1 << bits) < c->docs)
    bits++;
  const wd_lsh_opts_t o = {.bands = c->copts.bands,
                           .rows = c->num_perm / c->copts.bands,
                           .doc_bits = bits,
                           .doc_fn = lsh_rows,
                           .ctx = c};
  c->lsh = wd_lsh_new(&o);
}
/* The same with every band table presized for the whole pass: what the
 * index costs once it has grown (a service's steady state), without the
 * rebuilds and page faults of growing. */
static void reset_lsh_reserved(void *v) {
  ctx_t *c = v;
  reset_lsh(v);
  wd_lsh_reserve(c->lsh, c->docs);
}
static void run_lsh(void *v) {
  ctx_t *c = v;
  for (size_t i = 0; i < c->docs; i++) {
    const uint32_t *sig = c->sigs + i * c->num_perm;
    c->sink += wd_lsh_query(c->lsh, sig, c->hits, c->copts.max_candidates);
    wd_lsh_insert(c->lsh, sig, (uint32_t)i);
  }
}

static void reset_cluster(void *v) {
  ctx_t *c = v;
  wd_cluster_destroy(c->cs);
  c->cs = wd_cluster_new(&c->copts);
}
static void run_cluster(void *v) {
  ctx_t *c = v;
  for (size_t i = 0; i < c->docs; i++) {
    size_t idn;
    const char *id = strs_at(&c->ids, i, &idn);
    wd_doc_t doc = {.id = id, .id_len = idn - 1, .sig = c->sigs + i * c->num_perm,
                    .shingle_cnt = (uint32_t)(c->sets.off[i + 1] - c->sets.off[i]),
                    .simhash = c->simhashes[i], .topv = &c->topvs[i], .ts_ms = c->ts[i]};
    wd_assign_t a;
    wd_cluster_assign(c->cs, &doc, &a);
    c->sink += a.cluster_size;
  }
}

static void run_output(void *v) {
  ctx_t *c = v;
  for (size_t i = 0; i < c->docs; i++) {
    size_t n, dn, sn;
    const char *src = strs_at(&c->sources, i, &sn);
    const char *dup = strs_at(&c->dups, i, &dn);
    /* sources are stored without their NUL: format from a NUL-terminated copy */
    wd_buf_clear(&c->out2);
    wd_buf_append(&c->out2, src, sn);
    wd_result_t res = {.id = strs_at(&c->ids, i, &n),
                       .cluster_id = strs_at(&c->clusters, i, &n),
                       .story_id = strs_at(&c->stories, i, &n),
                       .duplicate_of = dn ? dup : NULL,
                       .similarity = c->sims[i],
                       .cluster_size = c->sizes[i],
                       .source = sn ? c->out2.p : NULL,
                       .ts_ms = c->ts[i],
                       .has_ts = 1};
    wd_coords_t coords = {.line = i + 1};
    wd_buf_clear(&c->out);
    wd_result_format(&res, &coords, &c->out);
    wd_buf_appendc(&c->out, '\n');
    c->sink += c->out.len;
  }
}

static void reset_engine(void *v) {
  ctx_t *c = v;
  char err[256];
  wd_engine_destroy(c->eng);
  c->eng = wd_engine_new(c->cfg, err, sizeof(err));
  if (!c->eng) {
    fprintf(stderr, "wd-bench-stages: engine: %s\n", err);
    exit(1);
  }
}
static void run_engine(void *v) {
  ctx_t *c = v;
  char err[256];
  for (size_t i = 0; i < c->docs; i++) {
    size_t n;
    const char *line = strs_at(&c->lines, i, &n);
    wd_result_t res;
    if (wd_engine_process(c->eng, line, n, NULL, 0, -1, &res, err, sizeof(err)) != WD_OK)
      continue;
    wd_coords_t coords = {.line = i + 1};
    wd_buf_clear(&c->out);
    wd_result_format(&res, &coords, &c->out);
    wd_buf_appendc(&c->out, '\n');
    c->sink += c->out.len;
  }
}

/* ==== Floors ==== */

/* The candidates the LSH offers each doc (query, then insert, in order), and
 * the 16-bit signature copy floor.cluster compares. */
static int prepare_floors(ctx_t *c) {
  uint32_t bits = 21;
  while (bits < 28 && ((size_t)1 << bits) < c->docs)
    bits++;
  const wd_lsh_opts_t o = {.bands = c->copts.bands, .rows = c->num_perm / c->copts.bands,
                           .doc_bits = bits, .doc_fn = lsh_rows, .ctx = c};
  wd_lsh_t *lsh = wd_lsh_new(&o);
  uint64_t *ids = wd_malloc(c->copts.max_candidates * sizeof(*ids));
  for (size_t i = 0; i < c->docs; i++) {
    const uint32_t *sig = c->sigs + i * c->num_perm;
    const size_t n = wd_lsh_query(lsh, sig, c->hits, c->copts.max_candidates);
    for (size_t k = 0; k < n; k++)
      ids[k] = c->hits[k].doc;
    u64s_push(&c->cands, ids, n);
    wd_lsh_insert(lsh, sig, (uint32_t)i);
  }
  wd_free(ids);
  wd_lsh_destroy(lsh);
  c->sig16 = wd_malloc(c->docs * c->num_perm * sizeof(*c->sig16));
  for (size_t i = 0; i < c->docs * c->num_perm; i++)
    c->sig16[i] = (uint16_t)c->sigs[i];
  size_t cap = 1u << 16;
  while (cap < 2 * c->docs * c->copts.bands)
    cap *= 2;
  c->ftab = wd_calloc(cap, sizeof(*c->ftab));
  c->ftab_mask = cap - 1;
  c->fdf_mask = (1u << 21) - 1; /* 8 MiB, wiredup's df table is 12 */
  c->fdf = wd_malloc((c->fdf_mask + 1) * sizeof(*c->fdf));
  for (size_t i = 0; i <= c->fdf_mask; i++)
    c->fdf[i] = (uint32_t)(wd_mix64(i) % 1000) + 1;
  return 0;
}

/* Decode: every string of the record found and copied (memchr for the
 * quotes); no escapes, no field names, no checks. */
static void run_floor_decode(void *v) {
  ctx_t *c = v;
  for (size_t i = 0; i < c->docs; i++) {
    size_t n;
    const char *p = strs_at(&c->lines, i, &n), *end = p + n;
    wd_buf_clear(&c->out);
    while (p < end) {
      const char *q = memchr(p, '"', (size_t)(end - p));
      if (!q)
        break;
      const char *e = memchr(q + 1, '"', (size_t)(end - q - 1));
      if (!e)
        break;
      wd_buf_append(&c->out, q + 1, (size_t)(e - q - 1));
      p = e + 1;
    }
    c->sink += c->out.len;
  }
}

/* Normalise: the text copied with ASCII letters lower-cased, 16 bytes a
 * step; no Unicode, no markup, no entities, no word rules. */
static void run_floor_norm(void *v) {
  ctx_t *c = v;
  for (size_t i = 0; i < c->docs; i++) {
    size_t n;
    const unsigned char *t = (const unsigned char *)strs_at(&c->texts, i, &n);
    wd_buf_clear(&c->out);
    wd_buf_reserve(&c->out, n + 16);
    unsigned char *o = (unsigned char *)c->out.p;
    size_t k = 0;
#if defined(__SSE2__)
    const __m128i a1 = _mm_set1_epi8('A' - 1), z1 = _mm_set1_epi8('Z' + 1),
                  bit = _mm_set1_epi8(0x20);
    for (; k + 16 <= n; k += 16) {
      const __m128i x = _mm_loadu_si128((const __m128i *)(t + k));
      const __m128i up = _mm_and_si128(_mm_cmpgt_epi8(x, a1), _mm_cmplt_epi8(x, z1));
      _mm_storeu_si128((__m128i *)(o + k), _mm_or_si128(x, _mm_and_si128(up, bit)));
    }
#endif
    for (; k < n; k++)
      o[k] = (unsigned char)(t[k] >= 'A' && t[k] <= 'Z' ? t[k] | 0x20 : t[k]);
    c->out.len = n;
    c->sink += o[n / 2];
  }
}

/* Separator bits (' ' or '\n') of t[0..64) and newline bits, 16 bytes a
 * step; bytes past n count as separators. */
static void sep_mask64(const char *t, size_t n, uint64_t *sep, uint64_t *nl) {
  uint64_t s = 0, l = 0;
#if defined(__SSE2__)
  if (n >= 64) {
    const __m128i sp = _mm_set1_epi8(' '), lf = _mm_set1_epi8('\n');
    for (unsigned k = 0; k < 4; k++) {
      const __m128i x = _mm_loadu_si128((const __m128i *)(t + 16 * k));
      const uint64_t ml = (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x, lf));
      const uint64_t ms = (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x, sp));
      s |= (ms | ml) << (16 * k);
      l |= ml << (16 * k);
    }
    *sep = s, *nl = l;
    return;
  }
#endif
  for (size_t k = 0; k < 64; k++) {
    const int isnl = k >= n || t[k] == '\n';
    s |= (uint64_t)(isnl || t[k] == ' ') << k;
    l |= (uint64_t)isnl << k;
  }
  *sep = s, *nl = l;
}

/* Boilerplate: each line of the normalised text hashed and looked up once
 * (a small table), each word hashed (the token hashes the later stages
 * take), words found 64 bytes a step; no phrase rules, no learned lines,
 * no output text. */
static void run_floor_boiler(void *v) {
  ctx_t *c = v;
  static uint64_t lines[1u << 14];
  for (size_t i = 0; i < c->docs; i++) {
    size_t n;
    const char *t = strs_at(&c->norms, i, &n);
    uint64_t acc = 0;
    size_t word = SIZE_MAX, line = 0; /* start of the open word, of the line */
    for (size_t base = 0; base < n + 1; base += 64) {
      uint64_t sep, nl;
      sep_mask64(t + base, n - (base < n ? base : n), &sep, &nl);
      if (base + 64 > n && n - base < 64) /* the text's end closes a word and a line */
        sep |= UINT64_C(1) << (n - base), nl |= UINT64_C(1) << (n - base);
      /* word starts: a non-separator after a separator */
      uint64_t edges = sep ^ ((sep << 1) | (word == SIZE_MAX ? 1 : 0));
      while (edges) {
        const size_t k = base + (size_t)__builtin_ctzll(edges);
        edges &= edges - 1;
        if (k > n)
          break;
        if (word == SIZE_MAX) {
          word = k; /* a word starts */
        } else {
          acc += XXH3_64bits_withSeed(t + word, k - word, 0); /* it ends */
          word = SIZE_MAX;
        }
      }
      while (nl) {
        const size_t k = base + (size_t)__builtin_ctzll(nl);
        nl &= nl - 1;
        if (k > n)
          break;
        const uint64_t lh = XXH3_64bits(t + line, k - line);
        acc += lines[lh & ((1u << 14) - 1)] == lh;
        line = k + 1;
      }
    }
    c->sink += acc;
  }
}

/* Shingles and MinHash: the reference path's (bench_ref.c): XXH3 of each
 * window of 5 token hashes, one-permutation MinHash into 128 bins; no
 * de-duplication (a minimum does not need it), no densification. */
static void run_floor_shingle_minhash(void *v) {
  ctx_t *c = v;
  for (size_t i = 0; i < c->docs; i++) {
    size_t n;
    const uint64_t *tok = u64s_at(&c->toks, i, &n);
    uint64_t bin[128];
    memset(bin, 0xff, sizeof(bin));
    for (size_t p = 0; p + 5 <= n; p++) {
      const uint64_t h = XXH3_64bits_withSeed(tok + p, 5 * sizeof(*tok), 0);
      const unsigned b = (unsigned)(h >> 57);
      const uint64_t x = h & ((UINT64_C(1) << 57) - 1);
      bin[b] = x < bin[b] ? x : bin[b];
    }
    c->sink += bin[0] ^ bin[127];
  }
}

/* SimHash: each distinct word counted (a small table), its document
 * frequency read once from an 8 MiB table (a random read, as wiredup's),
 * its weight added to or taken from 64 sums; no top words, no learning. */
static void run_floor_simhash(void *v) {
  ctx_t *c = v;
  enum { TC = 4096 };
  static uint64_t key[TC];
  static uint32_t cnt[TC], gen[TC], g;
  static uint64_t dis[TC];
  static float pm1[256][8];
  if (pm1[0][0] == 0)
    for (unsigned x = 0; x < 256; x++)
      for (unsigned b = 0; b < 8; b++)
        pm1[x][b] = (x >> b & 1) ? 1.0f : -1.0f;
  for (size_t i = 0; i < c->docs; i++) {
    size_t n, nd = 0;
    const uint64_t *tok = u64s_at(&c->toks, i, &n);
    g++;
    for (size_t k = 0; k < n && nd < TC / 2; k++) {
      size_t s = tok[k] & (TC - 1);
      while (gen[s] == g && key[s] != tok[k])
        s = (s + 1) & (TC - 1);
      if (gen[s] != g) {
        gen[s] = g, key[s] = tok[k], cnt[s] = 0;
        dis[nd++] = s;
      }
      cnt[s]++;
    }
    for (size_t d = 0; d < nd; d++)
      __builtin_prefetch(&c->fdf[key[dis[d]] & c->fdf_mask]);
    float acc[64] = {0};
    for (size_t d = 0; d < nd; d++) {
      const uint64_t h = key[dis[d]];
      const float w = (1.0f + logf((float)cnt[dis[d]])) /
                      (float)c->fdf[h & c->fdf_mask];
      for (unsigned by = 0; by < 8; by++) { /* +-w per bit from a byte table */
        const float *pm = pm1[(h >> (8 * by)) & 0xff];
        for (unsigned b = 0; b < 8; b++)
          acc[8 * by + b] += w * pm[b];
      }
    }
    uint64_t sig = 0;
    for (unsigned b = 0; b < 64; b++)
      sig |= (uint64_t)(acc[b] > 0) << b;
    c->sink += sig;
  }
}

/* LSH: the reference path's: 64 band keys into one presized table (no
 * growth), prefetched, each probed and counted; nothing confirmed, no
 * candidate list. */
static void reset_floor_lsh(void *v) {
  ctx_t *c = v;
  memset(c->ftab, 0, (c->ftab_mask + 1) * sizeof(*c->ftab));
}
static void run_floor_lsh(void *v) {
  ctx_t *c = v;
  const uint32_t bands = c->copts.bands, rows = c->num_perm / bands;
  uint64_t key[256];
  for (size_t i = 0; i < c->docs; i++) {
    const uint32_t *sig = c->sigs + i * c->num_perm;
    for (uint32_t b = 0; b < bands; b++) {
      key[b] = XXH3_64bits_withSeed(sig + b * rows, rows * sizeof(*sig), b) << 16;
      __builtin_prefetch(&c->ftab[(key[b] >> 16) & c->ftab_mask], 1);
    }
    uint64_t hits = 0;
    for (uint32_t b = 0; b < bands; b++) {
      size_t s = (key[b] >> 16) & c->ftab_mask;
      while (c->ftab[s] && (c->ftab[s] & ~UINT64_C(0xffff)) != key[b])
        s = (s + 1) & c->ftab_mask;
      hits += c->ftab[s] & 0xffff;
      c->ftab[s] = c->ftab[s] ? c->ftab[s] + 1 : key[b] | 1;
    }
    c->sink += hits;
  }
}

/* Decision: every candidate the index offered read and compared with the
 * article value by value (128 16-bit values), the best kept; no SimHash or
 * word rule, no cluster records. */
static void run_floor_cluster(void *v) {
  ctx_t *c = v;
  const size_t np = c->num_perm;
  for (size_t i = 0; i < c->docs; i++) {
    size_t n;
    const uint64_t *cd = u64s_at(&c->cands, i, &n);
    const uint16_t *a = c->sig16 + i * np;
    unsigned best = 0;
    for (size_t k = 0; k < n; k++) {
      const uint16_t *b = c->sig16 + cd[k] * np;
      unsigned eq = 0;
      for (size_t j = 0; j < np; j++)
        eq += a[j] == b[j];
      best = eq > best ? eq : best;
    }
    c->sink += best;
  }
}

/* Output: the result line printed with one snprintf; no escaping. */
static void run_floor_output(void *v) {
  ctx_t *c = v;
  char line[1024];
  for (size_t i = 0; i < c->docs; i++) {
    size_t n, cn, sn;
    const char *id = strs_at(&c->ids, i, &n);
    const char *cl = strs_at(&c->clusters, i, &cn);
    const char *src = strs_at(&c->sources, i, &sn);
    const int len = snprintf(line, sizeof(line),
                             "{\"id\":\"%s\",\"cluster_id\":\"%s\",\"similarity\":%.4f,"
                             "\"cluster_size\":%u,\"source\":\"%.*s\",\"line\":%zu}\n",
                             id, cl, c->sims[i], c->sizes[i], (int)sn, src, i + 1);
    c->sink += (uint64_t)len;
  }
}

typedef struct stage_s {
  const char *name;
  wd_bench_fn_t *run;
  wd_bench_fn_t *reset;
} stage_t;

static const stage_t stages[] = {
    {"stage.decode", run_decode, NULL},
    {"stage.normalise", run_norm, NULL},
    {"stage.boilerplate", run_boiler, NULL},
    {"stage.shingle", run_shingle, NULL},
    {"stage.shingle.hashes", run_shingle_hashes, NULL},
    {"stage.minhash.oph", run_minhash_oph, NULL},
    {"stage.minhash.mix", run_minhash_mix, NULL},
    {"stage.simhash", run_simhash, NULL},
    {"stage.lsh", run_lsh, reset_lsh},
    {"stage.lsh.reserved", run_lsh, reset_lsh_reserved},
    {"stage.cluster", run_cluster, reset_cluster},
    {"stage.output", run_output, NULL},
    {"engine.inprocess", run_engine, reset_engine},
    {"floor.decode", run_floor_decode, NULL},
    {"floor.normalise", run_floor_norm, NULL},
    {"floor.boilerplate", run_floor_boiler, NULL},
    {"floor.shingle_minhash", run_floor_shingle_minhash, NULL},
    {"floor.simhash", run_floor_simhash, NULL},
    {"floor.lsh", run_floor_lsh, reset_floor_lsh},
    {"floor.cluster", run_floor_cluster, NULL},
    {"floor.output", run_floor_output, NULL},
    {NULL, NULL, NULL},
};

/* ==== Corpus ==== */

static int load_file(ctx_t *c, const char *path, size_t max_docs) {
  FILE *fp = fopen(path, "rb");
  if (!fp) {
    perror(path);
    return -1;
  }
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  while ((max_docs == 0 || c->lines.cnt < max_docs) &&
         (n = getline(&line, &cap, fp)) > 0) {
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
      n--;
    if (n == 0)
      continue;
    strs_push(&c->lines, line, (size_t)n);
  }
  free(line);
  fclose(fp);
  return 0;
}

static void usage(FILE *fp) {
  fprintf(fp,
          "usage: wd-bench-stages [--docs N] [--reps N] [--seed S] [--dup-share F]\n"
          "                       [--input FILE.jsonl] [--filter SUBSTRING]\n"
          "Times every stage over N documents (default 2000; generated unless --input)\n"
          "and prints one bench=... line per stage.\n");
}

int main(int argc, char **argv) {
  ctx_t c;
  size_t docs = 2000;
  unsigned reps = 5;
  const char *input = NULL, *filter = NULL;
  wd_datagen_opts_t go;
  wd_datagen_opts_default(&go);
  memset(&c, 0, sizeof(c));
  const char *a, *v;
  for (int i = 1; wd_bench_next_opt(argc, argv, &i, usage, &a, &v);) {
    if (wd_datagen_opt(&go, a, v) || wd_bench_docs_opt(a, v, &docs, &reps))
      continue;
    if (!strcmp(a, "--input"))
      input = v;
    else if (!strcmp(a, "--filter"))
      filter = v;
    else {
      usage(stderr);
      return 2;
    }
  }

  if (input) {
    if (load_file(&c, input, docs) != 0)
      return 1;
  } else {
    wd_datagen_t *g = wd_datagen_new(&go);
    wd_buf_t line = WD_BUF_INIT;
    for (size_t i = 0; i < docs; i++) {
      wd_buf_clear(&line);
      wd_datagen_next(g, &line);
      strs_push(&c.lines, line.p, line.len);
    }
    wd_buf_free(&line);
    wd_datagen_destroy(g);
  }
  c.docs = c.lines.cnt;
  c.bytes = c.lines.buf.len;
  if (c.docs == 0) {
    fprintf(stderr, "wd-bench-stages: no documents\n");
    return 1;
  }
  c.cfg = wd_config_new();
  if (prepare(&c) != 0)
    return 1;

  for (const stage_t *s = stages; s->name; s++) {
    if (filter && !strstr(s->name, filter))
      continue;
    wd_bench_params_t p = {.name = s->name, .run = s->run, .reset = s->reset,
                           .ctx = &c, .docs = c.docs, .bytes = c.bytes, .reps = reps};
    wd_bench_outcome_t out;
    wd_bench_run(&p, &out);
    wd_bench_print(stdout, &p, &out, NULL);
  }
  char extra[64];
  snprintf(extra, sizeof(extra), "peak_rss_kb=%ld", wd_bench_peak_rss_kb());
  fprintf(stdout, "bench=stages.summary docs=%zu bytes=%zu %s\n", c.docs, c.bytes, extra);

  wd_engine_destroy(c.eng);
  wd_cluster_destroy(c.cs);
  wd_lsh_destroy(c.lsh);
  wd_decoder_destroy(c.dec);
  wd_norm_destroy(c.nm);
  wd_boiler_destroy(c.bp);
  wd_shingle_destroy(c.sh);
  wd_minhash_destroy(c.mh_oph);
  wd_minhash_destroy(c.mh_mix);
  wd_simhash_destroy(c.sm);
  strs_t *ss[] = {&c.lines, &c.ids, &c.texts, &c.sources, &c.norms, &c.kepts,
                  &c.clusters, &c.stories, &c.dups};
  for (size_t i = 0; i < sizeof(ss) / sizeof(ss[0]); i++)
    strs_free(ss[i]);
  u64s_free(&c.sets);
  u64s_free(&c.toks);
  u64s_free(&c.linehashes);
  u64s_free(&c.cands);
  wd_free(c.sig16);
  wd_free(c.ftab);
  wd_free(c.fdf);
  wd_free(c.sigs);
  wd_free(c.simhashes);
  wd_free(c.topvs);
  wd_free(c.cluster_keys);
  wd_free(c.sims);
  wd_free(c.sizes);
  wd_free(c.ts);
  wd_free(c.sig);
  wd_free(c.hits);
  wd_buf_free(&c.out);
  wd_buf_free(&c.out2);
  wd_config_destroy(c.cfg);
  return 0;
}
