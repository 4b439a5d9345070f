/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for core/config: every allocation failure. tests/unit/config.cmake links this
 * test with -Wl,--wrap for malloc, calloc and strdup, so core/config's calls (a static
 * library) land in the __wrap_* below, which fail the k-th call once armed. For k = 1, 2,
 * ... each of config_defaults(), config_load() and config_set() must fail with -ENOMEM and
 * leave nothing allocated (the leak checker of the asan preset) and, for load and set, the
 * configuration as it was, until k is past the last allocation and the call succeeds.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t a, size_t b);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t a, size_t b);
char *__wrap_strdup(const char *s);

static bool armed;
static unsigned calls, fail_at;

static bool should_fail(void) {
  return armed && ++calls == fail_at;
}

void *__wrap_malloc(size_t n) {
  return should_fail() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t a, size_t b) {
  return should_fail() ? NULL : __real_calloc(a, b);
}

char *__wrap_strdup(const char *s) {
  return should_fail() ? NULL : __real_strdup(s);
}

static void arm(unsigned k) {
  calls = 0;
  fail_at = k;
  armed = true;
}

static void disarm(void) {
  armed = false;
}

static char dir[64], path[96];

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof(dir), "/tmp/test_config_memory.XXXXXX");
  if (!mkdtemp(dir))
    return -1;
  snprintf(path, sizeof(path), "%s/ampd.conf", dir);
  FILE *f = fopen(path, "we");
  if (!f)
    return -1;
  fputs("[service]\nlwa_url = https://lwa.example.com\nclient_id = abc\n"
        "[output]\ndevice = hw:0\n[playback]\nvolume = 50\n[log]\nlevel = debug\n",
        f);
  return fclose(f);
}

static int teardown(void **state) {
  (void)state;
  unlink(path);
  rmdir(dir);
  return 0;
}

static void test_defaults_nomem(void **state) {
  (void)state;
  struct ampd_config c;
  unsigned k = 1, failures = 0;
  for (;; k++) {
    arm(k);
    int r = config_defaults(&c);
    disarm();
    if (calls < k) { /* every allocation succeeded */
      assert_int_equal(r, 0);
      break;
    }
    assert_int_equal(r, -ENOMEM);
    /* Nothing left to free: the strings made before the failure are gone and c is zero
     * (no config_free here, so a leak of them shows). */
    static const struct ampd_config zero;
    assert_memory_equal(&c, &zero, sizeof(c));
    failures++;
  }
  /* One allocation per string key with a default (14 string keys; client_id, ca_file and
   * mixer_control default to NULL): each failed once. */
  assert_int_equal(failures, 11);
  assert_string_equal(c.log.level, "info");
  config_free(&c);
}

static void test_load_nomem(void **state) {
  (void)state;
  struct ampd_config c;
  char err[CONFIG_ERR_MAX];
  assert_int_equal(config_defaults(&c), 0);
  unsigned failures = 0;
  for (unsigned k = 1;; k++) {
    arm(k);
    err[0] = '\0';
    int r = config_load(path, &c, err, sizeof(err));
    disarm();
    if (calls < k) {
      assert_int_equal(r, 0);
      break;
    }
    assert_int_equal(r, -ENOMEM);
    assert_non_null(strstr(err, "out of memory"));
    assert_int_equal(strncmp(err, path, strlen(path)), 0);
    /* As it was. */
    assert_int_equal(c.playback.volume, 100);
    assert_string_equal(c.log.level, "info");
    assert_string_equal(c.output.device, "default");
    assert_null(c.service.client_id);
    failures++;
  }
  /* The file buffer, the parse state, the copy's 11 strings, the file's 4 strings. */
  assert_int_equal(failures, 2 + 11 + 4);
  assert_int_equal(c.playback.volume, 50);
  assert_string_equal(c.log.level, "debug");
  assert_string_equal(c.service.client_id, "abc");
  config_free(&c);
}

static void test_set_nomem(void **state) {
  (void)state;
  struct ampd_config c;
  char err[CONFIG_ERR_MAX];
  assert_int_equal(config_defaults(&c), 0);
  arm(1);
  int r = config_set(&c, "output.device", "hw:1", err, sizeof(err));
  disarm();
  assert_int_equal(r, -ENOMEM);
  assert_string_equal(err, "output.device: out of memory");
  assert_string_equal(c.output.device, "default");
  /* A number needs no allocation. */
  arm(1);
  r = config_set(&c, "playback.volume", "3", err, sizeof(err));
  disarm();
  assert_int_equal(r, 0);
  assert_int_equal(calls, 0);
  config_free(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults_nomem),
      cmocka_unit_test_setup_teardown(test_load_nomem, setup, teardown),
      cmocka_unit_test(test_set_nomem),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
