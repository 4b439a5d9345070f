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

# The real daemon driven by ampctl, one Python module each (over test_daemon.py's fixtures).
# Extra arguments are more labels: `tsan` runs the test in the tsan preset too, with the
# tsan-built ampd, ampctl and CDM of that tree (TSAN_OPTIONS halt_on_error=1 from the
# preset); test_daemon.py's Daemon.stop() fails the test on a "WARNING: ThreadSanitizer"
# in the daemon's log, also where the daemon went on.
function(ampd_daemon_test name script timeout)
  string(JOIN ";" labels "integration" ${ARGN})
  add_test(NAME integration/${name}
           COMMAND ${AMPD_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/${script} ${AMPACK_CATALOG}
                   $<TARGET_FILE:ampd> $<TARGET_FILE:ampctl> $<TARGET_FILE_DIR:ampd_cdm_clearkey>)
  set_tests_properties(integration/${name} PROPERTIES LABELS "${labels}" TIMEOUT ${timeout}
                                                      FIXTURES_REQUIRED catalog
                                                      ENVIRONMENT "PYTHONPATH=${CMAKE_CURRENT_SOURCE_DIR}")
endfunction()

ampd_daemon_test(daemon test_daemon.py 600 tsan)

# The recovery matrix of issue 9 (tests/integration/test_daemon_faults.py).
ampd_daemon_test(daemon_faults test_daemon_faults.py 300)
# ABR through the real daemon under the mock's bandwidth throttle, into the null backend
# paced in real time (tests/integration/test_daemon_abr.py: about 100 s).
ampd_daemon_test(daemon_abr test_daemon_abr.py 300)
# Issue 9 where playback takes its time: every command through ampctl checked in the PCM
# and the event stream, kill -9 mid-track, the album across a license renewal and an
# audio-object (or CDN-token) expiry (tests/integration/test_daemon_play.py).
ampd_daemon_test(daemon_play test_daemon_play.py 600 tsan)

# Issue 10: the onevent hook, the saved state and SIGHUP through the real daemon
# (tests/integration/test_daemon_state.py).
ampd_daemon_test(daemon_state test_daemon_state.py 600)

# Issue 12: the album whose keys and PSSH boxes came from the mock's SPEKE key provider
# (catalog speke/), played bit-exact like any other (tests/integration/test_daemon_speke.py).
ampd_daemon_test(daemon_speke test_daemon_speke.py 300)
