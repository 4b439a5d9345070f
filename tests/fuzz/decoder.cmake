# fuzz harness for the decoders: codec config (dOps / dfLa) and samples from the network
ampd_fuzz_target(decoder SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_decoder.c LIBS ampd_decoder
                 CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/decoder SECONDS 30)
