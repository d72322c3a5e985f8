#!/usr/bin/env bash
# scripts/run as a newcomer meets it: it builds only what it serves (build/run holds
# gev-host, the built-in modules and frame_client, and no test or benchmark), serves the
# shipped config, and each "try:" line it prints works as printed. Ctrl-C stops it
# gracefully (exit 0). It binds the shipped config's fixed ports (1833, 1834, 1835, 8080, 1843,
# 8443, 9091), and makes host/tls/ (the TLS listeners' certificate) if it is absent.
# usage: scripts_run_test.sh SOURCE_DIR
set -uo pipefail
cd "$1"
log=$(mktemp)
page=$(mktemp)
pid=""
cleanup() {
  if [ -n "$pid" ]; then  # the whole session: the script, a build under way, the host
    kill -INT -- "-$pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  fi
  rm -f "$log" "$page"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- scripts/run output ---"; cat "$log"; exit 1; }

setsid scripts/run >"$log" 2>&1 &
pid=$!
for _ in $(seq 1200); do  # the build comes first: up to 10 minutes
  grep -q "try: curl" "$log" && break
  kill -0 "$pid" 2>/dev/null || fail "scripts/run exited before listening"
  sleep 0.5
done
grep -q "try: curl" "$log" || fail "no admin hint within 10 minutes"

# Built: what it serves. Not built: tests, benchmarks, other examples.
for f in build/run/host/gev-host build/run/examples/frame_client/frame_client \
         build/run/lib/gev/modules/{raw,echo,length_field,websocket,chat}.so; do
  [ -x "$f" ] || [ -f "$f" ] || fail "$f was not built"
done
for f in build/run/tests build/run/bench build/run/examples/embed_echo/embed_echo; do
  [ -e "$f" ] && fail "$f was built, but scripts/run does not use it"
done

grep -q "try: nc 127.0.0.1 1833" "$log" || fail "no nc hint"
grep -q "try: openssl s_client -connect 127.0.0.1:1843" "$log" || fail "no s_client hint"
grep -q "try: nc 127.0.0.1 1835 .*modules/proxy" "$log" || fail "no proxy hint"
grep -q "try: open https://127.0.0.1:8443/" "$log" || fail "no https chat hint"
[ "$(stat -c %a host/tls/localhost.key)" = 600 ] || fail "host/tls/localhost.key is not mode 600"
/usr/bin/python3 - <<'PY' || fail "a hint did not work"
import socket, urllib.request
s = socket.create_connection(("127.0.0.1", 1833), timeout=10)
s.sendall(b"hello\n")
assert s.recv(100) == b"hello\n"
p = socket.create_connection(("127.0.0.1", 1835), timeout=10)  # the proxy to :1833
p.sendall(b"through the proxy\n")
assert p.recv(100) == b"through the proxy\n"
page = urllib.request.urlopen("http://127.0.0.1:8080/", timeout=10).read()
assert b"<html" in page.lower(), page[:200]
metrics = urllib.request.urlopen("http://127.0.0.1:9091/metrics", timeout=10).read()
assert b"gev_connections" in metrics or b"gev_" in metrics
# The TLS listeners, verified against the self-signed certificate scripts/run made.
import ssl
ctx = ssl.create_default_context(cafile="host/tls/localhost.pem")
t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", 1843), timeout=10),
                    server_hostname="127.0.0.1")
t.sendall(b"over tls\n")
assert t.recv(100) == b"over tls\n"
page = urllib.request.urlopen("https://127.0.0.1:8443/", timeout=10, context=ctx).read()
assert b"<html" in page.lower(), page[:200]
PY
# curl against the https chat page, trusting the same certificate (as the README says).
# (Into a file: `curl | grep -q` fails when grep exits before curl has written it all.)
curl -sS --max-time 10 --cacert host/tls/localhost.pem -o "$page" https://127.0.0.1:8443/ &&
  grep -qi "<html" "$page" \
  || fail "curl --cacert https://127.0.0.1:8443/ did not get the chat page"
hint=$(sed -n 's/^    try: \(.*frame_client .*\)$/\1/p' "$log")
[ -n "$hint" ] || fail "no frame_client hint"
[ "$($hint)" = "hello" ] || fail "'$hint' did not answer hello"

# Ctrl-C reaches the host (the whole process group), which stops gracefully.
kill -INT -- "-$pid"
wait "$pid"
rc=$?
pid=""
[ $rc -eq 0 ] || fail "scripts/run exited $rc after Ctrl-C"
grep -q "admin: stopped" "$log" || fail "the host did not log its stop"
echo "scripts/run: built only what it serves, every hint works, Ctrl-C stops it (exit 0)"
