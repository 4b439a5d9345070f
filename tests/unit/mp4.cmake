# unit tests for mp4
ampd_unit_test(mp4 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_mp4.c LIBS ampd_mp4)

# The same binary on real ffmpeg DASH output, made at test time in the build dir.
find_program(AMPD_FFMPEG ffmpeg)
if(AMPD_FFMPEG)
  set(_mp4_dash ${CMAKE_CURRENT_BINARY_DIR}/mp4-dash)
  add_test(NAME unit/mp4-dash-gen
           COMMAND sh ${CMAKE_SOURCE_DIR}/tests/data/mp4/gen_dash.sh ${_mp4_dash})
  set_tests_properties(unit/mp4-dash-gen PROPERTIES FIXTURES_SETUP mp4_dash LABELS unit TIMEOUT 120)
  add_test(NAME unit/mp4-dash COMMAND test_mp4 dash ${_mp4_dash})
  set_tests_properties(unit/mp4-dash PROPERTIES FIXTURES_REQUIRED mp4_dash LABELS unit TIMEOUT 120)
endif()
