/* SPDX-License-Identifier: Apache-2.0 */
#include "media/pipeline.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <ampd/cdm.h>

#include "core/err.h"
#include "core/log.h"
#include "media/cdmhost.h"
#include "media/decoder.h"
#include "media/mp4.h"

LOG_TOPIC("pipeline");

struct pipeline {
  struct mp4_init *init;
  struct decoder *dec;
  struct pcm_format format;
  uint32_t timescale; /* media timescale of the track */
  struct cdmhost *cdm;
  uint32_t session;
  int64_t start, end;
  int protected_;
  uint8_t *scratch;                /* one decrypted sample, DECODER_MAX_SAMPLE bytes */
  int32_t *pcm;                    /* one decoded sample */
  size_t max_frames;               /* of pcm */
  struct ampd_cdm_subsample *subs; /* MP4_MAX_SUBSAMPLES entries */
};

static int codec_of(uint32_t format, enum decoder_codec *ret) {
  switch (format) {
  case MP4_FORMAT_FLAC:
    *ret = DECODER_FLAC;
    return 0;
  case MP4_FORMAT_OPUS:
    *ret = DECODER_OPUS;
    return 0;
  default:
    return -AMP_EUNSUPPORTED;
  }
}

/* The codec config every entry shares; form A's clear entry repeats the protected one. */
static int common_codec(const struct mp4_init *init, struct mp4_codec *ret, int *ret_protected) {
  uint32_t n = mp4_init_entry_count(init);
  struct mp4_codec first;
  int prot = 0;
  if (n == 0)
    return -AMP_EUNSUPPORTED;
  for (uint32_t i = 1; i <= n; i++) {
    struct mp4_codec c;
    int r = mp4_init_codec(init, i, &c);
    if (r < 0)
      return r;
    if (mp4_init_entry(init, i)->has_sinf)
      prot = 1;
    if (i == 1) {
      first = c;
      continue;
    }
    if (c.format != first.format || c.config_size != first.config_size ||
        memcmp(c.config, first.config, c.config_size) != 0) {
      log_debug("sample entries %u and 1 differ in codec configuration", i);
      return -AMP_EUNSUPPORTED;
    }
  }
  *ret = first;
  *ret_protected = prot;
  return 0;
}

int pipeline_new(const uint8_t *init, size_t len, const struct pipeline_config *cfg,
                 struct pipeline **ret) {
  struct pipeline *p;
  struct mp4_codec codec;
  enum decoder_codec dc;
  int r;

  if (!init || !cfg || !ret || cfg->end < cfg->start)
    return -EINVAL;
  p = calloc(1, sizeof(*p));
  if (!p)
    return -ENOMEM;
  p->cdm = cfg->cdm;
  p->session = cfg->session;
  p->start = cfg->start;
  p->end = cfg->end;

  r = mp4_init_parse(init, len, &p->init);
  if (r < 0)
    goto fail;
  r = common_codec(p->init, &codec, &p->protected_);
  if (r < 0)
    goto fail;
  r = codec_of(codec.format, &dc);
  if (r < 0)
    goto fail;
  r = decoder_new(dc, codec.config, codec.config_size, &p->dec);
  if (r < 0)
    goto fail;
  decoder_get_format(p->dec, &p->format);
  p->timescale = mp4_init_track(p->init)->timescale;
  if (p->timescale == 0) {
    r = -AMP_EMP4;
    goto fail;
  }

  p->max_frames = decoder_max_frames(p->dec);
  p->pcm = malloc(p->max_frames * p->format.channels * sizeof(int32_t));
  p->scratch = malloc(DECODER_MAX_SAMPLE);
  p->subs = calloc(MP4_MAX_SUBSAMPLES, sizeof(*p->subs));
  if (!p->pcm || !p->scratch || !p->subs) {
    r = -ENOMEM;
    goto fail;
  }
  *ret = p;
  return 0;

fail:
  pipeline_free(p);
  return r;
}

void pipeline_free(struct pipeline *p) {
  if (!p)
    return;
  decoder_free(p->dec);
  mp4_init_free(p->init);
  if (p->scratch) /* it held clear audio: don't leave it in freed memory */
    memset(p->scratch, 0, DECODER_MAX_SAMPLE);
  free(p->scratch);
  free(p->pcm);
  free(p->subs);
  free(p);
}

void pipeline_get_format(const struct pipeline *p, struct pcm_format *ret) {
  *ret = p->format;
}

const struct mp4_init *pipeline_init(const struct pipeline *p) {
  return p->init;
}

int pipeline_is_protected(const struct pipeline *p) {
  return p->protected_;
}

void pipeline_set_cdm(struct pipeline *p, struct cdmhost *cdm, uint32_t session) {
  p->cdm = cdm;
  p->session = session;
}

uint32_t pipeline_preroll_frames(const struct pipeline *p) {
  return decoder_preroll_frames(p->dec);
}

int pipeline_seek(struct pipeline *p, int64_t start, int64_t end) {
  if (end < start)
    return -EINVAL;
  p->start = start;
  p->end = end;
  return decoder_reset(p->dec);
}

/* Media timescale -> output frames, exact for equal rates (the usual case) and without
 * overflow otherwise. */
static int64_t to_frames(const struct pipeline *p, int64_t t) {
  if (p->timescale == p->format.rate)
    return t;
  uint64_t m = t < 0 ? (uint64_t)0 - (uint64_t)t : (uint64_t)t;
  uint64_t ts = p->timescale, rate = p->format.rate;
  uint64_t v = (m / ts) * rate + (m % ts) * rate / ts;
  if (v > INT64_MAX)
    v = INT64_MAX;
  return t < 0 ? -(int64_t)v : (int64_t)v;
}

static int decrypt_sample(struct pipeline *p, const struct mp4_sample *s, const uint8_t *in) {
  struct ampd_cdm_sample cs;

  if (!p->cdm)
    return -AMP_ENOKEY;
  if (s->scheme != MP4_SCHEME_CENC)
    return -AMP_EUNSUPPORTED;
  if (s->size > DECODER_MAX_SAMPLE)
    return -AMP_ETOOBIG;
  if (s->subsample_count > MP4_MAX_SUBSAMPLES)
    return -AMP_ETOOBIG;
  cdmhost_sample_init(&cs);
  memcpy(cs.kid, s->kid, sizeof(cs.kid));
  memcpy(cs.iv, s->iv, sizeof(cs.iv));
  cs.iv_len = s->iv_size;
  for (uint16_t i = 0; i < s->subsample_count; i++) {
    p->subs[i].clear_bytes = s->subsamples[i].clear_bytes;
    p->subs[i].protected_bytes = s->subsamples[i].protected_bytes;
  }
  cs.subsample_count = s->subsample_count;
  cs.subsamples = s->subsample_count ? p->subs : NULL;
  cs.in = in;
  cs.out = p->scratch;
  cs.len = s->size;
  return cdmhost_decrypt(p->cdm, p->session, &cs);
}

int pipeline_segment(struct pipeline *p, const uint8_t *buf, size_t len, uint64_t file_offset,
                     pipeline_pcm_fn pcm, void *userdata, uint64_t *ret_frames) {
  struct mp4_segment *seg = NULL;
  uint64_t total = 0;
  int r;

  if (!p || !buf || !pcm)
    return -EINVAL;
  r = mp4_segment_parse(p->init, buf, len, file_offset, &seg);
  if (r < 0)
    return r;

  size_t n = mp4_segment_sample_count(seg);
  for (size_t i = 0; i < n; i++) {
    struct mp4_sample s;
    const uint8_t *data;
    size_t frames, skip, keep;

    r = mp4_segment_sample(seg, i, &s);
    if (r < 0)
      goto out;
    data = buf + s.offset;
    if (s.encrypted) {
      r = decrypt_sample(p, &s, data);
      if (r < 0) {
        log_debug("sample %zu: decrypt failed: %s", i, amp_strerror(r));
        goto out;
      }
      data = p->scratch;
    }
    r = decoder_decode(p->dec, data, s.size, p->pcm, p->max_frames, &frames);
    if (r < 0) {
      log_debug("sample %zu: decode failed: %s", i, amp_strerror(r));
      goto out;
    }

    /* Keep what lies inside the sample's own duration (this cuts the shortened last
     * sample) and inside the valid interval (this drops the priming and pre-roll). */
    int64_t pts = to_frames(p, s.pts);
    int64_t stop = to_frames(p, s.pts + (int64_t)s.duration);
    if (stop > p->end)
      stop = p->end;
    if (stop <= p->start || frames == 0)
      continue;
    r = decoder_trim(pts, (uint32_t)frames, p->start, stop, &skip, &keep);
    if (r < 0)
      goto out;
    if (keep == 0)
      continue;
    r = pcm(userdata, p->pcm + skip * p->format.channels, keep);
    if (r < 0)
      goto out;
    total += keep;
  }
  if (ret_frames)
    *ret_frames = total;
  r = 0;
out:
  mp4_segment_free(seg);
  return r;
}
