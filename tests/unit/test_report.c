/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloud/report without a network: the serializer (field names, which optional fields
 * appear, the ISO-8601 stamp, bounds), eventIds (version 4 UUIDs, all different), and
 * report_submit's side of the queue: the record is durable before anything is sent, its
 * kind says whether the queue may drop it, its stamp comes from core/clock, and a failed
 * append (EFBIG past RLIMIT_FSIZE) is returned with nothing queued; a queue file cut at
 * every byte offset of its last record is read back by report_new without that record.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cloud/evqueue.h"
#include "cloud/report.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/loop.h"
#include "net/http.h"

#define ID "0b8e2a5c-1f3d-4e6a-9b7c-2d4f6a8b0c1e"
#define WALL 1795466176123456 /* 2026-11-23T20:36:16.123456Z */
#define UUIDS 200             /* eventIds compared for uniqueness */

static struct report_event ev(enum report_type t) {
  return (struct report_event){.type = t,
                               .offset_ms = 61000,
                               .track_tag = "B000TRACK1",
                               .quality = "HD_44",
                               .seek_from_ms = 1000,
                               .error_code = "DECODE_FAILED"};
}

static void test_json_exact(void **state) {
  char out[REPORT_JSON_MAX];
  size_t len = 0;
  struct report_event e = ev(REPORT_SEEKED);
  assert_int_equal(report_event_json(&e, ID, WALL, out, sizeof(out), &len), 0);
  assert_string_equal(out, "{\"eventId\":\"" ID "\",\"eventType\":\"PLAYBACK_SEEKED\","
                           "\"offsetInMilliseconds\":61000,"
                           "\"eventTimestamp\":\"2026-11-23T20:36:16.123Z\","
                           "\"trackTag\":\"B000TRACK1\",\"quality\":\"HD_44\","
                           "\"seekFromMs\":1000}");
  assert_int_equal(len, strlen(out));

  e = ev(REPORT_ERROR);
  assert_int_equal(report_event_json(&e, ID, WALL, out, sizeof(out), NULL), 0);
  cJSON *o = cJSON_Parse(out);
  assert_non_null(o);
  assert_string_equal(cJSON_GetObjectItem(o, "errorCode")->valuestring, "DECODE_FAILED");
  assert_false(cJSON_HasObjectItem(o, "seekFromMs"));
  cJSON_Delete(o);
}

/* Every type: its name, the six fields always, seekFromMs / errorCode only where they
 * apply. */
static void test_json_fields_per_type(void **state) {
  static const char *const names[] = {"PLAYBACK_STARTED",  "PLAYBACK_PAUSED",   "PLAYBACK_RESUMED",
                                      "PLAYBACK_SEEKED",   "PLAYBACK_PROGRESS", "PLAYBACK_STOPPED",
                                      "PLAYBACK_FINISHED", "PLAYBACK_ERROR"};
  static const char *const always[] = {"eventId",        "eventType", "offsetInMilliseconds",
                                       "eventTimestamp", "trackTag",  "quality"};
  for (int t = REPORT_STARTED; t <= REPORT_ERROR; t++) {
    assert_string_equal(report_type_name((enum report_type)t), names[t]);
    char out[REPORT_JSON_MAX];
    struct report_event e = ev((enum report_type)t);
    assert_int_equal(report_event_json(&e, ID, WALL, out, sizeof(out), NULL), 0);
    cJSON *o = cJSON_Parse(out);
    assert_non_null(o);
    for (size_t k = 0; k < sizeof(always) / sizeof(always[0]); k++)
      assert_true(cJSON_HasObjectItem(o, always[k]));
    assert_string_equal(cJSON_GetObjectItem(o, "eventType")->valuestring, names[t]);
    assert_int_equal(cJSON_HasObjectItem(o, "seekFromMs"), t == REPORT_SEEKED);
    assert_int_equal(cJSON_HasObjectItem(o, "errorCode"), t == REPORT_ERROR);
    assert_int_equal(cJSON_GetArraySize(o), 6 + (t == REPORT_SEEKED || t == REPORT_ERROR));
    cJSON_Delete(o);
  }
  assert_null(report_type_name((enum report_type)8));
}

static void stamp_of(int64_t wall, char *dst, size_t n) {
  char out[REPORT_JSON_MAX];
  struct report_event e = ev(REPORT_STARTED);
  assert_int_equal(report_event_json(&e, ID, wall, out, sizeof(out), NULL), 0);
  cJSON *o = cJSON_Parse(out);
  snprintf(dst, n, "%s", cJSON_GetObjectItem(o, "eventTimestamp")->valuestring);
  cJSON_Delete(o);
}

static void test_timestamps(void **state) {
  char s[64];
  stamp_of(0, s, sizeof(s));
  assert_string_equal(s, "1970-01-01T00:00:00.000Z");
  stamp_of(999, s, sizeof(s)); /* below a millisecond: cut, not rounded */
  assert_string_equal(s, "1970-01-01T00:00:00.000Z");
  stamp_of(-1, s, sizeof(s)); /* before the epoch: floored */
  assert_string_equal(s, "1969-12-31T23:59:59.999Z");
  stamp_of(951782400000000 - 1000, s, sizeof(s)); /* the last ms of 2000-02-28 */
  assert_string_equal(s, "2000-02-28T23:59:59.999Z");
  stamp_of(951782400000000, s, sizeof(s)); /* a leap day */
  assert_string_equal(s, "2000-02-29T00:00:00.000Z");
  stamp_of(951868800000000 + 7 * 3600000000 + 123999, s, sizeof(s));
  assert_string_equal(s, "2000-03-01T07:00:00.123Z");
}

static void test_json_bounds(void **state) {
  char out[REPORT_JSON_MAX], tag[REPORT_TAG_MAX + 2];
  struct report_event e = ev(REPORT_STARTED);
  memset(tag, 'A', sizeof(tag) - 1);
  tag[sizeof(tag) - 1] = '\0';
  e.track_tag = tag; /* one byte too long */
  assert_int_equal(report_event_json(&e, ID, WALL, out, sizeof(out), NULL), -EINVAL);
  tag[REPORT_TAG_MAX] = '\0'; /* at the bound */
  assert_int_equal(report_event_json(&e, ID, WALL, out, sizeof(out), NULL), 0);
  e = ev(REPORT_STARTED);
  e.track_tag = "";
  assert_int_equal(report_event_json(&e, ID, WALL, out, sizeof(out), NULL), -EINVAL);
  e = ev(REPORT_STARTED);
  e.quality = NULL;
  assert_int_equal(report_event_json(&e, ID, WALL, out, sizeof(out), NULL), -EINVAL);
  e = ev(REPORT_ERROR);
  e.error_code = NULL;
  assert_int_equal(report_event_json(&e, ID, WALL, out, sizeof(out), NULL), -EINVAL);
  e = ev(REPORT_STARTED);
  e.error_code = NULL; /* not needed there */
  assert_int_equal(report_event_json(&e, ID, WALL, out, sizeof(out), NULL), 0);
  e.offset_ms = REPORT_OFFSET_MAX + 1;
  assert_int_equal(report_event_json(&e, ID, WALL, out, sizeof(out), NULL), -EINVAL);
  e = ev((enum report_type)8);
  assert_int_equal(report_event_json(&e, ID, WALL, out, sizeof(out), NULL), -EINVAL);
  e = ev(REPORT_STARTED);
  size_t len;
  assert_int_equal(report_event_json(&e, ID, WALL, out, sizeof(out), &len), 0);
  assert_int_equal(report_event_json(&e, ID, WALL, out, len, NULL), -AMP_ETOOBIG);
  assert_int_equal(report_event_json(&e, ID, WALL, out, len + 1, NULL), 0);
}

static void assert_uuid_v4(const char *s) {
  assert_int_equal(strlen(s), 36);
  for (size_t i = 0; i < 36; i++) {
    if (i == 8 || i == 13 || i == 18 || i == 23)
      assert_int_equal(s[i], '-');
    else
      assert_true(isdigit((unsigned char)s[i]) || (s[i] >= 'a' && s[i] <= 'f'));
  }
  assert_int_equal(s[14], '4');           /* version */
  assert_non_null(strchr("89ab", s[19])); /* variant 10xx */
}

static void test_uuids(void **state) {
  static char ids[UUIDS][REPORT_EVENT_ID_SIZE];
  for (size_t i = 0; i < UUIDS; i++) {
    assert_int_equal(report_uuid_v4(ids[i]), 0);
    assert_uuid_v4(ids[i]);
    for (size_t j = 0; j < i; j++)
      assert_string_not_equal(ids[i], ids[j]);
  }
}

/* ---------------------------------------------------------------- report_submit */

struct fx {
  char dir[64], path[128];
  struct loop *l;
  struct http *h;
  struct report *r;
};

static int fx_setup(void **state) {
  struct fx *f = calloc(1, sizeof(*f));
  if (!f)
    return -1;
  snprintf(f->dir, sizeof(f->dir), "/tmp/ampd-report-XXXXXX");
  if (!mkdtemp(f->dir))
    return -1;
  snprintf(f->path, sizeof(f->path), "%s/q", f->dir);
  struct http_config cfg;
  http_config_init(&cfg);
  if (loop_new(&f->l) < 0 || http_new(f->l, &cfg, &f->h) < 0)
    return -1;
  struct report_config rc = {.queue_path = f->path};
  if (report_new(f->l, f->h, &rc, &f->r) < 0)
    return -1;
  *state = f;
  return 0;
}

static int fx_teardown(void **state) {
  struct fx *f = *state;
  report_free(f->r);
  http_free(f->h);
  loop_free(f->l);
  unlink(f->path);
  rmdir(f->dir);
  free(f);
  return 0;
}

/* The records in the queue file, after the reporter let go of it. */
static struct evqueue *reopen(struct fx *f) {
  report_free(f->r);
  f->r = NULL;
  struct evqueue *q;
  assert_int_equal(evqueue_open(f->path, NULL, &q), 0);
  return q;
}

/* Submitted records are in the file before the loop ever ran (nothing could have been
 * sent), "<url>\n<json>", PROGRESS droppable, and stamped with core/clock's wall time. */
static void test_submit_queues_first(void **state) {
  struct fx *f = *state;
  /* 2030-01-01T00:00:00Z, give or take the time this test takes. */
  const int64_t target = 1893456000000000;
  assert_int_equal(clock_advance(0, target - clock_wall_usec()), 0);
  const char *url = "https://127.0.0.1:1/collector/x";
  char ids[2][REPORT_EVENT_ID_SIZE];
  struct report_event e = ev(REPORT_STARTED);
  assert_int_equal(report_submit(f->r, &e, url, ids[0]), 0);
  e = ev(REPORT_PROGRESS);
  assert_int_equal(report_submit(f->r, &e, url, ids[1]), 0);
  assert_string_not_equal(ids[0], ids[1]);
  assert_int_equal(report_submit(f->r, &e, "http://127.0.0.1:1/c", NULL), -AMP_EINSECURE);
  assert_int_equal(report_submit(f->r, &e, "https://a/\nb", NULL), -EINVAL);
  clock_reset_wall();

  struct evqueue *q = reopen(f);
  assert_int_equal(evqueue_count(q), 2);
  for (size_t i = 0; i < 2; i++) {
    struct evqueue_record rec;
    assert_int_equal(evqueue_peek(q, i, &rec), 0);
    assert_int_equal(rec.kind, i == 0 ? REPORT_KIND_EVENT : REPORT_KIND_PROGRESS);
    size_t ul = strlen(url);
    assert_true(rec.len > ul + 1);
    assert_memory_equal(rec.payload, url, ul);
    assert_int_equal(rec.payload[ul], '\n');
    cJSON *o = cJSON_ParseWithLength((const char *)rec.payload + ul + 1, rec.len - ul - 1);
    assert_non_null(o);
    assert_string_equal(cJSON_GetObjectItem(o, "eventId")->valuestring, ids[i]);
    assert_uuid_v4(ids[i]);
    const char *ts = cJSON_GetObjectItem(o, "eventTimestamp")->valuestring;
    assert_true(strncmp(ts, "2030-01-01T00:0", 15) == 0);
    cJSON_Delete(o);
  }
  evqueue_close(q);
}

/* A failed append (EFBIG stands in for ENOSPC: the same path) is the caller's error, and
 * nothing is queued; the next append works. */
static void test_submit_append_fails(void **state) {
  struct fx *f = *state;
  struct rlimit saved, rl;
  assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
  void (*old)(int) = signal(SIGXFSZ, SIG_IGN);
  const char *url = "https://127.0.0.1:1/collector/x";
  struct report_event e = ev(REPORT_STOPPED);
  char id[REPORT_EVENT_ID_SIZE] = "";
  rl = saved;
  rl.rlim_cur = 0;
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
  int r1 = report_submit(f->r, &e, url, id);
  int r2 = report_submit(f->r, &e, url, id);
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
  signal(SIGXFSZ, old);
  assert_int_equal(r1, -EFBIG);
  assert_int_equal(r2, -EFBIG);
  assert_string_equal(id, "");
  struct report_stats st;
  report_stats(f->r, &st);
  assert_int_equal(st.append_fails, 2);
  assert_int_equal(st.pending, 0);
  assert_int_equal(report_submit(f->r, &e, url, id), 0);
  assert_uuid_v4(id);
  struct evqueue *q = reopen(f);
  assert_int_equal(evqueue_count(q), 1);
  evqueue_close(q);
}

/* Records that can never be sent (no URL, a plain-http URL) are dropped at start-up and
 * counted, so they cannot wedge the queue; the good record behind them stays. */
static void test_unsendable_records_dropped(void **state) {
  struct fx *f = *state;
  report_free(f->r);
  f->r = NULL;
  static const char *const recs[] = {"no url in this record",
                                     "http://127.0.0.1:1/c\n{\"eventId\":\"x\"}",
                                     "https://127.0.0.1:1/c\n{\"eventId\":\"y\"}"};
  struct evqueue *q;
  assert_int_equal(evqueue_open(f->path, NULL, &q), 0);
  for (size_t i = 0; i < 3; i++)
    assert_int_equal(evqueue_append(q, REPORT_KIND_EVENT, recs[i], strlen(recs[i]), NULL), 0);
  evqueue_close(q);
  struct report_config rc = {.queue_path = f->path};
  assert_int_equal(report_new(f->l, f->h, &rc, &f->r), 0);
  struct report_stats st;
  report_stats(f->r, &st);
  assert_int_equal(st.corrupt, 2);
  assert_int_equal(st.pending, 1); /* the https one, in flight */
  q = reopen(f);
  assert_int_equal(evqueue_count(q), 1);
  struct evqueue_record rec;
  assert_int_equal(evqueue_peek(q, 0, &rec), 0);
  assert_int_equal(rec.len, strlen(recs[2]));
  assert_memory_equal(rec.payload, recs[2], rec.len);
  evqueue_close(q);
}

/* A queue file cut at every byte offset of its last record (a crash in the middle of that
 * append: offset 0 is the case where none of it reached the file) is read back by
 * report_new without that record and without a crash (ASan): the two records before it
 * are pending, byte for byte, none counts as corrupt, and the next submit is queued
 * behind them and found there by the next open (so the torn bytes were cut, not left
 * between the old records and the new one). */
static void test_torn_last_record_every_offset(void **state) {
  struct fx *f = *state;
  const char *url = "https://127.0.0.1:1/collector/torn";
  char ids[3][REPORT_EVENT_ID_SIZE];
  for (size_t i = 0; i < 3; i++) {
    struct report_event e = ev(REPORT_STARTED);
    e.offset_ms = 1000 * i;
    assert_int_equal(report_submit(f->r, &e, url, ids[i]), 0);
  }
  struct evqueue *q = reopen(f);
  assert_int_equal(evqueue_count(q), 3);
  uint8_t *pl[3];
  size_t plen[3], end[4] = {0};
  for (size_t i = 0; i < 3; i++) {
    struct evqueue_record rec;
    assert_int_equal(evqueue_peek(q, i, &rec), 0);
    pl[i] = malloc(rec.len);
    assert_non_null(pl[i]);
    memcpy(pl[i], rec.payload, rec.len);
    plen[i] = rec.len;
    end[i + 1] = end[i] + EVQUEUE_RECORD_OVERHEAD + rec.len;
  }
  evqueue_close(q);
  /* The file is the three records and nothing else. */
  FILE *fp = fopen(f->path, "rbe");
  assert_non_null(fp);
  uint8_t *file = malloc(end[3] + 1);
  assert_non_null(file);
  assert_int_equal(fread(file, 1, end[3] + 1, fp), end[3]);
  assert_int_equal(fclose(fp), 0);

  for (size_t cut = end[2]; cut < end[3]; cut++) {
    fp = fopen(f->path, "wbe");
    assert_non_null(fp);
    assert_int_equal(fwrite(file, 1, cut, fp), cut);
    assert_int_equal(fclose(fp), 0);
    struct report_config rc = {.queue_path = f->path};
    assert_int_equal(report_new(f->l, f->h, &rc, &f->r), 0);
    struct report_stats st;
    report_stats(f->r, &st);
    assert_int_equal(st.pending, 2);
    assert_int_equal(st.corrupt, 0);
    char id[REPORT_EVENT_ID_SIZE];
    struct report_event e = ev(REPORT_STOPPED);
    assert_int_equal(report_submit(f->r, &e, url, id), 0);
    report_stats(f->r, &st);
    assert_int_equal(st.pending, 3);

    q = reopen(f);
    assert_int_equal(evqueue_count(q), 3);
    struct evqueue_stats qs;
    evqueue_stats(q, &qs);
    assert_int_equal(qs.torn_tails, 0);
    for (size_t i = 0; i < 3; i++) {
      struct evqueue_record rec;
      assert_int_equal(evqueue_peek(q, i, &rec), 0);
      assert_int_equal(rec.seq, i + 1);
      if (i < 2) {
        assert_int_equal(rec.len, plen[i]);
        assert_memory_equal(rec.payload, pl[i], plen[i]);
      } else {
        /* The new event, not what was left of the torn one. */
        assert_non_null(memmem(rec.payload, rec.len, id, strlen(id)));
        assert_null(memmem(rec.payload, rec.len, ids[2], strlen(ids[2])));
      }
    }
    evqueue_close(q);
  }
  free(file);
  for (size_t i = 0; i < 3; i++)
    free(pl[i]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_json_exact),
      cmocka_unit_test(test_json_fields_per_type),
      cmocka_unit_test(test_timestamps),
      cmocka_unit_test(test_json_bounds),
      cmocka_unit_test(test_uuids),
      cmocka_unit_test_setup_teardown(test_submit_queues_first, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_submit_append_fails, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_unsendable_records_dropped, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_torn_last_record_every_offset, fx_setup, fx_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
