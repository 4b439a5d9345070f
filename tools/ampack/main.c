/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ampack: makes Amazon-shaped, CENC-encrypted DASH test content (docs/man/ampack.1).
 * The interface is stable: test scripts drive it.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

#include "core/err.h"
#include "enc.h"
#include "es.h"
#include "keys.h"
#include "loudness.h"
#include "mp4w.h"
#include "mpd.h"
#include "signal.h"
#include "speke.h"

#define AMPACK_MAX_PATH 4096
#define AMPACK_MAX_VARIANTS 64
#define AMPACK_MAX_SECONDS (30.0 * 60.0) /* PCM_MAX_FRAMES at 192 kHz */
#define AMPACK_MAX_TRACK_ID 64

struct rep_def {
  const char *id;
  enum es_codec codec;
  uint32_t rate, bits, bitrate;
  int hd;
  unsigned quality;
};

/* The ladder of docs/service.md §7: HD (FLAC) and SD (Opus). */
static const struct rep_def REPS[] = {
    {"flac_16_44", ES_FLAC, 44100, 16, 0, 1, 3},    {"flac_24_96", ES_FLAC, 96000, 24, 0, 1, 2},
    {"flac_24_192", ES_FLAC, 192000, 24, 0, 1, 1},  {"opus_48", ES_OPUS, 48000, 16, 48000, 0, 3},
    {"opus_192", ES_OPUS, 48000, 16, 192000, 0, 2}, {"opus_320", ES_OPUS, 48000, 16, 320000, 0, 1},
};
#define N_REPS (sizeof(REPS) / sizeof(REPS[0]))

struct args {
  const char *out, *wav, *signal, *license_url, *track_id;
  const char *speke, *speke_ca, *speke_cert, *speke_key; /* --speke: keys from a provider */
  double seconds, start;
  uint64_t seed;
  unsigned variants;
  uint32_t clear_lead;
  unsigned hostile;
  int use[N_REPS];
  int source_only;
};

static void usage(FILE *f) {
  fprintf(f, "usage: ampack --out DIR [--wav FILE | --signal NAME --seconds S [--start S]]\n"
             "              [--seed N] [--reps LIST] [--variants N] [--clear-lead S]\n"
             "              [--license-url URL] [--track-id ID] [--hostile FORMS] [--source-only]\n"
             "              [--speke URL [--speke-ca FILE] [--speke-cert FILE --speke-key FILE]]\n"
             "  --speke: content keys and PSSH boxes from a SPEKE v2.0 key provider\n"
             "           (X-Api-Key from the environment: AMPACK_SPEKE_API_KEY)\n"
             "  signals: mix noisy tones sweep silence\n"
             "  reps: flac_16_44 flac_24_96 flac_24_192 opus_48 opus_192 opus_320,\n"
             "        or groups hd uhd sd all (comma-separated)\n"
             "  hostile forms: seig iv16 subsample tfdt0 multimoof (comma-separated)\n"
             "see ampack(1)\n");
}

static int parse_u64(const char *s, uint64_t max, uint64_t *ret) {
  char *end;
  errno = 0;
  if (!*s || *s == '-')
    return -EINVAL;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || v > max)
    return -EINVAL;
  *ret = v;
  return 0;
}

static int parse_secs(const char *s, double max, double *ret) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(v) || v < 0 || v > max)
    return -EINVAL;
  *ret = v;
  return 0;
}

/* Split a comma list; fn(item) for each. */
static int each_item(const char *list, int (*fn)(struct args *, const char *), struct args *a) {
  char item[64];
  const char *p = list;
  while (*p) {
    size_t n = strcspn(p, ",");
    if (n == 0 || n >= sizeof(item))
      return -EINVAL;
    memcpy(item, p, n);
    item[n] = 0;
    int r = fn(a, item);
    if (r < 0)
      return r;
    p += n;
    if (*p == ',')
      p++;
  }
  return 0;
}

static int add_rep(struct args *a, const char *name) {
  int found = 0;
  for (size_t i = 0; i < N_REPS; i++) {
    const struct rep_def *d = &REPS[i];
    int hit = !strcmp(name, d->id) || !strcmp(name, "all") ||
              (!strcmp(name, "hd") && d->rate == 44100 && d->codec == ES_FLAC) ||
              (!strcmp(name, "uhd") && d->rate > 48000) ||
              (!strcmp(name, "sd") && d->codec == ES_OPUS);
    if (hit)
      a->use[i] = found = 1;
  }
  if (!found) {
    fprintf(stderr, "ampack: unknown representation '%s'\n", name);
    return -EINVAL;
  }
  return 0;
}

static int add_hostile(struct args *a, const char *name) {
  static const struct {
    const char *name;
    unsigned flag;
  } forms[] = {{"seig", MP4W_H_SEIG},
               {"iv16", MP4W_H_IV16},
               {"subsample", MP4W_H_SUBSAMPLE},
               {"tfdt0", MP4W_H_TFDT0},
               {"multimoof", MP4W_H_MULTIMOOF}};
  for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++)
    if (!strcmp(name, forms[i].name)) {
      a->hostile |= forms[i].flag;
      return 0;
    }
  fprintf(stderr, "ampack: unknown hostile form '%s'\n", name);
  return -EINVAL;
}

static int parse_args(int argc, char **argv, struct args *a) {
  memset(a, 0, sizeof(*a));
  a->seed = 1;
  a->clear_lead = 30;
  a->track_id = "track";
  a->seconds = -1;
  int any_rep = 0;
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
      usage(stdout);
      return 1;
    }
    if (!strcmp(o, "--source-only")) {
      a->source_only = 1;
      continue;
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "ampack: %s needs a value\n", o);
      return -EINVAL;
    }
    const char *v = argv[++i];
    uint64_t u;
    int r = 0;
    if (!strcmp(o, "--out"))
      a->out = v;
    else if (!strcmp(o, "--wav"))
      a->wav = v;
    else if (!strcmp(o, "--signal"))
      a->signal = v;
    else if (!strcmp(o, "--seconds"))
      r = parse_secs(v, AMPACK_MAX_SECONDS, &a->seconds);
    else if (!strcmp(o, "--start"))
      r = parse_secs(v, 1e6, &a->start);
    else if (!strcmp(o, "--seed"))
      r = parse_u64(v, UINT64_MAX, &a->seed);
    else if (!strcmp(o, "--variants")) {
      r = parse_u64(v, AMPACK_MAX_VARIANTS, &u);
      a->variants = (unsigned)u;
      if (r == 0 && u == 0)
        r = -EINVAL;
    } else if (!strcmp(o, "--clear-lead")) {
      r = parse_u64(v, 86400, &u);
      a->clear_lead = (uint32_t)u;
    } else if (!strcmp(o, "--license-url"))
      a->license_url = v;
    else if (!strcmp(o, "--track-id"))
      a->track_id = v;
    else if (!strcmp(o, "--speke"))
      a->speke = v;
    else if (!strcmp(o, "--speke-ca"))
      a->speke_ca = v;
    else if (!strcmp(o, "--speke-cert"))
      a->speke_cert = v;
    else if (!strcmp(o, "--speke-key"))
      a->speke_key = v;
    else if (!strcmp(o, "--reps")) {
      r = each_item(v, add_rep, a);
      any_rep = 1;
    } else if (!strcmp(o, "--hostile"))
      r = each_item(v, add_hostile, a);
    else {
      fprintf(stderr, "ampack: unknown option %s\n", o);
      usage(stderr);
      return -EINVAL;
    }
    if (r < 0) {
      fprintf(stderr, "ampack: bad value for %s: '%s'\n", o, v);
      return r;
    }
  }
  if (!any_rep)
    for (size_t i = 0; i < N_REPS; i++)
      a->use[i] = 1;
  if (!a->out || (!!a->wav == !!a->signal)) {
    fprintf(stderr, "ampack: need --out and exactly one of --wav, --signal\n");
    usage(stderr);
    return -EINVAL;
  }
  if (a->signal && (!sig_known(a->signal) || a->seconds <= 0)) {
    fprintf(stderr, "ampack: --signal needs a known NAME and --seconds > 0\n");
    return -EINVAL;
  }
  if (a->wav && (a->seconds >= 0 || a->start > 0)) {
    fprintf(stderr, "ampack: --seconds/--start go with --signal, not --wav\n");
    return -EINVAL;
  }
  if (!a->speke && (a->speke_ca || a->speke_cert || a->speke_key)) {
    fprintf(stderr, "ampack: --speke-ca, --speke-cert and --speke-key go with --speke\n");
    return -EINVAL;
  }
  if (a->speke && !a->speke_cert != !a->speke_key) {
    fprintf(stderr, "ampack: --speke-cert and --speke-key go together\n");
    return -EINVAL;
  }
  if (a->speke && strncmp(a->speke, "https://", 8) != 0) {
    fprintf(stderr, "ampack: --speke needs an https:// URL\n");
    return -EINVAL;
  }
  if (a->speke && !getenv("AMPACK_SPEKE_API_KEY")) {
    fprintf(stderr, "ampack: --speke needs the API key in AMPACK_SPEKE_API_KEY\n");
    return -EINVAL;
  }
  size_t tl = strlen(a->track_id);
  if (tl == 0 || tl > AMPACK_MAX_TRACK_ID || strpbrk(a->track_id, "<>&\"'\\/")) {
    fprintf(stderr, "ampack: --track-id: 1-%d characters, no markup or slashes\n",
            AMPACK_MAX_TRACK_ID);
    return -EINVAL;
  }
  return 0;
}

static int path_join(char *out, const char *a, const char *b, const char *c) {
  int n = snprintf(out, AMPACK_MAX_PATH, "%s/%s%s%s", a, b, c ? "/" : "", c ? c : "");
  return n < 0 || n >= AMPACK_MAX_PATH ? -ENAMETOOLONG : 0;
}

static int make_dir(const char *p) {
  if (mkdir(p, 0755) == 0 || errno == EEXIST)
    return 0;
  return -errno;
}

static int write_bytes(const char *path, const struct buf *b) {
  FILE *f = fopen(path, "we");
  if (!f)
    return -errno;
  int r = fwrite(b->data, 1, b->len, f) == b->len ? 0 : -EIO;
  if (fclose(f) != 0 && r == 0)
    r = -errno;
  return r;
}

/* The exact PCM a representation encodes. */
static int rep_source(const struct args *a, const struct rep_def *d, const struct pcm *wav,
                      struct pcm *ret) {
  if (a->signal) {
    uint64_t s0 = (uint64_t)llround(a->start * d->rate);
    uint64_t s1 = (uint64_t)llround((a->start + a->seconds) * d->rate);
    if (s1 <= s0)
      return -EINVAL;
    return sig_generate(a->signal, a->seed, d->rate, d->bits, s0, (size_t)(s1 - s0), ret);
  }
  if (wav->rate != d->rate) {
    fprintf(stderr, "ampack: %s needs %u Hz input; the WAV is %u Hz (no resampler)\n", d->id,
            d->rate, wav->rate);
    return -AMP_EUNSUPPORTED;
  }
  if (d->codec == ES_OPUS && wav->channels > 2) {
    fprintf(stderr, "ampack: %s takes 1 or 2 channels\n", d->id);
    return -AMP_EUNSUPPORTED;
  }
  return pcm_convert_bits(wav, d->bits, ret);
}

struct track {
  struct es es[N_REPS];
  struct mpd_rep reps[N_REPS];
  size_t n;
  struct loudness loud;
  double duration;
  struct mp4w_out *mp4;                        /* one scratch per rep */
  uint32_t src_rate[N_REPS], src_bits[N_REPS]; /* of the source WAVs written so far */
  char src_path[N_REPS][AMPACK_MAX_PATH];
};

/* Renditions at the same rate and depth encode the same PCM: the first one's WAV is
 * written, the others are hard links to it (the catalog stays smaller). */
static int write_source(struct track *t, const char *path, const struct rep_def *d,
                        const struct pcm *src) {
  for (size_t i = 0; i < t->n; i++)
    if (t->src_rate[i] == d->rate && t->src_bits[i] == d->bits) {
      if (unlink(path) < 0 && errno != ENOENT)
        return -errno;
      if (link(t->src_path[i], path) == 0)
        return 0;
      break; /* no hard links here: write a copy */
    }
  t->src_rate[t->n] = d->rate;
  t->src_bits[t->n] = d->bits;
  snprintf(t->src_path[t->n], sizeof(t->src_path[t->n]), "%s", path);
  if (unlink(path) < 0 && errno != ENOENT) /* never write through an old link */
    return -errno;
  return pcm_write_wav(path, src);
}

static int encode_all(const struct args *a, struct track *t) {
  struct pcm wav = {0};
  char path[AMPACK_MAX_PATH];
  int r = 0;
  if (a->wav && (r = pcm_read_wav(a->wav, &wav)) < 0) {
    fprintf(stderr, "ampack: %s: %s\n", a->wav, amp_strerror(r));
    return r;
  }
  for (size_t i = 0; i < N_REPS && r == 0; i++) {
    if (!a->use[i])
      continue;
    const struct rep_def *d = &REPS[i];
    struct pcm src = {0};
    struct es *es = &t->es[t->n];
    es_init(es, d->codec);
    r = rep_source(a, d, &wav, &src);
    if (r == 0 && (r = path_join(path, a->out, "source", d->id)) == 0) {
      size_t l = strlen(path);
      r = l + 4 < sizeof(path) ? 0 : -ENAMETOOLONG;
      if (r == 0) {
        memcpy(path + l, ".wav", 5);
        r = write_source(t, path, d, &src);
      }
    }
    if (r == 0 && t->n == 0) {
      r = loud_measure(&src, &t->loud);
      t->duration = (double)src.frames / src.rate;
    }
    if (r == 0 && !a->source_only)
      r = d->codec == ES_FLAC ? eflac_encode(&src, es) : eopus_encode(&src, d->bitrate, es);
    if (r < 0)
      fprintf(stderr, "ampack: %s: %s\n", d->id, amp_strerror(r));
    pcm_done(&src);
    t->reps[t->n] = (struct mpd_rep){.id = d->id, .es = es, .hd = d->hd, .quality = d->quality};
    t->n++;
  }
  pcm_done(&wav);
  return r;
}

/* One set: every rep's .mp4 and the manifest in dir; encrypted unless keys is NULL. With
 * ck (the key provider's key of k->kid), its PSSH boxes instead of ampack's own. */
static int write_set(const struct args *a, struct track *t, const char *dir, const struct keys *k,
                     const struct cpix_key *ck) {
  char path[AMPACK_MAX_PATH], name[128];
  int r = make_dir(dir);
  for (size_t i = 0; i < t->n && r == 0; i++) {
    struct mp4w_opts o = {.encrypt = k != NULL,
                          .clear_lead_s = a->clear_lead,
                          .hostile = a->hostile,
                          .content_id = a->track_id};
    if (k) {
      memcpy(o.kid, k->kid, 16);
      memcpy(o.key, k->key, 16);
      memcpy(o.iv, k->iv, 8);
    }
    for (int s = 0; ck && s < 2; s++) {
      o.pssh[s] = ck->pssh[s];
      o.pssh_len[s] = ck->pssh_len[s];
    }
    mp4w_out_done(&t->mp4[i]);
    r = mp4w_write(&t->es[i], &o, &t->mp4[i]);
    snprintf(name, sizeof(name), "%s.mp4", t->reps[i].id);
    if (r == 0)
      r = path_join(path, dir, name, NULL);
    if (r == 0)
      r = write_bytes(path, &t->mp4[i].file);
    t->reps[i].mp4 = &t->mp4[i];
    if (r < 0)
      fprintf(stderr, "ampack: %s/%s: %s\n", dir, name, amp_strerror(r));
  }
  if (r < 0)
    return r;
  struct mpd_track m = {.duration_s = t->duration,
                        .loud = t->loud,
                        .encrypt = k != NULL,
                        .content_id = a->track_id,
                        .license_url = a->license_url,
                        .clearkey_url = a->license_url,
                        .reps = t->reps,
                        .n_reps = t->n};
  if (k)
    memcpy(m.kid, k->kid, 16);
  for (int s = 0; ck && s < 2; s++) {
    m.pssh[s] = ck->pssh[s];
    m.pssh_len[s] = ck->pssh_len[s];
  }
  if ((r = path_join(path, dir, "manifest.mpd", NULL)) == 0)
    r = mpd_write(path, &m);
  if (r == 0 && k && (r = path_join(path, dir, "keys.json", NULL)) == 0)
    r = keys_write_json(path, k);
  if (r < 0)
    fprintf(stderr, "ampack: %s: %s\n", dir, amp_strerror(r));
  return r;
}

/* The provider's key and PSSH boxes for k->kid, into k->key and reply->keys[0]. */
static int speke_keys(const struct args *a, const struct track *t, struct keys *k,
                      struct cpix_reply *reply) {
  struct speke_opts so = {.url = a->speke,
                          .ca_file = a->speke_ca,
                          .api_key = getenv("AMPACK_SPEKE_API_KEY"),
                          .cert_file = a->speke_cert,
                          .key_file = a->speke_key};
  char why[CPIX_WHY_MAX];
  uint32_t channels = 1;
  for (size_t i = 0; i < t->n; i++)
    if (t->es[i].channels > channels)
      channels = t->es[i].channels;
  int r = speke_get_keys(&so, a->track_id, (const uint8_t(*)[16])k->kid, 1, channels, reply, why);
  if (r < 0) {
    fprintf(stderr, "ampack: SPEKE: %s\n", why);
    return r;
  }
  memcpy(k->key, reply->keys[0].key, 16);
  return 0;
}

static int run(const struct args *a, struct track *t, struct cpix_reply *reply) {
  char dir[AMPACK_MAX_PATH];
  int r = make_dir(a->out);
  if (r == 0 && (r = path_join(dir, a->out, "source", NULL)) == 0)
    r = make_dir(dir);
  if (r < 0) {
    fprintf(stderr, "ampack: %s: %s\n", a->out, amp_strerror(r));
    return r;
  }
  if ((r = encode_all(a, t)) < 0 || a->source_only)
    return r;
  if ((r = path_join(dir, a->out, "clear", NULL)) < 0 || (r = write_set(a, t, dir, NULL, NULL)) < 0)
    return r;
  unsigned first = a->variants ? 1 : 0, last = a->variants ? a->variants : 0;
  for (unsigned v = first; v <= last; v++) {
    struct keys k;
    char sub[16];
    snprintf(sub, sizeof(sub), "v%u", v);
    /* without --variants the set at the top is variant 1, the same as v1/ would be */
    if ((r = keys_derive(a->seed, a->track_id, v ? v : 1, &k)) < 0)
      return r;
    /* --speke: the KID (and IV) stay ampack's, the key and PSSH boxes are the provider's.
     * One request per variant: CPIX usage rules must map a track to one key, and the
     * variants are alternative encryptions of the same audio. */
    if (a->speke && (r = speke_keys(a, t, &k, reply)) < 0)
      return r;
    if (v == 0)
      snprintf(dir, sizeof(dir), "%s", a->out);
    else if ((r = path_join(dir, a->out, sub, NULL)) < 0)
      return r;
    r = write_set(a, t, dir, &k, a->speke ? &reply->keys[0] : NULL);
    mbedtls_platform_zeroize(&k, sizeof(k));
    if (r < 0)
      return r;
  }
  return 0;
}

int main(int argc, char **argv) {
  struct args a;
  int r = parse_args(argc, argv, &a);
  if (r != 0)
    return r > 0 ? 0 : 2;
  struct track *t = calloc(1, sizeof(*t));
  struct mp4w_out *mp4 = t ? calloc(N_REPS, sizeof(*mp4)) : NULL;
  struct cpix_reply *reply = mp4 ? calloc(1, sizeof(*reply)) : NULL;
  if (!t || !mp4 || !reply) {
    fprintf(stderr, "ampack: out of memory\n");
    free(mp4);
    free(t);
    return 1;
  }
  t->mp4 = mp4;
  r = run(&a, t, reply);
  mbedtls_platform_zeroize(reply, sizeof(*reply));
  free(reply);
  for (size_t i = 0; i < N_REPS; i++) {
    es_done(&t->es[i]);
    mp4w_out_done(&mp4[i]);
  }
  free(mp4);
  free(t);
  return r < 0 ? 1 : 0;
}
