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
#include "collector_fixture.h"
#include "core/clock.h"
#include "core/err.h"
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
static char token[TOKEN_MAX], bearer[TOKEN_MAX + 16], token_file[PATH_MAX];

/* ---------------------------------------------------------------- the mock's side */

/* Add the rules (a JSON array) in one request, so they are in force together, in order;
 * ids[] gets their ids. */
static void add_rules(const char *json, int *ids, int n) {
  cJSON *r = mock_ctrl(HTTP_POST, "/_mock/faults", json);
  assert_int_equal(cJSON_GetArraySize(r), n);
  for (int i = 0; i < n; i++)
    ids[i] = (int)num(cJSON_GetArrayItem(r, i), "id");
  cJSON_Delete(r);
}

/* The hit count of rule id. */
static int rule_hits(int id) {
  cJSON *all = mock_ctrl(HTTP_GET, "/_mock/faults", NULL), *e;
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
  cJSON *log = requests_for(path), *e;
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
  tmp_file(qpath, kp->cid, ".evq");
  tmp_file(ids_path, kp->cid, ".ids");
  tmp_file(stats_path, kp->cid, ".stats");
  tmp_file(log, kp->cid, ".log");
  collector_path(path, sizeof(path), kp->cid);
  collector_url(url, sizeof(url), kp->cid);

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
  /* The collector holds all 100, each once, in submission order, with the driver's
   * headers, event i at offset i * 1000. */
  assert_events(kp->cid, ids, KILL_EVENTS, bearer, true);
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
    cJSON *lg = requests_for(path);
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
  return reporter_new((struct report_config){.queue_path = path, .headers = headers_cb});
}

static int submit_one(struct report *r, const char *url, size_t i, char id[REPORT_EVENT_ID_SIZE]) {
  struct report_event e = {.type = i % 2 ? REPORT_PAUSED : REPORT_RESUMED,
                           .offset_ms = 1000u * i,
                           .track_tag = "B000FULL01",
                           .quality = "HD_44"};
  return report_submit(r, &e, url, id);
}

/* A full-disk test: its collector id, queue file and URL, and what it changes and puts
 * back. */
struct disk {
  const char *cid;
  char qpath[PATH_MAX], url[256];
  int dups0;           /* the collector's duplicates before the test */
  struct rlimit saved; /* RLIMIT_FSIZE before disk_full() */
  void (*old)(int);    /* SIGXFSZ's disposition before disk_full() */
};

/* The queue file <cid>.evq and a reporter on it. */
static struct report *disk_open(struct disk *d, const char *cid) {
  d->cid = cid;
  tmp_file(d->qpath, cid, ".evq");
  collector_url(d->url, sizeof(d->url), cid);
  d->dups0 = mock_duplicates();
  return reporter(d->qpath);
}

/* Files may not grow past FULL_FSIZE_LIMIT from now (and SIGXFSZ is ignored); then queue
 * events ids[0...] until a submit fails (its error returned) or FULL_EVENTS_MAX are queued
 * (0 returned), *n counting them. Nothing may assert until disk_room(), or the tests after
 * this one would run with the limit. */
static int disk_full(struct disk *d, struct report *r, char (*ids)[REPORT_EVENT_ID_SIZE],
                     size_t *n) {
  assert_int_equal(getrlimit(RLIMIT_FSIZE, &d->saved), 0);
  assert_true(d->saved.rlim_max == RLIM_INFINITY || d->saved.rlim_max >= FULL_FSIZE_LIMIT);
  d->old = signal(SIGXFSZ, SIG_IGN);
  struct rlimit lim = d->saved;
  lim.rlim_cur = FULL_FSIZE_LIMIT;
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
  int err = 0;
  for (*n = 0; *n < FULL_EVENTS_MAX && (err = submit_one(r, d->url, *n, ids[*n])) == 0;)
    ++*n;
  return err;
}

/* The limit and SIGXFSZ as they were. */
static void disk_room(struct disk *d) {
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &d->saved), 0);
  signal(SIGXFSZ, d->old);
}

/* With room again: FULL_AFTER more events queue, ids[n...]. */
static void disk_queue_more(struct report *r, const struct disk *d,
                            char (*ids)[REPORT_EVENT_ID_SIZE], size_t n) {
  for (size_t i = 0; i < FULL_AFTER; i++)
    assert_int_equal(submit_one(r, d->url, n + i, ids[n + i]), 0);
}

/* The collector holds ids[0..n) in order, none received twice, each sent once. */
static void disk_delivered(const struct disk *d, char (*ids)[REPORT_EVENT_ID_SIZE], size_t n) {
  assert_events(d->cid, ids, n, bearer, true);
  assert_int_equal(mock_duplicates() - d->dups0, 0);
  assert_posts(d->cid, n, NULL); /* each sent once */
}

/* Events are queued until the file cannot grow (the loop does not run meanwhile, so
 * nothing is sent or acknowledged and the file only grows); the failing submit returns
 * -EFBIG and queues nothing. With the limit lifted new events queue again. A reporter
 * reopened on the file (as after a crash) delivers every queued event exactly once, in
 * order: the failed append left no torn bytes between the old records and the new. */
static void test_full_disk_loses_nothing(void **state) {
  static char ids[FULL_EVENTS_MAX + FULL_AFTER][REPORT_EVENT_ID_SIZE];
  struct disk d;
  struct report *r = disk_open(&d, "fulldisk");
  size_t n;
  char none[REPORT_EVENT_ID_SIZE] = "";
  int err = disk_full(&d, r, ids, &n);
  int again = submit_one(r, d.url, n, none); /* still full */
  struct stat qs;
  int stat_err = stat(d.qpath, &qs);
  disk_room(&d);

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
  disk_queue_more(r, &d, ids, n);
  report_free(r); /* nothing was sent: the loop never ran */
  assert_int_equal(queue_pending(d.qpath), n + FULL_AFTER);

  r = reporter(d.qpath);
  wait_drained(r);
  report_stats(r, &st);
  assert_int_equal(st.sent, n + FULL_AFTER);
  assert_int_equal(st.corrupt, 0);
  report_free(r);
  disk_delivered(&d, ids, n + FULL_AFTER);
  assert_int_equal(queue_pending(d.qpath), 0);
}

/* The disk fills up while events are being delivered: the acknowledgements that cannot
 * be written take effect in memory (nothing is sent twice, nothing is skipped), and once
 * there is room again they are made durable, so a reporter reopened on the file finds
 * nothing left to resend. */
static void test_full_disk_during_delivery(void **state) {
  static char ids[FULL_EVENTS_MAX + FULL_AFTER][REPORT_EVENT_ID_SIZE];
  struct disk d;
  struct report *r = disk_open(&d, "fulldeliver");
  size_t n;
  int err = disk_full(&d, r, ids, &n);
  /* Deliver everything with the disk still full. */
  uint64_t guard = clock_mono_usec() + WAIT_GUARD_USEC;
  struct report_stats st;
  bool timed_out = false;
  for (report_stats(r, &st); st.pending > 0 && !timed_out; report_stats(r, &st)) {
    timed_out = clock_mono_usec() >= guard;
    if (loop_run_once(L, 50) < 0)
      break;
  }
  disk_room(&d);
  assert_int_equal(err, -EFBIG);
  assert_true(n >= 2);
  assert_false(timed_out);
  assert_int_equal(st.pending, 0);
  assert_int_equal(st.sent, n);
  assert_int_equal(st.retries, 0);
  assert_events(d.cid, ids, n, bearer, true);

  /* Room again: new events queue and go out; then a reopened reporter has nothing. */
  disk_queue_more(r, &d, ids, n);
  wait_drained(r);
  report_free(r);
  assert_int_equal(queue_pending(d.qpath), 0);
  r = reporter(d.qpath);
  report_stats(r, &st);
  assert_int_equal(st.pending, 0);
  report_free(r);
  disk_delivered(&d, ids, n + FULL_AFTER);
}

/* ---------------------------------------------------------------- setup */

/* After the fixture's: a bearer the mock issued, as the strict collector requires, for
 * the in-process reporter and (in token_file) the driver. */
static int setup_token(void) {
  cJSON *t = mock_ctrl(HTTP_POST, "/_mock/lwa/issue", "{}");
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

int main(int argc, char **argv) {
  driver = argc > 2 ? argv[2] : NULL;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_kill9_before_first_ack),
      cmocka_unit_test(test_kill9_midway_after_503s),
      cmocka_unit_test(test_kill9_before_last_ack),
      cmocka_unit_test(test_kill9_in_retries),
      cmocka_unit_test(test_full_disk_loses_nothing),
      cmocka_unit_test(test_full_disk_during_delivery),
  };
  return collector_main(argc, argv, 2, "SOURCE_DIR REPORT_DRIVER", "report-durable", setup_token,
                        tests, sizeof(tests) / sizeof(tests[0]));
}
