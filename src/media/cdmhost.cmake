# media/cdmhost: loads CDM plugins (include/ampd/cdm.h) and helps along the license path.
# AMPD_CDM_DIR (the top CMakeLists.txt) is also core/config's default for [paths] cdm_dir.
add_library(ampd_cdmhost STATIC ${CMAKE_CURRENT_SOURCE_DIR}/cdmhost.c)
target_link_libraries(ampd_cdmhost PUBLIC ampd_core PRIVATE ${CMAKE_DL_LIBS})
# The only directory the library loads plugins from by default. There is deliberately no
# build-tree fallback: tests and tools run uninstalled pass their directory explicitly.
target_compile_definitions(ampd_cdmhost PRIVATE AMPD_CDM_DIR="${AMPD_CDM_DIR}")
