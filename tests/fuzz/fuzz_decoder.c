/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the decoders with what the demuxer hands them from the network: a codec config
 * (dOps body or dfLa blocks) and samples.
 * Input: byte 0 picks the codec (bit 0: 0 FLAC, 1 Opus) and the width of the length
 * fields (bit 1: 0 two bytes, 1 three bytes, so that the config and a sample can pass
 * DECODER_MAX_CONFIG and DECODER_MAX_SAMPLE); then the big-endian config length, the
 * config, and the samples, each prefixed by its big-endian length (a length beyond the
 * input means the rest of it). The whole input may be in grow.h's compact form, so that
 * configs and samples at their bounds are reachable.
 *
 * Checked against decoder.h:
 *  - decoder_new and decoder_decode return only their documented codes; a config or a
 *    sample over its bound is -AMP_ETOOBIG; -ENOBUFS never comes with decoder_max_frames();
 *  - the format, max frames, preroll and preskip are those of the codec;
 *  - a decoded sample has at most max frames (Opus: a multiple of 2.5 ms), every value
 *    written and within pcm_format.bits;
 *  - decoder_trim keeps exactly the frames of the sample inside [start, end);
 *  - after decoder_reset() the same samples decode to the same results and PCM as on the
 *    new decoder (the reset forgets all stream state, as a seek relies on).
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz.h"
#include "core/err.h"
#include "grow.h"
#include "media/decoder.h"

/* One over both bounds, with 3-byte lengths: the mode byte, config, one sample. */
#define FUZZ_GROW_CAP (1 + 3 + DECODER_MAX_CONFIG + 1 + 3 + DECODER_MAX_SAMPLE + 1)

/* Written to the output before each decode: outside every bits range below 32, so a value
 * the decoder claims but did not write fails the range check. */
#define PCM_POISON 0x5a5a5a5a

/* Opus packets are 2.5 ms multiples: 120 frames at 48 kHz. */
#define OPUS_FRAME_QUANTUM 120u

struct input {
  const uint8_t *p;
  size_t left;
  size_t width; /* bytes of a length field: 2 or 3 */
};

/* The next length-prefixed chunk; false when no length field is left. */
static bool next_chunk(struct input *in, const uint8_t **ret, size_t *ret_len) {
  if (in->left < in->width)
    return false;
  size_t n = 0;
  for (size_t i = 0; i < in->width; i++)
    n = n << 8 | in->p[i];
  in->p += in->width;
  in->left -= in->width;
  if (n > in->left)
    n = in->left;
  *ret = in->p;
  *ret_len = n;
  in->p += n;
  in->left -= n;
  return true;
}

static int64_t be64s(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | p[i];
  return (int64_t)v;
}

/* decoder_trim against an independent oracle in 128-bit arithmetic. */
static void check_trim(int64_t pts, uint32_t frames, int64_t start, int64_t end) {
  size_t skip = 0, keep = 0;
  int r = decoder_trim(pts, frames, start, end, &skip, &keep);
  if (end < start) {
    CHECK(r == -EINVAL);
    return;
  }
  CHECK(r == 0);
  __int128 lo = pts > start ? pts : start;
  __int128 hi = (__int128)pts + frames < end ? (__int128)pts + frames : end;
  __int128 want = hi > lo ? hi - lo : 0;
  CHECK((__int128)keep == want);
  CHECK(skip <= frames && keep <= frames - skip);
  if (keep > 0)
    CHECK((__int128)pts + (__int128)skip == lo);
}

static void check_format(const struct decoder *d, enum decoder_codec codec,
                         const struct pcm_format *f, size_t max) {
  CHECK(decoder_codec(d) == codec);
  CHECK(f->channels >= 1 && f->channels <= DECODER_MAX_CHANNELS);
  if (codec == DECODER_OPUS) {
    CHECK(f->rate == DECODER_OPUS_RATE && f->bits == 16);
    CHECK(max == DECODER_OPUS_MAX_FRAMES);
    CHECK(decoder_preroll_frames(d) == DECODER_OPUS_PREROLL);
  } else {
    CHECK(f->rate >= 1 && f->rate <= DECODER_MAX_RATE && f->bits >= 8 && f->bits <= 32);
    CHECK(max >= 16 && max <= 65535);
    CHECK(decoder_preroll_frames(d) == 0 && decoder_preskip_frames(d) == 0);
  }
}

/* Samples decoded per input. Each decode first poisons the whole output buffer (up to
 * 65535 frames x 8 channels, 2 MiB), so a grown input of many tiny samples would take
 * minutes per run and trip the per-input timeout without finding anything: a bound on the
 * samples keeps every input under a second. */
#define FUZZ_MAX_SAMPLES 256

/* Decode every sample (at most FUZZ_MAX_SAMPLES); returns a hash of the results and the
 * PCM. */
static uint64_t decode_all(struct decoder *d, enum decoder_codec codec, const struct pcm_format *f,
                           size_t max, int32_t *pcm, struct input in) {
  uint64_t h = 14695981039346656037ull; /* FNV-1a */
  size_t values = max * f->channels;
  int64_t pts = 0;
  const uint8_t *s;
  size_t n, samples = 0;
  while (samples < FUZZ_MAX_SAMPLES && next_chunk(&in, &s, &n)) {
    if (n == 0)
      continue;
    samples++;
    for (size_t i = 0; i < values; i++)
      pcm[i] = PCM_POISON;
    size_t frames = SIZE_MAX;
    int r = decoder_decode(d, s, n, pcm, max, &frames);
    CHECK(r == 0 || r == -AMP_EDECODE || r == -AMP_ETOOBIG);
    CHECK((r == -AMP_ETOOBIG) == (n > DECODER_MAX_SAMPLE));
    h = (h ^ (uint32_t)r) * 1099511628211ull;
    if (r < 0) {
      CHECK(frames == SIZE_MAX); /* set on success only */
      continue;
    }
    CHECK(frames >= 1 && frames <= max);
    if (codec == DECODER_OPUS)
      CHECK(frames % OPUS_FRAME_QUANTUM == 0);
    int64_t lim = f->bits >= 32 ? INT64_MAX : (int64_t)1 << (f->bits - 1);
    for (size_t i = 0; i < frames * f->channels; i++) {
      CHECK(pcm[i] >= -lim && pcm[i] < lim);
      h = (h ^ (uint32_t)pcm[i]) * 1099511628211ull;
    }
    h = (h ^ frames) * 1099511628211ull;
    if (n >= 24)
      check_trim(be64s(s), (uint32_t)frames, be64s(s + 8), be64s(s + 16));
    else
      check_trim(pts, (uint32_t)frames, 0, INT64_MAX);
    pts += (int64_t)frames;
  }
  return h;
}

static void fuzz_one(const uint8_t *data, size_t size) {
  if (size < 1)
    return;
  enum decoder_codec codec = (data[0] & 1) ? DECODER_OPUS : DECODER_FLAC;
  struct input in = {.p = data + 1, .left = size - 1, .width = (data[0] & 2) ? 3 : 2};
  const uint8_t *cfg;
  size_t clen;
  if (!next_chunk(&in, &cfg, &clen))
    return;

  struct decoder *d = NULL;
  int r = decoder_new(codec, cfg, clen, &d);
  CHECK(r == 0 || r == -EINVAL || r == -AMP_EUNSUPPORTED || r == -AMP_EDECODE ||
        r == -AMP_ETOOBIG || r == -ENOMEM);
  if (clen > DECODER_MAX_CONFIG)
    CHECK(r == -AMP_ETOOBIG);
  if (r < 0) {
    CHECK(d == NULL); /* untouched on failure */
    return;
  }

  struct pcm_format f;
  decoder_get_format(d, &f);
  size_t max = decoder_max_frames(d);
  check_format(d, codec, &f, max);
  int32_t *pcm = malloc(max * f.channels * sizeof(int32_t));
  if (pcm) {
    uint64_t first = decode_all(d, codec, &f, max, pcm, in);
    CHECK(decoder_reset(d) == 0);
    CHECK(decode_all(d, codec, &f, max, pcm, in) == first);
  }
  free(pcm);
  decoder_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct grown g;
  if (grow(data, size, FUZZ_GROW_CAP, &g) == 0)
    fuzz_one(g.data, g.size);
  grow_free(&g);
  return 0;
}
