/* cluster.c - the cluster store and the near-duplicate decision.
 *
 * Layout: docs are numbered in arrival order (uint32, wrapping); live docs are
 * the contiguous range [base, base + cnt). They live in chunks of 8192
 * consecutive doc numbers, each holding the docs' 48-byte records and
 * (apart) their signatures and, with the word rule on, their heaviest-word
 * vectors (topv.h, packed in 204 bytes); a power-of-two directory of chunk pointers finds doc d's
 * chunk from d >> 13. Insertion at the back and eviction from the front are
 * O(1), a chunk is freed when its last doc is evicted, and memory follows the
 * live count (at most two partly used chunks) instead of a power-of-two ring.
 * Ids are found through an open-addressing table of doc references (doc &
 * ref_mask, + 1) keyed by XXH3(id), with backward-shift deletion.
 *
 * Per article at the defaults (128 values, 64 bands; bench_state at 1M):
 * signature 256 B, record 48 B, LSH ~354-400 B (64 x 4-byte entries at load
 * 0.64-0.72, tables in whole huge pages; ~265 B in 3-byte entries while the
 * window spans up to ~200k docs, lsh.h opts.window), SimHash index ~50 B, id string
 * ~25 B, id table ~8 B, cluster table ~16 B, word vector and word index
 * ~240 B (word rule on), the link to the story's previous article 4 B:
 * ~1,055 B.
 *
 * Signatures are stored as 16-bit b-bit MinHash values (Li & Koenig 2010):
 * the low 16 bits of each 32-bit value. Two different values agree on them
 * with probability 2^-16, so the Jaccard estimate gains a bias of at most
 * 1.5e-5 (measured in tests/unit/test_state.c), and the store holds 256
 * bytes per article instead of 512 at 128 values. The LSH band keys are made
 * from the same 16-bit values, and the LSH keeps no keys of its own: its
 * entries are doc references checked against these rows (lsh_doc), so a
 * stored row is what removes a doc from the LSH on eviction and what every
 * index is rebuilt from after a checkpoint.
 *
 * Ids are refcounted strings: a doc's own id, the duplicate_of of docs that
 * matched it and the cluster table entry of a cluster it started share one
 * copy, which outlives the doc while anything still names it. */
#include "wiredup/cluster.h"
#include "wiredup/lsh.h"
#include "wiredup/mem.h"
#include "wiredup/minhash.h"
#include "wiredup/simhash.h"
#include "wiredup/state.h"
#include "wiredup/topv.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#define NO_DOC UINT32_MAX
#define SEEN_BITS 10 /* the verified-candidates set: 1024 slots, */
#define SEEN_SLOTS (1u << SEEN_BITS)
#define SEEN_MAX (SEEN_SLOTS * 3 / 4) /* at most 768 of them used */

/* A verified candidate with a word cosine, for the story decision. */
typedef struct link_s {
  uint32_t off; /* doc - base: arrival order */
  uint32_t st;  /* its story's table entry */
  double wc;
  int weak;     /* met only under one of the article's heaviest words */
} link_t;
#define IDMAP_MIN_CAP 1024u

typedef struct idstr_s {
  uint32_t refs;
  uint32_t len;
  char s[];
} idstr_t;

/* Id strings of up to IDPOOL_MAX bytes (header included) are cut from 64 KiB
 * slabs in 8-byte size classes (16-byte classes left 8 bytes of a 9-character
 * id's 32 unused), and a freed one goes on its class's free list: in a steady
 * stream the string of an article evicted is the next article's, and no
 * article costs an allocation. Longer ids use wd_malloc. A slab stays just
 * under the mmap threshold (mem.c): slabs live as long as the store, and a
 * heap block costs no page rounding. */
#define IDPOOL_GRAIN 8u
#define IDPOOL_MAX 256u
#define IDPOOL_SLAB (((size_t)64 << 10) - 64)

typedef struct idpool_s {
  void *free[IDPOOL_MAX / IDPOOL_GRAIN + 1]; /* per class: freed blocks, linked */
  char *cur;                                 /* the slab being cut... */
  size_t left;                               /* ...and what is left of it */
  void **slab;
  size_t nslab, slab_cap;
} idpool_t;

/* One article's fields besides its signature (48 bytes). */
typedef struct rec_s {
  uint64_t simhash;
  int64_t ts;
  idstr_t *id;
  idstr_t *dup;      /* best match at assignment, NULL when new */
  uint32_t nshingles;
  uint32_t cl;       /* cluster table index */
  uint32_t size_at;  /* cluster size right after assignment */
  float sim;         /* similarity to dup */
} rec_t;

/* CHUNK consecutive doc numbers: their records and their signatures. The
 * signatures are a block of their own, 2 MiB at 128 values, in transparent
 * huge pages (wd_calloc_huge): verification reads rows at random, and a
 * band table's rebuild reads one row per entry, so with 4 KiB pages every
 * row cost a TLB miss and rebuilding was most of a large index's cost. */
#define CHUNK_BITS 13
#define CHUNK (1u << CHUNK_BITS)
typedef struct chunk_s {
  rec_t rec[CHUNK];
  uint16_t *sig;  /* CHUNK * num_perm b-bit (low 16 bits) values */
  wd_topv_packed_t *tv; /* CHUNK heaviest-word vectors (NULL: word rule off) */
  uint32_t prev[CHUNK]; /* the story's article before this one (itself: none) */
} chunk_t;

struct wd_cluster_s {
  wd_cluster_opts_t opts;
  uint32_t base;     /* oldest live doc number */
  size_t cnt;        /* live docs */
  chunk_t **dir;     /* chunk of doc d: dir[(d >> CHUNK_BITS) & (dir_cap - 1)] */
  size_t dir_cap;    /* power of two */
  size_t chunks;     /* allocated */
  size_t chunk_bytes; /* one chunk's signature block */
  size_t id_bytes;   /* bytes of id strings */
  idpool_t ids;      /* where they live */

  /* Clusters with live members; a free entry has id NULL and links the free
   * list through size. */
  idstr_t **cl_id;
  uint32_t *cl_st;   /* the story table entry of the cluster's story */
  uint32_t *cl_size; /* articles ever assigned (the cluster_size answer) */
  uint32_t *cl_live; /* live members */
  uint32_t cl_cnt, cl_cap, cl_free;
  /* Stories with live members, the same way (free list through st_live):
   * the story decision averages over a story's live articles. */
  idstr_t **st_id;   /* the id of the story's first article */
  uint32_t *st_live; /* live articles */
  uint32_t *st_head; /* the newest; chunk_t.prev links the rest */
  uint32_t st_cnt, st_cap, st_free;
  /* The stories near in time (story_bar): st_near counts each story's
   * articles from sw_tail to the newest, sw_stories the stories with any.
   * sw_max is the newest event time ever stored (INT64_MIN: none), and
   * sw_tail the first article, in arrival order, whose event time is not
   * before sw_max - story_window: the stories a new article can join are
   * about those the last story_window of event time has. A checkpoint keeps
   * sw_max; the rest follows from the article table (story_near_rebuild). */
  uint32_t *st_near;
  uint32_t sw_tail, sw_stories;
  int64_t sw_max;
  size_t clusters;      /* clusters started */
  size_t clusters_live; /* clusters with a live member */
  uint64_t evicted;

  uint32_t *idmap; /* id hash tag | doc reference + 1 (idmap_val), 0 = empty */
  size_t idmap_cap;
  uint32_t idref_mask; /* the bits of an id table entry holding reference + 1 */

  wd_lsh_t *lsh;
  uint32_t ref_mask;  /* LSH doc references: doc & ref_mask */
  size_t max_live;    /* 2^doc_bits: live docs the references can tell apart */
  wd_simhash_index_t *si;
  wd_topv_index_t *tv; /* word index over the chunks' vectors (NULL: word rule off) */
  uint32_t *tvc;       /* scratch: word-index candidates... */
  uint8_t *tvh;        /* ...and the heavy words each was met under */
  /* The article at hand's word vector, and a story's newest article's,
   * set up for the many cosines against each (wd_topv_probe_t); qp_v is
   * the vector in qprobe (NULL: none). */
  wd_topv_probe_t *qprobe, *nprobe;
  const wd_topv_t *qp_v;
  wd_topv_t tv_get;    /* scratch: the vector topv_get unpacked */
  wd_lsh_hit_t *hits; /* scratch: max_candidates */
  uint32_t *near;     /* scratch: SimHash neighbours */
  size_t near_cap;
  uint32_t *band;     /* scratch: a signature's 16-bit values widened for LSH */
  struct link_s *links; /* scratch: verified candidates with a word cosine */
  size_t links_cap, nlinks;
  uint32_t verified;  /* candidates verified by the last assign */
  /* The candidates the article at hand has been verified against: the three
   * sources overlap (a copy is usually the LSH's, the SimHash index's and
   * the word index's candidate at once), and verifying one again changes
   * nothing. Open addressing, cleared by generation. */
  uint32_t seen_doc[SEEN_SLOTS];
  uint32_t seen_gen[SEEN_SLOTS];
  uint32_t gen, seen_cnt;
};

static inline chunk_t *chunk_of(const wd_cluster_t *cs, uint32_t doc) {
  return cs->dir[(doc >> CHUNK_BITS) & (cs->dir_cap - 1)];
}

static inline rec_t *rec_of(const wd_cluster_t *cs, uint32_t doc) {
  return &chunk_of(cs, doc)->rec[doc & (CHUNK - 1)];
}

static inline uint16_t *sig_row(const wd_cluster_t *cs, uint32_t doc) {
  return chunk_of(cs, doc)->sig + (size_t)(doc & (CHUNK - 1)) * cs->opts.num_perm;
}

/* Live docs from the \p i-th on that share its chunk (rows contiguous). */
static inline size_t chunk_run(const wd_cluster_t *cs, size_t i) {
  const size_t run = CHUNK - ((cs->base + (uint32_t)i) & (CHUNK - 1));
  return run < cs->cnt - i ? run : cs->cnt - i;
}

/* Live doc \p doc's word vector, unpacked into \p v. */
static inline const wd_topv_t *topv_of(const wd_cluster_t *cs, uint32_t doc, wd_topv_t *v) {
  wd_topv_unpack(v, &chunk_of(cs, doc)->tv[doc & (CHUNK - 1)]);
  return v;
}

static const wd_topv_t *topv_get(void *ctx, uint32_t doc) {
  wd_cluster_t *cs = ctx;
  return topv_of(cs, doc, &cs->tv_get);
}

static void chunk_free(chunk_t **c) {
  if (*c) {
    wd_free((*c)->sig);
    wd_free((*c)->tv);
  }
  wd_free(*c);
  *c = NULL;
}

/* The live doc whose low bits are \p ref (LSH entries, the id map). */
static inline uint32_t doc_of_ref(const wd_cluster_t *cs, uint32_t ref) {
  return cs->base + ((ref - cs->base) & cs->ref_mask);
}

/* Start a new set of verified candidates (the next article). */
static inline void seen_clear(wd_cluster_t *cs) {
  if (++cs->gen == 0) { /* wrapped: stale stamps could match again */
    memset(cs->seen_gen, 0, sizeof(cs->seen_gen));
    cs->gen = 1;
  }
  cs->seen_cnt = 0;
}

/* Note candidate \p doc as verified. @returns 1 if it already was. Past
 * SEEN_MAX candidates the set stops growing and answers 0 (verifying again
 * is only slower). */
static inline int seen_add(wd_cluster_t *cs, uint32_t doc) {
  uint32_t i = (doc * 0x9E3779B1u) >> (32 - SEEN_BITS);
  for (; cs->seen_gen[i] == cs->gen; i = (i + 1) & (SEEN_SLOTS - 1))
    if (cs->seen_doc[i] == doc)
      return 1;
  if (cs->seen_cnt >= SEEN_MAX)
    return 0;
  cs->seen_cnt++;
  cs->seen_gen[i] = cs->gen;
  cs->seen_doc[i] = doc;
  return 0;
}

/* Arrival order of two live docs, robust to doc numbers wrapping. */
static inline int earlier(const wd_cluster_t *cs, uint32_t a, uint32_t b) {
  return (uint32_t)(a - cs->base) < (uint32_t)(b - cs->base);
}

/* Fraction of positions where \p a's low 16 bits equal \p b's. */
static double jaccard16(const uint32_t *a, const uint16_t *b, uint32_t num_perm) {
  uint32_t eq = 0;
  for (uint32_t i = 0; i < num_perm; i++)
    eq += (uint16_t)a[i] == b[i];
  return (double)eq / (double)num_perm;
}

/* The LSH sees the b-bit values only, so that what is stored can index. */
static const uint32_t *band_view32(wd_cluster_t *cs, const uint32_t *sig) {
  for (uint32_t i = 0; i < cs->opts.num_perm; i++)
    cs->band[i] = (uint16_t)sig[i];
  return cs->band;
}

static const uint32_t *band_view16(wd_cluster_t *cs, const uint16_t *row) {
  for (uint32_t i = 0; i < cs->opts.num_perm; i++)
    cs->band[i] = row[i];
  return cs->band;
}

/* The LSH's view of a stored doc (wd_lsh_doc_fn): reference -> live doc,
 * and its band values widened as band_view16 does. */
static uint32_t lsh_doc(void *ctx, uint32_t ref, uint32_t band, uint32_t *rows) {
  const wd_cluster_t *cs = ctx;
  const uint32_t d = doc_of_ref(cs, ref);
  const uint32_t nr = cs->opts.num_perm / cs->opts.bands;
  const uint16_t *row = sig_row(cs, d) + (size_t)band * nr;
  for (uint32_t r = 0; r < nr; r++)
    rows[r] = row[r];
  return d;
}

/* wd_lsh_touch_fn: start loading the rows lsh_doc will read. */
static void lsh_touch(void *ctx, uint32_t ref, uint32_t band) {
  const wd_cluster_t *cs = ctx;
  const uint32_t nr = cs->opts.num_perm / cs->opts.bands;
  __builtin_prefetch(sig_row(cs, doc_of_ref(cs, ref)) + (size_t)band * nr);
}

/* ==== Id strings ==== */

/* The pool block of an id string of \p len characters: its class (0: too
 * long, wd_malloc'd) and size. */
static inline size_t idstr_class(size_t len, size_t *bytes) {
  const size_t n = sizeof(idstr_t) + len + 1;
  if (n > IDPOOL_MAX) {
    *bytes = n;
    return 0;
  }
  const size_t c = (n + IDPOOL_GRAIN - 1) / IDPOOL_GRAIN;
  *bytes = c * IDPOOL_GRAIN;
  return c;
}

static void *idpool_get(idpool_t *p, size_t c, size_t bytes) {
  void *b = p->free[c];
  if (b) {
    memcpy(&p->free[c], b, sizeof(void *));
    return b;
  }
  if (p->left < bytes) {
    if (p->nslab == p->slab_cap) {
      p->slab_cap = p->slab_cap ? 2 * p->slab_cap : 16;
      p->slab = wd_realloc(p->slab, p->slab_cap * sizeof(*p->slab));
    }
    p->cur = p->slab[p->nslab++] = wd_malloc(IDPOOL_SLAB);
    p->left = IDPOOL_SLAB; /* the rest of the old slab (< 256 B) is left */
  }
  b = p->cur;
  p->cur += bytes;
  p->left -= bytes;
  return b;
}

static void idpool_free(idpool_t *p) {
  for (size_t i = 0; i < p->nslab; i++)
    wd_free(p->slab[i]);
  wd_free(p->slab);
  memset(p, 0, sizeof(*p));
}

static idstr_t *idstr_new(wd_cluster_t *cs, const char *s, size_t len) {
  size_t bytes;
  const size_t c = idstr_class(len, &bytes);
  idstr_t *id = c ? idpool_get(&cs->ids, c, bytes) : wd_malloc(bytes);
  id->refs = 1;
  id->len = (uint32_t)len;
  memcpy(id->s, s, len);
  id->s[len] = '\0';
  cs->id_bytes += bytes;
  return id;
}

static idstr_t *idstr_ref(idstr_t *id) {
  id->refs++;
  return id;
}

static void idstr_unref(wd_cluster_t *cs, idstr_t *id) {
  if (!id || --id->refs > 0)
    return;
  size_t bytes;
  const size_t c = idstr_class(id->len, &bytes);
  cs->id_bytes -= bytes;
  if (!c) {
    wd_free(id);
    return;
  }
  void *b = id;
  memcpy(b, &cs->ids.free[c], sizeof(void *));
  cs->ids.free[c] = b;
}

wd_cluster_t *wd_cluster_new(const wd_cluster_opts_t *opts) {
  if (!opts->num_perm || !opts->bands || opts->num_perm % opts->bands ||
      !opts->max_candidates)
    return NULL;
  wd_cluster_t *cs = wd_calloc(1, sizeof(*cs));
  cs->opts = *opts;
  uint32_t doc_bits = 10;
  const uint64_t want = opts->max_docs ? opts->max_docs : (uint64_t)1 << 24;
  while (doc_bits < 28 && ((uint64_t)1 << doc_bits) < want)
    doc_bits++;
  cs->ref_mask = (uint32_t)(((uint64_t)1 << doc_bits) - 1);
  cs->idref_mask = cs->ref_mask * 2 + 1;
  cs->max_live = (size_t)1 << doc_bits;
  const wd_lsh_opts_t lo = {.bands = opts->bands,
                            .rows = opts->num_perm / opts->bands,
                            .doc_bits = doc_bits,
                            .window = 1, /* arrival order in, oldest out */
                            .doc_fn = lsh_doc,
                            .touch_fn = lsh_touch,
                            .ctx = cs};
  cs->lsh = wd_lsh_new(&lo);
  if (!cs->lsh)
    goto err;
  if (opts->simhash_enabled) {
    cs->si = wd_simhash_index_new(opts->simhash_max_distance);
    if (!cs->si)
      goto err;
    cs->near_cap = 64;
    cs->near = wd_malloc(cs->near_cap * sizeof(*cs->near));
  }
  if (opts->simhash_enabled && opts->word_cosine < 1.0) {
    cs->tv = wd_topv_index_new(topv_get, cs);
    cs->tvc = wd_malloc(WD_TOPV_PROBE * WD_TOPV_BUCKET * sizeof(*cs->tvc));
    cs->tvh = wd_malloc(WD_TOPV_PROBE * WD_TOPV_BUCKET * sizeof(*cs->tvh));
    cs->qprobe = wd_topv_probe_new();
    cs->nprobe = wd_topv_probe_new();
  }
  cs->hits = wd_malloc(opts->max_candidates * sizeof(*cs->hits));
  cs->band = wd_malloc(opts->num_perm * sizeof(*cs->band));
  cs->links_cap = opts->max_candidates + cs->near_cap + WD_TOPV_PROBE * WD_TOPV_BUCKET;
  cs->links = wd_malloc(cs->links_cap * sizeof(*cs->links));
  cs->idmap_cap = IDMAP_MIN_CAP;
  cs->idmap = wd_calloc(cs->idmap_cap, sizeof(*cs->idmap));
  cs->chunk_bytes = (size_t)CHUNK * opts->num_perm * sizeof(uint16_t);
  cs->dir_cap = 4;
  cs->dir = wd_calloc(cs->dir_cap, sizeof(*cs->dir));
  cs->cl_free = NO_DOC;
  cs->st_free = NO_DOC;
  cs->sw_max = INT64_MIN;
  return cs;
err:
  wd_cluster_destroy(cs);
  return NULL;
}

void wd_cluster_destroy(wd_cluster_t *cs) {
  if (!cs)
    return;
  for (size_t i = 0; i < cs->cnt && cs->dir; i++) {
    rec_t *r = rec_of(cs, cs->base + (uint32_t)i);
    idstr_unref(cs, r->id);
    idstr_unref(cs, r->dup);
  }
  for (uint32_t c = 0; c < cs->cl_cnt; c++)
    idstr_unref(cs, cs->cl_id[c]);
  for (uint32_t t = 0; t < cs->st_cnt; t++)
    idstr_unref(cs, cs->st_id[t]);
  idpool_free(&cs->ids);
  for (size_t i = 0; i < cs->dir_cap; i++)
    chunk_free(&cs->dir[i]);
  wd_free(cs->dir);
  wd_free(cs->cl_id);
  wd_free(cs->cl_st);
  wd_free(cs->cl_size);
  wd_free(cs->cl_live);
  wd_free(cs->st_id);
  wd_free(cs->st_live);
  wd_free(cs->st_head);
  wd_free(cs->st_near);
  wd_free(cs->idmap);
  wd_free(cs->hits);
  wd_free(cs->links);
  wd_free(cs->near);
  wd_free(cs->band);
  wd_lsh_destroy(cs->lsh);
  wd_simhash_index_destroy(cs->si);
  wd_topv_index_destroy(cs->tv);
  wd_free(cs->tvc);
  wd_free(cs->tvh);
  wd_topv_probe_destroy(cs->qprobe);
  wd_topv_probe_destroy(cs->nprobe);
  wd_free(cs);
}

/* ==== Id map ==== */

static uint64_t id_hash(const char *id, size_t id_len) {
  return XXH3_64bits(id, id_len);
}

/* An id table entry: (doc & ref_mask) + 1 in the low idref bits (0 = empty),
 * the high bits of the id's hash above them: a probe passing another id
 * compares tags, not strings, and does not read that doc's record and id
 * string (two cache misses in a large store) unless the tags agree. */
static inline uint32_t idmap_val(const wd_cluster_t *cs, uint64_t h, uint32_t d) {
  return ((uint32_t)(h >> 32) & ~cs->idref_mask) | ((d & cs->ref_mask) + 1);
}

static inline uint32_t idmap_doc(const wd_cluster_t *cs, uint32_t v) {
  return doc_of_ref(cs, (v & cs->idref_mask) - 1);
}

/* Slot holding \p id (hash \p h), or the empty slot where it would go. */
static size_t idmap_find_h(const wd_cluster_t *cs, const char *id, size_t id_len, uint64_t h) {
  const size_t mask = cs->idmap_cap - 1;
  const uint32_t tag = idmap_val(cs, h, 0) & ~cs->idref_mask;
  for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
    const uint32_t v = cs->idmap[i];
    if (v == 0)
      return i;
    if ((v & ~cs->idref_mask) != tag)
      continue;
    const idstr_t *s = rec_of(cs, idmap_doc(cs, v))->id;
    if (s->len == id_len && memcmp(s->s, id, id_len) == 0)
      return i;
  }
}

static size_t idmap_find(const wd_cluster_t *cs, const char *id, size_t id_len) {
  return idmap_find_h(cs, id, id_len, id_hash(id, id_len));
}

/* Enter live doc \p d under its id, which is not in the table. */
static void idmap_put(wd_cluster_t *cs, const char *id, size_t id_len, uint32_t d) {
  const uint64_t h = id_hash(id, id_len);
  cs->idmap[idmap_find_h(cs, id, id_len, h)] = idmap_val(cs, h, d);
}

/* Whether \p n ids are too many for \p cap slots: the table grows at load
 * 3/4 (to 3/8). Linear probing there reads about 8 slots for a new id and
 * the 10-bit tags keep false matches to one in 1,000 of those; at the old
 * 1/2 the table was 11 bytes per article instead of about 7. */
static inline int idmap_full(size_t n, size_t cap) { return n * 4 > cap * 3; }

/* Re-enter every live doc (to grow). */
static void idmap_rebuild(wd_cluster_t *cs, size_t cap) {
  wd_free(cs->idmap);
  cs->idmap_cap = cap;
  cs->idmap = wd_calloc_huge(cap, sizeof(*cs->idmap));
  for (size_t i = 0; i < cs->cnt; i++) {
    const uint32_t d = cs->base + (uint32_t)i;
    const idstr_t *id = rec_of(cs, d)->id;
    idmap_put(cs, id->s, id->len, d);
  }
}

/* Backward-shift deletion: no tombstones under churn (an id's home is
 * cheap to recompute here, unlike an LSH entry's). */
static void idmap_delete(wd_cluster_t *cs, const idstr_t *id) {
  const size_t mask = cs->idmap_cap - 1;
  size_t hole = idmap_find(cs, id->s, id->len);
  assert(cs->idmap[hole] != 0);
  size_t j = hole;
  for (;;) {
    j = (j + 1) & mask;
    uint32_t v = cs->idmap[j];
    if (!v)
      break;
    const idstr_t *e = rec_of(cs, idmap_doc(cs, v))->id;
    size_t k = (size_t)id_hash(e->s, e->len) & mask;
    int home_between = hole <= j ? (hole < k && k <= j) : (hole < k || k <= j);
    if (home_between)
      continue;
    cs->idmap[hole] = v;
    hole = j;
  }
  cs->idmap[hole] = 0;
}

/* ==== Store ==== */

/* Make room in the directory for doc base + cnt (the next to append) and
 * give it a chunk. The live docs span at most cnt / CHUNK + 2 chunks. */
static void dir_reserve(wd_cluster_t *cs) {
  const uint32_t d = cs->base + (uint32_t)cs->cnt;
  const uint32_t span = ((d >> CHUNK_BITS) - (cs->base >> CHUNK_BITS)) & (UINT32_MAX >> CHUNK_BITS);
  if (span >= cs->dir_cap) {
    size_t ncap = cs->dir_cap * 2;
    while (span >= ncap)
      ncap *= 2;
    chunk_t **nd = wd_calloc(ncap, sizeof(*nd));
    for (uint32_t k = 0; k < span; k++) { /* the chunks from base's on */
      const uint32_t ci = (cs->base >> CHUNK_BITS) + k;
      nd[ci & (ncap - 1)] = cs->dir[ci & (cs->dir_cap - 1)];
    }
    wd_free(cs->dir);
    cs->dir = nd;
    cs->dir_cap = ncap;
  }
  chunk_t **c = &cs->dir[(d >> CHUNK_BITS) & (cs->dir_cap - 1)];
  if (!*c) {
    *c = wd_malloc(sizeof(**c));
    (*c)->sig = wd_calloc_huge(cs->chunk_bytes, 1);
    /* zeroed: no words until stored (a checkpoint without TOPV keeps none) */
    (*c)->tv = cs->tv ? wd_calloc(CHUNK, sizeof(*(*c)->tv)) : NULL;
    cs->chunks++;
  }
}

/* Room for one more cluster table entry. */
static void cluster_table_grow(wd_cluster_t *cs) {
  if (cs->cl_cnt < cs->cl_cap)
    return;
  cs->cl_cap = cs->cl_cap ? cs->cl_cap + cs->cl_cap / 2 : 1024;
  cs->cl_id = wd_realloc(cs->cl_id, cs->cl_cap * sizeof(*cs->cl_id));
  cs->cl_st = wd_realloc(cs->cl_st, cs->cl_cap * sizeof(*cs->cl_st));
  cs->cl_size = wd_realloc(cs->cl_size, cs->cl_cap * sizeof(*cs->cl_size));
  cs->cl_live = wd_realloc(cs->cl_live, cs->cl_cap * sizeof(*cs->cl_live));
}

/* A new story entry named \p id, with no live article yet. */
static uint32_t story_alloc(wd_cluster_t *cs, idstr_t *id) {
  uint32_t t = cs->st_free;
  if (t != NO_DOC) {
    cs->st_free = cs->st_live[t];
  } else {
    if (cs->st_cnt == cs->st_cap) {
      cs->st_cap = cs->st_cap ? cs->st_cap + cs->st_cap / 2 : 1024;
      cs->st_id = wd_realloc(cs->st_id, cs->st_cap * sizeof(*cs->st_id));
      cs->st_live = wd_realloc(cs->st_live, cs->st_cap * sizeof(*cs->st_live));
      cs->st_head = wd_realloc(cs->st_head, cs->st_cap * sizeof(*cs->st_head));
      cs->st_near = wd_realloc(cs->st_near, cs->st_cap * sizeof(*cs->st_near));
    }
    t = cs->st_cnt++;
  }
  cs->st_id[t] = idstr_ref(id);
  cs->st_live[t] = 0;
  cs->st_head[t] = NO_DOC;
  cs->st_near[t] = 0;
  return t;
}

/* Story \p t lost \p n live articles; its entry goes with the last. */
static void story_release(wd_cluster_t *cs, uint32_t t, uint32_t n) {
  assert(cs->st_live[t] >= n);
  if ((cs->st_live[t] -= n) > 0)
    return;
  assert(cs->st_near[t] == 0); /* its last article left the count first */
  idstr_unref(cs, cs->st_id[t]);
  cs->st_id[t] = NULL;
  cs->st_live[t] = cs->st_free;
  cs->st_free = t;
}

/* Live doc \p d, the newest, is story \p t's. */
static void story_link(wd_cluster_t *cs, uint32_t t, uint32_t d) {
  chunk_of(cs, d)->prev[d & (CHUNK - 1)] = cs->st_live[t]++ ? cs->st_head[t] : d;
  cs->st_head[t] = d;
}

/* Every story's member list again, from the clusters' stories (after a
 * load: the lists are not saved, they follow from the article table). */
static void story_relink(wd_cluster_t *cs) {
  for (uint32_t t = 0; t < cs->st_cnt; t++)
    if (cs->st_id[t])
      cs->st_live[t] = 0;
  for (size_t i = 0; i < cs->cnt; i++) {
    const uint32_t d = cs->base + (uint32_t)i;
    story_link(cs, cs->cl_st[rec_of(cs, d)->cl], d);
  }
}

/* Article \p d (at or after sw_tail) leaves the stories near in time. */
static void story_near_drop(wd_cluster_t *cs, uint32_t d) {
  const uint32_t t = cs->cl_st[rec_of(cs, d)->cl];
  assert(cs->st_near[t] > 0);
  if (--cs->st_near[t] == 0)
    cs->sw_stories--;
}

/* Live doc \p d, the newest, joins them. */
static void story_near_add(wd_cluster_t *cs, uint32_t d) {
  const rec_t *r = rec_of(cs, d);
  if (r->ts > cs->sw_max)
    cs->sw_max = r->ts;
  if (cs->st_near[cs->cl_st[r->cl]]++ == 0)
    cs->sw_stories++;
}

/* sw_tail past the articles more than story_window before \p now. Every
 * article it passes is older than now - story_window, and now only grows,
 * so where it stops does not depend on how often it was moved: it is the
 * first article not older than that (story_near_rebuild finds the same). */
static void story_near_advance(wd_cluster_t *cs, int64_t now) {
  const int64_t win = cs->opts.story_window_ms;
  const int64_t from = now < INT64_MIN + win ? INT64_MIN : now - win;
  while ((uint32_t)(cs->sw_tail - cs->base) < cs->cnt && rec_of(cs, cs->sw_tail)->ts < from) {
    story_near_drop(cs, cs->sw_tail);
    cs->sw_tail++;
  }
}

/* The counts again from the article table and sw_max (after a load; a
 * checkpoint older than sw_max's leaves it at the newest live article's). */
static void story_near_rebuild(wd_cluster_t *cs) {
  if (cs->st_cnt)
    memset(cs->st_near, 0, cs->st_cnt * sizeof(*cs->st_near));
  cs->sw_stories = 0;
  cs->sw_tail = cs->base;
  for (size_t i = 0; i < cs->cnt; i++)
    story_near_add(cs, cs->base + (uint32_t)i);
  story_near_advance(cs, cs->sw_max);
}

/* A new cluster whose first article is \p id, in story \p st (NO_DOC: its
 * own, a new one). */
static uint32_t cluster_alloc(wd_cluster_t *cs, idstr_t *id, uint32_t st) {
  uint32_t c = cs->cl_free;
  if (c != NO_DOC) {
    cs->cl_free = cs->cl_size[c];
  } else {
    cluster_table_grow(cs);
    c = cs->cl_cnt++;
  }
  cs->cl_id[c] = idstr_ref(id);
  cs->cl_st[c] = st != NO_DOC ? st : story_alloc(cs, id);
  cs->cl_size[c] = 0;
  cs->cl_live[c] = 0;
  cs->clusters_live++;
  return c;
}

static void cluster_release(wd_cluster_t *cs, uint32_t c) {
  assert(cs->cl_live[c] > 0);
  story_release(cs, cs->cl_st[c], 1);
  if (--cs->cl_live[c])
    return;
  idstr_unref(cs, cs->cl_id[c]);
  cs->cl_id[c] = NULL;
  cs->cl_st[c] = NO_DOC;
  cs->cl_size[c] = cs->cl_free;
  cs->cl_free = c;
  cs->clusters_live--;
}

/* Append a doc at the back of the ring; \p cluster NO_DOC starts one. */
static uint32_t store_append(wd_cluster_t *cs, const wd_doc_t *doc, uint32_t cluster,
                             uint32_t dup, double sim, uint32_t story) {
  if (idmap_full(cs->cnt + 1, cs->idmap_cap))
    idmap_rebuild(cs, cs->idmap_cap * 2);
  assert(cs->cnt < (size_t)UINT32_MAX);
  dir_reserve(cs);
  const uint32_t d = cs->base + (uint32_t)cs->cnt++;
  const size_t np = cs->opts.num_perm;
  rec_t *r = rec_of(cs, d);
  uint16_t *row = sig_row(cs, d);
  for (size_t i = 0; i < np; i++)
    row[i] = (uint16_t)doc->sig[i];
  r->nshingles = doc->shingle_cnt;
  r->simhash = doc->simhash;
  r->ts = doc->ts_ms;
  r->id = idstr_new(cs, doc->id, doc->id_len);
  idmap_put(cs, doc->id, doc->id_len, d);
  if (cluster == NO_DOC) {
    cluster = cluster_alloc(cs, r->id, story);
    cs->clusters++;
  }
  r->cl = cluster;
  cs->cl_size[cluster]++;
  cs->cl_live[cluster]++;
  story_link(cs, cs->cl_st[cluster], d);
  story_near_add(cs, d);
  r->dup = dup == NO_DOC ? NULL : idstr_ref(rec_of(cs, dup)->id);
  r->sim = dup == NO_DOC ? 0.0f : (float)sim;
  r->size_at = cs->cl_size[cluster];
  if (cs->tv) {
    wd_topv_packed_t *v = &chunk_of(cs, d)->tv[d & (CHUNK - 1)];
    if (doc->topv)
      wd_topv_pack(v, doc->topv);
    else
      memset(v, 0, sizeof(*v));
    wd_topv_index_add(cs->tv, cs->base, cs->cnt);
  }
  return d;
}

/* Put doc \p d into the LSH and SimHash indexes. An empty document is stored
 * (so its id answers redeliveries) but not indexed: it would collide with
 * every other empty document. */
static void index_add(wd_cluster_t *cs, uint32_t d) {
  const rec_t *r = rec_of(cs, d);
  if (r->nshingles == 0)
    return;
  wd_lsh_insert(cs->lsh, band_view16(cs, sig_row(cs, d)), d);
  if (cs->si)
    wd_simhash_index_insert(cs->si, r->simhash, d);
}

/* index_add for every live doc, as if they arrived again in order, but band
 * by band: one band table is hot at a time instead of all of them. */
static void index_rebuild(wd_cluster_t *cs) {
  const uint32_t rows = cs->opts.num_perm / cs->opts.bands;
  uint32_t *docs = wd_malloc((cs->cnt ? cs->cnt : 1) * sizeof(*docs));
  uint32_t *vals = wd_malloc((cs->cnt ? cs->cnt : 1) * rows * sizeof(*vals));
  size_t n = 0;
  for (size_t i = 0; i < cs->cnt; i++) {
    const uint32_t d = cs->base + (uint32_t)i;
    if (rec_of(cs, d)->nshingles > 0)
      docs[n++] = d;
  }
  wd_lsh_reserve(cs->lsh, n);
  for (uint32_t b = 0; b < cs->opts.bands; b++) {
    for (size_t k = 0; k < n; k++) {
      const uint16_t *row = sig_row(cs, docs[k]) + (size_t)b * rows;
      for (uint32_t r = 0; r < rows; r++)
        vals[k * rows + r] = row[r];
    }
    wd_lsh_load_band(cs->lsh, b, vals, docs, n);
  }
  wd_lsh_count_add(cs->lsh, n);
  for (size_t k = 0; k < n && cs->si; k++)
    wd_simhash_index_insert(cs->si, rec_of(cs, docs[k])->simhash, docs[k]);
  wd_free(docs);
  wd_free(vals);
}

static void evict_front(wd_cluster_t *cs) {
  const uint32_t d = cs->base;
  rec_t *r = rec_of(cs, d);
  assert(cs->cnt > 0);
  if (r->nshingles > 0) {
    wd_lsh_remove(cs->lsh, band_view16(cs, sig_row(cs, d)), d);
    if (cs->si)
      wd_simhash_index_remove(cs->si, r->simhash, d);
  }
  idmap_delete(cs, r->id);
  idstr_unref(cs, r->id);
  idstr_unref(cs, r->dup);
  r->id = r->dup = NULL;
  if (cs->sw_tail == d) /* still counted: it leaves before its story can */
    story_near_drop(cs, d), cs->sw_tail++;
  cluster_release(cs, r->cl);
  cs->base++;
  cs->cnt--;
  cs->evicted++;
  if ((cs->base & (CHUNK - 1)) == 0) { /* the last doc of its chunk went */
    chunk_free(&cs->dir[(d >> CHUNK_BITS) & (cs->dir_cap - 1)]);
    cs->chunks--;
  }
}

size_t wd_cluster_evict(wd_cluster_t *cs, int64_t horizon_ms, size_t max_docs) {
  size_t n = 0;
  while (cs->cnt > 0 && (cs->cnt > max_docs || rec_of(cs, cs->base)->ts < horizon_ms)) {
    evict_front(cs);
    n++;
  }
  return n;
}

static void fill_answer(const wd_cluster_t *cs, uint32_t doc, wd_assign_t *out) {
  const rec_t *r = rec_of(cs, doc);
  const idstr_t *cid = cs->cl_id[r->cl];
  out->doc = doc;
  out->cluster_id = cid->s;
  out->story_id = cs->st_id[cs->cl_st[r->cl]]->s;
  out->duplicate_of = r->dup ? r->dup->s : NULL;
  out->similarity = r->sim;
  out->cluster_size = r->size_at;
  out->cluster_key = id_hash(cid->s, cid->len);
  out->redelivered = 0;
}

int wd_cluster_lookup(wd_cluster_t *cs, const char *id, size_t id_len, wd_assign_t *out) {
  uint32_t v = cs->idmap[idmap_find(cs, id, id_len)];
  if (!v)
    return 0;
  fill_answer(cs, idmap_doc(cs, v), out);
  out->redelivered = 1;
  return 1;
}

/* ==== Decision ==== */

/* The word rule links rewrites across outlets: not two articles of one
 * source (an outlet's own re-sends are near-verbatim and the other rules
 * catch them), not two whose figures disagree (templated stories: the
 * caller checks), and only when each has WD_TOPV_HEAVY_MIN of its heaviest
 * words in the other. */
static int word_rule_applies(const wd_topv_t *a, const wd_topv_t *b) {
  return !(a->src && a->src == b->src) && wd_topv_heavy_shared(a, b) >= WD_TOPV_HEAVY_MIN &&
         wd_topv_heavy_shared(b, a) >= WD_TOPV_HEAVY_MIN;
}

/* wd_topv_cosine(v, b), through the probe when v is the article's. */
static inline double q_cosine(const wd_cluster_t *cs, const wd_topv_t *v, const wd_topv_t *b) {
  return v == cs->qp_v ? wd_topv_probe_cosine(cs->qprobe, b) : wd_topv_cosine(v, b);
}

/* Score candidate \p c against \p doc; 0 when it does not qualify.
 * \p wc gets their heaviest-word cosine (0 when either has none). */
static double verify(const wd_cluster_t *cs, const wd_doc_t *doc, uint32_t c, double *wc_out) {
  const wd_cluster_opts_t *o = &cs->opts;
  double j = jaccard16(doc->sig, sig_row(cs, c), o->num_perm);
  double best = 0.0;
  const rec_t *rc = rec_of(cs, c);
  uint32_t na = doc->shingle_cnt, nb = rc->nshingles;
  uint32_t nmin = na < nb ? na : nb;

  *wc_out = 0.0;
  if (nmin == 0)
    return 0.0;
  if (j >= o->threshold)
    best = j;
  /* Shared shingles estimated from J and the exact set sizes. */
  double inter = j * ((double)na + (double)nb) / (1.0 + j);
  double cont = inter / (double)nmin;
  if (cont > 1.0)
    cont = 1.0;
  if (nmin >= o->containment_min_shingles && inter >= (double)o->containment_min_shared &&
      cont >= o->containment && cont > best)
    best = cont;
  if (cs->si) {
    double cos = wd_simhash_cosine(
        wd_simhash_distance(doc->simhash, rc->simhash));
    if (cos >= o->cosine && cos > best)
      best = cos;
    /* Phrase reuse (containment) and shared rare vocabulary (cosine) are
     * different evidence; when both agree, each may be weaker. */
    if (cont >= o->joint_containment && cos >= o->joint_cosine) {
      double s = cont > cos ? cont : cos;
      if (s > best)
        best = s;
    }
  }
  if (cs->tv && doc->topv && doc->topv->n) {
    wd_topv_t tcv;
    const wd_topv_t *tc = topv_of(cs, c, &tcv);
    const uint32_t nmax = na > nb ? na : nb;
    const double wc = tc->n ? q_cosine(cs, doc->topv, tc) : 0.0;
    /* a story is one event: templated stories with other figures are not */
    const int figures_differ = wd_topv_numbers_differ(doc->topv, tc);
    *wc_out = wc; /* the story decision weighs the figures itself */
    if (wc > best && wc >= o->word_cosine + o->word_cosine_slope * log1p((double)nmax) &&
        !figures_differ && word_rule_applies(doc->topv, tc))
      best = wc;
  }
  return best;
}

/* The best candidate so far. */
typedef struct pick_s {
  uint32_t best;     /* NO_DOC until a candidate qualified */
  double sim;
} pick_t;

/* Verify candidate \p c; keep it when it scores higher, or the same and
 * arrived earlier. Its word cosine, when any, is kept for the story. */
static void consider(wd_cluster_t *cs, const wd_doc_t *doc, uint32_t c, pick_t *p) {
  double wc;
  double s = verify(cs, doc, c, &wc);
  if (s > p->sim || (s == p->sim && s > 0.0 && earlier(cs, c, p->best)))
    p->best = c, p->sim = s;
  if (wc > 0.0 && cs->nlinks < cs->links_cap)
    cs->links[cs->nlinks++] = (link_t){c - cs->base, cs->cl_st[rec_of(cs, c)->cl], wc, 0};
}

/* A link for the story decision only: live doc \p c met under one heavy
 * word of \p v, not verified for the cluster. @returns 1 when linked. */
static int link_add(wd_cluster_t *cs, const wd_topv_t *v, uint32_t c) {
  wd_topv_t cv;
  const wd_topv_t *tc = topv_of(cs, c, &cv);
  const double wc = tc->n ? q_cosine(cs, v, tc) : 0.0;
  if (wc <= 0.0 || cs->nlinks >= cs->links_cap)
    return 0;
  cs->links[cs->nlinks++] = (link_t){c - cs->base, cs->cl_st[rec_of(cs, c)->cl], wc, 1};
  return 1;
}

static int link_cmp(const void *pa, const void *pb) {
  const link_t *a = pa, *b = pb;
  if (a->st != b->st)
    return a->st < b->st ? -1 : 1;
  return a->off < b->off ? -1 : a->off > b->off;
}

/* The story a new cluster joins, NO_DOC: none (it starts its own).
 *
 * Average linkage: the mean word cosine of the article with a story's
 * articles, the story with the highest mean at story_cosine or above.
 * Joining by the single nearest article chains: a trial's story gathers
 * every article that shares one witness's name with any of its members.
 * The mean asks the article to be near the story as a whole.
 *
 * Relative to the story's cohesion: the mean must also reach
 * STORY_COHESION x the mean cosine of the story's other articles with its
 * newest. A wire story and its copies sit at 0.8-0.9 among themselves, and
 * another templated report near it by 0.15 is not its story; a court story
 * told independently by five newspapers sits near 0.25 among them, and a
 * sixth at 0.2 is. The threshold scales with the story, not with a desk's
 * vocabulary (meter-courts-dev: joins of the right story are at 0.86 of
 * their cohesion at the median, 0.52 at the 10th percentile; Reuters
 * rewrites' joins of another story at 0.22).
 *
 * Evidence: a story met only through docs sharing one of the article's
 * WD_TOPV_PROBE heaviest words (link_t.weak) needs STORY_WEAK x
 * story_cosine: one shared name is weaker evidence than two. Such links
 * are looked at only when no stronger one reached a story (the caller):
 * 150 of the 210 meter-courts-dev articles that missed their story had
 * none, an independent write-up sharing one rare name with the agency's.
 *
 * The candidates say which stories are near; the story's own articles are
 * then compared, newest first through the story's list: at most
 * STORY_PICK stories (by their best link) and STORY_WALK articles of each,
 * so a decision costs at most 2 x STORY_PICK x STORY_WALK cosines (4
 * stories and 32 articles scored no better on meter-courts-dev). A story
 * whose best link is below the bar is not walked: its other articles,
 * which the indexes did not find, share fewer heavy words with this one.
 *
 * Figures: a pair whose figures disagree (wd_topv_numbers_differ) still
 * counts its cosine, since a newspaper's court report quotes other ages,
 * sums and dates than the agency's and zeroing such pairs cost 0.10 ARI
 * there; but a story more than three quarters of whose compared articles
 * quote other figures is not joined: that is a templated report (another
 * company's dividend or earnings). Vetoing at a half keeps Reuters-21578's
 * templated reports apart better but cost meter-courts-dev 0.06; at three
 * quarters the story layer mixes about as many companies' earnings as the
 * single-link rule did (docs/accuracy.md), and without the veto
 * reuters-rewrites-dev's stories fall apart (0.97 -> 0.19).
 * Only a pair of figure-dense articles counts as quoting other figures
 * (figure_dense: STORY_FIGURES numbers or more per 100 words, both). In a
 * templated report the figures are the news (Reuters' median is 3.3 per
 * 100 words); in a narrative one they are incidental (a court report's
 * 1.3: an age, a date, a sum), and two independent write-ups of one
 * hearing pick different ones. Counting those pairs too had kept
 * meter-courts-dev's newspapers out of their stories: 0.705 -> 0.733 with
 * the density test, 0.688 -> 0.756 on a fifth of its days, 0.968 -> 0.965
 * on reuters-rewrites-dev (docs/accuracy.md).
 *
 * Time: only the story's articles within story_window of event time are
 * compared (the mean is over them): the same name in another day's report
 * is another day's story.
 *
 * The stories near in time (story_bar): the bar is story_cosine with
 * STORY_NEAR_REF stories within story_window, and rises with the log of
 * their number. Each story there is one more chance of a near miss, so a
 * desk with thirty stories a day can take a link that a desk with a thousand
 * must not: on a fifth of meter-courts-dev's days (30-50 stories)
 * story_cosine 0.075-0.1 scores best, on the whole (206) 0.1-0.15, on
 * counter-urdu-dev's events (378) 0.225-0.275. Day-fifths 0.756 -> 0.818 on
 * average, meter-courts-dev 0.733 -> 0.736, urdu-events 0.592 -> 0.572;
 * reuters-rewrites-dev's stories 0.965 -> 0.948, nearly all of it on its
 * first day, when a desk has few stories yet and young word weights
 * (docs/accuracy.md). */
#define STORY_PICK 2
#define STORY_WALK 16
#define STORY_COHESION 0.4
#define STORY_WEAK 1.2
#define STORY_WEAK_MAX 8
#define STORY_FIGURES 2
#define STORY_NEAR_REF 200.0
#define STORY_NEAR_SLOPE 0.2
#define STORY_NEAR_MIN 0.5
#define STORY_NEAR_MAX 2.0

/* Whether an article of \p nshingles shingles (about its words: one per
 * word but the last few at the default size) quoting \p nnum numbers
 * (at most WD_TOPV_NUMS kept) is about its figures. */
static inline int figure_dense(uint32_t nnum, uint32_t nshingles) {
  return 100u * (uint64_t)nnum >= STORY_FIGURES * ((uint64_t)nshingles + 4u);
}

/* The bar for an article at event time \p ts: story_cosine at
 * STORY_NEAR_REF stories near in time, x (1 + STORY_NEAR_SLOPE x the log of
 * their number over that), within STORY_NEAR_MIN ... STORY_NEAR_MAX. */
static double story_bar(wd_cluster_t *cs, int64_t ts) {
  story_near_advance(cs, ts > cs->sw_max ? ts : cs->sw_max);
  const double f =
      1.0 + STORY_NEAR_SLOPE * log(((double)cs->sw_stories + 1.0) / STORY_NEAR_REF);
  return cs->opts.story_cosine *
         (f < STORY_NEAR_MIN ? STORY_NEAR_MIN : f > STORY_NEAR_MAX ? STORY_NEAR_MAX : f);
}

static uint32_t story_pick(wd_cluster_t *cs, const wd_topv_t *v, uint32_t nshingles,
                           int64_t ts) {
  link_t *l = cs->links;
  const size_t n = cs->nlinks;
  link_t top[STORY_PICK]; /* per story: its best link, highest first */
  size_t ntop = 0;
  if (n == 0 || cs->opts.story_cosine > 1.0)
    return NO_DOC; /* links are cosines with v: none without a vector */
  const int dense = figure_dense(v->nnum, nshingles);
  qsort(l, n, sizeof(*l), link_cmp);
  for (size_t i = 0; i < n;) {
    link_t b = l[i];
    int weak = 1;
    size_t j = i;
    for (; j < n && l[j].st == b.st; j++) {
      weak &= l[j].weak;
      if (l[j].wc > b.wc)
        b = l[j];
    }
    i = j;
    b.weak = weak;
    /* insert by (cosine desc, arrival asc): the order of docs, not slots */
    size_t k = ntop < STORY_PICK ? ntop++ : STORY_PICK;
    while (k > 0 && (b.wc > top[k - 1].wc || (b.wc == top[k - 1].wc && b.off < top[k - 1].off))) {
      if (k < STORY_PICK)
        top[k] = top[k - 1];
      k--;
    }
    if (k < STORY_PICK)
      top[k] = b;
  }

  uint32_t best = NO_DOC;
  double best_mean = 0.0;
  const int64_t win = cs->opts.story_window_ms;
  const double bar = story_bar(cs, ts);
  for (size_t k = 0; k < ntop; k++) {
    const uint32_t st = top[k].st;
    const double need = bar * (top[k].weak ? STORY_WEAK : 1.0);
    if (top[k].wc < need)
      continue; /* its nearest article found is not near enough to carry it */
    uint32_t d = cs->st_head[st], walked = 0, near = 0, differ = 0, coh_n = 0;
    double sum = 0.0, coh = 0.0;
    wd_topv_t newest; /* the story's newest article near in time */
    for (;;) {
      const rec_t *rd = rec_of(cs, d);
      const int64_t dt = rd->ts - ts;
      if (dt <= win && dt >= -win) {
        wd_topv_t mv;
        const wd_topv_t *m = topv_of(cs, d, near ? &mv : &newest);
        if (!near && m->n)
          wd_topv_probe_set(cs->nprobe, m); /* m is &newest: cohesion is against it */
        else if (near && m->n && newest.n)
          coh += wd_topv_probe_cosine(cs->nprobe, m), coh_n++;
        near++;
        if (m->n) {
          sum += q_cosine(cs, v, m);
          if (dense && figure_dense(m->nnum, rd->nshingles))
            differ += (uint32_t)wd_topv_numbers_differ(v, m);
        }
      }
      const uint32_t p = chunk_of(cs, d)->prev[d & (CHUNK - 1)];
      if (++walked == STORY_WALK || p == d || (uint32_t)(p - cs->base) >= cs->cnt)
        break;
      d = p;
    }
    wd_topv_probe_clear(cs->nprobe);
    if (near == 0 || 4 * differ > 3 * near)
      continue; /* none near in time, or most quote other figures */
    const double mean = sum / (double)near;
    if (mean < need || (coh_n && mean < STORY_COHESION * coh / coh_n))
      continue;
    if (mean > best_mean)
      best = st, best_mean = mean;
  }
  return best;
}

wd_err_t wd_cluster_assign(wd_cluster_t *cs, const wd_doc_t *doc, wd_assign_t *out) {
  const wd_cluster_opts_t *o = &cs->opts;
  pick_t p = {NO_DOC, 0.0};
  size_t nweak = 0; /* word-index docs met (cs->tvc, cs->tvh) */

  assert(cs->idmap[idmap_find(cs, doc->id, doc->id_len)] == 0);
  while (cs->cnt >= cs->max_live) /* only above 2^28 articles (see max_docs) */
    evict_front(cs);
  cs->nlinks = 0;
  if (cs->tv && doc->topv && doc->topv->n) {
    wd_topv_probe_set(cs->qprobe, doc->topv);
    cs->qp_v = doc->topv;
  }
  if (doc->shingle_cnt > 0) {
    size_t n = wd_lsh_query(cs->lsh, band_view32(cs, doc->sig), cs->hits,
                            o->max_candidates);
    /* The LSH's candidates are distinct; the other sources' may repeat
     * them. Verifying a candidate twice leaves the pick as it was. */
    seen_clear(cs);
    cs->verified = (uint32_t)n;
    for (size_t i = 0; i < n; i++) {
      seen_add(cs, cs->hits[i].doc);
      consider(cs, doc, cs->hits[i].doc, &p);
    }
    if (cs->si) {
      size_t m = wd_simhash_index_query(cs->si, doc->simhash, cs->near, cs->near_cap);
      for (size_t i = 0; i < m; i++)
        if (!seen_add(cs, cs->near[i])) {
          cs->verified++;
          consider(cs, doc, cs->near[i], &p);
        }
    }
    if (cs->tv && doc->topv) {
      /* the word rule's candidates, met under WD_TOPV_MIN_HITS words, in
       * order; those met under fewer wait for the story decision */
      nweak = wd_topv_index_query_all(cs->tv, doc->topv, cs->base, cs->cnt, cs->tvc,
                                      cs->tvh);
      for (size_t i = 0; i < nweak; i++)
        if (cs->tvh[i] >= WD_TOPV_MIN_HITS && !seen_add(cs, cs->tvc[i])) {
          cs->verified++;
          consider(cs, doc, cs->tvc[i], &p);
        }
    }
  }

  /* p.sim > 0 exactly when a candidate qualified (p.best is then live). A
   * new cluster joins the story nearest in words, or starts one. */
  const int found = p.sim > 0.0;
  const uint32_t cluster = found ? rec_of(cs, p.best)->cl : NO_DOC;
  uint32_t story = NO_DOC;
  if (!found) {
    /* One-word links only when nothing stronger reached a story, and only
     * the first STORY_WEAK_MAX met (heaviest word first): each costs a
     * cosine, and most articles that start a cluster start a story. */
    const size_t weak_max = cs->nlinks ? 0 : STORY_WEAK_MAX;
    for (size_t i = 0, m = 0; i < nweak && m < weak_max; i++)
      if (cs->tvh[i] < WD_TOPV_MIN_HITS)
        m += (size_t)link_add(cs, doc->topv, cs->tvc[i]);
    story = story_pick(cs, doc->topv, doc->shingle_cnt, doc->ts_ms);
  }
  if (cs->qp_v) {
    wd_topv_probe_clear(cs->qprobe);
    cs->qp_v = NULL;
  }
  const uint32_t d = store_append(cs, doc, cluster, found ? p.best : NO_DOC, p.sim, story);
  index_add(cs, d);
  fill_answer(cs, d, out);
  return WD_OK;
}

size_t wd_cluster_count(const wd_cluster_t *cs) { return cs->cnt; }

void wd_cluster_reserve(wd_cluster_t *cs, size_t docs) {
  if (docs > cs->cnt)
    wd_lsh_reserve(cs->lsh, docs);
}
size_t wd_cluster_clusters(const wd_cluster_t *cs) { return cs->clusters; }
size_t wd_cluster_clusters_live(const wd_cluster_t *cs) { return cs->clusters_live; }
uint64_t wd_cluster_evicted(const wd_cluster_t *cs) { return cs->evicted; }

void wd_cluster_stats(const wd_cluster_t *cs, wd_cluster_stats_t *st) {
  const size_t per_cluster = sizeof(*cs->cl_id) + sizeof(*cs->cl_st) +
                             sizeof(*cs->cl_size) + sizeof(*cs->cl_live);
  const size_t per_story = sizeof(*cs->st_id) + sizeof(*cs->st_live) + sizeof(*cs->st_head) +
                           sizeof(*cs->st_near);
  memset(st, 0, sizeof(*st));
  st->bytes_sigs = cs->chunks * cs->chunk_bytes;
  st->bytes_records = sizeof(*cs) + cs->dir_cap * sizeof(*cs->dir) + cs->chunks * sizeof(chunk_t);
  st->bytes_ids = cs->id_bytes;
  st->bytes_idmap = cs->idmap_cap * sizeof(*cs->idmap);
  st->bytes_clusters = cs->cl_cap * per_cluster + cs->st_cap * per_story;
  st->bytes_lsh = wd_lsh_bytes(cs->lsh);
  wd_lsh_stats(cs->lsh, &st->lsh);
  if (cs->si) {
    wd_simhash_index_stats_t ss;
    wd_simhash_index_stats(cs->si, &ss);
    st->bytes_simhash = wd_simhash_index_bytes(cs->si);
    st->simhash_examined = ss.query_examined;
    st->simhash_skipped = ss.skipped;
  }
  if (cs->tv)
    st->bytes_words = wd_topv_index_bytes(cs->tv) + cs->chunks * CHUNK * sizeof(wd_topv_packed_t);
  st->verified = cs->verified;
}

size_t wd_cluster_bytes(const wd_cluster_t *cs) {
  wd_cluster_stats_t st;
  wd_cluster_stats(cs, &st);
  return st.bytes_sigs + st.bytes_records + st.bytes_ids + st.bytes_idmap +
         st.bytes_clusters + st.bytes_lsh + st.bytes_simhash + st.bytes_words;
}

/* ==== Checkpoint ==== */

/* CLUS section body (little-endian):
 *   u32 num_perm, u32 value bits (16), u32 bands
 *   u32 base (doc number of the oldest live article), u64 live articles
 *   u64 clusters started, u64 articles evicted
 *   u32 live clusters C, then C x {str id, u32 size (articles ever assigned)}
 *   per live article, oldest first:
 *     str id; u32 cluster (index into the C above); u32 shingle count;
 *     u64 simhash; i64 event time ms; u32 similarity (IEEE float bits);
 *     u32 cluster size after it joined; u8 has duplicate_of; [str duplicate_of]
 *   then all signatures, oldest first: live x num_perm u16 values.
 * The indexes (LSH, SimHash, ids) are rebuilt from this on load. */
void wd_cluster_save(const wd_cluster_t *cs, wd_state_w_t *w) {
  const size_t np = cs->opts.num_perm;
  uint32_t *renum = wd_malloc((cs->cl_cnt ? cs->cl_cnt : 1) * sizeof(*renum));
  uint32_t live = 0;
  for (uint32_t c = 0; c < cs->cl_cnt; c++)
    renum[c] = cs->cl_id[c] ? live++ : NO_DOC;
  assert(live == cs->clusters_live);

  wd_state_w_begin(w, "CLUS");
  wd_state_w_u32(w, (uint32_t)np);
  wd_state_w_u32(w, 16);
  wd_state_w_u32(w, cs->opts.bands);
  wd_state_w_u32(w, cs->base);
  wd_state_w_u64(w, cs->cnt);
  wd_state_w_u64(w, cs->clusters);
  wd_state_w_u64(w, cs->evicted);
  wd_state_w_u32(w, live);
  for (uint32_t c = 0; c < cs->cl_cnt; c++) {
    if (!cs->cl_id[c])
      continue;
    wd_state_w_str(w, cs->cl_id[c]->s, cs->cl_id[c]->len);
    wd_state_w_u32(w, cs->cl_size[c]);
  }
  for (size_t i = 0; i < cs->cnt; i++) {
    const rec_t *r = rec_of(cs, cs->base + (uint32_t)i);
    uint32_t simbits;
    memcpy(&simbits, &r->sim, 4);
    wd_state_w_str(w, r->id->s, r->id->len);
    wd_state_w_u32(w, renum[r->cl]);
    wd_state_w_u32(w, r->nshingles);
    wd_state_w_u64(w, r->simhash);
    wd_state_w_i64(w, r->ts);
    wd_state_w_u32(w, simbits);
    wd_state_w_u32(w, r->size_at);
    wd_state_w_u8(w, r->dup != NULL);
    if (r->dup)
      wd_state_w_str(w, r->dup->s, r->dup->len);
  }
  /* Rows are contiguous within a chunk: one run per chunk. */
  for (size_t i = 0, run; i < cs->cnt; i += run) {
    run = chunk_run(cs, i);
    wd_state_w_u16v(w, sig_row(cs, cs->base + (uint32_t)i), run * np);
  }
  wd_state_w_end(w);
  wd_free(renum);
}

/* TOPV section body: u32 doc number of the oldest article, u64 live
 * articles, then each one's vector (wd_topv_write), oldest first. */
void wd_cluster_save_words(const wd_cluster_t *cs, wd_state_w_t *w) {
  if (!cs->tv)
    return;
  wd_state_w_begin(w, "TOPV");
  wd_state_w_u32(w, cs->base);
  wd_state_w_u64(w, cs->cnt);
  wd_topv_t v;
  for (size_t i = 0; i < cs->cnt; i++)
    wd_topv_write(w, topv_of(cs, cs->base + (uint32_t)i, &v));
  wd_state_w_end(w);
}

wd_err_t wd_cluster_load_words(wd_cluster_t *cs, wd_state_r_t *r, char *errstr,
                               size_t errstr_size) {
  if (!cs->tv) { /* the word rule is off: the vectors are not needed */
    r->p = r->end;
    return WD_OK;
  }
  const uint32_t base = wd_state_r_u32(r);
  const uint64_t cnt = wd_state_r_u64(r);
  WD_RETURN_IF(r->err || base != cs->base || cnt != cs->cnt || !wd_state_r_fits(r, cnt, 10),
               WD_ERR_STATE, errstr, errstr_size,
               "word vectors are not those of the article table");
  /* Refile as the articles came, so the index is what it was. */
  wd_topv_index_destroy(cs->tv);
  cs->tv = wd_topv_index_new(topv_get, cs);
  for (size_t i = 0; i < cs->cnt; i++) {
    const uint32_t d = cs->base + (uint32_t)i;
    wd_topv_t v;
    WD_RETURN_IF(wd_topv_read(r, &v) != 0, WD_ERR_STATE, errstr, errstr_size,
                 "truncated or malformed word vectors");
    wd_topv_pack(&chunk_of(cs, d)->tv[d & (CHUNK - 1)], &v);
    wd_topv_index_add(cs->tv, cs->base, i + 1);
  }
  return WD_OK;
}

void wd_cluster_save_stories(const wd_cluster_t *cs, wd_state_w_t *w) {
  wd_state_w_begin(w, "STRY");
  wd_state_w_u32(w, (uint32_t)cs->clusters_live);
  for (uint32_t c = 0; c < cs->cl_cnt; c++)
    if (cs->cl_id[c])
      wd_state_w_str(w, cs->st_id[cs->cl_st[c]]->s, cs->st_id[cs->cl_st[c]]->len);
  wd_state_w_i64(w, cs->sw_max);
  wd_state_w_end(w);
}

/* An id string equal to \p s: the live doc's own copy if there is one. */
static idstr_t *idstr_intern(wd_cluster_t *cs, const char *s, size_t len) {
  uint32_t v = cs->idmap[idmap_find(cs, s, len)];
  return v ? idstr_ref(rec_of(cs, idmap_doc(cs, v))->id) : idstr_new(cs, s, len);
}

/* After wd_cluster_load every cluster is live, in CLUS order, and its own
 * story. Clusters naming one story id share one story entry again; its live
 * count is its clusters' (the section stores nothing that can be counted). */
wd_err_t wd_cluster_load_stories(wd_cluster_t *cs, wd_state_r_t *r, char *errstr,
                                 size_t errstr_size) {
  const uint32_t n = wd_state_r_u32(r);
  WD_RETURN_IF(r->err || n != cs->cl_cnt || n != cs->clusters_live || !wd_state_r_fits(r, n, 4),
               WD_ERR_STATE, errstr, errstr_size, "story table does not match the clusters");
  /* the entries change: counted again at the end */
  if (cs->st_cnt)
    memset(cs->st_near, 0, cs->st_cnt * sizeof(*cs->st_near));
  cs->sw_stories = 0;
  /* story id -> entry + 1, for the entries made here */
  size_t cap = 16;
  while (cap < 2 * (size_t)n)
    cap *= 2;
  uint32_t *seen = wd_calloc(cap, sizeof(*seen));
  wd_err_t err = WD_OK;
  for (uint32_t c = 0; c < n; c++) {
    size_t len;
    const char *s = wd_state_r_str(r, &len);
    if (r->err) {
      err = WD_ERR_STATE;
      wd_errstr_set(errstr, errstr_size, "truncated story table");
      break;
    }
    size_t k = (size_t)XXH3_64bits(s, len) & (cap - 1);
    while (seen[k] && !(cs->st_id[seen[k] - 1]->len == len &&
                        memcmp(cs->st_id[seen[k] - 1]->s, s, len) == 0))
      k = (k + 1) & (cap - 1);
    if (!seen[k]) {
      idstr_t *id = idstr_intern(cs, s, len);
      seen[k] = story_alloc(cs, id) + 1;
      idstr_unref(cs, id);
    }
    const uint32_t st = seen[k] - 1, old = cs->cl_st[c];
    if (st == old)
      continue;
    cs->st_live[st] += cs->cl_live[c];
    cs->cl_st[c] = st;
    story_release(cs, old, cs->cl_live[c]);
  }
  wd_free(seen);
  if (err == WD_OK && r->p < r->end) { /* an older checkpoint's ends here */
    const int64_t max = wd_state_r_i64(r);
    if (r->err) {
      err = WD_ERR_STATE;
      wd_errstr_set(errstr, errstr_size, "truncated story table");
    } else if (max > cs->sw_max) {
      cs->sw_max = max;
    }
  }
  story_relink(cs);
  story_near_rebuild(cs);
  return err;
}

wd_err_t wd_cluster_load(wd_cluster_t *cs, wd_state_r_t *r, char *errstr,
                         size_t errstr_size) {
  const size_t np = cs->opts.num_perm;
  uint32_t r_np = wd_state_r_u32(r), bits = wd_state_r_u32(r), bands = wd_state_r_u32(r);
  WD_RETURN_IF(r->err, WD_ERR_STATE, errstr, errstr_size, "truncated");
  WD_RETURN_IF(cs->cnt || cs->cl_cnt, WD_ERR_INTERNAL, errstr, errstr_size,
               "cluster store not empty");
  WD_RETURN_IF(r_np != np || bits != 16 || bands != cs->opts.bands, WD_ERR_STATE, errstr,
               errstr_size,
               "settings differ: checkpoint has minhash.num_perm=%u lsh.bands=%u, "
               "config has %zu and %u (use --fresh-state to start over)",
               r_np, bands, np, cs->opts.bands);
  const uint32_t base = wd_state_r_u32(r);
  const uint64_t cnt = wd_state_r_u64(r);
  cs->clusters = (size_t)wd_state_r_u64(r);
  cs->evicted = wd_state_r_u64(r);
  const uint32_t ncl = wd_state_r_u32(r);
  WD_RETURN_IF(!wd_state_r_fits(r, ncl, 8) || !wd_state_r_fits(r, cnt, 2 * np + 30) ||
                   cnt >= UINT32_MAX,
               WD_ERR_STATE, errstr, errstr_size, "truncated");
  WD_RETURN_IF(cnt > cs->max_live, WD_ERR_STATE, errstr, errstr_size,
               "checkpoint holds %llu articles, more than index.max_articles allows "
               "(raise it or use --fresh-state)",
               (unsigned long long)cnt);

  /* The docs in order at their doc numbers. */
  cs->base = base;
  size_t icap = IDMAP_MIN_CAP;
  while (idmap_full(cnt + 1, icap))
    icap *= 2;
  idmap_rebuild(cs, icap);

  /* Cluster ids first as plain strings; shared with their live root below. */
  const char **cl_s = wd_malloc((ncl ? ncl : 1) * sizeof(*cl_s));
  uint32_t *cl_len = wd_malloc((ncl ? ncl : 1) * sizeof(*cl_len));
  for (uint32_t c = 0; c < ncl; c++) {
    size_t len;
    cl_s[c] = wd_state_r_str(r, &len);
    cl_len[c] = (uint32_t)len;
    cluster_table_grow(cs);
    cs->cl_id[c] = NULL;
    cs->cl_st[c] = NO_DOC;
    cs->cl_size[c] = wd_state_r_u32(r);
    cs->cl_live[c] = 0;
    cs->cl_cnt++;
  }
  wd_err_t err = WD_OK;
  for (uint64_t i = 0; i < cnt && !r->err; i++) {
    size_t len, dlen;
    const char *id = wd_state_r_str(r, &len);
    const uint32_t c = wd_state_r_u32(r);
    if (r->err || c >= ncl || cs->idmap[idmap_find(cs, id, len)] != 0) {
      r->err = 1;
      break;
    }
    dir_reserve(cs);
    const uint32_t d = cs->base + (uint32_t)cs->cnt++;
    rec_t *rc = rec_of(cs, d);
    rc->id = idstr_new(cs, id, len);
    idmap_put(cs, id, len, d);
    rc->cl = c;
    rc->nshingles = wd_state_r_u32(r);
    rc->simhash = wd_state_r_u64(r);
    rc->ts = wd_state_r_i64(r);
    uint32_t simbits = wd_state_r_u32(r);
    memcpy(&rc->sim, &simbits, 4);
    rc->size_at = wd_state_r_u32(r);
    const int has_dup = wd_state_r_u8(r);
    const char *dup = has_dup ? wd_state_r_str(r, &dlen) : NULL;
    rc->dup = dup && !r->err ? idstr_intern(cs, dup, dlen) : NULL;
    if (!cs->cl_live[c]++) {
      cs->cl_id[c] = idstr_intern(cs, cl_s[c], cl_len[c]);
      cs->cl_st[c] = story_alloc(cs, cs->cl_id[c]); /* until a STRY section */
      cs->clusters_live++;
    }
    story_link(cs, cs->cl_st[c], d);
  }
  for (uint32_t c = 0; c < ncl && !r->err; c++)
    if (!cs->cl_live[c])
      r->err = 1; /* a cluster with no live member is never saved */
  for (size_t i = 0, run; i < cs->cnt && !r->err; i += run) {
    run = chunk_run(cs, i);
    wd_state_r_u16v(r, sig_row(cs, cs->base + (uint32_t)i), run * np);
  }
  if (r->err) {
    err = WD_ERR_STATE;
    wd_errstr_set(errstr, errstr_size, "truncated or inconsistent article table");
  } else {
    index_rebuild(cs); /* the word vectors stay empty until a TOPV section */
    story_near_rebuild(cs); /* the newest event time too until a STRY section */
  }
  wd_free(cl_s);
  wd_free(cl_len);
  return err;
}
