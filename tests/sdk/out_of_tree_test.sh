#!/usr/bin/env bash
# Builds examples/custom_protocol as a third party would: install the SDK alone to a
# temporary prefix, configure the example against that prefix only, build it, drop the
# .so into a module directory next to the built-in echo, and talk to gev-host.
# usage: out_of_tree_test.sh SOURCE_DIR BUILD_DIR
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
test -f "$work/prefix/include/gev/sdk/gev_module.h"
test -f "$work/prefix/lib/cmake/gev-sdk/gev-sdkConfig.cmake"
test -f "$work/prefix/lib/pkgconfig/gev-sdk.pc"

# Configure from a copy, so nothing can reach back into the source tree.
cp -r "$src/examples/custom_protocol" "$work/example"
cmake -S "$work/example" -B "$work/example-build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/example-build" >/dev/null

mkdir "$work/modules"
cp "$work/example-build/custom_protocol.so" "$build/lib/gev/modules/echo.so" "$work/modules/"
serve "$work/host.log" "$build/host/gev-host" --listen 127.0.0.1:0 --loops 1 --admin off \
  --module-dir "$work/modules" --protocol custom_protocol --handler echo
"$work/example-build/custom_client" "$port" 200
grep -q "loaded module custom_protocol 1.0.0" "$work/host.log"
echo "out-of-tree module: built against the installed SDK, loaded and served"
