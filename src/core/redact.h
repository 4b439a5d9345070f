/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_CORE_REDACT_H
#define AMPD_CORE_REDACT_H

#include <stddef.h>

/*
 * redact: what of a URL may reach a message. Signed URLs are credentials: a CDN's query
 * string (X-Amz-Signature=...), a fragment, and a user:password@ are never shown; the
 * scheme, host, port and path are.
 *
 * redact_urls() copies text to out (size n > 0, always NUL-terminated, cut to fit),
 * dropping from every http:// or https:// URL in it (any case) the userinfo and
 * everything from '?' or '#' on. A URL ends at white space, a quote, '<', '>', '(' or ')'.
 * text and out must not overlap.
 */
void redact_urls(const char *text, char *out, size_t n);

#endif
