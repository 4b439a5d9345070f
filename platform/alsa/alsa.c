/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ALSA output backend. snd_pcm_writei() on the output thread in non-blocking mode: when
 * the device has no room the write waits in poll(2) on the PCM's descriptors and an
 * eventfd, so output_interrupt() from another thread ends the wait (a blocking writei
 * could not be woken). A conversion buffer of one period and the pollfd array are
 * allocated at open, so writes never allocate.
 */
#include "platform/alsa/alsa.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <alsa/asoundlib.h>

#include "core/err.h"
#include "core/log.h"
#include "platform/output_util.h"

LOG_TOPIC("alsa");

#define ALSA_OPEN_MODE                                                                             \
  (SND_PCM_NO_AUTO_RESAMPLE | SND_PCM_NO_AUTO_CHANNELS | SND_PCM_NO_AUTO_FORMAT)
#define ALSA_VOLUME_WINDOW_CDB 6000L /* percent maps linearly onto the top 60 dB */
#define ALSA_WAIT_MS 1000            /* the wait for room when a write made no progress */
_Static_assert(OUTPUT_ALSA_MAX_STALLS >= 1, "a stall bound of 0 would refuse every retry");

struct alsa_output {
  struct output base; /* first: the handle callers see */
  snd_pcm_t *pcm;
  struct pcm_format fmt;
  enum output_sample_format sfmt;
  size_t frame_bytes; /* device bytes per frame */
  uint8_t *conv;      /* conv_frames frames in the device format */
  size_t conv_frames;
  snd_pcm_uframes_t buffer_frames;
  snd_pcm_uframes_t period_frames;
  uint64_t written;  /* frames handed to ALSA since open, minus frames dropped */
  uint64_t last_pos; /* keeps position() monotonic */
  atomic_uint xruns;
  bool can_pause;
  bool paused;
  int wake;                /* eventfd: readable once interrupted (never read) */
  atomic_bool interrupted; /* output_interrupt() was called */
  struct pollfd *pfds;     /* the PCM's poll descriptors, then wake */
  int npfds;               /* the PCM's (the array has one more) */
  int inject_err;          /* tests: the next inject_count writei calls "return" this */
  unsigned inject_count;   /* tests: writei calls left to fake */
  /* mixer */
  snd_mixer_t *mixer;
  snd_mixer_elem_t *elem;
  long raw_min, raw_max;
  bool has_db;
  long db_min, db_max; /* 1/100 dB */
};

static struct alsa_output *from(struct output *o) {
  return (struct alsa_output *)o;
}

__attribute__((format(printf, 5, 6))) static void
alsa_lib_error(const char *file, int line, const char *function, int err, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  (void)file;
  (void)line;
  log_debug("libasound %s: %s%s%s", function, msg, err ? ": " : "", err ? snd_strerror(err) : "");
}

static snd_pcm_format_t snd_format(enum output_sample_format f) {
  switch (f) {
  case OUTPUT_FMT_S16:
    return SND_PCM_FORMAT_S16;
  case OUTPUT_FMT_S24:
    return SND_PCM_FORMAT_S24;
  case OUTPUT_FMT_S24_3:
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return SND_PCM_FORMAT_S24_3BE;
#else
    return SND_PCM_FORMAT_S24_3LE;
#endif
  case OUTPUT_FMT_S32:
    return SND_PCM_FORMAT_S32;
  case OUTPUT_FMT_NONE:
    break;
  }
  return SND_PCM_FORMAT_UNKNOWN;
}

static const char *format_name(enum output_sample_format f) {
  return snd_pcm_format_name(snd_format(f));
}

/* Convert n frames of int32 PCM to the device format at o->conv. */
static void convert(struct alsa_output *o, const int32_t *in, size_t n) {
  output_convert(o->sfmt, o->fmt.bits, in, n * o->fmt.channels, o->conv);
}

static int map_open_error(int err) {
  if (err == -ENOENT || err == -ENODEV || err == -EBUSY || err == -EAGAIN || err == -ENOMEM ||
      err == -EACCES || err == -EPERM)
    return err == -EAGAIN ? -EBUSY : err;
  return -AMP_EAUDIO;
}

/* Describe what the device can do, for the error message. */
static void describe_caps(snd_pcm_t *pcm, snd_pcm_hw_params_t *any, char *buf, size_t len) {
  unsigned rmin = 0, rmax = 0, cmin = 0, cmax = 0;
  int dir = 0;
  snd_pcm_hw_params_get_rate_min(any, &rmin, &dir);
  snd_pcm_hw_params_get_rate_max(any, &rmax, &dir);
  snd_pcm_hw_params_get_channels_min(any, &cmin);
  snd_pcm_hw_params_get_channels_max(any, &cmax);
  char fmts[64] = "";
  size_t used = 0;
  for (int f = OUTPUT_FMT_S16; f <= OUTPUT_FMT_S32; f++)
    if (snd_pcm_hw_params_test_format(pcm, any, snd_format((enum output_sample_format)f)) == 0) {
      int w = snprintf(fmts + used, sizeof(fmts) - used, "%s%s", used ? "," : "",
                       format_name((enum output_sample_format)f));
      if (w < 0 || (size_t)w >= sizeof(fmts) - used)
        break;
      used += (size_t)w;
    }
  snprintf(buf, len, "can do %u-%u Hz, %u-%u channels, formats %s", rmin, rmax, cmin, cmax,
           used ? fmts : "none of S16/S24/S24_3/S32");
}

static int mixer_open(struct alsa_output *o, const struct output_params *p) {
  const char *card = p->mixer_device ? p->mixer_device : "default";
  snd_mixer_selem_id_t *sid = NULL;
  int r = snd_mixer_open(&o->mixer, 0);
  if (r < 0)
    goto fail;
  if ((r = snd_mixer_attach(o->mixer, card)) < 0 ||
      (r = snd_mixer_selem_register(o->mixer, NULL, NULL)) < 0 ||
      (r = snd_mixer_load(o->mixer)) < 0)
    goto fail;
  if ((r = snd_mixer_selem_id_malloc(&sid)) < 0)
    goto fail;
  snd_mixer_selem_id_set_name(sid, p->mixer_control);
  snd_mixer_selem_id_set_index(sid, p->mixer_index);
  o->elem = snd_mixer_find_selem(o->mixer, sid);
  snd_mixer_selem_id_free(sid);
  if (o->elem == NULL || !snd_mixer_selem_has_playback_volume(o->elem)) {
    r = -ENOENT;
    goto fail;
  }
  if ((r = snd_mixer_selem_get_playback_volume_range(o->elem, &o->raw_min, &o->raw_max)) < 0 ||
      o->raw_max <= o->raw_min) {
    r = r < 0 ? r : -EINVAL;
    goto fail;
  }
  o->has_db = snd_mixer_selem_get_playback_dB_range(o->elem, &o->db_min, &o->db_max) == 0 &&
              o->db_min < o->db_max;
  return 0;
fail:
  log_debug("no mixer control '%s' on %s: %s", p->mixer_control, card, snd_strerror(r));
  if (o->mixer != NULL)
    snd_mixer_close(o->mixer);
  o->mixer = NULL;
  o->elem = NULL;
  return r;
}

static void alsa_close(struct output *base) {
  struct alsa_output *o = from(base);
  if (o == NULL)
    return;
  if (o->pcm != NULL)
    snd_pcm_close(o->pcm); /* drops whatever is queued */
  if (o->mixer != NULL)
    snd_mixer_close(o->mixer);
  if (o->wake >= 0)
    close(o->wake);
  free(o->pfds);
  free(o->conv);
  free(o);
}

static int alsa_open(const struct output_params *p, struct output **ret,
                     struct output_info *ret_info, char *errbuf, size_t errlen) {
  if (p == NULL || ret == NULL || ret_info == NULL)
    return -EINVAL;
  uint32_t buffer_time, period_time;
  int r = output_check_params(p, &buffer_time, &period_time, errbuf, errlen);
  if (r < 0)
    return r;
  const char *dev = p->device ? p->device : "default";
  unsigned buffer_us = buffer_time, period_us = period_time;
  snd_pcm_hw_params_t *hw = NULL, *any = NULL;
  snd_pcm_sw_params_t *sw = NULL;
  char caps[160];

  snd_lib_error_set_handler(alsa_lib_error);
  struct alsa_output *o = calloc(1, sizeof(*o));
  if (o == NULL)
    return -ENOMEM;
  o->wake = -1;
  o->base.ops = output_alsa_ops();
  o->fmt = p->format;
  atomic_init(&o->xruns, 0);
  atomic_init(&o->interrupted, false);
  o->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (o->wake < 0) {
    r = -errno;
    output_seterr(errbuf, errlen, "alsa: eventfd: %s", strerror(errno));
    goto fail;
  }

  r = snd_pcm_open(&o->pcm, dev, SND_PCM_STREAM_PLAYBACK, ALSA_OPEN_MODE);
  if (r < 0) {
    o->pcm = NULL;
    output_seterr(errbuf, errlen, "cannot open %s: %s", dev, snd_strerror(r));
    r = map_open_error(r);
    goto fail;
  }
  if (snd_pcm_hw_params_malloc(&hw) < 0 || snd_pcm_hw_params_malloc(&any) < 0 ||
      snd_pcm_sw_params_malloc(&sw) < 0) {
    r = -ENOMEM;
    goto fail;
  }
  if ((r = snd_pcm_hw_params_any(o->pcm, hw)) < 0) {
    output_seterr(errbuf, errlen, "%s: no hardware configuration: %s", dev, snd_strerror(r));
    r = -AMP_EAUDIO;
    goto fail;
  }
  snd_pcm_hw_params_copy(any, hw);
  describe_caps(o->pcm, any, caps, sizeof(caps));
  if (snd_pcm_hw_params_set_access(o->pcm, hw, SND_PCM_ACCESS_RW_INTERLEAVED) < 0 ||
      snd_pcm_hw_params_set_rate_resample(o->pcm, hw, 0) < 0) {
    output_seterr(errbuf, errlen, "%s: no interleaved read/write access", dev);
    r = -AMP_EAUDIO;
    goto fail;
  }
  if (snd_pcm_hw_params_set_channels(o->pcm, hw, p->format.channels) < 0) {
    output_seterr(errbuf, errlen, "%u channels not supported by %s (%s)", p->format.channels, dev,
                  caps);
    r = -AMP_EAUDIO;
    goto fail;
  }
  if (snd_pcm_hw_params_set_rate(o->pcm, hw, p->format.rate, 0) < 0) {
    output_seterr(errbuf, errlen, "rate %u Hz not supported by %s (%s)", p->format.rate, dev, caps);
    r = -AMP_EAUDIO;
    goto fail;
  }
  enum output_sample_format order[4];
  output_format_order(p->format.bits, order);
  for (size_t i = 0; i < 4 && o->sfmt == OUTPUT_FMT_NONE; i++)
    if (snd_pcm_hw_params_set_format(o->pcm, hw, snd_format(order[i])) == 0)
      o->sfmt = order[i];
  if (o->sfmt == OUTPUT_FMT_NONE) {
    output_seterr(errbuf, errlen, "%s takes none of S16/S32/S24/S24_3 at %u Hz (%s)", dev,
                  p->format.rate, caps);
    r = -AMP_EAUDIO;
    goto fail;
  }
  if (snd_pcm_hw_params_set_buffer_time_near(o->pcm, hw, &buffer_us, NULL) < 0 ||
      snd_pcm_hw_params_set_period_time_near(o->pcm, hw, &period_us, NULL) < 0 ||
      (r = snd_pcm_hw_params(o->pcm, hw)) < 0) {
    output_seterr(errbuf, errlen, "%s: cannot set buffer %u us / period %u us", dev, buffer_us,
                  period_us);
    r = -AMP_EAUDIO;
    goto fail;
  }
  snd_pcm_hw_params_get_buffer_size(hw, &o->buffer_frames);
  snd_pcm_hw_params_get_period_size(hw, &o->period_frames, NULL);
  if (o->period_frames == 0 || o->buffer_frames < 2 * o->period_frames) {
    output_seterr(errbuf, errlen, "%s: unusable buffer %lu / period %lu frames", dev,
                  (unsigned long)o->buffer_frames, (unsigned long)o->period_frames);
    r = -AMP_EAUDIO;
    goto fail;
  }
  o->can_pause = snd_pcm_hw_params_can_pause(hw) != 0;

  /* Start once all but one period is queued: a full buffer minus the period being
   * refilled (docs/media.md §11); wake the writer a period at a time. */
  if ((r = snd_pcm_sw_params_current(o->pcm, sw)) < 0 ||
      (r = snd_pcm_sw_params_set_start_threshold(o->pcm, sw, o->buffer_frames - o->period_frames)) <
          0 ||
      (r = snd_pcm_sw_params_set_avail_min(o->pcm, sw, o->period_frames)) < 0 ||
      (r = snd_pcm_sw_params(o->pcm, sw)) < 0) {
    output_seterr(errbuf, errlen, "%s: cannot set software parameters: %s", dev, snd_strerror(r));
    r = -AMP_EAUDIO;
    goto fail;
  }

  o->frame_bytes = output_frame_bytes(o->sfmt, p->format.channels);
  o->conv_frames = o->period_frames;
  o->conv = malloc(o->conv_frames * o->frame_bytes);
  if (o->conv == NULL) {
    r = -ENOMEM;
    goto fail;
  }
  /* Non-blocking from here: a full device answers -EAGAIN and write waits in wait_room(). */
  o->npfds = snd_pcm_poll_descriptors_count(o->pcm);
  if (o->npfds < 0 || (r = snd_pcm_nonblock(o->pcm, 1)) < 0) {
    output_seterr(errbuf, errlen, "%s: no poll descriptors or non-blocking mode", dev);
    r = -AMP_EAUDIO;
    goto fail;
  }
  o->pfds = calloc((size_t)o->npfds + 1, sizeof(*o->pfds));
  if (o->pfds == NULL) {
    r = -ENOMEM;
    goto fail;
  }
  if (p->mixer_control != NULL && p->mixer_control[0] != '\0')
    (void)mixer_open(o, p); /* no mixer is not an error: has_mixer says so */

  log_debug("%s: %u Hz, %u ch, %u bits as %s; buffer %lu, period %lu frames%s", dev, p->format.rate,
            p->format.channels, p->format.bits, format_name(o->sfmt),
            (unsigned long)o->buffer_frames, (unsigned long)o->period_frames,
            o->can_pause ? ", can pause" : "");
  *ret_info = (struct output_info){
      .format = p->format,
      .sample_format = o->sfmt,
      .exact = output_format_bits(o->sfmt) >= p->format.bits,
      .buffer_frames = (uint32_t)o->buffer_frames,
      .period_frames = (uint32_t)o->period_frames,
      .start_threshold = (uint32_t)(o->buffer_frames - o->period_frames),
      .can_pause = o->can_pause,
      .has_mixer = o->elem != NULL,
  };
  *ret = &o->base;
  r = 0;
  o = NULL;
fail:
  snd_pcm_sw_params_free(sw);
  snd_pcm_hw_params_free(any);
  snd_pcm_hw_params_free(hw);
  alsa_close(o ? &o->base : NULL);
  return r;
}

/* Recover from a failed writei. 0 when the PCM is usable again. */
static int recover(struct alsa_output *o, int err) {
  if (err == -EPIPE)
    atomic_fetch_add_explicit(&o->xruns, 1, memory_order_relaxed);
  if (err == -ENODEV)
    return -ENODEV;
  int r = snd_pcm_recover(o->pcm, err, 1);
  if (r < 0) {
    log_debug("write failed and could not recover: %s", snd_strerror(err));
    return r == -ENODEV ? -ENODEV : -AMP_EAUDIO;
  }
  log_debug("recovered from %s", snd_strerror(err));
  return 0;
}

static bool interrupted(struct alsa_output *o) {
  return atomic_load_explicit(&o->interrupted, memory_order_acquire);
}

/* Wait until the device may have room (at most ALSA_WAIT_MS) or an interrupt: poll(2) on
 * the PCM's descriptors (fetched again each time: a plugin may change them) and the
 * eventfd. What woke it is not decoded: the caller writes again, and a write that still
 * makes no progress counts as a stall. -ECANCELED once interrupted, else 0. */
static int wait_room(struct alsa_output *o) {
  int n = snd_pcm_poll_descriptors(o->pcm, o->pfds, (unsigned)o->npfds);
  if (n < 0)
    n = 0;
  o->pfds[n] = (struct pollfd){.fd = o->wake, .events = POLLIN};
  (void)poll(o->pfds, (nfds_t)n + 1, ALSA_WAIT_MS);
  return interrupted(o) ? -ECANCELED : 0;
}

static int alsa_write(struct output *base, const int32_t *pcm, size_t frames) {
  struct alsa_output *o = from(base);
  if (pcm == NULL && frames > 0)
    return -EINVAL;
  if (interrupted(o))
    return -ECANCELED;
  if (o->paused)
    return -EBUSY;     /* a full buffer would block until resumed, which nobody can do */
  unsigned stalls = 0; /* consecutive writei calls that made no progress */
  while (frames > 0) {
    size_t n = frames < o->conv_frames ? frames : o->conv_frames;
    size_t off = 0;
    convert(o, pcm, n);
    while (off < n) {
      snd_pcm_sframes_t w;
      if (interrupted(o))
        return -ECANCELED;
      if (o->inject_count > 0) {
        w = o->inject_err;
        o->inject_count--;
      } else {
        w = snd_pcm_writei(o->pcm, o->conv + off * o->frame_bytes, n - off);
      }
      if (w > 0) {
        off += (size_t)w;
        o->written += (uint64_t)w;
        stalls = 0;
      } else if (w == 0 || w == -EAGAIN) {
        /* The device is full (non-blocking mode): wait for room. Once is the normal case,
         * a period at a time; a device that keeps giving nothing is broken, and the output
         * thread must not wait on it forever (alsa.h, OUTPUT_ALSA_MAX_STALLS). */
        if (++stalls >= OUTPUT_ALSA_MAX_STALLS) {
          log_debug("write made no progress %u times in a row: giving up", stalls);
          return -AMP_EAUDIO;
        }
        if (wait_room(o) < 0)
          return -ECANCELED;
      } else {
        /* An error that recovers but never lets a frame through (an -EPIPE or -EINTR
         * every time) is a stall too. */
        if (++stalls >= OUTPUT_ALSA_MAX_STALLS) {
          log_debug("write failed %u times in a row without progress: giving up", stalls);
          return -AMP_EAUDIO;
        }
        int r = recover(o, (int)w);
        if (r < 0)
          return r;
      }
    }
    pcm += n * o->fmt.channels;
    frames -= n;
  }
  return 0;
}

/* Frames queued and not yet heard; 0 when the stream is stopped or has underrun. */
static uint64_t queued(struct alsa_output *o) {
  snd_pcm_sframes_t d = 0;
  if (snd_pcm_delay(o->pcm, &d) < 0 || d < 0)
    return 0;
  return (uint64_t)d < o->written ? (uint64_t)d : o->written;
}

static int alsa_drain(struct output *base) {
  struct alsa_output *o = from(base);
  if (interrupted(o)) {
    o->written -= queued(o); /* thrown away, never heard */
    snd_pcm_drop(o->pcm);
    o->paused = false;
    return -ECANCELED;
  }
  if (o->paused && snd_pcm_state(o->pcm) == SND_PCM_STATE_PAUSED)
    snd_pcm_pause(o->pcm, 0);
  o->paused = false;
  /* Blocking for the drain only: it plays out at most the buffer (<= 2 s,
   * OUTPUT_MAX_BUFFER_US), and an interrupt meanwhile takes effect when it returns. */
  snd_pcm_nonblock(o->pcm, 0);
  int r = snd_pcm_drain(o->pcm);
  snd_pcm_nonblock(o->pcm, 1);
  if (r < 0 && r != -EPIPE && r != -ESTRPIPE)
    log_debug("drain: %s", snd_strerror(r));
  /* drain leaves the PCM in SETUP: prepare it for the next write */
  int p = snd_pcm_prepare(o->pcm);
  if (p < 0)
    return p == -ENODEV ? -ENODEV : -AMP_EAUDIO;
  return 0;
}

static int alsa_drop(struct output *base) {
  struct alsa_output *o = from(base);
  o->written -= queued(o); /* thrown away, never heard */
  o->paused = false;
  snd_pcm_drop(o->pcm);
  int r = snd_pcm_prepare(o->pcm);
  if (r < 0)
    return r == -ENODEV ? -ENODEV : -AMP_EAUDIO;
  return 0;
}

static int alsa_pause(struct output *base, bool pause) {
  struct alsa_output *o = from(base);
  if (!o->can_pause)
    return -ENOTSUP;
  if (pause == o->paused)
    return 0;
  snd_pcm_state_t st = snd_pcm_state(o->pcm);
  int r = 0;
  if (pause && st == SND_PCM_STATE_RUNNING)
    r = snd_pcm_pause(o->pcm, 1);
  else if (!pause && st == SND_PCM_STATE_PAUSED)
    r = snd_pcm_pause(o->pcm, 0);
  else if (st == SND_PCM_STATE_XRUN)
    r = snd_pcm_prepare(o->pcm);
  /* PREPARED (not started yet): nothing plays, and write refuses while paused, so the
   * stream stays put until resumed. */
  if (r < 0)
    return r == -ENODEV ? -ENODEV : -AMP_EAUDIO;
  o->paused = pause;
  return 0;
}

static int alsa_delay(struct output *base, uint64_t *ret_frames) {
  *ret_frames = queued(from(base));
  return 0;
}

static int alsa_position(struct output *base, uint64_t *ret_frames) {
  struct alsa_output *o = from(base);
  uint64_t pos = o->written - queued(o);
  if (pos < o->last_pos) /* a driver whose delay jitters upwards must not move us back */
    pos = o->last_pos;
  o->last_pos = pos;
  *ret_frames = pos;
  return 0;
}

static uint64_t alsa_xruns(const struct output *base) {
  const struct alsa_output *o = (const struct alsa_output *)base;
  return atomic_load_explicit(&o->xruns, memory_order_relaxed);
}

/* ---- mixer ---- */

static long clampl(long v, long lo, long hi) {
  return v < lo ? lo : v > hi ? hi : v;
}

/* Percent <-> level (see alsa.h): in dB, linear over the top ALSA_VOLUME_WINDOW_CDB of the
 * range (or the whole range when it is smaller), 0 % = the control's minimum; raw steps
 * linear over the whole range. */
long output_alsa_volume_from_percent(bool db, long min, long max, unsigned percent) {
  if (max <= min)
    return min;
  long p = percent > 100 ? 100 : (long)percent;
  if (p == 0)
    return min;
  long lo = db && max - min > ALSA_VOLUME_WINDOW_CDB ? max - ALSA_VOLUME_WINDOW_CDB : min;
  return lo + ((max - lo) * p + 50) / 100;
}

unsigned output_alsa_volume_to_percent(bool db, long min, long max, long value) {
  if (max <= min)
    return 100;
  long lo = db && max - min > ALSA_VOLUME_WINDOW_CDB ? max - ALSA_VOLUME_WINDOW_CDB : min;
  if (value <= min)
    return 0;
  value = clampl(value, lo, max);
  long pct = ((value - lo) * 100 + (max - lo) / 2) / (max - lo);
  return (unsigned)clampl(pct, value > min ? 1 : 0, 100); /* above the minimum is not 0 % */
}

/* Set a dB value on the nearest step of the control (ALSA only rounds up or down). */
static int set_db_nearest(struct alsa_output *o, long cdb) {
  long r_dn, r_up, d_dn, d_up;
  if (snd_mixer_selem_ask_playback_dB_vol(o->elem, cdb, -1, &r_dn) < 0 ||
      snd_mixer_selem_ask_playback_dB_vol(o->elem, cdb, 1, &r_up) < 0 ||
      snd_mixer_selem_ask_playback_vol_dB(o->elem, r_dn, &d_dn) < 0 ||
      snd_mixer_selem_ask_playback_vol_dB(o->elem, r_up, &d_up) < 0)
    return snd_mixer_selem_set_playback_dB_all(o->elem, cdb, -1);
  return snd_mixer_selem_set_playback_volume_all(o->elem, cdb - d_dn <= d_up - cdb ? r_dn : r_up);
}

static int alsa_volume_get(struct output *base, unsigned *ret_percent) {
  struct alsa_output *o = from(base);
  if (o->elem == NULL)
    return -ENOTSUP;
  snd_mixer_handle_events(o->mixer); /* pick up changes made by others */
  long v;
  if (o->has_db) {
    if (snd_mixer_selem_get_playback_dB(o->elem, SND_MIXER_SCHN_FRONT_LEFT, &v) < 0)
      return -AMP_EAUDIO;
    *ret_percent = output_alsa_volume_to_percent(true, o->db_min, o->db_max, v);
  } else {
    if (snd_mixer_selem_get_playback_volume(o->elem, SND_MIXER_SCHN_FRONT_LEFT, &v) < 0)
      return -AMP_EAUDIO;
    *ret_percent = output_alsa_volume_to_percent(false, o->raw_min, o->raw_max, v);
  }
  return 0;
}

static int alsa_volume_set(struct output *base, unsigned percent) {
  struct alsa_output *o = from(base);
  if (o->elem == NULL)
    return -ENOTSUP;
  int r;
  if (o->has_db)
    r = set_db_nearest(o, output_alsa_volume_from_percent(true, o->db_min, o->db_max, percent));
  else
    r = snd_mixer_selem_set_playback_volume_all(
        o->elem, output_alsa_volume_from_percent(false, o->raw_min, o->raw_max, percent));
  return r < 0 ? -AMP_EAUDIO : 0;
}

static int alsa_volume_get_db(struct output *base, long *ret_cdb) {
  struct alsa_output *o = from(base);
  if (o->elem == NULL || !o->has_db)
    return -ENOTSUP;
  snd_mixer_handle_events(o->mixer);
  long v;
  if (snd_mixer_selem_get_playback_dB(o->elem, SND_MIXER_SCHN_FRONT_LEFT, &v) < 0)
    return -AMP_EAUDIO;
  *ret_cdb = v;
  return 0;
}

static int alsa_volume_set_db(struct output *base, long cdb) {
  struct alsa_output *o = from(base);
  if (o->elem == NULL || !o->has_db)
    return -ENOTSUP;
  return set_db_nearest(o, clampl(cdb, o->db_min, o->db_max)) < 0 ? -AMP_EAUDIO : 0;
}

/* Any thread: the flag for the checks, the eventfd for a wait_room() already waiting. */
static void alsa_interrupt(struct output *base) {
  struct alsa_output *o = from(base);
  atomic_store_explicit(&o->interrupted, true, memory_order_release);
  uint64_t one = 1;
  ssize_t w = write(o->wake, &one, sizeof(one)); /* EAGAIN only near 2^64 */
  (void)w;
}

static int alsa_probe(const char *device, struct output_caps *ret) {
  const char *dev = device ? device : "default";
  snd_pcm_t *pcm = NULL;
  snd_pcm_hw_params_t *hw = NULL;
  snd_lib_error_set_handler(alsa_lib_error);
  int r = snd_pcm_open(&pcm, dev, SND_PCM_STREAM_PLAYBACK, ALSA_OPEN_MODE | SND_PCM_NONBLOCK);
  if (r < 0)
    return map_open_error(r);
  if (snd_pcm_hw_params_malloc(&hw) < 0) {
    r = -ENOMEM;
    goto out;
  }
  if (snd_pcm_hw_params_any(pcm, hw) < 0) {
    r = -AMP_EAUDIO;
    goto out;
  }
  struct output_caps c = {0};
  int dir = 0;
  snd_pcm_hw_params_get_rate_min(hw, &c.rate_min, &dir);
  snd_pcm_hw_params_get_rate_max(hw, &c.rate_max, &dir);
  snd_pcm_hw_params_get_channels_min(hw, &c.channels_min);
  snd_pcm_hw_params_get_channels_max(hw, &c.channels_max);
  for (int f = OUTPUT_FMT_S16; f <= OUTPUT_FMT_S32; f++)
    if (snd_pcm_hw_params_test_format(pcm, hw, snd_format((enum output_sample_format)f)) == 0)
      c.formats |= 1u << f;
  *ret = c;
  r = 0;
out:
  snd_pcm_hw_params_free(hw);
  snd_pcm_close(pcm);
  return r;
}

static const struct output_ops alsa_ops = {
    .version = OUTPUT_OPS_VERSION,
    .name = "alsa",
    .open = alsa_open,
    .close = alsa_close,
    .write = alsa_write,
    .drain = alsa_drain,
    .drop = alsa_drop,
    .pause = alsa_pause,
    .delay = alsa_delay,
    .position = alsa_position,
    .xruns = alsa_xruns,
    .volume_get = alsa_volume_get,
    .volume_set = alsa_volume_set,
    .volume_get_db = alsa_volume_get_db,
    .volume_set_db = alsa_volume_set_db,
    .probe = alsa_probe,
    .interrupt = alsa_interrupt,
};

const struct output_ops *output_alsa_ops(void) {
  return &alsa_ops;
}

void output_alsa_inject_write_error(struct output *o, int err) {
  output_alsa_inject_write_errors(o, err, err != 0 ? 1 : 0);
}

void output_alsa_inject_write_errors(struct output *o, int err, unsigned count) {
  struct alsa_output *a = from(o);
  a->inject_err = err;
  a->inject_count = count;
}

unsigned output_alsa_injected_left(const struct output *o) {
  return ((const struct alsa_output *)o)->inject_count;
}
