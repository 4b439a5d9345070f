/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Login with Amazon: code pairing, the access token and its refresh (docs/service.md §2).
 * The contract is in lwa.h; the reasons are here.
 *
 * One request at a time is in flight (a code pair, a poll or a refresh) and one timer
 * says what comes next (the next poll, a retry, the refresh ahead of expiry), so the
 * single flight of refreshes falls out of the shape: a refresh is never started while
 * one runs or waits for its backoff.
 */
#include "cloud/lwa.h"
#include "cloud/lwa_int.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/statefile.h"
#include "net/http.h"

LOG_TOPIC("lwa");

#define SCOPE "amazon_music:access"
#define PATH_CODEPAIR "/auth/o2/create/codepair"
#define PATH_TOKEN "/auth/o2/token"
#define FORM_MAX (8u * 1024)      /* bytes of a request body: two tokens, escaped */
#define REQUEST_TIMEOUT_MS 30000u /* one LWA request, whole */

/* Retry waits after a 5xx or network error, seconds (docs/service.md §2), jittered. */
static const unsigned backoff_s[] = {0, 1, 2, 4, 10, 30, 60};
#define BACKOFF_STEPS (sizeof(backoff_s) / sizeof(backoff_s[0]))

enum op {
  OP_NONE = 0,
  OP_CODEPAIR, /* request a code pair */
  OP_POLL,     /* poll the token endpoint with the device code */
  OP_REFRESH,  /* refresh the access token */
};

struct waiter {
  lwa_token_fn cb;
  void *userdata;
};

struct lwa {
  struct loop *loop;
  struct http *http;
  char *base_url, *client_id, *state_dir;
  lwa_state_fn on_state;
  void *userdata;

  enum lwa_state state;
  int last_err;
  bool pairing; /* lwa_link_start() ran and the pairing has not ended */

  /* LINKING: the current code pair (have_code once one arrived). */
  bool have_code;
  char device_code[LWA_CODE_MAX + 1], user_code[LWA_CODE_MAX + 1], uri[LWA_CODE_MAX + 1];
  int64_t code_expires_wall;  /* epoch seconds, for lwa_link_info */
  uint64_t code_expires_mono; /* usec: when we stop polling and fetch a new pair */
  uint64_t interval_ms;

  /* LINKED: the tokens ("" when none) and the access token's expiry (epoch seconds). */
  char access[LWA_TOKEN_MAX + 1], refresh[LWA_TOKEN_MAX + 1];
  int64_t expires_at;

  struct http_request *req; /* the one request in flight, with op */
  enum op op;
  struct buf reply; /* its body, LWA_REPLY_MAX */
  struct loop_source *timer;
  enum op timer_op; /* what the timer starts; OP_NONE when disarmed */
  unsigned fails;   /* passing failures in a row: the backoff step */
  uint64_t rnd;     /* xorshift state for the jitter */
  bool write_warned;

  struct waiter waiters[LWA_WAITERS_MAX];
  size_t n_waiters;
};

/* ------------------------------------------------------------------ small helpers */

static void wipe(void *p, size_t n) {
  if (p && n)
    explicit_bzero(p, n);
}

static void wipe_reply(struct lwa *w) {
  wipe(w->reply.data, w->reply.cap);
  buf_reset(&w->reply);
}

static uint64_t rnd_next(struct lwa *w) {
  uint64_t x = w->rnd;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  w->rnd = x;
  return x;
}

/* The wait before the retry after `fails` passing failures: the table's value, jittered
 * down by up to half so that many devices do not come back in step. */
static uint64_t backoff_ms(struct lwa *w) {
  unsigned i = w->fails < BACKOFF_STEPS ? w->fails : (unsigned)BACKOFF_STEPS - 1;
  uint64_t ms = (uint64_t)backoff_s[i] * 1000u;
  if (ms == 0)
    return 0;
  return ms / 2 + rnd_next(w) % (ms / 2 + 1);
}

static void arm(struct lwa *w, enum op op, uint64_t delay_ms) {
  w->timer_op = op;
  loop_timer_set(w->timer, clock_mono_usec() + delay_ms * 1000u);
}

static void disarm(struct lwa *w) {
  w->timer_op = OP_NONE;
  loop_timer_disarm(w->timer);
}

/* Append name=value, form-encoded (RFC 1866 §8.2.1: unreserved bytes as they are, the
 * rest %XX; '|' in tokens must be escaped). */
static int form_add(struct buf *b, const char *name, const char *value) {
  static const char hex[] = "0123456789ABCDEF";
  int r = buf_printf(b, "%s%s=", b->len ? "&" : "", name);
  for (const unsigned char *p = (const unsigned char *)value; r == 0 && *p; p++) {
    if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
        *p == '-' || *p == '.' || *p == '_' || *p == '~') {
      r = buf_append_u8(b, *p);
    } else {
      char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
      r = buf_append(b, e, 3);
    }
  }
  return r;
}

/* ------------------------------------------------------------------ state and waiters */

static void set_state(struct lwa *w, enum lwa_state st, int err) {
  w->state = st;
  w->last_err = err;
  if (w->on_state)
    w->on_state(w, st, err, w->userdata);
}

/* Answer every waiting lwa_get_token() caller: the token, or err. Taken one at a time
 * from the live list, so that a callback may withdraw another waiter
 * (lwa_cancel_waiter) safely; at most the callers waiting at the start are answered, so
 * one that asks again inside its callback is not answered in the same round. */
static void answer_waiters(struct lwa *w, int err) {
  size_t n = w->n_waiters;
  char token[LWA_TOKEN_MAX + 1];
  if (err == 0)
    memcpy(token, w->access, sizeof(token));
  while (n-- > 0 && w->n_waiters > 0) {
    struct waiter x = w->waiters[0];
    w->n_waiters--;
    memmove(w->waiters, w->waiters + 1, w->n_waiters * sizeof(w->waiters[0]));
    x.cb(err, err == 0 ? token : NULL, x.userdata);
  }
  wipe(token, sizeof(token));
}

static void forget_tokens(struct lwa *w) {
  wipe(w->access, sizeof(w->access));
  wipe(w->refresh, sizeof(w->refresh));
  w->expires_at = 0;
}

static void forget_code(struct lwa *w) {
  wipe(w->device_code, sizeof(w->device_code));
  w->user_code[0] = w->uri[0] = '\0';
  w->have_code = false;
}

/* ------------------------------------------------------------------ persistence */

static int tokens_save(struct lwa *w) {
  int r = -ENOMEM;
  cJSON *j = cJSON_CreateObject();
  char *text = NULL;
  if (!j || !cJSON_AddNumberToObject(j, "version", 1) ||
      !cJSON_AddStringToObject(j, "refresh_token", w->refresh) ||
      !cJSON_AddStringToObject(j, "access_token", w->access) ||
      !cJSON_AddNumberToObject(j, "expires_at", (double)w->expires_at))
    goto out;
  text = cJSON_PrintUnformatted(j);
  if (!text)
    goto out;
  r = statefile_write(w->state_dir, LWA_TOKEN_FILE, text, strlen(text));
  wipe(text, strlen(text));
out:
  free(text);
  lwa_json_free_wiped(j);
  if (r < 0 && !w->write_warned) {
    /* The tokens stay in memory; without the file the next start must link again. */
    log_warning("cannot save the LWA tokens in %s: %s", w->state_dir, amp_strerror(r));
    w->write_warned = true;
  }
  return r;
}

/* Read the token file: 0 with the tokens set, -ENOENT when there is none, or another
 * error (refused or corrupt; the caller reports it). */
static int tokens_load(struct lwa *w) {
  struct buf b = BUF_INIT(LWA_FILE_MAX);
  struct lwa_token_file f = {0};
  int r = statefile_read(w->state_dir, LWA_TOKEN_FILE, &b);
  if (r < 0)
    goto out;
  r = lwa_parse_file((const char *)b.data, b.len, &f);
  if (r < 0)
    goto out;
  memcpy(w->refresh, f.refresh, sizeof(w->refresh));
  memcpy(w->access, f.access, sizeof(w->access));
  w->expires_at = f.expires_at;
  wipe(&f, sizeof(f));
out:
  wipe(b.data, b.cap);
  buf_done(&b);
  return r;
}

/* ------------------------------------------------------------------ requests */

static void on_http_done(struct http_request *rq, const struct http_response *resp, void *ud);

static int post(struct lwa *w, enum op op, const char *path, struct buf *form) {
  char url[HTTP_URL_MAX];
  int n = snprintf(url, sizeof(url), "%s%s", w->base_url, path);
  if (n < 0 || (size_t)n >= sizeof(url))
    return -AMP_ETOOBIG;
  static const struct http_header headers[] = {
      {"Content-Type", "application/x-www-form-urlencoded;charset=UTF-8"},
      {"Accept", "application/json"},
  };
  wipe_reply(w);
  struct http_request_opts o = {
      .method = HTTP_POST,
      .url = url,
      .headers = headers,
      .n_headers = sizeof(headers) / sizeof(headers[0]),
      .body = form->data,
      .body_len = form->len,
      /* Never retried by net/http: a refresh token may rotate with the reply, and the
       * backoff of docs/service.md §2 is ours. */
      .idempotent = false,
      .timeout_ms = REQUEST_TIMEOUT_MS,
      .body_out = &w->reply,
      .on_done = on_http_done,
      .userdata = w,
  };
  int r = http_request_start(w->http, &o, &w->req);
  if (r == 0)
    w->op = op;
  return r;
}

static int start_codepair(struct lwa *w) {
  struct buf f = BUF_INIT(FORM_MAX);
  int r = form_add(&f, "response_type", "device_code");
  if (r == 0)
    r = form_add(&f, "client_id", w->client_id);
  if (r == 0)
    r = form_add(&f, "scope", SCOPE);
  if (r == 0)
    r = post(w, OP_CODEPAIR, PATH_CODEPAIR, &f);
  buf_done(&f);
  return r;
}

static int start_poll(struct lwa *w) {
  struct buf f = BUF_INIT(FORM_MAX);
  int r = form_add(&f, "grant_type", "device_code");
  if (r == 0)
    r = form_add(&f, "device_code", w->device_code);
  if (r == 0)
    r = form_add(&f, "user_code", w->user_code);
  if (r == 0)
    r = post(w, OP_POLL, PATH_TOKEN, &f);
  wipe(f.data, f.cap);
  buf_done(&f);
  return r;
}

static int start_refresh(struct lwa *w) {
  struct buf f = BUF_INIT(FORM_MAX);
  int r = form_add(&f, "grant_type", "refresh_token");
  if (r == 0)
    r = form_add(&f, "refresh_token", w->refresh);
  if (r == 0)
    r = form_add(&f, "client_id", w->client_id);
  if (r == 0)
    r = post(w, OP_REFRESH, PATH_TOKEN, &f);
  wipe(f.data, f.cap);
  buf_done(&f);
  return r;
}

/* Arm the refresh ahead of expiry (monotonic timer, computed from the wall-clock
 * expiry: the file keeps wall time, the loop runs on monotonic time). */
static void arm_refresh_ahead(struct lwa *w) {
  int64_t left = w->expires_at - LWA_REFRESH_AHEAD_SEC - clock_wall_sec();
  arm(w, OP_REFRESH, left > 0 ? (uint64_t)left * 1000u : 0);
}

/* Whether a failure may pass (retry with backoff) or is an answer (4xx, bad reply). */
static bool passing(const struct http_response *resp) {
  if (resp->err == -AMP_EHTTP)
    return resp->status >= 500 || resp->status == 408 || resp->status == 429;
  return resp->err == -AMP_ENETWORK || resp->err == -ETIMEDOUT || resp->err == -AMP_ETRUNCATED ||
         resp->err == -AMP_ETLS || resp->err == -ENOMEM;
}

/* The LWA error code of a 4xx reply ("" when the body does not carry one). */
static void error_code(const struct lwa *w, char *out, size_t n) {
  lwa_parse_error((const char *)w->reply.data, w->reply.len, out, n);
}

/* What an LWA error code means for us when it ends a pairing or a refresh. */
static int error_of(const char *code) {
  if (strcmp(code, "invalid_grant") == 0)
    return -ENOLINK;
  if (strcmp(code, "unauthorized_client") == 0 || strcmp(code, "invalid_client") == 0)
    return -EACCES;
  return -AMP_EPROTO;
}

/* Parse a token reply into the tokens: 0 or -AMP_EPROTO (nothing changed). */
static int take_tokens(struct lwa *w, bool need_refresh) {
  struct lwa_token_reply t = {0};
  int r = lwa_parse_tokens((const char *)w->reply.data, w->reply.len, need_refresh, &t);
  if (r < 0)
    return r;
  wipe(w->access, sizeof(w->access));
  memcpy(w->access, t.access, sizeof(w->access));
  if (t.refresh[0]) { /* a new refresh token replaces the old (docs/service.md §2) */
    wipe(w->refresh, sizeof(w->refresh));
    memcpy(w->refresh, t.refresh, sizeof(w->refresh));
  }
  w->expires_at = clock_wall_sec() + t.expires_in;
  wipe(&t, sizeof(t));
  return 0;
}

/* End a pairing or a link: UNLINKED with err. drop_file: the link is gone for good. */
static void go_unlinked(struct lwa *w, int err, bool drop_file) {
  disarm(w);
  w->pairing = false;
  w->fails = 0;
  forget_code(w);
  forget_tokens(w);
  if (drop_file) {
    int r = statefile_remove(w->state_dir, LWA_TOKEN_FILE);
    if (r < 0 && r != -ENOENT)
      log_warning("cannot remove the LWA token file: %s", amp_strerror(r));
  }
  answer_waiters(w, err ? err : -ENOLINK);
  set_state(w, LWA_UNLINKED, err);
}

static void codepair_done(struct lwa *w, const struct http_response *resp) {
  if (resp->err < 0) {
    if (passing(resp)) {
      arm(w, OP_CODEPAIR, backoff_ms(w));
      w->fails++;
      return;
    }
    char code[64];
    error_code(w, code, sizeof(code));
    log_debug("code pair refused: HTTP %ld %s (%s)", resp->status, code, amp_strerror(resp->err));
    go_unlinked(w,
                code[0]                   ? error_of(code)
                : resp->err == -AMP_EHTTP ? -AMP_EPROTO
                                          : resp->err,
                false);
    return;
  }
  struct lwa_codepair cp = {0};
  if (lwa_parse_codepair((const char *)w->reply.data, w->reply.len, &cp) < 0) {
    log_debug("code pair reply malformed");
    go_unlinked(w, -AMP_EPROTO, false);
    return;
  }
  forget_code(w);
  memcpy(w->device_code, cp.device_code, sizeof(w->device_code));
  memcpy(w->user_code, cp.user_code, sizeof(w->user_code));
  memcpy(w->uri, cp.uri, sizeof(w->uri));
  w->have_code = true;
  w->interval_ms = cp.interval_ms;
  w->code_expires_wall = clock_wall_sec() + cp.expires_in;
  w->code_expires_mono = clock_mono_usec() + (uint64_t)cp.expires_in * 1000000u;
  wipe(&cp, sizeof(cp));
  w->fails = 0;
  arm(w, OP_POLL, w->interval_ms);
  set_state(w, LWA_LINKING, 0);
}

static void poll_done(struct lwa *w, const struct http_response *resp) {
  if (resp->err == 0) {
    if (take_tokens(w, true) < 0) {
      log_debug("token reply malformed");
      go_unlinked(w, -AMP_EPROTO, false);
      return;
    }
    disarm(w);
    forget_code(w);
    w->pairing = false;
    w->fails = 0;
    tokens_save(w);
    arm_refresh_ahead(w);
    set_state(w, LWA_LINKED, 0);
    return;
  }
  if (passing(resp)) {
    uint64_t b = backoff_ms(w);
    w->fails++;
    arm(w, OP_POLL, b > w->interval_ms ? b : w->interval_ms);
    return;
  }
  char code[64];
  error_code(w, code, sizeof(code));
  if (strcmp(code, "authorization_pending") == 0) {
    arm(w, OP_POLL, w->interval_ms);
  } else if (strcmp(code, "slow_down") == 0) {
    uint64_t cap = w->interval_ms > LWA_INTERVAL_CAP_MS ? w->interval_ms : LWA_INTERVAL_CAP_MS;
    w->interval_ms = w->interval_ms * 2 > cap ? cap : w->interval_ms * 2;
    log_debug("slow_down: polling every %llu ms", (unsigned long long)w->interval_ms);
    arm(w, OP_POLL, w->interval_ms);
  } else if (strcmp(code, "invalid_code_pair") == 0 || strcmp(code, "expired_token") == 0) {
    log_debug("code pair gone (%s): a new one", code);
    arm(w, OP_CODEPAIR, 0);
  } else {
    log_debug("pairing ended: HTTP %ld %s", resp->status, code);
    go_unlinked(w, code[0] ? error_of(code) : -AMP_EPROTO, false);
  }
}

static void refresh_done(struct lwa *w, const struct http_response *resp) {
  int err = resp->err;
  if (err == 0) {
    err = take_tokens(w, false);
    if (err == 0) {
      w->fails = 0;
      tokens_save(w);
      arm_refresh_ahead(w);
      answer_waiters(w, 0);
      return;
    }
    log_debug("refresh reply malformed");
  } else if (passing(resp)) {
    /* Passing: retry after the backoff; callers get the old token while it lasts. */
    arm(w, OP_REFRESH, backoff_ms(w));
    w->fails++;
    log_debug("refresh failed (%s), retry %u", amp_strerror(err), w->fails);
    if (w->access[0] && clock_wall_sec() < w->expires_at)
      answer_waiters(w, 0);
    else
      answer_waiters(w, err);
    return;
  } else {
    char code[64];
    error_code(w, code, sizeof(code));
    log_debug("refresh refused: HTTP %ld %s", resp->status, code);
    if (strcmp(code, "invalid_grant") == 0) {
      go_unlinked(w, -ENOLINK, true);
      return;
    }
    err = code[0] ? error_of(code) : -AMP_EPROTO;
  }
  /* A refusal that is not invalid_grant, or a malformed reply: not retried in a loop
   * (docs/service.md §5); the next lwa_get_token() tries once more. */
  w->last_err = err;
  disarm(w);
  /* Callers get the old token while it lasts. */
  answer_waiters(w, w->access[0] && clock_wall_sec() < w->expires_at ? 0 : err);
}

static void on_http_done(struct http_request *rq, const struct http_response *resp, void *ud) {
  (void)rq;
  struct lwa *w = ud;
  enum op op = w->op;
  w->req = NULL;
  w->op = OP_NONE;
  if (resp->err == -ECANCELED) {
    wipe_reply(w);
    return;
  }
  switch (op) {
  case OP_CODEPAIR:
    codepair_done(w, resp);
    break;
  case OP_POLL:
    poll_done(w, resp);
    break;
  case OP_REFRESH:
    refresh_done(w, resp);
    break;
  case OP_NONE:
    break;
  }
  /* A callback may have started the next request into the same buffer. */
  if (!w->req)
    wipe_reply(w);
}

/* A request that could not even start: treated as a passing failure of that step. */
static void start_failed(struct lwa *w, enum op op, int r) {
  log_debug("cannot start an LWA request: %s", amp_strerror(r));
  if (r == -AMP_EINSECURE || r == -EINVAL || r == -AMP_ETOOBIG) {
    if (op == OP_REFRESH) {
      w->last_err = r;
      answer_waiters(w, r);
    } else {
      go_unlinked(w, r, false);
    }
    return;
  }
  arm(w, op, backoff_ms(w));
  w->fails++;
}

static void on_timer(struct loop_source *s, uint64_t now, void *ud) {
  (void)s;
  (void)now;
  struct lwa *w = ud;
  enum op op = w->timer_op;
  w->timer_op = OP_NONE;
  if (w->req)
    return; /* cannot happen: the timer is armed only with nothing in flight */
  int r = 0;
  switch (op) {
  case OP_CODEPAIR:
    r = start_codepair(w);
    break;
  case OP_POLL:
    if (clock_mono_usec() >= w->code_expires_mono) {
      log_debug("code pair expired: a new one");
      op = OP_CODEPAIR;
      r = start_codepair(w);
    } else {
      r = start_poll(w);
    }
    break;
  case OP_REFRESH:
    r = start_refresh(w);
    break;
  case OP_NONE:
    return;
  }
  if (r < 0)
    start_failed(w, op, r);
}

/* ------------------------------------------------------------------ public */

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d)
    memcpy(d, s, n);
  return d;
}

int lwa_new(struct loop *l, struct http *h, const struct lwa_config *cfg, lwa_state_fn on_state,
            void *userdata, struct lwa **ret) {
  /* An empty client_id is a daemon without a registration: it runs, it cannot link. */
  if (!l || !h || !cfg || !ret || !cfg->base_url || !cfg->client_id || !cfg->state_dir ||
      http_url_check(cfg->base_url) < 0)
    return -EINVAL;
  int r = -ENOMEM;
  struct lwa *w = calloc(1, sizeof(*w));
  if (!w)
    return -ENOMEM;
  w->loop = l;
  w->http = h;
  w->on_state = on_state;
  w->userdata = userdata;
  buf_init(&w->reply, LWA_REPLY_MAX);
  w->rnd = clock_mono_usec() ^ (uint64_t)(uintptr_t)w ^ 0x9e3779b97f4a7c15u;
  if (!w->rnd)
    w->rnd = 1;
  w->base_url = dup_str(cfg->base_url);
  w->client_id = dup_str(cfg->client_id);
  w->state_dir = dup_str(cfg->state_dir);
  if (!w->base_url || !w->client_id || !w->state_dir)
    goto fail;
  /* {lwa} + path: a trailing '/' of the base would make "//auth". */
  size_t bl = strlen(w->base_url);
  if (bl && w->base_url[bl - 1] == '/')
    w->base_url[bl - 1] = '\0';
  r = loop_add_timer(l, UINT64_MAX, on_timer, w, &w->timer);
  if (r < 0)
    goto fail;
  loop_timer_disarm(w->timer);

  r = tokens_load(w);
  if (r == 0) {
    w->state = LWA_LINKED;
    arm_refresh_ahead(w); /* an expired access token: refreshed on the next pass */
  } else {
    forget_tokens(w);
    if (r != -ENOENT) {
      /* Reported once: a refused or corrupt file is removed, so the next start does not
       * see it (an I/O error leaves it for the next try). Never its content. */
      log_warning("LWA token file in %s refused (%s): not linked", w->state_dir, amp_strerror(r));
      if (r == -AMP_EJSON || r == -EPERM || r == -ELOOP || r == -AMP_ETOOBIG)
        statefile_remove(w->state_dir, LWA_TOKEN_FILE);
    }
    w->state = LWA_UNLINKED;
  }
  *ret = w;
  return 0;
fail:
  lwa_free(w);
  return r;
}

void lwa_free(struct lwa *w) {
  if (!w)
    return;
  if (w->req)
    http_request_cancel(w->req); /* its done callback runs now, with -ECANCELED */
  w->req = NULL;
  loop_source_free(w->timer);
  w->timer = NULL;
  struct waiter ws[LWA_WAITERS_MAX];
  size_t n = w->n_waiters;
  memcpy(ws, w->waiters, n * sizeof(ws[0]));
  w->n_waiters = 0;
  for (size_t i = 0; i < n; i++)
    ws[i].cb(-ECANCELED, NULL, ws[i].userdata);
  forget_tokens(w);
  forget_code(w);
  wipe_reply(w);
  buf_done(&w->reply);
  free(w->base_url);
  free(w->client_id);
  free(w->state_dir);
  free(w);
}

enum lwa_state lwa_state(const struct lwa *w) {
  return w->state;
}

int lwa_last_error(const struct lwa *w) {
  return w->last_err;
}

int lwa_link_info(const struct lwa *w, const char **ret_user_code, const char **ret_uri,
                  int64_t *ret_expires_at) {
  if (w->state != LWA_LINKING || !w->have_code)
    return -ENOENT;
  if (ret_user_code)
    *ret_user_code = w->user_code;
  if (ret_uri)
    *ret_uri = w->uri;
  if (ret_expires_at)
    *ret_expires_at = w->code_expires_wall;
  return 0;
}

int lwa_link_start(struct lwa *w) {
  if (w->state == LWA_LINKED)
    return -EISCONN;
  if (w->pairing)
    return -EALREADY;
  if (!w->client_id[0])
    return -ENOKEY;
  disarm(w);
  w->fails = 0;
  w->last_err = 0;
  int r = start_codepair(w);
  if (r < 0)
    return r;
  w->pairing = true;
  return 0;
}

int lwa_unlink(struct lwa *w) {
  if (w->req)
    http_request_cancel(w->req);
  w->req = NULL;
  bool was = w->state != LWA_UNLINKED || w->pairing;
  disarm(w);
  w->pairing = false;
  forget_code(w);
  forget_tokens(w);
  int r = statefile_remove(w->state_dir, LWA_TOKEN_FILE);
  answer_waiters(w, -ENOLINK);
  if (was)
    set_state(w, LWA_UNLINKED, 0);
  return r == -ENOENT ? 0 : r;
}

int lwa_get_token(struct lwa *w, lwa_token_fn cb, void *userdata) {
  if (!w || !cb)
    return -EINVAL;
  if (w->state != LWA_LINKED)
    return -ENOLINK;
  if (w->access[0] && w->expires_at - clock_wall_sec() > LWA_REFRESH_AHEAD_SEC &&
      w->op != OP_REFRESH) {
    char token[LWA_TOKEN_MAX + 1];
    memcpy(token, w->access, sizeof(token));
    cb(0, token, userdata);
    wipe(token, sizeof(token));
    return 0;
  }
  bool backing_off = w->timer_op == OP_REFRESH && w->fails > 0;
  if (backing_off && w->access[0] && clock_wall_sec() < w->expires_at) {
    /* The refresh waits for its backoff and the old token still works: use it. */
    char token[LWA_TOKEN_MAX + 1];
    memcpy(token, w->access, sizeof(token));
    cb(0, token, userdata);
    wipe(token, sizeof(token));
    return 0;
  }
  if (w->n_waiters >= LWA_WAITERS_MAX)
    return -EBUSY;
  w->waiters[w->n_waiters++] = (struct waiter){cb, userdata};
  /* Single flight: one refresh in flight or waiting for its backoff serves everyone. */
  if (w->op == OP_REFRESH || backing_off)
    return 0;
  disarm(w);
  int r = start_refresh(w);
  if (r < 0)
    start_failed(w, OP_REFRESH, r);
  return 0;
}

void lwa_token_rejected(struct lwa *w, const char *token) {
  if (!w || w->state != LWA_LINKED || w->op == OP_REFRESH)
    return;
  if (token && strncmp(token, w->access, sizeof(w->access)) != 0)
    return; /* already replaced */
  /* The token is no good whatever its expiry says: callers wait for the refresh. */
  w->expires_at = 0;
  disarm(w);
  w->fails = 0;
  int r = start_refresh(w);
  if (r < 0)
    start_failed(w, OP_REFRESH, r);
}

int lwa_peek_token(struct lwa *w, char *out, size_t n) {
  if (!w || !out || n == 0)
    return -EINVAL;
  if (w->state != LWA_LINKED)
    return -ENOLINK;
  int64_t left = w->access[0] ? w->expires_at - clock_wall_sec() : 0;
  bool refreshing = w->op == OP_REFRESH || (w->timer_op == OP_REFRESH && w->fails > 0);
  if (left <= LWA_REFRESH_AHEAD_SEC && !refreshing) {
    disarm(w);
    int r = start_refresh(w);
    if (r < 0)
      start_failed(w, OP_REFRESH, r);
  }
  if (left <= 0)
    return -EAGAIN;
  size_t l = strnlen(w->access, sizeof(w->access));
  if (l >= n)
    return -AMP_ETOOBIG;
  memcpy(out, w->access, l + 1);
  return 0;
}

void lwa_cancel_waiter(struct lwa *w, lwa_token_fn cb, void *userdata) {
  if (!w)
    return;
  size_t k = 0;
  for (size_t i = 0; i < w->n_waiters; i++)
    if (w->waiters[i].cb != cb || w->waiters[i].userdata != userdata)
      w->waiters[k++] = w->waiters[i];
  w->n_waiters = k;
}
