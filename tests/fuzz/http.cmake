# fuzz harness for the response header parsers of net/http: Content-Range and Retry-After.
# MAX_LEN: HTTP_RESP_VALUE_MAX; the client keeps at most 255 bytes of a header value.
ampd_fuzz_target(http_headers SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_http_headers.c LIBS ampd_net
                 CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/http MAX_LEN 256
                 DICT ${CMAKE_CURRENT_SOURCE_DIR}/dict/http.dict)
