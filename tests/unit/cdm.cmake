# unit tests for the CDM ABI, the ClearKey plugin and media/cdmhost.
# The plugin is loaded by name from the build tree's plugin directory, passed explicitly
# (cdmhost_options.plugin_dir), as the daemon loads it from its configured directory.
# LABELS tsan: decrypt on one thread races license renewal and close on another.
ampd_unit_test(cdm SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_cdm.c
               LIBS ampd_cdmhost ampd_mbedcrypto PkgConfig::CJSON LABELS tsan)
target_compile_definitions(test_cdm PRIVATE
  CDMTEST_CLEARKEY_DIR="$<TARGET_FILE_DIR:ampd_cdm_clearkey>")
add_dependencies(test_cdm ampd_cdm_clearkey)

# Fake plugins (test_cdm_fakeplugin.c): deliberately broken ones the host must refuse at
# load time (-AMP_EABI), and V1 / FUTURE, good plugins built from frozen copies of the
# generation-1 layout (test_cdm_v1.h) that the host must accept. cdmhost loads a plugin
# by name from one absolute directory: each is cdmtest_fake_<mode>.so in this directory.
set(_cdm_fake_modes VERSION2 SHORT MISSING_SLOT REFUSE NO_ENTRY V1 FUTURE)
set(_cdm_fakes "")
foreach(mode ${_cdm_fake_modes})
  set(_t cdmtest_fake_${mode})
  string(TOLOWER "cdmtest_fake_${mode}" _name)
  add_library(${_t} MODULE ${CMAKE_CURRENT_SOURCE_DIR}/test_cdm_fakeplugin.c)
  set_target_properties(${_t} PROPERTIES PREFIX "" OUTPUT_NAME ${_name})
  if(mode STREQUAL "VERSION2")
    target_compile_definitions(${_t} PRIVATE FAKE_VERSION=2)
  elseif(mode STREQUAL "SHORT")
    target_compile_definitions(${_t} PRIVATE FAKE_SHORT_SIZE)
  else()
    target_compile_definitions(${_t} PRIVATE FAKE_${mode})
  endif()
  list(APPEND _cdm_fakes CDMTEST_FAKE_${mode}="${_name}")
endforeach()

ampd_unit_test(cdm_host SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_cdm_host.c
               LIBS ampd_cdmhost PkgConfig::CJSON ${CMAKE_DL_LIBS})
target_compile_definitions(test_cdm_host PRIVATE ${_cdm_fakes}
  CDMTEST_PLUGIN_DIR="$<TARGET_FILE_DIR:cdmtest_fake_V1>"
  CDMTEST_CLEARKEY_DIR="$<TARGET_FILE_DIR:ampd_cdm_clearkey>")
foreach(mode ${_cdm_fake_modes})
  add_dependencies(test_cdm_host cdmtest_fake_${mode})
endforeach()
add_dependencies(test_cdm_host ampd_cdm_clearkey)

# The plugin's only dynamic symbol is ampd_cdm_entry (nm -D).
add_test(NAME unit/cdm_exports
         COMMAND sh ${CMAKE_SOURCE_DIR}/cdm/clearkey/check_exports.sh
                 $<TARGET_FILE:ampd_cdm_clearkey>)
set_tests_properties(unit/cdm_exports PROPERTIES LABELS "unit" TIMEOUT 60)

# include/ampd/cdm.h on its own, strict C11.
add_executable(test_cdm_header ${CMAKE_CURRENT_SOURCE_DIR}/test_cdm_header.c)
target_compile_options(test_cdm_header PRIVATE -std=c11 -Wall -Wextra -Wpedantic -Werror)
add_test(NAME unit/cdm_header COMMAND test_cdm_header)
set_tests_properties(unit/cdm_header PROPERTIES LABELS "unit" TIMEOUT 60)
