/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Device API documents, the audio object and the general error report
 * (docs/service.md §3-§5). See apidoc.h. Every struct handed out points into the cJSON
 * tree the owning object keeps, so nothing is copied twice and one free releases it all.
 */
#include "cloud/apidoc.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "cloud/json.h"
#include "core/err.h"

enum kind { K_OTHER, K_CHUNK, K_INSTANCE, K_DEF, K_NODE, K_SUMMARY };

struct dict {
  const char *name;
  enum kind kind;
  size_t n;
  const cJSON **items; /* n entries, item->string is the entry's name */
  void *conv;          /* n converted structs of the kind's type, or NULL for K_OTHER */
};

struct apidoc {
  cJSON *root;
  char *final_url;
  const char *result;
  size_t n_dicts; /* <= APIDOC_MAX_DICTS */
  struct dict *dicts;
};

/* At most max bytes parsed as exactly one JSON value (cloud/json: no trailing bytes, no
 * NUL that cJSON would cut a string at, nesting bounded). */
static int json_parse(const char *json, size_t len, size_t max, cJSON **ret) {
  if (!json || !ret)
    return -EINVAL;
  if (len > max)
    return -AMP_ETOOBIG;
  return json_parse_exact(json, len, APIDOC_MAX_DEPTH, ret);
}

/* An optional string member: absent or null gives NULL; another type -AMP_EJSON; longer
 * than max bytes -AMP_ETOOBIG. required refuses NULL too. */
static int get_str(const cJSON *o, const char *k, size_t max, bool required, const char **ret) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  *ret = NULL;
  if (!v || cJSON_IsNull(v))
    return required ? -AMP_EJSON : 0;
  if (!cJSON_IsString(v) || !v->valuestring)
    return -AMP_EJSON;
  if (strnlen(v->valuestring, max + 1) > max)
    return -AMP_ETOOBIG;
  if (required && !v->valuestring[0])
    return -AMP_EJSON;
  *ret = v->valuestring;
  return 0;
}

static int get_bool(const cJSON *o, const char *k, bool *ret) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  *ret = false;
  if (!v || cJSON_IsNull(v))
    return 0;
  if (!cJSON_IsBool(v))
    return -AMP_EJSON;
  *ret = cJSON_IsTrue(v);
  return 0;
}

/* A nested {"name": ...}: absent or null gives NULL. */
static int get_sub_str(const cJSON *o, const char *k, const char *sub, size_t max,
                       const char **ret) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  *ret = NULL;
  if (!v || cJSON_IsNull(v))
    return 0;
  if (!cJSON_IsObject(v))
    return -AMP_EJSON;
  return get_str(v, sub, max, false, ret);
}

static int conv_pointer(const cJSON *o, const char *k, struct apidoc_track_pointer *p) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  *p = (struct apidoc_track_pointer){0};
  if (!v || cJSON_IsNull(v))
    return 0;
  if (!cJSON_IsObject(v))
    return -AMP_EJSON;
  int r = get_str(v, "chunk", APIDOC_REF_MAX, true, &p->chunk);
  if (r < 0)
    return r;
  const cJSON *i = cJSON_GetObjectItemCaseSensitive(v, "indexWithinChunk");
  /* The range test also refuses NaN; only whole numbers are indexes. */
  if (!cJSON_IsNumber(i) || !(i->valuedouble >= 0 && i->valuedouble <= 2147483647.0) ||
      i->valuedouble != (double)(uint32_t)i->valuedouble)
    return -AMP_EJSON;
  p->index = (uint32_t)i->valuedouble;
  p->present = true;
  return 0;
}

/* An optional array of non-empty reference strings (at most max): *ret_refs is a calloc'd
 * array of pointers into the tree (NULL when empty), freed by the caller also on error. */
static int conv_refs(const cJSON *o, const char *k, size_t max, const char *const **ret_refs,
                     size_t *ret_n) {
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, k);
  *ret_refs = NULL;
  *ret_n = 0;
  if (!t || cJSON_IsNull(t))
    return 0;
  if (!cJSON_IsArray(t))
    return -AMP_EJSON;
  int n = cJSON_GetArraySize(t);
  if ((size_t)n > max)
    return -AMP_ETOOBIG;
  const char **refs = n > 0 ? calloc((size_t)n, sizeof(*refs)) : NULL;
  if (n > 0 && !refs)
    return -ENOMEM;
  *ret_refs = refs;
  size_t i = 0;
  for (const cJSON *e = t->child; e; e = e->next) {
    if (!cJSON_IsString(e) || !e->valuestring || !e->valuestring[0])
      return -AMP_EJSON;
    if (strnlen(e->valuestring, APIDOC_REF_MAX + 1) > APIDOC_REF_MAX)
      return -AMP_ETOOBIG;
    refs[i++] = e->valuestring;
  }
  *ret_n = i;
  return 0;
}

static int conv_chunk(const cJSON *o, struct apidoc_chunk *c) {
  int r = get_str(o, "title", APIDOC_TEXT_MAX, false, &c->title);
  if (r < 0 ||
      (r = conv_refs(o, "trackInstances", APIDOC_MAX_CHUNK_TRACKS, &c->tracks, &c->n_tracks)) < 0)
    return r;
  if ((r = conv_pointer(o, "firstTrackPointer", &c->first)) < 0 ||
      (r = conv_pointer(o, "lastTrackPointer", &c->last)) < 0 ||
      (r = conv_pointer(o, "prevTrackPointer", &c->prev)) < 0 ||
      (r = conv_pointer(o, "nextTrackPointer", &c->next)) < 0)
    return r;
  return 0;
}

static int conv_instance(const cJSON *o, struct apidoc_track_instance *t) {
  int r = get_str(o, "trackDefinition", APIDOC_REF_MAX, true, &t->track_definition);
  if (r < 0)
    return r;
  return get_str(o, "playbackEventCollector", APIDOC_REF_MAX, false, &t->playback_event_collector);
}

static int conv_node(const cJSON *o, struct apidoc_node *n) {
  int r = get_str(o, "title", APIDOC_TEXT_MAX, false, &n->title);
  if (r < 0)
    return r;
  return conv_refs(o, "items", APIDOC_MAX_NODE_ITEMS, &n->items, &n->n_items);
}

static int conv_summary(const cJSON *o, struct apidoc_summary *m) {
  int r;
  if ((r = get_str(o, "title", APIDOC_TEXT_MAX, false, &m->title)) < 0 ||
      (r = get_str(o, "description", APIDOC_TEXT_MAX, false, &m->description)) < 0 ||
      (r = get_bool(o, "playable", &m->playable)) < 0)
    return r;
  return get_str(o, "ref", APIDOC_REF_MAX, true, &m->ref);
}

static int conv_def(const cJSON *o, struct apidoc_track_definition *t) {
  int r;
  if ((r = get_str(o, "title", APIDOC_TEXT_MAX, false, &t->title)) < 0 ||
      (r = get_str(o, "trackTag", APIDOC_TEXT_MAX, false, &t->track_tag)) < 0 ||
      (r = get_sub_str(o, "artist", "name", APIDOC_TEXT_MAX, &t->artist)) < 0 ||
      (r = get_sub_str(o, "album", "name", APIDOC_TEXT_MAX, &t->album)) < 0 ||
      (r = get_sub_str(o, "image", "uri", APIDOC_REF_MAX, &t->image_uri)) < 0 ||
      (r = get_bool(o, "isExplicit", &t->is_explicit)) < 0 ||
      (r = get_bool(o, "autoSkipOnError", &t->auto_skip)) < 0 ||
      (r = get_str(o, "error", APIDOC_REF_MAX, false, &t->error)) < 0)
    return r;
  t->duration = -1;
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "duration");
  if (v && !cJSON_IsNull(v)) {
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= 1e9))
      return -AMP_EJSON;
    t->duration = v->valuedouble;
  }
  v = cJSON_GetObjectItemCaseSensitive(o, "audio");
  if (v && cJSON_IsString(v)) {
    /* A reference to fetch (docs/service.md §3): each fetch is a new session. */
    if (!v->valuestring || !v->valuestring[0])
      return -AMP_EJSON;
    if (strnlen(v->valuestring, APIDOC_REF_MAX + 1) > APIDOC_REF_MAX)
      return -AMP_ETOOBIG;
    t->audio_ref = v->valuestring;
  } else if (v && !cJSON_IsNull(v)) {
    if (!cJSON_IsObject(v))
      return -AMP_EJSON;
    /* Kept as text so that the audio object is parsed (and refused) on its own, when the
     * track is played, not with the whole document. */
    char *s = cJSON_PrintUnformatted(v);
    if (!s)
      return -ENOMEM;
    t->audio = s;
    t->audio_len = strlen(s);
  }
  return 0;
}

static enum kind kind_of(const char *name) {
  if (strcmp(name, "trackContainerChunkDescriptions") == 0)
    return K_CHUNK;
  if (strcmp(name, "trackInstances") == 0)
    return K_INSTANCE;
  if (strcmp(name, "trackDefinitions") == 0)
    return K_DEF;
  if (strcmp(name, "navigationNodeDescriptions") == 0)
    return K_NODE;
  if (strcmp(name, "navigationNodeSummaries") == 0)
    return K_SUMMARY;
  return K_OTHER;
}

static size_t kind_size(enum kind k) {
  switch (k) {
  case K_CHUNK:
    return sizeof(struct apidoc_chunk);
  case K_INSTANCE:
    return sizeof(struct apidoc_track_instance);
  case K_DEF:
    return sizeof(struct apidoc_track_definition);
  case K_NODE:
    return sizeof(struct apidoc_node);
  case K_SUMMARY:
    return sizeof(struct apidoc_summary);
  case K_OTHER:
    break;
  }
  return 0;
}

static void dict_done(struct dict *d) {
  if (d->conv) {
    for (size_t i = 0; i < d->n; i++) {
      if (d->kind == K_CHUNK)
        free((void *)(uintptr_t)((struct apidoc_chunk *)d->conv)[i].tracks);
      else if (d->kind == K_DEF)
        free((void *)(uintptr_t)((struct apidoc_track_definition *)d->conv)[i].audio);
      else if (d->kind == K_NODE)
        free((void *)(uintptr_t)((struct apidoc_node *)d->conv)[i].items);
    }
  }
  free(d->conv);
  free(d->items);
}

static int dict_init(struct dict *d, const cJSON *o) {
  d->name = o->string;
  d->kind = kind_of(o->string);
  int n = cJSON_GetArraySize(o);
  if (n > APIDOC_MAX_ENTRIES)
    return -AMP_ETOOBIG;
  if (n == 0)
    return 0;
  d->items = calloc((size_t)n, sizeof(*d->items));
  if (!d->items)
    return -ENOMEM;
  if (d->kind != K_OTHER && !(d->conv = calloc((size_t)n, kind_size(d->kind))))
    return -ENOMEM;
  for (const cJSON *e = o->child; e; e = e->next) {
    if (!e->string || strnlen(e->string, APIDOC_REF_MAX + 1) > APIDOC_REF_MAX)
      return -AMP_ETOOBIG;
    size_t i = d->n++; /* counted before converting, so dict_done frees a half-built one */
    d->items[i] = e;
    if (d->kind == K_OTHER)
      continue;
    if (!cJSON_IsObject(e))
      return -AMP_EJSON;
    int r = 0;
    if (d->kind == K_CHUNK)
      r = conv_chunk(e, &((struct apidoc_chunk *)d->conv)[i]);
    else if (d->kind == K_INSTANCE)
      r = conv_instance(e, &((struct apidoc_track_instance *)d->conv)[i]);
    else if (d->kind == K_NODE)
      r = conv_node(e, &((struct apidoc_node *)d->conv)[i]);
    else if (d->kind == K_SUMMARY)
      r = conv_summary(e, &((struct apidoc_summary *)d->conv)[i]);
    else
      r = conv_def(e, &((struct apidoc_track_definition *)d->conv)[i]);
    if (r < 0)
      return r;
  }
  return 0;
}

void apidoc_free(struct apidoc *d) {
  if (!d)
    return;
  for (size_t i = 0; i < d->n_dicts; i++)
    dict_done(&d->dicts[i]);
  free(d->dicts);
  free(d->final_url);
  cJSON_Delete(d->root);
  free(d);
}

int apidoc_parse(const char *json, size_t len, const char *final_url, struct apidoc **ret) {
  if (!json || !final_url || !ret)
    return -EINVAL;
  int r = http_url_check(final_url);
  if (r < 0)
    return r;
  struct apidoc *d = calloc(1, sizeof(*d));
  if (!d)
    return -ENOMEM;
  if ((r = json_parse(json, len, APIDOC_MAX_BYTES, &d->root)) < 0)
    goto fail;
  r = -AMP_EJSON;
  if (!cJSON_IsObject(d->root))
    goto fail;
  r = -ENOMEM;
  if (!(d->final_url = strdup(final_url)))
    goto fail;
  if ((r = get_str(d->root, "result", APIDOC_REF_MAX, false, &d->result)) < 0)
    goto fail;
  size_t n = 0;
  for (const cJSON *e = d->root->child; e; e = e->next) {
    if (!e->string)
      continue;
    if (kind_of(e->string) != K_OTHER && !cJSON_IsObject(e) && !cJSON_IsNull(e)) {
      r = -AMP_EJSON;
      goto fail;
    }
    if (!cJSON_IsObject(e))
      continue;
    /* apidoc_resolve hands the dictionary's name out: it is bounded like any text. */
    r = -AMP_ETOOBIG;
    if (strnlen(e->string, APIDOC_TEXT_MAX + 1) > APIDOC_TEXT_MAX)
      goto fail;
    n++;
  }
  r = -AMP_ETOOBIG;
  if (n > APIDOC_MAX_DICTS)
    goto fail;
  r = -ENOMEM;
  if (n && !(d->dicts = calloc(n, sizeof(*d->dicts))))
    goto fail;
  for (const cJSON *e = d->root->child; e; e = e->next) {
    if (!e->string || !cJSON_IsObject(e))
      continue;
    struct dict *x = &d->dicts[d->n_dicts++];
    if ((r = dict_init(x, e)) < 0)
      goto fail;
  }
  *ret = d;
  return 0;
fail:
  apidoc_free(d);
  return r;
}

const char *apidoc_result(const struct apidoc *d) {
  return d ? d->result : NULL;
}

const char *apidoc_final_url(const struct apidoc *d) {
  return d ? d->final_url : NULL;
}

size_t apidoc_n_dicts(const struct apidoc *d) {
  return d ? d->n_dicts : 0;
}

const char *apidoc_dict_name(const struct apidoc *d, size_t i) {
  return d && i < d->n_dicts ? d->dicts[i].name : NULL;
}

size_t apidoc_n_entries(const struct apidoc *d, size_t i) {
  return d && i < d->n_dicts ? d->dicts[i].n : 0;
}

const char *apidoc_entry_name(const struct apidoc *d, size_t i, size_t j) {
  return d && i < d->n_dicts && j < d->dicts[i].n ? d->dicts[i].items[j]->string : NULL;
}

/* The index of name in x, or -1. Documents are small: a linear scan. */
static long dict_find(const struct dict *x, const char *name) {
  for (size_t i = 0; i < x->n; i++)
    if (strcmp(x->items[i]->string, name) == 0)
      return (long)i;
  return -1;
}

static int resolve_url(const char *base, const char *ref, char *out, size_t n) {
  if (strnlen(ref, APIDOC_REF_MAX + 1) > APIDOC_REF_MAX)
    return -AMP_ETOOBIG;
  CURLU *u = curl_url();
  if (!u)
    return -ENOMEM;
  char *s = NULL;
  int r = -EINVAL;
  /* The base was checked at parse; the reference is resolved against it as RFC 3986
   * says (curl does the merging), any scheme accepted so that http:// is named
   * insecure below rather than malformed. */
  if (curl_url_set(u, CURLUPART_URL, base, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
      curl_url_set(u, CURLUPART_URL, ref, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK)
    r = 0;
  curl_url_cleanup(u);
  if (r == 0)
    r = http_url_check(s);
  if (r == 0) {
    size_t l = strlen(s);
    if (l > APIDOC_REF_MAX || l >= n)
      r = -AMP_ETOOBIG;
    else
      memcpy(out, s, l + 1);
  }
  curl_free(s);
  return r;
}

int apidoc_resolve(const struct apidoc *d, const char *ref, enum apidoc_ref_kind *ret_kind,
                   char *out, size_t n) {
  if (!d || !ref || !ret_kind || !out || n == 0 || !ref[0])
    return -EINVAL;
  if (ref[0] == '#') {
    for (size_t i = 0; i < d->n_dicts; i++) {
      if (dict_find(&d->dicts[i], ref + 1) < 0)
        continue;
      size_t l = strlen(d->dicts[i].name);
      if (l >= n)
        return -AMP_ETOOBIG;
      memcpy(out, d->dicts[i].name, l + 1);
      *ret_kind = APIDOC_REF_LOCAL;
      return 0;
    }
    return -ENOENT;
  }
  int r = resolve_url(d->final_url, ref, out, n);
  if (r == 0)
    *ret_kind = APIDOC_REF_URL;
  return r;
}

static const void *lookup(const struct apidoc *d, const char *ref, enum kind k) {
  if (!d || !ref || ref[0] != '#')
    return NULL;
  for (size_t i = 0; i < d->n_dicts; i++) {
    if (d->dicts[i].kind != k)
      continue;
    long j = dict_find(&d->dicts[i], ref + 1);
    if (j >= 0)
      return (const char *)d->dicts[i].conv + (size_t)j * kind_size(k);
  }
  return NULL;
}

int apidoc_chunk(const struct apidoc *d, const char *ref, const struct apidoc_chunk **ret) {
  const void *p = lookup(d, ref, K_CHUNK);
  if (!p || !ret)
    return p ? -EINVAL : -ENOENT;
  *ret = p;
  return 0;
}

int apidoc_track_instance(const struct apidoc *d, const char *ref,
                          const struct apidoc_track_instance **ret) {
  const void *p = lookup(d, ref, K_INSTANCE);
  if (!p || !ret)
    return p ? -EINVAL : -ENOENT;
  *ret = p;
  return 0;
}

int apidoc_track_definition(const struct apidoc *d, const char *ref,
                            const struct apidoc_track_definition **ret) {
  const void *p = lookup(d, ref, K_DEF);
  if (!p || !ret)
    return p ? -EINVAL : -ENOENT;
  *ret = p;
  return 0;
}

int apidoc_node(const struct apidoc *d, const char *ref, const struct apidoc_node **ret) {
  const void *p = lookup(d, ref, K_NODE);
  if (!p || !ret)
    return p ? -EINVAL : -ENOENT;
  *ret = p;
  return 0;
}

int apidoc_summary(const struct apidoc *d, const char *ref, const struct apidoc_summary **ret) {
  const void *p = lookup(d, ref, K_SUMMARY);
  if (!p || !ret)
    return p ? -EINVAL : -ENOENT;
  *ret = p;
  return 0;
}

/* ---------------------------------------------------------------- the audio object */

struct audio {
  struct apidoc_audio pub; /* first: apidoc_audio_free casts back */
  cJSON *root;
  struct http_header h[3][APIDOC_HEADERS_MAX];
};

static int header_ok(const char *name, const char *value) {
  if (strnlen(name, APIDOC_HEADER_NAME_MAX + 1) > APIDOC_HEADER_NAME_MAX ||
      strnlen(value, APIDOC_HEADER_VALUE_MAX + 1) > APIDOC_HEADER_VALUE_MAX)
    return -AMP_ETOOBIG;
  /* CR or LF would split the request's header block (§4): the whole object goes. */
  if (strpbrk(name, "\r\n") || strpbrk(value, "\r\n") || http_header_check(name, value) < 0)
    return -AMP_EPROTO;
  return 0;
}

static int conv_headers(const cJSON *o, const char *k, struct http_header *h,
                        struct apidoc_headers *ret) {
  const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
  *ret = (struct apidoc_headers){0, h};
  if (!v || cJSON_IsNull(v))
    return 0;
  if (!cJSON_IsArray(v) && !cJSON_IsObject(v))
    return -AMP_EJSON;
  if (cJSON_GetArraySize(v) > APIDOC_HEADERS_MAX)
    return -AMP_ETOOBIG;
  size_t n = 0;
  for (const cJSON *e = v->child; e; e = e->next) {
    const char *name, *value;
    if (cJSON_IsArray(v)) {
      int r;
      if (!cJSON_IsObject(e))
        return -AMP_EJSON;
      if ((r = get_str(e, "name", SIZE_MAX - 1, true, &name)) < 0 ||
          (r = get_str(e, "value", SIZE_MAX - 1, true, &value)) < 0)
        return r;
    } else {
      if (!e->string || !cJSON_IsString(e) || !e->valuestring)
        return -AMP_EJSON;
      name = e->string;
      value = e->valuestring;
    }
    int r = header_ok(name, value);
    if (r < 0)
      return r;
    h[n++] = (struct http_header){name, value};
  }
  ret->n = n;
  return 0;
}

void apidoc_audio_free(struct apidoc_audio *a) {
  if (!a)
    return;
  struct audio *x = (struct audio *)a;
  cJSON_Delete(x->root);
  free(x);
}

int apidoc_audio_parse(const char *json, size_t len, struct apidoc_audio **ret) {
  if (!json || !ret)
    return -EINVAL;
  struct audio *a = calloc(1, sizeof(*a));
  if (!a)
    return -ENOMEM;
  int r = json_parse(json, len, APIDOC_AUDIO_MAX_BYTES, &a->root);
  if (r < 0)
    goto fail;
  r = -AMP_EJSON;
  if (!cJSON_IsObject(a->root))
    goto fail;
  if ((r = get_str(a->root, "uri", APIDOC_REF_MAX, true, &a->pub.uri)) < 0)
    goto fail;
  if ((r = http_url_check(a->pub.uri)) < 0)
    goto fail;
  /* curl is lenient ("https:/host" parses as https://host): what is handed out must
   * read as the https URL it is, since the client follows it as given. */
  r = -AMP_EINSECURE;
  if (strncasecmp(a->pub.uri, "https://", 8) != 0)
    goto fail;
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(a->root, "expires");
  r = -AMP_EJSON;
  /* Up to year 9999 in ms; the range test also refuses NaN. */
  if (!cJSON_IsNumber(e) || !(e->valuedouble >= 0 && e->valuedouble <= 253402300799999.0))
    goto fail;
  /* [ours] §4: above 10^11 the value is milliseconds (10^11 s is the year 5138). */
  a->pub.expires_ms =
      e->valuedouble > 1e11 ? (int64_t)e->valuedouble : (int64_t)(e->valuedouble * 1000.0);
  const cJSON *h = cJSON_GetObjectItemCaseSensitive(a->root, "headers");
  if (h && !cJSON_IsNull(h) && !cJSON_IsObject(h))
    goto fail;
  if (h && !cJSON_IsObject(h))
    h = NULL;
  if ((r = conv_headers(h, "key", a->h[0], &a->pub.key)) < 0 ||
      (r = conv_headers(h, "manifestHeaders", a->h[1], &a->pub.manifest)) < 0 ||
      (r = conv_headers(h, "audioSegmentHeaders", a->h[2], &a->pub.segment)) < 0)
    goto fail;
  *ret = &a->pub;
  return 0;
fail:
  apidoc_audio_free(&a->pub);
  return r;
}

/* ---------------------------------------------------------------- the 409 report */

struct report {
  struct apidoc_error pub; /* first: apidoc_error_free casts back */
  cJSON *root;
};

void apidoc_error_free(struct apidoc_error *e) {
  if (!e)
    return;
  struct report *x = (struct report *)e;
  cJSON_Delete(x->root);
  free(x);
}

/* The object a document's "result" names among its dictionaries, or o itself. */
static const cJSON *error_object(const cJSON *o) {
  const cJSON *res = cJSON_GetObjectItemCaseSensitive(o, "result");
  if (!cJSON_IsString(res) || !res->valuestring || res->valuestring[0] != '#')
    return o;
  for (const cJSON *x = o->child; x; x = x->next) {
    const cJSON *v =
        cJSON_IsObject(x) ? cJSON_GetObjectItemCaseSensitive(x, res->valuestring + 1) : NULL;
    if (cJSON_IsObject(v))
      return v;
  }
  return NULL;
}

int apidoc_general_error(const char *json, size_t len, struct apidoc_error **ret) {
  if (!json || !ret)
    return -EINVAL;
  struct report *x = calloc(1, sizeof(*x));
  if (!x)
    return -ENOMEM;
  struct apidoc_error *e = &x->pub;
  int r = json_parse(json, len, APIDOC_ERROR_MAX_BYTES, &x->root);
  if (r < 0)
    goto fail;
  r = -AMP_EJSON;
  const cJSON *o = cJSON_IsObject(x->root) ? error_object(x->root) : NULL;
  if (!o)
    goto fail;
  if ((r = get_str(o, "terse", APIDOC_TEXT_MAX, false, &e->terse)) < 0 ||
      (r = get_str(o, "brief", APIDOC_TEXT_MAX, false, &e->brief)) < 0 ||
      (r = get_str(o, "explanation", APIDOC_EXPLANATION_MAX, false, &e->explanation)) < 0)
    goto fail;
  r = -AMP_EJSON;
  if (!e->terse && !e->brief && !e->explanation)
    goto fail;
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "choices");
  if (c && !cJSON_IsNull(c)) {
    if (!cJSON_IsArray(c))
      goto fail;
    r = -AMP_ETOOBIG;
    if (cJSON_GetArraySize(c) > APIDOC_MAX_CHOICES)
      goto fail;
    for (const cJSON *ch = c->child; ch; ch = ch->next) {
      struct apidoc_choice *p = &e->choices[e->n_choices];
      r = -AMP_EJSON;
      if (!cJSON_IsObject(ch))
        goto fail;
      if ((r = get_str(ch, "label", APIDOC_TEXT_MAX, true, &p->label)) < 0)
        goto fail;
      static const char *const keys[] = {"ref", "link", "uri"};
      for (size_t k = 0; k < 3 && !p->ref; k++)
        if ((r = get_str(ch, keys[k], APIDOC_REF_MAX, false, &p->ref)) < 0)
          goto fail;
      r = -AMP_EJSON;
      if (!p->ref || !p->ref[0])
        goto fail;
      e->n_choices++;
    }
  }
  *ret = e;
  return 0;
fail:
  apidoc_error_free(e);
  return r;
}
