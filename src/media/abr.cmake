# media/abr: the throughput estimate and the choice of representation (pure logic).
add_library(ampd_abr STATIC ${CMAKE_CURRENT_LIST_DIR}/abr.c)
target_link_libraries(ampd_abr PUBLIC ampd_manifest ampd_core m)
