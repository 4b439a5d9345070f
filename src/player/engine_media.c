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

/* A track (or a format switch) starts: align W to its channel count first. */
static int push_start(struct engine *e, uint32_t track, const struct pcm_format *f, uint64_t base,
                      bool cont) {
  if (cont) {
    struct marker end = {.type = MARK_END, .gen = e->m.gen, .track = track, .cont = true};
    int r = push_marker(e, &end);
    if (r < 0)
      return r;
  }
  size_t ch = f->rate ? f->channels : 1;
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
                      .fmt = f->rate ? *f : (struct pcm_format){0},
                      .base = base};
  return push_marker(e, &mk);
}

/* The software volume for the current format: made at a format's first PCM (a track or
 * format boundary: the only allocation of the media thread outside pipeline_new), told
 * the volume when it changed. NULL when it cannot be made (the PCM then passes as is). */
static struct gain *media_gain(struct engine *e) {
  unsigned vol = atomic_load(&e->volume);
  if (!e->m.gain || !fmt_equal(&e->m.gain_fmt, &e->m.fmt)) {
    gain_free(e->m.gain);
    e->m.gain = NULL;
    struct gain_config gc = {.format = e->m.fmt, .volume = vol};
    if (gain_new(&gc, &e->m.gain) < 0) {
      e->m.gain = NULL;
      return NULL;
    }
    e->m.gain_fmt = e->m.fmt;
    e->m.gain_volume = vol;
  } else if (vol != e->m.gain_volume) {
    gain_set_volume(e->m.gain, vol); /* ramped */
    e->m.gain_volume = vol;
  }
  return e->m.gain;
}

static int media_pcm(void *userdata, const int32_t *pcm, size_t frames) {
  struct engine *e = userdata;
  size_t ch = e->m.fmt.channels;
  size_t limit = fill_limit(e, &e->m.fmt);
  struct gain *g = media_gain(e);
  while (frames > 0) {
    size_t n = ring_room(e, ch, frames, limit, true);
    if (n == 0)
      return -ECANCELED;
    memcpy(e->ring + e->m.w % e->cap, pcm, n * ch * sizeof(*pcm));
    if (g && !gain_is_identity(g)) /* at 100 % the PCM is not touched: bit-exact */
      gain_apply(g, e->ring + e->m.w % e->cap, n);
    e->m.w += n * ch;
    publish_w(e);
    pcm += n * ch;
    frames -= n;
  }
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
  e->m.active = false;
  e->m.failed = false;
  e->m.gen = gen;
  struct marker mk = {.type = MARK_FLUSH, .gen = gen};
  push_marker(e, &mk);
}

static void media_open(struct engine *e, const struct cmd *c) {
  e->m.track = c->track;
  e->m.failed = false;
  e->m.active = true;
  e->m.cfg = (struct pipeline_config){
      .cdm = c->cdm, .session = c->session, .start = c->start, .end = c->end};
  int r = pipeline_new(c->data, c->len, &e->m.cfg, &e->m.p);
  struct pcm_format none = {0};
  if (r < 0) {
    media_fail(e, r);
    push_start(e, c->track, &none, 0, false);
    return;
  }
  pipeline_get_format(e->m.p, &e->m.fmt);
  push_start(e, c->track, &e->m.fmt, c->start > 0 ? (uint64_t)c->start : 0, false);
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

static void media_init(struct engine *e, const struct cmd *c) {
  if (e->m.failed || !e->m.p)
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
  if (!fmt_equal(&nf, &e->m.fmt)) {
    e->m.fmt = nf;
    push_start(e, e->m.track, &nf, cfg.start > 0 ? (uint64_t)cfg.start : 0, true);
  }
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
  if (!e->m.failed && e->m.p) {
    int r = c->timescale ? pipeline_expect_end(e->m.p, c->declared_end, c->timescale) : 0;
    if (r == 0)
      r = pipeline_finish(e->m.p);
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
  return NULL;
}
