#!/usr/bin/env bash
# The Debian packages as an operator and a developer meet them: build them
# (scripts/package: cpack, lintian with no error), dpkg -i all three, start the installed
# gev-host the way its unit does (the ExecStart line, not under systemd) with the
# installed config, talk to its ports (TCP, UDP, admin), build a module out of tree
# against the installed gev-sdk-dev and load it into the running host by a reload,
# build an embedded echo against the installed libgev-dev (CMake package and
# pkg-config) and talk to it, then dpkg -r: nothing may be left but the conffile, which
# dpkg -P removes. Root only (dpkg); exits 77 (skipped) otherwise or when a gev package
# is installed already (it will not touch a machine's own install).
# usage: package_test.sh SOURCE_DIR
set -euo pipefail
src=$(cd "$1" && pwd)
if [ "$(id -u)" -ne 0 ] || ! command -v dpkg >/dev/null; then
  echo "package_test: needs root and dpkg; skipped"
  exit 77
fi
for p in gev-host libgev-dev gev-sdk-dev; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "installed\|config-files"; then
    echo "package_test: $p is already on this machine; skipped"
    exit 77
  fi
done
work=$(mktemp -d)
. "$src/tests/lib/serve.sh"
PKGS=(gev-host libgev-dev gev-sdk-dev)
cleanup() {
  kill_server
  rm -f /usr/lib/gev/modules/custom_protocol.so
  dpkg -P "${PKGS[@]}" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "package_test: $*"
  [ -f "$work/host.log" ] && { echo "--- host log ---"; cat "$work/host.log"; }
  exit 1
}
export PYTHONDONTWRITEBYTECODE=1  # (python3 below must not add .pyc files under /usr)
snapshot() { find /usr /etc /lib -xdev 2>/dev/null | grep -v __pycache__ | sort; }

echo "== build the packages (scripts/package)"
"$src/scripts/package" >"$work/package.log" 2>&1 || { cat "$work/package.log"; fail "scripts/package failed"; }
grep -E '^[EW]: ' "$work/package.log" || true  # lintian's findings, for the log
debs=("$src"/build/deb/*.deb)
[ ${#debs[@]} -eq 3 ] || fail "expected 3 packages, got: ${debs[*]}"

snapshot >"$work/before"
echo "== dpkg -i"
dpkg -i "${debs[@]}" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -i failed"; }
for f in /usr/bin/gev-host /usr/lib/gev/modules/echo.so /usr/lib/gev/modules/raw.so \
         /etc/gev/gev-host.conf /lib/systemd/system/gev-host.service \
         /lib/systemd/system/gev-host.socket /usr/share/man/man8/gev-host.8.gz \
         /usr/include/gev/server.h /usr/include/gev/sdk/gev_module.h; do
  [ -e "$f" ] || fail "$f is not installed"
done
dpkg-query -W -f='${Conffiles}\n' gev-host | grep -q /etc/gev/gev-host.conf ||
  fail "/etc/gev/gev-host.conf is not a conffile"
deps=$(dpkg-query -W -f='${Depends}' gev-host)
for lib in libc6 libstdc++6 libssl3 libboost-program-options; do
  grep -q "$lib" <<<"$deps" || fail "gev-host's Depends lacks $lib: $deps"
done
echo "gev-host Depends: $deps"

echo "== the installed host, started with the unit's ExecStart"
exec_start=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/gev-host.service)
read -ra argv <<<"$exec_start"
serve "$work/host.log" "${argv[@]}"
[ "$port" = 1833 ] || fail "the installed config's first listener is on $port, not 1833"
python3 - <<'PY' || fail "talking to the installed host failed"
import socket, urllib.request
s = socket.create_connection(("127.0.0.1", 1833), timeout=10)
s.sendall(b"hello tcp")
assert s.recv(100) == b"hello tcp"
s.close()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(10)
u.sendto(b"hello udp", ("127.0.0.1", 1833))
assert u.recvfrom(100)[0] == b"hello udp"
body = urllib.request.urlopen("http://127.0.0.1:9091/metrics", timeout=10).read().decode()
assert 'gev_connections_accepted_total{listener="echo-raw"} 1' in body, body[:400]
assert 'gev_udp_datagrams_received_total{listener="echo-udp"} 1' in body
PY
echo "ok   the installed gev-host serves TCP, UDP and /metrics on the installed config"

echo "== a module built out of tree against gev-sdk-dev, loaded by a reload"
cp -r "$src/examples/custom_protocol" "$work/module"
cmake -S "$work/module" -B "$work/module-build" -G Ninja >"$work/module.log" 2>&1 &&
  cmake --build "$work/module-build" >>"$work/module.log" 2>&1 ||
  { cat "$work/module.log"; fail "the module did not build against the installed SDK"; }
pkg-config --exists gev-sdk || fail "pkg-config does not know gev-sdk"
cp "$work/module-build/custom_protocol.so" /usr/lib/gev/modules/
cp /etc/gev/gev-host.conf "$work/conf.orig"
printf '\n[listener.custom]\nlisten = 127.0.0.1:1899\nprotocol = custom_protocol\nhandler = echo\n' \
  >>/etc/gev/gev-host.conf
kill -HUP "$server_pid"
for _ in $(seq 200); do grep -q "reload: generation 2" "$work/host.log" && break; sleep 0.1; done
grep -q "reload: generation 2" "$work/host.log" || fail "the reload did not finish"
"$work/module-build/custom_client" 1899 50 || fail "the out-of-tree module does not answer"
echo "ok   custom_protocol built against the installed SDK, loaded into the running host by SIGHUP"
stop_server "$work/host.log" || fail "the installed host did not stop cleanly"
rm /usr/lib/gev/modules/custom_protocol.so

echo "== an embedded echo against libgev-dev (CMake package, then pkg-config)"
cp -r "$src/examples/embed_out_of_tree" "$work/embed"
cmake -S "$work/embed" -B "$work/embed-build" -G Ninja >"$work/embed.log" 2>&1 &&
  cmake --build "$work/embed-build" >>"$work/embed.log" 2>&1 ||
  { cat "$work/embed.log"; fail "the embedded echo did not build against libgev-dev"; }
# shellcheck disable=SC2046  # the flags are meant to split
c++ -O2 "$work/embed/main.cc" $(pkg-config --cflags --libs gev) -o "$work/counting_echo_pc" ||
  fail "pkg-config gev does not build the embedded echo"
for bin in "$work/embed-build/counting_echo" "$work/counting_echo_pc"; do
  serve "$work/embed-run.log" "$bin" --address 127.0.0.1:0 --loops 1
  python3 - "$port" <<'PY' || fail "$bin does not answer"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"hello")
assert s.recv(100) == b"1: hello"
PY
  stop_server "$work/embed-run.log"
done
echo "ok   the core embedded from libgev-dev, by find_package(gev) and by pkg-config"

echo "== dpkg -r, then dpkg -P"
cp "$work/conf.orig" /etc/gev/gev-host.conf  # (a changed conffile is kept either way)
dpkg -r "${PKGS[@]}" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -r failed"; }
snapshot >"$work/after-remove"
left=$(comm -13 "$work/before" "$work/after-remove")
gone=$(comm -23 "$work/before" "$work/after-remove")
[ -z "$gone" ] || fail "dpkg -r removed files that were there before: $gone"
[ "$left" = $'/etc/gev\n/etc/gev/gev-host.conf' ] || fail "after dpkg -r, left behind: $left"
dpkg -P "${PKGS[@]}" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -P failed"; }
snapshot >"$work/after-purge"
diff "$work/before" "$work/after-purge" >/dev/null || fail "after dpkg -P: $(diff "$work/before" "$work/after-purge")"
echo "ok   dpkg -r leaves only the conffile; dpkg -P leaves nothing"
echo "package_test: passed"
