/* log.h - one line per event on stderr: `level=info msg="..." key=value`.
 *
 * WD_LOG checks the threshold before evaluating its arguments (redis serverLog),
 * so a debug line costs one compare when debug is off. */
#ifndef WD_LOG_H
#define WD_LOG_H

#include <stddef.h>

typedef enum wd_log_level_e {
  WD_LOG_DEBUG = 0,
  WD_LOG_INFO = 1,
  WD_LOG_WARN = 2,
  WD_LOG_ERROR = 3
} wd_log_level_t;

/** Current threshold; lines below it are not formatted. Set with wd_log_set_level. */
extern volatile int wd_log_threshold;

void wd_log_set_level(wd_log_level_t level);

/** Set by progress.c while its status line is on the terminal (stderr);
 *  wd_log_write erases that line before writing and clears the flag. */
extern volatile int wd_log_status_shown;

/** @brief Parse "debug|info|warn|error". @returns 0 on success, -1 if unknown. */
int wd_log_level_parse(const char *name, wd_log_level_t *level);

/** @brief Write one line: level=L msg="MSG" then the formatted key=value pairs.
 *  @param kvfmt printf format for the key=value tail (may be "%s","" for none).
 *  Thread-safe: a line is written with a single write(2). */
void wd_log_write(wd_log_level_t level, const char *msg, const char *kvfmt, ...)
    __attribute__((format(printf, 3, 4)));

/** @brief Write \p s into dst (cap bytes) as a log value: bare if it has no
 *  space, quote or '=', else double-quoted with \" and \\ escaped and control
 *  bytes as \xNN. Truncates to fit. @returns dst. */
const char *wd_log_quote(char *dst, size_t cap, const char *s);

#define WD_LOG(level, msg, ...)                                                \
  do {                                                                         \
    if ((int)(level) >= wd_log_threshold)                                      \
      wd_log_write((level), (msg), __VA_ARGS__);                               \
  } while (0)

/** A line with no key=value tail. */
#define WD_LOGM(level, msg) WD_LOG(level, msg, "%s", "")

#ifdef WD_DEBUG
#define WD_TRACE(...) WD_LOG(WD_LOG_DEBUG, __VA_ARGS__)
#else
#define WD_TRACE(...) do { } while (0)
#endif

#endif
