/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPPROBE_H
#define AMPPROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "media/cdmhost.h"

/* ampprobe: inspect an MPD or an fMP4, decode a Representation to WAV or ALSA. */

#define AMPPROBE_MAX_KEYS 64

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

/*
 * Reading the input (a file, a pipe or an https URL), front to back, once. Its first
 * non-blank byte tells an MPD ('<', after an optional UTF-8 BOM) from an fMP4 (a box size):
 *  - an MPD is kept whole in mpd, at most MANIFEST_MAX_BYTES: a larger input is refused
 *    with -AMP_ETOOBIG as soon as that many bytes have come, without reading the rest;
 *  - an fMP4 is walked box by box as it arrives, and on_unit gets its init segment (every
 *    box up to the end of the moov, at most MP4_MAX_INIT_SIZE) and then each fragment
 *    (a moof through its mdat, at most MP4_MAX_SEGMENT_SIZE) with its file offset; a sidx
 *    between the init and the first fragment (the file's own index, which declares how
 *    long the media is) comes alone, as PROBE_UNIT_SIDX. Other boxes between fragments
 *    (styp, later sidx, free) are skipped. Only one unit is held at a time.
 * A negative return of on_unit stops the read and is returned (unit_failed then says that
 * on_unit reported it); other failures say why in why[] when the code alone does not.
 */
enum { PROBE_IN_UNKNOWN = -1, PROBE_IN_MP4 = 0, PROBE_IN_MPD = 1 };
enum { PROBE_UNIT_FRAGMENT = 0, PROBE_UNIT_INIT = 1, PROBE_UNIT_SIDX = 2 };
typedef int (*probe_unit_fn)(void *userdata, int kind, const uint8_t *data, size_t len,
                             uint64_t offset);
struct probe_in {
  probe_unit_fn on_unit; /* set by the caller, with userdata */
  void *userdata;
  int kind;           /* PROBE_IN_* */
  struct buf mpd;     /* the manifest (PROBE_IN_MPD) */
  size_t n_fragments; /* fragments handed to on_unit */
  bool unit_failed;   /* the error came from on_unit */
  char why[192];      /* "" or why the read failed */
  /* the box walk */
  struct buf unit;   /* the init or the fragment being collected */
  uint64_t unit_off; /* its offset in the file */
  uint64_t off;      /* offset of the next byte */
  uint8_t hdr[16];   /* a box header being collected */
  size_t hdr_len;
  uint32_t box_type;
  uint64_t box_left; /* bytes of the current box still to come */
  bool in_box, open_ended, keep, seen_moov, in_frag, in_sidx, seen_sidx;
};
/* 0, or a negative code. Call probe_in_done() in either case. */
int probe_in_read(const struct probe_opts *o, struct probe_in *in);
void probe_in_done(struct probe_in *in);

int probe_info(const struct probe_opts *o);
int probe_decode(const struct probe_opts *o);

/* Print "ampprobe: <what>: <detail> (<reason>)" on stderr, with every URL in what and
 * detail cut to scheme, host and path (core/redact.h); returns r. */
int probe_fail(int r, const char *what, const char *detail);

#endif
