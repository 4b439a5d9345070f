# unit tests for media/fetcher without a server: argument and rep checks, the layout
# check of switch and rebase, allocation failure (malloc and calloc wrapped at link
# time), a refused connection. The fetching is tests/integration/fetcher.cmake's.
ampd_unit_test(fetcher SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_fetcher.c LIBS ampd_fetcher)
target_link_options(test_fetcher PRIVATE "LINKER:--wrap=malloc,--wrap=calloc")
