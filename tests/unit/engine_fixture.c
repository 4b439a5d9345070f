/* SPDX-License-Identifier: Apache-2.0 */
/* The player/engine test fixture (engine_fixture.h). */
#include "engine_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/loop.h"
#include "media/manifest.h"

const char *catalog;

/* ---- the test output backend: a recording device ---- */

struct tdev dev = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static const struct output_ops tdev_ops;
static struct output tdev_handle = {.ops = &tdev_ops};

static void tdev_op(char c) {
  if (dev.n_ops < sizeof(dev.ops) - 1)
    dev.ops[dev.n_ops++] = c;
}

void tdev_reset(uint64_t delay, bool can_pause) {
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
  dev.hold_at = 0;
  dev.open_calls = dev.fail_opens = 0;
  dev.has_mixer = false;
  dev.mixer_cdb = 0;
  dev.mixer_sets = 0;
  dev.delay = delay;
  dev.can_pause = can_pause;
  pthread_mutex_unlock(&dev.lock);
}

static int tdev_open(const struct output_params *p, struct output **ret,
                     struct output_info *ret_info, char *errbuf, size_t errlen) {
  (void)errbuf;
  (void)errlen;
  pthread_mutex_lock(&dev.lock);
  dev.open_calls++;
  if (dev.is_open || dev.opens == TDEV_MAX_OPENS || dev.fail_opens > 0) {
    if (dev.fail_opens > 0)
      dev.fail_opens--;
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
                                   .can_pause = dev.can_pause,
                                   .has_mixer = dev.has_mixer};
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
  while (dev.hold_at && (dev.len[i] + n) / dev.fmt[i].channels > dev.hold_at)
    pthread_cond_wait(&dev.cond, &dev.lock);
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

void tdev_hold(uint64_t frames) {
  pthread_mutex_lock(&dev.lock);
  dev.hold_at = frames;
  pthread_mutex_unlock(&dev.lock);
}

void tdev_release(void) {
  pthread_mutex_lock(&dev.lock);
  dev.hold_at = 0;
  pthread_cond_broadcast(&dev.cond);
  pthread_mutex_unlock(&dev.lock);
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

/* A mixer of 1/100 dB from -4000 (-40 dB) to 0, percent linear in dB over it. */
static int tdev_volume_set_db(struct output *o, long cdb) {
  (void)o;
  pthread_mutex_lock(&dev.lock);
  dev.mixer_cdb = cdb < -4000 ? -4000 : cdb > 0 ? 0 : cdb;
  dev.mixer_sets++;
  pthread_mutex_unlock(&dev.lock);
  return 0;
}

static int tdev_volume_get_db(struct output *o, long *ret) {
  (void)o;
  pthread_mutex_lock(&dev.lock);
  *ret = dev.mixer_cdb;
  pthread_mutex_unlock(&dev.lock);
  return 0;
}

static int tdev_volume_set(struct output *o, unsigned percent) {
  return tdev_volume_set_db(o, ((long)percent - 100) * 40);
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
    .volume_set = tdev_volume_set,
    .volume_set_db = tdev_volume_set_db,
    .volume_get_db = tdev_volume_get_db,
};

/* ---- content from the catalog ---- */

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint8_t *read_file(const char *path, size_t *ret_len) {
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

void load_wav(const char *rel, struct wav *w) {
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

static void range(int fd, uint64_t first, uint64_t last, uint8_t **ret, size_t *ret_len) {
  size_t n = (size_t)(last - first + 1);
  uint8_t *d = malloc(n);
  assert_non_null(d);
  assert_int_equal(pread(fd, d, n, (off_t)first), (ssize_t)n);
  *ret = d;
  *ret_len = n;
}

/* dir's manifest.mpd, Representation rep: its init and segments by their byte ranges. */
void load_track(const char *dir, const char *rep_id, uint32_t id, size_t max_segs,
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

void free_track(struct track *t) {
  free(t->init);
  for (size_t i = 0; i < t->n_segs; i++)
    free(t->segs[i].data);
}

/* A session of the real ClearKey plugin holding the key of dir/keys.json (or key_hex). */
void add_key(struct cdmhost *h, struct track *t, const char *dir, const char *key_hex) {
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

/* Hand in as much as the engine takes, in order; an -EAGAIN waits for the next event. */
void feed(struct harness *h) {
  while (!h->feed_paused && h->feeding < h->n_tracks) {
    struct track *t = &h->tracks[h->feeding];
    int r;
    if (!t->opened) {
      struct engine_track_params tp = {.cdm = t->encrypted ? h->cdm : NULL,
                                       .session = t->session,
                                       .start = t->start,
                                       .end = t->end,
                                       .has_loudness = t->has_loudness,
                                       .loudness_lufs = t->loudness_lufs};
      r = engine_track_open(h->e, t->id, t->init, t->init_len, &tp);
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

void harness_start_with(struct harness *h, struct track *tracks, size_t n,
                        const struct engine_config *c) {
  memset(h, 0, sizeof(*h));
  h->tracks = tracks;
  h->n_tracks = n;
  assert_int_equal(loop_new(&h->loop), 0);
  struct engine_config cfg = *c;
  cfg.loop = h->loop;
  cfg.ops = &tdev_ops;
  cfg.on_event = on_event;
  cfg.userdata = h;
  assert_int_equal(engine_new(&cfg, &h->e), 0);
}

void harness_start(struct harness *h, struct track *tracks, size_t n, uint32_t ring_ms,
                   size_t queue_max) {
  struct engine_config cfg = {.ring_ms = ring_ms, .queue_max_bytes = queue_max, .volume = 100};
  harness_start_with(h, tracks, n, &cfg);
}

void harness_cdm(struct harness *h) {
  struct cdmhost_options opt = {.plugin_dir = ENGINETEST_CLEARKEY_DIR};
  assert_int_equal(cdmhost_open("clearkey", &opt, &h->cdm), 0);
}

void harness_free(struct harness *h) {
  engine_free(h->e);
  loop_run_once(h->loop, 0); /* a delivery still waiting frees its mailbox */
  loop_free(h->loop);
  cdmhost_free(h->cdm);
}

size_t count(const struct harness *h, enum engine_event_type type, uint32_t track) {
  size_t n = 0;
  for (size_t i = 0; i < h->n_ev; i++)
    n += h->ev[i].type == type && h->ev[i].track == track;
  return n;
}

/* Run the loop until cond holds. The bound turns a hang into a failure; ctest's timeout
 * would too, later. */
void run_until(struct harness *h, bool (*cond)(struct harness *, void *), void *arg) {
  for (int pass = 0; pass < 1000 && !cond(h, arg); pass++)
    assert_true(loop_run_once(h->loop, 50) >= 0);
  assert_true(cond(h, arg));
}

bool ended(struct harness *h, void *arg) {
  return count(h, ENGINE_TRACK_ENDED, *(uint32_t *)arg) > 0;
}

void run_until_ended(struct harness *h, uint32_t id) {
  run_until(h, ended, &id);
}

bool heard_at_least(struct harness *h, void *arg) {
  uint32_t track;
  uint64_t frames;
  (void)h;
  return engine_position(h->e, &track, &frames, NULL) == 0 && frames >= *(uint64_t *)arg;
}

bool dev_paused(struct harness *h, void *arg) {
  (void)h;
  (void)arg;
  pthread_mutex_lock(&dev.lock);
  bool p = dev.paused;
  pthread_mutex_unlock(&dev.lock);
  return p;
}

bool dev_dropped(struct harness *h, void *arg) {
  (void)h;
  (void)arg;
  pthread_mutex_lock(&dev.lock);
  bool x = strchr(dev.ops, 'X') != NULL;
  pthread_mutex_unlock(&dev.lock);
  return x;
}

/* Compare n frames of the recording of open i from frame at with src from frame from. */
void assert_pcm(int i, size_t at, const struct wav *src, size_t from, size_t n) {
  size_t ch = src->channels;
  assert_true(dev.len[i] >= (at + n) * ch);
  assert_true(src->frames >= from + n);
  assert_memory_equal(dev.data[i] + at * ch, src->s + from * ch, n * ch * sizeof(int32_t));
}

/* The track events in order, and each track's SEGMENT_DONEs in order before its ENDED. */
void assert_track_order(const struct harness *h) {
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

double resampled_error(const int32_t *got, size_t frames, uint32_t rate, unsigned bits,
                       const struct wav *src, size_t from) {
  double err = 0, sig = 0, scale = (double)(1u << (src->bits - bits));
  for (size_t i = 0; i < frames; i++) {
    double x = (double)i * src->rate / rate;
    size_t k = (size_t)x;
    double f = x - (double)k;
    if (from + k + 1 >= src->frames)
      break;
    for (size_t ch = 0; ch < src->channels; ch++) {
      const int32_t *a = src->s + (from + k) * src->channels + ch;
      double want = (a[0] * (1 - f) + a[src->channels] * f) / scale;
      double y = got[i * src->channels + ch];
      assert_true(y >= -(double)(1u << (bits - 1)) && y < (double)(1u << (bits - 1)));
      err += (y - want) * (y - want);
      sig += want * want;
    }
  }
  assert_true(sig > 0);
  return err / sig;
}

/* ---- one test's tracks and sources ---- */

int engine_case_setup(void **state) {
  struct engine_case *x = calloc(1, sizeof(*x));
  if (!x)
    return -1;
  tdev_reset(4410, true);
  *state = x;
  return 0;
}

int engine_case_teardown(void **state) {
  struct engine_case *x = *state;
  for (size_t i = 0; i < sizeof(x->t) / sizeof(x->t[0]); i++)
    free_track(&x->t[i]);
  for (size_t i = 0; i < sizeof(x->src) / sizeof(x->src[0]); i++)
    free(x->src[i].s);
  free(x);
  return 0;
}

void load_mid45_pair(struct engine_case *x) {
  load_track("mid45/clear", "flac_16_44", 1, 1, &x->t[0]);
  load_track("mid45/clear", "flac_24_96", 2, 1, &x->t[1]);
  x->t[0].end = 3 * 44100;
  x->t[1].end = 2 * 96000;
  load_wav("mid45/source/flac_16_44.wav", &x->src[0]);
  load_wav("mid45/source/flac_24_96.wav", &x->src[1]);
}

bool engine_test_args(int argc, char **argv, const char *name) {
  if (argc != 2 && argc != 3) {
    fprintf(stderr, "usage: %s CATALOG_DIR [TEST_NAME_PATTERN]\n", name);
    return false;
  }
  catalog = argv[1];
  if (argc == 3)
    cmocka_set_test_filter(argv[2]);
  return true;
}
