/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the mp4 demuxer. The first byte selects:
 *   even: the bytes after it are an init segment;
 *   odd:  u16 init length, the init, then a media segment parsed against it (bit 1 set:
 *         the segment sits right after the init in the file, so file_offset = init length).
 * Every sample handed out is checked against the contract in mp4.h and its bytes are
 * read, so that ASan sees any range that leaves the buffer.
 *
 * The init (even mode) and the media segment may each be in grow.h's compact form, so
 * that inputs at MP4_MAX_INIT_SIZE, MP4_MAX_SEGMENT_SIZE and MP4_MAX_SAMPLES are
 * reachable; the 32-bit size of every box around the inserted copies is enlarged by their
 * length (fix_sizes), so that they land inside the box they were put in.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "grow.h"
#include "media/mp4.h"

static void touch(const uint8_t *p, size_t n) {
  volatile uint8_t x = 0;
  for (size_t i = 0; i < n; i++)
    x ^= p[i];
  (void)x;
}

/* Header bytes before the children of the boxes fix_sizes descends into. */
static size_t child_offset(const uint8_t *type) {
  static const char *const plain[] = {"moov", "trak", "mdia", "minf", "stbl", "mvex", "edts",
                                      "dinf", "udta", "sinf", "schi", "moof", "traf"};
  for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
    if (memcmp(type, plain[i], 4) == 0)
      return 8;
  if (memcmp(type, "stsd", 4) == 0)
    return 16; /* full box, entry count */
  if (memcmp(type, "Opus", 4) == 0 || memcmp(type, "fLaC", 4) == 0 ||
      memcmp(type, "enca", 4) == 0 || memcmp(type, "mp4a", 4) == 0)
    return 36; /* audio sample entry */
  return 0;
}

/* The grown buffer b (len bytes) holds add inserted bytes at at; its box sizes are those
 * of before. Enlarge the size of each box, from the top level down, that held the
 * insertion point (between the end of its header and its end, both included: copies put
 * at the end of a trun become its last entries). */
static void fix_sizes(uint8_t *b, size_t len, size_t at, size_t add) {
  size_t pos = 0, end = len, depth = 0;
  while (pos + 8 <= end && depth < MP4_MAX_DEPTH + 2) {
    uint32_t sz = grow_be(b + pos, 4);
    if (sz < 8)
      return;            /* to the end (0) or 64-bit (1): left as they are */
    if (pos + sz < at) { /* the box ends before */
      pos += sz;
      continue;
    }
    if (at < pos + 8)
      return; /* between boxes, or in a header */
    if (sz > UINT32_MAX - add)
      return;
    sz += (uint32_t)add;
    b[pos] = (uint8_t)(sz >> 24);
    b[pos + 1] = (uint8_t)(sz >> 16);
    b[pos + 2] = (uint8_t)(sz >> 8);
    b[pos + 3] = (uint8_t)sz;
    size_t child = child_offset(b + pos + 4);
    if (child == 0 || child > sz)
      return;
    end = pos + sz < len ? pos + sz : len;
    pos += child;
    depth++;
  }
}

/* grow() and fix_sizes(); 0 or -1 (out of memory). */
static int grow_boxes(const uint8_t *data, size_t size, size_t cap, struct grown *g) {
  if (grow(data, size, cap, g) < 0)
    return -1;
  if (g->buf && g->insert_len > 0)
    fix_sizes(g->buf, g->size, g->insert_at, g->insert_len);
  return 0;
}

static void use_init(const struct mp4_init *in) {
  const struct mp4_track *t = mp4_init_track(in);
  CHECK(t->timescale > 0);
  uint32_t n = mp4_init_entry_count(in);
  CHECK(n >= 1 && n <= MP4_MAX_SAMPLE_ENTRIES);
  for (uint32_t i = 1; i <= n; i++) {
    const struct mp4_sample_entry *e = mp4_init_entry(in, i);
    touch(e->config, e->config_size);
    struct mp4_codec c;
    if (mp4_init_codec(in, i, &c) == 0)
      CHECK(c.sample_rate > 0 && c.channels > 0 && c.config == e->config);
  }
  for (size_t i = 0; i < mp4_init_pssh_count(in); i++) {
    const struct mp4_pssh *p = mp4_init_pssh(in, i);
    touch(p->box, p->box_size);
    touch(p->data, p->data_size);
    touch(p->kids, (size_t)p->kid_count * 16);
  }
  const uint8_t *kid = mp4_init_default_kid(in);
  if (kid)
    touch(kid, 16);
}

static void use_segment(const struct mp4_init *in, const struct mp4_segment *seg,
                        const uint8_t *buf, size_t len) {
  size_t n = mp4_segment_sample_count(seg);
  CHECK(n <= MP4_MAX_SAMPLES);
  for (size_t i = 0; i < n; i++) {
    struct mp4_sample s;
    CHECK(mp4_segment_sample(seg, i, &s) == 0);
    CHECK(s.offset <= len && s.size <= len - s.offset);
    touch(buf + s.offset, s.size);
    CHECK(mp4_init_entry(in, s.sample_description_index) != NULL);
    if (!s.encrypted) {
      CHECK(s.subsample_count == 0 && s.iv_size == 0);
      continue;
    }
    CHECK(s.iv_size == 8 || s.iv_size == 16);
    uint64_t sum = 0;
    for (uint16_t k = 0; k < s.subsample_count; k++)
      sum += (uint64_t)s.subsamples[k].clear_bytes + s.subsamples[k].protected_bytes;
    CHECK(s.subsample_count == 0 || sum == s.size);
  }
  for (size_t i = 0; i < mp4_segment_pssh_count(seg); i++) {
    const struct mp4_pssh *p = mp4_segment_pssh(seg, i);
    touch(p->box, p->box_size);
  }
  (void)mp4_segment_end_time(seg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  uint8_t mode = data[0];
  data++;
  size--;
  struct mp4_init *in = NULL;
  if ((mode & 1) == 0) {
    struct grown g;
    if (grow_boxes(data, size, MP4_MAX_INIT_SIZE + 1, &g) == 0 &&
        mp4_init_parse(g.data, g.size, &in) == 0) {
      CHECK(g.size <= MP4_MAX_INIT_SIZE);
      use_init(in);
    }
    mp4_init_free(in);
    grow_free(&g);
    return 0;
  }
  if (size < 2)
    return 0;
  size_t ilen = (size_t)data[0] << 8 | data[1];
  data += 2;
  size -= 2;
  if (ilen > size || mp4_init_parse(data, ilen, &in) < 0)
    return 0;
  use_init(in);
  /* an exact-size copy (grown or not): a read past the segment is a heap overflow ASan
   * reports */
  size_t slen = size - ilen;
  uint8_t *copy = malloc(slen ? slen : 1);
  struct grown g = {0};
  if (copy) {
    memcpy(copy, data + ilen, slen);
    if (grow_boxes(copy, slen, MP4_MAX_SEGMENT_SIZE + 1, &g) == 0) {
      const uint8_t *seg_buf = g.buf ? g.buf : copy;
      size_t seg_len = g.buf ? g.size : slen;
      struct mp4_segment *seg = NULL;
      if (mp4_segment_parse(in, seg_buf, seg_len, (mode & 2) ? ilen : 0, &seg) == 0) {
        CHECK(seg_len <= MP4_MAX_SEGMENT_SIZE);
        use_segment(in, seg, seg_buf, seg_len);
      }
      mp4_segment_free(seg);
    }
    grow_free(&g);
    free(copy);
  }
  mp4_init_free(in);
  return 0;
}
