/* SPDX-License-Identifier: Apache-2.0 */
#include "core/b64.h"

#include <errno.h>

#include "core/err.h"

static const char std_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t b64_encoded_len(size_t n, int url) {
  return url ? (n / 3) * 4 + (n % 3 ? n % 3 + 1 : 0) : ((n + 2) / 3) * 4;
}

void b64_encode(const uint8_t *in, size_t n, char *out, int url) {
  const char *a = url ? url_alpha : std_alpha;
  size_t i = 0, o = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[o++] = a[v >> 18];
    out[o++] = a[(v >> 12) & 63];
    out[o++] = a[(v >> 6) & 63];
    out[o++] = a[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)in[i] << 16;
    out[o++] = a[v >> 18];
    out[o++] = a[(v >> 12) & 63];
    if (!url) {
      out[o++] = '=';
      out[o++] = '=';
    }
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
    out[o++] = a[v >> 18];
    out[o++] = a[(v >> 12) & 63];
    out[o++] = a[(v >> 6) & 63];
    if (!url)
      out[o++] = '=';
  }
  out[o] = 0;
}

static int b64_value(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+' || c == '-')
    return 62;
  if (c == '/' || c == '_')
    return 63;
  return -1;
}

int b64_decode(const char *in, size_t n, uint8_t *out, size_t out_max, size_t *ret_len) {
  uint32_t acc = 0;
  int bits = 0;
  size_t o = 0, pad = 0, nd = 0; /* nd: alphabet characters seen */
  for (size_t i = 0; i < n; i++) {
    char c = in[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
      continue;
    if (c == '=') {
      pad++;
      continue;
    }
    int v = b64_value(c);
    if (v < 0 || pad)
      return -EINVAL; /* bad character, or data after padding */
    nd++;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (o >= out_max)
        return -AMP_ETOOBIG;
      out[o++] = (uint8_t)(acc >> bits);
    }
  }
  /* 6 leftover bits can never be a valid tail; neither can leftover bits that are set. */
  if (bits >= 6 || (acc & ((1u << bits) - 1)))
    return -EINVAL;
  /* Padding is optional, but when present it must complete the last quantum exactly
   * ("Zg==", not "Zg=" or "Zm9v="). */
  if (pad && (pad > 2 || (nd + pad) % 4 != 0))
    return -EINVAL;
  *ret_len = o;
  return 0;
}

void hex_encode(const uint8_t *in, size_t n, char *out) {
  static const char d[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = d[in[i] >> 4];
    out[2 * i + 1] = d[in[i] & 15];
  }
  out[2 * n] = 0;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int hex_decode(const char *in, uint8_t *out, size_t out_len) {
  size_t o = 0;
  int hi = -1;
  for (; *in; in++) {
    if (*in == '-')
      continue;
    int v = hex_value(*in);
    if (v < 0)
      return -EINVAL;
    if (hi < 0) {
      hi = v;
      continue;
    }
    if (o >= out_len)
      return -EINVAL;
    out[o++] = (uint8_t)(hi << 4 | v);
    hi = -1;
  }
  return (hi < 0 && o == out_len) ? 0 : -EINVAL;
}
