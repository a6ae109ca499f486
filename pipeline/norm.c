/* norm.c - text normalisation: HTML to text, NFKC + case folding, typographic
 * and Arabic-script folding, script-aware tokens, wire abbreviations.
 *
 * One pass over the text with a byte-class fast path for ASCII; utf8proc only
 * sees the non-ASCII runs. The output is canonical token text (see norm.h). */
#define _GNU_SOURCE /* memmem */
#include "wiredup/norm.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <utf8proc.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define NORM_X86 1 /* SSE2 word loop; SSE2 or AVX2 scan, chosen at run time */
#include <immintrin.h>
#else
#define NORM_X86 0
#endif

/* ==== Tables ==== */

/* ASCII byte classes for the fast path. */
enum {
  K_SEP = 0, /* punctuation, controls: ends a token */
  K_LET,     /* A-Z a-z */
  K_DIG,     /* 0-9 */
  K_SP,      /* space, tab, CR, VT, FF */
  K_NL,      /* '\n': maybe a paragraph end */
  K_APOS,    /* '\'' */
  K_COMMA,   /* ',' */
  K_DOT,     /* '.' */
  K_PCT,     /* '%' */
  K_PARA,    /* NORM_PARA: a paragraph break from a block tag */
  K_HI       /* >= 0x80: the utf8proc path */
};

/* The HTML pass marks a block tag with this byte (ASCII record separator,
 * not found in text): unlike '\n' in markup, it always ends a paragraph. */
#define NORM_PARA 0x1E

/* Unlisted bytes are 0, K_SEP. */
static const unsigned char norm_cls[256] = {
    ['a' ... 'z'] = K_LET,
    ['A' ... 'Z'] = K_LET,
    ['0' ... '9'] = K_DIG,
    [' '] = K_SP,
    ['\t'] = K_SP,
    ['\r'] = K_SP,
    ['\v'] = K_SP,
    ['\f'] = K_SP,
    ['\n'] = K_NL,
    ['\''] = K_APOS,
    [','] = K_COMMA,
    ['.'] = K_DOT,
    ['%'] = K_PCT,
    [NORM_PARA] = K_PARA,
    [0x80 ... 0xFF] = K_HI,
};

static inline unsigned char ascii_lower(unsigned char c) {
  return (unsigned char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
}

/* Token classes, for the join rules. */
enum { T_NONE = 0, T_LET, T_DIG };

/* Wire abbreviations and a few whole-word UK/US pairs: from -> to. A row with
 * \p prev also needs the previous token of the line to be \p prev, and then
 * both tokens become \p to ("per cent" -> "percent"). The expanded forms are
 * canonical so the output stays readable. */
typedef struct norm_abbrev_s {
  const char *from, *to, *prev;
} norm_abbrev_t;

static const norm_abbrev_t norm_abbrevs[] = {
    /* money and quantities */
    {"mln", "million", NULL},
    {"mn", "million", NULL},
    {"mlns", "millions", NULL},
    {"bln", "billion", NULL},
    {"blns", "billions", NULL},
    {"bn", "billion", NULL},
    {"trln", "trillion", NULL},
    {"tln", "trillion", NULL},
    {"pct", "percent", NULL},
    {"cent", "percent", "per"},
    {"dlrs", "dollars", NULL},
    {"dlr", "dollar", NULL},
    {"cts", "cents", NULL},
    {"ct", "cent", NULL},
    {"stg", "sterling", NULL},
    /* earnings tables */
    {"shr", "share earnings", NULL},
    {"shrs", "shares", NULL},
    {"revs", "revenues", NULL},
    {"oper", "operating", NULL},
    {"qtr", "quarter", NULL},
    {"qtrs", "quarters", NULL},
    {"qtly", "quarterly", NULL},
    {"yr", "year", NULL},
    {"yrs", "years", NULL},
    {"mth", "month", NULL},
    {"mths", "months", NULL},
    {"wk", "week", NULL},
    {"wks", "weeks", NULL},
    {"avg", "average", NULL},
    {"vs", "versus", NULL},
    /* organisations */
    {"corp", "corporation", NULL},
    {"inc", "incorporated", NULL},
    {"ltd", "limited", NULL},
    {"co", "company", NULL},
    {"cos", "companies", NULL},
    {"govt", "government", NULL},
    {"dept", "department", NULL},
    {"intl", "international", NULL},
    {"natl", "national", NULL},
    {"assn", "association", NULL},
    {"mgmt", "management", NULL},
    {"mkt", "market", NULL},
    {"mkts", "markets", NULL},
    {"excl", "excluding", NULL},
    {"incl", "including", NULL},
    {"approx", "approximately", NULL},
    /* months */
    {"jan", "january", NULL},
    {"feb", "february", NULL},
    {"mar", "march", NULL},
    {"apr", "april", NULL},
    {"jun", "june", NULL},
    {"jul", "july", NULL},
    {"aug", "august", NULL},
    {"sep", "september", NULL},
    {"sept", "september", NULL},
    {"oct", "october", NULL},
    {"nov", "november", NULL},
    {"dec", "december", NULL},
    /* UK/US whole words */
    {"grey", "gray", NULL},
    {"ageing", "aging", NULL},
    {"whilst", "while", NULL},
    {"amongst", "among", NULL},
    {"tyre", "tire", NULL},
    {"tyres", "tires", NULL},
};
#define NORM_ABBREV_CNT (sizeof(norm_abbrevs) / sizeof(norm_abbrevs[0]))
#define NORM_ABBREV_MAXLEN 7
#define NORM_ABBREV_SLOTS 256
#define NORM_MEMO_BITS 14
#define NORM_MEMO_SLOTS (1u << NORM_MEMO_BITS)
#define NORM_MEMO_FOLD (1ull << 63)
#define NORM_MAP2_DROP (-1)
#define NORM_MAP2_FULL (-2)
#define NORM_MAP2_MARK (-3)
#define NORM_MEMO2_BITS 11
#define NORM_MEMO2_SLOTS (1u << NORM_MEMO2_BITS)

/* UK/US spelling as in-word substitutions, so that inflections and derived
 * forms follow (organisations, labourers, centred) and so that a copy which
 * applied the change blindly ("labouratory", "sise") still matches. Each
 * \p to is no longer than its \p from: the token is edited in place. */
typedef struct norm_rule_s {
  const char *from, *to;
} norm_rule_t;

static const norm_rule_t norm_rules[] = {
    /* -ize/-ise, -yze/-yse: every "iz"/"yz" before a vowel becomes "is"/"ys" */
    {"iza", "isa"},
    {"ize", "ise"},
    {"izi", "isi"},
    {"yza", "ysa"},
    {"yze", "yse"},
    {"yzi", "ysi"},
    /* -our/-or */
    {"ardour", "ardor"},
    {"armour", "armor"},
    {"behaviour", "behavior"},
    {"candour", "candor"},
    {"clamour", "clamor"},
    {"colour", "color"},
    {"demeanour", "demeanor"},
    {"endeavour", "endeavor"},
    {"favour", "favor"},
    {"fervour", "fervor"},
    {"flavour", "flavor"},
    {"glamour", "glamor"},
    {"harbour", "harbor"},
    {"honour", "honor"},
    {"humour", "humor"},
    {"labour", "labor"},
    {"neighbour", "neighbor"},
    {"odour", "odor"},
    {"parlour", "parlor"},
    {"rigour", "rigor"},
    {"rumour", "rumor"},
    {"saviour", "savior"},
    {"savour", "savor"},
    {"splendour", "splendor"},
    {"tumour", "tumor"},
    {"valour", "valor"},
    {"vapour", "vapor"},
    {"vigour", "vigor"},
    /* -re/-er */
    {"centre", "center"},
    {"fibre", "fiber"},
    {"litre", "liter"},
    {"metre", "meter"},
    {"theatre", "theater"},
    {"calibre", "caliber"},
    {"sombre", "somber"},
    {"spectre", "specter"},
    {"meagre", "meager"},
    {"lustre", "luster"},
    {"sabre", "saber"},
    {"manoeuvr", "maneuver"},
    /* -ence/-ense, -ogue/-og, -mme/-m */
    {"defence", "defense"},
    {"offence", "offense"},
    {"pretence", "pretense"},
    {"licence", "license"},
    {"catalogue", "catalog"},
    {"dialogue", "dialog"},
    {"analogue", "analog"},
    {"programme", "program"},
    /* doubled l */
    {"jewellery", "jewelry"},
    {"cancell", "cancel"},
    {"channell", "channel"},
    {"counsell", "counsel"},
    {"fuell", "fuel"},
    {"jewell", "jewel"},
    {"labell", "label"},
    {"levell", "level"},
    {"modell", "model"},
    {"signall", "signal"},
    {"totall", "total"},
    {"travell", "travel"},
    {"quarrell", "quarrel"},
    /* ae/oe */
    {"anaesth", "anesth"},
    {"haem", "hem"},
    {"leukaem", "leukem"},
    {"oestr", "estr"},
    {"paediatr", "pediatr"},
    {"orthopaed", "orthoped"},
    {"foetus", "fetus"},
    {"diarrhoea", "diarrhea"},
    /* others */
    {"aluminium", "aluminum"},
    {"sceptic", "skeptic"},
    {"mould", "mold"},
    {"plough", "plow"},
    {"cheque", "check"},
    {"practis", "practic"},
};
#define NORM_RULE_CNT (sizeof(norm_rules) / sizeof(norm_rules[0]))

/* HTML4 named character references (plus &apos;), sorted by name. */
typedef struct norm_entity_s {
  const char *name;
  int32_t cp;
} norm_entity_t;

static const norm_entity_t norm_entities[] = {
    {"AElig", 0x00C6},   {"Aacute", 0x00C1},  {"Acirc", 0x00C2},
    {"Agrave", 0x00C0},  {"Alpha", 0x0391},   {"Aring", 0x00C5},
    {"Atilde", 0x00C3},  {"Auml", 0x00C4},    {"Beta", 0x0392},
    {"Ccedil", 0x00C7},  {"Chi", 0x03A7},     {"Dagger", 0x2021},
    {"Delta", 0x0394},   {"ETH", 0x00D0},     {"Eacute", 0x00C9},
    {"Ecirc", 0x00CA},   {"Egrave", 0x00C8},  {"Epsilon", 0x0395},
    {"Eta", 0x0397},     {"Euml", 0x00CB},    {"Gamma", 0x0393},
    {"Iacute", 0x00CD},  {"Icirc", 0x00CE},   {"Igrave", 0x00CC},
    {"Iota", 0x0399},    {"Iuml", 0x00CF},    {"Kappa", 0x039A},
    {"Lambda", 0x039B},  {"Mu", 0x039C},      {"Ntilde", 0x00D1},
    {"Nu", 0x039D},      {"OElig", 0x0152},   {"Oacute", 0x00D3},
    {"Ocirc", 0x00D4},   {"Ograve", 0x00D2},  {"Omega", 0x03A9},
    {"Omicron", 0x039F}, {"Oslash", 0x00D8},  {"Otilde", 0x00D5},
    {"Ouml", 0x00D6},    {"Phi", 0x03A6},     {"Pi", 0x03A0},
    {"Prime", 0x2033},   {"Psi", 0x03A8},     {"Rho", 0x03A1},
    {"Scaron", 0x0160},  {"Sigma", 0x03A3},   {"THORN", 0x00DE},
    {"Tau", 0x03A4},     {"Theta", 0x0398},   {"Uacute", 0x00DA},
    {"Ucirc", 0x00DB},   {"Ugrave", 0x00D9},  {"Upsilon", 0x03A5},
    {"Uuml", 0x00DC},    {"Xi", 0x039E},      {"Yacute", 0x00DD},
    {"Yuml", 0x0178},    {"Zeta", 0x0396},    {"aacute", 0x00E1},
    {"acirc", 0x00E2},   {"acute", 0x00B4},   {"aelig", 0x00E6},
    {"agrave", 0x00E0},  {"alefsym", 0x2135}, {"alpha", 0x03B1},
    {"amp", 0x0026},     {"and", 0x2227},     {"ang", 0x2220},
    {"apos", 0x0027},    {"aring", 0x00E5},   {"asymp", 0x2248},
    {"atilde", 0x00E3},  {"auml", 0x00E4},    {"bdquo", 0x201E},
    {"beta", 0x03B2},    {"brvbar", 0x00A6},  {"bull", 0x2022},
    {"cap", 0x2229},     {"ccedil", 0x00E7},  {"cedil", 0x00B8},
    {"cent", 0x00A2},    {"chi", 0x03C7},     {"circ", 0x02C6},
    {"clubs", 0x2663},   {"cong", 0x2245},    {"copy", 0x00A9},
    {"crarr", 0x21B5},   {"cup", 0x222A},     {"curren", 0x00A4},
    {"dArr", 0x21D3},    {"dagger", 0x2020},  {"darr", 0x2193},
    {"deg", 0x00B0},     {"delta", 0x03B4},   {"diams", 0x2666},
    {"divide", 0x00F7},  {"eacute", 0x00E9},  {"ecirc", 0x00EA},
    {"egrave", 0x00E8},  {"empty", 0x2205},   {"emsp", 0x2003},
    {"ensp", 0x2002},    {"epsilon", 0x03B5}, {"equiv", 0x2261},
    {"eta", 0x03B7},     {"eth", 0x00F0},     {"euml", 0x00EB},
    {"euro", 0x20AC},    {"exist", 0x2203},   {"fnof", 0x0192},
    {"forall", 0x2200},  {"frac12", 0x00BD},  {"frac14", 0x00BC},
    {"frac34", 0x00BE},  {"frasl", 0x2044},   {"gamma", 0x03B3},
    {"ge", 0x2265},      {"gt", 0x003E},      {"hArr", 0x21D4},
    {"harr", 0x2194},    {"hearts", 0x2665},  {"hellip", 0x2026},
    {"iacute", 0x00ED},  {"icirc", 0x00EE},   {"iexcl", 0x00A1},
    {"igrave", 0x00EC},  {"image", 0x2111},   {"infin", 0x221E},
    {"int", 0x222B},     {"iota", 0x03B9},    {"iquest", 0x00BF},
    {"isin", 0x2208},    {"iuml", 0x00EF},    {"kappa", 0x03BA},
    {"lArr", 0x21D0},    {"lambda", 0x03BB},  {"lang", 0x2329},
    {"laquo", 0x00AB},   {"larr", 0x2190},    {"lceil", 0x2308},
    {"ldquo", 0x201C},   {"le", 0x2264},      {"lfloor", 0x230A},
    {"lowast", 0x2217},  {"loz", 0x25CA},     {"lrm", 0x200E},
    {"lsaquo", 0x2039},  {"lsquo", 0x2018},   {"lt", 0x003C},
    {"macr", 0x00AF},    {"mdash", 0x2014},   {"micro", 0x00B5},
    {"middot", 0x00B7},  {"minus", 0x2212},   {"mu", 0x03BC},
    {"nabla", 0x2207},   {"nbsp", 0x00A0},    {"ndash", 0x2013},
    {"ne", 0x2260},      {"ni", 0x220B},      {"not", 0x00AC},
    {"notin", 0x2209},   {"nsub", 0x2284},    {"ntilde", 0x00F1},
    {"nu", 0x03BD},      {"oacute", 0x00F3},  {"ocirc", 0x00F4},
    {"oelig", 0x0153},   {"ograve", 0x00F2},  {"oline", 0x203E},
    {"omega", 0x03C9},   {"omicron", 0x03BF}, {"oplus", 0x2295},
    {"or", 0x2228},      {"ordf", 0x00AA},    {"ordm", 0x00BA},
    {"oslash", 0x00F8},  {"otilde", 0x00F5},  {"otimes", 0x2297},
    {"ouml", 0x00F6},    {"para", 0x00B6},    {"part", 0x2202},
    {"permil", 0x2030},  {"perp", 0x22A5},    {"phi", 0x03C6},
    {"pi", 0x03C0},      {"piv", 0x03D6},     {"plusmn", 0x00B1},
    {"pound", 0x00A3},   {"prime", 0x2032},   {"prod", 0x220F},
    {"prop", 0x221D},    {"psi", 0x03C8},     {"quot", 0x0022},
    {"rArr", 0x21D2},    {"radic", 0x221A},   {"rang", 0x232A},
    {"raquo", 0x00BB},   {"rarr", 0x2192},    {"rceil", 0x2309},
    {"rdquo", 0x201D},   {"real", 0x211C},    {"reg", 0x00AE},
    {"rfloor", 0x230B},  {"rho", 0x03C1},     {"rlm", 0x200F},
    {"rsaquo", 0x203A},  {"rsquo", 0x2019},   {"sbquo", 0x201A},
    {"scaron", 0x0161},  {"sdot", 0x22C5},    {"sect", 0x00A7},
    {"shy", 0x00AD},     {"sigma", 0x03C3},   {"sigmaf", 0x03C2},
    {"sim", 0x223C},     {"spades", 0x2660},  {"sub", 0x2282},
    {"sube", 0x2286},    {"sum", 0x2211},     {"sup", 0x2283},
    {"sup1", 0x00B9},    {"sup2", 0x00B2},    {"sup3", 0x00B3},
    {"supe", 0x2287},    {"szlig", 0x00DF},   {"tau", 0x03C4},
    {"there4", 0x2234},  {"theta", 0x03B8},   {"thetasym", 0x03D1},
    {"thinsp", 0x2009},  {"thorn", 0x00FE},   {"tilde", 0x02DC},
    {"times", 0x00D7},   {"trade", 0x2122},   {"uArr", 0x21D1},
    {"uacute", 0x00FA},  {"uarr", 0x2191},    {"ucirc", 0x00FB},
    {"ugrave", 0x00F9},  {"uml", 0x00A8},     {"upsih", 0x03D2},
    {"upsilon", 0x03C5}, {"uuml", 0x00FC},    {"weierp", 0x2118},
    {"xi", 0x03BE},      {"yacute", 0x00FD},  {"yen", 0x00A5},
    {"yuml", 0x00FF},    {"zeta", 0x03B6},    {"zwj", 0x200D},
    {"zwnj", 0x200C},
};
#define NORM_ENTITY_CNT (sizeof(norm_entities) / sizeof(norm_entities[0]))

/* &#128; .. &#159; mean Windows-1252, as browsers read them (HTML5). */
static const int32_t norm_cp1252[32] = {
    0x20AC, 0xFFFD, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0xFFFD, 0x017D, 0xFFFD,
    0xFFFD, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0xFFFD, 0x017E, 0x0178};

/* What a tag does to the text around it. */
enum {
  TAG_OTHER = 0, /* unknown or replaced element (img, input): a separator */
  TAG_INLINE,    /* a, b, span...: nothing, "foo<b>bar</b>" is one word */
  TAG_BLOCK,     /* p, div, br, li, h1...: ends a paragraph */
  TAG_RAW        /* script, style...: content dropped too */
};

typedef struct norm_tag_s {
  const char *name;
  int kind;
} norm_tag_t;

/* Sorted by name for bsearch. */
static const norm_tag_t norm_tags[] = {
    {"a", TAG_INLINE},         {"abbr", TAG_INLINE},
    {"address", TAG_BLOCK},    {"article", TAG_BLOCK},
    {"aside", TAG_BLOCK},      {"b", TAG_INLINE},
    {"bdi", TAG_INLINE},       {"bdo", TAG_INLINE},
    {"blockquote", TAG_BLOCK}, {"body", TAG_BLOCK},
    {"br", TAG_BLOCK},         {"caption", TAG_BLOCK},
    {"center", TAG_BLOCK},     {"cite", TAG_INLINE},
    {"code", TAG_INLINE},      {"data", TAG_INLINE},
    {"dd", TAG_BLOCK},         {"del", TAG_INLINE},
    {"details", TAG_BLOCK},    {"dfn", TAG_INLINE},
    {"div", TAG_BLOCK},        {"dl", TAG_BLOCK},
    {"dt", TAG_BLOCK},         {"em", TAG_INLINE},
    {"fieldset", TAG_BLOCK},   {"figcaption", TAG_BLOCK},
    {"figure", TAG_BLOCK},     {"font", TAG_INLINE},
    {"footer", TAG_BLOCK},     {"form", TAG_BLOCK},
    {"h1", TAG_BLOCK},         {"h2", TAG_BLOCK},
    {"h3", TAG_BLOCK},         {"h4", TAG_BLOCK},
    {"h5", TAG_BLOCK},         {"h6", TAG_BLOCK},
    {"head", TAG_BLOCK},       {"header", TAG_BLOCK},
    {"hr", TAG_BLOCK},         {"html", TAG_BLOCK},
    {"i", TAG_INLINE},         {"iframe", TAG_RAW},
    {"ins", TAG_INLINE},       {"kbd", TAG_INLINE},
    {"legend", TAG_BLOCK},     {"li", TAG_BLOCK},
    {"main", TAG_BLOCK},       {"mark", TAG_INLINE},
    {"nav", TAG_BLOCK},        {"nobr", TAG_INLINE},
    {"noscript", TAG_RAW},     {"ol", TAG_BLOCK},
    {"option", TAG_BLOCK},     {"p", TAG_BLOCK},
    {"pre", TAG_BLOCK},        {"q", TAG_INLINE},
    {"s", TAG_INLINE},         {"samp", TAG_INLINE},
    {"script", TAG_RAW},       {"section", TAG_BLOCK},
    {"small", TAG_INLINE},     {"span", TAG_INLINE},
    {"strike", TAG_INLINE},    {"strong", TAG_INLINE},
    {"style", TAG_RAW},        {"sub", TAG_INLINE},
    {"summary", TAG_BLOCK},    {"sup", TAG_INLINE},
    {"table", TAG_BLOCK},      {"tbody", TAG_BLOCK},
    {"template", TAG_RAW},     {"tfoot", TAG_BLOCK},
    {"thead", TAG_BLOCK},      {"time", TAG_INLINE},
    {"title", TAG_RAW},        {"tr", TAG_BLOCK},
    {"tt", TAG_INLINE},        {"u", TAG_INLINE},
    {"ul", TAG_BLOCK},         {"var", TAG_INLINE},
    {"wbr", TAG_INLINE},
};
#define NORM_TAG_CNT (sizeof(norm_tags) / sizeof(norm_tags[0]))

/* ==== The normaliser ==== */

/* Index of the first '<' or '&' in s[i..n), or n. */
typedef size_t norm_scan_fn(const unsigned char *s, size_t n, size_t i);

struct wd_norm_s {
  wd_norm_opts_t opts;
  norm_scan_fn *scan;   /* html_next_special, the widest version */
  utf8proc_option_t u8opts;
  wd_buf_t html;        /* HTML-free text of the current record */
  utf8proc_int32_t *cp; /* utf8proc output for one non-ASCII span */
  size_t cp_cap;
  /* abbreviation hash: slot -> 1 + index into norm_abbrevs, 0 = empty */
  uint8_t abbr_slot[NORM_ABBREV_SLOTS];
  uint32_t abbr_hash[NORM_ABBREV_SLOTS];
  /* prefilter: bit len of abbr_fl[first][last] is set when some key of that
   * length starts and ends with those letters (most tokens stop here) */
  uint8_t abbr_fl[26][26];
  uint8_t abbr_len[NORM_ABBREV_CNT], abbr_to_len[NORM_ABBREV_CNT];
  /* spelling rules by first bigram ("ab" = 0*26+1): rule_idx[first..first+cnt)
   */
  uint8_t big_first[26 * 26], big_cnt[26 * 26];
  uint8_t rule_idx[NORM_RULE_CNT];
  uint8_t rule_len[NORM_RULE_CNT], rule_to_len[NORM_RULE_CNT];
  uint8_t rule_maxlen; /* the longest rule's from */
  /* prefilter: bit quad_idx(first four letters) is set for every rule of
   * four or more letters; the three-letter rules all contain a 'z' */
  uint8_t quad_bits[1u << 13];
  /* memo of tok_needs_fold() for tokens of 2..8 letters: tok_key, with
   * NORM_MEMO_FOLD set when the answer is yes; 0 = empty. Zipf's law makes
   * nearly every token a hit, so most tokens cost one lookup. */
  uint64_t memo[NORM_MEMO_SLOTS];
  /* the same for 9..16 letters: first and last eight bytes, the length in
   * the free top bits of the last word */
  uint64_t memo2[NORM_MEMO2_SLOTS][2];
  /* U+0080..U+07FF (two-byte UTF-8: Latin-1, Greek, Cyrillic, Hebrew,
   * Arabic...): what utf8proc makes of the character alone with our
   * options, filled in by asking utf8proc once. >= 0: that one character;
   * NORM_MAP2_DROP: nothing; NORM_MAP2_FULL: several, ask utf8proc each
   * time; NORM_MAP2_MARK: a combining mark, which composes with what is
   * before it. */
  int32_t map2[0x800 - 0x80];
};

static inline unsigned quad_idx(const char *p) {
  uint32_t w;
  memcpy(&w, p, 4);
  return (w * 2654435761u) >> 16;
}

void wd_norm_opts_default(wd_norm_opts_t *opts) {
  opts->html = 1;
  opts->strip_marks = 1;
  opts->fold_abbrev = 1;
}

static uint32_t abbr_hash(const char *s, size_t len) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < len; i++)
    h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h | 1; /* never 0 */
}

static int rule_cmp(const void *a, const void *b) {
  const norm_rule_t *ra = &norm_rules[*(const uint8_t *)a];
  const norm_rule_t *rb = &norm_rules[*(const uint8_t *)b];
  int c = memcmp(ra->from, rb->from, 2);
  if (c)
    return c;
  /* longest first, so "jewellery" wins over "jewell" */
  size_t la = strlen(ra->from), lb = strlen(rb->from);
  if (la != lb)
    return la < lb ? 1 : -1;
  return strcmp(ra->from, rb->from);
}

static norm_scan_fn *html_scan_best(void);

static void norm_map2_init(wd_norm_t *nm) {
  for (int32_t cp = 0x80; cp < 0x800; cp++) {
    int32_t *m = &nm->map2[cp - 0x80];
    utf8proc_category_t cat = utf8proc_category(cp);
    if (cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_MC ||
        cat == UTF8PROC_CATEGORY_ME) {
      *m = NORM_MAP2_MARK;
      continue;
    }
    unsigned char u[4];
    utf8proc_int32_t out[8];
    utf8proc_ssize_t len = utf8proc_encode_char(cp, u);
    utf8proc_ssize_t r =
        utf8proc_decompose_custom(u, len, out, 8, nm->u8opts, NULL, NULL);
    if (r >= 0 && r <= 8)
      r = utf8proc_normalize_utf32(out, r, nm->u8opts);
    if (r == 0)
      *m = NORM_MAP2_DROP;
    else if (r == 1)
      *m = out[0];
    else
      *m = NORM_MAP2_FULL;
  }
}

wd_norm_t *wd_norm_new(const wd_norm_opts_t *opts) {
  wd_norm_opts_t dflt;
  if (!opts) {
    wd_norm_opts_default(&dflt);
    opts = &dflt;
  }
  wd_norm_t *nm = wd_calloc(1, sizeof(*nm));
  nm->opts = *opts;
  /* LUMP folds typographic variants (curly apostrophes, dashes, odd spaces)
   * to ASCII inside utf8proc, from its own tables. */
  nm->u8opts = UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_COMPOSE |
               UTF8PROC_CASEFOLD | UTF8PROC_IGNORE | UTF8PROC_LUMP;
  if (opts->strip_marks)
    nm->u8opts |= UTF8PROC_STRIPMARK;
  nm->cp_cap = 256;
  nm->cp = wd_malloc(nm->cp_cap * sizeof(*nm->cp));

  static_assert(NORM_ABBREV_CNT < 255, "abbreviation index is a uint8_t");
  for (size_t i = 0; i < NORM_ABBREV_CNT; i++) {
    size_t len = strlen(norm_abbrevs[i].from);
    assert(len >= 2 && len <= NORM_ABBREV_MAXLEN);
    uint32_t h = abbr_hash(norm_abbrevs[i].from, len);
    size_t s = h & (NORM_ABBREV_SLOTS - 1);
    while (nm->abbr_slot[s])
      s = (s + 1) & (NORM_ABBREV_SLOTS - 1);
    nm->abbr_slot[s] = (uint8_t)(i + 1);
    nm->abbr_hash[s] = h;
    nm->abbr_len[i] = (uint8_t)len;
    nm->abbr_to_len[i] = (uint8_t)strlen(norm_abbrevs[i].to);
    nm->abbr_fl[norm_abbrevs[i].from[0] - 'a']
               [norm_abbrevs[i].from[len - 1] - 'a'] |= (uint8_t)(1u << len);
  }

  static_assert(NORM_RULE_CNT < 255, "rule index is a uint8_t");
  for (size_t i = 0; i < NORM_RULE_CNT; i++) {
    assert(strlen(norm_rules[i].to) <= strlen(norm_rules[i].from));
    assert(strlen(norm_rules[i].from) >= 3);
    nm->rule_idx[i] = (uint8_t)i;
    nm->rule_len[i] = (uint8_t)strlen(norm_rules[i].from);
    nm->rule_to_len[i] = (uint8_t)strlen(norm_rules[i].to);
    if (nm->rule_len[i] > nm->rule_maxlen)
      nm->rule_maxlen = nm->rule_len[i];
    if (nm->rule_len[i] >= 4) {
      unsigned q = quad_idx(norm_rules[i].from);
      nm->quad_bits[q >> 3] |= (uint8_t)(1u << (q & 7));
    } else {
      assert(strchr(norm_rules[i].from, 'z') != NULL);
    }
  }
  qsort(nm->rule_idx, NORM_RULE_CNT, 1, rule_cmp);
  for (size_t i = 0; i < NORM_RULE_CNT; i++) {
    const char *f = norm_rules[nm->rule_idx[i]].from;
    unsigned b = (unsigned)(f[0] - 'a') * 26 + (unsigned)(f[1] - 'a');
    if (!nm->big_cnt[b])
      nm->big_first[b] = (uint8_t)i;
    nm->big_cnt[b]++;
  }
  norm_map2_init(nm);
  nm->scan = html_scan_best();
  return nm;
}

void wd_norm_destroy(wd_norm_t *nm) {
  if (!nm)
    return;
  wd_buf_free(&nm->html);
  wd_free(nm->cp);
  wd_free(nm);
}

/* ==== UTF-8 ==== */

/* Decode one strict UTF-8 sequence (no overlongs, no surrogates, at most
 * U+10FFFF) at p. @returns its length, or 0 if the first byte does not start
 * a valid sequence (the caller skips that one byte). */
static size_t u8_decode(const unsigned char *p, size_t avail, int32_t *cp) {
  unsigned c = p[0];
  if (c < 0x80) {
    *cp = (int32_t)c;
    return 1;
  }
  if (c < 0xC2)
    return 0;
  if (c < 0xE0) {
    if (avail < 2 || (p[1] & 0xC0) != 0x80)
      return 0;
    *cp = (int32_t)(((c & 0x1F) << 6) | (p[1] & 0x3F));
    return 2;
  }
  if (c < 0xF0) {
    if (avail < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
      return 0;
    if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] > 0x9F))
      return 0;
    *cp = (int32_t)(((c & 0x0F) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3F));
    return 3;
  }
  if (c < 0xF5) {
    if (avail < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 ||
        (p[3] & 0xC0) != 0x80)
      return 0;
    if ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] > 0x8F))
      return 0;
    *cp = (int32_t)(((c & 0x07) << 18) | ((p[1] & 0x3Fu) << 12) |
                    ((p[2] & 0x3Fu) << 6) | (p[3] & 0x3F));
    return 4;
  }
  return 0;
}

static size_t u8_encode(int32_t cp, char *dst) {
  if (cp < 0x80) {
    dst[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    dst[0] = (char)(0xC0 | (cp >> 6));
    dst[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    dst[0] = (char)(0xE0 | (cp >> 12));
    dst[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    dst[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  dst[0] = (char)(0xF0 | (cp >> 18));
  dst[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  dst[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  dst[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

int wd_norm_utf8_valid(const char *src, size_t src_len, size_t *bad_off) {
  const unsigned char *s = (const unsigned char *)src;
  size_t i = 0;
  while (i < src_len) {
    /* skip ASCII sixteen bytes at a time */
    while (i + 16 <= src_len) {
      uint64_t w[2];
      memcpy(w, s + i, 16);
      if ((w[0] | w[1]) & 0x8080808080808080ull)
        break;
      i += 16;
    }
    if (i >= src_len)
      break;
    if (s[i] < 0x80) {
      i++;
      continue;
    }
    int32_t cp;
    size_t k = u8_decode(s + i, src_len - i, &cp);
    if (!k) {
      if (bad_off)
        *bad_off = i;
      return 0;
    }
    i += k;
  }
  if (bad_off)
    *bad_off = src_len;
  return 1;
}

/* ==== HTML to text ==== */

#define SWAR_ONES 0x0101010101010101ull
#define SWAR_HI 0x8080808080808080ull

/* 0x80 in each byte of w that is an ASCII letter. The additions cannot carry
 * between bytes: every byte is at most 0x7f + 0x1f. */
static inline uint64_t swar_letters(uint64_t w) {
  uint64_t y = (w | 0x20 * SWAR_ONES) & 0x7f * SWAR_ONES;
  uint64_t ge_a = y + (0x80 - 'a') * SWAR_ONES;
  uint64_t gt_z = y + (0x80 - 'z' - 1) * SWAR_ONES;
  return ge_a & ~gt_z & ~w & SWAR_HI;
}

/* 0x80 in each byte of w that is an ASCII digit. */
static inline uint64_t swar_digits(uint64_t w) {
  uint64_t y = w & 0x7f * SWAR_ONES;
  uint64_t ge_0 = y + (0x80 - '0') * SWAR_ONES;
  uint64_t gt_9 = y + (0x80 - '9' - 1) * SWAR_ONES;
  return ge_0 & ~gt_9 & ~w & SWAR_HI;
}

/* 0x80 in the lowest byte of w equal to c (higher bytes may be false
 * positives: only the lowest set bit is exact). */
static inline uint64_t swar_eq(uint64_t w, unsigned char c) {
  uint64_t x = w ^ (c * SWAR_ONES);
  return (x - SWAR_ONES) & ~x & SWAR_HI;
}

static int entity_cmp(const void *key, const void *elem) {
  return strcmp((const char *)key, ((const norm_entity_t *)elem)->name);
}

static int tag_cmp(const void *key, const void *elem) {
  return strcmp((const char *)key, ((const norm_tag_t *)elem)->name);
}

static int is_alnum(unsigned char c) {
  return norm_cls[c] == K_LET || norm_cls[c] == K_DIG;
}

/* Decode the character reference at s[i] == '&'. @returns the bytes consumed
 * (0: not a reference, the '&' is text) and the code point in *cp. */
static size_t html_entity(const unsigned char *s, size_t n, size_t i,
                          int32_t *cp) {
  size_t j = i + 1;
  if (j < n && s[j] == '#') {
    int hex = 0;
    j++;
    if (j < n && (s[j] == 'x' || s[j] == 'X'))
      hex = 1, j++;
    size_t d0 = j;
    uint32_t v = 0;
    for (; j < n; j++) {
      unsigned c = s[j], d;
      if (c >= '0' && c <= '9')
        d = c - '0';
      else if (hex && (c | 0x20) >= 'a' && (c | 0x20) <= 'f')
        d = (c | 0x20) - 'a' + 10;
      else
        break;
      if (v <= 0x10FFFF) /* saturate: stays out of range once it is */
        v = v * (hex ? 16 : 10) + d;
    }
    if (j == d0)
      return 0;
    if (j < n && s[j] == ';')
      j++;
    if (v >= 0x80 && v <= 0x9F)
      *cp = norm_cp1252[v - 0x80];
    else if (v == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
      *cp = 0xFFFD;
    else
      *cp = (int32_t)v;
    return j - i;
  }
  char name[12];
  size_t k = 0;
  while (j < n && is_alnum(s[j]) && k < sizeof(name) - 1)
    name[k++] = (char)s[j++];
  name[k] = '\0';
  if (!k || (j < n && is_alnum(s[j])))
    return 0;
  const norm_entity_t *e =
      bsearch(name, norm_entities, NORM_ENTITY_CNT, sizeof(*e), entity_cmp);
  if (!e)
    return 0;
  /* Browsers also accept a missing ';' for the old names ("&copy 2017"). */
  if (j < n && s[j] == ';')
    j++;
  *cp = e->cp;
  return j - i;
}

/* Find the '>' closing a tag whose attributes start at s[j]; '>' inside a
 * quoted attribute value does not count. @returns its index, or n. */
static size_t html_tag_end(const unsigned char *s, size_t n, size_t j) {
  while (j < n) {
    unsigned char c = s[j];
    if (c == '>')
      return j;
    if (c == '"' || c == '\'') {
      const unsigned char *q = memchr(s + j + 1, c, n - j - 1);
      if (q) {
        j = (size_t)(q - s) + 1;
        continue;
      }
      /* An unclosed quote would swallow the rest of the text: end the tag
       * at the next '>' instead. */
      const unsigned char *gt = memchr(s + j + 1, '>', n - j - 1);
      return gt ? (size_t)(gt - s) : n;
    }
    j++;
  }
  return n;
}

/* Index just past "</name ... >" at or after j (case-insensitive), or n. */
static size_t html_skip_raw(const unsigned char *s, size_t n, size_t j,
                            const char *name, size_t name_len) {
  while (j < n) {
    const unsigned char *lt = memchr(s + j, '<', n - j);
    if (!lt)
      return n;
    size_t k = (size_t)(lt - s);
    if (k + 2 + name_len <= n && s[k + 1] == '/' &&
        strncasecmp((const char *)s + k + 2, name, name_len) == 0 &&
        (k + 2 + name_len == n || !is_alnum(s[k + 2 + name_len]))) {
      size_t e = html_tag_end(s, n, k + 2 + name_len);
      return e < n ? e + 1 : n;
    }
    j = k + 1;
  }
  return n;
}

/* Index of the first '<' or '&' at or after i, or n. */
static size_t html_next_special(const unsigned char *s, size_t n, size_t i) {
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, s + i, 8);
    uint64_t m = swar_eq(w, '<') | swar_eq(w, '&');
    if (m)
      return i + ((size_t)__builtin_ctzll(m) >> 3);
  }
  while (i < n && s[i] != '<' && s[i] != '&')
    i++;
  return i;
}

#if NORM_X86
/* html_next_special sixteen bytes a step; the tail of fewer than sixteen
 * bytes goes to the word-at-a-time loop. */
static size_t html_next_special_sse2(const unsigned char *s, size_t n,
                                     size_t i) {
  const __m128i lt = _mm_set1_epi8('<'), amp = _mm_set1_epi8('&');
  for (; i + 16 <= n; i += 16) {
    const __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
    const unsigned m = (unsigned)_mm_movemask_epi8(
        _mm_or_si128(_mm_cmpeq_epi8(v, lt), _mm_cmpeq_epi8(v, amp)));
    if (m)
      return i + (size_t)__builtin_ctz(m);
  }
  return html_next_special(s, n, i);
}

/* The same, thirty-two bytes a step. */
__attribute__((target("avx2"))) static size_t
html_next_special_avx2(const unsigned char *s, size_t n, size_t i) {
  const __m256i lt = _mm256_set1_epi8('<'), amp = _mm256_set1_epi8('&');
  for (; i + 32 <= n; i += 32) {
    const __m256i v = _mm256_loadu_si256((const __m256i *)(s + i));
    const unsigned m = (unsigned)_mm256_movemask_epi8(
        _mm256_or_si256(_mm256_cmpeq_epi8(v, lt), _mm256_cmpeq_epi8(v, amp)));
    if (m)
      return i + (size_t)__builtin_ctz(m);
  }
  return html_next_special_sse2(s, n, i);
}
#endif

/* The widest scan this CPU runs. Every version returns the same index. */
static norm_scan_fn *html_scan_best(void) {
#if NORM_X86
  return __builtin_cpu_supports("avx2") ? html_next_special_avx2
                                        : html_next_special_sse2;
#else
  return html_next_special;
#endif
}

/* Is s[a..b) only letters, digits and dots (an unknown "<WORD.X>")? */
static int html_is_plain_word(const unsigned char *s, size_t a, size_t b) {
  for (size_t k = a; k < b; k++)
    if (!is_alnum(s[k]) && s[k] != '.')
      return 0;
  return a < b;
}

/* Tags dropped, entities decoded, block tags as NORM_PARA. @returns 1 when
 * a block tag was seen: the text is then laid out by markup and its raw
 * newlines are only spaces (as in a browser). */
static int html_to_text(const unsigned char *s, size_t n, wd_buf_t *o,
                        norm_scan_fn *scan) {
  int markup_lines = 0;
  wd_buf_clear(o);
  wd_buf_reserve(o, n + 16);
  size_t i = 0;
  while (i < n) {
    size_t j = scan(s, n, i);
    if (j > i) {
      wd_buf_append(o, s + i, j - i);
      i = j;
      if (i >= n)
        break;
    }
    if (s[i] == '&') {
      int32_t cp;
      size_t k = html_entity(s, n, i, &cp);
      if (!k) {
        wd_buf_appendc(o, '&');
        i++;
        continue;
      }
      char u[4];
      if (cp == 0xA0)
        wd_buf_appendc(o, ' ');
      else
        wd_buf_append(o, u, u8_encode(cp, u));
      i += k;
      continue;
    }
    /* s[i] == '<' */
    if (i + 3 < n && memcmp(s + i, "<!--", 4) == 0) {
      const char *e = memmem(s + i + 4, n - i - 4, "-->", 3);
      i = e ? (size_t)((const unsigned char *)e - s) + 3 : n;
      continue;
    }
    size_t k = i + 1;
    if (k < n && (s[k] == '!' || s[k] == '?')) {
      const unsigned char *gt = memchr(s + k, '>', n - k);
      i = gt ? (size_t)(gt - s) + 1 : n;
      wd_buf_appendc(o, ' ');
      continue;
    }
    int closing = 0;
    if (k < n && s[k] == '/')
      closing = 1, k++;
    char name[12];
    size_t nl = 0;
    while (k < n && (is_alnum(s[k]) || s[k] == '-' || s[k] == ':')) {
      if (nl < sizeof(name) - 1)
        name[nl] = (char)ascii_lower(s[k]);
      nl++, k++;
    }
    size_t e =
        nl && norm_cls[s[i + 1 + closing]] == K_LET ? html_tag_end(s, n, k) : n;
    if (e >= n) {
      /* "a < b", "<3", or a tag never closed: the '<' is text. */
      wd_buf_appendc(o, '<');
      i++;
      continue;
    }
    const norm_tag_t *t = NULL;
    if (nl < sizeof(name)) {
      name[nl] = '\0';
      t = bsearch(name, norm_tags, NORM_TAG_CNT, sizeof(*t), tag_cmp);
    }
    if (!t && html_is_plain_word(s, i + 1 + closing, e)) {
      /* "<CONT>", "<CSBF.O>": wire copy writes tickers in angle brackets,
       * and an HTML copy of it writes "&lt;CONT&gt;". Not markup: keep it
       * as text. */
      wd_buf_appendc(o, '<');
      i++;
      continue;
    }
    int kind = t ? t->kind : TAG_OTHER;
    int self_closing = e > i && s[e - 1] == '/';
    i = e + 1;
    switch (kind) {
    case TAG_INLINE:
      break;
    case TAG_RAW:
      if (!closing && !self_closing)
        i = html_skip_raw(s, n, i, name, nl);
      wd_buf_appendc(o, ' ');
      break;
    case TAG_BLOCK:
      markup_lines = 1;
      wd_buf_appendc(o, (char)NORM_PARA);
      break;
    default:
      wd_buf_appendc(o, ' ');
      break;
    }
  }
  return markup_lines;
}

/* ==== Tokens ==== */

/* Per-call state of the token writer. Tokens are written straight into the
 * output; a separator is written when the next token starts, so that no
 * trailing blank or empty line is ever produced. */
typedef struct norm_st_s {
  wd_norm_t *nm;
  wd_buf_t *out;
  size_t tok_start;  /* output offset of the current token */
  size_t prev_start; /* previous token of this line, for "per cent" */
  size_t prev_len;   /* 0: none */
  size_t char_end;   /* output length right after a one-character token */
  int in_tok;
  int tok_alpha; /* the token is all a-z so far: abbreviations may apply */
  int acr_n;     /* letters joined by '.' in an acronym ("u.s.") */
  int last;      /* T_LET or T_DIG: class of the token's last character */
  int apos;      /* an apostrophe is pending after a letter */
  int nl;        /* a line ended: the next separator is '\n' */
  int abbr_known; /* tok_abbrev found the token in the table */
} norm_st_t;

static inline void out_room(wd_buf_t *b, size_t extra) {
  if (b->len + extra + 1 > b->cap)
    wd_buf_reserve(b, extra + 64);
}

static inline void out_put(wd_buf_t *b, char c) {
  out_room(b, 1);
  b->p[b->len++] = c;
}

static int tok_abbrev(norm_st_t *st);
static int tok_rules(norm_st_t *st);
static int tok_fold_first(norm_st_t *st);

/* Cheap, branch-free test: could a spelling rule start anywhere in t? */
static inline unsigned rules_maybe(const wd_norm_t *nm, const char *t,
                                   size_t len) {
  unsigned hit = 0;
  size_t p = 0;
  for (; p + 4 <= len; p++) {
    unsigned q = quad_idx(t + p);
    hit |= ((nm->quad_bits[q >> 3] >> (q & 7)) & 1u) | (t[p] == 'z');
  }
  for (; p < len; p++)
    hit |= t[p] == 'z';
  return hit;
}

/* Could the abbreviation table or a spelling rule change this token? */
static int tok_needs_fold(const wd_norm_t *nm, const char *t, size_t len) {
  if (len <= NORM_ABBREV_MAXLEN &&
      ((nm->abbr_fl[t[0] - 'a'][t[len - 1] - 'a'] >> len) & 1u))
    return 1;
  return len >= 3 && rules_maybe(nm, t, len);
}

static inline void tok_fold_apply(norm_st_t *st) {
  if (!tok_abbrev(st))
    tok_rules(st);
}

/* Fold a token not seen before (in place). @returns whether it may fold:
 * 0 when the prefilter, or folding it, shows that no abbreviation is spelled
 * like it and no rule changes it, in any context (most tokens the prefilter
 * lets through), so its memo slot can say "nothing to do". */
static int tok_fold_new(norm_st_t *st) {
  return tok_needs_fold(st->nm, st->out->p + st->tok_start, st->out->len - st->tok_start) &&
         tok_fold_first(st);
}

/* The slow part of tok_end: a memo miss or a token that folds. */
static void tok_fold(norm_st_t *st, uint64_t *memo_slot, uint64_t key) {
  if (memo_slot && (*memo_slot & ~NORM_MEMO_FOLD) == key) {
    tok_fold_apply(st); /* the memo said so */
    return;
  }
  const int need = tok_fold_new(st);
  if (memo_slot)
    *memo_slot = key | (need ? NORM_MEMO_FOLD : 0);
}

static inline void tok_end(norm_st_t *st) {
  if (!st->in_tok)
    return;
  st->in_tok = 0;
  st->apos = 0;
  size_t len = st->out->len - st->tok_start;
  if (st->tok_alpha && len >= 2 && st->nm->opts.fold_abbrev) {
    if (len <= 8) {
      /* The token's letters are its memo key: a-z bytes are never 0, so the
       * length is implied, and bit 63 is free for the answer. tok_begin
       * left room for this 8-byte load. */
      uint64_t key;
      memcpy(&key, st->out->p + st->tok_start, 8);
      key &= ~0ull >> (64 - 8 * len);
      uint64_t *m =
          &st->nm->memo[(key * 0x9E3779B97F4A7C15ull) >> (64 - NORM_MEMO_BITS)];
      if (*m != key) /* a miss, or a hit whose answer is "fold" */
        tok_fold(st, m, key);
    } else if (len <= 16) {
      uint64_t a, b;
      const char *t = st->out->p + st->tok_start;
      memcpy(&a, t, 8);
      memcpy(&b, t + len - 8, 8);
      b |= (uint64_t)(len & 1) << 7 | (uint64_t)(len & 2) << 14 |
           (uint64_t)(len & 4) << 21 | (uint64_t)(len & 8) << 28;
      uint64_t *m = st->nm->memo2[((a ^ (b * 0xC2B2AE3D27D4EB4Full)) *
                                   0x9E3779B97F4A7C15ull) >>
                                  (64 - NORM_MEMO2_BITS)];
      if (m[0] != a || (m[1] & ~NORM_MEMO_FOLD) != b) {
        const int need = tok_fold_new(st);
        m[0] = a;
        m[1] = b | (need ? NORM_MEMO_FOLD : 0);
      } else if (m[1] & NORM_MEMO_FOLD) {
        tok_fold_apply(st);
      }
    } else {
      tok_fold(st, NULL, 0);
    }
  }
  st->prev_start = st->tok_start;
  st->prev_len = st->out->len - st->tok_start;
}

static inline void tok_begin(norm_st_t *st) {
  out_room(st->out, 16); /* tok_end reads 8 bytes from the token start */
  if (st->out->len) {
    st->out->p[st->out->len++] = st->nl ? '\n' : ' ';
    if (st->nl)
      st->prev_len = 0;
  }
  st->nl = 0;
  st->in_tok = 1;
  st->tok_start = st->out->len;
  st->tok_alpha = 1;
  st->acr_n = 0;
}

/* A token character of class \p cls follows: settle a pending apostrophe,
 * split "5bn" into "5 bn", start a token if none is open. */
static inline void ev_char(norm_st_t *st, int cls) {
  if (st->in_tok) {
    if (st->apos) {
      st->apos = 0;
      if (cls != T_LET)
        tok_end(st);
    } else if (cls == T_LET && st->last == T_DIG) {
      tok_end(st);
    }
  }
  if (!st->in_tok)
    tok_begin(st);
  st->last = cls;
}

static inline void ev_sep(norm_st_t *st) {
  tok_end(st);
}

static inline void ev_line(norm_st_t *st) {
  tok_end(st);
  if (st->out->len)
    st->nl = 1;
}

static inline void ev_apos(norm_st_t *st) {
  /* "it's" -> "its": dropped between letters, a separator elsewhere */
  if (st->in_tok && !st->apos && st->last == T_LET)
    st->apos = 1;
  else
    tok_end(st);
}

/* Look the finished all-a-z token up in the abbreviation table and replace
 * it. @returns 1 if it was replaced. */
static int tok_abbrev(norm_st_t *st) {
  const wd_norm_t *nm = st->nm;
  wd_buf_t *b = st->out;
  const char *t = b->p + st->tok_start;
  size_t len = b->len - st->tok_start;
  uint32_t h = abbr_hash(t, len);
  size_t s = h & (NORM_ABBREV_SLOTS - 1);
  for (; nm->abbr_slot[s]; s = (s + 1) & (NORM_ABBREV_SLOTS - 1)) {
    size_t ai = nm->abbr_slot[s] - 1u;
    const norm_abbrev_t *a = &norm_abbrevs[ai];
    if (nm->abbr_hash[s] != h || nm->abbr_len[ai] != len ||
        memcmp(a->from, t, len) != 0)
      continue;
    st->abbr_known = 1;
    size_t at = st->tok_start;
    if (a->prev) {
      size_t pl = strlen(a->prev);
      if (st->prev_len != pl || memcmp(b->p + st->prev_start, a->prev, pl) != 0)
        return 0; /* "cent" alone stays */
      at = st->prev_start;
      st->tok_start = at;
    }
    size_t tl = nm->abbr_to_len[ai];
    b->len = at;
    out_room(b, tl);
    memcpy(b->p + at, a->to, tl);
    b->len = at + tl;
    return 1;
  }
  return 0;
}

/* tok_fold_apply for a token seen the first time. @returns 0 when nothing
 * could fold it in any context: no abbreviation is spelled like it (one with
 * a previous word may not apply here, but could elsewhere) and no rule
 * matched (every rule changes what it matches). */
static int tok_fold_first(norm_st_t *st) {
  st->abbr_known = 0;
  if (tok_abbrev(st))
    return 1;
  return tok_rules(st) || st->abbr_known;
}

/* Apply the spelling rules to the finished all-a-z token, in place, to a
 * fixed point: normalising the result again changes nothing. A rewrite can
 * make a new match where it was made ("labelll" -> "labell" -> "label") or
 * just before it ("practize" -> "practise" -> "practice"), so the
 * replacement goes back in front of the bytes still to scan, with the last
 * rule_maxlen - 1 bytes already done, and is scanned again. t[0, w) is done,
 * t[r, len) still to scan, w <= r: linear in the token (a hostile token may
 * be megabytes), since every rule keeps or shortens its match and none
 * brings back what another took away. */
static int tok_rules(norm_st_t *st) {
  const wd_norm_t *nm = st->nm;
  wd_buf_t *b = st->out;
  char *t = b->p + st->tok_start;
  size_t len = b->len - st->tok_start;
  size_t w = 0, r = 0;
  int any = 0;
  while (r < len) {
    int hit = 0;
    if (r + 2 < len) {
      unsigned big = (unsigned)(t[r] - 'a') * 26 + (unsigned)(t[r + 1] - 'a');
      unsigned cnt = nm->big_cnt[big];
      for (unsigned k = nm->big_first[big]; cnt--; k++) {
        unsigned ri = nm->rule_idx[k];
        size_t fl = nm->rule_len[ri], tl = nm->rule_to_len[ri];
        if (r + fl > len || memcmp(t + r, norm_rules[ri].from, fl) != 0)
          continue;
        r += fl - tl;
        memcpy(t + r, norm_rules[ri].to, tl); /* within the match: >= w */
        size_t back = w < (size_t)nm->rule_maxlen - 1 ? w
                                                      : (size_t)nm->rule_maxlen - 1;
        memmove(t + r - back, t + w - back, back);
        w -= back;
        r -= back;
        hit = any = 1;
        break;
      }
    }
    if (!hit)
      t[w++] = t[r++];
  }
  b->len = st->tok_start + w;
  return any;
}

/* Scripts written without spaces between words: one token per character. */
static int cp_char_token(int32_t cp) {
  if (cp < 0x0E00)
    return 0;
  return cp <= 0x0EFF ||                     /* Thai, Lao */
         (cp >= 0x1000 && cp <= 0x109F) ||   /* Myanmar */
         (cp >= 0x1780 && cp <= 0x17FF) ||   /* Khmer */
         (cp >= 0x19E0 && cp <= 0x19FF) ||   /* Khmer symbols */
         (cp >= 0x2E80 && cp <= 0x2FDF) ||   /* CJK radicals, Kangxi */
         (cp >= 0x3005 && cp <= 0x3007) ||   /* ideographic iteration, zero */
         (cp >= 0x3021 && cp <= 0x3029) ||   /* Hangzhou numerals */
         (cp >= 0x3031 && cp <= 0x303C) ||   /* kana repeat marks */
         (cp >= 0x3040 && cp <= 0x30FF) ||   /* Hiragana, Katakana */
         (cp >= 0x31F0 && cp <= 0x31FF) ||   /* Katakana extension */
         (cp >= 0x3400 && cp <= 0x4DBF) ||   /* CJK extension A */
         (cp >= 0x4E00 && cp <= 0x9FFF) ||   /* CJK unified */
         (cp >= 0xA9E0 && cp <= 0xA9FF) ||   /* Myanmar extended B */
         (cp >= 0xAA60 && cp <= 0xAA7F) ||   /* Myanmar extended A */
         (cp >= 0xF900 && cp <= 0xFAFF) ||   /* CJK compatibility */
         (cp >= 0x1B000 && cp <= 0x1B16F) || /* kana supplement */
         (cp >= 0x20000 && cp <= 0x323AF);   /* CJK extensions B.. */
}

/* Arabic-script letter variants and digits to one form, after NFKC (so the
 * presentation forms have already become these letters). Urdu keeps its own
 * letters as the canonical ones: Farsi yeh, keheh, heh goal. Yeh barree
 * (U+06D2) stays distinct: it separates words ("ke"/"ki"). @returns -1 to
 * drop the character. */
static inline int32_t cp_fold_arabic(int32_t cp) {
  if (cp >= 0x0660 && cp <= 0x0669)
    return '0' + (cp - 0x0660);
  if (cp >= 0x06F0 && cp <= 0x06F9)
    return '0' + (cp - 0x06F0);
  switch (cp) {
  case 0x0640: /* tatweel: stretches a word, no letter */
    return -1;
  case 0x0649: /* alef maksura */
  case 0x064A: /* Arabic yeh */
    return 0x06CC;
  case 0x0643: /* Arabic kaf */
    return 0x06A9;
  case 0x0647: /* Arabic heh */
  case 0x06BE: /* heh doachashmee */
  case 0x06D5: /* ae */
    return 0x06C1;
  case 0x0671: /* alef wasla */
    return 0x0627;
  default:
    return cp;
  }
}

static void put_cp(norm_st_t *st, int32_t cp) {
  wd_buf_t *b = st->out;
  out_room(b, 4);
  b->len += u8_encode(cp, b->p + b->len);
}

/* One normalised code point from the utf8proc path. */
static void feed_cp(norm_st_t *st, int32_t cp) {
  if (cp >= 0x0640 && cp <= 0x06FF) {
    cp = cp_fold_arabic(cp);
    if (cp < 0)
      return;
  }
  if (cp < 0x80) {
    switch (norm_cls[cp]) {
    case K_LET:
      ev_char(st, T_LET);
      out_put(st->out, (char)ascii_lower((unsigned char)cp));
      return;
    case K_DIG:
      ev_char(st, T_DIG);
      st->tok_alpha = 0;
      out_put(st->out, (char)cp);
      return;
    case K_APOS:
      ev_apos(st);
      return;
    case K_NL:
      ev_line(st);
      return;
    default:
      ev_sep(st);
      return;
    }
  }
  switch (utf8proc_category(cp)) {
  case UTF8PROC_CATEGORY_LU:
  case UTF8PROC_CATEGORY_LL:
  case UTF8PROC_CATEGORY_LT:
  case UTF8PROC_CATEGORY_LM:
  case UTF8PROC_CATEGORY_LO:
  case UTF8PROC_CATEGORY_NL:
    if (cp_char_token(cp)) {
      if (st->in_tok && st->apos)
        st->apos = 0;
      tok_end(st);
      tok_begin(st);
      st->tok_alpha = 0;
      put_cp(st, cp);
      tok_end(st);
      st->char_end = st->out->len;
      return;
    }
    ev_char(st, T_LET);
    st->tok_alpha = 0;
    put_cp(st, cp);
    return;
  case UTF8PROC_CATEGORY_ND:
  case UTF8PROC_CATEGORY_NO:
    ev_char(st, T_DIG);
    st->tok_alpha = 0;
    put_cp(st, cp);
    return;
  case UTF8PROC_CATEGORY_MN:
  case UTF8PROC_CATEGORY_MC:
  case UTF8PROC_CATEGORY_ME:
    /* a mark belongs to the character before it (when marks are kept) */
    if (st->in_tok && !st->apos) {
      st->tok_alpha = 0;
      put_cp(st, cp);
    } else if (!st->in_tok && st->char_end && st->char_end == st->out->len) {
      put_cp(st, cp);
      st->char_end = st->out->len;
      st->prev_len = st->out->len - st->prev_start;
    }
    return;
  case UTF8PROC_CATEGORY_ZL:
  case UTF8PROC_CATEGORY_ZP:
    ev_line(st);
    return;
  default:
    ev_sep(st);
    return;
  }
}

/* Run utf8proc over the valid UTF-8 span s[a..b) and feed the result. */
static void norm_span(wd_norm_t *nm, norm_st_t *st, const unsigned char *s,
                      size_t a, size_t b) {
  if (a >= b)
    return;
  utf8proc_ssize_t r;
  for (;;) {
    r = utf8proc_decompose_custom(s + a, (utf8proc_ssize_t)(b - a), nm->cp,
                                  (utf8proc_ssize_t)nm->cp_cap, nm->u8opts,
                                  NULL, NULL);
    if (r < 0 || (size_t)r <= nm->cp_cap)
      break;
    while (nm->cp_cap < (size_t)r)
      nm->cp_cap *= 2;
    nm->cp = wd_realloc(nm->cp, nm->cp_cap * sizeof(*nm->cp));
  }
  if (r >= 0)
    r = utf8proc_normalize_utf32(nm->cp, r, nm->u8opts);
  if (r < 0) {
    /* Cannot happen on pre-validated input; feed the raw characters so that
     * nothing is lost or repeated. */
    for (size_t i = a; i < b;) {
      int32_t cp;
      size_t k = u8_decode(s + i, b - i, &cp);
      if (!k) {
        ev_sep(st);
        i++;
        continue;
      }
      feed_cp(st, cp);
      i += k;
    }
    return;
  }
  for (utf8proc_ssize_t k = 0; k < r; k++)
    feed_cp(st, nm->cp[k]);
}

/* Does the (non-ASCII) UTF-8 at p start with a combining mark? */
static int norm_is_mark(const wd_norm_t *nm, const unsigned char *p,
                        size_t avail) {
  int32_t cp;
  size_t k = u8_decode(p, avail, &cp);
  if (k == 2)
    return nm->map2[cp - 0x80] == NORM_MAP2_MARK;
  if (k < 2)
    return 0;
  utf8proc_category_t cat = utf8proc_category(cp);
  return cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_MC ||
         cat == UTF8PROC_CATEGORY_ME;
}

/* The non-ASCII run at s[i]. Common punctuation is handled directly; the
 * rest goes to utf8proc span by span. @returns the index after the run. */
static size_t norm_slow(wd_norm_t *nm, norm_st_t *st, const unsigned char *s,
                        size_t n, size_t i) {
  size_t span = i;
  /* Give utf8proc the base letter before the run so that a combining mark
   * composes with it ("e" U+0301 -> "é"). That letter is the last byte of
   * the current token: take it back. */
  if (i > 0 && st->in_tok && !st->apos && is_alnum(s[i - 1]) &&
      st->out->len > st->tok_start && norm_is_mark(nm, s + i, n - i)) {
    st->out->len--;
    span = i - 1;
  }
  while (i < n && s[i] >= 0x80) {
    int32_t cp;
    size_t k = u8_decode(s + i, n - i, &cp);
    if (!k) {
      norm_span(nm, st, s, span, i);
      ev_sep(st); /* invalid byte: a separator */
      span = ++i;
      continue;
    }
    if (k == 2 && nm->map2[cp - 0x80] >= NORM_MAP2_DROP) {
      /* A two-byte character that utf8proc maps to one character (or none)
       * on its own: use the memo of that answer, unless a combining mark
       * follows (then composition needs both, and utf8proc sees both). */
      int next_mark = i + 2 < n && s[i + 2] >= 0x80 &&
                      norm_is_mark(nm, s + i + 2, n - i - 2);
      if (!next_mark) {
        norm_span(nm, st, s, span, i);
        if (nm->map2[cp - 0x80] != NORM_MAP2_DROP)
          feed_cp(st, nm->map2[cp - 0x80]);
        i += 2;
        span = i;
        continue;
      }
    }
    int act = 0; /* 1 sep, 2 apostrophe, 3 line, 4 ignorable */
    if (cp >= 0x2000 && cp <= 0x206F) {
      if (cp <= 0x200A || (cp >= 0x2010 && cp <= 0x2015) ||
          (cp >= 0x201C && cp <= 0x201F) || cp == 0x2026 || cp == 0x202F)
        act = 1;
      else if (cp == 0x2018 || cp == 0x2019 || cp == 0x201B)
        act = 2;
      else if (cp == 0x2028 || cp == 0x2029)
        act = 3;
      else if ((cp >= 0x200B && cp <= 0x200F) ||
               (cp >= 0x202A && cp <= 0x202E) || cp == 0x2060)
        act = 4;
    } else if (cp == 0xA0) {
      act = 1;
    } else if (cp == 0xAD || cp == 0xFEFF) {
      act = 4;
    }
    if (act) {
      norm_span(nm, st, s, span, i);
      if (act == 1)
        ev_sep(st);
      else if (act == 2)
        ev_apos(st);
      else if (act == 3)
        ev_line(st);
      i += k;
      span = i;
      continue;
    }
    i += k;
  }
  norm_span(nm, st, s, span, i);
  return i;
}

/* ==== Main pass ==== */

/* Copy the run of ASCII letters at s[i], lower-cased, to the end of out.
 * @returns the index after the run. */
static inline size_t norm_copy_letters(wd_buf_t *out, const unsigned char *s,
                                       size_t n, size_t i) {
  /* The run is at most n - i bytes (+8 for the word stores): one room check
   * for all of it. Eight bytes at a time: the run's length comes from a bit
   * scan, not from a branch per byte. */
  out_room(out, n - i + 8);
  char *o = out->p + out->len;
  for (;;) {
    if (i + 8 > n) {
      while (i < n && norm_cls[s[i]] == K_LET)
        *o++ = (char)ascii_lower(s[i++]);
      break;
    }
    uint64_t w, lw;
    memcpy(&w, s + i, 8);
    uint64_t let = swar_letters(w);
    lw = w | (let >> 2); /* 0x80 >> 2 == 0x20: to lower case */
    memcpy(o, &lw, 8);
    uint64_t non = ~let & SWAR_HI;
    if (non) {
      size_t k = (size_t)__builtin_ctzll(non) >> 3;
      o += k, i += k;
      break;
    }
    o += 8, i += 8;
  }
  out->len = (size_t)(o - out->p);
  return i;
}

#if NORM_X86
/* Letters, and the "quiet" bytes among the rest, of s[0..64): one bit per
 * byte. A quiet byte is one the word loop below may take as a plain
 * separator: anything but a letter, digit, '\n', '%', NORM_PARA or a byte
 * >= 0x80 (the switch in norm_tokens does more only for those, and for
 * '\'' and '.' right after a word, which the loop checks itself). */
typedef struct norm_mask_s {
  uint64_t let, quiet;
} norm_mask_t;

static inline norm_mask_t norm_classify(const unsigned char *p) {
  /* Signed compares only: x + (0x80 - lo) < -128 + cnt is lo <= x < lo + cnt
   * for ASCII x, and false for every byte >= 0x80. */
  const __m128i l_off = _mm_set1_epi8((char)(0x80 - 'a'));
  const __m128i l_cnt = _mm_set1_epi8((char)(-128 + 26));
  const __m128i d_off = _mm_set1_epi8((char)(0x80 - '0'));
  const __m128i d_cnt = _mm_set1_epi8((char)(-128 + 10));
  norm_mask_t m = {0, 0};
  for (unsigned k = 0; k < 4; k++) {
    const __m128i v = _mm_loadu_si128((const __m128i *)(p + 16 * k));
    const __m128i let = _mm_cmplt_epi8(
        _mm_add_epi8(_mm_or_si128(v, _mm_set1_epi8(0x20)), l_off), l_cnt);
    const __m128i dig = _mm_cmplt_epi8(_mm_add_epi8(v, d_off), d_cnt);
    const __m128i eq = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\n')),
                     _mm_cmpeq_epi8(v, _mm_set1_epi8('%'))),
        _mm_cmpeq_epi8(v, _mm_set1_epi8(NORM_PARA)));
    /* v itself: its sign bit is a byte >= 0x80 */
    const __m128i loud =
        _mm_or_si128(_mm_or_si128(let, dig), _mm_or_si128(eq, v));
    m.let |= (uint64_t)(unsigned)_mm_movemask_epi8(let) << (16 * k);
    m.quiet |= (uint64_t)(~(unsigned)_mm_movemask_epi8(loud) & 0xFFFFu)
               << (16 * k);
  }
  return m;
}

/* Lower-case the ASCII letters s[0..len) to o (which has room for len + 16);
 * s[0..len + 16) is readable. */
static inline void norm_lower_copy(char *o, const unsigned char *s,
                                   size_t len) {
  const __m128i u_off = _mm_set1_epi8((char)(0x80 - 'A'));
  const __m128i u_cnt = _mm_set1_epi8((char)(-128 + 26));
  for (size_t j = 0; j < len; j += 16) {
    const __m128i v = _mm_loadu_si128((const __m128i *)(s + j));
    const __m128i up = _mm_cmplt_epi8(_mm_add_epi8(v, u_off), u_cnt);
    _mm_storeu_si128((__m128i *)(o + j),
                     _mm_or_si128(v, _mm_and_si128(up, _mm_set1_epi8(0x20))));
  }
}

/* Words separated by quiet bytes, the bulk of any text, a 64-byte window of
 * byte classes at a time. Called just after a run of letters with its token
 * still open (as norm_copy_letters leaves it); returns in a state the switch
 * in norm_tokens could have reached at s[i]: that one, or between tokens.
 * Every step is the one the switch takes for the same bytes; what the loop
 * does not handle (digits, newlines, apostrophes, acronyms, non-ASCII, the
 * last 80 bytes, tokens the memo does not know) goes back to the switch or
 * to tok_end. Between those calls the output and the token live in locals:
 * a store through out->p may alias anything, so through st every word would
 * reload the state.
 * @returns the index where the switch carries on. */
static size_t norm_words(norm_st_t *st, const unsigned char *s, size_t n,
                         size_t i) {
  wd_buf_t *out = st->out;
  const wd_norm_t *nm = st->nm;
  if (i + 80 > n)
    return i;
  norm_mask_t m = norm_classify(s + i);
  size_t base = i;
  /* The first token came from the switch, maybe with a non-ASCII part
   * (tok_alpha 0) or as an acronym: settle it the general way. */
  if (!(m.quiet & 1) || s[i] == '\'' ||
      (s[i] == '.' && st->tok_alpha &&
       out->len - st->tok_start == (size_t)st->acr_n + 1))
    return i;
  tok_end(st);
  /* From here every token is ASCII letters begun by this loop: tok_alpha 1,
   * acr_n 0, last T_LET, nl 0, and the output is not empty. */
  const int fold = nm->opts.fold_abbrev;
  char *p = out->p;
  size_t len = out->len, cap = out->cap, ts = st->tok_start;
  size_t prev_start = st->prev_start, prev_len = st->prev_len;
  unsigned o = 0; /* s[base + o]: quiet, between tokens */
  int open = 0;   /* on leaving: is the token [ts, len) open? */
  for (;;) {
    const uint64_t stop = ~m.quiet >> o; /* bit 0 is clear */
    if (!stop) {
      i = base + 64;
      break;
    }
    o += (unsigned)__builtin_ctzll(stop);
    i = base + o;
    const uint64_t rest = ~m.let >> o;
    if ((rest & 1) || rest == 0)
      break; /* not a letter, or a word running past the window */
    if (i + 80 > n)
      break;
    const size_t wl = (size_t)__builtin_ctzll(rest);
    /* tok_begin: room for the word, the 16-byte stores and tok_end's
     * 8-byte load */
    if (len + wl + 34 > cap) {
      out->len = len;
      wd_buf_reserve(out, wl + 64);
      p = out->p;
      cap = out->cap;
    }
    p[len] = ' ';
    ts = len + 1;
    norm_lower_copy(p + ts, s + i, wl);
    len = ts + wl;
    i += wl;
    o += (unsigned)wl;
    /* Just after the word, its token open. Keep 24 bytes of window ahead
     * for the separators and the next word. */
    if (o > 64 - 24) {
      if (i + 80 > n) {
        open = 1;
        break;
      }
      m = norm_classify(s + i);
      base = i;
      o = 0;
    }
    /* The switch keeps the token open at an apostrophe ("it's") and at a
     * dot after a single letter ("u.s."). */
    if (!((m.quiet >> o) & 1) || s[i] == '\'' || (s[i] == '.' && wl == 1)) {
      open = 1;
      break;
    }
    /* tok_end: a token the memo knows needs nothing, or that
     * tok_needs_fold rejects, needs no more. */
    int hit = !fold || wl < 2;
    if (!hit && wl <= 8) {
      uint64_t key;
      memcpy(&key, p + ts, 8);
      key &= ~0ull >> (64 - 8 * wl);
      hit = nm->memo[(key * 0x9E3779B97F4A7C15ull) >> (64 - NORM_MEMO_BITS)] ==
            key;
    } else if (!hit && wl <= 16) {
      /* Nine to sixteen letters: tok_needs_fold with no branch, which beats
       * the memo here (a long word is more often a miss). No abbreviation
       * is that long; the quads at 0..4 (from w[0]), 4..8 (w[1]) and
       * wl-8..wl-4 (w[2]) cover every start a rule can have, and w[0] and
       * w[2] every 'z'. A quad of w[1] may run past a short word into the
       * bytes after it: that can only say yes where tok_needs_fold says no,
       * and tok_end then decides, so no test of the length per quad. */
      uint64_t w[3];
      memcpy(&w[0], p + ts, 8);
      memcpy(&w[1], p + ts + 4, 8);
      memcpy(&w[2], p + ts + wl - 8, 8);
      unsigned need = 0;
      for (unsigned k = 0; k < 3; k += 2) {
        const uint64_t zx = w[k] ^ ('z' * SWAR_ONES);
        need |= ((zx - SWAR_ONES) & ~zx & SWAR_HI) != 0;
      }
      /* fifteen quads (position 4 twice): with fixed bounds the loops
       * unroll, which saves more than the extra quad costs */
#pragma GCC unroll 15
      for (unsigned k = 0; k < 3; k++)
#pragma GCC unroll 5
        for (unsigned q = 0; q + 4 <= 8; q++) {
          const unsigned h = ((uint32_t)(w[k] >> (8 * q)) * 2654435761u) >> 16;
          need |= (unsigned)nm->quad_bits[h >> 3] >> (h & 7);
        }
      hit = !(need & 1u);
    }
    if (hit) {
      prev_start = ts;
      prev_len = wl;
      continue;
    }
    out->len = len;
    st->in_tok = 1;
    st->tok_start = ts;
    st->tok_alpha = 1; /* the first token may have left 0 */
    st->prev_start = prev_start;
    st->prev_len = prev_len;
    tok_end(st);
    p = out->p;
    len = out->len;
    cap = out->cap;
    ts = st->tok_start;
    prev_start = st->prev_start;
    prev_len = st->prev_len;
  }
  out->len = len;
  st->in_tok = open;
  st->apos = 0;
  st->nl = 0;
  st->tok_start = ts;
  st->tok_alpha = 1;
  st->acr_n = 0;
  st->last = T_LET;
  st->prev_start = prev_start;
  st->prev_len = prev_len;
  return i;
}
#endif

/* \p fast: take the vector paths; 0 is the plain byte loop they must agree
 * with (wd_norm_text_ref). */
static inline __attribute__((always_inline)) void
norm_tokens_impl(wd_norm_t *nm, const unsigned char *s, size_t n,
                 int nl_is_space, wd_buf_t *out, const int fast) {
  norm_st_t st;
  memset(&st, 0, sizeof(st));
  st.nm = nm;
  st.out = out;
  size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    switch (norm_cls[c]) {
    case K_LET:
#if NORM_X86
      if (fast) {
        ev_char(&st, T_LET);
        i = norm_copy_letters(out, s, n, i);
        i = norm_words(&st, s, n, i);
        break;
      }
#else
      (void)fast;
#endif
      /* Words separated by single spaces are the bulk of any text: stay in
       * this loop for them instead of going back through the switch. */
      for (;;) {
        ev_char(&st, T_LET);
        i = norm_copy_letters(out, s, n, i);
        if (i + 1 < n && s[i] == ' ' && norm_cls[s[i + 1]] == K_LET) {
          tok_end(&st);
          i++;
          continue;
        }
        break;
      }
      break;
    case K_DIG: {
      ev_char(&st, T_DIG);
      st.tok_alpha = 0;
      out_room(out, n - i + 8);
      char *o = out->p + out->len;
      size_t j = i;
      for (;;) {
        if (j + 8 > n) {
          while (j < n && norm_cls[s[j]] == K_DIG)
            *o++ = (char)s[j++];
          break;
        }
        uint64_t w;
        memcpy(&w, s + j, 8);
        memcpy(o, &w, 8);
        uint64_t non = ~swar_digits(w) & SWAR_HI;
        if (non) {
          size_t k = (size_t)__builtin_ctzll(non) >> 3;
          o += k, j += k;
          break;
        }
        o += 8, j += 8;
      }
      out->len = (size_t)(o - out->p);
      i = j;
      break;
    }
    case K_SP:
      ev_sep(&st);
      i++;
      break;
    case K_PARA:
      ev_line(&st);
      i++;
      break;
    case K_NL: {
      ev_sep(&st);
      if (nl_is_space) {
        i++;
        break;
      }
      /* A blank line, or a line starting indented (wire copy starts its
       * paragraphs with "\n    "), ends the paragraph; a plain newline is
       * only a hard wrap inside one. */
      size_t j = i + 1;
      int indent = 0;
      while (j < n && norm_cls[s[j]] == K_SP) {
        if (s[j] == ' ' || s[j] == '\t')
          indent = 1;
        j++;
      }
      if (indent || (j < n && s[j] == '\n'))
        ev_line(&st);
      i = j;
      break;
    }
    case K_APOS:
      ev_apos(&st);
      i++;
      break;
    case K_COMMA:
      /* "393,000" -> "393000" */
      if (st.in_tok && !st.apos && st.last == T_DIG && i + 1 < n &&
          norm_cls[s[i + 1]] == K_DIG) {
        i++;
        break;
      }
      ev_sep(&st);
      i++;
      break;
    case K_DOT:
      if (st.in_tok && !st.apos && i + 1 < n) {
        /* "9.223" stays one token */
        if (st.last == T_DIG && norm_cls[s[i + 1]] == K_DIG) {
          out_put(out, '.');
          i++;
          break;
        }
        /* "U.S." -> "us": single letters joined by dots */
        if (st.last == T_LET && st.tok_alpha &&
            out->len - st.tok_start == (size_t)st.acr_n + 1 &&
            norm_cls[s[i + 1]] == K_LET &&
            (i + 2 >= n || !is_alnum(s[i + 2]))) {
          st.acr_n++;
          i++;
          break;
        }
      }
      ev_sep(&st);
      i++;
      break;
    case K_PCT:
      /* "5%" reads "5 percent", as the wire's "5 pct" does */
      ev_sep(&st);
      tok_begin(&st);
      st.tok_alpha = 0;
      wd_buf_reserve(out, 8);
      memcpy(out->p + out->len, "percent", 7);
      out->len += 7;
      st.last = T_LET;
      tok_end(&st);
      i++;
      break;
    case K_HI:
      i = norm_slow(nm, &st, s, n, i);
      break;
    default:
      ev_sep(&st);
      i++;
      break;
    }
  }
  tok_end(&st);
  out_room(out, 0);
  out->p[out->len] = '\0';
}

static void norm_tokens(wd_norm_t *nm, const unsigned char *s, size_t n,
                        int nl_is_space, wd_buf_t *out) {
  norm_tokens_impl(nm, s, n, nl_is_space, out, 1);
}

static void norm_tokens_ref(wd_norm_t *nm, const unsigned char *s, size_t n,
                            int nl_is_space, wd_buf_t *out) {
  norm_tokens_impl(nm, s, n, nl_is_space, out, 0);
}

static wd_err_t norm_text(wd_norm_t *nm, const char *src, size_t src_len,
                          wd_buf_t *dst, int fast) {
  const unsigned char *s = (const unsigned char *)src;
  size_t n = src_len;
  norm_scan_fn *scan = fast ? nm->scan : html_next_special;
  wd_buf_clear(dst);
  /* Output is about as long as the input; expansions grow it on demand. */
  wd_buf_reserve(dst, n + (n >> 3) + 64);
  int nl_is_space = 0;
  if (nm->opts.html && n && scan(s, n, 0) < n) {
    nl_is_space = html_to_text(s, n, &nm->html, scan);
    s = (const unsigned char *)nm->html.p;
    n = nm->html.len;
  }
  if (fast)
    norm_tokens(nm, s, n, nl_is_space, dst);
  else
    norm_tokens_ref(nm, s, n, nl_is_space, dst);
  return WD_OK;
}

wd_err_t wd_norm_text(wd_norm_t *nm, const char *src, size_t src_len,
                      wd_buf_t *dst) {
  return norm_text(nm, src, src_len, dst, 1);
}

wd_err_t wd_norm_text_ref(wd_norm_t *nm, const char *src, size_t src_len,
                          wd_buf_t *dst) {
  return norm_text(nm, src, src_len, dst, 0);
}
