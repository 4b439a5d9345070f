/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the reading of cloud/evqueue's file (src/cloud/evqueue.h): the input is written
 * as the queue file in a private temporary directory (made once per process), opened,
 * every pending record peeked, some acked, one appended, closed, reopened.
 *
 * Input: [u8 mode][u8 ack][u8 kind][u8 plen][file bytes] (the file bytes may be in
 * tests/fuzz/grow.h's compact form, to reach records at EVQUEUE_RECORD_MAX). mode picks the limits
 * (bits 0-1: max_records 0 (default) / 1 / 3 / 16; bits 2-3: max_bytes 0 (default) / 64 / 256 /
 * 4096; bit 4: every kind droppable, else kinds 0-31) and whether the harness makes the
 * file's records pass the checks a mutation cannot (bit 5: the CRC of every record it can
 * frame is recomputed; bit 6: the magic too), so that the fuzzer gets past them to the
 * sequence numbers, control records and limits. ack picks the record to ack (ack %
 * (count + 1): 0 acks nothing, k acks the k-th pending record); kind (% 64) and plen
 * (<= the file's length) make the appended record, its payload the file's first bytes.
 *
 * Checked:
 *  - evqueue_open() fails only with an error evqueue.h names for this case (none of
 *    the file checks fail on a regular file of ours: -ENOMEM or an I/O error);
 *  - every pending record: kind <= EVQUEUE_KIND_MAX, len <= EVQUEUE_RECORD_MAX, a payload
 *    exactly when len > 0, seqs >= 1 and strictly increasing, below stats.next_seq and
 *    at most EVQUEUE_SEQ_MAX; and
 *    it is in the input whole: its encoding (with a CRC the harness computes bit by bit)
 *    occurs in the file bytes, after the previous record's ("nothing is ever misread");
 *  - the stats: pending and pending_bytes match the records, torn_tails is 0 or 1 and
 *    nonzero exactly when torn_bytes is, torn_bytes <= the file's size;
 *  - an ack of the k-th record leaves exactly the records after it;
 *  - an append succeeds (or is -AMP_ETOOBIG when the limits leave no room, -EOVERFLOW
 *    when the seqs are used up), and gets
 *    next_seq; after close and reopen every pending record is back, byte for byte, the
 *    appended one included, and nothing is torn; and a reopen under the default limits
 *    holds the same records (a record dropped at open does not come back).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "cloud/evqueue.h"
#include "core/err.h"
#include "grow.h"

#define IN_HDR 4u
#define REC_HDR 17u /* magic + len + seq + kind */
/* The file bytes may be in grow.h's compact form, up to two records one byte over
 * EVQUEUE_RECORD_MAX. */
#define FUZZ_GROW_CAP (2 * (EVQUEUE_RECORD_OVERHEAD + EVQUEUE_RECORD_MAX + 1))

static char dir[64], path[96], tmp_path[100];

static void cleanup(void) {
  unlink(tmp_path);
  unlink(path);
  rmdir(dir);
}

static int setup(void) {
  if (dir[0])
    return 0;
  /* tmpfs when there is one: every open, append and compaction syncs. */
  const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(dir, sizeof(dir), "%s/fuzz_evqueue.XXXXXX", base);
  if (!mkdtemp(dir)) {
    dir[0] = '\0';
    return -1;
  }
  snprintf(path, sizeof(path), "%s/queue", dir);
  snprintf(tmp_path, sizeof(tmp_path), "%s.tmp", path);
  atexit(cleanup);
  return 0;
}

/* CRC-32 (IEEE), bit by bit: not evqueue.c's table, so a slip in either shows. */
static uint32_t crc32_bits(const uint8_t *p, size_t n) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++)
      c = c & 1 ? (c >> 1) ^ 0xedb88320u : c >> 1;
  }
  return ~c;
}

static void le32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Frame the file as records and repair what the flags say, in place. */
static void repair(uint8_t *f, size_t n, bool magic) {
  size_t off = 0;
  while (n - off >= EVQUEUE_RECORD_OVERHEAD) {
    if (magic)
      le32(f + off, EVQUEUE_MAGIC);
    uint32_t len = rd32(f + off + 4);
    if (len > EVQUEUE_RECORD_MAX || n - off - EVQUEUE_RECORD_OVERHEAD < len)
      break;
    le32(f + off + REC_HDR + len, crc32_bits(f + off, REC_HDR + len));
    off += EVQUEUE_RECORD_OVERHEAD + len;
  }
}

static int write_file(const uint8_t *f, size_t n) {
  unlink(tmp_path);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return -1;
  size_t put = 0;
  while (put < n) {
    ssize_t w = write(fd, f + put, n - put);
    if (w <= 0) {
      close(fd);
      return -1;
    }
    put += (size_t)w;
  }
  close(fd);
  return 0;
}

/* A record's encoding, as evqueue.h gives the format. */
static uint8_t *encode(const struct evqueue_record *r, size_t *ret_n) {
  size_t n = EVQUEUE_RECORD_OVERHEAD + r->len;
  uint8_t *e = malloc(n);
  CHECK(e);
  le32(e, EVQUEUE_MAGIC);
  le32(e + 4, (uint32_t)r->len);
  for (int i = 0; i < 8; i++)
    e[8 + i] = (uint8_t)(r->seq >> (8 * i));
  e[16] = r->kind;
  if (r->len)
    memcpy(e + REC_HDR, r->payload, r->len);
  le32(e + REC_HDR + r->len, crc32_bits(e, REC_HDR + r->len));
  *ret_n = n;
  return e;
}

/* A copy of the pending records, for the comparison after reopen. */
struct snap {
  size_t n;
  struct evqueue_record *r;
  uint8_t **payload;
};

static void snap_free(struct snap *s) {
  for (size_t i = 0; i < s->n; i++)
    free(s->payload[i]);
  free(s->payload);
  free(s->r);
  *s = (struct snap){0};
}

static void snap_take(const struct evqueue *q, struct snap *s) {
  s->n = evqueue_count(q);
  s->r = calloc(s->n ? s->n : 1, sizeof(*s->r));
  s->payload = calloc(s->n ? s->n : 1, sizeof(*s->payload));
  CHECK(s->r && s->payload);
  for (size_t i = 0; i < s->n; i++) {
    CHECK(evqueue_peek(q, i, &s->r[i]) == 0);
    if (s->r[i].len) {
      s->payload[i] = malloc(s->r[i].len);
      CHECK(s->payload[i]);
      memcpy(s->payload[i], s->r[i].payload, s->r[i].len);
      s->r[i].payload = s->payload[i];
    }
  }
}

/* The records and stats invariants; with file, every record must occur in it, in order. */
static void check_queue(const struct evqueue *q, const uint8_t *file, size_t file_n) {
  struct evqueue_stats st;
  evqueue_stats(q, &st);
  size_t n = evqueue_count(q), bytes = 0, from = 0;
  CHECK(st.pending == n);
  uint64_t prev = 0;
  for (size_t i = 0; i < n; i++) {
    struct evqueue_record r;
    CHECK(evqueue_peek(q, i, &r) == 0);
    CHECK(r.kind <= EVQUEUE_KIND_MAX && r.len <= EVQUEUE_RECORD_MAX);
    CHECK((r.len > 0) == (r.payload != NULL));
    CHECK(r.seq >= 1 && r.seq > prev && r.seq < st.next_seq && r.seq <= EVQUEUE_SEQ_MAX);
    prev = r.seq;
    bytes += EVQUEUE_RECORD_OVERHEAD + r.len;
    if (file) {
      size_t en;
      uint8_t *e = encode(&r, &en);
      const uint8_t *at = file_n - from >= en ? memmem(file + from, file_n - from, e, en) : NULL;
      CHECK(at != NULL);
      from = (size_t)(at - file) + en;
      free(e);
    }
  }
  struct evqueue_record r;
  CHECK(evqueue_peek(q, n, &r) == -ENOENT);
  CHECK(st.pending_bytes == bytes);
  CHECK(st.next_seq >= 1 && st.next_seq <= EVQUEUE_SEQ_MAX + 1);
  CHECK(st.torn_tails <= 1 && (st.torn_tails == 0) == (st.torn_bytes == 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < IN_HDR || setup() < 0)
    return 0;
  uint8_t mode = data[0], ack = data[1], kind = data[2] % (EVQUEUE_KIND_MAX + 1);
  struct grown g;
  if (grow(data + IN_HDR, size - IN_HDR, FUZZ_GROW_CAP, &g) < 0)
    return 0;
  size_t fn = g.size, plen = data[3] <= fn ? data[3] : fn;
  uint8_t *file = malloc(fn ? fn : 1);
  if (!file) {
    grow_free(&g);
    return 0;
  }
  memcpy(file, g.data, fn);
  grow_free(&g);
  if (mode & 0x60)
    repair(file, fn, mode & 0x40);
  if (write_file(file, fn) < 0)
    goto out;

  static const size_t recs[4] = {0, 1, 3, 16}, bytes[4] = {0, 64, 256, 4096};
  struct evqueue_limits lim = {
      .max_records = recs[mode & 3],
      .max_bytes = bytes[(mode >> 2) & 3],
      .droppable_mask = mode & 0x10 ? UINT64_MAX : 0xffffffffu,
  };
  struct evqueue *q = NULL;
  int r = evqueue_open(path, &lim, &q);
  if (r < 0) {
    CHECK(r == -ENOMEM || r == -EIO || r == -ENOSPC);
    goto out;
  }
  check_queue(q, file, fn);
  struct evqueue_stats st;
  evqueue_stats(q, &st);
  CHECK(st.torn_bytes <= fn);

  /* Ack the k-th pending record: the ones after it stay. */
  size_t n = evqueue_count(q), k = ack % (n + 1);
  if (k > 0) {
    struct evqueue_record rec, next;
    CHECK(evqueue_peek(q, k - 1, &rec) == 0);
    bool have_next = evqueue_peek(q, k, &next) == 0;
    uint64_t next_seq = have_next ? next.seq : 0;
    CHECK(evqueue_ack(q, rec.seq) == 0);
    CHECK(evqueue_count(q) == n - k);
    if (have_next) {
      CHECK(evqueue_peek(q, 0, &next) == 0);
      CHECK(next.seq == next_seq);
    }
    check_queue(q, NULL, 0);
  }

  /* Append one record; it must come back after a reopen. */
  evqueue_stats(q, &st);
  uint64_t seq = 0;
  r = evqueue_append(q, kind, plen ? file : NULL, plen, &seq);
  CHECK(r == 0 || r == -AMP_ETOOBIG || (r == -EOVERFLOW && st.next_seq > EVQUEUE_SEQ_MAX));
  if (r == 0) {
    CHECK(seq == st.next_seq);
    struct evqueue_record last;
    CHECK(evqueue_peek(q, evqueue_count(q) - 1, &last) == 0);
    CHECK(last.seq == seq && last.kind == kind && last.len == plen);
    CHECK(plen == 0 || memcmp(last.payload, file, plen) == 0);
  }
  check_queue(q, NULL, 0);

  struct snap before;
  snap_take(q, &before);
  evqueue_close(q);
  q = NULL;
  r = evqueue_open(path, &lim, &q);
  CHECK(r == 0);
  check_queue(q, NULL, 0);
  evqueue_stats(q, &st);
  CHECK(st.torn_tails == 0);
  CHECK(evqueue_count(q) == before.n);
  for (size_t i = 0; i < before.n; i++) {
    struct evqueue_record a;
    CHECK(evqueue_peek(q, i, &a) == 0);
    const struct evqueue_record *b = &before.r[i];
    CHECK(a.seq == b->seq && a.kind == b->kind && a.len == b->len);
    CHECK(a.len == 0 || memcmp(a.payload, b->payload, a.len) == 0);
  }
  evqueue_close(q);

  /* And under the default limits (at least as large as any the harness picks): what was
   * dropped stays dropped, nothing else comes back. */
  q = NULL;
  CHECK(evqueue_open(path, NULL, &q) == 0);
  check_queue(q, NULL, 0);
  CHECK(evqueue_count(q) == before.n);
  for (size_t i = 0; i < before.n; i++) {
    struct evqueue_record a;
    CHECK(evqueue_peek(q, i, &a) == 0);
    CHECK(a.seq == before.r[i].seq);
  }
  snap_free(&before);
  evqueue_close(q);
out:
  free(file);
  return 0;
}
