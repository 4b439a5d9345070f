/* SPDX-License-Identifier: Apache-2.0 */
#include "loudness.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include <ebur128.h>

#define LOUD_CHUNK 4800 /* frames per add_frames call */
#define LOUD_FLOOR -70.0

int loud_measure(const struct pcm *p, struct loudness *ret) {
  ebur128_state *st = ebur128_init(p->channels, p->rate, EBUR128_MODE_I | EBUR128_MODE_S);
  if (!st)
    return -ENOMEM;
  int r = -EINVAL;
  double *chunk = malloc(LOUD_CHUNK * p->channels * sizeof(*chunk));
  if (!chunk) {
    r = -ENOMEM;
    goto out;
  }
  double scale = 1.0 / (double)(1u << (p->bits - 1));
  double max_short = -HUGE_VAL;
  for (size_t i = 0; i < p->frames; i += LOUD_CHUNK) {
    size_t n = p->frames - i < LOUD_CHUNK ? p->frames - i : LOUD_CHUNK;
    for (size_t j = 0; j < n * p->channels; j++)
      chunk[j] = p->s[i * p->channels + j] * scale;
    if (ebur128_add_frames_double(st, chunk, n) != EBUR128_SUCCESS)
      goto out;
    double s;
    if (i + n >= (size_t)p->rate * 3 && ebur128_loudness_shortterm(st, &s) == EBUR128_SUCCESS &&
        s > max_short)
      max_short = s;
  }
  double prog;
  if (ebur128_loudness_global(st, &prog) != EBUR128_SUCCESS)
    goto out;
  ret->program = isfinite(prog) && prog > LOUD_FLOOR ? prog : LOUD_FLOOR;
  ret->anchor = isfinite(max_short) && max_short > LOUD_FLOOR ? max_short : ret->program;
  r = 0;
out:
  free(chunk);
  ebur128_destroy(&st);
  return r;
}
