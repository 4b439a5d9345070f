/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for core/sdnotify: what reaches a NOTIFY_SOCKET of the test's (a datagram
 * socket, as systemd's), through libsystemd's sd_notify(). No assertion depends on how
 * fast the machine is: the watchdog's pings are counted, not timed. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/loop.h"
#include "core/sdnotify.h"

struct fx {
  int fd;
  char path[108];
  struct loop *loop;
};

static int setup(void **state) {
  struct fx *f = calloc(1, sizeof(*f));
  if (!f)
    return -1;
  snprintf(f->path, sizeof(f->path), "/tmp/ampd-sdnotify-%ld", (long)getpid());
  unlink(f->path);
  f->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  memcpy(sa.sun_path, f->path, strlen(f->path) + 1);
  if (f->fd < 0 || bind(f->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || loop_new(&f->loop) < 0)
    return -1;
  setenv("NOTIFY_SOCKET", f->path, 1);
  unsetenv("WATCHDOG_USEC");
  unsetenv("WATCHDOG_PID");
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fx *f = *state;
  loop_free(f->loop);
  close(f->fd);
  unlink(f->path);
  free(f);
  unsetenv("NOTIFY_SOCKET");
  return 0;
}

/* The next datagram as a string; "" when none is waiting. */
static const char *next_msg(struct fx *f) {
  static char buf[4096];
  ssize_t n = recv(f->fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
  if (n < 0) {
    assert_int_equal(errno, EAGAIN);
    n = 0;
  }
  buf[n] = '\0';
  return buf;
}

static void test_ready_status_stopping(void **state) {
  struct fx *f = *state;
  struct sdnotify *n = NULL;
  assert_int_equal(sdnotify_new(f->loop, &n), 0);
  assert_int_equal(sdnotify_watchdog_usec(n), 0);
  assert_string_equal(next_msg(f), ""); /* nothing before it is asked */
  sdnotify_ready(n);
  assert_string_equal(next_msg(f), "READY=1");
  sdnotify_status(n, "%s, %s", "linked", "idle");
  assert_string_equal(next_msg(f), "STATUS=linked, idle");
  sdnotify_status(n, "%s, %s", "linked", "idle"); /* unchanged: not sent again */
  assert_string_equal(next_msg(f), "");
  sdnotify_status(n, "unlinked");
  assert_string_equal(next_msg(f), "STATUS=unlinked");
  sdnotify_stopping(n);
  assert_string_equal(next_msg(f), "STOPPING=1");
  sdnotify_free(n);
}

/* A title from the service cannot add an assignment of its own (READY=1, MAINPID=...). */
static void test_status_cannot_inject(void **state) {
  struct fx *f = *state;
  struct sdnotify *n = NULL;
  assert_int_equal(sdnotify_new(f->loop, &n), 0);
  sdnotify_status(n, "playing: %s", "x\nREADY=1\nMAINPID=1\r\t");
  assert_string_equal(next_msg(f), "STATUS=playing: x READY=1 MAINPID=1  ");
  char big[1000];
  memset(big, 'a', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  sdnotify_status(n, "%s", big);
  const char *m = next_msg(f);
  assert_int_equal(strlen(m), strlen("STATUS=") + SDNOTIFY_STATUS_MAX);
  sdnotify_free(n);
}

static int count_pings(struct fx *f) {
  int pings = 0;
  for (;;) {
    const char *m = next_msg(f);
    if (!*m)
      return pings;
    assert_string_equal(m, "WATCHDOG=1");
    pings++;
  }
}

/* WATCHDOG_USEC set: pings come from the loop's timer, only while the loop runs, and stop
 * with sdnotify_stopping(). */
static void test_watchdog(void **state) {
  struct fx *f = *state;
  setenv("WATCHDOG_USEC", "2000", 1);
  struct sdnotify *n = NULL;
  assert_int_equal(sdnotify_new(f->loop, &n), 0);
  assert_int_equal(sdnotify_watchdog_usec(n), 2000);
  assert_int_equal(count_pings(f), 0); /* the loop has not run: no ping */
  int pings = 0;
  for (int pass = 0; pass < 100000 && pings < 5; pass++) {
    assert_true(loop_run_once(f->loop, -1) >= 0); /* blocks until the timer is due */
    pings += count_pings(f);
  }
  assert_true(pings >= 5);
  sdnotify_stopping(n);
  assert_string_equal(next_msg(f), "STOPPING=1");
  for (int pass = 0; pass < 5; pass++)
    assert_true(loop_run_once(f->loop, 5) >= 0);
  assert_int_equal(count_pings(f), 0);
  sdnotify_free(n);
  unsetenv("WATCHDOG_USEC");
}

/* WATCHDOG_PID naming another process: the watchdog is not ours (sd_watchdog_enabled). */
static void test_watchdog_other_pid(void **state) {
  struct fx *f = *state;
  setenv("WATCHDOG_USEC", "2000", 1);
  char pid[32];
  snprintf(pid, sizeof(pid), "%ld", (long)getpid() + 1);
  setenv("WATCHDOG_PID", pid, 1);
  struct sdnotify *n = NULL;
  assert_int_equal(sdnotify_new(f->loop, &n), 0);
  assert_int_equal(sdnotify_watchdog_usec(n), 0);
  for (int pass = 0; pass < 5; pass++)
    assert_true(loop_run_once(f->loop, 5) >= 0);
  assert_int_equal(count_pings(f), 0);
  sdnotify_free(n);
  unsetenv("WATCHDOG_USEC");
  unsetenv("WATCHDOG_PID");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_ready_status_stopping, setup, teardown),
      cmocka_unit_test_setup_teardown(test_status_cannot_inject, setup, teardown),
      cmocka_unit_test_setup_teardown(test_watchdog, setup, teardown),
      cmocka_unit_test_setup_teardown(test_watchdog_other_pid, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
