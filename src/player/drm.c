/* SPDX-License-Identifier: Apache-2.0 */
/* One track's license: CDM session, challenge, fetch, update, renewal. See drm.h. */
#include "player/drm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <ampd/cdm.h>

#include "cloud/license.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"
#include "media/cdmhost.h"
#include "net/http.h"

LOG_TOPIC("drm");

struct drm {
  struct loop *loop;
  struct license *license;
  struct cdmhost *cdm;
  uint32_t session;
  uint8_t kid[16];
  uint8_t *challenge; /* kept for renewals */
  size_t challenge_len;
  char *url;
  struct http_header keys[DRM_KEY_HEADERS_MAX];
  size_t n_keys;
  struct license_fetch *fetch;
  struct loop_source *timer;
  drm_fn cb;
  void *userdata;
  bool ready;
  int64_t expiry_ms;
  unsigned licenses;
};

static void free_keys(struct drm *d) {
  for (size_t i = 0; i < d->n_keys; i++) {
    free((void *)(uintptr_t)d->keys[i].name);
    free((void *)(uintptr_t)d->keys[i].value);
  }
  d->n_keys = 0;
}

/* Arm the renewal: DRM_RENEW_AHEAD_S before the expiry, or at half the time left. */
static void arm_renewal(struct drm *d) {
  if (!d->expiry_ms)
    return;
  int64_t now_ms = clock_wall_usec() / 1000;
  int64_t left = d->expiry_ms - now_ms;
  int64_t ahead = (int64_t)DRM_RENEW_AHEAD_S * 1000;
  if (ahead > left / 2)
    ahead = left / 2;
  int64_t wait = left - ahead;
  if (wait < 0)
    wait = 0;
  loop_timer_set(d->timer, clock_mono_usec() + (uint64_t)wait * 1000u);
  log_debug("license renewal in %lld ms", (long long)wait);
}

static void on_license(void *ud, int err, const uint8_t *lic, size_t len) {
  struct drm *d = ud;
  d->fetch = NULL;
  if (err == 0)
    err = cdmhost_update(d->cdm, d->session, lic, len);
  if (err == 0) {
    uint32_t status = 0;
    int64_t expiry = 0;
    err = cdmhost_key_status(d->cdm, d->session, d->kid, &status, &expiry);
    if (err == 0 && status != AMPD_CDM_KEY_USABLE)
      err = status == AMPD_CDM_KEY_EXPIRED ? -AMP_EKEYEXPIRED : -AMP_ENOKEY;
    if (err == 0) {
      d->ready = true;
      d->expiry_ms = expiry;
      d->licenses++;
      arm_renewal(d);
    }
  }
  if (err < 0) {
    log_debug("license: %s", amp_strerror(err));
    /* A renewal that failed while the old license lasts is tried again. */
    int64_t now_ms = clock_wall_usec() / 1000;
    if (d->ready && d->expiry_ms && now_ms + DRM_RETRY_S * 1000 < d->expiry_ms && err != -EPERM &&
        err != -EACCES) {
      loop_timer_set(d->timer, clock_mono_usec() + (uint64_t)DRM_RETRY_S * 1000000u);
      return;
    }
    d->ready = false;
  }
  d->cb(d->userdata, d, err);
}

static void on_license_guard(void *ud, int err, const uint8_t *lic, size_t len);

static void start_fetch(struct drm *d) {
  int r = license_fetch(d->license, d->url, d->keys, d->n_keys, d->challenge, d->challenge_len,
                        on_license_guard, d, &d->fetch);
  if (r < 0) {
    d->fetch = NULL;
    d->ready = false;
    d->cb(d->userdata, d, r);
  }
}

static void on_timer(struct loop_source *s, uint64_t now, void *ud) {
  (void)s;
  (void)now;
  struct drm *d = ud;
  if (!d->fetch)
    start_fetch(d);
}

void drm_close(struct drm *d) {
  if (!d)
    return;
  if (d->fetch) {
    d->cb = NULL;
    struct license_fetch *f = d->fetch;
    d->fetch = NULL;
    license_cancel(f); /* on_license runs with -ECANCELED: see the guard there */
  }
  loop_source_free(d->timer);
  if (d->session)
    cdmhost_session_close(d->cdm, d->session);
  if (d->challenge)
    explicit_bzero(d->challenge, d->challenge_len);
  free(d->challenge);
  free(d->url);
  free_keys(d);
  free(d);
}

static void on_license_guard(void *ud, int err, const uint8_t *lic, size_t len) {
  struct drm *d = ud;
  if (!d->cb) /* closing: drm_close cancelled the fetch */
    return;
  on_license(ud, err, lic, len);
}

int drm_open(const struct drm_params *p, drm_fn cb, void *userdata, struct drm **ret) {
  if (!p || !p->loop || !p->license || !p->cdm || !p->pssh || !p->pssh_len || !p->license_url ||
      !cb || !ret || (p->n_keys && !p->keys))
    return -EINVAL;
  if (p->n_keys > DRM_KEY_HEADERS_MAX)
    return -AMP_ETOOBIG;
  struct drm *d = calloc(1, sizeof(*d));
  if (!d)
    return -ENOMEM;
  d->loop = p->loop;
  d->license = p->license;
  d->cdm = p->cdm;
  d->cb = cb;
  d->userdata = userdata;
  memcpy(d->kid, p->kid, sizeof(d->kid));
  int r = -ENOMEM;
  if (!(d->url = strdup(p->license_url)))
    goto fail;
  for (size_t i = 0; i < p->n_keys; i++) {
    char *n = strdup(p->keys[i].name), *v = strdup(p->keys[i].value);
    if (!n || !v) {
      free(n);
      free(v);
      goto fail;
    }
    d->keys[d->n_keys++] = (struct http_header){n, v};
  }
  if ((r = loop_add_timer(d->loop, clock_mono_usec(), on_timer, d, &d->timer)) < 0)
    goto fail;
  loop_timer_disarm(d->timer);
  if ((r = cdmhost_session_open(d->cdm, &d->session)) < 0) {
    d->session = 0;
    goto fail;
  }
  if ((r = cdmhost_generate_request(d->cdm, d->session, AMPD_CDM_INIT_CENC, p->pssh, p->pssh_len,
                                    &d->challenge, &d->challenge_len)) < 0)
    goto fail;
  r = license_fetch(d->license, d->url, d->keys, d->n_keys, d->challenge, d->challenge_len,
                    on_license_guard, d, &d->fetch);
  if (r < 0) {
    d->fetch = NULL;
    goto fail;
  }
  *ret = d;
  return 0;
fail:
  d->cb = NULL;
  drm_close(d);
  return r;
}

uint32_t drm_session(const struct drm *d) {
  return d ? d->session : 0;
}

bool drm_ready(const struct drm *d) {
  return d && d->ready;
}

int64_t drm_expiry_ms(const struct drm *d) {
  return d ? d->expiry_ms : 0;
}

unsigned drm_licenses(const struct drm *d) {
  return d ? d->licenses : 0;
}
