#!/usr/bin/env bash
# The dependency direction of ampd's modules, enforced (run by the build and by
# scripts/checksrc.sh). A file under one area may include headers of the areas listed
# for it, and nothing else of the tree:
#
#   core <- net <- media, cloud <- player <- control, mpris <- main
#   core, media/pcm.h <- platform          (the PCM type is the one media header it uses)
#   cdm/ plugins: only <ampd/cdm.h> and their own headers (a plugin links nothing of ours)
#   src/client (libampd-client): <ampd/client.h> and core/clock.h (compiled into it) only
#
# Headers are named from the tree's roots ("core/log.h", "platform/output.h",
# <ampd/cdm.h>); a name without a directory is a header beside the file, and other <...>
# headers are the system's and outside libraries'. Tools, tests and benchmarks sit on top
# and may include anything. Exit 1 with file:line on a violation.
set -euo pipefail
cd "$(dirname "$0")/.."

allowed_for() {
  case "$1" in
  src/core/*) echo "core" ;;
  src/net/*) echo "core net" ;;
  src/media/*) echo "core net media ampd" ;;
  src/cloud/*) echo "core net cloud ampd" ;;
  src/player/*) echo "core net media cloud platform player ampd" ;;
  src/control/*) echo "core net media cloud platform player control ampd" ;;
  src/mpris/*) echo "core player" ;; # the player's D-Bus face: the player and core only
  src/client/*) echo "core/clock.h ampd" ;; # libampd-client: the protocol, the one clock
  src/main/* | src/*.c) echo "core net media cloud platform player control mpris ampd" ;;
  platform/*) echo "core platform media/pcm.h" ;;
  cdm/*) echo "ampd" ;;
  include/ampd/*) echo "ampd" ;;
  *) echo "*" ;;
  esac
}

fail=0
while IFS= read -r -d '' f; do
  allowed=$(allowed_for "$f")
  [ "$allowed" = "*" ] && continue
  while IFS=: read -r line hdr; do
    [ -n "$hdr" ] || continue
    case "$hdr" in */*) ;; *) continue ;; esac # beside the file
    area=${hdr%%/*}
    ok=0
    for a in $allowed; do
      if [ "$a" = "$area" ] || [ "$a" = "$hdr" ]; then ok=1; break; fi
    done
    if [ $ok -eq 0 ]; then
      echo "$f:$line: includes $hdr, against the dependency direction (scripts/checklayers.sh)" >&2
      fail=1
    fi
  done < <(awk 'match($0, /^[ \t]*#[ \t]*include[ \t]*("[^"]+"|<ampd\/[^>]+>)/) {
                 h = substr($0, RSTART, RLENGTH); sub(/^[^"<]*["<]/, "", h); sub(/[">]$/, "", h)
                 print FNR ":" h }' "$f")
done < <(git ls-files -z -co --exclude-standard -- 'src/*.c' 'src/*.h' 'platform/*.c' 'platform/*.h' \
           'cdm/*.c' 'cdm/*.h' 'cdm/*.cpp' 'include/*.h')
exit $fail
