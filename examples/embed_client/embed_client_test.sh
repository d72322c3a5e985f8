#!/bin/bash
# examples/embed_client: the pipelined client against the embedded echo (every byte
# checked), and against a closed port (refused, exit 1, the reason printed).
# usage: embed_client_test.sh EMBED_CLIENT EMBED_ECHO
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../tests/lib/serve.sh"
client=$1
echo_bin=$2
dir=$(mktemp -d /tmp/gev-embed-client.XXXXXX)
trap 'kill_server; rm -rf "$dir"' EXIT
serve "$dir/server.log" "$echo_bin" --port 0 --loops 2
out=$(timeout 60 "$client" "127.0.0.1:$port" 8 16 700 5000)
grep -q "^8 connections ok, 0 failed" <<<"$out" || { echo "embed_client: $out"; exit 1; }
out=$(timeout 60 "$client" "localhost:$port" 2 1 1 100)
grep -q "^2 connections ok, 0 failed" <<<"$out" || { echo "embed_client by name: $out"; exit 1; }
stop_server "$dir/server.log"
set +e
out=$(timeout 60 "$client" "127.0.0.1:$port" 2>&1)
status=$?
set -e
[ "$status" -eq 1 ] && grep -q "127.0.0.1:$port: refused" <<<"$out" ||
  { echo "a closed port: exit $status: $out"; exit 1; }
echo "PASS embed_client: 8 x 5000 pipelined echoes checked, a host name, a refusal reported"
