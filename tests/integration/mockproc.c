/* SPDX-License-Identifier: Apache-2.0 */
#include "mockproc.h"

#include "core/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct mockproc {
  pid_t pid;
  int pidfd; /* -1 where pidfd_open is missing */
  uint16_t port;
  char tmpdir[PATH_MAX]; /* private dir of the port file ("" when the caller gave one) */
};

static uint64_t now_ms(void) {
  return clock_mono_msec();
}

static int pidfd_for(pid_t pid) {
#ifdef SYS_pidfd_open
  /* pidfds are always close-on-exec. */
  return (int)syscall(SYS_pidfd_open, pid, 0);
#else
  (void)pid;
  return -1;
#endif
}

static int spawn(const char *const *argv, const char *log_path, pid_t *ret) {
  if (!argv || !argv[0])
    return -EINVAL;
  size_t n = 0;
  while (argv[n])
    if (++n >= MOCKPROC_ARGV_MAX)
      return -E2BIG;
  posix_spawn_file_actions_t fa;
  int r = posix_spawn_file_actions_init(&fa);
  if (r)
    return -r;
  if (log_path) {
    /* The child's stdout/stderr: meant to survive its exec, so no O_CLOEXEC here. */
    r = posix_spawn_file_actions_addopen(&fa, 1, log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (!r)
      r = posix_spawn_file_actions_adddup2(&fa, 1, 2);
  }
  pid_t pid = -1;
  if (!r)
    r = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)(uintptr_t)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (r)
    return -r;
  *ret = pid;
  return 0;
}

/* Wait for pid to exit, at most timeout_ms. 0 and *status, or -ETIMEDOUT. */
static int wait_exit(pid_t pid, int pidfd, unsigned timeout_ms, int *status) {
  uint64_t deadline = now_ms() + timeout_ms;
  for (;;) {
    pid_t w = waitpid(pid, status, WNOHANG);
    if (w == pid)
      return 0;
    if (w < 0 && errno != EINTR)
      return -errno;
    uint64_t t = now_ms();
    if (t >= deadline)
      return -ETIMEDOUT;
    /* Without a pidfd, look again every 50 ms (old kernels only). */
    int wait = (int)(deadline - t);
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    if (pidfd < 0 && wait > 50)
      wait = 50;
    if (poll(&p, pidfd >= 0 ? 1 : 0, wait) < 0 && errno != EINTR)
      return -errno;
  }
}

/* The port file holds "PORT\n" once complete (the mock renames it into place). */
static int read_port(const char *path, uint16_t *ret) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  char s[16];
  ssize_t n = read(fd, s, sizeof(s) - 1);
  close(fd);
  if (n <= 0)
    return -EAGAIN;
  s[n] = '\0';
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || end == s || *end != '\n' || v == 0 || v > 65535)
    return -EAGAIN;
  *ret = (uint16_t)v;
  return 0;
}

static int wait_port(struct mockproc *m, const char *port_file, unsigned timeout_ms) {
  char dir[PATH_MAX];
  const char *slash = strrchr(port_file, '/');
  if (!slash)
    snprintf(dir, sizeof(dir), ".");
  else if ((size_t)(slash - port_file) >= sizeof(dir))
    return -ENAMETOOLONG;
  else
    snprintf(dir, sizeof(dir), "%.*s", slash == port_file ? 1 : (int)(slash - port_file),
             port_file);

  int ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (ifd < 0)
    return -errno;
  int r;
  if (inotify_add_watch(ifd, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE) < 0) {
    r = -errno;
    goto out;
  }
  uint64_t deadline = now_ms() + timeout_ms;
  for (;;) {
    /* Look after arming the watch, so a file written in between is not missed. */
    if (read_port(port_file, &m->port) == 0) {
      r = 0;
      break;
    }
    int status;
    if (waitpid(m->pid, &status, WNOHANG) == m->pid) {
      m->pid = -1;
      r = -ECHILD;
      break;
    }
    uint64_t t = now_ms();
    if (t >= deadline) {
      r = -ETIMEDOUT;
      break;
    }
    int wait = (int)(deadline - t);
    if (m->pidfd < 0 && wait > 50)
      wait = 50;
    struct pollfd p[2] = {{.fd = ifd, .events = POLLIN}, {.fd = m->pidfd, .events = POLLIN}};
    if (poll(p, m->pidfd >= 0 ? 2 : 1, wait) < 0 && errno != EINTR) {
      r = -errno;
      break;
    }
    char ev[4096];
    while (read(ifd, ev, sizeof(ev)) > 0)
      ;
  }
out:
  close(ifd);
  return r;
}

static void proc_free(struct mockproc *m) {
  if (m->pidfd >= 0)
    close(m->pidfd);
  if (m->tmpdir[0])
    mockproc_rmtree(m->tmpdir);
  free(m);
}

int mockproc_start(const struct mockproc_opts *o, struct mockproc **ret) {
  if (!o || !ret)
    return -EINVAL;
  struct mockproc *m = calloc(1, sizeof(*m));
  if (!m)
    return -ENOMEM;
  m->pidfd = -1;
  int r = spawn(o->argv, o->log_path, &m->pid);
  if (r < 0) {
    free(m);
    return r;
  }
  m->pidfd = pidfd_for(m->pid);
  if (o->port_file) {
    r = wait_port(m, o->port_file, o->timeout_ms ? o->timeout_ms : MOCKPROC_START_TIMEOUT_MS);
    if (r < 0) {
      mockproc_stop(m);
      return r;
    }
  }
  *ret = m;
  return 0;
}

int mockproc_start_ampmock(const struct mockproc_ampmock *o, struct mockproc **ret) {
  if (!o || !o->script || !o->certs || !o->root || !ret)
    return -EINVAL;
  char tmp[PATH_MAX], port_file[PATH_MAX];
  int r = mockproc_tmpdir("mock", tmp, sizeof(tmp));
  if (r < 0)
    return r;
  if (snprintf(port_file, sizeof(port_file), "%s/port", tmp) >= (int)sizeof(port_file)) {
    mockproc_rmtree(tmp);
    return -ENAMETOOLONG;
  }

  const char *argv[MOCKPROC_ARGV_MAX];
  size_t n = 0;
  argv[n++] = "python3";
  argv[n++] = o->script;
  argv[n++] = "--certs";
  argv[n++] = o->certs;
  argv[n++] = "--root";
  argv[n++] = o->root;
  argv[n++] = "--port";
  argv[n++] = "0";
  argv[n++] = "--port-file";
  argv[n++] = port_file;
  if (o->cert) {
    argv[n++] = "--cert";
    argv[n++] = o->cert;
  }
  if (o->tls_max) {
    argv[n++] = "--tls-max";
    argv[n++] = o->tls_max;
  }
  for (size_t i = 0; o->extra && o->extra[i]; i++) {
    if (n + 1 >= MOCKPROC_ARGV_MAX) {
      mockproc_rmtree(tmp);
      return -E2BIG;
    }
    argv[n++] = o->extra[i];
  }
  argv[n] = NULL;

  struct mockproc *m;
  struct mockproc_opts po = {.argv = argv, .port_file = port_file, .log_path = o->log_path};
  r = mockproc_start(&po, &m);
  if (r < 0) {
    mockproc_rmtree(tmp);
    return r;
  }
  snprintf(m->tmpdir, sizeof(m->tmpdir), "%s", tmp);
  *ret = m;
  return 0;
}

uint16_t mockproc_port(const struct mockproc *m) {
  return m->port;
}

pid_t mockproc_pid(const struct mockproc *m) {
  return m->pid;
}

int mockproc_stop(struct mockproc *m) {
  if (!m)
    return 0;
  int r = 0, status = 0;
  if (m->pid > 0) {
    kill(m->pid, SIGTERM);
    r = wait_exit(m->pid, m->pidfd, MOCKPROC_STOP_TIMEOUT_MS, &status);
    if (r == -ETIMEDOUT) {
      kill(m->pid, SIGKILL);
      while (waitpid(m->pid, &status, 0) < 0 && errno == EINTR)
        ;
    } else if (r == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
      r = -ECHILD;
    }
  } else {
    r = -ECHILD; /* it had exited on its own */
  }
  proc_free(m);
  return r;
}

int mockproc_run(const char *const *argv, const char *log_path, unsigned timeout_ms) {
  pid_t pid;
  int r = spawn(argv, log_path, &pid);
  if (r < 0)
    return r;
  int pidfd = pidfd_for(pid);
  int status = 0;
  r = wait_exit(pid, pidfd, timeout_ms, &status);
  if (r == -ETIMEDOUT) {
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
      ;
  } else if (r == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
    r = -ECHILD;
  }
  if (pidfd >= 0)
    close(pidfd);
  return r;
}

int mockproc_tmpdir(const char *tag, char *buf, size_t size) {
  const char *base = getenv("TMPDIR");
  if (!base || !base[0])
    base = "/tmp";
  int n = snprintf(buf, size, "%s/ampd-%s-XXXXXX", base, tag ? tag : "test");
  if (n < 0 || (size_t)n >= size)
    return -ENAMETOOLONG;
  return mkdtemp(buf) ? 0 : -errno;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  return remove(path) < 0 ? -1 : 0;
}

/* The tree being kept (nftw passes no user data; tests call this from one thread). */
static struct {
  size_t src_len;
  char dest[PATH_MAX];
  FILE *not_kept;
} keep_;

static int copy_file(const char *from, const char *to, mode_t mode) {
  int in = open(from, O_RDONLY | O_CLOEXEC);
  if (in < 0)
    return -errno;
  int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode & 07777);
  int r = out < 0 ? -errno : 0;
  char buf[65536];
  ssize_t n;
  while (r == 0 && (n = read(in, buf, sizeof(buf))) != 0) {
    if (n < 0)
      r = errno == EINTR ? 0 : -errno;
    else if (write(out, buf, (size_t)n) != n)
      r = -EIO;
  }
  if (out >= 0 && close(out) < 0 && r == 0)
    r = -errno;
  close(in);
  return r;
}

static int keep_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)ftw;
  char to[PATH_MAX];
  const char *rel = path + keep_.src_len;
  if (snprintf(to, sizeof(to), "%s%s", keep_.dest, rel) >= (int)sizeof(to))
    return 0; /* too deep to keep: skipped, as the scan's file count would show */
  if (flag == FTW_D)
    return mkdir(to, 0700) < 0 && errno != EEXIST ? -1 : 0;
  if (flag != FTW_F || !S_ISREG(st->st_mode))
    return 0; /* sockets, FIFOs and links are not kept */
  if (st->st_size > MOCKPROC_KEEP_FILE_MAX) {
    if (!keep_.not_kept) {
      char list[PATH_MAX];
      if (snprintf(list, sizeof(list), "%s/NOT-KEPT.txt", keep_.dest) < (int)sizeof(list))
        keep_.not_kept = fopen(list, "ae");
    }
    if (keep_.not_kept)
      fprintf(keep_.not_kept, "%s %lld\n", rel[0] ? rel + 1 : rel, (long long)st->st_size);
    return 0;
  }
  copy_file(path, to, st->st_mode); /* a file removed meanwhile is not an error */
  return 0;
}

int mockproc_keep(const char *dir) {
  const char *out = getenv("AMPD_TEST_OUTPUT");
  if (!out || !out[0])
    return 0;
  if (!dir || !dir[0])
    return -EINVAL;
  size_t len = strlen(dir);
  while (len > 1 && dir[len - 1] == '/')
    len--;
  const char *base = dir + len;
  while (base > dir && base[-1] != '/')
    base--;
  char parent[PATH_MAX];
  if (snprintf(parent, sizeof(parent), "%s", out) >= (int)sizeof(parent))
    return -ENAMETOOLONG;
  for (char *p = parent + 1;; p++) { /* mkdir -p: the test's dir is named for the test */
    char c = *p;
    if (c != '/' && c != '\0')
      continue;
    *p = '\0';
    if (mkdir(parent, 0700) < 0 && errno != EEXIST)
      return -errno;
    *p = c;
    if (!c)
      break;
  }
  if (snprintf(keep_.dest, sizeof(keep_.dest), "%s/%.*s", out, (int)(dir + len - base), base) >=
      (int)sizeof(keep_.dest))
    return -ENAMETOOLONG;
  keep_.src_len = len;
  keep_.not_kept = NULL;
  int r = nftw(dir, keep_one, 16, FTW_PHYS) < 0 ? -errno : 0;
  if (keep_.not_kept)
    fclose(keep_.not_kept);
  keep_.not_kept = NULL;
  return r;
}

int mockproc_rmtree(const char *dir) {
  if (!dir || !dir[0] || strcmp(dir, "/") == 0)
    return -EINVAL;
  mockproc_keep(dir);
  return nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0 ? -errno : 0;
}
