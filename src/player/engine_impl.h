/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_PLAYER_ENGINE_IMPL_H
#define AMPD_PLAYER_ENGINE_IMPL_H
/*
 * engine's private half: the state the three files share (engine.c: the loop-thread API,
 * the events and the lifecycle; engine_media.c: the media thread and the producer side of
 * the ring; engine_output.c: the output thread). Nothing outside src/player/engine*.c
 * includes this.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "media/gain.h"
#include "media/pipeline.h"
#include "media/resample.h"

/* Command queue slots: every segment, open, close and init the loop may have queued. */
#define CMD_MAX (ENGINE_MAX_SEGMENTS + 2u * ENGINE_MAX_TRACKS + ENGINE_MAX_INITS)
/* Events waiting for the loop. Each queued event was allowed by a loop-side count that is
 * released only when it is delivered: a SEGMENT_DONE per segment (ENGINE_MAX_SEGMENTS),
 * and per track at most STARTED, ENDED and one ERROR (3 x ENGINE_MAX_TRACKS). UNDERRUN,
 * OUTPUT_ERROR and OUTPUT_OPENED are coalesced into fields, so the queue can never be
 * full. */
#define EVQ_MAX (ENGINE_MAX_SEGMENTS + 3u * ENGINE_MAX_TRACKS)
/* Markers: a START and an END per track, a START per init switch, a FLUSH per stop, all
 * of it possibly still in the ring. The producer waits when it is full. */
#define MARKER_MAX (2u * ENGINE_MAX_TRACKS + ENGINE_MAX_INITS + 16u)
/* Tracks (and format switches within one) written to the device and not yet heard to the
 * end. The loop-side bounds keep it below this; see out_start(). */
#define INFLIGHT_MAX (ENGINE_MAX_TRACKS + ENGINE_MAX_INITS + 2u)
/* The ring is sized for ring_ms of the largest stereo format (192 kHz: 750 KiB at 500 ms),
 * not for 8 channels: the index runs over all of it, so all of it ends up in memory (the
 * Private_Dirty figure of docs/benchmarks.md). More channels get a shorter ring
 * (fill_limit), 125 ms at 192 kHz, 8 channels. */
#define RING_MAX_RATE 192000u
#define RING_CHANNELS 2u
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
  bool has_loudness; /* OPEN: the track's ProgramLoudness */
  double loudness_lufs;
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
  struct pcm_format src; /* START: the decoder's format, before conversion to fmt */
  bool resampled;        /* START: src.rate was resampled to fmt.rate */
  uint64_t base;         /* START: the track position (frames of fmt) of its first frame */
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
  struct pcm_format fmt, src;
  bool resampled;
  uint64_t dev_start, dev_end; /* device frames; dev_end valid when closed */
  uint64_t base;
  bool closed, started;
  bool start_event, end_event; /* false for the two sides of a format switch */
};

struct media {
  struct pipeline *p;
  struct pipeline_config cfg;
  struct pcm_format fmt;      /* what the decoder gives */
  struct pcm_format out;      /* what goes into the ring (the device's format) */
  struct pcm_format last_out; /* out of the last stretch (RATE_KEEP), rate 0: none yet */
  uint32_t track;
  bool active; /* a START was pushed and no END yet */
  bool failed; /* an ERROR was sent: drop the rest of the track */
  unsigned gen;
  uint64_t w; /* the producer's own copy of W */
  /* fmt -> out: rs resamples fmt.rate to out.rate (NULL when they are equal) into rsbuf
   * at wbits = max(fmt.bits, out.bits); the gain works at wbits and dithers to out.bits;
   * a shift takes wbits to out.bits. conv false: the PCM goes through as it is. */
  bool conv;
  struct resample *rs;
  int32_t *rsbuf;
  size_t rsbuf_frames;
  unsigned wbits;
  struct gain *gain;          /* volume and normalisation (made at a format's first PCM) */
  struct pcm_format gain_fmt; /* the format gain was made for ({out.rate, ch, wbits}) */
  unsigned gain_dbits;        /* and the depth it dithers to */
  unsigned gain_volume;       /* the volume last handed to gain */
  struct gain_track loud;     /* the open track's loudness */
  bool loud_known;
  bool loud_pending; /* a new track: hand loud to the gain at its first PCM */
};

struct engine {
  struct engine_config cfg;
  struct mailbox *mb;
  atomic_bool quit;
  atomic_uint stop_gen;
  atomic_bool pause_req;
  atomic_uint volume;    /* the volume asked for, percent (engine_set_volume) */
  atomic_uint sw_volume; /* the part the PCM takes, percent (the rest is on the mixer) */
  /* the device as engine_device() reports it (output thread writes) */
  atomic_bool dev_open, dev_resampling, dev_paused;
  atomic_uint dev_rate, dev_channels, dev_bits;
  atomic_uint src_rate, src_channels, src_bits;
  atomic_uint_fast64_t dev_opens;
  atomic_int dev_error;
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
  bool opened_pending;
  bool devchg_pending;
  /* tracks engine_track_drop() dropped, until their TRACK_ENDED (under ev_lock) */
  uint32_t dropped[ENGINE_MAX_TRACKS];
  size_t n_dropped;
  atomic_uint drop_gen;   /* bumped by each drop */
  uint32_t applied_track; /* the track of the output thread's last START (not a switch) */
  bool applied_valid;

  /* the audio clock (seqlock, written by the output thread) */
  atomic_uint seq;
  atomic_bool pos_valid;
  atomic_uint pos_track;
  atomic_uint_fast64_t pos_frames;
  atomic_uint pos_rate, pos_channels, pos_bits;
  atomic_uint_fast64_t underruns;

  /* The device the output thread has open, for engine_free's output_interrupt(): set and
   * cleared by the output thread under dev_lock, so a close waits for an interrupt in
   * progress. */
  pthread_mutex_t dev_lock;
  struct output *dev_pub;
  bool dev_interrupted; /* engine_free ran: a device opened after it is interrupted at once */

  struct media m; /* media thread only */
  pthread_t media_thread, output_thread;
  bool media_started, output_started;
};

static inline bool fmt_equal(const struct pcm_format *a, const struct pcm_format *b) {
  return a->rate == b->rate && a->channels == b->channels && a->bits == b->bits;
}

static inline void ring_signal(struct engine *e, pthread_cond_t *c) {
  pthread_mutex_lock(&e->ring_lock);
  pthread_cond_broadcast(c);
  pthread_mutex_unlock(&e->ring_lock);
}

/* engine.c: queue an event of generation gen from the media or output thread (dropped
 * when a stop came after it); never blocks beyond the event lock, never fails (EVQ_MAX). */
void eng_push_event(struct engine *e, unsigned gen, enum engine_event_type type, uint32_t track,
                    uint32_t segment, int err, size_t bytes);
/* engine.c: engine_track_drop() dropped track (any thread; takes ev_lock). */
bool eng_dropped(struct engine *e, uint32_t track);
/* engine.c: the output thread applies the START of track (not a switch within it): true
 * when it was dropped (skip it), else it is noted as started, which engine_track_drop()
 * then refuses. Takes ev_lock. */
bool eng_start_applied(struct engine *e, uint32_t track);
/* engine.c: post the batch again if the loop's queue was full (output thread). */
void eng_retry_post(struct engine *e);
/* The two threads' bodies (engine_media.c, engine_output.c). */
void *eng_media_main(void *arg);
void *eng_output_main(void *arg);

#endif
