/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the reading of [service] capabilities (docs/configuration.md): the configuration's
 * check (core/config, through config_set()) and the daemon's own parse at start
 * (devcaps_parse(), src/player/devcaps.h), then devcaps_setup() with no device probe. The
 * input, up to its first NUL, is the value, in a heap copy of exactly that length and its
 * NUL.
 *
 * Checked: config_set() is 0, -EINVAL or -ENOMEM, or -AMP_ETOOBIG exactly for a value over
 * CONFIG_LINE_MAX bytes; devcaps_parse() succeeds exactly when
 * the value is "" or comma-separated names each one of STD_RES, HI_FI, HI_RES,
 * THREE_DIMENSIONAL, REAL_AUDIO_360 (a reference split here), with the bits of the names
 * it lists and *ret untouched on failure; whatever the configuration accepts, the daemon's
 * parse accepts too (else a valid file would stop the daemon at start), and the stored
 * value is the one given; devcaps_setup() then gives 0 or -AMP_EUNSUPPORTED, and on 0 a
 * NUL-terminated header of names from [A-Z_,] within ABR_CAPABILITY_MAX.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "core/config.h"
#include "core/err.h"
#include "media/abr.h"
#include "player/devcaps.h"

static const struct {
  const char *name;
  uint32_t bit;
} words[] = {{"STD_RES", ABR_CAP_STD_RES},
             {"HI_FI", ABR_CAP_HI_FI},
             {"HI_RES", ABR_CAP_HI_RES},
             {"THREE_DIMENSIONAL", 0},
             {"REAL_AUDIO_360", 0}};

/* The reference: 0 and the bits, or -1. */
static int ref_parse(const char *v, uint32_t *bits) {
  *bits = 0;
  if (!*v)
    return 0;
  for (;;) {
    size_t l = strcspn(v, ",");
    bool known = false;
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
      if (strlen(words[i].name) == l && memcmp(words[i].name, v, l) == 0) {
        *bits |= words[i].bit;
        known = true;
      }
    }
    if (!known)
      return -1; /* also an empty word: ",", "a,,b", a trailing comma */
    if (!v[l])
      return 0;
    v += l + 1;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t len = strnlen((const char *)data, size);
  char *v = malloc(len + 1);
  if (!v)
    return 0;
  memcpy(v, data, len);
  v[len] = '\0';

  uint32_t caps = 0xa5a5a5a5u, want;
  int d = devcaps_parse(v, &caps);
  int w = ref_parse(v, &want);
  CHECK(d == 0 || d == -EINVAL);
  CHECK((d == 0) == (w == 0));
  CHECK(d == 0 ? caps == want : caps == 0xa5a5a5a5u);

  struct ampd_config cfg;
  char err[256];
  if (config_defaults(&cfg) == 0) {
    int c = config_set(&cfg, "service.capabilities", v, err, sizeof(err));
    CHECK(c == 0 || c == -EINVAL || c == -ENOMEM || c == -AMP_ETOOBIG);
    CHECK((c == -AMP_ETOOBIG) == (len > CONFIG_LINE_MAX));
    if (c == 0) {
      CHECK(d == 0);
      CHECK(cfg.service.capabilities && strcmp(cfg.service.capabilities, v) == 0);
    }
  }
  config_free(&cfg);

  if (d == 0) {
    struct abr_constraints ac;
    char header[ABR_CAPABILITY_MAX + 8];
    memset(header, 0x5a, sizeof(header));
    int s = devcaps_setup(v, NULL, true, 0, &ac, header, sizeof(header));
    CHECK(s == 0 || s == -AMP_EUNSUPPORTED);
    if (s == 0) {
      size_t hl = strnlen(header, ABR_CAPABILITY_MAX);
      CHECK(hl < ABR_CAPABILITY_MAX);
      CHECK(strspn(header, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_,") == hl);
    }
  }
  free(v);
  return 0;
}
