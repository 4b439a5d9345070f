#!/usr/bin/env bash
# speke-suite.sh SUITE_DIR: run the SPEKE v2 verification suite of the SPEKE reference
# server (its spekev2_verification_testsuite directory, kept outside this repository)
# unmodified against the mock's SPEKE key provider, in its live form (the default) and
# its VOD form (--test-vod), and print the pass/fail counts of each. docs/speke.md §10.
#
# What it sets up, all on this machine and removed at the end:
#   - a throwaway CA and a certificate for a made-up API Gateway host
#     (<id>.execute-api.us-east-1.amazonaws.com): the suite signs every request with AWS
#     SigV4 for such a host and parses the region out of it;
#   - the mock (tools/mock/ampmock.py) serving that certificate, its speke module
#     checking SigV4 signatures (--speke-sigv4) with made-up credentials, which the suite
#     reads from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (botocore);
#   - pytest (/usr/bin/python3, Debian's packages from scripts/deps.sh) with our plugin
#     tests/speke-suite/pin_host.py, which resolves that host to 127.0.0.1 and refuses
#     every other name that is not loopback.
# The suite writes its generated requests under SUITE_DIR/spekev2_requests and a
# SUITE_DIR/reports directory, as it always does.
#
# Deselected: SPEKE v2.1 (test_v2_1_content_key_period.py), out of the mock's scope
# (docs/speke.md §9). Exit status 0 when both forms pass, 1 when a test failed, 2 on
# a setup error.
set -euo pipefail

usage() { echo "usage: $0 SUITE_DIR" >&2; exit 2; }
[ $# -eq 1 ] || usage
if [ ! -f "$1/conftest.py" ] || [ ! -d "$1/helpers" ]; then
  echo "speke-suite.sh: $1 is not the suite's directory (no conftest.py, helpers/)" >&2
  exit 2
fi
suite=$(cd "$1" && pwd)
repo=$(cd "$(dirname "$0")/.." && pwd)
py=/usr/bin/python3

bash "$repo/scripts/deps.sh"

work=$(mktemp -d -t speke-suite.XXXXXX)
mock_pid=
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
  if [ -n "$mock_pid" ]; then
    kill "$mock_pid" 2>/dev/null || true
    wait "$mock_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# A made-up API Gateway host: the suite wants [a-z0-9]+.execute-api.<region>.amazonaws.com.
host="ampmock$(openssl rand -hex 4).execute-api.us-east-1.amazonaws.com"

# The throwaway CA and the host's certificate: the mock's test PKI (tools/mock/testca.sh)
# with the host in the server certificate (the mock serves certs/server.*).
certs="$work/certs"
mkdir -p "$work/root"
bash "$repo/tools/mock/testca.sh" "$certs" "$host" || exit 2

# Made-up credentials: the mock checks the signatures made with them.
akid="AKIA$(openssl rand -hex 8 | tr a-f A-F)"
secret=$(openssl rand -hex 20)

"$py" "$repo/tools/mock/ampmock.py" --certs "$certs" --root "$work/root" --port 0 \
  --log-file "$work/requests.jsonl" --max-lifetime 1800 --parent-pid $$ \
  --speke-sigv4 "$akid:$secret" >"$work/mock.out" 2>"$work/mock.err" &
mock_pid=$!
port=
for _ in $(seq 1 100); do
  port=$(sed -n 's/^ampmock ready port=\([0-9]*\)$/\1/p' "$work/mock.out")
  [ -n "$port" ] && break
  kill -0 "$mock_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$port" ]; then
  echo "speke-suite.sh: the mock did not start" >&2
  cat "$work/mock.err" >&2
  exit 2
fi
url="https://$host:$port/speke/v2.0/copyProtection"
echo "mock: $url (SigV4, access key id $akid)"

# SPEKE v2.1 is out of the mock's scope (docs/speke.md §9): the mock refuses it (422).
deselect=(--deselect test_v2_1_content_key_period.py::test_v2_1_content_key_period_start_end)
# A defect of the suite (docs/speke.md §10): its request has 8 keys and 8 rules, as its
# six siblings expect, but this test expects 5 rules. Run, and expected to fail (strict).
known=(--known-defect "test_case_3_preset_video_5_preset_audio_3.py::test_case_3_playready_fairplay=expects 5 ContentKeyUsageRules for its 8-key request")
# The VOD form reads spekev2_requests/vod/1_generic_... and vod/3_negative_..., which the
# copy of the suite does not hold at any of its commits: these tests cannot run there.
vod_missing=(
  --deselect test_basic_checks.py::test_status_code
  --deselect test_basic_checks.py::test_speke_v2_headers
  --deselect test_basic_checks.py::test_speke_v2_elements_have_not_changed
  --deselect test_basic_checks.py::test_sending_same_request_sent_twice_to_keyserver_without_key_rotation
  --deselect test_check_mandatory_elements.py
  --deselect test_negative_cases.py::test_wrong_version_status_code
  --deselect test_negative_cases.py::test_mandatory_elements_missing_in_request
  --deselect test_negative_cases.py::test_both_mandatory_filter_elements_missing_in_request
  --deselect test_negative_cases.py::test_missing_mandatory_attributes_in_request
)

# run FORM [pytest options]: one pass of the suite; prints its closing line.
status=0
run() {
  local form=$1 log="$work/$1.log" rc=0
  shift
  (
    cd "$suite"
    env -u AWS_SESSION_TOKEN -u AWS_PROFILE \
      AWS_ACCESS_KEY_ID="$akid" AWS_SECRET_ACCESS_KEY="$secret" \
      AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
      AWS_EC2_METADATA_DISABLED=true \
      REQUESTS_CA_BUNDLE="$certs/ca.pem" SPEKE_SUITE_PIN_HOST="$host" \
      PYTHONPATH="$repo/tests/speke-suite" PYTHONDONTWRITEBYTECODE=1 \
      "$py" -m pytest -p pin_host -p no:cacheprovider -rfEwxX --speke-url "$url" \
      "${deselect[@]}" "${known[@]}" "$@"
  ) >"$log" 2>&1 || rc=$?
  local summary
  summary=$(grep -E '^=+ .*(passed|failed|error|no tests ran).* in [0-9.]+s' "$log" | tail -1 |
    sed -E 's/^=+ //; s/ =+$//')
  echo "$form: ${summary:-no pytest summary (exit $rc)}"
  if [ "$rc" -ne 0 ]; then
    grep -E '^(FAILED|ERROR) ' "$log" | sed "s/^/  $form: /" || true
    status=1
  fi
  local passed failed errors
  passed=$(grep -oE '[0-9]+ passed' <<<"$summary" | grep -oE '[0-9]+' || echo 0)
  failed=$(grep -oE '[0-9]+ failed' <<<"$summary" | grep -oE '[0-9]+' || echo 0)
  errors=$(grep -oE '[0-9]+ errors?' <<<"$summary" | grep -oE '[0-9]+' || echo 0)
  echo "$form: $passed passed, $((failed + errors)) failed"
  grep -E '^(XFAIL|XPASS) ' "$log" | sed "s/^/  $form: /" || true
  if [ -n "${SPEKE_SUITE_LOG_DIR:-}" ]; then cp "$log" "$SPEKE_SUITE_LOG_DIR/speke-suite-$form.log"; fi
}
run live
run vod --test-vod "${vod_missing[@]}"
if grep -q Traceback "$work/mock.err"; then
  echo "speke-suite.sh: the mock logged a traceback" >&2
  cat "$work/mock.err" >&2
  status=1
fi
exit "$status"
