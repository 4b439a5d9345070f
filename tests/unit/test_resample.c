/* SPDX-License-Identifier: Apache-2.0 */
/*
 * media/resample over libsoxr: a sine keeps its frequency (measured from interpolated
 * zero crossings, no FFT) and its level (RMS within 0.1 dB) through 44.1k/48k/96k/192k
 * conversions, every channel its own; the frame count after flush is round(in * out /
 * in); no allocation once the stream runs (counted with the sanitizer allocator's hooks
 * under ASan/TSan, with an interposed malloc family otherwise); saturation; reset.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <soxr.h>

#include "media/resample.h"

/* ---- counting allocations ---- */
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SAN_HOOKS 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SAN_HOOKS 1
#endif

static atomic_long allocs;

#ifdef SAN_HOOKS
/* The sanitizer runtime's interface (sanitizer/allocator_interface.h, which gcc does not
 * install). */
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
                                              void (*free_hook)(const volatile void *));
static void on_malloc(const volatile void *p, size_t n) {
  (void)p;
  (void)n;
  atomic_fetch_add(&allocs, 1);
}
static void on_free(const volatile void *p) {
  (void)p;
}
static void count_allocs_init(void) {
  assert_int_equal(__sanitizer_install_malloc_and_free_hooks(on_malloc, on_free), 1);
}
#else
/* No sanitizer owns malloc: interpose the family (libsoxr's calls resolve to these). */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
void *malloc(size_t n) {
  atomic_fetch_add(&allocs, 1);
  return __libc_malloc(n);
}
void *calloc(size_t a, size_t b) {
  atomic_fetch_add(&allocs, 1);
  return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n) {
  atomic_fetch_add(&allocs, 1);
  return __libc_realloc(p, n);
}
int posix_memalign(void **ret, size_t align, size_t n) {
  atomic_fetch_add(&allocs, 1);
  void *p = __libc_memalign(align, n);
  if (p == NULL)
    return ENOMEM;
  *ret = p;
  return 0;
}
void *aligned_alloc(size_t align, size_t n) {
  atomic_fetch_add(&allocs, 1);
  return __libc_memalign(align, n);
}
static void count_allocs_init(void) {
}
#endif

/* ---- signal helpers ---- */

#define MAXF (192000u * 2u + 8192u) /* 2 s at 192 kHz plus slack, per channel */

static struct resample *mk(uint32_t in_rate, uint32_t out_rate, unsigned ch, unsigned in_bits,
                           unsigned out_bits, enum resample_quality q) {
  struct resample_config c = {.in_rate = in_rate,
                              .out_rate = out_rate,
                              .channels = ch,
                              .in_bits = in_bits,
                              .out_bits = out_bits,
                              .quality = q};
  struct resample *r = NULL;
  assert_int_equal(resample_new(&c, &r), 0);
  assert_non_null(r);
  return r;
}

/* Stream in (frames, interleaved ch) through r in pieces of `chunk`, flush; the output
 * frame count. out holds cap frames. */
static size_t run(struct resample *r, const int32_t *in, size_t frames, unsigned ch, size_t chunk,
                  int32_t *out, size_t cap) {
  size_t done = 0, used_total = 0;
  while (used_total < frames) {
    size_t n = frames - used_total < chunk ? frames - used_total : chunk;
    size_t used = 0, got = 0;
    assert_true(cap - done >= 1);
    assert_int_equal(
        resample_process(r, in + used_total * ch, n, &used, out + done * ch, cap - done, &got), 0);
    used_total += used;
    done += got;
  }
  for (;;) {
    size_t got = 0;
    assert_int_equal(resample_flush(r, out + done * ch, cap - done, &got), 0);
    if (got == 0)
      break;
    done += got;
  }
  return done;
}

/* Frequency from positive-going zero crossings, each placed by linear interpolation,
 * over frames [from, to) of channel c. */
static double frequency(const int32_t *x, unsigned ch, unsigned c, size_t from, size_t to,
                        double rate) {
  double first = -1, last = -1;
  long count = 0;
  for (size_t i = from + 1; i < to; i++) {
    double a = x[(i - 1) * ch + c], b = x[i * ch + c];
    if (a < 0 && b >= 0) {
      double t = (double)(i - 1) + a / (a - b);
      if (first < 0)
        first = t;
      last = t;
      count++;
    }
  }
  assert_true(count > 10);
  return (double)(count - 1) * rate / (last - first);
}

static double rms(const int32_t *x, unsigned ch, unsigned c, size_t from, size_t to) {
  double s = 0;
  for (size_t i = from; i < to; i++)
    s += (double)x[i * ch + c] * (double)x[i * ch + c];
  return sqrt(s / (double)(to - from));
}

static int32_t in_buf[MAXF * 8];
static int32_t out_buf[MAXF * 8];

static void check_pair(uint32_t ir, uint32_t orate, unsigned ch, unsigned in_bits,
                       unsigned out_bits, enum resample_quality q) {
  const size_t frames = ir; /* one second */
  const double amp = 0.5 * ldexp(1.0, (int)in_bits - 1);
  for (size_t i = 0; i < frames; i++)
    for (unsigned c = 0; c < ch; c++) /* channel c: 1000 + 250 c Hz */
      in_buf[i * ch + c] =
          (int32_t)lrint(amp * sin(2.0 * M_PI * (1000.0 + 250.0 * c) * (double)i / ir));
  struct resample *r = mk(ir, orate, ch, in_bits, out_bits, q);
  size_t n = run(r, in_buf, frames, ch, 1024, out_buf, MAXF);
  uint64_t want = ((uint64_t)frames * orate + ir / 2) / ir;
  assert_int_equal(n, want);
  /* measure away from the edges (the filter's ramp in and out) */
  size_t from = n / 10, to = n - n / 10;
  double scale = ldexp(1.0, (int)(out_bits ? out_bits : in_bits) - (int)in_bits);
  for (unsigned c = 0; c < ch; c++) {
    double f = frequency(out_buf, ch, c, from, to, orate);
    double want_f = 1000.0 + 250.0 * c;
    double lvl = 20.0 * log10(rms(out_buf, ch, c, from, to) / (amp * scale / sqrt(2.0)));
    if (fabs(f - want_f) >= 0.1 || fabs(lvl) >= 0.1)
      print_error("%u -> %u ch %u: %.4f Hz (want %.0f), level %.4f dB\n", ir, orate, c, f, want_f,
                  lvl);
    assert_true(fabs(f - want_f) < 0.1);
    assert_true(fabs(lvl) < 0.1);
  }
  assert_int_equal(resample_clips(r), 0);
  resample_free(r);
}

static void test_sine_pairs(void **state) {
  (void)state;
  check_pair(44100, 48000, 2, 16, 32, RESAMPLE_HQ);
  check_pair(48000, 44100, 2, 16, 16, RESAMPLE_HQ);
  check_pair(48000, 96000, 1, 24, 32, RESAMPLE_VHQ);
  check_pair(96000, 192000, 2, 24, 24, RESAMPLE_HQ);
  check_pair(192000, 44100, 2, 24, 32, RESAMPLE_VHQ);
  check_pair(44100, 192000, 1, 16, 32, RESAMPLE_HQ);
  check_pair(96000, 48000, 8, 24, 32, RESAMPLE_HQ); /* 8 channels, each its own tone */
}

static void test_frame_count(void **state) {
  (void)state;
  const uint32_t rates[][2] = {{44100, 48000}, {48000, 44100}, {44100, 96000}, {192000, 44100}};
  const size_t lens[] = {1, 2, 147, 1000, 44099, 44100, 48001};
  memset(in_buf, 0, sizeof(in_buf));
  for (size_t k = 0; k < 4; k++)
    for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
      struct resample *r = mk(rates[k][0], rates[k][1], 2, 16, 16, RESAMPLE_HQ);
      size_t n = run(r, in_buf, lens[l], 2, 333, out_buf, MAXF);
      uint64_t want = ((uint64_t)lens[l] * rates[k][1] + rates[k][0] / 2) / rates[k][0];
      if (n != want)
        print_error("%u -> %u, %zu in: %zu out, want %llu\n", rates[k][0], rates[k][1], lens[l], n,
                    (unsigned long long)want);
      assert_int_equal(n, want);
      assert_int_equal(resample_frames_in(r), lens[l]);
      assert_int_equal(resample_frames_out(r), want);
      resample_free(r);
    }
}

static void test_latency_and_no_alloc(void **state) {
  (void)state;
  count_allocs_init();
  const uint32_t pairs[][3] = {{44100, 48000, RESAMPLE_VHQ},
                               {48000, 44100, RESAMPLE_HQ},
                               {192000, 44100, RESAMPLE_VHQ},
                               {96000, 192000, RESAMPLE_HQ}};
  for (size_t i = 0; i < 192000 * 2; i++)
    in_buf[i] = (int32_t)(i % 2000) - 1000;
  for (size_t k = 0; k < 4; k++) {
    struct resample *r =
        mk(pairs[k][0], pairs[k][1], 2, 16, 32, (enum resample_quality)pairs[k][2]);
    size_t total_in = 0, total_out = 0, used, got;
    uint32_t seed = 7;
    long before = atomic_load(&allocs);
    /* from the first call on: chunks of 1..4 blocks + 100 frames, room as advised or
     * short */
    while (total_in < pairs[k][0]) {
      seed = seed * 1103515245u + 12345u;
      size_t n = 1 + (seed >> 8) % (4 * RESAMPLE_BLOCK + 100);
      if (n > pairs[k][0] - total_in)
        n = pairs[k][0] - total_in;
      size_t room = (seed >> 4) % 4 == 0 ? 100 : resample_out_max(r, n);
      assert_int_equal(resample_process(r, in_buf + total_in * 2, n, &used, out_buf, room, &got),
                       0);
      assert_true(used <= n && got <= room);
      total_in += used;
      total_out += got;
      (void)resample_latency(r);
    }
    /* the filter delays: libsoxr reports it in output frames, and it is what the output
     * lags the input by */
    uint32_t lat = resample_latency(r);
    uint64_t ideal = ((uint64_t)total_in * pairs[k][1]) / pairs[k][0];
    assert_true(lat > 0 && lat < pairs[k][1] / 2);
    assert_true(total_out + lat + 2 >= ideal && total_out + lat <= ideal + 2);
    do {
      assert_int_equal(resample_flush(r, out_buf, 1000, &got), 0);
      total_out += got;
    } while (got > 0);
    long during = atomic_load(&allocs) - before;
    if (during != 0)
      print_error("%u -> %u: %ld allocations while streaming\n", pairs[k][0], pairs[k][1], during);
    assert_int_equal(during, 0);
    assert_int_equal(total_out, ((uint64_t)total_in * pairs[k][1] + pairs[k][0] / 2) / pairs[k][0]);
    resample_free(r);
  }
  /* the counter works at all: a new handle allocates */
  long before = atomic_load(&allocs);
  struct resample *r = mk(44100, 48000, 2, 16, 32, RESAMPLE_HQ);
  assert_true(atomic_load(&allocs) > before);
  resample_free(r);
}

/* The priming is invisible: past the onset the output equals a fresh libsoxr stream's
 * (same recipe, nothing primed) to the LSB. */
static void test_priming_transparent(void **state) {
  (void)state;
  const uint32_t pairs[][2] = {{44100, 48000}, {48000, 44100}, {192000, 44100}};
  for (size_t k = 0; k < 3; k++) {
    uint32_t ir = pairs[k][0], orate = pairs[k][1];
    size_t frames = ir / 4;
    for (size_t i = 0; i < frames; i++)
      in_buf[i] = (int32_t)lrint(12000.0 * sin(2.0 * M_PI * 3000.0 * (double)i / ir) +
                                 8000.0 * sin(2.0 * M_PI * 440.0 * (double)i / ir));
    struct resample *r = mk(ir, orate, 1, 16, 16, RESAMPLE_HQ);
    size_t n = run(r, in_buf, frames, 1, 1000, out_buf, MAXF);
    resample_free(r);
    static int32_t ref[MAXF];
    soxr_io_spec_t io = soxr_io_spec(SOXR_INT32_I, SOXR_INT32_I);
    io.flags |= SOXR_NO_DITHER;
    soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
    soxr_runtime_spec_t rt = soxr_runtime_spec(1);
    soxr_t s = soxr_create(ir, orate, 1, NULL, &io, &q, &rt);
    assert_non_null(s);
    size_t idone, odone, rn = 0, in_done = 0;
    while (in_done < frames) {
      size_t c = frames - in_done < 1000 ? frames - in_done : 1000;
      assert_null(soxr_process(s, in_buf + in_done, c, &idone, ref + rn, MAXF - rn, &odone));
      in_done += idone;
      rn += odone;
    }
    do {
      assert_null(soxr_process(s, NULL, 0, NULL, ref + rn, MAXF - rn, &odone));
      rn += odone;
    } while (odone > 0);
    soxr_delete(s);
    size_t cmp = n < rn ? n : rn;
    assert_true(cmp + 2 >= n);
    /* A fresh libsoxr's first couple of output frames (the onset transient) come out a
     * little different from a primed one's; from frame START on they agree to the LSB,
     * while a priming drop off by one frame would differ by thousands of LSB. */
    enum { START = 16 };
    int32_t worst = 0;
    for (size_t i = START; i < cmp; i++) {
      int32_t d = abs(out_buf[i] - ref[i]);
      worst = d > worst ? d : worst;
    }
    if (worst > 1)
      print_error("%u -> %u: differs from a fresh libsoxr by %d LSB\n", ir, orate, worst);
    assert_true(worst <= 1);
  }
}

static void test_clips(void **state) {
  (void)state;
  /* a full-scale square wave overshoots in the filter: saturated at 16 bits, counted */
  for (size_t i = 0; i < 48000; i++)
    in_buf[i] = (i / 24) % 2 ? 32767 : -32768;
  struct resample *r = mk(48000, 44100, 1, 16, 16, RESAMPLE_HQ);
  size_t n = run(r, in_buf, 48000, 1, 4096, out_buf, MAXF);
  assert_int_equal(n, 44100);
  for (size_t i = 0; i < n; i++)
    assert_true(out_buf[i] >= -32768 && out_buf[i] <= 32767);
  assert_true(resample_clips(r) > 0);
  resample_free(r);
}

static void test_reset_and_errors(void **state) {
  (void)state;
  static int32_t first[8192];
  for (size_t i = 0; i < 4410; i++)
    in_buf[i] = (int32_t)lrint(10000.0 * sin((double)i * 0.05));
  struct resample *r = mk(44100, 48000, 1, 16, 16, RESAMPLE_HQ);
  size_t n1 = run(r, in_buf, 4410, 1, 500, first, 8192);
  size_t used, got;
  assert_int_equal(resample_process(r, in_buf, 10, &used, out_buf, 100, &got), -EINVAL);
  assert_int_equal(resample_reset(r), 0); /* flushed: reset makes it a fresh stream */
  assert_int_equal(resample_frames_in(r), 0);
  size_t n2 = run(r, in_buf, 4410, 1, 500, out_buf, 8192);
  assert_int_equal(n1, n2);
  assert_memory_equal(first, out_buf, n1 * sizeof(int32_t));
  assert_int_equal(resample_process(r, NULL, 1, &used, out_buf, 100, &got), -EINVAL);
  resample_free(r);
  resample_free(NULL);

  struct resample_config c = {.in_rate = 44100, .out_rate = 48000, .channels = 2, .in_bits = 24};
  c.out_bits = 16; /* narrowing would requantise without dither */
  assert_int_equal(resample_new(&c, &r), -EINVAL);
  c.out_bits = 0;
  c.channels = 9;
  assert_int_equal(resample_new(&c, &r), -EINVAL);
  c.channels = 2;
  c.in_rate = 0;
  assert_int_equal(resample_new(&c, &r), -EINVAL);
  c.in_rate = 800000;
  assert_int_equal(resample_new(&c, &r), -EINVAL);
  c.in_rate = 44100;
  c.quality = (enum resample_quality)7;
  assert_int_equal(resample_new(&c, &r), -EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sine_pairs),
      cmocka_unit_test(test_frame_count),
      cmocka_unit_test(test_latency_and_no_alloc),
      cmocka_unit_test(test_priming_transparent),
      cmocka_unit_test(test_clips),
      cmocka_unit_test(test_reset_and_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
