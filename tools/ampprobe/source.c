/* SPDX-License-Identifier: Apache-2.0 */
#include "source.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/loop.h"
#include "net/http.h"

struct source {
  char *name;
  int fd;            /* local file, or -1 */
  struct loop *loop; /* https */
  struct http *http;
  char *ca_file;
};

struct fetch {
  int done;
  int err;
};

int source_open(const char *name, const struct source_options *opt, struct source **ret) {
  struct source *s = calloc(1, sizeof(*s));
  int r;

  if (!s)
    return -ENOMEM;
  s->fd = -1;
  s->name = strdup(name);
  if (opt && opt->ca_file)
    s->ca_file = strdup(opt->ca_file);
  if (!s->name || (opt && opt->ca_file && !s->ca_file)) {
    r = -ENOMEM;
    goto fail;
  }
  if (strncmp(name, "http://", 7) == 0) {
    r = -AMP_EINSECURE;
    goto fail;
  }
  if (strncmp(name, "https://", 8) == 0) {
    struct http_config cfg;
    r = http_url_check(name);
    if (r < 0)
      goto fail;
    r = loop_new(&s->loop);
    if (r < 0)
      goto fail;
    http_config_init(&cfg);
    cfg.ca_file = s->ca_file;
    r = http_new(s->loop, &cfg, &s->http);
    if (r < 0)
      goto fail;
  } else {
    s->fd = open(name, O_RDONLY | O_CLOEXEC);
    if (s->fd < 0) {
      r = -errno;
      goto fail;
    }
  }
  *ret = s;
  return 0;
fail:
  source_free(s);
  return r;
}

void source_free(struct source *s) {
  if (!s)
    return;
  http_free(s->http);
  loop_free(s->loop);
  if (s->fd >= 0)
    close(s->fd);
  free(s->ca_file);
  free(s->name);
  free(s);
}

static void fetch_done(struct http_request *r, const struct http_response *resp, void *userdata) {
  struct fetch *f = userdata;
  f->err = resp->err;
  f->done = 1;
}

static int http_fetch(struct source *s, int ranged, uint64_t first, uint64_t last,
                      struct buf *out) {
  struct fetch f = {0, 0};
  struct http_request_opts o = {
      .method = HTTP_GET,
      .url = s->name,
      .ranged = ranged != 0,
      .range_start = first,
      .range_end = last,
      .body_out = out,
      .on_done = fetch_done,
      .userdata = &f,
  };
  int r = http_request_start(s->http, &o, NULL);
  if (r < 0)
    return r;
  while (!f.done) {
    r = loop_run_once(s->loop, -1);
    if (r < 0)
      return r;
  }
  return f.err;
}

static int file_read(struct source *s, uint64_t first, uint64_t last, struct buf *out) {
  uint64_t n = last - first + 1;
  int r;

  if (last < first || n > out->max)
    return last < first ? -EINVAL : -AMP_ETOOBIG;
  r = buf_reserve(out, (size_t)n);
  if (r < 0)
    return r;
  size_t got = 0;
  while (got < n) {
    ssize_t k = pread(s->fd, out->data + out->len + got, (size_t)n - got, (off_t)(first + got));
    if (k < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    if (k == 0)
      return -AMP_ETRUNCATED;
    got += (size_t)k;
  }
  buf_commit(out, got);
  return 0;
}

int source_read_range(struct source *s, uint64_t first, uint64_t last, struct buf *out) {
  buf_reset(out);
  if (last < first)
    return -EINVAL;
  if (s->http)
    return http_fetch(s, 1, first, last, out);
  return file_read(s, first, last, out);
}

int source_read_all(struct source *s, struct buf *out) {
  struct stat st;
  buf_reset(out);
  if (s->http)
    return http_fetch(s, 0, 0, 0, out);
  if (fstat(s->fd, &st) < 0)
    return -errno;
  if (st.st_size == 0)
    return 0;
  return file_read(s, 0, (uint64_t)st.st_size - 1, out);
}
