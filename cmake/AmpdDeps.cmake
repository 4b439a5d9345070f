# Every outside library, each with the Debian package that provides it.
# scripts/deps.sh installs exactly these packages (one list, kept there).
find_package(PkgConfig REQUIRED)

function(ampd_require_pkg target module debian)
  pkg_check_modules(${target} IMPORTED_TARGET ${module})
  if(NOT ${target}_FOUND)
    message(FATAL_ERROR "ampd needs ${module}: apt-get install ${debian} (or run scripts/deps.sh)")
  endif()
endfunction()

ampd_require_pkg(CURL libcurl libcurl4-openssl-dev)
ampd_require_pkg(XML2 libxml-2.0 libxml2-dev)
ampd_require_pkg(CJSON libcjson libcjson-dev)
ampd_require_pkg(OPUS opus libopus-dev)
ampd_require_pkg(FLAC flac libflac-dev)
ampd_require_pkg(ALSA alsa libasound2-dev)
ampd_require_pkg(EBUR128 libebur128 libebur128-dev)
if(AMPD_TESTS)
  ampd_require_pkg(CMOCKA cmocka libcmocka-dev)
endif()

# mbedTLS 2.28 on Debian 12 ships no pkg-config file.
find_path(MBEDTLS_INCLUDE_DIR mbedtls/aes.h)
find_library(MBEDCRYPTO_LIBRARY mbedcrypto)
if(NOT MBEDTLS_INCLUDE_DIR OR NOT MBEDCRYPTO_LIBRARY)
  message(FATAL_ERROR "ampd needs mbedTLS: apt-get install libmbedtls-dev (or run scripts/deps.sh)")
endif()
add_library(ampd_mbedcrypto INTERFACE)
target_include_directories(ampd_mbedcrypto INTERFACE ${MBEDTLS_INCLUDE_DIR})
target_link_libraries(ampd_mbedcrypto INTERFACE ${MBEDCRYPTO_LIBRARY})

find_package(Threads REQUIRED)
