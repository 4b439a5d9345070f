/* SPDX-License-Identifier: Apache-2.0 */
/* devcaps: device and configuration -> ABR constraints and the capability header. */
#include "player/devcaps.h"

#include "core/err.h"

#include <errno.h>
#include <string.h>

static const struct {
  const char *name;
  uint32_t cap;
} NAMES[] = {
    {"STD_RES", ABR_CAP_STD_RES}, {"HI_FI", ABR_CAP_HI_FI}, {"HI_RES", ABR_CAP_HI_RES},
    {"THREE_DIMENSIONAL", 0}, /* spatial: no decoder, never asked for or chosen */
    {"REAL_AUDIO_360", 0},
};

int devcaps_parse(const char *list, uint32_t *ret_caps) {
  if (!ret_caps)
    return -EINVAL;
  uint32_t caps = 0;
  const char *p = list ? list : "";
  while (*p) {
    size_t n = strcspn(p, ",");
    bool known = false;
    for (size_t i = 0; i < sizeof(NAMES) / sizeof(NAMES[0]) && !known; i++) {
      if (strlen(NAMES[i].name) == n && memcmp(NAMES[i].name, p, n) == 0) {
        caps |= NAMES[i].cap;
        known = true;
      }
    }
    if (!known)
      return -EINVAL;
    p += n;
    if (*p == ',' && *++p == '\0')
      return -EINVAL; /* a trailing comma */
  }
  *ret_caps = caps;
  return 0;
}

/* The valid bits of the deepest format in a probe's mask; 0 for none ampd writes. */
static uint32_t deepest(uint32_t formats) {
  if (formats & (1u << OUTPUT_FMT_S32))
    return 32;
  if (formats & ((1u << OUTPUT_FMT_S24) | (1u << OUTPUT_FMT_S24_3)))
    return 24;
  if (formats & (1u << OUTPUT_FMT_S16))
    return 16;
  return 0;
}

int devcaps_constraints(uint32_t caps, const struct output_caps *dev, bool can_resample,
                        uint32_t fixed_rate, struct abr_constraints *ret) {
  if (!ret)
    return -EINVAL;
  struct abr_constraints c = {.caps = caps, .can_resample = can_resample};
  if (dev) {
    c.max_bit_depth = deepest(dev->formats);
    if (!c.max_bit_depth || !dev->rate_max || dev->rate_min > dev->rate_max)
      return -ENODEV;
    if (fixed_rate && (fixed_rate < dev->rate_min || fixed_rate > dev->rate_max))
      return -ENODEV;
    c.rate_min = dev->rate_min;
    c.rate_max = dev->rate_max;
  }
  if (fixed_rate) { /* every track is resampled to it */
    c.rate_min = 1;
    c.rate_max = fixed_rate > ABR_RESAMPLE_MAX_RATE ? fixed_rate : ABR_RESAMPLE_MAX_RATE;
  }
  *ret = c;
  return 0;
}

int devcaps_setup(const char *list, const struct output_caps *dev, bool can_resample,
                  uint32_t fixed_rate, struct abr_constraints *ret_c, char *header, size_t len) {
  if (!ret_c || !header)
    return -EINVAL;
  uint32_t caps = 0;
  struct abr_constraints c;
  char buf[ABR_CAPABILITY_MAX];
  int r;
  if ((r = devcaps_parse(list, &caps)) < 0 ||
      (r = devcaps_constraints(caps, dev, can_resample, fixed_rate, &c)) < 0 ||
      (r = abr_capability_string(&c, buf, sizeof(buf))) < 0)
    return r;
  if (strlen(buf) >= len)
    return -AMP_ETOOBIG;
  memcpy(header, buf, strlen(buf) + 1);
  *ret_c = c;
  return 0;
}
