/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_CLOUD_APIDOC_H
#define AMPD_CLOUD_APIDOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/http.h"

/*
 * The pure parsing layer of the Device API client (docs/service.md §3-§5): documents,
 * their references, the audio object and the 409 general error report. No network, no
 * state besides the objects returned.
 *
 * Errors: 0 or negative. -AMP_ETOOBIG: a stated bound below is exceeded (the input, a
 * string, a count). -AMP_EJSON: not JSON, nested too deep, or a member of the wrong type.
 * -AMP_EPROTO: a header name or value the audio object must not carry (CR, LF, another
 * control byte, a name that is not a token). -AMP_EINSECURE: a URL that is not https.
 * -ENOENT: a local reference the document does not define. -EINVAL: bad arguments.
 * -ENOMEM.
 *
 * Everything a document, an audio object or an error report points to is owned by it
 * and lives until its _free (which accepts NULL). Outputs are set only on success.
 */

#define APIDOC_MAX_BYTES (1u << 20)         /* bytes of one document */
#define APIDOC_MAX_DEPTH 32                 /* JSON nesting of a document, audio or error */
#define APIDOC_MAX_DICTS 64                 /* dictionaries in one document */
#define APIDOC_MAX_ENTRIES 4096             /* named objects in one dictionary */
#define APIDOC_MAX_CHUNK_TRACKS 1024        /* track instances listed by one chunk */
#define APIDOC_MAX_NODE_ITEMS 256           /* items of one navigation node */
#define APIDOC_TEXT_MAX 1024                /* bytes of a title, name, tag, terse, brief, label */
#define APIDOC_EXPLANATION_MAX 4096         /* bytes of an error report's explanation */
#define APIDOC_REF_MAX HTTP_URL_MAX         /* bytes of a reference or a URI */
#define APIDOC_AUDIO_MAX_BYTES (512u << 10) /* bytes of one audio object's JSON */
#define APIDOC_HEADERS_MAX 20               /* entries in one header list (§4) */
#define APIDOC_HEADER_NAME_MAX 256          /* bytes of a header name (§4) */
#define APIDOC_HEADER_VALUE_MAX 4096        /* bytes of a header value (§4) */
#define APIDOC_ERROR_MAX_BYTES (64u << 10)  /* bytes of a 409 body */
#define APIDOC_MAX_CHOICES 8                /* choices of one error report */

struct apidoc;

/*
 * Parse a document (len bytes, need not be NUL-terminated, at most APIDOC_MAX_BYTES)
 * fetched from final_url (the URL after redirects, https, copied): its "result" (a
 * reference, or absent) and every object-valued top-level member as a dictionary of
 * named objects (a dictionary's name is at most APIDOC_TEXT_MAX bytes, an entry's
 * APIDOC_REF_MAX); a null member is an empty dictionary, a missing one is simply empty.
 * The entries of trackContainerChunkDescriptions, trackInstances, trackDefinitions,
 * navigationNodeDescriptions and navigationNodeSummaries are checked and converted
 * here: one malformed entry refuses the document. Other dictionaries are kept by name
 * only.
 * -AMP_ETOOBIG, -AMP_EJSON, -AMP_EINSECURE (final_url not https), -EINVAL, -ENOMEM.
 */
int apidoc_parse(const char *json, size_t len, const char *final_url, struct apidoc **ret);
void apidoc_free(struct apidoc *d);

/* The document's "result" reference, or NULL when it has none. */
const char *apidoc_result(const struct apidoc *d);
/* The final URL given to apidoc_parse. */
const char *apidoc_final_url(const struct apidoc *d);

/* Walking the dictionaries: their count, the i-th name, its entry count and names.
 * Out-of-range indexes give 0 / NULL. */
size_t apidoc_n_dicts(const struct apidoc *d);
const char *apidoc_dict_name(const struct apidoc *d, size_t i);
size_t apidoc_n_entries(const struct apidoc *d, size_t i);
const char *apidoc_entry_name(const struct apidoc *d, size_t i, size_t j);

enum apidoc_ref_kind {
  APIDOC_REF_LOCAL, /* "#name": an object of this document */
  APIDOC_REF_URL,   /* anything else: a URL to fetch */
};

/*
 * Resolve a reference. "#name" is looked up in the document's dictionaries: *ret_kind
 * becomes APIDOC_REF_LOCAL and out the name of the dictionary holding it (-ENOENT when
 * none does). Anything else is a relative or absolute URL resolved against the final URL:
 * APIDOC_REF_URL and out the absolute URL, which must be https (-AMP_EINSECURE
 * otherwise; -EINVAL when malformed). The reference is followed as given, never built.
 * -AMP_ETOOBIG when the result does not fit n bytes (with its NUL) or APIDOC_REF_MAX.
 */
int apidoc_resolve(const struct apidoc *d, const char *ref, enum apidoc_ref_kind *ret_kind,
                   char *out, size_t n);

/* {"chunk": ref, "indexWithinChunk": n}; present is false for a null or absent pointer. */
struct apidoc_track_pointer {
  bool present;
  const char *chunk; /* a reference (local or URL) */
  uint32_t index;    /* indexWithinChunk, <= INT32_MAX */
};

/* A trackContainerChunkDescriptions entry (§3). */
struct apidoc_chunk {
  const char *title;         /* NULL when absent */
  size_t n_tracks;           /* <= APIDOC_MAX_CHUNK_TRACKS */
  const char *const *tracks; /* track instance references, in play order */
  struct apidoc_track_pointer first, last, prev, next; /* first/last/prev/nextTrackPointer */
};

/* A trackInstances entry (§3). */
struct apidoc_track_instance {
  const char *track_definition;         /* reference, never NULL */
  const char *playback_event_collector; /* reference (§6), NULL when absent */
};

/* A trackDefinitions entry (§3). Strings are NULL when absent. */
struct apidoc_track_definition {
  const char *title, *track_tag, *artist, *album, *image_uri;
  double duration;       /* as the document gives it, 0 .. 1e9; -1 when absent */
  bool is_explicit;      /* isExplicit */
  bool auto_skip;        /* autoSkipOnError */
  const char *error;     /* reference to a general error report, NULL when absent */
  const char *audio;     /* an inline audio object as JSON text (apidoc_audio_parse), or NULL */
  size_t audio_len;      /* strlen(audio) */
  const char *audio_ref; /* or a reference to fetch it from (a new session each time), or NULL */
};

/* A navigationNodeDescriptions entry (docs/service.md §3): a node to browse. */
struct apidoc_node {
  const char *title;        /* NULL when absent */
  size_t n_items;           /* <= APIDOC_MAX_NODE_ITEMS */
  const char *const *items; /* local references to navigationNodeSummaries entries */
};

/* A navigationNodeSummaries entry (docs/service.md §3). */
struct apidoc_summary {
  const char *title, *description; /* NULL when absent */
  bool playable;                   /* ref leads to a container (its first chunk) */
  const char *ref;                 /* the node's document: never NULL */
};

/* The object a local reference names, from its typed dictionary. -ENOENT when the
 * reference is not local or not in that dictionary. The result is owned by d. */
int apidoc_chunk(const struct apidoc *d, const char *ref, const struct apidoc_chunk **ret);
int apidoc_track_instance(const struct apidoc *d, const char *ref,
                          const struct apidoc_track_instance **ret);
int apidoc_track_definition(const struct apidoc *d, const char *ref,
                            const struct apidoc_track_definition **ret);
int apidoc_node(const struct apidoc *d, const char *ref, const struct apidoc_node **ret);
int apidoc_summary(const struct apidoc *d, const char *ref, const struct apidoc_summary **ret);

struct apidoc_headers {
  size_t n;                    /* <= APIDOC_HEADERS_MAX */
  const struct http_header *h; /* each passed http_header_check() */
};

/* The audio object (§4). */
struct apidoc_audio {
  const char *uri;                              /* the DASH manifest, https */
  int64_t expires_ms;                           /* epoch milliseconds */
  struct apidoc_headers key, manifest, segment; /* key, manifestHeaders, audioSegmentHeaders */
};

/*
 * Parse an audio object ({"uri", "expires", "headers": {"key", "manifestHeaders",
 * "audioSegmentHeaders"}}, at most APIDOC_AUDIO_MAX_BYTES). "expires" is epoch seconds,
 * or milliseconds when above 10^11. Each header list is [{"name": .., "value": ..}] or
 * {name: value}; null or absent is empty. The whole object is refused when: a list has
 * more than APIDOC_HEADERS_MAX entries, a name is over APIDOC_HEADER_NAME_MAX bytes or a
 * value over APIDOC_HEADER_VALUE_MAX (-AMP_ETOOBIG); a name or value holds CR or LF or
 * fails http_header_check() (-AMP_EPROTO); the uri is not an absolute URL starting with
 * "https://" (-AMP_EINSECURE; -EINVAL when curl cannot parse it); a
 * member is missing or of the wrong type (-AMP_EJSON). Free with apidoc_audio_free.
 */
int apidoc_audio_parse(const char *json, size_t len, struct apidoc_audio **ret);
void apidoc_audio_free(struct apidoc_audio *a);

struct apidoc_choice {
  const char *label; /* <= APIDOC_TEXT_MAX bytes */
  const char *ref;   /* <= APIDOC_REF_MAX bytes */
};

/* A general error report (§5, the body of a 409). */
struct apidoc_error {
  const char *terse, *brief; /* <= APIDOC_TEXT_MAX bytes, NULL when absent */
  const char *explanation;   /* <= APIDOC_EXPLANATION_MAX bytes, NULL when absent */
  size_t n_choices;          /* <= APIDOC_MAX_CHOICES */
  struct apidoc_choice choices[APIDOC_MAX_CHOICES];
};

/*
 * Parse a 409 body (at most APIDOC_ERROR_MAX_BYTES): an object with terse, brief,
 * explanation and choices [{"label": .., "ref": ..}], either bare or as a document whose
 * "result" names it locally. [ours] A choice's reference is taken from "ref", else "link",
 * else "uri". -AMP_ETOOBIG, -AMP_EJSON (also when it has none of terse, brief and
 * explanation), -EINVAL, -ENOMEM. Free with apidoc_error_free.
 */
int apidoc_general_error(const char *json, size_t len, struct apidoc_error **ret);
void apidoc_error_free(struct apidoc_error *e);

#endif
