/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloud/evqueue: limits, dropping and compaction. Write failures (RLIMIT_FSIZE), bounds
 * (max_records, max_bytes, droppable kinds), ack and compaction, a compaction that
 * fails, acks with nothing in memory, and records shed at open when the file was written
 * under larger limits. Format and recovery: test_evqueue.c.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cloud/evqueue.h"
#include "core/err.h"
#include "tests/unit/evqueue_testutil.h"

/* The kinds these tests write: P is precious, D droppable under the limits below. */
enum { P = 0, D = 1 };
/* Room for every record the tests write, and room for one record only. */
static const struct evqueue_limits roomy = {.max_records = 100, .droppable_mask = 1u << D};
static const struct evqueue_limits one = {.max_records = 1, .droppable_mask = 1u << D};

static void set_fsize_limit(rlim_t cur) {
  struct rlimit rl;
  assert_int_equal(getrlimit(RLIMIT_FSIZE, &rl), 0);
  rl.rlim_cur = cur;
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

/* A write that fails part-way (EFBIG past RLIMIT_FSIZE stands in for ENOSPC: the same
 * path) leaves the file as it was; nothing queued is lost. */
static void test_write_failure(void **state) {
  struct fx *f = *state;
  struct rlimit saved;
  assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
  void (*old)(int) = signal(SIGXFSZ, SIG_IGN);
  struct evqueue *q = NULL;
  assert_int_equal(evqueue_open(f->path, NULL, &q), 0);
  for (int i = 0; i < 3; i++)
    append_std(q, 0);
  off_t size = fsize(f->path);
  uint8_t big[200];
  memset(big, 0xab, sizeof(big));
  /* Room for a few bytes of the record (a torn write), then none at all. */
  const rlim_t room[] = {10, 0};
  for (size_t k = 0; k < 2; k++) {
    set_fsize_limit((rlim_t)size + room[k]);
    int rc = evqueue_append(q, 0, big, sizeof(big), NULL);
    set_fsize_limit(saved.rlim_cur);
    assert_int_equal(rc, -EFBIG);
    assert_int_equal(fsize(f->path), size);
    assert_int_equal(evqueue_count(q), 3);
  }
  evqueue_close(q);
  q = NULL;
  assert_int_equal(evqueue_open(f->path, NULL, &q), 0);
  struct evqueue_stats st;
  evqueue_stats(q, &st);
  assert_int_equal(st.torn_tails, 0);
  assert_int_equal(evqueue_count(q), 3);
  for (size_t i = 0; i < 3; i++)
    check_record(q, i, i + 1);
  /* A failed append used no seq. */
  assert_int_equal(append_std(q, 0), 4);

  /* An ack that cannot be written still takes effect in memory, and goes to disk with
   * the next append: after a reopen record 1 is not handed out again. */
  size = fsize(f->path);
  set_fsize_limit((rlim_t)size);
  int rc = evqueue_ack(q, 1);
  set_fsize_limit(saved.rlim_cur);
  assert_int_equal(rc, -EFBIG);
  assert_int_equal(fsize(f->path), size);
  assert_int_equal(evqueue_count(q), 3);
  check_record(q, 0, 2);
  /* The caller's retry of that ack (the same seq, or one below it) writes it: durable
   * now, with no append, so a reopen does not hand record 1 out again. */
  assert_int_equal(evqueue_ack(q, 1), 0);
  assert_int_equal(fsize(f->path), size + OH);
  assert_int_equal(evqueue_ack(q, 1), 0);
  assert_int_equal(fsize(f->path), size + OH);
  evqueue_close(q);
  q = NULL;
  assert_int_equal(evqueue_open(f->path, NULL, &q), 0);
  assert_int_equal(evqueue_count(q), 3);
  check_record(q, 0, 2);
  assert_int_equal(append_std(q, 0), 5);
  evqueue_close(q);
  q = NULL;
  assert_int_equal(evqueue_open(f->path, NULL, &q), 0);
  assert_int_equal(evqueue_count(q), 4);
  for (size_t i = 0; i < 4; i++)
    check_record(q, i, i + 2);
  evqueue_close(q);
  signal(SIGXFSZ, old);
}

static void test_bounds(void **state) {
  struct fx *f = *state;
  const struct evqueue_limits lim = {.max_records = 5, .droppable_mask = 1u << D};
  struct evqueue *q = NULL;
  assert_int_equal(evqueue_open(f->path, &lim, &q), 0);
  const uint8_t kinds[] = {P, D, P, D, P};
  for (size_t i = 0; i < 5; i++)
    append_std(q, kinds[i]);
  assert_int_equal(append_std(q, P), 6); /* drops 2, the oldest droppable */
  assert_int_equal(append_std(q, D), 7); /* drops 4 */
  assert_int_equal(append_std(q, P), 8); /* drops 7 */
  const uint64_t want[] = {1, 3, 5, 6, 8};
  assert_int_equal(evqueue_count(q), 5);
  for (size_t i = 0; i < 5; i++)
    check_record(q, i, want[i]);
  /* Only precious records left: refused, nothing changes. */
  uint8_t b[4] = {0};
  assert_int_equal(evqueue_append(q, P, b, sizeof(b), NULL), -AMP_ETOOBIG);
  assert_int_equal(evqueue_append(q, D, b, sizeof(b), NULL), -AMP_ETOOBIG);
  struct evqueue_stats st;
  evqueue_stats(q, &st);
  assert_int_equal(st.dropped, 3);
  assert_int_equal(st.pending, 5);
  assert_int_equal(st.next_seq, 9);
  evqueue_close(q);

  /* The drops are durable, also under limits that would have room for them. */
  q = NULL;
  assert_int_equal(evqueue_open(f->path, &roomy, &q), 0);
  assert_int_equal(evqueue_count(q), 5);
  for (size_t i = 0; i < 5; i++)
    check_record(q, i, want[i]);
  evqueue_close(q);
  unlink(f->path);

  /* max_bytes: a big record makes several droppable ones go, oldest first. */
  const struct evqueue_limits lb = {.max_bytes = 5 * (OH + 100), .droppable_mask = 1u << D};
  q = NULL;
  assert_int_equal(evqueue_open(f->path, &lb, &q), 0);
  uint8_t hundred[100], big[250];
  memset(hundred, 1, sizeof(hundred));
  memset(big, 2, sizeof(big));
  const uint8_t kb[] = {D, D, P, P, D};
  for (size_t i = 0; i < 5; i++)
    assert_int_equal(evqueue_append(q, kb[i], hundred, sizeof(hundred), NULL), 0);
  assert_int_equal(evqueue_count(q), 5);
  uint64_t seq = 0;
  /* 5 * 121 + 271 over 605: dropping 1 and 2 leaves 363 + 271 = 634, still over; 5 too. */
  assert_int_equal(evqueue_append(q, P, big, sizeof(big), &seq), 0);
  assert_int_equal(seq, 6);
  const uint64_t wb[] = {3, 4, 6};
  assert_int_equal(evqueue_count(q), 3);
  for (size_t i = 0; i < 3; i++) {
    struct evqueue_record r;
    assert_int_equal(evqueue_peek(q, i, &r), 0);
    assert_int_equal(r.seq, wb[i]);
  }
  evqueue_stats(q, &st);
  assert_int_equal(st.dropped, 3);
  assert_int_equal(st.pending_bytes, 2 * (OH + 100) + OH + 250);
  assert_true(st.pending_bytes <= lb.max_bytes);
  assert_int_equal(evqueue_append(q, P, big, sizeof(big), NULL), -AMP_ETOOBIG);
  evqueue_close(q);

  /* Reopened under smaller limits: precious records are kept beyond them. */
  const struct evqueue_limits tiny = {.max_records = 1, .droppable_mask = 1u << D};
  q = NULL;
  assert_int_equal(evqueue_open(f->path, &tiny, &q), 0);
  assert_int_equal(evqueue_count(q), 3);
  assert_int_equal(evqueue_append(q, D, "x", 1, NULL), -AMP_ETOOBIG);
  evqueue_close(q);
}

static void test_ack_compaction(void **state) {
  struct fx *f = *state;
  uint8_t k[1000];
  struct evqueue *q = NULL;
  struct evqueue_stats st;
  const off_t rec = OH + sizeof(k);
  assert_int_equal(evqueue_open(f->path, NULL, &q), 0);
  for (uint64_t s = 1; s <= 10; s++) {
    memset(k, (int)s, sizeof(k));
    assert_int_equal(evqueue_append(q, 0, k, sizeof(k), NULL), 0);
  }
  assert_int_equal(evqueue_ack(q, 11), -EINVAL); /* never handed out */
  assert_int_equal(evqueue_ack(q, 1), 0);
  assert_int_equal(evqueue_count(q), 9);
  evqueue_stats(q, &st);
  assert_int_equal(st.compactions, 0);
  assert_int_equal(fsize(f->path), 10 * rec + OH); /* a small ACK record */
  evqueue_close(q);

  /* The ack survives a restart (record 1 is not resent); the open compacts. */
  q = NULL;
  assert_int_equal(evqueue_open(f->path, NULL, &q), 0);
  assert_int_equal(evqueue_count(q), 9);
  evqueue_stats(q, &st);
  assert_int_equal(st.compactions, 1);
  assert_int_equal(fsize(f->path), 9 * rec);
  /* 6 acked records are over half of the file: compacted at once. */
  assert_int_equal(evqueue_ack(q, 4), 0);
  evqueue_stats(q, &st);
  assert_int_equal(st.compactions, 1);
  assert_int_equal(evqueue_ack(q, 6), 0);
  assert_int_equal(evqueue_ack(q, 5), 0); /* below an earlier ack: nothing */
  evqueue_stats(q, &st);
  assert_int_equal(st.compactions, 2);
  assert_int_equal(fsize(f->path), 4 * rec);
  assert_int_equal(st.file_bytes, 4 * rec);
  evqueue_close(q);

  q = NULL;
  assert_int_equal(evqueue_open(f->path, NULL, &q), 0);
  assert_int_equal(evqueue_count(q), 4);
  for (size_t i = 0; i < 4; i++) {
    struct evqueue_record r;
    assert_int_equal(evqueue_peek(q, i, &r), 0);
    assert_int_equal(r.seq, 7 + i);
    memset(k, (int)(7 + i), sizeof(k));
    assert_memory_equal(r.payload, k, sizeof(k));
  }
  evqueue_stats(q, &st);
  assert_int_equal(st.compactions, 0);
  /* All acked: the file keeps only the numbering. */
  assert_int_equal(evqueue_ack(q, 10), 0);
  assert_int_equal(fsize(f->path), OH);
  evqueue_close(q);
  q = NULL;
  assert_int_equal(evqueue_open(f->path, NULL, &q), 0);
  assert_int_equal(evqueue_count(q), 0);
  uint64_t seq = 0;
  assert_int_equal(evqueue_append(q, 0, "a", 1, &seq), 0);
  assert_int_equal(seq, 11);
  evqueue_close(q);
}

/* A compaction that cannot happen (here its temp file is a directory) fails no call,
 * is counted, leaves the queue file valid, and is done once it can be. */
static void test_compaction_failure(void **state) {
  struct fx *f = *state;
  char tmp[128];
  snprintf(tmp, sizeof(tmp), "%s.tmp", f->path);
  assert_int_equal(mkdir(tmp, 0700), 0);
  struct evqueue *q = NULL;
  assert_int_equal(evqueue_open(f->path, NULL, &q), 0);
  for (int i = 0; i < 10; i++)
    append_std(q, 0);
  off_t before = fsize(f->path);
  assert_int_equal(evqueue_ack(q, 8), 0);
  struct evqueue_stats st;
  evqueue_stats(q, &st);
  assert_int_equal(st.compactions, 0);
  assert_true(st.compact_failures >= 1);
  assert_int_equal(fsize(f->path), before + OH);
  assert_int_equal(append_std(q, 0), 11);
  evqueue_close(q);
  q = NULL;
  assert_int_equal(evqueue_open(f->path, NULL, &q), 0);
  assert_int_equal(evqueue_count(q), 3);
  for (size_t i = 0; i < 3; i++)
    check_record(q, i, 9 + i);
  evqueue_close(q);
  assert_int_equal(rmdir(tmp), 0);
  q = NULL;
  assert_int_equal(evqueue_open(f->path, NULL, &q), 0);
  evqueue_stats(q, &st);
  assert_int_equal(st.compactions, 1);
  assert_int_equal(st.compact_failures, 0);
  assert_int_equal(st.file_bytes, st.pending_bytes);
  assert_int_equal(fsize(f->path), st.pending_bytes);
  evqueue_close(q);
}

/*
 * An ACK when no record was ever held in memory: a queue reopened on a file that holds
 * only its SEQ record (everything acked, then compacted) and acked again with an older
 * seq, and a file with an ACK right after a SEQ record. remove_upto() used to memmove
 * from NULL + 0 (undefined behaviour: UBSan stops the asan build there). Found by
 * tests/fuzz/fuzz_evqueue.c.
 */
static void test_ack_nothing_held(void **state) {
  struct fx *f = *state;
  struct evqueue *q = NULL;
  assert_int_equal(evqueue_open(f->path, NULL, &q), 0);
  for (int i = 0; i < 3; i++)
    append_std(q, 0);
  assert_int_equal(evqueue_ack(q, 3), 0);
  evqueue_close(q);
  assert_int_equal(fsize(f->path), OH); /* compacted to the SEQ record alone */
  q = NULL;
  assert_int_equal(evqueue_open(f->path, NULL, &q), 0);
  assert_int_equal(evqueue_count(q), 0);
  assert_int_equal(evqueue_ack(q, 2), 0);
  assert_int_equal(evqueue_count(q), 0);
  assert_int_equal(append_std(q, 1), 4);
  evqueue_close(q);

  uint8_t b[2 * OH];
  size_t len = put_record(b, 5, EVQUEUE_KIND_SEQ, "");
  len += put_record(b + len, 3, EVQUEUE_KIND_ACK, "");
  spit(f->path, b, len);
  q = NULL;
  assert_int_equal(evqueue_open(f->path, NULL, &q), 0);
  struct evqueue_stats st;
  evqueue_stats(q, &st);
  assert_int_equal(st.torn_tails, 0);
  assert_int_equal(st.next_seq, 6);
  assert_int_equal(evqueue_count(q), 0);
  evqueue_close(q);
}

/* The file both shed tests start from: a fresh queue written under roomy limits, a P
 * record (seq 1) and then a D record (seq 2) with the payload given, which an open under
 * `one` sheds. */
static void write_p_then_d(const char *path, const void *d_payload, size_t d_len) {
  unlink(path);
  struct evqueue *q = NULL;
  assert_int_equal(evqueue_open(path, &roomy, &q), 0);
  append_std(q, P);
  uint64_t seq = 0;
  assert_int_equal(evqueue_append(q, D, d_payload, d_len, &seq), 0);
  assert_int_equal(seq, 2);
  evqueue_close(q);
}

/* Records shed at open (a file written under larger limits) stay dropped: the open
 * compacts them away, also when the file's size equals the compacted one's (a shed
 * record with no payload is as big as the SEQ record that replaces it: the fuzzer's
 * crash-80b728aa), and the seqs they had are not handed out again. */
static void test_shed_at_open_durable(void **state) {
  struct fx *f = *state;
  for (size_t shed_len = 0; shed_len <= 4; shed_len += 4) {
    write_p_then_d(f->path, shed_len ? "drop" : NULL, shed_len);

    struct evqueue *q = NULL;
    assert_int_equal(evqueue_open(f->path, &one, &q), 0);
    struct evqueue_stats st;
    evqueue_stats(q, &st);
    assert_int_equal(st.dropped, 1);
    assert_int_equal(st.compactions, 1);
    assert_int_equal(evqueue_count(q), 1);
    check_record(q, 0, 1);
    evqueue_close(q);

    q = NULL;
    assert_int_equal(evqueue_open(f->path, &roomy, &q), 0);
    evqueue_stats(q, &st);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.torn_tails, 0);
    assert_int_equal(st.next_seq, 3);
    assert_int_equal(evqueue_count(q), 1);
    check_record(q, 0, 1);
    evqueue_close(q);
  }
}

/* A shed at open whose compaction fails (here its temp file is a directory, as for a
 * read-only directory or a full disk that still takes a small append) must not bring the
 * shed records back at a later open: not after the precious record ahead of them was
 * acked, under the same limits or larger ones. */
static void test_shed_compaction_failure(void **state) {
  struct fx *f = *state;
  char tmp[128];
  snprintf(tmp, sizeof(tmp), "%s.tmp", f->path);
  uint8_t d[512];
  write_p_then_d(f->path, d, payload_for(2, d));

  assert_int_equal(mkdir(tmp, 0700), 0);
  struct evqueue *q = NULL;
  assert_int_equal(evqueue_open(f->path, &one, &q), 0);
  struct evqueue_stats st;
  evqueue_stats(q, &st);
  assert_int_equal(st.dropped, 1);
  assert_int_equal(st.compactions, 0);
  assert_int_equal(st.compact_failures, 1);
  assert_int_equal(evqueue_count(q), 1);
  check_record(q, 0, 1);
  assert_int_equal(evqueue_ack(q, 1), 0);
  assert_int_equal(evqueue_count(q), 0);
  evqueue_close(q);

  const struct evqueue_limits *reopen[] = {&one, &roomy};
  for (size_t k = 0; k < 2; k++) {
    q = NULL;
    assert_int_equal(evqueue_open(f->path, reopen[k], &q), 0);
    size_t n = evqueue_count(q);
    evqueue_stats(q, &st);
    evqueue_close(q);
    assert_int_equal(st.next_seq, 3);
    if (n != 0)
      fail_msg("reopen %zu: %zu record(s) back, the shed seq 2 among them", k, n);
  }
  assert_int_equal(rmdir(tmp), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_write_failure, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bounds, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ack_compaction, setup, teardown),
      cmocka_unit_test_setup_teardown(test_compaction_failure, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ack_nothing_held, setup, teardown),
      cmocka_unit_test_setup_teardown(test_shed_at_open_durable, setup, teardown),
      cmocka_unit_test_setup_teardown(test_shed_compaction_failure, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
