/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_CLOUD_API_H
#define AMPD_CLOUD_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cloud/apidoc.h"

/*
 * api: the Device API client (docs/service.md §3-§5) on the loop, through net/http.
 * api_get() fetches one URL the service gave (never one built here, except the root)
 * as a document, an audio object or a general error report; api_cursor walks a
 * container (album, playlist, station) from its first chunk to its tracks, following
 * nextTrackPointer into new chunks.
 *
 * Every request carries the playback headers of docs/service.md §5: Authorization:
 * Bearer (from cloud/lwa, asked for every attempt), X-Amzn-Audio-DRMType: WIDEVINE,
 * X-Amzn-Audio-Device-Capability, X-Amzn-Device-Id, hasExplicit, Accept-Language and
 * Accept: application/json; User-Agent is net/http's (http_config.user_agent, which
 * must read "<device>/<version>"). Redirects are followed within the origin only (the
 * headers are credentials); the document's final URL is where its references resolve.
 *
 * Outcomes, as the err of the done callback:
 *   0             a 2xx whose body parsed (reply->doc, ->audio or ->report by kind)
 *   -AMP_EREPORT  a 409: reply->report holds the general error report (NULL when the
 *                 body was not a readable report). Never retried.
 *   -EACCES       a 401 again after one refresh and one retry: the link is gone (§5)
 *   -AMP_EHTTP    another 4xx (reply->status), never retried; or a 5xx after the retries
 *   -ENOLINK      not linked (from lwa)
 *   parse errors of apidoc (-AMP_EJSON, -AMP_ETOOBIG, -AMP_EINSECURE, ...)
 *   net/http errors; 5xx, 408, 429 and network errors are retried API_RETRIES_MAX times
 *   after a backoff (backoff_ms doubling, jittered, or Retry-After up to
 *   API_RETRY_AFTER_MAX_S), then reported; so is the token refresh a call waits for
 *   failing in passing (lwa's 5xx or network error: the same retries, then that error)
 *   -ECANCELED    api_cancel() or api_free()
 *
 * Logging: at debug, the kind, the status and the outcome; never a URL (signed), a
 * header value or a body. Loop thread only. Errors: 0 or negative -errno / -AMP_E*.
 */

struct loop;
struct http;
struct lwa;
struct api;
struct api_call;
struct api_cursor;

#define API_RETRIES_MAX 3            /* retries of a 5xx / 408 / 429 / network error */
#define API_RETRY_AFTER_MAX_S 60     /* a Retry-After longer than this is cut */
#define API_BACKOFF_DEFAULT_MS 1000u /* the first retry's wait */
#define API_TIMEOUT_DEFAULT_MS 20000u
#define API_CAPABILITY_MAX 128  /* bytes of the capability list */
#define API_LANGUAGE_MAX 64     /* bytes of Accept-Language */
#define API_CURSOR_MAX_EMPTY 16 /* chunks in a row without a track: then an error */
#define API_CALLS_MAX 64        /* calls in flight or waiting at once */

enum api_kind {
  API_DOCUMENT, /* a document (apidoc_parse with the final URL) */
  API_AUDIO,    /* a bare audio object (apidoc_audio_parse) */
  API_REPORT,   /* a general error report (apidoc_general_error), e.g. a definition's error */
};

struct api_config {
  const char *base_url;        /* {api}: the root document, https */
  const char *device_id;       /* X-Amzn-Device-Id: 32 lower-case hex (cloud/deviceid) */
  const char *capability;      /* comma list, no spaces, of STD_RES HI_FI HI_RES
                                * THREE_DIMENSIONAL REAL_AUDIO_360; NULL: "STD_RES,HI_FI" */
  bool has_explicit;           /* hasExplicit: whether explicit tracks may be offered */
  const char *accept_language; /* NULL: "en-US" */
  uint32_t timeout_ms;         /* one attempt; 0: API_TIMEOUT_DEFAULT_MS */
  uint32_t backoff_ms;         /* 0: API_BACKOFF_DEFAULT_MS */
};

/* What one call gave. The callback takes ownership of doc, audio and report (free them
 * with apidoc_free, apidoc_audio_free, apidoc_error_free). */
struct api_reply {
  long status;                 /* the final HTTP status, 0 when none */
  struct apidoc *doc;          /* API_DOCUMENT, err 0 */
  struct apidoc_audio *audio;  /* API_AUDIO, err 0; expires_ms on our wall clock (moved by
                                * the service's skew, read from the reply's Date) */
  struct apidoc_error *report; /* API_REPORT with err 0, or err -AMP_EREPORT */
};

/* Called exactly once per accepted call, from the loop (never from inside api_get). */
typedef void (*api_done_fn)(void *userdata, int err, struct api_reply *reply);

/* A client on loop l with http client h and token source w (all must outlive it).
 * cfg's strings are copied. -EINVAL (a missing or malformed field), -AMP_EINSECURE,
 * -ENOMEM. */
int api_new(struct loop *l, struct http *h, struct lwa *w, const struct api_config *cfg,
            struct api **ret);
/* Cancel every call (done runs with -ECANCELED) and free. Accepts NULL. Not from a
 * callback of this client. */
void api_free(struct api *a);

/* The root URL (the configured base). */
const char *api_root(const struct api *a);

/* GET url (https, absolute) as kind. *ret (may be NULL) is the handle for api_cancel,
 * valid until done runs. -EINVAL, -AMP_EINSECURE, -EBUSY (API_CALLS_MAX), -ENOMEM: done
 * is not called. */
int api_get(struct api *a, enum api_kind kind, const char *url, api_done_fn done, void *userdata,
            struct api_call **ret);
/* Stop c: its done runs with -ECANCELED before this returns. A no-op from its own done. */
void api_cancel(struct api_call *c);

/* ------------------------------------------------------------------ the cursor */

/* One track of a container, copied out of its document (owned by the cursor, valid
 * until the next api_cursor_next or api_cursor_free). Strings NULL when absent. URLs are
 * absolute (resolved against the final URL of the document that named them). */
struct api_track {
  const char *instance; /* the track instance's name in its chunk document */
  const char *title, *track_tag, *artist, *album;
  double duration; /* seconds, -1 when absent */
  bool is_explicit, auto_skip;
  const char *collector_url; /* playbackEventCollector */
  const char *error_url;     /* a general error report to fetch (API_REPORT) */
  const char *audio_url;     /* the audio object to fetch (API_AUDIO): a new session */
  const char *audio_json;    /* or the inline audio object (apidoc_audio_parse) */
  const char *image_url;     /* the cover (image.uri) when it is an https URL, else NULL */
  uint64_t chunk_no;         /* chunks entered before this one's: 0 for the first */
  uint32_t index;            /* index within its chunk */
};

/* err 0 and the next track; -ENOENT at the end of the container (no next pointer);
 * or the error of fetching or reading the next chunk (the cursor stays where it was:
 * next may be asked again). */
typedef void (*api_track_fn)(void *userdata, int err, const struct api_track *t);

/* A cursor over the container whose first chunk document is doc (ownership passes to
 * the cursor, also on error): its result must name a chunk. -ENOENT (it does not),
 * -EINVAL, -ENOMEM. */
int api_cursor_new(struct api *a, struct apidoc *doc, struct api_cursor **ret);
void api_cursor_free(struct api_cursor *c);
/* The next track, through cb (from the loop, never from inside this call). -EALREADY
 * while one is being fetched, -EINVAL. */
int api_cursor_next(struct api_cursor *c, api_track_fn cb, void *userdata);

#endif
