# unit tests for media/pipeline, on ampack content (the "catalog" fixture of
# tests/integration/ampack.cmake)
ampd_unit_test(pipeline SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_pipeline.c LIBS ampd_pipeline
               ARGS ${CMAKE_BINARY_DIR}/catalog)
set_tests_properties(unit/pipeline PROPERTIES FIXTURES_REQUIRED catalog)
