/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_CLOUD_LWA_INT_H
#define AMPD_CLOUD_LWA_INT_H

/*
 * lwa internals: the pure parsers of what LWA sends and of the token file
 * (src/cloud/lwa_parse.c), for lwa.c, the fuzz harness (tests/fuzz/fuzz_lwa.c) and the
 * unit tests. No loop, no HTTP, no state, no logging: bytes in, fields out.
 *
 * Input: len bytes (need not be NUL-terminated, at most LWA_REPLY_MAX for a reply and
 * LWA_FILE_MAX for the file: the callers' buffers are bounded so). Every string handed
 * out is a copy in the caller's struct, NUL-terminated, of printable ASCII without
 * space (0x21..0x7e) and within its bound; a JSON value that is not (too long, a
 * control character, non-ASCII) fails the parse instead of being cut. A text holding a
 * NUL (raw, or the escape \u0000 in any string; the JSON parser would end the string
 * there) or anything but white space after its JSON value is refused whole, as not JSON.
 * The structs hold secrets: the caller wipes them (explicit_bzero) when done. A ret_
 * struct is written only on success.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cloud/lwa.h"

#define LWA_FILE_MAX (8u * 1024)          /* bytes of the token file we accept */
#define LWA_INTERVAL_MIN_MS 50u           /* a poll interval below this is taken as this */
#define LWA_INTERVAL_MAX_MS 300000u       /* ... and above this as this */
#define LWA_INTERVAL_DEFAULT_MS 5000u     /* when the code pair names none */
#define LWA_CODE_LIFETIME_MAX_S 86400     /* a code pair's expires_in is cut to a day */
#define LWA_TOKEN_LIFETIME_MAX_S 31536000 /* an access token's expires_in is cut to a year */
#define LWA_EXPIRES_AT_MAX 253402300799LL /* 9999-12-31: a larger expiry in the file is junk */

/* A code pair reply (docs/service.md §2). */
struct lwa_codepair {
  char device_code[LWA_CODE_MAX + 1];
  char user_code[LWA_CODE_MAX + 1];
  char uri[LWA_CODE_MAX + 1]; /* verification_uri */
  int64_t expires_in;         /* seconds, 1..LWA_CODE_LIFETIME_MAX_S */
  uint64_t interval_ms;       /* LWA_INTERVAL_MIN_MS..LWA_INTERVAL_MAX_MS */
};

/* A token reply: the access token, the refresh token ("" when the reply has none). */
struct lwa_token_reply {
  char access[LWA_TOKEN_MAX + 1];
  char refresh[LWA_TOKEN_MAX + 1];
  int64_t expires_in; /* seconds, 1..LWA_TOKEN_LIFETIME_MAX_S */
};

/* The token file: the refresh token, the access token ("" when none) and its expiry. */
struct lwa_token_file {
  char refresh[LWA_TOKEN_MAX + 1];
  char access[LWA_TOKEN_MAX + 1];
  int64_t expires_at; /* epoch seconds, 0..LWA_EXPIRES_AT_MAX; 0 when access is "" */
};

/* The reply to create/codepair: device_code, user_code and verification_uri (each
 * 1..LWA_CODE_MAX bytes), expires_in >= 1 (cut to LWA_CODE_LIFETIME_MAX_S), interval
 * (seconds, a fraction allowed; taken within the bounds above, the default when absent
 * or not > 0). 0 or -AMP_EPROTO. */
int lwa_parse_codepair(const char *reply, size_t len, struct lwa_codepair *ret);

/* A token reply: access_token (1..LWA_TOKEN_MAX), refresh_token (1..LWA_TOKEN_MAX;
 * required when need_refresh, else optional), token_type absent or "bearer" (any case),
 * expires_in >= 1 (cut to LWA_TOKEN_LIFETIME_MAX_S). 0 or -AMP_EPROTO. */
int lwa_parse_tokens(const char *reply, size_t len, bool need_refresh, struct lwa_token_reply *ret);

/* The LWA error code of an error reply {"error": "<code>", ...} into out (n bytes,
 * n >= 1): the code when it is 1..n-1 bytes of [a-z_], else "" (not JSON, no "error",
 * anything else: never copied, so never logged). */
void lwa_parse_error(const char *reply, size_t len, char *out, size_t n);

/* The token file {"version": 1, "refresh_token", "access_token", "expires_at"}:
 * refresh_token required, access_token optional ("" or absent: none), expires_at a
 * number within 0..LWA_EXPIRES_AT_MAX. 0 or -AMP_EJSON. */
int lwa_parse_file(const char *text, size_t len, struct lwa_token_file *ret);

/* Wipe every string of a cJSON tree, then free it (parsed replies and files hold
 * tokens). Accepts NULL. */
struct cJSON;
void lwa_json_free_wiped(struct cJSON *j);

/* Nesting allowed in an LWA reply or the token file (they are flat objects). */
#define LWA_JSON_DEPTH_MAX 8

#endif
