/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloud/license: the Amazon license envelope, {"licenseChallenge":"<base64>"} out and
 * {"license":"<base64>"} back, with its bounds and its refusals.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <cjson/cJSON.h>

#include "cloud/license.h"
#include "core/b64.h"
#include "core/err.h"

static void test_request_body(void **state) {
  (void)state;
  const uint8_t challenge[] = "{\"kids\":[\"ASNFZ4mrze8BI0VniavN7w\"],\"type\":\"temporary\"}";
  char *body = NULL;
  assert_int_equal(license_request_body(challenge, sizeof(challenge) - 1, &body), 0);
  cJSON *root = cJSON_Parse(body);
  assert_non_null(root);
  assert_int_equal(cJSON_GetArraySize(root), 1);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "licenseChallenge");
  assert_true(cJSON_IsString(v));
  uint8_t back[256];
  size_t n = 0;
  assert_int_equal(b64_decode(v->valuestring, strlen(v->valuestring), back, sizeof(back), &n), 0);
  assert_int_equal(n, sizeof(challenge) - 1);
  assert_memory_equal(back, challenge, n);
  /* Standard alphabet with padding, as the service expects. */
  assert_null(strchr(v->valuestring, '-'));
  cJSON_Delete(root);
  free(body);

  assert_int_equal(license_request_body(challenge, 0, &body), -EINVAL);
  uint8_t *big = calloc(1, LICENSE_MAX_MESSAGE + 1);
  assert_non_null(big);
  assert_int_equal(license_request_body(big, LICENSE_MAX_MESSAGE + 1, &body), -AMP_ETOOBIG);
  free(big);
}

static int from_reply(const char *json, uint8_t **lic, size_t *len) {
  return license_from_reply(json, strlen(json), lic, len);
}

static void test_license_from_reply(void **state) {
  (void)state;
  uint8_t *lic = NULL;
  size_t len = 0;
  /* base64("{\"keys\":[]}") = eyJrZXlzIjpbXX0= */
  assert_int_equal(
      from_reply("{\"license\":\"eyJrZXlzIjpbXX0=\",\"requestId\":\"r1\"}", &lic, &len), 0);
  assert_int_equal(len, 11);
  assert_memory_equal(lic, "{\"keys\":[]}", 11);
  free(lic);
  lic = NULL;

  assert_int_equal(from_reply("{\"licence\":\"eyJrZXlzIjpbXX0=\"}", &lic, &len), -AMP_EJSON);
  assert_int_equal(from_reply("{\"license\":42}", &lic, &len), -AMP_EJSON);
  assert_int_equal(from_reply("{\"license\":null}", &lic, &len), -AMP_EJSON);
  assert_int_equal(from_reply("[\"eyJrZXlzIjpbXX0=\"]", &lic, &len), -AMP_EJSON);
  assert_int_equal(from_reply("{\"license\":\"eyJrZXlz", &lic, &len), -AMP_EJSON);
  assert_int_equal(from_reply("", &lic, &len), -AMP_EJSON);
  assert_int_equal(from_reply("{\"license\":\"ey*rZXlzIjpbXX0=\"}", &lic, &len), -AMP_ELICENSE);
  assert_int_equal(from_reply("{\"license\":\"\"}", &lic, &len), -AMP_ELICENSE);
  assert_null(lic);

  /* Deep nesting is refused before the parser recurses. */
  char deep[2100];
  size_t n = 0;
  for (int i = 0; i < 1000; i++)
    deep[n++] = '[';
  for (int i = 0; i < 1000; i++)
    deep[n++] = ']';
  deep[n] = '\0';
  assert_int_equal(from_reply(deep, &lic, &len), -AMP_EJSON);

  /* Too big as an envelope, and a license that decodes past the message bound. */
  size_t big_len = LICENSE_MAX_ENVELOPE + 1;
  char *big = malloc(big_len + 1);
  assert_non_null(big);
  memset(big, ' ', big_len);
  big[big_len] = '\0';
  assert_int_equal(license_from_reply(big, big_len, &lic, &len), -AMP_ETOOBIG);
  size_t b64_len = (LICENSE_MAX_MESSAGE / 3 + 2) * 4; /* decodes to > MAX_MESSAGE */
  memcpy(big, "{\"license\":\"", 12);
  memset(big + 12, 'A', b64_len);
  memcpy(big + 12 + b64_len, "\"}", 3);
  assert_true(strlen(big) <= LICENSE_MAX_ENVELOPE);
  assert_int_equal(from_reply(big, &lic, &len), -AMP_ELICENSE);
  assert_null(lic);
  free(big);
}

/* A NUL in the reply, escaped or raw, used to end the license string early: the prefix
 * decoded and came back as the license ("QUJD" -> "ABC"). Now the reply is refused. An
 * escaped backslash before "u0000" is no NUL. Found by tests/fuzz/fuzz_license_reply.c. */
static void test_license_nul(void **state) {
  (void)state;
  uint8_t *lic = NULL;
  size_t len = 0;
  assert_int_equal(from_reply("{\"license\":\"QUJD\\u0000!!\"}", &lic, &len), -AMP_EJSON);
  assert_int_equal(from_reply("{\"license\":\"QUJD\\u0000\"}", &lic, &len), -AMP_EJSON);
  static const char raw[] = "{\"license\":\"QUJD\0!!\"}";
  assert_int_equal(license_from_reply(raw, sizeof(raw) - 1, &lic, &len), -AMP_EJSON);
  assert_null(lic);

  assert_int_equal(from_reply("{\"note\":\"\\\\u0000\",\"license\":\"QUJD\"}", &lic, &len), 0);
  assert_int_equal(len, 3);
  assert_memory_equal(lic, "ABC", 3);
  free(lic);
}

/* Bytes after the JSON object other than white space: not JSON. cJSON stops after the
 * first value, so they used to pass unseen. */
static void test_license_trailing(void **state) {
  (void)state;
  uint8_t *lic = NULL;
  size_t len = 0;
  assert_int_equal(from_reply("{\"license\":\"QUJD\"} x", &lic, &len), -AMP_EJSON);
  assert_int_equal(from_reply("{\"license\":\"QUJD\"}{}", &lic, &len), -AMP_EJSON);
  assert_null(lic);
  assert_int_equal(from_reply(" {\"license\":\"QUJD\"} \r\n\t", &lic, &len), 0);
  assert_int_equal(len, 3);
  assert_memory_equal(lic, "ABC", 3);
  free(lic);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_request_body),
      cmocka_unit_test(test_license_from_reply),
      cmocka_unit_test(test_license_nul),
      cmocka_unit_test(test_license_trailing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
