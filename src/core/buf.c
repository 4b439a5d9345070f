/* SPDX-License-Identifier: Apache-2.0 */
#include "core/buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

void buf_init(struct buf *b, size_t max) {
  *b = (struct buf)BUF_INIT(max);
}

void buf_done(struct buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

void buf_reset(struct buf *b) {
  b->len = 0;
  if (b->data)
    b->data[0] = 0;
}

int buf_reserve(struct buf *b, size_t n) {
  if (n > b->max || b->len > b->max - n)
    return -AMP_ETOOBIG;
  /* No room for the NUL (only reachable with max == SIZE_MAX). */
  if (b->len + n == SIZE_MAX)
    return -ENOMEM;
  size_t need = b->len + n + 1; /* + NUL */
  if (need <= b->cap)
    return 0;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need)
    cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  if (cap - 1 > b->max)
    cap = b->max + 1;
  uint8_t *p = realloc(b->data, cap);
  if (!p)
    return -ENOMEM;
  b->data = p;
  b->cap = cap;
  return 0;
}

void buf_commit(struct buf *b, size_t n) {
  b->len += n;
  b->data[b->len] = 0;
}

int buf_append(struct buf *b, const void *p, size_t n) {
  int r = buf_reserve(b, n);
  if (r < 0)
    return r;
  if (n)
    memcpy(b->data + b->len, p, n);
  buf_commit(b, n);
  return 0;
}

int buf_append_str(struct buf *b, const char *s) {
  return buf_append(b, s, strlen(s));
}

int buf_append_u8(struct buf *b, uint8_t v) {
  return buf_append(b, &v, 1);
}

int buf_printf(struct buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    return -EINVAL;
  int r = buf_reserve(b, (size_t)n);
  if (r < 0)
    return r;
  va_start(ap, fmt);
  vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  buf_commit(b, (size_t)n);
  return 0;
}

void buf_consume(struct buf *b, size_t n) {
  if (n >= b->len) {
    buf_reset(b);
    return;
  }
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
  b->data[b->len] = 0;
}

uint8_t *buf_steal(struct buf *b, size_t *ret_len) {
  uint8_t *p = b->data;
  if (ret_len)
    *ret_len = b->len;
  b->data = NULL;
  b->len = b->cap = 0;
  return p;
}
