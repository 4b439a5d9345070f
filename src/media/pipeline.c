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
  /* The timeline checks (pipeline.h). */
  uint64_t gap_ticks;  /* PIPELINE_GAP_TOLERANCE_MS in the media timescale */
  int64_t end_frames;  /* PIPELINE_END_TOLERANCE_MS in output frames */
  int64_t start_slack; /* PIPELINE_GAP_TOLERANCE_MS in output frames */
  int fed;             /* a sample was fed since new/seek */
  uint64_t next_dt;    /* decode time where the next sample must start (when fed) */
  int64_t first;       /* pts of the first sample fed, output frames (when fed) */
  int64_t reached;     /* pts + duration of the last sample fed, output frames (when fed) */
  int64_t expected;    /* declared end in output frames, -1 = none */
  int need_seek;       /* a segment failed after its first sample reached the decoder */
};

/* hi - lo for lo <= hi, exact: the difference of two int64 always fits a uint64. */
static uint64_t span_of(int64_t lo, int64_t hi) {
  return (uint64_t)hi - (uint64_t)lo;
}

/* floor(t * to / from) in *ret, or -ERANGE when it does not fit int64. Exact for every t:
 * t = q * from + r with 0 <= r < from, and r * to < 2^64 since both are 32-bit. */
static int scale_time(int64_t t, uint32_t from, uint32_t to, int64_t *ret) {
  int64_t q, a;
  if (from == 0)
    return -EINVAL;
  if (from == to) {
    *ret = t;
    return 0;
  }
  q = t / (int64_t)from;
  int64_t r = t % (int64_t)from;
  if (r < 0) {
    q--;
    r += (int64_t)from;
  }
  int64_t b = (int64_t)((uint64_t)r * to / from); /* < to */
  if (__builtin_mul_overflow(q, (int64_t)to, &a) || __builtin_add_overflow(a, b, &a))
    return -ERANGE;
  *ret = a;
  return 0;
}

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

  p->gap_ticks = (uint64_t)p->timescale * PIPELINE_GAP_TOLERANCE_MS / 1000;
  p->end_frames = (int64_t)p->format.rate * PIPELINE_END_TOLERANCE_MS / 1000;
  p->start_slack = (int64_t)p->format.rate * PIPELINE_GAP_TOLERANCE_MS / 1000;
  p->expected = -1;
  const struct mp4_track *tr = mp4_init_track(p->init);
  if (tr->fragment_duration > 0 && tr->movie_timescale > 0) {
    r = pipeline_expect_end(p, tr->fragment_duration, tr->movie_timescale);
    if (r < 0)
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
  p->fed = 0;
  int r = decoder_reset(p->dec);
  p->need_seek = r < 0; /* a decoder that did not reset is still in the old stream */
  return r;
}

int pipeline_expect_end(struct pipeline *p, uint64_t end, uint32_t timescale) {
  int64_t f;
  if (!p || timescale == 0)
    return -EINVAL;
  if (end > INT64_MAX)
    return -ERANGE;
  int r = scale_time((int64_t)end, timescale, p->format.rate, &f);
  if (r < 0)
    return r;
  if (f > p->expected)
    p->expected = f;
  return 0;
}

int pipeline_finish(const struct pipeline *p) {
  if (!p)
    return -EINVAL;
  if (!p->fed) {
    log_debug("finish: no sample was fed");
    return -AMP_ESHORT;
  }
  if (p->expected < 0)
    return 0;
  int64_t want = p->expected < p->end ? p->expected : p->end;
  /* reached >= want - tolerance, in exact arithmetic: reached may be near INT64_MIN (an
   * edit list that cuts at a media_time near INT64_MAX) */
  if (p->reached < want && span_of(p->reached, want) > (uint64_t)p->end_frames) {
    log_debug("finish: media ends at frame %lld of %lld declared", (long long)p->reached,
              (long long)want);
    return -AMP_ESHORT;
  }
  return 0;
}

void pipeline_get_timeline(const struct pipeline *p, struct pipeline_timeline *ret) {
  ret->fed = p->fed;
  ret->first = p->fed ? p->first : 0;
  ret->reached = p->fed ? p->reached : 0;
  ret->expected = p->expected;
}

/* A sample's presentation interval [*ret_pts, *ret_stop) in output frames. Both outputs
 * are set on every path (0 on an error), so no caller can read them undefined. */
static int sample_span(const struct pipeline *p, const struct mp4_sample *s, int64_t *ret_pts,
                       int64_t *ret_stop) {
  int64_t end, pts = 0, stop = 0;
  int r = -ERANGE;
  if (!__builtin_add_overflow(s->pts, (int64_t)s->duration, &end)) {
    r = scale_time(s->pts, p->timescale, p->format.rate, &pts);
    if (r == 0)
      r = scale_time(end, p->timescale, p->format.rate, &stop);
  }
  if (r < 0)
    pts = stop = 0;
  *ret_pts = pts;
  *ret_stop = stop;
  return r;
}

struct timeline {
  int fed;
  uint64_t next_dt;
  int64_t first, reached;
};

/* Check the whole segment's timeline before any of it is decoded; *t is the state after
 * it, which pipeline_segment() keeps only when the segment succeeds. (A segment that fails
 * before its first sample reaches the decoder leaves everything as it was; one that fails
 * later sets need_seek: pipeline.h.) */
static int check_timeline(const struct pipeline *p, const struct mp4_segment *seg,
                          struct timeline *t) {
  size_t n = mp4_segment_sample_count(seg);
  *t = (struct timeline){p->fed, p->next_dt, p->first, p->reached};
  for (size_t i = 0; i < n; i++) {
    struct mp4_sample s;
    int64_t pts, stop;
    int r = mp4_segment_sample(seg, i, &s);
    if (r == 0)
      r = sample_span(p, &s, &pts, &stop);
    if (r < 0)
      return r;
    if (!t->fed) {
      /* pts <= start + slack, in exact arithmetic (start may be negative) */
      if (pts > p->start && span_of(p->start, pts) > (uint64_t)p->start_slack) {
        log_debug("the first sample starts at frame %lld, after the start %lld", (long long)pts,
                  (long long)p->start);
        return -AMP_EGAP;
      }
      t->first = pts;
      t->reached = stop;
    } else {
      uint64_t d =
          s.decode_time > t->next_dt ? s.decode_time - t->next_dt : t->next_dt - s.decode_time;
      if (d > p->gap_ticks) {
        log_debug("sample %zu starts at %llu, the timeline is at %llu", i,
                  (unsigned long long)s.decode_time, (unsigned long long)t->next_dt);
        return -AMP_EGAP;
      }
    }
    t->fed = 1;
    t->next_dt = s.decode_time + s.duration; /* no wrap: the demuxer checked it */
    if (stop > t->reached)
      t->reached = stop;
  }
  return 0;
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
  struct timeline tl;
  uint64_t total = 0;
  int decoded = 0; /* a sample of this segment reached the decoder */
  int r;

  if (!p || !buf || !pcm)
    return -EINVAL;
  if (p->need_seek) {
    log_debug("segment refused: an earlier one failed part-way, seek first");
    return -EINVAL;
  }
  r = mp4_segment_parse(p->init, buf, len, file_offset, &seg);
  if (r < 0)
    return r;
  r = check_timeline(p, seg, &tl);
  if (r < 0)
    goto out;

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
    decoded = 1;
    r = decoder_decode(p->dec, data, s.size, p->pcm, p->max_frames, &frames);
    if (r < 0) {
      log_debug("sample %zu: decode failed: %s", i, amp_strerror(r));
      if (r == -AMP_EDECODE && s.encrypted)
        r = -AMP_EDECRYPT;
      goto out;
    }

    /* Keep what lies inside the sample's own duration (this cuts the shortened last
     * sample) and inside the valid interval (this drops the priming and pre-roll). */
    int64_t pts, stop;
    r = sample_span(p, &s, &pts, &stop);
    if (r < 0)
      goto out;
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
  p->fed = tl.fed;
  p->next_dt = tl.next_dt;
  p->first = tl.first;
  p->reached = tl.reached;
  if (ret_frames)
    *ret_frames = total;
  r = 0;
out:
  /* Part of the segment may have been handed out and the decoder has moved on: feeding
   * it (or anything but a seek target) again would repeat or skip frames. */
  if (r < 0 && decoded)
    p->need_seek = 1;
  mp4_segment_free(seg);
  return r;
}
