/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The shared part of the net/http integration tests: a mock service over TLS with a test
 * CA, content files, a loop, and helpers to run one request and to read the mock's
 * fault rules and request log.
 */
#include "http_harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/loop.h"

const char *src_dir;
char tmp[PATH_MAX], certs[PATH_MAX], root[PATH_MAX], ca[PATH_MAX], logpath[PATH_MAX];
uint8_t content[FILE_SIZE];
struct loop *L;
struct mockproc *mock;
static int harness_log_fd = -1; /* harness.log under ctest, else -1 (stderr) */

/* ---------------------------------------------------------------- one request */

static void copy_str(char *dst, size_t n, const char *s) {
  snprintf(dst, n, "%s", s ? s : "");
}

void on_done(struct http_request *r, const struct http_response *resp, void *ud) {
  struct result *res = ud;
  res->done++;
  res->resp = *resp;
  copy_str(res->url, sizeof(res->url), resp->url);
  copy_str(res->ctype, sizeof(res->ctype), resp->content_type);
  copy_str(res->crange, sizeof(res->crange), resp->content_range);
  copy_str(res->retry_after, sizeof(res->retry_after), resp->retry_after);
  res->resp.url = res->url;
  res->resp.content_type = res->ctype;
  res->resp.content_range = res->crange;
  res->resp.retry_after = res->retry_after;
  res->resp.request_id = "";
  res->t_done = clock_mono_usec();
  res->req = NULL;
}

int on_data(struct http_request *r, uint64_t off, const void *p, size_t n, void *ud) {
  struct result *res = ud;
  if (res->chunks > 0 && off != res->next_off)
    res->gap = true;
  res->next_off = off + n;
  res->chunks++;
  if (res->cancel_in_data) {
    http_request_cancel(r);
    return 0;
  }
  return buf_append(&res->stream, p, n);
}

void run_until_done(struct result *res) {
  uint64_t guard = clock_mono_usec() + WAIT_GUARD_USEC;
  while (!res->done) {
    assert_true(clock_mono_usec() < guard);
    assert_true(loop_run_once(L, 200) >= 0);
  }
}

void url_of(char *buf, size_t n, const struct mockproc *m, const char *host, const char *path) {
  snprintf(buf, n, "https://%s:%u%s", host, (unsigned)mockproc_port(m), path);
}

void fetch(struct http *h, struct http_request_opts *o, struct result *res) {
  o->on_done = on_done;
  o->userdata = res;
  res->done = 0;
  assert_int_equal(http_request_start(h, o, &res->req), 0);
  run_until_done(res);
  assert_int_equal(res->done, 1);
}

void client_config(struct http_config *cfg, uint32_t retries) {
  http_config_init(cfg);
  cfg->ca_file = ca;
  cfg->connect_timeout_ms = 5000;
  cfg->max_retries = retries;
  cfg->backoff_base_ms = 10;
  cfg->backoff_cap_ms = 50;
  cfg->retry_after_cap_ms = 5000;
}

struct http *client_new(const struct http_config *cfg) {
  struct http *h;
  assert_int_equal(http_new(L, cfg, &h), 0);
  return h;
}

struct http *client(uint32_t retries) {
  struct http_config cfg;
  client_config(&cfg, retries);
  return client_new(&cfg);
}

/* ---------------------------------------------------------------- the mock's side */

cJSON *ctrl_on(struct mockproc *mp, struct http *h, enum http_method m, const char *path,
               const char *json) {
  char url[256];
  url_of(url, sizeof(url), mp, "127.0.0.1", path);
  struct buf body = BUF_INIT(CTRL_BODY_MAX);
  struct http_header ct = {"Content-Type", "application/json"};
  struct http_request_opts o = {.method = m, .url = url, .body_out = &body};
  if (json) {
    o.body = json;
    o.body_len = strlen(json);
    o.headers = &ct;
    o.n_headers = 1;
  }
  struct result res = {0};
  fetch(h, &o, &res);
  assert_int_equal(res.resp.err, 0);
  cJSON *j = cJSON_Parse(body.data ? (const char *)body.data : "");
  buf_done(&body);
  assert_non_null(j);
  return j;
}

cJSON *ctrl(struct http *h, enum http_method m, const char *path, const char *json) {
  return ctrl_on(mock, h, m, path, json);
}

void add_fault(const char *json) {
  struct http *h = client(0);
  cJSON_Delete(ctrl(h, HTTP_POST, "/_mock/faults", json));
  http_free(h);
}

void harness_lwa_token(char *out, size_t n) {
  struct http *h = client(0);
  cJSON *j = ctrl(h, HTTP_POST, "/_mock/lwa/issue", "{}");
  http_free(h);
  const char *tok = str(j, "access_token");
  assert_true(n <= HARNESS_TOKEN_MAX && strlen(tok) < n);
  memcpy(out, tok, strlen(tok) + 1);
  cJSON_Delete(j);
}

cJSON *requests_for(const char *path) {
  return requests_on(mock, path);
}

cJSON *requests_on(struct mockproc *mp, const char *path) {
  struct http *h = client(0);
  cJSON *all = ctrl_on(mp, h, HTTP_GET, "/_mock/requests", NULL);
  http_free(h);
  cJSON *out = cJSON_CreateArray(), *e;
  cJSON_ArrayForEach(e, all) {
    cJSON *p = cJSON_GetObjectItem(e, "path");
    if (cJSON_IsString(p) && strcmp(p->valuestring, path) == 0)
      cJSON_AddItemToArray(out, cJSON_Duplicate(e, true));
  }
  cJSON_Delete(all);
  return out;
}

double num(const cJSON *e, const char *k) {
  const cJSON *v = cJSON_GetObjectItem(e, k);
  assert_true(cJSON_IsNumber(v));
  return v->valuedouble;
}

const char *str(const cJSON *e, const char *k) {
  const cJSON *v = cJSON_GetObjectItem(e, k);
  assert_true(cJSON_IsString(v));
  return v->valuestring;
}

/* ---------------------------------------------------------------- setup */

bool join(char *dst, const char *dir, const char *name) {
  int n = snprintf(dst, PATH_MAX, "%s/%s", dir, name);
  return n > 0 && n < PATH_MAX;
}

void write_file(const char *name, const void *p, size_t n) {
  char path[PATH_MAX];
  assert_true(join(path, root, name));
  FILE *f = fopen(path, "wbe");
  assert_non_null(f);
  assert_true(fwrite(p, 1, n, f) == n);
  assert_int_equal(fclose(f), 0);
}

struct mockproc *start_mock(const char *cert, const char *tls_max) {
  char script[PATH_MAX];
  if (!join(script, src_dir, "tools/mock/ampmock.py"))
    return NULL;
  struct mockproc_ampmock o = {.script = script,
                               .certs = certs,
                               .cert = cert,
                               .root = root,
                               .tls_max = tls_max,
                               .log_path = logpath};
  struct mockproc *m = NULL;
  int r = mockproc_start_ampmock(&o, &m);
  if (r < 0)
    fprintf(stderr, "mock (%s) did not start: %s; see %s\n", cert ? cert : "server", strerror(-r),
            logpath);
  return r < 0 ? NULL : m;
}

bool harness_args(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s SOURCE_DIR\n", argv[0]);
    return false;
  }
  src_dir = argv[1];
  return !getenv("AMPD_LOG") || log_set_levels(getenv("AMPD_LOG")) >= 0;
}

int harness_setup(const char *tag, const char *const *files, size_t n_files) {
  if (mockproc_tmpdir(tag, tmp, sizeof(tmp)) < 0)
    return -1;
  /* Under ctest (AMPD_TEST_OUTPUT set) every module logs at debug, where a secret would
   * show, into harness.log in the temp dir, which teardown keeps for the secrets scan
   * (tests/secrets/scan.py). A test that logs to a file of its own sets its fd later. */
  if (getenv("AMPD_TEST_OUTPUT")) {
    char logfile[PATH_MAX];
    if (!join(logfile, tmp, "harness.log") || log_set_levels("debug") < 0)
      return -1;
    harness_log_fd = open(logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (harness_log_fd < 0)
      return -1;
    log_set_fd(harness_log_fd);
  }
  char testca[PATH_MAX];
  if (!join(certs, tmp, "certs") || !join(root, tmp, "root") || !join(ca, certs, "ca.pem") ||
      !join(logpath, tmp, "mock.log") || !join(testca, src_dir, "tools/mock/testca.sh"))
    return -1;
  if (mkdir(root, 0700) < 0)
    return -1;
  /* An OpenSSL configuration that allows TLS 1.0 at security level 0, for this process
   * and the mocks: the system's own minimum (TLS 1.2 on Debian) must not be what refuses
   * the TLS 1.1 server, the client's policy must. Set before curl loads OpenSSL. */
  char osslcnf[PATH_MAX];
  static const char cnf[] = "openssl_conf = default_conf\n"
                            "[default_conf]\nssl_conf = ssl_sect\n"
                            "[ssl_sect]\nsystem_default = system_default_sect\n"
                            "[system_default_sect]\nMinProtocol = TLSv1\n"
                            "CipherString = DEFAULT@SECLEVEL=0\n";
  if (!join(osslcnf, tmp, "openssl.cnf"))
    return -1;
  FILE *f = fopen(osslcnf, "we");
  if (!f || fwrite(cnf, 1, sizeof(cnf) - 1, f) != sizeof(cnf) - 1 || fclose(f) != 0)
    return -1;
  setenv("OPENSSL_CONF", osslcnf, 1);
  const char *argv[] = {"bash", testca, certs, NULL};
  if (mockproc_run(argv, logpath, 120000) < 0) {
    fprintf(stderr, "testca.sh failed; see %s\n", logpath);
    return -1;
  }
  uint64_t x = 0x2545f4914f6cdd1du;
  for (size_t i = 0; i < FILE_SIZE; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    content[i] = (uint8_t)(x >> 24);
  }
  for (size_t i = 0; i < n_files; i++)
    write_file(files[i], content, FILE_SIZE);
  if (loop_new(&L) < 0)
    return -1;
  mock = start_mock(NULL, NULL);
  return mock ? 0 : -1;
}

void harness_teardown(void) {
  if (harness_log_fd >= 0) {
    log_set_fd(2);
    close(harness_log_fd);
    harness_log_fd = -1;
  }
  mockproc_stop(mock);
  loop_free(L);
  if (tmp[0])
    mockproc_rmtree(tmp);
}
