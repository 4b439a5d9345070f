/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz cloud/deviceid's reading of its two files (src/cloud/deviceid.h): the persisted
 * <state_dir>/device-id and the machine id file. Both live in a private temporary
 * directory made once per process (under /dev/shm when there is one). Byte 0: bit 0 a
 * device-id file is written, bit 1 a machine id file, bit 2 the device-id file gets mode
 * 0640 (refused); byte 1 the device-id file's length (at most the rest); then its bytes,
 * then the machine id file's.
 *
 * Checked, against the rules of deviceid.h (a reference parse here: exactly 32 lower-case
 * hex digits and a newline; a machine id of zeros is none):
 *  - a well-formed device-id file of mode 0600 wins: its id is returned, the file kept;
 *  - otherwise, a machine id file that is malformed is -EINVAL and nothing is written;
 *  - otherwise the id (derived, or drawn when there is no machine id file) is 32 lower-case
 *    hex digits, and the device-id file holds it and a newline, mode 0600;
 *  - a derived id is the same whatever the device-id file held (run again from no file);
 *  - a second call returns the same id (it is stable), and no call writes past the 33
 *    bytes of its output (a guard).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "cloud/deviceid.h"
#include "core/err.h"

static char dir[64], state[96], devfile[160], machine[96];

static void cleanup(void) {
  unlink(devfile);
  unlink(machine);
  rmdir(state);
  rmdir(dir);
}

static int setup(void) {
  if (dir[0])
    return 0;
  const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(dir, sizeof(dir), "%s/fuzz_deviceid.XXXXXX", base);
  if (!mkdtemp(dir)) {
    dir[0] = '\0';
    return -1;
  }
  snprintf(state, sizeof(state), "%s/state", dir);
  snprintf(devfile, sizeof(devfile), "%s/%s", state, DEVICEID_FILE);
  snprintf(machine, sizeof(machine), "%s/machine-id", dir);
  if (mkdir(state, 0700) < 0)
    return -1;
  atexit(cleanup);
  return 0;
}

static int write_file(const char *path, const uint8_t *p, size_t n, mode_t mode) {
  unlink(path);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0)
    return -1;
  int r = fchmod(fd, mode);
  for (size_t done = 0; r == 0 && done < n;) {
    ssize_t w = write(fd, p + done, n - done);
    if (w <= 0)
      r = -1;
    else
      done += (size_t)w;
  }
  return close(fd) < 0 ? -1 : r;
}

/* Exactly 32 lower-case hex digits and a newline. */
static bool well_formed(const uint8_t *p, size_t n) {
  if (n != DEVICEID_LEN + 1 || p[DEVICEID_LEN] != '\n')
    return false;
  for (size_t i = 0; i < DEVICEID_LEN; i++)
    if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
      return false;
  return true;
}

static bool zeros(const uint8_t *p) {
  for (size_t i = 0; i < DEVICEID_LEN; i++)
    if (p[i] != '0')
      return false;
  return true;
}

/* The device-id file now: its bytes into buf (up to cap), the length, or -1 if none. */
static long read_devfile(uint8_t *buf, size_t cap, mode_t *mode) {
  int fd = open(devfile, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  struct stat st;
  ssize_t n = fstat(fd, &st) == 0 ? read(fd, buf, cap) : -1;
  *mode = st.st_mode & 07777;
  close(fd);
  return n;
}

/* deviceid_get() into a 33-byte output with a guard after it. */
static int get(char out[DEVICEID_LEN + 1]) {
  char buf[DEVICEID_LEN + 1 + 16];
  memset(buf, 0x5a, sizeof(buf));
  int r = deviceid_get(state, machine, buf, DEVICEID_LEN + 1);
  for (size_t i = DEVICEID_LEN + 1; i < sizeof(buf); i++)
    CHECK((uint8_t)buf[i] == 0x5a);
  memcpy(out, buf, DEVICEID_LEN + 1);
  return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2 || setup() < 0)
    return 0;
  bool has_dev = data[0] & 1, has_machine = data[0] & 2, loose = data[0] & 4;
  const uint8_t *rest = data + 2;
  size_t nrest = size - 2;
  size_t dl = data[1] < nrest ? data[1] : nrest;
  const uint8_t *dev = rest, *mid = rest + dl;
  size_t ml = nrest - dl;

  unlink(devfile);
  unlink(machine);
  if ((has_dev && write_file(devfile, dev, dl, loose ? 0640 : 0600) < 0) ||
      (has_machine && write_file(machine, mid, ml, 0600) < 0))
    return 0;

  char id[DEVICEID_LEN + 1], again[DEVICEID_LEN + 1];
  int r = get(id);
  uint8_t now[512]; /* more than any input's file */
  mode_t mode = 0;
  long nl = read_devfile(now, sizeof(now), &mode);
  bool dev_wins = has_dev && !loose && well_formed(dev, dl);
  bool machine_bad = has_machine && (!well_formed(mid, ml) || zeros(mid));
  if (dev_wins) {
    CHECK(r == 0 && memcmp(id, dev, DEVICEID_LEN) == 0 && id[DEVICEID_LEN] == '\0');
    CHECK(nl == (long)dl && memcmp(now, dev, dl) == 0);
  } else if (machine_bad) {
    CHECK(r == -EINVAL);
    if (has_dev)
      CHECK(nl == (long)dl && memcmp(now, dev, dl) == 0);
    else
      CHECK(nl < 0);
    return 0;
  } else {
    CHECK(r == 0);
    CHECK(strlen(id) == DEVICEID_LEN && strspn(id, "0123456789abcdef") == DEVICEID_LEN);
    CHECK(nl == DEVICEID_LEN + 1 && memcmp(now, id, DEVICEID_LEN) == 0 &&
          now[DEVICEID_LEN] == '\n' && mode == 0600);
    if (has_machine) { /* derived: the same from no device-id file at all */
      unlink(devfile);
      CHECK(get(again) == 0 && strcmp(again, id) == 0);
    }
  }
  CHECK(get(again) == 0 && strcmp(again, id) == 0);
  return 0;
}
