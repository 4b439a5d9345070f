#!/usr/bin/env bash
# The shipped unit (dist/systemd/ampd.service.in as the build configured it, docs/systemd.md):
#  1. `systemd-analyze security --offline=yes` scores it at most 2.0 (the score is printed);
#  2. `systemd-analyze verify` passes it without a word, against a staged `cmake --install`
#     (its ExecStart and its Documentation= man pages must exist: the staged binary and
#     MANPATH stand for /usr). verify exits 0 even on a line it ignores, so any output
#     fails the test too.
# usage: test_unit.sh BUILD_DIR
set -euo pipefail
build=$1
unit=$build/dist/ampd.service
max=2.0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

test -f "$unit" || { echo "FAIL: no unit at $unit" >&2; exit 1; }

# 1. The exposure score.
systemd-analyze security --offline=yes --no-pager "$unit" >"$tmp/security" 2>&1 || true
grep -v '^  *✓' "$tmp/security" || true
score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) .*/\1/p' "$tmp/security")
if [ -z "$score" ]; then
  echo "FAIL: systemd-analyze security gave no score" >&2
  exit 1
fi
echo "exposure score: $score (at most $max)"
if ! awk -v s="$score" -v m="$max" 'BEGIN { exit !(s <= m) }'; then
  echo "FAIL: exposure score $score is above $max" >&2
  exit 1
fi

# 2. verify, against the staged install.
DESTDIR=$tmp/root cmake --install "$build" >/dev/null
exec_line=$(grep '^ExecStart=' "$unit")
exec_bin=${exec_line#ExecStart=}
exec_bin=${exec_bin%% *}
test -x "$tmp/root$exec_bin" || { echo "FAIL: the install has no $exec_bin" >&2; exit 1; }
mkdir -p "$tmp/v"
sed "s|^ExecStart=$exec_bin |ExecStart=$tmp/root$exec_bin |" "$unit" >"$tmp/v/ampd.service"
grep -q "^ExecStart=$tmp/root$exec_bin " "$tmp/v/ampd.service"
man=$(find "$tmp/root" -type d -path '*/share/man' | head -n1)
test -n "$man" || { echo "FAIL: the install has no man pages" >&2; exit 1; }
rc=0
MANPATH=$man systemd-analyze verify "$tmp/v/ampd.service" >"$tmp/verify" 2>&1 || rc=$?
cat "$tmp/verify"
if [ $rc -ne 0 ] || [ -s "$tmp/verify" ]; then
  echo "FAIL: systemd-analyze verify (exit $rc, output above)" >&2
  exit 1
fi
echo "verify: clean"
