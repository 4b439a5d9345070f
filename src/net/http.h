/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_NET_HTTP_H
#define AMPD_NET_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/*
 * HTTPS client on the event loop: one libcurl multi handle driven by loop io watches
 * and one loop timer (curl's CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION), so
 * requests run concurrently on the loop thread without blocking, and connections are
 * kept and reused across requests.
 *
 * The TLS policy is fixed and cannot be turned off: https only (an http:// URL is
 * refused before any network I/O, a redirect to anything but https is refused),
 * TLS 1.2 or newer, peer certificate and host name always verified against the
 * configured CA file/directory (or the system store), at most HTTP_MAX_REDIRECTS
 * redirects.
 *
 * Redirects are followed here, not by curl, so that the caller's headers (the audio
 * object's header lists, Cookie, Authorization) never reach an origin they were not
 * meant for. An origin is scheme + host + port. A redirect to the same origin keeps
 * every header; one to another origin is refused (-AMP_EREDIRECT), with or without
 * headers to leak, unless the request says HTTP_REDIRECT_DROP_HEADERS, and then a GET or
 * HEAD is followed with none of the caller's headers for the rest of that attempt. GET
 * and HEAD follow 301, 302, 303, 307 and 308; a POST follows only a 307 or 308 to the
 * same origin (method and body kept): its body is never sent to another origin. Another
 * attempt (a retry) starts again at the first URL with the first headers.
 *
 * Proxies: the environment (http_proxy, https_proxy, all_proxy, no_proxy) is ignored;
 * a proxy is used only when http_config.proxy names one, and then for every request
 * through a CONNECT tunnel, so TLS still runs end to end with the origin.
 *
 * Every connection socket is opened close-on-exec (libcurl does not ask for it), and the
 * multi handle's wake-up socketpair is made so at http_new(), so a program the daemon
 * runs (a hook) never inherits a connection. One pair escapes this: libcurl 7.88's
 * threaded resolver opens a socketpair without SOCK_CLOEXEC for the length of each name
 * lookup (on its own thread, out of our reach). Whatever ampd spawns must therefore also
 * close every fd above 2 in the child (posix_spawn_file_actions_addclosefrom_np).
 * SSLKEYLOGFILE is removed from the environment before libcurl reads it: libcurl would
 * write every TLS secret to that file.
 *
 * A 2xx body shorter than its Content-Length, or a 206 body shorter than its
 * Content-Range, is a truncation even when the connection stayed up (libcurl 7.88
 * reports success for such a 206): a streamed ranged GET resumes at the first byte not
 * delivered, any other request is retried from the start when it may be.
 *
 * Idempotent requests (GET, HEAD, and POST marked idempotent) are retried on connect
 * errors, resets, truncated bodies, timeouts, 408, 429 and 5xx, up to max_retries times,
 * each after a loop timer of exponential backoff with full jitter, or the Retry-After
 * of a 429/503 when that is longer. A Retry-After beyond retry_after_cap_ms is not
 * waited for: the request ends with -AMP_EHTTP and resp->retry_after tells the caller.
 * TLS failures, refused redirects, range errors, 4xx and bound violations are never
 * retried. A streamed ranged GET that drops mid-body resumes at the first byte not yet
 * delivered; a streamed GET without a range is retried only before its first byte.
 *
 * Everything here belongs to the loop's thread. Header values and bodies are never
 * logged.
 */

struct loop;
struct buf;
struct http;
struct http_request;

/* Bounds. */
#define HTTP_MAX_REDIRECTS 5             /* redirects followed per attempt */
#define HTTP_MAX_HEADERS 32              /* request headers per request */
#define HTTP_HEADER_LINE_MAX 8192        /* bytes of one request header "Name: value" */
#define HTTP_URL_MAX 8192                /* bytes of a request URL */
#define HTTP_POST_BODY_MAX (1u << 20)    /* bytes of a request body (copied at start) */
#define HTTP_BODY_MAX_DEFAULT (4u << 20) /* suggested max of a struct buf response body */
#define HTTP_RESP_VALUE_MAX 256          /* bytes kept of each selected response header */
#define HTTP_RETRIES_MAX 10              /* upper bound of http_config.max_retries */
#define HTTP_RETRY_AFTER_CAP_MS 60000u   /* upper bound of http_config.retry_after_cap_ms */
#define HTTP_PROXY_URL_MAX 1024          /* bytes of http_config.proxy */

struct http_config {
  const char *ca_file;         /* PEM bundle of trusted CAs; NULL: system default */
  const char *ca_dir;          /* c_rehash'd directory of CAs; NULL: system default */
  const char *user_agent;      /* NULL: "ampd/<version>" */
  uint32_t connect_timeout_ms; /* TCP + TLS handshake, per attempt */
  uint32_t low_speed_limit;    /* bytes/s; a transfer slower than this ... */
  uint32_t low_speed_time_s;   /* ... for this long fails with -ETIMEDOUT (0: off) */
  uint32_t max_retries;        /* retries after the first attempt (<= HTTP_RETRIES_MAX) */
  uint32_t backoff_base_ms;    /* first retry waits up to this (full jitter) */
  uint32_t backoff_cap_ms;     /* no backoff wait exceeds this */
  uint32_t retry_after_cap_ms; /* a longer Retry-After is not retried (<= cap define) */
  uint32_t max_connections;    /* open connections in total (>= 1) */
  /* http://host:port or https://host:port of a proxy (user:password@ allowed; never
   * logged), or NULL for none. The environment's proxy variables are never used. */
  const char *proxy;
};

/* Fill c with the defaults: system CAs, 10 s connect timeout, < 1 KiB/s for 20 s is a
 * stall, 3 retries, backoff 250 ms .. 8 s, Retry-After up to 30 s, 8 connections, no
 * proxy. */
void http_config_init(struct http_config *c);

/* A client. The strings of cfg are copied. 0, -EINVAL (bad config, a proxy URL that is
 * not http:// or https://), -ENOMEM, or
 * -AMP_ENETWORK when libcurl cannot be set up. Call from the loop's thread; the first
 * http_new() initialises libcurl globally, so make it before other threads start. */
int http_new(struct loop *l, const struct http_config *cfg, struct http **ret);

/* Cancel every outstanding request (each done callback runs, with -ECANCELED), close the
 * connections, and free the client. Accepts NULL. Not from a callback of this client. */
void http_free(struct http *h);

enum http_method {
  HTTP_GET,
  HTTP_HEAD,
  HTTP_POST,
};

/* What a redirect to another origin does (see the top of this file). */
enum http_redirect {
  HTTP_REDIRECT_SAME_ORIGIN = 0, /* refuse it: -AMP_EREDIRECT (the default) */
  HTTP_REDIRECT_DROP_HEADERS,    /* GET/HEAD: follow it without any of the request's headers */
};

struct http_header {
  /* An RFC 9110 token; not Host, Content-Length, Transfer-Encoding, Connection or Range
   * (curl's framing, and ranges go through opts.ranged so the reply can be checked). */
  const char *name;
  const char *value; /* no CR or LF */
};

/*
 * What the done callback learns. Every pointer is valid only during the callback.
 * err is 0 only for a 2xx status (206 with the exact range for a ranged request).
 */
struct http_response {
  int err;           /* 0 or a negative code, see http_done_fn */
  long status;       /* the final HTTP status, 0 if no response arrived */
  const char *url;   /* the final URL after redirects ("" if unknown) */
  uint32_t attempts; /* attempts made, >= 1 (0 if cancelled before the first one) */
  uint32_t connects; /* new connections the last attempt opened; 0: it reused one */
  uint64_t body_len; /* body bytes delivered (to the buffer or the stream), in total */
  /* Selected headers of the final response, "" when absent; a value longer than
   * HTTP_RESP_VALUE_MAX - 1 bytes (or with a NUL) is dropped: "", never cut. */
  const char *content_type;
  const char *content_range;
  const char *retry_after;
  const char *request_id; /* x-amzn-requestid */
  const char *date;       /* the server's clock when it answered (RFC 9110 §6.6.1) */
};

/*
 * Called exactly once for every request that http_request_start() accepted: from the
 * loop, or from inside http_request_cancel()/http_free() (never from inside
 * http_request_start). resp->err is:
 *   0                 success (2xx)
 *   -AMP_EHTTP        an error status (see resp->status; 3xx: too many redirects)
 *   -AMP_ETLS         TLS handshake or certificate verification failed
 *   -AMP_EINSECURE    a redirect to a non-https URL was refused
 *   -AMP_EREDIRECT    a redirect to another origin was refused, or a POST redirected
 *                     other than by 307/308
 *   -AMP_ENORANGE     a ranged request got a 200 (no byte of it was delivered)
 *   -AMP_EBADRANGE    416, or a Content-Range other than the range asked for
 *   -AMP_ETRUNCATED   the body ended short: the connection dropped in its middle, or
 *                     fewer bytes came than Content-Length or Content-Range said
 *   -AMP_ENETWORK     DNS, connect, reset before the body, or another transport failure
 *   -AMP_ETOOBIG      the body exceeded the max of the caller's struct buf
 *   -ETIMEDOUT        connect timeout, low-speed stall, or the request's timeout
 *   -ECANCELED        http_request_cancel() or http_free()
 *   -ENOMEM, or the negative value the data callback returned.
 * The request is freed when the callback returns. The callback may start and cancel
 * other requests.
 */
typedef void (*http_done_fn)(struct http_request *r, const struct http_response *resp,
                             void *userdata);

/*
 * Stream mode: called with the body of a 2xx response as it arrives. offset is the
 * position of data[0] in the resource: it starts at range_start for a ranged request
 * and only ever increases, with no gap and no repeat, across retries. Return 0, or a
 * negative error to stop the request (done then gets that error, without a retry).
 * The callback may call http_request_cancel() on r or any other request.
 */
typedef int (*http_data_fn)(struct http_request *r, uint64_t offset, const void *data, size_t len,
                            void *userdata);

struct http_request_opts {
  enum http_method method;
  const char *url; /* https://... (copied) */
  const struct http_header *headers;
  size_t n_headers;            /* <= HTTP_MAX_HEADERS */
  const void *body;            /* POST body (copied), may be NULL when body_len is 0 */
  size_t body_len;             /* <= HTTP_POST_BODY_MAX */
  bool idempotent;             /* POST only: safe to retry */
  enum http_redirect redirect; /* cross-origin redirects: refused unless DROP_HEADERS */
  bool ranged; /* GET/HEAD: bytes range_start..range_end (inclusive, end < UINT64_MAX) */
  uint64_t range_start;
  uint64_t range_end;
  uint32_t timeout_ms; /* whole attempt, 0: none besides connect and low-speed */
  /* Where the body goes: at most one of the two; with neither it is discarded. */
  struct buf *body_out; /* caller-owned, must outlive the request. Reset at every
                         * attempt; holds the last attempt's body, also an error
                         * status's body. Past its max: -AMP_ETOOBIG. */
  http_data_fn on_data; /* stream mode: only 2xx bodies are streamed */
  http_done_fn on_done; /* required */
  void *userdata;
};

/*
 * Start a request; it runs from the next loop pass on. Everything in o is copied except
 * body_out and userdata. *ret (optional, may be NULL) is the handle for
 * http_request_cancel(), valid until the done callback returns.
 * Errors (no callback follows): -EINVAL (bad options, bad header, malformed URL),
 * -AMP_EINSECURE (not an https URL: nothing is sent), -AMP_ETOOBIG (a bound above),
 * -ECANCELED (from a done callback run by http_free), -ENOMEM.
 * Logs never show a URL's query, fragment or user:password@ (signed URLs are
 * credentials).
 */
int http_request_start(struct http *h, const struct http_request_opts *o,
                       struct http_request **ret);

/*
 * Stop r now: its done callback runs before this returns, with -ECANCELED, and nothing
 * of r is called after that. Safe from any callback, including r's own data callback.
 * A no-op from inside r's done callback. r must not be used after it returns.
 */
void http_request_cancel(struct http_request *r);

/* ---- The pure parts, exposed for the unit tests and for callers that want them. ---- */

/* 0 if url is an absolute https URL, -AMP_EINSECURE for any other scheme (http:// in
 * particular), -EINVAL when it is malformed or longer than HTTP_URL_MAX. */
int http_url_check(const char *url);

/* 0 if the header may be sent: name a non-empty token, value without CR/LF/control
 * bytes other than tab, both fitting HTTP_HEADER_LINE_MAX; -EINVAL otherwise. */
int http_header_check(const char *name, const char *value);

/* Parse "bytes a-b/n" or "bytes a-b/\*" (then *ret_total is UINT64_MAX). 0 or -EINVAL.
 * Checks a <= b and b < n. */
int http_content_range_parse(const char *v, uint64_t *ret_start, uint64_t *ret_end,
                             uint64_t *ret_total);

/* 0 if Content-Range v says exactly start..end, -AMP_EBADRANGE otherwise (also when v
 * is NULL, empty or malformed). */
int http_content_range_check(const char *v, uint64_t start, uint64_t end);

/* 0 if proxy may be http_config.proxy: an http:// or https:// URL with a host, at most
 * HTTP_PROXY_URL_MAX bytes; -EINVAL otherwise. */
int http_proxy_check(const char *proxy);

/* 0 if the two absolute URLs have the same origin (scheme, host and port, the default
 * port made explicit, case-insensitive), 1 if not, -EINVAL if either is malformed. */
int http_same_origin(const char *a, const char *b);

/* Parse a Retry-After value: delay-seconds or an HTTP-date (relative to now; a date in
 * the past gives 0). *ret_ms is the delay in ms, saturated at UINT32_MAX. 0 or -EINVAL. */
int http_retry_after_parse(const char *v, time_t now, uint64_t *ret_ms);

/* Parse an HTTP-date (a Date header's value) into epoch seconds. 0 or -EINVAL. */
int http_date_parse(const char *v, int64_t *ret_sec);

/*
 * One line of a response's header block as curl hands it to the header callback: len
 * bytes with the line end, not NUL-terminated, any bytes. values[0..n-1] (each
 * HTTP_RESP_VALUE_MAX bytes, NUL-terminated) hold the headers named names[0..n-1] of the
 * response being read:
 *  - HTTP_RESP_STATUS: a status line ("HTTP/..."): a new response starts (after a 1xx or
 *    a redirect), every value is cleared;
 *  - HTTP_RESP_KEPT: "name: value" with name equal to names[*ret_index] (ignoring case):
 *    the value, without the white space (SP, HT) and line end (CR, LF) around it, is
 *    copied to values[*ret_index] whole (a repeated header: the last one counts);
 *  - HTTP_RESP_DROPPED: such a header whose value is longer than HTTP_RESP_VALUE_MAX - 1
 *    bytes or holds a NUL: values[*ret_index] is cleared (read as absent, never cut:
 *    a cut Content-Range or Retry-After could read as another, valid one);
 *  - HTTP_RESP_OTHER: any other line (no colon, another name, the blank line); nothing
 *    changes.
 * *ret_index is set for KEPT and DROPPED only.
 */
enum http_resp_line { HTTP_RESP_STATUS, HTTP_RESP_KEPT, HTTP_RESP_DROPPED, HTTP_RESP_OTHER };
enum http_resp_line http_resp_header_line(const char *line, size_t len, const char *const *names,
                                          size_t n, char (*values)[HTTP_RESP_VALUE_MAX],
                                          size_t *ret_index);

/* Full-jitter backoff before retry number attempt (1 = first retry): a value in
 * [0, min(cap_ms, base_ms * 2^(attempt-1))], chosen by rnd (any 64-bit random). */
uint64_t http_backoff_ms(uint32_t attempt, uint32_t base_ms, uint32_t cap_ms, uint64_t rnd);

#endif
