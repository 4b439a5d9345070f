/* SPDX-License-Identifier: Apache-2.0 */
/*
 * engine's output thread (engine_impl.h): the consumer side of the PCM ring, the markers
 * applied at their sample index, the device (platform/output.h), the audio clock and the
 * events it makes (TRACK_STARTED / TRACK_ENDED / UNDERRUN / OUTPUT_ERROR / OUTPUT_OPENED),
 * the retry of a device that failed, the idle close and the mixer volume.
 */
#include "engine_impl.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "media/gain.h"

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
  /* a device that failed: the audio is held until retry_at (usec, core/clock) */
  bool waiting;
  struct pcm_format want; /* the format to open it at */
  uint64_t retry_at;
  uint32_t backoff_ms;
  /* the idle close: when the device had nothing left to play (0: it has) */
  uint64_t idle_since;
  unsigned drop_seen; /* engine drop_gen last looked at */
  /* the mixer: the volume last applied (UINT_MAX: none since the open) */
  unsigned hw_volume;
  bool no_mixer_said;
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
  /* engine_device(): what is heard, as it came from the decoder */
  atomic_store(&e->src_rate, cur ? cur->src.rate : 0u);
  atomic_store(&e->src_channels, cur ? cur->src.channels : 0u);
  atomic_store(&e->src_bits, cur ? cur->src.bits : 0u);
  atomic_store(&e->dev_resampling, cur != NULL && cur->resampled);
}

/* The device for engine_free (which may interrupt it from its thread). */
static void dev_publish(struct engine *e, struct output *dev) {
  pthread_mutex_lock(&e->dev_lock);
  e->dev_pub = dev;
  if (dev && e->dev_interrupted)
    (void)output_interrupt(dev);
  pthread_mutex_unlock(&e->dev_lock);
}

static void dev_close(struct engine *e, struct output *dev) {
  if (dev)
    dev_publish(e, NULL); /* an interrupt in progress ends before the close */
  output_close(dev);
}

static void publish_device(struct engine *e, const struct out *o) {
  bool was = atomic_load(&e->dev_open);
  atomic_store(&e->dev_rate, o->dev ? o->dev_fmt.rate : 0u);
  atomic_store(&e->dev_channels, o->dev ? o->dev_fmt.channels : 0u);
  atomic_store(&e->dev_bits, o->dev ? o->dev_fmt.bits : 0u);
  atomic_store(&e->dev_open, o->dev != NULL);
  if (!o->dev)
    atomic_store(&e->dev_paused, false);
  if (was != (o->dev != NULL) && !atomic_load(&e->quit))
    eng_push_event(e, o->gen, ENGINE_DEVICE_CHANGED, 0, 0, 0, 0);
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

/* Close the device: what it still held counts as heard (it is either played out or
 * lost), and the stretches in flight move onto a fresh device timeline starting at 0. */
static void out_close(struct engine *e, struct out *o) {
  if (!o->dev)
    return;
  o->heard = o->written;
  out_update(e, o);
  for (size_t i = 0; i < o->n_fl; i++) {
    struct inflight *f = &o->fl[i];
    uint64_t done = o->written - f->dev_start; /* dev_start <= written */
    f->base += done;
    f->dev_start = 0;
    f->dev_end = f->closed && f->dev_end > o->written ? f->dev_end - o->written : 0;
  }
  dev_close(e, o->dev);
  o->dev = NULL;
  o->written = o->heard = o->xruns = 0;
  publish_device(e, o);
}

/* The device failed (open, write, drain or pause): close it, hold the audio, retry. */
static void out_fail(struct engine *e, struct out *o, int err, const struct pcm_format *want) {
  if (err == -ECANCELED && atomic_load(&e->quit)) { /* engine_free interrupted it */
    dev_close(e, o->dev);
    o->dev = NULL;
    return;
  }
  if (!o->waiting)
    log_error("audio output: %s; retrying in %u ms", amp_strerror(err), o->backoff_ms);
  o->want = *want;
  out_close(e, o);
  o->waiting = true;
  o->retry_at = clock_mono_usec() + (uint64_t)o->backoff_ms * 1000u;
  o->backoff_ms = o->backoff_ms * 2 > ENGINE_RETRY_MAX_MS ? ENGINE_RETRY_MAX_MS : o->backoff_ms * 2;
  atomic_store(&e->dev_error, err);
  eng_push_event(e, o->gen, ENGINE_OUTPUT_ERROR, 0, 0, err, 0);
}

static int out_open(struct engine *e, struct out *o, const struct pcm_format *f) {
  struct output_params p = e->cfg.params;
  char why[OUTPUT_ERRMSG_MAX] = "";
  p.format = *f;
  int r = output_open(e->cfg.ops, &p, &o->dev, &o->info, why, sizeof(why));
  if (r < 0) {
    o->dev = NULL;
    if (!o->waiting)
      log_error("cannot open the audio device: %s", why[0] ? why : amp_strerror(r));
    return r;
  }
  dev_publish(e, o->dev);
  o->dev_fmt = *f;
  o->written = o->heard = o->xruns = 0;
  o->hw_volume = UINT32_MAX;
  atomic_fetch_add(&e->dev_opens, 1u);
  if (o->waiting) {
    log_info("audio output: the device is back");
    o->waiting = false;
    atomic_store(&e->dev_error, 0);
    eng_push_event(e, o->gen, ENGINE_OUTPUT_OPENED, 0, 0, 0, 0);
  }
  o->backoff_ms = ENGINE_RETRY_MIN_MS;
  publish_device(e, o);
  return 0;
}

/* The volume on the mixer (HARDWARE, BOTH), and what is left for the PCM. */
static void out_volume(struct engine *e, struct out *o) {
  if (e->cfg.volume_mode == ENGINE_VOLUME_SOFTWARE)
    return;
  unsigned v = atomic_load(&e->volume);
  if (!o->dev) {
    /* closed (idle, or failed): a device known to have no mixer keeps the PCM's share
     * current, so the next open does not start at the old volume; a mixer is set when
     * it opens */
    if (o->no_mixer_said)
      atomic_store(&e->sw_volume, v);
    return;
  }
  if (v == o->hw_volume)
    return;
  o->hw_volume = v;
  if (!o->info.has_mixer) {
    if (!o->no_mixer_said)
      log_warning("the device has no mixer control: the volume is applied in software");
    o->no_mixer_said = true;
    atomic_store(&e->sw_volume, v);
    return;
  }
  o->no_mixer_said = false; /* this device has one */
  if (e->cfg.volume_mode == ENGINE_VOLUME_HARDWARE) {
    int r = output_volume_set(o->dev, v);
    atomic_store(&e->sw_volume, r < 0 ? v : 100u);
    return;
  }
  /* BOTH: the mixer as far down as it goes, the PCM for the rest (in 0.6 dB steps) */
  double want = gain_volume_db(v);
  long cdb = want < -20000.0 ? -2000000L : (long)(want * 100.0);
  long got = 0;
  unsigned sw = v;
  if (output_volume_set_db(o->dev, cdb) == 0 && output_volume_get_db(o->dev, &got) == 0) {
    if (v == 0) {
      sw = 0;
    } else {
      double rest = want - (double)got / 100.0; /* <= 0 when the mixer reached its floor */
      double pct = 100.0 + rest / (GAIN_VOLUME_RANGE_DB / 100.0);
      sw = pct >= 100.0 ? 100u : pct <= 1.0 ? 1u : (unsigned)(pct + 0.5);
    }
  }
  atomic_store(&e->sw_volume, sw);
}

/* The device's format differs from the next stretch's (a new track under RATE_NATIVE, a
 * new channel count): play out what is queued (the end of the previous track is heard and
 * its ENDED sent), close, reopen at the new format. */
static int format_change(struct engine *e, struct out *o, const struct pcm_format *f) {
  if (o->dev) {
    int r = output_drain(o->dev);
    if (r < 0)
      return r;
    out_close(e, o);
  }
  return out_open(e, o, f);
}

/* Apply the marker at R. false: not now (no room to track another stretch, or the device
 * could not be opened for it: retried). */
static bool out_marker(struct engine *e, struct out *o, const struct marker *mk) {
  if (mk->type == MARK_FLUSH) {
    if (o->discarding && mk->gen == o->gen)
      o->discarding = false;
    return true;
  }
  if (o->discarding)
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
  if (mk->cont ? eng_dropped(e, mk->track) : eng_start_applied(e, mk->track)) {
    /* dropped: an empty stretch, its samples are skipped */
    o->fl[o->n_fl++] = (struct inflight){.track = mk->track,
                                         .fmt = o->dev_fmt,
                                         .src = o->dev_fmt,
                                         .dev_start = o->written,
                                         .dev_end = o->written,
                                         .base = mk->base,
                                         .closed = true,
                                         .start_event = !mk->cont,
                                         .end_event = true};
    if (mk->cont) /* a switch of a track already heard: the stretch before ended it */
      o->fl[o->n_fl - 1].started = o->n_fl == 1 || o->fl[o->n_fl - 2].started;
    o->region = false;
    return true;
  }
  if (mk->fmt.rate != 0 && (!o->dev || !fmt_equal(&o->dev_fmt, &mk->fmt))) {
    if (o->waiting)
      return false; /* the retry opens it */
    int r = format_change(e, o, &mk->fmt);
    if (r < 0) {
      out_fail(e, o, r, &mk->fmt);
      return false;
    }
  }
  o->fl[o->n_fl++] = (struct inflight){
      .track = mk->track,
      .fmt = mk->fmt.rate ? mk->fmt : o->dev_fmt,
      .src = mk->fmt.rate ? mk->src : o->dev_fmt,
      .resampled = mk->resampled,
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
  o->waiting = false; /* the next stretch tries again, with the backoff kept */
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

/* Retry a device that failed, when its time has come. */
static void out_retry(struct engine *e, struct out *o) {
  if (!o->waiting || clock_mono_usec() < o->retry_at)
    return;
  int r = out_open(e, o, &o->want);
  if (r < 0) {
    o->retry_at = clock_mono_usec() + (uint64_t)o->backoff_ms * 1000u;
    o->backoff_ms =
        o->backoff_ms * 2 > ENGINE_RETRY_MAX_MS ? ENGINE_RETRY_MAX_MS : o->backoff_ms * 2;
    atomic_store(&e->dev_error, r);
  }
}

void *eng_output_main(void *arg) {
  struct engine *e = arg;
  struct out o = {.backoff_ms = ENGINE_RETRY_MIN_MS, .hw_volume = UINT32_MAX};
  while (!atomic_load(&e->quit)) {
    unsigned g = atomic_load(&e->stop_gen);
    if (g != o.gen)
      out_stop(e, &o, g);
    eng_retry_post(e);
    out_retry(e, &o);
    out_volume(e, &o);
    bool want_pause = atomic_load(&e->pause_req);
    if (want_pause != o.paused) {
      bool held = false;
      if (o.dev) {
        int r = output_pause(o.dev, want_pause);
        if (r < 0 && r != -ENOTSUP) /* -ENOTSUP: stop feeding it, it plays out its buffer */
          out_fail(e, &o, r, &o.dev_fmt);
        held = want_pause && r == 0;
      }
      o.paused = want_pause;
      atomic_store(&e->dev_paused, held);
    }

    unsigned dg = atomic_load(&e->drop_gen);
    if (dg != o.drop_seen) { /* the stretch being written may have been dropped */
      o.drop_seen = dg;
      if (o.region && o.n_fl > 0 && eng_dropped(e, o.fl[o.n_fl - 1].track)) {
        struct inflight *f = &o.fl[o.n_fl - 1];
        f->closed = true;
        f->dev_end = o.written;
        o.region = false;
      }
    }
    uint64_t w = atomic_load_explicit(&e->w, memory_order_acquire);
    uint64_t mr = atomic_load_explicit(&e->mark_r, memory_order_relaxed);
    uint64_t mw = atomic_load_explicit(&e->mark_w, memory_order_acquire);
    const struct marker *mk = mr < mw ? &e->marks[mr % MARKER_MAX] : NULL;
    uint64_t limit = mk && mk->pos < w ? mk->pos : w;
    bool idle = true;

    /* While waiting for the device the audio is held (not while discarding a stop). */
    if ((!o.paused && !o.waiting) || o.discarding) {
      if (o.r < limit) {
        if (o.region && !o.discarding) {
          size_t ch = o.dev_fmt.channels;
          uint64_t n = limit - o.r;
          uint64_t contig = e->cap - o.r % e->cap;
          uint64_t chunk = (uint64_t)(o.info.period_frames ? o.info.period_frames : 1024u) * ch;
          if (n > contig)
            n = contig;
          if (n > chunk)
            n = chunk;
          int r = output_write(o.dev, e->ring + o.r % e->cap, (size_t)(n / ch));
          if (r == 0)
            o.written += n / ch;
          consume(e, &o, o.r + n);
          if (r < 0)
            out_fail(e, &o, r, &o.dev_fmt); /* that chunk is lost with the device */
          else
            out_update(e, &o);
        } else {
          consume(e, &o, limit); /* outside any track, or stopped: skip */
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
    if (!idle) {
      o.idle_since = 0;
      continue;
    }

    /* Nothing to write. At the end of what was queued (no track open in the ring, the
     * media thread idle with no command), play out the device: below its start
     * threshold it would not even start. */
    bool media_idle = atomic_load(&e->media_idle);
    bool at_end = !o.region && !mk && media_idle && atomic_load(&e->cmd_count) == 0;
    if (o.dev && !o.paused && at_end && o.heard < o.written) {
      int r = output_drain(o.dev);
      if (r < 0) {
        out_fail(e, &o, r, &o.dev_fmt);
      } else {
        o.heard = o.written; /* so a clock that lags cannot make this drain again */
        out_update(e, &o);
      }
      continue;
    }
    if (o.dev)
      out_update(e, &o);
    /* The idle close: a device with nothing left to play (not paused) for idle_close_ms. */
    uint64_t now = clock_mono_usec(), wake = 0;
    if (o.dev && at_end && !o.paused && o.n_fl == 0 && e->cfg.idle_close_ms > 0) {
      if (o.idle_since == 0)
        o.idle_since = now;
      uint64_t close_at = o.idle_since + (uint64_t)e->cfg.idle_close_ms * 1000u;
      if (now >= close_at) {
        log_info("audio output: idle for %u ms, closed", e->cfg.idle_close_ms);
        out_close(e, &o);
        o.idle_since = 0;
        continue;
      }
      wake = close_at - now;
    } else {
      o.idle_since = 0;
    }
    if (o.waiting)
      wake = o.retry_at > now ? o.retry_at - now : 1;
    /* A device that cannot pause plays out its buffer while "paused": keep its clock. */
    bool timed =
        (o.n_fl > 0 && (!o.paused || !o.info.can_pause) && o.dev) || atomic_load(&e->post_failed);
    uint64_t us = timed ? poll_usec(&o) : 0;
    if (wake > 0 && (us == 0 || wake < us))
      us = wake;
    struct timespec dl = deadline_in(us);
    pthread_mutex_lock(&e->ring_lock);
    if (!atomic_load(&e->quit) && atomic_load(&e->stop_gen) == o.gen &&
        atomic_load(&e->pause_req) == o.paused &&
        atomic_load_explicit(&e->w, memory_order_acquire) == w &&
        atomic_load_explicit(&e->mark_w, memory_order_acquire) == mw &&
        atomic_load(&e->media_idle) == media_idle &&
        (e->cfg.volume_mode == ENGINE_VOLUME_SOFTWARE || !o.dev ||
         atomic_load(&e->volume) == o.hw_volume)) {
      if (us > 0)
        pthread_cond_timedwait(&e->ring_data, &e->ring_lock, &dl);
      else
        pthread_cond_wait(&e->ring_data, &e->ring_lock);
    }
    pthread_mutex_unlock(&e->ring_lock);
  }
  dev_close(e, o.dev);
  o.dev = NULL;
  publish_device(e, &o);
  return NULL;
}
