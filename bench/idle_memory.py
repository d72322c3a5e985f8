#!/usr/bin/env python3
"""Measures the server's user-space memory per idle connection.

Starts the embedded echo server (one loop), opens N connections from several loopback
source addresses, makes each echo one byte (so every buffer was used once), waits, and
reports (RSS with N idle connections - RSS with none) / N. Bounded: N <= 100000, and the
server is stopped at the end.

usage: bench/idle_memory.py [--build build/release] [--conns 10000 50000]

Client and server each need one descriptor per connection: where RLIMIT_NOFILE cannot be
raised that far (a sandbox without CAP_SYS_RESOURCE), N is capped below the limit and the
table says so.
"""
import argparse
import os
import resource
import socket
import subprocess
import sys
import time


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


def measure(server_cmd, n, run):
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
    args = ap.parse_args()
    want = min(max(args.conns) + 1000, 250000)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
    except (ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 200
    server = [f"{args.build}/examples/embed_echo/embed_echo", "--port", "{port}", "--loops", "1"]
    print("| idle connections | server RSS before (KiB) | with them (KiB) | bytes per connection |")
    print("|---:|---:|---:|---:|")
    for run, n in enumerate(args.conns):
        capped = min(n, 100000, limit)
        base, loaded = measure(server, capped, run)
        note = f" (asked {n}; RLIMIT_NOFILE caps it)" if capped < n else ""
        print(f"| {capped}{note} | {base} | {loaded} | {(loaded - base) * 1024 / capped:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
