/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for core/savedstate: the round trip, the debounce, a refused file. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/loop.h"
#include "core/savedstate.h"

static char dir[64], path[128];

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof(dir), "/tmp/test_savedstate.XXXXXX");
  if (!mkdtemp(dir))
    return -1;
  snprintf(path, sizeof(path), "%s/%s", dir, SAVEDSTATE_NAME);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  unlink(path);
  rmdir(dir);
  return 0;
}

static size_t read_all(char *out, size_t max) {
  FILE *f = fopen(path, "rbe");
  assert_non_null(f);
  size_t n = fread(out, 1, max, f);
  fclose(f);
  return n;
}

static void write_raw(const char *data, size_t len) {
  unlink(path);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, data, len), (ssize_t)len);
  close(fd);
}

/* Written only by the timer (never at once), 0600, read back equal. */
static void test_round_trip_debounced(void **state) {
  (void)state;
  struct loop *l;
  struct savedstate *s;
  assert_int_equal(loop_new(&l), 0);
  assert_int_equal(savedstate_new(l, dir, 20, &s), 0);
  struct savedstate_data d = {.volume = 37, .repeat = 2, .track = 1, .position_ms = 61234};
  snprintf(d.container, sizeof(d.container), "https://music.example/api/albums/a1?x=1");
  for (unsigned v = 30; v <= 37; v++) { /* a burst: one write */
    d.volume = v;
    savedstate_update(s, &d);
  }
  struct savedstate_data got;
  assert_int_equal(savedstate_load(dir, &got), -ENOENT); /* not yet: the debounce */
  while (access(path, F_OK) != 0)
    assert_true(loop_run_once(l, 1000) >= 0);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_int_equal(savedstate_load(dir, &got), 0);
  assert_int_equal(got.volume, 37);
  assert_int_equal(got.repeat, 2);
  assert_string_equal(got.container, d.container);
  assert_int_equal(got.track, 1);
  assert_int_equal(got.position_ms, 61234);
  /* Without a container: no resume lines, and flush writes at once. */
  d.container[0] = '\0';
  d.volume = 5;
  savedstate_update(s, &d);
  assert_int_equal(savedstate_flush(s), 0);
  memset(&got, 0xff, sizeof(got));
  assert_int_equal(savedstate_load(dir, &got), 0);
  assert_int_equal(got.volume, 5);
  assert_string_equal(got.container, "");
  assert_int_equal(got.track, 0);
  char text[512];
  size_t n = read_all(text, sizeof(text));
  text[n] = '\0';
  assert_null(strstr(text, "container"));
  savedstate_free(s);
  loop_free(l);
}

/* What was seeded (loaded) is not written again; free flushes what is pending. */
static void test_seed_and_free_flush(void **state) {
  (void)state;
  struct loop *l;
  struct savedstate *s;
  assert_int_equal(loop_new(&l), 0);
  assert_int_equal(savedstate_new(l, dir, 60000, &s), 0);
  struct savedstate_data d = {.volume = 80, .repeat = 0};
  savedstate_seed(s, &d);
  savedstate_update(s, &d);
  assert_int_equal(savedstate_flush(s), 0);
  assert_int_not_equal(access(path, F_OK), 0); /* nothing changed: nothing written */
  d.repeat = 1;
  savedstate_update(s, &d);
  assert_int_not_equal(access(path, F_OK), 0);
  savedstate_free(s); /* the shutdown: written */
  struct savedstate_data got;
  assert_int_equal(savedstate_load(dir, &got), 0);
  assert_int_equal(got.repeat, 1);
  assert_int_equal(got.volume, 80);
  loop_free(l);
}

/* Every cut and every flipped byte of a good file is refused, as are files of another
 * shape. */
static void test_refused(void **state) {
  (void)state;
  struct loop *l;
  struct savedstate *s;
  assert_int_equal(loop_new(&l), 0);
  assert_int_equal(savedstate_new(l, dir, 10, &s), 0);
  struct savedstate_data d = {.volume = 42, .repeat = 1, .track = 3, .position_ms = 9};
  snprintf(d.container, sizeof(d.container), "https://music.example/c");
  savedstate_update(s, &d);
  assert_int_equal(savedstate_flush(s), 0);
  savedstate_free(s);
  loop_free(l);
  char good[512];
  size_t n = read_all(good, sizeof(good));
  struct savedstate_data got;
  for (size_t cut = 0; cut < n; cut++) {
    write_raw(good, cut);
    assert_int_equal(savedstate_load(dir, &got), -EBADMSG);
  }
  for (size_t i = 0; i < n; i++) {
    char bad[512];
    memcpy(bad, good, n);
    bad[i] ^= 0x01;
    write_raw(bad, n);
    assert_int_equal(savedstate_load(dir, &got), -EBADMSG);
  }
  write_raw(good, n);
  assert_int_equal(savedstate_load(dir, &got), 0);
  assert_int_equal(got.volume, 42);
  static const char *const others[] = {
      "", "garbage\n", "ampd-state 2\nvolume 1\nrepeat 0\ncrc 00000000\n",
      "ampd-state 1\nvolume 1\nrepeat 0\n", /* no crc */
  };
  for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
    write_raw(others[i], strlen(others[i]));
    assert_int_equal(savedstate_load(dir, &got), -EBADMSG);
  }
  /* a group-readable file is refused by core/statefile */
  write_raw(good, n);
  assert_int_equal(chmod(path, 0640), 0);
  assert_int_equal(savedstate_load(dir, &got), -EPERM);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_round_trip_debounced, setup, teardown),
      cmocka_unit_test_setup_teardown(test_seed_and_free_flush, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
