/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_MEDIA_ABR_H
#define AMPD_MEDIA_ABR_H

/*
 * Adaptive bitrate: which representation the next media segment comes from.
 *
 * Pure logic: no I/O, no threads, no clock. Time comes in as arguments (transfer
 * durations, the buffer level), so the same inputs always give the same answers.
 *
 * One struct abr per player, kept across tracks: it holds the throughput estimate (the
 * link does not change when the track does) and the switching state (hysteresis).
 * The caller
 *  - feeds abr_sample() with every completed body transfer (or burst of chunks): bytes
 *    and the microseconds the body took;
 *  - asks abr_choose() once per media segment, before fetching it: the answer is the
 *    rep for that segment, so a switch only ever happens at a segment boundary.
 * The rules, the constants and why are in docs/media.md §13.
 *
 * Threads: a struct abr is used by one thread at a time (the fetcher's, the loop thread);
 * nothing in it blocks. abr_estimate_bps() may be read by that thread for the status.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "media/manifest.h"

/* Transfers smaller than this are not samples: a request that small measures latency and
 * TCP slow start, not throughput. */
#define ABR_MIN_SAMPLE_BYTES (32u << 10)
/* A counted transfer takes at least this long: a body that arrives faster came out of a
 * socket buffer, and the time measured says nothing at that resolution. */
#define ABR_MIN_SAMPLE_USEC 20000u
/* Rates in struct abr_constraints.rates. */
#define ABR_MAX_RATES 16u
/* The longest capability string abr_capability_string() writes, with its NUL. */
#define ABR_CAPABILITY_MAX 32u
/* The highest rate can_resample lets a switch take without the device taking it: a rep
 * above 48 kHz resampled to the rate the device is open at is no better than the 48 kHz
 * one, only dearer. */
#define ABR_RESAMPLE_MAX_RATE 48000u

/* Tunables. abr_config_default() fills the defaults named here. */
struct abr_config {
  uint64_t initial_bps;       /* the estimate before any sample (2 000 000) */
  uint32_t fast_half_life_ms; /* EWMA half-lives, in transfer time (5000, 15000) */
  uint32_t slow_half_life_ms;
  uint32_t safety_pct;      /* sustainable = estimate x safety_pct / 100 (80) */
  uint32_t up_margin_pct;   /* step up when sustainable >= bandwidth x margin / 100 (125) */
  uint32_t low_water_ms;    /* below it, step down one rung whatever the estimate (5000) */
  uint32_t high_water_ms;   /* at or above it, a step up is allowed (15000) */
  uint32_t up_min_segments; /* segments at the current rep before a step up (3) */
};

/* X-Amzn-Audio-Device-Capability values (docs/service.md §5) that ampd can decode. */
#define ABR_CAP_STD_RES 0x1u /* Opus */
#define ABR_CAP_HI_FI 0x2u   /* FLAC 16-bit, 44.1 (and 48) kHz */
#define ABR_CAP_HI_RES 0x4u  /* FLAC 24-bit (or above 48 kHz) up to 192 kHz; includes HI_FI */

/*
 * What limits the choice. A rep is usable when all of these hold (abr_rep_usable):
 *  - its codec is "opus" or "flac" (ampd's decoders); ec-3, mha1 and any set whose
 *    trackType is 3D are spatial and never usable, any other codec (or none) neither;
 *  - the configured capabilities allow it: Opus needs STD_RES; FLAC of at most 16 bits and
 *    48 kHz needs HI_FI or HI_RES; deeper or faster FLAC needs HI_RES and at most 192 kHz.
 *    A FLAC rep without a bitDepth is taken as 24-bit (it may be);
 *  - the device takes its rate: rates[0..n_rates) when n_rates > 0, else
 *    [rate_min, rate_max] (rate_max 0: no upper bound); a rep without a rate is refused.
 *    A track always starts on such a rep (the device may have to be opened at its rate).
 *    With can_resample a switch within a track (abr_choose with a current_rep) may also
 *    take a rep of at most ABR_RESAMPLE_MAX_RATE that the device does not take: the engine
 *    keeps the device open at its rate and resamples (docs/media.md §13, §16);
 *  - FLAC only: its bit depth is at most max_bit_depth (0: no limit; S32 devices say 32).
 *    Opus has no bit depth of its own: it is decoded to whatever the device takes.
 * Borrowed: rates must outlive the call.
 */
struct abr_constraints {
  uint32_t caps; /* ABR_CAP_* */
  const uint32_t *rates;
  size_t n_rates; /* at most ABR_MAX_RATES */
  uint32_t rate_min;
  uint32_t rate_max;
  uint32_t max_bit_depth;
  bool can_resample; /* a switch within a track is resampled (libsoxr) on the open device */
};

/* Why a rep is not usable (abr_rep_usable). */
enum abr_verdict {
  ABR_USABLE = 0,
  ABR_NO_DECODER, /* an unknown or missing codec */
  ABR_SPATIAL,    /* ec-3, mha1, or a trackType 3D set */
  ABR_CAPABILITY, /* the configured capabilities do not include it */
  ABR_RATE,       /* the device does not take its rate (and no resampling) */
  ABR_DEPTH,      /* deeper than the device */
};

struct abr;

void abr_config_default(struct abr_config *ret_cfg);

/*
 * A new ABR state; cfg NULL means the defaults. *ret owned by the caller (abr_free).
 * Errors: -EINVAL (a zero half-life, safety_pct 0 or above 100, up_margin_pct below 100,
 * high_water_ms below low_water_ms), -ENOMEM.
 */
int abr_new(const struct abr_config *cfg, struct abr **ret);
/* Accepts NULL. */
void abr_free(struct abr *abr);

/*
 * One completed transfer: bytes of body in usec microseconds. Fewer than
 * ABR_MIN_SAMPLE_BYTES is ignored (returns 0, the estimate unchanged); a shorter time
 * than ABR_MIN_SAMPLE_USEC counts as ABR_MIN_SAMPLE_USEC. A caller that samples during a
 * transfer (to see a drop before the segment ends) adds up its chunks into bursts of at
 * least ABR_MIN_SAMPLE_BYTES: libcurl's 16 KiB writes alone would all be ignored. Since the
 * averages are weighted by time, bursts at one rate weigh as the whole transfer would.
 * Errors: -EINVAL (abr NULL).
 */
int abr_sample(struct abr *abr, uint64_t bytes, uint64_t usec);

/* The estimate in bit/s: the lower of the fast and slow EWMA, or initial_bps before any
 * counted sample. */
uint64_t abr_estimate_bps(const struct abr *abr);
/* Counted samples so far (ignored ones not included). */
uint64_t abr_sample_count(const struct abr *abr);

/*
 * The rep for the next media segment.
 * current_rep: the rep of the segment before it, a rep of m; NULL at a track start or after
 * a seek (the buffer was just emptied and says nothing about the link): the choice is then
 * the best usable rep of any set of m's first period that the estimate sustains (going
 * above the previous answer's bandwidth, even of another track, needs the up margin).
 * Otherwise the choice stays within current_rep's set and its switch targets (HD FLAC <->
 * SD Opus), by the rules of docs/media.md §13. buffer_ms: media buffered ahead of the
 * playhead. Call it once per segment: the up gate counts the calls.
 * *ret_rep points into m. A current_rep that is no longer usable (the constraints
 * changed) is treated as NULL.
 * Errors: -EINVAL (NULL args, current_rep not in m's first period, n_rates above
 * ABR_MAX_RATES, rates NULL with n_rates > 0), -AMP_EUNSUPPORTED (no usable rep: nothing
 * in the manifest that this device and these capabilities can play).
 */
int abr_choose(struct abr *abr, const struct manifest *m, const struct manifest_rep *current_rep,
               uint32_t buffer_ms, const struct abr_constraints *c,
               const struct manifest_rep **ret_rep);

/* Whether rep may start a track under c, and if not why (see struct abr_constraints). */
enum abr_verdict abr_rep_usable(const struct manifest_rep *rep, const struct abr_constraints *c);
/* "usable", "no decoder", ... Never NULL. */
const char *abr_verdict_name(enum abr_verdict v);

/*
 * The X-Amzn-Audio-Device-Capability value for c (docs/service.md §5): the comma list,
 * no spaces, in the order STD_RES,HI_FI,HI_RES, of the capabilities c allows AND the device
 * can play: STD_RES needs 48 kHz, HI_FI 44.1 kHz and 16 bits (with can_resample either
 * rate may be one the device does not take: such reps can still be switched to within a
 * track), HI_RES 24 bits and a device rate of 44.1 ... 192 kHz (never by resampling).
 * HI_RES configured implies HI_FI.
 * Spatial capabilities are never sent (no decoder). At most ABR_CAPABILITY_MAX bytes.
 * Errors: -EINVAL (NULL args, bad rates as abr_choose), -AMP_EUNSUPPORTED (nothing left),
 * -AMP_ETOOBIG (buf too small; buf then holds "").
 */
int abr_capability_string(const struct abr_constraints *c, char *buf, size_t len);

#endif
