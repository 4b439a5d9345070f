/* SPDX-License-Identifier: Apache-2.0 */
/*
 * include/ampd/cdm.h compiles on its own (PipeWire's include test): this file includes
 * nothing else and is built with -std=c11 -Wall -Wextra -Wpedantic -Werror. It also pins
 * the parts of the ABI that must never move within generation 1.
 */
#include <ampd/cdm.h>

_Static_assert(AMPD_CDM_ABI_VERSION == 1, "generation 1");
_Static_assert(offsetof(struct ampd_cdm_plugin, version) == 0, "version first");
_Static_assert(offsetof(struct ampd_cdm_plugin, size) == 4, "size second");
_Static_assert(offsetof(struct ampd_cdm_host, version) == 0, "version first");
_Static_assert(offsetof(struct ampd_cdm_sample, version) == 0, "version first");
_Static_assert(AMPD_CDM_SCHEME_CENC == 0x63656e63u, "'cenc'");
_Static_assert(AMPD_CDM_SCHEME_CBCS == 0x63626373u, "'cbcs'");
/* The frozen generation-1 sizes, per data model (LP64 / ILP32). */
_Static_assert(sizeof(void *) == 8
                   ? AMPD_CDM_PLUGIN_MIN_SIZE == 120 && AMPD_CDM_HOST_MIN_SIZE == 88 &&
                         AMPD_CDM_SAMPLE_MIN_SIZE == 88
                   : AMPD_CDM_PLUGIN_MIN_SIZE == 64 && AMPD_CDM_HOST_MIN_SIZE == 48 &&
                         AMPD_CDM_SAMPLE_MIN_SIZE == 68,
               "frozen MIN_SIZE values");
_Static_assert(sizeof(struct ampd_cdm_plugin) >= AMPD_CDM_PLUGIN_MIN_SIZE &&
                   sizeof(struct ampd_cdm_host) >= AMPD_CDM_HOST_MIN_SIZE &&
                   sizeof(struct ampd_cdm_sample) >= AMPD_CDM_SAMPLE_MIN_SIZE,
               "structs only grow");
_Static_assert(AMPD_CDM_EABI == 10020 && AMPD_CDM_ENOKEY == 10014, "frozen error numbers");

int main(void) {
  /* The inline checks refuse what they must, using nothing but the header. */
  struct ampd_cdm_plugin p = {.version = AMPD_CDM_ABI_VERSION + 1, .size = sizeof(p)};
  if (ampd_cdm_plugin_check(&p) != -AMPD_CDM_EABI)
    return 1;
  struct ampd_cdm_host h = {.version = AMPD_CDM_ABI_VERSION, .size = 8};
  if (ampd_cdm_host_check(&h) != -AMPD_CDM_EABI)
    return 1;
  return 0;
}
