/* bench_ref.c - the bare reference path (issue 18): what a lean, plain C
 * near-duplicate finder does per article, with none of wiredup's other
 * work, as the yardstick for wiredup's own rate on the same core:
 *
 *   cJSON parse of the record; its title and body strings;
 *   normalise: ASCII letters and digits lower-cased (a table), every other
 *     ASCII byte a separator, bytes >= 0x80 kept in the word as they are
 *     (no Unicode work, no HTML, no boilerplate);
 *   each word hashed with XXH3 (inlined), 5-word shingles (XXH3 of the five
 *     word hashes);
 *   one-permutation MinHash (Li, Owen and Zhang 2012): 128 bins by the top
 *     7 bits, the minimum of the rest per bin, empty bins densified by
 *     rotation (Shrivastava and Li 2014);
 *   LSH: 64 bands of 2 values; the 64 band keys go into one open-addressing
 *     table (key -> how many docs so far), sized for the whole file up
 *     front (no rehash), all 64 prefetched before they are probed; the
 *     candidates are counted, not read or verified.
 *
 * No SimHash, no verification, no decision, no output, one thread. It is
 * meant as a floor for the same work, not as a finder: wiredup does more
 * (Unicode, HTML, boilerplate, SimHash, the decision, the output).
 *
 *   wd-bench-ref FILE [--reps N]
 * prints: bench=ref docs=N seconds=S docs_per_s=R candidates=C (best of N
 * runs, the file read into memory first, outside the timing). With
 * WD_REF_PROFILE set, also the microseconds per article of each phase. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#define XXH_INLINE_ALL /* as a speed-minded C program would */
#include <xxhash.h>

#define SHINGLE 5
#define BINS 128
#define BANDS 64
#define ROWS (BINS / BANDS)

/* ==== The LSH table: every band's keys in one table ==== */

typedef struct {
  uint64_t key; /* 0: empty */
  uint64_t cnt;
} slot_t;

static slot_t *tab;
static size_t tab_cap, tab_n; /* tab_cap a power of two */

/* An empty table of \p cap slots. The memory is allocated once and cleared
 * in place before each run: a fresh calloc'd table is faulted in page by
 * page while the run probes it (64 MB in 4 KiB pages here), which timed
 * the kernel's page clearing, not the path (12.7 us of LSH per article
 * instead of 1.6). */
static void tab_init(size_t cap) {
  if (cap != tab_cap) {
    free(tab);
    tab = malloc(cap * sizeof(*tab));
    tab_cap = cap;
  }
  memset(tab, 0, cap * sizeof(*tab));
  tab_n = 0;
}

static void tab_grow(void) {
  slot_t *old = tab;
  size_t old_cap = tab_cap;
  tab = calloc(old_cap * 2, sizeof(*tab));
  tab_cap = old_cap * 2;
  for (size_t i = 0; i < old_cap; i++)
    if (old[i].key) {
      size_t h = old[i].key & (tab_cap - 1);
      while (tab[h].key)
        h = (h + 1) & (tab_cap - 1);
      tab[h] = old[i];
    }
  free(old);
}

/* How many docs are under \p key so far; the doc counted in. */
static uint64_t tab_query_add(uint64_t key) {
  size_t h = key & (tab_cap - 1);
  while (tab[h].key && tab[h].key != key)
    h = (h + 1) & (tab_cap - 1);
  if (!tab[h].key) {
    tab[h].key = key;
    tab_n++;
  }
  return tab[h].cnt++;
}

/* ==== Words ==== */

static unsigned char lower[256]; /* 0: a separator */

static void lower_init(void) {
  for (int c = 0; c < 256; c++)
    lower[c] = (unsigned char)(c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
                                   ? c
                               : c >= 'A' && c <= 'Z' ? c | 0x20
                                                      : 0);
}

typedef struct {
  uint64_t *h;
  size_t n, cap;
} words_t;

/* Normalise and hash the words of \p s into \p w. */
static void words_add(words_t *w, const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  unsigned char buf[256];
  size_t len = 0;
  for (;; p++) {
    const unsigned char l = lower[*p];
    if (l) {
      if (len < sizeof(buf))
        buf[len++] = l;
      continue;
    }
    if (len) {
      if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 1024;
        w->h = realloc(w->h, w->cap * sizeof(*w->h));
      }
      w->h[w->n++] = XXH3_64bits(buf, len);
      len = 0;
    }
    if (!*p)
      break;
  }
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: wd-bench-ref FILE [--reps N]\n");
    return 2;
  }
  const int reps = argc >= 4 && strcmp(argv[2], "--reps") == 0 && atoi(argv[3]) > 0
                       ? atoi(argv[3])
                       : 3;
  FILE *f = fopen(argv[1], "rb");
  if (!f) {
    perror(argv[1]);
    return 1;
  }
  fseek(f, 0, SEEK_END);
  const long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *data = malloc((size_t)size + 1);
  if (fread(data, 1, (size_t)size, f) != (size_t)size) {
    perror(argv[1]);
    return 1;
  }
  fclose(f);
  data[size] = '\0';
  lower_init();

  const int prof = getenv("WD_REF_PROFILE") != NULL;
  double best = 1e30, ph[4] = {0};
  size_t docs = 0;
  uint64_t cands = 0;
  words_t w = {0};
  size_t lines = 0, cap = 1u << 16;
  for (const char *c = data; (c = memchr(c, '\n', (size_t)(data + size - c))); c++)
    lines++;
  while (cap < 2 * (lines + 1) * BANDS) /* sized once: no rehash in the timing */
    cap *= 2;
  for (int r = 0; r < reps; r++) {
    tab_init(cap);
    docs = 0;
    cands = 0;
    const double t0 = now_s();
    for (char *line = data; *line;) {
      char *end = memchr(line, '\n', (size_t)(data + size - line));
      const size_t len = end ? (size_t)(end - line) : strlen(line);
      const double ta = prof ? now_s() : 0;
      cJSON *j = cJSON_ParseWithLength(line, len);
      const double tb = prof ? now_s() : 0;
      line += len + (end ? 1 : 0);
      if (!j)
        continue;
      w.n = 0;
      const cJSON *title = cJSON_GetObjectItemCaseSensitive(j, "title");
      const cJSON *body = cJSON_GetObjectItemCaseSensitive(j, "body");
      if (cJSON_IsString(title))
        words_add(&w, title->valuestring);
      if (cJSON_IsString(body))
        words_add(&w, body->valuestring);
      cJSON_Delete(j);
      const double tc = prof ? now_s() : 0;

      uint64_t bin[BINS];
      memset(bin, 0xff, sizeof(bin));
      for (size_t i = 0; i + SHINGLE <= w.n; i++) {
        const uint64_t h = XXH3_64bits(w.h + i, SHINGLE * sizeof(uint64_t));
        const unsigned b = (unsigned)(h >> 57);
        const uint64_t v = h & ((UINT64_C(1) << 57) - 1);
        if (v < bin[b])
          bin[b] = v;
      }
      unsigned full = 0;
      for (unsigned b = 0; b < BINS; b++)
        full += bin[b] != UINT64_MAX;
      for (unsigned b = 0; full && b < BINS; b++) /* densify: the next full bin */
        if (bin[b] == UINT64_MAX)
          for (unsigned k = 1; k < BINS; k++) {
            const unsigned o = (b + k) % BINS;
            if (bin[o] != UINT64_MAX) {
              bin[b] = bin[o] + k;
              break;
            }
          }
      const double td = prof ? now_s() : 0;

      uint64_t key[BANDS];
      if (2 * (tab_n + BANDS) > tab_cap)
        tab_grow();
      for (unsigned band = 0; band < BANDS; band++) {
        key[band] = XXH3_64bits_withSeed(bin + band * ROWS, ROWS * sizeof(uint64_t), band) | 1;
        __builtin_prefetch(&tab[key[band] & (tab_cap - 1)], 1);
      }
      for (unsigned band = 0; band < BANDS; band++)
        cands += tab_query_add(key[band]);
      if (prof) {
        const double te = now_s();
        ph[0] += tb - ta, ph[1] += tc - tb, ph[2] += td - tc, ph[3] += te - td;
      }
      docs++;
    }
    const double dt = now_s() - t0;
    if (dt < best)
      best = dt;
  }
  if (prof && docs)
    printf("phases_us parse=%.2f words=%.2f shingle_minhash=%.2f lsh=%.2f\n",
           ph[0] * 1e6 / (double)docs / reps, ph[1] * 1e6 / (double)docs / reps,
           ph[2] * 1e6 / (double)docs / reps, ph[3] * 1e6 / (double)docs / reps);
  printf("bench=ref docs=%zu seconds=%.4f docs_per_s=%.0f candidates=%llu\n", docs, best,
         (double)docs / best, (unsigned long long)cands);
  free(w.h);
  free(tab);
  free(data);
  return 0;
}
