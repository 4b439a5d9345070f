/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_TESTS_CLOUD_HARNESS_H
#define AMPD_TESTS_CLOUD_HARNESS_H

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cloud/api.h"
#include "cloud/deviceid.h"

/*
 * The fixture of the cloud integration tests (cmocka), on top of http_harness: the mock
 * serving the test catalog, a state directory with a device id, an http client H
 * trusting the test CA, a cloud/lwa linked with tokens the mock issued, a cloud/api
 * with the playback headers, a license client taking the bearer through cloud/bearer,
 * and the mock's request log since the test began. The helpers assert.
 */

#define CLIENT_ID "amzn1.application-oa2-client.ampdtest"

struct http;
struct lwa;
struct api;
struct license;
struct bearer;
struct report;
struct report_stats;

extern const char *catalog;   /* the test catalog (set by main before cloud_setup) */
extern const char *cloud_tag; /* names the temp dir (set by main; default "cloud") */
extern struct http *H;
extern char state_dir[PATH_MAX];
extern char device_id[DEVICEID_LEN + 1];

/* main's arguments SRC_DIR CATALOG_DIR taken (src_dir, catalog) and cloud_tag set to tag;
 * false (the usage line printed) when they are not that. */
bool cloud_args(int argc, char **argv, const char *tag);
/* cmocka group setup/teardown: http_harness_setup, then the mock on the catalog. */
int cloud_setup(void **state);
int cloud_teardown(void **state);

/* Mark where the test begins in the mock's request log. */
void begin_test(void);
/* Log entries since begin_test whose path starts with prefix (caller frees). */
cJSON *requests_since(const char *prefix);
/* How many there are. */
int requests_count(const char *prefix);
/* The mock saw exactly n of them (a failure names prefix and both counts). */
void assert_requests(const char *prefix, int n);
/* Requests to the LWA token endpoint since begin_test (refreshes: nothing pairs). */
int refreshes(void);
/* Run the loop until *flag (bounded by WAIT_GUARD_USEC). */
void run_until(const int *flag);

/* A cloud/lwa linked with fresh tokens of the mock (written as the token file). */
struct lwa *linked_lwa(void);
/* A cloud/api with capability STD_RES,HI_FI,HI_RES and Accept-Language en-GB. */
struct api *make_api(struct lwa *w, bool has_explicit);
/* One call of the api, run to its end: the reply's objects belong to the caller. */
struct call {
  int done, err;
  struct api_reply reply;
};
/* api_done_fn for a struct call. */
void on_call(void *ud, int err, struct api_reply *reply);
int get(struct api *a, enum api_kind kind, const char *url, struct api_reply *out);
/* A document that must come (asserts). */
struct apidoc *get_doc(struct api *a, const char *url);
/* ref of d as an absolute URL (asserts it is one). */
void resolve_url(const struct apidoc *d, const char *ref, char *out, size_t n);
/* The document behind the summary titled title (NULL: the first) of node document d;
 * *ret_playable (may be NULL) its playable flag. */
struct apidoc *follow(struct api *a, const struct apidoc *d, const char *title, bool *ret_playable);
/* root -> section -> item (NULL: the first): the container's first chunk document. */
struct apidoc *container(struct api *a, const char *section, const char *item);

/* A license client whose bearer comes from b. */
struct license *license_client(struct bearer *b);
/* The same, asking for licenses that expire after expiry_test_secs (0: the service's). */
struct license *license_client_expiring(struct bearer *b, uint32_t expiry_test_secs);
/* Run the loop until r holds nothing pending (bounded by WAIT_GUARD_USEC); *ret (may be
 * NULL) its stats then. */
void drain_reports(struct report *r, struct report_stats *ret);

#endif
