/* wd_test.h - minimal assertion helpers for wiredup's unit tests
 * (librdkafka rdunittest.h RD_UT_ASSERT and redis testhelp.h style).
 *
 * A test function returns 0 on pass, 1 on failure. WD_T_RUN counts failures;
 * main returns WD_T_DONE(), non-zero when anything failed, so ctest's summary
 * line is the truth. */
#ifndef WD_TEST_H
#define WD_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int wd_t_failed, wd_t_run;

#define WD_T_ASSERT(expr, ...)                                                 \
  do {                                                                         \
    if (!(expr)) {                                                             \
      fprintf(stderr, "FAIL %s:%d:%s: %s: ", __FILE__, __LINE__, __func__,     \
              #expr);                                                          \
      fprintf(stderr, __VA_ARGS__);                                            \
      fprintf(stderr, "\n");                                                   \
      return 1;                                                                \
    }                                                                          \
  } while (0)

#define WD_T_RUN(fn)                                                           \
  do {                                                                         \
    wd_t_run++;                                                                \
    if ((fn)() != 0) {                                                         \
      wd_t_failed++;                                                           \
      fprintf(stderr, "FAILED %s\n", #fn);                                     \
    } else {                                                                   \
      fprintf(stderr, "ok %s\n", #fn);                                         \
    }                                                                          \
  } while (0)

#define WD_T_DONE()                                                            \
  (fprintf(stderr, "%d tests, %d failed\n", wd_t_run, wd_t_failed),            \
   wd_t_failed ? 1 : 0)

/** Seed for randomized tests: WD_TEST_SEED env var, else the given default.
 *  Printed so a failing run can be repeated. */
static inline unsigned long long wd_t_seed(unsigned long long dflt) {
  const char *s = getenv("WD_TEST_SEED");
  unsigned long long seed = s ? strtoull(s, NULL, 0) : dflt;
  fprintf(stderr, "seed=%llu (set WD_TEST_SEED to repeat)\n", seed);
  return seed;
}

/** splitmix64: a small, good PRNG for tests. */
static inline unsigned long long wd_t_rand(unsigned long long *state) {
  unsigned long long z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

#endif
