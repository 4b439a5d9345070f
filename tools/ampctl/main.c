/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ampctl: the command line client of ampd's control socket (docs/protocol.md,
 * docs/man/ampctl.1). It maps its arguments to one request line, prints the reply and
 * knows nothing of the daemon beyond the protocol.
 *
 * Exit status: 0 ok, 1 the daemon answered with an error, 2 usage, 3 no connection (cannot
 * connect, or the daemon closed it or did not answer in time).
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cjson/cJSON.h>

/* The daemon's default: the socket "control" in its runtime directory /run/ampd. */
#define AMPCTL_DEFAULT_SOCKET "/run/ampd/control"
#define AMPCTL_LINE_MAX (2 * 1024 * 1024) /* a reply or event line: the daemon's is 1 MiB */
#define AMPCTL_TIMEOUT_MS 30000           /* default wait for a reply (-t) */

enum { EXIT_OK = 0, EXIT_DAEMON = 1, EXIT_USAGE = 2, EXIT_CONNECT = 3 };

static const char *prog = "ampctl";

static void usage(FILE *f) {
  fprintf(f,
          "usage: %s [-s SOCKET] [--json] [-t SECONDS] COMMAND [ARGS]\n"
          "  SOCKET defaults to " AMPCTL_DEFAULT_SOCKET "\n"
          "commands:\n"
          "  login | logout | status | queue | version | help\n"
          "  browse [REF] | play REF\n"
          "  pause | resume | toggle | stop | next | previous\n"
          "  seek [+|-][[H:]M:]S[.FFF] | volume [[+|-]N] | repeat [off|one|all]\n"
          "  subscribe (prints events until interrupted)\n",
          prog);
}

static int usage_error(const char *what) {
  fprintf(stderr, "%s: %s\n", prog, what);
  usage(stderr);
  return EXIT_USAGE;
}

/* [[H:]M:]S[.FFF] into milliseconds; false when it is not that. */
static bool parse_time(const char *s, long long *ret_ms) {
  long long parts[3];
  int n = 0;
  const char *p = s;
  long long frac_ms = 0;
  for (;;) {
    if (*p < '0' || *p > '9' || n == 3)
      return false;
    long long v = 0;
    while (*p >= '0' && *p <= '9') {
      v = v * 10 + (*p++ - '0');
      if (v > 1000000000LL)
        return false;
    }
    parts[n++] = v;
    if (*p == ':') {
      p++;
      continue;
    }
    if (*p == '.') {
      p++;
      long long scale = 100;
      if (*p < '0' || *p > '9')
        return false;
      while (*p >= '0' && *p <= '9') {
        frac_ms += (*p++ - '0') * scale;
        scale /= 10;
      }
    }
    break;
  }
  if (*p)
    return false;
  long long sec = 0;
  for (int i = 0; i < n; i++) {
    if (i > 0 && parts[i] >= 60)
      return false; /* 1:75 is a typo, not 2:15 */
    sec = sec * 60 + parts[i];
  }
  *ret_ms = sec * 1000 + frac_ms;
  return true;
}

static bool parse_int(const char *s, long lo, long hi, long *ret) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi)
    return false;
  *ret = v;
  return true;
}

struct cmdspec {
  const char *name;
  int min_args, max_args;
};

static const struct cmdspec cmds[] = {
    {"login", 0, 0},   {"logout", 0, 0}, {"browse", 0, 1},    {"play", 1, 1},  {"pause", 0, 0},
    {"resume", 0, 0},  {"toggle", 0, 0}, {"stop", 0, 0},      {"next", 0, 0},  {"previous", 0, 0},
    {"seek", 1, 1},    {"volume", 0, 1}, {"repeat", 0, 1},    {"queue", 0, 0}, {"status", 0, 0},
    {"version", 0, 0}, {"help", 0, 0},   {"subscribe", 0, 0},
};

/* The request for argv; *ret_msg says what is wrong on NULL (NULL msg: out of memory). */
static cJSON *build_request(int argc, char **argv, const char **ret_msg) {
  *ret_msg = NULL;
  const char *name = argv[0];
  const struct cmdspec *spec = NULL;
  for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
    if (strcmp(cmds[i].name, name) == 0)
      spec = &cmds[i];
  if (!spec) {
    *ret_msg = "unknown command";
    return NULL;
  }
  int nargs = argc - 1;
  if (nargs < spec->min_args || nargs > spec->max_args) {
    *ret_msg = nargs < spec->min_args ? "missing argument" : "too many arguments";
    return NULL;
  }
  cJSON *req = cJSON_CreateObject();
  if (!req || !cJSON_AddNumberToObject(req, "id", 1) || !cJSON_AddStringToObject(req, "cmd", name))
    goto nomem;
  const char *arg = nargs ? argv[1] : NULL;
  if (!arg)
    return req;
  if (strcmp(name, "browse") == 0 || strcmp(name, "play") == 0) {
    if (!*arg) {
      *ret_msg = "empty reference";
      goto bad;
    }
    if (!cJSON_AddStringToObject(req, "ref", arg))
      goto nomem;
  } else if (strcmp(name, "seek") == 0) {
    bool rel = *arg == '+' || *arg == '-';
    long long ms;
    if (!parse_time(arg + rel, &ms)) {
      *ret_msg = "seek: a position is [+|-][[H:]M:]S[.FFF]";
      goto bad;
    }
    if (rel && *arg == '-')
      ms = -ms;
    if (!cJSON_AddNumberToObject(req, rel ? "offset_ms" : "position_ms", (double)ms))
      goto nomem;
  } else if (strcmp(name, "volume") == 0) {
    bool rel = *arg == '+' || *arg == '-';
    long v;
    if (!parse_int(arg + rel, 0, 100, &v) || arg[rel] == '+' || arg[rel] == '-') {
      *ret_msg = "volume: 0..100, or +N / -N";
      goto bad;
    }
    if (rel && *arg == '-')
      v = -v;
    if (!cJSON_AddNumberToObject(req, rel ? "delta" : "volume", (double)v))
      goto nomem;
  } else if (strcmp(name, "repeat") == 0) {
    if (strcmp(arg, "off") && strcmp(arg, "one") && strcmp(arg, "all")) {
      *ret_msg = "repeat: off, one or all";
      goto bad;
    }
    if (!cJSON_AddStringToObject(req, "mode", arg))
      goto nomem;
  }
  return req;
nomem:
  *ret_msg = NULL;
bad:
  cJSON_Delete(req);
  return NULL;
}

/* ---- output ---- */

static void print_scalar(const cJSON *v) {
  if (cJSON_IsString(v)) {
    fputs(v->valuestring, stdout);
  } else if (cJSON_IsNumber(v)) {
    double d = v->valuedouble;
    if (d == floor(d) && fabs(d) < 9007199254740992.0)
      printf("%.0f", d);
    else
      printf("%g", d);
  } else if (cJSON_IsBool(v)) {
    fputs(cJSON_IsTrue(v) ? "true" : "false", stdout);
  } else if (cJSON_IsNull(v)) {
    fputs("-", stdout);
  } else {
    char *t = cJSON_PrintUnformatted(v);
    fputs(t ? t : "?", stdout);
    cJSON_free(t);
  }
}

static bool all_scalars(const cJSON *a) {
  for (const cJSON *e = a->child; e; e = e->next)
    if (cJSON_IsObject(e) || cJSON_IsArray(e))
      return false;
  return true;
}

/* key: value lines, the values aligned; nested objects and lists indented below. */
static void print_object(const cJSON *o, int indent) {
  int width = 0;
  for (const cJSON *m = o->child; m; m = m->next) {
    int n = (int)strlen(m->string);
    if (n > width)
      width = n;
  }
  for (const cJSON *m = o->child; m; m = m->next) {
    printf("%*s%s:", indent, "", m->string);
    if (cJSON_IsObject(m)) {
      putchar('\n');
      print_object(m, indent + 2);
      continue;
    }
    printf("%*s ", width - (int)strlen(m->string), "");
    if (cJSON_IsArray(m) && all_scalars(m)) {
      for (const cJSON *e = m->child; e; e = e->next) {
        print_scalar(e);
        if (e->next)
          putchar(' ');
      }
      putchar('\n');
    } else if (cJSON_IsArray(m)) {
      putchar('\n');
      int i = 0;
      for (const cJSON *e = m->child; e; e = e->next, i++) {
        printf("%*s[%d]\n", indent + 2, "", i);
        if (cJSON_IsObject(e)) {
          print_object(e, indent + 4);
        } else {
          printf("%*s", indent + 4, "");
          print_scalar(e);
          putchar('\n');
        }
      }
    } else {
      print_scalar(m);
      putchar('\n');
    }
  }
}

static void print_event(const cJSON *ev) {
  const cJSON *topic = cJSON_GetObjectItemCaseSensitive(ev, "event");
  print_scalar(topic);
  for (const cJSON *m = ev->child; m; m = m->next) {
    if (m == topic)
      continue;
    printf(" %s=", m->string);
    print_scalar(m);
  }
  putchar('\n');
}

/* ---- connection ---- */

struct conn {
  int fd;
  char *buf;
  size_t len, start;
};

static int conn_open(const char *path, struct conn *c) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof(sa.sun_path)) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(sa.sun_path, path, strlen(path) + 1);
  c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c->fd < 0)
    return -1;
  if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
    int e = errno;
    close(c->fd);
    errno = e;
    return -1;
  }
  c->buf = malloc(AMPCTL_LINE_MAX + 1);
  if (!c->buf) {
    close(c->fd);
    errno = ENOMEM;
    return -1;
  }
  c->len = c->start = 0;
  return 0;
}

static int send_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* The next line (NUL-terminated, without '\n') in *ret; 0, or -1 with a message printed.
 * timeout_ms < 0 waits forever. */
static int conn_line(struct conn *c, int timeout_ms, char **ret) {
  for (;;) {
    char *nl = memchr(c->buf + c->start, '\n', c->len - c->start);
    if (nl) {
      *nl = '\0';
      *ret = c->buf + c->start;
      c->start = (size_t)(nl - c->buf) + 1;
      return 0;
    }
    if (c->start) {
      memmove(c->buf, c->buf + c->start, c->len - c->start);
      c->len -= c->start;
      c->start = 0;
    }
    if (c->len >= AMPCTL_LINE_MAX) {
      fprintf(stderr, "%s: a line from the daemon over %d bytes\n", prog, AMPCTL_LINE_MAX);
      return -1;
    }
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    int r = poll(&p, 1, timeout_ms);
    if (r < 0 && errno == EINTR)
      continue;
    if (r == 0) {
      fprintf(stderr, "%s: no reply from the daemon in time\n", prog);
      return -1;
    }
    ssize_t n = r < 0 ? -1 : recv(c->fd, c->buf + c->len, AMPCTL_LINE_MAX - c->len, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      fprintf(stderr, "%s: the daemon closed the connection%s%s\n", prog, n < 0 ? ": " : "",
              n < 0 ? strerror(errno) : "");
      return -1;
    }
    c->len += (size_t)n;
  }
}

static int print_reply(const char *line, const cJSON *reply, bool json) {
  const cJSON *ok = cJSON_GetObjectItemCaseSensitive(reply, "ok");
  if (json)
    printf("%s\n", line);
  if (cJSON_IsTrue(ok)) {
    const cJSON *result = cJSON_GetObjectItemCaseSensitive(reply, "result");
    if (!json && cJSON_IsObject(result))
      print_object(result, 0);
    return EXIT_OK;
  }
  const cJSON *err = cJSON_GetObjectItemCaseSensitive(reply, "error");
  const cJSON *code = cJSON_GetObjectItemCaseSensitive(err, "code");
  const cJSON *msg = cJSON_GetObjectItemCaseSensitive(err, "message");
  fprintf(stderr, "%s: %s: %s\n", prog, cJSON_IsString(code) ? code->valuestring : "error",
          cJSON_IsString(msg) ? msg->valuestring : "");
  return EXIT_DAEMON;
}

int main(int argc, char **argv) {
  const char *path = AMPCTL_DEFAULT_SOCKET;
  bool json = false;
  long timeout_s = AMPCTL_TIMEOUT_MS / 1000;
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-s") == 0 || strcmp(a, "--socket") == 0) {
      if (++i == argc)
        return usage_error("-s needs a path");
      path = argv[i];
    } else if (strcmp(a, "-t") == 0 || strcmp(a, "--timeout") == 0) {
      if (++i == argc || !parse_int(argv[i], 0, 86400, &timeout_s))
        return usage_error("-t needs seconds (0: wait forever)");
    } else if (strcmp(a, "--json") == 0) {
      json = true;
    } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      return EXIT_OK;
    } else if (strcmp(a, "--") == 0) {
      i++;
      break;
    } else {
      return usage_error("unknown option");
    }
  }
  if (i == argc)
    return usage_error("no command");
  const char *msg;
  cJSON *req = build_request(argc - i, argv + i, &msg);
  if (!req) {
    if (!msg) {
      fprintf(stderr, "%s: out of memory\n", prog);
      return EXIT_DAEMON;
    }
    return usage_error(msg);
  }
  bool subscribe = strcmp(argv[i], "subscribe") == 0;
  char *text = cJSON_PrintUnformatted(req);
  cJSON_Delete(req);
  if (!text) {
    fprintf(stderr, "%s: out of memory\n", prog);
    return EXIT_DAEMON;
  }
  /* Events reach a pipe as they come. */
  setvbuf(stdout, NULL, _IOLBF, 0);
  struct conn c;
  if (conn_open(path, &c) < 0) {
    fprintf(stderr, "%s: cannot connect to %s: %s\n", prog, path, strerror(errno));
    cJSON_free(text);
    return EXIT_CONNECT;
  }
  int rc = EXIT_CONNECT;
  size_t tlen = strlen(text);
  text[tlen] = '\n'; /* cJSON's buffer ends in the NUL overwritten here; sent by length */
  if (send_all(c.fd, text, tlen + 1) < 0) {
    fprintf(stderr, "%s: sending to %s: %s\n", prog, path, strerror(errno));
    goto out;
  }
  int timeout_ms = timeout_s ? (int)(timeout_s * 1000) : -1;
  for (;;) {
    char *line;
    if (conn_line(&c, timeout_ms, &line) < 0)
      goto out;
    cJSON *reply = cJSON_Parse(line);
    if (!cJSON_IsObject(reply)) {
      fprintf(stderr, "%s: the daemon sent a line that is not a JSON object\n", prog);
      cJSON_Delete(reply);
      rc = EXIT_DAEMON;
      goto out;
    }
    if (cJSON_GetObjectItemCaseSensitive(reply, "event")) {
      cJSON_Delete(reply); /* an event before the subscribe reply is not ours */
      continue;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(reply, "id");
    if (!cJSON_IsNumber(id) || id->valuedouble != 1) {
      /* An error for no request (id null: a line too long, too many clients) is ours. */
      if (cJSON_IsNull(id))
        rc = print_reply(line, reply, json);
      cJSON_Delete(reply);
      if (cJSON_IsNull(id))
        goto out;
      continue;
    }
    rc = print_reply(line, reply, json);
    cJSON_Delete(reply);
    break;
  }
  if (rc != EXIT_OK || !subscribe)
    goto out;
  for (;;) {
    char *line;
    if (conn_line(&c, -1, &line) < 0) {
      rc = EXIT_CONNECT;
      goto out;
    }
    if (json) {
      printf("%s\n", line);
      continue;
    }
    cJSON *ev = cJSON_Parse(line);
    if (cJSON_IsObject(ev) && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(ev, "event")))
      print_event(ev);
    cJSON_Delete(ev);
  }
out:
  cJSON_free(text);
  free(c.buf);
  close(c.fd);
  return rc;
}
