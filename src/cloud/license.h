/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_CLOUD_LICENSE_H
#define AMPD_CLOUD_LICENSE_H

#include <stddef.h>
#include <stdint.h>

#include <ampd/cdm.h>

struct loop;
struct http;
struct http_header;

/*
 * The Amazon license envelope (docs/service.md §8): a CDM's license challenge goes to
 * the license server as {"licenseChallenge":"<base64 challenge>"}, and the reply carries
 * the license as {"license":"<base64 license>", ...}. This module only wraps and unwraps;
 * what the bytes mean is the CDM's business (media/cdmhost).
 *
 * Errors: 0 or negative (-errno, -AMP_E* of core/err.h). Nothing here logs a challenge
 * or a license.
 */

/* Challenge and license bytes: the CDM ABI's message bound. */
#define LICENSE_MAX_MESSAGE AMPD_CDM_MAX_MESSAGE
/* Envelope JSON: base64 of a maximal message plus a little framing. */
#define LICENSE_MAX_ENVELOPE (LICENSE_MAX_MESSAGE / 3 * 4 + 1024)
/* Nesting allowed in a reply: {"license": "..."} needs 1. */
#define LICENSE_MAX_DEPTH 8

/* {"licenseChallenge":"<base64 challenge>"} (standard alphabet, padded) as a malloc'd
 * NUL-terminated string. -AMP_ETOOBIG over LICENSE_MAX_MESSAGE, -EINVAL for an empty
 * challenge. */
int license_request_body(const uint8_t *challenge, size_t len, char **ret_json);

/* From a reply body {"license":"<base64>", ...} (<= LICENSE_MAX_ENVELOPE bytes, need not
 * be NUL-terminated) to the decoded license bytes (malloc'd; caller free()s).
 * -AMP_ETOOBIG, -AMP_EJSON (not JSON, bytes other than white space after the object,
 * nested past LICENSE_MAX_DEPTH, a NUL anywhere, raw or as \u0000, not an object, no "license", not
 * a string), -AMP_ELICENSE (bad base64, empty or over LICENSE_MAX_MESSAGE), -ENOMEM; -EINVAL for a
 * NULL argument. */
int license_from_reply(const char *json, size_t len, uint8_t **ret_license, size_t *ret_len);

/*
 * The license client (docs/service.md §8): license_fetch() POSTs one challenge, wrapped
 * in the envelope, to a license URL on the loop and hands back the unwrapped license.
 *
 * Every request carries the audio object's `key` headers (copied at the call), the
 * headers of the config's headers callback (Authorization: Bearer <token>; asked again
 * for every attempt), `Content-Type: application/json`, and, with expiry_test_secs set,
 * `x-amz-music-license-expiration-secs` and
 * `x-alexa-music-license-expiration-test-duration-secs` with that value. User-Agent is
 * net/http's (http_config.user_agent).
 *
 * Outcomes, as the err of the done callback:
 *   0              2xx with a good envelope: the license bytes.
 *   -AMP_EJSON, -AMP_ELICENSE, -AMP_ETOOBIG
 *                  a 2xx whose body is not a good envelope (license_from_reply), or a
 *                  reply body over LICENSE_MAX_ENVELOPE.
 *   -EACCES        401 twice: on the first, on_token_rejected runs and the request is
 *                  sent once more after the backoff below (the refresh runs
 *                  meanwhile), with fresh headers. A second 401 means the
 *                  device is unlinked: link again (§2, §5).
 *   -EPERM         403: denied (the CDM is revoked, the content or the customer is not
 *                  eligible). Never retried: stop and show it.
 *   -EBADMSG       400: the server refused the request as malformed. Never retried.
 *   -AMP_EHTTP     500, any other status, and a 503 that came again after its retry
 *                  (a 503 is retried once, after backoff_ms jittered: between half and
 *                  all of it, a loop timer; the service's documented rule).
 *   network errors (-AMP_ENETWORK, -AMP_ETRUNCATED, -ETIMEDOUT)
 *                  retried up to LICENSE_NET_RETRIES_MAX times, after backoff_ms, then
 *                  2, 4 and 8 times it (jittered the same way): about 8-15 s of a bad
 *                  network, within the 30 s clear lead a track plays meanwhile; the
 *                  failure after the last retry is reported as is.
 *   -AMP_ETLS, -AMP_EINSECURE, -AMP_EREDIRECT, -ENOMEM: as net/http says, not retried.
 *   -ECANCELED     license_cancel() or license_free().
 *   a negative return of the headers callback: that value. -EAGAIN means "no token
 *                  this moment, a refresh runs": the attempt waits a backoff and asks
 *                  again, up to LICENSE_AUTH_WAITS_MAX times, then ends with -EAGAIN.
 *
 * Logging: the reply's status and request id (x-amzn-requestid) at debug; never the
 * body, the challenge, the license, a header or the URL. Everything belongs to the loop's
 * thread. Errors: 0 or negative (-errno, -AMP_E*).
 */

#define LICENSE_KEY_HEADERS_MAX 20 /* key headers of one audio object (docs/service.md §4) */
#define LICENSE_AUTH_HEADERS_MAX 4 /* headers the headers callback may add */
#define LICENSE_BACKOFF_DEFAULT_MS 1000u
#define LICENSE_TIMEOUT_DEFAULT_MS 30000u
#define LICENSE_EXPIRY_TEST_MAX (366u * 86400u) /* seconds */
#define LICENSE_NET_RETRIES_MAX 4u /* retries of a network failure (backoff doubling) */
#define LICENSE_AUTH_WAITS_MAX 30u /* backoffs waited for a token (headers said -EAGAIN) */

struct license;
struct license_fetch;

/* Fill out[0..max) with the request's own headers (Authorization) and *ret_n with their
 * number. The strings must stay valid until the callback returns to the loop (the
 * request copies them). A negative return ends the fetch with that error. */
typedef int (*license_headers_fn)(void *userdata, struct http_header *out, size_t max,
                                  size_t *ret_n);
/* The server answered 401: the token should be refreshed (lwa_token_rejected). */
typedef void (*license_token_fn)(void *userdata);
/* The end of one fetch (called exactly once for every fetch that started). license and
 * len are the license bytes for err 0 (NULL/0 otherwise), valid only during the call:
 * they are wiped afterwards. The callback may start and cancel other fetches. */
typedef void (*license_done_fn)(void *userdata, int err, const uint8_t *license, size_t len);

struct license_config {
  uint32_t backoff_ms;                /* before the retry of a 503 (0: default) */
  uint32_t timeout_ms;                /* one attempt (0: default) */
  uint32_t expiry_test_secs;          /* ask for a short license (tests); 0: off */
  license_headers_fn headers;         /* may be NULL: no Authorization */
  license_token_fn on_token_rejected; /* may be NULL */
  void *userdata;                     /* for both */
};

/* A client on loop l with http client h (both must outlive it). -EINVAL (expiry test
 * over LICENSE_EXPIRY_TEST_MAX), -ENOMEM. */
int license_new(struct loop *l, struct http *h, const struct license_config *cfg,
                struct license **ret);

/* Cancel every fetch in flight (each done callback runs with -ECANCELED) and free.
 * Accepts NULL. Not from a done callback. */
void license_free(struct license *lc);

/* Start fetching the license for challenge (1..LICENSE_MAX_MESSAGE bytes, copied) from
 * url (https, copied) with the audio object's key headers (at most
 * LICENSE_KEY_HEADERS_MAX, copied). *ret (may be NULL) is the handle for
 * license_cancel(), valid until done runs. Errors (done is not called): -EINVAL,
 * -AMP_ETOOBIG, -AMP_EINSECURE, -ENOMEM. */
int license_fetch(struct license *lc, const char *url, const struct http_header *key_headers,
                  size_t n, const uint8_t *challenge, size_t len, license_done_fn done,
                  void *userdata, struct license_fetch **ret);

/* Stop f now: its done callback runs with -ECANCELED before this returns. A no-op from
 * inside f's own done callback. */
void license_cancel(struct license_fetch *f);

#endif
