# unit tests for core/config (the INI file through inih, overrides, every error message).
# ampd_cdmhost: the default [paths] cdm_dir must be cdmhost_default_dir().
ampd_unit_test(config SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_config.c
               LIBS ampd_core ampd_cdmhost)
target_compile_definitions(test_config PRIVATE TEST_VERSION="${PROJECT_VERSION}"
  TEST_EXAMPLE="${CMAKE_SOURCE_DIR}/docs/ampd.conf.example")
# Every allocation failure: core/config's malloc, calloc and strdup go through -Wl,--wrap to
# the test's failing versions (see the test's comment).
ampd_unit_test(config_memory SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_config_memory.c
               LIBS ampd_core)
target_link_options(test_config_memory PRIVATE
  -Wl,--wrap=malloc -Wl,--wrap=calloc -Wl,--wrap=strdup)
