/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_MEDIA_RESAMPLE_H
#define AMPD_MEDIA_RESAMPLE_H

#include <stddef.h>
#include <stdint.h>

/*
 * resample: a streaming sample-rate converter over libsoxr for int32 PCM (media/pcm.h),
 * for the one case the player resamples: the rate changes at a track boundary while the
 * device is kept open (docs/media.md §16). Otherwise the device is reopened at
 * the new rate; the output backends never resample (platform/output.h).
 *
 * Samples in hold in_bits valid bits, out out_bits (>= in_bits; 32 keeps the resampler's
 * precision for the one dither that follows, src/media/gain.h). Nothing here dithers:
 * with out_bits = in_bits the result is rounded to the nearest LSB. A filter overshoot
 * beyond the out_bits range is saturated and counted (resample_clips()).
 *
 * Quality: RESAMPLE_HQ is libsoxr's "high" recipe (20-bit precision, linear phase,
 * passband to 91.3 % of Nyquist), RESAMPLE_VHQ "very high" (28-bit) for 24-bit sources.
 *
 * Bounds: rates 1..768000 Hz, channels 1..PCM_MAX_CHANNELS. The caller owns its buffers
 * and may pass any sizes; inside, input is gathered into blocks of RESAMPLE_BLOCK frames
 * and libsoxr is called with whole blocks only, its output kept in a buffer of
 * resample_out_max(RESAMPLE_BLOCK) frames until handed out. A call takes input only
 * while that buffer is empty, so it may use less than in_frames when out_cap fills: call
 * again with the rest. The block adds up to RESAMPLE_BLOCK input frames of latency
 * (counted in resample_latency()).
 *
 * Memory: everything is allocated in resample_new(): the two buffers above and
 * libsoxr's state (the filter and its FIFOs, a few hundred KiB at VHQ). libsoxr grows its
 * FIFOs during its first calls (measured: a few reallocs over its first 2..8 calls), so
 * resample_new() primes it with RESAMPLE_PRIME_BLOCKS (64) blocks of silence through the
 * same path; the silence's output is dropped exactly, so the stream is unchanged. After
 * that resample_process() and resample_flush() never allocate, whatever the sizes the
 * caller passes (tests/unit/test_resample.c counts every allocation through the
 * sanitizer allocator's hooks).
 *
 * Frame count: after resample_flush() has drained the stream, the frames out total
 * exactly round(frames in * out_rate / in_rate) (half up): the tail is cut or padded
 * with silence to that count, so a gapless sequence keeps its length.
 *
 * Threads: one thread (the media thread) per handle.
 */

enum resample_quality {
  RESAMPLE_HQ = 0,
  RESAMPLE_VHQ = 1,
};

struct resample_config {
  uint32_t in_rate, out_rate; /* Hz */
  unsigned channels;          /* interleaved, 1..PCM_MAX_CHANNELS */
  unsigned in_bits;           /* 8..32 */
  unsigned out_bits;          /* in_bits..32; 0 = in_bits */
  enum resample_quality quality;
};

struct resample;

/* 0 and *ret, -EINVAL for a config out of the bounds above, -ENOMEM, or -AMP_EAUDIO when
 * libsoxr refuses it. */
int resample_new(const struct resample_config *c, struct resample **ret);
void resample_free(struct resample *r); /* NULL is fine */

#define RESAMPLE_OUT_SLACK 4096u
#define RESAMPLE_BLOCK 1024u /* input frames per libsoxr call */

/* ceil(in_frames * out_rate / in_rate) + RESAMPLE_OUT_SLACK: room for all that in_frames
 * of input make, with libsoxr's slack. */
size_t resample_out_max(const struct resample *r, size_t in_frames);

/* Feed up to in_frames frames of in and take up to out_cap frames into out. 0 with
 * *ret_in_used (<= in_frames) and *ret_out (<= out_cap): call again with the rest of the
 * input when not all of it was used (out was full). -EINVAL for NULL buffers with
 * non-zero counts or after flush (resample_reset() first), -AMP_EAUDIO when libsoxr fails. */
int resample_process(struct resample *r, const int32_t *in, size_t in_frames, size_t *ret_in_used,
                     int32_t *out, size_t out_cap, size_t *ret_out);

/* End of stream: take what is left into out (at most out_cap frames). 0 with *ret_out;
 * call until *ret_out is 0. Afterwards resample_process() refuses until resample_reset(). */
int resample_flush(struct resample *r, int32_t *out, size_t out_cap, size_t *ret_out);

/* Forget the stream (a seek, a new track at the same rates): the counts and the filter
 * state start afresh. libsoxr re-creates its state, so this allocates and primes again
 * like resample_new(): 0, -ENOMEM or -AMP_EAUDIO (then only resample_free()). */
int resample_reset(struct resample *r);

/* The delay through the filter now, in output frames (rounded): how far the output lags
 * the input (for the playback clock). */
uint32_t resample_latency(const struct resample *r);
/* Frames in and out since the last reset. */
uint64_t resample_frames_in(const struct resample *r);
uint64_t resample_frames_out(const struct resample *r);
/* Samples saturated since the last reset. */
uint64_t resample_clips(const struct resample *r);

#endif
