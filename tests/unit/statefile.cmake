# unit tests for core/statefile (atomic, owner-only state files)
ampd_unit_test(statefile SOURCES test_statefile.c LIBS ampd_core)
