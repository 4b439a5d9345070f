/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_MEDIA_DECODER_H
#define AMPD_MEDIA_DECODER_H

#include <stddef.h>
#include <stdint.h>

#include "media/pcm.h"

/*
 * Audio decoders behind one interface: FLAC (libFLAC) and Opus (libopus).
 *
 * Input is what the MP4 demuxer hands out (docs/media.md §2):
 *   - the codec config of the sample entry:
 *       Opus: the BODY of 'dOps' (after its 8-byte box header), big-endian:
 *             u8 Version(0) | u8 OutputChannelCount | u16 PreSkip | u32 InputSampleRate |
 *             s16 OutputGain (Q7.8 dB) | u8 ChannelMappingFamily
 *             [| u8 StreamCount | u8 CoupledCount | u8 ChannelMapping[OutputChannelCount]]
 *       FLAC: the BODY of 'dfLa' after its 4-byte version/flags: native FLAC metadata
 *             blocks, STREAMINFO first (the last-block flag on the final block may be
 *             missing; the decoder sets it itself);
 *   - then one MP4 sample per decoder_decode() call: one Opus packet (for multistream,
 *     the packets of all streams) or one whole FLAC frame.
 *
 * Output is interleaved PCM as int32_t values in the range of pcm_format.bits, NOT
 * left-justified: 16 bits -> -32768..32767, 24 bits -> -8388608..8388607. FLAC output is
 * bit-exact to the source. Opus is always decoded to 16 bits at 48000 Hz, whatever
 * InputSampleRate says (it is informative only).
 *
 * Opus OutputGain is applied here, once, through OPUS_SET_GAIN. The caller must not apply
 * it again (and must keep it apart from loudness normalisation).
 *
 * Trimming is the CALLER's job, by presentation time (docs/media.md §7): drop PCM whose pts is
 * before the valid start (the elst priming, e.g. 312 samples for libopus, or the pre-roll
 * after a seek) or at/after the end (the shortened last sample). decoder_trim() does the
 * arithmetic. PreSkip in dOps is informative: the edit list is what trims, so the decoder
 * does NOT skip PreSkip samples itself.
 *
 * After a seek or a representation switch call decoder_reset() and, for Opus, start
 * decoding decoder_preroll_frames() before the target (then throw that PCM away).
 *
 * Threading: a decoder is used by one thread at a time (the media thread). No globals.
 * Memory: decoder_new() allocates everything; decoder_decode() allocates nothing for Opus
 * and nothing of its own for FLAC (libFLAC may grow its internal frame buffer once, up to
 * the max_blocksize of STREAMINFO).
 */

/* Bounds of what the decoders accept. */
#define DECODER_MAX_CHANNELS 8u  /* FLAC and Opus: 1..8 output channels */
#define DECODER_MAX_RATE 192000u /* FLAC sample rates above this are refused */
#define DECODER_MAX_SAMPLE                                                                         \
  (1u << 20)                           /* bytes in one sample (packet or frame); FLAC frames       \
                                        * of 8 ch x 65535 x 32 bits fit in < 2.2 MB, but a         \
                                        * frame above 1 MiB is not plausible for <=24-bit          \
                                        * content and is refused (-AMP_ETOOBIG) */
#define DECODER_MAX_CONFIG (64u << 10) /* config bytes (matches MP4_MAX_CONFIG_SIZE) */
#define DECODER_OPUS_RATE 48000u
#define DECODER_OPUS_MAX_FRAMES 5760u /* 120 ms at 48 kHz: the longest Opus packet */
#define DECODER_OPUS_PREROLL 3840u    /* 80 ms at 48 kHz (RFC 7845 §4.6) */

enum decoder_codec {
  DECODER_FLAC,
  DECODER_OPUS,
};

struct decoder;

/*
 * Open a decoder for codec from its config bytes (see above; copied, need not outlive the
 * call). On success *ret owns a decoder (free with decoder_free()); on failure *ret is
 * untouched and nothing is leaked.
 * Errors:
 *   -EINVAL            malformed config: too short, wrong dOps version, a length that does
 *                      not add up, STREAMINFO missing or not first, a mapping index out of
 *                      range, StreamCount 0, CoupledCount > StreamCount, ...
 *   -AMP_EUNSUPPORTED  well-formed but not supported: > 8 channels, FLAC bits outside
 *                      8..32 (16 and 24 are the tested contract; libFLAC gives the others
 *                      for free), FLAC rate 0 or > 192 kHz, Opus mapping family other
 *                      than 0, 1, 255, more than 8 Opus streams, an unknown codec
 *   -AMP_EDECODE       the codec library refused the configuration
 *   -AMP_ETOOBIG       config longer than DECODER_MAX_CONFIG
 *   -ENOMEM
 */
int decoder_new(enum decoder_codec codec, const uint8_t *config, size_t len, struct decoder **ret);

/* Free a decoder; NULL is fine. */
void decoder_free(struct decoder *d);

enum decoder_codec decoder_codec(const struct decoder *d);

/* The PCM format decoder_decode() produces. Fixed for the decoder's life. */
void decoder_get_format(const struct decoder *d, struct pcm_format *ret);

/* The most frames one sample can produce: FLAC max_blocksize from STREAMINFO (<= 65535),
 * Opus 5760. Size the output buffer as max_frames * channels int32_t values. */
size_t decoder_max_frames(const struct decoder *d);

/*
 * Decode one sample (len bytes at sample) into out (room for max_frames frames of
 * channels interleaved int32_t values). *ret_frames = frames written, set on success only.
 * Errors:
 *   -AMP_EDECODE  the codec rejected the data (corrupt packet, CRC mismatch, a FLAC frame
 *                 whose rate/channels/bits differ from STREAMINFO, trailing garbage);
 *                 the decoder stays usable: the next good sample decodes normally
 *   -ENOBUFS      max_frames is smaller than what the sample decodes to (nothing useful
 *                 is written; pass decoder_max_frames())
 *   -AMP_ETOOBIG  len > DECODER_MAX_SAMPLE
 *   -EINVAL       len == 0 or a NULL pointer
 */
int decoder_decode(struct decoder *d, const uint8_t *sample, size_t len, int32_t *out,
                   size_t max_frames, size_t *ret_frames);

/* Forget the stream state after a seek or switch (FLAC: flush; Opus: OPUS_RESET_STATE).
 * 0 or -AMP_EDECODE. */
int decoder_reset(struct decoder *d);

/* Frames to decode and discard before a random-access target: Opus 3840 (80 ms), FLAC 0. */
uint32_t decoder_preroll_frames(const struct decoder *d);

/* Opus dOps PreSkip (informative, the elst does the trim); FLAC 0. */
uint32_t decoder_preskip_frames(const struct decoder *d);

/*
 * Which frames of a decoded sample to keep, by presentation time. pts is the sample's
 * first frame (in frames of the output rate, i.e. the media timescale), frames the number
 * it decoded to, and [start, end) the valid interval (start = 0 for the elst rule, or the
 * seek target; end = the end of the last sample's duration, or INT64_MAX when unknown).
 * On return the caller keeps frames [*ret_skip, *ret_skip + *ret_keep) of the sample;
 * *ret_keep may be 0 (the whole sample is outside). Pure arithmetic, no overflow for any
 * input. 0, or -EINVAL when end < start.
 */
int decoder_trim(int64_t pts, uint32_t frames, int64_t start, int64_t end, size_t *ret_skip,
                 size_t *ret_keep);

#endif
