# integration tests: control (the control socket server) over a real Unix socket, driven
# from the test process, and ampctl run as a process against it.
add_executable(itest_control ${CMAKE_CURRENT_SOURCE_DIR}/test_control.c)
target_link_libraries(itest_control PRIVATE ampd_control ampd_mockproc PkgConfig::CJSON
                                            PkgConfig::CMOCKA)
add_dependencies(itest_control ampctl)
add_test(NAME integration/control COMMAND itest_control $<TARGET_FILE:ampctl>)
set_tests_properties(integration/control PROPERTIES LABELS "integration" TIMEOUT 300)
