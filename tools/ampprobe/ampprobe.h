/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPPROBE_H
#define AMPPROBE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "media/cdmhost.h"

/* ampprobe: inspect an MPD or an fMP4, decode a Representation to WAV or ALSA. */

#define AMPPROBE_MAX_KEYS 64
/* The input is read whole before its type is known (an MPD, bounded again by the
 * parser, or an MP4 decoded as a whole file): 1 GiB. */
#define AMPPROBE_MAX_MP4 (1u << 30)

struct probe_opts {
  bool json;
  const char *rep;     /* --rep ID */
  const char *out;     /* -o OUT.wav */
  const char *alsa;    /* --alsa DEVICE */
  const char *cdm;     /* --cdm PLUGIN.so */
  const char *ca_file; /* --ca FILE: extra trust for https inputs */
  double start_s;      /* --start SECONDS (MPD input) */
  struct cdmhost_key keys[AMPPROBE_MAX_KEYS];
  size_t n_keys;
  const char *input;
};

/* Reads the input (file or https URL) whole into out; returns 1 if it is an MPD, 0 if
 * not (an MP4), or a negative error. */
int probe_load(const struct probe_opts *o, struct buf *out);

int probe_info(const struct probe_opts *o);
int probe_decode(const struct probe_opts *o);

/* Print "ampprobe: <what>: <reason>" on stderr; returns r. */
int probe_fail(int r, const char *what, const char *detail);

/* Walk the top-level boxes of a whole fMP4 in memory: the init (ftyp..moov) and each
 * moof+mdat run. 0 or -AMP_EMP4. */
struct probe_mp4_layout {
  size_t init_end;    /* bytes [0, init_end) are the init segment */
  size_t n_fragments; /* moof+mdat pairs after it */
  size_t *frag_start; /* malloc'd, n_fragments entries */
  size_t *frag_end;
};
int probe_mp4_layout(const uint8_t *buf, size_t len, struct probe_mp4_layout *ret);
void probe_mp4_layout_done(struct probe_mp4_layout *l);

#endif
