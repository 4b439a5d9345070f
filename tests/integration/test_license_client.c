/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloud/license (the license client) against the mock's license server
 * (tools/mock/ampmock/modules/license.py) over TLS on loopback, with the real ClearKey
 * CDM: a challenge from the plugin, wrapped, fetched with the key headers and a bearer
 * token, unwrapped, and accepted by the plugin (the key usable). A missing or made-up
 * token is refreshed once (a second 401 is -EACCES), a 503 is retried once, a network failure up
 * to LICENSE_NET_RETRIES_MAX times, 403 / 400 / 500 end
 * the fetch with their own codes and no retry, the expiry test headers give a license
 * with an expiration, cancel and free end a fetch with -ECANCELED, and the debug log
 * holds neither the challenge, the license, the key nor a header value.
 *
 * The keys: the test writes one keys.json (the ampack format, tools/ampack/README.md)
 * under the mock's root, with a KID and key of its own, and posts to /license/catalog
 * (any catalog key, docs/service.md §10); each case tags its URL with "?case=<name>" so
 * the request log tells the cases apart. Most cases are rows of a table (struct
 * fetch_case: what a fetch sets up and sends, and what it must come to). The bearer is a
 * real token of the mock's lwa module (POST /_mock/lwa/issue): the license module
 * refuses any other.
 *
 * argv[1]: the source tree.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cloud/license.h"
#include "core/b64.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"
#include "http_harness.h"
#include "media/cdmhost.h"
#include "mockproc.h"
#include "net/http.h"

#define KID_HEX "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
#define KEY_HEX "f0e1d2c3b4a5968778695a4b3c2d1e0f"
#define COOKIE_VALUE "rid=secret-cookie-4711; session=abc"

static struct http *H;
static char logfile[PATH_MAX];
static int log_fd = -1;

#define MADE_UP_TOKEN "Atza|tok-made-up"

static int token_gen;          /* bumped by on_token_rejected */
static int token_rejects;      /* on_token_rejected calls */
static int no_token_until = 0; /* the headers callback adds no Authorization below this gen */
static int made_up_until = 0;  /* ... then MADE_UP_TOKEN below this gen, then the real one */
static char token[HARNESS_TOKEN_MAX]; /* issued by the mock's lwa module */
static char auth[HARNESS_TOKEN_MAX + 16];

static int eagain_left;   /* the headers callback says -EAGAIN this many more times */
static int headers_calls; /* headers callback calls */

static int headers_cb(void *ud, struct http_header *out, size_t max, size_t *ret_n) {
  (void)ud;
  assert_true(max >= 1);
  *ret_n = 0;
  headers_calls++;
  if (eagain_left > 0) {
    eagain_left--;
    return -EAGAIN; /* no token this moment: a refresh runs (cloud/bearer) */
  }
  if (token_gen < no_token_until)
    return 0;
  snprintf(auth, sizeof(auth), "Bearer %s", token_gen < made_up_until ? MADE_UP_TOKEN : token);
  out[0] = (struct http_header){"Authorization", auth};
  *ret_n = 1;
  return 0;
}

static void token_cb(void *ud) {
  (void)ud;
  token_rejects++;
  token_gen++;
}

struct outcome {
  int done;
  int err;
  uint8_t license[LICENSE_MAX_MESSAGE];
  size_t len;
};

static void done_cb(void *ud, int err, const uint8_t *lic, size_t len) {
  struct outcome *o = ud;
  o->done++;
  o->err = err;
  o->len = 0;
  if (err == 0) {
    assert_non_null(lic);
    assert_true(len > 0 && len <= sizeof(o->license));
    memcpy(o->license, lic, len);
    o->len = len;
  } else {
    assert_null(lic);
    assert_int_equal(len, 0);
  }
}

static void fresh(int no_token_gens) {
  token_gen = token_rejects = 0;
  no_token_until = no_token_gens;
  made_up_until = 0;
}

static struct license *client_lic_backoff(uint32_t expiry_secs, uint32_t backoff_ms) {
  struct license_config cfg = {.backoff_ms = backoff_ms,
                               .timeout_ms = 10000,
                               .expiry_test_secs = expiry_secs,
                               .headers = headers_cb,
                               .on_token_rejected = token_cb};
  struct license *lc;
  assert_int_equal(license_new(L, H, &cfg, &lc), 0);
  return lc;
}

static struct license *client_lic(uint32_t expiry_secs) {
  return client_lic_backoff(expiry_secs, 20);
}

static void hex16(const char *hex, uint8_t out[16]) {
  for (int i = 0; i < 16; i++) {
    unsigned v;
    assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
    out[i] = (uint8_t)v;
  }
}

/* A ClearKey CDM session and its challenge for KID_HEX. */
static void cdm_request(struct cdmhost **ret_h, uint32_t *ret_s, uint8_t **ret_ch,
                        size_t *ret_len) {
  struct cdmhost_options opt = {.plugin_dir = LICENSETEST_CLEARKEY_DIR};
  uint8_t kids[1][16];
  uint8_t *data = NULL;
  size_t dlen = 0;
  hex16(KID_HEX, kids[0]);
  assert_int_equal(cdmhost_open("clearkey", &opt, ret_h), 0);
  assert_int_equal(cdmhost_session_open(*ret_h, ret_s), 0);
  assert_int_equal(cdmhost_keyids_init_data((const uint8_t(*)[16])kids, 1, &data, &dlen), 0);
  assert_int_equal(
      cdmhost_generate_request(*ret_h, *ret_s, AMPD_CDM_INIT_KEYIDS, data, dlen, ret_ch, ret_len),
      0);
  free(data);
}

static void url_for(char *buf, size_t n, const char *name) {
  char path[128];
  snprintf(path, sizeof(path), "/license/catalog?case=%s", name);
  url_of(buf, n, mock, "localhost", path);
}

/* The request log entries of case name (caller frees). */
static cJSON *requests_of(const char *name) {
  char query[128];
  snprintf(query, sizeof(query), "case=%s", name);
  cJSON *all = requests_for("/license/catalog"), *out = cJSON_CreateArray(), *e;
  cJSON_ArrayForEach(e, all) {
    if (strcmp(str(e, "query"), query) == 0)
      cJSON_AddItemToArray(out, cJSON_Duplicate(e, true));
  }
  cJSON_Delete(all);
  return out;
}

static const struct http_header good_keys[] = {
    {"x-amz-music-asin", "B000LICTEST"},
    {"x-amz-music-rid", "rid-0001"},
    {"Cookie", COOKIE_VALUE},
    {"x-amz-target", "com.amazon.digitalmusiclocator.DigitalMusicLocatorServiceExternal"},
};
#define N_GOOD (sizeof(good_keys) / sizeof(good_keys[0]))

/* Fetch for path name with headers keys[0..n); run the loop until done. */
static void fetch_lic(struct license *lc, const char *name, const struct http_header *keys,
                      size_t n, const uint8_t *ch, size_t clen, struct outcome *o) {
  char url[256];
  url_for(url, sizeof(url), name);
  memset(o, 0, sizeof(*o));
  int rc = license_fetch(lc, url, keys, n, ch, clen, done_cb, o, NULL);
  if (rc != 0)
    fail_msg("case %s: license_fetch said %d (%s)", name, rc, amp_strerror(rc));
  uint64_t guard = clock_mono_usec() + WAIT_GUARD_USEC;
  while (!o->done) {
    if (clock_mono_usec() >= guard)
      fail_msg("case %s: no outcome in %u s", name, WAIT_GUARD_USEC / 1000000u);
    assert_true(loop_run_once(L, 50) >= 0);
  }
  assert_int_equal(o->done, 1);
}

static int posts_to(const char *name) {
  cJSON *log = requests_of(name);
  int n = cJSON_GetArraySize(log);
  cJSON_Delete(log);
  return n;
}

/* The decoded ClearKey license as JSON (caller frees). */
static cJSON *license_json(const struct outcome *o) {
  cJSON *j = cJSON_ParseWithLength((const char *)o->license, o->len);
  assert_non_null(j);
  return j;
}

static void b64url_of_hex(const char *hex, char *out, size_t n) {
  uint8_t raw[16];
  hex16(hex, raw);
  assert_true(n > b64_encoded_len(16, 1));
  b64_encode(raw, 16, out, 1); /* base64url, unpadded, NUL-terminated */
}

/* ---------------------------------------------------------------- one test's fixture */

/* A test's ClearKey session and challenge (made before the test) and the license client
 * the test makes; freed after the test, also when an assertion ended it early. */
struct fx {
  struct cdmhost *h;
  uint32_t s;
  uint8_t *ch;
  size_t clen;
  struct license *lc;
  struct outcome o; /* of the last run_case */
};

static int cdm_setup(void **state) {
  struct fx *f = calloc(1, sizeof(*f));
  assert_non_null(f);
  fresh(0);
  cdm_request(&f->h, &f->s, &f->ch, &f->clen);
  *state = f;
  return 0;
}

static int cdm_teardown(void **state) {
  struct fx *f = *state;
  license_free(f->lc);
  free(f->ch);
  cdmhost_free(f->h);
  free(f);
  return 0;
}

/* The real CDM takes the license of the last fetch: the key is usable, and expires at
 * want_expiry (ms since the epoch; 0: never). */
static void assert_key_usable(struct fx *f, int64_t want_expiry) {
  assert_int_equal(cdmhost_update(f->h, f->s, f->o.license, f->o.len), 0);
  uint8_t kidb[16];
  hex16(KID_HEX, kidb);
  uint32_t status = 0;
  int64_t expiry = -1;
  assert_int_equal(cdmhost_key_status(f->h, f->s, kidb, &status, &expiry), 0);
  assert_int_equal(status, AMPD_CDM_KEY_USABLE);
  assert_int_equal(expiry, want_expiry);
}

/* ---------------------------------------------------------------- one fetch as a case */

/* The mock's fault on the license path: FAULT("\"status\":503,\"count\":1"). */
#define FAULT(fields) "{\"path\":\"/license/catalog\"," fields "}"

/* One fetch: what the test sets up and sends, and what it must come to. A field left out
 * is the plain case: the real token, every key header, the CDM's challenge, no fault. */
struct fetch_case {
  const char *name; /* the URL's "?case=name": the request log tells the cases apart */
  /* set up first */
  const char *fault;                 /* a fault the mock takes (FAULT(...)), or NULL */
  const char *ctrl_path, *ctrl_body; /* a control call (POST) to the mock, or NULL */
  int no_token_gens;                 /* no Authorization until this many token rejections */
  int made_up_gens;                  /* ... then MADE_UP_TOKEN until this many */
  int eagain;                        /* the headers callback says -EAGAIN this often first */
  /* sent */
  size_t key0, n_keys;   /* the key headers good_keys[key0..key0+n_keys); n_keys 0: to the end */
  const char *challenge; /* instead of the CDM's, or NULL */
  /* expected: each checked, 0 too, but for headers_calls */
  int err;           /* the fetch's outcome */
  int token_rejects; /* on_token_rejected calls */
  int posts;         /* POSTs the mock logged for name (this case and earlier ones of the name) */
  int posts_max;     /* above posts: up to this many (a range) */
  int headers_calls; /* headers callback calls; 0: not counted */
  bool cdm_update;   /* the real CDM takes the license */
};

/* Fails naming the case (who) when got is not want. */
static void expect_int(const char *who, const char *what, long got, long want) {
  if (got != want)
    fail_msg("case %s: %s %ld, expected %ld", who, what, got, want);
}

/* Set up, fetch with f->lc into f->o, and check the outcome of case c; a failure names
 * c and its row of the table (1.., or 0: a case alone). */
static void run_case(struct fx *f, const struct fetch_case *c, size_t row) {
  char who[96];
  if (row)
    snprintf(who, sizeof(who), "%s (row %zu)", c->name, row);
  else
    snprintf(who, sizeof(who), "%s", c->name);
  fresh(c->no_token_gens);
  made_up_until = c->made_up_gens;
  eagain_left = c->eagain;
  headers_calls = 0;
  if (c->fault)
    add_fault(c->fault);
  if (c->ctrl_path)
    cJSON_Delete(ctrl(H, HTTP_POST, c->ctrl_path, c->ctrl_body));
  const uint8_t *ch = c->challenge ? (const uint8_t *)c->challenge : f->ch;
  size_t clen = c->challenge ? strlen(c->challenge) : f->clen;
  size_t n = c->n_keys ? c->n_keys : N_GOOD - c->key0;
  fetch_lic(f->lc, c->name, good_keys + c->key0, n, ch, clen, &f->o);
  eagain_left = 0;

  if (f->o.err != c->err)
    fail_msg("case %s: error %d (%s), expected %d (%s)", who, f->o.err, amp_strerror(f->o.err),
             c->err, amp_strerror(c->err));
  expect_int(who, "token rejections", token_rejects, c->token_rejects);
  if (c->headers_calls)
    expect_int(who, "headers callback calls", headers_calls, c->headers_calls);
  int posts = posts_to(c->name), max = c->posts_max > c->posts ? c->posts_max : c->posts;
  if (posts < c->posts || posts > max)
    fail_msg("case %s: %d POSTs, expected %d..%d", who, posts, c->posts, max);
  if (c->cdm_update)
    expect_int(who, "cdmhost_update", cdmhost_update(f->h, f->s, f->o.license, f->o.len), 0);
}

/* The cases in order, with client lc (the fixture frees it). */
static void run_cases(void **state, struct license *lc, const struct fetch_case *cases, size_t n) {
  struct fx *f = *state;
  f->lc = lc;
  for (size_t i = 0; i < n; i++)
    run_case(f, &cases[i], i + 1);
}

#define N_CASES(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------- tests */

static void test_good_license_cdm(void **state) {
  struct fx *f = *state;
  f->lc = client_lic(0);
  /* one POST */
  run_case(f, &(const struct fetch_case){.name = "good", .err = 0, .posts = 1}, 0);

  /* the key is the one of keys.json */
  cJSON *j = license_json(&f->o);
  const cJSON *k0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "keys"), 0);
  char kid[32], key[32];
  b64url_of_hex(KID_HEX, kid, sizeof(kid));
  b64url_of_hex(KEY_HEX, key, sizeof(key));
  assert_string_equal(str(k0, "kid"), kid);
  assert_string_equal(str(k0, "k"), key);
  assert_null(cJSON_GetObjectItem(j, "expiration"));
  cJSON_Delete(j);

  /* the real CDM takes it */
  assert_key_usable(f, 0);

  /* the POST had every key header, the token and the content type; no expiry test */
  cJSON *log = requests_of("good");
  const cJSON *hd = cJSON_GetObjectItem(cJSON_GetArrayItem(log, 0), "headers");
  assert_string_equal(str(hd, "authorization"), auth);
  assert_non_null(strstr(auth, token));
  assert_string_equal(str(hd, "content-type"), "application/json");
  assert_string_equal(str(hd, "cookie"), COOKIE_VALUE);
  assert_string_equal(str(hd, "x-amz-music-asin"), "B000LICTEST");
  assert_string_equal(str(hd, "x-amz-target"), good_keys[3].value);
  assert_null(cJSON_GetObjectItem(hd, "x-amz-music-license-expiration-secs"));
  cJSON_Delete(log);
}

static void test_401_new_token_once(void **state) {
  static const struct fetch_case cases[] = {
      /* no Authorization until the token was rejected once */
      {.name = "auth",
       .no_token_gens = 1,
       .err = 0,
       .token_rejects = 1,
       .posts = 2,
       .cdm_update = true},
      /* a made-up token is refused like none: refreshed once, then the real one works */
      {.name = "made-up", .made_up_gens = 1, .err = 0, .token_rejects = 1, .posts = 2},
      /* never a token: the second 401 is "unlinked" */
      {.name = "unlinked", .no_token_gens = 100, .err = -EACCES, .token_rejects = 1, .posts = 2},
  };
  run_cases(state, client_lic(0), cases, N_CASES(cases));
}

static void test_503_retried_once(void **state) {
  static const struct fetch_case cases[] = {
      {.name = "busy",
       .fault = FAULT("\"status\":503,\"count\":1"),
       .err = 0,
       .posts = 2,
       .cdm_update = true},
      /* twice 503: one retry only, then the error */
      {.name = "busy2",
       .fault = FAULT("\"status\":503,\"count\":2"),
       .err = -AMP_EHTTP,
       .posts = 2},
  };
  run_cases(state, client_lic(0), cases, N_CASES(cases));
}

/* A network failure (here a reset before the reply's headers) is not the service's 503:
 * retried LICENSE_NET_RETRIES_MAX times with the backoff doubling, then reported. */
static void test_network_failures_retried(void **state) {
  static const struct fetch_case cases[] = {
      {.name = "flaky",
       .fault = FAULT("\"reset_before_headers\":true,\"count\":4"),
       .err = 0,
       .posts = 5,
       .cdm_update = true},
      /* Every request reset: the error after the last retry. libcurl sends a request once
       * more on a fresh connection when a kept-alive one dies before any reply byte, so the
       * first attempt (on the connection "flaky" left open) may reach the mock twice. */
      {.name = "down",
       .fault = FAULT("\"query\":{\"name\":\"case\",\"value\":\"down\"},"
                      "\"reset_before_headers\":true,\"count\":50"),
       .err = -AMP_ENETWORK,
       .posts = 1 + LICENSE_NET_RETRIES_MAX,
       .posts_max = 2 + LICENSE_NET_RETRIES_MAX},
  };
  run_cases(state, client_lic(0), cases, N_CASES(cases));
}

static void test_errors_not_retried(void **state) {
  static const struct fetch_case cases[] = {
      /* no Cookie: the mock denies it */
      {.name = "denied", .n_keys = 2, .err = -EPERM, .posts = 1},
      {.name = "bad", .fault = FAULT("\"status\":400,\"count\":1"), .err = -EBADMSG, .posts = 1},
      {.name = "ise", .fault = FAULT("\"status\":500,\"count\":1"), .err = -AMP_EHTTP, .posts = 1},
      /* a 2xx that is not an envelope */
      {.name = "junk",
       .fault = FAULT("\"status\":200,\"count\":1,\"body\":\"{\\\"x\\\":1}\""),
       .err = -AMP_EJSON,
       .posts = 1},
      /* a KID the catalog does not hold: denied */
      {.name = "unknown-kid",
       .challenge = "{\"kids\":[\"AAAAAAAAAAAAAAAAAAAAAA\"],\"type\":\"temporary\"}",
       .err = -EPERM,
       .posts = 1},
      /* the required headers are the test's to set: now x-amz-target too */
      {.name = "target",
       .ctrl_path = "/_mock/license/config",
       .ctrl_body = "{\"required_headers\":[{\"name\":\"x-amz-target\"}]}",
       .n_keys = 3,
       .err = -EPERM,
       .posts = 1},
      /* x-amz-target alone is enough then */
      {.name = "target", .key0 = 3, .err = 0, .posts = 2},
      /* back to the mock's own required headers: x-amz-target alone is not */
      {.name = "target",
       .ctrl_path = "/_mock/license/reset",
       .ctrl_body = "{}",
       .key0 = 3,
       .err = -EPERM,
       .posts = 3},
      /* a challenge that is no ClearKey request: the mock's strict 400 */
      {.name = "strict", .challenge = "{\"hello\":1}", .err = -EBADMSG, .posts = 1},
  };
  run_cases(state, client_lic(0), cases, N_CASES(cases));
}

static void test_expiry_header(void **state) {
  struct fx *f = *state;
  f->lc = client_lic(3600);
  run_case(f, &(const struct fetch_case){.name = "expiry", .err = 0, .posts = 1}, 0);
  cJSON *j = license_json(&f->o);
  const cJSON *e = cJSON_GetObjectItem(j, "expiration");
  assert_true(cJSON_IsNumber(e));
  int64_t exp_ms = (int64_t)e->valuedouble;
  assert_true(exp_ms > clock_wall_usec() / 1000);
  cJSON_Delete(j);
  assert_key_usable(f, exp_ms);

  cJSON *log = requests_of("expiry");
  const cJSON *hd = cJSON_GetObjectItem(cJSON_GetArrayItem(log, 0), "headers");
  assert_string_equal(str(hd, "x-amz-music-license-expiration-secs"), "3600");
  assert_string_equal(str(hd, "x-alexa-music-license-expiration-test-duration-secs"), "3600");
  cJSON_Delete(log);
}

static void run_loop_a_little(void) {
  for (int i = 0; i < 5; i++)
    assert_true(loop_run_once(L, 20) >= 0);
}

static void assert_cancelled(const struct outcome *o) {
  assert_int_equal(o->done, 1);
  assert_int_equal(o->err, -ECANCELED);
}

static void test_cancel_and_free(void **state) {
  struct fx *f = *state;
  f->lc = client_lic(0);
  /* A path of its own, so that the delays cannot reach a later case: the fetches are
   * cancelled before any reply, so it does not matter that the mock would refuse it. */
  add_fault("{\"path\":\"/license/slow\",\"delay_ms\":20000,\"count\":4}");
  char url[256];
  url_of(url, sizeof(url), mock, "localhost", "/license/slow");
  static struct outcome a, b; /* static: the teardown may end a fetch after a failure */
  a = b = (struct outcome){0};
  struct license_fetch *fa;
  assert_int_equal(license_fetch(f->lc, url, good_keys, N_GOOD, f->ch, f->clen, done_cb, &a, &fa),
                   0);
  assert_int_equal(license_fetch(f->lc, url, good_keys, N_GOOD, f->ch, f->clen, done_cb, &b, NULL),
                   0);
  run_loop_a_little();
  assert_int_equal(a.done + b.done, 0);
  license_cancel(fa);
  assert_cancelled(&a);
  assert_int_equal(b.done, 0);
  license_free(f->lc);
  f->lc = NULL;
  assert_cancelled(&b);

  /* cancelled while waiting to retry a 503 (a 60 s backoff): no second POST */
  f->lc = client_lic_backoff(0, 60000);
  add_fault(FAULT("\"status\":503,\"count\":1"));
  url_for(url, sizeof(url), "waiting");
  a = (struct outcome){0};
  assert_int_equal(license_fetch(f->lc, url, good_keys, N_GOOD, f->ch, f->clen, done_cb, &a, &fa),
                   0);
  uint64_t guard = clock_mono_usec() + WAIT_GUARD_USEC;
  while (posts_to("waiting") < 1) { /* (the listing runs the loop too) */
    assert_true(clock_mono_usec() < guard);
    assert_true(loop_run_once(L, 20) >= 0);
  }
  run_loop_a_little();
  assert_int_equal(a.done, 0);
  license_cancel(fa);
  assert_cancelled(&a);
  assert_int_equal(posts_to("waiting"), 1);
}

/* The headers callback has no token yet (-EAGAIN: a refresh runs): the fetch waits a
 * backoff and asks again, and sends once a token is there; a token that never comes ends
 * the fetch with -EAGAIN after LICENSE_AUTH_WAITS_MAX waits, nothing sent. */
static void test_token_wait(void **state) {
  static const struct fetch_case cases[] = {
      {.name = "wait", .eagain = 3, .err = 0, .headers_calls = 4, .posts = 1},
      {.name = "never",
       .eagain = 1000,
       .err = -EAGAIN,
       .headers_calls = LICENSE_AUTH_WAITS_MAX + 1,
       .posts = 0},
  };
  run_cases(state, client_lic_backoff(0, 2), cases, N_CASES(cases));
}

/* Runs last: everything above logged at debug into logfile. */
static void test_log_holds_no_secret(void **state) {
  struct fx *f = *state;
  /* one more fetch, to know what its challenge looked like */
  f->lc = client_lic(0);
  run_case(f, &(const struct fetch_case){.name = "logged", .err = 0, .posts = 1}, 0);
  char *body = NULL;
  assert_int_equal(license_request_body(f->ch, f->clen, &body), 0);
  char *b64ch = strstr(body, ":\"") + 2;
  b64ch[strlen(b64ch) - 2] = '\0';
  char wire[4096];
  size_t wl = b64_encoded_len(f->o.len, 0);
  assert_true(wl < sizeof(wire));
  b64_encode(f->o.license, f->o.len, wire, 0);
  char key[32];
  b64url_of_hex(KEY_HEX, key, sizeof(key));
  license_free(f->lc);
  f->lc = NULL;

  char text[1 << 16];
  int fd = open(logfile, O_RDONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  ssize_t n = read(fd, text, sizeof(text) - 1);
  close(fd);
  assert_true(n > 0);
  text[n] = '\0';
  /* the log is there and says something about license replies */
  assert_non_null(strstr(text, "license reply: status 200, request id "));
  const struct {
    const char *what, *secret;
  } secrets[] = {
      {"the challenge", b64ch},
      {"the license", wire},
      {"the key (base64url)", key},
      {"the key (hex)", KEY_HEX},
      {"the cookie", "secret-cookie"},
      {"the token", token},
      {"the made-up token", "tok-made-up"},
      {"the ASIN", "B000LICTEST"},
      {"the challenge's KID list", "\"kids\""},
  };
  for (size_t i = 0; i < N_CASES(secrets); i++)
    if (strstr(text, secrets[i].secret))
      fail_msg("the log holds %s", secrets[i].what);
  free(body);
}

static int group_setup(void **state) {
  (void)state;
  if (harness_setup("license", NULL, 0) < 0)
    return -1;
  char keys[PATH_MAX];
  if (!join(keys, root, "keys.json"))
    return -1;
  FILE *f = fopen(keys, "we");
  if (!f || fprintf(f, "{\"kid\":\"%s\",\"key\":\"%s\"}\n", KID_HEX, KEY_HEX) < 0 || fclose(f) != 0)
    return -1;
  if (!join(logfile, tmp, "client.log"))
    return -1;
  log_fd = open(logfile, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0 || log_set_levels("debug") < 0)
    return -1;
  log_set_fd(log_fd);
  H = client(0);
  harness_lwa_token(token, sizeof(token));
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  http_free(H);
  log_set_fd(2);
  if (log_fd >= 0)
    close(log_fd);
  harness_teardown();
  return 0;
}

/* Every test runs with a ClearKey session of its own (struct fx). */
#define CDM_TEST(t) cmocka_unit_test_setup_teardown(t, cdm_setup, cdm_teardown)

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s SOURCE_DIR\n", argv[0]);
    return 2;
  }
  src_dir = argv[1];
  const struct CMUnitTest tests[] = {
      CDM_TEST(test_good_license_cdm),    CDM_TEST(test_401_new_token_once),
      CDM_TEST(test_503_retried_once),    CDM_TEST(test_network_failures_retried),
      CDM_TEST(test_errors_not_retried),  CDM_TEST(test_expiry_header),
      CDM_TEST(test_cancel_and_free),     CDM_TEST(test_token_wait),
      CDM_TEST(test_log_holds_no_secret),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
