/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPACK_ES_H
#define AMPACK_ES_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/*
 * An encoded elementary stream: the codec packets (= MP4 samples) of one representation,
 * their durations in the media timescale (= the sample rate), and the codec configuration
 * box body (dfLa metadata blocks or dOps). Filled by enc_flac/enc_opus, read by mp4w.
 */

#define ES_MAX_BYTES (512u << 20) /* encoded bytes of one representation */
#define ES_MAX_SAMPLES (1u << 22) /* packets of one representation (~23 h of Opus) */
#define ES_MAX_CFG 128            /* dfLa (4 + 4 + 34) or dOps (11) body */

enum es_codec { ES_FLAC = 1, ES_OPUS = 2 };

struct es_sample {
  uint32_t off; /* into data */
  uint32_t size;
  uint32_t dur; /* media timescale */
};

struct es {
  enum es_codec codec;
  uint32_t rate; /* media timescale, Hz */
  uint32_t channels;
  uint32_t bits;       /* sample entry samplesize: FLAC bit depth, 16 for Opus */
  uint32_t priming;    /* samples to trim at the start (elst media_time); 0 for FLAC */
  uint64_t valid;      /* frames of source audio the stream represents */
  uint32_t bitrate;    /* target, for Opus; 0 for FLAC */
  struct buf data;     /* all packets back to back */
  struct es_sample *s; /* n packets */
  size_t n, cap;
  uint8_t cfg[ES_MAX_CFG]; /* body of dfLa (after version/flags) or dOps */
  size_t cfg_len;
};

void es_init(struct es *es, enum es_codec codec);
void es_done(struct es *es);
/* 0, -ENOMEM, -AMP_ETOOBIG. */
int es_add(struct es *es, const uint8_t *p, size_t size, uint32_t dur);
/* Sum of all durations. */
uint64_t es_total_dur(const struct es *es);

#endif
