/* eval.h - score the clustering of a labelled JSON Lines file.
 *
 * Runs exactly what `run` runs (wd_pipeline_run_file), then compares the
 * predicted clusters (or stories) with the label field: adjusted Rand index
 * (Hubert & Arabie 1985) and pairwise precision, recall and F1 over article
 * pairs. */
#ifndef WD_EVAL_H
#define WD_EVAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "wiredup/config.h"
#include "wiredup/err.h"

typedef struct wd_eval_scores_s {
  double ari;
  double pair_precision;
  double pair_recall;
  double pair_f1;
  uint64_t clusters; /**< predicted clusters among the scored docs */
  uint64_t docs;     /**< docs scored (valid and labelled) */
  uint64_t labels;   /**< distinct labels among them */
} wd_eval_scores_t;

/**
 * @brief Scores from two parallel label arrays (predicted, truth), given as
 *        dense small integers (0..n-1 ranges). O(n log n).
 */
void wd_eval_score(const uint32_t *pred, const uint32_t *truth, size_t n,
                   wd_eval_scores_t *out);

/**
 * @brief Cluster \p path with \p cfg and score it against \p label_field:
 *        the cluster ids, or with \p stories the story ids. Records without
 *        a string/integer label are processed but not scored.
 */
wd_err_t wd_eval_file(const wd_config_t *cfg, const char *path, const char *label_field,
                      int stories, wd_eval_scores_t *out, char *errstr, size_t errstr_size);

/** @brief Print scores as `key=value` lines (json=0) or one JSON object. \p
 *  prefix (may be NULL) is printed before each line / as a leading key. */
void wd_eval_print(FILE *fp, const wd_eval_scores_t *s, int json, const char *prefix_key,
                   double prefix_val);

#endif
