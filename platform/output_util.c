/* SPDX-License-Identifier: Apache-2.0 */
/* output_util: the parts every output backend shares (platform/output_util.h). */
#include "platform/output_util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void output_seterr(char *errbuf, size_t errlen, const char *fmt, ...) {
  if (errbuf == NULL || errlen == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(errbuf, errlen, fmt, ap);
  va_end(ap);
}

int output_check_params(const struct output_params *p, uint32_t *ret_buffer_us,
                        uint32_t *ret_period_us, char *errbuf, size_t errlen) {
  const struct pcm_format *f = &p->format;
  uint32_t buffer_us = p->buffer_time_us ? p->buffer_time_us : OUTPUT_DEFAULT_BUFFER_US;
  uint32_t period_us = p->period_time_us ? p->period_time_us : buffer_us / OUTPUT_DEFAULT_PERIODS;
  if (f->rate == 0 || f->rate > OUTPUT_MAX_RATE || f->channels == 0 ||
      f->channels > OUTPUT_MAX_CHANNELS || f->bits < OUTPUT_MIN_BITS || f->bits > OUTPUT_MAX_BITS) {
    output_seterr(errbuf, errlen, "bad PCM format %u Hz, %u channels, %u bits", f->rate,
                  f->channels, f->bits);
    return -EINVAL;
  }
  if (buffer_us < OUTPUT_MIN_BUFFER_US || buffer_us > OUTPUT_MAX_BUFFER_US || period_us == 0 ||
      period_us > buffer_us / 2) {
    output_seterr(errbuf, errlen,
                  "bad buffer/period time %u/%u us (buffer %u..%u us, >= 2 periods)", buffer_us,
                  period_us, OUTPUT_MIN_BUFFER_US, OUTPUT_MAX_BUFFER_US);
    return -EINVAL;
  }
  if (ret_buffer_us != NULL)
    *ret_buffer_us = buffer_us;
  if (ret_period_us != NULL)
    *ret_period_us = period_us;
  return 0;
}

uint32_t output_frames_of_us(uint32_t rate, uint32_t us) {
  uint64_t n = ((uint64_t)rate * us + 500000u) / 1000000u;
  return n == 0 ? 1u : (uint32_t)n;
}

unsigned output_format_bits(enum output_sample_format f) {
  switch (f) {
  case OUTPUT_FMT_S16:
    return 16;
  case OUTPUT_FMT_S24:
  case OUTPUT_FMT_S24_3:
    return 24;
  case OUTPUT_FMT_S32:
    return 32;
  case OUTPUT_FMT_NONE:
    break;
  }
  return 0;
}

void output_format_order(unsigned bits, enum output_sample_format order[4]) {
  static const enum output_sample_format o16[4] = {OUTPUT_FMT_S16, OUTPUT_FMT_S32, OUTPUT_FMT_S24,
                                                   OUTPUT_FMT_S24_3};
  static const enum output_sample_format o24[4] = {OUTPUT_FMT_S32, OUTPUT_FMT_S24, OUTPUT_FMT_S24_3,
                                                   OUTPUT_FMT_S16};
  memcpy(order, bits <= 16 ? o16 : o24, sizeof(o16)); /* above 24 bits: the same order */
}

static const char *const format_names[] = {
    [OUTPUT_FMT_NONE] = "NONE",   [OUTPUT_FMT_S16] = "S16", [OUTPUT_FMT_S24] = "S24",
    [OUTPUT_FMT_S24_3] = "S24_3", [OUTPUT_FMT_S32] = "S32",
};

const char *output_format_name(enum output_sample_format f) {
  if ((unsigned)f >= sizeof(format_names) / sizeof(format_names[0]))
    return "NONE";
  return format_names[f];
}

enum output_sample_format output_format_parse(const char *s, size_t len) {
  for (int f = OUTPUT_FMT_S16; f <= OUTPUT_FMT_S32; f++) {
    const char *n = format_names[f];
    if (strlen(n) == len && memcmp(s, n, len) == 0)
      return (enum output_sample_format)f;
  }
  return OUTPUT_FMT_NONE;
}

int output_device_split(const char *dev, enum output_sample_format *ret_fmt,
                        const char **ret_rest) {
  *ret_fmt = OUTPUT_FMT_NONE;
  *ret_rest = dev != NULL ? dev : "";
  if (dev == NULL || dev[0] != 'S')
    return 0;
  const char *colon = strchr(dev, ':');
  if (colon == NULL || memchr(dev, '/', (size_t)(colon - dev)) != NULL)
    return 0; /* a path like "Songs/x" or "S16" alone: no prefix */
  enum output_sample_format f = output_format_parse(dev, (size_t)(colon - dev));
  if (f == OUTPUT_FMT_NONE)
    return -EINVAL;
  *ret_fmt = f;
  *ret_rest = colon + 1;
  return 0;
}

enum output_sample_format output_default_format(unsigned bits) {
  return bits <= 16 ? OUTPUT_FMT_S16 : bits <= 24 ? OUTPUT_FMT_S24_3 : OUTPUT_FMT_S32;
}

struct output_caps output_any_caps(enum output_sample_format fmt) {
  uint32_t all = (1u << OUTPUT_FMT_S16) | (1u << OUTPUT_FMT_S24) | (1u << OUTPUT_FMT_S24_3) |
                 (1u << OUTPUT_FMT_S32);
  return (struct output_caps){
      .rate_min = 1,
      .rate_max = OUTPUT_MAX_RATE,
      .channels_min = 1,
      .channels_max = OUTPUT_MAX_CHANNELS,
      .formats = fmt != OUTPUT_FMT_NONE ? 1u << fmt : all,
  };
}

/* Shift v (valid in `from` bits) to `to` bits. Left shifts go through uint32_t: shifting a
 * negative int left is undefined in C. Right shifts of negative values are arithmetic on
 * every compiler we support (truncation towards -inf). */
static inline int32_t rescale(int32_t v, unsigned from, unsigned to) {
  if (to >= from)
    return (int32_t)((uint32_t)v << (to - from));
  return v >> (from - to);
}

void output_convert(enum output_sample_format f, unsigned from_bits, const int32_t *in,
                    size_t n_values, void *out) {
  unsigned to = output_format_bits(f);
  switch (f) {
  case OUTPUT_FMT_S16: {
    int16_t *o = out;
    for (size_t i = 0; i < n_values; i++)
      o[i] = (int16_t)rescale(in[i], from_bits, to);
    break;
  }
  case OUTPUT_FMT_S24:
  case OUTPUT_FMT_S32: {
    int32_t *o = out;
    for (size_t i = 0; i < n_values; i++)
      o[i] = rescale(in[i], from_bits, to);
    break;
  }
  case OUTPUT_FMT_S24_3: {
    uint8_t *o = out;
    for (size_t i = 0; i < n_values; i++, o += 3) {
      uint32_t v = (uint32_t)rescale(in[i], from_bits, to);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
      o[0] = (uint8_t)(v >> 16);
      o[1] = (uint8_t)(v >> 8);
      o[2] = (uint8_t)v;
#else
      o[0] = (uint8_t)v;
      o[1] = (uint8_t)(v >> 8);
      o[2] = (uint8_t)(v >> 16);
#endif
    }
    break;
  }
  case OUTPUT_FMT_NONE:
    break;
  }
}
