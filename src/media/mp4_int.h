/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_MEDIA_MP4_INT_H
#define AMPD_MEDIA_MP4_INT_H

/*
 * Internals shared by mp4.c (init segment) and mp4_seg.c (media segments): a bounded
 * big-endian reader, the box header walker, and the layout of struct mp4_init.
 * Not for use outside the mp4 module.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "media/mp4.h"

/* trex boxes kept from mvex (one per track of the file). */
#define MP4_MAX_TREX 32

/* A reader over [p, p+len). A read past the end returns zeros and sets bad, which the
 * caller checks once after a group of reads: no read ever leaves the range. */
struct mp4_rd {
  const uint8_t *p;
  size_t len;
  size_t pos;
  bool bad;
};

static inline struct mp4_rd mp4_rd_make(const uint8_t *p, size_t len) {
  struct mp4_rd r = {.p = p, .len = len, .pos = 0, .bad = false};
  return r;
}

static inline size_t mp4_rd_left(const struct mp4_rd *r) {
  return r->len - r->pos;
}

static inline bool mp4_rd_need(struct mp4_rd *r, size_t n) {
  if (r->bad || n > r->len - r->pos) {
    r->bad = true;
    return false;
  }
  return true;
}

static inline uint64_t mp4_rd_be(struct mp4_rd *r, unsigned n) {
  uint64_t v = 0;
  if (!mp4_rd_need(r, n))
    return 0;
  for (unsigned i = 0; i < n; i++)
    v = (v << 8) | r->p[r->pos + i];
  r->pos += n;
  return v;
}

static inline uint8_t mp4_rd_u8(struct mp4_rd *r) {
  return (uint8_t)mp4_rd_be(r, 1);
}
static inline uint16_t mp4_rd_u16(struct mp4_rd *r) {
  return (uint16_t)mp4_rd_be(r, 2);
}
static inline uint32_t mp4_rd_u24(struct mp4_rd *r) {
  return (uint32_t)mp4_rd_be(r, 3);
}
static inline uint32_t mp4_rd_u32(struct mp4_rd *r) {
  return (uint32_t)mp4_rd_be(r, 4);
}
static inline uint64_t mp4_rd_u64(struct mp4_rd *r) {
  return mp4_rd_be(r, 8);
}

static inline void mp4_rd_skip(struct mp4_rd *r, size_t n) {
  if (mp4_rd_need(r, n))
    r->pos += n;
}

static inline void mp4_rd_bytes(struct mp4_rd *r, void *dst, size_t n) {
  if (mp4_rd_need(r, n)) {
    memcpy(dst, r->p + r->pos, n);
    r->pos += n;
  } else {
    memset(dst, 0, n);
  }
}

/* The version and flags of a FullBox at r (ret_flags may be NULL). 0 or -AMP_EMP4 (too
 * short); the outputs are set only on success. */
int mp4_rd_fullbox(struct mp4_rd *r, uint8_t *ret_version, uint32_t *ret_flags);

/* A box header found by mp4_box_next(): the box is buf[start, start+size), its body
 * buf[start+hdr, start+size). */
struct mp4_box {
  uint32_t type;
  size_t start;
  size_t hdr;
  size_t size;
  uint8_t usertype[16]; /* for 'uuid' */
};

static inline const uint8_t *mp4_box_body(const uint8_t *buf, const struct mp4_box *b) {
  return buf + b->start + b->hdr;
}
static inline size_t mp4_box_body_len(const struct mp4_box *b) {
  return b->size - b->hdr;
}

/* Read the box at *pos inside buf[.., end). 1 = a box (and *pos moves past it), 0 = no
 * more boxes (*pos == end), -AMP_EMP4 = malformed: a header that does not fit, a size
 * smaller than its header or past end. size 0 means "to end", size 1 a 64-bit size. */
int mp4_box_next(const uint8_t *buf, size_t *pos, size_t end, struct mp4_box *ret);

/* Parse a 'tenc' body or a 'seig' sample group entry into c. 0 or -AMP_EMP4. */
int mp4_crypt_parse_tenc(struct mp4_rd *r, uint8_t version, struct mp4_crypt *c);
int mp4_crypt_parse_seig(struct mp4_rd *r, struct mp4_crypt *c);
/* Parse an sgpd body (after version/flags); append its 'seig' entries to out[*n]
 * (max MP4_MAX_SEIG). Sets *is_seig when grouping_type is 'seig'. 0, -AMP_EMP4, -AMP_ETOOBIG. */
int mp4_sgpd_parse(struct mp4_rd *r, uint8_t version, uint32_t *ret_grouping_type,
                   struct mp4_crypt *out, uint32_t *n, int16_t *ret_roll);

/* Parse a pssh box (whole box in buf[b]) into p, pointing into buf. 0 or -AMP_EMP4. */
int mp4_pssh_parse(const uint8_t *buf, const struct mp4_box *b, struct mp4_pssh *p);

struct mp4_trex {
  uint32_t track_id;
  uint32_t sample_description_index;
  uint32_t sample_duration;
  uint32_t sample_size;
  uint32_t sample_flags;
};

struct mp4_init {
  uint8_t *data; /* a copy of the init segment; every pointer below points into it */
  size_t len;
  uint32_t major_brand;
  struct mp4_track track;
  struct mp4_sample_entry entries[MP4_MAX_SAMPLE_ENTRIES];
  uint32_t entry_count;
  struct mp4_codec codecs[MP4_MAX_SAMPLE_ENTRIES]; /* validated, format 0 if not Opus/FLAC */
  struct mp4_crypt seig[MP4_MAX_SEIG];             /* stbl sgpd 'seig', index 1..n */
  uint32_t seig_count;
  struct mp4_trex trex[MP4_MAX_TREX]; /* all tracks: foreign trafs are walked too */
  uint32_t trex_count;
  struct mp4_pssh pssh[MP4_MAX_PSSH];
  size_t pssh_count;
};

#endif
