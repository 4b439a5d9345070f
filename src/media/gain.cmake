# media/gain: loudness normalisation + software volume + one TPDF dither on int32 PCM.
add_library(ampd_gain STATIC ${CMAKE_CURRENT_SOURCE_DIR}/gain.c)
target_link_libraries(ampd_gain PUBLIC m)
