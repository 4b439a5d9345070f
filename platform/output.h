/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_PLATFORM_OUTPUT_H
#define AMPD_PLATFORM_OUTPUT_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "media/pcm.h" /* struct pcm_format: the one media header platform/ may use */

/*
 * The audio output backend interface: a versioned vtable (docs/CONTRIBUTING.md "Interfaces and
 * plugins"). A backend (platform/alsa: "alsa") exports one function returning its
 * `const struct output_ops *`; everyone else calls the output_*() inline wrappers below,
 * which check the version and NULL slots and answer -ENOTSUP for a missing one.
 *
 * PCM handed to output_write() is interleaved int32_t in the range of format.bits (not
 * left-justified), exactly what src/media/decoder.h produces. The backend converts it to
 * the device sample format it negotiated (exact when the device allows it).
 *
 * Threading: an output is driven by ONE thread (the output thread): open, write, drain,
 * drop, pause, delay, position, close. output_xruns() may be read from any thread. The
 * volume calls use a separate mixer handle: they may run on another thread than write,
 * but not concurrently with each other, with open or with close. output_interrupt() may
 * be called from any thread at any time between open and close (never concurrently with
 * close): it is how a thread that wants the output thread to stop gets it out of a
 * blocked write or drain.
 *
 * Memory: open allocates everything (a conversion buffer of one period); write, drain,
 * drop, pause, delay and position never allocate.
 */

#define OUTPUT_OPS_VERSION 2u /* 2: interrupt */
#define OUTPUT_MAX_CHANNELS PCM_MAX_CHANNELS
#define OUTPUT_DEFAULT_BUFFER_US 200000u /* docs/media.md §11: 200-500 ms */
#define OUTPUT_DEFAULT_PERIODS 4u        /* period = buffer / 4 unless given */
#define OUTPUT_MIN_BUFFER_US 10000u      /* requests below 10 ms are refused (-EINVAL) */
#define OUTPUT_MAX_BUFFER_US 2000000u    /* and above 2 s too */
#define OUTPUT_ERRMSG_MAX 256u           /* a good size for open()'s errbuf */

/* Device sample formats, native byte order. */
enum output_sample_format {
  OUTPUT_FMT_NONE = 0,
  OUTPUT_FMT_S16,   /* 16 bits in 2 bytes */
  OUTPUT_FMT_S24,   /* 24 bits in the low 3 bytes of a 4-byte container (ALSA S24_LE) */
  OUTPUT_FMT_S24_3, /* 24 bits packed in 3 bytes (ALSA S24_3LE) */
  OUTPUT_FMT_S32,   /* 32 bits */
};

struct output_params {
  const char *device;        /* backend device name; NULL = "default" */
  struct pcm_format format;  /* requested; rate and channels must be met exactly */
  uint32_t buffer_time_us;   /* 0 = OUTPUT_DEFAULT_BUFFER_US; the device may round it */
  uint32_t period_time_us;   /* 0 = buffer / OUTPUT_DEFAULT_PERIODS */
  const char *mixer_device;  /* mixer to open; NULL = "default" */
  const char *mixer_control; /* simple control name ("Master", "PCM", "Digital", ...);
                              * NULL or "" = no hardware mixer (volume calls -> -ENOTSUP) */
  uint32_t mixer_index;      /* control index, usually 0 */
};

/* What open negotiated. */
struct output_info {
  struct pcm_format format;                /* = the request: the PCM output_write() takes */
  enum output_sample_format sample_format; /* what the device receives */
  bool exact;                              /* the device format holds every source bit */
  uint32_t buffer_frames;
  uint32_t period_frames;
  uint32_t start_threshold; /* frames queued before playback starts: buffer - period */
  bool can_pause;           /* output_pause() works (else -ENOTSUP: drop instead) */
  bool has_mixer;           /* the mixer control was found */
};

/* What a device can do (output_probe()). */
struct output_caps {
  uint32_t rate_min, rate_max;
  uint32_t channels_min, channels_max;
  uint32_t formats; /* bit (1u << enum output_sample_format) for each one it takes */
};

/* Every backend handle starts with this; the backend sets ops at open. */
struct output {
  const struct output_ops *ops;
};

struct output_ops {
  uint32_t version; /* OUTPUT_OPS_VERSION the backend was built against */
  const char *name; /* "alsa" */

  /* Open device p->device for p->format. errbuf (may be NULL) receives a one-line human
   * message on failure, e.g. "rate 44100 Hz not supported by hw:0 (can do 48000-48000)".
   * 0 and *ret, *ret_info set; or -EINVAL (bad params), -ENODEV/-ENOENT (no such device),
   * -EBUSY (device in use: retry later), -AMP_EAUDIO (the device cannot do the rate,
   * channels or any sample format; or another driver failure). No resampling, no channel
   * mapping: the caller resamples or reopens (docs/media.md §11). */
  int (*open)(const struct output_params *p, struct output **ret, struct output_info *ret_info,
              char *errbuf, size_t errlen);
  /* Close (without draining: call drain first to hear the end). NULL is fine. */
  void (*close)(struct output *o);

  /* Queue frames (blocking until all are queued). Playback starts by itself once the
   * start threshold is queued. An underrun is recovered (and counted) and the write goes
   * on: 0. -ENODEV when the device disappeared, -AMP_EAUDIO when it cannot be recovered
   * (close and reopen; part of the frames may have been queued), -EBUSY while paused (a
   * full buffer would block until resumed), -EINVAL for pcm NULL with frames > 0,
   * -ECANCELED after output_interrupt() (part of the frames may have been queued). */
  int (*write)(struct output *o, const int32_t *pcm, size_t frames);
  /* Play out everything queued and stop (blocking); the output is ready for more.
   * -ECANCELED after output_interrupt() (what was queued may not all be heard). */
  int (*drain)(struct output *o);
  /* Throw away everything queued and stop at once; ready for more. */
  int (*drop)(struct output *o);
  /* Pause (true) or resume (false) in place. -ENOTSUP when the device cannot. */
  int (*pause)(struct output *o, bool pause);
  /* Frames queued in the device that will be heard after the ones already heard. */
  int (*delay)(struct output *o, uint64_t *ret_frames);
  /* The playback clock: frames heard since open (= frames written - delay; frames
   * thrown away by drop are not counted). Monotonic. */
  int (*position)(struct output *o, uint64_t *ret_frames);
  /* Underruns recovered since open. Any thread. */
  uint64_t (*xruns)(const struct output *o);

  /* Hardware volume of the configured mixer control. -ENOTSUP without one.
   * Percent is 0..100 on a perceptual (dB-mapped) scale when the control has dB
   * information, else linear in the control's raw range. dB values are in 1/100 dB. */
  int (*volume_get)(struct output *o, unsigned *ret_percent);
  int (*volume_set)(struct output *o, unsigned percent);
  int (*volume_get_db)(struct output *o, long *ret_cdb);
  int (*volume_set_db)(struct output *o, long cdb); /* clamped to the control's range */

  /* Query a device without keeping it open (NULL device = "default"). */
  int (*probe)(const char *device, struct output_caps *ret);

  /* Since version 2 (slots are only appended: a version 1 backend has no such field, and
   * the wrapper never reads it). Make a write or drain that is blocked on this output
   * return promptly with -ECANCELED, and every later write and drain return -ECANCELED at
   * once: the interruption is sticky, the output is then good only for close. Callable
   * from any thread at any time between open and close, but not concurrently with
   * close; it never blocks and never allocates. "Promptly" is
   * the backend's to state (pipe and null: at once; alsa: within one period). The usual
   * use is a shutdown: set the stop flag the output thread checks, interrupt, join. */
  void (*interrupt)(struct output *o);
};

/* The wrappers: a slot is callable when the backend's version has it and it is set. All
 * slots up to probe exist since version 1; interrupt since version 2. */
#define OUTPUT_HAS_(ops, slot, since)                                                              \
  ((ops) != NULL && (ops)->version >= (since) && (ops)->slot != NULL)

static inline int output_open(const struct output_ops *ops, const struct output_params *p,
                              struct output **ret, struct output_info *ret_info, char *errbuf,
                              size_t errlen) {
  if (!OUTPUT_HAS_(ops, open, 1))
    return -ENOTSUP;
  return ops->open(p, ret, ret_info, errbuf, errlen);
}

static inline void output_close(struct output *o) {
  if (o != NULL && OUTPUT_HAS_(o->ops, close, 1))
    o->ops->close(o);
}

static inline int output_write(struct output *o, const int32_t *pcm, size_t frames) {
  if (o == NULL || !OUTPUT_HAS_(o->ops, write, 1))
    return -ENOTSUP;
  return o->ops->write(o, pcm, frames);
}

static inline int output_drain(struct output *o) {
  if (o == NULL || !OUTPUT_HAS_(o->ops, drain, 1))
    return -ENOTSUP;
  return o->ops->drain(o);
}

static inline int output_drop(struct output *o) {
  if (o == NULL || !OUTPUT_HAS_(o->ops, drop, 1))
    return -ENOTSUP;
  return o->ops->drop(o);
}

static inline int output_pause(struct output *o, bool pause) {
  if (o == NULL || !OUTPUT_HAS_(o->ops, pause, 1))
    return -ENOTSUP;
  return o->ops->pause(o, pause);
}

static inline int output_delay(struct output *o, uint64_t *ret_frames) {
  if (o == NULL || !OUTPUT_HAS_(o->ops, delay, 1))
    return -ENOTSUP;
  return o->ops->delay(o, ret_frames);
}

static inline int output_position(struct output *o, uint64_t *ret_frames) {
  if (o == NULL || !OUTPUT_HAS_(o->ops, position, 1))
    return -ENOTSUP;
  return o->ops->position(o, ret_frames);
}

static inline uint64_t output_xruns(const struct output *o) {
  if (o == NULL || !OUTPUT_HAS_(o->ops, xruns, 1))
    return 0;
  return o->ops->xruns(o);
}

static inline int output_volume_get(struct output *o, unsigned *ret_percent) {
  if (o == NULL || !OUTPUT_HAS_(o->ops, volume_get, 1))
    return -ENOTSUP;
  return o->ops->volume_get(o, ret_percent);
}

static inline int output_volume_set(struct output *o, unsigned percent) {
  if (o == NULL || !OUTPUT_HAS_(o->ops, volume_set, 1))
    return -ENOTSUP;
  return o->ops->volume_set(o, percent);
}

static inline int output_volume_get_db(struct output *o, long *ret_cdb) {
  if (o == NULL || !OUTPUT_HAS_(o->ops, volume_get_db, 1))
    return -ENOTSUP;
  return o->ops->volume_get_db(o, ret_cdb);
}

static inline int output_volume_set_db(struct output *o, long cdb) {
  if (o == NULL || !OUTPUT_HAS_(o->ops, volume_set_db, 1))
    return -ENOTSUP;
  return o->ops->volume_set_db(o, cdb);
}

static inline int output_probe(const struct output_ops *ops, const char *device,
                               struct output_caps *ret) {
  if (!OUTPUT_HAS_(ops, probe, 1))
    return -ENOTSUP;
  return ops->probe(device, ret);
}

/* Interrupt a blocked (or later) write or drain of o (the interrupt slot above). 0, or
 * -ENOTSUP when the backend cannot be interrupted (version 1, or no slot): a write may
 * then block for as long as the device does. Any thread. */
static inline int output_interrupt(struct output *o) {
  if (o == NULL || !OUTPUT_HAS_(o->ops, interrupt, 2))
    return -ENOTSUP;
  o->ops->interrupt(o);
  return 0;
}

/* Bytes per frame of a device format, 0 for OUTPUT_FMT_NONE. */
static inline size_t output_frame_bytes(enum output_sample_format f, unsigned channels) {
  switch (f) {
  case OUTPUT_FMT_S16:
    return 2u * channels;
  case OUTPUT_FMT_S24_3:
    return 3u * channels;
  case OUTPUT_FMT_S24:
  case OUTPUT_FMT_S32:
    return 4u * channels;
  case OUTPUT_FMT_NONE:
    break;
  }
  return 0;
}

#endif
