/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for core/config: defaults, a full file, every kind of error with its exact
 * message and line, overrides, and the file and line bounds. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/err.h"
#include "media/cdmhost.h"

#if !defined(TEST_VERSION) || !defined(TEST_EXAMPLE)
#error "TEST_VERSION (the project version) and TEST_EXAMPLE must be defined by the build"
#endif

static char dir[64], path[96];

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof(dir), "/tmp/test_config.XXXXXX");
  if (!mkdtemp(dir))
    return -1;
  snprintf(path, sizeof(path), "%s/ampd.conf", dir);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  unlink(path);
  rmdir(dir);
  return 0;
}

static void write_bytes(const char *data, size_t len) {
  FILE *f = fopen(path, "wbe");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
}

static void write_text(const char *text) {
  write_bytes(text, strlen(text));
}

/* Load len bytes as the file over the defaults; the error line into err. */
static int load_bytes(const char *data, size_t len, struct ampd_config *cfg, char *err, size_t n) {
  write_bytes(data, len);
  assert_int_equal(config_defaults(cfg), 0);
  err[0] = '\0';
  return config_load(path, cfg, err, n);
}

/* The file must fail with code and the message "<path><suffix>". */
static void expect_error_bytes(const char *data, size_t len, int code, const char *suffix) {
  struct ampd_config cfg;
  char err[CONFIG_ERR_MAX], want[CONFIG_ERR_MAX];
  int r = load_bytes(data, len, &cfg, err, sizeof(err));
  snprintf(want, sizeof(want), "%s%s", path, suffix);
  if (r != code || strcmp(err, want) != 0)
    print_error("file:\n%.*s\ngot %d \"%s\"\nwant %d \"%s\"\n", (int)len, data, r, err, code, want);
  assert_int_equal(r, code);
  assert_string_equal(err, want);
  /* The defaults are untouched by a failed load. */
  assert_int_equal(cfg.playback.volume, 100);
  assert_int_equal(cfg.playback.buffer_ahead_s, 30);
  assert_string_equal(cfg.output.device, "default");
  config_free(&cfg);
}

static void expect_error(const char *text, int code, const char *suffix) {
  expect_error_bytes(text, strlen(text), code, suffix);
}

/* ---- defaults ---- */

static void check_defaults(const struct ampd_config *c) {
  assert_string_equal(c->service.lwa_url, "https://api.amazon.com");
  assert_string_equal(c->service.api_url, "https://music-api.amazon.com/");
  assert_null(c->service.client_id);
  assert_null(c->service.ca_file);
  assert_string_equal(c->service.capabilities, "STD_RES,HI_FI");
  assert_true(c->service.has_explicit);
  assert_string_equal(c->service.accept_language, "en-US");
  assert_string_equal(c->service.user_agent, "ampd/" TEST_VERSION);
  assert_int_equal(c->service.license_expiry_test_secs, 0);
  assert_int_equal(c->output.backend, CONFIG_BACKEND_ALSA);
  assert_string_equal(c->output.device, "default");
  assert_null(c->output.mixer_control);
  assert_int_equal(c->output.buffer_ms, 200);
  assert_false(c->output.sync);
  assert_int_equal(c->output.idle_close_s, 30);
  assert_int_equal(c->output.rate, CONFIG_RATE_NATIVE);
  assert_int_equal(c->playback.buffer_ahead_s, 30);
  assert_int_equal(c->playback.buffer_max_kib, 4096);
  assert_true(c->playback.loudness);
  assert_true(c->playback.loudness_target_lufs == -14.0);
  assert_int_equal(c->playback.volume, 100);
  assert_int_equal(c->playback.volume_mode, CONFIG_VOLUME_SOFTWARE);
  assert_string_equal(c->paths.state_dir, "/var/lib/ampd");
  assert_string_equal(c->paths.runtime_dir, "/run/ampd");
  assert_string_equal(c->paths.cdm_dir, cdmhost_default_dir());
  assert_string_equal(c->paths.cdm, "clearkey");
  assert_null(c->paths.control_group);
  assert_int_equal(c->mpris.bus, CONFIG_MPRIS_OFF);
  assert_string_equal(c->log.level, "info");
  assert_false(c->playback.resume);
  assert_int_equal(c->log.stats_interval_s, 60);
  assert_null(c->hooks.onevent);
  assert_int_equal(c->hooks.timeout_s, 10);
}

static void test_defaults(void **state) {
  (void)state;
  struct ampd_config c;
  assert_int_equal(config_defaults(&c), 0);
  check_defaults(&c);
  assert_string_equal(config_backend_name(c.output.backend), "alsa");
  assert_string_equal(config_volume_mode_name(c.playback.volume_mode), "software");
  assert_string_equal(config_backend_name(CONFIG_BACKEND_NULL), "null");
  assert_string_equal(config_backend_name((enum config_backend)3), "?");
  assert_string_equal(config_volume_mode_name(CONFIG_VOLUME_BOTH), "both");
  assert_string_equal(config_mpris_bus_name(c.mpris.bus), "off");
  assert_string_equal(config_mpris_bus_name(CONFIG_MPRIS_SYSTEM), "system");
  assert_string_equal(config_mpris_bus_name((enum config_mpris_bus)3), "?");
  config_free(&c);
  /* config_free zeroes and may be called again, and on NULL. */
  assert_null(c.log.level);
  config_free(&c);
  config_free(NULL);
}

static void test_empty_file(void **state) {
  (void)state;
  struct ampd_config c;
  char err[CONFIG_ERR_MAX];
  assert_int_equal(load_bytes("", 0, &c, err, sizeof(err)), 0);
  check_defaults(&c);
  config_free(&c);
  const char *only_comments = "; nothing\n# here\n\n   \n[service]\n[log]\n";
  assert_int_equal(load_bytes(only_comments, strlen(only_comments), &c, err, sizeof(err)), 0);
  check_defaults(&c);
  config_free(&c);
}

/* docs/ampd.conf.example loads, and states the defaults. */
static void test_example(void **state) {
  (void)state;
  struct ampd_config c;
  char err[CONFIG_ERR_MAX];
  assert_int_equal(config_defaults(&c), 0);
  int r = config_load(TEST_EXAMPLE, &c, err, sizeof(err));
  if (r)
    print_error("%s\n", err);
  assert_int_equal(r, 0);
  check_defaults(&c);
  config_free(&c);
}

/* ---- a full file ---- */

static const char full[] =
    "; every key, none at its default\r\n"
    "# CRLF line ends, comments of both kinds, indentation, inline comments\r\n"
    "[service]\r\n"
    "lwa_url = https://lwa.example.com:8443\r\n"
    "api_url=https://api.example.com/music/v1/\r\n"
    "  client_id = amzn1.application-oa2-client.0123456789abcdef   \r\n"
    "ca_file = /etc/ssl/test ca.pem ; inline comment\r\n"
    "capabilities = HI_RES,STD_RES,REAL_AUDIO_360\r\n"
    "has_explicit = No\r\n"
    "accept_language = de-DE,en;q=0.5\r\n"
    "user_agent = speaker/2.1 (test)\r\n"
    "license_expiry_test_secs = 60\r\n"
    "\r\n"
    "[output]\r\n"
    "backend = PIPE\r\n"
    "device = /run/ampd/pcm.fifo\r\n"
    "mixer_control = Digital\r\n"
    "buffer_ms = 500\r\n"
    "sync = yes\r\n"
    "idle_close_s = 0\r\n"
    "rate = 48000\r\n"
    "[playback] ; comment\r\n"
    "buffer_ahead_s = 300\r\n"
    "buffer_max_kib = 256\r\n"
    "loudness_target_lufs = -23.5\r\n"
    "volume = 0\r\n"
    "volume_mode = both\r\n"
    "resume = true\r\n"
    "  [paths]\t# comment\r\n"
    "state_dir = /srv/ampd/state\r\n"
    "runtime_dir = /tmp/ampd-run\r\n"
    "cdm_dir = /opt/ampd/cdm\r\n"
    "cdm = widevine\r\n"
    "control_group = ampd\r\n"
    "[mpris]\r\n"
    "bus = Session\r\n"
    "[log]\r\n"
    "level: warning,http=debug\r\n"
    "stats_interval_s = 0\r\n"
    "[hooks]\r\n"
    "onevent = /usr/local/bin/amp power\r\n"
    "timeout_s = 3600\r\n"
    "[output]\r\n" /* a section may come back */
    "\t; indented comment\r\n";

static void check_full(const struct ampd_config *c) {
  assert_string_equal(c->service.lwa_url, "https://lwa.example.com:8443");
  assert_string_equal(c->service.api_url, "https://api.example.com/music/v1/");
  assert_string_equal(c->service.client_id, "amzn1.application-oa2-client.0123456789abcdef");
  assert_string_equal(c->service.ca_file, "/etc/ssl/test ca.pem");
  assert_string_equal(c->service.capabilities, "HI_RES,STD_RES,REAL_AUDIO_360");
  assert_false(c->service.has_explicit);
  assert_string_equal(c->service.accept_language, "de-DE,en;q=0.5");
  assert_string_equal(c->service.user_agent, "speaker/2.1 (test)");
  assert_int_equal(c->service.license_expiry_test_secs, 60);
  assert_int_equal(c->output.backend, CONFIG_BACKEND_PIPE);
  assert_string_equal(c->output.device, "/run/ampd/pcm.fifo");
  assert_string_equal(c->output.mixer_control, "Digital");
  assert_int_equal(c->output.buffer_ms, 500);
  assert_true(c->output.sync);
  assert_int_equal(c->output.idle_close_s, 0);
  assert_int_equal(c->output.rate, 48000);
  assert_int_equal(c->playback.buffer_ahead_s, 300);
  assert_int_equal(c->playback.buffer_max_kib, 256);
  assert_true(c->playback.loudness);
  assert_true(c->playback.loudness_target_lufs == -23.5);
  assert_int_equal(c->playback.volume, 0);
  assert_int_equal(c->playback.volume_mode, CONFIG_VOLUME_BOTH);
  assert_string_equal(c->paths.state_dir, "/srv/ampd/state");
  assert_string_equal(c->paths.runtime_dir, "/tmp/ampd-run");
  assert_string_equal(c->paths.cdm_dir, "/opt/ampd/cdm");
  assert_string_equal(c->paths.cdm, "widevine");
  assert_string_equal(c->paths.control_group, "ampd");
  assert_int_equal(c->mpris.bus, CONFIG_MPRIS_SESSION);
  assert_string_equal(c->log.level, "warning,http=debug");
  assert_true(c->playback.resume);
  assert_int_equal(c->log.stats_interval_s, 0);
  assert_string_equal(c->hooks.onevent, "/usr/local/bin/amp power");
  assert_int_equal(c->hooks.timeout_s, 3600);
}

static void test_full_file(void **state) {
  (void)state;
  struct ampd_config c;
  char err[CONFIG_ERR_MAX];
  int r = load_bytes(full, sizeof(full) - 1, &c, err, sizeof(err));
  if (r != 0)
    print_error("%s\n", err);
  assert_int_equal(r, 0);
  check_full(&c);
  config_free(&c);
}

/* A second file applies over the first; a key in both is no duplicate (the check is per
 * file); a key the second does not name keeps the first's value. */
static void test_second_file(void **state) {
  (void)state;
  struct ampd_config c;
  char err[CONFIG_ERR_MAX];
  assert_int_equal(load_bytes(full, sizeof(full) - 1, &c, err, sizeof(err)), 0);
  write_text("[playback]\nvolume = 42\nloudness_target_lufs = OFF\n[service]\nca_file =\n");
  assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
  assert_int_equal(c.playback.volume, 42);
  assert_false(c.playback.loudness);
  assert_true(c.playback.loudness_target_lufs == -23.5); /* kept while off */
  assert_null(c.service.ca_file);                        /* "" unsets it */
  assert_string_equal(c.paths.cdm, "widevine");
  /* A failing second file leaves everything of the first. */
  write_text("[playback]\nvolume = 7\nvolume = 8\n");
  assert_int_equal(config_load(path, &c, err, sizeof(err)), -EINVAL);
  assert_int_equal(c.playback.volume, 42);
  assert_false(c.playback.loudness);
  assert_string_equal(c.service.client_id, "amzn1.application-oa2-client.0123456789abcdef");
  config_free(&c);
}

/* A UTF-8 byte order mark before the first line is not part of it. */
static void test_bom(void **state) {
  (void)state;
  struct ampd_config c;
  char err[CONFIG_ERR_MAX];
  const char *text = "\xef\xbb\xbf[log]\nlevel = debug\n";
  assert_int_equal(load_bytes(text, strlen(text), &c, err, sizeof(err)), 0);
  assert_string_equal(c.log.level, "debug");
  config_free(&c);
  /* Anywhere else it is just bytes: a line that is neither a header nor a key. */
  expect_error("[log]\n\xef\xbb\xbf[log]\n", -EINVAL,
               ":2: not a [section] header or a key = value line");
}

/* ---- errors: the exact line ---- */

static void test_errors_structure(void **state) {
  (void)state;
  expect_error("[service]\n[nope]\nx = 1\n", -EINVAL, ":2: [nope]: unknown section");
  expect_error("[nope]\n", -EINVAL, ":1: [nope]: unknown section"); /* even when empty */
  expect_error("[ service ]\n", -EINVAL, ":1: [ service ]: unknown section");
  expect_error("[playback] volume = 5\n", -EINVAL, ":1: text after the [section] header");
  expect_error("[log]\n[playback]x]\n", -EINVAL, ":2: text after the [section] header");
  expect_error("\n\nvolume = 5\n", -EINVAL, ":3: volume: a key before any [section]");
  expect_error("[playback]\nvolum = 5\n", -EINVAL, ":2: [playback] volum: unknown key");
  expect_error("[playback]\nVolume = 5\n", -EINVAL, ":2: [playback] Volume: unknown key");
  expect_error("[playback]\nvolume = 5\n\n[playback]\nvolume = 6\n", -EINVAL,
               ":5: [playback] volume: set twice (first on line 2)");
  expect_error("[playback]\nvolume 5\n", -EINVAL,
               ":2: not a [section] header or a key = value line");
  expect_error("[log]\nlevel = info\n[playback\n", -EINVAL,
               ":3: not a [section] header or a key = value line");
  /* Indented lines are keys, not continuations of the previous value (which would make
   * this "set twice"). */
  expect_error("[playback]\nvolume = 5\n    volume_mode = loud\n", -EINVAL,
               ":3: [playback] volume_mode: \"loud\" is not one of software, hardware, both");
  expect_error("[output]\nrate = 7999\n", -EINVAL,
               ":2: [output] rate: 7999 is out of range 8000..768000");
  expect_error("[output]\nrate = fast\n", -EINVAL,
               ":2: [output] rate: \"fast\" is not native, keep or a rate in Hz");
  /* The first error is the one reported, whoever finds it. */
  expect_error("[playback]\nvolume = 500\nvolume = 600\n", -EINVAL,
               ":2: [playback] volume: 500 is out of range 0..100");
  expect_error("[playback]\nno equals\nvolume = 500\n", -EINVAL,
               ":2: not a [section] header or a key = value line");
  expect_error("[playback]\nvolume = 500\nno equals\n", -EINVAL,
               ":2: [playback] volume: 500 is out of range 0..100");
  /* A NUL byte ends no line early. */
  static const char nul[] = "[playback]\nvolume = 5\0 junk\n";
  expect_error_bytes(nul, sizeof(nul) - 1, -EINVAL, ":2: a NUL byte");
}

static void test_errors_numbers(void **state) {
  (void)state;
  /* The example of docs/configuration.md, on line 12. */
  expect_error("; 1\n; 2\n; 3\n; 4\n; 5\n; 6\n; 7\n; 8\n; 9\n; 10\n[playback]\n"
               "buffer_ahead_s = 900\n",
               -EINVAL, ":12: [playback] buffer_ahead_s: 900 is out of range 1..300");
  expect_error("[playback]\nbuffer_ahead_s = 0\n", -EINVAL,
               ":2: [playback] buffer_ahead_s: 0 is out of range 1..300");
  expect_error("[playback]\nvolume = 5x\n", -EINVAL,
               ":2: [playback] volume: \"5x\" is not a whole number");
  expect_error("[playback]\nvolume = -1\n", -EINVAL,
               ":2: [playback] volume: \"-1\" is not a whole number");
  expect_error("[playback]\nvolume = +1\n", -EINVAL,
               ":2: [playback] volume: \"+1\" is not a whole number");
  expect_error("[playback]\nvolume =\n", -EINVAL,
               ":2: [playback] volume: \"\" is not a whole number");
  expect_error("[playback]\nvolume = 0x10\n", -EINVAL,
               ":2: [playback] volume: \"0x10\" is not a whole number");
  expect_error("[playback]\nvolume = 50 # loud\n", -EINVAL,
               ":2: [playback] volume: \"50 # loud\" is not a whole number");
  expect_error("[playback]\nvolume = 99999999999999999999\n", -EINVAL,
               ":2: [playback] volume: 99999999999999999999 is out of range 0..100");
  /* Only CONFIG_ECHO_MAX characters of a value are shown, control bytes as '?'. */
  expect_error("[playback]\nvolume = 1234567890123456789012345678901234567890\n", -EINVAL,
               ":2: [playback] volume: 12345678901234567890123456789012... is out of range "
               "0..100");
  expect_error("[playback]\nvolume = 1\x1b[2J\n", -EINVAL,
               ":2: [playback] volume: \"1?[2J\" is not a whole number");
  expect_error("[output]\nbuffer_ms = 9\n", -EINVAL,
               ":2: [output] buffer_ms: 9 is out of range 10..2000");
  expect_error("[output]\nidle_close_s = 86401\n", -EINVAL,
               ":2: [output] idle_close_s: 86401 is out of range 0..86400");
  expect_error("[playback]\nbuffer_max_kib = 262145\n", -EINVAL,
               ":2: [playback] buffer_max_kib: 262145 is out of range 256..262144");
  expect_error("[service]\nlicense_expiry_test_secs = 31622401\n", -EINVAL,
               ":2: [service] license_expiry_test_secs: 31622401 is out of range 0..31622400");
  expect_error("[playback]\nloudness_target_lufs = -60\n", -EINVAL,
               ":2: [playback] loudness_target_lufs: -60 is out of range -40..-5");
  expect_error("[playback]\nloudness_target_lufs = -4.9\n", -EINVAL,
               ":2: [playback] loudness_target_lufs: -4.9 is out of range -40..-5");
  expect_error("[playback]\nloudness_target_lufs = -1e1\n", -EINVAL,
               ":2: [playback] loudness_target_lufs: \"-1e1\" is not a number or off");
  expect_error("[playback]\nloudness_target_lufs = -14.\n", -EINVAL,
               ":2: [playback] loudness_target_lufs: \"-14.\" is not a number or off");
  expect_error("[playback]\nloudness_target_lufs = -14,5\n", -EINVAL,
               ":2: [playback] loudness_target_lufs: \"-14,5\" is not a number or off");
  expect_error("[playback]\nloudness_target_lufs = nan\n", -EINVAL,
               ":2: [playback] loudness_target_lufs: \"nan\" is not a number or off");
}

static void test_errors_words(void **state) {
  (void)state;
  expect_error("[service]\nhas_explicit = maybe\n", -EINVAL,
               ":2: [service] has_explicit: \"maybe\" is not a boolean (true, false, yes, no, "
               "1, 0)");
  expect_error("[output]\nsync = on\n", -EINVAL,
               ":2: [output] sync: \"on\" is not a boolean (true, false, yes, no, 1, 0)");
  expect_error("[output]\nbackend = jack\n", -EINVAL,
               ":2: [output] backend: \"jack\" is not one of alsa, pipe, null");
  expect_error("[output]\nbackend =\n", -EINVAL,
               ":2: [output] backend: \"\" is not one of alsa, pipe, null");
  expect_error("[mpris]\nbus = user\n", -EINVAL,
               ":2: [mpris] bus: \"user\" is not one of off, session, system");
  expect_error("[log]\nlevel = verbose\n", -EINVAL,
               ":2: [log] level: \"verbose\" is not a log level spec (a level, or "
               "level,topic=level,...)");
  expect_error("[log]\nlevel = info,http=loud\n", -EINVAL,
               ":2: [log] level: \"info,http=loud\" is not a log level spec (a level, or "
               "level,topic=level,...)");
}

static void test_errors_strings(void **state) {
  (void)state;
  expect_error("[service]\nlwa_url = http://api.amazon.com\n", -EINVAL,
               ":2: [service] lwa_url: must be an https:// URL");
  expect_error("[service]\napi_url = api.amazon.com\n", -EINVAL,
               ":2: [service] api_url: must be an https:// URL");
  expect_error("[service]\napi_url = https:///path\n", -EINVAL,
               ":2: [service] api_url: has no host");
  expect_error("[service]\napi_url = https://:443/\n", -EINVAL,
               ":2: [service] api_url: has no host");
  expect_error("[service]\napi_url = https://me:secret@api.example.com/\n", -EINVAL,
               ":2: [service] api_url: must not hold a user:password@");
  expect_error("[service]\napi_url = https://api.example.com/a b\n", -EINVAL,
               ":2: [service] api_url: must not hold spaces or control characters");
  expect_error("[service]\nlwa_url =\n", -EINVAL, ":2: [service] lwa_url: must not be empty");
  expect_error("[service]\nclient_id = two words\n", -EINVAL,
               ":2: [service] client_id: must be printable ASCII without spaces");
  expect_error("[service]\nclient_id = caf\xc3\xa9\n", -EINVAL,
               ":2: [service] client_id: must be printable ASCII without spaces");
  expect_error("[output]\nmixer_control = Mas\x01ter\n", -EINVAL,
               ":2: [output] mixer_control: must be printable ASCII");
  expect_error("[service]\nuser_agent = "
               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
               -EINVAL, ":2: [service] user_agent: is longer than 128 bytes");
  expect_error("[service]\nca_file = certs/ca.pem\n", -EINVAL,
               ":2: [service] ca_file: must be an absolute path of printable characters");
  expect_error("[paths]\nstate_dir = var/lib/ampd\n", -EINVAL,
               ":2: [paths] state_dir: must be an absolute path of printable characters");
  expect_error("[paths]\ncdm_dir = /usr/lib/../tmp\n", -EINVAL,
               ":2: [paths] cdm_dir: must be an absolute path without . or .. components");
  expect_error("[paths]\nruntime_dir = /run/./ampd\n", -EINVAL,
               ":2: [paths] runtime_dir: must be an absolute path without . or .. components");
  expect_error("[paths]\ncdm = ../evil\n", -EINVAL,
               ":2: [paths] cdm: must be a plugin name of 1 to 32 characters from a-z, 0-9, _ "
               "and -");
  expect_error("[paths]\ncdm = ClearKey\n", -EINVAL,
               ":2: [paths] cdm: must be a plugin name of 1 to 32 characters from a-z, 0-9, _ "
               "and -");
  expect_error("[paths]\ncdm = abcdefghijklmnopqrstuvwxyz0123456\n", -EINVAL,
               ":2: [paths] cdm: must be a plugin name of 1 to 32 characters from a-z, 0-9, _ "
               "and -");
  expect_error("[service]\ncapabilities = STD_RES,LOSSLESS\n", -EINVAL,
               ":2: [service] capabilities: \"LOSSLESS\" is not one of STD_RES, HI_FI, HI_RES, "
               "THREE_DIMENSIONAL, REAL_AUDIO_360");
  expect_error("[service]\ncapabilities = HI_FI,STD_RES,HI_FI\n", -EINVAL,
               ":2: [service] capabilities: lists HI_FI twice");
  expect_error("[service]\ncapabilities = STD_RES, HI_FI\n", -EINVAL,
               ":2: [service] capabilities: \" HI_FI\" is not one of STD_RES, HI_FI, HI_RES, "
               "THREE_DIMENSIONAL, REAL_AUDIO_360");
  expect_error("[service]\ncapabilities = STD_RES,\n", -EINVAL,
               ":2: [service] capabilities: must be a comma list without spaces of STD_RES, "
               "HI_FI, HI_RES, THREE_DIMENSIONAL, REAL_AUDIO_360");
  expect_error("[service]\naccept_language = en_US\n", -EINVAL,
               ":2: [service] accept_language: must be a language list such as en-US or "
               "de-DE,en;q=0.5 (1 to 64 characters of letters, digits and - , ; = . * and "
               "spaces)");
}

/* ---- the file itself ---- */

static void test_file_errors(void **state) {
  (void)state;
  struct ampd_config c;
  char err[CONFIG_ERR_MAX], want[CONFIG_ERR_MAX];
  assert_int_equal(config_defaults(&c), 0);
  unlink(path);
  assert_int_equal(config_load(path, &c, err, sizeof(err)), -ENOENT);
  snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", path);
  assert_string_equal(err, want);

  assert_int_equal(config_load(dir, &c, err, sizeof(err)), -EINVAL);
  snprintf(want, sizeof(want), "%s: not a regular file", dir);
  assert_string_equal(err, want);

  /* A FIFO is refused without blocking the open. */
  assert_int_equal(mkfifo(path, 0600), 0);
  assert_int_equal(config_load(path, &c, err, sizeof(err)), -EINVAL);
  snprintf(want, sizeof(want), "%s: not a regular file", path);
  assert_string_equal(err, want);
  unlink(path);

  /* Unreadable (unless we are root, who reads everything: then it loads). */
  write_text("[playback]\nvolume = 1\n");
  assert_int_equal(chmod(path, 0), 0);
  int r = config_load(path, &c, err, sizeof(err));
  if (geteuid() == 0) {
    assert_int_equal(r, 0);
    assert_int_equal(c.playback.volume, 1);
  } else {
    assert_int_equal(r, -EACCES);
    snprintf(want, sizeof(want), "%s: cannot open: Permission denied", path);
    assert_string_equal(err, want);
  }
  config_free(&c);
}

static void test_file_bound(void **state) {
  (void)state;
  struct ampd_config c;
  char err[CONFIG_ERR_MAX];
  /* Exactly CONFIG_FILE_MAX bytes: comment lines of 64 bytes, a key in the last. */
  char *data = malloc(CONFIG_FILE_MAX + 1);
  assert_non_null(data);
  const char *last = "[playback]\nvolume = 9\n";
  size_t at = 0;
  while (at + 64 <= CONFIG_FILE_MAX - strlen(last)) {
    memset(data + at, '#', 63);
    data[at + 63] = '\n';
    at += 64;
  }
  size_t pad = CONFIG_FILE_MAX - strlen(last) - at; /* a shorter comment line fills up */
  assert_true(pad >= 2);
  memset(data + at, ';', pad - 1);
  data[at + pad - 1] = '\n';
  at += pad;
  memcpy(data + at, last, strlen(last));
  at += strlen(last);
  assert_int_equal(at, CONFIG_FILE_MAX);
  int r = load_bytes(data, at, &c, err, sizeof(err));
  if (r)
    print_error("%s\n", err);
  assert_int_equal(r, 0);
  assert_int_equal(c.playback.volume, 9);
  config_free(&c);

  /* One byte more is refused as a whole, before a line is parsed. */
  data[at] = '\n';
  char want[CONFIG_ERR_MAX];
  snprintf(want, sizeof(want), ": larger than %u bytes", CONFIG_FILE_MAX);
  expect_error_bytes(data, at + 1, -AMP_ETOOBIG, want);
  free(data);
}

static void test_line_bound(void **state) {
  (void)state;
  struct ampd_config c;
  char err[CONFIG_ERR_MAX], line[CONFIG_LINE_MAX + 64], file[CONFIG_LINE_MAX + 128];
  /* "device = " and a value making the line exactly CONFIG_LINE_MAX bytes: accepted, whole. */
  const char *key = "device = ";
  size_t vlen = CONFIG_LINE_MAX - strlen(key);
  memcpy(line, key, strlen(key));
  memset(line + strlen(key), 'd', vlen);
  line[CONFIG_LINE_MAX] = '\0';
  snprintf(file, sizeof(file), "[output]\n%s\n", line);
  assert_int_equal(load_bytes(file, strlen(file), &c, err, sizeof(err)), 0);
  assert_int_equal(strlen(c.output.device), vlen);
  config_free(&c);
  /* The same with CRLF: the line end is not counted. */
  snprintf(file, sizeof(file), "[output]\r\n%s\r\n", line);
  assert_int_equal(load_bytes(file, strlen(file), &c, err, sizeof(err)), 0);
  assert_int_equal(strlen(c.output.device), vlen);
  config_free(&c);

  /* One byte more: an error on its line (inih alone would cut it and parse the rest). */
  char want[CONFIG_ERR_MAX];
  snprintf(want, sizeof(want), ":2: the line is longer than %u bytes", CONFIG_LINE_MAX);
  line[CONFIG_LINE_MAX] = 'd';
  line[CONFIG_LINE_MAX + 1] = '\0';
  snprintf(file, sizeof(file), "[output]\n%s\n", line);
  expect_error(file, -AMP_ETOOBIG, want);
  /* A comment of 199 bytes with a key after it: inih alone would read the first 199 bytes
   * as the comment and the rest, "volume = 50", as a key of its own. */
  memset(line, '#', 199);
  snprintf(file, sizeof(file), "[playback]\n%.199svolume = 50\n", line);
  expect_error(file, -AMP_ETOOBIG, want);

  /* A huge line (1 MiB would be refused as a file; 60 KiB of one line is a line error). */
  size_t huge = 60000;
  char *big = malloc(huge + 16);
  assert_non_null(big);
  memcpy(big, "[log]\nlevel = ", 14);
  memset(big + 14, 'x', huge);
  big[14 + huge] = '\n';
  expect_error_bytes(big, huge + 15, -AMP_ETOOBIG, want);
  free(big);
}

/* ---- overrides ---- */

static void test_overrides(void **state) {
  (void)state;
  struct ampd_config c;
  char err[CONFIG_ERR_MAX];
  assert_int_equal(load_bytes(full, sizeof(full) - 1, &c, err, sizeof(err)), 0);

  assert_int_equal(config_set(&c, "playback.volume", "55", err, sizeof(err)), 0);
  assert_int_equal(c.playback.volume, 55);
  assert_int_equal(config_set(&c, "output.rate", "Keep", err, sizeof(err)), 0);
  assert_int_equal(c.output.rate, CONFIG_RATE_KEEP);
  assert_int_equal(config_set(&c, "output.rate", "native", err, sizeof(err)), 0);
  assert_int_equal(c.output.rate, CONFIG_RATE_NATIVE);
  assert_int_equal(config_override(&c, "output.backend=null", err, sizeof(err)), 0);
  assert_int_equal(c.output.backend, CONFIG_BACKEND_NULL);
  assert_int_equal(config_override(&c, "log.level=debug,http=info", err, sizeof(err)), 0);
  assert_string_equal(c.log.level, "debug,http=info");
  /* An override replaces an earlier one (no duplicate check), a value may hold '='. */
  assert_int_equal(config_override(&c, "service.client_id=a=b", err, sizeof(err)), 0);
  assert_string_equal(c.service.client_id, "a=b");
  assert_int_equal(config_override(&c, "service.client_id=", err, sizeof(err)), 0);
  assert_null(c.service.client_id);
  /* Values are not trimmed: the command line means what it says. */
  assert_int_equal(config_set(&c, "playback.volume", " 5", err, sizeof(err)), -EINVAL);
  assert_string_equal(err, "playback.volume: \" 5\" is not a whole number");

  /* Each error leaves c as it was. */
  assert_int_equal(config_set(&c, "playback.volume", "101", err, sizeof(err)), -EINVAL);
  assert_string_equal(err, "playback.volume: 101 is out of range 0..100");
  assert_int_equal(config_set(&c, "playback.volumes", "1", err, sizeof(err)), -EINVAL);
  assert_string_equal(err, "playback.volumes: unknown key");
  assert_int_equal(config_set(&c, "play.volume", "1", err, sizeof(err)), -EINVAL);
  assert_string_equal(err, "play.volume: unknown section");
  assert_int_equal(config_set(&c, "volume", "1", err, sizeof(err)), -EINVAL);
  assert_string_equal(err, "volume: not a section.key name");
  assert_int_equal(config_set(&c, ".volume", "1", err, sizeof(err)), -EINVAL);
  assert_string_equal(err, ".volume: not a section.key name");
  assert_int_equal(config_override(&c, "playback.volume", err, sizeof(err)), -EINVAL);
  assert_string_equal(err, "playback.volume: not section.key=value");
  assert_int_equal(config_override(&c, "service.api_url=http://x/", err, sizeof(err)), -EINVAL);
  assert_string_equal(err, "service.api_url: must be an https:// URL");
  char longv[CONFIG_LINE_MAX + 2];
  memset(longv, 'a', CONFIG_LINE_MAX + 1);
  longv[CONFIG_LINE_MAX + 1] = '\0';
  assert_int_equal(config_set(&c, "output.device", longv, err, sizeof(err)), -AMP_ETOOBIG);
  char want[CONFIG_ERR_MAX];
  snprintf(want, sizeof(want), "output.device: the value is longer than %u bytes", CONFIG_LINE_MAX);
  assert_string_equal(err, want);
  longv[CONFIG_LINE_MAX] = '\0';
  assert_int_equal(config_set(&c, "output.device", longv, err, sizeof(err)), 0);
  assert_string_equal(c.output.device, longv);

  assert_int_equal(c.playback.volume, 55);
  assert_string_equal(c.service.api_url, "https://api.example.com/music/v1/");
  assert_int_equal(c.output.backend, CONFIG_BACKEND_NULL);
  assert_true(c.output.sync);
  config_free(&c);
}

/* Every key can be set and reads back what was set (the key table and the struct agree). */
static void test_every_key(void **state) {
  (void)state;
  struct ampd_config c;
  char err[CONFIG_ERR_MAX];
  assert_int_equal(config_defaults(&c), 0);
  static const char *const sets[][2] = {
      {"service.lwa_url", "https://lwa.example.com:8443"},
      {"service.api_url", "https://api.example.com/music/v1/"},
      {"service.client_id", "amzn1.application-oa2-client.0123456789abcdef"},
      {"service.ca_file", "/etc/ssl/test ca.pem"},
      {"service.capabilities", "HI_RES,STD_RES,REAL_AUDIO_360"},
      {"service.has_explicit", "0"},
      {"service.accept_language", "de-DE,en;q=0.5"},
      {"service.user_agent", "speaker/2.1 (test)"},
      {"service.license_expiry_test_secs", "60"},
      {"output.backend", "pipe"},
      {"output.device", "/run/ampd/pcm.fifo"},
      {"output.mixer_control", "Digital"},
      {"output.buffer_ms", "500"},
      {"output.sync", "TRUE"},
      {"output.idle_close_s", "0"},
      {"output.rate", "48000"},
      {"playback.buffer_ahead_s", "300"},
      {"playback.buffer_max_kib", "256"},
      {"playback.loudness_target_lufs", "-23.50"},
      {"playback.volume", "0"},
      {"playback.volume_mode", "Both"},
      {"paths.state_dir", "/srv/ampd/state"},
      {"paths.runtime_dir", "/tmp/ampd-run"},
      {"paths.cdm_dir", "/opt/ampd/cdm"},
      {"paths.cdm", "widevine"},
      {"paths.control_group", "ampd"},
      {"mpris.bus", "session"},
      {"log.level", "warning,http=debug"},
      {"playback.resume", "yes"},
      {"log.stats_interval_s", "0"},
      {"hooks.onevent", "/usr/local/bin/amp power"},
      {"hooks.timeout_s", "3600"},
  };
  for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
    int r = config_set(&c, sets[i][0], sets[i][1], err, sizeof(err));
    if (r)
      print_error("%s\n", err);
    assert_int_equal(r, 0);
  }
  check_full(&c);
  config_free(&c);
}

static void test_errbuf(void **state) {
  (void)state;
  struct ampd_config c;
  assert_int_equal(config_defaults(&c), 0);
  /* NULL or empty errbuf: the code alone. */
  assert_int_equal(config_set(&c, "playback.volume", "101", NULL, 0), -EINVAL);
  char small[12];
  memset(small, 'z', sizeof(small));
  assert_int_equal(config_set(&c, "playback.volume", "101", small, 0), -EINVAL);
  assert_int_equal(small[0], 'z');
  /* A short one gets the start of the line, NUL-terminated. */
  assert_int_equal(config_set(&c, "playback.volume", "101", small, sizeof(small)), -EINVAL);
  assert_string_equal(small, "playback.vo");
  write_text("[playback]\nvolume = 500\n");
  assert_int_equal(config_load(path, &c, NULL, 0), -EINVAL);
  assert_int_equal(c.playback.volume, 100);
  config_free(&c);
}

/* config_diff names each key that differs, once, and only those. */
struct diffs {
  char names[8][64];
  size_t n;
};

static void on_diff(void *ud, const char *section, const char *key) {
  struct diffs *d = ud;
  if (d->n < 8)
    snprintf(d->names[d->n++], 64, "%s.%s", section, key);
}

static void test_diff(void **state) {
  (void)state;
  struct ampd_config a, b;
  char err[CONFIG_ERR_MAX];
  assert_int_equal(config_defaults(&a), 0);
  assert_int_equal(config_defaults(&b), 0);
  struct diffs d = {.n = 0};
  assert_int_equal(config_diff(&a, &b, on_diff, &d), 0);
  assert_int_equal(d.n, 0);
  assert_int_equal(config_set(&b, "log.level", "debug", err, sizeof(err)), 0);
  assert_int_equal(config_set(&b, "hooks.onevent", "/bin/true", err, sizeof(err)), 0);
  assert_int_equal(config_set(&b, "output.buffer_ms", "300", err, sizeof(err)), 0);
  assert_int_equal(config_set(&b, "playback.loudness_target_lufs", "off", err, sizeof(err)), 0);
  assert_int_equal(config_set(&b, "output.sync", "true", err, sizeof(err)), 0);
  assert_int_equal(config_diff(&a, &b, on_diff, &d), 5);
  assert_int_equal(d.n, 5);
  assert_string_equal(d.names[0], "output.buffer_ms");
  assert_string_equal(d.names[1], "output.sync");
  assert_string_equal(d.names[2], "playback.loudness_target_lufs");
  assert_string_equal(d.names[3], "log.level");
  assert_string_equal(d.names[4], "hooks.onevent");
  /* the same value again is no difference */
  assert_int_equal(config_set(&a, "log.level", "debug", err, sizeof(err)), 0);
  assert_int_equal(config_diff(&a, &b, NULL, NULL), 4);
  config_free(&a);
  config_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
      cmocka_unit_test_setup_teardown(test_empty_file, setup, teardown),
      cmocka_unit_test(test_example),
      cmocka_unit_test_setup_teardown(test_full_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_second_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bom, setup, teardown),
      cmocka_unit_test_setup_teardown(test_errors_structure, setup, teardown),
      cmocka_unit_test_setup_teardown(test_errors_numbers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_errors_words, setup, teardown),
      cmocka_unit_test_setup_teardown(test_errors_strings, setup, teardown),
      cmocka_unit_test_setup_teardown(test_file_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_file_bound, setup, teardown),
      cmocka_unit_test_setup_teardown(test_line_bound, setup, teardown),
      cmocka_unit_test_setup_teardown(test_overrides, setup, teardown),
      cmocka_unit_test_setup_teardown(test_every_key, setup, teardown),
      cmocka_unit_test_setup_teardown(test_errbuf, setup, teardown),
      cmocka_unit_test_setup_teardown(test_diff, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
