/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pipe output backend (platform/pipe): bit-exact bytes for every device format into a
 * regular file and through a FIFO read by the test, a FIFO without a reader (open does not
 * block), a reader that goes away (an error, never SIGPIPE), pause/drop/drain and the
 * clock, a file reopened by the process (appended to, truncated only at its first open),
 * a write blocked on a full FIFO ended by output_interrupt() from another thread, the
 * version check of the interrupt wrapper; and output_backend_find().
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/err.h"
#include "platform/backends.h"
#include "platform/output.h"
#include "platform/pipe/pipe.h"

static char dir[64];
static char file_path[128];
static char fifo_path[128];
static char dev[160];

static int group_setup(void **state) {
  (void)state;
  snprintf(dir, sizeof(dir), "/tmp/ampd-pipe-XXXXXX");
  if (mkdtemp(dir) == NULL)
    return -1;
  snprintf(file_path, sizeof(file_path), "%s/out.raw", dir);
  snprintf(fifo_path, sizeof(fifo_path), "%s/fifo", dir);
  if (mkfifo(fifo_path, 0600) < 0)
    return -1;
  /* The default action: a SIGPIPE that reached the process would kill the test. */
  signal(SIGPIPE, SIG_DFL);
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  unlink(file_path);
  unlink(fifo_path);
  rmdir(dir);
  return 0;
}

static struct output_params params(const char *device, uint32_t rate, uint8_t ch, uint8_t bits) {
  return (struct output_params){
      .device = device,
      .format = {.rate = rate, .channels = ch, .bits = bits},
      .buffer_time_us = 20000, /* period 5 ms: 240 frames at 48 kHz, so writes are chunked */
  };
}

/* The file tests compare the whole file: a new file each time (a file this process
 * opened before is appended to). */
static void fresh_file(void) {
  assert_true(unlink(file_path) == 0 || errno == ENOENT);
}

static struct output *open_ok(const char *device, uint8_t ch, uint8_t bits,
                              struct output_info *info) {
  struct output_params p = params(device, 48000, ch, bits);
  struct output *o = NULL;
  char err[OUTPUT_ERRMSG_MAX] = "";
  int r = output_open(output_pipe_ops(), &p, &o, info, err, sizeof(err));
  if (r != 0)
    print_error("open %s: %d %s\n", device, r, err);
  assert_int_equal(r, 0);
  assert_non_null(o);
  return o;
}

static size_t read_file(const char *path, uint8_t *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  size_t n = 0;
  for (;;) {
    ssize_t r = read(fd, buf + n, cap - n);
    assert_true(r >= 0);
    if (r == 0)
      break;
    n += (size_t)r;
    assert_true(n < cap); /* the file is never as big as the buffer */
  }
  close(fd);
  return n;
}

/* Source values (in `bits`) with the corners of each width. */
static int32_t src_value(size_t i, unsigned bits) {
  int32_t max = (int32_t)((1u << (bits - 1)) - 1u), min = -max - 1;
  switch (i % 8) {
  case 0:
    return min;
  case 1:
    return max;
  case 2:
    return -1;
  case 3:
    return 0;
  case 4:
    return 1;
  default:
    return (int32_t)((uint32_t)(i * 2654435761u) % (uint32_t)max) * (i % 2 ? -1 : 1);
  }
}

/* The expected little-endian bytes of one value, computed here without the backend: the
 * value scaled from `bits` to the format's width by shifting (exact widening, truncating
 * narrowing). */
static size_t expect_bytes(enum output_sample_format f, unsigned bits, int32_t v, uint8_t *out) {
  int64_t x = v;
  unsigned to = f == OUTPUT_FMT_S16 ? 16 : f == OUTPUT_FMT_S32 ? 32 : 24;
  if (to >= bits)
    x *= (int64_t)1 << (to - bits);
  else {
    int64_t d = (int64_t)1 << (bits - to);
    x = x >= 0 ? x / d : -((-x + d - 1) / d); /* floor division */
  }
  uint32_t u = (uint32_t)(int32_t)x;
  size_t n = f == OUTPUT_FMT_S16 ? 2 : f == OUTPUT_FMT_S24_3 ? 3 : 4;
  for (size_t k = 0; k < n; k++)
    out[k] = (uint8_t)(u >> (8 * k));
  if (f == OUTPUT_FMT_S24) /* sign-extended in its 4-byte container */
    out[3] = (x < 0) ? 0xff : 0x00;
  return n;
}

#define FRAMES 1000 /* > 4 periods of 240: the write is chunked */
#define MAXCH 2

static void check_format(const char *prefix, enum output_sample_format f, unsigned bits) {
  _Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the expected bytes are LE");
  static int32_t pcm[FRAMES * MAXCH];
  static uint8_t want[FRAMES * MAXCH * 4], got[FRAMES * MAXCH * 4 + 1];
  size_t wn = 0;
  for (size_t i = 0; i < FRAMES * MAXCH; i++) {
    pcm[i] = src_value(i, bits);
    wn += expect_bytes(f, bits, pcm[i], want + wn);
  }
  if (prefix != NULL)
    snprintf(dev, sizeof(dev), "%s:%s", prefix, file_path);
  else
    snprintf(dev, sizeof(dev), "%s", file_path);
  fresh_file();
  struct output_info info;
  struct output *o = open_ok(dev, MAXCH, (uint8_t)bits, &info);
  assert_int_equal(info.sample_format, f);
  assert_int_equal(info.exact, (f == OUTPUT_FMT_S16   ? 16u
                                : f == OUTPUT_FMT_S32 ? 32u
                                                      : 24u) >= bits);
  assert_int_equal(info.period_frames, 240);
  assert_int_equal(output_write(o, pcm, 7), 0); /* odd sizes too */
  assert_int_equal(output_write(o, pcm + 7 * MAXCH, FRAMES - 7), 0);
  uint64_t pos = 0, delay = 1;
  assert_int_equal(output_position(o, &pos), 0);
  assert_int_equal(pos, FRAMES);
  assert_int_equal(output_delay(o, &delay), 0);
  assert_int_equal(delay, 0);
  assert_int_equal(output_drain(o), 0);
  output_close(o);
  size_t n = read_file(file_path, got, sizeof(got));
  assert_int_equal(n, wn);
  assert_memory_equal(got, want, wn);
}

static void test_file_formats(void **state) {
  (void)state;
  /* the defaults by source width */
  check_format(NULL, OUTPUT_FMT_S16, 16);
  check_format(NULL, OUTPUT_FMT_S24_3, 24);
  check_format(NULL, OUTPUT_FMT_S32, 32);
  /* every format named, from 16 and from 24 bits */
  static const char *names[] = {"S16", "S24", "S24_3", "S32"};
  static const enum output_sample_format fmts[] = {OUTPUT_FMT_S16, OUTPUT_FMT_S24, OUTPUT_FMT_S24_3,
                                                   OUTPUT_FMT_S32};
  for (size_t i = 0; i < 4; i++) {
    check_format(names[i], fmts[i], 16);
    check_format(names[i], fmts[i], 24);
  }
}

static void test_file_packing_24(void **state) {
  (void)state;
  /* S24_3 byte by byte, spelled out */
  int32_t pcm[4] = {0x123456, -1, -0x800000, 0x7fffff};
  const uint8_t want[12] = {0x56, 0x34, 0x12, 0xff, 0xff, 0xff, 0x00, 0x00, 0x80, 0xff, 0xff, 0x7f};
  snprintf(dev, sizeof(dev), "S24_3:%s", file_path);
  fresh_file();
  struct output_info info;
  struct output *o = open_ok(dev, 2, 24, &info);
  assert_int_equal(output_write(o, pcm, 2), 0);
  output_close(o);
  uint8_t got[64];
  assert_int_equal(read_file(file_path, got, sizeof(got)), 12);
  assert_memory_equal(got, want, 12);
  /* S24 in 4 bytes: the same values, sign-extended */
  const uint8_t want4[16] = {0x56, 0x34, 0x12, 0x00, 0xff, 0xff, 0xff, 0xff,
                             0x00, 0x00, 0x80, 0xff, 0xff, 0xff, 0x7f, 0x00};
  snprintf(dev, sizeof(dev), "S24:%s", file_path);
  fresh_file();
  o = open_ok(dev, 2, 24, &info);
  assert_int_equal(output_write(o, pcm, 2), 0);
  output_close(o);
  assert_int_equal(read_file(file_path, got, sizeof(got)), 16);
  assert_memory_equal(got, want4, 16);
}

/* The engine reopens the output at a format change: the stretch written before must stay
 * in the file. A file that held something before this process opened it is truncated at
 * the first open only. */
static void test_file_reopen_appends(void **state) {
  (void)state;
  char path[160];
  snprintf(path, sizeof(path), "%s/collect.raw", dir);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  static const char old[] = "what an earlier run left in the file";
  assert_int_equal(write(fd, old, sizeof(old)), (ssize_t)sizeof(old));
  close(fd);

  int32_t a[4] = {0x1234, -2, 3, -0x8000}; /* 2 stereo frames as S16 */
  int32_t b[3] = {0x123456, -1, 7};        /* then 3 mono frames of 24 bits as S24_3 */
  uint8_t want[8 + 9];
  size_t wn = 0;
  for (size_t i = 0; i < 4; i++)
    wn += expect_bytes(OUTPUT_FMT_S16, 16, a[i], want + wn);
  for (size_t i = 0; i < 3; i++)
    wn += expect_bytes(OUTPUT_FMT_S24_3, 24, b[i], want + wn);

  struct output_info info;
  struct output *o = open_ok(path, 2, 16, &info);
  assert_int_equal(output_write(o, a, 2), 0);
  output_close(o);
  o = open_ok(path, 1, 24, &info); /* a format change: closed and opened again */
  assert_int_equal(info.sample_format, OUTPUT_FMT_S24_3);
  assert_int_equal(output_write(o, b, 3), 0);
  uint64_t pos = 0;
  assert_int_equal(output_position(o, &pos), 0);
  assert_int_equal(pos, 3); /* the clock is the handle's own: frames since this open */
  output_close(o);
  uint8_t got[64];
  assert_int_equal(read_file(path, got, sizeof(got)), wn);
  assert_memory_equal(got, want, wn);
  unlink(path);
}

static void test_fifo_no_reader(void **state) {
  (void)state;
  struct output_params p = params(fifo_path, 48000, 2, 16);
  struct output *o = (struct output *)(uintptr_t)1;
  struct output_info info;
  char err[OUTPUT_ERRMSG_MAX] = "";
  /* returns at once (the test would hang here otherwise) */
  assert_int_equal(output_open(output_pipe_ops(), &p, &o, &info, err, sizeof(err)), -EBUSY);
  assert_non_null(strstr(err, "no reader"));
  assert_ptr_equal(o, (struct output *)(uintptr_t)1); /* untouched on failure */
}

struct reader {
  int fd;
  uint8_t *buf;
  size_t cap, len;
};

static void *reader_main(void *arg) {
  struct reader *r = arg;
  for (;;) {
    ssize_t n = read(r->fd, r->buf + r->len, r->cap - r->len);
    if (n <= 0)
      break;
    r->len += (size_t)n;
  }
  return NULL;
}

#define BIG_FRAMES 48000 /* 288000 bytes as S24_3 stereo: several times a pipe buffer */

static void test_fifo_reader(void **state) {
  (void)state;
  int rfd = open(fifo_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  assert_true(rfd >= 0);
  int fl = fcntl(rfd, F_GETFL);
  assert_int_equal(fcntl(rfd, F_SETFL, fl & ~O_NONBLOCK), 0);
  snprintf(dev, sizeof(dev), "S24_3:%s", fifo_path);
  struct output_info info;
  struct output *o = open_ok(dev, 2, 24, &info);
  assert_int_equal(info.sample_format, OUTPUT_FMT_S24_3);

  int32_t *pcm = malloc(BIG_FRAMES * 2 * sizeof(*pcm));
  uint8_t *want = malloc(BIG_FRAMES * 2 * 3);
  struct reader rd = {.fd = rfd, .cap = BIG_FRAMES * 2 * 3 + 1, .len = 0};
  rd.buf = malloc(rd.cap);
  assert_non_null(pcm);
  assert_non_null(want);
  assert_non_null(rd.buf);
  size_t wn = 0;
  for (size_t i = 0; i < BIG_FRAMES * 2; i++) {
    pcm[i] = src_value(i, 24);
    wn += expect_bytes(OUTPUT_FMT_S24_3, 24, pcm[i], want + wn);
  }
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, reader_main, &rd), 0);
  assert_int_equal(output_write(o, pcm, BIG_FRAMES), 0); /* blocks while the reader reads */
  uint64_t pos = 0;
  assert_int_equal(output_position(o, &pos), 0);
  assert_int_equal(pos, BIG_FRAMES);
  output_close(o); /* the reader sees EOF */
  assert_int_equal(pthread_join(th, NULL), 0);
  close(rfd);
  assert_int_equal(rd.len, wn);
  assert_memory_equal(rd.buf, want, wn);
  free(rd.buf);
  free(want);
  free(pcm);
}

/* Every format through a FIFO (small enough for the pipe buffer: no reader thread). */
static void test_fifo_formats(void **state) {
  (void)state;
  static const char *names[] = {"S16", "S24", "S24_3", "S32"};
  static const enum output_sample_format fmts[] = {OUTPUT_FMT_S16, OUTPUT_FMT_S24, OUTPUT_FMT_S24_3,
                                                   OUTPUT_FMT_S32};
  static int32_t pcm[FRAMES * MAXCH];
  static uint8_t want[FRAMES * MAXCH * 4], got[FRAMES * MAXCH * 4 + 1];
  for (size_t k = 0; k < 4; k++) {
    size_t wn = 0;
    for (size_t i = 0; i < FRAMES * MAXCH; i++) {
      pcm[i] = src_value(i, 24);
      wn += expect_bytes(fmts[k], 24, pcm[i], want + wn);
    }
    int rfd = open(fifo_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    assert_true(rfd >= 0);
    snprintf(dev, sizeof(dev), "%s:%s", names[k], fifo_path);
    struct output_info info;
    struct output *o = open_ok(dev, MAXCH, 24, &info);
    assert_int_equal(info.sample_format, fmts[k]);
    assert_int_equal(output_write(o, pcm, FRAMES), 0);
    output_close(o);
    size_t n = 0;
    for (;;) {
      ssize_t r = read(rfd, got + n, sizeof(got) - n);
      if (r <= 0)
        break; /* 0: the writer closed and everything is read */
      n += (size_t)r;
    }
    close(rfd);
    assert_int_equal(n, wn);
    assert_memory_equal(got, want, wn);
  }
}

static void test_fifo_reader_goes_away(void **state) {
  (void)state;
  int rfd = open(fifo_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  assert_true(rfd >= 0);
  struct output_info info;
  struct output *o = open_ok(fifo_path, 2, 16, &info);
  int32_t pcm[2 * 256] = {0};
  assert_int_equal(output_write(o, pcm, 256), 0);
  close(rfd);
  /* SIGPIPE's default action would end the test here */
  assert_int_equal(output_write(o, pcm, 256), -ENODEV);
  assert_int_equal(output_write(o, pcm, 256), -ENODEV); /* and again */
  sigset_t pending;
  sigemptyset(&pending);
  assert_int_equal(sigpending(&pending), 0);
  assert_int_equal(sigismember(&pending, SIGPIPE), 0); /* consumed, not left for later */
  sigset_t mask;
  assert_int_equal(pthread_sigmask(SIG_BLOCK, NULL, &mask), 0);
  assert_int_equal(sigismember(&mask, SIGPIPE), 0); /* the thread's mask is restored */
  output_close(o);

  /* the player reopens: -EBUSY until a reader is back, then it plays again */
  struct output_params p = params(fifo_path, 48000, 2, 16);
  assert_int_equal(output_open(output_pipe_ops(), &p, &o, &info, NULL, 0), -EBUSY);
  rfd = open(fifo_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  assert_true(rfd >= 0);
  o = open_ok(fifo_path, 2, 16, &info);
  pcm[0] = 0x1234;
  assert_int_equal(output_write(o, pcm, 1), 0);
  uint8_t got[8];
  assert_int_equal(read(rfd, got, sizeof(got)), 4);
  assert_int_equal(got[0], 0x34);
  assert_int_equal(got[1], 0x12);
  output_close(o);
  close(rfd);
}

struct blocked_writer {
  struct output *o;
  const int32_t *pcm;
  size_t frames;
  int r;
  int done; /* eventfd, written when output_write() returned */
};

static void *blocked_writer_main(void *arg) {
  struct blocked_writer *w = arg;
  w->r = output_write(w->o, w->pcm, w->frames);
  uint64_t one = 1;
  ssize_t n = write(w->done, &one, sizeof(one));
  (void)n;
  return NULL;
}

/* Seconds the test waits for the interrupted write: a hang guard, not a timing bound (the
 * write cannot finish by itself, nobody reads the FIFO). */
#define WATCHDOG_MS 20000

/* The FIFO has no room: a writer with more to write waits. Seen through a second writer
 * fd of the FIFO, polled without waiting. */
static bool fifo_full(void) {
  int fd = open(fifo_path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  assert_true(fd >= 0);
  struct pollfd pfd = {.fd = fd, .events = POLLOUT};
  int n = poll(&pfd, 1, 0);
  close(fd);
  return n == 0;
}

/* A reader that keeps the FIFO open and stops reading (snapserver stuck): the write
 * blocks, and output_interrupt() from another thread ends it with -ECANCELED; after that
 * write and drain answer -ECANCELED at once. On a backend without the slot the write
 * would never return: the watchdog then closes the reader (the write fails with -ENODEV)
 * and the test fails. */
static void test_fifo_write_interrupted(void **state) {
  (void)state;
  int rfd = open(fifo_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  assert_true(rfd >= 0);
  int pipe_size = fcntl(rfd, F_GETPIPE_SZ);
  assert_true(pipe_size > 0);
  struct output_info info;
  struct output *o = open_ok(fifo_path, 2, 16, &info);
  size_t frames = (size_t)pipe_size; /* 4 bytes a frame: 4 times what the FIFO holds */
  int32_t *pcm = calloc(frames * 2, sizeof(*pcm));
  assert_non_null(pcm);
  struct blocked_writer w = {.o = o, .pcm = pcm, .frames = frames, .r = 1};
  w.done = eventfd(0, EFD_CLOEXEC);
  assert_true(w.done >= 0);
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, blocked_writer_main, &w), 0);

  struct pollfd done = {.fd = w.done, .events = POLLIN};
  /* wait until the FIFO is full (the writer is then waiting for room), bounded */
  int waited = 0;
  while (!fifo_full() && waited < WATCHDOG_MS) {
    assert_int_equal(poll(&done, 1, 1), 0); /* the write cannot have returned */
    waited++;
  }
  assert_true(fifo_full());
  assert_int_equal(poll(&done, 1, 0), 0); /* still blocked */

  int ri = output_interrupt(o); /* from this thread, while the writer's thread waits */
  int n = poll(&done, 1, WATCHDOG_MS);
  if (n == 0) {
    close(rfd); /* unblock the writer (EPIPE) so the thread can be joined */
    rfd = -1;
  }
  assert_int_equal(pthread_join(th, NULL), 0);
  assert_int_equal(n, 1); /* the write returned after the interrupt, not the watchdog */
  assert_int_equal(ri, 0);
  assert_int_equal(w.r, -ECANCELED);
  uint64_t pos = 0;
  assert_int_equal(output_position(o, &pos), 0);
  assert_true(pos < frames); /* it did not finish: nobody read */
  /* sticky: later calls answer at once without writing */
  assert_int_equal(output_write(o, pcm, 1), -ECANCELED);
  assert_int_equal(output_drain(o), -ECANCELED);
  uint64_t pos2 = 0;
  assert_int_equal(output_position(o, &pos2), 0);
  assert_int_equal(pos2, pos);
  output_close(o);
  if (rfd >= 0)
    close(rfd);
  close(w.done);
  free(pcm);
}

/* An interrupt before any write: the first write answers -ECANCELED and writes nothing. */
static void test_interrupt_before_write(void **state) {
  (void)state;
  fresh_file();
  struct output_info info;
  struct output *o = open_ok(file_path, 2, 16, &info);
  assert_int_equal(output_interrupt(o), 0);
  assert_int_equal(output_interrupt(o), 0); /* twice is fine */
  int32_t pcm[4] = {1, 2, 3, 4};
  assert_int_equal(output_write(o, pcm, 2), -ECANCELED);
  output_close(o);
  uint8_t got[16];
  assert_int_equal(read_file(file_path, got, sizeof(got)), 0);
}

static int fake_calls;
static void fake_interrupt(struct output *o) {
  (void)o;
  fake_calls++;
}

/* A version 1 backend has no interrupt slot: the wrapper answers -ENOTSUP without reading
 * past the slots of version 1 (here the field exists but must not be called). */
static void test_interrupt_wrapper_version(void **state) {
  (void)state;
  struct output_ops v1 = {.version = 1, .name = "v1", .interrupt = fake_interrupt};
  struct output o = {.ops = &v1};
  assert_int_equal(output_interrupt(&o), -ENOTSUP);
  assert_int_equal(fake_calls, 0);
  v1.version = 2;
  assert_int_equal(output_interrupt(&o), 0);
  assert_int_equal(fake_calls, 1);
  v1.interrupt = NULL;
  assert_int_equal(output_interrupt(&o), -ENOTSUP);
  assert_int_equal(output_interrupt(NULL), -ENOTSUP);
  assert_int_equal(fake_calls, 1);
  assert_int_equal(OUTPUT_OPS_VERSION, 2);
}

static void test_pause_drop_drain(void **state) {
  (void)state;
  struct output_info info;
  fresh_file();
  struct output *o = open_ok(file_path, 1, 16, &info);
  assert_true(info.can_pause);
  assert_false(info.has_mixer);
  int32_t pcm[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  assert_int_equal(output_write(o, pcm, 10), 0);
  assert_int_equal(output_pause(o, true), 0);
  assert_int_equal(output_write(o, pcm, 10), -EBUSY); /* nothing written while paused */
  uint64_t pos = 0;
  assert_int_equal(output_position(o, &pos), 0);
  assert_int_equal(pos, 10);
  assert_int_equal(output_pause(o, false), 0);
  assert_int_equal(output_write(o, pcm, 10), 0);
  assert_int_equal(output_drop(o), 0);
  assert_int_equal(output_position(o, &pos), 0);
  assert_int_equal(pos, 20); /* written frames are gone to the reader: nothing to drop */
  assert_int_equal(output_pause(o, true), 0);
  assert_int_equal(output_drop(o), 0); /* drop un-pauses, as ALSA's does */
  assert_int_equal(output_write(o, pcm, 5), 0);
  assert_int_equal(output_pause(o, true), 0);
  assert_int_equal(output_drain(o), 0); /* so does drain */
  assert_int_equal(output_write(o, pcm, 5), 0);
  assert_int_equal(output_write(o, NULL, 0), 0);
  assert_int_equal(output_write(o, NULL, 1), -EINVAL);
  assert_int_equal(output_xruns(o), 0);
  unsigned pct;
  assert_int_equal(output_volume_get(o, &pct), -ENOTSUP);
  assert_int_equal(output_volume_set(o, 50), -ENOTSUP);
  output_close(o);
  uint8_t got[128];
  assert_int_equal(read_file(file_path, got, sizeof(got)), 30 * 2);
}

static void test_bad_devices(void **state) {
  (void)state;
  struct output *o = NULL;
  struct output_info info;
  char err[OUTPUT_ERRMSG_MAX];
  struct output_params p = params(NULL, 48000, 2, 16);
  const struct output_ops *ops = output_pipe_ops();
  assert_int_equal(output_open(ops, &p, &o, &info, err, sizeof(err)), -EINVAL);
  p.device = "";
  assert_int_equal(output_open(ops, &p, &o, &info, err, sizeof(err)), -EINVAL);
  snprintf(dev, sizeof(dev), "S25:%s", file_path);
  p.device = dev;
  assert_int_equal(output_open(ops, &p, &o, &info, err, sizeof(err)), -EINVAL);
  assert_non_null(strstr(err, "bad device"));
  p.device = dir;
  assert_int_equal(output_open(ops, &p, &o, &info, err, sizeof(err)), -EINVAL);
  snprintf(dev, sizeof(dev), "%s/no/such/dir/x", dir);
  p.device = dev;
  assert_int_equal(output_open(ops, &p, &o, &info, err, sizeof(err)), -ENOENT);
  p = params(file_path, 0, 2, 16);
  assert_int_equal(output_open(ops, &p, &o, &info, err, sizeof(err)), -EINVAL);
  p = params(file_path, 48000, 9, 16);
  assert_int_equal(output_open(ops, &p, &o, &info, err, sizeof(err)), -EINVAL);
  p = params(file_path, 48000, 2, 16);
  p.buffer_time_us = 5000;
  assert_int_equal(output_open(ops, &p, &o, &info, NULL, 0), -EINVAL);
  assert_null(o);

  struct output_caps caps;
  assert_int_equal(output_probe(ops, fifo_path, &caps), 0);
  assert_int_equal(caps.channels_max, OUTPUT_MAX_CHANNELS);
  assert_int_equal(caps.formats, (1u << OUTPUT_FMT_S16) | (1u << OUTPUT_FMT_S24) |
                                     (1u << OUTPUT_FMT_S24_3) | (1u << OUTPUT_FMT_S32));
  snprintf(dev, sizeof(dev), "S16:%s/new.raw", dir);
  assert_int_equal(output_probe(ops, dev, &caps), 0);
  assert_int_equal(caps.formats, 1u << OUTPUT_FMT_S16);
  snprintf(dev, sizeof(dev), "%s/no/such/dir/x", dir);
  assert_int_equal(output_probe(ops, dev, &caps), -ENOENT);
  assert_int_equal(output_probe(ops, dir, &caps), -EINVAL);
}

static void test_backend_find(void **state) {
  (void)state;
  static const char *names[] = {"alsa", "pipe", "null"};
  for (size_t i = 0; i < 3; i++) {
    const struct output_ops *ops = output_backend_find(names[i]);
    assert_non_null(ops);
    assert_string_equal(ops->name, names[i]);
    assert_int_equal(ops->version, OUTPUT_OPS_VERSION);
    assert_ptr_equal(output_backend_at(i), ops);
  }
  assert_null(output_backend_at(3));
  assert_ptr_equal(output_backend_find("pipe"), output_pipe_ops());
  assert_null(output_backend_find("ALSA"));
  assert_null(output_backend_find("pulse"));
  assert_null(output_backend_find(""));
  assert_null(output_backend_find(NULL));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_file_formats),
      cmocka_unit_test(test_file_packing_24),
      cmocka_unit_test(test_file_reopen_appends),
      cmocka_unit_test(test_fifo_no_reader),
      cmocka_unit_test(test_fifo_reader),
      cmocka_unit_test(test_fifo_formats),
      cmocka_unit_test(test_fifo_reader_goes_away),
      cmocka_unit_test(test_fifo_write_interrupted),
      cmocka_unit_test(test_interrupt_before_write),
      cmocka_unit_test(test_interrupt_wrapper_version),
      cmocka_unit_test(test_pause_drop_drain),
      cmocka_unit_test(test_bad_devices),
      cmocka_unit_test(test_backend_find),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
