# unit tests for cloud/lwa's parsers (src/cloud/lwa_int.h): replies and the token file.
ampd_unit_test(lwa_parse SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_lwa_parse.c LIBS ampd_cloud)
