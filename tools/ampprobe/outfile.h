/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPPROBE_OUTFILE_H
#define AMPPROBE_OUTFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * outfile: where -o writes, made safe for a tool run as root. Nothing this run did not
 * create is ever removed or renamed over before success:
 *  - "-": standard output (refused when it is a terminal).
 *  - A path that does not exist, or names a regular file (directly or through symlinks):
 *    the bytes go to a new temporary file beside the final target (O_EXCL, mode 0666 less
 *    the umask), which outfile_commit() fsyncs and renames onto the target; a symlink
 *    stays a symlink, its target is replaced. outfile_abort() removes only that
 *    temporary file, so a failed run leaves whatever was there as it was.
 *  - Anything else that exists (a character or block device, a fifo, a symlink to one,
 *    e.g. /dev/null or /proc/self/fd/1): opened and written in place, never created,
 *    truncated, renamed or removed.
 * A dangling symlink and a directory are refused. Which case an existing path is, is
 * decided on the file an open() of it gave (fstat), not on a stat() of the name, so the
 * name cannot be swapped between the check and the write (outfile.c, open_path()).
 */

struct outfile;

/* 0 or a negative errno; why (may be NULL) then says what was refused. */
int outfile_open(const char *path, struct outfile **ret, char *why, size_t why_len);
/* Whether outfile_pwrite() can rewrite bytes already written (not a pipe or terminal). */
bool outfile_seekable(const struct outfile *f);
int outfile_write(struct outfile *f, const void *p, size_t n);
/* Write n bytes at offset off from where this run's output began. -ESPIPE if unseekable. */
int outfile_pwrite(struct outfile *f, const void *p, size_t n, off_t off);
/* Finish: fsync, close, and for a temporary file rename it onto the target. Frees f. */
int outfile_commit(struct outfile *f);
/* Give up: close, and remove the temporary file if there is one. Frees f; accepts NULL. */
void outfile_abort(struct outfile *f);

#endif
