# unit tests for ampack: the box writer and the cenc encryptor.
ampd_unit_test(ampack_box SOURCES test_ampack_box.c LIBS ampack_lib)
ampd_unit_test(ampack_cenc SOURCES test_ampack_cenc.c LIBS ampack_lib)
ampd_unit_test(ampack_mp4w SOURCES test_ampack_mp4w.c LIBS ampack_lib)
