/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_CORE_FDS_H
#define AMPD_CORE_FDS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * fds: close-on-exec for the fds a library opens without it. Every fd of ampd's own is
 * opened O_CLOEXEC; a library call that opens fds of its own (libcurl's multi handle
 * opens a socketpair without SOCK_CLOEXEC) is bracketed:
 *
 *     struct fd_list before;
 *     fd_list_read(&before);
 *     lib_call();
 *     fd_cloexec_new(&before);
 *     fd_list_done(&before);
 *
 * Meant for start-up, before other threads run: an fd another thread opens meanwhile gets
 * FD_CLOEXEC too, which is what every fd should have anyway. Reads /proc/self/fd; without
 * it nothing is changed.
 */

#define FD_LIST_MAX 65536 /* fds remembered: far beyond what ampd opens */

struct fd_list {
  int *fd;
  size_t n, cap;
  bool complete; /* every open fd is listed */
};

/* The fds open now (the listing's own fd excepted). 0, or -errno / -ENOMEM / -AMP_ETOOBIG
 * with complete false and the list holding what fit. */
int fd_list_read(struct fd_list *l);
void fd_list_done(struct fd_list *l);
/* Set FD_CLOEXEC on every open fd >= 3 that is not in before. Does nothing when before
 * is not complete: an fd missing from it would look new (and stdin, stdout and stderr
 * are never touched, as a program run by the daemon needs them). */
void fd_cloexec_new(const struct fd_list *before);

#endif
