/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_PLATFORM_OUTPUT_UTIL_H
#define AMPD_PLATFORM_OUTPUT_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "platform/output.h"

/*
 * output_util: what every output backend (platform/alsa, platform/pipe, platform/null)
 * shares: parameter checks, the buffer and period defaults, the device sample formats and
 * the int32 -> device format conversion. Pure functions, no allocation, any thread.
 */

#define OUTPUT_MAX_RATE 768000u /* requests above are refused (-EINVAL) */
#define OUTPUT_MIN_BITS 8u
#define OUTPUT_MAX_BITS 32u

/* printf into errbuf (if not NULL and errlen > 0), truncated. */
void output_seterr(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Check p's format (rate 1..OUTPUT_MAX_RATE, channels 1..OUTPUT_MAX_CHANNELS, bits
 * OUTPUT_MIN_BITS..OUTPUT_MAX_BITS) and its buffer/period times (OUTPUT_MIN_BUFFER_US..
 * OUTPUT_MAX_BUFFER_US, at least 2 periods). 0 and the effective times (defaults applied)
 * in *ret_buffer_us / *ret_period_us (either may be NULL); or -EINVAL with a message. */
int output_check_params(const struct output_params *p, uint32_t *ret_buffer_us,
                        uint32_t *ret_period_us, char *errbuf, size_t errlen);

/* Frames of `us` microseconds at `rate`, rounded to nearest, at least 1. */
uint32_t output_frames_of_us(uint32_t rate, uint32_t us);

/* Valid bits of a device format (S24 and S24_3: 24); 0 for OUTPUT_FMT_NONE. */
unsigned output_format_bits(enum output_sample_format f);

/* The device formats to try for a source of `bits`, best first: up to 16 bits S16, S32,
 * S24, S24_3; 17..24 bits S32, S24, S24_3, S16; more S32, S24, S24_3, S16. */
void output_format_order(unsigned bits, enum output_sample_format order[4]);

/* "S16", "S24", "S24_3", "S32" (native byte order); "NONE". */
const char *output_format_name(enum output_sample_format f);
/* The format named exactly by the first len bytes of s (the names above); OUTPUT_FMT_NONE
 * for anything else. */
enum output_sample_format output_format_parse(const char *s, size_t len);

/*
 * The device string of the backends without a device to negotiate with (pipe, null):
 * "[FMT:]rest", where FMT is one of the names above and picks the sample format written.
 * Without a prefix (or dev NULL) *ret_fmt is OUTPUT_FMT_NONE and *ret_rest is dev ("" for
 * NULL). -EINVAL for a prefix that looks like one ("S..." up to ':' with no '/') but names
 * no format.
 */
int output_device_split(const char *dev, enum output_sample_format *ret_fmt, const char **ret_rest);

/* The format a formatless device takes for a source of `bits`: S16 up to 16 bits, S24_3 up
 * to 24, else S32 (the raw layouts sox, ffmpeg and snapcast read: s16le, s24le packed,
 * s32le). */
enum output_sample_format output_default_format(unsigned bits);

/* The caps of a device that takes anything (pipe, null): rates 1..OUTPUT_MAX_RATE,
 * channels 1..OUTPUT_MAX_CHANNELS, format fmt only, or all four for OUTPUT_FMT_NONE. */
struct output_caps output_any_caps(enum output_sample_format fmt);

/*
 * Convert n_values int32 samples holding from_bits valid bits (output.h's PCM) into f at
 * out (output_frame_bytes(f, 1) * n_values bytes, native byte order). Widening shifts left
 * (exact); narrowing shifts right (truncation towards -inf, no dither: the player dithers,
 * src/media/gain.h). S24 is sign-extended in its 4-byte container.
 */
void output_convert(enum output_sample_format f, unsigned from_bits, const int32_t *in,
                    size_t n_values, void *out);

#endif
