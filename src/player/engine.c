/* SPDX-License-Identifier: Apache-2.0 */
/*
 * engine: the media thread, the PCM ring and the output thread (engine.h).
 *
 * The ring is single-producer (media) single-consumer (output): interleaved int32 samples
 * in one array, with a write index W and a read index R counted in samples since
 * engine_new() (64 bits: they never wrap), published with release/acquire atomics. Beside
 * it runs an SPSC ring of markers, each applying at a sample index: "track T (format F)
 * starts here", "track T ends here", "a stop flushed everything before here". The
 * producer pushes a marker before it writes the samples after it, and the consumer loads
 * W before it looks at the markers, so any sample it sees beyond a marker's index comes
 * with the marker visible. The consumer never reads past the next marker's index, so it
 * applies each marker exactly at its place: that is how a track boundary is found without
 * a lock, and why the next track's samples follow the last ones of the previous track in
 * one device write stream.
 *
 * Frames never straddle the end of the array: its size is a multiple of 840 (every
 * channel count 1..8 divides it) and a track (or a format change) starts at an index that
 * is a multiple of its channel count (the producer skips up to 7 samples there; the
 * consumer skips samples outside any track).
 *
 * The two threads sleep on a mutex and condition variables only when there is nothing
 * to do (ring full, ring empty); the data path is the atomics. The one lock the output
 * thread takes in its steady state is the event queue's (a few instructions, never held
 * while waiting), and the ring lock to signal the producer.
 *
 * A stop (engine_stop) bumps a generation: the loop clears the command and event queues,
 * the media thread drops its pipeline and pushes a FLUSH marker of the new generation,
 * and the output thread drops the device at once and discards samples and markers until
 * it reaches that FLUSH. Events carry the generation they belong to and are refused
 * (under the event lock) when a stop came after, so nothing of a stopped track reaches
 * the loop.
 */
#include "engine_impl.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"
#include "media/gain.h"

LOG_TOPIC("engine");

/* ---- events ---- */

static void deliver(void *userdata);

/* Post the batch unless a post is already waiting. ev_lock held. */
static void post_locked(struct engine *e) {
  if (e->posted || (e->ev_n == 0 && e->under_pending == 0 && e->outerr_pending == 0 &&
                    !e->opened_pending && !e->devchg_pending))
    return;
  if (loop_post(e->cfg.loop, deliver, e->mb) == 0) {
    e->posted = true;
    atomic_store_explicit(&e->post_failed, false, memory_order_relaxed);
  } else {
    /* The loop's queue is full: the output thread retries (retry_post) */
    atomic_store_explicit(&e->post_failed, true, memory_order_relaxed);
  }
}

void eng_retry_post(struct engine *e) {
  if (!atomic_load_explicit(&e->post_failed, memory_order_relaxed))
    return;
  pthread_mutex_lock(&e->ev_lock);
  post_locked(e);
  pthread_mutex_unlock(&e->ev_lock);
}

/* From the media or output thread: queue an event of generation gen (dropped when a stop
 * came after it). Never blocks beyond the lock, never fails (EVQ_MAX). */
void eng_push_event(struct engine *e, unsigned gen, enum engine_event_type type, uint32_t track,
                    uint32_t segment, int err, size_t bytes) {
  pthread_mutex_lock(&e->ev_lock);
  if (gen == e->ev_gen) {
    if (type == ENGINE_UNDERRUN) {
      e->under_pending += (uint64_t)err;
    } else if (type == ENGINE_OUTPUT_ERROR) {
      e->outerr_pending = err;
      e->opened_pending = false; /* the latest state wins; the error is still told */
    } else if (type == ENGINE_OUTPUT_OPENED) {
      e->opened_pending = true;
    } else if (type == ENGINE_DEVICE_CHANGED) {
      e->devchg_pending = true;
    } else if (e->ev_n < EVQ_MAX) {
      struct qev *q = &e->evs[(e->ev_head + e->ev_n++) % EVQ_MAX];
      *q = (struct qev){{type, track, segment, err}, bytes};
    } else {
      /* The loop-side counts make this impossible (EVQ_MAX); say so loudly if it is not. */
      log_error("event queue overflow: event %d of track %u lost", (int)type, track);
    }
    post_locked(e);
  }
  pthread_mutex_unlock(&e->ev_lock);
}

static void deliver(void *userdata) {
  struct mailbox *mb = userdata;
  if (mb->dead) {
    free(mb);
    return;
  }
  struct engine *e = mb->e;
  for (;;) {
    struct qev q;
    pthread_mutex_lock(&e->ev_lock);
    if (e->ev_n > 0) {
      q = e->evs[e->ev_head];
      e->ev_head = (e->ev_head + 1) % EVQ_MAX;
      e->ev_n--;
    } else if (e->outerr_pending != 0) {
      q = (struct qev){{ENGINE_OUTPUT_ERROR, 0, 0, e->outerr_pending}, 0};
      e->outerr_pending = 0;
    } else if (e->opened_pending) {
      q = (struct qev){{ENGINE_OUTPUT_OPENED, 0, 0, 0}, 0};
      e->opened_pending = false;
    } else if (e->devchg_pending) {
      q = (struct qev){{ENGINE_DEVICE_CHANGED, 0, 0, 0}, 0};
      e->devchg_pending = false;
    } else if (e->under_pending > 0) {
      int n = e->under_pending > (uint64_t)INT32_MAX ? INT32_MAX : (int)e->under_pending;
      q = (struct qev){{ENGINE_UNDERRUN, 0, 0, n}, 0};
      e->under_pending = 0;
    } else {
      /* cleared in the same critical section that found the queue empty, so a push
       * after it posts again */
      e->posted = false;
      pthread_mutex_unlock(&e->ev_lock);
      return;
    }
    pthread_mutex_unlock(&e->ev_lock);
    if (q.pub.type == ENGINE_SEGMENT_DONE) {
      e->segs_live--;
      e->bytes_live -= q.bytes;
    } else if (q.pub.type == ENGINE_TRACK_ENDED) {
      e->tracks_live--;
      pthread_mutex_lock(&e->ev_lock);
      for (size_t i = 0; i < e->n_dropped; i++)
        if (e->dropped[i] == q.pub.track) {
          e->dropped[i] = e->dropped[--e->n_dropped];
          break;
        }
      pthread_mutex_unlock(&e->ev_lock);
    }
    e->cfg.on_event(e->cfg.userdata, &q.pub);
  }
}

/* ---- the loop-thread API ---- */

static int enqueue(struct engine *e, enum cmd_type type, uint32_t track, const uint8_t *data,
                   size_t len, struct cmd **ret) {
  if (len > 0 && !data)
    return -EINVAL;
  struct cmd *c = malloc(sizeof(*c) + len);
  if (!c)
    return -ENOMEM;
  memset(c, 0, sizeof(*c));
  c->type = type;
  c->gen = e->ev_gen;
  c->track = track;
  c->len = len;
  if (len)
    memcpy(c->data, data, len);
  *ret = c;
  return 0;
}

static int submit(struct engine *e, struct cmd *c) {
  pthread_mutex_lock(&e->cmd_lock);
  if (e->cmd_n == CMD_MAX || (c->type == CMD_INIT && e->cmd_inits == ENGINE_MAX_INITS)) {
    pthread_mutex_unlock(&e->cmd_lock);
    free(c);
    return -EAGAIN;
  }
  e->cmds[(e->cmd_head + e->cmd_n++) % CMD_MAX] = c;
  if (c->type == CMD_INIT)
    e->cmd_inits++;
  atomic_store(&e->cmd_count, e->cmd_n);
  pthread_cond_signal(&e->cmd_cond);
  pthread_mutex_unlock(&e->cmd_lock);
  return 0;
}

int engine_track_open(struct engine *e, uint32_t track, const uint8_t *init, size_t len,
                      const struct engine_track_params *tp) {
  struct cmd *c;
  if (!e || !init || len == 0 || !tp || tp->end < tp->start ||
      (tp->has_loudness && !isfinite(tp->loudness_lufs)))
    return -EINVAL;
  if (e->has_open)
    return -EBUSY;
  if (e->tracks_live >= ENGINE_MAX_TRACKS)
    return -EAGAIN;
  int r = enqueue(e, CMD_OPEN, track, init, len, &c);
  if (r < 0)
    return r;
  c->cdm = tp->cdm;
  c->session = tp->session;
  c->start = tp->start;
  c->end = tp->end;
  c->has_loudness = tp->has_loudness;
  c->loudness_lufs = tp->loudness_lufs;
  r = submit(e, c);
  if (r < 0)
    return r;
  e->has_open = true;
  e->open_track = track;
  e->tracks_live++;
  return 0;
}

int engine_track_init(struct engine *e, uint32_t track, const uint8_t *init, size_t len) {
  return engine_track_rekey(e, track, init, len, NULL, 0); /* the track's own session */
}

int engine_track_rekey(struct engine *e, uint32_t track, const uint8_t *init, size_t len,
                       struct cdmhost *cdm, uint32_t session) {
  struct cmd *c;
  if (!e || !init || len == 0)
    return -EINVAL;
  if (!e->has_open || e->open_track != track)
    return -ENOENT;
  int r = enqueue(e, CMD_INIT, track, init, len, &c);
  if (r < 0)
    return r;
  c->cdm = cdm;
  c->session = session;
  return submit(e, c);
}

int engine_track_segment(struct engine *e, uint32_t track, uint32_t index, const uint8_t *data,
                         size_t len, uint64_t file_offset) {
  struct cmd *c;
  if (!e || !data || len == 0)
    return -EINVAL;
  if (!e->has_open || e->open_track != track)
    return -ENOENT;
  if (len > e->queue_max)
    return -AMP_ETOOBIG;
  if (e->segs_live >= ENGINE_MAX_SEGMENTS || len > e->queue_max - e->bytes_live)
    return -EAGAIN;
  int r = enqueue(e, CMD_SEGMENT, track, data, len, &c);
  if (r < 0)
    return r;
  c->index = index;
  c->offset = file_offset;
  r = submit(e, c);
  if (r < 0)
    return r;
  e->segs_live++;
  e->bytes_live += len;
  return 0;
}

int engine_track_close(struct engine *e, uint32_t track, uint64_t declared_end,
                       uint32_t timescale) {
  struct cmd *c;
  if (!e)
    return -EINVAL;
  if (!e->has_open || e->open_track != track)
    return -ENOENT;
  int r = enqueue(e, CMD_CLOSE, track, NULL, 0, &c);
  if (r < 0)
    return r;
  c->declared_end = declared_end;
  c->timescale = timescale;
  r = submit(e, c);
  if (r == 0)
    e->has_open = false;
  return r;
}

bool eng_dropped(struct engine *e, uint32_t track) {
  if (atomic_load(&e->drop_gen) == 0)
    return false; /* nothing was ever dropped: no lock on the data path */
  bool found = false;
  pthread_mutex_lock(&e->ev_lock);
  for (size_t i = 0; i < e->n_dropped && !found; i++)
    found = e->dropped[i] == track;
  pthread_mutex_unlock(&e->ev_lock);
  return found;
}

bool eng_start_applied(struct engine *e, uint32_t track) {
  pthread_mutex_lock(&e->ev_lock);
  bool dropped = false;
  for (size_t i = 0; i < e->n_dropped && !dropped; i++)
    dropped = e->dropped[i] == track;
  if (!dropped) {
    e->applied_track = track;
    e->applied_valid = true;
  }
  pthread_mutex_unlock(&e->ev_lock);
  return dropped;
}

int engine_track_drop(struct engine *e, uint32_t track) {
  if (!e)
    return -EINVAL;
  /* The check against the output thread's last START and the entry in the list are one
   * step under ev_lock, which eng_start_applied() takes too: either the track is
   * refused as started, or the output thread finds it dropped. */
  pthread_mutex_lock(&e->ev_lock);
  int r = 0;
  bool already = false;
  for (size_t i = 0; i < e->n_dropped; i++)
    already |= e->dropped[i] == track;
  if (already)
    r = 1;
  else if (e->applied_valid && e->applied_track == track)
    r = -EALREADY;
  else if (e->n_dropped == ENGINE_MAX_TRACKS)
    r = -EAGAIN;
  else
    e->dropped[e->n_dropped++] = track;
  atomic_fetch_add(&e->drop_gen, 1u);
  pthread_mutex_unlock(&e->ev_lock);
  if (r != 0)
    return r > 0 ? 0 : r;
  if (e->has_open && e->open_track == track) {
    /* close it, so that the command stream stays whole; the media thread drops it */
    struct cmd *c;
    r = enqueue(e, CMD_CLOSE, track, NULL, 0, &c);
    if (r == 0)
      r = submit(e, c);
    if (r < 0) { /* not dropped after all */
      pthread_mutex_lock(&e->ev_lock);
      for (size_t i = 0; i < e->n_dropped; i++)
        if (e->dropped[i] == track) {
          e->dropped[i] = e->dropped[--e->n_dropped];
          break;
        }
      pthread_mutex_unlock(&e->ev_lock);
      return r;
    }
    e->has_open = false;
  }
  pthread_mutex_lock(&e->cmd_lock);
  pthread_cond_signal(&e->cmd_cond);
  pthread_mutex_unlock(&e->cmd_lock);
  ring_signal(e, &e->ring_data);
  return 0;
}

int engine_pause(struct engine *e, bool pause) {
  if (!e)
    return -EINVAL;
  atomic_store(&e->pause_req, pause);
  ring_signal(e, &e->ring_data);
  return 0;
}

int engine_stop(struct engine *e) {
  if (!e)
    return -EINVAL;
  pthread_mutex_lock(&e->ev_lock);
  e->ev_gen++;
  e->ev_n = 0;
  e->under_pending = 0;
  e->outerr_pending = 0;
  e->opened_pending = false;
  e->devchg_pending = false;
  e->n_dropped = 0;
  e->applied_valid = false;
  atomic_store(&e->stop_gen, e->ev_gen);
  pthread_mutex_unlock(&e->ev_lock);
  atomic_store(&e->pause_req, false);

  pthread_mutex_lock(&e->cmd_lock);
  while (e->cmd_n > 0) {
    free(e->cmds[e->cmd_head]);
    e->cmd_head = (e->cmd_head + 1) % CMD_MAX;
    e->cmd_n--;
  }
  e->cmd_inits = 0;
  atomic_store(&e->cmd_count, 0);
  pthread_cond_signal(&e->cmd_cond);
  pthread_mutex_unlock(&e->cmd_lock);

  pthread_mutex_lock(&e->ring_lock);
  pthread_cond_broadcast(&e->ring_space);
  pthread_cond_broadcast(&e->ring_data);
  pthread_mutex_unlock(&e->ring_lock);

  e->has_open = false;
  e->tracks_live = 0;
  e->segs_live = 0;
  e->bytes_live = 0;
  return 0;
}

int engine_position(const struct engine *e, uint32_t *ret_track, uint64_t *ret_frames,
                    struct pcm_format *ret_fmt) {
  struct engine *m = (struct engine *)(uintptr_t)e; /* the atomics are read, not changed */
  bool valid;
  uint32_t track;
  uint64_t frames;
  struct pcm_format f;
  unsigned s1, s2;
  if (!e)
    return -EINVAL;
  do {
    s1 = atomic_load_explicit(&m->seq, memory_order_acquire);
    valid = atomic_load_explicit(&m->pos_valid, memory_order_relaxed);
    track = atomic_load_explicit(&m->pos_track, memory_order_relaxed);
    frames = atomic_load_explicit(&m->pos_frames, memory_order_relaxed);
    f.rate = atomic_load_explicit(&m->pos_rate, memory_order_relaxed);
    f.channels = (uint8_t)atomic_load_explicit(&m->pos_channels, memory_order_relaxed);
    f.bits = (uint8_t)atomic_load_explicit(&m->pos_bits, memory_order_relaxed);
    atomic_thread_fence(memory_order_acquire);
    s2 = atomic_load_explicit(&m->seq, memory_order_relaxed);
  } while ((s1 & 1u) || s1 != s2);
  if (!valid)
    return -ENOENT;
  if (ret_track)
    *ret_track = track;
  if (ret_frames)
    *ret_frames = frames;
  if (ret_fmt)
    *ret_fmt = f;
  return 0;
}

uint64_t engine_underruns(const struct engine *e) {
  struct engine *m = (struct engine *)(uintptr_t)e;
  return e ? atomic_load(&m->underruns) : 0;
}

void engine_device(const struct engine *e, struct engine_device *ret) {
  struct engine *m = (struct engine *)(uintptr_t)e; /* the atomics are read, not changed */
  if (!ret)
    return;
  *ret = (struct engine_device){0};
  if (!e)
    return;
  ret->open = atomic_load(&m->dev_open);
  ret->fmt = (struct pcm_format){.rate = atomic_load(&m->dev_rate),
                                 .channels = (uint8_t)atomic_load(&m->dev_channels),
                                 .bits = (uint8_t)atomic_load(&m->dev_bits)};
  ret->source = (struct pcm_format){.rate = atomic_load(&m->src_rate),
                                    .channels = (uint8_t)atomic_load(&m->src_channels),
                                    .bits = (uint8_t)atomic_load(&m->src_bits)};
  ret->resampling = atomic_load(&m->dev_resampling);
  ret->paused = ret->open && atomic_load(&m->dev_paused);
  ret->opens = atomic_load(&m->dev_opens);
  ret->error = ret->open ? 0 : atomic_load(&m->dev_error);
}

/* ---- lifecycle ---- */

static void wake_all(struct engine *e) {
  pthread_mutex_lock(&e->cmd_lock);
  pthread_cond_broadcast(&e->cmd_cond);
  pthread_mutex_unlock(&e->cmd_lock);
  pthread_mutex_lock(&e->ring_lock);
  pthread_cond_broadcast(&e->ring_space);
  pthread_cond_broadcast(&e->ring_data);
  pthread_mutex_unlock(&e->ring_lock);
}

int engine_new(const struct engine_config *cfg, struct engine **ret) {
  if (!cfg || !ret || !cfg->loop || !cfg->ops || !cfg->on_event ||
      cfg->ring_ms > ENGINE_MAX_RING_MS || cfg->rate_policy > ENGINE_RATE_FIXED ||
      (cfg->rate_policy == ENGINE_RATE_FIXED &&
       (cfg->fixed_rate < 8000 || cfg->fixed_rate > 768000)) ||
      cfg->volume_mode > ENGINE_VOLUME_BOTH || !isfinite(cfg->target_lufs))
    return -EINVAL;
  struct engine *e = calloc(1, sizeof(*e));
  pthread_condattr_t ca;
  int r = -ENOMEM;
  if (!e)
    return -ENOMEM;
  e->cfg = *cfg;
  unsigned vol = cfg->volume > 100 ? 100u : cfg->volume;
  atomic_store(&e->volume, vol);
  atomic_store(&e->sw_volume, vol); /* until a mixer takes it over: never louder */
  e->ring_ms = cfg->ring_ms ? cfg->ring_ms : ENGINE_DEFAULT_RING_MS;
  e->queue_max = cfg->queue_max_bytes ? cfg->queue_max_bytes : ENGINE_DEFAULT_QUEUE_BYTES;
  uint64_t cap = (uint64_t)e->ring_ms * RING_MAX_RATE / 1000u * RING_CHANNELS;
  e->cap = (size_t)((cap + RING_ALIGN - 1) / RING_ALIGN * RING_ALIGN);
  e->ring = malloc(e->cap * sizeof(*e->ring));
  e->mb = calloc(1, sizeof(*e->mb));
  if (!e->ring || !e->mb) {
    free(e->ring);
    free(e->mb);
    free(e);
    return -ENOMEM;
  }
  e->mb->e = e;
  pthread_mutex_init(&e->cmd_lock, NULL);
  pthread_cond_init(&e->cmd_cond, NULL);
  pthread_mutex_init(&e->ring_lock, NULL);
  pthread_cond_init(&e->ring_space, NULL);
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&e->ring_data, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&e->ev_lock, NULL);
  pthread_mutex_init(&e->dev_lock, NULL);

  r = -pthread_create(&e->media_thread, NULL, eng_media_main, e);
  if (r < 0)
    goto fail;
  e->media_started = true;
  r = -pthread_create(&e->output_thread, NULL, eng_output_main, e);
  if (r < 0)
    goto fail;
  e->output_started = true;
  *ret = e;
  return 0;
fail:
  engine_free(e);
  return r;
}

void engine_free(struct engine *e) {
  if (!e)
    return;
  atomic_store(&e->quit, true);
  /* A write or drain blocked on the device (a FIFO whose reader stopped reading) would
   * hold the join below for ever: interrupt it; the output thread then sees quit. */
  pthread_mutex_lock(&e->dev_lock);
  e->dev_interrupted = true;
  if (e->dev_pub)
    (void)output_interrupt(e->dev_pub);
  pthread_mutex_unlock(&e->dev_lock);
  wake_all(e);
  if (e->media_started)
    pthread_join(e->media_thread, NULL);
  if (e->output_started)
    pthread_join(e->output_thread, NULL);
  while (e->cmd_n > 0) {
    free(e->cmds[e->cmd_head]);
    e->cmd_head = (e->cmd_head + 1) % CMD_MAX;
    e->cmd_n--;
  }
  /* A delivery still waiting in the loop finds the mailbox dead and frees it. */
  if (e->posted)
    e->mb->dead = true;
  else
    free(e->mb);
  pthread_mutex_destroy(&e->cmd_lock);
  pthread_cond_destroy(&e->cmd_cond);
  pthread_mutex_destroy(&e->ring_lock);
  pthread_cond_destroy(&e->ring_space);
  pthread_cond_destroy(&e->ring_data);
  pthread_mutex_destroy(&e->ev_lock);
  pthread_mutex_destroy(&e->dev_lock);
  gain_free(e->m.gain);
  free(e->ring);
  free(e);
}

void engine_key_ready(struct engine *e) {
  if (!e)
    return;
  pthread_mutex_lock(&e->cmd_lock);
  atomic_fetch_add(&e->key_gen, 1u);
  pthread_cond_signal(&e->cmd_cond);
  pthread_mutex_unlock(&e->cmd_lock);
}

void engine_set_volume(struct engine *e, unsigned percent) {
  if (!e)
    return;
  unsigned v = percent > 100 ? 100u : percent;
  atomic_store(&e->volume, v);
  if (e->cfg.volume_mode == ENGINE_VOLUME_SOFTWARE)
    atomic_store(&e->sw_volume, v);
  else
    ring_signal(e, &e->ring_data); /* the output thread sets the mixer */
}

unsigned engine_volume(const struct engine *e) {
  return e ? atomic_load(&((struct engine *)(uintptr_t)e)->volume) : 0;
}
