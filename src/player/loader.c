/* SPDX-License-Identifier: Apache-2.0 */
/* A track's audio object, manifest, chosen rep and license. See loader.h. */
#include "player/loader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/api.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "media/manifest.h"
#include "net/http.h"
#include "player/drm.h"

LOG_TOPIC("loader");

struct loader {
  struct loader_config cfg;
  char *audio_url;
  struct api_call *call;
  struct http_request *req;
  struct apidoc_audio *audio;
  struct buf body;
  unsigned retries;
  bool in_done;
};

static void finish(struct loader *l, int err, struct loaded *lt,
                   const struct apidoc_error *report) {
  log_debug("load: %s", err ? amp_strerror(err) : "ok");
  l->in_done = true;
  l->cfg.done(l->cfg.userdata, err, lt, report);
  apidoc_audio_free(l->audio);
  buf_done(&l->body);
  free(l->audio_url);
  free(l);
}

void loaded_free(struct loaded *lt) {
  if (!lt)
    return;
  drm_close(lt->drm);
  manifest_free(lt->manifest);
  apidoc_audio_free(lt->audio);
  free(lt);
}

/* The manifest is in: parse, choose, start the license, hand out. */
static void manifest_in(struct loader *l, const char *final_url) {
  struct loaded *lt = calloc(1, sizeof(*lt));
  if (!lt) {
    finish(l, -ENOMEM, NULL, NULL);
    return;
  }
  char why[256] = "";
  int r = manifest_parse(l->body.data, l->body.len, final_url, &lt->manifest, why, sizeof(why));
  if (r < 0) {
    log_debug("manifest: %s", why); /* a line number and a reason, never a URL query */
    loaded_free(lt);
    finish(l, r, NULL, NULL);
    return;
  }
  lt->rep = l->cfg.choose(l->cfg.userdata, lt->manifest);
  if (!lt->rep) {
    loaded_free(lt);
    finish(l, -AMP_EUNSUPPORTED, NULL, NULL);
    return;
  }
  if (lt->rep->protection.cenc) {
    size_t plen = 0;
    const uint8_t *pssh = manifest_pssh(lt->rep, MANIFEST_DRM_CLEARKEY, &plen);
    if (!pssh)
      pssh = manifest_pssh(lt->rep, MANIFEST_DRM_W3C_COMMON, &plen);
    if (!pssh)
      pssh = manifest_pssh(lt->rep, MANIFEST_DRM_WIDEVINE, &plen);
    const char *url = manifest_license_url(lt->rep, MANIFEST_DRM_WIDEVINE);
    if (!url)
      url = manifest_license_url(lt->rep, MANIFEST_DRM_CLEARKEY);
    struct drm_params p = {.loop = l->cfg.loop,
                           .license = l->cfg.license,
                           .cdm = l->cfg.cdm,
                           .pssh = pssh,
                           .pssh_len = plen,
                           .license_url = url,
                           .keys = l->audio->key.h,
                           .n_keys = l->audio->key.n};
    memcpy(p.kid, lt->rep->protection.kid, sizeof(p.kid));
    /* The drm outlives this load: its callback goes straight to the caller. */
    r = pssh && url ? drm_open(&p, l->cfg.on_drm, l->cfg.userdata, &lt->drm) : -AMP_EMANIFEST;
    if (r < 0) {
      lt->drm = NULL;
      loaded_free(lt);
      finish(l, r, NULL, NULL);
      return;
    }
  }
  lt->audio = l->audio;
  l->audio = NULL;
  finish(l, 0, lt, NULL);
}

static void get_audio(struct loader *l);

static void on_manifest(struct http_request *rq, const struct http_response *resp, void *ud) {
  (void)rq;
  struct loader *l = ud;
  l->req = NULL;
  if (resp->err == -AMP_EHTTP &&
      (resp->status == 401 || resp->status == 403 || resp->status == 410) &&
      l->retries < LOADER_MANIFEST_RETRIES) {
    l->retries++;
    apidoc_audio_free(l->audio);
    l->audio = NULL;
    get_audio(l); /* a fresh audio object: a new session */
    return;
  }
  if (resp->err < 0) {
    finish(l, resp->err, NULL, NULL);
    return;
  }
  manifest_in(l, resp->url && resp->url[0] ? resp->url : l->audio->uri);
}

static void on_audio(void *ud, int err, struct api_reply *reply) {
  struct loader *l = ud;
  l->call = NULL;
  if (err < 0) {
    finish(l, err, NULL, reply->report);
    apidoc_error_free(reply->report);
    return;
  }
  l->audio = reply->audio;
  buf_reset(&l->body);
  struct http_request_opts o = {.method = HTTP_GET,
                                .url = l->audio->uri,
                                .headers = l->audio->manifest.h,
                                .n_headers = l->audio->manifest.n,
                                .body_out = &l->body,
                                .on_done = on_manifest,
                                .userdata = l};
  int r = http_request_start(l->cfg.http, &o, &l->req);
  if (r < 0) {
    l->req = NULL;
    finish(l, r, NULL, NULL);
  }
}

static void get_audio(struct loader *l) {
  int r = api_get(l->cfg.api, API_AUDIO, l->audio_url, on_audio, l, &l->call);
  if (r < 0) {
    l->call = NULL;
    finish(l, r, NULL, NULL);
  }
}

int loader_start(const struct loader_config *cfg, const char *audio_url, struct loader **ret) {
  if (!cfg || !cfg->loop || !cfg->http || !cfg->api || !cfg->license || !cfg->cdm || !cfg->choose ||
      !cfg->done || !cfg->on_drm || !audio_url || !ret)
    return -EINVAL;
  struct loader *l = calloc(1, sizeof(*l));
  if (!l || !(l->audio_url = strdup(audio_url))) {
    free(l);
    return -ENOMEM;
  }
  l->cfg = *cfg;
  buf_init(&l->body, MANIFEST_MAX_BYTES);
  int r = api_get(l->cfg.api, API_AUDIO, l->audio_url, on_audio, l, &l->call);
  if (r < 0) {
    free(l->audio_url);
    buf_done(&l->body);
    free(l);
    return r;
  }
  *ret = l;
  return 0;
}

void loader_cancel(struct loader *l) {
  if (!l || l->in_done)
    return;
  if (l->call) {
    api_cancel(l->call); /* on_audio finishes with -ECANCELED */
    return;
  }
  if (l->req) {
    http_request_cancel(l->req); /* on_manifest finishes with -ECANCELED */
    return;
  }
  finish(l, -ECANCELED, NULL, NULL);
}
