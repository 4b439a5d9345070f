/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_PLAYER_DRM_H
#define AMPD_PLAYER_DRM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * drm: the license of one track's playback session, on the loop thread. drm_open()
 * opens a CDM session, turns the manifest's pssh into a challenge, fetches the license
 * (cloud/license, with the audio object's key headers) and hands it to the CDM; the
 * callback says when the keys are usable. It is started as soon as the manifest is
 * parsed, in parallel with the first segment, so the 30 s clear lead covers it
 * (docs/service.md §8).
 *
 * Renewal: when the license carries an expiry (the CDM's key status), the same
 * challenge is sent again DRM_RENEW_AHEAD_S before it (or at half its lifetime when that
 * is shorter) and the new license replaces the old one in the same CDM session, so
 * decryption never sees an expired key. [ours] Reposting the first challenge is what
 * the ClearKey plugin and the mock expect; a CDM with its own renewal message (Widevine)
 * would hand that out instead, through a slot the CDM ABI does not have yet.
 *
 * A failed renewal is retried after DRM_RETRY_S while the old license lasts; then the
 * callback gets the error. The CDM session belongs to this object: drm_session() for
 * the pipeline, closed by drm_close() (which the media thread must no longer use).
 * Nothing here logs a key, a challenge, a license or a header value.
 */

struct loop;
struct license;
struct cdmhost;
struct http_header;
struct drm;

#define DRM_RENEW_AHEAD_S 60 /* renew this long before the license expires */
#define DRM_RETRY_S 5        /* a failed renewal is tried again after this */
#define DRM_KEY_HEADERS_MAX 20

struct drm_params {
  struct loop *loop;
  struct license *license; /* the license client (its headers callback adds the bearer) */
  struct cdmhost *cdm;
  const uint8_t *pssh; /* the whole pssh box(es) of the rep (AMPD_CDM_INIT_CENC), copied */
  size_t pssh_len;
  const char *license_url;        /* https, copied */
  const struct http_header *keys; /* the audio object's key headers, copied */
  size_t n_keys;                  /* <= DRM_KEY_HEADERS_MAX */
  uint8_t kid[16];                /* the rep's default KID: whose status is watched */
};

/* After every license (the first and each renewal): err 0, the keys are usable; or the
 * error that ended it (the license client's: -EPERM denied, -EACCES unlinked, ...). */
typedef void (*drm_fn)(void *userdata, struct drm *d, int err);

/* 0 and *ret (the fetch runs), or -EINVAL, -ENOMEM, an error of the CDM or of
 * license_fetch (cb is not called then). */
int drm_open(const struct drm_params *p, drm_fn cb, void *userdata, struct drm **ret);
/* Cancel what runs and close the CDM session. Accepts NULL. Not from its own callback. */
void drm_close(struct drm *d);

uint32_t drm_session(const struct drm *d);
bool drm_ready(const struct drm *d);
/* The license's expiry, epoch ms; 0 when it has none. */
int64_t drm_expiry_ms(const struct drm *d);
/* Licenses obtained so far (1 after the first, +1 for each renewal). */
unsigned drm_licenses(const struct drm *d);

#endif
