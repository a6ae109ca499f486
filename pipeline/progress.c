/* progress.c - the status line of long runs; see progress.h. */
#include "wiredup/progress.h"
#include "wiredup/log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TTY_INTERVAL_MS 250.0
#define LOG_INTERVAL_MS 10000.0

static double mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void wd_progress_init(wd_progress_t *pg, const char *what, double interval_ms) {
  memset(pg, 0, sizeof(*pg));
  pg->what = what;
  pg->enabled = wd_log_threshold <= WD_LOG_INFO;
  pg->tty = isatty(STDERR_FILENO);
  pg->interval_ms = interval_ms > 0 ? interval_ms : pg->tty ? TTY_INTERVAL_MS : LOG_INTERVAL_MS;
  pg->start_ms = pg->last_ms = mono_ms();
  pg->left = -1;
  pg->bytes_done = pg->bytes_total = -1;
}

/* "1h02m", "3m05s", "42s" */
static void fmt_duration(char *dst, size_t cap, double s) {
  long t = (long)(s + 0.5);
  if (t >= 3600)
    snprintf(dst, cap, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  else if (t >= 60)
    snprintf(dst, cap, "%ldm%02lds", t / 60, t % 60);
  else
    snprintf(dst, cap, "%lds", t);
}

void wd_progress_format(const wd_progress_t *pg, double now_ms, char *dst, size_t dst_size) {
  double secs = (now_ms - pg->start_ms) / 1e3;
  double rate = secs > 0 ? (double)pg->done / secs : 0.0;
  char eta[32] = "";
  size_t n = 0;
  int k = snprintf(dst, dst_size, "records=%llu rate=%.0f/s", (unsigned long long)pg->done,
                   rate);
  if (k < 0 || (size_t)k >= dst_size)
    return;
  n = (size_t)k;
  if (pg->bytes_total > 0 && pg->bytes_done >= 0) {
    double frac = (double)pg->bytes_done / (double)pg->bytes_total;
    k = snprintf(dst + n, dst_size - n, " done=%.1f%%", 100.0 * (frac > 1 ? 1 : frac));
    if (k > 0 && (size_t)k < dst_size - n)
      n += (size_t)k;
    if (frac > 0 && frac < 1 && secs > 0)
      fmt_duration(eta, sizeof(eta), secs / frac - secs);
  } else if (pg->left >= 0) {
    k = snprintf(dst + n, dst_size - n, " lag=%lld", (long long)pg->left);
    if (k > 0 && (size_t)k < dst_size - n)
      n += (size_t)k;
    if (rate > 0 && pg->left > 0)
      fmt_duration(eta, sizeof(eta), (double)pg->left / rate);
  }
  if (eta[0])
    snprintf(dst + n, dst_size - n, " eta=%s", eta);
}

static void show(wd_progress_t *pg, double now) {
  char text[256];
  pg->last_ms = now;
  wd_progress_format(pg, now, text, sizeof(text));
  if (pg->tty) {
    char line[300];
    int n = snprintf(line, sizeof(line), "\r\033[K%s: %s", pg->what, text);
    if (n > 0) {
      ssize_t w = write(STDERR_FILENO, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
      (void)w;
      pg->drawn = 1;
      wd_log_status_shown = 1;
    }
  } else {
    WD_LOG(WD_LOG_INFO, "progress", "what=\"%s\" %s", pg->what, text);
  }
}

int wd_progress_due(wd_progress_t *pg) {
  /* the clock is read every 256 calls only: this is on the hot path */
  if (!pg->enabled || (++pg->calls & 255) != 0)
    return 0;
  return mono_ms() - pg->last_ms >= pg->interval_ms;
}

void wd_progress_show(wd_progress_t *pg, uint64_t done, int64_t left) {
  pg->done = done;
  pg->left = left;
  show(pg, mono_ms());
}

void wd_progress_update(wd_progress_t *pg, uint64_t done, int64_t left) {
  if (wd_progress_due(pg))
    wd_progress_show(pg, done, left);
}

void wd_progress_update_bytes(wd_progress_t *pg, uint64_t done, int64_t bytes_done,
                              int64_t bytes_total) {
  if (!wd_progress_due(pg))
    return;
  pg->bytes_done = bytes_done;
  pg->bytes_total = bytes_total;
  wd_progress_show(pg, done, -1);
}

void wd_progress_end(wd_progress_t *pg) {
  if (pg->drawn && wd_log_status_shown) {
    ssize_t w = write(STDERR_FILENO, "\r\033[K", 4);
    (void)w;
  }
  pg->drawn = 0;
  wd_log_status_shown = 0;
}
