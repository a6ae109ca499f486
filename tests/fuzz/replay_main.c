/* replay_main.c - run a fuzz harness over files and directories (one input
 * per file), the way a libFuzzer binary does when given paths. Used when the
 * harnesses are built without libFuzzer (gcc, the normal build), so the seed
 * corpus and every crash ever found are replayed by ctest. */
#include "fuzz.h"

#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

static int replay_file(const char *path) {
  FILE *fp = fopen(path, "rb");
  if (!fp) {
    fprintf(stderr, "replay: cannot open %s\n", path);
    return -1;
  }
  size_t cap = 4096, len = 0, n;
  uint8_t *buf = malloc(cap);
  while (buf && (n = fread(buf + len, 1, cap - len, fp)) > 0) {
    len += n;
    if (len == cap) {
      uint8_t *nb = realloc(buf, cap *= 2);
      if (!nb)
        free(buf);
      buf = nb;
    }
  }
  fclose(fp);
  if (!buf) {
    fprintf(stderr, "replay: out of memory reading %s\n", path);
    return -1;
  }
  /* An exact-size copy, so ASan sees reads past the input's end. */
  uint8_t *in = malloc(len ? len : 1);
  memcpy(in, buf, len);
  free(buf);
  LLVMFuzzerTestOneInput(in, len);
  free(in);
  return 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replays \p path (a file, or every regular file in a directory, sorted).
 * @returns the number of inputs run, or -1 on an unreadable path. */
static long replay_path(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) {
    fprintf(stderr, "replay: no such path %s\n", path);
    return -1;
  }
  if (!S_ISDIR(st.st_mode))
    return replay_file(path) == 0 ? 1 : -1;
  DIR *d = opendir(path);
  if (!d)
    return -1;
  char **names = NULL;
  size_t cnt = 0, cap = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.')
      continue;
    if (cnt == cap) {
      cap = cap ? cap * 2 : 64;
      names = realloc(names, cap * sizeof(*names));
    }
    size_t n = strlen(path) + strlen(de->d_name) + 2;
    names[cnt] = malloc(n);
    snprintf(names[cnt++], n, "%s/%s", path, de->d_name);
  }
  closedir(d);
  if (cnt)
    qsort(names, cnt, sizeof(*names), cmp_str);
  long runs = 0;
  for (size_t i = 0; i < cnt; i++) {
    if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
      if (replay_file(names[i]) != 0)
        runs = -1;
      else if (runs >= 0)
        runs++;
    }
    free(names[i]);
  }
  free(names);
  return runs;
}

int main(int argc, char **argv) {
  long total = 0;
  if (argc < 2) {
    fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
    return 2;
  }
  for (int i = 1; i < argc; i++) {
    long n = replay_path(argv[i]);
    if (n < 0)
      return 1;
    total += n;
  }
  fprintf(stderr, "replayed %ld inputs\n", total);
  return total > 0 ? 0 : 1;
}
