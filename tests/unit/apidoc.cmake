# unit tests for cloud/apidoc: Device API documents, references, the audio object and the
# 409 general error report (docs/service.md §3-§5); no network.
ampd_unit_test(apidoc SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_apidoc.c LIBS ampd_cloud)
