/* minhash.h - MinHash signatures of shingle sets.
 *
 * Default method: one-permutation hashing with optimal densification
 * (Li, Owen & Zhang 2012; Shrivastava 2017): each shingle hash picks one of
 * num_perm bins and competes for that bin's minimum, then empty bins borrow a
 * filled bin chosen by a seeded probe sequence. Cost O(n + num_perm) instead of
 * O(n * num_perm). The "mix" method (one hash plus a cheap per-permutation
 * multiply-xorshift) is kept for comparison in benchmarks.
 *
 * Signature values are 32-bit. The fraction of equal positions estimates the
 * Jaccard similarity of the two sets.
 *
 * @code
 *   wd_minhash_opts_t o; wd_minhash_opts_default(&o);
 *   wd_minhash_t *mh = wd_minhash_new(&o);
 *   uint32_t a[128], b[128];
 *   wd_minhash_sign(mh, set_a, n_a, a);
 *   wd_minhash_sign(mh, set_b, n_b, b);
 *   double j = wd_minhash_jaccard(a, b, 128);
 *   wd_minhash_destroy(mh);
 * @endcode
 */
#ifndef WD_MINHASH_H
#define WD_MINHASH_H

#include <stddef.h>
#include <stdint.h>

typedef struct wd_minhash_s wd_minhash_t;

typedef enum wd_minhash_method_e {
  WD_MINHASH_OPH = 0, /**< one permutation + optimal densification (default) */
  WD_MINHASH_MIX = 1  /**< num_perm cheap mixes of one hash per shingle */
} wd_minhash_method_t;

typedef struct wd_minhash_opts_s {
  uint32_t num_perm;          /**< signature length, 16..1024, multiple of 8 (default 128) */
  uint64_t seed;              /**< (default 1) */
  wd_minhash_method_t method; /**< (default WD_MINHASH_OPH) */
} wd_minhash_opts_t;

void wd_minhash_opts_default(wd_minhash_opts_t *opts);
/** @brief \p opts NULL means defaults. @returns NULL on a bad num_perm or
 *  method. */
wd_minhash_t *wd_minhash_new(const wd_minhash_opts_t *opts);
void wd_minhash_destroy(wd_minhash_t *mh);
uint32_t wd_minhash_num_perm(const wd_minhash_t *mh);

/**
 * @brief Signature of the set \p shingles (\p cnt 64-bit hashes, repeats allowed)
 *        into \p sig (num_perm values). An empty set gives all 0xffffffff.
 *        Thread-safe: \p mh is read-only here. No allocation.
 */
void wd_minhash_sign(const wd_minhash_t *mh, const uint64_t *shingles, size_t cnt,
                     uint32_t *sig);

/** @brief Fraction of equal positions of two signatures: estimated Jaccard. */
double wd_minhash_jaccard(const uint32_t *a, const uint32_t *b, uint32_t num_perm);

#endif
