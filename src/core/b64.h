/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_CORE_B64_H
#define AMPD_CORE_B64_H

#include <stddef.h>
#include <stdint.h>

/*
 * Base64 (RFC 4648 §4) and base64url (§5). Encoders write a NUL-terminated string and
 * need b64_encoded_len(n) + 1 bytes. The decoder takes either alphabet, with or without
 * '=' padding, and skips ASCII white space (manifests wrap long pssh values); anything
 * else is -EINVAL, and more than out_max bytes is -AMP_ETOOBIG.
 */
size_t b64_encoded_len(size_t n, int url);
void b64_encode(const uint8_t *in, size_t n, char *out, int url);
int b64_decode(const char *in, size_t n, uint8_t *out, size_t out_max, size_t *ret_len);

/* Hex helpers: "0a1b..." <-> bytes. hex_decode skips '-' (UUID form) and takes either case;
 * it fails with -EINVAL unless exactly out_len bytes are produced. */
void hex_encode(const uint8_t *in, size_t n, char *out /* 2n+1 */);
int hex_decode(const char *in, uint8_t *out, size_t out_len);

#endif
