/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for media/manifest. The input is parsed three ways:
 *  - as MPD bytes from a fixed https origin (the network rule), and on success once more
 *    from a relative filesystem path (the local rule), walking every field of the result;
 *  - as the bytes of a sidx box, alone and through every SegmentBase rep of the manifest;
 *  - as an ISO 8601 duration (its first 64 bytes).
 * Invariants the parser promises are checked, and a broken one traps.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "media/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
  do {                                                                                             \
    if (!(c))                                                                                      \
      __builtin_trap();                                                                            \
  } while (0)

static void check_segments(const struct manifest_segment *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    CHECK(s[i].first <= s[i].last);
}

static void check_protection(const struct manifest_protection *p) {
  CHECK(p->n_drm == 0 || p->drm);
  for (size_t i = 0; i < p->n_drm; i++) {
    const struct manifest_drm *d = &p->drm[i];
    CHECK(!d->pssh || (d->pssh_len >= 32 && d->pssh_len <= MANIFEST_MAX_PSSH &&
                       memcmp(d->pssh + 4, "pssh", 4) == 0));
    CHECK(!d->license_url || strncmp(d->license_url, "https://", 8) == 0);
  }
}

static void walk(struct manifest *m, const uint8_t *data, size_t size) {
  size_t np;
  const struct manifest_period *per = manifest_periods(m, &np);
  CHECK(np >= 1 && np <= MANIFEST_MAX_PERIODS);
  for (size_t i = 0; i < np; i++) {
    CHECK(per[i].n_sets <= MANIFEST_MAX_SETS);
    for (size_t j = 0; j < per[i].n_sets; j++) {
      const struct manifest_set *set = &per[i].sets[j];
      CHECK(set->n_reps <= MANIFEST_MAX_REPS);
      check_protection(&set->protection);
      size_t nt, nr;
      const struct manifest_set *const *t = manifest_switch_targets(set, &nt);
      for (size_t k = 0; k < nt; k++)
        CHECK(t[k] != set && t[k]->id != NULL);
      const struct manifest_rep *const *ranked = manifest_set_ranked(set, &nr);
      CHECK(nr == set->n_reps);
      for (size_t k = 0; k < set->n_reps; k++) {
        const struct manifest_rep *r = &set->reps[k];
        CHECK(r->set == set && r->id && r->url && ranked[k]->set == set);
        CHECK(manifest_find_rep(m, r->id) != NULL);
        CHECK(r->url_is_path || strncmp(r->url, "https://", 8) == 0);
        CHECK(!manifest_is_remote(m) || !r->url_is_path);
        CHECK(strlen(r->url) <= MANIFEST_MAX_STRING);
        CHECK(r->n_segments <= MANIFEST_MAX_SEGMENTS);
        CHECK(r->timescale > 0);
        check_segments(r->segments, r->n_segments);
        check_protection(&r->protection);
        if (r->segment_base &&
            manifest_rep_set_segments_from_sidx(m, r, data, size, r->index.first) == 0)
          check_segments(r->segments, r->n_segments);
      }
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[256];
  struct manifest *m = NULL;
  if (manifest_parse(data, size, "https://fuzz.example/a/b/manifest.mpd?x=1", &m, err,
                     sizeof(err)) == 0) {
    walk(m, data, size);
    manifest_free(m);
    m = NULL;
    if (manifest_parse(data, size, "local/dir/manifest.mpd", &m, err, sizeof(err)) == 0) {
      walk(m, data, size);
      manifest_free(m);
    }
  }

  struct manifest_segment *segs = NULL;
  size_t n = 0;
  uint32_t ts = 0;
  if (manifest_sidx_parse(data, size, 1000, &segs, &n, &ts) == 0) {
    CHECK(n > 0 && ts > 0);
    check_segments(segs, n);
    free(segs);
  }

  char dur[65];
  size_t dl = size < 64 ? size : 64;
  memcpy(dur, data, dl);
  dur[dl] = 0;
  uint64_t ns;
  (void)manifest_parse_duration(dur, &ns);
  return 0;
}
