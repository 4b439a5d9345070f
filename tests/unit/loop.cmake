# unit tests for loop
ampd_unit_test(loop SOURCES test_loop.c LIBS ampd_core LABELS tsan)
