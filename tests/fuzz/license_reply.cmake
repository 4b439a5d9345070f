# fuzz harness for cloud/license's license_from_reply(): the reply body as it is, the
# "license" value wrapped by the harness, and licenses it base64-encodes itself (see
# fuzz_license_reply.c). MAX_LEN: the mode byte and LICENSE_MAX_ENVELOPE + 1 (one over the
# bound). corpus/license_reply-bounds: grown envelopes and licenses at and over the bounds.
ampd_fuzz_target(license_reply SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_license_reply.c
                 LIBS ampd_cloud PkgConfig::CJSON
                 CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/license_reply
                 BOUNDS_CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/license_reply-bounds
                 MAX_LEN 88406 DICT ${CMAKE_CURRENT_SOURCE_DIR}/dict/license.dict)
