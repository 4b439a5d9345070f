# integration tests: ampack. catalog/make builds the test catalog (fixture "catalog") into
# ${CMAKE_BINARY_DIR}/catalog; the ampack/* checks read it with tools we did not write
# (ffprobe, ffmpeg, GStreamer, xmllint). Layout: tools/ampack/README.md.
set(AMPACK_CATALOG ${CMAKE_BINARY_DIR}/catalog)
set(AMPACK_ITEST ${CMAKE_CURRENT_SOURCE_DIR}/ampack)

add_test(NAME catalog/make
         COMMAND bash ${AMPACK_ITEST}/make_catalog.sh $<TARGET_FILE:ampack> ${AMPACK_CATALOG})
set_tests_properties(catalog/make PROPERTIES LABELS "integration" TIMEOUT 600
                                             FIXTURES_SETUP catalog)
