/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The segment fetcher (fetcher.h; behaviour in docs/media.md §14). One request at a
 * time: a track is fetched in file order, so one connection suffices and a second
 * request would only compete with the first for the same bandwidth. User callbacks run
 * only from the pump, a zero-delay timer of our own, never from inside net/http's
 * callbacks or a fetcher_* call: the consumer may then call any fetcher_* function,
 * fetcher_free included, from any callback.
 */
#include "media/fetcher.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"
#include "media/manifest.h"
#include "net/http.h"

LOG_TOPIC("fetcher");

/* Session renewals (expire()) in a row without a segment completed before the track
 * fails: a session refused for a reason of its own (a header the CDN wants for its
 * segments, say) is not renewed for ever. */
#define RENEWALS_MAX 4

/* What the fetcher keeps of a rep: copied, so the manifest may go. */
struct rep_copy {
  const struct manifest_rep *tag; /* the caller's pointer, handed back in chunks */
  char *url;
  struct manifest_range init;
  struct manifest_segment *segs;
  size_t n;
  uint32_t timescale;
};

struct hdrs {
  struct http_header h[HTTP_MAX_HEADERS];
  char *block; /* names and values, NUL-terminated, back to back */
  size_t n;
};

struct chunk {
  struct chunk *next;
  struct fetcher_chunk pub;
  uint8_t *data;
  uint64_t first, last; /* the file range it holds */
  size_t filled;
  bool delivered;
};

enum state {
  ST_RUN,
  ST_EXPIRED, /* waiting for fetcher_rebase */
  ST_FAILED,  /* waiting for fetcher_seek or fetcher_rebase */
};

struct fetcher {
  struct loop *loop;
  struct http *http;
  struct fetcher_config cfg;
  struct fetcher_callbacks cb;
  struct loop_source *pump;
  struct loop_source *retry; /* the wait before another round */

  struct rep_copy cur, pend;
  bool has_pend;
  struct hdrs hdrs;

  enum state state;
  size_t next;    /* the next segment to request */
  bool need_init; /* the next request starts with the init */
  enum fetcher_init_reason init_reason;
  int expiries;    /* expiries since a request last completed */
  int renewals;    /* expiries since a segment last completed, < RENEWALS_MAX */
  int err_pending; /* on_error to call */
  bool expired_pending;

  /* Held chunks in file order (handed out or about to be): at most FETCHER_HELD_MAX. */
  struct chunk *head, *tail;
  size_t n_chunks; /* held + in flight */
  size_t bytes;    /* their allocations */

  /* The request in flight. */
  struct http_request *req;
  struct chunk *fl_init, *fl_seg;
  uint64_t fl_t0;
  uint64_t fl_next; /* the first file byte not received yet */
  bool cancelling;
  /* The server ignored a Range (200): each request reads the file from its first byte
   * (no Range header), keeps the bytes of the chunks in flight and is cut once they are
   * full. cut: the request in flight was stopped for that (a success). */
  bool whole;
  bool cut;
  /* Rounds: net/http gave up on a retryable error; the partial chunks stay and the next
   * round asks for the bytes from fl_next on. */
  uint32_t rounds; /* failed rounds in a row */
  bool waiting;    /* for the retry timer */
  uint64_t rng;

  bool sample_pending;
  uint64_t sample_bytes, sample_usec;

  int busy;  /* pump depth */
  bool dead; /* fetcher_free from a callback: destroy when the pump returns */
};

void fetcher_config_init(struct fetcher_config *c) {
  *c = (struct fetcher_config){.target_ms = FETCHER_TARGET_MS_DEFAULT,
                               .cap_bytes = FETCHER_CAP_DEFAULT,
                               .merge_gap = FETCHER_MERGE_GAP_DEFAULT,
                               .expires_ms = 0,
                               .retry_rounds = FETCHER_RETRY_ROUNDS_DEFAULT,
                               .retry_base_ms = FETCHER_RETRY_BASE_MS_DEFAULT,
                               .retry_cap_ms = FETCHER_RETRY_CAP_MS_DEFAULT};
}

/* ---------------------------------------------------------------- copies */

static void rep_done(struct rep_copy *r) {
  free(r->url);
  free(r->segs);
  memset(r, 0, sizeof(*r));
}

static int rep_copy(const struct manifest_rep *rep, struct rep_copy *out) {
  if (!rep || !rep->url || rep->url_is_path || !rep->has_init || rep->n_segments == 0 ||
      rep->timescale == 0 || rep->init.first > rep->init.last)
    return -EINVAL;
  if (http_url_check(rep->url) < 0)
    return -EINVAL;
  if (rep->init.last - rep->init.first >= FETCHER_INIT_MAX)
    return -AMP_ETOOBIG;
  if (rep->n_segments > MANIFEST_MAX_SEGMENTS)
    return -AMP_ETOOBIG;
  for (size_t i = 0; i < rep->n_segments; i++) {
    const struct manifest_segment *s = &rep->segments[i];
    if (s->first > s->last || s->last == UINT64_MAX)
      return -EINVAL;
    if (s->last - s->first >= FETCHER_SEGMENT_MAX)
      return -AMP_ETOOBIG;
  }
  struct rep_copy r = {
      .tag = rep, .init = rep->init, .n = rep->n_segments, .timescale = rep->timescale};
  r.url = strdup(rep->url);
  r.segs = malloc(rep->n_segments * sizeof(*r.segs));
  if (!r.url || !r.segs) {
    rep_done(&r);
    return -ENOMEM;
  }
  memcpy(r.segs, rep->segments, rep->n_segments * sizeof(*r.segs));
  *out = r;
  return 0;
}

/* x ticks of timescale ts in microseconds, saturated. */
static uint64_t ticks_us(uint64_t x, uint32_t ts) {
  uint64_t whole = x / ts, frac = x % ts;
  if (whole > UINT64_MAX / 1000000u - 1)
    return UINT64_MAX;
  return whole * 1000000u + frac * 1000000u / ts;
}

static bool close_us(uint64_t a, uint64_t b) {
  return (a > b ? a - b : b - a) <= 1000u;
}

/* Same number of segments, each starting and lasting the same within 1 ms. */
static bool same_layout(const struct rep_copy *a, const struct rep_copy *b) {
  if (a->n != b->n)
    return false;
  for (size_t i = 0; i < a->n; i++) {
    if (!close_us(ticks_us(a->segs[i].start, a->timescale),
                  ticks_us(b->segs[i].start, b->timescale)) ||
        !close_us(ticks_us(a->segs[i].duration, a->timescale),
                  ticks_us(b->segs[i].duration, b->timescale)))
      return false;
  }
  return true;
}

static void hdrs_done(struct hdrs *h) {
  free(h->block);
  memset(h, 0, sizeof(*h));
}

static int hdrs_copy(const struct http_header *in, size_t n, struct hdrs *out) {
  if (n > HTTP_MAX_HEADERS || (n > 0 && !in))
    return n > HTTP_MAX_HEADERS ? -AMP_ETOOBIG : -EINVAL;
  size_t total = 0;
  for (size_t i = 0; i < n; i++) {
    if (!in[i].name || !in[i].value || http_header_check(in[i].name, in[i].value) < 0)
      return -EINVAL;
    total += strlen(in[i].name) + strlen(in[i].value) + 2; /* each < 8 KiB: no overflow */
  }
  struct hdrs h = {.n = n};
  if (total > 0 && !(h.block = malloc(total)))
    return -ENOMEM;
  char *p = h.block;
  for (size_t i = 0; i < n; i++) {
    size_t a = strlen(in[i].name) + 1, b = strlen(in[i].value) + 1;
    memcpy(p, in[i].name, a);
    h.h[i].name = p;
    p += a;
    memcpy(p, in[i].value, b);
    h.h[i].value = p;
    p += b;
  }
  *out = h;
  return 0;
}

/* ---------------------------------------------------------------- chunks */

static void chunk_free(struct fetcher *f, struct chunk *c) {
  if (!c)
    return;
  f->n_chunks--;
  f->bytes -= (size_t)(c->last - c->first + 1);
  free(c->data);
  free(c);
}

static struct chunk *chunk_new(struct fetcher *f, enum fetcher_kind kind, uint64_t first,
                               uint64_t last) {
  size_t len = (size_t)(last - first + 1); /* bounded by rep_copy */
  struct chunk *c = calloc(1, sizeof(*c));
  if (!c)
    return NULL;
  if (!(c->data = malloc(len))) {
    free(c);
    return NULL;
  }
  c->first = first;
  c->last = last;
  c->pub.kind = kind;
  c->pub.rep = f->cur.tag;
  c->pub.index = f->next;
  c->pub.offset = first;
  c->pub.data = c->data;
  c->pub.len = len;
  if (kind == FETCHER_INIT) {
    c->pub.reason = f->init_reason;
    c->pub.new_init = f->init_reason != FETCHER_INIT_FIRST;
  } else {
    const struct manifest_segment *s = &f->cur.segs[f->next];
    c->pub.last = f->next + 1 == f->cur.n;
    c->pub.start = s->start;
    c->pub.duration = s->duration;
    c->pub.timescale = f->cur.timescale;
  }
  f->n_chunks++;
  f->bytes += len;
  return c;
}

static void held_append(struct fetcher *f, struct chunk *c) {
  c->next = NULL;
  if (f->tail)
    f->tail->next = c;
  else
    f->head = c;
  f->tail = c;
}

static void held_clear(struct fetcher *f) {
  while (f->head) {
    struct chunk *c = f->head;
    f->head = c->next;
    chunk_free(f, c);
  }
  f->tail = NULL;
}

static void inflight_drop(struct fetcher *f) {
  chunk_free(f, f->fl_init);
  chunk_free(f, f->fl_seg);
  f->fl_init = f->fl_seg = NULL;
}

/* ---------------------------------------------------------------- the pump */

static void kick(struct fetcher *f) {
  loop_timer_set(f->pump, 0); /* a deadline in the past: the next loop pass */
}

static void fail(struct fetcher *f, int err) {
  f->state = ST_FAILED;
  f->err_pending = err;
  f->expired_pending = false;
}

/* A 403 (410) on the session: renew it. A fresh session refused before any request of
 * its own completed means the refusal is no expiry: fail. One that served a request (its
 * init, at least) and is refused later has expired in turn, however soon: the track
 * queued behind the one playing may wait for room longer than a short token lasts. Fresh
 * sessions that serve their init and are refused every segment do not go on for ever:
 * RENEWALS_MAX expiries without a segment fail too. */
static void expire(struct fetcher *f) {
  if (++f->expiries >= 2 || ++f->renewals >= RENEWALS_MAX) {
    fail(f, -EACCES);
    return;
  }
  f->state = ST_EXPIRED;
  f->expired_pending = true;
}

/* Stop the request in flight or the wait for the next round, and drop the partial
 * chunks. */
static void cancel_inflight(struct fetcher *f) {
  if (f->req) {
    f->cancelling = true;
    http_request_cancel(f->req); /* on_req_done runs now */
    f->cancelling = false;
  }
  if (f->retry)
    loop_timer_disarm(f->retry);
  f->waiting = false;
  f->rounds = 0;
  inflight_drop(f);
}

/* Copy the part of [off, off + len) that falls in c. */
static void fill(struct chunk *c, uint64_t off, const uint8_t *p, size_t len) {
  if (!c || len == 0)
    return;
  uint64_t end = off + len - 1;
  uint64_t lo = off > c->first ? off : c->first, hi = end < c->last ? end : c->last;
  if (lo > hi)
    return;
  memcpy(c->data + (lo - c->first), p + (lo - off), (size_t)(hi - lo + 1));
  c->filled += (size_t)(hi - lo + 1);
}

static bool chunk_full(const struct chunk *c) {
  return !c || c->filled == (size_t)(c->last - c->first + 1);
}

static int on_req_data(struct http_request *r, uint64_t off, const void *data, size_t len,
                       void *ud) {
  struct fetcher *f = ud;
  if (f->whole) {
    /* the file from its first byte: only what was not received yet counts (a round
     * after a drop reads the start again), and once the chunks are full the rest of the
     * file is not read */
    if (off + len <= f->fl_next)
      return 0;
    if (off < f->fl_next) {
      data = (const uint8_t *)data + (f->fl_next - off);
      len -= (size_t)(f->fl_next - off);
      off = f->fl_next;
    }
    fill(f->fl_init, off, data, len);
    fill(f->fl_seg, off, data, len);
    f->fl_next = off + len;
    if (chunk_full(f->fl_init) && chunk_full(f->fl_seg)) {
      f->cut = true;
      http_request_cancel(r); /* on_req_done runs now, with -ECANCELED: a success */
    }
    return 0;
  }
  /* net/http hands a ranged stream over in order, without gap or repeat, across
   * resumed attempts; bytes between the init and the first segment fall in neither. */
  fill(f->fl_init, off, data, len);
  fill(f->fl_seg, off, data, len);
  f->fl_next = off + len;
  return 0;
}

/* What net/http retries itself (http.h): worth another round once it gave up. And a 206
 * whose Content-Range is not the range asked for: net/http refuses it before a byte of it
 * is delivered and does not retry it, but a broken CDN edge or cache answering one range
 * wrongly should not end the track; the rounds bound it as they bound the rest. (A 416 is
 * also -AMP_EBADRANGE: the range is outside the file, and asking again cannot help.) */
static bool retryable(int err, long status) {
  if (err == -AMP_ENETWORK || err == -ETIMEDOUT || err == -AMP_ETRUNCATED)
    return true;
  if (err == -AMP_EBADRANGE && status == 206)
    return true;
  return err == -AMP_EHTTP && (status >= 500 || status == 408 || status == 429);
}

static uint64_t round_delay_ms(struct fetcher *f) {
  f->rng ^= f->rng << 13; /* xorshift64: jitter, not secrecy */
  f->rng ^= f->rng >> 7;
  f->rng ^= f->rng << 17;
  return http_backoff_ms(f->rounds, f->cfg.retry_base_ms, f->cfg.retry_cap_ms, f->rng);
}

static void on_retry(struct loop_source *s, uint64_t now, void *ud) {
  (void)s;
  (void)now;
  struct fetcher *f = ud;
  f->waiting = false;
  kick(f);
}

static void on_req_done(struct http_request *r, const struct http_response *resp, void *ud) {
  (void)r;
  struct fetcher *f = ud;
  f->req = NULL;
  if (f->cancelling)
    return; /* cancel_inflight drops the chunks */
  int err = resp->err;
  bool full = chunk_full(f->fl_init) && chunk_full(f->fl_seg);
  if (f->cut) { /* the whole file read as far as the chunks needed */
    f->cut = false;
    if (full)
      err = 0;
  }
  if (err == -AMP_ENORANGE && !f->whole) {
    /* No byte of a 200 was delivered (net/http): ask again, for the whole file. Each
     * request then reads from the file's start: the recovery costs bandwidth (the n-th
     * segment reads n segments' worth), never memory or the music. */
    log_warning("the CDN ignores Range: each request reads the file from its start");
    f->whole = true;
    kick(f); /* maybe_start resumes the chunks in flight, without a Range */
    return;
  }
  if (err == 0 && !full)
    err = -AMP_ETRUNCATED; /* cannot happen for a 206 that net/http accepted */
  if (err < 0 && !full && retryable(err, resp->status) && f->rounds < f->cfg.retry_rounds) {
    f->rounds++;
    uint64_t ms = round_delay_ms(f);
    log_debug("segment %zu: %s (status %ld), round %" PRIu32 " in %" PRIu64
              " ms from byte %" PRIu64,
              f->next, amp_strerror(err), resp->status, f->rounds + 1, ms, f->fl_next);
    f->waiting = true;
    loop_timer_set(f->retry, clock_mono_usec() + ms * 1000u);
    return;
  }
  if (err == 0) {
    f->rounds = 0;
    f->expiries = 0; /* the session served this request (expire()) */
    if (f->fl_init) {
      held_append(f, f->fl_init);
      f->need_init = false;
    }
    if (f->fl_seg) {
      held_append(f, f->fl_seg);
      f->next++;
      f->renewals = 0;
    }
    f->fl_init = f->fl_seg = NULL;
    f->sample_pending = true;
    f->sample_bytes = resp->body_len;
    f->sample_usec = clock_mono_usec() - f->fl_t0;
  } else {
    inflight_drop(f);
    log_debug("segment %zu: %s (status %ld)", f->next, amp_strerror(err), resp->status);
    if (err == -AMP_EHTTP && (resp->status == 401 || resp->status == 403 || resp->status == 410))
      expire(f); /* the signed URL is refused: a fresh audio object (docs/service.md §4) */
    else
      fail(f, err);
  }
  kick(f);
}

static uint64_t held_us(const struct fetcher *f) {
  uint64_t us = 0;
  for (const struct chunk *c = f->head; c; c = c->next)
    if (c->pub.kind == FETCHER_SEGMENT)
      us += ticks_us(c->pub.duration, c->pub.timescale);
  return us;
}

static void request_range(struct fetcher *f, uint64_t first, uint64_t last);

static void maybe_start(struct fetcher *f) {
  bool resume = f->fl_init || f->fl_seg; /* another round of a partial request */
  if (f->state != ST_RUN || f->req || f->waiting || (!resume && f->next >= f->cur.n))
    return;
  if (f->cfg.expires_ms > 0 && clock_wall_usec() / 1000 >= f->cfg.expires_ms) {
    cancel_inflight(f);
    expire(f);
    kick(f);
    return;
  }
  if (resume) {
    uint64_t last = f->fl_seg ? f->fl_seg->last : f->fl_init->last;
    request_range(f, f->fl_next, last);
    return;
  }
  if (f->has_pend) { /* a switch takes effect at the next segment not yet requested */
    rep_done(&f->cur);
    f->cur = f->pend;
    memset(&f->pend, 0, sizeof(f->pend));
    f->has_pend = false;
    if (!f->need_init)
      f->init_reason = FETCHER_INIT_SWITCH;
    f->need_init = true;
  }
  const struct manifest_segment *s = &f->cur.segs[f->next];
  const struct manifest_range *in = &f->cur.init;
  uint64_t seg_len = s->last - s->first + 1, init_len = in->last - in->first + 1;
  uint64_t want = seg_len + (f->need_init ? init_len : 0);
  if (f->n_chunks + 2 > FETCHER_HELD_MAX)
    return;
  if (f->bytes > 0 && f->bytes + want > f->cfg.cap_bytes)
    return;
  if (held_us(f) >= (uint64_t)f->cfg.target_ms * 1000u)
    return;

  uint64_t first = s->first, last = s->last;
  bool merged = false;
  if (f->need_init) {
    merged = s->first > in->last && s->first - in->last - 1 <= f->cfg.merge_gap;
    first = in->first;
    last = merged ? s->last : in->last;
    if (!(f->fl_init = chunk_new(f, FETCHER_INIT, in->first, in->last)))
      goto oom;
  }
  if ((!f->need_init || merged) && !(f->fl_seg = chunk_new(f, FETCHER_SEGMENT, s->first, s->last)))
    goto oom;
  log_debug("segment %zu: bytes %" PRIu64 "-%" PRIu64 "%s", f->next, first, last,
            f->fl_init ? (merged ? " (init and segment)" : " (init)") : "");
  request_range(f, first, last);
  return;
oom:
  cancel_inflight(f);
  fail(f, -ENOMEM);
  kick(f);
}

/* Ask for bytes first..last of the current rep into the chunks in flight. */
static void request_range(struct fetcher *f, uint64_t first, uint64_t last) {
  struct http_request_opts o = {.method = HTTP_GET,
                                .url = f->cur.url,
                                .headers = f->hdrs.h,
                                .n_headers = f->hdrs.n,
                                .ranged = !f->whole,
                                .range_start = f->whole ? 0 : first,
                                .range_end = f->whole ? 0 : last,
                                .on_data = on_req_data,
                                .on_done = on_req_done,
                                .userdata = f};
  f->fl_t0 = clock_mono_usec();
  f->fl_next = first;
  f->cut = false;
  int e = http_request_start(f->http, &o, &f->req);
  if (e < 0) {
    f->req = NULL;
    cancel_inflight(f);
    fail(f, e);
    kick(f);
  }
}

static void destroy(struct fetcher *f) {
  loop_source_free(f->pump);
  loop_source_free(f->retry);
  held_clear(f);
  inflight_drop(f);
  rep_done(&f->cur);
  rep_done(&f->pend);
  hdrs_done(&f->hdrs);
  free(f);
}

static void on_pump(struct loop_source *s, uint64_t now, void *ud) {
  (void)s;
  (void)now;
  struct fetcher *f = ud;
  f->busy++;
  if (f->sample_pending) {
    f->sample_pending = false;
    if (f->cb.on_throughput)
      f->cb.on_throughput(f->cb.userdata, f->sample_bytes, f->sample_usec);
    if (f->dead)
      goto out;
  }
  /* Hand out in order; a callback may release, seek or switch: look again each time. */
  for (;;) {
    struct chunk *c = f->head;
    while (c && c->delivered)
      c = c->next;
    if (!c)
      break;
    c->delivered = true;
    f->cb.on_chunk(f->cb.userdata, &c->pub);
    if (f->dead)
      goto out;
  }
  if (f->err_pending) {
    int e = f->err_pending;
    f->err_pending = 0;
    f->cb.on_error(f->cb.userdata, e);
    if (f->dead)
      goto out;
  }
  if (f->expired_pending) {
    f->expired_pending = false;
    f->cb.on_expired(f->cb.userdata);
    if (f->dead)
      goto out;
  }
  maybe_start(f);
out:
  if (--f->busy == 0 && f->dead)
    destroy(f);
}

/* ---------------------------------------------------------------- API */

int fetcher_new(struct loop *l, struct http *h, const struct fetcher_config *cfg,
                const struct fetcher_callbacks *cb, const struct manifest_rep *rep,
                const struct http_header *headers, size_t n, size_t first_index,
                struct fetcher **ret) {
  if (!l || !h || !cfg || !cb || !cb->on_chunk || !cb->on_expired || !cb->on_error || !ret ||
      cfg->target_ms == 0 || cfg->cap_bytes == 0 || cfg->expires_ms < 0 ||
      cfg->retry_rounds > FETCHER_RETRY_ROUNDS_MAX || cfg->retry_base_ms == 0 ||
      cfg->retry_cap_ms < cfg->retry_base_ms)
    return -EINVAL;
  struct fetcher *f = calloc(1, sizeof(*f));
  if (!f)
    return -ENOMEM;
  f->loop = l;
  f->http = h;
  f->cfg = *cfg;
  f->cb = *cb;
  f->need_init = true;
  f->init_reason = FETCHER_INIT_FIRST;
  int e = rep_copy(rep, &f->cur);
  if (e < 0)
    goto fail_rep;
  e = -EINVAL;
  if (first_index > f->cur.n)
    goto fail_hdrs;
  f->next = first_index;
  e = hdrs_copy(headers, n, &f->hdrs);
  if (e < 0)
    goto fail_hdrs;
  e = loop_add_timer(l, 0, on_pump, f, &f->pump);
  if (e < 0)
    goto fail_timer;
  e = loop_add_timer(l, 0, on_retry, f, &f->retry);
  if (e < 0)
    goto fail_retry;
  loop_timer_disarm(f->retry);
  f->rng = clock_mono_usec() ^ (uint64_t)(uintptr_t)f ^ 0x9e3779b97f4a7c15u;
  if (f->rng == 0)
    f->rng = 1;
  *ret = f;
  return 0;
fail_retry:
  loop_source_free(f->pump);
fail_timer:
  hdrs_done(&f->hdrs);
fail_hdrs:
  rep_done(&f->cur);
fail_rep:
  free(f);
  return e;
}

void fetcher_free(struct fetcher *f) {
  if (!f || f->dead)
    return;
  cancel_inflight(f);
  if (f->busy > 0) {
    f->dead = true; /* on_pump destroys it when the callback returns */
    loop_timer_disarm(f->pump);
    return;
  }
  destroy(f);
}

int fetcher_release(struct fetcher *f, size_t index) {
  if (!f)
    return -EINVAL;
  int found = -ENOENT;
  struct chunk **pp = &f->head, *prev = NULL;
  while (*pp) {
    struct chunk *c = *pp;
    if (c->delivered && c->pub.index == index) {
      if (c->pub.kind == FETCHER_SEGMENT)
        found = 0;
      *pp = c->next;
      if (f->tail == c)
        f->tail = prev;
      chunk_free(f, c);
      continue;
    }
    prev = c;
    pp = &c->next;
  }
  kick(f);
  return found;
}

int fetcher_handed(struct fetcher *f, enum fetcher_kind kind, size_t index) {
  if (!f)
    return -EINVAL;
  for (struct chunk *c = f->head; c; c = c->next) {
    if (c->delivered && c->pub.kind == kind && c->pub.index == index && c->data) {
      /* f->bytes keeps counting it (chunk_free subtracts at the release): the consumer's
       * copy is under the cap in its place. */
      free(c->data);
      c->data = NULL;
      c->pub.data = NULL;
      return 0;
    }
  }
  return -ENOENT;
}

int fetcher_set_target(struct fetcher *f, uint32_t target_ms) {
  if (!f || target_ms == 0)
    return -EINVAL;
  if (f->cfg.target_ms != target_ms) {
    f->cfg.target_ms = target_ms;
    kick(f); /* a higher target may allow a request now */
  }
  return 0;
}

int fetcher_switch(struct fetcher *f, const struct manifest_rep *rep) {
  if (!f)
    return -EINVAL;
  struct rep_copy r;
  int e = rep_copy(rep, &r);
  if (e < 0)
    return e;
  if (!same_layout(&f->cur, &r)) {
    rep_done(&r);
    return -EINVAL;
  }
  rep_done(&f->pend);
  f->has_pend = false;
  if (rep == f->cur.tag) { /* back to the current one before the switch took effect */
    rep_done(&r);
    return 0;
  }
  f->pend = r;
  f->has_pend = true;
  kick(f);
  return 0;
}

int fetcher_rebase(struct fetcher *f, const struct manifest_rep *rep,
                   const struct http_header *headers, size_t n, int64_t expires_ms) {
  if (!f || expires_ms < 0)
    return -EINVAL;
  struct rep_copy r;
  int e = rep_copy(rep, &r);
  if (e < 0)
    return e;
  if (!same_layout(&f->cur, &r)) {
    log_debug("rebase: the new rep's segments differ from the current one's");
    rep_done(&r);
    return -EINVAL;
  }
  struct hdrs h;
  e = hdrs_copy(headers, n, &h);
  if (e < 0) {
    rep_done(&r);
    return e;
  }
  cancel_inflight(f);
  rep_done(&f->cur);
  rep_done(&f->pend);
  f->has_pend = false;
  f->cur = r;
  hdrs_done(&f->hdrs);
  f->hdrs = h;
  f->cfg.expires_ms = expires_ms;
  f->need_init = true;
  f->init_reason = FETCHER_INIT_REBASE;
  f->state = ST_RUN;
  f->expired_pending = false;
  f->err_pending = 0;
  kick(f);
  return 0;
}

int fetcher_seek(struct fetcher *f, size_t index) {
  if (!f || index > f->cur.n)
    return -EINVAL;
  cancel_inflight(f);
  held_clear(f);
  f->next = index;
  f->need_init = true;
  f->init_reason = FETCHER_INIT_SEEK;
  if (f->state == ST_FAILED) {
    f->state = ST_RUN;
    f->err_pending = 0;
  }
  kick(f);
  return 0;
}

uint64_t fetcher_buffered_ms(const struct fetcher *f) {
  uint64_t us = 0;
  for (const struct chunk *c = f ? f->head : NULL; c; c = c->next)
    if (c->delivered && c->pub.kind == FETCHER_SEGMENT)
      us += ticks_us(c->pub.duration, c->pub.timescale);
  return us / 1000u;
}

size_t fetcher_held_bytes(const struct fetcher *f) {
  return f ? f->bytes : 0;
}

size_t fetcher_next_index(const struct fetcher *f) {
  return f ? f->next : 0;
}
