# unit tests for mpris: what the module makes of text before D-Bus sees it (the bus itself
# is tested through the daemon: tests/integration/test_mpris.py)
ampd_unit_test(mpris SOURCES test_mpris.c LIBS ampd_mpris)
