#!/usr/bin/env bash
# run.sh HARNESS CORPUS SECONDS: a bounded libFuzzer run on a scratch copy of the corpus.
set -euo pipefail
harness=$1 corpus=$2 seconds=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$corpus"/. "$work/"
exec "$harness" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=262144 \
  -artifact_prefix="$PWD/fuzz-$(basename "$harness")-" "$work"
