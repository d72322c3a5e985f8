#!/usr/bin/env bash
# Client -> proxy -> upstream echo: gev-host's modules/proxy (over raw, one loop) against
# HAProxy (mode tcp, nbthread 1, with and without option splice-auto) and nginx stream
# (one worker), and "direct" (no proxy: the upstream itself, for the added latency).
# The proxy is pinned to one core; gev-load and the upstream (the hand-written epoll
# echo, the floor) share the other. Rounds interleave the contenders; medians, ratios to
# HAProxy. The server CPU column is the proxy's (for direct: the upstream's own).
set -euo pipefail
COMPARE_COMMAND="bench/$(basename "$0") $*"  # (for BENCH_SAVE: bench/compare_lib.sh)

usage() {
  cat <<'EOF'
usage: bench/proxy_compare.sh [options]
  --build DIR        build directory (default build/release; env BUILD)
  --haproxy PATH     haproxy binary (default /usr/sbin/haproxy; "" leaves it out)
  --nginx PATH       nginx binary with the stream module (default /usr/sbin/nginx;
                     Debian: nginx-light + libnginx-mod-stream; "" leaves it out)
  --contender NAME   run only this one (repeatable): direct gev haproxy haproxy-splice nginx
  --peer NAME=CMD    another proxy; {port} its port, {upstream} the upstream's port
  --scenario NAME    run only this scenario (repeatable)
  --rounds R         rounds (default 5)
  --duration S       measured seconds per run (default 5)
  --warmup S         unmeasured seconds per run (default 1)
  --quick            1 round of 2 s
  --server-cpu N     core for the proxy (default 0)
  --load-cpu N       core for gev-load and the upstream (default 1)
Scenarios: 50c-512B-paced (20,000 msgs/s: CPU per message and latency),
50c-512B-pipe8, 50c-16KiB, bulk-1c-64KiB-pipe16 (one connection, 1 MiB in flight:
MB/s = msgs/s x 64 KiB each way). Builds nothing.
EOF
}

BUILD=${BUILD:-build/release}
HAPROXY=/usr/sbin/haproxy
NGINX=/usr/sbin/nginx
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
    --haproxy) HAPROXY=$2; shift 2 ;;
    --nginx) NGINX=$2; shift 2 ;;
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
    *) echo "proxy_compare: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

LOAD=$BUILD/bench/gev-load
FLOOR=$BUILD/bench/gev-epoll-echo
HOST=$BUILD/host/gev-host
for f in "$LOAD" "$FLOOR" "$HOST"; do
  [[ -x $f ]] || { echo "proxy_compare: $f not found (build it first)" >&2; exit 2; }
done
WORK=$(mktemp -d /tmp/gev-proxy-compare.XXXXXX)

# The upstream: one floor echo for every run, on the load's core.
UPSTREAM=$((32100 + RANDOM % 500))
taskset -c "$LOAD_CPU" "$FLOOR" --port "$UPSTREAM" >/dev/null 2>&1 &
UPSTREAM_PID=$!
cleanup_upstream() { kill "$UPSTREAM_PID" 2>/dev/null || true; rm -rf "$WORK"; }
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$UPSTREAM") 2>/dev/null && break; sleep 0.05; done

declare -A CMDS=(
  [direct]="$FLOOR --port {port}"
  [gev]="$HOST --listen 127.0.0.1:{port} --loops 1 --admin off --log-level warn --protocol raw \
--handler proxy --module-opt proxy.upstreams=127.0.0.1:{upstream}"
)
ALL=(direct gev)
if [[ -n $HAPROXY && -x $HAPROXY ]]; then
  # HAProxy and nginx read their port from a config file: a wrapper writes one per run.
  for mode in plain splice; do
    cat >"$WORK/haproxy-$mode.sh" <<EOS
#!/bin/sh
cat >"$WORK/haproxy-$mode-\$1.cfg" <<EOC
global
  nbthread 1
  maxconn 4000
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
$([ $mode = splice ] && echo "  option splice-auto")
listen proxy
  bind 127.0.0.1:\$1
  server up 127.0.0.1:\$2
EOC
exec $HAPROXY -db -f "$WORK/haproxy-$mode-\$1.cfg"
EOS
    chmod +x "$WORK/haproxy-$mode.sh"
  done
  CMDS[haproxy]="$WORK/haproxy-plain.sh {port} {upstream}"
  CMDS[haproxy-splice]="$WORK/haproxy-splice.sh {port} {upstream}"
  ALL+=(haproxy haproxy-splice)
fi
if [[ -n $NGINX && -x $NGINX && -e /usr/lib/nginx/modules/ngx_stream_module.so ]]; then
  cat >"$WORK/nginx.sh" <<EOS
#!/bin/sh
mkdir -p "$WORK/ngx-\$1"
cat >"$WORK/ngx-\$1/nginx.conf" <<EOC
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off;
master_process off;
worker_processes 1;
error_log $WORK/ngx-\$1/error.log warn;
pid $WORK/ngx-\$1/nginx.pid;
events { worker_connections 20000; }
stream {
  server {
    listen 127.0.0.1:\$1;
    proxy_pass 127.0.0.1:\$2;
  }
}
EOC
exec $NGINX -c "$WORK/ngx-\$1/nginx.conf" -p "$WORK/ngx-\$1"
EOS
  chmod +x "$WORK/nginx.sh"
  CMDS[nginx]="$WORK/nginx.sh {port} {upstream}"
  ALL+=(nginx)
else
  echo "proxy_compare: leaving nginx out (needs $NGINX and libnginx-mod-stream)" >&2
fi
for p in "${PEERS[@]}"; do
  CMDS[${p%%=*}]=${p#*=}
  ALL+=("${p%%=*}")
done
((${#NAMES[@]} > 0)) || NAMES=("${ALL[@]}")
for n in "${NAMES[@]}"; do
  [[ -n ${CMDS[$n]+x} ]] || { echo "proxy_compare: unknown contender $n" >&2; exit 2; }
  CMDS[$n]=${CMDS[$n]//\{upstream\}/$UPSTREAM}
done

SCEN_NAMES=(50c-512B-paced 50c-512B-pipe8 50c-16KiB bulk-1c-64KiB-pipe16)
declare -A SCEN_ARGS=(
  [50c-512B-paced]="--conns 50 --size 512 --pipeline 1 --rate 20000"
  [50c-512B-pipe8]="--conns 50 --size 512 --pipeline 8"
  [50c-16KiB]="--conns 50 --size 16384 --pipeline 1"
  [bulk-1c-64KiB-pipe16]="--conns 1 --size 65536 --pipeline 16"
)
if ((${#ONLY[@]} > 0)); then
  for s in "${ONLY[@]}"; do
    [[ -n ${SCEN_ARGS[$s]+x} ]] || { echo "proxy_compare: unknown scenario $s" >&2; exit 2; }
  done
  SCEN_NAMES=("${ONLY[@]}")
fi

PROG=proxy_compare
UNIT=proxies
BASELINE=haproxy
[[ -n ${CMDS[haproxy]+x} ]] && printf '%s\n' "${NAMES[@]}" | grep -qx haproxy || BASELINE=${NAMES[0]}
declare -A LOAD_ARGS=()
declare -A SCEN_LOAD=()
# shellcheck source=compare_lib.sh
source "$(dirname "$0")/compare_lib.sh"
compare_run
trap 'compare_stop_server; rm -f "$ERRLOG"; cleanup_upstream' EXIT
compare_table "Proxy comparison: client -> proxy -> epoll echo; $ROUNDS rounds, ${DURATION} s\
 (+${WARMUP} s warmup) per run, proxy on cpu $SERVER_CPU, gev-load and upstream on cpu\
 $LOAD_CPU; medians, ratios vs $BASELINE." proxy
