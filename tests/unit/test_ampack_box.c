/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "tools/ampack/box.h"

static void test_nested_sizes(void **state) {
  (void)state;
  struct box_w w;
  box_w_init(&w, 1024);
  box_open(&w, "moov");
  box_open_full(&w, "mvhd", 1, 0x020001);
  box_u32(&w, 0xdeadbeef);
  box_close(&w);
  box_open(&w, "trak");
  box_u16(&w, 0x0102);
  box_u24(&w, 0x030405);
  box_u64(&w, 0x060708090a0b0c0dULL);
  box_close(&w);
  box_close(&w);
  assert_int_equal(box_w_finish(&w), 0);
  static const uint8_t want[] = {
      0,    0,    0,    45,   'm', 'o', 'o', 'v',                     /* 8 + 16 + 21 */
      0,    0,    0,    16,   'm', 'v', 'h', 'd', 1,   2,   0,   1,   /* full box header */
      0xde, 0xad, 0xbe, 0xef, 0,   0,   0,   21,  't', 'r', 'a', 'k', /* 8 + 2 + 3 + 8 */
      1,    2,    3,    4,    5,   6,   7,   8,   9,   10,  11,  12,  13};
  assert_int_equal(w.out.len, sizeof(want));
  assert_memory_equal(w.out.data, want, sizeof(want));
  box_w_free(&w);
}

static void test_patch(void **state) {
  (void)state;
  struct box_w w;
  box_w_init(&w, 64);
  box_open(&w, "trun");
  size_t at = box_w_pos(&w);
  box_u32(&w, 0);
  box_close(&w);
  box_patch_u32(&w, at, 0x11223344);
  assert_int_equal(box_w_finish(&w), 0);
  assert_int_equal(be_get32(w.out.data + 8), 0x11223344);
  assert_int_equal(be_get32(w.out.data), 12);
  /* out of range: sticky -EINVAL */
  box_patch_u32(&w, 10, 1);
  assert_int_equal(box_w_finish(&w), -EINVAL);
  box_w_free(&w);
}

static void test_bound_is_sticky(void **state) {
  (void)state;
  struct box_w w;
  box_w_init(&w, 20);
  box_open(&w, "mdat");
  box_zeros(&w, 12);
  assert_int_equal(box_w_finish(&w), -EINVAL); /* still open */
  box_zeros(&w, 1);                            /* 21 > 20 */
  assert_int_equal(box_w_finish(&w), -AMP_ETOOBIG);
  box_close(&w);
  box_u8(&w, 1);
  assert_int_equal(box_w_finish(&w), -AMP_ETOOBIG);
  assert_int_equal(w.out.len, 20);
  box_w_free(&w);
}

static void test_nesting_errors(void **state) {
  (void)state;
  struct box_w w;
  box_w_init(&w, 4096);
  box_close(&w);
  assert_int_equal(box_w_finish(&w), -EINVAL);
  box_w_free(&w);

  box_w_init(&w, 4096);
  for (int i = 0; i < BOX_MAX_DEPTH; i++)
    box_open(&w, "free");
  assert_int_equal(w.err, 0);
  box_open(&w, "free");
  assert_int_equal(box_w_finish(&w), -EINVAL);
  box_w_free(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_nested_sizes),
      cmocka_unit_test(test_patch),
      cmocka_unit_test(test_bound_is_sticky),
      cmocka_unit_test(test_nesting_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
