# unit tests for cloud/evqueue: the durable event queue file. test_evqueue.c: the format
# and recovery (torn tails, corruption, kill -9 at random points, garbage files, seqs near
# 2^64); test_evqueue_limits.c: write failures, bounds, dropping, ack and compaction.
foreach(t evqueue evqueue_limits)
  ampd_unit_test(${t} SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_${t}.c
                 ${CMAKE_CURRENT_SOURCE_DIR}/evqueue_testutil.c LIBS ampd_cloud)
endforeach()
