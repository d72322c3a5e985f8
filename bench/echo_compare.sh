#!/usr/bin/env bash
# Compares echo servers with gev-load (server pinned to one core, load to
# another) and prints a markdown table of medians relative to the floor.
set -euo pipefail
COMPARE_COMMAND="bench/$(basename "$0") $*"  # (for BENCH_SAVE: bench/compare_lib.sh)

usage() {
  cat <<'EOF'
usage: bench/echo_compare.sh [options]
  --build DIR        build directory (default build/release; env BUILD)
  --load PATH        gev-load binary (default DIR/bench/gev-load)
  --server NAME=CMD  server to compare; {port} is replaced by the port.
                     Repeatable; replaces the defaults:
                       floor=DIR/bench/gev-epoll-echo --port {port}
                       gev=DIR/examples/embed_echo/embed_echo --port {port} --loops 1
                       libuv=DIR/bench/gev-uv-echo --port {port} (if built)
                       host=DIR/host/gev-host ... --protocol raw --handler echo (modules over the C ABI)
  --baseline NAME    server the ratios are relative to (default floor)
  --scenario NAME    run only this scenario (repeatable)
  --rate R           the paced scenario's total msgs/s (default 50000)
  --rounds R         rounds, servers interleaved in each (default 5)
  --duration S       measured seconds per run (default 5)
  --warmup S         unmeasured seconds per run (default 1)
  --quick            smoke test: 1 round of 2 s
  --server-cpu N     core for the server (default 0)
  --load-cpu N       core for gev-load (default 1)
Progress goes to stderr, the result table to stdout. Builds nothing.
EOF
}

BUILD=${BUILD:-build/release}
LOAD=""
ROUNDS=5
DURATION=5
WARMUP=1
BASELINE=floor
SERVER_CPU=0
LOAD_CPU=1
SERVERS=()
ONLY=()
RATE=50000

while (($# > 0)); do
  case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --load) LOAD=$2; shift 2 ;;
    --server) SERVERS+=("$2"); shift 2 ;;
    --baseline) BASELINE=$2; shift 2 ;;
    --scenario) ONLY+=("$2"); shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --quick) ROUNDS=1; DURATION=2; shift ;;
    --server-cpu) SERVER_CPU=$2; shift 2 ;;
    --load-cpu) LOAD_CPU=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "echo_compare: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

LOAD=${LOAD:-$BUILD/bench/gev-load}
if ((${#SERVERS[@]} == 0)); then
  SERVERS=(
    "floor=$BUILD/bench/gev-epoll-echo --port {port}"
    "gev=$BUILD/examples/embed_echo/embed_echo --port {port} --loops 1"
    "libuv=$BUILD/bench/gev-uv-echo --port {port}"
    "host=$BUILD/host/gev-host --listen 127.0.0.1:{port} --loops 1 --admin off --log-level warn --protocol raw --handler echo"
  )
fi

# Scenario name -> gev-load arguments (order kept in SCEN_NAMES).
SCEN_NAMES=(50c-512B-paced 50c-512B-pipe8 1000c-64B 50c-16KiB churn-4t-64B)
declare -A SCEN_ARGS=(
  [50c-512B-paced]="--conns 50 --size 512 --pipeline 1 --rate $RATE"
  [50c-512B-pipe8]="--conns 50 --size 512 --pipeline 8"
  [1000c-64B]="--conns 1000 --size 64 --pipeline 1"
  [50c-16KiB]="--conns 50 --size 16384 --pipeline 1"
  [churn-4t-64B]="--threads 4 --size 64"
)
# churn: 4 client threads each connect, echo 64 B once and close, in a loop; msgs/s is
# connections/s and ns/msg the server's CPU per connection.
declare -A SCEN_LOAD=([churn-4t-64B]="$BUILD/bench/gev-connect-load")
if ((${#ONLY[@]} > 0)); then
  for s in "${ONLY[@]}"; do
    [[ -n ${SCEN_ARGS[$s]+x} ]] || { echo "echo_compare: unknown scenario $s" >&2; exit 2; }
  done
  SCEN_NAMES=("${ONLY[@]}")
fi

[[ -x $LOAD ]] || { echo "echo_compare: gev-load not found at $LOAD (build it first)" >&2; exit 2; }

PROG=echo_compare
UNIT=servers
declare -A LOAD_ARGS=()
# shellcheck source=compare_lib.sh
source "$(dirname "$0")/compare_lib.sh"
# Keep only servers whose binary exists.
NAMES=()
declare -A CMDS
for entry in "${SERVERS[@]}"; do compare_add_server "$entry"; done
((${#NAMES[@]} > 0)) || { echo "echo_compare: no server to run" >&2; exit 2; }

compare_run
compare_table "Echo comparison: $ROUNDS rounds, ${DURATION} s (+${WARMUP} s warmup) per run,\
 server on cpu $SERVER_CPU, gev-load on cpu $LOAD_CPU; medians, ratios vs $BASELINE." server
