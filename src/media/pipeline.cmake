# media/pipeline: demux -> decrypt -> decode -> trim for one Representation.
add_library(ampd_pipeline STATIC ${CMAKE_CURRENT_SOURCE_DIR}/pipeline.c)
target_link_libraries(ampd_pipeline PUBLIC ampd_mp4 ampd_decoder ampd_cdmhost ampd_core)
