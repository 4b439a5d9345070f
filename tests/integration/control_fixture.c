/* SPDX-License-Identifier: Apache-2.0 */
/* The control socket test fixture (control_fixture.h). */
#include "control_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "mockproc.h"

#define WAIT_USEC (20 * 1000000ull) /* a bound on every wait; a hang fails, never passes */

struct loop *L;
struct control *C;
char dir[PATH_MAX], sock[PATH_MAX + 16];
static char logpath[PATH_MAX + 16];
static int logfd = -1;

/* ---- test commands ---- */

void cmd_echo(struct control_req *req, const cJSON *args, void *ud) {
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

int later_rc = 1;
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
size_t nheld;
static void cmd_hold(struct control_req *req, const cJSON *args, void *ud) {
  (void)args;
  (void)ud;
  assert_true(nheld < HELD_MAX);
  held[nheld++] = req;
}

void release_held(int want) {
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

int setup(void **state) {
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

int teardown(void **state) {
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

char *read_log(void) {
  FILE *f = fopen(logpath, "re");
  assert_non_null(f);
  static char text[1 << 20];
  size_t n = fread(text, 1, sizeof(text) - 1, f);
  text[n] = '\0';
  fclose(f);
  return text;
}

size_t count(const char *hay, const char *needle) {
  size_t n = 0;
  for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
    n++;
  return n;
}

/* ---- a client: a non-blocking socket pumped together with the loop ---- */

void cli_open(struct cli *c) {
  c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  assert_true(c->fd >= 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  memcpy(sa.sun_path, sock, strlen(sock) + 1);
  assert_int_equal(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  buf_init(&c->in, 64 << 20);
  c->lines = 0;
  c->eof = false;
}

void cli_close(struct cli *c) {
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
  buf_done(&c->in);
}

/* Read what is there; true when something came. */
bool cli_poll(struct cli *c) {
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
void cli_send(struct cli *c, const void *p, size_t n) {
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

void cli_sendstr(struct cli *c, const char *s) {
  cli_send(c, s, strlen(s));
}

/* The next line, malloc'd (NULL at EOF). */
char *cli_line(struct cli *c) {
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

cJSON *cli_reply(struct cli *c) {
  char *line = cli_line(c);
  assert_non_null(line);
  cJSON *j = cJSON_Parse(line);
  free(line);
  assert_true(cJSON_IsObject(j));
  return j;
}

/* The next reply must be an ok for id; returns it (its "result" holds the result). */
cJSON *expect_ok(struct cli *c, double id) {
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
void expect_error(struct cli *c, const char *id_json, const char *code) {
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

void run_until(bool (*done)(void *), void *ud) {
  uint64_t end = clock_mono_usec() + WAIT_USEC;
  while (!done(ud)) {
    assert_true(clock_mono_usec() < end);
    assert_true(loop_run_once(L, 10) >= 0);
  }
}

static bool clients_are(void *ud) {
  return control_clients(C) == *(size_t *)ud;
}

void wait_clients(size_t n) {
  run_until(clients_are, &n);
}
