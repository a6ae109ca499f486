/* bench_simhash.c - wd-bench-simhash: the cluster stage's SimHash work alone.
 *
 * The engine's fingerprint threads count each article's words (wd_terms_t)
 * and the serial cluster thread weighs them against the learned document
 * frequencies, signs and then observes them. This times that serial part:
 * per article wd_simhash_sign_terms, wd_simhash_topv and
 * wd_simhash_observe_signed, from an empty df table on every pass, so each
 * pass sees the table grow as a run does. The words are counted once,
 * untimed, from the normalised text (no boilerplate filter: the word mix is
 * what matters here, not the exact words). The corpus is wd-datagen's with
 * the same options (--seed 1, the default, is the 30k corpus of the speed
 * checks). */
#include "bench.h"
#include "datagen.h"

#include "wiredup/config.h"
#include "wiredup/norm.h"
#include "wiredup/record.h"
#include "wiredup/shingle.h"
#include "wiredup/simhash.h"
#include "wiredup/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every article's terms, views into four shared arrays. */
typedef struct ctx_s {
  wd_terms_t *terms;
  size_t *first; /* where each article's words start in the arrays */
  size_t docs, bytes, words;
  uint64_t *word, *dfh, *fh;
  uint32_t *cnt;
  wd_simhash_t *sm;
  wd_terms_t cur; /* the article being signed, fresh in cache as in a run */
  volatile uint64_t sink;
} ctx_t;

static void reset(void *v) {
  ctx_t *c = v;
  wd_simhash_destroy(c->sm);
  c->sm = wd_simhash_new(NULL);
}

static void run(void *v) {
  ctx_t *c = v;
  wd_topv_t tv;
  for (size_t i = 0; i < c->docs; i++) {
    const wd_terms_t *t = &c->terms[i];
    memcpy(c->cur.word, t->word, t->n * sizeof(*t->word));
    memcpy(c->cur.dfh, t->dfh, t->n * sizeof(*t->dfh));
    memcpy(c->cur.fh, t->fh, t->n * sizeof(*t->fh));
    memcpy(c->cur.cnt, t->cnt, t->n * sizeof(*t->cnt));
    c->cur.n = t->n;
    c->cur.fh_seed = t->fh_seed;
    c->sink += wd_simhash_sign_terms(c->sm, &c->cur);
    wd_simhash_topv(c->sm, &tv);
    c->sink += tv.n;
    wd_simhash_observe_signed(c->sm);
  }
}

/* Append \p t's words to the shared arrays (grown by doubling). */
static void push_terms(ctx_t *c, size_t *cap, const wd_terms_t *t) {
  if (c->words + t->n > *cap) {
    while (c->words + t->n > *cap)
      *cap = *cap ? *cap * 2 : 1 << 16;
    c->word = wd_realloc(c->word, *cap * sizeof(*c->word));
    c->dfh = wd_realloc(c->dfh, *cap * sizeof(*c->dfh));
    c->fh = wd_realloc(c->fh, *cap * sizeof(*c->fh));
    c->cnt = wd_realloc(c->cnt, *cap * sizeof(*c->cnt));
  }
  memcpy(c->word + c->words, t->word, t->n * sizeof(*t->word));
  memcpy(c->dfh + c->words, t->dfh, t->n * sizeof(*t->dfh));
  memcpy(c->fh + c->words, t->fh, t->n * sizeof(*t->fh));
  memcpy(c->cnt + c->words, t->cnt, t->n * sizeof(*t->cnt));
  c->terms[c->docs] = (wd_terms_t){.n = t->n, .fh_seed = t->fh_seed};
  c->first[c->docs] = c->words;
  c->words += t->n;
}

static int prepare(ctx_t *c, wd_buf_t *lines, const size_t *off, size_t n) {
  char err[256];
  wd_config_t *cfg = wd_config_new();
  wd_decoder_t *dec = wd_decoder_new(cfg);
  wd_norm_opts_t no;
  wd_norm_opts_default(&no);
  wd_norm_t *nm = wd_norm_new(&no);
  wd_shingle_opts_t so;
  wd_shingle_opts_default(&so);
  wd_shingle_t *sh = wd_shingle_new(&so);
  wd_simhash_opts_t smo;
  wd_simhash_opts_default(&smo);
  wd_termcount_t *tc = wd_termcount_new(smo.seed);
  wd_terms_t t = {0};
  wd_buf_t norm = WD_BUF_INIT;
  size_t cap = 0;
  int rc = 0;
  c->terms = wd_malloc(n * sizeof(*c->terms));
  c->first = wd_malloc(n * sizeof(*c->first));
  for (size_t i = 0; i < n && rc == 0; i++) {
    wd_record_t rec;
    if (wd_record_decode(dec, lines->p + off[i], off[i + 1] - off[i], NULL, 0, -1, &rec, err,
                         sizeof(err)) != WD_OK) {
      fprintf(stderr, "wd-bench-simhash: record %zu: %s\n", i + 1, err);
      rc = -1;
      break;
    }
    wd_norm_text(nm, rec.text, rec.text_len, &norm);
    wd_shingle_tokenise(sh, norm.p ? norm.p : "", norm.len);
    size_t ntok;
    const uint64_t *tok = wd_shingle_tokens(sh, &ntok);
    wd_terms_count(tc, tok, ntok, &t);
    push_terms(c, &cap, &t);
    c->docs++;
  }
  size_t most = 0;
  for (size_t i = 0; i < c->docs; i++)
    most = c->terms[i].n > most ? c->terms[i].n : most;
  c->cur.cap = most ? most : 1;
  c->cur.word = wd_malloc(c->cur.cap * sizeof(*c->cur.word));
  c->cur.dfh = wd_malloc(c->cur.cap * sizeof(*c->cur.dfh));
  c->cur.fh = wd_malloc(c->cur.cap * sizeof(*c->cur.fh));
  c->cur.cnt = wd_malloc(c->cur.cap * sizeof(*c->cur.cnt));
  for (size_t i = 0; i < c->docs; i++) { /* the arrays have stopped moving */
    const size_t o = c->first[i];
    c->terms[i].word = c->word + o;
    c->terms[i].dfh = c->dfh + o;
    c->terms[i].fh = c->fh + o;
    c->terms[i].cnt = c->cnt + o;
  }
  wd_terms_free(&t);
  wd_termcount_destroy(tc);
  wd_shingle_destroy(sh);
  wd_norm_destroy(nm);
  wd_decoder_destroy(dec);
  wd_config_destroy(cfg);
  wd_buf_free(&norm);
  return rc;
}

static void usage(FILE *fp) {
  fprintf(fp,
          "usage: wd-bench-simhash [--docs N] [--reps N] [--seed S] [--dup-share F]\n"
          "Times the cluster stage's SimHash work (sign, top words, observe) over N\n"
          "generated documents (default 30000), from an empty df table.\n");
}

int main(int argc, char **argv) {
  ctx_t c;
  size_t docs = 30000;
  unsigned reps = 5;
  wd_datagen_opts_t go;
  wd_datagen_opts_default(&go);
  memset(&c, 0, sizeof(c));
  const char *a, *v;
  for (int i = 1; wd_bench_next_opt(argc, argv, &i, usage, &a, &v);) {
    if (wd_datagen_opt(&go, a, v) || wd_bench_docs_opt(a, v, &docs, &reps))
      continue;
    usage(stderr);
    return 2;
  }

  if (docs == 0) {
    usage(stderr);
    return 2;
  }
  wd_buf_t lines = WD_BUF_INIT;
  size_t *off = wd_malloc((docs + 1) * sizeof(*off));
  off[0] = 0;
  wd_datagen_t *g = wd_datagen_new(&go);
  for (size_t i = 0; i < docs; i++) {
    wd_datagen_next(g, &lines);
    off[i + 1] = lines.len;
  }
  wd_datagen_destroy(g);
  if (prepare(&c, &lines, off, docs) != 0)
    return 1;
  c.bytes = lines.len;

  char extra[64];
  snprintf(extra, sizeof(extra), "words_per_doc=%.1f", (double)c.words / (double)c.docs);
  wd_bench_params_t p = {.name = "simhash.sign_observe", .run = run, .reset = reset,
                         .ctx = &c, .docs = c.docs, .bytes = c.bytes, .reps = reps};
  wd_bench_outcome_t out;
  wd_bench_run(&p, &out);
  wd_bench_print(stdout, &p, &out, extra);

  wd_simhash_destroy(c.sm);
  wd_terms_free(&c.cur);
  wd_free(c.terms);
  wd_free(c.first);
  wd_free(c.word);
  wd_free(c.dfh);
  wd_free(c.fh);
  wd_free(c.cnt);
  wd_free(off);
  wd_buf_free(&lines);
  return 0;
}
