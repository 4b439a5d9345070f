/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloud/api against the mock's Device API (tools/mock/ampmock/modules/api.py) over TLS on
 * loopback, with a real cloud/lwa holding tokens the mock issued and the real device id
 * of cloud/deviceid: browsing from the root, walking an album across its chunks, a
 * playlist (an explicit track, a track with an error report, a 409), a station past its
 * first chunk, audio objects, a 401 recovered with exactly one refresh, a second 401,
 * and the playback headers on every call as the mock's request log shows them. Then the
 * session keys of docs/service.md §10: an audio object's manifest and media fetched with
 * its own headers, its license obtained through the real ClearKey CDM for the manifest's
 * pssh and used to decrypt an encrypted segment to the source PCM; a second session of
 * the same track has another KID, and the first session's license does not decrypt it;
 * an expired audio object is refused by the CDN and a fresh one plays.
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
#include <sys/stat.h>

#include <cmocka.h>

#include "cloud/api.h"
#include "cloud/bearer.h"
#include "cloud/deviceid.h"
#include "cloud/license.h"
#include "cloud/lwa.h"
#include "cloud/report.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/statefile.h"
#include "cloud_harness.h"
#include "http_harness.h"
#include "media/cdmhost.h"
#include "media/manifest.h"
#include "media/pipeline.h"
#include "player/drm.h"
#include "player/loader.h"

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

/* Every request to prefix since the test began carried the playback headers with the
 * values configured (the mock refuses a request without them; this checks the values
 * too) and was answered without a refusal (a 409 is the service's answer, not a
 * refusal). Returns how many there were. */
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
    int status = (int)num(e, "status");
    assert_true(status == 200 || status == 409); /* never refused (400, 401) */
    n++;
  }
  cJSON_Delete(l);
  return n;
}

/* What each test starts from (API_TEST; API_TEST_RESET resets the mock first: its clock,
 * faults and collector): the request log marked (begin_test), a cloud/lwa linked with fresh
 * tokens of the mock and a cloud/api on it sending hasExplicit true. fx_drm adds a bearer
 * without hasExplicit, a license client taking it and the ClearKey CDM. api_teardown frees
 * all of it, also after a failed assertion. */
struct fx {
  struct lwa *w;
  struct api *a;
  struct bearer b;
  struct license *lc;
  struct cdmhost *cdm;
};

static struct fx fx; /* one test at a time */

static int api_setup(void **state) {
  fx = (struct fx){0};
  *state = &fx;
  begin_test();
  fx.w = linked_lwa();
  fx.a = make_api(fx.w, true);
  return 0;
}

static int api_setup_reset(void **state) {
  cJSON_Delete(ctrl(H, HTTP_POST, "/_mock/reset", "{}"));
  return api_setup(state);
}

static int api_teardown(void **state) {
  struct fx *f = *state;
  cdmhost_free(f->cdm);
  license_free(f->lc);
  bearer_wipe(&f->b);
  api_free(f->a);
  lwa_free(f->w);
  return 0;
}

#define API_TEST(test) cmocka_unit_test_setup_teardown(test, api_setup, api_teardown)
#define API_TEST_RESET(test) cmocka_unit_test_setup_teardown(test, api_setup_reset, api_teardown)

/* The license side: licenses expiring after expiry_test_secs (0: the service's). */
static void fx_drm(struct fx *f, uint32_t expiry_test_secs) {
  bearer_init(&f->b, f->w, -1);
  f->lc = license_client_expiring(&f->b, expiry_test_secs);
  struct cdmhost_options opt = {.plugin_dir = APITEST_CLEARKEY_DIR};
  assert_int_equal(cdmhost_open("clearkey", &opt, &f->cdm), 0);
}

/* The playlist's track whose audio request the service answers with a 409 (the last one
 * whose audio URL says "conflict"); asserts there is one. */
static int conflicting(const struct walked *wk) {
  int conflict = -1;
  for (int i = 0; i < wk->n; i++)
    if (strstr(wk->audio[i], "conflict"))
      conflict = i;
  assert_true(conflict >= 0);
  return conflict;
}

/* A GET of the root under a fault rule of the mock, from a new mark in its log
 * (begin_test), and all it must come to; a failure names the case. */
struct fault_case {
  const char *name;
  const char *fault; /* add_fault's rule */
  int err;           /* get()'s; a document with 0, none otherwise */
  long status;       /* the reply's */
  int requests;      /* to /api/, retries included */
  int refreshes;     /* of the access token */
};

static void fault_case_check(struct api *a, const struct fault_case *c) {
  begin_test();
  add_fault(c->fault);
  struct api_reply r;
  int err = get(a, API_DOCUMENT, api_root(a), &r);
  bool doc = r.doc != NULL;
  apidoc_free(r.doc); /* before a failure: the document is the case's */
  if (err != c->err)
    fail_msg("case %s: error %d (%s), expected %d (%s)", c->name, err, amp_strerror(err), c->err,
             amp_strerror(c->err));
  if (r.status != c->status)
    fail_msg("case %s: status %ld, expected %ld", c->name, r.status, c->status);
  if (err < 0 && doc)
    fail_msg("case %s: a document with error %d", c->name, err);
  int n = requests_count("/api/");
  if (n != c->requests)
    fail_msg("case %s: %d requests to /api/, expected %d", c->name, n, c->requests);
  n = refreshes();
  if (n != c->refreshes)
    fail_msg("case %s: %d refreshes, expected %d", c->name, n, c->refreshes);
}

/* ---------------------------------------------------------------- the tests */

/* Root -> Albums -> the album; its three tracks across two chunks, each with an audio
 * object of its own session; the end of the album is -ENOENT. */
static void test_album(void **state) {
  struct fx *f = *state;
  struct api *a = f->a;
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

  /* A playback event goes to the track's collector with the bearer and hasExplicit of
   * the same link (cloud/bearer): the mock's collector refuses an event without them. */
  bearer_init(&f->b, f->w, 1);
  char qpath[PATH_MAX];
  assert_true(join(qpath, tmp, "album.evq"));
  struct report_config rc = {.queue_path = qpath,
                             .backoff_min_ms = 20,
                             .backoff_max_ms = 100,
                             .headers = bearer_headers,
                             .on_token_rejected = bearer_rejected,
                             .userdata = &f->b};
  struct report *rep = NULL;
  assert_int_equal(report_new(L, H, &rc, &rep), 0);
  struct report_event ev = {.type = REPORT_STARTED, .track_tag = wk.tag[0], .quality = "HD_44"};
  char id[REPORT_EVENT_ID_SIZE];
  assert_int_equal(report_submit(rep, &ev, wk.collector[0], id), 0);
  struct report_stats rs;
  drain_reports(rep, &rs);
  assert_int_equal(rs.sent, 1);
  assert_int_equal(rs.rejected, 0);
  report_free(rep);
  bearer_wipe(&f->b);
  cJSON *coll = ctrl(H, HTTP_GET, "/_mock/collector", NULL), *e, *found = NULL;
  cJSON_ArrayForEach(e, cJSON_GetObjectItem(coll, "events")) {
    if (strcmp(str(e, "eventId"), id) == 0)
      found = e;
  }
  assert_non_null(found);
  const cJSON *eh = cJSON_GetObjectItem(found, "headers");
  assert_true(strncmp(str(eh, "authorization"), "Bearer Atza|", 12) == 0);
  assert_string_equal(str(eh, "hasexplicit"), "true");
  cJSON_Delete(coll);
}

/* The playlist: the explicit track is offered with hasExplicit true and not with false;
 * the unavailable track carries an error report to fetch and autoSkipOnError; the
 * conflicting one's audio request is a 409 that comes back as a structured report. */
static void test_playlist(void **state) {
  struct fx *f = *state;
  struct api *a = f->a;
  struct walked wk;
  walk(a, container(a, "Playlists", NULL), WALK_MAX, &wk);
  assert_int_equal(wk.err, -ENOENT);
  int n_explicit = 0, unavailable = -1;
  for (int i = 0; i < wk.n; i++) {
    n_explicit += wk.is_explicit[i];
    if (wk.error[i][0])
      unavailable = i;
  }
  assert_int_equal(n_explicit, 1);
  int conflict = conflicting(&wk);
  assert_true(unavailable >= 0);
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
  f->a = NULL;

  /* hasExplicit: false: the same playlist without its explicit track. */
  begin_test();
  a = f->a = make_api(f->w, false);
  int before = wk.n;
  walk(a, container(a, "Playlists", NULL), WALK_MAX, &wk);
  assert_int_equal(wk.err, -ENOENT);
  assert_int_equal(wk.n, before - 1);
  for (int i = 0; i < wk.n; i++)
    assert_false(wk.is_explicit[i]);
  assert_true(assert_playback_headers("/api/", "false") >= 4);
}

/* A station never ends: the cursor follows nextTrackPointer chunk after chunk. */
static void test_station(void **state) {
  struct fx *f = *state;
  struct walked wk;
  walk(f->a, container(f->a, "Stations", NULL), 9, &wk);
  assert_int_equal(wk.err, 0);
  assert_int_equal(wk.n, 9);
  assert_true(wk.chunk[8] >= 3);
  for (int i = 1; i < wk.n; i++)
    assert_true(wk.chunk[i] >= wk.chunk[i - 1]);
}

/* The mock's clock passes the access token's lifetime while ampd's clock does not: the
 * API answers 401, lwa refreshes exactly once, the request is sent again and succeeds.
 * Then a 401 that persists: one refresh, one retry, then -EACCES (link again). */
static void test_401(void **state) {
  struct fx *f = *state;
  cJSON_Delete(ctrl(H, HTTP_POST, "/_mock/clock", "{\"advance\": 3700}"));
  struct api_reply r;
  assert_int_equal(get(f->a, API_DOCUMENT, api_root(f->a), &r), 0);
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

  static const struct fault_case persists = {.name = "401 twice: one refresh, one retry",
                                             .fault = "{\"path\": \"/api/\", \"status\": 401, "
                                                      "\"count\": 2}",
                                             .err = -EACCES,
                                             .status = 401,
                                             .requests = 2,
                                             .refreshes = 1};
  fault_case_check(f->a, &persists);
}

/* 5xx is retried with backoff; another 4xx is not retried. */
static void test_errors(void **state) {
  struct fx *f = *state;
  struct api *a = f->a;
  static const struct fault_case cases[] = {
      {.name = "503 twice: retried",
       .fault = "{\"path\": \"/api/\", \"status\": 503, \"count\": 2}",
       .status = 200,
       .requests = 3},
      {.name = "404: not retried",
       .fault = "{\"path\": \"/api/\", \"status\": 404, \"count\": 1}",
       .err = -AMP_EHTTP,
       .status = 404,
       .requests = 1},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    fault_case_check(a, &cases[i]);

  /* Cancelled while it waits for its retry: done runs once, with -ECANCELED. */
  begin_test();
  add_fault("{\"path\": \"/api/\", \"status\": 503, \"count\": 1, \"retry_after\": 30}");
  struct call c = {0};
  struct api_call *h = NULL;
  assert_int_equal(api_get(a, API_DOCUMENT, api_root(a), on_call, &c, &h), 0);
  while (requests_count("/api/") < 1)
    assert_true(loop_run_once(L, 50) >= 0);
  for (int i = 0; i < 5; i++)
    assert_true(loop_run_once(L, 20) >= 0);
  assert_int_equal(c.done, 0);
  api_cancel(h);
  assert_int_equal(c.done, 1);
  assert_int_equal(c.err, -ECANCELED);
}

/* The mock's /redirect on localhost, sending a 302 to target. */
static void redirect_to(const char *target, char *out, size_t n) {
  char path[768] = "/redirect?code=302&to=";
  size_t k = strlen(path);
  for (const char *p = target; *p; p++) {
    assert_true(k + 4 < sizeof(path));
    if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' || *p == '-')
      path[k++] = *p;
    else
      k += (size_t)snprintf(path + k, sizeof(path) - k, "%%%02X", (unsigned char)*p);
  }
  path[k] = '\0';
  url_of(out, n, mock, "localhost", path);
}

/* A document reached through a redirect resolves its references against where it ended
 * up (the final URL), not where the request went; a redirect to another origin is
 * refused, so the bearer and the playback headers never reach it. */
static void test_redirect(void **state) {
  struct fx *f = *state;
  struct api *a = f->a;
  char url[1024], target[256];
  url_of(target, sizeof(target), mock, "localhost", "/api/nav/albums");
  redirect_to(target, url, sizeof(url));
  struct apidoc *d = get_doc(a, url);
  assert_string_equal(apidoc_final_url(d), target);
  /* "../containers/album" from /api/nav/albums: /api/containers/album; from /redirect it
   * would have been /containers/album, which does not exist. */
  bool playable = false;
  struct apidoc *c = follow(a, d, NULL, &playable);
  assert_true(playable);
  const struct apidoc_chunk *ch = NULL;
  assert_int_equal(apidoc_chunk(c, apidoc_result(c), &ch), 0);
  apidoc_free(c);
  apidoc_free(d);

  /* To another origin (127.0.0.1 is not localhost): refused, nothing sent there. */
  begin_test();
  url_of(target, sizeof(target), mock, "127.0.0.1", "/api/nav/albums");
  redirect_to(target, url, sizeof(url));
  struct api_reply r;
  assert_int_equal(get(a, API_DOCUMENT, url, &r), -AMP_EREDIRECT);
  assert_null(r.doc);
  assert_requests("/api/", 0);
}

/* ---------------------------------------------------------------- sessions */

#define REP "flac_16_44"
#define RATE 44100
#define ENC_SEGMENT 3 /* album/t1: 30 s .. 37 s, after the 30 s clear lead */

struct session {
  struct apidoc_audio *audio;
  struct manifest *m;
  const struct manifest_rep *rep;
};

/* GET url with headers h (ranged when last >= first) into out; the status. */
static long get_with(const char *url, const struct apidoc_headers *h, uint64_t first, uint64_t last,
                     struct buf *out) {
  struct result res = {0};
  struct http_request_opts o = {.method = HTTP_GET,
                                .url = url,
                                .headers = h->h,
                                .n_headers = h->n,
                                .ranged = last >= first,
                                .range_start = first,
                                .range_end = last,
                                .body_out = out};
  buf_reset(out);
  fetch(H, &o, &res);
  return res.resp.status;
}

/* A new playback session of the track behind audio_url: its audio object and manifest. */
static void open_session(struct api *a, const char *audio_url, struct session *s) {
  struct api_reply r;
  assert_int_equal(get(a, API_AUDIO, audio_url, &r), 0);
  s->audio = r.audio;
  struct buf body = BUF_INIT(1u << 20);
  assert_int_equal(get_with(s->audio->uri, &s->audio->manifest, 1, 0, &body), 200);
  char err[256] = "";
  int rc = manifest_parse(body.data, body.len, s->audio->uri, &s->m, err, sizeof(err));
  if (rc < 0)
    fail_msg("manifest: %s (%s)", amp_strerror(rc), err);
  buf_done(&body);
  assert_non_null(s->rep = manifest_find_rep(s->m, REP));
  assert_true(s->rep->protection.has_kid);
  assert_true(s->rep->n_segments > ENC_SEGMENT);
  assert_false(s->rep->url_is_path);
}

static void close_session(struct session *s) {
  manifest_free(s->m);
  apidoc_audio_free(s->audio);
  memset(s, 0, sizeof(*s));
}

static const char *header_value(const struct apidoc_headers *h, const char *name) {
  for (size_t i = 0; i < h->n; i++)
    if (strcasecmp(h->h[i].name, name) == 0)
      return h->h[i].value;
  return NULL;
}

struct lic {
  int done, err;
  uint8_t data[LICENSE_MAX_MESSAGE];
  size_t len;
};

static void on_license(void *ud, int err, const uint8_t *license, size_t len) {
  struct lic *l = ud;
  l->done = 1;
  l->err = err;
  l->len = 0;
  if (err == 0 && len <= sizeof(l->data)) {
    memcpy(l->data, license, len);
    l->len = len;
  }
}

/* A CDM session with a license request for s's pssh; the challenge is fetched from
 * license_url (NULL: s's own) with key headers of `keys` (NULL: s's own). */
static int license_for(struct license *lc, struct cdmhost *cdm, const struct session *s,
                       const char *license_url, const struct apidoc_headers *keys,
                       uint32_t *ret_session) {
  size_t plen = 0;
  const uint8_t *pssh = manifest_pssh(s->rep, MANIFEST_DRM_CLEARKEY, &plen);
  assert_non_null(pssh);
  assert_int_equal(cdmhost_session_open(cdm, ret_session), 0);
  uint8_t *ch = NULL;
  size_t clen = 0;
  assert_int_equal(
      cdmhost_generate_request(cdm, *ret_session, AMPD_CDM_INIT_CENC, pssh, plen, &ch, &clen), 0);
  const char *url = license_url ? license_url : manifest_license_url(s->rep, MANIFEST_DRM_WIDEVINE);
  assert_non_null(url);
  if (!keys)
    keys = &s->audio->key;
  static struct lic l;
  l = (struct lic){0};
  assert_int_equal(license_fetch(lc, url, keys->h, keys->n, ch, clen, on_license, &l, NULL), 0);
  run_until(&l.done);
  free(ch);
  if (l.err == 0)
    assert_int_equal(cdmhost_update(cdm, *ret_session, l.data, l.len), 0);
  explicit_bzero(l.data, sizeof(l.data));
  return l.err;
}

struct pcm {
  int32_t *v;
  size_t n, cap; /* samples */
};

static int on_pcm(void *ud, const int32_t *pcm, size_t frames) {
  struct pcm *p = ud;
  size_t n = frames * 2;
  assert_true(p->n + n <= p->cap);
  memcpy(p->v + p->n, pcm, n * sizeof(*pcm));
  p->n += n;
  return 0;
}

/* Fetch s's init and encrypted segment with its segment headers and decode them with
 * CDM session cs into out; *ret_first (may be NULL) the frame the decode began at (the
 * segment's first FLAC block: a manifest time is informational). The pipeline's error. */
static int decode_segment(const struct session *s, struct cdmhost *cdm, uint32_t cs,
                          struct pcm *out, int64_t *ret_first) {
  const struct manifest_rep *rep = s->rep;
  const struct manifest_segment *seg = &rep->segments[ENC_SEGMENT];
  struct buf init = BUF_INIT(1u << 20), media = BUF_INIT(8u << 20);
  assert_int_equal(get_with(rep->url, &s->audio->segment, rep->init.first, rep->init.last, &init),
                   206);
  assert_int_equal(get_with(rep->url, &s->audio->segment, seg->first, seg->last, &media), 206);
  assert_int_equal(rep->timescale, RATE);
  struct pipeline_config cfg = {
      .cdm = cdm, .session = cs, .start = (int64_t)seg->start, .end = INT64_MAX};
  struct pipeline *p = NULL;
  assert_int_equal(pipeline_new(init.data, init.len, &cfg, &p), 0);
  assert_true(pipeline_is_protected(p));
  int r = pipeline_segment(p, media.data, media.len, seg->first, on_pcm, out, NULL);
  struct pipeline_timeline tl;
  pipeline_get_timeline(p, &tl);
  if (ret_first)
    *ret_first = tl.fed ? tl.first : -1;
  pipeline_free(p);
  buf_done(&init);
  buf_done(&media);
  return r;
}

/* Samples [from, from + n) of the source WAV of album/t1 (16-bit stereo). */
static void source_pcm(size_t from, size_t n, int32_t *out) {
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/album/t1/source/" REP ".wav", catalog);
  FILE *f = fopen(path, "rbe");
  assert_non_null(f);
  uint8_t hdr[12];
  assert_int_equal(fread(hdr, 1, 12, f), 12);
  assert_memory_equal(hdr, "RIFF", 4);
  for (;;) { /* find the data chunk */
    uint8_t ch[8];
    assert_int_equal(fread(ch, 1, 8, f), 8);
    uint32_t sz = ch[4] | (uint32_t)ch[5] << 8 | (uint32_t)ch[6] << 16 | (uint32_t)ch[7] << 24;
    if (memcmp(ch, "data", 4) == 0)
      break;
    assert_int_equal(fseek(f, (long)(sz + (sz & 1)), SEEK_CUR), 0);
  }
  assert_int_equal(fseek(f, (long)(from * 2), SEEK_CUR), 0);
  for (size_t i = 0; i < n; i++) {
    uint8_t b[2];
    assert_int_equal(fread(b, 1, 2, f), 2);
    out[i] = (int16_t)(b[0] | b[1] << 8);
  }
  fclose(f);
}

static void test_session_keys(void **state) {
  struct fx *f = *state;
  fx_drm(f, 0);
  struct api *a = f->a;
  struct license *lc = f->lc;
  struct cdmhost *cdm = f->cdm;

  struct walked wk;
  walk(a, container(a, "Albums", NULL), 1, &wk);
  assert_int_equal(wk.n, 1);
  struct session s1, s2;
  open_session(a, wk.audio[0], &s1);
  open_session(a, wk.audio[0], &s2);
  const char *rid1 = header_value(&s1.audio->key, "x-amz-music-rid");
  const char *rid2 = header_value(&s2.audio->key, "x-amz-music-rid");
  assert_non_null(rid1);
  assert_non_null(rid2);
  assert_string_not_equal(rid1, rid2);
  /* The manifest names the session's license endpoint; the sessions' KIDs differ. */
  const char *lu1 = manifest_license_url(s1.rep, MANIFEST_DRM_WIDEVINE);
  assert_non_null(lu1);
  assert_non_null(strstr(lu1, rid1));
  assert_string_equal(manifest_license_url(s1.rep, MANIFEST_DRM_CLEARKEY), lu1);
  assert_memory_not_equal(s1.rep->protection.kid, s2.rep->protection.kid, 16);

  /* Session 1: license for its pssh, its encrypted segment decrypts to the source. */
  uint32_t cs1 = 0;
  assert_int_equal(license_for(lc, cdm, &s1, NULL, NULL, &cs1), 0);
  uint32_t st = 0;
  int64_t expiry = 0;
  assert_int_equal(cdmhost_key_status(cdm, cs1, s1.rep->protection.kid, &st, &expiry), 0);
  assert_int_equal(st, AMPD_CDM_KEY_USABLE);
  const struct manifest_segment *seg = &s1.rep->segments[ENC_SEGMENT];
  size_t frames = (size_t)seg->duration;
  struct pcm got = {.cap = (frames + RATE) * 2};
  assert_non_null(got.v = calloc(got.cap, sizeof(int32_t)));
  int64_t first = -1;
  assert_int_equal(decode_segment(&s1, cdm, cs1, &got, &first), 0);
  /* It began within one FLAC block of the segment's time and ran to the track's end. */
  assert_true(first >= (int64_t)seg->start && first < (int64_t)seg->start + 4096);
  assert_int_equal(got.n, ((size_t)seg->start + frames - (size_t)first) * 2);
  int32_t *want = calloc(got.n, sizeof(int32_t));
  assert_non_null(want);
  source_pcm((size_t)first * 2, got.n, want);
  assert_memory_equal(got.v, want, got.n * sizeof(int32_t));

  /* Session 2's segment under session 1's license: no key for its KID. */
  got.n = 0;
  assert_int_equal(decode_segment(&s2, cdm, cs1, &got, NULL), -AMP_ENOKEY);
  assert_int_equal(got.n, 0);
  /* Session 2's license server does not grant session 1's KID ... */
  uint32_t cs_x = 0;
  assert_int_equal(license_for(lc, cdm, &s1, manifest_license_url(s2.rep, MANIFEST_DRM_WIDEVINE),
                               &s2.audio->key, &cs_x),
                   -EPERM);
  /* ... nor answers session 1's key headers for session 2's KID. */
  uint32_t cs_y = 0;
  assert_int_equal(license_for(lc, cdm, &s2, NULL, &s1.audio->key, &cs_y), -EPERM);
  /* Its own license does, and decodes the same PCM. */
  uint32_t cs2 = 0;
  assert_int_equal(license_for(lc, cdm, &s2, NULL, NULL, &cs2), 0);
  got.n = 0;
  assert_int_equal(decode_segment(&s2, cdm, cs2, &got, NULL), 0);
  assert_int_equal(got.n, frames * 2 - ((size_t)first - (size_t)seg->start) * 2);
  assert_memory_equal(got.v, want, got.n * sizeof(int32_t));
  /* The CDN refuses session 1's media with session 2's headers. */
  struct buf tmpb = BUF_INIT(1u << 20);
  assert_int_equal(get_with(s1.rep->url, &s2.audio->segment, 0, 99, &tmpb), 403);

  /* An hour on: the audio object and the access token have expired at the mock. The
   * media is refused; the fresh audio object is fetched after one refresh (the API's
   * 401), and the license client takes the new token through cloud/bearer. */
  assert_int_equal(refreshes(), 0);
  cJSON_Delete(ctrl(H, HTTP_POST, "/_mock/clock", "{\"advance\": 3700}"));
  assert_int_equal(get_with(s1.rep->url, &s1.audio->segment, 0, 99, &tmpb), 403);
  buf_done(&tmpb);
  struct session s3;
  open_session(a, wk.audio[0], &s3);
  assert_int_equal(refreshes(), 1);
  uint32_t cs3 = 0;
  assert_int_equal(license_for(lc, cdm, &s3, NULL, NULL, &cs3), 0);
  got.n = 0;
  assert_int_equal(refreshes(), 1); /* the license went out with the refreshed token */
  assert_int_equal(decode_segment(&s3, cdm, cs3, &got, NULL), 0);
  assert_int_equal(got.n, frames * 2 - ((size_t)first - (size_t)seg->start) * 2);
  assert_memory_equal(got.v, want, got.n * sizeof(int32_t));
  free(want);
  free(got.v);
  close_session(&s1);
  close_session(&s2);
  close_session(&s3);
}

/* player/drm: a license that expires after 4 s is renewed before it does, in the same
 * CDM session, again and again: the key never stops being usable. */
struct drm_obs {
  int calls, err;
};

static void on_drm(void *ud, struct drm *d, int err) {
  (void)d;
  struct drm_obs *o = ud;
  o->calls++;
  o->err = err;
}

/* The license's expiry is the mock's clock; the CDM compares it with ours: the mock's
 * clock is put back first (earlier tests moved it an hour on): API_TEST_RESET. */
static void test_drm_renewal(void **state) {
  struct fx *f = *state;
  fx_drm(f, 4);
  struct api *a = f->a;
  struct cdmhost *cdm = f->cdm;
  struct walked wk;
  walk(a, container(a, "Albums", NULL), 1, &wk);
  struct session s;
  open_session(a, wk.audio[0], &s);
  size_t plen = 0;
  const uint8_t *pssh = manifest_pssh(s.rep, MANIFEST_DRM_CLEARKEY, &plen);
  struct drm_params p = {.loop = L,
                         .license = f->lc,
                         .cdm = cdm,
                         .pssh = pssh,
                         .pssh_len = plen,
                         .license_url = manifest_license_url(s.rep, MANIFEST_DRM_WIDEVINE),
                         .keys = s.audio->key.h,
                         .n_keys = s.audio->key.n};
  memcpy(p.kid, s.rep->protection.kid, 16);
  struct drm_obs o = {0};
  struct drm *d = NULL;
  assert_int_equal(drm_open(&p, on_drm, &o, &d), 0);
  assert_false(drm_ready(d));
  run_until(&o.calls);
  assert_int_equal(o.err, 0);
  assert_true(drm_ready(d));
  int64_t first_expiry = drm_expiry_ms(d);
  assert_true(first_expiry > clock_wall_usec() / 1000);
  /* Three renewals; between them the key is usable at every turn of the loop. */
  uint64_t end = clock_mono_usec() + WAIT_GUARD_USEC;
  while (drm_licenses(d) < 4) {
    assert_true(clock_mono_usec() < end);
    assert_true(loop_run_once(L, 50) >= 0);
    uint32_t st = 0;
    assert_int_equal(cdmhost_key_status(cdm, drm_session(d), s.rep->protection.kid, &st, NULL), 0);
    assert_int_equal(st, AMPD_CDM_KEY_USABLE);
  }
  assert_int_equal(o.err, 0);
  assert_int_equal(o.calls, 4);
  assert_true(drm_expiry_ms(d) > first_expiry);
  assert_requests("/license/", 4);
  drm_close(d);
  close_session(&s);
}

/* player/loader: the audio object, its manifest and the license started at once; a
 * 409 comes back as the report; a manifest refused by the CDN (403) gets one fresh
 * audio object. */
struct load_obs {
  struct drm_obs drm; /* first: on_drm takes the loader's userdata as its own */
  int done, err;
  struct loaded *lt;
  char terse[128];
};

static const struct manifest_rep *choose_flac(void *ud, const struct manifest *m) {
  (void)ud;
  return manifest_find_rep(m, REP);
}

static void on_loaded(void *ud, int err, struct loaded *lt, const struct apidoc_error *report) {
  struct load_obs *o = ud;
  o->done++;
  o->err = err;
  o->lt = lt;
  snprintf(o->terse, sizeof(o->terse), "%s", report && report->terse ? report->terse : "");
}

static void test_loader(void **state) {
  struct fx *f = *state;
  fx_drm(f, 0);
  struct api *a = f->a;
  static struct load_obs o;
  struct loader_config cfg = {.loop = L,
                              .http = H,
                              .api = a,
                              .license = f->lc,
                              .cdm = f->cdm,
                              .choose = choose_flac,
                              .done = on_loaded,
                              .on_drm = on_drm,
                              .userdata = &o};
  struct walked wk;
  walk(a, container(a, "Albums", NULL), 1, &wk);
  begin_test();
  o = (struct load_obs){0};
  struct loader *ld = NULL;
  assert_int_equal(loader_start(&cfg, wk.audio[0], &ld), 0);
  run_until(&o.done);
  assert_int_equal(o.err, 0);
  assert_non_null(o.lt);
  assert_string_equal(o.lt->rep->id, REP);
  assert_non_null(o.lt->drm);
  assert_int_equal(o.drm.calls, 0); /* the license is still in flight: not waited for */
  run_until(&o.drm.calls);
  assert_int_equal(o.drm.err, 0);
  assert_true(drm_ready(o.lt->drm));
  loaded_free(o.lt);

  /* The manifest's signed URL is refused once: a fresh audio object, then it loads. */
  begin_test();
  add_fault("{\"path\": \"/cdn/*\", \"status\": 403, \"count\": 1}");
  o = (struct load_obs){0};
  assert_int_equal(loader_start(&cfg, wk.audio[0], &ld), 0);
  run_until(&o.done);
  assert_int_equal(o.err, 0);
  assert_requests("/api/audio/", 2);
  run_until(&o.drm.calls);
  loaded_free(o.lt);

  /* The conflicting track of the playlist: its report. */
  walk(a, container(a, "Playlists", NULL), WALK_MAX, &wk);
  o = (struct load_obs){0};
  assert_int_equal(loader_start(&cfg, wk.audio[conflicting(&wk)], &ld), 0);
  run_until(&o.done);
  assert_int_equal(o.err, -AMP_EREPORT);
  assert_null(o.lt);
  assert_true(o.terse[0] != '\0');

  /* Cancelled while it runs. */
  o = (struct load_obs){0};
  assert_int_equal(loader_start(&cfg, wk.audio[0], &ld), 0);
  loader_cancel(ld);
  assert_int_equal(o.done, 1);
  assert_int_equal(o.err, -ECANCELED);
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv) {
  if (!cloud_args(argc, argv, "api"))
    return 2;
  log_set_levels("debug");
  const struct CMUnitTest tests[] = {
      API_TEST(test_album),        API_TEST(test_playlist),
      API_TEST(test_station),      API_TEST(test_401),
      API_TEST(test_errors),       API_TEST(test_redirect),
      API_TEST(test_session_keys), API_TEST_RESET(test_drm_renewal),
      API_TEST(test_loader),
  };
  return cmocka_run_group_tests(tests, cloud_setup, cloud_teardown);
}
