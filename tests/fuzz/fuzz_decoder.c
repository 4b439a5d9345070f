/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the decoders with what the demuxer hands them from the network: a codec config
 * (dOps body or dfLa blocks) and samples.
 * Input: byte 0 picks the codec (even FLAC, odd Opus); bytes 1-2 (big-endian) are the
 * config length; then the config; the rest is split into samples, each prefixed by a
 * 2-byte big-endian length.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "media/decoder.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct decoder *d = NULL;
  struct pcm_format f;

  if (size < 3)
    return 0;
  enum decoder_codec codec = (data[0] & 1) ? DECODER_OPUS : DECODER_FLAC;
  size_t clen = (size_t)data[1] << 8 | data[2];
  data += 3;
  size -= 3;
  if (clen > size)
    return 0;
  if (decoder_new(codec, data, clen, &d) < 0)
    return 0;
  data += clen;
  size -= clen;

  decoder_get_format(d, &f);
  size_t max = decoder_max_frames(d);
  int32_t *pcm = malloc(max * f.channels * sizeof(int32_t));
  while (pcm && size >= 2) {
    size_t n = (size_t)data[0] << 8 | data[1], frames;
    data += 2;
    size -= 2;
    if (n > size)
      n = size;
    if (n > 0)
      (void)decoder_decode(d, data, n, pcm, max, &frames);
    data += n;
    size -= n;
  }
  free(pcm);
  decoder_free(d);
  return 0;
}
