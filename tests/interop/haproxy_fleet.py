#!/usr/bin/python3
"""Interop: two gev-hosts behind a real HAProxy (Debian haproxy 2.6) while a fleet of
clients keeps connecting through HAProxy and exchanging checked lines.

usage: haproxy_fleet.py GEV_HOST MODULE_DIR

HAProxy runs `mode tcp` with `balance roundrobin` over host A and host B (raw protocol,
echo handler), each health-checked on its own admin port with `GET /healthz` every
200 ms (`fall 1 rise 2`) and `retries 0`, so a refused connection reaches the client
instead of being retried. While the fleet runs:

  (a) host A is restarted by hand-off (`--takeover`); the old process drains and exits 0;
  (b) the same for host B;
  (c) both reload (SIGHUP), B again by `POST /reload` with its token; POST /reload without
      a token configured (A), with a wrong token, a foreign Host or a foreign Origin gets
      no reload;
  (d) host A gets SIGTERM under `--shutdown-delay 3000`: its /healthz answers 503
      `stopping` at once, HAProxy marks it DOWN on that 503 while A's listener still
      accepts (a direct connection to A is served after HAProxy's DOWN), HAProxy sends A
      no new connection after that, A's listener closes only after the delay, A exits 0,
      and the fleet carries on through B.

Asserts: no connection error and no lost, wrong or short reply across the whole fleet;
every gev-host exits 0. Everything runs on 127.0.0.1; every process is stopped (SIGKILL
if need be) whatever happens, and their logs are printed when a check fails.
"""

import csv
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

# gevhost gives the drivers' check/run_main (it also checks Python websockets is there,
# which this driver does not use; scripts/setup installs it for the other drivers).
from gevhost import CheckFailed, check, run_main

HAPROXY = "/usr/sbin/haproxy"
SHUTDOWN_DELAY_MS = 3000
FLEET_CLIENTS = 4               # two as fast as they can, two pacing their lines
LINES_PER_CONNECTION = 20
PACED_LINE_GAP = 0.01           # s between lines for the paced clients (~0.2 s connections)
FLEET_MAX_SECONDS = 40          # the fleet stops by itself after this ...
FLEET_MAX_CONNECTIONS = 200000  # ... or this many connections per client (a backstop)
IO_TIMEOUT = 10                 # s for a connect or a reply; CI machines are loaded
START_TIMEOUT = 30              # s for a gev-host to serve, HAProxy to see a server UP
EXIT_TIMEOUT = 30               # s for a gev-host to exit once it should


def free_ports(n):
    """n distinct loopback ports nobody listens on: bound to port 0 together, then closed."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def stamp():
    """Wall-clock UTC time to the millisecond, as gev-host's log lines start."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + ".%03dZ" % (now % 1 * 1000)


def wait_for(cond, timeout, what, interval=0.02):
    """Polls cond() until it is true; CheckFailed(what) after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise CheckFailed("%s (waited %.0f s)" % (what, timeout))
        time.sleep(interval)


class Children:
    """Every process the test starts, each logging to a file in the test's directory."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.procs = []

    def start(self, name, cmd):
        proc = Child(name, cmd, os.path.join(self.workdir, name + ".log"))
        self.procs.append(proc)
        return proc

    def kill_all(self):
        for p in self.procs:
            p.kill()

    def dump_logs(self, lines=150):
        """Each process's state and log; called before kill_all, so that "running" and an
        exit status are as they were when the check failed."""
        for p in self.procs:
            text = p.log().splitlines()
            rc = p.proc.poll()
            sys.stderr.write("--- %s (%s), %s, last %d of %d log lines ---\n%s\n" %
                             (p.name, " ".join(p.cmd), "running" if rc is None else
                              "exit status %s" % rc, min(lines, len(text)), len(text),
                              "\n".join(text[-lines:])))
        sys.stderr.write("--- end of logs ---\n")


class Child:
    def __init__(self, name, cmd, log_path):
        self.name = name
        self.cmd = cmd
        self.log_path = log_path
        with open(log_path, "wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)

    def log(self):
        with open(self.log_path, "r", errors="replace") as f:
            return f.read()

    def alive(self):
        return self.proc.poll() is None

    def signal(self, signo):
        if self.alive():
            self.proc.send_signal(signo)

    def wait_exit(self, timeout):
        """The exit status, or None if still running after timeout seconds."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def expect_exit_0(self, timeout, why):
        rc = self.wait_exit(timeout)
        check(rc is not None, "%s: %s did not exit within %.0f s" % (why, self.name, timeout))
        check(rc == 0, "%s: %s exited with status %s, not 0" % (why, self.name, rc))

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            if self.wait_exit(5) is None:
                self.proc.kill()
                self.proc.wait()


class Host:
    """One gev-host process: raw + echo on a fixed loopback port, admin on another, and a
    hand-off socket so that the next generation of the same host can take over."""

    def __init__(self, children, gev_host, module_dir, name, port, admin_port, handoff,
                 extra, takeover):
        self.name = name
        self.port = port
        self.admin_port = admin_port
        self.handoff = handoff
        self.extra = extra
        self.takeover = takeover
        cmd = [gev_host, "--module-dir", module_dir,
               "--listen", "127.0.0.1:%d" % port, "--protocol", "raw", "--handler", "echo",
               "--admin", "127.0.0.1:%d" % admin_port, "--loops", "2",
               "--handoff-socket", handoff, "--drain-timeout", "10000"] + extra
        if takeover:
            cmd += ["--takeover", handoff]
        self.child = children.start(name, cmd)

    def wait_serving(self):
        """Until both sockets listen, a predecessor (if any) handed over, and our own
        hand-off socket is up for the next restart."""
        want = ["listening on 127.0.0.1:%d" % self.port,
                "listening on 127.0.0.1:%d" % self.admin_port,
                "hand-off socket %s" % self.handoff]
        if self.takeover:
            want.append("took over from")

        def ready():
            log = self.child.log()
            if not self.child.alive():
                raise CheckFailed("%s exited with status %s before serving:\n%s" %
                                  (self.name, self.child.proc.poll(), log))
            return all(w in log for w in want)

        wait_for(ready, START_TIMEOUT, "%s: not serving; its log lacks one of %r" %
                 (self.name, want))
        status, body = http(self.admin_port, "GET", "/readyz")
        check((status, body) == (200, "ready\n"),
              "%s: GET /readyz answered %s %r, not 200 'ready\\n'" % (self.name, status, body))
        status, body = http(self.admin_port, "GET", "/healthz")
        check((status, body) == (200, "ok\n"),
              "%s: GET /healthz answered %s %r, not 200 'ok\\n'" % (self.name, status, body))

    def wait_log(self, text, what):
        wait_for(lambda: text in self.child.log(), START_TIMEOUT,
                 "%s: %s: no '%s' in its log" % (self.name, what, text))


def raw_http(port, request, timeout=IO_TIMEOUT):
    """Sends request (bytes) to 127.0.0.1:port, reads to EOF; returns (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(request)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    parts = head.split(b" ", 2)
    check(len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit(),
          "port %d: not an HTTP response: %r" % (port, data[:200]))
    return int(parts[1]), body.decode("utf-8", "replace")


def http(port, method, path, headers=None, timeout=IO_TIMEOUT):
    """One HTTP/1.1 request (Connection: close) to the admin endpoint on port. Host is
    the admin address unless headers say otherwise (None drops a header)."""
    fields = {"Host": "127.0.0.1:%d" % port, "Connection": "close"}
    if method == "POST":
        fields["Content-Length"] = "0"
    fields.update(headers or {})
    lines = ["%s %s HTTP/1.1" % (method, path)]
    lines += ["%s: %s" % (k, v) for k, v in fields.items() if v is not None]
    return raw_http(port, ("\r\n".join(lines) + "\r\n\r\n").encode(), timeout)


def echo_direct(port, text, closing=False):
    """One line straight to a gev-host's listener (not through HAProxy): True if echoed,
    False if the connection is refused. With closing (the listener may close right now),
    a connection reset or closed before its echo is False too (it was queued on the
    listener as it closed); otherwise anything but the echo is a failure."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
    except ConnectionRefusedError:
        return False
    line = text.encode() + b"\n"
    got = b""
    with s:
        s.settimeout(IO_TIMEOUT)
        try:
            s.sendall(line)
            while len(got) < len(line):
                chunk = s.recv(len(line) - len(got))
                if not chunk:
                    break
                got += chunk
        except (ConnectionResetError, BrokenPipeError):
            if not closing:
                raise
    if closing and not got:
        return False
    check(got == line, "direct connection to port %d: sent %r, got %r" % (port, line, got))
    return True


class HAProxy:
    """HAProxy in the foreground, its config and stats socket in the test's directory."""

    def __init__(self, children, workdir, front_port, servers):
        self.sock = os.path.join(workdir, "haproxy.sock")
        cfg = os.path.join(workdir, "haproxy.cfg")
        lines = [
            "global",
            "    stats socket %s mode 600 level admin" % self.sock,
            "    stats timeout 10s",
            "    maxconn 1000",
            "",
            "defaults",
            "    mode tcp",
            "    timeout connect 5s",
            "    timeout client 30s",
            "    timeout server 30s",
            "    timeout check 2s",
            # No retry and no redispatch: a connection a gev-host refuses must show up as
            # a client error here, not be hidden by HAProxy trying again.
            "    retries 0",
            "",
            "frontend fleet",
            "    bind 127.0.0.1:%d" % front_port,
            "    default_backend gev",
            "",
            "backend gev",
            "    balance roundrobin",
            "    option httpchk GET /healthz",
            "    http-check expect status 200",
        ]
        for name, port, admin_port in servers:
            lines.append("    server %s 127.0.0.1:%d check port %d inter 200 fall 1 rise 2" %
                         (name, port, admin_port))
        with open(cfg, "w") as f:
            f.write("\n".join(lines) + "\n")
        checked = subprocess.run([HAPROXY, "-c", "-f", cfg], stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 timeout=30)
        check(checked.returncode == 0, "haproxy -c refused the config:\n%s" %
              checked.stdout.decode(errors="replace"))
        self.child = children.start("haproxy", [HAPROXY, "-db", "-f", cfg])
        wait_for(lambda: os.path.exists(self.sock) or not self.child.alive(), START_TIMEOUT,
                 "haproxy: no stats socket at %s" % self.sock)
        check(self.child.alive(), "haproxy exited with status %s at start:\n%s" %
              (self.child.proc.poll(), self.child.log()))

    def servers(self):
        """`show stat` of backend gev: {server name: row (dict by CSV column)}."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(IO_TIMEOUT)
            s.connect(self.sock)
            s.sendall(b"show stat\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        text = data.decode(errors="replace")
        check(text.startswith("# "), "haproxy show stat: unexpected answer %r" % text[:200])
        rows = csv.DictReader(text[2:].splitlines())
        return {r["svname"]: r for r in rows
                if r["pxname"] == "gev" and r["svname"] not in ("FRONTEND", "BACKEND")}


class StatsWatch(threading.Thread):
    """Polls HAProxy's stats every 50 ms: the latest row per server, with the time it was
    read, and every change of a server's status (UP, DOWN, DOWN 1/2, ...)."""

    def __init__(self, haproxy, t0):
        super().__init__(daemon=True)
        self.haproxy = haproxy
        self.t0 = t0
        self.lock = threading.Lock()
        self.latest = {}
        self.changes = []  # (seconds since t0, server, old status, new status, check info)
        self.error = None
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            try:
                rows = self.haproxy.servers()
                now = time.monotonic()
                with self.lock:
                    for name, row in rows.items():
                        old = self.latest.get(name, (None, {}))[1].get("status")
                        if old != row["status"]:
                            self.changes.append((now - self.t0, name, old, row["status"],
                                                 "%s %s" % (row["check_status"],
                                                            row["check_code"])))
                        self.latest[name] = (now, row)
                    self.error = None
            except (OSError, CheckFailed) as e:
                with self.lock:
                    self.error = "%s: %s" % (type(e).__name__, e)
            self.done.wait(0.05)

    def row(self, name):
        """(time read, row) of server name, or (None, {})."""
        with self.lock:
            return self.latest.get(name, (None, {}))

    def status(self, name):
        return self.row(name)[1].get("status", "")

    def changes_since(self, t):
        with self.lock:
            return [c for c in self.changes if c[0] >= t - self.t0]

    def wait_up(self, names, what):
        def up():
            for n in names:
                _, r = self.row(n)
                if not (r.get("status") == "UP" and r.get("check_status") == "L7OK"):
                    return False
            return True

        try:
            wait_for(up, START_TIMEOUT, "%s: HAProxy does not show %s UP" %
                     (what, " and ".join(names)))
        except CheckFailed as e:
            with self.lock:
                seen = {n: (r.get("status"), r.get("check_status"), r.get("check_code"),
                            r.get("last_chk")) for n, (_, r) in self.latest.items()}
                err = self.error
            raise CheckFailed("%s; last seen (status, check_status, check_code, last_chk): "
                              "%r; stats socket error: %s" % (e, seen, err))


class Fleet:
    """FLEET_CLIENTS threads, each: connect to HAProxy, send LINES_PER_CONNECTION lines one
    at a time checking each echo, close; again, until stopped or a bound is reached."""

    def __init__(self, port):
        self.port = port
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.errors = []       # the first 50, with when and in which phase
        self.error_count = 0
        self.connections = 0   # completed: every line echoed
        self.replies = 0       # checked lines
        self.phase = "warm-up"
        self.t0 = time.monotonic()
        self.threads = [threading.Thread(target=self.client, args=(i,), daemon=True)
                        for i in range(FLEET_CLIENTS)]
        for t in self.threads:
            t.start()

    def running(self):
        return any(t.is_alive() for t in self.threads)

    def counts(self):
        with self.lock:
            return self.connections, self.replies, self.error_count

    def fail(self, what):
        with self.lock:
            self.error_count += 1
            if len(self.errors) < 50:
                self.errors.append("at %s (+%.2f s, %s): %s" % (
                    stamp(), time.monotonic() - self.t0, self.phase, what))
        return False

    def client(self, index):
        rng = random.Random(index)
        gap = PACED_LINE_GAP if index >= FLEET_CLIENTS // 2 else 0
        deadline = self.t0 + FLEET_MAX_SECONDS
        for n in range(FLEET_MAX_CONNECTIONS):
            if self.stop.is_set() or time.monotonic() >= deadline:
                return
            if not self.connection(index, n, rng, gap):
                time.sleep(0.05)  # a failure is recorded; do not spin on it

    def connection(self, index, n, rng, gap):
        what = "client %d connection %d" % (index, n)
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=IO_TIMEOUT)
        except OSError as e:
            return self.fail("%s: connect: %s: %s" % (what, type(e).__name__, e))
        with s:
            s.settimeout(IO_TIMEOUT)
            for i in range(LINES_PER_CONNECTION):
                line = ("%d.%d.%d %s\n" % (index, n, i, "".join(
                    rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(0, 40)))
                                           )).encode()
                got = b""
                try:
                    s.sendall(line)
                    while len(got) < len(line):
                        chunk = s.recv(len(line) - len(got))
                        if not chunk:
                            return self.fail("%s: closed by the peer after %d of %d replies "
                                             "(%d bytes of line %d)" %
                                             (what, i, LINES_PER_CONNECTION, len(got), i))
                        got += chunk
                except OSError as e:  # a reset, or no reply within IO_TIMEOUT
                    return self.fail("%s: line %d: %s: %s" % (what, i, type(e).__name__, e))
                if got != line:
                    return self.fail("%s: line %d: sent %r, got %r" % (what, i, line, got))
                with self.lock:
                    self.replies += 1
                if gap:
                    time.sleep(gap)
        with self.lock:
            self.connections += 1
        return True

    def join(self):
        """Stops the clients; each ends within IO_TIMEOUT (its current operation)."""
        self.stop.set()
        for t in self.threads:
            t.join(timeout=3 * IO_TIMEOUT)

    def expect_progress(self, seconds, what):
        """The fleet completes connections during the next `seconds`, and has had no error
        since it started."""
        c0, r0, _ = self.counts()
        time.sleep(seconds)
        c1, r1, e1 = self.counts()
        check(self.running(), "%s: the fleet stopped (its %d s or connection bound was hit)" %
              (what, FLEET_MAX_SECONDS))
        check(c1 - c0 >= 2 * FLEET_CLIENTS,
              "%s: the fleet completed only %d connections (%d replies) in %.1f s" %
              (what, c1 - c0, r1 - r0, seconds))
        check(e1 == 0, "%s: %d fleet errors so far, the first: %s" % (what, e1, self.errors[:3]))


def parse_args(argv):
    if len(argv) < 3:
        sys.stderr.write("usage: %s GEV_HOST MODULE_DIR\n" % argv[0])
        sys.exit(2)
    gev_host, module_dir = argv[1], argv[2]
    if not os.access(HAPROXY, os.X_OK):
        sys.stderr.write("FAIL: %s not found: install the Debian package haproxy "
                         "(scripts/setup installs it)\n" % HAPROXY)
        sys.exit(1)
    for path, what in ((gev_host, "gev-host"), (os.path.join(module_dir, "raw.so"),
                                                "the raw module"),
                       (os.path.join(module_dir, "echo.so"), "the echo module")):
        if not os.path.exists(path):
            sys.stderr.write("FAIL: %s not found at %s\n" % (what, path))
            sys.exit(1)
    return gev_host, module_dir


def scenario(gev_host, module_dir, workdir, children):
    front, port_a, admin_a, port_b, admin_b = free_ports(5)
    token = secrets.token_hex(16)
    token_file = os.path.join(workdir, "admin-token")
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token)
    # A stops with a delay; B is the one whose reload is allowed over TCP.
    a_extra = ["--shutdown-delay", str(SHUTDOWN_DELAY_MS)]
    b_extra = ["--admin-token-file", token_file]
    hand_a = os.path.join(workdir, "a.handoff")
    hand_b = os.path.join(workdir, "b.handoff")

    def host(name, port, admin, handoff, extra, takeover):
        h = Host(children, gev_host, module_dir, name, port, admin, handoff, extra, takeover)
        h.wait_serving()
        return h

    a = host("gev-host-a1", port_a, admin_a, hand_a, a_extra, False)
    b = host("gev-host-b1", port_b, admin_b, hand_b, b_extra, False)
    # HAProxy's check is `GET /healthz HTTP/1.0` with no header at all: it must get 200.
    for h in (a, b):
        status, body = raw_http(h.admin_port, b"GET /healthz HTTP/1.0\r\n\r\n")
        check(status == 200, "%s: HAProxy's health check request (HTTP/1.0, no Host header) "
              "gets %s %r from /healthz, not 200" % (h.name, status, body))
    print("ok   two gev-hosts serve (A :%d admin :%d, B :%d admin :%d)" %
          (port_a, admin_a, port_b, admin_b), flush=True)

    haproxy = HAProxy(children, workdir, front, [("a", port_a, admin_a), ("b", port_b, admin_b)])
    t0 = time.monotonic()
    watch = StatsWatch(haproxy, t0)
    watch.start()
    try:
        watch.wait_up(["a", "b"], "start")
        print("ok   HAProxy :%d sees A and B UP" % front, flush=True)
        fleet = Fleet(front)
        try:
            fleet.expect_progress(1.0, "warm-up")
            a, b = restarts_and_reloads(fleet, watch, host, a, b, token)
            stop_with_delay(fleet, watch, haproxy, a, b)
            fleet.phase = "end"
        finally:
            fleet.join()
        check(not fleet.running(), "fleet clients did not stop within %d s" % (3 * IO_TIMEOUT))
        conns, replies, errors = fleet.counts()
        for e in fleet.errors:
            sys.stderr.write("fleet error %s\n" % e)
        check(errors == 0, "%d fleet errors (connections refused, reset, closed early, or a "
              "wrong or missing reply); the first: %s" % (errors, fleet.errors[:3]))
        check(replies == conns * LINES_PER_CONNECTION,
              "%d replies for %d completed connections" % (replies, conns))
        rows = haproxy.servers()
        served = {n: int(rows[n]["stot"]) for n in ("a", "b")}
        check(served["a"] > 0 and served["b"] > 0,
              "HAProxy did not use both hosts: sessions per server %r" % served)
        check(haproxy.child.alive(), "haproxy exited during the test:\n%s" % haproxy.child.log())
    finally:
        watch.done.set()
        watch.join(timeout=IO_TIMEOUT)
    b.child.signal(signal.SIGTERM)
    b.child.expect_exit_0(EXIT_TIMEOUT, "SIGTERM after the fleet stopped")
    haproxy.child.kill()
    print("ok   fleet: %d connections, %d checked replies through HAProxy, 0 errors; "
          "HAProxy sessions per host %r; every gev-host exited 0" % (conns, replies, served),
          flush=True)


def restarts_and_reloads(fleet, watch, host, a, b, token):
    # (a), (b): a hand-off restart of each host in turn.
    for label in ("a", "b"):
        old = a if label == "a" else b
        fleet.phase = "hand-off of %s" % label.upper()
        began = time.monotonic()
        new = host(old.name[:-1] + "2", old.port, old.admin_port, old.handoff, old.extra, True)
        # The old process drains its connections (each lasts at most ~0.3 s) and exits.
        old.child.expect_exit_0(EXIT_TIMEOUT, "after its hand-off")
        fleet.expect_progress(0.5, "after the hand-off of %s" % label.upper())
        watch.wait_up(["a", "b"], "after the hand-off of %s" % label.upper())
        flaps = [c for c in watch.changes_since(began) if c[1] == label]
        print("ok   hand-off of %s: %s took over, %s exited 0, fleet unaffected%s" %
              (label.upper(), new.name, old.name,
               "" if not flaps else "; HAProxy saw %s change %r" % (label, flaps)), flush=True)
        if label == "a":
            a = new
        else:
            b = new

    # (c): reloads. A generation starts at 1 in each process.
    fleet.phase = "reloads"
    for h in (a, b):
        h.child.signal(signal.SIGHUP)
        h.wait_log("reload: generation 2 serving", "SIGHUP")
    auth = {"Authorization": "Bearer " + token}
    status, body = http(b.admin_port, "POST", "/reload", auth, timeout=3 * IO_TIMEOUT)
    check(status == 200 and "generation 3 serving" in body,
          "B: POST /reload with its token answered %s %r" % (status, body))
    refused = [
        (a, "A (no --admin-token-file)", {}, (403,)),
        (a, "A (no --admin-token-file) with B's token", auth, (403,)),
        (b, "B with a wrong token", {"Authorization": "Bearer x" + token}, range(400, 500)),
        (b, "B without Authorization", {}, range(400, 500)),
        (b, "B with a foreign Host", dict(auth, Host="gev.example:%d" % b.admin_port), (403,)),
        (b, "B with a foreign Origin", dict(auth, Origin="http://gev.example"), (403,)),
    ]
    for h, what, headers, want in refused:
        status, body = http(h.admin_port, "POST", "/reload", headers, timeout=3 * IO_TIMEOUT)
        check(status in want, "POST /reload to %s answered %s %r, want %s" %
              (what, status, body, "403" if tuple(want) == (403,) else "4xx"))
    # None of those reloaded: the next generation of each is the one a real reload makes.
    check("generation 3 serving" not in a.child.log(), "A reloaded from a refused POST /reload")
    check("generation 4 serving" not in b.child.log(), "B reloaded from a refused POST /reload")
    fleet.expect_progress(0.5, "after the reloads")
    watch.wait_up(["a", "b"], "after the reloads")
    print("ok   reloads: SIGHUP to A and B, POST /reload to B with its token; refused without "
          "a token, with a wrong one, a foreign Host or Origin", flush=True)
    return a, b


def stop_with_delay(fleet, watch, haproxy, a, b):
    # (d): SIGTERM to A under --shutdown-delay.
    fleet.phase = "SIGTERM to A"
    t_term = time.monotonic()
    a.child.signal(signal.SIGTERM)

    def not_ok():
        """A's /healthz answer once it is no longer 200 (the signal is asynchronous)."""
        try:
            answer = http(a.admin_port, "GET", "/healthz", timeout=2)
        except ConnectionRefusedError:
            raise CheckFailed("A's admin endpoint refused a connection %.2f s after SIGTERM, "
                              "inside --shutdown-delay %d ms" %
                              (time.monotonic() - t_term, SHUTDOWN_DELAY_MS))
        return answer if answer[0] != 200 else None

    first = wait_for(not_ok, SHUTDOWN_DELAY_MS / 1000 * 0.8,
                     "A's /healthz still answers 200 after SIGTERM")
    check(first == (503, "stopping\n"), "A's /healthz after SIGTERM answered %s %r, not 503 "
          "'stopping\\n'" % first)
    t_503 = time.monotonic() - t_term

    # HAProxy marks A DOWN on the 503 (fall 1).
    def down():
        if not a.child.alive():
            raise CheckFailed("A exited (status %s) before HAProxy marked it DOWN" %
                              a.child.proc.poll())
        when, row = watch.row("a")
        return (when, row) if row.get("status", "").startswith("DOWN") else None
    t_down, row = wait_for(down, EXIT_TIMEOUT, "HAProxy never marked A DOWN after its SIGTERM")
    stot_a_down = int(row["stot"])
    # A's listener still accepts and serves after HAProxy's DOWN: the order a load
    # balancer needs. (Connecting directly, not through HAProxy.)
    served = echo_direct(a.port, "after HAProxy's DOWN")
    check(served, "HAProxy marked A DOWN %.2f s after SIGTERM, but A's listener was already "
          "closed by then (--shutdown-delay %d ms)" % (t_down - t_term, SHUTDOWN_DELAY_MS))
    check(row["check_status"] == "L7STS" and row["check_code"] == "503",
          "HAProxy marked A DOWN for %s %s, not for its /healthz 503" %
          (row["check_status"], row["check_code"]))
    fleet.phase = "A DOWN, listener open"
    # The listener closes after the delay, not before.
    t_closed = wait_for(lambda: None if echo_direct(a.port, "during the delay", closing=True)
                        else time.monotonic(), EXIT_TIMEOUT,
                        "A's listener still accepts long after SIGTERM", interval=0.05)
    fleet.phase = "A stopping"
    check(t_closed - t_term >= SHUTDOWN_DELAY_MS / 1000 * 0.95,
          "A's listener closed %.2f s after SIGTERM, before --shutdown-delay %d ms" %
          (t_closed - t_term, SHUTDOWN_DELAY_MS))
    a.child.expect_exit_0(EXIT_TIMEOUT, "SIGTERM with --shutdown-delay")
    fleet.phase = "A gone, B only"
    fleet.expect_progress(2.0, "through B alone")
    stot_a_end = int(haproxy.servers()["a"]["stot"])
    check(stot_a_end == stot_a_down, "HAProxy sent %d connections to A after marking it DOWN" %
          (stot_a_end - stot_a_down))
    check(watch.status("b") == "UP", "B is %r in HAProxy, not UP" % watch.status("b"))
    print("ok   SIGTERM to A: /healthz 503 'stopping' after %.2f s, HAProxy DOWN (%s %s) "
          "after %.2f s, A's listener served directly after that and closed after %.2f s; "
          "A exited 0; the fleet went on through B" %
          (t_503, row["check_status"], row["check_code"], t_down - t_term, t_closed - t_term),
          flush=True)


def main():
    gev_host, module_dir = parse_args(sys.argv)
    workdir = tempfile.mkdtemp(prefix="gev-haproxy-")
    children = Children(workdir)
    try:
        scenario(gev_host, module_dir, workdir, children)
    except BaseException:
        sys.stderr.write("failed at %s\n" % stamp())
        children.dump_logs()
        raise
    finally:
        children.kill_all()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    run_main("haproxy fleet", main)
