# integration tests: http (net/http against the mock service over TLS on loopback).
# mockproc.c spawns and stops the mock; other C integration tests may link it too.
add_library(ampd_mockproc STATIC ${CMAKE_CURRENT_SOURCE_DIR}/mockproc.c)
target_include_directories(ampd_mockproc PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(ampd_mockproc PUBLIC ampd_core)

# The mock, the test CA and request helpers shared by the net/http integration tests.
add_library(ampd_http_harness STATIC ${CMAKE_CURRENT_SOURCE_DIR}/http_harness.c)
target_link_libraries(ampd_http_harness PUBLIC ampd_net ampd_mockproc PkgConfig::CJSON PkgConfig::CMOCKA)

# http_case.c: one request as a case (what it sends, what it must come to), for these two.
add_executable(itest_http ${CMAKE_CURRENT_SOURCE_DIR}/test_http.c
                          ${CMAKE_CURRENT_SOURCE_DIR}/http_case.c)
target_link_libraries(itest_http PRIVATE ampd_http_harness)
add_test(NAME integration/http COMMAND itest_http ${CMAKE_SOURCE_DIR})
set_tests_properties(integration/http PROPERTIES LABELS "integration" TIMEOUT 300)

# Origins, short bodies, proxies and close-on-exec (a second mock on another port).
add_executable(itest_http_origin ${CMAKE_CURRENT_SOURCE_DIR}/test_http_origin.c
                                 ${CMAKE_CURRENT_SOURCE_DIR}/http_case.c)
target_link_libraries(itest_http_origin PRIVATE ampd_http_harness)
add_test(NAME integration/http-origin COMMAND itest_http_origin ${CMAKE_SOURCE_DIR})
set_tests_properties(integration/http-origin PROPERTIES LABELS "integration" TIMEOUT 300)
