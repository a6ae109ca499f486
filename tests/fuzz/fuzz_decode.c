/* fuzz_decode.c - hostile records through the decoder and the engine.
 *
 * Input: byte 0 picks options, the rest is JSON Lines. Bit 0: the part of a
 * line before its first TAB is the Kafka key (as kcat -K '\t' sends it);
 * bit 1: each line gets a Kafka message timestamp; bit 2: normalize.html off;
 * bit 3: input.max_bytes 1KiB instead of 1MiB; bit 4: input.fields.text is
 * ["title","body"]; bits 5-7: shingle.size - 1.
 *
 * Every line is decoded by a fresh decoder (wd_record_decode), so a decode
 * crash replays from the input alone:
 *  - WD_OK: the id is non-empty with no NUL inside, id, text and source
 *    are valid UTF-8, a timestamp is within years 1900..9999;
 *  - WD_ERR_INPUT: the reason is one non-empty line; nothing else allowed.
 * Then the line goes through an engine (wd_engine_process), which must give
 * the same verdict, and its output record (wd_result_format) must be valid
 * UTF-8 and parse back as a JSON object with the same id. Building an engine
 * costs milliseconds (its tables), so one engine per configuration is kept
 * across inputs and rebuilt every ENGINE_RECORDS records: a crash inside the
 * later stages may need the inputs before it (libFuzzer keeps them all in
 * its corpus; replay the corpus to reproduce). */
#include "fuzz.h"

#include "wiredup/log.h"
#include "wiredup/config.h"
#include "wiredup/engine.h"
#include "wiredup/norm.h"
#include "wiredup/record.h"

#include <cjson/cJSON.h>
#include <string.h>

static void check_output(const wd_result_t *res, const char *key, size_t key_len) {
  wd_buf_t out = WD_BUF_INIT;
  wd_coords_t coords = {.topic = NULL, .line = 7};
  FUZZ_CHECK(res->id && res->id[0], "empty id");
  FUZZ_CHECK(res->cluster_id && res->cluster_id[0], "no cluster id");
  FUZZ_CHECK(res->cluster_size >= 1, "cluster_size %u", res->cluster_size);
  FUZZ_CHECK(res->similarity >= 0.0 && res->similarity <= 1.0, "similarity %g",
             res->similarity);
  FUZZ_CHECK(res->duplicate_of || strcmp(res->cluster_id, res->id) == 0,
             "new cluster %s for %s", res->cluster_id, res->id);
  if (key)
    FUZZ_CHECK(strlen(res->id) == key_len && memcmp(res->id, key, key_len) == 0,
               "id \"%s\" is not the %zu-byte key", res->id, key_len);
  for (int pass = 0; pass < 2; pass++) {
    wd_buf_clear(&out);
    if (pass == 1) {
      coords.topic = "articles";
      coords.partition = 3;
      coords.offset = 42;
    }
    wd_result_format(res, &coords, &out);
    FUZZ_CHECK(wd_norm_utf8_valid(out.p, out.len, NULL), "output not UTF-8: %s", out.p);
    cJSON *j = cJSON_ParseWithLength(out.p, out.len);
    FUZZ_CHECK(j && cJSON_IsObject(j), "output not a JSON object: %s", out.p);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
    FUZZ_CHECK(cJSON_IsString(id) && strcmp(id->valuestring, res->id) == 0,
               "output id differs: %s", out.p);
    cJSON_Delete(j);
  }
  wd_buf_free(&out);
}

#define ENGINE_RECORDS 2048

static void check_record(const wd_record_t *rec) {
  FUZZ_CHECK(rec->id && rec->id_len > 0 && strlen(rec->id) == rec->id_len,
             "id of %zu bytes", rec->id_len);
  FUZZ_CHECK(wd_norm_utf8_valid(rec->id, rec->id_len, NULL), "id not UTF-8");
  FUZZ_CHECK(rec->text && wd_norm_utf8_valid(rec->text, rec->text_len, NULL),
             "text not UTF-8");
  FUZZ_CHECK(!rec->source || (rec->source_len > 0 &&
                              wd_norm_utf8_valid(rec->source, rec->source_len, NULL)),
             "source not UTF-8");
  /* years 1900..9999, as record.c promises */
  FUZZ_CHECK(!rec->has_ts || (rec->ts_ms >= -2208988800000LL && rec->ts_ms <= 253402300799999LL),
             "timestamp %lld out of range", (long long)rec->ts_ms);
}

static wd_config_t *make_config(unsigned flags) {
  char errstr[256];
  wd_config_t *cfg = wd_config_new();
  FUZZ_CHECK(cfg, "config_new");
  cfg->norm_html = !(flags & 4);
  cfg->input_max_bytes = (flags & 8) ? 1024 : 1 << 20;
  if (flags & 16)
    FUZZ_CHECK(wd_config_set(cfg, "input.fields.text", "title,body", errstr,
                             sizeof(errstr)) == WD_OK, "%s", errstr);
  cfg->shingle_k = 1 + (flags >> 5);
  return cfg;
}

/* Engines for the configurations (option bits 2-7) seen last, kept across
 * inputs (see above). An engine holds some 30 MiB of tables, so only a few
 * live at a time: the least recently used gives way. */
#define ENGINE_SLOTS 6
static struct {
  int conf; /* flags >> 2, or -1 */
  wd_config_t *cfg;
  wd_engine_t *eng;
  unsigned records;
  uint64_t used;
} engines[ENGINE_SLOTS] = {[0 ... ENGINE_SLOTS - 1] = {.conf = -1}};

static wd_engine_t *engine_for(unsigned flags, unsigned **records) {
  static uint64_t clock;
  char errstr[256];
  int conf = (int)(flags >> 2), i, lru = 0;
  for (i = 0; i < ENGINE_SLOTS && engines[i].conf != conf; i++)
    if (engines[i].used < engines[lru].used)
      lru = i;
  if (i == ENGINE_SLOTS) { /* not cached: replace the least recently used */
    i = lru;
    wd_engine_destroy(engines[i].eng);
    wd_config_destroy(engines[i].cfg);
    engines[i].eng = NULL;
    engines[i].cfg = make_config(flags);
    engines[i].conf = conf;
  }
  engines[i].used = ++clock;
  *records = &engines[i].records;
  if (engines[i].eng && engines[i].records < ENGINE_RECORDS)
    return engines[i].eng;
  wd_engine_destroy(engines[i].eng);
  engines[i].eng = wd_engine_new(engines[i].cfg, errstr, sizeof(errstr));
  FUZZ_CHECK(engines[i].eng, "engine: %s", errstr);
  engines[i].records = 0;
  return engines[i].eng;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char errstr[512], errstr2[512];
  wd_log_set_level(WD_LOG_ERROR); /* warnings about hostile input are expected */
  if (size < 1)
    return 0;
  const unsigned flags = data[0];
  const char *p = (const char *)data + 1, *end = (const char *)data + size;
  wd_config_t *cfg = make_config(flags);
  int64_t msg_ts = 1700000000000LL;

  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *line_end = nl ? nl : end;
    const char *rec_text = p, *key = NULL;
    size_t key_len = 0;
    if (flags & 1) {
      const char *tab = memchr(p, '\t', (size_t)(line_end - p));
      if (tab) {
        key = p;
        key_len = (size_t)(tab - p);
        rec_text = tab + 1;
      }
    }
    /* An exact-size copy, so ASan catches a read past the record. */
    size_t len = (size_t)(line_end - rec_text);
    char *copy = malloc(len ? len : 1);
    memcpy(copy, rec_text, len);
    int64_t ts = (flags & 2) ? msg_ts++ : -1;

    wd_decoder_t *dec = wd_decoder_new(cfg);
    wd_record_t rec;
    errstr[0] = '\0';
    wd_err_t err = wd_record_decode(dec, copy, len, key, key_len, ts, &rec, errstr,
                                    sizeof(errstr));
    if (err == WD_OK) {
      check_record(&rec);
      if (key_len)
        FUZZ_CHECK(rec.id_len == key_len && memcmp(rec.id, key, key_len) == 0,
                   "id \"%s\" is not the %zu-byte key", rec.id, key_len);
    } else {
      FUZZ_CHECK(err == WD_ERR_INPUT, "error %d: %s", (int)err, errstr);
      FUZZ_CHECK(errstr[0] && !strchr(errstr, '\n'), "bad reason \"%s\"", errstr);
    }
    wd_decoder_destroy(dec);

    unsigned *records;
    wd_engine_t *eng = engine_for(flags, &records);
    wd_result_t res;
    errstr2[0] = '\0';
    wd_err_t err2 = wd_engine_process(eng, copy, len, key, key_len, ts, &res, errstr2,
                                      sizeof(errstr2));
    FUZZ_CHECK(err2 == err && strcmp(errstr, errstr2) == 0,
               "engine says %d \"%s\", decoder %d \"%s\"", (int)err2, errstr2, (int)err,
               errstr);
    if (err2 == WD_OK) {
      (*records)++;
      check_output(&res, key_len ? key : NULL, key_len);
    }
    free(copy);
    p = nl ? nl + 1 : end;
  }
  wd_config_destroy(cfg);
  return 0;
}
