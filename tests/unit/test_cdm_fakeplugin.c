/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Broken CDM plugins for the host's ABI checks (test_cdm_host.c). One source, built as
 * several .so files, each with one FAKE_* definition:
 *   FAKE_VERSION=n      a vtable claiming ABI generation n
 *   FAKE_SHORT_SIZE     a vtable whose size is shorter than generation 1's
 *   FAKE_MISSING_SLOT   a vtable without decrypt
 *   FAKE_REFUSE         an entry that answers NULL (cannot serve the host's generation)
 *   FAKE_NO_ENTRY       no ampd_cdm_entry symbol at all
 * Nothing here is ever asked to decrypt: the host must refuse each one at load time.
 */
#include <errno.h>
#include <stdlib.h>

#include <ampd/cdm.h>

struct ampd_cdm {
  int unused;
};

static int fake_create(const struct ampd_cdm_host *host, struct ampd_cdm **ret) {
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
  *ret = 1;
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
  return -AMPD_CDM_EDRM;
}
#endif

static int fake_close(struct ampd_cdm *cdm, uint32_t s) {
  return 0;
}

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
