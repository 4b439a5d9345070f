/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz mpris_utf8_clean() (src/mpris/mpris.h): the titles and artists the service sends
 * (any bytes, cut at PLAYER_TEXT_MAX) become D-Bus strings through it, and sd-bus refuses
 * a whole message for one byte that is not UTF-8. Byte 0 sets the output size (1..256);
 * the rest, up to its first NUL, is the text, in a heap copy of exactly that length and
 * its NUL.
 *
 * Checked, with a UTF-8 validator written here from RFC 3629 (code points decoded, then
 * minimal form, surrogates and the U+10FFFF limit checked): the output is NUL-terminated
 * within its size and nothing after it is written (a guard); it is valid UTF-8; valid text
 * that fits comes out unchanged; and the output is the text with each byte that does not
 * start a valid sequence replaced by '?', cut at a character boundary: the reference
 * transform, computed here by the validator, starts with it, and it is the longest such
 * prefix that fits (the next character would not).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "mpris/mpris.h"

#define GUARD 16

/* The length of the valid UTF-8 sequence at s (1..4), or 0. */
static size_t seq_len(const uint8_t *s) {
  uint32_t cp;
  size_t len;
  if (s[0] < 0x80)
    return 1;
  if ((s[0] & 0xe0) == 0xc0)
    len = 2, cp = s[0] & 0x1f;
  else if ((s[0] & 0xf0) == 0xe0)
    len = 3, cp = s[0] & 0x0f;
  else if ((s[0] & 0xf8) == 0xf0)
    len = 4, cp = s[0] & 0x07;
  else
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0; /* also the NUL at the end */
    cp = cp << 6 | (s[i] & 0x3f);
  }
  static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min[len] || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
    return 0;
  return len;
}

static bool valid(const uint8_t *s) {
  while (*s) {
    size_t l = seq_len(s);
    if (!l)
      return false;
    s += l;
  }
  return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  size_t n = 1 + data[0];
  size_t len = strnlen((const char *)data + 1, size - 1);
  uint8_t *text = malloc(len + 1), *ref = malloc(len + 1);
  size_t *cut = malloc((len + 1) * sizeof(*cut)); /* the ref's character boundaries */
  char *out = malloc(n + GUARD);
  if (!text || !ref || !out || !cut)
    goto done;
  memcpy(text, data + 1, len);
  text[len] = '\0';
  memset(out, 0xa5, n + GUARD);
  CHECK(mpris_utf8_clean(out, n, (const char *)text) == out);
  CHECK(memchr(out, 0, n) != NULL);
  for (size_t i = n; i < n + GUARD; i++)
    CHECK((uint8_t)out[i] == 0xa5);
  size_t ol = strlen(out);
  CHECK(valid((const uint8_t *)out));
  if (valid(text) && len < n)
    CHECK(ol == len && memcmp(out, text, len) == 0);

  /* The reference transform and where its characters end. */
  size_t rl = 0, nc = 0;
  for (const uint8_t *s = text; *s;) {
    size_t l = seq_len(s);
    if (!l) {
      ref[rl++] = '?';
      s++;
    } else {
      memcpy(ref + rl, s, l);
      rl += l;
      s += l;
    }
    cut[nc++] = rl;
  }
  CHECK(ol <= rl && memcmp(out, ref, ol) == 0);
  /* ol is a boundary, and the next character would not have fit. */
  bool boundary = ol == 0;
  size_t next = 0;
  for (size_t i = 0; i < nc; i++) {
    if (cut[i] == ol)
      boundary = true;
    if (cut[i] > ol) {
      next = cut[i];
      break;
    }
  }
  CHECK(boundary);
  if (ol < rl)
    CHECK(next + 1 > n);
done:
  free(out);
  free(cut);
  free(ref);
  free(text);
  return 0;
}
