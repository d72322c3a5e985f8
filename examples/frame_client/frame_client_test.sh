#!/usr/bin/env bash
# The example-frame-client ctest: gev-host serving length_field + echo on 127.0.0.1 port 0
# (modules from its default directory), frame_client sending two messages and getting
# them back, one per line, then a clean stop (SIGTERM, exit status 0).
# usage: frame_client_test.sh GEV_HOST FRAME_CLIENT
set -euo pipefail
host=$1 client=$2
work=$(mktemp -d)
host_pid=""
cleanup() {
  [ -n "$host_pid" ] && kill "$host_pid" 2>/dev/null && wait "$host_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$host" --listen 127.0.0.1:0 --loops 2 --admin off \
  --protocol length_field --handler echo > "$work/host.log" 2>&1 &
host_pid=$!
port=""
for _ in $(seq 600); do  # up to 30 s: a sanitizer build on a busy machine starts slowly
  port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/host.log" | head -1)
  [ -n "$port" ] && break
  sleep 0.05
done
[ -n "$port" ] || { cat "$work/host.log"; exit 1; }

"$client" "127.0.0.1:$port" "hello" "two words" > "$work/out" ||
  { cat "$work/host.log"; exit 1; }
printf 'hello\ntwo words\n' | diff - "$work/out" || { cat "$work/host.log"; exit 1; }
# stdin mode: one frame per line, the empty line skipped.
printf 'a\n\nb\n' | "$client" "127.0.0.1:$port" > "$work/out" || { cat "$work/host.log"; exit 1; }
printf 'a\nb\n' | diff - "$work/out" || { cat "$work/host.log"; exit 1; }

kill -TERM "$host_pid"
status=0
wait "$host_pid" || status=$?
host_pid=""
[ "$status" -eq 0 ] || { cat "$work/host.log"; echo "gev-host exited with $status"; exit 1; }

# Nothing listens now: a connection error names the address and exits 1.
status=0
"$client" "127.0.0.1:$port" x 2> "$work/err" || status=$?
[ "$status" -eq 1 ] && grep -q "127.0.0.1:$port" "$work/err" ||
  { echo "expected exit 1 naming the address, got $status: $(cat "$work/err")"; exit 1; }
echo "example-frame-client: two messages echoed over length_field, one per line"
