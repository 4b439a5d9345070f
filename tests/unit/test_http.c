/* SPDX-License-Identifier: Apache-2.0 */
/* The parts of net/http that need no network: parsers, policy checks, backoff bounds,
 * and the request lifecycle up to the first byte sent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/loop.h"
#include "net/http.h"

static void test_content_range_parse(void **state) {
  uint64_t a, b, n;
  assert_int_equal(http_content_range_parse("bytes 0-99/1000", &a, &b, &n), 0);
  assert_true(a == 0 && b == 99 && n == 1000);
  assert_int_equal(http_content_range_parse("bytes 5-5/*", &a, &b, &n), 0);
  assert_true(a == 5 && b == 5 && n == UINT64_MAX);
  assert_int_equal(http_content_range_parse("  BYTES 10-19/20 ", &a, &b, &n), 0);
  assert_true(a == 10 && b == 19 && n == 20);
  assert_int_equal(
      http_content_range_parse("bytes 18446744073709551614-18446744073709551614/*", &a, &b, &n), 0);
  assert_true(a == UINT64_MAX - 1);

  static const char *const bad[] = {
      "",
      "bytes",
      "bytes */1000",                   /* the 416 form: no range */
      "bytes 9-1/100",                  /* start after end */
      "bytes 0-100/100",                /* end beyond the total */
      "bytes 0-99",                     /* no total */
      "bytes 0-99/",                    /* empty total */
      "bytes -1-99/100",                /* sign */
      "bytes 0 - 99/100",               /* spaces inside */
      "items 0-99/100",                 /* another unit */
      "bytes=0-99/100",                 /* request syntax */
      "bytes 0-99/100 x",               /* trailing junk */
      "bytes 0-18446744073709551616/*", /* overflow */
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    a = b = n = 7;
    assert_int_equal(http_content_range_parse(bad[i], &a, &b, &n), -EINVAL);
    assert_true(a == 7 && b == 7 && n == 7); /* outputs untouched on failure */
  }
  assert_int_equal(http_content_range_parse(NULL, &a, &b, &n), -EINVAL);
}

static void test_content_range_check(void **state) {
  assert_int_equal(http_content_range_check("bytes 100-199/1000", 100, 199), 0);
  assert_int_equal(http_content_range_check("bytes 100-199/*", 100, 199), 0);
  assert_int_equal(http_content_range_check("bytes 100-198/1000", 100, 199), -AMP_EBADRANGE);
  assert_int_equal(http_content_range_check("bytes 101-199/1000", 100, 199), -AMP_EBADRANGE);
  assert_int_equal(http_content_range_check("bytes 0-999/1000", 100, 199), -AMP_EBADRANGE);
  assert_int_equal(http_content_range_check("", 0, 9), -AMP_EBADRANGE);
  assert_int_equal(http_content_range_check(NULL, 0, 9), -AMP_EBADRANGE);
  assert_int_equal(http_content_range_check("bytes */1000", 0, 9), -AMP_EBADRANGE);
}

static void test_date(void **state) {
  (void)state;
  int64_t t = 1;
  /* RFC 9110's example date is 784111777 in Unix time, in each of its three forms. */
  assert_int_equal(http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT", &t), 0);
  assert_true(t == 784111777);
  assert_int_equal(http_date_parse(" Sunday, 06-Nov-94 08:49:37 GMT", &t), 0);
  assert_true(t == 784111777);
  assert_int_equal(http_date_parse("Sun Nov  6 08:49:37 1994", &t), 0);
  assert_true(t == 784111777);
  static const char *const bad[] = {"", "  ", "5", "784111777", "-1", "Sun, 99 Foo"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    t = 42;
    assert_int_equal(http_date_parse(bad[i], &t), -EINVAL);
    assert_true(t == 42); /* untouched */
  }
  assert_int_equal(http_date_parse(NULL, &t), -EINVAL);
}

static void test_retry_after(void **state) {
  uint64_t ms = 1;
  assert_int_equal(http_retry_after_parse("120", 0, &ms), 0);
  assert_true(ms == 120000);
  assert_int_equal(http_retry_after_parse(" 0 ", 0, &ms), 0);
  assert_true(ms == 0);
  assert_int_equal(http_retry_after_parse("99999999999999999999999", 0, &ms), 0);
  assert_true(ms == UINT32_MAX); /* saturated, not wrapped */

  /* RFC 9110's example date is 784111777 in Unix time. */
  const time_t date = 784111777;
  assert_int_equal(http_retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT", date - 10, &ms), 0);
  assert_true(ms == 10000);
  assert_int_equal(http_retry_after_parse("Sunday, 06-Nov-94 08:49:37 GMT", date - 2, &ms), 0);
  assert_true(ms == 2000);
  assert_int_equal(http_retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT", date + 50, &ms), 0);
  assert_true(ms == 0); /* in the past: now */

  /* A date made here, an hour ahead of "now". */
  time_t now = (time_t)clock_wall_sec();
  time_t later = now + 3600;
  struct tm tm;
  char s[64];
  gmtime_r(&later, &tm);
  assert_true(strftime(s, sizeof(s), "%a, %d %b %Y %H:%M:%S GMT", &tm) > 0);
  assert_int_equal(http_retry_after_parse(s, now, &ms), 0);
  assert_true(ms == 3600000);

  static const char *const bad[] = {"", "   ", "-5", "1.5", "12abc", "soon", "Sun, 99 Foo"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    ms = 42;
    assert_int_equal(http_retry_after_parse(bad[i], now, &ms), -EINVAL);
    assert_true(ms == 42);
  }
  assert_int_equal(http_retry_after_parse(NULL, now, &ms), -EINVAL);
}

static void test_backoff(void **state) {
  const uint32_t base = 100, cap = 1000;
  /* The ceiling doubles from base and stops at cap; rnd == ceiling reaches it exactly. */
  assert_true(http_backoff_ms(1, base, cap, 100) == 100);
  assert_true(http_backoff_ms(1, base, cap, 101) == 0);
  assert_true(http_backoff_ms(2, base, cap, 200) == 200);
  assert_true(http_backoff_ms(3, base, cap, 400) == 400);
  assert_true(http_backoff_ms(4, base, cap, 800) == 800);
  assert_true(http_backoff_ms(5, base, cap, 1000) == 1000); /* 1600 capped */
  assert_true(http_backoff_ms(5, base, cap, 1001) == 0);

  uint64_t x = 0x9e3779b97f4a7c15u;
  for (uint32_t attempt = 1; attempt <= 40; attempt++) {
    uint64_t ceil = base;
    for (uint32_t i = 1; i < attempt && ceil < cap; i++)
      ceil *= 2;
    if (ceil > cap)
      ceil = cap;
    for (int k = 0; k < 200; k++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      assert_true(http_backoff_ms(attempt, base, cap, x) <= ceil);
    }
  }
  /* No overflow for absurd attempt numbers or caps. */
  assert_true(http_backoff_ms(UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT64_MAX) <= UINT32_MAX);
  assert_true(http_backoff_ms(7, 0, cap, 12345) == 0);
}

static void test_header_check(void **state) {
  assert_int_equal(http_header_check("Content-Type", "application/json"), 0);
  assert_int_equal(http_header_check("x-amz-target", "a\tb"), 0);
  assert_int_equal(http_header_check("X-Empty", ""), 0);
  assert_int_equal(http_header_check("X-A", "evil\r\nX-B: 1"), -EINVAL);
  assert_int_equal(http_header_check("X-A", "evil\nX-B: 1"), -EINVAL);
  assert_int_equal(http_header_check("X-A", "evil\r"), -EINVAL);
  assert_int_equal(http_header_check("X-A\r\nX-B", "1"), -EINVAL);
  assert_int_equal(http_header_check("X-A\n", "1"), -EINVAL);
  assert_int_equal(http_header_check("X:A", "1"), -EINVAL);
  assert_int_equal(http_header_check("X A", "1"), -EINVAL);
  assert_int_equal(http_header_check("", "1"), -EINVAL);
  assert_int_equal(http_header_check(NULL, "1"), -EINVAL);
  assert_int_equal(http_header_check("X-A", NULL), -EINVAL);
  assert_int_equal(http_header_check("X-A", "bell\a"), -EINVAL);

  static char big[HTTP_HEADER_LINE_MAX + 2];
  memset(big, 'a', sizeof(big) - 1);
  assert_int_equal(http_header_check("X-Big", big), -EINVAL);
  big[HTTP_HEADER_LINE_MAX - 7] = '\0'; /* "X-Big: " + value == the maximum */
  assert_int_equal(http_header_check("X-Big", big), 0);
}

static void test_same_origin(void **state) {
  /* The same origin: case of scheme and host, the default port written out or not. */
  assert_int_equal(http_same_origin("https://Host.Example/a?x=1", "HTTPS://host.example:443/b"), 0);
  assert_int_equal(http_same_origin("https://127.0.0.1:8443/a", "https://127.0.0.1:8443/z#f"), 0);
  /* Another origin: port, host, scheme, a user part does not make it the same. */
  assert_int_equal(http_same_origin("https://127.0.0.1:8443/a", "https://127.0.0.1:8444/a"), 1);
  assert_int_equal(http_same_origin("https://cdn.example/a", "https://api.example/a"), 1);
  assert_int_equal(http_same_origin("https://a.example/", "http://a.example/"), 1);
  assert_int_equal(http_same_origin("https://a.example/", "https://a.example.evil/"), 1);
  assert_int_equal(http_same_origin("https://a.example/", "https://user@b.example/"), 1);
  /* Malformed. */
  assert_int_equal(http_same_origin("https://a.example/", "not a url"), -EINVAL);
  assert_int_equal(http_same_origin(NULL, "https://a.example/"), -EINVAL);
}

/* Feed one header line as curl would (the text, then its CRLF). */
static enum http_resp_line line_of(const char *text, size_t len, char (*vals)[HTTP_RESP_VALUE_MAX],
                                   size_t *i) {
  static const char *const names[] = {"content-type", "content-range", "retry-after"};
  char buf[1024];
  assert_true(len + 2 <= sizeof(buf));
  memcpy(buf, text, len);
  memcpy(buf + len, "\r\n", 2);
  return http_resp_header_line(buf, len + 2, names, 3, vals, i);
}

static void test_resp_header_line(void **state) {
  (void)state;
  char vals[3][HTTP_RESP_VALUE_MAX];
  memset(vals, 'x', sizeof(vals));
  size_t i = 99;
  /* A status line clears every value. */
  assert_int_equal(line_of("HTTP/1.1 206 Partial Content", 28, vals, &i), HTTP_RESP_STATUS);
  assert_string_equal(vals[0], "");
  assert_string_equal(vals[2], "");
  assert_int_equal(i, 99);
  /* Kept: the name in any case, the value without the white space around it. */
  const char *cr = "Content-RANGE: \t bytes 0-99/10000 \t";
  assert_int_equal(line_of(cr, strlen(cr), vals, &i), HTTP_RESP_KEPT);
  assert_int_equal(i, 1);
  assert_string_equal(vals[1], "bytes 0-99/10000");
  assert_int_equal(http_content_range_check(vals[1], 0, 99), 0);
  /* Other lines change nothing. */
  assert_int_equal(line_of("X-Content-Range: bytes 1-2/3", 28, vals, &i), HTTP_RESP_OTHER);
  assert_int_equal(line_of("no colon here", 13, vals, &i), HTTP_RESP_OTHER);
  assert_int_equal(line_of("", 0, vals, &i), HTTP_RESP_OTHER);
  assert_string_equal(vals[1], "bytes 0-99/10000");

  /* A value of exactly HTTP_RESP_VALUE_MAX - 1 bytes is kept whole. */
  char v[600];
  size_t pre = strlen("Content-Range: ");
  memcpy(v, "Content-Range: bytes", pre + 5);
  size_t sp = HTTP_RESP_VALUE_MAX - 1 - 5 - strlen("0-99/1000");
  memset(v + pre + 5, ' ', sp);
  memcpy(v + pre + 5 + sp, "0-99/1000", 9);
  size_t full = pre + 5 + sp + 9;
  assert_int_equal(line_of(v, full, vals, &i), HTTP_RESP_KEPT);
  assert_int_equal(strlen(vals[1]), HTTP_RESP_VALUE_MAX - 1);
  assert_int_equal(http_content_range_check(vals[1], 0, 99), 0);
  /* One byte more ("bytes <spaces>0-99/10000"): the old rule cut it to "0-99/1000", a valid
   * Content-Range with another total; it is dropped instead, and reads as absent. */
  memcpy(v + pre + 5 + sp, "0-99/10000", 10);
  assert_int_equal(line_of(v, full + 1, vals, &i), HTTP_RESP_DROPPED);
  assert_int_equal(i, 1);
  assert_string_equal(vals[1], "");
  assert_int_equal(http_content_range_check(vals[1], 0, 99), -AMP_EBADRANGE);
  /* Junk past the cut: "bytes 0-99/100<spaces>x" must not read as "bytes 0-99/100". */
  memcpy(v + pre, "bytes 0-99/100", 14);
  memset(v + pre + 14, ' ', HTTP_RESP_VALUE_MAX);
  v[pre + 14 + HTTP_RESP_VALUE_MAX] = 'x';
  assert_int_equal(line_of(v, pre + 15 + HTTP_RESP_VALUE_MAX, vals, &i), HTTP_RESP_DROPPED);
  assert_string_equal(vals[1], "");
  /* A NUL in the value would end it early ("120" of "120\0 junk"): dropped. */
  assert_int_equal(line_of("Retry-After: 5", 14, vals, &i), HTTP_RESP_KEPT);
  assert_int_equal(line_of("Retry-After: 120\0 junk", 22, vals, &i), HTTP_RESP_DROPPED);
  assert_int_equal(i, 2);
  assert_string_equal(vals[2], "");
}

static void test_url_check(void **state) {
  assert_int_equal(http_url_check("https://example.com/a?b=c"), 0);
  assert_int_equal(http_url_check("https://127.0.0.1:8443/files/x"), 0);
  assert_int_equal(http_url_check("HTTPS://Example.com/"), 0);
  assert_int_equal(http_url_check("http://example.com/"), -AMP_EINSECURE);
  assert_int_equal(http_url_check("HTTP://example.com/"), -AMP_EINSECURE);
  assert_int_equal(http_url_check("ftp://example.com/"), -AMP_EINSECURE);
  assert_int_equal(http_url_check("example.com/x"), -EINVAL);
  assert_int_equal(http_url_check("https://"), -EINVAL);
  assert_int_equal(http_url_check("https://exa mple.com/"), -EINVAL);
  assert_int_equal(http_url_check(""), -EINVAL);
  assert_int_equal(http_url_check(NULL), -EINVAL);
  /* Parsed, then refused for its host or port (the parts already taken are freed once:
   * these were double frees, a crash on a server's Location, found by
   * tests/fuzz/fuzz_http_response.c). */
  assert_int_equal(http_url_check("file:///etc/passwd"), -EINVAL);
  assert_int_equal(http_same_origin("https://a.example/", "httqs://a.example:4:443"), -EINVAL);
  assert_int_equal(http_same_origin("file:///x", "https://a.example/"), -EINVAL);
  assert_int_equal(http_proxy_check("socks5:///"), -EINVAL);

  static char big[HTTP_URL_MAX + 16];
  memcpy(big, "https://a.b/", 12);
  memset(big + 12, 'x', sizeof(big) - 13);
  assert_int_equal(http_url_check(big), -EINVAL);
}

/* ---- The request lifecycle without the network. ---- */

struct done_rec {
  int calls;
  int err;
  uint32_t attempts;
};

static void on_done(struct http_request *r, const struct http_response *resp, void *userdata) {
  struct done_rec *d = userdata;
  d->calls++;
  d->err = resp->err;
  d->attempts = resp->attempts;
}

struct env {
  struct loop *loop;
  struct http *http;
};

static int env_setup(void **state) {
  static struct env e;
  struct http_config cfg;
  http_config_init(&cfg);
  if (loop_new(&e.loop) < 0 || http_new(e.loop, &cfg, &e.http) < 0)
    return -1;
  *state = &e;
  return 0;
}

static int env_teardown(void **state) {
  struct env *e = *state;
  http_free(e->http);
  loop_free(e->loop);
  return 0;
}

static void test_plain_http_refused(void **state) {
  struct env *e = *state;
  struct done_rec d = {0};
  struct http_request *r = NULL;
  struct http_request_opts o = {
      .method = HTTP_GET, .url = "http://127.0.0.1:9/x", .on_done = on_done, .userdata = &d};
  assert_int_equal(http_request_start(e->http, &o, &r), -AMP_EINSECURE);
  assert_null(r);
  o.url = "ftp://127.0.0.1:9/x";
  assert_int_equal(http_request_start(e->http, &o, &r), -AMP_EINSECURE);
  /* Nothing is pending: a loop pass runs no callback and done is never called. */
  assert_int_equal(loop_run_once(e->loop, 0), 0);
  assert_int_equal(d.calls, 0);
}

static void test_bad_options_refused(void **state) {
  struct env *e = *state;
  struct done_rec d = {0};
  struct http_header hs[HTTP_MAX_HEADERS + 1];
  for (size_t i = 0; i < HTTP_MAX_HEADERS + 1; i++)
    hs[i] = (struct http_header){"X-N", "v"};
  struct http_request_opts o = {
      .method = HTTP_GET, .url = "https://127.0.0.1:9/x", .on_done = on_done, .userdata = &d};

  struct http_header crlf = {"X-A", "a\r\nX-Injected: 1"};
  o.headers = &crlf;
  o.n_headers = 1;
  assert_int_equal(http_request_start(e->http, &o, NULL), -EINVAL);
  struct http_header host = {"Host", "elsewhere"};
  o.headers = &host;
  assert_int_equal(http_request_start(e->http, &o, NULL), -EINVAL);
  o.headers = hs;
  o.n_headers = HTTP_MAX_HEADERS + 1;
  assert_int_equal(http_request_start(e->http, &o, NULL), -AMP_ETOOBIG);
  o.n_headers = 0;
  o.headers = NULL;

  o.ranged = true;
  o.range_start = 10;
  o.range_end = 9;
  assert_int_equal(http_request_start(e->http, &o, NULL), -EINVAL);
  o.ranged = false;

  o.body = "x";
  o.body_len = 1; /* a body on a GET */
  assert_int_equal(http_request_start(e->http, &o, NULL), -EINVAL);
  o.body = NULL;
  o.body_len = 0;
  o.on_done = NULL;
  assert_int_equal(http_request_start(e->http, &o, NULL), -EINVAL);
  assert_int_equal(d.calls, 0);

  struct http_config cfg;
  http_config_init(&cfg);
  struct http *h = NULL;
  cfg.max_retries = HTTP_RETRIES_MAX + 1;
  assert_int_equal(http_new(e->loop, &cfg, &h), -EINVAL);
  http_config_init(&cfg);
  cfg.max_connections = 0;
  assert_int_equal(http_new(e->loop, &cfg, &h), -EINVAL);
  assert_null(h);
}

/* Cancelled before its first attempt: done runs inside the cancel, once, with
 * -ECANCELED and no attempt made; the loop then has nothing left to run for it. */
static void test_cancel_before_start(void **state) {
  struct env *e = *state;
  struct done_rec d = {0};
  struct http_request *r = NULL;
  struct http_request_opts o = {
      .method = HTTP_GET, .url = "https://127.0.0.1:9/x", .on_done = on_done, .userdata = &d};
  assert_int_equal(http_request_start(e->http, &o, &r), 0);
  assert_non_null(r);
  assert_int_equal(d.calls, 0); /* never from inside start */
  http_request_cancel(r);
  assert_int_equal(d.calls, 1);
  assert_int_equal(d.err, -ECANCELED);
  assert_int_equal(d.attempts, 0);
  assert_int_equal(loop_run_once(e->loop, 0), 0);
  assert_int_equal(d.calls, 1);
}

/* http_free cancels what is outstanding, each done exactly once. */
static void test_free_cancels(void **state) {
  struct env *e = *state;
  struct http_config cfg;
  http_config_init(&cfg);
  struct http *h;
  assert_int_equal(http_new(e->loop, &cfg, &h), 0);
  struct done_rec d[3] = {{0}};
  for (int i = 0; i < 3; i++) {
    struct http_request_opts o = {
        .method = HTTP_GET, .url = "https://127.0.0.1:9/x", .on_done = on_done, .userdata = &d[i]};
    assert_int_equal(http_request_start(h, &o, NULL), 0);
  }
  http_free(h);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(d[i].calls, 1);
    assert_int_equal(d[i].err, -ECANCELED);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_content_range_parse),
      cmocka_unit_test(test_same_origin),
      cmocka_unit_test(test_resp_header_line),
      cmocka_unit_test(test_content_range_check),
      cmocka_unit_test(test_date),
      cmocka_unit_test(test_retry_after),
      cmocka_unit_test(test_backoff),
      cmocka_unit_test(test_header_check),
      cmocka_unit_test(test_url_check),
      cmocka_unit_test_setup_teardown(test_plain_http_refused, env_setup, env_teardown),
      cmocka_unit_test_setup_teardown(test_bad_options_refused, env_setup, env_teardown),
      cmocka_unit_test_setup_teardown(test_cancel_before_start, env_setup, env_teardown),
      cmocka_unit_test_setup_teardown(test_free_cancels, env_setup, env_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
