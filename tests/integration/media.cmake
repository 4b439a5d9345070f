# integration tests: the media chain through ampprobe, on the ampack catalog (fixture
# "catalog"), ffmpeg's own DASH, the mock over TLS and ALSA's file plugin.
set(MEDIA_ITEST ${CMAKE_CURRENT_SOURCE_DIR}/media/test_media.py)
foreach(group FlacExact OpusExact Seek Hostile Info Errors FfmpegDash AlsaFile Https)
  add_test(NAME media/${group}
           COMMAND python3 ${MEDIA_ITEST} $<TARGET_FILE:ampprobe> ${CMAKE_BINARY_DIR}/catalog
                   ${CMAKE_SOURCE_DIR} ${group})
  set_tests_properties(media/${group} PROPERTIES LABELS "integration" TIMEOUT 900
                                                 FIXTURES_REQUIRED catalog)
endforeach()

# damaged content (cut files, missing or repeated segments, a wrong key) must fail, with a
# message that says why (tests/integration/media/test_damaged.py)
add_test(NAME media/Damaged
         COMMAND python3 ${CMAKE_CURRENT_SOURCE_DIR}/media/test_damaged.py
                 $<TARGET_FILE:ampprobe> ${CMAKE_BINARY_DIR}/catalog)
set_tests_properties(media/Damaged PROPERTIES LABELS "integration" TIMEOUT 600
                                              FIXTURES_REQUIRED catalog)
