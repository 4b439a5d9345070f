/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_MEDIA_PIPELINE_H
#define AMPD_MEDIA_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "platform/output.h" /* struct pcm_format */

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
 * Memory: pipeline_new() allocates everything (a scratch buffer for one sample of at most
 * DECODER_MAX_SAMPLE bytes, a PCM buffer of one decoded sample); pipeline_segment()
 * allocates only the demuxer's per-segment sample table (bounded by MP4_MAX_SAMPLES).
 * Threads: one pipeline is used by one thread at a time. No logging above debug.
 */

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
 * call). Every sample entry must carry the same codec configuration (the clear-lead entry
 * of form A is a copy of the protected one); otherwise -AMP_EUNSUPPORTED.
 * Errors: those of mp4_init_parse() and decoder_new(), -EINVAL, -ENOMEM.
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

/* Change the valid interval (after a seek); also resets the decoder, so the caller feeds
 * from a segment that starts at least decoder_preroll_frames() before start. */
int pipeline_seek(struct pipeline *p, int64_t start, int64_t end);

/*
 * Demux, decrypt, decode and trim one media segment (buf must hold it whole; file_offset
 * is the position of buf[0] in the file, for tfhd base_data_offset). pcm is called zero or
 * more times. Errors: those of mp4_segment_parse(), cdmhost_decrypt() (-AMP_ENOKEY,
 * -AMP_EKEYEXPIRED, -AMP_EUNSUPPORTED for a scheme other than 'cenc'), decoder_decode()
 * (-AMP_EDECODE), or what pcm returned. *ret_frames (may be NULL) counts the frames
 * handed out, set on success.
 */
int pipeline_segment(struct pipeline *p, const uint8_t *buf, size_t len, uint64_t file_offset,
                     pipeline_pcm_fn pcm, void *userdata, uint64_t *ret_frames);

#endif
