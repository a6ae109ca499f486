/* workers.c - the fingerprint stage on a pool of threads (see workers.h).
 *
 * One mutex guards the slot sequence numbers and the done flags; a batch is
 * tens of records, so the lock is taken a few times per batch, not per
 * record. The hints are touched by the committing thread only: a worker
 * reads the hint its slot was published with, which never changes. */
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

static void run_job(wd_workers_t *wk, worker_t *w, uint64_t seq) {
  const size_t slot = (size_t)(seq % wk->nslots);
  hint_box_t *hb = wk->slot_hint[slot];
  wk->job(wk->opaque, slot, w->fpr, hb ? hb->h : NULL);
}

static void *worker_main(void *arg) {
  worker_t *w = arg;
  wd_workers_t *wk = w->wk;
  pthread_mutex_lock(&wk->mu);
  for (;;) {
    while (!wk->stop && wk->claimed == wk->published)
      pthread_cond_wait(&wk->work, &wk->mu);
    if (wk->stop)
      break;
    uint64_t seq = wk->claimed++;
    pthread_mutex_unlock(&wk->mu);
    run_job(wk, w, seq);
    pthread_mutex_lock(&wk->mu);
    wk->slot_done[seq % wk->nslots] = 1;
    pthread_cond_broadcast(&wk->done);
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
                             wd_workers_job_t *job, void *opaque, char *errstr,
                             size_t errstr_size) {
  wd_workers_t *wk = wd_calloc(1, sizeof(*wk));
  pthread_mutex_init(&wk->mu, NULL);
  pthread_cond_init(&wk->work, NULL);
  pthread_cond_init(&wk->done, NULL);
  wk->nslots = slots;
  wk->slot_done = wd_calloc(slots, sizeof(*wk->slot_done));
  wk->slot_hint = wd_calloc(slots, sizeof(*wk->slot_hint));
  wk->job = job;
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
  const size_t slot = (size_t)(wk->published % wk->nslots);
  if ((wk->slot_hint[slot] = wk->cur))
    wk->cur->refs++;
  pthread_mutex_lock(&wk->mu);
  wk->slot_done[slot] = 0;
  wk->published++;
  pthread_cond_signal(&wk->work);
  pthread_mutex_unlock(&wk->mu);
}

size_t wd_workers_pending(const wd_workers_t *wk) {
  return (size_t)(wk->published - wk->released);
}

int wd_workers_oldest(wd_workers_t *wk, int wait) {
  if (wk->released == wk->published)
    return -1;
  const size_t slot = (size_t)(wk->released % wk->nslots);
  pthread_mutex_lock(&wk->mu);
  while (!wk->slot_done[slot] && wait) {
    if (wk->claimed < wk->published) {
      /* rather than wait, fingerprint a slot no worker has taken */
      uint64_t seq = wk->claimed++;
      pthread_mutex_unlock(&wk->mu);
      const double c0 = wd_workers_thread_cpu_s();
      run_job(wk, &wk->w[wk->nthreads - 1], seq);
      wk->help_cpu += wd_workers_thread_cpu_s() - c0;
      pthread_mutex_lock(&wk->mu);
      wk->slot_done[seq % wk->nslots] = 1;
      continue;
    }
    pthread_cond_wait(&wk->done, &wk->mu);
  }
  int done = wk->slot_done[slot];
  pthread_mutex_unlock(&wk->mu);
  return done ? (int)slot : -1;
}

void wd_workers_release(wd_workers_t *wk, wd_engine_t *eng, size_t records) {
  const size_t slot = (size_t)(wk->released % wk->nslots);
  hint_unref(wk, wk->slot_hint[slot]);
  wk->slot_hint[slot] = NULL;
  wk->released++;
  if ((wk->since_hint += records) < WD_WORKERS_HINT_EVERY)
    return;
  wk->since_hint = 0;
  wd_hint_t *h = wd_engine_hint(eng);
  if (!h)
    return;
  if (wk->cur && wk->cur->refs == 0) {
    wd_hint_free(wk->cur->h);
    wd_free(wk->cur);
  }
  wk->cur = wd_calloc(1, sizeof(*wk->cur));
  wk->cur->h = h;
}

void wd_workers_cpu_s(const wd_workers_t *wk, double *workers_s, double *committer_s) {
  *workers_s = wk->workers_cpu;
  *committer_s = wk->help_cpu;
}
