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
mkdir -p "$tmp/album" "$tmp/hostile" "$tmp/speke"

# One line per job: directory, then ampack arguments (catalog.jobs beside this script).
mapfile -t jobs < <(grep -v -e '^#' -e '^[[:space:]]*$' "$(dirname "$0")/catalog.jobs")
if [ ${#jobs[@]} -eq 0 ]; then
  echo "make_catalog: no jobs in catalog.jobs" >&2
  exit 1
fi

# Jobs with --speke @SPEKE take their keys and PSSH boxes from the mock's SPEKE v2.0 key
# provider (docs/speke.md §11): a mock runs for the length of the build (its own test PKI
# and an empty content root), @SPEKE becomes its URL, CA and a throwaway delivery
# certificate and key (so the keys come encrypted: content key encryption), and the
# catalog keeps the keys ampack got in keys.json. The provider derives each key from the
# contentId and the KID (docs/speke.md §5) and ampack's KIDs are deterministic, so the
# mock that serves the catalog at test time would issue these very keys again, and its
# license module grants them from keys.json like any other track's.
speke_dir="$out.speke"
mock_pid=
stop_mock() {
  if [ -n "$mock_pid" ]; then
    kill "$mock_pid" 2>/dev/null || true
    wait "$mock_pid" 2>/dev/null || true
    mock_pid=
  fi
  rm -rf "$speke_dir"
}
trap stop_mock EXIT
speke_args=
if printf '%s\n' "${jobs[@]}" | grep -q -- '--speke @SPEKE'; then
  here=$(cd "$(dirname "$0")" && pwd)
  repo=$(cd "$here/../../.." && pwd)
  rm -rf "$speke_dir"
  mkdir -p "$speke_dir/root"
  bash "$repo/tools/mock/testca.sh" "$speke_dir/certs" >/dev/null
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$speke_dir/delivery.key" \
    -out "$speke_dir/delivery.pem" -days 2 -subj "/CN=ampd test catalog delivery" 2>/dev/null
  python3 "$repo/tools/mock/ampmock.py" --certs "$speke_dir/certs" --root "$speke_dir/root" \
    --port 0 --port-file "$speke_dir/port" --max-lifetime 600 --parent-pid $$ \
    >"$speke_dir/mock.out" 2>"$speke_dir/mock.err" &
  mock_pid=$!
  for _ in $(seq 1 200); do
    [ -s "$speke_dir/port" ] && break
    kill -0 "$mock_pid" 2>/dev/null || break
    sleep 0.05
  done
  if [ ! -s "$speke_dir/port" ]; then
    echo "make_catalog: the mock (SPEKE key provider) did not start:" >&2
    cat "$speke_dir/mock.err" >&2
    exit 1
  fi
  port=$(cat "$speke_dir/port")
  speke_args="https://127.0.0.1:$port/speke/v2.0/copyProtection --speke-ca $speke_dir/certs/ca.pem"
  speke_args+=" --speke-cert $speke_dir/delivery.pem --speke-key $speke_dir/delivery.key"
  export AMPACK_SPEKE_API_KEY=ampmock-speke-test # the mock's default --speke-api-key
fi

run_job() {
  local dir=${1%% *} args=${1#* }
  args=${args//@SPEKE/$speke_args}
  # shellcheck disable=SC2086 # args are word lists on purpose
  "$ampack" --out "$tmp/$dir" --license-url "$license" $args || {
    echo "make_catalog: ampack failed for $dir" >&2
    return 1
  }
}
export -f run_job
export ampack tmp license speke_args
printf '%s\n' "${jobs[@]}" | xargs -P 2 -I{} bash -c 'run_job "$@"' _ {}

stop_mock
rm -rf "$out"
mv "$tmp" "$out"
echo "make_catalog: $(find "$out" -type f | wc -l) files, $(du -sh "$out" | cut -f1) in $out"
