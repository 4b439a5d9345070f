# integration test: the release ampd under valgrind memcheck, end to end: linked, the
# album played to its end against the mock over TLS, SIGTERM; any memcheck error, definite
# or indirect leak, or fd left open fails it (tests/integration/test_valgrind_play.py;
# about 10 s on the release build). Label `valgrind`: scripts/test.sh runs it on the
# release build (build/default). Not in the sanitizer builds: valgrind cannot run an
# ASan or TSan binary.
if(NOT AMPD_SANITIZE AND NOT AMPD_TSAN AND NOT AMPD_FUZZ)
  add_test(NAME integration/valgrind_play
           COMMAND ${AMPD_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/test_valgrind_play.py
                   ${AMPACK_CATALOG} $<TARGET_FILE:ampd> $<TARGET_FILE:ampctl>
                   $<TARGET_FILE_DIR:ampd_cdm_clearkey>)
  set_tests_properties(integration/valgrind_play PROPERTIES LABELS "integration;valgrind"
                                                            TIMEOUT 900
                                                            FIXTURES_REQUIRED catalog
                                                            ENVIRONMENT "PYTHONPATH=${CMAKE_CURRENT_SOURCE_DIR}")
endif()
