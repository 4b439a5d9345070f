/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for core/loop: timer order, removal during dispatch, io, signals, posts.
 * No assertion depends on how fast the machine is: only order, counts, and "not before
 * the deadline". */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/loop.h"

/* Bound on passes in run_until, so that a broken loop fails instead of spinning forever
 * (each pass blocks in epoll until something is ready, so this is not a time limit). */
#define PASSES_MAX 100000

static int setup(void **state) {
  struct loop *l;
  if (loop_new(&l) < 0)
    return -1;
  *state = l;
  return 0;
}

static int teardown(void **state) {
  loop_free(*state);
  return 0;
}

/* Run passes until *counter reaches want. */
static void run_until(struct loop *l, const int *counter, int want) {
  for (int i = 0; i < PASSES_MAX && *counter < want; i++)
    assert_true(loop_run_once(l, -1) >= 0);
  assert_int_equal(*counter, want);
}

/* ---- timers ---- */

#define NT 16

struct timers;

struct tref {
  struct timers *t;
  int id;
};

struct timers {
  struct loop *l;
  struct loop_source *src[NT];
  uint64_t deadline[NT];
  struct tref ref[NT];
  int seen[4 * NT];
  int n;
  bool early; /* a callback ran before its deadline */
  bool now_mismatch;
  int rearm_left[NT];
  bool rearm_same;     /* re-arm at the same deadline instead of 1 us later */
  int free_victim[NT]; /* index + 1 of a timer to free from this one's callback */
};

static void on_timer(struct loop_source *s, uint64_t now, void *userdata) {
  struct tref *ref = userdata;
  struct timers *t = ref->t;
  int id = ref->id;
  assert_ptr_equal(s, t->src[id]);
  if (now < t->deadline[id])
    t->early = true;
  if (now != loop_now(t->l))
    t->now_mismatch = true;
  assert_true(t->n < 4 * NT);
  t->seen[t->n++] = id;
  if (t->rearm_left[id] > 0) {
    t->rearm_left[id]--;
    /* Relative to the old deadline, not to now: the order asserted below then does not
     * depend on how long a pass takes. */
    if (!t->rearm_same)
      t->deadline[id]++;
    assert_int_equal(loop_timer_set(s, t->deadline[id]), 0);
  }
  if (t->free_victim[id]) {
    int v = t->free_victim[id] - 1;
    loop_source_free(t->src[v]);
    t->src[v] = NULL;
  }
}

static void add_timer(struct timers *t, int id, uint64_t deadline) {
  t->ref[id] = (struct tref){t, id};
  t->deadline[id] = deadline;
  assert_int_equal(loop_add_timer(t->l, deadline, on_timer, &t->ref[id], &t->src[id]), 0);
}

static void free_timers(struct timers *t) {
  for (int i = 0; i < NT; i++)
    loop_source_free(t->src[i]);
}

static void test_timer_order(void **state) {
  struct timers t = {.l = *state};
  uint64_t base = clock_mono_usec() + 2000;
  /* Deadlines out of arming order, and a group of equal deadlines armed 2, 3, 4, 5. */
  add_timer(&t, 0, base + 3000);
  add_timer(&t, 1, base + 1000);
  add_timer(&t, 2, base + 2000);
  add_timer(&t, 3, base + 2000);
  add_timer(&t, 4, base + 2000);
  add_timer(&t, 5, base + 2000);
  add_timer(&t, 6, base);
  /* Re-arming to the same deadline moves 3 behind 4 and 5: arming order is the tie-break. */
  assert_int_equal(loop_timer_set(t.src[3], base + 2000), 0);
  run_until(t.l, &t.n, 7);
  static const int want[] = {6, 1, 2, 4, 5, 3, 0};
  assert_memory_equal(t.seen, want, sizeof(want));
  assert_false(t.early);
  assert_false(t.now_mismatch);
  /* A timer that ran is disarmed: nothing is ready any more. */
  assert_int_equal(loop_run_once(t.l, 0), 0);
  free_timers(&t);
}

static void test_timer_many_equal(void **state) {
  struct timers t = {.l = *state};
  uint64_t d = clock_mono_usec() + 1000;
  /* Enough to exercise heap growth past its first allocation, all at one deadline. */
  for (int i = 0; i < NT; i++)
    add_timer(&t, i, d);
  run_until(t.l, &t.n, NT);
  for (int i = 0; i < NT; i++)
    assert_int_equal(t.seen[i], i);
  free_timers(&t);
}

static void test_timer_rearm_and_disarm(void **state) {
  struct timers t = {.l = *state};
  uint64_t base = clock_mono_usec() + 1000;
  add_timer(&t, 0, base); /* re-arms itself three times */
  t.rearm_left[0] = 3;
  add_timer(&t, 1, base + 500); /* disarmed below */
  add_timer(&t, 2, base + 600); /* freed below */
  add_timer(&t, 3, base + 5000);
  loop_timer_disarm(t.src[1]);
  loop_timer_disarm(t.src[1]); /* twice is harmless */
  loop_source_free(t.src[2]);
  t.src[2] = NULL;
  run_until(t.l, &t.n, 5);
  /* 0 four times (it re-arms 1 us after its last deadline), then 3; never 1 or 2. */
  static const int want[] = {0, 0, 0, 0, 3};
  assert_memory_equal(t.seen, want, sizeof(want));
  assert_false(t.early);
  /* The disarmed timer can be armed again. */
  t.deadline[1] = loop_now(t.l);
  assert_int_equal(loop_timer_set(t.src[1], t.deadline[1]), 0);
  run_until(t.l, &t.n, 6);
  assert_int_equal(t.seen[5], 1);
  free_timers(&t);
}

static void test_timer_past_deadline_rearm(void **state) {
  /* A callback that re-arms for a past deadline runs again in a later pass, not in a
   * loop inside the same pass. */
  struct timers t = {.l = *state};
  add_timer(&t, 0, 0);
  t.rearm_left[0] = 2;
  assert_int_equal(loop_run_once(t.l, -1), 1);
  assert_int_equal(t.n, 1);
  run_until(t.l, &t.n, 3);
  free_timers(&t);
}

static void test_timer_rearm_same_deadline(void **state) {
  /* Re-armed at the deadline that just expired: the timerfd must be set again even though
   * the earliest deadline did not change. */
  struct timers t = {.l = *state, .rearm_same = true};
  add_timer(&t, 0, clock_mono_usec());
  t.rearm_left[0] = 2;
  run_until(t.l, &t.n, 3);
  assert_false(t.early);
  free_timers(&t);
}

static void test_timer_free_in_batch(void **state) {
  struct timers t = {.l = *state};
  uint64_t d = clock_mono_usec() + 1000;
  add_timer(&t, 0, d);
  add_timer(&t, 1, d); /* due in the same pass, freed by 0's callback */
  add_timer(&t, 2, d + 3000);
  t.free_victim[0] = 2;
  t.free_victim[2] = 3; /* 2 frees itself */
  run_until(t.l, &t.n, 2);
  assert_int_equal(t.seen[0], 0);
  assert_int_equal(t.seen[1], 2);
  assert_null(t.src[1]);
  assert_null(t.src[2]);
  free_timers(&t);
}

static void test_timer_errors(void **state) {
  struct loop *l = *state;
  struct loop_source *s = NULL;
  assert_int_equal(loop_add_timer(l, 0, NULL, NULL, &s), -EINVAL);
  assert_null(s);
  assert_int_equal(loop_timer_set(NULL, 0), -EINVAL);
  loop_timer_disarm(NULL);
  loop_source_free(NULL);
}

static void never(struct loop_source *s, uint64_t now, void *userdata) {
  fail_msg("timer ran");
}

static void test_timer_max(void **state) {
  struct loop *l = *state;
  static struct loop_source *t[LOOP_TIMER_MAX];
  uint64_t far = clock_mono_usec() + 3600u * 1000000u;
  for (int i = 0; i < LOOP_TIMER_MAX; i++)
    assert_int_equal(loop_add_timer(l, far + (uint64_t)(i % 7), never, NULL, &t[i]), 0);
  struct loop_source *extra = NULL;
  assert_int_equal(loop_add_timer(l, far, never, NULL, &extra), -AMP_ETOOBIG);
  assert_null(extra);
  /* Re-arming at the bound needs no allocation. */
  for (int i = 0; i < LOOP_TIMER_MAX; i += 3)
    assert_int_equal(loop_timer_set(t[i], far + 1), 0);
  loop_source_free(t[5]);
  assert_int_equal(loop_add_timer(l, far, never, NULL, &t[5]), 0);
  assert_int_equal(loop_run_once(l, 0), 0);
  /* The rest are left to loop_free in teardown. */
}

/* ---- the test clock (core/clock.h) ---- */

struct jump {
  int fired;
  int64_t advance_usec;
};

static void on_jump(struct loop_source *s, uint64_t now, void *userdata) {
  struct jump *j = userdata;
  j->fired++;
  if (j->advance_usec)
    assert_int_equal(clock_advance(j->advance_usec, j->advance_usec), 0);
}

/* A timer an hour away fires as soon as a test moves the clock an hour on, without the
 * hour: the loop re-arms its timerfd by the clock's offset. The passes are bounded (each
 * waits at most 100 ms), so a loop that ignores the offset fails instead of waiting. */
static void test_clock_advance_fires_timers(void **state) {
  struct loop *l = *state;
  const int64_t hour = 3600 * (int64_t)1000000;
  uint64_t t0 = clock_mono_usec();
  int64_t w0 = clock_wall_usec();
  struct jump far = {0}, near = {.advance_usec = hour};
  struct loop_source *a, *b;
  assert_int_equal(loop_add_timer(l, t0 + (uint64_t)hour, on_jump, &far, &a), 0);
  assert_int_equal(loop_add_timer(l, t0 + 1000, on_jump, &near, &b), 0);
  for (int i = 0; i < 50 && !far.fired; i++)
    assert_true(loop_run_once(l, 100) >= 0);
  assert_int_equal(near.fired, 1);
  assert_int_equal(far.fired, 1);
  assert_true(clock_mono_usec() >= t0 + (uint64_t)hour);
  assert_true(clock_wall_usec() >= w0 + hour);
  loop_source_free(a);
  loop_source_free(b);
  clock_reset_wall();
}

static void test_clock_rules(void **state) {
  uint64_t m0 = clock_mono_usec();
  assert_int_equal(clock_advance(-1, 0), -EINVAL); /* monotonic never goes back */
  assert_true(clock_mono_usec() >= m0);
  int64_t w0 = clock_wall_sec();
  assert_int_equal(clock_advance(0, -86400 * (int64_t)1000000), 0); /* the wall clock may */
  int64_t w1 = clock_wall_sec();
  assert_true(w1 <= w0 - 86400 + 1 && w1 >= w0 - 86400 - 5);
  assert_int_equal(clock_advance(INT64_MAX, 0), -EINVAL);
  assert_int_equal(clock_advance(0, INT64_MIN), -EINVAL);
  clock_reset_wall();
  assert_true(clock_wall_sec() >= w0);
  assert_true(clock_mono_msec() == clock_mono_usec() / 1000 ||
              clock_mono_msec() + 1 >= clock_mono_usec() / 1000);
}

/* ---- io ---- */

struct io {
  struct loop *l;
  int calls[4];
  uint32_t events[4];
  struct loop_source *src[4];
  int fd[4][2];
  bool free_other;
  int new_calls;
  struct loop_source *new_src;
  int new_fd[2];
};

static void on_new_io(struct loop_source *s, int fd, uint32_t events, void *userdata) {
  struct io *io = userdata;
  char c;
  assert_int_equal(read(fd, &c, 1), 1);
  assert_int_equal(c, 'n');
  io->new_calls++;
}

static void on_io(struct loop_source *s, int fd, uint32_t events, void *userdata) {
  struct io *io = userdata;
  int i = s == io->src[0] ? 0 : s == io->src[1] ? 1 : s == io->src[2] ? 2 : 3;
  assert_ptr_equal(s, io->src[i]);
  io->calls[i]++;
  io->events[i] = events;
  if (io->free_other) {
    /* Free the other source, close its fds, and let a new pipe take the fd numbers: the
     * other's event already in this batch must not reach anyone. */
    int o = 1 - i;
    loop_source_free(io->src[o]);
    io->src[o] = NULL;
    close(io->fd[o][0]);
    close(io->fd[o][1]);
    io->fd[o][0] = io->fd[o][1] = -1;
    assert_int_equal(pipe2(io->new_fd, O_CLOEXEC), 0);
    assert_int_equal(write(io->new_fd[1], "n", 1), 1);
    assert_int_equal(loop_add_io(io->l, io->new_fd[0], EPOLLIN, on_new_io, io, &io->new_src), 0);
    /* And this one frees itself. */
    loop_source_free(s);
    io->src[i] = NULL;
  }
}

static void io_close(struct io *io) {
  for (int i = 0; i < 4; i++) {
    loop_source_free(io->src[i]);
    for (int j = 0; j < 2; j++)
      if (io->fd[i][j] >= 0)
        close(io->fd[i][j]);
  }
}

static void test_io_pipe(void **state) {
  struct io io = {.l = *state};
  memset(io.fd, -1, sizeof(io.fd));
  assert_int_equal(pipe2(io.fd[0], O_CLOEXEC | O_NONBLOCK), 0);
  assert_int_equal(loop_add_io(io.l, io.fd[0][0], EPOLLIN, on_io, &io, &io.src[0]), 0);
  assert_int_equal(loop_add_io(io.l, io.fd[0][1], 0, on_io, &io, &io.src[1]), 0);
  /* Adding the same fd twice is refused by epoll. */
  struct loop_source *dup = NULL;
  assert_int_equal(loop_add_io(io.l, io.fd[0][0], EPOLLIN, on_io, &io, &dup), -EEXIST);
  assert_null(dup);
  assert_int_equal(loop_add_io(io.l, -1, EPOLLIN, on_io, &io, &dup), -EINVAL);
  /* Nothing to read, write side not watched: nothing runs. */
  assert_int_equal(loop_run_once(io.l, 0), 0);
  assert_int_equal(io.calls[0] + io.calls[1], 0);

  assert_int_equal(write(io.fd[0][1], "x", 1), 1);
  assert_int_equal(loop_run_once(io.l, -1), 1);
  assert_int_equal(io.calls[0], 1);
  assert_true(io.events[0] & EPOLLIN);
  /* Level-triggered: still readable, reported again. */
  assert_int_equal(loop_run_once(io.l, -1), 1);
  assert_int_equal(io.calls[0], 2);

  /* Stop watching the read side; watch the write side for EPOLLOUT. */
  assert_int_equal(loop_io_set_events(io.src[0], 0), 0);
  assert_int_equal(loop_io_set_events(io.src[1], EPOLLOUT), 0);
  assert_int_equal(loop_run_once(io.l, -1), 1);
  assert_int_equal(io.calls[0], 2);
  assert_int_equal(io.calls[1], 1);
  assert_true(io.events[1] & EPOLLOUT);
  assert_int_equal(loop_io_set_events(io.src[1], 0), 0);
  assert_int_equal(loop_run_once(io.l, 0), 0);

  /* Closing the writer: the reader sees EPOLLHUP, but only while it is not paused. */
  char c;
  assert_int_equal(read(io.fd[0][0], &c, 1), 1);
  loop_source_free(io.src[1]);
  io.src[1] = NULL;
  close(io.fd[0][1]);
  io.fd[0][1] = -1;
  assert_int_equal(loop_run_once(io.l, 0), 0);
  assert_int_equal(io.calls[0], 2);
  assert_int_equal(loop_io_set_events(io.src[0], EPOLLIN), 0);
  assert_int_equal(loop_run_once(io.l, -1), 1);
  assert_true(io.events[0] & EPOLLHUP);
  io_close(&io);
}

static void test_io_paused(void **state) {
  struct io io = {.l = *state};
  memset(io.fd, -1, sizeof(io.fd));
  assert_int_equal(pipe2(io.fd[0], O_CLOEXEC | O_NONBLOCK), 0);
  assert_int_equal(loop_add_io(io.l, io.fd[0][1], EPOLLOUT, on_io, &io, &io.src[0]), 0);
  assert_int_equal(loop_run_once(io.l, -1), 1);
  assert_int_equal(io.events[0], EPOLLOUT);
  /* Paused, the write side is not reported even once the reader is gone (EPOLLERR). */
  assert_int_equal(loop_io_set_events(io.src[0], 0), 0);
  assert_int_equal(loop_io_set_events(io.src[0], 0), 0);
  close(io.fd[0][0]);
  io.fd[0][0] = -1;
  assert_int_equal(loop_run_once(io.l, 0), 0);
  assert_int_equal(io.calls[0], 1);
  assert_int_equal(loop_io_set_events(io.src[0], EPOLLOUT), 0);
  assert_int_equal(loop_run_once(io.l, -1), 1);
  assert_true(io.events[0] & EPOLLERR);
  io_close(&io);

  /* A bad fd fails at once, even when added paused. */
  int fd[2];
  struct loop_source *s = NULL;
  assert_int_equal(pipe2(fd, O_CLOEXEC), 0);
  close(fd[0]);
  close(fd[1]);
  assert_int_equal(loop_add_io(io.l, fd[0], 0, on_io, &io, &s), -EBADF);
  assert_null(s);
}

static void test_io_free_in_batch(void **state) {
  struct io io = {.l = *state, .free_other = true};
  memset(io.fd, -1, sizeof(io.fd));
  for (int i = 0; i < 2; i++) {
    assert_int_equal(pipe2(io.fd[i], O_CLOEXEC | O_NONBLOCK), 0);
    assert_int_equal(write(io.fd[i][1], "x", 1), 1);
    assert_int_equal(loop_add_io(io.l, io.fd[i][0], EPOLLIN, on_io, &io, &io.src[i]), 0);
  }
  /* Both are ready in one batch; whichever runs first frees the other and itself. */
  assert_int_equal(loop_run_once(io.l, -1), 1);
  assert_int_equal(io.calls[0] + io.calls[1], 1);
  assert_null(io.src[0]);
  assert_null(io.src[1]);
  assert_int_equal(io.new_calls, 0);
  /* The new source on a reused fd number works in the next pass. */
  assert_int_equal(loop_run_once(io.l, -1), 1);
  assert_int_equal(io.new_calls, 1);
  assert_int_equal(io.calls[0] + io.calls[1], 1);
  loop_source_free(io.new_src);
  close(io.new_fd[0]);
  close(io.new_fd[1]);
  io_close(&io);
}

/* ---- signals ---- */

struct sigs {
  int n;
  int signo[8];
  struct loop_source *src[2];
};

static void on_signal(struct loop_source *s, const struct signalfd_siginfo *si, void *userdata) {
  struct sigs *g = userdata;
  assert_true(g->n < 8);
  assert_ptr_equal(s, si->ssi_signo == SIGUSR1 ? g->src[0] : g->src[1]);
  g->signo[g->n++] = (int)si->ssi_signo;
}

static void test_signals(void **state) {
  struct loop *l = *state;
  struct sigs g = {0};
  assert_int_equal(loop_add_signal(l, SIGUSR1, on_signal, &g, &g.src[0]), 0);
  assert_int_equal(loop_add_signal(l, SIGUSR2, on_signal, &g, &g.src[1]), 0);
  struct loop_source *bad = NULL;
  assert_int_equal(loop_add_signal(l, SIGUSR1, on_signal, &g, &bad), -EBUSY);
  assert_int_equal(loop_add_signal(l, SIGKILL, on_signal, &g, &bad), -EINVAL);
  assert_int_equal(loop_add_signal(l, 0, on_signal, &g, &bad), -EINVAL);
  assert_null(bad);

  assert_int_equal(raise(SIGUSR1), 0);
  run_until(l, &g.n, 1);
  assert_int_equal(g.signo[0], SIGUSR1);

  /* Both at once: each to its own callback (signalfd reports lower numbers first). */
  assert_int_equal(raise(SIGUSR2), 0);
  assert_int_equal(raise(SIGUSR1), 0);
  run_until(l, &g.n, 3);
  assert_true((g.signo[1] == SIGUSR1 && g.signo[2] == SIGUSR2) ||
              (g.signo[1] == SIGUSR2 && g.signo[2] == SIGUSR1));

  /* After freeing one, the other still works, and the freed one can be added again. */
  loop_source_free(g.src[0]);
  g.src[0] = NULL;
  assert_int_equal(raise(SIGUSR2), 0);
  run_until(l, &g.n, 4);
  assert_int_equal(g.signo[3], SIGUSR2);
  assert_int_equal(loop_add_signal(l, SIGUSR1, on_signal, &g, &g.src[0]), 0);
  assert_int_equal(raise(SIGUSR1), 0);
  run_until(l, &g.n, 5);
  assert_int_equal(g.signo[4], SIGUSR1);
  loop_source_free(g.src[0]);
  loop_source_free(g.src[1]);
}

/* ---- cross-thread posts ---- */

#define POST_THREADS 4
#define POST_EACH 250 /* 4 * 250 <= LOOP_POST_MAX: posters never see -EAGAIN */

struct poster;

struct post_item {
  struct poster *p;
  int seq;
};

struct posts {
  struct loop *l;
  int total;
  bool out_of_order;
  int ran[POST_THREADS];
};

struct poster {
  struct posts *ps;
  int idx;
  int post_errors;
  struct post_item items[POST_EACH];
};

static void on_post(void *userdata) {
  struct post_item *it = userdata;
  struct posts *ps = it->p->ps;
  if (it->seq != ps->ran[it->p->idx])
    ps->out_of_order = true;
  ps->ran[it->p->idx]++;
  if (++ps->total == POST_THREADS * POST_EACH)
    loop_quit(ps->l, 3);
}

static void *poster_main(void *arg) {
  struct poster *p = arg;
  for (int i = 0; i < POST_EACH; i++) {
    p->items[i] = (struct post_item){p, i};
    if (loop_post(p->ps->l, on_post, &p->items[i]) < 0)
      p->post_errors++;
  }
  return NULL;
}

static void test_posts_threads(void **state) {
  struct posts ps = {.l = *state};
  static struct poster posters[POST_THREADS];
  pthread_t th[POST_THREADS];
  for (int i = 0; i < POST_THREADS; i++) {
    posters[i] = (struct poster){.ps = &ps, .idx = i};
    assert_int_equal(pthread_create(&th[i], NULL, poster_main, &posters[i]), 0);
  }
  assert_int_equal(loop_run(ps.l), 3);
  for (int i = 0; i < POST_THREADS; i++) {
    assert_int_equal(pthread_join(th[i], NULL), 0);
    assert_int_equal(posters[i].post_errors, 0);
    assert_int_equal(ps.ran[i], POST_EACH);
  }
  assert_int_equal(ps.total, POST_THREADS * POST_EACH);
  assert_false(ps.out_of_order);
  /* Nothing left: every item ran exactly once. */
  assert_int_equal(loop_run_once(ps.l, 0), 0);
  assert_int_equal(ps.total, POST_THREADS * POST_EACH);
}

static int seq_next;
static bool seq_bad;

static void on_seq(void *userdata) {
  int v = *(int *)userdata;
  if (v != seq_next)
    seq_bad = true;
  seq_next++;
}

static void test_posts_full(void **state) {
  struct loop *l = *state;
  static int vals[LOOP_POST_MAX + 1];
  seq_next = 0;
  seq_bad = false;
  for (int i = 0; i <= LOOP_POST_MAX; i++)
    vals[i] = i;
  for (int i = 0; i < LOOP_POST_MAX; i++)
    assert_int_equal(loop_post(l, on_seq, &vals[i]), 0);
  assert_int_equal(loop_post(l, on_seq, &vals[LOOP_POST_MAX]), -EAGAIN);
  assert_int_equal(loop_post(l, NULL, NULL), -EINVAL);
  assert_int_equal(loop_run_once(l, -1), LOOP_POST_MAX);
  assert_int_equal(seq_next, LOOP_POST_MAX);
  assert_false(seq_bad);
  /* Room again. */
  seq_next = LOOP_POST_MAX;
  assert_int_equal(loop_post(l, on_seq, &vals[LOOP_POST_MAX]), 0);
  assert_int_equal(loop_run_once(l, -1), 1);
  assert_int_equal(seq_next, LOOP_POST_MAX + 1);
  assert_false(seq_bad);
}

static struct loop *repost_loop;
static int repost_count;

static void on_repost(void *userdata) {
  repost_count++;
  if (repost_count < 3)
    assert_int_equal(loop_post(repost_loop, on_repost, NULL), 0);
}

static void test_post_from_callback(void **state) {
  /* A post made by a post callback runs in the next pass, not in the same drain. */
  repost_loop = *state;
  repost_count = 0;
  assert_int_equal(loop_post(repost_loop, on_repost, NULL), 0);
  assert_int_equal(loop_run_once(repost_loop, -1), 1);
  assert_int_equal(repost_count, 1);
  run_until(repost_loop, &repost_count, 3);
  assert_int_equal(loop_run_once(repost_loop, 0), 0);
}

static void test_posts_dropped_on_free(void **state) {
  /* Waiting posts are dropped, not run, by loop_free (ASan checks nothing leaks). */
  struct loop *l;
  assert_int_equal(loop_new(&l), 0);
  seq_next = 0;
  seq_bad = false;
  static int v = 0;
  assert_int_equal(loop_post(l, on_seq, &v), 0);
  loop_free(l);
  assert_int_equal(seq_next, 0);
}

/* ---- quit ---- */

static void on_quit_timer(struct loop_source *s, uint64_t now, void *userdata) {
  loop_quit(userdata, 42);
}

static void test_quit(void **state) {
  struct loop *l = *state;
  struct loop_source *t;
  assert_int_equal(loop_add_timer(l, clock_mono_usec() + 1000, on_quit_timer, l, &t), 0);
  assert_false(loop_quitting(l));
  assert_int_equal(loop_run(l), 42);
  /* The loop can run again; a quit requested before running returns at once. */
  loop_quit(l, 0);
  assert_true(loop_quitting(l));
  assert_int_equal(loop_run(l), 0);
  assert_int_equal(loop_timer_set(t, 0), 0);
  assert_int_equal(loop_run(l), 42);
  loop_source_free(t);
}

static void test_free_with_sources(void **state) {
  /* loop_free releases sources still attached, without calling them. */
  struct loop *l;
  int fd[2];
  struct timers t = {0};
  assert_int_equal(loop_new(&l), 0);
  t.l = l;
  assert_int_equal(pipe2(fd, O_CLOEXEC), 0);
  assert_int_equal(write(fd[1], "x", 1), 1);
  add_timer(&t, 0, 0);
  assert_int_equal(loop_add_io(l, fd[0], EPOLLIN, on_new_io, NULL, NULL), 0);
  assert_int_equal(loop_add_signal(l, SIGUSR2, on_signal, NULL, NULL), 0);
  loop_free(l);
  assert_int_equal(t.n, 0);
  close(fd[0]);
  close(fd[1]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_timer_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_timer_many_equal, setup, teardown),
      cmocka_unit_test_setup_teardown(test_timer_rearm_and_disarm, setup, teardown),
      cmocka_unit_test_setup_teardown(test_timer_past_deadline_rearm, setup, teardown),
      cmocka_unit_test_setup_teardown(test_timer_rearm_same_deadline, setup, teardown),
      cmocka_unit_test_setup_teardown(test_timer_free_in_batch, setup, teardown),
      cmocka_unit_test_setup_teardown(test_timer_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_timer_max, setup, teardown),
      cmocka_unit_test_setup_teardown(test_clock_advance_fires_timers, setup, teardown),
      cmocka_unit_test(test_clock_rules),
      cmocka_unit_test_setup_teardown(test_io_pipe, setup, teardown),
      cmocka_unit_test_setup_teardown(test_io_paused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_io_free_in_batch, setup, teardown),
      cmocka_unit_test_setup_teardown(test_signals, setup, teardown),
      cmocka_unit_test_setup_teardown(test_posts_threads, setup, teardown),
      cmocka_unit_test_setup_teardown(test_posts_full, setup, teardown),
      cmocka_unit_test_setup_teardown(test_post_from_callback, setup, teardown),
      cmocka_unit_test(test_posts_dropped_on_free),
      cmocka_unit_test_setup_teardown(test_quit, setup, teardown),
      cmocka_unit_test(test_free_with_sources),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
