# integration tests: cloud/license (the license client) against the mock's license server
# over TLS on loopback, with the real ClearKey plugin from the build tree.
add_executable(itest_license_client ${CMAKE_CURRENT_SOURCE_DIR}/test_license_client.c)
target_link_libraries(itest_license_client PRIVATE ampd_cloud ampd_cdmhost ampd_http_harness)
target_compile_definitions(itest_license_client PRIVATE
  LICENSETEST_CLEARKEY_DIR="$<TARGET_FILE_DIR:ampd_cdm_clearkey>")
add_dependencies(itest_license_client ampd_cdm_clearkey)
add_test(NAME integration/license COMMAND itest_license_client ${CMAKE_SOURCE_DIR})
set_tests_properties(integration/license PROPERTIES LABELS "integration" TIMEOUT 300)
