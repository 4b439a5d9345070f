/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fixture of the control socket tests (test_control.c, the protocol; and
 * test_control_ampctl.c, ampctl run as a process): a server on a loop in the test process
 * with a few test commands (one answering later from a timer), set up and torn down around
 * every test, and clients that are plain non-blocking sockets pumped by the same thread (so
 * a server that blocked on a client would hang the test, never pass it).
 */
#ifndef AMPD_TESTS_CONTROL_FIXTURE_H
#define AMPD_TESTS_CONTROL_FIXTURE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "control/control.h"
#include "core/buf.h"
#include "core/loop.h"

extern struct loop *L;
extern struct control *C;
extern char dir[PATH_MAX], sock[PATH_MAX + 16]; /* the test's directory, the socket in it */

/* ---- test commands ---- */

/* Every command this fixture registers on C: echo (its arguments back), later (from a
 * timer; its control_reply result in later_rc), typed, whoami, fail, badcode, array, hold
 * (kept until release_held), status, stop, huge; seek, volume, play, repeat, browse echo. */
void cmd_echo(struct control_req *req, const cJSON *args, void *ud);
extern int later_rc; /* 1 until the timer of "later" replied */
extern size_t nheld; /* "hold" requests not answered yet */
/* Answer every held request; each control_reply must return want. */
void release_held(int want);

/* ---- fixture ---- */

/* cmocka setup/teardown: a fresh directory, log file, loop and server C at sock. */
int setup(void **state);
int teardown(void **state);
/* The log so far (a static buffer). */
char *read_log(void);
/* How many times needle occurs in hay. */
size_t count(const char *hay, const char *needle);

/* ---- a client: a non-blocking socket pumped together with the loop ---- */

struct cli {
  int fd;
  struct buf in; /* received, not yet taken */
  size_t lines;  /* lines taken */
  bool eof;
};

void cli_open(struct cli *c);
void cli_close(struct cli *c);
/* Read what is there; true when something came. */
bool cli_poll(struct cli *c);
/* Write all of p while running the loop (the server reads as we write). */
void cli_send(struct cli *c, const void *p, size_t n);
void cli_sendstr(struct cli *c, const char *s);
/* The next line, malloc'd (NULL at EOF). */
char *cli_line(struct cli *c);
cJSON *cli_reply(struct cli *c);
/* The next reply must be an ok for id; returns it (its "result" holds the result). */
cJSON *expect_ok(struct cli *c, double id);
/* The next reply must be the error code; id_json is the id as JSON text ("null", "3"). */
void expect_error(struct cli *c, const char *id_json, const char *code);
/* Run the loop until done(ud), within a bound (a hang fails the test). */
void run_until(bool (*done)(void *), void *ud);
/* Run the loop until the server has n clients. */
void wait_clients(size_t n);

#endif
