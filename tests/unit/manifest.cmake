# unit tests for media/manifest (fixtures in tests/data/manifest)
foreach(t manifest manifest_errors manifest_memory)
  ampd_unit_test(${t} SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_${t}.c
                 ${CMAKE_CURRENT_LIST_DIR}/manifest_testutil.c LIBS ampd_manifest)
  target_compile_definitions(test_${t} PRIVATE
    MANIFEST_DATA_DIR="${CMAKE_SOURCE_DIR}/tests/data/manifest")
endforeach()
# The memory test counts the heap of the (static) manifest and core code through
# -Wl,--wrap and libxml2's through xmlMemSetup (see the test's comment).
target_link_options(test_manifest_memory PRIVATE
  -Wl,--wrap=malloc -Wl,--wrap=calloc -Wl,--wrap=realloc -Wl,--wrap=free)
target_link_libraries(test_manifest_memory PRIVATE PkgConfig::XML2)
