/* SPDX-License-Identifier: Apache-2.0 */
#include "core/fds.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/err.h"

int fd_list_read(struct fd_list *l) {
  *l = (struct fd_list){0};
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return -errno;
  int self = dirfd(d); /* closed again below: the next open may well reuse it */
  int r = 0;
  struct dirent *de;
  for (;;) {
    errno = 0;
    if (!(de = readdir(d))) {
      r = -errno; /* 0 at the end of the listing */
      break;
    }
    char *end;
    long fd = strtol(de->d_name, &end, 10);
    if (*end || end == de->d_name || fd < 0 || fd > INT32_MAX || fd == self)
      continue;
    if (l->n == FD_LIST_MAX) {
      r = -AMP_ETOOBIG;
      break;
    }
    if (l->n == l->cap) {
      size_t cap = l->cap ? l->cap * 2 : 64;
      int *p = realloc(l->fd, cap * sizeof(*p));
      if (!p) {
        r = -ENOMEM;
        break;
      }
      l->fd = p;
      l->cap = cap;
    }
    l->fd[l->n++] = (int)fd;
  }
  closedir(d);
  l->complete = r == 0;
  return r;
}

void fd_list_done(struct fd_list *l) {
  free(l->fd);
  *l = (struct fd_list){0};
}

void fd_cloexec_new(const struct fd_list *before) {
  if (!before->complete)
    return;
  struct fd_list now;
  fd_list_read(&now);
  for (size_t i = 0; i < now.n; i++) {
    bool old = now.fd[i] < 3;
    for (size_t j = 0; j < before->n && !old; j++)
      old = before->fd[j] == now.fd[i];
    int fl = old ? -1 : fcntl(now.fd[i], F_GETFD);
    if (fl >= 0 && !(fl & FD_CLOEXEC))
      fcntl(now.fd[i], F_SETFD, fl | FD_CLOEXEC);
  }
  fd_list_done(&now);
}
