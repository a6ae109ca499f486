/* cluster.h - the similarity memory and the near-duplicate decision.
 *
 * The cluster store ("cs") keeps every indexed article's fingerprint (MinHash
 * signature, distinct-shingle count, SimHash), its id and its answer, the LSH
 * and SimHash indexes over them, and the clusters. wd_cluster_assign finds
 * candidates (LSH bands, SimHash near neighbours), verifies each by estimated
 * Jaccard, estimated containment and SimHash cosine, and joins the article to
 * the cluster of its best verified match, or starts a new cluster.
 *
 * Containment: from the Jaccard estimate J and the exact set sizes |A|, |B|,
 * |A n B| = J (|A| + |B|) / (1 + J), so the share of the smaller set found in
 * the larger one is estimated without storing the sets. A copy that printed
 * only the first half of a story therefore still joins it. Containment
 * counts only with at least containment_min_shared shared shingles: the
 * evidence is the number shared, so a short article needs a higher share.
 *
 * Joint rule: containment >= joint_containment together with SimHash cosine
 * >= joint_cosine also joins; phrase reuse and shared rare vocabulary are
 * different evidence, so when both agree each may be weaker than alone.
 *
 * Word rule: a rewritten copy keeps its source's rare words but few of its
 * phrases. The exact cosine of the two articles' heaviest-word vectors
 * (topv.h; candidates also come from its word index) joins at
 * word_cosine + word_cosine_slope * ln(1 + n), n the larger article's
 * distinct shingles: two long articles on one event share more vocabulary
 * by chance than two short ones, so the bar rises with length.
 *
 * Stories: a cluster belongs to a story, looser than a cluster (the same
 * event, written independently). A new cluster joins the story nearest it
 * on average (average linkage: the mean heaviest-word cosine of its first
 * article with the story's newest live articles within story_window of
 * event time >= the bar, and >= a share of the story's own cohesion; the
 * bar is story_cosine at 200 stories within story_window and rises with
 * the log of their number),
 * unless most of them quote other figures (templated stories about other
 * companies are other events; only articles dense in figures can, not a
 * narrative report's incidental ages and dates), else starts one; its
 * articles share it. A story gains members and never loses one to another
 * story. The story id is the id of the story's first article. The
 * decision's cost is bounded (a few dozen cosines per new cluster;
 * cluster.c story_pick).
 *
 * Articles are numbered in arrival order (doc numbers); the cluster id is the
 * id of its first article. The store is bounded (wd_cluster_evict drops the
 * oldest articles) and can be saved to and loaded from a checkpoint. Deterministic: the same calls in the same order
 * give the same answers. Sees only libc, xxhash and the sketch modules.
 *
 * @code
 *   wd_cluster_t *cs = wd_cluster_new(&opts);
 *   wd_assign_t a;
 *   if (!wd_cluster_lookup(cs, id, id_len, &a))   // redelivery?
 *     wd_cluster_assign(cs, &doc, &a);
 *   printf("%s -> %s\n", id, a.cluster_id);
 *   wd_cluster_destroy(cs);
 * @endcode
 */
#ifndef WD_CLUSTER_H
#define WD_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "wiredup/err.h"
#include "wiredup/lsh.h"

typedef struct wd_cluster_s wd_cluster_t;

typedef struct wd_cluster_opts_s {
  uint32_t num_perm;        /**< signature length */
  uint32_t bands;           /**< LSH bands (rows = num_perm / bands) */
  uint32_t max_candidates;  /**< LSH candidates verified per article */
  int simhash_enabled;      /**< use SimHash as a second signal */
  int simhash_max_distance; /**< Hamming radius of the SimHash index lookup */
  double threshold;         /**< join when estimated Jaccard >= this */
  double containment;       /**< ... or estimated containment >= this */
  uint32_t containment_min_shingles; /**< ... and the smaller doc has >= this many shingles */
  double cosine;            /**< ... or SimHash cosine >= this (when enabled) */
  uint32_t containment_min_shared; /**< containment needs >= this many shared shingles */
  double joint_containment; /**< ... or containment >= this and ... */
  double joint_cosine;      /**< ... SimHash cosine >= this (when enabled) */
  double word_cosine;       /**< ... or heaviest-word cosine (topv.h) >= this + */
  double word_cosine_slope; /**< ... this * ln(1 + larger shingle count); needs
                                 simhash_enabled; word_cosine >= 1 turns it off */
  double story_cosine;      /**< a new cluster joins the story whose articles' mean
                                 word cosine with it is highest and >= this (> 1: never) */
  int64_t story_window_ms;  /**< ... over the story's articles within this much event
                                 time of it (0: 0; set it, a zeroed opts compares none) */
  uint64_t max_docs;        /**< most articles stored at once (index.max_articles + 1);
                                 sizes the LSH doc references. 0: 2^24. Above 2^28
                                 the store keeps the newest 2^28. */
} wd_cluster_opts_t;

/** One article's fingerprint, as computed by the fingerprint stages. */
typedef struct wd_doc_s {
  const char *id;        /**< borrowed; copied by assign */
  size_t id_len;
  const uint32_t *sig;   /**< num_perm values; borrowed, copied by assign */
  uint32_t shingle_cnt;  /**< distinct shingles (0: nothing to compare) */
  uint64_t simhash;
  const struct wd_topv_s *topv; /**< heaviest words; borrowed, copied; NULL: none */
  int64_t ts_ms;
} wd_doc_t;

/** The answer for one article; pointers valid until the next call on \p cs. */
typedef struct wd_assign_s {
  uint32_t doc;             /**< doc number */
  const char *cluster_id;
  const char *story_id;     /**< the id of the story's first cluster */
  const char *duplicate_of; /**< NULL when the article starts a cluster */
  double similarity;
  uint32_t cluster_size;    /**< size after this article joined */
  uint64_t cluster_key;     /**< stable 64-bit key of the cluster (for learning) */
  int redelivered;          /**< answered from memory (wd_cluster_lookup) */
} wd_assign_t;

wd_cluster_t *wd_cluster_new(const wd_cluster_opts_t *opts);
void wd_cluster_destroy(wd_cluster_t *cs);

/** @brief If \p id was assigned before, fill \p out with its stored answer
 *  (cluster_size as it was then) and return 1; else return 0. O(1). */
int wd_cluster_lookup(wd_cluster_t *cs, const char *id, size_t id_len, wd_assign_t *out);

/** @brief Decide \p doc's cluster, store and index it. \p doc->id must not be
 *  in the store (check with wd_cluster_lookup first). @returns WD_OK. */
wd_err_t wd_cluster_assign(wd_cluster_t *cs, const wd_doc_t *doc, wd_assign_t *out);

/** @brief Articles stored (live). */
size_t wd_cluster_count(const wd_cluster_t *cs);
/** @brief Size the index for \p docs live articles at once (a hint: answers
 *  do not change). An index grown from empty rebuilds each band table about
 *  30 times on the way, re-homing each entry ~4 times; sized ahead, it does
 *  not. */
void wd_cluster_reserve(wd_cluster_t *cs, size_t docs);
/** @brief Clusters started since the store was created (checkpoints keep it). */
size_t wd_cluster_clusters(const wd_cluster_t *cs);
/** @brief Clusters with at least one live article. */
size_t wd_cluster_clusters_live(const wd_cluster_t *cs);
/** @brief Articles evicted so far. */
uint64_t wd_cluster_evicted(const wd_cluster_t *cs);
/** @brief Bytes held by the store and its indexes. */
size_t wd_cluster_bytes(const wd_cluster_t *cs);

/** Where the store's bytes go, and the flood bounds at work. */
typedef struct wd_cluster_stats_s {
  size_t bytes_sigs;     /**< signatures (num_perm x 2 bytes per slot of the allocated chunks) */
  size_t bytes_records;  /**< per-article fields (times, sizes, SimHash, id pointers) */
  size_t bytes_ids;      /**< id strings */
  size_t bytes_idmap;    /**< id -> article table */
  size_t bytes_clusters; /**< cluster table */
  size_t bytes_lsh;      /**< LSH band tables and query scratch */
  size_t bytes_simhash;  /**< SimHash Hamming index */
  size_t bytes_words;    /**< heaviest-word vectors and their word index */
  wd_lsh_stats_t lsh;
  uint32_t simhash_examined; /**< last assign: SimHash index entries read */
  uint64_t simhash_skipped;  /**< identical SimHashes left out of the index */
  uint32_t verified;         /**< last assign: candidates verified */
} wd_cluster_stats_t;

void wd_cluster_stats(const wd_cluster_t *cs, wd_cluster_stats_t *st);

/* ==== Bounded memory ==== */

/**
 * @brief Evict from the oldest end: while the oldest article's event time is
 *        before \p horizon_ms, or more than \p max_docs articles are stored.
 *        An evicted article leaves the LSH and SimHash indexes and the id
 *        table (a redelivery of it is then processed as new); its cluster
 *        leaves the cluster table once no live article is in it. Answers
 *        already given keep their ids (duplicate_of, cluster_id): the strings
 *        are shared and live as long as something names them.
 * @returns how many were evicted. O(evicted * bands).
 * @remark Eviction follows arrival order: an article is evicted once it and
 *         every article that arrived before it are behind the horizon, so an
 *         out-of-order article may stay up to the disorder of the stream
 *         longer than the window.
 */
size_t wd_cluster_evict(wd_cluster_t *cs, int64_t horizon_ms, size_t max_docs);

/* ==== Checkpoints (state.h) ==== */

struct wd_state_w_s;
struct wd_state_r_s;

/** @brief Write the store as one "CLUS" section (layout in cluster.c). */
void wd_cluster_save(const wd_cluster_t *cs, struct wd_state_w_s *w);

/** @brief Write the heaviest-word vectors as a "TOPV" section (topv.h);
 *  nothing when the word rule is off. */
void wd_cluster_save_words(const wd_cluster_t *cs, struct wd_state_w_s *w);

/** @brief Replace the word vectors of a store just loaded from "CLUS" with a
 *  "TOPV" section body. A checkpoint without one (written before the word
 *  rule existed) loads with no word vectors for its articles.
 *  @returns WD_OK; WD_ERR_STATE for a truncated or mismatched section. */
wd_err_t wd_cluster_load_words(wd_cluster_t *cs, struct wd_state_r_s *r, char *errstr,
                               size_t errstr_size);

/** @brief Write each live cluster's story id as a "STRY" section: u32 live
 *  clusters, then in the order of the CLUS section, the story id strings;
 *  then i64 the newest event time stored (ms; INT64_MIN: none), which the
 *  story bar counts the stories near in time from. */
void wd_cluster_save_stories(const wd_cluster_t *cs, struct wd_state_w_s *w);

/** @brief Set the story ids of a store just loaded from "CLUS". A checkpoint
 *  without the section (older) loads each cluster as its own story; one
 *  whose section ends after the ids (older) takes the newest event time
 *  from the live articles.
 *  @returns WD_OK; WD_ERR_STATE for a truncated or mismatched section. */
wd_err_t wd_cluster_load_stories(wd_cluster_t *cs, struct wd_state_r_s *r, char *errstr,
                                 size_t errstr_size);

/** @brief Fill an empty store from a "CLUS" section body and rebuild its
 *  indexes. @returns WD_OK; WD_ERR_STATE (errstr says why) for a truncated or
 *  inconsistent section or one made with other num_perm / bands. On error
 *  the store must be destroyed. */
wd_err_t wd_cluster_load(wd_cluster_t *cs, struct wd_state_r_s *r, char *errstr,
                         size_t errstr_size);

#endif
