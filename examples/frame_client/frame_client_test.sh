#!/usr/bin/env bash
# The example-frame-client ctest: gev-host serving length_field + echo on 127.0.0.1 port 0
# (modules from its default directory), frame_client sending two messages and getting
# them back, one per line, then a clean stop (SIGTERM, exit status 0).
# usage: frame_client_test.sh GEV_HOST FRAME_CLIENT
set -euo pipefail
host=$1 client=$2
work=$(mktemp -d)
. "$(dirname "$0")/../../tests/lib/serve.sh"
cleanup() {
  kill_server
  rm -rf "$work"
}
trap cleanup EXIT

serve "$work/host.log" "$host" --listen 127.0.0.1:0 --loops 2 --admin off \
  --protocol length_field --handler echo

"$client" "127.0.0.1:$port" "hello" "two words" > "$work/out" ||
  { cat "$work/host.log"; exit 1; }
printf 'hello\ntwo words\n' | diff - "$work/out" || { cat "$work/host.log"; exit 1; }
# stdin mode: one frame per line, the empty line skipped.
printf 'a\n\nb\n' | "$client" "127.0.0.1:$port" > "$work/out" || { cat "$work/host.log"; exit 1; }
printf 'a\nb\n' | diff - "$work/out" || { cat "$work/host.log"; exit 1; }

stop_server "$work/host.log"

# Nothing listens now: a connection error names the address and exits 1.
status=0
"$client" "127.0.0.1:$port" x 2> "$work/err" || status=$?
[ "$status" -eq 1 ] && grep -q "127.0.0.1:$port" "$work/err" ||
  { echo "expected exit 1 naming the address, got $status: $(cat "$work/err")"; exit 1; }
echo "example-frame-client: two messages echoed over length_field, one per line"
