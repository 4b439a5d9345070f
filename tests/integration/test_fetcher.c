/* SPDX-License-Identifier: Apache-2.0 */
/*
 * media/fetcher against the mock's CDN (tools/mock/ampmock/modules/api.py) over TLS on
 * loopback, serving the test catalog: audio objects from GET /api/audio/<track> (a new
 * session each, docs/service.md §10), their manifests, and then the fetcher on one rep.
 * Every chunk handed out is compared with the catalog file of that session's variant at
 * the chunk's offset. A consumer that releases the oldest segment whenever the fetcher
 * has stopped (nothing in flight) stands for the media thread; the byte cap is asserted
 * from the callbacks. Faults: a connection closed mid-segment, a burst of 503s, a server
 * ignoring Range, the CDN token's exp passing (a rebase on a fresh audio object of the
 * other variant), a switch between reps, a fetcher freed from its own callback.
 *
 * argv[1] is the source tree, argv[2] the test catalog (made by ctest catalog/make).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "cloud/apidoc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"
#include "http_harness.h"
#include "media/fetcher.h"
#include "media/manifest.h"

#define TRACK "long125" /* 125 s: 13 segments of ~0.5 MiB (FLAC) / ~0.25 MiB (Opus) */
#define REP_HD "flac_16_44"
#define REP_SD "opus_192"
#define DEVICE_ID "0123456789abcdef0123456789abcdef"

static const char *catalog;
static struct http *H;
static char token[HARNESS_TOKEN_MAX];

/* ---------------------------------------------------------------- sessions */

struct sess {
  struct apidoc_audio *audio;
  struct manifest *m;
  char rid[64], variant[16];
};

static const char *header_value(const struct apidoc_headers *h, const char *name) {
  for (size_t i = 0; i < h->n; i++)
    if (strcasecmp(h->h[i].name, name) == 0)
      return h->h[i].value;
  return NULL;
}

/* GET url with headers into out (plain net/http); the status. */
static long get_into(const char *url, const struct http_header *h, size_t n, struct buf *out) {
  struct result res = {0};
  struct http_request_opts o = {
      .method = HTTP_GET, .url = url, .headers = h, .n_headers = n, .body_out = out};
  buf_reset(out);
  fetch(H, &o, &res);
  return res.resp.status;
}

/* A new session of TRACK: the audio object (with the playback headers of docs/service.md
 * §5), its manifest, and the variant the mock gave it. */
static void open_sess(struct sess *s) {
  memset(s, 0, sizeof(*s));
  char url[256], bearer[HARNESS_TOKEN_MAX + 16];
  url_of(url, sizeof(url), mock, "localhost", "/api/audio/" TRACK);
  snprintf(bearer, sizeof(bearer), "Bearer %s", token);
  const struct http_header ph[] = {
      {"Authorization", bearer},
      {"X-Amzn-Audio-DRMType", "WIDEVINE"},
      {"X-Amzn-Audio-Device-Capability", "STD_RES,HI_FI,HI_RES"},
      {"X-Amzn-Device-Id", DEVICE_ID},
      {"hasExplicit", "true"},
      {"Accept-Language", "en-GB"},
      {"Accept", "application/json"},
  };
  struct buf body = BUF_INIT(1u << 20);
  assert_int_equal(get_into(url, ph, sizeof(ph) / sizeof(ph[0]), &body), 200);
  assert_int_equal(apidoc_audio_parse((const char *)body.data, body.len, &s->audio), 0);
  assert_int_equal(get_into(s->audio->uri, s->audio->manifest.h, s->audio->manifest.n, &body), 200);
  char err[256] = "";
  int rc = manifest_parse(body.data, body.len, s->audio->uri, &s->m, err, sizeof(err));
  if (rc < 0)
    fail_msg("manifest: %s (%s)", amp_strerror(rc), err);
  buf_done(&body);
  const char *rid = header_value(&s->audio->segment, "x-amz-music-rid");
  assert_non_null(rid);
  snprintf(s->rid, sizeof(s->rid), "%s", rid);
  cJSON *st = ctrl(H, HTTP_GET, "/_mock/api/state", NULL), *e;
  cJSON_ArrayForEach(e, cJSON_GetObjectItem(st, "sessions")) {
    if (strcmp(str(e, "rid"), s->rid) == 0)
      snprintf(s->variant, sizeof(s->variant), "%s", str(e, "variant"));
  }
  cJSON_Delete(st);
  assert_true(s->variant[0] != '\0');
}

static void close_sess(struct sess *s) {
  manifest_free(s->m);
  apidoc_audio_free(s->audio);
  memset(s, 0, sizeof(*s));
}

static const struct manifest_rep *rep_of(const struct sess *s, const char *id) {
  const struct manifest_rep *r = manifest_find_rep(s->m, id);
  assert_non_null(r);
  return r;
}

/* The mock's log of requests for one rep file of session s. */
static cJSON *cdn_log(const struct sess *s, const char *rep_id) {
  char path[256];
  snprintf(path, sizeof(path), "/cdn/%s/%s.mp4", s->rid, rep_id);
  return requests_for(path);
}

/* ---------------------------------------------------------------- the consumer */

/* The catalog file behind a rep of a session, in memory. */
#define REPS_MAX 8
struct file {
  const struct manifest_rep *rep;
  uint8_t *data;
  size_t len;
};
static struct file files[REPS_MAX];
static size_t n_files;

static void register_rep(const struct sess *s, const struct manifest_rep *rep) {
  assert_true(n_files < REPS_MAX);
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/%s/%s/%s.mp4", catalog, TRACK, s->variant, rep->id);
  FILE *fp = fopen(path, "rbe");
  assert_non_null(fp);
  assert_int_equal(fseek(fp, 0, SEEK_END), 0);
  long n = ftell(fp);
  assert_true(n > 0);
  assert_int_equal(fseek(fp, 0, SEEK_SET), 0);
  struct file *f = &files[n_files++];
  f->rep = rep;
  f->len = (size_t)n;
  assert_non_null(f->data = malloc(f->len));
  assert_int_equal(fread(f->data, 1, f->len, fp), f->len);
  fclose(fp);
}

static void files_free(void) {
  for (size_t i = 0; i < n_files; i++)
    free(files[i].data);
  n_files = 0;
}

static const struct file *file_of(const struct manifest_rep *rep) {
  for (size_t i = 0; i < n_files; i++)
    if (files[i].rep == rep)
      return &files[i];
  fail_msg("a chunk of a rep the test never passed");
  return NULL;
}

#define EV_MAX 128
struct ev {
  enum fetcher_kind kind;
  enum fetcher_init_reason reason;
  const struct manifest_rep *rep;
  size_t index;
  size_t len;
};

struct got {
  struct fetcher *f;
  size_t cap, seg_max; /* the cap and the largest segment of the reps in play */
  struct ev ev[EV_MAX];
  size_t n_ev;
  size_t expect; /* the index of the next segment */
  bool end;      /* the last segment came */
  /* Unreleased, oldest first. */
  size_t unrel[EV_MAX], n_unrel;
  size_t unrel_bytes, max_unrel_bytes;
  uint64_t unrel_us;
  int stalls;    /* times the fetcher stopped with segments left: the cap or the target */
  bool released; /* in the last pass */
  int errors, last_err, expired;
  int samples;
  uint64_t sample_bytes;
  bool hand_over;     /* fetcher_handed for every chunk, as the player does */
  int handed;         /* chunks whose bytes fetcher_handed freed */
  bool free_in_chunk; /* fetcher_free from the next chunk callback */
  int after_free;     /* callbacks after that: must stay 0 */
  bool freed;
  uint32_t rounds; /* the fetcher's retry rounds (start()); 0: the default */
};

static uint64_t us_of(uint64_t t, uint32_t ts) {
  return t / ts * 1000000u + t % ts * 1000000u / ts;
}

static void on_chunk(void *ud, const struct fetcher_chunk *c) {
  struct got *g = ud;
  if (g->freed) {
    g->after_free++;
    return;
  }
  assert_true(g->n_ev < EV_MAX);
  g->ev[g->n_ev++] = (struct ev){c->kind, c->reason, c->rep, c->index, c->len};
  /* Bit-exact against the catalog file of the chunk's session and rep. */
  const struct file *fl = file_of(c->rep);
  assert_true(c->offset + c->len <= fl->len);
  assert_memory_equal(c->data, fl->data + c->offset, c->len);
  /* In order: an init before the segment it names, then each segment once. */
  assert_int_equal(c->index, g->expect);
  assert_false(g->end);
  if (c->kind == FETCHER_SEGMENT) {
    const struct manifest_segment *s = &c->rep->segments[c->index];
    assert_int_equal(c->offset, s->first);
    assert_int_equal(c->len, s->last - s->first + 1);
    assert_int_equal(c->start, s->start);
    assert_int_equal(c->duration, s->duration);
    assert_int_equal(c->last, c->index + 1 == c->rep->n_segments);
    g->expect++;
    g->end = c->last;
    g->unrel_us += us_of(c->duration, c->timescale);
  } else {
    assert_int_equal(c->offset, c->rep->init.first);
    assert_int_equal(c->len, c->rep->init.last - c->rep->init.first + 1);
    assert_int_equal(c->new_init, c->reason != FETCHER_INIT_FIRST);
  }
  assert_true(g->n_unrel < EV_MAX);
  g->unrel[g->n_unrel++] = g->n_ev - 1;
  g->unrel_bytes += c->len;
  if (g->unrel_bytes > g->max_unrel_bytes)
    g->max_unrel_bytes = g->unrel_bytes;
  /* The bound: never more than the cap plus one segment unreleased. */
  assert_true(g->unrel_bytes <= g->cap + g->seg_max);
  assert_true(fetcher_held_bytes(g->f) <= g->cap + g->seg_max);
  assert_int_equal(fetcher_buffered_ms(g->f), g->unrel_us / 1000u);
  if (g->hand_over) {
    /* The player copied it into the engine: the fetcher's bytes go now (the chunk's data
     * pointer is NULL and LSan finds no leak), its accounting stays until the release. */
    size_t held = fetcher_held_bytes(g->f);
    assert_int_equal(fetcher_handed(g->f, c->kind, c->index), 0);
    assert_null(c->data);
    assert_int_equal(fetcher_handed(g->f, c->kind, c->index), -ENOENT); /* already freed */
    assert_int_equal(fetcher_held_bytes(g->f), held);
    assert_int_equal(fetcher_buffered_ms(g->f), g->unrel_us / 1000u);
    g->handed++;
  }
  if (g->free_in_chunk) {
    fetcher_free(g->f);
    g->freed = true;
  }
}

static void on_expired(void *ud) {
  struct got *g = ud;
  if (g->freed)
    g->after_free++;
  g->expired++;
}

static void on_error(void *ud, int err) {
  struct got *g = ud;
  if (g->freed)
    g->after_free++;
  g->errors++;
  g->last_err = err;
}

static void on_throughput(void *ud, uint64_t bytes, uint64_t usec) {
  struct got *g = ud;
  (void)usec;
  if (g->freed)
    g->after_free++;
  g->samples++;
  g->sample_bytes += bytes;
}

/* Release the oldest unreleased segment (with the init before it). */
static void release_oldest(struct got *g) {
  size_t k = 0;
  while (k < g->n_unrel && g->ev[g->unrel[k]].kind != FETCHER_SEGMENT)
    k++;
  assert_true(k < g->n_unrel);
  const struct ev *e = &g->ev[g->unrel[k]];
  assert_int_equal(fetcher_release(g->f, e->index), 0);
  /* What went with it: every chunk of that index (the init before it too). */
  size_t w = 0;
  for (size_t i = 0; i < g->n_unrel; i++) {
    const struct ev *x = &g->ev[g->unrel[i]];
    if (x->index == e->index) {
      g->unrel_bytes -= x->len;
      if (x->kind == FETCHER_SEGMENT)
        g->unrel_us -= us_of(x->rep->segments[x->index].duration, x->rep->timescale);
    } else {
      g->unrel[w++] = g->unrel[i];
    }
  }
  g->n_unrel = w;
  assert_int_equal(fetcher_held_bytes(g->f), g->unrel_bytes);
  assert_int_equal(fetcher_release(g->f, e->index), -ENOENT);
}

/* One loop pass, then the media thread's part: when the fetcher holds nothing but what it
 * handed out (nothing in flight, nothing waiting to be handed out) and nothing was
 * released in the pass before, it has stopped on the cap or the target (or the end):
 * release the oldest segment. */
static void pass(struct got *g) {
  assert_true(loop_run_once(L, 20) >= 0);
  if (g->freed)
    return;
  /* The bound, with the request in flight's buffers too. */
  assert_true(fetcher_held_bytes(g->f) <= g->cap + g->seg_max);
  if (g->errors || g->expired)
    return;
  if (!g->released && g->n_unrel > 0 && fetcher_held_bytes(g->f) == g->unrel_bytes) {
    if (fetcher_next_index(g->f) < g->ev[g->unrel[0]].rep->n_segments)
      g->stalls++;
    release_oldest(g);
    g->released = true;
  } else {
    g->released = false;
  }
}

/* Run until the last segment came, an error, an expiry or a number of segments. */
static void run(struct got *g, size_t until_index) {
  uint64_t end = clock_mono_usec() + WAIT_GUARD_USEC;
  while (!g->end && !g->errors && !g->expired && !g->freed && g->expect < until_index) {
    assert_true(clock_mono_usec() < end);
    pass(g);
  }
}

static struct fetcher *start(struct got *g, const struct sess *s, const struct manifest_rep *rep,
                             size_t cap, uint32_t target_ms) {
  struct fetcher_config cfg;
  fetcher_config_init(&cfg);
  cfg.cap_bytes = cap;
  cfg.target_ms = target_ms;
  cfg.retry_rounds = g->rounds ? g->rounds : FETCHER_RETRY_ROUNDS_DEFAULT;
  cfg.retry_base_ms = 20; /* net/http's are 10 .. 50 ms here (client()) */
  cfg.retry_cap_ms = 50;
  cfg.expires_ms = s->audio->expires_ms;
  struct fetcher_callbacks cb = {.on_chunk = on_chunk,
                                 .on_expired = on_expired,
                                 .on_error = on_error,
                                 .on_throughput = on_throughput,
                                 .userdata = g};
  g->cap = cap;
  for (size_t i = 0; i < rep->n_segments; i++) {
    size_t l = (size_t)(rep->segments[i].last - rep->segments[i].first + 1);
    if (l > g->seg_max)
      g->seg_max = l;
  }
  register_rep(s, rep);
  assert_int_equal(
      fetcher_new(L, H, &cfg, &cb, rep, s->audio->segment.h, s->audio->segment.n, 0, &g->f), 0);
  assert_int_equal(g->n_ev, 0); /* nothing from inside fetcher_new */
  return g->f;
}

/* start() with the default cap and a 30 s target (neither stops it here), then run() to
 * the end (or an error or an expiry). */
static void fetch_all(struct got *g, const struct sess *s, const struct manifest_rep *rep) {
  start(g, s, rep, FETCHER_CAP_DEFAULT, 30000);
  run(g, SIZE_MAX);
}

/* The fetcher came to the end without an error: one init, then every segment once. */
static void assert_whole(const struct got *g, const struct manifest_rep *rep) {
  assert_int_equal(g->errors, 0);
  assert_true(g->end);
  assert_int_equal(g->n_ev, rep->n_segments + 1);
}

/* The byte cap stopped the fetcher before the end (at least three times), and it filled
 * up to the cap. */
static void assert_cap_stopped(const struct got *g, size_t cap) {
  assert_true(g->stalls >= 3);
  assert_true(g->max_unrel_bytes > cap - g->seg_max);
}

/* Rebase g's fetcher on rep of s2 (a fresh audio object) and run it to the end: no
 * error, no expiry. The index in g->ev of the first chunk after the rebase. */
static size_t rebase_and_run(struct got *g, const struct sess *s2, const struct manifest_rep *rep) {
  g->expired = 0;
  assert_int_equal(
      fetcher_rebase(g->f, rep, s2->audio->segment.h, s2->audio->segment.n, s2->audio->expires_ms),
      0);
  size_t ev0 = g->n_ev;
  run(g, SIZE_MAX);
  assert_int_equal(g->errors, 0);
  assert_int_equal(g->expired, 0);
  assert_true(g->end);
  return ev0;
}

/* A fault rule for the requests of rep's file of session s: fields are the rule's own
 * ("\"status\": 503, \"count\": 6"); seg >= 0 limits it to the request of exactly that
 * segment's range, seg < 0 leaves any request of the file to it. */
static void fault_on(const struct sess *s, const struct manifest_rep *rep, int seg,
                     const char *fields) {
  char range[128] = "", fault[512];
  if (seg >= 0)
    snprintf(
        range, sizeof(range), " \"header\": {\"name\": \"range\", \"value\": \"bytes=%llu-%llu\"},",
        (unsigned long long)rep->segments[seg].first, (unsigned long long)rep->segments[seg].last);
  int n = snprintf(fault, sizeof(fault), "{\"path\": \"/cdn/%s/%s.mp4\",%s %s}", s->rid, rep->id,
                   range, fields);
  assert_true(n > 0 && (size_t)n < sizeof(fault));
  add_fault(fault);
}

/* What a request of the log asked for: "bytes=a-b". */
static void range_of(const cJSON *e, uint64_t *a, uint64_t *b) {
  unsigned long long x = 0, y = 0;
  assert_int_equal(sscanf(str(e, "range"), "bytes=%llu-%llu", &x, &y), 2);
  *a = x;
  *b = y;
}

/* A request of the log asked for exactly bytes first..last. */
static void assert_range(const cJSON *e, uint64_t first, uint64_t last) {
  uint64_t a, b;
  range_of(e, &a, &b);
  assert_int_equal(a, first);
  assert_int_equal(b, last);
}

/* Every request of the log carried the session's segment headers. */
static void assert_segment_headers(const cJSON *log, const struct sess *s) {
  const cJSON *e;
  cJSON_ArrayForEach(e, log) {
    const cJSON *h = cJSON_GetObjectItem(e, "headers");
    assert_string_equal(str(h, "x-amz-music-rid"), s->rid);
    assert_non_null(strstr(str(h, "cookie"), s->rid));
  }
}

/* ---------------------------------------------------------------- one test's fixture */

/* A test's session s (a new session of TRACK, opened before the test), a second one s2
 * for the tests that rebase, and the fetcher's consumer g; the fetcher, the catalog files
 * and the sessions are freed after the test, also when an assertion ended it early. */
struct fx {
  struct sess s, s2;
  struct got g;
};

static int fx_setup(void **state) {
  struct fx *f = calloc(1, sizeof(*f));
  assert_non_null(f);
  *state = f;
  open_sess(&f->s);
  return 0;
}

static int fx_teardown(void **state) {
  struct fx *f = *state;
  if (!f->g.freed) /* else it freed itself from on_chunk */
    fetcher_free(f->g.f);
  files_free();
  close_sess(&f->s);
  close_sess(&f->s2);
  free(f);
  return 0;
}

/* ---------------------------------------------------------------- the tests */

/* The whole track, bit-exact; init and first segment in one request; the byte cap holds
 * and was what stopped the fetcher (the target is far away); throughput per transfer. */
static void test_whole_track(void **state) {
  struct fx *f = *state;
  struct got *g = &f->g;
  const struct manifest_rep *rep = rep_of(&f->s, REP_HD);
  size_t cap = 1u << 20;
  start(g, &f->s, rep, cap, 1000000);
  run(g, SIZE_MAX);
  assert_int_equal(g->errors, 0);
  assert_int_equal(g->expired, 0);
  assert_true(g->end);
  assert_int_equal(g->expect, rep->n_segments);
  assert_int_equal(g->n_ev, rep->n_segments + 1); /* one init, every segment once */
  assert_int_equal(g->ev[0].kind, FETCHER_INIT);
  assert_int_equal(g->ev[0].reason, FETCHER_INIT_FIRST);
  assert_cap_stopped(g, cap);

  cJSON *log = cdn_log(&f->s, REP_HD);
  assert_int_equal(cJSON_GetArraySize(log),
                   rep->n_segments); /* no request of its own for the init */
  /* init, the sidx between, segment 0 */
  assert_range(cJSON_GetArrayItem(log, 0), rep->init.first, rep->segments[0].last);
  uint64_t a, b, total = 0;
  for (int i = 0; i < cJSON_GetArraySize(log); i++) {
    const cJSON *e = cJSON_GetArrayItem(log, i);
    assert_int_equal((int)num(e, "status"), 206);
    if (i > 0)
      assert_range(e, rep->segments[i].first, rep->segments[i].last);
    range_of(e, &a, &b);
    total += b - a + 1;
  }
  assert_segment_headers(log, &f->s);
  cJSON_Delete(log);
  assert_int_equal(g->samples, rep->n_segments);
  assert_int_equal(g->sample_bytes, total);
}

/* Chunks handed over (their bytes freed at once, fetcher_handed) still count under the cap
 * until released: the fetcher stops on the cap as often as when it kept the bytes, and
 * never holds more than the cap plus one segment, counting what it handed over. */
static void test_handed_still_counted(void **state) {
  struct fx *f = *state;
  struct got *g = &f->g;
  const struct manifest_rep *rep = rep_of(&f->s, REP_HD);
  g->hand_over = true;
  size_t cap = 1u << 20;
  start(g, &f->s, rep, cap, 1000000);
  assert_int_equal(fetcher_handed(g->f, FETCHER_SEGMENT, 0), -ENOENT); /* nothing handed out */
  run(g, SIZE_MAX);
  assert_int_equal(g->errors, 0);
  assert_true(g->end);
  assert_int_equal(g->handed, (int)rep->n_segments + 1); /* every segment and the init */
  assert_cap_stopped(g, cap);                            /* as before */
  assert_true(g->max_unrel_bytes <= cap + g->seg_max);
  assert_int_equal(fetcher_held_bytes(g->f), g->unrel_bytes); /* released ones are gone */
  assert_int_equal(fetcher_handed(NULL, FETCHER_SEGMENT, 0), -EINVAL);
  /* The teardown's fetcher_free frees the chunks handed over and not released, without a
   * double free. */
}

/* The connection closes in the middle of segment 1: the rest of it is asked for from the
 * first byte not received, and the segment arrives whole. */
static void test_drop_resume(void **state) {
  struct fx *f = *state;
  const struct manifest_rep *rep = rep_of(&f->s, REP_HD);
  fault_on(&f->s, rep, 1, "\"close_after_bytes\": 100000, \"count\": 1");
  fetch_all(&f->g, &f->s, rep);
  assert_whole(&f->g, rep);
  cJSON *log = cdn_log(&f->s, REP_HD);
  assert_int_equal(cJSON_GetArraySize(log), rep->n_segments + 1);
  const cJSON *cut = cJSON_GetArrayItem(log, 1), *rest = cJSON_GetArrayItem(log, 2);
  assert_false(cJSON_IsTrue(cJSON_GetObjectItem(cut, "complete")));
  assert_range(rest, rep->segments[1].first + 100000, rep->segments[1].last);
  assert_int_equal((int)num(rest, "status"), 206);
  cJSON_Delete(log);
}

/* 503s for segment 2: six in a row (net/http gives up after four attempts, the
 * fetcher's second round gets two more and then the segment), bit-exact. */
static void test_503_burst(void **state) {
  struct fx *f = *state;
  const struct manifest_rep *rep = rep_of(&f->s, REP_HD);
  fault_on(&f->s, rep, 2, "\"status\": 503, \"count\": 6");
  fetch_all(&f->g, &f->s, rep);
  assert_whole(&f->g, rep);
  cJSON *log = cdn_log(&f->s, REP_HD);
  assert_int_equal(cJSON_GetArraySize(log), rep->n_segments + 6);
  for (int i = 2; i < 8; i++)
    assert_int_equal((int)num(cJSON_GetArrayItem(log, i), "status"), 503);
  assert_int_equal((int)num(cJSON_GetArrayItem(log, 8), "status"), 206);
  cJSON_Delete(log);
}

/* 503s without end, one round allowed: net/http's four attempts twice, then on_error
 * with the status error; nothing more is asked for. */
static void test_503_forever(void **state) {
  struct fx *f = *state;
  struct got *g = &f->g;
  const struct manifest_rep *rep = rep_of(&f->s, REP_HD);
  fault_on(&f->s, rep, 1, "\"status\": 503, \"count\": 50");
  g->rounds = 1;
  fetch_all(g, &f->s, rep);
  assert_int_equal(g->errors, 1);
  assert_int_equal(g->last_err, -AMP_EHTTP);
  assert_int_equal(g->expect, 1);
  for (int i = 0; i < 5; i++)
    assert_true(loop_run_once(L, 10) >= 0);
  cJSON *log = cdn_log(&f->s, REP_HD);
  assert_int_equal(cJSON_GetArraySize(log), 1 + 8);
  cJSON_Delete(log);
}

/* The first request (init, sidx, segment 0) cut after every 100000 bytes five times:
 * net/http resumes each cut from the first byte not received and gives up after four
 * attempts; the fetcher's next round goes on from there, with what arrived kept; init
 * and segment are whole and bit-exact. */
static void test_drops_across_rounds(void **state) {
  struct fx *f = *state;
  const struct manifest_rep *rep = rep_of(&f->s, REP_HD);
  fault_on(&f->s, rep, -1, "\"close_after_bytes\": 100000, \"count\": 5");
  fetch_all(&f->g, &f->s, rep);
  assert_whole(&f->g, rep);
  cJSON *log = cdn_log(&f->s, REP_HD);
  assert_int_equal(cJSON_GetArraySize(log), rep->n_segments + 5);
  for (int i = 0; i < 6; i++) {
    const cJSON *e = cJSON_GetArrayItem(log, i);
    assert_range(e, rep->init.first + 100000u * (uint64_t)i, rep->segments[0].last);
    assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItem(e, "complete")), i == 5);
  }
  cJSON_Delete(log);
}

/* A server that answers segment 3's ranged GET with the whole file (200): net/http hands
 * over none of it (-AMP_ENORANGE), and the fetcher asks again without a Range, reads the
 * file from its start, keeps segment 3's bytes and stops the transfer after them; the
 * segments after it come the same way. No error; every segment bit-exact (on_chunk); the
 * requests from the faulted one on are 200s, and none of them reads past what it needs
 * (the last one ends at the file's end, the others are cut). */
static void test_ignore_range(void **state) {
  struct fx *f = *state;
  struct got *g = &f->g;
  const struct manifest_rep *rep = rep_of(&f->s, REP_HD);
  fault_on(&f->s, rep, 3, "\"ignore_range\": true, \"count\": 1");
  fetch_all(g, &f->s, rep);
  assert_int_equal(g->errors, 0);
  assert_true(g->end);
  assert_int_equal(g->expect, rep->n_segments);
  cJSON *log = cdn_log(&f->s, REP_HD);
  int n = cJSON_GetArraySize(log), partial = 0, whole = 0;
  for (int i = 0; i < n; i++) {
    long st = (long)num(cJSON_GetArrayItem(log, i), "status");
    if (st == 206) {
      assert_int_equal(whole, 0); /* no Range request after the first 200 */
      partial++;
    } else {
      assert_int_equal(st, 200);
      whole++;
    }
  }
  assert_int_equal(partial, 3);                          /* init + 0, 1, 2 */
  assert_int_equal(whole, (int)rep->n_segments - 3 + 1); /* the faulted one, then 3.. */
  cJSON_Delete(log);
}

/* The CDN token's exp passes after segment 1: a 403, on_expired once; a rebase on a rep
 * of another layout is refused; the rebase on a fresh audio object (the other key
 * variant) hands out that session's init and continues at the same segment, bit-exact
 * against that variant's file. Then the audio object's expires passing on our clock
 * calls on_expired without a request. */
static void test_expired(void **state) {
  struct fx *f = *state;
  struct got *g = &f->g;
  struct sess *s1 = &f->s, *s2 = &f->s2;
  const struct manifest_rep *rep1 = rep_of(s1, REP_HD);
  start(g, s1, rep1, FETCHER_CAP_DEFAULT, 30000);
  run(g, 2); /* segments 0 and 1 */
  cJSON_Delete(ctrl(H, HTTP_POST, "/_mock/clock", "{\"advance\": 400}"));
  run(g, SIZE_MAX);
  assert_int_equal(g->errors, 0);
  assert_int_equal(g->expired, 1);
  size_t at = g->expect; /* where it stopped */
  assert_true(at >= 2 && at < rep1->n_segments);
  assert_int_equal(fetcher_next_index(g->f), at);
  cJSON *log = cdn_log(s1, REP_HD);
  int n1 = cJSON_GetArraySize(log);
  assert_int_equal((int)num(cJSON_GetArrayItem(log, n1 - 1), "status"), 403);
  cJSON_Delete(log);

  open_sess(s2);
  assert_string_not_equal(s1->variant, s2->variant);
  /* Another layout (the SD rep has as many segments, the short rep of another track
   * would not): here a rep whose segment list is cut. */
  const struct manifest_rep *rep2 = rep_of(s2, REP_HD);
  struct manifest_rep cut = *rep2;
  cut.n_segments = rep2->n_segments - 1;
  assert_int_equal(
      fetcher_rebase(g->f, &cut, s2->audio->segment.h, s2->audio->segment.n, s2->audio->expires_ms),
      -EINVAL);
  register_rep(s2, rep2);
  /* The variants differ where it continues (past the clear lead): comparing against the
   * right file matters. */
  const struct file *f1 = file_of(rep1), *f2 = file_of(rep2);
  const struct manifest_segment *last = &rep2->segments[rep2->n_segments - 1];
  assert_memory_not_equal(f1->data + last->first, f2->data + last->first,
                          (size_t)(last->last - last->first + 1));
  size_t ev0 = rebase_and_run(g, s2, rep2);
  assert_int_equal(g->ev[ev0].kind, FETCHER_INIT);
  assert_int_equal(g->ev[ev0].reason, FETCHER_INIT_REBASE);
  assert_ptr_equal(g->ev[ev0].rep, rep2);
  assert_int_equal(g->ev[ev0].index, at);
  for (size_t i = ev0 + 1; i < g->n_ev; i++)
    assert_ptr_equal(g->ev[i].rep, rep2);
  log = cdn_log(s2, REP_HD);
  /* The new init on its own (it is far from segment `at`), then the rest. */
  assert_int_equal(cJSON_GetArraySize(log), 1 + rep2->n_segments - at);
  assert_range(cJSON_GetArrayItem(log, 0), rep2->init.first, rep2->init.last);
  uint64_t a, b;
  range_of(cJSON_GetArrayItem(log, 1), &a, &b);
  assert_int_equal(a, rep2->segments[at].first);
  assert_segment_headers(log, s2);
  cJSON_Delete(log);

  /* The audio object's expires, on our clock: on_expired before any request. */
  assert_int_equal(fetcher_seek(g->f, 0), 0);
  g->n_unrel = 0;
  g->unrel_bytes = g->unrel_us = 0;
  g->expect = 0;
  g->end = false;
  int64_t ahead = s2->audio->expires_ms * 1000 - clock_wall_usec() + 1000000;
  assert_int_equal(clock_advance(0, ahead), 0);
  log = cdn_log(s2, REP_HD);
  int n2 = cJSON_GetArraySize(log);
  cJSON_Delete(log);
  run(g, SIZE_MAX);
  clock_reset_wall();
  assert_int_equal(g->expired, 1);
  assert_int_equal(g->expect, 0);
  log = cdn_log(s2, REP_HD);
  assert_int_equal(cJSON_GetArraySize(log), n2);
  cJSON_Delete(log);
}

/* A 410 for segment 1 is an expiry too: on_expired, and a rebase on a fresh audio
 * object continues at segment 1, bit-exact against the new session's variant. */
static void test_gone(void **state) {
  struct fx *f = *state;
  struct got *g = &f->g;
  const struct manifest_rep *rep1 = rep_of(&f->s, REP_HD);
  fault_on(&f->s, rep1, 1, "\"status\": 410, \"count\": 1");
  fetch_all(g, &f->s, rep1);
  assert_int_equal(g->errors, 0);
  assert_int_equal(g->expired, 1);
  assert_int_equal(g->expect, 1);
  open_sess(&f->s2);
  const struct manifest_rep *rep2 = rep_of(&f->s2, REP_HD);
  register_rep(&f->s2, rep2);
  rebase_and_run(g, &f->s2, rep2);
  assert_int_equal(g->n_ev, rep1->n_segments + 2);
  assert_int_equal(g->ev[2].reason, FETCHER_INIT_REBASE);
  assert_int_equal(g->ev[2].index, 1);
  assert_ptr_equal(g->ev[3].rep, rep2);
}

/* ABR: after segment 1 the fetcher switches from FLAC to Opus: the Opus init is handed
 * out (FETCHER_INIT_SWITCH) before the first segment not yet requested, which then comes
 * from the Opus file at the same index; every index once, in order. */
static void test_switch(void **state) {
  struct fx *f = *state;
  struct got *g = &f->g;
  const struct manifest_rep *hd = rep_of(&f->s, REP_HD), *sd = rep_of(&f->s, REP_SD);
  start(g, &f->s, hd, FETCHER_CAP_DEFAULT, 30000);
  register_rep(&f->s, sd);
  run(g, 2);
  assert_int_equal(fetcher_switch(g->f, sd), 0);
  run(g, SIZE_MAX);
  assert_int_equal(g->errors, 0);
  assert_true(g->end);
  size_t k = 0;
  while (k < g->n_ev && !(g->ev[k].kind == FETCHER_INIT && g->ev[k].reason == FETCHER_INIT_SWITCH))
    k++;
  assert_true(k < g->n_ev);
  assert_ptr_equal(g->ev[k].rep, sd);
  size_t at = g->ev[k].index;
  assert_true(at >= 2 && at < hd->n_segments);
  for (size_t i = 1; i < k; i++)
    assert_ptr_equal(g->ev[i].rep, hd);
  for (size_t i = k; i < g->n_ev; i++)
    assert_ptr_equal(g->ev[i].rep, sd);
  assert_int_equal(g->n_ev, hd->n_segments + 2); /* two inits */
  cJSON *log = cdn_log(&f->s, REP_SD);
  assert_int_equal(cJSON_GetArraySize(log), 1 + sd->n_segments - at); /* its init alone */
  assert_range(cJSON_GetArrayItem(log, 0), sd->init.first, sd->init.last);
  cJSON_Delete(log);
  /* A rep of another layout is refused. */
  struct manifest_rep other = *sd;
  other.n_segments = 3;
  assert_int_equal(fetcher_switch(g->f, &other), -EINVAL);
}

/* fetcher_free from inside on_chunk: no callback after it, the request in flight
 * cancelled (ASan sees any use after free). */
static void test_free_in_callback(void **state) {
  struct fx *f = *state;
  struct got *g = &f->g;
  start(g, &f->s, rep_of(&f->s, REP_HD), FETCHER_CAP_DEFAULT, 30000);
  run(g, 1);
  g->free_in_chunk = true;
  run(g, SIZE_MAX);
  assert_true(g->freed);
  for (int i = 0; i < 20; i++)
    assert_true(loop_run_once(L, 10) >= 0);
  assert_int_equal(g->after_free, 0);
}

/* ---------------------------------------------------------------- main */

static int setup(void **state) {
  (void)state;
  if (harness_setup("fetcher", NULL, 0) < 0)
    return -1;
  mockproc_stop(mock);
  if (strlen(catalog) >= sizeof(root))
    return -1;
  memcpy(root, catalog, strlen(catalog) + 1);
  if (!(mock = start_mock(NULL, NULL)))
    return -1;
  H = client(3);
  harness_lwa_token(token, sizeof(token));
  return 0;
}

static int teardown(void **state) {
  (void)state;
  http_free(H);
  harness_teardown();
  return 0;
}

#define FX_TEST(t) cmocka_unit_test_setup_teardown(t, fx_setup, fx_teardown)

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s SRC_DIR CATALOG_DIR\n", argv[0]);
    return 2;
  }
  src_dir = argv[1];
  catalog = argv[2];
  log_set_levels("debug");
  const struct CMUnitTest tests[] = {
      FX_TEST(test_whole_track),
      FX_TEST(test_handed_still_counted),
      FX_TEST(test_drop_resume),
      FX_TEST(test_503_burst),
      FX_TEST(test_503_forever),
      FX_TEST(test_drops_across_rounds),
      FX_TEST(test_ignore_range),
      FX_TEST(test_expired),
      FX_TEST(test_gone),
      FX_TEST(test_switch),
      FX_TEST(test_free_in_callback),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
