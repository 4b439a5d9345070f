#!/usr/bin/env bash
# Source checks that are not advisory: clang-format, a small banned-function list (after
# curl's checksrc), TLS verification, and that the repository stands alone (no citation of
# a file outside it). Exit non-zero on any finding.
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
  echo "checksrc: banned function (docs/CONTRIBUTING.md, Tooling): use the bounded or reentrant form" >&2
  fail=1
fi
if grep -nE 'VERIFY(PEER|HOST)\s*,\s*0' "${files[@]}"; then
  echo "checksrc: TLS verification must never be turned off" >&2
  fail=1
fi
# clang-format is for C only: run on CMake files it writes "${DIR} / file.c" (seen once).
mapfile -t cmakes < <(git ls-files -co --exclude-standard -- '*.cmake' '*CMakeLists.txt')
if [ ${#cmakes[@]} -gt 0 ] && grep -nE '\$\{[A-Za-z_]+\} +/ +[A-Za-z_]' "${cmakes[@]}"; then
  echo "checksrc: a CMake path split by clang-format (keep clang-format off CMake files)" >&2
  fail=1
fi
if ! bash scripts/checklayers.sh; then
  echo "checksrc: an include against the module dependency direction (docs/architecture.md)" >&2
  fail=1
fi
# One clock (src/core/clock.h), so that tests can drive the time every module sees.
others=()
for f in "${files[@]}"; do [ "$f" = src/core/clock.c ] || others+=("$f"); done
if grep -nE '\b(clock_gettime|gettimeofday)\s*\(|(^|[^A-Za-z0-9_.>])time\s*\(\s*(NULL|0|&)' "${others[@]}"; then
  echo "checksrc: read the time through core/clock.h (clock_mono_usec, clock_wall_usec)" >&2
  fail=1
fi

# The project stands alone: no tracked file (code, docs, tests, data) may cite a path
# outside the repository: the pre-repository design notes by their bare upper-case names,
# a sibling "shared" tree, or an absolute path on a developer's machine (home, root or
# work directories). System paths (/usr, /etc, /dev, /proc, /tmp, ...) are fine, and so
# a path inside a URL or a longer path (https://host/root/..., a/home/b): the slash must
# start the path. The patterns are spelled with [.] and [/] so this file does not match itself.
# What such a citation relied on belongs in docs/ (media.md, service.md, CONTRIBUTING.md).
standalone='(^|[^A-Za-z0-9_])(MEDIA|SERVICE|PEERS|STYLE|ARCHITECTURE)[.]md'
standalone+='|[.][.][/]shared|shared[/]design'
standalone+='|(^|[^A-Za-z0-9_.:/~-])[/](work|home|root)[/]'
tracked=()
while IFS= read -r -d '' f; do
  [ -f "$f" ] && tracked+=("$f") # a tracked file deleted in the worktree is not read
done < <(git ls-files -z -co --exclude-standard)
if [ ${#tracked[@]} -gt 0 ] && grep -nIE "$standalone" -- "${tracked[@]}"; then
  echo "checksrc: a citation of a path outside the repository (file:line above); cite docs/ instead" >&2
  fail=1
fi
exit $fail
