/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_PLAYER_PLAYER_IMPL_H
#define AMPD_PLAYER_PLAYER_IMPL_H
/*
 * player's private half, shared by player.c (the slots, loading, feeding the engine, the
 * engine's events, status) and player_cmd.c (the commands). Nothing outside
 * src/player/player*.c includes this. Loop thread only, like all of the player.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cloud/api.h"
#include "cloud/report.h"
#include "media/fetcher.h"
#include "player/loader.h"
#include "player/player.h"

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
  char *title, *artist, *album, *tag, *collector, *audio_url, *image;
  double duration;
  bool auto_skip;
  uint32_t index; /* its place in the container (from 0), for a resume */
};

#define HISTORY_MAX 32 /* tracks kept for previous */

/* Where a rep starts to be heard: the status names the rep of the segment being heard,
 * not the one being fetched (up to the fetcher's target ahead). A copy, not the rep: a
 * rebase or a restart frees the manifest. At most QUALITY_MAX a track; the oldest goes
 * first (ABR switches at most once a segment, and only the fetch window is ahead). */
#define QUALITY_MAX 8
struct quality {
  uint64_t from_ms; /* the media time of the first segment of the rep */
  char codec[16];
  uint32_t rate, bits, channels;
};

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
  bool repeat_copy;                    /* queued by repeat one: the track being heard again */
  const struct manifest_rep *init_rep; /* of the last init handed out, until its segment */
  struct quality quality[QUALITY_MAX];
  size_t n_quality;
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
  uint64_t seeks; /* player_seek()s that succeeded: player_status().seeks */
  uint64_t tracks_started;
  int error;
  bool output_error; /* error is the device's: cleared when it opens again */
  char error_text[PLAYER_TEXT_MAX];
  uint64_t underruns;
  enum player_repeat repeat;
  char *container_url;                   /* for repeat all */
  uint32_t cursor_taken;                 /* tracks the cursor gave since the container began */
  uint32_t resume_skip;                  /* player_play_at: tracks still to pass over */
  uint64_t resume_ms;                    /* player_play_at: where its first track starts */
  struct trackinfo history[HISTORY_MAX]; /* played, oldest first */
  size_t n_history;
  struct trackinfo forward[HISTORY_MAX]; /* to play before the cursor's next (previous) */
  size_t n_forward;
};

void pl_changed(struct player *p);
void pl_event(struct player *p, struct slot *s, enum report_type type, uint64_t offset_ms,
              const char *error_code);
uint64_t pl_heard_ms(const struct player *p, const struct slot *s);
void pl_load_next(struct player *p);
void pl_on_container(void *ud, int err, struct api_reply *reply);
void pl_play_info(struct player *p, const struct trackinfo *ti, bool repeat_copy);
void pl_quality_of(const struct slot *s, char *out, size_t n);
void pl_requeue_next(struct player *p);
void pl_reset(struct player *p);
void pl_set_state(struct player *p, enum player_state s);
void pl_slot_free(struct slot *s);
void pl_ti_free(struct trackinfo *t);
void pl_ti_push(struct trackinfo *stack, size_t *n, const struct trackinfo *t);
void pl_track_failed(struct player *p, struct slot *s, int err, const char *text);

#endif
