/* test_record.c - record decoding: the fast scanner and the cJSON path agree.
 *
 * A leading UTF-8 byte-order mark sends a record down the cJSON path (the
 * scanner leaves it to cJSON, which skips it), so decoding every case with
 * and without one compares the two paths on the same record: same outcome,
 * same id, text, source and time. Known answers pin the values themselves. */
#include "wd_test.h"
#include "wiredup/config.h"
#include "wiredup/log.h"
#include "wiredup/mem.h"
#include "wiredup/record.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define BOM "\xef\xbb\xbf"

typedef struct outcome_s {
  wd_err_t err;
  char id[256], text[1024], source[128];
  size_t id_len, text_len, source_len; /* lengths as decoded (NULs included) */
  int has_source, has_ts;
  int64_t ts;
} outcome_t;

static void decode(wd_decoder_t *dec, const char *json, size_t len, const char *key,
                   outcome_t *o) {
  wd_record_t rec;
  char err[256];
  memset(o, 0, sizeof(*o));
  o->err = wd_record_decode(dec, json, len, key, key ? strlen(key) : 0, -1, &rec, err,
                            sizeof(err));
  if (o->err != WD_OK)
    return;
  snprintf(o->id, sizeof(o->id), "%.*s", (int)rec.id_len, rec.id);
  snprintf(o->text, sizeof(o->text), "%.*s", (int)rec.text_len, rec.text);
  o->id_len = rec.id_len;
  o->text_len = rec.text_len;
  if (rec.source) {
    o->has_source = 1;
    o->source_len = rec.source_len;
    snprintf(o->source, sizeof(o->source), "%.*s", (int)rec.source_len, rec.source);
  }
  o->has_ts = rec.has_ts;
  o->ts = rec.ts_ms;
}

/* Decode \p json both ways; fail unless the outcomes agree. */
static int agree(wd_decoder_t *dec, const char *json, size_t len, const char *key,
                 outcome_t *fast) {
  static char buf[8192];
  outcome_t slow;
  WD_T_ASSERT(len + 3 < sizeof(buf), "case too long");
  memcpy(buf, BOM, 3);
  memcpy(buf + 3, json, len);
  decode(dec, json, len, key, fast);
  decode(dec, buf, len + 3, key, &slow);
  WD_T_ASSERT(fast->err == slow.err, "%.*s: err %d vs cJSON %d", (int)len, json,
              fast->err, slow.err);
  WD_T_ASSERT(!strcmp(fast->id, slow.id) && fast->id_len == slow.id_len,
              "%.*s: id '%s' vs '%s'", (int)len, json, fast->id, slow.id);
  WD_T_ASSERT(!strcmp(fast->text, slow.text) && fast->text_len == slow.text_len,
              "%.*s: text differs (%zu vs %zu bytes)", (int)len, json, fast->text_len,
              slow.text_len);
  WD_T_ASSERT(fast->source_len == slow.source_len, "%.*s: source length", (int)len, json);
  WD_T_ASSERT(fast->has_source == slow.has_source && !strcmp(fast->source, slow.source),
              "%.*s: source '%s' vs '%s'", (int)len, json, fast->source, slow.source);
  WD_T_ASSERT(fast->has_ts == slow.has_ts && fast->ts == slow.ts,
              "%.*s: ts %lld vs %lld", (int)len, json, (long long)fast->ts,
              (long long)slow.ts);
  return 0;
}

static const struct {
  const char *json;
  wd_err_t err;
  const char *id, *text; /* when err == WD_OK */
} cases[] = {
    {"{\"id\":\"a\",\"body\":\"x y\"}", WD_OK, "a", "x y"},
    {"{\"id\":\"a\",\"body\":\"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\" \\\\ \\/ \\n\\t\"}",
     WD_OK, "a", "caf\xc3\xa9 \xf0\x9f\x98\x80 \"q\" \\ / \n\t"},
    {"{\"id\":\"a\",\"body\":\"\\b\\f\\r\\u0041\\u07ff\\uffff\"}", WD_OK, "a",
     "\b\f\rA\xdf\xbf\xef\xbf\xbf"},
    {"{\"id\":\"a\",\"body\":\"lone \\ud83d\"}", WD_ERR_INPUT, NULL, NULL},
    {"{\"id\":\"a\",\"body\":\"lone \\ude00\"}", WD_ERR_INPUT, NULL, NULL},
    {"{\"id\":\"a\",\"body\":\"nul \\u0000 cut\"}", WD_ERR_INPUT, NULL, NULL},
    {"{\"id\":\"a\",\"body\":\"raw\ttab\"}", WD_ERR_INPUT, NULL, NULL},
    {"{\"id\":\"a\",\"id\":\"b\",\"body\":\"one\",\"body\":\"two\"}", WD_OK, "a", "one"},
    {"{\"id\":12345,\"body\":\"x\"}", WD_OK, "12345", "x"},
    {"{\"id\":-0,\"body\":\"x\"}", WD_OK, "0", "x"},
    {"{\"id\":1e3,\"body\":\"x\"}", WD_OK, "1000", "x"},
    {"{\"id\":1.5,\"body\":\"x\"}", WD_ERR_INPUT, NULL, NULL},
    {"{\"id\":1E400,\"body\":\"x\"}", WD_ERR_INPUT, NULL, NULL},
    {"{\"id\":true,\"body\":\"x\"}", WD_ERR_INPUT, NULL, NULL},
    {"{\"id\":\"\",\"body\":\"x\"}", WD_ERR_INPUT, NULL, NULL},
    {"{\"id\":\"a\",\"body\":null}", WD_ERR_INPUT, NULL, NULL},
    {"{\"id\":\"a\",\"body\":42}", WD_ERR_INPUT, NULL, NULL},
    {"{\"id\":\"a\",\"body\":\"x\",\"published_at\":\"2026-01-01T00:00:00Z\"}", WD_OK, "a", "x"},
    {"{\"id\":\"a\",\"body\":\"x\",\"published_at\":1767225600000}", WD_OK, "a", "x"},
    {"{\"id\":\"a\",\"body\":\"x\",\"published_at\":\"bad\"}", WD_OK, "a", "x"},
    {"{\"id\":\"a\",\"body\":\"x\",\"published_at\":1.5}", WD_OK, "a", "x"},
    {"{\"id\":\"a\",\"body\":\"x\",\"published_at\":-99999999999999999}", WD_OK, "a", "x"},
    {"{\"id\":\"a\",\"body\":\"x\",\"published_at\":[1]}", WD_OK, "a", "x"},
    {"{\"id\":\"a\",\"body\":\"x\",\"published_at\":null,\"source\":\"\"}", WD_OK, "a", "x"},
    {"{\"id\":\"a\",\"body\":\"x\",\"source\":5}", WD_OK, "a", "x"},
    {"{\"id\":\"a\",\"body\":\"x\",\"source\":\"s\\u00e9\"}", WD_OK, "a", "x"},
    {"{\"id\":\"a\",\"n\":{\"a\":[1,2,{\"b\":null}],\"c\":\"\\u00e9\"},\"body\":\"x\"}", WD_OK, "a", "x"},
    {"{\"b\\u006fdy\":\"x\",\"id\":\"a\"}", WD_OK, "a", "x"},
    {" \n{ \"id\" : \"a\" , \"body\" : \"x\" } \r\n", WD_OK, "a", "x"},
    {"{\"id\":\"a\",\"body\":\"x\"} x", WD_ERR_INPUT, NULL, NULL},
    {"{\"id\":\"a\",\"body\":\"x\",}", WD_ERR_INPUT, NULL, NULL},
    /* cJSON is lenient here; the scanner leaves these to it */
    {"{\"id\":\"a\",\"body\":\"x\",\"n\":01}", WD_OK, "a", "x"},
    {"{\"id\":\"a\",\"body\":\"x\",\"n\":1.}", WD_OK, "a", "x"},
    {"{\"id\":\"a\",\"body\":\"x\",\"n\":-}", WD_ERR_INPUT, NULL, NULL},
    {"{\"id\":\"a\",\"body\":\"x\",\"n\":tru}", WD_ERR_INPUT, NULL, NULL},
    {"{\"id\":\"a\",\"body\":\"x\",\"n\":\"\\x\"}", WD_ERR_INPUT, NULL, NULL},
    {"{\"id\":\"a\",\"body\":\"x\",\"n\":\"\\u12\"}", WD_ERR_INPUT, NULL, NULL},
    {"{\"id\":\"a\",\"body\":\"x\",\"n\":\x01 1}", WD_ERR_INPUT, NULL, NULL},
    {"{\"id\":\"a\",\"body\":\"x\",\"n\":1e5,\"m\":-0.5e-3,\"z\":false}", WD_OK, "a", "x"},
    {"{\"id\":\"a\",\"body\":\"x\"", WD_ERR_INPUT, NULL, NULL},
    {"[1,2]", WD_ERR_INPUT, NULL, NULL},
    {"\"s\"", WD_ERR_INPUT, NULL, NULL},
    {"{}", WD_ERR_INPUT, NULL, NULL},
    {NULL, WD_OK, NULL, NULL},
};

static int test_cases(void) {
  wd_config_t *cfg = wd_config_new();
  wd_decoder_t *dec = wd_decoder_new(cfg);
  int failed = 0;
  for (int i = 0; cases[i].json; i++) {
    outcome_t o;
    if (agree(dec, cases[i].json, strlen(cases[i].json), NULL, &o)) {
      failed++;
      continue;
    }
    if (o.err != cases[i].err) {
      fprintf(stderr, "case %d %s: err %d, want %d\n", i, cases[i].json, o.err, cases[i].err);
      failed++;
    } else if (o.err == WD_OK && (strcmp(o.id, cases[i].id) || strcmp(o.text, cases[i].text))) {
      fprintf(stderr, "case %d %s: id '%s' text '%s'\n", i, cases[i].json, o.id, o.text);
      failed++;
    }
  }
  wd_decoder_destroy(dec);
  wd_config_destroy(cfg);
  WD_T_ASSERT(failed == 0, "%d cases failed", failed);
  return 0;
}

#define D10(x) x x x x x x x x x x
#define DEEP100 D10(D10("[")) D10(D10("]"))

/* Several text fields (joined in config order), a Kafka key, nesting. */
static int test_fields(void) {
  char err[256];
  wd_config_t *cfg = wd_config_new();
  WD_T_ASSERT(wd_config_set(cfg, "input.fields.text", "[\"title\",\"body\",\"title\"]", err,
                            sizeof(err)) == WD_OK, "%s", err);
  wd_decoder_t *dec = wd_decoder_new(cfg);
  static const char *const recs[] = {
      "{\"body\":\"B\",\"id\":7,\"title\":\"T\"}",
      "{\"body\":\"B\",\"id\":7,\"title\":null}",
      "{\"body\":\"B\",\"id\":7}",
      "{\"id\":\"x\",\"deep\":" DEEP100 ",\"body\":\"deep\"}",
      NULL};
  static const char *const want[] = {"T\n\nB\n\nT", "B", "B", "deep"};
  for (int i = 0; recs[i]; i++) {
    outcome_t o;
    if (agree(dec, recs[i], strlen(recs[i]), i == 1 ? "key1" : NULL, &o))
      return 1;
    WD_T_ASSERT(o.err == WD_OK && !strcmp(o.text, want[i]), "%s: text '%s'", recs[i], o.text);
    WD_T_ASSERT(i != 1 || !strcmp(o.id, "key1"), "the key is the id, got %s", o.id);
  }
  wd_decoder_destroy(dec);
  wd_config_destroy(cfg);
  return 0;
}

/* An empty text on a decoder that never held one: the text is "", not NULL,
 * on both paths (fuzz_decode found the fast path handing out NULL). */
static int test_empty_text(void) {
  static const char *const recs[] = {"{\"id\":\"e\",\"body\":\"\"}",
                                     BOM "{\"id\":\"e\",\"body\":\"\"}"};
  for (int i = 0; i < 2; i++) {
    wd_config_t *cfg = wd_config_new();
    wd_decoder_t *dec = wd_decoder_new(cfg);
    wd_record_t rec;
    char err[256];
    wd_err_t e = wd_record_decode(dec, recs[i], strlen(recs[i]), NULL, 0, -1, &rec, err,
                                  sizeof(err));
    WD_T_ASSERT(e == WD_OK, "%s: %s", recs[i], err);
    WD_T_ASSERT(rec.text != NULL && rec.text_len == 0 && rec.text[0] == '\0',
                "path %d: empty text is %s", i, rec.text ? "non-empty" : "NULL");
    wd_decoder_destroy(dec);
    wd_config_destroy(cfg);
  }
  return 0;
}

/* Random records with escapes, nesting and odd numbers: both paths agree. */
static int test_random(void) {
  unsigned long long st = wd_t_seed(7);
  static const char *const pieces[] = {
      "x", " ", "\\n", "\\\"", "\\\\", "\\u00e9", "\\ud83d\\ude00", "\\ud83d", "\\u0000",
      "\xc3\xa9", "\t", "<p>", "&amp;", "\\/", "\\q", "\\u12g4", "0123456789abcdef"};
  static const char *const values[] = {"1", "-0.5e3", "01", "true", "null", "[]", "{}",
                                       "[1,{\"a\":[]}]", "\"s\"", "1e999", "--1", "{\"a\":}"};
  wd_config_t *cfg = wd_config_new();
  wd_decoder_t *dec = wd_decoder_new(cfg);
  wd_buf_t b = WD_BUF_INIT;
  for (int n = 0; n < 3000; n++) {
    wd_buf_clear(&b);
    wd_buf_appends(&b, "{");
    int fields = (int)(wd_t_rand(&st) % 5);
    for (int f = 0; f < fields; f++) {
      wd_buf_printf(&b, "\"f%d\":%s,", f, values[wd_t_rand(&st) % 12]);
    }
    if (wd_t_rand(&st) % 8)
      wd_buf_printf(&b, "\"id\":%s,", wd_t_rand(&st) % 4 ? "\"i\"" : values[wd_t_rand(&st) % 12]);
    wd_buf_appends(&b, "\"body\":\"");
    int np = 1 + (int)(wd_t_rand(&st) % 40);
    for (int p = 0; p < np; p++)
      wd_buf_appends(&b, pieces[wd_t_rand(&st) % (wd_t_rand(&st) % 4 ? 7 : 17)]);
    wd_buf_appends(&b, "\"");
    if (wd_t_rand(&st) % 3 == 0)
      wd_buf_printf(&b, ",\"published_at\":%s",
                    wd_t_rand(&st) % 2 ? "\"2026-01-01T00:00:00Z\"" : values[wd_t_rand(&st) % 12]);
    if (wd_t_rand(&st) % 3 == 0)
      wd_buf_printf(&b, ",\"source\":%s", wd_t_rand(&st) % 2 ? "\"src\"" : values[wd_t_rand(&st) % 12]);
    wd_buf_appends(&b, wd_t_rand(&st) % 20 ? "}" : "} ,");
    outcome_t o;
    if (agree(dec, b.p, b.len, NULL, &o)) {
      fprintf(stderr, "random case %d\n", n);
      return 1;
    }
  }
  wd_buf_free(&b);
  wd_decoder_destroy(dec);
  wd_config_destroy(cfg);
  return 0;
}

int main(void) {
  wd_log_set_level(WD_LOG_ERROR); /* the bad-timestamp cases warn by design */
  WD_T_RUN(test_cases);
  WD_T_RUN(test_fields);
  WD_T_RUN(test_empty_text);
  WD_T_RUN(test_random);
  return WD_T_DONE();
}
