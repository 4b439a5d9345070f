# unit tests for the pipe and null output backends and output_backend_find().
ampd_unit_test(pipe
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_pipe.c
  LIBS ampd_outputs Threads::Threads)
ampd_unit_test(null
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_null.c
  LIBS ampd_null Threads::Threads)
