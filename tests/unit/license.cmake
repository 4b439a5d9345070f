# unit tests for cloud/license: the Amazon license envelope.
ampd_unit_test(license SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_license.c
               LIBS ampd_cloud PkgConfig::CJSON)
