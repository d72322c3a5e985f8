"""UDP listeners of the real gev-host (transport = udp) against Python's own sockets.

Echo of 0 B to 65,507 B from 100 peers (each reply reaches its own sender), the peer cap
and peer expiry with their metrics, a stream-only protocol refused on a UDP listener,
and a datagram fleet across a reload that rebuilds the UDP listener and across a
restart hand-off (--takeover). Across the switches every datagram sent must be answered,
except what the kernel itself dropped (its Udp RcvbufErrors/InErrors counters, read from
/proc/net/snmp, are reported beside; NoPorts, a datagram that found no socket, must not
grow at all).

usage: udp.py GEV_HOST MODULE_DIR
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gevhost import GevHost, check, module_dir_with, parse_args, run_main  # noqa: E402

OP_TIMEOUT = 20.0
RELOADED = "reload: generation "


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def free_tcp_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def peer(timeout=5.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind(("127.0.0.1", 0))
    s.settimeout(timeout)
    return s


def metrics(admin):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % admin, timeout=OP_TIMEOUT) as r:
        text = r.read().decode()
    got = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            got[name] = float(value)
    return got


def udp_snmp():
    """The kernel's Udp counters (all sockets of this network namespace)."""
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Udp:")]
    return dict(zip(rows[0][1:], (int(v) for v in rows[1][1:])))


def write_config(path, udp_port, capped_port, idle_ms=30000, probe_port=0):
    with open(path, "w") as f:
        f.write("""log-level = info
loops = 2
[listener.tcp]
listen = 127.0.0.1:0
protocol = raw
handler = echo
[listener.udp]
listen = udp://127.0.0.1:%d
protocol = raw
handler = echo
udp-idle-timeout = %d
[listener.capped]
listen = 127.0.0.1:%d
transport = udp
protocol = raw
handler = echo
udp-max-peers = 3
udp-idle-timeout = 2000
[listener.probe]
listen = udp://[::1]:%d
protocol = raw
handler = udp_probe
""" % (udp_port, idle_ms, capped_port, probe_port))


def wait_serving(host, n):
    deadline = time.monotonic() + OP_TIMEOUT
    while time.monotonic() < deadline and host.log().count("serving udp") < n:
        time.sleep(0.05)
    check(host.log().count("serving udp") >= n, "the UDP listeners did not start")


def check_echo(port):
    sizes = [0, 1, 64, 512, 1200, 1472, 9000, 32768, 65507]
    peers = [peer() for _ in range(100)]

    def body(i, r, size):
        head = b"%d/%d/" % (i, r)
        return (head + bytes([97 + (i + r) % 26]) * size)[:size] if size >= len(head) else b"z" * size

    for r, size in enumerate(sizes):
        at_once = size <= 1472
        if at_once:
            for i, s in enumerate(peers):
                s.sendto(body(i, r, size), ("127.0.0.1", port))
        for i, s in enumerate(peers):
            want = body(i, r, size)
            if not at_once:
                s.sendto(want, ("127.0.0.1", port))
            got = None
            for attempt in range(20):  # UDP may drop under load: ask again
                try:
                    got, _ = s.recvfrom(65536)
                    break
                except socket.timeout:
                    s.sendto(want, ("127.0.0.1", port))
            check(got == want, "peer %d, %d B: got %r..." % (i, size, (got or b"")[:20]))
    for s in peers:
        s.close()
    print("ok   echo of 0 B to 65,507 B from 100 peers, each reply to its own sender", flush=True)


def check_cap_and_expiry(port, admin):
    # Three peers are admitted (each answered before the next speaks); two more, sent
    # well within the first ones' udp-idle-timeout (2 s), are refused.
    peers = [peer(OP_TIMEOUT) for _ in range(3)] + [peer(0.3) for _ in range(2)]
    answered = 0
    for s in peers:
        s.sendto(b"hi", ("127.0.0.1", port))
        try:
            answered += s.recvfrom(100)[0] == b"hi"
        except socket.timeout:
            pass
    check(answered == 3, "udp-max-peers = 3 answered %d of 5 peers" % answered)
    m = metrics(admin)
    drop = m.get('gev_udp_datagrams_dropped_total{listener="capped",reason="peer_cap"}')
    check(drop == 2, "peer_cap drops: %r" % drop)
    check(m.get('gev_udp_peers_open{listener="capped"}') == 3, "peers open: %r" %
          m.get('gev_udp_peers_open{listener="capped"}'))
    deadline = time.monotonic() + OP_TIMEOUT
    while time.monotonic() < deadline:
        m = metrics(admin)
        if m.get('gev_udp_peers_open{listener="capped"}') == 0:
            break
        time.sleep(0.1)
    check(m.get('gev_udp_peers_open{listener="capped"}') == 0, "peers did not expire")
    check(m.get('gev_connections_closed_total{listener="capped",reason="idle_timeout"}') == 3,
          "expired peers closed as idle_timeout: %r" %
          m.get('gev_connections_closed_total{listener="capped",reason="idle_timeout"}'))
    peers[4].settimeout(OP_TIMEOUT)
    peers[4].sendto(b"now", ("127.0.0.1", port))  # refused before, room now
    check(peers[4].recvfrom(100)[0] == b"now", "a peer refused at the cap is served once room is made")
    for s in peers:
        s.close()
    print("ok   udp-max-peers refuses and counts; idle peers expire (udp-idle-timeout) and "
          "make room", flush=True)


def check_probe(port):
    """What a handler can do with a datagram peer (tests/modules/udp_probe), over IPv6."""
    socks = []
    for n in (1, 2):
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.settimeout(OP_TIMEOUT)
        socks.append(s)
    for n in (1, 2):  # the first peer twice: its context counts; the second peer: its own
        s = socks[0]
        s.sendto(b"probe", ("::1", port))
        got = [s.recvfrom(200)[0] for _ in range(3)]
        facts = b"datagram=1 pause=-4 resume=-4 shutdown=-4 link=-4 context=%d" % n
        check(got[0].startswith(facts), "probe %d answered %r, not %r" % (n, got[0], facts))
        check(sorted(got[1:]) == [b"send_to", b"timer"], "probe %d: then %r" % (n, got[1:]))
    s = socks[1]
    s.sendto(b"probe", ("::1", port))
    got = s.recvfrom(200)[0]
    check(got.startswith(b"datagram=1 pause=-4 resume=-4 shutdown=-4 link=-4 context=1 peers="),
          "a second peer: %r" % got)
    # (with two loops the peers may sit on different ones: for_each_conn sees its loop's)
    check(int(got.rsplit(b"=", 1)[1]) in (1, 2), "for_each_conn found %r peers" % got)
    for s in socks:
        s.close()
    print("ok   a datagram peer in a handler: stream calls answer GEV_ERR_UNSUPPORTED; its "
          "context, a timer it owns and send_to work (over IPv6)", flush=True)


def check_refused(host_path, module_dir):
    p = subprocess.run([host_path, "--module-dir", module_dir, "--admin", "off", "--listen",
                        "udp://127.0.0.1:%d" % free_udp_port(), "--protocol", "length_field",
                        "--handler", "echo"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=OP_TIMEOUT)
    out = p.stdout.decode(errors="replace")
    check(p.returncode != 0, "length_field over udp started:\n%s" % out)
    check("length_field" in out and "udp" in out and "stream-only" in out,
          "the refusal does not name the protocol and udp:\n%s" % out)
    print("ok   a stream-only protocol (length_field) on a UDP listener is refused at start-up, "
          "naming both", flush=True)


class Fleet:
    """n peers each sending a numbered datagram every `gap` s until stopped; every reply
    is matched to its request."""

    def __init__(self, port, n=20, gap=0.005):
        self.port, self.gap = port, gap
        self.socks = [peer(0.2) for _ in range(n)]
        self.sent = [set() for _ in range(n)]
        self.got = [set() for _ in range(n)]
        self.stop_flag = threading.Event()
        self.threads = [threading.Thread(target=self.send, args=(i,)) for i in range(n)]
        self.threads += [threading.Thread(target=self.recv, args=(i,)) for i in range(n)]
        self.snmp0 = udp_snmp()
        for t in self.threads:
            t.start()

    def send(self, i):
        seq = 0
        while not self.stop_flag.is_set():
            self.socks[i].sendto(b"%d:%d" % (i, seq), ("127.0.0.1", self.port))
            self.sent[i].add(seq)
            seq += 1
            time.sleep(self.gap)

    def recv(self, i):
        idle_after_stop = 0
        while True:
            try:
                d, _ = self.socks[i].recvfrom(100)
            except socket.timeout:
                if self.stop_flag.is_set():
                    idle_after_stop += 1
                    if idle_after_stop >= 10:  # 2 s of silence after the stop
                        return
                continue
            who, seq = d.split(b":")
            if int(who) == i:
                self.got[i].add(int(seq))

    def finish(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join()
        snmp = udp_snmp()
        delta = {k: snmp[k] - self.snmp0[k] for k in ("NoPorts", "InErrors", "RcvbufErrors")}
        sent = sum(len(s) for s in self.sent)
        lost = sum(len(s - g) for s, g in zip(self.sent, self.got))
        for s in self.socks:
            s.close()
        return sent, lost, delta


def judge(what, sent, lost, delta):
    kernel = delta["InErrors"] + delta["RcvbufErrors"]
    print("     %s: %d datagrams sent, %d unanswered; kernel counters over the run: NoPorts "
          "+%d, InErrors +%d, RcvbufErrors +%d" % (what, sent, lost, delta["NoPorts"],
                                                   delta["InErrors"], delta["RcvbufErrors"]),
          flush=True)
    check(sent > 1000, "%s: the fleet sent only %d datagrams" % (what, sent))
    check(delta["NoPorts"] == 0, "%s: %d datagrams found no socket on the port (a gap in the "
          "switch)" % (what, delta["NoPorts"]))
    check(lost <= kernel, "%s: %d datagrams unanswered, more than the kernel's own drops (%d)" %
          (what, lost, kernel))


def main():
    host_path, module_dir, _ = parse_args(sys.argv)
    d = tempfile.mkdtemp(prefix="gev-udp-")
    udp_port, capped_port, admin = free_udp_port(), free_udp_port(), free_tcp_port()
    probe_port = free_udp_port()
    module_dir = module_dir_with(module_dir, d, "GEV_UDP_PROBE", "udp_probe")
    conf = os.path.join(d, "gev-host.conf")
    write_config(conf, udp_port, capped_port, probe_port=probe_port)
    sock = os.path.join(d, "handoff.sock")
    args = ["--config", conf, "--admin", "127.0.0.1:%d" % admin, "--handoff-socket", sock,
            "--drain-timeout", "5000"]
    check_refused(host_path, module_dir)
    with GevHost(host_path, module_dir, args, listeners=1) as host:
        wait_serving(host, 3)
        check_probe(probe_port)
        check_echo(udp_port)
        check_cap_and_expiry(capped_port, admin)
        m = metrics(admin)
        check(m.get('gev_udp_datagrams_received_total{listener="udp"}', 0) >= 900,
              "gev_udp_datagrams_received_total: %r" % m.get('gev_udp_datagrams_received_total{listener="udp"}'))
        check(m.get('gev_udp_datagrams_sent_total{listener="udp"}', 0) >= 900, "datagrams sent")
        check('gev_udp_peers_open{listener="tcp"}' not in m, "a TCP listener exports UDP series")

        # A reload that rebuilds the UDP listener (a new udp-idle-timeout) under a fleet:
        # the new listener serves dups of the same sockets, so nothing waits in a socket
        # that closes.
        fleet = Fleet(udp_port)
        time.sleep(1.0)
        write_config(conf, udp_port, capped_port, idle_ms=29000, probe_port=probe_port)
        host.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + OP_TIMEOUT
        while time.monotonic() < deadline and RELOADED not in host.log():
            time.sleep(0.05)
        check(RELOADED in host.log() and "reload failed" not in host.log(), "the reload failed")
        time.sleep(1.0)
        judge("reload", *fleet.finish())
        check(host.log().count("serving udp 127.0.0.1:%d" % udp_port) == 2,
              "the reload did not rebuild the UDP listener")
        print("ok   a reload rebuilding the UDP listener under a 20-peer fleet loses no datagram "
              "of its own", flush=True)

        # Restart hand-off: a new gev-host takes the socket group over.
        fleet = Fleet(udp_port)
        time.sleep(1.0)
        host.stopped_by_test = True
        with GevHost(host_path, module_dir, ["--config", conf, "--admin", "off", "--takeover",
                                             sock], listeners=1) as successor:
            wait_serving(successor, 3)
            try:
                rc = host.proc.wait(timeout=OP_TIMEOUT)
            except subprocess.TimeoutExpired:
                rc = None
            check(rc == 0, "the old host did not exit 0 after the hand-off: %r" % rc)
            time.sleep(1.0)
            judge("hand-off", *fleet.finish())
            s = peer()
            s.sendto(b"after", ("127.0.0.1", udp_port))
            check(s.recvfrom(100)[0] == b"after", "the successor does not answer")
            s.close()
        print("ok   a restart hand-off (--takeover) under a 20-peer fleet loses no datagram "
              "of its own", flush=True)


if __name__ == "__main__":
    run_main("udp", main)
