# media/mp4: fragmented MP4 + CENC demuxer (init segment, media segments, samples).
add_library(ampd_mp4 STATIC
  ${CMAKE_CURRENT_LIST_DIR}/mp4.c
  ${CMAKE_CURRENT_LIST_DIR}/mp4_seg.c
)
target_link_libraries(ampd_mp4 PUBLIC ampd_core)
