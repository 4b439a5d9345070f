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

#include "engine_fixture.h"

/* A clear track played whole. */
static const struct engine_track_params whole = {.start = 0, .end = INT64_MAX};

/* ---- tests ---- */

/* The album's three parts queued back to back (t1 and t3 encrypted with different keys,
 * t2 clear) play as one stream, bit for bit the continuous source: no gap, no overlap, one
 * device open, no drain until the end. */
static void gapless_album(struct engine_case *x, uint32_t ring_ms) {
  struct harness *h = &x->h;
  struct track *t = x->t;
  struct wav *src = &x->src[0];
  load_track("album/t1/v1", "flac_16_44", 1, 16, &t[0]);
  load_track("album/t2/clear", "flac_16_44", 2, 16, &t[1]);
  load_track("album/t3/v2", "flac_16_44", 3, 16, &t[2]);
  assert_true(t[0].encrypted && !t[1].encrypted && t[2].encrypted);
  load_wav("album/continuous/source/flac_16_44.wav", src);
  assert_int_equal(src->frames, 80u * 44100);
  harness_start(h, t, 3, ring_ms, 0);
  harness_cdm(h);
  add_key(h->cdm, &t[0], "album/t1/v1", NULL);
  add_key(h->cdm, &t[2], "album/t3/v2", NULL);
  feed(h);
  run_until_ended(h, 3);
  assert_int_equal(engine_position(h->e, NULL, NULL, NULL), -ENOENT);
  harness_free(h);

  assert_int_equal(dev.opens, 1);
  assert_int_equal(dev.fmt[0].rate, 44100);
  assert_int_equal(dev.fmt[0].channels, 2);
  assert_int_equal(dev.fmt[0].bits, 16);
  assert_string_equal(dev.ops, "ODC");
  assert_int_equal(dev.len[0], src->frames * 2);
  assert_pcm(0, 0, src, 0, src->frames);
  assert_int_equal(
      count(h, ENGINE_ERROR, 1) + count(h, ENGINE_ERROR, 2) + count(h, ENGINE_ERROR, 3), 0);
  assert_track_order(h);
  assert_int_equal(h->position_checks, 3);
  assert_int_equal(h->position_bad, 0);
}

static void test_gapless_album(void **state) {
  gapless_album(*state, 0);
}

/* The same through a ring of 20 ms: it wraps thousands of times and both threads wait on
 * each other all the way. */
static void test_gapless_small_ring(void **state) {
  gapless_album(*state, 20);
}

static bool fed_all(struct harness *h, void *arg) {
  (void)arg;
  return h->feeding == h->n_tracks;
}

/* Track 7, the first `seconds` s of mid45 at 44.1 kHz/16 (its source in src[0]), on a ring
 * of 200 ms, paused once it is surely being heard (1 s in). */
static void play_and_pause(struct engine_case *x, unsigned seconds) {
  load_track("mid45/clear", "flac_16_44", 7, 1, &x->t[0]);
  x->t[0].end = seconds * 44100;
  load_wav("mid45/source/flac_16_44.wav", &x->src[0]);
  tdev_hold(2 * 44100); /* the track is surely being heard when it pauses */
  harness_start(&x->h, x->t, 1, 200, 0);
  feed(&x->h);
  uint64_t one_s = 44100;
  run_until(&x->h, heard_at_least, &one_s);
  assert_int_equal(engine_pause(x->h.e, true), 0);
  tdev_release();
}

/* ...then resumed and played to its end: the device went through ops, and the recording is
 * the source without a frame lost or repeated. */
static void resume_to_end(struct engine_case *x, unsigned seconds, const char *ops) {
  assert_int_equal(engine_pause(x->h.e, false), 0);
  run_until_ended(&x->h, 7);
  harness_free(&x->h);
  assert_string_equal(dev.ops, ops);
  assert_int_equal(dev.len[0], seconds * 44100 * 2);
  assert_pcm(0, 0, &x->src[0], 0, seconds * 44100);
  assert_track_order(&x->h);
}

/* Pause holds the device in place (nothing written while paused); after resuming, the
 * recording is the source without a frame lost or repeated. */
static void test_pause_resume(void **state) {
  struct engine_case *x = *state;
  struct harness *h = &x->h;
  play_and_pause(x, 6);
  run_until(h, dev_paused, NULL);
  run_until(h, fed_all, NULL);
  pthread_mutex_lock(&dev.lock);
  size_t len = dev.len[0];
  pthread_mutex_unlock(&dev.lock);
  uint64_t before, after;
  assert_int_equal(engine_position(h->e, NULL, &before, NULL), 0);
  for (int i = 0; i < 5; i++)
    loop_run_once(h->loop, 20);
  pthread_mutex_lock(&dev.lock);
  assert_int_equal(dev.len[0], len);
  assert_int_equal(dev.writes_while_paused, 0);
  pthread_mutex_unlock(&dev.lock);
  assert_int_equal(engine_position(h->e, NULL, &after, NULL), 0);
  assert_int_equal(after, before);
  resume_to_end(x, 6, "OPRDC");
}

/* A device that cannot pause is no longer fed while paused; after resuming, nothing is
 * lost or repeated either. */
static void test_pause_unsupported(void **state) {
  struct engine_case *x = *state;
  tdev_reset(4410, false); /* no pause */
  play_and_pause(x, 4);
  for (int i = 0; i < 5; i++)
    loop_run_once(x->h.loop, 20);
  resume_to_end(x, 4, "ODC");
}

static bool underrun_seen(struct harness *h, void *arg) {
  (void)arg;
  return count(h, ENGINE_UNDERRUN, 0) > 0;
}

/* Underruns the device reports reach the loop as one UNDERRUN event with their count and
 * in engine_underruns(). */
static void test_underrun(void **state) {
  struct engine_case *x = *state;
  struct harness *h = &x->h;
  load_track("mid45/clear", "flac_16_44", 7, 1, &x->t[0]);
  x->t[0].end = 3 * 44100;
  harness_start(h, x->t, 1, 0, 0);
  assert_int_equal(engine_underruns(h->e), 0);
  pthread_mutex_lock(&dev.lock);
  dev.xruns = 3;
  pthread_mutex_unlock(&dev.lock);
  feed(h);
  run_until(h, underrun_seen, NULL);
  run_until_ended(h, 7);
  assert_int_equal(engine_underruns(h->e), 3);
  harness_free(h);
  int n = 0;
  for (size_t i = 0; i < h->n_ev; i++)
    if (h->ev[i].type == ENGINE_UNDERRUN)
      n += h->ev[i].err;
  assert_int_equal(n, 3);
}

/* A stop drops the device at once: the frames it held are never heard, nothing of the
 * stopped track is written after it, no event of it arrives; the next track plays on the
 * same open device, whole. */
static void test_stop(void **state) {
  struct engine_case *x = *state;
  struct harness *h = &x->h;
  struct track *t = x->t;
  struct wav *s1 = &x->src[0], *s2 = &x->src[1];
  load_track("album/t1/clear", "flac_16_44", 1, 16, &t[0]);
  load_track("short12/clear", "flac_16_44", 2, 16, &t[1]);
  load_wav("album/t1/source/flac_16_44.wav", s1);
  load_wav("short12/source/flac_16_44.wav", s2);
  tdev_hold(3 * 44100); /* the track is surely being heard when it stops */
  harness_start(h, t, 1, 0, 0);
  feed(h);
  uint64_t two_s = 2 * 44100;
  run_until(h, heard_at_least, &two_s);
  size_t stop_at = h->n_ev;
  assert_int_equal(engine_stop(h->e), 0);
  tdev_release();
  run_until(h, dev_dropped, NULL);
  pthread_mutex_lock(&dev.lock);
  size_t dropped_len = dev.len[0];
  uint64_t heard = dev.drop_heard;
  pthread_mutex_unlock(&dev.lock);
  assert_int_equal(dropped_len, heard * 2); /* what the device held was thrown away */
  assert_true(heard >= two_s && heard < s1->frames);
  /* the next track, on a fresh feed */
  h->tracks = &t[1];
  h->feeding = 0;
  feed(h);
  run_until_ended(h, 2);
  harness_free(h);
  assert_int_equal(dev.opens, 1);
  assert_string_equal(dev.ops, "OXDC");
  assert_int_equal(dev.len[0], (heard + s2->frames) * 2);
  assert_pcm(0, 0, s1, 0, heard);
  assert_pcm(0, heard, s2, 0, s2->frames);
  for (size_t i = stop_at; i < h->n_ev; i++)
    assert_int_not_equal(h->ev[i].track, 1);
  assert_int_equal(count(h, ENGINE_TRACK_ENDED, 1), 0);
  assert_int_equal(count(h, ENGINE_TRACK_STARTED, 2), 1);
}

/* engine_track_drop() of the queued track while the first one plays (the first is
 * refused: it is on the device): the first plays to its end and the third follows it
 * gapless, bit for bit, in one open; nothing of the
 * dropped one reaches the device (whatever of it was already decoded into the ring is
 * skipped); it still gets one STARTED and one ENDED, and no ERROR. */
static void test_drop_queued(void **state) {
  struct engine_case *x = *state;
  struct harness *h = &x->h;
  struct track *t = x->t;
  struct wav *s1 = &x->src[0];
  load_track("short12/clear", "flac_16_44", 1, 16, &t[0]);
  load_track("album/t1/clear", "flac_16_44", 2, 16, &t[1]);
  load_track("short12/clear", "flac_16_44", 3, 16, &t[2]);
  load_wav("short12/source/flac_16_44.wav", s1);
  tdev_hold(2 * 44100); /* the first track is surely being heard at the drop */
  harness_start(h, t, 3, 0, 0);
  feed(h);
  uint64_t one_s = 44100;
  run_until(h, heard_at_least, &one_s);
  assert_true(t[1].opened);                                /* queued behind the one heard */
  assert_int_equal(engine_track_drop(h->e, 1), -EALREADY); /* on the device: not dropped */
  assert_int_equal(engine_track_drop(h->e, 2), 0);
  assert_int_equal(engine_track_drop(h->e, 2), 0); /* twice is once */
  tdev_release();
  if (h->feeding == 1)
    h->feeding = 2; /* it was the open one: the drop closed it */
  assert_int_equal(engine_track_segment(h->e, 2, 99, t[1].segs[0].data, t[1].segs[0].len, 0),
                   -ENOENT);
  feed(h);
  run_until_ended(h, 3);
  harness_free(h);
  assert_string_equal(dev.ops, "ODC");
  assert_int_equal(dev.len[0], 2 * s1->frames * 2);
  assert_pcm(0, 0, s1, 0, s1->frames);
  assert_pcm(0, s1->frames, s1, 0, s1->frames);
  assert_int_equal(count(h, ENGINE_TRACK_STARTED, 2), 1);
  assert_int_equal(count(h, ENGINE_TRACK_ENDED, 2), 1);
  for (uint32_t k = 1; k <= 3; k++)
    assert_int_equal(count(h, ENGINE_ERROR, k), 0);
}

/* 44.1 kHz/16 then 96 kHz/24: at the boundary the device is drained, closed and reopened
 * at the new format; each open gets exactly its track. */
static void test_format_change(void **state) {
  struct engine_case *x = *state;
  load_mid45_pair(x);
  harness_start(&x->h, x->t, 2, 0, 0);
  feed(&x->h);
  run_until_ended(&x->h, 2);
  harness_free(&x->h);
  assert_int_equal(dev.opens, 2);
  assert_string_equal(dev.ops, "ODCODC");
  assert_int_equal(dev.fmt[1].rate, 96000);
  assert_int_equal(dev.fmt[1].bits, 24);
  assert_int_equal(dev.len[0], 3 * 44100 * 2);
  assert_int_equal(dev.len[1], 2 * 96000 * 2);
  assert_pcm(0, 0, &x->src[0], 0, 3 * 44100);
  assert_pcm(1, 0, &x->src[1], 0, 2 * 96000);
  assert_track_order(&x->h);
}

/* An ABR switch within a track (engine_track_init) from 44.1 kHz/16 to 96 kHz/24 after
 * the first segment: the device is NOT reopened; the second pipeline starts where the
 * first one reached (in the new rate) and is resampled to 44.1 kHz and dithered to 16
 * bits: the frame count is exact (round(n * 44100 / 96000)), the PCM is the 96 kHz
 * source's, aligned; the track starts and ends once. */
static void test_init_switch(void **state) {
  struct engine_case *x = *state;
  struct harness *h = &x->h;
  struct track *a = &x->t[0], *b = &x->t[1];
  struct wav *s1 = &x->src[0], *s2 = &x->src[1];
  load_track("mid45/clear", "flac_16_44", 1, 1, a);
  load_track("mid45/clear", "flac_24_96", 1, 2, b);
  load_wav("mid45/source/flac_16_44.wav", s1);
  load_wav("mid45/source/flac_24_96.wav", s2);
  struct mp4_init *init = NULL;
  struct mp4_segment *seg = NULL;
  struct mp4_sample sm;
  assert_int_equal(mp4_init_parse(a->init, a->init_len, &init), 0);
  assert_int_equal(mp4_segment_parse(init, a->segs[0].data, a->segs[0].len, a->segs[0].off, &seg),
                   0);
  size_t n = mp4_segment_sample_count(seg);
  assert_int_equal(mp4_segment_sample(seg, n - 1, &sm), 0);
  uint64_t reached = (uint64_t)sm.pts + sm.duration; /* 44.1 kHz frames of segment 0 */
  mp4_segment_free(seg);
  mp4_init_free(init);
  uint64_t from96 = reached * 96000 / 44100, end96 = 15u * 96000;
  uint64_t out44 = ((end96 - from96) * 44100 * 2 + 96000) / (2 * 96000); /* round half up */
  harness_start(h, NULL, 0, 0, 0);
  assert_int_equal(engine_track_open(h->e, 1, a->init, a->init_len,
                                     &(struct engine_track_params){.end = 15 * 44100}),
                   0);
  assert_int_equal(
      engine_track_segment(h->e, 1, 0, a->segs[0].data, a->segs[0].len, a->segs[0].off), 0);
  assert_int_equal(engine_track_init(h->e, 2, b->init, b->init_len), -ENOENT);
  assert_int_equal(engine_track_init(h->e, 1, b->init, b->init_len), 0);
  assert_int_equal(
      engine_track_segment(h->e, 1, 1, b->segs[1].data, b->segs[1].len, b->segs[1].off), 0);
  assert_int_equal(engine_track_close(h->e, 1, 0, 0), 0);
  run_until_ended(h, 1);
  struct engine_device d;
  engine_device(h->e, &d);
  harness_free(h);
  assert_string_equal(dev.ops, "ODC");
  assert_int_equal(dev.fmt[0].rate, 44100);
  assert_int_equal(dev.fmt[0].bits, 16);
  assert_int_equal(d.opens, 1);
  assert_int_equal(dev.len[0], (reached + out44) * 2);
  assert_pcm(0, 0, s1, 0, reached); /* before the switch: bit-exact */
  /* after it: the 96 kHz source resampled, aligned */
  assert_true(resampled_error(dev.data[0] + reached * 2, out44, 44100, 16, s2, from96) < 2e-3);
  assert_int_equal(count(h, ENGINE_TRACK_STARTED, 1), 1);
  assert_int_equal(count(h, ENGINE_TRACK_ENDED, 1), 1);
  assert_int_equal(count(h, ENGINE_ERROR, 1), 0);
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
  struct engine_case *x = *state;
  struct harness *h = &x->h;
  struct track *t = x->t;
  struct wav *s1 = &x->src[0], *s2 = &x->src[1];
  load_track("album/t1/v1", "flac_16_44", 1, 16, &t[0]);
  load_track("album/t2/clear", "flac_16_44", 2, 1, &t[1]);
  t[1].end = 2 * 44100;
  load_wav("album/t1/source/flac_16_44.wav", s1);
  load_wav("album/t2/source/flac_16_44.wav", s2);
  harness_start(h, t, 2, 0, 0);
  harness_cdm(h);
  add_key(h->cdm, &t[0], "album/t1/v1", "000102030405060708090a0b0c0d0e0f");
  feed(h);
  run_until_ended(h, 2);
  harness_free(h);
  assert_int_equal(count(h, ENGINE_ERROR, 1), 1);
  for (size_t i = 0; i < h->n_ev; i++)
    if (h->ev[i].type == ENGINE_ERROR)
      assert_int_equal(h->ev[i].err, -AMP_EDECRYPT);
  assert_int_equal(count(h, ENGINE_ERROR, 2), 0);
  assert_track_order(h);
  /* the clear lead (segments 0-2, 30 s rounded up to FLAC's 4096-frame samples), then
   * track 2 right after */
  size_t lead = clear_lead_frames(&t[0]);
  assert_true(lead >= 30 * 44100 && lead < 30 * 44100 + 4096);
  assert_int_equal(dev.len[0], (lead + 2 * 44100) * 2);
  assert_pcm(0, 0, s1, 0, lead);
  assert_pcm(0, lead, s2, 0, 2 * 44100);
}

/* The bounds of the loop side: bytes, tracks, and the command order. */
static void test_bounds(void **state) {
  struct engine_case *x = *state;
  struct harness *h = &x->h;
  struct track *t = &x->t[0];
  load_track("album/t1/clear", "flac_16_44", 1, 2, t);
  assert_true(t->segs[0].len > 500000 && t->segs[1].len > 500000);
  size_t max = (t->segs[0].len > t->segs[1].len ? t->segs[0].len : t->segs[1].len) + 1000;
  harness_start(h, t, 0, 0, max);
  struct engine *e = h->e;
  assert_int_equal(engine_track_segment(e, 1, 0, t->segs[0].data, t->segs[0].len, t->segs[0].off),
                   -ENOENT);
  assert_int_equal(engine_track_open(e, 1, t->init, t->init_len, &whole), 0);
  assert_int_equal(engine_track_open(e, 2, t->init, t->init_len, &whole), -EBUSY);
  assert_int_equal(engine_track_segment(e, 2, 0, t->segs[0].data, t->segs[0].len, t->segs[0].off),
                   -ENOENT);
  uint8_t *big = calloc(1, max + 1);
  assert_non_null(big);
  assert_int_equal(engine_track_segment(e, 1, 0, big, max + 1, 0), -AMP_ETOOBIG);
  free(big);
  assert_int_equal(engine_track_segment(e, 1, 0, t->segs[0].data, t->segs[0].len, t->segs[0].off),
                   0);
  /* the second segment waits until the first is released (its SEGMENT_DONE delivered) */
  assert_int_equal(engine_track_segment(e, 1, 1, t->segs[1].data, t->segs[1].len, t->segs[1].off),
                   -EAGAIN);
  assert_int_equal(engine_track_close(e, 1, 0, 0), 0);
  /* ENGINE_MAX_TRACKS tracks open at once (without segments: each fails -AMP_ESHORT and
   * still starts and ends at its place) */
  for (uint32_t i = 2; i <= ENGINE_MAX_TRACKS; i++) {
    assert_int_equal(engine_track_open(e, i, t->init, t->init_len, &whole), 0);
    assert_int_equal(engine_track_close(e, i, 0, 0), 0);
  }
  assert_int_equal(engine_track_open(e, 99, t->init, t->init_len, &whole), -EAGAIN);
  run_until_ended(h, ENGINE_MAX_TRACKS);
  assert_int_equal(count(h, ENGINE_SEGMENT_DONE, 1), 1);
  for (uint32_t i = 2; i <= ENGINE_MAX_TRACKS; i++) {
    assert_int_equal(count(h, ENGINE_ERROR, i), 1);
    assert_int_equal(count(h, ENGINE_TRACK_STARTED, i), 1);
    assert_int_equal(count(h, ENGINE_TRACK_ENDED, i), 1);
  }
  assert_int_equal(engine_track_open(e, 99, t->init, t->init_len, &whole), 0);
  assert_int_equal(
      engine_track_open(NULL, 1, t->init, t->init_len, &(struct engine_track_params){.end = 1}),
      -EINVAL);
  harness_free(h);
}

int main(int argc, char **argv) {
  if (!engine_test_args(argc, argv, "test_engine"))
    return 2;
  const struct CMUnitTest tests[] = {
      ENGINE_CASE(test_gapless_album), ENGINE_CASE(test_gapless_small_ring),
      ENGINE_CASE(test_pause_resume),  ENGINE_CASE(test_pause_unsupported),
      ENGINE_CASE(test_underrun),      ENGINE_CASE(test_stop),
      ENGINE_CASE(test_drop_queued),   ENGINE_CASE(test_format_change),
      ENGINE_CASE(test_init_switch),   ENGINE_CASE(test_wrong_key),
      ENGINE_CASE(test_bounds),
  };
  int r = cmocka_run_group_tests(tests, NULL, NULL);
  tdev_reset(0, false);
  return r;
}
