/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPACK_KEYS_H
#define AMPACK_KEYS_H

#include <stdint.h>

/*
 * Deterministic key material: KID, key and base IV of (seed, track id, variant) are the
 * first bytes of SHA-256("ampack|<what>|<seed>|<track id>|<variant>"). Test content
 * only: these keys are public by construction.
 */

struct keys {
  uint8_t kid[16];
  uint8_t key[16];
  uint8_t iv[8];
};

/* 0 or -EINVAL (track id too long). */
int keys_derive(uint64_t seed, const char *track_id, unsigned variant, struct keys *ret);

/* Write {"kid":"<32 hex>","key":"<32 hex>"} and a newline to path. 0 or -errno. */
int keys_write_json(const char *path, const struct keys *k);

/* "01234567-89ab-cdef-0123-456789abcdef" (37 bytes with the NUL). */
void keys_uuid(const uint8_t kid[16], char out[37]);

#endif
