/* demo.h - `wiredup demo`: an embedded mock Kafka cluster, the bundled sample
 * articles produced to it, stream mode run against it, and the clusters read
 * back from the output topic and printed. Needs nothing running.
 */
#ifndef WD_DEMO_H
#define WD_DEMO_H

#include <stddef.h>
#include <stdio.h>

#include "wiredup/config.h"
#include "wiredup/err.h"

/** The bundled sample (JSON Lines, NUL-terminated), generated at build time
 *  from config/sample-articles.jsonl. */
extern const char wd_sample_articles[];
/** Bytes in wd_sample_articles, without the terminating NUL. */
extern const size_t wd_sample_articles_len;

/**
 * @brief Run the demo and print the clusters to \p out.
 *
 * Starts a 3-broker mock cluster on loopback, creates input.topic (4
 * partitions), output.topic and the dead-letter topic, produces every sample
 * article keyed by its id, then runs the same loop as wd_stream_run against
 * the mock (only kafka.* connection keys are overridden) until a result or a
 * dead letter has come back from the broker for every article. Prints each
 * cluster of two or more articles with its members (id, similarity, source,
 * title) and a one-line summary.
 *
 * @param cfg  borrowed; clustering keys and topic names are used as given.
 * @returns WD_OK; WD_ERR_KAFKA if the mock cluster fails or the results do
 *          not all arrive within 60 s; WD_ERR_CONFIG for a bad \p cfg.
 * @remark Log lines below warn are muted for the run (unless log.level is
 *         debug) so that the clusters are what the user sees.
 */
wd_err_t wd_demo_run(const wd_config_t *cfg, FILE *out, char *errstr,
                     size_t errstr_size);

#endif
