#!/usr/bin/env bash
# Source checks that are not advisory: clang-format, and a small banned-function list
# (after curl's checksrc). Exit non-zero on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t files < <(git ls-files -co --exclude-standard -- '*.c' '*.h' | grep -v '^third_party/')
[ ${#files[@]} -gt 0 ] || exit 0

fail=0
if ! clang-format --dry-run -Werror "${files[@]}"; then
  echo "checksrc: formatting differs from .clang-format (run: clang-format -i <files>)" >&2
  fail=1
fi
if grep -nE '\b(strcpy|sprintf|vsprintf|strtok|atoi|atol|gets|strcat)\s*\(' "${files[@]}"; then
  echo "checksrc: banned function (STYLE.md): use the bounded or reentrant form" >&2
  fail=1
fi
if grep -nE 'VERIFY(PEER|HOST)\s*,\s*0' "${files[@]}"; then
  echo "checksrc: TLS verification must never be turned off" >&2
  fail=1
fi
# One clock (src/core/clock.h), so that tests can drive the time every module sees.
others=()
for f in "${files[@]}"; do [ "$f" = src/core/clock.c ] || others+=("$f"); done
if grep -nE '\b(clock_gettime|gettimeofday)\s*\(|(^|[^A-Za-z0-9_.>])time\s*\(\s*(NULL|0|&)' "${others[@]}"; then
  echo "checksrc: read the time through core/clock.h (clock_mono_usec, clock_wall_usec)" >&2
  fail=1
fi
exit $fail
