# integration tests: cloud/report (the playback-event reporter) against the mock's
# collector over TLS on loopback. collector_fixture.c: their main, the reporter on the
# mock and the checks against the collector, for both.
add_executable(itest_report ${CMAKE_CURRENT_SOURCE_DIR}/test_report.c
                            ${CMAKE_CURRENT_SOURCE_DIR}/collector_fixture.c)
target_link_libraries(itest_report PRIVATE ampd_http_harness ampd_cloud)
add_test(NAME integration/report COMMAND itest_report ${CMAKE_SOURCE_DIR})
set_tests_properties(integration/report PROPERTIES LABELS "integration" TIMEOUT 300)

# cloud/report's durability end to end: a driver process killed with SIGKILL in mid-send
# and restarted on its queue file, and a full disk (RLIMIT_FSIZE).
add_executable(report_driver ${CMAKE_CURRENT_SOURCE_DIR}/report_driver.c)
target_link_libraries(report_driver PRIVATE ampd_cloud)
add_executable(itest_report_durable ${CMAKE_CURRENT_SOURCE_DIR}/test_report_durable.c
                                    ${CMAKE_CURRENT_SOURCE_DIR}/collector_fixture.c)
target_link_libraries(itest_report_durable PRIVATE ampd_http_harness ampd_cloud)
add_test(NAME integration/report-durable
         COMMAND itest_report_durable ${CMAKE_SOURCE_DIR} $<TARGET_FILE:report_driver>)
set_tests_properties(integration/report-durable PROPERTIES LABELS "integration" TIMEOUT 300)
