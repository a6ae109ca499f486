/* fprec.h - the fingerprint record: one wd_fp_t (engine.h) as bytes, so the
 * stateless fingerprint stage and the cluster stage can run on different
 * machines with a topic between them (issue 17). wd_engine_commit on a
 * decoded record gives exactly the answer it gives on the original.
 *
 * The record carries what the cluster stage reads and nothing it can derive
 * cheaply: no term counts (wd_terms_count over the tokens on decode; they
 * would take 28 bytes a distinct word, 2.4x the token hashes). The token
 * hashes and the MinHash signature travel: remaking them (from the kept
 * text, 2 bytes a token smaller; from shingles) would put that work back on
 * the one cluster-stage thread (measured: docs/benchmarks.md, fingerprint
 * record).
 * The canonical text (norm) travels only when the line hashes were cut at
 * WD_FP_MAX_LINES, the one case where the cluster stage filters again; then
 * no tokens, lines or sketch travel, since that stage remakes them.
 *
 * Layout, version 1: fixed, little-endian whatever the host. "varint" is an
 * unsigned LEB128 of at most 10 bytes (7 bits a byte, low group first, high
 * bit set on every byte but the last).
 *
 *   offset size   field
 *   0      1      magic 0xF9 (WD_FPREC_MAGIC; never '{', so a JSON article
 *                 on the wrong topic is refused at the first byte)
 *   1      1      format version (WD_FPREC_VERSION)
 *   2      1      flags: bit 0 has source, bit 1 has event time, bit 2
 *                 sketched (nset and signature follow), bit 3 the hint
 *                 dropped lines (bitmap follows), bit 4 cut (nlines reached
 *                 WD_FP_MAX_LINES: the text is norm, and no lines, tokens or
 *                 sketch follow); bits 5-7 zero
 *   3      1      nnum, the numbers of the kept text (0..WD_TOPV_NUMS)
 *   4      4      i32 input partition
 *   8      8      i64 input offset
 *   16     8      i64 Kafka message timestamp (ms; -1 none)
 *   24     8      i64 event time (ms; meaningful when flag bit 1)
 *   32     ...    varint topic length, topic bytes
 *                 varint id length (>= 1), id bytes (no NUL)
 *                 [bit 0] varint source length, source bytes
 *                 varint warning length, warning bytes (ignored-timestamp
 *                   reason; 0 for none)
 *                 nnum x u16 numbers
 *                 when cut: varint text length, the canonical text (norm)
 *                 unless cut:
 *                   varint ntok, ntok x u64 token hashes (of the kept text,
 *                     in order; boiler.h wd_boiler_kept_tokens)
 *                   varint nlines (< WD_FP_MAX_LINES)
 *                   nlines x u64 learnable line hashes
 *                   nlines x {varint tokens between the previous line's
 *                     last kept token and this line's first, varint kept
 *                     tokens of the line} (ranges in token order, within
 *                     the ntok tokens)
 *                   [bit 3] ceil(nlines / 8) bytes: bit i%8 of byte i/8 set
 *                     when the hint dropped line i; at least one set, the
 *                     bits past nlines zero
 *                   [bit 2] varint nset, varint num_perm (must be the
 *                     decoder's minhash.num_perm), num_perm x u32 signature
 *   end           nothing may follow
 *
 * The version must change (and a decoder of the new version may read the
 * old) when a field is added, removed, reordered or widened, a flag bit
 * gains a meaning, or what a field means changes: in particular when the
 * token hashes (XXH3 of a token's bytes, seed 0, boiler.h) or the line
 * hashes change, or what wd_engine_commit reads from a wd_fp_t grows. Settings that change
 * fingerprints (shingle.size, minhash.*, normalize.*, boilerplate phrases)
 * are not in the record: producer and consumer must run with the same
 * ones (only num_perm is checked).
 *
 * Decoding is bounds-checked throughout (records come from a network
 * topic): another magic or version, a truncated record, a count that does
 * not fit the bytes left, a line range outside the tokens, a flag or bit
 * that is not allowed, or bytes after the end are refused with WD_ERR_INPUT
 * and a reason.
 *
 * @code
 *   // fingerprint stage, any thread
 *   wd_fingerprint(fpr, hint, json, len, key, key_len, msg_ts, &fp);
 *   wd_fprec_src_t src = {topic, strlen(topic), partition, offset, msg_ts};
 *   if (fp.err == WD_OK) { wd_buf_clear(&out); wd_fprec_encode(&fp, &src, &out); ... }
 *
 *   // cluster stage, one thread
 *   wd_fprec_decoder_t *dec = wd_fprec_decoder_new(cfg, errstr, sizeof(errstr));
 *   wd_fp_init(&fp, cfg->minhash_num_perm);
 *   if (wd_fprec_decode(dec, val, val_len, &fp, &src, why, sizeof(why)) == WD_OK)
 *     wd_engine_commit(eng, &fp, &res, errstr, sizeof(errstr));
 *   else ... dead-letter with reason why ...
 *   wd_fp_free(&fp);
 *   wd_fprec_decoder_destroy(dec);
 * @endcode
 */
#ifndef WD_FPREC_H
#define WD_FPREC_H

#include <stddef.h>
#include <stdint.h>

#include "wiredup/config.h"
#include "wiredup/engine.h"
#include "wiredup/err.h"
#include "wiredup/mem.h"

#define WD_FPREC_MAGIC 0xF9u
#define WD_FPREC_VERSION 1u
#define WD_FPREC_HEADER_LEN 32u /**< the fixed part */

/** Where the article came from (the input message's coordinates). */
typedef struct wd_fprec_src_s {
  const char *topic; /**< input topic (NULL/0 bytes in file mode); after
                          decode: points into the record, not NUL-terminated */
  size_t topic_len;
  int32_t partition;
  int64_t offset;
  int64_t msg_ts_ms; /**< Kafka message timestamp, -1 none */
} wd_fprec_src_t;

/**
 * @brief Append the record of \p fp (fp->err must be WD_OK) and \p src to
 *        \p dst.
 * @param fp   borrowed; as wd_fingerprint left it (or as wd_fprec_decode did).
 * @param src  borrowed; NULL means no coordinates (empty topic, -1s).
 * @remark Any thread. O(tokens + lines + num_perm); no allocation once \p dst
 *         has grown to its high-water mark.
 */
void wd_fprec_encode(const wd_fp_t *fp, const wd_fprec_src_t *src, wd_buf_t *dst);

/**
 * @brief Read only the header of record \p src: its input partition and
 *        offset, and its event time (the record's timestamp, else the Kafka
 *        message's, else -1), for ordering records before decoding them.
 * @returns 0; -1 when the first 32 bytes are not a header this build reads
 *          (the full decode then says why).
 * @remark O(1), any thread.
 */
int wd_fprec_peek(const void *src, size_t len, int32_t *partition, int64_t *offset,
                  int64_t *event_ms);

/** Scratch for decoding (a term counter); one per thread. */
typedef struct wd_fprec_decoder_s wd_fprec_decoder_t;

/** @brief A decoder for records made under \p cfg (borrowed, read here
 *  only). @returns NULL with errstr set on a bad configuration. */
wd_fprec_decoder_t *wd_fprec_decoder_new(const wd_config_t *cfg, char *errstr,
                                         size_t errstr_size);
void wd_fprec_decoder_destroy(wd_fprec_decoder_t *dec);

/**
 * @brief Fill \p fp from the record \p src of \p len bytes so that
 *        wd_engine_commit on it answers as on the fingerprint encoded.
 * @param fp      initialised with wd_fp_init(fp, minhash.num_perm) and
 *                reused record after record (its buffers only grow).
 * @param coords  receives the input coordinates, topic pointing into \p src
 *                (valid while \p src is); may be NULL.
 * @returns WD_OK; WD_ERR_INPUT with the reason in \p why for a record that
 *          is not one this build reads (see the layout above). \p fp is then
 *          unspecified but safe to reuse or free.
 * @remark O(len): the words of the tokens are counted (wd_terms_count).
 */
wd_err_t wd_fprec_decode(wd_fprec_decoder_t *dec, const void *src, size_t len,
                         wd_fp_t *fp, wd_fprec_src_t *coords, char *why,
                         size_t why_size);

/* ==== The order record ====
 *
 * The cluster stage decides records in event-time order across the input's
 * partitions, and that order depends on when records arrived, not only on
 * what the fingerprints topic holds. So before it publishes an answer, the
 * owner of the cluster stage appends to the same topic the order it applies
 * records in: which fingerprint record (by its fingerprints-topic offset)
 * went next, under which watermark. A new owner (or a standby) re-applies
 * the records in that order and under those watermarks, so its memory is
 * the one its predecessor had at every step and an answer given twice is
 * the same answer.
 *
 * Layout, version 1, little-endian ("zigzag" maps a signed delta to an
 * unsigned varint: 0, -1, 1, -2 ... as 0, 1, 2, 3 ...; deltas wrap modulo
 * 2^64, so INT64_MIN and INT64_MAX watermarks cost a few bytes only once):
 *
 *   offset size   field
 *   0      1      magic 0xFA (WD_FPORD_MAGIC)
 *   1      1      format version (WD_FPORD_VERSION)
 *   2      2      zero
 *   4      4      u32 entries (1..WD_FPORD_MAX)
 *   8      8      i64 first entry's fingerprints offset
 *   16     8      i64 first entry's watermark (ms)
 *   24     ...    for each further entry: varint zigzag(offset - previous
 *                 offset), varint zigzag(watermark - previous watermark)
 *   end           nothing may follow
 */
#define WD_FPORD_MAGIC 0xFAu
#define WD_FPORD_VERSION 1u
#define WD_FPORD_HEADER_LEN 24u
#define WD_FPORD_MAX 4096u /**< entries in one order record */

/** One decision: the fingerprint record at \p fp_offset was applied next,
 *  under watermark \p wm_ms. */
typedef struct wd_fpord_ent_s {
  int64_t fp_offset;
  int64_t wm_ms;
} wd_fpord_ent_t;

/** What a record on the fingerprints topic is, from its first byte. */
typedef enum wd_fprec_kind_e {
  WD_FPREC_KIND_OTHER = 0, /**< neither: refused by both decoders */
  WD_FPREC_KIND_FP,        /**< a fingerprint record */
  WD_FPREC_KIND_ORDER      /**< an order record */
} wd_fprec_kind_t;

wd_fprec_kind_t wd_fprec_kind(const void *src, size_t len);

/** @brief Append the order record of \p n (1..WD_FPORD_MAX) entries to \p dst. */
void wd_fpord_encode(const wd_fpord_ent_t *ent, size_t n, wd_buf_t *dst);

/**
 * @brief Read the order record \p src into \p ent (room for WD_FPORD_MAX).
 * @returns WD_OK with *n entries; WD_ERR_INPUT with the reason in \p why for
 *          another magic or version, a count out of range, a truncated or
 *          over-long varint, or bytes after the last entry.
 * @remark O(len), any thread.
 */
wd_err_t wd_fpord_decode(const void *src, size_t len, wd_fpord_ent_t *ent, size_t *n,
                         char *why, size_t why_size);

#endif
