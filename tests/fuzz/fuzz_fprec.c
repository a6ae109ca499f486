/* fuzz_fprec.c - hostile fingerprint records (fprec.h) through the decoder
 * and the cluster stage, and hostile order records through theirs.
 *
 * Input: the bytes of one record, as read from the internal topic. Decoding
 * either refuses it (WD_ERR_INPUT, with a one-line reason) or fills the
 * fingerprint; then
 *  - encoding it again gives a record that decodes, and encoding that gives
 *    the same bytes (a decoded record is a fixed point: nothing is lost or
 *    invented between the two);
 *  - the decoded fingerprint goes through wd_engine_commit, which must
 *    answer without crashing. One engine is kept across inputs and rebuilt
 *    every ENGINE_RECORDS records (as fuzz_decode.c does): a crash inside
 *    the cluster stage may need the inputs before it. */
#include "fuzz.h"

#include "wiredup/config.h"
#include "wiredup/engine.h"
#include "wiredup/fprec.h"
#include "wiredup/log.h"

#include <string.h>

#define ENGINE_RECORDS 2048

static wd_config_t *cfg;
static wd_engine_t *eng;
static wd_fprec_decoder_t *dec;
static unsigned records;
static wd_fp_t fp, fp2;
static wd_buf_t once = WD_BUF_INIT, twice = WD_BUF_INIT;

static void setup(void) {
  char errstr[256];
  if (cfg)
    return;
  wd_log_set_level(WD_LOG_ERROR);
  cfg = wd_config_new();
  dec = wd_fprec_decoder_new(cfg, errstr, sizeof(errstr));
  FUZZ_CHECK(dec, "decoder: %s", errstr);
  wd_fp_init(&fp, (uint32_t)cfg->minhash_num_perm);
  wd_fp_init(&fp2, (uint32_t)cfg->minhash_num_perm);
}

/* An order record (the same topic carries them): refused with a reason, or
 * read; then encoding the entries and reading them back gives them again. */
static int order_record(const uint8_t *copy, size_t size) {
  static wd_fpord_ent_t e1[WD_FPORD_MAX], e2[WD_FPORD_MAX];
  char why[512];
  size_t n1, n2;
  why[0] = '\0';
  wd_err_t err = wd_fpord_decode(copy, size, e1, &n1, why, sizeof(why));
  if (err != WD_OK) {
    FUZZ_CHECK(err == WD_ERR_INPUT && n1 == 0, "order: error %d", (int)err);
    FUZZ_CHECK(why[0] && !strchr(why, '\n'), "order: bad reason \"%s\"", why);
    return 0;
  }
  FUZZ_CHECK(n1 >= 1 && n1 <= WD_FPORD_MAX, "order: %zu entries", n1);
  wd_buf_clear(&once);
  wd_fpord_encode(e1, n1, &once);
  err = wd_fpord_decode(once.p, once.len, e2, &n2, why, sizeof(why));
  FUZZ_CHECK(err == WD_OK && n2 == n1 && memcmp(e1, e2, n1 * sizeof(*e1)) == 0,
             "order: re-encoded entries differ: %s", why);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char why[512], errstr[512];
  setup();
  /* an exact-size copy, so ASan catches a read past the record */
  uint8_t *copy = malloc(size ? size : 1);
  memcpy(copy, data, size);
  if (wd_fprec_kind(copy, size) == WD_FPREC_KIND_ORDER) {
    order_record(copy, size);
    free(copy);
    return 0;
  }
  wd_fprec_src_t c, c2;
  why[0] = '\0';
  wd_err_t err = wd_fprec_decode(dec, copy, size, &fp, &c, why, sizeof(why));
  if (err != WD_OK) {
    FUZZ_CHECK(err == WD_ERR_INPUT, "error %d: %s", (int)err, why);
    FUZZ_CHECK(why[0] && !strchr(why, '\n'), "bad reason \"%s\"", why);
    free(copy);
    return 0;
  }
  FUZZ_CHECK(c.topic_len == 0 || (c.topic >= (const char *)copy &&
                                  c.topic + c.topic_len <= (const char *)copy + size),
             "topic outside the record");

  wd_buf_clear(&once);
  wd_fprec_encode(&fp, &c, &once);
  err = wd_fprec_decode(dec, once.p, once.len, &fp2, &c2, why, sizeof(why));
  FUZZ_CHECK(err == WD_OK, "re-encoded record refused: %s", why);
  wd_buf_clear(&twice);
  wd_fprec_encode(&fp2, &c2, &twice);
  FUZZ_CHECK(once.len == twice.len && memcmp(once.p, twice.p, once.len) == 0,
             "encode(decode(encode(decode(x)))) differs: %zu vs %zu bytes", once.len,
             twice.len);
  free(copy);

  if (!eng || records >= ENGINE_RECORDS) {
    wd_engine_destroy(eng);
    eng = wd_engine_new(cfg, errstr, sizeof(errstr));
    FUZZ_CHECK(eng, "engine: %s", errstr);
    records = 0;
  }
  wd_result_t res;
  err = wd_engine_commit(eng, &fp, &res, errstr, sizeof(errstr));
  FUZZ_CHECK(err == WD_OK, "commit: %s", errstr);
  FUZZ_CHECK(res.id && res.cluster_id && res.cluster_size >= 1, "result");
  records++;
  return 0;
}
