/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libampd-client (include/ampd/client.h): the control socket's client. The contract is
 * in the header; the reasons are here. Built with -fvisibility=hidden and a version
 * script (client.map): only the AMPD_CLIENT_API functions are exported, so cJSON and
 * core/clock, compiled in, are invisible to programs that link it.
 */
#include <ampd/client.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/clock.h"

#ifndef AMPD_VERSION_STRING
#define AMPD_VERSION_STRING "0"
#endif

/* The receive buffer starts small and doubles up to one whole line and its '\n'. */
#define CLIENT_BUF_START 4096
#define CLIENT_BUF_MAX ((size_t)AMPD_CLIENT_LINE_MAX + 1)
/* Ids are JSON numbers: exact up to 2^53. A connection never gets near it. */
#define CLIENT_ID_MAX 9007199254740992.0

struct ampd_msg {
  char *line;
  char *body;
  cJSON *tree;
  const cJSON *bodyobj;
  const char *event, *code, *message;
  uint64_t id;
  int ok;
};

enum slot_state { SLOT_FREE, SLOT_WAITING, SLOT_KEPT };

struct slot {
  enum slot_state state;
  uint64_t id;
  ampd_reply_fn fn; /* NULL: kept for take/wait */
  void *userdata;
  struct ampd_msg *msg; /* SLOT_KEPT */
};

struct ampd_client {
  int fd;
  int err; /* sticky: the connection's error, once broken */
  uint64_t next_id;
  struct slot slots[AMPD_CLIENT_PENDING_MAX];
  ampd_event_fn on_event;
  void *event_userdata;
  char *in;
  size_t len, cap; /* cap <= CLIENT_BUF_MAX */
  int in_callback;
};

unsigned ampd_client_abi_version(void) {
  return AMPD_CLIENT_ABI_VERSION;
}

const char *ampd_client_version(void) {
  return AMPD_VERSION_STRING;
}

/* ---- messages ---- */

void ampd_msg_free(struct ampd_msg *m) {
  if (!m)
    return;
  free(m->line);
  cJSON_free(m->body);
  cJSON_Delete(m->tree);
  free(m);
}

const char *ampd_msg_line(const struct ampd_msg *m) {
  return m->line;
}
const char *ampd_msg_event(const struct ampd_msg *m) {
  return m->event;
}
uint64_t ampd_msg_id(const struct ampd_msg *m) {
  return m->id;
}
int ampd_msg_ok(const struct ampd_msg *m) {
  return m->ok;
}
const char *ampd_msg_error_code(const struct ampd_msg *m) {
  return m->code;
}
const char *ampd_msg_error_message(const struct ampd_msg *m) {
  return m->message;
}
const char *ampd_msg_body(const struct ampd_msg *m) {
  return m->body;
}

static const cJSON *msg_member(const struct ampd_msg *m, const char *key) {
  if (!m->bodyobj || !key)
    return NULL;
  for (const cJSON *e = m->bodyobj->child; e; e = e->next)
    if (e->string && strcmp(e->string, key) == 0)
      return e;
  return NULL;
}

int ampd_msg_string(const struct ampd_msg *m, const char *key, const char **ret) {
  if (m->event && key && strcmp(key, "event") == 0)
    return -ENOENT; /* the topic is not a member of the body */
  const cJSON *v = msg_member(m, key);
  if (!v)
    return -ENOENT;
  if (!cJSON_IsString(v))
    return -EINVAL;
  *ret = v->valuestring;
  return 0;
}

int ampd_msg_number(const struct ampd_msg *m, const char *key, double *ret) {
  if (m->event && key && strcmp(key, "event") == 0)
    return -ENOENT;
  const cJSON *v = msg_member(m, key);
  if (!v)
    return -ENOENT;
  if (!cJSON_IsNumber(v))
    return -EINVAL;
  *ret = v->valuedouble;
  return 0;
}

static const char *str_member(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsString(v) ? v->valuestring : "";
}

/*
 * The message for one line (len bytes, no '\n'): *ret_msg, or NULL with *ret_null_code
 * set for a reply with id null (an error for no request). -EPROTO for anything that is
 * not a reply or an event, -ENOMEM.
 */
static int msg_parse(const char *line, size_t len, struct ampd_msg **ret_msg,
                     const char **ret_null_code, cJSON **ret_null_tree) {
  if (memchr(line, '\0', len))
    return -EPROTO; /* cJSON would stop at it and read a shorter line */
  struct ampd_msg *m = calloc(1, sizeof(*m));
  if (!m)
    return -ENOMEM;
  int r = -ENOMEM;
  m->line = malloc(len + 1);
  if (!m->line)
    goto fail;
  memcpy(m->line, line, len);
  m->line[len] = '\0';
  const char *end = NULL;
  m->tree = cJSON_ParseWithLengthOpts(m->line, len, &end, false);
  r = -EPROTO;
  if (!cJSON_IsObject(m->tree) || !end)
    goto fail;
  for (; end < m->line + len; end++)
    if (*end != ' ' && *end != '\t' && *end != '\r')
      goto fail; /* bytes after the value */
  const cJSON *ev = cJSON_GetObjectItemCaseSensitive(m->tree, "event");
  if (ev) {
    if (!cJSON_IsString(ev))
      goto fail;
    m->event = ev->valuestring;
    m->ok = 1;
    /* The body is the event's members without "event": a copy to print from. */
    cJSON *copy = cJSON_Duplicate(m->tree, true);
    r = -ENOMEM;
    if (!copy)
      goto fail;
    cJSON_DeleteItemFromObjectCaseSensitive(copy, "event");
    m->body = cJSON_PrintUnformatted(copy);
    cJSON_Delete(copy);
    if (!m->body)
      goto fail;
    m->bodyobj = m->tree;
    *ret_msg = m;
    return 0;
  }
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(m->tree, "id");
  const cJSON *ok = cJSON_GetObjectItemCaseSensitive(m->tree, "ok");
  if (!cJSON_IsBool(ok))
    goto fail;
  m->ok = cJSON_IsTrue(ok);
  const cJSON *body = cJSON_GetObjectItemCaseSensitive(m->tree, m->ok ? "result" : "error");
  if (body && !cJSON_IsObject(body))
    goto fail;
  if (!m->ok) {
    m->code = str_member(body, "code");
    m->message = str_member(body, "message");
  }
  if (cJSON_IsNull(id)) {
    *ret_null_code = m->code ? m->code : "";
    *ret_null_tree = m->tree; /* the code points into it */
    m->tree = NULL;
    ampd_msg_free(m);
    *ret_msg = NULL;
    return 0;
  }
  /* We send numbers 1..2^53 only. */
  if (!cJSON_IsNumber(id) || id->valuedouble < 1 || id->valuedouble > CLIENT_ID_MAX ||
      id->valuedouble != floor(id->valuedouble))
    goto fail;
  m->id = (uint64_t)id->valuedouble;
  m->bodyobj = body;
  r = -ENOMEM;
  m->body = body ? cJSON_PrintUnformatted(body) : NULL;
  if (!m->body) {
    m->body = cJSON_malloc(3);
    if (!m->body)
      goto fail;
    memcpy(m->body, "{}", 3);
  }
  *ret_msg = m;
  return 0;
fail:
  ampd_msg_free(m);
  return r;
}

/* ---- the connection ---- */

int ampd_client_connect(const char *path, struct ampd_client **ret) {
  if (!ret)
    return -EINVAL;
  if (!path)
    path = AMPD_CLIENT_DEFAULT_SOCKET;
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  size_t plen = strlen(path);
  if (plen == 0)
    return -EINVAL;
  if (plen >= sizeof(sa.sun_path))
    return -ENAMETOOLONG;
  memcpy(sa.sun_path, path, plen + 1);
  struct ampd_client *c = calloc(1, sizeof(*c));
  if (!c)
    return -ENOMEM;
  c->next_id = 1;
  int r;
  c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c->fd < 0) {
    r = -errno;
    goto fail_free;
  }
  /* A blocking connect: on a Unix socket it does not wait for the server to accept, only
   * for room in its backlog. Then non-blocking, for process() and the send timeout. */
  if (connect(c->fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0 ||
      fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) < 0) {
    r = -errno;
    goto fail_close;
  }
  *ret = c;
  return 0;
fail_close:
  close(c->fd);
fail_free:
  free(c);
  return r;
}

void ampd_client_close(struct ampd_client *c) {
  if (!c)
    return;
  for (size_t i = 0; i < AMPD_CLIENT_PENDING_MAX; i++)
    ampd_msg_free(c->slots[i].msg);
  free(c->in);
  close(c->fd);
  free(c);
}

int ampd_client_fd(const struct ampd_client *c) {
  return c->fd;
}

void ampd_client_on_event(struct ampd_client *c, ampd_event_fn fn, void *userdata) {
  c->on_event = fn;
  c->event_userdata = userdata;
}

static int broken(struct ampd_client *c, int err) {
  if (!c->err)
    c->err = err;
  return c->err;
}

static struct slot *slot_find(struct ampd_client *c, uint64_t id) {
  for (size_t i = 0; i < AMPD_CLIENT_PENDING_MAX; i++)
    if (c->slots[i].state != SLOT_FREE && c->slots[i].id == id)
      return &c->slots[i];
  return NULL;
}

static bool cmd_name_ok(const char *s) {
  size_t n = s ? strlen(s) : 0;
  if (n < 1 || n > 31 || s[0] < 'a' || s[0] > 'z')
    return false;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
      return false;
  return true;
}

/* Write all of p, waiting for room at most AMPD_CLIENT_SEND_TIMEOUT_MS. A failure after
 * part of a line went out leaves the stream unusable, so every failure breaks it. */
static int send_all(struct ampd_client *c, const char *p, size_t n) {
  uint64_t deadline = clock_mono_msec() + AMPD_CLIENT_SEND_TIMEOUT_MS;
  while (n) {
    ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) {
      p += w;
      n -= (size_t)w;
      continue;
    }
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      uint64_t now = clock_mono_msec();
      if (now >= deadline)
        return broken(c, -ETIMEDOUT);
      struct pollfd pfd = {.fd = c->fd, .events = POLLOUT};
      if (poll(&pfd, 1, (int)(deadline - now)) < 0 && errno != EINTR)
        return broken(c, -errno);
      continue;
    }
    return broken(c, errno == ECONNRESET || errno == EPIPE ? -EPIPE : -errno);
  }
  return 0;
}

/* The request line for cmd and args (with its '\n'), in *ret (cJSON_free) of *ret_len. */
static int build_request(uint64_t id, const char *cmd, const char *args, char **ret,
                         size_t *ret_len) {
  cJSON *req = cJSON_CreateObject(), *a = NULL;
  int r = -ENOMEM;
  if (!req || !cJSON_AddNumberToObject(req, "id", (double)id) ||
      !cJSON_AddStringToObject(req, "cmd", cmd))
    goto out;
  if (args) {
    const char *end = NULL;
    a = cJSON_ParseWithOpts(args, &end, true); /* nothing after the object */
    r = -EINVAL;
    if (!cJSON_IsObject(a))
      goto out;
    while (a->child) {
      cJSON *item = cJSON_DetachItemViaPointer(a, a->child);
      if (!item->string || strcmp(item->string, "id") == 0 || strcmp(item->string, "cmd") == 0) {
        cJSON_Delete(item);
        goto out;
      }
      /* The key moves with the item: cJSON_AddItemToObject would copy it first. */
      char *key = item->string;
      item->string = NULL;
      bool added = cJSON_AddItemToObject(req, key, item);
      cJSON_free(key);
      if (!added) {
        cJSON_Delete(item);
        r = -ENOMEM;
        goto out;
      }
    }
  }
  r = -ENOMEM;
  char *text = cJSON_PrintUnformatted(req);
  if (!text)
    goto out;
  size_t n = strlen(text);
  if (n > AMPD_CLIENT_REQUEST_MAX) {
    cJSON_free(text);
    r = -EMSGSIZE;
    goto out;
  }
  text[n] = '\n'; /* over the NUL: the line is sent by length */
  *ret = text;
  *ret_len = n + 1;
  r = 0;
out:
  cJSON_Delete(a);
  cJSON_Delete(req);
  return r;
}

int ampd_client_request(struct ampd_client *c, const char *cmd, const char *args, ampd_reply_fn fn,
                        void *userdata, uint64_t *ret_id) {
  if (!cmd_name_ok(cmd))
    return -EINVAL;
  if (c->err)
    return c->err;
  struct slot *s = NULL;
  for (size_t i = 0; i < AMPD_CLIENT_PENDING_MAX && !s; i++)
    if (c->slots[i].state == SLOT_FREE)
      s = &c->slots[i];
  if (!s)
    return -EBUSY;
  char *text;
  size_t len;
  uint64_t id = c->next_id;
  int r = build_request(id, cmd, args, &text, &len);
  if (r < 0)
    return r;
  r = send_all(c, text, len);
  cJSON_free(text);
  if (r < 0)
    return r;
  c->next_id++;
  *s = (struct slot){.state = SLOT_WAITING, .id = id, .fn = fn, .userdata = userdata};
  if (ret_id)
    *ret_id = id;
  return 0;
}

/* One line: to its slot, to its callback, or to the event callback. */
static int deliver(struct ampd_client *c, const char *line, size_t len) {
  struct ampd_msg *m = NULL;
  const char *null_code = NULL;
  cJSON *null_tree = NULL;
  int r = msg_parse(line, len, &m, &null_code, &null_tree);
  if (r < 0)
    return r;
  if (!m) {
    /* An error for no request: the daemon is full (it closes next), or it did not read
     * a line of ours as a request, which this library never sends. */
    r = strcmp(null_code, "busy") == 0 ? -EUSERS : -EPROTO;
    cJSON_Delete(null_tree);
    return r;
  }
  if (m->event) {
    if (c->on_event) {
      c->in_callback++;
      c->on_event(m, c->event_userdata);
      c->in_callback--;
    }
    ampd_msg_free(m);
    return 0;
  }
  struct slot *s = slot_find(c, m->id);
  if (!s || s->state != SLOT_WAITING) {
    ampd_msg_free(m); /* not a request of ours, or answered twice: not for anyone */
    return 0;
  }
  if (!s->fn) {
    s->state = SLOT_KEPT;
    s->msg = m;
    return 0;
  }
  /* The slot is free before the callback runs: it may send the next request. */
  ampd_reply_fn fn = s->fn;
  void *ud = s->userdata;
  *s = (struct slot){0};
  c->in_callback++;
  fn(m, ud);
  c->in_callback--;
  ampd_msg_free(m);
  return 0;
}

/* Every complete line in the buffer, then the partial rest moved to its start. */
static int deliver_lines(struct ampd_client *c) {
  size_t start = 0;
  int r = 0;
  while (start < c->len) {
    char *nl = memchr(c->in + start, '\n', c->len - start);
    if (!nl)
      break;
    size_t n = (size_t)(nl - (c->in + start));
    size_t next = start + n + 1;
    if (n && c->in[start + n - 1] == '\r')
      n--;
    if (n)
      r = deliver(c, c->in + start, n);
    start = next;
    if (r < 0)
      break;
  }
  if (start) {
    memmove(c->in, c->in + start, c->len - start);
    c->len -= start;
  }
  return r;
}

int ampd_client_process(struct ampd_client *c) {
  if (c->in_callback)
    return -EDEADLK;
  if (c->err)
    return c->err;
  for (;;) {
    if (c->len == c->cap) {
      if (c->cap >= CLIENT_BUF_MAX)
        return broken(c, -EMSGSIZE); /* a whole buffer and no '\n' in it */
      size_t ncap = c->cap ? c->cap * 2 : CLIENT_BUF_START;
      if (ncap > CLIENT_BUF_MAX)
        ncap = CLIENT_BUF_MAX;
      char *p = realloc(c->in, ncap);
      if (!p)
        return -ENOMEM;
      c->in = p;
      c->cap = ncap;
    }
    ssize_t n = recv(c->fd, c->in + c->len, c->cap - c->len, MSG_DONTWAIT);
    if (n > 0) {
      c->len += (size_t)n;
      int r = deliver_lines(c);
      if (r < 0)
        return broken(c, r);
      if (c->err)
        return c->err; /* a callback's request broke the connection */
      continue;
    }
    /* A peer that closes with our requests unread makes Linux report ECONNRESET rather
     * than end of file: the same end of the connection. */
    if (n == 0 || errno == ECONNRESET || errno == EPIPE)
      return broken(c, c->len ? -EPROTO : -ECONNRESET);
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return 0;
    return broken(c, -errno);
  }
}

int ampd_client_take(struct ampd_client *c, uint64_t id, struct ampd_msg **ret) {
  struct slot *s = slot_find(c, id);
  if (!s || s->fn)
    return -ENOENT;
  if (s->state != SLOT_KEPT)
    return -EAGAIN;
  *ret = s->msg;
  *s = (struct slot){0};
  return 0;
}

/* Wait for input until deadline (UINT64_MAX: forever), then process it. */
static int wait_input(struct ampd_client *c, uint64_t deadline) {
  int timeout = -1;
  if (deadline != UINT64_MAX) {
    uint64_t now = clock_mono_msec();
    if (now >= deadline)
      return -ETIMEDOUT;
    timeout = deadline - now > 0x7fffffff ? 0x7fffffff : (int)(deadline - now);
  }
  struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
  int n = poll(&pfd, 1, timeout);
  if (n < 0)
    return -errno; /* -EINTR: the caller's signal */
  if (n == 0)
    return -ETIMEDOUT;
  return ampd_client_process(c);
}

static uint64_t deadline_of(int timeout_ms) {
  return timeout_ms < 0 ? UINT64_MAX : clock_mono_msec() + (uint64_t)timeout_ms;
}

int ampd_client_wait(struct ampd_client *c, uint64_t id, int timeout_ms, struct ampd_msg **ret) {
  if (c->in_callback)
    return -EDEADLK;
  struct slot *s = slot_find(c, id);
  if (!s || s->fn)
    return -ENOENT;
  uint64_t deadline = deadline_of(timeout_ms);
  for (;;) {
    if (s->state == SLOT_KEPT)
      return ampd_client_take(c, id, ret);
    if (c->err)
      return c->err;
    int r = wait_input(c, deadline);
    if (r < 0 && s->state != SLOT_KEPT)
      return r;
  }
}

int ampd_client_call(struct ampd_client *c, const char *cmd, const char *args, int timeout_ms,
                     struct ampd_msg **ret) {
  if (c->in_callback)
    return -EDEADLK;
  uint64_t id;
  int r = ampd_client_request(c, cmd, args, NULL, NULL, &id);
  if (r < 0)
    return r;
  r = ampd_client_wait(c, id, timeout_ms, ret);
  if (r < 0) {
    /* Nobody will take this reply: let it go to nobody when it comes. */
    struct slot *s = slot_find(c, id);
    if (s) {
      ampd_msg_free(s->msg);
      *s = (struct slot){0};
    }
  }
  return r;
}

int ampd_client_subscribe(struct ampd_client *c, ampd_event_fn fn, void *userdata, int timeout_ms) {
  if (c->in_callback)
    return -EDEADLK;
  ampd_event_fn old = c->on_event;
  void *old_ud = c->event_userdata;
  ampd_client_on_event(c, fn, userdata);
  struct ampd_msg *m;
  int r = ampd_client_call(c, "subscribe", NULL, timeout_ms, &m);
  if (r == 0) {
    r = ampd_msg_ok(m) ? 0 : -EREMOTEIO;
    ampd_msg_free(m);
  }
  if (r < 0)
    ampd_client_on_event(c, old, old_ud);
  return r;
}

int ampd_client_dispatch(struct ampd_client *c, int timeout_ms) {
  if (c->in_callback)
    return -EDEADLK;
  if (c->err)
    return c->err;
  return wait_input(c, deadline_of(timeout_ms));
}
