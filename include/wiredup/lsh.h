/* lsh.h - banded LSH over MinHash signatures: candidates for near-duplicates.
 *
 * The signature is cut into `bands` bands of `rows` values; two signatures that
 * agree on a whole band collide there. Pairs of Jaccard s collide in at least
 * one band with probability 1 - (1 - s^rows)^bands (the S-curve).
 *
 * Memory: the index does not keep band keys. Each band is an open-addressing
 * multimap of 4-byte entries: the low `doc_bits` bits of the doc number and a
 * short fingerprint of the band key in the remaining bits. The caller owns the
 * signatures and lends them through doc_fn (doc reference -> doc number and
 * its band values), which the index uses to check every fingerprint match
 * exactly, to find an entry's home when it moves, and to rehash. So a query
 * votes for exactly the docs that share a whole band with it, and an index of
 * N docs holds about bands * 4 / load bytes per doc (load 0.6-0.85), or
 * bands * 3 / load with opts.window while the live docs span up to ~200k
 * numbers.
 *
 * Docs must be numbered so that the live ones differ in their low doc_bits
 * bits (a window of at most 2^doc_bits consecutive numbers does).
 *
 * Floods: at most max_per_key docs are kept per band key; a further insert of
 * the same key drops its oldest entry. A query therefore reads at most
 * bands * max_per_key matching entries, and identical articles cost the same
 * however many arrive (wd_lsh_stats shows the bound holding).
 *
 * Queries count, per candidate, how many bands it collides in, and return the
 * candidates with the most collisions first: more colliding bands means higher
 * similarity, so a capped query keeps the best.
 *
 * @code
 *   wd_lsh_opts_t o = {.bands = 64, .rows = 2, .doc_bits = 21,
 *                      .doc_fn = my_rows, .ctx = store};
 *   wd_lsh_t *lsh = wd_lsh_new(&o);
 *   wd_lsh_hit_t hits[64];
 *   size_t n = wd_lsh_query(lsh, sig, hits, 64); // earlier docs first
 *   wd_lsh_insert(lsh, sig, doc);               // doc_fn must now know doc
 *   wd_lsh_remove(lsh, old_sig, old_doc);       // eviction
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

/**
 * @brief The caller's view of a stored doc: given \p ref (the low doc_bits
 *        bits of a doc number that is in the index), write that doc's \p band
 *        values (rows of them, as inserted) to \p rows and return its doc
 *        number. Called only for docs inserted and not yet removed.
 */
typedef uint32_t (*wd_lsh_doc_fn)(void *ctx, uint32_t ref, uint32_t band, uint32_t *rows);

/**
 * @brief Optional hint: doc_fn will soon be called for \p ref and \p band
 *        (a query's fingerprint matches, a rebuild's entries); start loading
 *        those rows (a prefetch) so that the reads overlap. Must not change
 *        anything the index can see.
 */
typedef void (*wd_lsh_touch_fn)(void *ctx, uint32_t ref, uint32_t band);

typedef struct wd_lsh_opts_s {
  uint32_t bands, rows;   /**< bands * rows = signature length */
  uint32_t doc_bits;      /**< 1..28: bits of a doc number kept per entry */
  uint32_t max_per_key;   /**< docs kept per band key (0: default 256) */
  int window;             /**< 1: docs are inserted in increasing number order
                               (wrapping) and removed oldest first, so the live
                               docs are among the last (newest - oldest + 1)
                               numbers; entries then keep only the reference bits
                               that span needs, in 3 bytes up to ~200k docs */
  wd_lsh_doc_fn doc_fn;
  wd_lsh_touch_fn touch_fn; /**< NULL: no hint */
  void *ctx;
} wd_lsh_opts_t;

/** What the index holds and what the last query did. */
typedef struct wd_lsh_stats_s {
  size_t entries;         /**< entries over all bands */
  size_t slots;           /**< table slots over all bands (3 or 4 bytes each) */
  size_t table_bytes;     /**< bytes of the band tables */
  uint64_t dropped;       /**< entries dropped by the max_per_key cap */
  uint32_t max_per_key;
  uint32_t query_matches; /**< last query: entries whose band key matched */
  uint32_t query_resolved;/**< last query: entries looked up through doc_fn */
  uint32_t key_max;       /**< most entries kept under one key since new (counted by
                               fingerprint below the cap, so an upper bound) */
} wd_lsh_stats_t;

/** @returns NULL if bands, rows or doc_fn is missing or doc_bits is not 1..28. */
wd_lsh_t *wd_lsh_new(const wd_lsh_opts_t *opts);
void wd_lsh_destroy(wd_lsh_t *lsh);

void wd_lsh_stats(const wd_lsh_t *lsh, wd_lsh_stats_t *st);

/** @brief Size every band table for \p docs docs at once, so a bulk load
 *  (a checkpoint being restored) does not rehash on the way. */
void wd_lsh_reserve(wd_lsh_t *lsh, size_t docs);

/** @brief Index \p doc under each band of \p sig (doc_fn must already
 *  answer for it). O(bands) amortised; a key at max_per_key drops its
 *  oldest entry. */
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

/** @brief Docs currently indexed: inserts minus removals (a removal counts
 *  when it found the doc in a band or the doc may have been dropped). */
size_t wd_lsh_count(const wd_lsh_t *lsh);

/** @brief Bytes held (tables and scratch). */
size_t wd_lsh_bytes(const wd_lsh_t *lsh);

/** @brief Probability that a pair of Jaccard \p s collides in >= 1 band. */
double wd_lsh_collision_prob(double s, uint32_t bands, uint32_t rows);

#endif
