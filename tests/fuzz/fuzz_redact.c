/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz core/redact (src/core/redact.h): redact_urls() sees text with URLs the service and
 * its CDNs chose (signed URLs, Locations) before it reaches a log message. Byte 0 sets the
 * output size (1..256); the rest, up to its first NUL, is the text, in a heap copy of
 * exactly that length and its NUL.
 *
 * Checked: the output is NUL-terminated within its size and no byte after it is written
 * (a guard); it is a subsequence of the text (redaction only drops bytes) and, with room
 * enough, exactly as long as the text when the text has no URL; redacting the output
 * again changes nothing (with room enough); and in the output, every http:// or https://
 * (any case) is followed, up to the end of the URL (white space, a quote, '<', '>', '(',
 * ')'), by no '?' or '#', and its authority (up to '/') by no '@': no query, fragment or
 * userinfo of any URL, also one inside another's path, reaches a message.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "core/redact.h"

#define GUARD 16

static bool url_end(char c) {
  return c == '\0' || c == ' ' || c == '\t' || c == '\n' || c == '"' || c == '\'' || c == '<' ||
         c == '>' || c == '(' || c == ')';
}

static size_t scheme_at(const char *p) {
  if (strncasecmp(p, "https://", 8) == 0)
    return 8;
  if (strncasecmp(p, "http://", 7) == 0)
    return 7;
  return 0;
}

static bool has_url(const char *s) {
  for (; *s; s++)
    if (scheme_at(s))
      return true;
  return false;
}

/* No URL in s, wherever it starts, shows a query, a fragment or a userinfo. */
static void check_clean(const char *s) {
  for (const char *p = s; *p; p++) {
    size_t sl = scheme_at(p);
    if (!sl)
      continue;
    bool authority = true;
    for (const char *q = p + sl; !url_end(*q); q++) {
      CHECK(*q != '?' && *q != '#');
      if (*q == '/')
        authority = false;
      CHECK(!authority || *q != '@');
    }
  }
}

static bool subsequence(const char *small, const char *big) {
  for (; *small; small++) {
    big = strchr(big, *small);
    if (!big)
      return false;
    big++;
  }
  return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  size_t n = 1 + data[0];
  size_t len = strnlen((const char *)data + 1, size - 1);
  char *text = malloc(len + 1), *out = malloc(n + GUARD), *again = malloc(n + GUARD);
  if (!text || !out || !again)
    goto done;
  memcpy(text, data + 1, len);
  text[len] = '\0';
  memset(out, 0xa5, n + GUARD);
  redact_urls(text, out, n);
  CHECK(memchr(out, 0, n) != NULL);
  for (size_t i = n; i < n + GUARD; i++)
    CHECK((uint8_t)out[i] == 0xa5);
  size_t ol = strlen(out);
  CHECK(ol <= len);
  CHECK(subsequence(out, text));
  bool room = len < n;
  if (room && !has_url(text))
    CHECK(ol == len && memcmp(out, text, len) == 0);
  check_clean(out);
  if (room) {
    redact_urls(out, again, n);
    CHECK(strcmp(again, out) == 0);
  }
done:
  free(again);
  free(out);
  free(text);
  return 0;
}
