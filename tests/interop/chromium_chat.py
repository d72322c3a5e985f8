#!/usr/bin/python3
"""Interop: headless Chromium runs the chat page served by gev-host and talks with a
Python `websockets` client in the same room. Driven over the DevTools protocol (CDP,
spoken with the same websockets library).

usage: chromium_chat.py GEV_HOST MODULE_DIR

For the server's permessage-deflate on (Chromium always offers it) and off
(websocket.deflate=0): the page loads from / and connects to /ws (the handshake's
Sec-WebSocket-Extensions, seen by CDP, must match); the page's UI sends a short and a
long message, which the Python client receives; the Python client sends two, which
appear in the page's log; the Python client leaves, and the page shows the notice. No
uncaught exception in the page. Once more over TLS: the page from https:// and its
socket on wss://, Chromium trusting the test's self-signed certificate by its key's
SHA-256 (--ignore-certificate-errors-spki-list: that one key, no other certificate
error ignored). Chromium gets a temporary --user-data-dir and is killed at the end
whatever happens.
"""

import asyncio
import base64
import hashlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

# gevhost first: it fails with a clear message when websockets is missing.
from gevhost import CheckFailed, GevHost, check, parse_args, run_main, self_signed
import websockets


OP_TIMEOUT = 10
CHROMIUM = "/usr/bin/chromium"


class Chromium:
    """A headless Chromium with a DevTools port, in its own process group."""

    def __init__(self, trust_spki=None):
        check(os.access(CHROMIUM, os.X_OK),
              "%s missing: install the Debian package chromium (scripts/setup)" % CHROMIUM)
        self.profile = tempfile.mkdtemp(prefix="gev-chromium-")
        args = [CHROMIUM, "--headless=new", "--remote-debugging-port=0",
                "--user-data-dir=" + self.profile, "--no-first-run", "--no-default-browser-check",
                "--disable-gpu", "--disable-dev-shm-usage", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--mute-audio", "about:blank"]
        if trust_spki:  # this one certificate (by its key's SHA-256) and no other
            args.insert(1, "--ignore-certificate-errors-spki-list=" + trust_spki)
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium refuses to run as root with it
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + 30
        self.port = None
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with open(port_file) as f:
                    first = f.readline().strip()
                if first.isdigit():
                    self.port = int(first)
                    break
            except FileNotFoundError:
                pass
            time.sleep(0.1)
        if not self.port:
            out = self.output()
            self.close()
            raise CheckFailed("chromium gave no DevTools port within 30 s:\n" + out)

    def output(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-4000:]

    def page_ws_url(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % self.port,
                                    timeout=OP_TIMEOUT) as r:
            targets = json.load(r)
        pages = [t for t in targets if t.get("type") == "page"]
        check(pages, "chromium has no page target: %r" % targets)
        return pages[0]["webSocketDebuggerUrl"]

    def close(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=5)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=5)
        shutil.rmtree(self.profile, ignore_errors=True)


class Cdp:
    """Commands and events over one page target's DevTools WebSocket."""

    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0
        self.events = []

    async def call(self, method, **params):
        self.next_id += 1
        my_id = self.next_id
        await self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        deadline = time.monotonic() + OP_TIMEOUT
        while time.monotonic() < deadline:
            try:
                msg = json.loads(await asyncio.wait_for(self.ws.recv(), OP_TIMEOUT))
            except asyncio.TimeoutError:
                break
            if msg.get("id") == my_id:
                check("error" not in msg, "CDP %s failed: %r" % (method, msg.get("error")))
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)
        raise CheckFailed("CDP %s: no answer in %d s" % (method, OP_TIMEOUT))

    async def evaluate(self, expression):
        r = await self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                            awaitPromise=True)
        check("exceptionDetails" not in r, "page script %r threw: %r" %
              (expression, r.get("exceptionDetails")))
        return r["result"].get("value")

    async def wait_for(self, expression, what, timeout=OP_TIMEOUT):
        """Polls a page expression until it is truthy (every 100 ms, bounded)."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = await self.evaluate(expression)
            if value:
                return value
            await asyncio.sleep(0.1)
        raise CheckFailed("%s: not true after %d s (last value %r)" % (what, timeout, value))

    def take_events(self, method):
        hits = [e for e in self.events if e["method"] == method]
        self.events = [e for e in self.events if e["method"] != method]
        return hits


async def python_next(ws, want, what):
    """Waits for the room message `want` at the Python client, skipping others."""
    deadline = time.monotonic() + OP_TIMEOUT
    seen = []
    while time.monotonic() < deadline:
        try:
            msg = await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            break
        if msg == want:
            return
        seen.append(msg[:60])
    raise CheckFailed("%s: the Python client did not get %r in %d s (got %r)" %
                      (what, want[:60], OP_TIMEOUT, seen))


LOG_LINES = "[...document.querySelectorAll('#log li')].map(li => li.textContent)"


async def exchange(cdp, port, deflate, label, tls=None):
    """tls: the certificate the listener serves (https:// and wss://), or None."""
    nonce = "%d" % (time.time_ns() % 1000000)
    s = "s" if tls else ""
    ctx = ssl.create_default_context(cafile=tls) if tls else None
    py = await websockets.connect("ws%s://127.0.0.1:%d/ws" % (s, port), open_timeout=OP_TIMEOUT,
                                  close_timeout=OP_TIMEOUT, ping_interval=None, ssl=ctx)
    cdp.take_events("Network.webSocketHandshakeResponseReceived")
    cdp.take_events("Runtime.exceptionThrown")
    await cdp.call("Page.navigate", url="http%s://127.0.0.1:%d/" % (s, port))
    if tls:
        proto = await cdp.evaluate("location.protocol")
        check(proto == "https:", "%s: the page loaded as %r, not https:" % (label, proto))
    await cdp.wait_for("document.title === 'gev chat' && document.body.dataset.state === 'open'",
                       label + ": the page connected to /ws")
    # The page's handshake as Chromium saw it.
    for _ in range(20):
        hs = cdp.take_events("Network.webSocketHandshakeResponseReceived")
        if hs:
            break
        await cdp.evaluate("1")  # lets pending events arrive
    check(hs, label + ": CDP reported no WebSocket handshake")
    resp = hs[-1]["params"]["response"]
    check(resp["status"] == 101, "%s: handshake status %s" % (label, resp["status"]))
    headers = {k.lower(): v for k, v in resp["headers"].items()}
    ext = headers.get("sec-websocket-extensions", "")
    if deflate:
        check("permessage-deflate" in ext, "%s: Chromium's deflate offer not taken: %r" %
              (label, headers))
    else:
        check(ext == "", "%s: deflate=0 but the server answered %r" % (label, ext))

    # The page's UI sends; the Python client receives.
    long_text = "chromium long message " + "ą" * 700 + " end"  # > deflate_threshold, UTF-8
    for text in ("hello from chromium " + nonce, long_text):
        sent = await cdp.evaluate("""(() => {
            document.getElementById('name').value = 'chromium';
            document.getElementById('text').value = %s;
            document.getElementById('send').click();
            return document.getElementById('text').value === '';
        })()""" % json.dumps(text))
        check(sent, "%s: the page's Send left the message box full (socket not open?)" % label)
        await python_next(py, "chromium: " + text, label + ": page to Python")

    # The Python client sends; the page shows it.
    for text in ("python: hello from python " + nonce, "python: " + "ü" * 1500):
        await asyncio.wait_for(py.send(text), OP_TIMEOUT)
        await cdp.wait_for("%s.includes(%s)" % (LOG_LINES, json.dumps(text)),
                           "%s: Python's %r in the page's log" % (label, text[:40]))
    # The Python client leaves: the page shows the notice (without the "* ").
    await asyncio.wait_for(py.close(), OP_TIMEOUT + 2)
    await cdp.wait_for("%s.some(l => / left \\(1 online\\)$/.test(l))" % LOG_LINES,
                       label + ": the leave notice in the page")
    errors = cdp.take_events("Runtime.exceptionThrown")
    check(not errors, "%s: uncaught exception in the page: %r" % (label, errors[:1]))
    lines = await cdp.evaluate(LOG_LINES)
    print("ok   chromium chat (%s): page log has %d lines, handshake extensions %r" %
          (label, len(lines), ext), flush=True)


async def stop_seen(cdp, host):
    """SIGTERM the host under an open page: the browser sees close 1001, not 1006."""
    await cdp.call("Page.navigate", url="http://127.0.0.1:%d/" % host.port)
    await cdp.wait_for("document.title === 'gev chat' && document.body.dataset.state === 'open'",
                       "stop: the page connected")
    host.proc.send_signal(signal.SIGTERM)
    await cdp.wait_for("document.getElementById('status').textContent.startsWith("
                       "'disconnected (1001 server stopping)')",
                       "stop: the page says 'disconnected (1001 server stopping)'")
    rc = host.proc.wait(timeout=10)
    check(rc == 0, "stop: gev-host exited with %s after SIGTERM" % rc)
    print("ok   chromium chat: SIGTERM shows 'disconnected (1001 server stopping)'", flush=True)


def spki_sha256(cert):
    """base64 of the SHA-256 of the certificate's public key (Chromium's SPKI pin)."""
    pub = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-pubkey"],
                         capture_output=True, check=True, timeout=60).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub,
                         capture_output=True, check=True, timeout=60).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


async def drive(chromium, ports, stopping):
    async with websockets.connect(chromium.page_ws_url(), max_size=None, compression=None,
                                  open_timeout=OP_TIMEOUT, ping_interval=None) as ws:
        cdp = Cdp(ws)
        await cdp.call("Runtime.enable")
        await cdp.call("Network.enable")
        await cdp.call("Page.enable")
        for port, deflate, label, tls in ports:
            await exchange(cdp, port, deflate, label, tls)
        await stop_seen(cdp, stopping)
        await cdp.call("Page.navigate", url="about:blank")


def main():
    host, module_dir, _ = parse_args(sys.argv)
    chat = ["--protocol", "websocket", "--handler", "chat", "--loops", "2"]
    certs = tempfile.TemporaryDirectory(prefix="gev-chromium-tls-")
    cert, key = self_signed(certs.name)
    chromium = Chromium(trust_spki=spki_sha256(cert))
    try:
        stopping = GevHost(host, module_dir, chat)  # stopped by the test itself
        try:
            with GevHost(host, module_dir, chat) as on, \
                 GevHost(host, module_dir, chat + ["--module-opt", "websocket.deflate=0"]) as off, \
                 GevHost(host, module_dir, chat + ["--tls-cert", cert, "--tls-key", key]) as tls:
                asyncio.run(drive(chromium, [(on.port, True, "deflate on", None),
                                             (off.port, False, "server websocket.deflate=0", None),
                                             (tls.port, True, "https and wss", cert)],
                                  stopping))
        except Exception:
            sys.stderr.write("--- stopped gev-host log ---\n%s\n" % stopping.log())
            raise
        finally:
            stopping.stop()
            stopping.log_file.close()
    except Exception:
        sys.stderr.write("--- chromium output (tail) ---\n%s\n" % chromium.output())
        raise
    finally:
        chromium.close()
        certs.cleanup()


if __name__ == "__main__":
    run_main("chromium chat", main)
