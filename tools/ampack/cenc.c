/* SPDX-License-Identifier: Apache-2.0 */
#include "cenc.h"

#include <errno.h>
#include <string.h>

int cenc_key_init(struct cenc_key *k, const uint8_t key[16]) {
  mbedtls_aes_init(&k->aes);
  if (mbedtls_aes_setkey_enc(&k->aes, key, 128) != 0) {
    mbedtls_aes_free(&k->aes);
    return -EINVAL;
  }
  return 0;
}

void cenc_key_done(struct cenc_key *k) {
  if (k)
    mbedtls_aes_free(&k->aes);
}

void cenc_iv_add(uint8_t iv[8], uint64_t n) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | iv[i];
  v += n;
  for (int i = 7; i >= 0; i--) {
    iv[i] = (uint8_t)v;
    v >>= 8;
  }
}

/* Keystream state for one sample: it carries over subsample boundaries. */
struct ctr {
  uint8_t counter[16];
  uint8_t stream[16];
  size_t used; /* bytes of stream consumed; 16 = next block needed */
};

static void ctr_next_block(struct cenc_key *k, struct ctr *c) {
  /* mbedtls_aes_crypt_ctr would carry into all 128 bits; cenc counts in the low 64 only. */
  mbedtls_aes_crypt_ecb(&k->aes, MBEDTLS_AES_ENCRYPT, c->counter, c->stream);
  for (int i = 15; i >= 8; i--)
    if (++c->counter[i] != 0)
      break;
  c->used = 0;
}

static void ctr_xor(struct cenc_key *k, struct ctr *c, uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (c->used == 16)
      ctr_next_block(k, c);
    p[i] ^= c->stream[c->used++];
  }
}

int cenc_crypt_sample(struct cenc_key *k, const uint8_t *iv, size_t iv_size,
                      const struct cenc_subsample *sub, size_t n_sub, uint8_t *data, size_t len) {
  if (iv_size != 8 && iv_size != 16)
    return -EINVAL;
  struct ctr c;
  memset(&c, 0, sizeof(c));
  memcpy(c.counter, iv, iv_size);
  c.used = 16;
  if (n_sub == 0) {
    ctr_xor(k, &c, data, len);
    return 0;
  }
  size_t total = 0;
  for (size_t i = 0; i < n_sub; i++) {
    if (sub[i].protected_ > len || sub[i].clear > len - sub[i].protected_ ||
        total > len - sub[i].clear - sub[i].protected_)
      return -EINVAL;
    total += (size_t)sub[i].clear + sub[i].protected_;
  }
  if (total != len)
    return -EINVAL;
  size_t off = 0;
  for (size_t i = 0; i < n_sub; i++) {
    off += sub[i].clear;
    ctr_xor(k, &c, data + off, sub[i].protected_);
    off += sub[i].protected_;
  }
  return 0;
}
