/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ampctl: the command line client of ampd's control socket (docs/protocol.md,
 * docs/man/ampctl.1), on libampd-client (include/ampd/client.h). It maps its arguments to
 * one request, prints the reply and knows nothing of the daemon beyond the protocol.
 *
 * Exit status (ampctl.h, ampctl(1)): 0 ok, 1 the daemon refused the command (or the
 * connection, or did not speak the protocol), 2 usage, 3 no connection (cannot connect,
 * or the daemon closed it or did not answer in time).
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ampctl.h"

#define AMPCTL_TIMEOUT_MS 30000 /* default wait for a reply (-t) */

const char *prog = "ampctl";

static void usage(FILE *f) {
  fprintf(f,
          "usage: %s [-s SOCKET] [--json] [-t SECONDS] [--qr|--no-qr] COMMAND [ARGS]\n"
          "  SOCKET defaults to " AMPD_CLIENT_DEFAULT_SOCKET "\n"
          "commands:\n"
          "  login | logout | status | queue | version | help\n"
          "  browse [REF] | play REF\n"
          "  pause | resume | toggle | stop | next | previous\n"
          "  seek [+|-][[H:]M:]S[.FFF] | volume [[+|-]N] | repeat [off|one|all]\n"
          "  subscribe (prints events until interrupted)\n"
          "  watch (a live status line; one line per change when not a terminal)\n"
          "exit: 0 ok, 1 refused by the daemon, 2 usage, 3 daemon not reachable\n",
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
    {"version", 0, 0}, {"help", 0, 0},   {"subscribe", 0, 0}, {"watch", 0, 0},
};

/* The request's arguments for argv (an object, maybe empty); *ret_msg says what is wrong on
 * NULL (NULL msg: out of memory). */
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
  if (!req)
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

/* TOPIC key=value ... on one line. */
static void print_event(const char *topic, const cJSON *body) {
  fputs(topic, stdout);
  for (const cJSON *m = body ? body->child : NULL; m; m = m->next) {
    printf(" %s=", m->string);
    print_scalar(m);
  }
  putchar('\n');
}

int ampctl_fail(const char *what, int err) {
  const char *why = strerror(-err);
  switch (err) {
  case -ECONNRESET:
    why = "the daemon closed the connection";
    break;
  case -ETIMEDOUT:
    why = "no reply from the daemon in time";
    break;
  case -EPROTO:
    why = "the daemon sent something that is not the protocol";
    break;
  case -EMSGSIZE:
    why = "a line from the daemon over the client's bound";
    break;
  case -EUSERS:
    why = "the daemon serves its maximum of clients";
    break;
  default:
    break;
  }
  fprintf(stderr, "%s: %s: %s\n", prog, what, why);
  switch (err) {
  case -EPROTO:
  case -EMSGSIZE:
  case -EUSERS:
    return EXIT_DAEMON;
  case -EINVAL:       /* -s "" */
  case -ENAMETOOLONG: /* -s with a path no socket can have */
    return EXIT_USAGE;
  case -ENOMEM:
    return EXIT_DAEMON;
  default:
    return EXIT_CONNECT;
  }
}

/* The reply: the raw line with --json; else the result as key: value lines, or the error
 * on stderr. */
static int print_reply(const struct ampd_msg *m, bool json) {
  if (json)
    printf("%s\n", ampd_msg_line(m));
  if (ampd_msg_ok(m)) {
    if (!json) {
      cJSON *result = cJSON_Parse(ampd_msg_body(m));
      if (cJSON_IsObject(result))
        print_object(result, 0);
      cJSON_Delete(result);
    }
    return EXIT_OK;
  }
  fprintf(stderr, "%s: %s: %s\n", prog, ampd_msg_error_code(m), ampd_msg_error_message(m));
  return EXIT_DAEMON;
}

struct sub {
  bool json;
  bool replied;
  int rc;
};

static void on_event(const struct ampd_msg *m, void *userdata) {
  const struct sub *st = userdata;
  if (st->json) {
    printf("%s\n", ampd_msg_line(m));
    return;
  }
  cJSON *body = cJSON_Parse(ampd_msg_body(m));
  print_event(ampd_msg_event(m), body);
  cJSON_Delete(body);
}

/* The subscribe reply through a callback, so that it is printed in its place among the
 * events (some may come in the same read). */
static void on_subscribed(const struct ampd_msg *m, void *userdata) {
  struct sub *st = userdata;
  st->replied = true;
  st->rc = print_reply(m, st->json);
}

/* subscribe: the reply, then events until the daemon goes away (or a signal ends the
 * process). */
static int run_subscribe(struct ampd_client *c, bool json, int timeout_ms) {
  struct sub st = {.json = json};
  ampd_client_on_event(c, on_event, &st);
  int r = ampd_client_request(c, "subscribe", NULL, on_subscribed, &st, NULL);
  while (r == 0 || r == -EINTR) {
    if (st.replied && st.rc != EXIT_OK)
      return st.rc;
    r = ampd_client_dispatch(c, st.replied ? -1 : timeout_ms);
  }
  return ampctl_fail("subscribe", r);
}

enum qr_mode { QR_AUTO, QR_ON, QR_OFF };

/* login: the reply, then (on a terminal, or with --qr) the QR code of the page with the
 * code in it. Never with --json: stdout is the reply line alone. */
static int login_extra(const struct ampd_msg *m, bool json, enum qr_mode qr) {
  if (json || !ampd_msg_ok(m) || qr == QR_OFF || (qr == QR_AUTO && !isatty(STDOUT_FILENO)))
    return EXIT_OK;
  const char *uri, *code;
  char *text = NULL;
  if (ampd_msg_string(m, "verification_uri", &uri) < 0 ||
      ampd_msg_string(m, "user_code", &code) < 0 || ampctl_qr_text(uri, code, &text) < 0) {
    fprintf(stderr, "%s: login: no code and URL in the reply\n", prog);
    return EXIT_DAEMON;
  }
  printf("\nScan to open %s\n", text);
  int r = ampctl_qr_print(stdout, text);
  free(text);
  if (r < 0) {
    fprintf(stderr, "%s: login: cannot draw the QR code: %s\n", prog, strerror(-r));
    return EXIT_DAEMON;
  }
  return EXIT_OK;
}

int main(int argc, char **argv) {
  const char *path = AMPD_CLIENT_DEFAULT_SOCKET;
  bool json = false;
  enum qr_mode qr = QR_AUTO;
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
    } else if (strcmp(a, "--qr") == 0) {
      qr = QR_ON;
    } else if (strcmp(a, "--no-qr") == 0) {
      qr = QR_OFF;
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
  cJSON *args = build_request(argc - i, argv + i, &msg);
  if (!args) {
    if (!msg) {
      fprintf(stderr, "%s: out of memory\n", prog);
      return EXIT_DAEMON;
    }
    return usage_error(msg);
  }
  const char *cmd = argv[i];
  char *text = cJSON_PrintUnformatted(args);
  cJSON_Delete(args);
  if (!text) {
    fprintf(stderr, "%s: out of memory\n", prog);
    return EXIT_DAEMON;
  }
  /* Events reach a pipe as they come. */
  setvbuf(stdout, NULL, _IOLBF, 0);
  int timeout_ms = timeout_s ? (int)(timeout_s * 1000) : -1;
  struct ampd_client *c = NULL;
  int rc, r = ampd_client_connect(path, &c);
  if (r < 0) {
    char what[PATH_MAX + 32];
    snprintf(what, sizeof(what), "cannot connect to %s", path);
    rc = ampctl_fail(what, r);
    goto out;
  }
  if (strcmp(cmd, "watch") == 0) {
    rc = ampctl_watch(c, isatty(STDOUT_FILENO), timeout_ms);
    goto out;
  }
  if (strcmp(cmd, "subscribe") == 0) {
    rc = run_subscribe(c, json, timeout_ms);
    goto out;
  }
  struct ampd_msg *m;
  r = ampd_client_call(c, cmd, strcmp(text, "{}") ? text : NULL, timeout_ms, &m);
  if (r < 0) {
    rc = ampctl_fail(cmd, r);
    goto out;
  }
  rc = print_reply(m, json);
  if (rc == EXIT_OK && strcmp(cmd, "login") == 0)
    rc = login_extra(m, json, qr);
  ampd_msg_free(m);
out:
  ampd_client_close(c);
  cJSON_free(text);
  return rc;
}
