# unit tests for the CDM ABI, the ClearKey plugin and media/cdmhost.
# The plugin is loaded from the build tree through dlopen, as the daemon loads it.
# LABELS tsan: decrypt on one thread races license renewal and close on another.
ampd_unit_test(cdm SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_cdm.c
               LIBS ampd_cdmhost ampd_mbedcrypto PkgConfig::CJSON LABELS tsan)
target_compile_definitions(test_cdm PRIVATE
  CDMTEST_CLEARKEY_PATH="$<TARGET_FILE:ampd_cdm_clearkey>")
add_dependencies(test_cdm ampd_cdm_clearkey)

# Deliberately broken plugins: the host must refuse each at load time (-AMP_EABI).
set(_cdm_fakes "")
foreach(mode VERSION2 SHORT MISSING_SLOT REFUSE NO_ENTRY)
  set(_t cdmtest_fake_${mode})
  add_library(${_t} MODULE ${CMAKE_CURRENT_SOURCE_DIR}/test_cdm_fakeplugin.c)
  set_target_properties(${_t} PROPERTIES PREFIX "")
  if(mode STREQUAL "VERSION2")
    target_compile_definitions(${_t} PRIVATE FAKE_VERSION=2)
  elseif(mode STREQUAL "SHORT")
    target_compile_definitions(${_t} PRIVATE FAKE_SHORT_SIZE)
  else()
    target_compile_definitions(${_t} PRIVATE FAKE_${mode})
  endif()
  list(APPEND _cdm_fakes CDMTEST_FAKE_${mode}="$<TARGET_FILE:${_t}>")
endforeach()

ampd_unit_test(cdm_host SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_cdm_host.c
               LIBS ampd_cdmhost PkgConfig::CJSON)
target_compile_definitions(test_cdm_host PRIVATE ${_cdm_fakes}
  CDMTEST_NOT_A_PLUGIN="${CMAKE_CURRENT_SOURCE_DIR}/test_cdm_host.c"
  CDMTEST_CLEARKEY_PATH="$<TARGET_FILE:ampd_cdm_clearkey>")
foreach(mode VERSION2 SHORT MISSING_SLOT REFUSE NO_ENTRY)
  add_dependencies(test_cdm_host cdmtest_fake_${mode})
endforeach()

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
