/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_TESTHOOKS_H
#define AMPD_TESTHOOKS_H

/*
 * Control commands that only tests may have: compiled into the `ampd_test` binary (the
 * daemon's sources with AMPD_TEST_HOOKS defined, tests/integration/systemd.cmake), which
 * no install rule and no package ships. The `ampd` binary of every build has none of them.
 *
 *   test_stall {"fifo": PATH}   blocks the loop thread: opens the FIFO at PATH for
 *                               reading (which waits for the test to open it for writing:
 *                               the test knows the stall has begun) and reads it to its
 *                               end, then answers. Nothing of the loop runs meanwhile: no
 *                               timer, so no watchdog ping (docs/systemd.md).
 *   test_clock {"mono_s": S, "wall_s": W}
 *                               moves the daemon's clocks (core/clock.h clock_advance):
 *                               the monotonic one forward by S >= 0 seconds (its timers
 *                               that became due fire at once), the wall one by W seconds
 *                               either way (a jump as NTP makes it); each within a year,
 *                               fractions allowed, absent = 0. What the fault matrix uses
 *                               to expire tokens, audio objects and licenses, or to jump
 *                               the wall clock, without waiting (tests/faults/test_clock.py).
 */

struct control;

int testhooks_register(struct control *c);

#endif
