#!/usr/bin/env bash
# The example-udp-kv ctest: gev-host serving raw + udp_kv over transport = udp on
# 127.0.0.1 port 0, udp_kv_client setting, reading and deleting keys, then a clean stop.
# usage: udp_kv_test.sh GEV_HOST RAW_SO UDP_KV_SO UDP_KV_CLIENT
set -euo pipefail
host=$1 raw_so=$2 kv_so=$3 client=$4
work=$(mktemp -d)
. "$(dirname "$0")/../../tests/lib/serve.sh"
cleanup() {
  kill_server
  rm -rf "$work"
}
trap cleanup EXIT

mkdir "$work/modules"
cp "$raw_so" "$kv_so" "$work/modules/"
serve "$work/host.log" "$host" --listen udp://127.0.0.1:0 --loops 2 --admin off \
  --module-dir "$work/modules" --protocol raw --handler udp_kv
at="127.0.0.1:$port"
expect() {  # expect WANT ARGS...
  local want=$1 got
  shift
  got=$("$client" "$at" "$@") || { cat "$work/host.log"; exit 1; }
  [ "$got" = "$want" ] || { echo "$* -> '$got', expected '$want'"; cat "$work/host.log"; exit 1; }
}
expect "NOT_FOUND" GET colour
expect "OK" SET colour deep blue
expect "VALUE deep blue" GET colour
expect "OK" DEL colour
expect "NOT_FOUND" DEL colour
expect "ERR usage: SET key value" SET lonely
expect "ERR unknown command (SET key value, GET key, DEL key)" PUT x y
stop_server "$work/host.log"
echo "example-udp-kv: SET, GET and DEL over UDP, errors answered"
