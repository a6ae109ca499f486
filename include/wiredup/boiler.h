/* boiler.h - boilerplate removal: configured phrases and lines learned per source.
 *
 * Works on canonical token text (norm.h). Two mechanisms:
 *  - phrases: raw text, normalised like the articles, so case, punctuation
 *    and wire abbreviations do not matter. The first character picks the kind:
 *      "text"   anywhere: its tokens are removed wherever they occur as whole
 *               tokens in a line, also when a copy has reflowed them into a
 *               paragraph ("article continues after this advertisement");
 *      "^text"  line start: a line of at most 25 tokens that starts with it
 *               is dropped ("^copyright", "^(c)", "^read more", "^sign up");
 *      "~text"  line contains: a line of at most 25 tokens that contains it
 *               is dropped ("~all rights reserved");
 *      "=text"  whole line: a line that is exactly it is dropped ("=breaking
 *               news");
 *      "@word"  button word: a line made only of button words is dropped
 *               ("@facebook", "@twitter", "@email", "@print" drop the line
 *               "Facebook Twitter Email Print").
 *    In anywhere, line-start and line-contains phrases a '*' stands for 0..3
 *    tokens ("subscribe to our * newsletter"). A phrase that normalises to
 *    nothing is ignored.
 *  - learned lines: a line seen (same source) in at least opts.min_clusters
 *    distinct clusters is boilerplate for that source and dropped. Counting
 *    clusters, not articles, keeps an outlet that re-sends one story from
 *    learning the story itself as boilerplate. Learning is fed back after the
 *    cluster decision with wd_boiler_learn(). Per (source, line) the table
 *    keeps the last cluster seen (a 32-bit fold of its key) and a count that
 *    grows when a different cluster comes. Memory is bounded: a fixed-size
 *    table of 16-byte slots allocated by _new; when the 8-slot probe window
 *    is full, its first lowest-count entry is replaced, so learned lines
 *    outlive one-off lines.
 *
 * @code
 *   wd_boiler_t *bp = wd_boiler_new(&opts);
 *   wd_boiler_filter(bp, src, src_len, text, text_len, &kept, lines, &nlines, cap);
 *   ... cluster decision gives cluster_key ...
 *   wd_boiler_learn(bp, src, src_len, lines, nlines, cluster_key);
 * @endcode
 * Deterministic: the same sequence of calls gives the same results.
 */
#ifndef WD_BOILER_H
#define WD_BOILER_H

#include <stddef.h>
#include <stdint.h>

#include "wiredup/err.h"
#include "wiredup/mem.h"

typedef struct wd_boiler_s wd_boiler_t;

typedef struct wd_boiler_opts_s {
  int learn;                 /**< learn per-source lines (default 1) */
  uint32_t min_clusters;     /**< distinct clusters before a line is boilerplate (default 3) */
  uint32_t max_line_tokens;  /**< longer lines are never learned as boilerplate (default 60) */
  size_t capacity;           /**< learned-line table entries, rounded up to a power of
                                  two, at least 8 (default 1<<20, i.e. 16 MiB) */
  const char *const *phrases;/**< NULL-terminated list of phrases, raw text: wd_boiler_new
                                  normalises each with wd_norm_text (default options) and
                                  keeps its own copy. NULL = none. Borrowed. */
} wd_boiler_opts_t;

/** @brief Defaults (phrases = wd_boiler_default_phrases). */
void wd_boiler_opts_default(wd_boiler_opts_t *opts);

/** @brief The built-in phrase list (NULL-terminated): ad breaks, newsletter,
 *  cookie, subscription and "read more" lines as seen on news sites. */
extern const char *const wd_boiler_default_phrases[];

/** @brief Create a filter; \p opts NULL means the defaults. min_clusters 0
 *  counts as 1. No table is allocated when opts.learn is 0.
 *  @returns the filter (allocation failure exits, see mem.h). */
wd_boiler_t *wd_boiler_new(const wd_boiler_opts_t *opts);
/** @brief Free \p bp. NULL is a no-op. */
void wd_boiler_destroy(wd_boiler_t *bp);

/**
 * @brief Remove boilerplate from canonical token text \p text of \p source.
 * @param dst        cleared, then receives the kept text (same canonical form).
 * @param line_hashes out: a 64-bit hash (XXH3 of the line's bytes) per input
 *                   line that may be learned (lines with 1..max_line_tokens
 *                   tokens that no phrase rule dropped, in order), up to
 *                   \p line_cap. May be NULL when \p line_cap is 0.
 * @param line_cnt   out: how many were written (may be NULL).
 * @returns WD_OK. O(text_len). \p source may be NULL/empty (then only phrases
 *          and lines learned for the empty source apply).
 */
wd_err_t wd_boiler_filter(wd_boiler_t *bp, const char *source, size_t source_len,
                          const char *text, size_t text_len, wd_buf_t *dst,
                          uint64_t *line_hashes, size_t *line_cnt, size_t line_cap);

/**
 * @brief Record that the lines \p line_hashes of \p source belong to cluster
 *        \p cluster_key (any stable 64-bit key of the cluster). O(line_cnt),
 *        never allocates. A no-op when opts.learn is 0.
 */
void wd_boiler_learn(wd_boiler_t *bp, const char *source, size_t source_len,
                     const uint64_t *line_hashes, size_t line_cnt, uint64_t cluster_key);

/**
 * @brief wd_boiler_filter that also says where each reported line went:
 *        \p line_tok (NULL, or 2 x line_cap values) gets, per entry of
 *        \p line_hashes, the index of the line's first token in \p dst
 *        (tokens counted across lines) and how many of its tokens \p dst kept.
 */
wd_err_t wd_boiler_filter_ex(wd_boiler_t *bp, const char *source, size_t source_len,
                             const char *text, size_t text_len, wd_buf_t *dst,
                             uint64_t *line_hashes, uint32_t *line_tok,
                             size_t *line_cnt, size_t line_cap);

/** @brief XXH3_64bits of every token of the last filter's output, in order:
 *  the token hashes wd_shingle_text gives for that text with seed 0. Valid
 *  until the next filter call on \p bp. */
const uint64_t *wd_boiler_kept_tokens(const wd_boiler_t *bp, size_t *cnt);

/**
 * @brief Which of the lines \p line_hashes of \p source wd_boiler_filter
 *        drops as learned boilerplate: drop[i] = 1 or 0. Reads \p bp only.
 *        So the output of a filter with opts.learn 0 and the same phrases,
 *        without the dropped lines' tokens, is this filter's output (when
 *        \p line_hashes are all the text's reported lines).
 * @returns how many are dropped.
 */
size_t wd_boiler_learned(const wd_boiler_t *bp, const char *source, size_t source_len,
                         const uint64_t *line_hashes, size_t line_cnt, uint8_t *drop);

/** @brief Bytes held by \p bp. */
size_t wd_boiler_bytes(const wd_boiler_t *bp);

struct wd_state_w_s;
struct wd_state_r_s;
/** @brief Write the learned lines as a "BOIL" checkpoint section (state.h). */
void wd_boiler_save(const wd_boiler_t *bp, struct wd_state_w_s *w);
/** @brief Restore learned lines into a fresh \p bp with the same capacity.
 *  @returns WD_OK or WD_ERR_STATE (errstr says why). */
wd_err_t wd_boiler_load(wd_boiler_t *bp, struct wd_state_r_s *r, char *errstr,
                        size_t errstr_size);

#endif
