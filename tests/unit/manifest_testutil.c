/* SPDX-License-Identifier: Apache-2.0 */
#include "tests/unit/manifest_testutil.h"

const uint8_t KID[16] = {0x3f, 0x2a, 0x6b, 0x1c, 0x0d, 0x4e, 0x4f, 0x5a,
                         0x8b, 0x6c, 0x7d, 0x8e, 0x9f, 0x0a, 0x1b, 0x2c};
const uint8_t WIDEVINE[16] = {0xed, 0xef, 0x8b, 0xa9, 0x79, 0xd6, 0x4a, 0xce,
                              0xa3, 0xc8, 0x27, 0xdc, 0xd5, 0x1d, 0x21, 0xed};

char *load(const char *name) {
  char path[512];
  snprintf(path, sizeof(path), "%s/%s", MANIFEST_DATA_DIR, name);
  FILE *f = fopen(path, "rbe");
  assert_non_null(f);
  struct buf b = BUF_INIT(MANIFEST_MAX_BYTES);
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
    assert_int_equal(buf_append(&b, chunk, n), 0);
  fclose(f);
  size_t len;
  char *s = (char *)buf_steal(&b, &len);
  assert_non_null(s);
  return s; /* NUL-terminated by struct buf */
}

/* s with every occurrence of from replaced by to (caller frees). */
char *replace(const char *s, const char *from, const char *to) {
  struct buf b = BUF_INIT(64u << 20);
  size_t fl = strlen(from);
  int hits = 0;
  for (const char *p; (p = strstr(s, from)); s = p + fl, hits++) {
    assert_int_equal(buf_append(&b, s, (size_t)(p - s)), 0);
    assert_int_equal(buf_append_str(&b, to), 0);
  }
  assert_true(hits > 0); /* a variant that changes nothing would test nothing */
  assert_int_equal(buf_append_str(&b, s), 0);
  size_t len;
  return (char *)buf_steal(&b, &len);
}

char errmsg[512];

int parse_str(const char *xml, const char *origin, struct manifest **ret) {
  errmsg[0] = 0;
  return manifest_parse((const uint8_t *)xml, strlen(xml), origin, ret, errmsg, sizeof(errmsg));
}

struct manifest *parse_ok(const char *xml, const char *origin) {
  struct manifest *m = NULL;
  int r = parse_str(xml, origin, &m);
  if (r < 0)
    fail_msg("manifest_parse: %s: %s", amp_strerror(r), errmsg);
  assert_non_null(m);
  return m;
}

struct manifest *parse_file(const char *name, const char *origin) {
  char *xml = load(name);
  struct manifest *m = parse_ok(xml, origin);
  free(xml);
  return m;
}

/* Parse must fail with code, and the message must mention needle. */
void expect_fail(const char *xml, const char *origin, int code, const char *needle) {
  struct manifest *m = NULL;
  int r = parse_str(xml, origin, &m);
  if (r != code)
    fail_msg("expected %s, got %s (%s)", amp_strerror(code), amp_strerror(r), errmsg);
  assert_null(m);
  if (needle && !strstr(errmsg, needle))
    fail_msg("error \"%s\" does not mention \"%s\"", errmsg, needle);
}

/* A one-rep MPD: the set's inner XML, the rep's attributes and inner XML. */
char *mpd1(const char *mpd_attrs, const char *mpd_inner, const char *set_inner,
           const char *rep_attrs, const char *rep_inner) {
  struct buf b = BUF_INIT(1u << 20);
  /* the rep gets id="r" and bandwidth="1000" unless rep_attrs sets them */
  bool has_id = strncmp(rep_attrs, "id=", 3) == 0 || strstr(rep_attrs, " id=");
  bool has_bw = strstr(rep_attrs, "bandwidth=") != NULL;
  assert_int_equal(
      buf_printf(&b,
                 "<?xml version=\"1.0\"?>\n"
                 "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" xmlns:cenc=\"urn:mpeg:cenc:2013\" "
                 "%s mediaPresentationDuration=\"PT20S\" %s>%s\n"
                 "<Period><AdaptationSet id=\"1\">%s\n"
                 "<Representation %s %s %s>%s</Representation>\n"
                 "</AdaptationSet></Period></MPD>\n",
                 strstr(mpd_attrs, "type=") ? "" : "type=\"static\"", mpd_attrs, mpd_inner,
                 set_inner, has_id ? "" : "id=\"r\"", has_bw ? "" : "bandwidth=\"1000\"", rep_attrs,
                 rep_inner),
      0);
  size_t len;
  return (char *)buf_steal(&b, &len);
}

const struct manifest_set *set_by_id(const struct manifest *m, const char *id) {
  size_t n;
  const struct manifest_set *sets = manifest_adaptation_sets(m, &n);
  for (size_t i = 0; i < n; i++)
    if (sets[i].id && strcmp(sets[i].id, id) == 0)
      return &sets[i];
  fail_msg("no set %s", id);
  return NULL;
}

char *repeat(const char *head, const char *unit, size_t n, const char *tail) {
  struct buf b = BUF_INIT(64u << 20);
  assert_int_equal(buf_append_str(&b, head), 0);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(buf_append_str(&b, unit), 0);
  assert_int_equal(buf_append_str(&b, tail), 0);
  size_t len;
  return (char *)buf_steal(&b, &len);
}
