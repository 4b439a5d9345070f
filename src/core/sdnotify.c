/* SPDX-License-Identifier: Apache-2.0 */
#include "sdnotify.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"

LOG_TOPIC("sdnotify");

struct sdnotify {
  struct loop *loop;
  struct loop_source *watchdog;
  uint64_t watchdog_usec;
  bool sent_status;
  char status[SDNOTIFY_STATUS_MAX + 1]; /* the last STATUS= sent */
};

static void send_msg(const char *msg) {
  int r = sd_notify(0, msg);
  if (r < 0)
    log_debug("sd_notify: %s", amp_strerror(r));
}

/* Half the interval, as sd_watchdog_enabled(3) advises: one late pass does not miss it. */
static void on_watchdog(struct loop_source *s, uint64_t now_usec, void *userdata) {
  struct sdnotify *n = userdata;
  send_msg("WATCHDOG=1");
  (void)loop_timer_set(s, now_usec + n->watchdog_usec / 2);
}

int sdnotify_new(struct loop *l, struct sdnotify **ret) {
  if (!l || !ret)
    return -EINVAL;
  struct sdnotify *n = calloc(1, sizeof(*n));
  if (!n)
    return -ENOMEM;
  n->loop = l;
  uint64_t usec = 0;
  /* > 0 only when WATCHDOG_USEC is set and WATCHDOG_PID, if set, is this process. */
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    n->watchdog_usec = usec;
    int r = loop_add_timer(l, clock_mono_usec() + usec / 2, on_watchdog, n, &n->watchdog);
    if (r < 0) {
      free(n);
      return r;
    }
    log_debug("watchdog every %llu ms", (unsigned long long)(usec / 2000u));
  }
  *ret = n;
  return 0;
}

uint64_t sdnotify_watchdog_usec(const struct sdnotify *n) {
  return n ? n->watchdog_usec : 0;
}

void sdnotify_ready(struct sdnotify *n) {
  if (n)
    send_msg("READY=1");
}

void sdnotify_reloading(struct sdnotify *n) {
  if (!n)
    return;
  char msg[64];
  snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, clock_mono_usec());
  send_msg(msg);
}

void sdnotify_status(struct sdnotify *n, const char *fmt, ...) {
  if (!n || !fmt)
    return;
  char text[SDNOTIFY_STATUS_MAX + 1];
  va_list ap;
  va_start(ap, fmt);
  int len = vsnprintf(text, sizeof(text), fmt, ap);
  va_end(ap);
  if (len < 0)
    return;
  /* A newline would start a second assignment (a title "x\nREADY=1"): none gets through. */
  for (char *p = text; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      *p = ' ';
  if (n->sent_status && strcmp(text, n->status) == 0)
    return;
  char msg[sizeof("STATUS=") + SDNOTIFY_STATUS_MAX];
  snprintf(msg, sizeof(msg), "STATUS=%s", text);
  send_msg(msg);
  memcpy(n->status, text, sizeof(text));
  n->sent_status = true;
}

void sdnotify_stopping(struct sdnotify *n) {
  if (!n)
    return;
  send_msg("STOPPING=1");
  loop_source_free(n->watchdog);
  n->watchdog = NULL;
}

void sdnotify_free(struct sdnotify *n) {
  if (!n)
    return;
  loop_source_free(n->watchdog);
  free(n);
}
