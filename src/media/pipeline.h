/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_MEDIA_PIPELINE_H
#define AMPD_MEDIA_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "media/pcm.h"

/*
 * pipeline: the media thread's chain for one Representation —
 *     fMP4 segment -> mp4 demux -> CDM decrypt (encrypted samples only) -> decode -> trim
 * handing out PCM that is sample-accurate by presentation time (docs/media.md §7): priming
 * before pts 0 (the edit list) is dropped, the shortened last sample is cut to its
 * duration, and anything outside [start, end) is dropped, so a seek or a rep switch gets
 * exactly the frames from its target on.
 *
 * Decryption goes through a CDM session (src/media/cdmhost.h); the pipeline never sees a
 * key. Decrypted bytes live only in one scratch buffer in memory, reused per sample.
 *
 * Damaged content must not pass as a good decode. The pipeline checks the timeline:
 *  - Continuity: every sample fed must start where the one before it ended (decode time
 *    plus duration), within PIPELINE_GAP_TOLERANCE_MS; the first sample fed after
 *    pipeline_new() or pipeline_seek() must start at or before the interval start (within
 *    the same tolerance). Otherwise pipeline_segment() fails with -AMP_EGAP before it
 *    decodes anything of that segment: a repeated fragment is refused at its second copy,
 *    a missing or misplaced one where the jump is.
 *  - Declared duration: the caller declares where the media ends (pipeline_expect_end():
 *    the MPD's mediaPresentationDuration, the sidx, ...; the init's mehd is declared by
 *    pipeline_new() itself) and calls pipeline_finish() after the last segment, which
 *    fails with -AMP_ESHORT when the media stopped more than PIPELINE_END_TOLERANCE_MS
 *    before min(declared end, interval end), or when no sample was fed at all.
 *  - A sample that fails to decode after the CDM decrypted it gives -AMP_EDECRYPT (a wrong
 *    key is the likely cause: decryption with it succeeds and yields noise); a clear
 *    sample that fails gives -AMP_EDECODE.
 * CENC has no integrity check: a flipped byte in an encrypted sample decrypts to a flipped
 * byte of the coded audio. FLAC then fails its frame CRC (-AMP_EDECRYPT); Opus has no
 * checksum and usually decodes it to a short audible glitch without any error.
 *
 * Time arithmetic: sample times are converted from the media timescale to output frames
 * as floor(t * rate / timescale), exact for every int64 t and 32-bit scale; a time whose
 * end (pts + duration) or converted value leaves int64 fails with -ERANGE, never wraps.
 *
 * Memory: pipeline_new() allocates everything (a scratch buffer for one sample of at most
 * DECODER_MAX_SAMPLE bytes, a PCM buffer of one decoded sample); pipeline_segment()
 * allocates only the demuxer's per-segment sample table (bounded by MP4_MAX_SAMPLES).
 * Threads: one pipeline is used by one thread at a time. No logging above debug.
 */

/* Tolerances of the timeline checks above. A jump of one Opus packet (20 ms) or one FLAC
 * frame is a gap; packager rounding of a tick or two is not. A declared end may differ
 * from the media by the codec priming a sidx counts (libopus: 6.5 ms; up to 80 ms) and
 * the millisecond rounding of an MPD duration. */
#define PIPELINE_GAP_TOLERANCE_MS 10
#define PIPELINE_END_TOLERANCE_MS 100

struct cdmhost;
struct mp4_init;
struct pipeline;

struct pipeline_config {
  /* The CDM session that holds this track's keys; NULL cdm: encrypted samples fail with
   * -AMP_ENOKEY. The session must stay open while the pipeline decodes. */
  struct cdmhost *cdm;
  uint32_t session;
  /* The valid interval in output frames (the media timescale scaled to the output rate):
   * frames before start or at/after end are dropped. {0, INT64_MAX} plays everything the
   * edit list keeps. */
  int64_t start;
  int64_t end;
};

/* Called with trimmed PCM (interleaved int32, pcm_format of the pipeline). Return 0 to go
 * on, or a negative error to stop pipeline_segment() with that error. */
typedef int (*pipeline_pcm_fn)(void *userdata, const int32_t *pcm, size_t frames);

/*
 * Open a pipeline from a Representation's init segment (copied; need not outlive the
 * call). An mvex/mehd fragment_duration in the init is declared as the end (see
 * pipeline_expect_end()). Every sample entry must carry the same codec configuration (the
 * clear-lead entry of form A is a copy of the protected one); otherwise -AMP_EUNSUPPORTED. Errors:
 * those of mp4_init_parse() and decoder_new(), -EINVAL, -ENOMEM, -ERANGE (mehd).
 */
int pipeline_new(const uint8_t *init, size_t len, const struct pipeline_config *cfg,
                 struct pipeline **ret);
void pipeline_free(struct pipeline *p);

void pipeline_get_format(const struct pipeline *p, struct pcm_format *ret);
const struct mp4_init *pipeline_init(const struct pipeline *p);
/* True when any sample entry of the init is protected (a CDM session is needed). */
int pipeline_is_protected(const struct pipeline *p);

/* Attach the CDM session that decrypts this track (after pipeline_is_protected() said one
 * is needed); NULL cdm detaches. */
void pipeline_set_cdm(struct pipeline *p, struct cdmhost *cdm, uint32_t session);

/* Frames of output to decode before a random-access target (decoder_preroll_frames). */
uint32_t pipeline_preroll_frames(const struct pipeline *p);

/* Change the valid interval (after a seek); also resets the decoder and the continuity
 * check, so the caller feeds from a segment that starts at least decoder_preroll_frames()
 * before start. This is the only way on after a pipeline_segment() that failed part-way
 * (see there). Errors: -EINVAL (end < start), those of decoder_reset() (the pipeline then
 * still needs a seek). */
int pipeline_seek(struct pipeline *p, int64_t start, int64_t end);

/*
 * Demux, decrypt, decode and trim one media segment (buf must hold it whole; file_offset
 * is the position of buf[0] in the file, for tfhd base_data_offset). pcm is called zero or
 * more times. Errors: those of mp4_segment_parse(), cdmhost_decrypt() (-AMP_ENOKEY,
 * -AMP_EKEYEXPIRED, -AMP_EUNSUPPORTED for a scheme other than 'cenc'), decoder_decode()
 * (-AMP_EDECODE; -AMP_EDECRYPT for a decrypted sample), -AMP_EGAP (continuity, above),
 * -ERANGE (a time out of range), -EINVAL, or what pcm returned. *ret_frames (may be NULL)
 * counts the frames handed out, set on success.
 *
 * After a failure: a segment that failed before its first sample reached the decoder (a
 * malformed segment, -AMP_EGAP, -ERANGE from the timeline check, or its first sample not
 * decrypting, e.g. -AMP_ENOKEY while the key is not there yet) changed nothing, and the
 * same or another segment can be fed in its place. A segment that failed later (a sample
 * after the first not decrypting or not decoding, the first not decoding, an error from
 * pcm) may have handed out some of its frames, and the decoder has moved on: every
 * pipeline_segment() then fails with -EINVAL, handing out nothing, until pipeline_seek().
 * So no frame is ever handed out twice. The timeline (pipeline_get_timeline(),
 * pipeline_finish()) counts only segments that succeeded.
 */
int pipeline_segment(struct pipeline *p, const uint8_t *buf, size_t len, uint64_t file_offset,
                     pipeline_pcm_fn pcm, void *userdata, uint64_t *ret_frames);

/*
 * Declare where the media ends: at `end` ticks of `timescale` from pts 0 (an MPD's
 * mediaPresentationDuration or Period@duration, the end of the last segment a manifest or
 * sidx lists: earliest_presentation_time + the sum of its durations). Several calls keep
 * the latest end. 0, -EINVAL (timescale 0) or -ERANGE (not representable in output frames).
 */
int pipeline_expect_end(struct pipeline *p, uint64_t end, uint32_t timescale);

/*
 * The caller fed its last segment: 0 when the media reached the declared end (see the
 * tolerances above; without a declaration, when anything was fed at all), else
 * -AMP_ESHORT. pipeline_get_timeline() says by how much.
 */
int pipeline_finish(const struct pipeline *p);

/* Where the timeline stands, in output frames. */
struct pipeline_timeline {
  int fed;          /* a sample was fed since pipeline_new() or the last pipeline_seek() */
  int64_t first;    /* pts of the first sample fed since then (valid when fed) */
  int64_t reached;  /* pts + duration of the last sample fed (valid when fed) */
  int64_t expected; /* the declared end, -1 when nothing was declared */
};
void pipeline_get_timeline(const struct pipeline *p, struct pipeline_timeline *ret);

#endif
