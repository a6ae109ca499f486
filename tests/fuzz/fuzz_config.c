/* fuzz_config.c - configuration text: the JSON file and --set values.
 *
 * Input: byte 0 picks the mode, the rest is the text.
 *   mode & 3 == 0: the text is a JSON config (wd_config_load_json);
 *   mode & 3 == 1: each line is a --set KEY=VALUE (wd_config_set_arg);
 *   mode & 3 == 2: both: up to the first NUL JSON, the lines after it --set;
 *   mode & 3 == 3: each line is a size and a duration for
 *                  wd_config_parse_size / _parse_duration_ms.
 * Checks:
 *  - every call returns WD_OK or WD_ERR_CONFIG with a one-line reason, and a
 *    failed call leaves the config unchanged (all or nothing: its printed
 *    form is the same before and after);
 *  - the printed config of a valid config loads back into a fresh one and
 *    prints the same (what `config --print` shows is a config file);
 *  - a parsed size or duration formats to text that parses to the same value. */
#include "fuzz.h"

#include "wiredup/config.h"

#include <string.h>

static char *print_cfg(const wd_config_t *cfg, size_t *len) {
  char *p = NULL;
  FILE *fp = open_memstream(&p, len);
  FUZZ_CHECK(fp, "open_memstream");
  wd_config_print(cfg, fp);
  fclose(fp);
  return p;
}

static void check_reason(wd_err_t err, const char *errstr) {
  FUZZ_CHECK(err == WD_OK || err == WD_ERR_CONFIG, "error %d", (int)err);
  if (err != WD_OK)
    FUZZ_CHECK(errstr[0] && !strchr(errstr, '\n'), "bad reason \"%s\"", errstr);
}

/* Run one change; on failure the printed config must not have moved. */
static void apply(wd_config_t *cfg, int json, const char *text, size_t len) {
  char errstr[512] = "";
  size_t before_len;
  char *before = print_cfg(cfg, &before_len);
  wd_err_t err;
  if (json) {
    err = wd_config_load_json(cfg, text, len, errstr, sizeof(errstr));
  } else {
    char *arg = malloc(len + 1);
    memcpy(arg, text, len);
    arg[len] = '\0';
    err = wd_config_set_arg(cfg, arg, errstr, sizeof(errstr));
    free(arg);
  }
  check_reason(err, errstr);
  if (err != WD_OK) {
    size_t after_len;
    char *after = print_cfg(cfg, &after_len);
    FUZZ_CHECK(after_len == before_len && memcmp(before, after, after_len) == 0,
               "failed change (%s) altered the config", errstr);
    free(after);
  }
  free(before);
}

static void check_units(const char *line) {
  int64_t v, w;
  char buf[64];
  if (wd_config_parse_size(line, &v) == 0) {
    wd_config_format_size(buf, sizeof(buf), v);
    FUZZ_CHECK(wd_config_parse_size(buf, &w) == 0 && w == v,
               "size %s -> %lld -> %s", line, (long long)v, buf);
  }
  if (wd_config_parse_duration_ms(line, &v) == 0) {
    wd_config_format_duration_ms(buf, sizeof(buf), v);
    FUZZ_CHECK(wd_config_parse_duration_ms(buf, &w) == 0 && w == v,
               "duration %s -> %lld -> %s", line, (long long)v, buf);
  }
}

static void each_line(wd_config_t *cfg, const char *p, const char *end, int units) {
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *e = nl ? nl : end;
    if (units) {
      char *line = malloc((size_t)(e - p) + 1);
      memcpy(line, p, (size_t)(e - p));
      line[e - p] = '\0';
      check_units(line);
      free(line);
    } else {
      apply(cfg, 0, p, (size_t)(e - p));
    }
    p = nl ? nl + 1 : end;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  const int mode = data[0] & 3;
  const char *p = (const char *)data + 1, *end = (const char *)data + size;
  wd_config_t *cfg = wd_config_new();
  FUZZ_CHECK(cfg, "config_new");

  if (mode == 0) {
    /* an exact-size copy, so ASan sees reads past the text */
    size_t len = (size_t)(end - p);
    char *copy = malloc(len ? len : 1);
    memcpy(copy, p, len);
    apply(cfg, 1, copy, len);
    free(copy);
  } else if (mode == 1) {
    each_line(cfg, p, end, 0);
  } else if (mode == 2) {
    const char *nul = memchr(p, '\0', (size_t)(end - p));
    const char *jend = nul ? nul : end;
    size_t len = (size_t)(jend - p);
    char *copy = malloc(len ? len : 1);
    memcpy(copy, p, len);
    apply(cfg, 1, copy, len);
    free(copy);
    if (nul)
      each_line(cfg, nul + 1, end, 0);
  } else {
    each_line(cfg, p, end, 1);
  }

  char errstr[512] = "";
  wd_err_t verr = wd_config_validate(cfg, errstr, sizeof(errstr));
  check_reason(verr, errstr);
  FUZZ_CHECK(wd_config_dlq_topic(cfg) != NULL, "no dead-letter topic");

  /* The printed config is itself a config that loads to the same thing. */
  size_t len1, len2;
  char *text1 = print_cfg(cfg, &len1);
  wd_config_t *again = wd_config_new();
  wd_err_t err = wd_config_load_json(again, text1, len1, errstr, sizeof(errstr));
  FUZZ_CHECK(err == WD_OK, "printed config does not load: %s\n%s", errstr, text1);
  char *text2 = print_cfg(again, &len2);
  FUZZ_CHECK(len1 == len2 && memcmp(text1, text2, len1) == 0,
             "config changed through print+load:\n%s\n---\n%s", text1, text2);
  if (verr == WD_OK) {
    err = wd_config_validate(again, errstr, sizeof(errstr));
    FUZZ_CHECK(err == WD_OK, "reloaded config does not validate: %s", errstr);
  }
  free(text1);
  free(text2);
  wd_config_destroy(again);
  wd_config_destroy(cfg);
  return 0;
}
