# fuzz harness for media/pipeline: init + segments -> PCM through the demuxer, the ClearKey
# plugin (loaded from the build tree, as the daemon loads it), the decoders, the trim and
# the timeline checks (see fuzz_pipeline.c for the input layout)
ampd_fuzz_target(pipeline SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_pipeline.c LIBS ampd_pipeline
                 CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/pipeline)
target_compile_definitions(fuzz_pipeline PRIVATE
  FUZZ_CLEARKEY_DIR="$<TARGET_FILE_DIR:ampd_cdm_clearkey>")
add_dependencies(fuzz_pipeline ampd_cdm_clearkey)
