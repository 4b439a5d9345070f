/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz core/savedstate's reader (src/core/savedstate.h): the input is written as
 * <dir>/player-state (0600, a private temporary directory, under /dev/shm when there is
 * one) and read with savedstate_load().
 *
 * Checked:
 *  - the result is 0 or -EBADMSG (or -AMP_ETOOBIG folded into -EBADMSG: never another
 *    code for a regular 0600 file of ours);
 *  - an accepted file has its values in range (volume 0..100, repeat 0..2, a container
 *    of printable ASCII without spaces);
 *  - what is accepted, written back through savedstate_flush(), reads back the same.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/loop.h"
#include "core/savedstate.h"
#include "fuzz.h"

static char dir[64], path[128];
static struct loop *loop;

static void cleanup(void) {
  unlink(path);
  rmdir(dir);
  loop_free(loop);
}

static int setup(void) {
  if (dir[0])
    return 0;
  const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(dir, sizeof(dir), "%s/fuzz_savedstate.XXXXXX", base);
  if (!mkdtemp(dir) || loop_new(&loop) < 0) {
    dir[0] = '\0';
    return -1;
  }
  snprintf(path, sizeof(path), "%s/%s", dir, SAVEDSTATE_NAME);
  atexit(cleanup);
  return 0;
}

static int write_file(const uint8_t *data, size_t size) {
  unlink(path);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return -1;
  size_t done = 0;
  while (done < size) {
    ssize_t w = write(fd, data + done, size - done);
    if (w <= 0) {
      close(fd);
      return -1;
    }
    done += (size_t)w;
  }
  return close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static struct savedstate_data got, again;
  if (setup() < 0 || write_file(data, size) < 0)
    return 0;
  int r = savedstate_load(dir, &got);
  CHECK(r == 0 || r == -EBADMSG);
  if (r < 0)
    return 0;
  CHECK(got.volume <= 100 && got.repeat <= 2);
  for (const char *p = got.container; *p; p++)
    CHECK(*p > 0x20 && *p < 0x7f);
  if (!got.container[0])
    CHECK(got.track == 0 && got.position_ms == 0);
  struct savedstate *s = NULL;
  CHECK(savedstate_new(loop, dir, 1000, &s) == 0);
  unlink(path);
  savedstate_update(s, &got);
  CHECK(savedstate_flush(s) == 0);
  savedstate_free(s);
  memset(&again, 0xa5, sizeof(again));
  CHECK(savedstate_load(dir, &again) == 0);
  CHECK(again.volume == got.volume && again.repeat == got.repeat && again.track == got.track &&
        again.position_ms == got.position_ms && strcmp(again.container, got.container) == 0);
  return 0;
}
