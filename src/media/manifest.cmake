# media/manifest: the DASH MPD parser (libxml2).
add_library(ampd_manifest STATIC
  ${CMAKE_CURRENT_LIST_DIR}/manifest.c
  ${CMAKE_CURRENT_LIST_DIR}/manifest_xml.c
  ${CMAKE_CURRENT_LIST_DIR}/manifest_util.c
  ${CMAKE_CURRENT_LIST_DIR}/manifest_sax.c)
target_link_libraries(ampd_manifest PUBLIC ampd_core PkgConfig::XML2)
