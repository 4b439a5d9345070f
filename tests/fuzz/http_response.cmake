# fuzz harness for net/http's reading of a response's header lines
# (http_resp_header_line()) and of the URLs a server names (http_url_check(),
# http_same_origin(), http_proxy_check(), http_header_check()); see fuzz_http_response.c.
# MAX_LEN: the mode byte and two URLs each one over HTTP_URL_MAX with a separator (a header
# block of that size holds lines far over HTTP_RESP_VALUE_MAX).
ampd_fuzz_target(http_response SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_http_response.c LIBS ampd_net
                 CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/http_response MAX_LEN 16388 SECONDS 8
                 DICT ${CMAKE_CURRENT_SOURCE_DIR}/dict/http_response.dict)
