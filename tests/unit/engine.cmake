# unit tests for player/engine, on ampack content (the "catalog" fixture of
# tests/integration/ampack.cmake), with the ClearKey plugin from the build tree and a
# recording output backend written in the test. LABELS tsan: three threads share the ring,
# the queues and the clock.
ampd_unit_test(engine SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_engine.c
               ${CMAKE_CURRENT_LIST_DIR}/engine_fixture.c
               LIBS ampd_engine ampd_manifest LABELS tsan ARGS ${CMAKE_BINARY_DIR}/catalog)
target_compile_definitions(test_engine PRIVATE
  ENGINETEST_CLEARKEY_DIR="$<TARGET_FILE_DIR:ampd_cdm_clearkey>")
add_dependencies(test_engine ampd_cdm_clearkey)
set_tests_properties(unit/engine PROPERTIES FIXTURES_REQUIRED catalog)

# The device side of the engine: kept and fixed rates (resampled), loudness, the mixer, a
# busy device retried, the idle close (tests/unit/test_engine_conv.c).
ampd_unit_test(engine_conv SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_engine_conv.c
               ${CMAKE_CURRENT_LIST_DIR}/engine_fixture.c
               LIBS ampd_engine ampd_manifest m LABELS tsan ARGS ${CMAKE_BINARY_DIR}/catalog)
target_compile_definitions(test_engine_conv PRIVATE
  ENGINETEST_CLEARKEY_DIR="$<TARGET_FILE_DIR:ampd_cdm_clearkey>")
add_dependencies(test_engine_conv ampd_cdm_clearkey)
set_tests_properties(unit/engine_conv PROPERTIES FIXTURES_REQUIRED catalog)
