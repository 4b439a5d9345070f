/* SPDX-License-Identifier: Apache-2.0 */
#include "cloud/deviceid.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <mbedtls/md.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/statefile.h"

#define ID_BYTES 16                 /* 128 bits, both the machine id and the device id */
#define FILE_LEN (DEVICEID_LEN + 1) /* 32 hex digits and a newline, persisted and machine */

static const uint8_t app_id[ID_BYTES] = DEVICEID_APP_ID;

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1; /* upper case is refused, as machine-id(5) allows only lower case */
}

/* Parse exactly 32 lower-case hex digits and a newline into bytes. 0 or -EINVAL. */
static int parse_line(const uint8_t *p, size_t len, uint8_t bytes[ID_BYTES]) {
  if (len != FILE_LEN || p[DEVICEID_LEN] != '\n')
    return -EINVAL;
  for (size_t i = 0; i < ID_BYTES; i++) {
    int hi = hexval((char)p[2 * i]), lo = hexval((char)p[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return -EINVAL;
    bytes[i] = (uint8_t)(hi << 4 | lo);
  }
  return 0;
}

static void format_hex(const uint8_t bytes[ID_BYTES], char out[FILE_LEN + 1]) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < ID_BYTES; i++) {
    out[2 * i] = digits[bytes[i] >> 4];
    out[2 * i + 1] = digits[bytes[i] & 0xf];
  }
  out[DEVICEID_LEN] = '\n';
  out[FILE_LEN] = '\0';
}

/* Whether a read error of the machine id means "there is none to read" (a random id is
 * drawn) rather than a passing fault (returned). */
static bool machine_id_absent(int err) {
  return err == -ENOENT || err == -ENOTDIR || err == -EACCES || err == -EPERM || err == -ELOOP ||
         err == -EISDIR;
}

/* Read the machine id file into bytes. 0, -EINVAL (malformed), or -errno. */
static int read_machine_id(const char *path, uint8_t bytes[ID_BYTES]) {
  uint8_t raw[FILE_LEN + 1]; /* one byte more than a valid file, to see trailing bytes */
  size_t got = 0;
  int rc = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0)
    return -errno;
  while (got < sizeof(raw)) {
    ssize_t r = read(fd, raw + got, sizeof(raw) - got);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      rc = -errno;
      goto out;
    }
    if (r == 0)
      break;
    got += (size_t)r;
  }
  rc = parse_line(raw, got, bytes);
  if (rc == 0) {
    uint8_t any = 0;
    for (size_t i = 0; i < ID_BYTES; i++)
      any |= bytes[i];
    if (!any)
      rc = -EINVAL; /* the null id is no machine id */
  }
out:
  explicit_bzero(raw, sizeof(raw));
  close(fd);
  return rc;
}

/* HMAC-SHA256(key = machine id, message = app id), first 16 bytes. 0 or -EINVAL. */
static int derive(const uint8_t machine[ID_BYTES], uint8_t id[ID_BYTES]) {
  uint8_t mac[32];
  const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
  if (!md || mbedtls_md_hmac(md, machine, ID_BYTES, app_id, sizeof(app_id), mac) != 0) {
    explicit_bzero(mac, sizeof(mac));
    return -EINVAL;
  }
  memcpy(id, mac, ID_BYTES);
  explicit_bzero(mac, sizeof(mac));
  return 0;
}

static int draw_random(uint8_t id[ID_BYTES]) {
  size_t got = 0;
  while (got < ID_BYTES) {
    ssize_t r = getrandom(id + got, ID_BYTES - got, 0);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    got += (size_t)r;
  }
  return 0;
}

/* Whether statefile_read's error means the persisted file is refused (and replaced). */
static bool persisted_refused(int err) {
  return err == -ENOENT || err == -EPERM || err == -ELOOP || err == -EINVAL || err == -AMP_ETOOBIG;
}

int deviceid_get(const char *state_dir, const char *machine_id_path, char *out, size_t n) {
  uint8_t machine[ID_BYTES], id[ID_BYTES];
  char text[FILE_LEN + 1];
  struct buf b = BUF_INIT(FILE_LEN + 1); /* a longer file is -AMP_ETOOBIG: refused */
  int rc;

  if (n < DEVICEID_LEN + 1)
    return -AMP_ETOOBIG;
  if (!state_dir || !out)
    return -EINVAL;
  if (!machine_id_path)
    machine_id_path = DEVICEID_MACHINE_ID_PATH;

  rc = statefile_read(state_dir, DEVICEID_FILE, &b);
  if (rc == 0 && parse_line(b.data, b.len, id) == 0)
    goto found;
  if (rc < 0 && !persisted_refused(rc))
    goto done;

  rc = read_machine_id(machine_id_path, machine);
  if (rc == 0)
    rc = derive(machine, id);
  else if (machine_id_absent(rc))
    rc = draw_random(id);
  explicit_bzero(machine, sizeof(machine));
  if (rc < 0)
    goto done;
  format_hex(id, text);
  rc = statefile_write(state_dir, DEVICEID_FILE, text, FILE_LEN);
  if (rc < 0)
    goto done;

found:
  format_hex(id, text);
  memcpy(out, text, DEVICEID_LEN);
  out[DEVICEID_LEN] = '\0';
  rc = 0;
done:
  explicit_bzero(text, sizeof(text));
  explicit_bzero(id, sizeof(id));
  if (b.data)
    explicit_bzero(b.data, b.len);
  buf_done(&b);
  return rc;
}
