#!/usr/bin/env bash
# The example-protobuf ctest: a fresh module directory holding the built-in protobuf.so
# and the example's pb_router.so, gev-host serving them on 127.0.0.1 port 0, pb_client
# checking the replies, then a clean stop (SIGTERM, exit status 0).
# usage: example_test.sh GEV_HOST PROTOBUF_SO PB_ROUTER_SO PB_CLIENT
set -euo pipefail
host=$1 protocol_so=$2 router_so=$3 client=$4
work=$(mktemp -d)
host_pid=""
cleanup() {
  [ -n "$host_pid" ] && kill "$host_pid" 2>/dev/null && wait "$host_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir "$work/modules"
cp "$protocol_so" "$router_so" "$work/modules/"
"$host" --listen 127.0.0.1:0 --loops 2 --admin off --module-dir "$work/modules" \
  --protocol protobuf --handler pb_router > "$work/host.log" 2>&1 &
host_pid=$!
port=""
for _ in $(seq 600); do  # up to 30 s: a sanitizer build on a busy machine starts slowly
  port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/host.log" | head -1)
  [ -n "$port" ] && break
  sleep 0.05
done
[ -n "$port" ] || { cat "$work/host.log"; exit 1; }
"$client" "$port" || { cat "$work/host.log"; exit 1; }
grep -q "loaded module pb_router 1.0.0" "$work/host.log"
# A clean stop: the handler module unloads without taking the host down.
kill -TERM "$host_pid"
status=0
wait "$host_pid" || status=$?
host_pid=""
[ "$status" -eq 0 ] || { cat "$work/host.log"; echo "gev-host exited with $status"; exit 1; }
echo "example-protobuf: Add -> Sum and Echo -> Echo served over gev's protobuf framing"
