#!/usr/bin/python3
"""Interop: Node's `ws` (Debian node-ws) against gev-host: starts the hosts and runs
node_ws.js against each, with perMessageDeflate on and off (and the server's
websocket.deflate=0), and once more over wss:// (a TLS listener with a self-signed
certificate that Node trusts through NODE_EXTRA_CA_CERTS).

usage: node_interop.py GEV_HOST MODULE_DIR

The package's `ws` lives in /usr/share/nodejs, which a node not built by Debian does not
search: NODE_PATH points there. No npm.
"""

import os
import shutil
import subprocess
import sys
import tempfile

from gevhost import CheckFailed, GevHost, check, parse_args, run_main, self_signed

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_TIMEOUT = 40


def node(args, env_extra=None):
    exe = shutil.which("node") or shutil.which("nodejs")
    check(exe, "node not found (scripts/setup installs node-ws, which brings nodejs)")
    check(os.path.isdir("/usr/share/nodejs/ws"),
          "/usr/share/nodejs/ws missing: install the Debian package node-ws (scripts/setup)")
    env = dict(os.environ, NODE_PATH="/usr/share/nodejs", **(env_extra or {}))
    try:
        r = subprocess.run([exe, os.path.join(HERE, "node_ws.js")] + args, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=NODE_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        raise CheckFailed("node_ws.js %s: still running after %d s; output:\n%s" %
                          (" ".join(args), NODE_TIMEOUT, e.output or ""))
    sys.stdout.write(r.stdout)
    check(r.returncode == 0, "node_ws.js %s exited %d" % (" ".join(args), r.returncode))


def main():
    host, module_dir, _ = parse_args(sys.argv)
    echo = ["--protocol", "websocket", "--handler", "echo", "--loops", "2", "--module-opt",
            "websocket.subprotocols=chat.v2,chat.v1"]
    with GevHost(host, module_dir, echo) as h:
        node(["echo", str(h.port), "1", "1"])
        node(["echo", str(h.port), "0", "0"])
    with GevHost(host, module_dir, echo + ["--module-opt", "websocket.deflate=0"]) as h:
        node(["echo", str(h.port), "1", "0"])
    chat = ["--protocol", "websocket", "--handler", "chat", "--loops", "2"]
    with GevHost(host, module_dir, chat) as h:
        node(["chat", str(h.port), "1"])
        node(["chat", str(h.port), "0"])
    with tempfile.TemporaryDirectory(prefix="gev-node-tls-") as d:
        cert, key = self_signed(d)
        tls = ["--tls-cert", cert, "--tls-key", key]
        wss = {"GEV_WS_SCHEME": "wss", "NODE_EXTRA_CA_CERTS": cert}
        with GevHost(host, module_dir, echo + tls) as h:
            node(["echo", str(h.port), "1", "1"], wss)
        with GevHost(host, module_dir, chat + tls) as h:
            node(["chat", str(h.port), "1"], wss)
        print("ok   node ws over wss:// (echo with deflate, chat)", flush=True)


if __name__ == "__main__":
    run_main("node ws", main)
