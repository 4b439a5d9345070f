# fuzz harness for manifest: MPD bytes (https and local origins), sidx boxes, durations
ampd_fuzz_target(manifest SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_manifest.c LIBS ampd_manifest
                 CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/manifest SECONDS 30)
