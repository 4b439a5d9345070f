/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPACK_BOX_H
#define AMPACK_BOX_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/*
 * A bounded big-endian ISO BMFF box writer. Boxes nest up to BOX_MAX_DEPTH; box_open()
 * writes a 32-bit size placeholder and box_close() back-patches it. Errors are sticky:
 * after the first failure (-ENOMEM, -AMP_ETOOBIG, -EINVAL for bad nesting or a box of
 * 4 GiB or more) every call is a no-op and box_w_error()/box_w_done() report it. The
 * writer owns w->out until box_w_free() or until the caller steals it with buf_steal().
 */

#define BOX_MAX_DEPTH                                                                              \
  16 /* deepest nesting used: moov/trak/mdia/minf/stbl/stsd/enca/sinf/schi/tenc = 10 */

struct box_w {
  struct buf out;
  size_t open[BOX_MAX_DEPTH]; /* offsets of the open boxes' size fields */
  int depth;
  int err;
};

/* max bounds the total output size in bytes. */
void box_w_init(struct box_w *w, size_t max);
void box_w_free(struct box_w *w);
/* The first error (0 if none); also -EINVAL if boxes are still open. */
int box_w_finish(const struct box_w *w);
size_t box_w_pos(const struct box_w *w);

void box_open(struct box_w *w, const char fourcc[4]);
void box_open_full(struct box_w *w, const char fourcc[4], uint8_t version, uint32_t flags);
void box_close(struct box_w *w);

void box_u8(struct box_w *w, uint8_t v);
void box_u16(struct box_w *w, uint16_t v);
void box_u24(struct box_w *w, uint32_t v);
void box_u32(struct box_w *w, uint32_t v);
void box_u64(struct box_w *w, uint64_t v);
void box_fourcc(struct box_w *w, const char fourcc[4]);
void box_bytes(struct box_w *w, const void *p, size_t n);
void box_zeros(struct box_w *w, size_t n);

/* Overwrite an already written u32 at byte offset pos (for back-patched offsets). */
void box_patch_u32(struct box_w *w, size_t pos, uint32_t v);

/* Big-endian helpers for raw buffers. */
void be_put16(uint8_t *p, uint16_t v);
void be_put32(uint8_t *p, uint32_t v);
void be_put64(uint8_t *p, uint64_t v);
uint32_t be_get32(const uint8_t *p);

#endif
