# integration tests: ampack. catalog/make builds the test catalog (fixture "catalog") into
# ${CMAKE_BINARY_DIR}/catalog; the ampack/* checks read it with tools we did not write
# (ffprobe, ffmpeg, GStreamer, xmllint). Layout: tools/ampack/README.md.
set(AMPACK_CATALOG ${CMAKE_BINARY_DIR}/catalog)
set(AMPACK_ITEST ${CMAKE_CURRENT_SOURCE_DIR}/ampack)

add_test(NAME catalog/make
         COMMAND bash ${AMPACK_ITEST}/make_catalog.sh $<TARGET_FILE:ampack> ${AMPACK_CATALOG})
set_tests_properties(catalog/make PROPERTIES LABELS "integration" TIMEOUT 600
                                             FIXTURES_SETUP catalog)

# Independent checks (tests/integration/ampack/check_catalog.py, Python standard library).
foreach(check xmllint ffprobe flac opus decrypt gst seams structure keys hostile)
  add_test(NAME ampack/${check}
           COMMAND ${AMPD_PYTHON3} ${AMPACK_ITEST}/check_catalog.py ${AMPACK_CATALOG} ${check})
  set_tests_properties(ampack/${check} PROPERTIES LABELS "integration" TIMEOUT 600
                                                  FIXTURES_REQUIRED catalog)
endforeach()
add_test(NAME ampack/determinism
         COMMAND ${AMPD_PYTHON3} ${AMPACK_ITEST}/check_catalog.py ${AMPACK_CATALOG} determinism
                 $<TARGET_FILE:ampack>)
set_tests_properties(ampack/determinism PROPERTIES LABELS "integration" TIMEOUT 600
                                                   FIXTURES_REQUIRED catalog)
# The checks themselves: on an empty catalog and on one with parts taken away, every check
# must fail (a check that walks less than catalog.jobs makes is a failure, never an "ok").
add_test(NAME ampack/selftest
         COMMAND ${AMPD_PYTHON3} ${AMPACK_ITEST}/selftest.py ${AMPACK_CATALOG} $<TARGET_FILE:ampack>)
set_tests_properties(ampack/selftest PROPERTIES LABELS "integration" TIMEOUT 600
                                                FIXTURES_REQUIRED catalog)
# ampack --speke against the mock's SPEKE v2.0 key provider (docs/speke.md §11): keys and
# PSSH boxes are the provider's, content key encryption gives the same output, refusals
# and lying replies are one line (tests/integration/test_ampack_speke.py; no catalog).
add_test(NAME integration/ampack_speke
         COMMAND ${AMPD_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/test_ampack_speke.py
                 $<TARGET_FILE:ampack>)
set_tests_properties(integration/ampack_speke PROPERTIES LABELS "integration" TIMEOUT 300
                     ENVIRONMENT "PYTHONPATH=${CMAKE_CURRENT_SOURCE_DIR}")
