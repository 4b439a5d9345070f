/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The loop-side player: container cursor -> loader -> fetcher -> engine, one track
 * behind the other, with the playback events of each. See player.h.
 */
#include "player/player.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/api.h"
#include "cloud/report.h"
#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"
#include "media/manifest.h"
#include "player/drm.h"
#include "player/engine.h"
#include "player/loader.h"

LOG_TOPIC("player");

#define SLOTS 2 /* the track being heard and the one queued behind it */
#define PENDING_MAX FETCHER_HELD_MAX
#define RETIRED_MAX 4 /* earlier sessions of one track whose segments may still decode */

struct pending {
  enum fetcher_kind kind;
  enum fetcher_init_reason reason;
  size_t index;
  bool last;
  uint64_t offset, end;
  uint32_t timescale;
  const uint8_t *data;
  size_t len;
};

struct slot {
  struct player *p;
  bool used;
  uint32_t id;
  char *title, *artist, *album, *tag, *collector, *audio_url;
  double duration;
  bool auto_skip;
  struct loader *ld;
  struct loaded *lt;
  struct loaded *retired[RETIRED_MAX];
  size_t n_retired;
  bool rebasing; /* the loader fetches a fresh session of the same rep */
  char rep_id[64];
  struct fetcher *fetch;
  struct pending pend[PENDING_MAX];
  size_t pend_head, pend_n;
  bool opened, closed, fetched_all, started;
};

struct player {
  struct player_config cfg;
  enum player_state state;
  struct api_call *doc_call;
  struct api_cursor *cursor;
  bool cursor_busy, cursor_end;
  bool held; /* a 409 on the queued track: pause when the one being heard ends */
  struct slot slots[SLOTS];
  struct slot *current; /* the track being heard (or loading first) */
  uint32_t next_id;
  uint64_t tracks_played;
  int error;
  char error_text[PLAYER_TEXT_MAX];
  uint64_t underruns;
};

const char *player_state_name(enum player_state s) {
  static const char *const names[] = {"idle", "loading", "playing", "paused", "stopped", "error"};
  return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

static void changed(struct player *p) {
  if (!p->cfg.on_change)
    return;
  struct player_status st;
  player_status(p, &st);
  p->cfg.on_change(p->cfg.userdata, &st);
}

static void set_state(struct player *p, enum player_state s) {
  if (p->state == s)
    return;
  log_info("player: %s", player_state_name(s));
  p->state = s;
  changed(p);
}

/* ---------------------------------------------------------------- playback events */

static uint64_t heard_ms(const struct player *p, const struct slot *s) {
  uint32_t track = 0;
  uint64_t frames = 0;
  struct pcm_format fmt = {0};
  if (!s || engine_position(p->cfg.engine, &track, &frames, &fmt) < 0 || track != s->id ||
      !fmt.rate)
    return 0;
  return frames * 1000u / fmt.rate;
}

static void quality_of(const struct slot *s, char *out, size_t n) {
  const struct manifest_rep *r = s->lt ? s->lt->rep : NULL;
  if (!r) {
    snprintf(out, n, "UNKNOWN");
    return;
  }
  /* [ours] docs/service.md §6: the codec, the rate in kHz and the depth. */
  snprintf(out, n, "%s_%u_%u", r->codecs && strcmp(r->codecs, "opus") == 0 ? "SD" : "HD",
           (unsigned)(r->sample_rate / 1000u), (unsigned)(r->bit_depth ? r->bit_depth : 16));
}

static void event(struct player *p, struct slot *s, enum report_type type, uint64_t offset_ms,
                  const char *error_code) {
  if (!p->cfg.report || !s || !s->collector || !s->tag)
    return;
  char quality[REPORT_QUALITY_MAX];
  quality_of(s, quality, sizeof(quality));
  struct report_event ev = {.type = type,
                            .offset_ms = offset_ms,
                            .track_tag = s->tag,
                            .quality = quality,
                            .error_code = error_code};
  int r = report_submit(p->cfg.report, &ev, s->collector, NULL);
  if (r < 0)
    log_warning("playback event not queued: %s", amp_strerror(r));
}

/* ---------------------------------------------------------------- slots */

static void slot_free(struct slot *s) {
  if (!s->used)
    return;
  loader_cancel(s->ld);
  fetcher_free(s->fetch);
  loaded_free(s->lt);
  for (size_t i = 0; i < s->n_retired; i++)
    loaded_free(s->retired[i]);
  free(s->title);
  free(s->artist);
  free(s->album);
  free(s->tag);
  free(s->collector);
  free(s->audio_url);
  struct player *p = s->p;
  if (p->current == s)
    p->current = NULL;
  memset(s, 0, sizeof(*s));
  s->p = p;
}

static struct slot *slot_by_id(struct player *p, uint32_t id) {
  for (int i = 0; i < SLOTS; i++)
    if (p->slots[i].used && p->slots[i].id == id)
      return &p->slots[i];
  return NULL;
}

static struct slot *slot_new(struct player *p) {
  for (int i = 0; i < SLOTS; i++) {
    struct slot *s = &p->slots[i];
    if (!s->used) {
      s->used = true;
      s->id = ++p->next_id;
      return s;
    }
  }
  return NULL;
}

static char *dup_or_null(const char *s) {
  return s ? strdup(s) : NULL;
}

/* ---------------------------------------------------------------- feeding the engine */

/* Hand pending chunks to the engine in order until it has no room (-EAGAIN). */
static void pump(struct slot *s) {
  struct player *p = s->p;
  while (s->pend_n > 0) {
    struct pending *c = &s->pend[s->pend_head];
    int r = 0;
    if (c->kind == FETCHER_INIT && !s->opened) {
      struct drm *d = s->lt ? s->lt->drm : NULL;
      r = engine_track_open(p->cfg.engine, s->id, c->data, c->len, d ? p->cfg.cdm : NULL,
                            d ? drm_session(d) : 0, 0, INT64_MAX);
      if (r == 0)
        s->opened = true;
    } else if (c->kind == FETCHER_INIT) {
      struct drm *d = s->lt ? s->lt->drm : NULL;
      r = engine_track_rekey(p->cfg.engine, s->id, c->data, c->len, d ? p->cfg.cdm : NULL,
                             d ? drm_session(d) : 0);
    } else {
      r = engine_track_segment(p->cfg.engine, s->id, (uint32_t)c->index, c->data, c->len,
                               c->offset);
      if (r == 0 && c->last) {
        int e = engine_track_close(p->cfg.engine, s->id, c->end, c->timescale);
        if (e < 0)
          log_debug("engine close: %s", amp_strerror(e));
        s->closed = true;
      }
    }
    if (r == -EAGAIN || r == -AMP_ETOOBIG || r == -EBUSY)
      return; /* no room, or the track ahead is not closed yet: SEGMENT_DONE pumps again */
    if (r < 0) {
      log_warning("engine refused a chunk: %s", amp_strerror(r));
      s->pend_n = 0;
      return;
    }
    s->pend_head = (s->pend_head + 1) % PENDING_MAX;
    s->pend_n--;
  }
}

/* Pump every slot, the older track first: the next one opens only after it closed. */
static void pump_all(struct player *p) {
  struct slot *a = &p->slots[0], *b = &p->slots[1];
  if (a->used && b->used && b->id < a->id) {
    struct slot *t = a;
    a = b;
    b = t;
  }
  if (a->used)
    pump(a);
  if (b->used)
    pump(b);
}

static void load_next(struct player *p);

static void on_chunk(void *ud, const struct fetcher_chunk *c) {
  struct slot *s = ud;
  if (s->pend_n >= PENDING_MAX) { /* cannot happen: the fetcher holds at most as many */
    log_error("player: pending chunks over their bound");
    return;
  }
  struct pending *q = &s->pend[(s->pend_head + s->pend_n) % PENDING_MAX];
  *q = (struct pending){.kind = c->kind,
                        .reason = c->reason,
                        .index = c->index,
                        .last = c->last,
                        .offset = c->offset,
                        .end = c->start + c->duration,
                        .timescale = c->timescale,
                        .data = c->data,
                        .len = c->len};
  s->pend_n++;
  pump_all(s->p);
  if (c->kind == FETCHER_SEGMENT && c->last && !s->fetched_all) {
    s->fetched_all = true;
    load_next(s->p); /* prefetch: the next track queues behind this one (gapless) */
  }
}

static void refresh_audio(struct slot *s);

static void on_expired(void *ud) {
  struct slot *s = ud;
  log_info("player: the audio object expired: a fresh session");
  refresh_audio(s);
}

static void track_failed(struct player *p, struct slot *s, int err, const char *text);

static void on_fetch_error(void *ud, int err) {
  struct slot *s = ud;
  track_failed(s->p, s, err, NULL);
}

/* ---------------------------------------------------------------- loading */

static const struct manifest_rep *choose(void *ud, const struct manifest *m) {
  struct slot *s = ud;
  if (s->rebasing) /* the same rep of the fresh session */
    return manifest_find_rep(m, s->rep_id);
  return s->p->cfg.choose(s->p->cfg.choose_userdata, m);
}

static void on_drm(void *ud, struct drm *d, int err) {
  struct slot *s = ud;
  (void)d;
  if (err < 0 && err != -ECANCELED)
    track_failed(s->p, s, err, "license");
}

static void on_loaded(void *ud, int err, struct loaded *lt, const struct apidoc_error *report);

static int start_load(struct slot *s) {
  struct player *p = s->p;
  struct loader_config lc = {.loop = p->cfg.loop,
                             .http = p->cfg.http,
                             .api = p->cfg.api,
                             .license = p->cfg.license,
                             .cdm = p->cfg.cdm,
                             .choose = choose,
                             .done = on_loaded,
                             .on_drm = on_drm,
                             .userdata = s};
  int r = loader_start(&lc, s->audio_url, &s->ld);
  if (r < 0)
    s->ld = NULL;
  return r;
}

static void refresh_audio(struct slot *s) {
  if (s->ld)
    return;
  s->rebasing = true;
  int r = start_load(s);
  if (r < 0)
    track_failed(s->p, s, r, NULL);
}

static void on_loaded(void *ud, int err, struct loaded *lt, const struct apidoc_error *report) {
  struct slot *s = ud;
  struct player *p = s->p;
  s->ld = NULL;
  if (err == -ECANCELED)
    return;
  if (err < 0) {
    if (err == -AMP_EREPORT && s->auto_skip) {
      log_info("player: the service refused a track marked autoSkipOnError: skipped");
      slot_free(s);
      load_next(p);
      return;
    }
    if (err == -AMP_EREPORT) {
      /* A 409 (too many streams, billing...): pause and show it. */
      p->error = err;
      snprintf(p->error_text, sizeof(p->error_text), "%s",
               report && report->terse ? report->terse : "the service refused the track");
      slot_free(s);
      if (p->current) { /* the queued track: the one being heard plays to its end */
        p->held = true;
        return;
      }
      set_state(p, PLAYER_PAUSED);
      return;
    }
    track_failed(p, s, err, NULL);
    return;
  }
  if (s->rebasing) {
    s->rebasing = false;
    int r = fetcher_rebase(s->fetch, lt->rep, lt->audio->segment.h, lt->audio->segment.n,
                           lt->audio->expires_ms);
    if (r < 0) {
      loaded_free(lt);
      track_failed(p, s, r, NULL);
      return;
    }
    if (s->n_retired < RETIRED_MAX) {
      s->retired[s->n_retired++] = s->lt; /* its segments may still be decoding */
    } else {
      loaded_free(s->retired[0]);
      memmove(s->retired, s->retired + 1, (RETIRED_MAX - 1) * sizeof(s->retired[0]));
      s->retired[RETIRED_MAX - 1] = s->lt;
    }
    s->lt = lt;
    return;
  }
  s->lt = lt;
  snprintf(s->rep_id, sizeof(s->rep_id), "%s", lt->rep->id);
  struct fetcher_config fc = p->cfg.fetch;
  fc.expires_ms = lt->audio->expires_ms;
  struct fetcher_callbacks cb = {
      .on_chunk = on_chunk, .on_expired = on_expired, .on_error = on_fetch_error, .userdata = s};
  int r = fetcher_new(p->cfg.loop, p->cfg.http, &fc, &cb, lt->rep, lt->audio->segment.h,
                      lt->audio->segment.n, 0, &s->fetch);
  if (r < 0) {
    s->fetch = NULL;
    track_failed(p, s, r, NULL);
  }
}

static void on_track(void *ud, int err, const struct api_track *t) {
  struct player *p = ud;
  p->cursor_busy = false;
  if (err == -ENOENT) {
    p->cursor_end = true;
    if (!p->current)
      set_state(p, PLAYER_STOPPED);
    return;
  }
  if (err < 0) {
    track_failed(p, NULL, err, NULL);
    return;
  }
  if (t->error_url && !t->audio_url) {
    if (t->auto_skip) {
      log_info("player: a track marked unavailable (autoSkipOnError): skipped");
      load_next(p);
      return;
    }
    p->error = -AMP_EREPORT;
    snprintf(p->error_text, sizeof(p->error_text), "%s", t->title ? t->title : "unavailable");
    set_state(p, PLAYER_PAUSED);
    return;
  }
  struct slot *s = slot_new(p);
  if (!s)
    return; /* both slots busy: load_next runs again when one frees */
  s->title = dup_or_null(t->title);
  s->artist = dup_or_null(t->artist);
  s->album = dup_or_null(t->album);
  s->tag = dup_or_null(t->track_tag);
  s->collector = dup_or_null(t->collector_url);
  s->audio_url = dup_or_null(t->audio_url);
  s->duration = t->duration;
  s->auto_skip = t->auto_skip;
  if (!s->audio_url) {
    slot_free(s);
    track_failed(p, NULL, t->audio_json ? -AMP_EUNSUPPORTED : -AMP_EPROTO, NULL);
    return;
  }
  if (!p->current)
    p->current = s;
  int r = start_load(s);
  if (r < 0)
    track_failed(p, s, r, NULL);
}

/* Ask the cursor for the next track when a slot is free. */
static void load_next(struct player *p) {
  if (!p->cursor || p->cursor_busy || p->cursor_end || p->held)
    return;
  int free_slots = 0;
  for (int i = 0; i < SLOTS; i++)
    free_slots += !p->slots[i].used;
  if (free_slots == 0)
    return;
  p->cursor_busy = true;
  if (api_cursor_next(p->cursor, on_track, p) < 0)
    p->cursor_busy = false;
}

/* The queued track (taken from the cursor, not heard yet) after engine_stop dropped what
 * the engine had of it: load it again from its start (a new session). */
static int slot_restart(struct slot *s) {
  loader_cancel(s->ld); /* on_loaded runs with -ECANCELED and clears s->ld */
  s->ld = NULL;
  fetcher_free(s->fetch);
  s->fetch = NULL;
  loaded_free(s->lt);
  s->lt = NULL;
  for (size_t i = 0; i < s->n_retired; i++)
    loaded_free(s->retired[i]);
  s->n_retired = 0;
  s->rebasing = false;
  s->pend_head = s->pend_n = 0;
  s->opened = s->closed = s->fetched_all = s->started = false;
  s->id = ++s->p->next_id; /* the engine's late events of the old id find no slot */
  return start_load(s);
}

/* A track cannot go on: report it, drop it, and go on with the container (with the track
 * queued behind it, if any: the cursor has moved past that one already). */
static void track_failed(struct player *p, struct slot *s, int err, const char *text) {
  log_warning("player: track failed: %s", amp_strerror(err));
  p->error = err;
  snprintf(p->error_text, sizeof(p->error_text), "%s", text ? text : amp_strerror(err));
  if (s) {
    char code[REPORT_ERROR_CODE_MAX];
    snprintf(code, sizeof(code), "E%d", -err);
    event(p, s, REPORT_ERROR, heard_ms(p, s), code);
  }
  engine_stop(p->cfg.engine);
  struct slot *queued = NULL;
  for (int i = 0; i < SLOTS; i++) {
    struct slot *o = &p->slots[i];
    if (s && o != s && o->used && !o->started && !queued && slot_restart(o) == 0)
      queued = o;
    else
      slot_free(o);
  }
  if (queued) {
    p->current = queued;
    set_state(p, PLAYER_LOADING);
  } else if (p->held) { /* the queued track had its 409: pause there */
    p->held = false;
    set_state(p, PLAYER_PAUSED);
  } else if (p->cursor && !p->cursor_end) {
    set_state(p, PLAYER_LOADING);
    load_next(p);
  } else {
    set_state(p, PLAYER_ERROR);
  }
}

/* ---------------------------------------------------------------- engine events */

void player_engine_event(void *userdata, const struct engine_event *ev) {
  struct player *p = userdata;
  struct slot *s = slot_by_id(p, ev->track);
  switch (ev->type) {
  case ENGINE_SEGMENT_DONE:
    if (s && s->fetch)
      fetcher_release(s->fetch, ev->segment);
    pump_all(p);
    break;
  case ENGINE_TRACK_STARTED:
    if (!s)
      break;
    s->started = true;
    p->current = s;
    p->error = 0;
    p->error_text[0] = '\0';
    event(p, s, REPORT_STARTED, 0, NULL);
    if (p->state != PLAYER_PAUSED)
      set_state(p, PLAYER_PLAYING);
    changed(p);
    break;
  case ENGINE_TRACK_ENDED:
    if (!s)
      break;
    event(p, s, REPORT_FINISHED, s->duration > 0 ? (uint64_t)(s->duration * 1000) : 0, NULL);
    p->tracks_played++;
    slot_free(s);
    for (int i = 0; i < SLOTS; i++)
      if (p->slots[i].used)
        p->current = &p->slots[i];
    if (!p->current && p->held) { /* the 409 of the queued track: paused now */
      p->held = false;
      set_state(p, PLAYER_PAUSED);
      break;
    }
    if (!p->current && p->cursor_end)
      set_state(p, PLAYER_STOPPED);
    load_next(p);
    break;
  case ENGINE_ERROR:
    if (s)
      track_failed(p, s, ev->err, NULL);
    break;
  case ENGINE_UNDERRUN:
    p->underruns++;
    break;
  case ENGINE_OUTPUT_ERROR:
    p->error = ev->err;
    snprintf(p->error_text, sizeof(p->error_text), "audio output: %s", amp_strerror(ev->err));
    set_state(p, PLAYER_ERROR);
    break;
  }
}

/* ---------------------------------------------------------------- commands */

static void reset(struct player *p) {
  if (p->doc_call) {
    struct api_call *c = p->doc_call;
    p->doc_call = NULL;
    api_cancel(c);
  }
  api_cursor_free(p->cursor);
  p->cursor = NULL;
  p->cursor_busy = p->cursor_end = p->held = false;
  engine_stop(p->cfg.engine);
  for (int i = 0; i < SLOTS; i++)
    slot_free(&p->slots[i]);
  p->current = NULL;
}

static void on_container(void *ud, int err, struct api_reply *reply) {
  struct player *p = ud;
  p->doc_call = NULL;
  if (err == -ECANCELED)
    return;
  if (err == 0)
    err = api_cursor_new(p->cfg.api, reply->doc, &p->cursor); /* takes the document */
  else
    apidoc_free(reply->doc);
  apidoc_error_free(reply->report);
  if (err < 0) {
    p->cursor = NULL;
    p->error = err;
    snprintf(p->error_text, sizeof(p->error_text), "%s", amp_strerror(err));
    set_state(p, PLAYER_ERROR);
    return;
  }
  load_next(p);
}

int player_play(struct player *p, const char *url) {
  if (!p || !url)
    return -EINVAL;
  reset(p);
  p->error = 0;
  p->error_text[0] = '\0';
  int r = api_get(p->cfg.api, API_DOCUMENT, url, on_container, p, &p->doc_call);
  if (r < 0) {
    p->doc_call = NULL;
    return r;
  }
  set_state(p, PLAYER_LOADING);
  return 0;
}

int player_pause(struct player *p) {
  if (!p)
    return -EINVAL;
  if (p->state != PLAYER_PLAYING)
    return -EALREADY;
  int r = engine_pause(p->cfg.engine, true);
  if (r < 0)
    return r;
  event(p, p->current, REPORT_PAUSED, heard_ms(p, p->current), NULL);
  set_state(p, PLAYER_PAUSED);
  return 0;
}

int player_resume(struct player *p) {
  if (!p)
    return -EINVAL;
  if (p->state != PLAYER_PAUSED)
    return -EALREADY;
  if (!p->current) { /* paused by a 409: try the container's next track again */
    p->error = 0;
    p->error_text[0] = '\0';
    set_state(p, PLAYER_LOADING);
    load_next(p);
    return 0;
  }
  int r = engine_pause(p->cfg.engine, false);
  if (r < 0)
    return r;
  event(p, p->current, REPORT_RESUMED, heard_ms(p, p->current), NULL);
  set_state(p, PLAYER_PLAYING);
  return 0;
}

int player_stop(struct player *p) {
  if (!p)
    return -EINVAL;
  if (p->current && p->current->started)
    event(p, p->current, REPORT_STOPPED, heard_ms(p, p->current), NULL);
  reset(p);
  set_state(p, PLAYER_STOPPED);
  return 0;
}

void player_stop_by_service(struct player *p, int err) {
  if (!p)
    return;
  reset(p);
  p->error = err;
  snprintf(p->error_text, sizeof(p->error_text), "the service stopped playback");
  set_state(p, PLAYER_STOPPED);
}

int player_next(struct player *p) {
  if (!p)
    return -EINVAL;
  if (!p->cursor)
    return -ENOENT;
  if (p->current && p->current->started)
    event(p, p->current, REPORT_STOPPED, heard_ms(p, p->current), NULL);
  /* The queued track (if any) was loaded for gapless: keep nothing, start it again. */
  p->held = false;
  engine_stop(p->cfg.engine);
  for (int i = 0; i < SLOTS; i++)
    slot_free(&p->slots[i]);
  if (p->cursor_end) {
    set_state(p, PLAYER_STOPPED);
    return -ENOENT;
  }
  set_state(p, PLAYER_LOADING);
  load_next(p);
  return 0;
}

/* ---------------------------------------------------------------- status, life */

static void copy_text(char *dst, const char *src) {
  snprintf(dst, PLAYER_TEXT_MAX, "%s", src ? src : "");
}

void player_status(const struct player *p, struct player_status *st) {
  memset(st, 0, sizeof(*st));
  if (!p)
    return;
  st->state = p->state;
  const struct slot *s = p->current;
  if (s) {
    copy_text(st->title, s->title);
    copy_text(st->artist, s->artist);
    copy_text(st->album, s->album);
    copy_text(st->track_tag, s->tag);
    st->position_ms = heard_ms(p, s);
    st->duration_ms = s->duration > 0 ? (uint64_t)(s->duration * 1000) : 0;
    if (s->lt && s->lt->rep) {
      const struct manifest_rep *r = s->lt->rep;
      snprintf(st->codec, sizeof(st->codec), "%s", r->codecs ? r->codecs : "");
      st->rate = r->sample_rate;
      st->bits = r->bit_depth ? r->bit_depth : 16;
      st->channels = r->channels;
    }
    if (s->fetch)
      st->buffer_ms = fetcher_buffered_ms(s->fetch);
  }
  st->underruns = engine_underruns(p->cfg.engine);
  st->tracks_played = p->tracks_played;
  st->error = p->error;
  copy_text(st->error_text, p->error_text);
}

int player_new(const struct player_config *cfg, struct player **ret) {
  if (!cfg || !cfg->loop || !cfg->http || !cfg->api || !cfg->license || !cfg->cdm || !cfg->engine ||
      !cfg->choose || !ret)
    return -EINVAL;
  struct player *p = calloc(1, sizeof(*p));
  if (!p)
    return -ENOMEM;
  p->cfg = *cfg;
  for (int i = 0; i < SLOTS; i++)
    p->slots[i].p = p;
  p->state = PLAYER_IDLE;
  *ret = p;
  return 0;
}

void player_free(struct player *p) {
  if (!p)
    return;
  p->cfg.on_change = NULL;
  reset(p);
  free(p);
}
