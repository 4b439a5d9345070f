# unit tests for core/hooks (the onevent program: environment, order, queue bound, timeout)
ampd_unit_test(hooks SOURCES test_hooks.c LIBS ampd_core)
