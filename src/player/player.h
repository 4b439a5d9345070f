/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_PLAYER_PLAYER_H
#define AMPD_PLAYER_PLAYER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "media/fetcher.h"

/*
 * player: the loop-side player. It walks a container (cloud/api cursor), loads each track
 * (player/loader: audio object, manifest, rep, license in parallel), fetches its
 * segments (media/fetcher) and hands them to the engine (player/engine: the media and
 * output threads), one track behind the other so that tracks of one format play
 * gapless. The next track is loaded as soon as the current one is fetched to its end
 * (the fetcher holds buffer_ahead of media, so that is about that long before the end).
 *
 * States: IDLE (nothing asked), LOADING (play asked, nothing heard yet), PLAYING,
 * PAUSED, STOPPED (stop, or the end of the container), ERROR (the track could not
 * play and the container does not go on; player_status says why).
 *
 * Recovery: an expired audio object or a 403/410 from the CDN fetches a fresh one and
 * the fetcher continues at the same segment (a new session: new KID, new license);
 * a 409 pauses with the service's report (a track marked autoSkipOnError is skipped
 * instead); a collector's refusal stops (report's on_stop, wired by the caller to
 * player_stop_by_service).
 *
 * Playback events (cloud/report) go to each track's collector with offsets from the
 * audio clock (frames the device has played, player/engine), never wall time.
 *
 * Everything belongs to the loop thread. Errors: 0 or negative -errno / -AMP_E*.
 */

struct loop;
struct http;
struct api;
struct license;
struct cdmhost;
struct report;
struct engine;
struct manifest;
struct manifest_rep;
struct player;
struct abr;
struct abr_constraints;

enum player_repeat {
  PLAYER_REPEAT_OFF,
  PLAYER_REPEAT_ONE, /* the track again and again */
  PLAYER_REPEAT_ALL, /* the container from its start after its end (not stations: endless) */
};

enum player_state {
  PLAYER_IDLE,
  PLAYER_LOADING,
  PLAYER_PLAYING,
  PLAYER_PAUSED,
  PLAYER_STOPPED,
  PLAYER_ERROR,
};

#define PLAYER_TEXT_MAX 256 /* bytes of a title, artist, album, tag, error text kept */
#define PLAYER_URL_MAX 1024 /* bytes of the cover's URL with its NUL; a longer one is left out */

struct player_status {
  enum player_state state;
  char title[PLAYER_TEXT_MAX], artist[PLAYER_TEXT_MAX], album[PLAYER_TEXT_MAX];
  char track_tag[PLAYER_TEXT_MAX];
  char art_url[PLAYER_URL_MAX]; /* the cover (https), "" when none */
  uint64_t position_ms;         /* of the track being heard, from the audio clock */
  uint64_t duration_ms;         /* 0 when unknown */
  char codec[16];               /* "flac", "opus": the rep of the segment being heard (ABR) */
  uint32_t rate, bits, channels;
  uint64_t buffer_ms; /* media fetched ahead and not yet handed to the engine's end */
  uint64_t underruns;
  uint64_t tracks_played;           /* tracks whose end was heard since player_new */
  uint64_t seeks;                   /* seeks that succeeded since player_new */
  uint64_t tracks_started;          /* tracks whose first frame was heard (not a seek) */
  uint32_t track_index;             /* the track's place in its container, from 0 */
  unsigned volume;                  /* software volume, percent */
  int error;                        /* the error that ended the last track, 0 when none */
  char error_text[PLAYER_TEXT_MAX]; /* the service's report (terse) when it had one */
};

/* A state change or a new track: the caller publishes it (control). */
typedef void (*player_change_fn)(void *userdata, const struct player_status *st);

/* Choose a rep of a loaded manifest (media/abr, or a fixed choice). NULL: none. */
typedef const struct manifest_rep *(*player_choose_fn)(void *userdata, const struct manifest *m);

struct player_config {
  struct loop *loop;
  struct http *http;
  struct api *api;
  struct license *license;
  struct cdmhost *cdm;
  struct report *report; /* may be NULL: no playback events */
  struct engine *engine;
  struct fetcher_config fetch; /* buffer ahead and byte cap */
  player_choose_fn choose;     /* the first rep of a track, when abr is NULL */
  void *choose_userdata;
  struct abr *abr;                           /* may be NULL: the chooser's rep throughout */
  const struct abr_constraints *constraints; /* with abr: what the device takes */
  player_change_fn on_change;                /* may be NULL */
  void *userdata;
};

int player_new(const struct player_config *cfg, struct player **ret);
/* Stop and free. Accepts NULL. The engine is stopped, not freed (it is the caller's). */
void player_free(struct player *p);

/* Play the container whose document is at url (a playable navigation summary's ref:
 * its result names the first chunk) from its first track. Whatever played stops.
 * 0 (the document is being fetched), -EINVAL, -ENOMEM. */
int player_play(struct player *p, const char *url);
/* player_play(), but from the container's track `index` (counting from 0 as the cursor
 * gives them), at ms into it (a seek once its first frame is heard): a resume. */
int player_play_at(struct player *p, const char *url, uint32_t index, uint64_t ms);
/* The URL of the container played last (NULL: none). */
const char *player_container(const struct player *p);
int player_pause(struct player *p);  /* -EALREADY when not playing */
int player_resume(struct player *p); /* -EALREADY when not paused */
int player_stop(struct player *p);
/* The next track of the container, now. -ENOENT at its end. */
int player_next(struct player *p);
/* The track before (from the history of what played), or the current one from its
 * start when more than PLAYER_PREVIOUS_RESTART_MS of it was heard. -ENOENT when there is
 * none. */
#define PLAYER_PREVIOUS_RESTART_MS 3000
int player_previous(struct player *p);
/* Jump to ms in the track being heard, sample-precise: the decode starts at the segment
 * that holds it (one before, for the decoder's preroll) and the output begins exactly at
 * ms. -EALREADY (nothing playing), -ERANGE (past the end). */
int player_seek(struct player *p, uint64_t ms);
void player_set_repeat(struct player *p, enum player_repeat r);
/* Software volume 0..100 (player/engine); the change is reported as a state change. */
void player_set_volume(struct player *p, unsigned percent);
unsigned player_volume(const struct player *p);
enum player_repeat player_get_repeat(const struct player *p);
const char *player_repeat_name(enum player_repeat r);

/* What comes: the track being heard, the one queued behind it, then the tracks
 * previous put back; at most max entries (titles, PLAYER_TEXT_MAX bytes each). */
struct player_queue_entry {
  char title[PLAYER_TEXT_MAX], artist[PLAYER_TEXT_MAX];
  bool current;
};
size_t player_queue(const struct player *p, struct player_queue_entry *out, size_t max);

/* The collector refused an event: stop, with err as the reason. */
void player_stop_by_service(struct player *p, int err);

void player_status(const struct player *p, struct player_status *ret);
const char *player_state_name(enum player_state s);

/* The engine's event sink: the caller's engine_config.on_event must pass events here
 * (the engine is created before the player and outlives it). */
struct engine_event;
void player_engine_event(void *player, const struct engine_event *ev);

#endif
