/* test_shingle.c - word k-shingles: counts, de-duplication, separators, hash
 * stability, and the scratch set across many texts. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "wd_test.h"
#include "wiredup/mem.h"
#include "wiredup/shingle.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static wd_shingle_t *mk(uint32_t k, uint64_t seed) {
  wd_shingle_opts_t o;
  wd_shingle_opts_default(&o);
  o.k = k;
  o.seed = seed;
  return wd_shingle_new(&o);
}

static size_t nset(wd_shingle_t *sh, const char *text) {
  size_t n;
  wd_shingle_text(sh, text, strlen(text));
  wd_shingle_set(sh, &n);
  return n;
}

static int cmp_u64(const void *a, const void *b) {
  const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

static int test_opts(void) {
  wd_shingle_opts_t o;
  wd_shingle_opts_default(&o);
  WD_T_ASSERT(o.k == 5 && o.seed == 0, "defaults k=5 seed=0, got k=%u", o.k);
  WD_T_ASSERT(mk(0, 0) == NULL, "k=0 must be rejected");
  WD_T_ASSERT(mk(17, 0) == NULL, "k=17 must be rejected");
  wd_shingle_t *sh = wd_shingle_new(NULL);
  WD_T_ASSERT(sh != NULL, "NULL opts means defaults");
  WD_T_ASSERT(nset(sh, "a b c d e") == 1, "default k=5: 5 tokens, 1 shingle");
  wd_shingle_destroy(sh);
  wd_shingle_destroy(NULL);
  return 0;
}

static int test_counts(void) {
  static const struct {
    uint32_t k;
    const char *text;
    size_t want;
  } rows[] = {
      {3, "a b c d e f g", 5},             /* n - k + 1 when all distinct */
      {1, "a b c d e f g", 7},
      {5, "one two three four five six", 2},
      {3, "a b c a b c a b c", 3},         /* abc, bca, cab */
      {2, "x x x x x x", 1},               /* one distinct pair */
      {3, "the cat sat the cat sat on", 4}, /* the cat sat repeats */
      {5, "a b", 1},                       /* fewer than k tokens: one */
      {5, "solo", 1},
      {5, "", 0},
      {5, "   \n \n  ", 0},
      {16, "a b c d e f g h i j k l m n o p q", 2},
      {0, NULL, 0},
  };
  int fails = 0;
  for (int r = 0; rows[r].text; r++) {
    wd_shingle_t *sh = mk(rows[r].k, 0);
    const size_t got = nset(sh, rows[r].text);
    if (got != rows[r].want) {
      fprintf(stderr, "row %d k=%u \"%s\": %zu shingles, want %zu\n", r,
              rows[r].k, rows[r].text, got, rows[r].want);
      fails++;
    }
    wd_shingle_destroy(sh);
  }
  WD_T_ASSERT(fails == 0, "%d table rows failed", fails);
  return 0;
}

static int test_separators(void) {
  wd_shingle_t *sh = mk(2, 9);
  size_t n1, n2, t1, t2;
  uint64_t a[8], b[8], ta[8], tb[8];
  wd_shingle_text(sh, "alpha beta gamma delta", 22);
  const uint64_t *s = wd_shingle_set(sh, &n1);
  memcpy(a, s, n1 * sizeof(*a));
  const uint64_t *t = wd_shingle_tokens(sh, &t1);
  memcpy(ta, t, t1 * sizeof(*ta));
  const char *nl = "\nalpha  beta\ngamma \n\n delta\n";
  wd_shingle_text(sh, nl, strlen(nl));
  s = wd_shingle_set(sh, &n2);
  memcpy(b, s, n2 * sizeof(*b));
  t = wd_shingle_tokens(sh, &t2);
  memcpy(tb, t, t2 * sizeof(*tb));
  WD_T_ASSERT(n1 == 3 && n2 == 3, "3 bigrams each, got %zu and %zu", n1, n2);
  WD_T_ASSERT(t1 == 4 && t2 == 4, "4 tokens each, got %zu and %zu", t1, t2);
  WD_T_ASSERT(memcmp(a, b, sizeof(uint64_t) * 3) == 0,
              "'\\n' and repeated separators act like one ' '");
  WD_T_ASSERT(memcmp(ta, tb, sizeof(uint64_t) * 4) == 0, "same token hashes");
  wd_shingle_destroy(sh);
  return 0;
}

static int test_hashes(void) {
  wd_shingle_t *sh = mk(3, 42);
  const char *text = "new york stock exchange closed";
  wd_shingle_text(sh, text, strlen(text));
  size_t nt, ns;
  const uint64_t *tok = wd_shingle_tokens(sh, &nt);
  const uint64_t *set = wd_shingle_set(sh, &ns);
  WD_T_ASSERT(nt == 5 && ns == 3, "5 tokens 3 shingles, got %zu %zu", nt, ns);
  /* Token hash is XXH3 with the seed: stable across builds and releases. */
  WD_T_ASSERT(tok[0] == XXH3_64bits_withSeed("new", 3, 42), "token 0 = XXH3");
  WD_T_ASSERT(tok[4] == wd_shingle_token_hash(sh, "closed", 6),
              "wd_shingle_token_hash agrees with the token list");
  /* Shingle = XXH3 over the k token hashes (little-endian bytes). */
  const uint64_t want = XXH3_64bits_withSeed(tok + 1, 3 * sizeof(uint64_t), 42);
  WD_T_ASSERT(set[1] == want, "shingle 1 = XXH3(tok1..tok3)");
  /* Known answer: XXH3 is specified, so this value can never change. */
  wd_shingle_t *s0 = mk(5, 0);
  WD_T_ASSERT(wd_shingle_token_hash(s0, "", 0) == 0x2D06800538D394C2ULL,
              "XXH3_64(\"\", seed 0) known answer, got %016llx",
              (unsigned long long)wd_shingle_token_hash(s0, "", 0));
  WD_T_ASSERT(wd_shingle_token_hash(s0, "news", 4) !=
                  wd_shingle_token_hash(sh, "news", 4),
              "the seed changes token hashes");
  /* Short text: its one shingle depends on word order. */
  uint64_t ab, ba;
  wd_shingle_text(s0, "a b", 3);
  ab = wd_shingle_set(s0, &ns)[0];
  wd_shingle_text(s0, "b a", 3);
  ba = wd_shingle_set(s0, &ns)[0];
  WD_T_ASSERT(ab != ba, "\"a b\" and \"b a\" differ");
  wd_shingle_destroy(s0);
  wd_shingle_destroy(sh);
  return 0;
}

/* Many texts through one context, small after large: the generation-cleared
 * set must not leak shingles between texts, and must match a sort-unique. */
static int test_scratch_reuse(void) {
  unsigned long long rng = wd_t_seed(0x5a1e);
  wd_shingle_t *sh = mk(3, 1);
  wd_buf_t text = WD_BUF_INIT;
  uint64_t *want = NULL;
  for (int round = 0; round < 60; round++) {
    const size_t ntok = round % 3 == 0 ? 20000 : 1 + wd_t_rand(&rng) % 400;
    const unsigned vocab = 2 + (unsigned)(wd_t_rand(&rng) % 50);
    wd_buf_clear(&text);
    for (size_t t = 0; t < ntok; t++)
      wd_buf_printf(&text, "%sw%u", t ? " " : "",
                    (unsigned)(wd_t_rand(&rng) % vocab));
    wd_shingle_text(sh, text.p, text.len);
    size_t nt, ns;
    const uint64_t *tok = wd_shingle_tokens(sh, &nt);
    const uint64_t *set = wd_shingle_set(sh, &ns);
    WD_T_ASSERT(nt == ntok, "round %d: %zu tokens, want %zu", round, nt, ntok);
    const size_t pos = ntok < 3 ? 1 : ntok - 2;
    want = wd_realloc(want, pos * sizeof(*want));
    for (size_t p = 0; p < pos; p++)
      want[p] = ntok < 3 ? XXH3_64bits_withSeed(tok, ntok * 8, 1)
                         : XXH3_64bits_withSeed(tok + p, 24, 1);
    qsort(want, pos, sizeof(*want), cmp_u64);
    size_t uniq = 0;
    for (size_t p = 0; p < pos; p++)
      if (p == 0 || want[p] != want[p - 1])
        want[uniq++] = want[p];
    WD_T_ASSERT(ns == uniq, "round %d (seed printed above): %zu distinct, "
                "brute force says %zu", round, ns, uniq);
    uint64_t *got = wd_malloc(ns * sizeof(*got));
    memcpy(got, set, ns * sizeof(*got));
    qsort(got, ns, sizeof(*got), cmp_u64);
    const int same = memcmp(got, want, ns * sizeof(*got)) == 0;
    wd_free(got);
    WD_T_ASSERT(same, "round %d: shingle set differs from brute force", round);
  }
  wd_free(want);
  wd_buf_free(&text);
  wd_shingle_destroy(sh);
  return 0;
}

/* Once warm, shingling a text of a size seen before allocates nothing. */
static int test_no_alloc_when_warm(void) {
  wd_shingle_t *sh = mk(5, 0);
  const char *text = "the quick brown fox jumps over the lazy dog again";
  wd_shingle_text(sh, text, strlen(text));
  const size_t before = wd_mem_used();
  for (int i = 0; i < 1000; i++)
    wd_shingle_text(sh, text, strlen(text));
  WD_T_ASSERT(wd_mem_used() == before, "memory moved %zu -> %zu", before,
              wd_mem_used());
  wd_shingle_destroy(sh);
  return 0;
}


/* wd_shingle_tokenise + wd_shingle_hashes (the engine's split, with token
 * hashes from elsewhere) give wd_shingle_text's tokens and set, for every k,
 * on random texts of short and long runs, including texts under k tokens. */
static int test_split_vs_text(void) {
  unsigned long long rng = wd_t_seed(5);
  wd_buf_t text = WD_BUF_INIT;
  for (uint32_t k = 1; k <= 7; k++) {
    wd_shingle_opts_t o;
    wd_shingle_opts_default(&o);
    o.k = k;
    wd_shingle_t *a = wd_shingle_new(&o), *b = wd_shingle_new(&o);
    for (int d = 0; d < 200; d++) {
      wd_buf_clear(&text);
      const int n = (int)(wd_t_rand(&rng) % (d % 4 ? 300 : 8));
      for (int i = 0; i < n; i++)
        wd_buf_printf(&text, "%sw%u", i ? (wd_t_rand(&rng) % 9 ? " " : "\n") : "",
                      (unsigned)(wd_t_rand(&rng) % 30));
      size_t na, nb, sa, sb;
      wd_shingle_text(a, text.p ? text.p : "", text.len);
      wd_shingle_tokenise(b, text.p ? text.p : "", text.len);
      const uint64_t *tb = wd_shingle_tokens(b, &nb);
      (void)wd_shingle_set(b, &sb);
      WD_T_ASSERT(sb == 0, "tokenise leaves the set empty");
      uint64_t *copy = wd_malloc((nb ? nb : 1) * sizeof(*copy));
      if (nb)
        memcpy(copy, tb, nb * sizeof(*copy));
      wd_shingle_hashes(b, copy, nb);
      const uint64_t *ta = wd_shingle_tokens(a, &na);
      tb = wd_shingle_tokens(b, &nb);
      const uint64_t *xa = wd_shingle_set(a, &sa), *xb = wd_shingle_set(b, &sb);
      WD_T_ASSERT(na == nb && (!na || !memcmp(ta, tb, na * sizeof(*ta))), "k=%u doc %d tokens",
                  k, d);
      WD_T_ASSERT(sa == sb && (!sa || !memcmp(xa, xb, sa * sizeof(*xa))), "k=%u doc %d set",
                  k, d);
      wd_free(copy);
    }
    wd_shingle_destroy(a);
    wd_shingle_destroy(b);
  }
  wd_buf_free(&text);
  return 0;
}

/* k = 5 has its own XXH3 (the 40-byte case written out): its set must be
 * XXH3_64bits_withSeed over each window, first-seen order, for random
 * token hashes (any 64-bit value, 0 and all-ones too), random seeds, and
 * vocabularies small enough to repeat windows. */
static int test_k5_vs_xxh3(void) {
  unsigned long long rng = wd_t_seed(0x40b);
  uint64_t *tok = wd_malloc(2000 * sizeof(*tok)), *want = wd_malloc(2000 * sizeof(*want));
  for (int round = 0; round < 300; round++) {
    const uint64_t seed = round % 5 == 0 ? 0 : round % 5 == 1 ? ~0ull : wd_t_rand(&rng);
    wd_shingle_t *sh = mk(5, seed);
    const size_t n = (size_t)(wd_t_rand(&rng) % (round % 7 ? 2000 : 9));
    const unsigned vocab = round % 2 ? 3 + (unsigned)(wd_t_rand(&rng) % 20) : 0;
    for (size_t i = 0; i < n; i++) {
      const uint64_t r = wd_t_rand(&rng);
      tok[i] = vocab ? wd_t_rand(&(unsigned long long){r % vocab}) : r;
      if (wd_t_rand(&rng) % 50 == 0)
        tok[i] = wd_t_rand(&rng) % 2 ? 0 : ~0ull;
    }
    size_t nw = 0;
    const size_t pos = n == 0 ? 0 : n < 5 ? 1 : n - 4;
    for (size_t p = 0; p < pos; p++) {
      const uint64_t h = XXH3_64bits_withSeed(tok + p, (n < 5 ? n : 5) * sizeof(*tok), seed);
      size_t j = 0;
      while (j < nw && want[j] != h)
        j++;
      if (j == nw)
        want[nw++] = h;
    }
    wd_shingle_hashes(sh, tok, n);
    size_t ns;
    const uint64_t *set = wd_shingle_set(sh, &ns);
    WD_T_ASSERT(ns == nw && (!ns || !memcmp(set, want, ns * sizeof(*set))),
                "round %d: %zu tokens, seed %016llx: %zu shingles, XXH3 says %zu", round, n,
                (unsigned long long)seed, ns, nw);
    wd_shingle_destroy(sh);
  }
  wd_free(tok);
  wd_free(want);
  return 0;
}

int main(void) {
  WD_T_RUN(test_k5_vs_xxh3);
  WD_T_RUN(test_opts);
  WD_T_RUN(test_split_vs_text);
  WD_T_RUN(test_counts);
  WD_T_RUN(test_separators);
  WD_T_RUN(test_hashes);
  WD_T_RUN(test_scratch_reuse);
  WD_T_RUN(test_no_alloc_when_warm);
  return WD_T_DONE();
}
