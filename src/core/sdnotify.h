/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_CORE_SDNOTIFY_H
#define AMPD_CORE_SDNOTIFY_H

#include <stdint.h>

/*
 * The daemon's side of systemd's service notification (sd_notify(3), libsystemd), the one
 * place that talks to systemd (docs/systemd.md):
 *
 *   READY=1     sdnotify_ready(): once the daemon serves (main calls it after the control
 *               socket listens, so a client started After=ampd.service finds it accepting)
 *   STATUS=...  sdnotify_status(): one line for `systemctl status`; sent only when it
 *               changes; control characters become spaces, so a title cannot add a
 *               second assignment to the message
 *   WATCHDOG=1  from a timer of the loop, every WATCHDOG_USEC / 2, when systemd asked for
 *               it (WatchdogSec=, which sets WATCHDOG_USEC and WATCHDOG_PID): a loop that
 *               stalls stops the pings and systemd restarts the service
 *   RELOADING=1 sdnotify_reloading(): SIGHUP, the configuration is read again (with
 *               MONOTONIC_USEC, as systemd 253 wants it); sdnotify_ready() ends the reload
 *   STOPPING=1  sdnotify_stopping(): the shutdown began
 *
 * Without NOTIFY_SOCKET (not run by systemd, or Type= other than notify) every call is a
 * no-op. A failure to send is not an error of the daemon: it is ignored (systemd sees the
 * missing message). The environment is left as it is (sd_notify()'s unset_environment 0).
 * Loop thread only.
 */

struct loop;
struct sdnotify;

/* The status line's bound (bytes, without the "STATUS=" and the NUL); longer is cut. */
#define SDNOTIFY_STATUS_MAX 255u

/* Reads WATCHDOG_USEC / WATCHDOG_PID (sd_watchdog_enabled()) and, when set, arms the
 * watchdog timer on l. 0, -EINVAL, -ENOMEM, -AMP_ETOOBIG (the loop's timers). */
int sdnotify_new(struct loop *l, struct sdnotify **ret);
/* The watchdog interval systemd asked for, in microseconds; 0 when off. */
uint64_t sdnotify_watchdog_usec(const struct sdnotify *n);
void sdnotify_ready(struct sdnotify *n);
void sdnotify_reloading(struct sdnotify *n);
/* printf-style; cut to SDNOTIFY_STATUS_MAX bytes. */
void sdnotify_status(struct sdnotify *n, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* STOPPING=1 and the watchdog off (the teardown is not the loop's to ping through). */
void sdnotify_stopping(struct sdnotify *n);
/* Accepts NULL. */
void sdnotify_free(struct sdnotify *n);

#endif
