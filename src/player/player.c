/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The loop-side player: container cursor -> loader -> fetcher -> engine, one track
 * behind the other, with the playback events of each. See player.h.
 */
#include "player/player.h"
#include "player/player_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
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

static void abr_next(struct slot *s);
static void on_throughput(void *ud, uint64_t bytes, uint64_t usec);

const char *player_state_name(enum player_state s) {
  static const char *const names[] = {"idle", "loading", "playing", "paused", "stopped", "error"};
  return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

void pl_changed(struct player *p) {
  if (!p->cfg.on_change)
    return;
  struct player_status st;
  player_status(p, &st);
  p->cfg.on_change(p->cfg.userdata, &st);
}

void pl_set_state(struct player *p, enum player_state s) {
  if (p->state == s)
    return;
  log_info("player: %s", player_state_name(s));
  p->state = s;
  pl_changed(p);
}

/* ---------------------------------------------------------------- playback events */

uint64_t pl_heard_ms(const struct player *p, const struct slot *s) {
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

void pl_quality_of(const struct slot *s, char *out, size_t n) {
  const struct manifest_rep *r = s->lt ? s->lt->rep : NULL;
  if (!r) {
    snprintf(out, n, "UNKNOWN");
    return;
  }
  /* [ours] docs/service.md §6: the codec, the rate in kHz and the depth. */
  snprintf(out, n, "%s_%u_%u", r->codecs && strcmp(r->codecs, "opus") == 0 ? "SD" : "HD",
           (unsigned)(r->sample_rate / 1000u), (unsigned)(r->bit_depth ? r->bit_depth : 16));
}

void pl_event(struct player *p, struct slot *s, enum report_type type, uint64_t offset_ms,
              const char *error_code) {
  if (!p->cfg.report || !s || !s->ti.collector || !s->ti.tag)
    return;
  char quality[REPORT_QUALITY_MAX];
  pl_quality_of(s, quality, sizeof(quality));
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

void pl_slot_free(struct slot *s) {
  if (!s->used)
    return;
  loader_cancel(s->ld);
  fetcher_free(s->fetch);
  loaded_free(s->lt);
  for (size_t i = 0; i < s->n_retired; i++)
    loaded_free(s->retired[i]);
  pl_ti_free(&s->ti);
  struct player *p = s->p;
  if (p->current == s)
    p->current = NULL;
  memset(s, 0, sizeof(*s));
  s->p = p;
}

void pl_ti_free(struct trackinfo *t) {
  free(t->title);
  free(t->artist);
  free(t->album);
  free(t->tag);
  free(t->collector);
  free(t->audio_url);
  free(t->image);
  memset(t, 0, sizeof(*t));
}

static char *dup_or_null(const char *s) {
  return s ? strdup(s) : NULL;
}

static int ti_copy(struct trackinfo *dst, const struct trackinfo *src) {
  *dst = (struct trackinfo){
      .duration = src->duration, .auto_skip = src->auto_skip, .index = src->index};
  dst->title = dup_or_null(src->title);
  dst->artist = dup_or_null(src->artist);
  dst->album = dup_or_null(src->album);
  dst->tag = dup_or_null(src->tag);
  dst->collector = dup_or_null(src->collector);
  dst->audio_url = dup_or_null(src->audio_url);
  dst->image = dup_or_null(src->image);
  if ((src->title && !dst->title) || (src->artist && !dst->artist) || (src->album && !dst->album) ||
      (src->tag && !dst->tag) || (src->collector && !dst->collector) ||
      (src->audio_url && !dst->audio_url) || (src->image && !dst->image)) {
    pl_ti_free(dst);
    return -ENOMEM;
  }
  return 0;
}

/* Push a copy of t onto a bounded stack (the oldest goes when full). */
void pl_ti_push(struct trackinfo *stack, size_t *n, const struct trackinfo *t) {
  if (*n == HISTORY_MAX) {
    pl_ti_free(&stack[0]);
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
      const struct manifest_set *set = s->lt && s->lt->rep ? s->lt->rep->set : NULL;
      struct engine_track_params tp = {.cdm = d ? p->cfg.cdm : NULL,
                                       .session = d ? drm_session(d) : 0,
                                       .start = s->seek_frame,
                                       .end = INT64_MAX,
                                       .has_loudness = set && set->has_program_loudness &&
                                                       isfinite(set->program_loudness),
                                       .loudness_lufs = set ? (double)set->program_loudness : 0.0};
      r = engine_track_open(p->cfg.engine, s->id, c->data, c->len, &tp);
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

/* Pump every slot, the older track first: the next one opens only after it closed. The
 * engine knows a track only once it is open, so while the older one has not opened yet
 * (its audio object, manifest or init still on the way) the newer one waits too: else,
 * when the track heard before both had ended meanwhile, the one taken later from the
 * container would open first and be played first (bench/soak.py found it). The older
 * one's first chunk pumps both again (on_chunk); if it fails, its slot is freed and the
 * next event pumps the other. */
static void pump_all(struct player *p) {
  struct slot *a = &p->slots[0], *b = &p->slots[1];
  if (a->used && b->used && b->id < a->id) {
    struct slot *t = a;
    a = b;
    b = t;
  }
  if (a->used)
    pump(a);
  if (b->used && (!a->used || a->opened))
    pump(b);
}

/* An init names the rep of the segments after it; the first of them says from when. */
static void note_quality(struct slot *s, const struct fetcher_chunk *c) {
  if (c->kind == FETCHER_INIT) {
    if (c->reason == FETCHER_INIT_SEEK || c->reason == FETCHER_INIT_FIRST)
      s->n_quality = 0; /* what was fetched before is dropped */
    s->init_rep = c->rep;
    return;
  }
  const struct manifest_rep *r = s->init_rep;
  s->init_rep = NULL;
  if (!r || !c->timescale)
    return;
  struct quality q = {.from_ms = c->start * 1000u / c->timescale,
                      .rate = r->sample_rate,
                      .bits = r->bit_depth ? r->bit_depth : 16,
                      .channels = r->channels};
  snprintf(q.codec, sizeof(q.codec), "%s", r->codecs ? r->codecs : "");
  if (s->n_quality > 0) {
    const struct quality *l = &s->quality[s->n_quality - 1];
    if (l->rate == q.rate && l->bits == q.bits && l->channels == q.channels &&
        strcmp(l->codec, q.codec) == 0)
      return; /* a rebase onto the same rep */
  }
  if (s->n_quality == QUALITY_MAX) {
    memmove(s->quality, s->quality + 1, (QUALITY_MAX - 1) * sizeof(s->quality[0]));
    s->n_quality--;
  }
  s->quality[s->n_quality++] = q;
}

static void on_chunk(void *ud, const struct fetcher_chunk *c) {
  struct slot *s = ud;
  if (s->pend_n >= PENDING_MAX) { /* cannot happen: the fetcher holds at most as many */
    log_error("player: pending chunks over their bound");
    return;
  }
  note_quality(s, c);
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
    pl_load_next(s->p); /* prefetch: the next track queues behind this one (gapless) */
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

static void on_fetch_error(void *ud, int err) {
  struct slot *s = ud;
  pl_track_failed(s->p, s, err, NULL);
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
    pl_track_failed(s->p, s, err, "license");
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
    pl_track_failed(s->p, s, r, NULL);
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
      pl_slot_free(s);
      pump_all(p); /* a newer track waiting for this one to open goes on */
      pl_load_next(p);
      return;
    }
    if (err == -AMP_EREPORT) {
      /* A 409 (too many streams, billing...): pause and show it. */
      p->error = err;
      p->output_error = false;
      snprintf(p->error_text, sizeof(p->error_text), "%s",
               report && report->terse ? report->terse : "the service refused the track");
      pl_slot_free(s);
      pump_all(p);      /* a newer track waiting for this one to open goes on */
      if (p->current) { /* the queued track: the one being heard plays to its end */
        p->held = true;
        return;
      }
      pl_set_state(p, PLAYER_PAUSED);
      return;
    }
    pl_track_failed(p, s, err, NULL);
    return;
  }
  if (s->rebasing) {
    s->rebasing = false;
    int r = fetcher_rebase(s->fetch, lt->rep, lt->audio->segment.h, lt->audio->segment.n,
                           lt->audio->expires_ms);
    if (r < 0) {
      loaded_free(lt);
      pl_track_failed(p, s, r, NULL);
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
    pl_track_failed(p, s, r, NULL);
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
      pl_load_next(p); /* the container from its start */
      return;
    }
    if (!p->current)
      pl_set_state(p, PLAYER_STOPPED);
    return;
  }
  if (err < 0) {
    pl_track_failed(p, NULL, err, NULL);
    return;
  }
  uint32_t index = p->cursor_taken++;
  if (p->resume_skip > 0) { /* player_play_at: not this one yet */
    p->resume_skip--;
    pl_load_next(p);
    return;
  }
  if (t->error_url && !t->audio_url) {
    if (t->auto_skip) {
      log_info("player: a track marked unavailable (autoSkipOnError): skipped");
      pl_load_next(p);
      return;
    }
    p->error = -AMP_EREPORT;
    p->output_error = false;
    snprintf(p->error_text, sizeof(p->error_text), "%s", t->title ? t->title : "unavailable");
    pl_set_state(p, PLAYER_PAUSED);
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
                         .image = (char *)(uintptr_t)t->image_url,
                         .duration = t->duration,
                         .auto_skip = t->auto_skip,
                         .index = index};
  if (ti_copy(&s->ti, &ti) < 0 || !s->ti.audio_url) {
    pl_slot_free(s);
    pl_track_failed(p, NULL, t->audio_json ? -AMP_EUNSUPPORTED : -AMP_EPROTO, NULL);
    return;
  }
  if (!p->current)
    p->current = s;
  int r = start_load(s);
  if (r < 0)
    pl_track_failed(p, s, r, NULL);
}

/* The track queued behind the current one (loaded for gapless) goes back on the forward
 * stack, so a command that drops it (next, previous, seek) does not skip it. A copy queued
 * by repeat one is not put back: it was no track of the container's. */
void pl_requeue_next(struct player *p) {
  for (int i = 0; i < SLOTS; i++) {
    struct slot *q = &p->slots[i];
    if (q->used && q != p->current && !q->repeat_copy)
      pl_ti_push(p->forward, &p->n_forward, &q->ti);
  }
}

/* Start a slot for a known track (history, forward, repeat one: repeat_copy). */
void pl_play_info(struct player *p, const struct trackinfo *ti, bool repeat_copy) {
  struct slot *s = slot_new(p);
  if (!s)
    return;
  s->repeat_copy = repeat_copy;
  if (ti_copy(&s->ti, ti) < 0) {
    pl_slot_free(s);
    return;
  }
  if (!p->current)
    p->current = s;
  int r = start_load(s);
  if (r < 0)
    pl_track_failed(p, s, r, NULL);
}

/* The next track into a free slot: the same one again (repeat one), else one previous
 * put back, else the cursor's next (and the container again at its end with repeat
 * all). Repeat one comes first: the tracks previous put back wait for a next. */
void pl_load_next(struct player *p) {
  int free_slots = 0;
  for (int i = 0; i < SLOTS; i++)
    free_slots += !p->slots[i].used;
  if (free_slots == 0 || p->cursor_busy || p->doc_call || p->held)
    return;
  if (p->repeat == PLAYER_REPEAT_ONE && p->current) {
    struct trackinfo ti;
    if (ti_copy(&ti, &p->current->ti) == 0) {
      pl_play_info(p, &ti, true);
      pl_ti_free(&ti);
    }
    return;
  }
  if (p->n_forward > 0) {
    struct trackinfo ti = p->forward[--p->n_forward];
    pl_play_info(p, &ti, false);
    pl_ti_free(&ti);
    return;
  }
  if (p->cursor_end && p->repeat == PLAYER_REPEAT_ALL && p->container_url) {
    api_cursor_free(p->cursor);
    p->cursor = NULL;
    p->cursor_end = false;
    p->cursor_taken = 0;
    if (api_get(p->cfg.api, API_DOCUMENT, p->container_url, pl_on_container, p, &p->doc_call) < 0)
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
  s->init_rep = NULL;
  s->n_quality = 0;
  s->id = ++s->p->next_id; /* the engine's late events of the old id find no slot */
  return start_load(s);
}

/* A track cannot go on: report it, drop it, and go on with the container (with the track
 * queued behind it, if any: the cursor has moved past that one already). */
void pl_track_failed(struct player *p, struct slot *s, int err, const char *text) {
  log_warning("player: track failed: %s", amp_strerror(err));
  p->error = err;
  p->output_error = false;
  snprintf(p->error_text, sizeof(p->error_text), "%s", text ? text : amp_strerror(err));
  if (s) {
    char code[REPORT_ERROR_CODE_MAX];
    snprintf(code, sizeof(code), "E%d", -err);
    pl_event(p, s, REPORT_ERROR, pl_heard_ms(p, s), code);
  }
  /* The queued track failed while another one plays: drop it alone and queue the one
   * after it; the music goes on. */
  struct slot *cur = p->current;
  if (s && s != cur && !s->started && cur && cur->used && cur->started &&
      (!s->opened || engine_track_drop(p->cfg.engine, s->id) == 0)) {
    log_warning("player: the queued track is skipped");
    pl_slot_free(s);
    pl_changed(p);
    pl_load_next(p);
    return;
  }
  engine_stop(p->cfg.engine);
  struct slot *queued = NULL;
  for (int i = 0; i < SLOTS; i++) {
    struct slot *o = &p->slots[i];
    if (s && o != s && o->used && !o->started && !queued && slot_restart(o) == 0)
      queued = o;
    else
      pl_slot_free(o);
  }
  if (queued) {
    p->current = queued;
    pl_set_state(p, PLAYER_LOADING);
  } else if (p->held) { /* the queued track had its 409: pause there */
    p->held = false;
    pl_set_state(p, PLAYER_PAUSED);
  } else if (p->cursor && !p->cursor_end) {
    pl_set_state(p, PLAYER_LOADING);
    pl_load_next(p);
  } else {
    pl_set_state(p, PLAYER_ERROR);
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
      p->output_error = false;
      p->error_text[0] = '\0';
    }
    if (first) {
      p->tracks_started++;
      pl_event(p, s, REPORT_STARTED, 0, NULL);
    }
    /* One change for the control's subscribers: the state's, or else a new track heard
     * (a seek's restart of the decode was published by the seek). */
    if (p->state != PLAYER_PAUSED && p->state != PLAYER_PLAYING)
      pl_set_state(p, PLAYER_PLAYING);
    else if (first)
      pl_changed(p);
    if (first && p->resume_ms) { /* player_play_at: on to the position */
      uint64_t ms = p->resume_ms;
      p->resume_ms = 0;
      if (player_seek(p, ms) < 0)
        log_info("player: the resume position %" PRIu64 " ms is not in the track", ms);
    }
    break;
  case ENGINE_TRACK_ENDED:
    if (!s)
      break;
    pl_event(p, s, REPORT_FINISHED, s->ti.duration > 0 ? (uint64_t)(s->ti.duration * 1000) : 0,
             NULL);
    p->tracks_played++;
    pl_ti_push(p->history, &p->n_history, &s->ti);
    pl_slot_free(s);
    for (int i = 0; i < SLOTS; i++)
      if (p->slots[i].used)
        p->current = &p->slots[i];
    share_target(p);              /* the queued track, now playing, gets the whole target */
    if (!p->current && p->held) { /* the 409 of the queued track: paused now */
      p->held = false;
      pl_set_state(p, PLAYER_PAUSED);
      break;
    }
    if (!p->current && p->cursor_end)
      pl_set_state(p, PLAYER_STOPPED);
    pl_load_next(p);
    break;
  case ENGINE_ERROR:
    if (s)
      pl_track_failed(p, s, ev->err, NULL);
    break;
  case ENGINE_UNDERRUN:
    p->underruns++;
    break;
  case ENGINE_OUTPUT_ERROR:
    /* Never fatal: the engine holds the audio and retries the device (engine.h). */
    p->error = ev->err;
    p->output_error = true;
    snprintf(p->error_text, sizeof(p->error_text), "audio output: %s (retrying)",
             amp_strerror(ev->err));
    pl_changed(p);
    break;
  case ENGINE_OUTPUT_OPENED:
    if (p->output_error) {
      p->output_error = false;
      p->error = 0;
      p->error_text[0] = '\0';
      pl_changed(p);
    }
    break;
  case ENGINE_DEVICE_CHANGED: /* the daemon's (engine_device()); nothing of the player's */
    break;
  }
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
    /* A URL cut short would name another resource: one that does not fit is left out. */
    if (s->ti.image && strlen(s->ti.image) < sizeof(st->art_url))
      memcpy(st->art_url, s->ti.image, strlen(s->ti.image) + 1);
    st->position_ms = pl_heard_ms(p, s);
    st->duration_ms = s->ti.duration > 0 ? (uint64_t)(s->ti.duration * 1000) : 0;
    const struct quality *q = NULL;
    for (size_t i = 0; i < s->n_quality; i++)
      if (!q || s->quality[i].from_ms <= st->position_ms)
        q = &s->quality[i];
    if (q) { /* the rep of the segment being heard */
      snprintf(st->codec, sizeof(st->codec), "%s", q->codec);
      st->rate = q->rate;
      st->bits = q->bits;
      st->channels = q->channels;
    } else if (s->lt && s->lt->rep) {
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
  st->seeks = p->seeks;
  st->tracks_started = p->tracks_started;
  st->track_index = s ? s->ti.index : 0;
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

const char *player_container(const struct player *p) {
  return p ? p->container_url : NULL;
}

void player_free(struct player *p) {
  if (!p)
    return;
  p->cfg.on_change = NULL;
  pl_reset(p);
  while (p->n_forward > 0)
    pl_ti_free(&p->forward[--p->n_forward]);
  while (p->n_history > 0)
    pl_ti_free(&p->history[--p->n_history]);
  free(p->container_url);
  free(p);
}
