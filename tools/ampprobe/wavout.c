/* SPDX-License-Identifier: Apache-2.0 */
#include "wavout.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "outfile.h"

#define WAV_CHUNK_FRAMES 4096
#define WAV_MAX_DATA 0xffffff00u /* the RIFF size fields are 32-bit */

struct wavout {
  struct outfile *f;
  bool sized; /* the header holds real sizes (seekable output) */
  struct pcm_format fmt;
  unsigned bytes; /* per sample: 2 or 3 */
  int extensible;
  uint64_t data_bytes;
  uint8_t out[WAV_CHUNK_FRAMES * 3 * 8];
};

static void le16(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}

static void le32(uint8_t *p, uint32_t v) {
  le16(p, v);
  le16(p + 2, v >> 16);
}

/* The header: RIFF, fmt (16 or 40 bytes), data. Returns its size. */
static size_t wavout_header(const struct wavout *w, uint8_t *h) {
  uint32_t fmt_len = w->extensible ? 40 : 16;
  uint32_t block = w->bytes * w->fmt.channels;
  uint32_t data = (uint32_t)w->data_bytes;
  uint32_t riff = 4 + 8 + fmt_len + 8 + data;
  size_t n = 0;

  memcpy(h, "RIFF", 4);
  le32(h + 4, w->sized ? riff : 0xffffffffu);
  memcpy(h + 8, "WAVEfmt ", 8);
  le32(h + 16, fmt_len);
  le16(h + 20, w->extensible ? 0xfffe : 1);
  le16(h + 22, w->fmt.channels);
  le32(h + 24, w->fmt.rate);
  le32(h + 28, w->fmt.rate * block);
  le16(h + 32, block);
  le16(h + 34, w->bytes * 8);
  n = 36;
  if (w->extensible) {
    static const uint8_t pcm_guid[16] = {0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00,
                                         0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71};
    le16(h + 36, 22);
    le16(h + 38, w->fmt.bits);
    le32(h + 40, 0); /* channel mask: unspecified */
    memcpy(h + 44, pcm_guid, 16);
    n = 60;
  }
  memcpy(h + n, "data", 4);
  le32(h + n + 4, w->sized ? data : 0xffffffffu);
  return n + 8;
}

int wavout_open(struct outfile *f, const struct pcm_format *fmt, struct wavout **ret) {
  uint8_t h[68];
  struct wavout *w;

  if (fmt->channels == 0 || fmt->channels > 8 || (fmt->bits != 16 && fmt->bits != 24))
    return -AMP_EUNSUPPORTED;
  w = calloc(1, sizeof(*w));
  if (!w)
    return -ENOMEM;
  w->f = f;
  w->fmt = *fmt;
  w->bytes = fmt->bits / 8;
  w->extensible = fmt->bits > 16 || fmt->channels > 2;
  w->sized = outfile_seekable(f);
  size_t n = wavout_header(w, h);
  int r = outfile_write(f, h, n);
  if (r < 0) {
    free(w);
    return r;
  }
  *ret = w;
  return 0;
}

int wavout_write(struct wavout *w, const int32_t *pcm, size_t frames) {
  while (frames > 0) {
    size_t k = frames < WAV_CHUNK_FRAMES ? frames : WAV_CHUNK_FRAMES;
    size_t samples = k * w->fmt.channels, o = 0;
    for (size_t i = 0; i < samples; i++) {
      uint32_t v = (uint32_t)pcm[i];
      w->out[o++] = (uint8_t)v;
      w->out[o++] = (uint8_t)(v >> 8);
      if (w->bytes == 3)
        w->out[o++] = (uint8_t)(v >> 16);
    }
    if (w->data_bytes + o > WAV_MAX_DATA)
      return -AMP_ETOOBIG;
    int r = outfile_write(w->f, w->out, o);
    if (r < 0)
      return r;
    w->data_bytes += o;
    pcm += samples;
    frames -= k;
  }
  return 0;
}

int wavout_finish(struct wavout *w) {
  uint8_t h[68];
  int r = 0;
  if (!w)
    return 0;
  if (w->sized) {
    size_t n = wavout_header(w, h);
    r = outfile_pwrite(w->f, h, n, 0);
  }
  free(w);
  return r;
}
