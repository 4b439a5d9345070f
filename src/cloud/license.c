/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Amazon license envelope: base64 in JSON, both ways. See license.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cloud/license.h"
#include "core/b64.h"
#include "core/err.h"

int license_request_body(const uint8_t *challenge, size_t len, char **ret_json) {
  if (!challenge || len == 0 || !ret_json)
    return -EINVAL;
  if (len > LICENSE_MAX_MESSAGE)
    return -AMP_ETOOBIG;
  static const char head[] = "{\"licenseChallenge\":\"";
  static const char tail[] = "\"}";
  size_t enc = b64_encoded_len(len, 0);
  char *out = malloc(sizeof(head) - 1 + enc + sizeof(tail));
  if (!out)
    return -ENOMEM;
  memcpy(out, head, sizeof(head) - 1);
  b64_encode(challenge, len, out + sizeof(head) - 1, 0);
  memcpy(out + sizeof(head) - 1 + enc, tail, sizeof(tail)); /* with the NUL */
  *ret_json = out;
  return 0;
}

/* Reject nesting past max before cJSON recurses into it (strings are skipped). */
static int json_depth_ok(const char *s, size_t len, int max) {
  int depth = 0, in_str = 0;
  for (size_t i = 0; i < len; i++) {
    if (in_str) {
      if (s[i] == '\\')
        i++;
      else if (s[i] == '"')
        in_str = 0;
    } else if (s[i] == '"') {
      in_str = 1;
    } else if (s[i] == '{' || s[i] == '[') {
      if (++depth > max)
        return 0;
    } else if (s[i] == '}' || s[i] == ']') {
      depth--;
    }
  }
  return 1;
}

int license_from_reply(const char *json, size_t len, uint8_t **ret_license, size_t *ret_len) {
  if (!json || !ret_license || !ret_len)
    return -EINVAL;
  if (len > LICENSE_MAX_ENVELOPE)
    return -AMP_ETOOBIG;
  if (len == 0 || !json_depth_ok(json, len, LICENSE_MAX_DEPTH))
    return -AMP_EJSON;
  cJSON *root = cJSON_ParseWithLength(json, len);
  if (!root)
    return -AMP_EJSON;
  int r = -AMP_EJSON;
  uint8_t *lic = NULL;
  size_t max = 0;
  const cJSON *v = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "license") : NULL;
  if (!cJSON_IsString(v))
    goto out;
  size_t slen = strlen(v->valuestring);
  max = slen / 4 * 3 + 3; /* b64 decodes to at most this; white space only shrinks it */
  if (max > LICENSE_MAX_MESSAGE)
    max = LICENSE_MAX_MESSAGE;
  lic = malloc(max + 1);
  if (!lic) {
    r = -ENOMEM;
    goto out;
  }
  size_t n = 0;
  r = b64_decode(v->valuestring, slen, lic, max, &n);
  if (r < 0 || n == 0) {
    r = -AMP_ELICENSE;
    goto out;
  }
  *ret_license = lic;
  *ret_len = n;
  lic = NULL;
  r = 0;
out:
  /* A license may carry keys in the clear (ClearKey): no copy of it outlives the call. */
  if (lic)
    explicit_bzero(lic, max + 1);
  free(lic);
  if (cJSON_IsString(v))
    explicit_bzero(v->valuestring, strlen(v->valuestring));
  cJSON_Delete(root);
  return r;
}
