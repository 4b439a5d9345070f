# fuzz harness for core/b64: the base64 decoder (license bodies, pssh values) against a
# reference decoder, bounded output, encode/decode and hex round trips (see fuzz_b64.c).
# MAX_LEN: the bound byte and 4096 bytes of text (the bound is at most 508 bytes: longer
# texts only test -AMP_ETOOBIG, which a few KiB reach as well as a MiB).
ampd_fuzz_target(b64 SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_b64.c LIBS ampd_core
                 CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/b64 MAX_LEN 4097 SECONDS 8)
