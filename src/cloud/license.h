/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_CLOUD_LICENSE_H
#define AMPD_CLOUD_LICENSE_H

#include <stddef.h>
#include <stdint.h>

#include <ampd/cdm.h>

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
 * -AMP_ETOOBIG, -AMP_EJSON (not JSON, nested past LICENSE_MAX_DEPTH, not an object, no
 * "license", not a string), -AMP_ELICENSE (bad base64, empty or over
 * LICENSE_MAX_MESSAGE). */
int license_from_reply(const char *json, size_t len, uint8_t **ret_license, size_t *ret_len);

#endif
