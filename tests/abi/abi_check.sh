#!/usr/bin/env bash
# abidiff between the frozen v1 SDK headers and the current ones (see README.md).
# usage: abi_check.sh SOURCE_DIR
set -euo pipefail
src=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
command -v abidiff >/dev/null || { echo "abi_check: abidiff not installed (abigail-tools)"; exit 1; }
# 1. Layout: every v1 member at the same offset, size and type (layout.cc).
c++ -std=c++20 -I "$src/tests/abi/v1" "$src/tests/abi/layout.cc" -o "$work/layout-v1"
c++ -std=c++20 -I "$src/sdk/include" "$src/tests/abi/layout.cc" -o "$work/layout-current" || {
  echo "abi_check: INCOMPATIBLE: a v1 member is gone from the current headers (see above)"
  exit 1
}
if ! diff -u <("$work/layout-v1") <("$work/layout-current"); then
  echo "abi_check: INCOMPATIBLE: v1 members moved, resized or retyped (diff above)"
  exit 1
fi

# 2. abidiff over a probe reaching every type, for the record and for removed symbols.
cc -g -Og -shared -fPIC -I "$src/tests/abi/v1" "$src/tests/abi/probe.c" -o "$work/v1.so"
cc -g -Og -shared -fPIC -I "$src/sdk/include" "$src/tests/abi/probe.c" -o "$work/current.so"
set +e
abidiff --harmless "$work/v1.so" "$work/current.so" > "$work/report.txt"
rc=$?
set -e
cat "$work/report.txt"
# abidiff's exit status is a bit field: 4 = an ABI change, 8 = an incompatible one.
# (Struct growth shows as 4; a retyped member also shows only as 4, hence step 1.)
if (( rc & 8 )) || (( rc & 1 )) || (( rc & 2 )); then
  echo "abi_check: INCOMPATIBLE change to the module ABI (abidiff status $rc)"
  exit 1
fi
echo "abi_check: current SDK headers are compatible with v1 (abidiff status $rc)"
