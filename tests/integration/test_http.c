/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net/http against the mock service over real TLS on loopback: the TLS policy (what is
 * accepted and what is refused), retries and Retry-After, a reset before the headers, a
 * stalled TLS handshake, truncation and resume, ranges, POST, bounds, cancellation and
 * connection reuse. What the mock received is read back from its request log
 * (GET /_mock/requests) and checked too.
 *
 * argv[1]: the source tree (for tools/mock/testca.sh and tools/mock/ampmock.py).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"
#include "http_case.h"
#include "http_harness.h"
#include "mockproc.h"
#include "net/http.h"

static struct mockproc *bad_ca, *bad_host, *bad_expired, *bad_tls11; /* servers to refuse */

static const char *const names[] = {
    "a.bin",     "r503.bin",   "ra.bin",  "trunc.bin", "resume.bin", "norange.bin", "reuse.bin",
    "plain.bin", "cancel.bin", "big.bin", "stall.bin", "rst.bin",    "hs.bin"};

static int group_setup(void **state) {
  if (harness_setup("http", names, sizeof(names) / sizeof(names[0])) < 0)
    return -1;
  bad_ca = start_mock("unknownca-server", NULL);
  bad_host = start_mock("wronghost", NULL);
  bad_expired = start_mock("expired", NULL);
  bad_tls11 = start_mock(NULL, "1.1");
  return bad_ca && bad_host && bad_expired && bad_tls11 ? 0 : -1;
}

static int group_teardown(void **state) {
  mockproc_stop(bad_ca);
  mockproc_stop(bad_host);
  mockproc_stop(bad_expired);
  mockproc_stop(bad_tls11);
  harness_teardown();
  return 0;
}

/* ---------------------------------------------------------------- TLS policy */

/* The mock saw TLS 1.2 or newer. */
static void test_tls_ok(void **state) {
  static const struct http_case c = {.name = "tls ok",
                                     .host = "localhost",
                                     .path = "/files/a.bin",
                                     .into = INTO_BUF,
                                     .status = 200,
                                     .len = FILE_SIZE,
                                     .ctype = "application/octet-stream",
                                     .at_url = true,
                                     .tls = true};
  http_case_check(NULL, &c);
}

static void expect_tls_refusal(const char *name, struct mockproc *const *m) {
  const struct http_case c = {.name = name,
                              .retries = 3, /* retries on: a TLS failure must not be retried */
                              .server = m,
                              .host = "localhost",
                              .path = "/files/a.bin",
                              .into = INTO_BUF,
                              .buf_max = 1024,
                              .err = -AMP_ETLS,
                              .status = 0,
                              .attempts = 1,
                              .len = 0};
  http_case_check(NULL, &c);
}

static void test_tls_unknown_ca(void **state) {
  expect_tls_refusal("tls unknown ca", &bad_ca);
}

static void test_tls_wrong_host(void **state) {
  expect_tls_refusal("tls wrong host", &bad_host);
}

static void test_tls_expired(void **state) {
  expect_tls_refusal("tls expired", &bad_expired);
}

static void test_tls_11_only(void **state) {
  expect_tls_refusal("tls 1.1 only", &bad_tls11);
}

static void test_plain_http_refused(void **state) {
  struct http *h = client(3);
  char url[256];
  snprintf(url, sizeof(url), "http://127.0.0.1:%u/files/plain.bin", (unsigned)mockproc_port(mock));
  struct result res = {0};
  struct http_request_opts o = {
      .method = HTTP_GET, .url = url, .on_done = on_done, .userdata = &res};
  assert_int_equal(http_request_start(h, &o, NULL), -AMP_EINSECURE);
  for (int i = 0; i < 3; i++)
    assert_true(loop_run_once(L, 20) >= 0);
  assert_int_equal(res.done, 0);
  http_free(h);
  assert_logged(NULL, "/files/plain.bin", 0); /* nothing arrived */
}

static void test_redirect_to_http_refused(void **state) {
  char target[256];
  snprintf(target, sizeof(target), "http://127.0.0.1:%u/files/plain.bin",
           (unsigned)mockproc_port(mock));
  const struct http_case c = {.name = "redirect to http refused",
                              .retries = 3,
                              .url = target,
                              .redirect = 302,
                              .err = -AMP_EINSECURE,
                              .status = 302,
                              .attempts = 1};
  http_case_check(NULL, &c);
  cJSON *log = requests_for("/redirect");
  assert_true(cJSON_GetArraySize(log) >= 1);
  cJSON_Delete(log);
  assert_logged(NULL, "/files/plain.bin", 0);
}

static void test_redirect_https_followed(void **state) {
  static const struct http_case c = {.name = "redirect https followed",
                                     .path = "/files/a.bin",
                                     .redirect = 302,
                                     .method = HTTP_HEAD,
                                     .status = 200,
                                     .at_url = true};
  http_case_check(NULL, &c);
}

/* ---------------------------------------------------------------- retries */

static void test_retry_two_503(void **state) {
  static const struct http_case c = {
      .name = "retry two 503",
      .fault = "\"status\":503,\"count\":2",
      .retries = 3,
      .path = "/files/r503.bin",
      .into = INTO_BUF,
      .status = 200,
      .attempts = 3,
      .len = FILE_SIZE, /* the 503 bodies are not in it */
  };
  http_case_check(NULL, &c);
  cJSON *log = requests_for("/files/r503.bin");
  assert_int_equal(cJSON_GetArraySize(log), 3);
  assert_true(num(cJSON_GetArrayItem(log, 0), "status") == 503);
  assert_true(num(cJSON_GetArrayItem(log, 1), "status") == 503);
  assert_true(num(cJSON_GetArrayItem(log, 2), "status") == 200);
  cJSON_Delete(log);
}

/* Retries on, with backoffs of at most 50 ms: only Retry-After can make it wait. The rule
 * is added before t0, not as the case's fault, so that the wait measured is the request's. */
static void test_retry_after_obeyed(void **state) {
  static const struct http_case c = {.name = "retry after obeyed",
                                     .retries = 3,
                                     .path = "/files/ra.bin",
                                     .status = 200,
                                     .attempts = 2};
  add_fault("{\"path\":\"/files/ra.bin\",\"status\":503,\"count\":1,\"retry_after\":1}");
  struct http_got got;
  uint64_t t0 = clock_mono_usec();
  http_case_run(NULL, &c, &got);
  assert_true(got.res.t_done - t0 >= 1000000); /* lower bound only */
  http_got_done(&got);
  cJSON *log = requests_for("/files/ra.bin");
  assert_int_equal(cJSON_GetArraySize(log), 2);
  /* The mock's arrival times: the second attempt came at least 1 s after the first. */
  double gap = num(cJSON_GetArrayItem(log, 1), "time") - num(cJSON_GetArrayItem(log, 0), "time");
  assert_true(gap >= 1.0);
  cJSON_Delete(log);
}

static void test_post_not_idempotent_not_retried(void **state) {
  static const struct http_case c = {
      .name = "post not retried",
      .fault = "\"method\":\"POST\",\"status\":503,\"count\":1",
      .retries = 3,
      .path = "/echo",
      .method = HTTP_POST,
      .body = "x",
      .err = -AMP_EHTTP,
      .status = 503,
      .attempts = 1,
  };
  http_case_check(NULL, &c);
}

/* Nothing listens on the port: a connect error, retried, then reported. */
static void test_connect_refused_retried(void **state) {
  static const struct http_case c = {.name = "connect refused",
                                     .retries = 2,
                                     .url = "https://127.0.0.1:1/x",
                                     .err = -AMP_ENETWORK,
                                     .status = 0,
                                     .attempts = 3};
  http_case_check(NULL, &c);
}

/* The mock reads the request and resets the connection (RST) before any byte of a reply:
 * an -AMP_ENETWORK with no status, not a crash or a hang; with retries on, the next
 * attempt (the rule's count is used up) gets the file. */
static void test_reset_before_headers(void **state) {
#define RST_FAULT "\"reset_before_headers\":true,\"count\":1"
  static const struct http_case reset = {.name = "reset before headers",
                                         .fault = RST_FAULT,
                                         .path = "/files/rst.bin",
                                         .into = INTO_BUF,
                                         .err = -AMP_ENETWORK,
                                         .status = 0,
                                         .attempts = 1,
                                         .len = 0};
  static const struct http_case retried = {.name = "reset before headers, retried",
                                           .fault = RST_FAULT,
                                           .retries = 2,
                                           .path = "/files/rst.bin",
                                           .into = INTO_BUF,
                                           .status = 200,
                                           .attempts = 2,
                                           .len = FILE_SIZE};
#undef RST_FAULT
  http_case_check(NULL, &reset);
  cJSON *log = requests_for("/files/rst.bin");
  assert_int_equal(cJSON_GetArraySize(log), 1); /* it reached the mock, which said nothing */
  assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(log, 0), "status")));
  assert_true(num(cJSON_GetArrayItem(log, 0), "fault") > 0);
  cJSON_Delete(log);

  http_case_check(NULL, &retried);
}

/* The mock accepts the TCP connection and then says nothing (no ServerHello) for 10 s:
 * the client's connect timeout (300 ms, TCP + TLS handshake) ends the attempt with
 * -ETIMEDOUT; with a retry, the next connection (not stalled) gets the file. */
static void test_handshake_stalled(void **state) {
  static const struct http_case stalled = {.name = "handshake stalled",
                                           .path = "/files/hs.bin",
                                           .into = INTO_BUF,
                                           .err = -ETIMEDOUT,
                                           .status = 0,
                                           .attempts = 1,
                                           .len = 0};
  static const struct http_case retried = {.name = "handshake stalled, retried",
                                           .path = "/files/hs.bin",
                                           .into = INTO_BUF,
                                           .status = 200,
                                           .attempts = 2,
                                           .len = FILE_SIZE};
  struct http *c = client(0);
  cJSON *before = ctrl(c, HTTP_GET, "/_mock/handshake", NULL);
  cJSON_Delete(ctrl(c, HTTP_POST, "/_mock/handshake", "{\"stall_ms\":10000,\"count\":1}"));
  http_free(c);

  struct http_config cfg;
  client_config(&cfg, 0);
  cfg.connect_timeout_ms = 300;
  struct http *h = client_new(&cfg);
  http_case_check(h, &stalled);
  http_free(h);

  c = client(0);
  cJSON *after = ctrl(c, HTTP_GET, "/_mock/handshake", NULL);
  assert_true(num(after, "remaining") == 0);
  assert_true(num(after, "stalled") == num(before, "stalled") + 1);
  cJSON_Delete(after);
  cJSON_Delete(before);
  assert_logged(NULL, "/files/hs.bin", 0); /* no request got through */

  cJSON_Delete(ctrl(c, HTTP_POST, "/_mock/handshake", "{\"stall_ms\":10000,\"count\":1}"));
  http_free(c);
  cfg.max_retries = 1;
  h = client_new(&cfg);
  http_case_check(h, &retried);
  http_free(h);
}

/* ---------------------------------------------------------------- truncation, resume */

static void test_truncated_without_retries(void **state) {
  static const struct http_case c = {
      .name = "truncated",
      .fault = "\"close_after_bytes\":1000,\"count\":1",
      .path = "/files/trunc.bin",
      .into = INTO_BUF,
      .err = -AMP_ETRUNCATED,
      .status = 200,
      .attempts = 1,
      .len_max = 1000,
  };
  http_case_check(NULL, &c);
}

static void test_stream_range_resumes(void **state) {
  const uint64_t first = 100, last = 200099;
  const struct http_case c = {
      .name = "stream range resumes",
      .fault = "\"close_after_bytes\":50000,\"count\":1",
      .retries = 3,
      .path = "/files/resume.bin",
      RANGE(first, last),
      .into = INTO_STREAM,
      .status = 206,
      .attempts = 2,
      .len = last - first + 1,
  };
  http_case_check(NULL, &c);
  cJSON *log = requests_for("/files/resume.bin");
  assert_int_equal(cJSON_GetArraySize(log), 2);
  const cJSON *a = cJSON_GetArrayItem(log, 0), *b = cJSON_GetArrayItem(log, 1);
  assert_string_equal(str(a, "range"), "bytes=100-200099");
  assert_false(cJSON_IsTrue(cJSON_GetObjectItem(a, "complete")));
  char want[64];
  snprintf(want, sizeof(want), "bytes=%llu-200099",
           (unsigned long long)(first + (uint64_t)num(a, "body_bytes_sent")));
  assert_string_equal(str(b, "range"), want); /* starts where the first stopped */
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(b, "complete")));
  cJSON_Delete(log);
}

/* ---------------------------------------------------------------- ranges */

static void test_range_206(void **state) {
  static const struct http_case c = {.name = "range 206",
                                     .path = "/files/a.bin",
                                     RANGE(1000, 1999),
                                     .into = INTO_BUF,
                                     .status = 206,
                                     .len = 1000,
                                     .crange = "bytes 1000-1999/262144"};
  http_case_check(NULL, &c);
}

static void test_range_416(void **state) {
  static const struct http_case c = {.name = "range 416",
                                     .retries = 3,
                                     .path = "/files/a.bin",
                                     RANGE(FILE_SIZE + 10, FILE_SIZE + 20),
                                     .err = -AMP_EBADRANGE,
                                     .status = 416,
                                     .attempts = 1};
  http_case_check(NULL, &c);
}

static void test_range_ignored(void **state) {
  /* Streamed: not one byte of the whole file may reach the caller as the range. */
  static const struct http_case streamed = {
      .name = "range ignored, streamed",
      .fault = "\"ignore_range\":true,\"count\":2",
      .path = "/files/norange.bin",
      RANGE(500, 999),
      .into = INTO_STREAM,
      .err = -AMP_ENORANGE,
      .status = 200,
      .len = 0,
  };
  /* Into a buffer: nothing either (the fault's second time). */
  static const struct http_case buffered = {.name = "range ignored, into a buffer",
                                            .path = "/files/norange.bin",
                                            RANGE(500, 999),
                                            .into = INTO_BUF,
                                            .err = -AMP_ENORANGE,
                                            .status = 200,
                                            .len = 0};
  struct http *h = client(3);
  struct http_got got;
  http_case_run(h, &streamed, &got);
  assert_true(got.res.resp.body_len == 0);
  http_got_done(&got);
  http_case_check(h, &buffered);
  http_free(h);
}

/* ---------------------------------------------------------------- POST, bounds */

static void test_post_echo(void **state) {
  static const struct http_header hs[] = {{"Content-Type", "application/json"},
                                          {"X-Ampd-Test", "v 1"}};
  static const struct http_case c = {.name = "post echo",
                                     .path = "/echo",
                                     .method = HTTP_POST,
                                     HEADERS(hs),
                                     .body = "{\"hello\":\"mock\",\"n\":42}",
                                     .into = INTO_BUF,
                                     .status = 200,
                                     .len_max = HTTP_BODY_MAX_DEFAULT}; /* the echo: below */
  struct http_got got;
  http_case_run(NULL, &c, &got);
  cJSON *j = echoed(&got, c.body);
  cJSON *hd = cJSON_GetObjectItem(j, "headers");
  assert_string_equal(str(hd, "x-ampd-test"), "v 1");
  assert_string_equal(str(hd, "content-type"), "application/json");
  assert_true(num(j, "body_bytes") == (double)strlen(c.body));
  cJSON_Delete(j);
  http_got_done(&got);
}

static void test_body_too_big(void **state) {
  static const struct http_case c = {.name = "body too big",
                                     .retries = 3,
                                     .path = "/files/big.bin",
                                     .into = INTO_BUF,
                                     .buf_max = 10000,
                                     .err = -AMP_ETOOBIG,
                                     .status = 200,
                                     .attempts = 1,
                                     .len_max = 10000,
                                     LOGGED(1)}; /* not retried */
  http_case_check(NULL, &c);
}

/* ---------------------------------------------------------------- cancel, reuse */

static void test_cancel_from_data_callback(void **state) {
  /* Throttled, so the body surely comes in more than one chunk. */
  add_fault("{\"path\":\"/files/cancel.bin\",\"rate_bps\":65536,\"count\":1}");
  struct http *h = client(3);
  char url[256];
  url_of(url, sizeof(url), mock, "127.0.0.1", "/files/cancel.bin");
  struct result res = {.stream = BUF_INIT(FILE_SIZE), .cancel_in_data = true};
  struct http_request_opts o = {.method = HTTP_GET, .url = url, .on_data = on_data};
  fetch(h, &o, &res); /* returns once done ran: inside the cancel */
  assert_int_equal(res.resp.err, -ECANCELED);
  assert_int_equal(res.chunks, 1);
  /* The client goes on working after a cancel inside curl's callback. */
  static const struct http_case head = {
      .name = "head after a cancel", .path = "/files/a.bin", .method = HTTP_HEAD, .status = 200};
  http_case_check(h, &head);
  assert_int_equal(res.chunks, 1); /* nothing more came for the cancelled one */
  assert_int_equal(res.done, 1);
  buf_done(&res.stream);
  http_free(h);
}

static void test_connection_reuse(void **state) {
  static const struct http_case c = {
      .name = "connection reuse", .path = "/files/reuse.bin", .status = 200};
  struct http *h = client(0);
  struct http_got g1, g2;
  http_case_run(h, &c, &g1);
  http_case_run(h, &c, &g2);
  assert_int_equal(g1.res.resp.connects, 1);
  assert_int_equal(g2.res.resp.connects, 0); /* the second rode the first one's connection */
  http_got_done(&g1);
  http_got_done(&g2);
  http_free(h);
  cJSON *log = requests_for("/files/reuse.bin");
  assert_int_equal(cJSON_GetArraySize(log), 2);
  assert_true(num(cJSON_GetArrayItem(log, 0), "conn") == num(cJSON_GetArrayItem(log, 1), "conn"));
  cJSON_Delete(log);
}

/* Several transfers at once on the one multi: each gets exactly its own bytes. */
static void test_concurrent_ranges(void **state) {
  enum { N = 6, PART = FILE_SIZE / N };
  struct http *h = client(0);
  char url[256];
  url_of(url, sizeof(url), mock, "127.0.0.1", "/files/a.bin");
  struct result res[N];
  memset(res, 0, sizeof(res));
  for (int i = 0; i < N; i++) {
    res[i].stream = (struct buf)BUF_INIT(PART);
    struct http_request_opts o = {.method = HTTP_GET,
                                  .url = url,
                                  RANGE((uint64_t)i * PART, (uint64_t)(i + 1) * PART - 1),
                                  .on_data = on_data,
                                  .on_done = on_done,
                                  .userdata = &res[i]};
    assert_int_equal(http_request_start(h, &o, &res[i].req), 0);
  }
  for (int i = 0; i < N; i++)
    run_until_done(&res[i]);
  for (int i = 0; i < N; i++) {
    assert_int_equal(res[i].done, 1);
    assert_int_equal(res[i].resp.err, 0);
    assert_false(res[i].gap);
    assert_int_equal(res[i].stream.len, PART);
    assert_memory_equal(res[i].stream.data, content + (size_t)i * PART, PART);
    buf_done(&res[i].stream);
  }
  http_free(h);
}

/* Cancelling another request that is in flight, from inside a data callback (curl is on
 * the stack), and starting a request from inside a done callback. */
struct cross {
  struct result a, b, c;
  struct http *h;
  char url_c[256];
};

static int on_data_cancel_other(struct http_request *r, uint64_t off, const void *p, size_t n,
                                void *ud) {
  struct cross *x = ud;
  if (x->b.req) /* cleared by b's done */
    http_request_cancel(x->b.req);
  return on_data(r, off, p, n, &x->a);
}

static void on_done_start_next(struct http_request *r, const struct http_response *resp, void *ud) {
  struct cross *x = ud;
  on_done(r, resp, &x->a);
  struct http_request_opts o = {
      .method = HTTP_HEAD, .url = x->url_c, .on_done = on_done, .userdata = &x->c};
  assert_int_equal(http_request_start(x->h, &o, NULL), 0);
}

static void test_cancel_other_and_chain(void **state) {
  add_fault("{\"path\":\"/files/cancel.bin\",\"rate_bps\":65536,\"count\":1}");
  static struct cross x;
  memset(&x, 0, sizeof(x));
  x.h = client(0);
  x.a.stream = (struct buf)BUF_INIT(FILE_SIZE);
  char url_a[256], url_b[256];
  url_of(url_a, sizeof(url_a), mock, "127.0.0.1", "/files/a.bin");
  url_of(url_b, sizeof(url_b), mock, "127.0.0.1", "/files/cancel.bin");
  url_of(x.url_c, sizeof(x.url_c), mock, "127.0.0.1", "/files/reuse.bin");
  struct http_request_opts ob = {
      .method = HTTP_GET, .url = url_b, .on_done = on_done, .userdata = &x.b};
  assert_int_equal(http_request_start(x.h, &ob, &x.b.req), 0);
  struct http_request_opts oa = {.method = HTTP_GET,
                                 .url = url_a,
                                 .on_data = on_data_cancel_other,
                                 .on_done = on_done_start_next,
                                 .userdata = &x};
  assert_int_equal(http_request_start(x.h, &oa, NULL), 0);
  run_until_done(&x.a);
  run_until_done(&x.c);
  assert_int_equal(x.b.done, 1);
  assert_int_equal(x.b.resp.err, -ECANCELED);
  assert_int_equal(x.a.done, 1);
  assert_int_equal(x.a.resp.err, 0);
  assert_int_equal(x.a.stream.len, FILE_SIZE);
  assert_memory_equal(x.a.stream.data, content, FILE_SIZE);
  assert_int_equal(x.c.done, 1);
  assert_int_equal(x.c.resp.err, 0);
  buf_done(&x.a.stream);
  http_free(x.h);
}

/* A transfer slower than the low-speed limit for longer than its time is a stall. */
static void test_low_speed_stall(void **state) {
  static const struct http_case c = {
      .name = "low speed stall",
      .fault = "\"rate_bps\":1000,\"count\":1",
      .path = "/files/stall.bin",
      .err = -ETIMEDOUT,
      .status = 200,
  };
  struct http_config cfg;
  client_config(&cfg, 0);
  cfg.low_speed_limit = 100000;
  cfg.low_speed_time_s = 1;
  struct http *h = client_new(&cfg);
  http_case_check(h, &c);
  http_free(h);
}

int main(int argc, char **argv) {
  if (!harness_args(argc, argv))
    return 2;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tls_ok),
      cmocka_unit_test(test_tls_unknown_ca),
      cmocka_unit_test(test_tls_wrong_host),
      cmocka_unit_test(test_tls_expired),
      cmocka_unit_test(test_tls_11_only),
      cmocka_unit_test(test_plain_http_refused),
      cmocka_unit_test(test_redirect_to_http_refused),
      cmocka_unit_test(test_redirect_https_followed),
      cmocka_unit_test(test_retry_two_503),
      cmocka_unit_test(test_retry_after_obeyed),
      cmocka_unit_test(test_post_not_idempotent_not_retried),
      cmocka_unit_test(test_connect_refused_retried),
      cmocka_unit_test(test_reset_before_headers),
      cmocka_unit_test(test_handshake_stalled),
      cmocka_unit_test(test_truncated_without_retries),
      cmocka_unit_test(test_stream_range_resumes),
      cmocka_unit_test(test_range_206),
      cmocka_unit_test(test_range_416),
      cmocka_unit_test(test_range_ignored),
      cmocka_unit_test(test_post_echo),
      cmocka_unit_test(test_body_too_big),
      cmocka_unit_test(test_cancel_from_data_callback),
      cmocka_unit_test(test_connection_reuse),
      cmocka_unit_test(test_concurrent_ranges),
      cmocka_unit_test(test_cancel_other_and_chain),
      cmocka_unit_test(test_low_speed_stall),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
