# fuzz harness for libampd-client's reading side (include/ampd/client.h): a fake server
# writes the input to a real Unix socket in chunks while the client processes, then closes
# (see fuzz_client.c). MAX_LEN: the selector byte and 64 KiB of stream (the 2 MiB line
# bound itself is unit/client's test_oversized_line).
ampd_fuzz_target(client SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_client.c
                 LIBS ampd_client PkgConfig::CJSON
                 CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/client
                 MAX_LEN 65537 DICT ${CMAKE_CURRENT_SOURCE_DIR}/dict/client.dict)
