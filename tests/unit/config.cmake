# unit tests for core/config (the INI file through inih, overrides, every error message).
# ampd_cdmhost: the default [paths] cdm_dir must be cdmhost_default_dir().
ampd_unit_test(config SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_config.c
               LIBS ampd_core ampd_cdmhost)
target_compile_definitions(test_config PRIVATE TEST_VERSION="${PROJECT_VERSION}")
