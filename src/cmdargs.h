/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_CMDARGS_H
#define AMPD_CMDARGS_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/*
 * cmdargs: the arguments of the daemon's control commands (docs/protocol.md), read from
 * the request object control parsed (src/control/control_int.h: args without "id" and
 * "cmd"). Part of main; pure (no state, no I/O), so tests/fuzz/fuzz_control.c runs every
 * request line through them. args may be NULL (no arguments). Outputs are set only on 0.
 */

/* Past this a seek target is taken as 0 (the start): a double that far is not a position. */
#define CMDARGS_SEEK_MAX_MS 1e12

/* "ref" (play, browse): 0 and *ret the string (inside args), -ENOENT when args has no
 * "ref", -EINVAL when it is not a string. */
int cmdargs_ref(const cJSON *args, const char **ret);

/* seek: exactly one of "position_ms" (from the track's start) and "offset_ms" (from
 * now_ms), a number; the target in ms, 0 when it is negative, not a number or past
 * CMDARGS_SEEK_MAX_MS. 0 or -EINVAL (neither, both, or not a number). */
int cmdargs_seek(const cJSON *args, uint64_t now_ms, uint64_t *ret_ms);

/* A word argument (repeat's "mode"): absent: 0 and *ret -1; a string equal to words[i]:
 * 0 and *ret i; anything else -EINVAL. */
int cmdargs_word(const cJSON *args, const char *key, const char *const *words, size_t n, int *ret);

/* volume: "volume" (a number 0..100) or "delta" (any number, the sum with cur clamped to
 * 0..100), not both; neither: *ret cur. Fractions are cut. 0, -EINVAL (both, or one not a
 * number), -ERANGE (a volume outside 0..100). */
int cmdargs_volume(const cJSON *args, unsigned cur, unsigned *ret);

#endif
