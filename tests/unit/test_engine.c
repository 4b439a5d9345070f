/* SPDX-License-Identifier: Apache-2.0 */
/*
 * player/engine on real content: the test catalog (fixture "catalog") read from disk
 * through its MPDs (media/manifest) and byte ranges, encrypted parts decrypted by the real
 * ClearKey plugin with the catalog's keys, played through a test output backend that
 * records every frame written (position = frames written minus a fixed device delay, so
 * the end of a stream is heard only when the engine drains it).
 * usage: test_engine CATALOG_DIR [TEST_NAME_PATTERN]
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/loop.h"
#include "media/cdmhost.h"
#include "media/manifest.h"
#include "media/mp4.h"
#include "media/pipeline.h"
#include "player/engine.h"

static const char *catalog;

/* ---- the test output backend: a recording device ---- */

#define TDEV_MAX_OPENS 8

static struct tdev {
  pthread_mutex_t lock;
  uint64_t delay; /* frames held in the "device" before they count as heard */
  bool can_pause;
  char ops[256]; /* O open, D drain, X drop, C close, P pause, R resume */
  size_t n_ops;
  int opens;
  bool is_open, paused;
  int writes_while_paused;
  struct pcm_format fmt[TDEV_MAX_OPENS];
  int32_t *data[TDEV_MAX_OPENS]; /* every sample written (minus what a drop threw away) */
  size_t len[TDEV_MAX_OPENS], cap[TDEV_MAX_OPENS];
  uint64_t queued, heard; /* frames of the current open */
  uint64_t drop_heard;    /* heard at the last drop */
  uint64_t xruns;         /* underruns the test says the device had */
} dev = {.lock = PTHREAD_MUTEX_INITIALIZER};

static const struct output_ops tdev_ops;
static struct output tdev_handle = {.ops = &tdev_ops};

static void tdev_op(char c) {
  if (dev.n_ops < sizeof(dev.ops) - 1)
    dev.ops[dev.n_ops++] = c;
}

static void tdev_reset(uint64_t delay, bool can_pause) {
  pthread_mutex_lock(&dev.lock);
  for (int i = 0; i < TDEV_MAX_OPENS; i++)
    free(dev.data[i]);
  memset(dev.ops, 0, sizeof(dev.ops));
  dev.n_ops = 0;
  dev.opens = 0;
  dev.is_open = dev.paused = false;
  dev.writes_while_paused = 0;
  memset(dev.data, 0, sizeof(dev.data));
  memset(dev.len, 0, sizeof(dev.len));
  memset(dev.cap, 0, sizeof(dev.cap));
  dev.queued = dev.heard = dev.drop_heard = 0;
  dev.xruns = 0;
  dev.delay = delay;
  dev.can_pause = can_pause;
  pthread_mutex_unlock(&dev.lock);
}

static int tdev_open(const struct output_params *p, struct output **ret,
                     struct output_info *ret_info, char *errbuf, size_t errlen) {
  (void)errbuf;
  (void)errlen;
  pthread_mutex_lock(&dev.lock);
  if (dev.is_open || dev.opens == TDEV_MAX_OPENS) {
    pthread_mutex_unlock(&dev.lock);
    return -EBUSY;
  }
  dev.fmt[dev.opens++] = p->format;
  dev.is_open = true;
  dev.paused = false;
  dev.queued = dev.heard = 0;
  tdev_op('O');
  *ret_info = (struct output_info){.format = p->format,
                                   .sample_format = OUTPUT_FMT_S32,
                                   .exact = true,
                                   .buffer_frames = (uint32_t)dev.delay,
                                   .period_frames = p->format.rate / 100,
                                   .can_pause = dev.can_pause};
  pthread_mutex_unlock(&dev.lock);
  *ret = &tdev_handle;
  return 0;
}

static void tdev_close(struct output *o) {
  (void)o;
  pthread_mutex_lock(&dev.lock);
  dev.is_open = false;
  tdev_op('C');
  pthread_mutex_unlock(&dev.lock);
}

static int tdev_write(struct output *o, const int32_t *pcm, size_t frames) {
  (void)o;
  pthread_mutex_lock(&dev.lock);
  if (dev.paused) {
    dev.writes_while_paused++;
    pthread_mutex_unlock(&dev.lock);
    return -EBUSY;
  }
  int i = dev.opens - 1;
  size_t n = frames * dev.fmt[i].channels;
  if (dev.len[i] + n > dev.cap[i]) {
    size_t c = dev.cap[i] ? dev.cap[i] * 2 : 1u << 20;
    while (c < dev.len[i] + n)
      c *= 2;
    int32_t *d = realloc(dev.data[i], c * sizeof(*d));
    if (!d) {
      pthread_mutex_unlock(&dev.lock);
      return -ENOMEM;
    }
    dev.data[i] = d;
    dev.cap[i] = c;
  }
  memcpy(dev.data[i] + dev.len[i], pcm, n * sizeof(*pcm));
  dev.len[i] += n;
  dev.queued += frames;
  if (dev.queued > dev.delay) {
    dev.heard += dev.queued - dev.delay;
    dev.queued = dev.delay;
  }
  pthread_mutex_unlock(&dev.lock);
  return 0;
}

static int tdev_drain(struct output *o) {
  (void)o;
  pthread_mutex_lock(&dev.lock);
  dev.heard += dev.queued;
  dev.queued = 0;
  dev.paused = false;
  tdev_op('D');
  pthread_mutex_unlock(&dev.lock);
  return 0;
}

static int tdev_drop(struct output *o) {
  (void)o;
  pthread_mutex_lock(&dev.lock);
  int i = dev.opens - 1;
  dev.len[i] -= dev.queued * dev.fmt[i].channels; /* thrown away, never heard */
  dev.queued = 0;
  dev.paused = false;
  dev.drop_heard = dev.heard;
  tdev_op('X');
  pthread_mutex_unlock(&dev.lock);
  return 0;
}

static int tdev_pause(struct output *o, bool pause) {
  (void)o;
  pthread_mutex_lock(&dev.lock);
  int r = 0;
  if (!dev.can_pause) {
    r = -ENOTSUP;
  } else {
    dev.paused = pause;
    tdev_op(pause ? 'P' : 'R');
  }
  pthread_mutex_unlock(&dev.lock);
  return r;
}

static int tdev_delay(struct output *o, uint64_t *ret) {
  (void)o;
  pthread_mutex_lock(&dev.lock);
  *ret = dev.queued;
  pthread_mutex_unlock(&dev.lock);
  return 0;
}

static int tdev_position(struct output *o, uint64_t *ret) {
  (void)o;
  pthread_mutex_lock(&dev.lock);
  *ret = dev.heard;
  pthread_mutex_unlock(&dev.lock);
  return 0;
}

static uint64_t tdev_xruns(const struct output *o) {
  (void)o;
  pthread_mutex_lock(&dev.lock);
  uint64_t x = dev.xruns;
  pthread_mutex_unlock(&dev.lock);
  return x;
}

static const struct output_ops tdev_ops = {
    .version = OUTPUT_OPS_VERSION,
    .name = "test",
    .open = tdev_open,
    .close = tdev_close,
    .write = tdev_write,
    .drain = tdev_drain,
    .drop = tdev_drop,
    .pause = tdev_pause,
    .delay = tdev_delay,
    .position = tdev_position,
    .xruns = tdev_xruns,
};

/* ---- content from the catalog ---- */

struct wav {
  int32_t *s; /* interleaved samples */
  size_t frames;
  unsigned channels, bits, rate;
};

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint8_t *read_file(const char *path, size_t *ret_len) {
  FILE *fp = fopen(path, "rb");
  assert_non_null(fp);
  assert_int_equal(fseek(fp, 0, SEEK_END), 0);
  long n = ftell(fp);
  assert_true(n > 0);
  assert_int_equal(fseek(fp, 0, SEEK_SET), 0);
  uint8_t *d = malloc((size_t)n);
  assert_non_null(d);
  assert_int_equal(fread(d, 1, (size_t)n, fp), (size_t)n);
  fclose(fp);
  *ret_len = (size_t)n;
  return d;
}

static void load_wav(const char *rel, struct wav *w) {
  char path[1024];
  size_t len;
  snprintf(path, sizeof(path), "%s/%s", catalog, rel);
  uint8_t *d = read_file(path, &len);
  assert_true(len >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WAVE", 4) == 0);
  size_t off = 12;
  const uint8_t *data = NULL;
  size_t dlen = 0;
  while (off + 8 <= len) {
    uint32_t sz = le32(d + off + 4);
    assert_true(sz <= len - off - 8);
    if (memcmp(d + off, "fmt ", 4) == 0) {
      w->channels = d[off + 10] | d[off + 11] << 8;
      w->rate = le32(d + off + 12);
      w->bits = d[off + 22] | d[off + 23] << 8;
    } else if (memcmp(d + off, "data", 4) == 0) {
      data = d + off + 8;
      dlen = sz;
    }
    off += 8 + sz + (sz & 1);
  }
  assert_non_null(data);
  assert_true(w->bits == 16 || w->bits == 24);
  size_t bps = w->bits / 8, n = dlen / bps;
  w->s = malloc(n * sizeof(*w->s));
  assert_non_null(w->s);
  for (size_t i = 0; i < n; i++) {
    const uint8_t *p = data + i * bps;
    int32_t v =
        bps == 2
            ? (int16_t)(p[0] | p[1] << 8)
            : (int32_t)((uint32_t)p[0] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 24) >> 8;
    w->s[i] = v;
  }
  w->frames = n / w->channels;
  free(d);
}

struct seg {
  uint8_t *data;
  size_t len;
  uint64_t off;
};

struct track {
  uint32_t id;
  uint8_t *init;
  size_t init_len;
  struct seg segs[16];
  size_t n_segs;
  uint64_t declared_end;
  uint32_t timescale;
  int64_t start, end;
  uint32_t session;
  bool encrypted;
  /* feeding state (loop thread) */
  bool opened, closed;
  size_t next;
};

static void range(int fd, uint64_t first, uint64_t last, uint8_t **ret, size_t *ret_len) {
  size_t n = (size_t)(last - first + 1);
  uint8_t *d = malloc(n);
  assert_non_null(d);
  assert_int_equal(pread(fd, d, n, (off_t)first), (ssize_t)n);
  *ret = d;
  *ret_len = n;
}

/* dir's manifest.mpd, Representation rep: its init and segments by their byte ranges. */
static void load_track(const char *dir, const char *rep_id, uint32_t id, size_t max_segs,
                       struct track *t) {
  char path[1024], err[256] = "";
  size_t len;
  struct manifest *m = NULL;
  memset(t, 0, sizeof(*t));
  snprintf(path, sizeof(path), "%s/%s/manifest.mpd", catalog, dir);
  uint8_t *xml = read_file(path, &len);
  assert_int_equal(manifest_parse(xml, len, path, &m, err, sizeof(err)), 0);
  free(xml);
  const struct manifest_rep *rep = manifest_find_rep(m, rep_id);
  assert_non_null(rep);
  assert_true(rep->url_is_path && rep->has_init && rep->n_segments > 0);
  assert_true(rep->n_segments <= 16);
  int fd = open(rep->url, O_RDONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  range(fd, rep->init.first, rep->init.last, &t->init, &t->init_len);
  t->n_segs = rep->n_segments < max_segs ? rep->n_segments : max_segs;
  for (size_t i = 0; i < t->n_segs; i++) {
    range(fd, rep->segments[i].first, rep->segments[i].last, &t->segs[i].data, &t->segs[i].len);
    t->segs[i].off = rep->segments[i].first;
  }
  close(fd);
  const struct manifest_segment *last = &rep->segments[rep->n_segments - 1];
  t->declared_end = last->start + last->duration;
  t->timescale = rep->timescale;
  t->encrypted = rep->protection.cenc;
  t->id = id;
  t->start = 0;
  t->end = INT64_MAX;
  manifest_free(m);
}

static void free_track(struct track *t) {
  free(t->init);
  for (size_t i = 0; i < t->n_segs; i++)
    free(t->segs[i].data);
}

/* A session of the real ClearKey plugin holding the key of dir/keys.json (or key_hex). */
static void add_key(struct cdmhost *h, struct track *t, const char *dir, const char *key_hex) {
  char path[1024], spec[80];
  size_t n;
  snprintf(path, sizeof(path), "%s/%s/keys.json", catalog, dir);
  char *text = (char *)read_file(path, &n);
  char *z = realloc(text, n + 1);
  assert_non_null(z);
  z[n] = 0;
  const char *kid = strstr(z, "\"kid\":\"");
  const char *key = strstr(z, "\"key\":\"");
  assert_non_null(kid);
  assert_non_null(key);
  snprintf(spec, sizeof(spec), "%.32s:%.32s", kid + 7, key_hex ? key_hex : key + 7);
  free(z);
  struct cdmhost_key k;
  assert_int_equal(cdmhost_key_parse(spec, &k), 0);
  uint8_t *data = NULL, *challenge = NULL;
  size_t dlen = 0, clen = 0, llen = 0;
  char *license = NULL;
  assert_int_equal(cdmhost_session_open(h, &t->session), 0);
  assert_int_equal(cdmhost_keyids_init_data((const uint8_t(*)[16]) & k.kid, 1, &data, &dlen), 0);
  assert_int_equal(
      cdmhost_generate_request(h, t->session, AMPD_CDM_INIT_KEYIDS, data, dlen, &challenge, &clen),
      0);
  free(data);
  free(challenge);
  assert_int_equal(cdmhost_clearkey_license(&k, 1, 0, &license, &llen), 0);
  assert_int_equal(cdmhost_update(h, t->session, (const uint8_t *)license, llen), 0);
  free(license);
}

/* ---- the harness: a loop, an engine, a feeder on the loop thread, the events ---- */

#define MAX_EVENTS 1024

struct harness {
  struct loop *loop;
  struct engine *e;
  struct cdmhost *cdm;
  struct track *tracks;
  size_t n_tracks;
  size_t feeding; /* the track being handed in */
  bool feed_paused;
  struct engine_event ev[MAX_EVENTS];
  size_t n_ev;
  int position_checks;
  int position_bad;
};

/* Hand in as much as the engine takes, in order; an -EAGAIN waits for the next event. */
static void feed(struct harness *h) {
  while (!h->feed_paused && h->feeding < h->n_tracks) {
    struct track *t = &h->tracks[h->feeding];
    int r;
    if (!t->opened) {
      r = engine_track_open(h->e, t->id, t->init, t->init_len, t->encrypted ? h->cdm : NULL,
                            t->session, t->start, t->end);
      if (r == -EAGAIN)
        return;
      assert_int_equal(r, 0);
      t->opened = true;
    } else if (t->next < t->n_segs) {
      struct seg *s = &t->segs[t->next];
      r = engine_track_segment(h->e, t->id, (uint32_t)t->next, s->data, s->len, s->off);
      if (r == -EAGAIN)
        return;
      assert_int_equal(r, 0);
      t->next++;
    } else {
      r = engine_track_close(h->e, t->id, t->declared_end, t->timescale);
      if (r == -EAGAIN)
        return;
      assert_int_equal(r, 0);
      t->closed = true;
      h->feeding++;
    }
  }
}

static void on_event(void *userdata, const struct engine_event *ev) {
  struct harness *h = userdata;
  if (h->n_ev < MAX_EVENTS)
    h->ev[h->n_ev++] = *ev;
  if (ev->type == ENGINE_TRACK_STARTED) {
    /* the clock names a track that started, at the content's format */
    uint32_t track;
    uint64_t frames;
    struct pcm_format f;
    h->position_checks++;
    if (engine_position(h->e, &track, &frames, &f) != 0 || track < ev->track || f.rate == 0)
      h->position_bad++;
  }
  feed(h);
}

static void harness_start(struct harness *h, struct track *tracks, size_t n, uint32_t ring_ms,
                          size_t queue_max) {
  memset(h, 0, sizeof(*h));
  h->tracks = tracks;
  h->n_tracks = n;
  assert_int_equal(loop_new(&h->loop), 0);
  struct engine_config cfg = {.loop = h->loop,
                              .ops = &tdev_ops,
                              .ring_ms = ring_ms,
                              .queue_max_bytes = queue_max,
                              .on_event = on_event,
                              .userdata = h};
  assert_int_equal(engine_new(&cfg, &h->e), 0);
}

static void harness_cdm(struct harness *h) {
  struct cdmhost_options opt = {.plugin_dir = ENGINETEST_CLEARKEY_DIR};
  assert_int_equal(cdmhost_open("clearkey", &opt, &h->cdm), 0);
}

static void harness_free(struct harness *h) {
  engine_free(h->e);
  loop_run_once(h->loop, 0); /* a delivery still waiting frees its mailbox */
  loop_free(h->loop);
  cdmhost_free(h->cdm);
}

static size_t count(const struct harness *h, enum engine_event_type type, uint32_t track) {
  size_t n = 0;
  for (size_t i = 0; i < h->n_ev; i++)
    n += h->ev[i].type == type && h->ev[i].track == track;
  return n;
}

/* Run the loop until cond holds. The bound turns a hang into a failure; ctest's timeout
 * would too, later. */
static void run_until(struct harness *h, bool (*cond)(struct harness *, void *), void *arg) {
  for (int pass = 0; pass < 1000 && !cond(h, arg); pass++)
    assert_true(loop_run_once(h->loop, 50) >= 0);
  assert_true(cond(h, arg));
}

static bool ended(struct harness *h, void *arg) {
  return count(h, ENGINE_TRACK_ENDED, *(uint32_t *)arg) > 0;
}

static bool heard_at_least(struct harness *h, void *arg) {
  uint32_t track;
  uint64_t frames;
  (void)h;
  return engine_position(h->e, &track, &frames, NULL) == 0 && frames >= *(uint64_t *)arg;
}

static bool dev_paused(struct harness *h, void *arg) {
  (void)h;
  (void)arg;
  pthread_mutex_lock(&dev.lock);
  bool p = dev.paused;
  pthread_mutex_unlock(&dev.lock);
  return p;
}

static bool dev_dropped(struct harness *h, void *arg) {
  (void)h;
  (void)arg;
  pthread_mutex_lock(&dev.lock);
  bool x = strchr(dev.ops, 'X') != NULL;
  pthread_mutex_unlock(&dev.lock);
  return x;
}

/* Compare n frames of the recording of open i from frame at with src from frame from. */
static void assert_pcm(int i, size_t at, const struct wav *src, size_t from, size_t n) {
  size_t ch = src->channels;
  assert_true(dev.len[i] >= (at + n) * ch);
  assert_true(src->frames >= from + n);
  assert_memory_equal(dev.data[i] + at * ch, src->s + from * ch, n * ch * sizeof(int32_t));
}

/* The track events in order, and each track's SEGMENT_DONEs in order before its ENDED. */
static void assert_track_order(const struct harness *h) {
  size_t k = 0;
  for (size_t i = 0; i < h->n_ev; i++) {
    const struct engine_event *ev = &h->ev[i];
    if (ev->type != ENGINE_TRACK_STARTED && ev->type != ENGINE_TRACK_ENDED)
      continue;
    assert_true(k / 2 < h->n_tracks);
    assert_int_equal(ev->track, h->tracks[k / 2].id);
    assert_int_equal(ev->type, k % 2 ? ENGINE_TRACK_ENDED : ENGINE_TRACK_STARTED);
    k++;
  }
  assert_int_equal(k, 2 * h->n_tracks);
  for (size_t t = 0; t < h->n_tracks; t++) {
    uint32_t next = 0;
    bool end = false;
    for (size_t i = 0; i < h->n_ev; i++) {
      const struct engine_event *ev = &h->ev[i];
      if (ev->track != h->tracks[t].id)
        continue;
      if (ev->type == ENGINE_SEGMENT_DONE) {
        assert_false(end);
        assert_int_equal(ev->segment, next++);
      }
      end |= ev->type == ENGINE_TRACK_ENDED;
    }
    assert_int_equal(next, h->tracks[t].n_segs);
  }
}

/* ---- tests ---- */

/* The album's three parts queued back to back (t1 and t3 encrypted with different keys,
 * t2 clear) play as one stream, bit for bit the continuous source: no gap, no overlap, one
 * device open, no drain until the end. */
static void gapless_album(uint32_t ring_ms) {
  struct harness h;
  struct track t[3];
  struct wav src;
  load_track("album/t1/v1", "flac_16_44", 1, 16, &t[0]);
  load_track("album/t2/clear", "flac_16_44", 2, 16, &t[1]);
  load_track("album/t3/v2", "flac_16_44", 3, 16, &t[2]);
  assert_true(t[0].encrypted && !t[1].encrypted && t[2].encrypted);
  load_wav("album/continuous/source/flac_16_44.wav", &src);
  assert_int_equal(src.frames, 80u * 44100);
  tdev_reset(4410, true);
  harness_start(&h, t, 3, ring_ms, 0);
  harness_cdm(&h);
  add_key(h.cdm, &t[0], "album/t1/v1", NULL);
  add_key(h.cdm, &t[2], "album/t3/v2", NULL);
  feed(&h);
  uint32_t last = 3;
  run_until(&h, ended, &last);
  assert_int_equal(engine_position(h.e, NULL, NULL, NULL), -ENOENT);
  harness_free(&h);

  assert_int_equal(dev.opens, 1);
  assert_int_equal(dev.fmt[0].rate, 44100);
  assert_int_equal(dev.fmt[0].channels, 2);
  assert_int_equal(dev.fmt[0].bits, 16);
  assert_string_equal(dev.ops, "ODC");
  assert_int_equal(dev.len[0], src.frames * 2);
  assert_pcm(0, 0, &src, 0, src.frames);
  assert_int_equal(
      count(&h, ENGINE_ERROR, 1) + count(&h, ENGINE_ERROR, 2) + count(&h, ENGINE_ERROR, 3), 0);
  assert_track_order(&h);
  assert_int_equal(h.position_checks, 3);
  assert_int_equal(h.position_bad, 0);
  for (int i = 0; i < 3; i++)
    free_track(&t[i]);
  free(src.s);
}

static void test_gapless_album(void **state) {
  (void)state;
  gapless_album(0);
}

/* The same through a ring of 20 ms: it wraps thousands of times and both threads wait on
 * each other all the way. */
static void test_gapless_small_ring(void **state) {
  (void)state;
  gapless_album(20);
}

static bool fed_all(struct harness *h, void *arg) {
  (void)arg;
  return h->feeding == h->n_tracks;
}

/* Pause holds the device in place (nothing written while paused); after resuming, the
 * recording is the source without a frame lost or repeated. */
static void test_pause_resume(void **state) {
  (void)state;
  struct harness h;
  struct track t;
  struct wav src;
  load_track("mid45/clear", "flac_16_44", 7, 1, &t);
  t.end = 6 * 44100;
  load_wav("mid45/source/flac_16_44.wav", &src);
  tdev_reset(4410, true);
  harness_start(&h, &t, 1, 200, 0);
  feed(&h);
  uint64_t one_s = 44100;
  run_until(&h, heard_at_least, &one_s);
  assert_int_equal(engine_pause(h.e, true), 0);
  run_until(&h, dev_paused, NULL);
  run_until(&h, fed_all, NULL);
  pthread_mutex_lock(&dev.lock);
  size_t len = dev.len[0];
  pthread_mutex_unlock(&dev.lock);
  uint64_t before, after;
  assert_int_equal(engine_position(h.e, NULL, &before, NULL), 0);
  for (int i = 0; i < 5; i++)
    loop_run_once(h.loop, 20);
  pthread_mutex_lock(&dev.lock);
  assert_int_equal(dev.len[0], len);
  assert_int_equal(dev.writes_while_paused, 0);
  pthread_mutex_unlock(&dev.lock);
  assert_int_equal(engine_position(h.e, NULL, &after, NULL), 0);
  assert_int_equal(after, before);
  assert_int_equal(engine_pause(h.e, false), 0);
  uint32_t id = 7;
  run_until(&h, ended, &id);
  harness_free(&h);
  assert_string_equal(dev.ops, "OPRDC");
  assert_int_equal(dev.len[0], 6 * 44100 * 2);
  assert_pcm(0, 0, &src, 0, 6 * 44100);
  assert_track_order(&h);
  free_track(&t);
  free(src.s);
}

/* A device that cannot pause is no longer fed while paused; after resuming, nothing is
 * lost or repeated either. */
static void test_pause_unsupported(void **state) {
  (void)state;
  struct harness h;
  struct track t;
  struct wav src;
  load_track("mid45/clear", "flac_16_44", 7, 1, &t);
  t.end = 4 * 44100;
  load_wav("mid45/source/flac_16_44.wav", &src);
  tdev_reset(4410, false);
  harness_start(&h, &t, 1, 200, 0);
  feed(&h);
  uint64_t one_s = 44100;
  run_until(&h, heard_at_least, &one_s);
  assert_int_equal(engine_pause(h.e, true), 0);
  for (int i = 0; i < 5; i++)
    loop_run_once(h.loop, 20);
  assert_int_equal(engine_pause(h.e, false), 0);
  uint32_t id = 7;
  run_until(&h, ended, &id);
  harness_free(&h);
  assert_string_equal(dev.ops, "ODC");
  assert_int_equal(dev.len[0], 4 * 44100 * 2);
  assert_pcm(0, 0, &src, 0, 4 * 44100);
  assert_track_order(&h);
  free_track(&t);
  free(src.s);
}

static bool underrun_seen(struct harness *h, void *arg) {
  (void)arg;
  return count(h, ENGINE_UNDERRUN, 0) > 0;
}

/* Underruns the device reports reach the loop as one UNDERRUN event with their count and
 * in engine_underruns(). */
static void test_underrun(void **state) {
  (void)state;
  struct harness h;
  struct track t;
  load_track("mid45/clear", "flac_16_44", 7, 1, &t);
  t.end = 3 * 44100;
  tdev_reset(4410, true);
  harness_start(&h, &t, 1, 0, 0);
  assert_int_equal(engine_underruns(h.e), 0);
  pthread_mutex_lock(&dev.lock);
  dev.xruns = 3;
  pthread_mutex_unlock(&dev.lock);
  feed(&h);
  run_until(&h, underrun_seen, NULL);
  uint32_t id = 7;
  run_until(&h, ended, &id);
  assert_int_equal(engine_underruns(h.e), 3);
  harness_free(&h);
  int n = 0;
  for (size_t i = 0; i < h.n_ev; i++)
    if (h.ev[i].type == ENGINE_UNDERRUN)
      n += h.ev[i].err;
  assert_int_equal(n, 3);
  free_track(&t);
}

/* A stop drops the device at once: the frames it held are never heard, nothing of the
 * stopped track is written after it, no event of it arrives; the next track plays on the
 * same open device, whole. */
static void test_stop(void **state) {
  (void)state;
  struct harness h;
  struct track t[2];
  struct wav s1, s2;
  load_track("album/t1/clear", "flac_16_44", 1, 16, &t[0]);
  load_track("short12/clear", "flac_16_44", 2, 16, &t[1]);
  load_wav("album/t1/source/flac_16_44.wav", &s1);
  load_wav("short12/source/flac_16_44.wav", &s2);
  tdev_reset(4410, true);
  harness_start(&h, t, 1, 0, 0);
  feed(&h);
  uint64_t two_s = 2 * 44100;
  run_until(&h, heard_at_least, &two_s);
  size_t stop_at = h.n_ev;
  assert_int_equal(engine_stop(h.e), 0);
  run_until(&h, dev_dropped, NULL);
  pthread_mutex_lock(&dev.lock);
  size_t dropped_len = dev.len[0];
  uint64_t heard = dev.drop_heard;
  pthread_mutex_unlock(&dev.lock);
  assert_int_equal(dropped_len, heard * 2); /* what the device held was thrown away */
  assert_true(heard >= two_s && heard < s1.frames);
  /* the next track, on a fresh feed */
  h.tracks = &t[1];
  h.feeding = 0;
  feed(&h);
  uint32_t id = 2;
  run_until(&h, ended, &id);
  harness_free(&h);
  assert_int_equal(dev.opens, 1);
  assert_string_equal(dev.ops, "OXDC");
  assert_int_equal(dev.len[0], (heard + s2.frames) * 2);
  assert_pcm(0, 0, &s1, 0, heard);
  assert_pcm(0, heard, &s2, 0, s2.frames);
  for (size_t i = stop_at; i < h.n_ev; i++)
    assert_int_not_equal(h.ev[i].track, 1);
  assert_int_equal(count(&h, ENGINE_TRACK_ENDED, 1), 0);
  assert_int_equal(count(&h, ENGINE_TRACK_STARTED, 2), 1);
  for (int i = 0; i < 2; i++)
    free_track(&t[i]);
  free(s1.s);
  free(s2.s);
}

/* 44.1 kHz/16 then 96 kHz/24: at the boundary the device is drained, closed and reopened
 * at the new format; each open gets exactly its track. */
static void test_format_change(void **state) {
  (void)state;
  struct harness h;
  struct track t[2];
  struct wav s1, s2;
  load_track("mid45/clear", "flac_16_44", 1, 1, &t[0]);
  load_track("mid45/clear", "flac_24_96", 2, 1, &t[1]);
  t[0].end = 3 * 44100;
  t[1].end = 2 * 96000;
  load_wav("mid45/source/flac_16_44.wav", &s1);
  load_wav("mid45/source/flac_24_96.wav", &s2);
  tdev_reset(4410, true);
  harness_start(&h, t, 2, 0, 0);
  feed(&h);
  uint32_t id = 2;
  run_until(&h, ended, &id);
  harness_free(&h);
  assert_int_equal(dev.opens, 2);
  assert_string_equal(dev.ops, "ODCODC");
  assert_int_equal(dev.fmt[1].rate, 96000);
  assert_int_equal(dev.fmt[1].bits, 24);
  assert_int_equal(dev.len[0], 3 * 44100 * 2);
  assert_int_equal(dev.len[1], 2 * 96000 * 2);
  assert_pcm(0, 0, &s1, 0, 3 * 44100);
  assert_pcm(1, 0, &s2, 0, 2 * 96000);
  assert_track_order(&h);
  for (int i = 0; i < 2; i++)
    free_track(&t[i]);
  free(s1.s);
  free(s2.s);
}

/* An ABR switch within a track (engine_track_init) from 44.1 kHz/16 to 96 kHz/24 after
 * the first segment: the device reopens there, the second pipeline starts where the
 * first one reached (in the new rate), and the track starts and ends once. */
static void test_init_switch(void **state) {
  (void)state;
  struct harness h;
  struct track a, b;
  struct wav s1, s2;
  load_track("mid45/clear", "flac_16_44", 1, 1, &a);
  load_track("mid45/clear", "flac_24_96", 1, 2, &b);
  load_wav("mid45/source/flac_16_44.wav", &s1);
  load_wav("mid45/source/flac_24_96.wav", &s2);
  struct mp4_init *init = NULL;
  struct mp4_segment *seg = NULL;
  struct mp4_sample sm;
  assert_int_equal(mp4_init_parse(a.init, a.init_len, &init), 0);
  assert_int_equal(mp4_segment_parse(init, a.segs[0].data, a.segs[0].len, a.segs[0].off, &seg), 0);
  size_t n = mp4_segment_sample_count(seg);
  assert_int_equal(mp4_segment_sample(seg, n - 1, &sm), 0);
  uint64_t reached = (uint64_t)sm.pts + sm.duration; /* 44.1 kHz frames of segment 0 */
  mp4_segment_free(seg);
  mp4_init_free(init);
  uint64_t from96 = reached * 96000 / 44100, end96 = 15u * 96000;
  tdev_reset(4410, true);
  harness_start(&h, NULL, 0, 0, 0);
  assert_int_equal(engine_track_open(h.e, 1, a.init, a.init_len, NULL, 0, 0, 15 * 44100), 0);
  assert_int_equal(engine_track_segment(h.e, 1, 0, a.segs[0].data, a.segs[0].len, a.segs[0].off),
                   0);
  assert_int_equal(engine_track_init(h.e, 2, b.init, b.init_len), -ENOENT);
  assert_int_equal(engine_track_init(h.e, 1, b.init, b.init_len), 0);
  assert_int_equal(engine_track_segment(h.e, 1, 1, b.segs[1].data, b.segs[1].len, b.segs[1].off),
                   0);
  assert_int_equal(engine_track_close(h.e, 1, 0, 0), 0);
  uint32_t id = 1;
  run_until(&h, ended, &id);
  harness_free(&h);
  assert_string_equal(dev.ops, "ODCODC");
  assert_int_equal(dev.fmt[1].rate, 96000);
  assert_int_equal(dev.len[0], reached * 2);
  assert_pcm(0, 0, &s1, 0, reached);
  assert_int_equal(dev.len[1], (end96 - from96) * 2);
  assert_pcm(1, 0, &s2, from96, end96 - from96);
  assert_int_equal(count(&h, ENGINE_TRACK_STARTED, 1), 1);
  assert_int_equal(count(&h, ENGINE_TRACK_ENDED, 1), 1);
  assert_int_equal(count(&h, ENGINE_ERROR, 1), 0);
  free_track(&a);
  free_track(&b);
  free(s1.s);
  free(s2.s);
}

/* Frames of a FLAC track (media timescale = rate, no edit list) before its first
 * encrypted sample, from the demuxer's sample table. */
static size_t clear_lead_frames(const struct track *t) {
  struct mp4_init *init = NULL;
  size_t frames = 0;
  assert_int_equal(mp4_init_parse(t->init, t->init_len, &init), 0);
  for (size_t i = 0; i < t->n_segs; i++) {
    struct mp4_segment *seg = NULL;
    struct mp4_sample sm;
    assert_int_equal(mp4_segment_parse(init, t->segs[i].data, t->segs[i].len, t->segs[i].off, &seg),
                     0);
    for (size_t k = 0; k < mp4_segment_sample_count(seg); k++) {
      assert_int_equal(mp4_segment_sample(seg, k, &sm), 0);
      if (sm.encrypted) {
        mp4_segment_free(seg);
        mp4_init_free(init);
        return frames;
      }
      frames += sm.duration;
    }
    mp4_segment_free(seg);
  }
  mp4_init_free(init);
  return frames;
}

/* A wrong key: ENGINE_ERROR -AMP_EDECRYPT for that track (its clear lead was played,
 * then it ends), every segment still gets its SEGMENT_DONE, and the next track plays. */
static void test_wrong_key(void **state) {
  (void)state;
  struct harness h;
  struct track t[2];
  struct wav s1, s2;
  load_track("album/t1/v1", "flac_16_44", 1, 16, &t[0]);
  load_track("album/t2/clear", "flac_16_44", 2, 1, &t[1]);
  t[1].end = 2 * 44100;
  load_wav("album/t1/source/flac_16_44.wav", &s1);
  load_wav("album/t2/source/flac_16_44.wav", &s2);
  tdev_reset(4410, true);
  harness_start(&h, t, 2, 0, 0);
  harness_cdm(&h);
  add_key(h.cdm, &t[0], "album/t1/v1", "000102030405060708090a0b0c0d0e0f");
  feed(&h);
  uint32_t id = 2;
  run_until(&h, ended, &id);
  harness_free(&h);
  assert_int_equal(count(&h, ENGINE_ERROR, 1), 1);
  for (size_t i = 0; i < h.n_ev; i++)
    if (h.ev[i].type == ENGINE_ERROR)
      assert_int_equal(h.ev[i].err, -AMP_EDECRYPT);
  assert_int_equal(count(&h, ENGINE_ERROR, 2), 0);
  assert_track_order(&h);
  /* the clear lead (segments 0-2, 30 s rounded up to FLAC's 4096-frame samples), then
   * track 2 right after */
  size_t lead = clear_lead_frames(&t[0]);
  assert_true(lead >= 30 * 44100 && lead < 30 * 44100 + 4096);
  assert_int_equal(dev.len[0], (lead + 2 * 44100) * 2);
  assert_pcm(0, 0, &s1, 0, lead);
  assert_pcm(0, lead, &s2, 0, 2 * 44100);
  for (int i = 0; i < 2; i++)
    free_track(&t[i]);
  free(s1.s);
  free(s2.s);
}

/* The bounds of the loop side: bytes, tracks, and the command order. */
static void test_bounds(void **state) {
  (void)state;
  struct harness h;
  struct track t;
  load_track("album/t1/clear", "flac_16_44", 1, 2, &t);
  assert_true(t.segs[0].len > 500000 && t.segs[1].len > 500000);
  tdev_reset(4410, true);
  size_t max = (t.segs[0].len > t.segs[1].len ? t.segs[0].len : t.segs[1].len) + 1000;
  harness_start(&h, &t, 0, 0, max);
  struct engine *e = h.e;
  assert_int_equal(engine_track_segment(e, 1, 0, t.segs[0].data, t.segs[0].len, t.segs[0].off),
                   -ENOENT);
  assert_int_equal(engine_track_open(e, 1, t.init, t.init_len, NULL, 0, 0, INT64_MAX), 0);
  assert_int_equal(engine_track_open(e, 2, t.init, t.init_len, NULL, 0, 0, INT64_MAX), -EBUSY);
  assert_int_equal(engine_track_segment(e, 2, 0, t.segs[0].data, t.segs[0].len, t.segs[0].off),
                   -ENOENT);
  uint8_t *big = calloc(1, max + 1);
  assert_non_null(big);
  assert_int_equal(engine_track_segment(e, 1, 0, big, max + 1, 0), -AMP_ETOOBIG);
  free(big);
  assert_int_equal(engine_track_segment(e, 1, 0, t.segs[0].data, t.segs[0].len, t.segs[0].off), 0);
  /* the second segment waits until the first is released (its SEGMENT_DONE delivered) */
  assert_int_equal(engine_track_segment(e, 1, 1, t.segs[1].data, t.segs[1].len, t.segs[1].off),
                   -EAGAIN);
  assert_int_equal(engine_track_close(e, 1, 0, 0), 0);
  /* ENGINE_MAX_TRACKS tracks open at once (without segments: each fails -AMP_ESHORT and
   * still starts and ends at its place) */
  for (uint32_t i = 2; i <= ENGINE_MAX_TRACKS; i++) {
    assert_int_equal(engine_track_open(e, i, t.init, t.init_len, NULL, 0, 0, INT64_MAX), 0);
    assert_int_equal(engine_track_close(e, i, 0, 0), 0);
  }
  assert_int_equal(engine_track_open(e, 99, t.init, t.init_len, NULL, 0, 0, INT64_MAX), -EAGAIN);
  uint32_t id = ENGINE_MAX_TRACKS;
  run_until(&h, ended, &id);
  assert_int_equal(count(&h, ENGINE_SEGMENT_DONE, 1), 1);
  for (uint32_t i = 2; i <= ENGINE_MAX_TRACKS; i++) {
    assert_int_equal(count(&h, ENGINE_ERROR, i), 1);
    assert_int_equal(count(&h, ENGINE_TRACK_STARTED, i), 1);
    assert_int_equal(count(&h, ENGINE_TRACK_ENDED, i), 1);
  }
  assert_int_equal(engine_track_open(e, 99, t.init, t.init_len, NULL, 0, 0, INT64_MAX), 0);
  assert_int_equal(engine_track_open(NULL, 1, t.init, t.init_len, NULL, 0, 0, 1), -EINVAL);
  harness_free(&h);
  free_track(&t);
}

int main(int argc, char **argv) {
  if (argc != 2 && argc != 3) {
    fprintf(stderr, "usage: test_engine CATALOG_DIR [TEST_NAME_PATTERN]\n");
    return 2;
  }
  catalog = argv[1];
  if (argc == 3)
    cmocka_set_test_filter(argv[2]);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gapless_album), cmocka_unit_test(test_gapless_small_ring),
      cmocka_unit_test(test_pause_resume),  cmocka_unit_test(test_pause_unsupported),
      cmocka_unit_test(test_underrun),      cmocka_unit_test(test_stop),
      cmocka_unit_test(test_format_change), cmocka_unit_test(test_init_switch),
      cmocka_unit_test(test_wrong_key),     cmocka_unit_test(test_bounds),
  };
  int r = cmocka_run_group_tests(tests, NULL, NULL);
  tdev_reset(0, false);
  return r;
}
