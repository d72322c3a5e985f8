#!/usr/bin/env bash
# Prices WebSocket against raw TCP echo on one gev-host binary: raw+echo driven by
# gev-load, websocket+echo driven by gev-load --ws, deflate off and on. Server pinned
# to one core, load to another, rounds interleaved; a markdown table of medians and
# ratios to raw.
set -euo pipefail
COMPARE_COMMAND="bench/$(basename "$0") $*"  # (for BENCH_SAVE: bench/compare_lib.sh)

usage() {
  cat <<'EOF'
usage: bench/ws_compare.sh [options]
  --build DIR        build directory (default build/release; env BUILD)
  --load PATH        gev-load binary (default DIR/bench/gev-load)
  --host PATH        gev-host binary (default DIR/host/gev-host)
  --contender NAME   run only this contender (repeatable): raw, ws, ws-deflate,
                     ws-deflate-compressible
  --scenario NAME    run only this scenario (repeatable)
  --text             WebSocket text frames (ASCII payload) instead of binary
  --peer NAME=CMD    also run this WebSocket server ({port} replaced), loaded like ws
  --peer-deflate NAME=CMD   likewise, loaded like ws-deflate (it must accept
                     permessage-deflate)
  --rate R           the paced scenario's total msgs/s (default 50000)
  --baseline NAME    contender the ratios are relative to (default raw, or the
                     first one run if raw is not)
  --rounds R         rounds, contenders interleaved in each (default 5)
  --duration S       measured seconds per run (default 5)
  --warmup S         unmeasured seconds per run (default 1)
  --quick            smoke test: 1 round of 2 s
  --server-cpu N     core for the server (default 0)
  --load-cpu N       core for gev-load (default 1)
Every contender is the same gev-host (--loops 1) with the echo handler:
  raw                      --protocol raw        gev-load
  ws                       --protocol websocket  gev-load --ws
  ws-deflate               --protocol websocket  gev-load --ws --deflate
  ws-deflate-compressible  --protocol websocket  gev-load --ws --deflate --compressible
Payloads are pseudo-random (deflate costs CPU and saves nothing) except for the
last, whose messages deflate about 1.3:1 at 512 B and 4.7:1 at 16 KiB.
Progress goes to stderr, the result table to stdout. Builds nothing.
EOF
}

BUILD=${BUILD:-build/release}
LOAD=""
HOST=""
ROUNDS=5
DURATION=5
WARMUP=1
SERVER_CPU=0
LOAD_CPU=1
FRAMES=""
KIND=binary
NAMES=()
ONLY=()
PEERS=()
RATE=50000
BASELINE=""

while (($# > 0)); do
  case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --load) LOAD=$2; shift 2 ;;
    --host) HOST=$2; shift 2 ;;
    --contender) NAMES+=("$2"); shift 2 ;;
    --scenario) ONLY+=("$2"); shift 2 ;;
    --text) FRAMES="--text"; KIND=text; shift ;;
    --peer) PEERS+=("ws|$2"); shift 2 ;;
    --peer-deflate) PEERS+=("ws-deflate|$2"); shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --baseline) BASELINE=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --quick) ROUNDS=1; DURATION=2; shift ;;
    --server-cpu) SERVER_CPU=$2; shift 2 ;;
    --load-cpu) LOAD_CPU=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "ws_compare: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

LOAD=${LOAD:-$BUILD/bench/gev-load}
HOST=${HOST:-$BUILD/host/gev-host}
[[ -x $LOAD ]] || { echo "ws_compare: gev-load not found at $LOAD (build it first)" >&2; exit 2; }
[[ -x $HOST ]] || { echo "ws_compare: gev-host not found at $HOST (build it first)" >&2; exit 2; }

# Contender -> gev-host protocol and extra gev-load arguments. The server is the same
# binary and handler each time, so the differences are the protocol module's.
ALL_NAMES=(raw ws ws-deflate ws-deflate-compressible)
declare -A PROTO=([raw]=raw [ws]=websocket [ws-deflate]=websocket
  [ws-deflate-compressible]=websocket)
declare -A LOAD_ARGS=([raw]="" [ws]="--ws $FRAMES" [ws-deflate]="--ws --deflate $FRAMES"
  [ws-deflate-compressible]="--ws --deflate --compressible $FRAMES")
if ((${#NAMES[@]} == 0)); then NAMES=("${ALL_NAMES[@]}"); fi
for n in "${NAMES[@]}"; do
  [[ -n ${PROTO[$n]+x} ]] || { echo "ws_compare: unknown contender $n" >&2; exit 2; }
done
declare -A CMDS=()
for n in "${NAMES[@]}"; do
  CMDS[$n]="$HOST --listen 127.0.0.1:{port} --loops 1 --admin off --log-level warn \
--protocol ${PROTO[$n]} --handler echo"
done
for p in "${PEERS[@]}"; do  # "LIKE|NAME=CMD": loaded as contender LIKE is
  like=${p%%|*}
  entry=${p#*|}
  name=${entry%%=*}
  [[ $name != "$entry" && -n ${entry#*=} ]] || { echo "ws_compare: bad peer '$entry' (want NAME=CMD)" >&2; exit 2; }
  NAMES+=("$name")
  CMDS[$name]=${entry#*=}
  LOAD_ARGS[$name]=${LOAD_ARGS[$like]}
done
if [[ -z $BASELINE ]]; then
  BASELINE=${NAMES[0]}
  for n in "${NAMES[@]}"; do [[ $n == raw ]] && BASELINE=raw; done
fi

# Scenario name -> gev-load arguments (order kept in SCEN_NAMES).
SCEN_NAMES=(50c-512B-paced 50c-512B-pipe8 50c-16KiB)
declare -A SCEN_ARGS=(
  [50c-512B-paced]="--conns 50 --size 512 --pipeline 1 --rate $RATE"
  [50c-512B-pipe8]="--conns 50 --size 512 --pipeline 8"
  [50c-16KiB]="--conns 50 --size 16384 --pipeline 1"
)
if ((${#ONLY[@]} > 0)); then
  for s in "${ONLY[@]}"; do
    [[ -n ${SCEN_ARGS[$s]+x} ]] || { echo "ws_compare: unknown scenario $s" >&2; exit 2; }
  done
  SCEN_NAMES=("${ONLY[@]}")
fi

PROG=ws_compare
# shellcheck source=compare_lib.sh
source "$(dirname "$0")/compare_lib.sh"
compare_run
compare_table "WebSocket echo on gev-host: $ROUNDS rounds, ${DURATION} s (+${WARMUP} s\
 warmup) per run, server on cpu $SERVER_CPU, gev-load on cpu $LOAD_CPU, $KIND frames;\
 medians, ratios vs $BASELINE." contender
