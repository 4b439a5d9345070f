/* SPDX-License-Identifier: Apache-2.0 */
#include "keys.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <mbedtls/sha256.h>

#include "core/b64.h"

#define KEYS_MAX_LABEL 256

static int derive(const char *what, uint64_t seed, const char *track, unsigned variant,
                  uint8_t *out, size_t n) {
  char label[KEYS_MAX_LABEL];
  int len =
      snprintf(label, sizeof(label), "ampack|%s|%" PRIu64 "|%s|%u", what, seed, track, variant);
  if (len < 0 || (size_t)len >= sizeof(label))
    return -EINVAL;
  uint8_t h[32];
  if (mbedtls_sha256_ret((const unsigned char *)label, (size_t)len, h, 0) != 0)
    return -EINVAL;
  memcpy(out, h, n);
  return 0;
}

int keys_derive(uint64_t seed, const char *track_id, unsigned variant, struct keys *ret) {
  struct keys k;
  int r = derive("kid", seed, track_id, variant, k.kid, 16);
  if (r == 0)
    r = derive("key", seed, track_id, variant, k.key, 16);
  if (r == 0)
    r = derive("iv", seed, track_id, variant, k.iv, 8);
  if (r < 0)
    return r;
  /* KIDs look like version-4 UUIDs, as packagers make them. */
  k.kid[6] = (uint8_t)((k.kid[6] & 0x0f) | 0x40);
  k.kid[8] = (uint8_t)((k.kid[8] & 0x3f) | 0x80);
  *ret = k;
  return 0;
}

int keys_write_json(const char *path, const struct keys *k) {
  char kid[33], key[33];
  hex_encode(k->kid, 16, kid);
  hex_encode(k->key, 16, key);
  FILE *f = fopen(path, "we");
  if (!f)
    return -errno;
  fprintf(f, "{\"kid\":\"%s\",\"key\":\"%s\"}\n", kid, key);
  int r = ferror(f) ? -EIO : 0;
  if (fclose(f) != 0 && r == 0)
    r = -errno;
  return r;
}

void keys_uuid(const uint8_t kid[16], char out[37]) {
  char hex[33];
  hex_encode(kid, 16, hex);
  snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}
