# integration tests: ampd under systemd's eyes. The unit file ampd.service (score of
# `systemd-analyze security`, `systemd-analyze verify`) and the daemon's notifications to a
# NOTIFY_SOCKET of the test's (tests/integration/test_sdnotify.py).
#
# ampd_test: the daemon with the test hooks of src/testhooks.h (a control command that
# stalls the loop). A binary of its own, never installed, so that no build of `ampd` can
# carry a hook by accident: there is no option or variable that puts it into `ampd`.
add_executable(ampd_test ${AMPD_DAEMON_SRCS} ${CMAKE_SOURCE_DIR}/src/testhooks.c)
target_link_libraries(ampd_test PRIVATE ${AMPD_DAEMON_LIBS})
target_compile_definitions(ampd_test PRIVATE AMPD_VERSION_STRING="${PROJECT_VERSION}"
                                             AMPD_TEST_HOOKS=1)

add_test(NAME integration/sdnotify
         COMMAND ${AMPD_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/test_sdnotify.py ${AMPACK_CATALOG}
                 $<TARGET_FILE:ampd> $<TARGET_FILE:ampd_test> $<TARGET_FILE:ampctl>
                 $<TARGET_FILE_DIR:ampd_cdm_clearkey>)
set_tests_properties(integration/sdnotify PROPERTIES LABELS "integration" TIMEOUT 300
                                                     FIXTURES_REQUIRED catalog
                                                     ENVIRONMENT "PYTHONPATH=${CMAKE_CURRENT_SOURCE_DIR}")

# The unit: exposure score at most 2.0, verify clean (tests/integration/test_unit.sh).
add_test(NAME integration/unit
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_unit.sh ${CMAKE_BINARY_DIR})
set_tests_properties(integration/unit PROPERTIES LABELS "integration" TIMEOUT 120)
