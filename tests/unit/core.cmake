# unit tests for core
ampd_unit_test(core SOURCES test_core.c LIBS ampd_core)
