# integration tests: media/fetcher against the mock's CDN over TLS on loopback, serving the
# test catalog (fixture "catalog"): audio objects and manifests from the api module.
add_executable(itest_fetcher ${CMAKE_CURRENT_SOURCE_DIR}/test_fetcher.c)
target_link_libraries(itest_fetcher PRIVATE ampd_http_harness ampd_cloud ampd_manifest ampd_fetcher)
add_test(NAME integration/fetcher COMMAND itest_fetcher ${CMAKE_SOURCE_DIR} ${AMPACK_CATALOG})
set_tests_properties(integration/fetcher PROPERTIES LABELS "integration" TIMEOUT 300
                                                    FIXTURES_REQUIRED catalog)
