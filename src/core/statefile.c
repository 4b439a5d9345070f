/* SPDX-License-Identifier: Apache-2.0 */
#include "core/statefile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"

LOG_TOPIC("statefile");

void (*statefile_test_hook)(enum statefile_stage stage);

#define HEX_LEN 16 /* the random part of a temp name: 8 bytes from getrandom() */
#define TMP_SUFFIX ".tmp"
/* "." name "." hex ".tmp" NUL */
#define TMP_NAME_SIZE (1 + STATEFILE_NAME_MAX + 1 + HEX_LEN + sizeof(TMP_SUFFIX))

static void stage(enum statefile_stage s) {
  if (statefile_test_hook)
    statefile_test_hook(s);
}

static bool name_ok(const char *name) {
  if (!name || !name[0] || name[0] == '.')
    return false;
  size_t n = 0;
  for (const char *p = name; *p; p++, n++) {
    char c = *p;
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok || n >= STATEFILE_NAME_MAX)
      return false;
  }
  return true;
}

/* The directory's fd (O_RDONLY, enough for fsync, openat and renameat), or -errno. */
static int open_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  return fd < 0 ? -errno : fd;
}

static int fsync_dir(int dfd) {
  return fsync(dfd) < 0 ? -errno : 0;
}

static bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* ".<name>.<HEX_LEN lower-case hex digits>.tmp", exactly: with the hex part fixed, the
 * temp file of "a.b" (".a.b.<hex>.tmp") never matches for "a". */
static bool is_tmp_of(const char *ent, const char *name, size_t name_len) {
  if (ent[0] != '.' || strncmp(ent + 1, name, name_len) != 0 || ent[1 + name_len] != '.')
    return false;
  const char *h = ent + 1 + name_len + 1;
  for (size_t i = 0; i < HEX_LEN; i++)
    if (!is_hex(h[i]))
      return false;
  return strcmp(h + HEX_LEN, TMP_SUFFIX) == 0;
}

/* Unlink every stale temp file of name in the open directory dfd. */
static int cleanup_at(int dfd, const char *name) {
  /* fdopendir takes the fd it is given: list through a second one. */
  int lfd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (lfd < 0)
    return -errno;
  DIR *d = fdopendir(lfd);
  if (!d) {
    int r = -errno;
    close(lfd);
    return r;
  }
  size_t name_len = strlen(name);
  int r = 0;
  for (;;) {
    errno = 0;
    struct dirent *de = readdir(d);
    if (!de) {
      if (errno && !r)
        r = -errno;
      break;
    }
    if (!is_tmp_of(de->d_name, name, name_len))
      continue;
    /* Only ever a file of ours: unlinkat without AT_REMOVEDIR refuses a directory, and a
     * symlink is removed itself, never its target. */
    if (unlinkat(dfd, de->d_name, 0) < 0) {
      if (errno != ENOENT && !r)
        r = -errno;
    } else {
      log_debug("removed a stale temp file of %s", name);
    }
  }
  closedir(d);
  return r;
}

static int tmp_name(const char *name, char *out, size_t size) {
  uint8_t rnd[HEX_LEN / 2];
  size_t got = 0;
  while (got < sizeof(rnd)) {
    ssize_t n = getrandom(rnd + got, sizeof(rnd) - got, 0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    got += (size_t)n;
  }
  char hex[HEX_LEN + 1];
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < sizeof(rnd); i++) {
    hex[2 * i] = digits[rnd[i] >> 4];
    hex[2 * i + 1] = digits[rnd[i] & 0xf];
  }
  hex[HEX_LEN] = 0;
  int n = snprintf(out, size, ".%s.%s%s", name, hex, TMP_SUFFIX);
  return n < 0 || (size_t)n >= size ? -EINVAL : 0;
}

static int write_all(int fd, const uint8_t *p, size_t len) {
  while (len) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    if (n == 0)
      return -EIO; /* a regular file never takes nothing; do not spin */
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Unlink the temp file only while it is still the file this call created (same device
 * and inode): a name is not proof of ownership. */
static void unlink_own(int dfd, const char *tmp, const struct stat *own) {
  struct stat st;
  if (fstatat(dfd, tmp, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == own->st_dev &&
      st.st_ino == own->st_ino)
    unlinkat(dfd, tmp, 0);
}

int statefile_write(const char *dir, const char *name, const void *data, size_t len) {
  if (!dir || !name_ok(name) || (!data && len))
    return -EINVAL;
  if (len > STATEFILE_MAX)
    return -AMP_ETOOBIG;

  char tmp[TMP_NAME_SIZE];
  struct stat own;
  int fd = -1, r;
  int dfd = open_dir(dir);
  if (dfd < 0)
    return dfd;
  /* A failed cleanup does not stop the write: the stale file is tried again next time. */
  if (cleanup_at(dfd, name) < 0)
    log_debug("could not remove the stale temp files of %s", name);

  /* O_EXCL makes a clash (64 random bits: never in practice) an EEXIST, tried again. */
  for (int tries = 0; tries < 4; tries++) {
    if ((r = tmp_name(name, tmp, sizeof(tmp))) < 0)
      goto out_dir;
    fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0 || errno != EEXIST)
      break;
  }
  if (fd < 0) {
    r = -errno;
    goto out_dir;
  }
  if (fstat(fd, &own) < 0) {
    r = -errno;
    unlinkat(dfd, tmp, 0); /* created with O_EXCL just now: ours */
    close(fd);
    goto out_dir;
  }
  stage(STATEFILE_STAGE_CREATED);
  /* The open mode is masked by the umask, which can only take bits away; fchmod states
   * the mode outright, so it does not depend on what the process inherited. */
  if (fchmod(fd, 0600) < 0) {
    r = -errno;
    goto out_tmp;
  }
  if ((r = write_all(fd, data, len)) < 0)
    goto out_tmp;
  stage(STATEFILE_STAGE_WRITTEN);
  if (fsync(fd) < 0) {
    r = -errno;
    goto out_tmp;
  }
  /* close() can report a deferred write error (NFS): checked, and the fd is gone either
   * way. */
  r = close(fd) < 0 ? -errno : 0;
  fd = -1;
  if (r < 0)
    goto out_tmp;
  stage(STATEFILE_STAGE_SYNCED);
  if (renameat(dfd, tmp, dfd, name) < 0) {
    r = -errno;
    goto out_tmp;
  }
  stage(STATEFILE_STAGE_RENAMED);
  /* The rename is durable only once the directory is: after this a crash or power cut
   * shows the new file, before it the old one. */
  r = fsync_dir(dfd);
  if (r < 0)
    log_debug("fsync of the directory of %s: %s", name, amp_strerror(r));
  goto out_dir;

out_tmp:
  log_debug("writing %s: %s", name, amp_strerror(r));
  if (fd >= 0)
    close(fd);
  unlink_own(dfd, tmp, &own);
out_dir:
  close(dfd);
  return r;
}

int statefile_read(const char *dir, const char *name, struct buf *out) {
  if (!dir || !name_ok(name) || !out)
    return -EINVAL;
  struct stat st;
  size_t size = 0;
  int fd = -1, r;
  int dfd = open_dir(dir);
  if (dfd < 0)
    return dfd;
  /* A look before the open: a device node is refused without being opened (an open of
   * one can act on the device); the fstat after the open is the check that counts. */
  if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
    r = -errno;
    goto out_dir;
  }
  if (S_ISLNK(st.st_mode)) {
    r = -ELOOP;
    goto out_dir;
  }
  if (!S_ISREG(st.st_mode)) {
    r = -EINVAL;
    goto out_dir;
  }
  /* O_NONBLOCK: should a FIFO take the name after the look, the open does not wait for a
   * writer (it has no effect on a regular file). */
  fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    r = -errno;
    goto out_dir;
  }
  if (fstat(fd, &st) < 0) {
    r = -errno;
    goto out_fd;
  }
  if (!S_ISREG(st.st_mode)) {
    r = -EINVAL;
    goto out_fd;
  }
  if (st.st_uid != geteuid() || (st.st_mode & (S_IRWXG | S_IRWXO))) {
    r = -EPERM;
    goto out_fd;
  }
  if (st.st_size < 0 || (uintmax_t)st.st_size > STATEFILE_MAX) {
    r = -AMP_ETOOBIG;
    goto out_fd;
  }
  size = (size_t)st.st_size;
  /* One reservation for the whole file before any byte is read, so no realloc leaves a
   * copy of the content behind in freed memory. */
  if ((r = buf_reserve(out, size)) < 0)
    goto out_fd;
  size_t got = 0;
  while (got < size) {
    ssize_t n = read(fd, out->data + out->len + got, size - got);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      r = -errno;
      goto out_wipe;
    }
    if (n == 0)
      break; /* shrank meanwhile: what is there is what it holds */
    got += (size_t)n;
  }
  /* The size came from fstat; a file that is longer now was changed under us. */
  uint8_t extra;
  ssize_t n;
  do
    n = read(fd, &extra, 1);
  while (n < 0 && errno == EINTR);
  r = n < 0 ? -errno : n > 0 ? -EAGAIN : 0;
  explicit_bzero(&extra, sizeof(extra));
  if (r < 0)
    goto out_wipe;
  buf_commit(out, got);
  goto out_fd;

out_wipe:
  explicit_bzero(out->data + out->len, size);
  out->data[out->len] = 0;
out_fd:
  close(fd);
out_dir:
  if (r < 0)
    log_debug("reading %s: %s", name, amp_strerror(r));
  close(dfd);
  return r;
}

int statefile_remove(const char *dir, const char *name) {
  if (!dir || !name_ok(name))
    return -EINVAL;
  int r, dfd = open_dir(dir);
  if (dfd < 0)
    return dfd;
  /* The stale temp files may hold the secret too. */
  int rc = cleanup_at(dfd, name);
  r = unlinkat(dfd, name, 0) < 0 ? -errno : 0;
  int rs = fsync_dir(dfd);
  if (r == 0)
    r = rc < 0 ? rc : rs;
  close(dfd);
  return r;
}

int statefile_cleanup(const char *dir, const char *name) {
  if (!dir || !name_ok(name))
    return -EINVAL;
  int r, dfd = open_dir(dir);
  if (dfd < 0)
    return dfd;
  r = cleanup_at(dfd, name);
  int rs = fsync_dir(dfd);
  if (r == 0)
    r = rs;
  close(dfd);
  return r;
}
