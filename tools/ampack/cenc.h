/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPACK_CENC_H
#define AMPACK_CENC_H

#include <stddef.h>
#include <stdint.h>

#include <mbedtls/aes.h>

/*
 * 'cenc' sample encryption (ISO/IEC 23001-7 §9.4): AES-128-CTR, where the counter block is
 * the IV (8 bytes padded with zeros, or 16 bytes) and only its low 64 bits count up, per
 * 16-byte block (wrapping within those 64 bits, as shaka-packager and ffmpeg do). CTR is
 * symmetric, so the same call encrypts and decrypts.
 */

struct cenc_subsample {
  uint16_t clear;
  uint32_t protected_;
};

struct cenc_key {
  mbedtls_aes_context aes;
};

/* 0 or -EINVAL. Free with cenc_key_done. */
int cenc_key_init(struct cenc_key *k, const uint8_t key[16]);
void cenc_key_done(struct cenc_key *k);

/*
 * Crypt one sample in place. iv_size is 8 or 16. With n_sub == 0 the whole sample is
 * protected; otherwise the subsamples must cover exactly len bytes, and the protected
 * ranges form one continuous keystream. -EINVAL on a bad IV size or subsample map.
 */
int cenc_crypt_sample(struct cenc_key *k, const uint8_t *iv, size_t iv_size,
                      const struct cenc_subsample *sub, size_t n_sub, uint8_t *data, size_t len);

/* Add n to the 8-byte big-endian IV (the per-sample step of packagers). */
void cenc_iv_add(uint8_t iv[8], uint64_t n);

#endif
