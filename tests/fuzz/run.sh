#!/usr/bin/env bash
# run.sh HARNESS CORPUS SECONDS MAX_LEN ARTIFACT_DIR [DICT [BOUNDS_CORPUS]]
#
# A bounded libFuzzer run of HARNESS on a scratch copy of CORPUS, in two phases (SECONDS
# is AMPD_FUZZ_SECONDS, 17 s, unless the harness's tests/fuzz/*.cmake sets its own: with
# the 11 harnesses of tests/fuzz/CMakeLists.txt the CI run fuzzes about 210 s in all, what
# 7 harnesses x 30 s took before):
#   1. 2/3 of SECONDS with libFuzzer's length control: inputs start at the seeds' size
#      and grow slowly (the fast search on inputs of ordinary size);
#   2. the rest with -len_control=0, on what phase 1 left plus BOUNDS_CORPUS (seeds at and
#      one over the parser's size bounds, most in the compact form of tests/fuzz/grow.h;
#      they take up to seconds each, so phase 1 goes without them): every mutation may
#      grow the input up to MAX_LEN at once (set just above the parser's bound, see
#      tests/fuzz/*.cmake).
# Every input is bounded as tests/fuzz/common.sh says (-timeout: one input running longer is
# a hang and fails the run within seconds, with its artifact, instead of running into
# ctest's TIMEOUT; -rss_limit_mb / -malloc_limit_mb). DICT, if given and not empty, is a
# libFuzzer dictionary (tests/fuzz/dict/).
#
# On failure the crash report (sanitizer or libFuzzer, with its symbolized stack) and
# every artifact (size, sha1, base64 when small, a hex dump of its head) are printed to
# stdout, so that they are in the CI log; the artifacts stay in
# ARTIFACT_DIR/<time>-<pid>/ (in the build tree). Exit status: 0, or non-zero on any
# crash, leak, hang, out-of-memory, slow unit or bad option.
set -euo pipefail
if [ $# -lt 5 ] || [ $# -gt 7 ]; then
  echo "usage: run.sh HARNESS CORPUS SECONDS MAX_LEN ARTIFACT_DIR [DICT [BOUNDS_CORPUS]]" >&2
  exit 2
fi
harness=$1 corpus=$2 seconds=$3 max_len=$4 art_root=$5 dict=${6:-} bounds=${7:-}
# shellcheck source=tests/fuzz/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

name=$(basename "$harness")
art="$art_root/$(date -u +%Y%m%dT%H%M%SZ)-$$"
mkdir -p "$art"
work=$(mktemp -d)
trap 'rm -rf "$work"; rmdir "$art" 2>/dev/null || true' EXIT
mkdir "$work/corpus"
cp -r "$corpus"/. "$work/corpus/"

fuzz_env
fuzz_opts "$max_len" "$art" "$dict"

phase() {
  local label=$1 secs=$2
  shift 2
  local log="$work/$label.log" rc=0
  echo "fuzz: $name $label: ${secs}s, -max_len=$max_len -timeout=$fuzz_timeout_s $*"
  "$harness" "${fuzz_common[@]}" -max_total_time="$secs" "$@" "$work/corpus" >"$log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ] || [ -n "$(ls -A "$art")" ]; then
    fuzz_report "$name" "$harness" "$log" "$rc" "$art"
    exit $((rc ? rc : 1))
  fi
  grep -E '^(stat::|Done )' "$log" || true
}

short=$((seconds * 2 / 3))
[ "$short" -ge 1 ] || short=1
long=$((seconds - short))
[ "$long" -ge 1 ] || long=1
phase grow "$short"
if [ -n "$bounds" ]; then
  cp -r "$bounds"/. "$work/corpus/"
fi
phase full-length "$long" -len_control=0
echo "fuzz: $name: $(find "$work/corpus" -type f | wc -l) inputs in the corpus after the run," \
  "the largest $(find "$work/corpus" -type f -printf '%s\n' | sort -n | tail -n 1) bytes"
