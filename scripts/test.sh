#!/usr/bin/env bash
# Every test of ampd: installs what it needs, checks formatting and banned functions,
# builds and runs ctest in the ASan+UBSan build, the release build and its Debian package
# (installed, started and removed), the threaded tests under TSan, and a bounded libFuzzer
# run of every harness.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

bash scripts/deps.sh
bash scripts/checksrc.sh

run() { echo "== $*"; "$@"; }

run cmake --preset asan >/dev/null
run cmake --build --preset asan -j"$jobs"
# Its last test is secrets/scan: no token, key, license or URL signature the mock handed
# out in anything the suite wrote (tests/secrets/scan.py, build/asan/test-output/). The
# TSan run below repeats a subset of these tests with the same code, so it is not scanned.
run ctest --preset asan -j"$jobs"

# The release build: gcc -O2 finds warnings (maybe-uninitialized, ...) that -O0 does not.
run cmake --preset default >/dev/null
run cmake --build --preset default -j"$jobs"
# The Debian package of that build (prefix /usr): cpack -G DEB, dpkg -i, the installed
# unit verified and scored, a start as the unit says, dpkg -r, dpkg -P (about 20 s; root).
run python3 scripts/test_deb.py build/default
# The README's demo, on that build: the daemon plays the album from the mock into a WAV
# (read at 16 times the real rate: 5 s of play) that must equal the source bit for bit.
run bash scripts/demo.sh --speed 16
# The album end to end under valgrind memcheck on that build: no invalid access, no
# definite or indirect leak, no fd left open (tests/integration/valgrind.cmake; about 10 s).
run ctest --test-dir build/default -L valgrind --output-on-failure

run cmake --preset tsan >/dev/null
run cmake --build --preset tsan -j"$jobs"
run ctest --preset tsan -j"$jobs"

# The short slice of the fuzz campaign (the long one is scripts/fuzz.sh, its figures in
# docs/reliability.md): every harness runs its SECONDS (AMPD_FUZZ_SECONDS, 16, or 8 for
# the small ones, cmake/AmpdTesting.cmake and tests/fuzz/*.cmake) through
# tests/fuzz/run.sh, in parallel, and fuzz/campaign-selftest checks scripts/fuzz.sh on
# copies. A crash, leak, hang (one input over -timeout, 10 s) or out-of-memory fails its
# test at once and prints the report and the artifact (base64 and a hex dump) into this
# log; the artifact stays in build/fuzz/fuzz-artifacts/.
run cmake --preset fuzz >/dev/null
run cmake --build --preset fuzz -j"$jobs"
run ctest --preset fuzz -j"$jobs"
