/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_MEDIA_PCM_H
#define AMPD_MEDIA_PCM_H

#include <stdint.h>

/*
 * pcm: the shape of PCM between the decoders, the pipeline, the PCM ring and the audio
 * output. Samples are interleaved int32_t holding `bits` valid bits, not left-justified
 * (a 16-bit sample is in -32768..32767), so FLAC stays bit-exact end to end.
 *
 * This header is types only. It is the one media header the output backends (platform/)
 * include: media never includes platform, and platform needs nothing else of media.
 */

#define PCM_MAX_CHANNELS 8u /* channels of any PCM ampd carries */

struct pcm_format {
  uint32_t rate;    /* frames per second */
  uint8_t channels; /* interleaved, 1..PCM_MAX_CHANNELS */
  uint8_t bits;     /* valid bits of each int32_t value, 8..32 (16 and 24 in practice) */
};

#endif
