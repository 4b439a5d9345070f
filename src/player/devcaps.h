/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_PLAYER_DEVCAPS_H
#define AMPD_PLAYER_DEVCAPS_H

/*
 * devcaps: what the output device and the configuration allow, as ABR's constraints and
 * the X-Amzn-Audio-Device-Capability value (docs/media.md §13 "The device",
 * docs/service.md §5). Pure functions, no I/O: the
 * caller probes the device (output_probe()) and hands the answer in. Any thread.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "media/abr.h"
#include "platform/output.h"

/*
 * The ABR_CAP_* bits of a configured capability list ("STD_RES,HI_FI", the syntax
 * docs/configuration.md gives [service] capabilities): each comma-separated name exactly.
 * THREE_DIMENSIONAL and REAL_AUDIO_360 are accepted and give no bit (no decoder:
 * spatial sets are never chosen); an unknown name is -EINVAL. NULL or "" is 0 caps.
 */
int devcaps_parse(const char *list, uint32_t *ret_caps);

/*
 * The constraints for configured caps and a probed device: dev's rate range, and the
 * depth of its deepest sample format (S16 16, S24/S24_3 24, S32 32) as max_bit_depth.
 * dev NULL (no probe, or a failed one): the device limits nothing (rates unlimited,
 * max_bit_depth 0). can_resample as given (the engine resamples a switch within a
 * track). fixed_rate (0: none) is a device always run at that rate with every track
 * resampled to it ([output] rate = Hz): the rates are then 1 .. max(fixed_rate,
 * ABR_RESAMPLE_MAX_RATE), whatever else the device takes (a rep above the fixed rate
 * would only be resampled down). *ret holds no pointer (n_rates 0: a range).
 * Errors: -EINVAL (ret NULL), -ENODEV (dev takes no format ampd writes, no rate, or not
 * fixed_rate).
 */
int devcaps_constraints(uint32_t caps, const struct output_caps *dev, bool can_resample,
                        uint32_t fixed_rate, struct abr_constraints *ret);

/*
 * The daemon's whole mapping: the configured list (devcaps_parse) and the probed device
 * (devcaps_constraints; dev NULL: no limit) to *ret_c, and the
 * X-Amzn-Audio-Device-Capability value of them into header (abr_capability_string():
 * only what the configuration AND the device allow, never a spatial capability; at most
 * ABR_CAPABILITY_MAX bytes with the NUL). Outputs set only on success.
 * Errors: those of the three; -AMP_EUNSUPPORTED when nothing is left to ask for.
 */
int devcaps_setup(const char *list, const struct output_caps *dev, bool can_resample,
                  uint32_t fixed_rate, struct abr_constraints *ret_c, char *header, size_t len);

#endif
