/* SPDX-License-Identifier: Apache-2.0 */
/*
 * media/cdmhost without the ClearKey plugin: the ABI checks at load time (against the
 * deliberately broken plugins of test_cdm_fakeplugin.c), the license envelope, and the
 * ClearKey helpers for tools.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <cjson/cJSON.h>

#include "core/b64.h"
#include "core/err.h"
#include "media/cdmhost.h"

/* ---- ABI checks ---- */

static void test_abi_mismatch(void **state) {
  (void)state;
  struct cdmhost *h = NULL;
  assert_int_equal(cdmhost_open(CDMTEST_FAKE_VERSION2, NULL, &h), -AMP_EABI);
  assert_int_equal(cdmhost_open(CDMTEST_FAKE_SHORT, NULL, &h), -AMP_EABI);
  assert_int_equal(cdmhost_open(CDMTEST_FAKE_MISSING_SLOT, NULL, &h), -AMP_EABI);
  assert_int_equal(cdmhost_open(CDMTEST_FAKE_REFUSE, NULL, &h), -AMP_EABI);
  assert_int_equal(cdmhost_open(CDMTEST_FAKE_NO_ENTRY, NULL, &h), -AMP_EABI);
  assert_null(h);
  assert_int_equal(cdmhost_open("/nonexistent/clearkey.so", NULL, &h), -ENOENT);
  /* A file that exists but is no shared object. */
  assert_int_equal(cdmhost_open(CDMTEST_NOT_A_PLUGIN, NULL, &h), -EINVAL);
  assert_null(h);
}

static void test_abi_checks_inline(void **state) {
  (void)state;
  /* The header's checks on their own: version, size, required slots. */
  assert_int_equal(ampd_cdm_plugin_check(NULL), -AMPD_CDM_EABI);
  struct ampd_cdm_host host = {.version = AMPD_CDM_ABI_VERSION, .size = sizeof(host)};
  assert_int_equal(ampd_cdm_host_check(&host), -AMPD_CDM_EABI); /* no log/clock */
  struct ampd_cdm_plugin p = {.version = AMPD_CDM_ABI_VERSION, .size = sizeof(p)};
  assert_int_equal(ampd_cdm_plugin_check(&p), -AMPD_CDM_EABI);
  /* A slot past the writer's size reads as absent even if the bytes are non-NULL. */
  p.size = (uint32_t)offsetof(struct ampd_cdm_plugin, provision_request);
  p.provision_request = (int (*)(struct ampd_cdm *, uint8_t **, size_t *))(uintptr_t)1;
  assert_false(AMPD_CDM_HAS_SLOT(&p, struct ampd_cdm_plugin, provision_request));
  p.size = sizeof(p);
  assert_true(AMPD_CDM_HAS_SLOT(&p, struct ampd_cdm_plugin, provision_request));
  p.provision_request = NULL;
  assert_false(AMPD_CDM_HAS_SLOT(&p, struct ampd_cdm_plugin, provision_request));
}

/* ---- the envelope ---- */

static void test_request_body(void **state) {
  (void)state;
  const uint8_t challenge[] = "{\"kids\":[\"ASNFZ4mrze8BI0VniavN7w\"],\"type\":\"temporary\"}";
  char *body = NULL;
  assert_int_equal(cdmhost_license_request_body(challenge, sizeof(challenge) - 1, &body), 0);
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

  assert_int_equal(cdmhost_license_request_body(challenge, 0, &body), -EINVAL);
  uint8_t *big = calloc(1, CDMHOST_MAX_MESSAGE + 1);
  assert_non_null(big);
  assert_int_equal(cdmhost_license_request_body(big, CDMHOST_MAX_MESSAGE + 1, &body), -AMP_ETOOBIG);
  free(big);
}

static int from_reply(const char *json, uint8_t **lic, size_t *len) {
  return cdmhost_license_from_reply(json, strlen(json), lic, len);
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
  size_t big_len = CDMHOST_MAX_ENVELOPE + 1;
  char *big = malloc(big_len + 1);
  assert_non_null(big);
  memset(big, ' ', big_len);
  big[big_len] = '\0';
  assert_int_equal(cdmhost_license_from_reply(big, big_len, &lic, &len), -AMP_ETOOBIG);
  size_t b64_len = (CDMHOST_MAX_MESSAGE / 3 + 2) * 4; /* decodes to > MAX_MESSAGE */
  memcpy(big, "{\"license\":\"", 12);
  memset(big + 12, 'A', b64_len);
  memcpy(big + 12 + b64_len, "\"}", 3);
  assert_true(strlen(big) <= CDMHOST_MAX_ENVELOPE);
  assert_int_equal(from_reply(big, &lic, &len), -AMP_ELICENSE);
  assert_null(lic);
  free(big);
}

/* ---- ClearKey helpers ---- */

static void test_key_parse(void **state) {
  (void)state;
  struct cdmhost_key k;
  assert_int_equal(cdmhost_key_parse("0123456789abcdef0123456789ABCDEF:"
                                     "2b7e151628aed2a6abf7158809cf4f3c",
                                     &k),
                   0);
  assert_int_equal(k.kid[0], 0x01);
  assert_int_equal(k.kid[15], 0xef);
  assert_int_equal(k.key[0], 0x2b);
  assert_int_equal(k.key[15], 0x3c);
  assert_int_equal(cdmhost_key_parse("01234567-89ab-cdef-0123-456789abcdef:"
                                     "2b7e151628aed2a6abf7158809cf4f3c",
                                     &k),
                   0);
  assert_int_equal(k.kid[4], 0x89);
  static const char *bad[] = {
      "0123456789abcdef0123456789abcdef",                                    /* no key */
      "0123456789abcdef0123456789abcd:2b7e151628aed2a6abf7158809cf4f3c",     /* short KID */
      "0123456789abcdef0123456789abcdef:2b7e151628aed2a6abf7158809cf4f3c00", /* long key */
      "0123456789abcdef0123456789abcdef:2b7e151628aed2a6abf7158809cf4f3g",   /* not hex */
      "0123456789abcdef0123456789abcdef:2b7e1516-28aed2a6abf7158809cf4f3c",  /* dash in key */
      ":2b7e151628aed2a6abf7158809cf4f3c",
      "a:b:c",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(cdmhost_key_parse(bad[i], &k), -EINVAL);
}

static char *write_temp(const char *text) {
  char *path = strdup("/tmp/test_cdm_keys_XXXXXX");
  assert_non_null(path);
  int fd = mkostemp(path, O_CLOEXEC);
  assert_true(fd >= 0);
  size_t n = strlen(text);
  assert_int_equal(write(fd, text, n), (ssize_t)n);
  close(fd);
  return path;
}

static void test_keys_load(void **state) {
  (void)state;
  struct cdmhost_key keys[4];
  size_t n = 99;
  unsigned bad_line = 0;
  char *path = write_temp("# test keys\n"
                          "\n"
                          "  0123456789abcdef0123456789abcdef:2b7e151628aed2a6abf7158809cf4f3c\r\n"
                          "fedcba98-7654-3210-fedc-ba9876543210:101112131415161718191a1b1c1d1e1f");
  assert_int_equal(cdmhost_keys_load(path, keys, 4, &n, &bad_line), 0);
  assert_int_equal(n, 2);
  assert_int_equal(keys[0].key[0], 0x2b);
  assert_int_equal(keys[1].kid[0], 0xfe);
  assert_int_equal(keys[1].key[15], 0x1f);
  /* More keys than room. */
  assert_int_equal(cdmhost_keys_load(path, keys, 1, &n, &bad_line), -AMP_ETOOBIG);
  unlink(path);
  free(path);

  path = write_temp("0123456789abcdef0123456789abcdef:2b7e151628aed2a6abf7158809cf4f3c\n"
                    "oops\n");
  n = 99;
  assert_int_equal(cdmhost_keys_load(path, keys, 4, &n, &bad_line), -EINVAL);
  assert_int_equal(bad_line, 2);
  assert_int_equal(n, 99); /* untouched on failure */
  unlink(path);
  free(path);

  path = write_temp("");
  assert_int_equal(cdmhost_keys_load(path, keys, 4, &n, NULL), 0);
  assert_int_equal(n, 0);
  unlink(path);
  free(path);
  assert_int_equal(cdmhost_keys_load("/nonexistent/keys", keys, 4, &n, NULL), -ENOENT);
}

static void test_clearkey_license_shape(void **state) {
  (void)state;
  struct cdmhost_key k[2];
  assert_int_equal(cdmhost_key_parse("0123456789abcdef0123456789abcdef:"
                                     "2b7e151628aed2a6abf7158809cf4f3c",
                                     &k[0]),
                   0);
  assert_int_equal(cdmhost_key_parse("fedcba9876543210fedcba9876543210:"
                                     "101112131415161718191a1b1c1d1e1f",
                                     &k[1]),
                   0);
  char *json = NULL;
  size_t len = 0;
  assert_int_equal(cdmhost_clearkey_license(k, 2, 1700000000123, &json, &len), 0);
  assert_int_equal(strlen(json), len);
  cJSON *root = cJSON_Parse(json);
  assert_non_null(root);
  const cJSON *keys = cJSON_GetObjectItemCaseSensitive(root, "keys");
  assert_int_equal(cJSON_GetArraySize(keys), 2);
  const cJSON *k0 = cJSON_GetArrayItem(keys, 0);
  assert_string_equal(cJSON_GetObjectItemCaseSensitive(k0, "kty")->valuestring, "oct");
  assert_string_equal(cJSON_GetObjectItemCaseSensitive(k0, "kid")->valuestring,
                      "ASNFZ4mrze8BI0VniavN7w");
  assert_string_equal(cJSON_GetObjectItemCaseSensitive(k0, "k")->valuestring,
                      "K34VFiiu0qar9xWICc9PPA");
  assert_string_equal(cJSON_GetObjectItemCaseSensitive(root, "type")->valuestring, "temporary");
  assert_true(cJSON_GetObjectItemCaseSensitive(root, "expiration")->valuedouble == 1700000000123.0);
  cJSON_Delete(root);
  free(json);

  assert_int_equal(cdmhost_clearkey_license(k, 0, 0, &json, &len), -EINVAL);
  assert_int_equal(cdmhost_clearkey_license(k, CDMHOST_MAX_KEYS + 1, 0, &json, &len), -AMP_ETOOBIG);
}

static void test_keyids_init_data(void **state) {
  (void)state;
  const uint8_t kids[2][16] = {{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45,
                                0x67, 0x89, 0xab, 0xcd, 0xef},
                               {0xff}};
  uint8_t *init = NULL;
  size_t len = 0;
  assert_int_equal(cdmhost_keyids_init_data(kids, 2, &init, &len), 0);
  const char want[] = "{\"kids\":[\"ASNFZ4mrze8BI0VniavN7w\",\"_wAAAAAAAAAAAAAAAAAAAA\"]}";
  assert_int_equal(len, sizeof(want) - 1);
  assert_memory_equal(init, want, len);
  free(init);
  assert_int_equal(cdmhost_keyids_init_data(kids, 0, &init, &len), -EINVAL);
}

static void test_plugin_path(void **state) {
  (void)state;
  char buf[256];
  assert_int_equal(cdmhost_plugin_path("/x/y", "clearkey", buf, sizeof(buf)), 0);
  assert_string_equal(buf, "/x/y/clearkey.so");
  assert_int_equal(cdmhost_plugin_path("/x/y", "../evil", buf, sizeof(buf)), -EINVAL);
  assert_int_equal(cdmhost_plugin_path("/x/y", "", buf, sizeof(buf)), -EINVAL);
  assert_int_equal(cdmhost_plugin_path("/x/y", "clearkey", buf, 10), -AMP_ETOOBIG);
  assert_int_equal(cdmhost_plugin_path(NULL, "widevine", buf, sizeof(buf)), 0);
  assert_true(strncmp(buf, cdmhost_default_dir(), strlen(cdmhost_default_dir())) == 0);
  /* The build tree's plugin directory holds the plugin these tests load. */
  char built[512];
  assert_int_equal(cdmhost_plugin_path(cdmhost_build_dir(), "clearkey", built, sizeof(built)), 0);
  assert_string_equal(built, CDMTEST_CLEARKEY_PATH);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_abi_mismatch),
      cmocka_unit_test(test_abi_checks_inline),
      cmocka_unit_test(test_request_body),
      cmocka_unit_test(test_license_from_reply),
      cmocka_unit_test(test_key_parse),
      cmocka_unit_test(test_keys_load),
      cmocka_unit_test(test_clearkey_license_shape),
      cmocka_unit_test(test_keyids_init_data),
      cmocka_unit_test(test_plugin_path),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
