# media/fetcher: the segments of one track through net/http, ahead of the media thread.
add_library(ampd_fetcher STATIC ${CMAKE_CURRENT_LIST_DIR}/fetcher.c)
target_link_libraries(ampd_fetcher PUBLIC ampd_net ampd_core)
