/* test_record_hostile.c - the decoder against hostile records: the exact
 * bytes of every input that fuzzing (tests/fuzz) or the hostile-record tests
 * showed to be mishandled, each with the verdict it must get now. */
#include "wiredup/config.h"
#include "wiredup/log.h"
#include "wiredup/record.h"
#include "wd_test.h"

#include <stdint.h>

typedef struct {
  const char *what;
  const char *json;
  size_t len;        /* 0: strlen(json) */
  const char *key;   /* Kafka key or NULL */
  size_t key_len;
  const char *want;  /* NULL: WD_OK, else a substring of the reason */
  const char *id;    /* WD_OK: the id */
} case_t;

#define S(s) s, sizeof(s) - 1

static const case_t cases[] = {
    /* fuzz_decode: a key with a NUL byte was cut short at it (id "k") */
    {"key with NUL", S("{\"body\":\"x\"}"), S("k\0z"), "NUL byte", NULL},
    {"key without NUL", S("{\"body\":\"x\"}"), S("k-z"), NULL, "k-z"},
    /* \u0000: cJSON ends the string there, so two ids became one */
    {"\\u0000 in id", S("{\"id\":\"a\\u0000b\",\"body\":\"x\"}"), NULL, 0, "u0000", NULL},
    {"\\u0000 in text", S("{\"id\":\"a\",\"body\":\"x\\u0000 and more\"}"), NULL, 0, "u0000",
     NULL},
    {"escaped backslash then u0000", S("{\"id\":\"a\\\\u0000\",\"body\":\"x\"}"), NULL, 0,
     NULL, "a\\u0000"},
    {"\\u0001 is fine", S("{\"id\":\"a\\u0001\",\"body\":\"x\"}"), NULL, 0, NULL, "a\x01"},
    /* raw control bytes: cJSON took them as text or as blanks */
    {"raw 0x01 in a string", S("{\"id\":\"a\",\"body\":\"x\x01y\"}"), NULL, 0,
     "raw control byte", NULL},
    {"raw tab in a string", S("{\"id\":\"a\",\"body\":\"x\ty\"}"), NULL, 0, "raw control byte",
     NULL},
    {"raw 0x1f between tokens", S("{\"id\":\"a\",\x1f\"body\":\"x\"}"), NULL, 0,
     "raw control byte", NULL},
    {"tab and CR between tokens", S("{\t\"id\":\"a\",\r\n\"body\":\"x\"}\r"), NULL, 0, NULL, "a"},
    /* empty value / tombstone: the reason read cJSON's global error pointer */
    {"empty", "", 0, NULL, 0, "empty record", NULL},
    /* nesting beyond cJSON's limit gets its own reason */
    {"deep", NULL, 0, NULL, 0, "nested deeper than 1000", NULL},
};

static int test_cases(void) {
  char errstr[256];
  wd_config_t *cfg = wd_config_new();
  wd_decoder_t *dec = wd_decoder_new(cfg);
  char deep[4002];
  memset(deep, '[', 2001);
  memset(deep + 2001, ']', 2001);
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    const case_t *c = &cases[i];
    const char *json = c->json ? c->json : deep;
    size_t len = c->json ? c->len : sizeof(deep);
    wd_record_t rec;
    errstr[0] = '\0';
    wd_err_t err =
        wd_record_decode(dec, json, len, c->key, c->key_len, -1, &rec, errstr, sizeof(errstr));
    if (c->want) {
      WD_T_ASSERT(err == WD_ERR_INPUT, "%s: accepted", c->what);
      WD_T_ASSERT(strstr(errstr, c->want), "%s: reason \"%s\", want \"%s\"", c->what, errstr,
                  c->want);
    } else {
      WD_T_ASSERT(err == WD_OK, "%s: %s", c->what, errstr);
      WD_T_ASSERT(strcmp(rec.id, c->id) == 0 && rec.id_len == strlen(c->id), "%s: id \"%s\"",
                  c->what, rec.id);
    }
  }
  wd_decoder_destroy(dec);
  wd_config_destroy(cfg);
  return 0;
}

/* Impossible dates were rolled over by timegm ("02-30" became March 2). */
static int test_dates(void) {
  static const struct {
    const char *s;
    int ok;
  } rows[] = {
      {"2016-02-29T00:00:00Z", 1}, {"2000-02-29T00:00:00Z", 1}, {"2017-02-29T00:00:00Z", 0},
      {"2100-02-29T00:00:00Z", 0}, {"2017-02-30T00:00:00Z", 0}, {"2017-04-31T00:00:00Z", 0},
      {"2017-04-30T23:59:60Z", 1}, {"2017-12-31T00:00:00Z", 1}, {"2017-12-32T00:00:00Z", 0},
      {"2017-00-10T00:00:00Z", 0},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    int64_t ms;
    int r = wd_time_parse_rfc3339(rows[i].s, strlen(rows[i].s), &ms);
    WD_T_ASSERT((r == 0) == rows[i].ok, "%s: got %d", rows[i].s, r);
  }
  return 0;
}

/* A bad timestamp is optional data gone wrong: the record is decoded as if
 * it had none, and the Kafka message time is used. */
static int test_bad_timestamp_is_absent(void) {
  static const char *const bad[] = {
      "{\"id\":\"a\",\"body\":\"x\",\"published_at\":\"2017-02-30T00:00:00Z\"}",
      "{\"id\":\"a\",\"body\":\"x\",\"published_at\":\"yesterday\"}",
      "{\"id\":\"a\",\"body\":\"x\",\"published_at\":253402300800000}",
      "{\"id\":\"a\",\"body\":\"x\",\"published_at\":-2208988800001}",
      "{\"id\":\"a\",\"body\":\"x\",\"published_at\":1.5}",
      "{\"id\":\"a\",\"body\":\"x\",\"published_at\":[1]}",
  };
  char errstr[256];
  wd_config_t *cfg = wd_config_new();
  wd_decoder_t *dec = wd_decoder_new(cfg);
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    wd_record_t rec;
    WD_T_ASSERT(wd_record_decode(dec, bad[i], strlen(bad[i]), NULL, 0, -1, &rec, errstr,
                                 sizeof(errstr)) == WD_OK,
                "%s: %s", bad[i], errstr);
    WD_T_ASSERT(!rec.has_ts, "%s: has a time", bad[i]);
    WD_T_ASSERT(wd_record_decode(dec, bad[i], strlen(bad[i]), NULL, 0, 1700000000000LL, &rec,
                                 errstr, sizeof(errstr)) == WD_OK,
                "%s: %s", bad[i], errstr);
    WD_T_ASSERT(rec.has_ts && rec.ts_ms == 1700000000000LL, "%s: message time not used",
                bad[i]);
  }
  wd_decoder_destroy(dec);
  wd_config_destroy(cfg);
  return 0;
}

int main(void) {
  wd_log_set_level(WD_LOG_ERROR);
  WD_T_RUN(test_cases);
  WD_T_RUN(test_dates);
  WD_T_RUN(test_bad_timestamp_is_absent);
  return WD_T_DONE();
}
