/* cluster.c - the cluster store and the near-duplicate decision.
 *
 * Layout: struct-of-arrays indexed by doc number, so a candidate's
 * verification touches only its signature row and two small fields. Ids are
 * found through an open-addressing table of doc numbers keyed by XXH3(id). */
#include "wiredup/cluster.h"
#include "wiredup/lsh.h"
#include "wiredup/mem.h"
#include "wiredup/minhash.h"
#include "wiredup/simhash.h"

#include <assert.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#define NO_DOC UINT32_MAX

struct wd_cluster_s {
  wd_cluster_opts_t opts;
  size_t cnt, cap;   /* docs stored, arrays' capacity */
  uint32_t *sigs;    /* cap * num_perm */
  uint32_t *nshingles;
  uint64_t *simhashes;
  int64_t *ts;
  uint32_t *root;    /* doc number of the cluster's first article */
  uint32_t *csize;   /* cluster size, valid at root docs */
  uint32_t *dup;     /* best match at assignment, NO_DOC when new */
  float *sim;        /* similarity to dup */
  uint32_t *size_at; /* cluster size right after assignment */
  char **ids;
  size_t clusters;
  size_t id_bytes;   /* bytes of id strings */

  uint32_t *idmap;   /* doc + 1, 0 = empty */
  size_t idmap_cap;

  wd_lsh_t *lsh;
  wd_simhash_index_t *si;
  wd_lsh_hit_t *hits; /* scratch: max_candidates */
  uint32_t *near;     /* scratch: SimHash neighbours */
  size_t near_cap;
};

wd_cluster_t *wd_cluster_new(const wd_cluster_opts_t *opts) {
  if (!opts->num_perm || !opts->bands || opts->num_perm % opts->bands ||
      !opts->max_candidates)
    return NULL;
  wd_cluster_t *cs = wd_calloc(1, sizeof(*cs));
  cs->opts = *opts;
  cs->lsh = wd_lsh_new(opts->bands, opts->num_perm / opts->bands);
  if (!cs->lsh)
    goto err;
  if (opts->simhash_enabled) {
    cs->si = wd_simhash_index_new(opts->simhash_max_distance);
    if (!cs->si)
      goto err;
    cs->near_cap = 64;
    cs->near = wd_malloc(cs->near_cap * sizeof(*cs->near));
  }
  cs->hits = wd_malloc(opts->max_candidates * sizeof(*cs->hits));
  cs->idmap_cap = 1024;
  cs->idmap = wd_calloc(cs->idmap_cap, sizeof(*cs->idmap));
  return cs;
err:
  wd_cluster_destroy(cs);
  return NULL;
}

void wd_cluster_destroy(wd_cluster_t *cs) {
  if (!cs)
    return;
  for (size_t i = 0; i < cs->cnt; i++)
    wd_free(cs->ids[i]);
  wd_free(cs->ids);
  wd_free(cs->sigs);
  wd_free(cs->nshingles);
  wd_free(cs->simhashes);
  wd_free(cs->ts);
  wd_free(cs->root);
  wd_free(cs->csize);
  wd_free(cs->dup);
  wd_free(cs->sim);
  wd_free(cs->size_at);
  wd_free(cs->idmap);
  wd_free(cs->hits);
  wd_free(cs->near);
  wd_lsh_destroy(cs->lsh);
  wd_simhash_index_destroy(cs->si);
  wd_free(cs);
}

/* ==== Id map ==== */

static uint64_t id_hash(const char *id, size_t id_len) {
  return XXH3_64bits(id, id_len);
}

/* Slot holding \p id, or the empty slot where it would go. */
static size_t idmap_find(const wd_cluster_t *cs, const char *id, size_t id_len) {
  size_t mask = cs->idmap_cap - 1;
  size_t i = (size_t)id_hash(id, id_len) & mask;
  for (;;) {
    uint32_t v = cs->idmap[i];
    if (v == 0)
      return i;
    const char *s = cs->ids[v - 1];
    if (strlen(s) == id_len && memcmp(s, id, id_len) == 0)
      return i;
    i = (i + 1) & mask;
  }
}

static void idmap_grow(wd_cluster_t *cs) {
  uint32_t *old = cs->idmap;
  size_t old_cap = cs->idmap_cap;
  cs->idmap_cap *= 2;
  cs->idmap = wd_calloc(cs->idmap_cap, sizeof(*cs->idmap));
  for (size_t i = 0; i < old_cap; i++) {
    if (!old[i])
      continue;
    const char *s = cs->ids[old[i] - 1];
    cs->idmap[idmap_find(cs, s, strlen(s))] = old[i];
  }
  wd_free(old);
}

/* ==== Store ==== */

static void store_grow(wd_cluster_t *cs) {
  size_t cap = cs->cap ? cs->cap * 2 : 1024;
  size_t np = cs->opts.num_perm;
  cs->sigs = wd_realloc(cs->sigs, cap * np * sizeof(*cs->sigs));
  cs->nshingles = wd_realloc(cs->nshingles, cap * sizeof(*cs->nshingles));
  cs->simhashes = wd_realloc(cs->simhashes, cap * sizeof(*cs->simhashes));
  cs->ts = wd_realloc(cs->ts, cap * sizeof(*cs->ts));
  cs->root = wd_realloc(cs->root, cap * sizeof(*cs->root));
  cs->csize = wd_realloc(cs->csize, cap * sizeof(*cs->csize));
  cs->dup = wd_realloc(cs->dup, cap * sizeof(*cs->dup));
  cs->sim = wd_realloc(cs->sim, cap * sizeof(*cs->sim));
  cs->size_at = wd_realloc(cs->size_at, cap * sizeof(*cs->size_at));
  cs->ids = wd_realloc(cs->ids, cap * sizeof(*cs->ids));
  cs->cap = cap;
}

static void fill_answer(const wd_cluster_t *cs, uint32_t doc, wd_assign_t *out) {
  uint32_t r = cs->root[doc];
  out->doc = doc;
  out->cluster_id = cs->ids[r];
  out->duplicate_of = cs->dup[doc] == NO_DOC ? NULL : cs->ids[cs->dup[doc]];
  out->similarity = cs->sim[doc];
  out->cluster_size = cs->size_at[doc];
  out->cluster_key = id_hash(cs->ids[r], strlen(cs->ids[r]));
  out->redelivered = 0;
}

int wd_cluster_lookup(wd_cluster_t *cs, const char *id, size_t id_len, wd_assign_t *out) {
  uint32_t v = cs->idmap[idmap_find(cs, id, id_len)];
  if (!v)
    return 0;
  fill_answer(cs, v - 1, out);
  out->redelivered = 1;
  return 1;
}

/* ==== Decision ==== */

/* Score candidate \p c against \p doc; 0 when it does not qualify. */
static double verify(const wd_cluster_t *cs, const wd_doc_t *doc, uint32_t c) {
  const wd_cluster_opts_t *o = &cs->opts;
  const uint32_t *csig = cs->sigs + (size_t)c * o->num_perm;
  double j = wd_minhash_jaccard(doc->sig, csig, o->num_perm);
  double best = 0.0;
  uint32_t na = doc->shingle_cnt, nb = cs->nshingles[c];
  uint32_t nmin = na < nb ? na : nb;

  if (nmin == 0)
    return 0.0;
  if (j >= o->threshold)
    best = j;
  /* Shared shingles estimated from J and the exact set sizes. */
  double inter = j * ((double)na + (double)nb) / (1.0 + j);
  double cont = inter / (double)nmin;
  if (cont > 1.0)
    cont = 1.0;
  if (nmin >= o->containment_min_shingles && inter >= (double)o->containment_min_shared &&
      cont >= o->containment && cont > best)
    best = cont;
  if (cs->si) {
    double cos = wd_simhash_cosine(wd_simhash_distance(doc->simhash, cs->simhashes[c]));
    if (cos >= o->cosine && cos > best)
      best = cos;
    /* Phrase reuse (containment) and shared rare vocabulary (cosine) are
     * different evidence; when both agree, each may be weaker. */
    if (cont >= o->joint_containment && cos >= o->joint_cosine) {
      double s = cont > cos ? cont : cos;
      if (s > best)
        best = s;
    }
  }
  return best;
}

wd_err_t wd_cluster_assign(wd_cluster_t *cs, const wd_doc_t *doc, wd_assign_t *out) {
  const wd_cluster_opts_t *o = &cs->opts;
  uint32_t best = NO_DOC;
  double best_sim = 0.0;

  assert(cs->idmap[idmap_find(cs, doc->id, doc->id_len)] == 0);
  if (doc->shingle_cnt > 0) {
    size_t n = wd_lsh_query(cs->lsh, doc->sig, cs->hits, o->max_candidates);
    for (size_t i = 0; i < n; i++) {
      uint32_t c = cs->hits[i].doc;
      double s = verify(cs, doc, c);
      if (s > best_sim || (s == best_sim && s > 0.0 && c < best))
        best = c, best_sim = s;
    }
    if (cs->si) {
      size_t m = wd_simhash_index_query(cs->si, doc->simhash, cs->near, cs->near_cap);
      for (size_t i = 0; i < m; i++) {
        uint32_t c = cs->near[i];
        double s = verify(cs, doc, c);
        if (s > best_sim || (s == best_sim && s > 0.0 && c < best))
          best = c, best_sim = s;
      }
    }
  }

  if (cs->cnt == cs->cap)
    store_grow(cs);
  if ((cs->cnt + 1) * 2 > cs->idmap_cap)
    idmap_grow(cs);
  assert(cs->cnt < NO_DOC);
  uint32_t d = (uint32_t)cs->cnt++;
  memcpy(cs->sigs + (size_t)d * o->num_perm, doc->sig, o->num_perm * sizeof(uint32_t));
  cs->nshingles[d] = doc->shingle_cnt;
  cs->simhashes[d] = doc->simhash;
  cs->ts[d] = doc->ts_ms;
  cs->ids[d] = wd_strndup(doc->id, doc->id_len);
  cs->id_bytes += doc->id_len + 1;
  cs->idmap[idmap_find(cs, doc->id, doc->id_len)] = d + 1;

  if (best == NO_DOC) {
    cs->root[d] = d;
    cs->csize[d] = 1;
    cs->dup[d] = NO_DOC;
    cs->sim[d] = 0.0f;
    cs->clusters++;
  } else {
    uint32_t r = cs->root[best];
    cs->root[d] = r;
    cs->csize[r]++;
    cs->dup[d] = best;
    cs->sim[d] = (float)best_sim;
  }
  cs->size_at[d] = cs->csize[cs->root[d]];

  /* An empty document is stored (so its id answers redeliveries) but not
   * indexed: it would collide with every other empty document. */
  if (doc->shingle_cnt > 0) {
    wd_lsh_insert(cs->lsh, doc->sig, d);
    if (cs->si)
      wd_simhash_index_insert(cs->si, doc->simhash, d);
  }
  fill_answer(cs, d, out);
  return WD_OK;
}

size_t wd_cluster_count(const wd_cluster_t *cs) { return cs->cnt; }
size_t wd_cluster_clusters(const wd_cluster_t *cs) { return cs->clusters; }

size_t wd_cluster_bytes(const wd_cluster_t *cs) {
  size_t per = cs->opts.num_perm * sizeof(uint32_t) + 4 + 8 + 8 + 4 + 4 + 4 + 4 + 4 +
               sizeof(char *);
  size_t b = sizeof(*cs) + cs->cap * per + cs->idmap_cap * sizeof(uint32_t) +
             cs->id_bytes;
  b += wd_lsh_bytes(cs->lsh);
  if (cs->si)
    b += wd_simhash_index_bytes(cs->si);
  return b;
}
