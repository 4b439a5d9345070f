/* SPDX-License-Identifier: Apache-2.0 */
/*
 * engine's output thread (engine_impl.h): the consumer side of the PCM ring, the markers
 * applied at their sample index, the device (platform/output.h), the audio clock and the
 * events it makes (TRACK_STARTED / TRACK_ENDED / UNDERRUN / OUTPUT_ERROR).
 */
#include "engine_impl.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

LOG_TOPIC("engine");

/* An absolute CLOCK_MONOTONIC deadline usec from now, for ring_data. core/clock carries a
 * test offset; the condition variable waits in kernel time, so take it off. */
static struct timespec deadline_in(uint64_t usec) {
  uint64_t t = clock_mono_usec() - clock_mono_offset_usec() + usec;
  return (struct timespec){.tv_sec = (time_t)(t / 1000000u),
                           .tv_nsec = (long)(t % 1000000u) * 1000};
}

/* ---- the output thread ---- */

struct out {
  struct output *dev;
  struct output_info info;
  struct pcm_format dev_fmt;
  bool lost; /* an output error: discard until a stop */
  bool paused;
  bool discarding; /* after a stop, until its FLUSH */
  unsigned gen;
  uint64_t written; /* device frames written (minus what a drop threw away) */
  uint64_t heard;   /* the device position last read */
  uint64_t xruns;
  bool region; /* the samples at R belong to inflight[n-1] */
  struct inflight fl[INFLIGHT_MAX];
  size_t n_fl;
  uint64_t r; /* the consumer's own copy of R */
};

static void publish_position(struct engine *e, struct out *o) {
  const struct inflight *cur = NULL;
  for (size_t i = 0; i < o->n_fl; i++)
    if (o->fl[i].started)
      cur = &o->fl[i];
  unsigned s = atomic_load_explicit(&e->seq, memory_order_relaxed);
  atomic_store_explicit(&e->seq, s + 1, memory_order_relaxed);
  atomic_thread_fence(memory_order_release);
  atomic_store_explicit(&e->pos_valid, cur != NULL, memory_order_relaxed);
  if (cur) {
    uint64_t f = o->heard > cur->dev_start ? o->heard - cur->dev_start : 0;
    if (cur->closed && f > cur->dev_end - cur->dev_start)
      f = cur->dev_end - cur->dev_start;
    atomic_store_explicit(&e->pos_track, cur->track, memory_order_relaxed);
    atomic_store_explicit(&e->pos_frames, cur->base + f, memory_order_relaxed);
    atomic_store_explicit(&e->pos_rate, cur->fmt.rate, memory_order_relaxed);
    atomic_store_explicit(&e->pos_channels, cur->fmt.channels, memory_order_relaxed);
    atomic_store_explicit(&e->pos_bits, cur->fmt.bits, memory_order_relaxed);
  }
  atomic_store_explicit(&e->seq, s + 2, memory_order_release);
}

/* Read the device clock and send what it passed: STARTED when a track's first frame is
 * heard, ENDED when its last one is. */
static void out_update(struct engine *e, struct out *o) {
  if (o->dev) {
    uint64_t pos;
    if (output_position(o->dev, &pos) == 0 && pos > o->heard)
      o->heard = pos;
    uint64_t x = output_xruns(o->dev);
    if (x > o->xruns) {
      atomic_fetch_add(&e->underruns, x - o->xruns);
      eng_push_event(e, o->gen, ENGINE_UNDERRUN, 0, 0, (int)(x - o->xruns), 0);
      o->xruns = x;
    }
  }
  /* The clock is published before the events go out, so that the loop reading it on a
   * TRACK_ENDED does not see the track that ended. */
  struct engine_event evs[2 * INFLIGHT_MAX];
  size_t n_evs = 0, done = 0;
  for (size_t i = 0; i < o->n_fl; i++) {
    struct inflight *f = &o->fl[i];
    bool empty = f->closed && f->dev_end == f->dev_start;
    if (!f->started && (o->heard > f->dev_start || (empty && o->heard >= f->dev_start))) {
      f->started = true;
      if (f->start_event)
        evs[n_evs++] = (struct engine_event){.type = ENGINE_TRACK_STARTED, .track = f->track};
    }
    if (f->started && f->closed && o->heard >= f->dev_end && i == done) {
      if (f->end_event)
        evs[n_evs++] = (struct engine_event){.type = ENGINE_TRACK_ENDED, .track = f->track};
      done++;
    }
    if (!f->started)
      break;
  }
  if (done > 0) {
    memmove(o->fl, o->fl + done, (o->n_fl - done) * sizeof(o->fl[0]));
    o->n_fl -= done;
  }
  publish_position(e, o);
  for (size_t i = 0; i < n_evs; i++)
    eng_push_event(e, o->gen, evs[i].type, evs[i].track, 0, 0, 0);
}

static void out_fail(struct engine *e, struct out *o, int err) {
  log_error("audio output: %s", amp_strerror(err));
  output_close(o->dev);
  o->dev = NULL;
  o->lost = true;
  o->region = false;
  o->n_fl = 0;
  publish_position(e, o);
  eng_push_event(e, o->gen, ENGINE_OUTPUT_ERROR, 0, 0, err, 0);
}

static int out_open(struct engine *e, struct out *o, const struct pcm_format *f) {
  struct output_params p = e->cfg.params;
  char why[OUTPUT_ERRMSG_MAX] = "";
  p.format = *f;
  int r = output_open(e->cfg.ops, &p, &o->dev, &o->info, why, sizeof(why));
  if (r < 0) {
    o->dev = NULL;
    log_error("cannot open the audio device: %s", why[0] ? why : amp_strerror(r));
    return r;
  }
  o->dev_fmt = *f;
  o->written = o->heard = o->xruns = 0;
  return 0;
}

/* The device's format differs from the next track's. This is the hook for a resampler
 * (libsoxr) that would keep the device open at its rate: convert here instead, for a rate
 * change with the same channels and bits. Without it: play out what is queued (the end of
 * the previous track is heard and its ENDED sent), close, reopen at the new format. */
static int format_change(struct engine *e, struct out *o, const struct pcm_format *f) {
  if (o->dev) {
    int r = output_drain(o->dev);
    if (r < 0)
      return r;
    o->heard = o->written; /* drained: all of it was heard, whatever the clock lags */
    out_update(e, o);
    output_close(o->dev);
    o->dev = NULL;
  }
  return out_open(e, o, f);
}

/* Apply the marker at R. false: not now (no room to track another stretch). */
static bool out_marker(struct engine *e, struct out *o, const struct marker *mk) {
  if (mk->type == MARK_FLUSH) {
    if (o->discarding && mk->gen == o->gen)
      o->discarding = false;
    return true;
  }
  if (o->discarding || o->lost)
    return true;
  if (mk->type == MARK_END) {
    if (o->region && o->n_fl > 0) {
      struct inflight *f = &o->fl[o->n_fl - 1];
      f->closed = true;
      f->dev_end = o->written;
      f->end_event = !mk->cont; /* a format switch within the track: no ENDED */
    }
    o->region = false;
    return true;
  }
  if (o->n_fl == INFLIGHT_MAX)
    return false; /* cannot happen with the loop's bounds; wait for the device if it does */
  if (mk->fmt.rate != 0 && (!o->dev || !fmt_equal(&o->dev_fmt, &mk->fmt))) {
    int r = format_change(e, o, &mk->fmt);
    if (r < 0) {
      out_fail(e, o, r);
      return true;
    }
  }
  o->fl[o->n_fl++] = (struct inflight){
      .track = mk->track,
      .fmt = mk->fmt.rate ? mk->fmt : o->dev_fmt,
      .dev_start = o->written,
      .dev_end = o->written,
      .base = mk->base,
      .closed = mk->fmt.rate == 0,
      .start_event = !mk->cont,
      .end_event = true,
  };
  o->region = mk->fmt.rate != 0;
  if (mk->cont) /* the new stretch of a track already heard */
    o->fl[o->n_fl - 1].started = o->n_fl == 1 || o->fl[o->n_fl - 2].started;
  return true;
}

static void out_stop(struct engine *e, struct out *o, unsigned gen) {
  o->gen = gen;
  if (o->dev) {
    output_drop(o->dev);
    uint64_t pos;
    if (output_position(o->dev, &pos) == 0)
      o->heard = pos;
    o->written = o->heard; /* what the drop threw away was never heard */
  }
  o->paused = false;
  o->lost = false;
  o->region = false;
  o->n_fl = 0;
  o->discarding = true;
  publish_position(e, o);
}

static void consume(struct engine *e, struct out *o, uint64_t to) {
  o->r = to;
  atomic_store_explicit(&e->r, to, memory_order_release);
  ring_signal(e, &e->ring_space);
}

static uint64_t poll_usec(const struct out *o) {
  if (!o->dev || o->info.period_frames == 0 || o->dev_fmt.rate == 0)
    return IDLE_POLL_US;
  uint64_t us = (uint64_t)o->info.period_frames * 1000000u / o->dev_fmt.rate;
  return us > IDLE_POLL_US ? us : IDLE_POLL_US;
}

void *eng_output_main(void *arg) {
  struct engine *e = arg;
  struct out o = {0};
  while (!atomic_load(&e->quit)) {
    unsigned g = atomic_load(&e->stop_gen);
    if (g != o.gen)
      out_stop(e, &o, g);
    eng_retry_post(e);
    bool want_pause = atomic_load(&e->pause_req);
    if (want_pause != o.paused) {
      if (o.dev) {
        int r = output_pause(o.dev, want_pause);
        if (r < 0 && r != -ENOTSUP) /* -ENOTSUP: stop feeding it, it plays out its buffer */
          out_fail(e, &o, r);
      }
      o.paused = want_pause;
    }

    uint64_t w = atomic_load_explicit(&e->w, memory_order_acquire);
    uint64_t mr = atomic_load_explicit(&e->mark_r, memory_order_relaxed);
    uint64_t mw = atomic_load_explicit(&e->mark_w, memory_order_acquire);
    const struct marker *mk = mr < mw ? &e->marks[mr % MARKER_MAX] : NULL;
    uint64_t limit = mk && mk->pos < w ? mk->pos : w;
    bool idle = true;

    if (!o.paused || o.discarding || o.lost) {
      if (o.r < limit) {
        if (o.region && !o.discarding && !o.lost) {
          size_t ch = o.dev_fmt.channels;
          uint64_t n = limit - o.r;
          uint64_t contig = e->cap - o.r % e->cap;
          uint64_t chunk = (uint64_t)(o.info.period_frames ? o.info.period_frames : 1024u) * ch;
          if (n > contig)
            n = contig;
          if (n > chunk)
            n = chunk;
          int r = output_write(o.dev, e->ring + o.r % e->cap, (size_t)(n / ch));
          if (r < 0) {
            out_fail(e, &o, r);
          } else {
            o.written += n / ch;
          }
          consume(e, &o, o.r + n);
          if (o.dev)
            out_update(e, &o);
        } else {
          consume(e, &o, limit); /* outside any track, stopped or lost: skip */
        }
        idle = false;
      } else if (mk && mk->pos <= o.r) {
        if (out_marker(e, &o, mk)) {
          atomic_store_explicit(&e->mark_r, mr + 1, memory_order_release);
          ring_signal(e, &e->ring_space);
          out_update(e, &o);
          idle = false;
        }
      }
    }
    if (!idle)
      continue;

    /* Nothing to write. At the end of what was queued (no track open in the ring, the
     * media thread idle with no command), play out the device: below its start
     * threshold it would not even start. */
    bool media_idle = atomic_load(&e->media_idle);
    if (o.dev && !o.paused && !o.region && !mk && o.heard < o.written && media_idle &&
        atomic_load(&e->cmd_count) == 0) {
      int r = output_drain(o.dev);
      if (r < 0) {
        out_fail(e, &o, r);
      } else {
        o.heard = o.written; /* so a clock that lags cannot make this drain again */
        out_update(e, &o);
      }
      continue;
    }
    if (o.dev)
      out_update(e, &o);
    /* A device that cannot pause plays out its buffer while "paused": keep its clock. */
    bool timed = (o.n_fl > 0 && (!o.paused || !o.info.can_pause)) || atomic_load(&e->post_failed);
    struct timespec dl = deadline_in(poll_usec(&o));
    pthread_mutex_lock(&e->ring_lock);
    if (!atomic_load(&e->quit) && atomic_load(&e->stop_gen) == o.gen &&
        atomic_load(&e->pause_req) == o.paused &&
        atomic_load_explicit(&e->w, memory_order_acquire) == w &&
        atomic_load_explicit(&e->mark_w, memory_order_acquire) == mw &&
        atomic_load(&e->media_idle) == media_idle) {
      if (timed)
        pthread_cond_timedwait(&e->ring_data, &e->ring_lock, &dl);
      else
        pthread_cond_wait(&e->ring_data, &e->ring_lock);
    }
    pthread_mutex_unlock(&e->ring_lock);
  }
  output_close(o.dev);
  return NULL;
}
