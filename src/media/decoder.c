/* SPDX-License-Identifier: Apache-2.0 */
/*
 * FLAC (libFLAC) and Opus (libopus) decoders behind decoder.h. One file: the two backends
 * are small and share the dispatch; their helpers are prefixed flac_ and opus_ (static).
 */
#include "media/decoder.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <FLAC/stream_decoder.h>
#include <opus/opus.h>
#include <opus/opus_multistream.h>

#include "core/err.h"
#include "core/log.h"

LOG_TOPIC("decoder");

#define FLAC_STREAMINFO_LEN 34u
#define FLAC_BLOCK_HEADER_LEN 4u
/* "fLaC" + one block header + STREAMINFO: the whole stream header we feed libFLAC. */
#define FLAC_HEADER_LEN (4u + FLAC_BLOCK_HEADER_LEN + FLAC_STREAMINFO_LEN)
#define FLAC_MIN_BITS 8u
#define FLAC_MAX_BITS 32u
#define FLAC_MIN_BLOCKSIZE 16u /* RFC 9639: smaller max_blocksize values are invalid */

#define OPUS_DOPS_LEN 11u /* dOps body without the channel mapping table */

struct flac_state {
  FLAC__StreamDecoder *dec;
  uint8_t header[FLAC_HEADER_LEN];
  /* the bytes the read callback serves: the header at init, then one frame per decode */
  const uint8_t *in;
  size_t in_len;
  size_t in_pos;
  /* where the write callback puts the frame */
  int32_t *out;
  size_t out_max;
  size_t out_frames;
  bool got_frame;
  int err; /* first error seen by a callback during this call, 0 if none */
  uint32_t min_blocksize;
  uint32_t max_blocksize;
};

struct opus_state {
  OpusDecoder *dec;     /* family 0 */
  OpusMSDecoder *msdec; /* family 1 and 255 */
  int16_t *scratch;     /* DECODER_OPUS_MAX_FRAMES * channels */
  uint16_t preskip;
  int16_t gain; /* Q7.8 dB, applied by libopus */
  uint8_t family;
};

struct decoder {
  enum decoder_codec codec;
  struct pcm_format format;
  size_t max_frames;
  union {
    struct flac_state flac;
    struct opus_state opus;
  } u;
};

static uint16_t rd16(const uint8_t *p) {
  return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t rd24(const uint8_t *p) {
  return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

/* ---- FLAC ---- */

static FLAC__StreamDecoderReadStatus
flac_read_cb(const FLAC__StreamDecoder *dec, FLAC__byte buffer[], size_t *bytes, void *userdata) {
  struct flac_state *f = &((struct decoder *)userdata)->u.flac;
  (void)dec;
  /* Never block and never invent data: when the current sample is used up the stream
   * "ends"; decoder_decode() flushes the decoder back to frame search afterwards. */
  size_t left = f->in_len - f->in_pos;
  if (left == 0 || *bytes == 0) {
    *bytes = 0;
    return FLAC__STREAM_DECODER_READ_STATUS_END_OF_STREAM;
  }
  size_t n = *bytes < left ? *bytes : left;
  memcpy(buffer, f->in + f->in_pos, n);
  f->in_pos += n;
  *bytes = n;
  return FLAC__STREAM_DECODER_READ_STATUS_CONTINUE;
}

/* Position inside the current input: with it libFLAC can tell how many bytes it has read
 * but not consumed (FLAC__stream_decoder_get_decode_position), i.e. bytes after a frame. */
static FLAC__StreamDecoderTellStatus flac_tell_cb(const FLAC__StreamDecoder *dec,
                                                  FLAC__uint64 *offset, void *userdata) {
  (void)dec;
  *offset = ((struct decoder *)userdata)->u.flac.in_pos;
  return FLAC__STREAM_DECODER_TELL_STATUS_OK;
}

static FLAC__StreamDecoderWriteStatus flac_write_cb(const FLAC__StreamDecoder *dec,
                                                    const FLAC__Frame *frame,
                                                    const FLAC__int32 *const buffer[],
                                                    void *userdata) {
  struct decoder *d = userdata;
  struct flac_state *f = &d->u.flac;
  const FLAC__FrameHeader *h = &frame->header;
  (void)dec;

  if (f->got_frame) {
    /* a second frame in one sample: the sample was not one frame */
    if (f->err == 0)
      f->err = -AMP_EDECODE;
    return FLAC__STREAM_DECODER_WRITE_STATUS_CONTINUE;
  }
  f->got_frame = true;
  if (h->sample_rate != d->format.rate || h->channels != d->format.channels ||
      h->bits_per_sample != d->format.bits || h->blocksize > f->max_blocksize) {
    log_debug("FLAC frame %u Hz/%u ch/%u bits/%u frames differs from STREAMINFO", h->sample_rate,
              h->channels, h->bits_per_sample, h->blocksize);
    if (f->err == 0)
      f->err = -AMP_EDECODE;
    return FLAC__STREAM_DECODER_WRITE_STATUS_CONTINUE;
  }
  if (h->blocksize > f->out_max) {
    if (f->err == 0)
      f->err = -ENOBUFS;
    return FLAC__STREAM_DECODER_WRITE_STATUS_CONTINUE;
  }
  unsigned ch = h->channels;
  for (unsigned c = 0; c < ch; c++) {
    const FLAC__int32 *src = buffer[c];
    int32_t *dst = f->out + c;
    for (unsigned i = 0; i < h->blocksize; i++, dst += ch)
      *dst = src[i];
  }
  f->out_frames = h->blocksize;
  return FLAC__STREAM_DECODER_WRITE_STATUS_CONTINUE;
}

static void flac_error_cb(const FLAC__StreamDecoder *dec, FLAC__StreamDecoderErrorStatus status,
                          void *userdata) {
  struct flac_state *f = &((struct decoder *)userdata)->u.flac;
  (void)dec;
  log_debug("libFLAC: %s", FLAC__StreamDecoderErrorStatusString[status]);
  if (f->err == 0)
    f->err = -AMP_EDECODE;
}

/* Parse the dfLa block run: STREAMINFO first, every block inside len, nothing after the
 * block flagged last. Fills d->format, the block sizes and the stream header. */
static int flac_parse_config(struct decoder *d, const uint8_t *cfg, size_t len) {
  struct flac_state *f = &d->u.flac;
  size_t pos = 0;
  bool first = true;

  if (len < FLAC_BLOCK_HEADER_LEN + FLAC_STREAMINFO_LEN)
    return -EINVAL;
  while (pos < len) {
    if (len - pos < FLAC_BLOCK_HEADER_LEN)
      return -EINVAL;
    bool last = (cfg[pos] & 0x80) != 0;
    unsigned type = cfg[pos] & 0x7f;
    uint32_t blen = rd24(cfg + pos + 1);
    pos += FLAC_BLOCK_HEADER_LEN;
    if (type == 127 || blen > len - pos)
      return -EINVAL;
    if (first) {
      if (type != 0 || blen != FLAC_STREAMINFO_LEN)
        return -EINVAL; /* STREAMINFO missing or not first */
      const uint8_t *si = cfg + pos;
      f->min_blocksize = rd16(si);
      f->max_blocksize = rd16(si + 2);
      /* 20-bit rate | 3-bit channels-1 | 5-bit bits-1 | 36-bit total samples */
      uint32_t rate = (uint32_t)si[10] << 12 | (uint32_t)si[11] << 4 | si[12] >> 4;
      unsigned channels = ((si[12] >> 1) & 0x7) + 1;
      unsigned bits = (((unsigned)si[12] & 0x1) << 4 | si[13] >> 4) + 1;
      if (f->max_blocksize < FLAC_MIN_BLOCKSIZE || f->min_blocksize > f->max_blocksize)
        return -EINVAL;
      if (rate == 0 || rate > DECODER_MAX_RATE || bits < FLAC_MIN_BITS || bits > FLAC_MAX_BITS)
        return -AMP_EUNSUPPORTED;
      d->format.rate = rate;
      d->format.channels = (uint8_t)channels; /* 1..8 by construction */
      d->format.bits = (uint8_t)bits;
      d->max_frames = f->max_blocksize;
      memcpy(f->header, "fLaC", 4);
      f->header[4] = 0x80; /* last-metadata-block, type 0: only STREAMINFO goes to libFLAC */
      f->header[5] = 0;
      f->header[6] = 0;
      f->header[7] = FLAC_STREAMINFO_LEN;
      memcpy(f->header + 8, si, FLAC_STREAMINFO_LEN);
      first = false;
    } else if (type == 0) {
      return -EINVAL; /* a second STREAMINFO */
    }
    pos += blen;
    if (last && pos != len)
      return -EINVAL; /* bytes after the block flagged last */
  }
  return 0;
}

static int flac_open(struct decoder *d, const uint8_t *cfg, size_t len) {
  struct flac_state *f = &d->u.flac;
  int r = flac_parse_config(d, cfg, len);
  if (r < 0)
    return r;
  f->dec = FLAC__stream_decoder_new();
  if (f->dec == NULL)
    return -ENOMEM;
  /* MD5 checking stays off (the default): the MP4 STREAMINFO has MD5 = 0 and we decode
   * pieces of the stream, never all of it in one go. */
  if (FLAC__stream_decoder_init_stream(f->dec, flac_read_cb, NULL, flac_tell_cb, NULL, NULL,
                                       flac_write_cb, NULL, flac_error_cb,
                                       d) != FLAC__STREAM_DECODER_INIT_STATUS_OK)
    return -AMP_EDECODE;
  f->in = f->header;
  f->in_len = sizeof(f->header);
  f->in_pos = 0;
  f->err = 0;
  if (!FLAC__stream_decoder_process_until_end_of_metadata(f->dec) || f->err != 0 ||
      FLAC__stream_decoder_get_state(f->dec) != FLAC__STREAM_DECODER_SEARCH_FOR_FRAME_SYNC)
    return -AMP_EDECODE;
  f->in = NULL;
  f->in_len = 0;
  f->in_pos = 0;
  return 0;
}

static int flac_decode(struct decoder *d, const uint8_t *sample, size_t len, int32_t *out,
                       size_t max_frames, size_t *ret_frames) {
  struct flac_state *f = &d->u.flac;
  f->in = sample;
  f->in_len = len;
  f->in_pos = 0;
  f->out = out;
  f->out_max = max_frames;
  f->out_frames = 0;
  f->got_frame = false;
  f->err = 0;

  FLAC__bool ok = FLAC__stream_decoder_process_single(f->dec);
  FLAC__StreamDecoderState st = FLAC__stream_decoder_get_state(f->dec);
  FLAC__uint64 consumed = 0;
  int r = f->err;
  if (r == 0 && (!ok || !f->got_frame))
    r = -AMP_EDECODE; /* no frame found in the sample */
  if (r == 0 &&
      (!FLAC__stream_decoder_get_decode_position(f->dec, &consumed) || consumed != f->in_len))
    r = -AMP_EDECODE; /* bytes after the frame: the sample is not exactly one frame */
  /* libFLAC may hold unread bytes, or have hit our end of input (END_OF_STREAM) or
   * aborted: a flush puts it back to frame search with an empty input buffer, so the
   * next sample starts clean. */
  if (r != 0 || st != FLAC__STREAM_DECODER_SEARCH_FOR_FRAME_SYNC) {
    if (!FLAC__stream_decoder_flush(f->dec) && r == 0)
      r = -AMP_EDECODE;
  }
  f->in = NULL;
  f->in_len = 0;
  f->out = NULL;
  if (r < 0)
    return r;
  *ret_frames = f->out_frames;
  return 0;
}

/* ---- Opus ---- */

static int opus_err(int e) {
  switch (e) {
  case OPUS_BUFFER_TOO_SMALL:
    return -ENOBUFS;
  case OPUS_ALLOC_FAIL:
    return -ENOMEM;
  case OPUS_BAD_ARG:
  case OPUS_INVALID_PACKET:
  case OPUS_INTERNAL_ERROR:
  default:
    return -AMP_EDECODE;
  }
}

static int opus_open(struct decoder *d, const uint8_t *cfg, size_t len) {
  struct opus_state *o = &d->u.opus;
  int e = OPUS_OK;

  if (len < OPUS_DOPS_LEN || cfg[0] != 0)
    return -EINVAL; /* short, or a dOps Version other than 0 */
  unsigned channels = cfg[1];
  o->preskip = rd16(cfg + 2);
  /* cfg[4..7]: InputSampleRate, informative only */
  o->gain = (int16_t)rd16(cfg + 8);
  o->family = cfg[10];
  if (channels == 0)
    return -EINVAL;
  if (channels > DECODER_MAX_CHANNELS)
    return -AMP_EUNSUPPORTED;
  d->format.rate = DECODER_OPUS_RATE;
  d->format.channels = (uint8_t)channels;
  d->format.bits = 16;
  d->max_frames = DECODER_OPUS_MAX_FRAMES;

  if (o->family == 0) {
    if (len != OPUS_DOPS_LEN || channels > 2)
      return -EINVAL; /* family 0 is mono or stereo, without a mapping table */
    o->dec = opus_decoder_create((opus_int32)DECODER_OPUS_RATE, (int)channels, &e);
    if (o->dec == NULL)
      return e == OPUS_ALLOC_FAIL ? -ENOMEM : -AMP_EDECODE;
    e = opus_decoder_ctl(o->dec, OPUS_SET_GAIN(o->gain));
  } else if (o->family == 1 || o->family == 255) {
    if (len != OPUS_DOPS_LEN + 2 + channels)
      return -EINVAL;
    unsigned streams = cfg[11], coupled = cfg[12];
    const uint8_t *mapping = cfg + 13;
    if (streams == 0 || coupled > streams || streams + coupled > 255)
      return -EINVAL;
    if (streams > DECODER_MAX_CHANNELS)
      return -AMP_EUNSUPPORTED; /* more streams than we have channels: bounds the memory
                                 * (each stream is a whole decoder) */
    if (o->family == 1 && channels > 8)
      return -EINVAL;
    for (unsigned i = 0; i < channels; i++)
      if (mapping[i] != 255 && mapping[i] >= streams + coupled)
        return -EINVAL; /* 255 = a silent channel */
    o->msdec = opus_multistream_decoder_create((opus_int32)DECODER_OPUS_RATE, (int)channels,
                                               (int)streams, (int)coupled, mapping, &e);
    if (o->msdec == NULL)
      return e == OPUS_ALLOC_FAIL ? -ENOMEM : -AMP_EDECODE;
    e = opus_multistream_decoder_ctl(o->msdec, OPUS_SET_GAIN(o->gain));
  } else {
    return -AMP_EUNSUPPORTED; /* family 2/3 (ambisonics) and the reserved ones */
  }
  if (e != OPUS_OK)
    return -AMP_EDECODE;
  o->scratch = calloc((size_t)DECODER_OPUS_MAX_FRAMES * channels, sizeof(*o->scratch));
  if (o->scratch == NULL)
    return -ENOMEM;
  return 0;
}

static int opus_decode_sample(struct decoder *d, const uint8_t *sample, size_t len, int32_t *out,
                              size_t max_frames, size_t *ret_frames) {
  struct opus_state *o = &d->u.opus;
  int frame_size =
      (int)(max_frames < DECODER_OPUS_MAX_FRAMES ? max_frames : DECODER_OPUS_MAX_FRAMES);
  int n;

  /* len > 0 always (checked by the caller): a NULL/0 packet would mean "conceal a loss". */
  if (o->msdec != NULL)
    n = opus_multistream_decode(o->msdec, sample, (opus_int32)len, o->scratch, frame_size, 0);
  else
    n = opus_decode(o->dec, sample, (opus_int32)len, o->scratch, frame_size, 0);
  if (n < 0) {
    log_debug("libopus: %s", opus_strerror(n));
    return opus_err(n);
  }
  size_t values = (size_t)n * d->format.channels;
  for (size_t i = 0; i < values; i++)
    out[i] = o->scratch[i];
  *ret_frames = (size_t)n;
  return 0;
}

/* ---- the interface ---- */

int decoder_new(enum decoder_codec codec, const uint8_t *config, size_t len, struct decoder **ret) {
  if (ret == NULL || (config == NULL && len > 0))
    return -EINVAL;
  if (len > DECODER_MAX_CONFIG)
    return -AMP_ETOOBIG;
  if (codec != DECODER_FLAC && codec != DECODER_OPUS)
    return -AMP_EUNSUPPORTED;
  struct decoder *d = calloc(1, sizeof(*d));
  if (d == NULL)
    return -ENOMEM;
  d->codec = codec;
  int r = codec == DECODER_FLAC ? flac_open(d, config, len) : opus_open(d, config, len);
  if (r < 0) {
    log_debug("%s config refused: %s", codec == DECODER_FLAC ? "FLAC" : "Opus", amp_strerror(r));
    decoder_free(d);
    return r;
  }
  *ret = d;
  return 0;
}

void decoder_free(struct decoder *d) {
  if (d == NULL)
    return;
  if (d->codec == DECODER_FLAC) {
    if (d->u.flac.dec != NULL)
      FLAC__stream_decoder_delete(d->u.flac.dec); /* finishes it if initialised */
  } else {
    opus_decoder_destroy(d->u.opus.dec);
    opus_multistream_decoder_destroy(d->u.opus.msdec);
    free(d->u.opus.scratch);
  }
  free(d);
}

enum decoder_codec decoder_codec(const struct decoder *d) {
  return d->codec;
}

void decoder_get_format(const struct decoder *d, struct pcm_format *ret) {
  *ret = d->format;
}

size_t decoder_max_frames(const struct decoder *d) {
  return d->max_frames;
}

uint32_t decoder_preroll_frames(const struct decoder *d) {
  return d->codec == DECODER_OPUS ? DECODER_OPUS_PREROLL : 0;
}

uint32_t decoder_preskip_frames(const struct decoder *d) {
  return d->codec == DECODER_OPUS ? d->u.opus.preskip : 0;
}

int decoder_decode(struct decoder *d, const uint8_t *sample, size_t len, int32_t *out,
                   size_t max_frames, size_t *ret_frames) {
  if (d == NULL || sample == NULL || out == NULL || ret_frames == NULL || len == 0)
    return -EINVAL;
  if (len > DECODER_MAX_SAMPLE)
    return -AMP_ETOOBIG;
  if (max_frames == 0)
    return -ENOBUFS;
  if (d->codec == DECODER_FLAC)
    return flac_decode(d, sample, len, out, max_frames, ret_frames);
  return opus_decode_sample(d, sample, len, out, max_frames, ret_frames);
}

int decoder_reset(struct decoder *d) {
  if (d->codec == DECODER_FLAC)
    return FLAC__stream_decoder_flush(d->u.flac.dec) ? 0 : -AMP_EDECODE;
  int e = d->u.opus.msdec != NULL ? opus_multistream_decoder_ctl(d->u.opus.msdec, OPUS_RESET_STATE)
                                  : opus_decoder_ctl(d->u.opus.dec, OPUS_RESET_STATE);
  return e == OPUS_OK ? 0 : -AMP_EDECODE;
}

int decoder_trim(int64_t pts, uint32_t frames, int64_t start, int64_t end, size_t *ret_skip,
                 size_t *ret_keep) {
  if (end < start)
    return -EINVAL;
  /* The sample covers [pts, pts + frames). Differences of two int64 that are known to be
   * ordered are computed in uint64, where they cannot overflow. */
  uint64_t skip = 0, stop;
  if (start > pts)
    skip = (uint64_t)start - (uint64_t)pts;
  if (end <= pts)
    stop = 0;
  else
    stop = (uint64_t)end - (uint64_t)pts;
  if (stop > frames)
    stop = frames;
  if (skip >= stop) {
    *ret_skip = frames; /* nothing of this sample is inside [start, end) */
    *ret_keep = 0;
    return 0;
  }
  *ret_skip = (size_t)skip;
  *ret_keep = (size_t)(stop - skip);
  return 0;
}
