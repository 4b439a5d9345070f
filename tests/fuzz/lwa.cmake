# fuzz harness for cloud/lwa's parsers (src/cloud/lwa_int.h): the code pair, token and
# error replies and the token file, as raw bytes and as JSON the harness builds from field
# values (see fuzz_lwa.c). MAX_LEN: the mode byte and a reply of LWA_REPLY_MAX + 1 (16 KiB,
# one over the bound the http client enforces; the token file's LWA_FILE_MAX is below it).
ampd_fuzz_target(lwa SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_lwa.c LIBS ampd_cloud
                 CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/lwa MAX_LEN 16386
                 DICT ${CMAKE_CURRENT_SOURCE_DIR}/dict/lwa.dict)
