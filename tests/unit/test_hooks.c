/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for core/hooks: the environment, the order, the queue's bound, the timeout
 * kill of the process group, a program that cannot start. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/hooks.h"
#include "core/loop.h"

static char dir[64], script[128], out[128], pidfile[128];

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof(dir), "/tmp/test_hooks.XXXXXX");
  if (!mkdtemp(dir))
    return -1;
  snprintf(script, sizeof(script), "%s/hook.sh", dir);
  snprintf(out, sizeof(out), "%s/events", dir);
  snprintf(pidfile, sizeof(pidfile), "%s/pid", dir);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  unlink(script);
  unlink(out);
  unlink(pidfile);
  rmdir(dir);
  return 0;
}

static void write_script(const char *body) {
  FILE *f = fopen(script, "we");
  assert_non_null(f);
  fprintf(f, "#!/bin/sh\n%s", body);
  fclose(f);
  assert_int_equal(chmod(script, 0700), 0);
}

static size_t slurp(const char *p, char *buf, size_t max) {
  FILE *f = fopen(p, "re");
  if (!f)
    return 0;
  size_t n = fread(buf, 1, max - 1, f);
  fclose(f);
  buf[n] = '\0';
  return n;
}

static void run_until_idle(struct loop *l, struct hooks *h) {
  while (hooks_pending(h) > 0)
    assert_true(loop_run_once(l, 1000) >= 0);
}

/* Each event in order, with its variables, and nothing of the caller's environment. */
static void test_order_and_environment(void **state) {
  (void)state;
  char body[512];
  snprintf(
      body, sizeof(body),
      "{ echo \"$1|$AMPD_EVENT|$AMPD_TITLE|$AMPD_ARTIST|$AMPD_ALBUM|$AMPD_DURATION_MS|"
      "$AMPD_POSITION_MS|$AMPD_VOLUME|$AMPD_ERROR\"; env | sort | tr '\\n' ' '; echo; } >> %s\n",
      out);
  write_script(body);
  setenv("AMPD_TEST_SECRET", "token-xyz", 1);
  struct loop *l;
  struct hooks *h;
  assert_int_equal(loop_new(&l), 0);
  assert_int_equal(hooks_new(l, &h), 0);
  assert_int_equal(hooks_emit(h, HOOKS_START, NULL), 0); /* no program: nothing */
  assert_int_equal(hooks_pending(h), 0);
  assert_int_equal(hooks_configure(h, script, 5), 0);
  struct hooks_info t = {.has_track = true,
                         .title = "Song \"one\"",
                         .artist = "Band",
                         .album = "Album",
                         .duration_ms = 180000,
                         .position_ms = 1500,
                         .volume = 40};
  assert_int_equal(hooks_emit(h, HOOKS_START, &t), 0);
  assert_int_equal(hooks_emit(h, HOOKS_TRACK, &t), 0);
  struct hooks_info v = {.volume = 7};
  assert_int_equal(hooks_emit(h, HOOKS_VOLUME, &v), 0);
  struct hooks_info e = {.volume = -1, .error = "audio output: busy"};
  assert_int_equal(hooks_emit(h, HOOKS_ERROR, &e), 0);
  assert_int_equal(hooks_emit(h, HOOKS_SINK_CLOSE, NULL), 0);
  run_until_idle(l, h);
  char got[8192];
  slurp(out, got, sizeof(got));
  char *lines[10];
  size_t n = 0;

  for (char *p = got; *p && n < 10;) {
    char *nl = strchr(p, '\n');
    assert_non_null(nl);
    *nl = '\0';
    lines[n++] = p;
    p = nl + 1;
  }
  assert_int_equal(n, 10);
  assert_string_equal(lines[0], "start|start|Song \"one\"|Band|Album|180000|1500|40|");
  assert_string_equal(lines[2], "track|track|Song \"one\"|Band|Album|180000|1500|40|");
  assert_string_equal(lines[4], "volume|volume||||||7|");
  assert_string_equal(lines[6], "error|error|||||||audio output: busy");
  assert_string_equal(lines[8], "sink_close|sink_close|||||||");
  for (size_t i = 1; i < 10; i += 2) {
    assert_null(strstr(lines[i], "SECRET"));
    assert_null(strstr(lines[i], "HOME="));
    assert_non_null(strstr(lines[i], "PATH=" HOOKS_PATH " "));
  }
  hooks_free(h);
  loop_free(l);
  unsetenv("AMPD_TEST_SECRET");
}

/* One runs, HOOKS_QUEUE_MAX wait, the next is dropped; a hang is killed with its group
 * after the timeout and the queue goes on. */
static void test_bound_and_timeout(void **state) {
  (void)state;
  char body[512];
  snprintf(body, sizeof(body),
           "echo \"$AMPD_EVENT\" >> %s\n"
           "if [ \"$AMPD_EVENT\" = start ]; then sleep 300 & echo $! > %s; wait; fi\n",
           out, pidfile);
  write_script(body);
  struct loop *l;
  struct hooks *h;
  assert_int_equal(loop_new(&l), 0);
  assert_int_equal(hooks_new(l, &h), 0);
  assert_int_equal(hooks_configure(h, script, 1), 0);
  assert_int_equal(hooks_emit(h, HOOKS_START, NULL), 0);
  for (unsigned i = 0; i < HOOKS_QUEUE_MAX; i++)
    assert_int_equal(hooks_emit(h, HOOKS_TRACK, NULL), 0);
  assert_int_equal(hooks_emit(h, HOOKS_STOP, NULL), -ENOSPC);
  assert_int_equal(hooks_pending(h), HOOKS_QUEUE_MAX + 1);
  run_until_idle(l, h);
  char got[4096];
  slurp(out, got, sizeof(got));
  char want[4096];
  size_t w = (size_t)snprintf(want, sizeof(want), "start\n");
  for (unsigned i = 0; i < HOOKS_QUEUE_MAX; i++)
    w += (size_t)snprintf(want + w, sizeof(want) - w, "track\n");
  assert_string_equal(got, want);
  /* the background sleep of the killed program died with its group */
  char pidtext[32];
  assert_true(slurp(pidfile, pidtext, sizeof(pidtext)) > 0);
  long pid = strtol(pidtext, NULL, 10);
  assert_true(pid > 0);
  for (int i = 0; i < 500; i++) { /* killed; gone once init reaps it (at most 5 s) */
    char proc[64], stat_text[256];
    snprintf(proc, sizeof(proc), "/proc/%ld/stat", pid);
    if (slurp(proc, stat_text, sizeof(stat_text)) == 0)
      break;
    const char *close = strrchr(stat_text, ')');
    if (close && close[1] == ' ' && close[2] == 'Z')
      break;
    assert_true(i < 499);
    usleep(10000);
  }
  hooks_free(h);
  loop_free(l);
}

/* A program that cannot start: the next event is still run (after a change of program). */
static void test_cannot_start(void **state) {
  (void)state;
  char body[256];
  snprintf(body, sizeof(body), "echo \"$AMPD_EVENT\" >> %s\n", out);
  write_script(body);
  struct loop *l;
  struct hooks *h;
  assert_int_equal(loop_new(&l), 0);
  assert_int_equal(hooks_new(l, &h), 0);
  assert_int_equal(hooks_configure(h, "relative/path", 1), -EINVAL);
  assert_int_equal(hooks_configure(h, script, 0), -EINVAL);
  char missing[160];
  snprintf(missing, sizeof(missing), "%s/missing", dir);
  assert_int_equal(hooks_configure(h, missing, 1), 0);
  assert_int_equal(hooks_emit(h, HOOKS_START, NULL), 0);
  assert_int_equal(hooks_pending(h), 0); /* failed at once, nothing runs */
  assert_int_equal(hooks_configure(h, script, 1), 0);
  assert_int_equal(hooks_emit(h, HOOKS_PAUSE, NULL), 0);
  run_until_idle(l, h);
  char got[64];
  slurp(out, got, sizeof(got));
  assert_string_equal(got, "pause\n");
  hooks_free(h);
  loop_free(l);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_order_and_environment, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bound_and_timeout, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cannot_start, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
