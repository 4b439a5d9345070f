#!/bin/sh
# check_exports.sh PLUGIN.so: fail unless the plugin's only defined dynamic symbol is
# ampd_cdm_entry (include/ampd/cdm.h: one entry symbol, everything else hidden).
set -eu
so=$1
syms=$(nm -D --defined-only "$so" | awk '{ print $NF }' | sort -u)
if [ "$syms" != "ampd_cdm_entry" ]; then
  echo "check_exports: $so exports more or other than ampd_cdm_entry:" >&2
  echo "$syms" >&2
  exit 1
fi
echo "check_exports: $so exports only ampd_cdm_entry"
