/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for core/{buf,b64,log,err}. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/b64.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fds.h"
#include "core/log.h"
#include "core/redact.h"

LOG_TOPIC("coretest");

/* ---- buf ---- */

static void test_buf_max(void **state) {
  struct buf b = BUF_INIT(8);
  assert_int_equal(buf_append_str(&b, "12345"), 0);
  assert_int_equal(buf_append(&b, "678", 3), 0);
  assert_int_equal(b.len, 8);
  assert_string_equal((char *)b.data, "12345678");
  /* One more byte, by any route, is refused and changes nothing. */
  assert_int_equal(buf_append(&b, "9", 1), -AMP_ETOOBIG);
  assert_int_equal(buf_append_u8(&b, '9'), -AMP_ETOOBIG);
  assert_int_equal(buf_printf(&b, "%d", 9), -AMP_ETOOBIG);
  assert_int_equal(buf_reserve(&b, 1), -AMP_ETOOBIG);
  assert_int_equal(buf_append(&b, "x", SIZE_MAX), -AMP_ETOOBIG);
  assert_int_equal(b.len, 8);
  assert_string_equal((char *)b.data, "12345678");
  /* Appending nothing at the bound is fine. */
  assert_int_equal(buf_append(&b, "", 0), 0);
  assert_true(b.cap <= b.max + 1);
  buf_done(&b);
  assert_null(b.data);
  assert_int_equal(b.len, 0);

  /* A partial fit is refused whole. */
  buf_init(&b, 4);
  assert_int_equal(buf_append_str(&b, "ab"), 0);
  assert_int_equal(buf_append_str(&b, "cde"), -AMP_ETOOBIG);
  assert_string_equal((char *)b.data, "ab");
  buf_done(&b);

  /* With no bound (max SIZE_MAX) a size that leaves no room for the NUL is an error,
   * not a wrap-around. */
  buf_init(&b, SIZE_MAX);
  assert_true(buf_reserve(&b, SIZE_MAX) < 0);
  assert_null(b.data);
  buf_done(&b);
}

static void test_buf_text(void **state) {
  struct buf b = BUF_INIT(64);
  assert_int_equal(buf_append(&b, "", 0), 0);
  assert_non_null(b.data);
  assert_int_equal(b.data[0], 0);
  assert_int_equal(buf_printf(&b, "%s=%d;", "a", 12), 0);
  assert_int_equal(buf_printf(&b, "%05.1f", 2.25), 0);
  assert_string_equal((char *)b.data, "a=12;002.2");
  assert_int_equal(b.len, strlen("a=12;002.2"));
  assert_int_equal(buf_append_u8(&b, 0), 0); /* binary content is fine */
  assert_int_equal(b.len, 11);
  assert_int_equal(b.data[11], 0);

  buf_consume(&b, 5);
  assert_int_equal(b.len, 6);
  assert_memory_equal(b.data, "002.2\0", 7);
  buf_consume(&b, 100);
  assert_int_equal(b.len, 0);
  assert_int_equal(b.data[0], 0);

  buf_reset(&b);
  assert_int_equal(buf_reserve(&b, 10), 0);
  memcpy(b.data + b.len, "0123456789", 10);
  buf_commit(&b, 4);
  assert_string_equal((char *)b.data, "0123");
  buf_done(&b);
  buf_done(&b); /* twice is harmless */
}

static void test_buf_steal(void **state) {
  struct buf b = BUF_INIT(1024);
  size_t len = 99;
  assert_null(buf_steal(&b, &len));
  assert_int_equal(len, 0);
  assert_int_equal(buf_append_str(&b, "hello"), 0);
  uint8_t *p = buf_steal(&b, &len);
  assert_non_null(p);
  assert_int_equal(len, 5);
  assert_string_equal((char *)p, "hello");
  assert_null(b.data);
  assert_int_equal(b.len, 0);
  assert_int_equal(b.max, 1024);
  free(p);
  /* Still usable. */
  assert_int_equal(buf_append_str(&b, "x"), 0);
  assert_string_equal((char *)b.data, "x");
  buf_done(&b);
}

/* ---- base64 and hex ---- */

static const struct {
  const char *plain, *b64, *b64url;
} rfc4648[] = {
    {"", "", ""},
    {"f", "Zg==", "Zg"},
    {"fo", "Zm8=", "Zm8"},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg==", "Zm9vYg"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};

static void test_b64_rfc4648(void **state) {
  char enc[16];
  uint8_t dec[16];
  size_t n;
  for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
    const char *plain = rfc4648[i].plain;
    size_t len = strlen(plain);
    assert_int_equal(b64_encoded_len(len, 0), strlen(rfc4648[i].b64));
    b64_encode((const uint8_t *)plain, len, enc, 0);
    assert_string_equal(enc, rfc4648[i].b64);
    assert_int_equal(b64_encoded_len(len, 1), strlen(rfc4648[i].b64url));
    b64_encode((const uint8_t *)plain, len, enc, 1);
    assert_string_equal(enc, rfc4648[i].b64url);
    /* Decodes with and without padding. */
    n = 99;
    assert_int_equal(b64_decode(rfc4648[i].b64, strlen(rfc4648[i].b64), dec, sizeof(dec), &n), 0);
    assert_int_equal(n, len);
    assert_memory_equal(dec, plain, len);
    n = 99;
    assert_int_equal(b64_decode(rfc4648[i].b64url, strlen(rfc4648[i].b64url), dec, sizeof(dec), &n),
                     0);
    assert_int_equal(n, len);
    assert_memory_equal(dec, plain, len);
  }
}

static void test_b64_alphabets(void **state) {
  static const uint8_t bytes[] = {0xfb, 0xff, 0xbf};
  char enc[8];
  uint8_t dec[8];
  size_t n;
  b64_encode(bytes, 3, enc, 0);
  assert_string_equal(enc, "+/+/");
  b64_encode(bytes, 3, enc, 1);
  assert_string_equal(enc, "-_-_");
  b64_encode(bytes, 2, enc, 1);
  assert_string_equal(enc, "-_8");
  assert_int_equal(b64_decode("-_-_", 4, dec, sizeof(dec), &n), 0);
  assert_int_equal(n, 3);
  assert_memory_equal(dec, bytes, 3);
  assert_int_equal(b64_decode("+/+/", 4, dec, sizeof(dec), &n), 0);
  assert_memory_equal(dec, bytes, 3);
  assert_int_equal(b64_decode("-_8", 3, dec, sizeof(dec), &n), 0);
  assert_int_equal(n, 2);
  assert_memory_equal(dec, bytes, 2);
}

static void test_b64_whitespace(void **state) {
  static const char in[] = " Zm9v\n\tYmFy\r\n Zg=\n= \n";
  uint8_t dec[16];
  size_t n;
  assert_int_equal(b64_decode(in, strlen(in), dec, sizeof(dec), &n), 0);
  assert_int_equal(n, 7);
  assert_memory_equal(dec, "foobarf", 7);
  /* Only the given length is read, not up to a NUL. */
  assert_int_equal(b64_decode("Zm9vYmFy", 4, dec, sizeof(dec), &n), 0);
  assert_int_equal(n, 3);
}

static void test_b64_bad(void **state) {
  static const char *const bad[] = {
      "Zm9v*mFy",                /* bad character */
      "Zm9v.",    "Zm9v\v", "Z", /* 6 bits: no byte can end here */
      "Zm9vY",                   /* likewise after a full quantum */
      "Zh==",                    /* leftover bits set */
      "Zm9=",                    /* leftover bits set */
      "Zg=",                     /* padding that does not complete the quantum */
      "Zm9v=",    "Zm8==",  "Zg===", "=", "====", "Zg==Zg==", /* data after padding */
      "Zg=a",
  };
  uint8_t dec[16];
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    size_t n = 12345;
    int r = b64_decode(bad[i], strlen(bad[i]), dec, sizeof(dec), &n);
    if (r != -EINVAL)
      fail_msg("\"%s\": %d", bad[i], r);
    assert_int_equal(n, 12345); /* ret_len untouched on failure */
  }
}

static void test_b64_out_max(void **state) {
  uint8_t dec[6];
  size_t n = 77;
  assert_int_equal(b64_decode("Zm9vYmFy", 8, dec, 5, &n), -AMP_ETOOBIG);
  assert_int_equal(n, 77);
  assert_int_equal(b64_decode("Zm9vYmFy", 8, dec, 6, &n), 0);
  assert_int_equal(n, 6);
  assert_int_equal(b64_decode("", 0, NULL, 0, &n), 0);
  assert_int_equal(n, 0);
  assert_int_equal(b64_decode("Zg==", 4, dec, 0, &n), -AMP_ETOOBIG);
}

static void test_hex(void **state) {
  static const uint8_t want[16] = {0xed, 0xef, 0x8b, 0xa9, 0x79, 0xd6, 0x4a, 0xce,
                                   0xa3, 0xc8, 0x27, 0xdc, 0xd5, 0x1d, 0x21, 0xed};
  uint8_t kid[16];
  char out[33];
  /* The Widevine system ID in UUID form, in either case. */
  assert_int_equal(hex_decode("edef8ba9-79d6-4ace-a3c8-27dcd51d21ed", kid, 16), 0);
  assert_memory_equal(kid, want, 16);
  memset(kid, 0, sizeof(kid));
  assert_int_equal(hex_decode("EDEF8BA979D64ACEA3C827DCD51D21ED", kid, 16), 0);
  assert_memory_equal(kid, want, 16);
  hex_encode(want, 16, out);
  assert_string_equal(out, "edef8ba979d64acea3c827dcd51d21ed");
  hex_encode(want, 0, out);
  assert_string_equal(out, "");

  assert_int_equal(hex_decode("edef8ba9-79d6-4ace-a3c8-27dcd51d21", kid, 16), -EINVAL);
  assert_int_equal(hex_decode("edef8ba9-79d6-4ace-a3c8-27dcd51d21ed00", kid, 16), -EINVAL);
  assert_int_equal(hex_decode("edef8ba9-79d6-4ace-a3c8-27dcd51d21e", kid, 16), -EINVAL);
  assert_int_equal(hex_decode("gdef8ba9-79d6-4ace-a3c8-27dcd51d21ed", kid, 16), -EINVAL);
  assert_int_equal(hex_decode("edef8ba9 79d6-4ace-a3c8-27dcd51d21ed", kid, 16), -EINVAL);
  assert_int_equal(hex_decode("", kid, 16), -EINVAL);
  assert_int_equal(hex_decode("", kid, 0), 0);
}

/* ---- log ---- */

/* Topics of other modules, driven through the same functions the macros use. */
static struct log_topic http_topic = {.name = "http", .cached = 0};
static struct log_topic mp4_topic = {.name = "mp4", .cached = 0};

static int side_effect;

static int bump(void) {
  return ++side_effect;
}

static int log_pipe[2] = {-1, -1};

static int log_setup(void **state) {
  if (pipe2(log_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
    return -1;
  log_set_fd(log_pipe[1]);
  return 0;
}

static int log_teardown(void **state) {
  log_set_fd(2);
  log_set_journal(false);
  log_set_levels("info");
  close(log_pipe[0]);
  close(log_pipe[1]);
  return 0;
}

/* Everything written to the log pipe since the last call, NUL-terminated. */
static size_t drain(char *out, size_t max) {
  ssize_t n = read(log_pipe[0], out, max - 1);
  size_t len = n > 0 ? (size_t)n : 0;
  out[len] = 0;
  return len;
}

static void test_log_levels(void **state) {
  int lvl;
  assert_int_equal(log_level_from_name("warn", &lvl), 0);
  assert_int_equal(lvl, LOG_LEVEL_WARNING);
  assert_int_equal(log_level_from_name("error", &lvl), 0);
  assert_int_equal(lvl, LOG_LEVEL_ERR);
  assert_int_equal(log_level_from_name("debug", &lvl), 0);
  assert_int_equal(lvl, LOG_LEVEL_DEBUG);
  assert_int_equal(log_level_from_name("verbose", &lvl), -EINVAL);
  assert_int_equal(log_level_from_name("", &lvl), -EINVAL);
  assert_int_equal(log_level_from_name("debugx", &lvl), -EINVAL);

  assert_int_equal(log_set_levels("warning,http=debug"), 0);
  assert_true(log_enabled_(&http_topic, LOG_LEVEL_DEBUG));
  assert_true(log_enabled_(&mp4_topic, LOG_LEVEL_WARNING));
  assert_false(log_enabled_(&mp4_topic, LOG_LEVEL_NOTICE));
  assert_false(log_enabled_(&log_topic_, LOG_LEVEL_INFO));

  /* A change reaches topics that already cached a level. */
  assert_int_equal(log_set_levels("debug,http=err,mp4=info"), 0);
  assert_false(log_enabled_(&http_topic, LOG_LEVEL_WARNING));
  assert_true(log_enabled_(&http_topic, LOG_LEVEL_ERR));
  assert_true(log_enabled_(&mp4_topic, LOG_LEVEL_INFO));
  assert_false(log_enabled_(&mp4_topic, LOG_LEVEL_DEBUG));
  assert_true(log_enabled_(&log_topic_, LOG_LEVEL_DEBUG));

  /* Invalid specs are refused and the old one stays. */
  static const char *const bad[] = {"loud",  "http=loud",       "=debug",
                                    "http=", "info,mp4=debugx", "warning,http"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    if (log_set_levels(bad[i]) != -EINVAL)
      fail_msg("spec \"%s\" accepted", bad[i]);
  }
  assert_int_equal(log_set_levels(NULL), -EINVAL);
  char longspec[1024];
  memset(longspec, 0, sizeof(longspec));
  for (size_t i = 0; i + 6 < sizeof(longspec); i += 6)
    memcpy(longspec + i, "info,,", 6);
  assert_int_equal(log_set_levels(longspec), -EINVAL);
  assert_false(log_enabled_(&http_topic, LOG_LEVEL_WARNING));
  assert_true(log_enabled_(&mp4_topic, LOG_LEVEL_INFO));
  assert_true(log_enabled_(&log_topic_, LOG_LEVEL_DEBUG));
}

static void test_log_not_evaluated(void **state) {
  char out[4096];
  assert_int_equal(log_set_levels("info"), 0);
  log_set_journal(true);
  side_effect = 0;
  log_debug("never %d", bump());
  assert_int_equal(side_effect, 0);
  assert_int_equal(drain(out, sizeof(out)), 0);
  log_info("once %d", bump());
  assert_int_equal(side_effect, 1);
  drain(out, sizeof(out));
  assert_string_equal(out, "<6>coretest: once 1\n");
  assert_int_equal(log_set_levels("warning,coretest=debug"), 0);
  log_debug("now %d", bump());
  assert_int_equal(side_effect, 2);
  drain(out, sizeof(out));
  assert_string_equal(out, "<7>coretest: now 2\n");
}

static void test_log_output(void **state) {
  char out[4096];
  assert_int_equal(log_set_levels("debug"), 0);
  log_set_journal(true);
  log_error("e %s", "x");
  log_warning("w");
  log_notice("n");
  drain(out, sizeof(out));
  assert_string_equal(out, "<3>coretest: e x\n<4>coretest: w\n<5>coretest: n\n");

  /* %m names the errno of the caller. */
  errno = ENOENT;
  log_info("open: %m");
  drain(out, sizeof(out));
  assert_string_equal(out, "<6>coretest: open: No such file or directory\n");

  /* Outside the journal: a timestamp, the level and the topic. */
  log_set_journal(false);
  log_warning("plain %d", 7);
  size_t n = drain(out, sizeof(out));
  assert_true(n > 0);
  assert_non_null(strstr(out, " warning coretest: plain 7\n"));
  assert_int_equal(out[n - 1], '\n');
  assert_non_null(strchr("0123456789", out[0]));
  assert_null(strchr(out, '<'));

  /* A long message is cut to one bounded line that still ends in a newline. */
  static char big[8192];
  memset(big, 'a', sizeof(big) - 1);
  log_set_journal(true);
  log_info("%s", big);
  n = drain(out, sizeof(out));
  assert_true(n > 100 && n <= 2048);
  assert_int_equal(out[n - 1], '\n');
  assert_memory_equal(out, "<6>coretest: aaaa", 17);
  assert_null(memchr(out, '\n', n - 1));
}

/* ---- err ---- */

static void test_strerror(void **state) {
  assert_string_equal(amp_strerror(0), "success");
  assert_string_equal(amp_strerror(-ENOENT), "No such file or directory");
  assert_string_equal(amp_strerror(ENOENT), "No such file or directory");
  assert_string_equal(amp_strerror(-EAGAIN), "Resource temporarily unavailable");
  assert_string_equal(amp_strerror(-AMP_ETOOBIG), "input exceeds a limit");
  assert_string_equal(amp_strerror(-AMP_EINSECURE), "refused by the TLS policy (not https)");
  /* Every project code has its own name. */
  for (int e = AMP_ERR_BASE + 1; e < AMP_ERR_END; e++) {
    const char *s = amp_strerror(-e);
    assert_non_null(s);
    assert_true(strlen(s) > 0);
    assert_string_not_equal(s, "unknown error");
    for (int f = AMP_ERR_BASE + 1; f < e; f++)
      assert_string_not_equal(s, amp_strerror(-f));
  }
  assert_string_equal(amp_strerror(-AMP_ERR_BASE), "unknown error");
  assert_string_equal(amp_strerror(-AMP_ERR_END), "unknown error");
  assert_string_equal(amp_strerror(INT_MIN), "unknown error");
  assert_string_equal(amp_strerror(INT_MAX), "unknown error");
}

/* ---- fds ---- */

static bool cloexec(int fd) {
  int fl = fcntl(fd, F_GETFD);
  assert_true(fl >= 0);
  return fl & FD_CLOEXEC;
}

static bool listed(const struct fd_list *l, int fd) {
  for (size_t i = 0; i < l->n; i++)
    if (l->fd[i] == fd)
      return true;
  return false;
}

/* What a library opened between the two listings gets FD_CLOEXEC; what was open before,
 * stdin/stdout/stderr, and everything when the first listing is not complete, is left. */
static void test_fds_cloexec_new(void **state) {
  int old[2], fresh[2], more[2];
  assert_int_equal(pipe(old), 0); /* no O_CLOEXEC: as a library would */
  struct fd_list before;
  assert_int_equal(fd_list_read(&before), 0);
  assert_true(before.complete);
  assert_true(listed(&before, old[0]) && listed(&before, old[1]) && listed(&before, 2));
  assert_int_equal(pipe(fresh), 0);
  assert_false(listed(&before, fresh[0]));
  int fl2 = fcntl(2, F_GETFD);
  fd_cloexec_new(&before);
  assert_true(cloexec(fresh[0]) && cloexec(fresh[1]));
  assert_false(cloexec(old[0]) || cloexec(old[1]));
  assert_int_equal(fcntl(2, F_GETFD), fl2);

  before.complete = false; /* as after a failed listing */
  assert_int_equal(pipe(more), 0);
  fd_cloexec_new(&before);
  assert_false(cloexec(more[0]) || cloexec(more[1]));
  fd_list_done(&before);
  for (int i = 0; i < 2; i++) {
    close(old[i]);
    close(fresh[i]);
    close(more[i]);
  }
}

/* ---- redact ---- */

static void test_redact_urls(void **state) {
  char out[256];
  redact_urls("get https://alice:pw@cdn.example:8443/a/b.mp4?X-Amz-Signature=S#frag failed", out,
              sizeof(out));
  assert_string_equal(out, "get https://cdn.example:8443/a/b.mp4 failed");
  redact_urls("\"HTTP://h.example/x?q\" and (https://h2.example/#f) ok", out, sizeof(out));
  assert_string_equal(out, "\"HTTP://h.example/x\" and (https://h2.example/) ok");
  redact_urls("no url here?a=b#c", out, sizeof(out));
  assert_string_equal(out, "no url here?a=b#c");
  redact_urls("https://h.example/abcdef", out, 12); /* cut to fit, NUL-terminated */
  assert_string_equal(out, "https://h.e");
  /* A URL inside another's path or authority is redacted too (tests/fuzz/fuzz_redact.c
   * found the inner userinfo kept); one inside a query goes with the query. */
  redact_urls("https://proxy.example/https://u:p@inner.example/?s=1 done", out, sizeof(out));
  assert_string_equal(out, "https://proxy.example/https://inner.example/ done");
  redact_urls("http://a@http://b:c@d.example/x", out, sizeof(out));
  assert_string_equal(out, "http://http://d.example/x");
  redact_urls("https://h.example/p?next=https://u:p@x.example/ y", out, sizeof(out));
  assert_string_equal(out, "https://h.example/p y");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_buf_max),
      cmocka_unit_test(test_buf_text),
      cmocka_unit_test(test_buf_steal),
      cmocka_unit_test(test_b64_rfc4648),
      cmocka_unit_test(test_b64_alphabets),
      cmocka_unit_test(test_b64_whitespace),
      cmocka_unit_test(test_b64_bad),
      cmocka_unit_test(test_b64_out_max),
      cmocka_unit_test(test_hex),
      cmocka_unit_test_setup_teardown(test_log_levels, log_setup, log_teardown),
      cmocka_unit_test_setup_teardown(test_log_not_evaluated, log_setup, log_teardown),
      cmocka_unit_test_setup_teardown(test_log_output, log_setup, log_teardown),
      cmocka_unit_test(test_strerror),
      cmocka_unit_test(test_fds_cloexec_new),
      cmocka_unit_test(test_redact_urls),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
