# unit tests for the CDM ABI, the ClearKey plugin and media/cdmhost.
# The plugin is loaded from the build tree through dlopen, as the daemon loads it.
ampd_unit_test(cdm SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_cdm.c
               LIBS ampd_cdmhost ampd_mbedcrypto PkgConfig::CJSON)
target_compile_definitions(test_cdm PRIVATE
  CDMTEST_CLEARKEY_PATH="$<TARGET_FILE:ampd_cdm_clearkey>")
add_dependencies(test_cdm ampd_cdm_clearkey)
