/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloud/report's durability end to end, against the mock's collector over TLS on
 * loopback (docs/service.md §6, docs/reliability.md "The playback-event queue"):
 *
 * - kill -9 in mid-send: report_driver (a reporter in a process of its own) queues 100
 *   events and is killed with SIGKILL while a POST is in flight (the mock holds it in a
 *   delay rule: the rule's hit count says it arrived) or while it retries through 503s.
 *   A second driver on the same queue file, with the collector healthy, drains it. The
 *   collector must hold all 100 eventIds exactly once, in submission order; the second
 *   driver must send exactly the records the first had not had acknowledged; and the
 *   collector's duplicates may only come from the POST in flight at the kill.
 * - a full disk (RLIMIT_FSIZE, SIGXFSZ ignored: EFBIG takes the path ENOSPC takes):
 *   report_submit returns the error, nothing queued before is lost, and once the limit
 *   is lifted new events queue again; a reporter reopened on the file delivers them all
 *   exactly once, in order; and delivery goes on while the disk is full (acknowledgements
 *   that cannot be written take effect in memory and are written once there is room).
 *
 * argv[1]: the source tree; argv[2]: the report_driver binary.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cloud/evqueue.h"
#include "cloud/report.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"
#include "http_harness.h"
#include "mockproc.h"
#include "net/http.h"

#define KILL_EVENTS 100        /* events the killed driver queues */
#define DELAY_MS 6000          /* the mock holds the POST to be killed in this long */
#define RETRY_503S 24          /* KILL_IN_503_RETRIES: 503s, each ... */
#define RETRY_DELAY_MS 250     /* ... this late, so the kill comes before the last */
#define DRIVER_RUN_MS 120000   /* the draining driver must be done by then */
#define FULL_EVENTS_MAX 1000   /* the full-disk test gives up queuing after this many */
#define FULL_FSIZE_LIMIT 8192u /* RLIMIT_FSIZE of the full-disk test (bytes) */
#define FULL_AFTER 5           /* events queued after the limit is lifted */
#define TOKEN_MAX 512          /* bytes of the mock's access token */
#define LINE_ID (REPORT_EVENT_ID_SIZE - 1)

static const char *driver; /* argv[2] */
static struct http *C;     /* the test's own client for the mock's control channel */
static struct http *H;     /* the in-process reporter's client */
static char token[TOKEN_MAX], bearer[TOKEN_MAX + 16], token_file[PATH_MAX];

/* ---------------------------------------------------------------- the mock's side */

static cJSON *collector(void) {
  return ctrl_on(mock, C, HTTP_GET, "/_mock/collector", NULL);
}

static int mock_duplicates(void) {
  cJSON *all = collector();
  int d = (int)num(all, "duplicates");
  cJSON_Delete(all);
  return d;
}

/* The events the collector recorded for one collector id, in order (caller frees). */
static cJSON *events_of(const char *cid) {
  cJSON *all = collector(), *out = cJSON_CreateArray(), *e;
  cJSON_ArrayForEach(e, cJSON_GetObjectItem(all, "events")) {
    if (strcmp(str(e, "collector"), cid) == 0)
      cJSON_AddItemToArray(out, cJSON_Duplicate(e, true));
  }
  cJSON_Delete(all);
  return out;
}

/* Request log entries for path (caller frees). */
static cJSON *log_of(const char *path) {
  cJSON *all = ctrl_on(mock, C, HTTP_GET, "/_mock/requests", NULL);
  cJSON *out = cJSON_CreateArray(), *e;
  cJSON_ArrayForEach(e, all) {
    if (strcmp(str(e, "path"), path) == 0)
      cJSON_AddItemToArray(out, cJSON_Duplicate(e, true));
  }
  cJSON_Delete(all);
  return out;
}

/* Add the rules (a JSON array) in one request, so they are in force together, in order;
 * ids[] gets their ids. */
static void add_rules(const char *json, int *ids, int n) {
  cJSON *r = ctrl_on(mock, C, HTTP_POST, "/_mock/faults", json);
  assert_int_equal(cJSON_GetArraySize(r), n);
  for (int i = 0; i < n; i++)
    ids[i] = (int)num(cJSON_GetArrayItem(r, i), "id");
  cJSON_Delete(r);
}

/* The hit count of rule id. */
static int rule_hits(int id) {
  cJSON *all = ctrl_on(mock, C, HTTP_GET, "/_mock/faults", NULL), *e;
  int hits = -1;
  cJSON_ArrayForEach(e, all) {
    if ((int)num(e, "id") == id)
      hits = (int)num(e, "hits");
  }
  cJSON_Delete(all);
  assert_true(hits >= 0);
  return hits;
}

/* Log entries for path that the rule id was applied to. */
static int log_entries_of_rule(const char *path, int id) {
  cJSON *log = log_of(path), *e;
  int n = 0;
  cJSON_ArrayForEach(e, log) {
    const cJSON *f = cJSON_GetObjectItem(e, "fault");
    if (cJSON_IsNumber(f) && (int)f->valuedouble == id)
      n++;
  }
  cJSON_Delete(log);
  return n;
}

/* Run the loop a little between two looks at the mock (bounded). */
static void pause_between_polls(uint64_t guard) {
  assert_true(clock_mono_usec() < guard);
  assert_true(loop_run_once(L, 20) >= 0);
}

/* ---------------------------------------------------------------- files */

static void path_in_tmp(char *dst, const char *name, const char *suffix) {
  char n[128];
  snprintf(n, sizeof(n), "%s%s", name, suffix);
  assert_true(join(dst, tmp, n));
}

/* The whole file at path into a NUL-terminated malloc'd buffer; NULL if it is absent. */
static char *slurp(const char *path, size_t max) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    assert_int_equal(errno, ENOENT);
    return NULL;
  }
  char *b = malloc(max + 1);
  assert_non_null(b);
  size_t len = 0;
  for (;;) {
    ssize_t n = read(fd, b + len, max - len);
    assert_true(n >= 0);
    if (n == 0)
      break;
    len += (size_t)n;
    assert_true(len < max);
  }
  close(fd);
  b[len] = '\0';
  return b;
}

static size_t queue_pending(const char *path) {
  struct evqueue *q;
  assert_int_equal(evqueue_open(path, NULL, &q), 0);
  size_t n = evqueue_count(q);
  evqueue_close(q);
  return n;
}

/* The eventIds the driver wrote (n lines of 36 characters) into ids. */
static void read_ids(const char *path, char (*ids)[REPORT_EVENT_ID_SIZE], size_t n) {
  char *b = slurp(path, n * (LINE_ID + 1) + 64);
  assert_non_null(b);
  assert_int_equal(strlen(b), n * (LINE_ID + 1));
  for (size_t i = 0; i < n; i++) {
    const char *line = b + i * (LINE_ID + 1);
    assert_int_equal(line[LINE_ID], '\n');
    memcpy(ids[i], line, LINE_ID);
    ids[i][LINE_ID] = '\0';
  }
  free(b);
}

struct driver_stats {
  unsigned long long submitted, sent, retries, rejected, corrupt, pending;
};

static void read_stats(const char *path, struct driver_stats *st) {
  char *b = slurp(path, 512);
  assert_non_null(b);
  int n =
      sscanf(b, "submitted %llu sent %llu retries %llu rejected %llu corrupt %llu pending %llu",
             &st->submitted, &st->sent, &st->retries, &st->rejected, &st->corrupt, &st->pending);
  free(b);
  assert_int_equal(n, 6);
}

/* ---------------------------------------------------------------- checks */

/* The collector holds exactly ids[0..n) for cid, in that order, sent with the driver's
 * headers; event i of the driver has offset i * 1000 (checked when offsets is true). */
static void assert_events(const char *cid, char (*ids)[REPORT_EVENT_ID_SIZE], size_t n,
                          bool offsets) {
  cJSON *ev = events_of(cid);
  assert_int_equal(cJSON_GetArraySize(ev), n);
  for (size_t i = 0; i < n; i++) {
    const cJSON *x = cJSON_GetArrayItem(ev, (int)i);
    assert_string_equal(str(x, "eventId"), ids[i]);
    if (offsets)
      assert_true(num(cJSON_GetObjectItem(x, "event"), "offsetInMilliseconds") ==
                  1000.0 * (double)i);
    const cJSON *hd = cJSON_GetObjectItem(x, "headers");
    assert_string_equal(str(hd, "authorization"), bearer);
    assert_string_equal(str(hd, "hasexplicit"), "false");
    assert_string_equal(str(hd, "content-type"), "application/json");
  }
  cJSON_Delete(ev);
}

/* ---------------------------------------------------------------- kill -9 */

/* How the driver is stopped. */
enum kill_how {
  KILL_IN_DELAY,       /* in a POST the mock delays, then answers normally (recorded) */
  KILL_IN_DELAY_503,   /* in a POST the mock delays, then answers 503 (never recorded) */
  KILL_IN_503_RETRIES, /* in RETRY_503S slow 503s: in flight or in a backoff */
};

struct kill_point {
  const char *cid;
  int acks;     /* POSTs let through (and so acknowledged) before the fault */
  int fail_503; /* 503s before the delayed POST (KILL_IN_DELAY*) */
  enum kill_how how;
};

/* Append printf output to b (bounded by b's max). */
__attribute__((format(printf, 2, 3))) static void rule_add(struct buf *b, const char *fmt, ...) {
  char tmp_rule[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp_rule, sizeof(tmp_rule), fmt, ap);
  va_end(ap);
  assert_true(n >= 0 && (size_t)n < sizeof(tmp_rule));
  assert_int_equal(buf_append(b, tmp_rule, (size_t)n), 0);
}

static void spawn_driver(const char *const *argv, const char *log, struct mockproc **ret) {
  struct mockproc_opts o = {.argv = argv, .log_path = log};
  assert_int_equal(mockproc_start(&o, ret), 0);
}

/* SIGKILL the driver; it must have been running until then. */
static void kill9(struct mockproc *m) {
  pid_t pid = mockproc_pid(m);
  assert_int_equal(kill(pid, SIGKILL), 0);
  siginfo_t si = {0};
  assert_int_equal(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
  assert_int_equal(si.si_code, CLD_KILLED);
  assert_int_equal(si.si_status, SIGKILL);
  assert_int_equal(mockproc_stop(m), -ECHILD); /* reaps it: not a clean exit */
}

static void run_kill_point(const struct kill_point *kp) {
  char qpath[PATH_MAX], ids_path[PATH_MAX], stats_path[PATH_MAX], log[PATH_MAX], url[256],
      path[128];
  path_in_tmp(qpath, kp->cid, ".evq");
  path_in_tmp(ids_path, kp->cid, ".ids");
  path_in_tmp(stats_path, kp->cid, ".stats");
  path_in_tmp(log, kp->cid, ".log");
  snprintf(path, sizeof(path), "/collector/%s", kp->cid);
  url_of(url, sizeof(url), mock, "localhost", path);

  /* The rules, in order: let `acks` POSTs through, then the fault. */
  struct buf rules = BUF_INIT(1024);
  int ids_rule[3], n_rules = 0;
  rule_add(&rules, "[");
  if (kp->acks > 0) {
    rule_add(&rules, "{\"path\":\"%s\",\"count\":%d},", path, kp->acks);
    n_rules++;
  }
  if (kp->fail_503 > 0) {
    rule_add(&rules, "{\"path\":\"%s\",\"status\":503,\"count\":%d},", path, kp->fail_503);
    n_rules++;
  }
  switch (kp->how) {
  case KILL_IN_DELAY:
    rule_add(&rules, "{\"path\":\"%s\",\"delay_ms\":%d,\"count\":1}", path, DELAY_MS);
    break;
  case KILL_IN_DELAY_503:
    rule_add(&rules, "{\"path\":\"%s\",\"delay_ms\":%d,\"status\":503,\"count\":1}", path,
             DELAY_MS);
    break;
  case KILL_IN_503_RETRIES:
    rule_add(&rules, "{\"path\":\"%s\",\"delay_ms\":%d,\"status\":503,\"count\":%d}", path,
             RETRY_DELAY_MS, RETRY_503S);
    break;
  }
  n_rules++;
  rule_add(&rules, "]");
  assert_int_equal(buf_append(&rules, "", 1), 0); /* the NUL */
  add_rules((const char *)rules.data, ids_rule, n_rules);
  buf_done(&rules);
  const int fault = ids_rule[n_rules - 1];
  const int dups0 = mock_duplicates();

  /* The first run: queue 100 events, send, and be killed. */
  char count[16];
  snprintf(count, sizeof(count), "%d", KILL_EVENTS);
  const char *argv1[] = {driver,         "--queue",  qpath,     "--url", url,     "--ca",   ca,
                         "--token-file", token_file, "--count", count,   "--ids", ids_path, NULL};
  struct mockproc *d;
  spawn_driver(argv1, log, &d);
  /* Wait until the POST to be killed is in flight: the fault rule's hit count is
   * bumped when the mock has read the request, before the delay (or, for the 503s,
   * until the head record has failed a few times). */
  const int want_hits = kp->how == KILL_IN_503_RETRIES ? 3 : 1;
  uint64_t guard = clock_mono_usec() + WAIT_GUARD_USEC;
  while (rule_hits(fault) < want_hits)
    pause_between_polls(guard);
  kill9(d);
  const int hits_at_kill = rule_hits(fault); /* nobody sends to this path now */

  /* Everything the first run let through was acknowledged: each POST is sent only after
   * the one before it was answered and acknowledged. */
  for (int i = 0; i < n_rules - 1; i++)
    assert_int_equal(rule_hits(ids_rule[i]), i == 0 && kp->acks > 0 ? kp->acks : kp->fail_503);
  char ids[KILL_EVENTS][REPORT_EVENT_ID_SIZE];
  read_ids(ids_path, ids, KILL_EVENTS);
  /* What the file holds after the kill: every record not yet acknowledged. */
  assert_int_equal(queue_pending(qpath), KILL_EVENTS - kp->acks);

  /* The second run, on the same file, with the collector healthy: drain and exit. */
  const char *argv2[] = {driver,         "--queue",  qpath,     "--url",    url,       "--ca", ca,
                         "--token-file", token_file, "--stats", stats_path, "--drain", NULL};
  assert_int_equal(mockproc_run(argv2, log, DRIVER_RUN_MS), 0);
  /* The collector holds all 100, each once, in submission order. */
  assert_events(kp->cid, ids, KILL_EVENTS, true);
  struct driver_stats st;
  read_stats(stats_path, &st);
  assert_int_equal(st.submitted, 0);
  assert_int_equal(st.sent, KILL_EVENTS - kp->acks); /* nothing acknowledged is resent */
  assert_int_equal(st.rejected, 0);
  assert_int_equal(st.corrupt, 0);
  assert_int_equal(st.pending, 0);
  assert_int_equal(queue_pending(qpath), 0);
  const int fault_hits = rule_hits(fault);
  if (kp->how == KILL_IN_503_RETRIES) {
    /* The first run was killed in its retries; the rest of the 503s hit the second run.
     * (A POST of the first run still on its way to the mock at the kill may be read, and
     * count, after hits_at_kill was read: one more.) */
    assert_true(hits_at_kill < RETRY_503S);
    assert_int_equal(fault_hits, RETRY_503S);
    assert_true(st.retries == (unsigned long long)(RETRY_503S - hits_at_kill) ||
                st.retries + 1 == (unsigned long long)(RETRY_503S - hits_at_kill));
  } else {
    assert_int_equal(hits_at_kill, 1);
    assert_int_equal(fault_hits, 1);
    assert_int_equal(st.retries, 0);
  }

  /* Every POST the mock saw: the first run's acknowledged ones, its failures, and the
   * second run's one per record it found pending. A delayed POST is logged when its
   * delay is over, so wait (bounded) until they are all there. For KILL_IN_DELAY that
   * includes the POST in flight at the kill, which the collector processed after its
   * delay, before or after the second run resent the same event. */
  const int posts = kp->acks + kp->fail_503 + fault_hits + (KILL_EVENTS - kp->acks);
  guard = clock_mono_usec() + WAIT_GUARD_USEC;
  for (;;) {
    cJSON *lg = log_of(path);
    int got = cJSON_GetArraySize(lg);
    cJSON_Delete(lg);
    if (got == posts)
      break;
    if (got > posts || clock_mono_usec() >= guard)
      assert_int_equal(got, posts);
    assert_true(loop_run_once(L, 20) >= 0);
  }
  const int in_flight_recorded = kp->how == KILL_IN_DELAY ? 1 : 0;
  assert_int_equal(log_entries_of_rule(path, fault), fault_hits);

  /* Duplicates only from the one POST in flight at the kill, and only when the collector
   * processed it (a delay rule with a 503 never reaches it). */
  assert_int_equal(mock_duplicates() - dups0, in_flight_recorded);
}

static void test_kill9_before_first_ack(void **state) {
  const struct kill_point kp = {.cid = "kill0", .acks = 0, .how = KILL_IN_DELAY};
  run_kill_point(&kp);
}

static void test_kill9_midway_after_503s(void **state) {
  const struct kill_point kp = {.cid = "kill50", .acks = 50, .fail_503 = 3, .how = KILL_IN_DELAY};
  run_kill_point(&kp);
}

static void test_kill9_before_last_ack(void **state) {
  const struct kill_point kp = {.cid = "kill99", .acks = 99, .how = KILL_IN_DELAY_503};
  run_kill_point(&kp);
}

static void test_kill9_in_retries(void **state) {
  const struct kill_point kp = {.cid = "kill30", .acks = 30, .how = KILL_IN_503_RETRIES};
  run_kill_point(&kp);
}

/* ---------------------------------------------------------------- full disk */

static int headers_cb(void *ud, struct http_header *out, size_t max, size_t *ret_n) {
  assert_true(max >= 2);
  out[0] = (struct http_header){"Authorization", bearer};
  out[1] = (struct http_header){"hasExplicit", "false"};
  *ret_n = 2;
  return 0;
}

static struct report *reporter(const char *path) {
  struct report_config cfg = {.queue_path = path,
                              .backoff_min_ms = 20,
                              .backoff_max_ms = 100,
                              .timeout_ms = 10000,
                              .headers = headers_cb};
  struct report *r;
  assert_int_equal(report_new(L, H, &cfg, &r), 0);
  return r;
}

static void wait_drained(struct report *r) {
  uint64_t guard = clock_mono_usec() + WAIT_GUARD_USEC;
  struct report_stats st;
  for (report_stats(r, &st); st.pending > 0; report_stats(r, &st)) {
    assert_true(clock_mono_usec() < guard);
    assert_true(loop_run_once(L, 50) >= 0);
  }
}

static int submit_one(struct report *r, const char *url, size_t i, char id[REPORT_EVENT_ID_SIZE]) {
  struct report_event e = {.type = i % 2 ? REPORT_PAUSED : REPORT_RESUMED,
                           .offset_ms = 1000u * i,
                           .track_tag = "B000FULL01",
                           .quality = "HD_44"};
  return report_submit(r, &e, url, id);
}

/* Events are queued until the file cannot grow (the loop does not run meanwhile, so
 * nothing is sent or acknowledged and the file only grows); the failing submit returns
 * -EFBIG and queues nothing. With the limit lifted new events queue again. A reporter
 * reopened on the file (as after a crash) delivers every queued event exactly once, in
 * order: the failed append left no torn bytes between the old records and the new. */
static void test_full_disk_loses_nothing(void **state) {
  const char *cid = "fulldisk";
  char qpath[PATH_MAX], url[256], path[128];
  path_in_tmp(qpath, cid, ".evq");
  snprintf(path, sizeof(path), "/collector/%s", cid);
  url_of(url, sizeof(url), mock, "localhost", path);
  const int dups0 = mock_duplicates();
  static char ids[FULL_EVENTS_MAX + FULL_AFTER][REPORT_EVENT_ID_SIZE];

  struct report *r = reporter(qpath);
  struct rlimit saved, lim;
  assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
  assert_true(saved.rlim_max == RLIM_INFINITY || saved.rlim_max >= FULL_FSIZE_LIMIT);
  void (*old)(int) = signal(SIGXFSZ, SIG_IGN);
  lim = saved;
  lim.rlim_cur = FULL_FSIZE_LIMIT;
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
  size_t n = 0;
  int err = 0, again;
  char none[REPORT_EVENT_ID_SIZE] = "";
  while (n < FULL_EVENTS_MAX && (err = submit_one(r, url, n, ids[n])) == 0)
    n++;
  again = submit_one(r, url, n, none); /* still full */
  struct stat qs;
  int stat_err = stat(qpath, &qs);
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
  signal(SIGXFSZ, old);

  assert_int_equal(err, -EFBIG);
  assert_int_equal(again, -EFBIG);
  assert_string_equal(none, "");
  assert_true(n >= 2);
  assert_int_equal(stat_err, 0);
  assert_true(qs.st_size <= (off_t)FULL_FSIZE_LIMIT);
  struct report_stats st;
  report_stats(r, &st);
  assert_int_equal(st.submitted, n);
  assert_int_equal(st.append_fails, 2);
  assert_int_equal(st.pending, n);

  /* The disk has room again: new events queue behind the old ones. */
  for (size_t i = 0; i < FULL_AFTER; i++)
    assert_int_equal(submit_one(r, url, n + i, ids[n + i]), 0);
  report_free(r); /* nothing was sent: the loop never ran */
  assert_int_equal(queue_pending(qpath), n + FULL_AFTER);

  r = reporter(qpath);
  wait_drained(r);
  report_stats(r, &st);
  assert_int_equal(st.sent, n + FULL_AFTER);
  assert_int_equal(st.corrupt, 0);
  report_free(r);
  assert_events(cid, ids, n + FULL_AFTER, true);
  assert_int_equal(mock_duplicates() - dups0, 0);
  cJSON *lg = log_of(path);
  assert_int_equal(cJSON_GetArraySize(lg), n + FULL_AFTER); /* each sent once */
  cJSON_Delete(lg);
  assert_int_equal(queue_pending(qpath), 0);
}

/* The disk fills up while events are being delivered: the acknowledgements that cannot
 * be written take effect in memory (nothing is sent twice, nothing is skipped), and once
 * there is room again they are made durable, so a reporter reopened on the file finds
 * nothing left to resend. */
static void test_full_disk_during_delivery(void **state) {
  const char *cid = "fulldeliver";
  char qpath[PATH_MAX], url[256], path[128];
  path_in_tmp(qpath, cid, ".evq");
  snprintf(path, sizeof(path), "/collector/%s", cid);
  url_of(url, sizeof(url), mock, "localhost", path);
  const int dups0 = mock_duplicates();
  static char ids[FULL_EVENTS_MAX + FULL_AFTER][REPORT_EVENT_ID_SIZE];

  struct report *r = reporter(qpath);
  struct rlimit saved, lim;
  assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
  void (*old)(int) = signal(SIGXFSZ, SIG_IGN);
  lim = saved;
  lim.rlim_cur = FULL_FSIZE_LIMIT;
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
  size_t n = 0;
  int err = 0;
  while (n < FULL_EVENTS_MAX && (err = submit_one(r, url, n, ids[n])) == 0)
    n++;
  /* Deliver everything with the disk still full. */
  uint64_t guard = clock_mono_usec() + WAIT_GUARD_USEC;
  struct report_stats st;
  bool timed_out = false;
  for (report_stats(r, &st); st.pending > 0 && !timed_out; report_stats(r, &st)) {
    timed_out = clock_mono_usec() >= guard;
    if (loop_run_once(L, 50) < 0)
      break;
  }
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
  signal(SIGXFSZ, old);
  assert_int_equal(err, -EFBIG);
  assert_true(n >= 2);
  assert_false(timed_out);
  assert_int_equal(st.pending, 0);
  assert_int_equal(st.sent, n);
  assert_int_equal(st.retries, 0);
  assert_events(cid, ids, n, true);

  /* Room again: new events queue and go out; then a reopened reporter has nothing. */
  for (size_t i = 0; i < FULL_AFTER; i++)
    assert_int_equal(submit_one(r, url, n + i, ids[n + i]), 0);
  wait_drained(r);
  report_free(r);
  assert_int_equal(queue_pending(qpath), 0);
  r = reporter(qpath);
  report_stats(r, &st);
  assert_int_equal(st.pending, 0);
  report_free(r);
  assert_events(cid, ids, n + FULL_AFTER, true);
  assert_int_equal(mock_duplicates() - dups0, 0);
  cJSON *lg = log_of(path);
  assert_int_equal(cJSON_GetArraySize(lg), n + FULL_AFTER); /* each sent once */
  cJSON_Delete(lg);
}

/* ---------------------------------------------------------------- setup */

static int group_setup(void **state) {
  if (harness_setup("report-durable", NULL, 0) < 0)
    return -1;
  C = client(0);
  H = client(0);
  /* A bearer the mock issued, as the strict collector requires. */
  cJSON *t = ctrl_on(mock, C, HTTP_POST, "/_mock/lwa/issue", "{}");
  const cJSON *a = cJSON_GetObjectItem(t, "access_token");
  int ok = cJSON_IsString(a) && strlen(a->valuestring) < sizeof(token);
  if (ok) {
    snprintf(token, sizeof(token), "%s", a->valuestring);
    snprintf(bearer, sizeof(bearer), "Bearer %s", token);
  }
  cJSON_Delete(t);
  if (!ok || !join(token_file, tmp, "bearer.token"))
    return -1;
  int fd = open(token_file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return -1;
  size_t len = strlen(token);
  ok = write(fd, token, len) == (ssize_t)len;
  if (close(fd) < 0 || !ok)
    return -1;
  return 0;
}

static int group_teardown(void **state) {
  http_free(H);
  http_free(C);
  harness_teardown();
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s SOURCE_DIR REPORT_DRIVER\n", argv[0]);
    return 2;
  }
  src_dir = argv[1];
  driver = argv[2];
  if (getenv("AMPD_LOG") && log_set_levels(getenv("AMPD_LOG")) < 0)
    return 2;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_kill9_before_first_ack),
      cmocka_unit_test(test_kill9_midway_after_503s),
      cmocka_unit_test(test_kill9_before_last_ack),
      cmocka_unit_test(test_kill9_in_retries),
      cmocka_unit_test(test_full_disk_loses_nothing),
      cmocka_unit_test(test_full_disk_during_delivery),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
