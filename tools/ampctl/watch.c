/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ampctl watch: the player's state as one line, kept current from the daemon's events.
 * On a terminal the line is redrawn in place (carriage return, erase to the end of the
 * line), cut to the terminal's width so that it never wraps (a wrapped line could not be
 * redrawn), and the position moves on by a status request each second while playing.
 * Elsewhere (a pipe, a file) it prints one plain line per change, nothing else.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "ampctl.h"

#define WATCH_LINE_MAX 1024 /* a rendered line, in bytes (longer titles are cut) */
#define WATCH_TICK_MS 1000  /* the terminal's position refresh */

struct watch {
  struct ampd_client *c;
  bool tty;
  bool subscribed, status_pending;
  int rc;    /* EXIT_OK, or the daemon's refusal of subscribe */
  cJSON *st; /* the status as the daemon last told it */
  char last[WATCH_LINE_MAX];
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

static const char *str_of(const cJSON *st, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(st, key);
  return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

static bool num_of(const cJSON *st, const char *key, double *ret) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(st, key);
  if (!cJSON_IsNumber(v))
    return false;
  *ret = v->valuedouble;
  return true;
}

/* [h:]m:ss */
static void fmt_time(char *out, size_t max, double ms) {
  long s = ms > 0 ? (long)(ms / 1000) : 0;
  if (s >= 3600)
    snprintf(out, max, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  else
    snprintf(out, max, "%ld:%02ld", s / 60, s % 60);
}

/* Appends a then b to out (of max bytes, *len used); the output is cut at max. */
static void add(char *out, size_t max, size_t *len, const char *a, const char *b) {
  if (*len + 1 >= max)
    return;
  int n = snprintf(out + *len, max - *len, "%s%s", a, b);
  if (n > 0)
    *len += (size_t)n < max - *len ? (size_t)n : max - *len - 1;
}

/* state  position / duration  title - artist  [codec rate kHz/bits-bit] */
static void render(const cJSON *st, char *out, size_t max) {
  size_t len = 0;
  out[0] = '\0';
  const char *state = str_of(st, "state");
  add(out, max, &len, state ? state : "?", "");
  const char *title = str_of(st, "title"), *artist = str_of(st, "artist");
  double pos, dur;
  if (title && num_of(st, "position_ms", &pos)) {
    char p[32], d[32] = "";
    fmt_time(p, sizeof(p), pos);
    if (num_of(st, "duration_ms", &dur) && dur > 0)
      fmt_time(d, sizeof(d), dur);
    add(out, max, &len, "  ", p);
    if (d[0])
      add(out, max, &len, " / ", d);
  }
  if (title)
    add(out, max, &len, "  ", title);
  if (title && artist)
    add(out, max, &len, " - ", artist);
  const char *codec = str_of(st, "codec");
  double rate, bits;
  if (title && codec && num_of(st, "rate", &rate) && rate > 0) {
    char q[64];
    if (num_of(st, "bits", &bits) && bits > 0)
      snprintf(q, sizeof(q), " %g kHz/%d-bit]", rate / 1000, (int)bits);
    else
      snprintf(q, sizeof(q), " %g kHz]", rate / 1000);
    add(out, max, &len, "  [", codec);
    add(out, max, &len, q, "");
  }
  const char *err = str_of(st, "error");
  if (err) {
    add(out, max, &len, "  (", err);
    add(out, max, &len, ")", "");
  }
}

/* The terminal's width, or 80 when it does not say. */
static size_t columns(void) {
  struct winsize ws;
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
    return ws.ws_col;
  return 80;
}

/* The bytes of the first n characters of s (UTF-8: continuation bytes are not counted). */
static size_t cut(const char *s, size_t n) {
  size_t i = 0, chars = 0;
  for (; s[i]; i++) {
    if (((unsigned char)s[i] & 0xc0) != 0x80 && chars++ == n)
      break;
  }
  return i;
}

static void show(struct watch *w) {
  char line[WATCH_LINE_MAX];
  render(w->st, line, sizeof(line));
  if (strcmp(line, w->last) == 0)
    return;
  memcpy(w->last, line, sizeof(line));
  if (w->tty) {
    /* One column short: a line that fills the last column leaves the cursor waiting to
     * wrap on some terminals. */
    size_t cols = columns();
    printf("\r\033[K%.*s", (int)cut(line, cols > 1 ? cols - 1 : 1), line);
    fflush(stdout);
  } else {
    printf("%s\n", line);
  }
}

static void on_status(const struct ampd_msg *m, void *userdata) {
  struct watch *w = userdata;
  w->status_pending = false;
  if (!ampd_msg_ok(m))
    return; /* a status refused now is shown by the next event */
  cJSON *st = cJSON_Parse(ampd_msg_body(m));
  if (!cJSON_IsObject(st)) {
    cJSON_Delete(st);
    return;
  }
  cJSON_Delete(w->st);
  w->st = st;
  show(w);
}

/* A player event carries the members of status that it changes: merged in. */
static void on_event(const struct ampd_msg *m, void *userdata) {
  struct watch *w = userdata;
  if (strcmp(ampd_msg_event(m), "player") != 0)
    return;
  cJSON *ev = cJSON_Parse(ampd_msg_body(m));
  if (!cJSON_IsObject(ev)) {
    cJSON_Delete(ev);
    return;
  }
  if (!w->st) {
    w->st = ev;
  } else {
    while (ev->child) {
      cJSON *item = cJSON_DetachItemViaPointer(ev, ev->child);
      cJSON_DeleteItemFromObjectCaseSensitive(w->st, item->string);
      cJSON_AddItemToObject(w->st, item->string, item); /* copies the key, then frees the old */
    }
    cJSON_Delete(ev);
  }
  show(w);
}

static void on_subscribed(const struct ampd_msg *m, void *userdata) {
  struct watch *w = userdata;
  w->subscribed = true;
  if (!ampd_msg_ok(m)) {
    fprintf(stderr, "%s: %s: %s\n", prog, ampd_msg_error_code(m), ampd_msg_error_message(m));
    w->rc = EXIT_DAEMON;
  }
}

static int request_status(struct watch *w) {
  int r = ampd_client_request(w->c, "status", NULL, on_status, w, NULL);
  if (r == 0)
    w->status_pending = true;
  return r;
}

int ampctl_watch(struct ampd_client *c, bool tty, int timeout_ms) {
  struct watch w = {.c = c, .tty = tty};
  struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: the wait ends */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  /* Subscribe first, then ask: the status is at least as new as the events before its
   * reply, and every event after it is merged in. */
  ampd_client_on_event(c, on_event, &w);
  int r = ampd_client_request(c, "subscribe", NULL, on_subscribed, &w, NULL);
  if (r == 0)
    r = request_status(&w);
  int waited = 0;
  while (r == 0 && !stop_requested && w.rc == EXIT_OK) {
    r = ampd_client_dispatch(c, tty ? WATCH_TICK_MS : w.subscribed ? -1 : timeout_ms);
    if (r == -EINTR) {
      r = 0;
    } else if (r == -ETIMEDOUT) {
      r = 0;
      waited += WATCH_TICK_MS;
      if (!w.subscribed && (!tty || (timeout_ms >= 0 && waited >= timeout_ms))) {
        r = -ETIMEDOUT;
      } else if (tty && !w.status_pending) {
        const char *state = str_of(w.st, "state");
        if (state && strcmp(state, "playing") == 0)
          r = request_status(&w);
      }
    }
  }
  if (tty && w.last[0])
    putchar('\n');
  cJSON_Delete(w.st);
  if (w.rc != EXIT_OK)
    return w.rc;
  if (stop_requested)
    return EXIT_OK;
  return ampctl_fail("watch", r);
}
