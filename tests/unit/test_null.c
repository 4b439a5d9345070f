/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The null output backend (platform/null): without sync every call returns at once; with
 * "sync" the clock is paced from the monotonic clock. The paced checks are bounds, never
 * speeds: position never runs ahead of the time elapsed since the first write, a write
 * into a full buffer cannot return before the simulated device made room, drain cannot
 * return before everything played. clock_advance() (core/clock.h) moves the monotonic
 * clock to check the rate itself without waiting. output_interrupt() from another thread
 * ends a sync write or drain that waits for the simulated device (a watchdog fails the
 * test instead of hanging when it does not).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/clock.h"
#include "platform/null/null.h"
#include "platform/output.h"

#define RATE 48000u
#define BUFFER_FRAMES 960u /* 20 ms */
#define PERIOD_FRAMES 240u /* 5 ms */

static int32_t pcm[2 * 4800];

static struct output *open_null(const char *device, struct output_info *info) {
  struct output_params p = {
      .device = device,
      .format = {.rate = RATE, .channels = 2, .bits = 16},
      .buffer_time_us = 20000,
  };
  struct output *o = NULL;
  char err[OUTPUT_ERRMSG_MAX] = "";
  assert_int_equal(output_open(output_null_ops(), &p, &o, info, err, sizeof(err)), 0);
  assert_int_equal(info->buffer_frames, BUFFER_FRAMES);
  assert_int_equal(info->period_frames, PERIOD_FRAMES);
  return o;
}

/* Frames the rate allows in `us` (floor), exact integer arithmetic. */
static uint64_t allowed(uint64_t us) {
  return us * RATE / 1000000u;
}

static uint64_t pos_of(struct output *o) {
  uint64_t pos = 0;
  assert_int_equal(output_position(o, &pos), 0);
  return pos;
}

static uint64_t delay_of(struct output *o) {
  uint64_t d = 0;
  assert_int_equal(output_delay(o, &d), 0);
  return d;
}

static void test_nosync(void **state) {
  (void)state;
  struct output_info info;
  struct output *o = open_null(NULL, &info);
  assert_int_equal(info.sample_format, OUTPUT_FMT_S16);
  assert_true(info.can_pause);
  assert_int_equal(output_write(o, pcm, 4800), 0);
  assert_int_equal(output_write(o, pcm, 4800), 0); /* 200 ms "played" at once */
  assert_int_equal(pos_of(o), 9600);
  assert_int_equal(delay_of(o), 0);
  assert_int_equal(output_pause(o, true), 0);
  assert_int_equal(output_write(o, pcm, 10), -EBUSY);
  assert_int_equal(output_pause(o, false), 0);
  assert_int_equal(output_drop(o), 0);
  assert_int_equal(pos_of(o), 9600); /* nothing queued, nothing dropped */
  assert_int_equal(output_drain(o), 0);
  assert_int_equal(output_write(o, NULL, 1), -EINVAL);
  assert_int_equal(output_xruns(o), 0);
  unsigned pct;
  assert_int_equal(output_volume_get(o, &pct), -ENOTSUP);
  output_close(o);
  o = open_null("S24_3:default", &info);
  assert_int_equal(info.sample_format, OUTPUT_FMT_S24_3);
  output_close(o);
}

static void test_sync_paced(void **state) {
  (void)state;
  struct output_info info;
  struct output *o = open_null("sync", &info);
  uint64_t start = clock_mono_usec();
  uint64_t written = 0, last = 0;
  while (written < 4800) { /* 100 ms in periods */
    assert_int_equal(output_write(o, pcm, PERIOD_FRAMES), 0);
    written += PERIOD_FRAMES;
    uint64_t pos = pos_of(o), delay = delay_of(o);
    uint64_t pos2 = pos_of(o);
    uint64_t now = clock_mono_usec();         /* after the reads: they cannot have seen later */
    assert_true(pos <= allowed(now - start)); /* never ahead of the time elapsed */
    assert_true(pos >= last);                 /* never back */
    assert_true(pos2 >= pos);
    assert_true(delay <= BUFFER_FRAMES); /* the buffer's bound */
    assert_true(pos <= written && pos + delay <= written);
    last = pos2;
  }
  /* The write could only queue a buffer ahead: 4800 frames took at least 3840 frames. */
  assert_true(allowed(clock_mono_usec() - start) >= written - BUFFER_FRAMES);
  assert_int_equal(output_drain(o), 0);
  uint64_t end = clock_mono_usec();
  assert_int_equal(pos_of(o), written);
  assert_int_equal(delay_of(o), 0);
  assert_true((end - start) * RATE >= written * 1000000u); /* drain waited for the end */
  output_close(o);
}

static void test_sync_rate(void **state) {
  (void)state;
  struct output_info info;
  struct output *o = open_null("sync", &info);
  uint64_t start = clock_mono_usec();
  assert_int_equal(output_write(o, pcm, BUFFER_FRAMES), 0); /* room: returns at once */
  assert_int_equal(clock_advance(10000, 0), 0);             /* 10 ms = 480 frames */
  uint64_t pos = pos_of(o);
  assert_true(pos >= 480);
  assert_true(pos <= allowed(clock_mono_usec() - start));
  assert_int_equal(pos + delay_of(o), BUFFER_FRAMES);
  assert_int_equal(clock_advance(1000000, 0), 0); /* far past the end: the queue ran dry */
  assert_int_equal(pos_of(o), BUFFER_FRAMES);     /* and the clock stopped there */
  assert_int_equal(delay_of(o), 0);
  /* the clock restarts at the next write, not from where the old run would be */
  assert_int_equal(output_write(o, pcm, BUFFER_FRAMES), 0);
  assert_true(pos_of(o) < 2 * BUFFER_FRAMES);
  assert_true(delay_of(o) > 0);
  output_close(o);
}

/* "sync:4": the clock plays four times the rate; the bounds scale with it. */
static void test_sync_speed(void **state) {
  (void)state;
  struct output_info info;
  struct output *o = open_null("sync:4", &info);
  uint64_t start = clock_mono_usec();
  assert_int_equal(output_write(o, pcm, BUFFER_FRAMES), 0);
  assert_int_equal(clock_advance(2000, 0), 0); /* 2 ms: 96 frames at 1x, 384 at 4x */
  uint64_t pos = pos_of(o);
  assert_true(pos >= 4 * 96);
  assert_true(pos <= 4 * allowed(clock_mono_usec() - start));
  assert_int_equal(output_drain(o), 0);
  assert_int_equal(pos_of(o), BUFFER_FRAMES);
  output_close(o);
}

static void test_sync_drop(void **state) {
  (void)state;
  struct output_info info;
  struct output *o = open_null("sync", &info);
  uint64_t start = clock_mono_usec();
  assert_int_equal(output_write(o, pcm, BUFFER_FRAMES), 0);
  assert_int_equal(output_drop(o), 0);
  uint64_t pos = pos_of(o);
  assert_true(pos <= allowed(clock_mono_usec() - start));
  assert_true(pos < BUFFER_FRAMES); /* the dropped frames never count */
  assert_int_equal(delay_of(o), 0);
  assert_int_equal(clock_advance(1000000, 0), 0);
  assert_int_equal(pos_of(o), pos); /* stopped: nothing queued */
  assert_int_equal(output_write(o, pcm, 100), 0);
  assert_int_equal(output_drain(o), 0);
  assert_int_equal(pos_of(o), pos + 100);
  output_close(o);
}

static void test_sync_pause(void **state) {
  (void)state;
  struct output_info info;
  struct output *o = open_null("sync", &info);
  assert_int_equal(output_write(o, pcm, BUFFER_FRAMES), 0);
  assert_int_equal(output_pause(o, true), 0);
  uint64_t p1 = pos_of(o), d1 = delay_of(o);
  assert_int_equal(p1 + d1, BUFFER_FRAMES);
  assert_int_equal(clock_advance(1000000, 0), 0);
  assert_int_equal(pos_of(o), p1); /* frozen in place */
  assert_int_equal(delay_of(o), d1);
  assert_int_equal(output_write(o, pcm, 10), -EBUSY);
  assert_int_equal(output_pause(o, true), 0); /* idempotent */
  assert_int_equal(output_pause(o, false), 0);
  assert_int_equal(clock_advance(1000000, 0), 0);
  assert_int_equal(pos_of(o), BUFFER_FRAMES); /* resumed and played out */
  /* drain resumes a paused output and plays out the rest */
  assert_int_equal(output_write(o, pcm, 100), 0);
  assert_int_equal(output_pause(o, true), 0);
  assert_int_equal(output_drain(o), 0);
  assert_int_equal(pos_of(o), BUFFER_FRAMES + 100);
  assert_int_equal(output_write(o, pcm, 1), 0);
  output_close(o);
}

/* A pause below the start threshold (the clock not yet started) keeps it stopped on
 * resume: the queue still waits for the threshold, as ALSA's does, instead of running
 * short of data (which counted an underrun on a loaded machine). */
static void test_sync_pause_not_started(void **state) {
  (void)state;
  struct output_info info;
  struct output *o = open_null("sync", &info);
  assert_int_equal(output_write(o, pcm, PERIOD_FRAMES), 0);
  assert_int_equal(output_pause(o, true), 0);
  assert_int_equal(output_pause(o, false), 0);
  assert_int_equal(clock_advance(1000000, 0), 0);
  assert_int_equal(pos_of(o), 0); /* not started */
  assert_int_equal(delay_of(o), PERIOD_FRAMES);
  assert_int_equal(output_xruns(o), 0);
  /* the threshold reached, it starts and plays; drain plays out the rest */
  assert_int_equal(output_write(o, pcm, info.start_threshold - PERIOD_FRAMES), 0);
  assert_int_equal(clock_advance(5000, 0), 0);
  assert_true(pos_of(o) >= 240);
  assert_int_equal(output_drain(o), 0);
  assert_int_equal(pos_of(o), info.start_threshold);
  assert_int_equal(output_xruns(o), 0);
  output_close(o);
}

/* The clock starts at the start threshold (buffer - period), as ALSA's does; drain
 * starts it below. */
static void test_sync_threshold(void **state) {
  (void)state;
  struct output_info info;
  struct output *o = open_null("sync", &info);
  assert_int_equal(info.start_threshold, BUFFER_FRAMES - PERIOD_FRAMES);
  assert_int_equal(output_write(o, pcm, PERIOD_FRAMES), 0);
  assert_int_equal(clock_advance(1000000, 0), 0);
  assert_int_equal(pos_of(o), 0); /* below the threshold: not started */
  assert_int_equal(delay_of(o), PERIOD_FRAMES);
  assert_int_equal(output_write(o, pcm, info.start_threshold - PERIOD_FRAMES), 0);
  assert_int_equal(clock_advance(5000, 0), 0); /* 5 ms = 240 frames */
  assert_true(pos_of(o) >= 240);
  assert_int_equal(output_drain(o), 0);
  assert_int_equal(pos_of(o), info.start_threshold);
  assert_int_equal(output_write(o, pcm, 10), 0); /* drain plays out less than it */
  assert_int_equal(output_drain(o), 0);
  assert_int_equal(pos_of(o), info.start_threshold + 10);
  output_close(o);
}

/* A device of 2 s (the longest buffer): real time between two calls here cannot run it
 * dry by accident, only clock_advance() does. */
static struct output *open_2s(struct output_info *info) {
  struct output_params p = {
      .device = "sync",
      .format = {.rate = RATE, .channels = 2, .bits = 16},
      .buffer_time_us = OUTPUT_MAX_BUFFER_US,
  };
  struct output *o = NULL;
  assert_int_equal(output_open(output_null_ops(), &p, &o, info, NULL, 0), 0);
  assert_int_equal(info->buffer_frames, 2 * RATE);
  return o;
}

/* Queue n frames (at most the buffer: never waits). */
static void queue(struct output *o, uint64_t n) {
  while (n > 0) {
    size_t k = n < 4800 ? (size_t)n : 4800;
    assert_int_equal(output_write(o, pcm, k), 0);
    n -= k;
  }
}

/* Running dry while playing is an underrun; a drain, a drop or a pause is not. */
static void test_sync_underrun(void **state) {
  (void)state;
  struct output_info info;
  struct output *o = open_2s(&info);
  uint64_t buf = info.buffer_frames;
  queue(o, buf);
  assert_int_equal(output_drain(o), 0); /* played out on purpose */
  queue(o, buf);
  assert_int_equal(output_pause(o, true), 0);
  assert_int_equal(clock_advance(10000000, 0), 0); /* paused: frozen, not dry */
  assert_int_equal(output_drop(o), 0);
  assert_int_equal(clock_advance(10000000, 0), 0);
  assert_int_equal(output_xruns(o), 0);
  /* the writer is late: the queue runs dry while the clock runs */
  uint64_t p0 = pos_of(o);
  queue(o, buf);
  assert_int_equal(clock_advance(10000000, 0), 0);
  assert_int_equal(pos_of(o), p0 + buf);
  assert_int_equal(output_xruns(o), 1);
  assert_int_equal(pos_of(o), p0 + buf); /* counted once */
  assert_int_equal(output_xruns(o), 1);
  /* a drain that comes after the queue ran dry does not excuse it */
  queue(o, buf);
  assert_int_equal(clock_advance(10000000, 0), 0);
  assert_int_equal(output_drain(o), 0);
  assert_int_equal(output_xruns(o), 2);
  output_close(o);
}

/* A hang guard, not a timing bound: the interrupted calls could not end by themselves
 * before minutes of simulated playback. */
#define WATCHDOG_MS 20000
#define SLOW_RATE 1000u /* 1 frame a millisecond: a long play in a small buffer */

static struct output *open_slow(uint32_t buffer_us) {
  struct output_params p = {
      .device = "sync",
      .format = {.rate = SLOW_RATE, .channels = 2, .bits = 16},
      .buffer_time_us = buffer_us,
  };
  struct output *o = NULL;
  struct output_info info;
  assert_int_equal(output_open(output_null_ops(), &p, &o, &info, NULL, 0), 0);
  return o;
}

struct waiter {
  struct output *o;
  const int32_t *pcm;
  size_t frames; /* 0: drain */
  int r;
  int done; /* eventfd, written when the call returned */
};

static void *waiter_main(void *arg) {
  struct waiter *w = arg;
  w->r = w->frames > 0 ? output_write(w->o, w->pcm, w->frames) : output_drain(w->o);
  uint64_t one = 1;
  ssize_t n = write(w->done, &one, sizeof(one));
  (void)n;
  return NULL;
}

/* Run the waiter on its own thread, interrupt it from this one, wait for it under the
 * watchdog. The call's result. */
static int interrupt_waiter(struct waiter *w) {
  w->done = eventfd(0, EFD_CLOEXEC);
  assert_true(w->done >= 0);
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, waiter_main, w), 0);
  struct pollfd done = {.fd = w->done, .events = POLLIN};
  /* Give it a moment to reach its wait (the interrupt is sticky: earlier works too). */
  assert_int_equal(poll(&done, 1, 50), 0); /* it cannot have returned by itself */
  int ri = output_interrupt(w->o);
  int n = poll(&done, 1, WATCHDOG_MS);
  if (n == 0) {
    print_error("still blocked %d ms after output_interrupt() (%d)\n", WATCHDOG_MS, ri);
    exit(1); /* the thread cannot be joined: end the test binary, failed */
  }
  assert_int_equal(pthread_join(th, NULL), 0);
  assert_int_equal(ri, 0);
  close(w->done);
  return w->r;
}

static void test_sync_write_interrupted(void **state) {
  (void)state;
  struct output *o = open_slow(20000); /* 20 frames of buffer */
  size_t frames = 600u * SLOW_RATE;    /* 600 s of play */
  int32_t *big = calloc(frames * 2, sizeof(*big));
  assert_non_null(big);
  struct waiter w = {.o = o, .pcm = big, .frames = frames, .r = 1};
  assert_int_equal(interrupt_waiter(&w), -ECANCELED);
  uint64_t pos = pos_of(o), delay = delay_of(o);
  assert_true(pos + delay < frames);                     /* it did not finish */
  assert_int_equal(output_write(o, big, 1), -ECANCELED); /* sticky, at once */
  assert_int_equal(output_drain(o), -ECANCELED);
  assert_int_equal(pos_of(o) + delay_of(o), pos + delay); /* nothing more queued */
  output_close(o);
  free(big);
}

static void test_sync_drain_interrupted(void **state) {
  (void)state;
  struct output *o = open_slow(2000000); /* 2 s of buffer, filled at once */
  int32_t *full = calloc(2 * 2000, sizeof(*full));
  assert_non_null(full);
  assert_int_equal(output_write(o, full, 2000), 0);
  struct waiter w = {.o = o, .frames = 0, .r = 1};
  assert_int_equal(interrupt_waiter(&w), -ECANCELED);
  assert_true(delay_of(o) > 0); /* what was queued did not all play */
  output_close(o);
  free(full);
}

static void test_nosync_interrupt(void **state) {
  (void)state;
  struct output_info info;
  struct output *o = open_null(NULL, &info);
  assert_int_equal(output_write(o, pcm, 10), 0);
  assert_int_equal(output_interrupt(o), 0);
  assert_int_equal(output_write(o, pcm, 10), -ECANCELED);
  assert_int_equal(output_drain(o), -ECANCELED);
  assert_int_equal(pos_of(o), 10);
  output_close(o);
}

static void test_bad(void **state) {
  (void)state;
  struct output_params p = {.device = "fast", .format = {.rate = RATE, .channels = 2, .bits = 16}};
  struct output *o = NULL;
  struct output_info info;
  char err[OUTPUT_ERRMSG_MAX] = "";
  assert_int_equal(output_open(output_null_ops(), &p, &o, &info, err, sizeof(err)), -EINVAL);
  assert_non_null(strstr(err, "bad device"));
  p.device = "S8:sync";
  assert_int_equal(output_open(output_null_ops(), &p, &o, &info, NULL, 0), -EINVAL);
  p.device = "sync";
  p.format.channels = 0;
  assert_int_equal(output_open(output_null_ops(), &p, &o, &info, NULL, 0), -EINVAL);
  assert_null(o);
  struct output_caps caps;
  assert_int_equal(output_probe(output_null_ops(), "S32:sync", &caps), 0);
  assert_int_equal(caps.formats, 1u << OUTPUT_FMT_S32);
  assert_int_equal(output_probe(output_null_ops(), NULL, &caps), 0);
  assert_int_equal(output_probe(output_null_ops(), "fast", &caps), -EINVAL);
  assert_int_equal(output_probe(output_null_ops(), "S16:sync:64", &caps), 0);
  static const char *const bad_speed[] = {"sync:",   "sync:0", "sync:65", "sync:04",
                                          "sync:4x", "sync4",  "sync:-1", "sync:99999999999"};
  p.format.channels = 2;
  for (size_t i = 0; i < sizeof(bad_speed) / sizeof(bad_speed[0]); i++) {
    p.device = bad_speed[i];
    assert_int_equal(output_open(output_null_ops(), &p, &o, &info, NULL, 0), -EINVAL);
    assert_int_equal(output_probe(output_null_ops(), bad_speed[i], &caps), -EINVAL);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_nosync),
      cmocka_unit_test(test_sync_paced),
      cmocka_unit_test(test_sync_rate),
      cmocka_unit_test(test_sync_speed),
      cmocka_unit_test(test_sync_drop),
      cmocka_unit_test(test_sync_pause),
      cmocka_unit_test(test_sync_pause_not_started),
      cmocka_unit_test(test_sync_threshold),
      cmocka_unit_test(test_sync_underrun),
      cmocka_unit_test(test_sync_write_interrupted),
      cmocka_unit_test(test_sync_drain_interrupted),
      cmocka_unit_test(test_nosync_interrupt),
      cmocka_unit_test(test_bad),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
