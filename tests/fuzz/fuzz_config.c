/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz core/config's file reading (src/core/config.h): the input is written as the
 * configuration file in a private temporary directory (made once per process, under
 * /dev/shm when there is one) and loaded over the defaults with config_load(), through
 * inih. The input may be in tests/fuzz/grow.h's compact form, to reach files at and over
 * CONFIG_FILE_MAX and lines at and over CONFIG_LINE_MAX.
 *
 * Checked:
 *  - config_load() returns 0, -EINVAL, -AMP_ETOOBIG or -ENOMEM, and -AMP_ETOOBIG for any
 *    input over CONFIG_FILE_MAX;
 *  - a file with a NUL byte, or a line (without its line end) over CONFIG_LINE_MAX bytes,
 *    is never accepted;
 *  - a failure writes one line: non-empty, no newline, starting with "<path>:", and leaves
 *    the configuration exactly at its defaults;
 *  - an accepted configuration has every number in its range and every enum valid, and
 *    each of its values, set back through config_set() (the override path), is accepted
 *    and reads back the same: the file and the command line check alike.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "fuzz.h"
#include "core/config.h"
#include "core/err.h"
#include "grow.h"

#define FUZZ_GROW_CAP (CONFIG_FILE_MAX + 1)

static char dir[64], path[96];

static void cleanup(void) {
  unlink(path);
  rmdir(dir);
}

static int setup(void) {
  if (dir[0])
    return 0;
  const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(dir, sizeof(dir), "%s/fuzz_config.XXXXXX", base);
  if (!mkdtemp(dir)) {
    dir[0] = '\0';
    return -1;
  }
  snprintf(path, sizeof(path), "%s/ampd.conf", dir);
  atexit(cleanup);
  return 0;
}

static int write_file(const uint8_t *data, size_t size) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return -1;
  size_t done = 0;
  while (done < size) {
    ssize_t w = write(fd, data + done, size - done);
    if (w <= 0) {
      close(fd);
      return -1;
    }
    done += (size_t)w;
  }
  return close(fd);
}

static bool str_eq(const char *a, const char *b) {
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool same(const struct ampd_config *a, const struct ampd_config *b) {
  return str_eq(a->service.lwa_url, b->service.lwa_url) &&
         str_eq(a->service.api_url, b->service.api_url) &&
         str_eq(a->service.client_id, b->service.client_id) &&
         str_eq(a->service.ca_file, b->service.ca_file) &&
         str_eq(a->service.capabilities, b->service.capabilities) &&
         a->service.has_explicit == b->service.has_explicit &&
         str_eq(a->service.accept_language, b->service.accept_language) &&
         str_eq(a->service.user_agent, b->service.user_agent) &&
         a->service.license_expiry_test_secs == b->service.license_expiry_test_secs &&
         a->output.backend == b->output.backend && str_eq(a->output.device, b->output.device) &&
         str_eq(a->output.mixer_control, b->output.mixer_control) &&
         a->output.buffer_ms == b->output.buffer_ms && a->output.sync == b->output.sync &&
         a->output.idle_close_s == b->output.idle_close_s &&
         a->playback.buffer_ahead_s == b->playback.buffer_ahead_s &&
         a->playback.buffer_max_kib == b->playback.buffer_max_kib &&
         a->playback.loudness == b->playback.loudness &&
         a->playback.loudness_target_lufs == b->playback.loudness_target_lufs &&
         a->playback.volume == b->playback.volume &&
         a->playback.volume_mode == b->playback.volume_mode &&
         str_eq(a->paths.state_dir, b->paths.state_dir) &&
         str_eq(a->paths.runtime_dir, b->paths.runtime_dir) &&
         str_eq(a->paths.cdm_dir, b->paths.cdm_dir) && str_eq(a->paths.cdm, b->paths.cdm) &&
         str_eq(a->paths.control_group, b->paths.control_group) &&
         str_eq(a->log.level, b->log.level);
}

/* Set name to value on copy (which starts equal to c): it must be accepted. */
static void set_back(struct ampd_config *copy, const char *name, const char *value) {
  char err[CONFIG_ERR_MAX];
  CHECK(config_set(copy, name, value ? value : "", err, sizeof(err)) == 0);
}

static void set_back_uint(struct ampd_config *copy, const char *name, uint32_t v) {
  char s[16];
  snprintf(s, sizeof(s), "%u", (unsigned)v);
  set_back(copy, name, s);
}

static void check_accepted(const struct ampd_config *c) {
  CHECK(c->service.lwa_url && c->service.api_url && c->service.capabilities &&
        c->service.accept_language && c->service.user_agent && c->output.device &&
        c->paths.state_dir && c->paths.runtime_dir && c->paths.cdm_dir && c->paths.cdm &&
        c->log.level);
  CHECK(strncasecmp(c->service.lwa_url, "https://", 8) == 0 &&
        strncasecmp(c->service.api_url, "https://", 8) == 0);
  CHECK(c->service.license_expiry_test_secs <= 366u * 86400u);
  CHECK(c->output.backend <= CONFIG_BACKEND_NULL);
  CHECK(c->output.buffer_ms >= 10 && c->output.buffer_ms <= 2000);
  CHECK(c->output.idle_close_s <= 86400);
  CHECK(c->playback.buffer_ahead_s >= 1 && c->playback.buffer_ahead_s <= 300);
  CHECK(c->playback.buffer_max_kib >= 256 && c->playback.buffer_max_kib <= 262144);
  CHECK(c->playback.loudness_target_lufs >= -40 && c->playback.loudness_target_lufs <= -5);
  CHECK(c->playback.volume <= 100);
  CHECK(c->playback.volume_mode <= CONFIG_VOLUME_BOTH);
  CHECK(c->paths.state_dir[0] == '/' && c->paths.runtime_dir[0] == '/' &&
        c->paths.cdm_dir[0] == '/');
  CHECK(!c->service.ca_file || c->service.ca_file[0] == '/');
  CHECK(!c->hooks.onevent || c->hooks.onevent[0] == '/');
  CHECK(c->hooks.timeout_s >= 1 && c->hooks.timeout_s <= 3600 && c->log.stats_interval_s <= 86400);

  struct ampd_config copy;
  CHECK(config_defaults(&copy) == 0);
  set_back(&copy, "service.lwa_url", c->service.lwa_url);
  set_back(&copy, "service.api_url", c->service.api_url);
  set_back(&copy, "service.client_id", c->service.client_id);
  set_back(&copy, "service.ca_file", c->service.ca_file);
  set_back(&copy, "service.capabilities", c->service.capabilities);
  set_back(&copy, "service.has_explicit", c->service.has_explicit ? "true" : "false");
  set_back(&copy, "service.accept_language", c->service.accept_language);
  set_back(&copy, "service.user_agent", c->service.user_agent);
  set_back_uint(&copy, "service.license_expiry_test_secs", c->service.license_expiry_test_secs);
  set_back(&copy, "output.backend", config_backend_name(c->output.backend));
  set_back(&copy, "output.device", c->output.device);
  set_back(&copy, "output.mixer_control", c->output.mixer_control);
  set_back_uint(&copy, "output.buffer_ms", c->output.buffer_ms);
  set_back(&copy, "output.sync", c->output.sync ? "yes" : "no");
  set_back_uint(&copy, "output.idle_close_s", c->output.idle_close_s);
  set_back_uint(&copy, "playback.buffer_ahead_s", c->playback.buffer_ahead_s);
  set_back_uint(&copy, "playback.buffer_max_kib", c->playback.buffer_max_kib);
  /* The target as text and back: it was parsed from at most 9 digits (an exact integer
   * over a power of ten, rounded once), so %.9g prints that decimal again and it parses to
   * the same double. Set it on, then off if it was off. */
  char lufs[32];
  snprintf(lufs, sizeof(lufs), "%.9g", c->playback.loudness_target_lufs);
  set_back(&copy, "playback.loudness_target_lufs", lufs);
  if (!c->playback.loudness)
    set_back(&copy, "playback.loudness_target_lufs", "off");
  set_back_uint(&copy, "playback.volume", c->playback.volume);
  set_back(&copy, "playback.volume_mode", config_volume_mode_name(c->playback.volume_mode));
  set_back(&copy, "paths.state_dir", c->paths.state_dir);
  set_back(&copy, "paths.runtime_dir", c->paths.runtime_dir);
  set_back(&copy, "paths.cdm_dir", c->paths.cdm_dir);
  set_back(&copy, "paths.cdm", c->paths.cdm);
  set_back(&copy, "paths.control_group", c->paths.control_group);
  set_back(&copy, "log.level", c->log.level);
  set_back(&copy, "playback.resume", c->playback.resume ? "true" : "false");
  set_back_uint(&copy, "log.stats_interval_s", c->log.stats_interval_s);
  set_back(&copy, "hooks.onevent", c->hooks.onevent);
  set_back_uint(&copy, "hooks.timeout_s", c->hooks.timeout_s);
  CHECK(same(&copy, c));
  CHECK(config_diff(&copy, c, NULL, NULL) == 0); /* every key, the new ones too */
  config_free(&copy);
}

/* Lines longer than CONFIG_LINE_MAX (without "\n" or "\r\n"), or a NUL byte. */
static bool must_fail(const uint8_t *p, size_t n) {
  if (memchr(p, '\0', n))
    return true;
  size_t start = 0;
  for (size_t i = 0; i <= n; i++) {
    if (i == n || p[i] == '\n') {
      size_t l = i - start;
      if (l > 0 && p[start + l - 1] == '\r')
        l--;
      if (l > CONFIG_LINE_MAX)
        return true;
      start = i + 1;
    }
  }
  return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (setup() < 0)
    return 0;
  struct grown g;
  if (grow(data, size, FUZZ_GROW_CAP, &g) < 0)
    return 0;
  if (write_file(g.data, g.size) < 0) {
    grow_free(&g);
    return 0;
  }
  struct ampd_config c, def;
  if (config_defaults(&c) < 0 || config_defaults(&def) < 0) {
    config_free(&c);
    grow_free(&g);
    return 0;
  }
  char err[CONFIG_ERR_MAX];
  err[0] = '\0';
  int r = config_load(path, &c, err, sizeof(err));
  CHECK(r == 0 || r == -EINVAL || r == -AMP_ETOOBIG || r == -ENOMEM);
  if (g.size > CONFIG_FILE_MAX)
    CHECK(r == -AMP_ETOOBIG);
  if (must_fail(g.data, g.size))
    CHECK(r < 0);
  if (r < 0) {
    size_t pl = strlen(path);
    CHECK(err[0] && !strchr(err, '\n'));
    CHECK(strncmp(err, path, pl) == 0 && err[pl] == ':');
    CHECK(same(&c, &def));
    CHECK(config_diff(&c, &def, NULL, NULL) == 0); /* every key, the new ones too */
  } else {
    check_accepted(&c);
  }
  config_free(&c);
  config_free(&def);
  grow_free(&g);
  return 0;
}
