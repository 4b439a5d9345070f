/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_CORE_LOOP_H
#define AMPD_CORE_LOOP_H

#include <stdbool.h>
#include <stdint.h>

/*
 * The event loop of ampd's main thread: epoll for fds, monotonic timers kept in a
 * min-heap behind one timerfd, signals through signalfd, and an eventfd-backed queue
 * through which other threads post work. Only loop_post() may be called from another
 * thread; everything else belongs to the loop's thread.
 *
 * Any source may be freed from inside any callback, including its own: a freed source
 * is never called again, even if its event is already in the batch being dispatched.
 *
 * Times are microseconds of clock_mono_usec() (core/clock.h). loop_now() is cached once per loop
 * pass.
 */

struct loop;
struct loop_source;
struct signalfd_siginfo;

typedef void (*loop_io_fn)(struct loop_source *s, int fd, uint32_t epoll_events, void *userdata);
typedef void (*loop_timer_fn)(struct loop_source *s, uint64_t now_usec, void *userdata);
typedef void (*loop_signal_fn)(struct loop_source *s, const struct signalfd_siginfo *si,
                               void *userdata);
typedef void (*loop_post_fn)(void *userdata);

/* The bound of the cross-thread queue: loop_post() fails with -EAGAIN past it. */
#define LOOP_POST_MAX 1024

int loop_new(struct loop **ret);
/* Frees every remaining source (without calling it), drops posts still waiting (without
 * running them), and frees the loop. Not from inside a callback. Accepts NULL.
 * Callers of loop_post() on other threads must be stopped first. */
void loop_free(struct loop *l);

/* Watch fd for EPOLLIN/EPOLLOUT (level-triggered). The loop does not own fd: free the
 * source BEFORE closing fd (epoll keys on the open file, not the number). 0, -EINVAL,
 * -ENOMEM, or the -errno of epoll_ctl (-EEXIST when fd is already watched). */
int loop_add_io(struct loop *l, int fd, uint32_t events, loop_io_fn cb, void *userdata,
                struct loop_source **ret);
/* events 0 pauses the source: it is then not called at all, not even for EPOLLHUP or
 * EPOLLERR (which epoll reports whatever the mask). */
int loop_io_set_events(struct loop_source *s, uint32_t events);

/* A one-shot timer at an absolute deadline; re-arm it with loop_timer_set(). A timer
 * whose callback ran stays allocated (disarmed) until freed. Timers with equal deadlines
 * run in the order they were (re-)armed. A deadline in the past runs in the next pass; a
 * timer re-armed from a callback never runs twice in one pass. loop_add_timer() fails
 * with -AMP_ETOOBIG past LOOP_TIMER_MAX timers; loop_timer_set() cannot fail on a valid
 * timer (its heap slot is reserved at creation). */
#define LOOP_TIMER_MAX 8192
int loop_add_timer(struct loop *l, uint64_t deadline_usec, loop_timer_fn cb, void *userdata,
                   struct loop_source **ret);
int loop_timer_set(struct loop_source *s, uint64_t deadline_usec);
void loop_timer_disarm(struct loop_source *s);

/* Deliver signo through signalfd; the signal is blocked for the calling thread (call
 * before starting other threads so they inherit the mask). One source per signal
 * (-EBUSY for a second); -EINVAL for SIGKILL, SIGSTOP or an invalid number. The signal
 * stays blocked after the source is freed, so one arriving later stays pending instead
 * of taking its default action. */
int loop_add_signal(struct loop *l, int signo, loop_signal_fn cb, void *userdata,
                    struct loop_source **ret);

/* Remove and free a source. Safe from any callback. Accepts NULL. */
void loop_source_free(struct loop_source *s);

/* From any thread: run fn(userdata) on the loop thread, in order of posting.
 * 0, or -EAGAIN when LOOP_POST_MAX posts are waiting. */
int loop_post(struct loop *l, loop_post_fn fn, void *userdata);

uint64_t loop_now(struct loop *l);

/* Dispatch until loop_quit(); returns the code given to loop_quit (>= 0) or a negative
 * error from epoll. */
int loop_run(struct loop *l);
/* One pass: wait at most timeout_ms (-1 forever) and dispatch what is ready.
 * Returns the number of callbacks run, or a negative error. For tests and nesting. */
int loop_run_once(struct loop *l, int timeout_ms);
void loop_quit(struct loop *l, int code);
bool loop_quitting(struct loop *l);

#endif
