# fuzz harness for mp4: init and media segment parsers (see fuzz_mp4.c for the input layout).
# MAX_LEN: the mode byte, the u16 init length, a 65535-byte init and a media segment of
# MP4_MAX_SEGMENT_SIZE + 1 (32 MiB, one over the bound); an init alone (even mode) then
# also passes MP4_MAX_INIT_SIZE. corpus/mp4-bounds: grown inits, segments and truns at and
# over MP4_MAX_INIT_SIZE, MP4_MAX_SEGMENT_SIZE and MP4_MAX_SAMPLES.
ampd_fuzz_target(mp4 SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_mp4.c LIBS ampd_mp4
                 CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/mp4
                 BOUNDS_CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/mp4-bounds
                 MAX_LEN 33619971 DICT ${CMAKE_CURRENT_SOURCE_DIR}/dict/mp4.dict)
