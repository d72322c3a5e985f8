#!/usr/bin/env bash
# Builds sdk/examples/c_handler, a handler in plain C, as a third party would: install the
# SDK alone to a temporary prefix, configure the example (a C-only CMake project) against
# that prefix only, build it, and serve it with gev-host over the built-in line protocol.
# Then checks the replies it computes (upper-cased lines; with c_handler.mode=length their
# lengths), pipelined and over two connections, and that an unknown option refuses it.
# If pkg-config is there, the same file is also built with the README's pkg-config line.
# usage: c_module_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1
build=$2
work=$(mktemp -d)
. "$(dirname "$0")/../lib/serve.sh"
cleanup() {
  kill_server
  rm -rf "$work"
}
trap cleanup EXIT

cmake --install "$build" --component sdk --prefix "$work/prefix" >/dev/null
test -f "$work/prefix/lib/cmake/gev-sdk/gev-sdkConfig.cmake"

# Configure from a copy, so nothing can reach back into the source tree. The project
# enables C only: the SDK package must not ask for a C++ compiler.
cp -r "$src/sdk/examples/c_handler" "$work/example"
cmake -S "$work/example" -B "$work/example-build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" \
  >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; exit 1; }
cmake --build "$work/example-build" >/dev/null
test -f "$work/example-build/c_handler.so"

# Starts gev-host on a free port with the modules in $1 and the extra arguments that
# follow; sets server_pid and port.
start_host() {
  local dir=$1
  shift
  serve "$work/host.log" "$build/host/gev-host" --listen 127.0.0.1:0 --loops 2 --admin off \
    --module-dir "$dir" --protocol line --handler c_handler "$@"
}
stop_host() {
  stop_server "$work/host.log"
}

# Sends every line of each request in one write, on two connections at once, and checks
# that each gets exactly its expected replies. A 10000-byte line outgrows the loop's
# first reply buffer (4 KiB); an empty line gets an empty line.
talk() {
  python3 - "$port" "$1" <<'EOF'
import socket, sys
port, mode = int(sys.argv[1]), sys.argv[2]
long_line = "x" * 10000
lines = ["hello, World 1", "abc", "", long_line, "MiXeD 123 z"]
if mode == "upper":
    want = [l.upper() for l in lines]
else:
    want = [str(len(l.encode())) for l in lines]
request = "".join(l + "\n" for l in lines).encode()
expected = "".join(w + "\n" for w in want).encode()
conns = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(2)]
for s in conns:
    s.sendall(request)
for i, s in enumerate(conns):
    got = b""
    while len(got) < len(expected):
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    if got != expected:
        sys.exit(f"connection {i} ({mode}): want {expected[:80]!r}..., got {got[:80]!r}... "
                 f"({len(got)} of {len(expected)} bytes)")
    s.close()
EOF
}

mkdir "$work/modules"
cp "$work/example-build/c_handler.so" "$build/lib/gev/modules/line.so" "$work/modules/"

start_host "$work/modules"
talk upper
grep -q "loaded module c_handler 1.0.0" "$work/host.log"
stop_host

start_host "$work/modules" --module-opt c_handler.mode=length
talk length
stop_host

# An option the module does not know refuses it at load: the host does not start.
if timeout 30 "$build/host/gev-host" --listen 127.0.0.1:0 --loops 1 --admin off \
     --module-dir "$work/modules" --protocol line --handler c_handler \
     --module-opt c_handler.colour=blue > "$work/refused.log" 2>&1; then
  echo "gev-host started with an unknown c_handler option"; cat "$work/refused.log"; exit 1
fi
grep -q "unknown option c_handler.colour=blue" "$work/refused.log" ||
  { cat "$work/refused.log"; exit 1; }

# pkg-config against the same temporary prefix: the include directory is that prefix's
# (the .pc file is relocatable), the flags are those every module needs, and they alone
# build a module that loads and serves: here the C one, and a C++ one (the SDK's
# custom_protocol example), which must export nothing but its entry point and no
# STB_GNU_UNIQUE symbol (which would keep it from unloading).
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
flags=$(pkg-config --cflags --libs gev-sdk)
echo "pkg-config gev-sdk: $flags"
for want in "-I$work/prefix/lib/pkgconfig/../../include" -fPIC -fvisibility=hidden \
            -fno-gnu-unique -shared -Wl,-z,defs; do
  case " $flags " in *" $want "*) ;; *) echo "pkg-config gev-sdk lacks $want"; exit 1 ;; esac
done
mkdir "$work/pc-modules"
# shellcheck disable=SC2086  # the flags are meant to split
cc -std=c11 "$work/example/c_handler.c" $flags -o "$work/pc-modules/c_handler.so"
# shellcheck disable=SC2086
c++ -std=c++20 "$src/examples/custom_protocol/custom_protocol.cc" $flags \
  -o "$work/pc-modules/custom_protocol.so"
# (libstdc++ gives namespace std default visibility, so its template instances stay
# exported, as they are from the modules CMake builds.)
for so in "$work"/pc-modules/*.so; do
  exported=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVWu]$/ {print $3}' | c++filt |
             grep -Ev 'std::|__gnu_cxx::|operator (new|delete)' | sort -u)
  [ "$exported" = "gev_module_entry" ] || { echo "$so exports: $exported"; exit 1; }
  if readelf -sW --dyn-syms "$so" | grep -q UNIQUE; then echo "$so has GNU_UNIQUE"; exit 1; fi
done
cp "$build/lib/gev/modules/line.so" "$work/pc-modules/"
start_host "$work/pc-modules"
talk upper
stop_host
echo "plain C module: built against the installed SDK, loaded, computed its replies"
