/* test_norm.c - text normalisation: HTML, Unicode, typography, Urdu, CJK,
 * wire abbreviations, paragraphs, invalid UTF-8. */
#include "wiredup/mem.h"
#include "wiredup/norm.h"
#include "wd_test.h"

#include <stdint.h>

static wd_norm_t *nm_default(void) {
  wd_norm_opts_t o;
  wd_norm_opts_default(&o);
  return wd_norm_new(&o);
}

/* Normalise \p in (NUL-terminated) into a static-lifetime buffer. */
static const char *norm(wd_norm_t *nm, wd_buf_t *b, const char *in) {
  wd_norm_text(nm, in, strlen(in), b);
  return b->p ? b->p : "";
}

/* ==== Expected output ==== */

typedef struct {
  const char *in, *want;
} row_t;

static const row_t expect_rows[] = {
    /* HTML: tags, attributes, comments, raw-text elements, blocks */
    {"<p>Hello <b>World</b></p><p>Next</p>", "hello world\nnext"},
    {"<a href=\"x>y\" title='a>b' data-x=1>link</a> text", "link text"},
    {"a <!-- hidden > still hidden --> b", "a b"},
    {"<script>var x = '<p>no</p>';</script>Text<style>p{color:red}</style> "
     "more",
     "text more"},
    {"<SCRIPT type=\"text/javascript\">alert(1)</SCRIPT>kept", "kept"},
    {"Title<h1>Head</h1>line<br>two<br/>three<li>item</li>",
     "title\nhead\nline\ntwo\nthree\nitem"},
    {"<div>\n    indented\n    markup\n</div>", "indented markup"},
    {"foo<span>bar</span> baz<img src=x.png>qux", "foobar baz qux"},
    /* entities */
    {"AT&amp;T &nbsp;x&mdash;y it&rsquo;s &ldquo;q&rdquo; &#8217;&#x2019;z",
     "at t x y its q z"},
    {"&eacute;t&eacute; &copy 2017 &Auml;rger &#233;", "ete 2017 arger e"},
    {"&bogus; &amp &#; &#xZZ; &#0; &#1114112;", "bogus xzz"},
    {"&#150;&#8212;dash &#146;s", "dash s"},
    /* stray '<' is text and a separator */
    {"a < b and c<d", "a b and c d"},
    {"x <3 y", "x 3 y"},
    /* wire tickers in angle brackets are not markup */
    {"Loral Corp <LOR> said", "loral corporation lor said"},
    {"Loral Corp &lt;LOR&gt; said", "loral corporation lor said"},
    /* typography */
    {"\u201cYes\u201d\u2014he said\u2026 \u2018fine\u2019 \u2013 ok",
     "yes he said fine ok"},
    /* NFKC and case folding */
    {"\uFB01nance \uFF21\uFF22\uFF23 x\u00B2 \u2460 \u2168",
     "finance abc x2 1 ix"},
    {"Stra\u00DFe STRASSE stra\u00DFe", "strasse strasse strasse"},
    {"\u0130stanbul \u03A3\u039F\u03A6\u0399\u0391", "istanbul σοφια"},
    /* accents stripped, decomposed or not */
    {"Caf\u00E9 na\u00EFve \u00C5ngstr\u00F6m cafe\u0301",
     "cafe naive angstrom cafe"},
    /* default ignorables vanish inside words */
    {"co\u00ADop zero\u200Bwidth j\u200Doin", "coop zerowidth join"},
    /* numbers */
    {"393,000 dlrs and 9.223 tonnes", "393000 dollars and 9.223 tonnes"},
    {"In 1987, 50 firms; 1.07. End", "in 1987 50 firms 1.07 end"},
    {"5bn 4th 1980s a320", "5 billion 4 th 1980 s a320"},
    /* apostrophes */
    {"it's Brazil\u2019s 'quoted' rock 'n' roll",
     "its brazils quoted rock n roll"},
    /* acronyms */
    {"U.S. and U.K. e.g. A.Smith J.P. Morgan",
     "us and uk eg a smith jp morgan"},
    /* percent in all spellings */
    {"5% 5 pct 5 per cent 5 percent",
     "5 percent 5 percent 5 percent 5 percent"},
    /* CJK and other scripts written without spaces */
    {"\u6771\u4EAC\u90FD\u306F", "\u6771 \u4EAC \u90FD \u306F"},
    {"Tokyo\u6771\u4EAC 2016\u5E74", "tokyo \u6771 \u4EAC 2016 \u5E74"},
    {"\u0E20\u0E32\u0E29\u0E32\u0E44\u0E17\u0E22",
     "\u0E20 \u0E32 \u0E29 \u0E32 \u0E44 \u0E17 \u0E22"},
    {"\uFF83\uFF9D\uFF84", "\u30C6 \u30F3 \u30C8"}, /* half-width katakana */
    /* Korean has spaces: words stay words */
    {"\uD55C\uAD6D\uC5B4 \uB274\uC2A4", "\uD55C\uAD6D\uC5B4 \uB274\uC2A4"},
    /* nothing to say */
    {"", ""},
    {" \n\n ... --- !!! \n", ""},
    {NULL, NULL},
};

static int test_expected(void) {
  wd_norm_t *nm = nm_default();
  wd_buf_t b = WD_BUF_INIT;
  int fails = 0;
  for (const row_t *r = expect_rows; r->in; r++) {
    const char *got = norm(nm, &b, r->in);
    if (strcmp(got, r->want) != 0) {
      fprintf(stderr, "  row %d: in=\"%s\"\n    want=\"%s\"\n    got =\"%s\"\n",
              (int)(r - expect_rows), r->in, r->want, got);
      fails++;
    }
  }
  wd_buf_free(&b);
  wd_norm_destroy(nm);
  WD_T_ASSERT(fails == 0, "%d rows failed", fails);
  return 0;
}

/* ==== Equivalences: both sides must give the same tokens ==== */

static const row_t same_rows[] = {
    /* reflowed paragraphs */
    {"First line of a\nparagraph here.\n\nSecond para.",
     "First line of a paragraph here.\n\n\nSecond para."},
    {"First line of a paragraph here.\r\n\r\nSecond para.",
     "<p>First line of a\nparagraph here.</p>\n<p>Second para.</p>"},
    /* wire hard wrap + indented paragraphs against an outlet's HTML copy */
    {"Citizens Savings Bank said\nit will incur an expense of about 393,000 "
     "dlrs or 20 cts a\nshare for the three months.\n    Citizens said the "
     "expense is due\nto a recent decision.\n Reuter",
     "<p>Citizens Savings Bank said it will incur an expense of about "
     "393,000 dollars or 20 cents a share for the three months.</p>\n"
     "<p>Citizens said the expense is due to a recent decision.</p>"
     "<p>Reuter</p>"},
    /* wire abbreviations against the spelled-out copy */
    {"Revs 34.1 mln vs 40.3 mln", "Revenues 34.1 million versus 40.3 million"},
    {"Shr loss 52 cts vs profit 1.07 dlr",
     "Share earnings loss 52 cents versus profit 1.07 dollar"},
    {"4th qtr avg shrs 12 yrs", "4th quarter average shares 12 years"},
    {"Acme Corp, Beta Inc and Gamma Ltd", "Acme Corporation, Beta "
                                          "Incorporated and Gamma Limited"},
    {"1.5 bln dlrs, 15 pct, 3 pct", "1.5 billion dollars, 15 per cent, 3%"},
    {"the U.S. Govt said in Jan", "the US government said in January"},
    /* US and UK spelling */
    {"The organisation's labour favourite centre defence programmes",
     "The organization's labor favorite center defense programs"},
    {"analysed realised stabilisation cancelled travelling colour",
     "analyzed realized stabilization canceled traveling color"},
    /* a copy that changed spelling blindly still matches */
    {"Pfizer size laboratory elaborate", "Pfiser sise labouratory elabourate"},
    /* typography */
    {"\u201cIt\u2019s\u201d \u2014 a \u2018test\u2019\u2026",
     "\"It's\" -- a 'test'..."},
    {"It&#8217;s &ldquo;fine&rdquo;", "It\u2019s \u201Cfine\u201D"},
    /* Urdu: harakat, tatweel, Arabic letter variants, Extended and
     * Arabic-Indic digits, ZWNJ, Urdu full stop against the plain form */
    {"\u067E\u0627\u06A9\u0633\u062A\u0627\u0646 \u06A9\u06CC \u062D\u06A9"
     "\u0648\u0645\u062A \u0646\u06D2 2016 \u0645\u06CC\u06BA \u06CC\u06C1 "
     "\u0641\u06CC\u0635\u0644\u06C1 \u06A9\u06CC\u0627\u06D4",
     "\u067E\u064E\u0627\u0643\u0633\u062A\u0640\u0640\u0627\u0646 \u0643"
     "\u064A \u062D\u064F\u0643\u0648\u0645\u062A \u0646\u06D2 \u06F2\u06F0"
     "\u06F1\u06F6 \u0645\u064A\u06BA \u064A\u0647 \u0641\u064A\u0635\u200C"
     "\u0644\u0647 \u06A9\u06CC\u0627\u0650."},
    {"\u0633\u0627\u0644 2017 \u0645\u06CC\u06BA",
     "\u0633\u0627\u0644 \u0662\u0660\u0661\u0667 \u0645\u06CC\u06BA"},
    {"\u0627\u0644\u0644\u06C1", "\uFDF2"}, /* the Allah ligature */
    /* presentation forms fold like the letters */
    {"\u06A9\u062A\u0627\u0628", "\uFEDB\uFE98\uFE8E\uFE8F"},
    {NULL, NULL},
};

static int test_equivalent(void) {
  wd_norm_t *nm = nm_default();
  wd_buf_t a = WD_BUF_INIT, b = WD_BUF_INIT;
  int fails = 0;
  for (const row_t *r = same_rows; r->in; r++) {
    norm(nm, &a, r->in);
    norm(nm, &b, r->want);
    if (a.len == 0 || a.len != b.len || memcmp(a.p, b.p, a.len) != 0) {
      fprintf(stderr, "  row %d:\n    a=\"%s\"\n    b=\"%s\"\n",
              (int)(r - same_rows), a.p, b.p);
      fails++;
    }
  }
  wd_buf_free(&a);
  wd_buf_free(&b);
  wd_norm_destroy(nm);
  WD_T_ASSERT(fails == 0, "%d rows failed", fails);
  return 0;
}

/* Wire copy: hard-wrapped at ~65 columns, paragraphs start "\n    ". */
static int test_wire_paragraphs(void) {
  static const char wire[] =
      "East Rand Proprietary Mines Ltd\n"
      "said that barring any major disruption in production, it\n"
      "expects 1987 gold output to top 10 tonnes.\n"
      "    Chairman Clive Knobbs said in the annual report the mine\n"
      "was expected to mill a higher tonnage.\n"
      "   The decline in gold production was due to a four\n"
      "pct drop in tonnage milled.\n"
      " Reuter";
  wd_norm_t *nm = nm_default();
  wd_buf_t b = WD_BUF_INIT;
  const char *got = norm(nm, &b, wire);
  WD_T_ASSERT(strcmp(got,
                     "east rand proprietary mines limited said that barring "
                     "any major disruption in production it expects 1987 "
                     "gold output to top 10 tonnes\n"
                     "chairman clive knobbs said in the annual report the "
                     "mine was expected to mill a higher tonnage\n"
                     "the decline in gold production was due to a four "
                     "percent drop in tonnage milled\n"
                     "reuter") == 0,
              "got \"%s\"", got);
  wd_buf_free(&b);
  wd_norm_destroy(nm);
  return 0;
}

static int test_options(void) {
  wd_norm_opts_t o;
  wd_buf_t b = WD_BUF_INIT, c = WD_BUF_INIT;
  wd_norm_opts_default(&o);
  WD_T_ASSERT(o.html && o.strip_marks && o.fold_abbrev, "defaults");

  o.strip_marks = 0;
  wd_norm_t *nm = wd_norm_new(&o);
  norm(nm, &b, "Caf\u00E9");
  norm(nm, &c, "cafe\u0301"); /* composes with the base letter before it */
  WD_T_ASSERT(strcmp(b.p, "caf\u00E9") == 0, "got \"%s\"", b.p);
  WD_T_ASSERT(strcmp(b.p, c.p) == 0, "\"%s\" vs \"%s\"", b.p, c.p);
  wd_norm_destroy(nm);

  wd_norm_opts_default(&o);
  o.fold_abbrev = 0;
  nm = wd_norm_new(&o);
  WD_T_ASSERT(strcmp(norm(nm, &b, "5 mln dlrs labour"), "5 mln dlrs labour") ==
                  0,
              "got \"%s\"", b.p);
  wd_norm_destroy(nm);

  wd_norm_opts_default(&o);
  o.html = 0;
  nm = wd_norm_new(&o);
  WD_T_ASSERT(strcmp(norm(nm, &b, "<p>x</p> &amp;"), "p x p amp") == 0,
              "got \"%s\"", b.p);
  wd_norm_destroy(nm);

  nm = wd_norm_new(NULL); /* NULL options: the defaults */
  WD_T_ASSERT(nm != NULL, "new(NULL)");
  WD_T_ASSERT(strcmp(norm(nm, &b, "A&amp;B"), "a b") == 0, "got \"%s\"", b.p);
  wd_norm_destroy(nm);
  wd_norm_destroy(NULL);
  wd_buf_free(&b);
  wd_buf_free(&c);
  return 0;
}

/* ==== UTF-8 ==== */

typedef struct {
  const char *s;
  size_t len;
  int valid;
  size_t bad_off;
} u8row_t;

#define U8(lit) lit, sizeof(lit) - 1

static const u8row_t utf8_rows[] = {
    {U8("plain ascii"), 1, 11},
    {U8("caf\xC3\xA9 \xE2\x80\x99 \xF0\x9F\x98\x80"), 1, 14},
    {U8("\xF4\x8F\xBF\xBF"), 1, 4},     /* U+10FFFF */
    {U8("ab\xC0\xAF"), 0, 2},           /* overlong '/' */
    {U8("ab\xE0\x80\xAF"), 0, 2},       /* overlong, 3 bytes */
    {U8("abc\xF0\x80\x80\xAF"), 0, 3},  /* overlong, 4 bytes */
    {U8("a\xED\xA0\x80z"), 0, 1},       /* surrogate U+D800 */
    {U8("abcdefgh\xED\xBF\xBF"), 0, 8}, /* surrogate U+DFFF */
    {U8("abcd\xE2\x82"), 0, 4},         /* truncated at the end */
    {U8("abcd\xE2\x82z"), 0, 4},        /* truncated in the middle */
    {U8("\xFF"), 0, 0},
    {U8("0123456789\x80"), 0, 10},      /* lone continuation */
    {U8("\xF4\x90\x80\x80"), 0, 0},     /* above U+10FFFF */
    {U8("\xF8\x88\x80\x80\x80"), 0, 0}, /* 5-byte form */
    {NULL, 0, 0, 0},
};

static int test_utf8(void) {
  wd_norm_t *nm = nm_default();
  wd_buf_t b = WD_BUF_INIT;
  int fails = 0;
  for (const u8row_t *r = utf8_rows; r->s; r++) {
    size_t off = 12345;
    int v = wd_norm_utf8_valid(r->s, r->len, &off);
    if (v != r->valid || off != r->bad_off) {
      fprintf(stderr, "  row %d: valid=%d off=%zu, want %d %zu\n",
              (int)(r - utf8_rows), v, off, r->valid, r->bad_off);
      fails++;
    }
    /* normalising never fails and gives valid UTF-8 */
    wd_norm_text(nm, r->s, r->len, &b);
    if (!wd_norm_utf8_valid(b.p, b.len, NULL)) {
      fprintf(stderr, "  row %d: output not UTF-8\n", (int)(r - utf8_rows));
      fails++;
    }
  }
  WD_T_ASSERT(wd_norm_utf8_valid("", 0, NULL) == 1, "empty is valid");
  /* bad bytes separate tokens */
  wd_norm_text(nm,
               "ab\xFF"
               "cd\xC0\xAF"
               "ef\xED\xA0\x80gh\xE2\x82",
               16, &b);
  WD_T_ASSERT(strcmp(b.p, "ab cd ef gh") == 0, "got \"%s\"", b.p);
  wd_buf_free(&b);
  wd_norm_destroy(nm);
  WD_T_ASSERT(fails == 0, "%d rows failed", fails);
  return 0;
}

/* Canonical form: tokens separated by one ' ', lines by one '\n', no empty
 * lines, no leading or trailing blanks, valid UTF-8. */
static int canonical(const wd_buf_t *b) {
  if (!wd_norm_utf8_valid(b->p, b->len, NULL))
    return 0;
  if (b->len == 0)
    return 1;
  if (b->p[0] == ' ' || b->p[0] == '\n' || b->p[b->len - 1] == ' ' ||
      b->p[b->len - 1] == '\n')
    return 0;
  for (size_t i = 1; i < b->len; i++) {
    int sep = b->p[i] == ' ' || b->p[i] == '\n';
    int psep = b->p[i - 1] == ' ' || b->p[i - 1] == '\n';
    if (sep && psep)
      return 0;
    if ((unsigned char)b->p[i] < 0x20 && b->p[i] != '\n')
      return 0;
  }
  return b->p[b->len] == '\0';
}

/* Random bytes and random mixes of tricky pieces: never crash or hang,
 * always canonical, and normalising the output again (its lines as
 * paragraphs: a single '\n' in the input is only a hard wrap) changes
 * nothing. */
static int test_fuzz(void) {
  static const char *const pieces[] = {"a",
                                       "Z",
                                       "9",
                                       " ",
                                       "\n",
                                       "\n    ",
                                       ",",
                                       ".",
                                       "'",
                                       "%",
                                       "<",
                                       ">",
                                       "&",
                                       "<p>",
                                       "</p>",
                                       "<br>",
                                       "&amp;",
                                       "&#8217;",
                                       "&#x",
                                       "<!--",
                                       "-->",
                                       "<script>",
                                       "</script>",
                                       "U.S.",
                                       "1,000",
                                       "9.5",
                                       "mln",
                                       "per",
                                       "cent",
                                       "\xC3\xA9",
                                       "\xCC\x81",
                                       "\xE2\x80\x99",
                                       "\xE2\x80\x94",
                                       "\xE6\x9D\xB1",
                                       "\xD9\x8A",
                                       "\xD9\x80",
                                       "\xDB\xB2",
                                       "\xE2\x80\x8C",
                                       "\xEF\xAC\x81",
                                       "\xFF",
                                       "\xC0",
                                       "\xE2\x82",
                                       "\xED\xA0\x80",
                                       "\xF0\x9F\x98\x80",
                                       "shr",
                                       "labour",
                                       "organize",
                                       "\xE0\xB8\xA0",
                                       "\xE0\xB8\xB4",
                                       "\xC2\xA0"};
  const size_t npieces = sizeof(pieces) / sizeof(pieces[0]);
  unsigned long long st = wd_t_seed(20240601);
  wd_norm_t *nm = nm_default();
  wd_buf_t in = WD_BUF_INIT, a = WD_BUF_INIT, b = WD_BUF_INIT;
  for (int iter = 0; iter < 20000; iter++) {
    wd_buf_clear(&in);
    size_t n = wd_t_rand(&st) % 64;
    int raw = iter & 1;
    for (size_t k = 0; k < n; k++) {
      if (raw) {
        char c = (char)(wd_t_rand(&st) & 0xFF);
        wd_buf_append(&in, &c, 1);
      } else {
        wd_buf_appends(&in, pieces[wd_t_rand(&st) % npieces]);
      }
    }
    wd_norm_text(nm, in.p ? in.p : "", in.len, &a);
    WD_T_ASSERT(canonical(&a), "iter %d: output not canonical", iter);
    wd_buf_clear(&in);
    for (size_t k = 0; k < a.len; k++)
      wd_buf_append(&in, a.p[k] == '\n' ? "\n\n" : a.p + k,
                    a.p[k] == '\n' ? 2 : 1);
    wd_norm_text(nm, in.p ? in.p : "", in.len, &b);
    WD_T_ASSERT(a.len == b.len && memcmp(a.p, b.p, a.len) == 0,
                "iter %d: not idempotent: \"%s\" -> \"%s\"", iter, a.p, b.p);
  }
  wd_buf_free(&in);
  wd_buf_free(&a);
  wd_buf_free(&b);
  wd_norm_destroy(nm);
  return 0;
}

/* Once the buffers have grown, normalising allocates nothing. */
/* The spelling rules run to a fixed point: a rewrite that makes another
 * match (the same rule again, or one starting just before) is applied in
 * the same pass, so normalising twice changes nothing (fuzz_text found
 * "labelll" -> "labell" -> "label", one 'l' per pass). A megabyte-long
 * token of repeats stays linear. */
static int test_rules_fixed_point(void) {
  static const row_t rows[] = {
      {"labell", "label"},
      {"labelll labellllll", "label label"},
      {"llllllllllllllllllabelllllllllllllllllllllllllll", "llllllllllllllllllabel"},
      {"practize practise practice", "practice practice practice"},
      {"organizations izeize", "organisations iseise"},
      {"cancelled jewellery colour centre", "canceled jewelry color center"},
      {NULL, NULL},
  };
  wd_norm_t *nm = nm_default();
  wd_buf_t b = WD_BUF_INIT, again = WD_BUF_INIT;
  int fails = 0;
  for (const row_t *r = rows; r->in; r++) {
    const char *got = norm(nm, &b, r->in);
    const char *got2 = norm(nm, &again, got);
    if (strcmp(got, r->want) != 0 || strcmp(got2, got) != 0) {
      fprintf(stderr, "  in=\"%s\" want=\"%s\" got=\"%s\" again=\"%s\"\n",
              r->in, r->want, got, got2);
      fails++;
    }
  }
  size_t n = 4u << 20;
  char *big = wd_malloc(n + 1);
  memcpy(big, "labe", 4);
  memset(big + 4, 'l', n - 4);
  big[n] = '\0';
  WD_T_ASSERT(strcmp(norm(nm, &b, big), "label") == 0, "4 MiB of 'l' after labe");
  wd_free(big);
  wd_buf_free(&b);
  wd_buf_free(&again);
  wd_norm_destroy(nm);
  WD_T_ASSERT(fails == 0, "%d rows failed", fails);
  return 0;
}

static int test_no_alloc_when_warm(void) {
  static const char text[] =
      "<p>Talks at the \u201cICO\u201d continued &mdash; 30.55 pct, said "
      "caf\u00E9 \u6771\u4EAC \u067E\u0627\u06A9\u0633\u062A\u0627\u0646.</p>";
  wd_norm_t *nm = nm_default();
  wd_buf_t b = WD_BUF_INIT, first = WD_BUF_INIT;
  wd_norm_text(nm, text, sizeof(text) - 1, &first);
  wd_norm_text(nm, text, sizeof(text) - 1, &b);
  size_t used = wd_mem_used();
  for (int i = 0; i < 100; i++)
    wd_norm_text(nm, text, sizeof(text) - 1, &b);
  WD_T_ASSERT(wd_mem_used() == used, "allocated %zu bytes",
              wd_mem_used() - used);
  WD_T_ASSERT(b.len == first.len && memcmp(b.p, first.p, b.len) == 0,
              "reuse changed the output");
  wd_buf_free(&b);
  wd_buf_free(&first);
  wd_norm_destroy(nm);
  return 0;
}

/* The token memo (an answer kept per token across texts) against a fresh
 * normaliser per text: the same output, whatever context a token was first
 * seen in ("cent" alone, then after "per"), at every token length the memo
 * treats apart (2..8, 9..16, longer), with HTML, entities, digits, hyphens,
 * apostrophes and non-ASCII letters around. */
static int test_memo_vs_fresh(void) {
  static const char *const pool[] = {
      "cent", "per", "Per", "pct", "colour", "Colours", "realise", "realize", "mln",
      "shr", "co", "inc", "the", "your", "four", "hour", "labelled", "centre",
      "behaviour", "organizations", "internationalise", "internationalisation",
      "characterization", "catalogue", "U.S.", "5bn", "4th", "it's", "don't",
      "9.223", "393,000", "5%", "caf\u00e9", "na\u00efve", "e\u0301t\u00e9",
      "&amp;", "&nbsp;", "&#8217;", "<p>", "</p>", "<br>", "\u2014", "-", "--",
      "l'ann\u00e9e", "\u2019s", "\u6771\u4eac", "\u067e\u0627\u06a9", "x", "zz",
      "\n", "\n\n", "  ", ",", ".", "(", ")", "per-cent", "colour-blind"};
  wd_norm_t *warm = nm_default();
  wd_buf_t text = WD_BUF_INIT, a = WD_BUF_INIT, b = WD_BUF_INIT;
  unsigned long long rng = wd_t_seed(4711);
  for (int d = 0; d < 300; d++) {
    const int nw = 1 + (int)(wd_t_rand(&rng) % 40);
    wd_buf_clear(&text);
    for (int w = 0; w < nw; w++) {
      wd_buf_appends(&text, pool[wd_t_rand(&rng) % (sizeof(pool) / sizeof(pool[0]))]);
      if (wd_t_rand(&rng) % 4)
        wd_buf_appendc(&text, ' ');
    }
    wd_norm_t *fresh = nm_default();
    wd_norm_text(warm, text.p, text.len, &a);
    wd_norm_text(fresh, text.p, text.len, &b);
    wd_norm_destroy(fresh);
    WD_T_ASSERT(a.len == b.len && !memcmp(a.p, b.p, a.len),
                "text %d \"%s\": warm \"%s\", fresh \"%s\"", d, text.p, a.p, b.p);
  }
  wd_buf_free(&text);
  wd_buf_free(&a);
  wd_buf_free(&b);
  wd_norm_destroy(warm);
  return 0;
}

/* ==== Fast path against the reference ==== */

/* Append one random ASCII word: letters in random case, \p len of them. */
static void put_word(wd_buf_t *in, unsigned long long *st, size_t len) {
  for (size_t k = 0; k < len; k++) {
    unsigned r = (unsigned)wd_t_rand(st);
    char c = (char)('a' + r % 26);
    if ((r >> 8) % 5 == 0)
      c = (char)(c - 32);
    wd_buf_append(in, &c, 1);
  }
}

/* wd_norm_text (vector word loop, vector HTML scan, inline memo and rule
 * checks) must equal wd_norm_text_ref, the plain byte loop, byte for byte.
 * Inputs are mostly ASCII words, since the fast path only takes runs of
 * them longer than its 80-byte window, mixed with everything that makes it
 * hand back to the byte loop: other scripts, marks, ignorables, invalid
 * UTF-8, markup, numbers, apostrophes, acronyms, line breaks. Lengths
 * cluster around the 16/32/64/80-byte edges. */
static int test_fast_vs_ref(void) {
  static const char *const pieces[] = {
      /* separators and punctuation */
      " ", " ", " ", "  ", "\t", ", ", ". ", "; ", ": ", "! ", "? ", "(", ") ",
      "\"", "-", "--", " - ", "/", "*", "#", "\r", "\v", "\f", "\x1E", "\x01",
      /* lines */
      "\n", "\n", "\n\n", "\n    ", "\n\t", "\n \n", " \n",
      /* numbers */
      "9", "1987", "393,000", "9.223", "1.07.", "5bn", "4th", "1980s", "a320",
      "5%", "%", ",5", "3,", "10.", ".5",
      /* apostrophes and acronyms */
      "'", "it's", "Brazil's", "'quoted'", "rock 'n' roll", "U.S.", "u.s.",
      "U.K.", "e.g.", "A.Smith", "J.P. Morgan", "a.", "I.", "x.y.z",
      /* abbreviations and spelling rules */
      "mln", "pct", "per cent", "per", "cent", "dlrs", "Corp", "co", "vs",
      "shr", "jan", "grey", "colour", "organise", "organize", "realization",
      "labourers", "programme", "centre", "jewellery", "practize", "labelll",
      "zzz", "Zoo", "quiz", "analyse", "haemorrhage", "catalogue",
      "internationalization", "uncharacteristically", "counterrevolutionaries",
      /* Latin-1 and other Latin */
      "caf\xC3\xA9", "na\xC3\xAFve", "Stra\xC3\x9F" "e", "\xC3\x85ngstr\xC3\xB6m",
      "\xC3\xA9t\xC3\xA9", "\xC5\x81\xC3\xB3" "d\xC5\xBA", "\xC4\xB0stanbul",
      "\xC3\x86" "sir", "\xC2\xA0", "\xC2\xAD", "\xC2\xB2", "\xC2\xBD",
      /* Greek, Cyrillic */
      "\xCE\xA3\xCE\x9F\xCE\xA6\xCE\x99\xCE\x91", "\xCF\x83\xCE\xBF\xCF\x86\xCE\xAF\xCE\xB1",
      "\xD0\x9C\xD0\xBE\xD1\x81\xD0\xBA\xD0\xB2\xD0\xB0", "\xD1\x91\xD0\xB6",
      /* Arabic and Urdu: letters, harakat, tatweel, digits, variants */
      "\xD9\x85\xD9\x8F\xD8\xAD\xD9\x8E\xD9\x85\xD9\x91\xD9\x8E\xD8\xAF",
      "\xD9\x83\xD8\xAA\xD8\xA7\xD8\xA8", "\xD9\x8A", "\xD9\x89", "\xD9\x87",
      "\xDA\xBE", "\xDB\x92", "\xD9\x80", "\xD9\xB1", "\xD9\xA3\xD9\xA4\xD9\xA5",
      "\xDB\xB1\xDB\xB2\xDB\xB3", "\xD9\x8B", "\xD9\x90",
      "\xD9\xBE\xD8\xA7\xDA\xA9\xD8\xB3\xD8\xAA\xD8\xA7\xD9\x86",
      /* CJK, kana, Thai */
      "\xE6\x9D\xB1\xE4\xBA\xAC\xE9\x83\xBD", "\xE3\x81\xAF", "\xE3\x82\xAB",
      "\xE5\xB9\xB4", "\xE0\xB8\xA0\xE0\xB8\xB4", "\xEF\xBC\xA1\xEF\xBC\xA2",
      /* combining marks, default-ignorables, typography */
      "e\xCC\x81", "\xCC\x81", "a\xCC\x88\xCC\x81", "\xE2\x80\x8D",
      "\xE2\x80\x8C", "\xE2\x80\x8B", "\xEF\xBB\xBF", "\xE2\x80\x99",
      "\xE2\x80\x98", "\xE2\x80\x9C", "\xE2\x80\x9D", "\xE2\x80\x94",
      "\xE2\x80\xA6", "\xE2\x80\xA8", "\xEF\xAC\x81", "\xE2\x91\xA0",
      /* invalid UTF-8 */
      "\xFF", "\xC0", "\xC3", "\xE2\x82", "\xED\xA0\x80", "\xF4\x90\x80\x80",
      "\x80", "\xF0\x9F\x98\x80",
      /* HTML */
      "<p>", "</p>", "<b>", "</b>", "<br>", "<br/>", "<div class=\"x>y\">",
      "<li>", "<img src=x.png>", "<script>var a = '<p>';</script>",
      "<style>p{}</style>", "<!-- c -->", "<!--", "-->", "<!DOCTYPE html>",
      "<LOR>", "<CSBF.O>", "a < b", "<3", "&amp;", "&nbsp;", "&mdash;",
      "&#8217;", "&#x41;", "&#150;", "&copy", "&bogus;", "&", "&lt;LOR&gt;",
      "</", "<a href='q'>", "</a>"};
  const size_t npieces = sizeof(pieces) / sizeof(pieces[0]);
  static const size_t edges[] = {16, 32, 64, 80, 96, 128, 144, 160};
  unsigned long long st = wd_t_seed(20261207);
  wd_norm_opts_t o;
  wd_norm_opts_default(&o);
  wd_norm_t *nms[4];
  nms[0] = wd_norm_new(&o);
  o.html = 0;
  nms[1] = wd_norm_new(&o);
  wd_norm_opts_default(&o);
  o.strip_marks = 0;
  nms[2] = wd_norm_new(&o);
  wd_norm_opts_default(&o);
  o.fold_abbrev = 0;
  nms[3] = wd_norm_new(&o);
  wd_buf_t in = WD_BUF_INIT, a = WD_BUF_INIT, b = WD_BUF_INIT;
  const int cases = 40000;
  for (int iter = 0; iter < cases; iter++) {
    wd_buf_clear(&in);
    const unsigned long long r = wd_t_rand(&st);
    /* target length: near a window edge, short, or long */
    size_t target;
    if (r % 4 == 0)
      target = r / 4 % 48;
    else if (r % 4 == 1)
      target = edges[r / 4 % 8] - 3 + r / 32 % 7;
    else
      target = 80 + r / 4 % 700;
    /* how often a non-word piece comes: mostly rarely, sometimes densely */
    const unsigned mix = (unsigned)(r >> 40) % 4 == 0 ? 2 : 12;
    while (in.len < target) {
      const unsigned long long q = wd_t_rand(&st);
      if (q % mix == 0) {
        wd_buf_appends(&in, pieces[q / 16 % npieces]);
      } else {
        /* mostly short words, sometimes long ones (> 16, > 64 letters) */
        size_t wl = 1 + q / 16 % 10;
        if (q / 256 % 16 == 0)
          wl = 1 + q / 4096 % 90;
        put_word(&in, &st, wl);
        wd_buf_appends(&in, q / 65536 % 8 ? " " : q / 65536 % 16 ? ", " : ". ");
      }
    }
    /* cut at the target, maybe inside a multi-byte character */
    in.len = target;
    wd_norm_t *nm = nms[iter % 4];
    /* a fresh input buffer exactly as long as the text, so ASan sees any
     * read past its end */
    char *src = wd_malloc(target ? target : 1);
    memcpy(src, in.p, target);
    wd_norm_text(nm, src, target, &a);
    wd_norm_text_ref(nm, src, target, &b);
    wd_free(src);
    if (a.len != b.len || memcmp(a.p, b.p, a.len) != 0) {
      fprintf(stderr, "input of case %d, C-escaped: \"", iter);
      for (size_t k = 0; k < target; k++) {
        const unsigned char c = (unsigned char)in.p[k];
        if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\')
          fputc(c, stderr);
        else
          fprintf(stderr, "\\x%02X\"\"", c);
      }
      fprintf(stderr, "\"\n");
    }
    WD_T_ASSERT(a.len == b.len && memcmp(a.p, b.p, a.len) == 0,
                "case %d (opts %d, %zu bytes): fast \"%s\" != ref \"%s\"",
                iter, iter % 4, target, a.p, b.p);
  }
  fprintf(stderr, "%d cases equal\n", cases);
  for (int k = 0; k < 4; k++)
    wd_norm_destroy(nms[k]);
  wd_buf_free(&in);
  wd_buf_free(&a);
  wd_buf_free(&b);
  return 0;
}

/* The word loop's test for words of nine to sixteen letters reads quads
 * that may run past the word: words of every such length with a spelling
 * rule's first letters, a whole rule, a 'z' or an abbreviation at every
 * position, among plain random words, must give wd_norm_text_ref's output. */
static int test_long_words_vs_ref(void) {
  static const char *const bits[] = {"colour", "labour", "centre", "iza", "ize", "yze",
                                     "z",      "haem",   "oestr",  "cheque", "practis",
                                     "mln",    "pct",    "colo",   "cent",   "jewell"};
  unsigned long long st = wd_t_seed(916);
  wd_norm_t *nm = wd_norm_new(NULL);
  wd_buf_t in = WD_BUF_INIT, a = WD_BUF_INIT, b = WD_BUF_INIT;
  for (int iter = 0; iter < 4000; iter++) {
    wd_buf_clear(&in);
    const int nw = 20 + (int)(wd_t_rand(&st) % 60);
    for (int w = 0; w < nw; w++) {
      if (w)
        wd_buf_appends(&in, wd_t_rand(&st) % 8 ? " " : ", ");
      const size_t len = wd_t_rand(&st) % 4 ? 9 + wd_t_rand(&st) % 8 : 2 + wd_t_rand(&st) % 7;
      char word[17];
      for (size_t k = 0; k < len; k++)
        word[k] = (char)('a' + wd_t_rand(&st) % 26);
      if (wd_t_rand(&st) % 2) {
        const char *bit = bits[wd_t_rand(&st) % (sizeof(bits) / sizeof(bits[0]))];
        const size_t bl = strlen(bit);
        if (bl <= len)
          memcpy(word + wd_t_rand(&st) % (len - bl + 1), bit, bl);
      }
      if (wd_t_rand(&st) % 5 == 0)
        word[0] = (char)(word[0] - 32); /* upper case */
      wd_buf_append(&in, word, len);
    }
    wd_norm_text(nm, in.p, in.len, &a);
    wd_norm_text_ref(nm, in.p, in.len, &b);
    WD_T_ASSERT(a.len == b.len && !memcmp(a.p, b.p, a.len),
                "case %d: fast and plain differ on \"%s\"", iter, in.p);
  }
  wd_buf_free(&in);
  wd_buf_free(&a);
  wd_buf_free(&b);
  wd_norm_destroy(nm);
  return 0;
}

int main(void) {
  WD_T_RUN(test_long_words_vs_ref);
  WD_T_RUN(test_expected);
  WD_T_RUN(test_equivalent);
  WD_T_RUN(test_wire_paragraphs);
  WD_T_RUN(test_options);
  WD_T_RUN(test_utf8);
  WD_T_RUN(test_fuzz);
  WD_T_RUN(test_rules_fixed_point);
  WD_T_RUN(test_no_alloc_when_warm);
  WD_T_RUN(test_memo_vs_fresh);
  WD_T_RUN(test_fast_vs_ref);
  return WD_T_DONE();
}
