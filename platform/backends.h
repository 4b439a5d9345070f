/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_PLATFORM_BACKENDS_H
#define AMPD_PLATFORM_BACKENDS_H

#include <stddef.h>

#include "platform/output.h"

/*
 * backends: the output backends built into ampd, by name (the `name` of their ops):
 * "alsa" (platform/alsa), "pipe" (platform/pipe), "null" (platform/null). Static tables,
 * any thread.
 */

/* The backend called name (exact, case-sensitive), or NULL for an unknown name or NULL. */
const struct output_ops *output_backend_find(const char *name);

/* The i-th backend (0 .. count-1), NULL past the end: for listing them (--help, docs). */
const struct output_ops *output_backend_at(size_t i);

#endif
