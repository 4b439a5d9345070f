/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_DEVENTS_H
#define AMPD_DEVENTS_H

#include <stdbool.h>
#include <stdint.h>

/*
 * devents: the daemon's view of what the player and the device do, turned into the
 * `onevent` hook's events (core/hooks) and the periodic stats line. Part of main (it
 * sees player/player.h and core/hooks.h); loop thread only.
 *
 * From successive player statuses (devents_player(), called on every player change):
 *   start       the state became playing (a play, or a resume after pause)
 *   pause       playing became paused
 *   stop        stopped, idle or error after a start
 *   track       a new track's first frame is heard (player_status.tracks_started)
 *   volume      the volume changed
 *   error       a new error in the status (its text in AMPD_ERROR)
 * and from the device (devents_device(), called with engine_device().open before each
 * engine event reaches the player, ENGINE_DEVICE_CHANGED among them, which the engine
 * sends when it opens or closes the device, its idle close included): sink_open,
 * sink_close. A play of an album is therefore sink_open,
 * start, track, track, track, stop, and sink_close once the device is closed idle.
 * The first status only sets the starting point (no event).
 */

struct hooks;
struct player_status;
struct devents;

int devents_new(struct hooks *h, struct devents **ret);
void devents_player(struct devents *e, const struct player_status *st);
void devents_device(struct devents *e, bool open, const struct player_status *st);
/* The stats line (log topic "stats", info): bitrate estimate, buffer, underruns, quality,
 * codec; only while playing. */
void devents_stats(const struct player_status *st, uint64_t bitrate_bps);
void devents_free(struct devents *e);

#endif
