/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloud/api against the mock's Device API (tools/mock/ampmock/modules/api.py) over TLS on
 * loopback, with a real cloud/lwa holding tokens the mock issued and the real device id
 * of cloud/deviceid: browsing from the root, walking an album across its chunks, a
 * playlist (an explicit track, a track with an error report, a 409), a station past its
 * first chunk, audio objects, a 401 recovered with exactly one refresh, a second 401,
 * and the playback headers on every call as the mock's request log shows them.
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
#include <sys/stat.h>

#include <cmocka.h>

#include "cloud/api.h"
#include "cloud/deviceid.h"
#include "cloud/lwa.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/statefile.h"
#include "http_harness.h"

#define CLIENT_ID "amzn1.application-oa2-client.ampdtest"

static const char *catalog;
static struct http *H;
static char state_dir[PATH_MAX];
static char device_id[DEVICEID_LEN + 1];
static double base_seq;

/* ---------------------------------------------------------------- the mock's side */

/* The log entries since the test began whose path starts with prefix (caller frees). */
static cJSON *requests_since(const char *prefix) {
  cJSON *all = ctrl(H, HTTP_GET, "/_mock/requests", NULL), *out = cJSON_CreateArray(), *e;
  cJSON_ArrayForEach(e, all) {
    const char *p = str(e, "path");
    if (num(e, "seq") > base_seq && p && strncmp(p, prefix, strlen(prefix)) == 0)
      cJSON_AddItemToArray(out, cJSON_Duplicate(e, true));
  }
  cJSON_Delete(all);
  return out;
}

/* Forget what earlier tests did: the log position, faults, the mock's clock stays. */
static void begin_test(void) {
  cJSON_Delete(ctrl(H, HTTP_DELETE, "/_mock/faults", NULL));
  cJSON *all = ctrl(H, HTTP_GET, "/_mock/requests", NULL), *e;
  cJSON_ArrayForEach(e, all) {
    if (num(e, "seq") > base_seq)
      base_seq = num(e, "seq");
  }
  cJSON_Delete(all);
}

/* Refresh requests (grant_type=refresh_token) since the test began: the token endpoint
 * sees only refreshes here (nothing pairs), so its requests are counted. */
static int refreshes(void) {
  cJSON *l = requests_since("/lwa/auth/o2/token");
  int n = cJSON_GetArraySize(l);
  cJSON_Delete(l);
  return n;
}

/* ---------------------------------------------------------------- ampd's side */

struct call {
  int done, err;
  struct api_reply reply;
};

static void on_call(void *ud, int err, struct api_reply *reply) {
  struct call *c = ud;
  c->done++;
  c->err = err;
  c->reply = *reply;
}

static void run_until(const int *flag) {
  uint64_t end = clock_mono_usec() + WAIT_GUARD_USEC;
  while (!*flag) {
    assert_true(clock_mono_usec() < end);
    assert_true(loop_run_once(L, 100) >= 0);
  }
}

/* GET url as kind; the reply's objects belong to the caller. */
static int get(struct api *a, enum api_kind kind, const char *url, struct api_reply *out) {
  struct call c = {0};
  assert_int_equal(api_get(a, kind, url, on_call, &c, NULL), 0);
  assert_int_equal(c.done, 0); /* never from inside api_get */
  run_until(&c.done);
  assert_int_equal(c.done, 1);
  *out = c.reply;
  return c.err;
}

static struct apidoc *get_doc(struct api *a, const char *url) {
  struct api_reply r;
  assert_int_equal(get(a, API_DOCUMENT, url, &r), 0);
  assert_non_null(r.doc);
  return r.doc;
}

/* Resolve ref of d to an absolute URL in out. */
static void resolve_url(const struct apidoc *d, const char *ref, char *out, size_t n) {
  enum apidoc_ref_kind kind;
  assert_int_equal(apidoc_resolve(d, ref, &kind, out, n), 0);
  assert_int_equal(kind, APIDOC_REF_URL);
}

/* The document behind the summary titled `title` of node document d (NULL: the first). */
static struct apidoc *follow(struct api *a, const struct apidoc *d, const char *title,
                             bool *ret_playable) {
  const struct apidoc_node *n = NULL;
  assert_int_equal(apidoc_node(d, apidoc_result(d), &n), 0);
  for (size_t i = 0; i < n->n_items; i++) {
    const struct apidoc_summary *m = NULL;
    assert_int_equal(apidoc_summary(d, n->items[i], &m), 0);
    if (!title || (m->title && strcmp(m->title, title) == 0)) {
      char url[HTTP_URL_MAX];
      resolve_url(d, m->ref, url, sizeof(url));
      if (ret_playable)
        *ret_playable = m->playable;
      return get_doc(a, url);
    }
  }
  fail_msg("no item \"%s\"", title ? title : "(first)");
  return NULL;
}

/* The container named item under the root's section: browse root -> section -> item. */
static struct apidoc *container(struct api *a, const char *section, const char *item) {
  struct apidoc *root = get_doc(a, api_root(a));
  bool playable = true;
  struct apidoc *sec = follow(a, root, section, &playable);
  assert_false(playable);
  apidoc_free(root);
  struct apidoc *c = follow(a, sec, item, &playable);
  assert_true(playable);
  apidoc_free(sec);
  return c;
}

/* Copies of what a cursor gave. */
#define WALK_MAX 16
struct walked {
  int n, err;
  char tag[WALK_MAX][64], title[WALK_MAX][128], audio[WALK_MAX][HTTP_URL_MAX];
  char error[WALK_MAX][HTTP_URL_MAX], collector[WALK_MAX][HTTP_URL_MAX];
  bool is_explicit[WALK_MAX], auto_skip[WALK_MAX];
  uint64_t chunk[WALK_MAX];
  int done;
};

static void on_track(void *ud, int err, const struct api_track *t) {
  struct walked *w = ud;
  w->done = 1;
  w->err = err;
  if (err < 0)
    return;
  assert_true(w->n < WALK_MAX);
  int i = w->n++;
  snprintf(w->tag[i], sizeof(w->tag[i]), "%s", t->track_tag ? t->track_tag : "");
  snprintf(w->title[i], sizeof(w->title[i]), "%s", t->title ? t->title : "");
  snprintf(w->audio[i], sizeof(w->audio[i]), "%s", t->audio_url ? t->audio_url : "");
  snprintf(w->error[i], sizeof(w->error[i]), "%s", t->error_url ? t->error_url : "");
  snprintf(w->collector[i], sizeof(w->collector[i]), "%s",
           t->collector_url ? t->collector_url : "");
  w->is_explicit[i] = t->is_explicit;
  w->auto_skip[i] = t->auto_skip;
  w->chunk[i] = t->chunk_no;
}

/* Walk up to max tracks (or to the end) of the container document doc. */
static void walk(struct api *a, struct apidoc *doc, int max, struct walked *w) {
  memset(w, 0, sizeof(*w));
  struct api_cursor *c = NULL;
  assert_int_equal(api_cursor_new(a, doc, &c), 0);
  while (w->n < max) {
    w->done = 0;
    assert_int_equal(api_cursor_next(c, on_track, w), 0);
    assert_int_equal(api_cursor_next(c, on_track, w), -EALREADY);
    run_until(&w->done);
    if (w->err < 0)
      break;
  }
  api_cursor_free(c);
}

static struct lwa *linked_lwa(void) {
  /* Tokens as a finished pairing leaves them: issued by the mock, in the token file. */
  cJSON *t = ctrl(H, HTTP_POST, "/_mock/lwa/issue", "{}");
  char file[8192];
  int n = snprintf(file, sizeof(file),
                   "{\"version\": 1, \"refresh_token\": \"%s\", \"access_token\": \"%s\", "
                   "\"expires_at\": %lld}",
                   str(t, "refresh_token"), str(t, "access_token"),
                   (long long)(clock_wall_usec() / 1000000 + 3600));
  cJSON_Delete(t);
  assert_true(n > 0 && (size_t)n < sizeof(file));
  assert_int_equal(statefile_write(state_dir, LWA_TOKEN_FILE, file, (size_t)n), 0);
  char base[256];
  url_of(base, sizeof(base), mock, "localhost", "/lwa");
  struct lwa_config cfg = {.base_url = base, .client_id = CLIENT_ID, .state_dir = state_dir};
  struct lwa *w = NULL;
  assert_int_equal(lwa_new(L, H, &cfg, NULL, NULL, &w), 0);
  assert_int_equal(lwa_state(w), LWA_LINKED);
  return w;
}

static struct api *make_api(struct lwa *w, bool has_explicit) {
  char base[256];
  url_of(base, sizeof(base), mock, "localhost", "/api/");
  struct api_config cfg = {.base_url = base,
                           .device_id = device_id,
                           .capability = "STD_RES,HI_FI,HI_RES",
                           .has_explicit = has_explicit,
                           .accept_language = "en-GB",
                           .backoff_ms = 20};
  struct api *a = NULL;
  assert_int_equal(api_new(L, H, w, &cfg, &a), 0);
  return a;
}

/* Every request to prefix since the test began carried the playback headers with the
 * values configured (the mock refuses a request without them; this checks the values
 * too) and was answered without a refusal. Returns how many there were. */
static int assert_playback_headers(const char *prefix, const char *explicit_value) {
  cJSON *l = requests_since(prefix), *e;
  int n = 0;
  cJSON_ArrayForEach(e, l) {
    const cJSON *h = cJSON_GetObjectItem(e, "headers");
    const char *auth = str(h, "authorization");
    assert_non_null(auth);
    assert_true(strncmp(auth, "Bearer Atza|", 12) == 0);
    assert_string_equal(str(h, "x-amzn-audio-drmtype"), "WIDEVINE");
    assert_string_equal(str(h, "x-amzn-audio-device-capability"), "STD_RES,HI_FI,HI_RES");
    assert_string_equal(str(h, "x-amzn-device-id"), device_id);
    assert_string_equal(str(h, "hasexplicit"), explicit_value);
    assert_string_equal(str(h, "accept-language"), "en-GB");
    assert_string_equal(str(h, "accept"), "application/json");
    assert_true(strncmp(str(h, "user-agent"), "ampd/", 5) == 0);
    const cJSON *why = cJSON_GetObjectItem(e, "why");
    assert_true(!why || cJSON_IsNull(why));
    n++;
  }
  cJSON_Delete(l);
  return n;
}

/* ---------------------------------------------------------------- the tests */

/* Root -> Albums -> the album; its three tracks across two chunks, each with an audio
 * object of its own session; the end of the album is -ENOENT. */
static void test_album(void **state) {
  (void)state;
  begin_test();
  struct lwa *w = linked_lwa();
  struct api *a = make_api(w, true);
  struct walked wk;
  walk(a, container(a, "Albums", NULL), WALK_MAX, &wk);
  assert_int_equal(wk.err, -ENOENT);
  assert_int_equal(wk.n, 3);
  assert_int_equal(wk.chunk[0], 0);
  assert_int_equal(wk.chunk[1], 0);
  assert_int_equal(wk.chunk[2], 1); /* past the first chunk */
  char rids[3][64];
  for (int i = 0; i < wk.n; i++) {
    assert_true(strncmp(wk.collector[i], "https://", 8) == 0);
    struct api_reply r;
    assert_int_equal(get(a, API_AUDIO, wk.audio[i], &r), 0);
    assert_true(strncmp(r.audio->uri, "https://", 8) == 0);
    assert_true(r.audio->expires_ms > clock_wall_usec() / 1000);
    const char *rid = NULL;
    for (size_t k = 0; k < r.audio->key.n; k++)
      if (strcmp(r.audio->key.h[k].name, "x-amz-music-rid") == 0)
        rid = r.audio->key.h[k].value;
    assert_non_null(rid);
    snprintf(rids[i], sizeof(rids[i]), "%s", rid);
    assert_true(r.audio->manifest.n > 0);
    assert_true(r.audio->segment.n > 0);
    apidoc_audio_free(r.audio);
  }
  assert_string_not_equal(rids[0], rids[1]);
  assert_string_not_equal(rids[1], rids[2]);
  /* root, Albums, the album, its second chunk, three audio objects */
  assert_int_equal(assert_playback_headers("/api/", "true"), 7);
  api_free(a);
  lwa_free(w);
}

/* The playlist: the explicit track is offered with hasExplicit true and not with false;
 * the unavailable track carries an error report to fetch and autoSkipOnError; the
 * conflicting one's audio request is a 409 that comes back as a structured report. */
static void test_playlist(void **state) {
  (void)state;
  begin_test();
  struct lwa *w = linked_lwa();
  struct api *a = make_api(w, true);
  struct walked wk;
  walk(a, container(a, "Playlists", NULL), WALK_MAX, &wk);
  assert_int_equal(wk.err, -ENOENT);
  int n_explicit = 0, conflict = -1, unavailable = -1;
  for (int i = 0; i < wk.n; i++) {
    n_explicit += wk.is_explicit[i];
    if (wk.error[i][0])
      unavailable = i;
    if (strstr(wk.audio[i], "conflict"))
      conflict = i;
  }
  assert_int_equal(n_explicit, 1);
  assert_true(unavailable >= 0 && conflict >= 0);
  assert_true(wk.chunk[wk.n - 1] >= 1);
  assert_true(wk.auto_skip[unavailable]);
  struct api_reply r;
  assert_int_equal(get(a, API_REPORT, wk.error[unavailable], &r), 0);
  assert_non_null(r.report);
  assert_non_null(r.report->terse);
  apidoc_error_free(r.report);

  assert_int_equal(get(a, API_AUDIO, wk.audio[conflict], &r), -AMP_EREPORT);
  assert_int_equal(r.status, 409);
  assert_null(r.audio);
  assert_non_null(r.report);
  assert_non_null(r.report->terse);
  assert_non_null(r.report->explanation);
  assert_true(r.report->n_choices >= 1);
  assert_non_null(r.report->choices[0].label);
  apidoc_error_free(r.report);
  int calls = assert_playback_headers("/api/", "true");
  assert_true(calls >= 6);
  api_free(a);

  /* hasExplicit: false: the same playlist without its explicit track. */
  begin_test();
  a = make_api(w, false);
  int before = wk.n;
  walk(a, container(a, "Playlists", NULL), WALK_MAX, &wk);
  assert_int_equal(wk.err, -ENOENT);
  assert_int_equal(wk.n, before - 1);
  for (int i = 0; i < wk.n; i++)
    assert_false(wk.is_explicit[i]);
  assert_true(assert_playback_headers("/api/", "false") >= 4);
  api_free(a);
  lwa_free(w);
}

/* A station never ends: the cursor follows nextTrackPointer chunk after chunk. */
static void test_station(void **state) {
  (void)state;
  begin_test();
  struct lwa *w = linked_lwa();
  struct api *a = make_api(w, true);
  struct walked wk;
  walk(a, container(a, "Stations", NULL), 9, &wk);
  assert_int_equal(wk.err, 0);
  assert_int_equal(wk.n, 9);
  assert_true(wk.chunk[8] >= 3);
  for (int i = 1; i < wk.n; i++)
    assert_true(wk.chunk[i] >= wk.chunk[i - 1]);
  api_free(a);
  lwa_free(w);
}

/* The mock's clock passes the access token's lifetime while ampd's clock does not: the
 * API answers 401, lwa refreshes exactly once, the request is sent again and succeeds.
 * Then a 401 that persists: one refresh, one retry, then -EACCES (link again). */
static void test_401(void **state) {
  (void)state;
  begin_test();
  struct lwa *w = linked_lwa();
  struct api *a = make_api(w, true);
  cJSON_Delete(ctrl(H, HTTP_POST, "/_mock/clock", "{\"advance\": 3700}"));
  struct api_reply r;
  assert_int_equal(get(a, API_DOCUMENT, api_root(a), &r), 0);
  apidoc_free(r.doc);
  assert_int_equal(refreshes(), 1);
  cJSON *l = requests_since("/api/");
  assert_int_equal(cJSON_GetArraySize(l), 2);
  assert_int_equal((int)num(cJSON_GetArrayItem(l, 0), "status"), 401);
  assert_int_equal((int)num(cJSON_GetArrayItem(l, 1), "status"), 200);
  /* The retry carried the new token. */
  const char *a0 = str(cJSON_GetObjectItem(cJSON_GetArrayItem(l, 0), "headers"), "authorization");
  const char *a1 = str(cJSON_GetObjectItem(cJSON_GetArrayItem(l, 1), "headers"), "authorization");
  assert_string_not_equal(a0, a1);
  cJSON_Delete(l);

  begin_test();
  add_fault("{\"path\": \"/api/\", \"status\": 401, \"count\": 2}");
  assert_int_equal(get(a, API_DOCUMENT, api_root(a), &r), -EACCES);
  assert_int_equal(r.status, 401);
  assert_null(r.doc);
  assert_int_equal(refreshes(), 1);
  api_free(a);
  lwa_free(w);
}

/* 5xx is retried with backoff; another 4xx is not retried. */
static void test_errors(void **state) {
  (void)state;
  begin_test();
  struct lwa *w = linked_lwa();
  struct api *a = make_api(w, true);
  add_fault("{\"path\": \"/api/\", \"status\": 503, \"count\": 2}");
  struct api_reply r;
  assert_int_equal(get(a, API_DOCUMENT, api_root(a), &r), 0);
  apidoc_free(r.doc);
  cJSON *l = requests_since("/api/");
  assert_int_equal(cJSON_GetArraySize(l), 3);
  cJSON_Delete(l);

  begin_test();
  add_fault("{\"path\": \"/api/\", \"status\": 404, \"count\": 5}");
  assert_int_equal(get(a, API_DOCUMENT, api_root(a), &r), -AMP_EHTTP);
  assert_int_equal(r.status, 404);
  l = requests_since("/api/");
  assert_int_equal(cJSON_GetArraySize(l), 1);
  cJSON_Delete(l);

  /* Cancelled while it waits for its retry: done runs once, with -ECANCELED. */
  begin_test();
  add_fault("{\"path\": \"/api/\", \"status\": 503, \"count\": 1, \"retry_after\": 30}");
  struct call c = {0};
  struct api_call *h = NULL;
  assert_int_equal(api_get(a, API_DOCUMENT, api_root(a), on_call, &c, &h), 0);
  while (cJSON_GetArraySize(l = requests_since("/api/")) < 1) {
    cJSON_Delete(l);
    assert_true(loop_run_once(L, 50) >= 0);
  }
  cJSON_Delete(l);
  for (int i = 0; i < 5; i++)
    assert_true(loop_run_once(L, 20) >= 0);
  assert_int_equal(c.done, 0);
  api_cancel(h);
  assert_int_equal(c.done, 1);
  assert_int_equal(c.err, -ECANCELED);
  api_free(a);
  lwa_free(w);
}

/* ---------------------------------------------------------------- main */

static int setup(void **state) {
  (void)state;
  if (harness_setup("api", NULL, 0) < 0)
    return -1;
  /* The mock again, serving the catalog. */
  mockproc_stop(mock);
  if (strlen(catalog) >= sizeof(root))
    return -1;
  memcpy(root, catalog, strlen(catalog) + 1);
  if (!(mock = start_mock(NULL, NULL)))
    return -1;
  H = client(0);
  if (!join(state_dir, tmp, "state") || mkdir(state_dir, 0700) < 0)
    return -1;
  char mid[PATH_MAX];
  if (!join(mid, tmp, "machine-id"))
    return -1;
  FILE *f = fopen(mid, "we");
  if (!f || fputs("0123456789abcdef0123456789abcdef\n", f) < 0 || fclose(f) != 0)
    return -1;
  return deviceid_get(state_dir, mid, device_id, sizeof(device_id)) < 0 ? -1 : 0;
}

static int teardown(void **state) {
  (void)state;
  http_free(H);
  harness_teardown();
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s SRC_DIR CATALOG_DIR\n", argv[0]);
    return 2;
  }
  src_dir = argv[1];
  catalog = argv[2];
  log_set_levels("debug");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_album), cmocka_unit_test(test_playlist), cmocka_unit_test(test_station),
      cmocka_unit_test(test_401),   cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
