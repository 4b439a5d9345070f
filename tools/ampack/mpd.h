/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPACK_MPD_H
#define AMPACK_MPD_H

#include <stddef.h>
#include <stdint.h>

#include "es.h"
#include "loudness.h"
#include "mp4w.h"

/*
 * The MPD in the Amazon shape (docs/service.md §7): static, one Period, an HD AdaptationSet
 * (FLAC) and an SD one (Opus) that name each other as switch targets, SegmentList with
 * byte ranges per Representation. Encrypted: mp4protection with cenc:default_KID, Widevine
 * with cenc:pssh and the license URL element, and ClearKey with dashif:Laurl when a
 * ClearKey license URL is given.
 */

#define MPD_MAX_BYTES (4u << 20) /* bytes of one MPD */
#define MPD_DEFAULT_LICENSE_URL "https://127.0.0.1:8443/license"

struct mpd_rep {
  const char *id; /* Representation@id; BaseURL is "<id>.mp4" */
  const struct es *es;
  const struct mp4w_out *mp4;
  int hd;           /* 1: the HD (FLAC) set, 0: the SD (Opus) set */
  unsigned quality; /* qualityRanking within the set, 1 = best */
};

struct mpd_track {
  double duration_s;
  struct loudness loud;
  int encrypt;
  uint8_t kid[16];
  const char *content_id;
  const char *license_url;  /* Amazon LicenseUrl element; default if NULL */
  const char *clearkey_url; /* NULL: no ClearKey ContentProtection */
  /* The key provider's pssh boxes (SPEKE): [0] Widevine's cenc:pssh, [1] the W3C common
   * box in the ClearKey element; NULL: ampack's own (mp4w_pssh_*). */
  const uint8_t *pssh[2];
  size_t pssh_len[2];
  const struct mpd_rep *reps;
  size_t n_reps;
};

/* Write the MPD to path. 0, -errno, -ENOMEM, -AMP_ETOOBIG, -EINVAL. */
int mpd_write(const char *path, const struct mpd_track *t);

#endif
