/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for media/manifest: the heap a parse needs is bounded by the input
 * (manifest.h: at most 8 x the manifest's bytes + 1 MiB), for the worst shapes the bounds
 * allow.
 *
 * How the peak is measured. Every heap block the parse allocates is counted, with the
 * size malloc_usable_size() reports for it, while it is live; the peak is the largest sum
 * seen. Two hooks see every allocation:
 *  - libxml2 (a shared library) allocates through xmlMalloc & co., which xmlMemSetup()
 *    points at the counting functions below, first thing in main();
 *  - the manifest module and core (static libraries) call malloc/calloc/realloc/free
 *    directly; tests/unit/manifest.cmake links this test with -Wl,--wrap for those four, so
 *    their calls land in __wrap_* below, which count and call the real ones.
 * Both hooks sit on top of whatever malloc the build has (glibc's, or ASan's, whose
 * malloc_usable_size returns the requested size), so the count is the same kind of number
 * under the asan preset and the release one: bytes handed out, not the allocator's own
 * overhead. glibc's own internal allocations (stdio buffers) are not seen; the parse makes
 * none that stay. The counter is checked for sanity: after manifest_free every byte the
 * window saw allocated has been freed again (net 0), which fails if either hook misses a
 * free or sees a free of a block allocated before the window.
 */
#include <malloc.h>

#include <libxml/parser.h>
#include <libxml/xmlmemory.h>

#include "tests/unit/manifest_testutil.h"

/* ---- the counting allocator ---- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t a, size_t b);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t a, size_t b);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);

static bool counting;
static long long live, peak;

static void count_alloc(void *p) {
  if (!p || !counting)
    return;
  live += (long long)malloc_usable_size(p);
  if (live > peak)
    peak = live;
}

static void count_free(void *p) {
  if (p && counting)
    live -= (long long)malloc_usable_size(p);
}

void *__wrap_malloc(size_t n) {
  void *p = __real_malloc(n);
  count_alloc(p);
  return p;
}

void *__wrap_calloc(size_t a, size_t b) {
  void *p = __real_calloc(a, b);
  count_alloc(p);
  return p;
}

void *__wrap_realloc(void *p, size_t n) {
  size_t old = p ? malloc_usable_size(p) : 0;
  void *q = __real_realloc(p, n);
  if ((q || n == 0) && counting) { /* realloc(p, 0) may free p and return NULL */
    live -= (long long)old;
    count_alloc(q);
  }
  return q;
}

void __wrap_free(void *p) {
  count_free(p);
  __real_free(p);
}

static char *count_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = __wrap_malloc(n);
  if (d)
    memcpy(d, s, n);
  return d;
}

/* ---- measuring ---- */

#define KID_STR "3f2a6b1c-0d4e-4f5a-8b6c-7d8e9f0a1b2c"
#define LIMIT(len) (8 * (long long)(len) + (1ll << 20))

/* Parse xml (len bytes) with the counter on; returns the peak. The manifest (or NULL) is
 * freed inside the window, which must end at net 0. */
static long long measure(const char *xml, size_t len, int want, struct manifest **keep) {
  struct manifest *m = NULL;
  errmsg[0] = 0;
  live = peak = 0;
  counting = true;
  int r = manifest_parse((const uint8_t *)xml, len, NULL, &m, errmsg, sizeof(errmsg));
  long long p = peak;
  if (r != want) {
    counting = false;
    manifest_free(m);
    fail_msg("manifest_parse: %s (%s), wanted %s", amp_strerror(r), errmsg, amp_strerror(want));
  }
  if (keep) {
    *keep = m; /* the caller frees it, then calls window_end() */
    return p;
  }
  manifest_free(m);
  counting = false;
  assert_int_equal(live, 0);
  return p;
}

static void window_end(struct manifest *m) {
  manifest_free(m);
  counting = false;
  assert_int_equal(live, 0);
}

static void check_peak(const char *what, size_t len, long long p) {
  print_message("%s: %zu bytes of manifest, peak heap %lld bytes (%.1f x), limit %lld\n", what, len,
                p, (double)p / (double)len, LIMIT(len));
  if (p > LIMIT(len))
    fail_msg("%s: peak heap %lld bytes > 8 x %zu + 1 MiB", what, p, len);
}

#define MPD_HEAD                                                                                   \
  "<?xml version=\"1.0\"?>\n<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" "                         \
  "xmlns:cenc=\"urn:mpeg:cenc:2013\" type=\"static\" mediaPresentationDuration=\"PT60S\">"         \
  "<BaseURL>https://cdn.example/</BaseURL>\n"
#define REP_TAIL                                                                                   \
  "<SegmentBase indexRange=\"100-199\"><Initialization range=\"0-99\"/></SegmentBase>"

/* ---- the shape of the issue: thousands of reps with 8 pssh boxes each ---- */

#define PSSH_PERIODS 3u
#define PSSH_SETS 32u /* MANIFEST_MAX_SETS */
#define PSSH_REPS 31u /* 3 x 32 x 31 = 2976 reps, about the 3000 of the issue */

/* A pssh box (version 0) of system id sys with dlen data bytes, base64 into b. */
static void append_pssh(struct buf *b, const uint8_t sys[16], size_t dlen, unsigned salt) {
  uint8_t box[32 + 256];
  size_t n = 32 + dlen;
  assert_true(dlen <= 256);
  box[0] = 0, box[1] = 0, box[2] = (uint8_t)(n >> 8), box[3] = (uint8_t)n;
  memcpy(box + 4, "pssh", 4);
  memset(box + 8, 0, 4);
  memcpy(box + 12, sys, 16);
  box[28] = 0, box[29] = 0, box[30] = (uint8_t)(dlen >> 8), box[31] = (uint8_t)dlen;
  for (size_t i = 0; i < dlen; i++)
    box[32 + i] = (uint8_t)(salt * 31 + i);
  char out[400];
  b64_encode(box, n, out, 0);
  assert_int_equal(buf_append_str(b, out), 0);
}

static char *pssh_manifest(size_t dlen, size_t *ret_len) {
  struct buf b = BUF_INIT(64u << 20);
  unsigned k = 0;
  assert_int_equal(buf_append_str(&b, MPD_HEAD), 0);
  for (unsigned p = 0; p < PSSH_PERIODS; p++) {
    assert_int_equal(buf_printf(&b, "<Period duration=\"PT20S\">\n"), 0);
    for (unsigned s = 0; s < PSSH_SETS; s++) {
      /* BaseURL and SegmentBase on the set (the reps inherit them): more room for pssh */
      assert_int_equal(
          buf_printf(&b,
                     "<AdaptationSet id=\"%u\" mimeType=\"audio/mp4\" "
                     "xmlns:c=\"urn:mpeg:cenc:2013\"><BaseURL>s%u.mp4</BaseURL>" REP_TAIL "\n",
                     s, s),
          0);
      for (unsigned r = 0; r < PSSH_REPS; r++, k++) {
        assert_int_equal(buf_printf(&b, "<Representation id=\"r%u\" bandwidth=\"%u\">", k, r + 1),
                         0);
        for (unsigned d = 0; d < MANIFEST_MAX_DRM; d++) {
          /* 8 systems we do not know: each pssh must carry its scheme's id */
          uint8_t sys[16] = {0xa0, 0, 0, 0, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, (uint8_t)d};
          assert_int_equal(buf_printf(&b,
                                      "<ContentProtection schemeIdUri=\"urn:uuid:a0000000-0000-"
                                      "4000-8000-0000000000%02x\"><c:pssh>",
                                      d),
                           0);
          append_pssh(&b, sys, dlen, k + d);
          assert_int_equal(buf_append_str(&b, "</c:pssh></ContentProtection>"), 0);
        }
        assert_int_equal(buf_append_str(&b, "</Representation>\n"), 0);
      }
      assert_int_equal(buf_append_str(&b, "</AdaptationSet>\n"), 0);
    }
    assert_int_equal(buf_append_str(&b, "</Period>\n"), 0);
  }
  assert_int_equal(buf_append_str(&b, "</MPD>\n"), 0);
  return (char *)buf_steal(&b, ret_len);
}

static void test_pssh_heavy(void **state) {
  (void)state;
  /* the largest pssh data length that keeps the manifest within MANIFEST_MAX_BYTES: 2976
   * reps x 8 boxes fill 4 MiB with boxes of about 40 bytes */
  size_t dlen = 0, len;
  char *xml = pssh_manifest(dlen, &len);
  assert_true(len <= MANIFEST_MAX_BYTES);
  for (;;) {
    size_t len2;
    char *xml2 = pssh_manifest(dlen + 1, &len2);
    if (len2 > MANIFEST_MAX_BYTES) {
      free(xml2);
      break;
    }
    free(xml);
    xml = xml2, len = len2, dlen++;
  }
  assert_true(len > MANIFEST_MAX_BYTES - (128u << 10)); /* ~4 MiB, as the issue has it */
  struct manifest *m;
  long long p = measure(xml, len, 0, &m);
  /* it parsed what was built: 2976 reps, 8 pssh boxes each, of the right length */
  size_t n_per, n_reps = 0;
  const struct manifest_period *per = manifest_periods(m, &n_per);
  assert_int_equal(n_per, PSSH_PERIODS);
  for (size_t i = 0; i < n_per; i++)
    for (size_t j = 0; j < per[i].n_sets; j++)
      for (size_t r = 0; r < per[i].sets[j].n_reps; r++, n_reps++) {
        const struct manifest_protection *pr = &per[i].sets[j].reps[r].protection;
        assert_int_equal(pr->n_drm, MANIFEST_MAX_DRM);
        for (size_t d = 0; d < pr->n_drm; d++)
          assert_int_equal(pr->drm[d].pssh_len, 32 + dlen);
      }
  assert_int_equal(n_reps, PSSH_PERIODS * PSSH_SETS * PSSH_REPS);
  window_end(m);
  check_peak("2976 reps x 8 pssh", len, p);
  free(xml);
}

/* ---- many SegmentURLs: the most elements per byte a useful MPD has ---- */

static void test_segment_urls(void **state) {
  (void)state;
  const char *unit = "<SegmentURL mediaRange=\"0-9\"/>\n";
  size_t per_rep = (MANIFEST_MAX_BYTES - 4096) / strlen(unit) / 2;
  struct buf b = BUF_INIT(64u << 20);
  assert_int_equal(buf_append_str(&b, MPD_HEAD "<Period><AdaptationSet>\n"), 0);
  for (int r = 0; r < 2; r++) {
    assert_int_equal(
        buf_printf(&b,
                   "<Representation id=\"r%d\" bandwidth=\"1\"><BaseURL>r.mp4</BaseURL>"
                   "<SegmentList duration=\"1\"><Initialization range=\"0-9\"/>\n",
                   r),
        0);
    for (size_t i = 0; i < per_rep; i++)
      assert_int_equal(buf_append_str(&b, unit), 0);
    assert_int_equal(buf_append_str(&b, "</SegmentList></Representation>\n"), 0);
  }
  assert_int_equal(buf_append_str(&b, "</AdaptationSet></Period></MPD>\n"), 0);
  size_t len;
  char *xml = (char *)buf_steal(&b, &len);
  assert_true(len <= MANIFEST_MAX_BYTES && per_rep <= MANIFEST_MAX_SEGMENTS);
  struct manifest *m;
  long long p = measure(xml, len, 0, &m);
  const struct manifest_rep *rep = manifest_find_rep(m, "r1");
  assert_non_null(rep);
  assert_int_equal(rep->n_segments, per_rep);
  assert_int_equal(rep->segments[per_rep - 1].last, 9);
  window_end(m);
  check_peak("2 reps x SegmentURLs", len, p);
  free(xml);
}

/* ---- markup the parser ignores: unknown attributes, elements, comments ---- */

static void test_ignored_markup(void **state) {
  (void)state;
  struct buf b = BUF_INIT(64u << 20);
  unsigned k = 0;
  assert_int_equal(buf_append_str(&b, MPD_HEAD "<Period><AdaptationSet>\n"), 0);
  for (unsigned r = 0; r < MANIFEST_MAX_REPS; r++) {
    /* unknown attributes on a rep (an element we keep), then unknown elements, comments
     * and white space inside it */
    assert_int_equal(buf_printf(&b, "<Representation id=\"r%u\" bandwidth=\"1\"", r), 0);
    for (unsigned a = 0; a < 4000; a++)
      assert_int_equal(buf_printf(&b, " a%x=\"\"", a), 0);
    assert_int_equal(buf_append_str(&b, "><BaseURL>r.mp4</BaseURL>" REP_TAIL "\n"), 0);
    while (b.len < (size_t)(r + 1) * ((MANIFEST_MAX_BYTES - 4096) / MANIFEST_MAX_REPS) &&
           k < (MANIFEST_MAX_ELEMENTS - 1000) / 2) { /* a comment counts as a tag */
      assert_int_equal(buf_append_str(&b, "<x/><!---->\n"), 0);
      k++;
    }
    assert_int_equal(buf_append_str(&b, "</Representation>\n"), 0);
  }
  assert_int_equal(buf_append_str(&b, "</AdaptationSet></Period></MPD>\n"), 0);
  size_t len;
  char *xml = (char *)buf_steal(&b, &len);
  assert_true(len <= MANIFEST_MAX_BYTES);
  struct manifest *m;
  long long p = measure(xml, len, 0, &m);
  size_t n;
  assert_int_equal(manifest_adaptation_sets(m, &n)[0].n_reps, MANIFEST_MAX_REPS);
  window_end(m);
  check_peak("ignored attributes, elements, comments", len, p);
  free(xml);
}

/* ---- the most reps the bounds allow, each as small as a rep can be ---- */

/* periods x sets x reps; a set's inner XML, then its reps: <Representation id="N"
 * bandwidth="1" followed by rep_rest */
static char *grid(unsigned periods, unsigned sets, unsigned reps, const char *set_inner,
                  const char *rep_rest, size_t *ret_len) {
  struct buf b = BUF_INIT(64u << 20);
  unsigned k = 0;
  assert_int_equal(buf_append_str(&b, MPD_HEAD), 0);
  for (unsigned p = 0; p < periods; p++) {
    assert_int_equal(buf_append_str(&b, "<Period duration=\"PT1S\">"), 0);
    for (unsigned s = 0; s < sets; s++) {
      assert_int_equal(buf_printf(&b, "<AdaptationSet id=\"%u\">%s\n", s, set_inner), 0);
      for (unsigned r = 0; r < reps; r++, k++)
        assert_int_equal(buf_printf(&b, "<Representation id=\"%u\" bandwidth=\"1\"%s", k, rep_rest),
                         0);
      assert_int_equal(buf_append_str(&b, "</AdaptationSet>\n"), 0);
    }
    assert_int_equal(buf_append_str(&b, "</Period>\n"), 0);
  }
  assert_int_equal(buf_append_str(&b, "</MPD>\n"), 0);
  char *xml = (char *)buf_steal(&b, ret_len);
  assert_true(*ret_len <= MANIFEST_MAX_BYTES);
  return xml;
}

static size_t count_reps(const struct manifest *m) {
  size_t n_per, n = 0;
  const struct manifest_period *per = manifest_periods(m, &n_per);
  for (size_t i = 0; i < n_per; i++)
    for (size_t j = 0; j < per[i].n_sets; j++)
      n += per[i].sets[j].n_reps;
  return n;
}

static void run_grid(const char *what, unsigned sets, const char *set_inner, const char *rep_rest,
                     int want) {
  size_t len;
  char *xml = grid(MANIFEST_MAX_PERIODS, sets, MANIFEST_MAX_REPS, set_inner, rep_rest, &len);
  struct manifest *m;
  long long p = measure(xml, len, want, &m);
  if (want == 0)
    assert_int_equal(count_reps(m), (size_t)MANIFEST_MAX_PERIODS * sets * MANIFEST_MAX_REPS);
  window_end(m);
  check_peak(what, len, p);
  free(xml);
}

#define UUID_CP(d)                                                                                 \
  "<ContentProtection schemeIdUri=\"urn:uuid:a0000000-0000-4000-8000-00000000000" d "\"/>"

static void test_max_reps(void **state) {
  (void)state;
  run_grid("16384 minimal reps", MANIFEST_MAX_SETS, "<BaseURL>s.mp4</BaseURL>" REP_TAIL, "/>\n", 0);
  /* each rep merges its set's 8 DRM systems with one of its own */
  run_grid("16384 reps x 9 DRM entries", MANIFEST_MAX_SETS,
           "<BaseURL>s.mp4</BaseURL>" REP_TAIL UUID_CP("0") UUID_CP("1") UUID_CP("2") UUID_CP("3")
               UUID_CP("4") UUID_CP("5") UUID_CP("6") UUID_CP("7"),
           ">" UUID_CP("8") "</Representation>\n", 0);
}

/* A period-level SegmentList of 20000 SegmentURLs under 32 sets x 32 reps; with
 * own_timescale each rep has a SegmentList of its own (no SegmentURL) with a timescale of
 * its own, so that no two reps' segment times are the same. */
static void check_inherited_list(bool own_timescale, int want) {
  struct buf b = BUF_INIT(64u << 20);
  assert_int_equal(buf_append_str(&b, MPD_HEAD "<Period duration=\"PT20000S\">"
                                               "<SegmentList duration=\"1\">"
                                               "<Initialization range=\"0-9\"/>\n"),
                   0);
  for (int i = 0; i < 20000; i++)
    assert_int_equal(buf_append_str(&b, "<SegmentURL mediaRange=\"0-9\"/>\n"), 0);
  assert_int_equal(buf_append_str(&b, "</SegmentList>\n"), 0);
  unsigned k = 0;
  for (unsigned s = 0; s < MANIFEST_MAX_SETS; s++) {
    assert_int_equal(buf_printf(&b, "<AdaptationSet><BaseURL>s%u.mp4</BaseURL>\n", s), 0);
    for (unsigned r = 0; r < MANIFEST_MAX_REPS; r++, k++)
      if (own_timescale)
        assert_int_equal(buf_printf(&b,
                                    "<Representation id=\"%u\" bandwidth=\"1\">"
                                    "<SegmentList timescale=\"%u\"/></Representation>\n",
                                    k, k + 2),
                         0);
      else
        assert_int_equal(buf_printf(&b, "<Representation id=\"%u\" bandwidth=\"1\"/>\n", k), 0);
    assert_int_equal(buf_append_str(&b, "</AdaptationSet>\n"), 0);
  }
  assert_int_equal(buf_append_str(&b, "</Period></MPD>\n"), 0);
  size_t len;
  char *xml = (char *)buf_steal(&b, &len);
  struct manifest *m;
  long long p = measure(xml, len, want, &m);
  if (want == 0) {
    const struct manifest_rep *first = manifest_find_rep(m, "0"),
                              *last = manifest_find_rep(m, "1023");
    assert_int_equal(last->n_segments, 20000);
    assert_ptr_equal(first->segments, last->segments); /* one array for all */
  }
  window_end(m);
  check_peak(own_timescale ? "1024 reps x own copy of a period's SegmentList"
                           : "1024 reps x shared period SegmentList",
             len, p);
  free(xml);
}

/* ---- what reps inherit: a long BaseURL, a long SegmentList ---- */

static void test_inherited(void **state) {
  (void)state;
  /* each rep resolves a short BaseURL against its set's long one: 12288 x 8 KiB of URLs
   * from 4 MiB is refused by the URL budget */
  char set_inner[MANIFEST_MAX_STRING + 256];
  char *lng = repeat("", "a", MANIFEST_MAX_STRING - 64, "");
  snprintf(set_inner, sizeof(set_inner), "<BaseURL>https://cdn.example/%s/</BaseURL>" REP_TAIL,
           lng);
  free(lng);
  run_grid("12288 reps x resolved long URL", 24, set_inner,
           "><BaseURL>r</BaseURL></Representation>\n", -AMP_ETOOBIG);
  assert_non_null(strstr(errmsg, "resolved BaseURLs"));
  /* the same with 8 reps a set fits */
  size_t len;
  char *xml = grid(1, 1, 8, set_inner, "><BaseURL>r</BaseURL></Representation>\n", &len);
  struct manifest *m;
  long long p = measure(xml, len, 0, &m);
  assert_int_equal(strlen(manifest_find_rep(m, "7")->url),
                   strlen("https://cdn.example/") + MANIFEST_MAX_STRING - 64 + 2);
  window_end(m);
  check_peak("8 reps x resolved long URL", len, p);
  free(xml);

  /* a Period's SegmentList inherited by 1024 reps */
  check_inherited_list(false, 0);
  /* every rep with its own timescale: each needs its own copy; 20000 segments x 1024
   * reps from 700 kB is refused by the segment budget */
  check_inherited_list(true, -AMP_ETOOBIG);
  assert_non_null(strstr(errmsg, "more segments in all"));
}

/* ---- elements the walk keeps, repeated: ContentProtection, properties ---- */

static void run_flood(const char *what, const char *set_inner, const char *unit, bool in_rep) {
  struct buf b = BUF_INIT(64u << 20);
  assert_int_equal(buf_printf(&b, MPD_HEAD "<Period><AdaptationSet>%s<BaseURL>a.mp4</BaseURL>\n",
                              in_rep ? "" : set_inner),
                   0);
  if (!in_rep)
    while (b.len < MANIFEST_MAX_BYTES - 4096)
      assert_int_equal(buf_append_str(&b, unit), 0);
  assert_int_equal(buf_append_str(&b, "<Representation id=\"r\" bandwidth=\"1\">" REP_TAIL), 0);
  if (in_rep)
    while (b.len < MANIFEST_MAX_BYTES - 4096)
      assert_int_equal(buf_append_str(&b, unit), 0);
  assert_int_equal(buf_append_str(&b, "</Representation></AdaptationSet></Period></MPD>\n"), 0);
  size_t len;
  char *xml = (char *)buf_steal(&b, &len);
  long long p = measure(xml, len, 0, NULL);
  check_peak(what, len, p);
  free(xml);
}

/* The same, where the walk fails on the first one */
static void run_flood_refused(const char *what, const char *unit, bool in_rep, const char *needle) {
  struct buf b = BUF_INIT(64u << 20);
  assert_int_equal(buf_append_str(&b, MPD_HEAD "<Period><AdaptationSet><BaseURL>a.mp4</BaseURL>\n"),
                   0);
  if (in_rep)
    assert_int_equal(buf_append_str(&b, "<Representation id=\"r\" bandwidth=\"1\">" REP_TAIL), 0);
  for (size_t i = 0; i < MANIFEST_MAX_ELEMENTS - 100 && b.len < MANIFEST_MAX_BYTES - 4096; i++)
    assert_int_equal(buf_append_str(&b, unit), 0);
  assert_int_equal(buf_append_str(&b, in_rep ? "</Representation></AdaptationSet></Period></MPD>\n"
                                             : "</AdaptationSet></Period></MPD>\n"),
                   0);
  size_t len;
  char *xml = (char *)buf_steal(&b, &len);
  long long p = measure(xml, len, -AMP_EMANIFEST, NULL);
  assert_non_null(strstr(errmsg, needle));
  check_peak(what, len, p);
  free(xml);
}

static void test_kept_floods(void **state) {
  (void)state;
  run_flood_refused("rep: ContentProtection without scheme", "<ContentProtection/>", true,
                    "ContentProtection without schemeIdUri");
  run_flood_refused("set: SupplementalProperty without scheme", "<SupplementalProperty/>", false,
                    "SupplementalProperty without schemeIdUri");
  run_flood("rep: ContentProtection with default_KID", "",
            "<ContentProtection schemeIdUri=\"x\" cenc:default_KID=\"" KID_STR "\"/>\n", true);
  run_flood(
      "rep: mp4protection", "",
      "<ContentProtection schemeIdUri=\"urn:mpeg:dash:mp4protection:2011\" value=\"cenc\"/>\n",
      true);
  run_flood("set: trackType property", "",
            "<SupplementalProperty schemeIdUri=\"amz-music:trackType\" value=\"HD\"/>\n", false);
  run_flood("rep: bitDepth property", "",
            "<SupplementalProperty schemeIdUri=\"amz-music:bitDepth\"/>\n", true);
  run_flood("set: switching property", "",
            "<SupplementalProperty schemeIdUri=\"urn:mpeg:dash:adaptation-set-switching:2016\" "
            "value=\"1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,"
            "30,31\"/>\n",
            false);
}

/* ---- a refused manifest: too many reps, found after the whole document was read ---- */

static void test_refused(void **state) {
  (void)state;
  const char *unit = "<Representation/>";
  size_t n = (MANIFEST_MAX_BYTES - 4096) / strlen(unit);
  if (n > MANIFEST_MAX_ELEMENTS - 10)
    n = MANIFEST_MAX_ELEMENTS - 10;
  char *xml =
      repeat(MPD_HEAD "<Period><AdaptationSet>", unit, n, "</AdaptationSet></Period></MPD>");
  size_t len = strlen(xml);
  long long p = measure(xml, len, -AMP_ETOOBIG, NULL);
  assert_non_null(strstr(errmsg, "Representations"));
  check_peak("too many reps", len, p);
  free(xml);
}

int main(void) {
  /* before libxml2 allocates anything */
  if (xmlMemSetup(__wrap_free, __wrap_malloc, __wrap_realloc, count_strdup) != 0)
    return 1;
  /* one parse outside the windows: libxml2's one-time state (xmlInitParser) is not the
   * parse's */
  struct manifest *m = NULL;
  char *xml = mpd1("", CDN_BASE, "", "", SEGS);
  if (parse_str(xml, NULL, &m) < 0)
    return 1;
  manifest_free(m);
  free(xml);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pssh_heavy),     cmocka_unit_test(test_segment_urls),
      cmocka_unit_test(test_ignored_markup), cmocka_unit_test(test_refused),
      cmocka_unit_test(test_max_reps),       cmocka_unit_test(test_inherited),
      cmocka_unit_test(test_kept_floods),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
