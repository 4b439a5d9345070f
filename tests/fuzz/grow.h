/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_TESTS_FUZZ_GROW_H
#define AMPD_TESTS_FUZZ_GROW_H

/*
 * Inputs at the parsers' size bounds. libFuzzer's mutations change an input's length by
 * a few bytes at a time, so a 4 MiB manifest or a trun of 65537 samples never comes out
 * of them, whatever -max_len allows. A harness therefore accepts a compact form of a large
 * input:
 *     GROW_MAGIC | u32 offset | u32 count | u16 chunk_len | chunk | rest
 * (big-endian), which stands for rest with count copies of chunk inserted at offset
 * (clipped to rest's length). The copies stop once the expansion reaches cap bytes (so it
 * is below cap + chunk_len); the harness passes its parser's bound plus one, so that one
 * over the bound is still reachable.
 * Any other input is used as it is. The magic is in the dictionaries.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define GROW_MAGIC "AMPDGROW"
#define GROW_MAGIC_LEN 8u
#define GROW_HEADER_LEN (GROW_MAGIC_LEN + 4 + 4 + 2)

struct grown {
  const uint8_t *data; /* the input, or buf */
  size_t size;
  uint8_t *buf;      /* malloc'd expansion (free with grow_free), or NULL */
  size_t insert_at;  /* where the copies went (SIZE_MAX: not grown) */
  size_t insert_len; /* their total length */
};

static inline uint32_t grow_be(const uint8_t *p, size_t n) {
  uint32_t v = 0;
  for (size_t i = 0; i < n; i++)
    v = v << 8 | p[i];
  return v;
}

/* 0, or -1 when out of memory (the harness then skips the input). */
static inline int grow(const uint8_t *data, size_t size, size_t cap, struct grown *g) {
  *g = (struct grown){.data = data, .size = size, .insert_at = SIZE_MAX};
  if (size < GROW_HEADER_LEN || memcmp(data, GROW_MAGIC, GROW_MAGIC_LEN) != 0)
    return 0;
  size_t off = grow_be(data + 8, 4), count = grow_be(data + 12, 4);
  size_t clen = grow_be(data + 16, 2);
  const uint8_t *chunk = data + GROW_HEADER_LEN;
  if (clen > size - GROW_HEADER_LEN)
    clen = size - GROW_HEADER_LEN;
  const uint8_t *rest = chunk + clen;
  size_t rlen = size - GROW_HEADER_LEN - clen;
  if (off > rlen)
    off = rlen;
  if (clen == 0 || rlen >= cap)
    count = 0;
  else if (count > (cap - rlen + clen - 1) / clen)
    count = (cap - rlen + clen - 1) / clen; /* the first count that reaches cap */
  size_t total = rlen + count * clen;
  g->buf = malloc(total ? total : 1);
  if (!g->buf)
    return -1;
  memcpy(g->buf, rest, off);
  for (size_t i = 0; i < count; i++)
    memcpy(g->buf + off + i * clen, chunk, clen);
  memcpy(g->buf + off + count * clen, rest + off, rlen - off);
  g->data = g->buf;
  g->size = total;
  g->insert_at = off;
  g->insert_len = count * clen;
  return 0;
}

static inline void grow_free(struct grown *g) {
  free(g->buf);
  g->buf = NULL;
}

#endif
