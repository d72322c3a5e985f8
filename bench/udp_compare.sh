#!/usr/bin/env bash
# UDP echo: gev-host (raw + echo over transport = udp, one loop) and the embedded core
# (examples/embed_udp_echo, one loop) against the hand-written floors of
# bench/peers/udp_echo.cc: recvmmsg/sendmmsg ("floor") and recvfrom/sendto ("plain").
# Server pinned to one core, gev-udp-load on the other; interleaved rounds, medians,
# ratios to the floor. Unpaced scenarios keep a window in flight per peer (the server
# saturates: CPU per datagram there is what batching buys); paced ones hold a rate no
# server saturates at. Every reply is checked; "lost" datagrams are reported by
# gev-udp-load in its own output (stderr of a failed run).
set -euo pipefail
COMPARE_COMMAND="bench/$(basename "$0") $*"  # (for BENCH_SAVE: bench/compare_lib.sh)

usage() {
  cat <<'EOT'
usage: bench/udp_compare.sh [options]
  --build DIR        build directory (default build/release; env BUILD)
  --contender NAME   run only this one (repeatable): floor plain embed gev
  --peer NAME=CMD    another UDP echo server; {port} is its port
  --scenario NAME    run only this scenario (repeatable)
  --rounds R         rounds (default 5)
  --duration S       measured seconds per run (default 5)
  --warmup S         unmeasured seconds per run (default 1)
  --quick            1 round of 2 s
  --server-cpu N     core for the server (default 0)
  --load-cpu N       core for gev-udp-load (default 1)
Scenarios: 64B-unpaced and 1200B-unpaced (16 peers x 4 in flight), 64B-paced and
1200B-paced (16 peers, 50,000 datagrams/s in total). Builds nothing.
EOT
}

BUILD=${BUILD:-build/release}
ROUNDS=5
DURATION=5
WARMUP=1
SERVER_CPU=0
LOAD_CPU=1
NAMES=()
ONLY=()
PEERS=()
while (($# > 0)); do
  case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --contender) NAMES+=("$2"); shift 2 ;;
    --peer) PEERS+=("$2"); shift 2 ;;
    --scenario) ONLY+=("$2"); shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --quick) ROUNDS=1; DURATION=2; shift ;;
    --server-cpu) SERVER_CPU=$2; shift 2 ;;
    --load-cpu) LOAD_CPU=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "udp_compare: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

LOAD=$BUILD/bench/gev-udp-load
ECHO=$BUILD/bench/gev-udp-echo
HOST=$BUILD/host/gev-host
EMBED=$BUILD/examples/embed_udp_echo/embed_udp_echo
for f in "$LOAD" "$ECHO" "$HOST" "$EMBED"; do
  [[ -x $f ]] || { echo "udp_compare: $f not found (build it first)" >&2; exit 2; }
done

declare -A CMDS=(
  [floor]="$ECHO --mode mmsg --port {port}"
  [plain]="$ECHO --mode plain --port {port}"
  [embed]="$EMBED --port {port} --loops 1 --log-level warn"
  [gev]="$HOST --listen udp://127.0.0.1:{port} --loops 1 --admin off --log-level warn --protocol raw --handler echo"
)
ALL=(floor plain embed gev)
for p in "${PEERS[@]}"; do
  CMDS[${p%%=*}]=${p#*=}
  ALL+=("${p%%=*}")
done
((${#NAMES[@]} > 0)) || NAMES=("${ALL[@]}")
for n in "${NAMES[@]}"; do
  [[ -n ${CMDS[$n]+x} ]] || { echo "udp_compare: unknown contender $n" >&2; exit 2; }
done

SCEN_NAMES=(64B-unpaced 1200B-unpaced 64B-paced 1200B-paced)
declare -A SCEN_ARGS=(
  [64B-unpaced]="--peers 16 --size 64 --window 4"
  [1200B-unpaced]="--peers 16 --size 1200 --window 4"
  [64B-paced]="--peers 16 --size 64 --rate 50000"
  [1200B-paced]="--peers 16 --size 1200 --rate 50000"
)
if ((${#ONLY[@]} > 0)); then
  for s in "${ONLY[@]}"; do
    [[ -n ${SCEN_ARGS[$s]+x} ]] || { echo "udp_compare: unknown scenario $s" >&2; exit 2; }
  done
  SCEN_NAMES=("${ONLY[@]}")
fi

PROG=udp_compare
UNIT=servers
COMPARE_UDP=1
BASELINE=floor
printf '%s\n' "${NAMES[@]}" | grep -qx floor || BASELINE=${NAMES[0]}
declare -A LOAD_ARGS=()
declare -A SCEN_LOAD=()
# shellcheck source=compare_lib.sh
source "$(dirname "$0")/compare_lib.sh"
compare_run
compare_table "UDP echo: $ROUNDS rounds, ${DURATION} s (+${WARMUP} s warmup) per run, server on\
 cpu $SERVER_CPU, gev-udp-load on cpu $LOAD_CPU; medians, ratios vs $BASELINE (msgs = datagrams)." server
