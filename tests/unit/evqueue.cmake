# unit tests for cloud/evqueue: the durable event queue file (torn tails, corruption,
# write failures, bounds, compaction, kill -9 at random points, garbage files).
ampd_unit_test(evqueue SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_evqueue.c
               LIBS ampd_cloud)
