/* shingle.h - canonical token text to token hashes and distinct word k-shingle hashes.
 *
 * Tokens are hashed once with XXH3 (seeded); a k-shingle's hash is XXH3 over
 * the k token hashes, so shingling costs one short hash per position. Shingles
 * run across line breaks (a reflowed or trimmed copy keeps its shingles). The
 * shingle set is de-duplicated with a scratch open-addressing set that is
 * cleared by generation, so the hot path does not allocate once warm.
 *
 * @code
 *   wd_shingle_t *sh = wd_shingle_new(&opts);
 *   wd_shingle_text(sh, text, text_len);
 *   size_t n; const uint64_t *set = wd_shingle_set(sh, &n);      // distinct shingles
 *   size_t m; const uint64_t *tok = wd_shingle_tokens(sh, &m);   // every token, in order
 *   wd_shingle_destroy(sh);
 * @endcode
 */
#ifndef WD_SHINGLE_H
#define WD_SHINGLE_H

#include <stddef.h>
#include <stdint.h>

#include "wiredup/err.h"

typedef struct wd_shingle_s wd_shingle_t;

typedef struct wd_shingle_opts_s {
  uint32_t k;     /**< tokens per shingle, 1..16 (default 5) */
  uint64_t seed;  /**< hash seed (default 0) */
} wd_shingle_opts_t;

void wd_shingle_opts_default(wd_shingle_opts_t *opts);
/** @brief \p opts NULL means defaults. @returns NULL if k is outside 1..16. */
wd_shingle_t *wd_shingle_new(const wd_shingle_opts_t *opts);
void wd_shingle_destroy(wd_shingle_t *sh);

/**
 * @brief Tokenise canonical token text (tokens split on ' ' and '\n') and build
 *        the token hash list and the distinct k-shingle set. A text with fewer
 *        than k tokens (but at least one) gives one shingle of all its tokens;
 *        an empty text gives none. O(text_len).
 */
void wd_shingle_text(wd_shingle_t *sh, const char *text, size_t text_len);

/** @brief The first half of wd_shingle_text: the token hashes only
 *  (wd_shingle_tokens); the shingle set is left empty. */
void wd_shingle_tokenise(wd_shingle_t *sh, const char *text, size_t text_len);

/** @brief The second half, for a text whose token hashes are \p tok
 *  (\p cnt of them): the same set and tokens, without the text. */
void wd_shingle_hashes(wd_shingle_t *sh, const uint64_t *tok, size_t cnt);

/** @brief Distinct shingle hashes of the last text, in first-seen order.
 *  Valid until the next wd_shingle_text or destroy. */
const uint64_t *wd_shingle_set(const wd_shingle_t *sh, size_t *cnt);

/** @brief Hash of every token of the last text, in order (repeats kept).
 *  Valid until the next wd_shingle_text or destroy. */
const uint64_t *wd_shingle_tokens(const wd_shingle_t *sh, size_t *cnt);

/** @brief XXH3 of one token (the same hash wd_shingle_tokens reports). */
uint64_t wd_shingle_token_hash(const wd_shingle_t *sh, const char *tok, size_t tok_len);

#endif
