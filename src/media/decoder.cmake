# media/decoder: FLAC (libFLAC) and Opus (libopus) behind src/media/decoder.h.
add_library(ampd_decoder STATIC ${CMAKE_CURRENT_LIST_DIR}/decoder.c)
target_link_libraries(ampd_decoder PUBLIC ampd_core PkgConfig::FLAC PkgConfig::OPUS)
