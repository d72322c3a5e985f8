#!/usr/bin/env bash
# TLS handshakes per second and the server's CPU per handshake, full and resumed, TLS
# 1.3 and 1.2, on one loop: gev-host (raw echo over TLS) against nginx (Debian's
# nginx-light, `return 200` over https, one worker, master_process off), with the same
# certificate (P-256 ECDSA), the group and cipher both pick by default (X25519,
# TLS_AES_256_GCM_SHA384 / ECDHE-ECDSA-AES256-GCM-SHA384), measured by one client,
# bench/load/handshake_load.cc. Server pinned to one core, client to another, rounds
# interleaved; medians and ratios to nginx.
set -euo pipefail
COMPARE_COMMAND="bench/$(basename "$0") $*"  # (for BENCH_SAVE: bench/compare_lib.sh)

usage() {
  cat <<'EOF2'
usage: bench/handshake_compare.sh [options]
  --build DIR        build directory (default build/release; env BUILD)
  --nginx PATH       nginx binary (default /usr/sbin/nginx; "" leaves nginx out)
  --peer NAME=CMD    one more contender; {port} {cert} {key} replaced
  --contender NAME   run only this contender (repeatable): gev, gev-acceptor, nginx
  --scenario NAME    run only this scenario (repeatable): full-1.3 resumed-1.3
                     full-1.2 resumed-1.2
  --conns K          handshakes in flight (default 16)
  --rounds R         rounds (default 5)
  --duration S       measured seconds per run (default 5)
  --warmup S         unmeasured seconds per run (default 1)
  --quick            1 round of 2 s
  --server-cpu N     core for the server (default 0)
  --load-cpu N       core for the client (default 1)
Contenders:
  gev           gev-host --loops 1 --reuseport: the loop accepts its own connections,
                as nginx's worker does
  gev-acceptor  gev-host --loops 1: the default, a separate acceptor thread hands each
                connection to the loop (one wakeup per connection)
  nginx         nginx, one worker, ssl_session_cache shared, tickets on (defaults)
Resumed: every client slot offers the session (ticket) its first handshake got. The
client (one core) costs about what the server does per full handshake, so the rates of
efficient servers meet at the client's limit; server CPU per handshake is the figure
that ranks them. Builds nothing.
EOF2
}

BUILD=${BUILD:-build/release}
NGINX=/usr/sbin/nginx
ROUNDS=5
DURATION=5
WARMUP=1
SERVER_CPU=0
LOAD_CPU=1
CONNS=16
NAMES=()
ONLY=()
PEERS=()
while (($# > 0)); do
  case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --nginx) NGINX=$2; shift 2 ;;
    --peer) PEERS+=("$2"); shift 2 ;;
    --contender) NAMES+=("$2"); shift 2 ;;
    --scenario) ONLY+=("$2"); shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --quick) ROUNDS=1; DURATION=2; shift ;;
    --server-cpu) SERVER_CPU=$2; shift 2 ;;
    --load-cpu) LOAD_CPU=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "handshake_compare: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
LOAD=$BUILD/bench/gev-handshake-load
HOST=$BUILD/host/gev-host
[[ -x $LOAD ]] || { echo "handshake_compare: $LOAD not found (build it first)" >&2; exit 2; }
[[ -x $HOST ]] || { echo "handshake_compare: $HOST not found (build it first)" >&2; exit 2; }

WORK=$(mktemp -d /tmp/gev-handshake-compare.XXXXXX)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/key.pem" \
  -out "$WORK/cert.pem" -days 2 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
chmod 600 "$WORK/key.pem"

gev="$HOST --listen 127.0.0.1:{port} --loops 1 --admin off --log-level warn --protocol raw \
--handler echo --tls-cert $WORK/cert.pem --tls-key $WORK/key.pem"
declare -A LOAD_ARGS=()
declare -A CMDS=([gev]="$gev --reuseport" [gev-acceptor]="$gev")
ALL_NAMES=(gev gev-acceptor)
if [[ -n $NGINX && -x $NGINX ]]; then
  # nginx reads its port from the config: a wrapper writes one per run.
  cat >"$WORK/nginx.sh" <<EOS
#!/bin/sh
port=\$1
mkdir -p "$WORK/ngx-\$port"
cat >"$WORK/ngx-\$port/nginx.conf" <<EOC
daemon off;
master_process off;
worker_processes 1;
error_log $WORK/ngx-\$port/error.log warn;
pid $WORK/ngx-\$port/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  server {
    listen 127.0.0.1:\$port ssl;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate $WORK/cert.pem;
    ssl_certificate_key $WORK/key.pem;
    ssl_session_cache shared:SSL:10m;
    location / { return 200 "ok\\n"; }
  }
}
EOC
exec $NGINX -c "$WORK/ngx-\$port/nginx.conf" -p "$WORK/ngx-\$port"
EOS
  chmod +x "$WORK/nginx.sh"
  CMDS[nginx]="$WORK/nginx.sh {port}"
  ALL_NAMES+=(nginx)
fi
if ((${#NAMES[@]} == 0)); then NAMES=("${ALL_NAMES[@]}"); fi
for p in "${PEERS[@]}"; do
  name=${p%%=*} cmd=${p#*=}
  cmd=${cmd//\{cert\}/$WORK/cert.pem}
  CMDS[$name]=${cmd//\{key\}/$WORK/key.pem}
  NAMES+=("$name")
done
for n in "${NAMES[@]}"; do
  [[ -n ${CMDS[$n]+x} ]] || { echo "handshake_compare: unknown contender $n" >&2; exit 2; }
done
BASELINE=nginx
[[ -n ${CMDS[nginx]+x} ]] || BASELINE=${NAMES[0]}

SCEN_NAMES=(full-1.3 resumed-1.3 full-1.2 resumed-1.2)
declare -A SCEN_ARGS=(
  [full-1.3]="--conns $CONNS --tls-version 1.3"
  [resumed-1.3]="--conns $CONNS --tls-version 1.3 --resume"
  [full-1.2]="--conns $CONNS --tls-version 1.2"
  [resumed-1.2]="--conns $CONNS --tls-version 1.2 --resume"
)
if ((${#ONLY[@]} > 0)); then SCEN_NAMES=("${ONLY[@]}"); fi
declare -A SCEN_LOAD=()
for s in "${SCEN_NAMES[@]}"; do
  [[ -n ${SCEN_ARGS[$s]+x} ]] || { echo "handshake_compare: unknown scenario $s" >&2; exit 2; }
  SCEN_LOAD[$s]=$LOAD
done

PROG=handshake_compare
UNIT=servers
# shellcheck source=compare_lib.sh
source "$(dirname "$0")/compare_lib.sh"
compare_run
trap 'compare_stop_server; rm -f "$ERRLOG"; rm -rf "$WORK"' EXIT
compare_table "TLS handshakes on one loop: $ROUNDS rounds, ${DURATION} s (+${WARMUP} s warmup)\
 per run, $CONNS in flight, server on cpu $SERVER_CPU, client on cpu $LOAD_CPU; msgs/s is\
 handshakes/s, server ns/msg the server's CPU per handshake; medians, ratios vs $BASELINE." \
  server
