/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net/http against the mock over TLS, on what crosses a boundary: headers meant for one
 * origin never reach another (a second mock on another port records what arrived), a
 * body shorter than its headers promised is a truncation, a 206 of another range is an
 * error, proxies come from the config and never from the environment, and every socket
 * curl opens is close-on-exec.
 *
 * argv[1]: the source tree.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"
#include "http_case.h"
#include "http_harness.h"
#include "mockproc.h"
#include "net/http.h"

#define FD_SCAN_MAX 1024 /* fds looked at in /proc/self/fd */

static struct mockproc *other; /* a second origin: same CA and files, another port */
static struct mockproc *proxy; /* tests/integration/connect_proxy.py */
static char proxy_log[PATH_MAX];

static const char *const names[] = {"a.bin",       "short.bin", "shortbuf.bin", "crange.bin",
                                    "same.bin",    "cross.bin", "drop.bin",     "env.bin",
                                    "proxied.bin", "fds.bin"};

/* The credentials of one origin: what must never reach the other. */
static const struct http_header secret_headers[] = {
    {"Authorization", "Bearer Atza|origin-a-token"},
    {"Cookie", "rid=origin-a-cookie"},
    {"x-amz-music-asin", "B000ORIGINA"},
};
#define N_SECRET (sizeof(secret_headers) / sizeof(secret_headers[0]))

static int group_setup(void **state) {
  if (harness_setup("http-origin", names, sizeof(names) / sizeof(names[0])) < 0)
    return -1;
  other = start_mock(NULL, NULL);
  if (!other || !join(proxy_log, tmp, "proxy.log"))
    return -1;
  char script[PATH_MAX], port_file[PATH_MAX], ppid[32];
  if (!join(script, src_dir, "tests/integration/connect_proxy.py") ||
      !join(port_file, tmp, "proxy.port"))
    return -1;
  snprintf(ppid, sizeof(ppid), "%d", (int)getpid());
  const char *argv[] = {"python3", script,         "--port-file", port_file, "--log-file",
                        proxy_log, "--parent-pid", ppid,          NULL};
  struct mockproc_opts po = {.argv = argv, .port_file = port_file, .log_path = logpath};
  return mockproc_start(&po, &proxy) < 0 ? -1 : 0;
}

static int group_teardown(void **state) {
  mockproc_stop(proxy);
  mockproc_stop(other);
  harness_teardown();
  return 0;
}

/* The value the mock logged for header name (lower case) in entry e, or NULL. */
static const char *logged_header(const cJSON *e, const char *name) {
  const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(e, "headers"), name);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---------------------------------------------------------------- short bodies */

/* A 206 whose Content-Length (and body) is 1000 bytes short of its Content-Range, on a
 * connection that stays open: libcurl calls that a success. Streamed, it resumes at the
 * first missing byte. */
static void test_short_206_resumes(void **state) {
  static const struct http_case c = {
      .name = "short 206 resumes",
      .fault = "\"short_body\":1000,\"count\":1",
      .retries = 3,
      .path = "/files/short.bin",
      RANGE(0, 99999),
      .into = INTO_STREAM,
      .status = 206,
      .attempts = 2,
      .len = 100000,
  };
  http_case_check(NULL, &c);
  cJSON *log = requests_for("/files/short.bin");
  assert_int_equal(cJSON_GetArraySize(log), 2);
  assert_true(num(cJSON_GetArrayItem(log, 0), "content_length") == 99000);
  assert_string_equal(str(cJSON_GetArrayItem(log, 1), "range"), "bytes=99000-99999");
  cJSON_Delete(log);
}

/* The same without retries, into a buffer: a truncation, not a short success. */
static void test_short_206_reported(void **state) {
  static const struct http_case c = {
      .name = "short 206 reported",
      .fault = "\"short_body\":1,\"count\":1",
      .path = "/files/shortbuf.bin",
      RANGE(10, 1009),
      .into = INTO_BUF,
      .err = -AMP_ETRUNCATED,
      .status = 206,
      .attempts = 1,
      .len = 999,
  };
  http_case_check(NULL, &c);
}

/* A 206 that names another range than the one asked for: an error, never retried, and
 * not one byte reaches the caller. */
static void test_wrong_content_range(void **state) {
  static const struct http_case c = {
      .name = "wrong content range",
      .fault = "\"content_range\":\"bytes 100-199/262144\"",
      .retries = 3,
      .path = "/files/crange.bin",
      RANGE(0, 99),
      .into = INTO_STREAM,
      .err = -AMP_EBADRANGE,
      .status = 206,
      .attempts = 1,
      .len = 0,
      .crange = "bytes 100-199/262144",
      LOGGED(1),
  };
  http_case_check(NULL, &c);
}

/* ---------------------------------------------------------------- redirects */

/* Case c, a redirect of a GET with the secret headers to path on its server, is followed:
 * the whole file, from the target (the final URL), which logged one request for path.
 * Returns that server's log for path (caller frees), for the checks of the headers. */
static cJSON *expect_followed(struct http_case c) {
  c.headers = secret_headers;
  c.n_headers = N_SECRET;
  c.into = INTO_BUF;
  c.status = 200;
  c.len = FILE_SIZE;
  c.at_url = true;
  c.log_checked = true;
  c.logged = 1;
  http_case_check(NULL, &c);
  return requests_on(c.server ? *c.server : mock, c.path);
}

/* Same origin: followed, and every header arrives at the target. */
static void test_redirect_same_origin_keeps_headers(void **state) {
  cJSON *log = expect_followed((struct http_case){
      .name = "redirect same origin keeps headers", .path = "/files/same.bin", .redirect = 302});
  const cJSON *e = cJSON_GetArrayItem(log, 0);
  for (size_t i = 0; i < N_SECRET; i++) {
    char lower[64];
    size_t k = 0;
    for (const char *p = secret_headers[i].name; *p && k + 1 < sizeof(lower); p++)
      lower[k++] = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    lower[k] = '\0';
    const char *v = logged_header(e, lower);
    assert_non_null(v);
    assert_string_equal(v, secret_headers[i].value);
  }
  cJSON_Delete(log);
}

/* Case c, a redirect to path on the other origin, is refused: -AMP_EREDIRECT with the
 * redirect's own status, and no request for path reaches the other mock. */
static void expect_cross_refused(struct http_case c) {
  c.server = &other;
  c.err = -AMP_EREDIRECT;
  c.status = c.redirect;
  c.log_checked = true;
  c.logged = 0;
  http_case_check(NULL, &c);
}

/* Another origin (another port), by default: refused, and nothing reaches it; the
 * redirect's own body is not handed out. */
static void test_redirect_cross_origin_refused(void **state) {
  expect_cross_refused((struct http_case){.name = "redirect cross origin refused",
                                          .path = "/files/cross.bin",
                                          .redirect = 302,
                                          HEADERS(secret_headers),
                                          .into = INTO_BUF,
                                          .len = 0});
}

/* Another origin with DROP_HEADERS: followed, and none of the request's headers arrive
 * there, though the first origin got them all. */
static void test_redirect_cross_origin_drops_headers(void **state) {
  cJSON *log = expect_followed((struct http_case){.name = "redirect cross origin drops headers",
                                                  .server = &other,
                                                  .path = "/files/drop.bin",
                                                  .redirect = 307,
                                                  .policy = HTTP_REDIRECT_DROP_HEADERS});
  const cJSON *e = cJSON_GetArrayItem(log, 0);
  assert_non_null(logged_header(e, "host")); /* the log holds the headers that came */
  assert_null(logged_header(e, "authorization"));
  assert_null(logged_header(e, "cookie"));
  assert_null(logged_header(e, "x-amz-music-asin"));
  cJSON_Delete(log);
  log = requests_for("/redirect");
  int n = cJSON_GetArraySize(log);
  assert_true(n >= 1);
  assert_non_null(logged_header(cJSON_GetArrayItem(log, n - 1), "authorization"));
  cJSON_Delete(log);
}

/* Under the default policy another origin is refused even when the request has no headers
 * to lose: where a request may go is the caller's choice, not the server's. */
static void test_redirect_cross_origin_refused_without_headers(void **state) {
  expect_cross_refused((struct http_case){.name = "redirect cross origin refused without headers",
                                          .path = "/files/cross.bin",
                                          .redirect = 302,
                                          .method = HTTP_HEAD});
}

/* A POST's body (a license challenge, a playback event) never goes to another origin,
 * not even with DROP_HEADERS and a 307. */
static void test_redirect_post_never_crosses(void **state) {
  expect_cross_refused((struct http_case){.name = "redirect post never crosses",
                                          .path = "/echo",
                                          .redirect = 307,
                                          .policy = HTTP_REDIRECT_DROP_HEADERS,
                                          .method = HTTP_POST,
                                          .body = "{\"licenseChallenge\":\"BBBB\"}"});
}

/* libcurl would write every TLS secret to $SSLKEYLOGFILE: the client removes the variable
 * before libcurl reads it (main() sets it before the first client exists). */
static char keylog[64];

static void test_no_tls_key_log(void **state) {
  static const struct http_case c = {.name = "no tls key log",
                                     .host = "localhost",
                                     .path = "/files/a.bin",
                                     .method = HTTP_HEAD,
                                     .status = 200};
  http_case_check(NULL, &c);
  assert_int_equal(access(keylog, F_OK), -1); /* never created */
  assert_null(getenv("SSLKEYLOGFILE"));
}

/* A POST follows a 307 (method and body kept) but not a 302, which would make it a GET. */
static void test_redirect_post(void **state) {
  static const struct http_case followed = {.name = "redirect post, 307 followed",
                                            .path = "/echo",
                                            .redirect = 307,
                                            .method = HTTP_POST,
                                            .body = "{\"licenseChallenge\":\"AAAA\"}",
                                            .into = INTO_BUF,
                                            .status = 200,
                                            .len_max = HTTP_BODY_MAX_DEFAULT}; /* the echo */
  struct http_case refused = followed;
  refused.name = "redirect post, 302 refused";
  refused.redirect = 302;
  refused.err = -AMP_EREDIRECT;
  refused.status = 302;
  struct http *h = client(0);
  struct http_got got;
  http_case_run(h, &followed, &got);
  cJSON_Delete(echoed(&got, followed.body));
  http_got_done(&got);
  http_case_check(h, &refused);
  http_free(h);
}

/* ---------------------------------------------------------------- proxies */

static size_t proxy_log_lines(char *last, size_t n) {
  FILE *f = fopen(proxy_log, "re");
  if (!f)
    return 0; /* nothing was ever tunnelled */
  char line[512];
  size_t count = 0;
  while (fgets(line, sizeof(line), f)) {
    count++;
    if (last)
      snprintf(last, n, "%s", line);
  }
  fclose(f);
  return count;
}

/* The environment's proxy variables are not used: the request goes straight to the
 * server and the proxy sees nothing. */
static const char *const proxy_vars[] = {"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"};

static void test_proxy_env_ignored(void **state) {
  char purl[64];
  snprintf(purl, sizeof(purl), "http://127.0.0.1:%u", (unsigned)mockproc_port(proxy));
  for (size_t i = 0; i < sizeof(proxy_vars) / sizeof(proxy_vars[0]); i++)
    assert_int_equal(setenv(proxy_vars[i], purl, 1), 0);
  static const struct http_case c = {.name = "proxy env ignored",
                                     .host = "localhost",
                                     .path = "/files/env.bin",
                                     .status = 200,
                                     LOGGED(1)};
  size_t before = proxy_log_lines(NULL, 0);
  http_case_check(NULL, &c);
  assert_int_equal(proxy_log_lines(NULL, 0), before);
}

/* test_proxy_env_ignored's teardown, so that its variables are gone after a failure too. */
static int unset_proxy_env(void **state) {
  for (size_t i = 0; i < sizeof(proxy_vars) / sizeof(proxy_vars[0]); i++)
    unsetenv(proxy_vars[i]);
  return 0;
}

/* A configured proxy is used, through CONNECT, and TLS still verifies the origin. */
static void test_proxy_configured(void **state) {
  static const struct http_case c = {.name = "proxy configured",
                                     .host = "localhost",
                                     .path = "/files/proxied.bin",
                                     .into = INTO_BUF,
                                     .status = 200,
                                     .len = FILE_SIZE,
                                     LOGGED(1),
                                     .tls = true}; /* TLS ran end to end */
  char purl[64];
  snprintf(purl, sizeof(purl), "http://127.0.0.1:%u", (unsigned)mockproc_port(proxy));
  struct http_config cfg;
  client_config(&cfg, 0);
  cfg.proxy = purl;
  struct http *h = client_new(&cfg);
  size_t before = proxy_log_lines(NULL, 0);
  http_case_check(h, &c);
  http_free(h);
  char last[512] = "", want[64];
  assert_int_equal(proxy_log_lines(last, sizeof(last)), before + 1);
  snprintf(want, sizeof(want), "CONNECT localhost:%u\n", (unsigned)mockproc_port(mock));
  assert_string_equal(last, want);
}

static void test_proxy_config_checked(void **state) {
  static const char *const bad[] = {"socks5://127.0.0.1:1080", "ftp://127.0.0.1", "127.0.0.1:3128",
                                    "http://", ""};
  struct http_config cfg;
  http_config_init(&cfg);
  struct http *h = NULL;
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    cfg.proxy = bad[i];
    assert_int_equal(http_new(L, &cfg, &h), -EINVAL);
  }
  cfg.proxy = "https://user:pw@proxy.example:3128";
  assert_int_equal(http_new(L, &cfg, &h), 0);
  http_free(h);
}

/* ---------------------------------------------------------------- close-on-exec */

/* fds open without FD_CLOEXEC, as a bitmap over [0, FD_SCAN_MAX). */
static void scan_fds(bool inheritable[FD_SCAN_MAX], bool is_socket[FD_SCAN_MAX]) {
  memset(inheritable, 0, FD_SCAN_MAX * sizeof(bool));
  memset(is_socket, 0, FD_SCAN_MAX * sizeof(bool));
  DIR *d = opendir("/proc/self/fd");
  assert_non_null(d);
  int self = dirfd(d);
  struct dirent *de;
  while ((de = readdir(d))) {
    char *end;
    long fd = strtol(de->d_name, &end, 10);
    if (*end || end == de->d_name || fd < 0 || fd >= FD_SCAN_MAX || fd == self)
      continue;
    int fl = fcntl((int)fd, F_GETFD);
    if (fl < 0)
      continue; /* closed since readdir */
    inheritable[fd] = !(fl & FD_CLOEXEC);
    char path[64], target[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%ld", fd);
    ssize_t n = readlink(path, target, sizeof(target) - 1);
    if (n > 0) {
      target[n] = '\0';
      is_socket[fd] = strncmp(target, "socket:", 7) == 0;
    }
  }
  closedir(d);
}

struct fd_probe {
  struct result res;
  bool base[FD_SCAN_MAX]; /* inheritable before the client existed (the test's own) */
  int sockets;            /* new sockets seen mid-transfer */
  int leaked;             /* new fds without FD_CLOEXEC */
  bool scanned;
};

static int on_data_scan(struct http_request *r, uint64_t off, const void *p, size_t n, void *ud) {
  struct fd_probe *x = ud;
  if (!x->scanned) {
    bool inh[FD_SCAN_MAX], sock[FD_SCAN_MAX];
    scan_fds(inh, sock);
    for (int fd = 3; fd < FD_SCAN_MAX; fd++) {
      if (inh[fd] && !x->base[fd]) {
        char path[64], target[128] = "?";
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        ssize_t k = readlink(path, target, sizeof(target) - 1);
        target[k > 0 ? k : 1] = '\0';
        fprintf(stderr, "fd %d (%s) is inheritable (no FD_CLOEXEC)\n", fd, target);
        x->leaked++;
      }
      if (sock[fd] && !x->base[fd])
        x->sockets++;
    }
    x->scanned = true;
  }
  return on_data(r, off, p, n, &x->res);
}

/* Mid-transfer, with a name to resolve and a connection open, every fd that the client
 * opened is close-on-exec. */
static void test_sockets_cloexec(void **state) {
  add_fault("{\"path\":\"/files/fds.bin\",\"rate_bps\":131072,\"count\":1}");
  static struct fd_probe x;
  memset(&x, 0, sizeof(x));
  bool sock[FD_SCAN_MAX];
  scan_fds(x.base, sock);
  struct http *h = client(0);
  char url[256];
  url_of(url, sizeof(url), mock, "localhost", "/files/fds.bin");
  x.res.stream = (struct buf)BUF_INIT(FILE_SIZE);
  struct http_request_opts o = {
      .method = HTTP_GET, .url = url, .on_data = on_data_scan, .on_done = on_done, .userdata = &x};
  assert_int_equal(http_request_start(h, &o, &x.res.req), 0);
  run_until_done(&x.res);
  assert_int_equal(x.res.resp.err, 0);
  assert_true(x.scanned);
  assert_true(x.sockets >= 1); /* the scan saw the connection */
  assert_int_equal(x.leaked, 0);
  buf_done(&x.res.stream);
  http_free(h);
}

int main(int argc, char **argv) {
  if (!harness_args(argc, argv))
    return 2;
  snprintf(keylog, sizeof(keylog), "/tmp/ampd-keylog-%d", (int)getpid());
  unlink(keylog);
  setenv("SSLKEYLOGFILE", keylog, 1);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_short_206_resumes),
      cmocka_unit_test(test_short_206_reported),
      cmocka_unit_test(test_wrong_content_range),
      cmocka_unit_test(test_redirect_same_origin_keeps_headers),
      cmocka_unit_test(test_redirect_cross_origin_refused),
      cmocka_unit_test(test_redirect_cross_origin_drops_headers),
      cmocka_unit_test(test_redirect_post),
      cmocka_unit_test(test_redirect_cross_origin_refused_without_headers),
      cmocka_unit_test(test_redirect_post_never_crosses),
      cmocka_unit_test(test_no_tls_key_log),
      cmocka_unit_test_teardown(test_proxy_env_ignored, unset_proxy_env),
      cmocka_unit_test(test_proxy_configured),
      cmocka_unit_test(test_proxy_config_checked),
      cmocka_unit_test(test_sockets_cloexec),
  };
  int r = cmocka_run_group_tests(tests, group_setup, group_teardown);
  unlink(keylog);
  return r;
}
