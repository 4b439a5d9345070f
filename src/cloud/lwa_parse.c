/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pure parsers of cloud/lwa: the code pair, token and error replies and the token
 * file (docs/service.md §2). The contract is in lwa_int.h; lwa.c holds the state.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "cloud/json.h"
#include "cloud/lwa_int.h"
#include "core/err.h"

void lwa_json_free_wiped(cJSON *j) {
  json_free_wiped(j);
}

/* The text as one JSON value (cloud/json: exact, no NUL, bounded nesting), or NULL. */
static cJSON *parse(const char *text, size_t len) {
  cJSON *j = NULL;
  return json_parse_exact(text, len, LWA_JSON_DEPTH_MAX, &j) == 0 ? j : NULL;
}

/* A token or code as LWA sends it: 1..max printable ASCII bytes, no space (it goes
 * into a header and a form). */
static bool token_ok(const char *s, size_t max) {
  size_t n = strnlen(s, max + 1);
  if (n == 0 || n > max)
    return false;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
      return false;
  return true;
}

static const char *json_str(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

static bool json_num(const cJSON *o, const char *k, double *ret) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  if (!cJSON_IsNumber(v) || v->valuedouble != v->valuedouble)
    return false;
  *ret = v->valuedouble;
  return true;
}

int lwa_parse_codepair(const char *reply, size_t len, struct lwa_codepair *ret) {
  int r = -AMP_EPROTO;
  cJSON *j = parse(reply, len);
  const char *dc = json_str(j, "device_code"), *uc = json_str(j, "user_code");
  const char *uri = json_str(j, "verification_uri");
  double exp, interval;
  if (!dc || !uc || !uri || !token_ok(dc, LWA_CODE_MAX) || !token_ok(uc, LWA_CODE_MAX) ||
      !token_ok(uri, LWA_CODE_MAX) || !json_num(j, "expires_in", &exp) || exp < 1)
    goto out;
  if (exp > LWA_CODE_LIFETIME_MAX_S)
    exp = LWA_CODE_LIFETIME_MAX_S;
  /* interval is whole seconds at Amazon; a fraction is accepted (the mock uses one to
   * keep tests fast) and bounded both ways. */
  uint64_t ims = LWA_INTERVAL_DEFAULT_MS;
  if (json_num(j, "interval", &interval) && interval > 0)
    ims = interval * 1000.0 >= LWA_INTERVAL_MAX_MS ? LWA_INTERVAL_MAX_MS
                                                   : (uint64_t)(interval * 1000.0);
  if (ims < LWA_INTERVAL_MIN_MS)
    ims = LWA_INTERVAL_MIN_MS;
  snprintf(ret->device_code, sizeof(ret->device_code), "%s", dc);
  snprintf(ret->user_code, sizeof(ret->user_code), "%s", uc);
  snprintf(ret->uri, sizeof(ret->uri), "%s", uri);
  ret->expires_in = (int64_t)exp;
  ret->interval_ms = ims;
  r = 0;
out:
  lwa_json_free_wiped(j);
  return r;
}

int lwa_parse_tokens(const char *reply, size_t len, bool need_refresh,
                     struct lwa_token_reply *ret) {
  int r = -AMP_EPROTO;
  cJSON *j = parse(reply, len);
  const char *at = json_str(j, "access_token"), *rt = json_str(j, "refresh_token");
  const char *type = json_str(j, "token_type");
  double exp;
  if (!at || !token_ok(at, LWA_TOKEN_MAX) || (rt && !token_ok(rt, LWA_TOKEN_MAX)) ||
      (need_refresh && !rt) || (type && strcasecmp(type, "bearer") != 0) ||
      !json_num(j, "expires_in", &exp) || exp < 1)
    goto out;
  if (exp > LWA_TOKEN_LIFETIME_MAX_S)
    exp = LWA_TOKEN_LIFETIME_MAX_S;
  snprintf(ret->access, sizeof(ret->access), "%s", at);
  snprintf(ret->refresh, sizeof(ret->refresh), "%s", rt ? rt : "");
  ret->expires_in = (int64_t)exp;
  r = 0;
out:
  lwa_json_free_wiped(j);
  return r;
}

void lwa_parse_error(const char *reply, size_t len, char *out, size_t n) {
  out[0] = '\0';
  cJSON *j = parse(reply, len);
  const char *e = json_str(j, "error");
  /* An LWA error code is a short token ([a-z_]); anything else is not one, and is never
   * copied into a log line. */
  if (e && strlen(e) < n && e[0] && strspn(e, "abcdefghijklmnopqrstuvwxyz_") == strlen(e))
    snprintf(out, n, "%s", e);
  lwa_json_free_wiped(j);
}

int lwa_parse_file(const char *text, size_t len, struct lwa_token_file *ret) {
  int r = -AMP_EJSON;
  cJSON *j = parse(text, len);
  const char *rt = json_str(j, "refresh_token"), *at = json_str(j, "access_token");
  double exp = 0;
  if (!j || !rt || !token_ok(rt, LWA_TOKEN_MAX) || !json_num(j, "expires_at", &exp) || exp < 0 ||
      exp > (double)LWA_EXPIRES_AT_MAX || (at && at[0] && !token_ok(at, LWA_TOKEN_MAX)))
    goto out;
  snprintf(ret->refresh, sizeof(ret->refresh), "%s", rt);
  snprintf(ret->access, sizeof(ret->access), "%s", at ? at : "");
  ret->expires_at = ret->access[0] ? (int64_t)exp : 0;
  r = 0;
out:
  lwa_json_free_wiped(j);
  return r;
}
