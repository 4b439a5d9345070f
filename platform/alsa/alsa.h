/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_PLATFORM_ALSA_H
#define AMPD_PLATFORM_ALSA_H

#include <stdbool.h>

#include "platform/output.h"

/*
 * The ALSA output backend ("alsa"): platform/output.h over libasound's PCM and simple
 * mixer APIs. Device names are ALSA PCM names ("default", "hw:0,0", "plughw:1",
 * "sysdefault:CARD=x", or any PCM defined in an asoundrc).
 *
 * The PCM is opened with SND_PCM_NO_AUTO_RESAMPLE | NO_AUTO_CHANNELS | NO_AUTO_FORMAT, so
 * even through a `plug` the rate and channel count are met exactly or refused, and the
 * sample format chosen is one the device really takes. Preference: for sources of up to
 * 16 bits S16, S32, S24, S24_3; for 17..24 bits S32, S24, S24_3, then S16 (truncated: the
 * info says exact=false); for more S32 first.
 *
 * ALSA's own diagnostics (normally printed to stderr) are routed to this module's debug
 * log: snd_lib_error_set_handler() is process-wide and is set at the first open.
 */

/* The backend's vtable (static storage, version OUTPUT_OPS_VERSION). */
const struct output_ops *output_alsa_ops(void);

/*
 * The volume mapping of the "alsa" backend, pure (exposed so that it can be tested without
 * a mixer). With db = true, min/max/value are in 1/100 dB and percent is linear in dB over
 * the top 60 dB of the range (or the whole range when it is smaller); with db = false they
 * are the control's raw steps and percent is linear over them. 0 % is the minimum, and
 * any level above the minimum reads as at least 1 %. Percent above 100 counts as 100.
 */
long output_alsa_volume_from_percent(bool db, long min, long max, unsigned percent);
unsigned output_alsa_volume_to_percent(bool db, long min, long max, long value);

/*
 * A write that makes no progress. The PCM is in non-blocking mode after open, so
 * snd_pcm_writei() answers -EAGAIN (or 0) when the device is full; the backend then waits
 * for room (poll(2) on the PCM's descriptors and the interrupt's eventfd, at most 1 s)
 * and tries again, but only OUTPUT_ALSA_MAX_STALLS times in a row: at the
 * OUTPUT_ALSA_MAX_STALLS-th consecutive such return, output_write() fails with
 * -AMP_EAUDIO (the player closes the device and reopens it with backoff) instead of
 * looping on the output thread. An error that snd_pcm_recover() clears but that lets no
 * frame through (-EPIPE every time) counts the same way. Any frames written reset the
 * count (a device that plays gives room a period at a time: one wait per period). So a
 * stalled device holds the output thread for at most (OUTPUT_ALSA_MAX_STALLS - 1) waits
 * of 1 s, and output_interrupt() ends such a wait at once (-ECANCELED). What it cannot cut
 * short: a drain under way (blocking, at most the buffer: <= 2 s) and a writei blocked
 * inside a plugin's own I/O (the file plugin writing to a full FIFO).
 */
#define OUTPUT_ALSA_MAX_STALLS 8u

/*
 * For tests only: make the next call to snd_pcm_writei() inside output_write() fail with
 * err (e.g. -EPIPE for an underrun, -ESTRPIPE for a suspend, -EIO) instead of writing, so
 * the recovery path runs for real (snd_pcm_recover on the open PCM) on a machine whose
 * plugins never underrun. 0 clears it.
 */
void output_alsa_inject_write_error(struct output *o, int err);
/* For tests only: the same for the next count calls (err may be 0: a writei that wrote
 * nothing). count 0 clears it. */
void output_alsa_inject_write_errors(struct output *o, int err, unsigned count);
/* For tests only: how many faked writei calls are still to come. */
unsigned output_alsa_injected_left(const struct output *o);

#endif
