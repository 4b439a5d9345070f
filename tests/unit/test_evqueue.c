/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloud/evqueue: the durable event queue file. Round trips, a torn tail at every
 * length, a flipped byte anywhere in the last and in a middle record, write failures
 * (RLIMIT_FSIZE), bounds, ack and compaction, a child killed with SIGKILL at random
 * points, garbage files, seqs near 2^64, and acks with nothing in memory.
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
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cloud/evqueue.h"
#include "core/err.h"

#define OH EVQUEUE_RECORD_OVERHEAD

struct fx {
  char dir[64];
  char path[96];
};

static int setup(void **state) {
  struct fx *f = calloc(1, sizeof(*f));
  if (!f)
    return -1;
  snprintf(f->dir, sizeof(f->dir), "/tmp/evq.XXXXXX");
  if (!mkdtemp(f->dir)) {
    free(f);
    return -1;
  }
  snprintf(f->path, sizeof(f->path), "%s/q", f->dir);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fx *f = *state;
  char p[128];
  unlink(f->path);
  snprintf(p, sizeof(p), "%s.tmp", f->path);
  unlink(p);
  rmdir(p);
  snprintf(p, sizeof(p), "%s/fifo", f->dir);
  unlink(p);
  snprintf(p, sizeof(p), "%s/link", f->dir);
  unlink(p);
  rmdir(f->dir);
  free(f);
  return 0;
}

/* The payload every test writes for a seq: its length and bytes follow from the seq, so
 * a record read back under the wrong seq, or with a byte wrong, is caught. */
static size_t payload_for(uint64_t seq, uint8_t *buf) {
  size_t len = (size_t)((seq * 37u) % 300u) + 1u;
  for (size_t i = 0; i < len; i++)
    buf[i] = (uint8_t)(seq * 131u + i * 7u + (seq >> 8));
  return len;
}

static void check_record(const struct evqueue *q, size_t i, uint64_t seq) {
  struct evqueue_record r;
  uint8_t want[512];
  assert_int_equal(evqueue_peek(q, i, &r), 0);
  assert_int_equal(r.seq, seq);
  size_t len = payload_for(seq, want);
  assert_int_equal(r.len, len);
  assert_memory_equal(r.payload, want, len);
}

static uint64_t append_std(struct evqueue *q, uint8_t kind) {
  struct evqueue_stats st;
  evqueue_stats(q, &st);
  uint8_t buf[512];
  size_t len = payload_for(st.next_seq, buf);
  uint64_t seq = 0;
  assert_int_equal(evqueue_append(q, kind, buf, len, &seq), 0);
  assert_int_equal(seq, st.next_seq);
  return seq;
}

static off_t fsize(const char *path) {
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  return st.st_size;
}

static uint8_t *slurp(const char *path, size_t *ret_len) {
  size_t len = (size_t)fsize(path);
  uint8_t *b = malloc(len + 1);
  assert_non_null(b);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  assert_int_equal(read(fd, b, len), (ssize_t)len);
  close(fd);
  *ret_len = len;
  return b;
}

static void spit(const char *path, const uint8_t *b, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  if (len > 0)
    assert_int_equal(write(fd, b, len), (ssize_t)len);
  close(fd);
}

/* An independent bitwise CRC-32 (IEEE), to check the file's bytes against. */
static uint32_t crc_bitwise(const uint8_t *p, size_t len) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < len; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++)
      c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return ~c;
}

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
  enum { P = 0, D = 1 };
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
  const struct evqueue_limits roomy = {.max_records = 100, .droppable_mask = 1u << D};
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

/* One record as evqueue.h gives the format, with a valid CRC; its size. */
static size_t put_record(uint8_t *b, uint64_t seq, uint8_t kind, const char *payload) {
  size_t len = strlen(payload);
  const uint32_t magic = EVQUEUE_MAGIC, l32 = (uint32_t)len;
  for (int i = 0; i < 4; i++) {
    b[i] = (uint8_t)(magic >> (8 * i));
    b[4 + i] = (uint8_t)(l32 >> (8 * i));
  }
  for (int i = 0; i < 8; i++)
    b[8 + i] = (uint8_t)(seq >> (8 * i));
  b[16] = kind;
  memcpy(b + 17, payload, len);
  uint32_t crc = crc_bitwise(b, 17 + len);
  for (int i = 0; i < 4; i++)
    b[17 + len + i] = (uint8_t)(crc >> (8 * i));
  return OH + len;
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

/* Records shed at open (a file written under larger limits) stay dropped: the open
 * compacts them away, also when the file's size equals the compacted one's (a shed
 * record with no payload is as big as the SEQ record that replaces it: the fuzzer's
 * crash-80b728aa), and the seqs they had are not handed out again. */
static void test_shed_at_open_durable(void **state) {
  struct fx *f = *state;
  enum { P = 0, D = 1 };
  const struct evqueue_limits roomy = {.max_records = 100, .droppable_mask = 1u << D};
  const struct evqueue_limits one = {.max_records = 1, .droppable_mask = 1u << D};
  for (size_t shed_len = 0; shed_len <= 4; shed_len += 4) {
    unlink(f->path);
    struct evqueue *q = NULL;
    assert_int_equal(evqueue_open(f->path, &roomy, &q), 0);
    append_std(q, P);
    uint64_t seq = 0;
    assert_int_equal(evqueue_append(q, D, shed_len ? "drop" : NULL, shed_len, &seq), 0);
    assert_int_equal(seq, 2);
    evqueue_close(q);

    q = NULL;
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
  enum { P = 0, D = 1 };
  const struct evqueue_limits roomy = {.max_records = 100, .droppable_mask = 1u << D};
  const struct evqueue_limits one = {.max_records = 1, .droppable_mask = 1u << D};
  char tmp[128];
  snprintf(tmp, sizeof(tmp), "%s.tmp", f->path);
  struct evqueue *q = NULL;
  assert_int_equal(evqueue_open(f->path, &roomy, &q), 0);
  append_std(q, P);
  append_std(q, D);
  evqueue_close(q);

  assert_int_equal(mkdir(tmp, 0700), 0);
  q = NULL;
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
      cmocka_unit_test_setup_teardown(test_format, setup, teardown),
      cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_torn_tail_every_length, setup, teardown),
      cmocka_unit_test_setup_teardown(test_flipped_byte, setup, teardown),
      cmocka_unit_test_setup_teardown(test_write_failure, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bounds, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ack_compaction, setup, teardown),
      cmocka_unit_test_setup_teardown(test_compaction_failure, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
      cmocka_unit_test_setup_teardown(test_kill9, setup, teardown),
      cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
      cmocka_unit_test_setup_teardown(test_seq_exhausted, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ack_nothing_held, setup, teardown),
      cmocka_unit_test_setup_teardown(test_shed_at_open_durable, setup, teardown),
      cmocka_unit_test_setup_teardown(test_shed_compaction_failure, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
