/* SPDX-License-Identifier: Apache-2.0 */
/* The cloud integration tests' fixture. See cloud_harness.h. */
#include "cloud_harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cloud/api.h"
#include "cloud/apidoc.h"
#include "cloud/bearer.h"
#include "cloud/deviceid.h"
#include "cloud/license.h"
#include "cloud/lwa.h"
#include "cloud/report.h"
#include "core/clock.h"
#include "core/loop.h"
#include "core/statefile.h"
#include "http_harness.h"

const char *catalog;
const char *cloud_tag = "cloud";
struct http *H;
char state_dir[PATH_MAX];
char device_id[DEVICEID_LEN + 1];
static double base_seq;

/* ---------------------------------------------------------------- the mock's side */

/* The log entries since the test began whose path starts with prefix (caller frees). */
cJSON *requests_since(const char *prefix) {
  cJSON *all = ctrl(H, HTTP_GET, "/_mock/requests", NULL), *out = cJSON_CreateArray(), *e;
  cJSON_ArrayForEach(e, all) {
    const char *p = str(e, "path");
    if (num(e, "seq") > base_seq && p && strncmp(p, prefix, strlen(prefix)) == 0)
      cJSON_AddItemToArray(out, cJSON_Duplicate(e, true));
  }
  cJSON_Delete(all);
  return out;
}

int requests_count(const char *prefix) {
  cJSON *l = requests_since(prefix);
  int n = cJSON_GetArraySize(l);
  cJSON_Delete(l);
  return n;
}

void assert_requests(const char *prefix, int n) {
  int got = requests_count(prefix);
  if (got != n)
    fail_msg("%d requests to %s since the test began, expected %d", got, prefix, n);
}

/* Forget what earlier tests did: the log position (their faults are used up; the mock's
 * clock stays). */
void begin_test(void) {
  cJSON *all = ctrl(H, HTTP_GET, "/_mock/requests", NULL), *e;
  cJSON_ArrayForEach(e, all) {
    if (num(e, "seq") > base_seq)
      base_seq = num(e, "seq");
  }
  cJSON_Delete(all);
}

/* Refresh requests (grant_type=refresh_token) since the test began: the token endpoint
 * sees only refreshes here (nothing pairs), so its requests are counted. */
int refreshes(void) {
  return requests_count("/lwa/auth/o2/token");
}

/* ---------------------------------------------------------------- ampd's side */

void run_until(const int *flag) {
  uint64_t end = clock_mono_usec() + WAIT_GUARD_USEC;
  while (!*flag) {
    assert_true(clock_mono_usec() < end);
    assert_true(loop_run_once(L, 100) >= 0);
  }
}

struct lwa *linked_lwa(void) {
  /* Tokens as a finished pairing leaves them: issued by the mock, in the token file. */
  cJSON *t = ctrl(H, HTTP_POST, "/_mock/lwa/issue", "{}");
  char file[8192];
  int n = snprintf(file, sizeof(file),
                   "{\"version\": 1, \"refresh_token\": \"%s\", \"access_token\": \"%s\", "
                   "\"expires_at\": %lld}",
                   str(t, "refresh_token"), str(t, "access_token"),
                   (long long)(clock_wall_usec() / 1000000 + 3600));
  cJSON_Delete(t);
  assert_true(n > 0 && (size_t)n < sizeof(file));
  assert_int_equal(statefile_write(state_dir, LWA_TOKEN_FILE, file, (size_t)n), 0);
  char base[256];
  url_of(base, sizeof(base), mock, "localhost", "/lwa");
  struct lwa_config cfg = {.base_url = base, .client_id = CLIENT_ID, .state_dir = state_dir};
  struct lwa *w = NULL;
  assert_int_equal(lwa_new(L, H, &cfg, NULL, NULL, &w), 0);
  assert_int_equal(lwa_state(w), LWA_LINKED);
  return w;
}

struct api *make_api(struct lwa *w, bool has_explicit) {
  char base[256];
  url_of(base, sizeof(base), mock, "localhost", "/api/");
  struct api_config cfg = {.base_url = base,
                           .device_id = device_id,
                           .capability = "STD_RES,HI_FI,HI_RES",
                           .has_explicit = has_explicit,
                           .accept_language = "en-GB",
                           .backoff_ms = 20};
  struct api *a = NULL;
  assert_int_equal(api_new(L, H, w, &cfg, &a), 0);
  return a;
}

struct license *license_client(struct bearer *b) {
  return license_client_expiring(b, 0);
}

struct license *license_client_expiring(struct bearer *b, uint32_t expiry_test_secs) {
  struct license_config cfg = {.backoff_ms = 20,
                               .expiry_test_secs = expiry_test_secs,
                               .headers = bearer_headers,
                               .on_token_rejected = bearer_rejected,
                               .userdata = b};
  struct license *lc = NULL;
  assert_int_equal(license_new(L, H, &cfg, &lc), 0);
  return lc;
}

void drain_reports(struct report *r, struct report_stats *ret) {
  uint64_t end = clock_mono_usec() + WAIT_GUARD_USEC;
  struct report_stats rs;
  for (report_stats(r, &rs); rs.pending > 0; report_stats(r, &rs)) {
    assert_true(clock_mono_usec() < end);
    assert_true(loop_run_once(L, 20) >= 0);
  }
  if (ret)
    *ret = rs;
}

bool cloud_args(int argc, char **argv, const char *tag) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s SRC_DIR CATALOG_DIR\n", argv[0]);
    return false;
  }
  src_dir = argv[1];
  catalog = argv[2];
  cloud_tag = tag;
  return true;
}

int cloud_setup(void **state) {
  (void)state;
  if (harness_setup(cloud_tag, NULL, 0) < 0)
    return -1;
  /* The mock again, serving the catalog. */
  mockproc_stop(mock);
  if (strlen(catalog) >= sizeof(root))
    return -1;
  memcpy(root, catalog, strlen(catalog) + 1);
  if (!(mock = start_mock(NULL, NULL)))
    return -1;
  H = client(0);
  if (!join(state_dir, tmp, "state") || mkdir(state_dir, 0700) < 0)
    return -1;
  char mid[PATH_MAX];
  if (!join(mid, tmp, "machine-id"))
    return -1;
  FILE *f = fopen(mid, "we");
  if (!f || fputs("0123456789abcdef0123456789abcdef\n", f) < 0 || fclose(f) != 0)
    return -1;
  return deviceid_get(state_dir, mid, device_id, sizeof(device_id)) < 0 ? -1 : 0;
}

int cloud_teardown(void **state) {
  (void)state;
  http_free(H);
  harness_teardown();
  return 0;
}

void on_call(void *ud, int err, struct api_reply *reply) {
  struct call *c = ud;
  c->done++;
  c->err = err;
  c->reply = *reply;
}

/* GET url as kind; the reply's objects belong to the caller. */
int get(struct api *a, enum api_kind kind, const char *url, struct api_reply *out) {
  struct call c = {0};
  assert_int_equal(api_get(a, kind, url, on_call, &c, NULL), 0);
  assert_int_equal(c.done, 0); /* never from inside api_get */
  run_until(&c.done);
  assert_int_equal(c.done, 1);
  *out = c.reply;
  return c.err;
}

struct apidoc *get_doc(struct api *a, const char *url) {
  struct api_reply r;
  assert_int_equal(get(a, API_DOCUMENT, url, &r), 0);
  assert_non_null(r.doc);
  return r.doc;
}

/* Resolve ref of d to an absolute URL in out. */
void resolve_url(const struct apidoc *d, const char *ref, char *out, size_t n) {
  enum apidoc_ref_kind kind;
  assert_int_equal(apidoc_resolve(d, ref, &kind, out, n), 0);
  assert_int_equal(kind, APIDOC_REF_URL);
}

/* The document behind the summary titled `title` of node document d (NULL: the first). */
struct apidoc *follow(struct api *a, const struct apidoc *d, const char *title,
                      bool *ret_playable) {
  const struct apidoc_node *n = NULL;
  assert_int_equal(apidoc_node(d, apidoc_result(d), &n), 0);
  for (size_t i = 0; i < n->n_items; i++) {
    const struct apidoc_summary *m = NULL;
    assert_int_equal(apidoc_summary(d, n->items[i], &m), 0);
    if (!title || (m->title && strcmp(m->title, title) == 0)) {
      char url[HTTP_URL_MAX];
      resolve_url(d, m->ref, url, sizeof(url));
      if (ret_playable)
        *ret_playable = m->playable;
      return get_doc(a, url);
    }
  }
  fail_msg("no item \"%s\"", title ? title : "(first)");
  return NULL;
}

/* The container named item under the root's section: browse root -> section -> item. */
struct apidoc *container(struct api *a, const char *section, const char *item) {
  struct apidoc *home = get_doc(a, api_root(a));
  bool playable = true;
  struct apidoc *sec = follow(a, home, section, &playable);
  assert_false(playable);
  apidoc_free(home);
  struct apidoc *c = follow(a, sec, item, &playable);
  assert_true(playable);
  apidoc_free(sec);
  return c;
}
