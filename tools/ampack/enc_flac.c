/* SPDX-License-Identifier: Apache-2.0 */
#include "enc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <FLAC/stream_encoder.h>

#include "core/err.h"

#define EFLAC_CHUNK 4096 /* frames handed to libFLAC per call */

struct eflac_ctx {
  struct es *es;
  int err;
  int have_info;
  FLAC__StreamMetadata_StreamInfo info;
};

static FLAC__StreamEncoderWriteStatus on_write(const FLAC__StreamEncoder *enc,
                                               const FLAC__byte buffer[], size_t bytes,
                                               uint32_t samples, uint32_t current_frame,
                                               void *client) {
  struct eflac_ctx *c = client;
  if (samples == 0)
    return FLAC__STREAM_ENCODER_WRITE_STATUS_OK; /* "fLaC" + metadata: dfLa is built below */
  /* libFLAC hands over each frame whole; check the sync code so a change there shows up. */
  if (bytes < 2 || buffer[0] != 0xff || (buffer[1] & 0xfe) != 0xf8) {
    c->err = -AMP_EDECODE;
    return FLAC__STREAM_ENCODER_WRITE_STATUS_FATAL_ERROR;
  }
  int r = es_add(c->es, buffer, bytes, samples);
  if (r < 0) {
    c->err = r;
    return FLAC__STREAM_ENCODER_WRITE_STATUS_FATAL_ERROR;
  }
  return FLAC__STREAM_ENCODER_WRITE_STATUS_OK;
}

static void on_metadata(const FLAC__StreamEncoder *enc, const FLAC__StreamMetadata *m,
                        void *client) {
  struct eflac_ctx *c = client;
  if (m->type == FLAC__METADATA_TYPE_STREAMINFO) {
    c->info = m->data.stream_info;
    c->have_info = 1;
  }
}

/* dfLa body: one metadata block, STREAMINFO, with the last-block flag (RFC 9639 §8.2). */
static void put_streaminfo(struct es *es, const FLAC__StreamMetadata_StreamInfo *si) {
  uint8_t *p = es->cfg;
  p[0] = 0x80; /* last | type 0 */
  p[1] = 0;
  p[2] = 0;
  p[3] = 34;
  p += 4;
  p[0] = (uint8_t)(si->min_blocksize >> 8);
  p[1] = (uint8_t)si->min_blocksize;
  p[2] = (uint8_t)(si->max_blocksize >> 8);
  p[3] = (uint8_t)si->max_blocksize;
  p[4] = (uint8_t)(si->min_framesize >> 16);
  p[5] = (uint8_t)(si->min_framesize >> 8);
  p[6] = (uint8_t)si->min_framesize;
  p[7] = (uint8_t)(si->max_framesize >> 16);
  p[8] = (uint8_t)(si->max_framesize >> 8);
  p[9] = (uint8_t)si->max_framesize;
  /* 20 bits rate, 3 bits channels-1, 5 bits bps-1, 36 bits total samples */
  uint64_t v = (uint64_t)si->sample_rate << 44 | (uint64_t)(si->channels - 1) << 41 |
               (uint64_t)(si->bits_per_sample - 1) << 36 | (si->total_samples & 0xfffffffffULL);
  for (int i = 0; i < 8; i++)
    p[10 + i] = (uint8_t)(v >> (56 - 8 * i));
  memcpy(p + 18, si->md5sum, 16);
  es->cfg_len = 4 + 34;
}

int eflac_encode(const struct pcm *pcm, struct es *es) {
  FLAC__StreamEncoder *enc = FLAC__stream_encoder_new();
  if (!enc)
    return -ENOMEM;
  struct eflac_ctx c = {.es = es};
  int r = -AMP_EDECODE;
  FLAC__bool ok = FLAC__stream_encoder_set_verify(enc, false);
  ok &= FLAC__stream_encoder_set_streamable_subset(enc, true);
  ok &= FLAC__stream_encoder_set_channels(enc, pcm->channels);
  ok &= FLAC__stream_encoder_set_bits_per_sample(enc, pcm->bits);
  ok &= FLAC__stream_encoder_set_sample_rate(enc, pcm->rate);
  ok &= FLAC__stream_encoder_set_compression_level(enc, 5);
  ok &= FLAC__stream_encoder_set_blocksize(enc, EFLAC_BLOCKSIZE);
  ok &= FLAC__stream_encoder_set_total_samples_estimate(enc, pcm->frames);
  if (!ok || FLAC__stream_encoder_init_stream(enc, on_write, NULL, NULL, on_metadata, &c) !=
                 FLAC__STREAM_ENCODER_INIT_STATUS_OK)
    goto out;
  for (size_t i = 0; i < pcm->frames; i += EFLAC_CHUNK) {
    size_t n = pcm->frames - i < EFLAC_CHUNK ? pcm->frames - i : EFLAC_CHUNK;
    if (!FLAC__stream_encoder_process_interleaved(enc, pcm->s + i * pcm->channels, (uint32_t)n)) {
      r = c.err ? c.err : -AMP_EDECODE;
      goto out;
    }
  }
  if (!FLAC__stream_encoder_finish(enc) || c.err || !c.have_info) {
    r = c.err ? c.err : -AMP_EDECODE;
    goto out;
  }
  es->rate = pcm->rate;
  es->channels = pcm->channels;
  es->bits = pcm->bits;
  es->priming = 0;
  es->valid = pcm->frames;
  put_streaminfo(es, &c.info);
  r = es_total_dur(es) == pcm->frames ? 0 : -AMP_EDECODE;
out:
  FLAC__stream_encoder_delete(enc);
  return r;
}
