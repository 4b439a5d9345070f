/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pure parts of net/http (declared at the end of http.h): URL, origin, header,
 * Content-Range and Retry-After checks, the response header lines and the backoff. No I/O and no
 * state, so the unit tests and the fuzz harness call them directly.
 */
#include "net/http.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"

/* What we look at of an absolute URL (each part curl_free'd by url_parts_free). */
struct url_parts {
  char *scheme, *host, *port;
};

/* Leaves p empty: url_split() frees the parts of a URL it refuses, and its callers free
 * the parts again whatever it returned (that was a double free of a Location with a
 * scheme but no host, or a bad port). */
static void url_parts_free(struct url_parts *p) {
  curl_free(p->scheme);
  curl_free(p->host);
  curl_free(p->port);
  *p = (struct url_parts){0};
}

/* Split url (at most max bytes) into scheme, a non-empty host and, when want_port, the
 * port (the scheme's default when the URL has none). Any scheme is parsed, so that a
 * foreign one can be named for what it is (insecure), not "malformed"; there is no
 * default scheme ("example.com/x" is malformed). 0, -EINVAL or -ENOMEM. */
static int url_split(const char *url, size_t max, bool want_port, struct url_parts *ret) {
  *ret = (struct url_parts){0};
  if (!url)
    return -EINVAL;
  size_t n = strnlen(url, max + 1);
  if (n == 0 || n > max)
    return -EINVAL;
  CURLU *u = curl_url();
  if (!u)
    return -ENOMEM;
  int r = -EINVAL;
  if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_SCHEME, &ret->scheme, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_HOST, &ret->host, 0) == CURLUE_OK && ret->host[0] &&
      (!want_port || curl_url_get(u, CURLUPART_PORT, &ret->port, CURLU_DEFAULT_PORT) == CURLUE_OK))
    r = 0;
  curl_url_cleanup(u);
  if (r < 0)
    url_parts_free(ret);
  return r;
}

int http_url_check(const char *url) {
  struct url_parts p;
  int r = url_split(url, HTTP_URL_MAX, false, &p);
  if (r == 0 && strcasecmp(p.scheme, "https") != 0)
    r = -AMP_EINSECURE;
  url_parts_free(&p);
  return r;
}

/* The origin of an absolute URL: "scheme://host:port", lower-case, the port explicit. */
static int origin_of(const char *url, char *buf, size_t size) {
  struct url_parts p;
  int r = url_split(url, HTTP_URL_MAX, true, &p);
  if (r == 0) {
    int n = snprintf(buf, size, "%s://%s:%s", p.scheme, p.host, p.port);
    r = n < 0 || (size_t)n >= size ? -EINVAL : 0;
  }
  url_parts_free(&p);
  for (char *c = buf; r == 0 && *c; c++)
    if (*c >= 'A' && *c <= 'Z')
      *c = (char)(*c - 'A' + 'a');
  return r;
}

int http_same_origin(const char *a, const char *b) {
  char oa[HTTP_URL_MAX + 32], ob[HTTP_URL_MAX + 32];
  if (!a || !b)
    return -EINVAL;
  int r = origin_of(a, oa, sizeof(oa));
  if (r < 0)
    return r;
  r = origin_of(b, ob, sizeof(ob));
  if (r < 0)
    return r;
  return strcmp(oa, ob) == 0 ? 0 : 1;
}

static bool is_tchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
    return true;
  return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

int http_header_check(const char *name, const char *value) {
  if (!name || !value || !name[0])
    return -EINVAL;
  size_t nl = strnlen(name, HTTP_HEADER_LINE_MAX + 1);
  size_t vl = strnlen(value, HTTP_HEADER_LINE_MAX + 1);
  if (nl + 2 + vl > HTTP_HEADER_LINE_MAX)
    return -EINVAL;
  for (size_t i = 0; i < nl; i++)
    if (!is_tchar((unsigned char)name[i]))
      return -EINVAL;
  /* CR and LF would split the header (request smuggling); other controls are refused
   * too. Tab and obs-text (>= 0x80) are allowed by RFC 9110. */
  for (size_t i = 0; i < vl; i++) {
    unsigned char c = (unsigned char)value[i];
    if ((c < 0x20 && c != '\t') || c == 0x7f)
      return -EINVAL;
  }
  return 0;
}

/* Parse 1..20 decimal digits at *p into *ret without overflow; advance *p. */
static int parse_u64(const char **p, uint64_t *ret) {
  const char *s = *p;
  uint64_t v = 0;
  if (*s < '0' || *s > '9')
    return -EINVAL;
  for (; *s >= '0' && *s <= '9'; s++) {
    unsigned d = (unsigned)(*s - '0');
    if (v > (UINT64_MAX - d) / 10)
      return -EINVAL;
    v = v * 10 + d;
  }
  *p = s;
  *ret = v;
  return 0;
}

static const char *skip_ows(const char *s) {
  while (*s == ' ' || *s == '\t')
    s++;
  return s;
}

int http_content_range_parse(const char *v, uint64_t *ret_start, uint64_t *ret_end,
                             uint64_t *ret_total) {
  if (!v)
    return -EINVAL;
  const char *p = skip_ows(v);
  uint64_t a, b, n = UINT64_MAX;
  if (strncasecmp(p, "bytes", 5) != 0)
    return -EINVAL;
  p += 5;
  if (*p != ' ')
    return -EINVAL;
  p = skip_ows(p);
  if (parse_u64(&p, &a) < 0 || *p++ != '-' || parse_u64(&p, &b) < 0 || *p++ != '/')
    return -EINVAL;
  bool total = *p != '*'; /* a length, else "*" (unknown) */
  if (!total)
    p++;
  else if (parse_u64(&p, &n) < 0)
    return -EINVAL;
  if (*skip_ows(p) != '\0')
    return -EINVAL;
  /* A total written out as 18446744073709551615 is a length too: b < n. */
  if (a > b || (total && b >= n))
    return -EINVAL;
  *ret_start = a;
  *ret_end = b;
  *ret_total = n;
  return 0;
}

int http_content_range_check(const char *v, uint64_t start, uint64_t end) {
  uint64_t a, b, n;
  if (http_content_range_parse(v, &a, &b, &n) < 0 || a != start || b != end)
    return -AMP_EBADRANGE;
  return 0;
}

int http_date_parse(const char *v, int64_t *ret_sec) {
  if (!v)
    return -EINVAL;
  const char *p = skip_ows(v);
  /* An HTTP-date starts with a day name: no number (curl_getdate would take "5" as a
   * date) and nothing empty. */
  if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')))
    return -EINVAL;
  time_t t = curl_getdate(p, NULL);
  if (t == -1)
    return -EINVAL;
  *ret_sec = (int64_t)t;
  return 0;
}

int http_retry_after_parse(const char *v, time_t now, uint64_t *ret_ms) {
  if (!v)
    return -EINVAL;
  const char *p = skip_ows(v);
  uint64_t ms;
  if (*p >= '0' && *p <= '9') {
    uint64_t secs;
    if (parse_u64(&p, &secs) < 0) {
      /* More digits than fit: a delay longer than anyone will wait. */
      secs = UINT64_MAX;
      while (*p >= '0' && *p <= '9')
        p++;
    }
    if (*skip_ows(p) != '\0')
      return -EINVAL;
    ms = secs > UINT32_MAX / 1000 ? UINT32_MAX : secs * 1000;
  } else {
    if (!*p)
      return -EINVAL;
    time_t t = curl_getdate(p, &now);
    if (t == -1)
      return -EINVAL;
    if (t <= now)
      ms = 0;
    else
      ms = (uint64_t)(t - now) > UINT32_MAX / 1000 ? UINT32_MAX : (uint64_t)(t - now) * 1000;
  }
  *ret_ms = ms;
  return 0;
}

enum http_resp_line http_resp_header_line(const char *line, size_t len, const char *const *names,
                                          size_t n, char (*values)[HTTP_RESP_VALUE_MAX],
                                          size_t *ret_index) {
  if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
    memset(values, 0, n * sizeof(*values));
    return HTTP_RESP_STATUS;
  }
  const char *colon = memchr(line, ':', len);
  if (!colon)
    return HTTP_RESP_OTHER;
  size_t nl = (size_t)(colon - line);
  const char *v = colon + 1, *end = line + len;
  while (v < end && (*v == ' ' || *v == '\t'))
    v++;
  while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
    end--;
  for (size_t i = 0; i < n; i++) {
    if (strlen(names[i]) != nl || strncasecmp(line, names[i], nl) != 0)
      continue;
    size_t vl = (size_t)(end - v);
    *ret_index = i;
    /* Past the bound, or with a NUL that would end the string early: the header is
     * dropped rather than cut (the rest could make a refused value look valid). */
    if (vl > HTTP_RESP_VALUE_MAX - 1 || memchr(v, '\0', vl)) {
      values[i][0] = '\0';
      return HTTP_RESP_DROPPED;
    }
    memcpy(values[i], v, vl);
    values[i][vl] = '\0';
    return HTTP_RESP_KEPT;
  }
  return HTTP_RESP_OTHER;
}

uint64_t http_backoff_ms(uint32_t attempt, uint32_t base_ms, uint32_t cap_ms, uint64_t rnd) {
  uint64_t ceil = base_ms;
  for (uint32_t i = 1; i < attempt && ceil < cap_ms; i++)
    ceil *= 2;
  if (ceil > cap_ms)
    ceil = cap_ms;
  /* Full jitter (AWS architecture blog): uniform in [0, ceil]. The modulo bias is
   * negligible for ceil far below 2^64. */
  return rnd % (ceil + 1);
}

int http_proxy_check(const char *proxy) {
  struct url_parts p;
  int r = url_split(proxy, HTTP_PROXY_URL_MAX, false, &p);
  if (r == 0 && strcasecmp(p.scheme, "http") != 0 && strcasecmp(p.scheme, "https") != 0)
    r = -EINVAL;
  url_parts_free(&p);
  return r;
}
