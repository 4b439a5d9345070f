# integration test: ampd as an MPRIS media player on a private session bus of the test's
# (dbus-daemon), driven with busctl and watched with gdbus monitor
# (tests/integration/test_mpris.py); and on a private system bus with and without the D-Bus
# policy file dist/dbus/org.mpris.MediaPlayer2.ampd.conf; ampd_test (its test_stall hook)
# queues calls and a SIGTERM behind a stalled loop.
add_test(NAME integration/mpris
         COMMAND ${AMPD_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/test_mpris.py ${AMPACK_CATALOG}
                 $<TARGET_FILE:ampd> $<TARGET_FILE:ampd_test> $<TARGET_FILE:ampctl> $<TARGET_FILE_DIR:ampd_cdm_clearkey>
                 ${AMPD_DBUS_DAEMON} ${AMPD_BUSCTL} ${AMPD_GDBUS} ${AMPD_STDBUF} ${AMPD_SETPRIV}
                 ${CMAKE_SOURCE_DIR}/dist/dbus/org.mpris.MediaPlayer2.ampd.conf)
set_tests_properties(integration/mpris PROPERTIES LABELS "integration" TIMEOUT 120
                                                  FIXTURES_REQUIRED catalog
                                                  ENVIRONMENT "PYTHONPATH=${CMAKE_CURRENT_SOURCE_DIR}")
