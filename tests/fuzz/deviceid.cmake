# fuzz harness for cloud/deviceid's two files, the persisted device-id and the machine id
# (see fuzz_deviceid.c; the files live in a private temporary directory, under /dev/shm
# when there is one). MAX_LEN: 2 control bytes, a device-id file of 255 bytes and a machine
# id file of 255 (each far over the 33 bytes of a valid one).
ampd_fuzz_target(deviceid SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_deviceid.c
                 LIBS ampd_cloud ampd_core
                 CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/deviceid MAX_LEN 512 SECONDS 8)
