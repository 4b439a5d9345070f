/* SPDX-License-Identifier: Apache-2.0 */
#include "net/http.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/fds.h"
#include "core/log.h"
#include "core/loop.h"

LOG_TOPIC("http");

#ifndef AMPD_VERSION_STRING
#define AMPD_VERSION_STRING "0.1"
#endif

/* curl >= 7.87 has a distinct "abort" value; 0 works for any non-empty chunk before. */
#ifdef CURL_WRITEFUNC_ERROR
#define WRITE_ABORT CURL_WRITEFUNC_ERROR
#else
#define WRITE_ABORT 0
#endif

/* One socket curl asked us to watch. */
struct http_sock {
  struct http *h;
  struct loop_source *src;
  struct http_sock *prev, *next;
};

struct http {
  struct loop *loop;
  CURLM *multi;
  struct loop_source *timer; /* curl's single timeout */
  struct http_config cfg;    /* its strings point at the copies below */
  char *ca_file, *ca_dir, *user_agent, *proxy;
  struct http_request *reqs; /* every request not yet freed */
  struct http_sock *socks;
  uint64_t rng;       /* xorshift64 state for the backoff jitter */
  unsigned in_curl;   /* > 0 while inside curl_multi_socket_action() */
  unsigned n_zombies; /* finished requests still in the multi (see release()) */
  bool closing;
};

/* A selected response header: where it is kept. */
enum resp_hdr { HDR_CTYPE, HDR_CRANGE, HDR_RETRY_AFTER, HDR_REQID, HDR_DATE, HDR_N };
static const char *const resp_hdr_names[HDR_N] = {
    [HDR_CTYPE] = "content-type",
    [HDR_CRANGE] = "content-range",
    [HDR_RETRY_AFTER] = "retry-after",
    [HDR_REQID] = "x-amzn-requestid",
    [HDR_DATE] = "date",
};

struct http_request {
  struct http *h;
  struct http_request *prev, *next;
  CURL *easy;
  struct curl_slist *hdrs;
  struct loop_source *timer; /* the start of the next attempt */
  enum http_method method;
  bool idempotent, ranged;
  enum http_redirect redirect_policy;
  uint64_t range_start, range_end;
  char *url;          /* the first URL: every attempt starts there */
  char *cur_url;      /* where this attempt is now (after redirects) */
  bool hdrs_dropped;  /* a cross-origin hop took the caller's headers off */
  uint32_t redirects; /* hops followed in this attempt */
  struct buf *body_out;
  http_data_fn on_data;
  http_done_fn on_done;
  void *userdata;

  bool in_multi;  /* the easy handle is added to the multi */
  bool finishing; /* done was called (or is running); no callback ever again */
  bool zombie;    /* finishing, but its removal from the multi waits for curl to return */
  uint32_t attempts;
  long status;
  uint64_t delivered; /* body bytes handed to the caller; across attempts when streaming */
  /* Per attempt. */
  bool checked;      /* status and Content-Range of this response looked at */
  bool deliver;      /* this response's body is for the caller (2xx) */
  bool redirect;     /* this response is a redirect we follow: its body is dropped */
  bool redirect_cut; /* ... and we stopped the transfer at its first body byte */
  uint64_t got;      /* body bytes of this response (2xx) */
  int abort_err;     /* why we stopped the transfer from one of our callbacks */
  char hdr[HDR_N][HTTP_RESP_VALUE_MAX];
  char errbuf[CURL_ERROR_SIZE];
};

static unsigned curl_users; /* http clients alive: curl_global_init/cleanup pairs */

static uint64_t rng_next(struct http *h) {
  uint64_t x = h->rng;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return h->rng = x;
}

/* ---------------------------------------------------------------- config */

void http_config_init(struct http_config *c) {
  *c = (struct http_config){
      .connect_timeout_ms = 10000,
      .low_speed_limit = 1024,
      .low_speed_time_s = 20,
      .max_retries = 3,
      .backoff_base_ms = 250,
      .backoff_cap_ms = 8000,
      .retry_after_cap_ms = 30000,
      .max_connections = 8,
  };
}

/* Copy an optional string: 0 or -ENOMEM. */
static int dup_opt(const char *s, char **ret) {
  *ret = NULL;
  if (s && !(*ret = strdup(s)))
    return -ENOMEM;
  return 0;
}

/* ---------------------------------------------------------------- curl <-> loop */

static void read_completions(struct http *h);
static void reap_zombies(struct http *h);

static void drive(struct http *h, curl_socket_t fd, int flags) {
  int running;
  h->in_curl++;
  CURLMcode mc = curl_multi_socket_action(h->multi, fd, flags, &running);
  h->in_curl--;
  if (mc != CURLM_OK)
    log_debug("curl_multi_socket_action: %s", curl_multi_strerror(mc));
  reap_zombies(h);
  read_completions(h);
}

static void on_io(struct loop_source *s, int fd, uint32_t ev, void *userdata) {
  struct http_sock *hs = userdata;
  int flags = 0;
  if (ev & (EPOLLIN | EPOLLHUP))
    flags |= CURL_CSELECT_IN;
  if (ev & EPOLLOUT)
    flags |= CURL_CSELECT_OUT;
  if (ev & EPOLLERR)
    flags |= CURL_CSELECT_ERR;
  drive(hs->h, fd, flags);
}

static void on_curl_timeout(struct loop_source *s, uint64_t now, void *userdata) {
  drive(userdata, CURL_SOCKET_TIMEOUT, 0);
}

static void sock_free(struct http_sock *hs) {
  struct http *h = hs->h;
  if (hs->prev)
    hs->prev->next = hs->next;
  else
    h->socks = hs->next;
  if (hs->next)
    hs->next->prev = hs->prev;
  loop_source_free(hs->src);
  free(hs);
}

/* CURLMOPT_SOCKETFUNCTION: keep one loop io watch per socket curl uses. */
static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userdata, void *sockp) {
  struct http *h = userdata;
  struct http_sock *hs = sockp;
  if (what == CURL_POLL_REMOVE) {
    if (hs) {
      curl_multi_assign(h->multi, fd, NULL);
      sock_free(hs);
    }
    return 0;
  }
  uint32_t ev = 0;
  if (what & CURL_POLL_IN)
    ev |= EPOLLIN;
  if (what & CURL_POLL_OUT)
    ev |= EPOLLOUT;
  if (hs)
    return loop_io_set_events(hs->src, ev) < 0 ? -1 : 0;
  hs = calloc(1, sizeof(*hs));
  if (!hs)
    return -1;
  hs->h = h;
  if (loop_add_io(h->loop, fd, ev, on_io, hs, &hs->src) < 0) {
    free(hs);
    return -1;
  }
  hs->next = h->socks;
  if (h->socks)
    h->socks->prev = hs;
  h->socks = hs;
  curl_multi_assign(h->multi, fd, hs);
  return 0;
}

/* CURLMOPT_TIMERFUNCTION: curl wants socket_action(TIMEOUT) in timeout_ms (-1: never).
 * 0 means "as soon as possible": the timer fires on the next loop pass, never from
 * inside this callback (curl forbids that recursion). */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userdata) {
  struct http *h = userdata;
  if (timeout_ms < 0) {
    loop_timer_disarm(h->timer);
    return 0;
  }
  /* The real clock, not the pass's cached one: a stale "now" would fire early and make
   * curl re-arm in a loop until the cache catches up. */
  return loop_timer_set(h->timer, clock_mono_usec() + (uint64_t)timeout_ms * 1000) < 0 ? -1 : 0;
}

/* ---------------------------------------------------------------- requests */

static void request_free(struct http_request *r) {
  struct http *h = r->h;
  if (r->prev)
    r->prev->next = r->next;
  else
    h->reqs = r->next;
  if (r->next)
    r->next->prev = r->prev;
  if (r->easy) {
    if (r->in_multi)
      curl_multi_remove_handle(h->multi, r->easy);
    /* The connection stays in the multi's pool for the next request. */
    curl_easy_cleanup(r->easy);
  }
  curl_slist_free_all(r->hdrs);
  loop_source_free(r->timer);
  free(r->url);
  free(r->cur_url);
  free(r);
}

/* After done: free r, unless curl is on the stack (r's own write callback, say), where
 * removing its easy handle is forbidden; then it waits for reap_zombies(). */
static void release(struct http_request *r) {
  if (r->in_multi && r->h->in_curl) {
    r->zombie = true;
    r->h->n_zombies++;
    return;
  }
  request_free(r);
}

static void reap_zombies(struct http *h) {
  if (!h->n_zombies || h->in_curl)
    return;
  struct http_request *r = h->reqs;
  while (r) {
    struct http_request *next = r->next;
    if (r->zombie) {
      h->n_zombies--;
      request_free(r);
    }
    r = next;
  }
}

static const char *method_name(enum http_method m) {
  switch (m) {
  case HTTP_GET:
    return "GET";
  case HTTP_HEAD:
    return "HEAD";
  case HTTP_POST:
    return "POST";
  }
  return "?";
}

static void finish(struct http_request *r, int err) {
  r->finishing = true;
  const char *url = r->cur_url;
  long connects = 0;
  if (r->easy)
    curl_easy_getinfo(r->easy, CURLINFO_NUM_CONNECTS, &connects);
  struct http_response resp = {
      .err = err,
      .status = r->status,
      .url = url ? url : "",
      .attempts = r->attempts,
      .connects = connects > 0 ? (uint32_t)connects : 0,
      .body_len = r->delivered,
      .content_type = r->hdr[HDR_CTYPE],
      .content_range = r->hdr[HDR_CRANGE],
      .retry_after = r->hdr[HDR_RETRY_AFTER],
      .request_id = r->hdr[HDR_REQID],
      .date = r->hdr[HDR_DATE],
  };
  log_debug("%s done after %" PRIu32 " attempt(s): status %ld, %s", method_name(r->method),
            r->attempts, r->status, amp_strerror(err));
  r->on_done(r, &resp, r->userdata);
  release(r);
}

static bool is_redirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* Look at the response once its headers are complete: is its body for the caller, and
 * is it the range we asked for? */
static int check_response(struct http_request *r) {
  r->checked = true;
  curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
  if (is_redirect(r->status)) {
    struct curl_header *loc = NULL;
    r->redirect = curl_easy_header(r->easy, "Location", 0, CURLH_HEADER, -1, &loc) == CURLHE_OK;
    return 0; /* its body is dropped (see on_write) */
  }
  if (r->status < 200 || r->status >= 300)
    return 0; /* an error body: only a struct buf gets it */
  r->deliver = true;
  if (!r->ranged)
    return 0;
  if (r->status == 200)
    return -AMP_ENORANGE; /* the whole resource: never passed off as the range */
  if (r->status != 206)
    return -AMP_EBADRANGE;
  uint64_t from = r->range_start + (r->on_data ? r->delivered : 0);
  return http_content_range_check(r->hdr[HDR_CRANGE], from, r->range_end);
}

static size_t on_write(char *p, size_t size, size_t n, void *userdata) {
  struct http_request *r = userdata;
  size_t len = size * n;
  if (r->finishing)
    return WRITE_ABORT;
  if (!r->checked) {
    int e = check_response(r);
    if (e < 0) {
      r->abort_err = e;
      return WRITE_ABORT;
    }
  }
  if (r->redirect) {
    /* A redirect's body is for browsers, and may be of any length: stop reading it (the
     * connection is closed; the next hop opens or reuses another). */
    r->redirect_cut = true;
    return WRITE_ABORT;
  }
  if (r->deliver && r->ranged && len > r->range_end - r->range_start + 1 - r->delivered) {
    r->abort_err = -AMP_EBADRANGE; /* more bytes than the range holds */
    return WRITE_ABORT;
  }
  if (r->body_out) {
    int e = buf_append(r->body_out, p, len);
    if (e < 0) {
      r->abort_err = e;
      return WRITE_ABORT;
    }
  } else if (r->on_data && r->deliver) {
    uint64_t off = (r->ranged ? r->range_start : 0) + r->delivered;
    int e = r->on_data(r, off, p, len, r->userdata);
    if (r->finishing) /* cancelled from inside the callback */
      return WRITE_ABORT;
    if (e < 0) {
      r->abort_err = e;
      return WRITE_ABORT;
    }
  }
  if (r->deliver) {
    r->delivered += len;
    r->got += len;
  }
  return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *userdata) {
  struct http_request *r = userdata;
  size_t len = size * n;
  if (r->finishing)
    return 0;
  size_t i;
  /* A new response (after a redirect or a 100): keep only the final one's. */
  if (http_resp_header_line(p, len, resp_hdr_names, HDR_N, r->hdr, &i) == HTTP_RESP_STATUS)
    r->checked = r->redirect = false;
  return len;
}

/* Did a 2xx end with fewer bytes than its headers said? (A ranged request asks for
 * exactly its range: every byte of it must arrive. libcurl checks Content-Length only
 * when the connection closes early, not a Content-Length shorter than the range.) */
static bool short_body(struct http_request *r) {
  if (r->method == HTTP_HEAD)
    return false;
  if (r->ranged && r->delivered < r->range_end - r->range_start + 1)
    return true;
  curl_off_t cl = -1;
  if (curl_easy_getinfo(r->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK && cl >= 0 &&
      r->got < (uint64_t)cl)
    return true;
  return false;
}

/* Map a finished transfer to an error, and say whether another attempt may help. */
static int outcome(struct http_request *r, CURLcode res, bool *retryable) {
  *retryable = false;
  if (r->redirect_cut)
    return 0; /* we stopped a redirect's body ourselves: attempt_done follows it */
  if (r->abort_err)
    return r->abort_err;
  switch (res) {
  case CURLE_OK:
    break;
  case CURLE_PARTIAL_FILE:
  case CURLE_RECV_ERROR:
  case CURLE_SEND_ERROR:
  case CURLE_GOT_NOTHING:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
    *retryable = true;
    /* Headers arrived, so a body was under way: the connection dropped inside it. */
    return r->status > 0 ? -AMP_ETRUNCATED : -AMP_ENETWORK;
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_CONNECT:
    *retryable = true;
    return -AMP_ENETWORK;
  case CURLE_OPERATION_TIMEDOUT:
    *retryable = true;
    return -ETIMEDOUT;
  case CURLE_UNSUPPORTED_PROTOCOL:
    /* The first URL was checked to be https, so this is a redirect elsewhere. */
    return -AMP_EINSECURE;
  case CURLE_TOO_MANY_REDIRECTS:
    return -AMP_EHTTP;
  case CURLE_OUT_OF_MEMORY:
    return -ENOMEM;
  case CURLE_URL_MALFORMAT:
    return -EINVAL;
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_SSL_INVALIDCERTSTATUS:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_ENGINE_NOTFOUND:
  case CURLE_SSL_ENGINE_SETFAILED:
  case CURLE_SSL_ENGINE_INITFAILED:
  case CURLE_SSL_SHUTDOWN_FAILED:
  case CURLE_USE_SSL_FAILED:
    return -AMP_ETLS;
  default:
    return -AMP_ENETWORK;
  }
  if (!r->checked) { /* no body byte came: check the headers now */
    int e = check_response(r);
    if (e < 0)
      return e;
  }
  if (r->redirect)
    return 0; /* attempt_done follows it */
  if (r->status >= 200 && r->status < 300) {
    if (short_body(r)) {
      /* The framing was intact but the body is short of what the headers promised:
       * as good as a drop in the middle, and resumed the same way. */
      *retryable = true;
      return -AMP_ETRUNCATED;
    }
    return 0;
  }
  if (r->status == 416 && r->ranged)
    return -AMP_EBADRANGE;
  if (r->status == 408 || r->status == 429 || r->status >= 500)
    *retryable = true;
  return -AMP_EHTTP;
}

static void on_attempt_timer(struct loop_source *s, uint64_t now, void *userdata);

/* Schedule another attempt, or say why not (returns false). */
static bool schedule_retry(struct http_request *r, int err) {
  struct http *h = r->h;
  if (r->method == HTTP_POST && !r->idempotent)
    return false;
  if (r->attempts > h->cfg.max_retries)
    return false;
  /* Streamed bytes cannot be taken back: without a range to resume, the retry would
   * repeat them. */
  if (r->on_data && !r->ranged && r->delivered > 0)
    return false;
  uint64_t delay =
      http_backoff_ms(r->attempts, h->cfg.backoff_base_ms, h->cfg.backoff_cap_ms, rng_next(h));
  uint64_t ra;
  if ((r->status == 429 || r->status == 503) && r->hdr[HDR_RETRY_AFTER][0] &&
      http_retry_after_parse(r->hdr[HDR_RETRY_AFTER], (time_t)clock_wall_sec(), &ra) == 0) {
    if (ra > h->cfg.retry_after_cap_ms)
      return false; /* the server asks for more patience than we have: tell the caller */
    if (ra > delay)
      delay = ra;
  }
  if (loop_timer_set(r->timer, clock_mono_usec() + delay * 1000) < 0)
    return false;
  log_debug("%s attempt %" PRIu32 " failed (%s), retry in %" PRIu64 " ms", method_name(r->method),
            r->attempts, amp_strerror(err), delay);
  return true;
}

static int transfer_begin(struct http_request *r);

/* The Location of the response, resolved against the URL it answered (curl_free it).
 * Any scheme is parsed, so that a foreign one is refused as insecure, not malformed. */
static int location_of(struct http_request *r, char **ret) {
  struct curl_header *h = NULL;
  if (curl_easy_header(r->easy, "Location", 0, CURLH_HEADER, -1, &h) != CURLHE_OK || !h->value[0])
    return -AMP_EHTTP;
  if (strnlen(h->value, HTTP_URL_MAX + 1) > HTTP_URL_MAX)
    return -AMP_ETOOBIG;
  CURLU *u = curl_url();
  if (!u)
    return -ENOMEM;
  int e = -AMP_EHTTP;
  if (curl_url_set(u, CURLUPART_URL, r->cur_url, 0) == CURLUE_OK &&
      curl_url_set(u, CURLUPART_URL, h->value, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_URL, ret, 0) == CURLUE_OK)
    e = 0;
  curl_url_cleanup(u);
  return e;
}

static int follow_to(struct http_request *r, const char *loc);

/* The response was a redirect: 0 and the next hop started, or why it cannot be. */
static int follow(struct http_request *r) {
  if (r->redirects >= HTTP_MAX_REDIRECTS)
    return -AMP_EHTTP;
  char *loc = NULL;
  int e = location_of(r, &loc);
  if (e < 0)
    return e;
  e = http_url_check(loc);
  if (e < 0) {
    curl_free(loc);
    return e == -AMP_EINSECURE ? e : -AMP_EHTTP;
  }
  e = follow_to(r, loc);
  curl_free(loc);
  return e;
}

static int follow_to(struct http_request *r, const char *loc) {
  if (r->method == HTTP_POST && r->status != 307 && r->status != 308)
    return -AMP_EREDIRECT; /* 301/302/303 would turn it into a GET: not ours to decide */
  int other = http_same_origin(r->cur_url, loc);
  if (other < 0)
    return -AMP_EHTTP;
  if (other) {
    /* Another origin: only by the request's leave, and never for a body (a license
     * challenge, a playback event), which is as much the first origin's as its headers. */
    if (r->redirect_policy != HTTP_REDIRECT_DROP_HEADERS || r->method == HTTP_POST)
      return -AMP_EREDIRECT;
    if (!r->hdrs_dropped && curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, NULL) != CURLE_OK)
      return -ENOMEM;
    r->hdrs_dropped = true;
  }
  char *next = strdup(loc);
  if (!next)
    return -ENOMEM;
  free(r->cur_url);
  r->cur_url = next;
  if (curl_easy_setopt(r->easy, CURLOPT_URL, r->cur_url) != CURLE_OK)
    return -ENOMEM;
  r->redirects++;
  log_debug("%s redirect %" PRIu32 " (%ld)%s", method_name(r->method), r->redirects, r->status,
            r->hdrs_dropped ? ", without the request's headers" : "");
  return transfer_begin(r);
}

static void attempt_done(struct http_request *r, CURLcode res) {
  if (res != CURLE_OK && r->errbuf[0])
    log_debug("curl: %s", r->errbuf);
  if (!r->checked)
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
  curl_multi_remove_handle(r->h->multi, r->easy);
  r->in_multi = false;
  bool retryable;
  int err = outcome(r, res, &retryable);
  if (err == 0 && r->redirect) {
    err = follow(r);
    if (err == 0)
      return;
  }
  /* Every byte of the range was streamed before the drop: nothing is left to resume. */
  if (err == -AMP_ETRUNCATED && r->on_data && r->ranged &&
      r->delivered == r->range_end - r->range_start + 1)
    err = 0;
  if (err < 0 && retryable && schedule_retry(r, err))
    return;
  finish(r, err);
}

static void read_completions(struct http *h) {
  CURLMsg *m;
  int left;
  while (h->in_curl == 0 && (m = curl_multi_info_read(h->multi, &left))) {
    if (m->msg != CURLMSG_DONE)
      continue;
    CURLcode res = m->data.result;
    char *priv = NULL;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
    struct http_request *r = (struct http_request *)(void *)priv;
    if (r && !r->finishing)
      attempt_done(r, res);
  }
}

/* One transfer: the first URL of an attempt or a redirect's next hop. */
static int transfer_begin(struct http_request *r) {
  r->checked = r->deliver = r->redirect = r->redirect_cut = false;
  r->abort_err = 0;
  r->status = 0;
  r->got = 0;
  r->errbuf[0] = '\0';
  memset(r->hdr, 0, sizeof(r->hdr));
  if (!r->on_data) {
    /* A buffer (or nothing) starts over; only a stream resumes. */
    r->delivered = 0;
    if (r->body_out)
      buf_reset(r->body_out);
  }
  if (r->ranged) {
    char range[48];
    snprintf(range, sizeof(range), "%" PRIu64 "-%" PRIu64, r->range_start + r->delivered,
             r->range_end);
    if (curl_easy_setopt(r->easy, CURLOPT_RANGE, range) != CURLE_OK)
      return -ENOMEM;
  }
  CURLMcode mc = curl_multi_add_handle(r->h->multi, r->easy);
  if (mc != CURLM_OK)
    return mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -AMP_ENETWORK;
  r->in_multi = true;
  return 0;
}

/* An attempt starts at the first URL, with the caller's headers. */
static int attempt_begin(struct http_request *r) {
  r->attempts++;
  r->redirects = 0;
  if (r->hdrs_dropped || strcmp(r->cur_url, r->url) != 0) {
    char *u = strdup(r->url);
    if (!u)
      return -ENOMEM;
    free(r->cur_url);
    r->cur_url = u;
    if (curl_easy_setopt(r->easy, CURLOPT_URL, r->cur_url) != CURLE_OK ||
        curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->hdrs) != CURLE_OK)
      return -ENOMEM;
    r->hdrs_dropped = false;
  }
  return transfer_begin(r);
}

static void on_attempt_timer(struct loop_source *s, uint64_t now, void *userdata) {
  struct http_request *r = userdata;
  int e = attempt_begin(r);
  if (e < 0)
    finish(r, e);
}

static bool header_forbidden(const char *name) {
  /* Framing and routing are curl's: a caller's value could desynchronise them. Range
   * goes through opts.ranged so that the reply can be checked. */
  static const char *const names[] = {"host", "content-length", "transfer-encoding", "range",
                                      "connection"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    if (strcasecmp(name, names[i]) == 0)
      return true;
  return false;
}

static int check_opts(const struct http_request_opts *o) {
  if (!o->on_done || (o->method != HTTP_GET && o->method != HTTP_HEAD && o->method != HTTP_POST))
    return -EINVAL;
  if (o->body_out && o->on_data)
    return -EINVAL;
  if (o->n_headers > HTTP_MAX_HEADERS)
    return -AMP_ETOOBIG;
  if (o->n_headers && !o->headers)
    return -EINVAL;
  if (o->body_len > HTTP_POST_BODY_MAX)
    return -AMP_ETOOBIG;
  if ((o->body_len && (!o->body || o->method != HTTP_POST)) ||
      (o->idempotent && o->method != HTTP_POST))
    return -EINVAL;
  if (o->ranged &&
      (o->method == HTTP_POST || o->range_start > o->range_end || o->range_end == UINT64_MAX))
    return -EINVAL;
  if (o->redirect != HTTP_REDIRECT_SAME_ORIGIN && o->redirect != HTTP_REDIRECT_DROP_HEADERS)
    return -EINVAL;
  for (size_t i = 0; i < o->n_headers; i++) {
    int e = http_header_check(o->headers[i].name, o->headers[i].value);
    if (e < 0)
      return e;
    if (header_forbidden(o->headers[i].name))
      return -EINVAL;
  }
  return http_url_check(o->url);
}

/* CURLOPT_OPENSOCKETFUNCTION: every connection socket close-on-exec, atomically (a hook
 * forked by another thread must not inherit it). */
static curl_socket_t open_socket(void *userdata, curlsocktype purpose, struct curl_sockaddr *a) {
  (void)userdata;
  (void)purpose;
  int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
  return fd < 0 ? CURL_SOCKET_BAD : fd;
}

#define SETOPT(easy, opt, val)                                                                     \
  do {                                                                                             \
    if (curl_easy_setopt((easy), (opt), (val)) != CURLE_OK)                                        \
      return -ENOMEM;                                                                              \
  } while (0)

/* The fixed policy and the client's settings on a new easy handle. */
static int easy_setup(struct http_request *r, const struct http_request_opts *o) {
  const struct http_config *c = &r->h->cfg;
  CURL *e = r->easy;
  SETOPT(e, CURLOPT_PRIVATE, (void *)r);
  SETOPT(e, CURLOPT_NOSIGNAL, 1L);
  SETOPT(e, CURLOPT_URL, o->url);
  /* The TLS policy. There is deliberately no way to change any of these. */
  SETOPT(e, CURLOPT_PROTOCOLS_STR, "https");
  SETOPT(e, CURLOPT_REDIR_PROTOCOLS_STR, "https");
  SETOPT(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
  SETOPT(e, CURLOPT_SSL_VERIFYPEER, 1L);
  SETOPT(e, CURLOPT_SSL_VERIFYHOST, 2L);
  /* Redirects are ours (follow()): curl would carry the caller's headers to any host. */
  SETOPT(e, CURLOPT_FOLLOWLOCATION, 0L);
  SETOPT(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
  SETOPT(e, CURLOPT_OPENSOCKETDATA, NULL);
  /* No proxy from the environment: only the configured one, always through CONNECT. A
   * NULL proxy makes curl read http_proxy & co; "" means none. */
  SETOPT(e, CURLOPT_PROXY, c->proxy ? c->proxy : "");
  SETOPT(e, CURLOPT_NOPROXY, "");
  if (c->proxy) {
    SETOPT(e, CURLOPT_HTTPPROXYTUNNEL, 1L);
    SETOPT(e, CURLOPT_PROXY_SSL_VERIFYPEER, 1L);
    SETOPT(e, CURLOPT_PROXY_SSL_VERIFYHOST, 2L);
    SETOPT(e, CURLOPT_PROXY_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (c->ca_file)
      SETOPT(e, CURLOPT_PROXY_CAINFO, c->ca_file);
    if (c->ca_dir)
      SETOPT(e, CURLOPT_PROXY_CAPATH, c->ca_dir);
  }
  if (c->ca_file)
    SETOPT(e, CURLOPT_CAINFO, c->ca_file);
  if (c->ca_dir)
    SETOPT(e, CURLOPT_CAPATH, c->ca_dir);

  SETOPT(e, CURLOPT_USERAGENT, c->user_agent ? c->user_agent : "ampd/" AMPD_VERSION_STRING);
  SETOPT(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms);
  SETOPT(e, CURLOPT_LOW_SPEED_LIMIT, (long)c->low_speed_limit);
  SETOPT(e, CURLOPT_LOW_SPEED_TIME, (long)c->low_speed_time_s);
  SETOPT(e, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
  SETOPT(e, CURLOPT_TCP_KEEPALIVE, 1L);
  SETOPT(e, CURLOPT_ERRORBUFFER, r->errbuf);
  SETOPT(e, CURLOPT_WRITEFUNCTION, on_write);
  SETOPT(e, CURLOPT_WRITEDATA, (void *)r);
  SETOPT(e, CURLOPT_HEADERFUNCTION, on_header);
  SETOPT(e, CURLOPT_HEADERDATA, (void *)r);

  if (o->method == HTTP_HEAD)
    SETOPT(e, CURLOPT_NOBODY, 1L);
  if (o->method == HTTP_POST) {
    SETOPT(e, CURLOPT_POST, 1L);
    SETOPT(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
    SETOPT(e, CURLOPT_COPYPOSTFIELDS, o->body_len ? (const char *)o->body : "");
  }

  for (size_t i = 0; i < o->n_headers; i++) {
    char line[HTTP_HEADER_LINE_MAX + 1];
    const struct http_header *hd = &o->headers[i];
    /* "Name;" is curl's way to send a header with an empty value. */
    if (hd->value[0])
      snprintf(line, sizeof(line), "%s: %s", hd->name, hd->value);
    else
      snprintf(line, sizeof(line), "%s;", hd->name);
    struct curl_slist *l = curl_slist_append(r->hdrs, line);
    if (!l)
      return -ENOMEM;
    r->hdrs = l;
  }
  if (r->hdrs)
    SETOPT(e, CURLOPT_HTTPHEADER, r->hdrs);
  return 0;
}

int http_request_start(struct http *h, const struct http_request_opts *o,
                       struct http_request **ret) {
  if (!h || !o)
    return -EINVAL;
  if (h->closing)
    return -ECANCELED;
  int e = check_opts(o);
  if (e < 0)
    return e;
  struct http_request *r = calloc(1, sizeof(*r));
  if (!r)
    return -ENOMEM;
  r->h = h;
  r->method = o->method;
  r->idempotent = o->method != HTTP_POST || o->idempotent;
  r->redirect_policy = o->redirect;
  r->ranged = o->ranged;
  r->range_start = o->range_start;
  r->range_end = o->range_end;
  r->body_out = o->body_out;
  r->on_data = o->on_data;
  r->on_done = o->on_done;
  r->userdata = o->userdata;
  r->next = h->reqs;
  if (h->reqs)
    h->reqs->prev = r;
  h->reqs = r;

  r->url = strdup(o->url);
  r->cur_url = strdup(o->url);
  r->easy = curl_easy_init();
  if (!r->url || !r->cur_url || !r->easy) {
    e = -ENOMEM;
    goto fail;
  }
  e = easy_setup(r, o);
  if (e < 0)
    goto fail;
  /* The first attempt starts from the loop, so that done never runs inside this call
   * and curl is never entered from inside one of its own callbacks. */
  e = loop_add_timer(h->loop, 0, on_attempt_timer, r, &r->timer);
  if (e < 0)
    goto fail;
  if (ret)
    *ret = r;
  return 0;
fail:
  request_free(r);
  return e;
}

void http_request_cancel(struct http_request *r) {
  if (!r || r->finishing)
    return;
  finish(r, -ECANCELED);
}

/* ---------------------------------------------------------------- client */

int http_new(struct loop *l, const struct http_config *cfg, struct http **ret) {
  if (!l || !cfg || !ret)
    return -EINVAL;
  if (cfg->max_retries > HTTP_RETRIES_MAX || cfg->retry_after_cap_ms > HTTP_RETRY_AFTER_CAP_MS ||
      cfg->max_connections == 0 || cfg->backoff_base_ms > cfg->backoff_cap_ms)
    return -EINVAL;
  if (cfg->proxy && http_proxy_check(cfg->proxy) < 0)
    return -EINVAL;
  /* libcurl (OpenSSL) writes every TLS session's secrets to the file SSLKEYLOGFILE names,
   * read once at curl_global_init: with them a capture shows the tokens. No variable of
   * the environment changes our TLS; the one that would is removed before curl sees it. */
  if (curl_users == 0)
    unsetenv("SSLKEYLOGFILE");
  if (curl_users == 0 && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return -AMP_ENETWORK;
  curl_users++;

  int e = -ENOMEM;
  struct http *h = calloc(1, sizeof(*h));
  if (!h)
    goto fail;
  h->loop = l;
  if (dup_opt(cfg->ca_file, &h->ca_file) < 0 || dup_opt(cfg->ca_dir, &h->ca_dir) < 0 ||
      dup_opt(cfg->user_agent, &h->user_agent) < 0 || dup_opt(cfg->proxy, &h->proxy) < 0)
    goto fail;
  h->cfg = *cfg;
  h->cfg.ca_file = h->ca_file;
  h->cfg.ca_dir = h->ca_dir;
  h->cfg.user_agent = h->user_agent;
  h->cfg.proxy = h->proxy;
  if (getrandom(&h->rng, sizeof(h->rng), GRND_NONBLOCK) != (ssize_t)sizeof(h->rng))
    h->rng = clock_mono_usec();
  h->rng |= 1; /* xorshift must not start at 0 */

  e = loop_add_timer(l, 0, on_curl_timeout, h, &h->timer);
  if (e < 0)
    goto fail;
  loop_timer_disarm(h->timer);

  e = -AMP_ENETWORK;
  struct fd_list before;
  fd_list_read(&before);
  h->multi = curl_multi_init();
  /* libcurl 7.88 opens the multi's wake-up socketpair without SOCK_CLOEXEC. */
  fd_cloexec_new(&before);
  fd_list_done(&before);
  if (!h->multi)
    goto fail;
  if (curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket) != CURLM_OK ||
      curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, (void *)h) != CURLM_OK ||
      curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer) != CURLM_OK ||
      curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, (void *)h) != CURLM_OK ||
      curl_multi_setopt(h->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)cfg->max_connections) !=
          CURLM_OK ||
      curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)cfg->max_connections) != CURLM_OK)
    goto fail;
  *ret = h;
  return 0;
fail:
  http_free(h);
  if (!h && --curl_users == 0)
    curl_global_cleanup();
  return e;
}

void http_free(struct http *h) {
  if (!h)
    return;
  h->closing = true;
  /* Each cancel runs a done callback; starting new requests is refused meanwhile. */
  for (struct http_request *r = h->reqs; r;) {
    if (r->finishing) {
      r = r->next;
      continue;
    }
    http_request_cancel(r);
    r = h->reqs; /* the list may have changed under the callback */
  }
  if (h->multi)
    curl_multi_cleanup(h->multi);
  while (h->socks)
    sock_free(h->socks);
  loop_source_free(h->timer);
  free(h->ca_file);
  free(h->ca_dir);
  free(h->user_agent);
  free(h->proxy);
  free(h);
  if (--curl_users == 0)
    curl_global_cleanup();
}
