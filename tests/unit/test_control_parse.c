/* SPDX-License-Identifier: Apache-2.0 */
/* control's request parser (src/control/control_int.h): what an id may be. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "control/control_int.h"
#include "core/err.h"

static int parse(const char *line, struct control_request *r) {
  return control_request_parse(line, strlen(line), r);
}

static void test_ids(void **state) {
  (void)state;
  struct control_request r;
  assert_int_equal(parse("{\"id\":7,\"cmd\":\"version\"}", &r), 0);
  assert_true(cJSON_IsNumber(r.id) && r.id->valuedouble == 7);
  assert_string_equal(r.cmd, "version");
  control_request_done(&r);
  assert_int_equal(parse("{\"id\":\"a\",\"cmd\":\"version\"}", &r), 0);
  control_request_done(&r);
  /* "1e999" parses to infinity, which a reply would print as null: refused, answered with
   * id null (tests/fuzz/fuzz_control.c found the reply's id differing from the request's). */
  assert_int_equal(parse("{\"id\":1e999,\"cmd\":\"version\"}", &r), -AMP_EPROTO);
  assert_string_equal(r.code, "bad_request");
  assert_null(r.id);
  control_request_done(&r);
  assert_int_equal(parse("{\"id\":-1e999,\"cmd\":\"version\"}", &r), -AMP_EPROTO);
  assert_null(r.id);
  control_request_done(&r);
  /* The largest finite double is an id. */
  assert_int_equal(parse("{\"id\":1.7976931348623157e308,\"cmd\":\"version\"}", &r), 0);
  assert_non_null(r.id);
  control_request_done(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ids),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
