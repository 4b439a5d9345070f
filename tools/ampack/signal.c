/* SPDX-License-Identifier: Apache-2.0 */
#include "signal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"

#define SIG_CHANNELS 2
#define WAV_MAX_HEADER 4096 /* bytes of chunks before "data" that we read */

void pcm_done(struct pcm *p) {
  if (!p)
    return;
  free(p->s);
  p->s = NULL;
  p->frames = 0;
}

int sig_known(const char *name) {
  return !strcmp(name, "mix") || !strcmp(name, "tones") || !strcmp(name, "sweep") ||
         !strcmp(name, "silence") || !strcmp(name, "noisy");
}

/* splitmix64: a counter-based generator, so any frame can be computed on its own. */
static uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/* [0, 1) from a hash */
static double unit(uint64_t h) {
  return (double)(h >> 11) * (1.0 / 9007199254740992.0);
}

struct sig_params {
  double tone_hz[2][3];
  double tone_amp[3];
  double am_hz[3];
  double am_phase[3];
  int tones, sweep, noise;
};

#define SWEEP_PERIOD 8.0 /* seconds of one linear sweep */
#define SWEEP_F0 40.0
#define SWEEP_F1 16000.0

static void sig_setup(const char *name, uint64_t seed, struct sig_params *sp) {
  memset(sp, 0, sizeof(*sp));
  int all = !strcmp(name, "mix") || !strcmp(name, "noisy");
  sp->tones = all || !strcmp(name, "tones");
  sp->sweep = all || !strcmp(name, "sweep");
  sp->noise = !strcmp(name, "noisy"); /* not in "mix": 24-bit noise makes FLAC files large */
  for (int i = 0; i < 3; i++) {
    /* semitones above A2 (110 Hz), from the seed */
    double semis = floor(unit(mix64(seed * 16 + (uint64_t)i)) * 48.0);
    sp->tone_hz[0][i] = 110.0 * pow(2.0, semis / 12.0);
    sp->tone_hz[1][i] = sp->tone_hz[0][i] * 1.5; /* a fifth up on the right */
    sp->tone_amp[i] = 0.12;
    sp->am_hz[i] = 0.1 + 0.4 * unit(mix64(seed * 16 + 8 + (uint64_t)i));
    sp->am_phase[i] = 2.0 * M_PI * unit(mix64(seed * 16 + 12 + (uint64_t)i));
  }
}

/* Phase of cos/sin at frame n for frequency f, kept precise for long signals. */
static double tone_phase(double f, uint64_t n, uint32_t rate) {
  double cyc = fmod(f * (double)(n % ((uint64_t)rate * 1000u)), (double)rate) / (double)rate;
  return 2.0 * M_PI * cyc;
}

static double sweep_value(uint64_t n, uint32_t rate) {
  uint64_t period = (uint64_t)(SWEEP_PERIOD * rate);
  double tau = (double)(n % period) / rate;
  double k = (SWEEP_F1 - SWEEP_F0) / SWEEP_PERIOD;
  double cyc = SWEEP_F0 * tau + 0.5 * k * tau * tau; /* integer cycles per period: continuous */
  return sin(2.0 * M_PI * (cyc - floor(cyc)));
}

static double sig_value(const struct sig_params *sp, uint64_t seed, uint64_t n, uint32_t rate,
                        int ch) {
  double t = (double)n / rate;
  double v = 0.0;
  if (sp->tones)
    for (int i = 0; i < 3; i++) {
      double am = 0.6 + 0.4 * sin(2.0 * M_PI * sp->am_hz[i] * t + sp->am_phase[i]);
      v += sp->tone_amp[i] * am * sin(tone_phase(sp->tone_hz[ch][i], n, rate));
    }
  if (sp->sweep)
    v += 0.1 * sweep_value(n, rate) * (ch ? 0.7 : 1.0);
  if (sp->noise)
    v += 0.0004 * (unit(mix64(seed ^ (n * 2 + (uint64_t)ch) * 0x2545f4914f6cdd1dULL)) - 0.5);
  return v;
}

int sig_generate(const char *name, uint64_t seed, uint32_t rate, uint32_t bits, uint64_t start,
                 size_t frames, struct pcm *ret) {
  if (!sig_known(name) || (bits != 16 && bits != 24) || rate < 8000 || rate > 384000)
    return -EINVAL;
  if (frames == 0 || frames > PCM_MAX_FRAMES)
    return -AMP_ETOOBIG;
  int32_t *s = malloc(frames * SIG_CHANNELS * sizeof(*s));
  if (!s)
    return -ENOMEM;
  struct sig_params sp;
  sig_setup(name, seed, &sp);
  double scale = (double)((1u << (bits - 1)) - 1);
  for (size_t i = 0; i < frames; i++)
    for (int c = 0; c < SIG_CHANNELS; c++) {
      double v = sig_value(&sp, seed, start + i, rate, c);
      s[i * SIG_CHANNELS + (size_t)c] = (int32_t)floor(v * scale + 0.5);
    }
  *ret =
      (struct pcm){.s = s, .frames = frames, .rate = rate, .channels = SIG_CHANNELS, .bits = bits};
  return 0;
}

int pcm_convert_bits(const struct pcm *in, uint32_t bits, struct pcm *ret) {
  if (bits != 16 && bits != 24)
    return -EINVAL;
  size_t n = in->frames * in->channels;
  int32_t *s = malloc(n * sizeof(*s));
  if (!s)
    return -ENOMEM;
  for (size_t i = 0; i < n; i++) {
    int64_t v = in->s[i];
    if (bits >= in->bits)
      v *= (int64_t)1 << (bits - in->bits);
    else
      v = v >> (in->bits - bits); /* arithmetic shift: floor */
    s[i] = (int32_t)v;
  }
  *ret = *in;
  ret->s = s;
  ret->bits = bits;
  return 0;
}

static void le16(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}

static void le32(uint8_t *p, uint32_t v) {
  le16(p, v);
  le16(p + 2, v >> 16);
}

static int write_all(int fd, const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t k = write(fd, p, n);
    if (k < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

int pcm_write_wav(const char *path, const struct pcm *p) {
  if (p->bits != 16 && p->bits != 24)
    return -EINVAL;
  uint32_t bps = p->bits / 8, block = bps * p->channels;
  uint64_t data = (uint64_t)p->frames * block;
  if (data > UINT32_MAX - 36)
    return -AMP_ETOOBIG;
  uint8_t h[44];
  memcpy(h, "RIFF", 4);
  le32(h + 4, (uint32_t)(36 + data));
  memcpy(h + 8, "WAVEfmt ", 8);
  le32(h + 16, 16);
  le16(h + 20, 1);
  le16(h + 22, p->channels);
  le32(h + 24, p->rate);
  le32(h + 28, p->rate * block);
  le16(h + 32, block);
  le16(h + 34, p->bits);
  memcpy(h + 36, "data", 4);
  le32(h + 40, (uint32_t)data);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return -errno;
  int r = write_all(fd, h, sizeof(h));
  uint8_t chunk[8192];
  size_t used = 0, n = p->frames * p->channels;
  for (size_t i = 0; i < n && r == 0; i++) {
    uint32_t v = (uint32_t)p->s[i];
    for (uint32_t b = 0; b < bps; b++)
      chunk[used++] = (uint8_t)(v >> (8 * b));
    if (used + 4 > sizeof(chunk)) {
      r = write_all(fd, chunk, used);
      used = 0;
    }
  }
  if (r == 0)
    r = write_all(fd, chunk, used);
  if (close(fd) < 0 && r == 0)
    r = -errno;
  return r;
}

static uint32_t rd16(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t rd32(const uint8_t *p) {
  return rd16(p) | rd16(p + 2) << 16;
}

static int read_full(FILE *f, void *p, size_t n) {
  return fread(p, 1, n, f) == n ? 0 : -EINVAL;
}

int pcm_read_wav(const char *path, struct pcm *ret) {
  FILE *f = fopen(path, "rbe");
  if (!f)
    return -errno;
  int r = -EINVAL;
  uint8_t h[12], ck[8], fmt[40];
  uint32_t channels = 0, rate = 0, bits = 0;
  int have_fmt = 0;
  long skipped = 0;
  int32_t *s = NULL;
  if (read_full(f, h, 12) < 0 || memcmp(h, "RIFF", 4) || memcmp(h + 8, "WAVE", 4))
    goto out;
  for (;;) {
    if (read_full(f, ck, 8) < 0)
      goto out;
    uint32_t len = rd32(ck + 4);
    if (!memcmp(ck, "fmt ", 4)) {
      if (len < 16 || len > sizeof(fmt) || read_full(f, fmt, len) < 0)
        goto out;
      uint32_t tag = rd16(fmt);
      if (tag == 0xfffe && len >= 40) /* EXTENSIBLE: the subformat GUID starts with the tag */
        tag = rd16(fmt + 24);
      channels = rd16(fmt + 2);
      rate = rd32(fmt + 4);
      bits = rd16(fmt + 14);
      if (tag != 1) {
        r = -AMP_EUNSUPPORTED;
        goto out;
      }
      if (len & 1)
        fgetc(f);
      have_fmt = 1;
    } else if (!memcmp(ck, "data", 4)) {
      break;
    } else {
      skipped += (long)len + (len & 1);
      if (skipped > WAV_MAX_HEADER || fseek(f, (long)len + (len & 1), SEEK_CUR) != 0)
        goto out;
    }
  }
  if (!have_fmt || channels == 0 || channels > PCM_MAX_CHANNELS || rate < 8000 || rate > 384000 ||
      (bits != 16 && bits != 24 && bits != 32)) {
    r = -AMP_EUNSUPPORTED;
    goto out;
  }
  uint32_t len = rd32(ck + 4), bps = bits / 8;
  size_t frames = len / (bps * channels);
  if (frames == 0 || frames > PCM_MAX_FRAMES) {
    r = frames ? -AMP_ETOOBIG : -EINVAL;
    goto out;
  }
  s = malloc(frames * channels * sizeof(*s));
  if (!s) {
    r = -ENOMEM;
    goto out;
  }
  uint8_t chunk[8192];
  size_t n = frames * channels, i = 0;
  while (i < n) {
    size_t want = (n - i) * bps;
    if (want > sizeof(chunk) / bps * bps)
      want = sizeof(chunk) / bps * bps;
    if (read_full(f, chunk, want) < 0)
      goto out;
    for (size_t o = 0; o < want; o += bps, i++) {
      uint32_t v = 0;
      for (uint32_t b = 0; b < bps; b++)
        v |= (uint32_t)chunk[o + b] << (8 * b);
      if (bits == 16)
        s[i] = (int16_t)v;
      else if (bits == 24)
        s[i] = (int32_t)(v << 8) >> 8;
      else
        s[i] = (int32_t)v >> 8; /* 32-bit input is taken as its top 24 bits */
    }
  }
  *ret = (struct pcm){
      .s = s, .frames = frames, .rate = rate, .channels = channels, .bits = bits == 32 ? 24 : bits};
  s = NULL;
  r = 0;
out:
  free(s);
  fclose(f);
  return r;
}
