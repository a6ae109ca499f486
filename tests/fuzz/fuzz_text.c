/* fuzz_text.c - normalise, remove boilerplate, shingle: the text stages.
 *
 * Input: byte 0 picks options (bit 0 html off, bit 1 strip_marks off, bit 2
 * abbreviations off, bits 3-6 shingle size - 1, bit 7 the built-in phrases
 * off). If the rest holds a NUL byte, what comes before it is a list of
 * boilerplate phrases, one per line (normalize.boilerplate.phrases is user
 * text too), used instead of the built-in ones, and what follows is the
 * article; otherwise it is all the article. Checks the documented contracts on every output:
 *  - wd_norm_text: valid UTF-8, canonical token text (norm.h), and
 *    normalising it again changes nothing a second time;
 *  - wd_boiler_filter with the phrases: canonical, no longer than its
 *    input, line hashes bounded by the cap; then a fresh learning filter
 *    (no phrases, min_clusters 1) keeps everything until it has learned
 *    the lines, and drops at least one of them afterwards;
 *  - wd_shingle_text: token count equals the tokens in the text, the set is
 *    distinct and no larger than the number of positions. */
#include "fuzz.h"

#include "wiredup/log.h"
#include "wiredup/boiler.h"
#include "wiredup/norm.h"
#include "wiredup/shingle.h"

#include <string.h>

#define LINE_CAP 64

static size_t count_tokens(const char *s, size_t n) {
  size_t cnt = 0;
  for (size_t i = 0; i < n; i++)
    if (s[i] != ' ' && s[i] != '\n' && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\n'))
      cnt++;
  return cnt;
}

static void check_shingles(wd_shingle_t *sh, uint32_t k, const char *text, size_t len) {
  size_t nset = 0, ntok = 0;
  wd_shingle_text(sh, text, len);
  const uint64_t *set = wd_shingle_set(sh, &nset);
  const uint64_t *tok = wd_shingle_tokens(sh, &ntok);
  (void)tok;
  size_t want = count_tokens(text, len);
  FUZZ_CHECK(ntok == want, "%zu tokens, want %zu", ntok, want);
  size_t positions = ntok == 0 ? 0 : ntok < k ? 1 : ntok - k + 1;
  FUZZ_CHECK(nset <= positions && (ntok == 0) == (nset == 0), "%zu shingles for %zu tokens",
             nset, ntok);
  for (size_t i = 1; i < nset && i < 64; i++)
    for (size_t j = 0; j < i; j++)
      FUZZ_CHECK(set[i] != set[j], "shingle %zu repeats %zu", i, j);
}

/* Normalisers and built-in phrase filters hold no state between calls but
 * take a while to build: one per option set, kept for the process. */
static wd_norm_t *norm_for(unsigned opt) {
  static wd_norm_t *cache[8];
  if (!cache[opt]) {
    wd_norm_opts_t no;
    wd_norm_opts_default(&no);
    no.html = !(opt & 1);
    no.strip_marks = !(opt & 2);
    no.fold_abbrev = !(opt & 4);
    cache[opt] = wd_norm_new(&no);
    FUZZ_CHECK(cache[opt], "norm_new");
  }
  return cache[opt];
}

static wd_boiler_t *phrase_filter_for(unsigned no_builtin) {
  static wd_boiler_t *cache[2];
  int i = no_builtin ? 1 : 0;
  if (!cache[i]) {
    wd_boiler_opts_t bo;
    wd_boiler_opts_default(&bo);
    bo.learn = 0;
    if (no_builtin)
      bo.phrases = NULL;
    cache[i] = wd_boiler_new(&bo);
  }
  return cache[i];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  wd_log_set_level(WD_LOG_ERROR); /* warnings about hostile input are expected */
  if (size < 1)
    return 0;
  const unsigned flags = data[0];
  const char *in = (const char *)data + 1;
  size_t in_len = size - 1;

  /* extra phrases before a NUL, as NUL-terminated strings */
  const char *nul = memchr(in, '\0', in_len);
  char *ph_text = NULL;
  const char **phrases = NULL;
  size_t nph = 0;
  if (nul) {
    size_t ph_len = (size_t)(nul - in);
    ph_text = malloc(ph_len + 1);
    memcpy(ph_text, in, ph_len);
    ph_text[ph_len] = '\0';
    size_t lines = 1;
    for (size_t i = 0; i < ph_len; i++)
      lines += ph_text[i] == '\n';
    phrases = calloc(lines + 1, sizeof(*phrases));
    for (char *s = ph_text, *e; s; s = e ? e + 1 : NULL) {
      e = strchr(s, '\n');
      if (e)
        *e = '\0';
      phrases[nph++] = s;
    }
    in_len -= ph_len + 1;
    in = nul + 1;
  }
  /* the article as an exact-size copy, so ASan sees reads past its end */
  char *text = malloc(in_len ? in_len : 1);
  memcpy(text, in, in_len);

  wd_norm_t *nm = norm_for(flags & 7);
  wd_buf_t norm = WD_BUF_INIT, again = WD_BUF_INIT, kept = WD_BUF_INIT,
           kept2 = WD_BUF_INIT, learned = WD_BUF_INIT;
  wd_norm_text(nm, text, in_len, &norm);
  FUZZ_CHECK(wd_norm_utf8_valid(norm.p, norm.len, NULL), "norm output not UTF-8");
  FUZZ_CHECK(fuzz_is_canonical(norm.p, norm.len), "norm output not canonical: [%.*s]",
             (int)norm.len, norm.p);

  /* phrases: a filter of its own when the input brings phrases */
  wd_boiler_t *own = NULL, *bp;
  if (phrases) {
    wd_boiler_opts_t bo;
    wd_boiler_opts_default(&bo);
    bo.learn = 0;
    bo.phrases = phrases;
    bp = own = wd_boiler_new(&bo);
  } else {
    bp = phrase_filter_for(flags & 128);
  }
  const char *src = "example.org";
  size_t nlines = 0, nlines2 = 0;
  uint64_t lines[LINE_CAP];
  wd_boiler_filter(bp, src, strlen(src), norm.p, norm.len, &kept, lines, &nlines, LINE_CAP);
  FUZZ_CHECK(nlines <= LINE_CAP, "%zu lines", nlines);
  FUZZ_CHECK(kept.len <= norm.len, "kept %zu of %zu bytes", kept.len, norm.len);
  FUZZ_CHECK(fuzz_is_canonical(kept.p, kept.len), "kept text not canonical: [%.*s]",
             (int)kept.len, kept.p);
  wd_boiler_destroy(own);

  /* learning: a fresh small table; after learning every line once with
   * min_clusters 1, filtering again keeps nothing that was learned */
  wd_boiler_opts_t lo;
  wd_boiler_opts_default(&lo);
  lo.phrases = NULL;
  lo.capacity = 64;
  lo.min_clusters = 1;
  wd_boiler_t *learner = wd_boiler_new(&lo);
  wd_boiler_filter(learner, src, strlen(src), kept.p ? kept.p : "", kept.len, &learned,
                   lines, &nlines, LINE_CAP);
  FUZZ_CHECK(learned.len == kept.len, "nothing learned yet, but %zu of %zu bytes kept",
             learned.len, kept.len);
  wd_boiler_learn(learner, src, strlen(src), lines, nlines, 0x1234);
  wd_boiler_filter(learner, src, strlen(src), kept.p ? kept.p : "", kept.len, &kept2, NULL,
                   &nlines2, 0);
  FUZZ_CHECK(nlines2 == 0, "line_cap 0 gave %zu lines", nlines2);
  FUZZ_CHECK(kept2.len <= kept.len && fuzz_is_canonical(kept2.p, kept2.len),
             "learned filter kept more (%zu > %zu)", kept2.len, kept.len);
  FUZZ_CHECK(nlines == 0 || kept2.len < kept.len, "%zu lines learned, none dropped", nlines);
  wd_boiler_destroy(learner);

  wd_shingle_opts_t so;
  wd_shingle_opts_default(&so);
  so.k = 1 + ((flags >> 3) & 15);
  wd_shingle_t *sh = wd_shingle_new(&so);
  FUZZ_CHECK(sh, "shingle_new k=%u", so.k);
  check_shingles(sh, so.k, kept.p ? kept.p : "", kept.len);
  check_shingles(sh, so.k, norm.p ? norm.p : "", norm.len);

  /* idempotent: canonical text is a fixed point after one more pass */
  wd_norm_text(nm, norm.p ? norm.p : "", norm.len, &again);
  wd_buf_t third = WD_BUF_INIT;
  wd_norm_text(nm, again.p ? again.p : "", again.len, &third);
  FUZZ_CHECK(again.len == third.len && memcmp(again.p, third.p, again.len) == 0,
             "norm not idempotent: [%.*s] -> [%.*s]", (int)again.len, again.p,
             (int)third.len, third.p);

  wd_buf_free(&third);
  wd_shingle_destroy(sh);
  wd_buf_free(&learned);
  wd_buf_free(&norm);
  wd_buf_free(&again);
  wd_buf_free(&kept);
  wd_buf_free(&kept2);
  free(text);
  free(phrases);
  free(ph_text);
  return 0;
}
