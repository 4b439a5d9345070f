/* SPDX-License-Identifier: Apache-2.0 */
/* gain: normalisation + volume + one TPDF dither, in place (src/media/gain.h). */
#include "media/gain.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define GAIN_MAX_RATE 768000u
#define GAIN_DEFAULT_SEED 0x9e3779b97f4a7c15ull

struct gain {
  struct pcm_format fmt;
  unsigned dbits;    /* resolution kept: min(bits, device_bits) */
  bool requant;      /* requantise also at gain 1 (config.requantise, dbits < bits) */
  double q, inv_q;   /* the quantisation step in source LSBs: 2^(bits - dbits) */
  double kmin, kmax; /* the range in steps of q */
  double headroom;   /* largest linear peak after gain: 2.5 steps below full scale */
  bool normalise;
  double target_lufs, max_boost_db;
  bool has_track;
  struct gain_track track;
  atomic_uint volume_req; /* set by any thread */
  unsigned volume;        /* the volume the gain heads for (applying thread) */
  double g_cur;           /* the gain of the last frame out (or of the next, no ramp) */
  double g_from, g_to;    /* the ramp */
  uint32_t ramp_pos;      /* frames of the ramp done */
  uint32_t ramp_len;      /* 0: no ramp running */
  uint32_t ramp_frames;   /* the ramp length for a change */
  uint64_t rng;
};

static uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static inline uint64_t xorshift64s(uint64_t *s) {
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545f4914f6cdd1dull;
}

double gain_tpdf(uint64_t *state) {
  const double scale = 1.0 / 9007199254740992.0; /* 2^-53 */
  double a = (double)(xorshift64s(state) >> 11) * scale;
  double b = (double)(xorshift64s(state) >> 11) * scale;
  return a - b;
}

double gain_volume_db(unsigned percent) {
  if (percent == 0)
    return -INFINITY;
  if (percent >= 100)
    return 0.0;
  return ((double)percent - 100.0) * (GAIN_VOLUME_RANGE_DB / 100.0);
}

static double volume_linear(unsigned percent) {
  if (percent == 0)
    return 0.0;
  if (percent >= 100)
    return 1.0;
  return pow(10.0, gain_volume_db(percent) / 20.0);
}

double gain_normalisation_db(const struct gain_track *t, double target_lufs, double max_boost_db) {
  if (t == NULL || !t->has_loudness || !isfinite(t->loudness_lufs))
    return 0.0;
  double db = target_lufs - t->loudness_lufs;
  if (db <= 0.0)
    return db; /* attenuation never clips */
  double cap = max_boost_db;
  if (t->has_peak && t->peak > 0.0 && isfinite(t->peak)) {
    cap = -20.0 * log10(t->peak);
    if (cap < 0.0)
      cap = 0.0; /* a peak above full scale: no boost */
  }
  return db < cap ? db : cap;
}

/* The linear normalisation gain now. */
static double norm_linear(const struct gain *g) {
  if (!g->normalise || !g->has_track)
    return 1.0;
  double db = gain_normalisation_db(&g->track, g->target_lufs, g->max_boost_db);
  if (db == 0.0)
    return 1.0;
  double lin = pow(10.0, db / 20.0);
  const struct gain_track *t = &g->track;
  if (db > 0.0 && t->has_peak && t->peak > 0.0 && isfinite(t->peak)) {
    /* leave room for the dither and the rounding at the device's resolution */
    double cap = g->headroom / t->peak;
    if (lin > cap)
      lin = cap > 1.0 ? cap : 1.0;
  }
  return lin;
}

double gain_target(const struct gain *g) {
  return norm_linear(g) * volume_linear(g->volume);
}

uint32_t gain_ramp_frames(const struct gain *g) {
  return g->ramp_frames;
}

/* Head for a new gain over ramp_frames frames (from where we are, also mid-ramp). */
static void start_ramp(struct gain *g, double to) {
  if (g->ramp_len == 0 && g->g_cur == to)
    return;
  g->g_from = g->g_cur;
  g->g_to = to;
  g->ramp_pos = 0;
  g->ramp_len = g->ramp_frames;
}

int gain_new(const struct gain_config *c, struct gain **ret) {
  if (c == NULL || ret == NULL)
    return -EINVAL;
  const struct pcm_format *f = &c->format;
  if (f->rate == 0 || f->rate > GAIN_MAX_RATE || f->channels == 0 ||
      f->channels > PCM_MAX_CHANNELS || f->bits < 8 || f->bits > 32 || c->device_bits > 32 ||
      !isfinite(c->target_lufs) || !isfinite(c->max_boost_db) || c->max_boost_db < 0.0)
    return -EINVAL;
  struct gain *g = calloc(1, sizeof(*g));
  if (g == NULL)
    return -ENOMEM;
  g->fmt = *f;
  g->dbits = c->device_bits == 0 || c->device_bits > f->bits ? f->bits : c->device_bits;
  if (g->dbits < 2)
    g->dbits = 2;
  g->requant = c->requantise && g->dbits < f->bits;
  g->q = ldexp(1.0, (int)(f->bits - g->dbits));
  g->inv_q = 1.0 / g->q;
  g->kmax = ldexp(1.0, (int)g->dbits - 1) - 1.0;
  g->kmin = -ldexp(1.0, (int)g->dbits - 1);
  g->headroom = 1.0 - 2.5 / ldexp(1.0, (int)g->dbits - 1);
  g->normalise = c->normalise;
  g->target_lufs = c->target_lufs != 0.0 ? c->target_lufs : GAIN_DEFAULT_TARGET_LUFS;
  g->max_boost_db = c->max_boost_db;
  g->volume = c->volume > 100 ? 100 : c->volume;
  atomic_init(&g->volume_req, g->volume);
  uint64_t r = ((uint64_t)f->rate * GAIN_RAMP_MS + 500) / 1000;
  g->ramp_frames = r == 0 ? 1 : (uint32_t)r;
  g->g_cur = gain_target(g);
  g->rng = splitmix64(c->seed != 0 ? c->seed : GAIN_DEFAULT_SEED);
  if (g->rng == 0)
    g->rng = 1;
  *ret = g;
  return 0;
}

void gain_free(struct gain *g) {
  free(g);
}

void gain_set_volume(struct gain *g, unsigned percent) {
  atomic_store_explicit(&g->volume_req, percent > 100 ? 100 : percent, memory_order_relaxed);
}

void gain_set_track(struct gain *g, const struct gain_track *t) {
  g->has_track = t != NULL;
  if (t != NULL)
    g->track = *t;
  g->g_cur = g->g_to = gain_target(g);
  g->ramp_len = g->ramp_pos = 0;
}

void gain_set_normalise(struct gain *g, bool on) {
  if (g->normalise == on)
    return;
  g->normalise = on;
  start_ramp(g, gain_target(g));
}

/* Pick up a volume set from another thread. */
static void take_volume(struct gain *g) {
  unsigned v = atomic_load_explicit(&g->volume_req, memory_order_relaxed);
  if (v != g->volume) {
    g->volume = v;
    start_ramp(g, gain_target(g));
  }
}

bool gain_is_identity(const struct gain *g) {
  return !g->requant && g->ramp_len == 0 && g->g_cur == 1.0 &&
         atomic_load_explicit(&g->volume_req, memory_order_relaxed) == g->volume;
}

static inline int32_t quantise(struct gain *g, int32_t x, double gf) {
  double y = floor((double)x * gf * g->inv_q + gain_tpdf(&g->rng) + 0.5);
  if (y > g->kmax)
    y = g->kmax;
  else if (y < g->kmin)
    y = g->kmin;
  return (int32_t)((int64_t)y * (int64_t)g->q);
}

int gain_apply(struct gain *g, int32_t *pcm, size_t frames) {
  if (pcm == NULL && frames > 0)
    return -EINVAL;
  take_volume(g);
  const size_t ch = g->fmt.channels;
  size_t i = 0;
  while (i < frames) {
    if (g->ramp_len == 0) {
      /* steady: untouched at 1, zeros when muted, else one gain for the rest */
      if (g->g_cur == 1.0 && !g->requant)
        return 0;
      if (g->g_cur == 0.0) {
        memset(pcm + i * ch, 0, (frames - i) * ch * sizeof(*pcm));
        return 0;
      }
      const double gf = g->g_cur;
      for (size_t v = i * ch; v < frames * ch; v++)
        pcm[v] = quantise(g, pcm[v], gf);
      return 0;
    }
    /* ramp: frame n of the ramp (1-based) at g_from + (g_to - g_from) * n / len */
    g->ramp_pos++;
    double gf;
    if (g->ramp_pos >= g->ramp_len) {
      gf = g->g_to;
      g->ramp_len = 0;
      g->ramp_pos = 0;
    } else {
      gf = g->g_from + (g->g_to - g->g_from) * (double)g->ramp_pos / (double)g->ramp_len;
    }
    g->g_cur = gf;
    int32_t *fr = pcm + i * ch;
    if (gf == 0.0) {
      memset(fr, 0, ch * sizeof(*fr));
    } else if (gf != 1.0 || g->ramp_len != 0 || g->requant) {
      for (size_t c = 0; c < ch; c++)
        fr[c] = quantise(g, fr[c], gf);
    }
    i++;
  }
  return 0;
}
