/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Without libFuzzer (gcc, ASan builds) a harness is linked with this main(), which feeds
 * it every file of the seed corpus, so each build replays the corpus under its sanitizers.
 */
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Larger than any harness's -max_len (the biggest, mp4, is MP4_MAX_SEGMENT_SIZE plus a little). */
#define REPLAY_MAX_FILE (64u << 20)

/* The input goes to the harness in a buffer of exactly its size, as libFuzzer does, so a
 * read past its end is a heap overflow that ASan reports. */
static int replay_file(const char *path) {
  FILE *f = fopen(path, "rbe");
  if (!f)
    return -1;
  struct stat st;
  if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)REPLAY_MAX_FILE) {
    fclose(f);
    return -1;
  }
  size_t size = (size_t)st.st_size;
  uint8_t *data = malloc(size ? size : 1);
  size_t n = data ? fread(data, 1, size, f) : 0;
  fclose(f);
  if (!data || n != size) {
    free(data);
    return -1;
  }
  LLVMFuzzerTestOneInput(data, n);
  free(data);
  return 0;
}

int main(int argc, char **argv) {
  int count = 0;
  for (int i = 1; i < argc; i++) {
    DIR *d = opendir(argv[i]);
    if (!d) {
      if (replay_file(argv[i]) < 0) {
        fprintf(stderr, "replay: cannot read %s\n", argv[i]);
        return 1;
      }
      count++;
      continue;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
      if (e->d_name[0] == '.')
        continue;
      char path[4096];
      snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
      if (replay_file(path) < 0) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        closedir(d);
        return 1;
      }
      count++;
    }
    closedir(d);
  }
  if (count == 0) {
    fprintf(stderr, "replay: empty corpus\n");
    return 1;
  }
  printf("replayed %d inputs\n", count);
  return 0;
}
