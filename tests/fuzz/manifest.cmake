# fuzz harness for manifest: MPD bytes (https and local origins), the sidx of every
# SegmentBase rep, durations. MAX_LEN: an MPD of MANIFEST_MAX_BYTES + 1 (4 MiB, one over the
# bound), the 10-byte separator, and the largest sidx (65535 references: 786464 bytes).
# corpus/manifest-bounds: grown MPDs at and over the byte, element and segment bounds.
ampd_fuzz_target(manifest SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_manifest.c LIBS ampd_manifest
                 CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/manifest
                 BOUNDS_CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/manifest-bounds
                 MAX_LEN 4980779 DICT ${CMAKE_CURRENT_SOURCE_DIR}/dict/mpd.dict)
