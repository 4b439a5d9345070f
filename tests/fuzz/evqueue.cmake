# fuzz harness for cloud/evqueue's file reader: the input as the queue file, opened, every
# record peeked, one acked, one appended, reopened (see fuzz_evqueue.c; the file lives in a
# private temporary directory, under /dev/shm when there is one). MAX_LEN: the 4 control
# bytes and two records each one byte over EVQUEUE_RECORD_MAX (the reader has no file
# bound of its own). corpus/evqueue-bounds: grown records at and over EVQUEUE_RECORD_MAX.
ampd_fuzz_target(evqueue SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_evqueue.c LIBS ampd_cloud
                 CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/evqueue
                 BOUNDS_CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/evqueue-bounds
                 MAX_LEN 131120 DICT ${CMAKE_CURRENT_SOURCE_DIR}/dict/evqueue.dict)
