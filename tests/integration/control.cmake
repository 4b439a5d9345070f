# integration tests: control (the control socket server) over a real Unix socket, driven
# from the test process (test_control.c), and ampctl run as a process against it
# (test_control_ampctl.c); both on the server and clients of control_fixture.h.
add_executable(itest_control ${CMAKE_CURRENT_SOURCE_DIR}/test_control.c
                             ${CMAKE_CURRENT_SOURCE_DIR}/control_fixture.c)
target_link_libraries(itest_control PRIVATE ampd_control ampd_mockproc PkgConfig::CJSON
                                            PkgConfig::CMOCKA)
add_test(NAME integration/control COMMAND itest_control)
set_tests_properties(integration/control PROPERTIES LABELS "integration" TIMEOUT 300)

add_executable(itest_control_ampctl ${CMAKE_CURRENT_SOURCE_DIR}/test_control_ampctl.c
                                    ${CMAKE_CURRENT_SOURCE_DIR}/control_fixture.c)
target_link_libraries(itest_control_ampctl PRIVATE ampd_control ampd_mockproc PkgConfig::CJSON
                                                   PkgConfig::CMOCKA)
add_dependencies(itest_control_ampctl ampctl)
add_test(NAME integration/control_ampctl COMMAND itest_control_ampctl $<TARGET_FILE:ampctl>)
set_tests_properties(integration/control_ampctl PROPERTIES LABELS "integration" TIMEOUT 300)
