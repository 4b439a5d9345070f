/* SPDX-License-Identifier: Apache-2.0 */
/* Reading the input: an MPD whole (within the manifest bound), an fMP4 as a stream of its
 * init segment and its moof+mdat fragments, each held alone and within its own bound. */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ampprobe.h"
#include "core/err.h"
#include "media/manifest.h"
#include "media/mp4.h"
#include "source.h"

#define FOURCC(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))
#define BOX_MOOV FOURCC('m', 'o', 'o', 'v')
#define BOX_MOOF FOURCC('m', 'o', 'o', 'f')
#define BOX_MDAT FOURCC('m', 'd', 'a', 't')
#define BOX_SIDX FOURCC('s', 'i', 'd', 'x')

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int bad(struct probe_in *in, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(struct probe_in *in, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(in->why, sizeof(in->why), fmt, ap);
  va_end(ap);
  return code;
}

static int emit(struct probe_in *in, int kind) {
  int r = in->on_unit(in->userdata, kind, in->unit.data, in->unit.len, in->unit_off);
  if (r < 0)
    in->unit_failed = true;
  buf_reset(&in->unit);
  return r;
}

/* A top-level box header is complete in in->hdr: decide where its bytes go. */
static int box_begin(struct probe_in *in) {
  uint32_t size32 = be32(in->hdr);
  size_t hlen = size32 == 1 ? 16 : 8;
  uint64_t at = in->off - hlen, size = size32;

  in->box_type = be32(in->hdr + 4);
  in->open_ended = size32 == 0; /* to the end of the file */
  if (size32 == 1)
    size = (uint64_t)be32(in->hdr + 8) << 32 | be32(in->hdr + 12);
  if (!in->open_ended && size < hlen)
    return bad(in, -AMP_EMP4, "the box at byte %" PRIu64 " has size %" PRIu64, at, size);
  if (in->box_type == BOX_MOOV && in->seen_moov)
    return bad(in, -AMP_EMP4, "a second moov at byte %" PRIu64, at);
  if (!in->seen_moov) {
    if (in->box_type == BOX_MOOF)
      return bad(in, -AMP_EMP4, "a moof at byte %" PRIu64 " before the moov", at);
    in->keep = true; /* part of the init segment */
    in->unit.max = MP4_MAX_INIT_SIZE;
  } else if (in->box_type == BOX_MOOF) {
    if (in->in_frag)
      return bad(in, -AMP_EMP4, "the moof at byte %" PRIu64 " has no mdat", in->unit_off);
    in->in_frag = true;
    in->keep = true;
    in->unit_off = at;
    in->unit.max = MP4_MAX_SEGMENT_SIZE;
  } else if (!in->in_frag && in->box_type == BOX_SIDX && !in->seen_sidx && !in->n_fragments) {
    in->in_sidx = in->seen_sidx = true; /* the file's own index: the caller wants it */
    in->keep = true;
    in->unit_off = at;
    in->unit.max = MP4_MAX_INIT_SIZE;
  } else {
    in->keep = in->in_frag; /* boxes between fragments (styp, free, ...) are skipped */
  }
  if (in->keep && !in->open_ended && size > in->unit.max - in->unit.len)
    return bad(in, -AMP_ETOOBIG,
               "the %s box at byte %" PRIu64 " (%" PRIu64 " bytes) is past the bound of %zu bytes",
               in->seen_moov ? "fragment" : "init", at, size, in->unit.max);
  if (in->keep) {
    int r = buf_append(&in->unit, in->hdr, hlen);
    if (r < 0)
      return r;
  }
  in->box_left = in->open_ended ? 0 : size - hlen;
  in->in_box = true;
  in->hdr_len = 0;
  return 0;
}

static int box_end(struct probe_in *in) {
  in->in_box = false;
  if (!in->seen_moov && in->box_type == BOX_MOOV) {
    in->seen_moov = true;
    return emit(in, PROBE_UNIT_INIT);
  }
  if (in->in_sidx) {
    in->in_sidx = false;
    return emit(in, PROBE_UNIT_SIDX);
  }
  if (in->in_frag && in->box_type == BOX_MDAT) {
    in->in_frag = false;
    in->n_fragments++;
    return emit(in, PROBE_UNIT_FRAGMENT);
  }
  return 0;
}

static int mp4_feed(struct probe_in *in, const uint8_t *p, size_t len) {
  int r;
  while (len > 0) {
    if (!in->in_box) {
      size_t need = in->hdr_len < 8 || be32(in->hdr) != 1 ? 8 : 16;
      size_t k = need - in->hdr_len < len ? need - in->hdr_len : len;
      memcpy(in->hdr + in->hdr_len, p, k);
      in->hdr_len += k;
      in->off += k;
      p += k;
      len -= k;
      if (in->hdr_len < 8 || (be32(in->hdr) == 1 && in->hdr_len < 16))
        continue;
      r = box_begin(in);
      if (r == 0 && !in->open_ended && in->box_left == 0)
        r = box_end(in);
      if (r < 0)
        return r;
      continue;
    }
    size_t k = len;
    if (!in->open_ended && in->box_left < k)
      k = (size_t)in->box_left;
    if (in->keep) {
      r = buf_append(&in->unit, p, k);
      if (r == -AMP_ETOOBIG)
        return bad(in, r, "the %s at byte %" PRIu64 " grows past the bound of %zu bytes",
                   in->seen_moov ? "fragment" : "init segment", in->unit_off, in->unit.max);
      if (r < 0)
        return r;
    }
    in->off += k;
    p += k;
    len -= k;
    if (!in->open_ended) {
      in->box_left -= k;
      if (in->box_left == 0 && (r = box_end(in)) < 0)
        return r;
    }
  }
  return 0;
}

static int mp4_end(struct probe_in *in) {
  if (in->in_box && in->open_ended) {
    int r = box_end(in);
    if (r < 0)
      return r;
  }
  if (in->in_box || in->hdr_len > 0)
    return bad(in, -AMP_EMP4, "the file ends at byte %" PRIu64 " inside a box", in->off);
  if (!in->seen_moov)
    return bad(in, -AMP_EMP4, "no moov box: not a fragmented MP4");
  if (in->in_frag)
    return bad(in, -AMP_EMP4, "the moof at byte %" PRIu64 " has no mdat", in->unit_off);
  return 0;
}

/* Every byte of the input, in order. Until the first non-blank byte tells an MPD ('<')
 * from an MP4 (a box size), the bytes are held in in->mpd. */
static int on_data(void *userdata, uint64_t offset, const uint8_t *p, size_t len) {
  struct probe_in *in = userdata;
  int r;
  (void)offset;
  if (in->kind == PROBE_IN_MP4)
    return mp4_feed(in, p, len);
  r = buf_append(&in->mpd, p, len);
  if (r == -AMP_ETOOBIG)
    return bad(in, r, "a manifest is at most %u bytes; this input is larger (not read further)",
               MANIFEST_MAX_BYTES);
  if (r < 0)
    return r;
  if (in->kind == PROBE_IN_MPD)
    return 0;
  const uint8_t *d = in->mpd.data;
  size_t i = 0, n = in->mpd.len;
  if (n >= 3 && memcmp(d, "\xef\xbb\xbf", 3) == 0) /* a UTF-8 BOM */
    i = 3;
  else if (n < 3 && memcmp(d, "\xef\xbb\xbf", n) == 0)
    return 0; /* maybe a BOM: wait for more */
  while (i < n && (d[i] == ' ' || d[i] == '\n' || d[i] == '\r' || d[i] == '\t'))
    i++;
  if (i == n)
    return 0;
  if (d[i] == '<') {
    in->kind = PROBE_IN_MPD;
    return 0;
  }
  in->kind = PROBE_IN_MP4;
  r = mp4_feed(in, in->mpd.data, in->mpd.len);
  buf_done(&in->mpd);
  return r;
}

int probe_in_read(const struct probe_opts *o, struct probe_in *in) {
  struct source_options so = {.ca_file = o->ca_file};
  struct source *s;
  int r;

  in->kind = PROBE_IN_UNKNOWN;
  buf_init(&in->mpd, MANIFEST_MAX_BYTES);
  buf_init(&in->unit, MP4_MAX_INIT_SIZE);
  r = source_open(o->input, &so, &s);
  if (r < 0)
    return r;
  r = source_stream(s, on_data, in);
  if (r < 0 && !in->why[0])
    snprintf(in->why, sizeof(in->why), "%s", source_detail(s));
  source_free(s);
  if (r < 0)
    return r;
  if (in->kind == PROBE_IN_UNKNOWN)
    return bad(in, -AMP_EMP4, "%s",
               in->mpd.len ? "only blanks: neither an MPD nor an MP4"
                           : "empty: neither an MPD nor an MP4");
  return in->kind == PROBE_IN_MP4 ? mp4_end(in) : 0;
}

void probe_in_done(struct probe_in *in) {
  buf_done(&in->mpd);
  buf_done(&in->unit);
}
