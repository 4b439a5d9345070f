/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPPROBE_SOURCE_H
#define AMPPROBE_SOURCE_H

#include <stdint.h>

#include "core/buf.h"

/*
 * source: where ampprobe reads bytes from — a local file, or an https URL fetched with
 * net/http (the daemon's own client and TLS policy) on a private event loop. Reads are
 * synchronous: a tool has nothing else to do while it waits.
 */

struct source;

struct source_options {
  const char *ca_file; /* extra trust for https (tests use their test CA); NULL = system */
};

/* name is "https://..." or a path; "http://" is refused with -AMP_EINSECURE. */
int source_open(const char *name, const struct source_options *opt, struct source **ret);
void source_free(struct source *s);

/* Read bytes [first, last] (inclusive) into out (reset first; its max bounds the read).
 * Errors: -AMP_ETOOBIG, -AMP_ETRUNCATED (a file shorter than the range), http errors. */
int source_read_range(struct source *s, uint64_t first, uint64_t last, struct buf *out);
/* Read the whole resource into out. */
int source_read_all(struct source *s, struct buf *out);
#endif
