/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The manifest module's tree builder: libxml2's own SAX2 tree builder, fed only what the
 * document walk (manifest.c) reads, so that the tree costs in proportion to the input.
 *
 * A libxml2 node costs ~120 bytes and an attribute ~220 (the attribute plus its text node)
 * whatever their size in the document: "<x/>" is 4 bytes, ' a=""' is 5. A full tree of a
 * 4 MiB manifest within the element bound can reach 30 x its size. So, as the parser
 * reports them:
 *  - elements the walk never looks at (unknown names or namespaces, known names in places
 *    the walk does not look, a second BaseURL/SegmentList/Initialization/... where only
 *    the first counts, Representations past MANIFEST_MAX_REPS + 1, ...) are dropped with
 *    their whole subtree;
 *  - ContentProtection and Supplemental/EssentialProperty elements are kept only when the
 *    walk can act on them (see keep_cp and keep_prop);
 *  - attributes the walk never reads, comments, processing instructions and text outside
 *    the text-bearing elements (BaseURL, cenc:pssh, license URLs, bitDepth) are dropped;
 *    namespace declarations are kept only for the namespaces the walk matches;
 *  - SegmentURL elements become a compact list on their SegmentList (manifest_segurls):
 *    their number is bounded only by the input.
 * Inside a text-bearing element, child elements are flattened: their text is kept (as
 * xmlNodeGetContent would see it) and the elements are not built.
 * Each kept element's state (kind, which first-only children it already has, a count) is
 * held in its node's _private, a struct manifest_knode, with the attributes the walk reads.
 */
#include "media/manifest_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/SAX2.h>
#include <libxml/parser.h>

#define SCHEME_MP4PROT "urn:mpeg:dash:mp4protection:2011"

/* What a kept element is to the walk. */
enum kind {
  K_OTHER = 1, /* a root that is not an MPD: kept so that the walk can refuse it */
  K_MPD,
  K_PERIOD,
  K_SET,
  K_REP,
  K_SEGLIST,
  K_SEGBASE,
  K_CP,
  K_TEXT, /* its text is read (BaseURL, pssh, license URLs, bitDepth) */
  K_LEAF, /* its attributes are read (Initialization, properties, ...) */
};

/* First-only children already seen, bits of a kept element's state. */
enum {
  SEEN_BASEURL = 1u << 0,
  SEEN_SEGLIST = 1u << 1,
  SEEN_SEGBASE = 1u << 2,
  SEEN_SEGTEMPLATE = 1u << 3,
  SEEN_TIMELINE = 1u << 4,
  SEEN_INIT = 1u << 5,
  SEEN_CHANCFG = 1u << 6,
  SEEN_BITDEPTH = 1u << 7,
  SEEN_PSSH = 1u << 8,
  SEEN_LAURL = 1u << 9,
  SEEN_NOSCHEME = 1u << 10, /* a property without schemeIdUri (the walk fails there) */
  SEEN_CP_DEAD = 1u << 11,  /* a ContentProtection without one: the walk fails there */
};

/* state: kind (bits 0-3), seen (bits 4-15), count of the counted child (bits 16-23),
 * urn:uuid ContentProtection children (bits 24-27). */
#define ST_KIND(s) ((unsigned)((s)&0xfu))
#define ST_SEEN(s) ((unsigned)(((s) >> 4) & 0xfffu))
#define ST_COUNT(s) ((unsigned)(((s) >> 16) & 0xffu))
#define ST_UUIDS(s) ((unsigned)(((s) >> 24) & 0xfu))
#define ST_MAKE(kind, seen, count, uuids)                                                          \
  ((uintptr_t)(kind) | (uintptr_t)(seen) << 4 | (uintptr_t)(count) << 16 | (uintptr_t)(uuids) << 24)

static uintptr_t get_state(xmlNodePtr n) {
  return n && n->_private ? ((const struct manifest_knode *)n->_private)->state : 0;
}

static void set_state(xmlNodePtr n, uintptr_t s) {
  ((struct manifest_knode *)n->_private)->state = s;
}

static bool is_mpd_uri(const xmlChar *uri) {
  return uri && (strcmp((const char *)uri, MANIFEST_NS_MPD) == 0 ||
                 strcmp((const char *)uri, MANIFEST_NS_MPD_OLD) == 0);
}

static bool uri_is(const xmlChar *uri, const char *want) {
  return uri && strcmp((const char *)uri, want) == 0;
}

static bool is_amazon_uri(const xmlChar *uri) {
  return uri_is(uri, MANIFEST_NS_AMZ_DRM) || uri_is(uri, MANIFEST_NS_AMZ_3P);
}

/* The namespaces the walk matches; a declaration of any other is not built. */
static bool known_uri(const xmlChar *uri) {
  return is_mpd_uri(uri) || uri_is(uri, MANIFEST_NS_CENC) || uri_is(uri, MANIFEST_NS_DASHIF) ||
         uri_is(uri, MANIFEST_NS_CLEARKEY) || is_amazon_uri(uri) || uri_is(uri, MANIFEST_NS_XLINK);
}

/* The attributes the walk reads (manifest_attr and friends), on any kept element: the
 * name as a static string, with *ret_ns the namespace as manifest_attr names it (NULL:
 * unqualified); NULL for any other attribute. */
static const char *known_attr(const xmlChar *name, const xmlChar *uri, const char **ret_ns) {
  static const char *const plain[] = {
      "id",
      "type",
      "mediaPresentationDuration",
      "start",
      "duration",
      "contentType",
      "mimeType",
      "codecs",
      "selectionPriority",
      "audioSamplingRate",
      "bandwidth",
      "qualityRanking",
      "timescale",
      "indexRange",
      "range",
      "sourceURL",
      "mediaRange",
      "media",
      "schemeIdUri",
      "value",
  };
  static const char *const amazon[] = {"trackType", "bitDepth", "licenseUrl"};
  const char *nm = (const char *)name;
  *ret_ns = NULL;
  if (!uri) {
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
      if (strcmp(nm, plain[i]) == 0)
        return plain[i];
    return NULL;
  }
  if (uri_is(uri, MANIFEST_NS_CENC)) {
    *ret_ns = MANIFEST_NS_CENC;
    return strcmp(nm, "default_KID") == 0 ? "default_KID" : NULL;
  }
  if (is_amazon_uri(uri)) {
    *ret_ns = uri_is(uri, MANIFEST_NS_AMZ_3P) ? MANIFEST_NS_AMZ_3P : MANIFEST_NS_AMZ_DRM;
    for (size_t i = 0; i < sizeof(amazon) / sizeof(amazon[0]); i++)
      if (strcmp(nm, amazon[i]) == 0)
        return amazon[i];
    return NULL;
  }
  if (uri_is(uri, MANIFEST_NS_XLINK)) {
    *ret_ns = MANIFEST_NS_XLINK;
    return strcmp(nm, "href") == 0 ? "href" : NULL;
  }
  return NULL;
}

/* Copy an attribute value, decoding the "&#38;" libxml2 hands out for a '&' when entities
 * are not substituted (the one escape left in SAX2 values without a DTD). Returns the
 * bytes written, NUL included; out has room for e - s + 1. */
static size_t copy_value(char *out, const char *s, const char *e) {
  size_t o = 0;
  for (; s < e; s++) {
    out[o++] = *s;
    if (*s == '&' && e - s >= 5 && memcmp(s, "&#38;", 5) == 0)
      s += 4;
  }
  out[o++] = 0;
  return o;
}

/* An unqualified attribute among SAX2's (localname, prefix, URI, value, end) tuples,
 * trimmed as manifest_attr trims it; NULL when absent. */
static const char *sax_attr(const xmlChar **attrs, int nb, const char *name, const char *uri,
                            size_t *ret_len) {
  for (int i = 0; i < nb; i++) {
    const xmlChar **a = attrs + 5 * i;
    if (strcmp((const char *)a[0], name) != 0 || (uri ? !uri_is(a[2], uri) : a[2] != NULL))
      continue;
    const char *s = (const char *)a[3], *e = (const char *)a[4];
    while (s < e && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
      s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
      e--;
    *ret_len = (size_t)(e - s);
    return s;
  }
  return NULL;
}

static bool sax_attr_is(const xmlChar **attrs, int nb, const char *name, const char *want) {
  size_t len;
  const char *v = sax_attr(attrs, nb, name, NULL, &len);
  return v && len == strlen(want) && memcmp(v, want, len) == 0;
}

/* A ContentProtection the walk acts on: the first without schemeIdUri (the walk fails
 * there, and never looks at the ones after it), one with a default_KID, mp4protection, or
 * urn:uuid up to one past MANIFEST_MAX_DRM (the walk refuses the one past). The walk
 * ignores any other scheme. */
static bool keep_cp(uintptr_t *ps, const xmlChar **attrs, int nb) {
  size_t len, klen;
  const char *scheme = sax_attr(attrs, nb, "schemeIdUri", NULL, &len);
  if (ST_SEEN(*ps) & SEEN_CP_DEAD)
    return false;
  if (!scheme) {
    *ps |= (uintptr_t)SEEN_CP_DEAD << 4;
    return true;
  }
  if (sax_attr(attrs, nb, "default_KID", MANIFEST_NS_CENC, &klen))
    return true;
  if (len == strlen(SCHEME_MP4PROT) && strncasecmp(scheme, SCHEME_MP4PROT, len) == 0)
    return true;
  if (len >= 9 && strncasecmp(scheme, "urn:uuid:", 9) == 0) {
    unsigned u = ST_UUIDS(*ps);
    if (u > MANIFEST_MAX_DRM)
      return false;
    *ps = (*ps & ~((uintptr_t)0xf << 24)) | (uintptr_t)(u + 1) << 24;
    return true;
  }
  return false;
}

/* A Supplemental/EssentialProperty the walk acts on: in a set, the first without
 * schemeIdUri (the walk fails on it) and the schemes set_property and the bit depth know;
 * in a rep, the bit depth only. */
static bool keep_prop(uintptr_t *ps, const xmlChar **attrs, int nb) {
  static const char *const set_schemes[] = {
      "urn:mpeg:mpegB:cicp:ProgramLoudness", "urn:mpeg:mpegB:cicp:AnchorLoudness",
      "urn:mpeg:dash:adaptation-set-switching:2016", "amz-music:trackType"};
  bool set = ST_KIND(*ps) == K_SET;
  size_t len;
  if (!sax_attr(attrs, nb, "schemeIdUri", NULL, &len)) {
    if (!set || (ST_SEEN(*ps) & SEEN_NOSCHEME))
      return false;
    *ps |= (uintptr_t)SEEN_NOSCHEME << 4;
    return true;
  }
  if (sax_attr_is(attrs, nb, "schemeIdUri", "amz-music:bitDepth"))
    return true;
  for (size_t i = 0; set && i < sizeof(set_schemes) / sizeof(set_schemes[0]); i++)
    if (sax_attr_is(attrs, nb, "schemeIdUri", set_schemes[i]))
      return true;
  return false;
}

/* Take a first-only child: false if the parent has one already. */
static bool first(uintptr_t *ps, unsigned bit) {
  if (ST_SEEN(*ps) & bit)
    return false;
  *ps |= (uintptr_t)bit << 4;
  return true;
}

/* A counted child (Period, AdaptationSet, Representation): up to one past max, so that
 * the walk still sees that there are too many. */
static bool counted(uintptr_t *ps, unsigned max) {
  unsigned c = ST_COUNT(*ps);
  if (c > max)
    return false;
  *ps = (*ps & ~((uintptr_t)0xff << 16)) | (uintptr_t)(c + 1) << 16;
  return true;
}

enum verdict { DROP = 1, FLATTEN, SEGURL }; /* negated: never a kind */

/* What to do with element (name, uri) under a kept parent of state *ps: a kind to build,
 * or a verdict (enum verdict, negated). Updates *ps. */
static int classify(uintptr_t *ps, const xmlChar *name, const xmlChar *uri, const xmlChar **attrs,
                    int nb) {
  unsigned pk = ST_KIND(*ps);
  const char *nm = (const char *)name;
  bool mpd = is_mpd_uri(uri);
  if (pk == K_TEXT)
    return -FLATTEN;
  bool level = pk == K_PERIOD || pk == K_SET || pk == K_REP;
  bool rs = pk == K_SET || pk == K_REP;
  if (mpd && strcmp(nm, "BaseURL") == 0 && (pk == K_MPD || level))
    return first(ps, SEEN_BASEURL) ? K_TEXT : -DROP;
  if (mpd && pk == K_MPD && strcmp(nm, "Period") == 0)
    return counted(ps, MANIFEST_MAX_PERIODS) ? K_PERIOD : -DROP;
  if (mpd && pk == K_PERIOD && strcmp(nm, "AdaptationSet") == 0)
    return counted(ps, MANIFEST_MAX_SETS) ? K_SET : -DROP;
  if (mpd && pk == K_SET && strcmp(nm, "Representation") == 0)
    return counted(ps, MANIFEST_MAX_REPS) ? K_REP : -DROP;
  if (mpd && level && strcmp(nm, "SegmentList") == 0)
    return first(ps, SEEN_SEGLIST) ? K_SEGLIST : -DROP;
  if (mpd && level && strcmp(nm, "SegmentBase") == 0)
    return first(ps, SEEN_SEGBASE) ? K_SEGBASE : -DROP;
  if (mpd && level && strcmp(nm, "SegmentTemplate") == 0)
    return first(ps, SEEN_SEGTEMPLATE) ? K_LEAF : -DROP;
  if (mpd && rs && strcmp(nm, "AudioChannelConfiguration") == 0)
    return first(ps, SEEN_CHANCFG) ? K_LEAF : -DROP;
  if (mpd && rs && strcmp(nm, "ContentProtection") == 0)
    return keep_cp(ps, attrs, nb) ? K_CP : -DROP;
  if (mpd && rs &&
      (strcmp(nm, "SupplementalProperty") == 0 || strcmp(nm, "EssentialProperty") == 0))
    return keep_prop(ps, attrs, nb) ? K_LEAF : -DROP;
  if (rs && is_amazon_uri(uri) && strcmp(nm, "bitDepth") == 0)
    return first(ps, SEEN_BITDEPTH) ? K_TEXT : -DROP;
  if (mpd && (pk == K_SEGLIST || pk == K_SEGBASE) && strcmp(nm, "Initialization") == 0)
    return first(ps, SEEN_INIT) ? K_LEAF : -DROP;
  if (mpd && pk == K_SEGLIST && strcmp(nm, "SegmentTimeline") == 0)
    return first(ps, SEEN_TIMELINE) ? K_LEAF : -DROP;
  if (mpd && pk == K_SEGLIST && strcmp(nm, "SegmentURL") == 0)
    return -SEGURL;
  if (pk == K_CP && uri_is(uri, MANIFEST_NS_CENC) && strcmp(nm, "pssh") == 0)
    return first(ps, SEEN_PSSH) ? K_TEXT : -DROP;
  if (pk == K_CP &&
      (((uri_is(uri, MANIFEST_NS_DASHIF) &&
         (strcmp(nm, "Laurl") == 0 || strcmp(nm, "laurl") == 0)) ||
        (uri_is(uri, MANIFEST_NS_CLEARKEY) && strcmp(nm, "Laurl") == 0) ||
        (is_amazon_uri(uri) && (strcmp(nm, "LicenseUrl") == 0 || strcmp(nm, "licenseUrl") == 0)))))
    return first(ps, SEEN_LAURL) ? K_TEXT : -DROP;
  return -DROP;
}

static void stop(xmlParserCtxtPtr ctxt, struct manifest_sax *st) {
  st->oom = true;
  xmlStopParser(ctxt);
}

/* A SegmentURL into its list: mediaRange copied (trimmed), media only noted. */
static void add_segurl(xmlParserCtxtPtr ctxt, struct manifest_sax *st, struct manifest_knode *l,
                       const xmlChar **attrs, int nb) {
  size_t len = 0, mlen;
  const char *range = sax_attr(attrs, nb, "mediaRange", NULL, &len);
  if (l->n > MANIFEST_MAX_SEGMENTS) /* the walk refuses the list: one past is enough */
    return;
  struct manifest_segurl *u = malloc(sizeof(*u) + len + 1);
  if (!u) {
    stop(ctxt, st);
    return;
  }
  copy_value(u->range, range ? range : "", range ? range + len : "");
  u->next = NULL;
  u->line = ctxt->input ? ctxt->input->line : 0;
  u->has_range = range != NULL;
  u->media = sax_attr(attrs, nb, "media", NULL, &mlen) != NULL;
  if (l->tail)
    l->tail->next = u;
  else
    l->head = u;
  l->tail = u;
  l->n++;
}

static void on_start(void *ctx, const xmlChar *name, const xmlChar *prefix, const xmlChar *uri,
                     int nb_ns, const xmlChar **ns, int nb_attrs, int nb_defaulted,
                     const xmlChar **attrs) {
  xmlParserCtxtPtr ctxt = ctx;
  struct manifest_sax *st = ctxt->_private;
  if (st->skip) {
    st->skip++;
    return;
  }
  if (st->flatten) {
    st->flatten++;
    return;
  }
  xmlNodePtr parent = ctxt->node;
  uintptr_t ps = get_state(parent);
  int kind;
  if (!parent) {
    kind = is_mpd_uri(uri) && strcmp((const char *)name, "MPD") == 0 ? K_MPD : K_OTHER;
  } else if (!ps || ST_KIND(ps) == K_OTHER || ST_KIND(ps) == K_LEAF) {
    kind = -DROP;
  } else {
    kind = classify(&ps, name, uri, attrs, nb_attrs);
    set_state(parent, ps);
  }
  if (kind == -FLATTEN) {
    st->flatten = 1;
    return;
  }
  if (kind == -SEGURL)
    add_segurl(ctxt, st, parent->_private, attrs, nb_attrs);
  if (kind < 0) {
    st->skip = 1;
    return;
  }
  /* The attributes the walk reads go into the node's knode (libxml2's own cost ~220 bytes
   * each); namespace declarations only for the namespaces the walk matches. */
  const xmlChar *keep_ns_small[2 * 8], **keep_ns = keep_ns_small;
  const char *kns[32], *knames[32];
  int ka = 0, kn = 0, idx[32];
  size_t vbytes = 0;
  for (int i = 0; i < nb_attrs && ka < 32; i++) {
    if (!(knames[ka] = known_attr(attrs[5 * i], attrs[5 * i + 2], &kns[ka])))
      continue;
    vbytes += (size_t)(attrs[5 * i + 4] - attrs[5 * i + 3]) + 1;
    idx[ka++] = i;
  }
  struct manifest_knode *k = malloc(sizeof(*k) + (size_t)ka * sizeof(k->attrs[0]) + vbytes);
  if (!k) {
    stop(ctxt, st);
    return;
  }
  *k = (struct manifest_knode){.state = ST_MAKE(kind, 0, 0, 0), .n_attrs = (size_t)ka};
  char *v = (char *)(k->attrs + ka);
  for (int j = 0; j < ka; j++) {
    const xmlChar **a = attrs + 5 * idx[j];
    k->attrs[j].name = knames[j];
    k->attrs[j].ns = kns[j];
    k->attrs[j].value = v;
    v += copy_value(v, (const char *)a[3], (const char *)a[4]);
  }
  if (nb_ns > 8 && !(keep_ns = malloc((size_t)nb_ns * 2 * sizeof(*keep_ns)))) {
    free(k);
    stop(ctxt, st);
    return;
  }
  for (int i = 0; i < nb_ns; i++)
    if (known_uri(ns[2 * i + 1])) {
      keep_ns[2 * kn] = ns[2 * i];
      keep_ns[2 * kn + 1] = ns[2 * i + 1];
      kn++;
    }
  (void)nb_defaulted; /* defaults come from a DTD, and a DOCTYPE is refused */
  xmlSAX2StartElementNs(ctx, name, prefix, uri, kn, keep_ns, 0, 0, NULL);
  if (keep_ns != keep_ns_small)
    free(keep_ns);
  if (ctxt->node == parent) { /* not built (out of memory: libxml2 stops the parse) */
    free(k);
    return;
  }
  ctxt->node->_private = k;
  k->next = st->all;
  if (st->all)
    st->all->prev = k;
  st->all = k;
}

static void on_end(void *ctx, const xmlChar *name, const xmlChar *prefix, const xmlChar *uri) {
  xmlParserCtxtPtr ctxt = ctx;
  struct manifest_sax *st = ctxt->_private;
  if (st->skip) {
    st->skip--;
    return;
  }
  if (st->flatten) {
    st->flatten--;
    return;
  }
  xmlSAX2EndElementNs(ctx, name, prefix, uri);
}

/* Text only where the walk reads it. */
static bool text_wanted(xmlParserCtxtPtr ctxt, struct manifest_sax *st) {
  return !st->skip && ST_KIND(get_state(ctxt->node)) == K_TEXT;
}

static void on_chars(void *ctx, const xmlChar *ch, int len) {
  xmlParserCtxtPtr ctxt = ctx;
  if (text_wanted(ctxt, ctxt->_private))
    xmlSAX2Characters(ctx, ch, len);
}

static void on_reference(void *ctx, const xmlChar *name) {
  xmlParserCtxtPtr ctxt = ctx;
  if (text_wanted(ctxt, ctxt->_private))
    xmlSAX2Reference(ctx, name);
}

void manifest_sax_install(xmlParserCtxtPtr ctxt, struct manifest_sax *st) {
  ctxt->_private = st;
  ctxt->sax->startElementNs = on_start;
  ctxt->sax->endElementNs = on_end;
  ctxt->sax->characters = on_chars;
  ctxt->sax->ignorableWhitespace = on_chars;
  ctxt->sax->reference = on_reference;
  ctxt->sax->comment = NULL;
  ctxt->sax->processingInstruction = NULL;
}

static void free_knode(struct manifest_sax *st, struct manifest_knode *k) {
  if (k->prev)
    k->prev->next = k->next;
  else
    st->all = k->next;
  if (k->next)
    k->next->prev = k->prev;
  while (k->head) {
    struct manifest_segurl *u = k->head;
    k->head = u->next;
    free(u);
  }
  free(k);
}

void manifest_sax_free(struct manifest_sax *st, xmlNodePtr n) {
  for (xmlNodePtr c = n->children; c; c = c->next)
    if (c->type == XML_ELEMENT_NODE)
      manifest_sax_free(st, c);
  if (n->_private)
    free_knode(st, n->_private);
  n->_private = NULL;
}

void manifest_sax_done(struct manifest_sax *st) {
  while (st->all)
    free_knode(st, st->all);
}

const struct manifest_segurl *manifest_segurls(xmlNodePtr list, size_t *ret_n) {
  const struct manifest_knode *k = list ? list->_private : NULL;
  *ret_n = k ? k->n : 0;
  return k ? k->head : NULL;
}

const char *manifest_node_attr(xmlNodePtr n, const char *name, const char *ns) {
  const struct manifest_knode *k = n->_private;
  for (size_t i = 0; k && i < k->n_attrs; i++)
    if (strcmp(k->attrs[i].name, name) == 0 &&
        (ns ? k->attrs[i].ns && strcmp(k->attrs[i].ns, ns) == 0 : !k->attrs[i].ns))
      return k->attrs[i].value;
  return NULL;
}
