/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_PLATFORM_NULL_H
#define AMPD_PLATFORM_NULL_H

#include "platform/output.h"

/*
 * The null output backend ("null"): takes any rate, channel count and format and discards
 * the PCM. For the player's tests and for benchmarks.
 *
 * Device string: "[FMT:]MODE" (FMT as for "pipe", platform/pipe/pipe.h: it only sets the
 * info's sample_format), MODE one of:
 *  - "" / "default" (or device NULL): every call returns at once; position = frames
 *    written, delay 0.
 *  - "sync": a device paced in real time from the monotonic clock (core/clock.h), like
 *    MPD's null output with sync. It models a device buffer of info.buffer_frames: write
 *    queues at once while the buffer has room and otherwise sleeps until the simulated
 *    playback has made room; the clock starts, as ALSA's does, once info.start_threshold
 *    frames (buffer - period) are queued, or at drain or resume with less, and plays rate
 *    frames a second; delay = frames queued and not yet "heard"; position = frames heard,
 *    which never runs ahead of the time elapsed since the clock started and never goes
 *    back. When the queue runs dry while playing, that is an underrun (xruns counts it)
 *    unless a drain began before it ran dry; the clock stops and starts again at the
 *    threshold. drain sleeps until the queue is empty; drop throws the queue away at once
 *    (those frames never count in position); pause freezes the clock and the queue in
 *    place.
 *  - "sync:N", N in 1..64: the same device with a clock N times as fast (N x rate frames a
 *    second of monotonic time): a paced device for tests that would take too long in real
 *    time, where the buffers ahead cover 1/N of the wall time they would on a real one.
 * Anything else is -EINVAL.
 *
 * Both modes: pause works (can_pause); while paused write answers -EBUSY. No mixer
 * (volume calls -ENOTSUP). probe accepts any rate 1..OUTPUT_MAX_RATE, 1..8 channels and
 * every format (or only FMT). Open allocates the handle (and in sync mode an eventfd)
 * only; nothing else allocates. Interrupt (any thread): a sync write or drain that waits
 * for the simulated device returns -ECANCELED at once, and every later write and drain
 * answers -ECANCELED (in both modes); the output is then good only for close.
 */

/* The backend's vtable (static storage, version OUTPUT_OPS_VERSION). */
const struct output_ops *output_null_ops(void);

#endif
