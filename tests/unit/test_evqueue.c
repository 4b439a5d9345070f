/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloud/evqueue: the durable event queue file, its format and recovery. Round trips, a
 * torn tail at every length, a flipped byte anywhere in the last and in a middle record,
 * refused opens, a child killed with SIGKILL at random points, garbage files and seqs
 * near 2^64. Limits, dropping, write failures and compaction: test_evqueue_limits.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cloud/evqueue.h"
#include "core/err.h"
#include "tests/unit/evqueue_testutil.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

/* The bytes on disk are the documented format: little-endian fields, CRC-32 (IEEE). */
static void test_format(void **state) {
  struct fx *f = *state;
  assert_int_equal(crc_bitwise((const uint8_t *)"123456789", 9), 0xcbf43926u);
  struct evqueue *q = NULL;
  assert_int_equal(evqueue_open(f->path, NULL, &q), 0);
  uint64_t seq = 0;
  assert_int_equal(evqueue_append(q, 5, "hello", 5, &seq), 0);
  assert_int_equal(seq, 1);
  evqueue_close(q);
  size_t len;
  uint8_t *b = slurp(f->path, &len);
  assert_int_equal(len, OH + 5);
  const uint8_t head[] = {'E', 'V', 'P', 'Q', 5, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5};
  assert_memory_equal(b, head, sizeof(head));
  assert_memory_equal(b + 17, "hello", 5);
  uint32_t crc = crc_bitwise(b, 22);
  const uint8_t crc_le[] = {(uint8_t)crc, (uint8_t)(crc >> 8), (uint8_t)(crc >> 16),
                            (uint8_t)(crc >> 24)};
  assert_memory_equal(b + 22, crc_le, 4);
  free(b);
}

static void test_round_trip(void **state) {
  struct fx *f = *state;
  struct evqueue *q = NULL;
  assert_int_equal(evqueue_open(f->path, NULL, &q), 0);
  assert_int_equal(evqueue_count(q), 0);
  for (int i = 0; i < 50; i++)
    append_std(q, (uint8_t)(i % 3));
  /* Edge sizes: an empty payload and the largest one. */
  uint64_t s_empty = 0, s_max = 0;
  assert_int_equal(evqueue_append(q, 7, NULL, 0, &s_empty), 0);
  uint8_t *big = malloc(EVQUEUE_RECORD_MAX + 1);
  assert_non_null(big);
  for (size_t i = 0; i <= EVQUEUE_RECORD_MAX; i++)
    big[i] = (uint8_t)(i * 13u + 1u);
  assert_int_equal(evqueue_append(q, 8, big, EVQUEUE_RECORD_MAX, &s_max), 0);
  assert_int_equal(evqueue_append(q, 8, big, EVQUEUE_RECORD_MAX + 1, NULL), -AMP_ETOOBIG);
  assert_int_equal(evqueue_append(q, EVQUEUE_KIND_MAX + 1, "x", 1, NULL), -EINVAL);
  assert_int_equal(evqueue_append(q, 0, NULL, 3, NULL), -EINVAL);
  assert_int_equal(evqueue_count(q), 52);
  evqueue_close(q);

  q = NULL;
  assert_int_equal(evqueue_open(f->path, NULL, &q), 0);
  assert_int_equal(evqueue_count(q), 52);
  for (size_t i = 0; i < 50; i++) {
    check_record(q, i, i + 1);
    struct evqueue_record r;
    assert_int_equal(evqueue_peek(q, i, &r), 0);
    assert_int_equal(r.kind, i % 3);
  }
  struct evqueue_record r;
  assert_int_equal(evqueue_peek(q, 50, &r), 0);
  assert_int_equal(r.seq, s_empty);
  assert_int_equal(r.kind, 7);
  assert_int_equal(r.len, 0);
  assert_int_equal(evqueue_peek(q, 51, &r), 0);
  assert_int_equal(r.seq, s_max);
  assert_int_equal(r.len, EVQUEUE_RECORD_MAX);
  assert_memory_equal(r.payload, big, EVQUEUE_RECORD_MAX);
  assert_int_equal(evqueue_peek(q, 52, &r), -ENOENT);
  struct evqueue_stats st;
  evqueue_stats(q, &st);
  assert_int_equal(st.torn_tails, 0);
  assert_int_equal(st.compactions, 0);
  assert_int_equal(st.next_seq, 53);
  assert_int_equal(st.file_bytes, fsize(f->path));
  assert_int_equal(append_std(q, 0), 53);
  evqueue_close(q);
  free(big);
  evqueue_close(NULL);
}

/* Three records; ends[k] is the file size after k records. */
static void three_records(const char *path, off_t ends[4]) {
  struct evqueue *q = NULL;
  assert_int_equal(evqueue_open(path, NULL, &q), 0);
  ends[0] = 0;
  for (int k = 1; k <= 3; k++) {
    append_std(q, 0);
    ends[k] = fsize(path);
  }
  evqueue_close(q);
}

static void test_torn_tail_every_length(void **state) {
  struct fx *f = *state;
  off_t ends[4];
  three_records(f->path, ends);
  size_t len;
  uint8_t *orig = slurp(f->path, &len);
  assert_int_equal(len, ends[3]);
  for (off_t cut = ends[2]; cut < ends[3]; cut++) {
    spit(f->path, orig, (size_t)cut);
    struct evqueue *q = NULL;
    assert_int_equal(evqueue_open(f->path, NULL, &q), 0);
    assert_int_equal(evqueue_count(q), 2);
    check_record(q, 0, 1);
    check_record(q, 1, 2);
    struct evqueue_stats st;
    evqueue_stats(q, &st);
    assert_int_equal(st.torn_tails, cut > ends[2] ? 1 : 0);
    assert_int_equal(st.torn_bytes, cut - ends[2]);
    assert_int_equal(fsize(f->path), ends[2]);
    /* The torn record's seq was never acknowledged to anyone: it is handed out again. */
    assert_int_equal(append_std(q, 0), 3);
    evqueue_close(q);
    q = NULL;
    assert_int_equal(evqueue_open(f->path, NULL, &q), 0);
    assert_int_equal(evqueue_count(q), 3);
    check_record(q, 2, 3);
    evqueue_stats(q, &st);
    assert_int_equal(st.torn_tails, 0);
    evqueue_close(q);
  }
  free(orig);
}

static void flip_each_byte(const char *path, const uint8_t *orig, const off_t ends[4], int rec) {
  for (off_t at = ends[rec - 1]; at < ends[rec]; at++) {
    for (int pass = 0; pass < 2; pass++) {
      uint8_t *b = malloc((size_t)ends[3]);
      assert_non_null(b);
      memcpy(b, orig, (size_t)ends[3]);
      b[at] ^= pass == 0 ? 0x01 : 0xff;
      spit(path, b, (size_t)ends[3]);
      free(b);
      struct evqueue *q = NULL;
      assert_int_equal(evqueue_open(path, NULL, &q), 0);
      /* Reading stops at the last good record: nothing after the bad one survives. */
      assert_int_equal(evqueue_count(q), (size_t)rec - 1);
      for (int k = 1; k < rec; k++)
        check_record(q, (size_t)k - 1, (uint64_t)k);
      struct evqueue_stats st;
      evqueue_stats(q, &st);
      assert_int_equal(st.torn_tails, 1);
      assert_int_equal(st.torn_bytes, ends[3] - ends[rec - 1]);
      assert_int_equal(fsize(path), ends[rec - 1]);
      evqueue_close(q);
    }
  }
}

static void test_flipped_byte(void **state) {
  struct fx *f = *state;
  off_t ends[4];
  three_records(f->path, ends);
  size_t len;
  uint8_t *orig = slurp(f->path, &len);
  flip_each_byte(f->path, orig, ends, 3); /* the last record */
  flip_each_byte(f->path, orig, ends, 2); /* a middle record */
  free(orig);
}

static void test_refusals(void **state) {
  struct fx *f = *state;
  struct evqueue *q = NULL, *q2 = NULL;
  char p[128];
  assert_int_equal(evqueue_open(NULL, NULL, &q), -EINVAL);
  snprintf(p, sizeof(p), "%s/fifo", f->dir);
  assert_int_equal(mkfifo(p, 0600), 0);
  assert_int_equal(evqueue_open(p, NULL, &q), -EINVAL);
  assert_int_equal(evqueue_open(f->dir, NULL, &q), -EISDIR);
  assert_null(q);

  assert_int_equal(evqueue_open(f->path, NULL, &q), 0);
  struct stat st;
  assert_int_equal(stat(f->path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  /* One open queue per file. */
  assert_int_equal(evqueue_open(f->path, NULL, &q2), -EBUSY);
  evqueue_close(q);
  q = NULL;

  snprintf(p, sizeof(p), "%s/link", f->dir);
  assert_int_equal(symlink(f->path, p), 0);
  assert_int_equal(evqueue_open(p, NULL, &q), -ELOOP);

  /* A file of another user. As root the open itself would succeed, so the owner check
   * is what refuses; otherwise the kernel refuses first (the file is not ours to write). */
  if (geteuid() == 0) {
    assert_int_equal(chown(f->path, 65534, 65534), 0);
    assert_int_equal(evqueue_open(f->path, NULL, &q), -EPERM);
  } else {
    assert_int_equal(evqueue_open("/etc/passwd", NULL, &q), -EACCES);
  }
  assert_null(q);
}

/* Messages from the child: what it did, once it returned (or is about to ack). */
enum { MSG_STARTED = 1, MSG_APPENDED, MSG_ACK_INTENT, MSG_ACK_DONE };
struct msg {
  uint64_t type, seq;
};

static void child_run(const char *path, int wfd, uint64_t seed) {
  rng_state = seed | 1u;
  struct msg started = {MSG_STARTED, 0};
  if (write(wfd, &started, sizeof(started)) != sizeof(started))
    _exit(4);
  struct evqueue *q = NULL;
  if (evqueue_open(path, NULL, &q) < 0)
    _exit(2);
  for (int i = 0; i < 5000; i++) {
    struct evqueue_stats st;
    evqueue_stats(q, &st);
    if (st.pending > 20 && rng() % 4 == 0) {
      struct evqueue_record r;
      if (evqueue_peek(q, st.pending / 2, &r) < 0)
        _exit(3);
      struct msg m = {MSG_ACK_INTENT, r.seq};
      if (write(wfd, &m, sizeof(m)) != sizeof(m))
        _exit(4);
      if (evqueue_ack(q, r.seq) < 0)
        _exit(5);
      m.type = MSG_ACK_DONE;
      if (write(wfd, &m, sizeof(m)) != sizeof(m))
        _exit(4);
      continue;
    }
    uint8_t buf[512];
    size_t len = payload_for(st.next_seq, buf);
    uint64_t seq = 0;
    if (evqueue_append(q, 0, buf, len, &seq) < 0 || seq != st.next_seq)
      _exit(6);
    struct msg m = {MSG_APPENDED, seq};
    if (write(wfd, &m, sizeof(m)) != sizeof(m))
      _exit(4);
  }
  _exit(0);
}

static int find_seq(const struct evqueue *q, uint64_t seq) {
  size_t lo = 0, hi = evqueue_count(q);
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    struct evqueue_record r;
    assert_int_equal(evqueue_peek(q, mid, &r), 0);
    if (r.seq == seq)
      return 1;
    if (r.seq < seq)
      lo = mid + 1;
    else
      hi = mid;
  }
  return 0;
}

/* A child appends and acks until SIGKILL lands at a random point (in an append, an
 * ack, a compaction, the open); then every record whose append returned is there
 * unless an ack covering it had started, no record whose ack returned is, and every
 * record reads back byte for byte. */
static void test_kill9(void **state) {
  struct fx *f = *state;
  const int rounds = 200;
  size_t cap = 4096, n = 0;
  uint64_t *appended = malloc(cap * sizeof(*appended));
  assert_non_null(appended);
  uint64_t ack_intent = 0, ack_done = 0, acks_seen = 0;
  /* Kill within this many microseconds of the child starting. It widens when a round
   * ends before the child appended twice (fsync on a slow disk), so that the rounds
   * still reach appends, acks and compactions, not only the open. */
  uint64_t window_us = 8000;
  rng_state = 0x5eed1234abcdu;
  for (int round = 0; round < rounds; round++) {
    int fds[2];
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    uint64_t seed = rng();
    long delay_us = (long)(rng() % window_us);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      close(fds[0]);
      child_run(f->path, fds[1], seed);
    }
    close(fds[1]);
    /* The delay counts from the child running, not from fork: a slow machine (a
     * sanitizer build, a loaded CI runner) spends milliseconds before the child's
     * first instruction. */
    struct msg m;
    assert_int_equal(read(fds[0], &m, sizeof(m)), (ssize_t)sizeof(m));
    assert_int_equal(m.type, MSG_STARTED);
    struct timespec ts = {.tv_sec = delay_us / 1000000, .tv_nsec = (delay_us % 1000000) * 1000};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    /* Killed, or finished its bounded loop; never a failure exit of its own. */
    assert_true(WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) == 0));
    ssize_t r;
    size_t n_before = n;
    while ((r = read(fds[0], &m, sizeof(m))) == (ssize_t)sizeof(m)) {
      if (m.type == MSG_APPENDED) {
        if (n == cap) {
          cap *= 2;
          appended = realloc(appended, cap * sizeof(*appended));
          assert_non_null(appended);
        }
        appended[n++] = m.seq;
      } else if (m.type == MSG_ACK_INTENT) {
        ack_intent = m.seq > ack_intent ? m.seq : ack_intent;
      } else {
        assert_int_equal(m.type, MSG_ACK_DONE);
        ack_done = m.seq > ack_done ? m.seq : ack_done;
        acks_seen++;
      }
    }
    assert_int_equal(r, 0);
    close(fds[0]);
    if (n - n_before < 2 && window_us < 1000000)
      window_us *= 2;
    else if (n - n_before > 200 && window_us > 8000)
      window_us /= 2;

    struct evqueue *q = NULL;
    assert_int_equal(evqueue_open(f->path, NULL, &q), 0);
    uint64_t prev = 0;
    for (size_t i = 0; i < evqueue_count(q); i++) {
      struct evqueue_record rec;
      assert_int_equal(evqueue_peek(q, i, &rec), 0);
      assert_true(rec.seq > prev);
      assert_true(rec.seq > ack_done);
      prev = rec.seq;
      check_record(q, i, rec.seq);
    }
    for (size_t i = 0; i < n; i++) {
      if (appended[i] > ack_intent && !find_seq(q, appended[i]))
        fail_msg("round %d: seq %llu was appended and not acked, but is gone", round,
                 (unsigned long long)appended[i]);
    }
    evqueue_close(q);
  }
  /* The loop exercised what it claims to. */
  assert_true(n > (size_t)rounds);
  assert_true(acks_seen > 0);
  free(appended);
}

/* Garbage never crashes the reader and never yields a record that was not written: a
 * random file reads as empty, a valid prefix plus garbage or a random byte changed in a
 * valid file reads as a prefix of the records written. */
static void test_garbage(void **state) {
  struct fx *f = *state;
  rng_state = 0xfeedfacecafeu;
  uint8_t *b = malloc(8192);
  assert_non_null(b);
  for (int iter = 0; iter < 300; iter++) {
    size_t len = (size_t)(rng() % 4096u);
    for (size_t i = 0; i < len; i++)
      b[i] = (uint8_t)rng();
    if (iter % 3 == 1 && len >= 8) {
      /* Give the reader a plausible start: the magic and a random length. */
      const uint8_t magic[4] = {'E', 'V', 'P', 'Q'};
      memcpy(b, magic, 4);
    }
    spit(f->path, b, len);
    struct evqueue *q = NULL;
    assert_int_equal(evqueue_open(f->path, NULL, &q), 0);
    assert_int_equal(evqueue_count(q), 0);
    assert_int_equal(fsize(f->path), 0);
    evqueue_close(q);
  }
  for (int iter = 0; iter < 150; iter++) {
    unlink(f->path);
    struct evqueue *q = NULL;
    assert_int_equal(evqueue_open(f->path, NULL, &q), 0);
    size_t nrec = (size_t)(rng() % 6u) + 1u;
    for (size_t i = 0; i < nrec; i++)
      append_std(q, (uint8_t)(i % 2));
    evqueue_close(q);
    size_t len;
    uint8_t *orig = slurp(f->path, &len);
    if (iter % 2 == 0) {
      size_t extra = (size_t)(rng() % 600u);
      memcpy(b, orig, len);
      for (size_t i = 0; i < extra; i++)
        b[len + i] = (uint8_t)rng();
      spit(f->path, b, len + extra);
    } else {
      memcpy(b, orig, len);
      b[rng() % len] ^= (uint8_t)(rng() % 255u + 1u); /* never 0: the byte changes */
      spit(f->path, b, len);
    }
    q = NULL;
    assert_int_equal(evqueue_open(f->path, NULL, &q), 0);
    size_t got = evqueue_count(q);
    assert_true(got <= nrec);
    if (iter % 2 == 0)
      assert_int_equal(got, nrec);
    else
      assert_true(got < nrec);
    for (size_t i = 0; i < got; i++)
      check_record(q, i, i + 1);
    evqueue_close(q);
    free(orig);
  }
  free(b);
}

/*
 * A file (CRC-valid, so forged or corrupt) whose records name seqs near 2^64: an append
 * that returns 0 must be read back by the next open. It used to get seq UINT64_MAX (a
 * seq the reader refuses), so the reopen cut the durable record as a torn tail; now
 * such a file is corrupt from that record on, and the last seq a queue hands out,
 * EVQUEUE_SEQ_MAX, is one it reads back. Found by tests/fuzz/fuzz_evqueue.c.
 */
static void test_seq_exhausted(void **state) {
  struct fx *f = *state;
  static const struct {
    uint64_t seq;
    uint8_t kind;
  } cases[] = {
      {UINT64_MAX - 1, 0},                /* a data record */
      {UINT64_MAX - 1, EVQUEUE_KIND_SEQ}, /* the SEQ record of a compaction */
      {UINT64_MAX, EVQUEUE_KIND_SEQ},     /* refused before too */
      {(UINT64_MAX >> 1) + 1, 0},         /* the first seq over EVQUEUE_SEQ_MAX */
      {(UINT64_MAX >> 1) - 1, 0},         /* below it: kept, and one append fits */
  };
  for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
    uint8_t b[2 * OH + 8];
    size_t len = put_record(b, 1, 0, "a");
    len += put_record(b + len, cases[c].seq, cases[c].kind, cases[c].kind ? "" : "b");
    spit(f->path, b, len);
    struct evqueue *q = NULL;
    assert_int_equal(evqueue_open(f->path, NULL, &q), 0);
    size_t n0 = evqueue_count(q);
    uint64_t seq = 0;
    assert_int_equal(evqueue_append(q, 3, "new", 3, &seq), 0);
    evqueue_close(q);
    q = NULL;
    assert_int_equal(evqueue_open(f->path, NULL, &q), 0);
    struct evqueue_stats st;
    evqueue_stats(q, &st);
    assert_int_equal(st.torn_tails, 0);
    assert_int_equal(evqueue_count(q), n0 + 1);
    struct evqueue_record r;
    assert_int_equal(evqueue_peek(q, n0, &r), 0);
    assert_true(r.seq == seq && r.kind == 3 && r.len == 3 && memcmp(r.payload, "new", 3) == 0);
    assert_true(r.seq <= EVQUEUE_SEQ_MAX);
    evqueue_close(q);
  }

  /* A queue at EVQUEUE_SEQ_MAX has no seq left: the append is refused, nothing lost. */
  uint8_t b[OH + 8];
  spit(f->path, b, put_record(b, EVQUEUE_SEQ_MAX, 0, "last"));
  struct evqueue *q = NULL;
  assert_int_equal(evqueue_open(f->path, NULL, &q), 0);
  assert_int_equal(evqueue_count(q), 1);
  assert_int_equal(evqueue_append(q, 0, "x", 1, NULL), -EOVERFLOW);
  evqueue_close(q);
  q = NULL;
  assert_int_equal(evqueue_open(f->path, NULL, &q), 0);
  assert_int_equal(evqueue_count(q), 1);
  struct evqueue_record r;
  assert_int_equal(evqueue_peek(q, 0, &r), 0);
  assert_true(r.seq == EVQUEUE_SEQ_MAX && r.len == 4 && memcmp(r.payload, "last", 4) == 0);
  evqueue_close(q);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_format, setup, teardown),
      cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_torn_tail_every_length, setup, teardown),
      cmocka_unit_test_setup_teardown(test_flipped_byte, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
      cmocka_unit_test_setup_teardown(test_kill9, setup, teardown),
      cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
      cmocka_unit_test_setup_teardown(test_seq_exhausted, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
