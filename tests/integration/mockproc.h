/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_TESTS_MOCKPROC_H
#define AMPD_TESTS_MOCKPROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Child processes for integration tests: the mock service (tools/mock/ampmock.py) or
 * any helper that announces itself through a port file, and commands run to completion
 * (tools/mock/testca.sh). Every wait is bounded; nothing sleeps in a loop (inotify and a
 * pidfd wake the waits). All functions return 0 or a negative errno.
 */

#define MOCKPROC_ARGV_MAX 64            /* arguments of one command, with argv[0] */
#define MOCKPROC_START_TIMEOUT_MS 20000 /* default wait for the port file */
#define MOCKPROC_STOP_TIMEOUT_MS 5000   /* SIGTERM grace before SIGKILL */

struct mockproc;

struct mockproc_opts {
  const char *const *argv; /* NULL-terminated; argv[0] is looked up in PATH */
  const char *port_file;   /* wait until this file holds "PORT\n"; NULL: don't wait */
  const char *log_path;    /* stdout and stderr appended here; NULL: inherited */
  unsigned timeout_ms;     /* for the port file; 0: MOCKPROC_START_TIMEOUT_MS */
};

/* Spawn o->argv and wait for its port file. On failure the child is killed and reaped.
 * -ETIMEDOUT (no port in time), -ECHILD (it exited first), -E2BIG, or a spawn error. */
int mockproc_start(const struct mockproc_opts *o, struct mockproc **ret);

/* The mock service: python3 SCRIPT --certs CERTS [--cert CERT] --root ROOT --port 0
 * --port-file <private temp dir>/port [--tls-max TLS_MAX] [EXTRA...]. */
struct mockproc_ampmock {
  const char *script;       /* path of tools/mock/ampmock.py */
  const char *certs;        /* the OUTDIR of tools/mock/testca.sh */
  const char *cert;         /* server (NULL), wronghost, expired, unknownca-server */
  const char *root;         /* content directory served under /files/ */
  const char *tls_max;      /* NULL: the mock's default; "1.1": a server to refuse */
  const char *const *extra; /* more arguments, NULL-terminated; may be NULL */
  const char *log_path;     /* as in mockproc_opts */
};
int mockproc_start_ampmock(const struct mockproc_ampmock *o, struct mockproc **ret);

uint16_t mockproc_port(const struct mockproc *m);
pid_t mockproc_pid(const struct mockproc *m);

/* SIGTERM, wait up to MOCKPROC_STOP_TIMEOUT_MS, then SIGKILL; reap and free. 0 when it
 * exited with status 0, -ETIMEDOUT when it had to be killed, -ECHILD for another exit.
 * Accepts NULL (returns 0). */
int mockproc_stop(struct mockproc *m);

/* Run argv to completion within timeout_ms (killed after). 0 for exit status 0,
 * -ECHILD for another status, -ETIMEDOUT, or a spawn error. log_path as above. */
int mockproc_run(const char *const *argv, const char *log_path, unsigned timeout_ms);

/* Make a private directory $TMPDIR/ampd-TAG-XXXXXX (0700) into buf. */
int mockproc_tmpdir(const char *tag, char *buf, size_t size);
/* Remove dir and everything under it (symlinks are not followed). With AMPD_TEST_OUTPUT
 * set (ctest sets it for every test, tests/CMakeLists.txt), what dir holds is kept there
 * first (mockproc_keep), for the secrets scan (tests/secrets/scan.py). */
int mockproc_rmtree(const char *dir);
/* Copy the regular files under dir to $AMPD_TEST_OUTPUT/<basename of dir>/, with their
 * modes; sockets, FIFOs and links are skipped, a file over MOCKPROC_KEEP_FILE_MAX is
 * listed (path and size) in NOT-KEPT.txt there instead. 0 without AMPD_TEST_OUTPUT.
 * Not thread-safe (one tree at a time). */
#define MOCKPROC_KEEP_FILE_MAX (64LL << 20)
int mockproc_keep(const char *dir);

#endif
