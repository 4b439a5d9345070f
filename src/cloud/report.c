/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The playback-event reporter: serializer, durable queue, ordered sender. See report.h.
 */
#include "cloud/report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "cloud/evqueue.h"
#include "cloud/json.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"
#include "net/http.h"

LOG_TOPIC("report");

#define BACKOFF_MIN_DEFAULT_MS 1000u
#define BACKOFF_MAX_DEFAULT_MS 60000u
#define TIMEOUT_DEFAULT_MS 30000u

struct report {
  struct loop *loop;
  struct http *http;
  struct evqueue *q;
  report_headers_fn headers;
  report_stop_fn on_stop;
  report_token_fn on_token_rejected;
  void *userdata;
  uint32_t backoff_min_ms, backoff_max_ms, timeout_ms;

  struct http_request *inflight; /* at most one request at a time: order */
  struct loop_source *timer;     /* the backoff wait (lazily made) */
  bool waiting;                  /* timer armed */
  bool freeing;

  uint64_t cur_seq;   /* the head record the counters below are about */
  uint32_t failures;  /* failed sends of cur_seq in a row */
  bool retried_401;   /* cur_seq already had its one retry after a 401 */
  bool append_failed; /* the last append failed (logged once per streak) */
  struct report_stats st;
};

static void kick(struct report *r);

/* ---------------------------------------------------------------- serializer */

static const char *const type_names[] = {
    [REPORT_STARTED] = "PLAYBACK_STARTED",   [REPORT_PAUSED] = "PLAYBACK_PAUSED",
    [REPORT_RESUMED] = "PLAYBACK_RESUMED",   [REPORT_SEEKED] = "PLAYBACK_SEEKED",
    [REPORT_PROGRESS] = "PLAYBACK_PROGRESS", [REPORT_STOPPED] = "PLAYBACK_STOPPED",
    [REPORT_FINISHED] = "PLAYBACK_FINISHED", [REPORT_ERROR] = "PLAYBACK_ERROR",
};

const char *report_type_name(enum report_type t) {
  if ((unsigned)t >= sizeof(type_names) / sizeof(type_names[0]))
    return NULL;
  return type_names[t];
}

int report_uuid_v4(char out[REPORT_EVENT_ID_SIZE]) {
  uint8_t b[16];
  size_t got = 0;
  while (got < sizeof(b)) {
    ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    got += (size_t)n;
  }
  b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
  b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* variant 10 */
  static const char hex[] = "0123456789abcdef";
  size_t k = 0;
  for (size_t i = 0; i < sizeof(b); i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      out[k++] = '-';
    out[k++] = hex[b[i] >> 4];
    out[k++] = hex[b[i] & 0x0f];
  }
  out[k] = '\0';
  return 0;
}

static bool str_ok(const char *s, size_t max) {
  if (!s || !s[0])
    return false;
  return strnlen(s, max + 1) <= max;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" into out (at least 32 bytes). */
static int iso8601(int64_t wall_usec, char *out, size_t n) {
  int64_t ms = wall_usec / 1000, sec;
  if (wall_usec % 1000 < 0)
    ms--; /* floor */
  sec = ms / 1000;
  int64_t frac = ms % 1000;
  if (frac < 0) {
    frac += 1000;
    sec--;
  }
  time_t t = (time_t)sec;
  struct tm tm;
  if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
    return -EINVAL;
  int w = snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                   tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
  return w > 0 && (size_t)w < n ? 0 : -EINVAL;
}

int report_event_json(const struct report_event *e, const char *event_id, int64_t wall_usec,
                      char *out, size_t out_size, size_t *ret_len) {
  if (!e || !event_id || !out || out_size == 0)
    return -EINVAL;
  const char *type = report_type_name(e->type);
  if (!type || !str_ok(event_id, REPORT_EVENT_ID_SIZE - 1) ||
      !str_ok(e->track_tag, REPORT_TAG_MAX) || !str_ok(e->quality, REPORT_QUALITY_MAX) ||
      e->offset_ms > REPORT_OFFSET_MAX)
    return -EINVAL;
  if (e->type == REPORT_SEEKED && e->seek_from_ms > REPORT_OFFSET_MAX)
    return -EINVAL;
  if (e->type == REPORT_ERROR && !str_ok(e->error_code, REPORT_ERROR_CODE_MAX))
    return -EINVAL;
  char stamp[32];
  if (iso8601(wall_usec, stamp, sizeof(stamp)) < 0)
    return -EINVAL;

  int r = -ENOMEM;
  cJSON *o = cJSON_CreateObject();
  if (!o || !cJSON_AddStringToObject(o, "eventId", event_id) ||
      !cJSON_AddStringToObject(o, "eventType", type) ||
      !cJSON_AddNumberToObject(o, "offsetInMilliseconds", (double)e->offset_ms) ||
      !cJSON_AddStringToObject(o, "eventTimestamp", stamp) ||
      !cJSON_AddStringToObject(o, "trackTag", e->track_tag) ||
      !cJSON_AddStringToObject(o, "quality", e->quality))
    goto out_free;
  if (e->type == REPORT_SEEKED &&
      !cJSON_AddNumberToObject(o, "seekFromMs", (double)e->seek_from_ms))
    goto out_free;
  if (e->type == REPORT_ERROR && !cJSON_AddStringToObject(o, "errorCode", e->error_code))
    goto out_free;
  /* cJSON asks for 5 bytes of slack beyond what it writes: keep them out of the bound we
   * promise, and check the real length afterwards. */
  char tmp[REPORT_JSON_MAX + 8];
  if (!cJSON_PrintPreallocated(o, tmp, (int)sizeof(tmp), 0)) {
    r = -AMP_ETOOBIG;
    goto out_free;
  }
  size_t len = strlen(tmp);
  if (len + 1 > out_size || len + 1 > REPORT_JSON_MAX) {
    r = -AMP_ETOOBIG;
    goto out_free;
  }
  memcpy(out, tmp, len + 1);
  if (ret_len)
    *ret_len = len;
  r = 0;
out_free:
  cJSON_Delete(o);
  return r;
}

/* ---------------------------------------------------------------- sender */

static uint64_t rnd64(void) {
  uint64_t x = 0;
  if (getrandom(&x, sizeof(x), GRND_NONBLOCK) != (ssize_t)sizeof(x))
    x = clock_mono_usec() * 0x9e3779b97f4a7c15u; /* jitter only: any spread will do */
  return x;
}

/* Equal jitter: half the exponential step plus a random part of the other half, so a
 * wait is never shorter than backoff_min_ms / 2 and never longer than backoff_max_ms. */
static uint64_t backoff_ms(const struct report *r, uint32_t failures) {
  uint64_t d = r->backoff_min_ms;
  for (uint32_t i = 1; i < failures && d < r->backoff_max_ms; i++)
    d *= 2;
  if (d > r->backoff_max_ms)
    d = r->backoff_max_ms;
  return d / 2 + rnd64() % (d / 2 + 1);
}

static void on_timer(struct loop_source *s, uint64_t now, void *ud) {
  struct report *r = ud;
  r->waiting = false;
  kick(r);
}

static void wait_then_kick(struct report *r, uint64_t ms) {
  uint64_t deadline = clock_mono_usec() + ms * 1000u;
  if (!r->timer) {
    if (loop_add_timer(r->loop, deadline, on_timer, r, &r->timer) < 0) {
      log_notice("no timer for the retry; retrying with the next submit");
      return;
    }
  } else {
    loop_timer_set(r->timer, deadline);
  }
  r->waiting = true;
}

/* The head record's URL (into url) and JSON. false if it holds no URL. */
static bool split_record(const struct evqueue_record *rec, char *url, size_t url_size,
                         const uint8_t **ret_json, size_t *ret_len) {
  const uint8_t *nl = rec->len ? memchr(rec->payload, '\n', rec->len) : NULL;
  if (!nl)
    return false;
  size_t ul = (size_t)(nl - rec->payload);
  if (ul == 0 || ul >= url_size)
    return false;
  memcpy(url, rec->payload, ul);
  url[ul] = '\0';
  *ret_json = nl + 1;
  *ret_len = rec->len - ul - 1;
  return true;
}

/* The eventId of the record's JSON into id ("" when unreadable). */
static void record_event_id(const struct evqueue_record *rec, char id[REPORT_EVENT_ID_SIZE]) {
  id[0] = '\0';
  char url[REPORT_URL_MAX];
  const uint8_t *json;
  size_t len;
  if (!split_record(rec, url, sizeof(url), &json, &len))
    return;
  cJSON *o = NULL;
  if (json_parse_exact((const char *)json, len, 4, &o) < 0)
    return;
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "eventId");
  if (cJSON_IsString(v) && strlen(v->valuestring) < REPORT_EVENT_ID_SIZE)
    snprintf(id, REPORT_EVENT_ID_SIZE, "%s", v->valuestring);
  cJSON_Delete(o);
}

static void ack_head(struct report *r, uint64_t seq) {
  int e = evqueue_ack(r->q, seq);
  if (e < 0)
    log_debug("ack of seq %" PRIu64 " not durable: %s", seq, amp_strerror(e));
  r->failures = 0;
  r->retried_401 = false;
}

enum outcome { OUT_OK, OUT_RETRY, OUT_TOKEN, OUT_REJECT };

static enum outcome classify(const struct http_response *resp) {
  if (resp->err == 0)
    return OUT_OK;
  if (resp->err == -AMP_EHTTP && resp->status >= 400 && resp->status < 500) {
    if (resp->status == 401)
      return OUT_TOKEN;
    if (resp->status == 408 || resp->status == 429)
      return OUT_RETRY;
    return OUT_REJECT;
  }
  /* Permanent for this URL: sending it again cannot succeed. */
  if (resp->err == -AMP_EINSECURE || resp->err == -AMP_EREDIRECT)
    return OUT_REJECT;
  return OUT_RETRY;
}

static void on_done(struct http_request *req, const struct http_response *resp, void *ud) {
  struct report *r = ud;
  r->inflight = NULL;
  if (r->freeing || resp->err == -ECANCELED)
    return;
  uint64_t seq = r->cur_seq;
  enum outcome out = classify(resp);
  if (out == OUT_TOKEN && r->retried_401)
    out = OUT_REJECT;
  /* The head may have been dropped for room while in flight (a PROGRESS record): then
   * the outcome is about a record that is gone, and acking its seq is still right. */
  switch (out) {
  case OUT_OK:
    r->st.sent++;
    ack_head(r, seq);
    kick(r);
    return;
  case OUT_TOKEN:
    log_debug("seq %" PRIu64 ": 401, asking for a new token and sending once more", seq);
    r->retried_401 = true;
    r->st.retries++;
    if (r->on_token_rejected)
      r->on_token_rejected(r->userdata);
    wait_then_kick(r, backoff_ms(r, 1));
    return;
  case OUT_RETRY:
    r->failures++;
    r->st.retries++;
    log_debug("seq %" PRIu64 ": %s (status %ld), retry %" PRIu32, seq, amp_strerror(resp->err),
              resp->status, r->failures);
    wait_then_kick(r, backoff_ms(r, r->failures));
    return;
  case OUT_REJECT: {
    char id[REPORT_EVENT_ID_SIZE] = "";
    struct evqueue_record rec;
    if (evqueue_peek(r->q, 0, &rec) == 0 && rec.seq == seq)
      record_event_id(&rec, id);
    log_notice("collector refused seq %" PRIu64 " (status %ld, %s): dropped", seq, resp->status,
               amp_strerror(resp->err));
    r->st.rejected++;
    ack_head(r, seq);
    if (r->on_stop)
      r->on_stop(r->userdata, id, resp->status, resp->err);
    kick(r);
    return;
  }
  }
}

/* Send the head record, unless one is in flight or a backoff is running. */
static void kick(struct report *r) {
  while (!r->inflight && !r->waiting && !r->freeing && evqueue_count(r->q) > 0) {
    struct evqueue_record rec;
    if (evqueue_peek(r->q, 0, &rec) < 0)
      return;
    if (rec.seq != r->cur_seq) {
      r->cur_seq = rec.seq;
      r->failures = 0;
      r->retried_401 = false;
    }
    char url[REPORT_URL_MAX];
    const uint8_t *json;
    size_t len;
    if (!split_record(&rec, url, sizeof(url), &json, &len)) {
      log_notice("queue record seq %" PRIu64 " holds no collector URL: dropped", rec.seq);
      r->st.corrupt++;
      ack_head(r, rec.seq);
      continue;
    }
    struct http_header hdr[REPORT_HEADERS_MAX + 1];
    size_t n = 0;
    if (r->headers) {
      int e = r->headers(r->userdata, hdr, REPORT_HEADERS_MAX, &n);
      if (e < 0 || n > REPORT_HEADERS_MAX) {
        log_debug("no request headers yet (%s): waiting", amp_strerror(e < 0 ? e : -EINVAL));
        r->failures++;
        wait_then_kick(r, backoff_ms(r, r->failures));
        return;
      }
    }
    hdr[n++] = (struct http_header){"Content-Type", "application/json"};
    struct http_request_opts o = {.method = HTTP_POST,
                                  .url = url,
                                  .headers = hdr,
                                  .n_headers = n,
                                  .body = json,
                                  .body_len = len,
                                  .timeout_ms = r->timeout_ms,
                                  .on_done = on_done,
                                  .userdata = r};
    int e = http_request_start(r->http, &o, &r->inflight);
    if (e == 0)
      return;
    r->inflight = NULL;
    if (e == -EINVAL || e == -AMP_EINSECURE || e == -AMP_ETOOBIG) {
      /* This record can never be sent (a URL or body the client refuses). */
      log_notice("queue record seq %" PRIu64 " cannot be sent (%s): dropped", rec.seq,
                 amp_strerror(e));
      r->st.corrupt++;
      ack_head(r, rec.seq);
      continue;
    }
    r->failures++;
    r->st.retries++;
    wait_then_kick(r, backoff_ms(r, r->failures));
    return;
  }
}

/* ---------------------------------------------------------------- lifecycle */

int report_new(struct loop *l, struct http *h, const struct report_config *cfg,
               struct report **ret) {
  if (!l || !h || !cfg || !cfg->queue_path || !ret)
    return -EINVAL;
  struct report *r = calloc(1, sizeof(*r));
  if (!r)
    return -ENOMEM;
  r->loop = l;
  r->http = h;
  r->headers = cfg->headers;
  r->on_stop = cfg->on_stop;
  r->on_token_rejected = cfg->on_token_rejected;
  r->userdata = cfg->userdata;
  r->backoff_min_ms = cfg->backoff_min_ms ? cfg->backoff_min_ms : BACKOFF_MIN_DEFAULT_MS;
  r->backoff_max_ms = cfg->backoff_max_ms ? cfg->backoff_max_ms : BACKOFF_MAX_DEFAULT_MS;
  if (r->backoff_max_ms < r->backoff_min_ms)
    r->backoff_max_ms = r->backoff_min_ms;
  r->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : TIMEOUT_DEFAULT_MS;
  struct evqueue_limits lim = {.max_bytes = cfg->max_bytes,
                               .max_records = cfg->max_records,
                               .droppable_mask = 1ull << REPORT_KIND_PROGRESS};
  int e = evqueue_open(cfg->queue_path, &lim, &r->q);
  if (e < 0) {
    free(r);
    return e;
  }
  kick(r); /* what a previous run left, first */
  *ret = r;
  return 0;
}

void report_free(struct report *r) {
  if (!r)
    return;
  r->freeing = true;
  if (r->inflight)
    http_request_cancel(r->inflight);
  loop_source_free(r->timer);
  evqueue_close(r->q);
  free(r);
}

int report_submit(struct report *r, const struct report_event *e, const char *collector_url,
                  char ret_event_id[REPORT_EVENT_ID_SIZE]) {
  if (!r || !e || !collector_url)
    return -EINVAL;
  size_t ul = strnlen(collector_url, REPORT_URL_MAX);
  if (ul == 0 || ul >= REPORT_URL_MAX || memchr(collector_url, '\n', ul))
    return -EINVAL;
  int err = http_url_check(collector_url);
  if (err < 0)
    return err;
  char id[REPORT_EVENT_ID_SIZE];
  err = report_uuid_v4(id);
  if (err < 0)
    return err;
  char rec[REPORT_URL_MAX + REPORT_JSON_MAX];
  memcpy(rec, collector_url, ul);
  rec[ul] = '\n';
  size_t jl;
  err = report_event_json(e, id, clock_wall_usec(), rec + ul + 1, sizeof(rec) - ul - 1, &jl);
  if (err < 0)
    return err;
  uint8_t kind = e->type == REPORT_PROGRESS ? REPORT_KIND_PROGRESS : REPORT_KIND_EVENT;
  err = evqueue_append(r->q, kind, rec, ul + 1 + jl, NULL);
  if (err < 0) {
    r->st.append_fails++;
    if (!r->append_failed)
      log_warning("playback event not queued: %s", amp_strerror(err));
    r->append_failed = true;
    return err;
  }
  r->append_failed = false;
  r->st.submitted++;
  if (ret_event_id)
    memcpy(ret_event_id, id, REPORT_EVENT_ID_SIZE);
  kick(r);
  return 0;
}

void report_stats(const struct report *r, struct report_stats *ret) {
  *ret = r->st;
  struct evqueue_stats qs;
  evqueue_stats(r->q, &qs);
  ret->pending = qs.pending;
  ret->dropped = qs.dropped;
}
