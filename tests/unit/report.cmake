# unit tests for cloud/report: the event serializer, eventIds, and report_submit's side of
# the queue (durable before any send, kinds, failed appends). The sender is tested against
# the mock in tests/integration/report.cmake.
ampd_unit_test(report SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_report.c
               LIBS ampd_cloud PkgConfig::CJSON)
