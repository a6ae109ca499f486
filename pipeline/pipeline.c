/* pipeline.c - file mode: read JSON Lines, run each through the engine, write
 * one result line per valid record, report bad lines and go on.
 *
 * Lines are read with a bounded reader: a line longer than input.max_bytes is
 * skipped as it streams past, never buffered whole, so a hostile file cannot
 * make us allocate its size. */
#include "wiredup/pipeline.h"
#include "wiredup/log.h"
#include "wiredup/mem.h"
#include "wiredup/progress.h"
#include "wiredup/state.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

typedef struct linereader_s {
  FILE *fp;
  char *buf;
  size_t len, cap;   /* current line bytes / buffer capacity */
  size_t max;        /* longest line kept */
  char chunk[65536];
  size_t pos, end;   /* unread part of chunk */
  int eof;
} linereader_t;

/* Next line into lr->buf (without '\n', "\r\n" trimmed). Returns 1 for a line,
 * 0 at end of input, -1 on a read error. *too_long is set when the line was
 * over lr->max: then lr->len is its length and buf holds nothing useful. */
static int lr_next(linereader_t *lr, int *too_long, size_t *line_len) {
  size_t total = 0;
  int got = 0;
  *too_long = 0;
  lr->len = 0;
  for (;;) {
    if (lr->pos == lr->end) {
      if (lr->eof)
        break;
      lr->end = fread(lr->chunk, 1, sizeof(lr->chunk), lr->fp);
      lr->pos = 0;
      if (lr->end == 0) {
        if (ferror(lr->fp))
          return -1;
        lr->eof = 1;
        break;
      }
    }
    got = 1;
    char *nl = memchr(lr->chunk + lr->pos, '\n', lr->end - lr->pos);
    size_t n = nl ? (size_t)(nl - (lr->chunk + lr->pos)) : lr->end - lr->pos;
    total += n;
    if (!*too_long && total <= lr->max) {
      if (lr->len + n + 1 > lr->cap) {
        size_t cap = lr->cap ? lr->cap : 4096;
        while (cap < lr->len + n + 1)
          cap *= 2;
        lr->buf = wd_realloc(lr->buf, cap);
        lr->cap = cap;
      }
      memcpy(lr->buf + lr->len, lr->chunk + lr->pos, n);
      lr->len += n;
    } else {
      *too_long = 1;
    }
    lr->pos += n;
    if (nl) {
      lr->pos++;
      break;
    }
  }
  if (!got && lr->eof)
    return 0;
  if (!*too_long && lr->len && lr->buf[lr->len - 1] == '\r')
    lr->len--;
  if (lr->buf)
    lr->buf[*too_long ? 0 : lr->len] = '\0';
  *line_len = total;
  return 1;
}

static int is_blank(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
      return 0;
  return 1;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Load the checkpoint in \p dir into \p eng unless \p fresh; a missing one
 * is a first run. Anything else that goes wrong stops the run. */
wd_err_t wd_pipeline_state_open(wd_engine_t *eng, const char *dir, int fresh,
                                wd_state_offsets_t *offs, char *errstr,
                                size_t errstr_size) {
  char path[4096];
  wd_state_info_t info;
  wd_state_path(path, sizeof(path), dir);
  if (fresh) {
    WD_LOG(WD_LOG_INFO, "starting with empty state (--fresh-state)", "checkpoint=%s%s",
           path, wd_state_exists(dir) ? " replaced_at_next_checkpoint=true" : "");
    return WD_OK;
  }
  if (!wd_state_exists(dir)) {
    WD_LOG(WD_LOG_INFO, "no checkpoint yet: starting with empty state", "checkpoint=%s",
           path);
    return WD_OK;
  }
  wd_err_t err = wd_state_load(dir, eng, offs, &info, errstr, errstr_size);
  if (err != WD_OK)
    return err == WD_ERR_IO ? WD_ERR_STATE : err;
  WD_LOG(WD_LOG_INFO, "checkpoint loaded",
         "checkpoint=%s articles=%llu bytes=%llu seconds=%.3f", path,
         (unsigned long long)info.articles, (unsigned long long)info.bytes, info.seconds);
  return WD_OK;
}

wd_err_t wd_pipeline_state_save(const wd_engine_t *eng, const char *dir,
                                const wd_state_offsets_t *offs, char *errstr,
                                size_t errstr_size) {
  wd_state_info_t info;
  wd_err_t err = wd_state_save(dir, eng, offs, &info, errstr, errstr_size);
  if (err == WD_OK)
    WD_LOG(WD_LOG_INFO, "checkpoint written",
           "dir=%s articles=%llu bytes=%llu seconds=%.3f", dir,
           (unsigned long long)info.articles, (unsigned long long)info.bytes,
           info.seconds);
  return err;
}

wd_err_t wd_pipeline_run_file(const wd_config_t *cfg, const char *in, FILE *out,
                              wd_line_cb_t *cb, void *opaque, wd_file_summary_t *sum,
                              char *errstr, size_t errstr_size) {
  return wd_pipeline_run_file_state(cfg, in, out, cb, opaque, NULL, 0, sum, errstr,
                                    errstr_size);
}

wd_err_t wd_pipeline_run_file_state(const wd_config_t *cfg, const char *in, FILE *out,
                                    wd_line_cb_t *cb, void *opaque,
                                    const char *state_dir, int fresh,
                                    wd_file_summary_t *sum, char *errstr,
                                    size_t errstr_size) {
  linereader_t lr;
  wd_engine_t *eng = NULL;
  wd_buf_t obuf = WD_BUF_INIT;
  wd_err_t err = WD_OK;
  char reason[512];
  double t0 = now_s();
  int rc;
  wd_progress_t pg;
  int64_t bytes_total = -1, bytes_done = 0;

  memset(sum, 0, sizeof(*sum));
  memset(&lr, 0, sizeof(lr));
  wd_progress_init(&pg, "file mode", 0);
  lr.max = (size_t)cfg->input_max_bytes;
  if (strcmp(in, "-") == 0) {
    lr.fp = stdin;
  } else if (!(lr.fp = fopen(in, "rb"))) {
    wd_errstr_set(errstr, errstr_size, "%s: %s", in, strerror(errno));
    return WD_ERR_IO;
  }
  if (!(eng = wd_engine_new(cfg, errstr, errstr_size))) {
    err = WD_ERR_CONFIG;
    goto done;
  }
  if (state_dir &&
      (err = wd_pipeline_state_open(eng, state_dir, fresh, NULL, errstr, errstr_size)) !=
          WD_OK)
    goto done;
  struct stat sb;
  if (fstat(fileno(lr.fp), &sb) == 0 && S_ISREG(sb.st_mode))
    bytes_total = (int64_t)sb.st_size;

  for (;;) {
    int too_long;
    size_t line_len = 0;
    wd_result_t res;
    rc = lr_next(&lr, &too_long, &line_len);
    if (rc == 0)
      break;
    if (rc < 0) {
      wd_errstr_set(errstr, errstr_size, "%s: read error: %s", in, strerror(errno));
      err = WD_ERR_IO;
      goto done;
    }
    sum->lines++;
    bytes_done += (int64_t)line_len + 1;
    wd_progress_update_bytes(&pg, sum->records + sum->invalid, bytes_done, bytes_total);
    if (too_long) {
      snprintf(reason, sizeof(reason), "record of %zu bytes exceeds input.max_bytes (%lld)",
               line_len, (long long)cfg->input_max_bytes);
      err = WD_ERR_INPUT;
    } else if (is_blank(lr.buf, lr.len)) {
      continue; /* JSON Lines readers skip blank lines */
    } else {
      err = wd_engine_process(eng, lr.buf, lr.len, NULL, 0, -1, &res, reason,
                              sizeof(reason));
    }
    if (err != WD_OK) {
      char q[600];
      sum->invalid++;
      WD_LOG(WD_LOG_WARN, "skipped invalid record", "line=%llu reason=%s",
             (unsigned long long)sum->lines, wd_log_quote(q, sizeof(q), reason));
      if (cb)
        cb(opaque, sum->lines, too_long ? NULL : lr.buf, too_long ? 0 : lr.len, NULL,
           err, reason);
      err = WD_OK;
      continue;
    }
    sum->records++;
    if (!res.redelivered) {
      if (res.duplicate_of)
        sum->duplicates++;
      else
        sum->clusters++;
    }
    if (out) {
      wd_coords_t coords = {.topic = NULL, .line = sum->lines};
      wd_buf_clear(&obuf);
      wd_result_format(&res, &coords, &obuf);
      wd_buf_appendc(&obuf, '\n');
      if (fwrite(obuf.p, 1, obuf.len, out) != obuf.len) {
        wd_errstr_set(errstr, errstr_size, "write error: %s", strerror(errno));
        err = WD_ERR_IO;
        goto done;
      }
    }
    if (cb)
      cb(opaque, sum->lines, lr.buf, lr.len, &res, WD_OK, NULL);
  }
  if (out && fflush(out) != 0) {
    wd_errstr_set(errstr, errstr_size, "write error: %s", strerror(errno));
    err = WD_ERR_IO;
  }
  /* Only after every result is out: the checkpoint says "done up to here". */
  if (err == WD_OK && state_dir)
    err = wd_pipeline_state_save(eng, state_dir, NULL, errstr, errstr_size);

done:
  wd_progress_end(&pg);
  sum->seconds = now_s() - t0;
  wd_engine_destroy(eng);
  wd_buf_free(&obuf);
  wd_free(lr.buf);
  if (lr.fp && lr.fp != stdin)
    fclose(lr.fp);
  return err;
}
