/* SPDX-License-Identifier: Apache-2.0 */
/*
 * 'cenc' sample decryption (ISO/IEC 23001-7 §10.1): AES-128-CTR where only the low 64
 * bits of the counter block count. mbedtls_aes_crypt_ctr() carries into all 128 bits,
 * which differs from cenc when the low half wraps inside a sample (possible with a
 * random 16-byte IV), so the counter is kept here and each keystream block comes from
 * mbedtls_aes_crypt_ecb().
 */
#include <errno.h>
#include <string.h>

#include <mbedtls/platform_util.h>

#include "clearkey.h"

/* Keystream state for one sample: all protected ranges share it (one continuous
 * keystream), clear ranges do not advance it. */
struct ctr_state {
  mbedtls_aes_context *aes;
  uint8_t counter[16];
  uint8_t stream[16];
  unsigned used; /* bytes of stream consumed; 16 = need a new block */
};

/* +1 on bytes 8..15 as a big-endian 64-bit number; bytes 0..7 never change. */
static void counter_inc64(uint8_t c[16]) {
  for (int i = 15; i >= 8; i--)
    if (++c[i] != 0)
      break;
}

static int next_block(struct ctr_state *st) {
  if (mbedtls_aes_crypt_ecb(st->aes, MBEDTLS_AES_ENCRYPT, st->counter, st->stream) != 0)
    return -AMPD_CDM_EDRM;
  counter_inc64(st->counter);
  st->used = 0;
  return 0;
}

static int ctr_xor(struct ctr_state *st, const uint8_t *in, uint8_t *out, size_t n) {
  while (n > 0) {
    if (st->used == 16) {
      int r = next_block(st);
      if (r < 0)
        return r;
    }
    size_t take = 16 - st->used;
    if (take > n)
      take = n;
    /* Byte-wise XOR: in and out may be the same buffer. */
    for (size_t i = 0; i < take; i++)
      out[i] = in[i] ^ st->stream[st->used + i];
    st->used += (unsigned)take;
    in += take;
    out += take;
    n -= take;
  }
  return 0;
}

int ck_sample_check(const struct ampd_cdm_sample *s) {
  if (!s)
    return -EINVAL;
  if (s->version != AMPD_CDM_ABI_VERSION || s->size < AMPD_CDM_SAMPLE_MIN_SIZE)
    return -AMPD_CDM_EABI;
  if (s->scheme == AMPD_CDM_SCHEME_CBCS)
    return -AMPD_CDM_EUNSUPPORTED;
  if (s->scheme != AMPD_CDM_SCHEME_CENC)
    return -EINVAL;
  if (s->iv_len != 8 && s->iv_len != 16)
    return -EINVAL;
  if (s->len > 0 && (!s->in || !s->out))
    return -EINVAL;
  /* Distinct buffers must not overlap: the XOR would read bytes it already wrote. */
  if (s->len > 0 && s->in != s->out) {
    uintptr_t a = (uintptr_t)s->in, b = (uintptr_t)s->out;
    if ((a < b && b - a < s->len) || (b < a && a - b < s->len))
      return -EINVAL;
  }
  if (s->subsample_count > AMPD_CDM_MAX_SUBSAMPLES)
    return -EINVAL;
  if (s->subsample_count > 0) {
    if (!s->subsamples)
      return -EINVAL;
    size_t sum = 0;
    for (uint32_t i = 0; i < s->subsample_count; i++) {
      /* 64-bit sum of two u32 cannot overflow; sum <= len holds throughout. */
      uint64_t run = (uint64_t)s->subsamples[i].clear_bytes + s->subsamples[i].protected_bytes;
      if (run > (uint64_t)(s->len - sum))
        return -EINVAL;
      sum += (size_t)run;
    }
    if (sum != s->len)
      return -EINVAL;
  }
  return 0;
}

int ck_cenc_decrypt(mbedtls_aes_context *aes, const struct ampd_cdm_sample *s) {
  struct ctr_state st = {.aes = aes, .used = 16};
  memcpy(st.counter, s->iv, s->iv_len); /* 8-byte IV: IV || 0...0 */
  int r = 0;
  if (s->subsample_count == 0) {
    r = ctr_xor(&st, s->in, s->out, s->len);
  } else {
    size_t off = 0;
    for (uint32_t i = 0; i < s->subsample_count && r == 0; i++) {
      size_t clear = s->subsamples[i].clear_bytes;
      size_t prot = s->subsamples[i].protected_bytes;
      if (s->in != s->out && clear > 0)
        memcpy(s->out + off, s->in + off, clear);
      off += clear;
      r = ctr_xor(&st, s->in + off, s->out + off, prot);
      off += prot;
    }
  }
  mbedtls_platform_zeroize(&st, sizeof(st));
  return r;
}
