/* SPDX-License-Identifier: Apache-2.0 */
/*
 * media/cdmhost: the ABI checks at load time (against the fake plugins of
 * test_cdm_fakeplugin.c: broken ones, and good ones built from the frozen generation-1
 * layout of test_cdm_v1.h), the frozen sizes against the real ClearKey .so, the loading
 * rule (a name in one absolute directory), and the ClearKey helpers for tools. (The
 * license envelope is cloud/license: test_license.c.)
 */
#include <dlfcn.h>
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
#include "test_cdm_v1.h"

static const struct cdmhost_options fakes = {.plugin_dir = CDMTEST_PLUGIN_DIR};

/* A fresh empty directory under /tmp (for the loading rule); rmdir'd by the caller. */
static void make_temp_dir(char *buf, size_t size) {
  assert_true(snprintf(buf, size, "/tmp/ampd-cdm-XXXXXX") < (int)size);
  assert_non_null(mkdtemp(buf));
}

/* ---- ABI checks ---- */

static void test_abi_mismatch(void **state) {
  (void)state;
  struct cdmhost *h = NULL;
  assert_int_equal(cdmhost_open(CDMTEST_FAKE_VERSION2, &fakes, &h), -AMP_EABI);
  assert_int_equal(cdmhost_open(CDMTEST_FAKE_SHORT, &fakes, &h), -AMP_EABI);
  assert_int_equal(cdmhost_open(CDMTEST_FAKE_MISSING_SLOT, &fakes, &h), -AMP_EABI);
  assert_int_equal(cdmhost_open(CDMTEST_FAKE_REFUSE, &fakes, &h), -AMP_EABI);
  assert_int_equal(cdmhost_open(CDMTEST_FAKE_NO_ENTRY, &fakes, &h), -AMP_EABI);
  assert_null(h);
  const struct cdmhost_options nowhere = {.plugin_dir = "/nonexistent"};
  assert_int_equal(cdmhost_open("clearkey", &nowhere, &h), -ENOENT);
  /* A file that exists but is no shared object. */
  char dir[64], junk[96];
  make_temp_dir(dir, sizeof(dir));
  snprintf(junk, sizeof(junk), "%s/junk.so", dir);
  int fd = open(junk, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "not ELF\n", 8), 8);
  close(fd);
  const struct cdmhost_options there = {.plugin_dir = dir};
  assert_int_equal(cdmhost_open("junk", &there, &h), -EINVAL);
  assert_null(h);
  unlink(junk);
  rmdir(dir);
}

/* A plugin built against generation 1 as first released (its vtable is the frozen v1
 * layout, V1_PLUGIN_SIZE bytes) loads into this host and is driven through it; so does
 * one from a later release with a slot this host does not know. With MIN_SIZE taken as
 * sizeof() of the current struct, the first would be refused as soon as cdm.h grew. */
static void test_abi_v1_and_future_plugins(void **state) {
  (void)state;
  static const char *const names[2] = {CDMTEST_FAKE_V1, CDMTEST_FAKE_FUTURE};
  static const char *const shown[2] = {"fake-v1", "fake-future"};
  for (size_t i = 0; i < 2; i++) {
    struct cdmhost *h = NULL;
    assert_int_equal(cdmhost_open(names[i], &fakes, &h), 0);
    assert_string_equal(cdmhost_name(h), shown[i]);
    assert_string_equal(cdmhost_key_system(h), "org.example.fake");
    uint32_t session = 0;
    assert_int_equal(cdmhost_session_open(h, &session), 0);
    assert_int_equal(session, 7);
    /* Slots inside the plugin's struct but NULL: absent. */
    uint8_t *msg = NULL;
    size_t len = 0;
    assert_int_equal(cdmhost_provision_request(h, &msg, &len), -AMP_EUNSUPPORTED);
    uint8_t buf[16] = {0};
    struct ampd_cdm_sample s;
    cdmhost_sample_init(&s);
    s.iv_len = 8;
    s.in = buf;
    s.out = buf;
    s.len = sizeof(buf);
    assert_int_equal(cdmhost_decrypt(h, session, &s), -AMP_ENOKEY); /* the fake's answer */
    assert_int_equal(cdmhost_session_close(h, session), 0);
    cdmhost_free(h);
  }
}

static void quiet_log(void *ud, int level, const char *msg) {
  (void)ud;
  (void)level;
  (void)msg;
}

static int64_t fixed_ms(void *ud) {
  (void)ud;
  return 1700000000000;
}

/* The frozen floors are generation 1's sizes, and a plugin built with this header (the
 * real ClearKey .so) runs on a host that passes generation-1-sized structs (an older
 * ampd) as well as on one with an extra service (a newer ampd). */
static void test_abi_frozen_sizes(void **state) {
  (void)state;
  assert_int_equal(AMPD_CDM_PLUGIN_MIN_SIZE, V1_PLUGIN_SIZE);
  assert_int_equal(AMPD_CDM_HOST_MIN_SIZE, V1_HOST_SIZE);
  assert_int_equal(AMPD_CDM_SAMPLE_MIN_SIZE, V1_SAMPLE_SIZE);
  assert_true(sizeof(struct ampd_cdm_plugin) >= V1_PLUGIN_SIZE);
  assert_true(sizeof(struct ampd_cdm_host) >= V1_HOST_SIZE);
  assert_true(sizeof(struct ampd_cdm_sample) >= V1_SAMPLE_SIZE);

  struct future_host fh = {.v1 = {.version = AMPD_CDM_ABI_VERSION,
                                  .size = V1_HOST_SIZE,
                                  .log = quiet_log,
                                  .monotonic_ms = fixed_ms,
                                  .wall_ms = fixed_ms}};
  const struct ampd_cdm_host *as_host = (const struct ampd_cdm_host *)(const void *)&fh;
  assert_int_equal(ampd_cdm_host_check(as_host), 0);
  fh.v1.size = V1_HOST_SIZE - 1;
  assert_int_equal(ampd_cdm_host_check(as_host), -AMPD_CDM_EABI);
  fh.v1.size = (uint32_t)sizeof(fh);
  assert_int_equal(ampd_cdm_host_check(as_host), 0);

  void *dl = dlopen(CDMTEST_CLEARKEY_DIR "/clearkey.so", RTLD_NOW | RTLD_LOCAL);
  assert_non_null(dl);
  ampd_cdm_entry_fn entry;
  *(void **)&entry = dlsym(dl, AMPD_CDM_ENTRY_SYMBOL);
  assert_non_null(entry);
  const struct ampd_cdm_plugin *p = entry(AMPD_CDM_ABI_VERSION);
  assert_int_equal(ampd_cdm_plugin_check(p), 0);
  const uint32_t host_sizes[2] = {V1_HOST_SIZE, (uint32_t)sizeof(fh)};
  for (size_t i = 0; i < 2; i++) {
    fh.v1.size = host_sizes[i];
    struct ampd_cdm *cdm = NULL;
    assert_int_equal(p->create(as_host, &cdm), 0);
    uint32_t session = 0;
    assert_int_equal(p->session_open(cdm, AMPD_CDM_SESSION_TEMPORARY, &session), 0);
    static const char kids[] = "{\"kids\":[\"ASNFZ4mrze8BI0VniavN7w\"]}";
    uint8_t *msg = NULL;
    size_t len = 0;
    assert_int_equal(p->generate_request(cdm, session, AMPD_CDM_INIT_KEYIDS, (const uint8_t *)kids,
                                         sizeof(kids) - 1, &msg, &len),
                     0);
    p->release(cdm, msg);
    struct cdmhost_key k;
    assert_int_equal(cdmhost_key_parse("0123456789abcdef0123456789abcdef:"
                                       "2b7e151628aed2a6abf7158809cf4f3c",
                                       &k),
                     0);
    char *lic = NULL;
    assert_int_equal(cdmhost_clearkey_license(&k, 1, 0, &lic, &len), 0);
    assert_int_equal(p->update(cdm, session, (const uint8_t *)lic, len), 0);
    free(lic);
    /* A sample as a generation-1 host fills it: exactly V1_SAMPLE_SIZE bytes. */
    uint8_t buf[32] = {0};
    struct ampd_cdm_sample s;
    cdmhost_sample_init(&s);
    s.size = V1_SAMPLE_SIZE;
    memcpy(s.kid, k.kid, 16);
    s.iv_len = 8;
    s.in = buf;
    s.out = buf;
    s.len = sizeof(buf);
    assert_int_equal(p->decrypt(cdm, session, &s), 0);
    s.size = V1_SAMPLE_SIZE - 1; /* shorter than any generation-1 sample */
    assert_int_equal(p->decrypt(cdm, session, &s), -AMPD_CDM_EABI);
    p->destroy(cdm);
  }
  dlclose(dl);
}

/* Plugins load by name from the one plugin directory, and nothing else reaches dlopen:
 * not a bare file name (main() puts the plugin directories on LD_LIBRARY_PATH, where
 * plain dlopen() finds it, as checked first), not a relative or ".." path, not the build
 * tree when no directory is given. */
static void test_load_rule(void **state) {
  (void)state;
  void *dl = dlopen(CDMTEST_FAKE_V1 ".so", RTLD_NOW | RTLD_LOCAL);
  assert_non_null(dl); /* the library path really holds it */
  dlclose(dl);

  struct cdmhost *h = NULL;
  /* The same file name, through the host: refused, with or without a directory. */
  assert_int_equal(cdmhost_open(CDMTEST_FAKE_V1 ".so", &fakes, &h), -EINVAL);
  assert_int_equal(cdmhost_open(CDMTEST_FAKE_V1 ".so", NULL, &h), -EINVAL);
  /* The plain name is looked up in the plugin directory and only there. */
  char empty[64];
  make_temp_dir(empty, sizeof(empty));
  struct cdmhost_options o = {.plugin_dir = empty};
  assert_int_equal(cdmhost_open(CDMTEST_FAKE_V1, &o, &h), -ENOENT);
  rmdir(empty);
  /* No directory: the installed one, never the build tree this test runs from. */
  assert_int_equal(cdmhost_open(CDMTEST_FAKE_V1, NULL, &h), -ENOENT);
  /* Names that are paths, or not names at all. */
  static const char *const bad_names[] = {
      CDMTEST_PLUGIN_DIR "/" CDMTEST_FAKE_V1 ".so",
      CDMTEST_PLUGIN_DIR "/" CDMTEST_FAKE_V1,
      "../unit/" CDMTEST_FAKE_V1,
      "./" CDMTEST_FAKE_V1,
      "..",
      "",
      "CDMTEST_FAKE_V1",
      "abcdefghijklmnopqrstuvwxyz0123456", /* 33 */
  };
  for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++)
    if (cdmhost_open(bad_names[i], &fakes, &h) != -EINVAL)
      fail_msg("name '%s' was not refused", bad_names[i]);
  /* Directories that are relative or climb: refused even though each leads to the
   * plugin (the test runs in the plugin directory). */
  static const char *const bad_dirs[] = {
      ".", "", "./", "../unit", CDMTEST_PLUGIN_DIR "/../unit", CDMTEST_PLUGIN_DIR "/.",
  };
  for (size_t i = 0; i < sizeof(bad_dirs) / sizeof(bad_dirs[0]); i++) {
    o.plugin_dir = bad_dirs[i];
    if (cdmhost_open(CDMTEST_FAKE_V1, &o, &h) != -EINVAL)
      fail_msg("directory '%s' was not refused", bad_dirs[i]);
  }
  assert_null(h);
  /* And the rule lets the real thing through. */
  assert_int_equal(cdmhost_open(CDMTEST_FAKE_V1, &fakes, &h), 0);
  cdmhost_free(h);
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

/* The in-memory parser: the bytes are the file (no NUL needed after them, none allowed
 * inside) and are left as they were; this is what ampprobe --keys uses for a pipe. */
static void test_keys_parse(void **state) {
  (void)state;
  static const char file[] =
      "# keys\n"
      "0123456789abcdef0123456789abcdef:2b7e151628aed2a6abf7158809cf4f3c\r\n"
      "\t fedcba98-7654-3210-fedc-ba9876543210:101112131415161718191a1b1c1d1e1f";
  struct cdmhost_key keys[4];
  size_t n = 99;
  unsigned bad_line = 0;
  /* Not NUL-terminated: the copy is followed by a byte that would spoil the last key. */
  char *text = malloc(sizeof(file));
  assert_non_null(text);
  memcpy(text, file, sizeof(file) - 1);
  text[sizeof(file) - 1] = 'x';
  assert_int_equal(cdmhost_keys_parse(text, sizeof(file) - 1, keys, 4, &n, &bad_line), 0);
  assert_int_equal(n, 2);
  assert_int_equal(keys[0].kid[0], 0x01);
  assert_int_equal(keys[0].key[15], 0x3c);
  assert_int_equal(keys[1].kid[0], 0xfe);
  assert_int_equal(keys[1].key[15], 0x1f);
  assert_memory_equal(text, file, sizeof(file) - 1); /* read, never written */
  /* Cut inside the last key: that line is bad. */
  n = 99;
  assert_int_equal(cdmhost_keys_parse(text, sizeof(file) - 2, keys, 4, &n, &bad_line), -EINVAL);
  assert_int_equal(bad_line, 3);
  assert_int_equal(n, 99);
  /* More keys than room. */
  assert_int_equal(cdmhost_keys_parse(text, sizeof(file) - 1, keys, 1, &n, NULL), -AMP_ETOOBIG);
  /* A NUL byte inside is not a keys file. */
  text[7] = '\0';
  assert_int_equal(cdmhost_keys_parse(text, sizeof(file) - 1, keys, 4, &n, NULL), -EINVAL);
  free(text);
  /* A line too long for any key (a valid key followed by more hex) is a bad line. */
  static const char longline[] =
      "0123456789abcdef0123456789abcdef:2b7e151628aed2a6abf7158809cf4f3c00000000000000000000";
  assert_int_equal(cdmhost_keys_parse(longline, sizeof(longline) - 1, keys, 4, &n, &bad_line),
                   -EINVAL);
  assert_int_equal(bad_line, 1);
  /* Empty, and only blank and comment lines: no keys, no error. */
  n = 99;
  assert_int_equal(cdmhost_keys_parse(NULL, 0, keys, 4, &n, NULL), 0);
  assert_int_equal(n, 0);
  n = 99;
  assert_int_equal(cdmhost_keys_parse("\n  \r\n# x\n", 9, keys, 4, &n, NULL), 0);
  assert_int_equal(n, 0);
  /* Over the file bound, before anything is looked at. */
  char *big = malloc(CDMHOST_MAX_KEYS_FILE + 1u);
  assert_non_null(big);
  memset(big, '\n', CDMHOST_MAX_KEYS_FILE + 1u);
  assert_int_equal(cdmhost_keys_parse(big, CDMHOST_MAX_KEYS_FILE + 1u, keys, 4, &n, NULL),
                   -AMP_ETOOBIG);
  n = 99;
  assert_int_equal(cdmhost_keys_parse(big, CDMHOST_MAX_KEYS_FILE, keys, 4, &n, NULL), 0);
  assert_int_equal(n, 0);
  free(big);
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
  assert_int_equal(cdmhost_plugin_path("x/y", "clearkey", buf, sizeof(buf)), -EINVAL);
  assert_int_equal(cdmhost_plugin_path("/x/../y", "clearkey", buf, sizeof(buf)), -EINVAL);
  assert_int_equal(cdmhost_plugin_path("/x/..", "clearkey", buf, sizeof(buf)), -EINVAL);
  assert_int_equal(cdmhost_plugin_path("/x/./y", "clearkey", buf, sizeof(buf)), -EINVAL);
  assert_int_equal(cdmhost_plugin_path("/x/..y/.z", "clearkey", buf, sizeof(buf)), 0);
  assert_int_equal(cdmhost_plugin_path("/x/y", "clearkey", buf, 10), -AMP_ETOOBIG);
  assert_int_equal(cdmhost_plugin_path(NULL, "widevine", buf, sizeof(buf)), 0);
  assert_true(strncmp(buf, cdmhost_default_dir(), strlen(cdmhost_default_dir())) == 0);
  assert_int_equal(cdmhost_default_dir()[0], '/');
}

int main(int argc, char **argv) {
  (void)argc;
  /* test_load_rule needs the plugin directories on LD_LIBRARY_PATH, which ld.so reads
   * only at exec: set it and run this program again. */
  if (!getenv("CDMTEST_REEXECED")) {
    if (setenv("LD_LIBRARY_PATH", CDMTEST_PLUGIN_DIR ":" CDMTEST_CLEARKEY_DIR, 1) != 0 ||
        setenv("CDMTEST_REEXECED", "1", 1) != 0)
      return 1;
    execv("/proc/self/exe", argv);
    return 1; /* exec failed: the test fails */
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_abi_mismatch),
      cmocka_unit_test(test_abi_v1_and_future_plugins),
      cmocka_unit_test(test_abi_frozen_sizes),
      cmocka_unit_test(test_load_rule),
      cmocka_unit_test(test_abi_checks_inline),
      cmocka_unit_test(test_key_parse),
      cmocka_unit_test(test_keys_load),
      cmocka_unit_test(test_keys_parse),
      cmocka_unit_test(test_clearkey_license_shape),
      cmocka_unit_test(test_keyids_init_data),
      cmocka_unit_test(test_plugin_path),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
