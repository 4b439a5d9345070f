/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz cloud/apidoc (docs/service.md §3-§5): the input is a Device API document, parsed
 * from a fixed https final URL; every dictionary entry is looked up by its local reference
 * and through its typed accessor, every reference a chunk or a track instance holds is
 * resolved, and each definition's audio object is parsed. The same bytes are also parsed
 * as an audio object and as a 409 general error report. The input is handed over in a heap
 * copy of exactly its length, so that a read past it is a heap overflow ASan reports.
 *
 * Checked:
 *  - every function returns 0 or one of the codes apidoc.h names;
 *  - every string handed out is within its stated bound;
 *  - a local reference "#name" of every entry resolves to its own dictionary;
 *  - a resolved URL starts with "https://" and fits APIDOC_REF_MAX;
 *  - an accepted audio object has an https uri, expires_ms >= 0, at most
 *    APIDOC_HEADERS_MAX headers per list, each within its bounds, free of CR/LF and
 *    passing http_header_check();
 *  - an accepted error report has at most APIDOC_MAX_CHOICES choices, each with a
 *    non-empty label and reference within bounds.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "cloud/apidoc.h"
#include "core/err.h"
#include "net/http.h"

#define FINAL_URL "https://api.example.com/v1/doc/42?page=1"

static bool known_err(int r) {
  return r == 0 || r == -AMP_ETOOBIG || r == -AMP_EJSON || r == -AMP_EPROTO ||
         r == -AMP_EINSECURE || r == -ENOENT || r == -EINVAL || r == -ENOMEM;
}

static void check_str(const char *s, size_t max, bool may_be_null) {
  if (!s) {
    CHECK(may_be_null);
    return;
  }
  CHECK(strnlen(s, max + 1) <= max);
}

static void check_ref(const struct apidoc *d, const char *ref) {
  check_str(ref, APIDOC_REF_MAX, false);
  char out[APIDOC_REF_MAX + 1];
  enum apidoc_ref_kind kind;
  int r = apidoc_resolve(d, ref, &kind, out, sizeof(out));
  CHECK(known_err(r));
  if (r < 0)
    return;
  CHECK(strlen(out) <= APIDOC_REF_MAX);
  if (kind == APIDOC_REF_URL) {
    CHECK(strncmp(out, "https://", 8) == 0);
    CHECK(http_url_check(out) == 0);
  } else {
    CHECK(kind == APIDOC_REF_LOCAL && ref[0] == '#');
  }
}

static void check_headers(const struct apidoc_headers *h) {
  CHECK(h->n <= APIDOC_HEADERS_MAX);
  for (size_t i = 0; i < h->n; i++) {
    const char *n = h->h[i].name, *v = h->h[i].value;
    CHECK(n && v);
    CHECK(strlen(n) <= APIDOC_HEADER_NAME_MAX && strlen(v) <= APIDOC_HEADER_VALUE_MAX);
    CHECK(!strpbrk(n, "\r\n") && !strpbrk(v, "\r\n"));
    CHECK(http_header_check(n, v) == 0);
  }
}

static void check_audio(const char *json, size_t len) {
  struct apidoc_audio *a = NULL;
  int r = apidoc_audio_parse(json, len, &a);
  CHECK(known_err(r));
  CHECK((r == 0) == (a != NULL));
  if (!a)
    return;
  check_str(a->uri, APIDOC_REF_MAX, false);
  CHECK(strncasecmp(a->uri, "https://", 8) == 0);
  CHECK(a->expires_ms >= 0);
  check_headers(&a->key);
  check_headers(&a->manifest);
  check_headers(&a->segment);
  apidoc_audio_free(a);
}

static void check_pointer(const struct apidoc *d, const struct apidoc_track_pointer *p) {
  if (!p->present)
    return;
  CHECK(p->index <= INT32_MAX);
  check_ref(d, p->chunk);
}

static void check_entry(const struct apidoc *d, size_t i, size_t j) {
  const char *dict = apidoc_dict_name(d, i), *name = apidoc_entry_name(d, i, j);
  CHECK(dict && name);
  size_t nl = strlen(name);
  CHECK(nl <= APIDOC_REF_MAX);
  char *ref = malloc(nl + 2);
  if (!ref)
    return;
  ref[0] = '#';
  memcpy(ref + 1, name, nl + 1);

  char out[APIDOC_REF_MAX + 1];
  enum apidoc_ref_kind kind;
  int r = apidoc_resolve(d, ref, &kind, out, sizeof(out));
  /* Duplicate names across dictionaries resolve to the first holding them. */
  CHECK(r == 0 && kind == APIDOC_REF_LOCAL);

  const struct apidoc_chunk *c = NULL;
  if (apidoc_chunk(d, ref, &c) == 0) {
    check_str(c->title, APIDOC_TEXT_MAX, true);
    CHECK(c->n_tracks <= APIDOC_MAX_CHUNK_TRACKS);
    for (size_t k = 0; k < c->n_tracks; k++)
      check_ref(d, c->tracks[k]);
    check_pointer(d, &c->first);
    check_pointer(d, &c->last);
    check_pointer(d, &c->prev);
    check_pointer(d, &c->next);
  }
  const struct apidoc_track_instance *ti = NULL;
  if (apidoc_track_instance(d, ref, &ti) == 0) {
    check_ref(d, ti->track_definition);
    if (ti->playback_event_collector)
      check_ref(d, ti->playback_event_collector);
  }
  const struct apidoc_track_definition *td = NULL;
  if (apidoc_track_definition(d, ref, &td) == 0) {
    check_str(td->title, APIDOC_TEXT_MAX, true);
    check_str(td->track_tag, APIDOC_TEXT_MAX, true);
    check_str(td->artist, APIDOC_TEXT_MAX, true);
    check_str(td->album, APIDOC_TEXT_MAX, true);
    check_str(td->image_uri, APIDOC_REF_MAX, true);
    check_str(td->error, APIDOC_REF_MAX, true);
    CHECK(td->duration == -1 || td->duration >= 0);
    if (td->error)
      check_ref(d, td->error);
    if (td->audio) {
      CHECK(strlen(td->audio) == td->audio_len);
      CHECK(!td->audio_ref); /* one form or the other */
      check_audio(td->audio, td->audio_len);
    }
    if (td->audio_ref) {
      check_str(td->audio_ref, APIDOC_REF_MAX, false);
      CHECK(td->audio_ref[0]);
      check_ref(d, td->audio_ref);
    }
  }
  const struct apidoc_node *nd = NULL;
  if (apidoc_node(d, ref, &nd) == 0) {
    check_str(nd->title, APIDOC_TEXT_MAX, true);
    CHECK(nd->n_items <= APIDOC_MAX_NODE_ITEMS);
    for (size_t k = 0; k < nd->n_items; k++) {
      CHECK(nd->items[k] && nd->items[k][0]);
      check_ref(d, nd->items[k]);
    }
  }
  const struct apidoc_summary *sm = NULL;
  if (apidoc_summary(d, ref, &sm) == 0) {
    check_str(sm->title, APIDOC_TEXT_MAX, true);
    check_str(sm->description, APIDOC_TEXT_MAX, true);
    check_str(sm->ref, APIDOC_REF_MAX, false);
    CHECK(sm->ref[0]);
    check_ref(d, sm->ref);
  }
  free(ref);
}

static void check_error(const char *json, size_t len) {
  struct apidoc_error *e = NULL;
  int r = apidoc_general_error(json, len, &e);
  CHECK(known_err(r));
  CHECK((r == 0) == (e != NULL));
  if (!e)
    return;
  check_str(e->terse, APIDOC_TEXT_MAX, true);
  check_str(e->brief, APIDOC_TEXT_MAX, true);
  check_str(e->explanation, APIDOC_EXPLANATION_MAX, true);
  CHECK(e->terse || e->brief || e->explanation);
  CHECK(e->n_choices <= APIDOC_MAX_CHOICES);
  for (size_t i = 0; i < e->n_choices; i++) {
    check_str(e->choices[i].label, APIDOC_TEXT_MAX, false);
    check_str(e->choices[i].ref, APIDOC_REF_MAX, false);
    CHECK(e->choices[i].label[0] && e->choices[i].ref[0]);
  }
  apidoc_error_free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *json = malloc(size ? size : 1);
  if (!json)
    return 0;
  if (size)
    memcpy(json, data, size);

  struct apidoc *d = NULL;
  int r = apidoc_parse(json, size, FINAL_URL, &d);
  CHECK(known_err(r));
  CHECK((r == 0) == (d != NULL));
  if (size > APIDOC_MAX_BYTES)
    CHECK(r == -AMP_ETOOBIG);
  if (d) {
    CHECK(strcmp(apidoc_final_url(d), FINAL_URL) == 0);
    if (apidoc_result(d))
      check_ref(d, apidoc_result(d));
    CHECK(apidoc_n_dicts(d) <= APIDOC_MAX_DICTS);
    for (size_t i = 0; i < apidoc_n_dicts(d); i++) {
      CHECK(apidoc_n_entries(d, i) <= APIDOC_MAX_ENTRIES);
      for (size_t j = 0; j < apidoc_n_entries(d, i); j++)
        check_entry(d, i, j);
    }
    CHECK(apidoc_dict_name(d, apidoc_n_dicts(d)) == NULL);
    apidoc_free(d);
  }
  check_audio(json, size);
  check_error(json, size);
  free(json);
  return 0;
}
