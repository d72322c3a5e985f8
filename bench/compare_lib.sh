# compare_lib.sh: the measuring half of echo_compare.sh and ws_compare.sh, sourced by
# both. The caller sets:
#   PROG, UNIT               name for messages; what a contender is called (servers...)
#   LOAD                     gev-load binary
#   NAMES                    contenders, in run order
#   CMDS[name]               server command line; {port} is replaced by the port
#   LOAD_ARGS[name]          extra gev-load arguments (optional)
#   SCEN_NAMES, SCEN_ARGS    scenarios and their gev-load arguments
#   SCEN_LOAD[scen]          another load binary for a scenario (optional; same JSON)
#   ROUNDS DURATION WARMUP SERVER_CPU LOAD_CPU BASELINE
#   COMPARE_UDP=1            the servers listen on UDP (readiness is probed with ss)
#   COMPARE_NO_PIN=1         pin nothing (servers running several loops)
#   COMPARE_COMMAND          the command line as typed, for BENCH_SAVE's header
# (compare_add_server fills NAMES and CMDS from NAME=CMD entries, skipping missing ones.)
# then calls compare_run, then compare_table TITLE COLUMN (its exit status: 1 if any
# run failed).

declare -gA SCEN_LOAD  # keeps what the caller set

# compare_add_server NAME=CMD: appends NAME to NAMES and CMD to CMDS, or says it is
# skipped when CMD's program is not there; a malformed entry exits 2.
compare_add_server() {
  local entry=$1 name=${1%%=*} cmd=${1#*=}
  if [[ $name == "$entry" || -z $cmd ]]; then
    echo "$PROG: bad --server '$entry' (want NAME=COMMAND)" >&2; exit 2
  fi
  if ! command -v "${cmd%% *}" >/dev/null; then
    echo "$PROG: skipping server '$name': ${cmd%% *} not found" >&2
    return 0
  fi
  NAMES+=("$name")
  CMDS[$name]=$cmd
}

compare_run() {
  # Command prefixes that pin the server and the load to their own cores.
  SRV_PIN=(taskset -c "$SERVER_CPU")
  LOAD_PIN=(taskset -c "$LOAD_CPU")
  if ((${COMPARE_NO_PIN:-0})); then
    SRV_PIN=()
    LOAD_PIN=()
  elif (($(nproc) < 2)) || ! command -v taskset >/dev/null; then
    echo "$PROG: warning: fewer than 2 cores or no taskset; not pinning" >&2
    SRV_PIN=()
    LOAD_PIN=()
  fi

  local runs total
  runs=$((ROUNDS * ${#NAMES[@]} * ${#SCEN_NAMES[@]}))
  total=$(awk -v n="$runs" -v d="$DURATION" -v w="$WARMUP" 'BEGIN { printf "%d", n * (d + w + 1) }')
  echo "$PROG: $ROUNDS rounds x ${#NAMES[@]} ${UNIT:-contenders} (${NAMES[*]}) x" \
    "${#SCEN_NAMES[@]} scenarios x (${DURATION}+${WARMUP}+~1 s) = ~${total} s" >&2

  # Server ports stay below the ephemeral range so client ports never collide.
  PORT=$((20000 + RANDOM % 10000))
  SERVER_PID=""
  declare -gA TPUT NSMSG P50 P99 OK FAIL
  ERRLOG=$(mktemp)
  trap 'exit 130' INT TERM
  trap 'compare_stop_server; rm -f "$ERRLOG"' EXIT

  local r scen name
  for ((r = 1; r <= ROUNDS; r++)); do
    echo "round $r/$ROUNDS" >&2
    for scen in "${SCEN_NAMES[@]}"; do
      for name in "${NAMES[@]}"; do
        compare_run_one "$name" "$scen"
      done
    done
  done
}

# COMPARE_UDP=1 (udp_compare.sh): servers bind UDP ports, which no connect can probe.
compare_port_in_use() {
  if ((${COMPARE_UDP:-0})); then
    [[ -n $(ss -Hlun "sport = :$1" 2>/dev/null) ]]
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}
compare_next_port() {
  PORT=$((PORT + 1))
  ((PORT < 32000)) || PORT=20000
  while compare_port_in_use "$PORT"; do PORT=$((PORT + 1)); done
}

compare_stop_server() {
  [[ -n ${SERVER_PID:-} ]] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 20); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

compare_json_get() {  # compare_json_get KEY JSON
  # (Nothing found is an empty answer, not an error: a failed run is counted, not fatal.)
  { grep -o "\"$1\": [-0-9.eE+]*" <<<"$2" || true; } | awk '{ print $2 }'
}

# Runs one contender under one scenario; appends results to the tables.
compare_run_one() {
  local name=$1 scen=$2 key="$2|$1"
  compare_next_port
  local -a argv
  read -ra argv <<<"${CMDS[$name]//\{port\}/$PORT}"
  "${SRV_PIN[@]}" "${argv[@]}" >/dev/null 2>"$ERRLOG" &
  SERVER_PID=$!
  local ready=0
  for _ in $(seq 100); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    if compare_port_in_use "$PORT"; then ready=1; break; fi
    sleep 0.05
  done
  local out="" rc=0
  if ((ready)); then
    # shellcheck disable=SC2086  # scenario and contender args are meant to split
    out=$(timeout $((${DURATION%.*} + ${WARMUP%.*} + 30)) \
      "${LOAD_PIN[@]}" "${SCEN_LOAD[$scen]:-$LOAD}" --port "$PORT" ${SCEN_ARGS[$scen]} ${LOAD_ARGS[$name]:-} \
      --duration "$DURATION" --warmup "$WARMUP" --server-pid "$SERVER_PID" \
      --json 2>>"$ERRLOG") || rc=$?
  else
    rc=-1
    echo "$PROG: $name did not listen on port $PORT within 5 s" >&2
  fi
  compare_stop_server
  local tput ns p50 p99
  tput=$(compare_json_get 'msgs/s' "$out")
  ns=$(compare_json_get server_cpu_ns_per_msg "$out")
  p50=$(compare_json_get p50_us "$out")
  p99=$(compare_json_get p99_us "$out")
  if ((rc != 0)) || [[ -z $tput || -z $ns ]]; then
    FAIL[$key]=$((${FAIL[$key]:-0} + 1))
    echo "  $scen $name: FAILED (rc=$rc)" >&2
    tail -n 5 "$ERRLOG" | sed 's/^/    /' >&2
    return
  fi
  TPUT[$key]+="$tput "
  NSMSG[$key]+="$ns "
  P50[$key]+="$p50 "
  P99[$key]+="$p99 "
  OK[$key]=$((${OK[$key]:-0} + 1))
  echo "  $scen $name: msgs/s=$tput server_ns/msg=$ns p50_us=$p50 p99_us=$p99" >&2
}

compare_median() {  # median of whitespace-separated numbers; empty if none
  tr ' ' '\n' <<<"$1" | grep . | sort -g |
    awk '{ a[NR] = $1 } END { if (NR == 0) exit;
      if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
compare_ratio() {  # compare_ratio A B -> A/B with 2 decimals, "n/a" if unknown
  awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a";
    else printf "%.2f", a / b }'
}

compare_range() {  # "min-max" of whitespace-separated numbers; empty if none
  tr ' ' '\n' <<<"$1" | grep . | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 }
    END { if (NR) printf "%s-%s", lo, hi }'
}

# Prints the markdown table of medians (and each server's ns/msg range over the rounds);
# returns 1 if any run failed. With BENCH_SAVE=FILE it also writes the table there, under
# a comment line bench/report reads: the command, the commit, the date and the machine.
compare_table() {  # compare_table TITLE COLUMN
  local out
  out=$(compare_table_body "$@") || { local rc=$?; echo "$out"; compare_save "$out"; return "$rc"; }
  echo "$out"
  compare_save "$out"
}
compare_save() {
  [[ -n ${BENCH_SAVE:-} ]] || return 0
  local commit cpu
  # The commit measured: "-dirty" when tracked sources differ from it, not counting the
  # saved results and rendered docs a run of several comparisons rewrites as it goes.
  local top
  top=$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel 2>/dev/null) || top=""
  if [[ -n $top ]]; then
    commit=$(git -C "$top" rev-parse --short HEAD)
    if [[ -n $(git -C "$top" status --porcelain --untracked-files=no -- . \
        ':!bench/results' ':!docs' ':!bench/report') ]]; then
      commit+=-dirty
    fi
  else
    commit=unknown
  fi
  cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
  {
    printf '<!-- gev-bench command="%s" commit="%s" date="%s" machine="%s, %s cores, %s" -->\n' \
      "${COMPARE_COMMAND:-$PROG}" "$commit" "$(date -u +%Y-%m-%dT%H:%MZ)" "$cpu" "$(nproc)" \
      "$(uname -sr)"
    echo "$1"
  } >"$BENCH_SAVE"
  echo "$PROG: saved to $BENCH_SAVE" >&2
}
compare_table_body() {
  echo "$1"
  echo
  echo "| scenario | $2 | msgs/s | msgs/s vs $BASELINE | server ns/msg | ns/msg vs $BASELINE | ns/msg range | p50 us | p99 us | ok/failed |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"
  local failed=0 scen name key base_t base_n t n p50 p f
  for scen in "${SCEN_NAMES[@]}"; do
    base_t=$(compare_median "${TPUT[$scen|$BASELINE]:-}")
    base_n=$(compare_median "${NSMSG[$scen|$BASELINE]:-}")
    for name in "${NAMES[@]}"; do
      key="$scen|$name"
      t=$(compare_median "${TPUT[$key]:-}")
      n=$(compare_median "${NSMSG[$key]:-}")
      p50=$(compare_median "${P50[$key]:-}")
      p=$(compare_median "${P99[$key]:-}")
      f=${FAIL[$key]:-0}
      ((f == 0)) || failed=1
      printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s/%s |\n' "$scen" "$name" \
        "${t:-n/a}" "$(compare_ratio "$t" "$base_t")" "${n:-n/a}" \
        "$(compare_ratio "$n" "$base_n")" "$(compare_range "${NSMSG[$key]:-}")" "${p50:-n/a}" \
        "${p:-n/a}" "${OK[$key]:-0}" "$f"
    done
  done
  return "$failed"
}
