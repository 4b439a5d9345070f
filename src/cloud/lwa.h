/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_CLOUD_LWA_H
#define AMPD_CLOUD_LWA_H

#include <stddef.h>
#include <stdint.h>

/*
 * lwa: Login with Amazon for ampd (docs/service.md §2): code pairing ("go to
 * verification_uri and type user_code"), the access token every service call carries,
 * and its refresh. Everything runs on the loop's thread, through net/http (form-encoded
 * POSTs, https only).
 *
 * States:
 *   UNLINKED  no tokens. lwa_link_start() begins a pairing.
 *   LINKING   a code pair is shown to the user (lwa_link_info); the token endpoint is
 *             polled no faster than the pair's interval. slow_down doubles the interval
 *             (up to 60 s); invalid_code_pair, expired_token or the pair's own expiry
 *             fetch a new pair by themselves (the state callback runs again with the new
 *             code); invalid_grant, invalid_request, unauthorized_client and
 *             unsupported_grant_type end the pairing (UNLINKED, with an error). A 5xx
 *             or network error while pairing is retried after the backoff below.
 *   LINKED    refresh and access tokens, persisted. The access token is refreshed 5 min
 *             before it expires (a loop timer), on demand, or after lwa_token_rejected().
 *             A refresh answered invalid_grant drops the tokens and removes the file
 *             (UNLINKED, -ENOLINK); 5xx and network errors are retried after 0, 1, 2, 4,
 *             10, 30, 60, 60 ... s (with jitter).
 *
 * Persistence: `<state_dir>/lwa-tokens.json` through core/statefile (0600, replaced
 * whole): the refresh token, the access token and its absolute expiry (wall clock,
 * epoch seconds). A file statefile_read() refuses (foreign owner, loose mode, symlink)
 * or that does not parse is reported once (a warning without its content), removed,
 * and the state starts UNLINKED (an I/O error reading it: UNLINKED, the file kept).
 *
 * Secrets: no token, device code or reply body is ever logged, at any level; tokens are
 * wiped from memory when replaced and at lwa_free(). Bounds: LWA_REPLY_MAX bytes of
 * a reply, LWA_TOKEN_MAX bytes of a token, LWA_WAITERS_MAX lwa_get_token() callers
 * waiting at once.
 *
 * Errors are 0 or negative (-errno, -AMP_E*, core/err.h). The ones this module makes:
 *   -ENOLINK     not linked, or the link is gone (invalid_grant)
 *   -EACCES      unauthorized_client: the client id is refused
 *   -AMP_EPROTO  invalid_request, unsupported_grant_type, or a reply that is not what
 *                docs/service.md §2 says (missing field, token too long, not JSON)
 *   -AMP_ETOOBIG a reply over LWA_REPLY_MAX
 *   otherwise the net/http error of the request (-AMP_ENETWORK, -AMP_EHTTP for a 5xx, ...)
 */

struct loop;
struct http;
struct lwa;

#define LWA_REPLY_MAX (16u * 1024)       /* bytes of one LWA reply */
#define LWA_TOKEN_MAX 2048               /* bytes of an access or refresh token */
#define LWA_CODE_MAX 512                 /* bytes of a device_code, user_code or verification_uri */
#define LWA_WAITERS_MAX 64               /* lwa_get_token() callbacks queued at once */
#define LWA_REFRESH_AHEAD_SEC 300        /* refresh this long before the access token expires */
#define LWA_INTERVAL_CAP_MS 60000u       /* slow_down doubles the poll interval up to this */
#define LWA_TOKEN_FILE "lwa-tokens.json" /* the state file's name in state_dir */

enum lwa_state {
  LWA_UNLINKED = 0,
  LWA_LINKING,
  LWA_LINKED,
};

struct lwa_config {
  const char *base_url;  /* {lwa}: "https://api.amazon.com" in production; https only */
  const char *client_id; /* the device's LWA client id; "": none, lwa_link_start() fails */
  const char *state_dir; /* where the token file lives (must exist) */
};

/*
 * Called on the loop thread whenever the state changes, and again in LINKING when a
 * new code pair replaces the old one (lwa_link_info then gives the new code). err is 0,
 * or why the state was left (see the top). The callback may call any lwa_ function
 * except lwa_free.
 */
typedef void (*lwa_state_fn)(struct lwa *w, enum lwa_state state, int err, void *userdata);

/*
 * Called once per accepted lwa_get_token(): err 0 and the access token (valid only
 * during the call: copy it), or err < 0 and token NULL (-ENOLINK, the error of a failed
 * refresh when the old token has expired too, -ECANCELED from lwa_free).
 */
typedef void (*lwa_token_fn)(int err, const char *token, void *userdata);

/*
 * A client on loop l using h (both must outlive it). cfg's strings are copied. Reads
 * the token file: LINKED when it holds tokens, else UNLINKED (no callback for this
 * first state). 0, -EINVAL (a missing field, base_url not https), -ENOMEM.
 */
int lwa_new(struct loop *l, struct http *h, const struct lwa_config *cfg, lwa_state_fn on_state,
            void *userdata, struct lwa **ret);

/* Cancel what is in flight, run every waiting token callback with -ECANCELED, wipe the
 * tokens and free. The token file stays. Accepts NULL. Not from an lwa callback. */
void lwa_free(struct lwa *w);

enum lwa_state lwa_state(const struct lwa *w);

/* The error that last moved the state (0 if none). */
int lwa_last_error(const struct lwa *w);

/*
 * In LINKING: the code pair to show. The strings are valid until the next state
 * callback or lwa_ call. expires_at is wall-clock epoch seconds. -ENOENT in another
 * state (or before the first code pair arrived).
 */
int lwa_link_info(const struct lwa *w, const char **ret_user_code, const char **ret_uri,
                  int64_t *ret_expires_at);

/* Start pairing: request a code pair; the state callback says LINKING once it is there.
 * 0, -EISCONN when LINKED, -EALREADY when already pairing, -ENOKEY without a client_id
 * ([service] client_id), or an error of the request. */
int lwa_link_start(struct lwa *w);

/* Drop the tokens (and the file) or stop a pairing: UNLINKED. Waiting token callbacks
 * get -ENOLINK. 0, or the -errno of removing the file (the state is UNLINKED anyway). */
int lwa_unlink(struct lwa *w);

/*
 * A valid access token for cb. When the current one is good for more than
 * LWA_REFRESH_AHEAD_SEC, cb runs before this returns. Otherwise cb is queued and one
 * refresh runs for all callers (single flight): it is answered when that refresh ends.
 * When a refresh fails (but not with invalid_grant) and the old token has not expired
 * yet, waiting callers get the old one, else the error; after a passing failure (5xx,
 * network) the refresh is retried in the background after the backoff, and callers
 * meanwhile get the old token while it lasts or wait for that retry.
 * 0 (cb runs exactly once), -ENOLINK (not linked: cb is not called), -EBUSY
 * (LWA_WAITERS_MAX callers wait already: cb is not called), -EINVAL.
 */
int lwa_get_token(struct lwa *w, lwa_token_fn cb, void *userdata);

/*
 * The contract for a 401: a module whose request carrying `token` was answered 401 (the
 * Device API, the license server, an event collector) calls lwa_token_rejected(w,
 * token), then lwa_get_token() again and retries its request ONCE with the token it
 * gets. A second 401 for that retry means the link is gone: the caller reports the
 * device unlinked (and may call lwa_unlink), it does not call this again in a loop.
 *
 * This forces one refresh, unless `token` is no longer the current access token (it
 * was replaced already: the caller's next lwa_get_token gets the new one) or a refresh
 * is already running. token may be NULL: then the current token is taken as rejected.
 */
void lwa_token_rejected(struct lwa *w, const char *token);

/* Withdraw a queued lwa_get_token() callback (the same cb and userdata): it will not be
 * called. For a caller that is cancelled or freed while it waits. A no-op when none. */
void lwa_cancel_waiter(struct lwa *w, lwa_token_fn cb, void *userdata);

/*
 * The access token now, for callers that cannot wait (a request's headers callback):
 * copied into out (n bytes with its NUL). When it is due for refresh (within
 * LWA_REFRESH_AHEAD_SEC) the refresh is started and the still valid token returned.
 * 0, -ENOLINK (not linked), -EAGAIN (no valid token this moment: expired, or rejected
 * and being refreshed; a refresh runs or waits for its backoff: ask again later),
 * -AMP_ETOOBIG (out too small), -EINVAL.
 */
int lwa_peek_token(struct lwa *w, char *out, size_t n);

#endif
