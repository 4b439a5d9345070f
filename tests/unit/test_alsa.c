/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ALSA output backend, on a machine without a sound card: ALSA's `file` plugin over
 * `null`, defined in an asoundrc the test writes into a temporary HOME, records the exact
 * bytes the device received. `plug` PCMs with a fixed slave rate or format (opened with
 * the NO_AUTO_* flags, so they convert nothing) stand in for picky hardware.
 *
 * The null plugin consumes instantly and never underruns, so the underrun path is driven
 * by output_alsa_inject_write_error(): the next writei "fails" with the given error and
 * the real snd_pcm_recover() runs on the open PCM. output_alsa_inject_write_errors() fakes
 * a run of writei calls that make no progress (0 or -EAGAIN) for the stall bound.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <alsa/asoundlib.h>

#include "core/err.h"
#include "platform/alsa/alsa.h"
#include "platform/output.h"

static char dir[64];
static char raw_path[128];

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "we");
  assert_non_null(f);
  assert_int_equal(fputs(text, f) >= 0, 1);
  assert_int_equal(fclose(f), 0);
}

static int group_setup(void **state) {
  (void)state;
  snprintf(dir, sizeof(dir), "/tmp/ampd-alsa-XXXXXX");
  if (mkdtemp(dir) == NULL)
    return -1;
  snprintf(raw_path, sizeof(raw_path), "%s/out.raw", dir);
  char rc[2048], path[128];
  snprintf(rc, sizeof(rc),
           "pcm.rec { type file; slave.pcm \"null\"; file \"%s\"; format \"raw\" }\n"
           "pcm.rec_s24_3 { type plug; slave { pcm \"rec\"; format S24_3LE } }\n"
           "pcm.rec_s24 { type plug; slave { pcm \"rec\"; format S24_LE } }\n"
           "pcm.rec_s32 { type plug; slave { pcm \"rec\"; format S32_LE } }\n"
           "pcm.rec_s16 { type plug; slave { pcm \"rec\"; format S16_LE } }\n"
           "pcm.fixed48 { type plug; slave { pcm \"null\"; rate 48000; channels 2 } }\n"
           "pcm.float_only { type plug; slave { pcm \"null\"; format FLOAT_LE } }\n",
           raw_path);
  snprintf(path, sizeof(path), "%s/.asoundrc", dir);
  write_file(path, rc);
  /* ALSA reads ~/.asoundrc through alsa.conf; make sure nothing points elsewhere. */
  setenv("HOME", dir, 1);
  unsetenv("ALSA_CONFIG_PATH");
  unsetenv("XDG_CONFIG_HOME");
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  char path[128];
  unlink(raw_path);
  snprintf(path, sizeof(path), "%s/.asoundrc", dir);
  unlink(path);
  rmdir(dir);
  snd_config_update_free_global(); /* ALSA's config cache, else LSan reports it */
  return 0;
}

/* The whole recorded file; *len gets its size. */
static uint8_t *read_raw(size_t *len) {
  int fd = open(raw_path, O_RDONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  struct stat st;
  assert_int_equal(fstat(fd, &st), 0);
  uint8_t *b = malloc((size_t)st.st_size + 1);
  assert_non_null(b);
  size_t got = 0;
  while (got < (size_t)st.st_size) {
    ssize_t n = read(fd, b + got, (size_t)st.st_size - got);
    assert_true(n > 0);
    got += (size_t)n;
  }
  close(fd);
  *len = got;
  return b;
}

/* A deterministic ramp-ish signal over the full range of bits, both signs. */
static int32_t *make_pcm(size_t frames, unsigned ch, unsigned bits) {
  int32_t *p = malloc(frames * ch * sizeof(*p));
  assert_non_null(p);
  int64_t range = (int64_t)1 << bits, min = -(range / 2);
  uint32_t x = 1;
  for (size_t i = 0; i < frames * ch; i++) {
    x = x * 1664525u + 1013904223u;
    p[i] = (int32_t)(min + (int64_t)(x % (uint64_t)range));
  }
  p[0] = (int32_t)min; /* the extremes */
  p[1] = (int32_t)(range / 2 - 1);
  return p;
}

static struct output_params params(const char *dev, uint32_t rate, uint8_t ch, uint8_t bits) {
  return (struct output_params){.device = dev,
                                .format = {.rate = rate, .channels = ch, .bits = bits}};
}

static struct output *open_ok(const struct output_params *p, struct output_info *info) {
  struct output *o = NULL;
  char err[OUTPUT_ERRMSG_MAX] = "";
  unlink(raw_path);
  int r = output_open(output_alsa_ops(), p, &o, info, err, sizeof(err));
  if (r != 0)
    print_error("open %s: %s (%s)\n", p->device, amp_strerror(r), err);
  assert_int_equal(r, 0);
  assert_non_null(o);
  return o;
}

/* Write frames in uneven chunks (not multiples of the period). */
static void write_chunks(struct output *o, const int32_t *pcm, size_t frames, unsigned ch) {
  size_t done = 0;
  while (done < frames) {
    size_t n = frames - done < 1234 ? frames - done : 1234;
    assert_int_equal(output_write(o, pcm + done * ch, n), 0);
    done += n;
    uint64_t delay = 99, pos = 0;
    assert_int_equal(output_delay(o, &delay), 0);
    assert_int_equal(output_position(o, &pos), 0);
    assert_true(delay <= done);
    assert_int_equal(pos, done - delay);
  }
}

/* Expected device bytes for one value. */
static size_t encode(enum output_sample_format f, int32_t v, unsigned bits, uint8_t *b) {
  switch (f) {
  case OUTPUT_FMT_S16: {
    int16_t s = (int16_t)(bits >= 16 ? v / (1 << (bits - 16)) - (v < 0 && v % (1 << (bits - 16)))
                                     : v * (1 << (16 - bits)));
    memcpy(b, &s, 2);
    return 2;
  }
  case OUTPUT_FMT_S24: {
    int32_t s = v * (1 << (24 - bits));
    memcpy(b, &s, 4);
    return 4;
  }
  case OUTPUT_FMT_S24_3: {
    int32_t s = v * (1 << (24 - bits));
    b[0] = (uint8_t)(s & 0xff);
    b[1] = (uint8_t)((s >> 8) & 0xff);
    b[2] = (uint8_t)((s >> 16) & 0xff);
    return 3;
  }
  case OUTPUT_FMT_S32: {
    int64_t s = (int64_t)v * ((int64_t)1 << (32 - bits));
    int32_t t = (int32_t)s;
    memcpy(b, &t, 4);
    return 4;
  }
  default:
    fail();
  }
  return 0;
}

/* Open dev, play frames of `bits` PCM, drain, close, and compare the recording. */
static void roundtrip(const char *dev, uint32_t rate, uint8_t ch, uint8_t bits, size_t frames,
                      enum output_sample_format want, bool exact) {
  struct output_params p = params(dev, rate, ch, bits);
  struct output_info info;
  struct output *o = open_ok(&p, &info);
  assert_int_equal(info.sample_format, want);
  assert_int_equal(info.exact, exact);
  assert_int_equal(info.format.rate, rate);
  assert_int_equal(info.format.channels, ch);
  int32_t *pcm = make_pcm(frames, ch, bits);
  write_chunks(o, pcm, frames, ch);
  assert_int_equal(output_drain(o), 0);
  uint64_t pos = 0, delay = 1;
  assert_int_equal(output_position(o, &pos), 0);
  assert_int_equal(output_delay(o, &delay), 0);
  assert_int_equal(pos, frames);
  assert_int_equal(delay, 0);
  assert_int_equal(output_xruns(o), 0);
  output_close(o);

  size_t len;
  uint8_t *raw = read_raw(&len);
  size_t fb = output_frame_bytes(want, ch);
  assert_int_equal(len, frames * fb);
  uint8_t *expect = malloc(len);
  assert_non_null(expect);
  size_t off = 0;
  for (size_t i = 0; i < frames * ch; i++)
    off += encode(want, pcm[i], bits, expect + off);
  assert_int_equal(off, len);
  assert_memory_equal(raw, expect, len);
  free(expect);
  free(raw);
  free(pcm);
}

static void test_s16_44k_stereo(void **state) {
  (void)state;
  struct output_params p = params("rec", 44100, 2, 16);
  struct output_info info;
  struct output *o = open_ok(&p, &info);
  /* 200 ms and 4 periods by default; start = buffer - period */
  assert_in_range(info.buffer_frames, 8000, 9600);
  assert_in_range(info.period_frames, info.buffer_frames / 5, info.buffer_frames / 3);
  assert_int_equal(info.start_threshold, info.buffer_frames - info.period_frames);
  assert_true(info.can_pause);
  assert_false(info.has_mixer);
  output_close(o);
  roundtrip("rec", 44100, 2, 16, 10000, OUTPUT_FMT_S16, true);
  roundtrip("rec", 44100, 2, 16, 1000, OUTPUT_FMT_S16, true); /* below the start threshold */
}

static void test_s24_source(void **state) {
  (void)state;
  roundtrip("rec", 96000, 2, 24, 20000, OUTPUT_FMT_S32, true); /* 24 bits -> S32 first */
  roundtrip("rec_s24", 96000, 2, 24, 5000, OUTPUT_FMT_S24, true);
  roundtrip("rec_s24_3", 192000, 2, 24, 5000, OUTPUT_FMT_S24_3, true);
  roundtrip("rec_s16", 48000, 2, 24, 5000, OUTPUT_FMT_S16, false); /* truncated */
  roundtrip("rec_s32", 44100, 2, 16, 5000, OUTPUT_FMT_S32, true);
  roundtrip("rec", 48000, 6, 16, 3000, OUTPUT_FMT_S16, true);
  roundtrip("rec", 48000, 1, 32, 3000, OUTPUT_FMT_S32, true);
}

static int open_err(const struct output_params *p, char *err, size_t len) {
  struct output *o = (struct output *)0x1;
  struct output_info info;
  if (err != NULL)
    err[0] = 0;
  int r = output_open(output_alsa_ops(), p, &o, &info, err, len);
  assert_ptr_equal(o, (struct output *)0x1); /* untouched on failure */
  return r;
}

static void test_refused(void **state) {
  (void)state;
  char err[OUTPUT_ERRMSG_MAX];
  struct output_params p = params("fixed48", 44100, 2, 16);
  assert_int_equal(open_err(&p, err, sizeof(err)), -AMP_EAUDIO);
  assert_non_null(strstr(err, "rate 44100"));
  assert_non_null(strstr(err, "48000")); /* what the device can do */

  p = params("fixed48", 48000, 6, 16);
  assert_int_equal(open_err(&p, err, sizeof(err)), -AMP_EAUDIO);
  assert_non_null(strstr(err, "6 channels"));
  assert_non_null(strstr(err, "2-2 channels"));

  p = params("float_only", 48000, 2, 16);
  assert_int_equal(open_err(&p, err, sizeof(err)), -AMP_EAUDIO);
  assert_non_null(strstr(err, "takes none"));

  p = params("no_such_pcm", 48000, 2, 16);
  assert_int_equal(open_err(&p, err, sizeof(err)), -ENOENT);
  assert_non_null(strstr(err, "no_such_pcm"));

  /* the exact rate works */
  struct output_info info;
  p = params("fixed48", 48000, 2, 16);
  struct output *o = open_ok(&p, &info);
  output_close(o);

  /* bad parameters */
  p = params("rec", 0, 2, 16);
  assert_int_equal(open_err(&p, err, sizeof(err)), -EINVAL);
  p = params("rec", 48000, 9, 16);
  assert_int_equal(open_err(&p, err, sizeof(err)), -EINVAL);
  p = params("rec", 48000, 2, 4);
  assert_int_equal(open_err(&p, err, sizeof(err)), -EINVAL);
  p = params("rec", 48000, 2, 16);
  p.buffer_time_us = 5000;
  assert_int_equal(open_err(&p, err, sizeof(err)), -EINVAL);
  p.buffer_time_us = 100000;
  p.period_time_us = 80000; /* fewer than 2 periods */
  assert_int_equal(open_err(&p, err, sizeof(err)), -EINVAL);
  assert_int_equal(open_err(&p, NULL, 0), -EINVAL); /* no errbuf is fine */
}

static void test_buffer_period(void **state) {
  (void)state;
  struct output_params p = params("rec", 48000, 2, 16);
  p.buffer_time_us = 500000;
  p.period_time_us = 50000;
  struct output_info info;
  struct output *o = open_ok(&p, &info);
  assert_int_equal(info.buffer_frames, 24000);
  assert_int_equal(info.period_frames, 2400);
  assert_int_equal(info.start_threshold, 21600);
  output_close(o);
}

static void test_clock_pause_drop(void **state) {
  (void)state;
  struct output_params p = params("rec", 48000, 2, 16);
  struct output_info info;
  struct output *o = open_ok(&p, &info);
  int32_t *pcm = make_pcm(48000, 2, 16);
  uint64_t pos = 0, last = 0;

  write_chunks(o, pcm, 20000, 2);
  assert_int_equal(output_position(o, &pos), 0);
  assert_true(pos <= 20000);
  last = pos;

  assert_int_equal(output_pause(o, true), 0);
  assert_int_equal(output_pause(o, true), 0);          /* idempotent */
  assert_int_equal(output_write(o, pcm, 100), -EBUSY); /* would block forever */
  assert_int_equal(output_position(o, &pos), 0);
  assert_true(pos >= last);
  assert_int_equal(output_pause(o, false), 0);
  assert_int_equal(output_write(o, pcm, 4000), 0);

  assert_int_equal(output_drop(o), 0);
  assert_int_equal(output_position(o, &pos), 0);
  assert_true(pos >= last && pos <= 24000); /* dropped frames are never counted as heard */
  last = pos;
  assert_int_equal(output_write(o, pcm, 8000), 0); /* usable after a drop */
  assert_int_equal(output_drain(o), 0);
  assert_int_equal(output_position(o, &pos), 0);
  assert_int_equal(pos, last + 8000);
  assert_int_equal(output_write(o, NULL, 0), 0);
  assert_int_equal(output_write(o, NULL, 5), -EINVAL);
  output_close(o);
  free(pcm);
}

static void test_xrun_recovery(void **state) {
  (void)state;
  struct output_params p = params("rec", 44100, 2, 16);
  struct output_info info;
  struct output *o = open_ok(&p, &info);
  int32_t *pcm = make_pcm(12000, 2, 16);

  assert_int_equal(output_write(o, pcm, 3000), 0);
  output_alsa_inject_write_error(o, -EPIPE); /* an underrun: recovered and counted */
  assert_int_equal(output_write(o, pcm + 3000 * 2, 3000), 0);
  assert_int_equal(output_xruns(o), 1);
  output_alsa_inject_write_error(o, -EPIPE);
  assert_int_equal(output_write(o, pcm + 6000 * 2, 3000), 0);
  assert_int_equal(output_xruns(o), 2);
  output_alsa_inject_write_error(o, -ESTRPIPE); /* a suspend: recovered, not an underrun */
  assert_int_equal(output_write(o, pcm + 9000 * 2, 3000), 0);
  assert_int_equal(output_xruns(o), 2);
  assert_int_equal(output_drain(o), 0);
  uint64_t pos = 0;
  assert_int_equal(output_position(o, &pos), 0);
  assert_int_equal(pos, 12000);

  /* errors snd_pcm_recover cannot handle end the write */
  output_alsa_inject_write_error(o, -EIO);
  assert_int_equal(output_write(o, pcm, 100), -AMP_EAUDIO);
  output_alsa_inject_write_error(o, -ENODEV);
  assert_int_equal(output_write(o, pcm, 100), -ENODEV);
  output_close(o);

  /* every frame reached the device despite the recoveries (recovery prepares the PCM;
   * the file plugin keeps what it was given) */
  size_t len;
  uint8_t *raw = read_raw(&len);
  assert_true(len >= 12000 * 4);
  for (size_t i = 0; i < 12000 * 2; i++) {
    int16_t s;
    memcpy(&s, raw + i * 2, 2);
    assert_int_equal(s, pcm[i]);
  }
  free(raw);
  free(pcm);
}

/* A device whose writei keeps returning 0 or -EAGAIN (a blocking PCM never should): the
 * write retries, but gives up with -AMP_EAUDIO at the OUTPUT_ALSA_MAX_STALLS-th return in
 * a row instead of spinning on the output thread. More faked returns are queued than the
 * bound, so code without a bound works through all of them and then succeeds. */
static void test_write_stall_bound(void **state) {
  (void)state;
  struct output_params p = params("rec", 44100, 2, 16);
  struct output_info info;
  struct output *o = open_ok(&p, &info);
  int32_t *pcm = make_pcm(1000, 2, 16);
  static const int stall[2] = {0, -EAGAIN};
  for (size_t i = 0; i < 2; i++) {
    /* Under the bound, twice: waited out each time (the count is per write). */
    output_alsa_inject_write_errors(o, stall[i], OUTPUT_ALSA_MAX_STALLS - 1);
    assert_int_equal(output_write(o, pcm, 500), 0);
    assert_int_equal(output_alsa_injected_left(o), 0);
    output_alsa_inject_write_errors(o, stall[i], OUTPUT_ALSA_MAX_STALLS - 1);
    assert_int_equal(output_write(o, pcm, 500), 0);
    /* Past the bound: an error after exactly OUTPUT_ALSA_MAX_STALLS tries. */
    output_alsa_inject_write_errors(o, stall[i], OUTPUT_ALSA_MAX_STALLS + 100);
    assert_int_equal(output_write(o, pcm, 500), -AMP_EAUDIO);
    assert_int_equal(output_alsa_injected_left(o), 100);
    /* The PCM itself is fine: once the device moves again, so does the write. */
    output_alsa_inject_write_errors(o, 0, 0);
    assert_int_equal(output_write(o, pcm, 500), 0);
  }
  assert_int_equal(output_xruns(o), 0); /* a stall is no underrun */
  uint64_t pos = 0;
  assert_int_equal(output_drain(o), 0);
  assert_int_equal(output_position(o, &pos), 0);
  assert_int_equal(pos, 6 * 500); /* the failed writes queued nothing */
  output_close(o);
  free(pcm);
}

/* An error that snd_pcm_recover() clears every time but that lets no frame through (an
 * -EPIPE on every call) is bounded the same way: no endless recover loop. */
static void test_write_recover_bound(void **state) {
  (void)state;
  struct output_params p = params("rec", 44100, 2, 16);
  struct output_info info;
  struct output *o = open_ok(&p, &info);
  int32_t *pcm = make_pcm(1000, 2, 16);
  output_alsa_inject_write_errors(o, -EPIPE, OUTPUT_ALSA_MAX_STALLS - 1);
  assert_int_equal(output_write(o, pcm, 500), 0); /* recovered each time, then wrote */
  output_alsa_inject_write_errors(o, -EPIPE, OUTPUT_ALSA_MAX_STALLS + 100);
  assert_int_equal(output_write(o, pcm, 500), -AMP_EAUDIO);
  assert_int_equal(output_alsa_injected_left(o), 100);
  output_alsa_inject_write_errors(o, 0, 0);
  assert_int_equal(output_write(o, pcm, 500), 0);
  output_close(o);
  free(pcm);
}

/* output_interrupt() (any thread): the write and drain after it answer -ECANCELED at once,
 * nothing more reaches the device, and what was queued is dropped, not played. (A write
 * waiting for room is woken the same way, by the eventfd in its poll: the null plugin
 * behind "rec" always has room, so this test cannot make one wait.) */
static void test_interrupt(void **state) {
  (void)state;
  struct output_params p = params("rec", 44100, 2, 16);
  struct output_info info;
  struct output *o = open_ok(&p, &info);
  int32_t *pcm = make_pcm(1000, 2, 16);
  assert_int_equal(output_write(o, pcm, 500), 0);
  assert_int_equal(output_interrupt(o), 0);
  assert_int_equal(output_write(o, pcm + 1000, 500), -ECANCELED);
  assert_int_equal(output_drain(o), -ECANCELED);
  assert_int_equal(output_write(o, pcm, 1), -ECANCELED); /* sticky */
  uint64_t pos = 0;
  assert_int_equal(output_position(o, &pos), 0);
  assert_true(pos <= 500);
  output_close(o);
  size_t len;
  uint8_t *raw = read_raw(&len);
  assert_true(len <= 500u * 4u); /* nothing of the second write */
  free(raw);
  free(pcm);
}

static void test_no_mixer(void **state) {
  (void)state;
  struct output_params p = params("rec", 48000, 2, 16);
  p.mixer_control = "Master"; /* this machine has no card, so no mixer */
  struct output_info info;
  struct output *o = open_ok(&p, &info);
  assert_false(info.has_mixer);
  unsigned pct = 77;
  long cdb = 77;
  assert_int_equal(output_volume_get(o, &pct), -ENOTSUP);
  assert_int_equal(output_volume_set(o, 50), -ENOTSUP);
  assert_int_equal(output_volume_get_db(o, &cdb), -ENOTSUP);
  assert_int_equal(output_volume_set_db(o, -2000), -ENOTSUP);
  assert_int_equal(pct, 77);
  output_close(o);

  p.mixer_control = NULL; /* none configured */
  o = open_ok(&p, &info);
  assert_false(info.has_mixer);
  assert_int_equal(output_volume_get(o, &pct), -ENOTSUP);
  output_close(o);
}

static void test_volume_mapping(void **state) {
  (void)state;
  /* a typical PCM control: -103.5 dB .. 0 dB; percent covers the top 60 dB */
  assert_int_equal(output_alsa_volume_from_percent(true, -10350, 0, 100), 0);
  assert_int_equal(output_alsa_volume_from_percent(true, -10350, 0, 150), 0);
  assert_int_equal(output_alsa_volume_from_percent(true, -10350, 0, 0), -10350);
  assert_int_equal(output_alsa_volume_from_percent(true, -10350, 0, 50), -3000);
  assert_int_equal(output_alsa_volume_from_percent(true, -10350, 0, 1), -5940);
  assert_int_equal(output_alsa_volume_to_percent(true, -10350, 0, 0), 100);
  assert_int_equal(output_alsa_volume_to_percent(true, -10350, 0, -3000), 50);
  assert_int_equal(output_alsa_volume_to_percent(true, -10350, 0, -10350), 0);
  assert_int_equal(output_alsa_volume_to_percent(true, -10350, 0, -8000), 1); /* not mute */
  assert_int_equal(output_alsa_volume_to_percent(true, -10350, 0, 500), 100);
  /* a 20 dB control: percent covers all of it */
  assert_int_equal(output_alsa_volume_from_percent(true, -2000, 0, 50), -1000);
  /* raw steps 0..255 */
  assert_int_equal(output_alsa_volume_from_percent(false, 0, 255, 50), 128);
  assert_int_equal(output_alsa_volume_to_percent(false, 0, 255, 128), 50);
  /* degenerate ranges */
  assert_int_equal(output_alsa_volume_from_percent(false, 5, 5, 50), 5);
  assert_int_equal(output_alsa_volume_to_percent(false, 5, 5, 5), 100);

  unsigned last = 0;
  for (unsigned p = 0; p <= 100; p++) {
    /* exact round trips, and monotonic */
    long v = output_alsa_volume_from_percent(true, -10350, 0, p);
    assert_int_equal(output_alsa_volume_to_percent(true, -10350, 0, v), p);
    assert_int_equal(output_alsa_volume_to_percent(
                         false, 0, 255, output_alsa_volume_from_percent(false, 0, 255, p)),
                     p);
    assert_int_equal(output_alsa_volume_to_percent(
                         true, -2000, 0, output_alsa_volume_from_percent(true, -2000, 0, p)),
                     p);
    /* a control with 0.5 dB steps lands at most a step away: within 1 % */
    long stepped = (v - 25) / 50 * 50;
    unsigned back = output_alsa_volume_to_percent(true, -10350, 0, stepped);
    assert_true(back + 1 >= p && back <= p + 1);
    assert_true(back >= last);
    last = back;
  }
}

static void test_probe(void **state) {
  (void)state;
  struct output_caps c;
  assert_int_equal(output_probe(output_alsa_ops(), "fixed48", &c), 0);
  assert_int_equal(c.rate_min, 48000);
  assert_in_range(c.rate_max, 48000, 48001);
  assert_int_equal(c.channels_min, 2);
  assert_int_equal(c.channels_max, 2);
  assert_int_equal(c.formats, (1u << OUTPUT_FMT_S16) | (1u << OUTPUT_FMT_S24) |
                                  (1u << OUTPUT_FMT_S24_3) | (1u << OUTPUT_FMT_S32));
  assert_int_equal(output_probe(output_alsa_ops(), "rec_s24_3", &c), 0);
  assert_int_equal(c.formats, 1u << OUTPUT_FMT_S24_3);
  assert_int_equal(output_probe(output_alsa_ops(), "float_only", &c), 0);
  assert_int_equal(c.formats, 0);
  assert_int_equal(output_probe(output_alsa_ops(), "no_such_pcm", &c), -ENOENT);
}

/* The wrappers refuse what the vtable does not offer. */
static int fake_open(const struct output_params *p, struct output **ret, struct output_info *i,
                     char *e, size_t n) {
  (void)p;
  (void)ret;
  (void)i;
  (void)e;
  (void)n;
  return 0;
}

static void test_vtable(void **state) {
  (void)state;
  const struct output_ops *ops = output_alsa_ops();
  assert_int_equal(ops->version, OUTPUT_OPS_VERSION);
  assert_string_equal(ops->name, "alsa");

  struct output_ops old = {.version = 0, .name = "old", .open = fake_open};
  struct output_ops partial = {.version = OUTPUT_OPS_VERSION, .name = "partial"};
  struct output *o = NULL;
  struct output_info info;
  struct output_params p = params("rec", 48000, 2, 16);
  assert_int_equal(output_open(&old, &p, &o, &info, NULL, 0), -ENOTSUP);
  assert_int_equal(output_open(&partial, &p, &o, &info, NULL, 0), -ENOTSUP);
  assert_int_equal(output_open(NULL, &p, &o, &info, NULL, 0), -ENOTSUP);
  struct output h = {.ops = &partial};
  uint64_t v;
  assert_int_equal(output_write(&h, NULL, 0), -ENOTSUP);
  assert_int_equal(output_delay(&h, &v), -ENOTSUP);
  assert_int_equal(output_pause(&h, true), -ENOTSUP);
  assert_int_equal(output_xruns(&h), 0);
  assert_int_equal(output_write(NULL, NULL, 0), -ENOTSUP);
  output_close(&h); /* no close slot: nothing happens */
  output_close(NULL);
  assert_int_equal(output_frame_bytes(OUTPUT_FMT_S24_3, 2), 6);
  assert_int_equal(output_frame_bytes(OUTPUT_FMT_NONE, 2), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_s16_44k_stereo),
      cmocka_unit_test(test_s24_source),
      cmocka_unit_test(test_refused),
      cmocka_unit_test(test_buffer_period),
      cmocka_unit_test(test_clock_pause_drop),
      cmocka_unit_test(test_xrun_recovery),
      cmocka_unit_test(test_write_stall_bound),
      cmocka_unit_test(test_write_recover_bound),
      cmocka_unit_test(test_interrupt),
      cmocka_unit_test(test_no_mixer),
      cmocka_unit_test(test_volume_mapping),
      cmocka_unit_test(test_probe),
      cmocka_unit_test(test_vtable),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
