/* SPDX-License-Identifier: Apache-2.0 */
#include "core/clock.h"

#include <errno.h>
#include <stdatomic.h>
#include <time.h>

static _Atomic uint64_t mono_offset; /* usec added to CLOCK_MONOTONIC; only grows */
static _Atomic int64_t wall_offset;  /* usec added to CLOCK_REALTIME */

static int64_t read_usec(clockid_t id) {
  struct timespec ts;
  /* Cannot fail for these clock ids on Linux. */
  clock_gettime(id, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

uint64_t clock_mono_usec(void) {
  return (uint64_t)read_usec(CLOCK_MONOTONIC) + atomic_load(&mono_offset);
}

uint64_t clock_mono_msec(void) {
  return clock_mono_usec() / 1000u;
}

int64_t clock_wall_usec(void) {
  return read_usec(CLOCK_REALTIME) + atomic_load(&wall_offset);
}

int64_t clock_wall_sec(void) {
  int64_t us = clock_wall_usec();
  /* Floor, so that a time just before the epoch is -1, as time() would say. */
  return us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
}

uint64_t clock_mono_offset_usec(void) {
  return atomic_load(&mono_offset);
}

int clock_advance(int64_t mono_usec, int64_t wall_usec) {
  if (mono_usec < 0)
    return -EINVAL;
  uint64_t m = atomic_load(&mono_offset);
  int64_t w = atomic_load(&wall_offset);
  /* A century of offset is more than any test needs, and keeps every sum far from an
   * overflow. */
  const int64_t lim = (int64_t)100 * 365 * 86400 * 1000000;
  if ((uint64_t)mono_usec > (uint64_t)lim - m || wall_usec > lim - w || wall_usec < -lim - w)
    return -EINVAL;
  atomic_fetch_add(&mono_offset, (uint64_t)mono_usec);
  atomic_fetch_add(&wall_offset, wall_usec);
  return 0;
}

void clock_reset_wall(void) {
  atomic_store(&wall_offset, 0);
}
