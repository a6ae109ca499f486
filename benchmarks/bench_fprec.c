/* bench_fprec.c - the fingerprint record (fprec.h) on a JSON Lines corpus:
 * bytes per record against the input record, encode and decode ns per
 * record, and what the alternatives would cost (shipping the token hashes,
 * the term counts, or remaking the signature on the cluster stage).
 *   wd-bench-fprec FILE.jsonl [--corpus DIR]
 * Records go through an engine (hints refreshed every 64 records) as the
 * scaled-out pipeline would run them. --corpus writes a few records to DIR
 * (the fuzz harness's seeds). */
#include "wiredup/config.h"
#include "wiredup/engine.h"
#include "wiredup/fprec.h"
#include "wiredup/log.h"
#include "wiredup/minhash.h"
#include "wiredup/shingle.h"
#include "wiredup/simhash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
  const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static uint64_t pct(uint64_t *v, size_t n, double p) {
  qsort(v, n, sizeof(*v), cmp_u64);
  return n ? v[(size_t)(p * (double)(n - 1))] : 0;
}

int main(int argc, char **argv) {
  char e[512];
  const char *corpus = NULL;
  if (argc < 2) {
    fprintf(stderr, "usage: wd-bench-fprec FILE.jsonl [--corpus DIR]\n");
    return 2;
  }
  if (argc >= 4 && strcmp(argv[2], "--corpus") == 0)
    corpus = argv[3];
  wd_log_set_level(WD_LOG_ERROR);
  FILE *f = fopen(argv[1], "rb");
  if (!f) {
    perror(argv[1]);
    return 1;
  }
  wd_config_t *cfg = wd_config_new();
  wd_engine_t *eng = wd_engine_new(cfg, e, sizeof(e));
  wd_fingerprinter_t *fpr = wd_fingerprinter_new(cfg, e, sizeof(e));
  wd_fprec_decoder_t *dec = wd_fprec_decoder_new(cfg, e, sizeof(e));
  const uint32_t np = (uint32_t)cfg->minhash_num_perm;
  wd_shingle_opts_t so;
  wd_shingle_opts_default(&so);
  so.seed = 0;
  so.k = (uint32_t)cfg->shingle_k;
  wd_shingle_t *sh = wd_shingle_new(&so);
  wd_minhash_opts_t mo;
  wd_minhash_opts_default(&mo);
  mo.num_perm = np;
  mo.seed = (uint64_t)cfg->minhash_seed;
  wd_minhash_t *mh = wd_minhash_new(&mo);
  wd_simhash_opts_t smo;
  wd_simhash_opts_default(&smo);
  wd_termcount_t *tc = wd_termcount_new(smo.seed);
  wd_terms_t terms = {0};
  uint32_t *sig = malloc(np * sizeof(*sig));
  uint64_t *tokh = NULL;
  size_t tokh_cap = 0;

  wd_fp_t fp, dfp;
  wd_fp_init(&fp, np);
  wd_fp_init(&dfp, np);
  wd_hint_t *hint = NULL;
  wd_buf_t rec = WD_BUF_INIT;
  size_t cap = 1 << 16, n = 0, lcap = 0, written = 0;
  uint64_t *in_b = malloc(cap * 8), *out_b = malloc(cap * 8), *tokraw_b = malloc(cap * 8);
  double t_commit = 0, t_enc = 0, t_dec = 0, t_rehash = 0, t_terms = 0, t_sig = 0;
  uint64_t sum_sig = 0, sum_terms = 0, sum_text = 0, sum_tok = 0, sum_out = 0, sum_lines = 0;
  char *line = NULL;
  ssize_t len;
  while ((len = getline(&line, &lcap, f)) > 0) {
    if (line[len - 1] == '\n')
      len--;
    if (n % 64 == 0) {
      wd_hint_t *h = wd_engine_hint(eng);
      if (h) {
        wd_hint_free(hint);
        hint = h;
      }
    }
    if (wd_fingerprint(fpr, hint, line, (size_t)len, NULL, 0, -1, &fp) != WD_OK)
      continue;
    wd_fprec_src_t src = {"articles", 8, 3, (int64_t)n, 1700000000000LL};
    wd_buf_clear(&rec);
    double t0 = now_ns();
    wd_fprec_encode(&fp, &src, &rec);
    double t1 = now_ns();
    if (wd_fprec_decode(dec, rec.p, rec.len, &dfp, NULL, e, sizeof(e)) != WD_OK) {
      fprintf(stderr, "decode: %s\n", e);
      return 1;
    }
    double t2 = now_ns();
    t_enc += t1 - t0;
    t_dec += t2 - t1;
    if (corpus && written < 12 && (n % 97 == 0 || (fp.npred && written < 6))) {
      char path[1024];
      snprintf(path, sizeof(path), "%s/rec-%03zu", corpus, written++);
      FILE *o = fopen(path, "wb");
      fwrite(rec.p, 1, rec.len, o);
      fclose(o);
    }
    /* the alternatives, timed alone */
    if (fp.nlines < WD_FP_MAX_LINES) {
      if (fp.ntok > tokh_cap) {
        tokh_cap = 2 * fp.ntok;
        tokh = realloc(tokh, tokh_cap * sizeof(*tokh));
      }
      t0 = now_ns();
      size_t k = 0;
      const char *p = fp.kept.p, *end = p + fp.kept.len;
      while (p < end) {
        const char *t = p;
        while (p < end && *p != ' ' && *p != '\n')
          p++;
        if (p > t)
          tokh[k++] = XXH3_64bits(t, (size_t)(p - t));
        p++;
      }
      t1 = now_ns();
      wd_terms_count(tc, fp.tok, fp.ntok, &terms);
      t2 = now_ns();
      size_t nset;
      wd_shingle_hashes(sh, fp.tok, fp.ntok);
      const uint64_t *set = wd_shingle_set(sh, &nset);
      wd_minhash_sign(mh, set, nset, sig);
      double t3 = now_ns();
      t_rehash += t1 - t0;
      t_terms += t2 - t1;
      t_sig += t3 - t2;
      sum_sig += 4 * np;
      sum_terms += 28 * terms.n;
      sum_text += fp.kept.len;
      sum_tok += 8 * fp.ntok;
      sum_lines += fp.nlines;
    }
    wd_result_t res;
    t0 = now_ns();
    wd_engine_commit(eng, &dfp, &res, e, sizeof(e));
    t_commit += now_ns() - t0;
    if (n == cap) {
      cap *= 2;
      in_b = realloc(in_b, cap * 8);
      out_b = realloc(out_b, cap * 8);
      tokraw_b = realloc(tokraw_b, cap * 8);
    }
    in_b[n] = (uint64_t)len;
    out_b[n] = rec.len;
    tokraw_b[n] = rec.len - 8 * fp.ntok + fp.kept.len;
    sum_out += rec.len;
    n++;
  }
  uint64_t sum_in = 0;
  for (size_t i = 0; i < n; i++)
    sum_in += in_b[i];
  const double dn = (double)(n ? n : 1);
  printf("records            %zu\n", n);
  printf("input bytes        median %llu  p90 %llu  mean %.0f\n",
         (unsigned long long)pct(in_b, n, 0.5), (unsigned long long)pct(in_b, n, 0.9),
         (double)sum_in / dn);
  printf("fprec bytes        median %llu  p90 %llu  mean %.0f\n",
         (unsigned long long)pct(out_b, n, 0.5), (unsigned long long)pct(out_b, n, 0.9),
         (double)sum_out / dn);
  printf("  with kept text   median %llu  p90 %llu  (instead of the u64 token hashes)\n",
         (unsigned long long)pct(tokraw_b, n, 0.5), (unsigned long long)pct(tokraw_b, n, 0.9));
  printf("  per record mean: kept text %.0f, u64 tokens %.0f, signature %.0f, "
         "term counts %.0f if shipped, lines %.1f\n",
         (double)sum_text / dn, (double)sum_tok / dn, (double)sum_sig / dn,
         (double)sum_terms / dn, (double)sum_lines / dn);
  printf("encode ns/record   %.0f\n", t_enc / dn);
  printf("decode ns/record   %.0f  (of which count terms, timed alone: %.0f)\n", t_dec / dn,
         t_terms / dn);
  printf("shipping the kept text would add %.0f ns/record (tokenise + XXH3)\n", t_rehash / dn);
  printf("commit ns/record   %.0f  (wd_engine_commit after decode, for scale)\n", t_commit / dn);
  printf("remaking the signature would add %.0f ns/record (shingles + MinHash)\n",
         t_sig / dn);
  free(line);
  fclose(f);
  return 0;
}
