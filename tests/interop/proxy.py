"""Interop: modules/proxy (an L4 TCP proxy and a WebSocket-to-TCP bridge on the host's
outbound connections, ABI 1.4) against real sockets:

- echo through the proxy, 1 B to 64 MiB (16 MiB under sanitizers), pipelined; 1,000
  proxied connections at once;
- half-close each way: the client's FIN reaches the upstream and its reply still comes
  back; the upstream's FIN reaches the client, which can still send;
- a client reset closes its upstream connection, an upstream reset closes its client;
- an upstream that never reads pauses the client (the host's RSS stays flat), and a
  client that never reads pauses the upstream;
- failover: one of three upstreams down (refused), every client served within the
  connect timeout; back up, after its rest, it gets connections again;
- the bridge: Python websockets over the websocket protocol to a TCP echo;
- a reload that replaces the proxy under a client fleet: no client error, an open pair
  keeps working on the old generation; a module a reload replaced may dial no more
  (tests/modules/dial_on_message).
"""

import asyncio
import hashlib
import os
import resource
import signal
import socket
import ssl
import struct
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gevhost import (CheckFailed, GevHost, check, module_dir_with, parse_args,  # noqa: E402
                     run_main, self_signed)  # noqa: E402

import websockets  # noqa: E402

OP_TIMEOUT = 30.0
SANITIZED = os.environ.get("GEV_SANITIZE", "") != ""
BIG = (16 if SANITIZED else 64) << 20
RELOADED = "reload: generation "  # a finished reload's log line


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def connect(port):
    return socket.create_connection(("127.0.0.1", port), timeout=OP_TIMEOUT)


def recv_all(s, n):
    got = bytearray()
    while len(got) < n:
        b = s.recv(min(1 << 20, n - len(got)))
        if not b:
            break
        got += b
    return bytes(got)


def recv_to_eof(s):
    got = bytearray()
    while True:
        b = s.recv(1 << 20)
        if not b:
            return bytes(got)
        got += b


def echo_through(port, data):
    """Sends data from one thread while reading it back in this one."""
    s = connect(port)
    t = threading.Thread(target=s.sendall, args=(data,))
    t.start()
    got = recv_all(s, len(data))
    t.join()
    s.close()
    return got


class Upstream:
    """A TCP server of the test's own; `serve(conn)` runs per accepted connection."""

    def __init__(self, serve, port=0):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.serve = serve
        self.conns = []
        self.done = False
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.conns.append(c)
            threading.Thread(target=self.run_one, args=(c,), daemon=True).start()

    def run_one(self, c):
        try:
            self.serve(c)
        except OSError:
            pass

    def close(self):
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


def echo_serve(c):
    while True:
        b = c.recv(1 << 16)
        if not b:
            c.close()
            return
        c.sendall(b)


def host_rss_kb(host):
    with open("/proc/%d/status" % host.proc.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def write_config(path, echo_port, ports, upstreams, extra=""):
    with open(path, "w") as f:
        f.write("""log-level = info
[listener.tlsproxy]
listen = 127.0.0.1:%d
protocol = raw
handler = proxy
tls-cert = %s
tls-key = %s
""" % (ports["tls"], ports["cert"], ports["key"]))
        f.write("""[listener.echo]
listen = 127.0.0.1:%d
protocol = raw
handler = echo
[listener.proxy]
listen = 127.0.0.1:%d
protocol = raw
handler = proxy
[listener.bridge]
listen = 127.0.0.1:%d
protocol = websocket
handler = proxy
[listener.dialer]
listen = 127.0.0.1:%d
protocol = line
handler = dial_on_message
[module.proxy]
upstreams = %s
rest = 500
fail-threshold = 1
connect-timeout = 3000
%s
[module.dial_on_message]
upstream = 127.0.0.1:%d
""" % (echo_port, ports["proxy"], ports["bridge"], ports["dialer"], " ".join(upstreams), extra,
       echo_port))


def check_sizes(port):
    for n in (1, 1024, 1 << 20, BIG):
        data = os.urandom(n)
        got = echo_through(port, data)
        check(len(got) == n and hashlib.sha256(got).digest() == hashlib.sha256(data).digest(),
              "%d bytes through the proxy came back as %d" % (n, len(got)))
    print("ok   1 B to %d MiB echoed through the proxy, pipelined" % (BIG >> 20), flush=True)


def check_many(port, n=1000):
    socks = [connect(port) for _ in range(n)]
    for i, s in enumerate(socks):
        s.sendall(b"conn %06d\n" % i)
    for i, s in enumerate(socks):
        got = recv_all(s, 12)
        check(got == b"conn %06d\n" % i, "connection %d of %d got %r" % (i, n, got))
    for s in socks:
        s.close()
    print("ok   %d proxied connections at once, each its own echo" % n, flush=True)


def check_metrics(admin):
    from prometheus_client.parser import text_string_to_metric_families
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % admin, timeout=OP_TIMEOUT).read()
    got = {}
    for fam in text_string_to_metric_families(text.decode()):
        for s in fam.samples:
            if s.labels.get("direction") == "out":
                got[(s.name, s.labels.get("reason", ""))] = s.value
    check(got.get(("gev_dials_total", ""), 0) >= 1004, "gev_dials_total{direction=out}: %r" %
          got.get(("gev_dials_total", "")))
    check(("gev_connections_open", "") in got, "no gev_connections_open{direction=out}")
    check(got.get(("gev_bytes_sent_total", ""), 0) >= BIG, "outbound bytes sent: %r" %
          got.get(("gev_bytes_sent_total", "")))
    check(got.get(("gev_dial_failures_total", "refused"), -1) == 0, "refused dials so far: %r" %
          got.get(("gev_dial_failures_total", "refused")))
    print("ok   /metrics: the modules' dialer's series, labelled direction=\"out\"", flush=True)


def check_tls(ports):
    ctx = ssl.create_default_context(cafile=ports["cert"])
    s = ctx.wrap_socket(connect(ports["tls"]), server_hostname="localhost")
    data = os.urandom(1 << 20)
    # One thread, 64 KiB at a time: an SSLSocket must not be read and written from two
    # threads at once (OpenSSL's SSL object is not thread-safe; on a loaded machine the
    # two-thread version saw a spurious EOF after one 16 KiB record).
    got = bytearray()
    for at in range(0, len(data), 1 << 16):
        chunk = data[at:at + (1 << 16)]
        s.sendall(chunk)
        back = recv_all(s, len(chunk))
        got += back
        if len(back) < len(chunk):
            break
    check(got == data, "1 MiB over TLS through the proxy came back as %d bytes" % len(got))
    s.close()
    print("ok   the proxy terminates TLS: 1 MiB over TLS to a plain upstream and back", flush=True)


def check_half_close(port, port_upfin):
    # Upstream -> client: the upstream says hello and ends its output; the client sees
    # EOF and can still send, and the upstream receives all of it.
    s = connect(port)
    check(recv_to_eof(s) == b"hello\n", "the upstream's hello then FIN did not reach the client")
    data = os.urandom(256 << 10)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    deadline = time.monotonic() + OP_TIMEOUT
    while time.monotonic() < deadline and port_upfin.got.get("n") != len(data):
        time.sleep(0.02)
    check(port_upfin.got.get("n") == len(data), "after the upstream's FIN it received %r of %d bytes"
          % (port_upfin.got.get("n"), len(data)))
    s.close()
    print("ok   half-close both ways: a FIN crosses the proxy, the other direction flows on",
          flush=True)


def check_resets(port_fn, host):
    # A client reset closes its upstream connection.
    seen = {}

    def hold(c):
        seen["c"] = c
        b = c.recv(100)
        seen["first"] = b
        try:
            seen["end"] = c.recv(100)
        except ConnectionResetError:
            seen["end"] = b""
    up = Upstream(hold)
    proxy = port_fn(up)
    s = connect(proxy)
    s.sendall(b"x")
    deadline = time.monotonic() + OP_TIMEOUT
    while "first" not in seen and time.monotonic() < deadline:
        time.sleep(0.01)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    while "end" not in seen and time.monotonic() < deadline:
        time.sleep(0.01)
    check(seen.get("first") == b"x", "the upstream did not get the client's byte: %r" % seen)
    check(seen.get("end") == b"", "the upstream was not closed after its client's reset: %r" % seen)
    up.close()
    # An upstream reset closes its client.
    def rst(c):
        c.recv(10)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
    up = Upstream(rst)
    proxy = port_fn(up)
    s = connect(proxy)
    s.sendall(b"y")
    try:
        end = s.recv(100)
    except ConnectionResetError:
        end = b""
    check(end == b"", "the client got %r, not its end, after the upstream's reset" % end)
    s.close()
    up.close()
    check(host.alive(), "the host died")
    print("ok   a client reset closes its upstream connection, an upstream reset its client",
          flush=True)


def check_no_reader(port_fn, host):
    # An upstream that never reads: the client's writes stall; the host does not buffer.
    up = Upstream(lambda c: time.sleep(3600))
    proxy = port_fn(up)
    before = host_rss_kb(host)
    s = connect(proxy)
    s.settimeout(3)
    sent = 0
    chunk = b"z" * (1 << 20)
    try:
        while sent < BIG:
            sent += s.send(chunk)
    except socket.timeout:
        pass
    grew = host_rss_kb(host) - before
    check(sent < BIG, "the client wrote all %d MiB to an upstream that reads nothing" % (BIG >> 20))
    check(grew < 24 << 10, "host RSS grew %d KiB behind an upstream that reads nothing" % grew)
    s.close()
    up.close()
    # A client that never reads: the upstream's writes stall the same way.
    state = {"sent": 0}

    def flood(c):
        c.settimeout(3)
        try:
            while state["sent"] < BIG:
                state["sent"] += c.send(chunk)
        except (socket.timeout, OSError):
            pass
        state["done"] = True
    up = Upstream(flood)
    proxy = port_fn(up)
    before = host_rss_kb(host)
    s = connect(proxy)
    deadline = time.monotonic() + OP_TIMEOUT
    while "done" not in state and time.monotonic() < deadline:
        time.sleep(0.05)
    grew = host_rss_kb(host) - before
    check(state["sent"] < BIG, "the upstream wrote all %d MiB to a client that reads nothing"
          % (BIG >> 20))
    check(grew < 24 << 10, "host RSS grew %d KiB in front of a client that reads nothing" % grew)
    s.close()
    up.close()
    print("ok   a side that does not read pauses the other (sent %d of %d MiB; RSS flat)" %
          (state["sent"] >> 20, BIG >> 20), flush=True)


async def bridge(port):
    async with websockets.connect("ws://127.0.0.1:%d/" % port, max_size=None) as ws:
        for n in (1, 1000, 200000):
            data = os.urandom(n)
            await ws.send(data)
            got = b""
            while len(got) < n:  # the upstream's reads arrive as binary messages
                m = await asyncio.wait_for(ws.recv(), OP_TIMEOUT)
                check(isinstance(m, bytes), "the bridge sent a text message")
                got += m
            check(got == data, "%d bytes over the bridge came back as %d" % (n, len(got)))


async def bridge_banner(port):
    async with websockets.connect("ws://127.0.0.1:%d/" % port) as ws:
        m = await asyncio.wait_for(ws.recv(), OP_TIMEOUT)
        check(m == b"banner\n", "the bridge's first message: %r, not the upstream's banner" % m)
        await ws.send(b"after the banner")
        m = await asyncio.wait_for(ws.recv(), OP_TIMEOUT)
        check(m == b"after the banner", "the echo after the banner: %r" % m)


def check_proxy_protocol(point_at, port):
    """proxy-protocol = v1 / v2: the upstream hears the client's address first."""
    seen = {}

    def record(c):
        c.settimeout(OP_TIMEOUT)
        buf = b""
        while not buf.endswith(b"payload"):
            b = c.recv(4096)
            if not b:
                break
            buf += b
        seen["head"] = buf[:-len(b"payload")]
        c.sendall(b"ok")
    rec = Upstream(record)
    for version in ("v1", "v2"):
        seen.clear()
        point_at(["127.0.0.1:%d" % rec.port], "proxy-protocol = %s\n" % version)
        s = connect(port)
        s.sendall(b"payload")
        check(recv_all(s, 2) == b"ok", "no answer through the proxy with PROXY %s" % version)
        cport = s.getsockname()[1]
        s.close()
        head = seen.get("head", b"")
        if version == "v1":
            want = b"PROXY TCP4 127.0.0.1 127.0.0.1 %d %d\r\n" % (cport, port)
        else:  # signature, v2 PROXY, TCP over IPv4, 12 bytes of addresses
            want = (b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11, 0, 12]) +
                    socket.inet_aton("127.0.0.1") * 2 + struct.pack("!HH", cport, port))
        check(head == want, "PROXY %s header: %r, not %r" % (version, head, want))
    rec.close()
    print("ok   PROXY protocol v1 and v2: the upstream hears the client's address and port "
          "before its bytes", flush=True)


def banner_serve(c):
    c.sendall(b"banner\n")
    echo_serve(c)


def main():
    host_path, module_dir, _ = parse_args(sys.argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    d = tempfile.mkdtemp(prefix="gev-proxy-")
    mods = module_dir_with(module_dir, d, "GEV_DIAL_ON_MESSAGE", "dial_on_message")

    echo_port = free_port()
    ports = {"proxy": free_port(), "bridge": free_port(), "dialer": free_port(), "tls": free_port()}
    ports["cert"], ports["key"] = self_signed(d)
    conf = os.path.join(d, "gev-host.conf")
    write_config(conf, echo_port, ports, ["127.0.0.1:%d" % echo_port])
    admin = free_port()
    args = ["--config", conf, "--loops", "2", "--reload-drain-timeout", "60000", "--admin",
            "127.0.0.1:%d" % admin]
    with GevHost(host_path, mods, args, listeners=6) as host:
        p = ports["proxy"]
        check_sizes(p)
        check_many(p)
        check_metrics(admin)
        check_tls(ports)

        # The other checks point the proxy at upstreams of the test's own, by reload.
        def upstream_fin(c):
            c.sendall(b"hello\n")
            c.shutdown(socket.SHUT_WR)
            n = len(recv_to_eof(c))
            upfin.got["n"] = n
        upfin = Upstream(upstream_fin)
        upfin.got = {}
        reloads = [host.log().count(RELOADED)]

        def point_at(upstreams, extra=""):
            write_config(conf, echo_port, ports, upstreams, extra)
            host.proc.send_signal(signal.SIGHUP)
            reloads[0] += 1
            deadline = time.monotonic() + OP_TIMEOUT
            while time.monotonic() < deadline and host.log().count(RELOADED) < reloads[0]:
                time.sleep(0.05)
            check(host.log().count(RELOADED) >= reloads[0] and "reload failed" not in host.log(),
                  "the reload did not finish")
            return p

        # (the echo first: the client's FIN; then an upstream that sends its own FIN)
        s = connect(p)
        data = os.urandom(1 << 20)
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        check(recv_to_eof(s) == data, "after the client's FIN the echo did not come back whole")
        s.close()
        point_at(["127.0.0.1:%d" % upfin.port])
        check_half_close(p, upfin)
        upfin.close()
        check_resets(lambda up: point_at(["127.0.0.1:%d" % up.port]), host)
        check_no_reader(lambda up: point_at(["127.0.0.1:%d" % up.port]), host)

        # Failover: one of three down (refused), then back.
        a, b = Upstream(echo_serve), Upstream(echo_serve)
        down = free_port()
        point_at(["127.0.0.1:%d" % x for x in (a.port, down, b.port)])
        for i in range(30):
            t0 = time.monotonic()
            got = echo_through(p, b"failover %d" % i)
            took = time.monotonic() - t0
            check(got == b"failover %d" % i, "client %d not served with one upstream down" % i)
            check(took < 3.0, "client %d waited %.2f s (the connect timeout is 3 s)" % (i, took))
        check(a.accepted + b.accepted >= 30, "the live upstreams took %d of 30" %
              (a.accepted + b.accepted))
        back = Upstream(echo_serve, down)
        time.sleep(0.7)  # its rest (500 ms) runs out
        for i in range(30):
            echo_through(p, b"back %d" % i)
        check(back.accepted > 0, "the upstream that came back got no connection after its rest")
        print("ok   failover: one of three down costs no client beyond the connect timeout; "
              "back, it serves again (%d of 30)" % back.accepted, flush=True)
        for u in (a, b, back):
            u.close()
        check_proxy_protocol(point_at, p)

        # The bridge, and a reload of the proxy under a fleet.
        point_at(["127.0.0.1:%d" % echo_port])
        asyncio.run(bridge(ports["bridge"]))
        banner = Upstream(banner_serve)
        point_at(["127.0.0.1:%d" % banner.port])
        asyncio.run(bridge_banner(ports["bridge"]))
        s = connect(p)  # over raw the banner comes at once, before the client says anything
        check(recv_all(s, 7) == b"banner\n", "a raw client did not hear the upstream's banner")
        s.close()
        banner.close()
        point_at(["127.0.0.1:%d" % echo_port])
        print("ok   WebSocket-to-TCP bridge: binary messages to a TCP echo and back (websockets); "
              "an upstream that speaks first is heard after the upgrade", flush=True)

        keep = connect(p)
        check(echo_through(p, b"warm") == b"warm", "echo before the fleet")
        keep.sendall(b"old pair\n")
        check(recv_all(keep, 9) == b"old pair\n", "the long-lived pair before the reload")
        errors, done = [], [0]
        stop = threading.Event()

        def fleet():
            while not stop.is_set():
                try:
                    if echo_through(p, b"fleet") != b"fleet":
                        errors.append("short echo")
                    done[0] += 1
                except OSError as e:
                    errors.append(repr(e))
        threads = [threading.Thread(target=fleet) for _ in range(8)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        point_at(["127.0.0.1:%d" % echo_port], "retries = 3")  # new options: a new instance
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join()
        check(not errors, "%d client errors across the reload: %s" % (len(errors), errors[:3]))
        keep.sendall(b"still here\n")
        check(recv_all(keep, 11) == b"still here\n", "the old pair after the reload")
        keep.close()
        print("ok   a reload replacing the proxy under a fleet: %d connections, no error; an "
              "open pair keeps its generation" % done[0], flush=True)

        # A module replaced by a reload may dial no more (its old connections still serve).
        old = connect(ports["dialer"])
        old.sendall(b"dial\n")
        check(recv_all(old, 7) == b"dialed\n", "dial_on_message could not dial")
        with open(conf) as f:
            text = f.read()
        with open(conf, "w") as f:
            f.write(text.replace("[module.dial_on_message]\n", "[module.dial_on_message]\ntag = v2\n"))
        host.proc.send_signal(signal.SIGHUP)
        reloads[0] += 1
        deadline = time.monotonic() + OP_TIMEOUT
        while time.monotonic() < deadline and host.log().count(RELOADED) < reloads[0]:
            time.sleep(0.05)
        old.sendall(b"dial\n")
        got = recv_all(old, 11)
        check(got.startswith(b"refused -2"), "a dial from the replaced instance: %r" % got)
        new = connect(ports["dialer"])
        new.sendall(b"dial\n")
        check(recv_all(new, 7) == b"dialed\n", "the new instance could not dial")
        old.close()
        new.close()
        print("ok   a module a reload replaced is refused a dial (GEV_ERR_CLOSED); the new "
              "instance dials", flush=True)


if __name__ == "__main__":
    run_main("proxy", main)
