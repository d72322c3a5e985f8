#!/usr/bin/env bash
# Runs every fuzz target built in BUILD_DIR for SECONDS each, one after the other (CI
# machines are small), each on a throw-away copy of its seed corpus (tests/fuzz/corpus/
# <target>/) so the committed corpus never grows in CI. Fails if any target crashes,
# leaks, times out or runs out of memory; the input that did it is kept in
# BUILD_DIR/fuzz-artifacts/ and printed in hex.
#
#   tests/fuzz/run.sh build/fuzz 30
set -euo pipefail

if [ $# -lt 1 ]; then
  echo "usage: $0 BUILD_DIR [SECONDS]" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
seconds=${2:-30}
here=$(cd "$(dirname "$0")" && pwd)
artifacts=$build/fuzz-artifacts
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$artifacts"

targets=()
for exe in "$build"/fuzz_*; do
  [ -f "$exe" ] && [ -x "$exe" ] && targets+=("$(basename "$exe")")
done
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz: no fuzz_* executables in $build" >&2
  exit 1
fi

failed=()
for name in "${targets[@]}"; do
  corpus=$work/$name
  mkdir -p "$corpus"
  [ -d "$here/corpus/$name" ] && cp -R "$here/corpus/$name/." "$corpus/"
  opts=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192
        -print_final_stats=1 -artifact_prefix="$artifacts/$name-")
  [ -f "$here/$name.dict" ] && opts+=(-dict="$here/$name.dict")
  log=$work/$name.log
  rm -f "$artifacts/$name"-*
  if "$build/$name" "${opts[@]}" "$corpus" >"$log" 2>&1; then
    # "#123 DONE cov: 391 ft: 1599 corp: 131/6401b lim: 1387 exec/s: 5337 rss: 664Mb"
    stats=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 | sed -E 's/^#([0-9]+)[[:space:]]+DONE[[:space:]]+/runs: \1 /')
    echo "fuzz: $name passed ($seconds s): $stats"
  else
    failed+=("$name")
    echo "fuzz: $name FAILED; the end of its log:"
    tail -n 60 "$log"
    for f in "$artifacts/$name"-*; do
      [ -f "$f" ] || continue
      echo "fuzz: input $f (hex, first 512 bytes):"
      od -An -tx1 -v "$f" | head -n 32
    done
  fi
done

if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz: failed: ${failed[*]}"
  exit 1
fi
echo "fuzz: every target passed (${#targets[@]} x $seconds s)"
