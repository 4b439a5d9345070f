/* SPDX-License-Identifier: Apache-2.0 */
/*
 * control (src/control/control.h, docs/protocol.md) over a real Unix socket: a server on
 * a loop in this process with a few test commands (one answering later from a timer) and
 * clients that are plain sockets driven by the same thread (so a server that blocked on a
 * client would hang the test, never pass it); the fixture is control_fixture.h. ampctl as
 * a process against the same server is test_control_ampctl.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control/control.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/fds.h"
#include "core/loop.h"

#include "control_fixture.h"

static struct fd_list inherited; /* open before main: not this test's to check */

/* ---- the protocol ---- */

static void test_framing_ids(void **state) {
  (void)state;
  struct cli c;
  cli_open(&c);
  cli_sendstr(&c, "{\"id\":7,\"cmd\":\"echo\",\"x\":[1,2]}\n");
  cJSON *j = expect_ok(&c, 7);
  const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "result");
  assert_non_null(cJSON_GetObjectItemCaseSensitive(r, "x"));
  assert_null(cJSON_GetObjectItemCaseSensitive(r, "id")); /* args are the rest */
  assert_null(cJSON_GetObjectItemCaseSensitive(r, "cmd"));
  cJSON_Delete(j);
  /* A string id comes back as the same string; a CRLF line and a blank line. */
  cli_sendstr(
      &c, "\n  \r\n{\"cmd\":\"echo\",\"id\":\"a-1\\u00e9\"}\r\n{\"id\":-2.5,\"cmd\":\"echo\"}\n");
  j = cli_reply(&c);
  assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "id")->valuestring, "a-1\xc3\xa9");
  cJSON_Delete(j);
  cJSON_Delete(expect_ok(&c, -2.5));
  /* version and help */
  cli_sendstr(&c, "{\"id\":1,\"cmd\":\"version\"}\n{\"id\":2,\"cmd\":\"help\"}\n");
  j = expect_ok(&c, 1);
  r = cJSON_GetObjectItemCaseSensitive(j, "result");
  assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(r, "version")));
  assert_int_equal(cJSON_GetObjectItemCaseSensitive(r, "protocol")->valueint, 1);
  cJSON_Delete(j);
  j = expect_ok(&c, 2);
  char *cmds = cJSON_PrintUnformatted(
      cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "result"), "commands"));
  assert_string_equal(
      cmds, "[\"array\",\"badcode\",\"browse\",\"echo\",\"fail\",\"help\",\"hold\",\"huge\","
            "\"later\",\"play\",\"repeat\",\"seek\",\"status\",\"stop\","
            "\"subscribe\",\"typed\",\"unsubscribe\",\"version\",\"volume\","
            "\"whoami\"]");
  cJSON_free(cmds);
  cJSON_Delete(j);
  cli_close(&c);
}

static void test_error_codes(void **state) {
  (void)state;
  struct cli c;
  cli_open(&c);
  static const struct {
    const char *line, *id, *code;
  } t[] = {
      {"{nope\n", "null", "bad_json"},
      {"{\"id\":1,\"cmd\":\"echo\"} x\n", "null", "bad_json"},
      {"{\"id\":1,\"cmd\":\"echo\",\"s\":\"a\\u0000b\"}\n", "null", "bad_json"},
      {"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]"
       "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
       "null", "bad_json"},
      {"[1]\n", "null", "bad_request"},
      {"{\"cmd\":\"echo\"}\n", "null", "bad_request"},
      {"{\"id\":{},\"cmd\":\"echo\"}\n", "null", "bad_request"},
      {"{\"id\":null,\"cmd\":\"echo\"}\n", "null", "bad_request"},
      {"{\"id\":2}\n", "2", "bad_request"},
      {"{\"id\":3,\"cmd\":5}\n", "3", "bad_request"},
      {"{\"id\":4,\"cmd\":\"echo\",\"cmd\":\"echo\"}\n", "4", "bad_request"},
      {"{\"id\":5,\"cmd\":\"nope\"}\n", "5", "unknown_command"},
      {"{\"id\":6,\"cmd\":\"Echo\"}\n", "6", "unknown_command"},
      {"{\"id\":7,\"cmd\":\"typed\",\"n\":\"x\"}\n", "7", "bad_args"},
      {"{\"id\":8,\"cmd\":\"version\",\"x\":1}\n", "8", "bad_args"},
      {"{\"id\":9,\"cmd\":\"fail\"}\n", "9", "not_found"},
      {"{\"id\":10,\"cmd\":\"badcode\"}\n", "10", "internal"},
      {"{\"id\":11,\"cmd\":\"array\"}\n", "11", "internal"},
      {"{\"id\":12,\"cmd\":\"huge\"}\n", "12", "too_big"},
  };
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
    cli_sendstr(&c, t[i].line);
    expect_error(&c, t[i].id, t[i].code);
  }
  /* A string id at the bound is echoed; one byte over is refused. */
  char line[CONTROL_ID_MAX + 64], id[CONTROL_ID_MAX + 2];
  memset(id, 'i', sizeof(id) - 1);
  id[CONTROL_ID_MAX + 1] = '\0';
  snprintf(line, sizeof(line), "{\"id\":\"%s\",\"cmd\":\"echo\"}\n", id);
  cli_sendstr(&c, line);
  expect_error(&c, "null", "bad_request");
  id[CONTROL_ID_MAX] = '\0';
  snprintf(line, sizeof(line), "{\"id\":\"%s\",\"cmd\":\"echo\"}\n", id);
  cli_sendstr(&c, line);
  cJSON *j = cli_reply(&c);
  assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "id")->valuestring, id);
  cJSON_Delete(j);
  /* busy: CONTROL_INFLIGHT_MAX held, one more refused at once, the others still served */
  for (int i = 0; i < CONTROL_INFLIGHT_MAX; i++) {
    snprintf(line, sizeof(line), "{\"id\":%d,\"cmd\":\"hold\"}\n", 100 + i);
    cli_sendstr(&c, line);
  }
  cli_sendstr(&c, "{\"id\":99,\"cmd\":\"hold\"}\n");
  expect_error(&c, "99", "busy");
  assert_int_equal(nheld, CONTROL_INFLIGHT_MAX);
  release_held(0);
  for (int i = 0; i < CONTROL_INFLIGHT_MAX; i++)
    cJSON_Delete(expect_ok(&c, 100 + i));
  cli_close(&c);
}

static void test_add_command(void **state) {
  (void)state;
  assert_int_equal(control_add_command(C, "echo", cmd_echo, NULL), -EEXIST);
  assert_int_equal(control_add_command(C, "subscribe", cmd_echo, NULL), -EEXIST);
  assert_int_equal(control_add_command(C, "Echo2", cmd_echo, NULL), -EINVAL);
  assert_int_equal(control_add_command(C, "", cmd_echo, NULL), -EINVAL);
  assert_int_equal(control_add_command(C, "a_32_byte_name_is_one_over_bound", cmd_echo, NULL),
                   -EINVAL);
  assert_int_equal(control_add_command(C, "a_31_byte_name_is_at_the_bound", cmd_echo, NULL), 0);
  assert_int_equal(control_add_command(C, "x", NULL, NULL), -EINVAL);
  /* 4 built-ins, 16 tests, 1 above: fill up to CONTROL_COMMANDS_MAX, then one more. */
  int n = 4 + 16 + 1, r = 0;
  char name[16];
  for (; n < CONTROL_COMMANDS_MAX; n++) {
    snprintf(name, sizeof(name), "c%d", n);
    r = control_add_command(C, name, cmd_echo, NULL);
    assert_int_equal(r, 0);
  }
  assert_int_equal(control_add_command(C, "one_more", cmd_echo, NULL), -AMP_ETOOBIG);
  struct cli c;
  cli_open(&c);
  snprintf(name, sizeof(name), "c%d", CONTROL_COMMANDS_MAX - 1);
  char line[64];
  snprintf(line, sizeof(line), "{\"id\":1,\"cmd\":\"%s\"}\n", name);
  cli_sendstr(&c, line);
  cJSON_Delete(expect_ok(&c, 1));
  cli_sendstr(&c, "{\"id\":2,\"cmd\":\"one_more\"}\n");
  expect_error(&c, "2", "unknown_command");
  cli_close(&c);
}

/* Out of fds at accept: the listener pauses (the loop does not spin on the queued
 * connection) and resumes a second later, by the loop's clock. */
static void test_accept_emfile(void **state) {
  (void)state;
  struct cli a;
  cli_open(&a);
  cli_sendstr(&a, "{\"id\":1,\"cmd\":\"version\"}\n");
  cJSON_Delete(expect_ok(&a, 1));
  struct rlimit old, tight;
  assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
  struct cli b;
  cli_open(&b); /* queued: not accepted yet */
  /* No fd left above the highest open one. */
  int probe = open("/dev/null", O_RDONLY | O_CLOEXEC);
  assert_true(probe >= 0);
  close(probe);
  tight = old;
  tight.rlim_cur = (rlim_t)probe;
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &tight), 0);
  int first = loop_run_once(L, 100); /* accept fails: EMFILE */
  int later = 0;
  for (int i = 0; i < 3; i++)
    later += loop_run_once(L, 0); /* paused: nothing runs */
  /* The limit goes back before any assertion, so that a failure here stays here. */
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
  assert_int_equal(first, 1);
  assert_int_equal(later, 0);
  assert_int_equal(control_clients(C), 1);
  assert_non_null(strstr(read_log(), "not accepting for a second"));
  assert_int_equal(clock_advance(1000000, 0), 0);
  wait_clients(2);
  cli_sendstr(&b, "{\"id\":2,\"cmd\":\"version\"}\n");
  cJSON_Delete(expect_ok(&b, 2));
  cli_close(&a);
  cli_close(&b);
}

static bool later_done(void *ud) {
  (void)ud;
  return later_rc != 1;
}

static bool held_one(void *ud) {
  (void)ud;
  return nheld == 1;
}

/* A request answered later: from a timer, after other replies; and after its client left
 * (the reply is dropped: -ENOTCONN, nothing freed twice, nothing leaked). */
static void test_deferred_reply(void **state) {
  (void)state;
  struct cli c;
  cli_open(&c);
  later_rc = 1;
  cli_sendstr(&c, "{\"id\":1,\"cmd\":\"later\"}\n{\"id\":2,\"cmd\":\"echo\"}\n");
  cJSON_Delete(expect_ok(&c, 2));
  cJSON *j = expect_ok(&c, 1);
  assert_true(cJSON_IsTrue(
      cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "result"), "later")));
  cJSON_Delete(j);
  assert_int_equal(later_rc, 0);

  cli_sendstr(&c, "{\"id\":3,\"cmd\":\"hold\"}\n");
  run_until(held_one, NULL);
  cli_close(&c);
  wait_clients(0);
  release_held(-ENOTCONN);

  /* The same from the timer: the client is gone before it fires. */
  cli_open(&c);
  later_rc = 1;
  cli_sendstr(&c, "{\"id\":4,\"cmd\":\"later\"}\n");
  cli_close(&c);
  wait_clients(0);
  run_until(later_done, NULL);
  assert_int_equal(later_rc, -ENOTCONN);
}

/* A request line of exactly n bytes (without '\n'), padded in a string member. */
static char *line_of(size_t n, int id) {
  char head[64];
  int h = snprintf(head, sizeof(head), "{\"id\":%d,\"cmd\":\"echo\",\"pad\":\"", id);
  assert_true((size_t)h + 2 <= n);
  char *s = malloc(n + 2);
  assert_non_null(s);
  memcpy(s, head, (size_t)h);
  memset(s + h, 'p', n - (size_t)h - 2);
  memcpy(s + n - 2, "\"}\n", 4);
  return s;
}

static void test_oversized_line(void **state) {
  (void)state;
  struct cli c;
  cli_open(&c);
  /* At the bound: served. */
  char *s = line_of(CONTROL_LINE_MAX, 1);
  cli_sendstr(&c, s);
  free(s);
  cJSON_Delete(expect_ok(&c, 1));
  /* One over, in one write with the next request behind it: one error, then the next. */
  s = line_of(CONTROL_LINE_MAX + 1, 2);
  cli_sendstr(&c, s);
  free(s);
  cli_sendstr(&c, "{\"id\":3,\"cmd\":\"echo\"}\n");
  expect_error(&c, "null", "too_long");
  cJSON_Delete(expect_ok(&c, 3));
  /* Far over, in pieces with the loop running between them: still one error, and the
   * request after its '\n' is served on the same connection. */
  static char junk[40000];
  memset(junk, 'j', sizeof(junk));
  for (int i = 0; i < 8; i++) {
    cli_send(&c, junk, sizeof(junk));
    for (int k = 0; k < 3; k++)
      assert_true(loop_run_once(L, 0) >= 0);
  }
  cli_sendstr(&c, "junk\n{\"id\":4,\"cmd\":\"echo\"}\n");
  expect_error(&c, "null", "too_long");
  cJSON_Delete(expect_ok(&c, 4)); /* not another too_long first */
  assert_int_equal(control_clients(C), 1);
  cli_close(&c);
}

static void test_partial_lines(void **state) {
  (void)state;
  struct cli c;
  cli_open(&c);
  const char *req = "{\"id\":5,\"cmd\":\"echo\",\"k\":\"v\"}\n{\"id\":6,\"cmd\":\"echo\"}\n";
  for (size_t i = 0; req[i]; i++) {
    cli_send(&c, req + i, 1);
    for (int k = 0; k < 2; k++)
      assert_true(loop_run_once(L, 0) >= 0);
  }
  cJSON *j = expect_ok(&c, 5);
  assert_string_equal(
      cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "result"), "k")
          ->valuestring,
      "v");
  cJSON_Delete(j);
  cJSON_Delete(expect_ok(&c, 6));
  /* A line without its '\n' before EOF is no request: the connection just closes. */
  cli_sendstr(&c, "{\"id\":7,\"cmd\":\"echo\"}");
  shutdown(c.fd, SHUT_WR);
  char *line = cli_line(&c);
  assert_null(line);
  cli_close(&c);
  wait_clients(0);
}

/* Half-closed after pipelining: every reply still arrives, then EOF. */
static void test_pipelined(void **state) {
  (void)state;
  enum { N = 3000 };
  struct buf all = BUF_INIT(1 << 20);
  for (int i = 0; i < N; i++)
    assert_int_equal(buf_printf(&all, "{\"id\":%d,\"cmd\":\"%s\"}\n", i, i % 3 ? "echo" : "help"),
                     0);
  struct cli c;
  cli_open(&c);
  cli_send(&c, all.data, all.len);
  shutdown(c.fd, SHUT_WR);
  for (int i = 0; i < N; i++)
    cJSON_Delete(expect_ok(&c, i));
  assert_null(cli_line(&c));
  buf_done(&all);
  cli_close(&c);
  wait_clients(0);
}

/* Publish n events {"seq": first..} of pad bytes each, pumping the loop and the readers. */
static void publish_range(int first, int n, size_t pad, struct cli *readers, size_t nreaders) {
  char *p = malloc(pad + 1);
  assert_non_null(p);
  memset(p, 'e', pad);
  p[pad] = '\0';
  for (int i = first; i < first + n; i++) {
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddNumberToObject(ev, "seq", i);
    if (pad)
      cJSON_AddStringToObject(ev, "pad", p);
    cJSON_AddStringToObject(ev, "event", "spoof"); /* the topic wins */
    assert_int_equal(control_publish(C, "player", ev), 0);
    cJSON_Delete(ev);
    if (i % 64 == 0) {
      assert_true(loop_run_once(L, 0) >= 0);
      for (size_t r = 0; r < nreaders; r++)
        cli_poll(&readers[r]);
    }
  }
  free(p);
}

static void expect_events(struct cli *c, int first, int n) {
  for (int i = first; i < first + n; i++) {
    cJSON *j = cli_reply(c);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "event")->valuestring, "player");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(j, "seq")->valueint, i);
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "id"));
    cJSON_Delete(j);
  }
}

static void test_subscribe_10000(void **state) {
  (void)state;
  struct cli c;
  cli_open(&c);
  assert_int_equal(control_publish(C, "player", NULL), 0); /* nobody: nothing */
  cli_sendstr(&c, "{\"id\":1,\"cmd\":\"subscribe\"}\n");
  cJSON_Delete(expect_ok(&c, 1));
  assert_int_equal(control_subscribers(C), 1);
  publish_range(0, 10000, 0, &c, 1);
  expect_events(&c, 0, 10000);
  cli_sendstr(&c, "{\"id\":2,\"cmd\":\"unsubscribe\"}\n");
  cJSON_Delete(expect_ok(&c, 2));
  assert_int_equal(control_subscribers(C), 0);
  publish_range(10000, 1, 0, &c, 1);
  cli_sendstr(&c, "{\"id\":3,\"cmd\":\"echo\"}\n");
  cJSON_Delete(expect_ok(&c, 3)); /* no event in between */
  assert_int_equal(control_publish(C, "Bad Topic", NULL), -EINVAL);
  cli_close(&c);
}

/* A subscriber that never reads is dropped (one log line) once its output passes
 * CONTROL_OUT_MAX; another subscriber gets every event in order meanwhile, and requests
 * of a third are served. The loop never waits: this one thread runs all three. */
static void test_slow_client_dropped(void **state) {
  (void)state;
  struct cli slow, fast[2];
  cli_open(&slow);
  cli_open(&fast[0]);
  cli_open(&fast[1]);
  cli_sendstr(&slow, "{\"id\":1,\"cmd\":\"subscribe\"}\n");
  cli_sendstr(&fast[0], "{\"id\":1,\"cmd\":\"subscribe\"}\n");
  cJSON_Delete(expect_ok(&fast[0], 1));
  while (control_subscribers(C) < 2)
    assert_true(loop_run_once(L, 10) >= 0);
  int sent = 0;
  while (control_subscribers(C) == 2) {
    assert_true(sent < 20000); /* 20 MiB: far past the bound and any socket buffer */
    publish_range(sent, 16, 1024, fast, 1);
    sent += 16;
  }
  assert_true((size_t)sent * 1024 > CONTROL_OUT_MAX);
  cli_sendstr(&fast[1], "{\"id\":9,\"cmd\":\"echo\"}\n");
  cJSON_Delete(expect_ok(&fast[1], 9));
  expect_events(&fast[0], 0, sent);
  wait_clients(2);
  /* The slow one gets what was in its socket buffer, then EOF. */
  size_t got = 0;
  for (char *l; (l = cli_line(&slow));)
    free(l);
  got = slow.lines;
  assert_true(got > 0 && got < (size_t)sent);
  assert_true(slow.eof);
  const char *log = read_log();
  assert_int_equal(count(log, "dropped"), 1);
  for (int i = 0; i < 2; i++)
    cli_close(&fast[i]);
  cli_close(&slow);
}

static void test_client_limit(void **state) {
  (void)state;
  static struct cli c[CONTROL_CLIENTS_MAX + 1];
  for (int i = 0; i < CONTROL_CLIENTS_MAX; i++) {
    cli_open(&c[i]);
    cli_sendstr(&c[i], "{\"id\":1,\"cmd\":\"version\"}\n");
    cJSON_Delete(expect_ok(&c[i], 1));
  }
  assert_int_equal(control_clients(C), CONTROL_CLIENTS_MAX);
  cli_open(&c[CONTROL_CLIENTS_MAX]);
  expect_error(&c[CONTROL_CLIENTS_MAX], "null", "busy");
  assert_null(cli_line(&c[CONTROL_CLIENTS_MAX]));
  cli_close(&c[CONTROL_CLIENTS_MAX]);
  cli_close(&c[0]);
  wait_clients(CONTROL_CLIENTS_MAX - 1);
  cli_open(&c[0]);
  cli_sendstr(&c[0], "{\"id\":2,\"cmd\":\"version\"}\n");
  cJSON_Delete(expect_ok(&c[0], 2));
  for (int i = 0; i < CONTROL_CLIENTS_MAX; i++)
    cli_close(&c[i]);
}

static void test_socket_file(void **state) {
  (void)state;
  struct stat st;
  char path[PATH_MAX + 32];
  snprintf(path, sizeof(path), "%s/second", dir);
  /* The mode comes from control, not from this process's umask. */
  mode_t old = umask(0);
  struct control *c2;
  assert_int_equal(control_new(L, path, &c2), 0);
  assert_int_equal(umask(old), 0); /* and the umask is put back */
  assert_int_equal(lstat(path, &st), 0);
  assert_true(S_ISSOCK(st.st_mode));
  assert_int_equal(st.st_mode & 07777, 0660);
  /* A live server is not replaced. */
  struct control *c3 = NULL;
  assert_int_equal(control_new(L, path, &c3), -EADDRINUSE);
  assert_null(c3);
  control_free(c2);
  assert_int_equal(lstat(path, &st), -1); /* unlinked */

  /* A stale socket (bound, never unlinked) is replaced. */
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  memcpy(sa.sun_path, path, strlen(path) + 1);
  assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
  close(s);
  assert_int_equal(lstat(path, &st), 0);
  int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_int_equal(connect(probe, (struct sockaddr *)&sa, sizeof(sa)), -1);
  assert_int_equal(errno, ECONNREFUSED); /* stale indeed */
  close(probe);
  assert_int_equal(control_new(L, path, &c2), 0);
  assert_int_equal(lstat(path, &st), 0);
  assert_true(S_ISSOCK(st.st_mode));
  assert_int_equal(st.st_mode & 07777, 0660);
  probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_int_equal(connect(probe, (struct sockaddr *)&sa, sizeof(sa)), 0); /* live now */
  close(probe);
  assert_non_null(strstr(read_log(), "replacing the stale socket"));
  control_free(c2);

  /* Anything else is left alone. */
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "keep", 4), 4);
  close(fd);
  assert_int_equal(control_new(L, path, &c2), -EEXIST);
  assert_int_equal(lstat(path, &st), 0);
  assert_true(S_ISREG(st.st_mode));
  assert_int_equal(st.st_size, 4);
  unlink(path);
  char longp[200];
  memset(longp, 'x', sizeof(longp) - 1);
  longp[sizeof(longp) - 1] = '\0';
  assert_int_equal(control_new(L, longp, &c2), -ENAMETOOLONG);
}

/* A group other than the process's own that it may give a file: any as root (CI), else
 * one of its supplementary groups. */
static bool other_group(char *name, size_t n, gid_t *gid) {
  gid_t groups[256];
  int ng = getgroups(256, groups);
  bool found = false;
  setgrent();
  for (struct group *g; !found && (g = getgrent()) != NULL;) {
    if (g->gr_gid == getegid())
      continue;
    bool ok = geteuid() == 0;
    for (int i = 0; !ok && i < ng; i++)
      ok = groups[i] == g->gr_gid;
    if (ok && strlen(g->gr_name) < n) {
      memcpy(name, g->gr_name, strlen(g->gr_name) + 1);
      *gid = g->gr_gid;
      found = true;
    }
  }
  endgrent();
  return found;
}

/* [paths] control_group: the socket appears at its path already in that group (0660), by
 * name or number; an unknown group is refused and leaves nothing behind. */
static void test_socket_group(void **state) {
  (void)state;
  struct stat st;
  char path[PATH_MAX + 32];
  snprintf(path, sizeof(path), "%s/grouped", dir);
  char name[64];
  gid_t gid = 0;
  assert_true(other_group(name, sizeof(name), &gid)); /* no such group: this test fails */
  struct control *c2 = NULL;
  assert_int_equal(control_new_group(L, path, name, &c2), 0);
  assert_int_equal(lstat(path, &st), 0);
  assert_true(S_ISSOCK(st.st_mode));
  assert_int_equal(st.st_gid, gid);
  assert_int_equal(st.st_mode & 07777, 0660);
  control_free(c2);
  char num[32];
  snprintf(num, sizeof(num), "%u", (unsigned)gid);
  if (!getgrnam(num)) { /* a number that names no group is the gid */
    assert_int_equal(control_new_group(L, path, num, &c2), 0);
    assert_int_equal(lstat(path, &st), 0);
    assert_int_equal(st.st_gid, gid);
    control_free(c2);
  }
  /* NULL or "": the process's own group. */
  assert_int_equal(control_new_group(L, path, "", &c2), 0);
  assert_int_equal(lstat(path, &st), 0);
  assert_int_equal(st.st_gid, getegid());
  control_free(c2);
  c2 = NULL;
  assert_int_equal(control_new_group(L, path, "ampd-no-such-group", &c2), -ENOENT);
  assert_null(c2);
  assert_int_equal(lstat(path, &st), -1);
  DIR *dp = opendir(dir); /* no temporary name left either */
  assert_non_null(dp);
  for (struct dirent *e; (e = readdir(dp)) != NULL;)
    assert_null(strstr(e->d_name, "grouped"));
  closedir(dp);
}

static void test_peer_credentials(void **state) {
  (void)state;
  struct cli c;
  cli_open(&c);
  cli_sendstr(&c, "{\"id\":1,\"cmd\":\"whoami\"}\n");
  cJSON *j = expect_ok(&c, 1);
  const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "result");
  assert_int_equal(cJSON_GetObjectItemCaseSensitive(r, "pid")->valueint, getpid());
  assert_int_equal(cJSON_GetObjectItemCaseSensitive(r, "uid")->valueint, getuid());
  cJSON_Delete(j);
  char want[64];
  snprintf(want, sizeof(want), "connected: pid %d uid %u", (int)getpid(), (unsigned)getuid());
  assert_non_null(strstr(read_log(), want));
  cli_close(&c);
}

/* Every fd of this process (the listener, the accepted connections, ours) is close-on-exec,
 * and the request's contents (a reference may be a signed URL) are not in the log at info. */
static void test_cloexec_and_log(void **state) {
  (void)state;
  struct cli c;
  cli_open(&c);
  cli_sendstr(&c, "{\"id\":1,\"cmd\":\"play\",\"ref\":\"https://x.example/a?sig=SECRETSIG\"}\n"
                  "{\"id\":2,\"cmd\":\"nope\",\"ref\":\"SECRETSIG\"}\n{SECRETSIG\n");
  cJSON_Delete(expect_ok(&c, 1));
  expect_error(&c, "2", "unknown_command");
  expect_error(&c, "null", "bad_json");
  DIR *d = opendir("/proc/self/fd");
  assert_non_null(d);
  int checked = 0;
  for (struct dirent *e; (e = readdir(d));) {
    int fd = (int)strtol(e->d_name, NULL, 10);
    bool old = false;
    for (size_t i = 0; i < inherited.n; i++)
      old = old || inherited.fd[i] == fd;
    if (e->d_name[0] == '.' || fd <= 2 || fd == dirfd(d) || old)
      continue;
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0 || !(fl & FD_CLOEXEC)) {
      char link[64], target[PATH_MAX];
      snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
      ssize_t n = readlink(link, target, sizeof(target) - 1);
      target[n > 0 ? n : 0] = '\0';
      fail_msg("fd %d (%s) is not close-on-exec", fd, target);
    }
    checked++;
  }
  closedir(d);
  assert_true(checked >= 3); /* the listener, the connection both ways */
  assert_null(strstr(read_log(), "SECRETSIG"));
  cli_close(&c);
}

int main(void) {
  if (fd_list_read(&inherited) < 0 || !inherited.complete) {
    fprintf(stderr, "cannot list the fds in /proc/self/fd\n");
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_framing_ids, setup, teardown),
      cmocka_unit_test_setup_teardown(test_error_codes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_deferred_reply, setup, teardown),
      cmocka_unit_test_setup_teardown(test_add_command, setup, teardown),
      cmocka_unit_test_setup_teardown(test_accept_emfile, setup, teardown),
      cmocka_unit_test_setup_teardown(test_oversized_line, setup, teardown),
      cmocka_unit_test_setup_teardown(test_partial_lines, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pipelined, setup, teardown),
      cmocka_unit_test_setup_teardown(test_subscribe_10000, setup, teardown),
      cmocka_unit_test_setup_teardown(test_slow_client_dropped, setup, teardown),
      cmocka_unit_test_setup_teardown(test_client_limit, setup, teardown),
      cmocka_unit_test_setup_teardown(test_socket_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_socket_group, setup, teardown),
      cmocka_unit_test_setup_teardown(test_peer_credentials, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cloexec_and_log, setup, teardown),
  };
  int r = cmocka_run_group_tests(tests, NULL, NULL);
  fd_list_done(&inherited);
  return r;
}
