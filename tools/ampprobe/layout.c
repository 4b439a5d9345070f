/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ampprobe.h"
#include "core/err.h"

#define PROBE_MAX_FRAGMENTS 1000000u

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The size of the top-level box at off (header included), or 0 when malformed. */
static uint64_t box_size(const uint8_t *buf, size_t len, size_t off, uint32_t *ret_type) {
  if (len - off < 8)
    return 0;
  uint64_t size = be32(buf + off);
  *ret_type = be32(buf + off + 4);
  if (size == 1) {
    if (len - off < 16)
      return 0;
    size = (uint64_t)be32(buf + off + 8) << 32 | be32(buf + off + 12);
    if (size < 16)
      return 0;
  } else if (size == 0) {
    size = len - off; /* to the end of the file */
  } else if (size < 8) {
    return 0;
  }
  return size > len - off ? 0 : size;
}

int probe_mp4_layout(const uint8_t *buf, size_t len, struct probe_mp4_layout *ret) {
  struct probe_mp4_layout l = {0};
  size_t cap = 0, off = 0;
  size_t moof = SIZE_MAX;
  int seen_moov = 0;

  while (off < len) {
    uint32_t type;
    uint64_t size = box_size(buf, len, off, &type);
    if (size == 0)
      goto bad;
    if (type == 0x6d6f6f76 /* moov */) {
      seen_moov = 1;
      l.init_end = off + (size_t)size;
    } else if (type == 0x6d6f6f66 /* moof */) {
      if (!seen_moov || moof != SIZE_MAX)
        goto bad;
      moof = off;
    } else if (type == 0x6d646174 /* mdat */ && moof != SIZE_MAX) {
      if (l.n_fragments == cap) {
        size_t ncap = cap ? cap * 2 : 64;
        if (ncap > PROBE_MAX_FRAGMENTS)
          goto toobig;
        size_t *a = realloc(l.frag_start, ncap * sizeof(size_t));
        if (!a)
          goto nomem;
        l.frag_start = a;
        a = realloc(l.frag_end, ncap * sizeof(size_t));
        if (!a)
          goto nomem;
        l.frag_end = a;
        cap = ncap;
      }
      l.frag_start[l.n_fragments] = moof;
      l.frag_end[l.n_fragments] = off + (size_t)size;
      l.n_fragments++;
      moof = SIZE_MAX;
    }
    off += (size_t)size;
  }
  if (!seen_moov || moof != SIZE_MAX)
    goto bad;
  *ret = l;
  return 0;
bad:
  probe_mp4_layout_done(&l);
  return -AMP_EMP4;
toobig:
  probe_mp4_layout_done(&l);
  return -AMP_ETOOBIG;
nomem:
  probe_mp4_layout_done(&l);
  return -ENOMEM;
}

void probe_mp4_layout_done(struct probe_mp4_layout *l) {
  free(l->frag_start);
  free(l->frag_end);
  memset(l, 0, sizeof(*l));
}
