/* eval.c - adjusted Rand index and pairwise scores of a clustering, and
 * `wiredup eval`: a labelled file clustered by file mode, then scored.
 *
 * Pair counts come from the contingency table of (predicted, truth) label
 * pairs, built by sorting, so memory is O(n) whatever the cluster count. */
#include "wiredup/eval.h"
#include "wiredup/mem.h"
#include "wiredup/pipeline.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static double choose2(uint64_t n) { return (double)n * (double)(n - (n > 0)) / 2.0; }

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Sum over groups of equal values of C(count, 2), and the number of groups. */
static double pair_sum(uint64_t *v, size_t n, uint64_t *groups) {
  double s = 0;
  size_t i = 0;
  *groups = 0;
  qsort(v, n, sizeof(*v), cmp_u64);
  while (i < n) {
    size_t j = i;
    while (j < n && v[j] == v[i])
      j++;
    s += choose2(j - i);
    (*groups)++;
    i = j;
  }
  return s;
}

void wd_eval_score(const uint32_t *pred, const uint32_t *truth, size_t n,
                   wd_eval_scores_t *out) {
  uint64_t *v = wd_malloc((n ? n : 1) * sizeof(*v));
  uint64_t g;
  double sa, sb, sab;

  memset(out, 0, sizeof(*out));
  out->docs = n;
  for (size_t i = 0; i < n; i++)
    v[i] = ((uint64_t)pred[i] << 32) | truth[i];
  sab = pair_sum(v, n, &g);
  for (size_t i = 0; i < n; i++)
    v[i] = pred[i];
  sa = pair_sum(v, n, &out->clusters);
  for (size_t i = 0; i < n; i++)
    v[i] = truth[i];
  sb = pair_sum(v, n, &out->labels);
  wd_free(v);

  double total = choose2(n);
  double expected = total > 0 ? sa * sb / total : 0;
  double maxidx = (sa + sb) / 2.0;
  /* identical trivial partitions (all singletons, or n < 2) agree perfectly */
  out->ari = maxidx - expected != 0 ? (sab - expected) / (maxidx - expected) : 1.0;
  out->pair_precision = sa > 0 ? sab / sa : 1.0;
  out->pair_recall = sb > 0 ? sab / sb : 1.0;
  out->pair_f1 = out->pair_precision + out->pair_recall > 0
                     ? 2 * out->pair_precision * out->pair_recall /
                           (out->pair_precision + out->pair_recall)
                     : 0.0;
}

/* ==== Interning labels and cluster ids to dense integers ==== */

typedef struct intern_s {
  char **keys;
  uint32_t *vals; /* id + 1, 0 empty */
  size_t cap, cnt;
} intern_t;

static uint64_t str_hash(const char *s) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a: labels are few and short */
  while (*s)
    h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
  return h;
}

static uint32_t intern(intern_t *t, const char *s) {
  if ((t->cnt + 1) * 2 > t->cap) {
    size_t ocap = t->cap;
    char **ok = t->keys;
    uint32_t *ov = t->vals;
    t->cap = t->cap ? t->cap * 2 : 1024;
    t->keys = wd_calloc(t->cap, sizeof(*t->keys));
    t->vals = wd_calloc(t->cap, sizeof(*t->vals));
    for (size_t i = 0; i < ocap; i++) {
      if (!ov[i])
        continue;
      size_t j = str_hash(ok[i]) & (t->cap - 1);
      while (t->vals[j])
        j = (j + 1) & (t->cap - 1);
      t->keys[j] = ok[i];
      t->vals[j] = ov[i];
    }
    wd_free(ok);
    wd_free(ov);
  }
  size_t j = str_hash(s) & (t->cap - 1);
  while (t->vals[j]) {
    if (strcmp(t->keys[j], s) == 0)
      return t->vals[j] - 1;
    j = (j + 1) & (t->cap - 1);
  }
  t->keys[j] = wd_strdup(s);
  t->vals[j] = (uint32_t)++t->cnt;
  return t->vals[j] - 1;
}

static void intern_free(intern_t *t) {
  for (size_t i = 0; i < t->cap; i++)
    if (t->vals[i])
      wd_free(t->keys[i]);
  wd_free(t->keys);
  wd_free(t->vals);
}

typedef struct eval_ctx_s {
  const char *label_field;
  int stories; /* score story_id instead of cluster_id */
  intern_t labels, clusters;
  uint32_t *pred, *truth;
  size_t n, cap;
} eval_ctx_t;

static void eval_line(void *opaque, uint64_t line, const char *json, size_t len,
                      const wd_result_t *res, wd_err_t err, const char *reason) {
  eval_ctx_t *ec = opaque;
  char num[32];
  const char *label = NULL;
  if (err != WD_OK || !res)
    return;
  cJSON *obj = cJSON_ParseWithLength(json, len);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, ec->label_field);
  if (cJSON_IsString(v)) {
    label = v->valuestring;
  } else if (cJSON_IsNumber(v)) {
    snprintf(num, sizeof(num), "%.17g", v->valuedouble);
    label = num;
  }
  if (label) {
    if (ec->n == ec->cap) {
      ec->cap = ec->cap ? ec->cap * 2 : 1024;
      ec->pred = wd_realloc(ec->pred, ec->cap * sizeof(*ec->pred));
      ec->truth = wd_realloc(ec->truth, ec->cap * sizeof(*ec->truth));
    }
    ec->truth[ec->n] = intern(&ec->labels, label);
    ec->pred[ec->n] = intern(&ec->clusters, ec->stories ? res->story_id : res->cluster_id);
    ec->n++;
  }
  cJSON_Delete(obj);
}

wd_err_t wd_eval_file(const wd_config_t *cfg, const char *path, const char *label_field,
                      int stories, wd_eval_scores_t *out, char *errstr, size_t errstr_size) {
  eval_ctx_t ec;
  wd_file_summary_t sum;
  memset(&ec, 0, sizeof(ec));
  ec.label_field = label_field;
  ec.stories = stories;
  wd_err_t err = wd_pipeline_run_file(cfg, path, NULL, eval_line, &ec, &sum, errstr,
                                      errstr_size);
  if (err == WD_OK)
    wd_eval_score(ec.pred, ec.truth, ec.n, out);
  intern_free(&ec.labels);
  intern_free(&ec.clusters);
  wd_free(ec.pred);
  wd_free(ec.truth);
  return err;
}

void wd_eval_print(FILE *fp, const wd_eval_scores_t *s, int json, const char *prefix_key,
                   double prefix_val) {
  if (json) {
    fprintf(fp, "{");
    if (prefix_key)
      fprintf(fp, "\"%s\":%.4g,", prefix_key, prefix_val);
    fprintf(fp,
            "\"ari\":%.6f,\"pair_precision\":%.6f,\"pair_recall\":%.6f,"
            "\"pair_f1\":%.6f,\"clusters\":%llu,\"docs\":%llu}\n",
            s->ari, s->pair_precision, s->pair_recall, s->pair_f1,
            (unsigned long long)s->clusters, (unsigned long long)s->docs);
    return;
  }
  if (prefix_key) {
    fprintf(fp, "%s=%.4g ari=%.6f pair_precision=%.6f pair_recall=%.6f pair_f1=%.6f "
                "clusters=%llu docs=%llu\n",
            prefix_key, prefix_val, s->ari, s->pair_precision, s->pair_recall,
            s->pair_f1, (unsigned long long)s->clusters, (unsigned long long)s->docs);
    return;
  }
  fprintf(fp, "ari=%.6f\npair_precision=%.6f\npair_recall=%.6f\npair_f1=%.6f\n"
              "clusters=%llu\ndocs=%llu\n",
          s->ari, s->pair_precision, s->pair_recall, s->pair_f1,
          (unsigned long long)s->clusters, (unsigned long long)s->docs);
}
