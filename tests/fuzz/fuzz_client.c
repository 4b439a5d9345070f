/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz libampd-client's reading side (include/ampd/client.h) with what a server sends: the
 * input is the byte stream of a connection, written by a fake server on a real Unix socket
 * in chunks of varying size while the client processes, then the server closes. Byte 0
 * selects how many requests (0..7) the client sent first and which of them have a reply
 * callback; the rest is the stream.
 *
 * Checked: every message delivered is whole (a line, a body that is a JSON object, an
 * event's topic, a reply's id one of the requests sent, each delivered once); the stream's
 * end is one of the documented connection errors; a kept reply is taken at most once; no
 * leak, no overflow (ASan) and no undefined behaviour (UBSan) on any input.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include <ampd/client.h>

#include "fuzz.h"

#define FUZZ_REQUESTS_MAX 7

static int listener = -1;
static char sock_path[108];
static unsigned delivered[FUZZ_REQUESTS_MAX + 1]; /* replies per id through callbacks */

static void setup_once(void) {
  if (listener >= 0)
    return;
  char dir[] = "/tmp/ampd-fuzz-client-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  snprintf(sock_path, sizeof(sock_path), "%s/control", dir);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
  listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(listener >= 0);
  CHECK(bind(listener, (struct sockaddr *)&sa, sizeof(sa)) == 0);
  CHECK(listen(listener, 4) == 0);
}

static void check_msg(const struct ampd_msg *m, unsigned nreq) {
  CHECK(ampd_msg_line(m) != NULL && ampd_msg_body(m) != NULL);
  cJSON *body = cJSON_Parse(ampd_msg_body(m));
  CHECK(cJSON_IsObject(body));
  cJSON_Delete(body);
  const char *s;
  double d;
  int r = ampd_msg_string(m, "state", &s);
  CHECK(r == 0 || r == -ENOENT || r == -EINVAL);
  r = ampd_msg_number(m, "position_ms", &d);
  CHECK(r == 0 || r == -ENOENT || r == -EINVAL);
  if (ampd_msg_event(m)) {
    CHECK(ampd_msg_id(m) == 0 && ampd_msg_ok(m) == 1);
  } else {
    CHECK(ampd_msg_id(m) >= 1 && ampd_msg_id(m) <= nreq);
    CHECK(ampd_msg_ok(m) ? ampd_msg_error_code(m) == NULL : ampd_msg_error_code(m) != NULL);
  }
}

static unsigned nreq_now;

static void on_event(const struct ampd_msg *m, void *ud) {
  (void)ud;
  CHECK(ampd_msg_event(m) != NULL);
  check_msg(m, nreq_now);
}

static void on_reply(const struct ampd_msg *m, void *ud) {
  uintptr_t id = (uintptr_t)ud;
  CHECK(ampd_msg_event(m) == NULL && ampd_msg_id(m) == id);
  check_msg(m, nreq_now);
  delivered[id]++;
  CHECK(delivered[id] == 1);
}

/* Read and drop what the client sent (its requests). */
static void drain(int s) {
  char junk[4096];
  while (recv(s, junk, sizeof(junk), MSG_DONTWAIT) > 0)
    ;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  setup_once();
  unsigned nreq = data[0] & 7, with_cb = data[0] >> 3;
  data++;
  size--;
  nreq_now = nreq;
  memset(delivered, 0, sizeof(delivered));
  struct ampd_client *c = NULL;
  CHECK(ampd_client_connect(sock_path, &c) == 0);
  int s = accept4(listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  CHECK(s >= 0);
  ampd_client_on_event(c, on_event, NULL);
  for (unsigned i = 1; i <= nreq; i++) {
    bool cb = with_cb & (1u << (i - 1));
    uint64_t id;
    CHECK(ampd_client_request(c, "status", NULL, cb ? on_reply : NULL, (void *)(uintptr_t)i, &id) ==
          0);
    CHECK(id == i);
  }
  /* The stream in chunks of 1..4096 bytes (the sizes from the data itself), the client
   * processing after each. */
  size_t off = 0;
  int r = 0;
  while (off < size && r == 0) {
    drain(s);
    size_t chunk = 1 + (data[off] * 16u + off) % 4096;
    if (chunk > size - off)
      chunk = size - off;
    ssize_t w = send(s, data + off, chunk, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0)
      off += (size_t)w;
    else
      CHECK(errno == EAGAIN || errno == EPIPE || errno == ECONNRESET);
    struct pollfd pfd = {.fd = ampd_client_fd(c), .events = POLLIN};
    if (w <= 0)
      CHECK(poll(&pfd, 1, 1000) >= 0);
    r = ampd_client_process(c);
  }
  drain(s);
  close(s);
  /* The end of the stream: a connection error, always, and the same one again. */
  while (r == 0) {
    struct pollfd pfd = {.fd = ampd_client_fd(c), .events = POLLIN};
    CHECK(poll(&pfd, 1, 1000) == 1);
    r = ampd_client_process(c);
  }
  CHECK(r == -ECONNRESET || r == -EPROTO || r == -EMSGSIZE || r == -EUSERS);
  CHECK(ampd_client_process(c) == r);
  for (unsigned i = 1; i <= nreq; i++) {
    struct ampd_msg *m = NULL;
    int t = ampd_client_take(c, i, &m);
    bool cb = with_cb & (1u << (i - 1));
    CHECK(cb ? t == -ENOENT || t == -EAGAIN : t == 0 || t == -EAGAIN);
    if (cb)
      CHECK(delivered[i] <= 1);
    if (t == 0) {
      check_msg(m, nreq);
      CHECK(ampd_msg_id(m) == i);
      ampd_msg_free(m);
      CHECK(ampd_client_take(c, i, &m) == -ENOENT);
    }
  }
  ampd_client_close(c);
  return 0;
}
