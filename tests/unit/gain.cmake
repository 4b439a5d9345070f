# unit tests for media/gain: bit-exact identity, accuracy, peak cap, dither, ramps.
ampd_unit_test(gain
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_gain.c
  LIBS ampd_gain m)
