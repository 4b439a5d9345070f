# unit tests for media/abr (the Amazon-shaped manifests of tests/data/manifest)
ampd_unit_test(abr SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_abr.c
               ${CMAKE_CURRENT_LIST_DIR}/manifest_testutil.c LIBS ampd_abr)
target_compile_definitions(test_abr PRIVATE
  MANIFEST_DATA_DIR="${CMAKE_SOURCE_DIR}/tests/data/manifest")
