/* test_fprec.c - the fingerprint record (fprec.h): committing a decoded
 * record answers exactly as committing the fingerprint itself (the bundled
 * sample, the golden inputs, generated newswire, the Reuters rewrites when
 * ../shared/data has them, and a text cut at WD_FP_MAX_LINES lines), with
 * and without hints; the decoded fingerprint equals the original field by
 * field; every truncation is refused and corrupted counts never crash. */
#include "wd_test.h"
#include "datagen.h"
#include "wiredup/config.h"
#include "wiredup/engine.h"
#include "wiredup/fprec.h"
#include "wiredup/log.h"
#include "wiredup/mem.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ==== Inputs ==== */

typedef struct lines_s {
  char **v;
  size_t cnt, cap;
} lines_t;

static void lines_add(lines_t *l, const char *s, size_t len) {
  if (l->cnt == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 256;
    l->v = realloc(l->v, l->cap * sizeof(*l->v));
  }
  char *c = malloc(len + 1);
  memcpy(c, s, len);
  c[len] = '\0';
  l->v[l->cnt++] = c;
}

static void lines_free(lines_t *l) {
  for (size_t i = 0; i < l->cnt; i++)
    free(l->v[i]);
  free(l->v);
  memset(l, 0, sizeof(*l));
}

/* Up to \p max lines of \p dir/\p name; 0 if the file is absent. */
static int lines_read(lines_t *l, const char *dir, const char *name, size_t max) {
  char path[1024], *line = NULL;
  size_t cap = 0, n = 0;
  ssize_t len;
  snprintf(path, sizeof(path), "%s/%s", dir ? dir : ".", name);
  FILE *f = fopen(path, "rb");
  if (!f)
    return 0;
  while (n < max && (len = getline(&line, &cap, f)) > 0) {
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
      len--;
    if (len) {
      lines_add(l, line, (size_t)len);
      n++;
    }
  }
  free(line);
  fclose(f);
  return 1;
}

static void lines_generated(lines_t *l, size_t n, uint64_t seed) {
  wd_datagen_opts_t o;
  wd_datagen_opts_default(&o);
  o.seed = seed;
  wd_datagen_t *g = wd_datagen_new(&o);
  wd_buf_t b = WD_BUF_INIT;
  for (size_t i = 0; i < n; i++) {
    wd_buf_clear(&b);
    wd_datagen_next(g, &b);
    lines_add(l, b.p, b.len);
  }
  wd_buf_free(&b);
  wd_datagen_destroy(g);
}

/* An article of \p n short lines, each its own (learnable) line, with
 * variant \p v changing every 50th: more than WD_FP_MAX_LINES cuts the
 * line hashes. */
static void lines_many(lines_t *l, const char *id, size_t n, int v) {
  wd_buf_t b = WD_BUF_INIT;
  wd_buf_printf(&b, "{\"id\":\"%s\",\"source\":\"wire\",\"published_at\":\"2024-05-01T10:00:00Z\","
                    "\"body\":\"",
                id);
  for (size_t i = 0; i < n; i++)
    wd_buf_printf(&b, "Row %zu says %s %zu.\\n\\n", i, (v && i % 50 == 7) ? "otherwise" : "plainly",
                  i * 7919 % 10007);
  wd_buf_appends(&b, "\"}");
  lines_add(l, b.p, b.len);
  wd_buf_free(&b);
}

/* ==== Equivalence ==== */

static int same_str(const char *a, const char *b) {
  return a == b || (a && b && strcmp(a, b) == 0);
}

static int result_differs(const wd_result_t *a, const wd_result_t *b, char *what,
                          size_t what_size) {
#define DIFF(cond, name)                                                       \
  if (cond) {                                                                  \
    snprintf(what, what_size, "%s", name);                                     \
    return 1;                                                                  \
  }
  DIFF(!same_str(a->id, b->id), "id");
  DIFF(!same_str(a->cluster_id, b->cluster_id), "cluster_id");
  DIFF(!same_str(a->story_id, b->story_id), "story_id");
  DIFF(!same_str(a->duplicate_of, b->duplicate_of), "duplicate_of");
  DIFF(memcmp(&a->similarity, &b->similarity, sizeof(double)) != 0, "similarity");
  DIFF(a->cluster_size != b->cluster_size, "cluster_size");
  DIFF(!same_str(a->source, b->source), "source");
  DIFF(a->ts_ms != b->ts_ms || a->has_ts != b->has_ts, "ts");
  DIFF(a->redelivered != b->redelivered, "redelivered");
#undef DIFF
  return 0;
}

static int buf_eq(const wd_buf_t *a, const wd_buf_t *b) {
  return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

/* The decoded \p b against the fingerprint \p a it was made from: every
 * field wd_engine_commit reads. @returns the first that differs, or NULL. */
static const char *fp_differs(const wd_fp_t *a, const wd_fp_t *b, uint32_t num_perm) {
  if (a->err != b->err || !buf_eq(&a->id, &b->id))
    return "id";
  if (a->has_source != b->has_source || (a->has_source && !buf_eq(&a->source, &b->source)))
    return "source";
  if (a->has_ts != b->has_ts || (a->has_ts && a->ts_ms != b->ts_ms))
    return "ts";
  if (!buf_eq(&a->warning, &b->warning))
    return "warning";
  if (a->nnum != b->nnum || memcmp(a->num, b->num, a->nnum * sizeof(*a->num)))
    return "num";
  if (a->nlines != b->nlines)
    return "nlines";
  if (a->nlines >= WD_FP_MAX_LINES)
    return buf_eq(&a->norm, &b->norm) ? NULL : "norm";
  if (memcmp(a->lines, b->lines, a->nlines * sizeof(*a->lines)) ||
      memcmp(a->line_tok, b->line_tok, 2 * a->nlines * sizeof(*a->line_tok)))
    return "lines";
  if (a->ntok != b->ntok || memcmp(a->tok, b->tok, a->ntok * sizeof(*a->tok)))
    return "tok";
  if (a->npred != b->npred || (a->npred && memcmp(a->pred, b->pred, a->nlines)))
    return "pred";
  if (a->sketched != b->sketched)
    return "sketched";
  if (!a->sketched)
    return NULL;
  if (a->nset != b->nset || memcmp(a->sig, b->sig, num_perm * sizeof(*a->sig)))
    return "sketch";
  const wd_terms_t *x = &a->terms, *y = &b->terms;
  if (x->n != y->n || x->fh_seed != y->fh_seed ||
      memcmp(x->word, y->word, x->n * sizeof(*x->word)) ||
      memcmp(x->cnt, y->cnt, x->n * sizeof(*x->cnt)) ||
      memcmp(x->dfh, y->dfh, x->n * sizeof(*x->dfh)) ||
      memcmp(x->fh, y->fh, x->n * sizeof(*x->fh)))
    return "terms";
  return NULL;
}

typedef struct equiv_s {
  size_t records, invalid, pred, cut, dups;
} equiv_t;

/* Engine A: wd_fingerprint -> commit. Engine B: wd_fingerprint -> encode
 * -> decode -> commit. With \p hint_every, both take a new hint from their
 * engine every that many records. */
static int equiv_run(const wd_config_t *cfg, const lines_t *in, size_t hint_every,
                     equiv_t *st) {
  char e[512], ea[512], eb[512];
  const uint32_t np = (uint32_t)cfg->minhash_num_perm;
  wd_engine_t *A = wd_engine_new(cfg, e, sizeof(e));
  WD_T_ASSERT(A, "%s", e);
  wd_engine_t *B = wd_engine_new(cfg, e, sizeof(e));
  WD_T_ASSERT(B, "%s", e);
  wd_fingerprinter_t *fa = wd_fingerprinter_new(cfg, e, sizeof(e));
  wd_fingerprinter_t *fb = wd_fingerprinter_new(cfg, e, sizeof(e));
  wd_fprec_decoder_t *dec = wd_fprec_decoder_new(cfg, e, sizeof(e));
  WD_T_ASSERT(fa && fb && dec, "%s", e);
  wd_hint_t *ha = NULL, *hb = NULL;
  wd_fp_t pa, pb, pd;
  wd_fp_init(&pa, np);
  wd_fp_init(&pb, np);
  wd_fp_init(&pd, np);
  wd_buf_t rec = WD_BUF_INIT;
  memset(st, 0, sizeof(*st));

  for (size_t i = 0; i < in->cnt; i++) {
    const char *json = in->v[i];
    const size_t len = strlen(json);
    const int64_t msg_ts = (i % 3 == 0) ? 1700000000000LL + (int64_t)i : -1;
    if (hint_every && i % hint_every == 0) {
      wd_hint_t *n = wd_engine_hint(A);
      if (n) {
        wd_hint_free(ha);
        ha = n;
      }
      n = wd_engine_hint(B);
      if (n) {
        wd_hint_free(hb);
        hb = n;
      }
    }
    wd_err_t xa = wd_fingerprint(fa, ha, json, len, NULL, 0, msg_ts, &pa);
    wd_err_t xb = wd_fingerprint(fb, hb, json, len, NULL, 0, msg_ts, &pb);
    WD_T_ASSERT(xa == xb, "record %zu: fingerprints differ", i);
    wd_fp_t *commit_b = &pb;
    if (xb == WD_OK) {
      wd_fprec_src_t src = {"articles", 8, (int32_t)(i % 4), (int64_t)i * 10, msg_ts}, got;
      wd_buf_clear(&rec);
      wd_fprec_encode(&pb, &src, &rec);
      wd_err_t xd = wd_fprec_decode(dec, rec.p, rec.len, &pd, &got, e, sizeof(e));
      WD_T_ASSERT(xd == WD_OK, "record %zu: decode: %s", i, e);
      WD_T_ASSERT(got.topic_len == 8 && memcmp(got.topic, "articles", 8) == 0 &&
                      got.partition == src.partition && got.offset == src.offset &&
                      got.msg_ts_ms == msg_ts,
                  "record %zu: coordinates", i);
      const char *d = fp_differs(&pb, &pd, np);
      WD_T_ASSERT(!d, "record %zu (%s): decoded %s differs", i, pb.id.p, d);
      st->pred += pb.npred > 0;
      st->cut += pb.nlines >= WD_FP_MAX_LINES;
      commit_b = &pd;
    }
    wd_result_t ra, rb;
    xa = wd_engine_commit(A, &pa, &ra, ea, sizeof(ea));
    xb = wd_engine_commit(B, commit_b, &rb, eb, sizeof(eb));
    WD_T_ASSERT(xa == xb, "record %zu: commit %d vs %d", i, (int)xa, (int)xb);
    if (xa != WD_OK) {
      WD_T_ASSERT(strcmp(ea, eb) == 0, "record %zu: \"%s\" vs \"%s\"", i, ea, eb);
      st->invalid++;
      continue;
    }
    char what[32];
    WD_T_ASSERT(!result_differs(&ra, &rb, what, sizeof(what)),
                "record %zu (%s): %s differs: cluster %s/%s dup %s/%s sim %.17g/%.17g", i,
                ra.id, what, ra.cluster_id, rb.cluster_id,
                ra.duplicate_of ? ra.duplicate_of : "-",
                rb.duplicate_of ? rb.duplicate_of : "-", ra.similarity, rb.similarity);
    st->records++;
    st->dups += ra.duplicate_of != NULL;
  }
  wd_engine_stats_t sa, sb;
  wd_engine_stats(A, &sa);
  wd_engine_stats(B, &sb);
  WD_T_ASSERT(memcmp(&sa, &sb, sizeof(sa)) == 0, "engine stats differ");

  wd_buf_free(&rec);
  wd_fp_free(&pa);
  wd_fp_free(&pb);
  wd_fp_free(&pd);
  wd_hint_free(ha);
  wd_hint_free(hb);
  wd_fprec_decoder_destroy(dec);
  wd_fingerprinter_destroy(fa);
  wd_fingerprinter_destroy(fb);
  wd_engine_destroy(A);
  wd_engine_destroy(B);
  return 0;
}

static int equiv_both(const char *name, const lines_t *in) {
  wd_config_t *cfg = wd_config_new();
  for (int hinted = 0; hinted < 2; hinted++) {
    equiv_t st;
    if (equiv_run(cfg, in, hinted ? 8 : 0, &st) != 0) {
      fprintf(stderr, "  %s, %s hints: FAILED\n", name, hinted ? "with" : "without");
      wd_config_destroy(cfg);
      return 1;
    }
    fprintf(stderr,
            "  %s, %s hints: %zu records identical (%zu duplicates, %zu invalid, "
            "%zu sketched without hinted lines, %zu cut)\n",
            name, hinted ? "with" : "without", st.records, st.dups, st.invalid, st.pred,
            st.cut);
  }
  wd_config_destroy(cfg);
  return 0;
}

static int test_equiv_sample_golden(void) {
  const char *src = getenv("WD_SOURCE_DIR");
  lines_t in = {0};
  WD_T_ASSERT(lines_read(&in, src, "config/sample-articles.jsonl", SIZE_MAX),
              "config/sample-articles.jsonl (WD_SOURCE_DIR=%s)", src ? src : "");
  WD_T_ASSERT(lines_read(&in, src, "tests/golden/sample.in.jsonl", SIZE_MAX), "golden");
  WD_T_ASSERT(lines_read(&in, src, "tests/golden/edge.in.jsonl", SIZE_MAX), "golden");
  /* a text cut at WD_FP_MAX_LINES, its variant, and a redelivery */
  lines_many(&in, "many-1", WD_FP_MAX_LINES + 300, 0);
  lines_many(&in, "many-2", WD_FP_MAX_LINES + 300, 1);
  lines_add(&in, in.v[0], strlen(in.v[0]));
  int rc = equiv_both("sample+golden", &in);
  lines_free(&in);
  return rc;
}

static int test_equiv_generated(void) {
  lines_t in = {0};
  lines_generated(&in, 3000, 7);
  int rc = equiv_both("generated", &in);
  lines_free(&in);
  return rc;
}

static int test_equiv_reuters(void) {
  lines_t in = {0};
  if (!lines_read(&in, getenv("WD_SHARED_DATA"), "reuters-rewrites-dev.jsonl", 3000)) {
    fprintf(stderr, "  skip: WD_SHARED_DATA/reuters-rewrites-dev.jsonl absent\n");
    return 0;
  }
  int rc = equiv_both("reuters-rewrites-dev (first 3000)", &in);
  lines_free(&in);
  return rc;
}

/* ==== Hostile records ==== */

/* Valid records of the sample with hints on, a cut one among them. */
static void records_make(const wd_config_t *cfg, lines_t *out) {
  char e[256];
  lines_t in = {0};
  lines_generated(&in, 400, 11);
  lines_many(&in, "many", WD_FP_MAX_LINES + 10, 0);
  wd_engine_t *eng = wd_engine_new(cfg, e, sizeof(e));
  wd_fingerprinter_t *fpr = wd_fingerprinter_new(cfg, e, sizeof(e));
  wd_hint_t *hint = NULL;
  wd_fp_t fp;
  wd_fp_init(&fp, (uint32_t)cfg->minhash_num_perm);
  wd_buf_t rec = WD_BUF_INIT;
  for (size_t i = 0; i < in.cnt; i++) {
    wd_hint_t *n = wd_engine_hint(eng);
    if (n) {
      wd_hint_free(hint);
      hint = n;
    }
    if (wd_fingerprint(fpr, hint, in.v[i], strlen(in.v[i]), NULL, 0, -1, &fp) != WD_OK)
      continue;
    wd_fprec_src_t src = {"in", 2, 1, (int64_t)i, -1};
    /* keep a few: the first ones, those with hinted lines, the cut one */
    if (i < 3 || (fp.npred && out->cnt < 8) || fp.nlines >= WD_FP_MAX_LINES) {
      wd_buf_clear(&rec);
      wd_fprec_encode(&fp, &src, &rec);
      lines_add(out, rec.p, rec.len); /* binary: lengths kept below */
      out->v[out->cnt - 1] = realloc(out->v[out->cnt - 1], rec.len + sizeof(size_t));
      memmove(out->v[out->cnt - 1] + sizeof(size_t), rec.p, rec.len);
      memcpy(out->v[out->cnt - 1], &rec.len, sizeof(size_t));
    }
    wd_result_t res;
    wd_engine_commit(eng, &fp, &res, e, sizeof(e));
  }
  wd_buf_free(&rec);
  wd_fp_free(&fp);
  wd_hint_free(hint);
  wd_fingerprinter_destroy(fpr);
  wd_engine_destroy(eng);
  lines_free(&in);
}

static int test_hostile(void) {
  char e[512];
  wd_config_t *cfg = wd_config_new();
  lines_t recs = {0};
  records_make(cfg, &recs);
  WD_T_ASSERT(recs.cnt >= 5, "%zu records", recs.cnt);
  wd_fprec_decoder_t *dec = wd_fprec_decoder_new(cfg, e, sizeof(e));
  wd_engine_t *eng = wd_engine_new(cfg, e, sizeof(e));
  wd_fp_t fp;
  wd_fp_init(&fp, (uint32_t)cfg->minhash_num_perm);
  size_t refused = 0, accepted = 0, cut = 0, pred = 0;
  for (size_t k = 0; k < recs.cnt; k++) {
    size_t len;
    memcpy(&len, recs.v[k], sizeof(len));
    uint8_t *r = (uint8_t *)recs.v[k] + sizeof(size_t);
    WD_T_ASSERT(wd_fprec_decode(dec, r, len, &fp, NULL, e, sizeof(e)) == WD_OK, "%s", e);
    cut += fp.nlines >= WD_FP_MAX_LINES;
    pred += fp.npred > 0;
    /* every truncation, into an exact-size copy so ASan sees over-reads */
    for (size_t n = 0; n < len; n++) {
      uint8_t *c = malloc(n ? n : 1);
      memcpy(c, r, n);
      e[0] = '\0';
      wd_err_t x = wd_fprec_decode(dec, c, n, &fp, NULL, e, sizeof(e));
      free(c);
      WD_T_ASSERT(x == WD_ERR_INPUT, "record %zu cut to %zu of %zu bytes decoded", k, n,
                  len);
      WD_T_ASSERT(e[0] && !strchr(e, '\n'), "no reason for %zu bytes", n);
    }
    /* a byte past the end */
    uint8_t *c = malloc(len + 1);
    memcpy(c, r, len);
    c[len] = 0;
    WD_T_ASSERT(wd_fprec_decode(dec, c, len + 1, &fp, NULL, e, sizeof(e)) == WD_ERR_INPUT,
                "a trailing byte was accepted");
    /* single-byte corruptions everywhere in the fixed part and the counts,
     * and every 7th byte after: refused, or committed without harm */
    static const uint8_t vals[] = {0x00, 0x01, 0x7f, 0x80, 0xff};
    for (size_t at = 0; at < len; at += at < 256 ? 1 : 7) {
      for (size_t j = 0; j <= sizeof(vals); j++) {
        const uint8_t was = c[at];
        c[at] = j < sizeof(vals) ? vals[j] : (uint8_t)(was ^ 0x04);
        if (c[at] != r[at]) {
          wd_err_t x = wd_fprec_decode(dec, c, len, &fp, NULL, e, sizeof(e));
          if (x == WD_OK) {
            wd_result_t res;
            accepted++;
            WD_T_ASSERT(wd_engine_commit(eng, &fp, &res, e, sizeof(e)) == WD_OK, "%s", e);
          } else {
            WD_T_ASSERT(x == WD_ERR_INPUT && e[0], "error %d", (int)x);
            refused++;
            if (at == 0)
              WD_T_ASSERT(strstr(e, "not a fingerprint record"), "%s", e);
            if (at == 1)
              WD_T_ASSERT(strstr(e, "format version"), "%s", e);
          }
        }
        c[at] = was;
      }
    }
    free(c);
  }
  WD_T_ASSERT(cut == 1 && pred >= 1, "cut %zu, hinted %zu", cut, pred);
  fprintf(stderr, "  %zu records: every truncation refused; corruptions: %zu refused, "
                  "%zu decoded and committed\n",
          recs.cnt, refused, accepted);
  /* a failed decode commits as a malformed record with its reason */
  wd_result_t res;
  WD_T_ASSERT(wd_fprec_decode(dec, "{\"id\":1}", 8, &fp, NULL, e, sizeof(e)) == WD_ERR_INPUT,
              "JSON accepted");
  char e2[512];
  WD_T_ASSERT(wd_engine_commit(eng, &fp, &res, e2, sizeof(e2)) == WD_ERR_INPUT &&
                  strcmp(e, e2) == 0,
              "\"%s\" vs \"%s\"", e, e2);

  wd_fp_free(&fp);
  wd_engine_destroy(eng);
  wd_fprec_decoder_destroy(dec);
  lines_free(&recs);
  wd_config_destroy(cfg);
  return 0;
}

/* Records made with another minhash.num_perm are refused. */
static int test_num_perm(void) {
  char e[256];
  wd_config_t *c64 = wd_config_new();
  wd_config_t *c128 = wd_config_new();
  WD_T_ASSERT(wd_config_set(c64, "minhash.num_perm", "64", e, sizeof(e)) == WD_OK, "%s", e);
  WD_T_ASSERT(wd_config_set(c64, "lsh.bands", "16", e, sizeof(e)) == WD_OK, "%s", e);
  wd_fingerprinter_t *fpr = wd_fingerprinter_new(c64, e, sizeof(e));
  WD_T_ASSERT(fpr, "%s", e);
  wd_fprec_decoder_t *dec = wd_fprec_decoder_new(c128, e, sizeof(e));
  wd_fp_t fp;
  wd_fp_init(&fp, 64);
  const char *j = "{\"id\":\"a\",\"body\":\"one two three four five six\"}";
  WD_T_ASSERT(wd_fingerprint(fpr, NULL, j, strlen(j), NULL, 0, -1, &fp) == WD_OK, "fp");
  wd_buf_t rec = WD_BUF_INIT;
  wd_fprec_encode(&fp, NULL, &rec);
  wd_fp_t big;
  wd_fp_init(&big, 128);
  WD_T_ASSERT(wd_fprec_decode(dec, rec.p, rec.len, &big, NULL, e, sizeof(e)) == WD_ERR_INPUT,
              "accepted");
  WD_T_ASSERT(strstr(e, "num_perm"), "%s", e);
  wd_fp_free(&big);
  wd_fp_free(&fp);
  wd_buf_free(&rec);
  wd_fprec_decoder_destroy(dec);
  wd_fingerprinter_destroy(fpr);
  wd_config_destroy(c64);
  wd_config_destroy(c128);
  return 0;
}

/* Order records: what is encoded decodes to the same entries (offsets in
 * any order, watermarks at INT64_MIN and INT64_MAX), every truncation and
 * every byte added is refused, and corrupted bytes never crash. */
static int test_order(void) {
  static wd_fpord_ent_t in[WD_FPORD_MAX], out[WD_FPORD_MAX];
  unsigned long long rng = wd_t_seed(4242);
  char why[256];
  wd_buf_t rec = WD_BUF_INIT;
  for (int run = 0; run < 200; run++) {
    const size_t n = run == 0 ? WD_FPORD_MAX : 1 + (size_t)(wd_t_rand(&rng) % 300);
    int64_t off = (int64_t)(wd_t_rand(&rng) % 1000000), wm = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
      const unsigned k = (unsigned)(wd_t_rand(&rng) % 10);
      off += k < 7 ? 1 + (int64_t)(wd_t_rand(&rng) % 5) : -(int64_t)(wd_t_rand(&rng) % 40);
      wm = k == 9 ? INT64_MAX
           : k == 8 ? INT64_MIN
                    : (wm == INT64_MIN || wm == INT64_MAX ? 1700000000000LL : wm) +
                          (int64_t)(wd_t_rand(&rng) % 5000) - 100;
      in[i] = (wd_fpord_ent_t){off, wm};
    }
    wd_buf_clear(&rec);
    wd_fpord_encode(in, n, &rec);
    WD_T_ASSERT(wd_fprec_kind(rec.p, rec.len) == WD_FPREC_KIND_ORDER, "kind");
    size_t got;
    WD_T_ASSERT(wd_fpord_decode(rec.p, rec.len, out, &got, why, sizeof(why)) == WD_OK,
                "run %d: %s", run, why);
    WD_T_ASSERT(got == n && memcmp(in, out, n * sizeof(*in)) == 0, "run %d: %zu of %zu", run,
                got, n);
    for (size_t cut = 0; cut < rec.len; cut += 1 + cut / 8)
      WD_T_ASSERT(wd_fpord_decode(rec.p, cut, out, &got, why, sizeof(why)) == WD_ERR_INPUT &&
                      got == 0 && why[0],
                  "run %d: %zu of %zu bytes accepted", run, cut, rec.len);
    wd_buf_reserve(&rec, 1);
    rec.p[rec.len] = 0;
    WD_T_ASSERT(wd_fpord_decode(rec.p, rec.len + 1, out, &got, why, sizeof(why)) ==
                    WD_ERR_INPUT, "run %d: a byte after the end accepted", run);
    for (int flip = 0; flip < 50; flip++) { /* never a crash; refused or read */
      const size_t at = (size_t)(wd_t_rand(&rng) % rec.len);
      const char was = rec.p[at];
      rec.p[at] = (char)(rec.p[at] ^ (1 << (wd_t_rand(&rng) % 8)));
      wd_err_t e = wd_fpord_decode(rec.p, rec.len, out, &got, why, sizeof(why));
      WD_T_ASSERT(e == WD_OK ? got >= 1 && got <= WD_FPORD_MAX : got == 0, "flip");
      rec.p[at] = was;
    }
  }
  /* the two kinds and anything else, told apart by the first byte */
  WD_T_ASSERT(wd_fprec_kind("{\"id\":1}", 8) == WD_FPREC_KIND_OTHER, "json");
  WD_T_ASSERT(wd_fprec_kind("", 0) == WD_FPREC_KIND_OTHER, "empty");
  const unsigned char fpm[1] = {WD_FPREC_MAGIC};
  WD_T_ASSERT(wd_fprec_kind(fpm, 1) == WD_FPREC_KIND_FP, "fp");
  wd_buf_free(&rec);
  return 0;
}

int main(void) {
  wd_log_set_level(WD_LOG_ERROR); /* timestamp warnings are expected */
  WD_T_RUN(test_equiv_sample_golden);
  WD_T_RUN(test_equiv_generated);
  WD_T_RUN(test_equiv_reuters);
  WD_T_RUN(test_hostile);
  WD_T_RUN(test_num_perm);
  WD_T_RUN(test_order);
  return WD_T_DONE();
}
