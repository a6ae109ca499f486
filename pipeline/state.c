/* state.c - the checkpoint container: byte writer and reader, the file
 * (header, sections, checksum, atomic replace) and the OFFS section of input
 * positions. It knows no module: what goes in the other sections is the
 * engine's business (engine.c drives saving and loading).
 *
 * Writing streams the payload through a buffered writer, patches the section
 * lengths, hashes the payload back from the page cache, writes the header
 * with length and checksum, fsyncs and renames over the old file. Reading
 * maps the file, checks magic, version, length and checksum before a single
 * byte of payload is interpreted, then hands each section to a callback. See
 * state.h for the byte layout. */
#include "wiredup/state.h"
#include "wiredup/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#define WBUF_CAP (1u << 20)

struct wd_state_w_s {
  int fd;
  uint8_t *buf;
  size_t len;
  uint64_t total;   /* payload bytes written so far */
  uint64_t sec_at;  /* payload offset of the open section's length field */
  int in_section;
  int err;          /* errno of the first failure */
  XXH3_state_t *xs;
  /* section lengths are patched after the fact: remembered, applied at end */
  uint64_t *patch_at, *patch_len;
  size_t patch_cnt, patch_cap;
  char *dir;        /* the checkpoint's directory, fsynced after the rename */
  char path[4096], tmp[4200];
};

/* ==== Writer ==== */

static void w_flush(wd_state_w_t *w) {
  size_t off = 0;
  while (off < w->len && !w->err) {
    ssize_t n = write(w->fd, w->buf + off, w->len - off);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      w->err = errno;
      break;
    }
    off += (size_t)n;
  }
  w->len = 0;
}

void wd_state_w_bytes(wd_state_w_t *w, const void *src, size_t len) {
  const uint8_t *p = src;
  if (w->err)
    return;
  w->total += len;
  while (len) {
    size_t room = WBUF_CAP - w->len;
    size_t n = len < room ? len : room;
    memcpy(w->buf + w->len, p, n);
    w->len += n, p += n, len -= n;
    if (w->len == WBUF_CAP)
      w_flush(w);
  }
}

void wd_state_w_u8(wd_state_w_t *w, uint8_t v) { wd_state_w_bytes(w, &v, 1); }

void wd_state_w_u32(wd_state_w_t *w, uint32_t v) {
  uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
  wd_state_w_bytes(w, b, 4);
}

void wd_state_w_u64(wd_state_w_t *w, uint64_t v) {
  uint8_t b[8];
  for (int i = 0; i < 8; i++)
    b[i] = (uint8_t)(v >> (8 * i));
  wd_state_w_bytes(w, b, 8);
}

void wd_state_w_i64(wd_state_w_t *w, int64_t v) { wd_state_w_u64(w, (uint64_t)v); }

void wd_state_w_f64(wd_state_w_t *w, double v) {
  uint64_t u;
  memcpy(&u, &v, 8);
  wd_state_w_u64(w, u);
}

void wd_state_w_str(wd_state_w_t *w, const char *s, size_t len) {
  wd_state_w_u32(w, (uint32_t)len);
  wd_state_w_bytes(w, s, len);
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define WD_HOST_LE 0
#else
#define WD_HOST_LE 1
#endif

/* \p cnt elements of \p width bytes, little-endian on disk. */
static void w_vec(wd_state_w_t *w, const void *v, size_t cnt, size_t width) {
  if (WD_HOST_LE) {
    wd_state_w_bytes(w, v, cnt * width);
    return;
  }
  const uint8_t *p = v;
  for (size_t i = 0; i < cnt; i++, p += width) {
    uint8_t b[8];
    for (size_t k = 0; k < width; k++)
      b[k] = p[width - 1 - k];
    wd_state_w_bytes(w, b, width);
  }
}

void wd_state_w_u16v(wd_state_w_t *w, const uint16_t *v, size_t cnt) { w_vec(w, v, cnt, 2); }
void wd_state_w_u32v(wd_state_w_t *w, const uint32_t *v, size_t cnt) { w_vec(w, v, cnt, 4); }
void wd_state_w_u64v(wd_state_w_t *w, const uint64_t *v, size_t cnt) { w_vec(w, v, cnt, 8); }

void wd_state_w_begin(wd_state_w_t *w, const char tag[4]) {
  wd_state_w_bytes(w, tag, 4);
  w->sec_at = w->total;
  w->in_section = 1;
  wd_state_w_u64(w, 0); /* patched by wd_state_w_end */
}

void wd_state_w_end(wd_state_w_t *w) {
  if (!w->in_section)
    return;
  w->in_section = 0;
  if (w->patch_cnt == w->patch_cap) {
    w->patch_cap = w->patch_cap ? w->patch_cap * 2 : 8;
    w->patch_at = wd_realloc(w->patch_at, w->patch_cap * sizeof(uint64_t));
    w->patch_len = wd_realloc(w->patch_len, w->patch_cap * sizeof(uint64_t));
  }
  w->patch_at[w->patch_cnt] = w->sec_at;
  w->patch_len[w->patch_cnt++] = w->total - w->sec_at - 8;
}

/* ==== Reader ==== */

const void *wd_state_r_bytes(wd_state_r_t *r, size_t len) {
  if (r->err || (size_t)(r->end - r->p) < len) {
    r->err = 1;
    return NULL;
  }
  const void *p = r->p;
  r->p += len;
  return p;
}

uint8_t wd_state_r_u8(wd_state_r_t *r) {
  const uint8_t *b = wd_state_r_bytes(r, 1);
  return b ? b[0] : 0;
}

uint32_t wd_state_r_u32(wd_state_r_t *r) {
  const uint8_t *b = wd_state_r_bytes(r, 4);
  return b ? (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                 (uint32_t)b[3] << 24
           : 0;
}

uint64_t wd_state_r_u64(wd_state_r_t *r) {
  const uint8_t *b = wd_state_r_bytes(r, 8);
  uint64_t v = 0;
  if (b)
    for (int i = 7; i >= 0; i--)
      v = v << 8 | b[i];
  return v;
}

int64_t wd_state_r_i64(wd_state_r_t *r) { return (int64_t)wd_state_r_u64(r); }

double wd_state_r_f64(wd_state_r_t *r) {
  uint64_t u = wd_state_r_u64(r);
  double v;
  memcpy(&v, &u, 8);
  return v;
}

const char *wd_state_r_str(wd_state_r_t *r, size_t *len) {
  uint32_t n = wd_state_r_u32(r);
  const char *s = wd_state_r_bytes(r, n);
  *len = s ? n : 0;
  return s ? s : "";
}

int wd_state_r_fits(const wd_state_r_t *r, uint64_t cnt, size_t item_len) {
  return !r->err && item_len && cnt <= (uint64_t)(r->end - r->p) / item_len;
}

static int r_vec(wd_state_r_t *r, void *dst, size_t cnt, size_t width) {
  if (!wd_state_r_fits(r, cnt, width)) {
    r->err = 1;
    return -1;
  }
  const uint8_t *b = wd_state_r_bytes(r, cnt * width);
  if (WD_HOST_LE) {
    memcpy(dst, b, cnt * width);
    return 0;
  }
  uint8_t *p = dst;
  for (size_t i = 0; i < cnt; i++, p += width, b += width)
    for (size_t k = 0; k < width; k++)
      p[k] = b[width - 1 - k];
  return 0;
}

int wd_state_r_u16v(wd_state_r_t *r, uint16_t *dst, size_t cnt) { return r_vec(r, dst, cnt, 2); }
int wd_state_r_u32v(wd_state_r_t *r, uint32_t *dst, size_t cnt) { return r_vec(r, dst, cnt, 4); }
int wd_state_r_u64v(wd_state_r_t *r, uint64_t *dst, size_t cnt) { return r_vec(r, dst, cnt, 8); }

/* ==== Offsets ==== */

void wd_state_offsets_set(wd_state_offsets_t *offs, const char *topic,
                          int32_t partition, int64_t offset) {
  for (size_t i = 0; i < offs->cnt; i++) {
    if (offs->v[i].partition == partition && strcmp(offs->v[i].topic, topic) == 0) {
      offs->v[i].offset = offset;
      return;
    }
  }
  if (offs->cnt == offs->cap) {
    offs->cap = offs->cap ? offs->cap * 2 : 16;
    offs->v = wd_realloc(offs->v, offs->cap * sizeof(*offs->v));
  }
  offs->v[offs->cnt++] = (wd_state_offset_t){wd_strdup(topic), partition, offset, INT64_MIN};
}

void wd_state_offsets_set_event(wd_state_offsets_t *offs, const char *topic,
                                int32_t partition, int64_t ms) {
  for (size_t i = 0; i < offs->cnt; i++) {
    if (offs->v[i].partition == partition && strcmp(offs->v[i].topic, topic) == 0) {
      if (ms > offs->v[i].event_ms)
        offs->v[i].event_ms = ms;
      return;
    }
  }
  wd_state_offsets_set(offs, topic, partition, -1);
  offs->v[offs->cnt - 1].event_ms = ms;
}

int64_t wd_state_offsets_get_event(const wd_state_offsets_t *offs, const char *topic,
                                   int32_t partition) {
  for (size_t i = 0; i < offs->cnt; i++)
    if (offs->v[i].partition == partition && strcmp(offs->v[i].topic, topic) == 0)
      return offs->v[i].event_ms;
  return INT64_MIN;
}

int64_t wd_state_offsets_get(const wd_state_offsets_t *offs, const char *topic,
                             int32_t partition) {
  for (size_t i = 0; i < offs->cnt; i++)
    if (offs->v[i].partition == partition && strcmp(offs->v[i].topic, topic) == 0)
      return offs->v[i].offset;
  return -1;
}

void wd_state_offsets_clear(wd_state_offsets_t *offs) {
  for (size_t i = 0; i < offs->cnt; i++)
    wd_free(offs->v[i].topic);
  wd_free(offs->v);
  memset(offs, 0, sizeof(*offs));
}

/* OFFS section body: u32 count, then per entry: str topic, u32 partition,
 * i64 next offset. */
void wd_state_offsets_save(wd_state_w_t *w, const wd_state_offsets_t *offs) {
  wd_state_w_begin(w, "OFFS");
  wd_state_w_u32(w, offs ? (uint32_t)offs->cnt : 0);
  for (size_t i = 0; offs && i < offs->cnt; i++) {
    wd_state_w_str(w, offs->v[i].topic, strlen(offs->v[i].topic));
    wd_state_w_u32(w, (uint32_t)offs->v[i].partition);
    wd_state_w_i64(w, offs->v[i].offset);
  }
  wd_state_w_end(w);
  size_t known = 0;
  for (size_t i = 0; offs && i < offs->cnt; i++)
    known += offs->v[i].event_ms != INT64_MIN;
  if (!known)
    return;
  wd_state_w_begin(w, "PTIM");
  wd_state_w_u32(w, (uint32_t)offs->cnt);
  for (size_t i = 0; i < offs->cnt; i++) {
    wd_state_w_str(w, offs->v[i].topic, strlen(offs->v[i].topic));
    wd_state_w_u32(w, (uint32_t)offs->v[i].partition);
    wd_state_w_i64(w, offs->v[i].event_ms);
  }
  wd_state_w_end(w);
}

/* An OFFS or PTIM body: u32 count, then (str topic, u32 partition, i64
 * value) each, the value going to \p set (a PTIM entry INT64_MIN: none). */
static int offsets_read(wd_state_r_t *r, wd_state_offsets_t *offs,
                        void (*set)(wd_state_offsets_t *, const char *, int32_t, int64_t),
                        int64_t none) {
  uint32_t n = wd_state_r_u32(r);
  if (!wd_state_r_fits(r, n, 16))
    return -1;
  for (uint32_t i = 0; i < n; i++) {
    size_t len;
    const char *t = wd_state_r_str(r, &len);
    int32_t part = (int32_t)wd_state_r_u32(r);
    int64_t v = wd_state_r_i64(r);
    if (r->err)
      return -1;
    if (offs && v != none) {
      char *topic = wd_strndup(t, len);
      set(offs, topic, part, v);
      wd_free(topic);
    }
  }
  return r->err ? -1 : 0;
}

int wd_state_offsets_load_events(wd_state_r_t *r, wd_state_offsets_t *offs) {
  return offsets_read(r, offs, wd_state_offsets_set_event, INT64_MIN);
}

/* (an offset is never INT64_MIN: every entry is kept) */
int wd_state_offsets_load(wd_state_r_t *r, wd_state_offsets_t *offs) {
  return offsets_read(r, offs, wd_state_offsets_set, INT64_MIN);
}

/* ==== Files ==== */

void wd_state_path(char *dst, size_t dst_cap, const char *dir) {
  snprintf(dst, dst_cap, "%s/%s", dir, WD_STATE_FILE);
}

int wd_state_exists(const char *dir) {
  char path[4096];
  struct stat sb;
  wd_state_path(path, sizeof(path), dir);
  return stat(path, &sb) == 0;
}

static void put_header(uint8_t hdr[WD_STATE_HEADER_LEN], uint64_t len, uint64_t sum) {
  memset(hdr, 0, WD_STATE_HEADER_LEN);
  memcpy(hdr, WD_STATE_MAGIC, 8); /* includes the NUL */
  for (int i = 0; i < 4; i++) {
    hdr[8 + i] = (uint8_t)(WD_STATE_VERSION >> (8 * i));
    hdr[12 + i] = (uint8_t)(WD_STATE_HEADER_LEN >> (8 * i));
  }
  for (int i = 0; i < 8; i++) {
    hdr[16 + i] = (uint8_t)(len >> (8 * i));
    hdr[24 + i] = (uint8_t)(sum >> (8 * i));
  }
}

static int pwrite_all(int fd, const void *buf, size_t len, off_t at) {
  const uint8_t *p = buf;
  while (len) {
    ssize_t n = pwrite(fd, p, len, at);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    p += n, len -= (size_t)n, at += n;
  }
  return 0;
}

static int mkdir_p(const char *dir) {
  char tmp[4096];
  size_t n = strlen(dir);
  if (n == 0 || n >= sizeof(tmp))
    return errno = ENAMETOOLONG, -1;
  memcpy(tmp, dir, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (tmp[i] != '/' && tmp[i] != '\0')
      continue;
    char c = tmp[i];
    tmp[i] = '\0';
    if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
      return -1;
    tmp[i] = c;
  }
  return 0;
}

wd_state_w_t *wd_state_w_open(const char *dir, char *errstr, size_t errstr_size) {
  uint8_t hdr[WD_STATE_HEADER_LEN];

  if (mkdir_p(dir) != 0) {
    wd_errstr_set(errstr, errstr_size, "state.dir %s: %s", dir, strerror(errno));
    return NULL;
  }
  wd_state_w_t *w = wd_calloc(1, sizeof(*w));
  wd_state_path(w->path, sizeof(w->path), dir);
  snprintf(w->tmp, sizeof(w->tmp), "%s.tmp", w->path);
  w->fd = open(w->tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (w->fd < 0) {
    wd_errstr_set(errstr, errstr_size, "%s: %s", w->tmp, strerror(errno));
    wd_free(w);
    return NULL;
  }
  w->dir = wd_strdup(dir);
  w->buf = wd_malloc(WBUF_CAP);
  w->xs = XXH3_createState();
  put_header(hdr, 0, 0);
  if (write(w->fd, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr))
    w->err = errno ? errno : EIO;
  return w;
}

wd_err_t wd_state_w_close(wd_state_w_t *w, uint64_t *bytes, char *errstr,
                          size_t errstr_size) {
  uint8_t hdr[WD_STATE_HEADER_LEN];
  int dfd = -1;

  w_flush(w);

  /* Section lengths, then the header, now that both are known. */
  for (size_t i = 0; i < w->patch_cnt && !w->err; i++) {
    uint8_t b[8];
    for (int k = 0; k < 8; k++)
      b[k] = (uint8_t)(w->patch_len[i] >> (8 * k));
    if (pwrite_all(w->fd, b, 8, (off_t)(WD_STATE_HEADER_LEN + w->patch_at[i])) != 0)
      w->err = errno;
  }
  /* Hash the payload as it is on disk: section lengths were patched after
   * the bytes went out, and reading back (from the page cache) also checks
   * that what the kernel took is what we meant to write. */
  uint64_t sum = 0;
  if (!w->err) {
    XXH3_64bits_reset(w->xs);
    uint64_t left = w->total;
    off_t at = WD_STATE_HEADER_LEN;
    while (left && !w->err) {
      size_t n = left < WBUF_CAP ? (size_t)left : WBUF_CAP;
      ssize_t got = pread(w->fd, w->buf, n, at);
      if (got <= 0) {
        w->err = got < 0 ? errno : EIO;
        break;
      }
      XXH3_64bits_update(w->xs, w->buf, (size_t)got);
      left -= (uint64_t)got, at += got;
    }
    sum = XXH3_64bits_digest(w->xs);
  }
  put_header(hdr, w->total, sum);
  if (!w->err && pwrite_all(w->fd, hdr, sizeof(hdr), 0) != 0)
    w->err = errno;
  if (!w->err && fsync(w->fd) != 0)
    w->err = errno;
  if (close(w->fd) != 0 && !w->err)
    w->err = errno;
  if (!w->err && rename(w->tmp, w->path) != 0)
    w->err = errno;
  if (!w->err) {
    /* The rename is durable only once the directory entry is. */
    dfd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0)
      w->err = errno;
    if (dfd >= 0)
      close(dfd);
  }
  wd_err_t ret = WD_OK;
  if (w->err) {
    unlink(w->tmp);
    wd_errstr_set(errstr, errstr_size, "checkpoint %s: %s", w->path, strerror(w->err));
    ret = WD_ERR_IO;
  } else if (bytes) {
    *bytes = WD_STATE_HEADER_LEN + w->total;
  }
  XXH3_freeState(w->xs);
  wd_free(w->buf);
  wd_free(w->patch_at);
  wd_free(w->patch_len);
  wd_free(w->dir);
  wd_free(w);
  return ret;
}

static uint64_t le64(const uint8_t *b) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = v << 8 | b[i];
  return v;
}

static uint32_t le32(const uint8_t *b) {
  return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
         (uint32_t)b[3] << 24;
}

wd_err_t wd_state_foreach(const char *dir, wd_state_section_cb_t *cb, void *opaque,
                          uint64_t *bytes, char *errstr, size_t errstr_size) {
  char path[4096], why[256];
  struct stat sb;
  void *map = MAP_FAILED;
  wd_err_t ret = WD_ERR_STATE;
  int fd;

  wd_state_path(path, sizeof(path), dir);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    wd_errstr_set(errstr, errstr_size, "checkpoint %s: %s", path, strerror(e));
    return e == ENOENT ? WD_ERR_IO : WD_ERR_STATE;
  }
  if (fstat(fd, &sb) != 0) {
    snprintf(why, sizeof(why), "%s", strerror(errno));
    goto fail;
  }
  if ((uint64_t)sb.st_size < WD_STATE_HEADER_LEN) {
    snprintf(why, sizeof(why), "truncated: %lld bytes, shorter than the header",
             (long long)sb.st_size);
    goto fail;
  }
  /* populate: the whole file is read anyway, one fault per page costs more */
  map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
  if (map == MAP_FAILED) {
    snprintf(why, sizeof(why), "%s", strerror(errno));
    goto fail;
  }
  const uint8_t *b = map;
  if (memcmp(b, WD_STATE_MAGIC, 8) != 0) {
    snprintf(why, sizeof(why), "not a wiredup checkpoint (bad magic)");
    goto fail;
  }
  uint32_t version = le32(b + 8), hlen = le32(b + 12);
  if (version != WD_STATE_VERSION || hlen != WD_STATE_HEADER_LEN) {
    snprintf(why, sizeof(why), "format version %u, this wiredup reads %u", version,
             WD_STATE_VERSION);
    goto fail;
  }
  uint64_t plen = le64(b + 16), sum = le64(b + 24);
  if (plen != (uint64_t)sb.st_size - WD_STATE_HEADER_LEN) {
    snprintf(why, sizeof(why), "truncated: header says %llu payload bytes, file has %llu",
             (unsigned long long)plen,
             (unsigned long long)((uint64_t)sb.st_size - WD_STATE_HEADER_LEN));
    goto fail;
  }
  const uint8_t *payload = b + WD_STATE_HEADER_LEN;
  if (XXH3_64bits(payload, plen) != sum) {
    snprintf(why, sizeof(why), "checksum mismatch: the file is corrupt");
    goto fail;
  }

  wd_state_r_t r = {payload, payload + plen, 0};
  while (r.p < r.end) {
    const char *tag = wd_state_r_bytes(&r, 4);
    uint64_t slen = wd_state_r_u64(&r);
    if (r.err || slen > (uint64_t)(r.end - r.p)) {
      snprintf(why, sizeof(why), "bad section table");
      goto fail;
    }
    wd_state_r_t sr = {r.p, r.p + slen, 0};
    r.p += slen;
    char t[5] = {tag[0], tag[1], tag[2], tag[3], 0};
    wd_err_t e = cb(opaque, t, &sr, why, sizeof(why));
    if (e == WD_OK && sr.p != sr.end)
      snprintf(why, sizeof(why), "section %s: %zu bytes left over", t,
               (size_t)(sr.end - sr.p)),
          e = WD_ERR_STATE;
    if (e != WD_OK) {
      if (e == WD_ERR_STATE && strncmp(why, "section", 7) != 0 &&
          strncmp(why, "settings", 8) != 0) {
        char tmp[sizeof(why)];
        memcpy(tmp, why, sizeof(tmp));
        snprintf(why, sizeof(why), "section %s: %.200s", t, tmp);
      }
      goto fail;
    }
  }
  ret = WD_OK;
  if (bytes)
    *bytes = (uint64_t)sb.st_size;
  goto done;

fail:
  wd_errstr_set(errstr, errstr_size, "checkpoint %s: %s", path, why);
done:
  if (map != MAP_FAILED)
    munmap(map, (size_t)sb.st_size);
  close(fd);
  return ret;
}
