/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_CDM_CLEARKEY_H
#define AMPD_CDM_CLEARKEY_H

/*
 * Internals of the W3C ClearKey CDM plugin (prefix ck_). Nothing here is exported from
 * the .so: the build uses -fvisibility=hidden and a version script, so the only dynamic
 * symbol is ampd_cdm_entry.
 *
 *   clearkey.c  the vtable, instances, sessions, locking, host logging
 *   ck_json.c   base64url, pssh / keyids init data, the request JSON, the JWK-set license
 *   ck_ctr.c    'cenc' AES-128-CTR with a 64-bit block counter, subsamples
 */

#include <stddef.h>
#include <stdint.h>

#include <mbedtls/aes.h>

#include <ampd/cdm.h>

/* Keys a license may carry, and KIDs a request may name. */
#define CK_MAX_KEYS 64
/* Nesting depth a ClearKey JSON document needs: {"keys":[{...}]} is 3. */
#define CK_MAX_JSON_DEPTH 8

struct ck_key {
  uint8_t kid[16];
  mbedtls_aes_context aes; /* the expanded key; the raw key is not kept */
};

/* KID list of a request (init data or challenge). */
struct ck_kids {
  size_t n;
  uint8_t kid[CK_MAX_KEYS][16];
};

/* A parsed license, not yet installed. ck_license_wipe() zeroes it. */
struct ck_license {
  size_t n;
  uint8_t kid[CK_MAX_KEYS][16];
  uint8_t key[CK_MAX_KEYS][16];
  int64_t expiration_ms; /* 0 = none */
};

/* base64url (RFC 4648 §5) without padding, or with exactly the right '=' padding;
 * canonical only (the unused bits of the last character are zero); no white space.
 * -EINVAL for anything else; -ERANGE unless the result is exactly out_len bytes, or
 * out_len is over CK_B64_MAX_BYTES (every ClearKey value is 16 bytes). */
#define CK_B64_MAX_BYTES 48u
#define CK_B64_MAX_CHARS (CK_B64_MAX_BYTES / 3 * 4)
int ck_b64url_decode_exact(const char *in, size_t n, uint8_t *out, size_t out_len);
/* Unpadded base64url of 16 bytes: 22 characters + NUL. */
void ck_b64url_encode16(const uint8_t in[16], char out[23]);

/* -EINVAL if the text (len bytes, not NUL-terminated) nests arrays/objects deeper than
 * max_depth or is unbalanced outside strings; 0 otherwise. Cheap pre-check before cJSON. */
int ck_json_depth_ok(const char *text, size_t len, int max_depth);

/* KIDs from "cenc" init data: whole pssh boxes; KIDs of v1 boxes of the W3C common
 * system 1077efec-c0b2-4d02-ace3-3c1e52e2fb4b, deduplicated. -EINVAL for malformed
 * boxes, -AMPD_CDM_EUNSUPPORTED if no common-system KID is present. */
int ck_kids_from_cenc(const uint8_t *p, size_t len, struct ck_kids *ret);
/* KIDs from "keyids" init data {"kids":[...]} (1..CK_MAX_KEYS). -EINVAL if malformed. */
int ck_kids_from_keyids(const uint8_t *p, size_t len, struct ck_kids *ret);
/* {"kids":[...],"type":"temporary"} as a malloc'd buffer (no NUL counted in len). */
int ck_request_json(const struct ck_kids *kids, uint8_t **ret, size_t *ret_len);
/* Parse a JWK-set license strictly. -AMPD_CDM_ELICENSE for anything malformed,
 * -AMPD_CDM_ETOOBIG above AMPD_CDM_MAX_MESSAGE. *ret is written only on success. */
int ck_license_parse(const uint8_t *p, size_t len, struct ck_license *ret);
void ck_license_wipe(struct ck_license *l);

/* Check a sample's shape (version, scheme, IV, subsample sums): 0, -EINVAL, -AMPD_CDM_EABI
 * or -AMPD_CDM_EUNSUPPORTED. */
int ck_sample_check(const struct ampd_cdm_sample *s);
/* Decrypt a checked 'cenc' sample with aes. 0 or -AMPD_CDM_EDRM. */
int ck_cenc_decrypt(mbedtls_aes_context *aes, const struct ampd_cdm_sample *s);

#endif
