#!/usr/bin/env python3
"""Measures the server's user-space memory per idle connection.

Starts the embedded echo server (one loop), opens N connections from several loopback
source addresses, makes each echo one byte (so every buffer was used once), waits, and
reports (RSS with N idle connections - RSS with none) / N. Bounded: N <= 100000, and the
server is stopped at the end.

usage: bench/idle_memory.py [--build build/release] [--conns 10000 50000]
                            [--servers embed host host-tls]

Servers: embed (examples/embed_echo), host (gev-host, raw+echo modules), host-tls (the
same over TLS 1.3 with a fresh self-signed P-256 certificate: each connection makes a
full handshake, then echoes one byte, so OpenSSL's per-session state is counted with
its record buffers released while idle, SSL_MODE_RELEASE_BUFFERS).

Client and server each need one descriptor per connection: where RLIMIT_NOFILE cannot be
raised that far (a sandbox without CAP_SYS_RESOURCE), N is capped below the limit and the
table says so.
"""
import argparse
import os
import resource
import socket
import ssl
import subprocess
import sys
import tempfile
import time


CLIENT_TLS = ssl.create_default_context()
CLIENT_TLS.check_hostname = False
CLIENT_TLS.verify_mode = ssl.CERT_NONE


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def measure(server_cmd, n, run, tls=False):
    port = free_port()
    cmd = [c.replace("{port}", str(port)) for c in server_cmd]
    proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.02)
        time.sleep(0.2)
        base = rss_kib(proc.pid)
        conns = []
        for i in range(n):
            s = socket.socket()
            # 28k ephemeral ports per source address, and earlier runs leave TIME_WAITs:
            # a fresh block of loopback sources per run.
            s.bind((f"127.1.{run}.{1 + i // 20000}", 0))
            s.connect(("127.0.0.1", port))
            if tls:
                s = CLIENT_TLS.wrap_socket(s, server_hostname="localhost")
            s.sendall(b"x")
            conns.append(s)
        for s in conns:
            if s.recv(1) != b"x":
                raise RuntimeError("echo failed")
        time.sleep(0.5)
        loaded = rss_kib(proc.pid)
        for s in conns:
            s.close()
        return base, loaded
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build/release")
    ap.add_argument("--conns", type=int, nargs="+", default=[10000, 50000])
    ap.add_argument("--servers", nargs="+", default=["embed"],
                    choices=["embed", "host", "host-tls"])
    args = ap.parse_args()
    want = min(max(args.conns) + 1000, 250000)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
    except (ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 200
    certs = tempfile.TemporaryDirectory(prefix="gev-idle-tls-")
    cert, key = os.path.join(certs.name, "cert.pem"), os.path.join(certs.name, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days",
                    "2", "-subj", "/CN=localhost"], check=True, capture_output=True)
    os.chmod(key, 0o600)
    host = [f"{args.build}/host/gev-host", "--listen", "127.0.0.1:{port}", "--loops", "1",
            "--admin", "off", "--log-level", "warn", "--protocol", "raw", "--handler", "echo"]
    servers = {
        "embed": [f"{args.build}/examples/embed_echo/embed_echo", "--port", "{port}", "--loops",
                  "1"],
        "host": host,
        "host-tls": host + ["--tls-cert", cert, "--tls-key", key],
    }
    print("| server | idle connections | server RSS before (KiB) | with them (KiB) | bytes per connection |")
    print("|---|---:|---:|---:|---:|")
    run = 0
    for name in args.servers:
        for n in args.conns:
            capped = min(n, 100000, limit)
            base, loaded = measure(servers[name], capped, run, tls=name.endswith("-tls"))
            run += 1
            note = f" (asked {n}; RLIMIT_NOFILE caps it)" if capped < n else ""
            print(f"| {name} | {capped}{note} | {base} | {loaded} | "
                  f"{(loaded - base) * 1024 / capped:.0f} |", flush=True)
    certs.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
