# unit tests for http: the pure parts (parsers, policy, backoff) and the request
# lifecycle up to the first byte sent; no network.
ampd_unit_test(http SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_http.c LIBS ampd_net)
