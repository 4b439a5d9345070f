/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mp4 on real files, and the fuzz seed corpus:
 *   test_mp4_dash dash <dir>            parse the ffmpeg DASH output of
 *                                       tests/data/mp4/gen_dash.sh and check it
 *   test_mp4_dash corpus <dir> [dash]   write the seeds of tests/fuzz/corpus/mp4
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

/* ---- ffmpeg DASH files (tests/data/mp4/gen_dash.sh) ---- */

static const char *dash_dir;

static uint8_t *read_file(const char *path, size_t *ret_len) {
  FILE *f = fopen(path, "rbe");
  if (!f)
    fail_msg("cannot open %s", path);
  uint8_t *d = malloc(4u << 20);
  assert_non_null(d);
  size_t n = fread(d, 1, 4u << 20, f);
  fclose(f);
  *ret_len = n;
  return d;
}

/* Parse a -single_file DASH output: the init is everything before the first sidx, each
 * segment runs from a sidx to the next (what the MPD's mediaRange says). Returns the sum
 * of the sample durations and checks that segments follow each other. */
static uint64_t dash_parse(const char *name, struct mp4_init **ret_in, size_t *ret_samples,
                           uint32_t *ret_last_dur, bool flac) {
  char path[512];
  snprintf(path, sizeof(path), "%s/%s/out-stream0.mp4", dash_dir, name);
  size_t len;
  uint8_t *d = read_file(path, &len);
  size_t starts[64] = {0}, ns = 0, p = 0;
  while (p + 8 <= len) {
    uint32_t size = bb_rd32(d + p);
    assert_true(size >= 8 && size <= len - p);
    if (memcmp(d + p + 4, "sidx", 4) == 0) {
      assert_true(ns < 64);
      starts[ns++] = p;
    }
    p += size;
  }
  assert_int_equal(p, len);
  assert_true(ns >= 3);
  struct mp4_init *in = NULL;
  assert_int_equal(mp4_init_parse(d, starts[0], &in), 0);
  uint64_t sum = 0, next = 0;
  size_t count = 0;
  uint32_t last = 0;
  for (size_t i = 0; i < ns; i++) {
    size_t s0 = starts[i], s1 = i + 1 < ns ? starts[i + 1] : len;
    struct mp4_segment *seg = NULL;
    assert_int_equal(mp4_segment_parse(in, d + s0, s1 - s0, s0, &seg), 0);
    size_t n = mp4_segment_sample_count(seg);
    assert_true(n > 0);
    for (size_t k = 0; k < n; k++) {
      struct mp4_sample s;
      assert_int_equal(mp4_segment_sample(seg, k, &s), 0);
      assert_int_equal(s.decode_time, next);
      assert_false(s.encrypted);
      assert_int_equal(s.sample_description_index, 1);
      assert_true(s.offset + s.size <= s1 - s0);
      if (flac) { /* every sample is one FLAC frame: it starts with the sync code */
        assert_int_equal(d[s0 + s.offset], 0xff);
        assert_int_equal(d[s0 + s.offset + 1] & 0xfe, 0xf8);
      }
      next += s.duration;
      sum += s.duration;
      last = s.duration;
      count++;
    }
    assert_int_equal(mp4_segment_end_time(seg), next);
    mp4_segment_free(seg);
  }
  free(d);
  *ret_in = in;
  *ret_samples = count;
  *ret_last_dur = last;
  return sum;
}

static void test_dash_opus(void **state) {
  (void)state;
  struct mp4_init *in;
  size_t n;
  uint32_t last;
  uint64_t sum = dash_parse("opus", &in, &n, &last, false);
  const struct mp4_track *t = mp4_init_track(in);
  assert_int_equal(t->timescale, 48000);
  assert_true(t->has_edit);
  assert_int_equal(t->edit_media_time, 312);
  struct mp4_codec c;
  assert_int_equal(mp4_init_codec(in, 1, &c), 0);
  assert_int_equal(c.format, MP4_FORMAT_OPUS);
  assert_int_equal(c.channels, 1);
  assert_int_equal(c.config_size, 11);
  assert_int_equal(c.config[2] << 8 | c.config[3], 312); /* PreSkip */
  /* 3 s of PCM after the priming: the sum minus media_time, and a short last packet */
  assert_int_equal(sum - (uint64_t)t->edit_media_time, 3 * 48000);
  assert_true(last < 960);
  assert_int_equal(n, (3 * 48000 + 312 + 959) / 960);
  mp4_init_free(in);
}

static void test_dash_flac(void **state) {
  (void)state;
  struct mp4_init *in;
  size_t n;
  uint32_t last;
  uint64_t sum = dash_parse("flac", &in, &n, &last, true);
  const struct mp4_track *t = mp4_init_track(in);
  struct mp4_codec c;
  assert_int_equal(mp4_init_codec(in, 1, &c), 0);
  assert_int_equal(c.format, MP4_FORMAT_FLAC);
  assert_int_equal(c.sample_rate, 44100);
  assert_int_equal(c.channels, 1);
  assert_int_equal(c.bits_per_sample, 16);
  assert_int_equal(t->timescale, 44100);
  assert_int_equal(t->edit_media_time, 0);
  assert_int_equal(sum, 3 * 44100);
  assert_true(last < 4608);
  assert_int_equal(n, (3 * 44100 + 4607) / 4608);
  mp4_init_free(in);
}

/* ---- seed corpus for tests/fuzz/fuzz_mp4.c ("corpus <dir> [dash dir]") ---- */

static void write_seed(const char *dir, const char *name, uint8_t mode, const struct bb *init,
                       const uint8_t *seg, size_t seg_len) {
  char path[512];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  FILE *f = fopen(path, "wbe");
  assert_non_null(f);
  fputc(mode, f);
  if (mode & 1) {
    fputc((int)(init->len >> 8), f);
    fputc((int)(init->len & 0xff), f);
  }
  fwrite(init->d, 1, init->len, f);
  if (seg_len)
    fwrite(seg, 1, seg_len, f);
  fclose(f);
}

static int dump_corpus(const char *dir, const char *dash) {
  struct init_opt io[8];
  const char *names[8] = {"opus", "flac", "enca_a", "cbcs", "qt1", "qt2", "video", "seig"};
  for (int i = 0; i < 8; i++)
    io[i] = opus_opt();
  io[1].format = "fLaC";
  io[1].mdhd_version = 1;
  io[1].elst_version = 1;
  io[2].enca = io[2].clear_copy = io[2].pssh = true;
  io[3].enca = true;
  io[3].scheme = "cbcs";
  io[3].tenc_version = 1;
  io[3].tenc_iv_size = 0;
  io[3].const_iv_size = 16;
  io[4].qt_version = 1;
  io[5].qt_version = 2;
  io[6].video_first = true;
  io[7].enca = io[7].stbl_seig = true;
  for (int i = 0; i < 8; i++) {
    struct bb b;
    char name[64];
    build_init(&b, &io[i]);
    snprintf(name, sizeof(name), "init_%s", names[i]);
    write_seed(dir, name, 0, &b, NULL, 0);
    bb_free(&b);
  }
  /* init + segment pairs */
  struct seg_opt so[6];
  int which[6] = {0, 2, 2, 7, 3, 0};
  memset(so, 0, sizeof(so));
  for (int i = 0; i < 6; i++) {
    so[i].moofs = 1;
    so[i].trafs[0] = 1;
    so[i].t[0][0] = traf_basic(4, 1000);
  }
  so[0].prefix = true;
  so[0].t[0][0].tfhd_flags = TFHD_MOOF | TFHD_DUR | TFHD_SIZE | TFHD_FLAGS;
  so[0].t[0][0].trun_flags = TRUN_DOFF | TRUN_SIZE;
  so[1].moofs = 2;
  so[1].trafs[1] = 1;
  so[1].t[0][0].tfhd_flags |= TFHD_SDI;
  so[1].t[0][0].sdi = 2;
  so[1].t[1][0] = traf_basic(4, 5000);
  so[1].t[1][0].enc = ENC_SENC_SAIO;
  so[1].t[1][0].subs = true;
  so[1].t[1][0].split = 2;
  so[1].t[1][0].saio_per_trun = true;
  so[2].t[0][0].enc = ENC_SAIO;
  so[2].t[0][0].iv_size = 8;
  so[3].moofs = 2;
  so[3].trafs[1] = 1;
  so[3].t[0][0].seig = 0;
  so[3].t[1][0] = traf_basic(4, 5000);
  so[3].t[1][0].enc = ENC_PIFF;
  so[3].t[1][0].seig = 1;
  so[4].t[0][0].iv_size = 0;
  so[5].trafs[0] = 2;
  so[5].t[0][0].track_id = 2;
  so[5].t[0][0].tfhd_flags = 0;
  so[5].t[0][1] = traf_basic(3, 7);
  so[5].t[0][1].tfhd_flags = TFHD_BDO;
  so[5].file_offset = 0;
  for (int i = 0; i < 6; i++) {
    struct bb ib, sb;
    char name[64];
    build_init(&ib, &io[which[i]]);
    build_segment(&sb, &so[i]);
    snprintf(name, sizeof(name), "seg_%d", i);
    write_seed(dir, name, 1, &ib, sb.d, sb.len);
    bb_free(&ib);
    bb_free(&sb);
  }
  /* ffmpeg DASH: init + first and last segment */
  for (int c = 0; dash && c < 2; c++) {
    char path[512];
    snprintf(path, sizeof(path), "%s/%s/out-stream0.mp4", dash, c ? "flac" : "opus");
    size_t len;
    uint8_t *d = read_file(path, &len);
    size_t starts[64], ns = 0, p = 0;
    while (p + 8 <= len && ns < 64) {
      if (memcmp(d + p + 4, "sidx", 4) == 0)
        starts[ns++] = p;
      p += bb_rd32(d + p);
    }
    struct bb ib = {.d = d, .len = starts[0]};
    char name[64];
    snprintf(name, sizeof(name), "ffmpeg_%s_init", c ? "flac" : "opus");
    write_seed(dir, name, 0, &ib, NULL, 0);
    snprintf(name, sizeof(name), "ffmpeg_%s_last", c ? "flac" : "opus");
    write_seed(dir, name, 3, &ib, d + starts[ns - 1], len - starts[ns - 1]);
    if (!c) {
      snprintf(name, sizeof(name), "ffmpeg_%s_first", c ? "flac" : "opus");
      write_seed(dir, name, 3, &ib, d + starts[0], starts[1] - starts[0]);
    }
    free(d);
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 3 && strcmp(argv[1], "corpus") == 0)
    return dump_corpus(argv[2], argc > 3 ? argv[3] : NULL);
  if (argc == 3 && strcmp(argv[1], "dash") == 0) {
    dash_dir = argv[2];
    const struct CMUnitTest dash[] = {
        cmocka_unit_test(test_dash_opus),
        cmocka_unit_test(test_dash_flac),
    };
    return cmocka_run_group_tests_name("mp4-dash", dash, NULL, NULL);
  }
  fprintf(stderr, "usage: test_mp4_dash dash <dir> | corpus <dir> [dash dir]\n");
  return 2;
}
