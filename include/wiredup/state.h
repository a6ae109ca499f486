/* state.h - the checkpoint container: the file format, its sections, and the
 * byte-level writer/reader modules serialise themselves with. It knows no
 * module; the engine (engine.h: wd_engine_save, wd_engine_load) decides
 * which sections a checkpoint holds and drives writing and reading them.
 *
 * A checkpoint is one file, `<state.dir>/wiredup.state`, replaced atomically
 * (written to `wiredup.state.tmp`, fsync, rename, fsync of the directory), so
 * a crash at any point leaves either the old or the new checkpoint, never a
 * mix. The layout is fixed, versioned and little-endian whatever the host:
 *
 *   offset size  field
 *   0      8     magic "WDSTATE\0"
 *   8      4     format version (WD_STATE_VERSION)
 *   12     4     header size (32)
 *   16     8     payload length in bytes
 *   24     8     XXH3-64 of the payload
 *   32     ...   payload: sections, each
 *                  4  tag (four ASCII bytes: "CONF", "ENGN", "CLUS", "TOPV",
 *                     "STRY", "SIMH", "BOIL", "OFFS", in the order the
 *                     engine writes them)
 *                  8  section length in bytes
 *                  .. section body (described where it is written: the
 *                     module's _save function; OFFS here)
 *
 * A file that is short, has another magic or version, a payload whose
 * checksum does not match, or a section that does not parse is refused with
 * WD_ERR_STATE and a message naming the file; the caller decides (start-up
 * stops; `--fresh-state` starts empty). Nothing is ever loaded partially: a
 * load that fails leaves the caller to destroy the half-filled engine.
 *
 * Modules write through wd_state_w_t (a buffered file writer that checksums
 * as it goes) and read with wd_state_r_t (a bounds-checked cursor over the
 * mapped file). Neither needs rdkafka.h or cJSON.h, so algorithm stages may
 * use them. This header includes no other module's but err.h.
 *
 * @code
 *   wd_state_w_t *w = wd_state_w_open(dir, errstr, sizeof(errstr));
 *   if (!w) ... WD_ERR_IO ...
 *   wd_state_w_begin(w, "XMPL");
 *   wd_state_w_u32(w, 42);
 *   wd_state_w_end(w);
 *   wd_state_offsets_save(w, &offs);
 *   wd_err_t err = wd_state_w_close(w, &bytes, errstr, sizeof(errstr));
 *   ...
 *   err = wd_state_foreach(dir, section_cb, opaque, &bytes, errstr, sizeof(errstr));
 *   if (err == WD_ERR_STATE) ... refuse to start, name the file ...
 * @endcode
 */
#ifndef WD_STATE_H
#define WD_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "wiredup/err.h"

#define WD_STATE_MAGIC "WDSTATE"
#define WD_STATE_VERSION 1u
#define WD_STATE_HEADER_LEN 32u
#define WD_STATE_FILE "wiredup.state"

/* ==== Writer ==== */

typedef struct wd_state_w_s wd_state_w_t;

/** @brief Append \p len bytes. Errors are sticky: they surface at the end. */
void wd_state_w_bytes(wd_state_w_t *w, const void *src, size_t len);
void wd_state_w_u8(wd_state_w_t *w, uint8_t v);
void wd_state_w_u32(wd_state_w_t *w, uint32_t v);
void wd_state_w_u64(wd_state_w_t *w, uint64_t v);
void wd_state_w_i64(wd_state_w_t *w, int64_t v);
void wd_state_w_f64(wd_state_w_t *w, double v);
/** @brief u32 length then the bytes (no NUL). */
void wd_state_w_str(wd_state_w_t *w, const char *s, size_t len);
/** @brief Arrays, each element little-endian (a memcpy on LE hosts). */
void wd_state_w_u16v(wd_state_w_t *w, const uint16_t *v, size_t cnt);
void wd_state_w_u32v(wd_state_w_t *w, const uint32_t *v, size_t cnt);
void wd_state_w_u64v(wd_state_w_t *w, const uint64_t *v, size_t cnt);

/** @brief Start a section \p tag (4 chars); its length is patched by
 *  wd_state_w_end. Sections do not nest. */
void wd_state_w_begin(wd_state_w_t *w, const char tag[4]);
void wd_state_w_end(wd_state_w_t *w);

/* ==== Reader ==== */

/** A bounds-checked cursor. Once a read runs past the end, err is set, every
 *  later read returns zeros, and the loader reports the section as corrupt. */
typedef struct wd_state_r_s {
  const uint8_t *p, *end;
  int err;
} wd_state_r_t;

const void *wd_state_r_bytes(wd_state_r_t *r, size_t len); /**< NULL past the end */
uint8_t wd_state_r_u8(wd_state_r_t *r);
uint32_t wd_state_r_u32(wd_state_r_t *r);
uint64_t wd_state_r_u64(wd_state_r_t *r);
int64_t wd_state_r_i64(wd_state_r_t *r);
double wd_state_r_f64(wd_state_r_t *r);
/** @brief A string written by wd_state_w_str; not NUL-terminated, valid while
 *  the file is mapped. */
const char *wd_state_r_str(wd_state_r_t *r, size_t *len);
/** @brief Read \p cnt elements into \p dst. @returns 0, or -1 (err set). */
int wd_state_r_u16v(wd_state_r_t *r, uint16_t *dst, size_t cnt);
int wd_state_r_u32v(wd_state_r_t *r, uint32_t *dst, size_t cnt);
int wd_state_r_u64v(wd_state_r_t *r, uint64_t *dst, size_t cnt);
/** @brief Is a count of \p cnt items of at least \p item_len bytes each
 *  plausible for what is left? Guards allocations sized from the file. */
int wd_state_r_fits(const wd_state_r_t *r, uint64_t cnt, size_t item_len);

/* ==== Input positions ==== */

typedef struct wd_state_offset_s {
  char *topic;       /**< owned */
  int32_t partition;
  int64_t offset;    /**< the next offset: the state reflects records below it */
  int64_t event_ms;  /**< newest event time among those records; INT64_MIN unknown */
} wd_state_offset_t;

/** Per input partition, the position the state reflects. */
typedef struct wd_state_offsets_s {
  wd_state_offset_t *v;
  size_t cnt, cap;
} wd_state_offsets_t;

/** @brief Set (or add) \p topic / \p partition to \p offset. */
void wd_state_offsets_set(wd_state_offsets_t *offs, const char *topic,
                          int32_t partition, int64_t offset);
/** @brief The offset for \p topic / \p partition, or -1 if unknown. */
int64_t wd_state_offsets_get(const wd_state_offsets_t *offs, const char *topic,
                             int32_t partition);
/** @brief Raise the newest event time of \p topic / \p partition to \p ms
 *  (an entry with offset -1 is added if there is none). */
void wd_state_offsets_set_event(wd_state_offsets_t *offs, const char *topic,
                                int32_t partition, int64_t ms);
/** @brief The newest event time of \p topic / \p partition, or INT64_MIN. */
int64_t wd_state_offsets_get_event(const wd_state_offsets_t *offs, const char *topic,
                                   int32_t partition);
/** @brief Free the entries; \p offs is empty and reusable after. */
void wd_state_offsets_clear(wd_state_offsets_t *offs);

/** @brief Write \p offs (NULL: none) as the "OFFS" section: u32 count, then
 *  per entry str topic, u32 partition, i64 next offset; and, when any entry
 *  has an event time, the "PTIM" section: u32 count, then per entry str
 *  topic, u32 partition, i64 newest event time in ms (INT64_MIN unknown).
 *  A checkpoint without PTIM (older ones, file mode) loads with every event
 *  time unknown. */
void wd_state_offsets_save(wd_state_w_t *w, const wd_state_offsets_t *offs);
/** @brief Add the entries of an "OFFS" section body to \p offs (NULL: read
 *  and dropped). @returns 0, or -1 if it does not parse. */
int wd_state_offsets_load(wd_state_r_t *r, wd_state_offsets_t *offs);
/** @brief The same for a "PTIM" section body. */
int wd_state_offsets_load_events(wd_state_r_t *r, wd_state_offsets_t *offs);

/* ==== Checkpoint files ==== */

/** What a save or load did (for logs, metrics and benchmarks). */
typedef struct wd_state_info_s {
  uint64_t bytes;    /**< file size */
  uint64_t articles; /**< articles in the index */
  double seconds;    /**< wall time of the save or load */
} wd_state_info_t;

/** @brief Path of the checkpoint in \p dir, written to \p dst. */
void wd_state_path(char *dst, size_t dst_cap, const char *dir);

/**
 * @brief Start writing a checkpoint into directory \p dir (created if
 *        missing): a temporary file beside it, header left blank.
 * @returns the writer for wd_state_w_begin ... wd_state_w_close; NULL with
 *          errstr naming the directory or file when it cannot be created
 *          (an I/O error).
 */
wd_state_w_t *wd_state_w_open(const char *dir, char *errstr, size_t errstr_size);

/**
 * @brief Finish the checkpoint: patch the section lengths, checksum the
 *        payload as it is on disk, write the header, fsync, rename it over
 *        the previous checkpoint, fsync the directory. Frees \p w always.
 * @param bytes  receives the file size; may be NULL.
 * @returns WD_OK; WD_ERR_IO (the first write error since wd_state_w_open)
 *          with errstr naming the path: the previous checkpoint, if any, is
 *          left intact and the temporary file removed.
 */
wd_err_t wd_state_w_close(wd_state_w_t *w, uint64_t *bytes, char *errstr,
                          size_t errstr_size);

/** Receives one section: \p tag (four chars and a NUL) and a reader over
 *  exactly its body, valid during the call. @returns WD_OK, or WD_ERR_STATE
 *  with the reason in \p why ("truncated", "settings differ: ..."). */
typedef wd_err_t(wd_state_section_cb_t)(void *opaque, const char *tag, wd_state_r_t *r,
                                        char *why, size_t why_size);

/**
 * @brief Check the checkpoint in \p dir whole (magic, version, length,
 *        checksum), then hand each section to \p cb, in file order.
 * @param bytes  receives the file size; may be NULL.
 * @returns WD_OK; WD_ERR_IO with errno text if \p dir has no checkpoint
 *          (so callers can start empty then);
 *          WD_ERR_STATE if the file is unreadable, truncated, corrupt or of
 *          another version, or if \p cb fails or leaves part of its section
 *          unread (errstr names the file, the section and why; sections
 *          before it were handed over already).
 */
wd_err_t wd_state_foreach(const char *dir, wd_state_section_cb_t *cb, void *opaque,
                          uint64_t *bytes, char *errstr, size_t errstr_size);

/** @brief 1 if \p dir holds a checkpoint file (it may still be corrupt). */
int wd_state_exists(const char *dir);

#endif
