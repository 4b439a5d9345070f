# fuzz harness for core/config's file reading (inih and every check): the input as the
# configuration file, loaded over the defaults (see fuzz_config.c; the file lives in a
# private temporary directory, under /dev/shm when there is one). MAX_LEN: CONFIG_FILE_MAX
# + 1 (one over the file bound). corpus/config-bounds: grown files at and one over
# CONFIG_FILE_MAX, and lines at and one over CONFIG_LINE_MAX.
ampd_fuzz_target(config SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_config.c LIBS ampd_core
                 CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/config
                 BOUNDS_CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/config-bounds
                 MAX_LEN 65537 DICT ${CMAKE_CURRENT_SOURCE_DIR}/dict/config.dict)
