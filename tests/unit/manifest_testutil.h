/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the manifest unit tests (test_manifest.c, test_manifest_errors.c). */
#ifndef AMPD_TESTS_MANIFEST_TESTUTIL_H
#define AMPD_TESTS_MANIFEST_TESTUTIL_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/b64.h"
#include "core/buf.h"
#include "core/err.h"
#include "media/manifest.h"

#ifndef MANIFEST_DATA_DIR
#error "MANIFEST_DATA_DIR must name tests/data/manifest"
#endif

#define AMAZON_ORIGIN "https://music.amazon.example/manifests/B0TEST.mpd"
/* Two segments of 10 s at timescale 10, and an https BaseURL, for one-rep MPDs. */
#define SEGS                                                                                       \
  "<SegmentList timescale=\"10\" duration=\"100\"><Initialization range=\"0-9\"/>"                 \
  "<SegmentURL mediaRange=\"10-19\"/><SegmentURL mediaRange=\"20-29\"/></SegmentList>"
#define CDN_BASE "<BaseURL>https://cdn.example/a.mp4</BaseURL>"

extern const uint8_t KID[16];      /* the default_KID of the Amazon fixture */
extern const uint8_t WIDEVINE[16]; /* the Widevine system id */
extern char errmsg[512];           /* the error text of the last parse_str() */

/* A fixture of tests/data/manifest, NUL-terminated (free it). */
char *load(const char *name);
/* s with every occurrence of from replaced by to; from must occur (free it). */
char *replace(const char *s, const char *from, const char *to);
/* head, n times unit, tail (free it). */
char *repeat(const char *head, const char *unit, size_t n, const char *tail);
/* A one-rep MPD: MPD attributes and inner XML, the set's inner XML, the rep's attributes
 * (id="r" bandwidth="1000" unless given) and inner XML (free it). */
char *mpd1(const char *mpd_attrs, const char *mpd_inner, const char *set_inner,
           const char *rep_attrs, const char *rep_inner);

int parse_str(const char *xml, const char *origin, struct manifest **ret);
/* Parse, failing the test with the parser's message unless it succeeds. */
struct manifest *parse_ok(const char *xml, const char *origin);
struct manifest *parse_file(const char *name, const char *origin);
/* Parse must fail with code, and the message must mention needle (if not NULL). */
void expect_fail(const char *xml, const char *origin, int code, const char *needle);
const struct manifest_set *set_by_id(const struct manifest *m, const char *id);

#endif
