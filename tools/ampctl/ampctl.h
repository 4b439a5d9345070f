/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_TOOLS_AMPCTL_H
#define AMPD_TOOLS_AMPCTL_H

#include <stdbool.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include <ampd/client.h>

/*
 * ampctl's parts (tools/ampctl/): main.c (options, requests, printing), watch.c (the live
 * status line), qr.c (the QR code of the login URL). The exit statuses are ampctl(1)'s.
 */
enum { EXIT_OK = 0, EXIT_DAEMON = 1, EXIT_USAGE = 2, EXIT_CONNECT = 3 };

extern const char *prog;

/* The exit status for a library error (include/ampd/client.h), with its message printed:
 * the daemon unreachable, gone or silent is EXIT_CONNECT; a daemon that refused the
 * connection or did not speak the protocol is EXIT_DAEMON. */
int ampctl_fail(const char *what, int err);

/* ampctl watch on a connected client: runs until the daemon goes away (EXIT_CONNECT) or
 * SIGINT (EXIT_OK). tty: redraw one line in place, else one plain line per change. */
int ampctl_watch(struct ampd_client *c, bool tty, int timeout_ms);

/* The text the login QR code encodes: uri with the code as its cbl-code parameter, in
 * *ret (free()). -ENOMEM, -EINVAL. */
int ampctl_qr_text(const char *uri, const char *code, char **ret);
/* Print text as a QR code (8-bit mode, level L, 4 modules of quiet zone) of Unicode half
 * blocks to f: light modules drawn, two rows a line. -ENOMEM, -EINVAL (too long). */
int ampctl_qr_print(FILE *f, const char *text);

#endif
