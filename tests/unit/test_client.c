/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libampd-client (include/ampd/client.h) against a fake server: a Unix socket this test
 * listens on and writes exactly the bytes each case needs. The library numbers requests
 * 1, 2, 3..., so most replies are written before the request is even sent and the test
 * stays single-threaded; only the oversized line needs a writer thread (the socket buffer
 * is smaller than the line).
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include <ampd/client.h>

static char dir[64], path[128];
static int lfd = -1, sfd = -1; /* listener, the accepted connection */

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof(dir), "/tmp/ampd-client-test-XXXXXX");
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof(path), "%s/control", dir);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  memcpy(sa.sun_path, path, strlen(path) + 1);
  lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(lfd >= 0);
  assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  assert_int_equal(listen(lfd, 4), 0);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  if (sfd >= 0)
    close(sfd);
  sfd = -1;
  close(lfd);
  unlink(path);
  rmdir(dir);
  return 0;
}

static struct ampd_client *connect_accept(void) {
  struct ampd_client *c = NULL;
  assert_int_equal(ampd_client_connect(path, &c), 0);
  assert_non_null(c);
  sfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
  assert_true(sfd >= 0);
  return c;
}

static void srv_write(const char *s) {
  size_t n = strlen(s);
  assert_int_equal(send(sfd, s, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* One request line the client sent (blocking), without '\n'. */
static void srv_line(char *out, size_t max) {
  size_t n = 0;
  for (;;) {
    char ch;
    assert_int_equal(recv(sfd, &ch, 1, 0), 1);
    if (ch == '\n')
      break;
    assert_true(n + 1 < max);
    out[n++] = ch;
  }
  out[n] = '\0';
}

/* Nothing more from the client. */
static void srv_nothing(void) {
  char ch;
  assert_int_equal(recv(sfd, &ch, 1, MSG_DONTWAIT), -1);
  assert_int_equal(errno, EAGAIN);
}

/* ---- events recorded by the callback ---- */

#define EV_MAX 256
static char events[EV_MAX][160];
static size_t n_events;

static void on_event(const struct ampd_msg *m, void *ud) {
  (void)ud;
  assert_true(n_events < EV_MAX);
  assert_null(ampd_msg_id(m) ? "an event with an id" : NULL);
  snprintf(events[n_events++], sizeof(events[0]), "%s %s", ampd_msg_event(m), ampd_msg_body(m));
}

static void test_connect_errors(void **state) {
  (void)state;
  struct ampd_client *c = NULL;
  char p[256];
  snprintf(p, sizeof(p), "%s/nothing", dir);
  assert_int_equal(ampd_client_connect(p, &c), -ENOENT);
  assert_null(c);
  memset(p, 'a', sizeof(p) - 1);
  p[sizeof(p) - 1] = '\0';
  assert_int_equal(ampd_client_connect(p, &c), -ENAMETOOLONG);
  assert_int_equal(ampd_client_connect("", &c), -EINVAL);
  /* A socket file nobody listens on (a daemon that died). */
  snprintf(p, sizeof(p), "%s/stale", dir);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  memcpy(sa.sun_path, p, strlen(p) + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  close(fd);
  assert_int_equal(ampd_client_connect(p, &c), -ECONNREFUSED);
  unlink(p);
  assert_null(c);
  assert_int_equal(ampd_client_abi_version(), AMPD_CLIENT_ABI_VERSION);
}

/* Three requests, their replies out of order with events between them: each reply
 * reaches the caller of its id, the others are kept, every event reaches the callback in
 * order. */
static void test_reply_matching_interleaved(void **state) {
  (void)state;
  struct ampd_client *c = connect_accept();
  n_events = 0;
  ampd_client_on_event(c, on_event, NULL);
  uint64_t id[3];
  assert_int_equal(ampd_client_request(c, "status", NULL, NULL, NULL, &id[0]), 0);
  assert_int_equal(ampd_client_request(c, "volume", "{\"volume\": 40}", NULL, NULL, &id[1]), 0);
  assert_int_equal(ampd_client_request(c, "repeat", "{\"mode\":\"all\"}", NULL, NULL, &id[2]), 0);
  assert_true(id[0] == 1 && id[1] == 2 && id[2] == 3);
  char line[512];
  srv_line(line, sizeof(line));
  assert_string_equal(line, "{\"id\":1,\"cmd\":\"status\"}");
  srv_line(line, sizeof(line));
  assert_string_equal(line, "{\"id\":2,\"cmd\":\"volume\",\"volume\":40}");
  srv_line(line, sizeof(line));
  assert_string_equal(line, "{\"id\":3,\"cmd\":\"repeat\",\"mode\":\"all\"}");
  srv_write("{\"event\":\"player\",\"seq\":0}\n"
            "{\"id\":3,\"ok\":true,\"result\":{\"mode\":\"all\"}}\n"
            "{\"event\":\"player\",\"seq\":1}\n"
            "{\"id\":1,\"ok\":true,\"result\":{\"state\":\"playing\",\"position_ms\":83000}}\n"
            "{\"event\":\"session\",\"link\":\"linked\"}\n"
            "{\"id\":2,\"ok\":false,\"error\":{\"code\":\"bad_args\",\"message\":\"no\"}}\n");
  struct ampd_msg *m = NULL;
  assert_int_equal(ampd_client_wait(c, 2, 5000, &m), 0);
  assert_int_equal(ampd_msg_id(m), 2);
  assert_int_equal(ampd_msg_ok(m), 0);
  assert_string_equal(ampd_msg_error_code(m), "bad_args");
  assert_string_equal(ampd_msg_error_message(m), "no");
  ampd_msg_free(m);
  /* The events came in the order sent, none lost. */
  assert_int_equal(n_events, 3);
  assert_string_equal(events[0], "player {\"seq\":0}");
  assert_string_equal(events[1], "player {\"seq\":1}");
  assert_string_equal(events[2], "session {\"link\":\"linked\"}");
  /* The replies to 1 and 3 arrived while 2 was waited for: kept for their callers. */
  assert_int_equal(ampd_client_take(c, 3, &m), 0);
  assert_string_equal(ampd_msg_body(m), "{\"mode\":\"all\"}");
  ampd_msg_free(m);
  assert_int_equal(ampd_client_take(c, 3, &m), -ENOENT); /* taken once */
  assert_int_equal(ampd_client_wait(c, 1, 0, &m), 0);    /* kept: no wait at all */
  const char *st;
  double pos;
  assert_int_equal(ampd_msg_string(m, "state", &st), 0);
  assert_string_equal(st, "playing");
  assert_int_equal(ampd_msg_number(m, "position_ms", &pos), 0);
  assert_true(pos == 83000);
  assert_int_equal(ampd_msg_number(m, "state", &pos), -EINVAL);
  assert_int_equal(ampd_msg_string(m, "title", &st), -ENOENT);
  assert_null(ampd_msg_event(m));
  ampd_msg_free(m);
  assert_int_equal(ampd_client_wait(c, 7, 0, &m), -ENOENT);
  ampd_client_close(c);
}

static int replies_seen;
static void on_reply(const struct ampd_msg *m, void *ud) {
  struct ampd_client *c = ud;
  replies_seen++;
  assert_int_equal(ampd_msg_id(m), 1);
  assert_int_equal(ampd_msg_ok(m), 1);
  /* A callback may send, but not block. */
  struct ampd_msg *x;
  assert_int_equal(ampd_client_call(c, "status", NULL, 0, &x), -EDEADLK);
  assert_int_equal(ampd_client_process(c), -EDEADLK);
  assert_int_equal(ampd_client_request(c, "next", NULL, NULL, NULL, NULL), 0);
}

static void test_reply_callback(void **state) {
  (void)state;
  struct ampd_client *c = connect_accept();
  replies_seen = 0;
  srv_write("{\"id\":1,\"ok\":true,\"result\":{}}\n");
  assert_int_equal(ampd_client_request(c, "toggle", NULL, on_reply, c, NULL), 0);
  struct ampd_msg *m;
  assert_int_equal(ampd_client_take(c, 1, &m), -ENOENT); /* its reply goes to on_reply */
  /* The caller's own loop: poll the fd, then process what is readable. */
  struct pollfd pfd = {.fd = ampd_client_fd(c), .events = POLLIN};
  assert_int_equal(poll(&pfd, 1, 5000), 1);
  assert_int_equal(ampd_client_process(c), 0);
  assert_int_equal(replies_seen, 1);
  assert_int_equal(ampd_client_process(c), 0); /* nothing more: never blocks */
  assert_int_equal(replies_seen, 1);
  char line[128];
  srv_line(line, sizeof(line));
  assert_string_equal(line, "{\"id\":1,\"cmd\":\"toggle\"}");
  srv_line(line, sizeof(line));
  assert_string_equal(line, "{\"id\":2,\"cmd\":\"next\"}"); /* sent from the callback */
  ampd_client_close(c);
}

static void test_bad_requests(void **state) {
  (void)state;
  struct ampd_client *c = connect_accept();
  static const char *const names[] = {"",    "Status", "9lives",
                                      "a-b", "x y",    "abcdefghijklmnopqrstuvwxyz123456"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    assert_int_equal(ampd_client_request(c, names[i], NULL, NULL, NULL, NULL), -EINVAL);
  assert_int_equal(ampd_client_request(c, NULL, NULL, NULL, NULL, NULL), -EINVAL);
  static const char *const args[] = {"[1]", "{", "{\"id\":2}", "{\"cmd\":\"x\"}", "1", "{} x"};
  for (size_t i = 0; i < sizeof(args) / sizeof(args[0]); i++)
    assert_int_equal(ampd_client_request(c, "status", args[i], NULL, NULL, NULL), -EINVAL);
  /* One request line at most AMPD_CLIENT_REQUEST_MAX bytes. */
  size_t big = AMPD_CLIENT_REQUEST_MAX;
  char *a = malloc(big + 16);
  assert_non_null(a);
  memcpy(a, "{\"ref\":\"", 8);
  memset(a + 8, 'r', big);
  memcpy(a + 8 + big, "\"}", 3);
  assert_int_equal(ampd_client_request(c, "play", a, NULL, NULL, NULL), -EMSGSIZE);
  free(a);
  srv_nothing(); /* none of it was sent */
  /* At most AMPD_CLIENT_PENDING_MAX pending; a taken reply frees its place. */
  for (int i = 0; i < AMPD_CLIENT_PENDING_MAX; i++)
    assert_int_equal(ampd_client_request(c, "status", NULL, NULL, NULL, NULL), 0);
  assert_int_equal(ampd_client_request(c, "status", NULL, NULL, NULL, NULL), -EBUSY);
  srv_write("{\"id\":5,\"ok\":true,\"result\":{}}\n");
  struct ampd_msg *m;
  assert_int_equal(ampd_client_wait(c, 5, 5000, &m), 0);
  ampd_msg_free(m);
  uint64_t id;
  assert_int_equal(ampd_client_request(c, "status", NULL, NULL, NULL, &id), 0);
  assert_int_equal(id, AMPD_CLIENT_PENDING_MAX + 1);
  /* Nothing comes: the wait ends, and the request is still pending. */
  assert_int_equal(ampd_client_wait(c, 1, 20, &m), -ETIMEDOUT);
  assert_int_equal(ampd_client_take(c, 1, &m), -EAGAIN);
  ampd_client_close(c);
}

struct writer {
  size_t len; /* the bytes to write */
  char *data;
};

static void *writer_main(void *ud) {
  struct writer *w = ud;
  size_t off = 0;
  while (off < w->len) {
    ssize_t n = send(sfd, w->data + off, w->len - off, MSG_NOSIGNAL);
    if (n <= 0)
      break; /* the client closed on the error */
    off += (size_t)n;
  }
  return NULL;
}

/* A line of exactly AMPD_CLIENT_LINE_MAX bytes is received; one byte more is -EMSGSIZE,
 * and the connection stays broken. */
static void test_oversized_line(void **state) {
  (void)state;
  struct ampd_client *c = connect_accept();
  size_t max = AMPD_CLIENT_LINE_MAX;
  struct writer w = {.len = 2 * max + 2};
  w.data = malloc(w.len);
  assert_non_null(w.data);
  static const char head[] = "{\"event\":\"big\",\"pad\":\"";
  memcpy(w.data, head, sizeof(head) - 1);
  memset(w.data + sizeof(head) - 1, 'p', max - (sizeof(head) - 1) - 2);
  memcpy(w.data + max - 2, "\"}\n", 3);   /* the line is max bytes, then its '\n' */
  memset(w.data + max + 1, 'x', max + 1); /* max + 1 bytes without '\n' */
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, writer_main, &w), 0);
  n_events = 0;
  ampd_client_on_event(c, on_event, NULL);
  int r;
  while ((r = ampd_client_dispatch(c, 10000)) == 0)
    ;
  assert_int_equal(r, -EMSGSIZE);
  assert_int_equal(n_events, 1);
  assert_int_equal(strncmp(events[0], "big {\"pad\":\"ppp", 15), 0);
  assert_int_equal(ampd_client_process(c), -EMSGSIZE);
  assert_int_equal(ampd_client_request(c, "status", NULL, NULL, NULL, NULL), -EMSGSIZE);
  ampd_client_close(c); /* the writer's send fails and it ends */
  pthread_join(t, NULL);
  free(w.data);
}

/* The daemon goes away: a reply that came before is still delivered; mid-line is -EPROTO,
 * at a line boundary -ECONNRESET. */
static void test_close_mid_line(void **state) {
  (void)state;
  for (int mid = 0; mid < 2; mid++) {
    struct ampd_client *c = connect_accept();
    assert_int_equal(ampd_client_request(c, "status", NULL, NULL, NULL, NULL), 0);
    assert_int_equal(ampd_client_request(c, "queue", NULL, NULL, NULL, NULL), 0);
    srv_write("{\"id\":1,\"ok\":true,\"result\":{\"state\":\"idle\"}}\n");
    if (mid)
      srv_write("{\"id\":2,\"ok\":tr");
    close(sfd);
    sfd = -1;
    struct ampd_msg *m;
    assert_int_equal(ampd_client_wait(c, 2, 5000, &m), mid ? -EPROTO : -ECONNRESET);
    assert_int_equal(ampd_client_wait(c, 1, 5000, &m), 0);
    assert_string_equal(ampd_msg_line(m), "{\"id\":1,\"ok\":true,\"result\":{\"state\":\"idle\"}}");
    ampd_msg_free(m);
    assert_int_equal(ampd_client_dispatch(c, 0), mid ? -EPROTO : -ECONNRESET);
    ampd_client_close(c);
  }
}

/* subscribe: the callback gets every event in the order sent, those that came in the same
 * read as the reply, and those that come later. */
static void test_subscribe_order(void **state) {
  (void)state;
  struct ampd_client *c = connect_accept();
  n_events = 0;
  char buf[200 * 40];
  size_t n = (size_t)snprintf(buf, sizeof(buf), "{\"id\":1,\"ok\":true,\"result\":{}}\n");
  for (int i = 0; i < 100; i++)
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "{\"event\":\"player\",\"seq\":%d}\n", i);
  srv_write(buf);
  assert_int_equal(ampd_client_subscribe(c, on_event, NULL, 5000), 0);
  char line[128];
  srv_line(line, sizeof(line));
  assert_string_equal(line, "{\"id\":1,\"cmd\":\"subscribe\"}");
  n = 0;
  for (int i = 100; i < 200; i++)
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "{\"event\":\"player\",\"seq\":%d}\n", i);
  srv_write(buf);
  while (n_events < 200)
    assert_int_equal(ampd_client_dispatch(c, 5000), 0);
  for (int i = 0; i < 200; i++) {
    char want[64];
    snprintf(want, sizeof(want), "player {\"seq\":%d}", i);
    assert_string_equal(events[i], want);
  }
  /* A refused subscribe is -EREMOTEIO and leaves no callback. */
  srv_write("{\"id\":2,\"ok\":false,\"error\":{\"code\":\"internal\",\"message\":\"\"}}\n");
  ampd_client_on_event(c, NULL, NULL);
  assert_int_equal(ampd_client_subscribe(c, on_event, NULL, 5000), -EREMOTEIO);
  srv_write("{\"event\":\"player\",\"seq\":200}\n");
  assert_int_equal(ampd_client_dispatch(c, 5000), 0);
  assert_int_equal(n_events, 200);
  ampd_client_close(c);
}

/* The daemon's own refusals of the connection and lines that are not the protocol. */
static void test_protocol_errors(void **state) {
  (void)state;
  static const struct {
    const char *line;
    int err;
  } t[] = {
      {"{\"id\":null,\"ok\":false,\"error\":{\"code\":\"busy\",\"message\":\"full\"}}\n", -EUSERS},
      {"{\"id\":null,\"ok\":false,\"error\":{\"code\":\"too_long\",\"message\":\"\"}}\n", -EPROTO},
      {"[1,2]\n", -EPROTO},
      {"{\"id\":1}\n", -EPROTO},                 /* no ok */
      {"{\"id\":\"a\",\"ok\":true}\n", -EPROTO}, /* a string id: not one of ours */
      {"{\"event\":3}\n", -EPROTO},
      {"{\"id\":1,\"ok\":true} {}\n", -EPROTO},
      {"not json\n", -EPROTO},
  };
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
    struct ampd_client *c = connect_accept();
    srv_write(t[i].line);
    struct ampd_msg *m;
    assert_int_equal(ampd_client_call(c, "status", NULL, 5000, &m), t[i].err);
    ampd_client_close(c);
    close(sfd);
    sfd = -1;
  }
  /* A NUL inside a line. */
  struct ampd_client *c = connect_accept();
  static const char nul[] = "{\"id\":1,\"ok\":true,\"result\":{\"a\":\"x\0y\"}}\n";
  assert_int_equal(send(sfd, nul, sizeof(nul) - 1, 0), (ssize_t)sizeof(nul) - 1);
  struct ampd_msg *m;
  assert_int_equal(ampd_client_call(c, "status", NULL, 5000, &m), -EPROTO);
  ampd_client_close(c);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_connect_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reply_matching_interleaved, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reply_callback, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
      cmocka_unit_test_setup_teardown(test_oversized_line, setup, teardown),
      cmocka_unit_test_setup_teardown(test_close_mid_line, setup, teardown),
      cmocka_unit_test_setup_teardown(test_subscribe_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_protocol_errors, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
