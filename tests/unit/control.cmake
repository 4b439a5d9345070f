# unit tests for control's pure part (src/control/control_int.h): the request parser. The
# socket side is tests/integration/test_control.c.
ampd_unit_test(control SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_control_parse.c LIBS ampd_control)
