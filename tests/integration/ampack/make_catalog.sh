#!/usr/bin/env bash
# Make the test catalog with ampack (layout: tools/ampack/README.md).
# usage: make_catalog.sh AMPACK OUTDIR
# Deterministic: the same ampack gives byte-identical files. Tracks are made two at a time.
set -euo pipefail
ampack=$1
out=$2
license=https://127.0.0.1:8443/license

tmp="$out.tmp"
rm -rf "$tmp"
mkdir -p "$tmp/album" "$tmp/hostile"

# One line per job: directory, then ampack arguments.
jobs=(
  # album: one continuous "mix" signal (seed 100), cut at 37 s and 61.5 s
  "album/t1 --signal mix --seed 100 --start 0 --seconds 37 --track-id album-t1 --reps hd,opus_192 --variants 2"
  "album/t2 --signal mix --seed 100 --start 37 --seconds 24.5 --track-id album-t2 --reps hd,opus_192 --variants 2"
  "album/t3 --signal mix --seed 100 --start 61.5 --seconds 18.5 --track-id album-t3 --reps hd,opus_192 --variants 2"
  "album/continuous --signal mix --seed 100 --start 0 --seconds 80 --reps hd,opus_192 --source-only"
  "short12 --signal mix --seed 12 --seconds 12 --track-id short12 --reps hd,sd --variants 2"
  "mid45 --signal mix --seed 45 --seconds 45 --track-id mid45 --reps hd,flac_24_96,sd --variants 2"
  "long125 --signal mix --seed 125 --seconds 125 --track-id long125 --reps hd,opus_192 --variants 2"
  "uhd192 --signal mix --seed 192 --seconds 35 --track-id uhd192 --reps flac_24_192,opus_320 --variants 2"
)
for form in seig iv16 subsample tfdt0 multimoof; do
  jobs+=("hostile/$form --signal mix --seed 7 --seconds 35 --track-id hostile-$form --reps hd,opus_192 --hostile $form")
done
jobs+=("hostile/all --signal mix --seed 7 --seconds 35 --track-id hostile-all --reps hd,opus_192 --hostile seig,iv16,subsample,tfdt0,multimoof")

run_job() {
  local dir=${1%% *} args=${1#* }
  # shellcheck disable=SC2086 # args are word lists on purpose
  "$ampack" --out "$tmp/$dir" --license-url "$license" $args || {
    echo "make_catalog: ampack failed for $dir" >&2
    return 1
  }
}
export -f run_job
export ampack tmp license
printf '%s\n' "${jobs[@]}" | xargs -P 2 -I{} bash -c 'run_job "$@"' _ {}

rm -rf "$out"
mv "$tmp" "$out"
echo "make_catalog: $(find "$out" -type f | wc -l) files, $(du -sh "$out" | cut -f1) in $out"
