/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz what net/http reads of a response besides the body (src/net/http.h): the header
 * lines (http_resp_header_line(), what the header callback does with each line curl
 * hands it) and the URLs a server names (a Location is checked with http_url_check() and
 * http_same_origin() before it is followed). Byte 0 picks the form of the rest:
 *
 *  - even: a header block, cut into lines after each '\n' (the last may have none), each
 *    handed over in a heap copy of exactly its length (a read past it is a heap overflow
 *    ASan reports). Checked against a reference of the rule in http.h, line by line: a
 *    status line clears every value; a selected name (any case) gets the value without
 *    the SP/HT/CR/LF around it, whole, or is dropped ("") when that is longer than
 *    HTTP_RESP_VALUE_MAX - 1 bytes or holds a NUL; nothing else changes a value; every
 *    value stays NUL-terminated within its array. A kept Content-Range that parses has
 *    a <= b (< n) and checks as exactly that range; a kept Retry-After's delay is at most
 *    UINT32_MAX.
 *  - odd: two URLs separated by the first '\n' (each up to its first NUL). Checked:
 *    http_url_check() is 0, -EINVAL, -AMP_EINSECURE or -ENOMEM, -EINVAL for one over
 *    HTTP_URL_MAX, and 0 only for a URL that starts with "https://" in any case;
 *    http_same_origin() is 0, 1, -EINVAL or -ENOMEM, the same both ways round, and 0 for
 *    a URL http_url_check() accepts with itself; http_proxy_check() is 0 only
 *    for http:// or https://; http_header_check() accepts no CR, LF or NUL.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "fuzz.h"
#include "core/err.h"
#include "net/http.h"

/* The names http.c keeps, and one that is a prefix of another's, to catch a prefix match. */
static const char *const names[] = {"content-type", "content-range", "retry-after",
                                    "x-amzn-requestid", "content"};
#define N_NAMES (sizeof(names) / sizeof(names[0]))

static bool ws(uint8_t c) {
  return c == ' ' || c == '\t';
}

/* The reference: what line must do to want[][]; returns the kind. */
static enum http_resp_line ref_line(const uint8_t *p, size_t len, char (*want)[HTTP_RESP_VALUE_MAX],
                                    size_t *idx) {
  if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
    memset(want, 0, N_NAMES * sizeof(*want));
    return HTTP_RESP_STATUS;
  }
  size_t c = 0;
  while (c < len && p[c] != ':')
    c++;
  if (c == len)
    return HTTP_RESP_OTHER;
  size_t a = c + 1, b = len;
  while (a < b && ws(p[a]))
    a++;
  while (b > a && (ws(p[b - 1]) || p[b - 1] == '\r' || p[b - 1] == '\n'))
    b--;
  for (size_t i = 0; i < N_NAMES; i++) {
    if (strlen(names[i]) != c || strncasecmp((const char *)p, names[i], c) != 0)
      continue;
    *idx = i;
    if (b - a > HTTP_RESP_VALUE_MAX - 1 || memchr(p + a, 0, b - a)) {
      want[i][0] = '\0';
      return HTTP_RESP_DROPPED;
    }
    memcpy(want[i], p + a, b - a);
    want[i][b - a] = '\0';
    return HTTP_RESP_KEPT;
  }
  return HTTP_RESP_OTHER;
}

static void check_values(char (*got)[HTTP_RESP_VALUE_MAX], char (*want)[HTTP_RESP_VALUE_MAX]) {
  for (size_t i = 0; i < N_NAMES; i++) {
    CHECK(memchr(got[i], 0, HTTP_RESP_VALUE_MAX) != NULL);
    CHECK(strcmp(got[i], want[i]) == 0);
  }
  uint64_t a, b, n, ms;
  if (http_content_range_parse(got[1], &a, &b, &n) == 0) {
    CHECK(a <= b && (n == UINT64_MAX || b < n));
    CHECK(http_content_range_check(got[1], a, b) == 0);
  }
  if (http_retry_after_parse(got[2], (time_t)1700000000, &ms) == 0)
    CHECK(ms <= UINT32_MAX);
}

static void fuzz_lines(const uint8_t *data, size_t size) {
  static char got[N_NAMES][HTTP_RESP_VALUE_MAX], want[N_NAMES][HTTP_RESP_VALUE_MAX];
  memset(got, 0, sizeof(got));
  memset(want, 0, sizeof(want));
  size_t off = 0;
  while (off < size) {
    const uint8_t *nl = memchr(data + off, '\n', size - off);
    size_t len = nl ? (size_t)(nl - (data + off)) + 1 : size - off;
    char *line = malloc(len);
    if (!line)
      return;
    memcpy(line, data + off, len);
    size_t gi = SIZE_MAX, wi = SIZE_MAX;
    enum http_resp_line g = http_resp_header_line(line, len, names, N_NAMES, got, &gi);
    enum http_resp_line w = ref_line(data + off, len, want, &wi);
    free(line);
    CHECK(g == w);
    CHECK(gi == wi); /* set for KEPT and DROPPED only, to the same name */
    check_values(got, want);
    off += len;
  }
}

/* A heap copy of p[0..n) with a NUL after it. */
static char *dup_n(const uint8_t *p, size_t n) {
  char *s = malloc(n + 1);
  if (s) {
    memcpy(s, p, n);
    s[n] = '\0';
  }
  return s;
}

static bool has_prefix(const char *s, const char *pre) {
  return strncasecmp(s, pre, strlen(pre)) == 0;
}

static void check_url(const char *u) {
  int r = http_url_check(u);
  CHECK(r == 0 || r == -EINVAL || r == -AMP_EINSECURE || r == -ENOMEM);
  if (strlen(u) > HTTP_URL_MAX)
    CHECK(r == -EINVAL);
  if (r == 0)
    CHECK(has_prefix(u, "https://") || has_prefix(u, "https:")); /* curl takes "https:/x" */
  int s = http_same_origin(u, u);
  CHECK(s == 0 || s == -EINVAL || s == -ENOMEM);
  if (r == 0)
    CHECK(s == 0 || s == -ENOMEM);
  int p = http_proxy_check(u);
  CHECK(p == 0 || p == -EINVAL || p == -ENOMEM);
  if (p == 0)
    CHECK(has_prefix(u, "http:") || has_prefix(u, "https:"));
  if (http_header_check("X-Fuzz", u) == 0)
    CHECK(!strchr(u, '\r') && !strchr(u, '\n'));
  if (http_header_check(u, "v") == 0)
    CHECK(u[0] && !strpbrk(u, " :\t\r\n"));
}

static void fuzz_urls(const uint8_t *data, size_t size) {
  const uint8_t *nl = memchr(data, '\n', size);
  size_t la = nl ? (size_t)(nl - data) : size;
  const uint8_t *pb = nl ? nl + 1 : data + size;
  size_t lb = (size_t)(data + size - pb);
  const uint8_t *za = memchr(data, 0, la), *zb = memchr(pb, 0, lb);
  char *a = dup_n(data, za ? (size_t)(za - data) : la);
  char *b = dup_n(pb, zb ? (size_t)(zb - pb) : lb);
  if (a && b) {
    check_url(a);
    check_url(b);
    int ab = http_same_origin(a, b), ba = http_same_origin(b, a);
    CHECK(ab == 0 || ab == 1 || ab == -EINVAL || ab == -ENOMEM);
    if (ab != -ENOMEM && ba != -ENOMEM)
      CHECK(ab == ba);
  }
  free(a);
  free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  if (data[0] & 1)
    fuzz_urls(data + 1, size - 1);
  else
    fuzz_lines(data + 1, size - 1);
  return 0;
}
