# unit tests of libampd-client (src/client, include/ampd/client.h) against a fake server
# socket of the test's own; the test links the shared library as a program would.
ampd_unit_test(client SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_client.c LIBS ampd_client Threads::Threads)

# The header compiles on its own, pedantic C11, and the loaded library is the ABI of the
# header (tests/unit/test_client_header.c).
add_executable(test_client_header ${CMAKE_CURRENT_SOURCE_DIR}/test_client_header.c)
target_compile_options(test_client_header PRIVATE -std=c11 -Wall -Wextra -Wpedantic -Werror)
target_link_libraries(test_client_header PRIVATE ampd_client)
add_test(NAME unit/client_header COMMAND test_client_header)
set_tests_properties(unit/client_header PROPERTIES LABELS "unit" TIMEOUT 60)

# What the .so exports is the header's API and nothing else, and its SONAME carries the
# header's ABI number (tests/unit/test_client_abi.py: nm -D, readelf -d).
find_program(AMPD_NM nm REQUIRED)
find_program(AMPD_READELF readelf REQUIRED)
add_test(NAME unit/client_abi
         COMMAND ${AMPD_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/test_client_abi.py
                 ${CMAKE_SOURCE_DIR}/include/ampd/client.h $<TARGET_FILE:ampd_client>
                 ${AMPD_NM} ${AMPD_READELF})
set_tests_properties(unit/client_abi PROPERTIES LABELS "unit" TIMEOUT 60)
