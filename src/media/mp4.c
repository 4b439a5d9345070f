/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mp4: the init segment (ftyp + moov) and the box helpers shared with mp4_seg.c.
 * The parser only descends into the containers it knows (moov/trak/mdia/minf/stbl/stsd/
 * entry/sinf/schi, edts, mvex), so nesting is bounded by construction; the depth
 * argument is checked anyway so that a future container cannot undo that.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "media/mp4_int.h"

LOG_TOPIC("mp4");

#define FOURCC MP4_FOURCC

/* ---- shared helpers ---- */

int mp4_box_next(const uint8_t *buf, size_t *pos, size_t end, struct mp4_box *ret) {
  size_t p = *pos;
  if (p == end)
    return 0;
  if (p > end || end - p < 8)
    return -AMP_EMP4;
  struct mp4_rd r = mp4_rd_make(buf + p, end - p);
  uint64_t size = mp4_rd_u32(&r);
  uint32_t type = mp4_rd_u32(&r);
  if (size == 1)
    size = mp4_rd_u64(&r);
  else if (size == 0)
    size = end - p;
  if (type == FOURCC('u', 'u', 'i', 'd'))
    mp4_rd_bytes(&r, ret->usertype, 16);
  else
    memset(ret->usertype, 0, sizeof(ret->usertype));
  if (r.bad || size < r.pos || size > end - p)
    return -AMP_EMP4;
  ret->type = type;
  ret->start = p;
  ret->hdr = r.pos;
  ret->size = (size_t)size;
  *pos = p + (size_t)size;
  return 1;
}

int mp4_rd_fullbox(struct mp4_rd *r, uint8_t *ret_version, uint32_t *ret_flags) {
  uint8_t v = mp4_rd_u8(r);
  uint32_t f = mp4_rd_u24(r);
  if (r->bad)
    return -AMP_EMP4;
  *ret_version = v;
  if (ret_flags)
    *ret_flags = f;
  return 0;
}

static int iv_size_ok(uint8_t n) {
  return n == 0 || n == 8 || n == 16;
}

/* The common tail of tenc and seig: isProtected, Per_Sample_IV_Size, KID, constant IV. */
static int crypt_parse_tail(struct mp4_rd *r, struct mp4_crypt *c) {
  c->is_protected = mp4_rd_u8(r);
  c->iv_size = mp4_rd_u8(r);
  mp4_rd_bytes(r, c->kid, 16);
  c->constant_iv_size = 0;
  memset(c->constant_iv, 0, sizeof(c->constant_iv));
  if (r->bad || c->is_protected > 1 || !iv_size_ok(c->iv_size))
    return -AMP_EMP4;
  if (c->is_protected && c->iv_size == 0) {
    c->constant_iv_size = mp4_rd_u8(r);
    if (r->bad || (c->constant_iv_size != 8 && c->constant_iv_size != 16))
      return -AMP_EMP4;
    mp4_rd_bytes(r, c->constant_iv, c->constant_iv_size);
  }
  return r->bad ? -AMP_EMP4 : 0;
}

int mp4_crypt_parse_tenc(struct mp4_rd *r, uint8_t version, struct mp4_crypt *c) {
  mp4_rd_skip(r, 1);
  uint8_t pattern = mp4_rd_u8(r);
  c->crypt_byte_block = version ? pattern >> 4 : 0;
  c->skip_byte_block = version ? pattern & 0xf : 0;
  return crypt_parse_tail(r, c);
}

int mp4_crypt_parse_seig(struct mp4_rd *r, struct mp4_crypt *c) {
  mp4_rd_skip(r, 1);
  uint8_t pattern = mp4_rd_u8(r);
  c->crypt_byte_block = pattern >> 4;
  c->skip_byte_block = pattern & 0xf;
  return crypt_parse_tail(r, c);
}

int mp4_sgpd_parse(struct mp4_rd *r, uint8_t version, uint32_t *ret_grouping_type,
                   struct mp4_crypt *out, uint32_t *n, int16_t *ret_roll) {
  uint32_t type = mp4_rd_u32(r);
  uint32_t default_length = version == 1 ? mp4_rd_u32(r) : 0;
  if (version >= 2)
    mp4_rd_skip(r, 4); /* default_sample_description_index */
  uint32_t count = mp4_rd_u32(r);
  if (r->bad)
    return -AMP_EMP4;
  *ret_grouping_type = type;
  bool seig = type == FOURCC('s', 'e', 'i', 'g');
  bool roll = type == FOURCC('r', 'o', 'l', 'l') || type == FOURCC('p', 'r', 'o', 'l');
  if (!seig && !roll)
    return 0;
  for (uint32_t i = 0; i < count; i++) {
    uint32_t len = default_length;
    if (version == 1 && default_length == 0)
      len = mp4_rd_u32(r);
    if (version == 0)
      len = (uint32_t)mp4_rd_left(r); /* v0 has no lengths: the entry parses itself */
    if (r->bad || len > mp4_rd_left(r))
      return -AMP_EMP4;
    struct mp4_rd e = mp4_rd_make(r->p + r->pos, len);
    if (seig) {
      if (*n >= MP4_MAX_SEIG)
        return -AMP_ETOOBIG;
      int rc = mp4_crypt_parse_seig(&e, &out[*n]);
      if (rc < 0)
        return rc;
      (*n)++;
    } else {
      int16_t d = (int16_t)mp4_rd_u16(&e);
      if (e.bad)
        return -AMP_EMP4;
      if (i == 0 && ret_roll)
        *ret_roll = d;
    }
    /* v0 entries consume what they parsed; sized entries consume their length */
    mp4_rd_skip(r, version == 0 ? e.pos : len);
  }
  return r->bad ? -AMP_EMP4 : 0;
}

int mp4_pssh_parse(const uint8_t *buf, const struct mp4_box *b, struct mp4_pssh *p) {
  struct mp4_rd r = mp4_rd_make(mp4_box_body(buf, b), mp4_box_body_len(b));
  uint8_t version = mp4_rd_u8(&r);
  mp4_rd_skip(&r, 3);
  if (r.bad || version > 1)
    return -AMP_EMP4;
  memset(p, 0, sizeof(*p));
  p->version = version;
  mp4_rd_bytes(&r, p->system_id, 16);
  if (version == 1) {
    p->kid_count = mp4_rd_u32(&r);
    if (r.bad || p->kid_count > mp4_rd_left(&r) / 16)
      return -AMP_EMP4;
    p->kids = r.p + r.pos;
    mp4_rd_skip(&r, (size_t)p->kid_count * 16);
  }
  uint32_t data_size = mp4_rd_u32(&r);
  if (r.bad || data_size > mp4_rd_left(&r))
    return -AMP_EMP4;
  p->data = r.p + r.pos;
  p->data_size = data_size;
  p->box = buf + b->start;
  p->box_size = b->size;
  return 0;
}

/* ---- init segment ---- */

/* A trak while it is read; copied into the init when it is the chosen audio track. */
struct trak_state {
  struct mp4_track track;
  uint32_t handler;
  struct mp4_sample_entry entries[MP4_MAX_SAMPLE_ENTRIES];
  uint32_t entry_count;
  bool have_stsd;
  bool have_mdhd;
  struct mp4_crypt seig[MP4_MAX_SEIG];
  uint32_t seig_count;
};

static int parse_sinf(const uint8_t *buf, const struct mp4_box *sinf, struct mp4_sample_entry *e,
                      int depth) {
  size_t pos = sinf->start + sinf->hdr, end = sinf->start + sinf->size;
  struct mp4_box b;
  int rc;
  bool have_tenc = false;
  if (depth > MP4_MAX_DEPTH)
    return -AMP_EMP4;
  while ((rc = mp4_box_next(buf, &pos, end, &b)) > 0) {
    struct mp4_rd r = mp4_rd_make(mp4_box_body(buf, &b), mp4_box_body_len(&b));
    uint8_t v;
    if (b.type == FOURCC('f', 'r', 'm', 'a')) {
      e->format = mp4_rd_u32(&r);
      if (r.bad)
        return -AMP_EMP4;
    } else if (b.type == FOURCC('s', 'c', 'h', 'm')) {
      if (mp4_rd_fullbox(&r, &v, NULL) < 0)
        return -AMP_EMP4;
      e->scheme_type = mp4_rd_u32(&r);
      e->scheme_version = mp4_rd_u32(&r);
      if (r.bad)
        return -AMP_EMP4;
    } else if (b.type == FOURCC('s', 'c', 'h', 'i')) {
      size_t p2 = b.start + b.hdr, e2 = b.start + b.size;
      struct mp4_box c;
      while ((rc = mp4_box_next(buf, &p2, e2, &c)) > 0) {
        if (c.type != FOURCC('t', 'e', 'n', 'c'))
          continue;
        struct mp4_rd t = mp4_rd_make(mp4_box_body(buf, &c), mp4_box_body_len(&c));
        if (mp4_rd_fullbox(&t, &v, NULL) < 0)
          return -AMP_EMP4;
        e->tenc_version = v;
        rc = mp4_crypt_parse_tenc(&t, v, &e->tenc);
        if (rc < 0)
          return rc;
        have_tenc = true;
      }
      if (rc < 0)
        return rc;
    }
  }
  if (rc < 0)
    return rc;
  /* a sinf without frma or tenc cannot be decrypted nor decoded: say so now */
  if (e->format == FOURCC('e', 'n', 'c', 'a') || e->format == 0 || !have_tenc ||
      e->scheme_type == 0)
    return -AMP_EMP4;
  e->has_sinf = true;
  return 0;
}

/* Check the codec config of an entry and fill codec (format 0 for other codecs). */
static int check_codec(const struct mp4_sample_entry *e, struct mp4_codec *c) {
  memset(c, 0, sizeof(*c));
  if (e->format == MP4_FORMAT_OPUS) {
    struct mp4_rd r = mp4_rd_make(e->config, e->config_size);
    uint8_t version = mp4_rd_u8(&r);
    uint8_t channels = mp4_rd_u8(&r);
    mp4_rd_skip(&r, 2 + 4 + 2); /* PreSkip, InputSampleRate, OutputGain */
    uint8_t family = mp4_rd_u8(&r);
    if (family != 0)
      mp4_rd_skip(&r, 2u + channels);
    if (!e->config || r.bad || version != 0 || channels == 0)
      return -AMP_EMP4;
    *c = (struct mp4_codec){.format = MP4_FORMAT_OPUS,
                            .config = e->config,
                            .config_size = e->config_size,
                            .sample_rate = 48000,
                            .channels = channels,
                            .bits_per_sample = 16};
  } else if (e->format == MP4_FORMAT_FLAC) {
    struct mp4_rd r = mp4_rd_make(e->config, e->config_size);
    uint8_t h = mp4_rd_u8(&r);
    uint32_t blen = mp4_rd_u24(&r);
    if (!e->config || r.bad || (h & 0x7f) != 0 || blen != 34)
      return -AMP_EMP4;
    mp4_rd_skip(&r, 10);
    uint64_t v = mp4_rd_u64(&r); /* rate:20 channels-1:3 bps-1:5 total:36 */
    mp4_rd_skip(&r, 16);
    uint32_t rate = (uint32_t)(v >> 44);
    if (r.bad || rate == 0)
      return -AMP_EMP4;
    /* the other metadata blocks must tile the rest exactly */
    bool last = h & 0x80;
    while (!last && mp4_rd_left(&r) > 0) {
      h = mp4_rd_u8(&r);
      blen = mp4_rd_u24(&r);
      mp4_rd_skip(&r, blen);
      last = h & 0x80;
      if (r.bad || (h & 0x7f) == 127)
        return -AMP_EMP4;
    }
    *c = (struct mp4_codec){.format = MP4_FORMAT_FLAC,
                            .config = e->config,
                            .config_size = e->config_size,
                            .sample_rate = rate,
                            .channels = (uint8_t)(((v >> 41) & 7) + 1),
                            .bits_per_sample = (uint8_t)(((v >> 36) & 31) + 1)};
  }
  return 0;
}

static int parse_entry(const uint8_t *buf, const struct mp4_box *eb, uint8_t stsd_version,
                       struct mp4_sample_entry *e, int depth) {
  struct mp4_rd r = mp4_rd_make(mp4_box_body(buf, eb), mp4_box_body_len(eb));
  memset(e, 0, sizeof(*e));
  e->fourcc = eb->type;
  e->format = eb->type;
  mp4_rd_skip(&r, 6 + 2); /* reserved, data_reference_index */
  uint16_t qt_version = mp4_rd_u16(&r);
  mp4_rd_skip(&r, 6); /* revision, vendor */
  e->channel_count = mp4_rd_u16(&r);
  e->sample_size = mp4_rd_u16(&r);
  mp4_rd_skip(&r, 4);
  e->sample_rate = mp4_rd_u32(&r) >> 16;
  if (r.bad)
    return -AMP_EMP4;
  /* QuickTime sound descriptions v1/v2 append fields before the child boxes. In an
   * ISO stsd v1 the entry version belongs to AudioSampleEntryV1, which adds nothing. */
  if (stsd_version == 0 && qt_version == 1) {
    mp4_rd_skip(&r, 16);
  } else if (stsd_version == 0 && qt_version == 2) {
    mp4_rd_skip(&r, 4); /* sizeOfStructOnly */
    uint64_t bits = mp4_rd_u64(&r);
    uint32_t channels = mp4_rd_u32(&r);
    mp4_rd_skip(&r, 20);
    double rate;
    memcpy(&rate, &bits, sizeof(rate));
    if (rate >= 1.0 && rate <= 1e7)
      e->sample_rate = (uint32_t)rate;
    if (channels <= UINT16_MAX)
      e->channel_count = (uint16_t)channels;
  } else if (stsd_version == 0 && qt_version > 2) {
    return -AMP_EUNSUPPORTED;
  }
  if (r.bad)
    return -AMP_EMP4;

  size_t pos = eb->start + eb->hdr + r.pos, end = eb->start + eb->size;
  struct mp4_box b;
  int rc;
  bool have_sinf = false;
  while ((rc = mp4_box_next(buf, &pos, end, &b)) > 0) {
    if (b.type == FOURCC('d', 'O', 'p', 's') && !e->config) {
      e->config = mp4_box_body(buf, &b);
      e->config_size = mp4_box_body_len(&b);
    } else if (b.type == FOURCC('d', 'f', 'L', 'a') && !e->config) {
      struct mp4_rd f = mp4_rd_make(mp4_box_body(buf, &b), mp4_box_body_len(&b));
      uint8_t v;
      if (mp4_rd_fullbox(&f, &v, NULL) < 0 || v != 0)
        return -AMP_EMP4;
      e->config = f.p + f.pos;
      e->config_size = mp4_rd_left(&f);
    } else if (b.type == FOURCC('s', 'i', 'n', 'f') && !have_sinf) {
      rc = parse_sinf(buf, &b, e, depth + 1);
      if (rc < 0)
        return rc;
      have_sinf = true;
    }
  }
  if (rc < 0)
    return rc;
  if (e->fourcc == FOURCC('e', 'n', 'c', 'a') && !have_sinf)
    return -AMP_EMP4;
  if (e->config_size > MP4_MAX_CONFIG_SIZE)
    return -AMP_ETOOBIG;
  return 0;
}

static int parse_stsd(const uint8_t *buf, const struct mp4_box *sb, struct trak_state *t,
                      int depth) {
  struct mp4_rd r = mp4_rd_make(mp4_box_body(buf, sb), mp4_box_body_len(sb));
  uint8_t version;
  if (mp4_rd_fullbox(&r, &version, NULL) < 0)
    return -AMP_EMP4;
  uint32_t count = mp4_rd_u32(&r);
  if (r.bad || count == 0)
    return -AMP_EMP4;
  if (count > MP4_MAX_SAMPLE_ENTRIES)
    return -AMP_ETOOBIG;
  /* Not (yet known to be) an audio track: its entries are not ours to read. hdlr comes
   * before minf in every muxer; a track that has it later is not taken. */
  if (t->handler != FOURCC('s', 'o', 'u', 'n'))
    return 0;
  size_t pos = sb->start + sb->hdr + r.pos, end = sb->start + sb->size;
  for (uint32_t i = 0; i < count; i++) {
    struct mp4_box b;
    int rc = mp4_box_next(buf, &pos, end, &b);
    if (rc == 0)
      rc = -AMP_EMP4; /* fewer entries than entry_count */
    if (rc < 0)
      return rc;
    rc = parse_entry(buf, &b, version, &t->entries[i], depth + 1);
    if (rc < 0)
      return rc;
  }
  t->entry_count = count;
  t->have_stsd = true;
  return 0;
}

static int parse_stbl(const uint8_t *buf, const struct mp4_box *sb, struct trak_state *t,
                      int depth) {
  size_t pos = sb->start + sb->hdr, end = sb->start + sb->size;
  struct mp4_box b;
  int rc;
  if (depth > MP4_MAX_DEPTH)
    return -AMP_EMP4;
  while ((rc = mp4_box_next(buf, &pos, end, &b)) > 0) {
    if (b.type == FOURCC('s', 't', 's', 'd')) {
      if (t->have_stsd)
        return -AMP_EMP4;
      rc = parse_stsd(buf, &b, t, depth + 1);
    } else if (b.type == FOURCC('s', 'g', 'p', 'd')) {
      struct mp4_rd r = mp4_rd_make(mp4_box_body(buf, &b), mp4_box_body_len(&b));
      uint8_t v;
      uint32_t type;
      int16_t roll = 0;
      rc = mp4_rd_fullbox(&r, &v, NULL);
      if (rc == 0)
        rc = mp4_sgpd_parse(&r, v, &type, t->seig, &t->seig_count, &roll);
      if (rc == 0 && (type == FOURCC('r', 'o', 'l', 'l') || type == FOURCC('p', 'r', 'o', 'l')) &&
          !t->track.has_roll) {
        t->track.has_roll = true;
        t->track.roll_distance = roll;
      }
    }
    if (rc < 0)
      return rc;
  }
  return rc;
}

/* Walk a container, calling into the children named; used for mdia and minf. */
static int parse_mdia(const uint8_t *buf, const struct mp4_box *mb, struct trak_state *t,
                      int depth) {
  size_t pos = mb->start + mb->hdr, end = mb->start + mb->size;
  struct mp4_box b;
  int rc;
  if (depth > MP4_MAX_DEPTH)
    return -AMP_EMP4;
  while ((rc = mp4_box_next(buf, &pos, end, &b)) > 0) {
    struct mp4_rd r = mp4_rd_make(mp4_box_body(buf, &b), mp4_box_body_len(&b));
    uint8_t v;
    if (b.type == FOURCC('m', 'd', 'h', 'd')) {
      if (mp4_rd_fullbox(&r, &v, NULL) < 0 || v > 1)
        return -AMP_EMP4;
      mp4_rd_skip(&r, v == 1 ? 16 : 8);
      t->track.timescale = mp4_rd_u32(&r);
      t->track.duration = v == 1 ? mp4_rd_u64(&r) : mp4_rd_u32(&r);
      if (r.bad || t->track.timescale == 0)
        return -AMP_EMP4;
      t->have_mdhd = true;
    } else if (b.type == FOURCC('h', 'd', 'l', 'r')) {
      mp4_rd_skip(&r, 4 + 4);
      t->handler = mp4_rd_u32(&r);
      if (r.bad)
        return -AMP_EMP4;
    } else if (b.type == FOURCC('m', 'i', 'n', 'f')) {
      rc = parse_mdia(buf, &b, t, depth + 1);
    } else if (b.type == FOURCC('s', 't', 'b', 'l')) {
      /* hdlr precedes minf in every muxer; stsd needs to know the handler */
      rc = parse_stbl(buf, &b, t, depth + 1);
    }
    if (rc < 0)
      return rc;
  }
  return rc;
}

static int parse_elst(const uint8_t *buf, const struct mp4_box *eb, struct mp4_track *tr) {
  struct mp4_rd r = mp4_rd_make(mp4_box_body(buf, eb), mp4_box_body_len(eb));
  uint8_t v;
  if (mp4_rd_fullbox(&r, &v, NULL) < 0 || v > 1)
    return -AMP_EMP4;
  uint32_t count = mp4_rd_u32(&r);
  size_t entry = v == 1 ? 20 : 12;
  if (r.bad || count > mp4_rd_left(&r) / entry)
    return -AMP_EMP4;
  for (uint32_t i = 0; i < count; i++) {
    uint64_t dur = v == 1 ? mp4_rd_u64(&r) : mp4_rd_u32(&r);
    int64_t media_time = v == 1 ? (int64_t)mp4_rd_u64(&r) : (int32_t)mp4_rd_u32(&r);
    mp4_rd_skip(&r, 4); /* media rate */
    if (media_time == -1)
      continue; /* an empty edit (a delay); audio packagers do not write one */
    if (media_time < 0)
      return -AMP_EMP4;
    if (!tr->has_edit) {
      tr->has_edit = true;
      tr->edit_media_time = media_time;
      tr->edit_duration = dur;
    }
  }
  return r.bad ? -AMP_EMP4 : 0;
}

static int parse_trak(const uint8_t *buf, const struct mp4_box *tb, struct trak_state *t,
                      int depth) {
  size_t pos = tb->start + tb->hdr, end = tb->start + tb->size;
  struct mp4_box b;
  int rc;
  bool have_tkhd = false;
  if (depth > MP4_MAX_DEPTH)
    return -AMP_EMP4;
  while ((rc = mp4_box_next(buf, &pos, end, &b)) > 0) {
    struct mp4_rd r = mp4_rd_make(mp4_box_body(buf, &b), mp4_box_body_len(&b));
    uint8_t v;
    if (b.type == FOURCC('t', 'k', 'h', 'd')) {
      if (mp4_rd_fullbox(&r, &v, NULL) < 0 || v > 1)
        return -AMP_EMP4;
      mp4_rd_skip(&r, v == 1 ? 16 : 8);
      t->track.track_id = mp4_rd_u32(&r);
      if (r.bad)
        return -AMP_EMP4;
      have_tkhd = true;
    } else if (b.type == FOURCC('e', 'd', 't', 's')) {
      size_t p2 = b.start + b.hdr, e2 = b.start + b.size;
      struct mp4_box c;
      while ((rc = mp4_box_next(buf, &p2, e2, &c)) > 0)
        if (c.type == FOURCC('e', 'l', 's', 't') && (rc = parse_elst(buf, &c, &t->track)) < 0)
          return rc;
    } else if (b.type == FOURCC('m', 'd', 'i', 'a')) {
      rc = parse_mdia(buf, &b, t, depth + 1);
    }
    if (rc < 0)
      return rc;
  }
  if (rc < 0)
    return rc;
  if (!have_tkhd || !t->have_mdhd)
    return -AMP_EMP4;
  return 0;
}

static int parse_mvex(const uint8_t *buf, const struct mp4_box *mb, struct mp4_init *in) {
  size_t pos = mb->start + mb->hdr, end = mb->start + mb->size;
  struct mp4_box b;
  int rc;
  while ((rc = mp4_box_next(buf, &pos, end, &b)) > 0) {
    if (b.type == FOURCC('m', 'e', 'h', 'd')) {
      struct mp4_rd r = mp4_rd_make(mp4_box_body(buf, &b), mp4_box_body_len(&b));
      uint8_t v;
      if (mp4_rd_fullbox(&r, &v, NULL) < 0 || v > 1)
        return -AMP_EMP4;
      in->track.fragment_duration = v == 1 ? mp4_rd_u64(&r) : mp4_rd_u32(&r);
      if (r.bad)
        return -AMP_EMP4;
      continue;
    }
    if (b.type != FOURCC('t', 'r', 'e', 'x'))
      continue;
    if (in->trex_count >= MP4_MAX_TREX)
      return -AMP_ETOOBIG;
    struct mp4_rd r = mp4_rd_make(mp4_box_body(buf, &b), mp4_box_body_len(&b));
    struct mp4_trex *x = &in->trex[in->trex_count++];
    mp4_rd_skip(&r, 4);
    x->track_id = mp4_rd_u32(&r);
    x->sample_description_index = mp4_rd_u32(&r);
    x->sample_duration = mp4_rd_u32(&r);
    x->sample_size = mp4_rd_u32(&r);
    x->sample_flags = mp4_rd_u32(&r);
    if (r.bad)
      return -AMP_EMP4;
  }
  return rc;
}

static int parse_moov(const uint8_t *buf, const struct mp4_box *mb, struct mp4_init *in,
                      bool *have_track, bool *have_mvex) {
  size_t pos = mb->start + mb->hdr, end = mb->start + mb->size;
  struct mp4_box b;
  int rc;
  struct trak_state *t = malloc(sizeof(*t));
  if (!t)
    return -ENOMEM;
  while ((rc = mp4_box_next(buf, &pos, end, &b)) > 0) {
    struct mp4_rd r = mp4_rd_make(mp4_box_body(buf, &b), mp4_box_body_len(&b));
    uint8_t v = 0;
    if (b.type == FOURCC('m', 'v', 'h', 'd')) {
      rc = mp4_rd_fullbox(&r, &v, NULL);
      if (rc == 0 && v > 1)
        rc = -AMP_EMP4;
      mp4_rd_skip(&r, v == 1 ? 16 : 8);
      in->track.movie_timescale = mp4_rd_u32(&r);
      if (r.bad)
        rc = -AMP_EMP4;
    } else if (b.type == FOURCC('t', 'r', 'a', 'k') && !*have_track) {
      memset(t, 0, sizeof(*t));
      rc = parse_trak(buf, &b, t, 2);
      if (rc == 0 && t->handler == FOURCC('s', 'o', 'u', 'n') && t->have_stsd) {
        uint32_t movie_ts = in->track.movie_timescale;
        uint64_t frag_dur = in->track.fragment_duration; /* mvex may come first */
        in->track = t->track;
        in->track.movie_timescale = movie_ts;
        in->track.fragment_duration = frag_dur;
        memcpy(in->entries, t->entries, sizeof(in->entries));
        in->entry_count = t->entry_count;
        memcpy(in->seig, t->seig, sizeof(in->seig));
        in->seig_count = t->seig_count;
        *have_track = true;
      }
    } else if (b.type == FOURCC('m', 'v', 'e', 'x')) {
      rc = parse_mvex(buf, &b, in);
      *have_mvex = true;
    } else if (b.type == FOURCC('p', 's', 's', 'h')) {
      if (in->pssh_count >= MP4_MAX_PSSH || b.size > MP4_MAX_PSSH_SIZE)
        rc = -AMP_ETOOBIG;
      else if ((rc = mp4_pssh_parse(buf, &b, &in->pssh[in->pssh_count])) == 0)
        in->pssh_count++;
    }
    if (rc < 0)
      break;
  }
  free(t);
  return rc;
}

int mp4_init_parse(const uint8_t *buf, size_t len, struct mp4_init **ret) {
  if (!buf && len)
    return -EINVAL;
  if (len > MP4_MAX_INIT_SIZE)
    return -AMP_ETOOBIG;
  struct mp4_init *in = calloc(1, sizeof(*in));
  if (!in)
    return -ENOMEM;
  int rc = -ENOMEM;
  in->data = malloc(len ? len : 1);
  if (!in->data)
    goto fail;
  if (len)
    memcpy(in->data, buf, len);
  in->len = len;

  bool have_moov = false, have_track = false, have_mvex = false;
  size_t pos = 0;
  struct mp4_box b;
  while ((rc = mp4_box_next(in->data, &pos, len, &b)) > 0) {
    if (b.type == FOURCC('f', 't', 'y', 'p')) {
      struct mp4_rd r = mp4_rd_make(mp4_box_body(in->data, &b), mp4_box_body_len(&b));
      in->major_brand = mp4_rd_u32(&r);
      if (r.bad) {
        rc = -AMP_EMP4;
        goto fail;
      }
    } else if (b.type == FOURCC('m', 'o', 'o', 'v') && !have_moov) {
      have_moov = true;
      rc = parse_moov(in->data, &b, in, &have_track, &have_mvex);
      if (rc < 0)
        goto fail;
    }
  }
  if (rc < 0)
    goto fail;
  rc = -AMP_EMP4;
  if (!have_moov)
    goto fail;
  rc = -AMP_EUNSUPPORTED;
  if (!have_track || !have_mvex)
    goto fail;

  for (uint32_t i = 0; i < in->trex_count; i++) {
    const struct mp4_trex *x = &in->trex[i];
    if (x->track_id == in->track.track_id) {
      in->track.trex_sample_description_index = x->sample_description_index;
      in->track.trex_sample_duration = x->sample_duration;
      in->track.trex_sample_size = x->sample_size;
      in->track.trex_sample_flags = x->sample_flags;
      break;
    }
  }
  for (uint32_t i = 0; i < in->entry_count; i++) {
    rc = check_codec(&in->entries[i], &in->codecs[i]);
    if (rc < 0)
      goto fail;
  }
  log_debug("init: track %u timescale %u, %u entries, elst %lld, %zu pssh", in->track.track_id,
            in->track.timescale, in->entry_count, (long long)in->track.edit_media_time,
            in->pssh_count);
  *ret = in;
  return 0;
fail:
  mp4_init_free(in);
  return rc;
}

void mp4_init_free(struct mp4_init *init) {
  if (!init)
    return;
  free(init->data);
  free(init);
}

const struct mp4_track *mp4_init_track(const struct mp4_init *init) {
  return &init->track;
}

uint32_t mp4_init_major_brand(const struct mp4_init *init) {
  return init->major_brand;
}

uint32_t mp4_init_entry_count(const struct mp4_init *init) {
  return init->entry_count;
}

const struct mp4_sample_entry *mp4_init_entry(const struct mp4_init *init, uint32_t index) {
  if (index == 0 || index > init->entry_count)
    return NULL;
  return &init->entries[index - 1];
}

int mp4_init_codec(const struct mp4_init *init, uint32_t index, struct mp4_codec *ret) {
  if (index == 0 || index > init->entry_count)
    return -EINVAL;
  if (init->codecs[index - 1].format == 0)
    return -AMP_EUNSUPPORTED;
  *ret = init->codecs[index - 1];
  return 0;
}

const uint8_t *mp4_init_default_kid(const struct mp4_init *init) {
  for (uint32_t i = 0; i < init->entry_count; i++)
    if (init->entries[i].has_sinf)
      return init->entries[i].tenc.kid;
  return NULL;
}

size_t mp4_init_pssh_count(const struct mp4_init *init) {
  return init->pssh_count;
}

const struct mp4_pssh *mp4_init_pssh(const struct mp4_init *init, size_t i) {
  return i < init->pssh_count ? &init->pssh[i] : NULL;
}
