/* SPDX-License-Identifier: Apache-2.0 */
/*
 * control (src/control/control.h, docs/protocol.md) over a real Unix socket: a server on
 * a loop in this process with a few test commands (one answering later from a timer),
 * clients that are plain sockets driven by the same thread (so a server that blocked on a
 * client would hang the test, never pass it), and then ampctl run as a process against
 * the same server: its human and --json output and its exit codes.
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
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "control/control.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/clock.h"
#include "core/fds.h"
#include "core/log.h"
#include "core/loop.h"
#include "mockproc.h"

extern char **environ;

#define WAIT_USEC (20 * 1000000ull) /* a bound on every wait; a hang fails, never passes */

static const char *ampctl_path;
static struct loop *L;
static struct control *C;
static char dir[PATH_MAX], sock[PATH_MAX + 16], logpath[PATH_MAX + 16];
static int logfd = -1;
static struct fd_list inherited; /* open before main: not this test's to check */

/* ---- test commands ---- */

static void cmd_echo(struct control_req *req, const cJSON *args, void *ud) {
  (void)ud;
  assert_int_equal(control_reply(req, cJSON_Duplicate(args, 1)), 0);
}

struct later {
  struct control_req *req;
  struct loop_source *t;
  int *rc;
};

static void on_later(struct loop_source *s, uint64_t now, void *ud) {
  (void)now;
  struct later *x = ud;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddTrueToObject(o, "later");
  int r = control_reply(x->req, o);
  if (x->rc)
    *x->rc = r;
  loop_source_free(s);
  free(x);
}

static int later_rc = 1;
static void cmd_later(struct control_req *req, const cJSON *args, void *ud) {
  (void)args;
  (void)ud;
  struct later *x = calloc(1, sizeof(*x));
  assert_non_null(x);
  x->req = req;
  x->rc = &later_rc;
  assert_int_equal(loop_add_timer(L, loop_now(L) + 20000, on_later, x, &x->t), 0);
}

static void cmd_typed(struct control_req *req, const cJSON *args, void *ud) {
  (void)ud;
  const cJSON *n = cJSON_GetObjectItemCaseSensitive(args, "n");
  if (!cJSON_IsNumber(n)) {
    assert_int_equal(control_reply_error(req, "bad_args", "n: a number"), 0);
    return;
  }
  assert_int_equal(control_reply(req, NULL), 0);
}

static void cmd_whoami(struct control_req *req, const cJSON *args, void *ud) {
  (void)args;
  (void)ud;
  pid_t pid;
  uid_t uid;
  assert_int_equal(control_req_peer(req, &pid, &uid), 0);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "pid", pid);
  cJSON_AddNumberToObject(o, "uid", uid);
  assert_int_equal(control_reply(req, o), 0);
}

static void cmd_fail(struct control_req *req, const cJSON *args, void *ud) {
  (void)args;
  (void)ud;
  assert_int_equal(control_reply_error(req, "not_found", "nothing here"), 0);
}

static void cmd_badcode(struct control_req *req, const cJSON *args, void *ud) {
  (void)args;
  (void)ud;
  assert_int_equal(control_reply_error(req, "Not A Code", "x"), -EINVAL);
}

static void cmd_array(struct control_req *req, const cJSON *args, void *ud) {
  (void)args;
  (void)ud;
  assert_int_equal(control_reply(req, cJSON_CreateArray()), -EINVAL);
}

#define HELD_MAX 64
static struct control_req *held[HELD_MAX];
static size_t nheld;
static void cmd_hold(struct control_req *req, const cJSON *args, void *ud) {
  (void)args;
  (void)ud;
  assert_true(nheld < HELD_MAX);
  held[nheld++] = req;
}

static void release_held(int want) {
  for (size_t i = 0; i < nheld; i++)
    assert_int_equal(control_reply(held[i], NULL), want);
  nheld = 0;
}

static void cmd_status(struct control_req *req, const cJSON *args, void *ud) {
  (void)args;
  (void)ud;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "state", "playing");
  cJSON_AddNumberToObject(o, "position_ms", 83000);
  cJSON_AddNumberToObject(o, "volume", 40);
  assert_int_equal(control_reply(req, o), 0);
}

static void cmd_stop(struct control_req *req, const cJSON *args, void *ud) {
  (void)args;
  (void)ud;
  assert_int_equal(control_reply_error(req, "not_playing", "nothing is playing"), 0);
}

/* A result of 2 MiB: over CONTROL_OUT_MAX on its own. */
static void cmd_huge(struct control_req *req, const cJSON *args, void *ud) {
  (void)args;
  (void)ud;
  char *big = malloc(2 << 20);
  assert_non_null(big);
  memset(big, 'h', (2 << 20) - 1);
  big[(2 << 20) - 1] = '\0';
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "big", big);
  free(big);
  assert_int_equal(control_reply(req, o), 0);
}

static void add_commands(struct control *c) {
  static const struct {
    const char *name;
    control_cmd_fn fn;
  } t[] = {{"echo", cmd_echo},     {"later", cmd_later}, {"typed", cmd_typed},
           {"whoami", cmd_whoami}, {"fail", cmd_fail},   {"badcode", cmd_badcode},
           {"array", cmd_array},   {"hold", cmd_hold},   {"status", cmd_status},
           {"stop", cmd_stop},     {"seek", cmd_echo},   {"volume", cmd_echo},
           {"play", cmd_echo},     {"repeat", cmd_echo}, {"browse", cmd_echo},
           {"huge", cmd_huge}};
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
    assert_int_equal(control_add_command(c, t[i].name, t[i].fn, NULL), 0);
}

/* ---- fixture ---- */

static int setup(void **state) {
  (void)state;
  assert_int_equal(mockproc_tmpdir("control", dir, sizeof(dir)), 0);
  snprintf(sock, sizeof(sock), "%s/control", dir);
  snprintf(logpath, sizeof(logpath), "%s/log", dir);
  logfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  assert_true(logfd >= 0);
  log_set_fd(logfd);
  assert_int_equal(log_set_levels("info"), 0);
  assert_int_equal(loop_new(&L), 0);
  assert_int_equal(control_new(L, sock, &C), 0);
  add_commands(C);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  control_free(C);
  C = NULL;
  loop_free(L);
  L = NULL;
  log_set_fd(2);
  close(logfd);
  mockproc_rmtree(dir);
  return 0;
}

static char *read_log(void) {
  FILE *f = fopen(logpath, "re");
  assert_non_null(f);
  static char text[1 << 20];
  size_t n = fread(text, 1, sizeof(text) - 1, f);
  text[n] = '\0';
  fclose(f);
  return text;
}

static size_t count(const char *hay, const char *needle) {
  size_t n = 0;
  for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
    n++;
  return n;
}

/* ---- a client: a non-blocking socket pumped together with the loop ---- */

struct cli {
  int fd;
  struct buf in; /* received, not yet taken */
  size_t lines;  /* lines taken */
  bool eof;
};

static void cli_open(struct cli *c) {
  c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  assert_true(c->fd >= 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  memcpy(sa.sun_path, sock, strlen(sock) + 1);
  assert_int_equal(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  buf_init(&c->in, 64 << 20);
  c->lines = 0;
  c->eof = false;
}

static void cli_close(struct cli *c) {
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
  buf_done(&c->in);
}

/* Read what is there; true when something came. */
static bool cli_poll(struct cli *c) {
  bool got = false;
  for (;;) {
    assert_int_equal(buf_reserve(&c->in, 65536), 0);
    ssize_t n = recv(c->fd, c->in.data + c->in.len, 65536, 0);
    if (n > 0) {
      buf_commit(&c->in, (size_t)n);
      got = true;
      continue;
    }
    if (n == 0 || (n < 0 && errno == ECONNRESET))
      c->eof = true;
    else
      assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
    return got;
  }
}

/* Write all of p while running the loop (the server reads as we write). */
static void cli_send(struct cli *c, const void *p, size_t n) {
  const char *s = p;
  uint64_t end = clock_mono_usec() + WAIT_USEC;
  while (n) {
    ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);
    if (w > 0) {
      s += w;
      n -= (size_t)w;
      continue;
    }
    assert_true(w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
    assert_true(clock_mono_usec() < end);
    assert_true(loop_run_once(L, 10) >= 0);
    cli_poll(c);
  }
}

static void cli_sendstr(struct cli *c, const char *s) {
  cli_send(c, s, strlen(s));
}

/* The next line, malloc'd (NULL at EOF). */
static char *cli_line(struct cli *c) {
  uint64_t end = clock_mono_usec() + WAIT_USEC;
  for (;;) {
    char *nl = c->in.len ? memchr(c->in.data, '\n', c->in.len) : NULL;
    if (nl) {
      size_t len = (size_t)(nl - (char *)c->in.data);
      char *line = strndup((char *)c->in.data, len);
      assert_non_null(line);
      buf_consume(&c->in, len + 1);
      c->lines++;
      return line;
    }
    if (c->eof)
      return NULL;
    assert_true(clock_mono_usec() < end);
    if (!cli_poll(c))
      assert_true(loop_run_once(L, 10) >= 0);
  }
}

static cJSON *cli_reply(struct cli *c) {
  char *line = cli_line(c);
  assert_non_null(line);
  cJSON *j = cJSON_Parse(line);
  free(line);
  assert_true(cJSON_IsObject(j));
  return j;
}

/* The next reply must be an ok for id; returns it (its "result" holds the result). */
static cJSON *expect_ok(struct cli *c, double id) {
  cJSON *j = cli_reply(c);
  const cJSON *jid = cJSON_GetObjectItemCaseSensitive(j, "id");
  assert_true(cJSON_IsNumber(jid));
  assert_true(jid->valuedouble == id);
  assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "ok")));
  assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "result")));
  assert_null(cJSON_GetObjectItemCaseSensitive(j, "error"));
  return j;
}

/* The next reply must be the error code; id_json is the id as JSON text ("null", "3"). */
static void expect_error(struct cli *c, const char *id_json, const char *code) {
  cJSON *j = cli_reply(c);
  char *id = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(j, "id"));
  assert_non_null(id);
  assert_string_equal(id, id_json);
  cJSON_free(id);
  assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "ok")));
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
  assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "code")));
  assert_string_equal(cJSON_GetObjectItemCaseSensitive(e, "code")->valuestring, code);
  assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "message")));
  assert_null(cJSON_GetObjectItemCaseSensitive(j, "result"));
  cJSON_Delete(j);
}

static void run_until(bool (*done)(void *), void *ud) {
  uint64_t end = clock_mono_usec() + WAIT_USEC;
  while (!done(ud)) {
    assert_true(clock_mono_usec() < end);
    assert_true(loop_run_once(L, 10) >= 0);
  }
}

static bool clients_are(void *ud) {
  return control_clients(C) == *(size_t *)ud;
}

static void wait_clients(size_t n) {
  run_until(clients_are, &n);
}

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
      cmocka_unit_test_setup_teardown(test_ampctl_output, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ampctl_exit_codes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ampctl_subscribe, setup, teardown),
  };
  int r = cmocka_run_group_tests(tests, NULL, NULL);
  fd_list_done(&inherited);
  return r;
}
