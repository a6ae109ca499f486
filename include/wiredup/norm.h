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
 *  1. HTML (when opts.html): tags dropped ('>' inside quoted attribute
 *     values does not end a tag; script, style, noscript, template, iframe
 *     and title content too; comments too); block tags (p, div, br, li,
 *     h1-h6, tr, blockquote, section, article, header, footer, ...) end a
 *     paragraph; named (the HTML4 set plus &apos;) and numeric entities
 *     decoded (&#128;-&#159; as Windows-1252, as browsers do). When the text
 *     has a block tag, its raw newlines are only spaces, as in a browser. A
 *     '<' that starts no tag ("a < b") is text; so is "<WORD>" or "<WORD.X>"
 *     with an unknown name and no attributes (wire tickers: "<LOR>", which an
 *     HTML copy writes "&lt;LOR&gt;"). Text with no '<' or '&' skips this.
 *  2. Lines: a blank line, a block tag, or a line that starts indented (wire
 *     copy starts its paragraphs with "
    ") ends a paragraph. Other
 *     single newlines are hard wraps and are joined, so reflowed copies give
 *     the same lines.
 *  3. Unicode: NFKC + case folding (utf8proc, with UTF8PROC_LUMP), combining
 *     marks stripped when opts.strip_marks, default-ignorables (ZWNJ, ZWJ,
 *     soft hyphen) removed. ASCII runs take a fast path that never calls
 *     utf8proc; two-byte characters use a table filled by utf8proc at _new.
 *  4. Typography: curly quotes, primes, dashes, ellipses fold to ASCII;
 *     Arabic-script letter variants fold to the Urdu forms (Arabic yeh and
 *     alef maksura -> Farsi yeh U+06CC; kaf -> keheh U+06A9; heh, heh
 *     doachashmee and ae -> heh goal U+06C1; alef wasla -> alef; yeh barree
 *     U+06D2 stays a letter of its own), tatweel is removed, Arabic-Indic
 *     and Extended Arabic-Indic digits become ASCII digits.
 *  5. Tokens: maximal runs of letters, marks and digits, split where a
 *     letter follows a digit ("5bn" -> "5 bn", "4th" -> "4 th"). Apostrophes
 *     inside a word are dropped ("it's" -> "its"); ',' between digits is
 *     dropped and '.' between digits kept ("393,000" -> "393000", "9.223"
 *     stays); single letters joined by dots are one token ("U.S." -> "us");
 *     '%' is the token "percent"; everything else separates tokens. In
 *     scripts written without spaces (Han, Hiragana, Katakana, Thai, Lao,
 *     Khmer, Myanmar) each character is its own token, so word shingles
 *     become character n-grams there.
 *  6. Abbreviations (opts.fold_abbrev): a token table folds wire forms to
 *     the spelled-out word (mln -> million, pct and "per cent" -> percent,
 *     dlrs, cts, bln/bn, shr -> "share earnings", shrs, revs, qtr, yr, avg,
 *     vs -> versus, corp, inc, ltd, co, month names, ...), and in-word rules
 *     fold UK/US spelling to one form (-ise/-ize, -yse/-yze and every other
 *     "iz"+vowel -> "is"; labour/colour/... -> -or; centre/metre/... -> -er;
 *     defence, programme, catalogue, doubled l, ae/oe, ...).
 *
 * Invalid UTF-8 sequences are treated as separators (never crash, never loop).
 * @returns WD_OK. O(src_len). Not thread-safe per \p nm; use one per thread.
 */
wd_err_t wd_norm_text(wd_norm_t *nm, const char *src, size_t src_len, wd_buf_t *dst);

/**
 * @brief wd_norm_text without its vector fast paths: the plain byte loop
 *        that wd_norm_text must agree with byte for byte, for every input.
 *        For tests and benchmarks; same contract and cost class.
 */
wd_err_t wd_norm_text_ref(wd_norm_t *nm, const char *src, size_t src_len,
                          wd_buf_t *dst);

/**
 * @brief Check that \p src is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
 * @returns 1 if valid, 0 if not; *bad_off (if not NULL) gets the first bad byte offset.
 */
int wd_norm_utf8_valid(const char *src, size_t src_len, size_t *bad_off);

#endif
