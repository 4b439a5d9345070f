/* SPDX-License-Identifier: Apache-2.0 */
#include "box.h"

#include <errno.h>
#include <string.h>

#include "core/err.h"

void be_put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

void be_put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

void be_put64(uint8_t *p, uint64_t v) {
  be_put32(p, (uint32_t)(v >> 32));
  be_put32(p + 4, (uint32_t)v);
}

uint32_t be_get32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void box_w_init(struct box_w *w, size_t max) {
  memset(w, 0, sizeof(*w));
  buf_init(&w->out, max);
}

void box_w_free(struct box_w *w) {
  buf_done(&w->out);
  w->depth = 0;
}

int box_w_finish(const struct box_w *w) {
  if (w->err)
    return w->err;
  return w->depth ? -EINVAL : 0;
}

size_t box_w_pos(const struct box_w *w) {
  return w->out.len;
}

void box_bytes(struct box_w *w, const void *p, size_t n) {
  if (w->err)
    return;
  int r = buf_append(&w->out, p, n);
  if (r < 0)
    w->err = r;
}

void box_zeros(struct box_w *w, size_t n) {
  static const uint8_t z[64];
  while (n > 0 && !w->err) {
    size_t k = n < sizeof(z) ? n : sizeof(z);
    box_bytes(w, z, k);
    n -= k;
  }
}

void box_u8(struct box_w *w, uint8_t v) {
  box_bytes(w, &v, 1);
}

void box_u16(struct box_w *w, uint16_t v) {
  uint8_t b[2];
  be_put16(b, v);
  box_bytes(w, b, 2);
}

void box_u24(struct box_w *w, uint32_t v) {
  uint8_t b[3] = {(uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
  box_bytes(w, b, 3);
}

void box_u32(struct box_w *w, uint32_t v) {
  uint8_t b[4];
  be_put32(b, v);
  box_bytes(w, b, 4);
}

void box_u64(struct box_w *w, uint64_t v) {
  uint8_t b[8];
  be_put64(b, v);
  box_bytes(w, b, 8);
}

void box_fourcc(struct box_w *w, const char fourcc[4]) {
  box_bytes(w, fourcc, 4);
}

void box_open(struct box_w *w, const char fourcc[4]) {
  if (w->err)
    return;
  if (w->depth >= BOX_MAX_DEPTH) {
    w->err = -EINVAL;
    return;
  }
  w->open[w->depth++] = w->out.len;
  box_u32(w, 0); /* size, patched by box_close */
  box_fourcc(w, fourcc);
}

void box_open_full(struct box_w *w, const char fourcc[4], uint8_t version, uint32_t flags) {
  box_open(w, fourcc);
  box_u8(w, version);
  box_u24(w, flags & 0xffffff);
}

void box_close(struct box_w *w) {
  if (w->err)
    return;
  if (w->depth <= 0) {
    w->err = -EINVAL;
    return;
  }
  size_t start = w->open[--w->depth];
  size_t size = w->out.len - start;
  if (size > UINT32_MAX) { /* largesize boxes are never needed for test content */
    w->err = -AMP_ETOOBIG;
    return;
  }
  be_put32(w->out.data + start, (uint32_t)size);
}

void box_patch_u32(struct box_w *w, size_t pos, uint32_t v) {
  if (w->err)
    return;
  if (pos > w->out.len || w->out.len - pos < 4) {
    w->err = -EINVAL;
    return;
  }
  be_put32(w->out.data + pos, v);
}
