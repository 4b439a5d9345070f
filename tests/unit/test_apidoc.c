/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloud/apidoc: Device API documents walked from result to audio object, references
 * (local, relative, after a redirect, insecure), the audio object's forms and every one
 * of its bounds at the limit and one over, and the 409 general error report
 * (docs/service.md §3-§5).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cloud/apidoc.h"
#include "core/err.h"
#include "net/http.h"

/* The URL the document came from after a redirect; the request went to
 * https://api.example.com/old/playlists/42. */
#define FINAL_URL "https://api.example.com/v1/playlists/42?page=1"

#define DEF(n, explicit_)                                                                          \
  "\"td" #n "\": {\"title\": \"Song " #n "\", \"trackTag\": \"B00000000" #n "\","                  \
  "\"artist\": {\"name\": \"Artist " #n "\"}, \"album\": {\"name\": \"Album\"},"                   \
  "\"duration\": 21" #n ", \"image\": {\"uri\": \"https://img.example.com/" #n ".jpg\"},"          \
  "\"isExplicit\": " explicit_ ", \"autoSkipOnError\": true,"                                      \
  "\"audio\": {\"uri\": \"https://cdn.example.com/t" #n "/manifest.mpd\","                         \
  "\"expires\": 170000000" #n ", \"headers\": {\"key\": [{\"name\": \"x-amz-key\","                \
  "\"value\": \"k" #n "\"}], \"manifestHeaders\": {\"Cookie\": \"c=" #n "\"},"                     \
  "\"audioSegmentHeaders\": null}}}"

static const char DOC[] =
    "{\"result\": \"#chunk0\","
    "\"trackContainerChunkDescriptions\": {\"chunk0\": {\"title\": \"Mix\","
    "\"trackInstances\": [\"#ti0\", \"#ti1\", \"#ti2\"],"
    "\"firstTrackPointer\": {\"chunk\": \"#chunk0\", \"indexWithinChunk\": 0},"
    "\"lastTrackPointer\": null, \"prevTrackPointer\": null,"
    "\"nextTrackPointer\": {\"chunk\": \"chunks/2?token=abc\", \"indexWithinChunk\": 1}}},"
    "\"trackInstances\": {"
    "\"ti0\": {\"trackDefinition\": \"#td0\", \"playbackEventCollector\": \"../collector/ti0\"},"
    "\"ti1\": {\"trackDefinition\": \"#td1\", \"playbackEventCollector\": \"../collector/ti1\"},"
    "\"ti2\": {\"trackDefinition\": \"#td2\", \"playbackEventCollector\": \"../collector/ti2\"}},"
    "\"trackDefinitions\": {" DEF(0, "false") "," DEF(1, "true") "," DEF(
        2, "false") "},"
                    "\"navigationNodeSummaries\": {\"nav0\": {\"title\": \"Home\", "
                    "\"description\": \"Start here\", \"ref\": \"/nav/home\"}}"
                    "}";

static struct apidoc *parse_ok(const char *json, const char *url) {
  struct apidoc *d = NULL;
  assert_int_equal(apidoc_parse(json, strlen(json), url, &d), 0);
  assert_non_null(d);
  return d;
}

static void test_walk(void **state) {
  (void)state;
  struct apidoc *d = parse_ok(DOC, FINAL_URL);
  assert_string_equal(apidoc_result(d), "#chunk0");
  assert_int_equal(apidoc_n_dicts(d), 4);

  const struct apidoc_chunk *c = NULL;
  assert_int_equal(apidoc_chunk(d, apidoc_result(d), &c), 0);
  assert_string_equal(c->title, "Mix");
  assert_int_equal(c->n_tracks, 3);
  assert_true(c->first.present);
  assert_string_equal(c->first.chunk, "#chunk0");
  assert_int_equal(c->first.index, 0);
  assert_false(c->last.present);
  assert_false(c->prev.present);
  assert_true(c->next.present);
  assert_int_equal(c->next.index, 1);

  char url[APIDOC_REF_MAX + 1];
  enum apidoc_ref_kind kind;
  assert_int_equal(apidoc_resolve(d, c->next.chunk, &kind, url, sizeof(url)), 0);
  assert_int_equal(kind, APIDOC_REF_URL);
  assert_string_equal(url, "https://api.example.com/v1/playlists/chunks/2?token=abc");

  for (size_t i = 0; i < c->n_tracks; i++) {
    const struct apidoc_track_instance *ti = NULL;
    assert_int_equal(apidoc_track_instance(d, c->tracks[i], &ti), 0);
    char want[64];
    snprintf(want, sizeof(want), "https://api.example.com/v1/collector/ti%zu", i);
    assert_int_equal(apidoc_resolve(d, ti->playback_event_collector, &kind, url, sizeof(url)), 0);
    assert_int_equal(kind, APIDOC_REF_URL);
    assert_string_equal(url, want);

    const struct apidoc_track_definition *td = NULL;
    assert_int_equal(apidoc_track_definition(d, ti->track_definition, &td), 0);
    snprintf(want, sizeof(want), "Song %zu", i);
    assert_string_equal(td->title, want);
    snprintf(want, sizeof(want), "B00000000%zu", i);
    assert_string_equal(td->track_tag, want);
    snprintf(want, sizeof(want), "Artist %zu", i);
    assert_string_equal(td->artist, want);
    assert_string_equal(td->album, "Album");
    assert_true(td->duration == 210.0 + (double)i);
    snprintf(want, sizeof(want), "https://img.example.com/%zu.jpg", i);
    assert_string_equal(td->image_uri, want);
    assert_int_equal(td->is_explicit, i == 1);
    assert_true(td->auto_skip);
    assert_null(td->error);
    assert_non_null(td->audio);

    struct apidoc_audio *a = NULL;
    assert_int_equal(apidoc_audio_parse(td->audio, td->audio_len, &a), 0);
    snprintf(want, sizeof(want), "https://cdn.example.com/t%zu/manifest.mpd", i);
    assert_string_equal(a->uri, want);
    assert_int_equal(a->expires_ms, (1700000000 + (int64_t)i) * 1000);
    assert_int_equal(a->key.n, 1);
    assert_string_equal(a->key.h[0].name, "x-amz-key");
    snprintf(want, sizeof(want), "k%zu", i);
    assert_string_equal(a->key.h[0].value, want);
    assert_int_equal(a->manifest.n, 1);
    assert_string_equal(a->manifest.h[0].name, "Cookie");
    assert_int_equal(a->segment.n, 0);
    apidoc_audio_free(a);
  }

  /* A navigation summary is found by a local reference, in its own dictionary. */
  assert_int_equal(apidoc_resolve(d, "#nav0", &kind, url, sizeof(url)), 0);
  assert_int_equal(kind, APIDOC_REF_LOCAL);
  assert_string_equal(url, "navigationNodeSummaries");
  assert_int_equal(apidoc_resolve(d, "#td2", &kind, url, sizeof(url)), 0);
  assert_string_equal(url, "trackDefinitions");
  assert_int_equal(apidoc_resolve(d, "#nope", &kind, url, sizeof(url)), -ENOENT);
  /* A typed accessor does not take an object of another dictionary, nor a URL. */
  const struct apidoc_chunk *c2 = NULL;
  assert_int_equal(apidoc_chunk(d, "#nav0", &c2), -ENOENT);
  assert_int_equal(apidoc_chunk(d, "#ti0", &c2), -ENOENT);
  assert_int_equal(apidoc_chunk(d, "chunks/2", &c2), -ENOENT);
  assert_null(c2);
  apidoc_free(d);
}

static void test_references(void **state) {
  (void)state;
  char url[APIDOC_REF_MAX + 1];
  enum apidoc_ref_kind kind;
  /* After a redirect, references resolve against the final URL, not the request's. */
  struct apidoc *d = parse_ok(DOC, "https://edge.example.net/v2/lists/x");
  assert_int_equal(apidoc_resolve(d, "chunks/2?token=abc", &kind, url, sizeof(url)), 0);
  assert_string_equal(url, "https://edge.example.net/v2/lists/chunks/2?token=abc");
  assert_int_equal(apidoc_resolve(d, "/top/doc", &kind, url, sizeof(url)), 0);
  assert_string_equal(url, "https://edge.example.net/top/doc");
  assert_int_equal(apidoc_resolve(d, "//cdn.example.com/a", &kind, url, sizeof(url)), 0);
  assert_string_equal(url, "https://cdn.example.com/a");
  assert_int_equal(apidoc_resolve(d, "https://other.example.org/b", &kind, url, sizeof(url)), 0);
  assert_string_equal(url, "https://other.example.org/b");
  assert_int_equal(kind, APIDOC_REF_URL);
  /* An insecure reference is refused, whatever the base. */
  assert_int_equal(apidoc_resolve(d, "http://api.example.com/x", &kind, url, sizeof(url)),
                   -AMP_EINSECURE);
  assert_int_equal(apidoc_resolve(d, "ftp://api.example.com/x", &kind, url, sizeof(url)),
                   -AMP_EINSECURE);
  /* The output bound: one byte short of the URL and its NUL. */
  const char *want = "https://edge.example.net/top/doc";
  assert_int_equal(apidoc_resolve(d, "/top/doc", &kind, url, strlen(want) + 1), 0);
  assert_int_equal(apidoc_resolve(d, "/top/doc", &kind, url, strlen(want)), -AMP_ETOOBIG);
  apidoc_free(d);

  /* A document from a non-https URL is refused. */
  struct apidoc *bad = NULL;
  assert_int_equal(apidoc_parse(DOC, strlen(DOC), "http://api.example.com/", &bad), -AMP_EINSECURE);
  assert_null(bad);
}

static void test_empty_dicts(void **state) {
  (void)state;
  const char *json = "{\"result\": \"#td0\", \"trackDefinitions\": null, \"trackInstances\": {},"
                     "\"navigationNodeSummaries\": null, \"version\": 3}";
  struct apidoc *d = parse_ok(json, FINAL_URL);
  assert_int_equal(apidoc_n_dicts(d), 1); /* the empty trackInstances */
  assert_int_equal(apidoc_n_entries(d, 0), 0);
  const struct apidoc_track_definition *td = NULL;
  assert_int_equal(apidoc_track_definition(d, "#td0", &td), -ENOENT);
  char out[64];
  enum apidoc_ref_kind kind;
  assert_int_equal(apidoc_resolve(d, "#td0", &kind, out, sizeof(out)), -ENOENT);
  apidoc_free(d);

  d = parse_ok("{}", FINAL_URL);
  assert_null(apidoc_result(d));
  assert_int_equal(apidoc_n_dicts(d), 0);
  apidoc_free(d);

  /* A named dictionary of the wrong type, a malformed entry, trailing junk. */
  static const char *const bad[] = {
      "{\"trackInstances\": []}",
      "{\"trackInstances\": {\"a\": {\"playbackEventCollector\": \"x\"}}}",
      "{\"trackDefinitions\": {\"a\": {\"isExplicit\": \"yes\"}}}",
      ("{\"trackContainerChunkDescriptions\": {\"c\": {\"nextTrackPointer\": "
       "{\"chunk\": \"#c\", \"indexWithinChunk\": -1}}}}"),
      "{\"trackContainerChunkDescriptions\": {\"c\": {\"trackInstances\": [1]}}}",
      "{} x",
      "[]",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    struct apidoc *x = NULL;
    assert_int_equal(apidoc_parse(bad[i], strlen(bad[i]), FINAL_URL, &x), -AMP_EJSON);
    assert_null(x);
  }
}

/* A malloc'd string: head, n copies of c, tail. */
static char *grow(const char *head, char c, size_t n, const char *tail) {
  size_t h = strlen(head), t = strlen(tail);
  char *s = malloc(h + n + t + 1);
  assert_non_null(s);
  memcpy(s, head, h);
  memset(s + h, c, n);
  memcpy(s + h + n, tail, t + 1);
  return s;
}

static int parse_str(const char *json) {
  struct apidoc *d = NULL;
  int r = apidoc_parse(json, strlen(json), FINAL_URL, &d);
  apidoc_free(d);
  return r;
}

static void test_doc_bounds(void **state) {
  (void)state;
  /* Depth: 1 object + 31 arrays is the bound, one more is refused before parsing. */
  char *open = grow("{\"a\":", '[', APIDOC_MAX_DEPTH - 1, "");
  char *close = grow("", ']', APIDOC_MAX_DEPTH - 1, "}");
  size_t lo = strlen(open), lc = strlen(close);
  char *deep = malloc(lo + lc + 3);
  assert_non_null(deep);
  memcpy(deep, open, lo);
  memcpy(deep + lo, close, lc + 1);
  assert_int_equal(parse_str(deep), 0);
  memcpy(deep, open, lo);
  memcpy(deep + lo, "[]", 2);
  memcpy(deep + lo + 2, close, lc + 1);
  /* now 1 + 32 nested levels: valid JSON, refused by the depth bound */
  assert_int_equal(parse_str(deep), -AMP_EJSON);
  free(open);
  free(close);
  free(deep);

  /* Size: exactly APIDOC_MAX_BYTES parses, one more byte is -AMP_ETOOBIG. */
  char *big = grow("{\"a\":\"", 'x', APIDOC_MAX_BYTES - 8, "\"}");
  assert_int_equal(strlen(big), APIDOC_MAX_BYTES);
  assert_int_equal(parse_str(big), 0);
  free(big);
  big = grow("{\"a\":\"", 'x', APIDOC_MAX_BYTES - 7, "\"}");
  assert_int_equal(parse_str(big), -AMP_ETOOBIG);
  free(big);

  /* A title at its bound and one over. */
  char *t = grow("{\"trackDefinitions\": {\"a\": {\"title\": \"", 't', APIDOC_TEXT_MAX, "\"}}}");
  assert_int_equal(parse_str(t), 0);
  free(t);
  t = grow("{\"trackDefinitions\": {\"a\": {\"title\": \"", 't', APIDOC_TEXT_MAX + 1, "\"}}}");
  assert_int_equal(parse_str(t), -AMP_ETOOBIG);
  free(t);
  /* A dictionary's name at its bound and one over (apidoc_resolve hands it out). */
  char *dn = grow("{\"", 'd', APIDOC_TEXT_MAX, "\": {\"e\": 1}}");
  struct apidoc *d = parse_ok(dn, FINAL_URL);
  char out[APIDOC_TEXT_MAX + 1];
  enum apidoc_ref_kind kind;
  assert_int_equal(apidoc_resolve(d, "#e", &kind, out, sizeof(out)), 0);
  assert_int_equal(strlen(out), APIDOC_TEXT_MAX);
  apidoc_free(d);
  free(dn);
  dn = grow("{\"", 'd', APIDOC_TEXT_MAX + 1, "\": {\"e\": 1}}");
  assert_int_equal(parse_str(dn), -AMP_ETOOBIG);
  free(dn);
  /* A chunk listing APIDOC_MAX_CHUNK_TRACKS instances and one more. */
  for (int over = 0; over <= 1; over++) {
    size_t n = APIDOC_MAX_CHUNK_TRACKS + (size_t)over;
    char *s = grow("{\"trackContainerChunkDescriptions\": {\"c\": {\"trackInstances\": [", ' ',
                   n * 5, "]}}}");
    char *p = strchr(s, '[') + 1;
    for (size_t i = 0; i < n; i++)
      memcpy(p + i * 5, i + 1 < n ? "\"#a\"," : "\"#a\" ", 5);
    assert_int_equal(parse_str(s), over ? -AMP_ETOOBIG : 0);
    free(s);
  }
}

static int audio(const char *json, struct apidoc_audio **ret) {
  *ret = NULL;
  return apidoc_audio_parse(json, strlen(json), ret);
}

static void test_audio_expires(void **state) {
  (void)state;
  struct apidoc_audio *a;
  static const struct {
    const char *v;
    int64_t ms;
  } cases[] = {
      {"1700000000", 1700000000000LL},     {"1700000000.5", 1700000000500LL},
      {"100000000000", 100000000000000LL}, /* 10^11: still seconds */
      {"100000000001", 100000000001LL},    /* above: milliseconds */
      {"1700000000123", 1700000000123LL},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char json[256];
    snprintf(json, sizeof(json), "{\"uri\": \"https://cdn.example.com/m.mpd\", \"expires\": %s}",
             cases[i].v);
    assert_int_equal(audio(json, &a), 0);
    assert_int_equal(a->expires_ms, cases[i].ms);
    assert_int_equal(a->key.n + a->manifest.n + a->segment.n, 0);
    apidoc_audio_free(a);
  }
  assert_int_equal(audio("{\"uri\": \"https://cdn.example.com/m.mpd\"}", &a), -AMP_EJSON);
  assert_int_equal(audio("{\"uri\": \"https://c/m\", \"expires\": -1}", &a), -AMP_EJSON);
  assert_int_equal(audio("{\"uri\": \"http://cdn.example.com/m.mpd\", \"expires\": 1}", &a),
                   -AMP_EINSECURE);
  /* curl would take "https:/host/m" for https://host/m; the uri must read as https. */
  assert_int_equal(audio("{\"uri\": \"https:/cdn.example.com/m.mpd\", \"expires\": 1}", &a),
                   -AMP_EINSECURE);
  assert_null(a);
}

static void test_audio_forms(void **state) {
  (void)state;
  struct apidoc_audio *a;
  const char *json = "{\"uri\": \"https://cdn.example.com/m.mpd\", \"expires\": 1,"
                     "\"headers\": {\"key\": [{\"name\": \"x-a\", \"value\": \"1\"},"
                     "{\"name\": \"Authorization\", \"value\": \"Bearer t\"}],"
                     "\"manifestHeaders\": {\"x-b\": \"2\", \"Cookie\": \"k=v; l=w\"},"
                     "\"audioSegmentHeaders\": {\"x-c\": \"\"}}}";
  assert_int_equal(audio(json, &a), 0);
  assert_int_equal(a->key.n, 2);
  assert_string_equal(a->key.h[1].name, "Authorization");
  assert_string_equal(a->key.h[1].value, "Bearer t");
  assert_int_equal(a->manifest.n, 2);
  assert_string_equal(a->manifest.h[0].name, "x-b");
  assert_string_equal(a->manifest.h[1].value, "k=v; l=w");
  assert_int_equal(a->segment.n, 1);
  assert_string_equal(a->segment.h[0].value, "");
  apidoc_audio_free(a);
}

/* An audio object with one header list built from n entries "x-<i>": value, where entry
 * 0 has the given name and value instead (NULL: the default). */
static char *audio_list(bool array, size_t n, const char *name0, const char *value0) {
  size_t cap = 1024 + n * 64 + (name0 ? strlen(name0) : 0) + (value0 ? strlen(value0) : 0);
  char *s = malloc(cap);
  assert_non_null(s);
  size_t o = (size_t)snprintf(s, cap,
                              "{\"uri\": \"https://cdn.example.com/m.mpd\", \"expires\": 1, "
                              "\"headers\": {\"key\": %c",
                              array ? '[' : '{');
  for (size_t i = 0; i < n; i++) {
    char nm[32];
    snprintf(nm, sizeof(nm), "x-%zu", i);
    const char *k = i == 0 && name0 ? name0 : nm;
    const char *v = i == 0 && value0 ? value0 : "v";
    if (array)
      o += (size_t)snprintf(s + o, cap - o, "%s{\"name\": \"%s\", \"value\": \"%s\"}", i ? "," : "",
                            k, v);
    else
      o += (size_t)snprintf(s + o, cap - o, "%s\"%s\": \"%s\"", i ? "," : "", k, v);
  }
  snprintf(s + o, cap - o, "%c}}", array ? ']' : '}');
  return s;
}

static int audio_list_r(bool array, size_t n, const char *name0, const char *value0) {
  char *s = audio_list(array, n, name0, value0);
  struct apidoc_audio *a = NULL;
  int r = apidoc_audio_parse(s, strlen(s), &a);
  if (r == 0) {
    assert_int_equal(a->key.n, n);
    for (size_t i = 0; i < a->key.n; i++)
      assert_int_equal(http_header_check(a->key.h[i].name, a->key.h[i].value), 0);
  } else {
    assert_null(a);
  }
  apidoc_audio_free(a);
  free(s);
  return r;
}

static void test_audio_bounds(void **state) {
  (void)state;
  char *name_max = grow("x-", 'n', APIDOC_HEADER_NAME_MAX - 2, "");
  char *name_over = grow("x-", 'n', APIDOC_HEADER_NAME_MAX - 1, "");
  char *value_max = grow("", 'v', APIDOC_HEADER_VALUE_MAX, "");
  char *value_over = grow("", 'v', APIDOC_HEADER_VALUE_MAX + 1, "");
  for (int array = 0; array <= 1; array++) {
    assert_int_equal(audio_list_r(array, APIDOC_HEADERS_MAX, NULL, NULL), 0);
    assert_int_equal(audio_list_r(array, APIDOC_HEADERS_MAX + 1, NULL, NULL), -AMP_ETOOBIG);
    assert_int_equal(audio_list_r(array, 1, name_max, NULL), 0);
    assert_int_equal(audio_list_r(array, 1, name_over, NULL), -AMP_ETOOBIG);
    assert_int_equal(audio_list_r(array, 1, NULL, value_max), 0);
    assert_int_equal(audio_list_r(array, 1, NULL, value_over), -AMP_ETOOBIG);
    /* CR/LF injection, in the value and in the name (JSON escapes), and a non-token. */
    assert_int_equal(audio_list_r(array, 2, NULL, "a\\r\\nX-Evil: 1"), -AMP_EPROTO);
    assert_int_equal(audio_list_r(array, 2, NULL, "a\\nb"), -AMP_EPROTO);
    assert_int_equal(audio_list_r(array, 2, NULL, "a\\rb"), -AMP_EPROTO);
    assert_int_equal(audio_list_r(array, 2, "x-a\\r\\nHost", NULL), -AMP_EPROTO);
    assert_int_equal(audio_list_r(array, 2, "x a", NULL), -AMP_EPROTO);
    assert_int_equal(audio_list_r(array, 2, "", NULL), array ? -AMP_EJSON : -AMP_EPROTO);
  }
  free(name_max);
  free(name_over);
  free(value_max);
  free(value_over);
  struct apidoc_audio *a;
  assert_int_equal(audio("{\"uri\": \"https://c/m\", \"expires\": 1, \"headers\": "
                         "{\"key\": [{\"name\": \"x-a\", \"value\": 1}]}}",
                         &a),
                   -AMP_EJSON);
  assert_int_equal(audio("{\"uri\": \"https://c/m\", \"expires\": 1, \"headers\": []}", &a),
                   -AMP_EJSON);
}

static void test_general_error(void **state) {
  (void)state;
  const char *json = "{\"terse\": \"Too many streams\", \"brief\": \"Playing elsewhere\","
                     "\"explanation\": \"Your account is playing music on another device.\","
                     "\"choices\": [{\"label\": \"Play here\", \"ref\": \"streams/claim\"},"
                     "{\"label\": \"Cancel\", \"link\": \"#cancel\"}]}";
  struct apidoc_error *e = NULL;
  assert_int_equal(apidoc_general_error(json, strlen(json), &e), 0);
  assert_string_equal(e->terse, "Too many streams");
  assert_string_equal(e->brief, "Playing elsewhere");
  assert_string_equal(e->explanation, "Your account is playing music on another device.");
  assert_int_equal(e->n_choices, 2);
  assert_string_equal(e->choices[0].label, "Play here");
  assert_string_equal(e->choices[0].ref, "streams/claim");
  assert_string_equal(e->choices[1].ref, "#cancel");
  apidoc_error_free(e);

  /* As a document whose result names the report. */
  const char *doc = "{\"result\": \"#e\", \"generalErrorReports\": {\"e\": {\"terse\": \"Billing\","
                    "\"choices\": null}}}";
  e = NULL;
  assert_int_equal(apidoc_general_error(doc, strlen(doc), &e), 0);
  assert_string_equal(e->terse, "Billing");
  assert_null(e->brief);
  assert_int_equal(e->n_choices, 0);
  apidoc_error_free(e);

  /* APIDOC_MAX_CHOICES and one more. */
  for (int over = 0; over <= 1; over++) {
    char buf[2048];
    size_t o = (size_t)snprintf(buf, sizeof(buf), "{\"terse\": \"t\", \"choices\": [");
    for (int i = 0; i < APIDOC_MAX_CHOICES + over; i++)
      o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s{\"label\": \"l\", \"ref\": \"#r\"}",
                            i ? "," : "");
    snprintf(buf + o, sizeof(buf) - o, "]}");
    e = NULL;
    assert_int_equal(apidoc_general_error(buf, strlen(buf), &e), over ? -AMP_ETOOBIG : 0);
    if (!over)
      assert_int_equal(e->n_choices, APIDOC_MAX_CHOICES);
    apidoc_error_free(e);
  }
  /* Explanation at its bound and one over; a body without any text; a choice without ref. */
  for (int over = 0; over <= 1; over++) {
    char *s = grow("{\"explanation\": \"", 'e', APIDOC_EXPLANATION_MAX + (size_t)over, "\"}");
    e = NULL;
    assert_int_equal(apidoc_general_error(s, strlen(s), &e), over ? -AMP_ETOOBIG : 0);
    apidoc_error_free(e);
    free(s);
  }
  e = NULL;
  assert_int_equal(apidoc_general_error("{\"choices\": []}", 15, &e), -AMP_EJSON);
  const char *noref = "{\"terse\": \"t\", \"choices\": [{\"label\": \"l\"}]}";
  assert_int_equal(apidoc_general_error(noref, strlen(noref), &e), -AMP_EJSON);
  assert_null(e);
}

/* Navigation nodes and summaries (docs/service.md §3, [ours]) are typed; an audio object
 * may be a reference to fetch instead of inline. Malformed entries refuse the document. */
static void test_navigation(void **state) {
  (void)state;
  static const char nav[] =
      "{\"result\": \"#root\","
      "\"navigationNodeDescriptions\": {\"root\": {\"title\": \"Home\","
      "\"items\": [\"#albums\", \"#radio\"]}},"
      "\"navigationNodeSummaries\": {"
      "\"albums\": {\"title\": \"Albums\", \"ref\": \"nav/albums\"},"
      "\"radio\": {\"title\": \"Radio\", \"description\": \"Endless\", \"playable\": true,"
      "\"ref\": \"../containers/station\"}},"
      "\"trackDefinitions\": {\"t\": {\"title\": \"X\", \"audio\": \"../audio/t?x=1\"}}}";
  struct apidoc *d = parse_ok(nav, "https://api.example.com/api/");
  const struct apidoc_node *n = NULL;
  assert_int_equal(apidoc_node(d, apidoc_result(d), &n), 0);
  assert_string_equal(n->title, "Home");
  assert_int_equal(n->n_items, 2);
  const struct apidoc_summary *m = NULL;
  assert_int_equal(apidoc_summary(d, n->items[0], &m), 0);
  assert_string_equal(m->title, "Albums");
  assert_null(m->description);
  assert_false(m->playable);
  assert_int_equal(apidoc_summary(d, n->items[1], &m), 0);
  assert_true(m->playable);
  assert_string_equal(m->description, "Endless");
  char url[HTTP_URL_MAX];
  enum apidoc_ref_kind kind;
  assert_int_equal(apidoc_resolve(d, m->ref, &kind, url, sizeof(url)), 0);
  assert_int_equal(kind, APIDOC_REF_URL);
  assert_string_equal(url, "https://api.example.com/containers/station");
  assert_int_equal(apidoc_node(d, "#albums", &n), -ENOENT); /* a summary, not a node */
  const struct apidoc_track_definition *t = NULL;
  assert_int_equal(apidoc_track_definition(d, "#t", &t), 0);
  assert_null(t->audio);
  assert_string_equal(t->audio_ref, "../audio/t?x=1");
  apidoc_free(d);

  static const char *const bad[] = {
      "{\"navigationNodeSummaries\": {\"a\": {\"title\": \"no ref\"}}}",
      "{\"navigationNodeSummaries\": {\"a\": {\"ref\": \"\"}}}",
      "{\"navigationNodeSummaries\": {\"a\": {\"ref\": \"x\", \"playable\": 1}}}",
      "{\"navigationNodeDescriptions\": {\"a\": {\"items\": \"#x\"}}}",
      "{\"navigationNodeDescriptions\": {\"a\": {\"items\": [\"\"]}}}",
      "{\"navigationNodeDescriptions\": {\"a\": {\"items\": [7]}}}",
      "{\"trackDefinitions\": {\"t\": {\"audio\": \"\"}}}",
      "{\"trackDefinitions\": {\"t\": {\"audio\": 5}}}",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    struct apidoc *x = NULL;
    assert_int_equal(apidoc_parse(bad[i], strlen(bad[i]), FINAL_URL, &x), -AMP_EJSON);
    assert_null(x);
  }
  /* The items bound. */
  char big[64 + (APIDOC_MAX_NODE_ITEMS + 1) * 6];
  size_t o =
      (size_t)snprintf(big, sizeof(big), "{\"navigationNodeDescriptions\": {\"a\": {\"items\": [");
  for (size_t i = 0; i <= APIDOC_MAX_NODE_ITEMS; i++)
    o += (size_t)snprintf(big + o, sizeof(big) - o, "%s\"#x\"", i ? "," : "");
  o += (size_t)snprintf(big + o, sizeof(big) - o, "]}}}");
  struct apidoc *x = NULL;
  assert_int_equal(apidoc_parse(big, o, FINAL_URL, &x), -AMP_ETOOBIG);
}

/* A NUL in any string (raw or \u0000) refuses the whole text: cJSON would cut the string
 * there (a header value, a URI, a reference cut short). Bytes after the value too. */
static void test_nul_and_trailing(void **state) {
  (void)state;
  static const char *const audio[] = {
      ("{\"uri\": \"https://cdn.example.com/m.mpd\", \"expires\": 1700000000, \"headers\": "
       "{\"key\": {\"x-amz-music-rid\": \"abc\\u0000evil\"}}}"),
      "{\"uri\": \"https://cdn.example.com/m.mpd\\u0000.evil\", \"expires\": 1700000000}",
      "{\"uri\": \"https://cdn.example.com/m.mpd\", \"expires\": 1700000000} x",
  };
  for (size_t i = 0; i < sizeof(audio) / sizeof(audio[0]); i++) {
    struct apidoc_audio *a = NULL;
    assert_int_equal(apidoc_audio_parse(audio[i], strlen(audio[i]), &a), -AMP_EJSON);
    assert_null(a);
  }
  /* A raw NUL inside the given length. */
  static const char raw[] = "{\"result\": \"#a\0b\"}";
  struct apidoc *d = NULL;
  assert_int_equal(apidoc_parse(raw, sizeof(raw) - 1, FINAL_URL, &d), -AMP_EJSON);
  static const char esc[] = "{\"result\": \"#a\\u0000b\"}";
  assert_int_equal(apidoc_parse(esc, sizeof(esc) - 1, FINAL_URL, &d), -AMP_EJSON);
  /* An escaped backslash before u0000 is not a NUL. */
  static const char ok[] = "{\"result\": \"#a\\\\u0000b\"}";
  assert_int_equal(apidoc_parse(ok, sizeof(ok) - 1, FINAL_URL, &d), 0);
  apidoc_free(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_walk),          cmocka_unit_test(test_references),
      cmocka_unit_test(test_navigation),    cmocka_unit_test(test_nul_and_trailing),
      cmocka_unit_test(test_empty_dicts),   cmocka_unit_test(test_doc_bounds),
      cmocka_unit_test(test_audio_expires), cmocka_unit_test(test_audio_forms),
      cmocka_unit_test(test_audio_bounds),  cmocka_unit_test(test_general_error),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
