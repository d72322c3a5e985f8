#!/usr/bin/env bash
# The example-protobuf ctest: a fresh module directory holding the built-in protobuf.so
# and the example's pb_router.so, gev-host serving them on 127.0.0.1 port 0, pb_client
# checking the replies, then a clean stop (SIGTERM, exit status 0).
# usage: example_test.sh GEV_HOST PROTOBUF_SO PB_ROUTER_SO PB_CLIENT
set -euo pipefail
host=$1 protocol_so=$2 router_so=$3 client=$4
work=$(mktemp -d)
. "$(dirname "$0")/../../tests/lib/serve.sh"
cleanup() {
  kill_server
  rm -rf "$work"
}
trap cleanup EXIT

mkdir "$work/modules"
cp "$protocol_so" "$router_so" "$work/modules/"
serve "$work/host.log" "$host" --listen 127.0.0.1:0 --loops 2 --admin off \
  --module-dir "$work/modules" --protocol protobuf --handler pb_router
"$client" "$port" || { cat "$work/host.log"; exit 1; }
grep -q "loaded module pb_router 1.0.0" "$work/host.log"
# A clean stop: the handler module unloads without taking the host down.
stop_server "$work/host.log"
echo "example-protobuf: Add -> Sum and Echo -> Echo served over gev's protobuf framing"
