/* datagen.h - seeded synthetic newswire for the benchmarks.
 *
 * Stories are made of generated words (a built-in list of English function
 * words plus pseudo-words built from syllables, drawn with Zipf frequencies
 * and a per-story topic vocabulary), so no third-party text is involved.
 * Wire sources publish originals; other outlets republish earlier stories
 * with the edits copies really get: trimmed ends, a dropped paragraph, a few
 * words changed, hard-wrapped (reflowed) lines, ad breaks, HTML markup with
 * entities and curly quotes, and each outlet's own header and footer
 * boilerplate. The same options and seed give byte-identical output.
 *
 * @code
 *   wd_datagen_opts_t o;  wd_datagen_opts_default(&o);  o.seed = 42;
 *   wd_datagen_t *g = wd_datagen_new(&o);
 *   wd_buf_t line = WD_BUF_INIT;
 *   for (int i = 0; i < n; i++) {
 *     wd_buf_clear(&line);
 *     wd_datagen_next(g, &line);           // one JSON object, no newline
 *   }
 *   wd_buf_free(&line);  wd_datagen_destroy(g);
 * @endcode
 */
#ifndef WD_DATAGEN_H
#define WD_DATAGEN_H

#include <stddef.h>
#include <stdint.h>

#include "wiredup/mem.h"

typedef struct wd_datagen_s wd_datagen_t;

typedef struct wd_datagen_opts_s {
  uint64_t seed;        /**< (default 1) */
  double dup_share;     /**< share of records that republish an earlier story (default 0.3) */
  double html_share;    /**< share of records rendered as HTML (default 0.3) */
  uint32_t sources;     /**< outlets, 2..64; the first quarter are wire services (default 12) */
  uint32_t words_min;   /**< story length bounds in words (default 300 .. 1500) */
  uint32_t words_max;
  uint32_t words_median;/**< median story length (default 570 words: a 4.2 KB record) */
  uint32_t memory;      /**< stories a copy may be taken from, newest first (default 2048) */
} wd_datagen_opts_t;

void wd_datagen_opts_default(wd_datagen_opts_t *opts);

/** @brief Apply generator option \p name (--seed, --dup-share, --html-share,
 *  --sources, --words-median) with \p value to \p opts.
 *  @returns 1 if \p name is one of them, 0 if not (nothing changed). */
int wd_datagen_opt(wd_datagen_opts_t *opts, const char *name, const char *value);

/** @brief A generator; \p opts NULL means defaults. @returns NULL on bad options. */
wd_datagen_t *wd_datagen_new(const wd_datagen_opts_t *opts);
void wd_datagen_destroy(wd_datagen_t *g);

/**
 * @brief Append the next record to \p dst: a JSON object with "id", "story"
 *        (the ground-truth story id, usable as an eval label), "source",
 *        "published_at", "title" and "body". No newline. Never allocates once
 *        \p dst and the generator's scratch have grown to their high-water mark.
 * @returns 1 if the record republishes an earlier story, 0 for an original.
 */
int wd_datagen_next(wd_datagen_t *g, wd_buf_t *dst);

#endif
