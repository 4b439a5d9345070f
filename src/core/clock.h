/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_CORE_CLOCK_H
#define AMPD_CORE_CLOCK_H

#include <stdint.h>

/*
 * clock: the one place ampd reads time. Nothing else calls time, clock_gettime or
 * gettimeofday; scripts/checksrc.sh refuses them outside this file. So a test can move
 * the clocks every module sees and expire tokens, audio objects and licenses without
 * waiting.
 *
 * Two clocks:
 *  - monotonic: CLOCK_MONOTONIC plus a test offset; for deadlines, timeouts and rates. It
 *    never goes back (clock_advance refuses a negative step).
 *  - wall: CLOCK_REALTIME plus a test offset; for what the outside world dates (token and
 *    audio object expiry, Retry-After dates, log stamps, event timestamps). It can jump
 *    either way, like the real one when NTP sets it.
 *
 * The event loop arms its timerfd in kernel monotonic time, so it takes the offset into
 * account: after clock_advance() from a thread other than the loop's, wake the loop (a
 * loop_post()) so that it re-arms and fires what became due.
 *
 * Every function is thread-safe (the offsets are atomics) and async-signal-safe.
 */

/* Monotonic time in microseconds (an arbitrary origin). */
uint64_t clock_mono_usec(void);
/* The same in milliseconds. */
uint64_t clock_mono_msec(void);

/* Wall-clock time in microseconds since the Unix epoch (may be negative in theory). */
int64_t clock_wall_usec(void);
/* The same in whole seconds, as time() would say. */
int64_t clock_wall_sec(void);

/* The current test offset of the monotonic clock (what the loop subtracts to reach
 * kernel time). 0 unless a test moved it. */
uint64_t clock_mono_offset_usec(void);

/* ---- for tests (and a fault-injection build of the daemon); never called in production.
 * clock_advance: move the monotonic clock forward by mono_usec and the wall clock by
 * wall_usec (either sign). -EINVAL for a negative mono_usec or an overflow. */
int clock_advance(int64_t mono_usec, int64_t wall_usec);
/* Drop the wall offset: the wall clock is the system's again. (The monotonic offset
 * stays: that clock must never go back.) */
void clock_reset_wall(void);

#endif
