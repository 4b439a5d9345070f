/* SPDX-License-Identifier: Apache-2.0 */
#include "control.h"

#include <errno.h>
#include <grp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control_int.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"

LOG_TOPIC("control");

#ifndef AMPD_VERSION_STRING
#define AMPD_VERSION_STRING "0.1"
#endif
#define CONTROL_PROTOCOL 1
#define CONTROL_BACKLOG 16
#define CONTROL_ACCEPTS_PER_PASS 16
#define CONTROL_ACCEPT_PAUSE_USEC 1000000 /* after EMFILE: the listener is paused 1 s */

struct control_cmd {
  char name[CONTROL_NAME_MAX + 1];
  control_cmd_fn fn;
  void *userdata;
};

struct client {
  struct control *ctl;
  struct client *next;
  struct loop_source *src;
  int fd;
  unsigned num; /* for the log */
  pid_t pid;
  uid_t uid;
  struct control_lines in;
  struct buf out; /* max CONTROL_OUT_MAX */
  size_t inflight;
  bool subscribed;
  bool eof;     /* the peer will send nothing more */
  bool closing; /* freed by the reap timer, never called again */
};

struct control_req {
  struct control *ctl;
  struct client *cl; /* NULL once the client is gone */
  struct control_req *prev, *next;
  cJSON *id;
  pid_t pid;
  uid_t uid;
};

struct control {
  struct loop *loop;
  int fd;
  struct loop_source *listen_src;
  struct loop_source *reap;   /* frees closing clients outside their callbacks */
  struct loop_source *resume; /* re-enables the listener after EMFILE */
  char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
  char tmp_path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* bound here until listening */
  dev_t dev;
  ino_t ino;
  bool bound;
  struct control_cmd cmds[CONTROL_COMMANDS_MAX];
  size_t ncmds;
  struct client *clients;
  size_t nclients;
  size_t nsubs;
  struct control_req *reqs; /* every request not answered yet */
  unsigned next_num;
};

static void client_update_events(struct client *cl) {
  if (cl->closing)
    return;
  uint32_t ev = (cl->eof ? 0 : EPOLLIN) | (cl->out.len ? EPOLLOUT : 0);
  (void)loop_io_set_events(cl->src, ev);
}

/* Close later (never from inside a callback that may still touch cl). */
static void client_close(struct client *cl) {
  if (cl->closing)
    return;
  cl->closing = true;
  if (cl->subscribed)
    cl->ctl->nsubs--;
  cl->subscribed = false;
  (void)loop_io_set_events(cl->src, 0);
  (void)loop_timer_set(cl->ctl->reap, 0);
}

static void client_free(struct client *cl) {
  struct control *c = cl->ctl;
  for (struct control_req *r = c->reqs; r; r = r->next)
    if (r->cl == cl)
      r->cl = NULL;
  if (cl->subscribed)
    c->nsubs--;
  loop_source_free(cl->src);
  close(cl->fd);
  control_lines_done(&cl->in);
  buf_done(&cl->out);
  for (struct client **p = &c->clients; *p; p = &(*p)->next)
    if (*p == cl) {
      *p = cl->next;
      break;
    }
  c->nclients--;
  free(cl);
}

static void on_reap(struct loop_source *s, uint64_t now, void *userdata) {
  (void)s;
  (void)now;
  struct control *c = userdata;
  struct client **p = &c->clients;
  while (*p) {
    struct client *cl = *p;
    if (cl->closing) {
      log_info("client %u closed", cl->num);
      client_free(cl); /* unlinks *p */
    } else {
      p = &cl->next;
    }
  }
}

/* An answered client that has sent everything it will send closes once it is served. */
static void client_maybe_finish(struct client *cl) {
  if (cl->eof && !cl->inflight && !cl->out.len)
    client_close(cl);
}

static void client_flush(struct client *cl) {
  size_t done = 0;
  while (done < cl->out.len) {
    ssize_t n = send(cl->fd, cl->out.data + done, cl->out.len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      done += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      break;
    log_debug("client %u: send: %s", cl->num, amp_strerror(n < 0 ? -errno : -EPIPE));
    client_close(cl);
    return;
  }
  buf_consume(&cl->out, done);
  client_update_events(cl);
  client_maybe_finish(cl);
}

static void client_overflow(struct client *cl) {
  log_warning("client %u (pid %d) dropped: more than %d bytes of output unread", cl->num,
              (int)cl->pid, CONTROL_OUT_MAX);
  client_close(cl);
}

/* Queue one reply line; a reply that alone is over the bound is answered "too_big". */
static void client_send_reply(struct client *cl, const cJSON *id, const cJSON *result,
                              const char *code, const char *message) {
  if (cl->closing)
    return;
  int err = control_format_reply(&cl->out, id, result, code, message);
  if (err == -AMP_ETOOBIG && cl->out.len == 0)
    err = control_format_reply(&cl->out, id, NULL, "too_big", "the reply is over the bound");
  if (err == -AMP_ETOOBIG) {
    client_overflow(cl);
    return;
  }
  if (err) {
    log_warning("client %u dropped: %s", cl->num, amp_strerror(err));
    client_close(cl);
    return;
  }
  client_flush(cl);
}

static struct control_cmd *find_cmd(struct control *c, const char *name) {
  for (size_t i = 0; i < c->ncmds; i++)
    if (strcmp(c->cmds[i].name, name) == 0)
      return &c->cmds[i];
  return NULL;
}

static void handle_line(struct client *cl, const char *line, size_t len) {
  struct control *c = cl->ctl;
  struct control_request r;
  int err = control_request_parse(line, len, &r);
  if (err < 0) {
    log_debug("client %u: refused a request (%s)", cl->num, r.code);
    client_send_reply(cl, r.id, NULL, r.code, r.message);
    goto out;
  }
  log_debug("client %u: %s", cl->num, r.cmd);
  struct control_cmd *cmd = find_cmd(c, r.cmd);
  if (!cmd) {
    client_send_reply(cl, r.id, NULL, "unknown_command", "no such command (see help)");
    goto out;
  }
  if (cl->inflight >= CONTROL_INFLIGHT_MAX) {
    client_send_reply(cl, r.id, NULL, "busy", "too many requests in flight");
    goto out;
  }
  struct control_req *req = calloc(1, sizeof(*req));
  if (!req) {
    client_send_reply(cl, r.id, NULL, "internal", "out of memory");
    goto out;
  }
  *req = (struct control_req){.ctl = c, .cl = cl, .id = r.id, .pid = cl->pid, .uid = cl->uid};
  r.id = NULL;
  req->next = c->reqs;
  if (c->reqs)
    c->reqs->prev = req;
  c->reqs = req;
  cl->inflight++;
  cmd->fn(req, r.args, cmd->userdata);
out:
  control_request_done(&r);
}

static void client_read(struct client *cl) {
  char chunk[CONTROL_READ_CHUNK];
  ssize_t n = recv(cl->fd, chunk, sizeof(chunk), MSG_DONTWAIT);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      log_debug("client %u: recv: %s", cl->num, amp_strerror(-errno));
      client_close(cl);
    }
    return;
  }
  if (n == 0) {
    /* A line without its '\n' at the end is not a request. Replies still to come are
     * sent; then the connection closes. */
    cl->eof = true;
    client_update_events(cl);
    client_maybe_finish(cl);
    return;
  }
  int err = control_lines_push(&cl->in, chunk, (size_t)n);
  if (err) {
    log_warning("client %u dropped: %s", cl->num, amp_strerror(err));
    client_close(cl);
    return;
  }
  while (!cl->closing) {
    const char *line;
    size_t len;
    err = control_lines_next(&cl->in, &line, &len);
    if (err == 0)
      break;
    if (err == -AMP_ETOOBIG) {
      log_debug("client %u: a line over %d bytes", cl->num, CONTROL_LINE_MAX);
      client_send_reply(cl, NULL, NULL, "too_long", "a line is at most 65536 bytes");
      continue;
    }
    if (len == strspn(line, " \t"))
      continue; /* a blank line is no request */
    handle_line(cl, line, len);
  }
}

static void on_client(struct loop_source *s, int fd, uint32_t events, void *userdata) {
  (void)s;
  (void)fd;
  struct client *cl = userdata;
  if (cl->closing)
    return;
  if (events & EPOLLERR) {
    client_close(cl);
    return;
  }
  if (events & EPOLLOUT)
    client_flush(cl);
  if (!cl->closing && !cl->eof && (events & (EPOLLIN | EPOLLHUP)))
    client_read(cl);
  /* Both directions shut: nothing can reach the peer any more. */
  if (!cl->closing && cl->eof && (events & EPOLLHUP))
    client_close(cl);
}

static void refuse_busy(int fd) {
  struct buf b = BUF_INIT(256);
  if (control_format_reply(&b, NULL, NULL, "busy", "too many clients") == 0)
    (void)send(fd, b.data, b.len, MSG_NOSIGNAL | MSG_DONTWAIT);
  buf_done(&b);
  close(fd);
}

static void accept_one(struct control *c, int fd) {
  if (c->nclients >= CONTROL_CLIENTS_MAX) {
    log_notice("a client refused: %d clients already", CONTROL_CLIENTS_MAX);
    refuse_busy(fd);
    return;
  }
  struct ucred cred;
  socklen_t clen = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 || clen != sizeof(cred)) {
    log_warning("a client refused: no peer credentials: %s", amp_strerror(-errno));
    close(fd);
    return;
  }
  struct client *cl = calloc(1, sizeof(*cl));
  if (!cl) {
    close(fd);
    return;
  }
  *cl = (struct client){.ctl = c, .fd = fd, .num = ++c->next_num, .pid = cred.pid, .uid = cred.uid};
  control_lines_init(&cl->in);
  buf_init(&cl->out, CONTROL_OUT_MAX);
  int err = loop_add_io(c->loop, fd, EPOLLIN, on_client, cl, &cl->src);
  if (err) {
    log_warning("a client refused: %s", amp_strerror(err));
    control_lines_done(&cl->in);
    free(cl);
    close(fd);
    return;
  }
  cl->next = c->clients;
  c->clients = cl;
  c->nclients++;
  log_info("client %u connected: pid %d uid %u", cl->num, (int)cred.pid, (unsigned)cred.uid);
}

static void on_resume(struct loop_source *s, uint64_t now, void *userdata) {
  (void)s;
  (void)now;
  struct control *c = userdata;
  (void)loop_io_set_events(c->listen_src, EPOLLIN);
}

static void on_listen(struct loop_source *s, int lfd, uint32_t events, void *userdata) {
  (void)s;
  (void)events;
  struct control *c = userdata;
  for (int i = 0; i < CONTROL_ACCEPTS_PER_PASS; i++) {
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      accept_one(c, fd);
      continue;
    }
    if (errno == EINTR || errno == ECONNABORTED)
      continue;
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
      /* The connection stays queued and the listener readable: wait instead of spinning. */
      log_warning("accept: %s; not accepting for a second", amp_strerror(-errno));
      (void)loop_io_set_events(c->listen_src, 0);
      (void)loop_timer_set(c->resume, loop_now(c->loop) + CONTROL_ACCEPT_PAUSE_USEC);
    }
    return;
  }
}

/* Is anybody listening at path? 1 yes, 0 a stale socket, or -errno. */
static int socket_live(const struct sockaddr_un *sa) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  int r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
  int e = errno;
  close(fd);
  if (r == 0 || e == EAGAIN || e == EINPROGRESS)
    return 1; /* accepted, or a full backlog: alive either way */
  if (e == ECONNREFUSED)
    return 0;
  return -e;
}

static int bind_path(struct control *c, const struct sockaddr_un *sa) {
  struct stat st;
  if (lstat(sa->sun_path, &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return -EEXIST;
    int live = socket_live(sa);
    if (live < 0)
      return live;
    if (live)
      return -EADDRINUSE;
    log_info("replacing the stale socket %s", sa->sun_path);
    if (unlink(sa->sun_path) < 0 && errno != ENOENT)
      return -errno;
  } else if (errno != ENOENT) {
    return -errno;
  }
  /* Bound under a temporary name and renamed into place once listening (control_new),
   * so a client never finds the socket before it accepts: a connect to it is never
   * refused. When the temporary name does not fit, the socket is bound in place. */
  struct sockaddr_un tmp = *sa;
  int n = snprintf(tmp.sun_path, sizeof(tmp.sun_path), "%s.%ld.new", sa->sun_path, (long)getpid());
  const struct sockaddr_un *at = sa;
  if (n > 0 && (size_t)n < sizeof(tmp.sun_path)) {
    (void)unlink(tmp.sun_path); /* a leftover of a crashed run with our pid */
    memcpy(c->tmp_path, tmp.sun_path, (size_t)n + 1);
    at = &tmp;
  }
  /* The mode is set by the umask at bind: no moment where the socket is more open. */
  mode_t old = umask(0117);
  int r = bind(c->fd, (const struct sockaddr *)at, sizeof(*at));
  int e = errno;
  umask(old);
  if (r < 0) {
    c->tmp_path[0] = '\0';
    return -e;
  }
  c->bound = true;
  if (stat(at->sun_path, &st) < 0)
    return -errno;
  c->dev = st.st_dev;
  c->ino = st.st_ino;
  return 0;
}

static void builtin_noargs(struct control_req *req, const cJSON *args, cJSON *result) {
  if (args && args->child) {
    cJSON_Delete(result);
    (void)control_reply_error(req, "bad_args", "takes no arguments");
    return;
  }
  (void)control_reply(req, result);
}

static void cmd_version(struct control_req *req, const cJSON *args, void *userdata) {
  (void)userdata;
  cJSON *o = cJSON_CreateObject();
  if (o && (!cJSON_AddStringToObject(o, "version", AMPD_VERSION_STRING) ||
            !cJSON_AddNumberToObject(o, "protocol", CONTROL_PROTOCOL))) {
    cJSON_Delete(o);
    o = NULL;
  }
  if (!o) {
    (void)control_reply_error(req, "internal", "out of memory");
    return;
  }
  builtin_noargs(req, args, o);
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void cmd_help(struct control_req *req, const cJSON *args, void *userdata) {
  struct control *c = userdata;
  const char *names[CONTROL_COMMANDS_MAX];
  for (size_t i = 0; i < c->ncmds; i++)
    names[i] = c->cmds[i].name;
  qsort(names, c->ncmds, sizeof(names[0]), cmp_names);
  cJSON *o = cJSON_CreateObject();
  cJSON *list = o ? cJSON_AddArrayToObject(o, "commands") : NULL;
  bool ok = list != NULL;
  for (size_t i = 0; ok && i < c->ncmds; i++) {
    cJSON *s = cJSON_CreateString(names[i]);
    ok = s && cJSON_AddItemToArray(list, s);
    if (!ok)
      cJSON_Delete(s);
  }
  if (!ok) {
    cJSON_Delete(o);
    (void)control_reply_error(req, "internal", "out of memory");
    return;
  }
  builtin_noargs(req, args, o);
}

static void set_subscribed(struct control_req *req, bool on) {
  struct client *cl = req->cl;
  if (cl && !cl->closing && cl->subscribed != on) {
    cl->subscribed = on;
    if (on)
      req->ctl->nsubs++;
    else
      req->ctl->nsubs--;
  }
}

/* The reply is queued before the first event: the client sees the ok, then events. */
static void cmd_subscribe(struct control_req *req, const cJSON *args, void *userdata) {
  (void)userdata;
  if (args && args->child) {
    (void)control_reply_error(req, "bad_args", "takes no arguments");
    return;
  }
  set_subscribed(req, true);
  (void)control_reply(req, NULL);
}

static void cmd_unsubscribe(struct control_req *req, const cJSON *args, void *userdata) {
  (void)userdata;
  if (args && args->child) {
    (void)control_reply_error(req, "bad_args", "takes no arguments");
    return;
  }
  set_subscribed(req, false);
  (void)control_reply(req, NULL);
}

int control_new(struct loop *l, const char *path, struct control **ret) {
  return control_new_group(l, path, NULL, ret);
}

/* The gid of a group name; a name of digits that is no group's name is the number. */
static int group_gid(const char *name, gid_t *ret) {
  struct group gr, *res = NULL;
  char buf[4096];
  int e = getgrnam_r(name, &gr, buf, sizeof(buf), &res);
  if (e)
    return -e;
  if (res) {
    *ret = res->gr_gid;
    return 0;
  }
  char *end = NULL;
  errno = 0;
  unsigned long v = strtoul(name, &end, 10);
  if (name[0] >= '0' && name[0] <= '9' && *end == '\0' && errno == 0 && v < (gid_t)-1) {
    *ret = (gid_t)v;
    return 0;
  }
  return -ENOENT;
}

int control_new_group(struct loop *l, const char *path, const char *group, struct control **ret) {
  if (!l || !path || !ret || !*path)
    return -EINVAL;
  gid_t gid = (gid_t)-1;
  if (group && *group) {
    int gr = group_gid(group, &gid);
    if (gr < 0)
      return gr;
  }
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  size_t plen = strlen(path);
  if (plen >= sizeof(sa.sun_path))
    return -ENAMETOOLONG;
  memcpy(sa.sun_path, path, plen + 1);
  struct control *c = calloc(1, sizeof(*c));
  if (!c)
    return -ENOMEM;
  c->loop = l;
  memcpy(c->path, path, plen + 1);
  int err;
  c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) {
    err = -errno;
    goto fail;
  }
  err = bind_path(c, &sa);
  if (err)
    goto fail;
  /* Under the temporary name (bind_path): the socket appears at path with its group. */
  if (gid != (gid_t)-1 && lchown(c->tmp_path[0] ? c->tmp_path : c->path, (uid_t)-1, gid) < 0) {
    err = -errno;
    goto fail;
  }
  if (listen(c->fd, CONTROL_BACKLOG) < 0) {
    err = -errno;
    goto fail;
  }
  if (c->tmp_path[0]) {
    if (rename(c->tmp_path, c->path) < 0) {
      err = -errno;
      goto fail;
    }
    c->tmp_path[0] = '\0';
  }
  err = loop_add_timer(l, 0, on_reap, c, &c->reap);
  if (!err) {
    loop_timer_disarm(c->reap);
    err = loop_add_timer(l, 0, on_resume, c, &c->resume);
  }
  if (!err) {
    loop_timer_disarm(c->resume);
    err = loop_add_io(l, c->fd, EPOLLIN, on_listen, c, &c->listen_src);
  }
  static const struct {
    const char *name;
    control_cmd_fn fn;
  } builtins[] = {{"version", cmd_version},
                  {"help", cmd_help},
                  {"subscribe", cmd_subscribe},
                  {"unsubscribe", cmd_unsubscribe}};
  for (size_t i = 0; !err && i < sizeof(builtins) / sizeof(builtins[0]); i++)
    err = control_add_command(c, builtins[i].name, builtins[i].fn, c);
  if (err)
    goto fail;
  *ret = c;
  return 0;
fail:
  control_free(c);
  return err;
}

void control_free(struct control *c) {
  if (!c)
    return;
  while (c->clients)
    client_free(c->clients);
  while (c->reqs) {
    struct control_req *r = c->reqs;
    c->reqs = r->next;
    cJSON_Delete(r->id);
    free(r);
  }
  loop_source_free(c->listen_src);
  loop_source_free(c->reap);
  loop_source_free(c->resume);
  if (c->fd >= 0)
    close(c->fd);
  struct stat st;
  if (c->tmp_path[0]) /* failed before it was renamed into place */
    (void)unlink(c->tmp_path);
  /* Only the socket this server bound: a successor may have replaced it already. */
  if (c->bound && stat(c->path, &st) == 0 && st.st_dev == c->dev && st.st_ino == c->ino)
    (void)unlink(c->path);
  free(c);
}

int control_add_command(struct control *c, const char *name, control_cmd_fn fn, void *userdata) {
  if (!c || !name || !fn || !control_name_ok(name))
    return -EINVAL;
  if (find_cmd(c, name))
    return -EEXIST;
  if (c->ncmds >= CONTROL_COMMANDS_MAX)
    return -AMP_ETOOBIG;
  struct control_cmd *cmd = &c->cmds[c->ncmds++];
  memcpy(cmd->name, name, strlen(name) + 1);
  cmd->fn = fn;
  cmd->userdata = userdata;
  return 0;
}

/* Take req out of the pending list; returns its client (NULL: gone). */
static struct client *req_finish(struct control_req *req) {
  struct control *c = req->ctl;
  if (req->prev)
    req->prev->next = req->next;
  else
    c->reqs = req->next;
  if (req->next)
    req->next->prev = req->prev;
  struct client *cl = req->cl;
  if (cl)
    cl->inflight--;
  return cl;
}

static int answer(struct control_req *req, const cJSON *result, const char *code,
                  const char *message) {
  struct client *cl = req_finish(req);
  int err = -ENOTCONN;
  if (cl && !cl->closing) {
    client_send_reply(cl, req->id, result, code, message);
    err = cl->closing ? -ENOTCONN : 0; /* dropped on this reply: it never arrives */
  }
  cJSON_Delete(req->id);
  free(req);
  return err;
}

int control_reply(struct control_req *req, cJSON *result) {
  int err;
  if (result && !cJSON_IsObject(result)) {
    cJSON_Delete(result);
    (void)answer(req, NULL, "internal", "the daemon built a bad reply");
    return -EINVAL;
  }
  err = answer(req, result, NULL, NULL);
  cJSON_Delete(result);
  return err;
}

int control_reply_error(struct control_req *req, const char *code, const char *message) {
  if (!code || !control_code_ok(code)) {
    (void)answer(req, NULL, "internal", message);
    return -EINVAL;
  }
  return answer(req, NULL, code, message);
}

int control_req_peer(const struct control_req *req, pid_t *ret_pid, uid_t *ret_uid) {
  if (!req->cl || req->cl->closing)
    return -ENOTCONN;
  if (ret_pid)
    *ret_pid = req->pid;
  if (ret_uid)
    *ret_uid = req->uid;
  return 0;
}

int control_publish(struct control *c, const char *topic, const cJSON *event) {
  if (!c || !topic || !control_name_ok(topic) || (event && !cJSON_IsObject(event)))
    return -EINVAL;
  if (!c->nsubs)
    return 0;
  int err = -ENOMEM;
  char *text = NULL;
  cJSON *o = cJSON_CreateObject();
  if (!o || !cJSON_AddStringToObject(o, "event", topic))
    goto out;
  for (const cJSON *m = event ? event->child : NULL; m; m = m->next) {
    if (strcmp(m->string, "event") == 0)
      continue; /* the topic is the event's name; a member cannot override it */
    cJSON *d = cJSON_Duplicate(m, 1);
    if (!d || !cJSON_AddItemToObject(o, m->string, d)) {
      cJSON_Delete(d);
      goto out;
    }
  }
  text = cJSON_PrintUnformatted(o);
  if (!text)
    goto out;
  size_t n = strlen(text);
  for (struct client *cl = c->clients; cl; cl = cl->next) {
    if (!cl->subscribed || cl->closing)
      continue;
    if (cl->out.len + n + 1 > CONTROL_OUT_MAX) {
      client_overflow(cl);
      continue;
    }
    if (buf_append(&cl->out, text, n) || buf_append_u8(&cl->out, '\n')) {
      log_warning("client %u dropped: out of memory", cl->num);
      client_close(cl);
      continue;
    }
    client_flush(cl);
  }
  err = 0;
out:
  cJSON_free(text);
  cJSON_Delete(o);
  return err;
}

size_t control_subscribers(const struct control *c) {
  return c->nsubs;
}

size_t control_clients(const struct control *c) {
  return c->nclients;
}
