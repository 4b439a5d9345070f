/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_MPRIS_MPRIS_H
#define AMPD_MPRIS_MPRIS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * mpris: the player on D-Bus as an MPRIS media player (docs/mpris.md), through
 * libsystemd's sd-bus: the name org.mpris.MediaPlayer2.ampd, the object
 * /org/mpris/MediaPlayer2 with org.mpris.MediaPlayer2 and org.mpris.MediaPlayer2.Player,
 * so that playerctl, desktops and home-automation tools drive ampd.
 *
 * The bus connection joins the loop by its fd (sd_bus_get_fd/get_events) and one loop
 * timer (sd_bus_get_timeout): no thread, no polling. Methods call the player (player.h)
 * directly; the caller tells the module of every change of the player
 * (mpris_player_changed() from its player_config.on_change), and the module sends
 * PropertiesChanged for what changed, and Seeked after a seek.
 *
 * A bus that cannot be reached, a name that cannot be had (no policy file on the system
 * bus, another ampd on the bus) and a bus that goes away are logged and not fatal: the
 * daemon plays on, and the module connects again with a backoff (1 s doubling to 60 s).
 *
 * Loop thread only. Errors: 0 or negative -errno.
 */

struct loop;
struct player;
struct player_status;
struct mpris;

enum mpris_bus {
  MPRIS_BUS_SESSION, /* sd_bus_open_user(): DBUS_SESSION_BUS_ADDRESS or $XDG_RUNTIME_DIR/bus */
  MPRIS_BUS_SYSTEM,  /* sd_bus_open_system(): DBUS_SYSTEM_BUS_ADDRESS or the system socket */
};

/* The well-known name and the object path. */
#define MPRIS_NAME "org.mpris.MediaPlayer2.ampd"
#define MPRIS_PATH "/org/mpris/MediaPlayer2"
/* mpris:trackid is MPRIS_TRACK_PREFIX "/" + the track tag (escaped as sd_bus_path_encode()
 * does); with no track, the spec's /org/mpris/MediaPlayer2/TrackList/NoTrack. */
#define MPRIS_TRACK_PREFIX "/org/mpris/MediaPlayer2/ampd/track"

/* Connect to bus and serve the player p (not owned; it must outlive the module). The
 * connection is started here and completes on the loop; a failure to reach the bus is
 * retried (see the top), so this fails only with -EINVAL, -ENOMEM or -AMP_ETOOBIG (the
 * loop's timers). */
int mpris_new(struct loop *l, enum mpris_bus bus, struct player *p, struct mpris **ret);
/* The player's state changed (player_config.on_change): PropertiesChanged for the
 * properties whose values differ from the last ones sent, and Seeked when st->seeks moved.
 * Accepts NULL m. */
void mpris_player_changed(struct mpris *m, const struct player_status *st);
/* Takes the objects off the bus (a call arriving now never reaches the player), sends
 * what is queued without waiting, closes the connection (the name goes with it). Before
 * the player is freed. Accepts NULL. */
void mpris_free(struct mpris *m);

/* D-Bus strings must be UTF-8: copy src into dst (n bytes with the NUL, n > 0) with each
 * byte that does not start a complete, minimal, non-surrogate UTF-8 sequence replaced by
 * '?', cut at a character boundary when dst is too small. Returns dst. (A title cut at
 * PLAYER_TEXT_MAX may end inside a character; sd-bus refuses a whole message for one
 * such byte.) */
char *mpris_utf8_clean(char *dst, size_t n, const char *src);

#endif
