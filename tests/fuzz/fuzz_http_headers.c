/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the parsers of the response header values a server controls (src/net/http.h):
 * Content-Range (http_content_range_parse / http_content_range_check) and Retry-After
 * (http_retry_after_parse). The input, up to its first NUL, is the header value, handed
 * over in a heap copy of exactly that length plus the NUL, so that a read past the
 * terminator is a heap overflow ASan reports.
 *
 * Checked:
 *  - parse returns 0 or -EINVAL, check 0 or -AMP_EBADRANGE;
 *  - a parsed range has a <= b, and b < n whenever the value names a total (no '*');
 *  - CHECK(v, a, b) is 0 exactly for the a, b that parse gave, and -AMP_EBADRANGE for
 *    every other pair (the neighbours are tried) and for a value parse refuses;
 *  - the canonical "bytes a-b/n" of a parsed range parses back to the same a, b, n;
 *  - Retry-After: delay-seconds (digits between optional white space) parse to
 *    seconds * 1000 saturated at UINT32_MAX, whatever now is; a value starting with a
 *    digit but not of that form is refused; any delay is <= UINT32_MAX and whole seconds
 *    (or the saturated value); an HTTP-date's delay drops by 1000 ms when now moves one
 *    second later (and stays 0 once the date is past).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fuzz.h"
#include "core/err.h"
#include "net/http.h"

/* A fixed "now" (2023-11-14T22:13:20Z) for the HTTP-date form. */
#define FUZZ_NOW ((time_t)1700000000)

static bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

static void fuzz_content_range(const char *v) {
  uint64_t a = 0, b = 0, n = 0;
  int r = http_content_range_parse(v, &a, &b, &n);
  CHECK(r == 0 || r == -EINVAL);
  if (r < 0) {
    CHECK(http_content_range_check(v, 0, 0) == -AMP_EBADRANGE);
    CHECK(http_content_range_check(v, 0, UINT64_MAX) == -AMP_EBADRANGE);
    return;
  }
  CHECK(a <= b);
  if (!strchr(v, '*'))
    CHECK(b < n); /* a numeric total: the last byte is inside it */
  else
    CHECK(n == UINT64_MAX);

  CHECK(http_content_range_check(v, a, b) == 0);
  CHECK(http_content_range_check(v, a + 1, b) == -AMP_EBADRANGE);
  CHECK(http_content_range_check(v, a, b + 1) == -AMP_EBADRANGE);
  CHECK(http_content_range_check(v, a - 1, b) == -AMP_EBADRANGE);
  CHECK(http_content_range_check(v, a, b - 1) == -AMP_EBADRANGE);

  char canon[80];
  if (n == UINT64_MAX)
    snprintf(canon, sizeof(canon), "bytes %" PRIu64 "-%" PRIu64 "/*", a, b);
  else
    snprintf(canon, sizeof(canon), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, a, b, n);
  uint64_t a2 = 0, b2 = 0, n2 = 0;
  CHECK(http_content_range_parse(canon, &a2, &b2, &n2) == 0);
  CHECK(a2 == a && b2 == b && n2 == n);
}

/* If v is delay-seconds (OWS digits OWS), its delay in ms, saturated; else false. */
static bool delay_seconds(const char *v, bool *ret_digit_first, uint64_t *ret_ms) {
  const char *p = v;
  while (is_ows(*p))
    p++;
  *ret_digit_first = *p >= '0' && *p <= '9';
  if (!*ret_digit_first)
    return false;
  uint64_t secs = 0;
  bool big = false;
  for (; *p >= '0' && *p <= '9'; p++) {
    secs = secs * 10 + (uint64_t)(*p - '0');
    if (secs > UINT32_MAX) { /* the delay saturates well before this */
      big = true;
      secs = UINT32_MAX;
    }
  }
  while (is_ows(*p))
    p++;
  if (*p)
    return false;
  uint64_t ms = big ? UINT32_MAX : secs * 1000;
  *ret_ms = ms > UINT32_MAX ? UINT32_MAX : ms;
  return true;
}

static void fuzz_retry_after(const char *v) {
  uint64_t ms = 0, later = 0;
  int r = http_retry_after_parse(v, FUZZ_NOW, &ms);
  CHECK(r == 0 || r == -EINVAL);
  if (r == 0)
    CHECK(ms <= UINT32_MAX && (ms % 1000 == 0 || ms == UINT32_MAX));

  bool digit_first = false;
  uint64_t want = 0;
  if (delay_seconds(v, &digit_first, &want)) {
    CHECK(r == 0 && ms == want);
    CHECK(http_retry_after_parse(v, 0, &later) == 0 && later == want);
    return;
  }
  if (digit_first) {
    CHECK(r == -EINVAL); /* no HTTP-date starts with a digit */
    return;
  }
  /* An HTTP-date (or refused): one second later, the same answer, 1 s shorter. */
  int r2 = http_retry_after_parse(v, FUZZ_NOW + 1, &later);
  CHECK(r2 == r);
  if (r == 0 && ms != UINT32_MAX)
    CHECK(later == (ms >= 1000 ? ms - 1000 : 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t len = strnlen((const char *)data, size);
  char *v = malloc(len + 1);
  if (!v)
    return 0;
  memcpy(v, data, len);
  v[len] = '\0';
  fuzz_content_range(v);
  fuzz_retry_after(v);
  free(v);

  uint64_t x;
  CHECK(http_content_range_parse(NULL, &x, &x, &x) == -EINVAL);
  CHECK(http_content_range_check(NULL, 0, 0) == -AMP_EBADRANGE);
  CHECK(http_retry_after_parse(NULL, FUZZ_NOW, &x) == -EINVAL);
  return 0;
}
