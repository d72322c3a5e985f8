#!/usr/bin/env bash
# The embeddable core as a user installs it: configure gev with GEV_CORE_ONLY (which must
# need no Boost, OpenSSL or zlib), build and install it to a temporary prefix, build
# examples/embed_out_of_tree against that prefix alone (find_package(gev) -> gev::core),
# and talk to it. Then the same program built with nothing but pkg-config's flags.
# usage: core_install_test.sh SOURCE_DIR
set -euo pipefail
src=$1
work=$(mktemp -d)
. "$(dirname "$0")/lib/serve.sh"
cleanup() {
  kill_server
  rm -rf "$work"
}
trap cleanup EXIT

cmake -S "$src" -B "$work/core" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGEV_CORE_ONLY=ON \
  >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; exit 1; }
if grep -Eiq '^(Boost|OpenSSL|ZLIB|doctest|benchmark)[A-Za-z_]*(_DIR|_INCLUDE_DIR|_LIBRARY):' \
     "$work/core/CMakeCache.txt"; then
  echo "GEV_CORE_ONLY looked for a dependency the core does not have:"
  grep -Ei '^(Boost|OpenSSL|ZLIB|doctest|benchmark)' "$work/core/CMakeCache.txt"
  exit 1
fi
cmake --build "$work/core" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
cmake --install "$work/core" --component core --prefix "$work/prefix" >/dev/null
test -f "$work/prefix/lib/libgev-core.a"
test -f "$work/prefix/include/gev/server.h"
test -f "$work/prefix/lib/cmake/gev/gevConfig.cmake"
if [ -e "$work/prefix/include/gev/sdk" ] || [ -e "$work/prefix/bin" ]; then
  echo "the core component installed more than the core:"; find "$work/prefix"; exit 1
fi

cp -r "$src/examples/embed_out_of_tree" "$work/example"
cmake -S "$work/example" -B "$work/example-build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" \
  >"$work/example.log" 2>&1 || { cat "$work/example.log"; exit 1; }
cmake --build "$work/example-build" >>"$work/example.log" 2>&1 || { cat "$work/example.log"; exit 1; }

# Starts $1 on a free port and checks two reads on one connection are counted.
serve_and_check() {
  serve "$work/server.log" "$1" --address 127.0.0.1:0 --loops 2
  python3 - "$port" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
for n, text in ((1, b"hello"), (2, b"again")):
    s.sendall(text)
    want = b"%d: %s" % (n, text)
    got = b""
    while len(got) < len(want):
        chunk = s.recv(100)
        if not chunk:
            break
        got += chunk
    assert got == want, (got, want)
PY
  stop_server "$work/server.log"
}
serve_and_check "$work/example-build/counting_echo"

# pkg-config alone.
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
# shellcheck disable=SC2046  # the flags are meant to split
c++ -O2 "$work/example/main.cc" $(pkg-config --cflags --libs gev) -o "$work/counting_echo_pc"
serve_and_check "$work/counting_echo_pc"
echo "embeddable core: installed alone, found by find_package(gev) and by pkg-config, serving"
