/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_PLAYER_LOADER_H
#define AMPD_PLAYER_LOADER_H

#include <stdint.h>

#include "cloud/apidoc.h"

/*
 * loader: from a track's audio reference to something playable, on the loop thread.
 * One load: GET the audio object (a new playback session, docs/service.md §10), GET its
 * manifest with the manifestHeaders, parse it (its final URL is the base of its
 * BaseURLs), let the caller choose the representation, and start the license for that
 * rep's pssh (player/drm) at once: the done callback runs as soon as the manifest is
 * parsed, with the license still in flight, so the first segment and the license are
 * fetched in parallel and the clear lead covers the license.
 *
 * Outcomes (done's err):
 *   0             *lt is the loaded track (the callback owns it: loaded_free)
 *   -AMP_EREPORT  the audio request answered 409: report holds the service's error
 *                 report (may be NULL), valid during the call
 *   -AMP_EUNSUPPORTED  the chooser found no rep this device can play
 *   otherwise     the error of the audio object (cloud/api), of the manifest request or
 *                 parse (media/manifest), or of drm_open
 *   -ECANCELED    loader_cancel
 * A 401, 403 or 410 on the manifest (its signed URL expired before we used it) fetches the
 * audio object once more.
 *
 * Logging: the outcome at debug, never a URL or a header value.
 */

struct loop;
struct http;
struct api;
struct license;
struct cdmhost;
struct manifest;
struct manifest_rep;
struct drm;
struct loader;

#define LOADER_MANIFEST_RETRIES 1 /* fresh audio objects after a 401/403/410 on the manifest */

struct loaded {
  struct apidoc_audio *audio; /* the audio object: uri, expires, header lists */
  struct manifest *manifest;
  const struct manifest_rep *rep; /* the chosen one, in manifest */
  struct drm *drm;                /* the license of this session; NULL for a clear rep */
};

/* Choose the rep to start with; NULL: none fits. */
typedef const struct manifest_rep *(*loader_choose_fn)(void *userdata, const struct manifest *m);
typedef void (*loader_done_fn)(void *userdata, int err, struct loaded *lt,
                               const struct apidoc_error *report);
/* The license of a loaded track: passed on to player/drm (err 0: keys usable). */
typedef void (*loader_drm_fn)(void *userdata, struct drm *d, int err);

struct loader_config {
  struct loop *loop;
  struct http *http;
  struct api *api;
  struct license *license;
  struct cdmhost *cdm;
  loader_choose_fn choose;
  loader_done_fn done;
  loader_drm_fn on_drm;
  void *userdata; /* for the three callbacks */
};

/* Start loading audio_url (https, copied). -EINVAL, -ENOMEM, or the api's refusal. */
int loader_start(const struct loader_config *cfg, const char *audio_url, struct loader **ret);
/* Stop a load: done runs with -ECANCELED before this returns. */
void loader_cancel(struct loader *l);

/* Free a loaded track (closes its drm). Accepts NULL. */
void loaded_free(struct loaded *lt);

#endif
