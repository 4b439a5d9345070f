/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPACK_ENC_H
#define AMPACK_ENC_H

#include <stdint.h>

#include "es.h"
#include "signal.h"

/*
 * Encoders: PCM in, an elementary stream of MP4 samples out (es_init'ed by the caller,
 * es_done'd by the caller also on failure).
 */

#define EFLAC_BLOCKSIZE 4096 /* fixed FLAC blocksize (streamable subset at every rate we use) */

/* FLAC at the PCM's rate and depth; one frame per sample; cfg = the dfLa blocks
 * (STREAMINFO with MD5 and total_samples, last-block flag set). 0, -AMP_EDECODE (libFLAC
 * refused), -ENOMEM, -AMP_ETOOBIG. */
int eflac_encode(const struct pcm *pcm, struct es *es);

#define EOPUS_RATE 48000
#define EOPUS_FRAME 960 /* 20 ms */

/* Opus at 48 kHz (the PCM must be 48 kHz, 16 bit, 1 or 2 channels), bitrate in bps (VBR).
 * priming = the encoder lookahead; the last sample's duration is cut so that the durations
 * add up to priming + frames. cfg = the dOps body. */
int eopus_encode(const struct pcm *pcm, uint32_t bitrate, struct es *es);

#endif
