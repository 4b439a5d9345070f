# unit tests for decoder: FLAC bit-exact round trips, Opus SNR/gain/multistream, bad input.
ampd_unit_test(decoder
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_decoder.c
  LIBS ampd_decoder m)
