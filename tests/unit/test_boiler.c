/* test_boiler.c - boilerplate removal: built-in and configured phrases of
 * every kind, per-source learned lines, bounded memory, determinism. */
#include "wiredup/boiler.h"
#include "wiredup/mem.h"
#include "wiredup/norm.h"
#include "wiredup/shingle.h"
#include "wd_test.h"

#include <stdint.h>
#include <xxhash.h>

/* An invented article with the furniture news sites wrap around stories. */
static const char fixture[] =
    "Harbour board approves new ferry terminal | Coastal Times\n\n"
    "PORT ELLIS \xE2\x80\x94 The harbour board on Tuesday approved a new "
    "ferry terminal that will double the number of daily crossings to the "
    "islands, the board\xE2\x80\x99s chairwoman said.\n\n"
    "Article continues after this advertisement\n\n"
    "The terminal is expected to cost 42 mln dlrs and to open in two years, "
    "officials said.\n\n"
    "FEATURED STORIES\n\n"
    "Residents have long complained about queues at the old pier, where "
    "cars wait up to three hours in summer. Story continues below Local "
    "businesses welcomed the decision.\n\n"
    "Subscribe to our weekly business newsletter\n\n"
    "By providing an email address. I agree to the Terms of Use and "
    "acknowledge that I have read the Privacy Policy.\n\n"
    "Your subscription could not be saved. Please try again.\n"
    "Your subscription has been successful.\n\n"
    "READ MORE: Ferry fares to rise in spring\n\n"
    "Facebook Twitter Email Print\n\n"
    "Advertisement\n\n"
    "\xC2\xA9 Copyright 2024 Coastal Times | All Rights Reserved\n\n"
    "We use cookies to improve your experience. By continuing, you agree to "
    "our use of cookies.";

static const char *const fixture_gone[] = {
    "article continues after this advertisement",
    "featured stories",
    "story continues below",
    "subscribe to our",
    "newsletter",
    "your subscription",
    "privacy policy",
    "read more",
    "facebook",
    "advertisement",
    "all rights reserved",
    "copyright",
    "cookies",
    NULL,
};

static const char *const fixture_kept[] = {
    "the harbor board on tuesday approved a new ferry terminal",
    "the terminal is expected to cost 42 million dollars",
    "cars wait up to three hours in summer local businesses welcomed",
    NULL,
};

/* Normalise and filter with phrases only (no learning). */
static void clean(const char *text, size_t len, wd_buf_t *kept) {
  wd_norm_t *nm = wd_norm_new(NULL);
  wd_boiler_opts_t o;
  wd_boiler_opts_default(&o);
  o.learn = 0;
  wd_boiler_t *bp = wd_boiler_new(&o);
  wd_buf_t n = WD_BUF_INIT;
  uint64_t lh[64];
  size_t nl;
  wd_norm_text(nm, text, len, &n);
  wd_boiler_filter(bp, "site.example", 12, n.p, n.len, kept, lh, &nl, 64);
  wd_buf_free(&n);
  wd_boiler_destroy(bp);
  wd_norm_destroy(nm);
}

static int check_clean(const wd_buf_t *kept, const char *const *gone,
                       const char *const *stay) {
  int fails = 0;
  for (const char *const *g = gone; *g; g++)
    if (strstr(kept->p, *g)) {
      fprintf(stderr, "  still there: \"%s\"\n", *g);
      fails++;
    }
  for (const char *const *s = stay; *s; s++)
    if (!strstr(kept->p, *s)) {
      fprintf(stderr, "  lost: \"%s\"\n", *s);
      fails++;
    }
  if (fails)
    fprintf(stderr, "  kept text:\n%s\n", kept->p);
  return fails;
}

static int test_fixture(void) {
  wd_buf_t kept = WD_BUF_INIT;
  clean(fixture, sizeof(fixture) - 1, &kept);
  int fails = check_clean(&kept, fixture_gone, fixture_kept);
  wd_buf_free(&kept);
  WD_T_ASSERT(fails == 0, "%d checks failed", fails);
  return 0;
}

/* The real AP story as a news site republished it (shared research data). */
static int test_seed_article(void) {
  static const char *const gone[] = {
      "article continues after this advertisement",
      "subscribe to our",
      "cookies",
      "your subscription",
      "all rights reserved",
      NULL};
  static const char *const stay[] = {
      "us secretary of state rex tillerson on friday urged his nato "
      "counterparts",
      "frances foreign minister jean marc ayrault insisted", NULL};
  const char *dir = getenv("WD_SHARED_DATA");
  char path[4096];
  FILE *f = NULL;
  if (dir) {
    snprintf(path, sizeof(path), "%s/inquirer-ap-nato-2017.txt", dir);
    f = fopen(path, "rb");
  }
  if (!f) {
    fprintf(stderr,
            "  skip: WD_SHARED_DATA/inquirer-ap-nato-2017.txt absent\n");
    return 0;
  }
  static char buf[1 << 16];
  size_t n = fread(buf, 1, sizeof(buf), f);
  fclose(f);
  wd_buf_t kept = WD_BUF_INIT;
  clean(buf, n, &kept);
  int fails = check_clean(&kept, gone, stay);
  wd_buf_free(&kept);
  WD_T_ASSERT(fails == 0, "%d checks failed", fails);
  return 0;
}

/* ==== Phrase kinds, on canonical text ==== */

typedef struct {
  const char *in, *want;
} row_t;

static const char *const kind_phrases[] = {
    "Article continues after this advertisement", /* anywhere */
    "Sign up for our * newsletter",               /* anywhere, with a gap */
    "^Copyright",                                 /* short line start */
    "~all rights reserved",                       /* short line contains */
    "=Breaking news",                             /* whole line */
    "@Facebook",
    "@Twitter",
    "@Email", /* button words */
    "",
    "*",
    "^",
    "@two words", /* ignored */
    NULL,
};

static const row_t kind_rows[] = {
    {"the minister said article continues after this advertisement the "
     "talks would resume",
     "the minister said the talks would resume"},
    {"a article continues after b", "a article continues after b"},
    {"x sign up for our newsletter y sign up for our daily business "
     "newsletter z",
     "x y z"},
    {"sign up for our very long winded weekly newsletter",
     "sign up for our very long winded weekly newsletter"}, /* gap > 3 */
    {"copyright 2024 the daily example", ""},
    {"story\ncopyright 1987 the daily example\nmore story",
     "story\nmore story"},
    {"the copyright office said", "the copyright office said"},
    {"copyright a b c d e f g h i j k l m n o p q r s t u v w x y z",
     "copyright a b c d e f g h i j k l m n o p q r s t u v w x y z"},
    {"the daily example all rights reserved", ""},
    {"breaking news", ""},
    {"breaking news from the harbour", "breaking news from the harbour"},
    {"facebook twitter email twitter", ""},
    {"facebook said on tuesday", "facebook said on tuesday"},
    {"keep\n\nthis", "keep\nthis"},
    {"", ""},
    {NULL, NULL},
};

static int test_kinds(void) {
  wd_boiler_opts_t o;
  wd_boiler_opts_default(&o);
  o.learn = 0;
  o.phrases = kind_phrases;
  wd_boiler_t *bp = wd_boiler_new(&o);
  wd_buf_t kept = WD_BUF_INIT;
  int fails = 0;
  for (const row_t *r = kind_rows; r->in; r++) {
    wd_boiler_filter(bp, NULL, 0, r->in, strlen(r->in), &kept, NULL, NULL, 0);
    if (strcmp(kept.p, r->want) != 0) {
      fprintf(stderr, "  row %d: in=\"%s\"\n    want=\"%s\"\n    got =\"%s\"\n",
              (int)(r - kind_rows), r->in, r->want, kept.p);
      fails++;
    }
  }
  wd_buf_free(&kept);
  wd_boiler_destroy(bp);
  WD_T_ASSERT(fails == 0, "%d rows failed", fails);
  return 0;
}

/* Phrases are raw text: they go through the same normalisation as the
 * articles, so case, punctuation and wire abbreviations do not matter. */
static int test_phrases_normalised(void) {
  static const char *const ph[] = {"Click HERE, to get 5 mln  points!", NULL};
  wd_boiler_opts_t o;
  wd_boiler_opts_default(&o);
  o.learn = 0;
  o.phrases = ph;
  wd_boiler_t *bp = wd_boiler_new(&o);
  wd_buf_t kept = WD_BUF_INIT;
  const char *t = "a click here to get 5 million points b";
  wd_boiler_filter(bp, NULL, 0, t, strlen(t), &kept, NULL, NULL, 0);
  WD_T_ASSERT(strcmp(kept.p, "a b") == 0, "got \"%s\"", kept.p);
  wd_boiler_destroy(bp);

  o.phrases = NULL; /* no phrases at all */
  bp = wd_boiler_new(&o);
  wd_boiler_filter(bp, NULL, 0, t, strlen(t), &kept, NULL, NULL, 0);
  WD_T_ASSERT(strcmp(kept.p, t) == 0, "got \"%s\"", kept.p);
  wd_boiler_destroy(bp);
  wd_boiler_destroy(NULL);
  wd_buf_free(&kept);
  return 0;
}

/* ==== Learned lines ==== */

static const char story_a[] = "markets rallied on tuesday as oil fell\n"
                              "follow the harbour gazette for more";
static const char footer[] = "follow the harbour gazette for more";

static wd_boiler_t *learner(size_t capacity) {
  wd_boiler_opts_t o;
  wd_boiler_opts_default(&o);
  o.phrases = NULL;
  o.min_clusters = 3;
  o.max_line_tokens = 10;
  o.capacity = capacity;
  return wd_boiler_new(&o);
}

/* Filter then learn \p text of \p src under \p cluster. @returns whether
 * \p line survived the filter. */
static int feed(wd_boiler_t *bp, const char *src, const char *text,
                uint64_t cluster, const char *line, wd_buf_t *kept) {
  uint64_t lh[16];
  size_t nl = 0;
  wd_boiler_filter(bp, src, strlen(src), text, strlen(text), kept, lh, &nl, 16);
  wd_boiler_learn(bp, src, strlen(src), lh, nl, cluster);
  return strstr(kept->p, line) != NULL;
}

/* A different story per cluster, with the outlet's footer. */
static const char *story(uint64_t cluster, char *buf, size_t cap) {
  snprintf(buf, cap, "markets rallied on day %u as oil fell\n%s",
           (unsigned)cluster, footer);
  return buf;
}

static int test_learn_clusters(void) {
  wd_boiler_t *bp = learner(1024);
  wd_buf_t kept = WD_BUF_INIT;
  char t[128];
  /* the footer is kept while it has been seen in fewer than 3 clusters */
  WD_T_ASSERT(
      feed(bp, "gazette.example", story(101, t, 128), 101, footer, &kept),
      "cluster 1");
  WD_T_ASSERT(
      feed(bp, "gazette.example", story(102, t, 128), 102, footer, &kept),
      "cluster 2");
  WD_T_ASSERT(
      feed(bp, "gazette.example", story(103, t, 128), 103, footer, &kept),
      "cluster 3: learned only after this one");
  WD_T_ASSERT(
      !feed(bp, "gazette.example", story(104, t, 128), 104, footer, &kept),
      "dropped after 3 clusters");
  WD_T_ASSERT(strcmp(kept.p, "markets rallied on day 104 as oil fell") == 0,
              "the story line stays: \"%s\"", kept.p);
  /* A, B, A: a return to an earlier cluster counts again (only the last
   * cluster is remembered), but a repeat of the last one does not. */
  wd_boiler_t *bp2 = learner(1024);
  WD_T_ASSERT(feed(bp2, "g", story(1, t, 128), 1, footer, &kept), "A");
  WD_T_ASSERT(feed(bp2, "g", story(2, t, 128), 2, footer, &kept), "B");
  WD_T_ASSERT(feed(bp2, "g", story(2, t, 128), 2, footer, &kept), "B again");
  WD_T_ASSERT(feed(bp2, "g", story(1, t, 128), 1, footer, &kept), "A again");
  WD_T_ASSERT(!feed(bp2, "g", story(5, t, 128), 5, footer, &kept),
              "A, B, A is three");
  wd_boiler_destroy(bp2);
  /* another source with the same line is unaffected */
  WD_T_ASSERT(feed(bp, "other.example", story(104, t, 128), 104, footer, &kept),
              "other source");
  wd_buf_free(&kept);
  wd_boiler_destroy(bp);
  return 0;
}

static int test_learn_one_cluster(void) {
  /* An outlet re-sending one story: the same lines, one cluster, N times. */
  wd_boiler_t *bp = learner(1024);
  wd_buf_t kept = WD_BUF_INIT;
  for (int i = 0; i < 20; i++)
    WD_T_ASSERT(feed(bp, "wire.example", story_a, 7, footer, &kept),
                "resend %d", i);
  WD_T_ASSERT(feed(bp, "wire.example", story_a, 7,
                   "markets rallied on tuesday as oil fell", &kept),
              "story learned from one cluster");
  wd_buf_free(&kept);
  wd_boiler_destroy(bp);
  return 0;
}

static int test_learn_long_lines(void) {
  /* max_line_tokens = 10: an 11-token line is never a learning candidate */
  static const char text[] = "one two three four five six seven eight nine "
                             "ten eleven\nshort line";
  wd_boiler_t *bp = learner(1024);
  wd_buf_t kept = WD_BUF_INIT;
  uint64_t lh[16];
  size_t nl = 99;
  wd_boiler_filter(bp, "s", 1, text, strlen(text), &kept, lh, &nl, 16);
  WD_T_ASSERT(nl == 1, "line hashes: %zu", nl);
  WD_T_ASSERT(lh[0] == XXH3_64bits("short line", 10), "hash of the line");
  for (uint64_t c = 1; c <= 10; c++)
    feed(bp, "s", text, c, "eleven", &kept);
  WD_T_ASSERT(strcmp(kept.p, "one two three four five six seven eight nine "
                             "ten eleven") == 0,
              "got \"%s\"", kept.p);
  /* line_cap bounds what is written */
  wd_boiler_filter(bp, "s", 1, "a\nb\nc", 5, &kept, lh, &nl, 2);
  WD_T_ASSERT(nl == 2, "line_cap: %zu", nl);
  /* NULL source is the empty source */
  for (uint64_t c = 1; c <= 3; c++) {
    char t[32];
    snprintf(t, sizeof(t), "story %u\nfurniture", (unsigned)c);
    feed(bp, "", t, c, "furniture", &kept);
  }
  wd_boiler_filter(bp, NULL, 0, "x\nfurniture", 11, &kept, NULL, NULL, 0);
  WD_T_ASSERT(strcmp(kept.p, "x") == 0, "got \"%s\"", kept.p);
  wd_buf_free(&kept);
  wd_boiler_destroy(bp);
  return 0;
}

static int test_learn_bounded(void) {
  /* A tiny table and many distinct lines: memory stays fixed, and lines
   * already learned survive the churn (the lowest count gives way). */
  unsigned long long st = wd_t_seed(77);
  wd_boiler_t *bp = learner(64);
  wd_buf_t kept = WD_BUF_INIT;
  for (uint64_t c = 1; c <= 3; c++)
    feed(bp, "g", story_a, c, footer, &kept);
  WD_T_ASSERT(!feed(bp, "g", story_a, 4, footer, &kept), "learned");
  size_t bytes = wd_boiler_bytes(bp);
  size_t used = wd_mem_used();
  WD_T_ASSERT(bytes >= 64 * 16, "bytes %zu", bytes);
  for (int i = 0; i < 20000; i++) {
    uint64_t h = wd_t_rand(&st);
    wd_boiler_learn(bp, "g", 1, &h, 1, (uint64_t)i);
  }
  WD_T_ASSERT(wd_boiler_bytes(bp) == bytes, "bytes %zu -> %zu", bytes,
              wd_boiler_bytes(bp));
  WD_T_ASSERT(wd_mem_used() == used, "learning allocated");
  WD_T_ASSERT(!feed(bp, "g", story_a, 5, footer, &kept),
              "a learned line survived the churn");
  wd_buf_free(&kept);
  wd_boiler_destroy(bp);
  return 0;
}

static int test_deterministic(void) {
  unsigned long long st = wd_t_seed(99);
  wd_boiler_t *a = learner(256), *b = learner(256);
  wd_buf_t ka = WD_BUF_INIT, kb = WD_BUF_INIT, text = WD_BUF_INIT;
  for (int i = 0; i < 3000; i++) {
    wd_buf_clear(&text);
    int lines = 1 + (int)(wd_t_rand(&st) % 4);
    for (int l = 0; l < lines; l++)
      wd_buf_printf(&text, "%sline %u", l ? "\n" : "",
                    (unsigned)(wd_t_rand(&st) % 40));
    char src[8];
    snprintf(src, sizeof(src), "s%u", (unsigned)(wd_t_rand(&st) % 3));
    uint64_t cl = wd_t_rand(&st) % 50;
    feed(a, src, text.p, cl, "", &ka);
    feed(b, src, text.p, cl, "", &kb);
    WD_T_ASSERT(strcmp(ka.p, kb.p) == 0, "step %d differs", i);
  }
  wd_buf_free(&ka);
  wd_buf_free(&kb);
  wd_buf_free(&text);
  wd_boiler_destroy(a);
  wd_boiler_destroy(b);
  return 0;
}

static int test_defaults(void) {
  wd_boiler_opts_t o;
  wd_boiler_opts_default(&o);
  WD_T_ASSERT(o.learn == 1 && o.min_clusters == 3 && o.max_line_tokens == 60 &&
                  o.capacity == (size_t)1 << 20,
              "defaults");
  WD_T_ASSERT(o.phrases == wd_boiler_default_phrases, "default phrases");
  size_t n = 0;
  while (wd_boiler_default_phrases[n])
    n++;
  WD_T_ASSERT(n >= 30, "%zu default phrases", n);
  wd_boiler_t *bp = wd_boiler_new(NULL);
  WD_T_ASSERT(bp && wd_boiler_bytes(bp) >= ((size_t)1 << 20) * 16,
              "table allocated up front");
  wd_boiler_destroy(bp);
  return 0;
}


/* The engine's two stages: a phrase-only filter (learning off) on a worker,
 * then the learned lines dropped from its token hashes by line. On random
 * texts of phrase words, repeated footers, Unicode and long lines, that gives
 * exactly the tokens of the one-pass filter with learning, and the filter's
 * kept-token hashes are the shingle stage's own. */
static int test_two_stage_vs_filter(void) {
  static const char *const pool[] = {
      "follow the harbour gazette for more", "read more stories like this",
      "subscribe to our daily newsletter", "story continues below",
      "all rights reserved", "facebook twitter email",
      "ünïcödé wörds ŋ ħ and 東京 日本", "مرحبا بالعالم والسلام",
      "the port authority said on monday", "talks resumed on pay and hours"};
  static const char *const words[] = {"oil", "fell", "talks", "story", "continues",
                                      "below", "rights", "reserved", "ĳ", "東"};
  unsigned long long rng = wd_t_seed(77);
  wd_boiler_opts_t o;
  wd_boiler_opts_default(&o);
  o.min_clusters = 2;
  o.capacity = 4096;
  wd_boiler_t *full = wd_boiler_new(&o);
  o.learn = 0;
  wd_boiler_t *phr = wd_boiler_new(&o);
  wd_shingle_t *sh = wd_shingle_new(NULL);
  wd_buf_t text = WD_BUF_INIT, kept_ref = WD_BUF_INIT, kept = WD_BUF_INIT;
  enum { CAP = 64 };
  uint64_t lh_ref[CAP], lh[CAP], tok[4096], ref[4096];
  uint32_t lt[2 * CAP];
  uint8_t drop[CAP];
  size_t dropped_total = 0;
  for (int d = 0; d < 600; d++) {
    wd_buf_clear(&text);
    const int nl = 1 + (int)(wd_t_rand(&rng) % 12);
    for (int l = 0; l < nl; l++) {
      if (l)
        wd_buf_appendc(&text, '\n');
      if (wd_t_rand(&rng) % 2) {
        wd_buf_appends(&text, pool[wd_t_rand(&rng) % 10]);
      } else {
        const int nw = 1 + (int)(wd_t_rand(&rng) % (wd_t_rand(&rng) % 5 ? 12 : 90));
        for (int w = 0; w < nw; w++) {
          if (w)
            wd_buf_appendc(&text, ' ');
          if (wd_t_rand(&rng) % 3)
            wd_buf_printf(&text, "w%u", (unsigned)(wd_t_rand(&rng) % 50));
          else
            wd_buf_appends(&text, words[wd_t_rand(&rng) % 10]);
        }
      }
    }
    char src[8];
    snprintf(src, sizeof(src), "s%u", (unsigned)(wd_t_rand(&rng) % 3));
    const uint64_t cluster = wd_t_rand(&rng) % 40;
    size_t n_ref = 0, n = 0, ntok = 0, nref = 0, ktok;

    wd_boiler_filter(full, src, strlen(src), text.p, text.len, &kept_ref, lh_ref, &n_ref, CAP);
    wd_shingle_text(sh, kept_ref.p, kept_ref.len);
    const uint64_t *t = wd_shingle_tokens(sh, &nref);
    memcpy(ref, t, nref * sizeof(*t));

    wd_boiler_filter_ex(phr, src, strlen(src), text.p, text.len, &kept, lh, lt, &n, CAP);
    const uint64_t *kt = wd_boiler_kept_tokens(phr, &ktok);
    wd_shingle_text(sh, kept.p, kept.len);
    t = wd_shingle_tokens(sh, &ntok);
    WD_T_ASSERT(ktok == ntok && !memcmp(kt, t, ntok * sizeof(*t)),
                "doc %d: kept-token hashes are not the shingle tokens", d);
    WD_T_ASSERT(n == n_ref && !memcmp(lh, lh_ref, n * sizeof(*lh)), "doc %d: line hashes", d);
    memcpy(tok, kt, ktok * sizeof(*kt));

    size_t w = 0, r = 0, ndrop = wd_boiler_learned(full, src, strlen(src), lh, n, drop);
    for (size_t i = 0; i < n; i++) {
      if (!drop[i])
        continue;
      memmove(tok + w, tok + r, (lt[2 * i] - r) * sizeof(*tok));
      w += lt[2 * i] - r;
      r = lt[2 * i] + lt[2 * i + 1];
    }
    memmove(tok + w, tok + r, (ktok - r) * sizeof(*tok));
    w += ktok - r;
    WD_T_ASSERT(w == nref && !memcmp(tok, ref, w * sizeof(*tok)),
                "doc %d: %zu dropped lines leave %zu tokens, the filter %zu", d, ndrop, w,
                nref);
    dropped_total += ndrop;
    wd_boiler_learn(full, src, strlen(src), lh_ref, n_ref, cluster);
  }
  WD_T_ASSERT(dropped_total > 100, "learned lines were dropped (%zu)", dropped_total);
  wd_boiler_destroy(full);
  wd_boiler_destroy(phr);
  wd_shingle_destroy(sh);
  wd_buf_free(&text);
  wd_buf_free(&kept_ref);
  wd_buf_free(&kept);
  return 0;
}

/* Text that is not quite canonical (leading, doubled and trailing spaces, an
 * empty line) comes out canonical, tokens one space apart, with or without
 * phrase tokens cut from a line. */
static int test_spacing(void) {
  wd_boiler_opts_t o;
  wd_boiler_opts_default(&o);
  o.learn = 0;
  const char *const none[] = {NULL};
  const char *const one[] = {"story continues below", NULL};
  const char *text = "  a  bb ccc \nd e  \n\n f\ngg story continues below  hh i\njj kk";
  const char *want[] = {"a bb ccc\nd e\nf\ngg story continues below hh i\njj kk",
                        "a bb ccc\nd e\nf\ngg hh i\njj kk"};
  for (int i = 0; i < 2; i++) {
    o.phrases = i ? one : none;
    wd_boiler_t *bp = wd_boiler_new(&o);
    wd_buf_t kept = WD_BUF_INIT;
    wd_boiler_filter(bp, NULL, 0, text, strlen(text), &kept, NULL, NULL, 0);
    WD_T_ASSERT(!strcmp(kept.p, want[i]), "phrases %d: kept \"%s\"", i, kept.p);
    wd_buf_free(&kept);
    wd_boiler_destroy(bp);
  }
  return 0;
}

/* The filter hashes tokens of up to 16 bytes with XXH3's short-input
 * function inlined: every kept-token hash must be XXH3_64bits of the token,
 * for random bytes (any but ' ' and '\n') of every length across the
 * 1..3, 4..8, 9..16 and longer cases. */
static int test_token_hash_vs_xxh3(void) {
  unsigned long long rng = wd_t_seed(0x70c);
  wd_boiler_opts_t o;
  wd_boiler_opts_default(&o);
  o.learn = 0;
  const char *const none[] = {NULL};
  o.phrases = none;
  wd_boiler_t *bp = wd_boiler_new(&o);
  wd_buf_t text = WD_BUF_INIT, kept = WD_BUF_INIT;
  size_t off[512], len[512];
  for (int d = 0; d < 400; d++) {
    wd_buf_clear(&text);
    const size_t nt = 1 + (size_t)(wd_t_rand(&rng) % 500);
    for (size_t t = 0; t < nt; t++) {
      if (t)
        wd_buf_appendc(&text, t % 37 ? ' ' : '\n');
      off[t] = text.len;
      len[t] = 1 + (size_t)(wd_t_rand(&rng) % (wd_t_rand(&rng) % 4 ? 17 : 40));
      for (size_t k = 0; k < len[t]; k++) {
        char c = (char)(1 + wd_t_rand(&rng) % 255);
        wd_buf_appendc(&text, c == ' ' || c == '\n' ? 'x' : c);
      }
    }
    wd_boiler_filter_ex(bp, NULL, 0, text.p, text.len, &kept, NULL, NULL, NULL, 0);
    size_t nk;
    const uint64_t *kt = wd_boiler_kept_tokens(bp, &nk);
    WD_T_ASSERT(nk == nt, "doc %d: %zu tokens kept of %zu", d, nk, nt);
    for (size_t t = 0; t < nt; t++)
      WD_T_ASSERT(kt[t] == XXH3_64bits(text.p + off[t], len[t]),
                  "doc %d token %zu (%zu bytes): hash is not XXH3_64bits", d, t, len[t]);
  }
  wd_buf_free(&text);
  wd_buf_free(&kept);
  wd_boiler_destroy(bp);
  return 0;
}

int main(void) {
  WD_T_RUN(test_token_hash_vs_xxh3);
  WD_T_RUN(test_fixture);
  WD_T_RUN(test_seed_article);
  WD_T_RUN(test_kinds);
  WD_T_RUN(test_phrases_normalised);
  WD_T_RUN(test_learn_clusters);
  WD_T_RUN(test_learn_one_cluster);
  WD_T_RUN(test_learn_long_lines);
  WD_T_RUN(test_learn_bounded);
  WD_T_RUN(test_deterministic);
  WD_T_RUN(test_defaults);
  WD_T_RUN(test_two_stage_vs_filter);
  WD_T_RUN(test_spacing);
  return WD_T_DONE();
}
