/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_MEDIA_GAIN_H
#define AMPD_MEDIA_GAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "media/pcm.h"

/*
 * gain: loudness normalisation and software volume on int32 PCM (media/pcm.h), in place,
 * with one TPDF dither (docs/media.md §15).
 *
 * The gain applied is  normalisation (dB) + volume (dB), in double precision:
 *  - Normalisation (when on and the track has a ProgramLoudness L): target - L dB,
 *    capped so the track's peak cannot clip: with a known peak p (linear, 1.0 = full
 *    scale) the linear gain is at most (1 - 2.5 steps) / p (a step = one LSB at the
 *    device's resolution), so that after the dither and the rounding the peak stays at
 *    least one step inside the rails: the saturation never engages; without a peak at most
 *    config.max_boost_db (GAIN_DEFAULT_MAX_BOOST_DB = 0: without a peak normalisation only
 *    attenuates, there is no limiter). A track without loudness gets 0 dB.
 *  - Volume: 0..100 %, linear in dB over GAIN_VOLUME_RANGE_DB (60 dB): percent p is
 *    (p - 100) * 0.6 dB, 100 % = 0 dB, 1 % = -59.4 dB, 0 % = mute (silence). The same
 *    curve as the ALSA mixer mapping (platform/alsa/alsa.h), so software and hardware
 *    volume sound alike.
 *
 * Bit-exact rule: while the total gain is exactly 1 (100 % and normalisation off or 0 dB)
 * and no ramp is running, gain_apply() returns without reading or writing the PCM.
 *
 * Otherwise every sample x becomes  round(x * g / q + d) * q,  saturated to the range,
 * where q = 2^(bits - min(bits, device_bits)) and d is TPDF noise in (-1, 1) (two uniform
 * values from a seeded xorshift64* PRNG, subtracted): the values stay in the source's
 * `bits` scale (what output_write() takes) but carry only device_bits of resolution, so
 * the output backend's truncation to the device format is exact and the only
 * requantisation is this dithered one. Mute (gain 0 outside a ramp) writes zeros, no
 * dither.
 *
 * Ramps: a change of volume or of normalisation moves the gain linearly (in linear gain)
 * over exactly ramp_frames frames (GAIN_RAMP_MS = 10 ms at the format's rate, at least
 * 1): the n-th frame after the change (n = 1..ramp_frames) gets g0 + (g1 - g0) * n /
 * ramp_frames, so frame ramp_frames is the first at the new gain, whatever the sizes of
 * the gain_apply() calls. A change during a ramp starts a new ramp from where it was.
 * gain_set_track() applies at once (call it at the track boundary).
 *
 * Threads: gain_set_volume() may be called from any thread (an atomic; it takes effect at
 * the next gain_apply()). Everything else on one thread (the media thread). No locks.
 * Memory: gain_new() allocates the handle; nothing else allocates.
 */

#define GAIN_DEFAULT_TARGET_LUFS (-14.0)
#define GAIN_DEFAULT_MAX_BOOST_DB 0.0 /* positive normalisation gain without a known peak */
#define GAIN_VOLUME_RANGE_DB 60.0     /* 1 % .. 100 % spans the top 60 dB */
#define GAIN_RAMP_MS 10u

struct gain;

struct gain_config {
  struct pcm_format format; /* of the PCM in and out: rate (for the ramp), channels, bits */
  unsigned device_bits;     /* bits the device keeps (output_info's sample format); 0 = bits */
  bool normalise;           /* loudness normalisation on */
  double target_lufs;       /* normalisation target; 0 = GAIN_DEFAULT_TARGET_LUFS */
  double max_boost_db;      /* cap without a peak (>= 0); GAIN_DEFAULT_MAX_BOOST_DB */
  bool requantise;          /* device_bits < bits: requantise (dither) also at gain 1, for
                             * PCM that carries more bits than the device (a resampled
                             * stream at 32 bits headed for 16); gain_is_identity() false */
  unsigned volume;          /* initial volume, percent 0..100 (more = 100) */
  uint64_t seed;            /* dither PRNG seed; 0 = a fixed default */
};

/* What the track says about its loudness (media/manifest.h's ProgramLoudness). */
struct gain_track {
  bool has_loudness;
  double loudness_lufs;
  bool has_peak;
  double peak; /* linear sample or true peak, 1.0 = full scale; > 0 */
};

/* 0 and *ret, or -EINVAL (format out of range: channels 1..PCM_MAX_CHANNELS, bits 8..32,
 * rate 1..768000; device_bits above 32; target or max_boost not finite or max_boost < 0),
 * -ENOMEM. */
int gain_new(const struct gain_config *c, struct gain **ret);
void gain_free(struct gain *g); /* NULL is fine */

/* Any thread. Percent above 100 counts as 100. Ramped. */
void gain_set_volume(struct gain *g, unsigned percent);
/* The track now playing (NULL = no loudness information). At once, no ramp. */
void gain_set_track(struct gain *g, const struct gain_track *t);
/* Normalisation on or off. Ramped. */
void gain_set_normalise(struct gain *g, bool on);

/* Apply to frames interleaved frames of pcm in place. 0, or -EINVAL for pcm NULL with
 * frames > 0. */
int gain_apply(struct gain *g, int32_t *pcm, size_t frames);

/* True when gain_apply() would leave the PCM untouched (gain 1, no ramp, no volume
 * change pending, not requantising). */
bool gain_is_identity(const struct gain *g);
/* The linear gain the PCM is heading for (normalisation times volume). */
double gain_target(const struct gain *g);
/* The ramp length in frames. */
uint32_t gain_ramp_frames(const struct gain *g);

/* The pure mappings (for tests and the control's status). */
double gain_volume_db(unsigned percent); /* -INFINITY for 0 % */
/* target - L, capped at -20 log10(peak) when has_peak, else at max_boost_db; 0 without
 * loudness. (gain_new's linear cap also leaves the dither's headroom.) */
double gain_normalisation_db(const struct gain_track *t, double target_lufs, double max_boost_db);

/* The TPDF generator (exposed for its test): a value in (-1, 1), triangular around 0;
 * *state must not be 0. */
double gain_tpdf(uint64_t *state);

#endif
