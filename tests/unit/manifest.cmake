# unit tests for media/manifest (fixtures in tests/data/manifest)
ampd_unit_test(manifest SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_manifest.c LIBS ampd_manifest)
target_compile_definitions(test_manifest PRIVATE
  MANIFEST_DATA_DIR="${CMAKE_SOURCE_DIR}/tests/data/manifest")
