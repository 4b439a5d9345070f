# unit tests for ampack: the box writer and the cenc encryptor.
ampd_unit_test(ampack_box SOURCES test_ampack_box.c LIBS ampack_lib)
ampd_unit_test(ampack_cenc SOURCES test_ampack_cenc.c LIBS ampack_lib)
ampd_unit_test(ampack_mp4w SOURCES test_ampack_mp4w.c LIBS ampack_lib)
# ampack's SPEKE client: the CPIX request writer, the reply parser and the content key
# decryption on the fixtures of tests/data/cpix (tools/ampack/cpix.h, speke.h).
ampd_unit_test(ampack_cpix SOURCES test_ampack_cpix.c LIBS ampack_speke)
target_compile_definitions(test_ampack_cpix PRIVATE CPIX_DATA_DIR="${CMAKE_SOURCE_DIR}/tests/data/cpix")
