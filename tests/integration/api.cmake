# integration tests: cloud/api (the Device API client) against the mock's api module
# over TLS on loopback, serving the test catalog (fixture "catalog").
add_library(ampd_cloud_harness STATIC ${CMAKE_CURRENT_SOURCE_DIR}/cloud_harness.c)
target_link_libraries(ampd_cloud_harness PUBLIC ampd_http_harness ampd_cloud)
add_executable(itest_api ${CMAKE_CURRENT_SOURCE_DIR}/test_api.c)
target_link_libraries(itest_api PRIVATE ampd_cloud_harness)
add_test(NAME integration/api COMMAND itest_api ${CMAKE_SOURCE_DIR} ${AMPACK_CATALOG})
set_tests_properties(integration/api PROPERTIES LABELS "integration" TIMEOUT 300
                                                FIXTURES_REQUIRED catalog)
target_link_libraries(itest_api PRIVATE ampd_cdmhost ampd_manifest ampd_pipeline ampd_player)
target_compile_definitions(itest_api PRIVATE
  APITEST_CLEARKEY_DIR="$<TARGET_FILE_DIR:ampd_cdm_clearkey>")
add_dependencies(itest_api ampd_cdm_clearkey)
