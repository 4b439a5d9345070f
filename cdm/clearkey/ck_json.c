/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The W3C ClearKey formats (EME §9.1, eme-initdata-keyids, eme-initdata-cenc):
 *   init data "cenc"    whole pssh boxes; KIDs from the common-system v1 box
 *   init data "keyids"  {"kids":["<b64url>",...]}
 *   request             {"kids":["<b64url>",...],"type":"temporary"}
 *   license             {"keys":[{"kty":"oct","kid":"<b64url>","k":"<b64url>"}],
 *                        "type":"temporary","expiration":<epoch ms>}
 * Every parser here is bounded (AMPD_CDM_MAX_INIT_DATA / AMPD_CDM_MAX_MESSAGE bytes,
 * CK_MAX_JSON_DEPTH nesting, CK_MAX_KEYS entries) and all-or-nothing.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <mbedtls/base64.h>
#include <mbedtls/platform_util.h>

#include "clearkey.h"

/* ---- base64url ----
 *
 * The decoding itself is mbedTLS's (the plugin links it anyway); the strictness is ours,
 * because mbedtls_base64_decode() (2.28) is lenient in four ways that matter here: it
 * skips line breaks, takes a wrong final length (22 characters with no padding decode
 * to 15 bytes, not 16), ignores the unused low bits of the last character (so
 * "...PPA" and "...PPB" give the same key) and knows only the standard alphabet. So: only
 * url-alphabet characters and correct padding get through, the length is checked
 * against out_len first, and the result is encoded back and compared, which refuses any
 * non-canonical tail. */

/* The standard-alphabet, padded form of a url-alphabet string, or 0 if a character
 * is outside [A-Za-z0-9_-]. */
static size_t b64url_to_std(const char *in, size_t n, char *std) {
  size_t i = 0;
  for (; i < n; i++) {
    char c = in[i];
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
      std[i] = c;
    else if (c == '-')
      std[i] = '+';
    else if (c == '_')
      std[i] = '/';
    else
      return 0;
  }
  while (i % 4 != 0)
    std[i++] = '=';
  return i;
}

int ck_b64url_decode_exact(const char *in, size_t n, uint8_t *out, size_t out_len) {
  /* Accept "=" padding only if it is exactly what completes the last quantum. */
  size_t pad = 0;
  while (n > 0 && in[n - 1] == '=' && pad < 2) {
    n--;
    pad++;
  }
  if (pad > 0 && (n + pad) % 4 != 0)
    return -EINVAL;
  if (n % 4 == 1)
    return -EINVAL;
  size_t want = n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1);
  if (want != out_len || out_len > CK_B64_MAX_BYTES)
    return -ERANGE;
  /* n <= CK_B64_MAX_CHARS here, and padded to at most that too. */
  char std[CK_B64_MAX_CHARS], back[CK_B64_MAX_CHARS + 1];
  uint8_t bytes[CK_B64_MAX_BYTES];
  size_t std_len = b64url_to_std(in, n, std);
  size_t got = 0, back_len = 0;
  int r = -EINVAL;
  if ((std_len == 0 && n > 0) ||
      mbedtls_base64_decode(bytes, sizeof(bytes), &got, (const unsigned char *)std, std_len) != 0 ||
      got != out_len)
    goto out;
  /* A canonical encoding (zero leftover bits) is the one that encodes back to itself;
   * otherwise two strings would decode alike. */
  if (mbedtls_base64_encode((unsigned char *)back, sizeof(back), &back_len, bytes, got) != 0 ||
      back_len != std_len || memcmp(back, std, std_len) != 0)
    goto out;
  memcpy(out, bytes, out_len);
  r = 0;
out:
  /* These hold key material when the string is a "k". */
  mbedtls_platform_zeroize(std, sizeof(std));
  mbedtls_platform_zeroize(back, sizeof(back));
  mbedtls_platform_zeroize(bytes, sizeof(bytes));
  return r;
}

void ck_b64url_encode16(const uint8_t in[16], char out[23]) {
  char std[25]; /* 24 characters, the last two '=', + NUL */
  size_t len = 0;
  /* Cannot fail: the buffer fits 16 bytes' encoding and its NUL. */
  (void)mbedtls_base64_encode((unsigned char *)std, sizeof(std), &len, in, 16);
  for (size_t i = 0; i < 22; i++)
    out[i] = std[i] == '+' ? '-' : std[i] == '/' ? '_' : std[i];
  out[22] = '\0';
  mbedtls_platform_zeroize(std, sizeof(std));
}

/* ---- JSON helpers ---- */

int ck_json_depth_ok(const char *text, size_t len, int max_depth) {
  int depth = 0;
  int in_string = 0;
  for (size_t i = 0; i < len; i++) {
    char c = text[i];
    if (in_string) {
      if (c == '\\')
        i++; /* skip the escaped character */
      else if (c == '"')
        in_string = 0;
      continue;
    }
    if (c == '"') {
      in_string = 1;
    } else if (c == '{' || c == '[') {
      if (++depth > max_depth)
        return -EINVAL;
    } else if (c == '}' || c == ']') {
      if (--depth < 0)
        return -EINVAL;
    }
  }
  return 0;
}

/* Parse len bytes (not NUL-terminated) of JSON after the depth check; NULL if bad. */
static cJSON *json_parse_bounded(const uint8_t *p, size_t len, size_t max) {
  if (!p || len == 0 || len > max)
    return NULL;
  if (ck_json_depth_ok((const char *)p, len, CK_MAX_JSON_DEPTH) < 0)
    return NULL;
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts((const char *)p, len, &end, 0);
  if (!root)
    return NULL;
  /* Only white space may follow the document. */
  for (const char *q = end; q < (const char *)p + len; q++) {
    if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r') {
      cJSON_Delete(root);
      return NULL;
    }
  }
  return root;
}

static int kids_add(struct ck_kids *k, const uint8_t kid[16]) {
  for (size_t i = 0; i < k->n; i++)
    if (memcmp(k->kid[i], kid, 16) == 0)
      return 0;
  if (k->n >= CK_MAX_KEYS)
    return -AMPD_CDM_ETOOBIG;
  memcpy(k->kid[k->n++], kid, 16);
  return 0;
}

/* ---- init data ---- */

static const uint8_t common_system_id[16] = AMPD_CDM_SYSTEM_W3C_COMMON;

static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* One pssh box body (after the 8-byte header): add KIDs of a common-system v1 box. */
static int pssh_body(const uint8_t *p, size_t n, struct ck_kids *kids) {
  if (n < 4 + 16 + 4)
    return -EINVAL;
  uint8_t version = p[0];
  const uint8_t *system_id = p + 4;
  size_t off = 20;
  uint32_t kid_count = 0;
  const uint8_t *kid_list = NULL;
  if (version > 1)
    return 0; /* a version we do not know: skip the box, as EME says */
  if (version == 1) {
    if (n - off < 4)
      return -EINVAL;
    kid_count = rd32(p + off);
    off += 4;
    if (kid_count > (n - off) / 16)
      return -EINVAL;
    kid_list = p + off;
    off += (size_t)kid_count * 16;
  }
  if (n - off < 4)
    return -EINVAL;
  uint32_t data_size = rd32(p + off);
  off += 4;
  if (data_size != n - off)
    return -EINVAL;
  if (version != 1 || memcmp(system_id, common_system_id, 16) != 0)
    return 0;
  for (uint32_t i = 0; i < kid_count; i++) {
    int r = kids_add(kids, kid_list + (size_t)i * 16);
    if (r < 0)
      return r;
  }
  return 0;
}

int ck_kids_from_cenc(const uint8_t *p, size_t len, struct ck_kids *ret) {
  if (!p || len == 0)
    return -EINVAL;
  if (len > AMPD_CDM_MAX_INIT_DATA)
    return -AMPD_CDM_ETOOBIG;
  struct ck_kids kids = {.n = 0};
  size_t off = 0;
  while (off < len) {
    if (len - off < 8)
      return -EINVAL;
    uint64_t size = rd32(p + off);
    size_t hdr = 8;
    if (size == 1) {
      if (len - off < 16)
        return -EINVAL;
      size = (uint64_t)rd32(p + off + 8) << 32 | rd32(p + off + 12);
      hdr = 16;
    } else if (size == 0) {
      size = len - off; /* to the end */
    }
    if (size < hdr || size > len - off)
      return -EINVAL;
    /* Init data is whole pssh boxes, nothing else (eme-initdata-cenc §2). */
    if (memcmp(p + off + 4, "pssh", 4) != 0)
      return -EINVAL;
    int r = pssh_body(p + off + hdr, (size_t)size - hdr, &kids);
    if (r < 0)
      return r;
    off += (size_t)size;
  }
  if (kids.n == 0)
    return -AMPD_CDM_EUNSUPPORTED;
  *ret = kids;
  return 0;
}

int ck_kids_from_keyids(const uint8_t *p, size_t len, struct ck_kids *ret) {
  if (len > AMPD_CDM_MAX_INIT_DATA)
    return -AMPD_CDM_ETOOBIG;
  cJSON *root = json_parse_bounded(p, len, AMPD_CDM_MAX_INIT_DATA);
  if (!root)
    return -EINVAL;
  int r = -EINVAL;
  struct ck_kids kids = {.n = 0};
  const cJSON *arr = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "kids") : NULL;
  if (!cJSON_IsArray(arr))
    goto out;
  const cJSON *it;
  cJSON_ArrayForEach(it, arr) {
    uint8_t kid[16];
    if (!cJSON_IsString(it) ||
        ck_b64url_decode_exact(it->valuestring, strlen(it->valuestring), kid, 16) < 0)
      goto out;
    if (kids_add(&kids, kid) < 0)
      goto out;
  }
  if (kids.n == 0)
    goto out;
  *ret = kids;
  r = 0;
out:
  cJSON_Delete(root);
  return r;
}

int ck_request_json(const struct ck_kids *kids, uint8_t **ret, size_t *ret_len) {
  static const char head[] = "{\"kids\":[";
  static const char tail[] = "],\"type\":\"temporary\"}";
  /* Each KID: quote + 22 characters + quote + comma. */
  size_t cap = sizeof(head) + kids->n * 25 + sizeof(tail);
  char *out = malloc(cap);
  if (!out)
    return -ENOMEM;
  size_t o = 0;
  memcpy(out, head, sizeof(head) - 1);
  o += sizeof(head) - 1;
  for (size_t i = 0; i < kids->n; i++) {
    char enc[23];
    ck_b64url_encode16(kids->kid[i], enc);
    if (i > 0)
      out[o++] = ',';
    out[o++] = '"';
    memcpy(out + o, enc, 22);
    o += 22;
    out[o++] = '"';
  }
  memcpy(out + o, tail, sizeof(tail) - 1);
  o += sizeof(tail) - 1;
  out[o] = '\0';
  *ret = (uint8_t *)out;
  *ret_len = o;
  return 0;
}

/* ---- the license ---- */

void ck_license_wipe(struct ck_license *l) {
  if (l)
    mbedtls_platform_zeroize(l, sizeof(*l));
}

static int b64_member16(const cJSON *obj, const char *name, uint8_t out[16]) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
  if (!cJSON_IsString(v))
    return -1;
  return ck_b64url_decode_exact(v->valuestring, strlen(v->valuestring), out, 16) < 0 ? -1 : 0;
}

int ck_license_parse(const uint8_t *p, size_t len, struct ck_license *ret) {
  if (len > AMPD_CDM_MAX_MESSAGE)
    return -AMPD_CDM_ETOOBIG;
  cJSON *root = json_parse_bounded(p, len, AMPD_CDM_MAX_MESSAGE);
  if (!root)
    return -AMPD_CDM_ELICENSE;
  /* Decoded keys live in this stack copy until they are handed out; it is wiped on
   * every path. */
  struct ck_license lic;
  memset(&lic, 0, sizeof(lic));
  const cJSON *keys = NULL;
  const cJSON *k;
  int r = -AMPD_CDM_ELICENSE;
  if (!cJSON_IsObject(root))
    goto out;
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "type");
  /* Only temporary sessions exist here; a persistent license is refused, not ignored. */
  if (type && (!cJSON_IsString(type) || strcmp(type->valuestring, "temporary") != 0))
    goto out;
  const cJSON *exp = cJSON_GetObjectItemCaseSensitive(root, "expiration");
  if (exp) {
    /* Epoch ms as a JSON number: a whole, positive value below 2^53. */
    if (!cJSON_IsNumber(exp))
      goto out;
    double d = exp->valuedouble;
    if (!isfinite(d) || d < 1 || d > 9007199254740991.0 || d != floor(d))
      goto out;
    lic.expiration_ms = (int64_t)d;
  }
  keys = cJSON_GetObjectItemCaseSensitive(root, "keys");
  if (!cJSON_IsArray(keys))
    goto out;
  cJSON_ArrayForEach(k, keys) {
    if (lic.n >= CK_MAX_KEYS || !cJSON_IsObject(k))
      goto out;
    const cJSON *kty = cJSON_GetObjectItemCaseSensitive(k, "kty");
    if (!cJSON_IsString(kty) || strcmp(kty->valuestring, "oct") != 0)
      goto out;
    if (b64_member16(k, "kid", lic.kid[lic.n]) < 0 || b64_member16(k, "k", lic.key[lic.n]) < 0)
      goto out;
    for (size_t i = 0; i < lic.n; i++)
      if (memcmp(lic.kid[i], lic.kid[lic.n], 16) == 0)
        goto out; /* one key per KID: two would be ambiguous */
    lic.n++;
  }
  if (lic.n == 0)
    goto out;
  *ret = lic;
  r = 0;
out:
  ck_license_wipe(&lic);
  /* cJSON's string copies of "k" are freed here; cJSON_Delete does not wipe them, so
   * overwrite them first. */
  if (cJSON_IsArray(keys)) {
    cJSON_ArrayForEach(k, keys) {
      cJSON *kv = cJSON_GetObjectItemCaseSensitive(k, "k");
      if (cJSON_IsString(kv))
        mbedtls_platform_zeroize(kv->valuestring, strlen(kv->valuestring));
    }
  }
  cJSON_Delete(root);
  return r;
}
