#!/bin/sh
# Make the clear DASH files that test_mp4 ("dash" mode) parses: 3 s of a 440 Hz sine as
# Opus and as FLAC, one fMP4 file per Representation, 1 s segments (docs/media.md §10).
# Usage: gen_dash.sh <outdir>
set -eu
out=$1
for codec in opus flac; do
  mkdir -p "$out/$codec"
  extra=""
  [ "$codec" = flac ] && extra="-strict experimental"
  # shellcheck disable=SC2086
  (cd "$out/$codec" && ffmpeg -nostdin -hide_banner -loglevel error -y \
    -f lavfi -i sine=frequency=440:duration=3 -c:a "$( [ $codec = opus ] && echo libopus || echo flac )" $extra \
    -f dash -dash_segment_type mp4 -single_file 1 -use_template 0 -use_timeline 0 \
    -seg_duration 1 -adaptation_sets id=0,streams=a out.mpd)
done
