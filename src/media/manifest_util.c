/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The manifest module's XML-free parts: numbers, ISO 8601 durations, loudness, UUIDs,
 * RFC 3986 reference resolution, pssh box checks, the sidx box, and the accessors.
 */
#include "media/manifest_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/b64.h"
#include "core/err.h"

bool manifest_parse_u64(const char *s, uint64_t *ret) {
  uint64_t v = 0;
  if (!*s)
    return false;
  for (; *s; s++) {
    if (*s < '0' || *s > '9')
      return false;
    unsigned d = (unsigned)(*s - '0');
    if (v > (UINT64_MAX - d) / 10)
      return false;
    v = v * 10 + d;
  }
  *ret = v;
  return true;
}

/* Adds v * unit to *acc, refusing overflow. */
static bool add_scaled(uint64_t *acc, uint64_t v, uint64_t unit) {
  if (v > UINT64_MAX / unit || *acc > UINT64_MAX - v * unit)
    return false;
  *acc += v * unit;
  return true;
}

int manifest_parse_duration(const char *s, uint64_t *ret_ns) {
  static const char date_units[] = "YMD", time_units[] = "HMS";
  static const uint64_t time_mult[] = {3600 * MANIFEST_NS_PER_S, 60 * MANIFEST_NS_PER_S,
                                       MANIFEST_NS_PER_S};
  if (!s || !ret_ns || *s != 'P')
    return -AMP_EMANIFEST;
  s++;
  uint64_t ns = 0;
  bool in_time = false, any = false;
  size_t next = 0; /* the next unit allowed in the current part */
  while (*s) {
    if (*s == 'T') {
      if (in_time || !s[1])
        return -AMP_EMANIFEST;
      in_time = true;
      next = 0;
      s++;
      continue;
    }
    uint64_t v = 0, frac = 0, scale = MANIFEST_NS_PER_S;
    bool digits = false, has_frac = false;
    for (; *s >= '0' && *s <= '9'; s++, digits = true)
      if (v > (UINT64_MAX - 9) / 10 || (v = v * 10 + (uint64_t)(*s - '0')) > UINT32_MAX)
        return -AMP_EMANIFEST;
    if (*s == '.' || *s == ',') {
      has_frac = true;
      for (s++; *s >= '0' && *s <= '9'; s++, digits = true)
        if (scale > 1) /* digits past ns are truncated */
          scale /= 10, frac += (uint64_t)(*s - '0') * scale;
    }
    if (!digits || !*s)
      return -AMP_EMANIFEST;
    const char *units = in_time ? time_units : date_units;
    const char *u = strchr(units + next, *s);
    if (!u)
      return -AMP_EMANIFEST;
    size_t idx = (size_t)(u - units);
    if (has_frac && !(in_time && idx == 2)) /* only seconds take a fraction */
      return -AMP_EMANIFEST;
    bool ok = true;
    if (!in_time && idx < 2)
      ok = v == 0; /* years and months have no fixed length: only zero is accepted */
    else if (!in_time)
      ok = add_scaled(&ns, v, 86400 * MANIFEST_NS_PER_S);
    else
      ok = add_scaled(&ns, v, time_mult[idx]) && add_scaled(&ns, frac, 1);
    if (!ok)
      return -AMP_EMANIFEST;
    next = idx + 1;
    any = true;
    s++;
  }
  if (!any)
    return -AMP_EMANIFEST;
  *ret_ns = ns;
  return 0;
}

/* "-13.5 LUFS" (also LKFS, or no unit) without strtod, which follows the locale. */
bool manifest_parse_loudness(const char *s, float *ret) {
  bool neg = false, digits = false;
  double v = 0, scale = 1;
  if (*s == '-' || *s == '+')
    neg = *s++ == '-';
  for (; *s >= '0' && *s <= '9'; s++, digits = true)
    if ((v = v * 10 + (*s - '0')) > 1000)
      return false;
  if (*s == '.')
    for (s++; *s >= '0' && *s <= '9'; s++, digits = true)
      if (scale > 1e-6)
        scale /= 10, v += (*s - '0') * scale;
  while (*s == ' ')
    s++;
  if (!digits || (*s && strcasecmp(s, "LUFS") != 0 && strcasecmp(s, "LKFS") != 0))
    return false;
  *ret = (float)(neg ? -v : v);
  return true;
}

bool manifest_parse_uuid(const char *s, uint8_t out[16]) {
  /* 8-4-4-4-12 hex; hex_decode skips the dashes, so check where they are. */
  if (strlen(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-')
    return false;
  return hex_decode(s, out, 16) == 0;
}

/* Length of a leading "scheme:", 0 if none (RFC 3986 §3.1). */
size_t manifest_scheme_len(const char *s) {
  size_t i = 0;
  if (!((s[0] | 0x20) >= 'a' && (s[0] | 0x20) <= 'z'))
    return 0;
  while (s[i] && s[i] != ':') {
    char c = s[i];
    if (!(((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
          c == '-' || c == '.'))
      return 0;
    i++;
  }
  return s[i] == ':' ? i + 1 : 0;
}

bool manifest_is_https(const char *s) {
  return strncasecmp(s, "https://", 8) == 0 && s[8] && s[8] != '/' && s[8] != '?' && s[8] != '#';
}

/* RFC 3986 §5.2.4 on path[0..n), appended to out (which has room for n more bytes). */
static void remove_dot_segments(const char *in, size_t n, char *out, size_t *olen) {
  size_t o = *olen, start = o;
  while (n) {
    if (n >= 3 && memcmp(in, "../", 3) == 0) {
      in += 3, n -= 3;
    } else if (n >= 2 && memcmp(in, "./", 2) == 0) {
      in += 2, n -= 2;
    } else if ((n >= 3 && memcmp(in, "/./", 3) == 0) || (n == 2 && memcmp(in, "/.", 2) == 0)) {
      in += 1, n -= 1;
      if (n == 1)
        out[o++] = '/', in++, n--;
      else
        in += 1, n -= 1;
    } else if ((n >= 4 && memcmp(in, "/../", 4) == 0) || (n == 3 && memcmp(in, "/..", 3) == 0)) {
      bool last = n == 3;
      in += 3, n -= 3;
      while (o > start && out[o - 1] != '/')
        o--;
      if (o > start)
        o--;
      if (last)
        out[o++] = '/';
    } else if ((n == 1 && in[0] == '.') || (n == 2 && memcmp(in, "..", 2) == 0)) {
      n = 0;
    } else {
      size_t k = 1;
      while (k < n && in[k] != '/')
        k++;
      memcpy(out + o, in, k);
      o += k, in += k, n -= k;
    }
  }
  *olen = o;
}

/* Resolve URL reference ref against the https URL base (RFC 3986 §5.2.2), fragment dropped. */
int manifest_url_resolve(const char *base, const char *ref, char *out) {
  size_t rlen = strcspn(ref, "#");
  size_t blen = strcspn(base, "#");
  size_t o = 0;
  size_t auth_end = 8 + strcspn(base + 8, "/?#"); /* "https://" + authority */
  size_t path_end = auth_end + strcspn(base + auth_end, "?#");
  if (manifest_scheme_len(ref)) {
    size_t sl = manifest_scheme_len(ref);
    size_t a = sl + 2 + strcspn(ref + sl + 2, "/?#");
    size_t pe = a + strcspn(ref + a, "?#");
    if (pe > rlen)
      pe = rlen;
    memcpy(out, ref, a);
    o = a;
    remove_dot_segments(ref + a, pe - a, out, &o);
    memcpy(out + o, ref + pe, rlen - pe);
    o += rlen - pe;
  } else if (rlen >= 2 && ref[0] == '/' && ref[1] == '/') {
    memcpy(out, "https:", 6);
    o = 6;
    size_t a = 2 + strcspn(ref + 2, "/?#");
    size_t pe = a + strcspn(ref + a, "?#");
    if (pe > rlen)
      pe = rlen;
    memcpy(out + o, ref, a);
    o += a;
    remove_dot_segments(ref + a, pe - a, out, &o);
    memcpy(out + o, ref + pe, rlen - pe);
    o += rlen - pe;
  } else {
    memcpy(out, base, auth_end);
    o = auth_end;
    size_t pe = strcspn(ref, "?#");
    if (pe > rlen)
      pe = rlen;
    if (pe == 0) {
      /* empty path: keep the base path, and its query unless ref has one */
      memcpy(out + o, base + auth_end, path_end - auth_end);
      o += path_end - auth_end;
      if (rlen == 0) {
        memcpy(out + o, base + path_end, blen - path_end);
        o += blen - path_end;
      }
    } else if (ref[0] == '/') {
      remove_dot_segments(ref, pe, out, &o);
    } else {
      /* merge: the base path up to its last '/', then ref */
      size_t dir = path_end;
      while (dir > auth_end && base[dir - 1] != '/')
        dir--;
      char *tmp = malloc(dir - auth_end + pe + 2);
      if (!tmp)
        return -ENOMEM;
      size_t t = 0;
      if (dir == auth_end)
        tmp[t++] = '/';
      memcpy(tmp + t, base + auth_end, dir - auth_end);
      t += dir - auth_end;
      memcpy(tmp + t, ref, pe);
      t += pe;
      remove_dot_segments(tmp, t, out, &o);
      free(tmp);
    }
    memcpy(out + o, ref + pe, rlen - pe);
    o += rlen - pe;
  }
  out[o] = 0;
  /* The scheme is case-insensitive (§3.1): hand out "https:" so callers compare plainly. */
  for (size_t i = 0; i < o && out[i] != ':'; i++)
    if (out[i] >= 'A' && out[i] <= 'Z')
      out[i] = (char)(out[i] | 0x20);
  return 0;
}

/* A pssh box: size, type, version 0/1, the system id of the scheme, KIDs and data inside. */
bool manifest_pssh_valid(const uint8_t *b, size_t len, const uint8_t sysid[16]) {
  if (len < 32)
    return false;
  uint32_t size = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
  if (size != len || memcmp(b + 4, "pssh", 4) != 0 || b[8] > 1 || memcmp(b + 12, sysid, 16) != 0)
    return false;
  size_t off = 28;
  if (b[8] == 1) {
    uint32_t kids = (uint32_t)b[28] << 24 | (uint32_t)b[29] << 16 | (uint32_t)b[30] << 8 | b[31];
    off = 32;
    if (kids > (len - off) / 16)
      return false;
    off += (size_t)kids * 16;
  }
  if (len - off < 4)
    return false;
  uint32_t dsize =
      (uint32_t)b[off] << 24 | (uint32_t)b[off + 1] << 16 | (uint32_t)b[off + 2] << 8 | b[off + 3];
  return dsize == len - off - 4;
}

/* ---- accessors ---- */

uint64_t manifest_duration_ns(const struct manifest *m) {
  return m ? m->duration_ns : 0;
}

bool manifest_is_remote(const struct manifest *m) {
  return m && m->remote;
}

const struct manifest_period *manifest_periods(const struct manifest *m, size_t *ret_n) {
  *ret_n = m ? m->n_periods : 0;
  return m ? m->periods : NULL;
}

const struct manifest_set *manifest_adaptation_sets(const struct manifest *m, size_t *ret_n) {
  *ret_n = m && m->n_periods ? m->periods[0].n_sets : 0;
  return *ret_n ? m->periods[0].sets : NULL;
}

const struct manifest_rep *manifest_find_rep(const struct manifest *m, const char *id) {
  if (!m || !id)
    return NULL;
  for (size_t i = 0; i < m->n_periods; i++)
    for (size_t j = 0; j < m->periods[i].n_sets; j++)
      for (size_t k = 0; k < m->periods[i].sets[j].n_reps; k++)
        if (strcmp(m->periods[i].sets[j].reps[k].id, id) == 0)
          return &m->periods[i].sets[j].reps[k];
  return NULL;
}

const struct manifest_set *const *manifest_switch_targets(const struct manifest_set *set,
                                                          size_t *ret_n) {
  *ret_n = set ? set->n_switch_targets : 0;
  return set ? set->switch_targets : NULL;
}

const struct manifest_rep *const *manifest_set_ranked(const struct manifest_set *set,
                                                      size_t *ret_n) {
  *ret_n = set ? set->n_reps : 0;
  return set ? set->ranked : NULL;
}

static const struct manifest_drm *find_drm(const struct manifest_rep *rep,
                                           enum manifest_drm_system sys, bool want_url) {
  for (size_t i = 0; rep && i < rep->protection.n_drm; i++) {
    const struct manifest_drm *d = &rep->protection.drm[i];
    if (d->system == sys && (want_url ? d->license_url != NULL : d->pssh != NULL))
      return d;
  }
  return NULL;
}

const char *manifest_license_url(const struct manifest_rep *rep, enum manifest_drm_system sys) {
  const struct manifest_drm *d = find_drm(rep, sys, true);
  return d ? d->license_url : NULL;
}

const uint8_t *manifest_pssh(const struct manifest_rep *rep, enum manifest_drm_system sys,
                             size_t *ret_len) {
  const struct manifest_drm *d = find_drm(rep, sys, false);
  *ret_len = d ? d->pssh_len : 0;
  return d ? d->pssh : NULL;
}

/* ---- sidx (ISO/IEC 14496-12 §8.16.3) ---- */

static uint64_t be(const uint8_t *p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++)
    v = v << 8 | p[i];
  return v;
}

int manifest_sidx_parse(const uint8_t *b, size_t len, uint64_t sidx_file_offset,
                        struct manifest_segment **ret_segments, size_t *ret_n,
                        uint32_t *ret_timescale) {
  if (!b || !ret_segments || !ret_n || !ret_timescale)
    return -EINVAL;
  if (len < 8)
    return -AMP_EMP4;
  uint64_t size = be(b, 4);
  size_t off = 8;
  if (size == 1) {
    if (len < 16)
      return -AMP_EMP4;
    size = be(b + 8, 8);
    off = 16;
  } else if (size == 0) {
    size = len; /* to the end of the bytes given */
  }
  if (memcmp(b + 4, "sidx", 4) != 0 || size > len || size < off + 4)
    return -AMP_EMP4;
  len = (size_t)size; /* trailing bytes are not ours */
  uint8_t version = b[off];
  off += 4;
  size_t fields = version == 0 ? 4 + 4 + 4 + 4 + 4 : 4 + 4 + 8 + 8 + 4;
  if (version > 1 || len - off < fields)
    return -AMP_EMP4;
  uint32_t timescale = (uint32_t)be(b + off + 4, 4);
  uint64_t ept, first_offset;
  if (version == 0) {
    ept = be(b + off + 8, 4);
    first_offset = be(b + off + 12, 4);
  } else {
    ept = be(b + off + 8, 8);
    first_offset = be(b + off + 16, 8);
  }
  off += fields;
  size_t count = (size_t)be(b + off - 2, 2);
  if (timescale == 0 || count == 0 || (len - off) / 12 < count)
    return -AMP_EMP4;
  if (count > MANIFEST_MAX_SEGMENTS)
    return -AMP_ETOOBIG;
  /* The anchor is the first byte after the sidx box. */
  uint64_t pos = sidx_file_offset + size;
  if (pos < size || pos > UINT64_MAX - first_offset)
    return -AMP_EMP4;
  pos += first_offset;
  struct manifest_segment *segs = calloc(count, sizeof(*segs));
  if (!segs)
    return -ENOMEM;
  uint64_t t = ept;
  int r = -AMP_EMP4;
  for (size_t i = 0; i < count; i++, off += 12) {
    uint32_t ref = (uint32_t)be(b + off, 4);
    uint32_t dur = (uint32_t)be(b + off + 4, 4);
    uint32_t rsize = ref & 0x7fffffffu;
    if (ref >> 31) {
      r = -AMP_EUNSUPPORTED; /* points at another sidx */
      goto fail;
    }
    if (rsize == 0 || pos > UINT64_MAX - rsize || t > UINT64_MAX - dur)
      goto fail;
    segs[i] = (struct manifest_segment){
        .first = pos, .last = pos + rsize - 1, .start = t, .duration = dur};
    pos += rsize;
    t += dur;
  }
  *ret_segments = segs;
  *ret_n = count;
  *ret_timescale = timescale;
  return 0;
fail:
  free(segs);
  return r;
}

int manifest_rep_set_segments_from_sidx(struct manifest *m, const struct manifest_rep *rep,
                                        const uint8_t *sidx, size_t len,
                                        uint64_t sidx_file_offset) {
  if (!m || !rep)
    return -EINVAL;
  for (struct manifest_rep_block *b = m->blocks; b; b = b->next) {
    for (size_t k = 0; k < *b->n; k++) {
      if (&b->reps[k] != rep)
        continue;
      struct manifest_segment *segs;
      size_t n;
      uint32_t ts;
      int r = manifest_sidx_parse(sidx, len, sidx_file_offset, &segs, &n, &ts);
      if (r < 0)
        return r;
      free(b->segs[k]);
      b->segs[k] = segs;
      b->reps[k].segments = segs;
      b->reps[k].n_segments = n;
      b->reps[k].timescale = ts;
      return 0;
    }
  }
  return -EINVAL;
}
