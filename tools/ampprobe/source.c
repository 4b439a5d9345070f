/* SPDX-License-Identifier: Apache-2.0 */
#include "source.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
  char detail[128];
};

struct fetch {
  int done;
  int err;
  source_data_fn fn; /* stream mode */
  void *userdata;
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

static int fetch_data(struct http_request *r, uint64_t offset, const void *data, size_t len,
                      void *userdata) {
  struct fetch *f = userdata;
  (void)r;
  return f->fn(f->userdata, offset, data, len);
}

/* A ranged GET into out, or (out NULL) a whole GET streamed to fn. */
static int http_fetch(struct source *s, uint64_t first, uint64_t last, struct buf *out,
                      source_data_fn fn, void *userdata) {
  struct fetch f = {.fn = fn, .userdata = userdata};
  struct http_request_opts o = {
      .method = HTTP_GET,
      .url = s->name,
      .ranged = out != NULL,
      .range_start = first,
      .range_end = last,
      .body_out = out,
      .on_data = out ? NULL : fetch_data,
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
    if (k == 0) {
      snprintf(s->detail, sizeof(s->detail),
               "the file ends at byte %" PRIu64 ", inside the range %" PRIu64 "-%" PRIu64,
               first + got, first, last);
      return -ENODATA;
    }
    got += (size_t)k;
  }
  buf_commit(out, got);
  return 0;
}

int source_read_range(struct source *s, uint64_t first, uint64_t last, struct buf *out) {
  buf_reset(out);
  s->detail[0] = '\0';
  if (last < first)
    return -EINVAL;
  if (s->http)
    return http_fetch(s, first, last, out, NULL, NULL);
  return file_read(s, first, last, out);
}

int source_stream(struct source *s, source_data_fn fn, void *userdata) {
  uint64_t off = 0;
  uint8_t *chunk;
  int r = 0;

  s->detail[0] = '\0';
  if (s->http)
    return http_fetch(s, 0, 0, NULL, fn, userdata);
  chunk = malloc(SOURCE_CHUNK);
  if (!chunk)
    return -ENOMEM;
  for (;;) {
    ssize_t k = read(s->fd, chunk, SOURCE_CHUNK);
    if (k < 0) {
      if (errno == EINTR)
        continue;
      r = -errno;
      break;
    }
    if (k == 0)
      break;
    r = fn(userdata, off, chunk, (size_t)k);
    if (r < 0)
      break;
    off += (uint64_t)k;
  }
  free(chunk);
  return r;
}

const char *source_detail(const struct source *s) {
  return s->detail;
}
