/* SPDX-License-Identifier: Apache-2.0 */
#include "tests/unit/evqueue_testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int setup(void **state) {
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

int teardown(void **state) {
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

size_t payload_for(uint64_t seq, uint8_t *buf) {
  size_t len = (size_t)((seq * 37u) % 300u) + 1u;
  for (size_t i = 0; i < len; i++)
    buf[i] = (uint8_t)(seq * 131u + i * 7u + (seq >> 8));
  return len;
}

void check_record(const struct evqueue *q, size_t i, uint64_t seq) {
  struct evqueue_record r;
  uint8_t want[512];
  assert_int_equal(evqueue_peek(q, i, &r), 0);
  assert_int_equal(r.seq, seq);
  size_t len = payload_for(seq, want);
  assert_int_equal(r.len, len);
  assert_memory_equal(r.payload, want, len);
}

uint64_t append_std(struct evqueue *q, uint8_t kind) {
  struct evqueue_stats st;
  evqueue_stats(q, &st);
  uint8_t buf[512];
  size_t len = payload_for(st.next_seq, buf);
  uint64_t seq = 0;
  assert_int_equal(evqueue_append(q, kind, buf, len, &seq), 0);
  assert_int_equal(seq, st.next_seq);
  return seq;
}

off_t fsize(const char *path) {
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  return st.st_size;
}

uint8_t *slurp(const char *path, size_t *ret_len) {
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

void spit(const char *path, const uint8_t *b, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  if (len > 0)
    assert_int_equal(write(fd, b, len), (ssize_t)len);
  close(fd);
}

uint32_t crc_bitwise(const uint8_t *p, size_t len) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < len; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++)
      c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return ~c;
}

size_t put_record(uint8_t *b, uint64_t seq, uint8_t kind, const char *payload) {
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
