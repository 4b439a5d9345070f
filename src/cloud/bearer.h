/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_CLOUD_BEARER_H
#define AMPD_CLOUD_BEARER_H

#include <stddef.h>

#include "cloud/lwa.h"

struct http_header;

/*
 * bearer: the glue between cloud/lwa and the modules that take their authorization
 * from a synchronous headers callback (cloud/license, cloud/report). One struct bearer
 * per consumer: it holds the "Bearer <token>" it handed out last, so that
 * bearer_rejected() names that token to lwa_token_rejected() (a 401 for a token that was
 * replaced already forces no second refresh; docs/service.md §2).
 *
 * bearer_headers() matches license_headers_fn and report_headers_fn: it fills
 * Authorization (and hasExplicit when has_explicit >= 0) from lwa_peek_token(), so it
 * returns -EAGAIN while a refresh runs and no valid token exists (both consumers wait a
 * backoff and ask again), -ENOLINK when not linked. The strings stay valid until the next
 * bearer_headers() on the same struct or bearer_wipe(). The token is wiped from the
 * struct by bearer_wipe() and replaced in place, never logged. Loop thread only.
 */

#define BEARER_PREFIX "Bearer "

struct bearer {
  struct lwa *lwa;
  int has_explicit; /* -1: no hasExplicit header; 0: "false"; 1: "true" */
  char value[sizeof(BEARER_PREFIX) + LWA_TOKEN_MAX];
};

/* Set b up for w (which must outlive it). */
void bearer_init(struct bearer *b, struct lwa *w, int has_explicit);
/* Wipe the token held. */
void bearer_wipe(struct bearer *b);

/* The headers callback (userdata: a struct bearer). 0, -EAGAIN, -ENOLINK, -EINVAL (max
 * too small: 2 entries are needed with hasExplicit, 1 without). */
int bearer_headers(void *userdata, struct http_header *out, size_t max, size_t *ret_n);
/* The 401 callback (userdata: a struct bearer): lwa_token_rejected() of the token sent. */
void bearer_rejected(void *userdata);

#endif
