/* SPDX-License-Identifier: Apache-2.0 */
/*
 * report_driver: one cloud/report in a process of its own, for the tests that kill it
 * (tests/integration/test_report_durable.c). It opens a reporter on a queue file,
 * submits --count events to one collector URL, writes their eventIds (one a line, in
 * submission order) to --ids, and runs the loop: until it is killed, or with --drain
 * until the queue is empty, when it writes its counters to --stats and exits 0.
 *
 *   report_driver --queue PATH --url URL --ca PEM --token-file FILE
 *                 [--count N] [--ids FILE] [--stats FILE] [--drain]
 *
 * Every POST carries "Authorization: Bearer <the token in FILE>" and "hasExplicit:
 * false" (the reporter adds Content-Type). Event i (from 0) has offsetInMilliseconds
 * i * 1000, so a test can check the order by offset as well as by id. --ids and --stats
 * are written to "<file>.tmp" and renamed: a reader sees the whole file or none.
 *
 * Exit status: 0 done, 1 a failure (said on stderr), 2 bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cloud/report.h"
#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"
#include "net/http.h"

#define DRIVER_EVENTS_MAX 100000u /* --count bound */
#define TOKEN_MAX 4096u           /* bytes of the token file */
#define DRAIN_GUARD_PASSES 600000 /* loop passes of at most 100 ms: a wedged drain ends */

struct opts {
  const char *queue, *url, *ca, *token_file, *ids, *stats;
  unsigned long count;
  bool drain;
};

static char token_hdr[TOKEN_MAX + 16]; /* "Bearer <token>" */

static int headers_cb(void *ud, struct http_header *out, size_t max, size_t *ret_n) {
  (void)ud;
  if (max < 2)
    return -EINVAL;
  out[0] = (struct http_header){"Authorization", token_hdr};
  out[1] = (struct http_header){"hasExplicit", "false"};
  *ret_n = 2;
  return 0;
}

static int read_token(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  char buf[TOKEN_MAX + 1];
  ssize_t n = read(fd, buf, sizeof(buf));
  int e = n < 0 ? -errno : 0;
  close(fd);
  if (e < 0)
    return e;
  if (n == 0 || (size_t)n > TOKEN_MAX)
    return -EINVAL;
  size_t len = (size_t)n;
  while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
    len--;
  if (len == 0 || memchr(buf, '\n', len) || memchr(buf, '\r', len))
    return -EINVAL;
  buf[len] = '\0';
  snprintf(token_hdr, sizeof(token_hdr), "Bearer %s", buf);
  return 0;
}

/* Write text to path through path.tmp, fsync()ed, renamed over path. */
static int write_whole(const char *path, const char *text, size_t len) {
  char tmp[PATH_MAX];
  int w = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
  if (w < 0 || (size_t)w >= sizeof(tmp))
    return -ENAMETOOLONG;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return -errno;
  int e = 0;
  size_t off = 0;
  while (off < len && e == 0) {
    ssize_t n = write(fd, text + off, len - off);
    if (n < 0 && errno != EINTR)
      e = -errno;
    else if (n > 0)
      off += (size_t)n;
  }
  if (e == 0 && fsync(fd) < 0)
    e = -errno;
  if (close(fd) < 0 && e == 0)
    e = -errno;
  if (e == 0 && rename(tmp, path) < 0)
    e = -errno;
  if (e < 0)
    unlink(tmp);
  return e;
}

static bool parse(int argc, char **argv, struct opts *o) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--drain") == 0) {
      o->drain = true;
      continue;
    }
    if (i + 1 >= argc)
      return false;
    const char *v = argv[++i];
    if (strcmp(a, "--queue") == 0) {
      o->queue = v;
    } else if (strcmp(a, "--url") == 0) {
      o->url = v;
    } else if (strcmp(a, "--ca") == 0) {
      o->ca = v;
    } else if (strcmp(a, "--token-file") == 0) {
      o->token_file = v;
    } else if (strcmp(a, "--ids") == 0) {
      o->ids = v;
    } else if (strcmp(a, "--stats") == 0) {
      o->stats = v;
    } else if (strcmp(a, "--count") == 0) {
      char *end;
      errno = 0;
      o->count = strtoul(v, &end, 10);
      if (errno || end == v || *end || o->count > DRIVER_EVENTS_MAX)
        return false;
    } else {
      return false;
    }
  }
  return o->queue && o->url && o->ca && o->token_file && (o->count == 0 || o->ids);
}

static int submit_all(struct report *r, const struct opts *o) {
  static const enum report_type types[] = {REPORT_STARTED, REPORT_PAUSED,  REPORT_RESUMED,
                                           REPORT_SEEKED,  REPORT_STOPPED, REPORT_FINISHED,
                                           REPORT_ERROR};
  const size_t line = REPORT_EVENT_ID_SIZE; /* 36 characters and a newline */
  char *ids = malloc(o->count * line + 1);
  if (!ids)
    return -ENOMEM;
  int e = 0;
  for (unsigned long i = 0; i < o->count; i++) {
    struct report_event ev = {.type = types[i % (sizeof(types) / sizeof(types[0]))],
                              .offset_ms = (uint64_t)i * 1000u,
                              .track_tag = "B000DRIVE1",
                              .quality = "HD_44",
                              .seek_from_ms = 0,
                              .error_code = "DRIVER_ERROR"};
    char id[REPORT_EVENT_ID_SIZE];
    e = report_submit(r, &ev, o->url, id);
    if (e < 0) {
      fprintf(stderr, "report_driver: submit %lu: %s\n", i, amp_strerror(e));
      goto out;
    }
    memcpy(ids + i * line, id, REPORT_EVENT_ID_SIZE - 1);
    ids[i * line + REPORT_EVENT_ID_SIZE - 1] = '\n';
  }
  if (o->count > 0) {
    e = write_whole(o->ids, ids, o->count * line);
    if (e < 0)
      fprintf(stderr, "report_driver: %s: %s\n", o->ids, amp_strerror(e));
  }
out:
  free(ids);
  return e;
}

static int write_stats(const struct report *r, const char *path) {
  struct report_stats st;
  report_stats(r, &st);
  char text[256];
  int n = snprintf(text, sizeof(text),
                   "submitted %" PRIu64 " sent %" PRIu64 " retries %" PRIu64 " rejected %" PRIu64
                   " corrupt %" PRIu64 " pending %zu\n",
                   st.submitted, st.sent, st.retries, st.rejected, st.corrupt, st.pending);
  if (n < 0 || (size_t)n >= sizeof(text))
    return -EINVAL;
  return write_whole(path, text, (size_t)n);
}

int main(int argc, char **argv) {
  struct opts o = {0};
  if (!parse(argc, argv, &o)) {
    fprintf(stderr, "usage: report_driver --queue PATH --url URL --ca PEM --token-file FILE"
                    " [--count N] [--ids FILE] [--stats FILE] [--drain]\n");
    return 2;
  }
  if (getenv("AMPD_LOG") && log_set_levels(getenv("AMPD_LOG")) < 0)
    return 2;
  int e = read_token(o.token_file);
  if (e < 0) {
    fprintf(stderr, "report_driver: token file %s: %s\n", o.token_file, amp_strerror(e));
    return 1;
  }
  int status = 1;
  struct loop *l = NULL;
  struct http *h = NULL;
  struct report *r = NULL;
  struct http_config hc;
  http_config_init(&hc);
  hc.ca_file = o.ca;
  hc.connect_timeout_ms = 5000;
  hc.max_retries = 0; /* the reporter retries, not the client */
  /* Short backoffs; the POST timeout is far longer than any delay rule a test adds, so a
   * delayed POST is still in flight when the test kills this process. */
  struct report_config rc = {.queue_path = o.queue,
                             .backoff_min_ms = 20,
                             .backoff_max_ms = 100,
                             .timeout_ms = 60000,
                             .headers = headers_cb};
  if ((e = loop_new(&l)) < 0)
    goto out;
  if ((e = http_new(l, &hc, &h)) < 0)
    goto out;
  if ((e = report_new(l, h, &rc, &r)) < 0)
    goto out;
  if ((e = submit_all(r, &o)) < 0)
    goto out;
  for (long pass = 0;; pass++) {
    struct report_stats st;
    report_stats(r, &st);
    if (o.drain && st.pending == 0)
      break;
    if (o.drain && pass >= DRAIN_GUARD_PASSES) {
      e = -ETIMEDOUT;
      goto out;
    }
    if ((e = loop_run_once(l, 100)) < 0)
      goto out;
  }
  if (o.stats && (e = write_stats(r, o.stats)) < 0)
    goto out;
  status = 0;
out:
  if (status != 0)
    fprintf(stderr, "report_driver: %s\n", amp_strerror(e));
  report_free(r);
  http_free(h);
  loop_free(l);
  return status;
}
