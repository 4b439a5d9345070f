/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for media/manifest: bad input gets a clear error (never a crash or stderr
 * output), and every bound is -AMP_ETOOBIG. */
#include "tests/unit/manifest_testutil.h"

/* ---- content protection errors ---- */

#define CP_CENC(kid)                                                                               \
  "<ContentProtection schemeIdUri=\"urn:mpeg:dash:mp4protection:2011\" value=\"cenc\" "            \
  "cenc:default_KID=\"" kid "\"/>"
#define KID_A "3f2a6b1c-0d4e-4f5a-8b6c-7d8e9f0a1b2c"
#define KID_B "0a0b0c0d-0e0f-1011-1213-141516171819"
#define WV_PSSH "AAAAMnBzc2gAAAAA7e+LqXnWSs6jyCfc1R0h7QAAABISEAoLDA0ODxAREhMUFRYXGBk="
#define CP_WV(pssh)                                                                                \
  "<ContentProtection schemeIdUri=\"urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed\">"              \
  "<cenc:pssh>" pssh "</cenc:pssh></ContentProtection>"

static void expect_cp(const char *set_inner, const char *rep_inner_extra, int code,
                      const char *needle) {
  char inner[70000];
  snprintf(inner, sizeof(inner), "%s" CDN_BASE SEGS, rep_inner_extra);
  char *xml = mpd1("", "", set_inner, "", inner);
  if (code == 0) {
    struct manifest *m = parse_ok(xml, NULL);
    manifest_free(m);
  } else {
    expect_fail(xml, NULL, code, needle);
  }
  free(xml);
}

static void test_protection_errors(void **state) {
  expect_cp(CP_CENC(KID_A), CP_CENC(KID_A), 0, NULL);
  expect_cp(CP_CENC(KID_A), CP_CENC(KID_B), -AMP_EMANIFEST, "default_KID");
  expect_cp(CP_CENC(KID_A) CP_CENC(KID_B), "", -AMP_EMANIFEST, "conflicting default_KID");
  expect_cp("", CP_CENC("3f2a6b1c0d4e4f5a8b6c7d8e9f0a1b2c"), -AMP_EMANIFEST, "not a UUID");
  expect_cp("", CP_CENC("3f2a6b1c-0d4e-4f5a-8b6c-7d8e9f0a1bzz"), -AMP_EMANIFEST, "not a UUID");
  expect_cp(CP_WV(WV_PSSH), "", 0, NULL);
  expect_cp(CP_WV("!!!!"), "", -AMP_EMANIFEST, "base64");
  expect_cp(CP_WV("AAAA"), "", -AMP_EMANIFEST, "not a pssh box");
  /* a Widevine pssh under the ClearKey scheme: its system id does not match */
  expect_cp("<ContentProtection schemeIdUri=\"urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e\">"
            "<cenc:pssh>" WV_PSSH "</cenc:pssh></ContentProtection>",
            "", -AMP_EMANIFEST, "not a pssh box");
  /* size field one off */
  expect_cp(CP_WV("AAAAM3Bzc2gAAAAA7e+LqXnWSs6jyCfc1R0h7QAAABISEAoLDA0ODxAREhMUFRYXGBk="), "",
            -AMP_EMANIFEST, "not a pssh box");
  expect_cp("<ContentProtection schemeIdUri=\"urn:uuid:nonsense\"/>", "", -AMP_EMANIFEST,
            "bad UUID");
  expect_cp("<ContentProtection value=\"cenc\"/>", "", -AMP_EMANIFEST, "schemeIdUri");

  /* two reps of a set with different KIDs (none on the set) */
  char *xml = mpd1("", CDN_BASE, "", "",
                   CP_CENC(KID_A) SEGS "</Representation><Representation id=\"s\" "
                                       "bandwidth=\"5\">" CP_CENC(KID_B) SEGS);
  expect_fail(xml, NULL, -AMP_EMANIFEST, "conflicting default_KID");
  free(xml);
  /* an unknown system keeps its id */
  xml = mpd1("", CDN_BASE, "", "",
             "<ContentProtection schemeIdUri=\"urn:uuid:9a04f079-9840-4286-ab92-e65be0885f95\""
             "/>" SEGS);
  struct manifest *m = parse_ok(xml, NULL);
  const struct manifest_rep *r = manifest_find_rep(m, "r");
  assert_int_equal(r->protection.n_drm, 1);
  assert_int_equal(r->protection.drm[0].system, MANIFEST_DRM_OTHER);
  assert_int_equal(r->protection.drm[0].system_id[0], 0x9a);
  manifest_free(m);
  free(xml);
}

/* ---- malformed input ---- */

static void test_malformed(void **state) {
  char *xml = load("bad_not_wellformed.mpd");
  expect_fail(xml, NULL, -AMP_EMANIFEST, "XML error at line 4");
  free(xml);
  xml = load("bad_entities.mpd");
  expect_fail(xml, NULL, -AMP_EMANIFEST, NULL);
  free(xml);
  xml = load("bad_range.mpd");
  expect_fail(xml, NULL, -AMP_EMANIFEST, "ends before");
  free(xml);

  expect_fail("", NULL, -AMP_EMANIFEST, "XML");
  expect_fail("<?xml version=\"1.0\"?><html/>", NULL, -AMP_EMANIFEST, "not an MPD");
  expect_fail("<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\"/>", NULL, -AMP_EMANIFEST,
              "without Period");
  expect_fail("<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\"><Period/></MPD>", NULL, -AMP_EMANIFEST,
              "without Representation");
  expect_fail("<!DOCTYPE MPD><MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\"/>", NULL, -AMP_EMANIFEST,
              "DOCTYPE");

  static const struct {
    const char *mpd_attrs, *rep_attrs, *rep_inner;
    int code;
    const char *needle;
  } cases[] = {
      {"", "", CDN_BASE SEGS, 0, NULL},
      {"type=\"dynamic\"", "", CDN_BASE SEGS, -AMP_EUNSUPPORTED, "dynamic"},
      {"", "id=\"\"", CDN_BASE SEGS, -AMP_EMANIFEST, "without id"},
      {"", "bandwidth=\"\"", CDN_BASE SEGS, -AMP_EMANIFEST, "bandwidth"},
      {"", "bandwidth=\"12x\"", CDN_BASE SEGS, -AMP_EMANIFEST, "bandwidth"},
      {"", "bandwidth=\"-1\"", CDN_BASE SEGS, -AMP_EMANIFEST, "bandwidth"},
      {"", "bandwidth=\"18446744073709551616\"", CDN_BASE SEGS, -AMP_EMANIFEST, "bandwidth"},
      {"", "qualityRanking=\"4294967296\"", CDN_BASE SEGS, -AMP_EMANIFEST, "qualityRanking"},
      {"", "audioSamplingRate=\"fast\"", CDN_BASE SEGS, -AMP_EMANIFEST, "audioSamplingRate"},
      {"", "audioSamplingRate=\"22050 44100\"", CDN_BASE SEGS, 0, NULL},
      {"", "", CDN_BASE, -AMP_EUNSUPPORTED, "no SegmentList"},
      {"", "", CDN_BASE "<SegmentTemplate media=\"$Number$.m4s\"/>", -AMP_EUNSUPPORTED,
       "SegmentTemplate"},
      {"", "", CDN_BASE SEGS "<SegmentBase indexRange=\"0-1\"/>", -AMP_EMANIFEST, "both"},
      {"", "", CDN_BASE "<SegmentBase/>", -AMP_EMANIFEST, "indexRange"},
      {"", "", CDN_BASE "<SegmentBase indexRange=\"9-1\"/>", -AMP_EMANIFEST, "ends before"},
      {"", "", CDN_BASE "<SegmentList duration=\"1\"/>", -AMP_EMANIFEST, "without SegmentURL"},
      {"", "", CDN_BASE "<SegmentList duration=\"1\"><SegmentURL/></SegmentList>", -AMP_EMANIFEST,
       "without mediaRange"},
      {"", "", CDN_BASE "<SegmentList duration=\"1\"><SegmentURL media=\"a\"/></SegmentList>",
       -AMP_EUNSUPPORTED, "media"},
      {"", "",
       CDN_BASE "<SegmentList><SegmentURL mediaRange=\"0-1\"/><SegmentURL mediaRange=\"2-3\"/>"
                "</SegmentList>",
       -AMP_EMANIFEST, "needs duration"},
      {"", "", CDN_BASE "<SegmentList timescale=\"0\" duration=\"1\"/>", -AMP_EMANIFEST,
       "timescale"},
      {"", "", CDN_BASE "<SegmentList duration=\"4294967296\"/>", -AMP_EMANIFEST, "duration"},
      {"", "",
       CDN_BASE "<SegmentList duration=\"1\"><SegmentTimeline/><SegmentURL mediaRange=\"0-1\"/>"
                "</SegmentList>",
       -AMP_EUNSUPPORTED, "SegmentTimeline"},
      {"", "",
       CDN_BASE "<SegmentList duration=\"1\"><Initialization/>"
                "<SegmentURL mediaRange=\"0-1\"/></SegmentList>",
       -AMP_EMANIFEST, "Initialization without range"},
      {"", "",
       CDN_BASE "<SegmentList duration=\"1\"><Initialization sourceURL=\"i.mp4\"/>"
                "<SegmentURL mediaRange=\"0-1\"/></SegmentList>",
       -AMP_EUNSUPPORTED, "sourceURL"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    xml = mpd1(cases[i].mpd_attrs, "", "", cases[i].rep_attrs, cases[i].rep_inner);
    if (cases[i].code == 0) {
      struct manifest *m = parse_ok(xml, NULL);
      manifest_free(m);
    } else {
      expect_fail(xml, NULL, cases[i].code, cases[i].needle);
    }
    free(xml);
  }

  /* byte ranges */
  static const char *bad_ranges[] = {"5-",
                                     "-5",
                                     "a-b",
                                     "5",
                                     "5-4",
                                     "1 -2",
                                     "0x1-2",
                                     "1-2-3",
                                     "0-18446744073709551616",
                                     "0-18446744073709551615",
                                     "99999999999999999999999-1"};
  for (size_t i = 0; i < sizeof(bad_ranges) / sizeof(bad_ranges[0]); i++) {
    char inner[512];
    snprintf(inner, sizeof(inner),
             CDN_BASE "<SegmentList duration=\"1\"><SegmentURL mediaRange=\"%s\"/></SegmentList>",
             bad_ranges[i]);
    xml = mpd1("", "", "", "", inner);
    expect_fail(xml, NULL, -AMP_EMANIFEST, "mediaRange");
    free(xml);
  }

  /* bad durations and loudness */
  xml = mpd1("", "", "", "", CDN_BASE SEGS);
  char *v = replace(xml, "PT20S", "PT20");
  expect_fail(v, NULL, -AMP_EMANIFEST, "mediaPresentationDuration");
  free(v);
  free(xml);
  xml = mpd1("", "",
             "<SupplementalProperty schemeIdUri=\"urn:mpeg:mpegB:cicp:ProgramLoudness\" "
             "value=\"loud\"/>",
             "", CDN_BASE SEGS);
  expect_fail(xml, NULL, -AMP_EMANIFEST, "loudness");
  free(xml);

  /* a tiny error buffer is filled safely; NULL is fine too */
  xml = load("bad_range.mpd");
  char small[8];
  struct manifest *m = NULL;
  assert_int_equal(manifest_parse((const uint8_t *)xml, strlen(xml), NULL, &m, small, 8),
                   -AMP_EMANIFEST);
  assert_int_equal(strlen(small), 7);
  assert_int_equal(manifest_parse((const uint8_t *)xml, strlen(xml), NULL, &m, NULL, 0),
                   -AMP_EMANIFEST);
  assert_null(m);
  assert_int_equal(manifest_parse(NULL, 0, NULL, &m, NULL, 0), -EINVAL);
  free(xml);
}

/* libxml2 must never write to stderr, whatever the input. */
#define BYTES(s)                                                                                   \
  { (const uint8_t *)(s), sizeof(s) - 1 }

static void test_silent(void **state) {
  static const struct {
    const uint8_t *p;
    size_t n;
  } inputs[] = {
      BYTES("<?xml version=\"1.0\" encoding=\"UTF-16\"?>\n<MPD/>"),
      BYTES("<?xml version=\"1.0\" encoding=\"x-no-such-charset\"?><MPD/>"),
      BYTES("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><MPD "
            "xmlns=\"urn:mpeg:dash:schema:mpd:2011\">\xff\xfe</MPD>"),
      BYTES("\x4c\x6f\xa7\x94 version=\"1.0\"?><MPD/>"),  /* EBCDIC signature */
      BYTES("\x00\x00\x00<?xml version=\"1.0\"?><MPD/>"), /* UCS-4 signature */
      BYTES("<\x00?\x00xml version=\"1.0\"?><MPD/>"),     /* UTF-16LE signature */
      BYTES("\xfe\xff\x00<\x00M\xd8\x00"),                /* UTF-16BE, a lone surrogate */
      BYTES("<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\"><Period>&undefined;</Period></MPD>"),
      BYTES("<MPD xmlns:a=\"\" a:b=\"1\"><a:Period/></MPD>"),
      BYTES("<MPD><unclosed></MPD>"),
      BYTES("\xef\xbb\xbf<MPD\x01/>"),
  };
  size_t count = sizeof(inputs) / sizeof(inputs[0]);
  fflush(stderr);
  int saved = dup(2);
  FILE *tmp = tmpfile();
  assert_non_null(tmp);
  assert_true(saved >= 0);
  assert_true(dup2(fileno(tmp), 2) >= 0);
  int results[16];
  for (size_t i = 0; i < count; i++) {
    struct manifest *m = NULL;
    results[i] = manifest_parse(inputs[i].p, inputs[i].n, NULL, &m, errmsg, sizeof(errmsg));
    manifest_free(m);
  }
  fflush(stderr);
  long written = fseek(tmp, 0, SEEK_END) == 0 ? ftell(tmp) : -1;
  assert_true(dup2(saved, 2) >= 0);
  close(saved);
  fclose(tmp);
  assert_int_equal(written, 0);
  for (size_t i = 0; i < count; i++)
    assert_int_equal(results[i], -AMP_EMANIFEST);
}

static void test_duration(void **state) {
  static const struct {
    const char *s;
    uint64_t ns;
  } ok[] = {
      {"PT3.0S", 3000000000ull},
      {"PT25.500S", 25500000000ull},
      {"PT1H2M3.5S", 3723500000000ull},
      {"P1DT1S", 86401000000000ull},
      {"PT0S", 0},
      {"P0Y0M1D", 86400000000000ull},
      {"PT1.123456789999S", 1123456789ull},
      {"PT0,5S", 500000000ull},
      {"PT10M", 600000000000ull},
  };
  static const char *bad[] = {"",
                              "P",
                              "PT",
                              "3S",
                              "PT1.5M",
                              "P1Y",
                              "P2M",
                              "PT-1S",
                              "PT1S2M",
                              "PT1H1H",
                              "P1S",
                              "PT1",
                              "PT.S",
                              "P1DT",
                              "PTS",
                              "pt1s",
                              "PT4294967296S",
                              "PT1S ",
                              "P213503DT",
                              "P99999DT4294967295H"};
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
    uint64_t ns = 42;
    if (manifest_parse_duration(ok[i].s, &ns) != 0)
      fail_msg("%s refused", ok[i].s);
    assert_int_equal(ns, ok[i].ns);
  }
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    uint64_t ns = 42;
    if (manifest_parse_duration(bad[i], &ns) != -AMP_EMANIFEST)
      fail_msg("%s accepted", bad[i]);
    assert_int_equal(ns, 42);
  }
}

/* ---- bounds ---- */

#define HEAD "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" xmlns:cenc=\"urn:mpeg:cenc:2013\">"
#define REP "<Representation id=\"r\" bandwidth=\"1\">" CDN_BASE SEGS "</Representation>"
#define SET "<AdaptationSet>" REP "</AdaptationSet>"

static void test_bounds(void **state) {
  /* bytes */
  size_t big = MANIFEST_MAX_BYTES + 1;
  uint8_t *huge = malloc(big);
  assert_non_null(huge);
  memset(huge, ' ', big);
  struct manifest *m = NULL;
  assert_int_equal(manifest_parse(huge, big, NULL, &m, errmsg, sizeof(errmsg)), -AMP_ETOOBIG);
  free(huge);

  /* elements */
  char *xml = repeat(HEAD, "<a/>", MANIFEST_MAX_ELEMENTS + 1, "</MPD>");
  expect_fail(xml, NULL, -AMP_ETOOBIG, "elements");
  free(xml);

  /* periods, sets, reps: the limit passes, one more fails */
  xml = repeat(HEAD, "<Period>" SET "</Period>", MANIFEST_MAX_PERIODS, "</MPD>");
  manifest_free(parse_ok(xml, NULL));
  free(xml);
  xml = repeat(HEAD, "<Period>" SET "</Period>", MANIFEST_MAX_PERIODS + 1, "</MPD>");
  expect_fail(xml, NULL, -AMP_ETOOBIG, "Periods");
  free(xml);
  xml = repeat(HEAD "<Period>", SET, MANIFEST_MAX_SETS + 1, "</Period></MPD>");
  expect_fail(xml, NULL, -AMP_ETOOBIG, "AdaptationSets");
  free(xml);
  xml = repeat(HEAD "<Period><AdaptationSet>", REP, MANIFEST_MAX_REPS + 1,
               "</AdaptationSet></Period></MPD>");
  expect_fail(xml, NULL, -AMP_ETOOBIG, "Representations");
  free(xml);

  /* segments */
  const char *seg_head =
      HEAD "<Period><AdaptationSet><Representation id=\"r\" bandwidth=\"1\">" CDN_BASE
           "<SegmentList duration=\"1\">";
  const char *seg_tail = "</SegmentList></Representation></AdaptationSet></Period></MPD>";
  xml = repeat(seg_head, "<SegmentURL mediaRange=\"0-1\"/>", MANIFEST_MAX_SEGMENTS, seg_tail);
  m = parse_ok(xml, NULL);
  assert_int_equal(manifest_find_rep(m, "r")->n_segments, MANIFEST_MAX_SEGMENTS);
  manifest_free(m);
  free(xml);
  xml = repeat(seg_head, "<SegmentURL mediaRange=\"0-1\"/>", MANIFEST_MAX_SEGMENTS + 1, seg_tail);
  expect_fail(xml, NULL, -AMP_ETOOBIG, "SegmentURL");
  free(xml);

  /* ContentProtection entries: the limit passes, one more fails */
  char *cps = repeat(
      "", "<ContentProtection schemeIdUri=\"urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed\"/>",
      MANIFEST_MAX_DRM, CDN_BASE SEGS);
  xml = mpd1("", "", "", "", cps);
  m = parse_ok(xml, NULL);
  assert_int_equal(manifest_find_rep(m, "r")->protection.n_drm, MANIFEST_MAX_DRM);
  manifest_free(m);
  free(xml);
  free(cps);
  cps = repeat("",
               "<ContentProtection schemeIdUri=\"urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed\"/>",
               MANIFEST_MAX_DRM + 1, CDN_BASE SEGS);
  xml = mpd1("", "", "", "", cps);
  expect_fail(xml, NULL, -AMP_ETOOBIG, "ContentProtection");
  free(xml);
  free(cps);

  /* pssh bytes: a well-formed box one byte over the limit */
  size_t plen = MANIFEST_MAX_PSSH + 1;
  uint8_t *box = calloc(1, plen);
  assert_non_null(box);
  box[0] = (uint8_t)(plen >> 24), box[1] = (uint8_t)(plen >> 16), box[2] = (uint8_t)(plen >> 8),
  box[3] = (uint8_t)plen;
  memcpy(box + 4, "pssh", 4);
  memcpy(box + 12, WIDEVINE, 16);
  size_t dsize = plen - 32;
  box[28] = (uint8_t)(dsize >> 24), box[29] = (uint8_t)(dsize >> 16);
  box[30] = (uint8_t)(dsize >> 8), box[31] = (uint8_t)dsize;
  char *b64 = malloc(b64_encoded_len(plen, 0) + 1);
  assert_non_null(b64);
  b64_encode(box, plen, b64, 0);
  struct buf cp = BUF_INIT(1u << 20);
  assert_int_equal(buf_printf(&cp,
                              "<ContentProtection schemeIdUri=\"urn:uuid:"
                              "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed\"><cenc:pssh>%s</cenc:pssh>"
                              "</ContentProtection>" CDN_BASE SEGS,
                              b64),
                   0);
  xml = mpd1("", "", "", "", (const char *)cp.data);
  expect_fail(xml, NULL, -AMP_ETOOBIG, "pssh");
  free(xml);
  buf_done(&cp);
  /* the same box at the limit parses */
  plen = MANIFEST_MAX_PSSH;
  box[2] = (uint8_t)(plen >> 8), box[3] = (uint8_t)plen;
  dsize = plen - 32;
  box[30] = (uint8_t)(dsize >> 8), box[31] = (uint8_t)dsize;
  b64_encode(box, plen, b64, 0);
  assert_int_equal(buf_printf(&cp,
                              "<ContentProtection schemeIdUri=\"urn:uuid:"
                              "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed\"><cenc:pssh>%s</cenc:pssh>"
                              "</ContentProtection>" CDN_BASE SEGS,
                              b64),
                   0);
  xml = mpd1("", "", "", "", (const char *)cp.data);
  m = parse_ok(xml, NULL);
  assert_int_equal(manifest_find_rep(m, "r")->protection.drm[0].pssh_len, MANIFEST_MAX_PSSH);
  manifest_free(m);
  free(xml);
  buf_done(&cp);
  free(b64);
  free(box);

  /* strings: a BaseURL and an id one byte over */
  char *longurl =
      repeat("<BaseURL>https://cdn.example/", "a", MANIFEST_MAX_STRING, "</BaseURL>" SEGS);
  xml = mpd1("", "", "", "", longurl);
  expect_fail(xml, NULL, -AMP_ETOOBIG, "BaseURL");
  free(xml);
  free(longurl);
  char *longid = repeat("id2=\"\" codecs=\"", "a", MANIFEST_MAX_STRING + 1, "\"");
  xml = mpd1("", "", "", longid, CDN_BASE SEGS);
  expect_fail(xml, NULL, -AMP_ETOOBIG, "codecs");
  free(xml);
  free(longid);

  /* switch lists */
  char *sw = repeat(
      "<SupplementalProperty schemeIdUri=\"urn:mpeg:dash:adaptation-set-switching:2016\" value=\"",
      "2,", MANIFEST_MAX_SWITCH + 1, "\"/>");
  xml = mpd1("", "", sw, "", CDN_BASE SEGS);
  expect_fail(xml, NULL, -AMP_ETOOBIG, "adaptation-set-switching");
  free(xml);
  free(sw);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_protection_errors),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_silent),
      cmocka_unit_test(test_duration),
      cmocka_unit_test(test_bounds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
