# unit tests for media/resample (libsoxr): frequency, level, frame count, no allocation.
ampd_unit_test(resample
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_resample.c
  LIBS ampd_resample PkgConfig::SOXR m)
