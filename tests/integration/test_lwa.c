/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloud/lwa against the mock's lwa module over TLS on loopback (docs/service.md §2):
 * pairing that is pending and then approved links and leaves the tokens in a 0600 file;
 * slow_down doubles the poll interval (seen in the mock's request log); an expired code
 * pair is replaced by a new one (the mock's clock and ampd's clock); the refresh runs
 * ahead of expiry once for two callers at once; a 5xx refresh is retried; invalid_grant
 * unlinks and removes the file; a refused or corrupt token file is UNLINKED without a
 * crash; and no token ever reaches the log.
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
#include <sys/stat.h>
#include <unistd.h>

#include "cloud/bearer.h"
#include "cloud/lwa.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"
#include "http_harness.h"
#include "net/http.h"

#define CLIENT_ID "amzn1.application-oa2-client.ampdtest"
#define GUARD_USEC 20000000u /* any wait here longer than this is a hang: fail */
#define LOG_MAX (4u << 20)   /* the captured log we read back */
#define INTERVAL_S 0.1       /* the mock's poll interval in these tests */

static struct http *H; /* the client lwa uses, and the control calls */
static char log_file[PATH_MAX];
static int log_fd = -1;
static unsigned dir_seq;
static double base_seq; /* the request log's last seq when the test began */
/* Clients a test made: a failed assertion leaves the test early, so the per-test
 * teardown frees what is left (their observers are static, so nothing points into a
 * dead stack frame). */
#define LIVE_MAX 8
static struct lwa *live[LIVE_MAX];

/* What the state callback saw. */
struct obs {
  int calls, linking_calls;
  enum lwa_state st;
  int err;
};

static void on_state(struct lwa *w, enum lwa_state st, int err, void *ud) {
  (void)w;
  struct obs *o = ud;
  o->calls++;
  o->st = st;
  o->err = err;
  if (st == LWA_LINKING)
    o->linking_calls++;
}

/* What one lwa_get_token callback saw. */
struct tok {
  int done, err;
  char token[LWA_TOKEN_MAX + 1];
};

static void on_token(int err, const char *token, void *ud) {
  struct tok *t = ud;
  t->done++;
  t->err = err;
  snprintf(t->token, sizeof(t->token), "%s", token ? token : "");
}

#define RUN_UNTIL(cond)                                                                            \
  do {                                                                                             \
    uint64_t guard_ = clock_mono_usec() + GUARD_USEC;                                              \
    while (!(cond)) {                                                                              \
      assert_true(clock_mono_usec() < guard_);                                                     \
      assert_true(loop_run_once(L, 20) >= 0);                                                      \
    }                                                                                              \
  } while (0)

/* ---------------------------------------------------------------- the mock's side */

static void lwa_ctrl(const char *path, const char *json) {
  cJSON_Delete(ctrl(H, json ? HTTP_POST : HTTP_GET, path, json));
}

/* The mock's /_mock/lwa/state (caller frees). */
static cJSON *mock_state(void) {
  return ctrl(H, HTTP_GET, "/_mock/lwa/state", NULL);
}

static int mock_count(const char *kind) {
  cJSON *s = mock_state();
  int n = (int)num(cJSON_GetObjectItem(s, "counts"), kind);
  cJSON_Delete(s);
  return n;
}

static void mock_reset(void) {
  char cfg[128];
  snprintf(cfg, sizeof(cfg),
           "{\"interval\": %.3f, \"code_lifetime\": 600, \"token_lifetime\": 3600}", INTERVAL_S);
  lwa_ctrl("/_mock/lwa/config", cfg);
  lwa_ctrl("/_mock/lwa/reset", "{}");
  char path[64];
  snprintf(path, sizeof(path), "/_mock/requests?since=%.0f", base_seq);
  cJSON *all = ctrl(H, HTTP_GET, path, NULL), *e;
  cJSON_ArrayForEach(e, all) {
    if (num(e, "seq") > base_seq)
      base_seq = num(e, "seq");
  }
  cJSON_Delete(all);
}

/* The request log entries for path since the test began (caller frees). */
static cJSON *requests_since(const char *path) {
  cJSON *all = requests_for(path), *out = cJSON_CreateArray(), *e;
  cJSON_ArrayForEach(e, all) {
    if (num(e, "seq") > base_seq)
      cJSON_AddItemToArray(out, cJSON_Duplicate(e, true));
  }
  cJSON_Delete(all);
  return out;
}

static void approve(const char *user_code) {
  char body[256];
  snprintf(body, sizeof(body), "{\"user_code\": \"%s\"}", user_code);
  lwa_ctrl("/_mock/lwa/approve", body);
}

static void mock_clock(double s) {
  char body[64];
  snprintf(body, sizeof(body), "{\"advance\": %.3f}", s);
  lwa_ctrl("/_mock/lwa/clock", body);
}

/* ---------------------------------------------------------------- ampd's side */

/* A fresh state directory for one test. */
static void new_dir(char *dir) {
  char name[32];
  snprintf(name, sizeof(name), "state%u", ++dir_seq);
  assert_true(join(dir, tmp, name));
  assert_int_equal(mkdir(dir, 0700), 0);
}

static struct obs observed[LIVE_MAX]; /* live[i]'s observer */

/* A client on dir with base URL base_path at the mock and client_id, and its observer
 * (*ret_o, zeroed; in live[]'s slot, so it outlives the test like the client). */
static struct lwa *make_client(const char *dir, const char *base_path, const char *client_id,
                               struct obs **ret_o) {
  char base[128];
  url_of(base, sizeof(base), mock, "127.0.0.1", base_path);
  struct lwa_config cfg = {.base_url = base, .client_id = client_id, .state_dir = dir};
  for (size_t i = 0; i < LIVE_MAX; i++) {
    if (!live[i]) {
      struct lwa *w = NULL;
      observed[i] = (struct obs){0};
      assert_int_equal(lwa_new(L, H, &cfg, on_state, &observed[i], &w), 0);
      live[i] = w;
      *ret_o = &observed[i];
      return w;
    }
  }
  fail_msg("more than %d live clients", LIVE_MAX);
  return NULL;
}

static struct lwa *make(const char *dir, struct obs **ret_o) {
  return make_client(dir, "/lwa", CLIENT_ID, ret_o);
}

static void drop(struct lwa *w) {
  for (size_t i = 0; i < LIVE_MAX; i++)
    if (live[i] == w)
      live[i] = NULL;
  lwa_free(w);
}

static int free_live(void **state) {
  (void)state;
  for (size_t i = 0; i < LIVE_MAX; i++)
    drop(live[i]);
  return 0;
}

/* The mock as it starts (mock_reset), a fresh directory (dir, PATH_MAX bytes) and an
 * UNLINKED client on it. */
static struct lwa *fresh_client(char *dir, struct obs **ret_o) {
  mock_reset();
  new_dir(dir);
  return make(dir, ret_o);
}

static const char *user_code_of(struct lwa *w) {
  const char *uc = NULL, *uri = NULL;
  int64_t exp = 0;
  assert_int_equal(lwa_link_info(w, &uc, &uri, &exp), 0);
  assert_true(exp > clock_wall_sec());
  assert_string_equal(uri, "https://amazon.com/us/code");
  return uc;
}

/* Pair and approve: LINKED. */
static void link_now(struct lwa *w, struct obs *o) {
  assert_int_equal(lwa_link_start(w), 0);
  RUN_UNTIL(o->st == LWA_LINKING);
  approve(user_code_of(w));
  RUN_UNTIL(o->st == LWA_LINKED);
  assert_int_equal(o->err, 0);
}

/* fresh_client, then linked (link_now). */
static struct lwa *linked_client(char *dir, struct obs **ret_o) {
  struct lwa *w = fresh_client(dir, ret_o);
  link_now(w, *ret_o);
  return w;
}

/* The token file's content as JSON (caller frees); asserts its mode is 0600. */
static cJSON *token_file(const char *dir) {
  char path[PATH_MAX];
  assert_true(join(path, dir, LWA_TOKEN_FILE));
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0600);
  FILE *f = fopen(path, "re");
  assert_non_null(f);
  char text[8192];
  size_t n = fread(text, 1, sizeof(text) - 1, f);
  fclose(f);
  text[n] = '\0';
  cJSON *j = cJSON_Parse(text);
  assert_non_null(j);
  return j;
}

static bool file_exists(const char *dir) {
  char path[PATH_MAX];
  assert_true(join(path, dir, LWA_TOKEN_FILE));
  struct stat st;
  return lstat(path, &st) == 0;
}

/* lwa_get_token, and the loop run until its callback (once) into t. */
static void get_token_now(struct lwa *w, struct tok *t) {
  memset(t, 0, sizeof(*t));
  assert_int_equal(lwa_get_token(w, on_token, t), 0);
  RUN_UNTIL(t->done);
  assert_int_equal(t->done, 1);
}

/* Both clocks s seconds on, the mock's first: the control call runs the loop, and with
 * ampd's clock on already a timer due at the new time could fire in it. */
static void clocks_ahead(int s) {
  mock_clock(s);
  assert_int_equal(clock_advance(s * 1000000LL, s * 1000000LL), 0);
}

/* ---------------------------------------------------------------- tests */

/* Pending, pending, approved: LINKED, and the tokens the mock issued are on disk, 0600,
 * and what lwa_get_token gives (at once: the token is fresh). */
static void test_link_pending_then_approved(void **state) {
  (void)state;
  char dir[PATH_MAX];
  struct obs *o;
  struct lwa *w = fresh_client(dir, &o);
  assert_int_equal(lwa_state(w), LWA_UNLINKED);
  assert_int_equal(lwa_get_token(w, on_token, NULL), -ENOLINK);
  int polls0 = mock_count("device_code");
  assert_int_equal(lwa_link_start(w), 0);
  assert_int_equal(lwa_link_start(w), -EALREADY);
  RUN_UNTIL(o->st == LWA_LINKING);
  char uc[64];
  snprintf(uc, sizeof(uc), "%s", user_code_of(w));
  RUN_UNTIL(mock_count("device_code") >= polls0 + 2); /* two authorization_pending */
  assert_int_equal(lwa_state(w), LWA_LINKING);
  approve(uc);
  RUN_UNTIL(o->st == LWA_LINKED);
  assert_int_equal(o->err, 0);
  assert_int_equal(lwa_link_start(w), -EISCONN);

  cJSON *s = mock_state();
  cJSON *issued = cJSON_GetObjectItem(s, "issued");
  cJSON *last = cJSON_GetArrayItem(issued, cJSON_GetArraySize(issued) - 1);
  cJSON *f = token_file(dir);
  assert_string_equal(str(f, "access_token"), str(last, "access_token"));
  assert_string_equal(str(f, "refresh_token"), str(last, "refresh_token"));
  double exp = num(f, "expires_at");
  assert_true(exp > (double)clock_wall_sec() + 3500 && exp <= (double)clock_wall_sec() + 3600);

  static struct tok t;

  t = (struct tok){0};
  assert_int_equal(lwa_get_token(w, on_token, &t), 0);
  assert_int_equal(t.done, 1); /* synchronous: no refresh was needed */
  assert_int_equal(t.err, 0);
  assert_string_equal(t.token, str(last, "access_token"));

  /* Every poll was a form POST with the three fields; the mock refuses anything else,
   * and it answered 400 (pending) before the 200. */
  cJSON *polls = requests_since("/lwa/auth/o2/token");
  int n = cJSON_GetArraySize(polls);
  assert_true(n >= 3);
  for (int i = 0; i < n; i++)
    assert_int_equal((int)num(cJSON_GetArrayItem(polls, i), "status"), i == n - 1 ? 200 : 400);
  cJSON_Delete(polls);
  cJSON_Delete(f);
  cJSON_Delete(s);

  /* A second client on the same directory starts LINKED from the file. */
  struct obs *o2;
  struct lwa *w2 = make(dir, &o2);
  assert_int_equal(lwa_state(w2), LWA_LINKED);
  static struct tok t2;
  t2 = (struct tok){0};
  assert_int_equal(lwa_get_token(w2, on_token, &t2), 0);
  assert_int_equal(t2.done, 1);
  assert_string_equal(t2.token, t.token);
  drop(w2);
  drop(w);
}

/* slow_down: the next poll comes at least twice the interval later. The mock also
 * doubles what it requires, so a client that did not would get slow_down forever and
 * never link. */
static void test_slow_down_doubles_interval(void **state) {
  (void)state;
  char dir[PATH_MAX];
  struct obs *o;
  struct lwa *w = fresh_client(dir, &o);
  lwa_ctrl("/_mock/lwa/fail", "{\"grant_type\": \"device_code\", \"error\": \"slow_down\"}");
  link_now(w, o);
  /* The first poll got slow_down; every later one (pending until the approval landed,
   * then the 200) came at least twice the interval after the one before: a lower
   * bound the client guarantees (it waits before it sends), not a speed. */
  cJSON *polls = requests_since("/lwa/auth/o2/token");
  int n = cJSON_GetArraySize(polls);
  assert_true(n >= 2);
  assert_int_equal((int)num(cJSON_GetArrayItem(polls, 0), "status"), 400);
  assert_int_equal((int)num(cJSON_GetArrayItem(polls, n - 1), "status"), 200);
  for (int i = 1; i < n; i++)
    assert_true(num(cJSON_GetArrayItem(polls, i), "time") -
                    num(cJSON_GetArrayItem(polls, i - 1), "time") >=
                2 * INTERVAL_S - 0.005);
  cJSON_Delete(polls);
  drop(w);
}

/* An expired code pair is replaced: the mock says invalid_code_pair after its clock
 * passed the pair's life; and ampd's own clock past the expiry fetches a new pair
 * without polling the old one. The newest code links. */
static void test_expired_code_pair_is_replaced(void **state) {
  (void)state;
  char dir[PATH_MAX];
  struct obs *o;
  struct lwa *w = fresh_client(dir, &o);
  int pairs = mock_count("codepair");
  assert_int_equal(lwa_link_start(w), 0);
  RUN_UNTIL(o->st == LWA_LINKING);
  char a[64], b[64];
  snprintf(a, sizeof(a), "%s", user_code_of(w));
  /* The next pair polls every 30 s, so none of its polls falls in the window below
   * (a real-time wait far longer than the test takes). */
  lwa_ctrl("/_mock/lwa/config", "{\"interval\": 30}");
  mock_clock(601);
  RUN_UNTIL(o->linking_calls >= 2);
  snprintf(b, sizeof(b), "%s", user_code_of(w));
  assert_string_not_equal(a, b);
  assert_int_equal(mock_count("codepair"), pairs + 2);
  cJSON *polls = requests_since("/lwa/auth/o2/token");
  assert_true(cJSON_GetArraySize(polls) >= 1); /* the poll that learnt it */
  cJSON_Delete(polls);

  /* ampd's clock past the new pair's expiry: a third pair, and no poll in between. */
  int polls_before = mock_count("device_code");
  lwa_ctrl("/_mock/lwa/config", "{\"interval\": 0.1}"); /* for the third pair */
  assert_int_equal(clock_advance(601 * 1000000LL, 601 * 1000000LL), 0);
  RUN_UNTIL(o->linking_calls >= 3);
  assert_int_equal(mock_count("codepair"), pairs + 3);
  assert_int_equal(mock_count("device_code"), polls_before);
  char c[64];
  snprintf(c, sizeof(c), "%s", user_code_of(w));
  assert_string_not_equal(b, c);
  approve(c);
  RUN_UNTIL(o->st == LWA_LINKED);
  drop(w);
}

/* Ahead of expiry: two callers at once, one refresh POST; the new refresh token
 * replaces the old in the file; then the timer alone refreshes the next time. */
static void test_refresh_ahead_single_flight(void **state) {
  (void)state;
  char dir[PATH_MAX];
  struct obs *o;
  struct lwa *w = linked_client(dir, &o);
  cJSON *f1 = token_file(dir);
  int refreshes = mock_count("refresh_token");

  /* 4 min before expiry, on both clocks (the mock's first: the refresh timer must not
   * fire before the two callers ask). */
  clocks_ahead(3360);
  static struct tok t1, t2;
  t1 = (struct tok){0};
  t2 = (struct tok){0};
  assert_int_equal(lwa_get_token(w, on_token, &t1), 0);
  assert_int_equal(lwa_get_token(w, on_token, &t2), 0);
  assert_int_equal(t1.done + t2.done, 0); /* both wait for the one refresh */
  RUN_UNTIL(t1.done && t2.done);
  assert_int_equal(t1.err, 0);
  assert_int_equal(t2.err, 0);
  assert_string_equal(t1.token, t2.token);
  assert_string_not_equal(t1.token, str(f1, "access_token"));
  assert_int_equal(mock_count("refresh_token"), refreshes + 1);
  cJSON *f2 = token_file(dir);
  assert_string_equal(str(f2, "access_token"), t1.token);
  assert_string_not_equal(str(f2, "refresh_token"), str(f1, "refresh_token"));

  /* Nobody asks: the timer at expiry - 5 min refreshes on its own, with the rotated
   * refresh token (the old one would be invalid_grant at the mock). */
  assert_int_equal(clock_advance(3360 * 1000000LL, 3360 * 1000000LL), 0);
  mock_clock(3360);
  RUN_UNTIL(mock_count("refresh_token") == refreshes + 2);
  cJSON *f3 = NULL;
  uint64_t guard = clock_mono_usec() + GUARD_USEC;
  for (;;) { /* the file is written when the reply is in */
    assert_true(clock_mono_usec() < guard);
    assert_true(loop_run_once(L, 20) >= 0);
    f3 = token_file(dir);
    if (strcmp(str(f3, "access_token"), t1.token) != 0)
      break;
    cJSON_Delete(f3);
  }
  assert_int_equal(lwa_state(w), LWA_LINKED);
  cJSON_Delete(f3);
  cJSON_Delete(f2);
  cJSON_Delete(f1);
  drop(w);
}

/* A 503 on refresh is retried (the first backoff step is 0 s) and the caller gets the
 * new token; the state stays LINKED. */
static void test_refresh_retries_5xx(void **state) {
  (void)state;
  char dir[PATH_MAX];
  struct obs *o;
  struct lwa *w = linked_client(dir, &o);
  static struct tok t0, tf, t, t3;
  get_token_now(w, &t0);
  int refreshes = mock_count("refresh_token");
  lwa_ctrl("/_mock/lwa/fail", "{\"grant_type\": \"refresh_token\", \"status\": 503}");
  lwa_token_rejected(w, t0.token);
  /* The rejected token is no good: the caller of the failed attempt learns the error,
   * the refresh is retried in the background (first backoff step: 0 s) and the next
   * caller waits for it. */
  get_token_now(w, &tf);
  assert_int_equal(tf.err, -AMP_EHTTP);
  get_token_now(w, &t);
  assert_int_equal(t.err, 0);
  assert_string_not_equal(t.token, t0.token);
  assert_int_equal(mock_count("refresh_token"), refreshes + 2);
  /* A rejection of the token already replaced forces nothing. */
  lwa_token_rejected(w, t0.token);
  get_token_now(w, &t3);
  assert_string_equal(t3.token, t.token);
  assert_int_equal(mock_count("refresh_token"), refreshes + 2);
  assert_int_equal(lwa_state(w), LWA_LINKED);
  drop(w);
}

/* While a refresh ahead of expiry fails (503 twice) and backs off, the old token still
 * works, so the caller gets it; the backoff retries until the refresh succeeds. */
static void test_refresh_backoff_keeps_old_token(void **state) {
  (void)state;
  char dir[PATH_MAX];
  struct obs *o;
  struct lwa *w = linked_client(dir, &o);
  static struct tok t0, t1, t2;
  get_token_now(w, &t0);
  int refreshes = mock_count("refresh_token");
  lwa_ctrl("/_mock/lwa/fail", "{\"grant_type\": \"refresh_token\", \"status\": 503, \"count\": 2}");
  clocks_ahead(3360);
  get_token_now(w, &t1);
  assert_int_equal(t1.err, 0);
  assert_string_equal(t1.token, t0.token);
  /* 0 s, then 0.5..1 s of backoff: the third attempt succeeds. */
  RUN_UNTIL(mock_count("refresh_token") >= refreshes + 3);
  uint64_t guard = clock_mono_usec() + GUARD_USEC;
  for (;;) { /* until the reply of the third attempt is in */
    get_token_now(w, &t2);
    if (strcmp(t2.token, t0.token) != 0)
      break;
    assert_true(clock_mono_usec() < guard);
    assert_true(loop_run_once(L, 20) >= 0);
  }
  assert_int_equal(t2.err, 0);
  assert_int_equal(mock_count("refresh_token"), refreshes + 3);
  assert_int_equal(lwa_state(w), LWA_LINKED);
  drop(w);
}

/* At most LWA_WAITERS_MAX callers wait for one refresh; the next is refused with
 * -EBUSY (its callback never runs); all the others get the one new token. */
static void test_waiters_are_bounded(void **state) {
  (void)state;
  char dir[PATH_MAX];
  struct obs *o;
  struct lwa *w = linked_client(dir, &o);
  int refreshes = mock_count("refresh_token");
  static struct tok ts[LWA_WAITERS_MAX + 1];
  memset(ts, 0, sizeof(ts));
  lwa_token_rejected(w, NULL);
  for (int i = 0; i < LWA_WAITERS_MAX; i++)
    assert_int_equal(lwa_get_token(w, on_token, &ts[i]), 0);
  assert_int_equal(lwa_get_token(w, on_token, &ts[LWA_WAITERS_MAX]), -EBUSY);
  RUN_UNTIL(ts[LWA_WAITERS_MAX - 1].done);
  for (int i = 0; i < LWA_WAITERS_MAX; i++) {
    assert_int_equal(ts[i].done, 1);
    assert_int_equal(ts[i].err, 0);
    assert_string_equal(ts[i].token, ts[0].token);
  }
  assert_int_equal(ts[LWA_WAITERS_MAX].done, 0);
  assert_int_equal(mock_count("refresh_token"), refreshes + 1);
  drop(w);
}

/* invalid_grant on refresh: UNLINKED (-ENOLINK), the waiter told, the file removed. */
static void test_invalid_grant_unlinks(void **state) {
  (void)state;
  char dir[PATH_MAX];
  struct obs *o;
  struct lwa *w = linked_client(dir, &o);
  assert_true(file_exists(dir));
  lwa_ctrl("/_mock/lwa/revoke", "{\"all\": true}");
  lwa_token_rejected(w, NULL);
  static struct tok t;
  get_token_now(w, &t);
  assert_int_equal(t.err, -ENOLINK);
  assert_int_equal(o->st, LWA_UNLINKED);
  assert_int_equal(o->err, -ENOLINK);
  assert_int_equal(lwa_last_error(w), -ENOLINK);
  assert_false(file_exists(dir));
  assert_int_equal(lwa_get_token(w, on_token, &t), -ENOLINK);
  drop(w);
}

/* path (O_EXCL: a new file) holding text, its mode set to mode. */
static void write_new_file(const char *path, const char *text, mode_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  assert_int_equal(fchmod(fd, mode), 0);
  assert_int_equal(close(fd), 0);
}

/* The mock refuses an unknown client id (unauthorized_client): the pairing ends with
 * -EACCES, and a forced invalid_request on a poll ends it with -AMP_EPROTO. */
static void test_pairing_errors_stop(void **state) {
  (void)state;
  mock_reset();
  char dir[PATH_MAX];
  new_dir(dir);
  struct obs *o;
  struct lwa *w = make_client(dir, "/lwa/", "not-our-client", &o);
  assert_int_equal(lwa_link_start(w), 0);
  RUN_UNTIL(o->calls > 0);
  assert_int_equal(o->st, LWA_UNLINKED);
  assert_int_equal(o->err, -EACCES);
  cJSON *pairs = requests_since("/lwa/auth/o2/create/codepair");
  assert_int_equal(cJSON_GetArraySize(pairs), 1);
  assert_int_equal((int)num(cJSON_GetArrayItem(pairs, 0), "status"), 400);
  cJSON_Delete(pairs);
  drop(w);

  struct obs *o2;
  w = make(dir, &o2);
  lwa_ctrl("/_mock/lwa/fail", "{\"grant_type\": \"device_code\", \"error\": \"invalid_request\"}");
  assert_int_equal(lwa_link_start(w), 0);
  RUN_UNTIL(o2->st == LWA_UNLINKED && o2->calls == 2);
  assert_int_equal(o2->err, -AMP_EPROTO);
  assert_int_equal(lwa_link_info(w, NULL, NULL, NULL), -ENOENT);
  drop(w);
}

/* A raw POST of body (Content-Type ctype) to path, and the LWA error code the mock must
 * refuse it with (400). */
struct refusal {
  const char *path, *ctype, *body, *error;
};

static void expect_refusal(size_t row, const struct refusal *r) {
  char url[256];
  url_of(url, sizeof(url), mock, "127.0.0.1", r->path);
  struct buf out = BUF_INIT(LWA_REPLY_MAX);
  struct http_header h = {"Content-Type", r->ctype};
  struct http_request_opts o = {.method = HTTP_POST,
                                .url = url,
                                .headers = &h,
                                .n_headers = 1,
                                .body = r->body,
                                .body_len = strlen(r->body),
                                .body_out = &out};
  struct result res = {0};
  fetch(H, &o, &res);
  cJSON *j = cJSON_Parse(out.data ? (const char *)out.data : "");
  const cJSON *e = cJSON_GetObjectItem(j, "error");
  char error[128];
  snprintf(error, sizeof(error), "%s", cJSON_IsString(e) ? e->valuestring : "(none)");
  cJSON_Delete(j);
  buf_done(&out);
  if (res.resp.status != 400)
    fail_msg("row %zu (%s %s): status %ld, expected 400", row, r->path, r->body, res.resp.status);
  if (strcmp(error, r->error) != 0)
    fail_msg("row %zu (%s %s): error %s, expected %s", row, r->path, r->body, error, r->error);
}

/* The mock is strict (docs/service.md §2), so what the client sends is checked. */
static void test_mock_is_strict(void **state) {
  (void)state;
  mock_reset();
  static const char form[] = "application/x-www-form-urlencoded";
  static const char cp[] = "/lwa/auth/o2/create/codepair", tk[] = "/lwa/auth/o2/token";
  static const struct refusal cases[] = {
      {cp, form, "response_type=device_code&client_id=" CLIENT_ID, "invalid_request"},
      {cp, form,
       "response_type=device_code&client_id=" CLIENT_ID "&scope=amazon_music%3Aaccess&extra=1",
       "invalid_request"},
      {cp, "application/json",
       "{\"response_type\":\"device_code\",\"client_id\":\"" CLIENT_ID
       "\",\"scope\":\"amazon_music:access\"}",
       "invalid_request"},
      {cp, form, "response_type=device_code&client_id=other&scope=amazon_music%3Aaccess",
       "unauthorized_client"},
      {tk, form, "grant_type=device_code&device_code=x", "invalid_request"},
      {tk, form, "grant_type=device_code&device_code=x&user_code=y", "invalid_code_pair"},
      {tk, form, "grant_type=password&username=a", "unsupported_grant_type"},
      {tk, form, "grant_type=refresh_token&refresh_token=Atzr%7Cx", "invalid_request"},
      {tk, form, "grant_type=refresh_token&refresh_token=Atzr%7Cx&client_id=" CLIENT_ID,
       "invalid_grant"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    expect_refusal(i + 1, &cases[i]);
}

/* A corrupt, truncated or loose-mode file: UNLINKED, and removed (reported once), no
 * crash. A good one: LINKED (so the refusals are the file's doing). */
static void test_bad_token_file_is_unlinked(void **state) {
  (void)state;
  static const struct {
    const char *what, *text;
    mode_t mode;
    enum lwa_state st;
  } cases[] = {
      {"not JSON", "\x01\x02garbage", 0600, LWA_UNLINKED},
      {"truncated", "{\"version\":1,\"refresh_token\":\"Atzr|abc\",\"access_token\":\"Atza|x", 0600,
       LWA_UNLINKED},
      {"mode 0644", "{\"version\":1,\"refresh_token\":\"Atzr|abc\",\"expires_at\":1}", 0644,
       LWA_UNLINKED},
      {"a space in the token", "{\"version\":1,\"refresh_token\":\"Atzr|a b\",\"expires_at\":1}",
       0600, LWA_UNLINKED},
      {"not an object", "[]", 0600, LWA_UNLINKED},
      {"good",
       "{\"version\":1,\"refresh_token\":\"Atzr|abc\",\"access_token\":\"Atza|x\","
       "\"expires_at\":1}",
       0600, LWA_LINKED},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char dir[PATH_MAX], path[PATH_MAX];
    new_dir(dir);
    assert_true(join(path, dir, LWA_TOKEN_FILE));
    write_new_file(path, cases[i].text, cases[i].mode);
    struct obs *o;
    struct lwa *w = make(dir, &o);
    static const char *const names[] = {"UNLINKED", "LINKING", "LINKED"};
    enum lwa_state st = lwa_state(w);
    if (st != cases[i].st)
      fail_msg("token file %s: %s, expected %s", cases[i].what, names[st], names[cases[i].st]);
    if (st == LWA_UNLINKED && file_exists(dir))
      fail_msg("token file %s: not removed", cases[i].what);
    drop(w);
  }
}

/* Last: no token the mock issued appears anywhere in what ampd logged (at debug), and
 * the log is not empty (so the search looked at something). */
static void test_no_token_in_log(void **state) {
  (void)state;
  struct buf b = BUF_INIT(LOG_MAX);
  int fd = open(log_file, O_RDONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  for (;;) {
    assert_int_equal(buf_reserve(&b, 65536), 0);
    ssize_t n = read(fd, b.data + b.len, 65536);
    assert_true(n >= 0);
    if (n == 0)
      break;
    buf_commit(&b, (size_t)n);
  }
  close(fd);
  const char *text = b.data ? (const char *)b.data : "";
  assert_non_null(strstr(text, "slow_down"));
  assert_non_null(strstr(text, "refused"));
  /* Each bad file was reported once (5 in test_bad_token_file_is_unlinked, 1 in
   * test_symlinked_token_file), and the token in them was not. */
  int reports = 0;
  for (const char *p = text; (p = strstr(p, "LWA token file in")) != NULL; p++)
    reports++;
  assert_int_equal(reports, 6);
  assert_null(strstr(text, "Atzr|abc"));
  cJSON *s = mock_state();
  cJSON *issued = cJSON_GetObjectItem(s, "issued"), *e;
  assert_true(cJSON_GetArraySize(issued) >= 6);
  cJSON_ArrayForEach(e, issued) {
    const char *at = str(e, "access_token"), *rt = str(e, "refresh_token");
    assert_null(strstr(text, at));
    assert_null(strstr(text, rt));
    assert_null(strstr(text, at + 5)); /* without the Atza| prefix, too */
    assert_null(strstr(text, rt + 5));
  }
  cJSON_Delete(s);
  buf_done(&b);
}

/* A token file that is a symlink is never followed: UNLINKED, and the target is left
 * alone. */
static void test_symlinked_token_file(void **state) {
  (void)state;
  char dir[PATH_MAX], target[PATH_MAX], path[PATH_MAX];
  new_dir(dir);
  assert_true(join(target, dir, "elsewhere.json"));
  assert_true(join(path, dir, LWA_TOKEN_FILE));
  write_new_file(target, "{\"version\":1,\"refresh_token\":\"Atzr|abc\",\"expires_at\":1}", 0600);
  assert_int_equal(symlink(target, path), 0);
  struct obs *o;
  struct lwa *w = make(dir, &o);
  assert_int_equal(lwa_state(w), LWA_UNLINKED);
  struct stat st;
  assert_int_equal(stat(target, &st), 0);
  drop(w);
}

static int group_setup(void **state) {
  (void)state;
  if (harness_setup("lwa", NULL, 0) < 0 || !join(log_file, tmp, "ampd.log"))
    return -1;
  log_fd = open(log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0)
    return -1;
  log_set_fd(log_fd);
  if (log_set_levels("debug") < 0)
    return -1;
  struct http_config cfg;
  http_config_init(&cfg);
  cfg.ca_file = ca;
  cfg.connect_timeout_ms = 5000;
  cfg.max_retries = 0;
  return http_new(L, &cfg, &H) < 0 ? -1 : 0;
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

/* lwa_peek_token: the token at once while it is fresh; inside the refresh-ahead window
 * the still valid token and a refresh started; after a rejection -EAGAIN until the
 * refresh is in. cloud/bearer builds its headers from it and names the token it sent
 * when rejected (a stale rejection forces no refresh). lwa_cancel_waiter withdraws a
 * waiting caller. */
static void test_peek_bearer_cancel(void **state) {
  (void)state;
  char dir[PATH_MAX];
  struct obs *o;
  struct lwa *w = fresh_client(dir, &o);
  char tok[LWA_TOKEN_MAX + 1], tok2[LWA_TOKEN_MAX + 1];
  assert_int_equal(lwa_peek_token(w, tok, sizeof(tok)), -ENOLINK);
  link_now(w, o);
  int refreshes = mock_count("refresh_token");
  static struct tok t1, t2;
  get_token_now(w, &t1);
  assert_int_equal(lwa_peek_token(w, tok, sizeof(tok)), 0);
  assert_string_equal(tok, t1.token);
  assert_int_equal(lwa_peek_token(w, tok2, 8), -AMP_ETOOBIG);

  /* In the refresh-ahead window: the old token now, the new one once the refresh is in. */
  clocks_ahead(3360);
  assert_int_equal(lwa_peek_token(w, tok2, sizeof(tok2)), 0);
  assert_string_equal(tok2, tok);
  RUN_UNTIL(mock_count("refresh_token") == refreshes + 1);
  RUN_UNTIL(lwa_peek_token(w, tok2, sizeof(tok2)) == 0 && strcmp(tok2, tok) != 0);
  assert_int_equal(mock_count("refresh_token"), refreshes + 1);

  /* bearer: the headers, then a rejection of what it sent: one refresh. */
  struct bearer b;
  bearer_init(&b, w, 1);
  struct http_header h[2];
  size_t n = 0;
  assert_int_equal(bearer_headers(&b, h, 1, &n), -EINVAL);
  assert_int_equal(bearer_headers(&b, h, 2, &n), 0);
  assert_int_equal(n, 2);
  assert_string_equal(h[0].name, "Authorization");
  assert_true(strncmp(h[0].value, "Bearer ", 7) == 0);
  assert_string_equal(h[0].value + 7, tok2);
  assert_string_equal(h[1].name, "hasExplicit");
  assert_string_equal(h[1].value, "true");
  bearer_rejected(&b);
  assert_int_equal(lwa_peek_token(w, tok, sizeof(tok)), -EAGAIN); /* rejected: none now */
  assert_int_equal(bearer_headers(&b, h, 2, &n), -EAGAIN);
  assert_true(b.value[0] == '\0'); /* nothing kept after a failure */

  /* Two callers wait for that refresh; one withdraws. */
  t1 = (struct tok){0};
  t2 = (struct tok){0};
  assert_int_equal(lwa_get_token(w, on_token, &t1), 0);
  assert_int_equal(lwa_get_token(w, on_token, &t2), 0);
  lwa_cancel_waiter(w, on_token, &t1);
  RUN_UNTIL(t2.done);
  assert_int_equal(t2.err, 0);
  assert_int_equal(t1.done, 0);
  assert_int_equal(mock_count("refresh_token"), refreshes + 2);
  assert_int_equal(lwa_peek_token(w, tok, sizeof(tok)), 0);
  assert_string_equal(tok, t2.token);

  /* A rejection naming a token that was replaced already forces nothing. */
  struct bearer stale;
  bearer_init(&stale, w, -1);
  memcpy(stale.value, "Bearer ", 7);
  memcpy(stale.value + 7, tok2, strlen(tok2) + 1); /* the token before the last refresh */
  bearer_rejected(&stale);
  assert_int_equal(lwa_peek_token(w, tok, sizeof(tok)), 0);
  assert_int_equal(bearer_headers(&stale, h, 1, &n), 0);
  assert_int_equal(n, 1); /* no hasExplicit for this one */
  for (int i = 0; i < 10; i++)
    assert_true(loop_run_once(L, 10) >= 0);
  assert_int_equal(mock_count("refresh_token"), refreshes + 2);
  bearer_wipe(&b);
  bearer_wipe(&stale);
  drop(w);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s SOURCE_DIR\n", argv[0]);
    return 2;
  }
  src_dir = argv[1];
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_link_pending_then_approved, free_live),
      cmocka_unit_test_teardown(test_slow_down_doubles_interval, free_live),
      cmocka_unit_test_teardown(test_expired_code_pair_is_replaced, free_live),
      cmocka_unit_test_teardown(test_refresh_ahead_single_flight, free_live),
      cmocka_unit_test_teardown(test_refresh_retries_5xx, free_live),
      cmocka_unit_test_teardown(test_refresh_backoff_keeps_old_token, free_live),
      cmocka_unit_test_teardown(test_waiters_are_bounded, free_live),
      cmocka_unit_test_teardown(test_invalid_grant_unlinks, free_live),
      cmocka_unit_test_teardown(test_pairing_errors_stop, free_live),
      cmocka_unit_test_teardown(test_mock_is_strict, free_live),
      cmocka_unit_test_teardown(test_bad_token_file_is_unlinked, free_live),
      cmocka_unit_test_teardown(test_symlinked_token_file, free_live),
      cmocka_unit_test_teardown(test_no_token_in_log, free_live),
      cmocka_unit_test_teardown(test_peek_bearer_cancel, free_live),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
