/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz license_from_reply() (src/cloud/license.h, docs/service.md §8), the unwrapping of
 * the license server's {"license":"<base64>"} reply. The first byte picks the form of
 * the rest (which may be in tests/fuzz/grow.h's compact form, to reach the bounds):
 *
 *  - raw (0x00..0x3f): the rest is the reply body, in a heap copy of exactly its length;
 *  - value (0x40..0x7f): the rest is the "license" string's value, which the harness
 *    wraps in the envelope itself (bit 0: every byte as \u00XX, else only the escapes
 *    JSON requires; bit 1: another member first; bit 2: a byte that is not white space
 *    after the object, which must make it -AMP_EJSON);
 *  - bytes (0x80..0xff): the rest is a license; the harness base64-encodes it the way
 *    license_request_body() does (bit 0: the url alphabet; bit 1: without '=' padding;
 *    bit 2: a line break every 76 characters, as \n) and wraps it.
 *
 * Checked: every result is 0 or one of the codes license.h names, and a body over
 * LICENSE_MAX_ENVELOPE is -AMP_ETOOBIG; the outputs are untouched on failure; a success
 * gives 1..LICENSE_MAX_MESSAGE bytes whose base64 (license_request_body's encoder, the
 * '=' dropped) is the string's value with white space and padding dropped and the url
 * alphabet mapped to the standard one, so nothing was decoded that was not there and
 * nothing was cut. For the raw form the value is cJSON's view of it; for the value form
 * it is what the harness wrote (so a value cJSON ends early, at an escaped NUL, fails the
 * check); for the bytes form the parse must succeed exactly when the license is 1..
 * LICENSE_MAX_MESSAGE bytes (and its envelope within bound), and give those bytes back.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fuzz.h"
#include "cloud/license.h"
#include "core/b64.h"
#include "core/buf.h"
#include "core/err.h"
#include "grow.h"

/* One over the envelope bound: the largest input of every form. */
#define FUZZ_GROW_CAP (LICENSE_MAX_ENVELOPE + 1)

static bool known_err(int r) {
  return r == -AMP_ETOOBIG || r == -AMP_EJSON || r == -AMP_ELICENSE || r == -ENOMEM;
}

/* The value as the decoder sees it: white space and '=' dropped, url alphabet mapped.
 * Anything else is kept, so that it fails the comparison. */
static size_t canon(const uint8_t *v, size_t n, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = v[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '=')
      continue;
    out[o++] = c == '-' ? '+' : c == '_' ? '/' : (char)c;
  }
  return o;
}

/* The license re-encodes to the value. */
static void check_reencodes(const uint8_t *lic, size_t n, const uint8_t *value, size_t vlen) {
  char *enc = malloc(b64_encoded_len(n, 0) + 1), *want = malloc(vlen ? vlen : 1);
  CHECK(enc && want);
  b64_encode(lic, n, enc, 0);
  size_t el = strlen(enc);
  while (el && enc[el - 1] == '=')
    el--;
  size_t wl = canon(value, vlen, want);
  CHECK(el == wl && memcmp(enc, want, el) == 0);
  free(want);
  free(enc);
}

/* license_from_reply on a heap copy of exactly len bytes; the result checks shared by
 * every form. *ret_lic is NULL on failure. */
static int parse(const uint8_t *body, size_t len, uint8_t **ret_lic, size_t *ret_len) {
  char *copy = calloc(1, len ? len : 1);
  if (!copy)
    return -ENOMEM;
  if (len)
    memcpy(copy, body, len);
  uint8_t *lic = (uint8_t *)&parse; /* sentinels: must stay as they are on failure */
  size_t n = 12345;
  int r = license_from_reply(copy, len, &lic, &n);
  free(copy);
  if (len > LICENSE_MAX_ENVELOPE)
    CHECK(r == -AMP_ETOOBIG);
  if (r < 0) {
    CHECK(known_err(r));
    CHECK(lic == (uint8_t *)&parse && n == 12345);
    *ret_lic = NULL;
    return r;
  }
  CHECK(r == 0 && lic);
  CHECK(n >= 1 && n <= LICENSE_MAX_MESSAGE);
  *ret_lic = lic;
  *ret_len = n;
  return 0;
}

static void fuzz_raw(const uint8_t *body, size_t len) {
  uint8_t *lic;
  size_t n;
  if (parse(body, len, &lic, &n) < 0)
    return;
  /* The value as cJSON reads it (what license.c parsed too). */
  cJSON *root = cJSON_ParseWithLength((const char *)body, len);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "license");
  CHECK(cJSON_IsString(v));
  check_reencodes(lic, n, (const uint8_t *)v->valuestring, strlen(v->valuestring));
  cJSON_Delete(root);
  free(lic);
}

static int put_value(struct buf *b, const uint8_t *v, size_t n, bool escape_all) {
  static const char hex[] = "0123456789abcdef";
  int e = 0;
  for (size_t i = 0; i < n && e == 0; i++) {
    uint8_t c = v[i];
    if (c == '"' || c == '\\') {
      char q[2] = {'\\', (char)c};
      e = buf_append(b, q, 2);
    } else if (escape_all || c < 0x20) {
      char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      e = buf_append(b, u, 6);
    } else {
      e = buf_append_u8(b, c);
    }
  }
  return e;
}

static void fuzz_value(uint8_t mode, const uint8_t *v, size_t n) {
  struct buf b = BUF_INIT(6 * n + 64);
  int e = buf_append_str(&b, mode & 2 ? "{\"expiration\":1700000000000,\"license\":\""
                                      : "{\"license\":\"");
  e |= put_value(&b, v, n, mode & 1);
  e |= buf_append_str(&b, "\"}");
  bool junk = mode & 4; /* a byte after the object that is not white space: not JSON */
  e |= buf_append_str(&b, junk ? " }" : "\r\n");
  uint8_t *lic;
  size_t len;
  int r = e == 0 ? parse(b.data, b.len, &lic, &len) : -ENOMEM;
  if (junk && e == 0)
    CHECK(r == (b.len > LICENSE_MAX_ENVELOPE ? -AMP_ETOOBIG : -AMP_EJSON));
  if (r == 0) {
    check_reencodes(lic, len, v, n);
    free(lic);
  }
  buf_done(&b);
}

static void fuzz_bytes(uint8_t mode, const uint8_t *data, size_t n) {
  bool url = mode & 1, nopad = mode & 2, wrap = mode & 4;
  char *enc = malloc(b64_encoded_len(n, url) + 1);
  struct buf b = BUF_INIT(2 * b64_encoded_len(n, url) + 64);
  if (!enc)
    goto out;
  b64_encode(data, n, enc, url);
  size_t el = strlen(enc);
  while (nopad && el && enc[el - 1] == '=')
    el--;
  int e = buf_append_str(&b, "{\"license\":\"");
  for (size_t i = 0; i < el && e == 0; i += 76) {
    if (wrap && i)
      e = buf_append_str(&b, "\\n");
    e |= buf_append(&b, enc + i, el - i < 76 ? el - i : 76);
  }
  e |= buf_append_str(&b, "\"}");
  if (e != 0)
    goto out;
  uint8_t *lic;
  size_t len;
  int r = parse(b.data, b.len, &lic, &len);
  bool fits = b.len <= LICENSE_MAX_ENVELOPE;
  if (n >= 1 && n <= LICENSE_MAX_MESSAGE && fits)
    CHECK(r == 0);
  else
    CHECK(r == (fits ? -AMP_ELICENSE : -AMP_ETOOBIG));
  if (r == 0) {
    CHECK(len == n && memcmp(lic, data, n) == 0);
    free(lic);
  }
out:
  buf_done(&b);
  free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  struct grown g;
  if (grow(data + 1, size - 1, FUZZ_GROW_CAP, &g) < 0)
    return 0;
  if (data[0] < 0x40)
    fuzz_raw(g.data, g.size);
  else if (data[0] < 0x80)
    fuzz_value(data[0], g.data, g.size);
  else
    fuzz_bytes(data[0], g.data, g.size);
  grow_free(&g);
  return 0;
}
