/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Broken CDM plugins for the host's ABI checks (test_cdm_host.c). One source, built as
 * several .so files, each with one FAKE_* definition:
 *   FAKE_VERSION=n      a vtable claiming ABI generation n
 *   FAKE_SHORT_SIZE     a vtable whose size is shorter than generation 1's
 *   FAKE_MISSING_SLOT   a vtable without decrypt
 *   FAKE_REFUSE         an entry that answers NULL (cannot serve the host's generation)
 *   FAKE_NO_ENTRY       no ampd_cdm_entry symbol at all
 * The host must refuse each of those at load time. Two more are good plugins:
 *   FAKE_V1             built against generation 1 as first released: its vtable is the
 *                       frozen struct v1_plugin (test_cdm_v1.h), whatever cdm.h has grown to
 *   FAKE_FUTURE         built against a later release of generation 1: the v1 vtable plus
 *                       one slot the current host does not know
 * Both check the host's services by the v1 rules, open session 7 and answer decrypt with
 * -AMPD_CDM_ENOKEY, so the test sees the host calling through the frozen layout.
 */
#include <errno.h>
#include <stdlib.h>

#include <ampd/cdm.h>

#if defined(FAKE_V1) || defined(FAKE_FUTURE)
#define FAKE_GOOD 1
#include "test_cdm_v1.h"
#endif

struct ampd_cdm {
  int unused;
};

static int fake_create(const struct ampd_cdm_host *host, struct ampd_cdm **ret) {
#ifdef FAKE_GOOD
  /* What a v1 plugin's ampd_cdm_host_check() did: version, the v1 size as a floor, and
   * the required services. */
  const struct v1_host *h = (const struct v1_host *)(const void *)host;
  if (!h || h->version != AMPD_CDM_ABI_VERSION || h->size < V1_HOST_SIZE || !h->log ||
      !h->monotonic_ms || !h->wall_ms)
    return -AMPD_CDM_EABI;
  h->log(h->userdata, AMPD_CDM_LOG_DEBUG, "fake plugin created");
#endif
  struct ampd_cdm *c = calloc(1, sizeof(*c));
  if (!c)
    return -ENOMEM;
  *ret = c;
  return 0;
}

static void fake_destroy(struct ampd_cdm *cdm) {
  free(cdm);
}

static void fake_release(struct ampd_cdm *cdm, void *b) {
  free(b);
}

static int fake_needs(struct ampd_cdm *cdm, int *ret) {
  *ret = 0;
  return 0;
}

static int fake_open(struct ampd_cdm *cdm, uint32_t type, uint32_t *ret) {
  *ret = 7;
  return 0;
}

static int fake_request(struct ampd_cdm *cdm, uint32_t s, uint32_t t, const uint8_t *i, size_t n,
                        uint8_t **m, size_t *l) {
  return -AMPD_CDM_EDRM;
}

static int fake_update(struct ampd_cdm *cdm, uint32_t s, const uint8_t *l, size_t n) {
  return -AMPD_CDM_EDRM;
}

static int fake_status(struct ampd_cdm *cdm, uint32_t s, const uint8_t *kid, uint32_t *st,
                       int64_t *e) {
  return -AMPD_CDM_EDRM;
}

#ifndef FAKE_MISSING_SLOT
static int fake_decrypt(struct ampd_cdm *cdm, uint32_t s, const struct ampd_cdm_sample *x) {
  return -AMPD_CDM_ENOKEY;
}
#endif

static int fake_close(struct ampd_cdm *cdm, uint32_t s) {
  return 0;
}

#ifdef FAKE_GOOD
#define FAKE_V1_SLOTS                                                                              \
  .version = AMPD_CDM_ABI_VERSION, .name = FAKE_NAME, .key_system = "org.example.fake",            \
  .create = fake_create, .destroy = fake_destroy, .release = fake_release,                         \
  .needs_provisioning = fake_needs, .session_open = fake_open, .generate_request = fake_request,   \
  .update = fake_update, .key_status = fake_status, .decrypt = fake_decrypt,                       \
  .session_close = fake_close
#ifdef FAKE_V1
#define FAKE_NAME "fake-v1"
static const struct v1_plugin fake_v1 = {FAKE_V1_SLOTS, .size = V1_PLUGIN_SIZE};
#else
#define FAKE_NAME "fake-future"
static int fake_future_slot(struct ampd_cdm *cdm) {
  return -AMPD_CDM_EDRM;
}
static const struct future_plugin fake_v1 = {
    .v1 = {FAKE_V1_SLOTS, .size = (uint32_t)sizeof(struct future_plugin)},
    .future_slot = fake_future_slot};
#endif

AMPD_CDM_EXPORT const struct ampd_cdm_plugin *ampd_cdm_entry(uint32_t host_abi_version) {
  /* The host reads this through its own struct ampd_cdm_plugin, as it would read any
   * binary built from an older or newer header. */
  return host_abi_version == AMPD_CDM_ABI_VERSION ? (const void *)&fake_v1 : NULL;
}
#else
static const struct ampd_cdm_plugin fake = {
#ifdef FAKE_VERSION
    .version = FAKE_VERSION,
#else
    .version = AMPD_CDM_ABI_VERSION,
#endif
#ifdef FAKE_SHORT_SIZE
    .size = 16,
#else
    .size = sizeof(struct ampd_cdm_plugin),
#endif
    .name = "fake",
    .key_system = "org.example.fake",
    .create = fake_create,
    .destroy = fake_destroy,
    .release = fake_release,
    .needs_provisioning = fake_needs,
    .session_open = fake_open,
    .generate_request = fake_request,
    .update = fake_update,
    .key_status = fake_status,
#ifndef FAKE_MISSING_SLOT
    .decrypt = fake_decrypt,
#endif
    .session_close = fake_close,
};

#ifndef FAKE_NO_ENTRY
AMPD_CDM_EXPORT const struct ampd_cdm_plugin *ampd_cdm_entry(uint32_t host_abi_version) {
#ifdef FAKE_REFUSE
  return host_abi_version == 0xffffffffu ? &fake : NULL; /* no generation we speak */
#else
  return &fake;
#endif
}
#else
/* Something exported, so the .so loads, but under the wrong name. */
AMPD_CDM_EXPORT const struct ampd_cdm_plugin *ampd_cdm_entry_v0(uint32_t host_abi_version);
AMPD_CDM_EXPORT const struct ampd_cdm_plugin *ampd_cdm_entry_v0(uint32_t host_abi_version) {
  return &fake;
}
#endif
#endif /* FAKE_GOOD */
