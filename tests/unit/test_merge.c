/* test_merge.c - the event-time merge (merge.h): push-all-then-pop against a
 * sort by (time, partition); max_wait; the watermark; ends, done and skip;
 * duplicates; pause hysteresis, what is paused and what is due; drops on
 * remove/add/destroy; lag and part; and a brute-force model of the greedy
 * merge under random pushes, pops, ends, high watermarks, skips, clock
 * steps, removes and adds. */
#include "wd_test.h"
#include "wiredup/merge.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Items are slots of t_item; the drop callback checks each goes once. */
#define T_ITEMS 200000
enum { T_FREE, T_QUEUED, T_POPPED, T_DROPPED };
static unsigned char t_item[T_ITEMS];
static size_t t_nitem, t_drops, t_bad_drops;

static void t_reset(void) {
  memset(t_item, 0, t_nitem);
  t_nitem = t_drops = t_bad_drops = 0;
}

static void t_drop(void *item, void *opaque) {
  unsigned char *s = item;
  (void)opaque;
  t_bad_drops += *s != T_QUEUED;
  *s = T_DROPPED;
  t_drops++;
}

/* Push a new item; a refused one goes back to the caller (T_FREE). */
static int t_push(wd_merge_t *m, int32_t p, int64_t off, int64_t ts, size_t bytes,
                  double now, unsigned char **out) {
  unsigned char *it = &t_item[t_nitem++];
  *it = T_QUEUED;
  int r = wd_merge_push(m, p, off, ts, bytes, it, now);
  if (!r)
    *it = T_FREE;
  if (out)
    *out = it;
  return r;
}

static wd_merge_t *t_new(int64_t late, int64_t idle, int64_t wait, size_t hb, size_t hm) {
  const wd_merge_opts_t o = {.lateness_ms = late, .idle_timeout_ms = idle,
                             .max_wait_ms = wait, .high_bytes = hb, .high_msgs = hm};
  t_reset();
  return wd_merge_new(&o);
}

typedef struct { int32_t p; int64_t off, ts; } t_rec_t;

static int rec_cmp(const void *a, const void *b) {
  const t_rec_t *x = a, *y = b;
  if (x->ts != y->ts)
    return x->ts < y->ts ? -1 : 1;
  if (x->p != y->p)
    return x->p < y->p ? -1 : 1;
  return (x->off > y->off) - (x->off < y->off);
}

/* 1. Partitions sorted by time, all pushed (randomly interleaved) before
 * popping: the pops are exactly the sort by (time, partition, offset). */
static int test_order_sorted(void) {
  unsigned long long seed = wd_t_seed(1001), rng = seed;
  static t_rec_t want[20 * 40];
  for (int round = 0; round < 300; round++) {
    const int np = 1 + (int)(wd_t_rand(&rng) % 20), by_end = round & 1;
    int cnt[20], left[20], total = 0;
    int64_t ts[20];
    wd_merge_t *m = t_new(0, -1, -1, SIZE_MAX, 0);
    for (int i = 0; i < np; i++) {
      wd_merge_add(m, i, 0, INT64_MIN, 0, NULL, NULL);
      left[i] = cnt[i] = (int)(wd_t_rand(&rng) % 40);
      ts[i] = (int64_t)(wd_t_rand(&rng) % 5);
    }
    while (total < np * 40) { /* random interleaving; ends when all pushed */
      int i = (int)(wd_t_rand(&rng) % np), k = 0;
      while (k < np && !left[(i + k) % np])
        k++;
      if (k == np)
        break;
      i = (i + k) % np;
      ts[i] += (int64_t)(wd_t_rand(&rng) % 3); /* equal times across partitions */
      want[total] = (t_rec_t){i, cnt[i] - left[i], ts[i]};
      WD_T_ASSERT(t_push(m, i, want[total].off, ts[i], 10, 0, NULL),
                  "seed %llu round %d: push refused", seed, round);
      left[i]--, total++;
    }
    for (int i = 0; i < np; i++) /* caught up, or read to the end */
      by_end ? wd_merge_set_end(m, i, cnt[i]) : wd_merge_eof(m, i, cnt[i]);
    qsort(want, (size_t)total, sizeof(*want), rec_cmp);
    wd_merge_item_t it;
    for (int n = 0; n < total; n++) {
      WD_T_ASSERT(wd_merge_pop(m, 0, &it), "seed %llu round %d: pop %d of %d "
                  "gave nothing, waiting %d", seed, round, n, total, wd_merge_waiting(m));
      WD_T_ASSERT(it.partition == want[n].p && it.offset == want[n].off &&
                  it.ts_ms == want[n].ts && !it.out_of_order,
                  "seed %llu round %d pop %d: got p%d@%lld t=%lld want p%d@%lld t=%lld",
                  seed, round, n, it.partition, (long long)it.offset,
                  (long long)it.ts_ms, want[n].p, (long long)want[n].off,
                  (long long)want[n].ts);
    }
    WD_T_ASSERT(!wd_merge_pop(m, 0, &it) && wd_merge_waiting(m) == -1,
                "seed %llu: nothing left, nothing waited for", seed);
    WD_T_ASSERT(wd_merge_finished(m) == by_end, "seed %llu: finished %d", seed,
                wd_merge_finished(m));
    wd_merge_destroy(m, t_drop, NULL);
    WD_T_ASSERT(t_drops == 0, "nothing left to drop");
  }
  return 0;
}

/* 2. An empty partition behind is waited for until now - wait_from >=
 * max_wait, then passed over until its next push; -1 waits forever. */
static int test_max_wait(void) {
  wd_merge_t *m = t_new(0, -1, 100, SIZE_MAX, 0);
  wd_merge_item_t it;
  wd_merge_stats_t st;
  wd_merge_add(m, 0, 0, INT64_MIN, 0, NULL, NULL);
  wd_merge_add(m, 1, 0, INT64_MIN, 0, NULL, NULL);
  for (int k = 0; k < 3; k++)
    t_push(m, 0, k, 50 + k, 1, 0, NULL);
  WD_T_ASSERT(!wd_merge_pop(m, 1000, &it) && wd_merge_waiting(m) == 1, "waits for 1");
  WD_T_ASSERT(!wd_merge_pop(m, 1099, &it) && wd_merge_waiting(m) == 1, "still at 99 ms");
  WD_T_ASSERT(wd_merge_pop(m, 1100, &it) && it.partition == 0 && it.ts_ms == 50,
              "given up at exactly 100 ms");
  WD_T_ASSERT(wd_merge_pop(m, 1100, &it) && it.ts_ms == 51, "passed over again");
  wd_merge_stats(m, 1100, &st);
  WD_T_ASSERT(st.wait_timeouts == 1, "one timeout, got %llu",
              (unsigned long long)st.wait_timeouts);
  WD_T_ASSERT(wd_merge_timeout_take(m) == 1 && wd_merge_timeout_take(m) == -1,
              "the timeout names partition 1, once");
  /* Its next record is earlier than one handed out: out of order. */
  t_push(m, 1, 0, 10, 1, 1200, NULL);
  WD_T_ASSERT(wd_merge_pop(m, 1200, &it) && it.partition == 1 && it.out_of_order,
              "the late record comes out flagged");
  /* Empty again: waited for afresh, from the first pop that waits. */
  WD_T_ASSERT(!wd_merge_pop(m, 1300, &it) && wd_merge_waiting(m) == 1, "waits again");
  WD_T_ASSERT(!wd_merge_pop(m, 1399, &it), "for 100 ms from 1300");
  WD_T_ASSERT(wd_merge_pop(m, 1400, &it) && it.ts_ms == 52 && !it.out_of_order, "then not");
  WD_T_ASSERT(wd_merge_timeout_take(m) == 1, "the second timeout, told again");
  wd_merge_stats(m, 1400, &st);
  WD_T_ASSERT(st.wait_timeouts == 2 && st.out_of_order == 1 && st.max_ts_ms == 52,
              "timeouts %llu out_of_order %llu max_ts %lld",
              (unsigned long long)st.wait_timeouts, (unsigned long long)st.out_of_order,
              (long long)st.max_ts_ms);
  wd_merge_destroy(m, t_drop, NULL);

  m = t_new(0, -1, -1, SIZE_MAX, 0); /* forever, unless it is caught up */
  wd_merge_add(m, 0, 0, INT64_MIN, 0, NULL, NULL);
  wd_merge_add(m, 3, -1, INT64_MIN, 0, NULL, NULL);
  t_push(m, 0, 0, 5, 1, 0, NULL);
  wd_merge_eof(m, 0, 1); /* 0 is caught up: only 3 can hold things back */
  WD_T_ASSERT(!wd_merge_pop(m, 0, &it) && !wd_merge_pop(m, 1e12, &it) &&
              wd_merge_waiting(m) == 3, "max_wait -1 waits forever");
  wd_merge_set_high(m, 3, 7); /* position unknown: still behind */
  WD_T_ASSERT(!wd_merge_pop(m, 1e12, &it), "high known, position not");
  wd_merge_eof(m, 3, 7);
  WD_T_ASSERT(wd_merge_pop(m, 1e12, &it) && it.partition == 0, "caught up: goes on");
  wd_merge_set_high(m, 3, 9);
  WD_T_ASSERT(!wd_merge_pop(m, 1e12, &it) && wd_merge_waiting(m) == 3, "behind again");
  wd_merge_stats(m, 1e12, &st);
  WD_T_ASSERT(st.wait_timeouts == 0 && wd_merge_timeout_take(m) == -1, "no timeouts");
  wd_merge_destroy(m, t_drop, NULL);
  return 0;
}

/* 3. The watermark: newest pushed time - lateness, min over the partitions
 * not idle and not done-and-empty, never back; INT64_MAX when none. */
static int test_watermark(void) {
  wd_merge_t *m = t_new(10, 100, -1, SIZE_MAX, 0);
  wd_merge_item_t it;
  wd_merge_stats_t st;
  WD_T_ASSERT(wd_merge_watermark(m, 0) == INT64_MAX, "no partitions");
  wd_merge_add(m, 0, 0, INT64_MIN, 0, NULL, NULL);
  wd_merge_add(m, 1, 0, INT64_MIN, 0, NULL, NULL);
  t_push(m, 0, 0, 100, 1, 0, NULL);
  WD_T_ASSERT(wd_merge_watermark(m, 0) == INT64_MIN, "1 has delivered nothing");
  t_push(m, 1, 0, 50, 1, 10, NULL);
  WD_T_ASSERT(wd_merge_watermark(m, 10) == 40, "min(100, 50) - 10");
  t_push(m, 1, 1, 30, 1, 20, NULL); /* an older record: newest stays 50 */
  t_push(m, 0, 1, 300, 1, 20, NULL);
  WD_T_ASSERT(wd_merge_watermark(m, 20) == 40, "still 40");
  wd_merge_set_high(m, 0, 2); /* both caught up: everything goes */
  wd_merge_set_high(m, 1, 2);
  while (wd_merge_pop(m, 30, &it))
    ;
  WD_T_ASSERT(wd_merge_watermark(m, 129) == 40, "not idle at 99 ms");
  wd_merge_stats(m, 130, &st);
  WD_T_ASSERT(st.idle == 2 && st.watermark_ms == INT64_MAX, "idle at 100 ms: idle %zu wm %lld",
              st.idle, (long long)st.watermark_ms);
  t_push(m, 0, 2, 310, 1, 140, NULL);
  WD_T_ASSERT(wd_merge_watermark(m, 140) == 300, "0 rejoins alone: 310 - 10");
  t_push(m, 1, 2, 60, 1, 150, NULL);
  WD_T_ASSERT(wd_merge_watermark(m, 150) == 300, "1 rejoins at 50: never back");
  wd_merge_add(m, 2, 0, 400, 150, NULL, NULL); /* restored from a checkpoint */
  wd_merge_add(m, 3, 0, INT64_MIN, 150, NULL, NULL);
  WD_T_ASSERT(wd_merge_watermark(m, 150) == 300, "INT64_MIN holds it (not back)");
  wd_merge_set_end(m, 3, 0); /* done, nothing queued: holds nothing back */
  t_push(m, 1, 3, 500, 1, 150, NULL);
  t_push(m, 0, 3, 600, 1, 150, NULL);
  WD_T_ASSERT(wd_merge_watermark(m, 150) == 390, "min(590, 490, 400 - 10): got %lld",
              (long long)wd_merge_watermark(m, 150));
  wd_merge_part_t pt;
  WD_T_ASSERT(wd_merge_part(m, 2, 150, &pt) && pt.partition == 2 && pt.max_ts_ms == 400 &&
              pt.watermark_ms == 390 && !pt.idle && !pt.done, "part 2");
  WD_T_ASSERT(wd_merge_part(m, 3, 150, &pt) && pt.partition == 3 && pt.done &&
              pt.max_ts_ms == INT64_MIN && pt.watermark_ms == INT64_MIN, "part 3");
  WD_T_ASSERT(wd_merge_watermark(m, 250) == 490, "2 idle (never pushed) at 100 ms");
  wd_merge_remove(m, 0, t_drop, NULL);
  wd_merge_remove(m, 1, t_drop, NULL);
  WD_T_ASSERT(wd_merge_watermark(m, 250) == INT64_MAX, "only idle and done left");
  wd_merge_destroy(m, t_drop, NULL);
  WD_T_ASSERT(t_drops == 4 && !t_bad_drops, "drops %zu", t_drops);
  return 0;
}

/* 4 and 5. Ends, done, skip, finished; duplicates. */
static int test_end_skip_dups(void) {
  wd_merge_t *m = t_new(0, -1, -1, SIZE_MAX, 0);
  wd_merge_item_t it;
  wd_merge_stats_t st;
  wd_merge_add(m, 0, 0, INT64_MIN, 0, NULL, NULL);
  wd_merge_add(m, 1, 0, INT64_MIN, 0, NULL, NULL);
  wd_merge_set_end(m, 0, 3);
  WD_T_ASSERT(t_push(m, 0, 0, 5, 1, 0, NULL) && t_push(m, 0, 1, 6, 1, 0, NULL), "pushes");
  WD_T_ASSERT(!t_push(m, 0, 3, 7, 1, 0, NULL) && !t_push(m, 0, 4, 7, 1, 0, NULL),
              "at or past the end: refused");
  WD_T_ASSERT(t_push(m, 0, 2, 7, 1, 0, NULL) && !t_push(m, 0, 3, 8, 1, 0, NULL), "last one");
  WD_T_ASSERT(!wd_merge_finished(m), "queued");
  wd_merge_set_end(m, 1, 10);
  wd_merge_skip(m, 1, 4);
  WD_T_ASSERT(wd_merge_lag(m) == 3 + 5, "lag %lld", (long long)wd_merge_lag(m));
  wd_merge_skip(m, 1, 2); /* below the position: no move back */
  WD_T_ASSERT(!t_push(m, 1, 4, 1, 1, 0, NULL), "skipped offset is a duplicate");
  WD_T_ASSERT(t_push(m, 1, 5, 1, 1, 0, NULL), "after it");
  WD_T_ASSERT(wd_merge_pop(m, 0, &it) && it.partition == 1, "earliest");
  WD_T_ASSERT(!wd_merge_pop(m, 0, &it) && wd_merge_waiting(m) == 1, "1 is behind its end");
  wd_merge_skip(m, 1, 9);
  WD_T_ASSERT(wd_merge_pop(m, 0, &it) && it.partition == 0 && it.offset == 0,
              "1 skipped to its end: done, holds nothing back");
  wd_merge_pop(m, 0, &it);
  WD_T_ASSERT(wd_merge_pop(m, 0, &it) && it.offset == 2 && wd_merge_finished(m), "finished");
  WD_T_ASSERT(!wd_merge_pop(m, 0, &it) && wd_merge_waiting(m) == -1, "nothing to wait for");
  /* Duplicates: below the position, counted; gaps are fine. */
  wd_merge_add(m, 2, 5, INT64_MIN, 0, NULL, NULL);
  WD_T_ASSERT(!t_push(m, 2, 4, 1, 1, 0, NULL) && t_push(m, 2, 5, 1, 1, 0, NULL) &&
              !t_push(m, 2, 5, 1, 1, 0, NULL) && t_push(m, 2, 7, 1, 1, 0, NULL) &&
              !t_push(m, 2, 6, 1, 1, 0, NULL), "4 dup, 5 ok, 5 dup, 7 ok, 6 dup");
  WD_T_ASSERT(!t_push(m, 9, 0, 1, 1, 0, NULL), "a partition not merged");
  wd_merge_stats(m, 0, &st);
  WD_T_ASSERT(st.duplicates == 4 && st.queued == 2 && st.partitions == 3,
              "dups %llu (want 4: 1@4, 2@4, 2@5, 2@6) queued %zu",
              (unsigned long long)st.duplicates, st.queued);
  wd_merge_destroy(m, t_drop, NULL);
  WD_T_ASSERT(t_drops == 2 && !t_bad_drops, "drops %zu", t_drops);
  return 0;
}

/* 6. Pause at high_bytes or high_msgs; resume below a quarter of both. */
static int test_pause(void) {
  wd_merge_t *m = t_new(0, -1, -1, 1000, 8);
  wd_merge_item_t it;
  wd_merge_add(m, 0, 0, INT64_MIN, 0, NULL, NULL);
  wd_merge_eof(m, 0, 0);
  WD_T_ASSERT(wd_merge_pause_wanted(m, 0) == -1 && wd_merge_pause_wanted(m, 5) == -1, "empty");
  for (int k = 0; k < 7; k++)
    t_push(m, 0, k, k, 10, 0, NULL);
  WD_T_ASSERT(wd_merge_pause_wanted(m, 0) == -1, "7 msgs");
  t_push(m, 0, 7, 7, 10, 0, NULL);
  WD_T_ASSERT(wd_merge_pause_wanted(m, 0) == 1, "8 msgs");
  WD_T_ASSERT(wd_merge_pause_due(m, 0) == 0 && wd_merge_pause_due(m, 1) == -1, "due: 0");
  WD_T_ASSERT(!wd_merge_is_paused(m, 0), "not paused yet");
  wd_merge_paused(m, 0, 1);
  WD_T_ASSERT(wd_merge_is_paused(m, 0) && !wd_merge_is_paused(m, 5), "paused");
  WD_T_ASSERT(wd_merge_pause_due(m, 0) == -1, "paused: nothing due");
  for (int k = 0; k < 6; k++) {
    WD_T_ASSERT(wd_merge_pause_wanted(m, 0) == -1, "%d queued: stay paused", 8 - k);
    wd_merge_pop(m, 0, &it);
  }
  WD_T_ASSERT(wd_merge_pause_wanted(m, 0) == -1, "2 queued: not below 8/4");
  wd_merge_pop(m, 0, &it);
  WD_T_ASSERT(wd_merge_pause_wanted(m, 0) == 0, "1 queued: resume");
  /* a resume that failed stays due, with no record left to ask for it */
  wd_merge_pop(m, 0, &it);
  WD_T_ASSERT(wd_merge_pause_due(m, -1) == 0 && wd_merge_is_paused(m, 0), "resume still due");
  wd_merge_paused(m, 0, 0);
  WD_T_ASSERT(wd_merge_pause_wanted(m, 0) == -1, "resumed");
  WD_T_ASSERT(wd_merge_pause_due(m, 0) == -1 && !wd_merge_is_paused(m, 0), "resumed: not due");
  t_push(m, 0, 8, 8, 999, 0, NULL);
  WD_T_ASSERT(wd_merge_pause_wanted(m, 0) == -1, "999 bytes");
  t_push(m, 0, 9, 9, 1, 0, NULL);
  WD_T_ASSERT(wd_merge_pause_wanted(m, 0) == 1, "1000 bytes");
  wd_merge_paused(m, 0, 1);
  wd_merge_pop(m, 0, &it);
  t_push(m, 0, 10, 10, 249, 0, NULL);
  WD_T_ASSERT(wd_merge_pause_wanted(m, 0) == -1, "250 bytes: not below 1000/4");
  wd_merge_pop(m, 0, &it);
  WD_T_ASSERT(wd_merge_pause_wanted(m, 0) == 0, "249 bytes, 1 msg: resume");
  wd_merge_paused(m, 0, 0);
  wd_merge_set_end(m, 0, 11);
  WD_T_ASSERT(wd_merge_pause_wanted(m, 0) == 1, "done: pause it");
  wd_merge_paused(m, 0, 1);
  wd_merge_pop(m, 0, &it);
  WD_T_ASSERT(wd_merge_pause_wanted(m, 0) == -1, "done: never resumed");
  wd_merge_remove(m, 0, t_drop, NULL);
  WD_T_ASSERT(!wd_merge_is_paused(m, 0) && wd_merge_pause_due(m, 0) == -1, "removed");
  wd_merge_add(m, 0, 11, INT64_MIN, 0, t_drop, NULL);
  WD_T_ASSERT(!wd_merge_is_paused(m, 0), "added again: unpaused");
  wd_merge_destroy(m, t_drop, NULL);
  m = t_new(0, -1, -1, 1000, 0); /* high_msgs 0: no limit on records */
  wd_merge_add(m, 0, 0, INT64_MIN, 0, NULL, NULL);
  for (int k = 0; k < 500; k++)
    t_push(m, 0, k, k, 1, 0, NULL);
  WD_T_ASSERT(wd_merge_pause_wanted(m, 0) == -1, "500 records, 500 bytes");
  wd_merge_destroy(m, t_drop, NULL);
  WD_T_ASSERT(t_drops == 500 && !t_bad_drops, "drops %zu", t_drops);
  return 0;
}

/* 8. wd_merge_lag and wd_merge_part. */
static int test_lag_part(void) {
  wd_merge_t *m = t_new(5, -1, -1, SIZE_MAX, 0);
  wd_merge_part_t pt;
  wd_merge_add(m, 7, 10, INT64_MIN, 0, NULL, NULL);
  wd_merge_add(m, 2, -1, INT64_MIN, 0, NULL, NULL);
  wd_merge_set_end(m, 7, 20);
  WD_T_ASSERT(wd_merge_lag(m) == 10, "end - next: %lld", (long long)wd_merge_lag(m));
  t_push(m, 7, 10, 100, 1, 0, NULL);
  t_push(m, 7, 11, 90, 1, 0, NULL);
  WD_T_ASSERT(wd_merge_lag(m) == 10, "2 queued + 8 to read");
  wd_merge_set_high(m, 2, 50);
  WD_T_ASSERT(wd_merge_lag(m) == 10, "position of 2 unknown: no lag from it");
  wd_merge_eof(m, 2, 40);
  WD_T_ASSERT(wd_merge_lag(m) == 20, "40..50: %lld", (long long)wd_merge_lag(m));
  WD_T_ASSERT(wd_merge_part(m, 0, 0, &pt) && pt.partition == 2 && pt.next == 40 &&
              pt.queued == 0 && !pt.caught_up && !pt.done && pt.max_ts_ms == INT64_MIN,
              "part 0 is partition 2");
  WD_T_ASSERT(wd_merge_part(m, 1, 0, &pt) && pt.partition == 7 && pt.next == 12 &&
              pt.queued == 2 && pt.max_ts_ms == 100 && pt.watermark_ms == 95 && !pt.done,
              "part 1 is partition 7");
  WD_T_ASSERT(!wd_merge_part(m, 2, 0, &pt), "past the last");
  wd_merge_set_high(m, 2, 30); /* never lowered */
  wd_merge_eof(m, 2, 45);
  WD_T_ASSERT(wd_merge_part(m, 0, 0, &pt) && !pt.caught_up && pt.next == 40, "behind 50");
  wd_merge_skip(m, 2, 49);
  WD_T_ASSERT(wd_merge_part(m, 0, 0, &pt) && pt.caught_up && wd_merge_lag(m) == 10, "at 50");
  wd_merge_destroy(m, t_drop, NULL);
  return 0;
}

/* 7. remove, add again and destroy hand each queued item to drop once. */
static int test_drops(void) {
  wd_merge_t *m = t_new(0, -1, -1, SIZE_MAX, 0);
  wd_merge_item_t it;
  for (int32_t p = 0; p < 3; p++) {
    wd_merge_add(m, p, 0, INT64_MIN, 0, t_drop, NULL);
    wd_merge_eof(m, p, 0);
    for (int k = 0; k < 100; k++) /* past the first ring size: wraps, grows */
      t_push(m, p, k, 1000 * p + k, 1, 0, NULL);
  }
  for (int k = 0; k < 30; k++)
  {
    WD_T_ASSERT(wd_merge_pop(m, 0, &it) && it.partition == 0 && it.offset == k, "pop %d", k);
    *(unsigned char *)it.item = T_POPPED;
  }
  wd_merge_remove(m, 1, t_drop, NULL);
  WD_T_ASSERT(t_drops == 100 && !wd_merge_has(m, 1), "remove: %zu", t_drops);
  wd_merge_remove(m, 1, t_drop, NULL);
  WD_T_ASSERT(t_drops == 100, "removing it again drops nothing");
  wd_merge_add(m, 0, 100, INT64_MIN, 0, t_drop, NULL);
  WD_T_ASSERT(t_drops == 170, "add again drops the 70 left: %zu", t_drops);
  wd_merge_add(m, 1, 0, INT64_MIN, 0, t_drop, NULL);
  t_push(m, 1, 0, 1, 1, 0, NULL);
  wd_merge_destroy(m, t_drop, NULL);
  WD_T_ASSERT(t_drops == 271 && !t_bad_drops, "destroy: %zu, bad %zu", t_drops, t_bad_drops);
  for (size_t i = 0; i < t_nitem; i++)
    WD_T_ASSERT(t_item[i] == (i < 30 ? T_POPPED : T_DROPPED), "item %zu: %d", i, t_item[i]);
  wd_merge_destroy(NULL, t_drop, NULL);
  return 0;
}

/* The model: the contract of merge.h restated with plain arrays. */
#define NP 21 /* partitions 0..19 may be merged; 20 never is */
#define QCAP 4096
typedef struct {
  unsigned char *item;
  int64_t off, ts;
  size_t bytes;
} m_ent_t;
typedef struct {
  int active, paused, timed_out;
  int64_t next, end, high, max_ts;
  double last, wait_from;
  m_ent_t q[QCAP];
  size_t h, n, bytes;
} m_part_t;
typedef struct {
  wd_merge_opts_t o;
  m_part_t p[NP];
  int64_t wm, max_ts;
  uint64_t ooo, timeouts, dups;
  size_t dropped; /* items the merge should have handed to drop */
} model_t;

static int m_done(const m_part_t *p) { return p->end >= 0 && p->next >= p->end; }
static int m_caught(const m_part_t *p) { return p->high >= 0 && p->next >= 0 && p->next >= p->high; }
static int m_idle(const model_t *M, const m_part_t *p, double now) {
  return !p->n && M->o.idle_timeout_ms >= 0 && now - p->last >= (double)M->o.idle_timeout_ms;
}

static void m_add(model_t *M, int i, int64_t next, int64_t max_ts, double now) {
  m_part_t *p = &M->p[i];
  M->dropped += p->active ? p->n : 0;
  *p = (m_part_t){.active = 1, .next = next, .end = -1, .high = -1, .max_ts = max_ts,
                  .last = now, .wait_from = -1};
}

static int m_push(model_t *M, int i, int64_t off, int64_t ts, size_t bytes, void *item,
                  double now) {
  m_part_t *p = &M->p[i];
  if (!p->active || m_done(p) || (p->end >= 0 && off >= p->end))
    return 0;
  if (p->next >= 0 && off < p->next) {
    M->dups++;
    return 0;
  }
  p->q[p->h + p->n++] = (m_ent_t){item, off, ts, bytes};
  p->bytes += bytes;
  p->next = off + 1;
  p->max_ts = ts > p->max_ts ? ts : p->max_ts;
  p->last = now;
  p->wait_from = -1, p->timed_out = 0;
  return 1;
}

/* Greedy: -1 and *waiting when a behind empty partition is waited for, else
 * the earliest head (ties: lower partition), or -1 with *waiting -1. */
static int m_pop(model_t *M, double now, int *waiting) {
  int best = -1;
  *waiting = -1;
  for (int i = 0; i < NP; i++) {
    m_part_t *p = &M->p[i];
    if (!p->active)
      continue;
    if (p->n) {
      if (best < 0 || p->q[p->h].ts < M->p[best].q[M->p[best].h].ts)
        best = i;
      continue;
    }
    if (m_done(p) || m_caught(p)) {
      p->wait_from = -1; /* its wait is over */
      continue;
    }
    if (p->timed_out)
      continue;
    if (p->wait_from < 0)
      p->wait_from = now; /* the first pop that waits for it */
    if (M->o.max_wait_ms >= 0 && now - p->wait_from >= (double)M->o.max_wait_ms) {
      p->timed_out = 1, M->timeouts++;
      continue;
    }
    *waiting = i;
    return -1;
  }
  if (best >= 0) {
    m_part_t *p = &M->p[best];
    p->bytes -= p->q[p->h].bytes;
    p->h++, p->n--;
    if (!p->n)
      p->last = now;
  }
  return best;
}

static int64_t m_watermark(model_t *M, double now) {
  int64_t lo = INT64_MAX;
  for (int i = 0; i < NP; i++) {
    const m_part_t *p = &M->p[i];
    if (!p->active || (!p->n && (m_done(p) || m_idle(M, p, now))))
      continue;
    int64_t w = p->max_ts == INT64_MIN ? INT64_MIN : p->max_ts - M->o.lateness_ms;
    lo = w < lo ? w : lo;
  }
  if (lo == INT64_MAX)
    return lo;
  M->wm = lo > M->wm ? lo : M->wm;
  return M->wm;
}

static int m_pause(const model_t *M, int i) {
  const m_part_t *p = &M->p[i];
  const size_t hb = M->o.high_bytes, hm = M->o.high_msgs;
  if (!p->active)
    return -1;
  if (!p->paused)
    return p->bytes >= hb || (hm && p->n >= hm) || m_done(p) ? 1 : -1;
  return p->bytes < hb / 4 && (!hm || p->n < hm / 4) && !m_done(p) ? 0 : -1;
}

/* The lowest partition at or after from whose pause should change, or -1. */
static int m_pause_due(const model_t *M, int from) {
  for (int i = from < 0 ? 0 : from; i < NP; i++)
    if (m_pause(M, i) >= 0)
      return i;
  return -1;
}

#define R(n) ((int64_t)(wd_t_rand(&rng) % (unsigned long long)(n)))
#define CHECK(expr, ...) WD_T_ASSERT(expr, "seed %llu step %d: " __VA_ARGS__)

/* 1-8 at random against the model: every return, the stats, the lag, the
 * parts and the items' fates, after each step. */
static int run_model(unsigned long long seed, int steps) {
  static model_t M;
  unsigned long long rng = seed;
  const wd_merge_opts_t o = {
      .lateness_ms = R(50), .idle_timeout_ms = R(4) ? R(300) : -1,
      .max_wait_ms = R(4) ? R(3) ? R(200) : 0 : -1, .high_bytes = 100 + (size_t)R(3000),
      .high_msgs = R(2) ? 0 : 1 + (size_t)R(40)};
  const int np = 1 + (int)R(20), sorted = (int)R(2);
  int64_t last_ts[NP] = {0}, last_wm = INT64_MIN;
  double now = 1000;
  memset(&M, 0, sizeof(M));
  M.o = o, M.wm = M.max_ts = INT64_MIN;
  t_reset();
  wd_merge_t *m = wd_merge_new(&o);
  for (int i = 0; i < np; i++) {
    int64_t next = R(3) ? R(5) : -1, max_ts = R(2) ? 900 + R(200) : INT64_MIN;
    wd_merge_add(m, i, next, max_ts, now, t_drop, NULL);
    m_add(&M, i, next, max_ts, now);
  }
  for (int step = 0; step < steps; step++) {
    const int op = (int)R(100), i = (int)R(np + 1); /* np: never merged */
    m_part_t *p = &M.p[i];
    const int64_t pos = p->next >= 0 ? p->next : R(5);
    if (op < 40) {
      int64_t off = pos, k = R(10), ts;
      if (k == 7)
        off = pos + 1 + R(3); /* a gap */
      else if (k == 8)
        off = pos - 1 - R(2); /* fetched again */
      else if (k == 9 && p->end >= 0)
        off = p->end + R(2);
      ts = sorted ? (last_ts[i] += R(3)) : 1000 + R(60);
      const size_t bytes = 1 + (size_t)R(100);
      unsigned char *it;
      if (p->active && p->h + p->n == QCAP)
        continue;
      int got = t_push(m, i, off, ts, bytes, now, &it);
      int want = m_push(&M, i, off, ts, bytes, it, now);
      CHECK(got == want, "push p%d@%lld: got %d want %d", seed, step, i, (long long)off,
            got, want);
    } else if (op < 70) {
      wd_merge_item_t it;
      int waiting, want = m_pop(&M, now, &waiting);
      int got = wd_merge_pop(m, now, &it);
      CHECK(got == (want >= 0) && wd_merge_waiting(m) == waiting,
            "pop: got %d (p%d) waiting %d, want p%d waiting %d", seed, step, got,
            got ? it.partition : -1, wd_merge_waiting(m), want, waiting);
      if (got) {
        const m_ent_t *e = &M.p[want].q[M.p[want].h - 1];
        const int ooo = e->ts < M.max_ts;
        CHECK(it.partition == want && it.item == e->item && it.offset == e->off &&
                  it.ts_ms == e->ts && it.bytes == e->bytes && it.out_of_order == ooo,
              "pop: got p%d@%lld t=%lld ooo %d, want p%d@%lld t=%lld ooo %d", seed, step,
              it.partition, (long long)it.offset, (long long)it.ts_ms, it.out_of_order, want,
              (long long)e->off, (long long)e->ts, ooo);
        CHECK(*e->item == T_QUEUED, "popped item was %d", seed, step, *e->item);
        *e->item = T_POPPED;
        if (ooo)
          M.ooo++;
        else
          M.max_ts = e->ts;
      }
    } else if (op < 75) {
      const int64_t high = pos + R(3) - 1;
      wd_merge_set_high(m, i, high);
      p->high = p->active && high > p->high ? high : p->high;
      if (p->active && m_caught(p))
        p->wait_from = -1; /* caught up: a later wait starts afresh */
    } else if (op < 79) {
      const int64_t off = pos + R(2);
      wd_merge_eof(m, i, off);
      if (p->active && p->next < 0)
        p->next = off;
      p->high = p->active && off > p->high ? off : p->high;
      if (p->active && m_caught(p))
        p->wait_from = -1;
    } else if (op < 81) {
      const int64_t end = pos + R(8) - 1;
      wd_merge_set_end(m, i, end);
      p->end = p->active ? end : p->end;
    } else if (op < 83) {
      /* handed out in an order decided elsewhere (an earlier owner's) */
      const int64_t off = pos + R(3) - 1, ts = sorted ? (last_ts[i] += R(3)) : 1000 + R(60);
      const int got = wd_merge_passed(m, i, off, ts, now);
      if (!p->active)
        m_add(&M, i, -1, INT64_MIN, now);
      int want = 1;
      if (p->next >= 0 && off < p->next) {
        M.dups++;
        want = 0;
      } else {
        p->next = off + 1;
        p->max_ts = ts > p->max_ts ? ts : p->max_ts;
        if (!p->n)
          p->last = now;
        p->wait_from = -1, p->timed_out = 0;
        if (ts < M.max_ts)
          M.ooo++;
        else
          M.max_ts = ts;
      }
      CHECK(got == want, "passed p%d@%lld: got %d want %d", seed, step, i, (long long)off,
            got, want);
    } else if (op < 84) {
      const int64_t off = pos + R(3) - 1;
      wd_merge_skip(m, i, off);
      if (p->active && off >= p->next)
        p->next = off + 1, p->wait_from = -1, p->timed_out = 0;
    } else if (op < 94) {
      now += (double)R(60);
    } else if (op < 97) {
      const int want = m_pause(&M, i), got = wd_merge_pause_wanted(m, i);
      CHECK(got == want, "pause_wanted p%d: got %d want %d", seed, step, i, got, want);
      if (got >= 0) {
        wd_merge_paused(m, i, got);
        p->paused = got;
      }
    } else if (op < 98) {
      wd_merge_remove(m, i, t_drop, NULL);
      M.dropped += p->active ? p->n : 0;
      p->active = 0, p->n = 0;
    } else if (op < 99) {
      const int64_t next = R(2) ? pos : -1, max_ts = R(2) ? 1000 + R(100) : INT64_MIN;
      wd_merge_add(m, i, next, max_ts, now, t_drop, NULL);
      m_add(&M, i, next, max_ts, now);
      last_ts[i] = 0;
    }
    /* After every step: what the merge reports. */
    const int64_t wm = wd_merge_watermark(m, now), mwm = m_watermark(&M, now);
    CHECK(wm == mwm, "watermark %lld want %lld", seed, step, (long long)wm, (long long)mwm);
    CHECK(wm == INT64_MAX || wm >= last_wm, "watermark back: %lld after %lld", seed, step,
          (long long)wm, (long long)last_wm);
    last_wm = wm == INT64_MAX ? last_wm : wm;
    wd_merge_stats_t st;
    wd_merge_stats(m, now, &st);
    size_t q = 0, qb = 0, parts = 0, idle = 0;
    int64_t lag = 0;
    int finished = 1;
    for (int k = 0; k < NP; k++) {
      const m_part_t *mp = &M.p[k];
      if (!mp->active)
        continue;
      const int64_t end = mp->end >= 0 ? mp->end : mp->high;
      wd_merge_part_t pt;
      CHECK(wd_merge_part(m, parts, now, &pt), "part %zu", seed, step, parts);
      CHECK(pt.partition == k && pt.next == mp->next && pt.max_ts_ms == mp->max_ts &&
                pt.queued == mp->n && pt.idle == m_idle(&M, mp, now) &&
                pt.caught_up == m_caught(mp) && pt.done == m_done(mp),
            "part %zu (p%d)", seed, step, parts, k);
      q += mp->n, qb += mp->bytes, parts++, idle += m_idle(&M, mp, now);
      lag += (int64_t)mp->n + (end >= 0 && mp->next >= 0 && end > mp->next ? end - mp->next : 0);
      finished &= !mp->n && m_done(mp);
    }
    for (int k = 0; k < NP; k++)
      CHECK(wd_merge_has(m, k) == M.p[k].active &&
                wd_merge_is_paused(m, k) == (M.p[k].active && M.p[k].paused),
            "has p%d / is_paused", seed, step, k);
    for (int from = 0; from < 2; from++) {
      const int f = from ? step % (NP + 2) - 1 : 0; /* -1 .. NP */
      CHECK(wd_merge_pause_due(m, f) == m_pause_due(&M, f), "pause_due from %d: %d want %d",
            seed, step, f, (int)wd_merge_pause_due(m, f), m_pause_due(&M, f));
    }
    wd_merge_part_t pt;
    CHECK(!wd_merge_part(m, parts, now, &pt), "a part past the last", seed, step);
    CHECK(st.queued == q && st.queued_bytes == qb && st.partitions == parts && st.idle == idle &&
              st.duplicates == M.dups && st.out_of_order == M.ooo &&
              st.wait_timeouts == M.timeouts && st.max_ts_ms == M.max_ts,
          "stats: queued %zu/%zu bytes %zu/%zu parts %zu/%zu idle %zu/%zu dups %llu/%llu "
          "ooo %llu/%llu timeouts %llu/%llu", seed, step, st.queued, q, st.queued_bytes, qb,
          st.partitions, parts, st.idle, idle, (unsigned long long)st.duplicates,
          (unsigned long long)M.dups, (unsigned long long)st.out_of_order,
          (unsigned long long)M.ooo, (unsigned long long)st.wait_timeouts,
          (unsigned long long)M.timeouts);
    CHECK(wd_merge_lag(m) == lag, "lag %lld want %lld", seed, step,
          (long long)wd_merge_lag(m), (long long)lag);
    CHECK(wd_merge_finished(m) == finished, "finished", seed, step);
    CHECK(t_drops == M.dropped && !t_bad_drops, "drops %zu want %zu, bad %zu", seed, step,
          t_drops, M.dropped, t_bad_drops);
  }
  wd_merge_destroy(m, t_drop, NULL);
  for (int k = 0; k < NP; k++)
    M.dropped += M.p[k].active ? M.p[k].n : 0;
  WD_T_ASSERT(t_drops == M.dropped && !t_bad_drops, "seed %llu: destroy dropped %zu want %zu",
              seed, t_drops, M.dropped);
  for (size_t k = 0; k < t_nitem; k++)
    WD_T_ASSERT(t_item[k] != T_QUEUED, "seed %llu: item %zu never came back", seed, k);
  return 0;
}

static int test_against_model(void) {
  unsigned long long seed = wd_t_seed(20240601);
  for (int run = 0; run < 400; run++)
    if (run_model(seed + (unsigned long long)run * 0x9e3779b97f4a7c15ULL, 3000))
      return 1;
  return 0;
}

int main(void) {
  WD_T_RUN(test_order_sorted);
  WD_T_RUN(test_max_wait);
  WD_T_RUN(test_watermark);
  WD_T_RUN(test_end_skip_dups);
  WD_T_RUN(test_pause);
  WD_T_RUN(test_drops);
  WD_T_RUN(test_lag_part);
  WD_T_RUN(test_against_model);
  return WD_T_DONE();
}
