/* SPDX-License-Identifier: Apache-2.0 */
/*
 * media/abr: the throughput estimate, the choice and its hysteresis, the constraints.
 *
 * The ladder is tests/data/manifest/abr_ladder.mpd (the Amazon shape of amazon.mpd with
 * more HD rates, an AAC set and a spatial set), best first:
 *   hd-192-24 7.5M, hd-96-24 3.9M, hd-48-24 2.1M, hd-44-16 1.105M (FLAC, set 1, HD)
 *   sd-325 325k, sd-197 197k, sd-53 53k (Opus 48 kHz, set 2, SD)
 *   ld-aac (no decoder), 3d-ec3 and 3d-mha1 (spatial; set 1 names set 4 as a target).
 * With the defaults a rep fits when bandwidth <= 0.8 x estimate, and a step up needs
 * bandwidth <= 0.64 x estimate (0.8 / 1.25).
 */
#include "media/abr.h"

#include "tests/unit/manifest_testutil.h"

#define ALL_CAPS (ABR_CAP_STD_RES | ABR_CAP_HI_FI | ABR_CAP_HI_RES)
#define SEG_MS 10000u

struct fixture {
  struct manifest *m;
  struct abr *abr;
};

static int setup(void **state) {
  struct fixture *f = calloc(1, sizeof(*f));
  assert_non_null(f);
  f->m = parse_file("abr_ladder.mpd", AMAZON_ORIGIN);
  assert_int_equal(abr_new(NULL, &f->abr), 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fixture *f = *state;
  abr_free(f->abr);
  manifest_free(f->m);
  free(f);
  return 0;
}

static const struct manifest_rep *rep(const struct manifest *m, const char *id) {
  const struct manifest_rep *r = manifest_find_rep(m, id);
  assert_non_null(r);
  return r;
}

/* Samples that bring the estimate to bps: transfers of 1 MiB at that rate, enough of
 * them (in transfer time) for both EWMAs to forget what came before. */
static void settle(struct abr *abr, uint64_t bps) {
  uint64_t bytes = 1u << 20;
  uint64_t usec = bytes * 8 * 1000000 / bps;
  uint64_t n = 200000000 / usec + 2; /* 200 s of transfer: 13 slow half-lives */
  for (uint64_t i = 0; i < n; i++)
    assert_int_equal(abr_sample(abr, bytes, usec), 0);
}

/* A new state (no history of answers) at estimate bps. */
static void restart(struct fixture *f, uint64_t bps) {
  abr_free(f->abr);
  f->abr = NULL;
  assert_int_equal(abr_new(NULL, &f->abr), 0);
  settle(f->abr, bps);
}

static void assert_near(uint64_t got, uint64_t want, double tolerance) {
  double d = (double)got - (double)want;
  if (d < 0)
    d = -d;
  if (d > tolerance * (double)want)
    fail_msg("got %llu, want %llu +- %.1f%%", (unsigned long long)got, (unsigned long long)want,
             tolerance * 100);
}

static const char *choose_id(struct fixture *f, const struct manifest_rep *cur, uint32_t buffer_ms,
                             const struct abr_constraints *c) {
  const struct manifest_rep *r = NULL;
  int rc = abr_choose(f->abr, f->m, cur, buffer_ms, c, &r);
  if (rc != 0)
    fail_msg("abr_choose: %s", amp_strerror(rc));
  assert_non_null(r);
  return r->id;
}

/* ---- the estimate ---- */

static void test_estimate_initial_and_first_sample(void **state) {
  (void)state;
  struct abr_config cfg;
  abr_config_default(&cfg);
  cfg.initial_bps = 1234567;
  struct abr *abr = NULL;
  assert_int_equal(abr_new(&cfg, &abr), 0);
  assert_int_equal(abr_estimate_bps(abr), 1234567);
  assert_int_equal(abr_sample_count(abr), 0);
  /* One sample is the estimate: the EWMAs start at 0 and are corrected for it. */
  assert_int_equal(abr_sample(abr, 125000, 1000000), 0); /* 1 Mbit/s */
  assert_int_equal(abr_sample_count(abr), 1);
  assert_near(abr_estimate_bps(abr), 1000000, 0.001);
  abr_free(abr);
}

static void test_estimate_converges_and_takes_the_lower(void **state) {
  struct fixture *f = *state;
  settle(f->abr, 5000000);
  assert_near(abr_estimate_bps(f->abr), 5000000, 0.01);

  /* A drop: one 16 s transfer at 1 Mbit/s. The fast EWMA (5 s) is at ~1.4M, the slow one
   * (15 s) still at ~2.9M: the estimate is the lower. */
  assert_int_equal(abr_sample(f->abr, 2000000, 16000000), 0);
  uint64_t e = abr_estimate_bps(f->abr);
  assert_true(e < 1600000);
  assert_true(e > 1000000);

  /* A burst: one 0.2 s transfer at 10 Mbit/s barely moves either (fast: ~1.67M). */
  assert_int_equal(abr_sample(f->abr, 250000, 200000), 0);
  assert_true(abr_estimate_bps(f->abr) < 1800000);

  /* Sustained speed: it converges. */
  settle(f->abr, 10000000);
  assert_near(abr_estimate_bps(f->abr), 10000000, 0.01);
}

/* Weighted by time: a transfer fed as bursts at the same rate counts as the whole. */
static void test_estimate_bursts_weigh_as_the_whole(void **state) {
  (void)state;
  struct abr *a = NULL, *b = NULL;
  assert_int_equal(abr_new(NULL, &a), 0);
  assert_int_equal(abr_new(NULL, &b), 0);
  settle(a, 5000000);
  settle(b, 5000000);
  assert_int_equal(abr_sample(a, 2000000, 16000000), 0); /* 1 Mbit/s for 16 s */
  for (int i = 0; i < 16; i++)
    assert_int_equal(abr_sample(b, 125000, 1000000), 0); /* the same, in 16 bursts */
  assert_near(abr_estimate_bps(b), abr_estimate_bps(a), 0.0001);
  assert_true(abr_estimate_bps(a) < 2000000); /* and it moved */
  abr_free(a);
  abr_free(b);
}

static void test_estimate_tiny_transfers(void **state) {
  struct fixture *f = *state;
  /* Under 32 KiB: ignored, however fast. */
  assert_int_equal(abr_sample(f->abr, ABR_MIN_SAMPLE_BYTES - 1, 1), 0);
  assert_int_equal(abr_sample(f->abr, ABR_MIN_SAMPLE_BYTES - 1, 10000000), 0);
  assert_int_equal(abr_sample_count(f->abr), 0);
  assert_int_equal(abr_estimate_bps(f->abr), 2000000);
  /* 32 KiB in 0 us counts as 20 ms: 32768 x 8 / 0.02 = 13 107 200 bit/s, not infinity. */
  assert_int_equal(abr_sample(f->abr, ABR_MIN_SAMPLE_BYTES, 0), 0);
  assert_int_equal(abr_sample_count(f->abr), 1);
  assert_near(abr_estimate_bps(f->abr), 13107200, 0.001);
  /* And in 19 ms the same. */
  assert_int_equal(abr_sample(f->abr, ABR_MIN_SAMPLE_BYTES, 19000), 0);
  assert_near(abr_estimate_bps(f->abr), 13107200, 0.001);
  assert_int_equal(abr_sample(NULL, 1u << 20, 1000), -EINVAL);
}

/* ---- the choice ---- */

static const struct abr_constraints ANY = {.caps = ALL_CAPS};

static void test_start_by_estimate(void **state) {
  struct fixture *f = *state;
  /* The initial 2 Mbit/s sustains 1.6M: 16/44.1 FLAC. */
  assert_string_equal(choose_id(f, NULL, 0, &ANY), "hd-44-16");
  settle(f->abr, 20000000);
  assert_string_equal(choose_id(f, NULL, 0, &ANY), "hd-192-24");
  settle(f->abr, 500000);
  assert_string_equal(choose_id(f, NULL, 0, &ANY), "sd-325");
  /* Nothing fits: the cheapest. */
  settle(f->abr, 30000);
  assert_string_equal(choose_id(f, NULL, 0, &ANY), "sd-53");
}

static void test_start_after_a_step_down_needs_the_margin(void **state) {
  struct fixture *f = *state;
  settle(f->abr, 3000000); /* sustains 2.4M: hd-48-24 */
  assert_string_equal(choose_id(f, NULL, 0, &ANY), "hd-48-24");
  settle(f->abr, 1000000); /* the link drops: Opus */
  const struct manifest_rep *cur = rep(f->m, "hd-48-24");
  assert_string_equal(choose_id(f, cur, 20000, &ANY), "sd-325");
  /* It comes back to 1.5M: 16/44.1 would fit (1.2M), but the next track starts above the
   * last answer only with the margin (0.96M): it stays on Opus. */
  settle(f->abr, 1500000);
  assert_string_equal(choose_id(f, NULL, 0, &ANY), "sd-325");
  settle(f->abr, 1800000); /* 1.152M with the margin */
  assert_string_equal(choose_id(f, NULL, 0, &ANY), "hd-44-16");
}

static void test_step_down_and_low_water(void **state) {
  struct fixture *f = *state;
  settle(f->abr, 20000000);
  const struct manifest_rep *r96 = rep(f->m, "hd-96-24");
  /* Fits, buffer fine: stays. */
  assert_string_equal(choose_id(f, r96, 12000, &ANY), "hd-96-24");
  /* Buffer below the low-water mark: one rung down, though the estimate is fine. */
  assert_string_equal(choose_id(f, r96, 4999, &ANY), "hd-48-24");
  /* 4.5M: 3.9M is within the estimate but not within 0.8 of it. A full buffer (at the
   * high-water mark) rides that out; under it the rep steps down. */
  settle(f->abr, 4500000);
  assert_string_equal(choose_id(f, r96, 15000, &ANY), "hd-96-24");
  assert_string_equal(choose_id(f, r96, 14999, &ANY), "hd-48-24");
  /* Under 3.9M even a full buffer drains: down. */
  settle(f->abr, 3800000);
  assert_string_equal(choose_id(f, r96, 20000, &ANY), "hd-48-24");
  /* The estimate falls under 3.9M / 0.8: straight to the best that fits. */
  settle(f->abr, 2000000); /* sustains 1.6M */
  assert_string_equal(choose_id(f, r96, 12000, &ANY), "hd-44-16");
  /* Below every FLAC rate: across the sets to Opus (switch target). */
  settle(f->abr, 800000);
  assert_string_equal(choose_id(f, r96, 12000, &ANY), "sd-325");
  /* Both: the estimate's pick (sd-325) and the buffer's (hd-48-24): the lower. */
  assert_string_equal(choose_id(f, r96, 1000, &ANY), "sd-325");
  /* Low buffer on the cheapest rep: nowhere to go. */
  assert_string_equal(choose_id(f, rep(f->m, "sd-53"), 0, &ANY), "sd-53");
}

static void test_step_up_gates(void **state) {
  struct fixture *f = *state;
  assert_string_equal(choose_id(f, NULL, 0, &ANY), "hd-44-16");
  const struct manifest_rep *cur = rep(f->m, "hd-44-16");
  settle(f->abr, 10000000); /* up to bandwidth <= 6.4M: hd-96-24 (not 192-24, 7.5M) */
  /* Two segments at the rep: not yet. */
  assert_string_equal(choose_id(f, cur, 20000, &ANY), "hd-44-16");
  assert_string_equal(choose_id(f, cur, 20000, &ANY), "hd-44-16");
  /* The third, but the buffer is under the high-water mark: no. */
  assert_string_equal(choose_id(f, cur, 14999, &ANY), "hd-44-16");
  /* The fourth with the buffer there: up, past the rung between, to the best with the
   * margin. */
  assert_string_equal(choose_id(f, cur, 15000, &ANY), "hd-96-24");
  /* Right after the switch the count starts again. */
  cur = rep(f->m, "hd-96-24");
  settle(f->abr, 20000000);
  assert_string_equal(choose_id(f, cur, 20000, &ANY), "hd-96-24");
  assert_string_equal(choose_id(f, cur, 20000, &ANY), "hd-96-24");
  assert_string_equal(choose_id(f, cur, 20000, &ANY), "hd-192-24");
}

static void test_up_needs_the_margin(void **state) {
  struct fixture *f = *state;
  settle(f->abr, 800000);
  assert_string_equal(choose_id(f, NULL, 0, &ANY), "sd-325");
  const struct manifest_rep *cur = rep(f->m, "sd-325");
  /* 1.5 Mbit/s: 16/44.1 (1.105M) fits (1.2M sustainable) but not with the margin
   * (0.96M): no step up however long. */
  settle(f->abr, 1500000);
  for (int i = 0; i < 10; i++)
    assert_string_equal(choose_id(f, cur, 20000, &ANY), "sd-325");
  /* 1.8 Mbit/s: 1.152M with the margin: up across the sets to FLAC. */
  settle(f->abr, 1800000);
  assert_string_equal(choose_id(f, cur, 20000, &ANY), "hd-44-16");
}

/* ---- constraints ---- */

static void test_constraints(void **state) {
  struct fixture *f = *state;
  static const uint32_t only48[] = {48000};
  struct abr_constraints c48 = {.caps = ALL_CAPS, .rates = only48, .n_rates = 1};
  /* 1.5M sustains 1.2M: 16/44.1 would fit, but the device only takes 48 kHz. (Each check
   * on a new state: a start above the last answer would need the up margin.) */
  restart(f, 1500000);
  assert_string_equal(choose_id(f, NULL, 0, &ANY), "hd-44-16");
  restart(f, 1500000);
  assert_string_equal(choose_id(f, NULL, 0, &c48), "sd-325");
  /* Resampling is for a switch within a track (the device stays open at its rate): a
   * track still starts on a rate the device takes, and a switch may go to 16/44.1. */
  c48.can_resample = true;
  restart(f, 2000000); /* sustains 1.6M; a step up 1.28M */
  assert_string_equal(choose_id(f, NULL, 0, &c48), "sd-325");
  assert_int_equal(abr_rep_usable(rep(f->m, "hd-44-16"), &c48), ABR_RATE);
  const struct manifest_rep *cur = rep(f->m, "sd-325");
  for (int i = 0; i < 3; i++) /* the up gate: 3 segments at the rep, a full buffer */
    cur = rep(f->m, choose_id(f, cur, 20000, &c48));
  assert_string_equal(cur->id, "hd-44-16");
  c48.can_resample = false;
  restart(f, 2000000);
  cur = rep(f->m, "sd-325");
  for (int i = 0; i < 3; i++)
    cur = rep(f->m, choose_id(f, cur, 20000, &c48));
  assert_string_equal(cur->id, "sd-325"); /* without resampling: never 44.1 kHz */
  /* Never resampled: a hi-res rate the device does not take, however fast the link. */
  c48.can_resample = true;
  restart(f, 50000000);
  cur = rep(f->m, "hd-48-24");
  for (int i = 0; i < 4; i++)
    cur = rep(f->m, choose_id(f, cur, 20000, &c48));
  assert_string_equal(cur->id, "hd-48-24");
  c48.can_resample = false;
  /* Plenty of bandwidth: the 48 kHz FLAC, not the 192 or 96. */
  restart(f, 50000000);
  assert_string_equal(choose_id(f, NULL, 0, &c48), "hd-48-24");

  /* HI_FI only: never 24-bit, however fast the link. */
  struct abr_constraints hifi = {.caps = ABR_CAP_HI_FI | ABR_CAP_STD_RES};
  restart(f, 50000000);
  assert_string_equal(choose_id(f, NULL, 0, &hifi), "hd-44-16");
  assert_string_equal(choose_id(f, rep(f->m, "hd-44-16"), 20000, &hifi), "hd-44-16");
  /* HI_RES on a 16-bit device: the same. */
  struct abr_constraints d16 = {.caps = ALL_CAPS, .max_bit_depth = 16};
  restart(f, 50000000);
  assert_string_equal(choose_id(f, NULL, 0, &d16), "hd-44-16");
  /* A rate range. */
  struct abr_constraints range = {.caps = ALL_CAPS, .rate_min = 44100, .rate_max = 96000};
  restart(f, 50000000);
  assert_string_equal(choose_id(f, NULL, 0, &range), "hd-96-24");
  /* STD_RES only: Opus, the best of it. */
  struct abr_constraints std = {.caps = ABR_CAP_STD_RES};
  assert_string_equal(choose_id(f, NULL, 0, &std), "sd-325");
  /* A current rep the constraints now refuse: a fresh start within them. */
  restart(f, 50000000);
  assert_string_equal(choose_id(f, rep(f->m, "hd-192-24"), 20000, &hifi), "hd-44-16");

  /* Why each is refused. */
  assert_int_equal(abr_rep_usable(rep(f->m, "3d-ec3"), &ANY), ABR_SPATIAL);
  assert_int_equal(abr_rep_usable(rep(f->m, "3d-mha1"), &ANY), ABR_SPATIAL);
  assert_int_equal(abr_rep_usable(rep(f->m, "ld-aac"), &ANY), ABR_NO_DECODER);
  assert_int_equal(abr_rep_usable(rep(f->m, "hd-96-24"), &hifi), ABR_CAPABILITY);
  assert_int_equal(abr_rep_usable(rep(f->m, "hd-44-16"), &hifi), ABR_USABLE);
  assert_int_equal(abr_rep_usable(rep(f->m, "sd-53"), &d16), ABR_USABLE); /* Opus: no depth */
  assert_int_equal(abr_rep_usable(rep(f->m, "hd-44-16"), &c48), ABR_RATE);
  assert_int_equal(abr_rep_usable(rep(f->m, "hd-96-24"), &d16), ABR_DEPTH);
  assert_int_equal(abr_rep_usable(rep(f->m, "hd-192-24"), &range), ABR_RATE);
  assert_string_equal(abr_verdict_name(ABR_SPATIAL), "spatial");
}

static void test_spatial_never_chosen(void **state) {
  struct fixture *f = *state;
  /* HI_FI only on a 48 kHz-only device: no Opus (capability), no 16/44.1 (rate), no
   * 24-bit FLAC (capability): what is left at 48 kHz is the spatial set, never chosen. */
  static const uint32_t only48[] = {48000};
  struct abr_constraints c = {.caps = ABR_CAP_HI_FI, .rates = only48, .n_rates = 1};
  const struct manifest_rep *r = (const struct manifest_rep *)1;
  assert_int_equal(abr_choose(f->abr, f->m, NULL, 0, &c, &r), -AMP_EUNSUPPORTED);
  assert_ptr_equal(r, (const struct manifest_rep *)1); /* untouched on failure */
  /* A manifest of spatial sets only. */
  char *xml =
      mpd1("", "", "", "id=\"a\" bandwidth=\"768000\" codecs=\"ec-3\" audioSamplingRate=\"48000\"",
           CDN_BASE SEGS);
  struct manifest *m = parse_ok(xml, AMAZON_ORIGIN);
  free(xml);
  assert_int_equal(abr_choose(f->abr, m, NULL, 0, &ANY, &r), -AMP_EUNSUPPORTED);
  /* A set of trackType 3D in a codec ampd decodes is spatial too. */
  xml = mpd1("xmlns:amz-music=\"urn:amazon:music:3p:music:2020\"", "",
             "<SupplementalProperty schemeIdUri=\"amz-music:trackType\" value=\"3D\"/>",
             "id=\"b\" bandwidth=\"1000000\" codecs=\"flac\" audioSamplingRate=\"48000\" "
             "amz-music:bitDepth=\"16\"",
             CDN_BASE SEGS);
  struct manifest *m3 = parse_ok(xml, AMAZON_ORIGIN);
  free(xml);
  assert_int_equal(abr_rep_usable(manifest_find_rep(m3, "b"), &ANY), ABR_SPATIAL);
  assert_int_equal(abr_choose(f->abr, m3, NULL, 0, &ANY, &r), -AMP_EUNSUPPORTED);
  manifest_free(m3);
  manifest_free(m);
}

static void test_no_usable_rep_and_bad_args(void **state) {
  struct fixture *f = *state;
  const struct manifest_rep *r = NULL;
  struct abr_constraints none = {.caps = 0};
  assert_int_equal(abr_choose(f->abr, f->m, NULL, 0, &none, &r), -AMP_EUNSUPPORTED);
  static const uint32_t only441[] = {44100};
  struct abr_constraints opus441 = {.caps = ABR_CAP_STD_RES, .rates = only441, .n_rates = 1};
  assert_int_equal(abr_choose(f->abr, f->m, NULL, 0, &opus441, &r), -AMP_EUNSUPPORTED);
  assert_null(r);

  uint32_t many[ABR_MAX_RATES + 1] = {48000};
  struct abr_constraints too_many = {.caps = ALL_CAPS, .rates = many, .n_rates = ABR_MAX_RATES + 1};
  assert_int_equal(abr_choose(f->abr, f->m, NULL, 0, &too_many, &r), -EINVAL);
  struct abr_constraints no_list = {.caps = ALL_CAPS, .n_rates = 1};
  assert_int_equal(abr_choose(f->abr, f->m, NULL, 0, &no_list, &r), -EINVAL);
  assert_int_equal(abr_choose(NULL, f->m, NULL, 0, &ANY, &r), -EINVAL);
  assert_int_equal(abr_choose(f->abr, NULL, NULL, 0, &ANY, &r), -EINVAL);
  assert_int_equal(abr_choose(f->abr, f->m, NULL, 0, NULL, &r), -EINVAL);
  assert_int_equal(abr_choose(f->abr, f->m, NULL, 0, &ANY, NULL), -EINVAL);
  /* A rep of another manifest. */
  struct manifest *other = parse_file("amazon.mpd", AMAZON_ORIGIN);
  assert_int_equal(abr_choose(f->abr, f->m, rep(other, "hd-44-16"), 0, &ANY, &r), -EINVAL);
  manifest_free(other);
  assert_null(r);

  struct abr_config cfg;
  struct abr *a = NULL;
  abr_config_default(&cfg);
  cfg.up_margin_pct = 99;
  assert_int_equal(abr_new(&cfg, &a), -EINVAL);
  abr_config_default(&cfg);
  cfg.high_water_ms = cfg.low_water_ms - 1;
  assert_int_equal(abr_new(&cfg, &a), -EINVAL);
  abr_config_default(&cfg);
  cfg.safety_pct = 101;
  assert_int_equal(abr_new(&cfg, &a), -EINVAL);
  abr_config_default(&cfg);
  cfg.fast_half_life_ms = 0;
  assert_int_equal(abr_new(&cfg, &a), -EINVAL);
  assert_null(a);
  abr_free(NULL);
}

static void test_capability_string(void **state) {
  (void)state;
  char buf[ABR_CAPABILITY_MAX];
  assert_int_equal(abr_capability_string(&ANY, buf, sizeof(buf)), 0);
  assert_string_equal(buf, "STD_RES,HI_FI,HI_RES");
  assert_true(strlen(buf) < ABR_CAPABILITY_MAX);
  struct abr_constraints c = {.caps = ABR_CAP_HI_FI};
  assert_int_equal(abr_capability_string(&c, buf, sizeof(buf)), 0);
  assert_string_equal(buf, "HI_FI");
  c = (struct abr_constraints){.caps = ALL_CAPS, .max_bit_depth = 16};
  assert_int_equal(abr_capability_string(&c, buf, sizeof(buf)), 0);
  assert_string_equal(buf, "STD_RES,HI_FI");
  static const uint32_t only48[] = {48000};
  c = (struct abr_constraints){.caps = ALL_CAPS, .rates = only48, .n_rates = 1};
  assert_int_equal(abr_capability_string(&c, buf, sizeof(buf)), 0);
  assert_string_equal(buf, "STD_RES,HI_RES"); /* HI_FI is 44.1 kHz */
  c.can_resample = true;                      /* 16/44.1 can be switched to, resampled */
  assert_int_equal(abr_capability_string(&c, buf, sizeof(buf)), 0);
  assert_string_equal(buf, "STD_RES,HI_FI,HI_RES");
  /* A 44.1 kHz-only 16-bit device: Opus only resampled, never HI_RES. */
  static const uint32_t only44[] = {44100};
  c = (struct abr_constraints){
      .caps = ALL_CAPS, .rates = only44, .n_rates = 1, .max_bit_depth = 16};
  assert_int_equal(abr_capability_string(&c, buf, sizeof(buf)), 0);
  assert_string_equal(buf, "HI_FI");
  c.can_resample = true;
  assert_int_equal(abr_capability_string(&c, buf, sizeof(buf)), 0);
  assert_string_equal(buf, "STD_RES,HI_FI");
  /* Resampling never makes HI_RES: a 24-bit device at 32 kHz only. */
  static const uint32_t only32[] = {32000};
  c = (struct abr_constraints){
      .caps = ALL_CAPS, .rates = only32, .n_rates = 1, .max_bit_depth = 24, .can_resample = true};
  assert_int_equal(abr_capability_string(&c, buf, sizeof(buf)), 0);
  assert_string_equal(buf, "STD_RES,HI_FI");
  c = (struct abr_constraints){.caps = ABR_CAP_STD_RES | ABR_CAP_HI_RES, .rate_max = 44100};
  assert_int_equal(abr_capability_string(&c, buf, sizeof(buf)), 0);
  assert_string_equal(buf, "HI_FI,HI_RES"); /* HI_RES implies HI_FI; no 48 kHz: no Opus */
  assert_int_equal(abr_capability_string(&ANY, buf, 20), -AMP_ETOOBIG);
  assert_string_equal(buf, "");
  c = (struct abr_constraints){.caps = 0};
  assert_int_equal(abr_capability_string(&c, buf, sizeof(buf)), -AMP_EUNSUPPORTED);
  assert_int_equal(abr_capability_string(NULL, buf, sizeof(buf)), -EINVAL);
}

/* ---- a simulated session ---- */

/* A fetcher and a player, crudely: each segment is fetched at the trace's rate while the
 * buffer plays out; the next fetch starts when there is room for a segment under a 30 s
 * target (so the buffer is at most 20 s when a segment is chosen). */
struct sim {
  const struct manifest_rep *cur;
  uint32_t buffer_ms;
  unsigned underruns;
  unsigned switches;
  unsigned ups;
  int last_switch; /* segment index, -1000 before any */
  bool ups_too_close;
};

static bool is_opus(const struct manifest_rep *r) {
  return strcmp(r->codecs, "opus") == 0;
}

static void sim_segment(struct fixture *f, struct sim *s, int k, uint64_t link_bps,
                        const struct abr_constraints *c, uint32_t up_min) {
  const struct manifest_rep *r = NULL;
  assert_int_equal(abr_choose(f->abr, f->m, s->cur, s->buffer_ms, c, &r), 0);
  if (s->cur && r != s->cur) {
    s->switches++;
    if (r->bandwidth > s->cur->bandwidth) {
      s->ups++;
      if (k - s->last_switch < (int)up_min)
        s->ups_too_close = true;
    }
    s->last_switch = k;
  }
  s->cur = r;
  const struct manifest_segment *seg = &r->segments[0];
  uint64_t bytes = seg->last - seg->first + 1;
  uint64_t usec = bytes * 8 * 1000000 / link_bps;
  uint64_t ms = usec / 1000;
  if (ms > s->buffer_ms) {
    if (k > 0)
      s->underruns++;
    s->buffer_ms = 0;
  } else {
    s->buffer_ms -= (uint32_t)ms;
  }
  s->buffer_ms += SEG_MS;
  if (s->buffer_ms > 20000)
    s->buffer_ms = 20000; /* waits, playing, until a segment fits under 30 s */
  assert_int_equal(abr_sample(f->abr, bytes, usec), 0);
}

static void test_session_steps_down_to_opus_and_back(void **state) {
  struct fixture *f = *state;
  struct sim s = {.last_switch = -1000};
  int k = 0;
  for (; k < 20; k++)
    sim_segment(f, &s, k, 10000000, &ANY, 3);
  assert_string_equal(s.cur->id, "hd-96-24"); /* 10M: 3.9M fits with the margin, 7.5M not */
  unsigned under_before = s.underruns;
  assert_int_equal(under_before, 0);

  /* 800 kbit/s, below the lowest FLAC rate (1.105M): Opus within two segments, and it
   * stays there. The segment in flight when the link fell may run the buffer dry (it is
   * not abandoned); none after it. */
  int opus_at = -1;
  for (; k < 50; k++) {
    sim_segment(f, &s, k, 800000, &ANY, 3);
    if (opus_at < 0 && is_opus(s.cur))
      opus_at = k;
    if (opus_at >= 0)
      assert_true(is_opus(s.cur));
  }
  assert_true(opus_at >= 20 && opus_at <= 21);
  assert_string_equal(s.cur->id, "sd-325");
  assert_true(s.underruns - under_before <= 1);
  unsigned under_drop = s.underruns;

  /* The link comes back: FLAC again within a few segments, and the best the margin allows. */
  int flac_at = -1;
  for (; k < 80; k++) {
    sim_segment(f, &s, k, 10000000, &ANY, 3);
    if (flac_at < 0 && !is_opus(s.cur))
      flac_at = k;
  }
  assert_true(flac_at >= 50 && flac_at <= 60);
  assert_string_equal(s.cur->id, "hd-96-24");
  assert_int_equal(s.underruns, under_drop);
  assert_false(s.ups_too_close);
}

/* A deterministic generator (the test must not depend on the libc's rand()). */
static uint32_t lcg(uint64_t *x) {
  *x = *x * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(*x >> 33);
}

/* 300 segments of a link at 6 Mbit/s +- 50 %, uniformly: around the point where hd-96-24
 * (3.9M) stops fitting (4.9M) and where it may be stepped up to (6.1M). */
static unsigned noisy_switches(struct fixture *f, const struct abr_config *cfg, struct sim *s) {
  abr_free(f->abr);
  f->abr = NULL;
  assert_int_equal(abr_new(cfg, &f->abr), 0);
  *s = (struct sim){.last_switch = -1000};
  uint64_t x = 42;
  for (int k = 0; k < 300; k++) {
    uint64_t bps = 3000000 + (uint64_t)lcg(&x) % 6000001u;
    sim_segment(f, s, k, bps, &ANY, cfg->up_min_segments);
  }
  return s->switches;
}

static void test_session_noisy_trace_is_bounded(void **state) {
  struct fixture *f = *state;
  struct abr_config cfg;
  struct sim s;
  abr_config_default(&cfg);
  unsigned with = noisy_switches(f, &cfg, &s);
  assert_false(s.ups_too_close);
  assert_int_equal(s.underruns, 0);
  print_message("noisy trace: %u switches with the hysteresis\n", with);
  /* Each step up waits 3 segments (at most 150 switches in 300) and needs the margin; a
   * full buffer rides out a dip. At most one switch per 15 segments (2.5 min) on average. */
  assert_true(with <= 20);

  /* The same trace without hysteresis (no margin, no gates) switches far more: the bound
   * above is one the rules keep, not one any policy would. */
  cfg.safety_pct = 100;
  cfg.up_margin_pct = 100;
  cfg.up_min_segments = 0;
  cfg.low_water_ms = 0;
  cfg.high_water_ms = 0;
  unsigned without = noisy_switches(f, &cfg, &s);
  print_message("noisy trace: %u switches without\n", without);
  assert_true(without > 2 * with);
}

/* ---- property: random traces never choose a constrained-out rep ---- */

/* The rules of struct abr_constraints, written again from the header; switching: within a
 * track (a current rep), where can_resample admits rates up to ABR_RESAMPLE_MAX_RATE. */
static bool allowed(const struct manifest_rep *r, const struct abr_constraints *c, bool switching) {
  if (!r->codecs)
    return false;
  if (r->set->track_type && strcmp(r->set->track_type, "3D") == 0)
    return false;
  bool opus = strcmp(r->codecs, "opus") == 0, flac = strcmp(r->codecs, "flac") == 0;
  if (!opus && !flac)
    return false;
  if (opus && !(c->caps & ABR_CAP_STD_RES))
    return false;
  if (flac) {
    uint32_t depth = r->bit_depth ? r->bit_depth : 24;
    bool hifi = depth <= 16 && r->sample_rate <= 48000;
    if (hifi && !(c->caps & (ABR_CAP_HI_FI | ABR_CAP_HI_RES)))
      return false;
    if (!hifi && (!(c->caps & ABR_CAP_HI_RES) || r->sample_rate > 192000))
      return false;
    if (c->max_bit_depth && depth > c->max_bit_depth)
      return false;
  }
  if (switching && c->can_resample && r->sample_rate && r->sample_rate <= 48000)
    return true;
  if (!r->sample_rate)
    return false;
  if (c->n_rates) {
    for (size_t i = 0; i < c->n_rates; i++)
      if (c->rates[i] == r->sample_rate)
        return true;
    return false;
  }
  return r->sample_rate >= c->rate_min && (!c->rate_max || r->sample_rate <= c->rate_max);
}

static void test_property_random_traces(void **state) {
  struct fixture *f = *state;
  static const uint32_t rate_pool[] = {44100, 48000, 88200, 96000, 192000};
  static const uint32_t depth_pool[] = {0, 16, 24, 32};
  size_t n_sets = 0;
  const struct manifest_set *sets = manifest_adaptation_sets(f->m, &n_sets);
  const struct manifest_rep *all[64];
  size_t n_all = 0;
  for (size_t i = 0; i < n_sets; i++)
    for (size_t j = 0; j < sets[i].n_reps; j++)
      all[n_all++] = &sets[i].reps[j];
  assert_int_equal(n_all, 10);

  uint64_t x = 7;
  unsigned chosen_per_rep[64] = {0}, unsupported = 0;
  for (int trial = 0; trial < 400; trial++) {
    uint32_t rates[ABR_MAX_RATES];
    struct abr_constraints c = {.caps = lcg(&x) & 7u, .rates = rates};
    switch (lcg(&x) % 3) {
    case 0: /* a list */
      c.n_rates = lcg(&x) % 4;
      for (size_t i = 0; i < c.n_rates; i++)
        rates[i] = rate_pool[lcg(&x) % 5];
      break;
    case 1: /* a range */
      c.rate_min = rate_pool[lcg(&x) % 5];
      c.rate_max = lcg(&x) % 2 ? 0 : c.rate_min + lcg(&x) % 150000;
      break;
    default:
      break;
    }
    c.max_bit_depth = depth_pool[lcg(&x) % 4];
    c.can_resample = lcg(&x) % 4 == 0;
    bool any = false; /* a track can start */
    for (size_t i = 0; i < n_all; i++)
      any = any || allowed(all[i], &c, false);

    const struct manifest_rep *cur = NULL;
    for (int seg = 0; seg < 30; seg++) {
      for (int n = (int)(lcg(&x) % 3); n > 0; n--)
        assert_int_equal(abr_sample(f->abr, lcg(&x) % (4u << 20), lcg(&x) % 20000000u), 0);
      uint32_t buffer = lcg(&x) % 30001u;
      const struct manifest_rep *in = cur;
      if (lcg(&x) % 8 == 0)
        in = lcg(&x) % 2 ? NULL : all[lcg(&x) % n_all]; /* a seek, or a rep of any kind */
      const struct manifest_rep *r = NULL;
      int rc = abr_choose(f->abr, f->m, in, buffer, &c, &r);
      bool switching = in && allowed(in, &c, true); /* else it is a start */
      if (!any && !switching) {
        assert_int_equal(rc, -AMP_EUNSUPPORTED);
        unsupported++;
        break;
      }
      assert_int_equal(rc, 0);
      if (!allowed(r, &c, switching))
        fail_msg("trial %d: chose %s, which the constraints refuse", trial, r->id);
      if (switching) {
        /* within the current set and its switch targets */
        bool reach = r->set == in->set;
        for (size_t i = 0; i < in->set->n_switch_targets; i++)
          reach = reach || in->set->switch_targets[i] == r->set;
        assert_true(reach);
      }
      for (size_t i = 0; i < n_all; i++)
        if (all[i] == r)
          chosen_per_rep[i]++;
      cur = r;
    }
  }
  /* The property is not vacuous: refusals happened, and every usable rep was chosen. */
  assert_true(unsupported > 0);
  for (size_t i = 0; i < n_all; i++) {
    bool playable = strcmp(all[i]->codecs, "opus") == 0 || strcmp(all[i]->codecs, "flac") == 0;
    if (playable && !chosen_per_rep[i])
      fail_msg("%s never chosen", all[i]->id);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_estimate_initial_and_first_sample),
      cmocka_unit_test_setup_teardown(test_estimate_converges_and_takes_the_lower, setup, teardown),
      cmocka_unit_test(test_estimate_bursts_weigh_as_the_whole),
      cmocka_unit_test_setup_teardown(test_estimate_tiny_transfers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_start_by_estimate, setup, teardown),
      cmocka_unit_test_setup_teardown(test_start_after_a_step_down_needs_the_margin, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_step_down_and_low_water, setup, teardown),
      cmocka_unit_test_setup_teardown(test_step_up_gates, setup, teardown),
      cmocka_unit_test_setup_teardown(test_up_needs_the_margin, setup, teardown),
      cmocka_unit_test_setup_teardown(test_constraints, setup, teardown),
      cmocka_unit_test_setup_teardown(test_spatial_never_chosen, setup, teardown),
      cmocka_unit_test_setup_teardown(test_no_usable_rep_and_bad_args, setup, teardown),
      cmocka_unit_test(test_capability_string),
      cmocka_unit_test_setup_teardown(test_session_steps_down_to_opus_and_back, setup, teardown),
      cmocka_unit_test_setup_teardown(test_session_noisy_trace_is_bounded, setup, teardown),
      cmocka_unit_test_setup_teardown(test_property_random_traces, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
