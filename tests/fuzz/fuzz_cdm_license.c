/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the bytes a license server (or a manifest) controls on the CDM path:
 *  - the Amazon envelope parser license_from_reply() (cloud/license), and what it decodes;
 *  - the ClearKey plugin's update() (JWK-set license), on a session that asked for one
 *    fixed KID, followed by a decrypt when a key got in;
 *  - the plugin's generate_request() with the input as "cenc" pssh boxes and as "keyids".
 * The plugin sources are linked in, and reached through ampd_cdm_entry() exactly as
 * the host reaches them after dlopen(). The input may be in grow.h's compact form, so that
 * envelopes and licenses at their bounds are reachable.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ampd/cdm.h>

#include "fuzz.h"
#include "cloud/license.h"
#include "grow.h"
#include "media/cdmhost.h"

/* One over the envelope bound (which is above the license and init data bounds). */
#define FUZZ_GROW_CAP (LICENSE_MAX_ENVELOPE + 1)

static void quiet_log(void *ud, int level, const char *msg) {
  (void)ud;
  (void)level;
  (void)msg;
}

static int64_t fixed_ms(void *ud) {
  (void)ud;
  return 1700000000000;
}

static const struct ampd_cdm_host host = {
    .version = AMPD_CDM_ABI_VERSION,
    .size = sizeof(struct ampd_cdm_host),
    .log = quiet_log,
    .monotonic_ms = fixed_ms,
    .wall_ms = fixed_ms,
};

/* The KID the session asks for: 01234567-89ab-cdef-0123-456789abcdef. */
static const char keyids[] = "{\"kids\":[\"ASNFZ4mrze8BI0VniavN7w\"]}";

static void try_license(const struct ampd_cdm_plugin *p, struct ampd_cdm *cdm, const uint8_t *lic,
                        size_t len) {
  uint32_t s = 0;
  if (p->session_open(cdm, AMPD_CDM_SESSION_TEMPORARY, &s) < 0)
    return;
  uint8_t *msg = NULL;
  size_t msg_len = 0;
  if (p->generate_request(cdm, s, AMPD_CDM_INIT_KEYIDS, (const uint8_t *)keyids, sizeof(keyids) - 1,
                          &msg, &msg_len) == 0)
    p->release(cdm, msg);
  if (p->update(cdm, s, lic, len) == 0) {
    uint8_t buf[48];
    memset(buf, 0xa5, sizeof(buf));
    struct ampd_cdm_sample smp;
    cdmhost_sample_init(&smp);
    static const uint8_t kid[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                    0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
    memcpy(smp.kid, kid, 16);
    smp.iv_len = 8;
    smp.in = buf;
    smp.out = buf;
    smp.len = sizeof(buf);
    uint32_t st = 0;
    int64_t exp = 0;
    if (p->key_status(cdm, s, kid, &st, &exp) == 0 && st == AMPD_CDM_KEY_USABLE &&
        p->decrypt(cdm, s, &smp) != 0)
      abort(); /* a usable key must decrypt a well-formed sample */
  }
  p->session_close(cdm, s);
}

static void fuzz_one(const uint8_t *data, size_t size) {
  const struct ampd_cdm_plugin *p = ampd_cdm_entry(AMPD_CDM_ABI_VERSION);
  struct ampd_cdm *cdm = NULL;
  if (ampd_cdm_plugin_check(p) < 0 || p->create(&host, &cdm) < 0)
    abort();

  /* The license as the server's JSON reply, and as a bare JWK set. */
  uint8_t *lic = NULL;
  size_t lic_len = 0;
  if (license_from_reply((const char *)data, size, &lic, &lic_len) == 0) {
    try_license(p, cdm, lic, lic_len);
    free(lic);
  }
  if (size > 0)
    try_license(p, cdm, data, size);

  /* The same bytes as init data of either type. */
  uint32_t s = 0;
  static const uint32_t types[] = {AMPD_CDM_INIT_CENC, AMPD_CDM_INIT_KEYIDS};
  for (size_t i = 0; i < 2 && size > 0; i++) {
    if (p->session_open(cdm, AMPD_CDM_SESSION_TEMPORARY, &s) < 0)
      abort();
    uint8_t *msg = NULL;
    size_t msg_len = 0;
    if (p->generate_request(cdm, s, types[i], data, size, &msg, &msg_len) == 0) {
      if (msg_len == 0 || msg_len > AMPD_CDM_MAX_MESSAGE)
        abort();
      p->release(cdm, msg);
    }
    p->session_close(cdm, s);
  }
  p->destroy(cdm);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct grown g;
  if (grow(data, size, FUZZ_GROW_CAP, &g) == 0)
    fuzz_one(g.data, g.size);
  grow_free(&g);
  return 0;
}
