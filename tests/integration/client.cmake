# integration tests: libampd-client installed (a DESTDIR stage of the client and dev
# components), docs/examples/status.c built from it with pkg-config and run against the
# real daemon, and ampctl's login QR code, watch and exit codes
# (tests/integration/test_client.py, on test_daemon.py's Daemon and the mock).
# The staged library carries the build's sanitizers, so the example is built with them too.
set(_client_cflags "-g")
if(AMPD_SANITIZE)
  string(APPEND _client_cflags " -fsanitize=address,undefined -fno-sanitize-recover=all")
elseif(AMPD_TSAN)
  string(APPEND _client_cflags " -fsanitize=thread")
endif()
add_test(NAME integration/client
         COMMAND ${AMPD_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/test_client.py ${AMPACK_CATALOG}
                 $<TARGET_FILE:ampd> $<TARGET_FILE:ampctl> $<TARGET_FILE_DIR:ampd_cdm_clearkey>
                 ${CMAKE_COMMAND} ${CMAKE_BINARY_DIR} ${CMAKE_C_COMPILER} "${_client_cflags}"
                 ${CMAKE_SOURCE_DIR})
set_tests_properties(integration/client PROPERTIES LABELS "integration" TIMEOUT 600
                                                   FIXTURES_REQUIRED catalog
                                                   ENVIRONMENT "PYTHONPATH=${CMAKE_CURRENT_SOURCE_DIR}")

# bash completion: the commands it offers are the ones ampctl's usage lists, and it
# completes options and arguments (tests/integration/test_completion.sh).
add_test(NAME integration/ampctl_completion
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_completion.sh
                 ${CMAKE_SOURCE_DIR}/dist/bash-completion/ampctl $<TARGET_FILE:ampctl>)
set_tests_properties(integration/ampctl_completion PROPERTIES LABELS "integration" TIMEOUT 60)
