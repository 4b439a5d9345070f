/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for media/manifest: what a manifest says (fixtures in tests/data/manifest,
 * variants built in memory). Errors and bounds: test_manifest_errors.c. */
#include "tests/unit/manifest_testutil.h"

/* ---- the Amazon-shaped manifest ---- */

static void check_amazon_protection(const struct manifest_protection *p) {
  assert_true(p->cenc);
  assert_true(p->has_kid);
  assert_memory_equal(p->kid, KID, 16);
  assert_int_equal(p->n_drm, 1);
  assert_int_equal(p->drm[0].system, MANIFEST_DRM_WIDEVINE);
  assert_memory_equal(p->drm[0].system_id, WIDEVINE, 16);
  assert_int_equal(p->drm[0].pssh_len, 64);
  assert_memory_equal(p->drm[0].pssh, "\x00\x00\x00\x40pssh", 8);
  assert_memory_equal(p->drm[0].pssh + 12, WIDEVINE, 16);
  assert_string_equal(p->drm[0].license_url,
                      "https://music-drm.amazon.example/dmls/license/widevine");
}

static void test_amazon_sets(void **state) {
  struct manifest *m = parse_file("amazon.mpd", AMAZON_ORIGIN);
  assert_true(manifest_is_remote(m));
  assert_int_equal(manifest_duration_ns(m), 25500000000ull);
  size_t np, n;
  const struct manifest_period *per = manifest_periods(m, &np);
  assert_int_equal(np, 1);
  assert_string_equal(per[0].id, "0");
  assert_int_equal(per[0].start_ns, 0);
  assert_int_equal(per[0].duration_ns, 25500000000ull);
  const struct manifest_set *sets = manifest_adaptation_sets(m, &n);
  assert_int_equal(n, 2);
  assert_ptr_equal(sets, per[0].sets);

  const struct manifest_set *hd = &sets[0], *sd = &sets[1];
  assert_string_equal(hd->id, "1");
  assert_string_equal(hd->content_type, "audio");
  assert_string_equal(hd->mime_type, "audio/mp4");
  assert_int_equal(hd->selection_priority, 2);
  assert_string_equal(hd->track_type, "HD");
  assert_true(hd->has_program_loudness);
  assert_float_equal(hd->program_loudness, -13.5, 1e-6);
  assert_true(hd->has_anchor_loudness);
  assert_float_equal(hd->anchor_loudness, -11.25, 1e-6);
  check_amazon_protection(&hd->protection);

  assert_string_equal(sd->id, "2");
  assert_int_equal(sd->selection_priority, 1);
  assert_string_equal(sd->track_type, "SD");
  assert_float_equal(sd->program_loudness, -14.0, 1e-6);
  assert_false(sd->has_anchor_loudness);
  check_amazon_protection(&sd->protection); /* upper-case KID, wrapped pssh */

  /* HD and SD name each other. */
  size_t nt;
  const struct manifest_set *const *t = manifest_switch_targets(hd, &nt);
  assert_int_equal(nt, 1);
  assert_ptr_equal(t[0], sd);
  t = manifest_switch_targets(sd, &nt);
  assert_int_equal(nt, 1);
  assert_ptr_equal(t[0], hd);
  manifest_free(m);
}

static void test_amazon_reps(void **state) {
  struct manifest *m = parse_file("amazon.mpd", AMAZON_ORIGIN);
  const struct manifest_rep *r = manifest_find_rep(m, "hd-44-16");
  assert_non_null(r);
  assert_string_equal(r->set->id, "1");
  assert_string_equal(r->codecs, "flac");
  assert_string_equal(r->mime_type, "audio/mp4"); /* from the set */
  assert_int_equal(r->sample_rate, 44100);
  assert_int_equal(r->channels, 2);
  assert_int_equal(r->bit_depth, 16);
  assert_int_equal(r->bandwidth, 1105000);
  assert_true(r->has_quality_ranking);
  assert_int_equal(r->quality_ranking, 2);
  /* byte-exact: &amp; decoded, %2F and ~ untouched */
  assert_string_equal(r->url, "https://d1.cdn.amazon.example/0/B0TEST/hd-44-16.mp4"
                              "?Expires=1790000000&Signature=a~b%2Fc&Key-Pair-Id=K1");
  assert_false(r->url_is_path);
  assert_false(r->segment_base);
  assert_int_equal(r->timescale, 44100);
  assert_true(r->has_init);
  assert_int_equal(r->init.first, 0);
  assert_int_equal(r->init.last, 1067);
  assert_int_equal(r->n_segments, 3);
  /* the first media range does not start right after the init range: taken as given */
  assert_int_equal(r->segments[0].first, 1140);
  assert_int_equal(r->segments[0].last, 901339);
  assert_int_equal(r->segments[0].start, 0);
  assert_int_equal(r->segments[0].duration, 441000);
  assert_int_equal(r->segments[1].first, 901340);
  assert_int_equal(r->segments[1].start, 441000);
  assert_int_equal(r->segments[2].last, 2301199);
  assert_int_equal(r->segments[2].start, 882000);
  assert_int_equal(r->segments[2].duration, 242550); /* 25.5 s * 44100 - 882000 */
  check_amazon_protection(&r->protection);           /* inherited from the set */
  size_t len;
  const uint8_t *pssh = manifest_pssh(r, MANIFEST_DRM_WIDEVINE, &len);
  assert_non_null(pssh);
  assert_int_equal(len, 64);
  assert_string_equal(manifest_license_url(r, MANIFEST_DRM_WIDEVINE),
                      "https://music-drm.amazon.example/dmls/license/widevine");
  assert_null(manifest_license_url(r, MANIFEST_DRM_CLEARKEY));
  assert_null(manifest_pssh(r, MANIFEST_DRM_CLEARKEY, &len));
  assert_int_equal(len, 0);

  r = manifest_find_rep(m, "hd-96-24");
  assert_int_equal(r->bit_depth, 24);
  assert_int_equal(r->sample_rate, 96000);
  assert_int_equal(r->segments[2].duration, 25500000ull * 96 / 1000 - 1920000);

  r = manifest_find_rep(m, "sd-53");
  assert_int_equal(r->bit_depth, 16); /* the element form */
  assert_string_equal(r->codecs, "opus");
  assert_string_equal(r->url, "https://d1.cdn.amazon.example/0/B0TEST/sd-53.mp4?Signature=s53");
  assert_null(manifest_find_rep(m, "nope"));
  assert_null(manifest_find_rep(m, NULL));
  manifest_free(m);
}

static void test_ranking(void **state) {
  struct manifest *m = parse_file("amazon.mpd", AMAZON_ORIGIN);
  const struct manifest_set *sd = set_by_id(m, "2");
  size_t n;
  const struct manifest_rep *const *rk = manifest_set_ranked(sd, &n);
  assert_int_equal(n, 3);
  assert_string_equal(rk[0]->id, "sd-325");
  assert_string_equal(rk[1]->id, "sd-197");
  assert_string_equal(rk[2]->id, "sd-53");
  assert_string_equal(sd->reps[0].id, "sd-53"); /* document order kept */
  manifest_free(m);

  /* No qualityRanking: by bandwidth; unranked reps after ranked ones. */
  char *xml = mpd1("", CDN_BASE, "", "",
                   SEGS "</Representation><Representation id=\"b\" bandwidth=\"5000\">" SEGS
                        "</Representation><Representation id=\"c\" bandwidth=\"10\" "
                        "qualityRanking=\"9\">" SEGS);
  m = parse_ok(xml, NULL);
  rk = manifest_set_ranked(set_by_id(m, "1"), &n);
  assert_int_equal(n, 3);
  assert_string_equal(rk[0]->id, "c");
  assert_string_equal(rk[1]->id, "b");
  assert_string_equal(rk[2]->id, "r");
  manifest_free(m);
  free(xml);
}

/* ---- namespaces by URI ---- */

static void assert_same_protection(const struct manifest_protection *a,
                                   const struct manifest_protection *b) {
  assert_int_equal(a->cenc, b->cenc);
  assert_int_equal(a->has_kid, b->has_kid);
  assert_memory_equal(a->kid, b->kid, 16);
  assert_int_equal(a->n_drm, b->n_drm);
  for (size_t i = 0; i < a->n_drm; i++) {
    assert_int_equal(a->drm[i].system, b->drm[i].system);
    assert_int_equal(a->drm[i].pssh_len, b->drm[i].pssh_len);
    if (a->drm[i].pssh_len)
      assert_memory_equal(a->drm[i].pssh, b->drm[i].pssh, a->drm[i].pssh_len);
    assert_true((a->drm[i].license_url == NULL) == (b->drm[i].license_url == NULL));
    if (a->drm[i].license_url)
      assert_string_equal(a->drm[i].license_url, b->drm[i].license_url);
  }
}

static void assert_same_str(const char *a, const char *b) {
  assert_true((a == NULL) == (b == NULL));
  if (a)
    assert_string_equal(a, b);
}

static void test_prefix_independence(void **state) {
  struct manifest *a = parse_file("amazon.mpd", AMAZON_ORIGIN);
  struct manifest *b = parse_file("amazon_prefixes.mpd", AMAZON_ORIGIN);
  size_t na, nb;
  const struct manifest_set *sa = manifest_adaptation_sets(a, &na);
  const struct manifest_set *sb = manifest_adaptation_sets(b, &nb);
  assert_int_equal(na, 2);
  assert_int_equal(na, nb);
  assert_int_equal(manifest_duration_ns(a), manifest_duration_ns(b));
  for (size_t i = 0; i < na; i++) {
    assert_same_str(sa[i].id, sb[i].id);
    assert_same_str(sa[i].track_type, sb[i].track_type);
    assert_float_equal(sa[i].program_loudness, sb[i].program_loudness, 0);
    assert_int_equal(sa[i].n_switch_targets, sb[i].n_switch_targets);
    assert_same_protection(&sa[i].protection, &sb[i].protection);
    assert_int_equal(sa[i].n_reps, sb[i].n_reps);
    for (size_t j = 0; j < sa[i].n_reps; j++) {
      const struct manifest_rep *x = &sa[i].reps[j], *y = &sb[i].reps[j];
      assert_string_equal(x->id, y->id);
      assert_same_str(x->codecs, y->codecs);
      assert_int_equal(x->bit_depth, y->bit_depth);
      assert_true(x->bit_depth > 0 || strcmp(x->id, "sd-53") != 0);
      assert_int_equal(x->channels, y->channels);
      assert_string_equal(x->url, y->url);
      assert_int_equal(x->n_segments, y->n_segments);
      assert_memory_equal(x->segments, y->segments, x->n_segments * sizeof(*x->segments));
      assert_same_protection(&x->protection, &y->protection);
    }
  }
  /* and the protection really is there in both */
  check_amazon_protection(&sb[1].reps[2].protection);
  manifest_free(a);
  manifest_free(b);
}

static void test_wrong_namespace_ignored(void **state) {
  char *xml = load("amazon.mpd");
  /* the cenc prefix bound to another URI: no KID, no pssh */
  char *v = replace(xml, "xmlns:cenc=\"urn:mpeg:cenc:2013\"", "xmlns:cenc=\"urn:example:cenc\"");
  struct manifest *m = parse_ok(v, AMAZON_ORIGIN);
  const struct manifest_rep *r = manifest_find_rep(m, "hd-96-24");
  assert_true(r->protection.cenc);
  assert_false(r->protection.has_kid);
  assert_int_equal(r->protection.n_drm, 1);
  assert_null(r->protection.drm[0].pssh);
  assert_non_null(r->protection.drm[0].license_url);
  manifest_free(m);
  free(v);

  /* the amz-music prefix bound to another URI: no license URL, no bitDepth */
  v = replace(xml, "xmlns:amz-music=\"urn:amazon:music:3p:music:2020\"",
              "xmlns:amz-music=\"urn:example:music\"");
  m = parse_ok(v, AMAZON_ORIGIN);
  r = manifest_find_rep(m, "hd-96-24");
  assert_null(manifest_license_url(r, MANIFEST_DRM_WIDEVINE));
  assert_int_equal(r->bit_depth, 0);
  assert_int_equal(manifest_find_rep(m, "sd-53")->bit_depth, 0);
  manifest_free(m);
  free(v);

  /* ... and to the other Amazon namespace: still found */
  v = replace(xml, "xmlns:amz-music=\"urn:amazon:music:3p:music:2020\"",
              "xmlns:amz-music=\"urn:amazon:music:drm:2019\"");
  m = parse_ok(v, AMAZON_ORIGIN);
  r = manifest_find_rep(m, "hd-96-24");
  assert_non_null(manifest_license_url(r, MANIFEST_DRM_WIDEVINE));
  assert_int_equal(r->bit_depth, 24);
  manifest_free(m);
  free(v);

  /* licenseUrl spelling */
  v = replace(xml, "LicenseUrl>", "licenseUrl>");
  m = parse_ok(v, AMAZON_ORIGIN);
  assert_non_null(manifest_license_url(manifest_find_rep(m, "sd-53"), MANIFEST_DRM_WIDEVINE));
  manifest_free(m);
  free(v);

  /* a Representation in a foreign namespace is not a Representation */
  v = replace(xml, "<Representation id=\"sd-53\"",
              "<x:Representation xmlns:x=\"urn:example:x\" id=\"zz\" bandwidth=\"1\"/>\n"
              "<Representation id=\"sd-53\"");
  m = parse_ok(v, AMAZON_ORIGIN);
  assert_null(manifest_find_rep(m, "zz"));
  assert_int_equal(set_by_id(m, "2")->n_reps, 3);
  manifest_free(m);
  free(v);

  /* the default namespace changed: not an MPD at all */
  v = replace(xml, "xmlns=\"urn:mpeg:dash:schema:mpd:2011\"", "xmlns=\"urn:example:mpd\"");
  expect_fail(v, AMAZON_ORIGIN, -AMP_EMANIFEST, "not an MPD");
  free(v);
  free(xml);
}

/* ---- ClearKey signalling ---- */

static void test_clearkey_dashif(void **state) {
  char *xml = load("clearkey_dashif.mpd");
  struct manifest *m = parse_ok(xml, "https://host.example/dir/manifest.mpd?token=1");
  const struct manifest_rep *r = manifest_find_rep(m, "a");
  assert_string_equal(r->url, "https://host.example/dir/media/opus/track%20a.mp4");
  assert_string_equal(r->codecs, "opus"); /* from the set */
  assert_int_equal(r->sample_rate, 48000);
  assert_int_equal(r->channels, 1);
  assert_false(r->set->protection.has_kid);
  assert_true(r->protection.has_kid); /* on the Representation */
  assert_memory_equal(r->protection.kid, KID, 16);
  assert_true(r->protection.cenc);
  assert_int_equal(r->protection.n_drm, 2);
  assert_int_equal(r->protection.drm[0].system, MANIFEST_DRM_CLEARKEY);
  assert_int_equal(r->protection.drm[1].system, MANIFEST_DRM_W3C_COMMON);
  assert_string_equal(manifest_license_url(r, MANIFEST_DRM_CLEARKEY),
                      "https://127.0.0.1:8443/clearkey/license");
  size_t len;
  const uint8_t *pssh = manifest_pssh(r, MANIFEST_DRM_W3C_COMMON, &len);
  assert_int_equal(len, 52);
  assert_int_equal(pssh[8], 1);                     /* version 1 */
  assert_memory_equal(pssh + 32, KID, 16);          /* its KID */
  assert_int_equal(r->segments[2].duration, 24000); /* 2.5 s: the last half */
  manifest_free(m);

  /* lower-case laurl, and the same file as a local manifest: paths, percent-decoded */
  char *v = replace(xml, "ck:Laurl>", "ck:laurl>");
  m = parse_ok(v, "/srv/music/x.mpd");
  r = manifest_find_rep(m, "a");
  assert_false(manifest_is_remote(m));
  assert_true(r->url_is_path);
  assert_string_equal(r->url, "/srv/music/media/opus/track a.mp4");
  assert_string_equal(manifest_license_url(r, MANIFEST_DRM_CLEARKEY),
                      "https://127.0.0.1:8443/clearkey/license");
  manifest_free(m);
  free(v);

  /* Laurl in the clearKey namespace is also taken, but not a lower-case one there */
  v = replace(xml, "https://dashif.org/CPS", "http://dashif.org/guidelines/clearKey");
  m = parse_ok(v, "x.mpd");
  assert_non_null(manifest_license_url(manifest_find_rep(m, "a"), MANIFEST_DRM_CLEARKEY));
  assert_string_equal(manifest_find_rep(m, "a")->url, "media/opus/track a.mp4");
  manifest_free(m);
  char *w = replace(v, "ck:Laurl>", "ck:laurl>");
  m = parse_ok(w, "x.mpd");
  assert_null(manifest_license_url(manifest_find_rep(m, "a"), MANIFEST_DRM_CLEARKEY));
  manifest_free(m);
  free(w);
  free(v);

  /* the scheme of a license URL is lower-cased */
  v = replace(xml, "https://127.0.0.1:8443", "HTTPS://127.0.0.1:8443");
  m = parse_ok(v, "x.mpd");
  assert_string_equal(manifest_license_url(manifest_find_rep(m, "a"), MANIFEST_DRM_CLEARKEY),
                      "https://127.0.0.1:8443/clearkey/license");
  manifest_free(m);
  free(v);
  v = replace(xml, "8443/clearkey", "8443/clear key");
  expect_fail(v, "x.mpd", -AMP_EMANIFEST, "white space");
  free(v);

  /* a license URL must be https */
  v = replace(xml, "https://127.0.0.1:8443", "http://127.0.0.1:8443");
  expect_fail(v, "x.mpd", -AMP_EMANIFEST, "license URL");
  free(v);
  free(xml);
}

static void test_clearkey_legacy(void **state) {
  struct manifest *m = parse_file("clearkey_legacy.mpd", NULL);
  const struct manifest_rep *r = manifest_find_rep(m, "r");
  assert_null(r->set->id);
  assert_int_equal(r->set->selection_priority, 1);
  assert_int_equal(r->protection.n_drm, 1);
  assert_int_equal(r->protection.drm[0].system, MANIFEST_DRM_CLEARKEY); /* upper-case UUID */
  /* the dashif-prefixed element in another namespace was skipped; white space trimmed */
  assert_string_equal(manifest_license_url(r, MANIFEST_DRM_CLEARKEY),
                      "https://license.example/clearkey?x=1");
  assert_int_equal(r->protection.kid[0], 0x0a);
  assert_int_equal(r->n_segments, 1);
  assert_int_equal(r->segments[0].duration, 44100);
  manifest_free(m);
}

/* ---- SegmentBase + sidx ---- */

static size_t put_sidx(uint8_t *b, int version, uint32_t timescale, uint64_t ept,
                       uint64_t first_offset, const uint32_t *sizes, const uint32_t *durs,
                       size_t n) {
  size_t o = 0;
  uint8_t *size_at = b;
#define U32(v)                                                                                     \
  do {                                                                                             \
    uint32_t x_ = (v);                                                                             \
    b[o++] = (uint8_t)(x_ >> 24), b[o++] = (uint8_t)(x_ >> 16), b[o++] = (uint8_t)(x_ >> 8),       \
    b[o++] = (uint8_t)x_;                                                                          \
  } while (0)
  U32(0);
  memcpy(b + o, "sidx", 4);
  o += 4;
  U32((uint32_t)version << 24);
  U32(1);
  U32(timescale);
  if (version == 0) {
    U32((uint32_t)ept);
    U32((uint32_t)first_offset);
  } else {
    U32((uint32_t)(ept >> 32));
    U32((uint32_t)ept);
    U32((uint32_t)(first_offset >> 32));
    U32((uint32_t)first_offset);
  }
  U32((uint32_t)n); /* reserved 0, reference_count */
  for (size_t i = 0; i < n; i++) {
    U32(sizes[i]);
    U32(durs[i]);
    U32(0x90000000u); /* starts with SAP, type 1 */
  }
#undef U32
  size_at[0] = (uint8_t)(o >> 24), size_at[1] = (uint8_t)(o >> 16);
  size_at[2] = (uint8_t)(o >> 8), size_at[3] = (uint8_t)o;
  return o;
}

static void test_segment_base_sidx(void **state) {
  struct manifest *m = parse_file("segment_base.mpd", "/media/x/segment_base.mpd");
  const struct manifest_rep *r = manifest_find_rep(m, "flac");
  assert_true(r->segment_base);
  assert_string_equal(r->url, "/media/x/flac.mp4");
  assert_true(r->has_index);
  assert_int_equal(r->index.first, 1068);
  assert_int_equal(r->index.last, 1135);
  assert_int_equal(r->init.last, 1067);
  assert_int_equal(r->timescale, 48000);
  assert_int_equal(r->n_segments, 0);

  uint8_t sidx[256];
  const uint32_t sizes[] = {1000, 2000, 500}, durs[] = {96000, 96000, 40000};
  size_t len = put_sidx(sidx, 0, 44100, 0, 0, sizes, durs, 3);
  assert_int_equal(len, 68); /* = the indexRange */
  assert_int_equal(manifest_rep_set_segments_from_sidx(m, r, sidx, len, r->index.first), 0);
  assert_int_equal(r->n_segments, 3);
  assert_int_equal(r->timescale, 44100);        /* the sidx's */
  assert_int_equal(r->segments[0].first, 1136); /* the byte after the sidx */
  assert_int_equal(r->segments[0].last, 2135);
  assert_int_equal(r->segments[1].first, 2136);
  assert_int_equal(r->segments[2].last, 1136 + 3500 - 1);
  assert_int_equal(r->segments[1].start, 96000);
  assert_int_equal(r->segments[2].duration, 40000);

  /* replaced again (v1, first_offset, earliest presentation time): the old list is freed */
  len = put_sidx(sidx, 1, 48000, 1ull << 33, 100, sizes, durs, 2);
  assert_int_equal(manifest_rep_set_segments_from_sidx(m, r, sidx, len, 5000), 0);
  assert_int_equal(r->n_segments, 2);
  assert_int_equal(r->segments[0].first, 5000 + len + 100);
  assert_int_equal(r->segments[0].start, 1ull << 33);
  assert_int_equal(r->segments[1].start, (1ull << 33) + 96000);

  /* failures leave the rep as it was */
  assert_int_equal(manifest_rep_set_segments_from_sidx(m, r, sidx, len - 1, 0), -AMP_EMP4);
  struct manifest_rep other = *r;
  assert_int_equal(manifest_rep_set_segments_from_sidx(m, &other, sidx, len, 0), -EINVAL);
  assert_int_equal(r->n_segments, 2);
  manifest_free(m);
}

static void test_sidx_errors(void **state) {
  uint8_t b[256];
  struct manifest_segment *segs = NULL;
  size_t n = 0;
  uint32_t ts = 0;
  const uint32_t sizes[] = {10, 20}, durs[] = {1, 2};
  size_t len = put_sidx(b, 0, 1000, 0, 0, sizes, durs, 2);
  assert_int_equal(manifest_sidx_parse(b, len, 0, &segs, &n, &ts), 0);
  assert_int_equal(n, 2);
  assert_int_equal(ts, 1000);
  assert_int_equal(segs[0].first, len);
  assert_int_equal(segs[1].last, len + 29);
  free(segs);
  /* trailing bytes after the box are not read */
  assert_int_equal(manifest_sidx_parse(b, len + 10, 0, &segs, &n, &ts), 0);
  free(segs);
  for (size_t cut = 0; cut < len; cut++)
    assert_int_equal(manifest_sidx_parse(b, cut, 0, &segs, &n, &ts), -AMP_EMP4);
  b[4] = 'X'; /* not a sidx */
  assert_int_equal(manifest_sidx_parse(b, len, 0, &segs, &n, &ts), -AMP_EMP4);
  len = put_sidx(b, 0, 0, 0, 0, sizes, durs, 2); /* timescale 0 */
  assert_int_equal(manifest_sidx_parse(b, len, 0, &segs, &n, &ts), -AMP_EMP4);
  len = put_sidx(b, 0, 1, 0, 0, sizes, durs, 0); /* no references */
  assert_int_equal(manifest_sidx_parse(b, len, 0, &segs, &n, &ts), -AMP_EMP4);
  const uint32_t hier[] = {0x80000010u};
  len = put_sidx(b, 0, 1, 0, 0, hier, durs, 1); /* reference_type 1 */
  assert_int_equal(manifest_sidx_parse(b, len, 0, &segs, &n, &ts), -AMP_EUNSUPPORTED);
  const uint32_t zero[] = {0};
  len = put_sidx(b, 0, 1, 0, 0, zero, durs, 1);
  assert_int_equal(manifest_sidx_parse(b, len, 0, &segs, &n, &ts), -AMP_EMP4);
  len = put_sidx(b, 1, 1, 0, UINT64_MAX - 10, sizes, durs, 1); /* offsets overflow */
  assert_int_equal(manifest_sidx_parse(b, len, 0, &segs, &n, &ts), -AMP_EMP4);
  len = put_sidx(b, 1, 1, UINT64_MAX, 0, sizes, durs, 1); /* times overflow */
  assert_int_equal(manifest_sidx_parse(b, len, 0, &segs, &n, &ts), -AMP_EMP4);
  len = put_sidx(b, 2, 1, 0, 0, sizes, durs, 1); /* version 2 */
  assert_int_equal(manifest_sidx_parse(b, len, 0, &segs, &n, &ts), -AMP_EMP4);
  assert_int_equal(manifest_sidx_parse(NULL, 0, 0, &segs, &n, &ts), -EINVAL);
}

/* ---- ffmpeg's own MPD ---- */

static void test_ffmpeg(void **state) {
  struct manifest *m = parse_file("ffmpeg_opus.mpd", MANIFEST_DATA_DIR "/ffmpeg_opus.mpd");
  assert_int_equal(manifest_duration_ns(m), 3000000000ull);
  const struct manifest_rep *r = manifest_find_rep(m, "0");
  assert_true(r->url_is_path);
  assert_string_equal(r->url, MANIFEST_DATA_DIR "/out-stream0.mp4");
  assert_string_equal(r->codecs, "opus");
  assert_int_equal(r->channels, 1);
  assert_int_equal(r->sample_rate, 48000);
  assert_int_equal(r->bandwidth, 64000);
  assert_false(r->protection.cenc);
  assert_int_equal(r->protection.n_drm, 0);
  assert_int_equal(r->timescale, 1000000);
  assert_int_equal(r->init.last, 729);
  assert_int_equal(r->n_segments, 4);
  assert_int_equal(r->segments[0].first, 730);
  assert_int_equal(r->segments[3].last, 28930);
  assert_int_equal(r->segments[2].start, 2000000);
  /* a fourth segment past the presentation end keeps its nominal duration */
  assert_int_equal(r->segments[3].duration, 1000000);
  manifest_free(m);

  m = parse_file("ffmpeg_opus.mpd", "https://media.example/a/b/out.mpd");
  assert_string_equal(manifest_find_rep(m, "0")->url, "https://media.example/a/b/out-stream0.mp4");
  manifest_free(m);
}

/* ---- BaseURL resolution and the URL policy ---- */

static void expect_url(const char *mpd_base, const char *set_base, const char *rep_base,
                       const char *origin, const char *want, int want_path) {
  char mb[512] = "", sb[512] = "", rb[512] = "";
  if (mpd_base)
    snprintf(mb, sizeof(mb), "<BaseURL>%s</BaseURL>", mpd_base);
  if (set_base)
    snprintf(sb, sizeof(sb), "<BaseURL>%s</BaseURL>", set_base);
  if (rep_base)
    snprintf(rb, sizeof(rb), "<BaseURL>%s</BaseURL>", rep_base);
  char inner[1024];
  snprintf(inner, sizeof(inner), "%s%s", rb, SEGS);
  char *xml = mpd1("", mb, sb, "", inner);
  struct manifest *m = parse_ok(xml, origin);
  const struct manifest_rep *r = manifest_find_rep(m, "r");
  assert_string_equal(r->url, want);
  assert_int_equal(r->url_is_path, want_path);
  manifest_free(m);
  free(xml);
}

static void expect_url_fail(const char *mpd_base, const char *rep_base, const char *origin,
                            int code, const char *needle) {
  char mb[512] = "", rb[600];
  if (mpd_base)
    snprintf(mb, sizeof(mb), "<BaseURL>%s</BaseURL>", mpd_base);
  snprintf(rb, sizeof(rb), "%s%s%s" SEGS, rep_base ? "<BaseURL>" : "", rep_base ? rep_base : "",
           rep_base ? "</BaseURL>" : "");
  char *xml = mpd1("", mb, "", "", rb);
  expect_fail(xml, origin, code, needle);
  free(xml);
}

static void test_base_url(void **state) {
  const char *o = "https://h.example/m/dir/x.mpd?tok=1";
  expect_url(NULL, NULL, "https://cdn.example/a.mp4", o, "https://cdn.example/a.mp4", 0);
  expect_url(NULL, NULL, "a.mp4", o, "https://h.example/m/dir/a.mp4", 0);
  expect_url(NULL, NULL, "../a.mp4", o, "https://h.example/m/a.mp4", 0);
  expect_url(NULL, NULL, "../../../../a.mp4", o, "https://h.example/a.mp4", 0);
  expect_url(NULL, NULL, "/abs/a.mp4?s=1#frag", o, "https://h.example/abs/a.mp4?s=1", 0);
  expect_url(NULL, NULL, "//other.example/z.mp4", o, "https://other.example/z.mp4", 0);
  expect_url(NULL, NULL, "?q=2", o, "https://h.example/m/dir/x.mpd?q=2", 0);
  expect_url(NULL, NULL, "./sub/./b.mp4", o, "https://h.example/m/dir/sub/b.mp4", 0);
  /* hierarchical: MPD -> AdaptationSet -> Representation */
  expect_url("https://cdn.example/root/", "as/../set/", "x.mp4?sig=a%2Fb", o,
             "https://cdn.example/root/set/x.mp4?sig=a%2Fb", 0);
  expect_url("https://cdn.example/root/", "set/", "/top.mp4", o, "https://cdn.example/top.mp4", 0);
  expect_url("https://cdn.example", NULL, "a.mp4", o, "https://cdn.example/a.mp4", 0);
  expect_url("https://cdn.example/root/", "https://cdn2.example/s/", "a.mp4", o,
             "https://cdn2.example/s/a.mp4", 0);
  /* an absolute https BaseURL with no origin at all */
  expect_url(NULL, NULL, "https://cdn.example/a.mp4", NULL, "https://cdn.example/a.mp4", 0);
  /* the scheme is handed out in lower case */
  expect_url(NULL, NULL, "HTTPS://cdn.example/a.mp4", NULL, "https://cdn.example/a.mp4", 0);
  expect_url(NULL, NULL, "a.mp4", "HttpS://h.example/x.mpd", "https://h.example/a.mp4", 0);
  /* local manifests: relative paths, resolved to paths; https still allowed */
  expect_url(NULL, NULL, "sub/a%2bb.mp4", "/data/m.mpd", "/data/sub/a+b.mp4", 1);
  expect_url(NULL, NULL, "../a.mp4", "rel/m.mpd", "rel/../a.mp4", 1);
  expect_url("media/", "opus/", "a.mp4", "m.mpd", "media/opus/a.mp4", 1);
  expect_url("https://cdn.example/d/", NULL, "a.mp4", "/data/m.mpd", "https://cdn.example/d/a.mp4",
             0);

  /* the policy */
  expect_url_fail(NULL, "http://cdn.example/a.mp4", o, -AMP_EMANIFEST, "https");
  expect_url_fail("http://cdn.example/", "a.mp4", o, -AMP_EMANIFEST, "https");
  expect_url_fail(NULL, "file:///etc/passwd", o, -AMP_EMANIFEST, "https");
  expect_url_fail(NULL, "file:///etc/passwd", "/data/m.mpd", -AMP_EMANIFEST, "https");
  expect_url_fail(NULL, "data:audio/mp4;base64,AAAA", o, -AMP_EMANIFEST, "https");
  expect_url_fail(NULL, "https:relative.mp4", o, -AMP_EMANIFEST, "https");
  expect_url_fail(NULL, "/etc/passwd", "/data/m.mpd", -AMP_EMANIFEST, "absolute");
  expect_url_fail(NULL, "a.mp4?x=1", "/data/m.mpd", -AMP_EMANIFEST, "query");
  expect_url_fail(NULL, "a%00b.mp4", "/data/m.mpd", -AMP_EMANIFEST, "percent");
  expect_url_fail(NULL, "a%zz.mp4", "/data/m.mpd", -AMP_EMANIFEST, "percent");
  expect_url_fail(NULL, "a.mp4", NULL, -AMP_EMANIFEST, "no origin");
  expect_url_fail(NULL, "a b.mp4", o, -AMP_EMANIFEST, "white space");
  expect_url_fail(NULL, NULL, o, -AMP_EMANIFEST, "no BaseURL");
  expect_url_fail(NULL, "a.mp4", "http://h.example/x.mpd", -AMP_EINSECURE, "origin");
  expect_url_fail(NULL, "a.mp4", "file:///x.mpd", -AMP_EINSECURE, "origin");

  /* error messages never quote a query (signed URLs) nor control characters */
  expect_url_fail(NULL, "http://cdn.example/a.mp4?Signature=SECRET", o, -AMP_EMANIFEST,
                  "http://cdn.example/a.mp4");
  assert_null(strstr(errmsg, "SECRET"));
  /* nor a fragment or a user:password@ */
  expect_url_fail(NULL, "http://alice:pw0rd@cdn.example/a.mp4#tok=SECRET", o, -AMP_EMANIFEST,
                  "http://cdn.example/a.mp4");
  assert_null(strstr(errmsg, "SECRET"));
  assert_null(strstr(errmsg, "pw0rd"));
  assert_null(strstr(errmsg, "alice"));
  char *xml = mpd1("", "", "", "bandwidth=\"1&#10;2\"", CDN_BASE SEGS);
  expect_fail(xml, NULL, -AMP_EMANIFEST, "bandwidth=\"1?2\"");
  for (const char *c = errmsg; *c; c++)
    assert_true((unsigned char)*c >= 0x20);
  free(xml);
}

static void test_periods(void **state) {
  const char *xml =
      "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" mediaPresentationDuration=\"PT30S\">"
      "<BaseURL>https://cdn.example/</BaseURL>"
      "<Period id=\"a\"><AdaptationSet><Representation id=\"r1\" bandwidth=\"1\">"
      "<BaseURL>a.mp4</BaseURL>"
      "<SegmentList timescale=\"1\" duration=\"10\"><SegmentURL mediaRange=\"0-1\"/>"
      "<SegmentURL mediaRange=\"2-3\"/></SegmentList></Representation></AdaptationSet></Period>"
      "<Period id=\"b\" start=\"PT12S\"><BaseURL>p2/</BaseURL><AdaptationSet>"
      "<SegmentList timescale=\"2\" duration=\"20\"><Initialization range=\"0-5\"/></SegmentList>"
      "<Representation id=\"r2\" bandwidth=\"1\"><BaseURL>b.mp4</BaseURL>"
      "<SegmentList><SegmentURL mediaRange=\"6-7\"/><SegmentURL mediaRange=\"8-9\"/>"
      "</SegmentList></Representation></AdaptationSet></Period></MPD>";
  struct manifest *m = parse_ok(xml, NULL);
  size_t n;
  const struct manifest_period *p = manifest_periods(m, &n);
  assert_int_equal(n, 2);
  assert_int_equal(p[0].duration_ns, 12000000000ull);
  assert_int_equal(p[1].start_ns, 12000000000ull);
  assert_int_equal(p[1].duration_ns, 18000000000ull);
  const struct manifest_rep *r1 = manifest_find_rep(m, "r1");
  assert_int_equal(r1->segments[1].duration, 2); /* 12 s period, 10 s segments */
  const struct manifest_rep *r2 = manifest_find_rep(m, "r2");
  assert_string_equal(r2->url, "https://cdn.example/p2/b.mp4");
  assert_int_equal(r2->timescale, 2); /* inherited from the set's SegmentList */
  assert_true(r2->has_init);
  assert_int_equal(r2->init.last, 5);
  assert_int_equal(r2->segments[1].start, 20);
  assert_int_equal(r2->segments[1].duration, 16); /* 18 s * 2 - 20 */
  manifest_free(m);
}

/* The tree holds only what the walk reads (manifest_sax.c): what it reads must not change.
 * Passes on the full-tree parser too. */
static void test_pruned_tree(void **state) {
  (void)state;
  const char *xml =
      "<?xml version=\"1.0\"?>\n"
      "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" type=\"static\" "
      "mediaPresentationDuration=\"PT20S\"><!-- a comment --><?pi x?>\n"
      "<BaseURL>https://cdn.ex<x>am<y>p</y>le</x>/<!-- c -->d/</BaseURL>"
      "<BaseURL>https://second.example/</BaseURL>\n"
      "<Period><o:Wrap xmlns:o=\"urn:other\" xmlns:p=\"urn:mpeg:dash:schema:mpd:2011\">"
      "<p:AdaptationSet id=\"hidden\"/></o:Wrap>\n"
      "<AdaptationSet id=\"1\" o:x=\"1\" xmlns:o=\"urn:other\" unknown=\"2\">"
      "<Representation id=\"r\" bandwidth=\"1000\" "
      "codecs=\"a&amp;b&lt;c&#65;&#x26;d&quot;e\"><BaseURL>a.mp4</BaseURL>"
      "<SegmentList duration=\"10\"><Initialization range=\"0-9\"/>"
      "<Initialization range=\"0-1\"/>\n<SegmentURL mediaRange=\"10-19\"><x/>t</SegmentURL>"
      "<SegmentURL mediaRange=\" 20-29 \"/></SegmentList>"
      "<Other><Representation id=\"nested\" bandwidth=\"1\"/></Other>"
      "</Representation></AdaptationSet></Period></MPD>\n";
  struct manifest *m = parse_ok(xml, NULL);
  size_t n;
  const struct manifest_set *sets = manifest_adaptation_sets(m, &n);
  assert_int_equal(n, 1); /* not the one inside an unknown element */
  assert_int_equal(sets[0].n_reps, 1);
  const struct manifest_rep *r = &sets[0].reps[0];
  assert_string_equal(r->codecs, "a&b<cA&d\"e");
  /* the first BaseURL, its text as a whole (comments are not text) */
  assert_string_equal(r->url, "https://cdn.example/d/a.mp4");
  assert_int_equal(r->init.last, 9); /* the first Initialization */
  assert_int_equal(r->n_segments, 2);
  assert_int_equal(r->segments[1].first, 20);
  assert_null(manifest_find_rep(m, "nested"));
  manifest_free(m);

  /* a SegmentURL's error names its line */
  char *bad = replace(xml, "mediaRange=\" 20-29 \"", "mediaRange=\"29-20\"");
  expect_fail(bad, NULL, -AMP_EMANIFEST, "line 6: mediaRange=\"29-20\": range ends");
  free(bad);
  bad = replace(xml, "<SegmentURL mediaRange=\" 20-29 \"/>", "<SegmentURL media=\"x\"/>");
  expect_fail(bad, NULL, -AMP_EUNSUPPORTED, "line 6: SegmentURL@media");
  free(bad);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_amazon_sets),
      cmocka_unit_test(test_amazon_reps),
      cmocka_unit_test(test_ranking),
      cmocka_unit_test(test_prefix_independence),
      cmocka_unit_test(test_wrong_namespace_ignored),
      cmocka_unit_test(test_clearkey_dashif),
      cmocka_unit_test(test_clearkey_legacy),
      cmocka_unit_test(test_segment_base_sidx),
      cmocka_unit_test(test_sidx_errors),
      cmocka_unit_test(test_ffmpeg),
      cmocka_unit_test(test_base_url),
      cmocka_unit_test(test_periods),
      cmocka_unit_test(test_pruned_tree),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
