/* SPDX-License-Identifier: Apache-2.0 */
/*
 * player/devcaps: the configured capabilities and the output device's probe -> ABR's
 * constraints, and through abr_capability_string() the X-Amzn-Audio-Device-Capability
 * value the daemon sends. Before devcaps the daemon ignored the device (every rate, 32
 * bits) and sent the configured list as it was: each check below fails on that.
 * The ladder for the choices is tests/data/manifest/abr_ladder.mpd (see test_abr.c):
 * hd-192-24, hd-96-24, hd-48-24, hd-44-16 (FLAC), sd-325, sd-197, sd-53 (Opus 48 kHz).
 */
#include "player/devcaps.h"

#include "platform/null/null.h"
#include "platform/output_util.h"
#include "platform/pipe/pipe.h"
#include "tests/unit/manifest_testutil.h"

#define ALL_CAPS (ABR_CAP_STD_RES | ABR_CAP_HI_FI | ABR_CAP_HI_RES)
#define FMT(f) (1u << (f))

static struct output_caps device(uint32_t rate_min, uint32_t rate_max, uint32_t formats) {
  return (struct output_caps){.rate_min = rate_min,
                              .rate_max = rate_max,
                              .channels_min = 1,
                              .channels_max = 2,
                              .formats = formats};
}

/* The header the daemon sends for list + dev (as src/main.c builds it). */
static const char *header(const char *list, const struct output_caps *dev, bool resample) {
  static char buf[ABR_CAPABILITY_MAX];
  struct abr_constraints c;
  int r = devcaps_setup(list, dev, resample, 0, &c, buf, sizeof(buf));
  if (r < 0)
    return amp_strerror(r);
  /* the header is the constraints' own: what ABR may choose is what was asked for */
  char again[ABR_CAPABILITY_MAX];
  assert_int_equal(abr_capability_string(&c, again, sizeof(again)), 0);
  assert_string_equal(again, buf);
  return buf;
}

static void test_parse(void **state) {
  (void)state;
  uint32_t caps = 99;
  assert_int_equal(devcaps_parse("STD_RES,HI_FI", &caps), 0);
  assert_int_equal(caps, ABR_CAP_STD_RES | ABR_CAP_HI_FI);
  assert_int_equal(devcaps_parse("HI_RES", &caps), 0);
  assert_int_equal(caps, ABR_CAP_HI_RES);
  /* spatial capabilities give nothing (no decoder) */
  assert_int_equal(devcaps_parse("THREE_DIMENSIONAL,REAL_AUDIO_360,STD_RES", &caps), 0);
  assert_int_equal(caps, ABR_CAP_STD_RES);
  assert_int_equal(devcaps_parse("", &caps), 0);
  assert_int_equal(caps, 0);
  /* whole names only: strstr() would have found HI_FI in these */
  caps = 7;
  assert_int_equal(devcaps_parse("XHI_FI", &caps), -EINVAL);
  assert_int_equal(devcaps_parse("HI_FIX", &caps), -EINVAL);
  assert_int_equal(devcaps_parse("HI_FI,", &caps), -EINVAL);
  assert_int_equal(caps, 7); /* untouched on failure */
  assert_int_equal(devcaps_parse("HI_FI", NULL), -EINVAL);
}

/* A DAC that tops out at 48 kHz and 16 bits: never HI_RES, whatever is configured. */
static void test_48k_16bit_device(void **state) {
  (void)state;
  struct output_caps dev = device(48000, 48000, FMT(OUTPUT_FMT_S16));
  struct abr_constraints c;
  assert_int_equal(devcaps_constraints(ALL_CAPS, &dev, true, 0, &c), 0);
  assert_int_equal(c.caps, ALL_CAPS);
  assert_int_equal(c.rate_min, 48000);
  assert_int_equal(c.rate_max, 48000);
  assert_int_equal(c.max_bit_depth, 16);
  assert_true(c.can_resample);
  assert_int_equal(c.n_rates, 0);
  /* 16/44.1 may still be switched to within a track (resampled): HI_FI stays */
  assert_string_equal(header("STD_RES,HI_FI,HI_RES", &dev, true), "STD_RES,HI_FI");
  /* without resampling 44.1 kHz is out too */
  assert_string_equal(header("STD_RES,HI_FI,HI_RES", &dev, false), "STD_RES");
}

/* What the configuration leaves out stays out, however capable the device. */
static void test_config_limits_a_capable_device(void **state) {
  (void)state;
  struct output_caps dev = device(8000, 384000, FMT(OUTPUT_FMT_S32) | FMT(OUTPUT_FMT_S16));
  struct abr_constraints c;
  assert_int_equal(devcaps_constraints(ABR_CAP_STD_RES | ABR_CAP_HI_FI, &dev, true, 0, &c), 0);
  assert_int_equal(c.max_bit_depth, 32);
  assert_string_equal(header("STD_RES,HI_FI", &dev, true), "STD_RES,HI_FI");
  assert_string_equal(header("STD_RES,HI_FI,HI_RES", &dev, true), "STD_RES,HI_FI,HI_RES");
  /* never a spatial capability, even configured */
  assert_string_equal(header("THREE_DIMENSIONAL,HI_FI", &dev, true), "HI_FI");
}

/* The depth is the deepest format: S24 and S24_3 are 24 bits. */
static void test_depth_from_formats(void **state) {
  (void)state;
  struct abr_constraints c;
  struct output_caps dev = device(44100, 96000, FMT(OUTPUT_FMT_S24_3));
  assert_int_equal(devcaps_constraints(ALL_CAPS, &dev, false, 0, &c), 0);
  assert_int_equal(c.max_bit_depth, 24);
  assert_string_equal(header("STD_RES,HI_FI,HI_RES", &dev, false), "STD_RES,HI_FI,HI_RES");
  dev.formats = FMT(OUTPUT_FMT_S24) | FMT(OUTPUT_FMT_S16);
  assert_int_equal(devcaps_constraints(ALL_CAPS, &dev, false, 0, &c), 0);
  assert_int_equal(c.max_bit_depth, 24);
  /* a 44.1 kHz-only 16-bit device: Opus only by resampling */
  dev = device(44100, 44100, FMT(OUTPUT_FMT_S16));
  assert_string_equal(header("STD_RES,HI_FI,HI_RES", &dev, false), "HI_FI");
  assert_string_equal(header("STD_RES,HI_FI,HI_RES", &dev, true), "STD_RES,HI_FI");
  /* nothing left: the daemon refuses to start rather than ask for nothing */
  assert_string_equal(header("STD_RES", &dev, false), amp_strerror(-AMP_EUNSUPPORTED));
}

/* A device without a format ampd writes, or without a rate, is no device; no probe
 * (NULL) limits nothing. */
static void test_bad_and_missing_probe(void **state) {
  (void)state;
  struct abr_constraints c = {.caps = 99};
  struct output_caps dev = device(44100, 48000, 0);
  assert_int_equal(devcaps_constraints(ALL_CAPS, &dev, true, 0, &c), -ENODEV);
  dev = device(0, 0, FMT(OUTPUT_FMT_S16));
  assert_int_equal(devcaps_constraints(ALL_CAPS, &dev, true, 0, &c), -ENODEV);
  dev = device(96000, 48000, FMT(OUTPUT_FMT_S16));
  assert_int_equal(devcaps_constraints(ALL_CAPS, &dev, true, 0, &c), -ENODEV);
  assert_int_equal(c.caps, 99); /* untouched */
  assert_int_equal(devcaps_constraints(ALL_CAPS, NULL, true, 0, &c), 0);
  assert_int_equal(c.max_bit_depth, 0);
  assert_int_equal(c.rate_max, 0);
  assert_string_equal(header("STD_RES,HI_FI,HI_RES", NULL, true), "STD_RES,HI_FI,HI_RES");
  assert_int_equal(devcaps_constraints(ALL_CAPS, NULL, true, 0, NULL), -EINVAL);
  char small[8] = "x";
  assert_int_equal(devcaps_setup("STD_RES,HI_FI", NULL, true, 0, &c, small, sizeof(small)),
                   -AMP_ETOOBIG);
  assert_string_equal(small, "x"); /* untouched */
  assert_int_equal(devcaps_setup("BOGUS", NULL, true, 0, &c, small, sizeof(small)), -EINVAL);
}

/* The pipe and null backends' own probes: any rate, the depth of the FMT prefix. */
static void test_pipe_and_null_probes(void **state) {
  (void)state;
  struct output_caps dev;
  assert_int_equal(output_probe(output_null_ops(), "S16:sync", &dev), 0);
  assert_string_equal(header("STD_RES,HI_FI,HI_RES", &dev, true), "STD_RES,HI_FI");
  assert_int_equal(output_probe(output_null_ops(), "sync", &dev), 0);
  assert_string_equal(header("STD_RES,HI_FI,HI_RES", &dev, true), "STD_RES,HI_FI,HI_RES");
  assert_int_equal(output_probe(output_pipe_ops(), "S16:/dev/null", &dev), 0);
  struct abr_constraints c;
  assert_int_equal(devcaps_constraints(ALL_CAPS, &dev, true, 0, &c), 0);
  assert_int_equal(c.max_bit_depth, 16);
  assert_int_equal(c.rate_max, OUTPUT_MAX_RATE);
}

static const char *choose(const struct manifest *m, const struct abr_constraints *c) {
  struct abr *abr = NULL;
  assert_int_equal(abr_new(NULL, &abr), 0);
  for (int i = 0; i < 40; i++) /* 40 MiB at 50 Mbit/s: everything fits */
    assert_int_equal(abr_sample(abr, 1u << 20, 167772), 0);
  const struct manifest_rep *r = NULL;
  int rc = abr_choose(abr, m, NULL, 0, c, &r);
  abr_free(abr);
  if (rc < 0)
    return amp_strerror(rc);
  return r->id;
}

/* ABR within the device: on a plenty fast link, the best rep the device can take. */
static void test_abr_within_the_device(void **state) {
  (void)state;
  struct manifest *m = parse_file("abr_ladder.mpd", AMAZON_ORIGIN);
  struct abr_constraints c;
  struct output_caps dev = device(8000, 192000, FMT(OUTPUT_FMT_S32));
  assert_int_equal(devcaps_constraints(ALL_CAPS, &dev, true, 0, &c), 0);
  assert_string_equal(choose(m, &c), "hd-192-24");
  dev = device(44100, 96000, FMT(OUTPUT_FMT_S24_3));
  assert_int_equal(devcaps_constraints(ALL_CAPS, &dev, true, 0, &c), 0);
  assert_string_equal(choose(m, &c), "hd-96-24");
  /* 48 kHz / 16 bits: no 24-bit FLAC, no 44.1 kHz start: the best Opus */
  dev = device(48000, 48000, FMT(OUTPUT_FMT_S16));
  assert_int_equal(devcaps_constraints(ALL_CAPS, &dev, true, 0, &c), 0);
  assert_string_equal(choose(m, &c), "sd-325");
  /* 16 bits up to 48 kHz: the 16/44.1 FLAC */
  dev = device(44100, 48000, FMT(OUTPUT_FMT_S16));
  assert_int_equal(devcaps_constraints(ALL_CAPS, &dev, true, 0, &c), 0);
  assert_string_equal(choose(m, &c), "hd-44-16");
  manifest_free(m);
}

/* [output] rate = Hz: the device always runs at it, every track resampled to it. */
static void test_fixed_rate(void **state) {
  (void)state;
  struct manifest *m = parse_file("abr_ladder.mpd", AMAZON_ORIGIN);
  struct output_caps dev = device(8000, 192000, FMT(OUTPUT_FMT_S32));
  struct abr_constraints c;
  assert_int_equal(devcaps_constraints(ALL_CAPS, &dev, true, 48000, &c), 0);
  assert_int_equal(c.rate_min, 1);
  assert_int_equal(c.rate_max, 48000);
  assert_string_equal(choose(m, &c), "hd-48-24"); /* not 96 or 192 kHz resampled down */
  /* 44.1 kHz fixed: 48 kHz Opus and FLAC are resampled down to it, not refused */
  assert_int_equal(devcaps_constraints(ALL_CAPS, &dev, true, 44100, &c), 0);
  assert_int_equal(c.rate_max, 48000);
  assert_string_equal(choose(m, &c), "hd-48-24");
  assert_int_equal(devcaps_constraints(ALL_CAPS, &dev, true, 96000, &c), 0);
  assert_string_equal(choose(m, &c), "hd-96-24");
  /* on a 48 kHz-only 16-bit device fixed at 48 kHz the 16/44.1 FLAC can start */
  dev = device(48000, 48000, FMT(OUTPUT_FMT_S16));
  assert_int_equal(devcaps_constraints(ALL_CAPS, &dev, true, 48000, &c), 0);
  assert_string_equal(choose(m, &c), "hd-44-16");
  char buf[ABR_CAPABILITY_MAX];
  assert_int_equal(devcaps_setup("STD_RES,HI_FI,HI_RES", &dev, true, 48000, &c, buf, sizeof(buf)),
                   0);
  assert_string_equal(buf, "STD_RES,HI_FI");
  /* a fixed rate the device does not take */
  assert_int_equal(devcaps_constraints(ALL_CAPS, &dev, true, 96000, &c), -ENODEV);
  manifest_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse),
      cmocka_unit_test(test_48k_16bit_device),
      cmocka_unit_test(test_config_limits_a_capable_device),
      cmocka_unit_test(test_depth_from_formats),
      cmocka_unit_test(test_bad_and_missing_probe),
      cmocka_unit_test(test_pipe_and_null_probes),
      cmocka_unit_test(test_abr_within_the_device),
      cmocka_unit_test(test_fixed_rate),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
