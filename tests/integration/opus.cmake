# integration test: ampd's Opus output (ampprobe decode of every encrypted Opus rendition of
# the ampack catalog, fixture "catalog") against libopus itself decoding the clear twin's
# packets with the same pre-skip and end trim: every sample must be equal
# (tests/integration/opus/check_opus.py says why the bound is exact).
# The reference loads the libopus that pkg-config names (cmake/AmpdDeps.cmake), by path.
find_library(AMPD_LIBOPUS_SO NAMES opus HINTS ${OPUS_LIBDIR} NO_DEFAULT_PATH)
if(NOT AMPD_LIBOPUS_SO)
  message(FATAL_ERROR "the Opus reference test needs libopus.so in ${OPUS_LIBDIR}: "
                      "apt-get install libopus-dev (or run scripts/deps.sh)")
endif()
add_test(NAME opus/libopus-reference
         COMMAND ${AMPD_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/opus/check_opus.py $<TARGET_FILE:ampprobe>
                 ${CMAKE_BINARY_DIR}/catalog ${AMPD_LIBOPUS_SO})
set_tests_properties(opus/libopus-reference PROPERTIES LABELS "integration" TIMEOUT 900
                                                        FIXTURES_REQUIRED catalog)
