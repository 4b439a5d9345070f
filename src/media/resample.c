/* SPDX-License-Identifier: Apache-2.0 */
/*
 * resample: streaming int32 rate conversion over libsoxr (src/media/resample.h).
 *
 * libsoxr is only ever called with whole blocks of RESAMPLE_BLOCK input frames and
 * room for everything a block can make, so the sizes it sees repeat and its FIFOs reach
 * their working size during the priming in resample_new(); the caller's sizes never
 * reach it.
 */
#include "media/resample.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <soxr.h>

#include "core/err.h"
#include "core/log.h"
#include "media/pcm.h"

LOG_TOPIC("resample");

#define RESAMPLE_MAX_RATE 768000u
#define RESAMPLE_PRIME_BLOCKS 64u /* blocks of silence that prime libsoxr */

struct resample {
  struct resample_config cfg;
  soxr_t soxr;
  int32_t lo, hi;  /* the out_bits range */
  int32_t *blk;    /* RESAMPLE_BLOCK frames of input being gathered */
  size_t blk_fill; /* frames in blk */
  int32_t *pend;   /* output made and not yet handed out: pend_cap frames */
  size_t pend_cap; /* out frames one block can make, with libsoxr's slack */
  size_t pend_pos, pend_len;
  uint64_t in, out; /* frames since reset */
  uint64_t clips;   /* ours; soxr counts its own */
  uint64_t skip;    /* output frames of the priming silence still to drop */
  bool flushed;
  bool ended; /* libsoxr told the end of input */
};

static uint64_t gcd64(uint64_t a, uint64_t b) {
  while (b != 0) {
    uint64_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/* Saturate to out_bits (libsoxr saturates only at the int32 range). */
static void clamp(struct resample *r, int32_t *out, size_t frames) {
  if (r->cfg.out_bits == 32)
    return;
  size_t n = frames * r->cfg.channels;
  for (size_t i = 0; i < n; i++) {
    if (out[i] > r->hi) {
      out[i] = r->hi;
      r->clips++;
    } else if (out[i] < r->lo) {
      out[i] = r->lo;
      r->clips++;
    }
  }
}

/* Run libsoxr on in (n frames; NULL = end of input) into pend, which must be empty. The
 * priming's output is dropped from the front. */
static int run_soxr(struct resample *r, const int32_t *in, size_t n, size_t *ret_used) {
  size_t idone = 0, odone = 0;
  soxr_error_t err =
      soxr_process(r->soxr, in, n, in != NULL ? &idone : NULL, r->pend, r->pend_cap, &odone);
  if (err != NULL) {
    log_debug("soxr_process: %s", err);
    return -AMP_EAUDIO;
  }
  size_t drop = r->skip < odone ? (size_t)r->skip : odone;
  r->skip -= drop;
  r->pend_pos = drop;
  r->pend_len = odone;
  clamp(r, r->pend + drop * r->cfg.channels, odone - drop);
  if (ret_used != NULL)
    *ret_used = idone;
  return 0;
}

/* Feed the gathered block (it is full, or the end of input is near). */
static int feed_block(struct resample *r) {
  size_t used = 0;
  int rc = run_soxr(r, r->blk, r->blk_fill, &used);
  if (rc < 0)
    return rc;
  if (used < r->blk_fill) /* not expected with room for the whole block: keep the rest */
    memmove(r->blk, r->blk + used * r->cfg.channels,
            (r->blk_fill - used) * r->cfg.channels * sizeof(*r->blk));
  r->blk_fill -= used;
  return 0;
}

/*
 * Prime libsoxr: it grows its FIFOs during its first calls, so run RESAMPLE_PRIME_BLOCKS
 * blocks of silence (rounded up to a whole number P of in_rate / gcd(in_rate, out_rate)
 * frames) through the same block path. P frames make exactly P * out_rate / in_rate
 * output frames, all dropped (r->skip): what follows is the stream as a fresh resampler
 * would make it, whose history is zeros too.
 */
static int prime(struct resample *r) {
  uint64_t unit = r->cfg.in_rate / gcd64(r->cfg.in_rate, r->cfg.out_rate);
  uint64_t p = ((uint64_t)RESAMPLE_PRIME_BLOCKS * RESAMPLE_BLOCK + unit - 1) / unit * unit;
  r->skip = p * r->cfg.out_rate / r->cfg.in_rate;
  memset(r->blk, 0, RESAMPLE_BLOCK * r->cfg.channels * sizeof(*r->blk));
  while (p > 0) {
    size_t n = p < RESAMPLE_BLOCK ? (size_t)p : RESAMPLE_BLOCK;
    r->blk_fill = n;
    int rc = feed_block(r);
    if (rc < 0)
      return rc;
    p -= n - r->blk_fill;
    r->pend_pos = r->pend_len = 0; /* silence out: dropped by skip, or beyond it (none) */
  }
  r->blk_fill = 0;
  return 0;
}

int resample_new(const struct resample_config *c, struct resample **ret) {
  if (c == NULL || ret == NULL)
    return -EINVAL;
  unsigned out_bits = c->out_bits ? c->out_bits : c->in_bits;
  if (c->in_rate == 0 || c->in_rate > RESAMPLE_MAX_RATE || c->out_rate == 0 ||
      c->out_rate > RESAMPLE_MAX_RATE || c->channels == 0 || c->channels > PCM_MAX_CHANNELS ||
      c->in_bits < 8 || c->in_bits > 32 || out_bits < c->in_bits || out_bits > 32 ||
      (c->quality != RESAMPLE_HQ && c->quality != RESAMPLE_VHQ))
    return -EINVAL;
  struct resample *r = calloc(1, sizeof(*r));
  if (r == NULL)
    return -ENOMEM;
  r->cfg = *c;
  r->cfg.out_bits = out_bits;
  r->hi = out_bits == 32 ? INT32_MAX : (int32_t)((1u << (out_bits - 1)) - 1u);
  r->lo = -r->hi - 1;
  r->pend_cap = resample_out_max(r, RESAMPLE_BLOCK);
  r->blk = malloc(RESAMPLE_BLOCK * c->channels * sizeof(*r->blk));
  r->pend = malloc(r->pend_cap * c->channels * sizeof(*r->pend));
  if (r->blk == NULL || r->pend == NULL) {
    resample_free(r);
    return -ENOMEM;
  }
  soxr_io_spec_t io = soxr_io_spec(SOXR_INT32_I, SOXR_INT32_I);
  io.scale = ldexp(1.0, (int)(out_bits - c->in_bits));
  io.flags |= SOXR_NO_DITHER;
  soxr_quality_spec_t q = soxr_quality_spec(c->quality == RESAMPLE_VHQ ? SOXR_VHQ : SOXR_HQ, 0);
  soxr_runtime_spec_t rt = soxr_runtime_spec(1);
  soxr_error_t err = NULL;
  r->soxr = soxr_create(c->in_rate, c->out_rate, c->channels, &err, &io, &q, &rt);
  if (r->soxr == NULL || err != NULL) {
    log_debug("soxr_create %u -> %u Hz, %u ch: %s", c->in_rate, c->out_rate, c->channels,
              soxr_strerror(err));
    resample_free(r);
    return -AMP_EAUDIO;
  }
  int rc = prime(r);
  if (rc < 0) {
    resample_free(r);
    return rc;
  }
  *ret = r;
  return 0;
}

void resample_free(struct resample *r) {
  if (r == NULL)
    return;
  if (r->soxr != NULL)
    soxr_delete(r->soxr);
  free(r->blk);
  free(r->pend);
  free(r);
}

size_t resample_out_max(const struct resample *r, size_t in_frames) {
  uint64_t in = r->cfg.in_rate, out = r->cfg.out_rate;
  return (size_t)((in_frames / in) * out + ((in_frames % in) * out + in - 1) / in) +
         RESAMPLE_OUT_SLACK;
}

/* Hand out pending output, at most room frames, to out; the frames handed out. With
 * limit, no more than limit frames in all (the flush's exact count). */
static size_t take(struct resample *r, int32_t *out, size_t room, uint64_t limit) {
  size_t n = r->pend_len - r->pend_pos;
  if (n > room)
    n = room;
  if (n > limit)
    n = (size_t)limit;
  size_t ch = r->cfg.channels;
  memcpy(out, r->pend + r->pend_pos * ch, n * ch * sizeof(*out));
  r->pend_pos += n;
  r->out += n;
  return n;
}

int resample_process(struct resample *r, const int32_t *in, size_t in_frames, size_t *ret_in_used,
                     int32_t *out, size_t out_cap, size_t *ret_out) {
  *ret_in_used = 0;
  *ret_out = 0;
  if ((in == NULL && in_frames > 0) || (out == NULL && out_cap > 0) || r->flushed)
    return -EINVAL;
  const size_t ch = r->cfg.channels;
  size_t used = 0, got = 0;
  for (;;) {
    got += take(r, out + got * ch, out_cap - got, UINT64_MAX);
    if (r->pend_pos < r->pend_len || used == in_frames)
      break; /* the caller's room is full, or all input is in */
    size_t n = RESAMPLE_BLOCK - r->blk_fill;
    if (n > in_frames - used)
      n = in_frames - used;
    memcpy(r->blk + r->blk_fill * ch, in + used * ch, n * ch * sizeof(*in));
    r->blk_fill += n;
    used += n;
    r->in += n;
    if (r->blk_fill == RESAMPLE_BLOCK) {
      int rc = feed_block(r);
      if (rc < 0) {
        *ret_in_used = used;
        *ret_out = got;
        return rc;
      }
    }
  }
  *ret_in_used = used;
  *ret_out = got;
  return 0;
}

/* round(in * out_rate / in_rate), half up, without overflow for any stream length. */
static uint64_t expected_out(const struct resample *r) {
  uint64_t ir = r->cfg.in_rate, orate = r->cfg.out_rate;
  return (r->in / ir) * orate + ((r->in % ir) * orate + ir / 2) / ir;
}

int resample_flush(struct resample *r, int32_t *out, size_t out_cap, size_t *ret_out) {
  *ret_out = 0;
  if (out == NULL && out_cap > 0)
    return -EINVAL;
  r->flushed = true;
  const size_t ch = r->cfg.channels;
  const uint64_t want = expected_out(r);
  size_t got = 0;
  /* libsoxr's own end of input allocates; feeding silence does the same (it is what
   * libsoxr pads with) through the primed block path, and the count is cut at want. */
  while (got < out_cap && r->out < want) {
    if (r->pend_pos < r->pend_len) {
      got += take(r, out + got * ch, out_cap - got, want - r->out);
      continue;
    }
    memset(r->blk + r->blk_fill * ch, 0, (RESAMPLE_BLOCK - r->blk_fill) * ch * sizeof(*r->blk));
    r->blk_fill = RESAMPLE_BLOCK;
    int rc = feed_block(r);
    if (rc < 0) {
      *ret_out = got;
      return rc;
    }
  }
  *ret_out = got;
  return 0;
}

int resample_reset(struct resample *r) {
  r->in = r->out = r->clips = r->skip = 0;
  r->blk_fill = r->pend_pos = r->pend_len = 0;
  r->flushed = false;
  if (soxr_clear(r->soxr) != NULL)
    return -AMP_EAUDIO;
  return prime(r);
}

uint32_t resample_latency(const struct resample *r) {
  double d = soxr_delay(r->soxr) + (double)(r->pend_len - r->pend_pos) +
             (double)r->blk_fill * r->cfg.out_rate / r->cfg.in_rate - (double)r->skip;
  return d > 0 ? (uint32_t)lrint(d) : 0;
}

uint64_t resample_frames_in(const struct resample *r) {
  return r->in;
}

uint64_t resample_frames_out(const struct resample *r) {
  return r->out;
}

uint64_t resample_clips(const struct resample *r) {
  size_t *n = soxr_num_clips(r->soxr);
  return r->clips + (n != NULL ? *n : 0);
}
