/* SPDX-License-Identifier: Apache-2.0 */
/*
 * media/gain: the bit-exact rule (at gain 1 the PCM is not even written: it sits on a
 * read-only page), gain accuracy (RMS of a sine within 0.1 dB of the gain asked), the
 * peak cap (no clipping), the TPDF dither (triangular, mean 0, only when the gain is not
 * 1, at the device's resolution, deterministic by seed), the ramp's exact length.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "media/gain.h"

#define RATE 48000u
#define N 48000u /* one second */

static struct gain *mk(uint8_t bits, unsigned dbits, unsigned volume, bool normalise, uint8_t ch) {
  struct gain_config c = {
      .format = {.rate = RATE, .channels = ch, .bits = bits},
      .device_bits = dbits,
      .normalise = normalise,
      .max_boost_db = GAIN_DEFAULT_MAX_BOOST_DB,
      .volume = volume,
      .seed = 42,
  };
  struct gain *g = NULL;
  assert_int_equal(gain_new(&c, &g), 0);
  assert_non_null(g);
  return g;
}

/* A 997 Hz sine of amplitude amp (in LSBs), n frames, mono. */
static void sine(int32_t *x, size_t n, double amp) {
  for (size_t i = 0; i < n; i++)
    x[i] = (int32_t)lrint(amp * sin(2.0 * M_PI * 997.0 * (double)i / RATE));
}

static double rms(const int32_t *x, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++)
    s += (double)x[i] * (double)x[i];
  return sqrt(s / (double)n);
}

static double db_ratio(const int32_t *out, const int32_t *in, size_t n) {
  return 20.0 * log10(rms(out, n) / rms(in, n));
}

static int32_t *ro_page(const int32_t *src, size_t n, size_t *ret_len) {
  size_t len = (n * sizeof(int32_t) + 4095) & ~(size_t)4095;
  int32_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert_true(p != MAP_FAILED);
  memcpy(p, src, n * sizeof(int32_t));
  assert_int_equal(mprotect(p, len, PROT_READ), 0);
  *ret_len = len;
  return p;
}

static void test_identity_untouched(void **state) {
  (void)state;
  static int32_t x[4096];
  for (size_t i = 0; i < 4096; i++)
    x[i] = (int32_t)(i * 7919u % 65536u) - 32768;
  size_t len;
  int32_t *ro = ro_page(x, 4096, &len);
  struct gain *g = mk(16, 16, 100, false, 2);
  assert_true(gain_is_identity(g));
  assert_int_equal(gain_apply(g, ro, 2048), 0); /* a write would fault */
  /* normalisation on, but nothing to normalise (no track; a track at the target) */
  gain_set_normalise(g, true);
  assert_true(gain_is_identity(g));
  assert_int_equal(gain_apply(g, ro, 2048), 0);
  struct gain_track t = {.has_loudness = true, .loudness_lufs = -14.0};
  gain_set_track(g, &t);
  assert_true(gain_is_identity(g));
  assert_int_equal(gain_apply(g, ro, 2048), 0);
  /* without a peak and no boost allowed, a quiet track is not raised */
  t.loudness_lufs = -30.0;
  gain_set_track(g, &t);
  assert_true(gain_is_identity(g));
  assert_int_equal(gain_apply(g, ro, 2048), 0);
  gain_set_track(g, NULL);
  /* down and back up: once the ramp back to 1 is over, untouched again */
  static int32_t w[4096];
  memcpy(w, x, sizeof(w));
  gain_set_volume(g, 50);
  assert_false(gain_is_identity(g));
  assert_int_equal(gain_apply(g, w, 2048), 0);
  assert_true(memcmp(w, x, sizeof(w)) != 0);
  gain_set_volume(g, 100);
  assert_int_equal(gain_apply(g, w, gain_ramp_frames(g)), 0);
  assert_true(gain_is_identity(g));
  assert_int_equal(gain_apply(g, ro, 2048), 0);
  assert_memory_equal(ro, x, sizeof(x));
  gain_free(g);
  munmap(ro, len);
}

/* requantise: 24-bit PCM headed for a 16-bit device at gain 1 is dithered to 16-bit
 * resolution (multiples of 256, within 1.5 steps of the input, not all equal to it);
 * without the flag it is left alone. */
static void test_requantise(void **state) {
  (void)state;
  const size_t n = 4800;
  int32_t *x = malloc(n * 2 * sizeof(*x)), *y = malloc(n * 2 * sizeof(*y));
  assert_non_null(x);
  assert_non_null(y);
  for (size_t i = 0; i < n * 2; i++)
    x[i] = (int32_t)(sin((double)i * 0.01) * 4000000.0) + (int32_t)(i % 97);
  for (int flag = 0; flag < 2; flag++) {
    struct gain *g = NULL;
    struct gain_config c = {.format = {.rate = 48000, .channels = 2, .bits = 24},
                            .device_bits = 16,
                            .requantise = flag != 0,
                            .volume = 100};
    assert_int_equal(gain_new(&c, &g), 0);
    assert_int_equal(gain_is_identity(g), flag == 0);
    memcpy(y, x, n * 2 * sizeof(*y));
    assert_int_equal(gain_apply(g, y, n), 0);
    if (!flag) {
      assert_memory_equal(x, y, n * 2 * sizeof(*y));
    } else {
      size_t changed = 0;
      for (size_t i = 0; i < n * 2; i++) {
        assert_int_equal(y[i] % 256, 0);
        assert_true(fabs((double)y[i] - x[i]) <= 1.5 * 256);
        changed += y[i] != x[i];
      }
      assert_true(changed > n);
    }
    gain_free(g);
  }
  free(x);
  free(y);
}

static void test_volume_accuracy(void **state) {
  (void)state;
  static int32_t in[N], out[N];
  sine(in, N, 20000.0);
  const unsigned vols[] = {99, 90, 75, 50, 25, 10, 1};
  for (size_t k = 0; k < sizeof(vols) / sizeof(vols[0]); k++) {
    struct gain *g = mk(16, 16, vols[k], false, 1);
    memcpy(out, in, sizeof(in));
    assert_int_equal(gain_apply(g, out, N), 0);
    double want = gain_volume_db(vols[k]);
    assert_true(fabs(want - ((double)vols[k] - 100.0) * 0.6) < 1e-9); /* the curve */
    double got = db_ratio(out, in, N);
    if (fabs(got - want) >= 0.1)
      print_error("volume %u%%: %.3f dB, want %.3f\n", vols[k], got, want);
    assert_true(fabs(got - want) < 0.1);
    gain_free(g);
  }
  /* 0 % is silence, exactly */
  struct gain *g = mk(16, 16, 0, false, 1);
  memcpy(out, in, sizeof(in));
  assert_int_equal(gain_apply(g, out, N), 0);
  for (size_t i = 0; i < N; i++)
    assert_int_equal(out[i], 0);
  assert_true(isinf(gain_volume_db(0)) && gain_volume_db(0) < 0);
  assert_true(gain_volume_db(100) == 0.0 && gain_volume_db(150) == 0.0);
  gain_free(g);
}

static void test_normalisation(void **state) {
  (void)state;
  static int32_t in[N], out[N];
  /* 24-bit source at a quarter of full scale, -20 LUFS, peak known: +6 dB */
  double fs24 = 8388608.0;
  sine(in, N, 0.25 * fs24);
  struct gain *g = mk(24, 16, 100, true, 1);
  struct gain_track t = {
      .has_loudness = true, .loudness_lufs = -20.0, .has_peak = true, .peak = 0.25};
  gain_set_track(g, &t);
  assert_true(fabs(gain_normalisation_db(&t, -14.0, 0.0) - 6.0) < 1e-9);
  memcpy(out, in, sizeof(in));
  assert_int_equal(gain_apply(g, out, N), 0);
  assert_true(fabs(db_ratio(out, in, N) - 6.0) < 0.1);
  for (size_t i = 0; i < N; i++)
    assert_int_equal(out[i] % 256, 0); /* dithered to 16 bits, kept in the 24-bit scale */
  /* loud track: attenuated, peak or not */
  t = (struct gain_track){.has_loudness = true, .loudness_lufs = -8.0};
  gain_set_track(g, &t);
  memcpy(out, in, sizeof(in));
  assert_int_equal(gain_apply(g, out, N), 0);
  assert_true(fabs(db_ratio(out, in, N) + 6.0) < 0.1);
  /* target and boost configurable: -23 LUFS target, +6 dB allowed without a peak */
  gain_free(g);
  struct gain_config c = {.format = {.rate = RATE, .channels = 1, .bits = 24},
                          .device_bits = 24,
                          .normalise = true,
                          .target_lufs = -23.0,
                          .max_boost_db = 6.0,
                          .volume = 100};
  assert_int_equal(gain_new(&c, &g), 0);
  t = (struct gain_track){.has_loudness = true, .loudness_lufs = -33.0};
  gain_set_track(g, &t);
  memcpy(out, in, sizeof(in));
  assert_int_equal(gain_apply(g, out, N), 0);
  assert_true(fabs(db_ratio(out, in, N) - 6.0) < 0.1); /* 10 dB asked, capped at 6 */
  /* normalisation plus volume add up in dB */
  gain_set_volume(g, 50); /* -30 dB */
  memcpy(out, in, sizeof(in));
  assert_int_equal(gain_apply(g, out, N), 0); /* the ramp is 480 of 48000 frames: */
  assert_true(fabs(db_ratio(out + 480, in + 480, N - 480) - (6.0 - 30.0)) < 0.1);
  gain_free(g);
}

static void test_no_clipping(void **state) {
  (void)state;
  static int32_t in[N], out[N];
  /* peak 0.7 of full scale, -30 LUFS: +16 dB asked, the peak allows +3.1 dB */
  sine(in, N, 0.7 * 32768.0);
  double peak = 0;
  for (size_t i = 0; i < N; i++)
    peak = fmax(peak, fabs((double)in[i]) / 32768.0);
  struct gain *g = mk(16, 16, 100, true, 1);
  struct gain_track t = {
      .has_loudness = true, .loudness_lufs = -30.0, .has_peak = true, .peak = peak};
  gain_set_track(g, &t);
  memcpy(out, in, sizeof(in));
  assert_int_equal(gain_apply(g, out, N), 0);
  int32_t mx = 0, mn = 0;
  for (size_t i = 0; i < N; i++) {
    mx = out[i] > mx ? out[i] : mx;
    mn = out[i] < mn ? out[i] : mn;
  }
  assert_true(mx < 32767 && mn > -32767); /* never at the rails: no saturation */
  assert_true(mx >= 32760);               /* but raised right up to them */
  assert_true(fabs(db_ratio(out, in, N) + 20.0 * log10(peak)) < 0.1);
  gain_free(g);
  /* a source that does clip is saturated, never wrapped */
  for (size_t i = 0; i < N; i++)
    in[i] = i % 2 ? 32767 : -32768;
  struct gain_config c = {.format = {.rate = RATE, .channels = 1, .bits = 16},
                          .normalise = true,
                          .max_boost_db = 6.0,
                          .volume = 100};
  assert_int_equal(gain_new(&c, &g), 0);
  t = (struct gain_track){.has_loudness = true, .loudness_lufs = -20.0};
  gain_set_track(g, &t);
  memcpy(out, in, sizeof(in));
  assert_int_equal(gain_apply(g, out, N), 0);
  for (size_t i = 0; i < N; i++)
    assert_int_equal(out[i], in[i]);
  gain_free(g);
}

static void test_tpdf_shape(void **state) {
  (void)state;
  enum { BINS = 20, SAMPLES = 400000 };
  unsigned hist[BINS] = {0};
  uint64_t s = 12345;
  double sum = 0, sum2 = 0;
  for (int i = 0; i < SAMPLES; i++) {
    double d = gain_tpdf(&s);
    assert_true(d > -1.0 && d < 1.0);
    sum += d;
    sum2 += d * d;
    int b = (int)floor((d + 1.0) * BINS / 2.0);
    hist[b < 0 ? 0 : b >= BINS ? BINS - 1 : b]++;
  }
  double mean = sum / SAMPLES, var = sum2 / SAMPLES - mean * mean;
  assert_true(fabs(mean) < 0.005);
  assert_true(fabs(var - 1.0 / 6.0) < 0.005); /* triangular on (-1,1): variance 1/6 */
  for (int b = 0; b < BINS; b++) {
    double lo = -1.0 + 2.0 * b / BINS, hi = lo + 2.0 / BINS;
    /* integral of (1 - |x|) over [lo, hi] */
    double F_hi = hi < 0 ? (hi + 1) * (hi + 1) / 2 : 1 - (1 - hi) * (1 - hi) / 2;
    double F_lo = lo < 0 ? (lo + 1) * (lo + 1) / 2 : 1 - (1 - lo) * (1 - lo) / 2;
    double want = (F_hi - F_lo) * SAMPLES;
    if (fabs(hist[b] - want) > 0.05 * want + 50)
      print_error("bin %d: %u, want %.0f\n", b, hist[b], want);
    assert_true(fabs(hist[b] - want) <= 0.05 * want + 50);
  }
}

static void test_dither_output(void **state) {
  (void)state;
  static int32_t a[N], b[N];
  /* silence at -6 dB: what comes out is the dither alone, rounded: -1, 0, +1 LSB with
   * probabilities 1/8, 3/4, 1/8 */
  memset(a, 0, sizeof(a));
  struct gain *g = mk(16, 16, 90, false, 1);
  assert_int_equal(gain_apply(g, a, N), 0);
  unsigned counts[3] = {0};
  double sum = 0;
  for (size_t i = 0; i < N; i++) {
    assert_true(a[i] >= -1 && a[i] <= 1);
    counts[a[i] + 1]++;
    sum += a[i];
  }
  assert_true(fabs(sum / N) < 0.01);
  assert_true(fabs(counts[0] / (double)N - 0.125) < 0.01);
  assert_true(fabs(counts[2] / (double)N - 0.125) < 0.01);
  gain_free(g);
  /* the error against the exact product: mean 0, variance 1/4 LSB^2 (TPDF + rounding) */
  sine(a, N, 20000.0);
  memcpy(b, a, sizeof(a));
  g = mk(16, 16, 90, false, 1);
  assert_int_equal(gain_apply(g, b, N), 0);
  double lin = pow(10.0, gain_volume_db(90) / 20.0), es = 0, es2 = 0;
  for (size_t i = 0; i < N; i++) {
    double e = b[i] - a[i] * lin;
    assert_true(fabs(e) < 1.5);
    es += e;
    es2 += e * e;
  }
  assert_true(fabs(es / N) < 0.01);
  assert_true(fabs(es2 / N - 0.25) < 0.02);
  gain_free(g);
  /* deterministic by seed */
  static int32_t c[N];
  sine(c, N, 20000.0);
  g = mk(16, 16, 90, false, 1);
  assert_int_equal(gain_apply(g, c, N), 0);
  assert_memory_equal(c, b, sizeof(c));
  gain_free(g);
  struct gain_config cfg = {
      .format = {.rate = RATE, .channels = 1, .bits = 16}, .volume = 90, .seed = 43};
  assert_int_equal(gain_new(&cfg, &g), 0);
  sine(c, N, 20000.0);
  assert_int_equal(gain_apply(g, c, N), 0);
  assert_true(memcmp(c, b, sizeof(c)) != 0);
  gain_free(g);
}

static void test_ramp_length(void **state) {
  (void)state;
  enum { FR = 2000 };
  static int32_t whole[FR], parts[FR];
  for (size_t i = 0; i < FR; i++)
    whole[i] = parts[i] = 16384;
  struct gain *g1 = mk(16, 16, 100, false, 1), *g2 = mk(16, 16, 100, false, 1);
  const uint32_t R = gain_ramp_frames(g1);
  assert_int_equal(R, 480); /* 10 ms at 48 kHz */
  gain_set_volume(g1, 50);
  gain_set_volume(g2, 50);
  assert_int_equal(gain_apply(g1, whole, FR), 0);
  for (size_t i = 0; i < FR;) { /* the same, in odd pieces */
    size_t n = FR - i < 7 ? FR - i : 7;
    assert_int_equal(gain_apply(g2, parts + i, n), 0);
    i += n;
  }
  assert_memory_equal(whole, parts, sizeof(whole));
  const double g0 = 1.0, gend = pow(10.0, -30.0 / 20.0);
  for (size_t i = 0; i < FR; i++) {
    size_t n = i + 1; /* frame i is the n-th of the ramp */
    double g = n >= R ? gend : g0 + (gend - g0) * (double)n / R;
    assert_true(fabs(whole[i] - 16384.0 * g) < 1.5);
  }
  /* exactly R frames: frame R-2 is still well above the end value, frame R-1 is at it */
  assert_true(whole[R - 2] - 16384.0 * gend > 10.0);
  assert_true(fabs(whole[R - 1] - 16384.0 * gend) < 1.5);
  assert_true(fabs(gain_target(g1) - gend) < 1e-12);
  gain_free(g1);
  gain_free(g2);
  /* 44.1 kHz: 441 frames */
  struct gain_config c = {.format = {.rate = 44100, .channels = 2, .bits = 16}, .volume = 100};
  assert_int_equal(gain_new(&c, &g1), 0);
  assert_int_equal(gain_ramp_frames(g1), 441);
  gain_free(g1);
}

static void test_bad(void **state) {
  (void)state;
  struct gain *g = NULL;
  struct gain_config c = {.format = {.rate = RATE, .channels = 0, .bits = 16}};
  assert_int_equal(gain_new(&c, &g), -EINVAL);
  c.format.channels = 9;
  assert_int_equal(gain_new(&c, &g), -EINVAL);
  c.format.channels = 2;
  c.format.bits = 33;
  assert_int_equal(gain_new(&c, &g), -EINVAL);
  c.format.bits = 16;
  c.max_boost_db = -1;
  assert_int_equal(gain_new(&c, &g), -EINVAL);
  c.max_boost_db = NAN;
  assert_int_equal(gain_new(&c, &g), -EINVAL);
  assert_null(g);
  assert_int_equal(gain_new(NULL, &g), -EINVAL);
  c.max_boost_db = 0;
  assert_int_equal(gain_new(&c, &g), 0);
  assert_int_equal(gain_apply(g, NULL, 1), -EINVAL);
  assert_int_equal(gain_apply(g, NULL, 0), 0);
  gain_free(g);
  gain_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_identity_untouched),
      cmocka_unit_test(test_requantise),
      cmocka_unit_test(test_volume_accuracy),
      cmocka_unit_test(test_normalisation),
      cmocka_unit_test(test_no_clipping),
      cmocka_unit_test(test_tpdf_shape),
      cmocka_unit_test(test_dither_output),
      cmocka_unit_test(test_ramp_length),
      cmocka_unit_test(test_bad),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
