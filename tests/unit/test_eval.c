/* test_eval.c - ARI and pair scores against values worked by hand. */
#include "wd_test.h"
#include "wiredup/eval.h"

#include <math.h>

#define NEAR(a, b) (fabs((a) - (b)) < 1e-9)

typedef struct {
  const char *name;
  uint32_t pred[8], truth[8];
  size_t n;
  double ari, precision, recall;
} score_case_t;

static const score_case_t cases[] = {
    /* contingency (0,0):2 (1,1):1 (1,2):1: sab=1 sa=2 sb=1, expected 1/3 */
    {"split one cluster", {0, 0, 1, 1}, {0, 0, 1, 2}, 4, (1 - 1 / 3.0) / (1.5 - 1 / 3.0), 0.5, 1.0},
    {"identical", {5, 5, 7, 7, 9}, {1, 1, 2, 2, 3}, 5, 1.0, 1.0, 1.0},
    {"label names do not matter", {1, 1, 0}, {0, 0, 1}, 3, 1.0, 1.0, 1.0},
    /* everything merged vs all singletons: no agreement beyond chance */
    {"all merged", {0, 0, 0, 0}, {0, 1, 2, 3}, 4, 0.0, 0.0, 1.0},
    {"all singletons vs pairs", {0, 1, 2, 3}, {0, 0, 1, 1}, 4, 0.0, 1.0, 0.0},
    {NULL, {0}, {0}, 0, 0, 0, 0},
};

static int test_score_table(void) {
  int fails = 0;
  for (const score_case_t *c = cases; c->name; c++) {
    wd_eval_scores_t s;
    wd_eval_score(c->pred, c->truth, c->n, &s);
    if (!NEAR(s.ari, c->ari) || !NEAR(s.pair_precision, c->precision) ||
        !NEAR(s.pair_recall, c->recall) || s.docs != c->n) {
      fprintf(stderr, "case '%s': ari=%.6f (want %.6f) p=%.6f (%.6f) r=%.6f (%.6f)\n",
              c->name, s.ari, c->ari, s.pair_precision, c->precision, s.pair_recall,
              c->recall);
      fails++;
    }
  }
  WD_T_ASSERT(fails == 0, "%d score cases failed", fails);
  return 0;
}

static int test_counts(void) {
  uint32_t pred[] = {3, 3, 4, 9, 9, 9};
  uint32_t truth[] = {1, 1, 1, 2, 2, 8};
  wd_eval_scores_t s;
  wd_eval_score(pred, truth, 6, &s);
  WD_T_ASSERT(s.clusters == 3, "clusters=%llu", (unsigned long long)s.clusters);
  WD_T_ASSERT(s.labels == 3, "labels=%llu", (unsigned long long)s.labels);
  /* pairs: pred {3,3}=1 {9,9,9}=3 -> 4; truth {1,1,1}=3 {2,2}=1 -> 4; both: (3,1)=1 (9,2)=1 -> 2 */
  WD_T_ASSERT(NEAR(s.pair_precision, 0.5) && NEAR(s.pair_recall, 0.5),
              "p=%f r=%f", s.pair_precision, s.pair_recall);
  WD_T_ASSERT(NEAR(s.pair_f1, 0.5), "f1=%f", s.pair_f1);
  return 0;
}

static int test_empty(void) {
  wd_eval_scores_t s;
  wd_eval_score(NULL, NULL, 0, &s);
  WD_T_ASSERT(s.docs == 0 && s.clusters == 0, "empty input");
  return 0;
}

int main(void) {
  WD_T_RUN(test_score_table);
  WD_T_RUN(test_counts);
  WD_T_RUN(test_empty);
  return WD_T_DONE();
}
