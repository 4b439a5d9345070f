/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_CORE_HOOKS_H
#define AMPD_CORE_HOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * hooks: the `[hooks] onevent` program, run for each player event (docs/configuration.md,
 * docs/reliability.md "Hooks"): an amplifier switched on at start and off at sink_close,
 * a display, a notification.
 *
 * One program runs at a time. It is started with posix_spawn() (no shell: argv is the
 * program and the event name), in a process group of its own, stdin from /dev/null,
 * stdout and stderr the daemon's, no signal blocked or ignored, and an environment built
 * here from nothing but the event:
 *   AMPD_EVENT        start | stop | pause | track | volume | sink_open | sink_close | error
 *   AMPD_TITLE, AMPD_ARTIST, AMPD_ALBUM, AMPD_DURATION_MS, AMPD_POSITION_MS
 *                     when the event has a track
 *   AMPD_VOLUME       the volume, percent, when the caller gives it
 *   AMPD_ERROR        the error's text, for error
 *   PATH              HOOKS_PATH
 * Nothing of the daemon's own environment is passed on, so no token, URL or socket
 * address reaches the program (the caller gives titles and an error text, never a URL).
 *
 * The loop is never blocked: the child's end is watched through a pidfd on the loop (all
 * of ampd's fds are close-on-exec, so the child inherits none but 0, 1, 2), and a child
 * still running `timeout_s` after its start is killed with its whole process group
 * (SIGKILL). Events that come while one runs wait in a FIFO of HOOKS_QUEUE_MAX; one more
 * is dropped with a warning. A program that cannot be started is a warning, and the next
 * event is tried.
 *
 * hooks_free() kills a running program's group and reaps it; events still queued are
 * dropped. Loop thread only. Errors: 0 or -errno.
 */

struct loop;
struct hooks;

#define HOOKS_QUEUE_MAX 16u /* events waiting while one runs */
#define HOOKS_TEXT_MAX 256u /* bytes of a title, artist, album or error text kept */
#define HOOKS_TIMEOUT_MAX 3600u
#define HOOKS_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

enum hooks_event {
  HOOKS_START,
  HOOKS_STOP,
  HOOKS_PAUSE,
  HOOKS_TRACK,
  HOOKS_VOLUME,
  HOOKS_SINK_OPEN,
  HOOKS_SINK_CLOSE,
  HOOKS_ERROR,
};

/* What goes into the environment besides AMPD_EVENT (strings are copied, cut to
 * HOOKS_TEXT_MAX - 1 bytes; NULL or "" leaves the variable out). */
struct hooks_info {
  bool has_track; /* AMPD_TITLE ... AMPD_POSITION_MS */
  const char *title, *artist, *album;
  uint64_t duration_ms, position_ms;
  int volume;        /* AMPD_VOLUME; < 0: left out */
  const char *error; /* AMPD_ERROR */
};

int hooks_new(struct loop *l, struct hooks **ret);
/* The program (an absolute path; NULL: no hook, and events are not queued) and its
 * timeout in seconds (1..HOOKS_TIMEOUT_MAX). A program running keeps its deadline; the
 * next one started is the new program. 0, -EINVAL, -ENOMEM (the old settings stay). */
int hooks_configure(struct hooks *h, const char *program, uint32_t timeout_s);
/* Queue ev (and start it when nothing runs). 0 (also without a program: nothing to do),
 * -ENOSPC when HOOKS_QUEUE_MAX events wait (the event is dropped, with a warning),
 * -EINVAL. */
int hooks_emit(struct hooks *h, enum hooks_event ev, const struct hooks_info *info);
/* Events queued or running (0: idle). */
size_t hooks_pending(const struct hooks *h);
/* Accepts NULL. */
void hooks_free(struct hooks *h);

const char *hooks_event_name(enum hooks_event ev);

#endif
