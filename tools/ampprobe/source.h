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
 * Errors: -AMP_ETOOBIG; for a local file -ENODATA when it ends before last (a local file
 * is never "truncated" the way a connection is: source_detail() says where it ends);
 * http errors (-AMP_ETRUNCATED is a connection that closed mid-body). */
int source_read_range(struct source *s, uint64_t first, uint64_t last, struct buf *out);

/* Called with the resource's bytes in order; offset is that of data[0]. A negative return
 * stops the read, and source_stream() returns it. */
typedef int (*source_data_fn)(void *userdata, uint64_t offset, const uint8_t *data, size_t len);

/* Read the whole resource from its start, SOURCE_CHUNK bytes at a time for a local file
 * (which may be a pipe: it is read, not mapped or sized), as it arrives for https. Only
 * what fn keeps is held in memory. */
#define SOURCE_CHUNK (64u << 10)
int source_stream(struct source *s, source_data_fn fn, void *userdata);

/* Why the last read failed, beyond its code ("" when the code says it all). */
const char *source_detail(const struct source *s);
#endif
