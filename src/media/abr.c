/* SPDX-License-Identifier: Apache-2.0 */
/* Adaptive bitrate: the estimate and the choice. The rules are in docs/media.md §13. */
#include "media/abr.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"

/* One exponentially weighted moving average, weighted by transfer time, with the
 * zero-start correction: the first samples are not pulled toward 0. */
struct ewma {
  double half_life_s;
  double value;
  double weight_s; /* total weight taken so far */
};

/* Every rep a choice may consider: all sets of a period, all reps of each. */
#define LADDER_MAX (MANIFEST_MAX_SETS * MANIFEST_MAX_REPS)

struct abr {
  struct abr_config cfg;
  struct ewma fast;
  struct ewma slow;
  uint64_t n_samples;
  /* Hysteresis: answers at the same rep since the last switch, and the bandwidth of the
   * last answer (UINT64_MAX before the first, so that the first start is free). */
  uint32_t segs_at_rep;
  uint64_t last_bw;
  /* Scratch for one abr_choose: the usable reps, best first. */
  const struct manifest_rep *ladder[LADDER_MAX];
  size_t n_ladder;
};

void abr_config_default(struct abr_config *ret_cfg) {
  if (!ret_cfg)
    return;
  *ret_cfg = (struct abr_config){
      .initial_bps = 2000000,
      .fast_half_life_ms = 5000,
      .slow_half_life_ms = 15000,
      .safety_pct = 80,
      .up_margin_pct = 125,
      .low_water_ms = 5000,
      .high_water_ms = 15000,
      .up_min_segments = 3,
  };
}

int abr_new(const struct abr_config *cfg, struct abr **ret) {
  struct abr_config def;
  if (!ret)
    return -EINVAL;
  if (!cfg) {
    abr_config_default(&def);
    cfg = &def;
  }
  if (!cfg->fast_half_life_ms || !cfg->slow_half_life_ms || !cfg->safety_pct ||
      cfg->safety_pct > 100 || cfg->up_margin_pct < 100 || cfg->high_water_ms < cfg->low_water_ms)
    return -EINVAL;
  struct abr *a = calloc(1, sizeof(*a));
  if (!a)
    return -ENOMEM;
  a->cfg = *cfg;
  a->fast.half_life_s = cfg->fast_half_life_ms / 1000.0;
  a->slow.half_life_s = cfg->slow_half_life_ms / 1000.0;
  a->last_bw = UINT64_MAX;
  *ret = a;
  return 0;
}

void abr_free(struct abr *abr) {
  free(abr);
}

static void ewma_add(struct ewma *e, double weight_s, double v) {
  double alpha = exp2(-weight_s / e->half_life_s);
  e->value = v * (1.0 - alpha) + alpha * e->value;
  e->weight_s += weight_s;
}

static double ewma_get(const struct ewma *e) {
  /* value started at 0: divide by the weight the samples have, 1 - 0.5^(total/half). */
  double zero_factor = 1.0 - exp2(-e->weight_s / e->half_life_s);
  return e->value / zero_factor;
}

int abr_sample(struct abr *abr, uint64_t bytes, uint64_t usec) {
  if (!abr)
    return -EINVAL;
  if (bytes < ABR_MIN_SAMPLE_BYTES)
    return 0;
  if (usec < ABR_MIN_SAMPLE_USEC)
    usec = ABR_MIN_SAMPLE_USEC;
  double secs = (double)usec / 1e6;
  double bps = (double)bytes * 8.0 / secs;
  ewma_add(&abr->fast, secs, bps);
  ewma_add(&abr->slow, secs, bps);
  abr->n_samples++;
  return 0;
}

uint64_t abr_estimate_bps(const struct abr *abr) {
  if (!abr)
    return 0;
  if (!abr->n_samples)
    return abr->cfg.initial_bps;
  /* The lower of the two: the fast one follows a drop at once, the slow one does not
   * believe a short burst of speed. */
  double f = ewma_get(&abr->fast), s = ewma_get(&abr->slow);
  double est = f < s ? f : s;
  if (!(est >= 0.0))
    return 0;
  if (est >= 1.8e19)
    return UINT64_MAX;
  return (uint64_t)est;
}

uint64_t abr_sample_count(const struct abr *abr) {
  return abr ? abr->n_samples : 0;
}

/* ---- constraints ---- */

static bool is_codec(const char *codecs, const char *name) {
  return codecs && strcasecmp(codecs, name) == 0;
}

static bool is_spatial(const struct manifest_rep *rep) {
  const char *c = rep->codecs;
  if (c && (strncasecmp(c, "ec-3", 4) == 0 || strncasecmp(c, "mha1", 4) == 0 ||
            strncasecmp(c, "mhm1", 4) == 0 || strncasecmp(c, "ac-4", 4) == 0))
    return true;
  const char *tt = rep->set ? rep->set->track_type : NULL;
  return tt && strcasecmp(tt, "3D") == 0;
}

static bool check_rates(const struct abr_constraints *c) {
  return c->n_rates <= ABR_MAX_RATES && (c->n_rates == 0 || c->rates);
}

/* The device takes rate (no resampling). */
static bool device_rate(const struct abr_constraints *c, uint32_t rate) {
  if (!rate)
    return false;
  if (c->n_rates) {
    for (size_t i = 0; i < c->n_rates; i++)
      if (c->rates[i] == rate)
        return true;
    return false;
  }
  return rate >= c->rate_min && (c->rate_max == 0 || rate <= c->rate_max);
}

/* A rep at rate may be switched to within a track: the device takes it, or the engine
 * resamples it to the rate the device is open at (and it is not a hi-res rate, which
 * resampled down would cost more than the 48 kHz rep for nothing). */
static bool switch_rate(const struct abr_constraints *c, uint32_t rate) {
  return device_rate(c, rate) || (c->can_resample && rate && rate <= ABR_RESAMPLE_MAX_RATE);
}

/* switching: within a track (switch_rate), else at its start (device_rate). */
static enum abr_verdict usable(const struct manifest_rep *rep, const struct abr_constraints *c,
                               bool switching) {
  if (!rep || !c)
    return ABR_NO_DECODER;
  if (is_spatial(rep))
    return ABR_SPATIAL;
  if (is_codec(rep->codecs, "opus")) {
    if (!(c->caps & ABR_CAP_STD_RES))
      return ABR_CAPABILITY;
  } else if (is_codec(rep->codecs, "flac")) {
    uint32_t depth = rep->bit_depth ? rep->bit_depth : 24; /* unknown: it may be 24 */
    bool hi_fi = depth <= 16 && rep->sample_rate && rep->sample_rate <= 48000;
    if (hi_fi ? !(c->caps & (ABR_CAP_HI_FI | ABR_CAP_HI_RES))
              : (!(c->caps & ABR_CAP_HI_RES) || rep->sample_rate > 192000))
      return ABR_CAPABILITY;
    if (c->max_bit_depth && depth > c->max_bit_depth)
      return ABR_DEPTH;
  } else {
    return ABR_NO_DECODER;
  }
  if (!check_rates(c) ||
      !(switching ? switch_rate(c, rep->sample_rate) : device_rate(c, rep->sample_rate)))
    return ABR_RATE;
  return ABR_USABLE;
}

enum abr_verdict abr_rep_usable(const struct manifest_rep *rep, const struct abr_constraints *c) {
  return usable(rep, c, false);
}

const char *abr_verdict_name(enum abr_verdict v) {
  switch (v) {
  case ABR_USABLE:
    return "usable";
  case ABR_NO_DECODER:
    return "no decoder";
  case ABR_SPATIAL:
    return "spatial";
  case ABR_CAPABILITY:
    return "not in the capabilities";
  case ABR_RATE:
    return "rate not taken by the device";
  case ABR_DEPTH:
    return "deeper than the device";
  }
  return "?";
}

int abr_capability_string(const struct abr_constraints *c, char *buf, size_t len) {
  static const uint32_t hires_rates[] = {44100, 48000, 88200, 96000, 176400, 192000};
  if (!c || !buf || !check_rates(c))
    return -EINVAL;
  /* Rates by switch_rate: a set the device takes only resampled may still be switched to
   * (Opus on a 44.1 kHz-only device), so it is worth asking for; a track cannot start on
   * it (abr_choose), and hi-res is never resampled. */
  bool std = (c->caps & ABR_CAP_STD_RES) && switch_rate(c, 48000);
  bool hi_fi = (c->caps & (ABR_CAP_HI_FI | ABR_CAP_HI_RES)) && switch_rate(c, 44100) &&
               (c->max_bit_depth == 0 || c->max_bit_depth >= 16);
  bool hi_res = false;
  if ((c->caps & ABR_CAP_HI_RES) && (c->max_bit_depth == 0 || c->max_bit_depth >= 24))
    for (size_t i = 0; i < sizeof(hires_rates) / sizeof(hires_rates[0]); i++)
      hi_res = hi_res || device_rate(c, hires_rates[i]);
  if (len)
    buf[0] = '\0';
  if (!std && !hi_fi && !hi_res)
    return -AMP_EUNSUPPORTED;
  int n =
      snprintf(buf, len, "%s%s%s%s%s", std ? "STD_RES" : "", std && (hi_fi || hi_res) ? "," : "",
               hi_fi ? "HI_FI" : "", hi_fi && hi_res ? "," : "", hi_res ? "HI_RES" : "");
  if (n < 0 || (size_t)n >= len) {
    if (len)
      buf[0] = '\0';
    return -AMP_ETOOBIG;
  }
  return 0;
}

/* ---- the ladder ---- */

/* Quality tier of a set across sets (qualityRanking compares only within one): the
 * trackType, else lossless above lossy. */
static int set_tier(const struct manifest_set *s) {
  const char *tt = s->track_type;
  if (tt && strcasecmp(tt, "HD") == 0)
    return 3;
  if (tt && strcasecmp(tt, "SD") == 0)
    return 2;
  if (tt && strcasecmp(tt, "LD") == 0)
    return 1;
  for (size_t i = 0; i < s->n_reps; i++)
    if (is_codec(s->reps[i].codecs, "flac"))
      return 3;
  return 2;
}

static uint64_t set_top_bw(const struct manifest_set *s, const struct abr_constraints *c,
                           bool switching) {
  uint64_t top = 0;
  for (size_t i = 0; i < s->n_reps; i++)
    if (usable(&s->reps[i], c, switching) == ABR_USABLE && s->reps[i].bandwidth > top)
      top = s->reps[i].bandwidth;
  return top;
}

/* a before b in the ladder: higher tier, then the higher top bandwidth, then document
 * order (the caller lists sets in document order and sorts stably). */
static bool set_before(const struct manifest_set *a, const struct manifest_set *b,
                       const struct abr_constraints *c, bool switching) {
  int ta = set_tier(a), tb = set_tier(b);
  if (ta != tb)
    return ta > tb;
  return set_top_bw(a, c, switching) > set_top_bw(b, c, switching);
}

/* The usable reps of sets[0..n), best first: sets by set_before, each set's reps in its
 * ranked order. */
static void build_ladder(struct abr *abr, const struct manifest_set *const *sets, size_t n,
                         const struct abr_constraints *c, bool switching) {
  const struct manifest_set *order[MANIFEST_MAX_SETS];
  size_t k = 0;
  for (size_t i = 0; i < n && k < MANIFEST_MAX_SETS; i++) {
    /* insertion sort, stable */
    size_t j = k++;
    while (j > 0 && set_before(sets[i], order[j - 1], c, switching)) {
      order[j] = order[j - 1];
      j--;
    }
    order[j] = sets[i];
  }
  abr->n_ladder = 0;
  for (size_t i = 0; i < k; i++) {
    size_t nr = 0;
    const struct manifest_rep *const *ranked = manifest_set_ranked(order[i], &nr);
    for (size_t r = 0; r < nr && abr->n_ladder < LADDER_MAX; r++)
      if (usable(ranked[r], c, switching) == ABR_USABLE)
        abr->ladder[abr->n_ladder++] = ranked[r];
  }
}

/* bw <= est x pct / 100, without overflow. */
static bool within(uint64_t bw, uint64_t est, uint64_t pct) {
  return (double)bw * 100.0 <= (double)est * (double)pct;
}

static int answer(struct abr *abr, const struct manifest_rep *cur, const struct manifest_rep *rep,
                  const struct manifest_rep **ret_rep) {
  if (rep != cur)
    abr->segs_at_rep = 0;
  abr->last_bw = rep->bandwidth;
  *ret_rep = rep;
  return 0;
}

int abr_choose(struct abr *abr, const struct manifest *m, const struct manifest_rep *current_rep,
               uint32_t buffer_ms, const struct abr_constraints *c,
               const struct manifest_rep **ret_rep) {
  if (!abr || !m || !c || !ret_rep || !check_rates(c))
    return -EINVAL;
  size_t n_sets = 0;
  const struct manifest_set *sets = manifest_adaptation_sets(m, &n_sets);
  const struct manifest_set *group[MANIFEST_MAX_SETS];
  size_t n_group = 0;
  const struct manifest_rep *cur = current_rep;

  if (cur) {
    /* By equality only: ordering pointers of different objects is undefined. */
    bool mine = false;
    for (size_t i = 0; i < n_sets && !mine; i++)
      for (size_t j = 0; j < sets[i].n_reps && !mine; j++)
        mine = &sets[i].reps[j] == cur;
    if (!mine)
      return -EINVAL;
    if (usable(cur, c, true) != ABR_USABLE)
      cur = NULL;
  }
  if (cur) {
    group[n_group++] = cur->set;
    size_t nt = 0;
    const struct manifest_set *const *t = manifest_switch_targets(cur->set, &nt);
    for (size_t i = 0; i < nt && n_group < MANIFEST_MAX_SETS; i++)
      group[n_group++] = t[i];
  } else {
    for (size_t i = 0; i < n_sets && n_group < MANIFEST_MAX_SETS; i++)
      group[n_group++] = &sets[i];
  }
  build_ladder(abr, group, n_group, c, cur != NULL);
  if (!abr->n_ladder)
    return -AMP_EUNSUPPORTED;

  const struct abr_config *cfg = &abr->cfg;
  uint64_t est = abr_estimate_bps(abr);
  /* sustainable = est x safety; "fits" when the rep's bandwidth is within it, and "up"
   * when it is within it with the margin on top (both factors, so that the thresholds to
   * step down and up differ: with 0.8 and 1.25 alone they would coincide). */
  uint64_t fit_pct = cfg->safety_pct;
  double up_pct = (double)cfg->safety_pct * 100.0 / (double)cfg->up_margin_pct;
  const struct manifest_rep *const *L = abr->ladder;
  size_t n = abr->n_ladder;

  if (!cur) {
    /* A start: the best rep the estimate sustains; above the previous answer's bandwidth
     * only with the up margin (a new track does not undo a step down by itself). */
    for (size_t i = 0; i < n; i++) {
      bool above = L[i]->bandwidth > abr->last_bw;
      if (above ? (double)L[i]->bandwidth * 100.0 <= (double)est * up_pct
                : within(L[i]->bandwidth, est, fit_pct))
        return answer(abr, NULL, L[i], ret_rep);
    }
    const struct manifest_rep *cheapest = L[0];
    for (size_t i = 1; i < n; i++)
      if (L[i]->bandwidth < cheapest->bandwidth)
        cheapest = L[i];
    return answer(abr, NULL, cheapest, ret_rep);
  }

  size_t ci = 0;
  while (ci < n && L[ci] != cur)
    ci++;
  /* cur is usable and its set is in the group, so it is in the ladder. */
  if (ci == n)
    return -EINVAL;
  if (abr->segs_at_rep < UINT32_MAX)
    abr->segs_at_rep++;

  size_t pick = ci;
  /* With a full buffer a dip only matters when the link cannot carry the rep at all (the
   * buffer then drains); below the high-water mark the safety factor applies. */
  uint64_t hold_pct = buffer_ms >= cfg->high_water_ms ? 100 : fit_pct;
  if (!within(cur->bandwidth, est, hold_pct)) {
    /* Step down: the best rep below cur that fits, else the cheapest from cur on. */
    size_t best = n;
    for (size_t i = ci + 1; i < n && best == n; i++)
      if (within(L[i]->bandwidth, est, fit_pct))
        best = i;
    if (best == n) {
      best = ci;
      for (size_t i = ci + 1; i < n; i++)
        if (L[i]->bandwidth < L[best]->bandwidth)
          best = i;
    }
    pick = best;
  }
  if (buffer_ms < cfg->low_water_ms) {
    /* The buffer is running out: one rung cheaper than cur, whatever the estimate says
     * (it lags); the lower of this and the step above. */
    for (size_t i = ci + 1; i < n; i++)
      if (L[i]->bandwidth < cur->bandwidth) {
        if (i > pick)
          pick = i;
        break;
      }
  }
  if (pick != ci)
    return answer(abr, cur, L[pick], ret_rep);

  if (within(cur->bandwidth, est, fit_pct) && buffer_ms >= cfg->high_water_ms &&
      abr->segs_at_rep >= cfg->up_min_segments) {
    /* Step up: the best rep above cur that the estimate sustains with the margin. */
    for (size_t i = 0; i < ci; i++)
      if ((double)L[i]->bandwidth * 100.0 <= (double)est * up_pct)
        return answer(abr, cur, L[i], ret_rep);
  }
  return answer(abr, cur, cur, ret_rep);
}
