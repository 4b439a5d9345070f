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
ampd_require_pkg(INIH inih libinih-dev)
ampd_require_pkg(SOXR soxr libsoxr-dev)
ampd_require_pkg(SYSTEMD libsystemd libsystemd-dev)
ampd_require_pkg(QRENCODE libqrencode libqrencode-dev) # ampctl login's QR code
if(AMPD_TESTS)
  ampd_require_pkg(CMOCKA cmocka libcmocka-dev)
endif()

# The outside programs the tests run. A missing one fails configure: a test never drops out
# or skips because its tool is absent.
function(ampd_require_program var name debian)
  find_program(${var} ${name})
  if(NOT ${var})
    message(FATAL_ERROR "ampd's tests need ${name}: apt-get install ${debian} (or run scripts/deps.sh)")
  endif()
endfunction()

# GStreamer elements the ampack checks build pipelines from, with their Debian packages.
function(ampd_require_gst_element element debian)
  execute_process(COMMAND ${AMPD_GST_INSPECT} --exists ${element} RESULT_VARIABLE rc
                  OUTPUT_QUIET ERROR_QUIET TIMEOUT 120)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "ampd's tests need the GStreamer element ${element}: apt-get install ${debian} "
                        "(or run scripts/deps.sh)")
  endif()
endfunction()

if(AMPD_TESTS)
  ampd_require_program(AMPD_PYTHON3 python3 python3)
  # The SigV4 tests of the mock's SPEKE module (tests/integration/test_mock_speke.py) sign
  # with botocore and aws-requests-auth, Debian's packages for Debian's own python3.
  find_program(AMPD_DEBIAN_PYTHON3 python3 PATHS /usr/bin NO_DEFAULT_PATH)
  if(AMPD_DEBIAN_PYTHON3)
    execute_process(COMMAND ${AMPD_DEBIAN_PYTHON3} -c
                            "import botocore.auth, requests, aws_requests_auth.aws_auth"
                    RESULT_VARIABLE ampd_sigv4_deps_rc OUTPUT_QUIET ERROR_QUIET TIMEOUT 120)
  endif()
  if(NOT AMPD_DEBIAN_PYTHON3 OR NOT ampd_sigv4_deps_rc EQUAL 0)
    message(FATAL_ERROR "ampd's tests need botocore, requests and aws-requests-auth for /usr/bin/python3: "
                        "apt-get install python3-boto3 python3-requests python3-aws-requests-auth "
                        "(or run scripts/deps.sh)")
  endif()
  ampd_require_program(AMPD_OPENSSL openssl openssl)
  ampd_require_program(AMPD_XMLLINT xmllint libxml2-utils)
  ampd_require_program(AMPD_FFMPEG ffmpeg ffmpeg)
  ampd_require_program(AMPD_FFPROBE ffprobe ffmpeg)
  ampd_require_program(AMPD_GST_LAUNCH gst-launch-1.0 gstreamer1.0-tools)
  ampd_require_program(AMPD_GST_INSPECT gst-inspect-1.0 gstreamer1.0-tools)
  ampd_require_program(AMPD_SYSTEMD_ANALYZE systemd-analyze systemd)
  # MPRIS (tests/integration/test_mpris.py): a private bus, calls, a monitor; stdbuf
  # (coreutils) keeps gdbus monitor's output line by line in a pipe.
  ampd_require_program(AMPD_DBUS_DAEMON dbus-daemon dbus-daemon)
  ampd_require_program(AMPD_BUSCTL busctl systemd)
  ampd_require_program(AMPD_GDBUS gdbus libglib2.0-bin)
  ampd_require_program(AMPD_STDBUF stdbuf coreutils)
  ampd_require_program(AMPD_SETPRIV setpriv util-linux) # a caller of another user
  ampd_require_program(AMPD_MANDOC mandoc mandoc)
  ampd_require_gst_element(dashdemux gstreamer1.0-plugins-bad)
  ampd_require_gst_element(qtdemux gstreamer1.0-plugins-good)
  ampd_require_gst_element(flacdec gstreamer1.0-plugins-good)
  ampd_require_gst_element(opusdec gstreamer1.0-plugins-base)
  ampd_require_gst_element(uridecodebin gstreamer1.0-plugins-base)
  ampd_require_gst_element(decodebin gstreamer1.0-plugins-base)
  ampd_require_gst_element(audioconvert gstreamer1.0-plugins-base)
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
