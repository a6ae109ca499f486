/* fuzz.h - shared by the libFuzzer harnesses in tests/fuzz/.
 *
 * A harness defines LLVMFuzzerTestOneInput. Built with -DWD_FUZZ=ON (clang)
 * it links libFuzzer; otherwise replay_main.c drives it over files, so the
 * seed and regression corpora run as ordinary ctest cases in every build.
 * FUZZ_CHECK is a real check in both: a broken invariant aborts, which
 * libFuzzer reports as a crash and ctest as a failure. */
#ifndef WD_FUZZ_H
#define WD_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond, ...)                                                  \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: invariant failed: %s: ", __FILE__, __LINE__,    \
              #cond);                                                          \
      fprintf(stderr, __VA_ARGS__);                                            \
      fputc('\n', stderr);                                                     \
      abort();                                                                 \
    }                                                                          \
  } while (0)

/* Canonical token text (norm.h): tokens separated by one ' ', lines by one
 * '\n', no empty lines, no leading or trailing blanks. @returns 1 if so. */
static inline int fuzz_is_canonical(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int sep = s[i] == ' ' || s[i] == '\n';
    if (s[i] == '\0' || s[i] == '\t' || s[i] == '\r')
      return 0;
    if (sep && (i == 0 || i + 1 == n || s[i - 1] == ' ' || s[i - 1] == '\n'))
      return 0;
  }
  return 1;
}

#endif
