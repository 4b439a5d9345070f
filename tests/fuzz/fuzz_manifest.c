/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for media/manifest. The input (after grow.h's expansion, which makes
 * manifests at MANIFEST_MAX_BYTES, MANIFEST_MAX_ELEMENTS and MANIFEST_MAX_SEGMENTS
 * reachable) is
 *     MPD bytes [ SIDX_SEP sidx bytes ]
 * split at the first SIDX_SEP; without one, the whole input is both the MPD and the sidx
 * (so plain .mpd and sidx .bin seeds work alone). It is parsed three ways:
 *  - the MPD from a fixed https origin (the network rule), and on success once more from a
 *    relative filesystem path (the local rule), walking every field of the result; every
 *    SegmentBase rep gets the sidx bytes as its index (at its indexRange offset), as the
 *    player does after fetching the indexRange;
 *  - the sidx bytes alone, as a sidx box;
 *  - the first 64 bytes as an ISO 8601 duration.
 * Invariants the parser promises are checked, and a broken one traps.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "grow.h"
#include "media/manifest.h"

/* Expansions up to one over the MPD bound, plus the largest sidx (65535 references). */
#define FUZZ_GROW_CAP (MANIFEST_MAX_BYTES + 1 + (1u << 20))
/* MPDs up to this size are parsed under both origins. */
#define FUZZ_LOCAL_MAX (256u << 10)

/* Between the MPD and the sidx (also in tests/fuzz/dict/mpd.dict). No MPD needs it: the
 * input is split at the first one. */
#define SIDX_SEP "\n--sidx--\n"
#define SIDX_SEP_LEN (sizeof(SIDX_SEP) - 1)

static void check_segments(const struct manifest_segment *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    CHECK(s[i].first <= s[i].last);
}

/* What manifest_sidx_parse promises for a parsed sidx at file offset off: references are
 * contiguous byte ranges after the box (which is at least 32 bytes long), and each one
 * starts where the previous one ended on the timeline. */
static void check_sidx_segments(const struct manifest_segment *s, size_t n, uint64_t off) {
  CHECK(n >= 1 && n <= MANIFEST_MAX_SEGMENTS);
  CHECK(s[0].first >= 32 && s[0].first - 32 >= off);
  check_segments(s, n);
  for (size_t i = 1; i < n; i++) {
    CHECK(s[i].first == s[i - 1].last + 1);
    CHECK(s[i].start == s[i - 1].start + s[i - 1].duration);
  }
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

static void walk(struct manifest *m, const uint8_t *sidx, size_t sidx_len) {
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
        CHECK(!r->segment_base || r->has_index);
        if (r->segment_base) {
          uint32_t ts_before = r->timescale;
          const struct manifest_segment *segs_before = r->segments;
          size_t n_before = r->n_segments;
          if (manifest_rep_set_segments_from_sidx(m, r, sidx, sidx_len, r->index.first) == 0) {
            check_sidx_segments(r->segments, r->n_segments, r->index.first);
            CHECK(r->timescale > 0);
          } else {
            /* on failure the rep is unchanged */
            CHECK(r->timescale == ts_before && r->segments == segs_before &&
                  r->n_segments == n_before);
          }
        }
      }
    }
  }
}

static void fuzz_one(const uint8_t *data, size_t size) {
  const uint8_t *mpd = data, *sidx = data;
  size_t mpd_len = size, sidx_len = size;
  const uint8_t *sep = memmem(data, size, SIDX_SEP, SIDX_SEP_LEN);
  if (sep) {
    mpd_len = (size_t)(sep - data);
    sidx = sep + SIDX_SEP_LEN;
    sidx_len = size - mpd_len - SIDX_SEP_LEN;
  }

  char err[256];
  struct manifest *m = NULL;
  if (manifest_parse(mpd, mpd_len, "https://fuzz.example/a/b/manifest.mpd?x=1", &m, err,
                     sizeof(err)) == 0) {
    CHECK(mpd_len <= MANIFEST_MAX_BYTES);
    walk(m, sidx, sidx_len);
    manifest_free(m);
    m = NULL;
    /* The local rule once more, on inputs of realistic size: a grown one would take
     * twice as long, for URL rules that small inputs reach as well. */
    if (mpd_len <= FUZZ_LOCAL_MAX &&
        manifest_parse(mpd, mpd_len, "local/dir/manifest.mpd", &m, err, sizeof(err)) == 0) {
      walk(m, sidx, sidx_len);
      manifest_free(m);
    }
  }

  struct manifest_segment *segs = NULL;
  size_t n = 0;
  uint32_t ts = 0;
  if (manifest_sidx_parse(sidx, sidx_len, 1000, &segs, &n, &ts) == 0) {
    CHECK(ts > 0);
    check_sidx_segments(segs, n, 1000);
    free(segs);
  }

  char dur[65];
  size_t dl = size < 64 ? size : 64;
  memcpy(dur, data, dl);
  dur[dl] = 0;
  uint64_t ns;
  (void)manifest_parse_duration(dur, &ns);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct grown g;
  if (grow(data, size, FUZZ_GROW_CAP, &g) == 0)
    fuzz_one(g.data, g.size);
  grow_free(&g);
  return 0;
}
