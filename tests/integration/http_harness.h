/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_TESTS_HTTP_HARNESS_H
#define AMPD_TESTS_HTTP_HARNESS_H

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "mockproc.h"
#include "net/http.h"

/*
 * The shared part of the net/http integration tests (cmocka): harness_setup() makes a
 * private temp dir, a test CA (tools/mock/testca.sh), content files under root/ that all
 * hold `content`, a loop L and a mock service `mock` over TLS. The helpers assert (they
 * are called from cmocka tests).
 */

#define FILE_SIZE (256 * 1024)    /* the content file the mock serves */
#define WAIT_GUARD_USEC 60000000u /* a request that takes this long is a hang: fail */
#define CTRL_BODY_MAX (4u << 20)  /* request log listing */

extern const char *src_dir; /* the source tree: set by main() before harness_setup() */
extern char tmp[PATH_MAX], certs[PATH_MAX], root[PATH_MAX], ca[PATH_MAX], logpath[PATH_MAX];
extern uint8_t content[FILE_SIZE];
extern struct loop *L;
extern struct mockproc *mock; /* the good server */

/* What one request's callbacks saw. */
struct result {
  int done;
  struct http_response resp; /* copy; pointers below */
  char url[1024], ctype[HTTP_RESP_VALUE_MAX], crange[HTTP_RESP_VALUE_MAX];
  char retry_after[HTTP_RESP_VALUE_MAX];
  uint64_t t_done;
  /* stream mode */
  struct buf stream;
  uint64_t next_off;
  int chunks;
  bool gap; /* an offset that did not follow the previous chunk */
  bool cancel_in_data;
  struct http_request *req;
};

void on_done(struct http_request *r, const struct http_response *resp, void *ud);
int on_data(struct http_request *r, uint64_t off, const void *p, size_t n, void *ud);
void run_until_done(struct result *res);
void url_of(char *buf, size_t n, const struct mockproc *m, const char *host, const char *path);
/* Start a request and run the loop until its done callback. */
void fetch(struct http *h, struct http_request_opts *o, struct result *res);
/* A client trusting the test CA, with short backoffs. */
struct http *client(uint32_t retries);
/* The config client() makes its client with, for a test that changes a setting before it
 * makes its own client with client_new(). */
void client_config(struct http_config *cfg, uint32_t retries);
struct http *client_new(const struct http_config *cfg);

/* The mock's control channel (/_mock/...): the reply's JSON (caller frees). */
cJSON *ctrl_on(struct mockproc *mp, struct http *h, enum http_method m, const char *path,
               const char *json);
cJSON *ctrl(struct http *h, enum http_method m, const char *path, const char *json);
void add_fault(const char *json);
/* A valid access token from the mock's lwa module (POST /_mock/lwa/issue) into out
 * (n bytes, at most HARNESS_TOKEN_MAX): the bearer the license and api modules accept. */
#define HARNESS_TOKEN_MAX 2048 /* docs/service.md §2: an access token's bound */
void harness_lwa_token(char *out, size_t n);
/* The request log entries for one path, in order (caller frees). */
cJSON *requests_for(const char *path);
cJSON *requests_on(struct mockproc *mp, const char *path);
double num(const cJSON *e, const char *k);
const char *str(const cJSON *e, const char *k);

/* dst = dir/name (PATH_MAX bytes); false if it does not fit. */
bool join(char *dst, const char *dir, const char *name);
void write_file(const char *name, const void *p, size_t n);
/* Another mock on its own port, same CA and root: cert NULL (good), "wronghost", ... */
struct mockproc *start_mock(const char *cert, const char *tls_max);

/* The start of main(): src_dir from argv[1] (the source tree) and the log levels from
 * AMPD_LOG (AMPD_LOG=http=debug shows curl's reasons for each failure); false, after a
 * usage line where argv[1] is missing, if either is wrong. */
bool harness_args(int argc, char **argv);
/* 0 or -1 (for cmocka's group setup). tag names the temp dir. */
int harness_setup(const char *tag, const char *const *files, size_t n_files);
void harness_teardown(void);

#endif
