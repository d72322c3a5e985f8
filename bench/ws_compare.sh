#!/usr/bin/env bash
# Prices WebSocket against raw TCP echo on one gev-host binary: raw+echo driven by
# gev-load, websocket+echo driven by gev-load --ws, deflate off and on. Server pinned
# to one core, load to another, rounds interleaved; a markdown table of medians and
# ratios to raw.
set -euo pipefail

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

while (($# > 0)); do
  case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --load) LOAD=$2; shift 2 ;;
    --host) HOST=$2; shift 2 ;;
    --contender) NAMES+=("$2"); shift 2 ;;
    --scenario) ONLY+=("$2"); shift 2 ;;
    --text) FRAMES="--text"; KIND=text; shift ;;
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
BASELINE=raw

# Scenario name -> gev-load arguments (order kept in SCEN_NAMES).
SCEN_NAMES=(50c-512B-paced 50c-512B-pipe8 50c-16KiB)
declare -A SCEN_ARGS=(
  [50c-512B-paced]="--conns 50 --size 512 --pipeline 1 --rate 50000"
  [50c-512B-pipe8]="--conns 50 --size 512 --pipeline 8"
  [50c-16KiB]="--conns 50 --size 16384 --pipeline 1"
)
if ((${#ONLY[@]} > 0)); then
  for s in "${ONLY[@]}"; do
    [[ -n ${SCEN_ARGS[$s]+x} ]] || { echo "ws_compare: unknown scenario $s" >&2; exit 2; }
  done
  SCEN_NAMES=("${ONLY[@]}")
fi

# Command prefixes that pin the server and the load to their own cores.
SRV_PIN=(taskset -c "$SERVER_CPU")
LOAD_PIN=(taskset -c "$LOAD_CPU")
if (($(nproc) < 2)) || ! command -v taskset >/dev/null; then
  echo "ws_compare: warning: fewer than 2 cores or no taskset; not pinning" >&2
  SRV_PIN=()
  LOAD_PIN=()
fi

runs=$((ROUNDS * ${#NAMES[@]} * ${#SCEN_NAMES[@]}))
total=$(awk -v n="$runs" -v d="$DURATION" -v w="$WARMUP" 'BEGIN { printf "%d", n * (d + w + 1) }')
echo "ws_compare: $ROUNDS rounds x ${#NAMES[@]} contenders (${NAMES[*]}) x" \
  "${#SCEN_NAMES[@]} scenarios x (${DURATION}+${WARMUP}+~1 s) = ~${total} s" >&2

# Server ports stay below the ephemeral range so client ports never collide.
PORT=$((20000 + RANDOM % 10000))
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
next_port() {
  PORT=$((PORT + 1))
  ((PORT < 32000)) || PORT=20000
  while port_in_use "$PORT"; do PORT=$((PORT + 1)); done
}

SERVER_PID=""
stop_server() {
  [[ -n $SERVER_PID ]] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 20); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}
trap 'exit 130' INT TERM

json_get() {  # json_get KEY JSON
  grep -o "\"$1\": [-0-9.eE+]*" <<<"$2" | awk '{ print $2 }'
}

declare -A TPUT NSMSG P99 OK FAIL
ERRLOG=$(mktemp)
trap 'stop_server; rm -f "$ERRLOG"' EXIT

# Runs one contender under one scenario; appends results to the tables.
run_one() {
  local name=$1 scen=$2 key="$2|$1"
  next_port
  "${SRV_PIN[@]}" "$HOST" --listen "127.0.0.1:$PORT" --loops 1 --admin off --log-level warn \
    --protocol "${PROTO[$name]}" --handler echo >/dev/null 2>"$ERRLOG" &
  SERVER_PID=$!
  local ready=0
  for _ in $(seq 100); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    if port_in_use "$PORT"; then ready=1; break; fi
    sleep 0.05
  done
  local out="" rc=0
  if ((ready)); then
    # shellcheck disable=SC2086  # scenario and contender args are meant to split
    out=$(timeout $((${DURATION%.*} + ${WARMUP%.*} + 30)) \
      "${LOAD_PIN[@]}" "$LOAD" --port "$PORT" ${SCEN_ARGS[$scen]} ${LOAD_ARGS[$name]} \
      --duration "$DURATION" --warmup "$WARMUP" --server-pid "$SERVER_PID" \
      --json 2>>"$ERRLOG") || rc=$?
  else
    rc=-1
    echo "ws_compare: $name did not listen on port $PORT within 5 s" >&2
  fi
  stop_server
  local tput ns p99
  tput=$(json_get 'msgs/s' "$out")
  ns=$(json_get server_cpu_ns_per_msg "$out")
  p99=$(json_get p99_us "$out")
  if ((rc != 0)) || [[ -z $tput || -z $ns ]]; then
    FAIL[$key]=$((${FAIL[$key]:-0} + 1))
    echo "  $scen $name: FAILED (rc=$rc)" >&2
    tail -n 5 "$ERRLOG" | sed 's/^/    /' >&2
    return
  fi
  TPUT[$key]+="$tput "
  NSMSG[$key]+="$ns "
  P99[$key]+="$p99 "
  OK[$key]=$((${OK[$key]:-0} + 1))
  echo "  $scen $name: msgs/s=$tput server_ns/msg=$ns p99_us=$p99" >&2
}

for ((r = 1; r <= ROUNDS; r++)); do
  echo "round $r/$ROUNDS" >&2
  for scen in "${SCEN_NAMES[@]}"; do
    for name in "${NAMES[@]}"; do
      run_one "$name" "$scen"
    done
  done
done

median() {  # median of whitespace-separated numbers; empty if none
  tr ' ' '\n' <<<"$1" | grep . | sort -g |
    awk '{ a[NR] = $1 } END { if (NR == 0) exit;
      if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
ratio() {  # ratio A B -> A/B with 2 decimals, "n/a" if unknown
  awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a";
    else printf "%.2f", a / b }'
}

echo "WebSocket vs raw echo on gev-host: $ROUNDS rounds, ${DURATION} s (+${WARMUP} s warmup)" \
  "per run, server on cpu $SERVER_CPU, gev-load on cpu $LOAD_CPU, $KIND frames;" \
  "medians, ratios vs $BASELINE."
echo
echo "| scenario | contender | msgs/s | msgs/s vs $BASELINE | server ns/msg | ns/msg vs $BASELINE | p99 us | ok/failed |"
echo "|---|---|---:|---:|---:|---:|---:|---|"
failed=0
for scen in "${SCEN_NAMES[@]}"; do
  base_t=$(median "${TPUT[$scen|$BASELINE]:-}")
  base_n=$(median "${NSMSG[$scen|$BASELINE]:-}")
  for name in "${NAMES[@]}"; do
    key="$scen|$name"
    t=$(median "${TPUT[$key]:-}")
    n=$(median "${NSMSG[$key]:-}")
    p=$(median "${P99[$key]:-}")
    f=${FAIL[$key]:-0}
    ((f == 0)) || failed=1
    printf '| %s | %s | %s | %s | %s | %s | %s | %s/%s |\n' "$scen" "$name" \
      "${t:-n/a}" "$(ratio "$t" "$base_t")" "${n:-n/a}" "$(ratio "$n" "$base_n")" \
      "${p:-n/a}" "${OK[$key]:-0}" "$f"
  done
done
exit "$failed"
