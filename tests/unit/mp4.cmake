# unit tests for mp4: box-built segments (test_mp4), bad input and allocation failures
# (test_mp4_errors), real ffmpeg DASH files (test_mp4_dash)
ampd_unit_test(mp4 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_mp4.c ${CMAKE_CURRENT_LIST_DIR}/mp4_build.c
               LIBS ampd_mp4)
ampd_unit_test(mp4_errors SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_mp4_errors.c
                                  ${CMAKE_CURRENT_LIST_DIR}/mp4_build.c
               LIBS ampd_mp4)

# test_mp4_dash also writes the fuzz seed corpus: test_mp4_dash corpus <dir> [dash dir]
add_executable(test_mp4_dash ${CMAKE_CURRENT_LIST_DIR}/test_mp4_dash.c
                             ${CMAKE_CURRENT_LIST_DIR}/mp4_build.c)
target_link_libraries(test_mp4_dash PRIVATE ampd_mp4 PkgConfig::CMOCKA)

# The DASH files are made at test time in the build dir with ffmpeg, a test dependency that
# cmake/AmpdDeps.cmake requires at configure time (AMPD_FFMPEG): without it configure fails,
# so these tests are always registered.
set(_mp4_dash ${CMAKE_CURRENT_BINARY_DIR}/mp4-dash)
add_test(NAME unit/mp4-dash-gen
         COMMAND sh ${CMAKE_SOURCE_DIR}/tests/data/mp4/gen_dash.sh ${_mp4_dash})
set_tests_properties(unit/mp4-dash-gen PROPERTIES FIXTURES_SETUP mp4_dash LABELS unit TIMEOUT 120)
add_test(NAME unit/mp4-dash COMMAND test_mp4_dash dash ${_mp4_dash})
set_tests_properties(unit/mp4-dash PROPERTIES FIXTURES_REQUIRED mp4_dash LABELS unit TIMEOUT 120)

# test_alloc_failures makes the k-th allocation of the parsers fail.
target_link_options(test_mp4_errors PRIVATE -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc)
