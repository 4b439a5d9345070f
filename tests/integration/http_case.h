/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_TESTS_HTTP_CASE_H
#define AMPD_TESTS_HTTP_CASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/buf.h"
#include "http_harness.h"
#include "mockproc.h"
#include "net/http.h"

/*
 * One request of the net/http integration tests (test_http.c, test_http_origin.c) as a
 * case: what it sets up and sends, and what it must come to, in one struct. A field left
 * out is the plain case: a GET of path on the good mock at 127.0.0.1, no fault, no
 * retries, no headers, the body dropped. http_case_run() checks every expectation and
 * names the case in a failure ("case truncated: error -AMP_... (...), expected ...").
 */

/* The request asks for bytes first..last: RANGE(1000, 1999) in a case. */
#define RANGE(first, last) .ranged = true, .range_start = (first), .range_end = (last)
/* Afterwards the case's server has logged n requests for its path: LOGGED(0) in a case. */
#define LOGGED(n) .log_checked = true, .logged = (n)
/* The request carries the n headers of array hs: HEADERS(secret_headers) in a case. */
#define HEADERS(hs) .headers = (hs), .n_headers = sizeof(hs) / sizeof((hs)[0])

/* Where the response body goes. */
enum http_case_into {
  INTO_NOTHING, /* neither body_out nor on_data: dropped */
  INTO_BUF,     /* body_out: a buffer of buf_max bytes */
  INTO_STREAM,  /* on_data (the harness's) into res.stream */
};

struct http_case {
  const char *name;
  /* set up first */
  const char *fault; /* a fault rule for path that the good mock takes (add_fault): its
                      * fields but the path ("\"status\":503,\"count\":2"), or NULL */
  uint32_t retries;  /* the client's (client()), when the test does not pass its own */
  /* sent */
  struct mockproc *const *server; /* &the test's variable for another mock; NULL: the good mock */
  const char *host;               /* NULL: 127.0.0.1 */
  const char *path;               /* on server */
  const char *url;                /* instead of server, host and path: this URL as it is */
  int redirect; /* a code (302, 307): the request goes to the good mock's /redirect, which
                 * sends it on to the URL above (its target), with that code */
  enum http_redirect policy; /* the request's own redirect policy */
  enum http_method method;
  const struct http_header *headers; /* n_headers of them (HEADERS()), or NULL */
  size_t n_headers;
  const char *body; /* a request body (strlen bytes), or NULL */
  bool ranged;
  uint64_t range_start, range_end;
  enum http_case_into into;
  size_t buf_max; /* INTO_BUF: the buffer's bound; 0: HTTP_BODY_MAX_DEFAULT */
  /* expected: err and status always (0 too), the others where set */
  int err;
  long status;       /* 0: no response arrived */
  uint32_t attempts; /* 0: not checked */
  /* INTO_BUF, INTO_STREAM: the bytes that reached the caller are exactly len bytes of the
   * content file from the range's start (0 if not ranged); len 0 on a stream: no chunk
   * at all. len_max instead: at most that many, their bytes not compared. */
  size_t len, len_max;
  const char *crange; /* the response's Content-Range, or NULL: not checked */
  const char *ctype;  /* its Content-Type, or NULL: not checked */
  bool at_url;        /* the response's URL is the case's own (a redirect's: its target) */
  bool log_checked;   /* LOGGED(): the server's log holds logged requests for path */
  int logged;
  bool tls; /* the first request for path in the server's log came over TLS 1.2 or 1.3 */
};

/* What a case's request came to, for the checks a test makes beyond the case's own. */
struct http_got {
  char url[1024];    /* the URL asked for (a redirect's: the /redirect one) */
  char target[512];  /* the case's URL (a redirect's target) */
  struct result res; /* the callbacks' view; res.stream for INTO_STREAM */
  struct buf body;   /* INTO_BUF */
};

/* Run case c with client h (NULL: a client(c->retries) made and freed here) and check
 * it; got keeps what came (http_got_done frees it). */
void http_case_run(struct http *h, const struct http_case *c, struct http_got *got);
void http_got_done(struct http_got *got);
/* The same for a case whose checks are all its own: run, check, free what came. */
void http_case_check(struct http *h, const struct http_case *c);

/* The request log of server m (NULL: the good mock) holds n requests for path. */
void assert_logged(struct mockproc *m, const char *path, int n);

/* A URL of the good mock's /redirect?to=<target>&code=<code>, target percent-encoded. */
void redirect_url(char *buf, size_t n, const char *target, int code);

/* The good mock's /echo reply in got's body, checked to be a POST of body sent (caller
 * frees it, for the checks a test makes beyond these). */
cJSON *echoed(const struct http_got *got, const char *sent);

#endif
