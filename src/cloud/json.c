/* SPDX-License-Identifier: Apache-2.0 */
/* Strict JSON parsing for the cloud modules. See json.h. */
#include "cloud/json.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "core/err.h"

/* One pass over the text outside cJSON: a NUL (raw or \u0000) or nesting past max. */
static bool prescan_ok(const char *s, size_t len, int max) {
  if (memchr(s, '\0', len))
    return false;
  int depth = 0;
  bool in_str = false;
  for (size_t i = 0; i < len; i++) {
    if (in_str) {
      if (s[i] == '\\') {
        if (len - i > 5 && memcmp(s + i + 1, "u0000", 5) == 0)
          return false;
        i++; /* the escaped character, which may be '"' or '\\' */
      } else if (s[i] == '"') {
        in_str = false;
      }
    } else if (s[i] == '"') {
      in_str = true;
    } else if (s[i] == '{' || s[i] == '[') {
      if (++depth > max)
        return false;
    } else if (s[i] == '}' || s[i] == ']') {
      depth--;
    }
  }
  return true;
}

static void wipe(cJSON *j) {
  for (; j; j = j->next) {
    if (cJSON_IsString(j) && j->valuestring)
      explicit_bzero(j->valuestring, strlen(j->valuestring));
    wipe(j->child);
  }
}

void json_free_wiped(cJSON *j) {
  if (!j)
    return;
  wipe(j->child);
  cJSON_Delete(j);
}

int json_parse_exact(const char *text, size_t len, int max_depth, cJSON **ret) {
  if (!text || !ret)
    return -EINVAL;
  if (len == 0 || !prescan_ok(text, len, max_depth))
    return -AMP_EJSON;
  const char *end = NULL;
  cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, 0);
  if (!j)
    return -AMP_EJSON;
  for (size_t i = end ? (size_t)(end - text) : len; i < len; i++) {
    if (text[i] != ' ' && text[i] != '\t' && text[i] != '\r' && text[i] != '\n') {
      json_free_wiped(j);
      return -AMP_EJSON;
    }
  }
  *ret = j;
  return 0;
}
