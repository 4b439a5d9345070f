#!/usr/bin/env bash
# The bash completion of ampctl (dist/bash-completion/ampctl): every command ampctl's usage
# lists is offered and nothing else, options complete, repeat's modes complete, and a
# command's one argument is the last thing completed.
# usage: test_completion.sh COMPLETION AMPCTL
set -euo pipefail
comp=$1 ampctl=$2
# shellcheck source=/dev/null
source "$comp"

complete_words() { # complete_words WORD... : COMPREPLY for the last word, sorted, one line
  COMP_WORDS=("$@")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMPREPLY=()
  _ampctl
  printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
}
fail() { echo "test_completion: $*" >&2; exit 1; }

# The commands of the usage text: the words of the lines under "commands:".
usage=$("$ampctl" --help)
want=$(printf '%s\n' "$usage" | sed -n '/^commands:/,/^exit:/p' | sed '1d;$d' |
  sed 's/(.*)//; s/\[[^]]*\]//g; s/[|]/ /g' | tr ' ' '\n' |
  grep -E '^[a-z]+$' | grep -vE '^(REF|SOCKET)$' | sort -u | tr '\n' ' ' | sed 's/ $//')
[ "$(printf '%s\n' "$want" | wc -w)" -ge 19 ] || fail "usage lists too few commands: $want"
got=$(complete_words ampctl "")
[ "$got" = "$want" ] || fail "commands: got '$got', want '$want'"

[ "$(complete_words ampctl wa)" = "watch" ] || fail "wa"
[ "$(complete_words ampctl --j)" = "--json" ] || fail "--j"
[ "$(complete_words ampctl --q)" = "--qr" ] || fail "--q"
[ "$(complete_words ampctl -s /tmp/x --json repeat o)" = "off one" ] || fail "repeat o"
[ "$(complete_words ampctl repeat all "")" = "" ] || fail "after repeat's argument"
[ "$(complete_words ampctl -t "")" = "0 10 30 5 60" ] || fail "-t"
echo "ok: ${want}"
