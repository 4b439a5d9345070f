/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_TEST_CDM_V1_H
#define AMPD_TEST_CDM_V1_H

/*
 * Frozen copies of the generation-1 ABI structs exactly as first released, for the ABI
 * compatibility tests: a plugin "built against v1" (test_cdm_fakeplugin.c, FAKE_V1)
 * fills this vtable, not struct ampd_cdm_plugin, so appending slots to include/ampd/cdm.h
 * leaves these sizes where they are; and a "future" plugin or host is the v1 layout plus
 * one slot. Never edit these to follow cdm.h: they are what old binaries contain.
 */
#include <stddef.h>
#include <stdint.h>

#include <ampd/cdm.h>

struct v1_sample {
  uint32_t version;
  uint32_t size;
  uint32_t scheme;
  uint8_t kid[16];
  uint8_t iv[16];
  uint8_t iv_len;
  uint8_t crypt_byte_block;
  uint8_t skip_byte_block;
  uint8_t reserved0;
  uint32_t subsample_count;
  const struct ampd_cdm_subsample *subsamples;
  const uint8_t *in;
  uint8_t *out;
  size_t len;
};

struct v1_host {
  uint32_t version;
  uint32_t size;
  void *userdata;
  void (*log)(void *userdata, int level, const char *msg);
  int64_t (*monotonic_ms)(void *userdata);
  int64_t (*wall_ms)(void *userdata);
  int (*storage_read)(void *userdata, const char *name, uint8_t *buf, size_t max, size_t *ret_len);
  int (*storage_write)(void *userdata, const char *name, const uint8_t *data, size_t len);
  int (*storage_remove)(void *userdata, const char *name);
  int (*timer_set)(void *userdata, uint32_t delay_ms, void (*fire)(void *ctx), void *ctx);
  void (*timer_cancel)(void *userdata, void *ctx);
  void (*session_message)(void *userdata, uint32_t session, uint32_t type, const uint8_t *msg,
                          size_t len);
};

/* A host of a later release of generation 1: one more service at the end. */
struct future_host {
  struct v1_host v1;
  int (*future_service)(void *userdata);
};

struct v1_plugin {
  uint32_t version;
  uint32_t size;
  const char *name;
  const char *key_system;
  int (*create)(const struct ampd_cdm_host *host, struct ampd_cdm **ret_cdm);
  void (*destroy)(struct ampd_cdm *cdm);
  void (*release)(struct ampd_cdm *cdm, void *buffer);
  int (*needs_provisioning)(struct ampd_cdm *cdm, int *ret_needed);
  int (*provision_request)(struct ampd_cdm *cdm, uint8_t **ret_msg, size_t *ret_len);
  int (*provision_response)(struct ampd_cdm *cdm, const uint8_t *msg, size_t len);
  int (*session_open)(struct ampd_cdm *cdm, uint32_t session_type, uint32_t *ret_session);
  int (*generate_request)(struct ampd_cdm *cdm, uint32_t session, uint32_t init_data_type,
                          const uint8_t *init_data, size_t init_len, uint8_t **ret_msg,
                          size_t *ret_len);
  int (*update)(struct ampd_cdm *cdm, uint32_t session, const uint8_t *license, size_t len);
  int (*key_status)(struct ampd_cdm *cdm, uint32_t session, const uint8_t *kid,
                    uint32_t *ret_status, int64_t *ret_expiry_ms);
  int (*decrypt)(struct ampd_cdm *cdm, uint32_t session, const struct ampd_cdm_sample *sample);
  int (*session_close)(struct ampd_cdm *cdm, uint32_t session);
};

/* A plugin of a later release of generation 1: one more slot at the end (v1 ends on a
 * pointer, so no padding sits between the two). */
struct future_plugin {
  struct v1_plugin v1;
  int (*future_slot)(struct ampd_cdm *cdm);
};

/* The bytes a v1 binary reports, on this data model. */
#define V1_SAMPLE_SIZE ((uint32_t)sizeof(struct v1_sample))
#define V1_HOST_SIZE ((uint32_t)sizeof(struct v1_host))
#define V1_PLUGIN_SIZE ((uint32_t)sizeof(struct v1_plugin))

#endif
