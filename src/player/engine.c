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
#include "engine.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"
#include "media/gain.h"
#include "media/pipeline.h"

LOG_TOPIC("engine");

/* Command queue slots: every segment, open, close and init the loop may have queued. */
#define CMD_MAX (ENGINE_MAX_SEGMENTS + 2u * ENGINE_MAX_TRACKS + ENGINE_MAX_INITS)
/* Events waiting for the loop. Each queued event was allowed by a loop-side count that is
 * released only when it is delivered: a SEGMENT_DONE per segment (ENGINE_MAX_SEGMENTS),
 * and per track at most STARTED, ENDED and one ERROR (3 x ENGINE_MAX_TRACKS). UNDERRUN
 * and OUTPUT_ERROR are coalesced into counters, so the queue can never be full. */
#define EVQ_MAX (ENGINE_MAX_SEGMENTS + 3u * ENGINE_MAX_TRACKS)
/* Markers: a START and an END per track, a START per init switch, a FLUSH per stop, all
 * of it possibly still in the ring. The producer waits when it is full. */
#define MARKER_MAX (2u * ENGINE_MAX_TRACKS + ENGINE_MAX_INITS + 16u)
/* Tracks (and format switches within one) written to the device and not yet heard to the
 * end. The loop-side bounds keep it below this; see out_start(). */
#define INFLIGHT_MAX (ENGINE_MAX_TRACKS + ENGINE_MAX_INITS + 2u)
/* The ring is sized for the largest format any decoder gives. */
#define RING_MAX_RATE 192000u
#define RING_ALIGN 840u /* lcm(1..8) */
/* How often the output thread looks at the device clock while it has nothing to write
 * and frames are still to be heard (or a post must be retried): one period, at least. */
#define IDLE_POLL_US 10000u

enum cmd_type { CMD_OPEN, CMD_INIT, CMD_SEGMENT, CMD_CLOSE };

struct cmd {
  enum cmd_type type;
  unsigned gen;
  uint32_t track;
  uint32_t index;
  struct cdmhost *cdm;
  uint32_t session;
  int64_t start, end;
  uint64_t offset;
  uint64_t declared_end;
  uint32_t timescale;
  size_t len;
  uint8_t data[]; /* init or segment bytes */
};

enum mark_type { MARK_START, MARK_END, MARK_FLUSH };

struct marker {
  uint64_t pos; /* sample index the marker applies at */
  enum mark_type type;
  unsigned gen;
  uint32_t track;
  bool cont;             /* START: a format switch within the track (ABR), not a new track */
  struct pcm_format fmt; /* START: rate 0 = a track without audio (it failed to open) */
  uint64_t base;         /* START: the track position (frames) of its first frame */
};

struct qev {
  struct engine_event pub;
  size_t bytes; /* SEGMENT_DONE: the segment's size, released on delivery */
};

/* What loop_post() carries: it outlives the engine when a post is still waiting. */
struct mailbox {
  struct engine *e;
  bool dead; /* loop thread only */
};

/* A stretch of the device stream that belongs to one track (output thread only). */
struct inflight {
  uint32_t track;
  struct pcm_format fmt;
  uint64_t dev_start, dev_end; /* device frames; dev_end valid when closed */
  uint64_t base;
  bool closed, started;
  bool start_event, end_event; /* false for the two sides of a format switch */
};

struct media {
  struct pipeline *p;
  struct pipeline_config cfg;
  struct pcm_format fmt;
  uint32_t track;
  bool active; /* a START was pushed and no END yet */
  bool failed; /* an ERROR was sent: drop the rest of the track */
  unsigned gen;
  uint64_t w;                 /* the producer's own copy of W */
  struct gain *gain;          /* software volume for fmt (made at a format's first PCM) */
  struct pcm_format gain_fmt; /* the format gain was made for */
  unsigned gain_volume;       /* the volume last handed to gain */
};

struct engine {
  struct engine_config cfg;
  struct mailbox *mb;
  atomic_bool quit;
  atomic_uint stop_gen;
  atomic_bool pause_req;
  atomic_uint volume;  /* software volume, percent (engine_set_volume) */
  atomic_uint key_gen; /* bumped by engine_key_ready (under cmd_lock) */

  /* loop thread only */
  bool has_open;
  uint32_t open_track;
  unsigned tracks_live, segs_live;
  size_t bytes_live;
  size_t queue_max;

  /* commands, loop -> media */
  pthread_mutex_t cmd_lock;
  pthread_cond_t cmd_cond;
  struct cmd *cmds[CMD_MAX];
  size_t cmd_head, cmd_n, cmd_inits;
  atomic_size_t cmd_count;
  atomic_bool media_idle;

  /* the PCM ring and its markers */
  int32_t *ring;
  size_t cap; /* samples, a multiple of RING_ALIGN */
  uint32_t ring_ms;
  _Alignas(64) atomic_uint_fast64_t w;
  _Alignas(64) atomic_uint_fast64_t r;
  struct marker marks[MARKER_MAX];
  atomic_uint_fast64_t mark_w, mark_r;
  pthread_mutex_t ring_lock;
  pthread_cond_t ring_space; /* the producer waits here */
  pthread_cond_t ring_data;  /* the consumer waits here (CLOCK_MONOTONIC) */

  /* events, media/output -> loop */
  pthread_mutex_t ev_lock;
  struct qev evs[EVQ_MAX];
  size_t ev_head, ev_n;
  unsigned ev_gen;
  bool posted;
  atomic_bool post_failed;
  uint64_t under_pending;
  int outerr_pending;

  /* the audio clock (seqlock, written by the output thread) */
  atomic_uint seq;
  atomic_bool pos_valid;
  atomic_uint pos_track;
  atomic_uint_fast64_t pos_frames;
  atomic_uint pos_rate, pos_channels, pos_bits;
  atomic_uint_fast64_t underruns;

  struct media m; /* media thread only */
  pthread_t media_thread, output_thread;
  bool media_started, output_started;
};

/* ---- small helpers ---- */

static bool fmt_equal(const struct pcm_format *a, const struct pcm_format *b) {
  return a->rate == b->rate && a->channels == b->channels && a->bits == b->bits;
}

static void ring_signal(struct engine *e, pthread_cond_t *c) {
  pthread_mutex_lock(&e->ring_lock);
  pthread_cond_broadcast(c);
  pthread_mutex_unlock(&e->ring_lock);
}

/* An absolute CLOCK_MONOTONIC deadline usec from now, for ring_data. core/clock carries a
 * test offset; the condition variable waits in kernel time, so take it off. */
static struct timespec deadline_in(uint64_t usec) {
  uint64_t t = clock_mono_usec() - clock_mono_offset_usec() + usec;
  return (struct timespec){.tv_sec = (time_t)(t / 1000000u),
                           .tv_nsec = (long)(t % 1000000u) * 1000};
}

/* ---- events ---- */

static void deliver(void *userdata);

/* Post the batch unless a post is already waiting. ev_lock held. */
static void post_locked(struct engine *e) {
  if (e->posted || (e->ev_n == 0 && e->under_pending == 0 && e->outerr_pending == 0))
    return;
  if (loop_post(e->cfg.loop, deliver, e->mb) == 0) {
    e->posted = true;
    atomic_store_explicit(&e->post_failed, false, memory_order_relaxed);
  } else {
    /* The loop's queue is full: the output thread retries (retry_post) */
    atomic_store_explicit(&e->post_failed, true, memory_order_relaxed);
  }
}

static void retry_post(struct engine *e) {
  if (!atomic_load_explicit(&e->post_failed, memory_order_relaxed))
    return;
  pthread_mutex_lock(&e->ev_lock);
  post_locked(e);
  pthread_mutex_unlock(&e->ev_lock);
}

/* From the media or output thread: queue an event of generation gen (dropped when a stop
 * came after it). Never blocks beyond the lock, never fails (EVQ_MAX). */
static void push_event(struct engine *e, unsigned gen, enum engine_event_type type, uint32_t track,
                       uint32_t segment, int err, size_t bytes) {
  pthread_mutex_lock(&e->ev_lock);
  if (gen == e->ev_gen) {
    if (type == ENGINE_UNDERRUN) {
      e->under_pending += (uint64_t)err;
    } else if (type == ENGINE_OUTPUT_ERROR) {
      e->outerr_pending = err;
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
    }
    e->cfg.on_event(e->cfg.userdata, &q.pub);
  }
}

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
    push_event(e, e->m.gen, ENGINE_ERROR, e->m.track, 0, err, 0);
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
  push_event(e, e->m.gen, ENGINE_SEGMENT_DONE, c->track, c->index, 0, c->len);
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

static void *media_main(void *arg) {
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
      push_event(e, o->gen, ENGINE_UNDERRUN, 0, 0, (int)(x - o->xruns), 0);
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
    push_event(e, o->gen, evs[i].type, evs[i].track, 0, 0, 0);
}

static void out_fail(struct engine *e, struct out *o, int err) {
  log_error("audio output: %s", amp_strerror(err));
  output_close(o->dev);
  o->dev = NULL;
  o->lost = true;
  o->region = false;
  o->n_fl = 0;
  publish_position(e, o);
  push_event(e, o->gen, ENGINE_OUTPUT_ERROR, 0, 0, err, 0);
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

static void *output_main(void *arg) {
  struct engine *e = arg;
  struct out o = {0};
  while (!atomic_load(&e->quit)) {
    unsigned g = atomic_load(&e->stop_gen);
    if (g != o.gen)
      out_stop(e, &o, g);
    retry_post(e);
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
                      struct cdmhost *cdm, uint32_t session, int64_t start, int64_t end) {
  struct cmd *c;
  if (!e || !init || len == 0 || end < start)
    return -EINVAL;
  if (e->has_open)
    return -EBUSY;
  if (e->tracks_live >= ENGINE_MAX_TRACKS)
    return -EAGAIN;
  int r = enqueue(e, CMD_OPEN, track, init, len, &c);
  if (r < 0)
    return r;
  c->cdm = cdm;
  c->session = session;
  c->start = start;
  c->end = end;
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
      cfg->ring_ms > ENGINE_MAX_RING_MS)
    return -EINVAL;
  struct engine *e = calloc(1, sizeof(*e));
  pthread_condattr_t ca;
  int r = -ENOMEM;
  if (!e)
    return -ENOMEM;
  e->cfg = *cfg;
  atomic_store(&e->volume, 100u);
  e->ring_ms = cfg->ring_ms ? cfg->ring_ms : ENGINE_DEFAULT_RING_MS;
  e->queue_max = cfg->queue_max_bytes ? cfg->queue_max_bytes : ENGINE_DEFAULT_QUEUE_BYTES;
  uint64_t cap = (uint64_t)e->ring_ms * RING_MAX_RATE / 1000u * PCM_MAX_CHANNELS;
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

  r = -pthread_create(&e->media_thread, NULL, media_main, e);
  if (r < 0)
    goto fail;
  e->media_started = true;
  r = -pthread_create(&e->output_thread, NULL, output_main, e);
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
  if (e)
    atomic_store(&e->volume, percent > 100 ? 100u : percent);
}

unsigned engine_volume(const struct engine *e) {
  return e ? atomic_load(&((struct engine *)(uintptr_t)e)->volume) : 0;
}
