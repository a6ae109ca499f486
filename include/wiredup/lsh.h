/* lsh.h - banded LSH over MinHash signatures: candidates for near-duplicates.
 *
 * The signature is cut into `bands` bands of `rows` values; two signatures that
 * agree on a whole band collide there. Pairs of Jaccard s collide in at least
 * one band with probability 1 - (1 - s^rows)^bands (the S-curve). Each band is
 * an open-addressing multimap from a 64-bit band key to 32-bit doc ids (a doc
 * is an opaque id chosen by the caller), so memory is a few bytes per band per
 * doc and there are no per-entry allocations. Removal (for eviction) takes the
 * same signature that was inserted.
 *
 * Queries count, per candidate, how many bands it collides in, and return the
 * candidates with the most collisions first: more colliding bands means higher
 * similarity, so a capped query keeps the best. Per band at most
 * max_bucket_scan entries are read (newest first), which bounds the cost of a
 * flood of identical articles.
 *
 * @code
 *   wd_lsh_t *lsh = wd_lsh_new(32, 4);          // 128-value signatures
 *   wd_lsh_hit_t hits[64];
 *   size_t n = wd_lsh_query(lsh, sig, hits, 64); // earlier docs first
 *   wd_lsh_insert(lsh, sig, doc);
 *   wd_lsh_remove(lsh, old_sig, old_doc);        // eviction
 *   wd_lsh_destroy(lsh);
 * @endcode
 */
#ifndef WD_LSH_H
#define WD_LSH_H

#include <stddef.h>
#include <stdint.h>

typedef struct wd_lsh_s wd_lsh_t;

typedef struct wd_lsh_hit_s {
  uint32_t doc;   /**< the id given to wd_lsh_insert */
  uint32_t bands; /**< bands in which it collides with the query */
} wd_lsh_hit_t;

/** @brief \p bands * \p rows must equal the signature length.
 *  @returns NULL if either is 0. */
wd_lsh_t *wd_lsh_new(uint32_t bands, uint32_t rows);
void wd_lsh_destroy(wd_lsh_t *lsh);

/** @brief Per-band scan cap for queries (default 256; 0 = no cap). */
void wd_lsh_set_max_bucket_scan(wd_lsh_t *lsh, uint32_t max_scan);

/** @brief Size every band table for \p docs docs at once, so a bulk load
 *  (a checkpoint being restored) does not rehash on the way. */
void wd_lsh_reserve(wd_lsh_t *lsh, size_t docs);

/** @brief Index \p doc under each band of \p sig. O(bands) amortised. */
void wd_lsh_insert(wd_lsh_t *lsh, const uint32_t *sig, uint32_t doc);

/**
 * @brief Bulk load, band by band: index \p docs (\p cnt of them, in arrival
 *        order) in band \p band only; \p rows holds each doc's `rows` values
 *        of that band, doc after doc. Loading band 0 with every doc, then
 *        band 1, and so on, then wd_lsh_count_add(cnt), gives an index that
 *        answers exactly as cnt wd_lsh_insert calls would (slot positions may
 *        differ; buckets list docs in the same order). One band's table is
 *        hot at a time and slots are prefetched ahead, so a checkpoint of a
 *        million docs loads several times faster.
 */
void wd_lsh_load_band(wd_lsh_t *lsh, uint32_t band, const uint32_t *rows,
                      const uint32_t *docs, size_t cnt);
/** @brief Count \p docs bulk-loaded docs (see wd_lsh_load_band). */
void wd_lsh_count_add(wd_lsh_t *lsh, size_t docs);

/** @brief Remove \p doc from the buckets of \p sig. No-op where absent. */
void wd_lsh_remove(wd_lsh_t *lsh, const uint32_t *sig, uint32_t doc);

/**
 * @brief Distinct docs colliding with \p sig in at least one band, sorted by
 *        (bands desc, doc asc), at most \p out_cap. @returns how many written.
 *        Read-only on \p lsh; uses scratch inside \p lsh, so not concurrent.
 */
size_t wd_lsh_query(wd_lsh_t *lsh, const uint32_t *sig, wd_lsh_hit_t *out,
                    size_t out_cap);

/** @brief Docs currently indexed: inserts minus removals that found the doc
 *  in at least one band. */
size_t wd_lsh_count(const wd_lsh_t *lsh);

/** @brief Bytes held (tables and scratch). */
size_t wd_lsh_bytes(const wd_lsh_t *lsh);

/** @brief Probability that a pair of Jaccard \p s collides in >= 1 band. */
double wd_lsh_collision_prob(double s, uint32_t bands, uint32_t rows);

#endif
