#!/usr/bin/env bash
# The one list of Debian 12 packages that ampd's build, tests and demo need.
# Run as root on a fresh Debian 12 machine; does nothing when all are installed.
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake pkg-config clang clang-format libclang-rt-14-dev git
  # llvm-symbolizer: symbolized sanitizer stacks in the fuzz and test logs
  llvm
  # libraries
  libcurl4-openssl-dev libmbedtls-dev libxml2-dev libcjson-dev libopus-dev libflac-dev
  libasound2-dev libebur128-dev libsoxr-dev libcmocka-dev libinih-dev libsystemd-dev
  libqrencode-dev
  # the unit's checks (systemd-analyze) and the .deb (dpkg-deb, adduser, deb-systemd-helper)
  systemd dpkg-dev adduser init-system-helpers
  # tests: the mock service, its test CA, independent checkers, ALSA tools
  python3 openssl libxml2-utils ffmpeg alsa-utils
  # tests: the end-to-end play under memcheck (tests/integration/valgrind.cmake)
  valgrind
  # tests: MPRIS on a private session bus (dbus-daemon, its session.conf; gdbus)
  dbus-daemon dbus-session-bus-common libglib2.0-bin
  # docs: the man page lint (tests/docs/check_docs.py)
  mandoc
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  # tests: the mock's SigV4 check signed by an independent signer (botocore, aws-requests-auth),
  # and scripts/speke-suite.sh, which runs the SPEKE v2 verification suite (pytest, requests,
  # m3u8, boto3, aws-requests-auth) with /usr/bin/python3
  python3-pytest python3-requests python3-m3u8 python3-aws-requests-auth python3-boto3
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "deps.sh: missing packages: ${missing[*]}; run as root to install them" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
