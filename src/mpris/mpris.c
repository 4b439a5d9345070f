/* SPDX-License-Identifier: Apache-2.0 */
#include "mpris.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <systemd/sd-bus.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"
#include "player/player.h"

LOG_TOPIC("mpris");

#define IFACE_ROOT "org.mpris.MediaPlayer2"
#define IFACE_PLAYER "org.mpris.MediaPlayer2.Player"
#define NO_TRACK "/org/mpris/MediaPlayer2/TrackList/NoTrack"

#define RETRY_MIN_USEC 1000000ull
#define RETRY_MAX_USEC 60000000ull
/* sd_bus_process() calls in one pass of the loop (one message each): a flood of calls
 * cannot starve the rest of the loop; what is left makes sd_bus_get_timeout() 0 and runs
 * in the next pass. */
#define PROCESS_MAX 64
/* Property names in one PropertiesChanged (all the Player's that change, and the NULL). */
#define CHANGED_MAX 12

struct mpris {
  struct loop *loop;
  struct player *player;
  enum mpris_bus which;
  sd_bus *bus;               /* NULL while not connected */
  sd_bus_slot *objects[2];   /* the two vtables: gone first at the end (mpris_free) */
  struct loop_source *io;    /* the bus's fd */
  struct loop_source *timer; /* sd_bus_get_timeout() */
  struct loop_source *retry; /* connect again */
  uint64_t retry_usec;       /* the next backoff */
  bool warned;               /* the failure is logged once, retries at debug */
  bool sent;                 /* `last` holds what PropertiesChanged last described */
  struct player_status last; /* the status last published */
  enum player_repeat last_repeat;
};

static const char *bus_name(const struct mpris *m) {
  return m->which == MPRIS_BUS_SYSTEM ? "system" : "session";
}

/* ---------------------------------------------------------------- text */

/* The length of the UTF-8 sequence at s (1..4), or 0 when s does not start a valid one
 * (overlong, a surrogate, past U+10FFFF, cut short). */
static size_t utf8_seq(const unsigned char *s) {
  unsigned c = s[0];
  if (c < 0x80)
    return 1;
  size_t len = c >= 0xc2 && c <= 0xdf ? 2 : (c & 0xf0) == 0xe0 ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
  if (!len)
    return 0;
  for (size_t i = 1; i < len; i++)
    if ((s[i] & 0xc0) != 0x80)
      return 0;
  if (len == 3 && ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0)))
    return 0; /* overlong, surrogate */
  if (len == 4 && ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90)))
    return 0; /* overlong, past U+10FFFF */
  return len;
}

char *mpris_utf8_clean(char *dst, size_t n, const char *src) {
  if (!dst || n == 0)
    return dst;
  size_t o = 0;
  const unsigned char *s = (const unsigned char *)(src ? src : "");
  while (*s) {
    size_t len = utf8_seq(s);
    if (len == 0) {
      if (o + 1 >= n)
        break;
      dst[o++] = '?';
      s++;
      continue;
    }
    if (o + len >= n)
      break;
    memcpy(dst + o, s, len);
    o += len;
    s += len;
  }
  dst[o] = '\0';
  return dst;
}

/* ---------------------------------------------------------------- the player's view */

static bool has_track(const struct player_status *st) {
  return st->state == PLAYER_PLAYING || st->state == PLAYER_PAUSED || st->state == PLAYER_LOADING;
}

static bool can_seek(const struct player_status *st) {
  return (st->state == PLAYER_PLAYING || st->state == PLAYER_PAUSED) && st->duration_ms > 0;
}

/* LOADING is "Playing": play was asked and the music is on its way (MPRIS has no
 * buffering state). IDLE, STOPPED and ERROR are "Stopped". */
static const char *status_name(const struct player_status *st) {
  switch (st->state) {
  case PLAYER_PLAYING:
  case PLAYER_LOADING:
    return "Playing";
  case PLAYER_PAUSED:
    return "Paused";
  default:
    return "Stopped";
  }
}

static const char *loop_name(enum player_repeat r) {
  return r == PLAYER_REPEAT_ONE ? "Track" : r == PLAYER_REPEAT_ALL ? "Playlist" : "None";
}

/* The current track's mpris:trackid (malloc'd into *ret). */
static int track_path(const struct player_status *st, char **ret) {
  if (!st->track_tag[0]) {
    *ret = strdup(NO_TRACK);
    return *ret ? 0 : -ENOMEM;
  }
  return sd_bus_path_encode(MPRIS_TRACK_PREFIX, st->track_tag, ret);
}

static bool meta_differs(const struct player_status *a, const struct player_status *b) {
  return strcmp(a->track_tag, b->track_tag) != 0 || strcmp(a->title, b->title) != 0 ||
         strcmp(a->artist, b->artist) != 0 || strcmp(a->album, b->album) != 0 ||
         strcmp(a->art_url, b->art_url) != 0 || a->duration_ms != b->duration_ms;
}

/* ---------------------------------------------------------------- properties */

static int get_const(sd_bus *bus, const char *path, const char *interface, const char *property,
                     sd_bus_message *reply, void *userdata, sd_bus_error *error) {
  (void)bus, (void)path, (void)interface, (void)userdata, (void)error;
  if (strcmp(property, "Identity") == 0)
    return sd_bus_message_append(reply, "s", "ampd");
  if (strcmp(property, "SupportedUriSchemes") == 0 || strcmp(property, "SupportedMimeTypes") == 0)
    return sd_bus_message_append(reply, "as", 0);
  if (strcmp(property, "Rate") == 0 || strcmp(property, "MinimumRate") == 0 ||
      strcmp(property, "MaximumRate") == 0)
    return sd_bus_message_append(reply, "d", 1.0);
  /* CanControl is the one true constant; CanQuit, CanRaise, HasTrackList are false. */
  return sd_bus_message_append(reply, "b", strcmp(property, "CanControl") == 0);
}

static int get_state(sd_bus *bus, const char *path, const char *interface, const char *property,
                     sd_bus_message *reply, void *userdata, sd_bus_error *error) {
  (void)bus, (void)path, (void)interface, (void)error;
  struct mpris *m = userdata;
  struct player_status st;
  player_status(m->player, &st);
  if (strcmp(property, "PlaybackStatus") == 0)
    return sd_bus_message_append(reply, "s", status_name(&st));
  if (strcmp(property, "LoopStatus") == 0)
    return sd_bus_message_append(reply, "s", loop_name(player_get_repeat(m->player)));
  if (strcmp(property, "Volume") == 0)
    return sd_bus_message_append(reply, "d", st.volume / 100.0);
  if (strcmp(property, "Position") == 0) /* the audio clock: frames the device played */
    return sd_bus_message_append(reply, "x", (int64_t)(st.position_ms * 1000u));
  if (strcmp(property, "CanSeek") == 0)
    return sd_bus_message_append(reply, "b", can_seek(&st));
  /* CanPlay, CanPause, CanGoNext, CanGoPrevious: a track is loaded. Whether there is a
   * next one is not known before the container's cursor gets there (a station never
   * ends); Next at the end stops, as the specification asks. */
  return sd_bus_message_append(reply, "b", has_track(&st));
}

static int append_entry(sd_bus_message *r, const char *key, const char *text) {
  char clean[PLAYER_URL_MAX];
  if (!text[0])
    return 0;
  return sd_bus_message_append(r, "{sv}", key, "s", mpris_utf8_clean(clean, sizeof(clean), text));
}

static int get_metadata(sd_bus *bus, const char *path, const char *interface, const char *property,
                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
  (void)bus, (void)path, (void)interface, (void)property, (void)error;
  struct mpris *m = userdata;
  struct player_status st;
  player_status(m->player, &st);
  char *id = NULL;
  int r = track_path(&st, &id);
  if (r < 0)
    return r;
  if ((r = sd_bus_message_open_container(reply, 'a', "{sv}")) < 0 ||
      (r = sd_bus_message_append(reply, "{sv}", "mpris:trackid", "o", id)) < 0)
    goto out;
  if (st.track_tag[0]) {
    char artist[PLAYER_TEXT_MAX];
    if ((st.duration_ms && (r = sd_bus_message_append(reply, "{sv}", "mpris:length", "x",
                                                      (int64_t)(st.duration_ms * 1000u))) < 0) ||
        (r = append_entry(reply, "xesam:title", st.title)) < 0 ||
        (r = append_entry(reply, "xesam:album", st.album)) < 0 ||
        (r = append_entry(reply, "mpris:artUrl", st.art_url)) < 0 ||
        (st.artist[0] &&
         (r = sd_bus_message_append(reply, "{sv}", "xesam:artist", "as", 1,
                                    mpris_utf8_clean(artist, sizeof(artist), st.artist))) < 0))
      goto out;
  }
  r = sd_bus_message_close_container(reply);
out:
  free(id);
  return r;
}

static int set_volume(sd_bus *bus, const char *path, const char *interface, const char *property,
                      sd_bus_message *value, void *userdata, sd_bus_error *error) {
  (void)bus, (void)path, (void)interface, (void)property;
  struct mpris *m = userdata;
  double v;
  int r = sd_bus_message_read(value, "d", &v);
  if (r < 0)
    return r;
  if (isnan(v))
    return sd_bus_error_set_const(error, SD_BUS_ERROR_INVALID_ARGS, "Volume is a number 0.0..1.0");
  /* The specification: below 0.0 is 0.0. Above 1.0 would amplify: ampd does not. */
  v = v < 0 ? 0 : v > 1 ? 1 : v;
  player_set_volume(m->player, (unsigned)(v * 100.0 + 0.5)); /* notifies: PropertiesChanged */
  return 0;
}

static int set_loop(sd_bus *bus, const char *path, const char *interface, const char *property,
                    sd_bus_message *value, void *userdata, sd_bus_error *error) {
  (void)bus, (void)path, (void)interface, (void)property;
  struct mpris *m = userdata;
  const char *s;
  int r = sd_bus_message_read(value, "s", &s);
  if (r < 0)
    return r;
  static const enum player_repeat modes[] = {PLAYER_REPEAT_OFF, PLAYER_REPEAT_ONE,
                                             PLAYER_REPEAT_ALL};
  for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
    if (strcmp(s, loop_name(modes[i])) == 0) {
      player_set_repeat(m->player, modes[i]); /* notifies */
      return 0;
    }
  }
  return sd_bus_error_set_const(error, SD_BUS_ERROR_INVALID_ARGS,
                                "LoopStatus is None, Track or Playlist");
}

/* ---------------------------------------------------------------- methods */

/* A command the state does not allow is no effect, as the specification has it for
 * Play, Pause, Next, Previous and Seek; anything else is an error of the call. */
static int reply_rc(sd_bus_message *msg, sd_bus_error *error, int r) {
  if (r == 0 || r == -EALREADY)
    return sd_bus_reply_method_return(msg, NULL);
  return sd_bus_error_setf(error, SD_BUS_ERROR_FAILED, "%s", amp_strerror(r));
}

static int m_noop(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
  (void)userdata, (void)error;
  return sd_bus_reply_method_return(msg, NULL); /* Raise, Quit: CanRaise, CanQuit false */
}

static int m_play(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
  struct mpris *m = userdata;
  struct player_status st;
  player_status(m->player, &st);
  /* Nothing to play (idle, stopped): no effect; playing: no effect. */
  return reply_rc(msg, error, st.state == PLAYER_PAUSED ? player_resume(m->player) : 0);
}

static int m_pause(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
  struct mpris *m = userdata;
  struct player_status st;
  player_status(m->player, &st);
  return reply_rc(msg, error, st.state == PLAYER_PLAYING ? player_pause(m->player) : 0);
}

static int m_playpause(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
  struct mpris *m = userdata;
  struct player_status st;
  player_status(m->player, &st);
  if (!has_track(&st)) /* CanPause false: the specification asks for an error */
    return sd_bus_error_set_const(error, SD_BUS_ERROR_FAILED, "nothing is playing");
  return reply_rc(msg, error,
                  st.state == PLAYER_PAUSED    ? player_resume(m->player)
                  : st.state == PLAYER_PLAYING ? player_pause(m->player)
                                               : 0);
}

static int m_stop(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
  struct mpris *m = userdata;
  return reply_rc(msg, error, player_stop(m->player));
}

/* Next and Previous with nothing there stop playback (the specification). */
static int step(struct mpris *m, bool next) {
  struct player_status st;
  player_status(m->player, &st);
  if (!has_track(&st))
    return 0;
  int r = next ? player_next(m->player) : player_previous(m->player);
  return r == -ENOENT ? player_stop(m->player) : r;
}

static int m_next(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
  return reply_rc(msg, error, step(userdata, true));
}

static int m_previous(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
  return reply_rc(msg, error, step(userdata, false));
}

static int m_seek(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
  struct mpris *m = userdata;
  int64_t off;
  int r = sd_bus_message_read(msg, "x", &off);
  if (r < 0)
    return r;
  struct player_status st;
  player_status(m->player, &st);
  if (!can_seek(&st))
    return reply_rc(msg, error, 0);
  /* The specification: before the start is the start, past the end is Next. Positions
   * are below 2^63 µs by far (a track of the service is at most 1e9 s), so only the sum
   * can overflow, and only upwards. */
  int64_t pos = (int64_t)(st.position_ms * 1000u), len = (int64_t)(st.duration_ms * 1000u);
  bool past = off > 0 && pos > INT64_MAX - off;
  int64_t target = past ? len : pos + off;
  if (target < 0)
    target = 0;
  if (!past && target < len) {
    r = player_seek(m->player, (uint64_t)target / 1000u);
    if (r != -ERANGE) /* the media's end can be a little before the document's duration */
      return reply_rc(msg, error, r);
  }
  return reply_rc(msg, error, step(m, true));
}

static int m_set_position(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
  struct mpris *m = userdata;
  const char *id;
  int64_t to;
  int r = sd_bus_message_read(msg, "ox", &id, &to);
  if (r < 0)
    return r;
  struct player_status st;
  player_status(m->player, &st);
  if (!can_seek(&st))
    return sd_bus_error_set_const(error, SD_BUS_ERROR_FAILED, "nothing to seek in");
  char *cur = NULL;
  if ((r = track_path(&st, &cur)) < 0)
    return r;
  bool stale = strcmp(cur, id) != 0;
  free(cur);
  /* The specification ignores these calls; an error tells the caller so. */
  if (stale)
    return sd_bus_error_set_const(error, SD_BUS_ERROR_INVALID_ARGS,
                                  "stale track id: not the track being played");
  if (to < 0 || (uint64_t)to > st.duration_ms * 1000u)
    return sd_bus_error_set_const(error, SD_BUS_ERROR_INVALID_ARGS,
                                  "the position is outside the track");
  r = player_seek(m->player, (uint64_t)to / 1000u);
  if (r == -ERANGE)
    return sd_bus_error_set_const(error, SD_BUS_ERROR_INVALID_ARGS,
                                  "the position is past the end of the media");
  return reply_rc(msg, error, r);
}

static int m_open_uri(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
  (void)msg, (void)userdata;
  return sd_bus_error_set_const(error, SD_BUS_ERROR_NOT_SUPPORTED,
                                "ampd plays the containers of its service (ampctl play)");
}

/* Both interfaces are for every caller the bus lets through: access is the bus policy's
 * (dist/dbus/org.mpris.MediaPlayer2.ampd.conf). Without UNPRIVILEGED, sd-bus would refuse
 * the methods and setters to callers without CAP_SYS_ADMIN on the system bus. */
#define U SD_BUS_VTABLE_UNPRIVILEGED
#define CHANGES SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE
#define CONST SD_BUS_VTABLE_PROPERTY_CONST

static const sd_bus_vtable root_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD("Raise", "", "", m_noop, U),
    SD_BUS_METHOD("Quit", "", "", m_noop, U),
    SD_BUS_PROPERTY("CanQuit", "b", get_const, 0, CONST),
    SD_BUS_PROPERTY("CanRaise", "b", get_const, 0, CONST),
    SD_BUS_PROPERTY("HasTrackList", "b", get_const, 0, CONST),
    SD_BUS_PROPERTY("Identity", "s", get_const, 0, CONST),
    SD_BUS_PROPERTY("SupportedUriSchemes", "as", get_const, 0, CONST),
    SD_BUS_PROPERTY("SupportedMimeTypes", "as", get_const, 0, CONST),
    SD_BUS_VTABLE_END,
};

static const sd_bus_vtable player_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD("Next", "", "", m_next, U),
    SD_BUS_METHOD("Previous", "", "", m_previous, U),
    SD_BUS_METHOD("Pause", "", "", m_pause, U),
    SD_BUS_METHOD("PlayPause", "", "", m_playpause, U),
    SD_BUS_METHOD("Stop", "", "", m_stop, U),
    SD_BUS_METHOD("Play", "", "", m_play, U),
    SD_BUS_METHOD_WITH_NAMES("Seek", "x", SD_BUS_PARAM(Offset), "", "", m_seek, U),
    SD_BUS_METHOD_WITH_NAMES("SetPosition", "ox", SD_BUS_PARAM(TrackId) SD_BUS_PARAM(Position), "",
                             "", m_set_position, U),
    SD_BUS_METHOD_WITH_NAMES("OpenUri", "s", SD_BUS_PARAM(Uri), "", "", m_open_uri, U),
    SD_BUS_SIGNAL_WITH_NAMES("Seeked", "x", SD_BUS_PARAM(Position), 0),
    SD_BUS_PROPERTY("PlaybackStatus", "s", get_state, 0, CHANGES),
    SD_BUS_WRITABLE_PROPERTY("LoopStatus", "s", get_state, set_loop, 0, CHANGES | U),
    SD_BUS_PROPERTY("Rate", "d", get_const, 0, CONST),
    SD_BUS_PROPERTY("Metadata", "a{sv}", get_metadata, 0, CHANGES),
    SD_BUS_WRITABLE_PROPERTY("Volume", "d", get_state, set_volume, 0, CHANGES | U),
    /* Position changes all the time: no PropertiesChanged for it (the specification),
     * Seeked after a jump. */
    SD_BUS_PROPERTY("Position", "x", get_state, 0, 0),
    SD_BUS_PROPERTY("MinimumRate", "d", get_const, 0, CONST),
    SD_BUS_PROPERTY("MaximumRate", "d", get_const, 0, CONST),
    SD_BUS_PROPERTY("CanGoNext", "b", get_state, 0, CHANGES),
    SD_BUS_PROPERTY("CanGoPrevious", "b", get_state, 0, CHANGES),
    SD_BUS_PROPERTY("CanPlay", "b", get_state, 0, CHANGES),
    SD_BUS_PROPERTY("CanPause", "b", get_state, 0, CHANGES),
    SD_BUS_PROPERTY("CanSeek", "b", get_state, 0, CHANGES),
    SD_BUS_PROPERTY("CanControl", "b", get_const, 0, CONST),
    SD_BUS_VTABLE_END,
};

/* ---------------------------------------------------------------- the loop */

static void drop(struct mpris *m, int err);

/* After anything that may have queued or expected bytes: the fd's events and the timer
 * as sd-bus wants them now. */
static void arm(struct mpris *m) {
  if (!m->bus)
    return;
  int ev = sd_bus_get_events(m->bus);
  uint64_t t = 0;
  if (ev < 0 || sd_bus_get_timeout(m->bus, &t) < 0) {
    /* Closed under a handler: process() in the next pass finds out and drops it. */
    (void)loop_timer_set(m->timer, loop_now(m->loop));
    return;
  }
  (void)loop_io_set_events(m->io, ((ev & POLLIN) ? (uint32_t)EPOLLIN : 0u) |
                                      ((ev & POLLOUT) ? (uint32_t)EPOLLOUT : 0u));
  if (t == UINT64_MAX)
    loop_timer_disarm(m->timer);
  else /* kernel CLOCK_MONOTONIC, absolute; the loop's clock carries the test offset */
    (void)loop_timer_set(m->timer, t + clock_mono_offset_usec());
}

static void process(struct mpris *m) {
  for (int i = 0; m->bus && i < PROCESS_MAX; i++) {
    int r = sd_bus_process(m->bus, NULL);
    if (r < 0) {
      drop(m, r);
      return;
    }
    if (r == 0)
      break;
  }
  if (m->bus && sd_bus_is_open(m->bus) <= 0) {
    drop(m, -ECONNRESET);
    return;
  }
  arm(m);
}

static void on_io(struct loop_source *s, int fd, uint32_t events, void *userdata) {
  (void)s, (void)fd, (void)events;
  process(userdata);
}

static void on_timer(struct loop_source *s, uint64_t now_usec, void *userdata) {
  (void)s, (void)now_usec;
  process(userdata);
}

static int on_name(sd_bus_message *reply, void *userdata, sd_bus_error *error) {
  (void)error;
  struct mpris *m = userdata;
  const sd_bus_error *e = sd_bus_message_get_error(reply);
  if (e) {
    log_warning("cannot own %s on the %s bus: %s%s", MPRIS_NAME, bus_name(m),
                e->message ? e->message : e->name,
                m->which == MPRIS_BUS_SYSTEM
                    ? " (the D-Bus policy file org.mpris.MediaPlayer2.ampd.conf allows it)"
                    : "");
    return 0;
  }
  uint32_t code = 0;
  (void)sd_bus_message_read(reply, "u", &code);
  if (code == 1 || code == 4) { /* primary owner, or already */
    log_info("%s on the %s bus", MPRIS_NAME, bus_name(m));
    m->retry_usec = RETRY_MIN_USEC;
    m->warned = false;
  } else { /* in the queue: another process has it; the bus hands it over when it goes */
    log_warning("%s is taken on the %s bus (another ampd?): waiting for it", MPRIS_NAME,
                bus_name(m));
  }
  return 0;
}

/* The objects off the bus, then the bus (the slots hold references to it). */
static sd_bus *close_bus(struct mpris *m, sd_bus *b) {
  for (size_t i = 0; i < sizeof(m->objects) / sizeof(m->objects[0]); i++)
    m->objects[i] = sd_bus_slot_unref(m->objects[i]);
  return sd_bus_close_unref(b);
}

static int connect_bus(struct mpris *m) {
  sd_bus *b = NULL;
  int r = m->which == MPRIS_BUS_SYSTEM ? sd_bus_open_system(&b) : sd_bus_open_user(&b);
  if (r < 0)
    return r;
  int fd;
  if ((r = sd_bus_add_object_vtable(b, &m->objects[0], MPRIS_PATH, IFACE_ROOT, root_vtable, m)) <
          0 ||
      (r = sd_bus_add_object_vtable(b, &m->objects[1], MPRIS_PATH, IFACE_PLAYER, player_vtable,
                                    m)) < 0 ||
      (r = sd_bus_request_name_async(b, NULL, MPRIS_NAME, SD_BUS_NAME_QUEUE, on_name, m)) < 0 ||
      (r = fd = sd_bus_get_fd(b)) < 0 || (r = loop_add_io(m->loop, fd, 0, on_io, m, &m->io)) < 0) {
    close_bus(m, b);
    return r;
  }
  m->bus = b;
  m->sent = false; /* the next change describes everything */
  arm(m);
  return 0;
}

static void retry_later(struct mpris *m, int err, const char *what) {
  if (!m->warned)
    log_warning("the %s bus: %s: %s; MPRIS is off until it comes back", bus_name(m), what,
                amp_strerror(err));
  else
    log_debug("the %s bus: %s: %s", bus_name(m), what, amp_strerror(err));
  m->warned = true;
  (void)loop_timer_set(m->retry, loop_now(m->loop) + m->retry_usec);
  m->retry_usec = m->retry_usec * 2 > RETRY_MAX_USEC ? RETRY_MAX_USEC : m->retry_usec * 2;
}

static void drop(struct mpris *m, int err) {
  loop_source_free(m->io); /* before the fd closes (core/loop.h) */
  m->io = NULL;
  loop_timer_disarm(m->timer);
  m->bus = close_bus(m, m->bus);
  retry_later(m, err, "lost");
}

static void on_retry(struct loop_source *s, uint64_t now_usec, void *userdata) {
  (void)s, (void)now_usec;
  struct mpris *m = userdata;
  int r = connect_bus(m);
  if (r < 0)
    retry_later(m, r, "cannot connect");
}

/* ---------------------------------------------------------------- life */

int mpris_new(struct loop *l, enum mpris_bus bus, struct player *p, struct mpris **ret) {
  if (!l || !p || !ret || (bus != MPRIS_BUS_SESSION && bus != MPRIS_BUS_SYSTEM))
    return -EINVAL;
  struct mpris *m = calloc(1, sizeof(*m));
  if (!m)
    return -ENOMEM;
  m->loop = l;
  m->player = p;
  m->which = bus;
  m->retry_usec = RETRY_MIN_USEC;
  int r;
  if ((r = loop_add_timer(l, 0, on_timer, m, &m->timer)) < 0 ||
      (r = loop_add_timer(l, 0, on_retry, m, &m->retry)) < 0) {
    mpris_free(m);
    return r;
  }
  loop_timer_disarm(m->timer);
  loop_timer_disarm(m->retry);
  if ((r = connect_bus(m)) < 0) {
    if (r == -ENOMEM) {
      mpris_free(m);
      return r;
    }
    retry_later(m, r, "cannot connect");
  }
  *ret = m;
  return 0;
}

void mpris_player_changed(struct mpris *m, const struct player_status *st) {
  if (!m || !st)
    return;
  enum player_repeat rep = player_get_repeat(m->player);
  if (m->bus) {
    const char *names[CHANGED_MAX];
    size_t n = 0;
    const struct player_status *o = &m->last;
    bool all = !m->sent;
    if (all || strcmp(status_name(st), status_name(o)) != 0)
      names[n++] = "PlaybackStatus";
    if (all || meta_differs(st, o))
      names[n++] = "Metadata";
    if (all || st->volume != o->volume)
      names[n++] = "Volume";
    if (all || rep != m->last_repeat)
      names[n++] = "LoopStatus";
    if (all || has_track(st) != has_track(o)) {
      names[n++] = "CanPlay";
      names[n++] = "CanPause";
      names[n++] = "CanGoNext";
      names[n++] = "CanGoPrevious";
    }
    if (all || can_seek(st) != can_seek(o))
      names[n++] = "CanSeek";
    names[n] = NULL;
    int r = 0;
    if (n)
      r = sd_bus_emit_properties_changed_strv(m->bus, MPRIS_PATH, IFACE_PLAYER,
                                              (char **)(uintptr_t)names);
    /* Seeked carries the position the jump landed on (the player reports the target). */
    if (r >= 0 && m->sent && st->seeks != o->seeks)
      r = sd_bus_emit_signal(m->bus, MPRIS_PATH, IFACE_PLAYER, "Seeked", "x",
                             (int64_t)(st->position_ms * 1000u));
    if (r < 0) /* a closed connection: process() finds out */
      log_debug("signal: %s", amp_strerror(r));
    m->sent = true;
    arm(m);
  }
  m->last = *st;
  m->last_repeat = rep;
}

void mpris_free(struct mpris *m) {
  if (!m)
    return;
  /* What is queued (the last PropertiesChanged, "Stopped" at SIGTERM) goes out if the
   * socket takes it now; sd_bus_flush() could wait without bound on a stuck bus. The
   * objects go first: a call that arrives meanwhile gets sd-bus's UnknownObject and never
   * reaches the player, whose caller is tearing down what its changes are published to. */
  for (size_t i = 0; i < sizeof(m->objects) / sizeof(m->objects[0]); i++)
    m->objects[i] = sd_bus_slot_unref(m->objects[i]);
  for (int i = 0; m->bus && i < 8 && sd_bus_process(m->bus, NULL) > 0; i++)
    ;
  loop_source_free(m->io);
  loop_source_free(m->timer);
  loop_source_free(m->retry);
  close_bus(m, m->bus);
  free(m);
}
