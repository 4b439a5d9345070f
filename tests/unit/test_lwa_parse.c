/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloud/lwa's parsers (src/cloud/lwa_int.h): the code pair, token and error replies and
 * the token file, their bounds, and a NUL in the text (refused whole: cJSON would end
 * the string at it). The state machine around them is tested against the mock in
 * tests/integration/test_lwa.c.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cloud/lwa_int.h"
#include "core/err.h"

static int codepair(const char *json, struct lwa_codepair *cp) {
  return lwa_parse_codepair(json, strlen(json), cp);
}

static int tokens(const char *json, bool need_refresh, struct lwa_token_reply *t) {
  return lwa_parse_tokens(json, strlen(json), need_refresh, t);
}

static int file(const char *json, struct lwa_token_file *f) {
  return lwa_parse_file(json, strlen(json), f);
}

static void test_codepair(void **state) {
  (void)state;
  struct lwa_codepair cp;
  assert_int_equal(codepair("{\"device_code\":\"dc\",\"user_code\":\"UC12\",\"verification_uri\":"
                            "\"https://amazon.com/code\",\"expires_in\":600,\"interval\":5}",
                            &cp),
                   0);
  assert_string_equal(cp.device_code, "dc");
  assert_string_equal(cp.user_code, "UC12");
  assert_string_equal(cp.uri, "https://amazon.com/code");
  assert_int_equal(cp.expires_in, 600);
  assert_int_equal(cp.interval_ms, 5000);
  /* The interval within its bounds, the default without one, expires_in cut to a day. */
  assert_int_equal(codepair("{\"device_code\":\"d\",\"user_code\":\"u\",\"verification_uri\":\"v\","
                            "\"expires_in\":1e9,\"interval\":0.001}",
                            &cp),
                   0);
  assert_int_equal(cp.interval_ms, LWA_INTERVAL_MIN_MS);
  assert_int_equal(cp.expires_in, LWA_CODE_LIFETIME_MAX_S);
  assert_int_equal(codepair("{\"device_code\":\"d\",\"user_code\":\"u\",\"verification_uri\":\"v\","
                            "\"expires_in\":2,\"interval\":1e999}",
                            &cp),
                   0);
  assert_int_equal(cp.interval_ms, LWA_INTERVAL_MAX_MS);
  assert_int_equal(codepair("{\"device_code\":\"d\",\"user_code\":\"u\",\"verification_uri\":\"v\","
                            "\"expires_in\":2,\"interval\":-3}",
                            &cp),
                   0);
  assert_int_equal(cp.interval_ms, LWA_INTERVAL_DEFAULT_MS);
  /* Refusals: a space, no expiry, an expiry below 1, not JSON. */
  assert_int_equal(codepair("{\"device_code\":\"d d\",\"user_code\":\"u\",\"verification_uri\":"
                            "\"v\",\"expires_in\":60}",
                            &cp),
                   -AMP_EPROTO);
  assert_int_equal(
      codepair("{\"device_code\":\"d\",\"user_code\":\"u\",\"verification_uri\":\"v\"}", &cp),
      -AMP_EPROTO);
  assert_int_equal(codepair("{\"device_code\":\"d\",\"user_code\":\"u\",\"verification_uri\":\"v\","
                            "\"expires_in\":0.5}",
                            &cp),
                   -AMP_EPROTO);
  assert_int_equal(lwa_parse_codepair(NULL, 0, &cp), -AMP_EPROTO);
}

/* A token of n bytes ("A..."), in a reply. */
static char *reply_with_token(size_t n) {
  char *tok = malloc(n + 1), *json = malloc(n + 128);
  assert_true(tok && json);
  memset(tok, 'A', n);
  tok[n] = '\0';
  snprintf(json, n + 128, "{\"access_token\":\"%s\",\"expires_in\":3600}", tok);
  free(tok);
  return json;
}

static void test_tokens(void **state) {
  (void)state;
  struct lwa_token_reply t;
  assert_int_equal(tokens("{\"access_token\":\"Atza|a\",\"refresh_token\":\"Atzr|r\","
                          "\"token_type\":\"Bearer\",\"expires_in\":3600}",
                          true, &t),
                   0);
  assert_string_equal(t.access, "Atza|a");
  assert_string_equal(t.refresh, "Atzr|r");
  assert_int_equal(t.expires_in, 3600);
  /* A refresh reply without a new refresh token; a lifetime cut to a year. */
  assert_int_equal(tokens("{\"access_token\":\"Atza|b\",\"expires_in\":1e12}", false, &t), 0);
  assert_string_equal(t.refresh, "");
  assert_int_equal(t.expires_in, LWA_TOKEN_LIFETIME_MAX_S);
  assert_int_equal(tokens("{\"access_token\":\"Atza|b\",\"expires_in\":60}", true, &t),
                   -AMP_EPROTO);
  assert_int_equal(
      tokens("{\"access_token\":\"Atza|b\",\"token_type\":\"mac\",\"expires_in\":60}", false, &t),
      -AMP_EPROTO);
  /* LWA_TOKEN_MAX bytes pass, one more does not. */
  char *json = reply_with_token(LWA_TOKEN_MAX);
  assert_int_equal(tokens(json, false, &t), 0);
  assert_int_equal(strlen(t.access), LWA_TOKEN_MAX);
  free(json);
  json = reply_with_token(LWA_TOKEN_MAX + 1);
  assert_int_equal(tokens(json, false, &t), -AMP_EPROTO);
  free(json);
}

static void test_error(void **state) {
  (void)state;
  char code[64];
  static const char pending[] = "{\"error\":\"authorization_pending\",\"error_description\":\"x\"}";
  lwa_parse_error(pending, sizeof(pending) - 1, code, sizeof(code));
  assert_string_equal(code, "authorization_pending");
  /* Not [a-z_], or not shorter than the buffer: "". */
  static const char upper[] = "{\"error\":\"Invalid_Grant\"}";
  lwa_parse_error(upper, sizeof(upper) - 1, code, sizeof(code));
  assert_string_equal(code, "");
  char small[10]; /* "slow_down" is 9 bytes: fits; "slow_downs" does not */
  static const char slow[] = "{\"error\":\"slow_down\"}", slows[] = "{\"error\":\"slow_downs\"}";
  lwa_parse_error(slow, sizeof(slow) - 1, small, sizeof(small));
  assert_string_equal(small, "slow_down");
  lwa_parse_error(slows, sizeof(slows) - 1, small, sizeof(small));
  assert_string_equal(small, "");
  lwa_parse_error("<html>", 6, code, sizeof(code));
  assert_string_equal(code, "");
}

static void test_file(void **state) {
  (void)state;
  struct lwa_token_file f;
  assert_int_equal(file("{\"version\":1,\"refresh_token\":\"Atzr|r\",\"access_token\":\"Atza|a\","
                        "\"expires_at\":1800000000}",
                        &f),
                   0);
  assert_string_equal(f.refresh, "Atzr|r");
  assert_string_equal(f.access, "Atza|a");
  assert_int_equal(f.expires_at, 1800000000);
  /* Without an access token the expiry is 0. */
  assert_int_equal(
      file("{\"refresh_token\":\"Atzr|r\",\"access_token\":\"\",\"expires_at\":5}", &f), 0);
  assert_string_equal(f.access, "");
  assert_int_equal(f.expires_at, 0);
  assert_int_equal(file("{\"refresh_token\":\"Atzr|r\",\"expires_at\":253402300800}", &f),
                   -AMP_EJSON);
  assert_int_equal(file("{\"refresh_token\":\"Atzr|r\",\"expires_at\":-1}", &f), -AMP_EJSON);
  assert_int_equal(file("{\"access_token\":\"Atza|a\",\"expires_at\":1}", &f), -AMP_EJSON);
  assert_int_equal(file("", &f), -AMP_EJSON);
}

/*
 * A NUL in the text, escaped (\u0000) or raw, used to end the string early: the parsers
 * took the prefix, so "bearer\u0000x" was a bearer token type, "Atza|a\u0000 b" a good
 * token, "invalid_grant\u0000x" the code that drops the link. Now the whole text is
 * refused. An escaped backslash before "u0000" is no NUL. Found by tests/fuzz/fuzz_lwa.c.
 */
static void test_nul(void **state) {
  (void)state;
  struct lwa_codepair cp;
  struct lwa_token_reply t;
  struct lwa_token_file f;
  char code[64];
  assert_int_equal(tokens("{\"access_token\":\"Atza|a\",\"refresh_token\":\"Atzr|r\","
                          "\"token_type\":\"bearer\\u0000x\",\"expires_in\":60}",
                          true, &t),
                   -AMP_EPROTO);
  assert_int_equal(tokens("{\"access_token\":\"Atza|a\\u0000 b\",\"expires_in\":60}", false, &t),
                   -AMP_EPROTO);
  static const char raw[] = "{\"access_token\":\"Atza|a\0 b\",\"expires_in\":60}";
  assert_int_equal(lwa_parse_tokens(raw, sizeof(raw) - 1, false, &t), -AMP_EPROTO);
  assert_int_equal(codepair("{\"device_code\":\"d\",\"user_code\":\"AB\\u0000 C\","
                            "\"verification_uri\":\"v\",\"expires_in\":60}",
                            &cp),
                   -AMP_EPROTO);
  static const char grant[] = "{\"error\":\"invalid_grant\\u0000x\"}";
  lwa_parse_error(grant, sizeof(grant) - 1, code, sizeof(code));
  assert_string_equal(code, "");
  assert_int_equal(
      file("{\"refresh_token\":\"Atzr|r\\u0000 x\",\"access_token\":\"\",\"expires_at\":0}", &f),
      -AMP_EJSON);

  /* "\\u0000" is a backslash and five characters: a token like any other. */
  assert_int_equal(tokens("{\"access_token\":\"Atza|\\\\u0000\",\"expires_in\":60}", false, &t), 0);
  assert_string_equal(t.access, "Atza|\\u0000");
}

/* Bytes after the JSON value other than white space: not JSON (cJSON stops after the
 * first value, so they used to pass unseen). */
static void test_trailing(void **state) {
  (void)state;
  struct lwa_token_reply t;
  struct lwa_token_file f;
  char code[64];
  assert_int_equal(tokens("{\"access_token\":\"Atza|a\",\"expires_in\":60}x", false, &t),
                   -AMP_EPROTO);
  assert_int_equal(tokens("{\"access_token\":\"Atza|a\",\"expires_in\":60} \r\n", false, &t), 0);
  static const char err[] = "{\"error\":\"invalid_grant\"}{\"error\":\"x\"}";
  lwa_parse_error(err, sizeof(err) - 1, code, sizeof(code));
  assert_string_equal(code, "");
  assert_int_equal(file("{\"refresh_token\":\"Atzr|r\",\"expires_at\":0}]", &f), -AMP_EJSON);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_codepair), cmocka_unit_test(test_tokens),
      cmocka_unit_test(test_error),    cmocka_unit_test(test_file),
      cmocka_unit_test(test_nul),      cmocka_unit_test(test_trailing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
