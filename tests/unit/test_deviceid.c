/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for cloud/deviceid: derived from the machine id, persisted, never the raw id. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cloud/deviceid.h"
#include "core/err.h"

/* Two machine ids and their expected device ids, computed independently with:
 *   python3 -c "import hmac,hashlib; print(hmac.new(bytes.fromhex('<machine id>'),
 *     bytes.fromhex('efa22d1cd34745cca2a0289a01497043'), hashlib.sha256).hexdigest()[:32])"
 * (the key is the machine id's 16 bytes, the message DEVICEID_APP_ID). */
#define MID_A "0123456789abcdef0123456789abcdef"
#define DEV_A "7d02f12328a8cf5ce3a2d234a326b559"
#define MID_B "fedcba9876543210fedcba9876543210"
#define DEV_B "63d39b124e891590b754d0f10cbd6c69"

struct fixture {
  char root[64];     /* mkdtemp */
  char state[96];    /* root/state: the state dir */
  char mid[96];      /* root/machine-id */
  char devfile[128]; /* state/device-id */
};

static int setup(void **state) {
  struct fixture *f = calloc(1, sizeof(*f));
  if (!f)
    return -1;
  snprintf(f->root, sizeof(f->root), "/tmp/ampd-devid-XXXXXX");
  if (!mkdtemp(f->root))
    return -1;
  snprintf(f->state, sizeof(f->state), "%s/state", f->root);
  snprintf(f->mid, sizeof(f->mid), "%s/machine-id", f->root);
  snprintf(f->devfile, sizeof(f->devfile), "%s/%s", f->state, DEVICEID_FILE);
  if (mkdir(f->state, 0700) != 0)
    return -1;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fixture *f = *state;
  unlink(f->devfile);
  unlink(f->mid);
  rmdir(f->state);
  rmdir(f->root);
  free(f);
  return 0;
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, data, len), (ssize_t)len);
  assert_int_equal(fchmod(fd, mode), 0);
  assert_int_equal(close(fd), 0);
}

static void write_mid(const struct fixture *f, const char *text) {
  write_file(f->mid, text, strlen(text), 0644);
}

/* The persisted file's whole content, NUL-terminated. */
static void read_devfile(const struct fixture *f, char *out, size_t size) {
  int fd = open(f->devfile, O_RDONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  ssize_t n = read(fd, out, size - 1);
  assert_true(n >= 0);
  out[n] = '\0';
  close(fd);
}

static void assert_mode_0600(const struct fixture *f) {
  struct stat st;
  assert_int_equal(stat(f->devfile, &st), 0);
  assert_true(S_ISREG(st.st_mode));
  assert_int_equal(st.st_mode & 07777, 0600);
}

static bool well_formed(const char *id) {
  if (strlen(id) != DEVICEID_LEN)
    return false;
  for (size_t i = 0; i < DEVICEID_LEN; i++)
    if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
      return false;
  return true;
}

/* ---- derivation ---- */

static void test_known_answer_and_persisted(void **state) {
  struct fixture *f = *state;
  char id[DEVICEID_LEN + 1], file[64];
  write_mid(f, MID_A "\n");
  assert_int_equal(deviceid_get(f->state, f->mid, id, sizeof(id)), 0);
  assert_string_equal(id, DEV_A);
  read_devfile(f, file, sizeof(file));
  assert_string_equal(file, DEV_A "\n");
  assert_mode_0600(f);
}

static void test_deterministic(void **state) {
  struct fixture *f = *state;
  char a[DEVICEID_LEN + 1], b[DEVICEID_LEN + 1], c[DEVICEID_LEN + 1];
  write_mid(f, MID_B "\n");
  assert_int_equal(deviceid_get(f->state, f->mid, a, sizeof(a)), 0);
  assert_int_equal(deviceid_get(f->state, f->mid, b, sizeof(b)), 0);
  assert_string_equal(a, b);
  /* Derived again from nothing but the machine id: the same value. */
  assert_int_equal(unlink(f->devfile), 0);
  assert_int_equal(deviceid_get(f->state, f->mid, c, sizeof(c)), 0);
  assert_string_equal(a, c);
  assert_string_equal(c, DEV_B);
}

static void test_not_the_raw_id(void **state) {
  struct fixture *f = *state;
  char id[DEVICEID_LEN + 1], file[64];
  write_mid(f, MID_A "\n");
  assert_int_equal(deviceid_get(f->state, f->mid, id, sizeof(id)), 0);
  assert_true(well_formed(id));
  assert_null(strstr(id, MID_A));
  /* Nor any half of it (a "partly hashed" id would keep one). */
  assert_null(strstr(id, "0123456789abcdef"));
  read_devfile(f, file, sizeof(file));
  assert_null(strstr(file, "0123456789abcdef"));
}

static void test_different_machine_different_id(void **state) {
  struct fixture *f = *state;
  char a[DEVICEID_LEN + 1], b[DEVICEID_LEN + 1];
  write_mid(f, MID_A "\n");
  assert_int_equal(deviceid_get(f->state, f->mid, a, sizeof(a)), 0);
  assert_int_equal(unlink(f->devfile), 0);
  write_mid(f, MID_B "\n");
  assert_int_equal(deviceid_get(f->state, f->mid, b, sizeof(b)), 0);
  assert_string_not_equal(a, b);
}

/* ---- the persisted id wins ---- */

static void test_persisted_wins(void **state) {
  struct fixture *f = *state;
  char a[DEVICEID_LEN + 1], b[DEVICEID_LEN + 1];
  write_mid(f, MID_A "\n");
  assert_int_equal(deviceid_get(f->state, f->mid, a, sizeof(a)), 0);
  write_mid(f, MID_B "\n"); /* the machine id changes */
  assert_int_equal(deviceid_get(f->state, f->mid, b, sizeof(b)), 0);
  assert_string_equal(b, DEV_A);
  /* A persisted id that no machine id here derives is also kept as it is. */
  write_file(f->devfile, "00112233445566778899aabbccddeeff\n", 33, 0600);
  assert_int_equal(deviceid_get(f->state, f->mid, b, sizeof(b)), 0);
  assert_string_equal(b, "00112233445566778899aabbccddeeff");
}

/* ---- malformed machine ids ---- */

static void test_malformed_machine_id(void **state) {
  struct fixture *f = *state;
  static const char *const bad[] = {
      "0123456789abcdef0123456789abcde\n",   /* 31 digits */
      "0123456789abcdef0123456789abcdef0\n", /* 33 digits */
      "0123456789ABCDEF0123456789ABCDEF\n",  /* upper case */
      "0123456789abcdef0123456789abcdef",    /* no newline */
      "0123456789abcdef0123456789abcdef\n\n",
      "0123456789abcdef0123456789abcdef \n",
      "0123456789abcdeg0123456789abcdef\n",
      "00000000000000000000000000000000\n", /* the null id */
      "uninitialized\n",
      "",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char id[DEVICEID_LEN + 1] = "untouched";
    write_mid(f, bad[i]);
    assert_int_equal(deviceid_get(f->state, f->mid, id, sizeof(id)), -EINVAL);
    assert_string_equal(id, "untouched");
    assert_int_equal(access(f->devfile, F_OK), -1); /* nothing persisted */
  }
}

/* ---- no machine id: a random id ---- */

static void test_absent_machine_id(void **state) {
  struct fixture *f = *state;
  char a[DEVICEID_LEN + 1], b[DEVICEID_LEN + 1], c[DEVICEID_LEN + 1], file[64];
  /* f->mid was never written */
  assert_int_equal(deviceid_get(f->state, f->mid, a, sizeof(a)), 0);
  assert_true(well_formed(a));
  read_devfile(f, file, sizeof(file));
  assert_int_equal(strlen(file), DEVICEID_LEN + 1);
  assert_memory_equal(file, a, DEVICEID_LEN);
  assert_int_equal(file[DEVICEID_LEN], '\n');
  assert_mode_0600(f);
  /* Stable on the next call. */
  assert_int_equal(deviceid_get(f->state, f->mid, b, sizeof(b)), 0);
  assert_string_equal(a, b);
  /* Random, not a constant: a fresh state dir draws another one. */
  assert_int_equal(unlink(f->devfile), 0);
  assert_int_equal(deviceid_get(f->state, f->mid, c, sizeof(c)), 0);
  assert_true(well_formed(c));
  assert_string_not_equal(a, c);
}

static void test_unreadable_machine_id(void **state) {
  struct fixture *f = *state;
  char a[DEVICEID_LEN + 1];
  /* A directory in its place (EISDIR on read): unreadable, so a random id. */
  assert_int_equal(mkdir(f->mid, 0700), 0);
  assert_int_equal(deviceid_get(f->state, f->mid, a, sizeof(a)), 0);
  assert_int_equal(rmdir(f->mid), 0);
  assert_true(well_formed(a));
  assert_string_not_equal(a, DEV_A);
  assert_string_not_equal(a, DEV_B);
  assert_mode_0600(f);
}

/* ---- refused persisted files are replaced ---- */

static void test_garbage_persisted(void **state) {
  struct fixture *f = *state;
  static const char *const bad[] = {
      "garbage",
      "7D02F12328A8CF5CE3A2D234A326B559\n", /* upper case */
      "00112233445566778899aabbccddeeff",   /* no newline */
      "00112233445566778899aabbccddeeff\nX",
      "00112233445566778899aabbccddee\n",
      "",
  };
  write_mid(f, MID_A "\n");
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char id[DEVICEID_LEN + 1], file[64];
    write_file(f->devfile, bad[i], strlen(bad[i]), 0600);
    assert_int_equal(deviceid_get(f->state, f->mid, id, sizeof(id)), 0);
    assert_string_equal(id, DEV_A);
    read_devfile(f, file, sizeof(file));
    assert_string_equal(file, DEV_A "\n"); /* rewritten */
    assert_mode_0600(f);
  }
}

static void test_loose_mode_persisted(void **state) {
  struct fixture *f = *state;
  char id[DEVICEID_LEN + 1], file[64];
  write_mid(f, MID_A "\n");
  /* Well-formed but readable by others: refused, derived again, written 0600. */
  write_file(f->devfile, "00112233445566778899aabbccddeeff\n", 33, 0644);
  assert_int_equal(deviceid_get(f->state, f->mid, id, sizeof(id)), 0);
  assert_string_equal(id, DEV_A);
  read_devfile(f, file, sizeof(file));
  assert_string_equal(file, DEV_A "\n");
  assert_mode_0600(f);
}

/* ---- arguments ---- */

static void test_buffer_too_small(void **state) {
  struct fixture *f = *state;
  char id[DEVICEID_LEN + 1];
  memset(id, 'x', sizeof(id));
  write_mid(f, MID_A "\n");
  assert_int_equal(deviceid_get(f->state, f->mid, id, DEVICEID_LEN), -AMP_ETOOBIG);
  for (size_t i = 0; i < sizeof(id); i++)
    assert_int_equal(id[i], 'x');
  assert_int_equal(access(f->devfile, F_OK), -1); /* checked before anything else */
  assert_int_equal(deviceid_get(NULL, f->mid, id, sizeof(id)), -EINVAL);
  assert_int_equal(deviceid_get(f->state, f->mid, NULL, sizeof(id)), -EINVAL);
  /* Exactly DEVICEID_LEN + 1 is enough. */
  assert_int_equal(deviceid_get(f->state, f->mid, id, DEVICEID_LEN + 1), 0);
  assert_string_equal(id, DEV_A);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_known_answer_and_persisted, setup, teardown),
      cmocka_unit_test_setup_teardown(test_deterministic, setup, teardown),
      cmocka_unit_test_setup_teardown(test_not_the_raw_id, setup, teardown),
      cmocka_unit_test_setup_teardown(test_different_machine_different_id, setup, teardown),
      cmocka_unit_test_setup_teardown(test_persisted_wins, setup, teardown),
      cmocka_unit_test_setup_teardown(test_malformed_machine_id, setup, teardown),
      cmocka_unit_test_setup_teardown(test_absent_machine_id, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unreadable_machine_id, setup, teardown),
      cmocka_unit_test_setup_teardown(test_garbage_persisted, setup, teardown),
      cmocka_unit_test_setup_teardown(test_loose_mode_persisted, setup, teardown),
      cmocka_unit_test_setup_teardown(test_buffer_too_small, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
