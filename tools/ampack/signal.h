/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPACK_SIGNAL_H
#define AMPACK_SIGNAL_H

#include <stddef.h>
#include <stdint.h>

/*
 * PCM in memory, and the deterministic test signals. A signal is a pure function of
 * (name, seed, rate, bits, absolute frame index), so a cut [start, start + frames) of a
 * long signal is bit-identical to the same frames of the whole signal: tracks cut from
 * one continuous signal concatenate to it exactly (gapless seams can be checked).
 */

#define PCM_MAX_FRAMES (192000u * 60u * 30u) /* 30 minutes at 192 kHz */
#define PCM_MAX_CHANNELS 8

struct pcm {
  int32_t *s; /* interleaved; values fit in `bits` signed bits */
  size_t frames;
  uint32_t rate;
  uint32_t channels;
  uint32_t bits; /* 16 or 24 */
};

void pcm_done(struct pcm *p);

/* Names: "mix" (tones + sweep), "noisy" (mix + faint noise), "tones", "sweep", "silence". */
int sig_known(const char *name);

/* Stereo signal. 0, -EINVAL (unknown name, bad bits/rate), -AMP_ETOOBIG, -ENOMEM. */
int sig_generate(const char *name, uint64_t seed, uint32_t rate, uint32_t bits, uint64_t start,
                 size_t frames, struct pcm *ret);

/* Write all of p to path as one canonical PCM WAV (16 or 24 bit). 0 or -errno. */
int pcm_write_wav(const char *path, const struct pcm *p);

/* Read a PCM WAV (format 1 or EXTENSIBLE/PCM; 16, 24 or 32 bit; up to PCM_MAX_FRAMES).
 * 0, -errno, -EINVAL (not a WAV we take), -AMP_EUNSUPPORTED, -AMP_ETOOBIG. */
int pcm_read_wav(const char *path, struct pcm *ret);

/* Convert to another bit depth (shift left, or right with rounding toward -inf). */
int pcm_convert_bits(const struct pcm *in, uint32_t bits, struct pcm *ret);

#endif
