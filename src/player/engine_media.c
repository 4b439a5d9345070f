/* SPDX-License-Identifier: Apache-2.0 */
/*
 * engine's media thread (engine_impl.h): commands in, one media/pipeline per track
 * (demux, decrypt, decode, trim), the software gain, and the producer side of the PCM
 * ring and its markers (the ring itself is described in engine.c).
 */
#include "engine_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"

LOG_TOPIC("engine");

/* The resampler's output buffer: frames of PCM_MAX_CHANNELS channels. */
#define RSBUF_FRAMES 4096u

/* ---- the ring, producer side (media thread) ---- */

static bool media_cancelled(struct engine *e) {
  return atomic_load_explicit(&e->quit, memory_order_acquire) ||
         atomic_load_explicit(&e->stop_gen, memory_order_acquire) != e->m.gen;
}

/* The samples the producer may fill for the current format: ring_ms of it. */
static size_t fill_limit(const struct engine *e, const struct pcm_format *f) {
  uint64_t n = (uint64_t)e->ring_ms * f->rate / 1000u * f->channels;
  if (n < f->channels)
    n = f->channels;
  return n < e->cap ? (size_t)n : e->cap;
}

/* Room for up to `want` frames of ch samples: how many fit now (contiguously), waiting
 * while none do. 0 when cancelled (stop or quit) and cancellable. */
static size_t ring_room(struct engine *e, size_t ch, size_t want, size_t limit, bool cancellable) {
  for (;;) {
    uint64_t w = e->m.w;
    uint64_t r = atomic_load_explicit(&e->r, memory_order_acquire);
    size_t used = (size_t)(w - r);
    size_t room = used < limit ? (limit - used) / ch : 0;
    size_t contig = (e->cap - (size_t)(w % e->cap)) / ch;
    if (room > contig)
      room = contig;
    if (room > want)
      room = want;
    if (room > 0)
      return room;
    if (cancellable ? media_cancelled(e) : atomic_load(&e->quit))
      return 0;
    pthread_mutex_lock(&e->ring_lock);
    if (atomic_load_explicit(&e->r, memory_order_acquire) == r &&
        !(cancellable ? media_cancelled(e) : atomic_load(&e->quit)))
      pthread_cond_wait(&e->ring_space, &e->ring_lock);
    pthread_mutex_unlock(&e->ring_lock);
  }
}

static void publish_w(struct engine *e) {
  atomic_store_explicit(&e->w, e->m.w, memory_order_release);
  ring_signal(e, &e->ring_data);
}

static int push_marker(struct engine *e, const struct marker *mk) {
  for (;;) {
    uint64_t mw = atomic_load_explicit(&e->mark_w, memory_order_relaxed);
    uint64_t mr = atomic_load_explicit(&e->mark_r, memory_order_acquire);
    if (mw - mr < MARKER_MAX) {
      e->marks[mw % MARKER_MAX] = *mk;
      e->marks[mw % MARKER_MAX].pos = e->m.w;
      atomic_store_explicit(&e->mark_w, mw + 1, memory_order_release);
      ring_signal(e, &e->ring_data);
      return 0;
    }
    if (atomic_load(&e->quit))
      return -ECANCELED;
    /* A FLUSH must get through even while stopping: the consumer is discarding, so the
     * ring drains. Only quit gives up. */
    pthread_mutex_lock(&e->ring_lock);
    if (atomic_load_explicit(&e->mark_r, memory_order_acquire) == mr && !atomic_load(&e->quit))
      pthread_cond_wait(&e->ring_space, &e->ring_lock);
    pthread_mutex_unlock(&e->ring_lock);
  }
}

/* A stretch starts (a track, or a format switch within one) in the ring format m.out
 * (audio false: a track without audio, it failed to open): align W to its channel count
 * first. base is the track position of its first frame, in frames of m.out. */
static int push_start(struct engine *e, uint32_t track, uint64_t base, bool cont, bool audio) {
  if (cont) {
    struct marker end = {.type = MARK_END, .gen = e->m.gen, .track = track, .cont = true};
    int r = push_marker(e, &end);
    if (r < 0)
      return r;
  }
  size_t ch = audio ? e->m.out.channels : 1;
  size_t pad = (ch - (size_t)(e->m.w % ch)) % ch;
  while (pad > 0) {
    size_t n = ring_room(e, 1, pad, e->cap, true);
    if (n == 0)
      return -ECANCELED;
    e->m.w += n;
    pad -= n;
  }
  publish_w(e);
  struct marker mk = {.type = MARK_START,
                      .gen = e->m.gen,
                      .track = track,
                      .cont = cont,
                      .fmt = audio ? e->m.out : (struct pcm_format){0},
                      .src = audio ? e->m.fmt : (struct pcm_format){0},
                      .resampled = audio && e->m.rs != NULL,
                      .base = base};
  return push_marker(e, &mk);
}

/* The gain for the current stretch ({out.rate, channels, wbits}, dithering to out.bits):
 * made at a stretch's first PCM when its format differs from the last one's (a boundary:
 * besides pipeline_new and setup_conv the only allocation of the media thread), told the
 * volume when it changed and a new track's loudness at its first PCM. NULL when it cannot
 * be made (the PCM then passes as is). */
static struct gain *media_gain(struct engine *e) {
  unsigned vol = atomic_load(&e->sw_volume);
  struct pcm_format gf = e->m.fmt;
  unsigned dbits = 0;
  if (e->m.conv) {
    gf = (struct pcm_format){
        .rate = e->m.out.rate, .channels = e->m.out.channels, .bits = (uint8_t)e->m.wbits};
    dbits = e->m.out.bits;
  }
  bool made = false;
  if (!e->m.gain || !fmt_equal(&e->m.gain_fmt, &gf) || e->m.gain_dbits != dbits) {
    gain_free(e->m.gain);
    e->m.gain = NULL;
    struct gain_config gc = {.format = gf,
                             .device_bits = dbits,
                             .requantise = dbits != 0 && dbits < gf.bits,
                             .normalise = e->cfg.normalise,
                             .target_lufs = e->cfg.target_lufs,
                             .max_boost_db = GAIN_DEFAULT_MAX_BOOST_DB,
                             .volume = vol};
    if (gain_new(&gc, &e->m.gain) < 0) {
      e->m.gain = NULL;
      return NULL;
    }
    e->m.gain_fmt = gf;
    e->m.gain_dbits = dbits;
    e->m.gain_volume = vol;
    made = true;
  } else if (vol != e->m.gain_volume) {
    gain_set_volume(e->m.gain, vol); /* ramped */
    e->m.gain_volume = vol;
  }
  if (made || e->m.loud_pending) {
    gain_set_track(e->m.gain, e->m.loud_known ? &e->m.loud : NULL);
    e->m.loud_pending = false;
  }
  return e->m.gain;
}

/* Write frames of pcm (in_bits valid bits, at out.rate) into the ring: scaled up to wbits
 * when converting, the gain, down to out.bits. */
static int ring_write(struct engine *e, const int32_t *pcm, size_t frames, unsigned in_bits) {
  size_t ch = e->m.out.channels;
  size_t limit = fill_limit(e, &e->m.out);
  struct gain *g = media_gain(e);
  unsigned up = e->m.conv && in_bits < e->m.wbits ? e->m.wbits - in_bits : 0;
  unsigned down = e->m.conv && e->m.wbits > e->m.out.bits ? e->m.wbits - e->m.out.bits : 0;
  while (frames > 0) {
    size_t n = ring_room(e, ch, frames, limit, true);
    if (n == 0)
      return -ECANCELED;
    int32_t *dst = e->ring + e->m.w % e->cap;
    memcpy(dst, pcm, n * ch * sizeof(*pcm));
    if (up)
      for (size_t i = 0; i < n * ch; i++)
        dst[i] = (int32_t)((int64_t)dst[i] * ((int64_t)1 << up));
    if (g && !gain_is_identity(g)) /* at 100 % the PCM is not touched: bit-exact */
      gain_apply(g, dst, n);
    if (down) /* the gain left multiples of 2^down (requantise): exact */
      for (size_t i = 0; i < n * ch; i++)
        dst[i] = (int32_t)((int64_t)dst[i] / ((int64_t)1 << down));
    e->m.w += n * ch;
    publish_w(e);
    pcm += n * ch;
    frames -= n;
  }
  return 0;
}

static int media_pcm(void *userdata, const int32_t *pcm, size_t frames) {
  struct engine *e = userdata;
  if (!e->m.rs)
    return ring_write(e, pcm, frames, e->m.fmt.bits);
  size_t ch = e->m.fmt.channels;
  while (frames > 0) {
    size_t used = 0, got = 0;
    int r = resample_process(e->m.rs, pcm, frames, &used, e->m.rsbuf, e->m.rsbuf_frames, &got);
    if (r < 0)
      return r;
    if (got > 0 && (r = ring_write(e, e->m.rsbuf, got, e->m.wbits)) < 0)
      return r;
    if (used == 0 && got == 0)
      return -AMP_EAUDIO; /* resample.h promises progress; never spin */
    pcm += used * ch;
    frames -= used;
  }
  return 0;
}

/* The end of a resampled stretch: the filter's tail into the ring. */
static int drain_resampler(struct engine *e) {
  if (!e->m.rs)
    return 0;
  for (;;) {
    size_t got = 0;
    int r = resample_flush(e->m.rs, e->m.rsbuf, e->m.rsbuf_frames, &got);
    if (r < 0)
      return r;
    if (got == 0)
      return 0;
    if ((r = ring_write(e, e->m.rsbuf, got, e->m.wbits)) < 0)
      return r;
  }
}

/* The ring format for the decoder's m.fmt (the top of engine.h): within a track the
 * stretch's own unless the channels change; at a track start the last stretch's under
 * RATE_KEEP and RATE_FIXED, else the track's (at fixed_rate under RATE_FIXED). */
static struct pcm_format choose_out(const struct engine *e, bool within_track) {
  const struct pcm_format *s = &e->m.fmt;
  const struct pcm_format *prev = within_track ? &e->m.out : &e->m.last_out;
  if (prev->rate != 0 && prev->channels == s->channels &&
      (within_track || e->cfg.rate_policy != ENGINE_RATE_NATIVE))
    return *prev;
  struct pcm_format o = *s;
  if (e->cfg.rate_policy == ENGINE_RATE_FIXED)
    o.rate = e->cfg.fixed_rate;
  return o;
}

/* Set up the conversion m.fmt -> m.out. */
static int setup_conv(struct engine *e) {
  resample_free(e->m.rs);
  e->m.rs = NULL;
  e->m.conv = !fmt_equal(&e->m.fmt, &e->m.out);
  if (!e->m.conv)
    return 0;
  e->m.wbits = e->m.fmt.bits > e->m.out.bits ? e->m.fmt.bits : e->m.out.bits;
  if (e->m.fmt.rate == e->m.out.rate)
    return 0;
  struct resample_config rc = {.in_rate = e->m.fmt.rate,
                               .out_rate = e->m.out.rate,
                               .channels = e->m.fmt.channels,
                               .in_bits = e->m.fmt.bits,
                               .out_bits = e->m.wbits,
                               .quality = e->m.fmt.bits > 16 ? RESAMPLE_VHQ : RESAMPLE_HQ};
  int r = resample_new(&rc, &e->m.rs);
  if (r < 0) {
    e->m.rs = NULL;
    return r;
  }
  if (!e->m.rsbuf) {
    /* once, for any channel count: RSBUF_FRAMES frames of 8 channels (128 KiB) */
    e->m.rsbuf = malloc((size_t)RSBUF_FRAMES * PCM_MAX_CHANNELS * sizeof(*e->m.rsbuf));
    if (!e->m.rsbuf) {
      resample_free(e->m.rs);
      e->m.rs = NULL;
      return -ENOMEM;
    }
  }
  e->m.rsbuf_frames = RSBUF_FRAMES * PCM_MAX_CHANNELS / e->m.out.channels;
  return 0;
}

/* ---- the media thread ---- */

static void media_fail(struct engine *e, int err) {
  if (!e->m.failed)
    eng_push_event(e, e->m.gen, ENGINE_ERROR, e->m.track, 0, err, 0);
  e->m.failed = true;
  pipeline_free(e->m.p);
  e->m.p = NULL;
}

/* A stop of generation gen: drop the track, flush the ring up to here. */
static void media_flush(struct engine *e, unsigned gen) {
  pipeline_free(e->m.p);
  e->m.p = NULL;
  resample_free(e->m.rs);
  e->m.rs = NULL;
  e->m.conv = false;
  e->m.active = false;
  e->m.failed = false;
  e->m.gen = gen;
  struct marker mk = {.type = MARK_FLUSH, .gen = gen};
  push_marker(e, &mk);
}

/* f * to / from, rounded toward zero, saturating (an interval bound in another rate). */
static int64_t rescale(int64_t f, uint32_t from, uint32_t to) {
  int64_t v;
  if (f == INT64_MAX || f == INT64_MIN || from == to || from == 0)
    return f;
  if (!__builtin_mul_overflow(f, (int64_t)to, &v))
    return v / from;
  /* (q * from + m) * to / from = q * to + m * to / from, with |m| < from */
  int64_t q = f / from, m = f % from;
  if (__builtin_mul_overflow(q, (int64_t)to, &v) || __builtin_add_overflow(v, m * to / from, &v))
    return f > 0 ? INT64_MAX : INT64_MIN;
  return v;
}

/* A position of the decoder's timeline (frames of m.fmt) in frames of the ring. */
static uint64_t out_frames(const struct engine *e, int64_t f) {
  return f > 0 ? (uint64_t)rescale(f, e->m.fmt.rate, e->m.out.rate) : 0;
}

static void media_open(struct engine *e, const struct cmd *c) {
  e->m.track = c->track;
  e->m.failed = false;
  e->m.active = true;
  e->m.cfg = (struct pipeline_config){
      .cdm = c->cdm, .session = c->session, .start = c->start, .end = c->end};
  e->m.loud =
      (struct gain_track){.has_loudness = c->has_loudness, .loudness_lufs = c->loudness_lufs};
  e->m.loud_known = c->has_loudness;
  e->m.loud_pending = true;
  int r = pipeline_new(c->data, c->len, &e->m.cfg, &e->m.p);
  if (r == 0) {
    pipeline_get_format(e->m.p, &e->m.fmt);
    e->m.out = choose_out(e, false);
    r = setup_conv(e);
  }
  if (r < 0) {
    media_fail(e, r);
    push_start(e, c->track, 0, false, false);
    return;
  }
  e->m.last_out = e->m.out;
  push_start(e, c->track, out_frames(e, c->start), false, true);
}

/* A track engine_track_drop() dropped: decode nothing more of it, no error. */
static bool media_dropped(struct engine *e) {
  if (e->m.failed || !e->m.p || !eng_dropped(e, e->m.track))
    return false;
  e->m.failed = true; /* the rest is only released */
  pipeline_free(e->m.p);
  e->m.p = NULL;
  return true;
}

static void media_init(struct engine *e, const struct cmd *c) {
  if (media_dropped(e) || e->m.failed || !e->m.p)
    return;
  struct pipeline_timeline t;
  struct pcm_format nf;
  struct pipeline *np = NULL;
  pipeline_get_timeline(e->m.p, &t);
  /* Probe the new format first: the interval is in output frames of the new rate. */
  struct pipeline_config cfg = e->m.cfg;
  if (c->cdm) { /* engine_track_rekey: a new session's init and keys */
    cfg.cdm = c->cdm;
    cfg.session = c->session;
  }
  int r = pipeline_new(c->data, c->len, &cfg, &np);
  if (r < 0) {
    media_fail(e, r);
    return;
  }
  pipeline_get_format(np, &nf);
  int64_t from = t.fed ? t.reached : e->m.cfg.start;
  cfg.start = rescale(from, e->m.fmt.rate, nf.rate);
  if (cfg.start < rescale(e->m.cfg.start, e->m.fmt.rate, nf.rate))
    cfg.start = rescale(e->m.cfg.start, e->m.fmt.rate, nf.rate);
  cfg.end = rescale(e->m.cfg.end, e->m.fmt.rate, nf.rate);
  r = pipeline_seek(np, cfg.start, cfg.end);
  if (r < 0) {
    pipeline_free(np);
    media_fail(e, r);
    return;
  }
  pipeline_free(e->m.p);
  e->m.p = np;
  e->m.cfg = cfg;
  if (fmt_equal(&nf, &e->m.fmt))
    return;
  /* A new stretch: the old one's resampler tail first, then the new conversion. */
  if ((r = drain_resampler(e)) < 0) {
    if (r != -ECANCELED)
      media_fail(e, r);
    return;
  }
  struct pcm_format old_out = e->m.out;
  e->m.fmt = nf;
  e->m.out = choose_out(e, true);
  if (!fmt_equal(&old_out, &e->m.out))
    log_warning("track %u: %u to %u channels within the track: the device is reopened", e->m.track,
                old_out.channels, nf.channels);
  if ((r = setup_conv(e)) < 0) {
    media_fail(e, r);
    return;
  }
  e->m.last_out = e->m.out;
  push_start(e, e->m.track, out_frames(e, cfg.start), true, true);
}

/* Wait until engine_key_ready() moved the key generation past kg, or a stop. false on
 * a stop (or quit). */
static bool media_wait_key(struct engine *e, unsigned kg) {
  pthread_mutex_lock(&e->cmd_lock);
  while (atomic_load(&e->key_gen) == kg && !media_cancelled(e))
    pthread_cond_wait(&e->cmd_cond, &e->cmd_lock);
  pthread_mutex_unlock(&e->cmd_lock);
  return !media_cancelled(e);
}

static void media_segment(struct engine *e, const struct cmd *c) {
  media_dropped(e);
  if (!e->m.failed && e->m.p) {
    unsigned kg = atomic_load(&e->key_gen);
    int r = pipeline_segment(e->m.p, c->data, c->len, c->offset, media_pcm, e, NULL);
    /* The first encrypted segment may come before its license (an output that plays
     * faster than real time, a slow license server): the pipeline changed nothing, so
     * the segment waits for the keys (the clear lead in the ring plays meanwhile) and is
     * fed again, up to ENGINE_KEY_WAITS times; a license that fails ends in a stop. */
    for (unsigned waits = 0; r == -AMP_ENOKEY && e->m.cfg.cdm && waits < ENGINE_KEY_WAITS;
         waits++) {
      if (!media_wait_key(e, kg))
        return; /* stopped: no event of it is wanted */
      kg = atomic_load(&e->key_gen);
      r = pipeline_segment(e->m.p, c->data, c->len, c->offset, media_pcm, e, NULL);
    }
    if (r == -ECANCELED && media_cancelled(e))
      return; /* stopped: no event of it is wanted */
    if (r < 0)
      media_fail(e, r);
  }
  eng_push_event(e, e->m.gen, ENGINE_SEGMENT_DONE, c->track, c->index, 0, c->len);
}

static void media_close(struct engine *e, const struct cmd *c) {
  media_dropped(e);
  if (!e->m.failed && e->m.p) {
    int r = c->timescale ? pipeline_expect_end(e->m.p, c->declared_end, c->timescale) : 0;
    if (r == 0)
      r = pipeline_finish(e->m.p);
    if (r == 0)
      r = drain_resampler(e);
    if (r == -ECANCELED && media_cancelled(e))
      return; /* stopped: the flush marker follows */
    if (r < 0)
      media_fail(e, r);
  }
  pipeline_free(e->m.p);
  e->m.p = NULL;
  e->m.active = false;
  struct marker mk = {.type = MARK_END, .gen = e->m.gen, .track = c->track};
  push_marker(e, &mk);
}

void *eng_media_main(void *arg) {
  struct engine *e = arg;
  for (;;) {
    pthread_mutex_lock(&e->cmd_lock);
    while (e->cmd_n == 0 && !atomic_load(&e->quit) && atomic_load(&e->stop_gen) == e->m.gen) {
      if (!atomic_load(&e->media_idle)) {
        atomic_store(&e->media_idle, true);
        ring_signal(e, &e->ring_data); /* the output thread may drain now */
      }
      pthread_cond_wait(&e->cmd_cond, &e->cmd_lock);
    }
    atomic_store(&e->media_idle, false);
    struct cmd *c = NULL;
    if (e->cmd_n > 0) {
      c = e->cmds[e->cmd_head];
      e->cmd_head = (e->cmd_head + 1) % CMD_MAX;
      e->cmd_n--;
      if (c->type == CMD_INIT)
        e->cmd_inits--;
      atomic_store(&e->cmd_count, e->cmd_n);
    }
    pthread_mutex_unlock(&e->cmd_lock);
    if (atomic_load(&e->quit)) {
      free(c);
      break;
    }
    unsigned g = atomic_load(&e->stop_gen);
    if (g != e->m.gen)
      media_flush(e, g);
    if (c && c->gen == e->m.gen) {
      switch (c->type) {
      case CMD_OPEN:
        media_open(e, c);
        break;
      case CMD_INIT:
        media_init(e, c);
        break;
      case CMD_SEGMENT:
        media_segment(e, c);
        break;
      case CMD_CLOSE:
        media_close(e, c);
        break;
      }
    }
    free(c); /* a command of an older generation was dropped by a stop */
  }
  pipeline_free(e->m.p);
  e->m.p = NULL;
  resample_free(e->m.rs);
  e->m.rs = NULL;
  free(e->m.rsbuf);
  e->m.rsbuf = NULL;
  return NULL;
}
