/* SPDX-License-Identifier: Apache-2.0 */
/*
 * media/pipeline on real ampack content (the catalog fixture): frame counts by pts,
 * encrypted samples without a CDM session, errors from the PCM sink, bad arguments.
 * usage: test_pipeline CATALOG_DIR
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
#include "media/pipeline.h"

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

static void feed_all(struct pipeline *p, struct file *f, struct sink *s) {
  for (size_t i = 0; i < f->n; i++)
    assert_int_equal(pipeline_segment(p, f->data + f->start[i], f->end[i] - f->start[i],
                                      f->start[i], count_pcm, s, NULL),
                     0);
}

static void test_clear_counts(void **state) {
  (void)state;
  static const struct {
    const char *file;
    uint64_t frames;
  } cases[] = {
      {"mid45/clear/flac_16_44.mp4", 45ull * 44100}, /* FLAC: no trim needed */
      {"mid45/clear/opus_192.mp4", 45ull * 48000},   /* Opus: priming and last sample cut */
      {"short12/clear/opus_48.mp4", 12ull * 48000},
  };
  for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
    struct file f;
    struct pipeline *p = NULL;
    struct pipeline_config cfg = {.start = 0, .end = INT64_MAX};
    struct sink s = {0, -1};
    load(cases[c].file, &f);
    assert_int_equal(pipeline_new(f.data, f.init_end, &cfg, &p), 0);
    assert_false(pipeline_is_protected(p));
    feed_all(p, &f, &s);
    assert_int_equal(s.frames, cases[c].frames);
    pipeline_free(p);
    free(f.data);
  }
}

static void test_interval(void **state) {
  (void)state;
  struct file f;
  struct pipeline *p = NULL;
  struct pipeline_config cfg = {.start = 1000, .end = 48000 * 20 + 17};
  struct sink s = {0, -1};
  load("mid45/clear/opus_192.mp4", &f);
  assert_int_equal(pipeline_new(f.data, f.init_end, &cfg, &p), 0);
  feed_all(p, &f, &s);
  assert_int_equal(s.frames, 48000 * 20 + 17 - 1000);
  assert_int_equal(pipeline_seek(p, 10, 5), -EINVAL);
  pipeline_free(p);
  free(f.data);
}

static void test_encrypted_needs_cdm(void **state) {
  (void)state;
  struct file f;
  struct pipeline *p = NULL;
  struct pipeline_config cfg = {.start = 0, .end = INT64_MAX};
  struct sink s = {0, -1};
  load("mid45/v1/flac_16_44.mp4", &f);
  assert_int_equal(pipeline_new(f.data, f.init_end, &cfg, &p), 0);
  assert_true(pipeline_is_protected(p));
  assert_int_equal(f.n, 5);
  /* The clear lead (30 s = three 10 s fragments) plays without any key... */
  for (size_t i = 0; i < 3; i++)
    assert_int_equal(pipeline_segment(p, f.data + f.start[i], f.end[i] - f.start[i], f.start[i],
                                      count_pcm, &s, NULL),
                     0);
  /* Fragments end on whole FLAC frames (4096): the clear lead is 30 s rounded up. */
  assert_in_range(s.frames, 30ull * 44100, 30ull * 44100 + 4095);
  /* ...the first encrypted fragment does not, and hands out nothing. */
  uint64_t before = s.frames;
  assert_int_equal(pipeline_segment(p, f.data + f.start[3], f.end[3] - f.start[3], f.start[3],
                                    count_pcm, &s, NULL),
                   -AMP_ENOKEY);
  assert_int_equal(s.frames, before);
  pipeline_free(p);
  free(f.data);
}

static void test_sink_error_stops(void **state) {
  (void)state;
  struct file f;
  struct pipeline *p = NULL;
  struct pipeline_config cfg = {.start = 0, .end = INT64_MAX};
  struct sink s = {0, 3};
  uint64_t n = 12345;
  load("short12/clear/flac_16_44.mp4", &f);
  assert_int_equal(pipeline_new(f.data, f.init_end, &cfg, &p), 0);
  assert_int_equal(pipeline_segment(p, f.data + f.start[0], f.end[0] - f.start[0], f.start[0],
                                    count_pcm, &s, &n),
                   -ECONNRESET);
  assert_int_equal(n, 12345); /* not set on failure */
  pipeline_free(p);
  free(f.data);
}

static void test_bad_input(void **state) {
  (void)state;
  struct file f;
  struct pipeline *p = NULL;
  struct pipeline_config cfg = {.start = 0, .end = INT64_MAX};
  struct pipeline_config bad = {.start = 5, .end = 4};
  struct sink s = {0, -1};
  load("short12/clear/flac_16_44.mp4", &f);
  assert_int_equal(pipeline_new(f.data, f.init_end, &bad, &p), -EINVAL);
  assert_int_equal(pipeline_new(f.data, 100, &cfg, &p), -AMP_EMP4); /* cut init */
  assert_null(p);
  assert_int_equal(pipeline_new(f.data, f.init_end, &cfg, &p), 0);
  /* A fragment cut short, and bytes that are no fragment at all. */
  assert_int_equal(pipeline_segment(p, f.data + f.start[0], 200, f.start[0], count_pcm, &s, NULL),
                   -AMP_EMP4);
  assert_int_equal(pipeline_segment(p, f.data + f.start[0] + 8, f.end[0] - f.start[0] - 8,
                                    f.start[0] + 8, count_pcm, &s, NULL) < 0,
                   1);
  assert_int_equal(s.frames, 0);
  pipeline_free(p);
  free(f.data);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: test_pipeline CATALOG_DIR\n");
    return 2;
  }
  catalog = argv[1];
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_clear_counts),        cmocka_unit_test(test_interval),
      cmocka_unit_test(test_encrypted_needs_cdm), cmocka_unit_test(test_sink_error_stops),
      cmocka_unit_test(test_bad_input),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
