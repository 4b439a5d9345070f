/* SPDX-License-Identifier: Apache-2.0 */
/*
 * decoder: FLAC and Opus through the interface the MP4 demuxer feeds. The test encodes its
 * own PCM with libFLAC/libopus, wraps the config as the demuxer hands it ('dfLa' body after
 * version/flags, 'dOps' body) and decodes sample by sample.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <FLAC/stream_encoder.h>
#include <opus/opus.h>
#include <opus/opus_multistream.h>

#include "core/err.h"
#include "media/decoder.h"

#define MAX_PACKETS 4096u

/* ---- test signal ---- */

static uint32_t lcg_state = 12345;
static int32_t lcg_noise(int32_t amp) {
  lcg_state = lcg_state * 1103515245u + 12345u;
  return (int32_t)((lcg_state >> 8) % (uint32_t)(2 * amp + 1)) - amp;
}

/* Sines (a different pitch per channel) plus a little noise, at about -6 dBFS of `bits`. */
static int32_t *make_pcm(uint32_t rate, unsigned ch, unsigned bits, size_t frames, double amp,
                         int32_t noise) {
  int32_t *pcm = calloc(frames * ch, sizeof(*pcm));
  assert_non_null(pcm);
  double full = (double)((1u << (bits - 1)) - 1);
  for (size_t i = 0; i < frames; i++)
    for (unsigned c = 0; c < ch; c++) {
      double t = (double)i / rate;
      double f = 220.0 * (c + 1) + 7.0 * c;
      double v = amp * full * (0.7 * sin(2 * M_PI * f * t) + 0.3 * sin(2 * M_PI * 3.1 * f * t));
      pcm[i * ch + c] = (int32_t)lrint(v) + (noise ? lcg_noise(noise) : 0);
    }
  return pcm;
}

/* ---- a tiny packet list ---- */

struct packets {
  uint8_t *data;
  size_t len, cap;
  size_t off[MAX_PACKETS + 1]; /* packet i is data[off[i] .. off[i+1]) */
  size_t n;
  uint8_t meta[4096]; /* FLAC: everything written before the first frame */
  size_t meta_len;
};

static void packets_add(struct packets *p, const uint8_t *b, size_t n) {
  assert_true(p->n < MAX_PACKETS);
  if (p->len + n > p->cap) {
    p->cap = (p->len + n) * 2;
    p->data = realloc(p->data, p->cap);
    assert_non_null(p->data);
  }
  memcpy(p->data + p->len, b, n);
  p->off[p->n] = p->len;
  p->len += n;
  p->n++;
  p->off[p->n] = p->len;
}

static const uint8_t *pkt(const struct packets *p, size_t i, size_t *len) {
  *len = p->off[i + 1] - p->off[i];
  return p->data + p->off[i];
}

static void packets_free(struct packets *p) {
  free(p->data);
  free(p);
}

/* ---- FLAC encoding ---- */

static FLAC__StreamEncoderWriteStatus enc_write(const FLAC__StreamEncoder *e, const FLAC__byte b[],
                                                size_t n, uint32_t samples, uint32_t frame,
                                                void *ud) {
  struct packets *p = ud;
  (void)e;
  (void)frame;
  if (samples == 0 && p->n == 0) {
    assert_true(p->meta_len + n <= sizeof(p->meta));
    memcpy(p->meta + p->meta_len, b, n);
    p->meta_len += n;
  } else {
    assert_true(n >= 2 && b[0] == 0xff && (b[1] & 0xfe) == 0xf8); /* one whole frame */
    packets_add(p, b, n);
  }
  return FLAC__STREAM_ENCODER_WRITE_STATUS_OK;
}

/* Encode to one packet per frame; *cfg gets the dfLa body (metadata blocks, no "fLaC"). */
static struct packets *flac_encode(const int32_t *pcm, size_t frames, uint32_t rate, unsigned ch,
                                   unsigned bits, unsigned blocksize) {
  struct packets *p = calloc(1, sizeof(*p));
  assert_non_null(p);
  FLAC__StreamEncoder *e = FLAC__stream_encoder_new();
  assert_non_null(e);
  assert_true(FLAC__stream_encoder_set_channels(e, ch));
  assert_true(FLAC__stream_encoder_set_bits_per_sample(e, bits));
  assert_true(FLAC__stream_encoder_set_sample_rate(e, rate));
  assert_true(FLAC__stream_encoder_set_compression_level(e, 5));
  if (blocksize)
    assert_true(FLAC__stream_encoder_set_blocksize(e, blocksize));
  assert_int_equal(FLAC__stream_encoder_init_stream(e, enc_write, NULL, NULL, NULL, p),
                   FLAC__STREAM_ENCODER_INIT_STATUS_OK);
  assert_true(FLAC__stream_encoder_process_interleaved(e, pcm, (uint32_t)frames));
  assert_true(FLAC__stream_encoder_finish(e));
  FLAC__stream_encoder_delete(e);
  assert_true(p->meta_len > 4 + 38);
  assert_memory_equal(p->meta, "fLaC", 4);
  /* the dfLa body is the metadata blocks: drop "fLaC" */
  memmove(p->meta, p->meta + 4, p->meta_len - 4);
  p->meta_len -= 4;
  return p;
}

/* Decode every packet and compare the concatenation with pcm, bit for bit. */
static void flac_roundtrip(uint32_t rate, unsigned ch, unsigned bits, size_t frames,
                           unsigned blocksize, bool clear_last_flag) {
  int32_t *pcm = make_pcm(rate, ch, bits, frames, 0.5, 64);
  struct packets *p = flac_encode(pcm, frames, rate, ch, bits, blocksize);
  if (clear_last_flag) /* as the demuxer may hand it: no last-block flag anywhere */
    for (size_t o = 0; o + 4 <= p->meta_len;) {
      p->meta[o] &= 0x7f;
      o += 4 + ((size_t)p->meta[o + 1] << 16 | (size_t)p->meta[o + 2] << 8 | p->meta[o + 3]);
    }

  struct decoder *d = NULL;
  assert_int_equal(decoder_new(DECODER_FLAC, p->meta, p->meta_len, &d), 0);
  struct pcm_format fmt;
  decoder_get_format(d, &fmt);
  assert_int_equal(fmt.rate, rate);
  assert_int_equal(fmt.channels, ch);
  assert_int_equal(fmt.bits, bits);
  assert_int_equal(decoder_preroll_frames(d), 0);
  assert_int_equal(decoder_codec(d), DECODER_FLAC);
  size_t maxf = decoder_max_frames(d);
  assert_int_equal(maxf, blocksize ? blocksize : 4096);

  int32_t *out = calloc(frames * ch, sizeof(*out));
  int32_t *buf = calloc(maxf * ch, sizeof(*buf));
  assert_non_null(out);
  assert_non_null(buf);
  size_t total = 0;
  for (size_t i = 0; i < p->n; i++) {
    size_t len, got = 0;
    const uint8_t *s = pkt(p, i, &len);
    assert_int_equal(decoder_decode(d, s, len, buf, maxf, &got), 0);
    assert_true(got > 0 && got <= maxf && total + got <= frames);
    memcpy(out + total * ch, buf, got * ch * sizeof(*buf));
    total += got;
  }
  assert_int_equal(total, frames);
  assert_memory_equal(out, pcm, frames * ch * sizeof(*pcm));

  /* after a reset (a seek) any frame decodes on its own, identically */
  size_t mid = p->n / 2, len, got = 0;
  const uint8_t *s = pkt(p, mid, &len);
  assert_int_equal(decoder_reset(d), 0);
  assert_int_equal(decoder_decode(d, s, len, buf, maxf, &got), 0);
  assert_memory_equal(buf, pcm + mid * maxf * ch, got * ch * sizeof(*buf));

  decoder_free(d);
  free(buf);
  free(out);
  packets_free(p);
  free(pcm);
}

static void test_flac_16_44k_stereo(void **state) {
  (void)state;
  flac_roundtrip(44100, 2, 16, 44100, 0, false); /* 1 s, last frame short */
}

static void test_flac_24_96k_stereo(void **state) {
  (void)state;
  flac_roundtrip(96000, 2, 24, 48000, 0, true);
}

static void test_flac_24_192k_stereo(void **state) {
  (void)state;
  flac_roundtrip(192000, 2, 24, 48000, 8192, false);
}

static void test_flac_16_48k_6ch(void **state) {
  (void)state;
  flac_roundtrip(48000, 6, 16, 12000, 1152, true);
}

/* A valid 16-bit stereo stream for the error tests. */
struct flac_fixture {
  int32_t *pcm;
  struct packets *p;
  struct decoder *d;
  int32_t *buf;
  size_t maxf;
};

static void flac_fixture(struct flac_fixture *fx) {
  fx->pcm = make_pcm(44100, 2, 16, 4096 * 4, 0.5, 64);
  fx->p = flac_encode(fx->pcm, 4096 * 4, 44100, 2, 16, 4096);
  assert_int_equal(fx->p->n, 4);
  assert_int_equal(decoder_new(DECODER_FLAC, fx->p->meta, fx->p->meta_len, &fx->d), 0);
  fx->maxf = decoder_max_frames(fx->d);
  fx->buf = calloc(fx->maxf * 2, sizeof(int32_t));
  assert_non_null(fx->buf);
}

static void flac_fixture_done(struct flac_fixture *fx) {
  decoder_free(fx->d);
  free(fx->buf);
  packets_free(fx->p);
  free(fx->pcm);
}

/* Frame i decodes and equals the source. */
static void flac_expect_good(struct flac_fixture *fx, size_t i) {
  size_t len, got = 0;
  const uint8_t *s = pkt(fx->p, i, &len);
  assert_int_equal(decoder_decode(fx->d, s, len, fx->buf, fx->maxf, &got), 0);
  assert_int_equal(got, 4096);
  assert_memory_equal(fx->buf, fx->pcm + i * 4096 * 2, 4096 * 2 * sizeof(int32_t));
}

static void test_flac_corrupt_frames(void **state) {
  (void)state;
  struct flac_fixture fx;
  flac_fixture(&fx);
  size_t len, got = 12345;
  const uint8_t *s = pkt(fx.p, 1, &len);
  uint8_t *bad = malloc(len + 16);
  assert_non_null(bad);

  flac_expect_good(&fx, 0);

  /* a flipped bit in the middle: CRC-16 mismatch (libFLAC hands out silence: refuse it) */
  memcpy(bad, s, len);
  bad[len / 2] ^= 0x10;
  assert_int_equal(decoder_decode(fx.d, bad, len, fx.buf, fx.maxf, &got), -AMP_EDECODE);
  assert_int_equal(got, 12345); /* ret_frames untouched on failure */
  flac_expect_good(&fx, 1);

  /* truncated: the decoder must not wait for more input */
  assert_int_equal(decoder_decode(fx.d, s, len / 2, fx.buf, fx.maxf, &got), -AMP_EDECODE);
  flac_expect_good(&fx, 2);

  /* no sync code at all */
  memset(bad, 0x55, len);
  assert_int_equal(decoder_decode(fx.d, bad, len, fx.buf, fx.maxf, &got), -AMP_EDECODE);
  flac_expect_good(&fx, 3);

  /* a good frame followed by junk: not one frame */
  memcpy(bad, s, len);
  memset(bad + len, 0xa5, 16);
  assert_int_equal(decoder_decode(fx.d, bad, len + 16, fx.buf, fx.maxf, &got), -AMP_EDECODE);
  flac_expect_good(&fx, 0);

  /* two frames in one sample */
  const uint8_t *two = pkt(fx.p, 2, &len);
  size_t len2 = fx.p->off[4] - fx.p->off[2];
  (void)len;
  assert_int_equal(decoder_decode(fx.d, two, len2, fx.buf, fx.maxf, &got), -AMP_EDECODE);
  flac_expect_good(&fx, 3);

  /* a buffer too small for the frame, then the right one */
  s = pkt(fx.p, 1, &len);
  assert_int_equal(decoder_decode(fx.d, s, len, fx.buf, 1000, &got), -ENOBUFS);
  flac_expect_good(&fx, 1);

  /* bad arguments */
  assert_int_equal(decoder_decode(fx.d, s, 0, fx.buf, fx.maxf, &got), -EINVAL);
  assert_int_equal(decoder_decode(fx.d, NULL, 10, fx.buf, fx.maxf, &got), -EINVAL);
  assert_int_equal(decoder_decode(fx.d, s, DECODER_MAX_SAMPLE + 1, fx.buf, fx.maxf, &got),
                   -AMP_ETOOBIG);
  flac_expect_good(&fx, 2);

  free(bad);
  flac_fixture_done(&fx);
}

/* A frame of another stream (48 kHz 24-bit mono) fed to a 44.1k/16/2 decoder. */
static void test_flac_frame_mismatch(void **state) {
  (void)state;
  struct flac_fixture fx;
  flac_fixture(&fx);
  int32_t *other = make_pcm(48000, 1, 24, 4096, 0.5, 0);
  struct packets *op = flac_encode(other, 4096, 48000, 1, 24, 4096);
  size_t len, got;
  const uint8_t *s = pkt(op, 0, &len);
  assert_int_equal(decoder_decode(fx.d, s, len, fx.buf, fx.maxf, &got), -AMP_EDECODE);
  flac_expect_good(&fx, 0);
  packets_free(op);
  free(other);
  flac_fixture_done(&fx);
}

/* STREAMINFO body: 44.1k 16-bit stereo, blocksize 4096, other fields 0. */
static void streaminfo(uint8_t *si, uint32_t rate, unsigned ch, unsigned bits, unsigned minb,
                       unsigned maxb) {
  memset(si, 0, 34);
  si[0] = (uint8_t)(minb >> 8);
  si[1] = (uint8_t)minb;
  si[2] = (uint8_t)(maxb >> 8);
  si[3] = (uint8_t)maxb;
  si[10] = (uint8_t)(rate >> 12);
  si[11] = (uint8_t)(rate >> 4);
  si[12] = (uint8_t)((rate & 0xf) << 4 | (ch - 1) << 1 | ((bits - 1) >> 4));
  si[13] = (uint8_t)(((bits - 1) & 0xf) << 4);
}

static int flac_cfg(const uint8_t *cfg, size_t len) {
  struct decoder *d = (struct decoder *)0x1; /* must stay untouched on failure */
  int r = decoder_new(DECODER_FLAC, cfg, len, &d);
  if (r == 0)
    decoder_free(d);
  else
    assert_ptr_equal(d, (struct decoder *)0x1);
  return r;
}

static void test_flac_bad_configs(void **state) {
  (void)state;
  uint8_t cfg[128];
  /* the good one first: header + STREAMINFO (no last flag) */
  memset(cfg, 0, sizeof(cfg));
  cfg[3] = 34;
  streaminfo(cfg + 4, 44100, 2, 16, 4096, 4096);
  assert_int_equal(flac_cfg(cfg, 38), 0);
  /* with a PADDING block after it, last flag on the padding */
  cfg[38] = 0x81;
  cfg[41] = 8;
  assert_int_equal(flac_cfg(cfg, 38 + 4 + 8), 0);

  assert_int_equal(flac_cfg(cfg, 0), -EINVAL);
  assert_int_equal(flac_cfg(cfg, 37), -EINVAL);         /* short STREAMINFO */
  assert_int_equal(flac_cfg(cfg, 38 + 4 + 7), -EINVAL); /* padding runs past the end */
  assert_int_equal(flac_cfg(cfg, 38 + 2), -EINVAL);     /* half a block header */
  cfg[0] = 0x80;                                        /* last flag on STREAMINFO ... */
  assert_int_equal(flac_cfg(cfg, 38), 0);               /* ... fine at the end */
  assert_int_equal(flac_cfg(cfg, 38 + 4 + 8), -EINVAL); /* ... but not with blocks after */
  cfg[0] = 0x04;                                        /* VORBIS_COMMENT first */
  assert_int_equal(flac_cfg(cfg, 38), -EINVAL);
  cfg[0] = 0;
  cfg[3] = 33; /* STREAMINFO of the wrong length */
  assert_int_equal(flac_cfg(cfg, 37), -EINVAL);
  cfg[3] = 34;
  cfg[38] = 0x80; /* a second STREAMINFO */
  cfg[41] = 34;
  streaminfo(cfg + 42, 44100, 2, 16, 4096, 4096);
  assert_int_equal(flac_cfg(cfg, 76), -EINVAL);

  streaminfo(cfg + 4, 0, 2, 16, 4096, 4096);
  assert_int_equal(flac_cfg(cfg, 38), -AMP_EUNSUPPORTED); /* rate 0 */
  streaminfo(cfg + 4, 384000, 2, 16, 4096, 4096);
  assert_int_equal(flac_cfg(cfg, 38), -AMP_EUNSUPPORTED);
  streaminfo(cfg + 4, 44100, 2, 4, 4096, 4096);
  assert_int_equal(flac_cfg(cfg, 38), -AMP_EUNSUPPORTED); /* 4 bits */
  streaminfo(cfg + 4, 44100, 2, 16, 4096, 8);
  assert_int_equal(flac_cfg(cfg, 38), -EINVAL); /* max_blocksize < 16 */
  streaminfo(cfg + 4, 44100, 2, 16, 8192, 4096);
  assert_int_equal(flac_cfg(cfg, 38), -EINVAL); /* min > max */
  streaminfo(cfg + 4, 192000, 8, 24, 16, 65535);
  assert_int_equal(flac_cfg(cfg, 38), 0); /* the extremes we accept */

  uint8_t *big = calloc(1, DECODER_MAX_CONFIG + 1);
  assert_non_null(big);
  assert_int_equal(flac_cfg(big, DECODER_MAX_CONFIG + 1), -AMP_ETOOBIG);
  free(big);
  struct decoder *d = NULL;
  assert_int_equal(decoder_new(DECODER_FLAC, NULL, 10, &d), -EINVAL);
  assert_int_equal(decoder_new((enum decoder_codec)7, cfg, 38, &d), -AMP_EUNSUPPORTED);
  decoder_free(NULL);
}

/* ---- Opus ---- */

static void dops(uint8_t *b, unsigned ch, uint16_t preskip, int16_t gain, unsigned family) {
  b[0] = 0;
  b[1] = (uint8_t)ch;
  b[2] = (uint8_t)(preskip >> 8);
  b[3] = (uint8_t)preskip;
  b[4] = 0; /* InputSampleRate 44100: informative, decoding is at 48 kHz anyway */
  b[5] = 0;
  b[6] = 0xac;
  b[7] = 0x44;
  b[8] = (uint8_t)((uint16_t)gain >> 8);
  b[9] = (uint8_t)gain;
  b[10] = (uint8_t)family;
}

struct opus_stream {
  int16_t *src; /* interleaved source, 16-bit */
  int32_t *src32;
  size_t frames;
  unsigned ch;
  struct packets *p;
  uint16_t preskip;
  uint8_t cfg[32];
  size_t cfg_len;
};

static void opus_stream(struct opus_stream *s, unsigned ch, size_t frames, int bitrate) {
  memset(s, 0, sizeof(*s));
  s->ch = ch;
  s->frames = frames;
  s->src32 = make_pcm(48000, ch, 16, frames, 0.25, 0);
  s->src = calloc(frames * ch, sizeof(int16_t));
  assert_non_null(s->src);
  for (size_t i = 0; i < frames * ch; i++)
    s->src[i] = (int16_t)s->src32[i];
  s->p = calloc(1, sizeof(*s->p));
  assert_non_null(s->p);
  uint8_t out[4000];
  int err, lookahead = 0;
  if (ch <= 2) {
    OpusEncoder *e = opus_encoder_create(48000, (int)ch, OPUS_APPLICATION_AUDIO, &err);
    assert_non_null(e);
    assert_int_equal(opus_encoder_ctl(e, OPUS_SET_BITRATE(bitrate)), OPUS_OK);
    assert_int_equal(opus_encoder_ctl(e, OPUS_GET_LOOKAHEAD(&lookahead)), OPUS_OK);
    for (size_t i = 0; i + 960 <= frames; i += 960) {
      int n = opus_encode(e, s->src + i * ch, 960, out, sizeof(out));
      assert_true(n > 0);
      packets_add(s->p, out, (size_t)n);
    }
    opus_encoder_destroy(e);
    dops(s->cfg, ch, (uint16_t)lookahead, 0, 0);
    s->cfg_len = 11;
  } else {
    int streams = 0, coupled = 0;
    unsigned char mapping[8];
    OpusMSEncoder *e = opus_multistream_surround_encoder_create(
        48000, (int)ch, 1, &streams, &coupled, mapping, OPUS_APPLICATION_AUDIO, &err);
    assert_non_null(e);
    assert_int_equal(opus_multistream_encoder_ctl(e, OPUS_SET_BITRATE(bitrate)), OPUS_OK);
    assert_int_equal(opus_multistream_encoder_ctl(e, OPUS_GET_LOOKAHEAD(&lookahead)), OPUS_OK);
    for (size_t i = 0; i + 960 <= frames; i += 960) {
      int n = opus_multistream_encode(e, s->src + i * ch, 960, out, sizeof(out));
      assert_true(n > 0);
      packets_add(s->p, out, (size_t)n);
    }
    opus_multistream_encoder_destroy(e);
    dops(s->cfg, ch, (uint16_t)lookahead, 0, 1);
    s->cfg[11] = (uint8_t)streams;
    s->cfg[12] = (uint8_t)coupled;
    memcpy(s->cfg + 13, mapping, ch);
    s->cfg_len = 13 + ch;
  }
  s->preskip = (uint16_t)lookahead;
}

static void opus_stream_done(struct opus_stream *s) {
  packets_free(s->p);
  free(s->src);
  free(s->src32);
}

/* Decode the whole stream with the given dOps gain; returns the PCM (frames * ch). */
static int32_t *opus_decode_all(const struct opus_stream *s, int16_t gain) {
  uint8_t cfg[32];
  memcpy(cfg, s->cfg, s->cfg_len);
  cfg[8] = (uint8_t)((uint16_t)gain >> 8);
  cfg[9] = (uint8_t)gain;
  struct decoder *d = NULL;
  assert_int_equal(decoder_new(DECODER_OPUS, cfg, s->cfg_len, &d), 0);
  struct pcm_format fmt;
  decoder_get_format(d, &fmt);
  assert_int_equal(fmt.rate, 48000); /* whatever InputSampleRate says */
  assert_int_equal(fmt.channels, s->ch);
  assert_int_equal(fmt.bits, 16);
  assert_int_equal(decoder_max_frames(d), 5760);
  assert_int_equal(decoder_preroll_frames(d), 3840);
  assert_int_equal(decoder_preskip_frames(d), s->preskip);
  int32_t *out = calloc(s->p->n * 960 * s->ch, sizeof(*out));
  assert_non_null(out);
  for (size_t i = 0; i < s->p->n; i++) {
    size_t len, got = 0;
    const uint8_t *b = pkt(s->p, i, &len);
    assert_int_equal(decoder_decode(d, b, len, out + i * 960 * s->ch, 5760, &got), 0);
    assert_int_equal(got, 960); /* 20 ms packets */
    for (size_t k = 0; k < 960 * s->ch; k++)
      assert_in_range(out[i * 960 * s->ch + k] + 32768, 0, 65535); /* 16-bit range */
  }
  decoder_free(d);
  return out;
}

/* SNR in dB of channel c of dec (delayed by the pre-skip) against the source. */
static double snr_db(const struct opus_stream *s, const int32_t *dec, unsigned c) {
  double sig = 0, err = 0;
  size_t n = s->p->n * 960 - s->preskip;
  for (size_t i = 960; i < n; i++) { /* skip the encoder's first frame */
    double a = s->src32[i * s->ch + c];
    double b = dec[(i + s->preskip) * s->ch + c];
    sig += a * a;
    err += (a - b) * (a - b);
  }
  return 10 * log10(sig / (err > 0 ? err : 1));
}

static double rms(const int32_t *pcm, size_t values) {
  double e = 0;
  for (size_t i = 0; i < values; i++)
    e += (double)pcm[i] * pcm[i];
  return sqrt(e / (double)values);
}

static void test_opus_stereo_snr(void **state) {
  (void)state;
  struct opus_stream s;
  opus_stream(&s, 2, 48000, 128000);
  assert_int_equal(s.p->n, 50);
  int32_t *dec = opus_decode_all(&s, 0);
  for (unsigned c = 0; c < 2; c++)
    assert_true(snr_db(&s, dec, c) > 20.0);
  free(dec);
  opus_stream_done(&s);
}

/* OutputGain +6.02 dB (Q7.8 = 1541) doubles the level: applied once, not twice. */
static void test_opus_output_gain_once(void **state) {
  (void)state;
  struct opus_stream s;
  opus_stream(&s, 2, 48000, 128000);
  int32_t *flat = opus_decode_all(&s, 0);
  int32_t *loud = opus_decode_all(&s, 1541);
  size_t values = s.p->n * 960 * 2;
  double ratio = rms(loud, values) / rms(flat, values);
  assert_true(ratio > 1.95 && ratio < 2.05);
  int32_t *soft = opus_decode_all(&s, -1541); /* and -6.02 dB halves it */
  ratio = rms(soft, values) / rms(flat, values);
  assert_true(ratio > 0.48 && ratio < 0.52);
  free(soft);
  free(loud);
  free(flat);
  opus_stream_done(&s);
}

static void test_opus_mono(void **state) {
  (void)state;
  struct opus_stream s;
  opus_stream(&s, 1, 9600, 64000);
  int32_t *dec = opus_decode_all(&s, 0);
  assert_true(snr_db(&s, dec, 0) > 20.0);
  free(dec);
  opus_stream_done(&s);
}

static void test_opus_multistream_51(void **state) {
  (void)state;
  struct opus_stream s;
  opus_stream(&s, 6, 48000, 384000);
  assert_int_equal(s.cfg[10], 1);
  assert_true(s.cfg[11] >= 2); /* several streams */
  int32_t *dec = opus_decode_all(&s, 0);
  /* Every channel carries its own tone through; the LFE (channel 5) is low-passed by the
   * encoder, so only its level is checked. */
  for (unsigned c = 0; c < 6; c++) {
    if (c == 5) {
      double e = 0;
      for (size_t i = 0; i < s.p->n * 960; i++)
        e += fabs((double)dec[i * 6 + c]);
      assert_true(e > 0);
    } else {
      assert_true(snr_db(&s, dec, c) > 12.0);
    }
  }
  free(dec);
  opus_stream_done(&s);
}

static void test_opus_corrupt_packets(void **state) {
  (void)state;
  struct opus_stream s;
  opus_stream(&s, 2, 9600, 128000);
  struct decoder *d = NULL;
  assert_int_equal(decoder_new(DECODER_OPUS, s.cfg, s.cfg_len, &d), 0);
  int32_t *buf = calloc(5760 * 2, sizeof(*buf));
  assert_non_null(buf);
  size_t len, got = 777;
  const uint8_t *b;

  static const uint8_t code3_zero[] = {0xfb, 0x00};            /* code 3 with 0 frames */
  static const uint8_t code3_long[] = {0xfb, 0x3f, 0, 0, 0};   /* 63 x 20 ms > 120 ms */
  static const uint8_t code1_odd[] = {0xf9, 0x01, 0x02, 0x03}; /* code 1: odd payload */
  assert_int_equal(decoder_decode(d, code3_zero, 2, buf, 5760, &got), -AMP_EDECODE);
  assert_int_equal(decoder_decode(d, code3_long, 5, buf, 5760, &got), -AMP_EDECODE);
  assert_int_equal(decoder_decode(d, code1_odd, 4, buf, 5760, &got), -AMP_EDECODE);
  assert_int_equal(got, 777);
  b = pkt(s.p, 0, &len);
  assert_int_equal(decoder_decode(d, b, len, buf, 5760, &got), 0);
  assert_int_equal(got, 960);

  /* too little room: -ENOBUFS, then fine */
  b = pkt(s.p, 1, &len);
  assert_int_equal(decoder_decode(d, b, len, buf, 480, &got), -ENOBUFS);
  assert_int_equal(decoder_decode(d, b, len, buf, 960, &got), 0);
  assert_int_equal(got, 960);

  /* a reset (seek) keeps it working */
  assert_int_equal(decoder_reset(d), 0);
  b = pkt(s.p, 5, &len);
  assert_int_equal(decoder_decode(d, b, len, buf, 5760, &got), 0);
  assert_int_equal(got, 960);
  assert_int_equal(decoder_decode(d, b, 0, buf, 5760, &got), -EINVAL); /* no PLC by accident */

  free(buf);
  decoder_free(d);
  opus_stream_done(&s);
}

static int opus_cfg(const uint8_t *cfg, size_t len) {
  struct decoder *d = NULL;
  int r = decoder_new(DECODER_OPUS, cfg, len, &d);
  if (r == 0)
    decoder_free(d);
  else
    assert_null(d);
  return r;
}

static void test_opus_bad_configs(void **state) {
  (void)state;
  uint8_t c[32];
  dops(c, 2, 312, 0, 0);
  assert_int_equal(opus_cfg(c, 11), 0);
  assert_int_equal(opus_cfg(c, 10), -EINVAL); /* short */
  assert_int_equal(opus_cfg(c, 12), -EINVAL); /* trailing byte for family 0 */
  assert_int_equal(opus_cfg(c, 0), -EINVAL);
  c[0] = 1; /* Version 1 (that is OpusHead's) */
  assert_int_equal(opus_cfg(c, 11), -EINVAL);
  dops(c, 0, 312, 0, 0);
  assert_int_equal(opus_cfg(c, 11), -EINVAL); /* no channels */
  dops(c, 3, 312, 0, 0);
  assert_int_equal(opus_cfg(c, 11), -EINVAL); /* family 0 is 1 or 2 channels */
  dops(c, 2, 312, 0, 2);
  assert_int_equal(opus_cfg(c, 11), -AMP_EUNSUPPORTED); /* ambisonics */

  /* family 1, 6 channels: 4 streams, 2 coupled, mapping 0 4 1 2 3 5 */
  static const uint8_t map51[6] = {0, 4, 1, 2, 3, 5};
  dops(c, 6, 312, 0, 1);
  c[11] = 4;
  c[12] = 2;
  memcpy(c + 13, map51, 6);
  assert_int_equal(opus_cfg(c, 19), 0);
  assert_int_equal(opus_cfg(c, 18), -EINVAL); /* mapping table cut */
  assert_int_equal(opus_cfg(c, 11), -EINVAL); /* no table at all */
  c[11] = 0;
  assert_int_equal(opus_cfg(c, 19), -EINVAL); /* streams = 0 */
  c[11] = 2;
  c[12] = 3;
  assert_int_equal(opus_cfg(c, 19), -EINVAL); /* coupled > streams */
  c[11] = 4;
  c[12] = 2;
  c[13 + 3] = 6;
  assert_int_equal(opus_cfg(c, 19), -EINVAL); /* mapping index >= streams + coupled */
  c[13 + 3] = 255;
  assert_int_equal(opus_cfg(c, 19), 0); /* 255 = silent channel */

  dops(c, 9, 312, 0, 255);
  c[11] = 9;
  c[12] = 0;
  for (unsigned i = 0; i < 9; i++)
    c[13 + i] = (uint8_t)i;
  assert_int_equal(opus_cfg(c, 22), -AMP_EUNSUPPORTED); /* > 8 channels */
  dops(c, 2, 312, 0, 255);                              /* 200 streams for 2 channels */
  c[11] = 200;
  c[12] = 0;
  c[13] = 0;
  c[14] = 1;
  assert_int_equal(opus_cfg(c, 15), -AMP_EUNSUPPORTED);
  dops(c, 3, 0, 0, 255); /* family 255, 3 uncoupled streams */
  c[11] = 3;
  c[12] = 0;
  c[13] = 0;
  c[14] = 1;
  c[15] = 2;
  assert_int_equal(opus_cfg(c, 16), 0);
}

/* ---- trim ---- */

static void trim(int64_t pts, uint32_t frames, int64_t start, int64_t end, size_t skip,
                 size_t keep) {
  size_t s = 999, k = 999;
  assert_int_equal(decoder_trim(pts, frames, start, end, &s, &k), 0);
  assert_int_equal(s, skip);
  assert_int_equal(k, keep);
}

static void test_trim(void **state) {
  (void)state;
  /* elst priming: the first Opus sample starts at -312 */
  trim(-312, 960, 0, INT64_MAX, 312, 648);
  trim(648, 960, 0, INT64_MAX, 0, 960);
  /* a sample wholly before the start (pre-roll after a seek to 48000) */
  trim(40000, 960, 48000, INT64_MAX, 960, 0);
  trim(47520, 960, 48000, INT64_MAX, 480, 480);
  /* the shortened last sample: 312 valid frames */
  trim(575688, 960, 0, 576000, 0, 312);
  trim(576000, 960, 0, 576000, 960, 0);
  /* start and end in one sample */
  trim(100, 960, 200, 300, 100, 100);
  trim(0, 0, 0, 10, 0, 0);
  trim(5, 10, 7, 7, 10, 0); /* empty interval */
  /* extremes: nothing overflows */
  trim(INT64_MIN, 960, INT64_MAX, INT64_MAX, 960, 0);
  trim(INT64_MAX - 10, 960, 0, INT64_MAX, 0, 10);
  trim(INT64_MIN, UINT32_MAX, INT64_MIN, INT64_MAX, 0, UINT32_MAX);
  trim(-5, 10, INT64_MIN, 0, 0, 5);
  size_t s, k;
  assert_int_equal(decoder_trim(0, 10, 5, 4, &s, &k), -EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_flac_16_44k_stereo),    cmocka_unit_test(test_flac_24_96k_stereo),
      cmocka_unit_test(test_flac_24_192k_stereo),   cmocka_unit_test(test_flac_16_48k_6ch),
      cmocka_unit_test(test_flac_corrupt_frames),   cmocka_unit_test(test_flac_frame_mismatch),
      cmocka_unit_test(test_flac_bad_configs),      cmocka_unit_test(test_opus_stereo_snr),
      cmocka_unit_test(test_opus_output_gain_once), cmocka_unit_test(test_opus_mono),
      cmocka_unit_test(test_opus_multistream_51),   cmocka_unit_test(test_opus_corrupt_packets),
      cmocka_unit_test(test_opus_bad_configs),      cmocka_unit_test(test_trim),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
