# integration tests: the player in one process (player + engine + loader + fetcher + drm
# against the mock on the catalog, into the pipe backend), and the real daemon driven by
# ampctl through its control socket (tests/integration/test_daemon.py).
add_executable(itest_player ${CMAKE_CURRENT_SOURCE_DIR}/test_player.c)
target_link_libraries(itest_player PRIVATE ampd_cloud_harness ampd_player ampd_outputs)
target_compile_definitions(itest_player PRIVATE
  PLAYERTEST_CLEARKEY_DIR="$<TARGET_FILE_DIR:ampd_cdm_clearkey>")
add_dependencies(itest_player ampd_cdm_clearkey)
add_test(NAME integration/player COMMAND itest_player ${CMAKE_SOURCE_DIR} ${AMPACK_CATALOG})
set_tests_properties(integration/player PROPERTIES LABELS "integration;tsan" TIMEOUT 300
                                                   FIXTURES_REQUIRED catalog)

add_test(NAME integration/daemon
         COMMAND ${AMPD_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/test_daemon.py ${AMPACK_CATALOG}
                 $<TARGET_FILE:ampd> $<TARGET_FILE:ampctl> $<TARGET_FILE_DIR:ampd_cdm_clearkey>)
set_tests_properties(integration/daemon PROPERTIES LABELS "integration" TIMEOUT 600
                                                   FIXTURES_REQUIRED catalog
                                                   ENVIRONMENT "PYTHONPATH=${CMAKE_CURRENT_SOURCE_DIR}")

# The recovery matrix of issue 9 through the real daemon (tests/integration/test_daemon_faults.py).
add_test(NAME integration/daemon_faults
         COMMAND ${AMPD_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/test_daemon_faults.py
                 ${AMPACK_CATALOG} $<TARGET_FILE:ampd> $<TARGET_FILE:ampctl>
                 $<TARGET_FILE_DIR:ampd_cdm_clearkey>)
set_tests_properties(integration/daemon_faults PROPERTIES LABELS "integration" TIMEOUT 300
                                                          FIXTURES_REQUIRED catalog
                                                          ENVIRONMENT "PYTHONPATH=${CMAKE_CURRENT_SOURCE_DIR}")

# Issue 10: the onevent hook, the saved state and SIGHUP through the real daemon
# (tests/integration/test_daemon_state.py).
add_test(NAME integration/daemon_state
         COMMAND ${AMPD_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/test_daemon_state.py
                 ${AMPACK_CATALOG} $<TARGET_FILE:ampd> $<TARGET_FILE:ampctl>
                 $<TARGET_FILE_DIR:ampd_cdm_clearkey>)
set_tests_properties(integration/daemon_state PROPERTIES LABELS "integration" TIMEOUT 600
                                                         FIXTURES_REQUIRED catalog
                                                         ENVIRONMENT "PYTHONPATH=${CMAKE_CURRENT_SOURCE_DIR}")
