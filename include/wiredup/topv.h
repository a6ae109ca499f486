/* topv.h - an article's most heavily weighted words, their cosine, and a word
 * index that finds earlier articles sharing them.
 *
 * A rewritten copy (an agency story a newspaper re-edited: sentences
 * reordered, clauses cut, words changed) keeps few 5-word shingles of its
 * source, so MinHash misses it, and its IDF-weighted word cosine with the
 * source sits around 0.35-0.6, where a 64-bit SimHash estimate is too noisy
 * to decide (its standard error there is about 0.15). A short exact vector
 * decides instead: the WD_TOPV_MAX words of highest tf-idf weight (weights
 * from the SimHash stage's online document frequencies), each as a 16-bit
 * word key and an 8-bit weight. The cosine of two such vectors is an exact
 * dot product over the shared keys (two of 64 x 64 key pairs collide by
 * chance 6% of the time, adding one light product: noise well below the
 * thresholds' resolution).
 *
 * The word index finds the candidates: every stored article is filed under
 * its WD_TOPV_PROBE heaviest words, in a table of buckets that each keep the
 * WD_TOPV_BUCKET newest articles filed there (no keys stored: a bucket shared
 * by two words only adds candidates, and every candidate is verified by the
 * cosine). A query reads the buckets of its own heaviest words and keeps
 * the articles it meets in WD_TOPV_MIN_HITS of them: a rewrite shares most
 * of its source's heaviest words, an unrelated article one by chance.
 *
 * The cluster store (cluster.c) keeps the vectors beside its articles and
 * gives the index its doc numbers and live range. Deterministic.
 */
#ifndef WD_TOPV_H
#define WD_TOPV_H

#include <stddef.h>
#include <stdint.h>

#define WD_TOPV_MAX 64    /**< words kept per article */
#define WD_TOPV_PROBE 8   /**< heaviest words filed in, and read from, the word index */
#define WD_TOPV_BUCKET 8  /**< newest articles a word-index bucket keeps */
#define WD_TOPV_NUMS 16   /**< numbers kept per article */
#define WD_TOPV_MIN_HITS 2 /**< query buckets a candidate must be found in */
#define WD_TOPV_HEAVY_MIN 3 /**< of the PROBE heaviest words, how many the other
                                 article must have for the word rule */

/** One article's heaviest words (236 bytes). */
typedef struct wd_topv_s {
  float scale;                  /**< 1 / sqrt(sum of squared quantised weights) */
  uint32_t src;                 /**< source (outlet) key, 0 unknown: the word rule
                                     never links two articles of one source */
  uint8_t n;                    /**< words kept (0: none) */
  uint8_t nnum;                 /**< numbers kept */
  uint16_t num[WD_TOPV_NUMS];   /**< 16-bit hashes of the article's smallest-hashed
                                     distinct numbers (2+ digits), ascending */
  uint16_t key[WD_TOPV_MAX];    /**< 16-bit word keys, ascending... */
  uint8_t q[WD_TOPV_MAX];       /**< ...and their weights quantised to 1..255 */
} wd_topv_t;

/** Words of a packed vector's Elias-Fano stream: n keys of 16 bits in
 *  n * l + n + (65536 >> l) bits with l = floor(log2(65536 / n)), at most 768
 *  for n <= 64. */
#define WD_TOPV_EF_WORDS 24

/** A stored vector (204 bytes): wd_topv_t with its ascending keys Elias-Fano
 *  coded. The cluster store keeps one per live article, so the 32 bytes the
 *  coding saves (96 bytes of keys instead of 128) are paid per article; it
 *  unpacks a vector only to compare it. */
typedef struct wd_topv_packed_s {
  float scale;
  uint32_t src;
  uint8_t n, nnum, lbits, pad_;
  uint16_t num[WD_TOPV_NUMS];
  uint8_t q[WD_TOPV_MAX];
  uint32_t ef[WD_TOPV_EF_WORDS]; /**< n low parts of lbits bits, then the high
                                      parts in unary */
} wd_topv_packed_t;

/** @brief \p v as stored: every field of it that a reader sees (the first n
 *  keys and weights, the first nnum numbers). Its keys must ascend, as
 *  wd_topv_build and wd_topv_read leave them. */
void wd_topv_pack(wd_topv_packed_t *p, const wd_topv_t *v);
/** @brief What wd_topv_pack packed, with the unused keys, weights and
 *  numbers zero. */
void wd_topv_unpack(wd_topv_t *v, const wd_topv_packed_t *p);

/**
 * @brief Keep the \p k (<= WD_TOPV_MAX) heaviest of \p n words: \p keys are
 *        64-bit word hashes, \p w their weights (> 0). Ties go to the
 *        smaller key, so the result depends only on the inputs. Sets
 *        \p out->src to 0.
 */
void wd_topv_build(wd_topv_t *out, const uint64_t *keys, const float *w, size_t n, size_t k);

/** @brief An article's numbers, for wd_topv_t.num, from canonical text
 *  (tokens separated by spaces and newlines): tokens of digits, '.' and ','
 *  with at least two digits, Arabic-Indic digits read as their values,
 *  separators ignored. Stateless (the fingerprint stage calls it).
 *  @returns how many were written to \p num. */
uint8_t wd_topv_numbers(uint16_t num[WD_TOPV_NUMS], const char *text, size_t len);

/** @brief Whether the figures of \p a and \p b disagree: both quote numbers
 *  and fewer than half of the smaller set are in the other. Templated
 *  stories (earnings, bond issues, market reports) share their wording and
 *  differ in their figures; a rewrite keeps its source's figures. */
int wd_topv_numbers_differ(const wd_topv_t *a, const wd_topv_t *b);

/** @brief Cosine of the two truncated weight vectors, in [0, 1]. */
double wd_topv_cosine(const wd_topv_t *a, const wd_topv_t *b);

/**
 * @brief One vector set up for many cosines against it: its weights by key
 *        in a 64 KiB table, so each cosine is one lookup per word of the
 *        other vector instead of a merge of the two key lists (whose
 *        branches are a coin toss each). The value is wd_topv_cosine(v, b)'s
 *        exactly (the dot product is an integer sum).
 *
 * @code
 *   wd_topv_probe_t *p = wd_topv_probe_new();
 *   wd_topv_probe_set(p, v);              // v must outlive the clear
 *   double c = wd_topv_probe_cosine(p, b);
 *   wd_topv_probe_clear(p);               // 64 stores, not 64 KiB
 * @endcode
 */
typedef struct wd_topv_probe_s wd_topv_probe_t;
wd_topv_probe_t *wd_topv_probe_new(void);
void wd_topv_probe_destroy(wd_topv_probe_t *p);
void wd_topv_probe_set(wd_topv_probe_t *p, const wd_topv_t *v);
void wd_topv_probe_clear(wd_topv_probe_t *p);
/** @brief wd_topv_cosine(v, b) for the \p v set up. */
double wd_topv_probe_cosine(const wd_topv_probe_t *p, const wd_topv_t *b);

/** @brief How many of \p a's WD_TOPV_PROBE heaviest words \p b has. */
uint32_t wd_topv_heavy_shared(const wd_topv_t *a, const wd_topv_t *b);

/* ==== Word index ==== */

/** The stored vector of live doc \p doc (the caller keeps the vectors). */
typedef const wd_topv_t *(wd_topv_get_fn)(void *ctx, uint32_t doc);

typedef struct wd_topv_index_s wd_topv_index_t;

wd_topv_index_t *wd_topv_index_new(wd_topv_get_fn *get, void *ctx);
void wd_topv_index_destroy(wd_topv_index_t *ix);

/** @brief File the newest live doc, base + cnt - 1 (the live docs are
 *  base .. base + cnt - 1, read through the get function). */
void wd_topv_index_add(wd_topv_index_t *ix, uint32_t base, size_t cnt);
/** @brief Live docs (base .. base + cnt - 1) filed under WD_TOPV_MIN_HITS of
 *  \p v's heaviest words, distinct, in the order first met (heaviest word's
 *  bucket first, newest first within it), at most \p cap. Evicted docs'
 *  entries stay until pushed out and are skipped. @returns how many. */
size_t wd_topv_index_query(const wd_topv_index_t *ix, const wd_topv_t *v, uint32_t base,
                           size_t cnt, uint32_t *out, size_t cap);
/** @brief Every live doc filed under any of \p v's heaviest words, in the
 *  order wd_topv_index_query gives, with in \p hits how many of the words
 *  each was met under (wd_topv_index_query keeps those met under
 *  WD_TOPV_MIN_HITS). The story decision weighs the others too: an
 *  independent write-up of an event may share one rare name only.
 *  @returns how many (at most WD_TOPV_PROBE x WD_TOPV_BUCKET). */
size_t wd_topv_index_query_all(const wd_topv_index_t *ix, const wd_topv_t *v, uint32_t base,
                               size_t cnt, uint32_t seen[WD_TOPV_PROBE * WD_TOPV_BUCKET],
                               uint8_t hits[WD_TOPV_PROBE * WD_TOPV_BUCKET]);
/** @brief Bytes held by the buckets. */
size_t wd_topv_index_bytes(const wd_topv_index_t *ix);

struct wd_state_w_s;
struct wd_state_r_s;
/** @brief One vector in checkpoint form: u8 n, u8 numbers, u32 scale (float
 *  bits), u32 source key, numbers x u16, n x u16 keys, n x u8 weights. */
void wd_topv_write(struct wd_state_w_s *w, const wd_topv_t *v);
/** @brief Read what wd_topv_write wrote. @returns 0, or -1 when truncated,
 *  out of range or with keys out of order. */
int wd_topv_read(struct wd_state_r_s *r, wd_topv_t *v);

#endif
