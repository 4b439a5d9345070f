/* SPDX-License-Identifier: Apache-2.0 */
#include "core/hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"

LOG_TOPIC("hooks");

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

struct entry {
  enum hooks_event ev;
  bool has_track;
  char title[HOOKS_TEXT_MAX], artist[HOOKS_TEXT_MAX], album[HOOKS_TEXT_MAX];
  char error[HOOKS_TEXT_MAX];
  uint64_t duration_ms, position_ms;
  int volume;
};

/* The environment of one child: at most HOOKS_ENV_VARS variables of at most
 * HOOKS_ENV_VAR bytes each (the longest name and a HOOKS_TEXT_MAX value). */
#define HOOKS_ENV_VARS 10u
#define HOOKS_ENV_VAR (32u + HOOKS_TEXT_MAX)

struct hooks {
  struct loop *loop;
  char *program; /* NULL: off */
  uint32_t timeout_s;
  struct entry queue[HOOKS_QUEUE_MAX]; /* a ring */
  size_t head, n;
  uint64_t dropped;
  /* the child running */
  pid_t pid; /* 0: none */
  int pidfd;
  enum hooks_event running;
  struct loop_source *exit_src, *timer;
  bool killed;
  char env[HOOKS_ENV_VARS][HOOKS_ENV_VAR];
};

const char *hooks_event_name(enum hooks_event ev) {
  static const char *const names[] = {"start",  "stop",      "pause",      "track",
                                      "volume", "sink_open", "sink_close", "error"};
  return (unsigned)ev < sizeof(names) / sizeof(names[0]) ? names[ev] : "?";
}

static void start_next(struct hooks *h);

static void end_child(struct hooks *h) {
  loop_source_free(h->exit_src);
  loop_source_free(h->timer);
  h->exit_src = h->timer = NULL;
  if (h->pidfd >= 0)
    close(h->pidfd);
  h->pidfd = -1;
  h->pid = 0;
  h->killed = false;
}

static void on_exit_ready(struct loop_source *s, int fd, uint32_t events, void *ud) {
  (void)s;
  (void)fd;
  (void)events;
  struct hooks *h = ud;
  int status = 0;
  pid_t r = waitpid(h->pid, &status, WNOHANG);
  if (r == 0)
    return; /* not yet (a spurious wake) */
  if (r < 0 && errno == EINTR)
    return;
  if (r < 0)
    log_warning("onevent %s: waitpid: %s", hooks_event_name(h->running), amp_strerror(-errno));
  else if (h->killed)
    log_debug("onevent %s: reaped after the kill", hooks_event_name(h->running));
  else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
    log_debug("onevent %s: done", hooks_event_name(h->running));
  else if (WIFEXITED(status))
    log_warning("onevent %s: the program exited with %d", hooks_event_name(h->running),
                WEXITSTATUS(status));
  else if (WIFSIGNALED(status))
    log_warning("onevent %s: the program died of signal %d", hooks_event_name(h->running),
                WTERMSIG(status));
  end_child(h);
  start_next(h);
}

static void on_timeout(struct loop_source *s, uint64_t now, void *ud) {
  (void)s;
  (void)now;
  struct hooks *h = ud;
  if (!h->pid || h->killed)
    return;
  log_warning("onevent %s: still running after %" PRIu32 " s: killed (its process group)",
              hooks_event_name(h->running), h->timeout_s);
  h->killed = true;
  if (kill(-h->pid, SIGKILL) < 0 && errno != ESRCH)
    kill(h->pid, SIGKILL); /* the group is gone, the child may not be (a zombie is fine) */
}

static size_t put_env(struct hooks *h, size_t i, const char *name, const char *value) {
  if (!value || !value[0] || i >= HOOKS_ENV_VARS)
    return i;
  snprintf(h->env[i], HOOKS_ENV_VAR, "%s=%s", name, value);
  return i + 1;
}

static size_t put_env_u64(struct hooks *h, size_t i, const char *name, uint64_t v) {
  char num[24];
  snprintf(num, sizeof(num), "%" PRIu64, v);
  return put_env(h, i, name, num);
}

/* Start e; 0 or -errno (nothing runs then). */
static int spawn(struct hooks *h, const struct entry *e) {
  char *envp[HOOKS_ENV_VARS + 1];
  size_t n = 0;
  n = put_env(h, n, "PATH", HOOKS_PATH);
  n = put_env(h, n, "AMPD_EVENT", hooks_event_name(e->ev));
  if (e->has_track) {
    n = put_env(h, n, "AMPD_TITLE", e->title);
    n = put_env(h, n, "AMPD_ARTIST", e->artist);
    n = put_env(h, n, "AMPD_ALBUM", e->album);
    n = put_env_u64(h, n, "AMPD_DURATION_MS", e->duration_ms);
    n = put_env_u64(h, n, "AMPD_POSITION_MS", e->position_ms);
  }
  if (e->volume >= 0)
    n = put_env_u64(h, n, "AMPD_VOLUME", (uint64_t)e->volume);
  n = put_env(h, n, "AMPD_ERROR", e->error);
  for (size_t i = 0; i < n; i++)
    envp[i] = h->env[i];
  envp[n] = NULL;
  char arg1[16];
  snprintf(arg1, sizeof(arg1), "%s", hooks_event_name(e->ev));
  char *argv[] = {h->program, arg1, NULL};

  posix_spawnattr_t attr;
  posix_spawn_file_actions_t fa;
  int r = posix_spawnattr_init(&attr);
  if (r)
    return -r;
  if ((r = posix_spawn_file_actions_init(&fa))) {
    posix_spawnattr_destroy(&attr);
    return -r;
  }
  sigset_t none, dfl;
  sigemptyset(&none);
  sigemptyset(&dfl);
  /* The loop's signals are blocked in this thread and SIGPIPE is ignored: the program
   * gets neither state. */
  static const int sigs[] = {SIGPIPE, SIGHUP, SIGINT, SIGTERM, SIGCHLD, SIGUSR1, SIGUSR2, SIGQUIT};
  for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
    sigaddset(&dfl, sigs[i]);
  pid_t pid = 0;
  if ((r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                               POSIX_SPAWN_SETSIGDEF)) ||
      (r = posix_spawnattr_setpgroup(&attr, 0)) || (r = posix_spawnattr_setsigmask(&attr, &none)) ||
      (r = posix_spawnattr_setsigdefault(&attr, &dfl)) ||
      (r = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)) ||
      (r = posix_spawn(&pid, h->program, &fa, &attr, argv, envp))) {
    r = -r;
    goto out;
  }
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0); /* close-on-exec, always */
  if (pidfd < 0) {
    r = -errno;
    kill(-pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
      ;
    goto out;
  }
  h->pid = pid;
  h->pidfd = pidfd;
  h->running = e->ev;
  h->killed = false;
  uint64_t deadline = loop_now(h->loop) + (uint64_t)h->timeout_s * 1000000u;
  if ((r = loop_add_io(h->loop, pidfd, EPOLLIN, on_exit_ready, h, &h->exit_src)) < 0 ||
      (r = loop_add_timer(h->loop, deadline, on_timeout, h, &h->timer)) < 0) {
    kill(-pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
      ;
    end_child(h);
    goto out;
  }
  log_debug("onevent %s: started (pid %ld)", hooks_event_name(e->ev), (long)pid);
  r = 0;
out:
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  for (size_t i = 0; i < n; i++) /* titles are not the daemon's to keep around */
    memset(h->env[i], 0, HOOKS_ENV_VAR);
  return r;
}

static void start_next(struct hooks *h) {
  while (!h->pid && h->n > 0 && h->program) {
    struct entry *e = &h->queue[h->head];
    h->head = (h->head + 1) % HOOKS_QUEUE_MAX;
    h->n--;
    int r = spawn(h, e);
    if (r < 0)
      log_warning("onevent %s: cannot start the program: %s", hooks_event_name(e->ev),
                  amp_strerror(r));
  }
}

int hooks_new(struct loop *l, struct hooks **ret) {
  if (!l || !ret)
    return -EINVAL;
  struct hooks *h = calloc(1, sizeof(*h));
  if (!h)
    return -ENOMEM;
  h->loop = l;
  h->pidfd = -1;
  h->timeout_s = 10;
  *ret = h;
  return 0;
}

int hooks_configure(struct hooks *h, const char *program, uint32_t timeout_s) {
  if (!h || timeout_s < 1 || timeout_s > HOOKS_TIMEOUT_MAX || (program && program[0] != '/'))
    return -EINVAL;
  char *p = NULL;
  if (program && !(p = strdup(program)))
    return -ENOMEM;
  free(h->program);
  h->program = p;
  h->timeout_s = timeout_s;
  if (!p)
    h->n = 0; /* off: what waited is dropped */
  return 0;
}

static void copy_text(char *dst, const char *src) {
  snprintf(dst, HOOKS_TEXT_MAX, "%s", src ? src : "");
}

int hooks_emit(struct hooks *h, enum hooks_event ev, const struct hooks_info *info) {
  if (!h || (unsigned)ev > HOOKS_ERROR)
    return -EINVAL;
  if (!h->program)
    return 0;
  if (h->n >= HOOKS_QUEUE_MAX) {
    h->dropped++;
    log_warning("onevent %s: dropped, %u events wait already (%" PRIu64 " dropped so far)",
                hooks_event_name(ev), HOOKS_QUEUE_MAX, h->dropped);
    return -ENOSPC;
  }
  struct entry *e = &h->queue[(h->head + h->n) % HOOKS_QUEUE_MAX];
  memset(e, 0, sizeof(*e));
  e->ev = ev;
  e->volume = -1;
  if (info) {
    e->has_track = info->has_track;
    copy_text(e->title, info->title);
    copy_text(e->artist, info->artist);
    copy_text(e->album, info->album);
    copy_text(e->error, info->error);
    e->duration_ms = info->duration_ms;
    e->position_ms = info->position_ms;
    e->volume = info->volume;
  }
  h->n++;
  start_next(h);
  return 0;
}

size_t hooks_pending(const struct hooks *h) {
  return h ? h->n + (h->pid ? 1u : 0u) : 0;
}

void hooks_free(struct hooks *h) {
  if (!h)
    return;
  if (h->pid) {
    kill(-h->pid, SIGKILL);
    kill(h->pid, SIGKILL);
    while (waitpid(h->pid, NULL, 0) < 0 && errno == EINTR)
      ;
    if (h->n > 0)
      log_info("onevent: %zu events not run at the shutdown", h->n);
  }
  end_child(h);
  free(h->program);
  free(h);
}
