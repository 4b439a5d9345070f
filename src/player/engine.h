/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_PLAYER_ENGINE_H
#define AMPD_PLAYER_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "media/pcm.h"
#include "platform/output.h"

/*
 * engine: the threaded half of the player (docs/architecture.md "Threads").
 *
 *   loop thread ──commands (bounded queue)──▶ media thread ──PCM ring + markers──▶ output thread
 *        ▲                                        │ pipeline per track                 │ device
 *        └──────────── events (bounded queue, one loop_post per batch) ◀───────────────┘
 *
 * The loop thread hands in tracks as a stream of commands: engine_track_open(T), then any
 * number of engine_track_init() / engine_track_segment() for T, then engine_track_close(T);
 * then the next track. The media thread runs one media/pipeline per track (demux, decrypt
 * through the track's CDM session, decode, trim) and writes PCM into the ring; the output
 * thread writes the ring to the device. Consecutive tracks of the same format follow each
 * other in one write stream (gapless: no drain, no reopen, no gap, no overlap); at a
 * change of rate, channels or bits the device is drained, closed and reopened at the new
 * format (the hook for a resampler on a kept-open device is in engine.c, "format_change").
 *
 * Events (struct engine_event) are delivered on the loop's thread, in the order they
 * happened, through the engine's bounded queue and one loop_post() per batch (at most one
 * post of this engine is waiting in the loop at any time). For every track opened the
 * loop sees, in stream order, exactly one TRACK_STARTED and one TRACK_ENDED, even for a
 * track that failed (ENGINE_ERROR) or had no frames (then both come when the device
 * reaches the place the track would have started), unless engine_stop() dropped it. An
 * ENGINE_ERROR comes as soon as the media thread fails, usually before the track's frames
 * that did make it are heard. Every segment handed in gets one SEGMENT_DONE, also after
 * its track failed, unless engine_stop() dropped it. Events of what a stop dropped are not
 * delivered. UNDERRUN and OUTPUT_ERROR are coalesced (one event for several, never
 * lost). After an OUTPUT_ERROR (the device could not be opened or failed) the engine
 * discards audio until engine_stop(): the caller decides when to try again.
 *
 * Bounds (checked on the loop thread, counted until the event that releases them is
 * delivered, so the event queue can never overflow): ENGINE_MAX_TRACKS tracks opened and
 * not yet TRACK_ENDED, ENGINE_MAX_SEGMENTS segments and queue_max_bytes segment bytes
 * handed in and not yet SEGMENT_DONE, ENGINE_MAX_INITS init switches queued. The PCM ring
 * holds ring_ms of audio (allocated for the largest format: 192 kHz, 8 channels).
 *
 * Threads: everything but engine_position() and engine_underruns() belongs to the loop
 * thread (cfg->loop's), none of it blocks. No allocation in the output thread after the
 * device is open; decrypted audio lives only in memory (pipeline scratch, the ring).
 */

#define ENGINE_MAX_TRACKS 8u    /* opened, TRACK_ENDED not yet delivered */
#define ENGINE_MAX_SEGMENTS 64u /* handed in, SEGMENT_DONE not yet delivered */
#define ENGINE_MAX_INITS 16u    /* engine_track_init() commands queued */
#define ENGINE_DEFAULT_RING_MS 500u
#define ENGINE_MAX_RING_MS 10000u
#define ENGINE_DEFAULT_QUEUE_BYTES (8u << 20)

struct loop;
struct cdmhost;
struct engine;

enum engine_event_type {
  ENGINE_TRACK_STARTED, /* the track's first frame is being heard (track) */
  ENGINE_TRACK_ENDED,   /* its last frame was heard (track) */
  ENGINE_SEGMENT_DONE,  /* the media thread is done with (track, segment): release it */
  ENGINE_ERROR,         /* (track, err): that track cannot go on (-AMP_EDECRYPT, -AMP_EGAP,
                         * -AMP_ESHORT, -AMP_ENOKEY, the errors of pipeline_new ...) */
  ENGINE_UNDERRUN,      /* the device ran dry (err: how many since the last such event) */
  ENGINE_OUTPUT_ERROR,  /* (err) the device could not be opened or was lost (-EBUSY,
                         * -ENODEV, -AMP_EAUDIO): audio is discarded until engine_stop() */
};

struct engine_event {
  enum engine_event_type type;
  uint32_t track;
  uint32_t segment;
  int err;
};

typedef void (*engine_event_fn)(void *userdata, const struct engine_event *ev);

struct engine_config {
  struct loop *loop;            /* events are delivered on this loop's thread */
  const struct output_ops *ops; /* platform/output.h backend (alsa, or a test one) */
  struct output_params params;  /* device, buffer; params.format is ignored: each track's */
  uint32_t ring_ms;             /* PCM ring between media and output (0: 500; max 10000) */
  size_t queue_max_bytes;       /* segment bytes queued to the media thread (0: 8 MiB) */
  engine_event_fn on_event;     /* required */
  void *userdata;
};

/* Start both threads. cfg and the strings in cfg->params must outlive the engine.
 * 0, -EINVAL, -ENOMEM, or the -errno of pthread_create. */
int engine_new(const struct engine_config *cfg, struct engine **ret);
/* Stop and join both threads, close the device (without draining), free everything
 * queued. No event is delivered after it returns. Accepts NULL. Not from inside on_event
 * (the other calls may be made there). If a delivery was still
 * waiting in the loop, a few bytes stay behind until the loop runs it (loop_free() drops
 * posts without running them: run the loop once before freeing it). */
void engine_free(struct engine *e);

/*
 * Loop thread only, never blocking. A full queue is -EAGAIN (retry after a SEGMENT_DONE or
 * a TRACK_ENDED); a segment larger than queue_max_bytes is -AMP_ETOOBIG (it never fits).
 *
 * engine_track_open: queue track `track` behind the previous one (gapless when they share
 * a format). init (copied) is its init segment; cdm/session decrypt it (NULL for clear
 * content; the session must stay open until its TRACK_ENDED or engine_stop()); [start,
 * end) its valid interval in output frames (pipeline_config: {0, INT64_MAX} plays it
 * all). -EBUSY while the previous track is not closed, -EAGAIN past ENGINE_MAX_TRACKS,
 * -EINVAL (len 0, end < start), -ENOMEM.
 */
int engine_track_open(struct engine *e, uint32_t track, const uint8_t *init, size_t len,
                      struct cdmhost *cdm, uint32_t session, int64_t start, int64_t end);
/* A new init (ABR switch) before the track's next segment: the next segments go through a
 * new pipeline from it, continuing where the last one reached (a different rate reopens
 * the device there; frames the new pipeline gives before that point are dropped). The
 * new decoder starts cold: Opus's 80 ms pre-roll is not fed again. -ENOENT if track is
 * not the open one, -EAGAIN, -EINVAL, -ENOMEM. */
int engine_track_init(struct engine *e, uint32_t track, const uint8_t *init, size_t len);
/* As engine_track_init, for an init of a fresh session of the same track (a new audio
 * object after an expiry: new KID, new CDM session): the segments from here on decrypt
 * with (cdm, session) (cdm NULL keeps the track's). -ENOENT when track is not the one
 * open; the errors of engine_track_init. */
int engine_track_rekey(struct engine *e, uint32_t track, const uint8_t *init, size_t len,
                       struct cdmhost *cdm, uint32_t session);
/* A media segment of the open track (copied); file_offset is data[0]'s place in the file.
 * index is echoed in its SEGMENT_DONE. A segment that fails (no key yet: -AMP_ENOKEY, a
 * wrong one: -AMP_EDECRYPT, a gap ...) fails the track: ENGINE_ERROR, and the rest of its
 * segments are only released. -ENOENT, -EAGAIN, -AMP_ETOOBIG, -EINVAL, -ENOMEM. */
int engine_track_segment(struct engine *e, uint32_t track, uint32_t index, const uint8_t *data,
                         size_t len, uint64_t file_offset);
/* No more segments: declared_end ticks of timescale (timescale 0: nothing declared) is
 * where the media must end (pipeline_expect_end); a shorter decode is ENGINE_ERROR
 * -AMP_ESHORT. -ENOENT, -EAGAIN, -ENOMEM. */
int engine_track_close(struct engine *e, uint32_t track, uint64_t declared_end, uint32_t timescale);
/* Pause (true) or resume the device in place; nothing is lost or repeated. With a device
 * that cannot pause, the output thread stops feeding it (it plays out its buffer). */
int engine_pause(struct engine *e, bool pause);
/* Drop everything queued and playing: the device is dropped (not drained), the queue and
 * ring are emptied, no event of what was dropped is delivered, and the next track opened
 * plays from a clean start (pause is cleared). */
int engine_stop(struct engine *e);

/* Any thread: the track being heard (the last one whose first frame was heard and whose
 * last was not yet) and its position in frames of *ret_fmt: the track's interval start
 * plus the frames of it heard (the audio clock: device position minus where the track
 * began on the device). -ENOENT when no track is being heard. Outputs may be NULL. */
int engine_position(const struct engine *e, uint32_t *ret_track, uint64_t *ret_frames,
                    struct pcm_format *ret_fmt);
/* Device underruns since engine_new(). Any thread. */
uint64_t engine_underruns(const struct engine *e);

/* A license arrived (or was renewed): a segment that waits for its keys is fed again.
 * Any thread. A segment whose first sample has no key (-AMP_ENOKEY) waits for this, at
 * most ENGINE_KEY_WAITS times, instead of failing the track, while the clear lead
 * already in the ring plays; engine_stop() ends the wait. */
#define ENGINE_KEY_WAITS 4u
void engine_key_ready(struct engine *e);

/* Software volume, percent 0..100 (above: 100), any thread: applied by the media thread
 * (media/gain: dB-linear over 60 dB, a 10 ms ramp, one TPDF dither) to what it decodes
 * from then on, so it is heard after the ring and the device buffer have played out
 * (ring_ms plus the device's buffer). At 100 % (the start) the PCM is untouched. */
void engine_set_volume(struct engine *e, unsigned percent);
unsigned engine_volume(const struct engine *e);

#endif
