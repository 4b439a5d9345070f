# unit tests for alsa: the output backend over ALSA's file+null plugins (no sound card needed).
ampd_unit_test(alsa
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_alsa.c
  LIBS ampd_alsa)
