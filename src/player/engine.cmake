# player/engine: the media thread, the PCM ring and the output thread.
add_library(ampd_engine STATIC ${CMAKE_CURRENT_SOURCE_DIR}/engine.c
            ${CMAKE_CURRENT_SOURCE_DIR}/engine_media.c ${CMAKE_CURRENT_SOURCE_DIR}/engine_output.c)
target_link_libraries(ampd_engine PUBLIC ampd_pipeline ampd_gain ampd_resample ampd_core Threads::Threads)
