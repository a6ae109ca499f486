/* norm.h - text normalisation: HTML to text, Unicode NFKC + case folding,
 * typographic folding, script-aware tokenisation, wire abbreviations.
 *
 * The output is a canonical token text: lines separated by '\n', tokens in a
 * line separated by exactly one ' ', no empty lines, no leading or trailing
 * blanks. Two copies of a story that differ only in markup, typography, case,
 * Unicode form, line wrapping inside a paragraph or wire abbreviations produce
 * the same tokens. Sees only libc, utf8proc, err.h, log.h and mem.h.
 *
 * @code
 *   wd_norm_opts_t o;  wd_norm_opts_default(&o);
 *   wd_norm_t *nm = wd_norm_new(&o);
 *   wd_buf_t out = WD_BUF_INIT;
 *   wd_norm_text(nm, html, html_len, &out);   // out.p: "talks at the ...\n..."
 *   ...                                        // reuse nm and out per record
 *   wd_buf_free(&out);  wd_norm_destroy(nm);
 * @endcode
 */
#ifndef WD_NORM_H
#define WD_NORM_H

#include <stddef.h>

#include "wiredup/err.h"
#include "wiredup/mem.h"

typedef struct wd_norm_s wd_norm_t;

typedef struct wd_norm_opts_s {
  int html;        /**< drop tags, decode entities; block tags end a line (default 1) */
  int strip_marks; /**< drop combining marks (accents, Arabic harakat) (default 1) */
  int fold_abbrev; /**< wire abbreviations: mln->million, pct->percent, dlrs->dollars,
                        cts->cents, ... and UK/US -ise/-ize spellings (default 1) */
} wd_norm_opts_t;

/** @brief Fill \p opts with the defaults. */
void wd_norm_opts_default(wd_norm_opts_t *opts);

/** @brief Create a normaliser (scratch buffers, tables). @returns NULL on failure. */
wd_norm_t *wd_norm_new(const wd_norm_opts_t *opts);

/** @brief Free \p nm. NULL is a no-op. */
void wd_norm_destroy(wd_norm_t *nm);

/**
 * @brief Normalise UTF-8 \p src into canonical token text, appended to \p dst
 *        (\p dst is cleared first).
 *
 * Steps, in order:
 *  1. HTML (when opts.html): tags dropped (script/style content too); block
 *     tags (p, div, br, li, h1-h6, tr, blockquote, section, article, header,
 *     footer) end a line; named (the common HTML4 set) and numeric entities
 *     decoded. Text with no '<' or '&' skips this step.
 *  2. Lines: a blank line (or a block tag) ends a paragraph. Single newlines
 *     inside a paragraph are joined, so reflowed copies give the same lines.
 *  3. Unicode: NFKC + case folding (utf8proc), combining marks stripped when
 *     opts.strip_marks, default-ignorables (ZWNJ, ZWJ, soft hyphen) removed.
 *     ASCII runs take a fast path that never calls utf8proc.
 *  4. Typography: curly quotes, primes, dashes, ellipses fold to ASCII;
 *     Arabic-script letter variants (Arabic/Farsi yeh, kaf/keheh, heh
 *     forms, tatweel) and Arabic-Indic/Extended digits fold to one form.
 *  5. Tokens: maximal runs of letters, marks and digits. Apostrophes inside a
 *     word are dropped ("it's" -> "its"); ',' between digits is dropped and
 *     '.' between digits kept ("393,000" -> "393000", "9.223" stays);
 *     everything else separates tokens. In scripts written without spaces
 *     (Han, Hiragana, Katakana, Thai, Lao, Khmer, Myanmar) each character is
 *     its own token, so word shingles become character n-grams there.
 *  6. Abbreviations (opts.fold_abbrev): token-level table, e.g. mln, pct,
 *     dlrs, cts, blns/bln/billion, shr/shrs, qtr, yr, avg, vs, corp.
 *
 * Invalid UTF-8 sequences are treated as separators (never crash, never loop).
 * @returns WD_OK. O(src_len). Not thread-safe per \p nm; use one per thread.
 */
wd_err_t wd_norm_text(wd_norm_t *nm, const char *src, size_t src_len, wd_buf_t *dst);

/**
 * @brief Check that \p src is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
 * @returns 1 if valid, 0 if not; *bad_off (if not NULL) gets the first bad byte offset.
 */
int wd_norm_utf8_valid(const char *src, size_t src_len, size_t *bad_off);

#endif
