# media/cdmhost: loads CDM plugins (include/ampd/cdm.h) and helps along the license path.
include(GNUInstallDirs)
set(AMPD_CDM_DIR "${CMAKE_INSTALL_FULL_LIBDIR}/ampd/cdm" CACHE PATH
    "Directory the daemon loads CDM plugins from")
add_library(ampd_cdmhost STATIC ${CMAKE_CURRENT_SOURCE_DIR}/cdmhost.c)
target_link_libraries(ampd_cdmhost PUBLIC ampd_core PRIVATE ${CMAKE_DL_LIBS})
# The only directory the library loads plugins from by default. There is deliberately no
# build-tree fallback: tests and tools run uninstalled pass their directory explicitly.
if(NOT IS_ABSOLUTE "${AMPD_CDM_DIR}")
  message(FATAL_ERROR "AMPD_CDM_DIR must be an absolute path (got '${AMPD_CDM_DIR}')")
endif()
target_compile_definitions(ampd_cdmhost PRIVATE AMPD_CDM_DIR="${AMPD_CDM_DIR}")
