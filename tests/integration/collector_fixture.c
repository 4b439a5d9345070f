/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The report tests' fixture (collector_fixture.h): main, the group setup, a reporter on
 * the mock, and the checks against the mock's collector and request log.
 */
#include "collector_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/evqueue.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/loop.h"

static struct http *H;   /* the reporter's client */
static struct http *ctl; /* the fixture's client for the mock's control channel */
static const char *group_tag;
static int (*group_setup_more)(void);

static int group_setup(void **state) {
  (void)state;
  if (harness_setup(group_tag, NULL, 0) < 0)
    return -1;
  H = client(0);
  ctl = client(0);
  return group_setup_more ? group_setup_more() : 0;
}

static int group_teardown(void **state) {
  (void)state;
  http_free(H);
  http_free(ctl);
  harness_teardown();
  return 0;
}

int collector_main(int argc, char **argv, int n_args, const char *usage, const char *tag,
                   int (*setup_more)(void), const struct CMUnitTest *tests, size_t n_tests) {
  if (argc < n_args + 1) {
    fprintf(stderr, "usage: %s %s\n", argv[0], usage);
    return 2;
  }
  src_dir = argv[1];
  if (getenv("AMPD_LOG") && log_set_levels(getenv("AMPD_LOG")) < 0)
    return 2;
  group_tag = tag;
  group_setup_more = setup_more;
  return _cmocka_run_group_tests("tests", tests, n_tests, group_setup, group_teardown);
}

cJSON *mock_ctrl(enum http_method m, const char *path, const char *json) {
  return ctrl_on(mock, ctl, m, path, json);
}

void tmp_file(char *dst, const char *name, const char *suffix) {
  char n[128];
  snprintf(n, sizeof(n), "%s%s", name, suffix);
  assert_true(join(dst, tmp, n));
}

struct report *reporter_new(struct report_config cfg) {
  cfg.backoff_min_ms = 20;
  cfg.backoff_max_ms = 100;
  if (!cfg.timeout_ms)
    cfg.timeout_ms = 10000;
  struct report *r;
  assert_int_equal(report_new(L, H, &cfg, &r), 0);
  return r;
}

void wait_stats(struct report *r, size_t pending_max, uint64_t retries_min) {
  uint64_t guard = clock_mono_usec() + WAIT_GUARD_USEC;
  struct report_stats st;
  for (report_stats(r, &st); st.pending > pending_max || st.retries < retries_min;
       report_stats(r, &st)) {
    assert_true(clock_mono_usec() < guard);
    assert_true(loop_run_once(L, 50) >= 0);
  }
}

void wait_drained(struct report *r) {
  wait_stats(r, 0, 0);
}

size_t queue_pending(const char *path) {
  struct evqueue *q;
  assert_int_equal(evqueue_open(path, NULL, &q), 0);
  size_t n = evqueue_count(q);
  evqueue_close(q);
  return n;
}

void collector_path(char *buf, size_t n, const char *cid) {
  snprintf(buf, n, "/collector/%s", cid);
}

void collector_url(char *buf, size_t n, const char *cid) {
  char path[128];
  collector_path(path, sizeof(path), cid);
  url_of(buf, n, mock, "localhost", path);
}

/* The collector's whole listing (caller frees). */
static cJSON *collector(void) {
  return mock_ctrl(HTTP_GET, "/_mock/collector", NULL);
}

cJSON *events_of(const char *cid) {
  cJSON *all = collector(), *out = cJSON_CreateArray(), *e;
  cJSON_ArrayForEach(e, cJSON_GetObjectItem(all, "events")) {
    if (strcmp(str(e, "collector"), cid) == 0)
      cJSON_AddItemToArray(out, cJSON_Duplicate(e, true));
  }
  cJSON_Delete(all);
  return out;
}

int mock_duplicates(void) {
  cJSON *all = collector();
  int d = (int)num(all, "duplicates");
  cJSON_Delete(all);
  return d;
}

void assert_events(const char *cid, char (*ids)[REPORT_EVENT_ID_SIZE], size_t n, const char *bearer,
                   bool offsets) {
  cJSON *ev = events_of(cid);
  assert_int_equal(cJSON_GetArraySize(ev), n);
  for (size_t i = 0; i < n; i++) {
    const cJSON *x = cJSON_GetArrayItem(ev, (int)i);
    assert_string_equal(str(x, "eventId"), ids[i]);
    if (offsets)
      assert_true(num(cJSON_GetObjectItem(x, "event"), "offsetInMilliseconds") ==
                  1000.0 * (double)i);
    if (!bearer)
      continue;
    const cJSON *hd = cJSON_GetObjectItem(x, "headers");
    assert_string_equal(str(hd, "authorization"), bearer);
    assert_string_equal(str(hd, "hasexplicit"), "false");
    assert_string_equal(str(hd, "content-type"), "application/json");
  }
  cJSON_Delete(ev);
}

void assert_posts(const char *cid, size_t n, const long *status) {
  char path[128];
  collector_path(path, sizeof(path), cid);
  cJSON *log = requests_for(path);
  size_t got = (size_t)cJSON_GetArraySize(log), bad = n;
  double s = 0;
  for (size_t i = 0; status && got == n && bad == n && i < n; i++)
    if ((s = num(cJSON_GetArrayItem(log, (int)i), "status")) != (double)status[i])
      bad = i;
  cJSON_Delete(log);
  if (got != n)
    fail_msg("%zu requests for %s in the mock's log, expected %zu", got, path, n);
  if (bad < n)
    fail_msg("request %zu for %s: status %.0f, expected %ld", bad, path, s, status[bad]);
}
