/* fprec.c - the fingerprint record (fprec.h): a wd_fp_t as a fixed,
 * versioned little-endian byte layout and back. The term counts are
 * recounted on decode (cheap to remake, large to ship); everything else the
 * cluster stage reads travels. Every count read is checked against the bytes
 * left before it sizes anything. */
#include "wiredup/fprec.h"
#include "wiredup/simhash.h"
#include "wiredup/topv.h"

#include <stdint.h>
#include <string.h>

enum {
  F_SOURCE = 1u << 0,
  F_TS = 1u << 1,
  F_SKETCH = 1u << 2,
  F_PRED = 1u << 3,
  F_CUT = 1u << 4,
  F_ALL = (1u << 5) - 1,
};

struct wd_fprec_decoder_s {
  wd_termcount_t *tc;
  uint32_t num_perm;
};

/* ==== Writing ==== */

static inline void put_u16(uint8_t *b, uint16_t v) {
  b[0] = (uint8_t)v;
  b[1] = (uint8_t)(v >> 8);
}

static inline void put_u32(uint8_t *b, uint32_t v) {
  for (int i = 0; i < 4; i++)
    b[i] = (uint8_t)(v >> (8 * i));
}

static inline void put_u64(uint8_t *b, uint64_t v) {
  for (int i = 0; i < 8; i++)
    b[i] = (uint8_t)(v >> (8 * i));
}

/* Arrays of little-endian values: a memcpy on little-endian hosts. */
static void put_u64v(uint8_t *b, const uint64_t *v, size_t cnt) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  if (cnt)
    memcpy(b, v, 8 * cnt);
#else
  for (size_t i = 0; i < cnt; i++)
    put_u64(b + 8 * i, v[i]);
#endif
}

static void put_u32v(uint8_t *b, const uint32_t *v, size_t cnt) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  if (cnt)
    memcpy(b, v, 4 * cnt);
#else
  for (size_t i = 0; i < cnt; i++)
    put_u32(b + 4 * i, v[i]);
#endif
}

/* Append LEB128 \p v; dst has room reserved. */
static inline void w_varint(wd_buf_t *dst, uint64_t v) {
  uint8_t *b = (uint8_t *)dst->p + dst->len;
  size_t n = 0;
  while (v >= 0x80) {
    b[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  b[n++] = (uint8_t)v;
  dst->len += n;
}

static void w_str(wd_buf_t *dst, const char *s, size_t len) {
  wd_buf_reserve(dst, 10 + len);
  w_varint(dst, len);
  if (len)
    memcpy(dst->p + dst->len, s, len);
  dst->len += len;
}

void wd_fprec_encode(const wd_fp_t *fp, const wd_fprec_src_t *src, wd_buf_t *dst) {
  const wd_fprec_src_t none = {NULL, 0, -1, -1, -1};
  if (!src)
    src = &none;
  const int cut = fp->nlines >= WD_FP_MAX_LINES;
  const int sketch = !cut && fp->sketched;
  const int pred = !cut && fp->npred > 0;
  unsigned flags = (fp->has_source ? F_SOURCE : 0) | (fp->has_ts ? F_TS : 0) |
                   (sketch ? F_SKETCH : 0) | (pred ? F_PRED : 0) | (cut ? F_CUT : 0);

  wd_buf_reserve(dst, WD_FPREC_HEADER_LEN);
  uint8_t *h = (uint8_t *)dst->p + dst->len;
  h[0] = WD_FPREC_MAGIC;
  h[1] = WD_FPREC_VERSION;
  h[2] = (uint8_t)flags;
  h[3] = fp->nnum;
  put_u32(h + 4, (uint32_t)src->partition);
  put_u64(h + 8, (uint64_t)src->offset);
  put_u64(h + 16, (uint64_t)src->msg_ts_ms);
  put_u64(h + 24, (uint64_t)fp->ts_ms);
  dst->len += WD_FPREC_HEADER_LEN;

  w_str(dst, src->topic, src->topic ? src->topic_len : 0);
  w_str(dst, fp->id.p, fp->id.len);
  if (fp->has_source)
    w_str(dst, fp->source.p, fp->source.len);
  w_str(dst, fp->warning.p, fp->warning.len);
  wd_buf_reserve(dst, 2u * fp->nnum);
  for (size_t i = 0; i < fp->nnum; i++)
    put_u16((uint8_t *)dst->p + dst->len + 2 * i, fp->num[i]);
  dst->len += 2u * fp->nnum;
  if (cut) {
    w_str(dst, fp->norm.p, fp->norm.len);
    dst->p[dst->len] = '\0';
    return;
  }
  wd_buf_reserve(dst, 10 + 8 * fp->ntok);
  w_varint(dst, fp->ntok);
  uint8_t *t = (uint8_t *)dst->p + dst->len;
  put_u64v(t, fp->tok, fp->ntok);
  dst->len += 8 * fp->ntok;

  /* nlines: hashes 8, two varints at most 10 each, a bitmap bit */
  const size_t nl = fp->nlines;
  wd_buf_reserve(dst, 10 + nl * 29 + nl / 8 + 1 + 20 + 4 * (size_t)fp->num_perm);
  w_varint(dst, nl);
  uint8_t *b = (uint8_t *)dst->p + dst->len;
  put_u64v(b, fp->lines, nl);
  dst->len += 8 * nl;
  uint64_t end = 0; /* the token after the previous line's last */
  for (size_t i = 0; i < nl; i++) {
    const uint32_t first = fp->line_tok[2 * i], cnt = fp->line_tok[2 * i + 1];
    w_varint(dst, first - end);
    w_varint(dst, cnt);
    end = (uint64_t)first + cnt;
  }
  if (pred) {
    b = (uint8_t *)dst->p + dst->len;
    memset(b, 0, (nl + 7) / 8);
    for (size_t i = 0; i < nl; i++)
      if (fp->pred[i])
        b[i / 8] |= (uint8_t)(1u << (i % 8));
    dst->len += (nl + 7) / 8;
  }
  if (sketch) {
    w_varint(dst, fp->nset);
    w_varint(dst, fp->num_perm);
    b = (uint8_t *)dst->p + dst->len;
    put_u32v(b, fp->sig, fp->num_perm);
    dst->len += 4 * (size_t)fp->num_perm;
  }
  dst->p[dst->len] = '\0';
}

/* ==== Reading ==== */

wd_fprec_decoder_t *wd_fprec_decoder_new(const wd_config_t *cfg, char *errstr,
                                         size_t errstr_size) {
  if (wd_config_validate(cfg, errstr, errstr_size) != WD_OK)
    return NULL;
  wd_fprec_decoder_t *dec = wd_calloc(1, sizeof(*dec));
  /* the fingerprint stage's term counter: the default SimHash seed, which
   * wd_fingerprinter_new uses too */
  wd_simhash_opts_t smo;
  wd_simhash_opts_default(&smo);
  dec->tc = wd_termcount_new(smo.seed);
  dec->num_perm = (uint32_t)cfg->minhash_num_perm;
  return dec;
}

void wd_fprec_decoder_destroy(wd_fprec_decoder_t *dec) {
  if (!dec)
    return;
  wd_termcount_destroy(dec->tc);
  wd_free(dec);
}

/* A cursor over the record; every read checks the bytes left first. */
typedef struct rd_s {
  const uint8_t *p, *start, *end;
} rd_t;

static inline size_t r_left(const rd_t *r) { return (size_t)(r->end - r->p); }

static inline uint16_t get_u16(const uint8_t *b) {
  return (uint16_t)(b[0] | (unsigned)b[1] << 8);
}

static inline uint32_t get_u32(const uint8_t *b) {
  return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static inline uint64_t get_u64(const uint8_t *b) {
  return (uint64_t)get_u32(b) | (uint64_t)get_u32(b + 4) << 32;
}

static void get_u64v(uint64_t *v, const uint8_t *b, size_t cnt) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  if (cnt)
    memcpy(v, b, 8 * cnt);
#else
  for (size_t i = 0; i < cnt; i++)
    v[i] = get_u64(b + 8 * i);
#endif
}

static void get_u32v(uint32_t *v, const uint8_t *b, size_t cnt) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  if (cnt)
    memcpy(v, b, 4 * cnt);
#else
  for (size_t i = 0; i < cnt; i++)
    v[i] = get_u32(b + 4 * i);
#endif
}

/* A LEB128 into \p v. @returns 0, or -1 if truncated or over 64 bits. */
static int r_varint(rd_t *r, uint64_t *v) {
  uint64_t x = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    if (r->p == r->end)
      return -1;
    const uint8_t c = *r->p++;
    if (shift == 63 && c > 1)
      return -1;
    x |= (uint64_t)(c & 0x7f) << shift;
    if (!(c & 0x80)) {
      *v = x;
      return 0;
    }
  }
  return -1;
}

/* A length-prefixed string of at least \p min bytes. */
static wd_err_t r_str(rd_t *r, const char *what, size_t min, const char **s, size_t *len,
                      char *why, size_t why_size) {
  uint64_t n;
  const size_t at = (size_t)(r->p - r->start);
  WD_RETURN_IF(r_varint(r, &n) != 0, WD_ERR_INPUT, why, why_size,
               "fingerprint record: truncated at %s length (offset %zu)", what, at);
  WD_RETURN_IF(n > r_left(r), WD_ERR_INPUT, why, why_size,
               "fingerprint record: %s of %llu bytes, %zu left (offset %zu)", what,
               (unsigned long long)n, r_left(r), at);
  WD_RETURN_IF(n < min, WD_ERR_INPUT, why, why_size, "fingerprint record: empty %s", what);
  *s = (const char *)r->p;
  *len = (size_t)n;
  r->p += n;
  return WD_OK;
}

static void buf_set(wd_buf_t *b, const char *s, size_t len) {
  wd_buf_clear(b);
  wd_buf_reserve(b, len);
  if (len)
    memcpy(b->p, s, len);
  b->len = len;
  b->p[len] = '\0';
}

/* Room for \p cap learnable lines (at most WD_FP_MAX_LINES), as engine.c's
 * fp_lines_grow: the arrays only grow. */
static void lines_reserve(wd_fp_t *fp, size_t cap) {
  if (fp->lines_cap >= cap && fp->lines)
    return;
  size_t n = fp->lines_cap ? fp->lines_cap : 256;
  while (n < cap)
    n *= 4;
  fp->lines_cap = n < WD_FP_MAX_LINES ? n : WD_FP_MAX_LINES;
  wd_free(fp->lines);
  wd_free(fp->line_tok);
  wd_free(fp->pred);
  fp->lines = wd_malloc(fp->lines_cap * sizeof(*fp->lines));
  fp->line_tok = wd_malloc(2 * fp->lines_cap * sizeof(*fp->line_tok));
  fp->pred = wd_malloc(fp->lines_cap);
}

static size_t tok_hwm; /* the most room any decoded fp->tok has needed */

/* Room for \p ntok token hashes in fp->tok and as many again above them,
 * as engine.c's fp_tokens leaves (the compacted copy a sketch is made of). */
static void tokens_reserve(wd_fp_t *fp, size_t ntok) {
  if (2 * ntok <= fp->tok_cap && fp->tok)
    return;
  fp->tok_cap = wd_cap_hwm(&tok_hwm, 2 * ntok > 2 ? 2 * ntok : 2);
  wd_free(fp->tok);
  fp->tok = wd_malloc(fp->tok_cap * sizeof(*fp->tok));
}

#define BAD(...) WD_RETURN_IF(1, WD_ERR_INPUT, why, why_size, "fingerprint record: " __VA_ARGS__)

static wd_err_t fprec_read(wd_fprec_decoder_t *dec, const void *src, size_t len,
                           wd_fp_t *fp, wd_fprec_src_t *coords, char *why,
                           size_t why_size) {
  rd_t r = {src, src, (const uint8_t *)src + len};
  wd_fprec_src_t c;
  const char *s;
  size_t slen;
  uint64_t v;

  fp->err = WD_ERR_INPUT; /* until the whole record has been read */
  fp->reason[0] = '\0';
  fp->sketched = 0;
  fp->npred = 0;
  fp->ntok = 0;
  fp->nlines = 0;
  fp->nset = 0;
  if (len == 0)
    BAD("empty");
  WD_RETURN_IF(r.p[0] != WD_FPREC_MAGIC, WD_ERR_INPUT, why, why_size,
               "not a fingerprint record (first byte 0x%02x, not 0x%02x)", r.p[0],
               WD_FPREC_MAGIC);
  if (len < 2)
    BAD("truncated before the version");
  if (r.p[1] != WD_FPREC_VERSION)
    BAD("format version %u, this build reads %u", r.p[1], WD_FPREC_VERSION);
  if (len < WD_FPREC_HEADER_LEN)
    BAD("truncated header (%zu of %u bytes)", len, WD_FPREC_HEADER_LEN);
  const unsigned flags = r.p[2];
  if (flags & ~(unsigned)F_ALL)
    BAD("unknown flags 0x%02x", flags);
  if (r.p[3] > WD_TOPV_NUMS)
    BAD("%u numbers, at most %d", r.p[3], WD_TOPV_NUMS);
  fp->nnum = r.p[3];
  c.partition = (int32_t)get_u32(r.p + 4);
  c.offset = (int64_t)get_u64(r.p + 8);
  c.msg_ts_ms = (int64_t)get_u64(r.p + 16);
  fp->ts_ms = (int64_t)get_u64(r.p + 24);
  fp->has_ts = (flags & F_TS) != 0;
  r.p += WD_FPREC_HEADER_LEN;

  WD_FORWARD_IF_ERR(r_str(&r, "topic", 0, &c.topic, &c.topic_len, why, why_size));
  WD_FORWARD_IF_ERR(r_str(&r, "id", 1, &s, &slen, why, why_size));
  if (memchr(s, '\0', slen))
    BAD("id has a NUL byte");
  buf_set(&fp->id, s, slen);
  fp->has_source = (flags & F_SOURCE) != 0;
  wd_buf_clear(&fp->source);
  if (fp->has_source) {
    WD_FORWARD_IF_ERR(r_str(&r, "source", 0, &s, &slen, why, why_size));
    buf_set(&fp->source, s, slen);
  }
  WD_FORWARD_IF_ERR(r_str(&r, "warning", 0, &s, &slen, why, why_size));
  buf_set(&fp->warning, s, slen);
  if (r_left(&r) < 2u * fp->nnum)
    BAD("truncated at the numbers (offset %zu)", (size_t)(r.p - r.start));
  for (size_t i = 0; i < fp->nnum; i++)
    fp->num[i] = get_u16(r.p + 2 * i);
  r.p += 2u * fp->nnum;

  if (flags & F_CUT) {
    /* the cluster stage filters the canonical text again (engine.c
     * engine_sketch): it needs norm and room for every line */
    if (flags & (F_SKETCH | F_PRED))
      BAD("a cut record with a sketch or hint flags (0x%02x)", flags);
    WD_FORWARD_IF_ERR(r_str(&r, "text", 0, &s, &slen, why, why_size));
    buf_set(&fp->norm, s, slen);
    wd_buf_clear(&fp->kept);
    lines_reserve(fp, WD_FP_MAX_LINES);
    fp->nlines = WD_FP_MAX_LINES;
    goto done;
  }
  const size_t at_tok = (size_t)(r.p - r.start);
  if (r_varint(&r, &v) != 0)
    BAD("truncated at the token count (offset %zu)", at_tok);
  if (v > r_left(&r) / 8)
    BAD("%llu tokens, %zu bytes left (offset %zu)", (unsigned long long)v, r_left(&r),
        at_tok);
  if (v >= UINT32_MAX)
    BAD("%llu tokens", (unsigned long long)v); /* line_tok holds 32-bit indexes */
  tokens_reserve(fp, (size_t)v);
  fp->ntok = (size_t)v;
  get_u64v(fp->tok, r.p, fp->ntok);
  r.p += 8 * fp->ntok;
  wd_buf_clear(&fp->kept); /* the cluster stage reads the tokens only */
  wd_buf_clear(&fp->norm);

  const size_t at_lines = (size_t)(r.p - r.start);
  if (r_varint(&r, &v) != 0)
    BAD("truncated at the line count (offset %zu)", at_lines);
  if (v >= WD_FP_MAX_LINES)
    BAD("%llu lines in a record that is not cut (at most %d)", (unsigned long long)v,
        WD_FP_MAX_LINES - 1);
  /* each line takes 8 bytes of hash and at least 2 of token range */
  if (v * 10 > r_left(&r))
    BAD("%llu lines, %zu bytes left (offset %zu)", (unsigned long long)v, r_left(&r),
        at_lines);
  const size_t nl = (size_t)v;
  lines_reserve(fp, nl);
  get_u64v(fp->lines, r.p, nl);
  r.p += 8 * nl;
  uint64_t end = 0;
  for (size_t i = 0; i < nl; i++) {
    uint64_t gap, cnt;
    if (r_varint(&r, &gap) != 0 || r_varint(&r, &cnt) != 0)
      BAD("truncated at the token range of line %zu", i);
    if (gap > fp->ntok - end || cnt > fp->ntok - end - gap)
      BAD("line %zu: tokens %llu+%llu past the %zu tokens", i,
          (unsigned long long)(end + (gap < fp->ntok ? gap : fp->ntok)),
          (unsigned long long)cnt, fp->ntok);
    fp->line_tok[2 * i] = (uint32_t)(end + gap);
    fp->line_tok[2 * i + 1] = (uint32_t)cnt;
    end += gap + cnt;
  }
  fp->nlines = nl;

  if (flags & F_PRED) {
    const size_t nb = (nl + 7) / 8;
    if (nb > r_left(&r))
      BAD("truncated at the hint bitmap");
    for (size_t i = 0; i < nl; i++) {
      fp->pred[i] = (uint8_t)((r.p[i / 8] >> (i % 8)) & 1);
      fp->npred += fp->pred[i];
    }
    if (nl % 8 && r.p[nb - 1] >> (nl % 8))
      BAD("hint bits set past line %zu", nl);
    if (!fp->npred)
      BAD("hint flag with no line dropped");
    r.p += nb;
  }

  if (flags & F_SKETCH) {
    uint64_t nset, np;
    if (r_varint(&r, &nset) != 0 || r_varint(&r, &np) != 0)
      BAD("truncated at the sketch");
    if (nset > UINT32_MAX)
      BAD("%llu shingles", (unsigned long long)nset);
    if (np != dec->num_perm || np > fp->num_perm)
      BAD("signature of %llu values, minhash.num_perm is %u", (unsigned long long)np,
          dec->num_perm);
    if (4 * np > r_left(&r))
      BAD("truncated signature (%zu of %llu bytes)", r_left(&r),
          (unsigned long long)(4 * np));
    get_u32v(fp->sig, r.p, (size_t)np);
    r.p += 4 * np;
    fp->nset = (uint32_t)nset;
    /* the words of what was sketched: the tokens less the hint's lines
     * (counted from a compacted copy above them, as wd_fingerprint does) */
    const uint64_t *t = fp->tok;
    size_t nt = fp->ntok;
    if (fp->npred && fp->ntok) {
      uint64_t *w = fp->tok + fp->ntok;
      size_t from = 0;
      nt = 0;
      for (size_t i = 0; i < nl; i++) {
        if (!fp->pred[i])
          continue;
        const size_t first = fp->line_tok[2 * i];
        memcpy(w + nt, fp->tok + from, (first - from) * sizeof(*w));
        nt += first - from;
        from = first + fp->line_tok[2 * i + 1];
      }
      memcpy(w + nt, fp->tok + from, (fp->ntok - from) * sizeof(*w));
      nt += fp->ntok - from;
      t = w;
    }
    wd_terms_count(dec->tc, t, nt, &fp->terms);
    fp->sketched = 1;
  }

done:
  if (r.p != r.end)
    BAD("%zu bytes after the end", r_left(&r));
  if (coords)
    *coords = c;
  fp->err = WD_OK;
  return WD_OK;
}

wd_err_t wd_fprec_decode(wd_fprec_decoder_t *dec, const void *src, size_t len,
                         wd_fp_t *fp, wd_fprec_src_t *coords, char *why,
                         size_t why_size) {
  char reason[sizeof(fp->reason)] = "";
  const wd_err_t err = fprec_read(dec, src, len, fp, coords, reason, sizeof(reason));
  if (err != WD_OK) {
    /* a failed record commits as a malformed one, with this reason */
    memcpy(fp->reason, reason, sizeof(reason));
    wd_errstr_set(why, why_size, "%s", reason);
  }
  return err;
}

int wd_fprec_peek(const void *src, size_t len, int32_t *partition, int64_t *offset,
                  int64_t *event_ms) {
  const uint8_t *b = src;
  if (len < WD_FPREC_HEADER_LEN || b[0] != WD_FPREC_MAGIC || b[1] != WD_FPREC_VERSION ||
      (b[2] & ~(unsigned)F_ALL))
    return -1;
  *partition = (int32_t)get_u32(b + 4);
  *offset = (int64_t)get_u64(b + 8);
  *event_ms = (int64_t)get_u64((b[2] & F_TS) ? b + 24 : b + 16);
  return 0;
}

/* ==== The order record ==== */

static inline uint64_t zigzag(uint64_t d) { /* d: a signed delta, wrapped */
  return (d << 1) ^ (uint64_t)-(int64_t)(d >> 63);
}

static inline uint64_t unzigzag(uint64_t z) { return (z >> 1) ^ (uint64_t)-(int64_t)(z & 1); }

wd_fprec_kind_t wd_fprec_kind(const void *src, size_t len) {
  const uint8_t *b = src;
  if (len == 0)
    return WD_FPREC_KIND_OTHER;
  return b[0] == WD_FPREC_MAGIC   ? WD_FPREC_KIND_FP
         : b[0] == WD_FPORD_MAGIC ? WD_FPREC_KIND_ORDER
                                  : WD_FPREC_KIND_OTHER;
}

void wd_fpord_encode(const wd_fpord_ent_t *ent, size_t n, wd_buf_t *dst) {
  wd_buf_reserve(dst, WD_FPORD_HEADER_LEN + 20 * n);
  uint8_t *h = (uint8_t *)dst->p + dst->len;
  h[0] = WD_FPORD_MAGIC;
  h[1] = WD_FPORD_VERSION;
  h[2] = h[3] = 0;
  put_u32(h + 4, (uint32_t)n);
  put_u64(h + 8, (uint64_t)ent[0].fp_offset);
  put_u64(h + 16, (uint64_t)ent[0].wm_ms);
  dst->len += WD_FPORD_HEADER_LEN;
  for (size_t i = 1; i < n; i++) {
    w_varint(dst, zigzag((uint64_t)ent[i].fp_offset - (uint64_t)ent[i - 1].fp_offset));
    w_varint(dst, zigzag((uint64_t)ent[i].wm_ms - (uint64_t)ent[i - 1].wm_ms));
  }
  dst->p[dst->len] = '\0';
}

#define BADORD(...) WD_RETURN_IF(1, WD_ERR_INPUT, why, why_size, "order record: " __VA_ARGS__)

wd_err_t wd_fpord_decode(const void *src, size_t len, wd_fpord_ent_t *ent, size_t *n,
                         char *why, size_t why_size) {
  rd_t r = {src, src, (const uint8_t *)src + len};
  *n = 0;
  if (len == 0 || r.p[0] != WD_FPORD_MAGIC)
    BADORD("not an order record");
  if (len < 2 || r.p[1] != WD_FPORD_VERSION)
    BADORD("format version %u, this build reads %u", len < 2 ? 0u : r.p[1],
           WD_FPORD_VERSION);
  if (len < WD_FPORD_HEADER_LEN)
    BADORD("truncated header (%zu of %u bytes)", len, WD_FPORD_HEADER_LEN);
  if (r.p[2] || r.p[3])
    BADORD("reserved bytes not zero");
  const uint32_t cnt = get_u32(r.p + 4);
  if (cnt < 1 || cnt > WD_FPORD_MAX)
    BADORD("%u entries, 1 to %u allowed", cnt, WD_FPORD_MAX);
  ent[0].fp_offset = (int64_t)get_u64(r.p + 8);
  ent[0].wm_ms = (int64_t)get_u64(r.p + 16);
  r.p += WD_FPORD_HEADER_LEN;
  for (uint32_t i = 1; i < cnt; i++) {
    uint64_t d_off, d_wm;
    if (r_varint(&r, &d_off) != 0 || r_varint(&r, &d_wm) != 0)
      BADORD("entry %u truncated or malformed (offset %zu)", i, (size_t)(r.p - r.start));
    ent[i].fp_offset = (int64_t)((uint64_t)ent[i - 1].fp_offset + unzigzag(d_off));
    ent[i].wm_ms = (int64_t)((uint64_t)ent[i - 1].wm_ms + unzigzag(d_wm));
  }
  if (r.p != r.end)
    BADORD("%zu bytes after the last entry", r_left(&r));
  *n = cnt;
  return WD_OK;
}
