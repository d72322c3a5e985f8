#!/usr/bin/python3
"""Interop: the chat page's layout and state in headless Chromium, at a phone's and a
desktop's viewport. Driven over the DevTools protocol like chromium_chat.py (whose
Chromium and Cdp it uses).

usage: chromium_layout.py GEV_HOST MODULE_DIR

For each viewport (375x700 and 360x640 as a phone: mobile emulation, so the page's meta
viewport counts; 1280x800 as a desktop; devicePixelRatio 1), against its own gev-host:
the page joins as "alice" (a change of the name box rejoins under it: the notice names
her), types a message and presses Enter: it comes back marked `own`. A Python client
joins as "Bob Ø" (/ws?name=, percent-encoded UTF-8): the page shows a join notice with
his name; his messages (one a 400-character word) are not `own`; he leaves: a leave
notice with his name. The layout intended, checked on the elements' boxes
(getBoundingClientRect), connected and after the host is stopped:

  - one row at the bottom of the viewport: name box, message box, Send, left to right,
    not overlapping; Send wholly inside the viewport; the message box takes at least
    45% of the width;
  - no horizontal scroll (scrollWidth <= innerWidth) and no page scroll (the log
    scrolls inside), the header's status inside the viewport too.

After SIGTERM to the host (it must exit 0), the log shows "disconnected (1001 server
stopping)", the status says so, Send is disabled and Enter sends nothing. A PNG
screenshot of each state is checked to have the viewport's size (its IHDR) and saved in
$GEV_CHAT_SCREENSHOTS (created if missing) or a new temporary directory, which is kept;
the paths are printed. No uncaught exception in the page.
"""

import asyncio
import base64
import json
import os
import signal
import struct
import sys
import tempfile
import urllib.parse

# gevhost first: it fails with a clear message when websockets is missing.
from gevhost import GevHost, check, parse_args, run_main
import websockets

from chromium_chat import OP_TIMEOUT, Cdp, Chromium

CHAT = ["--protocol", "websocket", "--handler", "chat", "--loops", "2"]
VIEWPORTS = [(375, 700, True), (1280, 800, False), (360, 640, True)]
BOB = "Bob Ø"

# The boxes the layout checks use, and the viewport's own numbers.
GEOMETRY = """(() => {
  const box = id => {
    const r = document.getElementById(id).getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width};
  };
  const root = document.documentElement;
  return {innerWidth, innerHeight, dpr: devicePixelRatio, scrollWidth: root.scrollWidth,
          scrollHeight: root.scrollHeight, name: box('name'), text: box('text'),
          send: box('send'), status: box('status'), log: box('log')};
})()"""

# The log as [text, className] pairs.
LOG = "[...document.querySelectorAll('#log li')].map(li => [li.textContent, li.className])"


def log_has(pattern, cls=None, exact=False):
    """A page expression: some log line matches the JS regex `pattern` (is `pattern` if
    exact), and has the class cls if given."""
    test = ("l[0] === %s" if exact else "new RegExp(%s).test(l[0])") % json.dumps(pattern)
    if cls:
        test += " && l[1].split(' ').includes(%s)" % json.dumps(cls)
    return "%s.some(l => %s)" % (LOG, test)


def check_layout(g, width, height, label):
    def inside(b):
        return b["left"] >= 0 and b["top"] >= 0 and b["right"] <= width and b["bottom"] <= height

    check(g["innerWidth"] == width and g["innerHeight"] == height,
          "%s: viewport %sx%s, want %dx%d (meta viewport?)" %
          (label, g["innerWidth"], g["innerHeight"], width, height))
    check(g["dpr"] == 1, "%s: devicePixelRatio %s, want 1" % (label, g["dpr"]))
    name, text, send = g["name"], g["text"], g["send"]
    check(inside(send), "%s: Send %r is not inside the %dx%d viewport" % (label, send, width, height))
    check(inside(name) and inside(text), "%s: an input box is outside the viewport: name %r, "
          "text %r" % (label, name, text))
    check(name["right"] <= text["left"] and text["right"] <= send["left"],
          "%s: not name | message | Send left to right: name %r, text %r, Send %r" %
          (label, name, text, send))
    check(max(abs(name["top"] - send["top"]), abs(text["top"] - send["top"])) <= 4,
          "%s: the inputs and Send are not one row: tops %s %s %s" %
          (label, name["top"], text["top"], send["top"]))
    check(send["bottom"] >= height - 40, "%s: the input row is not at the bottom: Send %r" %
          (label, send))
    check(text["width"] >= 0.45 * width, "%s: the message box is %.0f px of %d" %
          (label, text["width"], width))
    check(g["log"]["bottom"] <= send["top"], "%s: the log %r runs under the input row" %
          (label, g["log"]))
    check(inside(g["status"]), "%s: the status %r is outside the viewport" % (label, g["status"]))
    check(g["scrollWidth"] <= width, "%s: horizontal scroll: scrollWidth %s > %d" %
          (label, g["scrollWidth"], width))
    check(g["scrollHeight"] <= height, "%s: the page scrolls: scrollHeight %s > %d" %
          (label, g["scrollHeight"], height))


def png_size(data):
    check(data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR",
          "the screenshot is not a PNG: %r" % data[:16])
    return struct.unpack(">II", data[16:24])


async def screenshot(cdp, width, height, path):
    r = await cdp.call("Page.captureScreenshot", format="png")
    data = base64.b64decode(r["data"])
    size = png_size(data)
    check(size == (width, height), "screenshot %s is %dx%d, want %dx%d" %
          ((path,) + size + (width, height)))
    with open(path, "wb") as f:
        f.write(data)
    print("     screenshot %s" % path, flush=True)


async def press_enter(cdp):
    for kind in ("keyDown", "keyUp"):
        await cdp.call("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter",
                       windowsVirtualKeyCode=13, nativeVirtualKeyCode=13,
                       **({"text": "\r"} if kind == "keyDown" else {}))


async def type_text(cdp, text):
    """Types into the message box as a user would, then presses Enter."""
    await cdp.evaluate("document.getElementById('text').focus()")
    await cdp.call("Input.insertText", text=text)
    await press_enter(cdp)


async def viewport(cdp, host_path, module_dir, width, height, mobile, shots):
    label = "%dx%d" % (width, height)
    host = GevHost(host_path, module_dir, CHAT)
    try:
        await cdp.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                       deviceScaleFactor=1, mobile=mobile)
        await cdp.call("Page.navigate", url="http://127.0.0.1:%d/" % host.port)
        await cdp.wait_for("document.title === 'gev chat' && document.body.dataset.state === 'open'",
                           label + ": the page connected")
        check(await cdp.evaluate("!document.getElementById('send').disabled"),
              label + ": Send disabled while connected")

        # A new name rejoins under it: the room announces alice by name. (The counts are
        # python_chat.py's: the old guest's leave may be counted after alice's join.)
        await cdp.evaluate("""(() => {
            const n = document.getElementById('name');
            n.value = 'alice';
            n.dispatchEvent(new Event('change'));
        })()""")
        await cdp.wait_for(log_has(r"^alice \(#\d+\) joined \(\d+ online\)$", "join") +
                           " && document.body.dataset.state === 'open'",
                           label + ": alice's join notice")
        mine = "alice: hello from a %s screen" % label
        await type_text(cdp, mine.split(": ", 1)[1])
        await cdp.wait_for(log_has(mine, "own", exact=True), label + ": alice's message, own")
        check(await cdp.evaluate("document.getElementById('text').value === ''"),
              label + ": the message box kept the sent text")

        py = await websockets.connect(
            "ws://127.0.0.1:%d/ws?name=%s" % (host.port, urllib.parse.quote(BOB)),
            open_timeout=OP_TIMEOUT, close_timeout=OP_TIMEOUT, ping_interval=None)
        await cdp.wait_for(log_has(r"^%s \(#\d+\) joined \(\d+ online\)$" % BOB, "join"),
                           label + ": the join notice names " + BOB)
        check(await cdp.evaluate("[...document.querySelectorAll('#log li.join .who')]"
                                 ".some(w => w.textContent === %s)" % json.dumps(BOB)),
              label + ": the join notice does not set off the name")
        for text in (BOB + ": hi alice", BOB + ": " + "w" * 400):
            await asyncio.wait_for(py.send(text), OP_TIMEOUT)
            await cdp.wait_for(log_has(text, exact=True), label + ": Bob's message shown")
            check(not await cdp.evaluate(log_has(text, "own", exact=True)),
                  label + ": Bob's message is marked own")
        await asyncio.wait_for(py.close(), OP_TIMEOUT + 2)
        await cdp.wait_for(log_has(r"^%s \(#\d+\) left \(\d+ online\)$" % BOB, "leave"),
                           label + ": the leave notice names " + BOB)
        check_layout(await cdp.evaluate(GEOMETRY), width, height, label + " connected")
        await screenshot(cdp, width, height, os.path.join(shots, label + "-connected.png"))

        # The host stops: the close code and reason in the log, Send off, Enter sends nothing.
        host.proc.send_signal(signal.SIGTERM)
        await cdp.wait_for("document.getElementById('status').textContent.startsWith("
                           "'disconnected (1001 server stopping)')",
                           label + ": the status says 'disconnected (1001 server stopping)'")
        check(await cdp.evaluate(log_has(r"^disconnected \(1001 server stopping\)$", "error")),
              label + ": no 'disconnected (1001 server stopping)' line in the log: %r" %
              (await cdp.evaluate(LOG))[-3:])
        check(await cdp.evaluate("document.getElementById('send').disabled"),
              label + ": Send enabled while disconnected")
        lines = await cdp.evaluate("document.querySelectorAll('#log li').length")
        await type_text(cdp, "not sent")
        await asyncio.sleep(0.2)
        check(await cdp.evaluate("document.getElementById('text').value === 'not sent' && "
                                 "document.querySelectorAll('#log li').length === %d" % lines),
              label + ": Enter while disconnected did something")
        rc = host.proc.wait(timeout=10)
        check(rc == 0, "%s: gev-host exited with %s after SIGTERM" % (label, rc))
        check_layout(await cdp.evaluate(GEOMETRY), width, height, label + " disconnected")
        await screenshot(cdp, width, height, os.path.join(shots, label + "-disconnected.png"))
        await cdp.call("Page.navigate", url="about:blank")  # no more retries
        errors = cdp.take_events("Runtime.exceptionThrown")
        check(not errors, "%s: uncaught exception in the page: %r" % (label, errors[:1]))
        print("ok   chromium layout %s%s" % (label, " (mobile)" if mobile else ""), flush=True)
    except Exception:
        sys.stderr.write("--- gev-host (%s) log ---\n%s\n" % (label, host.log()))
        raise
    finally:
        host.stop()
        host.log_file.close()


async def drive(chromium, host_path, module_dir, shots):
    async with websockets.connect(chromium.page_ws_url(), max_size=None, compression=None,
                                  open_timeout=OP_TIMEOUT, ping_interval=None) as ws:
        cdp = Cdp(ws)
        await cdp.call("Runtime.enable")
        await cdp.call("Page.enable")
        for width, height, mobile in VIEWPORTS:
            await viewport(cdp, host_path, module_dir, width, height, mobile, shots)


def main():
    host_path, module_dir, _ = parse_args(sys.argv)
    shots = os.environ.get("GEV_CHAT_SCREENSHOTS")
    if shots:
        os.makedirs(shots, exist_ok=True)
    else:
        shots = tempfile.mkdtemp(prefix="gev-chat-layout-")
    chromium = Chromium()
    try:
        asyncio.run(drive(chromium, host_path, module_dir, shots))
    except Exception:
        sys.stderr.write("--- chromium output (tail) ---\n%s\n" % chromium.output())
        raise
    finally:
        chromium.close()
    print("     screenshots in %s" % shots, flush=True)


if __name__ == "__main__":
    run_main("chromium layout", main)
