/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Device API client (docs/service.md §3-§5): one call = one GET with the playback
 * headers, a token from cloud/lwa per attempt, one refresh and retry on a 401, backoff
 * on 5xx and network errors, the body parsed by cloud/apidoc. And the cursor that walks
 * a container's chunks. See api.h.
 */
#include "cloud/api.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "cloud/lwa.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"
#include "net/http.h"

LOG_TOPIC("api");

#define N_HEADERS 7
#define DEVICE_ID_LEN 32

struct api {
  struct loop *loop;
  struct http *http;
  struct lwa *lwa;
  char *base_url;
  char device_id[DEVICE_ID_LEN + 1];
  char capability[API_CAPABILITY_MAX + 1];
  char language[API_LANGUAGE_MAX + 1];
  bool has_explicit;
  uint32_t timeout_ms, backoff_ms;
  struct api_call *calls; /* a doubly linked list */
  size_t n_calls;
};

struct api_call {
  struct api *api;
  struct api_call *prev, *next;
  enum api_kind kind;
  char *url;
  api_done_fn done;
  void *userdata;
  struct loop_source *timer; /* the start, and every backoff */
  struct http_request *req;
  bool waiting_token, retried_401, in_done;
  unsigned retries;
  char auth[sizeof("Bearer ") + LWA_TOKEN_MAX];
  struct buf body;
};

static const char *kind_name(enum api_kind k) {
  return k == API_DOCUMENT ? "document" : k == API_AUDIO ? "audio object" : "error report";
}

static size_t kind_max(enum api_kind k) {
  return k == API_DOCUMENT ? APIDOC_MAX_BYTES
         : k == API_AUDIO  ? APIDOC_AUDIO_MAX_BYTES
                           : APIDOC_ERROR_MAX_BYTES;
}

/* ---------------------------------------------------------------- configuration */

static bool capability_ok(const char *s) {
  static const char *const known[] = {"STD_RES", "HI_FI", "HI_RES", "THREE_DIMENSIONAL",
                                      "REAL_AUDIO_360"};
  if (!s[0] || strlen(s) > API_CAPABILITY_MAX)
    return false;
  unsigned seen = 0;
  const char *p = s;
  for (;;) {
    size_t l = strcspn(p, ",");
    bool found = false;
    for (unsigned i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
      if (strlen(known[i]) == l && memcmp(p, known[i], l) == 0) {
        if (seen & (1u << i))
          return false; /* twice */
        seen |= 1u << i;
        found = true;
      }
    }
    if (!found)
      return false;
    if (!p[l])
      return true;
    p += l + 1;
  }
}

static bool device_id_ok(const char *s) {
  if (strlen(s) != DEVICE_ID_LEN)
    return false;
  for (size_t i = 0; i < DEVICE_ID_LEN; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return false;
  return true;
}

static bool language_ok(const char *s) {
  if (!s[0] || strlen(s) > API_LANGUAGE_MAX)
    return false;
  for (const char *p = s; *p; p++)
    if (*p < 0x20 || *p > 0x7e)
      return false;
  return true;
}

int api_new(struct loop *l, struct http *h, struct lwa *w, const struct api_config *cfg,
            struct api **ret) {
  if (!l || !h || !w || !cfg || !ret || !cfg->base_url || !cfg->device_id)
    return -EINVAL;
  const char *cap = cfg->capability ? cfg->capability : "STD_RES,HI_FI";
  const char *lang = cfg->accept_language ? cfg->accept_language : "en-US";
  if (!capability_ok(cap) || !device_id_ok(cfg->device_id) || !language_ok(lang))
    return -EINVAL;
  int r = http_url_check(cfg->base_url);
  if (r < 0)
    return r;
  struct api *a = calloc(1, sizeof(*a));
  if (!a || !(a->base_url = strdup(cfg->base_url))) {
    free(a);
    return -ENOMEM;
  }
  a->loop = l;
  a->http = h;
  a->lwa = w;
  memcpy(a->device_id, cfg->device_id, DEVICE_ID_LEN + 1);
  memcpy(a->capability, cap, strlen(cap) + 1);
  memcpy(a->language, lang, strlen(lang) + 1);
  a->has_explicit = cfg->has_explicit;
  a->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : API_TIMEOUT_DEFAULT_MS;
  a->backoff_ms = cfg->backoff_ms ? cfg->backoff_ms : API_BACKOFF_DEFAULT_MS;
  *ret = a;
  return 0;
}

const char *api_root(const struct api *a) {
  return a ? a->base_url : NULL;
}

/* ---------------------------------------------------------------- one call */

static void on_token(int err, const char *token, void *ud);

static void call_free(struct api_call *c) {
  struct api *a = c->api;
  if (c->prev)
    c->prev->next = c->next;
  else
    a->calls = c->next;
  if (c->next)
    c->next->prev = c->prev;
  a->n_calls--;
  if (c->waiting_token)
    lwa_cancel_waiter(a->lwa, on_token, c);
  loop_source_free(c->timer);
  explicit_bzero(c->auth, sizeof(c->auth));
  if (c->body.data)
    explicit_bzero(c->body.data, c->body.len);
  buf_done(&c->body);
  free(c->url);
  free(c);
}

/* Call done once and free c. */
static void finish(struct api_call *c, int err, struct api_reply *reply) {
  struct api_reply empty = {0};
  if (!reply)
    reply = &empty;
  log_debug("%s: %s (status %ld)", kind_name(c->kind), err ? amp_strerror(err) : "ok",
            reply->status);
  c->in_done = true;
  c->done(c->userdata, err, reply);
  call_free(c);
}

static uint32_t jittered(uint32_t ms) {
  uint32_t x = 0;
  if (getrandom(&x, sizeof(x), GRND_NONBLOCK) != (ssize_t)sizeof(x))
    x = (uint32_t)clock_mono_usec(); /* jitter only: any spread will do */
  return ms / 2 + x % (ms / 2 + 1);
}

static void arm(struct api_call *c, uint64_t delay_ms) {
  loop_timer_set(c->timer, clock_mono_usec() + delay_ms * 1000u);
}

/* Get a token, then send. */
static void begin(struct api_call *c) {
  c->waiting_token = true;
  int r = lwa_get_token(c->api->lwa, on_token, c);
  if (r < 0) {
    c->waiting_token = false;
    finish(c, r, NULL);
  }
  /* else on_token runs: maybe already (c may be gone), maybe later */
}

static void on_timer(struct loop_source *s, uint64_t now, void *ud) {
  (void)s;
  (void)now;
  begin(ud);
}

static void on_http(struct http_request *rq, const struct http_response *resp, void *ud);

static uint64_t retry_wait_ms(const struct api_call *c, const struct http_response *resp);

/* The refresh a call waited for failed in passing: a 5xx or a network error of LWA, which
 * cloud/lwa retries on its own backoff. */
static bool token_err_passing(int err) {
  return err == -AMP_EHTTP || err == -AMP_ENETWORK || err == -ETIMEDOUT || err == -AMP_ETRUNCATED;
}

static void on_token(int err, const char *token, void *ud) {
  struct api_call *c = ud;
  struct api *a = c->api;
  c->waiting_token = false;
  if (err < 0) {
    /* The call's own retries cover a refresh failing in passing as they cover the same
     * errors of the Device API: without them, every call waiting for the token (each
     * track's audio object after a 401) failed at the refresh's first 503. */
    if (token_err_passing(err) && c->retries < API_RETRIES_MAX) {
      c->retries++;
      struct http_response none = {0};
      uint64_t ms = retry_wait_ms(c, &none);
      log_debug("%s: the token refresh failed (%s), retry %u in %llu ms", kind_name(c->kind),
                amp_strerror(err), c->retries, (unsigned long long)ms);
      arm(c, ms);
      return;
    }
    finish(c, err, NULL);
    return;
  }
  size_t tl = strlen(token);
  if (tl > LWA_TOKEN_MAX) {
    finish(c, -AMP_ETOOBIG, NULL);
    return;
  }
  memcpy(c->auth, "Bearer ", 7);
  memcpy(c->auth + 7, token, tl + 1);
  struct http_header h[N_HEADERS] = {
      {"Authorization", c->auth},
      {"X-Amzn-Audio-DRMType", "WIDEVINE"},
      {"X-Amzn-Audio-Device-Capability", a->capability},
      {"X-Amzn-Device-Id", a->device_id},
      {"hasExplicit", a->has_explicit ? "true" : "false"},
      {"Accept-Language", a->language},
      {"Accept", "application/json"},
  };
  if (c->body.data)
    explicit_bzero(c->body.data, c->body.len);
  buf_reset(&c->body);
  struct http_request_opts o = {.method = HTTP_GET,
                                .url = c->url,
                                .headers = h,
                                .n_headers = N_HEADERS,
                                .timeout_ms = a->timeout_ms,
                                .body_out = &c->body,
                                .on_done = on_http,
                                .userdata = c};
  int r = http_request_start(a->http, &o, &c->req);
  if (r < 0) {
    c->req = NULL;
    finish(c, r, NULL);
  }
}

static bool passing(const struct http_response *resp) {
  if (resp->err == -AMP_EHTTP)
    return resp->status >= 500 || resp->status == 408 || resp->status == 429;
  return resp->err == -AMP_ENETWORK || resp->err == -AMP_ETRUNCATED || resp->err == -ETIMEDOUT;
}

/* The wait before retry number c->retries (1-based): Retry-After when it is a small
 * number of seconds, else backoff_ms doubling, jittered. */
static uint64_t retry_wait_ms(const struct api_call *c, const struct http_response *resp) {
  const char *ra = resp->retry_after;
  if (ra && ra[0] && strspn(ra, "0123456789") == strlen(ra) && strlen(ra) <= 6) {
    unsigned long s = strtoul(ra, NULL, 10);
    return (uint64_t)(s > API_RETRY_AFTER_MAX_S ? API_RETRY_AFTER_MAX_S : s) * 1000u;
  }
  uint64_t ms = (uint64_t)c->api->backoff_ms << (c->retries - 1);
  return jittered(ms > 60000u ? 60000u : (uint32_t)ms);
}

/* The audio object's `expires` is the service's clock; what decides whether it has passed
 * is ours (clock_wall_usec). When the two disagree by more than AUDIO_SKEW_MAX_MS (ours
 * set wrong, or jumped since: an NTP step), an object would be expired on arrival, or
 * trusted past its end: move `expires` by the difference, read from the reply's Date
 * (the service's clock as it answered). Within it, or without a Date, it stays as given. */
#define AUDIO_SKEW_MAX_MS 5000
static void expires_to_local(struct apidoc_audio *a, const char *date) {
  int64_t server_s;
  if (!date || !date[0] || http_date_parse(date, &server_s) < 0)
    return;
  int64_t skew_ms = clock_wall_usec() / 1000 - server_s * 1000;
  if (skew_ms > -AUDIO_SKEW_MAX_MS && skew_ms < AUDIO_SKEW_MAX_MS)
    return;
  log_debug("the service's clock is %+lld s from ours: the audio object's expiry moved",
            (long long)(-skew_ms / 1000));
  if ((skew_ms > 0 && a->expires_ms > INT64_MAX - skew_ms) ||
      (skew_ms < 0 && a->expires_ms < INT64_MIN - skew_ms))
    return;
  a->expires_ms += skew_ms;
}

static void on_http(struct http_request *rq, const struct http_response *resp, void *ud) {
  (void)rq;
  struct api_call *c = ud;
  c->req = NULL;
  struct api_reply reply = {.status = resp->status};
  int err = resp->err;
  const char *body = (const char *)c->body.data;
  size_t len = c->body.len;
  if (err == 0) {
    switch (c->kind) {
    case API_DOCUMENT:
      err = apidoc_parse(body, len, resp->url && resp->url[0] ? resp->url : c->url, &reply.doc);
      break;
    case API_AUDIO:
      err = apidoc_audio_parse(body, len, &reply.audio);
      if (err == 0)
        expires_to_local(reply.audio, resp->date);
      break;
    case API_REPORT:
      err = apidoc_general_error(body, len, &reply.report);
      break;
    }
    finish(c, err, &reply);
    return;
  }
  if (err == -ECANCELED) {
    finish(c, err, &reply);
    return;
  }
  if (err == -AMP_EHTTP && resp->status == 401) {
    if (c->retried_401) {
      finish(c, -EACCES, &reply);
      return;
    }
    c->retried_401 = true;
    lwa_token_rejected(c->api->lwa, c->auth + 7);
    explicit_bzero(c->auth, sizeof(c->auth));
    arm(c, 0); /* then a token: the refresh's */
    return;
  }
  if (err == -AMP_EHTTP && resp->status == 409) {
    if (apidoc_general_error(body, len, &reply.report) < 0)
      reply.report = NULL;
    finish(c, -AMP_EREPORT, &reply);
    return;
  }
  if (passing(resp) && c->retries < API_RETRIES_MAX) {
    c->retries++;
    uint64_t ms = retry_wait_ms(c, resp);
    log_debug("%s: %s (status %ld), retry %u in %llu ms", kind_name(c->kind), amp_strerror(err),
              resp->status, c->retries, (unsigned long long)ms);
    arm(c, ms);
    return;
  }
  finish(c, err, &reply);
}

int api_get(struct api *a, enum api_kind kind, const char *url, api_done_fn done, void *userdata,
            struct api_call **ret) {
  if (!a || !url || !done || (kind != API_DOCUMENT && kind != API_AUDIO && kind != API_REPORT))
    return -EINVAL;
  int r = http_url_check(url);
  if (r < 0)
    return r;
  if (a->n_calls >= API_CALLS_MAX)
    return -EBUSY;
  struct api_call *c = calloc(1, sizeof(*c));
  if (!c)
    return -ENOMEM;
  c->api = a;
  c->kind = kind;
  c->done = done;
  c->userdata = userdata;
  buf_init(&c->body, kind_max(kind));
  if (!(c->url = strdup(url)) ||
      (r = loop_add_timer(a->loop, clock_mono_usec(), on_timer, c, &c->timer)) < 0) {
    free(c->url);
    free(c);
    return r < 0 ? r : -ENOMEM;
  }
  c->next = a->calls;
  if (a->calls)
    a->calls->prev = c;
  a->calls = c;
  a->n_calls++;
  if (ret)
    *ret = c;
  return 0;
}

void api_cancel(struct api_call *c) {
  if (!c || c->in_done)
    return;
  if (c->req) {
    http_request_cancel(c->req); /* on_http finishes c with -ECANCELED */
    return;
  }
  finish(c, -ECANCELED, NULL);
}

void api_free(struct api *a) {
  if (!a)
    return;
  while (a->calls)
    api_cancel(a->calls);
  free(a->base_url);
  free(a);
}

/* ---------------------------------------------------------------- the cursor */

enum {
  S_INSTANCE,
  S_TITLE,
  S_TAG,
  S_ARTIST,
  S_ALBUM,
  S_COLLECTOR,
  S_ERROR,
  S_AUDIO_URL,
  S_AUDIO_JSON,
  S_IMAGE,
  S_N
};

struct api_cursor {
  struct api *api;
  struct apidoc *doc; /* the current chunk's document */
  const struct apidoc_chunk *chunk;
  uint32_t index; /* of the next track in chunk */
  uint64_t chunk_no;
  unsigned empty_run; /* chunks entered in a row without a track */
  uint32_t next_index;
  struct api_call *call;     /* fetching the next chunk */
  struct loop_source *timer; /* runs step() from the loop */
  api_track_fn cb;
  void *userdata;
  bool busy, freeing;
  struct api_track track;
  char *str[S_N]; /* the track's strings */
};

static void track_clear(struct api_cursor *c) {
  for (int i = 0; i < S_N; i++) {
    free(c->str[i]);
    c->str[i] = NULL;
  }
  c->track = (struct api_track){0};
}

static void deliver(struct api_cursor *c, int err) {
  c->busy = false;
  c->cb(c->userdata, err, err == 0 ? &c->track : NULL);
}

/* Copy s into slot i (NULL stays NULL). */
static int keep(struct api_cursor *c, int i, const char *s, const char **out) {
  *out = NULL;
  if (!s)
    return 0;
  if (!(c->str[i] = strdup(s)))
    return -ENOMEM;
  *out = c->str[i];
  return 0;
}

/* An absolute https URL for ref, in slot i. A local reference is refused: these name
 * things to fetch. */
static int keep_url(struct api_cursor *c, int i, const char *ref, const char **out) {
  *out = NULL;
  if (!ref)
    return 0;
  char url[APIDOC_REF_MAX + 1];
  enum apidoc_ref_kind kind;
  int r = apidoc_resolve(c->doc, ref, &kind, url, sizeof(url));
  if (r < 0)
    return r;
  if (kind != APIDOC_REF_URL)
    return -AMP_EPROTO;
  return keep(c, i, url, out);
}

/* Track index of the current chunk into c->track. [ours] The instance and its
 * definition are objects of the chunk's own document. */
static int build_track(struct api_cursor *c, uint32_t index) {
  track_clear(c);
  const char *ref = c->chunk->tracks[index];
  const struct apidoc_track_instance *ti = NULL;
  const struct apidoc_track_definition *td = NULL;
  int r = apidoc_track_instance(c->doc, ref, &ti);
  if (r == 0)
    r = apidoc_track_definition(c->doc, ti->track_definition, &td);
  if (r == -ENOENT)
    r = -AMP_EPROTO; /* a dangling or non-local reference */
  if (r < 0)
    return r;
  struct api_track *t = &c->track;
  if ((r = keep(c, S_INSTANCE, ref + 1, &t->instance)) < 0 ||
      (r = keep(c, S_TITLE, td->title, &t->title)) < 0 ||
      (r = keep(c, S_TAG, td->track_tag, &t->track_tag)) < 0 ||
      (r = keep(c, S_ARTIST, td->artist, &t->artist)) < 0 ||
      (r = keep(c, S_ALBUM, td->album, &t->album)) < 0 ||
      (r = keep_url(c, S_COLLECTOR, ti->playback_event_collector, &t->collector_url)) < 0 ||
      (r = keep_url(c, S_ERROR, td->error, &t->error_url)) < 0 ||
      (r = keep_url(c, S_AUDIO_URL, td->audio_ref, &t->audio_url)) < 0 ||
      (r = keep(c, S_AUDIO_JSON, td->audio, &t->audio_json)) < 0)
    return r;
  /* The cover is an absolute URL of the service's (image.uri), handed to local clients
   * (MPRIS mpris:artUrl) as it is: only an https one is kept. */
  if (td->image_uri && strncmp(td->image_uri, "https://", 8) == 0 &&
      (r = keep(c, S_IMAGE, td->image_uri, &t->image_url)) < 0)
    return r;
  t->duration = td->duration;
  t->is_explicit = td->is_explicit;
  t->auto_skip = td->auto_skip;
  t->chunk_no = c->chunk_no;
  t->index = index;
  return 0;
}

static void step(struct api_cursor *c);

/* Enter chunk ch of document d (which c now owns) at index. */
static void enter(struct api_cursor *c, struct apidoc *d, const struct apidoc_chunk *ch,
                  uint32_t index) {
  if (d != c->doc) {
    apidoc_free(c->doc);
    c->doc = d;
  }
  c->chunk = ch;
  c->index = index;
  c->chunk_no++;
  c->empty_run++;
}

static void on_chunk(void *ud, int err, struct api_reply *reply) {
  struct api_cursor *c = ud;
  c->call = NULL;
  if (c->freeing) {
    apidoc_free(reply->doc);
    apidoc_error_free(reply->report);
    return;
  }
  if (err < 0) {
    apidoc_free(reply->doc);
    apidoc_error_free(reply->report);
    deliver(c, err); /* the cursor stays: next may be asked again */
    return;
  }
  const struct apidoc_chunk *ch = NULL;
  if (apidoc_chunk(reply->doc, apidoc_result(reply->doc), &ch) < 0) {
    apidoc_free(reply->doc);
    deliver(c, -AMP_EPROTO);
    return;
  }
  enter(c, reply->doc, ch, c->next_index);
  step(c);
}

static void step(struct api_cursor *c) {
  for (;;) {
    if (c->index < c->chunk->n_tracks) {
      uint32_t i = c->index++;
      int r = build_track(c, i);
      if (r == 0)
        c->empty_run = 0;
      deliver(c, r);
      return;
    }
    if (c->empty_run > API_CURSOR_MAX_EMPTY) {
      deliver(c, -AMP_EPROTO); /* a chain of empty chunks (or a loop of pointers) */
      return;
    }
    const struct apidoc_track_pointer *p = &c->chunk->next;
    if (!p->present) {
      deliver(c, -ENOENT);
      return;
    }
    char url[APIDOC_REF_MAX + 1];
    enum apidoc_ref_kind kind;
    int r = apidoc_resolve(c->doc, p->chunk, &kind, url, sizeof(url));
    if (r < 0) {
      deliver(c, r == -ENOENT ? -AMP_EPROTO : r);
      return;
    }
    if (kind == APIDOC_REF_LOCAL) {
      const struct apidoc_chunk *ch = NULL;
      if (apidoc_chunk(c->doc, p->chunk, &ch) < 0) {
        deliver(c, -AMP_EPROTO);
        return;
      }
      enter(c, c->doc, ch, p->index);
      continue;
    }
    c->next_index = p->index;
    r = api_get(c->api, API_DOCUMENT, url, on_chunk, c, &c->call);
    if (r < 0) {
      c->call = NULL;
      deliver(c, r);
    }
    return;
  }
}

static void on_cursor_timer(struct loop_source *s, uint64_t now, void *ud) {
  (void)s;
  (void)now;
  step(ud);
}

int api_cursor_new(struct api *a, struct apidoc *doc, struct api_cursor **ret) {
  if (!a || !doc || !ret) {
    apidoc_free(doc);
    return -EINVAL;
  }
  const struct apidoc_chunk *ch = NULL;
  if (apidoc_chunk(doc, apidoc_result(doc), &ch) < 0) {
    apidoc_free(doc);
    return -ENOENT;
  }
  struct api_cursor *c = calloc(1, sizeof(*c));
  if (!c) {
    apidoc_free(doc);
    return -ENOMEM;
  }
  int r = loop_add_timer(a->loop, clock_mono_usec(), on_cursor_timer, c, &c->timer);
  if (r < 0) {
    apidoc_free(doc);
    free(c);
    return r;
  }
  loop_timer_disarm(c->timer);
  c->api = a;
  c->doc = doc;
  c->chunk = ch;
  *ret = c;
  return 0;
}

void api_cursor_free(struct api_cursor *c) {
  if (!c)
    return;
  c->busy = false;
  if (c->call) {
    c->freeing = true; /* on_chunk only drops what it gets */
    api_cancel(c->call);
  }
  loop_source_free(c->timer);
  track_clear(c);
  apidoc_free(c->doc);
  free(c);
}

int api_cursor_next(struct api_cursor *c, api_track_fn cb, void *userdata) {
  if (!c || !cb)
    return -EINVAL;
  if (c->busy)
    return -EALREADY;
  c->busy = true;
  c->cb = cb;
  c->userdata = userdata;
  return loop_timer_set(c->timer, clock_mono_usec());
}
