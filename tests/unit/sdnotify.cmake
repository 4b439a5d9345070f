# unit tests for core/sdnotify
ampd_unit_test(sdnotify SOURCES test_sdnotify.c LIBS ampd_sdnotify)
