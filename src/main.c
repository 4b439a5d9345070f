/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ampd: the daemon. Reads the configuration, builds the modules in their dependency
 * order (docs/architecture.md), serves the control socket and runs the loop until
 * SIGTERM or SIGINT. Everything here is wiring; the behaviour lives in the modules.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "cloud/api.h"
#include "cloud/bearer.h"
#include "cloud/deviceid.h"
#include "cloud/license.h"
#include "cloud/lwa.h"
#include "cloud/report.h"
#include "cmdargs.h"
#include "control/control.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/err.h"
#include "core/hooks.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/savedstate.h"
#include "core/sdnotify.h"
#include "devents.h"
#include "media/abr.h"
#include "media/cdmhost.h"
#include "media/manifest.h"
#include "mpris/mpris.h"
#include "net/http.h"
#include "platform/backends.h"
#include "player/devcaps.h"
#include "player/engine.h"
#include "player/player.h"
#ifdef AMPD_TEST_HOOKS
#include "testhooks.h"
#endif

LOG_TOPIC("main");

#ifndef AMPD_VERSION_STRING
#define AMPD_VERSION_STRING "0.1"
#endif

#define PATH_BYTES 4096

struct daemon {
  struct ampd_config cfg;
  struct loop *loop;
  struct http *http;
  struct lwa *lwa;
  struct api *api;
  struct bearer lic_bearer, rep_bearer;
  struct license *license;
  struct report *report;
  struct cdmhost *cdm;
  struct engine *engine;
  struct abr *abr;
  struct abr_constraints constraints;
  char capability[ABR_CAPABILITY_MAX]; /* X-Amzn-Audio-Device-Capability */
  char device[PATH_BYTES];             /* the output device as the backend gets it */
  struct player *player;
  struct control *control;
  struct control_req *login_req; /* a login waiting for its code pair */
  struct sdnotify *sd;           /* systemd: READY, STATUS, WATCHDOG, STOPPING */
  struct mpris *mpris;           /* D-Bus (docs/mpris.md); NULL with [mpris] bus = off */
  char device_id[DEVICEID_LEN + 1];
  struct hooks *hooks;     /* [hooks] onevent */
  struct devents *devents; /* player and device changes into hook events */
  struct savedstate *saved;
  struct loop_source *stats_timer;
  const char *conf_path;        /* -c, read again at SIGHUP */
  const char *const *overrides; /* -o, applied again at SIGHUP */
  size_t n_overrides;
  bool stopping;                    /* SIGTERM: the resume point is saved, keep it */
  struct savedstate_data state_buf; /* the state being saved (4 KiB: not on the stack) */
};

#define HOOKS_DRAIN_USEC 5000000u /* at the shutdown, for the hooks still queued */

/* ---------------------------------------------------------------- glue */

static void check_device(struct daemon *d) {
  struct engine_device dev;
  engine_device(d->engine, &dev);
  devents_device(d->devents, dev.open, NULL);
}

static void on_engine_event(void *ud, const struct engine_event *ev) {
  struct daemon *d = ud;
  if (d->devents)
    check_device(d); /* sink_open before the TRACK_STARTED that needed the device; the
                      * engine's ENGINE_DEVICE_CHANGED brings a close (idle) too */
  if (d->player)
    player_engine_event(d->player, ev);
}

static const struct manifest_rep *choose_rep(void *ud, const struct manifest *m) {
  struct daemon *d = ud;
  const struct manifest_rep *rep = NULL;
  if (abr_choose(d->abr, m, NULL, 0, &d->constraints, &rep) < 0)
    return NULL;
  return rep;
}

static void on_collector_stop(void *ud, const char *event_id, long status, int err) {
  (void)event_id;
  /* The report's userdata is its bearer (for the headers callbacks): its daemon holds it. */
  struct daemon *d = (struct daemon *)(void *)((char *)ud - offsetof(struct daemon, rep_bearer));
  log_warning("a collector refused a playback event (status %ld): stopping", status);
  player_stop_by_service(d->player, err);
}

static cJSON *status_json(struct daemon *d, const struct player_status *st) {
  cJSON *o = cJSON_CreateObject();
  if (!o)
    return NULL;
  cJSON_AddStringToObject(o, "state", player_state_name(st->state));
  cJSON_AddStringToObject(o, "title", st->title);
  cJSON_AddStringToObject(o, "artist", st->artist);
  cJSON_AddStringToObject(o, "album", st->album);
  cJSON_AddStringToObject(o, "art_url", st->art_url);
  cJSON_AddStringToObject(o, "track_tag", st->track_tag);
  cJSON_AddNumberToObject(o, "position_ms", (double)st->position_ms);
  cJSON_AddNumberToObject(o, "duration_ms", (double)st->duration_ms);
  cJSON_AddStringToObject(o, "codec", st->codec);
  cJSON_AddNumberToObject(o, "rate", st->rate);
  cJSON_AddNumberToObject(o, "bits", st->bits);
  cJSON_AddNumberToObject(o, "channels", st->channels);
  cJSON_AddNumberToObject(o, "buffer_ms", (double)st->buffer_ms);
  cJSON_AddNumberToObject(o, "bitrate_estimate", (double)abr_estimate_bps(d->abr));
  cJSON_AddNumberToObject(o, "underruns", (double)st->underruns);
  cJSON_AddNumberToObject(o, "tracks_played", (double)st->tracks_played);
  cJSON_AddStringToObject(o, "repeat", player_repeat_name(player_get_repeat(d->player)));
  cJSON_AddNumberToObject(o, "volume", st->volume);
  struct engine_device dev;
  engine_device(d->engine, &dev);
  cJSON *dj = cJSON_AddObjectToObject(o, "device");
  if (dj) {
    cJSON_AddBoolToObject(dj, "open", dev.open);
    cJSON_AddNumberToObject(dj, "rate", dev.fmt.rate);
    cJSON_AddNumberToObject(dj, "bits", dev.fmt.bits);
    cJSON_AddNumberToObject(dj, "channels", dev.fmt.channels);
    cJSON_AddNumberToObject(dj, "opens", (double)dev.opens);
    cJSON_AddBoolToObject(dj, "resampling", dev.resampling);
    cJSON_AddBoolToObject(dj, "paused", dev.paused);
    if (dev.error)
      cJSON_AddStringToObject(dj, "error", amp_strerror(dev.error));
  }
  if (d->report) {
    struct report_stats rs;
    report_stats(d->report, &rs);
    cJSON *ej = cJSON_AddObjectToObject(o, "events");
    if (ej) {
      cJSON_AddNumberToObject(ej, "pending", (double)rs.pending);
      cJSON_AddNumberToObject(ej, "submitted", (double)rs.submitted);
      cJSON_AddNumberToObject(ej, "sent", (double)rs.sent);
      cJSON_AddNumberToObject(ej, "rejected", (double)rs.rejected);
      cJSON_AddNumberToObject(ej, "retries", (double)rs.retries);
      cJSON_AddNumberToObject(ej, "dropped", (double)rs.dropped);
      cJSON_AddNumberToObject(ej, "append_fails", (double)rs.append_fails);
    }
  }
  if (st->error) {
    cJSON_AddStringToObject(o, "error", st->error_text);
    cJSON_AddNumberToObject(o, "error_code", st->error);
  }
  static const char *const link[] = {"unlinked", "linking", "linked"};
  cJSON_AddStringToObject(o, "link", link[lwa_state(d->lwa)]);
  return o;
}

/* systemd's one-line status (docs/systemd.md): the link, and what plays. */
static void notify_status(struct daemon *d, const struct player_status *st) {
  static const char *const link[] = {"unlinked", "linking", "linked"};
  if (d->lwa && d->player)
    sdnotify_status(d->sd, "%s, %s%s%s%s%s", link[lwa_state(d->lwa)], player_state_name(st->state),
                    st->title[0] ? ": " : "", st->artist, st->artist[0] ? " - " : "", st->title);
}

/* Volume, repeat and (with [playback] resume) where the player is, to the state file
 * (debounced by core/savedstate). A stop or an error forgets the resume point. */
static void save_state(struct daemon *d, const struct player_status *st) {
  struct savedstate_data *sd = &d->state_buf;
  if (!d->saved || d->stopping)
    return;
  sd->volume = st->volume;
  sd->repeat = (unsigned)player_get_repeat(d->player);
  const char *ref = player_container(d->player);
  bool heard = st->state == PLAYER_PLAYING || st->state == PLAYER_PAUSED;
  if (d->cfg.playback.resume && heard && ref && strlen(ref) < sizeof(sd->container)) {
    snprintf(sd->container, sizeof(sd->container), "%s", ref);
    sd->track = st->track_index;
    sd->position_ms = st->position_ms;
  } else if (!d->cfg.playback.resume || st->state != PLAYER_LOADING) {
    sd->container[0] = '\0'; /* loading between tracks keeps the last point */
    sd->track = 0;
    sd->position_ms = 0;
  }
  savedstate_update(d->saved, sd);
}

static void on_player_change(void *ud, const struct player_status *st) {
  struct daemon *d = ud;
  devents_player(d->devents, st);
  save_state(d, st);
  notify_status(d, st);
  mpris_player_changed(d->mpris, st);
  cJSON *o = status_json(d, st);
  if (o && d->control)
    control_publish(d->control, "player", o);
  cJSON_Delete(o);
}

static void on_lwa_state(struct lwa *w, enum lwa_state state, int err, void *ud) {
  struct daemon *d = ud;
  if (state == LWA_LINKING && d->login_req) {
    const char *code = NULL, *uri = NULL;
    int64_t expires = 0;
    if (lwa_link_info(w, &code, &uri, &expires) == 0) {
      cJSON *r = cJSON_CreateObject();
      cJSON_AddStringToObject(r, "user_code", code);
      cJSON_AddStringToObject(r, "verification_uri", uri);
      cJSON_AddNumberToObject(r, "expires_at", (double)expires);
      control_reply(d->login_req, r);
      d->login_req = NULL;
    }
  } else if (state == LWA_UNLINKED && d->login_req) {
    control_reply_error(d->login_req, "link_failed", amp_strerror(err));
    d->login_req = NULL;
  }
  if (d->player) {
    struct player_status st;
    player_status(d->player, &st);
    notify_status(d, &st);
  }
  if (d->control) {
    static const char *const names[] = {"unlinked", "linking", "linked"};
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "link", names[state]);
    if (err)
      cJSON_AddStringToObject(o, "error", amp_strerror(err));
    control_publish(d->control, "session", o);
    cJSON_Delete(o);
  }
}

/* ---------------------------------------------------------------- commands */

static void reply_rc(struct control_req *req, int r) {
  if (r == 0) {
    control_reply(req, NULL);
    return;
  }
  const char *code = r == -EALREADY ? "wrong_state"
                     : r == -ENOENT ? "no_track"
                     : r == -EINVAL ? "bad_args"
                                    : "failed";
  control_reply_error(req, code, amp_strerror(r));
}

static void cmd_status(struct control_req *req, const cJSON *args, void *ud) {
  (void)args;
  struct daemon *d = ud;
  struct player_status st;
  player_status(d->player, &st);
  control_reply(req, status_json(d, &st));
}

static void cmd_play(struct control_req *req, const cJSON *args, void *ud) {
  struct daemon *d = ud;
  const char *ref;
  if (cmdargs_ref(args, &ref) < 0) {
    control_reply_error(req, "bad_args", "play needs \"ref\": a container's URL (browse)");
    return;
  }
  reply_rc(req, player_play(d->player, ref));
}

static void cmd_pause(struct control_req *req, const cJSON *args, void *ud) {
  (void)args;
  reply_rc(req, player_pause(((struct daemon *)ud)->player));
}

static void cmd_resume(struct control_req *req, const cJSON *args, void *ud) {
  (void)args;
  reply_rc(req, player_resume(((struct daemon *)ud)->player));
}

static void cmd_toggle(struct control_req *req, const cJSON *args, void *ud) {
  (void)args;
  struct daemon *d = ud;
  struct player_status st;
  player_status(d->player, &st);
  reply_rc(req, st.state == PLAYER_PAUSED ? player_resume(d->player) : player_pause(d->player));
}

static void cmd_stop(struct control_req *req, const cJSON *args, void *ud) {
  (void)args;
  reply_rc(req, player_stop(((struct daemon *)ud)->player));
}

static void cmd_next(struct control_req *req, const cJSON *args, void *ud) {
  (void)args;
  reply_rc(req, player_next(((struct daemon *)ud)->player));
}

static void cmd_login(struct control_req *req, const cJSON *args, void *ud) {
  (void)args;
  struct daemon *d = ud;
  if (lwa_state(d->lwa) == LWA_LINKED) {
    control_reply_error(req, "already_linked", "the device is linked: logout first");
    return;
  }
  if (d->login_req) {
    control_reply_error(req, "busy", "a login is waiting for its code already");
    return;
  }
  int r = lwa_link_start(d->lwa);
  if (r == -EALREADY) { /* pairing: the code is there */
    const char *code = NULL, *uri = NULL;
    int64_t exp = 0;
    if (lwa_link_info(d->lwa, &code, &uri, &exp) == 0) {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "user_code", code);
      cJSON_AddStringToObject(o, "verification_uri", uri);
      cJSON_AddNumberToObject(o, "expires_at", (double)exp);
      control_reply(req, o);
      return;
    }
    r = 0;
  }
  if (r < 0) {
    control_reply_error(req, "link_failed", amp_strerror(r));
    return;
  }
  d->login_req = req; /* answered by on_lwa_state */
}

static void cmd_logout(struct control_req *req, const cJSON *args, void *ud) {
  (void)args;
  struct daemon *d = ud;
  player_stop(d->player);
  reply_rc(req, lwa_unlink(d->lwa));
}

struct browse {
  struct daemon *d;
  struct control_req *req;
};

static void add_item(cJSON *arr, const struct apidoc *doc, const char *title, const char *ref,
                     bool playable) {
  char url[APIDOC_REF_MAX + 1];
  enum apidoc_ref_kind kind;
  if (apidoc_resolve(doc, ref, &kind, url, sizeof(url)) < 0 || kind != APIDOC_REF_URL)
    return;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "title", title ? title : "");
  cJSON_AddStringToObject(o, "ref", url);
  cJSON_AddBoolToObject(o, "playable", playable);
  cJSON_AddItemToArray(arr, o);
}

static void on_browse(void *ud, int err, struct api_reply *reply) {
  struct browse *b = ud;
  if (err < 0) {
    control_reply_error(b->req, err == -AMP_EREPORT ? "service_error" : "failed",
                        reply->report && reply->report->terse ? reply->report->terse
                                                              : amp_strerror(err));
    apidoc_error_free(reply->report);
    free(b);
    return;
  }
  struct apidoc *doc = reply->doc;
  cJSON *res = cJSON_CreateObject(), *items = cJSON_AddArrayToObject(res, "items");
  const struct apidoc_node *node = NULL;
  const struct apidoc_chunk *chunk = NULL;
  if (apidoc_node(doc, apidoc_result(doc), &node) == 0) {
    cJSON_AddStringToObject(res, "title", node->title ? node->title : "");
    for (size_t i = 0; i < node->n_items; i++) {
      const struct apidoc_summary *m = NULL;
      if (apidoc_summary(doc, node->items[i], &m) == 0)
        add_item(items, doc, m->title, m->ref, m->playable);
    }
  } else if (apidoc_chunk(doc, apidoc_result(doc), &chunk) == 0) {
    cJSON_AddStringToObject(res, "title", chunk->title ? chunk->title : "");
    for (size_t i = 0; i < chunk->n_tracks; i++) {
      const struct apidoc_track_instance *ti = NULL;
      const struct apidoc_track_definition *td = NULL;
      if (apidoc_track_instance(doc, chunk->tracks[i], &ti) == 0 &&
          apidoc_track_definition(doc, ti->track_definition, &td) == 0) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "title", td->title ? td->title : "");
        cJSON_AddStringToObject(o, "artist", td->artist ? td->artist : "");
        cJSON_AddNumberToObject(o, "duration_s", td->duration);
        cJSON_AddBoolToObject(o, "explicit", td->is_explicit);
        cJSON_AddItemToArray(items, o);
      }
    }
  }
  apidoc_free(doc);
  control_reply(b->req, res);
  free(b);
}

static void cmd_browse(struct control_req *req, const cJSON *args, void *ud) {
  struct daemon *d = ud;
  const char *url;
  if (cmdargs_ref(args, &url) < 0) /* none, or not a string: the root */
    url = api_root(d->api);
  struct browse *b = calloc(1, sizeof(*b));
  if (!b) {
    control_reply_error(req, "failed", amp_strerror(-ENOMEM));
    return;
  }
  b->d = d;
  b->req = req;
  int r = api_get(d->api, API_DOCUMENT, url, on_browse, b, NULL);
  if (r < 0) {
    free(b);
    reply_rc(req, r);
  }
}

static void cmd_previous(struct control_req *req, const cJSON *args, void *ud) {
  (void)args;
  reply_rc(req, player_previous(((struct daemon *)ud)->player));
}

static void cmd_seek(struct control_req *req, const cJSON *args, void *ud) {
  struct daemon *d = ud;
  struct player_status st;
  player_status(d->player, &st);
  uint64_t target;
  if (cmdargs_seek(args, st.position_ms, &target) < 0) {
    control_reply_error(req, "bad_args", "seek takes position_ms or offset_ms");
    return;
  }
  int r = player_seek(d->player, target);
  if (r == -ERANGE) {
    control_reply_error(req, "bad_args", "past the end of the track");
    return;
  }
  reply_rc(req, r);
}

static void cmd_repeat(struct control_req *req, const cJSON *args, void *ud) {
  struct daemon *d = ud;
  static const enum player_repeat modes[] = {PLAYER_REPEAT_OFF, PLAYER_REPEAT_ONE,
                                             PLAYER_REPEAT_ALL};
  const char *names[] = {player_repeat_name(modes[0]), player_repeat_name(modes[1]),
                         player_repeat_name(modes[2])};
  int i;
  if (cmdargs_word(args, "mode", names, 3, &i) < 0) {
    control_reply_error(req, "bad_args", "repeat mode is off, one or all");
    return;
  }
  if (i >= 0)
    player_set_repeat(d->player, modes[i]);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "mode", player_repeat_name(player_get_repeat(d->player)));
  control_reply(req, o);
}

static void cmd_queue(struct control_req *req, const cJSON *args, void *ud) {
  (void)args;
  struct daemon *d = ud;
  static struct player_queue_entry q[16];
  size_t n = player_queue(d->player, q, sizeof(q) / sizeof(q[0]));
  cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "tracks");
  for (size_t i = 0; i < n; i++) {
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "title", q[i].title);
    cJSON_AddStringToObject(t, "artist", q[i].artist);
    cJSON_AddBoolToObject(t, "current", q[i].current);
    cJSON_AddItemToArray(arr, t);
  }
  control_reply(req, o);
}

static void cmd_volume(struct control_req *req, const cJSON *args, void *ud) {
  struct daemon *d = ud;
  unsigned cur = player_volume(d->player), v;
  int r = cmdargs_volume(args, cur, &v);
  if (r < 0) {
    control_reply_error(req, "bad_args",
                        r == -ERANGE ? "volume is 0..100"
                                     : "volume takes volume (0..100) or delta");
    return;
  }
  if (cJSON_GetObjectItemCaseSensitive(args, "volume") ||
      cJSON_GetObjectItemCaseSensitive(args, "delta"))
    player_set_volume(d->player, v);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "volume", player_volume(d->player));
  control_reply(req, o);
}

/* ---------------------------------------------------------------- life */

static void on_signal(struct loop_source *s, const struct signalfd_siginfo *si, void *ud) {
  (void)s;
  (void)si;
  struct daemon *d = ud;
  log_info("signal: shutting down");
  sdnotify_stopping(d->sd);
  struct player_status st; /* where it was, before the stop forgets it */
  player_status(d->player, &st);
  save_state(d, &st);
  savedstate_flush(d->saved);
  d->stopping = true;
  player_stop(d->player); /* its playback event into the queue file, the device dropped */
  loop_quit(d->loop, 0);
}

static void on_stats(struct loop_source *s, uint64_t now, void *ud) {
  struct daemon *d = ud;
  struct player_status st;
  player_status(d->player, &st);
  devents_stats(&st, abr_estimate_bps(d->abr));
  loop_timer_set(s, now + (uint64_t)d->cfg.log.stats_interval_s * 1000000u);
}

static void arm_stats(struct daemon *d) {
  if (d->cfg.log.stats_interval_s)
    loop_timer_set(d->stats_timer,
                   loop_now(d->loop) + (uint64_t)d->cfg.log.stats_interval_s * 1000000u);
  else
    loop_timer_disarm(d->stats_timer);
}

/* ---------------------------------------------------------------- SIGHUP */

struct reload {
  struct daemon *d;
  struct ampd_config *next;
  size_t applied, restart;
};

/* The keys a reload applies: the log levels, the stats interval, the hook. */
static void on_changed(void *ud, const char *section, const char *key) {
  struct reload *rl = ud;
  struct ampd_config *c = &rl->d->cfg, *n = rl->next;
  char *tmp;
  if (strcmp(section, "log") == 0 && strcmp(key, "level") == 0) {
    log_set_levels(n->log.level); /* checked by core/config already */
    tmp = c->log.level, c->log.level = n->log.level, n->log.level = tmp;
  } else if (strcmp(section, "log") == 0 && strcmp(key, "stats_interval_s") == 0) {
    c->log.stats_interval_s = n->log.stats_interval_s;
    arm_stats(rl->d);
  } else if (strcmp(section, "hooks") == 0 && strcmp(key, "onevent") == 0) {
    tmp = c->hooks.onevent, c->hooks.onevent = n->hooks.onevent, n->hooks.onevent = tmp;
  } else if (strcmp(section, "hooks") == 0 && strcmp(key, "timeout_s") == 0) {
    c->hooks.timeout_s = n->hooks.timeout_s;
  } else {
    log_warning("reload: [%s] %s changed: it needs a restart (the running value stays)", section,
                key);
    rl->restart++;
    return;
  }
  log_info("reload: [%s] %s applied", section, key);
  rl->applied++;
}

static void reload(struct daemon *d) {
  char err[CONFIG_ERR_MAX];
  struct ampd_config next;
  sdnotify_reloading(d->sd);
  int r = config_defaults(&next);
  if (r == 0 && d->conf_path && (r = config_load(d->conf_path, &next, err, sizeof(err))) < 0)
    log_error("reload: %s; the configuration stays as it was", err);
  for (size_t i = 0; r == 0 && i < d->n_overrides; i++)
    if ((r = config_override(&next, d->overrides[i], err, sizeof(err))) < 0)
      log_error("reload: -o %s; the configuration stays as it was", err);
  if (r == 0) {
    struct reload rl = {.d = d, .next = &next};
    config_diff(&d->cfg, &next, on_changed, &rl);
    if (hooks_configure(d->hooks, d->cfg.hooks.onevent, d->cfg.hooks.timeout_s) < 0)
      log_error("reload: the hook's settings could not be applied");
    log_info("reload: %zu changed keys applied, %zu need a restart", rl.applied, rl.restart);
  } else if (r == -ENOMEM) {
    log_error("reload: out of memory; the configuration stays as it was");
  }
  config_free(&next);
  sdnotify_ready(d->sd);
}

static void on_sighup(struct loop_source *s, const struct signalfd_siginfo *si, void *ud) {
  (void)s;
  (void)si;
  log_info("signal: SIGHUP, reading the configuration again");
  reload(ud);
}

/* The saved volume and repeat mode (and with [playback] resume, the container and the
 * place in it) over the configuration's. A refused file is ignored with one line. */
static void restore_state(struct daemon *d) {
  struct savedstate_data *sd = &d->state_buf;
  int r = savedstate_load(d->cfg.paths.state_dir, sd);
  if (r == -ENOENT)
    return;
  if (r < 0) {
    log_warning("the saved player state (%s) is ignored: %s", SAVEDSTATE_NAME, amp_strerror(r));
    return;
  }
  savedstate_seed(d->saved, sd);
  /* The setters below report changes, which save_state() writes into state_buf. */
  unsigned volume = sd->volume, track = sd->track;
  enum player_repeat repeat = (enum player_repeat)sd->repeat;
  uint64_t ms = sd->position_ms;
  char *ref = d->cfg.playback.resume && sd->container[0] ? strdup(sd->container) : NULL;
  player_set_volume(d->player, volume);
  player_set_repeat(d->player, repeat);
  log_info("restored: volume %u, repeat %s", volume, player_repeat_name(repeat));
  if (ref) {
    log_info("resuming the container at its track %u, %" PRIu64 " ms", track, ms);
    if ((r = player_play_at(d->player, ref, track, ms)) < 0)
      log_warning("the resume failed: %s", amp_strerror(r));
  }
  free(ref);
}

static int join_path(char *out, const char *dir, const char *name) {
  int n = snprintf(out, PATH_BYTES, "%s/%s", dir, name);
  return n > 0 && n < PATH_BYTES ? 0 : -ENAMETOOLONG;
}

/* The device the backend is opened with. The null backend's device is its mode
 * (platform/null: "[FMT:]default", "[FMT:]sync" or "[FMT:]sync:N"): [output] sync (or a
 * device "sync", "sync:N" as it is) chooses it, and of any other [output] device only a
 * FMT: prefix counts (an ALSA name or the pipe's path is not the null backend's). */
static int output_device(const struct ampd_config *c, char *out, size_t len) {
  const char *dev = c->output.device ? c->output.device : "default";
  int n;
  if (c->output.backend == CONFIG_BACKEND_NULL) {
    size_t prefix = strspn(dev, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
    prefix = dev[prefix] == ':' && prefix > 0 ? prefix + 1 : 0; /* "S24_3:" */
    const char *mode = dev + prefix;
    if (strncmp(mode, "sync:", 5) != 0) /* the backend checks N */
      mode = c->output.sync || strcmp(mode, "sync") == 0 ? "sync" : "default";
    n = snprintf(out, len, "%.*s%s", (int)prefix, dev, mode);
  } else {
    n = snprintf(out, len, "%s", dev);
  }
  return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

/* What ABR may choose and what the service is asked for: the configuration AND the output
 * device (docs/media.md §13 "The device"). The engine resamples a switch within a track
 * on the device it keeps open, so a switch may go to a rate the device does not take; with
 * output.rate = Hz it resamples everything to that rate. (output.rate = keep is taken as
 * native: the first track opens the device at its own rate, so every start is held to
 * the device's rates.) */
static int device_capabilities(struct daemon *d, const struct output_ops *ops) {
  struct ampd_config *c = &d->cfg;
  struct output_caps dev;
  const struct output_caps *devp = &dev;
  int r = output_probe(ops, d->device, &dev);
  if (r < 0) {
    log_warning("output %s %s: cannot probe it (%s): the device limits nothing", ops->name,
                d->device, amp_strerror(r));
    devp = NULL;
  }
  uint32_t fixed = c->output.rate > CONFIG_RATE_KEEP ? c->output.rate : 0;
  r = devcaps_setup(c->service.capabilities, devp, true, fixed, &d->constraints, d->capability,
                    sizeof(d->capability));
  if (r < 0) {
    log_error("output %s %s: nothing of the capabilities %s it can play: %s", ops->name, d->device,
              c->service.capabilities, amp_strerror(r));
    return r;
  }
  if (devp)
    log_info("output %s %s: %u-%u Hz, up to %u bits: asking for %s", ops->name, d->device,
             dev.rate_min, dev.rate_max, d->constraints.max_bit_depth, d->capability);
  else
    log_info("asking for %s", d->capability);
  return 0;
}

static int build(struct daemon *d, const char *control_path) {
  struct ampd_config *c = &d->cfg;
  int r;
  char path[PATH_BYTES];
  if ((r = loop_new(&d->loop)) < 0 || (r = sdnotify_new(d->loop, &d->sd)) < 0)
    return r;
  signal(SIGPIPE, SIG_IGN);
  if ((r = loop_add_signal(d->loop, SIGTERM, on_signal, d, NULL)) < 0 ||
      (r = loop_add_signal(d->loop, SIGINT, on_signal, d, NULL)) < 0 ||
      (r = loop_add_signal(d->loop, SIGHUP, on_sighup, d, NULL)) < 0)
    return r;
  if ((r = hooks_new(d->loop, &d->hooks)) < 0 || (r = devents_new(d->hooks, &d->devents)) < 0 ||
      (r = hooks_configure(d->hooks, c->hooks.onevent, c->hooks.timeout_s)) < 0 ||
      (r = savedstate_new(d->loop, c->paths.state_dir, 0, &d->saved)) < 0)
    return r;
  struct http_config hc;
  http_config_init(&hc);
  hc.ca_file = c->service.ca_file;
  hc.user_agent = c->service.user_agent;
  if ((r = http_new(d->loop, &hc, &d->http)) < 0)
    return r;
  if ((r = deviceid_get(c->paths.state_dir, DEVICEID_MACHINE_ID_PATH, d->device_id,
                        sizeof(d->device_id))) < 0) {
    log_error("device id in %s: %s", c->paths.state_dir, amp_strerror(r));
    return r;
  }
  const struct output_ops *ops = output_backend_find(config_backend_name(c->output.backend));
  if (!ops)
    return -ENODEV;
  if ((r = output_device(c, d->device, sizeof(d->device))) < 0 ||
      (r = device_capabilities(d, ops)) < 0)
    return r;
  struct lwa_config lc = {.base_url = c->service.lwa_url,
                          .client_id = c->service.client_id ? c->service.client_id : "",
                          .state_dir = c->paths.state_dir};
  if ((r = lwa_new(d->loop, d->http, &lc, on_lwa_state, d, &d->lwa)) < 0)
    return r;
  struct api_config ac = {.base_url = c->service.api_url,
                          .device_id = d->device_id,
                          .capability = d->capability,
                          .has_explicit = c->service.has_explicit,
                          .accept_language = c->service.accept_language};
  if ((r = api_new(d->loop, d->http, d->lwa, &ac, &d->api)) < 0)
    return r;
  bearer_init(&d->lic_bearer, d->lwa, -1);
  bearer_init(&d->rep_bearer, d->lwa, c->service.has_explicit);
  struct license_config lic = {.expiry_test_secs = c->service.license_expiry_test_secs,
                               .headers = bearer_headers,
                               .on_token_rejected = bearer_rejected,
                               .userdata = &d->lic_bearer};
  if ((r = license_new(d->loop, d->http, &lic, &d->license)) < 0)
    return r;
  if ((r = join_path(path, c->paths.state_dir, "events.evq")) < 0)
    return r;
  struct report_config rc = {.queue_path = path,
                             .headers = bearer_headers,
                             .on_stop = on_collector_stop,
                             .on_token_rejected = bearer_rejected,
                             .userdata = &d->rep_bearer};
  if ((r = report_new(d->loop, d->http, &rc, &d->report)) < 0)
    return r;
  struct cdmhost_options co = {.plugin_dir = c->paths.cdm_dir};
  if ((r = cdmhost_open(c->paths.cdm, &co, &d->cdm)) < 0) {
    log_error("CDM %s: %s", c->paths.cdm, amp_strerror(r));
    return r;
  }
  static const enum engine_volume_mode vmodes[] = {
      [CONFIG_VOLUME_SOFTWARE] = ENGINE_VOLUME_SOFTWARE,
      [CONFIG_VOLUME_HARDWARE] = ENGINE_VOLUME_HARDWARE,
      [CONFIG_VOLUME_BOTH] = ENGINE_VOLUME_BOTH};
  struct engine_config ec = {.loop = d->loop,
                             .ops = ops,
                             .params = {.device = d->device,
                                        .buffer_time_us = c->output.buffer_ms * 1000u,
                                        .mixer_control = c->output.mixer_control},
                             .rate_policy =
                                 c->output.rate == CONFIG_RATE_NATIVE ? ENGINE_RATE_NATIVE
                                 : c->output.rate == CONFIG_RATE_KEEP ? ENGINE_RATE_KEEP
                                                                      : ENGINE_RATE_FIXED,
                             .fixed_rate = c->output.rate > CONFIG_RATE_KEEP ? c->output.rate : 0,
                             .normalise = c->playback.loudness,
                             .target_lufs = c->playback.loudness_target_lufs,
                             .volume_mode = vmodes[c->playback.volume_mode],
                             .volume = c->playback.volume,
                             .idle_close_ms = c->output.idle_close_s * 1000u,
                             .on_event = on_engine_event,
                             .userdata = d};
  if ((r = engine_new(&ec, &d->engine)) < 0)
    return r;
  if ((r = abr_new(NULL, &d->abr)) < 0)
    return r;
  struct player_config pc = {.loop = d->loop,
                             .http = d->http,
                             .api = d->api,
                             .license = d->license,
                             .cdm = d->cdm,
                             .report = d->report,
                             .engine = d->engine,
                             .choose = choose_rep,
                             .choose_userdata = d,
                             .abr = d->abr,
                             .constraints = &d->constraints,
                             .on_change = on_player_change,
                             .userdata = d};
  fetcher_config_init(&pc.fetch);
  pc.fetch.target_ms = c->playback.buffer_ahead_s * 1000u;
  pc.fetch.cap_bytes = (size_t)c->playback.buffer_max_kib * 1024u;
  if ((r = player_new(&pc, &d->player)) < 0)
    return r;
  restore_state(d);
  if ((r = loop_add_timer(d->loop, 0, on_stats, d, &d->stats_timer)) < 0)
    return r;
  arm_stats(d);
  if (c->mpris.bus != CONFIG_MPRIS_OFF &&
      (r = mpris_new(d->loop,
                     c->mpris.bus == CONFIG_MPRIS_SYSTEM ? MPRIS_BUS_SYSTEM : MPRIS_BUS_SESSION,
                     d->player, &d->mpris)) < 0)
    return r;
  if (!control_path) {
    if ((r = join_path(path, c->paths.runtime_dir, "control")) < 0)
      return r;
    control_path = path;
  }
  if ((r = control_new_group(d->loop, control_path, c->paths.control_group, &d->control)) < 0) {
    log_error("control socket %s: %s", control_path, amp_strerror(r));
    return r;
  }
  static const struct {
    const char *name;
    control_cmd_fn fn;
  } cmds[] = {
      {"status", cmd_status}, {"play", cmd_play},         {"pause", cmd_pause},
      {"resume", cmd_resume}, {"toggle", cmd_toggle},     {"stop", cmd_stop},
      {"next", cmd_next},     {"login", cmd_login},       {"logout", cmd_logout},
      {"browse", cmd_browse}, {"previous", cmd_previous}, {"seek", cmd_seek},
      {"volume", cmd_volume}, {"repeat", cmd_repeat},     {"queue", cmd_queue},
  };
  for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
    if ((r = control_add_command(d->control, cmds[i].name, cmds[i].fn, d)) < 0)
      return r;
#ifdef AMPD_TEST_HOOKS /* the ampd_test binary only, never installed (docs/systemd.md) */
  if ((r = testhooks_register(d->control)) < 0)
    return r;
#endif
  struct player_status st;
  player_status(d->player, &st);
  devents_player(d->devents, &st); /* the starting point: the next change is an event */
  notify_status(d, &st);
  sdnotify_ready(d->sd); /* the control socket listens and accepts */
  return 0;
}

static void teardown(struct daemon *d) {
  control_free(d->control);
  savedstate_free(d->saved); /* writes what is pending */
  mpris_free(d->mpris);
  player_free(d->player);
  engine_free(d->engine);
  abr_free(d->abr);
  cdmhost_free(d->cdm);
  report_free(d->report);
  license_free(d->license);
  bearer_wipe(&d->lic_bearer);
  bearer_wipe(&d->rep_bearer);
  api_free(d->api);
  lwa_free(d->lwa);
  http_free(d->http);
  sdnotify_free(d->sd);
  devents_free(d->devents);
  hooks_free(d->hooks);
  loop_free(d->loop);
  config_free(&d->cfg);
}

static void usage(FILE *f) {
  fprintf(f, "usage: ampd [-c FILE] [-o SECTION.KEY=VALUE]... [-s SOCKET] [-V]\n"
             "  -c FILE   the configuration file (docs/configuration.md)\n"
             "  -o S.K=V  override one key (after the file, in order)\n"
             "  -s PATH   the control socket (default: <runtime_dir>/control)\n"
             "  -V        print the version and exit\n");
}

/* The allocator's settings for a daemon that must stay small (docs/benchmarks.md: the
 * Private_Dirty budget while playing). glibc's defaults suit a throughput server:
 *  - an arena per thread (the media and output threads, libcurl's resolver threads):
 *    each keeps the pages it once used. The threads here allocate little after setup, so
 *    one arena costs no contention worth measuring and keeps no second set of pages.
 *  - a dynamic mmap threshold: after the first large block is freed, blocks of that size
 *    (the fetcher's segment buffers and the engine's copies, 100-300 KiB each) come from
 *    the heap, and freed heap memory in the middle stays dirty. A fixed threshold keeps
 *    each of them its own mapping, returned to the kernel when freed (one mmap/munmap a
 *    segment, a few a second).
 *  - a dynamic trim threshold (it follows the mmap one): fixed, the free top of the heap
 *    is given back past 128 KiB.
 * Setting an option fixes it for the whole process; a libc without mallopt's options
 * (musl) keeps its own policy. */
static void tune_malloc(void) {
#if defined(M_ARENA_MAX) && defined(M_MMAP_THRESHOLD) && defined(M_TRIM_THRESHOLD)
  (void)mallopt(M_ARENA_MAX, 1);
  (void)mallopt(M_MMAP_THRESHOLD, 64 * 1024);
  (void)mallopt(M_TRIM_THRESHOLD, 128 * 1024);
#endif
}

int main(int argc, char **argv) {
  static struct daemon d;
  tune_malloc();
  const char *conf = NULL, *control_path = NULL;
  char err[CONFIG_ERR_MAX];
  if (config_defaults(&d.cfg) < 0) {
    fprintf(stderr, "ampd: out of memory\n");
    return 1;
  }
  const char *overrides[64];
  size_t n_over = 0;
  int opt;
  while ((opt = getopt(argc, argv, "c:o:s:Vh")) != -1) {
    switch (opt) {
    case 'c':
      conf = optarg;
      break;
    case 'o':
      if (n_over >= sizeof(overrides) / sizeof(overrides[0])) {
        fprintf(stderr, "ampd: too many -o\n");
        return 2;
      }
      overrides[n_over++] = optarg;
      break;
    case 's':
      control_path = optarg;
      break;
    case 'V':
      printf("ampd %s\n", AMPD_VERSION_STRING);
      config_free(&d.cfg);
      return 0;
    case 'h':
      usage(stdout);
      config_free(&d.cfg);
      return 0;
    default:
      usage(stderr);
      config_free(&d.cfg);
      return 2;
    }
  }
  if (optind != argc) {
    usage(stderr);
    config_free(&d.cfg);
    return 2;
  }
  if (conf && config_load(conf, &d.cfg, err, sizeof(err)) < 0) {
    fprintf(stderr, "ampd: %s\n", err);
    config_free(&d.cfg);
    return 2;
  }
  for (size_t i = 0; i < n_over; i++) {
    if (config_override(&d.cfg, overrides[i], err, sizeof(err)) < 0) {
      fprintf(stderr, "ampd: -o %s\n", err);
      config_free(&d.cfg);
      return 2;
    }
  }
  if (log_set_levels(d.cfg.log.level) < 0) {
    fprintf(stderr, "ampd: [log] level: not a level spec\n");
    config_free(&d.cfg);
    return 2;
  }
  d.conf_path = conf;
  d.overrides = overrides;
  d.n_overrides = n_over;
  int r = build(&d, control_path);
  if (r < 0) {
    log_error("cannot start: %s", amp_strerror(r));
    teardown(&d);
    return 1;
  }
  log_info("ampd %s running", AMPD_VERSION_STRING);
  r = loop_run(d.loop);
  /* The stop's hook (an amplifier off) gets HOOKS_DRAIN_USEC to run before the teardown
   * kills it. */
  uint64_t end = clock_mono_usec() + HOOKS_DRAIN_USEC;
  while (hooks_pending(d.hooks) > 0 && clock_mono_usec() < end)
    if (loop_run_once(d.loop, 100) < 0)
      break;
  teardown(&d);
  return r < 0 ? 1 : 0;
}
