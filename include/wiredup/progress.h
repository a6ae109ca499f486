/* progress.h - progress of a long run (file mode, replay) on stderr.
 *
 * On a terminal: one status line redrawn in place (\r, at most 4 times a
 * second), erased when the run ends so the log lines after it stay clean.
 * Elsewhere (a pipe, a file, journald): a plain `level=info msg=progress`
 * log line every interval (default 10 s), nothing for short runs.
 *
 * @code
 *   wd_progress_t pg;
 *   wd_progress_init(&pg, "replay", 0);
 *   for (...) { ...; wd_progress_update(&pg, done, left); }
 *   wd_progress_end(&pg);
 * @endcode
 *
 * \p left is what remains in the same unit as the rate (records for replay:
 * the lag; file mode gives bytes left through wd_progress_update_bytes), or
 * -1 when unknown: then no ETA is shown. */
#ifndef WD_PROGRESS_H
#define WD_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

typedef struct wd_progress_s {
  const char *what;     /**< "replay", "file mode": the line's prefix */
  int tty;              /**< stderr is a terminal: redraw in place */
  int drawn;            /**< a status line is on the terminal now */
  int enabled;          /**< 0: every call is a no-op */
  double start_ms, last_ms;
  double interval_ms;   /**< between updates (250 on a tty, 10000 else) */
  uint64_t done;
  unsigned calls;       /**< updates so far: the clock is read every 256 */
  int64_t left;
  int64_t bytes_done, bytes_total; /**< file mode: -1 when not known */
} wd_progress_t;

/** @brief Start measuring now. \p interval_ms 0 = the defaults above.
 *  Progress is off when the log threshold is above info (log.level warn). */
void wd_progress_init(wd_progress_t *pg, const char *what, double interval_ms);

/** @brief \p done records so far, \p left records still to go (-1 unknown).
 *  Cheap when not due: one clock read every 256 calls. */
void wd_progress_update(wd_progress_t *pg, uint64_t done, int64_t left);

/** @brief Count one update; 1 when the line is to be redrawn now (then
 *  call wd_progress_show). For callers whose \p left is costly to compute:
 *  wd_progress_update is wd_progress_due + wd_progress_show. */
int wd_progress_due(wd_progress_t *pg);

/** @brief Redraw (or log) the line now with \p done and \p left. */
void wd_progress_show(wd_progress_t *pg, uint64_t done, int64_t left);

/** @brief File mode: \p done records, \p bytes_done of \p bytes_total
 *  (-1 when the input is not a regular file) read. */
void wd_progress_update_bytes(wd_progress_t *pg, uint64_t done, int64_t bytes_done,
                              int64_t bytes_total);

/** @brief Erase the terminal status line, if one is shown. */
void wd_progress_end(wd_progress_t *pg);

/** @brief Format the status text for \p pg at \p now_ms into \p dst (for
 *  tests: the same text the terminal line and the log line carry). */
void wd_progress_format(const wd_progress_t *pg, double now_ms, char *dst,
                        size_t dst_size);

#endif
