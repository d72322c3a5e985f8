# Sourced by the ctest scripts that start a server in the background and talk to it.

server_pid=""
port=""

# serve LOG COMMAND...: starts COMMAND in the background, its output in LOG, and sets
# server_pid and port (from its first "listening on 127.0.0.1:PORT" line, or "serving udp
# 127.0.0.1:PORT" for a UDP listener). Fails, showing the log, if it exits first or does
# not listen within 30 s (a sanitizer build on a busy machine starts slowly).
serve() {
  local log=$1
  shift
  : >"$log"  # exists before the server starts: a sed that ran first failed once
  "$@" >"$log" 2>&1 &
  server_pid=$!
  port=""
  for _ in $(seq 600); do
    port=$(sed -n 's/.*\(listening on\|serving udp\) 127\.0\.0\.1:\([0-9]*\).*/\2/p' "$log" | head -1)
    [ -n "$port" ] && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "$1: no 'listening on' within 30 s, or it exited:"
  cat "$log"
  return 1
}

# stop_server [LOG]: SIGTERM, then the exit status must be 0 (else the log is shown).
stop_server() {
  local status=0
  kill -TERM "$server_pid"
  wait "$server_pid" || status=$?
  server_pid=""
  [ "$status" -eq 0 ] && return 0
  echo "the server exited with $status"
  [ -n "${1:-}" ] && cat "$1"
  return 1
}

# For an EXIT trap: a server still running is killed.
kill_server() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  server_pid=""
  return 0
}
