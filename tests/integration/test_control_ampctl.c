/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ampctl run as a process against the control socket server of control_fixture.h (a
 * server on a loop in this process with a few test commands): its human and --json
 * output and its exit codes. usage: itest_control_ampctl AMPCTL
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "control/control.h"
#include "core/buf.h"
#include "core/loop.h"

#include "control_fixture.h"

extern char **environ;

static const char *ampctl_path;

/* ---- ampctl, a process against this server ---- */

struct child {
  pid_t pid;
  int out, err; /* read ends, -1 at EOF */
  struct loop_source *src_out, *src_err;
  struct buf o, e;
  bool (*on_out)(struct child *ch); /* after each read of stdout; true: SIGINT it */
  bool interrupted;
};

static void on_pipe(struct loop_source *s, int fd, uint32_t events, void *ud) {
  (void)events;
  struct child *ch = ud;
  bool is_out = fd == ch->out;
  struct buf *b = is_out ? &ch->o : &ch->e;
  assert_int_equal(buf_reserve(b, 4096), 0);
  ssize_t n = read(fd, b->data + b->len, 4096);
  if (n > 0) {
    buf_commit(b, (size_t)n);
    if (is_out && ch->on_out && !ch->interrupted && ch->on_out(ch)) {
      ch->interrupted = true;
      kill(ch->pid, SIGINT);
    }
    return;
  }
  if (n < 0 && errno == EAGAIN)
    return;
  loop_source_free(s);
  close(fd);
  if (is_out)
    ch->out = -1;
  else
    ch->err = -1;
}

static bool child_done(void *ud) {
  struct child *ch = ud;
  return ch->out < 0 && ch->err < 0;
}

/* posix_spawn's argv is not const-qualified; it does not write through it. */
static char *const *argv_of(const char **a) {
  union {
    const char **c;
    char *const *m;
  } u = {.c = a};
  return u.m;
}

/* Run ampctl -s sock ARGS... with this loop serving it; its exit status (128 + signal for
 * a signal) and its stdout and stderr in ch (buf_done both). */
static int run_ampctl(struct child *ch, const char *const *args) {
  const char *argv[32] = {ampctl_path, "-s", sock};
  size_t n = 3;
  for (; *args; args++)
    argv[n++] = *args;
  argv[n] = NULL;
  int po[2], pe[2];
  assert_int_equal(pipe2(po, O_CLOEXEC | O_NONBLOCK), 0);
  assert_int_equal(pipe2(pe, O_CLOEXEC | O_NONBLOCK), 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, po[1], 1);
  posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
  assert_int_equal(posix_spawn(&ch->pid, ampctl_path, &fa, NULL, argv_of(argv), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  close(po[1]);
  close(pe[1]);
  ch->out = po[0];
  ch->err = pe[0];
  buf_init(&ch->o, 1 << 20);
  buf_init(&ch->e, 1 << 20);
  assert_int_equal(loop_add_io(L, ch->out, EPOLLIN, on_pipe, ch, &ch->src_out), 0);
  assert_int_equal(loop_add_io(L, ch->err, EPOLLIN, on_pipe, ch, &ch->src_err), 0);
  run_until(child_done, ch);
  int status;
  assert_int_equal(waitpid(ch->pid, &status, 0), ch->pid);
  if (WIFSIGNALED(status))
    return 128 + WTERMSIG(status);
  assert_true(WIFEXITED(status));
  return WEXITSTATUS(status);
}

static void child_done_bufs(struct child *ch) {
  buf_done(&ch->o);
  buf_done(&ch->e);
}

#define AMPCTL(ch, ...) run_ampctl((ch), (const char *const[]){__VA_ARGS__, NULL})

static void test_ampctl_output(void **state) {
  (void)state;
  struct child ch = {0};
  assert_int_equal(AMPCTL(&ch, "status"), 0);
  assert_string_equal((char *)ch.o.data, "state:       playing\n"
                                         "position_ms: 83000\n"
                                         "volume:      40\n");
  assert_int_equal(ch.e.len, 0);
  child_done_bufs(&ch);

  memset(&ch, 0, sizeof(ch));
  assert_int_equal(AMPCTL(&ch, "--json", "status"), 0);
  cJSON *j = cJSON_Parse((char *)ch.o.data);
  assert_non_null(j);
  assert_int_equal(cJSON_GetObjectItemCaseSensitive(j, "id")->valueint, 1);
  assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "ok")));
  assert_string_equal(
      cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "result"), "state")
          ->valuestring,
      "playing");
  cJSON_Delete(j);
  assert_int_equal(count((char *)ch.o.data, "\n"), 1); /* one line */
  child_done_bufs(&ch);

  /* argv to request: the test commands echo their arguments. */
  static const struct {
    const char *cmd, *arg, *want;
  } t[] = {
      {"seek", "1:23", "{\"position_ms\":83000}"},
      {"seek", "1:02:03.5", "{\"position_ms\":3723500}"},
      {"seek", "+10", "{\"offset_ms\":10000}"},
      {"seek", "-0.25", "{\"offset_ms\":-250}"},
      {"volume", "40", "{\"volume\":40}"},
      {"volume", "-5", "{\"delta\":-5}"},
      {"repeat", "all", "{\"mode\":\"all\"}"},
      {"play", "amzn:track:B0XYZ", "{\"ref\":\"amzn:track:B0XYZ\"}"},
      {"browse", "home", "{\"ref\":\"home\"}"},
  };
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
    memset(&ch, 0, sizeof(ch));
    assert_int_equal(AMPCTL(&ch, "--json", t[i].cmd, t[i].arg), 0);
    j = cJSON_Parse((char *)ch.o.data);
    assert_non_null(j);
    char *r = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(j, "result"));
    assert_string_equal(r, t[i].want);
    cJSON_free(r);
    cJSON_Delete(j);
    child_done_bufs(&ch);
  }
  memset(&ch, 0, sizeof(ch));
  assert_int_equal(AMPCTL(&ch, "help"), 0);
  assert_non_null(strstr((char *)ch.o.data, "commands: array badcode browse echo"));
  child_done_bufs(&ch);
}

static void test_ampctl_exit_codes(void **state) {
  (void)state;
  struct child ch = {0};
  /* 1: the daemon's error, on stderr with its code */
  assert_int_equal(AMPCTL(&ch, "stop"), 1);
  assert_int_equal(ch.o.len, 0);
  assert_non_null(strstr((char *)ch.e.data, "not_playing: nothing is playing"));
  child_done_bufs(&ch);
  memset(&ch, 0, sizeof(ch));
  assert_int_equal(AMPCTL(&ch, "--json", "next"), 1); /* not registered here */
  assert_non_null(strstr((char *)ch.o.data, "\"code\":\"unknown_command\""));
  child_done_bufs(&ch);
  /* 2: usage, nothing sent */
  static const char *const bad[][3] = {{"bogus", NULL, NULL},     {"volume", "abc", NULL},
                                       {"volume", "101", NULL},   {"seek", "1:75", NULL},
                                       {"repeat", "twice", NULL}, {"play", NULL, NULL},
                                       {"pause", "x", NULL},      {"--nope", "status", NULL}};
  size_t before = control_clients(C);
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    memset(&ch, 0, sizeof(ch));
    assert_int_equal(run_ampctl(&ch, bad[i]), 2);
    assert_true(ch.e.len > 0);
    child_done_bufs(&ch);
  }
  assert_int_equal(control_clients(C), before);
  /* 3: cannot connect */
  memset(&ch, 0, sizeof(ch));
  char gone[PATH_MAX + 32];
  snprintf(gone, sizeof(gone), "%s/nothing", dir);
  assert_int_equal(AMPCTL(&ch, "-s", gone, "status"), 3); /* the last -s wins */
  assert_non_null(strstr((char *)ch.e.data, "cannot connect"));
  child_done_bufs(&ch);
}

static bool subscribed(void *ud) {
  (void)ud;
  return control_subscribers(C) == 1;
}

static size_t want_lines;
static bool enough_lines(struct child *ch) {
  return count((char *)ch->o.data, "\n") >= want_lines;
}

static void test_ampctl_subscribe(void **state) {
  (void)state;
  for (int json = 0; json < 2; json++) {
    struct child ch = {.on_out = enough_lines};
    /* Start it, publish once it is subscribed, stop it with SIGINT after the three events
     * (and, with --json, the reply line before them). */
    want_lines = json ? 4 : 3;
    const char *argv[32] = {ampctl_path, "-s", sock, "subscribe", NULL};
    if (json) {
      argv[3] = "--json";
      argv[4] = "subscribe";
    }
    int po[2], pe[2];
    assert_int_equal(pipe2(po, O_CLOEXEC | O_NONBLOCK), 0);
    assert_int_equal(pipe2(pe, O_CLOEXEC | O_NONBLOCK), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, po[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
    assert_int_equal(posix_spawn(&ch.pid, ampctl_path, &fa, NULL, argv_of(argv), environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(po[1]);
    close(pe[1]);
    ch.out = po[0];
    ch.err = pe[0];
    buf_init(&ch.o, 1 << 20);
    buf_init(&ch.e, 1 << 20);
    assert_int_equal(loop_add_io(L, ch.out, EPOLLIN, on_pipe, &ch, &ch.src_out), 0);
    assert_int_equal(loop_add_io(L, ch.err, EPOLLIN, on_pipe, &ch, &ch.src_err), 0);
    run_until(subscribed, NULL);
    for (int i = 0; i < 3; i++) {
      cJSON *ev = cJSON_CreateObject();
      cJSON_AddStringToObject(ev, "state", i == 1 ? "paused" : "playing");
      cJSON_AddNumberToObject(ev, "seq", i);
      assert_int_equal(control_publish(C, "player", ev), 0);
      cJSON_Delete(ev);
    }
    run_until(child_done, &ch);
    int status;
    assert_int_equal(waitpid(ch.pid, &status, 0), ch.pid);
    assert_true(ch.interrupted);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT);
    if (!json) {
      assert_string_equal((char *)ch.o.data, "player state=playing seq=0\n"
                                             "player state=paused seq=1\n"
                                             "player state=playing seq=2\n");
    } else {
      assert_string_equal((char *)ch.o.data,
                          "{\"id\":1,\"ok\":true,\"result\":{}}\n"
                          "{\"event\":\"player\",\"state\":\"playing\",\"seq\":0}\n"
                          "{\"event\":\"player\",\"state\":\"paused\",\"seq\":1}\n"
                          "{\"event\":\"player\",\"state\":\"playing\",\"seq\":2}\n");
    }
    child_done_bufs(&ch);
    wait_clients(0);
  }
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s AMPCTL\n", argv[0]);
    return 2;
  }
  ampctl_path = argv[1];
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_ampctl_output, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ampctl_exit_codes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ampctl_subscribe, setup, teardown),
  };
  int r = cmocka_run_group_tests(tests, NULL, NULL);
  return r;
}
