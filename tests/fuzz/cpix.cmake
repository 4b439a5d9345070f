# fuzz harness for ampack's CPIX reply parser and content key decryption
# (tools/ampack/cpix.h; see fuzz_cpix.c). MAX_LEN: the mode byte and CPIX_REPLY_MAX + 1
# (one over the bound the parser enforces). The request and the private key are the
# fixtures of tests/data/cpix.
ampd_fuzz_target(cpix SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_cpix.c LIBS ampack_speke
                 CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/cpix MAX_LEN 1048578
                 DICT ${CMAKE_CURRENT_SOURCE_DIR}/dict/cpix.dict)
target_compile_definitions(fuzz_cpix PRIVATE CPIX_DATA_DIR="${CMAKE_SOURCE_DIR}/tests/data/cpix")
