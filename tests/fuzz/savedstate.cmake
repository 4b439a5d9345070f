# fuzz harness for core/savedstate's reader (the player-state file): the input as the
# file, loaded; what is accepted is written back and reads back the same. MAX_LEN: the
# largest file the module writes (a SAVEDSTATE_REF_MAX reference and its lines) and more.
ampd_fuzz_target(savedstate SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_savedstate.c LIBS ampd_core
                 CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/savedstate MAX_LEN 8192)
