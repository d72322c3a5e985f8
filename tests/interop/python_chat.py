#!/usr/bin/python3
"""Interop: Python `websockets` clients in the chat room (`--handler chat`).

usage: python_chat.py GEV_HOST MODULE_DIR

With the client's permessage-deflate on and off: the page is served at / (self-contained),
other paths get 404 (plain GET and upgrade); three clients over two loops each receive
every message (the sender too) and join/leave notices; a message over
chat.max_message_len closes its sender with 1009, a binary one with 1003, and the room
goes on; then 8 members send 30 messages each at once and every member gets all 240, each
sender's in order.
"""

import asyncio
import http.client
import re
import sys

# gevhost first: it fails with a clear message when websockets is missing.
from gevhost import CheckFailed, GevHost, check, parse_args, run_main
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatusCode


OP_TIMEOUT = 10
MAX_LEN = 4096


async def join(port, compression, path="/ws"):
    return await websockets.connect("ws://127.0.0.1:%d%s" % (port, path), compression=compression,
                                    open_timeout=OP_TIMEOUT, close_timeout=OP_TIMEOUT,
                                    ping_interval=None)


async def next_message(ws, what, notices=None):
    """The next chat message (notices, "* ...", are collected into `notices`)."""
    while True:
        try:
            msg = await asyncio.wait_for(ws.recv(), OP_TIMEOUT)
        except asyncio.TimeoutError:
            raise CheckFailed("%s: nothing arrived in %d s" % (what, OP_TIMEOUT))
        check(isinstance(msg, str), "%s: a binary message from the room: %r" % (what, msg[:40]))
        if not msg.startswith("* "):
            return msg
        if notices is not None:
            notices.append(msg)


async def wait_notice(ws, pattern, what):
    for _ in range(20):  # bounded: a few notices at most are in flight
        try:
            msg = await asyncio.wait_for(ws.recv(), OP_TIMEOUT)
        except asyncio.TimeoutError:
            raise CheckFailed("%s: no notice matching %r in %d s" % (what, pattern, OP_TIMEOUT))
        if re.fullmatch(pattern, msg):
            return msg
    raise CheckFailed("%s: no notice matching %r in 20 messages" % (what, pattern))


def http_get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=OP_TIMEOUT)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, r.getheader("Content-Type"), body


async def expect_closed(ws, code, what):
    try:
        for _ in range(20):
            await asyncio.wait_for(ws.recv(), OP_TIMEOUT)
        raise CheckFailed("%s: still open after 20 messages" % what)
    except ConnectionClosed:
        pass
    except asyncio.TimeoutError:
        raise CheckFailed("%s: not closed within %d s" % (what, OP_TIMEOUT))
    check(ws.close_code == code, "%s: close code %s, want %d (reason %r)" %
          (what, ws.close_code, code, ws.close_reason))


async def room_checks(port, compression, label):
    status, ctype, body = http_get(port, "/")
    check(status == 200, "%s: GET / answered %d" % (label, status))
    check(ctype and ctype.startswith("text/html"), "%s: GET / Content-Type %r" % (label, ctype))
    page = body.decode()
    check("<title>gev chat</title>" in page and "new WebSocket" in page,
          "%s: GET / is not the chat page: %r" % (label, page[:200]))
    check(not re.search(r"(src|href)\s*=|@import|url\(", page),
          "%s: the page loads an external resource" % label)
    status, _, _ = http_get(port, "/nope")
    check(status == 404, "%s: GET /nope answered %d, want 404" % (label, status))
    try:
        ws = await join(port, compression, "/elsewhere")
        raise CheckFailed("%s: upgrade on /elsewhere was accepted" % label)
    except InvalidStatusCode as e:
        check(e.status_code == 404, "%s: upgrade on /elsewhere: %d, want 404" %
              (label, e.status_code))

    # Three members over two loops (round robin): every message reaches all of them. A
    # member's first message is the notice of its own join (it joins, then it is announced).
    a = await join(port, compression)
    await wait_notice(a, r"\* #\d+ joined \(1 online\)", label + ": A's own join")
    b = await join(port, compression)
    b_id = re.match(r"\* #(\d+)", await wait_notice(b, r"\* #\d+ joined.*", label)).group(1)
    await wait_notice(a, r"\* #%s joined \(2 online\)" % b_id, label + ": A sees B join")
    c = await join(port, compression)
    c_id = re.match(r"\* #(\d+)", await wait_notice(c, r"\* #\d+ joined.*", label)).group(1)
    await wait_notice(a, r"\* #%s joined \(3 online\)" % c_id, label + ": A sees C join")
    members = {"A": a, "B": b, "C": c}
    for sender, text in (("A", "hello from A"), ("B", "B: grüße €"), ("C", "c" * MAX_LEN),
                         ("A", "x" * 200)):
        await asyncio.wait_for(members[sender].send(text), OP_TIMEOUT)
        for name, ws in members.items():
            got = await next_message(ws, "%s: %s waiting for %s's message" %
                                     (label, name, sender))
            check(got == text, "%s: %s got %r (len %d), want %s's %r (len %d)" %
                  (label, name, got[:40], len(got), sender, text[:40], len(text)))

    # Over the limit: the sender is closed with 1009; binary: 1003. The others stay.
    big = await join(port, compression)
    await big.send("y" * (MAX_LEN + 1))
    await expect_closed(big, 1009, label + ": message over max_message_len")
    binary = await join(port, compression)
    await binary.send(b"\x00\x01")
    await expect_closed(binary, 1003, label + ": binary message")
    await c.close()
    check(c.close_code == 1000, "%s: C's close code %s" % (label, c.close_code))
    await wait_notice(a, r"\* #%s left \(\d+ online\)" % c_id, label + ": A sees C leave")
    await a.send("still here")
    for name, ws in (("A", a), ("B", b)):
        got = await next_message(ws, "%s: %s after the refusals" % (label, name))
        check(got == "still here", "%s: %s got %r after the refusals" % (label, name, got))
    await a.close()
    await b.close()
    await burst(port, compression, label)


async def burst(port, compression, label, senders=8, each=30):
    """Everyone talks at once: each member gets all messages, each sender's in order."""
    room = [await join(port, compression) for _ in range(senders)]

    async def talk(i):
        for j in range(each):
            await room[i].send("burst %d %d" % (i, j))

    async def listen(ws, who):
        last = [-1] * senders
        for _ in range(senders * each):
            got = await next_message(ws, "%s: member %d in the burst" % (label, who))
            m = re.fullmatch(r"burst (\d+) (\d+)", got)
            check(m, "%s: member %d got %r in the burst" % (label, who, got[:40]))
            i, j = int(m.group(1)), int(m.group(2))
            check(j == last[i] + 1, "%s: member %d got sender %d's #%d after #%d" %
                  (label, who, i, j, last[i]))
            last[i] = j

    await asyncio.wait_for(asyncio.gather(*[talk(i) for i in range(senders)],
                                          *[listen(ws, k) for k, ws in enumerate(room)]),
                           OP_TIMEOUT * 3)
    for ws in room:
        await ws.close()


def main():
    host, module_dir, _ = parse_args(sys.argv)
    args = ["--protocol", "websocket", "--handler", "chat", "--loops", "2",
            "--module-opt", "chat.max_message_len=%d" % MAX_LEN]
    for compression, extra, label in (
            ("deflate", [], "deflate on"), (None, [], "client compression=None"),
            ("deflate", ["--module-opt", "websocket.deflate=0"], "server websocket.deflate=0")):
        with GevHost(host, module_dir, args + extra) as h:  # a fresh room: counts start at 0
            asyncio.run(room_checks(h.port, compression, label))
        print("ok   python websockets chat: %s" % label, flush=True)


if __name__ == "__main__":
    run_main("python websockets chat", main)
