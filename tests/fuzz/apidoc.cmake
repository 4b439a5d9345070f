# fuzz harness for cloud/apidoc: apidoc_parse, every accessor and reference, and
# apidoc_audio_parse of each definition's audio; the same bytes also as a 409 body.
# MAX_LEN: APIDOC_MAX_BYTES + 1 (one over the document bound).
ampd_fuzz_target(apidoc SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_apidoc.c LIBS ampd_cloud
                 CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/apidoc MAX_LEN 1048577)
