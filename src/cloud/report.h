/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_CLOUD_REPORT_H
#define AMPD_CLOUD_REPORT_H

#include <stddef.h>
#include <stdint.h>

/*
 * report: the playback-event reporter (docs/service.md §6). Every event is serialized
 * (report_event_json, the one place that knows the schema), appended to a durable
 * evqueue file BEFORE anything is sent, and then POSTed to its track instance's
 * playbackEventCollector by a sender on the loop: one request at a time, oldest record
 * first, so events reach the collector in the order they were submitted.
 *
 * Outcomes of one POST:
 *   2xx                      the record is acknowledged (evqueue_ack) and the next sent.
 *   5xx, 408, 429, 3xx, TLS, network errors, timeouts
 *                            the record stays; it is sent again after a backoff with
 *                            jitter between backoff_min_ms and backoff_max_ms, for as long
 *                            as it takes (the eventId makes a resend harmless).
 *   401                      on_token_rejected runs and the record is sent once more (the
 *                            headers callback is asked again); a second 401 is a 4xx.
 *   any other 4xx, or a refused (insecure, cross-origin) redirect
 *                            on_stop runs once for that event (the collector said no:
 *                            playback must stop), the record is dropped (acknowledged) so
 *                            the queue does not wedge, and counted in stats.rejected.
 * A record that cannot be parsed back (no URL) is dropped and counted in stats.corrupt.
 *
 * On report_new() the records a previous run left pending (a crash, kill -9) are sent
 * first, in order. A record sent but not yet acknowledged when the process died is sent
 * again: the collector de-duplicates on eventId.
 *
 * Record payload: "<collector URL>\n<event JSON>". PROGRESS events are of kind
 * REPORT_KIND_PROGRESS, which the queue may drop (oldest first) to make room; every
 * other event is REPORT_KIND_EVENT, never dropped.
 *
 * Logging: failures at debug/notice with the status and the queue seq only; never a
 * body, a header value or a URL (a collector URL may be signed). One warning per streak
 * of failed appends (report_submit also returns the error).
 *
 * Everything belongs to the loop's thread. Errors: 0 or negative -errno / -AMP_E*.
 */

struct loop;
struct http;
struct http_header;
struct report;

/* Bounds. */
#define REPORT_EVENT_ID_SIZE 37        /* a UUID string (36) + NUL */
#define REPORT_TAG_MAX 64              /* bytes of trackTag (an ASIN) */
#define REPORT_QUALITY_MAX 32          /* bytes of quality */
#define REPORT_ERROR_CODE_MAX 64       /* bytes of errorCode */
#define REPORT_JSON_MAX 1024           /* bytes of one serialized event, NUL included */
#define REPORT_URL_MAX 2048            /* bytes of a collector URL */
#define REPORT_HEADERS_MAX 8           /* headers the headers callback may add */
#define REPORT_OFFSET_MAX (1ull << 53) /* offsets above this are refused (JSON numbers) */

/* evqueue kinds of the records. */
#define REPORT_KIND_EVENT 0u
#define REPORT_KIND_PROGRESS 1u

enum report_type {
  REPORT_STARTED,
  REPORT_PAUSED,
  REPORT_RESUMED,
  REPORT_SEEKED,
  REPORT_PROGRESS,
  REPORT_STOPPED,
  REPORT_FINISHED,
  REPORT_ERROR,
};

struct report_event {
  enum report_type type;
  uint64_t offset_ms;     /* from the audio clock (docs/service.md §6), <= REPORT_OFFSET_MAX */
  const char *track_tag;  /* the ASIN: required, 1..REPORT_TAG_MAX bytes */
  const char *quality;    /* "HD_44", ...: required, 1..REPORT_QUALITY_MAX bytes */
  uint64_t seek_from_ms;  /* SEEKED only: where the seek started */
  const char *error_code; /* ERROR only: required there, 1..REPORT_ERROR_CODE_MAX bytes */
};

/* The wire name of t ("PLAYBACK_STARTED", ...), or NULL for a value out of range. */
const char *report_type_name(enum report_type t);

/* A random (version 4, RFC 9562) UUID, lower-case: 36 characters and a NUL in out.
 * 0, or the -errno of getrandom. */
int report_uuid_v4(char out[REPORT_EVENT_ID_SIZE]);

/* Serialize e as the event JSON of docs/service.md §6 (one line, no trailing newline)
 * into out (out_size bytes, at most REPORT_JSON_MAX are ever needed), with eventId
 * event_id and eventTimestamp wall_usec (microseconds since the epoch, written as
 * ISO-8601 UTC with milliseconds: "2026-12-01T21:22:41.123Z"). *ret_len (may be NULL)
 * gets the length without the NUL. -EINVAL for a missing or over-long field, a bad
 * type or an offset past REPORT_OFFSET_MAX; -AMP_ETOOBIG when out is too small;
 * -ENOMEM. Pure: no clock, no randomness. */
int report_event_json(const struct report_event *e, const char *event_id, int64_t wall_usec,
                      char *out, size_t out_size, size_t *ret_len);

/* Fill out[0..max) with the headers of a POST (the authorization header, hasExplicit,
 * ...) and *ret_n with their number (<= max). The strings must stay valid until the
 * callback is called again or the reporter is freed (the request copies them at start).
 * A negative return (no token yet) makes the sender wait a backoff and ask again. */
typedef int (*report_headers_fn)(void *userdata, struct http_header *out, size_t max,
                                 size_t *ret_n);
/* The collector refused an event (status, 0 when no response, and the error): playback
 * must stop. event_id is "" when the record held no readable id. */
typedef void (*report_stop_fn)(void *userdata, const char *event_id, long status, int err);
/* The collector answered 401: the token should be refreshed. */
typedef void (*report_token_fn)(void *userdata);

struct report_config {
  const char *queue_path; /* the evqueue file (required) */
  size_t max_bytes;       /* evqueue bounds; 0: its defaults */
  size_t max_records;
  uint32_t backoff_min_ms;           /* first retry after about this (0: 1000) */
  uint32_t backoff_max_ms;           /* no wait is longer (0: 60000) */
  uint32_t timeout_ms;               /* one POST (0: 30000) */
  report_headers_fn headers;         /* may be NULL: no extra headers */
  report_stop_fn on_stop;            /* may be NULL */
  report_token_fn on_token_rejected; /* may be NULL */
  void *userdata;                    /* for the three callbacks */
};

struct report_stats {
  uint64_t submitted;    /* events appended by this reporter */
  uint64_t sent;         /* records acknowledged after a 2xx */
  uint64_t retries;      /* sends that failed and will be repeated */
  uint64_t rejected;     /* records dropped after a 4xx (on_stop ran) */
  uint64_t corrupt;      /* unreadable records dropped */
  uint64_t append_fails; /* report_submit calls whose append failed */
  size_t pending;        /* records in the queue, in flight included */
  uint64_t dropped;      /* PROGRESS records the queue dropped to make room */
};

/* Open the queue (cfg->queue_path) and start sending what it holds. l and h must outlive
 * the reporter; cfg's strings are copied. -EINVAL, -ENOMEM, or the error of
 * evqueue_open. */
int report_new(struct loop *l, struct http *h, const struct report_config *cfg,
               struct report **ret);

/* Cancel the request in flight (the record stays queued), close the queue, free. Accepts
 * NULL. Not from one of the reporter's callbacks. */
void report_free(struct report *r);

/* Give e an eventId and the current wall time, serialize it, append it durably with the
 * collector URL (an https URL of at most REPORT_URL_MAX - 1 bytes), then kick the sender.
 * *ret_event_id (may be NULL) gets the eventId. Errors: those of report_event_json,
 * -EINVAL / -AMP_EINSECURE for the URL, and the append's: -AMP_ETOOBIG (the queue is full
 * of precious records), -ENOSPC, -EFBIG, -EIO. Nothing is queued on error. */
int report_submit(struct report *r, const struct report_event *e, const char *collector_url,
                  char ret_event_id[REPORT_EVENT_ID_SIZE]);

void report_stats(const struct report *r, struct report_stats *ret);

#endif
