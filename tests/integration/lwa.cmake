# integration tests: cloud/lwa (Login with Amazon) against the mock's lwa module over TLS.
add_executable(itest_lwa ${CMAKE_CURRENT_SOURCE_DIR}/test_lwa.c)
target_link_libraries(itest_lwa PRIVATE ampd_cloud ampd_http_harness)
add_test(NAME integration/lwa COMMAND itest_lwa ${CMAKE_SOURCE_DIR})
set_tests_properties(integration/lwa PROPERTIES LABELS "integration" TIMEOUT 300)
