/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mp4 on bad input: truncations at every byte, malformed and oversized boxes, 64-bit
 * sizes, a depth bomb, and allocation failure at every allocation of both parsers (the
 * module's malloc/calloc/realloc are wrapped at link time: see mp4.cmake). The boxes are
 * built with mp4_build.h.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "media/mp4.h"
#include "mp4_build.h"

#define FCC(s) MP4_FOURCC((s)[0], (s)[1], (s)[2], (s)[3])

/* ---- malformed input ---- */

static void test_truncations(void **state) {
  (void)state;
  struct init_opt io = opus_opt();
  io.enca = true;
  io.pssh = true;
  struct bb ib;
  build_init(&ib, &io);
  struct mp4_init *in = NULL;
  for (size_t n = 0; n < ib.len; n++) {
    int rc = mp4_init_parse(ib.d, n, &in);
    assert_true(rc == -AMP_EMP4);
  }
  assert_int_equal(mp4_init_parse(ib.d, ib.len, &in), 0);
  bb_free(&ib);

  struct seg_opt so = {.moofs = 2, .trafs = {1, 1}, .prefix = true};
  so.t[0][0] = traf_basic(3, 0);
  so.t[0][0].enc = ENC_SENC_SAIO;
  so.t[0][0].subs = true;
  so.t[1][0] = traf_basic(3, 3 * 960);
  so.t[1][0].enc = ENC_SAIO;
  struct bb sb;
  build_segment(&sb, &so);
  struct mp4_segment *seg = NULL;
  size_t second_moof = bb_find(&sb, "mdat");
  second_moof += bb_rd32(sb.d + second_moof);
  for (size_t n = 0; n < sb.len; n++) {
    /* a copy of exactly n bytes, so that ASan sees any read past it */
    uint8_t *cut = malloc(n ? n : 1);
    assert_non_null(cut);
    memcpy(cut, sb.d, n);
    int rc = mp4_segment_parse(in, cut, n, 0, &seg);
    if (n == second_moof) {
      /* a whole first fragment is a valid segment */
      assert_int_equal(rc, 0);
      assert_int_equal(mp4_segment_sample_count(seg), 3);
      mp4_segment_free(seg);
    } else {
      assert_int_equal(rc, -AMP_EMP4);
    }
    free(cut);
  }
  assert_int_equal(mp4_segment_parse(in, sb.d, sb.len, 0, &seg), 0);
  mp4_segment_free(seg);
  bb_free(&sb);
  mp4_init_free(in);
}

static void test_malformed_boxes(void **state) {
  (void)state;
  struct init_opt io = opus_opt();
  io.enca = true;
  io.pssh = true;
  struct mp4_init *in = NULL;
  struct bb b;
  const char *victims[] = {"tenc", "dOps", "sinf", "stsd", "elst", "pssh", "trex", "mdhd"};
  for (size_t v = 0; v < sizeof(victims) / sizeof(victims[0]); v++) {
    /* a size past the parent */
    build_init(&b, &io);
    size_t at = bb_find(&b, victims[v]);
    bb_patch32(&b, at, 0x7fff0000);
    assert_int_equal(mp4_init_parse(b.d, b.len, &in), -AMP_EMP4);
    /* a size smaller than the header */
    bb_patch32(&b, at, 4);
    assert_int_equal(mp4_init_parse(b.d, b.len, &in), -AMP_EMP4);
    /* a 64-bit size that does not fit */
    bb_patch32(&b, at, 1);
    assert_int_not_equal(mp4_init_parse(b.d, b.len, &in), 0);
    bb_free(&b);
  }
  /* a body cut short inside its parent: box sizes shrunk to 12 bytes */
  const char *shorts[] = {"tenc", "mdhd", "tkhd", "schm", "frma", "trex", "mvhd", "hdlr"};
  for (size_t v = 0; v < sizeof(shorts) / sizeof(shorts[0]); v++) {
    build_init(&b, &io);
    size_t at = bb_find(&b, shorts[v]);
    uint32_t old = (uint32_t)b.d[at] << 24 | (uint32_t)b.d[at + 1] << 16 |
                   (uint32_t)b.d[at + 2] << 8 | b.d[at + 3];
    /* shrink the box and cover the rest with a 'free' box so the parent stays valid */
    bb_patch32(&b, at, 8);
    bb_patch32(&b, at + 8, old - 8);
    memcpy(b.d + at + 12, "free", 4);
    int rc = mp4_init_parse(b.d, b.len, &in);
    assert_int_not_equal(rc, 0);
    bb_free(&b);
  }
  /* huge counts */
  build_init(&b, &io);
  bb_patch32(&b, bb_find(&b, "stsd") + 12, 1000000);
  assert_int_equal(mp4_init_parse(b.d, b.len, &in), -AMP_ETOOBIG);
  bb_free(&b);
  build_init(&b, &io);
  bb_patch32(&b, bb_find(&b, "elst") + 12, 0xffffffffu);
  assert_int_equal(mp4_init_parse(b.d, b.len, &in), -AMP_EMP4);
  bb_free(&b);
  build_init(&b, &io);
  bb_patch32(&b, bb_find(&b, "pssh") + 28, 0xffffffffu); /* KID_count */
  assert_int_equal(mp4_init_parse(b.d, b.len, &in), -AMP_EMP4);
  bb_free(&b);
  /* bad IV size in tenc */
  build_init(&b, &io);
  b.d[bb_find(&b, "tenc") + 15] = 7;
  assert_int_equal(mp4_init_parse(b.d, b.len, &in), -AMP_EMP4);
  bb_free(&b);
  /* dOps version 1, and a dfLa whose first block is not STREAMINFO */
  build_init(&b, &io);
  b.d[bb_find(&b, "dOps") + 8] = 1;
  assert_int_equal(mp4_init_parse(b.d, b.len, &in), -AMP_EMP4);
  bb_free(&b);
  struct init_opt fo = opus_opt();
  fo.format = "fLaC";
  build_init(&b, &fo);
  b.d[bb_find(&b, "dfLa") + 12] = 0x04; /* VORBIS_COMMENT first */
  assert_int_equal(mp4_init_parse(b.d, b.len, &in), -AMP_EMP4);
  bb_free(&b);
  build_init(&b, &fo);
  b.d[bb_find(&b, "dfLa") + 12 + 38] = 0x01; /* PADDING not last, and nothing follows */
  assert_int_equal(mp4_init_parse(b.d, b.len, &in), 0);
  mp4_init_free(in);
  b.d[bb_find(&b, "dfLa") + 12 + 39] = 0xff; /* PADDING length past the box */
  assert_int_equal(mp4_init_parse(b.d, b.len, &in), -AMP_EMP4);
  bb_free(&b);
  /* a zero-size (to the end) ftyp swallows the moov */
  build_init(&b, &io);
  bb_patch32(&b, 0, 0);
  assert_int_equal(mp4_init_parse(b.d, b.len, &in), -AMP_EMP4);
  bb_free(&b);
  /* a zero-size moov runs to the end: valid */
  build_init(&b, &io);
  bb_patch32(&b, bb_find(&b, "moov"), 0);
  assert_int_equal(mp4_init_parse(b.d, b.len, &in), 0);
  mp4_init_free(in);
  bb_free(&b);
}

static void test_largesize_boxes(void **state) {
  (void)state;
  struct bb b;
  bb_init(&b);
  /* ftyp with a 64-bit size, then the normal init's moov */
  bb_u32(&b, 1);
  bb_put(&b, "ftyp", 4);
  bb_u64(&b, 16 + 8);
  bb_put(&b, "iso6", 4);
  bb_u32(&b, 0);
  struct init_opt io = opus_opt();
  struct bb ib;
  build_init(&ib, &io);
  size_t moov = bb_find(&ib, "moov");
  bb_put(&b, ib.d + moov, ib.len - moov);
  struct mp4_init *in = NULL;
  assert_int_equal(mp4_init_parse(b.d, b.len, &in), 0);
  assert_int_equal(mp4_init_major_brand(in), FCC("iso6"));
  bb_free(&b);
  bb_free(&ib);
  /* a segment whose mdat has a 64-bit size, and one with size 0 (to the end) */
  struct seg_opt so = {.moofs = 1, .trafs = {1}};
  so.t[0][0] = traf_basic(3, 0);
  struct bb sb;
  build_segment(&sb, &so);
  size_t mdat = bb_find(&sb, "mdat");
  bb_init(&b);
  bb_put(&b, sb.d, mdat);
  uint32_t msize = (uint32_t)(sb.len - mdat);
  bb_u32(&b, 1);
  bb_put(&b, "mdat", 4);
  bb_u64(&b, msize + 8);
  bb_put(&b, sb.d + mdat + 8, msize - 8);
  /* the data moved by 8 bytes: move the data_offset too */
  size_t tr = bb_find(&b, "trun");
  uint32_t doff = (uint32_t)b.d[tr + 16] << 24 | (uint32_t)b.d[tr + 17] << 16 |
                  (uint32_t)b.d[tr + 18] << 8 | b.d[tr + 19];
  bb_patch32(&b, tr + 16, doff + 8);
  struct mp4_segment *seg = NULL;
  assert_int_equal(mp4_segment_parse(in, b.d, b.len, 0, &seg), 0);
  struct mp4_sample s;
  assert_int_equal(mp4_segment_sample(seg, 2, &s), 0);
  assert_int_equal(b.d[s.offset], marker(0, 0, 2));
  mp4_segment_free(seg);
  bb_patch32(&sb, mdat, 0);
  assert_int_equal(mp4_segment_parse(in, sb.d, sb.len, 0, &seg), 0);
  assert_int_equal(mp4_segment_sample_count(seg), 3);
  mp4_segment_free(seg);
  bb_free(&b);
  bb_free(&sb);
  mp4_init_free(in);
}

static void test_depth_bomb(void **state) {
  (void)state;
  /* moov/trak/mdia then minf inside minf ... 5000 deep: minf is the one container the
   * parser re-enters, so the depth limit must stop it (and nothing overflows a stack) */
  enum { LEVELS = 5000 };
  struct bb b;
  bb_init(&b);
  size_t inner = (size_t)LEVELS * 8;
  bb_u32(&b, 8 + 8 + 8 + inner);
  bb_put(&b, "moov", 4);
  bb_u32(&b, 8 + 8 + inner);
  bb_put(&b, "trak", 4);
  bb_u32(&b, 8 + inner);
  bb_put(&b, "mdia", 4);
  for (size_t i = 0; i < LEVELS; i++) {
    bb_u32(&b, inner - i * 8);
    bb_put(&b, "minf", 4);
  }
  struct mp4_init *in = NULL;
  assert_int_equal(mp4_init_parse(b.d, b.len, &in), -AMP_EMP4);
  assert_null(in);
  bb_free(&b);
}

/* ---- allocation failures: the module's malloc/calloc/realloc are wrapped at link time
 * (-Wl,--wrap, see mp4.cmake) so that the k-th one can fail ---- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);

static long alloc_fail_at = -1; /* -1: never */
static long alloc_count;

static bool alloc_fails(void) {
  return alloc_fail_at >= 0 && alloc_count++ == alloc_fail_at;
}
void *__wrap_malloc(size_t n) {
  return alloc_fails() ? NULL : __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t m) {
  return alloc_fails() ? NULL : __real_calloc(n, m);
}
void *__wrap_realloc(void *p, size_t n) {
  return alloc_fails() ? NULL : __real_realloc(p, n);
}

static void test_alloc_failures(void **state) {
  (void)state;
  struct init_opt io = opus_opt();
  io.enca = true;
  io.pssh = true;
  struct bb ib, sb;
  build_init(&ib, &io);
  struct seg_opt so = {.moofs = 2, .trafs = {1, 1}};
  so.t[0][0] = traf_basic(3, 0);
  so.t[0][0].enc = ENC_SENC_SAIO;
  so.t[0][0].subs = true;
  so.t[1][0] = traf_basic(3, 3 * 960);
  so.t[1][0].enc = ENC_SAIO;
  build_segment(&sb, &so);
  int ok_init = 0, ok_seg = 0, failed_init = 0, failed_seg = 0;
  for (long k = 0; k < 64; k++) {
    struct mp4_init *in = NULL;
    alloc_count = 0;
    alloc_fail_at = k;
    int rc = mp4_init_parse(ib.d, ib.len, &in);
    bool failed = alloc_count > k;
    alloc_fail_at = -1;
    if (failed) {
      assert_int_equal(rc, -ENOMEM);
      assert_null(in);
      failed_init++;
      continue;
    }
    assert_int_equal(rc, 0);
    ok_init++;
    struct mp4_segment *seg = NULL;
    alloc_count = 0;
    alloc_fail_at = k;
    rc = mp4_segment_parse(in, sb.d, sb.len, 0, &seg);
    failed = alloc_count > k;
    alloc_fail_at = -1;
    if (failed) {
      assert_int_equal(rc, -ENOMEM);
      assert_null(seg);
      failed_seg++;
    } else {
      assert_int_equal(rc, 0);
      assert_int_equal(mp4_segment_sample_count(seg), 6);
      ok_seg++;
    }
    mp4_segment_free(seg);
    mp4_init_free(in);
  }
  /* the loop went past every allocation of both parsers (leaks: ASan at exit) */
  assert_true(ok_init > 0 && ok_seg > 0);
  assert_true(failed_init >= 2 && failed_seg >= 5); /* the wrap is in effect */
  bb_free(&ib);
  bb_free(&sb);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_truncations),     cmocka_unit_test(test_malformed_boxes),
      cmocka_unit_test(test_largesize_boxes), cmocka_unit_test(test_depth_bomb),
      cmocka_unit_test(test_alloc_failures),
  };
  return cmocka_run_group_tests_name("mp4_errors", tests, NULL, NULL);
}
