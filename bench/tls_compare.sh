#!/usr/bin/env bash
# Prices TLS against plain TCP on one gev-host binary (raw echo and WebSocket echo, each
# plain and over TLS), optionally beside a peer server given as a command line (e.g.
# uWebSockets' SSL echo, built elsewhere: nothing here builds it). Server pinned to one
# core, load to another, rounds interleaved; a markdown table of medians and ratios.
set -euo pipefail
COMPARE_COMMAND="bench/$(basename "$0") $*"  # (for BENCH_SAVE: bench/compare_lib.sh)

usage() {
  cat <<'EOF2'
usage: bench/tls_compare.sh [options]
  --build DIR          build directory (default build/release; env BUILD)
  --load PATH          gev-load binary (default DIR/bench/gev-load)
  --host PATH          gev-host binary (default DIR/host/gev-host)
  --contender NAME     run only this contender (repeatable): raw, tls, tls12, ws, ws-tls
  --peer NAME=CMD      one more contender: CMD starts it, {port} {cert} {key} replaced
                       (the certificate and key this script made); load as ws-tls's
  --peer-load ARGS     gev-load arguments for the peers instead (e.g. "--ws --tls")
  --baseline NAME      the ratio columns' reference (default raw)
  --scenario NAME      run only this scenario (repeatable)
  --rounds R           rounds, contenders interleaved in each (default 5)
  --duration S         measured seconds per run (default 5)
  --warmup S           unmeasured seconds per run (default 1)
  --quick              smoke test: 1 round of 2 s
  --server-cpu N       core for the server (default 0)
  --load-cpu N         core for gev-load (default 1)
Contenders (gev-host --loops 1, the echo handler; handshakes happen before the clock):
  raw      --protocol raw                           gev-load
  tls      --protocol raw, TLS 1.3 (AES-256-GCM)    gev-load --tls
  tls12    --protocol raw, TLS 1.2 ECDHE-ECDSA-AES256-GCM-SHA384   gev-load --tls --tls-version 1.2
  ws       --protocol websocket                     gev-load --ws
  ws-tls   --protocol websocket over TLS 1.3        gev-load --ws --tls
The certificate is a fresh self-signed P-256 one. Progress goes to stderr, the table to
stdout. Builds nothing.
EOF2
}

BUILD=${BUILD:-build/release}
LOAD=""
HOST=""
ROUNDS=5
DURATION=5
WARMUP=1
SERVER_CPU=0
LOAD_CPU=1
BASELINE=raw
NAMES=()
ONLY=()
PEERS=()
PEER_LOAD="--ws --tls"

while (($# > 0)); do
  case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --load) LOAD=$2; shift 2 ;;
    --host) HOST=$2; shift 2 ;;
    --contender) NAMES+=("$2"); shift 2 ;;
    --peer) PEERS+=("$2"); shift 2 ;;
    --peer-load) PEER_LOAD=$2; shift 2 ;;
    --baseline) BASELINE=$2; shift 2 ;;
    --scenario) ONLY+=("$2"); shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --quick) ROUNDS=1; DURATION=2; shift ;;
    --server-cpu) SERVER_CPU=$2; shift 2 ;;
    --load-cpu) LOAD_CPU=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "tls_compare: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

LOAD=${LOAD:-$BUILD/bench/gev-load}
HOST=${HOST:-$BUILD/host/gev-host}
[[ -x $LOAD ]] || { echo "tls_compare: gev-load not found at $LOAD (build it first)" >&2; exit 2; }
[[ -x $HOST ]] || { echo "tls_compare: gev-host not found at $HOST (build it first)" >&2; exit 2; }

CERTS=$(mktemp -d /tmp/gev-tls-compare.XXXXXX)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$CERTS/key.pem" \
  -out "$CERTS/cert.pem" -days 2 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
chmod 600 "$CERTS/key.pem"
TLS="--tls-cert $CERTS/cert.pem --tls-key $CERTS/key.pem"

ALL_NAMES=(raw tls tls12 ws ws-tls)
declare -A CMDS=()
declare -A LOAD_ARGS=([raw]="" [tls]="--tls --tls-version 1.3 --tls-cipher TLS_AES_256_GCM_SHA384"
  [tls12]="--tls --tls-version 1.2 --tls-cipher ECDHE-ECDSA-AES256-GCM-SHA384" [ws]="--ws"
  [ws-tls]="--ws --tls --tls-version 1.3 --tls-cipher TLS_AES_256_GCM_SHA384")
gev="$HOST --listen 127.0.0.1:{port} --loops 1 --admin off --log-level warn --handler echo"
CMDS[raw]="$gev --protocol raw"
CMDS[tls]="$gev --protocol raw $TLS"
CMDS[tls12]="$gev --protocol raw $TLS"
CMDS[ws]="$gev --protocol websocket"
CMDS[ws-tls]="$gev --protocol websocket $TLS"
if ((${#NAMES[@]} == 0)); then NAMES=("${ALL_NAMES[@]}"); fi
for n in "${NAMES[@]}"; do
  [[ -n ${CMDS[$n]+x} ]] || { echo "tls_compare: unknown contender $n" >&2; exit 2; }
done
for p in "${PEERS[@]}"; do
  name=${p%%=*} cmd=${p#*=}
  [[ -n $name && $cmd != "$p" ]] || { echo "tls_compare: --peer wants NAME=CMD" >&2; exit 2; }
  cmd=${cmd//\{cert\}/$CERTS/cert.pem}
  CMDS[$name]=${cmd//\{key\}/$CERTS/key.pem}
  LOAD_ARGS[$name]=$PEER_LOAD
  NAMES+=("$name")
done

SCEN_NAMES=(50c-512B-paced 50c-512B-pipe8 50c-16KiB)
declare -A SCEN_ARGS=(
  [50c-512B-paced]="--conns 50 --size 512 --pipeline 1 --rate 20000"
  [50c-512B-pipe8]="--conns 50 --size 512 --pipeline 8"
  [50c-16KiB]="--conns 50 --size 16384 --pipeline 1"
)
if ((${#ONLY[@]} > 0)); then
  for s in "${ONLY[@]}"; do
    [[ -n ${SCEN_ARGS[$s]+x} ]] || { echo "tls_compare: unknown scenario $s" >&2; exit 2; }
  done
  SCEN_NAMES=("${ONLY[@]}")
fi

PROG=tls_compare
# shellcheck source=compare_lib.sh
source "$(dirname "$0")/compare_lib.sh"
compare_run
trap 'compare_stop_server; rm -f "$ERRLOG"; rm -rf "$CERTS"' EXIT
compare_table "TLS vs plain echo on gev-host: $ROUNDS rounds, ${DURATION} s (+${WARMUP} s\
 warmup) per run, server on cpu $SERVER_CPU, gev-load on cpu $LOAD_CPU; medians, ratios vs\
 $BASELINE." contender
