/* datagen.c - seeded synthetic newswire: generated words with Zipf
 * frequencies, wire originals and edited republished copies.
 *
 * A story is kept as packed tokens (24-bit word id or number, 8 flag bits),
 * so a copy re-renders it with its own edits, markup and boilerplate instead
 * of patching text. Every random choice comes from one seeded generator, so
 * a seed names a corpus. */
#include "datagen.h"

#include "wiredup/mix.h"
#include "wiredup/record.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==== Random numbers ==== */

typedef struct rng_s {
  uint64_t s;
} rng_t;

static uint64_t rng_u64(rng_t *r) { return wd_mix64(r->s += 0x9e3779b97f4a7c15ULL); }
static double rng_unit(rng_t *r) { return (double)(rng_u64(r) >> 11) * 0x1.0p-53; }
static uint32_t rng_below(rng_t *r, uint32_t n) {
  return wd_fastrange32((uint32_t)(rng_u64(r) >> 32), n);
}
static int rng_chance(rng_t *r, double p) { return rng_unit(r) < p; }
static uint32_t rng_range(rng_t *r, uint32_t lo, uint32_t hi) { /* inclusive */
  return lo + rng_below(r, hi - lo + 1);
}
static double rng_normal(rng_t *r) {
  double u = rng_unit(r), v = rng_unit(r);
  return sqrt(-2.0 * log(u > 0 ? u : 1e-300)) * cos(2 * M_PI * v);
}

/* ==== Vocabulary ==== */

/* Frequent English function and news words for the head of the Zipf curve;
 * the long tail is pseudo-words made of syllables. */
static const char *const head_words[] = {
    "the", "of", "and", "to", "a", "in", "that", "is", "for", "on", "it", "with",
    "was", "as", "said", "he", "at", "by", "from", "his", "be", "have", "has",
    "are", "an", "this", "not", "but", "they", "which", "or", "were", "had",
    "its", "their", "will", "would", "been", "who", "also", "after", "more",
    "one", "two", "three", "new", "year", "years", "people", "government",
    "we", "there", "about", "than", "last", "first", "up", "out", "into",
    "over", "other", "could", "some", "she", "her", "when", "can", "all",
    "if", "no", "what", "officials", "told", "week", "million", "percent",
    "state", "police", "city", "country", "minister", "president", "company",
    "market", "report", "according", "between", "before", "against", "while",
    "since", "under", "during", "national", "time", "day", "group", "now",
    "our", "them", "only", "may", "so", "most", "made", "because", "any",
    "should", "where", "them", "what", "such", "many", "those", "just", "how",
    "court", "public", "security", "expected", "monday", "tuesday", "wednesday",
    "thursday", "friday", "statement", "spokesman", "local", "foreign",
    "official", "leaders", "news", "including", "second", "high", "months",
    "support", "plan", "deal", "party", "election", "economic", "work", "health",
    "several", "world", "prices", "bank", "trade", "talks", "agency", "region",
};
#define HEAD_CNT (sizeof(head_words) / sizeof(head_words[0]))

static const char *const onsets[] = {"b", "c", "d", "f", "g", "h", "j", "k", "l",
                                     "m", "n", "p", "r", "s", "t", "v", "w", "br",
                                     "ch", "cl", "dr", "gr", "pl", "pr", "sh",
                                     "st", "th", "tr", "", ""};
static const char *const vowels[] = {"a", "e", "i", "o", "u", "ai", "ea", "ou",
                                     "io", "y", "ee", "oa"};
static const char *const codas[] = {"", "", "", "n", "r", "s", "t", "l", "m",
                                    "nd", "st", "ng", "ck", "rt", "x"};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define VOCAB 40000u
#define WORD_MAX 24

/* ==== Sources ==== */

static const char *const source_names[] = {
    "Allied Wire Service", "Continental Press", "Meridian News Agency",
    "Harbor City Ledger", "Northgate Herald", "Valley Courier", "Riverside Post",
    "Summit Daily", "Lakeshore Gazette", "Pinecrest Tribune", "Eastport Times",
    "Westfield Chronicle", "Granite State Observer", "Coastal Sentinel",
    "Prairie Examiner", "Metro Bulletin",
};

#define SRC_MAX 64
#define SRC_FIXED 12 /* words of each outlet's own footer sentence */

typedef struct source_s {
  char name[64];
  char domain[64];
  uint32_t fixed[SRC_FIXED]; /* the outlet's recurring footer sentence */
  uint32_t newsletter;       /* word naming its newsletter */
  int header_byline;         /* prints "By NAME, OUTLET" */
} source_t;

/* ==== Stories ==== */

/* Token: bits 0-23 word id (or number), 24-31 flags. */
#define T_WORD(t) ((t) & 0xffffffu)
#define F_CAP (1u << 24)
#define F_COMMA (1u << 25)
#define F_PERIOD (1u << 26)
#define F_PARA (1u << 27)
#define F_NUM (1u << 28)
#define F_POSS (1u << 29)

#define TITLE_MAX 14
#define TOPIC_CNT 24
#define EDITS_MAX 6
#define PARA_MAX 512

typedef struct story_s {
  uint32_t *tok;
  uint32_t ntok;
  uint32_t title[TITLE_MAX];
  uint32_t ntitle;
  uint32_t num; /* story number (label) */
} story_t;

struct wd_datagen_s {
  wd_datagen_opts_t o;
  rng_t rng;
  char (*words)[WORD_MAX];
  uint8_t *wlen;
  double *cdf; /* cumulative Zipf weights, VOCAB entries */
  source_t src[SRC_MAX];
  uint32_t nwire;

  story_t *ring; /* o.memory stories, newest at (stories - 1) % memory */
  uint64_t stories;
  uint64_t records;
  int64_t ts_ms;

  wd_buf_t body; /* scratch */
  wd_buf_t title;
  uint32_t para_start[PARA_MAX + 1];
};

void wd_datagen_opts_default(wd_datagen_opts_t *opts) {
  opts->seed = 1;
  opts->dup_share = 0.3;
  opts->html_share = 0.3;
  opts->sources = 12;
  opts->words_min = 300;
  opts->words_max = 1500;
  opts->words_median = 570;
  opts->memory = 2048;
}

int wd_datagen_opt(wd_datagen_opts_t *opts, const char *name, const char *value) {
  if (!strcmp(name, "--seed"))
    opts->seed = strtoull(value, NULL, 10);
  else if (!strcmp(name, "--dup-share"))
    opts->dup_share = atof(value);
  else if (!strcmp(name, "--html-share"))
    opts->html_share = atof(value);
  else if (!strcmp(name, "--sources"))
    opts->sources = (uint32_t)atoi(value);
  else if (!strcmp(name, "--words-median"))
    opts->words_median = (uint32_t)atoi(value);
  else
    return 0;
  return 1;
}

static void make_word(rng_t *r, uint32_t rank, char *dst) {
  size_t n = 0;
  /* rarer words are longer, as in English */
  uint32_t syl = 1 + (rank > 2000) + (rng_below(r, 3) == 0);
  for (uint32_t s = 0; s < syl; s++) {
    const char *parts[3] = {onsets[rng_below(r, NELEM(onsets))],
                            vowels[rng_below(r, NELEM(vowels))],
                            s + 1 == syl ? codas[rng_below(r, NELEM(codas))] : ""};
    for (int p = 0; p < 3; p++) {
      size_t l = strlen(parts[p]);
      if (n + l >= WORD_MAX - 1)
        break;
      memcpy(dst + n, parts[p], l);
      n += l;
    }
  }
  if (n < 2) {
    memcpy(dst + n, "on", 2);
    n += 2;
  }
  dst[n] = '\0';
}

static uint32_t zipf_word(wd_datagen_t *g) {
  double u = rng_unit(&g->rng) * g->cdf[VOCAB - 1];
  uint32_t lo = 0, hi = VOCAB - 1;
  while (lo < hi) {
    uint32_t mid = (lo + hi) / 2;
    if (g->cdf[mid] < u)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

wd_datagen_t *wd_datagen_new(const wd_datagen_opts_t *opts) {
  wd_datagen_opts_t dflt;
  if (!opts) {
    wd_datagen_opts_default(&dflt);
    opts = &dflt;
  }
  if (opts->sources < 2 || opts->sources > SRC_MAX || opts->words_min < 10 ||
      opts->words_max < opts->words_min || opts->words_median < opts->words_min ||
      opts->words_median > opts->words_max || opts->memory < 1 ||
      opts->dup_share < 0 || opts->dup_share > 1 || opts->html_share < 0 ||
      opts->html_share > 1)
    return NULL;
  wd_datagen_t *g = wd_calloc(1, sizeof(*g));
  g->o = *opts;
  g->rng.s = opts->seed;

  /* The vocabulary depends on nothing but a fixed seed, so corpora of
   * different seeds share words, like real news does. */
  rng_t vr = {0x5eedf00dULL};
  g->words = wd_malloc(VOCAB * sizeof(*g->words));
  g->wlen = wd_malloc(VOCAB);
  g->cdf = wd_malloc(VOCAB * sizeof(*g->cdf));
  double acc = 0;
  for (uint32_t i = 0; i < VOCAB; i++) {
    if (i < HEAD_CNT)
      snprintf(g->words[i], WORD_MAX, "%s", head_words[i]);
    else
      make_word(&vr, i, g->words[i]);
    g->wlen[i] = (uint8_t)strlen(g->words[i]);
    acc += 1.0 / pow((double)i + 2.7, 1.0); /* Zipf-Mandelbrot, s = 1 */
    g->cdf[i] = acc;
  }

  for (uint32_t s = 0; s < opts->sources; s++) {
    source_t *sc = &g->src[s];
    const char *base = source_names[s % NELEM(source_names)];
    if (s < NELEM(source_names))
      snprintf(sc->name, sizeof(sc->name), "%s", base);
    else
      snprintf(sc->name, sizeof(sc->name), "%s %u", base, s / (unsigned)NELEM(source_names) + 1);
    size_t n = 0;
    for (const char *p = sc->name; *p && n + 9 < sizeof(sc->domain); p++)
      if (*p != ' ')
        sc->domain[n++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    memcpy(sc->domain + n, ".example", 9);
    for (int i = 0; i < SRC_FIXED; i++)
      sc->fixed[i] = 20 + rng_below(&vr, 3000);
    sc->newsletter = 300 + rng_below(&vr, 3000);
    sc->header_byline = rng_chance(&vr, 0.6);
  }
  g->nwire = opts->sources / 4 ? opts->sources / 4 : 1;

  g->ring = wd_calloc(opts->memory, sizeof(*g->ring));
  for (uint32_t i = 0; i < opts->memory; i++)
    g->ring[i].tok = wd_malloc((opts->words_max + 1) * sizeof(uint32_t));
  g->ts_ms = 1767571200000LL; /* 2026-01-05T00:00:00Z */
  return g;
}

void wd_datagen_destroy(wd_datagen_t *g) {
  if (!g)
    return;
  for (uint32_t i = 0; i < g->o.memory; i++)
    wd_free(g->ring[i].tok);
  wd_free(g->ring);
  wd_free(g->words);
  wd_free(g->wlen);
  wd_free(g->cdf);
  wd_buf_free(&g->body);
  wd_buf_free(&g->title);
  wd_free(g);
}

/* ==== Story generation ==== */

static uint32_t story_len(wd_datagen_t *g) {
  const wd_datagen_opts_t *o = &g->o;
  double w = (double)o->words_median * exp(0.38 * rng_normal(&g->rng));
  if (w < o->words_min)
    w = o->words_min + rng_below(&g->rng, 50);
  if (w > o->words_max)
    w = o->words_max - rng_below(&g->rng, 50);
  return (uint32_t)w;
}

static void new_story(wd_datagen_t *g, story_t *st) {
  rng_t *r = &g->rng;
  uint32_t topic[TOPIC_CNT];
  uint32_t names = 0;
  for (int i = 0; i < TOPIC_CNT; i++)
    topic[i] = 150 + rng_below(r, 12000);
  const uint32_t n = story_len(g);
  uint32_t i = 0;
  while (i < n) {
    uint32_t sentences = rng_range(r, 1, 4);
    for (uint32_t s = 0; s < sentences && i < n; s++) {
      uint32_t len = rng_range(r, 8, 28);
      for (uint32_t k = 0; k < len && i < n; k++) {
        uint32_t t;
        if (rng_chance(r, 0.02)) {
          uint32_t v = rng_chance(r, 0.5) ? rng_range(r, 2, 999)
                                           : rng_range(r, 1, 9999) * 1000;
          t = (v & 0xffffffu) | F_NUM;
        } else if (rng_chance(r, 0.15)) {
          uint32_t j = rng_below(r, TOPIC_CNT);
          t = topic[j] | (j < 6 ? F_CAP : 0); /* the first few are names */
          names += j < 6;
        } else {
          t = zipf_word(g);
        }
        if (k == 0)
          t |= F_CAP;
        if (!(t & F_NUM) && rng_chance(r, 0.01))
          t |= F_POSS;
        if (k + 1 == len || i + 1 == n)
          t |= F_PERIOD;
        else if (rng_chance(r, 0.06))
          t |= F_COMMA;
        st->tok[i++] = t;
      }
    }
    st->tok[i - 1] |= F_PERIOD | F_PARA;
  }
  st->ntok = n;
  st->ntitle = rng_range(r, 6, TITLE_MAX);
  for (uint32_t k = 0; k < st->ntitle; k++)
    st->title[k] = (k < 3 ? topic[rng_below(r, TOPIC_CNT)] : zipf_word(g)) | F_CAP;
  st->num = (uint32_t)g->stories;
  (void)names;
}

/* ==== Rendering ==== */

typedef struct render_s {
  int html;
  uint32_t wrap;       /* hard-wrap column, 0 = none */
  uint32_t ad_every;   /* paragraphs between ad breaks, 0 = none */
  uint32_t edit_pos[EDITS_MAX];
  uint32_t edit_word[EDITS_MAX];
  uint32_t nedit;
  const source_t *src;
} render_t;

typedef struct line_s {
  wd_buf_t *b;
  size_t col;
  uint32_t wrap;
} line_t;

static void put_word(line_t *ln, const char *w, size_t n, int first_in_para) {
  if (!first_in_para) {
    if (ln->wrap && ln->col + 1 + n > ln->wrap) {
      wd_buf_appendc(ln->b, '\n');
      ln->col = 0;
    } else {
      wd_buf_appendc(ln->b, ' ');
      ln->col++;
    }
  }
  wd_buf_append(ln->b, w, n);
  ln->col += n;
}

/* Render token \p t (edited word \p w) as text into \p tmp. */
static size_t token_text(const wd_datagen_t *g, uint32_t t, uint32_t w, int html,
                         char *tmp) {
  size_t n;
  if (t & F_NUM) {
    if (w >= 1000000)
      n = (size_t)snprintf(tmp, 40, "%u,%03u,%03u", w / 1000000, w / 1000 % 1000, w % 1000);
    else if (w >= 1000)
      n = (size_t)snprintf(tmp, 40, "%u,%03u", w / 1000, w % 1000);
    else
      n = (size_t)snprintf(tmp, 40, "%u", w);
  } else {
    n = g->wlen[w];
    memcpy(tmp, g->words[w], n);
    if (t & F_CAP)
      tmp[0] = (char)(tmp[0] >= 'a' && tmp[0] <= 'z' ? tmp[0] - 32 : tmp[0]);
    if (t & F_POSS) {
      /* HTML copies print the typographic apostrophe, raw or as an entity */
      const char *ap = !html ? "'s" : (w & 1) ? "&#8217;s" : "\xe2\x80\x99s";
      size_t l = strlen(ap);
      memcpy(tmp + n, ap, l);
      n += l;
    }
  }
  if (t & F_PERIOD)
    tmp[n++] = '.';
  else if (t & F_COMMA)
    tmp[n++] = ',';
  return n;
}

static void para_open(wd_buf_t *b, int html) {
  if (html)
    wd_buf_append(b, "<p>", 3);
}

static void para_close(wd_buf_t *b, int html) {
  if (html)
    wd_buf_append(b, "</p>\n", 5);
  else
    wd_buf_append(b, "\n\n", 2);
}

static void put_line(wd_buf_t *b, int html, const char *cls, const char *text) {
  if (html)
    wd_buf_printf(b, "<div class=\"%s\"><p>%s</p></div>\n", cls, text);
  else
    wd_buf_printf(b, "%s\n\n", text);
}

static void render_body(wd_datagen_t *g, const story_t *st, const uint32_t *paras,
                        uint32_t npara, const render_t *rd, wd_buf_t *b) {
  rng_t *r = &g->rng;
  const source_t *sc = rd->src;
  char tmp[64];
  static const char *const ads[] = {"Advertisement",
                                    "Article continues after this advertisement",
                                    "Story continues below advertisement"};
  if (rd->html)
    wd_buf_append(b, "<article>\n", 10);
  if (sc->header_byline) {
    char by[256];
    char first[64], last[64];
    first[token_text(g, F_CAP, 600 + st->num % 500, 0, first)] = '\0';
    last[token_text(g, F_CAP, 1200 + st->num % 700, 0, last)] = '\0';
    snprintf(by, sizeof(by), "By %s %s, %s", first, last, sc->name);
    put_line(b, rd->html, "byline", by);
  }
  uint32_t e = 0;
  for (uint32_t pi = 0; pi < npara; pi++) {
    const uint32_t p = paras[pi];
    line_t ln = {b, 0, rd->wrap};
    if (rd->ad_every && pi > 0 && pi % rd->ad_every == 0)
      put_line(b, rd->html, "ad", ads[rng_below(r, NELEM(ads))]);
    para_open(b, rd->html);
    for (uint32_t i = g->para_start[p]; i < g->para_start[p + 1]; i++) {
      uint32_t t = st->tok[i], w = T_WORD(t);
      while (e < rd->nedit && rd->edit_pos[e] < i)
        e++;
      if (e < rd->nedit && rd->edit_pos[e] == i && !(t & F_NUM))
        w = rd->edit_word[e];
      size_t n = token_text(g, t, w, rd->html, tmp);
      if (rd->html && !(t & F_NUM) && rng_chance(r, 0.004)) {
        char link[160];
        int m = snprintf(link, sizeof(link), "<a href=\"https://%s/tag/%s\">%.*s</a>",
                         sc->domain, g->words[w], (int)n, tmp);
        put_word(&ln, link, (size_t)m, i == g->para_start[p]);
        ln.col -= (size_t)m - n;
      } else {
        put_word(&ln, tmp, n, i == g->para_start[p]);
      }
    }
    para_close(b, rd->html);
  }
  /* the outlet's own footer: its fixed sentence, newsletter, copyright */
  char foot[400];
  size_t n = 0;
  for (int i = 0; i < SRC_FIXED; i++)
    n += (size_t)snprintf(foot + n, sizeof(foot) - n, "%s%s", i ? " " : "",
                          g->words[sc->fixed[i]]);
  snprintf(foot + n, sizeof(foot) - n, " %s.", sc->name);
  foot[0] = (char)(foot[0] - 32 * (foot[0] >= 'a' && foot[0] <= 'z'));
  put_line(b, rd->html, "promo", foot);
  snprintf(foot, sizeof(foot), "Sign up for the %s %s newsletter.", sc->name,
           g->words[sc->newsletter]);
  put_line(b, rd->html, "newsletter", foot);
  snprintf(foot, sizeof(foot), "Copyright %s 2026 %s. All rights reserved.",
           rd->html ? "&copy;" : "(c)", sc->name);
  put_line(b, rd->html, "copyright", foot);
  if (rd->html)
    wd_buf_append(b, "</article>", 10);
  while (b->len && b->p[b->len - 1] == '\n')
    b->p[--b->len] = '\0';
}

static uint32_t split_paras(wd_datagen_t *g, const story_t *st) {
  uint32_t np = 0;
  g->para_start[0] = 0;
  for (uint32_t i = 0; i < st->ntok && np < PARA_MAX; i++)
    if (st->tok[i] & F_PARA)
      g->para_start[++np] = i + 1;
  return np;
}

static void render_title(wd_datagen_t *g, const story_t *st, int edited,
                         const source_t *sc) {
  char tmp[64];
  wd_buf_clear(&g->title);
  for (uint32_t k = 0; k < st->ntitle; k++) {
    uint32_t w = T_WORD(st->title[k]);
    if (edited && rng_chance(&g->rng, 0.25))
      w = zipf_word(g);
    size_t n = token_text(g, F_CAP, w, 0, tmp);
    if (k)
      wd_buf_appendc(&g->title, ' ');
    wd_buf_append(&g->title, tmp, n);
  }
  if (edited && rng_chance(&g->rng, 0.3))
    wd_buf_printf(&g->title, " - %s", sc->name);
}

int wd_datagen_next(wd_datagen_t *g, wd_buf_t *dst) {
  rng_t *r = &g->rng;
  const wd_datagen_opts_t *o = &g->o;
  const int copy = g->stories > 0 && rng_chance(r, o->dup_share);
  const story_t *st;
  const source_t *sc;
  render_t rd;
  uint32_t paras[PARA_MAX];
  uint32_t npara = 0;

  memset(&rd, 0, sizeof(rd));
  rd.html = rng_chance(r, o->html_share);
  if (!copy) {
    story_t *ns = &g->ring[g->stories % o->memory];
    new_story(g, ns);
    g->stories++;
    st = ns;
    sc = &g->src[rng_below(r, g->nwire)];
  } else {
    /* recent stories get republished most */
    uint64_t have = g->stories < o->memory ? g->stories : o->memory;
    uint64_t age = (uint64_t)(-log(1.0 - rng_unit(r)) * 150.0);
    if (age >= have)
      age = rng_below(r, (uint32_t)have);
    st = &g->ring[(g->stories - 1 - age) % o->memory];
    sc = &g->src[g->nwire + rng_below(r, o->sources - g->nwire)];
  }
  const uint32_t np = split_paras(g, st);
  for (uint32_t p = 0; p < np; p++)
    paras[npara++] = p;

  if (copy) {
    if (np > 3 && rng_chance(r, 0.4)) /* trimmed to fit */
      npara = (uint32_t)ceil(np * (0.5 + 0.4 * rng_unit(r)));
    if (npara > 3 && rng_chance(r, 0.3)) { /* one paragraph dropped */
      uint32_t d = rng_range(r, 1, npara - 2);
      memmove(paras + d, paras + d + 1, (npara - d - 1) * sizeof(*paras));
      npara--;
    }
    if (rng_chance(r, 0.5)) { /* a few words changed, positions ascending */
      rd.nedit = rng_range(r, 1, EDITS_MAX);
      uint32_t step = st->ntok / rd.nedit;
      for (uint32_t e = 0; e < rd.nedit; e++) {
        rd.edit_pos[e] = e * step + rng_below(r, step);
        rd.edit_word[e] = zipf_word(g);
      }
    }
    if (rng_chance(r, 0.3))
      rd.wrap = rng_range(r, 60, 78);
    if (rng_chance(r, 0.4))
      rd.ad_every = rng_range(r, 2, 5);
  }
  rd.src = sc;

  wd_buf_clear(&g->body);
  render_body(g, st, paras, npara, &rd, &g->body);
  render_title(g, st, copy, sc);

  char ts[40];
  g->ts_ms += 1000 * (int64_t)rng_range(r, 1, 30);
  size_t tsn = wd_time_format_rfc3339(ts, sizeof(ts), g->ts_ms);
  wd_buf_printf(dst, "{\"id\":\"d%08llu\",\"story\":\"s%07u\",\"source\":",
                (unsigned long long)g->records, st->num);
  wd_json_append_string(dst, sc->domain, strlen(sc->domain));
  wd_buf_append(dst, ",\"published_at\":", 16);
  wd_json_append_string(dst, ts, tsn);
  wd_buf_append(dst, ",\"title\":", 9);
  wd_json_append_string(dst, g->title.p, g->title.len);
  wd_buf_append(dst, ",\"body\":", 8);
  wd_json_append_string(dst, g->body.p, g->body.len);
  wd_buf_appendc(dst, '}');
  g->records++;
  return copy;
}
