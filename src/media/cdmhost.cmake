# media/cdmhost: loads CDM plugins (include/ampd/cdm.h) and helps along the license path.
include(GNUInstallDirs)
set(AMPD_CDM_DIR "${CMAKE_INSTALL_FULL_LIBDIR}/ampd/cdm" CACHE PATH
    "Directory the daemon loads CDM plugins from")
add_library(ampd_cdmhost STATIC ${CMAKE_CURRENT_SOURCE_DIR}/cdmhost.c)
target_link_libraries(ampd_cdmhost PUBLIC ampd_core PRIVATE PkgConfig::CJSON ${CMAKE_DL_LIBS})
target_compile_definitions(ampd_cdmhost PRIVATE
  AMPD_CDM_DIR="${AMPD_CDM_DIR}"
  AMPD_CDM_BUILD_DIR="${CMAKE_BINARY_DIR}/cdm/clearkey")
