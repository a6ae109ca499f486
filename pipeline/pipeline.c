/* pipeline.c - file mode: read JSON Lines, run each through the engine, write
 * one result line per valid record, report bad lines and go on. Also the
 * checkpoint steps of every mode (wd_pipeline_state_open, _save): load or
 * start empty, save, and log either.
 *
 * With pipeline.threads > 1, worker threads read batches of lines and
 * fingerprint them (wd_fingerprint: decode, normalise, phrase rules,
 * shingles, MinHash) while this thread commits the fingerprints in input
 * order (wd_engine_commit) and writes: the same results and log lines as
 * one thread.
 *
 * Lines are read with a bounded reader: a line longer than input.max_bytes is
 * skipped as it streams past, never buffered whole, so a hostile file cannot
 * make us allocate its size. */
#include "wiredup/pipeline.h"
#include "wiredup/log.h"
#include "wiredup/mem.h"
#include "wiredup/progress.h"
#include "wiredup/state.h"
#include "wiredup/workers.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct linereader_s {
  FILE *fp;
  size_t max;        /* longest line kept */
  char chunk[65536];
  size_t pos, end;   /* unread part of chunk */
  uint64_t consumed; /* bytes of input taken as lines so far */
  int eof;
} linereader_t;

/* Append the next line (without '\n', "\r\n" trimmed) to \p dst, which
 * stays NUL-terminated: the batch's text buffer in threaded mode, so each
 * byte is copied once from the read chunk. Returns 1 for a line, 0 at end of
 * input, -1 on a read error. *line_len is the line's length; *too_long is set
 * when it was over lr->max, and then nothing is appended. */
static int lr_next(linereader_t *lr, wd_buf_t *dst, int *too_long, size_t *line_len) {
  const size_t start = dst->len;
  size_t total = 0;
  int got = 0;
  *too_long = 0;
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
      wd_buf_append(dst, lr->chunk + lr->pos, n);
    } else if (!*too_long) {
      *too_long = 1;
      dst->len = start;
    }
    lr->pos += n;
    if (nl) {
      lr->pos++;
      break;
    }
  }
  if (!got && lr->eof)
    return 0;
  if (!*too_long && dst->len > start && dst->p[dst->len - 1] == '\r')
    dst->len--;
  wd_buf_reserve(dst, 0);
  dst->p[dst->len] = '\0';
  *line_len = *too_long ? total : dst->len - start;
  lr->consumed += total + 1;
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

/* ==== Results, in input order ==== */

typedef struct file_out_s {
  const wd_config_t *cfg;
  wd_engine_t *eng;
  FILE *out;
  wd_line_cb_t *cb;
  void *opaque;
  wd_file_summary_t *sum;
  wd_buf_t *obuf;
  const char *in; /* the input's name, for messages */
  wd_progress_t *pg;
  uint64_t consumed;   /* input bytes up to the line being reported */
  int64_t bytes_total; /* the input's size, -1 when not a regular file */
  int expected;        /* wd_engine_expect called */
} file_out_t;

static void too_long_reason(const wd_config_t *cfg, size_t line_len, char *reason,
                            size_t reason_size) {
  snprintf(reason, reason_size, "record of %zu bytes exceeds input.max_bytes (%lld)",
           line_len, (long long)cfg->input_max_bytes);
}

/* Report line \p line (text \p json, NULL when too long) whose record gave
 * \p err: the result line, or the warning for a bad record. @returns WD_OK,
 * or WD_ERR_IO when the output cannot be written. */
static wd_err_t emit(file_out_t *fo, uint64_t line, const char *json, size_t len,
                     wd_err_t err, const wd_result_t *res, const char *reason,
                     char *errstr, size_t errstr_size) {
  wd_file_summary_t *sum = fo->sum;
  wd_progress_update_bytes(fo->pg, sum->records + sum->invalid, (int64_t)fo->consumed,
                           fo->bytes_total);
  if (err != WD_OK) {
    char q[600];
    sum->invalid++;
    WD_LOG(WD_LOG_WARN, "skipped invalid record", "line=%llu reason=%s",
           (unsigned long long)line, wd_log_quote(q, sizeof(q), reason));
    if (fo->cb)
      fo->cb(fo->opaque, line, json, json ? len : 0, NULL, err, reason);
    return WD_OK;
  }
  if (++sum->records == WD_FILE_WARM_RECORDS)
    sum->allocs_warm = wd_mem_allocs();
  /* The rest of a regular file, at the record size seen so far: the index
   * is sized for it once instead of growing through it. */
  if (!fo->expected && sum->records + sum->invalid >= WD_ENGINE_EXPECT_AFTER) {
    fo->expected = 1;
    if (fo->bytes_total > 0 && fo->consumed > 0 && (uint64_t)fo->bytes_total > fo->consumed)
      wd_engine_expect(fo->eng,
                       (uint64_t)((double)((uint64_t)fo->bytes_total - fo->consumed) *
                                  (double)(sum->records + sum->invalid) / (double)fo->consumed));
  }
  if (!res->redelivered) {
    if (res->duplicate_of)
      sum->duplicates++;
    else
      sum->clusters++;
  }
  if (fo->out) {
    wd_coords_t coords = {.topic = NULL, .line = line};
    wd_buf_clear(fo->obuf);
    wd_result_format(res, &coords, fo->obuf);
    wd_buf_appendc(fo->obuf, '\n');
    if (fwrite(fo->obuf->p, 1, fo->obuf->len, fo->out) != fo->obuf->len) {
      wd_errstr_set(errstr, errstr_size, "write error: %s", strerror(errno));
      return WD_ERR_IO;
    }
  }
  if (fo->cb)
    fo->cb(fo->opaque, line, json, len, res, WD_OK, NULL);
  return WD_OK;
}

/* ==== Batches for the fingerprinting threads (workers.h) ==== */

#define BATCH_LINES 32 /* lines handed to a worker at a time */

enum { LINE_RECORD, LINE_TOO_LONG, LINE_BLANK };

typedef struct batch_s {
  size_t n;                     /* lines in the batch */
  uint64_t line[BATCH_LINES];   /* their line numbers */
  uint8_t kind[BATCH_LINES];    /* LINE_* */
  size_t len[BATCH_LINES];      /* bytes (the full length when too long) */
  size_t off[BATCH_LINES];      /* start in text */
  uint64_t consumed[BATCH_LINES]; /* input bytes read up to each line's end */
  wd_buf_t text;                /* the records, one after another */
  wd_fp_t fp[BATCH_LINES];
} batch_t;

/* The ring of batches and the input they are read from (the workers'
 * opaque). Whichever thread fills a batch reads the input (one at a time). */
typedef struct ring_s {
  batch_t *b;
  linereader_t *lr;
  wd_file_summary_t *sum; /* its lines count */
  int read_errno;         /* why the input could not be read */
} ring_t;

/* wd_workers_job_t over a ring_t */
static void batch_fingerprint(void *opaque, size_t slot, wd_fingerprinter_t *fpr,
                              const wd_hint_t *hint) {
  batch_t *b = ((ring_t *)opaque)->b + slot;
  for (size_t i = 0; i < b->n; i++)
    if (b->kind[i] == LINE_RECORD)
      wd_fingerprint(fpr, hint, b->text.p + b->off[i], b->len[i], NULL, 0, -1, &b->fp[i]);
}

/* Fill \p b with up to BATCH_LINES lines. @returns 1 at end of input, 0 if
 * more may follow, -1 on a read error. */
static int batch_fill(batch_t *b, linereader_t *lr, wd_file_summary_t *sum) {
  b->n = 0;
  wd_buf_clear(&b->text);
  while (b->n < BATCH_LINES) {
    int too_long;
    size_t line_len = 0;
    const size_t off = b->text.len;
    int rc = lr_next(lr, &b->text, &too_long, &line_len);
    if (rc <= 0)
      return rc == 0 ? 1 : -1;
    const size_t i = b->n++;
    b->line[i] = ++sum->lines;
    b->consumed[i] = lr->consumed;
    b->off[i] = off;
    b->len[i] = line_len;
    if (too_long)
      b->kind[i] = LINE_TOO_LONG;
    else
      b->kind[i] = is_blank(b->text.p + off, line_len) ? LINE_BLANK : LINE_RECORD;
  }
  return 0;
}

/* Commit batch \p b's records in order. */
static wd_err_t batch_commit(file_out_t *fo, batch_t *b, char *errstr, size_t errstr_size) {
  char reason[512];
  for (size_t i = 0; i < b->n; i++) {
    wd_result_t res;
    wd_err_t err;
    const char *json = b->text.p ? b->text.p + b->off[i] : "";
    if (b->kind[i] == LINE_BLANK)
      continue;
    fo->consumed = b->consumed[i];
    if (b->kind[i] == LINE_TOO_LONG) {
      too_long_reason(fo->cfg, b->len[i], reason, sizeof(reason));
      err = emit(fo, b->line[i], NULL, 0, WD_ERR_INPUT, NULL, reason, errstr, errstr_size);
    } else {
      err = wd_engine_commit(fo->eng, &b->fp[i], &res, reason, sizeof(reason));
      err = emit(fo, b->line[i], json, b->len[i], err, &res, reason, errstr, errstr_size);
    }
    if (err != WD_OK)
      return err;
  }
  return WD_OK;
}

/* wd_workers_fill_t over a ring_t */
static int ring_fill(void *opaque, size_t slot) {
  ring_t *r = opaque;
  batch_t *b = &r->b[slot];
  if (batch_fill(b, r->lr, r->sum) < 0) {
    r->read_errno = errno;
    return -1;
  }
  return b->n ? 1 : 0;
}

/* The file-mode loop with \p nthreads threads: nthreads - 1 workers, which
 * read batches and fingerprint them, and this thread, which commits them in
 * order and writes the results, reading or fingerprinting itself only when
 * it would otherwise wait. Its commits are the serial part: reading here
 * too, as this loop once did, cost 3-5% of this thread. */
static wd_err_t run_threaded(file_out_t *fo, linereader_t *lr, int nthreads, char *errstr,
                             size_t errstr_size) {
  wd_err_t err = WD_OK;
  int s;
  const size_t nb = 4 * (size_t)nthreads;
  batch_t *b = wd_calloc(nb, sizeof(*b));
  for (size_t k = 0; k < nb; k++)
    for (size_t i = 0; i < BATCH_LINES; i++)
      wd_fp_init(&b[k].fp[i], (uint32_t)fo->cfg->minhash_num_perm);
  ring_t ring = {b, lr, fo->sum, 0};
  wd_workers_t *wk = wd_workers_new(fo->cfg, nthreads, nb, batch_fingerprint, ring_fill,
                                    &ring, errstr, errstr_size);
  if (!wk) {
    err = WD_ERR_INTERNAL;
    goto done;
  }
  while ((s = wd_workers_oldest(wk, 1)) >= 0) {
    if ((err = batch_commit(fo, &b[s], errstr, errstr_size)) != WD_OK)
      goto done;
    wd_workers_release(wk, fo->eng, b[s].n);
  }
  if (wd_workers_fill_rc(wk) < 0) {
    wd_errstr_set(errstr, errstr_size, "%s: read error: %s", fo->in,
                  strerror(ring.read_errno));
    err = WD_ERR_IO;
  }

done:
  if (wk) {
    double workers_s, help_s;
    wd_workers_stop(wk);
    wd_workers_cpu_s(wk, &workers_s, &help_s);
    /* where the time went: this thread's share bounds the speed-up */
    WD_LOG(WD_LOG_DEBUG, "file mode threads", "threads=%d reader_cluster_cpu_s=%.3f "
           "fingerprint_cpu_s=%.3f reader_fingerprint_cpu_s=%.3f", nthreads,
           wd_workers_thread_cpu_s() - help_s, workers_s + help_s, help_s);
  }
  wd_workers_destroy(wk);
  for (size_t k = 0; k < nb; k++) {
    for (size_t i = 0; i < BATCH_LINES; i++)
      wd_fp_free(&b[k].fp[i]);
    wd_buf_free(&b[k].text);
  }
  wd_free(b);
  return err;
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
  wd_err_t err = wd_engine_load(eng, dir, offs, &info, errstr, errstr_size);
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
  wd_err_t err = wd_engine_save(eng, dir, offs, &info, errstr, errstr_size);
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
  wd_buf_t obuf = WD_BUF_INIT, line = WD_BUF_INIT;
  wd_err_t err = WD_OK;
  char reason[512];
  double t0 = now_s();
  int rc, threads;
  wd_progress_t pg;

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
  file_out_t fo = {cfg, eng, out, cb, opaque, sum, &obuf, in, &pg, 0, -1, 0};
  struct stat sb;
  if (fstat(fileno(lr.fp), &sb) == 0 && S_ISREG(sb.st_mode))
    fo.bytes_total = (int64_t)sb.st_size;

  if ((threads = wd_workers_threads(cfg)) > 1) {
    err = run_threaded(&fo, &lr, threads, errstr, errstr_size);
    if (err != WD_OK)
      goto done;
  } else {
    for (;;) {
      int too_long;
      size_t line_len = 0;
      wd_result_t res;
      wd_buf_clear(&line);
      rc = lr_next(&lr, &line, &too_long, &line_len);
      if (rc == 0)
        break;
      if (rc < 0) {
        wd_errstr_set(errstr, errstr_size, "%s: read error: %s", in, strerror(errno));
        err = WD_ERR_IO;
        goto done;
      }
      sum->lines++;
      if (too_long) {
        too_long_reason(cfg, line_len, reason, sizeof(reason));
        err = WD_ERR_INPUT;
      } else if (is_blank(line.p, line.len)) {
        continue; /* JSON Lines readers skip blank lines */
      } else {
        err = wd_engine_process(eng, line.p, line.len, NULL, 0, -1, &res, reason,
                                sizeof(reason));
      }
      fo.consumed = lr.consumed;
      if ((err = emit(&fo, sum->lines, too_long ? NULL : line.p, line.len, err, &res,
                      reason, errstr, errstr_size)) != WD_OK)
        goto done;
    }
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
  wd_buf_free(&line);
  if (lr.fp && lr.fp != stdin)
    fclose(lr.fp);
  return err;
}
