/* SPDX-License-Identifier: Apache-2.0 */
#include "devents.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "core/err.h"
#include "core/hooks.h"
#include "core/log.h"
#include "player/player.h"

LOG_TOPIC("stats");

struct devents {
  struct hooks *hooks;
  bool seen;   /* a first status was taken */
  bool active; /* start sent, no stop since */
  bool dev_open;
  enum player_state state;
  uint64_t tracks_started;
  unsigned volume;
  int error;
};

int devents_new(struct hooks *h, struct devents **ret) {
  if (!ret)
    return -EINVAL;
  struct devents *e = calloc(1, sizeof(*e));
  if (!e)
    return -ENOMEM;
  e->hooks = h;
  *ret = e;
  return 0;
}

void devents_free(struct devents *e) {
  free(e);
}

static void emit(struct devents *e, enum hooks_event ev, const struct player_status *st,
                 const char *error) {
  struct hooks_info info = {.volume = st ? (int)st->volume : -1, .error = error};
  if (st && st->title[0] && ev != HOOKS_SINK_OPEN && ev != HOOKS_SINK_CLOSE && ev != HOOKS_VOLUME) {
    info.has_track = true;
    info.title = st->title;
    info.artist = st->artist;
    info.album = st->album;
    info.duration_ms = st->duration_ms;
    info.position_ms = st->position_ms;
  }
  log_debug("event %s", hooks_event_name(ev));
  hooks_emit(e->hooks, ev, &info);
}

void devents_player(struct devents *e, const struct player_status *st) {
  if (!e || !st)
    return;
  if (!e->seen) {
    e->seen = true;
    e->state = st->state;
    e->tracks_started = st->tracks_started;
    e->volume = st->volume;
    e->error = st->error;
    return;
  }
  if (st->state != e->state) {
    if (st->state == PLAYER_PLAYING) {
      emit(e, HOOKS_START, st, NULL);
      e->active = true;
    } else if (st->state == PLAYER_PAUSED && e->state == PLAYER_PLAYING) {
      emit(e, HOOKS_PAUSE, st, NULL);
    } else if ((st->state == PLAYER_STOPPED || st->state == PLAYER_IDLE ||
                st->state == PLAYER_ERROR) &&
               e->active) {
      emit(e, HOOKS_STOP, st, NULL);
      e->active = false;
    }
    e->state = st->state;
  }
  if (st->tracks_started != e->tracks_started) {
    e->tracks_started = st->tracks_started;
    emit(e, HOOKS_TRACK, st, NULL);
  }
  if (st->volume != e->volume) {
    e->volume = st->volume;
    emit(e, HOOKS_VOLUME, st, NULL);
  }
  if (st->error != e->error) {
    e->error = st->error;
    if (st->error)
      emit(e, HOOKS_ERROR, st, st->error_text[0] ? st->error_text : amp_strerror(st->error));
  }
}

void devents_device(struct devents *e, bool open, const struct player_status *st) {
  if (!e || open == e->dev_open)
    return;
  e->dev_open = open;
  emit(e, open ? HOOKS_SINK_OPEN : HOOKS_SINK_CLOSE, st, NULL);
}

void devents_stats(const struct player_status *st, uint64_t bitrate_bps) {
  if (!st || st->state != PLAYER_PLAYING)
    return;
  log_info("playing: bitrate estimate %" PRIu64 " kbit/s, buffer %" PRIu64 " ms, underruns %" PRIu64
           ", quality %" PRIu32 " Hz %" PRIu32 " bit %" PRIu32 " ch, codec %s",
           bitrate_bps / 1000u, st->buffer_ms, st->underruns, st->rate, st->bits, st->channels,
           st->codec[0] ? st->codec : "?");
}
