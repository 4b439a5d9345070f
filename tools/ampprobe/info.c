/* SPDX-License-Identifier: Apache-2.0 */
/* ampprobe info: what an MPD or an fMP4 holds, as text or JSON. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "ampprobe.h"
#include "core/b64.h"
#include "core/err.h"
#include "core/redact.h"
#include "media/manifest.h"
#include "media/mp4.h"

/* info lists at most this many fragments (the JSON is built in memory). */
#define PROBE_MAX_FRAGMENTS 1000000u

static void uuid_str(const uint8_t k[16], char out[37]) {
  char hex[33];
  hex_encode(k, 16, hex);
  snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

static void fourcc_str(uint32_t v, char out[5]) {
  for (int i = 0; i < 4; i++) {
    char c = (char)(v >> (24 - 8 * i));
    out[i] = (c >= 32 && c < 127) ? c : '?';
  }
  out[4] = 0;
}

static const char *drm_name(enum manifest_drm_system s) {
  switch (s) {
  case MANIFEST_DRM_WIDEVINE:
    return "widevine";
  case MANIFEST_DRM_CLEARKEY:
    return "clearkey";
  case MANIFEST_DRM_W3C_COMMON:
    return "w3c-common";
  default:
    return "other";
  }
}

/* A URL as ampprobe shows it: no user:password@, no query or fragment (core/redact.h). */
struct shown_url {
  char s[2048];
};
static const char *shown(const char *url, struct shown_url *u) {
  if (!url)
    return NULL;
  redact_urls(url, u->s, sizeof(u->s));
  return u->s;
}

/* A string member, or null when v is NULL. */
static cJSON *jstr(cJSON *o, const char *k, const char *v) {
  return v ? cJSON_AddStringToObject(o, k, v) : cJSON_AddNullToObject(o, k);
}

static cJSON *range_json(const struct manifest_range *r) {
  cJSON *a = cJSON_CreateArray();
  if (a) {
    cJSON_AddItemToArray(a, cJSON_CreateNumber((double)r->first));
    cJSON_AddItemToArray(a, cJSON_CreateNumber((double)r->last));
  }
  return a;
}

static cJSON *protection_json(const struct manifest_protection *p) {
  cJSON *o = cJSON_CreateObject(), *drm;
  char kid[37];
  if (!o)
    return NULL;
  cJSON_AddBoolToObject(o, "cenc", p->cenc);
  if (p->has_kid) {
    uuid_str(p->kid, kid);
    cJSON_AddStringToObject(o, "default_kid", kid);
  } else {
    cJSON_AddNullToObject(o, "default_kid");
  }
  drm = cJSON_AddArrayToObject(o, "drm");
  for (size_t i = 0; drm && i < p->n_drm; i++) {
    const struct manifest_drm *d = &p->drm[i];
    cJSON *e = cJSON_CreateObject();
    char id[37];
    if (!e)
      continue;
    cJSON_AddItemToArray(drm, e);
    cJSON_AddStringToObject(e, "system", drm_name(d->system));
    uuid_str(d->system_id, id);
    cJSON_AddStringToObject(e, "system_id", id);
    struct shown_url u;
    jstr(e, "license_url", shown(d->license_url, &u));
    if (d->pssh) {
      char *b = malloc(b64_encoded_len(d->pssh_len, 0) + 1);
      if (b) {
        b64_encode(d->pssh, d->pssh_len, b, 0);
        cJSON_AddStringToObject(e, "pssh", b);
        free(b);
      }
    } else {
      cJSON_AddNullToObject(e, "pssh");
    }
  }
  return o;
}

static cJSON *rep_json(const struct manifest_rep *r) {
  cJSON *o = cJSON_CreateObject(), *segs;
  char kid[37];
  if (!o)
    return NULL;
  cJSON_AddStringToObject(o, "id", r->id);
  jstr(o, "codecs", r->codecs);
  jstr(o, "mime_type", r->mime_type);
  cJSON_AddNumberToObject(o, "sample_rate", r->sample_rate);
  cJSON_AddNumberToObject(o, "bit_depth", r->bit_depth);
  cJSON_AddNumberToObject(o, "channels", r->channels);
  cJSON_AddNumberToObject(o, "bandwidth", (double)r->bandwidth);
  if (r->has_quality_ranking)
    cJSON_AddNumberToObject(o, "quality_ranking", r->quality_ranking);
  else
    cJSON_AddNullToObject(o, "quality_ranking");
  jstr(o, "track_type", r->set->track_type);
  struct shown_url u;
  cJSON_AddStringToObject(o, "base_url", shown(r->url, &u));
  cJSON_AddNumberToObject(o, "timescale", r->timescale);
  if (r->has_init)
    cJSON_AddItemToObject(o, "init_range", range_json(&r->init));
  else
    cJSON_AddNullToObject(o, "init_range");
  if (r->has_index)
    cJSON_AddItemToObject(o, "index_range", range_json(&r->index));
  segs = cJSON_AddArrayToObject(o, "media_ranges");
  for (size_t i = 0; segs && i < r->n_segments; i++) {
    struct manifest_range m = {r->segments[i].first, r->segments[i].last};
    cJSON_AddItemToArray(segs, range_json(&m));
  }
  if (r->protection.has_kid) {
    uuid_str(r->protection.kid, kid);
    cJSON_AddStringToObject(o, "default_kid", kid);
  } else {
    cJSON_AddNullToObject(o, "default_kid");
  }
  size_t plen;
  const uint8_t *pssh = manifest_pssh(r, MANIFEST_DRM_WIDEVINE, &plen);
  if (!pssh)
    pssh = manifest_pssh(r, MANIFEST_DRM_W3C_COMMON, &plen);
  if (pssh) {
    char *b = malloc(b64_encoded_len(plen, 0) + 1);
    if (b) {
      b64_encode(pssh, plen, b, 0);
      cJSON_AddStringToObject(o, "pssh", b);
      free(b);
    }
  } else {
    cJSON_AddNullToObject(o, "pssh");
  }
  const char *lic = manifest_license_url(r, MANIFEST_DRM_WIDEVINE);
  if (!lic)
    lic = manifest_license_url(r, MANIFEST_DRM_CLEARKEY);
  jstr(o, "license_url", shown(lic, &u));
  cJSON_AddItemToObject(o, "protection", protection_json(&r->protection));
  return o;
}

static int mpd_info_json(const struct manifest *m) {
  cJSON *root = cJSON_CreateObject(), *sets;
  size_t n_sets;
  const struct manifest_set *s = manifest_adaptation_sets(m, &n_sets);
  int r = 0;

  if (!root)
    return -ENOMEM;
  cJSON_AddStringToObject(root, "type", "mpd");
  cJSON_AddNumberToObject(root, "duration_ms", (double)(manifest_duration_ns(m) / 1000000));
  sets = cJSON_AddArrayToObject(root, "adaptation_sets");
  for (size_t i = 0; sets && i < n_sets; i++) {
    cJSON *o = cJSON_CreateObject(), *reps, *sw;
    if (!o)
      continue;
    cJSON_AddItemToArray(sets, o);
    jstr(o, "id", s[i].id);
    jstr(o, "content_type", s[i].content_type);
    jstr(o, "track_type", s[i].track_type);
    cJSON_AddNumberToObject(o, "selection_priority", s[i].selection_priority);
    if (s[i].has_program_loudness)
      cJSON_AddNumberToObject(o, "program_loudness", s[i].program_loudness);
    if (s[i].has_anchor_loudness)
      cJSON_AddNumberToObject(o, "anchor_loudness", s[i].anchor_loudness);
    sw = cJSON_AddArrayToObject(o, "switch_targets");
    for (size_t k = 0; sw && k < s[i].n_switch_targets; k++) {
      const char *id = s[i].switch_targets[k]->id;
      cJSON_AddItemToArray(sw, cJSON_CreateString(id ? id : ""));
    }
    cJSON_AddItemToObject(o, "protection", protection_json(&s[i].protection));
    reps = cJSON_AddArrayToObject(o, "representations");
    for (size_t k = 0; reps && k < s[i].n_reps; k++)
      cJSON_AddItemToArray(reps, rep_json(&s[i].reps[k]));
  }
  char *text = cJSON_PrintUnformatted(root);
  if (text) {
    puts(text);
    free(text);
  } else {
    r = -ENOMEM;
  }
  cJSON_Delete(root);
  return r;
}

static void mpd_info_text(const struct manifest *m) {
  size_t n_sets;
  const struct manifest_set *s = manifest_adaptation_sets(m, &n_sets);
  printf("MPD: %zu adaptation set(s), duration %.3f s\n", n_sets,
         (double)manifest_duration_ns(m) / 1e9);
  for (size_t i = 0; i < n_sets; i++) {
    printf("set %s: trackType %s", s[i].id ? s[i].id : "-",
           s[i].track_type ? s[i].track_type : "-");
    if (s[i].has_program_loudness)
      printf(", loudness %.1f LUFS", (double)s[i].program_loudness);
    for (size_t k = 0; k < s[i].n_switch_targets; k++)
      printf("%s%s", k ? "," : ", switches to ",
             s[i].switch_targets[k]->id ? s[i].switch_targets[k]->id : "?");
    printf("\n");
    for (size_t k = 0; k < s[i].n_reps; k++) {
      const struct manifest_rep *r = &s[i].reps[k];
      char kid[37] = "-";
      if (r->protection.has_kid)
        uuid_str(r->protection.kid, kid);
      printf("  rep %s: %s %u Hz %u-bit %u ch, %" PRIu64 " bps, rank %u, %zu segments, KID %s\n",
             r->id, r->codecs ? r->codecs : "?", r->sample_rate, r->bit_depth, r->channels,
             r->bandwidth, r->has_quality_ranking ? r->quality_ranking : 0, r->n_segments, kid);
      struct shown_url u;
      printf("    %s\n", shown(r->url, &u));
      const char *lic = manifest_license_url(r, MANIFEST_DRM_WIDEVINE);
      if (!lic)
        lic = manifest_license_url(r, MANIFEST_DRM_CLEARKEY);
      if (lic)
        printf("    license %s\n", shown(lic, &u));
    }
  }
}

/* The MP4 as it streams by: the init first, then one JSON entry per fragment. */
struct mp4_walk {
  const struct probe_opts *o;
  struct mp4_init *init;
  cJSON *root, *frags;
  size_t n;
};

static int mp4_info_init(struct mp4_walk *w, const uint8_t *data, size_t len) {
  int r = mp4_init_parse(data, len, &w->init);
  if (r < 0)
    return probe_fail(r, w->o->input, "init segment");
  const struct mp4_track *t = mp4_init_track(w->init);
  cJSON *root = w->root, *entries, *pssh;
  cJSON_AddStringToObject(root, "type", "mp4");
  cJSON_AddNumberToObject(root, "track_id", t->track_id);
  cJSON_AddNumberToObject(root, "timescale", t->timescale);
  cJSON_AddNumberToObject(root, "edit_media_time", (double)t->edit_media_time);
  cJSON_AddNumberToObject(root, "init_size", (double)len);
  entries = cJSON_AddArrayToObject(root, "sample_entries");
  for (uint32_t i = 1; entries && i <= mp4_init_entry_count(w->init); i++) {
    const struct mp4_sample_entry *e = mp4_init_entry(w->init, i);
    struct mp4_codec c;
    char fc[5], fmt[5], kid[37];
    cJSON *j = cJSON_CreateObject();
    if (!j)
      continue;
    cJSON_AddItemToArray(entries, j);
    fourcc_str(e->fourcc, fc);
    fourcc_str(e->format, fmt);
    cJSON_AddStringToObject(j, "fourcc", fc);
    cJSON_AddStringToObject(j, "format", fmt);
    if (mp4_init_codec(w->init, i, &c) == 0) {
      cJSON_AddNumberToObject(j, "sample_rate", c.sample_rate);
      cJSON_AddNumberToObject(j, "channels", c.channels);
      cJSON_AddNumberToObject(j, "bits", c.bits_per_sample);
    }
    cJSON_AddBoolToObject(j, "protected", e->has_sinf);
    if (e->has_sinf) {
      fourcc_str(e->scheme_type, fc);
      cJSON_AddStringToObject(j, "scheme", fc);
      uuid_str(e->tenc.kid, kid);
      cJSON_AddStringToObject(j, "default_kid", kid);
      cJSON_AddNumberToObject(j, "iv_size", e->tenc.iv_size);
    }
  }
  pssh = cJSON_AddArrayToObject(root, "pssh");
  for (size_t i = 0; pssh && i < mp4_init_pssh_count(w->init); i++) {
    char id[37];
    uuid_str(mp4_init_pssh(w->init, i)->system_id, id);
    cJSON_AddItemToArray(pssh, cJSON_CreateString(id));
  }
  w->frags = cJSON_AddArrayToObject(root, "fragments");
  return w->frags ? 0 : -ENOMEM;
}

static int mp4_info_unit(void *userdata, int kind, const uint8_t *data, size_t len,
                         uint64_t start) {
  struct mp4_walk *w = userdata;
  struct mp4_segment *seg;
  if (kind == PROBE_UNIT_INIT)
    return mp4_info_init(w, data, len);
  if (kind == PROBE_UNIT_SIDX)
    return 0; /* the fragments themselves are listed */
  if (++w->n > PROBE_MAX_FRAGMENTS)
    return probe_fail(-AMP_ETOOBIG, w->o->input, "more fragments than info lists");
  int r = mp4_segment_parse(w->init, data, len, start, &seg);
  if (r < 0) {
    char detail[96];
    snprintf(detail, sizeof(detail), "fragment %zu at byte %" PRIu64 ": its moof is malformed",
             w->n, start);
    return probe_fail(r, w->o->input, detail);
  }
  size_t n = mp4_segment_sample_count(seg), enc = 0;
  struct mp4_sample s;
  uint64_t t0 = 0;
  for (size_t k = 0; k < n; k++) {
    if (mp4_segment_sample(seg, k, &s) == 0) {
      if (k == 0)
        t0 = s.decode_time;
      enc += s.encrypted;
    }
  }
  cJSON *j = cJSON_CreateObject();
  if (j) {
    cJSON_AddItemToArray(w->frags, j);
    cJSON_AddNumberToObject(j, "offset", (double)start);
    cJSON_AddNumberToObject(j, "size", (double)len);
    cJSON_AddNumberToObject(j, "samples", (double)n);
    cJSON_AddNumberToObject(j, "encrypted", (double)enc);
    cJSON_AddNumberToObject(j, "decode_time", (double)t0);
    cJSON_AddNumberToObject(j, "end_time", (double)mp4_segment_end_time(seg));
  }
  mp4_segment_free(seg);
  return j ? 0 : -ENOMEM;
}

static int mpd_info(const struct probe_opts *o, const struct buf *b) {
  struct manifest *m = NULL;
  char err[256] = "";
  int r = manifest_parse(b->data, b->len, o->input, &m, err, sizeof(err));
  if (r < 0)
    return probe_fail(r, o->input, err);
  if (o->json)
    r = mpd_info_json(m);
  else
    mpd_info_text(m);
  manifest_free(m);
  return r;
}

int probe_info(const struct probe_opts *o) {
  struct mp4_walk w = {.o = o, .root = cJSON_CreateObject()};
  struct probe_in in = {.on_unit = mp4_info_unit, .userdata = &w};
  int r;

  if (!w.root)
    return probe_fail(-ENOMEM, o->input, NULL);
  r = probe_in_read(o, &in);
  if (r < 0) {
    if (!in.unit_failed)
      probe_fail(r, o->input, in.why);
  } else if (in.kind == PROBE_IN_MPD) {
    r = mpd_info(o, &in.mpd);
  } else {
    char *text = o->json ? cJSON_PrintUnformatted(w.root) : cJSON_Print(w.root);
    if (text) {
      puts(text);
      free(text);
    }
    r = text ? 0 : probe_fail(-ENOMEM, o->input, NULL);
  }
  probe_in_done(&in);
  cJSON_Delete(w.root);
  mp4_init_free(w.init);
  return r;
}
