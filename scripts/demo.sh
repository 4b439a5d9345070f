#!/usr/bin/env bash
# The demo: build ampd's tools, make an encrypted test track with ampack (FLAC 16/44.1
# and Opus, CENC after a 30 s clear lead), serve it from the mock service over TLS,
# and play it with ampprobe through ampd's chain (https fetch of the manifest's byte
# ranges, ClearKey CDM, FLAC decode) to a WAV file, or to ALSA with --alsa DEVICE.
# Then check that what was played is the source PCM, bit for bit.
#
#   bash scripts/demo.sh [--alsa DEVICE]
#
# The daemon (ampd + ampctl) replaces ampprobe here once it exists.
set -euo pipefail
cd "$(dirname "$0")/.."
alsa=
if [ "${1:-}" = "--alsa" ]; then
  alsa=${2:?--alsa needs a device name, e.g. default}
fi

bash scripts/deps.sh
cmake --preset default >/dev/null
cmake --build --preset default -j"$(nproc)" --target ampprobe ampack ampd_cdm_clearkey >/dev/null
bin=build/default/tools
out=build/demo
rm -rf "$out"
mkdir -p "$out"

echo "== ampack: a 40 s track, clear for 30 s, then AES-128-CTR (cenc)"
"$bin/ampack/ampack" --out "$out/track" --signal mix --seconds 40 --seed 1 \
  --reps flac_16_44,opus_192 --track-id demo --license-url https://localhost/license >/dev/null

echo "== mock service: HTTPS on 127.0.0.1 with a test CA made now"
bash tools/mock/testca.sh "$out/certs" >/dev/null
python3 tools/mock/ampmock.py --certs "$out/certs" --root "$out/track" --port 0 \
  --port-file "$out/port" >/dev/null 2>&1 &
mock=$!
trap 'kill $mock 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$out/port" ] && break; sleep 0.1; done
url="https://localhost:$(cat "$out/port")/files/manifest.mpd"

echo "== ampprobe info $url"
"$bin/ampprobe/ampprobe" info --ca "$out/certs/ca.pem" "$url"

if [ -n "$alsa" ]; then
  echo "== playing through ALSA device '$alsa'"
  "$bin/ampprobe/ampprobe" decode --ca "$out/certs/ca.pem" --keys "$out/track/keys.json" \
    --rep flac_16_44 --alsa "$alsa" "$url"
else
  echo "== decoding (decrypting through the ClearKey CDM) to $out/played.wav"
  "$bin/ampprobe/ampprobe" decode --ca "$out/certs/ca.pem" --keys "$out/track/keys.json" \
    --rep flac_16_44 -o "$out/played.wav" "$url"
  echo "== compared with the source PCM"
  python3 tests/integration/media/wavcmp.py "$out/track/source/flac_16_44.wav" "$out/played.wav"
fi
