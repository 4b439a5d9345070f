/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_MEDIA_FETCHER_H
#define AMPD_MEDIA_FETCHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The segment fetcher of one track: the init and media segments of one Representation
 * (one manifest_rep of one audio object at a time) fetched ahead through net/http, by
 * byte range, with the audio object's audioSegmentHeaders on every request
 * (docs/service.md §4, §7). docs/media.md §14 describes the behaviour; in short:
 *
 *  - One request at a time. The init and the first media range come in ONE request when
 *    the bytes between them (the sidx, docs/service.md §7) are at most merge_gap: those
 *    bytes are read and dropped. Otherwise the init is a request of its own.
 *  - Segments are requested ahead while the segments held (handed out and not released,
 *    plus the one in flight) are shorter than target_ms of media AND their bytes plus the
 *    next request's fit cap_bytes. A request is always allowed when nothing is held, so a
 *    single segment larger than the cap still plays. Memory bound: the bytes held never
 *    exceed max(cap_bytes, init + one segment) (and FETCHER_HELD_MAX chunks), whatever
 *    the track's length.
 *  - Chunks are handed out in file order through on_chunk: an init before the first
 *    segment and again before the first segment after a switch, a rebase or a seek; then
 *    each segment with its index, file offset and time. A chunk's bytes stay valid until
 *    the consumer releases its segment (fetcher_release), or until fetcher_seek or
 *    fetcher_free. An init belongs to the segment it precedes and is released with it
 *    (the pipeline copies its init at pipeline_new).
 *  - A consumer that copies a chunk (the player hands it to the engine, which copies it)
 *    calls fetcher_handed: the chunk's bytes are freed at once, but it stays held, its
 *    bytes and time still counted against cap_bytes and target_ms until its segment is
 *    released. So the cap bounds the fetcher's buffers and the consumer's copies
 *    together, and the media is in memory once, not twice.
 *  - A connection dropped mid-segment is resumed by net/http (a streamed ranged GET
 *    resumes at the first byte not delivered); 5xx, 408, 429, network errors and
 *    truncations are retried with backoff by net/http, within its
 *    http_config.max_retries. When net/http gives up on one of those, the fetcher keeps
 *    what arrived and, after its own backoff (retry_base_ms doubling up to retry_cap_ms,
 *    full jitter), asks again from the first byte not received: at most retry_rounds
 *    rounds in a row (a completed request resets the count). A 206 with a Content-Range
 *    other than the range asked for (-AMP_EBADRANGE, nothing of it delivered) gets a
 *    round as well. Any other failure, or one round too many, is on_error, and nothing
 *    more is requested until fetcher_seek or fetcher_rebase.
 *  - A server that ignores Range (200 instead of 206; net/http delivers no byte of it,
 *    -AMP_ENORANGE) is recovered: from then on this fetcher asks without a Range and
 *    reads the file from its first byte, keeps only the bytes of the chunks in flight
 *    and stops the transfer once they are full (the rest of the file is never read).
 *    Memory stays what the chunks hold; the cost is bandwidth, the n-th segment reading
 *    the n segments before it. One warning is logged.
 *  - A 401, 403 or 410, or the audio object's expires passing before a request starts, calls
 *    on_expired once and stops fetching until fetcher_rebase() with a fresh audio object.
 *    A partly received segment is dropped (another session's bytes are another key
 *    variant's). Two expiries with no segment completed in between are on_error
 *    (-EACCES): a fresh audio object that is refused at once will not get better.
 *
 * Callbacks never run from inside a fetcher_* call: they run from the loop (a timer of
 * the fetcher's own), never after fetcher_free (also when it is called from a callback).
 * Everything here belongs to the loop's thread; the media thread reaches it only through
 * the caller (loop_post). Header values and URLs' queries are never logged.
 */

struct loop;
struct http;
struct http_header;
struct manifest_rep;
struct fetcher;

/* Bounds. */
#define FETCHER_SEGMENT_MAX (32u << 20)       /* bytes of one media segment (as media/mp4) */
#define FETCHER_INIT_MAX (1u << 20)           /* bytes of one init segment */
#define FETCHER_HELD_MAX 256u                 /* chunks held (handed out, not released) */
#define FETCHER_TARGET_MS_DEFAULT 30000u      /* media fetched ahead */
#define FETCHER_CAP_DEFAULT (4u << 20)        /* bytes held */
#define FETCHER_MERGE_GAP_DEFAULT (64u << 10) /* bytes between init and first range read */
#define FETCHER_RETRY_ROUNDS_MAX 100u
#define FETCHER_RETRY_ROUNDS_DEFAULT 5u
#define FETCHER_RETRY_BASE_MS_DEFAULT 1000u
#define FETCHER_RETRY_CAP_MS_DEFAULT 16000u

struct fetcher_config {
  uint32_t target_ms;     /* media to hold ahead (> 0) */
  size_t cap_bytes;       /* bytes to hold (> 0); see the bound above */
  uint32_t merge_gap;     /* 0: merge only adjacent ranges */
  int64_t expires_ms;     /* the audio object's expires, epoch ms (wall clock); 0: none */
  uint32_t retry_rounds;  /* rounds after net/http gave up (<= FETCHER_RETRY_ROUNDS_MAX) */
  uint32_t retry_base_ms; /* the first round's backoff is up to this (> 0) */
  uint32_t retry_cap_ms;  /* no round waits longer (>= retry_base_ms) */
};

/* Defaults: 30 s, 4 MiB, 64 KiB, no expiry, 5 rounds from 1 s up to 16 s. */
void fetcher_config_init(struct fetcher_config *c);

enum fetcher_kind {
  FETCHER_INIT,
  FETCHER_SEGMENT,
};

/* Why an init is handed out. */
enum fetcher_init_reason {
  FETCHER_INIT_FIRST,  /* the track's first */
  FETCHER_INIT_SWITCH, /* fetcher_switch took effect: another rep from here on */
  FETCHER_INIT_REBASE, /* a fresh audio object (new session, maybe a new KID) */
  FETCHER_INIT_SEEK,   /* fetcher_seek: a new pipeline from here */
};

struct fetcher_chunk {
  enum fetcher_kind kind;
  enum fetcher_init_reason reason; /* FETCHER_INIT only */
  bool new_init;                   /* FETCHER_INIT and reason != FIRST */
  /* The rep as the caller passed it to fetcher_new/switch/rebase (never dereferenced
   * by the fetcher after that call: it is for the caller to recognise). */
  const struct manifest_rep *rep;
  size_t index;    /* the segment's index; an init: the index of the segment it precedes */
  bool last;       /* FETCHER_SEGMENT: the rep's last segment */
  uint64_t offset; /* file offset of data[0] */
  const uint8_t *data;
  size_t len;
  /* FETCHER_SEGMENT: the manifest's time of the segment (informational, docs/media.md
   * §3: the tfdt decides), in timescale units. */
  uint64_t start, duration;
  uint32_t timescale;
};

struct fetcher_callbacks {
  /* Required. c and its bytes stay valid until the segment is released (see above). */
  void (*on_chunk)(void *userdata, const struct fetcher_chunk *c);
  /* Required: fetch a fresh audio object and call fetcher_rebase. */
  void (*on_expired)(void *userdata);
  /* Required: fetching stopped with err (see the top). */
  void (*on_error)(void *userdata, int err);
  /* Optional: one completed transfer of bytes in usec (for ABR). */
  void (*on_throughput)(void *userdata, uint64_t bytes, uint64_t usec);
  void *userdata;
};

/*
 * A fetcher for rep (an https rep with an init range and at least one segment, every
 * segment at most FETCHER_SEGMENT_MAX bytes and the init at most FETCHER_INIT_MAX),
 * starting at segment first_index (<= n_segments), with n headers (<= HTTP_MAX_HEADERS)
 * sent on every request. rep and the headers are copied: the manifest need not outlive
 * the call. Fetching starts from the next loop pass.
 * 0, -EINVAL (NULL, a callback missing, a bad config, a rep that breaks the rules
 * above, a bad header), -AMP_ETOOBIG (a bound), -ENOMEM.
 */
int fetcher_new(struct loop *l, struct http *h, const struct fetcher_config *cfg,
                const struct fetcher_callbacks *cb, const struct manifest_rep *rep,
                const struct http_header *headers, size_t n, size_t first_index,
                struct fetcher **ret);

/* Cancel the request in flight, free every chunk (released or not) and the fetcher. No
 * callback runs after this, also when it is called from a callback. Accepts NULL. */
void fetcher_free(struct fetcher *f);

/* The consumer is done with segment index (and the init before it): its bytes are
 * freed and make room under the cap. 0, or -ENOENT when no such segment is held. */
int fetcher_release(struct fetcher *f, size_t index);

/* The consumer has a copy of the chunk of this kind and index that on_chunk handed out:
 * its bytes are freed now and its data becomes NULL. It stays held (fetcher_held_bytes,
 * fetcher_buffered_ms, the cap and the target count it) until fetcher_release(index).
 * 0; -ENOENT when no such chunk was handed out, or its bytes are already freed. */
int fetcher_handed(struct fetcher *f, enum fetcher_kind kind, size_t index);

/* Change target_ms (> 0) from now on: a lower one requests nothing more until the media
 * held is under it (nothing held is dropped), a higher one may start a request at the next
 * loop pass. Callable from a callback. 0, or -EINVAL. */
int fetcher_set_target(struct fetcher *f, uint32_t target_ms);

/*
 * ABR: from the next segment not yet requested on, fetch rep (its init first, handed
 * out as FETCHER_INIT_SWITCH before that segment) at the same index. rep must have the
 * same segment layout as the current one: as many segments, each starting and lasting
 * the same (within 1 ms); -EINVAL otherwise (and for the rules of fetcher_new).
 * Switching back before it took effect cancels it. rep is copied.
 */
int fetcher_switch(struct fetcher *f, const struct manifest_rep *rep);

/*
 * A fresh audio object after on_expired (or before, to renew ahead): its rep (the same
 * rep of the new session's manifest), its audioSegmentHeaders and expires. The request in
 * flight is cancelled and its partial segment dropped; fetching continues at the same
 * segment index, new init first (FETCHER_INIT_REBASE). rep is the rep from here on: a
 * switch still pending is dropped (pass its target's rep of the new manifest to keep
 * it). Chunks already handed out stay valid (they are the old session's: the init
 * handed out before them is the one they decrypt with). 0, -EINVAL (a layout other than
 * the current rep's, as for fetcher_switch: the fetcher is then unchanged),
 * -AMP_ETOOBIG, -ENOMEM.
 */
int fetcher_rebase(struct fetcher *f, const struct manifest_rep *rep,
                   const struct http_header *headers, size_t n, int64_t expires_ms);

/*
 * Continue at segment index (<= n_segments; n_segments: nothing more to fetch): the
 * request in flight is cancelled, and every chunk not yet released is freed (the caller
 * has stopped the media thread's use of them). The init is handed out again
 * (FETCHER_INIT_SEEK) before the segment. Clears a stop after on_error; not one after
 * on_expired (that needs fetcher_rebase). 0 or -EINVAL.
 */
int fetcher_seek(struct fetcher *f, size_t index);

/* Media held: the duration of the segments handed out and not released, in ms. */
uint64_t fetcher_buffered_ms(const struct fetcher *f);
/* Bytes held: chunks handed out and not released (fetcher_handed or not), plus the
 * request in flight's buffers. */
size_t fetcher_held_bytes(const struct fetcher *f);
/* The index of the next segment to be requested (n_segments at the end). */
size_t fetcher_next_index(const struct fetcher *f);

#endif
