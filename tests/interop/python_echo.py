#!/usr/bin/python3
"""Interop: Python `websockets` (Debian python3-websockets 10.4) against
`gev-host --protocol websocket --handler echo`.

usage: python_echo.py GEV_HOST MODULE_DIR

For each compression setting (client offers permessage-deflate and the server takes it;
client offers none; the client offers but the server runs with websocket.deflate=0):
text and binary echo of 0 B .. 1 MiB, fragmented sends, ping/pong, subprotocol
selection, a clean close with 1000 seen by the client, and other close codes echoed. Where deflate is negotiated,
the frames the server sends are checked for RSV1 (compressed) above the 64-byte
threshold set here and not below it.
"""

import asyncio
import random
import sys
import time

# gevhost first: it fails with a clear message when websockets is missing.
from gevhost import CheckFailed, GevHost, check, parse_args, run_main
import websockets
from websockets.exceptions import ConnectionClosedOK


SIZES = [0, 1, 125, 126, 127, 65535, 65536, 1 << 20]
OP_TIMEOUT = 10  # seconds for any single operation
rng = random.Random(6455)


def text_of(n):
    # Mostly ASCII, with a 3-byte character so UTF-8 crosses frame/fragment boundaries.
    s = "".join(rng.choice("abcdefghij klmnop€") for _ in range(n))
    s = s.encode()[:n].decode("utf-8", "ignore")
    return s + "x" * (n - len(s.encode()))  # exactly n bytes of UTF-8


def binary_of(n):
    return rng.randbytes(n)


class Rsv1Spy:
    """Records RSV1 of each data frame the server sends (wraps the negotiated deflate)."""

    def __init__(self, ws):
        self.frames = []
        for ext in ws.extensions:
            if ext.name == "permessage-deflate":
                inner = ext.decode

                def decode(frame, *, max_size=None, _inner=inner):
                    if frame.opcode in (1, 2):
                        self.frames.append((frame.rsv1, len(frame.data)))
                    return _inner(frame, max_size=max_size)

                ext.decode = decode

    def take(self):
        f, self.frames = self.frames, []
        return f


async def connect(port, compression, **kw):
    return await websockets.connect("ws://127.0.0.1:%d/echo" % port, compression=compression,
                                    max_size=4 << 20, open_timeout=OP_TIMEOUT,
                                    close_timeout=OP_TIMEOUT, ping_interval=None, **kw)


async def expect_echo(ws, sent, what):
    await asyncio.wait_for(ws.send(sent), OP_TIMEOUT)
    got = await asyncio.wait_for(ws.recv(), OP_TIMEOUT)
    whole = sent if isinstance(sent, (str, bytes)) else type(sent[0])().join(sent)
    check(type(got) is type(whole),
          "%s: sent %s, echo came back as %s" % (what, type(whole).__name__, type(got).__name__))
    check(got == whole, "%s: echo differs (sent %d, got %d: first bytes %r)" %
          (what, len(whole), len(got), got[:40]))


async def echo_checks(port, compression, deflate_expected, label):
    ws = await connect(port, compression)
    ext = ws.response_headers.get("Sec-WebSocket-Extensions")
    if deflate_expected:
        check(ext and "permessage-deflate" in ext,
              "%s: permessage-deflate not negotiated (response Sec-WebSocket-Extensions: %r)" %
              (label, ext))
    else:
        check(ext is None, "%s: no extension expected, server answered %r" % (label, ext))
    spy = Rsv1Spy(ws)

    for n in SIZES:
        await expect_echo(ws, text_of(n), "%s: text %d B" % (label, n))
        await expect_echo(ws, binary_of(n), "%s: binary %d B" % (label, n))
    # Highly compressible: deflate must shrink it and inflate must restore it.
    await expect_echo(ws, "gev " * (1 << 18), "%s: compressible text 1 MiB" % label)
    frames = spy.take()
    if deflate_expected:
        small = [r for r, _ in frames[:4]]  # 0 and 1 B, text and binary: under the threshold
        check(not any(small), "%s: RSV1 set on messages under deflate_threshold: %r" %
              (label, frames[:4]))
        check(all(r for r, _ in frames[4:]), "%s: RSV1 clear on a message of 125 B or more" %
              label)
        check(frames[-1][0], "%s: the compressible 1 MiB echo came back uncompressed" % label)
        check(frames[-1][1] < 100000, "%s: compressible 1 MiB compressed to %d B on the wire" %
              (label, frames[-1][1]))

    # Fragmented sends: websockets sends an iterable as one message in fragments.
    await expect_echo(ws, ["frag", "mented ", "", "text €", "!"], "%s: 5 text fragments" % label)
    await expect_echo(ws, [binary_of(1000), binary_of(70000), binary_of(3)],
                      "%s: 3 binary fragments" % label)
    await expect_echo(ws, [text_of(40000) for _ in range(8)], "%s: 8 text fragments of 40 kB" %
                      label)

    # Ping with a payload: the module answers with a pong carrying it.
    for payload in (b"", b"gev ping", bytes(range(125))):
        pong = await asyncio.wait_for(ws.ping(payload), OP_TIMEOUT)
        try:
            await asyncio.wait_for(pong, OP_TIMEOUT)
        except asyncio.TimeoutError:
            raise CheckFailed("%s: no pong for a ping of %d B" % (label, len(payload)))
    await expect_echo(ws, "after pings", "%s: echo after pings" % label)

    # Clean close: the client sends 1000, the server answers 1000 and closes TCP.
    start = time.monotonic()
    await asyncio.wait_for(ws.close(1000, "done"), OP_TIMEOUT + 2)
    took = time.monotonic() - start
    check(ws.close_rcvd is not None, "%s: close: no close frame from the server" % label)
    check(ws.close_rcvd.code == 1000, "%s: close: server answered code %s, not 1000" %
          (label, ws.close_rcvd.code))
    check(ws.close_code == 1000, "%s: close_code %s" % (label, ws.close_code))
    check(took < 3, "%s: close took %.1f s (the server did not close TCP promptly)" %
          (label, took))
    try:
        await asyncio.wait_for(ws.recv(), OP_TIMEOUT)
        raise CheckFailed("%s: recv after close returned a message" % label)
    except ConnectionClosedOK:
        pass  # closed cleanly: close frames both ways, code 1000


async def close_code_checks(port, compression, label):
    # Any valid code the client sends comes back (no reason); then the TCP close.
    for code in (1001, 3000, 4999):
        ws = await connect(port, compression)
        await asyncio.wait_for(ws.close(code, "bye"), OP_TIMEOUT + 2)
        check(ws.close_rcvd is not None and ws.close_rcvd.code == code,
              "%s: client closed with %d, server answered %r" % (label, code, ws.close_rcvd))


async def subprotocol_checks(port, compression, label):
    # The server's preference (websocket.subprotocols=chat.v2,chat.v1) wins.
    cases = [(["chat.v1"], "chat.v1"), (["chat.v1", "chat.v2"], "chat.v2"),
             (["other", "chat.v1"], "chat.v1"), (["other"], None), (None, None)]
    for offer, want in cases:
        ws = await connect(port, compression, subprotocols=offer)
        check(ws.subprotocol == want, "%s: offered %r, got subprotocol %r, want %r" %
              (label, offer, ws.subprotocol, want))
        await expect_echo(ws, "sub", "%s: echo with subprotocol %r" % (label, want))
        await asyncio.wait_for(ws.close(), OP_TIMEOUT + 2)
        check(ws.close_code == 1000, "%s: subprotocol %r: close code %s" %
              (label, want, ws.close_code))


def main():
    host, module_dir, _ = parse_args(sys.argv)
    # deflate_threshold=64 (the default is 1024) so small messages are compressed too.
    common = ["--protocol", "websocket", "--handler", "echo", "--loops", "2", "--module-opt",
              "websocket.subprotocols=chat.v2,chat.v1", "--module-opt",
              "websocket.deflate_threshold=64"]
    with GevHost(host, module_dir, common) as h:
        for compression, deflate, label in (("deflate", True, "deflate on"),
                                            (None, False, "client compression=None")):
            asyncio.run(echo_checks(h.port, compression, deflate, label))
            asyncio.run(subprotocol_checks(h.port, compression, label))
            asyncio.run(close_code_checks(h.port, compression, label))
            print("ok   python websockets echo: %s" % label, flush=True)
    with GevHost(host, module_dir, common + ["--module-opt", "websocket.deflate=0"]) as h:
        label = "server websocket.deflate=0"
        asyncio.run(echo_checks(h.port, "deflate", False, label))
        asyncio.run(subprotocol_checks(h.port, "deflate", label))
        asyncio.run(close_code_checks(h.port, "deflate", label))
        print("ok   python websockets echo: %s" % label, flush=True)


if __name__ == "__main__":
    run_main("python websockets echo", main)
