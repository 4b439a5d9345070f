# integration tests: the media chain through ampprobe, on the ampack catalog (fixture
# "catalog"), ffmpeg's own DASH, the mock over TLS and ALSA's file plugin. One ctest per
# test class, each run from its module (tests/integration/media/test_media.py: the decodes
# checked against source PCM, ffmpeg and ALSA; test_media_errors.py: bad input and the
# mock service over TLS; media_common.py is what they share).
set(MEDIA_GROUPS_test_media FlacExact OpusExact Seek Hostile Info FfmpegDash AlsaFile)
set(MEDIA_GROUPS_test_media_errors Errors Https)
foreach(module test_media test_media_errors)
  foreach(group ${MEDIA_GROUPS_${module}})
    add_test(NAME media/${group}
             COMMAND python3 ${CMAKE_CURRENT_SOURCE_DIR}/media/${module}.py
                     $<TARGET_FILE:ampprobe> ${CMAKE_BINARY_DIR}/catalog ${CMAKE_SOURCE_DIR}
                     ${group})
    set_tests_properties(media/${group} PROPERTIES LABELS "integration" TIMEOUT 900
                                                   FIXTURES_REQUIRED catalog)
  endforeach()
endforeach()

# damaged content (cut files, missing or repeated segments, a wrong key) must fail, with a
# message that says why (tests/integration/media/test_damaged.py)
add_test(NAME media/Damaged
         COMMAND python3 ${CMAKE_CURRENT_SOURCE_DIR}/media/test_damaged.py
                 $<TARGET_FILE:ampprobe> ${CMAKE_BINARY_DIR}/catalog)
set_tests_properties(media/Damaged PROPERTIES LABELS "integration" TIMEOUT 600
                                              FIXTURES_REQUIRED catalog)
