/* SPDX-License-Identifier: Apache-2.0 */
#include "enc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <opus/opus.h>

#include "core/err.h"

#define EOPUS_MAX_PACKET 4000 /* bytes; libopus never exceeds 1275 per 20 ms stream */

int eopus_encode(const struct pcm *pcm, uint32_t bitrate, struct es *es) {
  if (pcm->rate != EOPUS_RATE || pcm->bits != 16 || pcm->channels < 1 || pcm->channels > 2)
    return -EINVAL;
  int err = 0, r = -AMP_EDECODE;
  int ch = (int)pcm->channels;
  OpusEncoder *enc = opus_encoder_create(EOPUS_RATE, ch, OPUS_APPLICATION_AUDIO, &err);
  if (!enc || err != OPUS_OK)
    return -AMP_EDECODE;
  opus_int32 lookahead = 0;
  opus_int16 in[EOPUS_FRAME * 2];
  uint8_t *pkt = malloc(EOPUS_MAX_PACKET);
  if (!pkt) {
    r = -ENOMEM;
    goto out;
  }
  if (opus_encoder_ctl(enc, OPUS_SET_BITRATE((opus_int32)bitrate)) != OPUS_OK ||
      opus_encoder_ctl(enc, OPUS_SET_VBR(1)) != OPUS_OK ||
      opus_encoder_ctl(enc, OPUS_SET_COMPLEXITY(10)) != OPUS_OK ||
      opus_encoder_ctl(enc, OPUS_SET_SIGNAL(OPUS_SIGNAL_MUSIC)) != OPUS_OK ||
      opus_encoder_ctl(enc, OPUS_GET_LOOKAHEAD(&lookahead)) != OPUS_OK || lookahead < 0)
    goto out;
  /* The decoder's output is lookahead samples late: encode priming + frames samples worth
   * of packets (padding with silence) and cut the last packet's duration to fit. */
  uint64_t need = (uint64_t)lookahead + pcm->frames;
  uint64_t packets = (need + EOPUS_FRAME - 1) / EOPUS_FRAME;
  for (uint64_t k = 0; k < packets; k++) {
    for (size_t i = 0; i < EOPUS_FRAME; i++) {
      size_t f = (size_t)k * EOPUS_FRAME + i;
      for (int c = 0; c < ch; c++)
        in[i * (size_t)ch + (size_t)c] =
            f < pcm->frames ? (opus_int16)pcm->s[f * (size_t)ch + (size_t)c] : 0;
    }
    opus_int32 n = opus_encode(enc, in, EOPUS_FRAME, pkt, EOPUS_MAX_PACKET);
    if (n <= 0)
      goto out;
    uint32_t dur = EOPUS_FRAME;
    if (k == packets - 1)
      dur = (uint32_t)(need - k * EOPUS_FRAME);
    r = es_add(es, pkt, (size_t)n, dur);
    if (r < 0)
      goto out;
    r = -AMP_EDECODE;
  }
  es->rate = EOPUS_RATE;
  es->channels = pcm->channels;
  es->bits = 16;
  es->priming = (uint32_t)lookahead;
  es->valid = pcm->frames;
  es->bitrate = bitrate;
  /* dOps (Opus-in-ISOBMFF §4.3.2): Version, OutputChannelCount, PreSkip, InputSampleRate,
   * OutputGain, ChannelMappingFamily 0 */
  uint8_t *p = es->cfg;
  p[0] = 0;
  p[1] = (uint8_t)ch;
  p[2] = (uint8_t)(lookahead >> 8);
  p[3] = (uint8_t)lookahead;
  p[4] = 0;
  p[5] = 0;
  p[6] = (uint8_t)(EOPUS_RATE >> 8);
  p[7] = (uint8_t)EOPUS_RATE;
  p[8] = 0;
  p[9] = 0;
  p[10] = 0;
  es->cfg_len = 11;
  r = 0;
out:
  free(pkt);
  opus_encoder_destroy(enc);
  return r;
}
