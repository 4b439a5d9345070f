/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fixture of the cloud/report integration tests (test_report.c, test_report_durable.c):
 * their main() and group setup on the mock of http_harness.h, a reporter on it with the
 * tests' short backoffs, and the looks at the mock's collector
 * (tools/mock/ampmock/modules/collector.py) and request log that both tests check
 * against. The helpers assert (they are called from cmocka tests).
 */
#ifndef AMPD_TESTS_COLLECTOR_FIXTURE_H
#define AMPD_TESTS_COLLECTOR_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "cloud/report.h"
#include "http_harness.h"
#include "net/http.h"

/* main() of a report test: argv[1] is the source tree and n_args arguments in all follow
 * argv[0] (usage names them); AMPD_LOG takes the daemon's log levels. The tests run as one
 * cmocka group: the mock up (harness_setup(tag)), the reporter's and the control client
 * made, then setup_more (NULL: nothing more; 0 or -1 as a cmocka group setup). */
int collector_main(int argc, char **argv, int n_args, const char *usage, const char *tag,
                   int (*setup_more)(void), const struct CMUnitTest *tests, size_t n_tests);

/* The mock's control channel on the fixture's own client: the reply's JSON (caller frees). */
cJSON *mock_ctrl(enum http_method m, const char *path, const char *json);

/* dst = tmp/<name><suffix> (PATH_MAX bytes): a test's queue file and the like. */
void tmp_file(char *dst, const char *name, const char *suffix);

/* A reporter on L and the fixture's client with cfg's queue, callbacks and bounds, the
 * tests' backoffs (20 to 100 ms) and, where cfg leaves it 0, a 10 s timeout. */
struct report *reporter_new(struct report_config cfg);

/* Run the loop until the reporter holds at most pending_max records and counted at least
 * retries_min retries (bounded by WAIT_GUARD_USEC); wait_drained: until its queue is empty. */
void wait_stats(struct report *r, size_t pending_max, uint64_t retries_min);
void wait_drained(struct report *r);

/* Records in the queue file at path (no reporter may hold it open). */
size_t queue_pending(const char *path);

/* "/collector/<cid>" into buf, and the URL of it on the mock (host localhost). */
void collector_path(char *buf, size_t n, const char *cid);
void collector_url(char *buf, size_t n, const char *cid);

/* The events the collector recorded for one collector id, in order (caller frees). */
cJSON *events_of(const char *cid);

/* The collector's count of events received again (and not recorded again). */
int mock_duplicates(void);

/* The collector holds exactly the events ids[0..n) for cid, in that order. With bearer,
 * each came with "Authorization: <bearer>", "hasExplicit: false" and a JSON Content-Type;
 * with offsets, event i has offsetInMilliseconds i * 1000. */
void assert_events(const char *cid, char (*ids)[REPORT_EVENT_ID_SIZE], size_t n, const char *bearer,
                   bool offsets);

/* The mock's request log holds n requests to /collector/<cid>; with status (NULL: not
 * checked), the i-th was answered status[i]. A failure names the collector id. */
void assert_posts(const char *cid, size_t n, const long *status);

#endif
