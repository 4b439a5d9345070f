/* SPDX-License-Identifier: Apache-2.0 */
/* null output backend (platform/null/null.h): discards, optionally paced in real time.
 * In sync mode the waits are ppoll(2) on an eventfd with the time left as the timeout,
 * so that output_interrupt() from another thread cuts a wait short. */
#include "platform/null/null.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "platform/output_util.h"

LOG_TOPIC("null");

#define USEC_PER_SEC 1000000u
/* The fastest "sync:N": 64 x 768 kHz still fits the uint32_t clock rate. */
#define NULL_SPEED_MAX 64u

struct null_output {
  struct output base; /* first: the handle callers see */
  struct pcm_format fmt;
  bool sync;
  uint32_t speed; /* sync: the clock runs this many times the real rate (1..NULL_SPEED_MAX) */
  bool paused;
  bool running;  /* sync: the simulated clock runs (frames queued, not paused) */
  bool held;     /* sync: paused while the clock ran; resuming restarts it */
  bool draining; /* sync: inside drain, where running dry is the point */
  uint32_t buffer_frames;
  uint32_t period_frames;
  uint32_t start_frames;      /* sync: queued frames that start the clock (buffer - period) */
  uint64_t written;           /* frames queued since open, minus frames dropped */
  uint64_t heard;             /* sync: frames heard when the clock last (re)started or stopped */
  uint64_t t0_us;             /* sync: clock_mono_usec() when it last started */
  uint64_t drain_us;          /* sync: clock_mono_usec() when the drain under way began */
  atomic_uint_fast64_t xruns; /* sync: times the queue ran dry while playing */
  int wake;                   /* sync: eventfd, readable once interrupted (never read); else -1 */
  atomic_bool interrupted;
};

static struct null_output *from(struct output *o) {
  return (struct null_output *)o;
}

/* Whole frames played in us microseconds (floor), without overflow for any run time. */
static uint64_t frames_in_us(uint32_t rate, uint64_t us) {
  return (us / USEC_PER_SEC) * rate + (us % USEC_PER_SEC) * rate / USEC_PER_SEC;
}

/* Microseconds until n frames have played (ceil). */
static uint64_t us_for_frames(uint32_t rate, uint64_t n) {
  return (n / rate) * USEC_PER_SEC + ((n % rate) * USEC_PER_SEC + rate - 1) / rate;
}

/* Frames a second of the simulated clock plays: the rate times the speed. */
static uint32_t clock_rate(const struct null_output *o) {
  return o->fmt.rate * o->speed;
}

/* "sync" (speed 1) or "sync:N", N in 1..NULL_SPEED_MAX without leading zeros: 1 and
 * *ret_speed; anything else 0. */
static bool parse_sync(const char *mode, uint32_t *ret_speed) {
  if (strncmp(mode, "sync", 4) != 0)
    return false;
  if (mode[4] == '\0') {
    *ret_speed = 1;
    return true;
  }
  const char *p = mode + 5;
  if (mode[4] != ':' || *p < '1' || *p > '9')
    return false;
  uint32_t n = 0;
  for (; *p >= '0' && *p <= '9'; p++) {
    n = n * 10 + (uint32_t)(*p - '0');
    if (n > NULL_SPEED_MAX)
      return false;
  }
  if (*p != '\0')
    return false;
  *ret_speed = n;
  return true;
}

static bool interrupted(struct null_output *o) {
  return atomic_load_explicit(&o->interrupted, memory_order_acquire);
}

/* Sleep us microseconds or until interrupted (-ECANCELED). 0 also after a signal: the
 * callers compute the time left again. */
static int sleep_us(struct null_output *o, uint64_t us) {
  if (interrupted(o))
    return -ECANCELED;
  struct timespec ts = {.tv_sec = (time_t)(us / USEC_PER_SEC),
                        .tv_nsec = (long)(us % USEC_PER_SEC) * 1000L};
  struct pollfd pfd = {.fd = o->wake, .events = POLLIN};
  int n = ppoll(&pfd, 1, &ts, NULL);
  if (n > 0 || interrupted(o))
    return -ECANCELED;
  return 0;
}

/* Frames heard so far; stops the clock when the queue has run dry. Running dry is an
 * underrun unless a drain asked for it: one that began before the queue ran out. */
static uint64_t heard(struct null_output *o) {
  if (!o->sync)
    return o->written;
  if (!o->running)
    return o->heard;
  uint64_t now = clock_mono_usec();
  uint64_t h = o->heard + frames_in_us(clock_rate(o), now > o->t0_us ? now - o->t0_us : 0);
  if (h >= o->written) {
    uint64_t dry_us = o->t0_us + us_for_frames(clock_rate(o), o->written - o->heard);
    if (!o->draining || dry_us < o->drain_us)
      atomic_fetch_add(&o->xruns, 1);
    o->running = false;
    o->heard = o->written;
    return o->written;
  }
  return h;
}

static void start_clock(struct null_output *o) {
  o->running = true;
  o->t0_us = clock_mono_usec();
}

/* Sleep until `target` frames (<= written) have been heard. 0, or -ECANCELED. */
static int wait_heard(struct null_output *o, uint64_t target) {
  for (uint64_t h = heard(o); h < target && o->running; h = heard(o)) {
    uint64_t due = o->t0_us + us_for_frames(clock_rate(o), target - o->heard);
    uint64_t now = clock_mono_usec();
    int r = sleep_us(o, due > now ? due - now : 1);
    if (r < 0)
      return r;
  }
  return 0;
}

static int null_open(const struct output_params *p, struct output **ret,
                     struct output_info *ret_info, char *errbuf, size_t errlen) {
  if (p == NULL || ret == NULL || ret_info == NULL)
    return -EINVAL;
  uint32_t buffer_us, period_us;
  int r = output_check_params(p, &buffer_us, &period_us, errbuf, errlen);
  if (r < 0)
    return r;
  enum output_sample_format sfmt;
  const char *mode;
  bool sync = false;
  uint32_t speed = 1;
  if (output_device_split(p->device, &sfmt, &mode) < 0) {
    mode = NULL;
  } else if (parse_sync(mode, &speed)) {
    sync = true;
  } else if (mode[0] != '\0' && strcmp(mode, "default") != 0) {
    mode = NULL;
  }
  if (mode == NULL) {
    output_seterr(errbuf, errlen, "null: bad device '%s' (want [FMT:]default or [FMT:]sync[:N])",
                  p->device ? p->device : "");
    return -EINVAL;
  }
  if (sfmt == OUTPUT_FMT_NONE)
    sfmt = output_default_format(p->format.bits);
  struct null_output *o = calloc(1, sizeof(*o));
  if (o == NULL)
    return -ENOMEM;
  o->base.ops = output_null_ops();
  o->fmt = p->format;
  o->sync = sync;
  o->speed = speed;
  o->wake = -1;
  atomic_init(&o->interrupted, false);
  if (sync) {
    o->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (o->wake < 0) {
      r = -errno;
      output_seterr(errbuf, errlen, "null: eventfd: %s", strerror(errno));
      free(o);
      return r;
    }
  }
  o->buffer_frames = output_frames_of_us(p->format.rate, buffer_us);
  o->period_frames = output_frames_of_us(p->format.rate, period_us);
  /* ALSA's default start threshold; check_params keeps at least 2 periods a buffer, so
   * the clock starts before the buffer is full. */
  o->start_frames = o->buffer_frames - o->period_frames;
  atomic_init(&o->xruns, 0);
  log_debug("%u Hz, %u ch, %u bits as %s%s (x%u)", p->format.rate, p->format.channels,
            p->format.bits, output_format_name(sfmt), sync ? ", paced" : "", speed);
  *ret_info = (struct output_info){
      .format = p->format,
      .sample_format = sfmt,
      .exact = output_format_bits(sfmt) >= p->format.bits,
      .buffer_frames = o->buffer_frames,
      .period_frames = o->period_frames,
      .start_threshold = o->start_frames,
      .can_pause = true,
      .has_mixer = false,
  };
  *ret = &o->base;
  return 0;
}

static void null_close(struct output *base) {
  struct null_output *o = from(base);
  if (o == NULL)
    return;
  if (o->wake >= 0)
    close(o->wake);
  free(o);
}

static int null_write(struct output *base, const int32_t *pcm, size_t frames) {
  struct null_output *o = from(base);
  if (pcm == NULL && frames > 0)
    return -EINVAL;
  if (interrupted(o))
    return -ECANCELED;
  if (o->paused)
    return -EBUSY;
  if (!o->sync) {
    o->written += frames;
    return 0;
  }
  while (frames > 0) {
    uint64_t h = heard(o);
    uint64_t room = o->buffer_frames - (o->written - h);
    if (room == 0) {
      /* full: wait for one period of room (or what is left to queue) */
      if (!o->running) /* cannot happen: the threshold is below the buffer */
        start_clock(o);
      uint64_t want = frames < o->period_frames ? frames : o->period_frames;
      int r = wait_heard(o, o->written - o->buffer_frames + want);
      if (r < 0)
        return r; /* the frames queued so far stay queued */
      continue;
    }
    uint64_t n = frames < room ? frames : room;
    o->written += n;
    frames -= (size_t)n;
    if (!o->running && o->written - o->heard >= o->start_frames)
      start_clock(o);
  }
  return 0;
}

static int null_drain(struct output *base) {
  struct null_output *o = from(base);
  o->paused = false;
  if (interrupted(o))
    return -ECANCELED;
  if (!o->sync)
    return 0;
  o->drain_us = clock_mono_usec();
  o->draining = true;
  heard(o); /* a queue that ran dry before the drain was an underrun */
  if (!o->running && o->written > o->heard) /* paused, or below the start threshold */
    start_clock(o);
  int r = wait_heard(o, o->written);
  o->draining = false;
  return r;
}

static int null_drop(struct output *base) {
  struct null_output *o = from(base);
  uint64_t h = heard(o);
  o->written = h; /* thrown away, never heard */
  o->heard = h;
  o->running = false;
  o->held = false;
  o->paused = false;
  return 0;
}

static int null_pause(struct output *base, bool pause) {
  struct null_output *o = from(base);
  if (pause == o->paused)
    return 0;
  if (o->sync) {
    if (pause) {
      o->heard = heard(o); /* freeze the clock with the queue in place */
      o->held = o->running;
      o->running = false;
    } else if (o->held && o->written > o->heard) {
      /* Only a clock that ran starts again: a queue paused below the start threshold
       * waits for it, as on ALSA, instead of starting short of data. */
      start_clock(o);
    }
  }
  o->paused = pause;
  return 0;
}

static int null_delay(struct output *base, uint64_t *ret_frames) {
  struct null_output *o = from(base);
  *ret_frames = o->written - heard(o);
  return 0;
}

static int null_position(struct output *base, uint64_t *ret_frames) {
  *ret_frames = heard(from(base));
  return 0;
}

static uint64_t null_xruns(const struct output *base) {
  return atomic_load(&((struct null_output *)(uintptr_t)base)->xruns);
}

/* Any thread: the flag for the checks, the eventfd for a ppoll() already waiting. */
static void null_interrupt(struct output *base) {
  struct null_output *o = from(base);
  atomic_store_explicit(&o->interrupted, true, memory_order_release);
  if (o->wake >= 0) {
    uint64_t one = 1;
    ssize_t w = write(o->wake, &one, sizeof(one)); /* EAGAIN only near 2^64 */
    (void)w;
  }
}

static int null_probe(const char *device, struct output_caps *ret) {
  enum output_sample_format sfmt;
  const char *mode;
  uint32_t speed;
  if (output_device_split(device, &sfmt, &mode) < 0 ||
      (mode[0] != '\0' && strcmp(mode, "default") != 0 && !parse_sync(mode, &speed)))
    return -EINVAL;
  *ret = output_any_caps(sfmt);
  return 0;
}

static const struct output_ops null_ops = {
    .version = OUTPUT_OPS_VERSION,
    .name = "null",
    .open = null_open,
    .close = null_close,
    .write = null_write,
    .drain = null_drain,
    .drop = null_drop,
    .pause = null_pause,
    .delay = null_delay,
    .position = null_position,
    .xruns = null_xruns,
    .probe = null_probe,
    .interrupt = null_interrupt,
};

const struct output_ops *output_null_ops(void) {
  return &null_ops;
}
