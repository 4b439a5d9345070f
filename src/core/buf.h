/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_CORE_BUF_H
#define AMPD_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>

/*
 * A growable byte buffer with a hard maximum (after curl's dynbuf). Appends that would
 * take it past max fail with -AMP_ETOOBIG and leave the buffer as it was. The content is
 * always followed by a NUL byte (not counted in len), so text can be used as a C string.
 */
struct buf {
  uint8_t *data; /* NULL until the first append */
  size_t len;
  size_t cap;
  size_t max;
};

#define BUF_INIT(maxbytes)                                                                         \
  { .data = NULL, .len = 0, .cap = 0, .max = (maxbytes) }

void buf_init(struct buf *b, size_t max);
/* Free the storage; b may be reused after buf_init. Accepts a zeroed or done buffer. */
void buf_done(struct buf *b);
/* Drop the content, keep the storage. */
void buf_reset(struct buf *b);

/* 0, -ENOMEM or -AMP_ETOOBIG. */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_append_str(struct buf *b, const char *s);
int buf_append_u8(struct buf *b, uint8_t v);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Make room for n more bytes (0, -ENOMEM, -AMP_ETOOBIG); then write up to n bytes at
 * data + len and call buf_commit. */
int buf_reserve(struct buf *b, size_t n);
void buf_commit(struct buf *b, size_t n);

/* Remove the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);

/* Hand the storage to the caller (free() it); the buffer becomes empty. May return NULL
 * when nothing was ever appended. */
uint8_t *buf_steal(struct buf *b, size_t *ret_len);

#endif
