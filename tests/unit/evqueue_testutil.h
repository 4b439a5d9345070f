/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the evqueue unit tests (test_evqueue.c, test_evqueue_limits.c). */
#ifndef AMPD_TESTS_EVQUEUE_TESTUTIL_H
#define AMPD_TESTS_EVQUEUE_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cmocka.h>

#include "cloud/evqueue.h"

#define OH EVQUEUE_RECORD_OVERHEAD

/* Each test's state: a fresh temp directory and the queue file's path in it. */
struct fx {
  char dir[64];
  char path[96];
};

/* cmocka setup and teardown: make the directory; remove it with what tests leave in it. */
int setup(void **state);
int teardown(void **state);

/* The payload every test writes for a seq: its length and bytes follow from the seq, so
 * a record read back under the wrong seq, or with a byte wrong, is caught. */
size_t payload_for(uint64_t seq, uint8_t *buf);
/* Record i of q is seq's, with payload_for(seq)'s bytes. */
void check_record(const struct evqueue *q, size_t i, uint64_t seq);
/* Append payload_for(the next seq) as kind; checks it got that seq and returns it. */
uint64_t append_std(struct evqueue *q, uint8_t kind);

off_t fsize(const char *path);
/* The whole file (free it). */
uint8_t *slurp(const char *path, size_t *ret_len);
/* Replace the file by len bytes of b. */
void spit(const char *path, const uint8_t *b, size_t len);

/* An independent bitwise CRC-32 (IEEE), to check the file's bytes against. */
uint32_t crc_bitwise(const uint8_t *p, size_t len);
/* One record as evqueue.h gives the format, with a valid CRC; its size. */
size_t put_record(uint8_t *b, uint64_t seq, uint8_t kind, const char *payload);

#endif
