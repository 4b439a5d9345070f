# fuzz harness for the decoders: codec config (dOps / dfLa) and samples from the network.
# MAX_LEN: the mode byte, then with 3-byte lengths a config of DECODER_MAX_CONFIG + 1 and a
# sample of DECODER_MAX_SAMPLE + 1 bytes (both just over their bounds): 1 + 3 + 65537 + 3 +
# 1048577. corpus/decoder-bounds: grown configs and samples at and over those bounds.
ampd_fuzz_target(decoder SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_decoder.c LIBS ampd_decoder
                 CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/decoder
                 BOUNDS_CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/decoder-bounds
                 MAX_LEN 1114121)
