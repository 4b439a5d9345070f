#!/usr/bin/env bash
# selftest.sh BUILD_DIR HARNESS: the fuzz campaign's self-test (ctest fuzz/campaign-selftest).
#
# 1. scripts/fuzz.sh runs HARNESS (a fast one) for 3 s into a temporary copy: it must exit
#    0, append one sane ledger row (this run's date, the harness, seconds >= 1, executions
#    > 0, cov and ft > 0, status ok, corpus counts matching the merged directory), list
#    the harness in the regenerated table with those executions, and leave a merged corpus
#    that holds every named seed of the committed one, no input over -max_len, and replays
#    clean.
# 2. scripts/fuzz.sh runs fuzz_selftest_crash (crashes on "BOOM", seed "BOOK") into another
#    copy: it must exit 1, keep the artifact crash-<sha1> (starting with "BOOM") in the
#    corpus copy, record it in the ledger row (status finding) and show it open in the
#    table.
# 3. The committed ledger, doc and corpora are untouched.
set -euo pipefail
[ $# -eq 2 ] || {
  echo "usage: selftest.sh BUILD_DIR HARNESS" >&2
  exit 2
}
build=$1 harness=$2
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "selftest: FAIL: $*" >&2
  exit 1
}

desc() {
  sed -n "s/^$2=//p" "$1"
}
d=$build/fuzz-targets/$harness.txt
[ -f "$d" ] || fail "no description $d"
corpus=$(desc "$d" corpus)
max_len=$(desc "$d" max_len)
bin=$(desc "$d" binary)
rel=${corpus#"$src"/}

# What must stay untouched: the committed files the campaign writes.
snapshot() {
  (
    cd "$src"
    sha1sum docs/reliability.md
    [ ! -f tests/fuzz/campaign.tsv ] || sha1sum tests/fuzz/campaign.tsv
    find "$rel" tests/fuzz/selftest/corpus -type f -print0 | sort -z | xargs -0 sha1sum
  )
}
snapshot >"$tmp/before"

# 1. A real harness.
rc=0
bash "$src/scripts/fuzz.sh" --minutes 0.05 --no-build --into "$tmp/a" "$harness" >"$tmp/a.log" 2>&1 || rc=$?
[ "$rc" -eq 0 ] || {
  cat "$tmp/a.log"
  fail "fuzz.sh on $harness exited $rc"
}
ledger=$tmp/a/tests/fuzz/campaign.tsv
[ -f "$ledger" ] || fail "no ledger"
head -n 1 "$ledger" | grep -q $'^date_utc\tcommit\tharness\tseconds\texecs' || fail "ledger header"
row=$(tail -n 1 "$ledger")
IFS=$'\t' read -r r_date _ r_name r_secs r_execs _ r_cov r_ft r_before r_after r_find r_status <<<"$row"
today=$(date -u +%Y-%m-%d)
[[ $r_date == "$today"T* ]] || fail "row date $r_date"
[ "$r_name" = "$harness" ] || fail "row harness $r_name"
if ! { [ "$r_secs" -ge 1 ] && [ "$r_execs" -gt 0 ] && [ "$r_cov" -gt 0 ] && [ "$r_ft" -gt 0 ]; }; then
  fail "row figures: $row"
fi
[ "$r_status" = ok ] && [ "$r_find" = - ] || fail "row status: $row"
out=$tmp/a/$rel
n=$(find "$out" -maxdepth 1 -type f | wc -l)
[ "$r_after" -eq "$n" ] && [ "$n" -ge 1 ] || fail "corpus: $n files, the row says $r_after"
[ "$r_before" -eq "$(find "$corpus" -maxdepth 1 -type f | wc -l)" ] || fail "corpus before: $row"
for f in "$corpus"/*; do
  b=$(basename "$f")
  [[ $b =~ ^[0-9a-f]{40}$ ]] || cmp -s "$f" "$out/$b" || fail "named seed $b not kept"
done
big=$(find "$out" -type f -size +"$max_len"c | head -n 1)
[ -z "$big" ] || fail "$big is over -max_len=$max_len"
"$bin" -runs=0 "$out" >"$tmp/replay.log" 2>&1 || {
  cat "$tmp/replay.log"
  fail "the merged corpus does not replay"
}
execs_txt=$(printf "%'d" "$r_execs" 2>/dev/null || echo "$r_execs")
grep -qE "^\| $harness \| [0-9]+ \| [0-9.]+( \*)? \| ($execs_txt|[0-9,]+) \| $r_cov \| $r_ft \| $n, " \
  "$tmp/a/docs/reliability.md" || fail "no table row for $harness"

# 2. A crash.
rc=0
bash "$src/scripts/fuzz.sh" --minutes 0.05 --no-build --into "$tmp/b" \
  --targets "$build/fuzz-selftest" selftest_crash >"$tmp/b.log" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || {
  cat "$tmp/b.log"
  fail "fuzz.sh on the crashing harness exited $rc, not 1"
}
art=$(find "$tmp/b/tests/fuzz/selftest/corpus" -name 'crash-*' | head -n 1)
[ -n "$art" ] || fail "no crash artifact in the corpus copy"
[ "$(head -c 4 "$art")" = BOOM ] || fail "the artifact $art is not the crash"
row=$(tail -n 1 "$tmp/b/tests/fuzz/campaign.tsv")
IFS=$'\t' read -r _ _ r_name _ _ _ _ _ _ _ r_find r_status <<<"$row"
[ "$r_name" = selftest_crash ] && [ "$r_status" = finding ] || fail "crash row: $row"
[[ ,$r_find, == *,$(basename "$art"),* ]] || fail "the row does not name $(basename "$art"): $row"
grep -qE "^\| selftest_crash \| .* \| 1 \| 1 \| 1 \(crash-[0-9a-f]{40}\) \|$" "$tmp/b/docs/reliability.md" ||
  fail "the table does not show the open finding"
grep -q "fuzz: selftest_crash FAILED" "$tmp/b.log" || fail "no crash report in the output"

# 3. Nothing committed was written.
snapshot >"$tmp/after"
cmp -s "$tmp/before" "$tmp/after" || {
  diff "$tmp/before" "$tmp/after" || true
  fail "the committed files changed"
}
echo "selftest: ok ($harness: $r_execs executions, corpus $r_before -> $n; crash kept as $(basename "$art"))"
