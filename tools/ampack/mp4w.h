/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPACK_MP4W_H
#define AMPACK_MP4W_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "es.h"

/*
 * Fragmented MP4 writer: one file per representation = init segment (ftyp + moov), a
 * sidx over all media segments, then media segments of MP4W_SEGMENT_S seconds of media
 * time (moof + mdat each). With encryption, segments that start inside the clear lead are
 * clear (form A: sample description 2, a clear copy of the entry; form B with
 * MP4W_H_SEIG: 'seig' groups with isProtected=0), the rest 'cenc' whole-sample
 * encrypted (or with subsamples under MP4W_H_SUBSAMPLE).
 */

#define MP4W_MAX_FILE (1024u << 20) /* bytes of one output file */
#define MP4W_MAX_SEGMENTS 4096      /* ~11 h at 10 s */
#define MP4W_SEGMENT_S 10
#define MP4W_MAX_PSSH 256 /* bytes of one pssh box we write */

/* Hostile forms for parser tests (--hostile). */
enum {
  MP4W_H_SEIG = 1 << 0,      /* clear lead as 'seig' sample groups, one (enca) entry */
  MP4W_H_IV16 = 1 << 1,      /* 16-byte per-sample IVs */
  MP4W_H_SUBSAMPLE = 1 << 2, /* senc with subsamples (flags 2) */
  MP4W_H_TFDT0 = 1 << 3,     /* tfdt version 0 */
  MP4W_H_MULTIMOOF = 1 << 4, /* two moof+mdat pairs per segment */
};

struct mp4w_opts {
  int encrypt;            /* 0: the clear twin (no sinf, no pssh) */
  uint8_t kid[16];        /* default_KID */
  uint8_t key[16];        /* content key */
  uint8_t iv[8];          /* IV of the first sample; +1 per sample */
  uint32_t clear_lead_s;  /* segments starting before this are clear */
  unsigned hostile;       /* MP4W_H_* */
  const char *content_id; /* Widevine pssh content_id (short text) */
  /* Whole pssh boxes to write instead of ampack's own (a key provider's: SPEKE), each
   * <= MP4W_MAX_PSSH bytes: [0] Widevine, [1] the W3C common system. NULL: made here. */
  const uint8_t *pssh[2];
  size_t pssh_len[2];
};

struct mp4w_seg {
  uint64_t off, size; /* byte range in the file */
  uint64_t start;     /* tfdt, media timescale */
  uint64_t dur;       /* media timescale */
  int encrypted;
};

struct mp4w_out {
  struct buf file;
  uint64_t init_size; /* the init segment is bytes [0, init_size) */
  uint64_t sidx_off, sidx_size;
  struct mp4w_seg seg[MP4W_MAX_SEGMENTS];
  size_t n_seg;
  uint32_t max_bps; /* worst-case bit rate over segments */
};

/* Build the file. out must be zeroed or mp4w_out_done'd; free with mp4w_out_done.
 * 0, -EINVAL, -ENOMEM, -AMP_ETOOBIG. */
int mp4w_write(const struct es *es, const struct mp4w_opts *o, struct mp4w_out *out);
void mp4w_out_done(struct mp4w_out *out);

/* The pssh boxes, whole, for the MPD's cenc:pssh. Widevine-shaped (v0, protobuf with the KID,
 * provider "ampack", content_id, scheme 'cenc') and W3C common (v1, the KID, no data).
 * Return the box length, or a negative error. */
int mp4w_pssh_widevine(const uint8_t kid[16], const char *content_id, uint8_t *out, size_t max);
int mp4w_pssh_common(const uint8_t kid[16], uint8_t *out, size_t max);

#endif
