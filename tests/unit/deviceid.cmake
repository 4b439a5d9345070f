# unit tests for cloud/deviceid: the X-Amzn-Device-Id value (derived from the machine id,
# persisted, a random one without a machine id).
ampd_unit_test(deviceid SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_deviceid.c
               LIBS ampd_cloud ampd_core)
