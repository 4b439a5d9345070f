/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_CORE_STATEFILE_H
#define AMPD_CORE_STATEFILE_H

#include <stddef.h>

#include "core/buf.h"

/*
 * statefile: the one way ampd keeps small secrets and state on disk (the LWA refresh and
 * access tokens, the device id). A file is replaced whole or not at all, is readable only
 * by its owner, and is never followed through a symlink.
 *
 * Names. `dir` is a directory path; `name` is a plain file name of 1 to
 * STATEFILE_NAME_MAX characters from [A-Za-z0-9._-], not starting with '.' (so never
 * ".", ".." or a temp file's name) and without '/'. Anything else is -EINVAL, as is a
 * NULL dir or name. Every function here checks the name before touching the disk.
 *
 * Temp files. statefile_write() writes `<dir>/.<name>.<16 hex digits>.tmp` and renames
 * it over `<dir>/<name>`. A process killed between the two leaves that temp file behind
 * (holding the new content); the next statefile_write() or statefile_remove() of the same
 * name, or statefile_cleanup(), unlinks it. Only names of exactly that form are touched,
 * so another name's files are safe. One writer per name at a time: a concurrent write of
 * the same name may unlink the other's temp file, which then fails with -ENOENT.
 *
 * Secrets. The data is never logged (the module logs at debug only, and never content);
 * the module keeps no copy of it, and bytes it read on a failing statefile_read() are
 * wiped (explicit_bzero). The caller wipes its own copies.
 *
 * Errors are 0 or negative: -errno from the system call that failed, -EINVAL,
 * -AMP_ETOOBIG (core/err.h).
 */

#define STATEFILE_MAX (64 * 1024) /* bytes in one state file */
#define STATEFILE_NAME_MAX 128    /* characters in a name */

/*
 * Replace `<dir>/<name>` with the `len` bytes at `data` (data may be NULL when len is 0):
 * create the temp file with O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC|O_NOFOLLOW, fchmod it to
 * 0600 whatever the umask, write everything, fsync it, rename it over the name, fsync the
 * directory. Stale temp files of this name are unlinked first.
 *
 * 0 on success. len > STATEFILE_MAX is -AMP_ETOOBIG and a bad name -EINVAL, before any
 * file is touched. On any failure up to and including the rename (ENOSPC, EDQUOT, EFBIG,
 * EIO, EISDIR when the name is a directory, ...) the temp file this call created is
 * unlinked, the old file is left as it was, and -errno is returned. The one failure after
 * the rename is the directory's fsync: then the new content is in place and readable but
 * may not survive a power cut, and -errno is still returned so the caller knows.
 */
int statefile_write(const char *dir, const char *name, const void *data, size_t len);

/*
 * Append the content of `<dir>/<name>` to `out` (bounded by out->max and STATEFILE_MAX).
 * The file is opened O_RDONLY|O_CLOEXEC|O_NOFOLLOW|O_NONBLOCK (a FIFO does not block) and
 * checked with fstat before a byte is read. Errors, each distinct:
 *   -ENOENT       the file (or the directory) does not exist
 *   -ELOOP        the name is a symlink (never followed)
 *   -EINVAL       not a regular file (directory, FIFO, device, socket), or a bad name
 *   -EPERM        owned by another uid than the effective one, or any group or other
 *                 permission bit set (the mode is not 0600 or stricter)
 *   -AMP_ETOOBIG  larger than STATEFILE_MAX or than out has room for; found from the
 *                 size, before anything is read or allocated
 *   -EAGAIN       the file grew while it was read (statefile_write never does that)
 *   -ENOMEM, or -errno of open/fstat/read
 * On failure out holds what it held before (bytes read are wiped). The caller decides
 * what a refused file means (ampd treats it as absent, removes it and reports it once).
 */
int statefile_read(const char *dir, const char *name, struct buf *out);

/* Unlink `<dir>/<name>` and its stale temp files, then fsync the directory. 0, -ENOENT
 * when there was no such file (stale temp files are unlinked anyway), -EINVAL for a bad
 * name, or -errno. */
int statefile_remove(const char *dir, const char *name);

/* Unlink the stale temp files of `name` in `dir` (see "Temp files"). 0, -EINVAL, or
 * -errno of the directory's open, listing or of an unlink. */
int statefile_cleanup(const char *dir, const char *name);

/*
 * Tests only: when set, statefile_write() calls the hook at each stage, so a test can
 * kill the process at a known point. NULL (never called) in ampd.
 */
enum statefile_stage {
  STATEFILE_STAGE_CREATED, /* the temp file exists, nothing written */
  STATEFILE_STAGE_WRITTEN, /* all data written, not yet fsynced */
  STATEFILE_STAGE_SYNCED,  /* fsynced and closed, not yet renamed */
  STATEFILE_STAGE_RENAMED, /* renamed, the directory not yet fsynced */
};
extern void (*statefile_test_hook)(enum statefile_stage stage);

#endif
