/* SPDX-License-Identifier: Apache-2.0 */
#include "es.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

void es_init(struct es *es, enum es_codec codec) {
  memset(es, 0, sizeof(*es));
  es->codec = codec;
  buf_init(&es->data, ES_MAX_BYTES);
}

void es_done(struct es *es) {
  if (!es)
    return;
  buf_done(&es->data);
  free(es->s);
  es->s = NULL;
  es->n = es->cap = 0;
}

int es_add(struct es *es, const uint8_t *p, size_t size, uint32_t dur) {
  if (size == 0 || size > UINT32_MAX)
    return -EINVAL;
  if (es->n == es->cap) {
    if (es->cap >= ES_MAX_SAMPLES)
      return -AMP_ETOOBIG;
    size_t cap = es->cap ? es->cap * 2 : 1024;
    struct es_sample *s = realloc(es->s, cap * sizeof(*s));
    if (!s)
      return -ENOMEM;
    es->s = s;
    es->cap = cap;
  }
  size_t off = es->data.len;
  int r = buf_append(&es->data, p, size);
  if (r < 0)
    return r;
  es->s[es->n++] = (struct es_sample){.off = (uint32_t)off, .size = (uint32_t)size, .dur = dur};
  return 0;
}

uint64_t es_total_dur(const struct es *es) {
  uint64_t t = 0;
  for (size_t i = 0; i < es->n; i++)
    t += es->s[i].dur;
  return t;
}
