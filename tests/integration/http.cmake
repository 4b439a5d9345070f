# integration tests: http (net/http against the mock service over TLS on loopback).
# mockproc.c spawns and stops the mock; other C integration tests may link it too.
add_library(ampd_mockproc STATIC ${CMAKE_CURRENT_SOURCE_DIR}/mockproc.c)
target_include_directories(ampd_mockproc PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})

add_executable(itest_http ${CMAKE_CURRENT_SOURCE_DIR}/test_http.c)
target_link_libraries(itest_http PRIVATE ampd_net ampd_mockproc PkgConfig::CJSON PkgConfig::CMOCKA)
add_test(NAME integration/http COMMAND itest_http ${CMAKE_SOURCE_DIR})
set_tests_properties(integration/http PROPERTIES LABELS "integration" TIMEOUT 300)
