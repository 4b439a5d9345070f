/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_MEDIA_MANIFEST_INT_H
#define AMPD_MEDIA_MANIFEST_INT_H

/*
 * Private to the manifest module, shared by its three files:
 *   manifest.c       the document walk (MPD -> Period -> AdaptationSet -> Representation)
 *   manifest_xml.c   XML helpers (names by namespace URI), attributes, BaseURL policy,
 *                    ContentProtection
 *   manifest_util.c  XML-free parsing (numbers, durations, URLs, pssh, sidx) and accessors
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "media/manifest.h"

#define MANIFEST_NS_MPD "urn:mpeg:dash:schema:mpd:2011"
/* The capitalised spelling of the schemaLocation, which some packagers put in xmlns. */
#define MANIFEST_NS_MPD_OLD "urn:mpeg:DASH:schema:MPD:2011"
#define MANIFEST_NS_CENC "urn:mpeg:cenc:2013"
#define MANIFEST_NS_DASHIF "https://dashif.org/CPS"
#define MANIFEST_NS_CLEARKEY "http://dashif.org/guidelines/clearKey"
#define MANIFEST_NS_AMZ_DRM "urn:amazon:music:drm:2019"
#define MANIFEST_NS_AMZ_3P "urn:amazon:music:3p:music:2020"
#define MANIFEST_NS_XLINK "http://www.w3.org/1999/xlink"

#define MANIFEST_NS_PER_S 1000000000ull

/* Every string and array of the tree is one of these blocks, freed together. */
union manifest_mem {
  union manifest_mem *next;
  max_align_t align;
};

/* The reps of one set, mutable (the public tree is const): for the sidx and for free. */
struct manifest_rep_block {
  struct manifest_rep_block *next;
  struct manifest_rep *reps;
  /* segs[i] owns reps[i].segments when they came from a sidx (malloc'ed), else NULL: a
   * SegmentList's array is in the manifest's memory, maybe shared by reps */
  struct manifest_segment **segs;
  const size_t *n;
};

struct manifest {
  union manifest_mem *mem;
  struct manifest_rep_block *blocks;
  uint64_t duration_ns;
  bool remote;
  struct manifest_period *periods;
  size_t n_periods;
};

/* Where relative references resolve: a URL, a filesystem path, or nothing. */
struct manifest_base {
  const char *s; /* NULL: no base */
  bool is_path;
  bool from_mpd; /* a BaseURL element was applied (not just the origin) */
};

/* The last SegmentList array built: reps inheriting it with the same timing share it. */
struct manifest_seg_cache {
  xmlNodePtr urls;
  uint64_t dur, total; /* segment duration and period length, in the rep's timescale */
  const struct manifest_segment *segs;
  size_t n;
};

/* The state of one manifest_parse call. */
struct manifest_pctx {
  struct manifest *m;
  char *err;
  size_t errlen;
  uint64_t total_ns; /* duration of the period being parsed, 0 unknown */
  struct manifest_sax *sax;
  /* What is left of the budgets that keep the manifest proportional to the input where
   * reps inherit (manifest.h): bytes of resolved URLs, segment entries. */
  size_t url_budget, seg_budget;
  struct manifest_seg_cache seg_cache;
};

/* ---- manifest_sax.c: the tree builder (only what the walk reads) ---- */

/* The first error libxml2 reports (later ones are usually consequences). */
struct manifest_xml_error {
  bool seen;
  int line;
  char msg[160];
};

/* One SegmentURL, kept out of the tree: its mediaRange (trimmed) follows the struct. */
struct manifest_segurl {
  struct manifest_segurl *next;
  long line;
  bool media;     /* a media attribute (refused by the walk) */
  bool has_range; /* mediaRange present */
  char range[];
};

/* An attribute the walk reads, kept out of libxml2's tree. */
struct manifest_kattr {
  const char *name;
  const char *ns; /* NULL: unqualified, else one of the MANIFEST_NS_* strings */
  const char *value;
};

/* A kept element's _private: the builder's state, its SegmentURLs (a SegmentList), and
 * its attributes, whose values follow the array. */
struct manifest_knode {
  struct manifest_knode *prev, *next; /* all of the build (struct manifest_sax) */
  uintptr_t state;
  struct manifest_segurl *head, *tail;
  size_t n; /* SegmentURLs: at most MANIFEST_MAX_SEGMENTS + 1 (the walk refuses more) */
  size_t n_attrs;
  struct manifest_kattr attrs[];
};

/* The state of one tree build; ctxt->_private points at it. */
struct manifest_sax {
  struct manifest_xml_error fe;
  size_t skip;    /* depth inside a dropped element */
  size_t flatten; /* depth inside an element flattened into a text-bearing one */
  bool oom;
  struct manifest_knode *all; /* every kept element's knode, freed by manifest_sax_done */
};

/* Point ctxt's SAX2 handlers at the filtering builder. */
void manifest_sax_install(xmlParserCtxtPtr ctxt, struct manifest_sax *st);
/* Free the builder's data (knodes) of n and its subtree, before the nodes go. */
void manifest_sax_free(struct manifest_sax *st, xmlNodePtr n);
/* Free all of it (libxml2 may have freed a half-built tree itself). */
void manifest_sax_done(struct manifest_sax *st);
/* An attribute of a kept element (ns NULL: unqualified), untrimmed; NULL if absent. */
const char *manifest_node_attr(xmlNodePtr n, const char *name, const char *ns);
/* The SegmentURLs of a SegmentList element, document order; NULL and 0 if none. */
const struct manifest_segurl *manifest_segurls(xmlNodePtr list, size_t *ret_n);

/* ---- manifest_xml.c ---- */

/* Write "line N: <message>" to the error buffer; returns code. */
int manifest_fail(struct manifest_pctx *p, xmlNodePtr n, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The same, for a line number (0: none) instead of a node. */
int manifest_fail_line(struct manifest_pctx *p, long line, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Zeroed memory owned by m (freed by manifest_free); NULL on overflow or ENOMEM. */
void *manifest_alloc(struct manifest *m, size_t n);
void *manifest_alloc_array(struct manifest *m, size_t count, size_t size);
char *manifest_strndup(struct manifest *m, const char *s, size_t n);

bool manifest_ns_is(xmlNsPtr ns, const char *uri);
bool manifest_ns_is_mpd(xmlNsPtr ns);
bool manifest_ns_is_amazon(xmlNsPtr ns);
bool manifest_name_is(xmlNodePtr n, const char *name);
/* An element of this local name in the MPD namespace. */
bool manifest_is_mpd_el(xmlNodePtr n, const char *name);
xmlNodePtr manifest_first_child(xmlNodePtr n, const char *name);
size_t manifest_count_children(xmlNodePtr n, const char *name);
const char *manifest_trim(const char *s, size_t *ret_len);

/* Attribute (ns NULL: unqualified) or element text, trimmed, copied into m, bounded by
 * MANIFEST_MAX_STRING (-AMP_ETOOBIG); *ret = NULL when the attribute is absent. */
int manifest_attr(struct manifest_pctx *p, xmlNodePtr n, const char *name, const char *ns,
                  const char **ret);
int manifest_attr_amazon(struct manifest_pctx *p, xmlNodePtr n, const char *name, const char **ret);
int manifest_text(struct manifest_pctx *p, xmlNodePtr n, size_t max, const char **ret);
/* Typed attributes; absent leaves *ret alone and sets *ret_has = false. */
int manifest_attr_u64(struct manifest_pctx *p, xmlNodePtr n, const char *name, uint64_t max,
                      bool *ret_has, uint64_t *ret);
int manifest_attr_range(struct manifest_pctx *p, xmlNodePtr n, const char *name, bool *ret_has,
                        struct manifest_range *ret);
/* "first-last" (inclusive, first <= last) in s, the value of attribute name at line. */
int manifest_parse_range(struct manifest_pctx *p, long line, const char *name, const char *s,
                         struct manifest_range *ret);
int manifest_attr_duration(struct manifest_pctx *p, xmlNodePtr n, const char *name,
                           uint64_t *ret_ns);

/* Charge n bytes of resolved URL to p->url_budget: 0 or -AMP_ETOOBIG. */
int manifest_charge_url(struct manifest_pctx *p, xmlNodePtr n, size_t bytes);
/* Apply n's first BaseURL child to *b under the URL policy of manifest.h. */
int manifest_apply_base(struct manifest_pctx *p, xmlNodePtr n, struct manifest_base *b);
/* n's ContentProtection children; one default_KID per level. */
int manifest_parse_protection(struct manifest_pctx *p, xmlNodePtr n,
                              struct manifest_protection *prot);
/* The set's protection into the rep's (effective protection). */
int manifest_merge_protection(struct manifest_pctx *p, xmlNodePtr n,
                              const struct manifest_protection *set,
                              struct manifest_protection *rep);
int manifest_parse_channels(struct manifest_pctx *p, xmlNodePtr n, uint32_t *ret);
int manifest_parse_bit_depth(struct manifest_pctx *p, xmlNodePtr n, uint32_t *ret);

/* ---- manifest_util.c (no XML) ---- */

/* Decimal digits only, no sign, no white space, no overflow. */
bool manifest_parse_u64(const char *s, uint64_t *ret);
/* "-13.5 LUFS" (LKFS or no unit too), locale-independent. */
bool manifest_parse_loudness(const char *s, float *ret);
/* 8-4-4-4-12 hex, either case. */
bool manifest_parse_uuid(const char *s, uint8_t out[16]);
/* Length of a leading "scheme:" (RFC 3986 §3.1), 0 if none. */
size_t manifest_scheme_len(const char *s);
/* "https://" (any case) followed by a non-empty authority. */
bool manifest_is_https(const char *s);
/* Resolve ref against the https URL base (RFC 3986 §5.2, fragments dropped, no
 * re-encoding) into out, which holds strlen(base) + strlen(ref) + 3 bytes. 0 or -ENOMEM. */
int manifest_url_resolve(const char *base, const char *ref, char *out);
/* A whole pssh box of this system: size, type, version 0/1, KIDs and data in bounds. */
bool manifest_pssh_valid(const uint8_t *b, size_t len, const uint8_t sysid[16]);

#endif
