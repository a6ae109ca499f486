/* workers.c - the fingerprint stage on a pool of threads (see workers.h).
 *
 * One mutex guards the slot sequence numbers, the done flags, the filling
 * and the hint references; a batch is tens of records, so the lock is taken
 * a few times per batch, not per record. A worker reads the hint its slot
 * was published with, which never changes; only the committing thread makes
 * new hints (from the engine), and swaps them in under the lock. */
#define _GNU_SOURCE /* sched_getaffinity */
#include "wiredup/workers.h"
#include "wiredup/mem.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A learned-line hint and the published slots that use it. */
typedef struct hint_box_s {
  wd_hint_t *h;
  unsigned refs;
} hint_box_t;

typedef struct worker_s {
  struct wd_workers_s *wk;
  wd_fingerprinter_t *fpr;
  double cpu_s; /* the thread's CPU time, when it ends */
} worker_t;

struct wd_workers_s {
  pthread_mutex_t mu;
  pthread_cond_t work, done;
  size_t nslots;
  uint8_t *slot_done;    /* per slot: fingerprinted (under mu) */
  hint_box_t **slot_hint; /* per slot: the hint it was published with */
  uint64_t published, claimed, released; /* slot sequence numbers */
  int stop;
  wd_workers_job_t *job;
  wd_workers_fill_t *fill; /* NULL: the caller fills and publishes */
  int filling;             /* a thread is filling the next slot */
  int fill_rc;             /* 1 while input lasts; then 0 (end) or -1 */
  void *opaque;
  int nthreads, started;
  worker_t *w; /* nthreads; the last is the committing thread's */
  pthread_t *tid;
  hint_box_t *cur;       /* the hint new slots get */
  size_t since_hint;     /* records released since the last refresh */
  double help_cpu;       /* the committing thread's time fingerprinting */
  double workers_cpu;    /* the joined workers' */
};

double wd_workers_thread_cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void hint_unref(wd_workers_t *wk, hint_box_t *hb) {
  if (hb && --hb->refs == 0 && hb != wk->cur) {
    wd_hint_free(hb->h);
    wd_free(hb);
  }
}

/* Fingerprint the slot of sequence number \p seq, claimed under the lock
 * (called and returning with it held). */
static void run_job(wd_workers_t *wk, worker_t *w, uint64_t seq) {
  const size_t slot = (size_t)(seq % wk->nslots);
  hint_box_t *hb = wk->slot_hint[slot];
  pthread_mutex_unlock(&wk->mu);
  wk->job(wk->opaque, slot, w->fpr, hb ? hb->h : NULL);
  pthread_mutex_lock(&wk->mu);
  wk->slot_done[slot] = 1;
  pthread_cond_broadcast(&wk->done);
}

/* Under the lock: the slot wd_workers_next names goes to the workers with
 * the current hint. */
static void publish_locked(wd_workers_t *wk) {
  const size_t slot = (size_t)(wk->published % wk->nslots);
  if ((wk->slot_hint[slot] = wk->cur))
    wk->cur->refs++;
  wk->slot_done[slot] = 0;
  wk->published++;
  pthread_cond_signal(&wk->work);
  pthread_cond_broadcast(&wk->done); /* a committer may wait for input */
}

/* Under the lock: may this thread fill the next slot now? */
static int can_fill(const wd_workers_t *wk) {
  return wk->fill && !wk->filling && wk->fill_rc > 0 &&
         wk->published - wk->released < wk->nslots;
}

/* Under the lock (released meanwhile): fill the next slot and publish it, or
 * note the end of input. Fills run one at a time, in slot order. */
static void run_fill(wd_workers_t *wk) {
  const size_t slot = (size_t)(wk->published % wk->nslots);
  wk->filling = 1;
  pthread_mutex_unlock(&wk->mu);
  const int rc = wk->fill(wk->opaque, slot);
  pthread_mutex_lock(&wk->mu);
  wk->filling = 0;
  if (rc > 0) {
    publish_locked(wk);
  } else {
    wk->fill_rc = rc;
    pthread_cond_broadcast(&wk->done);
  }
}

static void *worker_main(void *arg) {
  worker_t *w = arg;
  wd_workers_t *wk = w->wk;
  pthread_mutex_lock(&wk->mu);
  while (!wk->stop) {
    if (wk->claimed < wk->published)
      run_job(wk, w, wk->claimed++);
    else if (can_fill(wk)) /* nothing to fingerprint: read ahead */
      run_fill(wk);
    else
      pthread_cond_wait(&wk->work, &wk->mu);
  }
  pthread_mutex_unlock(&wk->mu);
  w->cpu_s = wd_workers_thread_cpu_s();
  return NULL;
}

/* CPUs this process may run on (taskset, cgroups' cpusets). */
static int cpus_available(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
    return CPU_COUNT(&set);
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

int wd_workers_threads(const wd_config_t *cfg) {
  return cfg->pipeline_threads > 0 ? (int)cfg->pipeline_threads : cpus_available();
}

wd_workers_t *wd_workers_new(const wd_config_t *cfg, int threads, size_t slots,
                             wd_workers_job_t *job, wd_workers_fill_t *fill, void *opaque,
                             char *errstr, size_t errstr_size) {
  wd_workers_t *wk = wd_calloc(1, sizeof(*wk));
  pthread_mutex_init(&wk->mu, NULL);
  pthread_cond_init(&wk->work, NULL);
  pthread_cond_init(&wk->done, NULL);
  wk->nslots = slots;
  wk->slot_done = wd_calloc(slots, sizeof(*wk->slot_done));
  wk->slot_hint = wd_calloc(slots, sizeof(*wk->slot_hint));
  wk->job = job;
  wk->fill = fill;
  wk->fill_rc = 1;
  wk->opaque = opaque;
  wk->nthreads = threads < 1 ? 1 : threads;
  wk->w = wd_calloc((size_t)wk->nthreads, sizeof(*wk->w));
  wk->tid = wd_calloc((size_t)wk->nthreads, sizeof(*wk->tid));
  for (int t = 0; t < wk->nthreads; t++) {
    wk->w[t].wk = wk;
    if (!(wk->w[t].fpr = wd_fingerprinter_new(cfg, errstr, errstr_size)))
      goto fail;
  }
  for (; wk->started < wk->nthreads - 1; wk->started++)
    if (pthread_create(&wk->tid[wk->started], NULL, worker_main, &wk->w[wk->started]) !=
        0) {
      wd_errstr_set(errstr, errstr_size, "cannot start a worker thread: %s",
                    strerror(errno));
      goto fail;
    }
  return wk;
fail:
  wd_workers_destroy(wk);
  return NULL;
}

void wd_workers_stop(wd_workers_t *wk) {
  pthread_mutex_lock(&wk->mu);
  wk->stop = 1;
  pthread_cond_broadcast(&wk->work);
  pthread_mutex_unlock(&wk->mu);
  for (int t = 0; t < wk->started; t++) {
    pthread_join(wk->tid[t], NULL);
    wk->workers_cpu += wk->w[t].cpu_s;
  }
  wk->started = 0;
}

void wd_workers_destroy(wd_workers_t *wk) {
  if (!wk)
    return;
  wd_workers_stop(wk);
  for (int t = 0; t < wk->nthreads; t++)
    wd_fingerprinter_destroy(wk->w[t].fpr);
  for (uint64_t s = wk->released; s < wk->published; s++)
    hint_unref(wk, wk->slot_hint[s % wk->nslots]);
  if (wk->cur) {
    wd_hint_free(wk->cur->h);
    wd_free(wk->cur);
  }
  wd_free(wk->slot_done);
  wd_free(wk->slot_hint);
  wd_free(wk->w);
  wd_free(wk->tid);
  pthread_cond_destroy(&wk->work);
  pthread_cond_destroy(&wk->done);
  pthread_mutex_destroy(&wk->mu);
  wd_free(wk);
}

int wd_workers_next(const wd_workers_t *wk) {
  if (wk->published - wk->released == wk->nslots)
    return -1;
  return (int)(wk->published % wk->nslots);
}

void wd_workers_publish(wd_workers_t *wk) {
  pthread_mutex_lock(&wk->mu);
  publish_locked(wk);
  pthread_mutex_unlock(&wk->mu);
}

size_t wd_workers_pending(const wd_workers_t *wk) {
  return (size_t)(wk->published - wk->released);
}

int wd_workers_oldest(wd_workers_t *wk, int wait) {
  int s = -1;
  pthread_mutex_lock(&wk->mu);
  for (;;) {
    const size_t slot = (size_t)(wk->released % wk->nslots);
    if (wk->released < wk->published && wk->slot_done[slot]) {
      s = (int)slot;
      break;
    }
    if (!wait || (wk->released == wk->published && !can_fill(wk) &&
                  (!wk->fill || (wk->fill_rc <= 0 && !wk->filling))))
      break; /* not done yet, or nothing pending and no more to come */
    if (wk->claimed < wk->published) {
      /* rather than wait, fingerprint a slot no worker has taken */
      const double c0 = wd_workers_thread_cpu_s();
      run_job(wk, &wk->w[wk->nthreads - 1], wk->claimed++);
      wk->help_cpu += wd_workers_thread_cpu_s() - c0;
    } else if (can_fill(wk)) {
      run_fill(wk); /* the workers are all busy: read on */
    } else {
      pthread_cond_wait(&wk->done, &wk->mu);
    }
  }
  pthread_mutex_unlock(&wk->mu);
  return s;
}

int wd_workers_fill_rc(wd_workers_t *wk) {
  pthread_mutex_lock(&wk->mu);
  const int rc = wk->fill_rc;
  pthread_mutex_unlock(&wk->mu);
  return rc;
}

void wd_workers_release(wd_workers_t *wk, wd_engine_t *eng, size_t records) {
  pthread_mutex_lock(&wk->mu);
  const size_t slot = (size_t)(wk->released % wk->nslots);
  hint_unref(wk, wk->slot_hint[slot]);
  wk->slot_hint[slot] = NULL;
  wk->released++;
  if (wk->fill)
    pthread_cond_signal(&wk->work); /* a slot to read into */
  pthread_mutex_unlock(&wk->mu);
  if (!eng || (wk->since_hint += records) < WD_WORKERS_HINT_EVERY)
    return; /* no engine here (the fingerprint role): no hints */
  wk->since_hint = 0;
  wd_hint_t *h = wd_engine_hint(eng);
  if (!h)
    return;
  hint_box_t *hb = wd_calloc(1, sizeof(*hb));
  hb->h = h;
  pthread_mutex_lock(&wk->mu);
  if (wk->cur && wk->cur->refs == 0) {
    wd_hint_free(wk->cur->h);
    wd_free(wk->cur);
  }
  wk->cur = hb;
  pthread_mutex_unlock(&wk->mu);
}

void wd_workers_cpu_s(const wd_workers_t *wk, double *workers_s, double *committer_s) {
  *workers_s = wk->workers_cpu;
  *committer_s = wk->help_cpu;
}
