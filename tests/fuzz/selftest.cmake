# The campaign's self-test (tests/fuzz/selftest.sh, ctest fuzz/campaign-selftest): only
# under the fuzz preset. scripts/fuzz.sh runs a real harness for a few seconds, then
# fuzz_selftest_crash (a harness that crashes on a magic input, described in
# fuzz-selftest/, not in fuzz-targets/, so that no campaign runs it), both into a
# temporary copy of the ledger, the doc and the corpora.
if(AMPD_FUZZ)
  add_executable(fuzz_selftest_crash ${CMAKE_CURRENT_LIST_DIR}/selftest/fuzz_selftest_crash.c)
  target_include_directories(fuzz_selftest_crash PRIVATE ${CMAKE_CURRENT_LIST_DIR})
  target_link_options(fuzz_selftest_crash PRIVATE -fsanitize=fuzzer)
  file(GENERATE OUTPUT ${CMAKE_BINARY_DIR}/fuzz-selftest/selftest_crash.txt
       CONTENT "name=selftest_crash\nbinary=$<TARGET_FILE:fuzz_selftest_crash>\ncorpus=${CMAKE_CURRENT_LIST_DIR}/selftest/corpus\nbounds=\nmax_len=64\ndict=\n")
  add_test(NAME fuzz/campaign-selftest
           COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/selftest.sh ${CMAKE_BINARY_DIR} savedstate)
  set_tests_properties(fuzz/campaign-selftest PROPERTIES LABELS "fuzz" TIMEOUT 120)
endif()
