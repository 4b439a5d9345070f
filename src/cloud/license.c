/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Amazon license envelope (base64 in JSON, both ways) and the license client on the
 * loop. See license.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <cjson/cJSON.h>

#include "cloud/license.h"
#include "cloud/json.h"
#include "core/b64.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"
#include "net/http.h"

LOG_TOPIC("license");

int license_request_body(const uint8_t *challenge, size_t len, char **ret_json) {
  if (!challenge || len == 0 || !ret_json)
    return -EINVAL;
  if (len > LICENSE_MAX_MESSAGE)
    return -AMP_ETOOBIG;
  static const char head[] = "{\"licenseChallenge\":\"";
  static const char tail[] = "\"}";
  size_t enc = b64_encoded_len(len, 0);
  char *out = malloc(sizeof(head) - 1 + enc + sizeof(tail));
  if (!out)
    return -ENOMEM;
  memcpy(out, head, sizeof(head) - 1);
  b64_encode(challenge, len, out + sizeof(head) - 1, 0);
  memcpy(out + sizeof(head) - 1 + enc, tail, sizeof(tail)); /* with the NUL */
  *ret_json = out;
  return 0;
}

int license_from_reply(const char *json, size_t len, uint8_t **ret_license, size_t *ret_len) {
  if (!json || !ret_license || !ret_len)
    return -EINVAL;
  if (len > LICENSE_MAX_ENVELOPE)
    return -AMP_ETOOBIG;
  cJSON *root = NULL;
  if (json_parse_exact(json, len, LICENSE_MAX_DEPTH, &root) < 0)
    return -AMP_EJSON;
  int r = -AMP_EJSON;
  uint8_t *lic = NULL;
  size_t max = 0;
  const cJSON *v = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "license") : NULL;
  if (!cJSON_IsString(v))
    goto out;
  size_t slen = strlen(v->valuestring);
  max = slen / 4 * 3 + 3; /* b64 decodes to at most this; white space only shrinks it */
  if (max > LICENSE_MAX_MESSAGE)
    max = LICENSE_MAX_MESSAGE;
  lic = malloc(max + 1);
  if (!lic) {
    r = -ENOMEM;
    goto out;
  }
  size_t n = 0;
  r = b64_decode(v->valuestring, slen, lic, max, &n);
  if (r < 0 || n == 0) {
    r = -AMP_ELICENSE;
    goto out;
  }
  *ret_license = lic;
  *ret_len = n;
  lic = NULL;
  r = 0;
out:
  /* A license may carry keys in the clear (ClearKey): no copy of it outlives the call. */
  if (lic)
    explicit_bzero(lic, max + 1);
  free(lic);
  if (cJSON_IsString(v))
    explicit_bzero(v->valuestring, strlen(v->valuestring));
  cJSON_Delete(root);
  return r;
}

/* ---------------------------------------------------------------- the client */

struct license {
  struct loop *loop;
  struct http *http;
  uint32_t backoff_ms, timeout_ms, expiry_test_secs;
  char expiry_value[16];
  license_headers_fn headers;
  license_token_fn on_token_rejected;
  void *userdata;
  struct license_fetch *fetches; /* in flight or waiting, a doubly linked list */
};

struct license_fetch {
  struct license *lc;
  struct license_fetch *prev, *next;
  char *url;
  char *key_name[LICENSE_KEY_HEADERS_MAX], *key_value[LICENSE_KEY_HEADERS_MAX]; /* copies */
  size_t n_key;
  char *body; /* the envelope */
  size_t body_len;
  struct buf reply;          /* bounded by LICENSE_MAX_ENVELOPE */
  struct http_request *req;  /* the attempt in flight */
  struct loop_source *timer; /* the backoff before the retry */
  bool retried_401, retried_503, cancelling, finishing;
  uint8_t net_retries; /* network failures retried so far (<= LICENSE_NET_RETRIES_MAX) */
  unsigned auth_waits; /* headers said -EAGAIN (a refresh runs): waits so far */
  license_done_fn done;
  void *userdata;
};

int license_new(struct loop *l, struct http *h, const struct license_config *cfg,
                struct license **ret) {
  if (!l || !h || !cfg || !ret || cfg->expiry_test_secs > LICENSE_EXPIRY_TEST_MAX)
    return -EINVAL;
  struct license *lc = calloc(1, sizeof(*lc));
  if (!lc)
    return -ENOMEM;
  lc->loop = l;
  lc->http = h;
  lc->backoff_ms = cfg->backoff_ms ? cfg->backoff_ms : LICENSE_BACKOFF_DEFAULT_MS;
  lc->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : LICENSE_TIMEOUT_DEFAULT_MS;
  lc->expiry_test_secs = cfg->expiry_test_secs;
  snprintf(lc->expiry_value, sizeof(lc->expiry_value), "%" PRIu32, cfg->expiry_test_secs);
  lc->headers = cfg->headers;
  lc->on_token_rejected = cfg->on_token_rejected;
  lc->userdata = cfg->userdata;
  *ret = lc;
  return 0;
}

static void fetch_free(struct license_fetch *f) {
  struct license *lc = f->lc;
  if (f->prev)
    f->prev->next = f->next;
  else
    lc->fetches = f->next;
  if (f->next)
    f->next->prev = f->prev;
  loop_source_free(f->timer);
  for (size_t i = 0; i < f->n_key; i++) {
    /* key headers hold cookies and customer ids */
    explicit_bzero(f->key_value[i], strlen(f->key_value[i]));
    free(f->key_name[i]);
    free(f->key_value[i]);
  }
  free(f->url);
  if (f->body)
    explicit_bzero(f->body, f->body_len);
  free(f->body);
  if (f->reply.data)
    explicit_bzero(f->reply.data, f->reply.len);
  buf_done(&f->reply);
  free(f);
}

/* Call done once and free f. */
static void finish(struct license_fetch *f, int err, const uint8_t *lic, size_t len) {
  f->finishing = true;
  if (err < 0)
    log_debug("license fetch failed: %s", amp_strerror(err));
  f->done(f->userdata, err, err == 0 ? lic : NULL, err == 0 ? len : 0);
  fetch_free(f);
}

static int attempt(struct license_fetch *f);

static void on_timer(struct loop_source *s, uint64_t now, void *ud) {
  struct license_fetch *f = ud;
  int e = attempt(f);
  if (e < 0)
    finish(f, e, NULL, 0);
}

static uint32_t jittered(uint32_t ms) {
  uint32_t x = 0;
  if (getrandom(&x, sizeof(x), GRND_NONBLOCK) != (ssize_t)sizeof(x))
    x = (uint32_t)clock_mono_usec(); /* jitter only: any spread will do */
  return ms / 2 + x % (ms / 2 + 1);
}

/* Send f again after a jittered backoff_ms times 2^shift (a loop timer). */
static int retry_later(struct license_fetch *f, unsigned shift) {
  uint64_t ms = (uint64_t)f->lc->backoff_ms << shift;
  uint64_t deadline =
      clock_mono_usec() + (uint64_t)jittered(ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms) * 1000u;
  if (f->timer)
    return loop_timer_set(f->timer, deadline);
  return loop_add_timer(f->lc->loop, deadline, on_timer, f, &f->timer);
}

/* Keep only characters that are safe in a log line (a request id is a UUID). */
static void safe_id(const char *in, char *out, size_t n) {
  size_t k = 0;
  for (size_t i = 0; in && in[i] && k + 1 < n; i++) {
    char c = in[i];
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
        c == '_' || c == '.' || c == ':')
      out[k++] = c;
  }
  out[k] = '\0';
}

/* A failure of the network on the way (not an answer of the server). */
static bool network_failure(const struct http_response *resp) {
  return resp->err == -AMP_ENETWORK || resp->err == -AMP_ETRUNCATED || resp->err == -ETIMEDOUT;
}

static void on_done(struct http_request *req, const struct http_response *resp, void *ud) {
  struct license_fetch *f = ud;
  f->req = NULL;
  if (f->cancelling)
    return; /* license_cancel finishes it */
  char rid[64];
  safe_id(resp->request_id, rid, sizeof(rid));
  log_debug("license reply: status %ld, request id %s", resp->status, rid[0] ? rid : "-");
  int err = resp->err;
  if (err == 0) {
    uint8_t *lic = NULL;
    size_t len = 0;
    err = license_from_reply((const char *)f->reply.data, f->reply.len, &lic, &len);
    if (err < 0) {
      finish(f, err, NULL, 0);
      return;
    }
    finish(f, 0, lic, len);
    explicit_bzero(lic, len);
    free(lic);
    return;
  }
  if (err == -ECANCELED) {
    finish(f, err, NULL, 0);
    return;
  }
  if (err == -AMP_EHTTP && resp->status == 401) {
    if (f->retried_401) {
      finish(f, -EACCES, NULL, 0);
      return;
    }
    f->retried_401 = true;
    if (f->lc->on_token_rejected)
      f->lc->on_token_rejected(f->lc->userdata);
    int e = retry_later(f, 0); /* the refresh runs meanwhile */
    if (e < 0)
      finish(f, e, NULL, 0);
    return;
  }
  if (err == -AMP_EHTTP && resp->status == 503 && !f->retried_503) {
    f->retried_503 = true; /* the service's own rule: once (docs/service.md §8) */
    int e = retry_later(f, 0);
    if (e < 0)
      finish(f, e, NULL, 0);
    return;
  }
  if (network_failure(resp) && f->net_retries < LICENSE_NET_RETRIES_MAX) {
    int e = retry_later(f, f->net_retries++); /* 1, 2, 4, 8 x backoff_ms */
    if (e < 0)
      finish(f, e, NULL, 0);
    return;
  }
  if (err == -AMP_EHTTP) {
    if (resp->status == 403)
      err = -EPERM;
    else if (resp->status == 400)
      err = -EBADMSG;
  }
  finish(f, err, NULL, 0);
}

/* Send f once more (or the first time). 0, or an error for finish(). */
static int attempt(struct license_fetch *f) {
  struct license *lc = f->lc;
  struct http_header hdr[LICENSE_KEY_HEADERS_MAX + LICENSE_AUTH_HEADERS_MAX + 3];
  size_t n = 0;
  if (lc->headers) {
    int e = lc->headers(lc->userdata, hdr, LICENSE_AUTH_HEADERS_MAX, &n);
    if (e == -EAGAIN && f->auth_waits < LICENSE_AUTH_WAITS_MAX) {
      f->auth_waits++; /* no token this moment (a refresh runs): ask again after a backoff */
      return retry_later(f, 0);
    }
    if (e < 0)
      return e;
    if (n > LICENSE_AUTH_HEADERS_MAX)
      return -EINVAL;
  }
  for (size_t i = 0; i < f->n_key; i++)
    hdr[n++] = (struct http_header){f->key_name[i], f->key_value[i]};
  hdr[n++] = (struct http_header){"Content-Type", "application/json"};
  if (lc->expiry_test_secs) {
    hdr[n++] = (struct http_header){"x-amz-music-license-expiration-secs", lc->expiry_value};
    hdr[n++] = (struct http_header){"x-alexa-music-license-expiration-test-duration-secs",
                                    lc->expiry_value};
  }
  if (f->reply.data)
    explicit_bzero(f->reply.data, f->reply.len);
  buf_reset(&f->reply);
  struct http_request_opts o = {.method = HTTP_POST,
                                .url = f->url,
                                .headers = hdr,
                                .n_headers = n,
                                .body = f->body,
                                .body_len = f->body_len,
                                .timeout_ms = lc->timeout_ms,
                                .body_out = &f->reply,
                                .on_done = on_done,
                                .userdata = f};
  int e = http_request_start(lc->http, &o, &f->req);
  if (e < 0)
    f->req = NULL;
  return e;
}

int license_fetch(struct license *lc, const char *url, const struct http_header *key_headers,
                  size_t n, const uint8_t *challenge, size_t len, license_done_fn done,
                  void *userdata, struct license_fetch **ret) {
  if (!lc || !url || (n && !key_headers) || !done)
    return -EINVAL;
  if (n > LICENSE_KEY_HEADERS_MAX)
    return -AMP_ETOOBIG;
  int e = http_url_check(url);
  if (e < 0)
    return e;
  for (size_t i = 0; i < n; i++) {
    if (!key_headers[i].name || !key_headers[i].value ||
        http_header_check(key_headers[i].name, key_headers[i].value) < 0)
      return -EINVAL;
  }
  struct license_fetch *f = calloc(1, sizeof(*f));
  if (!f)
    return -ENOMEM;
  f->lc = lc;
  f->done = done;
  f->userdata = userdata;
  buf_init(&f->reply, LICENSE_MAX_ENVELOPE);
  f->next = lc->fetches;
  if (f->next)
    f->next->prev = f;
  lc->fetches = f;
  e = license_request_body(challenge, len, &f->body);
  if (e < 0)
    goto fail;
  f->body_len = strlen(f->body);
  e = -ENOMEM;
  f->url = strdup(url);
  if (!f->url)
    goto fail;
  for (size_t i = 0; i < n; i++) {
    char *nm = strdup(key_headers[i].name), *v = strdup(key_headers[i].value);
    if (!nm || !v) {
      free(nm);
      free(v);
      goto fail;
    }
    f->key_name[f->n_key] = nm;
    f->key_value[f->n_key++] = v;
  }
  e = attempt(f);
  if (e < 0)
    goto fail;
  if (ret)
    *ret = f;
  return 0;
fail:
  fetch_free(f);
  return e;
}

void license_cancel(struct license_fetch *f) {
  if (!f || f->finishing)
    return;
  f->cancelling = true;
  if (f->req)
    http_request_cancel(f->req);
  finish(f, -ECANCELED, NULL, 0);
}

void license_free(struct license *lc) {
  if (!lc)
    return;
  struct license_fetch *f = lc->fetches;
  while (f) {
    if (f->finishing) { /* (license_free from a done callback breaks the contract) */
      f = f->next;
      continue;
    }
    license_cancel(f);
    f = lc->fetches;
  }
  free(lc);
}
