/* test_stream.c - the stream loop's offset tracker: the committable position
 * is one past the longest acknowledged prefix of each partition, whatever
 * order the acks come in; failures block it for good; resets make earlier
 * tokens stale. Checked against a brute-force model on random schedules, plus
 * the mock broker's command parser (no broker traffic: the Kafka loop itself
 * is covered by tests/kafka), and the parser of replay's --from-offsets. */
#include "wd_test.h"
#include "wiredup/mem.h"
#include "wiredup/mockbroker.h"
#include "wiredup/stream.h"

#include <stdint.h>
#include <string.h>

static int test_in_order(void) {
  wd_stream_track_t *trk = wd_stream_track_new();
  uint64_t t[5];
  int32_t dirty[8];
  wd_stream_track_reset(trk, 0);
  WD_T_ASSERT(wd_stream_track_next(trk, 0) == -1, "nothing acked yet");
  for (int i = 0; i < 5; i++)
    t[i] = wd_stream_track_push(trk, 0, 100 + i);
  WD_T_ASSERT(wd_stream_track_inflight(trk, 0) == 5, "5 in flight");
  WD_T_ASSERT(wd_stream_track_ack(trk, t[0], 1) == 1, "ack 0");
  WD_T_ASSERT(wd_stream_track_next(trk, 0) == 101, "next=%lld",
              (long long)wd_stream_track_next(trk, 0));
  WD_T_ASSERT(wd_stream_track_take_dirty(trk, dirty, 8) == 1 && dirty[0] == 0,
              "partition 0 dirty");
  WD_T_ASSERT(wd_stream_track_take_dirty(trk, dirty, 8) == 0, "dirty taken");
  WD_T_ASSERT(wd_stream_track_ack(trk, t[0], 1) == 0, "double ack is stale");
  /* out of order: 2 and 3 acked, 1 still pending -> no movement */
  wd_stream_track_ack(trk, t[2], 1);
  wd_stream_track_ack(trk, t[3], 1);
  WD_T_ASSERT(wd_stream_track_next(trk, 0) == 101, "blocked by offset 101");
  WD_T_ASSERT(wd_stream_track_take_dirty(trk, dirty, 8) == 0, "not dirty");
  wd_stream_track_ack(trk, t[1], 1);
  WD_T_ASSERT(wd_stream_track_next(trk, 0) == 104, "prefix 100..103 acked");
  WD_T_ASSERT(wd_stream_track_inflight(trk, 0) == 1, "one left");
  wd_stream_track_destroy(trk);
  return 0;
}

static int test_failure_blocks(void) {
  wd_stream_track_t *trk = wd_stream_track_new();
  uint64_t a = wd_stream_track_push(trk, 2, 7);
  uint64_t b = wd_stream_track_push(trk, 2, 9); /* offsets may have gaps */
  uint64_t c = wd_stream_track_push(trk, 2, 10);
  wd_stream_track_ack(trk, a, 1);
  wd_stream_track_ack(trk, b, 0);
  wd_stream_track_ack(trk, c, 1);
  WD_T_ASSERT(wd_stream_track_next(trk, 2) == 8,
              "stops before the failed 9: %lld",
              (long long)wd_stream_track_next(trk, 2));
  WD_T_ASSERT(wd_stream_track_ack(trk, b, 1) == 0,
              "a failed entry cannot be acked later");
  WD_T_ASSERT(wd_stream_track_next(trk, 2) == 8, "still 8");
  wd_stream_track_destroy(trk);
  return 0;
}

static int test_reset_makes_stale(void) {
  wd_stream_track_t *trk = wd_stream_track_new();
  int32_t dirty[4];
  uint64_t old = wd_stream_track_push(trk, 1, 50);
  uint64_t acked = wd_stream_track_push(trk, 1, 51);
  wd_stream_track_ack(trk, wd_stream_track_push(trk, 3, 5), 1);
  wd_stream_track_reset(trk, 1); /* revoked, then assigned again */
  uint64_t fresh = wd_stream_track_push(trk, 1, 40); /* rewound to committed */
  WD_T_ASSERT(wd_stream_track_ack(trk, old, 1) == 0,
              "report from before the reset ignored");
  WD_T_ASSERT(wd_stream_track_ack(trk, acked, 1) == 0, "also ignored");
  WD_T_ASSERT(wd_stream_track_next(trk, 1) == -1,
              "nothing committable after reset");
  WD_T_ASSERT(wd_stream_track_ack(trk, fresh, 1) == 1, "fresh token counts");
  WD_T_ASSERT(wd_stream_track_next(trk, 1) == 41, "next=41");
  WD_T_ASSERT(wd_stream_track_next(trk, 3) == 6, "other partition untouched");
  WD_T_ASSERT(wd_stream_track_take_dirty(trk, dirty, 4) == 2, "3 and 1 dirty");
  WD_T_ASSERT(dirty[0] == 3 && dirty[1] == 1, "in the order they moved");
  /* reset drops a pending dirty mark */
  wd_stream_track_ack(trk, wd_stream_track_push(trk, 3, 6), 1);
  wd_stream_track_reset(trk, 3);
  WD_T_ASSERT(wd_stream_track_take_dirty(trk, dirty, 4) == 0,
              "reset partition not dirty");
  WD_T_ASSERT(wd_stream_track_ack(trk, 0, 1) == 0, "token 0 is never valid");
  WD_T_ASSERT(wd_stream_track_ack(trk, (uint64_t)900 << 48, 1) == 0,
              "unknown partition");
  wd_stream_track_destroy(trk);
  return 0;
}

#define NPART 5
#define NOPS 4000

/* Random interleavings of push, ack (ok or failed), reset and take_dirty on
 * several partitions, each compared with a model that recomputes the
 * committable position from scratch. */
/* The consumer goes back within its assignment (librdkafka reset the
 * position after an offset-out-of-range): the fault test that found it
 * crashed here on the increasing-offsets assertion. What was in flight is
 * forgotten; the re-read offsets are tracked from scratch. */
static int test_rewind(void) {
  wd_stream_track_t *trk = wd_stream_track_new();
  uint64_t old[3], t0, t1;
  int32_t dirty[8];
  wd_stream_track_reset(trk, 2);
  for (int i = 0; i < 3; i++)
    old[i] = wd_stream_track_push(trk, 2, 480 + i);
  WD_T_ASSERT(wd_stream_track_ack(trk, old[0], 1) == 1, "ack 480");
  WD_T_ASSERT(wd_stream_track_next(trk, 2) == 481, "next 481");
  t0 = wd_stream_track_push(trk, 2, 0); /* rewound to the start */
  WD_T_ASSERT(wd_stream_track_inflight(trk, 2) == 1, "only the re-read one");
  WD_T_ASSERT(wd_stream_track_next(trk, 2) == -1, "position forgotten");
  WD_T_ASSERT(wd_stream_track_take_dirty(trk, dirty, 8) == 0, "not dirty");
  WD_T_ASSERT(wd_stream_track_ack(trk, old[1], 1) == 0, "pre-rewind ack stale");
  t1 = wd_stream_track_push(trk, 2, 1);
  WD_T_ASSERT(wd_stream_track_ack(trk, t1, 1) == 1, "ack 1");
  WD_T_ASSERT(wd_stream_track_next(trk, 2) == -1, "blocked by offset 0");
  WD_T_ASSERT(wd_stream_track_ack(trk, t0, 1) == 1, "ack 0");
  WD_T_ASSERT(wd_stream_track_next(trk, 2) == 2, "next=%lld",
              (long long)wd_stream_track_next(trk, 2));
  /* the same offset again is a rewind too */
  uint64_t t2 = wd_stream_track_push(trk, 2, 2);
  uint64_t t3 = wd_stream_track_push(trk, 2, 2);
  WD_T_ASSERT(wd_stream_track_ack(trk, t2, 1) == 0, "first copy stale");
  WD_T_ASSERT(wd_stream_track_ack(trk, t3, 1) == 1, "second copy acked");
  WD_T_ASSERT(wd_stream_track_next(trk, 2) == 3, "next 3");
  wd_stream_track_destroy(trk);
  return 0;
}

static int test_random_vs_model(void) {
  unsigned long long seed = wd_t_seed(20250612), rng = seed;
  for (int round = 0; round < 40; round++) {
    wd_stream_track_t *trk = wd_stream_track_new();
    static uint64_t tok[NPART][NOPS];
    static int64_t off[NPART][NOPS];
    static int state[NPART][NOPS]; /* 0 pending, 1 ok, 2 failed */
    size_t n[NPART] = {0}, start[NPART] = {0};
    int64_t next_off[NPART], model_next[NPART];
    int dirty_model[NPART] = {0};
    for (int p = 0; p < NPART; p++)
      next_off[p] = (int64_t)(wd_t_rand(&rng) % 1000), model_next[p] = -1;

    for (int op = 0; op < NOPS; op++) {
      int p = (int)(wd_t_rand(&rng) % NPART);
      unsigned r = (unsigned)(wd_t_rand(&rng) % 100);
      if (r < 45 && n[p] < NOPS) {
        off[p][n[p]] = next_off[p];
        next_off[p] += 1 + (int64_t)(wd_t_rand(&rng) % 3);
        state[p][n[p]] = 0;
        tok[p][n[p]] = wd_stream_track_push(trk, p, off[p][n[p]]);
        n[p]++;
      } else if (r < 94 && n[p] > 0) {
        /* ack anything ever pushed, stale or not */
        size_t i = (size_t)(wd_t_rand(&rng) % n[p]);
        int ok = wd_t_rand(&rng) % 50 != 0;
        int live = i >= start[p] && state[p][i] == 0;
        int got = wd_stream_track_ack(trk, tok[p][i], ok);
        WD_T_ASSERT(got == live,
                    "round %d op %d p %d i %zu: ack returned %d, model %d",
                    round, op, p, i, got, live);
        if (live) {
          state[p][i] = ok ? 1 : 2;
          int64_t before = model_next[p];
          for (size_t j = start[p]; j < n[p] && state[p][j] == 1; j++)
            model_next[p] = off[p][j] + 1;
          if (model_next[p] != before)
            dirty_model[p] = 1;
        }
      } else if (r < 96) {
        wd_stream_track_reset(trk, p);
        start[p] = n[p];
        model_next[p] = -1;
        dirty_model[p] = 0;
      } else {
        int32_t d[NPART];
        size_t k = wd_stream_track_take_dirty(trk, d, NPART);
        int seen[NPART] = {0};
        for (size_t j = 0; j < k; j++)
          seen[d[j]] = 1;
        for (int q = 0; q < NPART; q++) {
          WD_T_ASSERT(seen[q] == dirty_model[q],
                      "round %d op %d: dirty %d is %d, model %d", round, op, q,
                      seen[q], dirty_model[q]);
          dirty_model[q] = 0;
        }
      }
      WD_T_ASSERT(wd_stream_track_next(trk, p) == model_next[p],
                  "round %d op %d p %d: next %lld, model %lld", round, op, p,
                  (long long)wd_stream_track_next(trk, p),
                  (long long)model_next[p]);
    }
    wd_stream_track_destroy(trk);
  }
  return 0;
}

/* Ring growth keeps order across the wrap point. */
static int test_ring_growth(void) {
  wd_stream_track_t *trk = wd_stream_track_new();
  static uint64_t t[3000];
  size_t acked = 0;
  for (int i = 0; i < 3000; i++) {
    t[i] = wd_stream_track_push(trk, WD_STREAM_TRACK_MAX_PARTITION, i);
    if (i % 3 == 2) /* keep the head moving so the ring wraps before it grows */
      wd_stream_track_ack(trk, t[acked], 1), acked++;
  }
  for (size_t i = 3000; i-- > acked;)
    wd_stream_track_ack(trk, t[i], 1);
  WD_T_ASSERT(
      wd_stream_track_next(trk, WD_STREAM_TRACK_MAX_PARTITION) == 3000,
      "all acked: %lld",
      (long long)wd_stream_track_next(trk, WD_STREAM_TRACK_MAX_PARTITION));
  WD_T_ASSERT(wd_stream_track_inflight(trk, WD_STREAM_TRACK_MAX_PARTITION) == 0,
              "empty");
  wd_stream_track_destroy(trk);
  wd_stream_track_destroy(NULL);
  return 0;
}

static int test_mockbroker_parse_topic(void) {
  static const struct {
    const char *arg;
    const char *name; /* NULL = must fail */
    int parts;
  } rows[] = {
      {"articles:4", "articles", 4},
      {"a.b-c_d:12", "a.b-c_d", 12},
      {"plain", "plain", 4},
      {"x:0", NULL, 0},
      {":3", NULL, 0},
      {"bad/name:2", NULL, 0},
      {"t:abc", NULL, 0},
      {"t:10001", NULL, 0},
      {"t:", NULL, 0},
      {NULL, NULL, 0},
  };
  int fails = 0;
  for (int i = 0; rows[i].arg; i++) {
    char name[64], errstr[256];
    int parts = -1;
    wd_err_t err = wd_mockbroker_parse_topic(rows[i].arg, name, sizeof(name),
                                             &parts, errstr, sizeof(errstr));
    int ok = rows[i].name ? err == WD_OK && !strcmp(name, rows[i].name) &&
                                parts == rows[i].parts
                          : err == WD_ERR_USAGE;
    if (!ok) {
      fprintf(stderr, "parse_topic('%s'): err=%d name=%s parts=%d\n",
              rows[i].arg, err, err == WD_OK ? name : "-", parts);
      fails++;
    }
  }
  WD_T_ASSERT(fails == 0, "%d rows failed", fails);
  return 0;
}

/* Commands against a live in-process mock (no clients connect). */
static int test_mockbroker_commands(void) {
  static const struct {
    const char *cmd;
    wd_err_t want;
  } rows[] = {
      {"", WD_OK},
      {"down 1", WD_OK},
      {"up 1", WD_OK},
      {"down -1", WD_OK},
      {"up -1", WD_OK},
      {"rtt 2 50", WD_OK},
      {"errors Produce 3 NOT_LEADER_FOR_PARTITION", WD_OK},
      {"errors produce 2 _TRANSPORT REQUEST_TIMED_OUT", WD_OK},
      {"errors 8 1 REBALANCE_IN_PROGRESS", WD_OK},
      {"clear Produce", WD_OK},
      {"topic t1 3", WD_OK},
      {"topic t1 3", WD_ERR_KAFKA},
      {"leader t1 0 2", WD_OK},
      {"down", WD_ERR_USAGE},
      {"down x", WD_ERR_USAGE},
      {"errors Produce 3 A B", WD_ERR_USAGE},
      {"errors Nope 1 _TRANSPORT", WD_ERR_USAGE},
      {"errors Produce 1 NO_SUCH_ERROR", WD_ERR_USAGE},
      {"broker-errors 1 Fetch NOT_LEADER_FOR_PARTITION@100 NO_ERROR@2000",
       WD_OK},
      {"broker-errors 3 offsetcommit REQUEST_TIMED_OUT", WD_OK},
      {"broker-errors 4 Fetch NO_ERROR", WD_ERR_KAFKA}, /* no broker 4 */
      {"broker-errors 1 Fetch", WD_ERR_USAGE},
      {"broker-errors -1 Fetch NO_ERROR", WD_ERR_USAGE},
      {"broker-errors 1 Fetch NO_ERROR@", WD_ERR_USAGE},
      {"broker-errors 1 Fetch NO_ERROR@-5", WD_ERR_USAGE},
      {"broker-errors 1 Fetch BOGUS@10", WD_ERR_USAGE},
      {"coordinator group wiredup 2", WD_OK},
      {"coordinator transaction tx1 3", WD_OK},
      {"coordinator member wiredup 2", WD_ERR_USAGE},
      {"coordinator group wiredup", WD_ERR_USAGE},
      {"explode", WD_ERR_USAGE},
      {NULL, WD_OK},
  };
  char errstr[256];
  int fails = 0;
  wd_mockbroker_t *mb = wd_mockbroker_new(3, errstr, sizeof(errstr));
  WD_T_ASSERT(mb, "mock cluster: %s", errstr);
  const char *bs = wd_mockbroker_bootstraps(mb);
  WD_T_ASSERT(bs && strncmp(bs, "127.0.0.1:", 10) == 0 && strchr(bs, ','),
              "three loopback brokers: %s", bs ? bs : "(null)");
  for (int i = 0; rows[i].cmd; i++) {
    wd_err_t err =
        wd_mockbroker_command(mb, rows[i].cmd, errstr, sizeof(errstr));
    if (err != rows[i].want) {
      fprintf(stderr, "command '%s': got %d want %d (%s)\n", rows[i].cmd, err,
              rows[i].want, err ? errstr : "ok");
      fails++;
    }
  }
  wd_mockbroker_destroy(mb);
  wd_mockbroker_destroy(NULL);
  WD_T_ASSERT(fails == 0, "%d rows failed", fails);
  WD_T_ASSERT(wd_mockbroker_new(0, errstr, sizeof(errstr)) == NULL,
              "0 brokers refused");
  return 0;
}

/* --from-offsets "P:O,...": what parses, and what is refused with a reason. */
static int test_replay_parse_offsets(void) {
  char err[256];
  int32_t *parts;
  int64_t *offs;
  size_t n;
  WD_T_ASSERT(wd_replay_parse_offsets("3:17,0:0,65534:9000000000", &parts, &offs, &n, err,
                                      sizeof(err)) == WD_OK, "%s", err);
  WD_T_ASSERT(n == 3 && parts[0] == 3 && offs[0] == 17 && parts[1] == 0 && offs[1] == 0 &&
                  parts[2] == 65534 && offs[2] == 9000000000LL,
              "parsed %zu entries wrongly", n);
  wd_free(parts);
  wd_free(offs);
  static const char *const bad[] = {"", "1", "1:", ":5", "1:5,", "1:5,,2:3", "-1:5", "1:-5",
                                    "1:5x", "65535:1", "1:2,1:3", "a:b", " 1:5",
                                    "1:99999999999999999999"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    err[0] = '\0';
    parts = (int32_t *)1;
    WD_T_ASSERT(wd_replay_parse_offsets(bad[i], &parts, &offs, &n, err, sizeof(err)) ==
                    WD_ERR_USAGE && err[0] && parts == NULL,
                "'%s' accepted (or no reason given)", bad[i]);
  }
  return 0;
}

int main(void) {
  WD_T_RUN(test_in_order);
  WD_T_RUN(test_failure_blocks);
  WD_T_RUN(test_reset_makes_stale);
  WD_T_RUN(test_rewind);
  WD_T_RUN(test_random_vs_model);
  WD_T_RUN(test_ring_growth);
  WD_T_RUN(test_mockbroker_parse_topic);
  WD_T_RUN(test_mockbroker_commands);
  WD_T_RUN(test_replay_parse_offsets);
  return WD_T_DONE();
}
