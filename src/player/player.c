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
#include "media/abr.h"
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

/* What the player keeps of a track: enough to play it again (history, repeat). */
struct trackinfo {
  char *title, *artist, *album, *tag, *collector, *audio_url;
  double duration;
  bool auto_skip;
};

#define HISTORY_MAX 32 /* tracks kept for previous */

struct slot {
  struct player *p;
  bool used;
  uint32_t id;
  struct trackinfo ti;
  const struct manifest_rep *cur_rep; /* the rep being fetched (ABR) */
  uint64_t base_ms;                   /* where the decode began (a seek): until it is heard */
  int64_t seek_frame;                 /* the first frame to hand out after a seek */
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
  enum player_repeat repeat;
  char *container_url;                   /* for repeat all */
  struct trackinfo history[HISTORY_MAX]; /* played, oldest first */
  size_t n_history;
  struct trackinfo forward[HISTORY_MAX]; /* to play before the cursor's next (previous) */
  size_t n_forward;
};

static void ti_free(struct trackinfo *t);
static void abr_next(struct slot *s);
static void on_throughput(void *ud, uint64_t bytes, uint64_t usec);

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
    return s ? s->base_ms : 0;
  /* The engine counts a track's frames on its own timeline (from pts 0, also after a
   * seek): the position in the track. */
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
  if (!p->cfg.report || !s || !s->ti.collector || !s->ti.tag)
    return;
  char quality[REPORT_QUALITY_MAX];
  quality_of(s, quality, sizeof(quality));
  struct report_event ev = {.type = type,
                            .offset_ms = offset_ms,
                            .track_tag = s->ti.tag,
                            .quality = quality,
                            .error_code = error_code};
  int r = report_submit(p->cfg.report, &ev, s->ti.collector, NULL);
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
  ti_free(&s->ti);
  struct player *p = s->p;
  if (p->current == s)
    p->current = NULL;
  memset(s, 0, sizeof(*s));
  s->p = p;
}

static void ti_free(struct trackinfo *t) {
  free(t->title);
  free(t->artist);
  free(t->album);
  free(t->tag);
  free(t->collector);
  free(t->audio_url);
  memset(t, 0, sizeof(*t));
}

static char *dup_or_null(const char *s) {
  return s ? strdup(s) : NULL;
}

static int ti_copy(struct trackinfo *dst, const struct trackinfo *src) {
  *dst = (struct trackinfo){.duration = src->duration, .auto_skip = src->auto_skip};
  dst->title = dup_or_null(src->title);
  dst->artist = dup_or_null(src->artist);
  dst->album = dup_or_null(src->album);
  dst->tag = dup_or_null(src->tag);
  dst->collector = dup_or_null(src->collector);
  dst->audio_url = dup_or_null(src->audio_url);
  if ((src->title && !dst->title) || (src->artist && !dst->artist) || (src->album && !dst->album) ||
      (src->tag && !dst->tag) || (src->collector && !dst->collector) ||
      (src->audio_url && !dst->audio_url)) {
    ti_free(dst);
    return -ENOMEM;
  }
  return 0;
}

/* Push a copy of t onto a bounded stack (the oldest goes when full). */
static void ti_push(struct trackinfo *stack, size_t *n, const struct trackinfo *t) {
  if (*n == HISTORY_MAX) {
    ti_free(&stack[0]);
    memmove(stack, stack + 1, (HISTORY_MAX - 1) * sizeof(*stack));
    (*n)--;
  }
  if (ti_copy(&stack[*n], t) == 0)
    (*n)++;
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
                            d ? drm_session(d) : 0, s->seek_frame, INT64_MAX);
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
    /* The engine copied it: free the fetcher's bytes now. The chunk stays counted under
     * the fetcher's cap until its SEGMENT_DONE releases it, so the fetch-ahead bound
     * covers the engine's copy, and the media is in memory once (docs/benchmarks.md). */
    if (s->fetch)
      (void)fetcher_handed(s->fetch, c->kind, c->index);
    s->pend_head = (s->pend_head + 1) % PENDING_MAX;
    s->pend_n--;
  }
}

/* The fetch-ahead target (playback.buffer_ahead_s) holds for the two slots together:
 * the track queued behind the one playing fetches what the playing one leaves of it (its
 * media handed out and not yet decoded), so across a boundary about target_ms of media is
 * held, not twice that (docs/benchmarks.md, memory). The queued track still gets its init
 * and first segment at once (a fetcher holding nothing always requests one), and its
 * share grows as the playing track's shrinks: by the boundary it holds nearly target_ms,
 * so the boundary stays gapless. */
static void share_target(struct player *p) {
  struct slot *a = &p->slots[0], *b = &p->slots[1];
  if (a->used && b->used && b->id < a->id) {
    struct slot *t = a;
    a = b;
    b = t;
  }
  uint32_t target = p->cfg.fetch.target_ms;
  bool a_on = a->used && a->fetch, b_on = b->used && b->fetch;
  if (a_on)
    (void)fetcher_set_target(a->fetch, target);
  if (b_on) {
    uint64_t ahead = a_on ? fetcher_buffered_ms(a->fetch) : 0;
    (void)fetcher_set_target(b->fetch, ahead < target ? (uint32_t)(target - ahead) : 1u);
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
  share_target(s->p);
  if (c->kind == FETCHER_SEGMENT && c->last && !s->fetched_all) {
    s->fetched_all = true;
    load_next(s->p); /* prefetch: the next track queues behind this one (gapless) */
  } else if (c->kind == FETCHER_SEGMENT) {
    abr_next(s);
  }
}

/* ABR: the rep for the next segment not yet requested; a switch is the fetcher's to do
 * at that segment (same layout: another rep of the same track). */
static void abr_next(struct slot *s) {
  struct player *p = s->p;
  if (!p->cfg.abr || !s->lt || !s->cur_rep || !s->fetch)
    return;
  const struct manifest_rep *rep = NULL;
  uint64_t buffered = fetcher_buffered_ms(s->fetch);
  if (abr_choose(p->cfg.abr, s->lt->manifest, s->cur_rep,
                 (uint32_t)(buffered > UINT32_MAX ? UINT32_MAX : buffered), p->cfg.constraints,
                 &rep) < 0 ||
      !rep || rep == s->cur_rep)
    return;
  int r = fetcher_switch(s->fetch, rep);
  if (r == 0) {
    log_info("player: switching to %s", rep->id);
    s->cur_rep = rep;
    snprintf(s->rep_id, sizeof(s->rep_id), "%s", rep->id);
  } else {
    log_debug("abr: no switch to %s: %s", rep->id, amp_strerror(r));
  }
}

static void on_throughput(void *ud, uint64_t bytes, uint64_t usec) {
  struct slot *s = ud;
  if (s->p->cfg.abr)
    abr_sample(s->p->cfg.abr, bytes, usec);
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
  struct player *p = s->p;
  if (p->cfg.abr) {
    const struct manifest_rep *rep = NULL;
    return abr_choose(p->cfg.abr, m, NULL, 0, p->cfg.constraints, &rep) == 0 ? rep : NULL;
  }
  return p->cfg.choose(p->cfg.choose_userdata, m);
}

static void on_drm(void *ud, struct drm *d, int err) {
  struct slot *s = ud;
  (void)d;
  if (err == 0)
    engine_key_ready(s->p->cfg.engine); /* a segment may wait for these keys */
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
  int r = loader_start(&lc, s->ti.audio_url, &s->ld);
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
    if (err == -AMP_EREPORT && s->ti.auto_skip) {
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
    s->cur_rep = lt->rep;
    return;
  }
  s->lt = lt;
  s->cur_rep = lt->rep;
  snprintf(s->rep_id, sizeof(s->rep_id), "%s", lt->rep->id);
  struct fetcher_config fc = p->cfg.fetch;
  fc.expires_ms = lt->audio->expires_ms;
  struct fetcher_callbacks cb = {.on_chunk = on_chunk,
                                 .on_expired = on_expired,
                                 .on_error = on_fetch_error,
                                 .on_throughput = on_throughput,
                                 .userdata = s};
  int r = fetcher_new(p->cfg.loop, p->cfg.http, &fc, &cb, lt->rep, lt->audio->segment.h,
                      lt->audio->segment.n, 0, &s->fetch);
  if (r < 0) {
    s->fetch = NULL;
    track_failed(p, s, r, NULL);
    return;
  }
  share_target(p); /* before its first request (the next loop pass) */
}

static void on_track(void *ud, int err, const struct api_track *t) {
  struct player *p = ud;
  p->cursor_busy = false;
  if (err == -ENOENT) {
    p->cursor_end = true;
    if (p->repeat == PLAYER_REPEAT_ALL) {
      load_next(p); /* the container from its start */
      return;
    }
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
  struct trackinfo ti = {.title = (char *)(uintptr_t)t->title,
                         .artist = (char *)(uintptr_t)t->artist,
                         .album = (char *)(uintptr_t)t->album,
                         .tag = (char *)(uintptr_t)t->track_tag,
                         .collector = (char *)(uintptr_t)t->collector_url,
                         .audio_url = (char *)(uintptr_t)t->audio_url,
                         .duration = t->duration,
                         .auto_skip = t->auto_skip};
  if (ti_copy(&s->ti, &ti) < 0 || !s->ti.audio_url) {
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
/* The track queued behind the current one (loaded for gapless) goes back on the forward
 * stack, so a command that drops it (next, previous, seek) does not skip it. */
static void requeue_next(struct player *p) {
  for (int i = 0; i < SLOTS; i++) {
    struct slot *q = &p->slots[i];
    if (q->used && q != p->current)
      ti_push(p->forward, &p->n_forward, &q->ti);
  }
}

/* Start a slot for a known track (history, repeat one). */
static void play_info(struct player *p, const struct trackinfo *ti) {
  struct slot *s = slot_new(p);
  if (!s)
    return;
  if (ti_copy(&s->ti, ti) < 0) {
    slot_free(s);
    return;
  }
  if (!p->current)
    p->current = s;
  int r = start_load(s);
  if (r < 0)
    track_failed(p, s, r, NULL);
}

static void on_container(void *ud, int err, struct api_reply *reply);

/* The next track into a free slot: one previous put back, the same one again (repeat
 * one), else the cursor's next (and the container again at its end with repeat all). */
static void load_next(struct player *p) {
  int free_slots = 0;
  for (int i = 0; i < SLOTS; i++)
    free_slots += !p->slots[i].used;
  if (free_slots == 0 || p->cursor_busy || p->doc_call || p->held)
    return;
  if (p->n_forward > 0) {
    struct trackinfo ti = p->forward[--p->n_forward];
    play_info(p, &ti);
    ti_free(&ti);
    return;
  }
  if (p->repeat == PLAYER_REPEAT_ONE && p->current) {
    struct trackinfo ti;
    if (ti_copy(&ti, &p->current->ti) == 0) {
      play_info(p, &ti);
      ti_free(&ti);
    }
    return;
  }
  if (p->cursor_end && p->repeat == PLAYER_REPEAT_ALL && p->container_url) {
    api_cursor_free(p->cursor);
    p->cursor = NULL;
    p->cursor_end = false;
    if (api_get(p->cfg.api, API_DOCUMENT, p->container_url, on_container, p, &p->doc_call) < 0)
      p->doc_call = NULL;
    return;
  }
  if (!p->cursor || p->cursor_end)
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
    share_target(p);
    pump_all(p);
    break;
  case ENGINE_TRACK_STARTED:
    if (!s)
      break;
    bool first = !s->started; /* a seek restarts the decode: not a new start */
    s->started = true;
    p->current = s;
    if (!p->held) { /* a 409 of the queued track stays shown until its pause */
      p->error = 0;
      p->error_text[0] = '\0';
    }
    if (first)
      event(p, s, REPORT_STARTED, 0, NULL);
    if (p->state != PLAYER_PAUSED)
      set_state(p, PLAYER_PLAYING);
    changed(p);
    break;
  case ENGINE_TRACK_ENDED:
    if (!s)
      break;
    event(p, s, REPORT_FINISHED, s->ti.duration > 0 ? (uint64_t)(s->ti.duration * 1000) : 0, NULL);
    p->tracks_played++;
    ti_push(p->history, &p->n_history, &s->ti);
    slot_free(s);
    for (int i = 0; i < SLOTS; i++)
      if (p->slots[i].used)
        p->current = &p->slots[i];
    share_target(p);              /* the queued track, now playing, gets the whole target */
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
  char *copy = strdup(url);
  if (!copy)
    return -ENOMEM;
  free(p->container_url);
  p->container_url = copy;
  while (p->n_forward > 0)
    ti_free(&p->forward[--p->n_forward]);
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
  if (p->current && p->current->started) {
    event(p, p->current, REPORT_STOPPED, heard_ms(p, p->current), NULL);
    ti_push(p->history, &p->n_history, &p->current->ti);
  }
  /* The queued track (if any) was loaded for gapless: keep nothing, start it again. */
  requeue_next(p);
  p->held = false;
  engine_stop(p->cfg.engine);
  for (int i = 0; i < SLOTS; i++)
    slot_free(&p->slots[i]);
  if (p->cursor_end && p->n_forward == 0 && p->repeat != PLAYER_REPEAT_ALL) {
    set_state(p, PLAYER_STOPPED);
    return -ENOENT;
  }
  enum player_repeat saved = p->repeat;
  if (p->repeat == PLAYER_REPEAT_ONE)
    p->repeat = PLAYER_REPEAT_OFF; /* next leaves the repeated track */
  set_state(p, PLAYER_LOADING);
  load_next(p);
  p->repeat = saved;
  return 0;
}

int player_previous(struct player *p) {
  if (!p)
    return -EINVAL;
  struct slot *s = p->current;
  if (s && s->started && heard_ms(p, s) > PLAYER_PREVIOUS_RESTART_MS)
    return player_seek(p, 0);
  if (p->n_history == 0)
    return -ENOENT;
  requeue_next(p);
  if (s && s->started) {
    event(p, s, REPORT_STOPPED, heard_ms(p, s), NULL);
    ti_push(p->forward, &p->n_forward, &s->ti); /* next comes back to it */
  }
  engine_stop(p->cfg.engine);
  for (int i = 0; i < SLOTS; i++)
    slot_free(&p->slots[i]);
  struct trackinfo ti = p->history[--p->n_history];
  set_state(p, PLAYER_LOADING);
  play_info(p, &ti);
  ti_free(&ti);
  return 0;
}

int player_seek(struct player *p, uint64_t ms) {
  if (!p)
    return -EINVAL;
  struct slot *s = p->current;
  if (!s || !s->lt || !s->fetch || !s->cur_rep ||
      (p->state != PLAYER_PLAYING && p->state != PLAYER_PAUSED))
    return -EALREADY;
  const struct manifest_rep *rep = s->cur_rep;
  if (!rep->timescale || !rep->sample_rate || rep->n_segments == 0)
    return -EALREADY;
  /* The segment holding ms minus the decoder's preroll (Opus: 80 ms; one segment is 10 s,
   * so stepping back one segment when ms is that close to its start is enough). */
  const uint64_t preroll_ms = 100;
  uint64_t t = (ms > preroll_ms ? ms - preroll_ms : 0) * rep->timescale / 1000u;
  const struct manifest_segment *last = &rep->segments[rep->n_segments - 1];
  if ((uint64_t)ms * rep->timescale / 1000u >= last->start + last->duration)
    return -ERANGE;
  size_t idx = 0;
  while (idx + 1 < rep->n_segments && rep->segments[idx + 1].start <= t)
    idx++;
  uint64_t from = heard_ms(p, s);
  bool paused = p->state == PLAYER_PAUSED;
  requeue_next(p);
  engine_stop(p->cfg.engine);
  for (int i = 0; i < SLOTS; i++)
    if (&p->slots[i] != s)
      slot_free(&p->slots[i]);
  p->current = s;
  s->id = ++p->next_id; /* events of the old decode are not this one's */
  s->pend_n = 0;
  s->pend_head = 0;
  s->opened = s->closed = s->fetched_all = false;
  s->base_ms = ms;
  s->seek_frame = (int64_t)(ms * rep->sample_rate / 1000u);
  int r = fetcher_seek(s->fetch, idx);
  if (r < 0) {
    track_failed(p, s, r, NULL);
    return r;
  }
  if (paused)
    engine_pause(p->cfg.engine, true);
  if (p->cfg.report && s->ti.collector && s->ti.tag) {
    char quality[REPORT_QUALITY_MAX];
    quality_of(s, quality, sizeof(quality));
    struct report_event ev = {.type = REPORT_SEEKED,
                              .offset_ms = ms,
                              .seek_from_ms = from,
                              .track_tag = s->ti.tag,
                              .quality = quality};
    report_submit(p->cfg.report, &ev, s->ti.collector, NULL);
  }
  changed(p);
  return 0;
}

void player_set_volume(struct player *p, unsigned percent) {
  if (!p)
    return;
  engine_set_volume(p->cfg.engine, percent);
  changed(p);
}

unsigned player_volume(const struct player *p) {
  return p ? engine_volume(p->cfg.engine) : 0;
}

void player_set_repeat(struct player *p, enum player_repeat r) {
  if (p && (unsigned)r <= PLAYER_REPEAT_ALL) {
    p->repeat = r;
    changed(p);
  }
}

enum player_repeat player_get_repeat(const struct player *p) {
  return p ? p->repeat : PLAYER_REPEAT_OFF;
}

const char *player_repeat_name(enum player_repeat r) {
  return r == PLAYER_REPEAT_ONE ? "one" : r == PLAYER_REPEAT_ALL ? "all" : "off";
}

size_t player_queue(const struct player *p, struct player_queue_entry *out, size_t max) {
  size_t n = 0;
  if (!p || !out)
    return 0;
  const struct slot *cur = p->current;
  for (int pass = 0; pass < 2; pass++) {
    for (int i = 0; i < SLOTS && n < max; i++) {
      const struct slot *s = &p->slots[i];
      if (!s->used || (pass == 0) != (s == cur))
        continue;
      snprintf(out[n].title, PLAYER_TEXT_MAX, "%s", s->ti.title ? s->ti.title : "");
      snprintf(out[n].artist, PLAYER_TEXT_MAX, "%s", s->ti.artist ? s->ti.artist : "");
      out[n].current = s == cur;
      n++;
    }
  }
  for (size_t i = p->n_forward; i > 0 && n < max; i--) {
    const struct trackinfo *t = &p->forward[i - 1];
    snprintf(out[n].title, PLAYER_TEXT_MAX, "%s", t->title ? t->title : "");
    snprintf(out[n].artist, PLAYER_TEXT_MAX, "%s", t->artist ? t->artist : "");
    out[n].current = false;
    n++;
  }
  return n;
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
    copy_text(st->title, s->ti.title);
    copy_text(st->artist, s->ti.artist);
    copy_text(st->album, s->ti.album);
    copy_text(st->track_tag, s->ti.tag);
    st->position_ms = heard_ms(p, s);
    st->duration_ms = s->ti.duration > 0 ? (uint64_t)(s->ti.duration * 1000) : 0;
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
  st->volume = engine_volume(p->cfg.engine);
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
  while (p->n_forward > 0)
    ti_free(&p->forward[--p->n_forward]);
  while (p->n_history > 0)
    ti_free(&p->history[--p->n_history]);
  free(p->container_url);
  free(p);
}
