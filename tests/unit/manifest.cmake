# unit tests for media/manifest (fixtures in tests/data/manifest)
foreach(t manifest manifest_errors)
  ampd_unit_test(${t} SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_${t}.c
                 ${CMAKE_CURRENT_LIST_DIR}/manifest_testutil.c LIBS ampd_manifest)
  target_compile_definitions(test_${t} PRIVATE
    MANIFEST_DATA_DIR="${CMAKE_SOURCE_DIR}/tests/data/manifest")
endforeach()
