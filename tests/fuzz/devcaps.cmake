# fuzz harness for [service] capabilities: core/config's check against the daemon's own
# devcaps_parse() and devcaps_setup() (see fuzz_devcaps.c). MAX_LEN: a value of 1 KiB (far
# over the longest valid list, 56 bytes).
ampd_fuzz_target(devcaps SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_devcaps.c
                 LIBS ampd_devcaps ampd_core
                 CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/devcaps MAX_LEN 1024 SECONDS 8
                 DICT ${CMAKE_CURRENT_SOURCE_DIR}/dict/devcaps.dict)
