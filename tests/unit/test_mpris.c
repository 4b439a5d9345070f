/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for mpris_utf8_clean(): D-Bus refuses a whole message for one byte of bad
 * UTF-8, and the player's texts are cut at PLAYER_TEXT_MAX bytes, which can fall inside a
 * character. Each case is what sd-bus would reject (or what a cut leaves) and what goes on
 * the bus instead. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mpris/mpris.h"

static void check(const char *in, size_t n, const char *want) {
  char out[64];
  assert_true(n <= sizeof(out));
  memset(out, 'x', sizeof(out));
  assert_ptr_equal(mpris_utf8_clean(out, n, in), out);
  assert_string_equal(out, want);
}

static void test_valid_kept(void **state) {
  (void)state;
  check("", 64, "");
  check("Mix Part One", 64, "Mix Part One");
  check("Bj\xc3\xb6rk \xe2\x80\x94 J\xc3\xb3ga \xf0\x9f\x8e\xb5", 64,
        "Bj\xc3\xb6rk \xe2\x80\x94 J\xc3\xb3ga \xf0\x9f\x8e\xb5");
  check(NULL, 64, "");
}

static void test_invalid_replaced(void **state) {
  (void)state;
  check("a\xff"
        "b",
        64, "a?b");            /* never UTF-8 */
  check("a\xc3", 64, "a?");    /* cut inside a character */
  check("\xe2\x80", 64, "??"); /* a sequence without its end */
  check("\x80"
        "x",
        64, "?x");                       /* a continuation byte alone */
  check("\xc0\xaf", 64, "??");           /* overlong '/' */
  check("\xe0\x80\xaf", 64, "???");      /* overlong, three bytes */
  check("\xed\xa0\x80", 64, "???");      /* a surrogate (U+D800) */
  check("\xf4\x90\x80\x80", 64, "????"); /* past U+10FFFF */
  check("\xf0\x8f\xbf\xbf", 64, "????"); /* overlong, four bytes */
  check("\xef\xbf\xbf\xf4\x8f\xbf\xbf", 64, "\xef\xbf\xbf\xf4\x8f\xbf\xbf"); /* the ends */
}

static void test_cut_at_a_boundary(void **state) {
  (void)state;
  check("abc", 1, "");
  check("abc", 3, "ab");
  check("a\xc3\xb6", 3, "a"); /* the two-byte character does not fit: dropped */
  check("a\xc3\xb6", 4, "a\xc3\xb6");
  check("\xf0\x9f\x8e\xb5z", 4, ""); /* nor does a four-byte one */
  check("a\xffz", 3, "a?");
  char one = 'x';
  assert_ptr_equal(mpris_utf8_clean(&one, 0, "abc"), &one); /* n 0: nothing written */
  assert_int_equal(one, 'x');
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_valid_kept),
      cmocka_unit_test(test_invalid_replaced),
      cmocka_unit_test(test_cut_at_a_boundary),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
