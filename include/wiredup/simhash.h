/* simhash.h - 64-bit SimHash over IDF-weighted words, and a Hamming-distance index.
 *
 * Charikar's SimHash of a weighted feature vector estimates the angle between
 * two vectors: P[bit differs] = theta / pi. With features = words and weights
 * = tf-idf, the Hamming distance estimates the IDF-weighted word cosine. The
 * document frequencies are learned online from the stream (wd_simhash_observe)
 * in a bounded table, so rare words weigh more as the stream goes on.
 *
 * The index finds stored hashes within max_distance bits with permuted tables
 * (Manku, Jain & Das Sarma 2007): the 64 bits are cut into max_distance+1
 * blocks; two hashes within d bits agree exactly on at least one block, so one
 * exact-match table per block finds every candidate.
 *
 * Counting a document's distinct words (wd_terms_count) needs no learned
 * state, so the fingerprint stage does it on its own thread; the cluster
 * stage only weighs the counts (wd_simhash_sign_terms).
 *
 * @code
 *   wd_simhash_t *sm = wd_simhash_new(&opts);
 *   uint64_t h = wd_simhash_sign(sm, tokens, n);   // uses frequencies so far
 *   wd_simhash_observe(sm, tokens, n);             // then learn this document
 *   wd_simhash_index_t *si = wd_simhash_index_new(3);
 *   size_t k = wd_simhash_index_query(si, h, docs, cap);
 *   wd_simhash_index_insert(si, h, doc);
 * @endcode
 */
#ifndef WD_SIMHASH_H
#define WD_SIMHASH_H

#include <stddef.h>
#include <stdint.h>

#include "wiredup/topv.h"

typedef struct wd_simhash_s wd_simhash_t;

/** Instruction sets for the 64 counter sums. Each gives the same floats
 *  (hence the same hashes): only the speed differs. */
typedef enum wd_simhash_isa_e {
  WD_SIMHASH_ISA_BEST = 0, /**< the fastest this CPU runs */
  WD_SIMHASH_ISA_PORTABLE, /**< baseline vectors (SSE2 on x86-64) */
  WD_SIMHASH_ISA_AVX2,
  WD_SIMHASH_ISA_AVX512,   /**< AVX-512F */
} wd_simhash_isa_t;

typedef struct wd_simhash_opts_s {
  int idf;             /**< weight words by learned IDF (default 1); 0 = tf only */
  size_t df_capacity;  /**< document-frequency table entries, power of two (default 1<<20) */
  uint64_t seed;       /**< feature hash seed (default 7) */
  wd_simhash_isa_t isa; /**< counter sums (default BEST; tests force the others) */
} wd_simhash_opts_t;

void wd_simhash_opts_default(wd_simhash_opts_t *opts);
/** @brief \p opts NULL means defaults. @returns NULL if df_capacity is not a
 *  power of two in [16, 2^31] or this CPU lacks opts.isa. Memory: 12.8 bytes
 *  per df_capacity entry (five to a cache line). */
wd_simhash_t *wd_simhash_new(const wd_simhash_opts_t *opts);
void wd_simhash_destroy(wd_simhash_t *sm);

/** One document's distinct words in first-seen order and how often each
 *  occurs: no learned state, so the fingerprint stage counts them on its own
 *  thread and the cluster stage only weighs them. */
typedef struct wd_terms_s {
  uint64_t *word; /**< token hashes, distinct, first-seen order */
  uint32_t *cnt;  /**< term frequency of each */
  uint64_t *dfh;  /**< the hash that places each in the df table */
  uint64_t *fh;   /**< its feature hash, for the seed behind fh_seed */
  uint64_t fh_seed; /**< mixed seed of fh (a sign with another recomputes) */
  size_t n, cap;
} wd_terms_t;

/** Scratch map for wd_terms_count; one per thread. */
typedef struct wd_termcount_s wd_termcount_t;

/** @brief \p seed: the SimHash seed the feature hashes are for (opts.seed). */
wd_termcount_t *wd_termcount_new(uint64_t seed);
void wd_termcount_destroy(wd_termcount_t *tc);
/** @brief The distinct words of \p tokens with their counts into \p out
 *  (zeroed or reused; grown as needed). */
void wd_terms_count(wd_termcount_t *tc, const uint64_t *tokens, size_t cnt, wd_terms_t *out);
void wd_terms_free(wd_terms_t *t);

/** @brief wd_simhash_sign of the words \p t counted (same hash, same saved
 *  words and weights). */
uint64_t wd_simhash_sign_terms(wd_simhash_t *sm, const wd_terms_t *t);

/**
 * @brief SimHash of the words \p tokens (token hashes, repeats = term frequency).
 *        Weight of a word = (1 + log tf) * idf, idf = log((N + 1) / (df + 1)) + 1
 *        with N documents observed so far. Does not change \p sm.
 */
uint64_t wd_simhash_sign(wd_simhash_t *sm, const uint64_t *tokens, size_t cnt);

/** @brief The last wd_simhash_sign's heaviest words (topv.h), with the
 *  weights that sign used; no words when no sign came since the last observe. */
void wd_simhash_topv(const wd_simhash_t *sm, wd_topv_t *out);

/** @brief Add one document's distinct words to the document frequencies. */
void wd_simhash_observe(wd_simhash_t *sm, const uint64_t *tokens, size_t cnt);

/** @brief wd_simhash_observe for the words of the last wd_simhash_sign
 *  (same result, without counting them again). The words were copied at
 *  sign time, so the caller's token array may have changed since.
 *  @returns 0, or -1 (nothing done) when no sign came since the last observe. */
int wd_simhash_observe_signed(wd_simhash_t *sm);

/** @brief The weight a sign gives a word of term frequency \p tf (>= 1) and
 *  document frequency \p df after \p ndocs observed documents: (float)((1 +
 *  log tf) * (log((ndocs + 1) / (df + 1)) + 1)), as that expression gives it.
 *  \p exact (may be NULL) receives 1 if the expression itself was evaluated,
 *  0 if the sign's shortcut decided the float (tests check the two agree). */
float wd_simhash_weight(const wd_simhash_t *sm, uint64_t ndocs, uint32_t tf, uint32_t df,
                        int *exact);

/** @brief Can this CPU (and this build) run \p isa? */
int wd_simhash_isa_supported(wd_simhash_isa_t isa);

/** @brief The signing's counter sums with \p isa (supported): for each word
 *  d in order, acc[c] += w[d] if bit c of fh[d] is set, else -w[d]. */
void wd_simhash_accumulate(wd_simhash_isa_t isa, float acc[64], const uint64_t *fh,
                           const float *w, size_t n);

/** @brief Hamming distance. */
static inline int wd_simhash_distance(uint64_t a, uint64_t b) {
  return __builtin_popcountll(a ^ b);
}

/** @brief Estimated cosine from a Hamming distance over 64 bits: cos(pi*d/64). */
double wd_simhash_cosine(int distance);

size_t wd_simhash_bytes(const wd_simhash_t *sm);

struct wd_state_w_s;
struct wd_state_r_s;
/** @brief Write the learned document frequencies as a "SIMH" checkpoint
 *  section (state.h). */
void wd_simhash_save(const wd_simhash_t *sm, struct wd_state_w_s *w);
/** @brief Restore them into a fresh \p sm of the same df_capacity.
 *  @returns 0, or -1 for a truncated section or another capacity. */
int wd_simhash_load(wd_simhash_t *sm, struct wd_state_r_s *r);

/* ==== Hamming index ==== */

typedef struct wd_simhash_index_s wd_simhash_index_t;

/** @brief Index answering "which stored hashes are within \p max_distance bits"
 *  (0..7). @returns NULL on bad arguments. */
wd_simhash_index_t *wd_simhash_index_new(int max_distance);
void wd_simhash_index_destroy(wd_simhash_index_t *si);
/** @brief Index \p doc under \p hash, unless WD_SIMHASH_SAME_MAX docs with
 *  exactly this hash are indexed already (a flood of identical articles: the
 *  earliest ones stay findable, and no chain grows without bound). */
void wd_simhash_index_insert(wd_simhash_index_t *si, uint64_t hash, uint32_t doc);
/** @brief Remove the (hash, doc) pair inserted earlier; no-op if absent. */
void wd_simhash_index_remove(wd_simhash_index_t *si, uint64_t hash, uint32_t doc);
/**
 * @brief Docs whose hash is within max_distance of \p hash, distinct, sorted by
 *        (distance asc, doc asc), at most \p out_cap. @returns how many written.
 */
size_t wd_simhash_index_query(wd_simhash_index_t *si, uint64_t hash,
                              uint32_t *out, size_t out_cap);
size_t wd_simhash_index_bytes(const wd_simhash_index_t *si);

#define WD_SIMHASH_SAME_MAX 256u  /**< docs indexed per identical hash */
#define WD_SIMHASH_SCAN_MAX 4096u /**< block matches a query reads per block */

/** Flood bounds at work (see wd_simhash_index_insert). */
typedef struct wd_simhash_index_stats_s {
  size_t live;             /**< entries indexed */
  uint64_t skipped;        /**< inserts left out: hash already at SAME_MAX */
  uint32_t query_examined; /**< last query: chain entries read, all passes */
} wd_simhash_index_stats_t;

void wd_simhash_index_stats(const wd_simhash_index_t *si, wd_simhash_index_stats_t *st);

#endif
