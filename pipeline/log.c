/* log.c - contract-format log lines on stderr.
 *
 * Each line is assembled in a stack buffer and written with one write(2), so
 * lines from the librdkafka threads and ours never interleave mid-line. */
#include "wiredup/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

volatile int wd_log_threshold = WD_LOG_INFO;

static const char *level_names[] = {"debug", "info", "warn", "error"};

void wd_log_set_level(wd_log_level_t level) { wd_log_threshold = (int)level; }

int wd_log_level_parse(const char *name, wd_log_level_t *level) {
  for (int i = 0; i < 4; i++) {
    if (strcmp(name, level_names[i]) == 0) {
      *level = (wd_log_level_t)i;
      return 0;
    }
  }
  if (strcmp(name, "warning") == 0) {
    *level = WD_LOG_WARN;
    return 0;
  }
  return -1;
}

const char *wd_log_quote(char *dst, size_t cap, const char *s) {
  size_t o = 0;
  int bare = *s != '\0';
  if (cap == 0)
    return dst;
  for (const char *p = s; *p && bare; p++)
    if (*p == ' ' || *p == '"' || *p == '=' || (unsigned char)*p < 0x20 ||
        *p == '\\' || *p == 0x7f)
      bare = 0;
  if (bare) {
    snprintf(dst, cap, "%s", s);
    return dst;
  }
#define PUT(c) do { if (o + 1 < cap) dst[o++] = (c); } while (0)
  PUT('"');
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (o + 6 >= cap)
      break;
    if (*p == '"' || *p == '\\') {
      PUT('\\');
      PUT((char)*p);
    } else if (*p < 0x20 || *p == 0x7f) {
      o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", *p);
    } else {
      PUT((char)*p);
    }
  }
  PUT('"');
#undef PUT
  dst[o < cap ? o : cap - 1] = '\0';
  return dst;
}

volatile int wd_log_status_shown;

void wd_log_write(wd_log_level_t level, const char *msg, const char *kvfmt, ...) {
  char line[4096];
  char qmsg[1024];
  int n;
  va_list ap;

  if ((int)level < 0 || (int)level > 3)
    level = WD_LOG_ERROR;
  wd_log_quote(qmsg, sizeof(qmsg), msg);
  /* msg is always quoted so a parser can rely on msg="..." */
  if (qmsg[0] != '"')
    n = snprintf(line, sizeof(line), "level=%s msg=\"%s\"", level_names[level], qmsg);
  else
    n = snprintf(line, sizeof(line), "level=%s msg=%s", level_names[level], qmsg);
  if (n < 0)
    return;
  if ((size_t)n >= sizeof(line) - 2)
    n = (int)sizeof(line) - 2;
  va_start(ap, kvfmt);
  if (kvfmt && kvfmt[0]) {
    char tail[3072];
    int m = vsnprintf(tail, sizeof(tail), kvfmt, ap);
    if (m > 0 && tail[0]) {
      int k = snprintf(line + n, sizeof(line) - (size_t)n - 1, " %s", tail);
      if (k > 0)
        n += k;
      if ((size_t)n >= sizeof(line) - 1)
        n = (int)sizeof(line) - 2;
    }
  }
  va_end(ap);
  line[n++] = '\n';
  /* A progress line on the terminal: erase it first (it is redrawn at its
   * next update), so the log line does not land in the middle of it. */
  if (wd_log_status_shown) {
    wd_log_status_shown = 0;
    ssize_t e = write(STDERR_FILENO, "\r\033[K", 4);
    (void)e;
  }
  /* one write: lines from several threads stay whole */
  ssize_t w = write(STDERR_FILENO, line, (size_t)n);
  (void)w;
}
