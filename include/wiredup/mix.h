/* mix.h - small integer mixers shared by the fingerprint stages.
 *
 * Header-only and inline: they sit in the innermost loops of MinHash, SimHash,
 * the word vectors (topv) and the LSH tables, and key the engine's hint set. Changing any constant here changes every fingerprint,
 * so it is a format change (see the version in the state layout). */
#ifndef WIREDUP_MIX_H
#define WIREDUP_MIX_H

#include <stdint.h>

/* splitmix64's finaliser: a full-avalanche 64-bit bijection. */
static inline uint64_t wd_mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

/* Chris Wellons' "lowbias32": two multiply-xorshift rounds, 32-bit only so
 * loops over it vectorise without 64-bit multiplies. */
static inline uint32_t wd_mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

/* Map 32 random bits onto [0, n) without a division (Lemire's fastrange). */
static inline uint32_t wd_fastrange32(uint32_t x, uint32_t n) {
  return (uint32_t)(((uint64_t)x * n) >> 32);
}

#endif
