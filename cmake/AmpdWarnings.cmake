# The warning set of docs/CONTRIBUTING.md (Tooling), as errors, for gcc and clang alike.
set(AMPD_WARNINGS
  -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes
  -Wmissing-prototypes -Wvla -Wundef -Wcast-qual -Wwrite-strings
  -Werror=implicit-function-declaration -Wno-unused-parameter)
add_compile_options(${AMPD_WARNINGS})

if(AMPD_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all
                      -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=address,undefined -fno-sanitize-recover=all)
endif()

if(AMPD_TSAN)
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=thread)
endif()

if(AMPD_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "AMPD_FUZZ needs clang (libFuzzer): use the 'fuzz' preset")
  endif()
  # Everything is instrumented for coverage; only harnesses link the fuzzer main.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -g)
  add_link_options(-fsanitize=address,undefined)
endif()
