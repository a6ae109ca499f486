/* record.c - JSON record decoding (cJSON), timestamps, JSON string escaping.
 *
 * Validation happens before parsing where it is cheap (size, UTF-8), so a
 * hostile record is refused without building a tree for it.
 *
 * Records are first tried by a single-pass scanner that validates strict JSON
 * and copies only the wanted fields, straight into the decoder's buffers (no
 * tree, no allocation). It accepts a subset of what cJSON accepts and yields
 * the same values; anything else (an invalid or unusual record, any field
 * error) goes to the cJSON path, which alone produces the error messages. So
 * the answers, and the errors, are those of the cJSON path. */
#include "wiredup/record.h"
#include "wiredup/log.h"
#include "wiredup/norm.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* A field the scanner looks for: its name and, per record, where its value
 * is. Slots: id, source, timestamp, then one per text field. */
typedef struct fslot_s {
  const char *name;
  size_t name_len;
  const char *val; /* first occurrence's value (NULL: absent) */
  const char *val_end;
} fslot_t;

enum { SLOT_ID, SLOT_SOURCE, SLOT_TS, SLOT_TEXT };

struct wd_decoder_s {
  const wd_config_t *cfg;
  wd_buf_t id;
  wd_buf_t text;
  wd_buf_t source;
  wd_buf_t scratch; /* the timestamp string */
  fslot_t *slots;
  size_t nslots;
  int defer_warnings; /* keep the bad-timestamp warning for the caller */
  wd_buf_t warning;   /* its reason, when the last record had one */
};

wd_decoder_t *wd_decoder_new(const wd_config_t *cfg) {
  wd_decoder_t *dec = wd_calloc(1, sizeof(*dec));
  dec->cfg = cfg;
  dec->nslots = SLOT_TEXT + cfg->field_text.cnt;
  dec->slots = wd_calloc(dec->nslots, sizeof(*dec->slots));
  dec->slots[SLOT_ID].name = cfg->field_id;
  dec->slots[SLOT_SOURCE].name = cfg->field_source;
  dec->slots[SLOT_TS].name = cfg->field_timestamp;
  for (size_t i = 0; i < cfg->field_text.cnt; i++)
    dec->slots[SLOT_TEXT + i].name = cfg->field_text.v[i];
  for (size_t i = 0; i < dec->nslots; i++)
    dec->slots[i].name_len = dec->slots[i].name ? strlen(dec->slots[i].name) : 0;
  return dec;
}

void wd_decoder_destroy(wd_decoder_t *dec) {
  if (!dec)
    return;
  wd_buf_free(&dec->id);
  wd_buf_free(&dec->text);
  wd_buf_free(&dec->source);
  wd_buf_free(&dec->scratch);
  wd_buf_free(&dec->warning);
  wd_free(dec->slots);
  wd_free(dec);
}

void wd_decoder_defer_warnings(wd_decoder_t *dec, int on) { dec->defer_warnings = on; }

const char *wd_decoder_warning(const wd_decoder_t *dec) {
  return dec->warning.len ? dec->warning.p : NULL;
}

void wd_record_log_warning(const char *id, const char *reason) {
  char qid[128], qreason[300];
  WD_LOG(WD_LOG_WARN, "ignored bad timestamp", "id=%s reason=%s",
         wd_log_quote(qid, sizeof(qid), id), wd_log_quote(qreason, sizeof(qreason), reason));
}

/* ==== Time ==== */

static int parse_digits(const char *s, size_t n, int *out) {
  int v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 0;
}

int wd_time_parse_rfc3339(const char *s, size_t len, int64_t *ms) {
  int Y, M, D, h, m, sec, frac_ms = 0, off_min = 0;
  size_t i;
  /* YYYY-MM-DDTHH:MM:SS at least */
  if (len < 19 || s[4] != '-' || s[7] != '-' ||
      (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' ||
      s[16] != ':')
    return -1;
  if (parse_digits(s, 4, &Y) || parse_digits(s + 5, 2, &M) ||
      parse_digits(s + 8, 2, &D) || parse_digits(s + 11, 2, &h) ||
      parse_digits(s + 14, 2, &m) || parse_digits(s + 17, 2, &sec))
    return -1;
  if (M < 1 || M > 12 || D < 1 || h > 23 || m > 59 || sec > 60)
    return -1;
  /* timegm would roll "02-30" over into March: a malformed date, refused */
  static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (D > mdays[M - 1] ||
      (M == 2 && D == 29 && (Y % 4 != 0 || (Y % 100 == 0 && Y % 400 != 0))))
    return -1;
  i = 19;
  if (i < len && s[i] == '.') {
    int digits = 0;
    i++;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
      if (digits < 3)
        frac_ms = frac_ms * 10 + (s[i] - '0');
      digits++;
      i++;
    }
    if (digits == 0)
      return -1;
    while (digits < 3)
      frac_ms *= 10, digits++;
  }
  if (i >= len)
    return -1; /* RFC 3339 requires a zone */
  if (s[i] == 'Z' || s[i] == 'z') {
    i++;
  } else if (s[i] == '+' || s[i] == '-') {
    int oh, om;
    if (len - i < 6 || s[i + 3] != ':' || parse_digits(s + i + 1, 2, &oh) ||
        parse_digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
      return -1;
    off_min = (oh * 60 + om) * (s[i] == '-' ? -1 : 1);
    i += 6;
  } else {
    return -1;
  }
  if (i != len)
    return -1;
  struct tm tm;
  memset(&tm, 0, sizeof(tm));
  tm.tm_year = Y - 1900;
  tm.tm_mon = M - 1;
  tm.tm_mday = D;
  tm.tm_hour = h;
  tm.tm_min = m;
  tm.tm_sec = sec > 59 ? 59 : sec;
  time_t t = timegm(&tm);
  *ms = ((int64_t)t - (int64_t)off_min * 60) * 1000 + frac_ms;
  return 0;
}

size_t wd_time_format_rfc3339(char *dst, size_t dst_cap, int64_t ms) {
  int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
  int milli = (int)(ms - secs * 1000);
  time_t t = (time_t)secs;
  struct tm tm;
  int n;
  if (!gmtime_r(&t, &tm))
    memset(&tm, 0, sizeof(tm));
  if (milli)
    n = snprintf(dst, dst_cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, milli);
  else
    n = snprintf(dst, dst_cap, "%04d-%02d-%02dT%02d:%02d:%02dZ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec);
  return n < 0 ? 0 : ((size_t)n < dst_cap ? (size_t)n : dst_cap - 1);
}

/* Epoch milliseconds this far out are almost surely seconds or garbage:
 * years 1900..9999 are accepted. */
#define WD_TS_MIN_MS (-2208988800000LL)
#define WD_TS_MAX_MS (253402300799999LL)

/* ==== JSON ==== */

void wd_json_append_string(wd_buf_t *dst, const char *s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  size_t run = 0;
  wd_buf_reserve(dst, len + 2);
  dst->p[dst->len++] = '"';
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    wd_buf_append(dst, s + run, i - run);
    run = i + 1;
    switch (c) {
    case '"': wd_buf_append(dst, "\\\"", 2); break;
    case '\\': wd_buf_append(dst, "\\\\", 2); break;
    case '\n': wd_buf_append(dst, "\\n", 2); break;
    case '\r': wd_buf_append(dst, "\\r", 2); break;
    case '\t': wd_buf_append(dst, "\\t", 2); break;
    default: {
      char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      wd_buf_append(dst, esc, 6);
    }
    }
  }
  wd_buf_append(dst, s + run, len - run);
  wd_buf_appendc(dst, '"');
}

/* ==== Decode ==== */

/* Whether any of the 8 bytes in \p v is '"', '\\' or a control character
 * (the classic "has zero byte" / "has byte less than" tests; exact as a
 * yes/no answer), so plain text is skipped a word at a time. */
static inline int special8(uint64_t v) {
  const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
  const uint64_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');
  return ((((q - ones) & ~q) | ((b - ones) & ~b) | ((v - ones * 0x20) & ~v)) & highs) != 0;
}

/* How many bytes from \p p on are plain: no '"', '\\' or control byte, so
 * that neither a JSON string nor the text between tokens changes state
 * there. Sixteen (or eight) bytes at a time. */
static inline size_t plain_run(const char *p, const char *end) {
  const char *const start = p;
  while (p < end) {
#ifdef __SSE2__
    if (end - p >= 16) {
      const __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
      const __m128i hit = _mm_or_si128(
          _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')),
                       _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))),
          /* x < 0x20 unsigned: max(x, 0x20) != x */
          _mm_xor_si128(_mm_cmpeq_epi8(_mm_max_epu8(x, _mm_set1_epi8(0x20)), x),
                        _mm_set1_epi8(-1)));
      const int mask = _mm_movemask_epi8(hit);
      if (!mask) {
        p += 16;
        continue;
      }
      return (size_t)(p - start) + (size_t)__builtin_ctz((unsigned)mask);
    }
#endif
    if (end - p >= 8) {
      uint64_t v;
      memcpy(&v, p, 8);
      if (!special8(v)) {
        p += 8;
        continue;
      }
    }
    if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
      break;
    p++;
  }
  return (size_t)(p - start);
}

/* Bytes cJSON would take but should not:
 *  - a byte below 0x20 inside a string, or between tokens other than tab,
 *    LF and CR (RFC 8259 forbids them; cJSON takes them as blank or text);
 *  - the escape \u0000 in a string: cJSON's strings end at a NUL, so the
 *    rest would vanish silently (ids "a\u0000b" and "a\u0000c" would be
 *    the same article).
 * @returns the offset of the first, with *why set, or len if there is none. */
static size_t json_bad_byte(const char *json, size_t len, const char **why) {
  int in_str = 0;
  for (size_t i = 0; i < len; i++) {
    i += plain_run(json + i, json + len);
    if (i >= len)
      break;
    unsigned char c = (unsigned char)json[i];
    if (c < 0x20) {
      if (in_str || (c != '\t' && c != '\n' && c != '\r')) {
        *why = "raw control byte";
        return i;
      }
    } else if (in_str && c == '\\') {
      if (i + 5 < len && memcmp(json + i + 1, "u0000", 5) == 0) {
        *why = "\\u0000 (NUL) in a string";
        return i;
      }
      i++; /* the escaped byte: cJSON checks it, but not for < 0x20 */
      if (i < len && (unsigned char)json[i] < 0x20) {
        *why = "raw control byte";
        return i;
      }
    } else if (c == '"') {
      in_str = !in_str;
    }
  }
  return len;
}

/* Did the text nest arrays/objects deeper than cJSON's limit before byte
 * \p upto? Only asked after a parse error, to give the real reason. */
static int json_too_deep(const char *json, size_t upto) {
  size_t depth = 0;
  int in_str = 0;
  for (size_t i = 0; i < upto; i++) {
    char c = json[i];
    if (in_str) {
      if (c == '\\')
        i++;
      else if (c == '"')
        in_str = 0;
    } else if (c == '"') {
      in_str = 1;
    } else if (c == '[' || c == '{') {
      if (++depth > CJSON_NESTING_LIMIT)
        return 1;
    } else if ((c == ']' || c == '}') && depth) {
      depth--;
    }
  }
  return 0;
}

static const cJSON *field(const cJSON *obj, const char *name) {
  return name && *name ? cJSON_GetObjectItemCaseSensitive(obj, name) : NULL;
}

/* An id is a non-empty string or an integer-valued number. */
static wd_err_t decode_id(wd_decoder_t *dec, const cJSON *v, char *errstr,
                          size_t errstr_size) {
  const char *name = dec->cfg->field_id;
  wd_buf_clear(&dec->id);
  WD_RETURN_IF(!v, WD_ERR_INPUT, errstr, errstr_size, "missing id field \"%s\"", name);
  if (cJSON_IsString(v)) {
    size_t n = strlen(v->valuestring);
    WD_RETURN_IF(n == 0, WD_ERR_INPUT, errstr, errstr_size, "empty id field \"%s\"", name);
    wd_buf_append(&dec->id, v->valuestring, n);
    return WD_OK;
  }
  if (cJSON_IsNumber(v)) {
    double d = v->valuedouble;
    WD_RETURN_IF(!isfinite(d) || d != floor(d) || fabs(d) > 9007199254740992.0,
                 WD_ERR_INPUT, errstr, errstr_size,
                 "id field \"%s\" is not an integer", name);
    wd_buf_printf(&dec->id, "%lld", (long long)d);
    return WD_OK;
  }
  wd_errstr_set(errstr, errstr_size, "id field \"%s\" is not a string or integer", name);
  return WD_ERR_INPUT;
}

static wd_err_t decode_text(wd_decoder_t *dec, const cJSON *obj, char *errstr,
                            size_t errstr_size) {
  const wd_strlist_t *names = &dec->cfg->field_text;
  int found = 0;
  wd_buf_clear(&dec->text);
  for (size_t i = 0; i < names->cnt; i++) {
    const cJSON *v = field(obj, names->v[i]);
    if (!v || cJSON_IsNull(v))
      continue;
    WD_RETURN_IF(!cJSON_IsString(v), WD_ERR_INPUT, errstr, errstr_size,
                 "text field \"%s\" is not a string", names->v[i]);
    if (found)
      wd_buf_append(&dec->text, "\n\n", 2);
    wd_buf_appends(&dec->text, v->valuestring);
    found = 1;
  }
  if (!found) {
    wd_errstr_set(errstr, errstr_size, "missing text field \"%s\"",
                  names->cnt ? names->v[0] : "");
    return WD_ERR_INPUT;
  }
  return WD_OK;
}

static wd_err_t decode_ts(const wd_config_t *cfg, const cJSON *v, int64_t *ms,
                          int *has, char *errstr, size_t errstr_size) {
  const char *name = cfg->field_timestamp;
  if (!v || cJSON_IsNull(v))
    return WD_OK;
  if (cJSON_IsString(v)) {
    WD_RETURN_IF(wd_time_parse_rfc3339(v->valuestring, strlen(v->valuestring), ms) != 0,
                 WD_ERR_INPUT, errstr, errstr_size,
                 "timestamp field \"%s\" is not RFC 3339", name);
  } else if (cJSON_IsNumber(v)) {
    double d = v->valuedouble;
    WD_RETURN_IF(!isfinite(d) || d != floor(d), WD_ERR_INPUT, errstr, errstr_size,
                 "timestamp field \"%s\" is not an integer of epoch ms", name);
    WD_RETURN_IF(d < (double)WD_TS_MIN_MS || d > (double)WD_TS_MAX_MS, WD_ERR_INPUT,
                 errstr, errstr_size, "timestamp field \"%s\" is out of range", name);
    *ms = (int64_t)d;
  } else {
    wd_errstr_set(errstr, errstr_size,
                  "timestamp field \"%s\" is not a string or number", name);
    return WD_ERR_INPUT;
  }
  WD_RETURN_IF(*ms < WD_TS_MIN_MS || *ms > WD_TS_MAX_MS, WD_ERR_INPUT, errstr,
               errstr_size, "timestamp field \"%s\" is out of range", name);
  *has = 1;
  return WD_OK;
}

/* The last step of both paths: the Kafka time when the record has none, and
 * the decoder's buffers into \p rec. */
static void finish_record(const wd_decoder_t *dec, int64_t msg_ts_ms, wd_record_t *rec) {
  if (!rec->has_ts && msg_ts_ms >= 0) {
    rec->ts_ms = msg_ts_ms;
    rec->has_ts = 1;
  }
  rec->id = dec->id.p;
  rec->id_len = dec->id.len;
  /* an empty text (all text fields "") leaves the buffer unallocated */
  rec->text = dec->text.p ? dec->text.p : "";
  rec->text_len = dec->text.len;
}

/* ==== Fast path ==== */

/* Deeper nesting goes to cJSON (its own limit is CJSON_NESTING_LIMIT). */
#define FAST_MAX_DEPTH 64
/* cJSON reads at most 63 characters of a number. */
#define FAST_MAX_NUMBER 63

static const char *skip_ws(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    p++;
  return p;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static int hex4(const char *p, const char *end, uint32_t *out) {
  uint32_t v = 0;
  if (end - p < 4)
    return -1;
  for (int i = 0; i < 4; i++) {
    int h = hexval(p[i]);
    if (h < 0)
      return -1;
    v = v << 4 | (uint32_t)h;
  }
  *out = v;
  return 0;
}

/* Scan the string whose opening quote is at \p p. When \p dst is not NULL the
 * decoded bytes are appended to it. Returns the byte after the closing quote,
 * or NULL for anything the fast path leaves to cJSON: raw control
 * characters, bad escapes, lone surrogates (cJSON fails on them) and \u0000
 * (cJSON's C strings end there). */
static const char *scan_string(const char *p, const char *end, wd_buf_t *dst) {
  p++;
  for (;;) {
    const char *run = p;
    p += plain_run(p, end);
    if (dst && p > run)
      wd_buf_append(dst, run, (size_t)(p - run));
    if (p >= end || (unsigned char)*p < 0x20)
      return NULL;
    if (*p == '"')
      return p + 1;
    if (++p >= end)
      return NULL;
    char c;
    switch (*p++) {
    case '"': c = '"'; break;
    case '\\': c = '\\'; break;
    case '/': c = '/'; break;
    case 'b': c = '\b'; break;
    case 'f': c = '\f'; break;
    case 'n': c = '\n'; break;
    case 'r': c = '\r'; break;
    case 't': c = '\t'; break;
    case 'u': {
      uint32_t cp, lo;
      if (hex4(p, end, &cp))
        return NULL;
      p += 4;
      if (cp == 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
        return NULL;
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, end, &lo) ||
            lo < 0xDC00 || lo > 0xDFFF)
          return NULL;
        p += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      }
      if (dst) {
        char u[4];
        size_t n;
        if (cp < 0x80) {
          u[0] = (char)cp, n = 1;
        } else if (cp < 0x800) {
          u[0] = (char)(0xC0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
        } else if (cp < 0x10000) {
          u[0] = (char)(0xE0 | cp >> 12), u[1] = (char)(0x80 | (cp >> 6 & 0x3F));
          u[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
        } else {
          u[0] = (char)(0xF0 | cp >> 18), u[1] = (char)(0x80 | (cp >> 12 & 0x3F));
          u[2] = (char)(0x80 | (cp >> 6 & 0x3F)), u[3] = (char)(0x80 | (cp & 0x3F));
          n = 4;
        }
        wd_buf_append(dst, u, n);
      }
      continue;
    }
    default:
      return NULL;
    }
    if (dst)
      wd_buf_appendc(dst, c);
  }
}

/* A strict JSON number; NULL if malformed or longer than cJSON reads. */
static const char *scan_number(const char *p, const char *end) {
  const char *start = p;
  if (p < end && *p == '-')
    p++;
  if (p < end && *p == '0') {
    p++;
  } else {
    if (p >= end || *p < '1' || *p > '9')
      return NULL;
    while (p < end && *p >= '0' && *p <= '9')
      p++;
  }
  if (p < end && *p == '.') {
    if (++p >= end || *p < '0' || *p > '9')
      return NULL;
    while (p < end && *p >= '0' && *p <= '9')
      p++;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    if (++p < end && (*p == '+' || *p == '-'))
      p++;
    if (p >= end || *p < '0' || *p > '9')
      return NULL;
    while (p < end && *p >= '0' && *p <= '9')
      p++;
  }
  return p - start > FAST_MAX_NUMBER ? NULL : p;
}

static const char *scan_value(const char *p, const char *end, int depth);

static const char *scan_container(const char *p, const char *end, int depth) {
  const char close = *p == '{' ? '}' : ']';
  const int is_obj = close == '}';
  if (depth > FAST_MAX_DEPTH)
    return NULL;
  p = skip_ws(p + 1, end);
  if (p < end && *p == close)
    return p + 1;
  for (;;) {
    if (is_obj) {
      if (p >= end || *p != '"' || !(p = scan_string(p, end, NULL)))
        return NULL;
      p = skip_ws(p, end);
      if (p >= end || *p != ':')
        return NULL;
      p = skip_ws(p + 1, end);
    }
    if (!(p = scan_value(p, end, depth + 1)))
      return NULL;
    p = skip_ws(p, end);
    if (p < end && *p == ',') {
      p = skip_ws(p + 1, end);
      continue;
    }
    return p < end && *p == close ? p + 1 : NULL;
  }
}

static const char *scan_literal(const char *p, const char *end, const char *lit,
                                size_t n) {
  return (size_t)(end - p) >= n && memcmp(p, lit, n) == 0 ? p + n : NULL;
}

static const char *scan_value(const char *p, const char *end, int depth) {
  if (p >= end)
    return NULL;
  switch (*p) {
  case '"': return scan_string(p, end, NULL);
  case '{':
  case '[': return scan_container(p, end, depth);
  case 't': return scan_literal(p, end, "true", 4);
  case 'f': return scan_literal(p, end, "false", 5);
  case 'n': return scan_literal(p, end, "null", 4);
  default: return scan_number(p, end);
  }
}

/* The top-level object: validate it all and note where each wanted field's
 * first value is. Returns 0, or -1 to leave the record to cJSON. */
static int scan_record(wd_decoder_t *dec, const char *json, size_t len) {
  const char *end = json + len;
  const char *p = skip_ws(json, end);
  for (size_t i = 0; i < dec->nslots; i++)
    dec->slots[i].val = NULL;
  if (p >= end || *p != '{')
    return -1;
  p = skip_ws(p + 1, end);
  if (p < end && *p == '}') {
    p++;
  } else {
    for (;;) {
      if (p >= end || *p != '"')
        return -1;
      const char *key = p + 1;
      if (!(p = scan_string(p, end, NULL)))
        return -1;
      const size_t key_len = (size_t)(p - 1 - key);
      /* a key with escapes is compared unescaped by cJSON: leave it to it */
      if (memchr(key, '\\', key_len))
        return -1;
      p = skip_ws(p, end);
      if (p >= end || *p != ':')
        return -1;
      const char *val = p = skip_ws(p + 1, end);
      if (!(p = scan_value(p, end, 1)))
        return -1;
      for (size_t i = 0; i < dec->nslots; i++) {
        fslot_t *s = &dec->slots[i];
        if (!s->val && s->name_len && s->name_len == key_len &&
            memcmp(s->name, key, key_len) == 0) {
          s->val = val;
          s->val_end = p;
        }
      }
      p = skip_ws(p, end);
      if (p < end && *p == ',') {
        p = skip_ws(p + 1, end);
        continue;
      }
      if (p >= end || *p != '}')
        return -1;
      p++;
      break;
    }
  }
  return skip_ws(p, end) == end ? 0 : -1;
}

/* The value of a number slot, as cJSON computes it (strtod of its text). */
static double slot_number(const fslot_t *s) {
  char tmp[FAST_MAX_NUMBER + 1];
  size_t n = (size_t)(s->val_end - s->val);
  memcpy(tmp, s->val, n);
  tmp[n] = '\0';
  return strtod(tmp, NULL);
}

static int slot_is(const fslot_t *s, char c) { return s->val && *s->val == c; }
static int slot_is_number(const fslot_t *s) {
  return s->val && (*s->val == '-' || (*s->val >= '0' && *s->val <= '9'));
}

/* Decode a record the fast way. Returns 0 with \p rec filled (as the cJSON
 * path would), or -1 when the record must go the cJSON way. */
static int fast_decode(wd_decoder_t *dec, const char *json, size_t json_len,
                       const char *key, size_t key_len, int64_t msg_ts_ms,
                       wd_record_t *rec) {
  if (scan_record(dec, json, json_len) != 0)
    return -1;
  const fslot_t *sid = &dec->slots[SLOT_ID], *ssrc = &dec->slots[SLOT_SOURCE];
  const fslot_t *sts = &dec->slots[SLOT_TS];

  wd_buf_clear(&dec->id);
  if (key && key_len) {
    wd_buf_append(&dec->id, key, key_len);
  } else if (slot_is(sid, '"')) {
    scan_string(sid->val, sid->val_end, &dec->id);
    if (dec->id.len == 0)
      return -1;
  } else if (slot_is_number(sid)) {
    double d = slot_number(sid);
    if (!isfinite(d) || d != floor(d) || fabs(d) > 9007199254740992.0)
      return -1;
    wd_buf_printf(&dec->id, "%lld", (long long)d);
  } else {
    return -1;
  }

  int found = 0;
  wd_buf_clear(&dec->text);
  for (size_t i = SLOT_TEXT; i < dec->nslots; i++) {
    const fslot_t *s = &dec->slots[i];
    if (!s->val || *s->val == 'n')
      continue;
    if (*s->val != '"')
      return -1;
    if (found)
      wd_buf_append(&dec->text, "\n\n", 2);
    scan_string(s->val, s->val_end, &dec->text);
    found = 1;
  }
  if (!found)
    return -1;

  wd_buf_clear(&dec->source);
  if (slot_is(ssrc, '"')) {
    scan_string(ssrc->val, ssrc->val_end, &dec->source);
    if (dec->source.len) {
      rec->source = dec->source.p;
      rec->source_len = dec->source.len;
    }
  }

  if (slot_is(sts, '"')) {
    wd_buf_clear(&dec->scratch);
    scan_string(sts->val, sts->val_end, &dec->scratch);
    if (wd_time_parse_rfc3339(dec->scratch.p ? dec->scratch.p : "", dec->scratch.len,
                              &rec->ts_ms) != 0 ||
        rec->ts_ms < WD_TS_MIN_MS || rec->ts_ms > WD_TS_MAX_MS)
      return -1;
    rec->has_ts = 1;
  } else if (slot_is_number(sts)) {
    double d = slot_number(sts);
    if (!isfinite(d) || d != floor(d) || d < (double)WD_TS_MIN_MS ||
        d > (double)WD_TS_MAX_MS)
      return -1;
    rec->ts_ms = (int64_t)d;
    rec->has_ts = 1;
  } else if (sts->val && *sts->val != 'n') {
    return -1;
  }
  finish_record(dec, msg_ts_ms, rec);
  return 0;
}

wd_err_t wd_record_decode(wd_decoder_t *dec, const char *json, size_t json_len,
                          const char *key, size_t key_len, int64_t msg_ts_ms,
                          wd_record_t *rec, char *errstr, size_t errstr_size) {
  const wd_config_t *cfg = dec->cfg;
  size_t bad_off = 0;
  wd_err_t err = WD_OK;
  cJSON *obj = NULL;

  memset(rec, 0, sizeof(*rec));
  wd_buf_clear(&dec->warning);
  WD_RETURN_IF(json_len > (size_t)cfg->input_max_bytes, WD_ERR_INPUT, errstr,
               errstr_size, "record of %zu bytes exceeds input.max_bytes (%lld)",
               json_len, (long long)cfg->input_max_bytes);
  WD_RETURN_IF(!wd_norm_utf8_valid(json, json_len, &bad_off), WD_ERR_INPUT,
               errstr, errstr_size, "not valid UTF-8 (byte offset %zu)", bad_off);
  if (key && key_len) {
    WD_RETURN_IF(!wd_norm_utf8_valid(key, key_len, &bad_off), WD_ERR_INPUT,
                 errstr, errstr_size, "key is not valid UTF-8");
    /* The id is a C string downstream: a NUL would cut it short. */
    WD_RETURN_IF(memchr(key, '\0', key_len), WD_ERR_INPUT, errstr, errstr_size,
                 "key contains a NUL byte");
  }

  const char *why = NULL;
  size_t bad = json_bad_byte(json, json_len, &why);
  WD_RETURN_IF(bad < json_len, WD_ERR_INPUT, errstr, errstr_size,
               "not valid JSON (%s at byte %zu)", why, bad);

  /* an empty value (a Kafka tombstone too): cJSON would leave no position */
  WD_RETURN_IF(json_len == 0, WD_ERR_INPUT, errstr, errstr_size,
               "not valid JSON (empty record)");

  if (fast_decode(dec, json, json_len, key, key_len, msg_ts_ms, rec) == 0)
    return WD_OK;
  memset(rec, 0, sizeof(*rec));

  const char *end = NULL;
  obj = cJSON_ParseWithLengthOpts(json, json_len, &end, 0);
  if (!obj) {
    /* end is set on failure; cJSON_GetErrorPtr() is a global, and may be
     * another record's (or thread's) pointer */
    size_t at = end ? (size_t)(end - json) : 0;
    at = at > json_len ? json_len : at;
    if (json_too_deep(json, at < json_len ? at + 1 : json_len))
      wd_errstr_set(errstr, errstr_size,
                    "not valid JSON (nested deeper than %d levels)", CJSON_NESTING_LIMIT);
    else
      wd_errstr_set(errstr, errstr_size, "not valid JSON (near byte %zu)", at);
    return WD_ERR_INPUT;
  }
  /* cJSON stops at the first value: anything but blanks after it is junk */
  for (const char *p = end; p && p < json + json_len; p++) {
    if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
      wd_errstr_set(errstr, errstr_size, "not valid JSON (trailing data at byte %zu)",
                    (size_t)(p - json));
      err = WD_ERR_INPUT;
      goto done;
    }
  }
  if (!cJSON_IsObject(obj)) {
    wd_errstr_set(errstr, errstr_size, "not a JSON object");
    err = WD_ERR_INPUT;
    goto done;
  }

  if (key && key_len) {
    wd_buf_clear(&dec->id);
    wd_buf_append(&dec->id, key, key_len);
  } else if ((err = decode_id(dec, field(obj, cfg->field_id), errstr, errstr_size)))
    goto done;
  if ((err = decode_text(dec, obj, errstr, errstr_size)))
    goto done;

  const cJSON *src = field(obj, cfg->field_source);
  wd_buf_clear(&dec->source);
  if (src && cJSON_IsString(src) && src->valuestring[0]) {
    wd_buf_appends(&dec->source, src->valuestring);
    rec->source = dec->source.p;
    rec->source_len = dec->source.len;
  }

  char ts_err[256];
  if (decode_ts(cfg, field(obj, cfg->field_timestamp), &rec->ts_ms, &rec->has_ts,
                ts_err, sizeof(ts_err)) != WD_OK) {
    /* The contract refuses a record for its JSON, id, text, encoding or
     * size only; the timestamp is optional, so a malformed or out-of-range
     * one counts as absent (then the message time, else arrival order). */
    if (dec->defer_warnings)
      wd_buf_appends(&dec->warning, ts_err);
    else
      wd_record_log_warning(dec->id.p, ts_err);
    rec->ts_ms = 0;
    rec->has_ts = 0;
  }
  finish_record(dec, msg_ts_ms, rec);

done:
  cJSON_Delete(obj);
  return err;
}
