/* boiler.h - boilerplate removal: configured phrases and lines learned per source.
 *
 * Works on canonical token text (norm.h). Two mechanisms:
 *  - phrases: configured token sequences ("article continues after this
 *    advertisement", "subscribe to our newsletter", ...) removed wherever they
 *    occur as whole tokens, also when a copy has reflowed them into a paragraph;
 *    a line that is a configured line pattern's prefix-match and short is dropped.
 *  - learned lines: a line seen (same source) in at least opts.min_clusters
 *    distinct clusters is boilerplate for that source and dropped. Counting
 *    clusters, not articles, keeps an outlet that re-sends one story from
 *    learning the story itself as boilerplate. Learning is fed back after the
 *    cluster decision with wd_boiler_learn(). Memory is bounded: a fixed-size
 *    table; when full, the lowest-count entry in the probe window is replaced.
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
  size_t capacity;           /**< learned-line table entries, power of two (default 1<<20) */
  const char *const *phrases;/**< NULL-terminated list of phrases, raw text: wd_boiler_new
                                  normalises each with wd_norm_text (default options) and
                                  keeps its own copy. NULL = none. Borrowed. */
} wd_boiler_opts_t;

/** @brief Defaults (phrases = wd_boiler_default_phrases). */
void wd_boiler_opts_default(wd_boiler_opts_t *opts);

/** @brief The built-in phrase list (NULL-terminated): ad breaks, newsletter,
 *  cookie, subscription and "read more" lines as seen on news sites. */
extern const char *const wd_boiler_default_phrases[];

wd_boiler_t *wd_boiler_new(const wd_boiler_opts_t *opts);
void wd_boiler_destroy(wd_boiler_t *bp);

/**
 * @brief Remove boilerplate from canonical token text \p text of \p source.
 * @param dst        cleared, then receives the kept text (same canonical form).
 * @param line_hashes out: a 64-bit hash per input line that may be learned
 *                   (lines with <= max_line_tokens tokens, in order), up to \p line_cap.
 * @param line_cnt   out: how many were written.
 * @returns WD_OK. O(text_len). \p source may be NULL/empty (then only phrases
 *          and lines learned for the empty source apply).
 */
wd_err_t wd_boiler_filter(wd_boiler_t *bp, const char *source, size_t source_len,
                          const char *text, size_t text_len, wd_buf_t *dst,
                          uint64_t *line_hashes, size_t *line_cnt, size_t line_cap);

/**
 * @brief Record that the lines \p line_hashes of \p source belong to cluster
 *        \p cluster_key (any stable 64-bit key of the cluster).
 */
void wd_boiler_learn(wd_boiler_t *bp, const char *source, size_t source_len,
                     const uint64_t *line_hashes, size_t line_cnt, uint64_t cluster_key);

/** @brief Bytes held by \p bp. */
size_t wd_boiler_bytes(const wd_boiler_t *bp);

#endif
