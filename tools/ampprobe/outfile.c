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

  f->tmp = malloc(n);
  if (!f->tmp)
    return -ENOMEM;
  for (int i = 0; i < OUTFILE_TMP_TRIES; i++) {
    uint64_t rnd;
    if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
      return -errno;
    snprintf(f->tmp, n, "%.*s.%s.%016llx.tmp", (int)dlen, f->target, base, (unsigned long long)rnd);
    f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (f->fd >= 0)
      return 0;
    if (errno != EEXIST)
      break;
  }
  int r = -errno;
  free(f->tmp);
  f->tmp = NULL;
  return r;
}

int outfile_open(const char *path, struct outfile **ret, char *why, size_t why_len) {
  struct outfile *f = calloc(1, sizeof(*f));
  struct stat lst, st;
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
  } else if (lstat(path, &lst) < 0) {
    if (errno != ENOENT) {
      r = -errno;
      goto fail;
    }
    f->target = strdup(path); /* a new file */
  } else if (stat(path, &st) < 0) {
    r = -errno;
    say(why, why_len, "a dangling symlink: not followed");
    goto fail;
  } else if (S_ISDIR(st.st_mode)) {
    r = -EISDIR;
    goto fail;
  } else if (S_ISREG(st.st_mode)) {
    /* replaced whole on success; through a symlink, its target is replaced */
    f->target = S_ISLNK(lst.st_mode) ? realpath(path, NULL) : strdup(path);
    if (!f->target) {
      r = -errno;
      goto fail;
    }
  } else {
    /* a device or fifo (or a link to one): written in place, never created or removed */
    f->fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
    if (f->fd < 0) {
      r = -errno;
      goto fail;
    }
    f->own_fd = true;
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
