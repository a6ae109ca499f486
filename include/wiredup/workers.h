/* workers.h - the fingerprint stage on a pool of threads, for one committing
 * thread that takes the batches back in the order it handed them out.
 *
 * The caller owns a ring of batches (its own type; the pool only knows slot
 * numbers). It fills the slot wd_workers_next names, publishes it, and later
 * takes the oldest published slot back once fingerprinted, commits its
 * records (wd_engine_commit) in order, and releases it. Workers fingerprint
 * published slots in any order, each with its own wd_fingerprinter_t. The
 * committing thread, rather than wait, fingerprints a slot no worker has
 * taken yet, so one thread (pipeline.threads=1) needs no worker at all.
 *
 * Or the pool fills the slots too, with a fill function (file mode): then a
 * worker with nothing to fingerprint reads the next batch into a free slot
 * and publishes it, and the committing thread only commits (reading or
 * fingerprinting itself only when it would otherwise wait), so its work, the
 * serial part, is all that bounds the speed-up.
 *
 * The pool also hands out the learned-line hint (engine.h): each slot is
 * fingerprinted with the hint current when it was published, and the hint
 * is refreshed from the engine every WD_WORKERS_HINT_EVERY committed records.
 * File mode (pipeline.c), stream mode and replay (stream.c) share it.
 *
 * @code
 *   wd_workers_t *wk = wd_workers_new(cfg, threads, 4 * threads, job, NULL, batches, ...);
 *   for (;;) {
 *     if (!at_end && wd_workers_next(wk) >= 0) {
 *       fill batches[wd_workers_next(wk)]; wd_workers_publish(wk); continue;
 *     }
 *     int s = wd_workers_oldest(wk, 1);
 *     if (s < 0) break;
 *     commit batches[s]; wd_workers_release(wk, eng, records);
 *   }
 *   wd_workers_destroy(wk);
 *
 *   // with a fill function: only commit
 *   while ((s = wd_workers_oldest(wk, 1)) >= 0) { commit; wd_workers_release(...); }
 *   if (wd_workers_fill_rc(wk) < 0) ... read error ...
 * @endcode
 */
#ifndef WD_WORKERS_H
#define WD_WORKERS_H

#include <stddef.h>

#include "wiredup/config.h"
#include "wiredup/engine.h"
#include "wiredup/err.h"

typedef struct wd_workers_s wd_workers_t;

/** Records committed between refreshes of the learned-line hint. */
#define WD_WORKERS_HINT_EVERY 256

/** Fingerprint the records of batch \p slot with \p fpr and \p hint (may be
 *  NULL). Runs on a worker thread or on the committing thread; never on two
 *  threads for one slot. */
typedef void(wd_workers_job_t)(void *opaque, size_t slot, wd_fingerprinter_t *fpr,
                               const wd_hint_t *hint);

/** Read the next batch into \p slot, on whichever thread is free; calls
 *  are one at a time, for the slots in order.
 *  @returns 1: filled (it is published); 0: end of input (nothing put in the
 *  slot; no more calls); -1: an error, kept by the caller (no more calls). */
typedef int(wd_workers_fill_t)(void *opaque, size_t slot);

/** @brief pipeline.threads resolved: the configured count, or (0) one per
 *  CPU this process may run on (taskset, cgroup cpusets). */
int wd_workers_threads(const wd_config_t *cfg);

/**
 * @brief A pool of \p threads - 1 worker threads (the committing thread is
 *        the last) over a ring of \p slots batches.
 * @param cfg     borrowed; must outlive the pool.
 * @param fill    NULL: the caller fills and publishes (wd_workers_next,
 *                wd_workers_publish). Else the pool does, and the caller uses
 *                only wd_workers_oldest, wd_workers_release and
 *                wd_workers_fill_rc.
 * @param opaque  passed to \p job and \p fill (the caller's batches).
 * @returns NULL with errstr set when a fingerprinter or thread cannot be made.
 */
wd_workers_t *wd_workers_new(const wd_config_t *cfg, int threads, size_t slots,
                             wd_workers_job_t *job, wd_workers_fill_t *fill, void *opaque,
                             char *errstr, size_t errstr_size);

/** @brief Stop and join the workers, free everything; NULL is a no-op. Slots
 *  published and not taken back are abandoned (the caller frees their
 *  contents). */
void wd_workers_destroy(wd_workers_t *wk);

/** @brief The slot to fill next, or -1 when every slot is published and not
 *  yet released (take the oldest back first). */
int wd_workers_next(const wd_workers_t *wk);

/** @brief Hand the slot wd_workers_next named to the workers. */
void wd_workers_publish(wd_workers_t *wk);

/** @brief Published slots not yet released. */
size_t wd_workers_pending(const wd_workers_t *wk);

/**
 * @brief The oldest published slot, once it is fingerprinted.
 * @param wait  0: return -1 at once if it is not done yet. 1: until it is,
 *              fingerprinting slots no worker has taken on this thread (and,
 *              with a fill function, reading batches no worker is reading).
 * @returns the slot, or -1 (nothing pending, or not done and !wait; with a
 *          fill function and \p wait: the input has ended, see
 *          wd_workers_fill_rc, and every batch is released).
 */
int wd_workers_oldest(wd_workers_t *wk, int wait);

/** @brief The fill function's last answer: 1 while input lasts, 0 at its
 *  end, -1 after an error. */
int wd_workers_fill_rc(wd_workers_t *wk);

/** @brief The oldest slot is committed (\p records of them): its slot may be
 *  filled again. Refreshes the hint from \p eng when it is due (NULL: none). */
void wd_workers_release(wd_workers_t *wk, wd_engine_t *eng, size_t records);

/** @brief The calling thread's CPU time in seconds. */
double wd_workers_thread_cpu_s(void);

/** @brief CPU seconds spent fingerprinting: \p workers_s by the workers
 *  that have ended (all of them after wd_workers_stop), \p committer_s by
 *  the committing thread. */
void wd_workers_cpu_s(const wd_workers_t *wk, double *workers_s, double *committer_s);

/** @brief Stop and join the worker threads now (wd_workers_destroy does it
 *  too); afterwards the committing thread fingerprints everything itself. */
void wd_workers_stop(wd_workers_t *wk);

#endif
