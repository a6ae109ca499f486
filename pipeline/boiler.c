/* boiler.c - boilerplate removal on canonical token text: configured phrases
 * (anywhere in a line, line prefix, short line containing, whole line, button
 * words) and lines learned per source from the number of distinct clusters
 * they were seen in. Tokens are compared by their XXH3 hashes. */
#include "wiredup/boiler.h"
#include "wiredup/log.h"
#include "wiredup/norm.h"
#include "wiredup/state.h"

#include <assert.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define XXH_INLINE_ALL
#include <xxhash.h>

/* A line made of at most this many tokens is "short": a line-start or
 * line-contains phrase drops it whole. Story paragraphs are longer; site
 * furniture ("Copyright 1987 The Star Tribune. All rights reserved. This
 * material may not be published...") fits. */
#define BOIL_SHORT_LINE 25
/* A '*' in a phrase stands for 0..BOIL_GAP_MAX tokens. */
#define BOIL_GAP_MAX 3
/* Marks a gap in a phrase's token hashes (token hashes are never 0). */
#define BOIL_GAP 0
/* Learned-line table: slots probed from the key's home slot. */
#define BOIL_PROBE 8
/* The first-token prefilter: a token hash h picks bit h >> BOIL_HEAD_SHIFT. */
#define BOIL_HEAD_SHIFT 52
#define BOIL_HEAD_BITS ((size_t)1 << (64 - BOIL_HEAD_SHIFT))

/* ==== Built-in phrases ==== */

const char *const wd_boiler_default_phrases[] = {
    /* ad breaks and reading prompts, anywhere in a line */
    "Article continues after this advertisement",
    "Article continues below this advertisement",
    "Article continues below",
    "Story continues below this advertisement",
    "Story continues after this advertisement",
    "Story continues below",
    "Continue reading the main story",
    "Continue reading below",
    "Skip advertisement",
    "This is an information message",
    /* newsletter and subscription widgets */
    "Subscribe to our * newsletter",
    "Sign up for our * newsletter",
    "Sign up for our * briefing",
    "Your subscription could not be saved. Please try again.",
    "Your subscription has been successful.",
    "By providing an email address. I agree to the Terms of Use and "
    "acknowledge that I have read the Privacy Policy.",
    "Thank you for subscribing",
    /* cookie banners */
    "We use cookies to * your experience",
    "By continuing, you agree to our use of cookies",
    "^We use cookies",
    "^This site uses cookies",
    "^This website uses cookies",
    /* copyright and credit lines */
    "All rights reserved",
    "~All rights reserved",
    "~may not be published, broadcast, rewritten or redistributed",
    "~contributed to this report",
    "^Copyright",
    "^(c)",
    "^Additional reporting by",
    "^Reporting by",
    "^Editing by",
    "^Writing by",
    "^Compiled by",
    /* short lines that are site furniture */
    "^Sign up",
    "^Subscribe to",
    "^Subscribe now",
    "^Read more",
    "^Read also",
    "^Also read",
    "^Click here",
    "^Never miss a story",
    "^Have a news tip",
    "^Got a news tip",
    "^Follow us on",
    "^Like us on Facebook",
    "^Share this",
    "^Comments will be moderated",
    "^Leave a comment",
    "^Join the conversation",
    "^Published on",
    "^Last updated",
    "^Updated on",
    "^This story has been corrected",
    "^This article has been corrected",
    "^This article has been updated",
    "^Tags",
    "^Related stories",
    "^Related articles",
    "^Related coverage",
    "^Related topics",
    "^You may also like",
    "^You might also like",
    "^Most read",
    "^Listen to this article",
    "^Download our app",
    "=Breaking news",
    "=Featured stories",
    "=Top stories",
    "=Most popular",
    "=Continue reading",
    "=Skip to content",
    "=Back to top",
    "=Loading",
    /* share buttons and ad labels: a line of nothing but these goes */
    "@Advertisement",
    "@Sponsored",
    "@Facebook",
    "@Twitter",
    "@Email",
    "@Print",
    "@Share",
    "@LinkedIn",
    "@WhatsApp",
    "@Reddit",
    "@Pinterest",
    "@Telegram",
    "@Messenger",
    "@Flipboard",
    "@Tweet",
    "@Comments",
    "@Save",
    NULL,
};

/* ==== Types ==== */

enum {
  PH_ANY = 0,  /* remove the tokens wherever they occur in a line */
  PH_START,    /* drop a short line that starts with them */
  PH_CONTAINS, /* drop a short line that contains them */
  PH_LINE,     /* drop a line that is exactly them */
  PH_WORD      /* button word: drop a line made only of such words */
};

typedef struct boil_phrase_s {
  uint32_t first; /* index of its first token hash in bp->ph_tok */
  uint32_t cnt;   /* tokens, gaps included */
  int kind;
} boil_phrase_t;

/* One slot of the first-token index: the phrases whose first token hashes
 * to h are ph_order[first .. first + cnt). */
typedef struct boil_head_s {
  uint64_t h;
  uint32_t first;
  uint16_t cnt;
  uint8_t button; /* h is a button word */
} boil_head_t;

/* One learned line of one source. */
typedef struct boil_slot_s {
  uint64_t key;   /* fold of XXH3(source) and XXH3(line); 0 = empty */
  uint32_t last;  /* 32-bit fold of the last cluster key seen */
  uint32_t count; /* distinct clusters seen (consecutive repeats count once) */
} boil_slot_t;

struct wd_boiler_s {
  wd_boiler_opts_t opts;
  /* phrases */
  boil_phrase_t *ph;
  size_t ph_cnt;
  uint64_t *ph_tok;
  size_t ph_tok_cnt;
  uint32_t *ph_order;
  boil_head_t *head;
  size_t head_mask;
  /* bit h >> BOIL_HEAD_SHIFT set for every head h: most tokens start no
   * phrase and are no button word, and this says so without a probe */
  uint64_t head_bits[BOIL_HEAD_BITS / 64];
  uint64_t *line_h; /* XXH3 of PH_LINE phrases' canonical text */
  size_t line_cnt;
  /* learned lines */
  boil_slot_t *slot;
  size_t slot_mask;
  /* scratch for one line, grown on demand and kept */
  uint32_t *t_off, *t_len;
  uint64_t *t_h;
  uint8_t *t_keep;
  uint64_t *k_h;     /* XXH3 of each token of the last output, in order */
  size_t k_cnt;
  size_t t_cap;
  uint64_t *l_h;     /* per line of the current text: XXH3 of it, */
  uint32_t *l_first; /* its first token, */
  uint32_t *l_cnt;   /* its token count */
  uint8_t *l_state;  /* and its LINE_* fate */
  uint32_t *l_out;   /* its index in line_hashes, or UINT32_MAX */
  size_t l_cap;
  wd_buf_t norm;
};

void wd_boiler_opts_default(wd_boiler_opts_t *opts) {
  opts->learn = 1;
  opts->min_clusters = 3;
  opts->max_line_tokens = 60;
  opts->capacity = (size_t)1 << 20;
  opts->phrases = wd_boiler_default_phrases;
}

static inline uint64_t boil_tok_hash(const char *p, size_t len) {
  /* Nearly every token is at most 16 bytes, which XXH3_64bits hashes with
   * its 0..16-byte function: called directly that inlines here, where the
   * public entry is a call and a dispatch on the length per token. Same
   * function, secret and seed (0): the same hash. */
  uint64_t h = len <= 16 ? XXH3_len_0to16_64b((const xxh_u8 *)p, len, XXH3_kSecret, 0)
                         : XXH3_64bits(p, len);
  return h ? h : 1; /* 0 is BOIL_GAP */
}

static inline uint64_t boil_mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

/* ==== Phrase set-up ==== */

static boil_head_t *head_find(const wd_boiler_t *bp, uint64_t h) {
  if (!bp->head)
    return NULL;
  for (size_t s = boil_mix(h) & bp->head_mask;; s = (s + 1) & bp->head_mask) {
    boil_head_t *e = &bp->head[s];
    if (e->h == h)
      return e;
    if (!e->h)
      return NULL;
  }
}

static boil_head_t *head_insert(wd_boiler_t *bp, uint64_t h) {
  size_t s = boil_mix(h) & bp->head_mask;
  while (bp->head[s].h && bp->head[s].h != h)
    s = (s + 1) & bp->head_mask;
  bp->head[s].h = h;
  return &bp->head[s];
}

/* Append the canonical tokens of raw text \p s (len bytes) to ph_tok. */
static void phrase_add_tokens(wd_boiler_t *bp, wd_norm_t *nm, const char *s,
                              size_t len, size_t *cap) {
  wd_norm_text(nm, s, len, &bp->norm);
  const char *p = bp->norm.p, *end = p + bp->norm.len;
  while (p < end) {
    const char *q = p;
    while (q < end && *q != ' ' && *q != '\n')
      q++;
    if (q > p) {
      if (bp->ph_tok_cnt == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        bp->ph_tok = wd_realloc(bp->ph_tok, *cap * sizeof(*bp->ph_tok));
      }
      bp->ph_tok[bp->ph_tok_cnt++] = boil_tok_hash(p, (size_t)(q - p));
    }
    p = q + 1;
  }
}

static void phrases_build(wd_boiler_t *bp, const char *const *phrases) {
  size_t n = 0, tok_cap = 0;
  while (phrases && phrases[n])
    n++;
  if (!n)
    return;
  wd_norm_opts_t no;
  wd_norm_opts_default(&no);
  wd_norm_t *nm = wd_norm_new(&no);
  bp->ph = wd_calloc(n, sizeof(*bp->ph));
  bp->line_h = wd_calloc(n, sizeof(*bp->line_h));
  for (size_t i = 0; i < n; i++) {
    const char *s = phrases[i];
    int kind = PH_ANY;
    switch (s[0]) {
    case '^':
      kind = PH_START, s++;
      break;
    case '~':
      kind = PH_CONTAINS, s++;
      break;
    case '=':
      kind = PH_LINE, s++;
      break;
    case '@':
      kind = PH_WORD, s++;
      break;
    default:
      break;
    }
    if (kind == PH_LINE) {
      wd_norm_text(nm, s, strlen(s), &bp->norm);
      if (bp->norm.len)
        bp->line_h[bp->line_cnt++] = XXH3_64bits(bp->norm.p, bp->norm.len);
      continue;
    }
    boil_phrase_t ph = {(uint32_t)bp->ph_tok_cnt, 0, kind};
    /* '*' splits the phrase into parts with a gap between them */
    for (const char *part = s;;) {
      const char *star = strchr(part, '*');
      size_t len = star ? (size_t)(star - part) : strlen(part);
      phrase_add_tokens(bp, nm, part, len, &tok_cap);
      if (kind == PH_WORD || !star)
        break;
      if (bp->ph_tok_cnt > ph.first &&
          bp->ph_tok[bp->ph_tok_cnt - 1] != BOIL_GAP) {
        if (bp->ph_tok_cnt == tok_cap) {
          tok_cap = tok_cap ? tok_cap * 2 : 64;
          bp->ph_tok = wd_realloc(bp->ph_tok, tok_cap * sizeof(*bp->ph_tok));
        }
        bp->ph_tok[bp->ph_tok_cnt++] = BOIL_GAP;
      }
      part = star + 1;
    }
    /* no leading, trailing or doubled gaps */
    while (bp->ph_tok_cnt > ph.first &&
           bp->ph_tok[bp->ph_tok_cnt - 1] == BOIL_GAP)
      bp->ph_tok_cnt--;
    ph.cnt = (uint32_t)(bp->ph_tok_cnt - ph.first);
    if (!ph.cnt || (kind == PH_WORD && ph.cnt != 1)) {
      if (ph.cnt)
        WD_LOG(WD_LOG_WARN, "boilerplate button word is not one token",
               "phrase=%s", phrases[i]);
      bp->ph_tok_cnt = ph.first;
      continue;
    }
    bp->ph[bp->ph_cnt++] = ph;
  }
  wd_norm_destroy(nm);
  wd_buf_free(&bp->norm);

  /* first-token index */
  size_t cap = 64;
  while (cap < 4 * (bp->ph_cnt + 1))
    cap *= 2;
  bp->head = wd_calloc(cap, sizeof(*bp->head));
  bp->head_mask = cap - 1;
  bp->ph_order = wd_calloc(bp->ph_cnt ? bp->ph_cnt : 1, sizeof(*bp->ph_order));
  /* count per first token, then lay the phrase lists out contiguously */
  for (size_t i = 0; i < bp->ph_cnt; i++) {
    const uint64_t h = bp->ph_tok[bp->ph[i].first];
    boil_head_t *e = head_insert(bp, h);
    const uint64_t bit = h >> BOIL_HEAD_SHIFT;
    bp->head_bits[bit / 64] |= 1ull << (bit % 64);
    if (bp->ph[i].kind == PH_WORD)
      e->button = 1;
    else
      e->cnt++;
  }
  uint32_t at = 0;
  for (size_t s = 0; s <= bp->head_mask; s++) {
    if (!bp->head[s].h)
      continue;
    bp->head[s].first = at;
    at += bp->head[s].cnt;
    bp->head[s].cnt = 0;
  }
  for (size_t i = 0; i < bp->ph_cnt; i++) {
    if (bp->ph[i].kind == PH_WORD)
      continue;
    boil_head_t *e = head_find(bp, bp->ph_tok[bp->ph[i].first]);
    bp->ph_order[e->first + e->cnt++] = (uint32_t)i;
  }
}

/* ==== Life cycle ==== */

wd_boiler_t *wd_boiler_new(const wd_boiler_opts_t *opts) {
  wd_boiler_opts_t dflt;
  if (!opts) {
    wd_boiler_opts_default(&dflt);
    opts = &dflt;
  }
  wd_boiler_t *bp = wd_calloc(1, sizeof(*bp));
  bp->opts = *opts;
  bp->opts.phrases = NULL; /* borrowed: not kept past this call */
  if (bp->opts.min_clusters < 1)
    bp->opts.min_clusters = 1;
  size_t cap = BOIL_PROBE;
  while (cap < opts->capacity)
    cap *= 2;
  if (bp->opts.learn) {
    bp->slot = wd_calloc_huge(cap, sizeof(*bp->slot));
    bp->slot_mask = cap - 1;
  }
  bp->opts.capacity = cap;
  phrases_build(bp, opts->phrases);
  return bp;
}

void wd_boiler_destroy(wd_boiler_t *bp) {
  if (!bp)
    return;
  wd_free(bp->ph);
  wd_free(bp->ph_tok);
  wd_free(bp->ph_order);
  wd_free(bp->head);
  wd_free(bp->line_h);
  wd_free(bp->slot);
  wd_free(bp->t_off);
  wd_free(bp->t_len);
  wd_free(bp->t_h);
  wd_free(bp->t_keep);
  wd_free(bp->k_h);
  wd_free(bp->l_h);
  wd_free(bp->l_first);
  wd_free(bp->l_cnt);
  wd_free(bp->l_state);
  wd_free(bp->l_out);
  wd_buf_free(&bp->norm);
  wd_free(bp);
}

size_t wd_boiler_bytes(const wd_boiler_t *bp) {
  if (!bp)
    return 0;
  return sizeof(*bp) + bp->ph_cnt * sizeof(*bp->ph) +
         bp->ph_tok_cnt * sizeof(*bp->ph_tok) +
         bp->ph_cnt * sizeof(*bp->ph_order) +
         (bp->head ? (bp->head_mask + 1) * sizeof(*bp->head) : 0) +
         bp->line_cnt * sizeof(*bp->line_h) +
         (bp->slot ? (bp->slot_mask + 1) * sizeof(*bp->slot) : 0) +
         bp->t_cap * (2 * sizeof(uint32_t) + 2 * sizeof(uint64_t) + 1) +
         bp->l_cap * (sizeof(uint64_t) + 3 * sizeof(uint32_t) + 1) +
         bp->norm.cap;
}

/* ==== Learned lines ==== */

static inline uint64_t learn_key(uint64_t src_h, uint64_t line_h) {
  uint64_t k = boil_mix(src_h ^ (line_h * 0x9E3779B97F4A7C15ull));
  return k ? k : 1; /* 0 marks an empty slot */
}

static inline uint32_t cluster_fold(uint64_t cluster_key) {
  return (uint32_t)(cluster_key ^ (cluster_key >> 32));
}

/* The slot holding \p key, or NULL. Slots are never emptied, so a key lives
 * before the first empty slot of its window. */
static const boil_slot_t *learn_find(const wd_boiler_t *bp, uint64_t key) {
  for (size_t i = 0; i < BOIL_PROBE; i++) {
    const boil_slot_t *s = &bp->slot[(key + i) & bp->slot_mask];
    if (s->key == key)
      return s;
    if (!s->key)
      return NULL;
  }
  return NULL;
}

static void learn_one(wd_boiler_t *bp, uint64_t key, uint32_t cluster) {
  boil_slot_t *victim = NULL;
  for (size_t i = 0; i < BOIL_PROBE; i++) {
    boil_slot_t *s = &bp->slot[(key + i) & bp->slot_mask];
    if (s->key == key) {
      if (s->last != cluster) {
        s->last = cluster;
        if (s->count < UINT32_MAX)
          s->count++;
      }
      return;
    }
    if (!s->key) {
      victim = s;
      break;
    }
    /* full window: the first slot of lowest count gives way, so lines
     * already learned (high counts) outlive one-off lines */
    if (!victim || s->count < victim->count)
      victim = s;
  }
  victim->key = key;
  victim->last = cluster;
  victim->count = 1;
}

void wd_boiler_learn(wd_boiler_t *bp, const char *source, size_t source_len,
                     const uint64_t *line_hashes, size_t line_cnt,
                     uint64_t cluster_key) {
  if (!bp->slot || !line_cnt)
    return;
  uint64_t src_h = XXH3_64bits(source ? source : "", source ? source_len : 0);
  uint32_t cluster = cluster_fold(cluster_key);
  for (size_t i = 0; i < line_cnt; i++)
    learn_one(bp, learn_key(src_h, line_hashes[i]), cluster);
}

size_t wd_boiler_learned(const wd_boiler_t *bp, const char *source, size_t source_len,
                         const uint64_t *line_hashes, size_t line_cnt, uint8_t *drop) {
  size_t n = 0;
  if (!bp->slot || !line_cnt) {
    memset(drop, 0, line_cnt);
    return 0;
  }
  uint64_t src_h = XXH3_64bits(source ? source : "", source ? source_len : 0);
  for (size_t i = 0; i < line_cnt; i++)
    __builtin_prefetch(&bp->slot[learn_key(src_h, line_hashes[i]) & bp->slot_mask]);
  for (size_t i = 0; i < line_cnt; i++) {
    const boil_slot_t *sl = learn_find(bp, learn_key(src_h, line_hashes[i]));
    drop[i] = sl && sl->count >= bp->opts.min_clusters;
    n += drop[i];
  }
  return n;
}

/* ==== Filter ==== */

/* Tokens of \p t matched by phrase tokens \p ph (gaps allowed), or 0. */
static size_t phrase_match(const uint64_t *ph, size_t np, const uint64_t *t,
                           size_t nt) {
  size_t i = 0;
  for (size_t j = 0; j < np; j++) {
    if (ph[j] == BOIL_GAP) {
      /* shortest gap first; a gap is never last */
      for (size_t g = 0; g <= BOIL_GAP_MAX && i + g < nt; g++) {
        size_t r = phrase_match(ph + j + 1, np - j - 1, t + i + g, nt - i - g);
        if (r)
          return i + g + r;
      }
      return 0;
    }
    if (i >= nt || t[i] != ph[j])
      return 0;
    i++;
  }
  return i;
}

static void scratch_grow(wd_boiler_t *bp, size_t need) {
  if (need <= bp->t_cap)
    return;
  size_t cap = bp->t_cap ? bp->t_cap : 64;
  while (cap < need)
    cap *= 2;
  bp->t_off = wd_realloc(bp->t_off, cap * sizeof(*bp->t_off));
  bp->t_len = wd_realloc(bp->t_len, cap * sizeof(*bp->t_len));
  bp->t_h = wd_realloc(bp->t_h, cap * sizeof(*bp->t_h));
  bp->t_keep = wd_realloc(bp->t_keep, cap);
  bp->k_h = wd_realloc(bp->k_h, cap * sizeof(*bp->k_h));
  bp->t_cap = cap;
}

/* Bit k set when p[k] is ' ', for the 64 bytes at p. Sixty-four at a time,
 * so the loop over a line's spaces ends once per 64 bytes, not per word. */
static inline uint64_t spaces64(const char *p) {
#ifdef __SSE2__
  uint64_t m = 0;
  for (int k = 0; k < 4; k++) {
    const __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * k));
    m |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8(' ')))
         << (16 * k);
  }
  return m;
#else
  uint64_t m = 0;
  for (int k = 0; k < 64; k++)
    m |= (uint64_t)(p[k] == ' ') << k;
  return m;
#endif
}

static inline size_t tok_add(wd_boiler_t *bp, const char *text, size_t a, size_t b,
                             size_t nt) {
  bp->t_off[nt] = (uint32_t)a;
  bp->t_len[nt] = (uint32_t)(b - a);
  bp->t_h[nt] = boil_tok_hash(text + a, b - a);
  bp->t_keep[nt] = 1;
  return nt + 1;
}

/* The tokens of the line text[a, eol) into bp->t_* from index \p nt (room
 * made by the caller), finding the spaces 64 bytes at a time (text holds
 * \p text_len bytes). *gaps is set when a space does not follow a token (a
 * leading or doubled space). @returns the new token count. */
static size_t line_tokens(wd_boiler_t *bp, const char *text, size_t text_len,
                          size_t a, size_t eol, size_t nt, int *gaps) {
  size_t start = a; /* of the current token */
  for (size_t i = a; i < eol; i += 64) {
    uint64_t sp;
    if (i + 64 <= text_len) {
      sp = spaces64(text + i);
    } else { /* the text's last bytes, padded with zeros */
      char tail[64] = {0};
      memcpy(tail, text + i, text_len - i);
      sp = spaces64(tail);
    }
    if (eol - i < 64)
      sp &= (1ull << (eol - i)) - 1; /* the next line's spaces */
    for (; sp; sp &= sp - 1) {
      const size_t j = i + (size_t)__builtin_ctzll(sp);
      if (j > start)
        nt = tok_add(bp, text, start, j, nt);
      else
        *gaps = 1;
      start = j + 1;
    }
  }
  if (eol > start)
    nt = tok_add(bp, text, start, eol, nt);
  return nt;
}

/* How a line of the current text fares: kept (LINE_WHOLE: every token, and
 * its text is its tokens one space apart), or dropped. */
enum { LINE_KEEP = 0, LINE_WHOLE, LINE_PHRASE, LINE_LEARNED };

/* Decide about one line of \p nt tokens (in bp->t_*) whose XXH3 is \p lh:
 * LINE_WHOLE, LINE_KEEP (tokens that are phrases cleared in t_keep) or
 * LINE_PHRASE (dropped by a phrase rule). */
static int line_phrases(wd_boiler_t *bp, uint64_t lh, size_t first, size_t nt) {
  const uint64_t *t = bp->t_h + first;
  uint8_t *keep = bp->t_keep + first;
  if (bp->line_cnt) {
    for (size_t i = 0; i < bp->line_cnt; i++)
      if (bp->line_h[i] == lh)
        return LINE_PHRASE;
  }
  if (!bp->head)
    return LINE_WHOLE;
  int short_line = nt <= BOIL_SHORT_LINE;
  int all_buttons = 1, cut = 0;
  for (size_t p = 0; p < nt; p++) {
    const uint64_t bit = t[p] >> BOIL_HEAD_SHIFT;
    if (!((bp->head_bits[bit / 64] >> (bit % 64)) & 1)) {
      all_buttons = 0;
      continue;
    }
    const boil_head_t *e = head_find(bp, t[p]);
    if (!e || !e->button)
      all_buttons = 0;
    if (!e || !e->cnt)
      continue;
    size_t skip = 0;
    for (uint32_t k = 0; k < e->cnt; k++) {
      const boil_phrase_t *ph = &bp->ph[bp->ph_order[e->first + k]];
      if ((ph->kind == PH_START && (p || !short_line)) ||
          (ph->kind == PH_CONTAINS && !short_line))
        continue;
      size_t m = phrase_match(bp->ph_tok + ph->first, ph->cnt, t + p, nt - p);
      if (!m)
        continue;
      if (ph->kind != PH_ANY)
        return LINE_PHRASE;
      if (m > skip)
        skip = m;
    }
    for (size_t q = 0; q < skip; q++)
      keep[p + q] = 0;
    cut |= skip != 0;
  }
  return all_buttons ? LINE_PHRASE : cut ? LINE_KEEP : LINE_WHOLE;
}


wd_err_t wd_boiler_filter(wd_boiler_t *bp, const char *source,
                          size_t source_len, const char *text, size_t text_len,
                          wd_buf_t *dst, uint64_t *line_hashes,
                          size_t *line_cnt, size_t line_cap) {
  return wd_boiler_filter_ex(bp, source, source_len, text, text_len, dst, line_hashes,
                             NULL, line_cnt, line_cap);
}

wd_err_t wd_boiler_filter_ex(wd_boiler_t *bp, const char *source, size_t source_len,
                             const char *text, size_t text_len, wd_buf_t *dst,
                             uint64_t *line_hashes, uint32_t *line_tok,
                             size_t *line_cnt, size_t line_cap) {
  size_t nlines = 0, nl = 0, nt = 0;
  wd_buf_clear(dst);
  wd_buf_reserve(dst, text_len);
  uint64_t src_h = 0;
  if (bp->slot)
    src_h = XXH3_64bits(source ? source : "", source ? source_len : 0);

  /* Pass 1: tokens, line hashes and phrase rules for every line. Each
   * line's learned-table slot is prefetched here and read in pass 2: the
   * table is large, and the work in between hides the wait for memory. */
  const char *p = text, *end = text + text_len;
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol)
      eol = end;
    if (nl == bp->l_cap) {
      bp->l_cap = bp->l_cap ? bp->l_cap * 2 : 64;
      bp->l_h = wd_realloc(bp->l_h, bp->l_cap * sizeof(*bp->l_h));
      bp->l_first = wd_realloc(bp->l_first, bp->l_cap * sizeof(*bp->l_first));
      bp->l_cnt = wd_realloc(bp->l_cnt, bp->l_cap * sizeof(*bp->l_cnt));
      bp->l_state = wd_realloc(bp->l_state, bp->l_cap);
      bp->l_out = wd_realloc(bp->l_out, bp->l_cap * sizeof(*bp->l_out));
    }
    uint64_t lh = XXH3_64bits(p, (size_t)(eol - p));
    if (bp->slot)
      __builtin_prefetch(&bp->slot[learn_key(src_h, lh) & bp->slot_mask]);
    size_t first = nt;
    /* a line of n bytes has at most n / 2 + 1 tokens */
    scratch_grow(bp, nt + (size_t)(eol - p) / 2 + 1);
    int gaps = 0;
    nt = line_tokens(bp, text, text_len, (size_t)(p - text), (size_t)(eol - text), nt,
                     &gaps);
    bp->l_h[nl] = lh;
    bp->l_first[nl] = (uint32_t)first;
    bp->l_cnt[nl] = (uint32_t)(nt - first);
    int state = nt == first ? LINE_PHRASE : line_phrases(bp, lh, first, nt - first);
    bp->l_state[nl] = (uint8_t)(state == LINE_WHOLE && gaps ? LINE_KEEP : state);
    nl++;
    p = eol + 1;
  }

  /* Pass 2: short lines may be learned, and may have been learned. */
  for (size_t li = 0; li < nl; li++) {
    bp->l_out[li] = UINT32_MAX;
    if (bp->l_state[li] > LINE_WHOLE || bp->l_cnt[li] > bp->opts.max_line_tokens)
      continue;
    if (line_hashes && nlines < line_cap) {
      bp->l_out[li] = (uint32_t)nlines;
      line_hashes[nlines++] = bp->l_h[li];
    }
    if (bp->slot) {
      const boil_slot_t *sl = learn_find(bp, learn_key(src_h, bp->l_h[li]));
      if (sl && sl->count >= bp->opts.min_clusters)
        bp->l_state[li] = LINE_LEARNED;
    }
  }

  /* Pass 3: the kept tokens in canonical form. The output is never longer
   * than the input, for which room was reserved. */
  uint32_t out_tok = 0; /* kept tokens written so far */
  bp->k_cnt = 0;
  for (size_t li = 0; li < nl; li++) {
    const int state = bp->l_state[li];
    const size_t first = bp->l_first[li], e = first + bp->l_cnt[li];
    uint32_t kept = 0;
    if (state == LINE_WHOLE)
      kept = bp->l_cnt[li];
    else if (state == LINE_KEEP && line_tok)
      for (size_t k = first; k < e; k++)
        kept += bp->t_keep[k];
    if (line_tok && bp->l_out[li] != UINT32_MAX) {
      uint32_t *lt = line_tok + 2 * bp->l_out[li];
      lt[0] = out_tok;
      lt[1] = kept;
    }
    out_tok += kept;
    if (state > LINE_WHOLE)
      continue;
    for (size_t k = first; k < e; k++) {
      if (!bp->t_keep[k])
        continue;
      /* boil_tok_hash made 0 into 1: only then is the raw hash unknown */
      uint64_t h = bp->t_h[k];
      bp->k_h[bp->k_cnt++] = h != 1 ? h : XXH3_64bits(text + bp->t_off[k], bp->t_len[k]);
    }
    if (state == LINE_WHOLE) { /* the line's text from its first token to its last */
      const size_t from = bp->t_off[first], to = bp->t_off[e - 1] + bp->t_len[e - 1];
      if (dst->len)
        dst->p[dst->len++] = '\n';
      memcpy(dst->p + dst->len, text + from, to - from);
      dst->len += to - from;
      continue;
    }
    int any = 0;
    for (size_t k = first; k < e; k++) {
      if (!bp->t_keep[k])
        continue;
      /* copy a run of kept tokens that are one space apart in one go */
      size_t run_start = bp->t_off[k], run_end = run_start + bp->t_len[k];
      while (k + 1 < e && bp->t_keep[k + 1] && bp->t_off[k + 1] == run_end + 1)
        k++, run_end = bp->t_off[k] + bp->t_len[k];
      if (any || dst->len)
        dst->p[dst->len++] = any ? ' ' : '\n';
      memcpy(dst->p + dst->len, text + run_start, run_end - run_start);
      dst->len += run_end - run_start;
      any = 1;
    }
  }
  assert(dst->len <= text_len);
  dst->p[dst->len] = '\0';
  if (line_cnt)
    *line_cnt = nlines;
  return WD_OK;
}

const uint64_t *wd_boiler_kept_tokens(const wd_boiler_t *bp, size_t *cnt) {
  *cnt = bp->k_cnt;
  return bp->k_h;
}

/* ==== Checkpoint ==== */

/* BOIL section body: u64 table capacity (0 = learning off), u64 used slots N,
 * then N x {u32 slot index, u64 key, u32 last cluster, u32 count}. Slot
 * positions are kept: lookups stop at the first empty slot of a window. */
void wd_boiler_save(const wd_boiler_t *bp, wd_state_w_t *w) {
  const size_t cap = bp->slot ? bp->slot_mask + 1 : 0;
  uint64_t used = 0;
  for (size_t i = 0; i < cap; i++)
    used += bp->slot[i].key != 0;
  wd_state_w_begin(w, "BOIL");
  wd_state_w_u64(w, cap);
  wd_state_w_u64(w, used);
  for (size_t i = 0; i < cap; i++) {
    const boil_slot_t *s = &bp->slot[i];
    if (!s->key)
      continue;
    wd_state_w_u32(w, (uint32_t)i);
    wd_state_w_u64(w, s->key);
    wd_state_w_u32(w, s->last);
    wd_state_w_u32(w, s->count);
  }
  wd_state_w_end(w);
}

wd_err_t wd_boiler_load(wd_boiler_t *bp, wd_state_r_t *r, char *errstr,
                        size_t errstr_size) {
  const size_t cap = bp->slot ? bp->slot_mask + 1 : 0;
  const uint64_t rcap = wd_state_r_u64(r), used = wd_state_r_u64(r);
  WD_RETURN_IF(r->err || !wd_state_r_fits(r, used, 20), WD_ERR_STATE, errstr,
               errstr_size, "truncated");
  WD_RETURN_IF(rcap != cap, WD_ERR_STATE, errstr, errstr_size,
               "settings differ: learned boilerplate table of %llu entries, "
               "config gives %zu (normalize.boilerplate.learn changed?)",
               (unsigned long long)rcap, cap);
  for (uint64_t n = 0; n < used; n++) {
    const uint32_t i = wd_state_r_u32(r);
    const uint64_t key = wd_state_r_u64(r);
    const uint32_t last = wd_state_r_u32(r), count = wd_state_r_u32(r);
    WD_RETURN_IF(r->err || i >= cap || !key, WD_ERR_STATE, errstr, errstr_size,
                 "bad learned-line entry %llu", (unsigned long long)n);
    bp->slot[i].key = key;
    bp->slot[i].last = last;
    bp->slot[i].count = count;
  }
  return WD_OK;
}
