/* record.h - decode one input record (a JSON object) into the fields the
 * pipeline needs, per the contract's field mapping.
 *
 * The decoder owns its scratch (id, text, source buffers) and reuses it for
 * every record. Also RFC 3339 time parsing and formatting and JSON string
 * escaping. The algorithm stages never see cJSON; it is used here, in config,
 * eval, metrics (librdkafka statistics), demo, and by the engine only to route
 * cJSON's allocations through wd_malloc. */
#ifndef WD_RECORD_H
#define WD_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "wiredup/config.h"
#include "wiredup/err.h"
#include "wiredup/mem.h"

typedef struct wd_decoder_s wd_decoder_t;

/** One decoded article. Pointers belong to the decoder and stay valid until
 *  the next wd_record_decode on it. */
typedef struct wd_record_s {
  const char *id;      /**< NUL-terminated, never empty */
  size_t id_len;
  const char *text;    /**< text fields joined by a blank line (raw, may hold HTML) */
  size_t text_len;
  const char *source;  /**< NULL when absent */
  size_t source_len;
  int64_t ts_ms;       /**< event time, valid when has_ts */
  int has_ts;
} wd_record_t;

/** @brief A decoder for \p cfg's field mapping (borrowed; must outlive it). */
wd_decoder_t *wd_decoder_new(const wd_config_t *cfg);
void wd_decoder_destroy(wd_decoder_t *dec);

/**
 * @brief Decode \p json. \p key (Kafka key, may be NULL) is the id when set.
 *        \p msg_ts_ms (>= 0) is the time used when the record has no timestamp.
 * @returns WD_OK, or WD_ERR_INPUT with the reason in errstr: too large, not
 *          UTF-8, not JSON (raw control bytes, a \u0000 escape in a string
 *          and nesting deeper than 1000 levels included), not an object, missing/invalid id, a Kafka key
 *          with a NUL byte, missing text, text not a string. A malformed or
 *          out-of-range timestamp (RFC 3339 with a real date, or integer epoch
 *          ms, years 1900..9999) is not an error: it is logged as a warning
 *          and treated as absent.
 */
wd_err_t wd_record_decode(wd_decoder_t *dec, const char *json, size_t json_len,
                          const char *key, size_t key_len, int64_t msg_ts_ms,
                          wd_record_t *rec, char *errstr, size_t errstr_size);

/** @brief With \p on, a malformed timestamp is not logged by
 *  wd_record_decode but kept for wd_decoder_warning, so a decoder on a
 *  worker thread leaves the log line to the thread that writes the results
 *  (and the log stays in input order). */
void wd_decoder_defer_warnings(wd_decoder_t *dec, int on);

/** @brief The reason of the last record's ignored timestamp (deferred), or
 *  NULL. Valid until the next wd_record_decode. */
const char *wd_decoder_warning(const wd_decoder_t *dec);

/** @brief The "ignored bad timestamp" warning line for record \p id. */
void wd_record_log_warning(const char *id, const char *reason);

/** @brief Parse RFC 3339 ("2017-03-31T18:24:00Z", fractions, +hh:mm offsets)
 *  into ms since the epoch. @returns 0 on success, -1 if malformed. */
int wd_time_parse_rfc3339(const char *s, size_t len, int64_t *ms);

/** @brief Format \p ms as RFC 3339 UTC ("...T18:24:00Z", ".123" when ms != 0).
 *  @returns bytes written (excluding NUL); dst_cap >= 32 always suffices. */
size_t wd_time_format_rfc3339(char *dst, size_t dst_cap, int64_t ms);

/** @brief Append \p s (\p len bytes of UTF-8) to \p dst as a JSON string literal. */
void wd_json_append_string(wd_buf_t *dst, const char *s, size_t len);

#endif
