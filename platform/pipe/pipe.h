/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_PLATFORM_PIPE_H
#define AMPD_PLATFORM_PIPE_H

#include "platform/output.h"

/*
 * The pipe output backend ("pipe"): raw interleaved PCM, native byte order, no header, to
 * a FIFO or a file. For snapcast's pipe source, a recorder, or `sox -t raw`.
 *
 * Device string: "[FMT:]PATH". FMT is S16, S24 (24 bits in 4 bytes), S24_3 (packed) or
 * S32 (platform/output_util.h); without it the format is S16 for sources up to 16 bits,
 * S24_3 up to 24, else S32. A relative path that starts with "S" and holds a ':' needs a
 * "./" in front. NULL or an empty path is -EINVAL.
 *
 * Open: the path is opened O_WRONLY | O_CREAT | O_NONBLOCK | O_APPEND (mode 0644), so it
 * never blocks:
 *  - a FIFO with no reader fails at once with -EBUSY ("no reader"): the player retries
 *    with backoff as for a busy device. With a reader, writes wait while the reader is
 *    slow, as a device's would;
 *  - a regular file is truncated at the first open of that file (device and inode) in
 *    this process, and appended to at every later open: the player reopens the output
 *    at a change of format, and the file collects the whole stream of the process, as
 *    one open per process would (the formats of its stretches may then differ); a new
 *    file is created; a character device (/dev/null) is written as it is; a directory is
 *    -EINVAL; a missing parent -ENOENT. Open also makes an eventfd (for interrupt).
 *
 * Write: blocks until all is written (waiting in poll(2) on the FIFO, never spinning),
 * through a conversion buffer of one period made at open (no allocation). SIGPIPE is
 * blocked on the calling thread for the duration of the write and
 * a SIGPIPE the write raised is consumed, so a reader going away never kills the daemon,
 * whatever main does with the signal: the write answers -ENODEV (the device went away;
 * part of the frames may have been written) and the player closes and reopens, which
 * answers -EBUSY until a reader is back. A full disk or another write error is
 * -AMP_EAUDIO.
 *
 * Interrupt (any thread): a write waiting for the reader returns -ECANCELED at once (part
 * of the frames may have been written), and every later write and drain answers
 * -ECANCELED without writing: the output is then good only for close.
 *
 * The clock: there is no device clock. position = frames written since open; delay = 0
 * (what sits in the kernel's pipe buffer, 64 KiB by default, belongs to the reader);
 * drain and drop have nothing to play out or throw away and return 0; xruns is 0. Pause
 * works (can_pause): while paused, write answers -EBUSY and nothing is written. No mixer:
 * the volume calls answer -ENOTSUP. Probe: any rate 1..OUTPUT_MAX_RATE and 1..8
 * channels; every format, or only FMT when the device names one; -ENOENT when the path
 * cannot be created (no such directory).
 *
 * buffer_frames and period_frames in the info are the requested times in frames: the
 * period is the conversion chunk, one write(2) each.
 */

/* The backend's vtable (static storage, version OUTPUT_OPS_VERSION). */
const struct output_ops *output_pipe_ops(void);

#endif
