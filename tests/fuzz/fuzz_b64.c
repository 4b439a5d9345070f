/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz core/b64 (src/core/b64.h): the base64 decoder takes the service's license bodies
 * and the manifest's pssh values, hex_decode() key ids from the manifest. Byte 0 sets the
 * output bound (its value, times 4 when bit 7 is set: 0..508 bytes; the decoder must stop
 * at it); the rest is the text, in a heap copy of exactly its length.
 *
 * Checked against a reference decoder written here from RFC 4648 (either alphabet, ASCII
 * white space skipped, '=' only at the end and completing the last quantum, no set bits
 * left over): b64_decode() succeeds exactly when the reference does and the output fits
 * the bound, is -AMP_ETOOBIG exactly when it does not fit, and gives the same bytes; no
 * byte is written past the bound (a guard after it). Then every decoded output encodes
 * (both alphabets) to b64_encoded_len() characters that decode back to it, and the input
 * bytes themselves round-trip through b64_encode()/b64_decode() and hex_encode()/
 * hex_decode(). hex_decode() of the text (to its first NUL) succeeds exactly when the text
 * is hex digits (either case) and '-' making exactly the bound's bytes.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "core/b64.h"
#include "core/err.h"

#define GUARD 16

static int ref_val(uint8_t c) {
  static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  const char *p = c ? memchr(a, c, 62) : NULL;
  if (p)
    return (int)(p - a);
  return c == '+' || c == '-' ? 62 : c == '/' || c == '_' ? 63 : -1;
}

/* The reference: decodes all of in (no bound) into out (n * 3 / 4 + 3 bytes); the length
 * or -1 when in is not base64. */
static long ref_decode(const uint8_t *in, size_t n, uint8_t *out) {
  uint8_t q[4];
  size_t nq = 0, o = 0, digits = 0, pads = 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = in[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
      continue;
    if (c == '=') {
      pads++;
      continue;
    }
    if (pads || ref_val(c) < 0)
      return -1;
    digits++;
    q[nq++] = (uint8_t)ref_val(c);
    if (nq == 4) {
      out[o++] = (uint8_t)(q[0] << 2 | q[1] >> 4);
      out[o++] = (uint8_t)(q[1] << 4 | q[2] >> 2);
      out[o++] = (uint8_t)(q[2] << 6 | q[3]);
      nq = 0;
    }
  }
  if (nq == 1)
    return -1; /* 6 bits are no byte */
  if (nq == 2) {
    if (q[1] & 15)
      return -1;
    out[o++] = (uint8_t)(q[0] << 2 | q[1] >> 4);
  } else if (nq == 3) {
    if (q[2] & 3)
      return -1;
    out[o++] = (uint8_t)(q[0] << 2 | q[1] >> 4);
    out[o++] = (uint8_t)(q[1] << 4 | q[2] >> 2);
  }
  if (pads && (pads > 2 || (digits + pads) % 4 != 0))
    return -1;
  return (long)o;
}

static void round_trip(const uint8_t *bytes, size_t n) {
  for (int url = 0; url <= 1; url++) {
    size_t el = b64_encoded_len(n, url);
    char *enc = malloc(el + 1);
    uint8_t *back = malloc(n ? n : 1);
    if (enc && back) {
      b64_encode(bytes, n, enc, url);
      CHECK(strlen(enc) == el);
      size_t bl = SIZE_MAX;
      CHECK(b64_decode(enc, el, back, n, &bl) == 0);
      CHECK(bl == n && memcmp(back, bytes, n) == 0);
      if (n > 0) /* one byte short of room */
        CHECK(b64_decode(enc, el, back, n - 1, &bl) == -AMP_ETOOBIG);
    }
    free(back);
    free(enc);
  }
  char *hex = malloc(2 * n + 1);
  uint8_t *back = malloc(n ? n : 1);
  if (hex && back) {
    hex_encode(bytes, n, hex);
    CHECK(strlen(hex) == 2 * n);
    CHECK(hex_decode(hex, back, n) == 0 && memcmp(back, bytes, n) == 0);
    if (n > 0)
      CHECK(hex_decode(hex, back, n - 1) == -EINVAL);
  }
  free(back);
  free(hex);
}

static bool is_hex(uint8_t c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static void check_hex(const uint8_t *text, size_t n, size_t bound) {
  size_t len = strnlen((const char *)text, n);
  char *s = malloc(len + 1);
  uint8_t *out = malloc(bound + 1);
  if (s && out) {
    memcpy(s, text, len);
    s[len] = '\0';
    size_t digits = 0;
    bool ok = true;
    for (size_t i = 0; i < len && ok; i++) {
      if (is_hex(text[i]))
        digits++;
      else
        ok = text[i] == '-';
    }
    ok = ok && digits == 2 * bound;
    CHECK((hex_decode(s, out, bound) == 0) == ok);
  }
  free(out);
  free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  size_t bound = (data[0] & 0x7f) * (data[0] & 0x80 ? 4u : 1u);
  size_t n = size - 1;
  char *text = malloc(n ? n : 1);
  uint8_t *out = malloc(bound + GUARD), *ref = malloc(n * 3 / 4 + 3);
  if (!text || !out || !ref)
    goto done;
  memcpy(text, data + 1, n);
  memset(out, 0xa5, bound + GUARD);
  size_t got = SIZE_MAX;
  int r = b64_decode(text, n, out, bound, &got);
  long want = ref_decode(data + 1, n, ref);
  for (size_t i = bound; i < bound + GUARD; i++)
    CHECK(out[i] == 0xa5);
  if (want < 0) {
    CHECK(r == -EINVAL || r == -AMP_ETOOBIG); /* the bound may be hit before the fault */
    CHECK(got == SIZE_MAX);
  } else if ((size_t)want > bound) {
    CHECK(r == -AMP_ETOOBIG && got == SIZE_MAX);
  } else {
    CHECK(r == 0 && got == (size_t)want && memcmp(out, ref, got) == 0);
    round_trip(out, got);
  }
  round_trip(data + 1, n);
  check_hex(data + 1, n, bound);
done:
  free(ref);
  free(out);
  free(text);
  return 0;
}
