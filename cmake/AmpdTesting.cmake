# ampd_unit_test(NAME SOURCES src... LIBS lib... [LABELS l...] [ARGS arg...])
#   A cmocka test executable tests/unit/test_NAME, registered with ctest as unit/NAME.
function(ampd_unit_test name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS;LABELS;ARGS" ${ARGN})
  add_executable(test_${name} ${T_SOURCES})
  target_link_libraries(test_${name} PRIVATE ${T_LIBS} PkgConfig::CMOCKA)
  add_test(NAME unit/${name} COMMAND test_${name} ${T_ARGS})
  set_tests_properties(unit/${name} PROPERTIES LABELS "unit;${T_LABELS}" TIMEOUT 120)
endfunction()

# The CI fuzz run's time per harness (ctest --preset fuzz, scripts/test.sh). The total was
# kept at about 210 s of fuzzing (7 harnesses x 30 s, then 10 x 21 s, 11 x 19 s, 12 x
# 17 s, 14 x 16 s); the 6 small harnesses of the fuzz campaign (http_response, b64,
# redact, mpris_utf8, devcaps, deviceid) take SECONDS 8 each: 272 s in all. The long runs
# are scripts/fuzz.sh's (docs/reliability.md, "Fuzzing").
set(AMPD_FUZZ_SECONDS 16 CACHE STRING "seconds each harness fuzzes in ctest's fuzz/ tests")

# ampd_fuzz_target(NAME SOURCES src... LIBS lib... CORPUS dir [BOUNDS_CORPUS dir]
#                   [SECONDS s] [MAX_LEN bytes] [DICT file])
#   A libFuzzer harness fuzz_NAME (only with AMPD_FUZZ), run for SECONDS (default
#   AMPD_FUZZ_SECONDS) by
#   ctest as fuzz/NAME through tests/fuzz/run.sh: -timeout per input, -rss_limit_mb,
#   -max_len=MAX_LEN (default 262144; set it just above the parser's own input bound),
#   -dict=DICT, the BOUNDS_CORPUS seeds (inputs at the size bounds) in the second phase,
#   artifacts into <build>/fuzz-artifacts/NAME/ and printed on failure; and described in
#   <build>/fuzz-targets/NAME.txt for scripts/fuzz.sh.
#   Without AMPD_FUZZ the harness is still compiled, with a main() that replays CORPUS and
#   BOUNDS_CORPUS, so every build checks it (tests/fuzz/replay.c).
function(ampd_fuzz_target name)
  cmake_parse_arguments(F "" "CORPUS;BOUNDS_CORPUS;SECONDS;MAX_LEN;DICT" "SOURCES;LIBS" ${ARGN})
  if(NOT F_SECONDS)
    set(F_SECONDS ${AMPD_FUZZ_SECONDS})
  endif()
  if(NOT F_MAX_LEN)
    set(F_MAX_LEN 262144)
  endif()
  add_executable(fuzz_${name} ${F_SOURCES})
  target_link_libraries(fuzz_${name} PRIVATE ${F_LIBS})
  if(AMPD_FUZZ)
    target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
    add_test(NAME fuzz/${name}
             COMMAND ${CMAKE_SOURCE_DIR}/tests/fuzz/run.sh $<TARGET_FILE:fuzz_${name}> ${F_CORPUS}
                     ${F_SECONDS} ${F_MAX_LEN} ${CMAKE_BINARY_DIR}/fuzz-artifacts/${name}
                     "${F_DICT}" "${F_BOUNDS_CORPUS}")
    # run.sh ends within SECONDS plus one -timeout per phase plus the seed replay; the
    # margin is for a loaded machine, a hang fails through -timeout long before.
    math(EXPR limit "${F_SECONDS} + 120")
    set_tests_properties(fuzz/${name} PROPERTIES LABELS "fuzz" TIMEOUT ${limit})
    # What scripts/fuzz.sh (the campaign) needs of the harness, one key=value a line: the
    # campaign runs every harness that has such a file, with these very bounds.
    file(GENERATE OUTPUT ${CMAKE_BINARY_DIR}/fuzz-targets/${name}.txt
         CONTENT "name=${name}\nbinary=$<TARGET_FILE:fuzz_${name}>\ncorpus=${F_CORPUS}\nbounds=${F_BOUNDS_CORPUS}\nmax_len=${F_MAX_LEN}\ndict=${F_DICT}\n")
  else()
    target_sources(fuzz_${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests/fuzz/replay.c)
    add_test(NAME fuzz-replay/${name} COMMAND fuzz_${name} ${F_CORPUS} ${F_BOUNDS_CORPUS})
    set_tests_properties(fuzz-replay/${name} PROPERTIES LABELS "unit;fuzz-replay" TIMEOUT 120)
  endif()
endfunction()

# ampd_test_outputs()
#   Called once at the end of every directory that adds tests (tests/<dir>/CMakeLists.txt):
#   every test of the directory gets AMPD_TEST_OUTPUT=<build>/test-output/<test name>
#   (where the harnesses keep what the test wrote: tests/integration/testout.py,
#   mockproc_rmtree()) and AMPD_TEST_LEDGER_DIR=<build>/test-ledger (where the mock
#   records every secret it hands out: tools/mock/ampmock/ledger.py), and requires the
#   fixture test_output (secrets/clean empties both first). secrets/scan then runs after
#   all of them (tests/CMakeLists.txt). A directory that adds tests without the call fails
#   the configuration (ampd_check_test_outputs, deferred to the end of the top level).
set(AMPD_TEST_OUTPUT_ROOT ${CMAKE_BINARY_DIR}/test-output)
set(AMPD_TEST_LEDGER_DIR ${CMAKE_BINARY_DIR}/test-ledger)
function(ampd_test_outputs)
  get_property(tests DIRECTORY PROPERTY TESTS)
  foreach(t ${tests})
    if(t MATCHES "^secrets/")
      continue()
    endif()
    set_property(TEST ${t} APPEND PROPERTY ENVIRONMENT "AMPD_TEST_OUTPUT=${AMPD_TEST_OUTPUT_ROOT}/${t}"
                                                       "AMPD_TEST_LEDGER_DIR=${AMPD_TEST_LEDGER_DIR}")
    set_property(TEST ${t} APPEND PROPERTY FIXTURES_REQUIRED test_output)
    set_property(GLOBAL APPEND PROPERTY AMPD_OUTPUT_TESTS ${t})
  endforeach()
endfunction()

function(ampd_check_test_outputs_in dir)
  get_property(tests DIRECTORY ${dir} PROPERTY TESTS)
  get_property(done GLOBAL PROPERTY AMPD_OUTPUT_TESTS)
  foreach(t ${tests})
    if(NOT t MATCHES "^secrets/" AND NOT t IN_LIST done)
      message(FATAL_ERROR "test ${t} (${dir}) keeps no outputs for the secrets scan: call "
                          "ampd_test_outputs() at the end of ${dir}/CMakeLists.txt")
    endif()
  endforeach()
  get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(d ${subdirs})
    ampd_check_test_outputs_in(${d})
  endforeach()
endfunction()

function(ampd_check_test_outputs)
  ampd_check_test_outputs_in(${CMAKE_SOURCE_DIR})
endfunction()
