/* merge.c - the event-time merge of a partitioned input (merge.h): one
 * queue (a ring) per partition, the earliest head goes next, and the
 * per-partition watermarks. A scan over the partitions per record: topics
 * have tens of partitions, and the scan is a few compares each. */
#include "wiredup/merge.h"

#include <assert.h>
#include <string.h>

#include "wiredup/mem.h"

typedef struct mq_ent_s {
  void *item;
  int64_t offset;
  int64_t ts;
  size_t bytes;
  double pushed;
} mq_ent_t;

typedef struct mpart_s {
  int active;
  int paused;
  int64_t next;     /* offset after the last record pushed; -1 unknown */
  int64_t end;      /* read up to here (exclusive); -1 none */
  int64_t high;     /* the broker's end as last heard; -1 unknown */
  int64_t max_ts;   /* newest event time pushed; INT64_MIN none */
  double last_data; /* when it last had a record pushed or queued */
  double wait_from; /* since when a pop waits for it; < 0 none */
  int timed_out;    /* that wait was given up: not waited for again until
                       its next record */
  int timeout_new;  /* ... and wd_merge_timeout_take has not said so yet */
  mq_ent_t *q;      /* ring of cap entries */
  size_t head, cnt, cap;
  size_t bytes;
} mpart_t;

struct wd_merge_s {
  wd_merge_opts_t o;
  mpart_t *p; /* indexed by partition number */
  int32_t p_cap;
  size_t active;
  int32_t waiting; /* what the last empty pop waited for */
  int64_t wm;      /* the watermark, never moving back */
  int64_t max_ts;  /* newest event time handed out */
  uint64_t out_of_order, wait_timeouts, duplicates;
  size_t queued, queued_bytes;
};

static int64_t sat_sub(int64_t a, int64_t b) {
  if (a == INT64_MIN)
    return INT64_MIN;
  return a < INT64_MIN + b ? INT64_MIN : a - b;
}

wd_merge_t *wd_merge_new(const wd_merge_opts_t *opts) {
  wd_merge_t *m = wd_calloc(1, sizeof(*m));
  m->o = *opts;
  if (m->o.lateness_ms < 0)
    m->o.lateness_ms = 0;
  m->waiting = -1;
  m->wm = INT64_MIN;
  m->max_ts = INT64_MIN;
  return m;
}

static void part_drop(wd_merge_t *m, mpart_t *p, wd_merge_drop_cb_t *drop, void *opaque) {
  for (size_t k = 0; k < p->cnt; k++) {
    const mq_ent_t *e = &p->q[(p->head + k) % p->cap];
    if (drop)
      drop(e->item, opaque);
  }
  m->queued -= p->cnt;
  m->queued_bytes -= p->bytes;
  p->head = p->cnt = 0;
  p->bytes = 0;
}

void wd_merge_destroy(wd_merge_t *m, wd_merge_drop_cb_t *drop, void *opaque) {
  if (!m)
    return;
  for (int32_t i = 0; i < m->p_cap; i++) {
    part_drop(m, &m->p[i], drop, opaque);
    wd_free(m->p[i].q);
  }
  wd_free(m->p);
  wd_free(m);
}

static mpart_t *part_get(const wd_merge_t *m, int32_t partition) {
  if (partition < 0 || partition >= m->p_cap || !m->p[partition].active)
    return NULL;
  return &m->p[partition];
}

void wd_merge_add(wd_merge_t *m, int32_t partition, int64_t next, int64_t max_ts_ms,
                  double now_ms, wd_merge_drop_cb_t *drop, void *opaque) {
  assert(partition >= 0 && partition <= WD_MERGE_MAX_PARTITION);
  if (partition >= m->p_cap) {
    int32_t ncap = m->p_cap ? m->p_cap : 8;
    while (ncap <= partition)
      ncap *= 2;
    m->p = wd_realloc(m->p, (size_t)ncap * sizeof(*m->p));
    memset(m->p + m->p_cap, 0, (size_t)(ncap - m->p_cap) * sizeof(*m->p));
    m->p_cap = ncap;
  }
  mpart_t *p = &m->p[partition];
  if (p->active)
    part_drop(m, p, drop, opaque);
  else
    m->active++;
  p->active = 1;
  p->paused = 0;
  p->next = next;
  p->end = -1;
  p->high = -1;
  p->max_ts = max_ts_ms;
  p->last_data = now_ms;
  p->wait_from = -1;
  p->timed_out = 0;
  p->timeout_new = 0;
}

void wd_merge_remove(wd_merge_t *m, int32_t partition, wd_merge_drop_cb_t *drop,
                     void *opaque) {
  mpart_t *p = part_get(m, partition);
  if (!p)
    return;
  part_drop(m, p, drop, opaque);
  p->active = 0;
  m->active--;
  if (m->waiting == partition)
    m->waiting = -1;
}

int wd_merge_has(const wd_merge_t *m, int32_t partition) {
  return part_get(m, partition) != NULL;
}

void wd_merge_set_end(wd_merge_t *m, int32_t partition, int64_t end) {
  mpart_t *p = part_get(m, partition);
  if (p)
    p->end = end;
}

static int part_caught_up(const mpart_t *p);

void wd_merge_set_high(wd_merge_t *m, int32_t partition, int64_t high) {
  mpart_t *p = part_get(m, partition);
  if (!p)
    return;
  if (high > p->high)
    p->high = high;
  if (part_caught_up(p))
    p->wait_from = -1; /* a wait after it falls behind again starts afresh */
}

void wd_merge_eof(wd_merge_t *m, int32_t partition, int64_t offset) {
  mpart_t *p = part_get(m, partition);
  if (!p || offset < 0)
    return;
  if (p->next < 0)
    p->next = offset;
  wd_merge_set_high(m, partition, offset);
}

static int part_done(const mpart_t *p) { return p->end >= 0 && p->next >= p->end; }

/* At the broker's end as last heard: nothing more to read right now. */
static int part_caught_up(const mpart_t *p) {
  return p->high >= 0 && p->next >= 0 && p->next >= p->high;
}

static int part_idle(const wd_merge_t *m, const mpart_t *p, double now_ms) {
  return p->cnt == 0 && m->o.idle_timeout_ms >= 0 &&
         now_ms - p->last_data >= (double)m->o.idle_timeout_ms;
}

int wd_merge_push(wd_merge_t *m, int32_t partition, int64_t offset, int64_t ts_ms,
                  size_t bytes, void *item, double now_ms) {
  mpart_t *p = part_get(m, partition);
  if (!p || part_done(p) || (p->end >= 0 && offset >= p->end))
    return 0;
  if (p->next >= 0 && offset < p->next) {
    m->duplicates++; /* fetched again after a pause: we have it already */
    return 0;
  }
  if (p->cnt == p->cap)
    p->q = wd_ring_grow(p->q, sizeof(*p->q), &p->head, p->cnt, &p->cap, 64);
  p->q[(p->head + p->cnt) % p->cap] = (mq_ent_t){item, offset, ts_ms, bytes, now_ms};
  p->cnt++;
  p->bytes += bytes;
  m->queued++;
  m->queued_bytes += bytes;
  p->next = offset + 1;
  if (ts_ms > p->max_ts)
    p->max_ts = ts_ms;
  p->last_data = now_ms;
  p->wait_from = -1;
  p->timed_out = 0;
  return 1;
}

void wd_merge_skip(wd_merge_t *m, int32_t partition, int64_t offset) {
  mpart_t *p = part_get(m, partition);
  if (p && offset >= p->next) {
    p->next = offset + 1;
    p->wait_from = -1;
    p->timed_out = 0;
  }
}

int wd_merge_passed(wd_merge_t *m, int32_t partition, int64_t offset, int64_t ts_ms,
                    double now_ms) {
  if (!part_get(m, partition))
    wd_merge_add(m, partition, -1, INT64_MIN, now_ms, NULL, NULL);
  mpart_t *p = &m->p[partition];
  if (p->next >= 0 && offset < p->next) {
    m->duplicates++;
    return 0;
  }
  p->next = offset + 1;
  if (ts_ms > p->max_ts)
    p->max_ts = ts_ms;
  if (p->cnt == 0)
    p->last_data = now_ms;
  p->wait_from = -1;
  p->timed_out = 0;
  if (ts_ms < m->max_ts)
    m->out_of_order++;
  else
    m->max_ts = ts_ms;
  return 1;
}

int wd_merge_pop(wd_merge_t *m, double now_ms, wd_merge_item_t *out) {
  mpart_t *best = NULL;
  int32_t best_i = -1;
  m->waiting = -1;
  for (int32_t i = 0; i < m->p_cap; i++) {
    mpart_t *p = &m->p[i];
    if (!p->active)
      continue;
    if (p->cnt == 0) {
      if (part_done(p) || part_caught_up(p)) {
        p->wait_from = -1;
        continue;
      }
      if (p->timed_out)
        continue;
      /* behind (or not heard from yet): it may deliver an earlier record */
      if (p->wait_from < 0)
        p->wait_from = now_ms;
      if (m->o.max_wait_ms >= 0 && now_ms - p->wait_from >= (double)m->o.max_wait_ms) {
        p->timed_out = 1; /* go on without it until its next record */
        p->timeout_new = 1;
        m->wait_timeouts++;
        continue;
      }
      m->waiting = i;
      return 0;
    }
    /* ties: the lower partition, scanned first; in a partition, offset order */
    if (!best || p->q[p->head].ts < best->q[best->head].ts) {
      best = p;
      best_i = i;
    }
  }
  if (!best)
    return 0;
  const mq_ent_t e = best->q[best->head];
  best->head = (best->head + 1) % best->cap;
  best->cnt--;
  best->bytes -= e.bytes;
  m->queued--;
  m->queued_bytes -= e.bytes;
  if (best->cnt == 0)
    best->last_data = now_ms;
  out->item = e.item;
  out->partition = best_i;
  out->offset = e.offset;
  out->ts_ms = e.ts;
  out->bytes = e.bytes;
  out->pushed_ms = e.pushed;
  out->out_of_order = e.ts < m->max_ts;
  if (out->out_of_order)
    m->out_of_order++;
  else
    m->max_ts = e.ts;
  return 1;
}

int32_t wd_merge_waiting(const wd_merge_t *m) { return m->waiting; }

int wd_merge_pause_wanted(const wd_merge_t *m, int32_t partition) {
  const mpart_t *p = part_get(m, partition);
  if (!p)
    return -1;
  const int over = p->bytes >= m->o.high_bytes ||
                   (m->o.high_msgs && p->cnt >= m->o.high_msgs);
  if (!p->paused)
    return over || part_done(p) ? 1 : -1;
  const int under = p->bytes < m->o.high_bytes / 4 &&
                    (!m->o.high_msgs || p->cnt < m->o.high_msgs / 4);
  return under && !part_done(p) ? 0 : -1;
}

void wd_merge_paused(wd_merge_t *m, int32_t partition, int paused) {
  mpart_t *p = part_get(m, partition);
  if (p)
    p->paused = paused;
}

int wd_merge_is_paused(const wd_merge_t *m, int32_t partition) {
  const mpart_t *p = part_get(m, partition);
  return p && p->paused;
}

int32_t wd_merge_pause_due(const wd_merge_t *m, int32_t from) {
  for (int32_t i = from < 0 ? 0 : from; i < m->p_cap; i++)
    if (wd_merge_pause_wanted(m, i) >= 0)
      return i;
  return -1;
}

int64_t wd_merge_watermark(wd_merge_t *m, double now_ms) {
  int64_t lo = INT64_MAX;
  for (int32_t i = 0; i < m->p_cap; i++) {
    const mpart_t *p = &m->p[i];
    if (!p->active || (p->cnt == 0 && (part_done(p) || part_idle(m, p, now_ms))))
      continue;
    const int64_t w = sat_sub(p->max_ts, m->o.lateness_ms);
    if (w < lo)
      lo = w;
  }
  if (lo == INT64_MAX)
    return INT64_MAX; /* nothing holds it back */
  if (lo > m->wm)
    m->wm = lo;
  return m->wm;
}

int wd_merge_part(const wd_merge_t *m, size_t i, double now_ms, wd_merge_part_t *out) {
  for (int32_t k = 0; k < m->p_cap; k++) {
    const mpart_t *p = &m->p[k];
    if (!p->active || i-- > 0)
      continue;
    out->partition = k;
    out->next = p->next;
    out->max_ts_ms = p->max_ts;
    out->watermark_ms = sat_sub(p->max_ts, m->o.lateness_ms);
    out->queued = p->cnt;
    out->idle = part_idle(m, p, now_ms);
    out->caught_up = part_caught_up(p);
    out->done = part_done(p);
    return 1;
  }
  return 0;
}

int wd_merge_finished(const wd_merge_t *m) {
  for (int32_t i = 0; i < m->p_cap; i++)
    if (m->p[i].active && (m->p[i].cnt || !part_done(&m->p[i])))
      return 0;
  return 1;
}

int64_t wd_merge_lag(const wd_merge_t *m) {
  int64_t lag = 0;
  for (int32_t i = 0; i < m->p_cap; i++) {
    const mpart_t *p = &m->p[i];
    if (!p->active)
      continue;
    lag += (int64_t)p->cnt;
    const int64_t end = p->end >= 0 ? p->end : p->high;
    if (end >= 0 && p->next >= 0 && end > p->next)
      lag += end - p->next;
  }
  return lag;
}

int32_t wd_merge_timeout_take(wd_merge_t *m) {
  for (int32_t i = 0; i < m->p_cap; i++)
    if (m->p[i].active && m->p[i].timeout_new) {
      m->p[i].timeout_new = 0;
      return i;
    }
  return -1;
}

void wd_merge_stats(wd_merge_t *m, double now_ms, wd_merge_stats_t *st) {
  memset(st, 0, sizeof(*st));
  st->out_of_order = m->out_of_order;
  st->wait_timeouts = m->wait_timeouts;
  st->duplicates = m->duplicates;
  st->queued = m->queued;
  st->queued_bytes = m->queued_bytes;
  st->partitions = m->active;
  for (int32_t i = 0; i < m->p_cap; i++)
    st->idle += m->p[i].active && part_idle(m, &m->p[i], now_ms);
  st->watermark_ms = wd_merge_watermark(m, now_ms);
  st->max_ts_ms = m->max_ts;
}
