/* record.c - JSON record decoding (cJSON), timestamps, JSON string escaping.
 *
 * Validation happens before parsing where it is cheap (size, UTF-8), so a
 * hostile record is refused without building a tree for it. */
#include "wiredup/record.h"
#include "wiredup/log.h"
#include "wiredup/norm.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

struct wd_decoder_s {
  const wd_config_t *cfg;
  wd_buf_t id;
  wd_buf_t text;
  wd_buf_t source;
};

wd_decoder_t *wd_decoder_new(const wd_config_t *cfg) {
  wd_decoder_t *dec = wd_calloc(1, sizeof(*dec));
  dec->cfg = cfg;
  return dec;
}

void wd_decoder_destroy(wd_decoder_t *dec) {
  if (!dec)
    return;
  wd_buf_free(&dec->id);
  wd_buf_free(&dec->text);
  wd_buf_free(&dec->source);
  wd_free(dec);
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

wd_err_t wd_record_decode(wd_decoder_t *dec, const char *json, size_t json_len,
                          const char *key, size_t key_len, int64_t msg_ts_ms,
                          wd_record_t *rec, char *errstr, size_t errstr_size) {
  const wd_config_t *cfg = dec->cfg;
  size_t bad_off = 0;
  wd_err_t err = WD_OK;
  cJSON *obj = NULL;

  memset(rec, 0, sizeof(*rec));
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
    char qid[128], qreason[300];
    WD_LOG(WD_LOG_WARN, "ignored bad timestamp", "id=%s reason=%s",
           wd_log_quote(qid, sizeof(qid), dec->id.p),
           wd_log_quote(qreason, sizeof(qreason), ts_err));
    rec->ts_ms = 0;
    rec->has_ts = 0;
  }
  if (!rec->has_ts && msg_ts_ms >= 0) {
    rec->ts_ms = msg_ts_ms;
    rec->has_ts = 1;
  }
  rec->id = dec->id.p;
  rec->id_len = dec->id.len;
  rec->text = dec->text.p;
  rec->text_len = dec->text.len;

done:
  cJSON_Delete(obj);
  return err;
}
