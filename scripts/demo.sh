#!/usr/bin/env bash
# The demo: the daemon playing from the mock service.
#
# Builds ampd, ampctl, ampack and the ClearKey CDM; makes the test catalog with ampack
# (an album of three FLAC/Opus tracks, CENC-encrypted after a 30 s clear lead, with two key
# variants each); serves it from the mock Amazon Music service over TLS with a test CA
# made now; starts ampd against it; links it the way a person would (ampctl login shows a
# code, which the demo approves at the mock as the phone would); browses to the album;
# plays it while `ampctl watch` shows it. Without --alsa the daemon plays into the pipe
# backend, a FIFO the demo reads at N times the real rate (--speed, default 4) into
# build/demo/played.wav, and the demo checks that WAV against the source PCM bit for bit
# (the album is gapless: the three tracks concatenate to the continuous source). With
# --alsa DEVICE (e.g. default) you hear it.
#
#   bash scripts/demo.sh [--alsa DEVICE | --speed N]
set -euo pipefail
cd "$(dirname "$0")/.."
alsa=
speed=4
while [ $# -gt 0 ]; do
  case "$1" in
  --alsa) alsa=${2:?--alsa needs a device name, e.g. default}; shift 2 ;;
  --speed) speed=${2:?--speed needs a number}; shift 2 ;;
  *) echo "usage: bash scripts/demo.sh [--alsa DEVICE | --speed N]" >&2; exit 2 ;;
  esac
done

bash scripts/deps.sh
cmake --preset default >/dev/null
cmake --build --preset default -j"$(nproc)" --target ampd ampctl ampack ampd_cdm_clearkey >/dev/null
bin=build/default
out=build/demo
rm -rf "$out"
mkdir -p "$out"

echo "== ampack: the test catalog (an album of three tracks, clear for 30 s, then cenc)"
bash tests/integration/ampack/make_catalog.sh "$bin/tools/ampack/ampack" "$out/catalog" >/dev/null

echo "== mock service: HTTPS on 127.0.0.1 with a test CA made now"
bash tools/mock/testca.sh "$out/certs" >/dev/null

exec python3 scripts/demo_play.py --out "$out" --ampd "$bin/ampd" \
  --ampctl "$bin/tools/ampctl/ampctl" --cdm-dir "$bin/cdm/clearkey" --speed "$speed" \
  ${alsa:+--alsa "$alsa"}
