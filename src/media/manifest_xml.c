/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The manifest module's XML side: names matched by namespace URI (never by prefix),
 * bounded attribute and text access, the BaseURL policy, and ContentProtection.
 */
#include "media/manifest_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ampd/cdm.h>

#include "core/b64.h"
#include "core/err.h"
#include "core/redact.h"

#define SCHEME_MP4PROT "urn:mpeg:dash:mp4protection:2011"
#define SCHEME_BIT_DEPTH "amz-music:bitDepth"
#define SCHEME_CHANCFG_23003 "urn:mpeg:dash:23003:3:audio_channel_configuration:2011"
#define SCHEME_CHANCFG_CICP "urn:mpeg:mpegB:cicp:ChannelConfiguration"

static const uint8_t SYSID_WIDEVINE[16] = AMPD_CDM_SYSTEM_WIDEVINE;
static const uint8_t SYSID_CLEARKEY[16] = AMPD_CDM_SYSTEM_DASHIF_CLEARKEY;
static const uint8_t SYSID_W3C[16] = AMPD_CDM_SYSTEM_W3C_COMMON;

/* A URL in an error message stops before its query (and vfail() drops a fragment and a
 * user:password@ too): signed CDN URLs carry credentials. */
#define NOQ(u) (int)strcspn((u), "?"), (u)
#define MANIFEST_ERR_TEXT_MAX 1024 /* a message before redaction; longer ones are cut */

__attribute__((format(printf, 4, 0))) static int vfail(struct manifest_pctx *p, long line, int code,
                                                       const char *fmt, va_list ap) {
  if (p->err && p->errlen > 0) {
    int off = 0;
    if (line > 0)
      off = snprintf(p->err, p->errlen, "line %ld: ", line);
    if (off < 0 || (size_t)off >= p->errlen)
      off = 0;
    char msg[MANIFEST_ERR_TEXT_MAX];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    /* The message quotes URLs of the input: signed ones are credentials (core/redact.h). */
    redact_urls(msg, p->err + off, p->errlen - (size_t)off);
    /* the message quotes input: keep control characters out of the caller's log */
    for (char *c = p->err; *c; c++)
      if ((unsigned char)*c < 0x20 || *c == 0x7f)
        *c = '?';
  }
  return code;
}

int manifest_fail(struct manifest_pctx *p, xmlNodePtr n, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = vfail(p, n ? xmlGetLineNo(n) : 0, code, fmt, ap);
  va_end(ap);
  return r;
}

int manifest_fail_line(struct manifest_pctx *p, long line, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = vfail(p, line, code, fmt, ap);
  va_end(ap);
  return r;
}

void *manifest_alloc(struct manifest *m, size_t n) {
  if (n > SIZE_MAX - sizeof(union manifest_mem))
    return NULL;
  union manifest_mem *b = calloc(1, sizeof(*b) + n);
  if (!b)
    return NULL;
  b->next = m->mem;
  m->mem = b;
  return b + 1;
}

void *manifest_alloc_array(struct manifest *m, size_t count, size_t size) {
  if (size && count > SIZE_MAX / size)
    return NULL;
  return manifest_alloc(m, count * size);
}

char *manifest_strndup(struct manifest *m, const char *s, size_t n) {
  char *d = manifest_alloc(m, n + 1);
  if (d)
    memcpy(d, s, n);
  return d;
}

/* ---- XML helpers: names by namespace URI, never by prefix ---- */

bool manifest_ns_is(xmlNsPtr ns, const char *uri) {
  return ns && ns->href && strcmp((const char *)ns->href, uri) == 0;
}

bool manifest_ns_is_mpd(xmlNsPtr ns) {
  return manifest_ns_is(ns, MANIFEST_NS_MPD) || manifest_ns_is(ns, MANIFEST_NS_MPD_OLD);
}

bool manifest_ns_is_amazon(xmlNsPtr ns) {
  return manifest_ns_is(ns, MANIFEST_NS_AMZ_DRM) || manifest_ns_is(ns, MANIFEST_NS_AMZ_3P);
}

bool manifest_name_is(xmlNodePtr n, const char *name) {
  return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

bool manifest_is_mpd_el(xmlNodePtr n, const char *name) {
  return manifest_name_is(n, name) && manifest_ns_is_mpd(n->ns);
}

xmlNodePtr manifest_first_child(xmlNodePtr n, const char *name) {
  for (xmlNodePtr c = n->children; c; c = c->next)
    if (manifest_is_mpd_el(c, name))
      return c;
  return NULL;
}

size_t manifest_count_children(xmlNodePtr n, const char *name) {
  size_t k = 0;
  for (xmlNodePtr c = n->children; c; c = c->next)
    k += manifest_is_mpd_el(c, name);
  return k;
}

const char *manifest_trim(const char *s, size_t *ret_len) {
  size_t n = strlen(s);
  while (n && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
    s++, n--;
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
    n--;
  *ret_len = n;
  return s;
}

/* Copy text into the manifest, trimmed and bounded. */
static int keep_text(struct manifest_pctx *p, xmlNodePtr n, const char *raw, size_t max,
                     const char *what, const char **ret) {
  size_t len;
  const char *t = manifest_trim(raw, &len);
  if (len > max)
    return manifest_fail(p, n, -AMP_ETOOBIG, "%s longer than %zu bytes", what, max);
  if (!(*ret = manifest_strndup(p->m, t, len)))
    return -ENOMEM;
  return 0;
}

/* An attribute (ns NULL: unqualified) as a trimmed string, *ret = NULL when absent. */
int manifest_attr(struct manifest_pctx *p, xmlNodePtr n, const char *name, const char *ns,
                  const char **ret) {
  *ret = NULL;
  const char *raw = manifest_node_attr(n, name, ns);
  if (!raw)
    return 0;
  return keep_text(p, n, raw, MANIFEST_MAX_STRING, name, ret);
}

/* An attribute in any of the Amazon namespaces. */
int manifest_attr_amazon(struct manifest_pctx *p, xmlNodePtr n, const char *name,
                         const char **ret) {
  int r = manifest_attr(p, n, name, MANIFEST_NS_AMZ_3P, ret);
  if (r == 0 && !*ret)
    r = manifest_attr(p, n, name, MANIFEST_NS_AMZ_DRM, ret);
  return r;
}

int manifest_text(struct manifest_pctx *p, xmlNodePtr n, size_t max, const char **ret) {
  xmlChar *raw = xmlNodeGetContent(n);
  if (!raw)
    return -ENOMEM;
  int r = keep_text(p, n, (const char *)raw, max, (const char *)n->name, ret);
  xmlFree(raw);
  return r;
}

/* ---- numbers, ranges, durations ---- */

int manifest_attr_u64(struct manifest_pctx *p, xmlNodePtr n, const char *name, uint64_t max,
                      bool *ret_has, uint64_t *ret) {
  const char *s;
  int r = manifest_attr(p, n, name, NULL, &s);
  if (r < 0)
    return r;
  if (!s) {
    if (ret_has)
      *ret_has = false;
    return 0;
  }
  uint64_t v;
  if (!manifest_parse_u64(s, &v) || v > max)
    return manifest_fail(p, n, -AMP_EMANIFEST, "%s=\"%s\": not a number up to %llu", name, s,
                         (unsigned long long)max);
  *ret = v;
  if (ret_has)
    *ret_has = true;
  return 0;
}

/* "first-last", inclusive, first <= last. */
int manifest_parse_range(struct manifest_pctx *p, long line, const char *name, const char *s,
                         struct manifest_range *ret) {
  const char *dash = strchr(s, '-');
  char a[24], b[24];
  size_t la = dash ? (size_t)(dash - s) : 0;
  size_t lb = dash ? strlen(dash + 1) : 0;
  uint64_t first, last;
  if (!dash || la == 0 || lb == 0 || la >= sizeof(a) || lb >= sizeof(b))
    return manifest_fail_line(p, line, -AMP_EMANIFEST, "%s=\"%s\": not a byte range first-last",
                              name, s);
  memcpy(a, s, la);
  a[la] = 0;
  memcpy(b, dash + 1, lb);
  b[lb] = 0;
  if (!manifest_parse_u64(a, &first) || !manifest_parse_u64(b, &last))
    return manifest_fail_line(p, line, -AMP_EMANIFEST, "%s=\"%s\": bad number in byte range", name,
                              s);
  if (last < first)
    return manifest_fail_line(p, line, -AMP_EMANIFEST, "%s=\"%s\": range ends before it starts",
                              name, s);
  if (last == UINT64_MAX)
    return manifest_fail_line(p, line, -AMP_EMANIFEST, "%s=\"%s\": range too large", name, s);
  ret->first = first;
  ret->last = last;
  return 0;
}

int manifest_attr_range(struct manifest_pctx *p, xmlNodePtr n, const char *name, bool *ret_has,
                        struct manifest_range *ret) {
  const char *s;
  int r = manifest_attr(p, n, name, NULL, &s);
  if (r < 0 || !s)
    return r;
  r = manifest_parse_range(p, xmlGetLineNo(n), name, s, ret);
  if (r == 0)
    *ret_has = true;
  return r;
}

int manifest_attr_duration(struct manifest_pctx *p, xmlNodePtr n, const char *name,
                           uint64_t *ret_ns) {
  const char *s;
  int r = manifest_attr(p, n, name, NULL, &s);
  if (r < 0 || !s)
    return r;
  if (manifest_parse_duration(s, ret_ns) < 0)
    return manifest_fail(p, n, -AMP_EMANIFEST, "%s=\"%s\": not an ISO 8601 duration", name, s);
  return 0;
}

/* ---- URLs ---- */

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  c |= 0x20;
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A relative reference from a local manifest: percent-decoded, joined to base's directory. */
static int resolve_path(struct manifest_pctx *p, xmlNodePtr n, const char *base, const char *ref,
                        char **ret) {
  if (ref[0] == '/')
    return manifest_fail(p, n, -AMP_EMANIFEST, "BaseURL \"%.*s\": absolute paths are refused",
                         NOQ(ref));
  if (strpbrk(ref, "?#"))
    return manifest_fail(p, n, -AMP_EMANIFEST,
                         "BaseURL \"%.*s\": query or fragment in a local path", NOQ(ref));
  const char *slash = strrchr(base, '/');
  size_t dir = slash ? (size_t)(slash - base) + 1 : 0;
  int r = manifest_charge_url(p, n, dir + strlen(ref) + 1);
  if (r < 0)
    return r;
  char *out = manifest_alloc(p->m, dir + strlen(ref) + 1);
  if (!out)
    return -ENOMEM;
  memcpy(out, base, dir);
  size_t o = dir;
  for (const char *s = ref; *s; s++) {
    if (*s != '%') {
      out[o++] = *s;
      continue;
    }
    int hi = hexval(s[1]), lo = hi < 0 ? -1 : hexval(s[2]);
    if (lo < 0 || (hi == 0 && lo == 0))
      return manifest_fail(p, n, -AMP_EMANIFEST, "BaseURL \"%.*s\": bad percent escape", NOQ(ref));
    out[o++] = (char)(hi * 16 + lo);
    s += 2;
  }
  out[o] = 0;
  *ret = out;
  return 0;
}

int manifest_charge_url(struct manifest_pctx *p, xmlNodePtr n, size_t bytes) {
  if (bytes > p->url_budget)
    return manifest_fail(p, n, -AMP_ETOOBIG,
                         "resolved BaseURLs larger in total than the manifest plus %u bytes",
                         MANIFEST_URL_SLACK);
  p->url_budget -= bytes;
  return 0;
}

/* Apply the first BaseURL child of n (if any) to *b, under the URL policy of manifest.h. */
int manifest_apply_base(struct manifest_pctx *p, xmlNodePtr n, struct manifest_base *b) {
  xmlNodePtr el = manifest_first_child(n, "BaseURL");
  if (!el)
    return 0;
  const char *ref;
  int r = manifest_text(p, el, MANIFEST_MAX_STRING, &ref);
  if (r < 0)
    return r;
  for (const char *c = ref; *c; c++)
    if ((unsigned char)*c <= 0x20 || *c == 0x7f)
      return manifest_fail(p, el, -AMP_EMANIFEST,
                           "BaseURL \"%.*s\": white space or control character", NOQ(ref));
  size_t sl = manifest_scheme_len(ref);
  if (sl) {
    if (!manifest_is_https(ref))
      return manifest_fail(p, el, -AMP_EMANIFEST,
                           "BaseURL \"%.*s\": only https:// URLs are allowed", NOQ(ref));
    /* against itself: the result is no longer than ref (dot segments only shrink it) */
    if ((r = manifest_charge_url(p, el, strlen(ref) + 3)) < 0)
      return r;
    char *u = manifest_alloc(p->m, strlen(ref) + 3);
    if (!u || manifest_url_resolve(ref, ref, u) < 0)
      return -ENOMEM;
    b->s = u;
    b->is_path = false;
    b->from_mpd = true;
    return 0;
  }
  if (!b->s)
    return manifest_fail(p, el, -AMP_EMANIFEST,
                         "BaseURL \"%.*s\": relative, and the manifest has no origin", NOQ(ref));
  char *out = NULL; /* resolve_path sets it on success; gcc -O2 cannot tell */
  if (b->is_path) {
    if ((r = resolve_path(p, el, b->s, ref, &out)) < 0)
      return r;
  } else {
    if ((r = manifest_charge_url(p, el, strlen(b->s) + strlen(ref) + 3)) < 0)
      return r;
    out = manifest_alloc(p->m, strlen(b->s) + strlen(ref) + 3);
    if (!out || manifest_url_resolve(b->s, ref, out) < 0)
      return -ENOMEM;
    if (!manifest_is_https(out))
      return manifest_fail(p, el, -AMP_EMANIFEST,
                           "BaseURL \"%.*s\" resolves to \"%.*s\": not https", NOQ(ref), NOQ(out));
  }
  if (strlen(out) > MANIFEST_MAX_STRING)
    return manifest_fail(p, el, -AMP_ETOOBIG, "resolved BaseURL longer than %u bytes",
                         MANIFEST_MAX_STRING);
  b->s = out;
  b->from_mpd = true;
  return 0;
}

/* ---- content protection ---- */

static bool is_license_url_el(xmlNodePtr c) {
  if (c->type != XML_ELEMENT_NODE)
    return false;
  const char *nm = (const char *)c->name;
  if (manifest_ns_is(c->ns, MANIFEST_NS_DASHIF))
    return strcmp(nm, "Laurl") == 0 || strcmp(nm, "laurl") == 0;
  if (manifest_ns_is(c->ns, MANIFEST_NS_CLEARKEY))
    return strcmp(nm, "Laurl") == 0;
  if (manifest_ns_is_amazon(c->ns))
    return strcmp(nm, "LicenseUrl") == 0 || strcmp(nm, "licenseUrl") == 0;
  return false;
}

/* A license URL must be an absolute https URL without white space; the scheme is
 * lower-cased so that callers can compare it plainly. */
static int keep_license_url(struct manifest_pctx *p, xmlNodePtr n, const char *u,
                            const char **ret) {
  if (!manifest_is_https(u))
    return manifest_fail(p, n, -AMP_EMANIFEST, "license URL \"%.*s\": not an https URL", NOQ(u));
  for (const char *c = u; *c; c++)
    if ((unsigned char)*c <= 0x20 || *c == 0x7f)
      return manifest_fail(p, n, -AMP_EMANIFEST, "license URL \"%.*s\": white space", NOQ(u));
  char *copy = manifest_strndup(p->m, u, strlen(u));
  if (!copy)
    return -ENOMEM;
  memcpy(copy, "https", 5);
  *ret = copy;
  return 0;
}

static int parse_drm(struct manifest_pctx *p, xmlNodePtr cp, const char *scheme,
                     struct manifest_drm *d) {
  int r;
  if (!manifest_parse_uuid(scheme + 9, d->system_id))
    return manifest_fail(p, cp, -AMP_EMANIFEST, "schemeIdUri \"%s\": bad UUID", scheme);
  if (memcmp(d->system_id, SYSID_WIDEVINE, 16) == 0)
    d->system = MANIFEST_DRM_WIDEVINE;
  else if (memcmp(d->system_id, SYSID_CLEARKEY, 16) == 0)
    d->system = MANIFEST_DRM_CLEARKEY;
  else if (memcmp(d->system_id, SYSID_W3C, 16) == 0)
    d->system = MANIFEST_DRM_W3C_COMMON;
  for (xmlNodePtr c = cp->children; c; c = c->next) {
    if (manifest_name_is(c, "pssh") && manifest_ns_is(c->ns, MANIFEST_NS_CENC) && !d->pssh) {
      /* The base64 text is read in place (it is not kept), and the box gets what the text
       * can decode to (3 bytes per 4 characters), not MANIFEST_MAX_PSSH: a manifest of many
       * small boxes must not cost 16 KiB a box. */
      xmlChar *raw = xmlNodeGetContent(c);
      size_t len, n;
      if (!raw)
        return -ENOMEM;
      const char *b64 = manifest_trim((const char *)raw, &len);
      size_t cap = len / 4 * 3 + len % 4;
      uint8_t *box = NULL;
      /* base64 of MANIFEST_MAX_PSSH bytes plus line wrapping */
      if (len > 2 * MANIFEST_MAX_PSSH)
        r = manifest_fail(p, c, -AMP_ETOOBIG, "pssh longer than %u bytes", 2 * MANIFEST_MAX_PSSH);
      else if (!(box = manifest_alloc(p->m, cap < MANIFEST_MAX_PSSH ? cap : MANIFEST_MAX_PSSH)))
        r = -ENOMEM;
      else
        r = b64_decode(b64, len, box, cap < MANIFEST_MAX_PSSH ? cap : MANIFEST_MAX_PSSH, &n);
      xmlFree(raw);
      if (r == -AMP_ETOOBIG && box)
        return manifest_fail(p, c, r, "pssh larger than %u bytes", MANIFEST_MAX_PSSH);
      if (r == -ENOMEM || r == -AMP_ETOOBIG)
        return r;
      if (r < 0)
        return manifest_fail(p, c, -AMP_EMANIFEST, "pssh: not base64");
      /* The DASH-IF ClearKey UUID (e2719d58-...) exists only in MPDs: no pssh box carries
       * it. DASH-IF IOP puts the W3C common-system pssh (1077efec-...) in that element. */
      const uint8_t *want = d->system == MANIFEST_DRM_CLEARKEY ? SYSID_W3C : d->system_id;
      if (!manifest_pssh_valid(box, n, want))
        return manifest_fail(p, c, -AMP_EMANIFEST, "pssh: not a pssh box of system %s", scheme + 9);
      d->pssh = box;
      d->pssh_len = n;
    } else if (is_license_url_el(c) && !d->license_url) {
      const char *u;
      if ((r = manifest_text(p, c, MANIFEST_MAX_STRING, &u)) < 0 ||
          (r = keep_license_url(p, c, u, &d->license_url)) < 0)
        return r;
    }
  }
  if (!d->license_url) {
    const char *u;
    if ((r = manifest_attr_amazon(p, cp, "licenseUrl", &u)) < 0)
      return r;
    if (u && (r = keep_license_url(p, cp, u, &d->license_url)) < 0)
      return r;
  }
  return 0;
}

/* The ContentProtection children of n into *prot. */
int manifest_parse_protection(struct manifest_pctx *p, xmlNodePtr n,
                              struct manifest_protection *prot) {
  size_t cap = 0;
  int r;
  for (xmlNodePtr c = n->children; c; c = c->next)
    cap += manifest_is_mpd_el(c, "ContentProtection");
  struct manifest_drm *drm = cap ? manifest_alloc_array(p->m, cap, sizeof(*drm)) : NULL;
  if (cap && !drm)
    return -ENOMEM;
  for (xmlNodePtr c = n->children; c; c = c->next) {
    if (!manifest_is_mpd_el(c, "ContentProtection"))
      continue;
    const char *scheme, *value, *kid;
    if ((r = manifest_attr(p, c, "schemeIdUri", NULL, &scheme)) < 0 ||
        (r = manifest_attr(p, c, "value", NULL, &value)) < 0 ||
        (r = manifest_attr(p, c, "default_KID", MANIFEST_NS_CENC, &kid)) < 0)
      return r;
    if (!scheme)
      return manifest_fail(p, c, -AMP_EMANIFEST, "ContentProtection without schemeIdUri");
    if (kid) {
      uint8_t k[16];
      if (!manifest_parse_uuid(kid, k))
        return manifest_fail(p, c, -AMP_EMANIFEST, "default_KID \"%s\": not a UUID", kid);
      if (prot->has_kid && memcmp(k, prot->kid, 16) != 0)
        return manifest_fail(p, c, -AMP_EMANIFEST, "conflicting default_KID \"%s\"", kid);
      memcpy(prot->kid, k, 16);
      prot->has_kid = true;
    }
    if (strcasecmp(scheme, SCHEME_MP4PROT) == 0) {
      if (value && strcmp(value, "cenc") == 0)
        prot->cenc = true;
    } else if (strncasecmp(scheme, "urn:uuid:", 9) == 0) {
      if (prot->n_drm >= MANIFEST_MAX_DRM)
        return manifest_fail(p, c, -AMP_ETOOBIG, "more than %u ContentProtection elements",
                             MANIFEST_MAX_DRM);
      if ((r = parse_drm(p, c, scheme, &drm[prot->n_drm])) < 0)
        return r;
      prot->n_drm++;
    }
  }
  prot->drm = drm;
  return 0;
}

int manifest_parse_channels(struct manifest_pctx *p, xmlNodePtr n, uint32_t *ret) {
  static const uint8_t cicp[] = {0, 1, 2, 3, 4, 5, 6, 8}; /* ISO/IEC 23091-3 codes 0..7 */
  xmlNodePtr c = manifest_first_child(n, "AudioChannelConfiguration");
  const char *scheme, *value;
  uint64_t v;
  int r;
  if (!c)
    return 0;
  if ((r = manifest_attr(p, c, "schemeIdUri", NULL, &scheme)) < 0 ||
      (r = manifest_attr(p, c, "value", NULL, &value)) < 0)
    return r;
  if (!scheme || !value)
    return manifest_fail(p, c, -AMP_EMANIFEST,
                         "AudioChannelConfiguration needs schemeIdUri and value");
  if (strcasecmp(scheme, SCHEME_CHANCFG_23003) == 0) {
    if (!manifest_parse_u64(value, &v) || v == 0 || v > 64)
      return manifest_fail(p, c, -AMP_EMANIFEST, "AudioChannelConfiguration value=\"%s\"", value);
    *ret = (uint32_t)v;
  } else if (strcasecmp(scheme, SCHEME_CHANCFG_CICP) == 0) {
    if (manifest_parse_u64(value, &v) && v < sizeof(cicp))
      *ret = cicp[v];
  } /* other schemes (Dolby bitmasks, ...): channel count unknown */
  return 0;
}

/* amz-music bitDepth: an attribute, a child element, or a SupplementalProperty. */
int manifest_parse_bit_depth(struct manifest_pctx *p, xmlNodePtr n, uint32_t *ret) {
  const char *s = NULL;
  xmlNodePtr where = n;
  int r = manifest_attr_amazon(p, n, "bitDepth", &s);
  for (xmlNodePtr c = n->children; r == 0 && !s && c; c = c->next) {
    if (manifest_name_is(c, "bitDepth") && manifest_ns_is_amazon(c->ns)) {
      where = c;
      r = manifest_text(p, c, MANIFEST_MAX_STRING, &s);
    } else if (manifest_is_mpd_el(c, "SupplementalProperty") ||
               manifest_is_mpd_el(c, "EssentialProperty")) {
      const char *scheme;
      if ((r = manifest_attr(p, c, "schemeIdUri", NULL, &scheme)) == 0 && scheme &&
          strcmp(scheme, SCHEME_BIT_DEPTH) == 0) {
        where = c;
        r = manifest_attr(p, c, "value", NULL, &s);
      }
    }
  }
  if (r < 0 || !s)
    return r;
  uint64_t v;
  if (!manifest_parse_u64(s, &v) || v == 0 || v > 64)
    return manifest_fail(p, where, -AMP_EMANIFEST, "bitDepth \"%s\": not a bit depth", s);
  *ret = (uint32_t)v;
  return 0;
}

int manifest_merge_protection(struct manifest_pctx *p, xmlNodePtr n,
                              const struct manifest_protection *set,
                              struct manifest_protection *rep) {
  if (set->has_kid && rep->has_kid && memcmp(set->kid, rep->kid, 16) != 0)
    return manifest_fail(p, n, -AMP_EMANIFEST, "Representation default_KID differs from its set's");
  if (!rep->has_kid && set->has_kid) {
    rep->has_kid = true;
    memcpy(rep->kid, set->kid, 16);
  }
  rep->cenc = rep->cenc || set->cenc;
  if (set->n_drm && !rep->n_drm) {
    rep->drm = set->drm; /* shared, not copied: a set's 8 systems are not paid per rep */
    rep->n_drm = set->n_drm;
  } else if (set->n_drm) {
    struct manifest_drm *d = manifest_alloc_array(p->m, set->n_drm + rep->n_drm, sizeof(*d));
    if (!d)
      return -ENOMEM;
    memcpy(d, set->drm, set->n_drm * sizeof(*d));
    if (rep->n_drm)
      memcpy(d + set->n_drm, rep->drm, rep->n_drm * sizeof(*d));
    rep->drm = d;
    rep->n_drm += set->n_drm;
  }
  return 0;
}
