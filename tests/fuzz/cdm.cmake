# fuzz harness for the CDM license path: the envelope parser, the ClearKey plugin's
# update() and its init-data parsers. The plugin's sources are linked in directly.
# MAX_LEN: LICENSE_MAX_ENVELOPE + 1 (64 KiB of base64 plus framing, one over the bound);
# the same bytes also pass AMPD_CDM_MAX_MESSAGE as a bare license and as init data.
# corpus/cdm-bounds: grown envelopes and licenses at and over those bounds.
ampd_fuzz_target(cdm_license
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_cdm_license.c
          ${CMAKE_SOURCE_DIR}/cdm/clearkey/clearkey.c
          ${CMAKE_SOURCE_DIR}/cdm/clearkey/ck_json.c
          ${CMAKE_SOURCE_DIR}/cdm/clearkey/ck_ctr.c
  LIBS ampd_cdmhost ampd_cloud ampd_mbedcrypto PkgConfig::CJSON Threads::Threads m
  CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/cdm
  BOUNDS_CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/cdm-bounds MAX_LEN 88405)
