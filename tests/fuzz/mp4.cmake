# fuzz harness for mp4: init and media segment parsers (see fuzz_mp4.c for the input layout)
ampd_fuzz_target(mp4 SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_mp4.c LIBS ampd_mp4
                 CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/mp4 SECONDS 30)
