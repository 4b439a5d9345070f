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
 * other in one write stream (gapless: no drain, no reopen, no gap, no overlap).
 *
 * The device format (engine_config.rate_policy): the media thread decides the format of
 * every stretch it writes into the ring, and converts what the decoder gives to it:
 *  - a format switch within a track (ABR) never reopens the device: a new rate is
 *    resampled (media/resample, libsoxr) to the rate the track started at, a new depth is
 *    shifted up exactly or dithered down (media/gain); only a change of the channel count
 *    reopens (there is no channel mapping);
 *  - at a track boundary, ENGINE_RATE_NATIVE (the default) plays the next track at its own
 *    format: a different one drains, closes and reopens the device there; ENGINE_RATE_KEEP
 *    keeps the device at the format it first opened with and converts every later track
 *    to it (gapless across rates); ENGINE_RATE_FIXED runs the device at fixed_rate always.
 * At 100 % with no normalisation gain and no conversion the PCM reaches the device
 * untouched (bit-exact).
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
 * lost). A device that cannot be opened (busy, missing, refusing the format) or fails
 * while playing is never fatal: the output thread sends OUTPUT_ERROR, closes it, holds the
 * audio (the ring fills and the media thread waits, as in a pause) and tries again after
 * ENGINE_RETRY_MIN_MS, doubling up to ENGINE_RETRY_MAX_MS; OUTPUT_OPENED says it is back
 * (what the device had queued when it failed is lost; the clock goes on from there).
 * With idle_close_ms, a device with nothing left to play (not a paused one) is drained
 * and closed after that long, so that other programs can use it; the next track opens it.
 *
 * Bounds (checked on the loop thread, counted until the event that releases them is
 * delivered, so the event queue can never overflow): ENGINE_MAX_TRACKS tracks opened and
 * not yet TRACK_ENDED, ENGINE_MAX_SEGMENTS segments and queue_max_bytes segment bytes
 * handed in and not yet SEGMENT_DONE, ENGINE_MAX_INITS init switches queued. The PCM ring
 * holds ring_ms of audio (allocated for 192 kHz stereo: 750 KiB at 500 ms; formats with
 * more channels get proportionally less).
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
#define ENGINE_RETRY_MIN_MS 250u  /* the first retry of a device that failed */
#define ENGINE_RETRY_MAX_MS 8000u /* the backoff's ceiling */

struct loop;
struct cdmhost;
struct engine;

enum engine_event_type {
  ENGINE_TRACK_STARTED,  /* the track's first frame is being heard (track) */
  ENGINE_TRACK_ENDED,    /* its last frame was heard (track) */
  ENGINE_SEGMENT_DONE,   /* the media thread is done with (track, segment): release it */
  ENGINE_ERROR,          /* (track, err): that track cannot go on (-AMP_EDECRYPT, -AMP_EGAP,
                          * -AMP_ESHORT, -AMP_ENOKEY, the errors of pipeline_new ...) */
  ENGINE_UNDERRUN,       /* the device ran dry (err: how many since the last such event) */
  ENGINE_OUTPUT_ERROR,   /* (err) the device could not be opened or was lost (-EBUSY,
                          * -ENODEV, -AMP_EAUDIO): the audio is held, it is retried */
  ENGINE_OUTPUT_OPENED,  /* the device opened again after an OUTPUT_ERROR */
  ENGINE_DEVICE_CHANGED, /* the device was opened or closed (engine_device() says which:
                          * a track's open, a reopen at a format change, the idle close);
                          * coalesced: one event may stand for several changes */
};

/* Where the device's rate comes from (the top of this file). */
enum engine_rate_policy {
  ENGINE_RATE_NATIVE = 0, /* each track's own; reopened at a track boundary */
  ENGINE_RATE_KEEP,       /* the first track's, kept; later rates resampled */
  ENGINE_RATE_FIXED,      /* engine_config.fixed_rate, everything resampled to it */
};

/* Where the volume is applied. */
enum engine_volume_mode {
  ENGINE_VOLUME_SOFTWARE = 0, /* media/gain on the PCM */
  ENGINE_VOLUME_HARDWARE,     /* the device's mixer control (software when it has none) */
  ENGINE_VOLUME_BOTH,         /* the mixer down to its floor, the PCM below it */
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
  enum engine_rate_policy rate_policy;
  uint32_t fixed_rate; /* ENGINE_RATE_FIXED: 8000..768000 Hz */
  bool normalise;      /* loudness normalisation from each track's loudness */
  double target_lufs;  /* its target; 0 = GAIN_DEFAULT_TARGET_LUFS (-14) */
  enum engine_volume_mode volume_mode;
  unsigned volume;          /* the volume at start, percent (above 100: 100) */
  uint32_t idle_close_ms;   /* close a device with nothing to play after this; 0 never */
  engine_event_fn on_event; /* required */
  void *userdata;
};

/* What engine_track_open() is told about a track. */
struct engine_track_params {
  struct cdmhost *cdm; /* NULL for clear content */
  uint32_t session;    /* the CDM session of its keys */
  int64_t start, end;  /* the valid interval in output frames ({0, INT64_MAX}: all) */
  bool has_loudness;   /* the manifest's ProgramLoudness, for normalisation */
  double loudness_lufs;
};

/* The device as the output thread last saw it (engine_device()). */
struct engine_device {
  bool open;
  struct pcm_format fmt;    /* the device's format while open */
  struct pcm_format source; /* the format of what is being heard, before conversion */
  bool resampling;          /* what is heard was resampled to fmt.rate */
  bool paused;              /* the device holds its queue, its clock stopped (a pause) */
  uint64_t opens;           /* device opens since engine_new() */
  int error;                /* the last OUTPUT_ERROR while not open again; else 0 */
};

/* Start both threads. cfg and the strings in cfg->params must outlive the engine.
 * 0, -EINVAL, -ENOMEM, or the -errno of pthread_create. */
int engine_new(const struct engine_config *cfg, struct engine **ret);
/* Stop and join both threads (a write or drain blocked on the device is interrupted:
 * output_interrupt()), close the device (without draining), free everything
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
 * a format). init (copied) is its init segment; tp->cdm/session decrypt it (the session
 * must stay open until its TRACK_ENDED or engine_stop()); [tp->start, tp->end) its valid
 * interval in output frames of its own rate (pipeline_config); its loudness sets the
 * normalisation gain from its first frame. -EBUSY while the previous track is not closed,
 * -EAGAIN past ENGINE_MAX_TRACKS, -EINVAL (len 0, end < start), -ENOMEM.
 */
int engine_track_open(struct engine *e, uint32_t track, const uint8_t *init, size_t len,
                      const struct engine_track_params *tp);
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
/* Drop one queued track (opened, not yet written to the device) and nothing else: the
 * one being heard and the others queued play on. What the media thread has not decoded
 * of it is only released (SEGMENT_DONE), what is in the ring is skipped. Its
 * TRACK_STARTED and TRACK_ENDED still come (an empty stretch where it would have been
 * heard), no ENGINE_ERROR. (The latest track the output thread started is refused; an
 * older one still in flight would be cut where it is.) If it is the open track it is closed
 * (no more segments may be handed in). -EALREADY when the output thread already started
 * writing it to the device (it is being heard, or will be within the device's buffer,
 * whether or not its TRACK_STARTED was delivered yet): it is not dropped, then. 0 (also
 * when already dropped), -EAGAIN with ENGINE_MAX_TRACKS drops pending, -EINVAL, -ENOMEM. */
int engine_track_drop(struct engine *e, uint32_t track);
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
/* The device now (struct engine_device). Any thread. */
void engine_device(const struct engine *e, struct engine_device *ret);

/* A license arrived (or was renewed): a segment that waits for its keys is fed again.
 * Any thread. A segment whose first sample has no key (-AMP_ENOKEY) waits for this, at
 * most ENGINE_KEY_WAITS times, instead of failing the track, while the clear lead
 * already in the ring plays; engine_stop() ends the wait. */
#define ENGINE_KEY_WAITS 4u
void engine_key_ready(struct engine *e);

/* The volume, percent 0..100 (above: 100), any thread. In software (media/gain: dB-linear
 * over 60 dB, a 10 ms ramp, one TPDF dither) the media thread applies it to what it
 * decodes from then on, so it is heard after the ring and the device buffer have played
 * out (ring_ms plus the device's buffer); at 100 % the PCM is untouched. On the mixer the
 * output thread sets it at its next turn (and after each open); in BOTH the mixer takes
 * the curve down to its floor and the PCM the rest. */
void engine_set_volume(struct engine *e, unsigned percent);
unsigned engine_volume(const struct engine *e);

#endif
