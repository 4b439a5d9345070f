/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPACK_LOUDNESS_H
#define AMPACK_LOUDNESS_H

#include "signal.h"

/*
 * EBU R 128 measurements of the source PCM (libebur128): program = integrated loudness;
 * anchor = the loudest short-term (3 s) loudness, our stand-in for an anchor (there is
 * no speech to anchor on). Both in LUFS. Silence gives -70 (the R 128 gate).
 */
struct loudness {
  double program;
  double anchor;
};

/* 0, -ENOMEM, -EINVAL. */
int loud_measure(const struct pcm *p, struct loudness *ret);

#endif
