/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_MEDIA_MANIFEST_H
#define AMPD_MEDIA_MANIFEST_H

/*
 * The DASH MPD parser: a static, on-demand MPD (bytes in memory) becomes a read-only tree
 *     manifest -> periods -> adaptation sets -> representations -> byte-range segments
 * with the content protection (default_KID, pssh boxes, license URLs) each level signals.
 *
 * Namespaces are matched by URI, never by prefix (docs/service.md §7): the Amazon manifests
 * change prefixes between deliveries. An element or attribute in an unknown namespace is
 * ignored, even when its prefix is a familiar one.
 *
 * Addressing: SegmentList (Initialization@range + SegmentURL@mediaRange, as Amazon and
 * ffmpeg -single_file write it) and SegmentBase (Initialization@range + @indexRange; the
 * caller fetches the index range and hands the sidx box to manifest_rep_set_segments_from_sidx).
 * SegmentTemplate, SegmentTimeline, xlink and type="dynamic" are -AMP_EUNSUPPORTED.
 *
 * URL policy (decided here, enforced at parse time):
 *  - A manifest fetched from the network (origin starts with "https://") resolves every
 *    BaseURL (MPD -> Period -> AdaptationSet -> Representation, RFC 3986 §5.2) and the
 *    result must be an https:// URL. http:, file:, data: or any other scheme is
 *    -AMP_EMANIFEST. The resolver does not re-encode: signed query strings stay byte-exact.
 *  - A local manifest (origin is a filesystem path) may name files by RELATIVE paths only;
 *    they resolve against the manifest's directory and the result is a path. ".." is
 *    allowed (no confinement: a local manifest is trusted as much as the user who points
 *    ampd at it), but absolute paths, "file:" URLs and other schemes are -AMP_EMANIFEST.
 *    An absolute https:// BaseURL is allowed in a local manifest (a saved copy of a network
 *    manifest); everything below it then follows the network rule.
 *  - origin NULL: only absolute https:// BaseURLs are accepted.
 *  - An origin with any other scheme (http://, file://, ...) is -AMP_EINSECURE.
 *  - When a level has several BaseURL elements (alternative CDNs), the first one is used.
 *  - Resolved URLs and license URLs start with a lower-case "https://". Error messages
 *    quote URLs without their query (signed CDN URLs are credentials of a sort).
 *  - Every representation must have a BaseURL at some level (the media is one file per
 *    rep, addressed by byte ranges); none at all is -AMP_EMANIFEST. SegmentURL@media and
 *    Initialization@sourceURL (one file per segment) are -AMP_EUNSUPPORTED.
 *
 * Threads: manifest_parse may be called from any thread; it calls xmlInitParser() exactly
 * once per process (pthread_once), and during the parse it points libxml2's per-thread
 * generic error channel at a no-op (restored afterwards) so that nothing reaches stderr. A parsed
 * manifest is immutable except through manifest_rep_set_segments_from_sidx, which the owner must
 * not race with readers.
 *
 * libxml2 is run hardened: XML_PARSE_NONET, no entity substitution (no XML_PARSE_NOENT),
 * no DTD loading or validation, no XML_PARSE_HUGE, XML_PARSE_NOERROR|XML_PARSE_NOWARNING
 * (errors are captured into errbuf, never printed). Any DOCTYPE is refused.
 *
 * Memory: for any input within the bounds below, manifest_parse's heap at its peak (libxml2's,
 * the walk's and the manifest's together) is at most 8 x len + 1 MiB, and the manifest it
 * returns no more. tests/unit/test_manifest_memory.c measures the worst shapes. What makes it
 * hold: libxml2 builds only the elements, attributes and text the parser reads (markup it
 * ignores costs nothing past the parse buffers); SegmentURLs are kept as a compact list, not
 * as elements; a pssh box takes what its base64 decodes to; a rep's part of the tree is freed
 * once the rep is parsed; and what reps inherit is budgeted (MANIFEST_URL_SLACK,
 * MANIFEST_SEG_BYTES_PER). Markup the parser ignores is not checked either (an unknown
 * element's attribute is not held to MANIFEST_MAX_STRING). Not included: the segments
 * manifest_rep_set_segments_from_sidx adds later (32 bytes each, up to MANIFEST_MAX_SEGMENTS
 * per call).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds. Exceeding any of them is -AMP_ETOOBIG. */
/* Manifest bytes: Amazon's are ~10-60 kB; 4 MiB leaves room for 100k-segment lists. */
#define MANIFEST_MAX_BYTES (4u << 20)
/* XML elements in the document (each SegmentURL is one). */
#define MANIFEST_MAX_ELEMENTS 200000u
/* Periods per MPD (Amazon: one). */
#define MANIFEST_MAX_PERIODS 16u
/* AdaptationSets per Period (Amazon: LD/SD/HD/3D). */
#define MANIFEST_MAX_SETS 32u
/* Representations per AdaptationSet. */
#define MANIFEST_MAX_REPS 32u
/* Segments per Representation (10 s each: 11 days; 1 s each: 27 hours). */
#define MANIFEST_MAX_SEGMENTS 100000u
/* urn:uuid ContentProtection elements (DRM systems) per AdaptationSet or Representation. */
#define MANIFEST_MAX_DRM 8u
/* Decoded pssh box bytes (a Widevine pssh is ~100 bytes; v1 boxes list KIDs). */
#define MANIFEST_MAX_PSSH 16384u
/* Any attribute or element text we keep (ids, codecs, URLs with signed queries). */
#define MANIFEST_MAX_STRING 8192u
/* Set ids in one adaptation-set-switching list. */
#define MANIFEST_MAX_SWITCH 32u
/* Reps inherit: every rep holds its own resolved BaseURL and its own copy of a SegmentList
 * it inherits (the times are in its timescale). So that a few bytes of input per rep cannot
 * make kilobytes of manifest, the resolved URLs of all levels together may take at most
 * the manifest's size + MANIFEST_URL_SLACK bytes, and all reps together at most
 * size / MANIFEST_SEG_BYTES_PER + MANIFEST_SEG_SLACK segments (a rep's own list always
 * fits: a SegmentURL is more bytes than that). */
#define MANIFEST_URL_SLACK (256u << 10)
#define MANIFEST_SEG_BYTES_PER 8u
#define MANIFEST_SEG_SLACK 16384u

/* An inclusive byte range [first, last] in the representation's file. */
struct manifest_range {
  uint64_t first;
  uint64_t last;
};

/* One media segment: a byte range plus its place on the rep's timeline. */
struct manifest_segment {
  uint64_t first; /* first byte, inclusive */
  uint64_t last;  /* last byte, inclusive */
  /* Time, in manifest_rep.timescale units. SegmentList: start = i * @duration from the
   * period start (presentationTimeOffset is not applied), and the last segment is cut to
   * end with the period (its duration, else mediaPresentationDuration) when that falls
   * inside it. sidx: from earliest_presentation_time. Informational: the media's tfdt
   * is authoritative. */
  uint64_t start;
  uint64_t duration;
};

enum manifest_drm_system {
  MANIFEST_DRM_OTHER = 0,  /* a urn:uuid we do not know (system_id is still filled) */
  MANIFEST_DRM_WIDEVINE,   /* urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed */
  MANIFEST_DRM_CLEARKEY,   /* urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e (DASH-IF) */
  MANIFEST_DRM_W3C_COMMON, /* urn:uuid:1077efec-c0b2-4d02-ace3-3c1e52e2fb4b (W3C ClearKey) */
};

/* One ContentProtection element with a urn:uuid scheme. */
struct manifest_drm {
  enum manifest_drm_system system;
  uint8_t system_id[16];
  const uint8_t *pssh; /* the whole decoded pssh box (checked: size, 'pssh', system id), or NULL */
  size_t pssh_len;
  /* License URL from dashif:Laurl / dashif:laurl (https://dashif.org/CPS), clearkey:Laurl
   * (http://dashif.org/guidelines/clearKey) or LicenseUrl / licenseUrl in
   * urn:amazon:music:drm:2019 or urn:amazon:music:3p:music:2020; whitespace-trimmed and not
   * resolved (a license URL must be absolute). NULL if none. */
  const char *license_url;
};

/* What one level (set or rep) signals. A rep's effective protection merges its set's. */
struct manifest_protection {
  bool cenc;                      /* mp4protection:2011 value="cenc" seen */
  bool has_kid;                   /* cenc:default_KID present */
  uint8_t kid[16];                /* default_KID bytes (UUID form decoded) */
  const struct manifest_drm *drm; /* urn:uuid ContentProtection entries, document order */
  size_t n_drm;
};

struct manifest_set;

struct manifest_rep {
  const char *id;        /* never NULL */
  const char *codecs;    /* "opus", "flac", "mp4a.40.2", ...; NULL if absent (also inherited) */
  const char *mime_type; /* "audio/mp4"; inherited from the set; NULL if absent */
  uint32_t sample_rate;  /* audioSamplingRate (Hz), inherited; 0 if absent */
  uint32_t channels;     /* AudioChannelConfiguration value (rep, else set); 0 if absent */
  /* bitDepth in an Amazon namespace (urn:amazon:music:3p:music:2020 or
   * urn:amazon:music:drm:2019), as an attribute or a child element, or a
   * SupplementalProperty schemeIdUri="amz-music:bitDepth"; rep, else set; 0 if absent. */
  uint32_t bit_depth;
  uint64_t bandwidth; /* bits per second (required) */
  bool has_quality_ranking;
  uint32_t quality_ranking; /* lower is better; comparable only within the set */

  /* Resolved BaseURL: an https:// URL, or a filesystem path when url_is_path. Never NULL. */
  const char *url;
  bool url_is_path;

  /* Addressing. timescale is in ticks per second (default 1). */
  bool segment_base; /* SegmentBase: segments come from the sidx (see below) */
  uint32_t timescale;
  bool has_init;
  struct manifest_range init; /* Initialization@range */
  bool has_index;
  struct manifest_range index;             /* SegmentBase@indexRange */
  const struct manifest_segment *segments; /* SegmentList, or after the sidx was set */
  size_t n_segments;

  /* Effective: the set's drm entries, then the rep's; the rep's default_KID, else the
   * set's. All reps of a set carry the same KID (or all none), else the parse fails. */
  struct manifest_protection protection;
  const struct manifest_set *set; /* the set that holds this rep */
};

struct manifest_set {
  const char *id;              /* AdaptationSet@id; NULL if absent */
  const char *content_type;    /* contentType, NULL if absent */
  const char *mime_type;       /* NULL if absent */
  uint32_t selection_priority; /* default 1 (DASH) */
  /* trackType (LD|SD|HD|3D): SupplementalProperty schemeIdUri="amz-music:trackType", or a
   * trackType attribute in an Amazon namespace; NULL if absent. */
  const char *track_type;
  bool has_program_loudness;
  float program_loudness; /* LUFS, urn:mpeg:mpegB:cicp:ProgramLoudness */
  bool has_anchor_loudness;
  float anchor_loudness; /* LUFS, urn:mpeg:mpegB:cicp:AnchorLoudness */
  /* adaptation-set-switching:2016: the sets (same period) this one may switch to, in list
   * order; unknown ids and self-references are dropped. */
  const struct manifest_set *const *switch_targets;
  size_t n_switch_targets;
  struct manifest_protection protection; /* set level only */
  const struct manifest_rep *reps;       /* document order */
  size_t n_reps;
  /* reps ranked best first: by qualityRanking ascending (reps without one after the ranked
   * ones), ties by bandwidth descending, then document order. n_reps entries. */
  const struct manifest_rep *const *ranked;
};

struct manifest_period {
  const char *id;       /* NULL if absent */
  uint64_t start_ns;    /* Period@start (0 if absent) */
  uint64_t duration_ns; /* Period@duration, else MPD duration minus start for the last; 0 unknown */
  const struct manifest_set *sets;
  size_t n_sets;
};

struct manifest;

/*
 * Parse an MPD. origin is the manifest's URL ("https://...") or filesystem path (see the URL
 * policy above), or NULL. On success *ret is a new manifest (free with manifest_free) and
 * errbuf is untouched; on failure *ret is unchanged, and errbuf (if errlen > 0) holds a
 * one-line reason, including the XML line number when known.
 * Errors: -EINVAL (NULL args), -ENOMEM, -AMP_ETOOBIG (a bound above), -AMP_EMANIFEST
 * (malformed XML or MPD: missing required attributes, bad ranges/durations/base64/UUIDs,
 * conflicting default_KIDs in one set, a URL refused by the policy), -AMP_EUNSUPPORTED
 * (dynamic MPD, SegmentTemplate/Timeline, xlink), -AMP_EINSECURE (origin scheme).
 */
int manifest_parse(const uint8_t *xml, size_t len, const char *origin, struct manifest **ret,
                   char *errbuf, size_t errlen);

/* Accepts NULL. Invalidates every pointer obtained from m. */
void manifest_free(struct manifest *m);

/* mediaPresentationDuration in ns, 0 if absent. */
uint64_t manifest_duration_ns(const struct manifest *m);
/* True when the origin was an https URL (the network rule applies). */
bool manifest_is_remote(const struct manifest *m);

const struct manifest_period *manifest_periods(const struct manifest *m, size_t *ret_n);
/* The first period's sets (Amazon manifests have one period). *ret_n = 0 if none. */
const struct manifest_set *manifest_adaptation_sets(const struct manifest *m, size_t *ret_n);

/* The first representation with this id, in any period or set; NULL if none. */
const struct manifest_rep *manifest_find_rep(const struct manifest *m, const char *id);

/* The sets set may switch to (same as set->switch_targets). */
const struct manifest_set *const *manifest_switch_targets(const struct manifest_set *set,
                                                          size_t *ret_n);

/* The set's reps best first (same as set->ranked); ABR ladders walk this. */
const struct manifest_rep *const *manifest_set_ranked(const struct manifest_set *set,
                                                      size_t *ret_n);

/* The license URL of the first drm entry of this system in rep's effective protection that
 * has one, or NULL. */
const char *manifest_license_url(const struct manifest_rep *rep, enum manifest_drm_system sys);
/* The first pssh box of this system, or NULL (then *ret_len = 0). */
const uint8_t *manifest_pssh(const struct manifest_rep *rep, enum manifest_drm_system sys,
                             size_t *ret_len);

/*
 * Parse a 'sidx' box (the bytes of the rep's indexRange, starting with the box header).
 * sidx_file_offset is the file offset of the box's first byte; segment byte ranges are
 * absolute file offsets: the first starts at sidx_file_offset + box size + first_offset.
 * Times are in the sidx timescale, starting at earliest_presentation_time. Hierarchical
 * sidx (reference_type 1) is -AMP_EUNSUPPORTED. On success *ret_segments is malloc'ed
 * (caller frees) and *ret_n > 0.
 * Errors: -EINVAL, -ENOMEM, -AMP_EMP4 (truncated, not a sidx, zero timescale, overflow),
 * -AMP_ETOOBIG (more than MANIFEST_MAX_SEGMENTS references).
 */
int manifest_sidx_parse(const uint8_t *sidx, size_t len, uint64_t sidx_file_offset,
                        struct manifest_segment **ret_segments, size_t *ret_n,
                        uint32_t *ret_timescale);

/*
 * Fill a SegmentBase rep's segment list from its sidx (see manifest_sidx_parse); rep must
 * belong to m (else -EINVAL). Replaces the rep's timescale with the sidx timescale. On
 * failure the rep is unchanged. Also accepted on a SegmentList rep (replaces its list).
 */
int manifest_rep_set_segments_from_sidx(struct manifest *m, const struct manifest_rep *rep,
                                        const uint8_t *sidx, size_t len, uint64_t sidx_file_offset);

/* ISO 8601 duration as DASH uses it: "PnDTnHnMn.nS" (years/months refused: their length is
 * not fixed). Fractions to ns, truncated. 0 or -AMP_EMANIFEST (syntax, overflow). */
int manifest_parse_duration(const char *s, uint64_t *ret_ns);

#endif
