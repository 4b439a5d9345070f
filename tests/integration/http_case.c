/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One net/http request as a case (http_case.h): the request a case describes, run
 * against the mock, and every expectation of the case checked, a failure naming it.
 */
#include "http_case.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"

static void expect_long(const char *name, const char *what, long got, long want) {
  if (got != want)
    fail_msg("case %s: %s %ld, expected %ld", name, what, got, want);
}

static void expect_str(const char *name, const char *what, const char *got, const char *want) {
  if (want && strcmp(got, want) != 0)
    fail_msg("case %s: %s \"%s\", expected \"%s\"", name, what, got, want);
}

/* What reached the caller (n bytes at p, in chunks pieces; chunks < 0: a buffer). */
static void expect_bytes(const struct http_case *c, const uint8_t *p, size_t n, int chunks) {
  if (c->len_max) {
    if (n > c->len_max)
      fail_msg("case %s: %zu body bytes, expected at most %zu", c->name, n, c->len_max);
    return;
  }
  expect_long(c->name, "body bytes", (long)n, (long)c->len);
  if (c->len == 0) {
    if (chunks >= 0)
      expect_long(c->name, "chunks", chunks, 0);
    return;
  }
  uint64_t from = c->ranged ? c->range_start : 0;
  if (from + c->len > FILE_SIZE || memcmp(p, content + from, c->len) != 0)
    fail_msg("case %s: the body is not the content file's bytes %llu..%llu", c->name,
             (unsigned long long)from, (unsigned long long)(from + c->len - 1));
}

/* The first request for path in m's log came over TLS 1.2 or 1.3. */
static void expect_tls(const char *name, struct mockproc *m, const char *path) {
  cJSON *log = requests_on(m, path);
  const cJSON *first = cJSON_GetArrayItem(log, 0);
  const char *tls = first ? str(first, "tls") : "(no request)";
  bool ok = strcmp(tls, "TLSv1.2") == 0 || strcmp(tls, "TLSv1.3") == 0;
  if (!ok)
    fail_msg("case %s: the mock logged %s for %s, expected TLSv1.2 or TLSv1.3", name, tls, path);
  cJSON_Delete(log);
}

void http_case_run(struct http *h, const struct http_case *c, struct http_got *got) {
  memset(got, 0, sizeof(*got));
  if (c->fault) {
    char rule[512];
    snprintf(rule, sizeof(rule), "{\"path\":\"%s\",%s}", c->path, c->fault);
    add_fault(rule);
  }
  struct mockproc *m = c->server ? *c->server : mock;
  if (c->url)
    snprintf(got->target, sizeof(got->target), "%s", c->url);
  else
    url_of(got->target, sizeof(got->target), m, c->host ? c->host : "127.0.0.1", c->path);
  if (c->redirect)
    redirect_url(got->url, sizeof(got->url), got->target, c->redirect);
  else
    snprintf(got->url, sizeof(got->url), "%s", got->target);
  got->body = (struct buf)BUF_INIT(c->buf_max ? c->buf_max : HTTP_BODY_MAX_DEFAULT);
  if (c->into == INTO_STREAM)
    got->res.stream = (struct buf)BUF_INIT(FILE_SIZE);
  struct http_request_opts o = {.method = c->method,
                                .url = got->url,
                                .headers = c->headers,
                                .n_headers = c->n_headers,
                                .redirect = c->policy,
                                .body = c->body,
                                .body_len = c->body ? strlen(c->body) : 0,
                                .ranged = c->ranged,
                                .range_start = c->range_start,
                                .range_end = c->range_end,
                                .body_out = c->into == INTO_BUF ? &got->body : NULL,
                                .on_data = c->into == INTO_STREAM ? on_data : NULL};
  struct http *own = h ? NULL : client(c->retries);
  fetch(h ? h : own, &o, &got->res);
  http_free(own);

  const struct http_response *r = &got->res.resp;
  if (r->err != c->err)
    fail_msg("case %s: error %d (%s), expected %d (%s)", c->name, r->err, amp_strerror(r->err),
             c->err, amp_strerror(c->err));
  expect_long(c->name, "status", r->status, c->status);
  if (c->attempts)
    expect_long(c->name, "attempts", (long)r->attempts, (long)c->attempts);
  if (c->into == INTO_BUF)
    expect_bytes(c, got->body.data, got->body.len, -1);
  if (c->into == INTO_STREAM) {
    if (got->res.gap)
      fail_msg("case %s: a chunk's offset did not follow the one before", c->name);
    expect_bytes(c, got->res.stream.data, got->res.stream.len, got->res.chunks);
    if (c->len && !c->len_max) /* the last chunk ended at the last byte */
      expect_long(c->name, "end offset", (long)got->res.next_off,
                  (long)((c->ranged ? c->range_start : 0) + c->len));
  }
  expect_str(c->name, "Content-Range", got->res.crange, c->crange);
  expect_str(c->name, "Content-Type", got->res.ctype, c->ctype);
  if (c->at_url)
    expect_str(c->name, "final URL", got->res.url, got->target);
  if (c->log_checked) {
    cJSON *log = requests_on(m, c->path);
    expect_long(c->name, "requests in the mock's log for its path", cJSON_GetArraySize(log),
                c->logged);
    cJSON_Delete(log);
  }
  if (c->tls)
    expect_tls(c->name, m, c->path);
}

void http_got_done(struct http_got *got) {
  buf_done(&got->body);
  buf_done(&got->res.stream);
}

void http_case_check(struct http *h, const struct http_case *c) {
  struct http_got got;
  http_case_run(h, c, &got);
  http_got_done(&got);
}

void assert_logged(struct mockproc *m, const char *path, int n) {
  cJSON *log = requests_on(m ? m : mock, path);
  int got = cJSON_GetArraySize(log);
  cJSON_Delete(log);
  if (got != n)
    fail_msg("%d requests for %s in the mock's log, expected %d", got, path, n);
}

void redirect_url(char *buf, size_t n, const char *target, int code) {
  char enc[768];
  size_t k = 0;
  for (const char *p = target; *p && k + 4 < sizeof(enc); p++) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
        *p == '.' || *p == '-' || *p == '_')
      enc[k++] = *p;
    else
      k += (size_t)snprintf(enc + k, sizeof(enc) - k, "%%%02X", (unsigned char)*p);
  }
  enc[k] = '\0';
  snprintf(buf, n, "https://127.0.0.1:%u/redirect?to=%s&code=%d", (unsigned)mockproc_port(mock),
           enc, code);
}

cJSON *echoed(const struct http_got *got, const char *sent) {
  cJSON *j = cJSON_ParseWithLength((const char *)got->body.data, got->body.len);
  assert_non_null(j);
  assert_string_equal(str(j, "method"), "POST");
  assert_string_equal(str(j, "body"), sent);
  return j;
}
