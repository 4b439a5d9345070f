/* SPDX-License-Identifier: Apache-2.0 */
#include "core/loop.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"

/* Events taken from epoll per pass; more stay ready (level-triggered) for the next pass. */
#define LOOP_EVENTS_MAX 64
/* signalfd records read per pass; more stay readable for the next pass. */
#define LOOP_SIGINFO_MAX 8
/* First heap allocation; it doubles up to LOOP_TIMER_MAX (loop.h), one slot per timer
 * source, reserved at creation so that re-arming never allocates. */
#define LOOP_HEAP_MIN 16

enum source_type {
  SOURCE_IO,
  SOURCE_TIMER,
  SOURCE_SIGNAL,
  /* The loop's own fds, embedded in struct loop; never freed through the public API. */
  SOURCE_TIMERFD,
  SOURCE_SIGNALFD,
  SOURCE_EVENTFD,
};

#define HEAP_NONE SIZE_MAX

struct loop_source {
  struct loop *loop;
  enum source_type type;
  /* Freed during a pass: unlinked from epoll/heap/signal table, memory kept until the
   * outermost pass ends so that events already in the batch can be recognised and skipped. */
  bool dead;
  void *userdata;
  struct loop_source *prev, *next; /* every live source, for loop_free; dead ones on l->dead */
  union {
    struct {
      loop_io_fn cb;
      int fd;
      uint32_t events;
    } io;
    struct {
      loop_timer_fn cb;
      uint64_t deadline;
      uint64_t seq;    /* arming order: the tie-breaker for equal deadlines */
      size_t heap_idx; /* HEAP_NONE when disarmed */
    } timer;
    struct {
      loop_signal_fn cb;
      int signo;
    } sig;
  };
};

struct post {
  loop_post_fn fn;
  void *userdata;
};

struct loop {
  int epfd;
  int timerfd;
  int sigfd; /* -1 until the first signal source */
  int eventfd;
  struct loop_source timerfd_src, sigfd_src, eventfd_src;

  uint64_t now;
  unsigned depth; /* nesting of loop_run_once */
  bool quitting;
  int quit_code;

  struct loop_source *sources; /* live sources */
  struct loop_source *dead;    /* freed during a pass, released when it ends */

  /* Timers: binary min-heap on (deadline, seq) behind one timerfd. */
  struct loop_source **heap;
  size_t heap_len, heap_cap;
  size_t n_timers; /* live timer sources; heap_cap >= n_timers */
  uint64_t timer_seq;
  uint64_t armed;     /* deadline the timerfd is set to, UINT64_MAX when disarmed */
  uint64_t armed_off; /* clock_mono_offset_usec() when it was set */

  /* Signals: one source per signal number, all on one signalfd. */
  sigset_t sigmask;
  struct loop_source *sig[_NSIG];

  /* Cross-thread posts: a ring guarded by post_lock. */
  pthread_mutex_t post_lock;
  struct post posts[LOOP_POST_MAX];
  size_t post_head, post_len;
};

static int epoll_add(struct loop *l, int fd, uint32_t events, struct loop_source *s) {
  struct epoll_event ev = {.events = events, .data.ptr = s};
  return epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int loop_new(struct loop **ret) {
  struct loop *l = calloc(1, sizeof(*l));
  if (!l)
    return -ENOMEM;
  int r;
  l->epfd = l->timerfd = l->sigfd = l->eventfd = -1;
  l->armed = UINT64_MAX;
  sigemptyset(&l->sigmask);
  pthread_mutex_init(&l->post_lock, NULL);
  l->timerfd_src = (struct loop_source){.loop = l, .type = SOURCE_TIMERFD};
  l->sigfd_src = (struct loop_source){.loop = l, .type = SOURCE_SIGNALFD};
  l->eventfd_src = (struct loop_source){.loop = l, .type = SOURCE_EVENTFD};

  l->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (l->epfd < 0)
    goto fail_errno;
  l->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  if (l->timerfd < 0)
    goto fail_errno;
  l->eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (l->eventfd < 0)
    goto fail_errno;
  r = epoll_add(l, l->timerfd, EPOLLIN, &l->timerfd_src);
  if (r < 0)
    goto fail;
  r = epoll_add(l, l->eventfd, EPOLLIN, &l->eventfd_src);
  if (r < 0)
    goto fail;
  l->now = clock_mono_usec();
  *ret = l;
  return 0;

fail_errno:
  r = -errno;
fail:
  loop_free(l);
  return r;
}

static void source_link(struct loop *l, struct loop_source *s) {
  s->prev = NULL;
  s->next = l->sources;
  if (l->sources)
    l->sources->prev = s;
  l->sources = s;
}

static void source_unlink(struct loop *l, struct loop_source *s) {
  if (s->prev)
    s->prev->next = s->next;
  else
    l->sources = s->next;
  if (s->next)
    s->next->prev = s->prev;
  s->prev = s->next = NULL;
}

void loop_free(struct loop *l) {
  if (!l)
    return;
  while (l->sources) {
    struct loop_source *s = l->sources;
    l->sources = s->next;
    free(s);
  }
  while (l->dead) {
    struct loop_source *s = l->dead;
    l->dead = s->next;
    free(s);
  }
  free(l->heap);
  /* Signals stay blocked: unblocking could deliver a pending one with its default action. */
  if (l->sigfd >= 0)
    close(l->sigfd);
  if (l->eventfd >= 0)
    close(l->eventfd);
  if (l->timerfd >= 0)
    close(l->timerfd);
  if (l->epfd >= 0)
    close(l->epfd);
  pthread_mutex_destroy(&l->post_lock);
  free(l);
}

uint64_t loop_now(struct loop *l) {
  return l->now;
}

void loop_quit(struct loop *l, int code) {
  l->quitting = true;
  l->quit_code = code;
}

bool loop_quitting(struct loop *l) {
  return l->quitting;
}

/* ---- timers ---- */

static bool timer_before(const struct loop_source *a, const struct loop_source *b) {
  if (a->timer.deadline != b->timer.deadline)
    return a->timer.deadline < b->timer.deadline;
  return a->timer.seq < b->timer.seq;
}

static void heap_put(struct loop *l, size_t i, struct loop_source *s) {
  l->heap[i] = s;
  s->timer.heap_idx = i;
}

static void heap_up(struct loop *l, size_t i) {
  struct loop_source *s = l->heap[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!timer_before(s, l->heap[parent]))
      break;
    heap_put(l, i, l->heap[parent]);
    i = parent;
  }
  heap_put(l, i, s);
}

static void heap_down(struct loop *l, size_t i) {
  struct loop_source *s = l->heap[i];
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= l->heap_len)
      break;
    if (c + 1 < l->heap_len && timer_before(l->heap[c + 1], l->heap[c]))
      c++;
    if (!timer_before(l->heap[c], s))
      break;
    heap_put(l, i, l->heap[c]);
    i = c;
  }
  heap_put(l, i, s);
}

static void heap_remove(struct loop *l, struct loop_source *s) {
  size_t i = s->timer.heap_idx;
  s->timer.heap_idx = HEAP_NONE;
  struct loop_source *last = l->heap[--l->heap_len];
  if (last == s)
    return;
  heap_put(l, i, last);
  heap_up(l, i);
  heap_down(l, last->timer.heap_idx);
}

/* Point the timerfd at the earliest deadline; a syscall only when that changes. */
static void timerfd_update(struct loop *l) {
  uint64_t want = l->heap_len ? l->heap[0]->timer.deadline : UINT64_MAX;
  uint64_t off = clock_mono_offset_usec();
  if (want == l->armed && off == l->armed_off)
    return;
  struct itimerspec its = {0};
  if (want != UINT64_MAX) {
    /* Deadlines are in ampd's monotonic time (core/clock.h), the timerfd in the kernel's:
     * they differ by the offset a test may have added. */
    uint64_t k = want > off ? want - off : 0;
    its.it_value.tv_sec = (time_t)(k / 1000000u);
    its.it_value.tv_nsec = (long)(k % 1000000u) * 1000;
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
      its.it_value.tv_nsec = 1; /* zero would disarm; a past deadline fires at once */
  }
  /* Cannot fail with a valid fd and a normalised timespec. */
  if (timerfd_settime(l->timerfd, TFD_TIMER_ABSTIME, &its, NULL) == 0) {
    l->armed = want;
    l->armed_off = off;
  }
}

int loop_add_timer(struct loop *l, uint64_t deadline_usec, loop_timer_fn cb, void *userdata,
                   struct loop_source **ret) {
  if (!cb)
    return -EINVAL;
  if (l->n_timers >= LOOP_TIMER_MAX)
    return -AMP_ETOOBIG;
  if (l->n_timers + 1 > l->heap_cap) {
    size_t cap = l->heap_cap ? l->heap_cap * 2 : LOOP_HEAP_MIN;
    struct loop_source **h = realloc(l->heap, cap * sizeof(*h));
    if (!h)
      return -ENOMEM;
    l->heap = h;
    l->heap_cap = cap;
  }
  struct loop_source *s = calloc(1, sizeof(*s));
  if (!s)
    return -ENOMEM;
  s->loop = l;
  s->type = SOURCE_TIMER;
  s->userdata = userdata;
  s->timer.cb = cb;
  s->timer.heap_idx = HEAP_NONE;
  l->n_timers++;
  source_link(l, s);
  loop_timer_set(s, deadline_usec);
  if (ret)
    *ret = s;
  return 0;
}

int loop_timer_set(struct loop_source *s, uint64_t deadline_usec) {
  if (!s || s->type != SOURCE_TIMER || s->dead)
    return -EINVAL;
  struct loop *l = s->loop;
  s->timer.deadline = deadline_usec;
  s->timer.seq = l->timer_seq++;
  if (s->timer.heap_idx == HEAP_NONE) {
    l->heap[l->heap_len] = s; /* a slot was reserved at loop_add_timer */
    s->timer.heap_idx = l->heap_len++;
    heap_up(l, s->timer.heap_idx);
  } else {
    /* A new seq makes it later than any equal deadline: it may move either way. */
    heap_up(l, s->timer.heap_idx);
    heap_down(l, s->timer.heap_idx);
  }
  timerfd_update(l);
  return 0;
}

void loop_timer_disarm(struct loop_source *s) {
  if (!s || s->type != SOURCE_TIMER || s->timer.heap_idx == HEAP_NONE)
    return;
  heap_remove(s->loop, s);
  timerfd_update(s->loop);
}

static int dispatch_timers(struct loop *l) {
  uint64_t expirations;
  ssize_t rd = read(l->timerfd, &expirations, sizeof(expirations));
  (void)rd; /* EAGAIN when re-armed since epoll saw it; the heap is the truth */
  /* An absolute one-shot timerfd that expired is disarmed: forget the cached deadline, or
   * a timer re-armed at that same deadline would never be set again. */
  l->armed = UINT64_MAX;
  /* Only timers armed before this point fire now, so a callback that re-arms for a past
   * deadline runs again in the next pass instead of spinning here. */
  uint64_t seq_limit = l->timer_seq;
  int ran = 0;
  while (l->heap_len) {
    struct loop_source *s = l->heap[0];
    if (s->timer.deadline > l->now || s->timer.seq >= seq_limit)
      break;
    heap_remove(l, s); /* popped first, so the callback may re-arm it */
    s->timer.cb(s, l->now, s->userdata);
    ran++;
  }
  timerfd_update(l);
  return ran;
}

/* ---- io ---- */

int loop_add_io(struct loop *l, int fd, uint32_t events, loop_io_fn cb, void *userdata,
                struct loop_source **ret) {
  if (fd < 0 || !cb)
    return -EINVAL;
  struct loop_source *s = calloc(1, sizeof(*s));
  if (!s)
    return -ENOMEM;
  s->loop = l;
  s->type = SOURCE_IO;
  s->userdata = userdata;
  s->io.cb = cb;
  s->io.fd = fd;
  s->io.events = events;
  /* Added even with no events, so that a bad fd fails here rather than later. */
  int r = epoll_add(l, fd, events, s);
  if (r < 0) {
    free(s);
    return r;
  }
  if (!events)
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
  source_link(l, s);
  if (ret)
    *ret = s;
  return 0;
}

int loop_io_set_events(struct loop_source *s, uint32_t events) {
  if (!s || s->type != SOURCE_IO || s->dead)
    return -EINVAL;
  if (events == s->io.events)
    return 0;
  /* A source with no events is not in epoll at all: epoll reports EPOLLHUP and EPOLLERR
   * whatever the mask, and level-triggered that would call a paused source forever. */
  int op = !s->io.events ? EPOLL_CTL_ADD : !events ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
  struct epoll_event ev = {.events = events, .data.ptr = s};
  if (epoll_ctl(s->loop->epfd, op, s->io.fd, &ev) < 0)
    return -errno;
  s->io.events = events;
  return 0;
}

/* ---- signals ---- */

int loop_add_signal(struct loop *l, int signo, loop_signal_fn cb, void *userdata,
                    struct loop_source **ret) {
  if (signo <= 0 || signo >= _NSIG || signo == SIGKILL || signo == SIGSTOP || !cb)
    return -EINVAL;
  if (l->sig[signo])
    return -EBUSY;
  struct loop_source *s = calloc(1, sizeof(*s));
  if (!s)
    return -ENOMEM;
  sigset_t one, mask = l->sigmask;
  sigemptyset(&one);
  sigaddset(&one, signo);
  sigaddset(&mask, signo);
  int r = -pthread_sigmask(SIG_BLOCK, &one, NULL);
  if (r < 0)
    goto fail;
  /* With an existing fd, signalfd() replaces its mask; all signals share the one fd. */
  int fd = signalfd(l->sigfd, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (fd < 0) {
    r = -errno;
    goto fail;
  }
  if (l->sigfd < 0) {
    r = epoll_add(l, fd, EPOLLIN, &l->sigfd_src);
    if (r < 0) {
      close(fd);
      goto fail;
    }
    l->sigfd = fd;
  }
  l->sigmask = mask;
  s->loop = l;
  s->type = SOURCE_SIGNAL;
  s->userdata = userdata;
  s->sig.cb = cb;
  s->sig.signo = signo;
  l->sig[signo] = s;
  source_link(l, s);
  if (ret)
    *ret = s;
  return 0;

fail:
  free(s);
  return r;
}

static int dispatch_signals(struct loop *l) {
  struct signalfd_siginfo si[LOOP_SIGINFO_MAX];
  ssize_t n = read(l->sigfd, si, sizeof(si));
  if (n <= 0)
    return 0;
  int ran = 0;
  for (size_t i = 0; i < (size_t)n / sizeof(si[0]); i++) {
    uint32_t signo = si[i].ssi_signo;
    struct loop_source *s = signo < _NSIG ? l->sig[signo] : NULL;
    if (!s) /* freed by an earlier callback of this read */
      continue;
    s->sig.cb(s, &si[i], s->userdata);
    ran++;
  }
  return ran;
}

/* ---- cross-thread posts ---- */

int loop_post(struct loop *l, loop_post_fn fn, void *userdata) {
  if (!fn)
    return -EINVAL;
  pthread_mutex_lock(&l->post_lock);
  if (l->post_len == LOOP_POST_MAX) {
    pthread_mutex_unlock(&l->post_lock);
    return -EAGAIN;
  }
  l->posts[(l->post_head + l->post_len) % LOOP_POST_MAX] = (struct post){fn, userdata};
  l->post_len++;
  pthread_mutex_unlock(&l->post_lock);
  /* Every post adds to the counter; it cannot overflow since the queue is bounded. A
   * failed write (impossible with a valid eventfd) leaves the post for the next wake-up. */
  uint64_t one = 1;
  ssize_t w = write(l->eventfd, &one, sizeof(one));
  (void)w;
  return 0;
}

static int dispatch_posts(struct loop *l) {
  uint64_t cnt;
  /* Read (reset) the counter before draining: a post that lands after this read wakes
   * the next pass, so none is left behind. */
  ssize_t rd = read(l->eventfd, &cnt, sizeof(cnt));
  (void)rd;
  pthread_mutex_lock(&l->post_lock);
  size_t n = l->post_len; /* what a callback posts now runs in the next pass */
  pthread_mutex_unlock(&l->post_lock);
  for (size_t i = 0; i < n; i++) {
    pthread_mutex_lock(&l->post_lock);
    struct post p = l->posts[l->post_head];
    l->post_head = (l->post_head + 1) % LOOP_POST_MAX;
    l->post_len--;
    pthread_mutex_unlock(&l->post_lock);
    p.fn(p.userdata);
  }
  return (int)n;
}

/* ---- removal and dispatch ---- */

void loop_source_free(struct loop_source *s) {
  if (!s || s->dead)
    return;
  struct loop *l = s->loop;
  switch (s->type) {
  case SOURCE_IO:
    /* At once: the fd may be closed and reused right after this returns. */
    if (s->io.events)
      epoll_ctl(l->epfd, EPOLL_CTL_DEL, s->io.fd, NULL);
    break;
  case SOURCE_TIMER:
    loop_timer_disarm(s);
    l->n_timers--;
    break;
  case SOURCE_SIGNAL:
    l->sig[s->sig.signo] = NULL;
    sigdelset(&l->sigmask, s->sig.signo);
    /* Narrow the fd's mask; the signal stays blocked (see loop_free). */
    signalfd(l->sigfd, &l->sigmask, 0);
    break;
  default:
    return; /* the loop's own sources are not the caller's to free */
  }
  source_unlink(l, s);
  if (l->depth == 0) {
    free(s);
    return;
  }
  s->dead = true;
  s->next = l->dead;
  l->dead = s;
}

int loop_run_once(struct loop *l, int timeout_ms) {
  struct epoll_event ev[LOOP_EVENTS_MAX];
  timerfd_update(l); /* a no-op unless a test moved the clock since it was armed */
  int n = epoll_wait(l->epfd, ev, LOOP_EVENTS_MAX, timeout_ms);
  if (n < 0)
    return errno == EINTR ? 0 : -errno;
  l->now = clock_mono_usec();
  l->depth++;
  int ran = 0;
  for (int i = 0; i < n; i++) {
    struct loop_source *s = ev[i].data.ptr;
    if (s->dead)
      continue;
    switch (s->type) {
    case SOURCE_IO:
      s->io.cb(s, s->io.fd, ev[i].events, s->userdata);
      ran++;
      break;
    case SOURCE_TIMERFD:
      ran += dispatch_timers(l);
      break;
    case SOURCE_SIGNALFD:
      ran += dispatch_signals(l);
      break;
    case SOURCE_EVENTFD:
      ran += dispatch_posts(l);
      break;
    default:
      break;
    }
  }
  if (--l->depth == 0) {
    while (l->dead) {
      struct loop_source *s = l->dead;
      l->dead = s->next;
      free(s);
    }
  }
  return ran;
}

int loop_run(struct loop *l) {
  while (!l->quitting) {
    int r = loop_run_once(l, -1);
    if (r < 0)
      return r;
  }
  l->quitting = false; /* the loop may be run again */
  return l->quit_code;
}
