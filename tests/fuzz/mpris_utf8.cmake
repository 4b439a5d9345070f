# fuzz harness for mpris_utf8_clean(): the service's titles made valid UTF-8 for D-Bus,
# against a validator of its own (see fuzz_mpris_utf8.c). MAX_LEN: the size byte and
# 4 KiB of text (a title is cut at PLAYER_TEXT_MAX before).
ampd_fuzz_target(mpris_utf8 SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_mpris_utf8.c LIBS ampd_mpris
                 CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/mpris_utf8 MAX_LEN 4097 SECONDS 8)
