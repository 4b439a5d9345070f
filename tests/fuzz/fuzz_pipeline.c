/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for media/pipeline: init + media segments -> PCM, so that demux,
 * CENC decrypt (the real ClearKey plugin through cdmhost), decode, trim and the timeline
 * checks are fuzzed together. Input layout (big-endian):
 *   u8 flags    bit0: attach a ClearKey session holding FUZZ_KID/FUZZ_KEY
 *               bit1: a u32 follows: pipeline_expect_end(that many ms)
 *               bit2: two u32 follow: the valid interval [start, end) in output frames,
 *                     set by pipeline_seek() after pipeline_new()
 *   u24 len, init segment
 *   then any number of (u24 len, media segment); a length past the end takes the rest.
 * Segments sit one after the other in a notional file (file_offset = init length + the
 * segments before). The seed corpus is ampack output in this framing (ampack --seed 1
 * --track-id fuzz: its KID and key are the ones below).
 *
 * Checked: every return value is in the documented set; the PCM handed out per segment
 * never exceeds what the segment's own sample durations allow (counted from an
 * independent mp4 parse), every PCM value is in the range of its bit depth and readable,
 * the timeline never reports an end before its start, and a segment that failed after
 * handing out frames leaves the pipeline refusing it (-EINVAL, nothing handed out) until
 * a seek: no frame goes out twice.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ampd/cdm.h>

#include "fuzz.h"
#include "core/err.h"
#include "media/cdmhost.h"
#include "media/mp4.h"
#include "media/pipeline.h"

static const uint8_t FUZZ_KID[16] = {0xda, 0xfd, 0xdb, 0x14, 0x5f, 0x1b, 0x4a, 0x40,
                                     0xb2, 0x27, 0x3b, 0x65, 0xee, 0x4a, 0x2c, 0x3c};
static const uint8_t FUZZ_KEY[16] = {0xb1, 0x79, 0xb3, 0x70, 0x4d, 0xc1, 0xf5, 0xf9,
                                     0x81, 0x24, 0x45, 0x66, 0x73, 0x5a, 0xd9, 0x33};

/* The CDM is opened once for the process: dlopen per input would be most of the time. */
static struct cdmhost *cdm;
static uint32_t cdm_session;

static void cdm_open_once(void) {
  static int tried;
  struct cdmhost_key k;
  uint8_t kids[1][16];
  uint8_t *init = NULL, *challenge = NULL;
  char *license = NULL;
  size_t ilen = 0, clen = 0, llen = 0;
  if (tried)
    return;
  tried = 1;
  memcpy(k.kid, FUZZ_KID, 16);
  memcpy(k.key, FUZZ_KEY, 16);
  memcpy(kids[0], FUZZ_KID, 16);
  struct cdmhost_options opt = {.plugin_dir = FUZZ_CLEARKEY_DIR};
  CHECK(cdmhost_open("clearkey", &opt, &cdm) == 0);
  CHECK(cdmhost_session_open(cdm, &cdm_session) == 0);
  CHECK(cdmhost_keyids_init_data((const uint8_t(*)[16])kids, 1, &init, &ilen) == 0);
  CHECK(cdmhost_generate_request(cdm, cdm_session, AMPD_CDM_INIT_KEYIDS, init, ilen, &challenge,
                                 &clen) == 0);
  CHECK(cdmhost_clearkey_license(&k, 1, 0, &license, &llen) == 0);
  CHECK(cdmhost_update(cdm, cdm_session, (const uint8_t *)license, llen) == 0);
  free(init);
  free(challenge);
  free(license);
}

static int is_one_of(int r, const int *set, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (r == set[i])
      return 1;
  return 0;
}

/* pipeline_new: mp4_init_parse, decoder_new, mehd scaling (pipeline.h). */
static const int new_errors[] = {0,         -EINVAL,      -ENOMEM,           -ERANGE,
                                 -AMP_EMP4, -AMP_ETOOBIG, -AMP_EUNSUPPORTED, -AMP_EDECODE};
/* pipeline_segment: demux, CDM decrypt, decode, the timeline checks (pipeline.h). */
static const int segment_errors[] = {0,
                                     -EINVAL,
                                     -ENOMEM,
                                     -ENOBUFS,
                                     -ERANGE,
                                     -AMP_EMP4,
                                     -AMP_ETOOBIG,
                                     -AMP_EUNSUPPORTED,
                                     -AMP_EDRM,
                                     -AMP_ENOKEY,
                                     -AMP_EKEYEXPIRED,
                                     -AMP_EDECODE,
                                     -AMP_EDECRYPT,
                                     -AMP_EGAP};

struct sink {
  struct pcm_format f;
  size_t max_frames;
  uint64_t frames;
};

static int sink_pcm(void *userdata, const int32_t *pcm, size_t frames) {
  struct sink *k = userdata;
  CHECK(pcm != NULL && frames > 0 && frames <= k->max_frames);
  int32_t lim = (int32_t)1 << (k->f.bits - 1);
  for (size_t i = 0; i < frames * k->f.channels; i++)
    CHECK(pcm[i] >= -lim && pcm[i] < lim);
  k->frames += frames;
  return 0;
}

static uint32_t rd(const uint8_t *p, int n) {
  uint32_t v = 0;
  for (int i = 0; i < n; i++)
    v = v << 8 | p[i];
  return v;
}

/* The most frames a segment may give: each sample at most its duration in output frames
 * (rounded up) -- counted from our own parse, not the pipeline's. */
static uint64_t frame_bound(const struct mp4_init *in, uint32_t rate, const uint8_t *buf,
                            size_t len, uint64_t file_offset) {
  struct mp4_segment *seg = NULL;
  uint64_t bound = 0;
  uint32_t ts = mp4_init_track(in)->timescale;
  if (mp4_segment_parse(in, buf, len, file_offset, &seg) < 0)
    return 0;
  for (size_t i = 0; i < mp4_segment_sample_count(seg); i++) {
    struct mp4_sample s;
    CHECK(mp4_segment_sample(seg, i, &s) == 0);
    bound += ((uint64_t)s.duration * rate + ts - 1) / ts + 1;
  }
  mp4_segment_free(seg);
  return bound;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct pipeline *p = NULL;
  struct pipeline_config cfg = {.start = 0, .end = INT64_MAX};
  struct sink k = {0};
  size_t pos = 1;
  int r;

  if (size < 4)
    return 0;
  uint8_t flags = data[0];
  uint32_t end_ms = 0, iv_start = 0, iv_end = 0;
  if (flags & 2) {
    if (size - pos < 4)
      return 0;
    end_ms = rd(data + pos, 4);
    pos += 4;
  }
  if (flags & 4) {
    if (size - pos < 8)
      return 0;
    iv_start = rd(data + pos, 4);
    iv_end = rd(data + pos + 4, 4);
    pos += 8;
  }
  if (size - pos < 3)
    return 0;
  size_t ilen = rd(data + pos, 3);
  pos += 3;
  if (ilen > size - pos)
    ilen = size - pos;
  r = pipeline_new(data + pos, ilen, &cfg, &p);
  CHECK(is_one_of(r, new_errors, sizeof(new_errors) / sizeof(new_errors[0])));
  if (r < 0)
    return 0;
  pos += ilen;
  uint64_t file_offset = ilen;

  pipeline_get_format(p, &k.f);
  CHECK(k.f.channels >= 1 && k.f.channels <= 8 && k.f.bits >= 8 && k.f.bits <= 32 && k.f.rate);
  k.max_frames = 65535; /* FLAC max_blocksize; Opus at most 5760 */
  if (flags & 1) {
    cdm_open_once();
    pipeline_set_cdm(p, cdm, cdm_session);
  }
  if (flags & 2)
    CHECK(pipeline_expect_end(p, end_ms, 1000) == 0);
  if (flags & 4) {
    r = pipeline_seek(p, iv_start, iv_end);
    CHECK(r == 0 || (r == -EINVAL && iv_end < iv_start));
  }

  while (size - pos >= 3) {
    size_t len = rd(data + pos, 3);
    pos += 3;
    if (len > size - pos)
      len = size - pos;
    uint64_t before = k.frames, n = 0;
    uint64_t bound = frame_bound(pipeline_init(p), k.f.rate, data + pos, len, file_offset);
    r = pipeline_segment(p, data + pos, len, file_offset, sink_pcm, &k, &n);
    CHECK(is_one_of(r, segment_errors, sizeof(segment_errors) / sizeof(segment_errors[0])));
    CHECK(k.frames - before <= bound);
    if (r == 0)
      CHECK(n == k.frames - before);
    struct pipeline_timeline t;
    pipeline_get_timeline(p, &t);
    if (t.fed)
      CHECK(t.reached >= t.first);
    if (r < 0 && k.frames > before) {
      uint64_t after = k.frames;
      CHECK(pipeline_segment(p, data + pos, len, file_offset, sink_pcm, &k, &n) == -EINVAL);
      CHECK(k.frames == after);
    }
    pos += len;
    file_offset += len;
    if (r < 0)
      break;
  }
  r = pipeline_finish(p);
  CHECK(r == 0 || r == -AMP_ESHORT);
  pipeline_free(p);
  return 0;
}
