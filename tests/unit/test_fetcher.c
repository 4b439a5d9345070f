/* SPDX-License-Identifier: Apache-2.0 */
/*
 * media/fetcher without a server: what fetcher_new, fetcher_switch and fetcher_rebase
 * refuse (the rep rules, the bounds, the layout check), that no callback runs from
 * inside a call, allocation failure at every allocation of fetcher_new (malloc and
 * calloc wrapped at link time), and a refused connection ending in on_error after the
 * configured rounds. The fetching itself is tests/integration/test_fetcher.c.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/loop.h"
#include "media/fetcher.h"
#include "media/manifest.h"
#include "net/http.h"

/* ---------------------------------------------------------------- failing allocations */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);

static int fail_in = -1; /* allocations to let through before one fails; -1: none fails */

static bool should_fail(void) {
  if (fail_in < 0)
    return false;
  return fail_in-- == 0;
}

void *__wrap_malloc(size_t n) {
  return should_fail() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size) {
  return should_fail() ? NULL : __real_calloc(n, size);
}

/* ---------------------------------------------------------------- fixtures */

static struct loop *L;
static struct http *H;

#define NSEG 4
static struct manifest_segment segs[NSEG];

static struct manifest_rep make_rep(const char *url) {
  for (size_t i = 0; i < NSEG; i++)
    segs[i] = (struct manifest_segment){.first = 1000 + i * 100,
                                        .last = 1000 + i * 100 + 99,
                                        .start = i * 480000,
                                        .duration = 480000};
  return (struct manifest_rep){.id = "r",
                               .url = url,
                               .timescale = 48000,
                               .has_init = true,
                               .init = {0, 899},
                               .segments = segs,
                               .n_segments = NSEG};
}

struct seen {
  int chunks, expired, errors, last_err;
};

static void on_chunk(void *ud, const struct fetcher_chunk *c) {
  (void)c;
  ((struct seen *)ud)->chunks++;
}
static void on_expired(void *ud) {
  ((struct seen *)ud)->expired++;
}
static void on_error(void *ud, int err) {
  struct seen *s = ud;
  s->errors++;
  s->last_err = err;
}

static struct fetcher_callbacks cbs(struct seen *s) {
  return (struct fetcher_callbacks){
      .on_chunk = on_chunk, .on_expired = on_expired, .on_error = on_error, .userdata = s};
}

static const struct http_header hdrs[] = {{"x-amz-music-rid", "0123"}, {"Cookie", "rid=0123"}};

static int make(const struct manifest_rep *rep, const struct fetcher_config *cfg, struct seen *s,
                struct fetcher **ret) {
  struct fetcher_callbacks cb = cbs(s);
  return fetcher_new(L, H, cfg, &cb, rep, hdrs, 2, 0, ret);
}

/* ---------------------------------------------------------------- tests */

static void test_defaults(void **state) {
  (void)state;
  struct fetcher_config c;
  fetcher_config_init(&c);
  assert_int_equal(c.target_ms, 30000);
  assert_int_equal(c.cap_bytes, 4u << 20);
  assert_int_equal(c.merge_gap, 64u << 10);
  assert_int_equal(c.expires_ms, 0);
  assert_int_equal(c.retry_rounds, FETCHER_RETRY_ROUNDS_DEFAULT);
}

static void test_refused(void **state) {
  (void)state;
  struct fetcher_config cfg;
  fetcher_config_init(&cfg);
  struct seen s = {0};
  struct fetcher *f = NULL;
  struct manifest_rep rep = make_rep("https://localhost/a.mp4");
  struct fetcher_callbacks cb = cbs(&s);

  cb.on_expired = NULL;
  assert_int_equal(fetcher_new(L, H, &cfg, &cb, &rep, hdrs, 2, 0, &f), -EINVAL);
  cb = cbs(&s);
  assert_int_equal(fetcher_new(L, H, &cfg, &cb, &rep, hdrs, 2, NSEG + 1, &f), -EINVAL);
  assert_int_equal(fetcher_new(L, H, &cfg, &cb, NULL, hdrs, 2, 0, &f), -EINVAL);

  struct fetcher_config bad = cfg;
  bad.cap_bytes = 0;
  assert_int_equal(make(&rep, &bad, &s, &f), -EINVAL);
  bad = cfg;
  bad.target_ms = 0;
  assert_int_equal(make(&rep, &bad, &s, &f), -EINVAL);
  bad = cfg;
  bad.retry_rounds = FETCHER_RETRY_ROUNDS_MAX + 1;
  assert_int_equal(make(&rep, &bad, &s, &f), -EINVAL);
  bad = cfg;
  bad.retry_cap_ms = bad.retry_base_ms - 1;
  assert_int_equal(make(&rep, &bad, &s, &f), -EINVAL);

  struct manifest_rep r = rep;
  r.url = "http://localhost/a.mp4"; /* https only */
  assert_int_equal(make(&r, &cfg, &s, &f), -EINVAL);
  r = rep;
  r.url_is_path = true;
  assert_int_equal(make(&r, &cfg, &s, &f), -EINVAL);
  r = rep;
  r.has_init = false;
  assert_int_equal(make(&r, &cfg, &s, &f), -EINVAL);
  r = rep;
  r.n_segments = 0;
  assert_int_equal(make(&r, &cfg, &s, &f), -EINVAL);
  r = rep;
  r.init.last = FETCHER_INIT_MAX; /* one byte over */
  assert_int_equal(make(&r, &cfg, &s, &f), -AMP_ETOOBIG);
  r = make_rep("https://localhost/a.mp4");
  segs[2].last = segs[2].first + FETCHER_SEGMENT_MAX; /* one byte over */
  assert_int_equal(make(&r, &cfg, &s, &f), -AMP_ETOOBIG);
  segs[2].last = segs[2].first + FETCHER_SEGMENT_MAX - 1; /* at the bound */
  assert_int_equal(make(&r, &cfg, &s, &f), 0);
  fetcher_free(f);
  f = NULL;
  segs[2].last = segs[2].first - 1;
  assert_int_equal(make(&r, &cfg, &s, &f), -EINVAL);

  rep = make_rep("https://localhost/a.mp4");
  const struct http_header crlf[] = {{"x-a", "b\r\nHost: evil"}};
  assert_int_equal(fetcher_new(L, H, &cfg, &cb, &rep, crlf, 1, 0, &f), -EINVAL);
  struct http_header many[HTTP_MAX_HEADERS + 1];
  for (size_t i = 0; i <= HTTP_MAX_HEADERS; i++)
    many[i] = (struct http_header){"x-a", "b"};
  assert_int_equal(fetcher_new(L, H, &cfg, &cb, &rep, many, HTTP_MAX_HEADERS + 1, 0, &f),
                   -AMP_ETOOBIG);
  assert_null(f);
  assert_int_equal(s.chunks + s.expired + s.errors, 0);
}

/* Switch and rebase need the same layout; release, seek and the accessors. */
static void test_layout(void **state) {
  (void)state;
  struct fetcher_config cfg;
  fetcher_config_init(&cfg);
  struct seen s = {0};
  struct fetcher *f = NULL;
  struct manifest_rep rep = make_rep("https://localhost/a.mp4");
  assert_int_equal(make(&rep, &cfg, &s, &f), 0);

  /* Another rep in another timescale, the same times: accepted. */
  struct manifest_segment other[NSEG];
  for (size_t i = 0; i < NSEG; i++)
    other[i] = (struct manifest_segment){.first = 2000 + i * 50,
                                         .last = 2000 + i * 50 + 49,
                                         .start = i * 441000,
                                         .duration = 441000};
  struct manifest_rep r2 = rep;
  r2.url = "https://localhost/b.mp4";
  r2.timescale = 44100;
  r2.segments = other;
  assert_int_equal(fetcher_switch(f, &r2), 0);
  assert_int_equal(fetcher_switch(f, &rep), 0); /* back before it took effect */
  /* A segment 2 ms longer: refused by both. */
  other[1].duration += 882 / 10;
  assert_int_equal(fetcher_switch(f, &r2), -EINVAL);
  assert_int_equal(fetcher_rebase(f, &r2, hdrs, 2, 0), -EINVAL);
  other[1].duration -= 882 / 10;
  r2.n_segments = NSEG - 1;
  assert_int_equal(fetcher_switch(f, &r2), -EINVAL);
  assert_int_equal(fetcher_rebase(f, &r2, hdrs, 2, 0), -EINVAL);
  r2.n_segments = NSEG;
  assert_int_equal(fetcher_rebase(f, &r2, hdrs, 2, -1), -EINVAL);
  assert_int_equal(fetcher_rebase(f, &r2, hdrs, 2, 0), 0);

  assert_int_equal(fetcher_release(f, 0), -ENOENT);
  assert_int_equal(fetcher_seek(f, NSEG + 1), -EINVAL);
  assert_int_equal(fetcher_seek(f, NSEG), 0);
  assert_int_equal(fetcher_next_index(f), NSEG);
  assert_int_equal(fetcher_buffered_ms(f), 0);
  assert_int_equal(fetcher_held_bytes(f), 0);
  /* At the end: nothing is asked for, nothing is called. */
  for (int i = 0; i < 3; i++)
    assert_true(loop_run_once(L, 0) >= 0);
  assert_int_equal(s.chunks + s.expired + s.errors, 0);
  fetcher_free(f);
  fetcher_free(NULL);
}

/* Every allocation of fetcher_new fails in turn: -ENOMEM, nothing leaked (ASan). */
static void test_oom(void **state) {
  (void)state;
  struct fetcher_config cfg;
  fetcher_config_init(&cfg);
  struct seen s = {0};
  struct manifest_rep rep = make_rep("https://localhost/a.mp4");
  int failures = 0;
  for (int n = 0;; n++) {
    struct fetcher *f = NULL;
    fail_in = n;
    int r = make(&rep, &cfg, &s, &f);
    fail_in = -1;
    if (r == 0) {
      fetcher_free(f);
      break;
    }
    assert_int_equal(r, -ENOMEM);
    assert_null(f);
    failures++;
    assert_true(n < 100);
  }
  assert_true(failures >= 3); /* the fetcher, the segments, the headers at least */
}

/* Nothing listens on port 1: net/http fails the connection, the fetcher tries one more
 * round and then calls on_error with the network error; never from inside a call. */
static void test_no_server(void **state) {
  (void)state;
  struct fetcher_config cfg;
  fetcher_config_init(&cfg);
  cfg.retry_rounds = 1;
  cfg.retry_base_ms = 1;
  cfg.retry_cap_ms = 2;
  struct seen s = {0};
  struct fetcher *f = NULL;
  struct manifest_rep rep = make_rep("https://127.0.0.1:1/a.mp4");
  assert_int_equal(make(&rep, &cfg, &s, &f), 0);
  assert_int_equal(fetcher_held_bytes(f), 0);
  uint64_t end = clock_mono_usec() + 30000000u;
  while (s.errors == 0) {
    assert_true(clock_mono_usec() < end);
    assert_true(loop_run_once(L, 50) >= 0);
  }
  assert_int_equal(s.errors, 1);
  assert_int_equal(s.last_err, -AMP_ENETWORK);
  assert_int_equal(s.chunks, 0);
  assert_int_equal(fetcher_held_bytes(f), 0); /* the partial chunks are gone */
  /* Stopped: no second error. */
  for (int i = 0; i < 5; i++)
    assert_true(loop_run_once(L, 10) >= 0);
  assert_int_equal(s.errors, 1);
  fetcher_free(f);
}

static int setup(void **state) {
  (void)state;
  if (loop_new(&L) < 0)
    return -1;
  struct http_config c;
  http_config_init(&c);
  c.max_retries = 0;
  c.connect_timeout_ms = 2000;
  return http_new(L, &c, &H) < 0 ? -1 : 0;
}

static int teardown(void **state) {
  (void)state;
  http_free(H);
  loop_free(L);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),  cmocka_unit_test(test_refused),
      cmocka_unit_test(test_layout),    cmocka_unit_test(test_oom),
      cmocka_unit_test(test_no_server),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
