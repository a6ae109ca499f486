/* datagen_main.c - wd-datagen: write a seeded synthetic newswire corpus as
 * JSON Lines (see datagen.h), with a one-line summary on stderr. */
#include "bench.h"
#include "datagen.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp) {
  fprintf(fp,
          "usage: wd-datagen [--count N] [--seed S] [--dup-share F] [--html-share F]\n"
          "                  [--sources N] [--words-median N] [--output FILE]\n"
          "Writes N synthetic articles (default 10000) as JSON Lines to FILE or stdout.\n");
}

static int cmp_size(const void *a, const void *b) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  wd_datagen_opts_t o;
  unsigned long long count = 10000;
  const char *outpath = NULL;
  wd_datagen_opts_default(&o);
  const char *a, *v;
  for (int i = 1; wd_bench_next_opt(argc, argv, &i, usage, &a, &v);) {
    if (wd_datagen_opt(&o, a, v))
      continue;
    if (!strcmp(a, "--count"))
      count = strtoull(v, NULL, 10);
    else if (!strcmp(a, "--output"))
      outpath = v;
    else {
      fprintf(stderr, "wd-datagen: unknown option %s\n", a);
      usage(stderr);
      return 2;
    }
  }
  wd_datagen_t *g = wd_datagen_new(&o);
  if (!g) {
    fprintf(stderr, "wd-datagen: invalid options\n");
    return 2;
  }
  FILE *fp = outpath ? fopen(outpath, "w") : stdout;
  if (!fp) {
    fprintf(stderr, "wd-datagen: %s: %s\n", outpath, strerror(errno));
    return 1;
  }
  size_t *sizes = malloc((count ? count : 1) * sizeof(*sizes));
  wd_buf_t line = WD_BUF_INIT;
  unsigned long long copies = 0, bytes = 0;
  for (unsigned long long n = 0; n < count; n++) {
    wd_buf_clear(&line);
    copies += (unsigned long long)wd_datagen_next(g, &line);
    wd_buf_appendc(&line, '\n');
    fwrite(line.p, 1, line.len, fp);
    bytes += line.len;
    if (sizes)
      sizes[n] = line.len;
  }
  int rc = 0;
  if (fflush(fp) != 0 || ferror(fp)) {
    fprintf(stderr, "wd-datagen: write error: %s\n", strerror(errno));
    rc = 1;
  }
  if (outpath)
    fclose(fp);
  size_t median = 0;
  if (sizes && count) {
    qsort(sizes, count, sizeof(*sizes), cmp_size);
    median = sizes[count / 2];
  }
  fprintf(stderr,
          "datagen records=%llu copies=%llu bytes=%llu mean_bytes=%.0f median_bytes=%zu "
          "seed=%llu\n",
          count, copies, bytes, count ? (double)bytes / (double)count : 0.0, median,
          (unsigned long long)o.seed);
  free(sizes);
  wd_buf_free(&line);
  wd_datagen_destroy(g);
  return rc;
}
