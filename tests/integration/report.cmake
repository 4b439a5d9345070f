# integration tests: cloud/report (the playback-event reporter) against the mock's
# collector over TLS on loopback.
add_executable(itest_report ${CMAKE_CURRENT_SOURCE_DIR}/test_report.c)
target_link_libraries(itest_report PRIVATE ampd_http_harness ampd_cloud)
add_test(NAME integration/report COMMAND itest_report ${CMAKE_SOURCE_DIR})
set_tests_properties(integration/report PROPERTIES LABELS "integration" TIMEOUT 300)
