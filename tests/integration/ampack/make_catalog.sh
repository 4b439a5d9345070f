#!/usr/bin/env bash
# Make the test catalog with ampack (layout: tools/ampack/README.md).
# usage: make_catalog.sh AMPACK OUTDIR
# The tracks are listed in catalog.jobs (also read by the checks).
# Deterministic: the same ampack gives byte-identical files. Tracks are made two at a time.
set -euo pipefail
ampack=$1
out=$2
license=https://127.0.0.1:8443/license

tmp="$out.tmp"
rm -rf "$tmp"
mkdir -p "$tmp/album" "$tmp/hostile"

# One line per job: directory, then ampack arguments (catalog.jobs beside this script).
mapfile -t jobs < <(grep -v -e '^#' -e '^[[:space:]]*$' "$(dirname "$0")/catalog.jobs")
if [ ${#jobs[@]} -eq 0 ]; then
  echo "make_catalog: no jobs in catalog.jobs" >&2
  exit 1
fi

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
