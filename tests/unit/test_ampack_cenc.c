/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/b64.h"
#include "tools/ampack/cenc.h"

static void unhex(const char *s, uint8_t *out, size_t n) {
  assert_int_equal(hex_decode(s, out, n), 0);
}

/* NIST SP 800-38A, F.5.1 CTR-AES128.Encrypt: its counter's low 64 bits never wrap in
 * four blocks, so a 16-byte cenc IV gives exactly the NIST ciphertext. */
static void test_nist_sp800_38a_f51(void **state) {
  (void)state;
  uint8_t key[16], iv[16], pt[64], ct[64];
  unhex("2b7e151628aed2a6abf7158809cf4f3c", key, 16);
  unhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff", iv, 16);
  unhex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
        "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710",
        pt, 64);
  unhex("874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff"
        "5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee",
        ct, 64);
  struct cenc_key k;
  assert_int_equal(cenc_key_init(&k, key), 0);
  uint8_t buf[64];
  memcpy(buf, pt, 64);
  assert_int_equal(cenc_crypt_sample(&k, iv, 16, NULL, 0, buf, 64), 0);
  assert_memory_equal(buf, ct, 64);
  /* symmetric */
  assert_int_equal(cenc_crypt_sample(&k, iv, 16, NULL, 0, buf, 64), 0);
  assert_memory_equal(buf, pt, 64);
  /* an odd length uses a prefix of the same keystream */
  memcpy(buf, pt, 37);
  assert_int_equal(cenc_crypt_sample(&k, iv, 16, NULL, 0, buf, 37), 0);
  assert_memory_equal(buf, ct, 37);
  cenc_key_done(&k);
}

/* An 8-byte IV is the high half of the counter block; the low half starts at zero. */
static void test_iv8_is_iv16_with_zero_counter(void **state) {
  (void)state;
  uint8_t key[16], iv16[16] = {0}, a[100], b[100];
  for (int i = 0; i < 16; i++)
    key[i] = (uint8_t)(i * 7 + 1);
  for (int i = 0; i < 100; i++)
    a[i] = b[i] = (uint8_t)i;
  const uint8_t iv8[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  memcpy(iv16, iv8, 8);
  struct cenc_key k;
  assert_int_equal(cenc_key_init(&k, key), 0);
  assert_int_equal(cenc_crypt_sample(&k, iv8, 8, NULL, 0, a, 100), 0);
  assert_int_equal(cenc_crypt_sample(&k, iv16, 16, NULL, 0, b, 100), 0);
  assert_memory_equal(a, b, 100);
  static const uint8_t plain16[16] = {16, 17, 18, 19, 20, 21, 22, 23,
                                      24, 25, 26, 27, 28, 29, 30, 31};
  assert_memory_not_equal(a + 16, plain16, 16);
  cenc_key_done(&k);
}

/* The block counter is 64 bits: at all-ones it wraps to zero and the IV half stays. */
static void test_counter_wraps_in_64_bits(void **state) {
  (void)state;
  uint8_t key[16] = {0}, iv[16], blk[16], ks[16];
  memset(iv, 0xff, 16);
  iv[0] = 0x42;
  uint8_t data[32] = {0};
  struct cenc_key k;
  assert_int_equal(cenc_key_init(&k, key), 0);
  assert_int_equal(cenc_crypt_sample(&k, iv, 16, NULL, 0, data, 32), 0);
  /* block 0: E(iv) ; block 1: E(42 ff ff ff ff ff ff ff | 00 .. 00), not E(43 00 ..) */
  mbedtls_aes_crypt_ecb(&k.aes, MBEDTLS_AES_ENCRYPT, iv, ks);
  assert_memory_equal(data, ks, 16);
  memcpy(blk, iv, 8);
  memset(blk + 8, 0, 8);
  mbedtls_aes_crypt_ecb(&k.aes, MBEDTLS_AES_ENCRYPT, blk, ks);
  assert_memory_equal(data + 16, ks, 16);
  cenc_key_done(&k);
}

/* Subsamples: clear bytes stay, protected ranges take one continuous keystream. */
static void test_subsamples_continuous(void **state) {
  (void)state;
  uint8_t key[16], iv[8] = {9, 8, 7, 6, 5, 4, 3, 2};
  for (int i = 0; i < 16; i++)
    key[i] = (uint8_t)(0xa0 + i);
  uint8_t plain[70], whole[63], sub[70];
  for (int i = 0; i < 70; i++)
    plain[i] = sub[i] = (uint8_t)(i * 3);
  /* layout: 4 clear, 20 prot, 3 clear, 43 prot = 70 bytes, 63 protected */
  memcpy(whole, plain + 4, 20);
  memcpy(whole + 20, plain + 27, 43);
  struct cenc_key k;
  assert_int_equal(cenc_key_init(&k, key), 0);
  assert_int_equal(cenc_crypt_sample(&k, iv, 8, NULL, 0, whole, 63), 0);
  const struct cenc_subsample map[] = {{4, 20}, {3, 43}};
  assert_int_equal(cenc_crypt_sample(&k, iv, 8, map, 2, sub, 70), 0);
  assert_memory_equal(sub, plain, 4);
  assert_memory_equal(sub + 4, whole, 20);
  assert_memory_equal(sub + 24, plain + 24, 3);
  assert_memory_equal(sub + 27, whole + 20, 43);
  /* a map that does not cover the sample is refused */
  const struct cenc_subsample bad[] = {{4, 20}, {3, 42}};
  assert_int_equal(cenc_crypt_sample(&k, iv, 8, bad, 2, sub, 70), -EINVAL);
  const struct cenc_subsample huge[] = {{4, 0xffffffffu}};
  assert_int_equal(cenc_crypt_sample(&k, iv, 8, huge, 1, sub, 70), -EINVAL);
  assert_int_equal(cenc_crypt_sample(&k, iv, 12, NULL, 0, sub, 70), -EINVAL);
  cenc_key_done(&k);
}

static void test_iv_add(void **state) {
  (void)state;
  uint8_t iv[8] = {0, 0, 0, 0, 0, 0, 0xff, 0xff};
  cenc_iv_add(iv, 1);
  assert_memory_equal(iv, ((uint8_t[8]){0, 0, 0, 0, 0, 1, 0, 0}), 8);
  uint8_t top[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  cenc_iv_add(top, 2);
  assert_memory_equal(top, ((uint8_t[8]){0, 0, 0, 0, 0, 0, 0, 1}), 8);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_nist_sp800_38a_f51),
      cmocka_unit_test(test_iv8_is_iv16_with_zero_counter),
      cmocka_unit_test(test_counter_wraps_in_64_bits),
      cmocka_unit_test(test_subsamples_continuous),
      cmocka_unit_test(test_iv_add),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
