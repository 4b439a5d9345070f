# media/resample: streaming int32 rate conversion over libsoxr (libsoxr-dev).
add_library(ampd_resample STATIC ${CMAKE_CURRENT_SOURCE_DIR}/resample.c)
target_link_libraries(ampd_resample PUBLIC ampd_core PkgConfig::SOXR m)
