/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DASH MPD parser on top of libxml2's tree API. The document is read once into a tree
 * (bounded by MANIFEST_MAX_BYTES and MANIFEST_MAX_ELEMENTS before libxml2 sees it), then
 * walked level by level into plain structs whose strings live in the manifest's own
 * allocation list, so manifest_free releases everything in one pass.
 *
 * Memory (the bound is in manifest.h): a full libxml2 tree costs ~120 bytes an element and
 * ~220 an attribute whatever their size in the input, so the tree is built by
 * manifest_sax.c with only what this walk reads; every rep's subtree is freed as soon as the
 * rep is in the manifest; and since a rep copies what it inherits (its resolved BaseURL, the
 * segments of an inherited SegmentList, in its own timescale), those copies are charged to
 * budgets that follow the input size, and reps that inherit the same list with the same
 * timing share one array.
 */
#include "media/manifest_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "core/err.h"
#include "core/log.h"

LOG_TOPIC("manifest");

#define SCHEME_PROGRAM_LOUDNESS "urn:mpeg:mpegB:cicp:ProgramLoudness"
#define SCHEME_ANCHOR_LOUDNESS "urn:mpeg:mpegB:cicp:AnchorLoudness"
#define SCHEME_SWITCHING "urn:mpeg:dash:adaptation-set-switching:2016"
#define SCHEME_TRACK_TYPE "amz-music:trackType"

/* SegmentList/SegmentBase, merged attribute by attribute down the hierarchy. */
struct seginfo {
  int kind; /* 0 none, 1 list, 2 base */
  bool has_timescale, has_duration, has_init, has_index;
  uint64_t timescale, duration;
  struct manifest_range init, index;
  xmlNodePtr urls; /* the SegmentList whose SegmentURLs apply */
};

/* ---- segments ---- */

static int parse_seginfo(struct manifest_pctx *p, xmlNodePtr n, struct seginfo *si) {
  xmlNodePtr list = manifest_first_child(n, "SegmentList");
  xmlNodePtr sbase = manifest_first_child(n, "SegmentBase");
  xmlNodePtr el = list ? list : sbase;
  int r;
  if (manifest_first_child(n, "SegmentTemplate"))
    return manifest_fail(p, n, -AMP_EUNSUPPORTED, "SegmentTemplate is not supported");
  if (list && sbase)
    return manifest_fail(p, n, -AMP_EMANIFEST, "both SegmentList and SegmentBase");
  if (!el)
    return 0;
  if (manifest_node_attr(el, "href", MANIFEST_NS_XLINK))
    return manifest_fail(p, el, -AMP_EUNSUPPORTED, "xlink is not supported");
  if (list && manifest_first_child(list, "SegmentTimeline"))
    return manifest_fail(p, list, -AMP_EUNSUPPORTED, "SegmentTimeline is not supported");
  si->kind = list ? 1 : 2;
  if ((r = manifest_attr_u64(p, el, "timescale", UINT32_MAX, &si->has_timescale, &si->timescale)) <
      0)
    return r;
  if (si->has_timescale && si->timescale == 0)
    return manifest_fail(p, el, -AMP_EMANIFEST, "timescale=\"0\"");
  if (list &&
      (r = manifest_attr_u64(p, el, "duration", UINT32_MAX, &si->has_duration, &si->duration)) < 0)
    return r;
  if (sbase && (r = manifest_attr_range(p, el, "indexRange", &si->has_index, &si->index)) < 0)
    return r;
  xmlNodePtr init = manifest_first_child(el, "Initialization");
  if (init) {
    const char *src;
    if ((r = manifest_attr(p, init, "sourceURL", NULL, &src)) < 0)
      return r;
    if (src)
      return manifest_fail(p, init, -AMP_EUNSUPPORTED, "Initialization@sourceURL is not supported");
    bool has = false;
    if ((r = manifest_attr_range(p, init, "range", &has, &si->init)) < 0)
      return r;
    if (!has)
      return manifest_fail(p, init, -AMP_EMANIFEST, "Initialization without range");
    si->has_init = true;
  }
  size_t n_urls;
  if (list && manifest_segurls(list, &n_urls))
    si->urls = list;
  return 0;
}

/* Ticks of timescale in total_ns, 0 if unknown or too large. */
static uint64_t ns_to_ticks(uint64_t ns, uint64_t timescale) {
  uint64_t sec = ns / MANIFEST_NS_PER_S, frac = ns % MANIFEST_NS_PER_S;
  uint64_t part = frac * timescale / MANIFEST_NS_PER_S; /* frac*ts < 2^30 * 2^32 */
  if (sec && timescale > UINT64_MAX / sec)
    return 0;
  if (sec * timescale > UINT64_MAX - part)
    return 0;
  return sec * timescale + part;
}

/* inherited: the list is the set's or the period's (so it may be shared; a rep's own list
 * goes with its subtree, and its node's address may come back) */
static int build_list(struct manifest_pctx *p, struct manifest_rep *rep, xmlNodePtr repn,
                      const struct seginfo *si, bool inherited) {
  xmlNodePtr list = si->urls;
  size_t count = 0;
  const struct manifest_segurl *u = manifest_segurls(list, &count);
  if (count == 0)
    return manifest_fail(p, repn, -AMP_EMANIFEST,
                         "Representation \"%s\": SegmentList without SegmentURL", rep->id);
  if (count > MANIFEST_MAX_SEGMENTS)
    return manifest_fail(p, list, -AMP_ETOOBIG, "more than %u SegmentURL elements",
                         MANIFEST_MAX_SEGMENTS);
  uint64_t total = ns_to_ticks(p->total_ns, rep->timescale);
  uint64_t dur = si->has_duration ? si->duration : 0;
  if (!si->has_duration && count > 1)
    return manifest_fail(p, list, -AMP_EMANIFEST,
                         "SegmentList with several segments needs duration");
  if (!si->has_duration)
    dur = total;
  /* Reps that inherit the same list with the same timing share one array. */
  struct manifest_seg_cache *c = &p->seg_cache;
  if (inherited && c->segs && c->urls == list && c->dur == dur && c->total == total) {
    rep->segments = c->segs;
    rep->n_segments = c->n;
    return 0;
  }
  /* Other reps that inherit it (another timescale or duration) get a copy of their own:
   * bounded by the budget, not just per list. */
  if (count > p->seg_budget)
    return manifest_fail(p, repn, -AMP_ETOOBIG,
                         "Representation \"%s\": more segments in all than the manifest's "
                         "bytes / %u + %u",
                         rep->id, MANIFEST_SEG_BYTES_PER, MANIFEST_SEG_SLACK);
  p->seg_budget -= count;
  /* in m's memory (freed by manifest_free, also on failure), not in the rep block's segs,
   * which hold only what manifest_rep_set_segments_from_sidx sets: it may be shared */
  struct manifest_segment *segs = manifest_alloc_array(p->m, count, sizeof(*segs));
  if (!segs)
    return -ENOMEM;
  rep->segments = segs;
  size_t i = 0;
  int r;
  for (; u; u = u->next) {
    struct manifest_range rg;
    if (u->media)
      return manifest_fail_line(p, u->line, -AMP_EUNSUPPORTED,
                                "SegmentURL@media (one file per segment)");
    if (!u->has_range)
      return manifest_fail_line(p, u->line, -AMP_EMANIFEST, "SegmentURL without mediaRange");
    if (strlen(u->range) > MANIFEST_MAX_STRING)
      return manifest_fail_line(p, u->line, -AMP_ETOOBIG, "mediaRange longer than %u bytes",
                                MANIFEST_MAX_STRING);
    if ((r = manifest_parse_range(p, u->line, "mediaRange", u->range, &rg)) < 0)
      return r;
    segs[i].first = rg.first;
    segs[i].last = rg.last;
    segs[i].start = (uint64_t)i * dur; /* dur <= UINT32_MAX, i < 2^17 */
    segs[i].duration = dur;
    i++;
  }
  /* The last segment ends with the presentation (the media's tfdt stays authoritative). */
  if (total > segs[i - 1].start && total - segs[i - 1].start < dur)
    segs[i - 1].duration = total - segs[i - 1].start;
  rep->n_segments = i;
  if (inherited)
    *c =
        (struct manifest_seg_cache){.urls = list, .dur = dur, .total = total, .segs = segs, .n = i};
  return 0;
}

static void merge_seginfo(struct seginfo *into, const struct seginfo *from) {
  if (!from->kind)
    return;
  if (into->kind && into->kind != from->kind)
    *into = (struct seginfo){0};
  into->kind = from->kind;
#define TAKE(has, field)                                                                           \
  if (from->has) {                                                                                 \
    into->has = true;                                                                              \
    into->field = from->field;                                                                     \
  }
  TAKE(has_timescale, timescale)
  TAKE(has_duration, duration)
  TAKE(has_init, init)
  TAKE(has_index, index)
#undef TAKE
  if (from->urls)
    into->urls = from->urls;
}

/* What a set passes down to its reps. */
struct set_defaults {
  const char *codecs, *mime_type;
  uint64_t sample_rate;
  uint32_t channels, bit_depth;
};

static int parse_rep(struct manifest_pctx *p, xmlNodePtr n, const struct manifest_set *set,
                     const struct set_defaults *def, struct manifest_base b,
                     const struct seginfo *set_si, struct manifest_rep *rep) {
  struct seginfo si = *set_si, own = {0};
  uint64_t v;
  bool has;
  int r;
  rep->set = set;
  rep->codecs = def->codecs;
  rep->mime_type = def->mime_type;
  rep->channels = def->channels;
  rep->bit_depth = def->bit_depth;
  if ((r = manifest_attr(p, n, "id", NULL, &rep->id)) < 0)
    return r;
  if (!rep->id || !*rep->id)
    return manifest_fail(p, n, -AMP_EMANIFEST, "Representation without id");
  if ((r = manifest_attr_u64(p, n, "bandwidth", UINT64_MAX, &has, &rep->bandwidth)) < 0)
    return r;
  if (!has)
    return manifest_fail(p, n, -AMP_EMANIFEST, "Representation \"%s\" without bandwidth", rep->id);
  if ((r = manifest_attr_u64(p, n, "qualityRanking", UINT32_MAX, &rep->has_quality_ranking, &v)) <
      0)
    return r;
  rep->quality_ranking = rep->has_quality_ranking ? (uint32_t)v : 0;
  const char *s;
  if ((r = manifest_attr(p, n, "codecs", NULL, &s)) < 0)
    return r;
  rep->codecs = s ? s : rep->codecs;
  if ((r = manifest_attr(p, n, "mimeType", NULL, &s)) < 0)
    return r;
  rep->mime_type = s ? s : rep->mime_type;
  v = def->sample_rate;
  if ((r = manifest_attr(p, n, "audioSamplingRate", NULL, &s)) < 0)
    return r;
  if (s) {
    char first[16];
    size_t k = strcspn(s, " \t"); /* "44100" or "22050 44100" (SBR): the first one */
    if (k == 0 || k >= sizeof(first))
      return manifest_fail(p, n, -AMP_EMANIFEST, "audioSamplingRate=\"%s\"", s);
    memcpy(first, s, k);
    first[k] = 0;
    if (!manifest_parse_u64(first, &v) || v > UINT32_MAX)
      return manifest_fail(p, n, -AMP_EMANIFEST, "audioSamplingRate=\"%s\"", s);
  }
  rep->sample_rate = (uint32_t)v;
  if ((r = manifest_parse_channels(p, n, &rep->channels)) < 0 ||
      (r = manifest_parse_bit_depth(p, n, &rep->bit_depth)) < 0)
    return r;

  if ((r = manifest_apply_base(p, n, &b)) < 0)
    return r;
  if (!b.from_mpd)
    return manifest_fail(p, n, -AMP_EMANIFEST, "Representation \"%s\" has no BaseURL", rep->id);
  rep->url = b.s;
  rep->url_is_path = b.is_path;

  if ((r = manifest_parse_protection(p, n, &rep->protection)) < 0 ||
      (r = manifest_merge_protection(p, n, &set->protection, &rep->protection)) < 0)
    return r;

  if ((r = parse_seginfo(p, n, &own)) < 0)
    return r;
  merge_seginfo(&si, &own);
  if (!si.kind)
    return manifest_fail(p, n, -AMP_EUNSUPPORTED,
                         "Representation \"%s\": no SegmentList or SegmentBase", rep->id);
  rep->timescale = si.has_timescale ? (uint32_t)si.timescale : 1;
  rep->has_init = si.has_init;
  rep->init = si.init;
  if (si.kind == 2) {
    rep->segment_base = true;
    rep->has_index = si.has_index;
    rep->index = si.index;
    if (!si.has_index)
      return manifest_fail(p, n, -AMP_EMANIFEST,
                           "Representation \"%s\": SegmentBase without indexRange", rep->id);
    return 0;
  }
  return build_list(p, rep, n, &si, si.urls != own.urls);
}

static int set_property(struct manifest_pctx *p, xmlNodePtr c, struct manifest_set *set,
                        const char **ret_switch) {
  const char *scheme, *value;
  int r;
  if ((r = manifest_attr(p, c, "schemeIdUri", NULL, &scheme)) < 0 ||
      (r = manifest_attr(p, c, "value", NULL, &value)) < 0)
    return r;
  if (!scheme)
    return manifest_fail(p, c, -AMP_EMANIFEST, "%s without schemeIdUri", (const char *)c->name);
  bool program = strcmp(scheme, SCHEME_PROGRAM_LOUDNESS) == 0;
  if (program || strcmp(scheme, SCHEME_ANCHOR_LOUDNESS) == 0) {
    float f;
    if (!value || !manifest_parse_loudness(value, &f))
      return manifest_fail(p, c, -AMP_EMANIFEST, "loudness value=\"%s\": not \"<number> LUFS\"",
                           value ? value : "");
    if (program) {
      set->has_program_loudness = true;
      set->program_loudness = f;
    } else {
      set->has_anchor_loudness = true;
      set->anchor_loudness = f;
    }
  } else if (strcmp(scheme, SCHEME_SWITCHING) == 0) {
    *ret_switch = value;
  } else if (strcmp(scheme, SCHEME_TRACK_TYPE) == 0) {
    set->track_type = value;
  }
  return 0;
}

static int cmp_rank(const void *pa, const void *pb) {
  const struct manifest_rep *a = *(const struct manifest_rep *const *)pa;
  const struct manifest_rep *b = *(const struct manifest_rep *const *)pb;
  if (a->has_quality_ranking != b->has_quality_ranking)
    return a->has_quality_ranking ? -1 : 1;
  if (a->quality_ranking != b->quality_ranking)
    return a->quality_ranking < b->quality_ranking ? -1 : 1;
  if (a->bandwidth != b->bandwidth)
    return a->bandwidth > b->bandwidth ? -1 : 1;
  return a < b ? -1 : a > b; /* same array: document order */
}

static int parse_set(struct manifest_pctx *p, xmlNodePtr n, struct manifest_base b,
                     const struct seginfo *period_si, struct manifest_set *set,
                     const char **ret_switch) {
  struct set_defaults def = {0};
  struct seginfo si = *period_si, own = {0};
  uint64_t v = 1;
  int r;
  if (manifest_node_attr(n, "href", MANIFEST_NS_XLINK))
    return manifest_fail(p, n, -AMP_EUNSUPPORTED, "xlink is not supported");
  if ((r = manifest_attr(p, n, "id", NULL, &set->id)) < 0 ||
      (r = manifest_attr(p, n, "contentType", NULL, &set->content_type)) < 0 ||
      (r = manifest_attr(p, n, "mimeType", NULL, &set->mime_type)) < 0 ||
      (r = manifest_attr(p, n, "codecs", NULL, &def.codecs)) < 0 ||
      (r = manifest_attr_u64(p, n, "selectionPriority", UINT32_MAX, NULL, &v)) < 0 ||
      (r = manifest_attr_u64(p, n, "audioSamplingRate", UINT32_MAX, NULL, &def.sample_rate)) < 0 ||
      (r = manifest_attr_amazon(p, n, "trackType", &set->track_type)) < 0)
    return r;
  set->selection_priority = (uint32_t)v;
  def.mime_type = set->mime_type;
  if ((r = manifest_parse_channels(p, n, &def.channels)) < 0 ||
      (r = manifest_parse_bit_depth(p, n, &def.bit_depth)) < 0)
    return r;
  for (xmlNodePtr c = n->children; c; c = c->next)
    if ((manifest_is_mpd_el(c, "SupplementalProperty") ||
         manifest_is_mpd_el(c, "EssentialProperty")) &&
        (r = set_property(p, c, set, ret_switch)) < 0)
      return r;
  if ((r = manifest_apply_base(p, n, &b)) < 0 ||
      (r = manifest_parse_protection(p, n, &set->protection)) < 0 ||
      (r = parse_seginfo(p, n, &own)) < 0)
    return r;
  merge_seginfo(&si, &own);

  size_t count = manifest_count_children(n, "Representation");
  if (count > MANIFEST_MAX_REPS)
    return manifest_fail(p, n, -AMP_ETOOBIG, "more than %u Representations in a set",
                         MANIFEST_MAX_REPS);
  struct manifest_rep *reps = count ? manifest_alloc_array(p->m, count, sizeof(*reps)) : NULL;
  const struct manifest_rep **ranked =
      count ? manifest_alloc_array(p->m, count, sizeof(*ranked)) : NULL;
  if (count && (!reps || !ranked))
    return -ENOMEM;
  set->reps = reps;
  set->ranked = ranked;
  struct manifest_rep_block *blk = NULL;
  if (count) {
    blk = manifest_alloc(p->m, sizeof(*blk));
    struct manifest_segment **segs = manifest_alloc_array(p->m, count, sizeof(*segs));
    if (!blk || !segs)
      return -ENOMEM;
    *blk = (struct manifest_rep_block){
        .next = p->m->blocks, .reps = reps, .segs = segs, .n = &set->n_reps};
    p->m->blocks = blk;
  }
  for (xmlNodePtr c = n->children, next; c; c = next) {
    next = c->next;
    if (!manifest_is_mpd_el(c, "Representation"))
      continue;
    struct manifest_rep *rep = &reps[set->n_reps];
    set->n_reps++; /* counted before parsing, so that manifest_free sees its segments */
    if ((r = parse_rep(p, c, set, &def, b, &si, rep)) < 0)
      return r;
    ranked[set->n_reps - 1] = rep;
    /* The rep is in the manifest now (copied): its subtree goes, so that the tree and the
     * manifest are not both whole at the end of the walk. */
    manifest_sax_free(p->sax, c);
    xmlUnlinkNode(c);
    xmlFreeNode(c);
  }
  /* One key per set (shaka: DASH_CONFLICTING_KEY_IDS). */
  for (size_t i = 1; i < set->n_reps; i++)
    if (reps[i].protection.has_kid != reps[0].protection.has_kid ||
        memcmp(reps[i].protection.kid, reps[0].protection.kid, 16) != 0)
      return manifest_fail(p, n, -AMP_EMANIFEST, "conflicting default_KID in AdaptationSet \"%s\"",
                           set->id ? set->id : "");
  if (set->n_reps)
    qsort(ranked, set->n_reps, sizeof(*ranked), cmp_rank);
  return 0;
}

/* adaptation-set-switching: "1,2" -> the sets of this period with those ids, each once. */
static int link_switch(struct manifest_pctx *p, xmlNodePtr n, struct manifest_set *sets,
                       size_t n_sets, size_t idx, const char *list) {
  size_t count = 0, tokens = 0, cap = 1;
  for (const char *c = list; *c; c++)
    cap += *c == ',';
  if (cap > MANIFEST_MAX_SWITCH)
    cap = MANIFEST_MAX_SWITCH;
  /* at most one target per id: sized by the list, not by MANIFEST_MAX_SWITCH */
  const struct manifest_set **t = manifest_alloc_array(p->m, cap, sizeof(*t));
  if (!t)
    return -ENOMEM;
  while (*list) {
    size_t k = strcspn(list, ","), len;
    const char *tok = list;
    while (k && *tok == ' ')
      tok++, k--;
    for (len = k; len && tok[len - 1] == ' ';)
      len--;
    if (++tokens > MANIFEST_MAX_SWITCH)
      return manifest_fail(p, n, -AMP_ETOOBIG, "more than %u ids in adaptation-set-switching",
                           MANIFEST_MAX_SWITCH);
    for (size_t j = 0; len && j < n_sets; j++) {
      const struct manifest_set *o = &sets[j];
      if (j == idx || !o->id || strlen(o->id) != len || memcmp(o->id, tok, len) != 0)
        continue;
      bool dup = false;
      for (size_t q = 0; q < count; q++)
        dup = dup || t[q] == o;
      if (!dup)
        t[count++] = o;
      break;
    }
    list = tok + k + (tok[k] == ',');
  }
  sets[idx].switch_targets = t;
  sets[idx].n_switch_targets = count;
  return 0;
}

static int parse_period(struct manifest_pctx *p, xmlNodePtr n, struct manifest_base b,
                        struct manifest_period *per) {
  struct seginfo si = {0};
  int r;
  if (manifest_node_attr(n, "href", MANIFEST_NS_XLINK))
    return manifest_fail(p, n, -AMP_EUNSUPPORTED, "xlink is not supported");
  if ((r = manifest_attr(p, n, "id", NULL, &per->id)) < 0 ||
      (r = manifest_apply_base(p, n, &b)) < 0 || (r = parse_seginfo(p, n, &si)) < 0)
    return r;
  p->total_ns = per->duration_ns;
  size_t count = manifest_count_children(n, "AdaptationSet");
  if (count > MANIFEST_MAX_SETS)
    return manifest_fail(p, n, -AMP_ETOOBIG, "more than %u AdaptationSets in a Period",
                         MANIFEST_MAX_SETS);
  struct manifest_set *sets = count ? manifest_alloc_array(p->m, count, sizeof(*sets)) : NULL;
  const char **sw = count ? manifest_alloc_array(p->m, count, sizeof(*sw)) : NULL;
  xmlNodePtr *nodes = count ? manifest_alloc_array(p->m, count, sizeof(*nodes)) : NULL;
  if (count && (!sets || !sw || !nodes))
    return -ENOMEM;
  per->sets = sets;
  for (xmlNodePtr c = n->children; c; c = c->next) {
    if (!manifest_is_mpd_el(c, "AdaptationSet"))
      continue;
    nodes[per->n_sets] = c;
    per->n_sets++;
    if ((r = parse_set(p, c, b, &si, &sets[per->n_sets - 1], &sw[per->n_sets - 1])) < 0)
      return r;
  }
  for (size_t i = 0; i < per->n_sets; i++)
    if (sw[i] && (r = link_switch(p, nodes[i], sets, per->n_sets, i, sw[i])) < 0)
      return r;
  return 0;
}

/* Period start/duration: explicit, else from the next period or the MPD duration. */
static int period_times(struct manifest_pctx *p, xmlNodePtr root, struct manifest_period *pers,
                        size_t count) {
  size_t i = 0;
  int r;
  for (xmlNodePtr c = root->children; c; c = c->next) {
    if (!manifest_is_mpd_el(c, "Period"))
      continue;
    uint64_t start = 0, dur = 0;
    const char *has_start, *has_dur;
    if ((r = manifest_attr(p, c, "start", NULL, &has_start)) < 0 ||
        (r = manifest_attr(p, c, "duration", NULL, &has_dur)) < 0 ||
        (r = manifest_attr_duration(p, c, "start", &start)) < 0 ||
        (r = manifest_attr_duration(p, c, "duration", &dur)) < 0)
      return r;
    if (!has_start && i > 0) {
      start = pers[i - 1].start_ns + pers[i - 1].duration_ns;
      if (start < pers[i - 1].start_ns)
        return manifest_fail(p, c, -AMP_EMANIFEST, "Period start overflows");
    }
    pers[i].start_ns = start;
    pers[i].duration_ns = dur;
    i++;
    if (i == count)
      break;
  }
  /* Fill unknown durations from the following start or from mediaPresentationDuration. */
  for (i = 0; i < count; i++) {
    if (pers[i].duration_ns)
      continue;
    uint64_t end = p->m->duration_ns;
    if (i + 1 < count)
      end = pers[i + 1].start_ns;
    if (end > pers[i].start_ns)
      pers[i].duration_ns = end - pers[i].start_ns;
  }
  return 0;
}

static size_t count_elements(xmlNodePtr root, size_t max) {
  size_t k = 0;
  xmlNodePtr n = root;
  while (n && k <= max) {
    if (n->type == XML_ELEMENT_NODE)
      k++;
    if (n->type == XML_ELEMENT_NODE && n->children) {
      n = n->children;
      continue;
    }
    while (n && n != root && !n->next)
      n = n->parent;
    if (!n || n == root)
      break;
    n = n->next;
  }
  return k;
}

static int parse_mpd(struct manifest_pctx *p, xmlDocPtr doc, struct manifest_base b) {
  xmlNodePtr root = xmlDocGetRootElement(doc);
  const char *type;
  int r;
  if (!root || !manifest_is_mpd_el(root, "MPD"))
    return manifest_fail(p, root, -AMP_EMANIFEST, "the root element is not an MPD in namespace %s",
                         MANIFEST_NS_MPD);
  if (count_elements(root, MANIFEST_MAX_ELEMENTS) > MANIFEST_MAX_ELEMENTS)
    return manifest_fail(p, NULL, -AMP_ETOOBIG, "more than %u XML elements", MANIFEST_MAX_ELEMENTS);
  if ((r = manifest_attr(p, root, "type", NULL, &type)) < 0)
    return r;
  if (type && strcmp(type, "static") != 0)
    return manifest_fail(p, root, -AMP_EUNSUPPORTED, "MPD type=\"%s\": only static MPDs", type);
  if ((r = manifest_attr_duration(p, root, "mediaPresentationDuration", &p->m->duration_ns)) < 0 ||
      (r = manifest_apply_base(p, root, &b)) < 0)
    return r;
  size_t count = manifest_count_children(root, "Period");
  if (count == 0)
    return manifest_fail(p, root, -AMP_EMANIFEST, "MPD without Period");
  if (count > MANIFEST_MAX_PERIODS)
    return manifest_fail(p, root, -AMP_ETOOBIG, "more than %u Periods", MANIFEST_MAX_PERIODS);
  struct manifest_period *pers = manifest_alloc_array(p->m, count, sizeof(*pers));
  if (!pers)
    return -ENOMEM;
  p->m->periods = pers;
  if ((r = period_times(p, root, pers, count)) < 0)
    return r;
  size_t reps = 0;
  for (xmlNodePtr c = root->children; c; c = c->next) {
    if (!manifest_is_mpd_el(c, "Period"))
      continue;
    struct manifest_period *per = &pers[p->m->n_periods++];
    if ((r = parse_period(p, c, b, per)) < 0)
      return r;
    for (size_t i = 0; i < per->n_sets; i++)
      reps += per->sets[i].n_reps;
  }
  if (reps == 0)
    return manifest_fail(p, root, -AMP_EMANIFEST, "MPD without Representation");
  return 0;
}

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_error(void *data, xmlErrorPtr e) {
  struct manifest_sax *st = ((xmlParserCtxtPtr)data)->_private;
  struct manifest_xml_error *fe = &st->fe;
  if (fe->seen || !e || e->level < XML_ERR_ERROR)
    return;
  size_t ml = e->message ? strcspn(e->message, "\n") : 0;
  fe->seen = true;
  fe->line = e->line;
  snprintf(fe->msg, sizeof(fe->msg), "%.*s", (int)ml, ml ? e->message : "not well-formed");
}

/* libxml2 reports some errors (character encoding conversion, ...) outside the parser
 * context, on its per-thread generic channel, which prints to stderr by default. */
static void xml_silent(void *ctx, const char *msg, ...) {
  (void)ctx;
  (void)msg;
}

static void xml_init(void) {
  xmlInitParser();
}

/* A cheap upper bound on the element count before libxml2 builds a tree: every element
 * has a start tag, i.e. a '<' not followed by '/'. */
static size_t count_start_tags(const uint8_t *xml, size_t len) {
  size_t k = 0;
  for (const uint8_t *s = xml, *end = xml + len; (s = memchr(s, '<', (size_t)(end - s)));) {
    s++;
    k += s == end || *s != '/';
  }
  return k;
}

int manifest_parse(const uint8_t *xml, size_t len, const char *origin, struct manifest **ret,
                   char *errbuf, size_t errlen) {
  struct manifest_pctx p = {.err = errbuf,
                            .errlen = errlen,
                            .url_budget = len + MANIFEST_URL_SLACK,
                            .seg_budget = len / MANIFEST_SEG_BYTES_PER + MANIFEST_SEG_SLACK};
  struct manifest_base b = {0};
  struct manifest_sax sax = {0};
  xmlParserCtxtPtr ctxt = NULL;
  xmlDocPtr doc = NULL;
  int r;
  if (!xml || !ret)
    return manifest_fail(&p, NULL, -EINVAL, "no input");
  if (len > MANIFEST_MAX_BYTES)
    return manifest_fail(&p, NULL, -AMP_ETOOBIG, "manifest larger than %u bytes",
                         MANIFEST_MAX_BYTES);
  if (count_start_tags(xml, len) > MANIFEST_MAX_ELEMENTS)
    return manifest_fail(&p, NULL, -AMP_ETOOBIG, "more than %u XML elements",
                         MANIFEST_MAX_ELEMENTS);
  if (origin) {
    if (strlen(origin) > MANIFEST_MAX_STRING)
      return manifest_fail(&p, NULL, -AMP_ETOOBIG, "origin longer than %u bytes",
                           MANIFEST_MAX_STRING);
    if (manifest_scheme_len(origin) && !manifest_is_https(origin))
      return manifest_fail(&p, NULL, -AMP_EINSECURE, "manifest origin is not https:// or a path");
    b.s = origin;
    b.is_path = !manifest_scheme_len(origin);
  }
  pthread_once(&xml_once, xml_init);

  struct manifest *m = calloc(1, sizeof(*m));
  if (!m)
    return -ENOMEM;
  p.m = m;
  m->remote = b.s && !b.is_path;
  if (b.s && !(b.s = manifest_strndup(m, origin, strlen(origin)))) {
    r = -ENOMEM;
    goto out;
  }

  ctxt = xmlNewParserCtxt();
  if (!ctxt) {
    r = -ENOMEM;
    goto out;
  }
  /* Errors come to us (structured, per context), never to stderr. The tree holds only
   * what the walk reads (manifest_sax.c): its size follows the input. */
  manifest_sax_install(ctxt, &sax);
  p.sax = &sax;
  ctxt->userData = ctxt;
  ctxt->sax->serror = xml_error;
  /* No XML_PARSE_NOENT (entities stay unexpanded), no DTDLOAD/DTDATTR/DTDVALID, no HUGE. */
  int opts = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA |
             XML_PARSE_BIG_LINES;
  xmlGenericErrorFunc old_fn = xmlGenericError;
  void *old_ctx = xmlGenericErrorContext;
  xmlSetGenericErrorFunc(NULL, xml_silent);
  doc = xmlCtxtReadMemory(ctxt, (const char *)xml, (int)len, NULL, NULL, opts);
  xmlSetGenericErrorFunc(old_ctx, old_fn);
  bool wellformed = ctxt->wellFormed;
  /* the walk needs the tree only: the parser's buffers (a copy of the input) go now */
  xmlFreeParserCtxt(ctxt);
  ctxt = NULL;
  if (sax.oom) {
    r = -ENOMEM;
    goto out;
  }
  if (!doc || !wellformed || sax.fe.seen) {
    r = manifest_fail(&p, NULL, -AMP_EMANIFEST, "XML error at line %d: %s", sax.fe.line,
                      sax.fe.seen ? sax.fe.msg : "not well-formed");
    goto out;
  }
  if (doc->intSubset || doc->extSubset) {
    r = manifest_fail(&p, NULL, -AMP_EMANIFEST, "a DOCTYPE is not allowed in an MPD");
    goto out;
  }
  r = parse_mpd(&p, doc, b);
out:
  manifest_sax_done(&sax);
  if (doc)
    xmlFreeDoc(doc);
  if (ctxt)
    xmlFreeParserCtxt(ctxt);
  if (r < 0) {
    manifest_free(m);
    return r;
  }
  log_debug("parsed %zu period(s), duration %llu ms", m->n_periods,
            (unsigned long long)(m->duration_ns / 1000000));
  *ret = m;
  return 0;
}

void manifest_free(struct manifest *m) {
  if (!m)
    return;
  for (struct manifest_rep_block *b = m->blocks; b; b = b->next)
    for (size_t k = 0; k < *b->n; k++)
      free(b->segs[k]);
  while (m->mem) {
    union manifest_mem *next = m->mem->next;
    free(m->mem);
    m->mem = next;
  }
  free(m);
}
