#!/usr/bin/env bash
# scripts/fuzz.sh --minutes N [--jobs J] [--into DIR] [--no-build] [--targets DIR] [--report] [HARNESS...]
#
# The fuzz campaign (docs/reliability.md, "Fuzzing"): builds the fuzz preset, runs every
# harness (or the ones named) N minutes each (N may be fractional: 0.5), J at a time
# (default: nproc), and keeps what it finds:
#  - each harness fuzzes a scratch copy of its committed corpus in the two phases of
#    tests/fuzz/run.sh (2/3 with libFuzzer's length control, the rest with
#    -len_control=0 and the BOUNDS_CORPUS), with the bounds of tests/fuzz/common.sh and
#    the -max_len / -dict of its tests/fuzz/*.cmake (read from the build tree's
#    fuzz-targets/NAME.txt, which ampd_fuzz_target() writes: a new harness is picked up
#    without a change here);
#  - the new coverage is merged into the committed corpus, minimised: libFuzzer
#    -merge=1 into a fresh directory that starts with the corpus's named inputs (every
#    file whose name is not a bare sha1: the hand-made seeds and the regression inputs,
#    which docs and tests refer to by name, are never dropped), then the committed
#    directory is replaced by it (two renames);
#  - a crash, leak, timeout or out-of-memory is reported (as run.sh does) and its
#    artifact copied into the corpus under libFuzzer's name (crash-<sha1>, leak-<sha1>,
#    timeout-<sha1>, oom-<sha1>): a regression input, so ctest's fuzz and fuzz-replay
#    tests fail until the bug is fixed;
#  - one row per harness is appended to tests/fuzz/campaign.tsv (the ledger) and the
#    table between the fuzz-campaign markers of docs/reliability.md is regenerated from
#    the whole ledger; a finding is "open" while its regression input still fails the
#    harness (each is replayed for the table).
#
# Options:
#   --minutes N   minutes per harness (required)
#   --jobs J      harnesses at once (default: nproc)
#   --into DIR    write the ledger, the doc and the corpora under DIR (the same relative
#                 paths; what is missing there is copied from the source tree first)
#                 instead of the source tree: the self-test's mode
#   --no-build    use the build tree as it is
#   --targets DIR the harness descriptions (default: build/fuzz/fuzz-targets)
#   --report      fuzz nothing: replay the regression inputs and rewrite the table (after
#                 a fix, to show its finding closed)
#
# An interrupt (Ctrl-C, SIGTERM) stops the fuzzing at once; what was found so far is still
# merged, the ledger rows are written with the status "interrupted" and the table is
# regenerated. A kill -9 leaves every committed file as it was, but for a corpus caught
# between its two renames (a .merge-NAME-PID directory next to it then holds the merged
# corpus).
#
# Exit status: 0; 1 when a harness found something in this run or a regression input
# of a harness run is still open, or a run failed; 2 for bad usage; 130 when interrupted.
set -euo pipefail

# Everything is in main(), which bash reads whole before it runs: a campaign of hours
# survives the script being edited or checked out meanwhile (bash reads a script as it
# goes, and a change under a running one runs garbage).
main() {
  src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  # shellcheck source=tests/fuzz/common.sh
  . "$src/tests/fuzz/common.sh"

  usage() {
    sed -n '2,2p' "${BASH_SOURCE[0]}" | sed 's/^# /usage: /' >&2
    exit 2
  }

  minutes='' jobs=$(nproc) into='' build=1 targets='' report=0
  build_dir=$src/build/fuzz
  while [ $# -gt 0 ]; do
    case $1 in
    --minutes | --jobs | --into | --targets)
      [ $# -ge 2 ] || usage
      case $1 in
      --minutes) minutes=$2 ;;
      --jobs) jobs=$2 ;;
      --into) into=$2 ;;
      --targets) targets=$2 ;;
      esac
      shift 2
      ;;
    --no-build) build=0 && shift ;;
    --report) report=1 && shift ;;
    -h | --help) usage ;;
    --) shift && break ;;
    -*) usage ;;
    *) break ;;
    esac
  done
  [ "$report" = 0 ] || minutes=${minutes:-0}
  [[ $minutes =~ ^[0-9]+([.][0-9]+)?$ ]] || usage
  [[ $jobs =~ ^[1-9][0-9]*$ ]] || usage
  seconds=$(awk -v m="$minutes" 'BEGIN { s = int(m * 60 + 0.5); print (s < 2 ? 2 : s) }')
  targets=${targets:-$build_dir/fuzz-targets}

  root=$src
  if [ -n "$into" ]; then
    mkdir -p "$into"
    root=$(cd "$into" && pwd)
  fi
  ledger=$root/tests/fuzz/campaign.tsv
  doc=$root/docs/reliability.md
  header=$'date_utc\tcommit\tharness\tseconds\texecs\texecs_per_s\tcov\tft\tcorpus_before\tcorpus_after\tfindings\tstatus'

  if [ "$build" = 1 ]; then
    (cd "$src" && cmake --preset fuzz -DCMAKE_C_COMPILER_LAUNCHER=ccache >/dev/null)
  fi
  [ -d "$targets" ] || {
    echo "fuzz.sh: no harness descriptions in $targets (configure the fuzz preset)" >&2
    exit 2
  }

  tmp=$(mktemp -d)
  cleanup() {
    # shellcheck disable=SC2317 # run by the EXIT trap
    rm -rf "$tmp"
  }
  trap cleanup EXIT
  # The descriptions as they are now (a reconfigure during a long campaign rewrites them).
  mkdir "$tmp/targets"
  cp "$targets"/*.txt "$tmp/targets/" 2>/dev/null || true
  targets=$tmp/targets

  # key=value of a description.
  desc() {
    sed -n "s/^$2=//p" "$targets/$1.txt"
  }

  all=()
  for f in "$targets"/*.txt; do
    [ -f "$f" ] && all+=("$(basename "$f" .txt)")
  done
  if [ $# -gt 0 ]; then
    names=("$@")
    for n in "${names[@]}"; do
      [ -f "$targets/$n.txt" ] || {
        echo "fuzz.sh: no harness $n (known: ${all[*]})" >&2
        exit 2
      }
    done
  else
    names=("${all[@]}")
  fi
  [ ${#names[@]} -gt 0 ] || {
    echo "fuzz.sh: no harness to run" >&2
    exit 2
  }

  if [ "$build" = 1 ]; then
    tgts=()
    for n in "${names[@]}"; do tgts+=("fuzz_$n"); done
    cmake --build "$build_dir" -j "${AMPD_FUZZ_BUILD_JOBS:-2}" --target "${tgts[@]}" >/dev/null
  fi

  # A path of the source tree, as written under root.
  out_path() {
    case $1 in
    "$src"/*) echo "$root/${1#"$src"/}" ;;
    *)
      echo "fuzz.sh: $1 is not in the source tree" >&2
      return 1
      ;;
    esac
  }

  # With --into: what the run writes, copied from the source tree unless already there.
  if [ -n "$into" ]; then
    mkdir -p "$root/tests/fuzz" "$root/docs"
    [ -e "$ledger" ] || { [ ! -e "$src/tests/fuzz/campaign.tsv" ] || cp "$src/tests/fuzz/campaign.tsv" "$ledger"; }
    [ -e "$doc" ] || cp "$src/docs/reliability.md" "$doc"
    for n in "${all[@]}"; do
      c=$(desc "$n" corpus)
      o=$(out_path "$c")
      if [ ! -e "$o" ]; then
        mkdir -p "$(dirname "$o")"
        cp -r "$c" "$o"
      fi
    done
  fi
  if ! grep -q '<!-- fuzz-campaign:begin -->' "$doc" || ! grep -q '<!-- fuzz-campaign:end -->' "$doc"; then
    echo "fuzz.sh: $doc has no fuzz-campaign markers" >&2
    exit 2
  fi

  commit=$(git -C "$src" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
  if [ -n "$(git -C "$src" status --porcelain -- src include cdm platform 'tests/fuzz/*.c' 2>/dev/null)" ]; then
    commit+="+dirty"
  fi
  date_utc=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  fuzz_env

  # Stop every harness running (libFuzzer prints its final stats on SIGTERM and exits);
  # the jobs then merge what they found and write their rows.
  # shellcheck disable=SC2317 # run by the INT and TERM traps
  on_signal() {
    touch "$tmp/stop"
    local p
    for p in "$tmp"/*.pid; do
      if [ -f "$p" ]; then
        kill -TERM "$(cat "$p")" 2>/dev/null || true
      fi
    done
  }
  trap on_signal INT TERM

  count_files() {
    find "$1" -maxdepth 1 -type f ! -name '.*' | wc -l
  }

  # The number after "KEY" in the last line of LOG that has it.
  last_num() {
    grep -oE "$2[[:space:]]*[0-9]+" "$1" | tail -n 1 | grep -oE '[0-9]+$' || echo 0
  }

  # run_one NAME: fuzz, merge, keep the artifacts, append the ledger row.
  run_one() {
    local name=$1
    local bin corpus bounds max_len dict out
    bin=$(desc "$name" binary) corpus=$(desc "$name" corpus) bounds=$(desc "$name" bounds)
    max_len=$(desc "$name" max_len) dict=$(desc "$name" dict)
    out=$(out_path "$corpus")
    local w=$tmp/$name
    mkdir -p "$w/corpus" "$w/art"
    cp -r "$out"/. "$w/corpus/"
    local before
    before=$(count_files "$out")
    fuzz_opts "$max_len" "$w/art" "$dict"

    local short=$((seconds * 2 / 3)) status=ok execs=0 secs=0 rc
    local long=$((seconds - short))
    local label
    for label in grow full-length; do
      [ ! -e "$tmp/stop" ] || {
        status=interrupted
        break
      }
      local t=$short extra=()
      if [ "$label" = full-length ]; then
        t=$long extra=(-len_control=0)
      fi
      local dirs=("$w/corpus")
      if [ "$label" = full-length ] && [ -n "$bounds" ]; then
        dirs+=("$bounds")
      fi
      echo "fuzz: $name $label: ${t}s, -max_len=$max_len -timeout=$fuzz_timeout_s ${extra[*]}"
      local t0=$SECONDS
      rc=0
      "$bin" "${fuzz_common[@]}" -max_total_time="$t" "${extra[@]}" "${dirs[@]}" \
        >"$w/$label.log" 2>&1 &
      echo $! >"$tmp/$name.pid"
      wait $! || rc=$?
      rm -f "$tmp/$name.pid"
      secs=$((secs + SECONDS - t0))
      execs=$((execs + $(last_num "$w/$label.log" 'stat::number_of_executed_units:')))
      cp "$w/$label.log" "$w/last.log"
      if [ -n "$(ls -A "$w/art")" ]; then
        status=finding
        fuzz_report "$name" "$bin" "$w/$label.log" "$rc" "$w/art"
        break
      fi
      if [ "$rc" -eq 72 ] && [ -e "$tmp/stop" ]; then # libFuzzer's -interrupted_exitcode
        status=interrupted
        break
      fi
      if [ "$rc" -ne 0 ]; then
        status=error
        fuzz_report "$name" "$bin" "$w/$label.log" "$rc" "$w/art"
        break
      fi
      grep -E '^(stat::|Done )' "$w/$label.log" || true
    done
    local cov=0 ft=0
    if [ -f "$w/last.log" ]; then
      cov=$(last_num "$w/last.log" 'cov:')
      ft=$(last_num "$w/last.log" 'ft:')
    fi

    # Merge: the named inputs first, then whatever of the rest adds coverage.
    local fresh
    fresh=$(dirname "$out")/.merge-$name-$$
    rm -rf "$fresh"
    mkdir "$fresh"
    find "$out" -maxdepth 1 -type f ! -name '.*' -regextype posix-extended \
      ! -regex '.*/[0-9a-f]{40}' -exec cp {} "$fresh/" \;
    local after=$before mrc=0
    "$bin" "${fuzz_common[@]}" -merge=1 "$fresh" "$w/corpus" >"$w/merge.log" 2>&1 || mrc=$?
    local f findings=()
    for f in "$w/art"/*; do
      [ -f "$f" ] || continue
      findings+=("$(basename "$f")")
    done
    if [ "$mrc" -eq 0 ]; then
      for f in "${findings[@]}"; do cp "$w/art/$f" "$fresh/"; done
      after=$(count_files "$fresh")
      mv "$out" "$out.old-$$"
      mv "$fresh" "$out"
      rm -rf "$out.old-$$"
    else
      echo "fuzz: $name: the merge failed (exit $mrc), the corpus is left as it was:"
      tail -n 20 "$w/merge.log"
      rm -rf "$fresh"
      for f in "${findings[@]}"; do cp "$w/art/$f" "$out/"; done
      after=$(count_files "$out")
      [ "$status" != ok ] || status=error
    fi
    local size
    size=$(du -sk --apparent-size "$out" | cut -f1)
    if [ "$size" -gt 2048 ]; then
      echo "fuzz: $name: warning: the corpus is $size KiB (over 2 MiB)"
    fi
    local list=-
    if [ ${#findings[@]} -gt 0 ]; then
      list=$(
        IFS=,
        echo "${findings[*]}"
      )
    fi
    local eps=0
    [ "$secs" -le 0 ] || eps=$((execs / secs))
    echo "fuzz: $name: $secs s, $execs executions ($eps/s), cov $cov ft $ft," \
      "corpus $before -> $after files ($size KiB), findings: $list, $status"
    (
      flock 9
      [ -s "$ledger" ] || echo "$header" >"$ledger"
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$date_utc" "$commit" "$name" \
        "$secs" "$execs" "$eps" "$cov" "$ft" "$before" "$after" "$list" "$status" >>"$ledger"
    ) 9>"$tmp/ledger.lock"
    [ "$status" = ok ] || [ "$status" = interrupted ] || touch "$tmp/failed"
  }

  [ "$report" = 0 ] || names=() # the table only
  for n in "${names[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
      wait -n 2>/dev/null || true
    done
    [ ! -e "$tmp/stop" ] || break
    # Each harness's report is printed once it is done (under the ledger's lock, whole).
    (
      set +e
      (
        set -e
        run_one "$n"
      ) >"$tmp/$n.out" 2>&1
      rc=$?
      set -e
      if [ "$rc" -ne 0 ]; then
        echo "fuzz: $n: the run stopped on an error (exit $rc, see above)" >>"$tmp/$n.out"
        touch "$tmp/failed"
      fi
      flock 9
      cat "$tmp/$n.out"
    ) 9>"$tmp/ledger.lock" &
    echo "fuzz: $n started (${seconds}s)"
  done
  while [ -n "$(jobs -rp)" ]; do
    wait 2>/dev/null || true
  done

  # Open findings: every regression input of every corpus, replayed by its harness.
  : >"$tmp/open.tsv"
  for n in "${all[@]}"; do
    out=$(out_path "$(desc "$n" corpus)")
    bin=$(desc "$n" binary)
    total=0 open=() unknown=0
    while IFS= read -r f; do
      total=$((total + 1))
      if [ ! -x "$bin" ]; then
        unknown=1
      elif ! "$bin" -timeout="$fuzz_timeout_s" -rss_limit_mb="$fuzz_rss_mb" \
        -malloc_limit_mb="$fuzz_rss_mb" "$f" >"$tmp/replay.log" 2>&1; then
        open+=("$(basename "$f")")
      fi
    done < <(find "$out" -maxdepth 1 -type f | grep -E "/${fuzz_artifact_re#^}" | sort)
    n_open=${#open[@]}
    [ "$unknown" = 0 ] || n_open=-1 # not built: not known
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$total" "$n_open" "$(
      IFS=,
      echo "${open[*]:-}"
    )" "$(count_files "$out")" "$(du -sk --apparent-size "$out" | cut -f1)" >>"$tmp/open.tsv"
    if [ ${#open[@]} -gt 0 ]; then
      for s in "${names[@]}"; do
        [ "$s" != "$n" ] || touch "$tmp/failed"
      done
    fi
  done

  python3 "$src/tests/fuzz/campaign_table.py" "$ledger" "$tmp/open.tsv" "$doc"
  echo "fuzz: ledger $ledger, table in $doc"
  if [ -e "$tmp/failed" ]; then
    echo "fuzz: FAILED: a finding is open (see above and the table)"
    exit 1
  fi
  [ ! -e "$tmp/stop" ] || exit 130
  exit 0
}

main "$@"
