/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloud/report against the mock's collector (tools/mock/ampmock/modules/collector.py)
 * over TLS on loopback: events arrive in order and exactly once, through 503 bursts, a
 * 4xx stops playback and the queue moves on, a 401 asks for a new token and is sent once
 * more, what a previous run left queued is delivered after a restart (a record sent but
 * never acknowledged is resent and de-duplicated by the collector), and a full queue of
 * precious events refuses the next one while PROGRESS events make room. The collector
 * takes only events with a bearer the mock's lwa module issued (POST /_mock/lwa/issue)
 * and not expired on the mock's clock, hasExplicit and a JSON Content-Type: it refuses
 * each missing header, and an expired token is a real 401 the reporter handles.
 *
 * argv[1]: the source tree.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cloud/evqueue.h"
#include "cloud/report.h"
#include "collector_fixture.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/loop.h"
#include "http_harness.h"
#include "mockproc.h"
#include "net/http.h"

#define EVENTS_MAX 16 /* events one test submits */

/* Access tokens from the mock's lwa module (POST /_mock/lwa/issue): the collector takes
 * only those (docs/service.md §6), so the headers callback hands out tokens[token_gen]. */
#define TOKENS 4
#define TOKEN_MAX 256
static char tokens[TOKENS][TOKEN_MAX];

/* What the callbacks saw. */
static int token_gen;     /* bumped by on_token_rejected: the next token is tokens[token_gen] */
static int token_rejects; /* on_token_rejected calls */
static int stops;
static char stop_id[REPORT_EVENT_ID_SIZE];
static long stop_status;
static char auth[TOKEN_MAX + 16];

static int headers_cb(void *ud, struct http_header *out, size_t max, size_t *ret_n) {
  assert_true(max >= 2);
  assert_true(token_gen < TOKENS);
  snprintf(auth, sizeof(auth), "Bearer %s", tokens[token_gen]);
  out[0] = (struct http_header){"Authorization", auth};
  out[1] = (struct http_header){"hasExplicit", "false"};
  *ret_n = 2;
  return 0;
}

static void stop_cb(void *ud, const char *event_id, long status, int err) {
  stops++;
  snprintf(stop_id, sizeof(stop_id), "%s", event_id);
  stop_status = status;
}

static void token_cb(void *ud) {
  token_rejects++;
  token_gen++;
}

/* A reporter on the queue file at path with this test's callbacks (max_records and
 * timeout_ms 0: report.h's default bound and the fixture's 10 s). */
static struct report *reporter(const char *path, size_t max_records, uint32_t timeout_ms) {
  return reporter_new((struct report_config){.queue_path = path,
                                             .max_records = max_records,
                                             .timeout_ms = timeout_ms,
                                             .headers = headers_cb,
                                             .on_stop = stop_cb,
                                             .on_token_rejected = token_cb});
}

/* A new access token from the mock into dst (TOKEN_MAX bytes), valid for the lwa
 * module's token lifetime from the mock's clock now. */
static void issue_token(char *dst) {
  cJSON *j = mock_ctrl(HTTP_POST, "/_mock/lwa/issue", "{}");
  const char *t = str(j, "access_token");
  assert_true(strlen(t) > 0 && strlen(t) < TOKEN_MAX);
  snprintf(dst, TOKEN_MAX, "%s", t);
  cJSON_Delete(j);
}

/* Move the mock's one clock (every module's) forward by s seconds. */
static void advance_mock_clock(unsigned s) {
  char body[64];
  snprintf(body, sizeof(body), "{\"advance\":%u}", s);
  cJSON_Delete(mock_ctrl(HTTP_POST, "/_mock/clock", body));
}

/* Clean callback records and fresh tokens for each test. (Each test uses its own
 * collector id and fault paths: the client has no DELETE to clear the mock's state
 * with.) */
static void fresh(void) {
  stops = token_rejects = token_gen = 0;
  stop_id[0] = '\0';
  stop_status = 0;
  for (int i = 0; i < TOKENS; i++)
    issue_token(tokens[i]);
}

/* "Bearer <tokens[i]>" into dst (n bytes), for direct POSTs and for comparisons. */
static const char *bearer(char *dst, size_t n, int i) {
  snprintf(dst, n, "Bearer %s", tokens[i]);
  return dst;
}

/* The start of most tests: fresh(), the mock's fault rule (NULL: none), then a reporter
 * (as reporter()) on a new queue file <cid>.evq, whose path goes into path. */
static struct report *begin(const char *cid, const char *fault, char path[PATH_MAX],
                            size_t max_records, uint32_t timeout_ms) {
  fresh();
  if (fault)
    add_fault(fault);
  tmp_file(path, cid, ".evq");
  return reporter(path, max_records, timeout_ms);
}

/* The end of a test: the reporter freed, and its queue file at path (NULL: not checked)
 * left with nothing to send. */
static void end(struct report *r, const char *path) {
  report_free(r);
  if (path)
    assert_int_equal(queue_pending(path), 0);
}

static void submit(struct report *r, enum report_type t, uint64_t off, const char *cid,
                   char id[REPORT_EVENT_ID_SIZE]) {
  char url[256];
  collector_url(url, sizeof(url), cid);
  struct report_event e = {.type = t,
                           .offset_ms = off,
                           .track_tag = "B000TRACK1",
                           .quality = "HD_44",
                           .seek_from_ms = off + 1000,
                           .error_code = "DECODE_FAILED"};
  assert_int_equal(report_submit(r, &e, url, id), 0);
}

/* The reporter's counters now. */
static struct report_stats stats(const struct report *r) {
  struct report_stats st;
  report_stats(r, &st);
  return st;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" */
static void assert_iso8601(const char *s) {
  static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
  assert_int_equal(strlen(s), sizeof(shape) - 1);
  for (size_t i = 0; shape[i]; i++) {
    if (shape[i] == 'd')
      assert_true(isdigit((unsigned char)s[i]));
    else
      assert_int_equal(s[i], shape[i]);
  }
}

/* Playback was told to stop once, for the event id, with HTTP status. */
static void assert_stopped(const char *id, long status) {
  assert_int_equal(stops, 1);
  assert_string_equal(stop_id, id);
  assert_int_equal(stop_status, status);
}

/* The reporter asked for a new token once and delivered the one event id[0] for cid with
 * it (tokens[1]); playback was not stopped. */
static void assert_resent_with_new_token(const char *cid, char (*ids)[REPORT_EVENT_ID_SIZE]) {
  assert_int_equal(token_rejects, 1);
  assert_int_equal(stops, 0);
  char want[TOKEN_MAX + 16];
  assert_events(cid, ids, 1, bearer(want, sizeof(want), 1), false);
}

/* POST body to /collector/<cid> with the headers hd[0..n); defined with the tests of the
 * collector itself. */
static long post_raw(const char *cid, const struct http_header *hd, size_t n, const char *body);

/* ---------------------------------------------------------------- tests */

/* Every event type, in order, each arriving once, with the caller's headers. */
static void test_in_order_exactly_once(void **state) {
  char path[PATH_MAX];
  struct report *r = begin("order", NULL, path, 0, 0);
  static const enum report_type types[] = {REPORT_STARTED, REPORT_PROGRESS, REPORT_PAUSED,
                                           REPORT_RESUMED, REPORT_SEEKED,   REPORT_PROGRESS,
                                           REPORT_ERROR,   REPORT_STOPPED,  REPORT_FINISHED};
  const size_t n = sizeof(types) / sizeof(types[0]);
  char ids[EVENTS_MAX][REPORT_EVENT_ID_SIZE];
  for (size_t i = 0; i < n; i++)
    submit(r, types[i], 1000 * i, "order", ids[i]);
  wait_drained(r);
  char want[TOKEN_MAX + 16]; /* and event i at 1000 * i ms, with tokens[0] */
  assert_events("order", ids, n, bearer(want, sizeof(want), 0), true);

  cJSON *ev = events_of("order");
  for (size_t i = 0; i < n; i++) {
    const cJSON *body = cJSON_GetObjectItem(cJSON_GetArrayItem(ev, (int)i), "event");
    assert_string_equal(str(body, "eventType"), report_type_name(types[i]));
    assert_string_equal(str(body, "trackTag"), "B000TRACK1");
    assert_string_equal(str(body, "quality"), "HD_44");
    assert_iso8601(str(body, "eventTimestamp"));
    assert_int_equal(cJSON_HasObjectItem(body, "seekFromMs"), types[i] == REPORT_SEEKED);
    assert_int_equal(cJSON_HasObjectItem(body, "errorCode"), types[i] == REPORT_ERROR);
  }
  cJSON_Delete(ev);

  assert_posts("order", n, NULL); /* sent once each: nothing repeated */
  struct report_stats st = stats(r);
  assert_int_equal(st.submitted, n);
  assert_int_equal(st.sent, n);
  assert_int_equal(st.retries, 0);
  assert_int_equal(stops, 0);
  end(r, path);
}

/* Three 503s: the head is retried, nothing is reordered, lost or repeated. */
static void test_503_burst_retried(void **state) {
  char path[PATH_MAX];
  struct report *r =
      begin("burst", "{\"path\":\"/collector/burst\",\"status\":503,\"count\":3}", path, 0, 0);
  char ids[3][REPORT_EVENT_ID_SIZE];
  for (size_t i = 0; i < 3; i++)
    submit(r, REPORT_PROGRESS, 5000 * i, "burst", ids[i]);
  wait_drained(r);
  assert_events("burst", ids, 3, NULL, false);
  assert_posts("burst", 6, (const long[]){503, 503, 503, 200, 200, 200});
  struct report_stats st = stats(r);
  assert_int_equal(st.retries, 3);
  assert_int_equal(st.sent, 3);
  assert_int_equal(stops, 0);
  assert_int_equal(mock_duplicates(), 0);
  end(r, NULL);
}

/* A 400: playback is told to stop (once, for that event), the record is dropped and the
 * next event goes out. */
static void test_4xx_stops_and_moves_on(void **state) {
  char path[PATH_MAX];
  struct report *r =
      begin("reject", "{\"path\":\"/collector/reject\",\"status\":400,\"count\":1}", path, 0, 0);
  char ids[2][REPORT_EVENT_ID_SIZE];
  submit(r, REPORT_STARTED, 0, "reject", ids[0]);
  submit(r, REPORT_STOPPED, 700, "reject", ids[1]);
  wait_drained(r);
  assert_stopped(ids[0], 400);
  assert_events("reject", ids + 1, 1, NULL, false);
  assert_posts("reject", 2, NULL); /* the refused one was not resent */
  struct report_stats st = stats(r);
  assert_int_equal(st.rejected, 1);
  assert_int_equal(st.sent, 1);
  end(r, path);
}

/* A 401 asks for a new token and sends once more with it; two 401s in a row are a 4xx. */
static void test_401_token_then_stop(void **state) {
  char path[PATH_MAX];
  struct report *r =
      begin("auth", "{\"path\":\"/collector/auth\",\"status\":401,\"count\":1}", path, 0, 0);
  char ids[2][REPORT_EVENT_ID_SIZE];
  submit(r, REPORT_STARTED, 0, "auth", ids[0]);
  wait_drained(r);
  assert_resent_with_new_token("auth", ids);

  add_fault("{\"path\":\"/collector/auth2\",\"status\":401,\"count\":2}");
  submit(r, REPORT_STARTED, 0, "auth2", ids[1]);
  wait_drained(r);
  assert_int_equal(token_rejects, 2);
  assert_stopped(ids[1], 401);
  assert_posts("auth2", 2, NULL); /* the first send and its one retry */
  end(r, NULL);
}

/* A POST that times out is sent again; the collector handles the late original too (the
 * mock delays before its handler), and records the event once: order and exactly-once
 * hold through a timeout. */
static void test_timeout_retried_dedup(void **state) {
  char path[PATH_MAX];
  struct report *r =
      begin("slow", "{\"path\":\"/collector/slow\",\"delay_ms\":800,\"count\":1}", path, 0, 150);
  char ids[2][REPORT_EVENT_ID_SIZE];
  int dups = mock_duplicates();
  submit(r, REPORT_STARTED, 0, "slow", ids[0]);
  submit(r, REPORT_PAUSED, 10, "slow", ids[1]);
  wait_drained(r);
  struct report_stats st = stats(r);
  assert_true(st.retries >= 1);
  assert_int_equal(st.sent, 2);
  end(r, NULL);
  /* Wait (bounded) for the delayed original to reach the collector. */
  uint64_t guard = clock_mono_usec() + WAIT_GUARD_USEC;
  while (mock_duplicates() - dups < 1) {
    assert_true(clock_mono_usec() < guard);
    assert_true(loop_run_once(L, 50) >= 0);
  }
  assert_int_equal(mock_duplicates() - dups, 1);
  assert_events("slow", ids, 2, NULL, false);
  assert_int_equal(stops, 0);
}

/* Events queued while the collector fails survive the reporter (as they would a kill -9)
 * and a new one over the same file delivers them first, in order, exactly once. One of
 * them had reached the collector before the "crash" without being acknowledged: it is
 * sent again and the collector de-duplicates it. */
static void test_restart_delivers_pending(void **state) {
  fresh();
  char path[PATH_MAX], url[256];
  tmp_file(path, "restart", ".evq");
  collector_url(url, sizeof(url), "restart");

  /* The previous run: ids[0] went out, the process died before the ack. */
  char ids[4][REPORT_EVENT_ID_SIZE];
  assert_int_equal(report_uuid_v4(ids[0]), 0);
  struct report_event e0 = {.type = REPORT_STARTED, .track_tag = "B000TRACK1", .quality = "HD_44"};
  char rec[REPORT_URL_MAX + REPORT_JSON_MAX];
  size_t ul = strlen(url), jl;
  memcpy(rec, url, ul);
  rec[ul] = '\n';
  assert_int_equal(
      report_event_json(&e0, ids[0], clock_wall_usec(), rec + ul + 1, sizeof(rec) - ul - 1, &jl),
      0);
  char bh[TOKEN_MAX + 16];
  struct http_header hd[] = {{"Content-Type", "application/json"},
                             {"Authorization", bearer(bh, sizeof(bh), 0)},
                             {"hasExplicit", "false"}};
  assert_int_equal(post_raw("restart", hd, 3, rec + ul + 1), 200); /* jl bytes and a NUL */
  struct evqueue *q;
  assert_int_equal(evqueue_open(path, NULL, &q), 0);
  assert_int_equal(evqueue_append(q, REPORT_KIND_EVENT, rec, ul + 1 + jl, NULL), 0);
  evqueue_close(q);

  /* This run: the collector is down for three attempts, all of them at the head (the
   * resent event); three more events queue up behind it. The reporter is freed right
   * after the third failure: its next attempt is a backoff timer away. */
  int dups = mock_duplicates();
  add_fault("{\"path\":\"/collector/restart\",\"status\":503,\"count\":3}");
  struct report *r = reporter(path, 0, 0);
  for (size_t i = 1; i < 4; i++)
    submit(r, REPORT_PROGRESS, 1000 * i, "restart", ids[i]);
  wait_stats(r, SIZE_MAX, 3);
  report_free(r);
  assert_int_equal(queue_pending(path), 4);
  assert_events("restart", ids, 1, NULL, false);
  assert_posts("restart", 4, NULL); /* the direct POST and three 503s */

  /* The next run, with the collector back (the fault is used up). */
  r = reporter(path, 0, 0);
  wait_drained(r);
  struct report_stats st = stats(r);
  assert_int_equal(st.sent, 4);
  assert_int_equal(st.submitted, 0);
  report_free(r);
  assert_events("restart", ids, 4, NULL, false);
  assert_int_equal(mock_duplicates() - dups, 1); /* ids[0]: received twice, recorded once */
  assert_int_equal(stops, 0);
  assert_int_equal(queue_pending(path), 0);
}

/* A queue full of precious events refuses the next one with -AMP_ETOOBIG (nothing is
 * lost or queued); a PROGRESS event is dropped to make room for a precious one. Every
 * submit runs before the loop does, so nothing is sent in between; the dropped PROGRESS
 * event is already the request in flight, and the mock refuses it (503) so that whether
 * it was delivered is not left to timing. */
static void test_full_queue(void **state) {
  char path[PATH_MAX], url[256];
  struct report *r =
      begin("full", "{\"path\":\"/collector/full\",\"status\":503,\"count\":1}", path, 2, 0);
  collector_url(url, sizeof(url), "full");
  char ids[3][REPORT_EVENT_ID_SIZE], none[REPORT_EVENT_ID_SIZE] = "";
  submit(r, REPORT_PROGRESS, 0, "full", ids[0]);
  submit(r, REPORT_STARTED, 0, "full", ids[1]);
  submit(r, REPORT_PAUSED, 10, "full", ids[2]); /* drops ids[0] */
  struct report_stats st = stats(r);
  assert_int_equal(st.dropped, 1);
  assert_int_equal(st.pending, 2);
  struct report_event e = {
      .type = REPORT_STOPPED, .offset_ms = 20, .track_tag = "B000TRACK1", .quality = "HD_44"};
  assert_int_equal(report_submit(r, &e, url, none), -AMP_ETOOBIG);
  assert_string_equal(none, ""); /* no id for an event that was not queued */
  e.type = REPORT_PROGRESS;
  assert_int_equal(report_submit(r, &e, url, none), -AMP_ETOOBIG);
  st = stats(r);
  assert_int_equal(st.append_fails, 2);
  assert_int_equal(st.pending, 2);

  wait_drained(r);
  assert_events("full", ids + 1, 2, NULL, false);
  assert_posts("full", 3, NULL); /* the dropped one (503), then the two */
  assert_int_equal(stops, 0);
  end(r, NULL);
}

/* POST body to /collector/<cid> with the headers hd[0..n) on a fresh connection; the
 * result's status (the error is -AMP_EHTTP unless 2xx). */
static long post_raw(const char *cid, const struct http_header *hd, size_t n, const char *body) {
  char url[256];
  collector_url(url, sizeof(url), cid);
  struct http *h = client(0);
  struct result res = {0};
  struct http_request_opts o = {.method = HTTP_POST,
                                .url = url,
                                .headers = hd,
                                .n_headers = n,
                                .body = body,
                                .body_len = strlen(body)};
  fetch(h, &o, &res);
  http_free(h);
  assert_int_equal(res.resp.err, res.resp.status / 100 == 2 ? 0 : -AMP_EHTTP);
  return res.resp.status;
}

/* The mock's collector is strict: what is not a JSON object with a string eventId and
 * eventType is a 400 and not recorded (with every header right, so the body is what it
 * refuses). */
static void test_collector_strict(void **state) {
  fresh();
  static const char *const bad[] = {"{\"eventType\":\"PLAYBACK_STARTED\"}", "{\"eventId\":\"x1\"}",
                                    "{\"eventId\":7,\"eventType\":\"PLAYBACK_STARTED\"}",
                                    "[\"x1\"]", "not json"};
  char bh[TOKEN_MAX + 16];
  struct http_header hd[] = {{"Content-Type", "application/json"},
                             {"Authorization", bearer(bh, sizeof(bh), 0)},
                             {"hasExplicit", "true"}};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(post_raw("strict", hd, 3, bad[i]), 400);
  assert_events("strict", NULL, 0, NULL, false);
  assert_posts("strict", 5, (const long[]){400, 400, 400, 400, 400});
  cJSON *log = requests_for("/collector/strict");
  const cJSON *e;
  cJSON_ArrayForEach(e, log) /* each refusal names its reason */
      assert_true(strlen(str(e, "why")) > 0);
  cJSON_Delete(log);
}

/* The collector refuses an event without each header of docs/service.md §6: no or an
 * unknown bearer is a 401, a missing or malformed hasExplicit or a Content-Type other
 * than application/json a 400; none of them is recorded, and the same event with every
 * header right is. (net/http always sends a Content-Type with a POST; an empty one is
 * as close to none as it gets: the Python tests of the mock cover a missing one.) */
static void test_collector_refuses_headers(void **state) {
  fresh();
  char bh[TOKEN_MAX + 16];
  const char *good = bearer(bh, sizeof(bh), 0);
  static const struct {
    const char *auth, *explicit, *ctype; /* NULL: not sent; auth "": the good token */
    long status;
    const char *why;
  } cases[] = {
      {NULL, "false", "application/json", 401, "no bearer token"},
      {"Bearer Atza|not-issued-by-the-mock", "false", "application/json", 401,
       "unknown or expired access token"},
      {"", NULL, "application/json", 400, "header hasExplicit missing or malformed"},
      {"", "yes", "application/json", 400, "header hasExplicit missing or malformed"},
      {"", "false", "text/plain", 400, "header Content-Type missing or not application/json"},
      {"", "false", "", 400, "header Content-Type missing or not application/json"},
  };
  const size_t n = sizeof(cases) / sizeof(cases[0]);
  char body[256], ids[sizeof(cases) / sizeof(cases[0])][REPORT_EVENT_ID_SIZE];
  size_t sent = 0;
  for (size_t i = 0; i < n; i++) {
    struct http_header hd[3];
    size_t k = 0;
    if (cases[i].auth)
      hd[k++] = (struct http_header){"Authorization", cases[i].auth[0] ? cases[i].auth : good};
    if (cases[i].explicit)
      hd[k++] = (struct http_header){"hasExplicit", cases[i].explicit};
    if (cases[i].ctype)
      hd[k++] = (struct http_header){"Content-Type", cases[i].ctype};
    assert_int_equal(report_uuid_v4(ids[sent]), 0);
    snprintf(body, sizeof(body), "{\"eventId\":\"%.36s\",\"eventType\":\"PLAYBACK_STARTED\"}",
             ids[sent]);
    assert_int_equal(post_raw("hdrs", hd, k, body), cases[i].status);
    sent++;
  }
  assert_events("hdrs", NULL, 0, NULL, false);
  assert_posts("hdrs", sent, NULL);
  cJSON *log = requests_for("/collector/hdrs");
  for (size_t i = 0; i < n; i++) {
    const cJSON *e = cJSON_GetArrayItem(log, (int)i);
    assert_true(num(e, "status") == (double)cases[i].status);
    assert_string_equal(str(e, "why"), cases[i].why);
    if (cases[i].ctype && !cases[i].ctype[0]) /* it went out empty, not as curl's default */
      assert_string_equal(str(cJSON_GetObjectItem(e, "headers"), "content-type"), "");
  }
  cJSON_Delete(log);

  /* The known-good counterpart: the last refused event, with every header right. */
  struct http_header ok[] = {
      {"Authorization", good}, {"hasExplicit", "false"}, {"Content-Type", "application/json"}};
  assert_int_equal(post_raw("hdrs", ok, 3, body), 200);
  assert_events("hdrs", ids + sent - 1, 1, NULL, false);
}

/* The bearer is checked against the mock's clock: once it is past the lwa token
 * lifetime (3600 s), a token is refused with 401 (not a fault rule: the collector
 * itself), and the reporter does what src/cloud/report.h says: asks for a new token and
 * sends once more (200 with the fresh one); when the new token is stale too, the second
 * 401 is a 4xx: playback is told to stop and the record is dropped. */
static void test_expired_token(void **state) {
  char path[PATH_MAX];
  struct report *r = begin("expired", NULL, path, 0, 0); /* tokens[0..3] valid now */
  advance_mock_clock(3601);                              /* ... and all expired now */
  issue_token(tokens[1]);                                /* a fresh one for the retry */
  char ids[2][REPORT_EVENT_ID_SIZE];
  submit(r, REPORT_STARTED, 0, "expired", ids[0]);
  wait_drained(r);
  assert_resent_with_new_token("expired", ids);
  assert_posts("expired", 2, (const long[]){401, 200});
  cJSON *log = requests_for("/collector/expired");
  assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(log, 0), "fault")));
  assert_string_equal(str(cJSON_GetArrayItem(log, 0), "why"), "unknown or expired access token");
  cJSON_Delete(log);

  /* tokens[1] expires too; the reporter's next token, tokens[2], is as stale. */
  advance_mock_clock(3601);
  submit(r, REPORT_PAUSED, 10, "expired2", ids[1]);
  wait_drained(r);
  assert_int_equal(token_rejects, 2);
  assert_stopped(ids[1], 401);
  assert_posts("expired2", 2, (const long[]){401, 401}); /* the send and its one retry */
  assert_events("expired2", NULL, 0, NULL, false);
  struct report_stats st = stats(r);
  assert_int_equal(st.sent, 1);
  assert_int_equal(st.rejected, 1);
  end(r, path);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_in_order_exactly_once),
      cmocka_unit_test(test_503_burst_retried),
      cmocka_unit_test(test_4xx_stops_and_moves_on),
      cmocka_unit_test(test_401_token_then_stop),
      cmocka_unit_test(test_timeout_retried_dedup),
      cmocka_unit_test(test_restart_delivers_pending),
      cmocka_unit_test(test_full_queue),
      cmocka_unit_test(test_collector_strict),
      cmocka_unit_test(test_collector_refuses_headers),
      cmocka_unit_test(test_expired_token),
  };
  return collector_main(argc, argv, 1, "SOURCE_DIR", "report", NULL, tests,
                        sizeof(tests) / sizeof(tests[0]));
}
