/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_CORE_SAVEDSTATE_H
#define AMPD_CORE_SAVEDSTATE_H

#include <stdbool.h>
#include <stdint.h>

/*
 * savedstate: what the player's user set, kept across a restart (docs/reliability.md
 * "State across a restart"): the volume and the repeat mode, and with `[playback]
 * resume` the container being played, the track in it and the position in the track.
 *
 * The file is `<state_dir>/SAVEDSTATE_NAME`, written through core/statefile (a temp
 * file, fsync, rename, fsync of the directory, mode 0600), so it is the old content or
 * the new one, never a mix. Writes are debounced: savedstate_update() arms one timer at
 * the first change and the file is written when it fires (at most once a
 * debounce_ms), never per position tick; savedstate_flush() writes what is pending now
 * (the shutdown).
 *
 * The format is text, one "key value" a line, under the header line "ampd-state 1" and
 * over a last line "crc <8 hex digits>" (CRC-32 of every byte before that line). A file
 * that does not have exactly this shape (a cut, a flipped byte, an unknown key, a value
 * out of range) is refused as a whole: savedstate_load() is -EBADMSG and the caller
 * starts from the configuration's values.
 *
 * Loop thread only. Errors: 0 or -errno / -AMP_E*.
 */

struct loop;
struct savedstate;

#define SAVEDSTATE_NAME "player-state"
#define SAVEDSTATE_REF_MAX 4096u /* bytes of a container reference (a URL) */
#define SAVEDSTATE_DEBOUNCE_MS 1000u

struct savedstate_data {
  unsigned volume; /* 0..100 */
  unsigned repeat; /* 0 off, 1 one, 2 all (player/player.h's enum player_repeat) */
  /* resume: "" when there is nothing to resume */
  char container[SAVEDSTATE_REF_MAX];
  uint32_t track;       /* the track heard: its index in the container, from 0 */
  uint64_t position_ms; /* in that track */
};

/* Read the file. 0, -ENOENT (none), -EBADMSG (refused: see the top), or the errors of
 * statefile_read() (-EPERM for a file of the wrong mode or owner, ...). *ret is set only
 * on success. */
int savedstate_load(const char *dir, struct savedstate_data *ret);

/* dir is copied. debounce_ms 0: SAVEDSTATE_DEBOUNCE_MS. */
int savedstate_new(struct loop *l, const char *dir, uint32_t debounce_ms, struct savedstate **ret);
/* What is current now; written debounce_ms after the first change since the last write
 * (nothing happens when d equals what was last written or loaded: savedstate_seed). */
void savedstate_update(struct savedstate *s, const struct savedstate_data *d);
/* What the file holds (after a load), so that an unchanged state is not written again. */
void savedstate_seed(struct savedstate *s, const struct savedstate_data *d);
/* Write what is pending now. 0 (also when nothing is), or statefile_write()'s error
 * (logged; it stays pending). */
int savedstate_flush(struct savedstate *s);
/* Flushes first. Accepts NULL. */
void savedstate_free(struct savedstate *s);

#endif
