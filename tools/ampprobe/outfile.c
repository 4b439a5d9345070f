/* SPDX-License-Identifier: Apache-2.0 */
#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define OUTFILE_TMP_TRIES 16

struct outfile {
  int fd;
  bool own_fd;  /* false for standard output */
  char *target; /* rename destination, or NULL when written in place */
  char *tmp;    /* the temporary file, or NULL */
  off_t start;  /* where this run's output began, -1 when unseekable */
};

static void say(char *why, size_t n, const char *msg) {
  if (why && n)
    snprintf(why, n, "%s", msg);
}

/* A fresh file beside target: "<dir>/.<name>.<16 hex>.tmp", created with O_EXCL. */
static int make_tmp(struct outfile *f) {
  const char *slash = strrchr(f->target, '/');
  size_t dlen = slash ? (size_t)(slash - f->target) + 1 : 0;
  const char *base = slash ? slash + 1 : f->target;
  size_t n = strlen(f->target) + 2 + 1 + 16 + 5;

  /* f->tmp is set only once the O_EXCL open has succeeded: outfile_abort() unlinks
   * f->tmp, and a candidate that failed (EEXIST: someone else's file) or a name never
   * tried must not be removed. */
  char *name = malloc(n);
  if (!name)
    return -ENOMEM;
  int r = -EEXIST; /* every try met an existing name */
  for (int i = 0; i < OUTFILE_TMP_TRIES; i++) {
    uint64_t rnd;
    ssize_t got = getrandom(&rnd, sizeof(rnd), 0);
    if (got != (ssize_t)sizeof(rnd)) {
      r = got < 0 ? -errno : -EIO; /* a short read of 8 bytes is not expected either */
      break;
    }
    snprintf(name, n, "%.*s.%s.%016llx.tmp", (int)dlen, f->target, base, (unsigned long long)rnd);
    int fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (fd >= 0) {
      f->fd = fd;
      f->tmp = name; /* ours now */
      return 0;
    }
    r = -errno;
    if (r != -EEXIST)
      break;
  }
  free(name);
  return r;
}

/* The name the temporary file is renamed onto, for a path that is (or leads to) a regular
 * file: a symlink stays a symlink and its target is replaced. This looks at the name
 * again, after the open; whatever it finds only chooses which directory entry rename()
 * replaces: nothing is written into an existing file on this route. */
static int regular_target(struct outfile *f, const char *path) {
  struct stat lst;
  if (lstat(path, &lst) < 0)
    return -errno;
  f->target = S_ISLNK(lst.st_mode) ? realpath(path, NULL) : strdup(path);
  return f->target ? 0 : -errno;
}

/* Where a path that could not be opened for writing goes. ENOENT: nothing there, a new file
 * (a dangling symlink is refused). Any other error (EACCES or ETXTBSY on a regular file,
 * EISDIR, ...): a regular file is still replaced by temp+rename, which needs only the
 * directory writable, as before; anything else fails with the open's error. */
static int open_failed(struct outfile *f, const char *path, int err, char *why, size_t why_len) {
  struct stat st;
  if (err == ENOENT) {
    if (lstat(path, &st) == 0) {
      if (S_ISLNK(st.st_mode))
        say(why, why_len, "a dangling symlink: not followed");
      return -ENOENT;
    }
    if (errno != ENOENT)
      return -errno;
    f->target = strdup(path); /* a new file */
    return f->target ? 0 : -ENOMEM;
  }
  if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
    return regular_target(f, path);
  return -err;
}

/*
 * A path: open it first, then decide on what the fd is (fstat), never on a stat() of the
 * name. Stat-then-open left a window: whoever can write the directory could swap the
 * checked device for a symlink to a regular file between the two, and a root run would
 * then overwrite the start of that file in place. Now a regular file, however it was
 * reached, is closed unwritten (O_WRONLY without O_TRUNC or O_CREAT changes nothing) and
 * replaced by temp+rename, and only an fd that fstat() shows to be a device or fifo is
 * ever written: the check and the use are the same open file, so there is nothing to swap.
 * O_NONBLOCK keeps the open itself from waiting (a tty waiting for carrier, say); a fifo
 * with no reader then fails with ENXIO and is opened again blocking (it waits for a
 * reader, as it always did), and that fd goes through the same fstat.
 */
static int open_path(struct outfile *f, const char *path, char *why, size_t why_len) {
  int fd = open(path, O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0 && errno == ENXIO)
    fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
  if (fd < 0)
    return open_failed(f, path, errno, why, why_len);
  struct stat st;
  int r = 0;
  if (fstat(fd, &st) < 0) {
    r = -errno;
    goto close_fd;
  }
  if (S_ISREG(st.st_mode)) {
    r = regular_target(f, path); /* replaced whole on success */
    goto close_fd;
  }
  /* a device or fifo (or a link to one): written in place, never created or removed */
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
    r = -errno;
    goto close_fd;
  }
  f->fd = fd;
  f->own_fd = true;
  return 0;
close_fd:
  close(fd);
  return r;
}

int outfile_open(const char *path, struct outfile **ret, char *why, size_t why_len) {
  struct outfile *f = calloc(1, sizeof(*f));
  int r;

  if (!f)
    return -ENOMEM;
  f->fd = -1;
  f->start = -1;
  say(why, why_len, "");
  if (strcmp(path, "-") == 0) {
    if (isatty(STDOUT_FILENO)) {
      say(why, why_len, "will not write audio to a terminal");
      r = -ENOTTY;
      goto fail;
    }
    f->fd = STDOUT_FILENO;
  } else {
    r = open_path(f, path, why, why_len);
    if (r < 0)
      goto fail;
  }
  if (f->fd < 0) {
    if (!f->target) {
      r = -ENOMEM;
      goto fail;
    }
    r = make_tmp(f);
    if (r < 0) {
      say(why, why_len, "cannot create a temporary file beside it");
      goto fail;
    }
    f->own_fd = true;
  }
  int fl = fcntl(f->fd, F_GETFL);
  if (fl >= 0 && !(fl & O_APPEND)) /* pwrite() ignores the offset under O_APPEND */
    f->start = lseek(f->fd, 0, SEEK_CUR);
  *ret = f;
  return 0;
fail:
  outfile_abort(f);
  return r;
}

bool outfile_seekable(const struct outfile *f) {
  return f->start >= 0;
}

/* All n bytes: at the file position (off < 0), or at off (pwrite). */
static int write_fully(int fd, const uint8_t *b, size_t n, off_t off) {
  while (n > 0) {
    ssize_t k = off < 0 ? write(fd, b, n) : pwrite(fd, b, n, off);
    if (k < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    b += k;
    n -= (size_t)k;
    if (off >= 0)
      off += k;
  }
  return 0;
}

int outfile_write(struct outfile *f, const void *p, size_t n) {
  return write_fully(f->fd, p, n, -1);
}

int outfile_pwrite(struct outfile *f, const void *p, size_t n, off_t off) {
  if (f->start < 0)
    return -ESPIPE;
  if (off < 0)
    return -EINVAL;
  return write_fully(f->fd, p, n, f->start + off);
}

static void outfile_free(struct outfile *f) {
  if (f->own_fd && f->fd >= 0)
    close(f->fd);
  free(f->tmp);
  free(f->target);
  free(f);
}

/* fsync the directory that holds path, so the rename is durable. */
static int sync_dir(const char *path) {
  const char *slash = strrchr(path, '/');
  char dir[PATH_MAX];
  if (!slash)
    snprintf(dir, sizeof(dir), ".");
  else if (slash == path)
    snprintf(dir, sizeof(dir), "/");
  else
    snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  int r = fsync(fd) < 0 ? -errno : 0;
  close(fd);
  return r;
}

int outfile_commit(struct outfile *f) {
  int r = 0;
  if (f->tmp) {
    if (fsync(f->fd) < 0)
      r = -errno;
    if (close(f->fd) < 0 && r == 0)
      r = -errno;
    f->fd = -1;
    if (r == 0 && rename(f->tmp, f->target) < 0)
      r = -errno;
    if (r < 0) {
      outfile_abort(f);
      return r;
    }
    r = sync_dir(f->target);
  } else if (f->own_fd) {
    if (close(f->fd) < 0)
      r = -errno;
    f->fd = -1;
  }
  outfile_free(f);
  return r;
}

void outfile_abort(struct outfile *f) {
  if (!f)
    return;
  if (f->own_fd && f->fd >= 0)
    close(f->fd);
  f->fd = -1;
  if (f->tmp)
    unlink(f->tmp); /* ours: made with O_EXCL by this run */
  outfile_free(f);
}
