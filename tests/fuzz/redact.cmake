# fuzz harness for core/redact: URLs in log text lose their query, fragment and userinfo
# (see fuzz_redact.c). MAX_LEN: the size byte and 4 KiB of text (messages are shorter).
ampd_fuzz_target(redact SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_redact.c LIBS ampd_core
                 CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/redact MAX_LEN 4097 SECONDS 8
                 DICT ${CMAKE_CURRENT_SOURCE_DIR}/dict/redact.dict)
