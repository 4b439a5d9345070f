/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the mp4 demuxer. The first byte selects:
 *   even: the bytes after it are an init segment;
 *   odd:  u16 init length, the init, then a media segment parsed against it (bit 1 set:
 *         the segment sits right after the init in the file, so file_offset = init length).
 * Every sample handed out is checked against the contract in mp4.h and its bytes are
 * read, so that ASan sees any range that leaves the buffer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "media/mp4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok) {
  if (!ok)
    __builtin_trap();
}

static void touch(const uint8_t *p, size_t n) {
  volatile uint8_t x = 0;
  for (size_t i = 0; i < n; i++)
    x ^= p[i];
  (void)x;
}

static void use_init(const struct mp4_init *in) {
  const struct mp4_track *t = mp4_init_track(in);
  check(t->timescale > 0);
  uint32_t n = mp4_init_entry_count(in);
  check(n >= 1 && n <= MP4_MAX_SAMPLE_ENTRIES);
  for (uint32_t i = 1; i <= n; i++) {
    const struct mp4_sample_entry *e = mp4_init_entry(in, i);
    touch(e->config, e->config_size);
    struct mp4_codec c;
    if (mp4_init_codec(in, i, &c) == 0)
      check(c.sample_rate > 0 && c.channels > 0 && c.config == e->config);
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
  check(n <= MP4_MAX_SAMPLES);
  for (size_t i = 0; i < n; i++) {
    struct mp4_sample s;
    check(mp4_segment_sample(seg, i, &s) == 0);
    check(s.offset <= len && s.size <= len - s.offset);
    touch(buf + s.offset, s.size);
    check(mp4_init_entry(in, s.sample_description_index) != NULL);
    if (!s.encrypted) {
      check(s.subsample_count == 0 && s.iv_size == 0);
      continue;
    }
    check(s.iv_size == 8 || s.iv_size == 16);
    uint64_t sum = 0;
    for (uint16_t k = 0; k < s.subsample_count; k++)
      sum += (uint64_t)s.subsamples[k].clear_bytes + s.subsamples[k].protected_bytes;
    check(s.subsample_count == 0 || sum == s.size);
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
    if (mp4_init_parse(data, size, &in) == 0)
      use_init(in);
    mp4_init_free(in);
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
  /* an exact-size copy: a read past the segment is a heap overflow ASan reports */
  size_t slen = size - ilen;
  uint8_t *seg_buf = malloc(slen ? slen : 1);
  if (seg_buf) {
    memcpy(seg_buf, data + ilen, slen);
    struct mp4_segment *seg = NULL;
    if (mp4_segment_parse(in, seg_buf, slen, (mode & 2) ? ilen : 0, &seg) == 0)
      use_segment(in, seg, seg_buf, slen);
    mp4_segment_free(seg);
    free(seg_buf);
  }
  mp4_init_free(in);
  return 0;
}
