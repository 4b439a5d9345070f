# shellcheck shell=bash
# What tests/fuzz/run.sh (the bounded CI run) and scripts/fuzz.sh (the campaign) share:
# the per-input bounds, the sanitizer environment, libFuzzer's options and the failure
# report. Sourced, never run.
#
# The bounds: -timeout (one input running longer is a hang and fails the run within
# seconds, with its artifact), -rss_limit_mb and -malloc_limit_mb. The per-harness -max_len
# and -dict come from the harness's tests/fuzz/*.cmake (ampd_fuzz_target()).

fuzz_timeout_s=${AMPD_FUZZ_TIMEOUT:-10} # seconds one input may take (ASan+UBSan, -O0)
fuzz_rss_mb=${AMPD_FUZZ_RSS_MB:-2048}

# Stacks in the log: symbolized, and UBSan's too (it halts: -fno-sanitize-recover).
fuzz_env() {
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
  if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ] && command -v llvm-symbolizer >/dev/null; then
    export ASAN_SYMBOLIZER_PATH
    ASAN_SYMBOLIZER_PATH=$(command -v llvm-symbolizer)
  fi
}

# fuzz_opts MAX_LEN ARTIFACT_DIR [DICT]: libFuzzer's options into the array fuzz_common.
fuzz_opts() {
  fuzz_common=(-timeout="$fuzz_timeout_s" -rss_limit_mb="$fuzz_rss_mb"
    -malloc_limit_mb="$fuzz_rss_mb" -max_len="$1" -artifact_prefix="$2/" -print_final_stats=1)
  if [ -n "${3:-}" ]; then
    fuzz_common+=(-dict="$3")
  fi
}

# The kinds of artifact libFuzzer writes: a file of the corpus named so is a regression
# input (a finding), replayed by scripts/fuzz.sh to tell whether it is still open.
fuzz_artifact_re='^(crash|leak|timeout|oom|slow-unit)-'

# fuzz_report NAME HARNESS LOG RC ARTIFACT_DIR: the crash report of a failed run, from its
# first line, then every artifact (size, sha1, base64 when small, a hex dump of its head).
fuzz_report() {
  local name=$1 harness=$2 log=$3 rc=$4 art=$5
  echo "fuzz: $name FAILED (exit $rc); the report:"
  local first
  first=$(grep -n -m1 -E 'runtime error:|==[0-9]+== ?ERROR|ERROR: libFuzzer|ParseDictionaryFile' "$log" |
    cut -d: -f1 || true)
  if [ -n "$first" ]; then
    tail -n +"$first" "$log" | head -n 400
  else
    tail -n 100 "$log"
  fi
  local found=0 f size
  for f in "$art"/*; do
    [ -f "$f" ] || continue
    found=1
    size=$(stat -c %s "$f")
    echo "fuzz: artifact $f ($size bytes, sha1 $(sha1sum <"$f" | cut -d' ' -f1))"
    if [ "$size" -le 4096 ]; then
      echo "fuzz: base64 (decode with: base64 -d > crash.bin):"
      base64 -w 76 "$f"
    fi
    echo "fuzz: first 512 bytes:"
    head -c 512 "$f" | od -A x -t x1z -v
  done
  [ "$found" = 1 ] || echo "fuzz: no artifact written"
  echo "fuzz: reproduce with: $harness -timeout=$fuzz_timeout_s -rss_limit_mb=$fuzz_rss_mb <artifact>"
}
