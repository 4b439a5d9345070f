/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_CLOUD_JSON_H
#define AMPD_CLOUD_JSON_H

#include <stddef.h>

#include <cjson/cJSON.h>

/*
 * json: the one way the cloud modules read a JSON reply or file with cJSON.
 *
 * json_parse_exact() takes len bytes (need not be NUL-terminated) as exactly one JSON
 * value, and refuses with -AMP_EJSON what cJSON alone would let through:
 *  - bytes after the value other than white space (cJSON stops after the first value,
 *    so {"license": "..."} junk would pass unseen);
 *  - a NUL, raw or as the escape \u0000 in a string: cJSON ends a string there, so a
 *    parser would see a prefix of the value ("invalid_grant" for "invalid_grant\u0000x",
 *    a token or a license cut short) instead of refusing it;
 *  - nesting deeper than max_depth, checked before cJSON recurses into it;
 *  - an empty text.
 * On success *ret is the tree (free with cJSON_Delete or json_free_wiped). -EINVAL for
 * NULL arguments. Whatever it refuses is freed wiped: the text may hold secrets.
 */
int json_parse_exact(const char *text, size_t len, int max_depth, cJSON **ret);

/* Wipe every string of the tree, then free it (for trees that held tokens or keys).
 * Accepts NULL. */
void json_free_wiped(cJSON *j);

#endif
