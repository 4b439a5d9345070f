/* SPDX-License-Identifier: Apache-2.0 */
/*
 * media/pipeline on real ampack content (the catalog fixture): frame counts by pts,
 * encrypted samples without a CDM session, errors from the PCM sink, bad arguments; the
 * timeline checks (continuity, declared end) on real and box-built content; time
 * arithmetic at the edges of int64 and with a media timescale other than the output rate;
 * a wrong key through the real ClearKey plugin.
 * usage: test_pipeline CATALOG_DIR [TEST_NAME_PATTERN]
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "media/cdmhost.h"
#include "media/mp4.h"
#include "media/pipeline.h"
#include "mp4_build.h"

static const char *catalog;

struct file {
  uint8_t *data;
  size_t len;
  size_t init_end;
  size_t n; /* moof+mdat fragments */
  size_t start[64], end[64];
};

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Read a catalog file and find its init and fragments (a plain top-level box walk). */
static void load(const char *rel, struct file *f) {
  char path[1024];
  snprintf(path, sizeof(path), "%s/%s", catalog, rel);
  FILE *fp = fopen(path, "rb");
  assert_non_null(fp);
  fseek(fp, 0, SEEK_END);
  f->len = (size_t)ftell(fp);
  fseek(fp, 0, SEEK_SET);
  f->data = malloc(f->len);
  assert_non_null(f->data);
  assert_int_equal(fread(f->data, 1, f->len, fp), f->len);
  fclose(fp);
  f->n = 0;
  size_t off = 0, moof = 0;
  while (off + 8 <= f->len) {
    uint32_t size = be32(f->data + off);
    assert_true(size >= 8 && size <= f->len - off);
    if (memcmp(f->data + off + 4, "moov", 4) == 0)
      f->init_end = off + size;
    if (memcmp(f->data + off + 4, "moof", 4) == 0)
      moof = off;
    if (memcmp(f->data + off + 4, "mdat", 4) == 0) {
      assert_true(f->n < 64);
      f->start[f->n] = moof;
      f->end[f->n++] = off + size;
    }
    off += size;
  }
}

struct sink {
  uint64_t frames;
  int fail_after; /* calls before returning an error; -1 never */
};

static int count_pcm(void *userdata, const int32_t *pcm, size_t frames) {
  struct sink *s = userdata;
  (void)pcm;
  if (s->fail_after == 0)
    return -ECONNRESET;
  if (s->fail_after > 0)
    s->fail_after--;
  s->frames += frames;
  return 0;
}

/* What a test works on: a pipeline on a catalog file (f) or on a box-built init, the sink
 * it hands its PCM to and the ClearKey session it may decrypt with. Each test gets a
 * fresh one (fx_setup); fx_teardown frees it, also after a failed assertion. */
struct fx {
  struct file f;
  struct bb init;
  struct pipeline *p;
  struct sink s;
  struct cdmhost *h;
  uint32_t session;
};

static const struct pipeline_config whole = {.start = 0, .end = INT64_MAX};

/* Free what x holds and make it fresh: no pipeline, a sink that never fails. */
static void fx_reset(struct fx *x) {
  pipeline_free(x->p);
  cdmhost_free(x->h);
  free(x->f.data);
  bb_free(&x->init);
  *x = (struct fx){.s = {0, -1}};
}

static int fx_setup(void **state) {
  struct fx *x = calloc(1, sizeof(*x));
  if (!x)
    return -1;
  fx_reset(x);
  *state = x;
  return 0;
}

static int fx_teardown(void **state) {
  fx_reset(*state);
  free(*state);
  return 0;
}

/* A pipeline on the catalog file rel (load), with cfg. */
static void open_file(struct fx *x, const char *rel, const struct pipeline_config *cfg) {
  load(rel, &x->f);
  assert_int_equal(pipeline_new(x->f.data, x->f.init_end, cfg, &x->p), 0);
}

/* Fragment i of the catalog file, to the sink: what the pipeline said. */
static int feed(struct fx *x, size_t i) {
  const struct file *f = &x->f;
  return pipeline_segment(x->p, f->data + f->start[i], f->end[i] - f->start[i], f->start[i],
                          count_pcm, &x->s, NULL);
}

/* Fragments from .. to - 1, every one of which must play. */
static void feed_range(struct fx *x, size_t from, size_t to) {
  for (size_t i = from; i < to; i++) {
    int rc = feed(x, i);
    if (rc != 0)
      fail_msg("fragment %zu: %d (%s), expected 0", i, rc, amp_strerror(rc));
  }
}

static void test_clear_counts(void **state) {
  struct fx *x = *state;
  static const struct {
    const char *file;
    uint64_t frames;
  } cases[] = {
      {"mid45/clear/flac_16_44.mp4", 45ull * 44100}, /* FLAC: no trim needed */
      {"mid45/clear/opus_192.mp4", 45ull * 48000},   /* Opus: priming and last sample cut */
      {"short12/clear/opus_48.mp4", 12ull * 48000},
  };
  for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
    open_file(x, cases[c].file, &whole);
    if (pipeline_is_protected(x->p))
      fail_msg("case %s: protected, expected clear", cases[c].file);
    feed_range(x, 0, x->f.n);
    if (x->s.frames != cases[c].frames)
      fail_msg("case %s: %" PRIu64 " frames, expected %" PRIu64, cases[c].file, x->s.frames,
               cases[c].frames);
    fx_reset(x);
  }
}

static void test_interval(void **state) {
  struct fx *x = *state;
  open_file(x, "mid45/clear/opus_192.mp4",
            &(const struct pipeline_config){.start = 1000, .end = 48000 * 20 + 17});
  feed_range(x, 0, x->f.n);
  assert_int_equal(x->s.frames, 48000 * 20 + 17 - 1000);
  assert_int_equal(pipeline_seek(x->p, 10, 5), -EINVAL);
}

static void test_encrypted_needs_cdm(void **state) {
  struct fx *x = *state;
  open_file(x, "mid45/v1/flac_16_44.mp4", &whole);
  assert_true(pipeline_is_protected(x->p));
  assert_int_equal(x->f.n, 5);
  /* The clear lead (30 s = three 10 s fragments) plays without any key... */
  feed_range(x, 0, 3);
  /* Fragments end on whole FLAC frames (4096): the clear lead is 30 s rounded up. */
  assert_in_range(x->s.frames, 30ull * 44100, 30ull * 44100 + 4095);
  /* ...the first encrypted fragment does not, and hands out nothing. */
  uint64_t before = x->s.frames;
  assert_int_equal(feed(x, 3), -AMP_ENOKEY);
  assert_int_equal(x->s.frames, before);
}

static void test_sink_error_stops(void **state) {
  struct fx *x = *state;
  const struct file *f = &x->f;
  uint64_t n = 12345;
  open_file(x, "short12/clear/flac_16_44.mp4", &whole);
  x->s.fail_after = 3;
  assert_int_equal(pipeline_segment(x->p, f->data + f->start[0], f->end[0] - f->start[0],
                                    f->start[0], count_pcm, &x->s, &n),
                   -ECONNRESET);
  assert_int_equal(n, 12345); /* not set on failure */
}

static void test_bad_input(void **state) {
  struct fx *x = *state;
  const struct file *f = &x->f;
  struct pipeline_config bad = {.start = 5, .end = 4};
  load("short12/clear/flac_16_44.mp4", &x->f);
  assert_int_equal(pipeline_new(f->data, f->init_end, &bad, &x->p), -EINVAL);
  assert_int_equal(pipeline_new(f->data, 100, &whole, &x->p), -AMP_EMP4); /* cut init */
  assert_null(x->p);
  assert_int_equal(pipeline_new(f->data, f->init_end, &whole, &x->p), 0);
  /* A fragment cut short, and bytes that are no fragment at all. */
  assert_int_equal(
      pipeline_segment(x->p, f->data + f->start[0], 200, f->start[0], count_pcm, &x->s, NULL),
      -AMP_EMP4);
  assert_int_equal(pipeline_segment(x->p, f->data + f->start[0] + 8, f->end[0] - f->start[0] - 8,
                                    f->start[0] + 8, count_pcm, &x->s, NULL) < 0,
                   1);
  assert_int_equal(x->s.frames, 0);
}

/* ---- timeline checks on catalog content ---- */

static void test_repeated_fragment(void **state) {
  struct fx *x = *state;
  open_file(x, "mid45/clear/flac_16_44.mp4", &whole);
  assert_int_equal(feed(x, 0), 0);
  uint64_t one = x->s.frames;
  /* the same fragment again: refused before anything of it is handed out */
  assert_int_equal(feed(x, 0), -AMP_EGAP);
  assert_int_equal(x->s.frames, one);
  /* the one after the next: a 10 s hole */
  assert_int_equal(feed(x, 2), -AMP_EGAP);
  assert_int_equal(x->s.frames, one);
  /* the right one still follows on */
  assert_int_equal(feed(x, 1), 0);
  assert_true(x->s.frames > one);
}

static void test_first_fragment_missing(void **state) {
  struct fx *x = *state;
  open_file(x, "mid45/clear/opus_192.mp4", &whole);
  /* starting at 10 s while the interval starts at 0: the start is missing */
  assert_int_equal(feed(x, 1), -AMP_EGAP);
  assert_int_equal(x->s.frames, 0);
  /* after a seek to 10 s the same fragment is where the feed should start */
  assert_int_equal(pipeline_seek(x->p, 48000 * 10, INT64_MAX), 0);
  assert_int_equal(feed(x, 1), 0);
}

static void test_finish_declared(void **state) {
  struct fx *x = *state;
  struct pipeline *p;
  struct pipeline_timeline t;
  open_file(x, "mid45/clear/flac_16_44.mp4", &whole);
  p = x->p;
  pipeline_get_timeline(p, &t);
  assert_false(t.fed);
  assert_int_equal(t.expected, -1);                  /* ampack writes no mehd */
  assert_int_equal(pipeline_finish(p), -AMP_ESHORT); /* nothing fed: never a good decode */
  assert_int_equal(pipeline_expect_end(p, 45000, 1000), 0);
  assert_int_equal(pipeline_expect_end(p, 0, 0), -EINVAL);
  assert_int_equal(pipeline_expect_end(p, UINT64_MAX, 1), -ERANGE);
  feed_range(x, 0, 2);
  pipeline_get_timeline(p, &t);
  assert_true(t.fed);
  assert_int_equal(t.first, 0);
  assert_int_equal(t.reached, 442368 + 442368); /* two fragments of whole FLAC frames */
  assert_int_equal(t.expected, 45 * 44100);
  assert_int_equal(pipeline_finish(p), -AMP_ESHORT);
  /* a later, smaller declaration does not lower the end */
  assert_int_equal(pipeline_expect_end(p, 20, 1), 0);
  assert_int_equal(pipeline_finish(p), -AMP_ESHORT);
  feed_range(x, 2, x->f.n);
  assert_int_equal(pipeline_finish(p), 0);
  assert_int_equal(x->s.frames, 45 * 44100);
  /* within the tolerance: a declared end 99 ms past the media is not a shortfall, 101 ms is */
  assert_int_equal(pipeline_expect_end(p, 45099, 1000), 0);
  assert_int_equal(pipeline_finish(p), 0);
  assert_int_equal(pipeline_expect_end(p, 45101, 1000), 0);
  assert_int_equal(pipeline_finish(p), -AMP_ESHORT);
  /* an interval that ends early asks only for that much */
  assert_int_equal(pipeline_seek(p, 0, 44100 * 5), 0);
  assert_int_equal(feed(x, 0), 0);
  assert_int_equal(pipeline_finish(p), 0);
}

/* ---- box-built Opus content: times chosen by the test ---- */

/* A pipeline on a box-built init (build_init), with cfg. */
static void open_init(struct fx *x, const struct init_opt *o, const struct pipeline_config *cfg) {
  build_init(&x->init, o);
  assert_int_equal(pipeline_new(x->init.d, x->init.len, cfg, &x->p), 0);
}

/* The same on an init of stereo Opus (no edit list) with this media timescale and mehd. */
static void open_opus(struct fx *x, uint32_t timescale, uint64_t mehd,
                      const struct pipeline_config *cfg) {
  struct init_opt o = opus_opt();
  o.elst_version = -1;
  o.timescale = timescale;
  o.mehd_duration = mehd;
  open_init(x, &o, cfg);
}

/* A segment of n samples of duration dur from tfdt; every sample is a 20 ms CELT packet. */
static void make_seg(struct bb *b, uint64_t tfdt, uint32_t n, uint32_t dur) {
  struct seg_opt o = {.moofs = 1, .trafs = {1}};
  o.t[0][0] = traf_basic(n, tfdt);
  o.t[0][0].fill = 0xfc;
  for (uint32_t i = 0; i < n; i++)
    o.t[0][0].dur[i] = dur;
  build_segment(b, &o);
}

static int feed_bb(struct fx *x, const struct bb *b) {
  return pipeline_segment(x->p, b->d, b->len, 0, count_pcm, &x->s, NULL);
}

/* make_seg's segment, fed and freed: what the pipeline said. */
static int feed_seg(struct fx *x, uint64_t tfdt, uint32_t n, uint32_t dur) {
  struct bb seg;
  make_seg(&seg, tfdt, n, dur);
  int rc = feed_bb(x, &seg);
  bb_free(&seg);
  return rc;
}

/* One segment of a sequence (make_seg's tfdt, samples, duration), fed after a seek to
 * seek.to when seek.on: what the pipeline must say, and the frames the sink must then have
 * in all. */
struct seg_step {
  const char *what;
  struct {
    bool on;
    int64_t to;
  } seek;
  struct {
    uint64_t tfdt;
    uint32_t n, dur;
  } seg;
  int rc;
  uint64_t frames;
};

/* The steps in order; a failure names the step. */
static void feed_steps(struct fx *x, const struct seg_step *steps, size_t n_steps) {
  for (size_t i = 0; i < n_steps; i++) {
    const struct seg_step *st = &steps[i];
    int rc = st->seek.on ? pipeline_seek(x->p, st->seek.to, INT64_MAX) : 0;
    if (rc != 0)
      fail_msg("step %zu (%s): seek to %" PRId64 " said %d, expected 0", i + 1, st->what,
               st->seek.to, rc);
    rc = feed_seg(x, st->seg.tfdt, st->seg.n, st->seg.dur);
    if (rc != st->rc)
      fail_msg("step %zu (%s): %d (%s), expected %d (%s)", i + 1, st->what, rc, amp_strerror(rc),
               st->rc, amp_strerror(st->rc));
    if (x->s.frames != st->frames)
      fail_msg("step %zu (%s): %" PRIu64 " frames in all, expected %" PRIu64, i + 1, st->what,
               x->s.frames, st->frames);
  }
}

#define N_STEPS(a) (sizeof(a) / sizeof((a)[0]))

static void test_tfdt_near_int64_max(void **state) {
  static const struct seg_step steps[] = {
      /* what, {seek first?, to}, {tfdt, samples, duration}: result, frames in all */
      /* the sample starts before INT64_MAX and ends after it: pts + duration overflows */
      {"overflows", {true, INT64_MAX - 200}, {(uint64_t)INT64_MAX - 100, 1, 960}, -ERANGE, 0},
      /* ending exactly at INT64_MAX is representable and plays */
      {"ends at INT64_MAX", {true, INT64_MAX - 960}, {(uint64_t)INT64_MAX - 960, 1, 960}, 0, 960},
  };
  open_opus(*state, 48000, 0, &whole);
  feed_steps(*state, steps, N_STEPS(steps));
}

static void test_timescale_not_rate(void **state) {
  struct fx *x = *state;
  struct pipeline_timeline t;
  /* 44100 Hz media time into the 48000 Hz of Opus: 882 ticks are 960 frames */
  static const struct seg_step steps[] = {
      /* what, {seek first?, to}, {tfdt, samples, duration}: result, frames in all */
      {"first 16", {0}, {0, 16, 882}, 0, 16 * 960},
      {"next 16", {0}, {16 * 882, 16, 882}, 0, 32 * 960},
  };
  open_opus(x, 44100, 0, &whole);
  feed_steps(x, steps, N_STEPS(steps));
  pipeline_get_timeline(x->p, &t);
  assert_int_equal(t.reached, 32 * 960);
  /* far out on the timeline, where t * 48000 no longer fits 64 bits but t * 48000 / 44100
   * does: still exact (a seek to 2^62 ticks = 2^62 * 48000 / 44100 frames, floored) */
  uint64_t far = (uint64_t)1 << 62; /* a multiple of 882? no: start where a sample starts */
  far -= far % 882;
  int64_t far_frames = (int64_t)(far / 882 * 960);
  assert_int_equal(pipeline_seek(x->p, far_frames, INT64_MAX), 0);
  x->s.frames = 0;
  assert_int_equal(feed_seg(x, far, 4, 882), 0);
  assert_int_equal(x->s.frames, 4 * 960);
  pipeline_get_timeline(x->p, &t);
  assert_int_equal(t.first, far_frames);
  assert_int_equal(t.reached, far_frames + 4 * 960);
}

static void test_timescale_product_overflows(void **state) {
  struct fx *x = *state;
  /* A millisecond timescale: 4e17 ms is a valid time, but 4e17 * 48 frames is beyond
   * int64 (and wraps a 64-bit product). Refused, not played at a wrapped time. */
  open_opus(x, 1000, 0, &whole);
  assert_int_equal(feed_seg(x, 400000000000000000ull, 4, 20), -ERANGE);
  assert_int_equal(x->s.frames, 0);
  /* and a declared end of that size cannot be declared */
  assert_int_equal(pipeline_expect_end(x->p, 400000000000000000ull, 1000), -ERANGE);
}

static void test_continuity_tolerance(void **state) {
  static const struct seg_step steps[] = {
      /* what, {seek first?, to}, {tfdt, samples, duration}: result, frames in all */
      {"first", {0}, {0, 8, 960}, 0, 8 * 960},
      /* 10 ms late (480 ticks): within PIPELINE_GAP_TOLERANCE_MS */
      {"10 ms late", {0}, {8 * 960 + 480, 8, 960}, 0, 16 * 960},
      /* one packet (20 ms) missing */
      {"a packet missing", {0}, {16 * 960 + 480 + 960, 8, 960}, -AMP_EGAP, 16 * 960},
      /* one packet repeated (20 ms early) */
      {"a packet repeated", {0}, {16 * 960 + 480 - 960, 8, 960}, -AMP_EGAP, 16 * 960},
  };
  open_opus(*state, 48000, 0, &whole);
  feed_steps(*state, steps, N_STEPS(steps));
}

/* An edit list that cuts at a media_time near INT64_MAX puts every pts near INT64_MIN:
 * the media produces no frame, and the distance to a declared end does not fit int64. */
static void test_elst_far_media_time_is_short(void **state) {
  struct fx *x = *state;
  struct pipeline_timeline t;
  struct init_opt o = opus_opt();
  o.elst_version = 1;
  o.elst_media_time = INT64_MAX - 1000;
  open_init(x, &o, &whole);
  assert_int_equal(pipeline_expect_end(x->p, 320, 1000), 0); /* 320 ms: 15360 frames */
  assert_int_equal(feed_seg(x, 0, 8, 960), 0);
  assert_int_equal(x->s.frames, 0); /* everything lies before pts 0 */
  pipeline_get_timeline(x->p, &t);
  assert_true(t.fed);
  assert_int_equal(t.reached, -(INT64_MAX - 1000) + 8 * 960);
  assert_int_equal(pipeline_finish(x->p), -AMP_ESHORT);
}

/* A negative interval start: the first sample's distance past it does not fit int64. */
static void test_first_sample_far_after_negative_start(void **state) {
  static const struct seg_step steps[] = {
      /* what, {seek first?, to}, {tfdt, samples, duration}: result, frames in all */
      {"2^62 past -INT64_MAX", {0}, {(uint64_t)1 << 62, 8, 960}, -AMP_EGAP, 0},
      /* a start near INT64_MIN still lets the sample that starts there through */
      {"pts 0 after INT64_MIN", {true, INT64_MIN}, {0, 8, 960}, -AMP_EGAP, 0}, /* 2^63 late */
  };
  open_opus(*state, 48000, 0,
            &(const struct pipeline_config){.start = -INT64_MAX, .end = INT64_MAX});
  feed_steps(*state, steps, N_STEPS(steps));
}

/* A segment that failed part-way: what it handed out stays handed out once. */
static void test_failure_part_way_needs_seek(void **state) {
  struct fx *x = *state;
  struct bb seg, next;
  struct pipeline_timeline t;
  open_opus(x, 48000, 0, &whole);
  make_seg(&seg, 0, 8, 960);
  make_seg(&next, 8 * 960, 8, 960);
  /* The 3rd sample (sizes 10, 11, 12, ...) made an invalid Opus packet: TOC code 3 with a
   * frame count of 0. */
  size_t third = bb_find(&seg, "mdat") + 8 + 10 + 11;
  uint8_t saved[2] = {seg.d[third], seg.d[third + 1]};
  seg.d[third] = 0xff;
  seg.d[third + 1] = 0x00;
  assert_int_equal(feed_bb(x, &seg), -AMP_EDECODE);
  assert_int_equal(x->s.frames, 2 * 960); /* samples 0 and 1 went out */
  /* the segment again, undamaged (a retry): refused, nothing handed out twice */
  seg.d[third] = saved[0];
  seg.d[third + 1] = saved[1];
  assert_int_equal(feed_bb(x, &seg), -EINVAL);
  assert_int_equal(x->s.frames, 2 * 960);
  /* nor does the following segment play on over the hole */
  assert_int_equal(feed_bb(x, &next), -EINVAL);
  assert_int_equal(x->s.frames, 2 * 960);
  pipeline_get_timeline(x->p, &t);
  assert_false(t.fed); /* the failed segment is not counted */
  assert_int_equal(pipeline_finish(x->p), -AMP_ESHORT);
  /* a seek is the way on */
  assert_int_equal(pipeline_seek(x->p, 0, INT64_MAX), 0);
  x->s.frames = 0;
  assert_int_equal(feed_bb(x, &seg), 0);
  assert_int_equal(feed_bb(x, &next), 0);
  assert_int_equal(x->s.frames, 16 * 960);

  /* the same after an error from the sink on its 3rd call */
  assert_int_equal(pipeline_seek(x->p, 0, INT64_MAX), 0);
  x->s = (struct sink){0, 2};
  assert_int_equal(feed_bb(x, &seg), -ECONNRESET);
  assert_int_equal(x->s.frames, 2 * 960);
  x->s.fail_after = -1;
  assert_int_equal(feed_bb(x, &seg), -EINVAL);
  assert_int_equal(x->s.frames, 2 * 960);
  bb_free(&next);
  bb_free(&seg);
}

static void test_mehd_declares(void **state) {
  struct fx *x = *state;
  struct pipeline_timeline t;
  open_opus(x, 48000, 320, &whole); /* mehd: 320 ms in the movie timescale (1000) */
  pipeline_get_timeline(x->p, &t);
  assert_int_equal(t.expected, 48 * 320);
  assert_int_equal(feed_seg(x, 0, 8, 960), 0); /* 160 ms */
  assert_int_equal(pipeline_finish(x->p), -AMP_ESHORT);
  assert_int_equal(feed_seg(x, 8 * 960, 8, 960), 0);
  assert_int_equal(pipeline_finish(x->p), 0);
}

/* ---- a wrong key, through the real ClearKey plugin ---- */

/* A ClearKey session holding key_hex for the default KID of x's pipeline, given to it. */
static void open_cdm(struct fx *x, const char *key_hex) {
  uint32_t session = 0;
  struct cdmhost_key k;
  uint8_t kids[1][16];
  uint8_t *data = NULL, *challenge = NULL;
  size_t dlen = 0, clen = 0, llen = 0;
  char *license = NULL, spec[80];
  const uint8_t *kid = mp4_init_default_kid(pipeline_init(x->p));
  assert_non_null(kid);
  struct cdmhost_options opt = {.plugin_dir = PIPELINETEST_CLEARKEY_DIR};
  assert_int_equal(cdmhost_open("clearkey", &opt, &x->h), 0);
  assert_int_equal(cdmhost_session_open(x->h, &session), 0);
  memcpy(kids[0], kid, 16);
  assert_int_equal(cdmhost_keyids_init_data((const uint8_t(*)[16])kids, 1, &data, &dlen), 0);
  assert_int_equal(
      cdmhost_generate_request(x->h, session, AMPD_CDM_INIT_KEYIDS, data, dlen, &challenge, &clen),
      0);
  free(data);
  free(challenge);
  for (int i = 0; i < 16; i++)
    snprintf(spec + 2 * i, 3, "%02x", kid[i]);
  snprintf(spec + 32, sizeof(spec) - 32, ":%s", key_hex);
  assert_int_equal(cdmhost_key_parse(spec, &k), 0);
  assert_int_equal(cdmhost_clearkey_license(&k, 1, 0, &license, &llen), 0);
  assert_int_equal(cdmhost_update(x->h, session, (const uint8_t *)license, llen), 0);
  free(license);
  x->session = session;
  pipeline_set_cdm(x->p, x->h, x->session);
}

static void test_wrong_key(void **state) {
  struct fx *x = *state;
  open_file(x, "mid45/v1/flac_16_44.mp4", &whole);
  open_cdm(x, "000102030405060708090a0b0c0d0e0f");
  feed_range(x, 0, 3); /* the clear lead */
  /* the CDM decrypts with the key it was given; FLAC's CRC refuses the result */
  assert_int_equal(feed(x, 3), -AMP_EDECRYPT);
}

/* The catalog's content key (ampack pins it) from keys.json, as 32 hex digits. */
static void catalog_key(const char *dir, char hex[33]) {
  char path[1024], text[256];
  snprintf(path, sizeof(path), "%s/%s/keys.json", catalog, dir);
  FILE *fp = fopen(path, "rb");
  assert_non_null(fp);
  size_t n = fread(text, 1, sizeof(text) - 1, fp);
  fclose(fp);
  text[n] = 0;
  const char *k = strstr(text, "\"key\"");
  assert_non_null(k);
  k = strchr(k + 5, '"');
  assert_non_null(k);
  assert_true(strlen(k + 1) > 32 && k[33] == '"');
  memcpy(hex, k + 1, 32);
  hex[32] = 0;
}

/* Encrypted FLAC: a first sample that fails to decrypt (no key yet) changed nothing and
 * the segment plays once the key is there; a 3rd sample that fails (a flipped byte: the
 * frame CRC) leaves the pipeline needing a seek. */
static void test_encrypted_refeed(void **state) {
  struct fx *x = *state;
  const struct file *f = &x->f;
  struct mp4_segment *seg = NULL;
  struct mp4_sample sm;
  char key[33];
  open_file(x, "mid45/v1/flac_16_44.mp4", &whole);
  catalog_key("mid45/v1", key);
  feed_range(x, 0, 3); /* the clear lead */
  uint64_t lead = x->s.frames;
  assert_int_equal(feed(x, 3), -AMP_ENOKEY);
  assert_int_equal(x->s.frames, lead);
  open_cdm(x, key);
  assert_int_equal(feed(x, 3), 0);
  uint64_t four = x->s.frames - lead;
  assert_true(four > 0);

  /* fragment 3 again after a seek back to where it starts, its 3rd sample damaged */
  uint8_t *frag = f->data + f->start[3];
  size_t len = f->end[3] - f->start[3];
  assert_int_equal(mp4_segment_parse(pipeline_init(x->p), frag, len, f->start[3], &seg), 0);
  assert_true(mp4_segment_sample_count(seg) > 3);
  assert_int_equal(mp4_segment_sample(seg, 2, &sm), 0);
  assert_true(sm.encrypted);
  int64_t at = sm.pts; /* FLAC: media timescale = rate, no edit list */
  assert_int_equal(mp4_segment_sample(seg, 0, &sm), 0);
  int64_t from = sm.pts;
  assert_int_equal(mp4_segment_sample(seg, 2, &sm), 0);
  size_t flip = sm.offset + sm.size / 2;
  mp4_segment_free(seg);
  assert_int_equal(pipeline_seek(x->p, from, INT64_MAX), 0);
  frag[flip] ^= 0x10;
  x->s.frames = 0;
  assert_int_equal(feed(x, 3), -AMP_EDECRYPT);
  assert_int_equal(x->s.frames, (uint64_t)(at - from)); /* samples 0 and 1 */
  frag[flip] ^= 0x10;
  assert_int_equal(feed(x, 3), -EINVAL); /* not samples 0 and 1 a second time */
  assert_int_equal(feed(x, 4), -EINVAL);
  assert_int_equal(x->s.frames, (uint64_t)(at - from));
  assert_int_equal(pipeline_seek(x->p, from, INT64_MAX), 0);
  x->s.frames = 0;
  assert_int_equal(feed(x, 3), 0);
  assert_int_equal(x->s.frames, four);
}

/* A wrong IV (docs/media.md §9): the first sample's IV in the senc changed. The CDM
 * decrypts it to noise, which FLAC's CRC refuses. */
static void test_wrong_iv(void **state) {
  struct fx *x = *state;
  const struct file *f = &x->f;
  char key[33];
  open_file(x, "mid45/v1/flac_16_44.mp4", &whole);
  catalog_key("mid45/v1", key);
  open_cdm(x, key);
  feed_range(x, 0, 3); /* the clear lead */
  uint64_t lead = x->s.frames;
  uint8_t *senc = NULL;
  for (size_t o = f->start[3]; o + 4 <= f->end[3] && !senc; o++)
    if (memcmp(f->data + o, "senc", 4) == 0)
      senc = f->data + o - 4;
  assert_non_null(senc);
  /* size, type, version+flags, sample_count: then sample 0's IV */
  senc[16] ^= 0x01;
  assert_int_equal(feed(x, 3), -AMP_EDECRYPT);
  assert_int_equal(x->s.frames, lead);
}

/* Every test on a fresh struct fx, freed also when it fails. */
#define FX_TEST(t) cmocka_unit_test_setup_teardown(t, fx_setup, fx_teardown)

int main(int argc, char **argv) {
  if (argc != 2 && argc != 3) {
    fprintf(stderr, "usage: test_pipeline CATALOG_DIR [TEST_NAME_PATTERN]\n");
    return 2;
  }
  catalog = argv[1];
  if (argc == 3)
    cmocka_set_test_filter(argv[2]);
  const struct CMUnitTest tests[] = {
      FX_TEST(test_clear_counts),
      FX_TEST(test_interval),
      FX_TEST(test_encrypted_needs_cdm),
      FX_TEST(test_sink_error_stops),
      FX_TEST(test_bad_input),
      FX_TEST(test_repeated_fragment),
      FX_TEST(test_first_fragment_missing),
      FX_TEST(test_finish_declared),
      FX_TEST(test_tfdt_near_int64_max),
      FX_TEST(test_timescale_not_rate),
      FX_TEST(test_timescale_product_overflows),
      FX_TEST(test_continuity_tolerance),
      FX_TEST(test_elst_far_media_time_is_short),
      FX_TEST(test_first_sample_far_after_negative_start),
      FX_TEST(test_failure_part_way_needs_seek),
      FX_TEST(test_encrypted_refeed),
      FX_TEST(test_mehd_declares),
      FX_TEST(test_wrong_key),
      FX_TEST(test_wrong_iv),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
