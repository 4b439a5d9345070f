# unit tests for media/pipeline, on ampack content (the "catalog" fixture of
# tests/integration/ampack.cmake) and on box-built segments (mp4_build.c); the wrong-key
# case loads the ClearKey plugin from the build tree, as the daemon loads it.
ampd_unit_test(pipeline SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_pipeline.c
                                ${CMAKE_CURRENT_LIST_DIR}/mp4_build.c
               LIBS ampd_pipeline ARGS ${CMAKE_BINARY_DIR}/catalog)
target_compile_definitions(test_pipeline PRIVATE
  PIPELINETEST_CLEARKEY_DIR="$<TARGET_FILE_DIR:ampd_cdm_clearkey>")
add_dependencies(test_pipeline ampd_cdm_clearkey)
set_tests_properties(unit/pipeline PROPERTIES FIXTURES_REQUIRED catalog)
