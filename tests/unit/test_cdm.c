/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ClearKey CDM plugin, loaded through cdmhost exactly as the daemon loads it
 * (by name from a plugin directory: the build tree's, CDMTEST_CLEARKEY_DIR). Keys only ever enter
 * through a license built by cdmhost_clearkey_license(), as in production. Expected ciphertexts
 * come from NIST SP 800-38A or from keystream computed here with mbedTLS ECB.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <mbedtls/aes.h>

#include "core/b64.h"
#include "core/err.h"
#include "media/cdmhost.h"

static int64_t fake_wall_ms = 1700000000000;

static int64_t fake_wall(void *ud) {
  (void)ud;
  return fake_wall_ms;
}

static int64_t fake_mono(void *ud) {
  (void)ud;
  return 12345;
}

static const struct cdmhost_options fake_clock = {.monotonic_ms = fake_mono,
                                                  .wall_ms = fake_wall,
                                                  .clock_userdata = NULL,
                                                  .plugin_dir = CDMTEST_CLEARKEY_DIR};

struct fixture {
  struct cdmhost *h;
  uint32_t session;
};

static void unhex(const char *hex, uint8_t *out, size_t n) {
  assert_int_equal(hex_decode(hex, out, n), 0);
}

static int setup(void **state) {
  struct fixture *f = calloc(1, sizeof(*f));
  assert_non_null(f);
  fake_wall_ms = 1700000000000;
  assert_int_equal(cdmhost_open("clearkey", &fake_clock, &f->h), 0);
  assert_string_equal(cdmhost_key_system(f->h), "org.w3.clearkey");
  assert_int_equal(cdmhost_session_open(f->h, &f->session), 0);
  assert_true(f->session != 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fixture *f = *state;
  cdmhost_free(f->h);
  free(f);
  return 0;
}

/* Ask for kids (keyids init data), then update with a license for keys. */
static int request_kids(struct fixture *f, const uint8_t (*kids)[16], size_t n) {
  uint8_t *init = NULL, *challenge = NULL;
  size_t init_len = 0, challenge_len = 0;
  assert_int_equal(cdmhost_keyids_init_data(kids, n, &init, &init_len), 0);
  int r = cdmhost_generate_request(f->h, f->session, AMPD_CDM_INIT_KEYIDS, init, init_len,
                                   &challenge, &challenge_len);
  free(init);
  free(challenge);
  return r;
}

static int give_license(struct fixture *f, const struct cdmhost_key *keys, size_t n,
                        int64_t expiration) {
  char *json = NULL;
  size_t len = 0;
  assert_int_equal(cdmhost_clearkey_license(keys, n, expiration, &json, &len), 0);
  int r = cdmhost_update(f->h, f->session, (const uint8_t *)json, len);
  free(json);
  return r;
}

static void install_key(struct fixture *f, const uint8_t kid[16], const uint8_t key[16]) {
  struct cdmhost_key k;
  memcpy(k.kid, kid, 16);
  memcpy(k.key, key, 16);
  assert_int_equal(request_kids(f, (const uint8_t(*)[16])k.kid, 1), 0);
  assert_int_equal(give_license(f, &k, 1, 0), 0);
}

static uint32_t status_of(struct fixture *f, const uint8_t kid[16]) {
  uint32_t st = 0;
  assert_int_equal(cdmhost_key_status(f->h, f->session, kid, &st, NULL), 0);
  return st;
}

/* Reference keystream: blocks E(counter), counter's low 64 bits +1 per block, high
 * 64 bits fixed, exactly as ISO/IEC 23001-7 says. */
static void ref_keystream(const uint8_t key[16], const uint8_t iv16[16], uint8_t *ks, size_t n) {
  mbedtls_aes_context aes;
  mbedtls_aes_init(&aes);
  assert_int_equal(mbedtls_aes_setkey_enc(&aes, key, 128), 0);
  uint8_t ctr[16], block[16];
  memcpy(ctr, iv16, 16);
  uint64_t low = 0;
  for (int i = 8; i < 16; i++)
    low = low << 8 | ctr[i];
  for (size_t off = 0; off < n; off += 16) {
    for (int i = 0; i < 8; i++)
      ctr[15 - i] = (uint8_t)(low >> (8 * i));
    assert_int_equal(mbedtls_aes_crypt_ecb(&aes, MBEDTLS_AES_ENCRYPT, ctr, block), 0);
    memcpy(ks + off, block, n - off < 16 ? n - off : 16);
    low++; /* wraps mod 2^64 */
  }
  mbedtls_aes_free(&aes);
}

static const uint8_t kid_a[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                  0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
static const uint8_t kid_b[16] = {0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
                                  0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10};
static const uint8_t key_a[16] = {0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6,
                                  0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c};
static const uint8_t key_b[16] = {0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
                                  0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f};

static void sample_for(struct ampd_cdm_sample *s, const uint8_t kid[16], const uint8_t *iv,
                       uint8_t iv_len, const uint8_t *in, uint8_t *out, size_t len) {
  cdmhost_sample_init(s);
  memcpy(s->kid, kid, 16);
  memcpy(s->iv, iv, iv_len);
  s->iv_len = iv_len;
  s->in = in;
  s->out = out;
  s->len = len;
}

/* ---- AES-CTR ---- */

/* NIST SP 800-38A F.5.2 (CTR-AES128.Decrypt), its initial counter block as a 16-byte IV. */
static void test_nist_f5(void **state) {
  struct fixture *f = *state;
  install_key(f, kid_a, key_a);
  uint8_t iv[16], ct[64], pt[64], out[64];
  unhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff", iv, 16);
  unhex("874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff"
        "5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee",
        ct, 64);
  unhex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
        "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710",
        pt, 64);
  struct ampd_cdm_sample s;
  sample_for(&s, kid_a, iv, 16, ct, out, 64);
  assert_int_equal(cdmhost_decrypt(f->h, f->session, &s), 0);
  assert_memory_equal(out, pt, 64);
  /* A length that ends inside a block uses a prefix of the last keystream block. */
  sample_for(&s, kid_a, iv, 16, ct, out, 37);
  memset(out, 0, sizeof(out));
  assert_int_equal(cdmhost_decrypt(f->h, f->session, &s), 0);
  assert_memory_equal(out, pt, 37);
  assert_int_equal(out[37], 0);
}

/* cenc 8-byte IV: the counter block is IV || 0^64. */
static void test_iv8(void **state) {
  struct fixture *f = *state;
  install_key(f, kid_a, key_a);
  const uint8_t iv8[8] = {0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7};
  uint8_t iv16[16] = {0};
  memcpy(iv16, iv8, 8);
  enum { N = 100 };
  uint8_t pt[N], ct[N], ks[N], out[N];
  for (int i = 0; i < N; i++)
    pt[i] = (uint8_t)(i * 7 + 3);
  ref_keystream(key_a, iv16, ks, N);
  for (int i = 0; i < N; i++)
    ct[i] = pt[i] ^ ks[i];
  struct ampd_cdm_sample s;
  sample_for(&s, kid_a, iv8, 8, ct, out, N);
  assert_int_equal(cdmhost_decrypt(f->h, f->session, &s), 0);
  assert_memory_equal(out, pt, N);
}

/* The low 64 bits wrap to 0 and bytes 0..7 stay as they were; a 128-bit counter (what
 * mbedtls_aes_crypt_ctr does) would carry into byte 7 and give other bytes. */
static void test_counter_wrap64(void **state) {
  struct fixture *f = *state;
  install_key(f, kid_a, key_a);
  uint8_t iv[16];
  unhex("0102030405060708fffffffffffffffe", iv, 16);
  enum { N = 64 };
  uint8_t pt[N], ks[N], ct[N], out[N];
  memset(pt, 0x5a, N);
  /* Hand-computed counter blocks: ..fe, ..ff, then 0102030405060708 0000000000000000, ..01. */
  const char *blocks[4] = {"0102030405060708fffffffffffffffe", "0102030405060708ffffffffffffffff",
                           "01020304050607080000000000000000", "01020304050607080000000000000001"};
  mbedtls_aes_context aes;
  mbedtls_aes_init(&aes);
  assert_int_equal(mbedtls_aes_setkey_enc(&aes, key_a, 128), 0);
  for (int b = 0; b < 4; b++) {
    uint8_t ctr[16];
    unhex(blocks[b], ctr, 16);
    assert_int_equal(mbedtls_aes_crypt_ecb(&aes, MBEDTLS_AES_ENCRYPT, ctr, ks + 16 * b), 0);
  }
  for (int i = 0; i < N; i++)
    ct[i] = pt[i] ^ ks[i];
  struct ampd_cdm_sample s;
  sample_for(&s, kid_a, iv, 16, ct, out, N);
  assert_int_equal(cdmhost_decrypt(f->h, f->session, &s), 0);
  assert_memory_equal(out, pt, N);

  /* The 128-bit carry really differs here, so the test can tell the two apart. */
  uint8_t nonce[16], stream[16], wrong[N];
  size_t nc_off = 0;
  memcpy(nonce, iv, 16);
  assert_int_equal(mbedtls_aes_crypt_ctr(&aes, N, &nc_off, nonce, stream, ct, wrong), 0);
  assert_memory_equal(wrong, pt, 32); /* same before the wrap */
  assert_memory_not_equal(wrong + 32, pt + 32, 32);
  mbedtls_aes_free(&aes);
}

/* Protected ranges share one keystream; clear bytes consume none. */
static void test_subsamples(void **state) {
  struct fixture *f = *state;
  install_key(f, kid_a, key_a);
  const uint8_t iv8[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  uint8_t iv16[16] = {0};
  memcpy(iv16, iv8, 8);
  const struct ampd_cdm_subsample subs[] = {{5, 20}, {3, 1}, {0, 30}, {17, 0}, {2, 22}};
  enum { N = 5 + 20 + 3 + 1 + 30 + 17 + 2 + 22 };
  uint8_t pt[N], ct[N], ks[N], out[N];
  for (int i = 0; i < N; i++)
    pt[i] = (uint8_t)(0x30 + i);
  ref_keystream(key_a, iv16, ks, N);
  /* Whole-sample keystream applied only to the protected ranges, in order. */
  size_t off = 0, ksoff = 0;
  for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
    for (uint32_t j = 0; j < subs[i].clear_bytes; j++, off++)
      ct[off] = pt[off];
    for (uint32_t j = 0; j < subs[i].protected_bytes; j++, off++)
      ct[off] = pt[off] ^ ks[ksoff++];
  }
  assert_int_equal(off, N);
  struct ampd_cdm_sample s;
  sample_for(&s, kid_a, iv8, 8, ct, out, N);
  s.subsamples = subs;
  s.subsample_count = sizeof(subs) / sizeof(subs[0]);
  assert_int_equal(cdmhost_decrypt(f->h, f->session, &s), 0);
  assert_memory_equal(out, pt, N);

  /* In place, with the same subsamples. */
  uint8_t buf[N];
  memcpy(buf, ct, N);
  s.in = buf;
  s.out = buf;
  assert_int_equal(cdmhost_decrypt(f->h, f->session, &s), 0);
  assert_memory_equal(buf, pt, N);
}

static void test_subsample_sum_mismatch(void **state) {
  struct fixture *f = *state;
  install_key(f, kid_a, key_a);
  uint8_t in[40] = {0}, out[40];
  const uint8_t iv[8] = {0};
  struct ampd_cdm_sample s;
  const struct ampd_cdm_subsample short_subs[] = {{4, 30}};        /* 34 < 40 */
  const struct ampd_cdm_subsample long_subs[] = {{4, 30}, {0, 7}}; /* 41 > 40 */
  const struct ampd_cdm_subsample huge[] = {{0xffffffffu, 0xffffffffu}};
  sample_for(&s, kid_a, iv, 8, in, out, sizeof(in));
  s.subsamples = short_subs;
  s.subsample_count = 1;
  assert_int_equal(cdmhost_decrypt(f->h, f->session, &s), -EINVAL);
  s.subsamples = long_subs;
  s.subsample_count = 2;
  assert_int_equal(cdmhost_decrypt(f->h, f->session, &s), -EINVAL);
  s.subsamples = huge;
  s.subsample_count = 1;
  assert_int_equal(cdmhost_decrypt(f->h, f->session, &s), -EINVAL);
  s.subsamples = NULL; /* a count without a table */
  assert_int_equal(cdmhost_decrypt(f->h, f->session, &s), -EINVAL);
}

static void test_sample_shape(void **state) {
  struct fixture *f = *state;
  install_key(f, kid_a, key_a);
  uint8_t in[32] = {0}, out[32];
  const uint8_t iv[16] = {0};
  struct ampd_cdm_sample s;
  sample_for(&s, kid_a, iv, 12, in, out, sizeof(in));
  assert_int_equal(cdmhost_decrypt(f->h, f->session, &s), -EINVAL); /* IV size 12 */
  sample_for(&s, kid_a, iv, 16, in, out, sizeof(in));
  s.scheme = AMPD_CDM_SCHEME_CBCS;
  assert_int_equal(cdmhost_decrypt(f->h, f->session, &s), -AMP_EUNSUPPORTED);
  s.scheme = AMPD_CDM_FOURCC('c', 'e', 'n', 's');
  assert_int_equal(cdmhost_decrypt(f->h, f->session, &s), -EINVAL);
  sample_for(&s, kid_a, iv, 16, in, in + 1, 16); /* overlapping, not in place */
  assert_int_equal(cdmhost_decrypt(f->h, f->session, &s), -EINVAL);
  sample_for(&s, kid_a, iv, 16, in, out, sizeof(in));
  s.version = 2;
  assert_int_equal(cdmhost_decrypt(f->h, f->session, &s), -EINVAL);
}

/* ---- sessions and keys ---- */

static void test_missing_key(void **state) {
  struct fixture *f = *state;
  install_key(f, kid_a, key_a);
  uint8_t in[16] = {0}, out[16];
  const uint8_t iv[8] = {0};
  struct ampd_cdm_sample s;
  sample_for(&s, kid_b, iv, 8, in, out, sizeof(in));
  assert_int_equal(cdmhost_decrypt(f->h, f->session, &s), -AMP_ENOKEY);
  assert_int_equal(status_of(f, kid_b), AMPD_CDM_KEY_MISSING);
  assert_int_equal(status_of(f, kid_a), AMPD_CDM_KEY_USABLE);
}

static void test_close_then_decrypt(void **state) {
  struct fixture *f = *state;
  install_key(f, kid_a, key_a);
  uint8_t in[16] = {0}, out[16];
  const uint8_t iv[8] = {0};
  struct ampd_cdm_sample s;
  sample_for(&s, kid_a, iv, 8, in, out, sizeof(in));
  assert_int_equal(cdmhost_decrypt(f->h, f->session, &s), 0);
  assert_int_equal(cdmhost_session_close(f->h, f->session), 0);
  assert_int_equal(cdmhost_decrypt(f->h, f->session, &s), -ENOENT);
  uint32_t st;
  assert_int_equal(cdmhost_key_status(f->h, f->session, kid_a, &st, NULL), -ENOENT);
  assert_int_equal(cdmhost_session_close(f->h, f->session), -ENOENT);
  /* A new session gets a new id: the stale one stays dead. */
  uint32_t again = 0;
  assert_int_equal(cdmhost_session_open(f->h, &again), 0);
  assert_true(again != f->session);
  assert_int_equal(cdmhost_decrypt(f->h, f->session, &s), -ENOENT);
  sample_for(&s, kid_a, iv, 8, in, out, sizeof(in));
  assert_int_equal(cdmhost_decrypt(f->h, again, &s), -AMP_ENOKEY);
}

static void test_session_limit(void **state) {
  struct fixture *f = *state;
  uint32_t ids[AMPD_CDM_MAX_SESSIONS];
  size_t n = 0;
  /* The fixture holds one; open up to the bound. */
  while (n < AMPD_CDM_MAX_SESSIONS - 1) {
    assert_int_equal(cdmhost_session_open(f->h, &ids[n]), 0);
    n++;
  }
  uint32_t extra;
  assert_int_equal(cdmhost_session_open(f->h, &extra), -ENOSPC);
  assert_int_equal(cdmhost_session_close(f->h, ids[0]), 0);
  assert_int_equal(cdmhost_session_open(f->h, &extra), 0);
}

static void test_expiry(void **state) {
  struct fixture *f = *state;
  struct cdmhost_key k;
  memcpy(k.kid, kid_a, 16);
  memcpy(k.key, key_a, 16);
  assert_int_equal(request_kids(f, (const uint8_t(*)[16])k.kid, 1), 0);
  int64_t expires = fake_wall_ms + 60000;
  assert_int_equal(give_license(f, &k, 1, expires), 0);
  uint32_t st = 0;
  int64_t exp = 0;
  assert_int_equal(cdmhost_key_status(f->h, f->session, kid_a, &st, &exp), 0);
  assert_int_equal(st, AMPD_CDM_KEY_USABLE);
  assert_int_equal(exp, expires);

  uint8_t in[16] = {0}, out[16];
  const uint8_t iv[8] = {0};
  struct ampd_cdm_sample s;
  sample_for(&s, kid_a, iv, 8, in, out, sizeof(in));
  assert_int_equal(cdmhost_decrypt(f->h, f->session, &s), 0);

  fake_wall_ms = expires; /* the host's clock moves past the expiry */
  assert_int_equal(cdmhost_key_status(f->h, f->session, kid_a, &st, &exp), 0);
  assert_int_equal(st, AMPD_CDM_KEY_EXPIRED);
  assert_int_equal(cdmhost_decrypt(f->h, f->session, &s), -AMP_EKEYEXPIRED);

  /* A renewed license (no expiration) makes it usable again. */
  assert_int_equal(give_license(f, &k, 1, 0), 0);
  assert_int_equal(cdmhost_key_status(f->h, f->session, kid_a, &st, &exp), 0);
  assert_int_equal(st, AMPD_CDM_KEY_USABLE);
  assert_int_equal(exp, 0);
}

/* Only requested KIDs are installed; a license with none of them is refused. */
static void test_license_kid_policy(void **state) {
  struct fixture *f = *state;
  struct cdmhost_key keys[2];
  memcpy(keys[0].kid, kid_a, 16);
  memcpy(keys[0].key, key_a, 16);
  memcpy(keys[1].kid, kid_b, 16);
  memcpy(keys[1].key, key_b, 16);
  /* update() before generate_request() is a state error. */
  assert_int_equal(give_license(f, keys, 2, 0), -EINVAL);
  assert_int_equal(request_kids(f, &kid_a, 1), 0);
  /* A second request on one session is refused. */
  assert_int_equal(request_kids(f, &kid_a, 1), -EALREADY);
  assert_int_equal(give_license(f, &keys[1], 1, 0), -AMP_ELICENSE);
  assert_int_equal(status_of(f, kid_b), AMPD_CDM_KEY_MISSING);
  assert_int_equal(give_license(f, keys, 2, 0), 0);
  assert_int_equal(status_of(f, kid_a), AMPD_CDM_KEY_USABLE);
  assert_int_equal(status_of(f, kid_b), AMPD_CDM_KEY_MISSING); /* not asked for */
}

static int update_text(struct fixture *f, const char *json) {
  return cdmhost_update(f->h, f->session, (const uint8_t *)json, strlen(json));
}

/* Every malformed license: an error, and the session keeps exactly what it had. */
static void test_license_malformed(void **state) {
  struct fixture *f = *state;
  assert_int_equal(request_kids(f, &kid_a, 1), 0);
  /* kid_a = ASNFZ4mrze8BI0VniavN7w, key_a = K34VFiiu0qar9xWICc9PPA (base64url). */
  static const char *bad[] = {
      "{\"keys\":[{\"kid\":\"ASNFZ4mrze8BI0VniavN7w\",\"k\":\"K34VFiiu0qar9xWICc9PPA\"}]}",
      "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"ASNFZ4mrze8BI0VniavN7w\",\"k\":"
      "\"K34VFiiu0qar9xWICc9PPA\"}]}",
      "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"ASNFZ4mrze8BI0VniavN7w\",\"k\":"
      "\"K34VFiiu0qar9xWICc9P*A\"}]}",
      "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"ASNFZ4mrze8BI0VniavN7w\",\"k\":"
      "\"K34VFiiu0qar9xWICc9P\"}]}", /* 15 */
      "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"ASNFZ4mrze8BI0VniavN7w\",\"k\":"
      "\"K34VFiiu0qar9xWICc9PPAE\"}]}", /* 17 */
      "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"ASNFZ4mrze8BI0VniavN\",\"k\":"
      "\"K34VFiiu0qar9xWICc9PPA\"}]}", /* kid 15 */
      "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"ASNFZ4mrze8BI0VniavN7w\",\"k\":"
      "\"K34VFiiu0qar9xWICc9PPB\"}]}", /* non-canonical */
      /* What mbedtls_base64_decode alone would take (ck_json.c keeps refusing it): */
      "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"ASNFZ4mrze8BI0VniavN7w\",\"k\":"
      "\"K34VFiiu0qar9xWICc9PPB==\"}]}", /* non-canonical, padded */
      "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"ASNFZ4mrze8BI0VniavN7w\",\"k\":"
      "\"K34VFiiu0qar9xWICc9PPA==\\n\"}]}", /* a line break */
      "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"ASNFZ4mrze8BI0VniavN7w\",\"k\":"
      "\"K34VFiiu0qar9xWICc9P+A\"}]}", /* the standard alphabet */
      "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"ASNFZ4mrze8BI0VniavN7w\",\"k\":"
      "\"K34VFiiu0qar9xWICc9PPA=\"}]}", /* short padding */
      "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"ASNFZ4mrze8BI0VniavN7w\",\"k\":"
      "\"K34VFiiu0qar9xWICc9PPA===\"}]}", /* long padding */
      "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"ASNFZ4mrze8BI0VniavN7w\",\"k\":"
      "\"K34VFiiu0qar9xWICc9P=PA=\"}]}", /* padding inside */
      "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"ASNFZ4mrze8BI0VniavN7w\",\"k\":"
      "\"K34VFiiu0qar9xWICc9PPA==\"}]} x",
      "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"ASNFZ4mrze8BI0VniavN7w\",\"k\":"
      "\"K34VFiiu0qar9xWICc9PPA\"}],\"type\":\"persistent-license\"}",
      "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"ASNFZ4mrze8BI0VniavN7w\",\"k\":"
      "\"K34VFiiu0qar9xWICc9PPA\"}],\"expiration\":\"soon\"}",
      "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"ASNFZ4mrze8BI0VniavN7w\",\"k\":"
      "\"K34VFiiu0qar9xWICc9PPA\"}],\"expiration\":-5}",
      "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"ASNFZ4mrze8BI0VniavN7w\",\"k\":"
      "\"K34VFiiu0qar9xWICc9PPA\"},"
      "{\"kty\":\"oct\",\"kid\":\"ASNFZ4mrze8BI0VniavN7w\",\"k\":"
      "\"K34VFiiu0qar9xWICc9PPA\"}]}", /* dup */
      "{\"keys\":[]}",
      "{\"keys\":{}}",
      "{\"keys\":[\"ASNFZ4mrze8BI0VniavN7w\"]}",
      "[{\"kty\":\"oct\",\"kid\":\"ASNFZ4mrze8BI0VniavN7w\",\"k\":"
      "\"K34VFiiu0qar9xWICc9PPA\"}]",
      "42",
      "\"keys\"",
      "null",
      "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"ASNFZ4mrze8BI0VniavN7w\",\"k\":"
      "\"K34VFiiu0qar9xWICc9PPA\"}]",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int r = update_text(f, bad[i]);
    if (r != -AMP_ELICENSE)
      fail_msg("license %zu: got %d, want -AMP_ELICENSE", i, r);
    assert_int_equal(status_of(f, kid_a), AMPD_CDM_KEY_MISSING);
  }
  /* Deep nesting, within the size bound. */
  char deep[4096];
  size_t n = 0;
  n += (size_t)snprintf(deep, sizeof(deep), "{\"keys\":");
  for (int i = 0; i < 1000; i++)
    deep[n++] = '[';
  for (int i = 0; i < 1000; i++)
    deep[n++] = ']';
  deep[n++] = '}';
  deep[n] = '\0';
  assert_int_equal(update_text(f, deep), -AMP_ELICENSE);
  /* Huge input: refused before parsing. */
  size_t huge = AMPD_CDM_MAX_MESSAGE + 1;
  uint8_t *big = malloc(huge);
  assert_non_null(big);
  memset(big, ' ', huge);
  assert_int_equal(cdmhost_update(f->h, f->session, big, huge), -AMP_ETOOBIG);
  free(big);
  assert_int_equal(status_of(f, kid_a), AMPD_CDM_KEY_MISSING);

  /* The same license written correctly works, padded base64url included; then a bad
   * license leaves the installed key untouched. */
  assert_int_equal(update_text(f, "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"ASNFZ4mrze8BI0VniavN7w\","
                                  "\"k\":\"K34VFiiu0qar9xWICc9PPA==\",\"alg\":\"A128KW\"}],"
                                  "\"type\":\"temporary\"} \n"),
                   0);
  assert_int_equal(status_of(f, kid_a), AMPD_CDM_KEY_USABLE);
  assert_int_equal(update_text(f, bad[0]), -AMP_ELICENSE);
  assert_int_equal(status_of(f, kid_a), AMPD_CDM_KEY_USABLE);
  uint8_t iv[16], ct[16], pt[16], out[16];
  unhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff", iv, 16);
  unhex("874d6191b620e3261bef6864990db6ce", ct, 16);
  unhex("6bc1bee22e409f96e93d7e117393172a", pt, 16);
  struct ampd_cdm_sample s;
  sample_for(&s, kid_a, iv, 16, ct, out, 16);
  assert_int_equal(cdmhost_decrypt(f->h, f->session, &s), 0);
  assert_memory_equal(out, pt, 16);
}

/* decrypt() on one thread while the loop thread renews the license and then closes the
 * session: every decrypt either succeeds with the right plaintext or sees -ENOENT after
 * the close, never a torn key (ASan would catch a freed one, TSan a data race).
 *
 * The race must really happen, not just be possible: the loop thread brackets each
 * update() (and the close) with two atomic counters, and the decrypt thread reads them
 * around each decrypt(). A decrypt that began before some update finished and ended
 * after it started overlapped it (windows_begun after > windows_done before); a decrypt
 * that finds windows_done moved since its previous one runs on a key replaced between
 * the two (an interleaving). The loop thread renews until RACE_MIN_OVERLAPS overlaps
 * and RACE_MIN_INTERLEAVED interleavings were seen, at most RACE_MAX_RENEWALS times, and
 * only then closes; the decrypt thread runs until it sees the close. Iteration counts
 * bound everything; nothing depends on timing. */
#define RACE_MIN_OVERLAPS 64
#define RACE_MIN_INTERLEAVED 16
#define RACE_MAX_RENEWALS 200000

struct race {
  struct fixture *f;
  const uint8_t *ct, *pt;
  pthread_barrier_t start;
  atomic_uint windows_begun; /* update/close calls begun by the loop thread */
  atomic_uint windows_done;  /* ... and returned */
  atomic_uint overlaps;      /* decrypts that overlapped one of them */
  atomic_uint interleaved;   /* decrypts that found one more of them done than before */
  unsigned ok, bad;
};

static void *race_decrypt(void *arg) {
  struct race *rc = arg;
  const uint8_t iv[8] = {9, 8, 7, 6, 5, 4, 3, 2};
  pthread_barrier_wait(&rc->start);
  unsigned last_done = 0;
  for (;;) {
    uint8_t out[64];
    struct ampd_cdm_sample s;
    sample_for(&s, kid_a, iv, 8, rc->ct, out, sizeof(out));
    unsigned done_before = atomic_load(&rc->windows_done);
    if (done_before != last_done)
      atomic_fetch_add(&rc->interleaved, 1);
    last_done = done_before;
    int r = cdmhost_decrypt(rc->f->h, rc->f->session, &s);
    if (atomic_load(&rc->windows_begun) > done_before)
      atomic_fetch_add(&rc->overlaps, 1);
    if (r == 0 && memcmp(out, rc->pt, sizeof(out)) == 0) {
      rc->ok++;
    } else if (r == -ENOENT) {
      break; /* closed (test_close_then_decrypt: it stays closed) */
    } else {
      rc->bad++;
    }
  }
  return NULL;
}

static void test_decrypt_races_update_and_close(void **state) {
  struct fixture *f = *state;
  install_key(f, kid_a, key_a);
  uint8_t iv16[16] = {9, 8, 7, 6, 5, 4, 3, 2};
  uint8_t pt[64], ks[64], ct[64];
  for (int i = 0; i < 64; i++)
    pt[i] = (uint8_t)(i * 3);
  ref_keystream(key_a, iv16, ks, 64);
  for (int i = 0; i < 64; i++)
    ct[i] = pt[i] ^ ks[i];
  struct race *rc = calloc(1, sizeof(*rc));
  assert_non_null(rc);
  rc->f = f;
  rc->ct = ct;
  rc->pt = pt;
  atomic_init(&rc->windows_begun, 0);
  atomic_init(&rc->windows_done, 0);
  atomic_init(&rc->overlaps, 0);
  atomic_init(&rc->interleaved, 0);
  assert_int_equal(pthread_barrier_init(&rc->start, NULL, 2), 0);
  struct cdmhost_key k;
  memcpy(k.kid, kid_a, 16);
  memcpy(k.key, key_a, 16);
  char *lic = NULL;
  size_t lic_len = 0;
  assert_int_equal(cdmhost_clearkey_license(&k, 1, 0, &lic, &lic_len), 0);

  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, race_decrypt, rc), 0);
  pthread_barrier_wait(&rc->start);
  unsigned renewals = 0;
  int r = 0;
  while (r == 0 && renewals < RACE_MAX_RENEWALS &&
         (atomic_load(&rc->overlaps) < RACE_MIN_OVERLAPS ||
          atomic_load(&rc->interleaved) < RACE_MIN_INTERLEAVED)) {
    atomic_fetch_add(&rc->windows_begun, 1);
    r = cdmhost_update(f->h, f->session, (const uint8_t *)lic, lic_len);
    atomic_fetch_add(&rc->windows_done, 1);
    renewals++;
  }
  atomic_fetch_add(&rc->windows_begun, 1);
  int closed = cdmhost_session_close(f->h, f->session);
  atomic_fetch_add(&rc->windows_done, 1);
  assert_int_equal(pthread_join(t, NULL), 0);
  free(lic);

  assert_int_equal(r, 0);      /* every renewal was accepted */
  assert_int_equal(closed, 0); /* and the close */
  assert_int_equal(rc->bad, 0);
  if (atomic_load(&rc->overlaps) < RACE_MIN_OVERLAPS ||
      atomic_load(&rc->interleaved) < RACE_MIN_INTERLEAVED)
    fail_msg("the race did not happen: of %u decrypts, %u overlapped and %u followed one of "
             "%u renewals",
             rc->ok, atomic_load(&rc->overlaps), atomic_load(&rc->interleaved), renewals);
  assert_true(rc->ok > 0);
  pthread_barrier_destroy(&rc->start);
  free(rc);
}

/* ---- challenges ---- */

static size_t put_pssh(uint8_t *p, int version, const uint8_t sys[16], const uint8_t (*kids)[16],
                       uint32_t nkids, const uint8_t *data, uint32_t data_len) {
  size_t size = 8 + 4 + 16 + (version ? 4 + 16 * (size_t)nkids : 0) + 4 + data_len;
  size_t o = 0;
  p[o++] = (uint8_t)(size >> 24);
  p[o++] = (uint8_t)(size >> 16);
  p[o++] = (uint8_t)(size >> 8);
  p[o++] = (uint8_t)size;
  memcpy(p + o, "pssh", 4);
  o += 4;
  p[o++] = (uint8_t)version;
  p[o++] = 0;
  p[o++] = 0;
  p[o++] = 0;
  memcpy(p + o, sys, 16);
  o += 16;
  if (version) {
    p[o++] = 0;
    p[o++] = 0;
    p[o++] = 0;
    p[o++] = (uint8_t)nkids;
    memcpy(p + o, kids, 16 * (size_t)nkids);
    o += 16 * (size_t)nkids;
  }
  p[o++] = 0;
  p[o++] = 0;
  p[o++] = (uint8_t)(data_len >> 8);
  p[o++] = (uint8_t)data_len;
  if (data_len > 0)
    memcpy(p + o, data, data_len);
  o += data_len;
  assert_int_equal(o, size);
  return o;
}

static const uint8_t sys_common[16] = {0x10, 0x77, 0xef, 0xec, 0xc0, 0xb2, 0x4d, 0x02,
                                       0xac, 0xe3, 0x3c, 0x1e, 0x52, 0xe2, 0xfb, 0x4b};
static const uint8_t sys_widevine[16] = {0xed, 0xef, 0x8b, 0xa9, 0x79, 0xd6, 0x4a, 0xce,
                                         0xa3, 0xc8, 0x27, 0xdc, 0xd5, 0x1d, 0x21, 0xed};

/* The challenge must be {"kids":[...],"type":"temporary"} with the KIDs as base64url. */
static void check_challenge(const uint8_t *c, size_t len, const uint8_t (*kids)[16], size_t n) {
  cJSON *root = cJSON_ParseWithLength((const char *)c, len);
  assert_non_null(root);
  assert_int_equal(cJSON_GetArraySize(root), 2);
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "type");
  assert_true(cJSON_IsString(type));
  assert_string_equal(type->valuestring, "temporary");
  const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "kids");
  assert_true(cJSON_IsArray(arr));
  assert_int_equal(cJSON_GetArraySize(arr), (int)n);
  for (size_t i = 0; i < n; i++) {
    char want[32];
    b64_encode(kids[i], 16, want, 1);
    const cJSON *it = cJSON_GetArrayItem(arr, (int)i);
    assert_true(cJSON_IsString(it));
    assert_string_equal(it->valuestring, want);
    assert_null(strchr(it->valuestring, '='));
  }
  cJSON_Delete(root);
}

static void test_challenge_cenc(void **state) {
  struct fixture *f = *state;
  uint8_t init[512];
  uint8_t k2[2][16];
  memcpy(k2[0], kid_a, 16);
  memcpy(k2[1], kid_b, 16);
  const uint8_t wv_data[] = {0x12, 0x10, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd,
                             0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
  /* A Widevine v0 box first (skipped), then the common v1 box with two KIDs. */
  size_t n = put_pssh(init, 0, sys_widevine, NULL, 0, wv_data, sizeof(wv_data));
  n += put_pssh(init + n, 1, sys_common, (const uint8_t(*)[16])k2, 2, NULL, 0);
  uint8_t *c = NULL;
  size_t clen = 0;
  assert_int_equal(
      cdmhost_generate_request(f->h, f->session, AMPD_CDM_INIT_CENC, init, n, &c, &clen), 0);
  check_challenge(c, clen, (const uint8_t(*)[16])k2, 2);
  free(c);
}

static void test_challenge_cenc_errors(void **state) {
  struct fixture *f = *state;
  uint8_t init[512];
  uint8_t *c = NULL;
  size_t clen = 0;
  const uint8_t wv_data[] = {0x12, 0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  /* Only a Widevine pssh: ClearKey has no KIDs; the host builds keyids instead. */
  size_t n = put_pssh(init, 0, sys_widevine, NULL, 0, wv_data, sizeof(wv_data));
  assert_int_equal(
      cdmhost_generate_request(f->h, f->session, AMPD_CDM_INIT_CENC, init, n, &c, &clen),
      -AMP_EUNSUPPORTED);
  /* Truncated box, a box that is not a pssh, a KID count past the box. */
  n = put_pssh(init, 1, sys_common, &kid_a, 1, NULL, 0);
  assert_int_equal(
      cdmhost_generate_request(f->h, f->session, AMPD_CDM_INIT_CENC, init, n - 1, &c, &clen),
      -EINVAL);
  memcpy(init + 4, "moov", 4);
  assert_int_equal(
      cdmhost_generate_request(f->h, f->session, AMPD_CDM_INIT_CENC, init, n, &c, &clen), -EINVAL);
  memcpy(init + 4, "pssh", 4);
  init[8 + 4 + 16 + 3] = 9; /* KID_count 9 in a box with room for 1 */
  assert_int_equal(
      cdmhost_generate_request(f->h, f->session, AMPD_CDM_INIT_CENC, init, n, &c, &clen), -EINVAL);
  assert_int_equal(cdmhost_generate_request(f->h, f->session, 77, init, n, &c, &clen),
                   -AMP_EUNSUPPORTED);
  assert_null(c);
  /* The session is still fresh: a good request works after all these failures. */
  init[8 + 4 + 16 + 3] = 1;
  assert_int_equal(
      cdmhost_generate_request(f->h, f->session, AMPD_CDM_INIT_CENC, init, n, &c, &clen), 0);
  check_challenge(c, clen, &kid_a, 1);
  free(c);
}

static void test_challenge_keyids(void **state) {
  struct fixture *f = *state;
  uint8_t *c = NULL;
  size_t clen = 0;
  static const char bad_json[] = "{\"kids\":[\"ASNFZ4mrze8BI0VniavN\"]}"; /* 15 bytes */
  assert_int_equal(cdmhost_generate_request(f->h, f->session, AMPD_CDM_INIT_KEYIDS,
                                            (const uint8_t *)bad_json, strlen(bad_json), &c, &clen),
                   -EINVAL);
  static const char none[] = "{\"kids\":[]}";
  assert_int_equal(cdmhost_generate_request(f->h, f->session, AMPD_CDM_INIT_KEYIDS,
                                            (const uint8_t *)none, strlen(none), &c, &clen),
                   -EINVAL);
  static const char good[] = "{\"kids\":[\"ASNFZ4mrze8BI0VniavN7w\",\"ASNFZ4mrze8BI0VniavN7w\"]}";
  assert_int_equal(cdmhost_generate_request(f->h, f->session, AMPD_CDM_INIT_KEYIDS,
                                            (const uint8_t *)good, strlen(good), &c, &clen),
                   0);
  check_challenge(c, clen, &kid_a, 1); /* deduplicated */
  free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_nist_f5, setup, teardown),
      cmocka_unit_test_setup_teardown(test_iv8, setup, teardown),
      cmocka_unit_test_setup_teardown(test_counter_wrap64, setup, teardown),
      cmocka_unit_test_setup_teardown(test_subsamples, setup, teardown),
      cmocka_unit_test_setup_teardown(test_subsample_sum_mismatch, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sample_shape, setup, teardown),
      cmocka_unit_test_setup_teardown(test_missing_key, setup, teardown),
      cmocka_unit_test_setup_teardown(test_close_then_decrypt, setup, teardown),
      cmocka_unit_test_setup_teardown(test_session_limit, setup, teardown),
      cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
      cmocka_unit_test_setup_teardown(test_license_kid_policy, setup, teardown),
      cmocka_unit_test_setup_teardown(test_license_malformed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_decrypt_races_update_and_close, setup, teardown),
      cmocka_unit_test_setup_teardown(test_challenge_cenc, setup, teardown),
      cmocka_unit_test_setup_teardown(test_challenge_cenc_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_challenge_keyids, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
