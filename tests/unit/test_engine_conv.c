/* SPDX-License-Identifier: Apache-2.0 */
/*
 * player/engine, the device side (engine.h "The device format" and the OUTPUT_ERROR
 * paragraph): a kept rate and a fixed rate (later tracks resampled, no reopen), loudness
 * normalisation per track, the mixer volume (hardware, both, no mixer), a device that
 * fails to open (retried, the audio held, nothing lost) and the idle close. On the catalog
 * through the recording device of engine_fixture.h.
 * usage: test_engine_conv CATALOG_DIR [TEST_NAME_PATTERN]
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/loop.h"
#include "media/gain.h"
#include "player/engine.h"

#include "engine_fixture.h"

/* Frames of mid45 played (load_mid45_pair): seconds at its FLAC rates. */
#define T44 (3u * 44100u)
#define T96 (2u * 96000u)

/* Tracks t[0] .. t[n - 1] on an engine with c's settings, fed and played to the end of the
 * last; the engine is freed (the device closed) when it returns. */
static void play(struct engine_case *x, size_t n, const struct engine_config *c) {
  harness_start_with(&x->h, x->t, n, c);
  feed(&x->h);
  run_until_ended(&x->h, x->t[n - 1].id);
  harness_free(&x->h);
}

/* RATE_KEEP: 44.1 kHz/16 then 96 kHz/24 play in ONE open at 44.1 kHz/16: the first track
 * bit-exact, the second resampled (exactly round(n * 44100 / 96000) frames) and dithered,
 * no drain between them; each track starts and ends once. */
static void test_keep_rate(void **state) {
  struct engine_case *x = *state;
  load_mid45_pair(x);
  play(x, 2, &(struct engine_config){.volume = 100, .rate_policy = ENGINE_RATE_KEEP});
  assert_string_equal(dev.ops, "ODC");
  assert_int_equal(dev.fmt[0].rate, 44100);
  assert_int_equal(dev.fmt[0].bits, 16);
  size_t out2 = (size_t)T96 * 44100u / 96000u; /* 88200, exact */
  assert_int_equal(dev.len[0], (T44 + out2) * 2);
  assert_pcm(0, 0, &x->src[0], 0, T44);
  assert_true(resampled_error(dev.data[0] + T44 * 2, out2, 44100, 16, &x->src[1], 0) < 2e-3);
  assert_track_order(&x->h);
}

/* RATE_NATIVE (the default) on the same pair reopens at the boundary: the policy is what
 * keeps the device open above, not chance. */
static void test_native_rate_reopens(void **state) {
  struct engine_case *x = *state;
  load_mid45_pair(x);
  play(x, 2, &(struct engine_config){.volume = 100});
  assert_string_equal(dev.ops, "ODCODC");
  assert_pcm(1, 0, &x->src[1], 0, T96);
}

/* RATE_FIXED at 48 kHz: a 44.1 kHz track opens the device at 48 kHz and is resampled. */
static void test_fixed_rate(void **state) {
  struct engine_case *x = *state;
  struct engine_device d;
  load_mid45_pair(x);
  tdev_reset(4800, true); /* 100 ms at 48 kHz */
  harness_start_with(&x->h, x->t, 1,
                     &(struct engine_config){
                         .volume = 100, .rate_policy = ENGINE_RATE_FIXED, .fixed_rate = 48000});
  feed(&x->h);
  run_until_ended(&x->h, 1);
  engine_device(x->h.e, &d);
  harness_free(&x->h);
  assert_string_equal(dev.ops, "ODC");
  assert_int_equal(dev.fmt[0].rate, 48000);
  assert_int_equal(dev.len[0], 3u * 48000u * 2);
  assert_true(resampled_error(dev.data[0], 3u * 48000u, 48000, 16, &x->src[0], 0) < 2e-3);
  assert_int_equal(d.opens, 1);
}

/* The least-squares gain of got against src over n samples. */
static double fitted_gain(const int32_t *got, const int32_t *src, size_t n) {
  double xy = 0, xx = 0;
  for (size_t i = 0; i < n; i++) {
    xy += (double)got[i] * src[i];
    xx += (double)src[i] * src[i];
  }
  assert_true(xx > 0);
  return xy / xx;
}

/* The PCM of the first open from sample `from` on (n samples) is src's at the software
 * volume of `percent` (gain_volume_db), within 0.1 dB. */
static void assert_software_volume(const struct wav *src, size_t from, size_t n, unsigned percent) {
  double g = fitted_gain(dev.data[0] + from, src->s + from, n);
  assert_true(fabs(20.0 * log10(g) - gain_volume_db(percent)) < 0.1);
}

/* Normalisation toward -14 LUFS from each track's ProgramLoudness, switched exactly at the
 * track boundary (gapless): a -8 LUFS track is attenuated by 6 dB (every sample within
 * the dither of x * 10^(-6/20)), a -20 LUFS one is left alone (no peak is known, so no
 * boost: bit-exact), and without normalisation the loud one is bit-exact too. */
static void run_loudness(struct engine_case *x, bool normalise) {
  struct track *t = x->t;
  const struct wav *s1 = &x->src[0];
  load_track("mid45/clear", "flac_16_44", 1, 1, &t[0]);
  load_track("mid45/clear", "flac_16_44", 2, 1, &t[1]);
  t[0].end = t[1].end = T44;
  t[0].has_loudness = t[1].has_loudness = true;
  t[0].loudness_lufs = -8.0;
  t[1].loudness_lufs = -20.0;
  load_wav("mid45/source/flac_16_44.wav", &x->src[0]);
  play(x, 2, &(struct engine_config){.volume = 100, .normalise = normalise, .target_lufs = -14.0});
  assert_string_equal(dev.ops, "ODC");
  assert_int_equal(dev.len[0], 2 * T44 * 2);
  if (normalise) {
    double g = pow(10.0, -6.0 / 20.0);
    for (size_t i = 0; i < T44 * 2; i++) {
      double want = s1->s[i] * g;
      assert_true(fabs(dev.data[0][i] - want) <= 2.0);
    }
  } else {
    assert_pcm(0, 0, s1, 0, T44);
  }
  assert_pcm(0, T44, s1, 0, T44); /* the quiet one: untouched either way */
}

static void test_loudness(void **state) {
  run_loudness(*state, true);
}

static void test_loudness_off(void **state) {
  run_loudness(*state, false);
}

static bool heard_1s(struct harness *h, void *arg) {
  (void)arg;
  uint64_t f = 0;
  return engine_position(h->e, NULL, &f, NULL) == 0 && f >= 44100;
}

/* HARDWARE: the volume goes to the mixer (-30 dB for 25 %: the test mixer is linear in dB
 * over -40..0 dB) and the PCM stays bit-exact. */
static void test_mixer_hardware(void **state) {
  struct engine_case *x = *state;
  load_mid45_pair(x);
  dev.has_mixer = true;
  tdev_hold(2 * 44100); /* the track is surely being heard at the change */
  harness_start_with(&x->h, x->t, 1,
                     &(struct engine_config){.volume = 100, .volume_mode = ENGINE_VOLUME_HARDWARE});
  feed(&x->h);
  run_until(&x->h, heard_1s, NULL);
  engine_set_volume(x->h.e, 25);
  tdev_release();
  run_until_ended(&x->h, 1);
  harness_free(&x->h);
  assert_int_equal(dev.mixer_cdb, -3000);
  assert_true(dev.mixer_sets >= 2); /* 100 % at the open, then 25 % */
  assert_pcm(0, 0, &x->src[0], 0, T44);
}

/* BOTH at 10 % (-54 dB): the mixer goes to its floor (-40 dB), the PCM takes the rest
 * (-14 dB, as 77 % of the software curve: -13.8 dB). */
static void test_mixer_both(void **state) {
  struct engine_case *x = *state;
  load_mid45_pair(x);
  dev.has_mixer = true;
  play(x, 1, &(struct engine_config){.volume = 10, .volume_mode = ENGINE_VOLUME_BOTH});
  assert_int_equal(dev.mixer_cdb, -4000);
  /* the last second, long after the first ring's worth (made before the mixer was known,
   * at the whole -54 dB in software: never louder than asked) */
  assert_software_volume(&x->src[0], (T44 - 44100) * 2, 44100 * 2, 77);
}

/* HARDWARE on a device without a mixer: the volume is applied in software (-45 dB for
 * 25 %). */
static void test_no_mixer_falls_back(void **state) {
  struct engine_case *x = *state;
  load_mid45_pair(x);
  play(x, 1, &(struct engine_config){.volume = 25, .volume_mode = ENGINE_VOLUME_HARDWARE});
  assert_int_equal(dev.mixer_sets, 0);
  assert_software_volume(&x->src[0], 0, T44 * 2, 25);
}

/* A device that is busy for its first three opens: OUTPUT_ERROR, retries with backoff, then
 * OUTPUT_OPENED, and the track plays whole and bit-exact (the audio was held). */
static void test_busy_device_retried(void **state) {
  struct engine_case *x = *state;
  load_mid45_pair(x);
  dev.fail_opens = 3;
  play(x, 1, &(struct engine_config){.volume = 100});
  assert_int_equal(dev.open_calls, 4);
  assert_true(count(&x->h, ENGINE_OUTPUT_ERROR, 0) >= 1);
  assert_int_equal(count(&x->h, ENGINE_OUTPUT_OPENED, 0), 1);
  assert_string_equal(dev.ops, "ODC");
  assert_int_equal(dev.len[0], T44 * 2);
  assert_pcm(0, 0, &x->src[0], 0, T44);
  assert_int_equal(count(&x->h, ENGINE_ERROR, 1), 0);
}

static bool dev_closed(struct harness *h, void *arg) {
  (void)arg;
  struct engine_device d;
  engine_device(h->e, &d);
  return !d.open && d.opens > 0;
}

/* idle_close_ms: once everything is heard the device is closed while the engine lives
 * (other programs may use it), and the next track opens it again. */
static void test_idle_close(void **state) {
  struct engine_case *x = *state;
  struct harness *h = &x->h;
  load_mid45_pair(x);
  x->t[0].end = 44100;
  harness_start_with(h, x->t, 1, &(struct engine_config){.volume = 100, .idle_close_ms = 100});
  feed(h);
  run_until_ended(h, 1);
  run_until(h, dev_closed, NULL);
  pthread_mutex_lock(&dev.lock);
  bool open = dev.is_open;
  pthread_mutex_unlock(&dev.lock);
  assert_false(open);
  h->tracks = &x->t[1];
  h->n_tracks = 1;
  h->feeding = 0;
  feed(h);
  run_until_ended(h, 2);
  harness_free(h);
  assert_string_equal(dev.ops, "ODCODC");
  assert_pcm(1, 0, &x->src[1], 0, T96);
}

int main(int argc, char **argv) {
  if (!engine_test_args(argc, argv, "test_engine_conv"))
    return 2;
  const struct CMUnitTest tests[] = {
      ENGINE_CASE(test_keep_rate),           ENGINE_CASE(test_native_rate_reopens),
      ENGINE_CASE(test_fixed_rate),          ENGINE_CASE(test_loudness),
      ENGINE_CASE(test_loudness_off),        ENGINE_CASE(test_mixer_hardware),
      ENGINE_CASE(test_mixer_both),          ENGINE_CASE(test_no_mixer_falls_back),
      ENGINE_CASE(test_busy_device_retried), ENGINE_CASE(test_idle_close),
  };
  int r = cmocka_run_group_tests(tests, NULL, NULL);
  tdev_reset(0, false);
  return r;
}
