# unit tests for core/savedstate (volume, repeat and the resume point across a restart)
ampd_unit_test(savedstate SOURCES test_savedstate.c LIBS ampd_core)
