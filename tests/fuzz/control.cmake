# fuzz harness for control's pure part (src/control/control_int.h): a connection's bytes
# through the line splitter, cut into reads of varying size, and every line through the
# request parser, the reply formatter and the daemon's argument readers (src/cmdargs.c,
# linked in directly; see fuzz_control.c). MAX_LEN: the selector byte
# and a line one over CONTROL_LINE_MAX with its '\n'. corpus/control-bounds: grown lines
# at and one over CONTROL_LINE_MAX.
ampd_fuzz_target(control SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_control.c ${CMAKE_SOURCE_DIR}/src/cmdargs.c
                 LIBS ampd_control
                 CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/control
                 BOUNDS_CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/control-bounds
                 MAX_LEN 65539 DICT ${CMAKE_CURRENT_SOURCE_DIR}/dict/control.dict)
