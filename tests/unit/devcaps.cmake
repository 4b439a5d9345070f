# unit tests for player/devcaps: a device's probe and the configuration -> ABR's
# constraints and the capability header (with the null and pipe backends' own probes).
ampd_unit_test(devcaps SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_devcaps.c
               ${CMAKE_CURRENT_LIST_DIR}/manifest_testutil.c LIBS ampd_devcaps ampd_outputs)
target_compile_definitions(test_devcaps PRIVATE
  MANIFEST_DATA_DIR="${CMAKE_SOURCE_DIR}/tests/data/manifest")
