/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The player end to end, in one process: player (loop side) + engine (media and output
 * threads) + loader + fetcher + drm + cloud/api + cloud/report against the mock over TLS
 * serving the test catalog, through the real ClearKey CDM, into the pipe output backend
 * writing a regular file. The album's three tracks (album/t1..t3 are consecutive parts of
 * album/continuous) must come out gapless and bit-exact: the file equals the continuous
 * source's PCM, across each clear lead and the encrypted parts. Each track's playback
 * events reach its collector in order. The SPEKE album (keys from the mock's SPEKE key
 * provider, docs/speke.md §12) comes out bit-exact too.
 *
 * argv[1] is the source tree, argv[2] the test catalog.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cloud/api.h"
#include "cloud/bearer.h"
#include "cloud/license.h"
#include "cloud/lwa.h"
#include "cloud/report.h"
#include "cloud_harness.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/loop.h"
#include "http_harness.h"
#include "media/cdmhost.h"
#include "media/manifest.h"
#include "platform/backends.h"
#include "player/engine.h"
#include "player/player.h"

#define REP "flac_16_44"
#define BYTES_PER_S (44100 * 4) /* 16-bit stereo */

struct obs {
  struct player *player;
  int changes, stopped, started_playing;
  enum player_state state;
};

static void on_event(void *ud, const struct engine_event *ev) {
  struct obs *o = ud;
  if (o->player)
    player_engine_event(o->player, ev);
}

static void on_change(void *ud, const struct player_status *st) {
  struct obs *o = ud;
  o->changes++;
  o->state = st->state;
  if (st->state == PLAYER_PLAYING)
    o->started_playing = 1;
  if (st->state == PLAYER_STOPPED || st->state == PLAYER_ERROR)
    o->stopped = 1;
}

static const struct manifest_rep *choose(void *ud, const struct manifest *m) {
  (void)ud;
  return manifest_find_rep(m, REP);
}

/* The URL of the first playable item of the root's section. */
static void container_url(struct api *a, const char *section, char *out, size_t n) {
  struct apidoc *home = get_doc(a, api_root(a));
  bool playable = true;
  struct apidoc *sec = follow(a, home, section, &playable);
  const struct apidoc_node *node = NULL;
  assert_int_equal(apidoc_node(sec, apidoc_result(sec), &node), 0);
  const struct apidoc_summary *m = NULL;
  assert_int_equal(apidoc_summary(sec, node->items[0], &m), 0);
  assert_true(m->playable);
  resolve_url(sec, m->ref, out, n);
  apidoc_free(sec);
  apidoc_free(home);
}

static uint8_t *read_all(const char *path, size_t *ret_len) {
  FILE *f = fopen(path, "rbe");
  assert_non_null(f);
  assert_int_equal(fseek(f, 0, SEEK_END), 0);
  long n = ftell(f);
  assert_true(n >= 0);
  assert_int_equal(fseek(f, 0, SEEK_SET), 0);
  uint8_t *p = malloc((size_t)n + 1);
  assert_non_null(p);
  assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *ret_len = (size_t)n;
  return p;
}

/* The PCM bytes of a canonical or extensible WAV file (its data chunk). */
static const uint8_t *wav_data(const uint8_t *w, size_t len, size_t *ret_len) {
  assert_true(len >= 12 && memcmp(w, "RIFF", 4) == 0 && memcmp(w + 8, "WAVE", 4) == 0);
  size_t off = 12;
  while (off + 8 <= len) {
    uint32_t sz = w[off + 4] | (uint32_t)w[off + 5] << 8 | (uint32_t)w[off + 6] << 16 |
                  (uint32_t)w[off + 7] << 24;
    if (memcmp(w + off, "data", 4) == 0) {
      assert_true(off + 8 + sz <= len);
      *ret_len = sz;
      return w + off + 8;
    }
    off += 8 + sz + (sz & 1);
  }
  fail_msg("no data chunk");
  return NULL;
}

/* ---------------------------------------------------------------- the device's reader */

#define READ_MAX (120u * BYTES_PER_S)

/* Reads the FIFO at about the real rate (so the device is "played" in real time and
 * commands land mid-track) or as fast as it comes, keeping everything read. */
struct reader {
  int fd;
  pthread_t th;
  bool running; /* th runs (reader_go), not yet joined */
  pthread_mutex_t lock;
  uint8_t *buf; /* READ_MAX bytes from reader_open on */
  size_t n;
  bool stop;
  bool fast; /* read as fast as it comes; its end (the writer closed it) ends the reader */
};

static void *reader_main(void *ud) {
  struct reader *r = ud;
  uint8_t chunk[BYTES_PER_S / 20];
  struct timespec tick = {0, 50 * 1000 * 1000};
  for (;;) {
    pthread_mutex_lock(&r->lock);
    bool stop = r->stop, fast = r->fast;
    pthread_mutex_unlock(&r->lock);
    if (stop)
      break;
    ssize_t k = read(r->fd, chunk, sizeof(chunk));
    if (k > 0) {
      pthread_mutex_lock(&r->lock);
      size_t room = READ_MAX - r->n;
      size_t take = (size_t)k < room ? (size_t)k : room;
      memcpy(r->buf + r->n, chunk, take);
      r->n += take;
      pthread_mutex_unlock(&r->lock);
    }
    if (k == 0 && fast)
      break; /* the writer closed it */
    if (!fast)
      nanosleep(&tick, NULL);
  }
  return NULL;
}

/* A new FIFO at path, opened for reading (so that the device can open it), nothing read
 * from it until reader_go. */
static void reader_open(struct reader *r, const char *path) {
  assert_int_equal(mkfifo(path, 0600), 0);
  *r = (struct reader){0};
  assert_non_null(r->buf = malloc(READ_MAX));
  pthread_mutex_init(&r->lock, NULL);
  r->fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  assert_true(r->fd >= 0);
  assert_int_equal(fcntl(r->fd, F_SETFL, 0), 0); /* blocking reads from here */
}

/* Start reading: at the real rate, or as fast as it comes. */
static void reader_go(struct reader *r, bool fast) {
  r->fast = fast;
  assert_int_equal(pthread_create(&r->th, NULL, reader_main, r), 0);
  r->running = true;
}

static void reader_fast(struct reader *r) {
  pthread_mutex_lock(&r->lock);
  r->fast = true;
  pthread_mutex_unlock(&r->lock);
}

/* Wait for the reader to end (fast, at the FIFO's end; or told to stop) and close it. */
static void reader_join(struct reader *r) {
  r->running = false;
  assert_int_equal(pthread_join(r->th, NULL), 0);
  close(r->fd);
  r->fd = -1;
}

/* Stop reading now, whatever the writer still sends. */
static void reader_stop(struct reader *r) {
  pthread_mutex_lock(&r->lock);
  r->stop = true;
  pthread_mutex_unlock(&r->lock);
  reader_join(r);
}

static size_t reader_bytes(struct reader *r) {
  pthread_mutex_lock(&r->lock);
  size_t n = r->n;
  pthread_mutex_unlock(&r->lock);
  return n;
}

static void run_for_ms(unsigned ms) {
  uint64_t end = clock_mono_usec() + (uint64_t)ms * 1000u;
  while (clock_mono_usec() < end)
    assert_true(loop_run_once(L, 20) >= 0);
}

static void run_until_bytes(struct reader *r, size_t n) {
  uint64_t end = clock_mono_usec() + WAIT_GUARD_USEC;
  while (reader_bytes(r) < n) {
    assert_true(clock_mono_usec() < end);
    assert_true(loop_run_once(L, 20) >= 0);
  }
}

/* How many bytes of got, from off, equal want from woff (whole frames). */
static size_t common(const uint8_t *got, size_t n, size_t off, const uint8_t *want, size_t wn,
                     size_t woff) {
  size_t k = 0;
  while (off + k < n && woff + k < wn && got[off + k] == want[woff + k])
    k++;
  return k / 4 * 4;
}

/* ---------------------------------------------------------------- the rig */

struct rig {
  struct lwa *w;
  struct api *a;
  struct bearer lb, rb;
  struct license *lc;
  struct report *rep;
  struct cdmhost *cdm;
  struct engine *e;
  struct obs o;
};

/* The whole chain into the pipe backend at dev ("S16:<path>"), fetching ahead_ms ahead
 * (0: the default). */
static void rig_up(struct rig *g, const char *dev, const char *queue_name, uint32_t ahead_ms) {
  memset(g, 0, sizeof(*g));
  g->w = linked_lwa();
  g->a = make_api(g->w, true);
  bearer_init(&g->lb, g->w, -1);
  bearer_init(&g->rb, g->w, 1);
  g->lc = license_client(&g->lb);
  char qpath[PATH_MAX];
  assert_true(join(qpath, tmp, queue_name));
  struct report_config rc = {.queue_path = qpath,
                             .backoff_min_ms = 20,
                             .backoff_max_ms = 200,
                             .headers = bearer_headers,
                             .on_token_rejected = bearer_rejected,
                             .userdata = &g->rb};
  assert_int_equal(report_new(L, H, &rc, &g->rep), 0);
  struct cdmhost_options opt = {.plugin_dir = PLAYERTEST_CLEARKEY_DIR};
  assert_int_equal(cdmhost_open("clearkey", &opt, &g->cdm), 0);
  struct engine_config ec = {.loop = L,
                             .ops = output_backend_find("pipe"),
                             .params = {.device = dev},
                             .volume = 100,
                             .on_event = on_event,
                             .userdata = &g->o};
  assert_non_null(ec.ops);
  assert_int_equal(engine_new(&ec, &g->e), 0);
  struct player_config pc = {.loop = L,
                             .http = H,
                             .api = g->a,
                             .license = g->lc,
                             .cdm = g->cdm,
                             .report = g->rep,
                             .engine = g->e,
                             .choose = choose,
                             .on_change = on_change,
                             .userdata = &g->o};
  fetcher_config_init(&pc.fetch);
  if (ahead_ms) {
    pc.fetch.target_ms = ahead_ms;
    pc.fetch.cap_bytes = 64u << 20;
  }
  assert_int_equal(player_new(&pc, &g->o.player), 0);
}

/* The PCM of a source WAV of the catalog. */
struct source {
  uint8_t *wav;
  const uint8_t *pcm; /* in wav */
  size_t len;
};

/* What each test plays into (PLAYER_TEST): the mock reset (its clock, faults and collector)
 * and its request log marked; the rig and its device (rig_to), the device's reader, and what
 * a test loaded to compare with. player_teardown takes down and frees what is left, also
 * after a failed assertion. */
struct pfx {
  struct rig g;
  bool rigged;            /* g is up: rig_down takes it down */
  char out[PATH_MAX];     /* the device's file or FIFO */
  char dev[PATH_MAX + 8]; /* "S16:<out>": it outlives the engine (engine_config) */
  struct reader rd;       /* the FIFO's (TO_READER, TO_FIFO) */
  struct source src[2];   /* what a test compares with (source()) */
  uint8_t *played;        /* the file the device wrote (read_played()) */
  size_t played_len;
};

static struct pfx fx; /* one test at a time */

static int player_setup(void **state) {
  fx = (struct pfx){0};
  *state = &fx;
  cJSON_Delete(ctrl(H, HTTP_POST, "/_mock/reset", "{}"));
  begin_test();
  return 0;
}

/* The device the rig writes: a regular file, a FIFO read at the real rate from before the
 * rig is up, or a FIFO opened but not read until the test says (reader_go). */
enum device { TO_FILE, TO_READER, TO_FIFO };

/* The whole chain into the pipe backend on <name>.raw or <name>.fifo (as `to` says) in the
 * temp dir, fetching ahead_ms ahead (0: the default), its event queue <name>.evq. */
static void rig_to(struct pfx *f, const char *name, enum device to, uint32_t ahead_ms) {
  char leaf[64];
  snprintf(leaf, sizeof(leaf), "%s.%s", name, to == TO_FILE ? "raw" : "fifo");
  assert_true(join(f->out, tmp, leaf));
  if (to != TO_FILE)
    reader_open(&f->rd, f->out);
  if (to == TO_READER)
    reader_go(&f->rd, false);
  snprintf(f->dev, sizeof(f->dev), "S16:%s", f->out);
  snprintf(leaf, sizeof(leaf), "%s.evq", name);
  rig_up(&f->g, f->dev, leaf, ahead_ms);
  f->rigged = true;
}

/* Deliver what the reporter holds, then take everything down. */
static void rig_down(struct pfx *f) {
  struct rig *g = &f->g;
  f->rigged = false;
  drain_reports(g->rep, NULL);
  player_free(g->o.player);
  g->o.player = NULL;
  engine_free(g->e);
  cdmhost_free(g->cdm);
  report_free(g->rep);
  license_free(g->lc);
  bearer_wipe(&g->lb);
  bearer_wipe(&g->rb);
  api_free(g->a);
  lwa_free(g->w);
}

static int player_teardown(void **state) {
  struct pfx *f = *state;
  struct reader *r = &f->rd;
  if (r->buf && !r->running && r->fd >= 0 && f->rigged)
    reader_go(r, true); /* opened, never read: take what the device still writes */
  else if (r->running)
    reader_fast(r);
  if (f->rigged)
    rig_down(f);
  if (r->running)
    reader_stop(r);
  if (r->buf) {
    if (r->fd >= 0)
      close(r->fd);
    free(r->buf);
    pthread_mutex_destroy(&r->lock);
  }
  for (size_t i = 0; i < sizeof(f->src) / sizeof(f->src[0]); i++)
    free(f->src[i].wav);
  free(f->played);
  return 0;
}

#define PLAYER_TEST(test) cmocka_unit_test_setup_teardown(test, player_setup, player_teardown)

/* Play the album (the first of the root's Albums). */
static void play_album(struct pfx *f) {
  char url[HTTP_URL_MAX];
  container_url(f->g.a, "Albums", url, sizeof(url));
  assert_int_equal(player_play(f->g.o.player, url), 0);
}

/* Run the loop until the player stopped (bounded); it played `tracks` tracks to their
 * end; *st its status then. */
static void play_to_end(struct pfx *f, uint64_t tracks, struct player_status *st) {
  uint64_t end = clock_mono_usec() + 3 * WAIT_GUARD_USEC;
  while (!f->g.o.stopped) {
    assert_true(clock_mono_usec() < end);
    assert_true(loop_run_once(L, 50) >= 0);
  }
  player_status(f->g.o.player, st);
  assert_int_equal(st->tracks_played, tracks);
}

/* The PCM of the catalog's <track>/source/REP.wav (a track, or album/continuous: the
 * album's three in one) into f->src[i]. */
static const struct source *source(struct pfx *f, size_t i, const char *track) {
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/%s/source/" REP ".wav", catalog, track);
  struct source *s = &f->src[i];
  size_t wl = 0;
  s->wav = read_all(path, &wl);
  s->pcm = wav_data(s->wav, wl, &s->len);
  return s;
}

/* What the device wrote to its regular file. */
static void read_played(struct pfx *f) {
  f->played = read_all(f->out, &f->played_len);
}

/* The device's file holds exactly the continuous source's PCM: the album, gapless. */
static void assert_played_album(struct pfx *f) {
  const struct source *s = source(f, 0, "album/continuous");
  read_played(f);
  assert_int_equal(f->played_len, s->len);
  assert_memory_equal(f->played, s->pcm, s->len);
}

/* The event types the collector recorded, without "PLAYBACK_", space-separated, are want. */
static void assert_collected(const char *want) {
  char seq[512];
  size_t sl = 0;
  seq[0] = '\0';
  cJSON *coll = ctrl(H, HTTP_GET, "/_mock/collector", NULL), *ev;
  cJSON_ArrayForEach(ev, cJSON_GetObjectItem(coll, "events")) {
    const char *t = str(ev, "eventType");
    int k = snprintf(seq + sl, sizeof(seq) - sl, "%s ", t + strlen("PLAYBACK_"));
    assert_true(k > 0 && (size_t)k < sizeof(seq) - sl);
    sl += (size_t)k;
  }
  cJSON_Delete(coll);
  assert_string_equal(seq, want);
}

/* How often the mock's first fault rule was hit. */
static int fault_hits(void) {
  cJSON *f = ctrl(H, HTTP_GET, "/_mock/faults", NULL);
  int hits = (int)num(cJSON_GetArrayItem(f, 0), "hits");
  cJSON_Delete(f);
  return hits;
}

/* ---------------------------------------------------------------- to a file */

static void test_album_gapless_bit_exact(void **state) {
  struct pfx *f = *state;
  rig_to(f, "album", TO_FILE, 0);
  play_album(f);
  struct player_status st;
  play_to_end(f, 3, &st);
  assert_int_equal(st.state, PLAYER_STOPPED);
  assert_int_equal(st.error, 0);
  assert_true(f->g.o.started_playing);

  assert_played_album(f); /* what the device got, byte for byte */

  /* The events: started and finished for each track, in order, at its collector. */
  rig_down(f);
  assert_collected("STARTED FINISHED STARTED FINISHED STARTED FINISHED ");
}

/* The SPEKE album (issue 12: catalog speke/t1, speke/t2, packaged by ampack with keys and
 * PSSH boxes from the mock's SPEKE key provider) plays like any other: the device gets
 * t1's source PCM and then t2's (one continuous signal cut at 33 s), byte for byte, across
 * each clear lead and the encrypted segments. The album is in no navigation node (the
 * mock's api.py): its container is the album's with the id changed. */
static void test_speke_album_bit_exact(void **state) {
  struct pfx *f = *state;
  rig_to(f, "speke", TO_FILE, 0);
  char url[HTTP_URL_MAX], speke[HTTP_URL_MAX];
  container_url(f->g.a, "Albums", url, sizeof(url));
  const char *at = strstr(url, "/api/containers/album");
  assert_non_null(at);
  snprintf(speke, sizeof(speke), "%.*s/api/containers/speke%s", (int)(at - url), url,
           at + strlen("/api/containers/album"));
  assert_int_equal(player_play(f->g.o.player, speke), 0);
  struct player_status st;
  play_to_end(f, 2, &st);
  assert_int_equal(st.state, PLAYER_STOPPED);
  assert_int_equal(st.error, 0);
  rig_down(f);

  read_played(f);
  size_t total = 0;
  for (size_t t = 0; t < 2; t++) {
    char track[32];
    snprintf(track, sizeof(track), "speke/t%zu", t + 1);
    const struct source *s = source(f, t, track);
    assert_true(s->len > 30u * BYTES_PER_S); /* past the clear lead: encrypted segments */
    assert_true(total + s->len <= f->played_len);
    assert_memory_equal(f->played + total, s->pcm, s->len);
    total += s->len;
  }
  assert_int_equal(f->played_len, total);
}

/* The license comes late (the mock holds it 1.5 s) while the output takes PCM faster
 * than real time: the decode reaches the first encrypted segment long before the keys.
 * That segment waits for them (engine_key_ready) instead of failing the track, and the
 * album still comes out bit-exact. */
static void test_license_late(void **state) {
  struct pfx *f = *state;
  add_fault("{\"path\": \"/license/*\", \"delay_ms\": 1500, \"count\": 1}");
  rig_to(f, "late", TO_FILE, 0);
  play_album(f);
  struct player_status st;
  play_to_end(f, 3, &st);
  assert_int_equal(st.error, 0);
  rig_down(f);
  assert_int_equal(fault_hits(), 1); /* it was held */
  assert_played_album(f);
}

/* Repeat all: after the album's last track its first plays again, gapless: the device
 * gets the continuous source and then its start once more. */
static void test_repeat_all(void **state) {
  struct pfx *f = *state;
  rig_to(f, "repeat", TO_FILE, 0);
  player_set_repeat(f->g.o.player, PLAYER_REPEAT_ALL);
  assert_int_equal(player_get_repeat(f->g.o.player), PLAYER_REPEAT_ALL);
  play_album(f);
  struct player_status st;
  uint64_t end = clock_mono_usec() + 3 * WAIT_GUARD_USEC;
  do {
    assert_true(clock_mono_usec() < end);
    assert_true(loop_run_once(L, 20) >= 0);
    player_status(f->g.o.player, &st);
    assert_true(st.state != PLAYER_STOPPED && st.state != PLAYER_ERROR);
  } while (st.tracks_played < 4);
  assert_int_equal(player_stop(f->g.o.player), 0);
  rig_down(f);
  const struct source *s = source(f, 0, "album/continuous");
  read_played(f);
  /* The album, then at least its first track (37 s) again from its first frame. */
  assert_true(f->played_len >= s->len + 37u * BYTES_PER_S);
  assert_memory_equal(f->played, s->pcm, s->len);
  assert_memory_equal(f->played + s->len, s->pcm, 37u * BYTES_PER_S);
}

/* ---------------------------------------------------------------- commands in real time */

/* Play the album in real time through a FIFO: pause (nothing comes while paused, nothing
 * is lost or repeated), resume, seek to 20 s (the output continues exactly there), next
 * (track 2 from its first frame, which is 37 s into the continuous source), stop. */
static void test_commands_in_real_time(void **state) {
  struct pfx *f = *state;
  struct reader *rd = &f->rd;
  rig_to(f, "commands", TO_READER, 0);
  play_album(f);
  struct player *pl = f->g.o.player;
  run_until_bytes(rd, BYTES_PER_S); /* a second heard */

  /* Pause: once the pipe's own buffer is read, nothing more comes. */
  assert_int_equal(player_pause(pl), 0);
  assert_int_equal(player_pause(pl), -EALREADY);
  run_for_ms(700);
  size_t paused_at = reader_bytes(rd);
  run_for_ms(400);
  assert_int_equal(reader_bytes(rd), paused_at);
  assert_int_equal(player_resume(pl), 0);
  run_until_bytes(rd, paused_at + BYTES_PER_S);

  /* Seek to 20 s of track 1. */
  size_t before_seek = reader_bytes(rd);
  assert_int_equal(player_seek(pl, 20000), 0);
  run_until_bytes(rd, before_seek + 2 * BYTES_PER_S);
  struct player_status st;
  player_status(pl, &st);
  assert_true(st.position_ms >= 20000 && st.position_ms < 30000);

  /* Next: track 2. */
  size_t before_next = reader_bytes(rd);
  assert_int_equal(player_next(pl), 0);
  run_until_bytes(rd, before_next + 2 * BYTES_PER_S);
  player_status(pl, &st);
  assert_int_equal(st.state, PLAYER_PLAYING);

  /* Volume 50 %: what is decoded from then on is 30 dB down (dB-linear over 60 dB). */
  size_t before_volume = reader_bytes(rd);
  player_set_volume(pl, 50);
  assert_int_equal(player_volume(pl), 50);
  run_until_bytes(rd, before_volume + 2 * BYTES_PER_S);
  assert_int_equal(player_stop(pl), 0);
  player_status(pl, &st);
  assert_int_equal(st.state, PLAYER_STOPPED);
  run_for_ms(300);
  reader_stop(rd);
  rig_down(f);

  /* What the device got: source[0, a) ++ source[20 s, ...) ++ source[37 s, ...). */
  const struct source *s = source(f, 0, "album/continuous");
  const uint8_t *pcm = s->pcm;
  size_t dl = s->len, n = rd->n;
  size_t a0 = common(rd->buf, n, 0, pcm, dl, 0);
  assert_true(a0 >= before_seek); /* the pause lost and repeated nothing */
  assert_true(a0 < before_seek + 64 * 1024 + BYTES_PER_S);
  size_t a1 = common(rd->buf, n, a0, pcm, dl, 20u * BYTES_PER_S);
  assert_true(a1 >= BYTES_PER_S); /* exactly at 20 s, and on from there */
  size_t a2 = common(rd->buf, n, a0 + a1, pcm, dl, 37u * BYTES_PER_S);
  assert_true(a2 >= BYTES_PER_S); /* track 2 from its first frame */
  /* Then the quieter part: the same signal about 30 dB down (a ratio of energies). */
  size_t q0 = a0 + a1 + a2, src0 = 37u * BYTES_PER_S + a2;
  assert_true(n > q0 + BYTES_PER_S);
  double e_got = 0, e_src = 0;
  for (size_t k = q0 + BYTES_PER_S / 2; k + 2 <= n && src0 + (k - q0) + 2 <= dl; k += 2) {
    double v = (int16_t)(rd->buf[k] | rd->buf[k + 1] << 8);
    double w = (int16_t)(pcm[src0 + (k - q0)] | pcm[src0 + (k - q0) + 1] << 8);
    e_got += v * v;
    e_src += w * w;
  }
  assert_true(e_src > 0);
  double ratio = e_got / e_src; /* -30 dB in power: 0.001 */
  print_message("volume 50 %%: energy ratio %.5f\n", ratio);
  assert_true(ratio > 0.0005 && ratio < 0.002);

  assert_collected("STARTED PAUSED RESUMED SEEKED STOPPED STARTED STOPPED ");
}

/* The queued track fails (its audio object is refused: 404) while the first one plays:
 * only that one is dropped. The first plays on to its last frame and the third follows
 * it gapless: the device gets t1 ++ t3, bit for bit. The output is read in real time
 * until the failure is seen (so that it lands mid-track, with everything of t1 fetched),
 * then as fast as it comes. */
static void test_queued_track_fails(void **state) {
  struct pfx *f = *state;
  struct reader *rd = &f->rd;
  add_fault("{\"path\": \"/api/audio/album-t2\", \"status\": 404}");
  rig_to(f, "skip", TO_READER, 300000); /* t1 whole at once: t2 is queued early */
  play_album(f);
  uint64_t end = clock_mono_usec() + WAIT_GUARD_USEC;
  while (fault_hits() <= 0) { /* until the mock refused t2 */
    assert_true(clock_mono_usec() < end);
    run_for_ms(50);
  }
  run_for_ms(200);
  struct player_status st;
  player_status(f->g.o.player, &st);
  assert_int_equal(st.state, PLAYER_PLAYING); /* t1 goes on */
  assert_true(reader_bytes(rd) < 20u * BYTES_PER_S);
  reader_fast(rd);
  play_to_end(f, 2, &st);
  rig_down(f); /* closes the FIFO: the reader sees its end */
  reader_join(rd);
  const struct source *t1 = source(f, 0, "album/t1"), *t3 = source(f, 1, "album/t3");
  assert_int_equal(rd->n, t1->len + t3->len);
  assert_memory_equal(rd->buf, t1->pcm, t1->len);
  assert_memory_equal(rd->buf + t1->len, t3->pcm, t3->len);
  /* t1 started, t2's error (at its own collector), t1 finished, t3 */
  assert_collected("STARTED ERROR FINISHED STARTED FINISHED ");
}

/* Repeat one set while t2 is already queued behind t1 (everything of t1 fetched at once):
 * t2 is dropped alone and t1 queued again, so the device gets t1 twice, gapless, and t1 was
 * not interrupted; repeat off then queues t2 again behind the repeated t1. */
static void test_repeat_one_requeues(void **state) {
  struct pfx *f = *state;
  struct reader *rd = &f->rd;
  rig_to(f, "rep1", TO_READER, 300000);
  play_album(f);
  struct player *pl = f->g.o.player;
  run_until_bytes(rd, BYTES_PER_S);
  char q[3 * PLAYER_TEXT_MAX + 8];
  uint64_t end = clock_mono_usec() + WAIT_GUARD_USEC;
  for (;;) { /* until t2 is queued behind t1 */
    struct player_queue_entry e[4];
    size_t n = player_queue(pl, e, 4);
    if (n >= 2 && strcmp(e[1].title, "Mix Part Two") == 0)
      break;
    assert_true(clock_mono_usec() < end);
    run_for_ms(50);
  }
  player_set_repeat(pl, PLAYER_REPEAT_ONE);
  struct player_queue_entry e[4];
  size_t n = player_queue(pl, e, 4);
  /* the one heard, its copy queued, t2 put back to come after it */
  assert_int_equal(n, 3);
  snprintf(q, sizeof(q), "%s|%s|%s", e[0].title, e[1].title, e[2].title);
  assert_string_equal(q, "Mix Part One|Mix Part One|Mix Part Two");
  reader_fast(rd);
  size_t t1 = 37u * BYTES_PER_S;
  run_until_bytes(rd, t1 + BYTES_PER_S); /* into the repeated t1 */
  player_set_repeat(pl, PLAYER_REPEAT_OFF);
  run_until_bytes(rd, 2 * t1 + 2 * BYTES_PER_S); /* into what follows it */
  assert_int_equal(player_stop(pl), 0);
  run_for_ms(200);
  rig_down(f);
  reader_join(rd);
  const uint8_t *pcm = source(f, 0, "album/continuous")->pcm;
  assert_true(rd->n >= 2 * t1 + 2 * BYTES_PER_S);
  assert_memory_equal(rd->buf, pcm, t1);      /* t1 whole, */
  assert_memory_equal(rd->buf + t1, pcm, t1); /* t1 again, gapless, */
  assert_memory_equal(rd->buf + 2 * t1, pcm + t1,
                      rd->n - 2 * t1 < BYTES_PER_S ? rd->n - 2 * t1 : BYTES_PER_S);
  /* then t2 (37 s into the continuous source) */
}

/* ---------------------------------------------------------------- one fetch-ahead target */

/* The CDN requests of the log since begin_test for REP, counted per audio object session
 * (the rid in /cdn/<rid>/...), in the order the sessions first appear. */
static size_t media_requests(size_t *per, size_t max) {
  static const char suffix[] = "/" REP ".mp4";
  cJSON *log = requests_since("/cdn/"), *e;
  char rids[8][64];
  size_t n = 0;
  cJSON_ArrayForEach(e, log) {
    const char *path = str(e, "path");
    size_t pl = strlen(path);
    if (pl < sizeof(suffix) || strcmp(path + pl - (sizeof(suffix) - 1), suffix) != 0)
      continue;
    const char *rid = path + strlen("/cdn/");
    size_t rl = strcspn(rid, "/");
    assert_true(rl < sizeof(rids[0]));
    size_t k = 0;
    while (k < n && (strlen(rids[k]) != rl || memcmp(rids[k], rid, rl) != 0))
      k++;
    if (k == n) {
      assert_true(n < max && n < 8);
      memcpy(rids[n], rid, rl);
      rids[n][rl] = '\0';
      per[n++] = 0;
    }
    per[k]++;
  }
  cJSON_Delete(log);
  return n;
}

/* The fetch-ahead target holds for the track playing and the one queued behind it
 * together. A target of 40 s lets the fetcher take all of track 1 (37 s, segments of 10 s),
 * which queues track 2; nothing is read from the device, so nothing of track 1 is
 * released (its first segment never finishes decoding) and track 2 may hold only the
 * 3 s left: its init and first segment (one request; a fetcher that holds nothing always
 * asks), not its three segments (24.5 s). Then the device is read to the end: the album,
 * gapless and bit-exact, as the queued track's share grows. */
static void test_one_target_for_two_tracks(void **state) {
  struct pfx *f = *state;
  struct reader *rd = &f->rd;
  rig_to(f, "target", TO_FIFO, 40000);
  play_album(f);

  /* Until track 2's first media request is in the log, then a while for any more. */
  size_t per[8] = {0};
  uint64_t end = clock_mono_usec() + WAIT_GUARD_USEC;
  while (media_requests(per, 8) < 2) {
    assert_true(clock_mono_usec() < end);
    run_for_ms(50);
  }
  run_for_ms(1500);
  size_t n = media_requests(per, 8);
  assert_int_equal(n, 2);
  assert_int_equal(per[0], 4); /* track 1: init + segment 0, then segments 1, 2, 3 */
  assert_int_equal(per[1], 1); /* track 2: init + segment 0 only */

  reader_go(rd, true);
  struct player_status st;
  play_to_end(f, 3, &st);
  assert_int_equal(st.error, 0);
  assert_int_equal(st.underruns, 0);
  rig_down(f); /* closes the device: the reader sees EOF */
  reader_join(rd);
  const struct source *s = source(f, 0, "album/continuous");
  assert_int_equal(rd->n, s->len);
  assert_memory_equal(rd->buf, s->pcm, s->len);
  n = media_requests(per, 8);
  assert_int_equal(n, 3);
  assert_int_equal(per[1], 3); /* track 2 came whole in the end, a segment at a time */
}

int main(int argc, char **argv) {
  if (!cloud_args(argc, argv, "player"))
    return 2;
  if (getenv("AMPD_LOG"))
    log_set_levels(getenv("AMPD_LOG"));
  const struct CMUnitTest tests[] = {
      PLAYER_TEST(test_album_gapless_bit_exact),
      PLAYER_TEST(test_speke_album_bit_exact),
      PLAYER_TEST(test_license_late),
      PLAYER_TEST(test_repeat_all),
      PLAYER_TEST(test_commands_in_real_time),
      PLAYER_TEST(test_queued_track_fails),
      PLAYER_TEST(test_repeat_one_requeues),
      PLAYER_TEST(test_one_target_for_two_tracks),
  };
  return cmocka_run_group_tests(tests, cloud_setup, cloud_teardown);
}
