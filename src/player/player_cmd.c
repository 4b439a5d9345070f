/* SPDX-License-Identifier: Apache-2.0 */
/* The player's commands: play, pause, resume, stop, next, previous, seek, volume, repeat,
 * the queue (player.h). */
#include "player/player.h"
#include "player/player_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/api.h"
#include "cloud/report.h"
#include "core/err.h"
#include "media/abr.h"
#include "media/manifest.h"
#include "player/engine.h"
#include "player/loader.h"

/* ---------------------------------------------------------------- commands */

void pl_reset(struct player *p) {
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
    pl_slot_free(&p->slots[i]);
  p->current = NULL;
}

void pl_on_container(void *ud, int err, struct api_reply *reply) {
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
    p->output_error = false;
    snprintf(p->error_text, sizeof(p->error_text), "%s", amp_strerror(err));
    pl_set_state(p, PLAYER_ERROR);
    return;
  }
  pl_load_next(p);
}

int player_play(struct player *p, const char *url) {
  if (!p || !url)
    return -EINVAL;
  pl_reset(p);
  char *copy = strdup(url);
  if (!copy)
    return -ENOMEM;
  free(p->container_url);
  p->container_url = copy;
  p->cursor_taken = p->resume_skip = 0;
  p->resume_ms = 0;
  while (p->n_forward > 0)
    pl_ti_free(&p->forward[--p->n_forward]);
  p->error = 0;
  p->output_error = false;
  p->error_text[0] = '\0';
  int r = api_get(p->cfg.api, API_DOCUMENT, url, pl_on_container, p, &p->doc_call);
  if (r < 0) {
    p->doc_call = NULL;
    return r;
  }
  pl_set_state(p, PLAYER_LOADING);
  return 0;
}

int player_play_at(struct player *p, const char *url, uint32_t index, uint64_t ms) {
  int r = player_play(p, url);
  if (r == 0) {
    p->resume_skip = index;
    p->resume_ms = ms;
  }
  return r;
}

int player_pause(struct player *p) {
  if (!p)
    return -EINVAL;
  if (p->state != PLAYER_PLAYING)
    return -EALREADY;
  int r = engine_pause(p->cfg.engine, true);
  if (r < 0)
    return r;
  pl_event(p, p->current, REPORT_PAUSED, pl_heard_ms(p, p->current), NULL);
  pl_set_state(p, PLAYER_PAUSED);
  return 0;
}

int player_resume(struct player *p) {
  if (!p)
    return -EINVAL;
  if (p->state != PLAYER_PAUSED)
    return -EALREADY;
  if (!p->current) { /* paused by a 409: try the container's next track again */
    p->error = 0;
    p->output_error = false;
    p->error_text[0] = '\0';
    pl_set_state(p, PLAYER_LOADING);
    pl_load_next(p);
    return 0;
  }
  int r = engine_pause(p->cfg.engine, false);
  if (r < 0)
    return r;
  pl_event(p, p->current, REPORT_RESUMED, pl_heard_ms(p, p->current), NULL);
  pl_set_state(p, PLAYER_PLAYING);
  return 0;
}

int player_stop(struct player *p) {
  if (!p)
    return -EINVAL;
  if (p->current && p->current->started)
    pl_event(p, p->current, REPORT_STOPPED, pl_heard_ms(p, p->current), NULL);
  pl_reset(p);
  pl_set_state(p, PLAYER_STOPPED);
  return 0;
}

void player_stop_by_service(struct player *p, int err) {
  if (!p)
    return;
  pl_reset(p);
  p->error = err;
  p->output_error = false;
  snprintf(p->error_text, sizeof(p->error_text), "the service stopped playback");
  pl_set_state(p, PLAYER_STOPPED);
}

int player_next(struct player *p) {
  if (!p)
    return -EINVAL;
  if (!p->cursor)
    return -ENOENT;
  if (p->current && p->current->started) {
    pl_event(p, p->current, REPORT_STOPPED, pl_heard_ms(p, p->current), NULL);
    pl_ti_push(p->history, &p->n_history, &p->current->ti);
  }
  /* The queued track (if any) was loaded for gapless: keep nothing, start it again. */
  pl_requeue_next(p);
  p->held = false;
  engine_stop(p->cfg.engine);
  for (int i = 0; i < SLOTS; i++)
    pl_slot_free(&p->slots[i]);
  if (p->cursor_end && p->n_forward == 0 && p->repeat != PLAYER_REPEAT_ALL) {
    pl_set_state(p, PLAYER_STOPPED);
    return -ENOENT;
  }
  enum player_repeat saved = p->repeat;
  if (p->repeat == PLAYER_REPEAT_ONE)
    p->repeat = PLAYER_REPEAT_OFF; /* next leaves the repeated track */
  pl_set_state(p, PLAYER_LOADING);
  pl_load_next(p);
  p->repeat = saved;
  return 0;
}

int player_previous(struct player *p) {
  if (!p)
    return -EINVAL;
  struct slot *s = p->current;
  if (s && s->started && pl_heard_ms(p, s) > PLAYER_PREVIOUS_RESTART_MS)
    return player_seek(p, 0);
  if (p->n_history == 0)
    return -ENOENT;
  pl_requeue_next(p);
  if (s && s->started) {
    pl_event(p, s, REPORT_STOPPED, pl_heard_ms(p, s), NULL);
    pl_ti_push(p->forward, &p->n_forward, &s->ti); /* next comes back to it */
  }
  engine_stop(p->cfg.engine);
  for (int i = 0; i < SLOTS; i++)
    pl_slot_free(&p->slots[i]);
  struct trackinfo ti = p->history[--p->n_history];
  pl_set_state(p, PLAYER_LOADING);
  pl_play_info(p, &ti, false);
  pl_ti_free(&ti);
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
  uint64_t from = pl_heard_ms(p, s);
  bool paused = p->state == PLAYER_PAUSED;
  pl_requeue_next(p);
  engine_stop(p->cfg.engine);
  for (int i = 0; i < SLOTS; i++)
    if (&p->slots[i] != s)
      pl_slot_free(&p->slots[i]);
  p->current = s;
  s->id = ++p->next_id; /* events of the old decode are not this one's */
  s->pend_n = 0;
  s->pend_head = 0;
  s->opened = s->closed = s->fetched_all = false;
  s->base_ms = ms;
  s->seek_frame = (int64_t)(ms * rep->sample_rate / 1000u);
  int r = fetcher_seek(s->fetch, idx);
  if (r < 0) {
    pl_track_failed(p, s, r, NULL);
    return r;
  }
  if (paused)
    engine_pause(p->cfg.engine, true);
  if (p->cfg.report && s->ti.collector && s->ti.tag) {
    char quality[REPORT_QUALITY_MAX];
    pl_quality_of(s, quality, sizeof(quality));
    struct report_event ev = {.type = REPORT_SEEKED,
                              .offset_ms = ms,
                              .seek_from_ms = from,
                              .track_tag = s->ti.tag,
                              .quality = quality};
    report_submit(p->cfg.report, &ev, s->ti.collector, NULL);
  }
  p->seeks++;
  pl_changed(p);
  return 0;
}

void player_set_volume(struct player *p, unsigned percent) {
  if (!p)
    return;
  engine_set_volume(p->cfg.engine, percent);
  pl_changed(p);
}

unsigned player_volume(const struct player *p) {
  return p ? engine_volume(p->cfg.engine) : 0;
}

/* Repeat one set or cleared while a track is queued behind the one being heard: that
 * track is the wrong one now. Drop it alone (the one heard plays on), put it back unless
 * it was a repeat copy, and queue what the new mode wants. */
static void requeue_for_repeat(struct player *p) {
  struct slot *cur = p->current;
  for (int i = 0; i < SLOTS; i++) {
    struct slot *q = &p->slots[i];
    if (!q->used || q == cur || q->started || !cur)
      continue; /* (cur need not be heard yet: the queued one is behind it all the same) */
    if (q->opened && engine_track_drop(p->cfg.engine, q->id) < 0)
      return; /* already on the device, or the drops are full: the mode applies after it */
    if (!q->repeat_copy)
      pl_ti_push(p->forward, &p->n_forward, &q->ti);
    pl_slot_free(q);
    pl_load_next(p);
    return;
  }
}

void player_set_repeat(struct player *p, enum player_repeat r) {
  if (p && (unsigned)r <= PLAYER_REPEAT_ALL) {
    bool one_changed = (r == PLAYER_REPEAT_ONE) != (p->repeat == PLAYER_REPEAT_ONE);
    p->repeat = r;
    if (one_changed)
      requeue_for_repeat(p);
    pl_changed(p);
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
