/* shingle.c - token hashes and distinct word k-shingle hashes of canonical
 * token text.
 *
 * One XXH3 per token, one XXH3 over k token hashes per position; the distinct
 * set comes from a scratch open-addressing table whose slots carry the
 * generation that wrote them, so "clearing" it is one increment. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "wiredup/shingle.h"
#include "wiredup/mem.h"

#include <assert.h>
#include <string.h>

#define SHINGLE_K_MAX 16u
#define SEEN_MIN_CAP 64u

struct wd_shingle_s {
  uint32_t k;
  uint64_t seed;

  uint64_t *tok; /* token hashes of the last text */
  size_t tok_cnt, tok_cap;

  uint64_t *set; /* distinct shingles, first-seen order */
  size_t set_cnt, set_cap;

  /* Scratch set: a slot is occupied only if seen_gen[i] == gen. */
  uint64_t *seen_key;
  uint32_t *seen_gen;
  size_t seen_mask; /* capacity - 1, capacity a power of two */
  uint32_t gen;
};

void wd_shingle_opts_default(wd_shingle_opts_t *opts) {
  opts->k = 5;
  opts->seed = 0;
}

wd_shingle_t *wd_shingle_new(const wd_shingle_opts_t *opts) {
  wd_shingle_opts_t dflt;
  if (!opts) {
    wd_shingle_opts_default(&dflt);
    opts = &dflt;
  }
  if (opts->k < 1 || opts->k > SHINGLE_K_MAX)
    return NULL;
  wd_shingle_t *sh = wd_calloc(1, sizeof(*sh));
  sh->k = opts->k;
  sh->seed = opts->seed;
  return sh;
}

void wd_shingle_destroy(wd_shingle_t *sh) {
  if (!sh)
    return;
  wd_free(sh->tok);
  wd_free(sh->set);
  wd_free(sh->seen_key);
  wd_free(sh->seen_gen);
  wd_free(sh);
}

uint64_t wd_shingle_token_hash(const wd_shingle_t *sh, const char *tok,
                               size_t tok_len) {
  return XXH3_64bits_withSeed(tok, tok_len, sh->seed);
}

/* ==== Scratch storage ==== */

static void tok_push(wd_shingle_t *sh, uint64_t h) {
  if (sh->tok_cnt == sh->tok_cap) {
    sh->tok_cap = sh->tok_cap ? sh->tok_cap * 2 : 256;
    sh->tok = wd_realloc(sh->tok, sh->tok_cap * sizeof(*sh->tok));
  }
  sh->tok[sh->tok_cnt++] = h;
}

/* Make room for up to n distinct shingles and start a new generation. The
 * table is kept at most half full so probes stay short. */
static void seen_begin(wd_shingle_t *sh, size_t n) {
  if (n > sh->set_cap) {
    wd_free(sh->set);
    sh->set_cap = n;
    sh->set = wd_malloc(n * sizeof(*sh->set));
  }
  size_t cap = sh->seen_key ? sh->seen_mask + 1 : 0;
  if (cap < 2 * n || cap < SEEN_MIN_CAP) {
    size_t ncap = cap ? cap : SEEN_MIN_CAP;
    while (ncap < 2 * n)
      ncap *= 2;
    wd_free(sh->seen_key);
    wd_free(sh->seen_gen);
    sh->seen_key = wd_malloc(ncap * sizeof(*sh->seen_key));
    sh->seen_gen = wd_calloc(ncap, sizeof(*sh->seen_gen));
    sh->seen_mask = ncap - 1;
    sh->gen = 0;
  }
  if (++sh->gen == 0) {
    /* Wrapped after 2^32 texts: old stamps could look current again. */
    memset(sh->seen_gen, 0, (sh->seen_mask + 1) * sizeof(*sh->seen_gen));
    sh->gen = 1;
  }
  sh->set_cnt = 0;
}

/* Enter \p h in the scratch set (stamps \p gen in \p seen_gen, keys in
 * \p seen_key, \p mask + 1 slots). @returns 1 if it was not there yet. The
 * arrays come as arguments so that a caller's loop can keep them in
 * registers (stores through sh could alias them). */
static inline int seen_insert(uint64_t *seen_key, uint32_t *seen_gen, size_t mask,
                              uint32_t gen, uint64_t h) {
  for (size_t i = (size_t)(h ^ (h >> 32)) & mask;; i = (i + 1) & mask) {
    if (seen_gen[i] != gen) {
      seen_gen[i] = gen;
      seen_key[i] = h;
      return 1;
    }
    if (seen_key[i] == h)
      return 0;
  }
}

static inline void seen_add(wd_shingle_t *sh, uint64_t h) {
  if (seen_insert(sh->seen_key, sh->seen_gen, sh->seen_mask, sh->gen, h)) {
    assert(sh->set_cnt < sh->set_cap);
    sh->set[sh->set_cnt++] = h;
  }
}

/* XXH3 over n token hashes in little-endian byte order, so shingle hashes
 * (and every signature built from them) are the same on any host. */
static uint64_t hash_tokens(const uint64_t *tok, size_t n, uint64_t seed) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  uint64_t le[SHINGLE_K_MAX];
  for (size_t i = 0; i < n; i++)
    le[i] = __builtin_bswap64(tok[i]);
  return XXH3_64bits_withSeed(le, n * sizeof(*le), seed);
#else
  return XXH3_64bits_withSeed(tok, n * sizeof(*tok), seed);
#endif
}

/* XXH3_64bits_withSeed of five token hashes (k = 5, the default): 40
 * bytes, XXH3's 17..128-byte case written out for that length (xxhash.h
 * XXH3_len_17to128_64b: four 16-byte mixes and the avalanche). The public
 * entry is a call and a dispatch on the length per position; here the
 * seeded secret words are loop constants and the eight input words are the
 * window's five tokens. test_shingle checks it against XXH3 itself. */
typedef struct shingle_key5_s {
  uint64_t k[8]; /* XXH3_kSecret words 0..7, seed added to even, taken from odd */
} shingle_key5_t;

static void key5_init(shingle_key5_t *key, uint64_t seed) {
  for (int i = 0; i < 8; i++) {
    uint64_t s;
    memcpy(&s, XXH3_kSecret + 8 * i, sizeof(s));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    s = __builtin_bswap64(s);
#endif
    key->k[i] = i % 2 ? s - seed : s + seed;
  }
}

static inline uint64_t mul_fold64(uint64_t a, uint64_t b) {
  const unsigned __int128 p = (unsigned __int128)a * b;
  return (uint64_t)p ^ (uint64_t)(p >> 64);
}

/* \p t: five token hashes as numbers (the little-endian bytes XXH3 reads). */
static inline uint64_t hash_tokens5(const shingle_key5_t *key, const uint64_t *t) {
  uint64_t acc = 5 * sizeof(*t) * XXH_PRIME64_1;
  acc += mul_fold64(t[2] ^ key->k[4], t[3] ^ key->k[5]); /* input+16, secret+32 */
  acc += mul_fold64(t[1] ^ key->k[6], t[2] ^ key->k[7]); /* input+len-32, secret+48 */
  acc += mul_fold64(t[0] ^ key->k[0], t[1] ^ key->k[1]); /* input+0, secret+0 */
  acc += mul_fold64(t[3] ^ key->k[2], t[4] ^ key->k[3]); /* input+len-16, secret+16 */
  acc ^= acc >> 37; /* XXH3_avalanche */
  acc *= 0x165667919E3779F9ULL;
  return acc ^ (acc >> 32);
}

/* ==== Shingling ==== */

static void shingle_tokens(wd_shingle_t *sh);

void wd_shingle_text(wd_shingle_t *sh, const char *text, size_t text_len) {
  wd_shingle_tokenise(sh, text, text_len);
  shingle_tokens(sh);
}

void wd_shingle_tokenise(wd_shingle_t *sh, const char *text, size_t text_len) {
  sh->tok_cnt = 0;
  sh->set_cnt = 0;
  size_t i = 0;
  while (i < text_len) {
    while (i < text_len && (text[i] == ' ' || text[i] == '\n'))
      i++;
    size_t start = i;
    while (i < text_len && text[i] != ' ' && text[i] != '\n')
      i++;
    if (i > start)
      tok_push(sh, XXH3_64bits_withSeed(text + start, i - start, sh->seed));
  }
}

void wd_shingle_hashes(wd_shingle_t *sh, const uint64_t *tok, size_t cnt) {
  if (cnt > sh->tok_cap) {
    sh->tok_cap = cnt;
    wd_free(sh->tok);
    sh->tok = wd_malloc(cnt * sizeof(*sh->tok));
  }
  if (cnt)
    memcpy(sh->tok, tok, cnt * sizeof(*tok));
  sh->tok_cnt = cnt;
  shingle_tokens(sh);
}

/* The distinct k-shingles of sh->tok. */
static void shingle_tokens(wd_shingle_t *sh) {
  const size_t n = sh->tok_cnt;
  const size_t k = sh->k;
  const size_t positions = n == 0 ? 0 : n < k ? 1 : n - k + 1;
  seen_begin(sh, positions);
  if (n == 0)
    return;
  if (n < k) {
    /* A short text still gets a fingerprint: one shingle of all its words. */
    seen_add(sh, hash_tokens(sh->tok, n, sh->seed));
    return;
  }
  if (k == 5) {
    /* the set's state in locals: the stores into it could alias sh */
    shingle_key5_t key;
    key5_init(&key, sh->seed);
    const uint64_t *tok = sh->tok;
    uint64_t *seen_key = sh->seen_key, *set = sh->set;
    uint32_t *seen_gen = sh->seen_gen;
    const size_t mask = sh->seen_mask;
    const uint32_t gen = sh->gen;
    /* Every hash first, into set, each one's slot asked for from memory:
     * the set's lines have left the cache since the last text and a
     * shingle's slot is a random one, so the misses overlap here instead
     * of stalling the de-dup one by one. Then the de-dup compacts set in
     * place (the distinct shingles so far never pass the position). */
    for (size_t p = 0; p < positions; p++) {
      const uint64_t h = hash_tokens5(&key, tok + p);
      set[p] = h;
      __builtin_prefetch(&seen_gen[(size_t)(h ^ (h >> 32)) & mask], 1);
    }
    size_t cnt = 0;
    for (size_t p = 0; p < positions; p++)
      if (seen_insert(seen_key, seen_gen, mask, gen, set[p]))
        set[cnt++] = set[p];
    assert(cnt <= sh->set_cap);
    sh->set_cnt = cnt;
    return;
  }
  for (size_t p = 0; p < positions; p++)
    seen_add(sh, hash_tokens(sh->tok + p, k, sh->seed));
}

const uint64_t *wd_shingle_set(const wd_shingle_t *sh, size_t *cnt) {
  *cnt = sh->set_cnt;
  return sh->set;
}

const uint64_t *wd_shingle_tokens(const wd_shingle_t *sh, size_t *cnt) {
  *cnt = sh->tok_cnt;
  return sh->tok;
}
