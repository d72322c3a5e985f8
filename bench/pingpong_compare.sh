#!/usr/bin/env bash
# The seed's published shape: 4 KiB ping-pong (one message in flight per connection) at
# 10, 100, 1,000 and 10,000 connections, for servers run with one loop or with all of
# them. gev-load reports msgs/s and the server's CPU per message; bench/report turns
# them into MiB/s (one way) and server CPU per MiB.
set -euo pipefail
COMPARE_COMMAND="bench/$(basename "$0") $*"  # (for BENCH_SAVE: bench/compare_lib.sh)

usage() {
  cat <<'EOF2'
usage: bench/pingpong_compare.sh [options]
  --build DIR        build directory (default build/release; env BUILD)
  --load PATH        gev-load binary (default DIR/bench/gev-load)
  --loops N          loops for every server that takes {loops} (default 1). With 1 the
                     server runs on cpu 0 and gev-load on cpu 1; with more nothing is
                     pinned (the servers' loops and the client share the cores)
  --server NAME=CMD  a server; {port} and {loops} are replaced. Repeatable; adds to
                     the defaults (--only-given: replaces them):
                       floor=DIR/bench/gev-epoll-echo (one loop whatever --loops says)
                       gev=DIR/examples/embed_echo/embed_echo --loops {loops}
                       host=DIR/host/gev-host --loops {loops} (raw+echo modules)
                     A peer built elsewhere, e.g. Go gev:
                       --server "gev-go=/tmp/gopeers/bin/gev-go -port {port} -loops {loops}"
  --only-given       run only the --server ones
  --conns LIST       connection counts (default "10 100 1000 10000")
  --size S           message size (default 4096)
  --baseline NAME    server the ratios are relative to (default gev)
  --rounds R         rounds, servers interleaved in each (default 3)
  --duration S       measured seconds per run (default 3)
  --warmup S         unmeasured seconds per run (default 1)
  --quick            smoke test: 1 round of 1 s, 10 and 100 connections
Progress goes to stderr, the result table to stdout. Builds nothing.
EOF2
}

BUILD=${BUILD:-build/release}
LOAD=""
LOOPS=1
ROUNDS=3
DURATION=3
WARMUP=1
SIZE=4096
CONNS="10 100 1000 10000"
BASELINE=gev
ONLY_GIVEN=0
GIVEN=()
SERVER_CPU=0
LOAD_CPU=1

while (($# > 0)); do
  case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --load) LOAD=$2; shift 2 ;;
    --loops) LOOPS=$2; shift 2 ;;
    --server) GIVEN+=("$2"); shift 2 ;;
    --only-given) ONLY_GIVEN=1; shift ;;
    --conns) CONNS=$2; shift 2 ;;
    --size) SIZE=$2; shift 2 ;;
    --baseline) BASELINE=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --quick) ROUNDS=1; DURATION=1; CONNS="10 100"; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "pingpong_compare: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

LOAD=${LOAD:-$BUILD/bench/gev-load}
[[ -x $LOAD ]] || { echo "pingpong_compare: gev-load not found at $LOAD (build it first)" >&2; exit 2; }
SERVERS=()
if ((!ONLY_GIVEN)); then
  SERVERS=(
    "floor=$BUILD/bench/gev-epoll-echo --port {port}"
    "gev=$BUILD/examples/embed_echo/embed_echo --port {port} --loops {loops}"
    "host=$BUILD/host/gev-host --listen 127.0.0.1:{port} --loops {loops} --admin off --log-level warn --protocol raw --handler echo"
  )
fi
SERVERS+=("${GIVEN[@]}")

PROG=pingpong_compare
UNIT=servers
declare -A LOAD_ARGS=()
# shellcheck source=compare_lib.sh
source "$(dirname "$0")/compare_lib.sh"
NAMES=()
declare -A CMDS
for entry in "${SERVERS[@]}"; do compare_add_server "${entry//\{loops\}/$LOOPS}"; done
((${#NAMES[@]} > 0)) || { echo "pingpong_compare: no server to run" >&2; exit 2; }
[[ " ${NAMES[*]} " == *" $BASELINE "* ]] || BASELINE=${NAMES[0]}

# 10,000 connections need 10,000 descriptors in gev-load and in the server.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

SCEN_NAMES=()
declare -A SCEN_ARGS=()
for n in $CONNS; do
  SCEN_NAMES+=("${n}c")
  SCEN_ARGS[${n}c]="--conns $n --size $SIZE --pipeline 1"
done

if ((LOOPS > 1)); then COMPARE_NO_PIN=1; fi
compare_run
if ((LOOPS > 1)); then where="$LOOPS loops, nothing pinned"; else
  where="one loop, server on cpu $SERVER_CPU, gev-load on cpu $LOAD_CPU"; fi
compare_table "Ping-pong, $SIZE B, one message in flight per connection: $ROUNDS rounds,\
 ${DURATION} s (+${WARMUP} s warmup) per run, $where; medians, ratios vs $BASELINE." server
