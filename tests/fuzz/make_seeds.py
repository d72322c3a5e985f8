#!/usr/bin/env python3
"""Writes the generated seed corpora under tests/fuzz/corpus/<target>/.

    tests/fuzz/make_seeds.py            # rewrites the gen-* files; others are kept

Every seed starts with the harness header (tests/fuzz/harness.h): a config/flags byte,
a count of chunk-size bytes and the sizes, then what the peer sends. Seeds named gen-*
come from here; regress-* files are inputs that once crashed a target, kept by hand.
WebSocket seeds are full valid handshakes followed by masked frames (text, binary,
fragmented, ping, close, permessage-deflate compressed with RSV1), plus broken
handshakes and broken frames.
"""
import base64
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

FIRE_AT_END = 0x40
FIRE_EACH_CHUNK = 0x80


def header(config=0, sizes=(), flags=0):
    """The harness header: config index and flags, then the chunk sizes."""
    assert config < 64 and len(sizes) < 8 and all(0 <= s < 256 for s in sizes)
    return bytes([config | flags, len(sizes)]) + bytes(sizes)


def write(target, seeds):
    """seeds: name -> bytes. Replaces this target's gen-* files."""
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if f.startswith("gen-"):
            os.remove(os.path.join(d, f))
    for name, data in seeds.items():
        with open(os.path.join(d, "gen-" + name), "wb") as f:
            f.write(data)


# ---- length_field (configs: see fuzz_length_field.cc) ----

LF_CONFIGS = [  # (bytes, endian)
    (4, ">"), (1, ">"), (2, "<"), (4, ">"), (8, ">"), (8, "<"), (1, "<")]


def lf_frame(config, payload):
    width, endian = LF_CONFIGS[config]
    code = {1: "B", 2: "H", 4: "I", 8: "Q"}[width]
    return struct.pack(endian + code, len(payload)) + payload


def length_field_seeds():
    s = {}
    for c in range(len(LF_CONFIGS)):
        frames = lf_frame(c, b"hello") + lf_frame(c, b"") + lf_frame(c, b"x" * 6)
        s[f"c{c}-three"] = header(c) + frames
        s[f"c{c}-bytewise"] = header(c, [1]) + frames
        s[f"c{c}-split"] = header(c, [3, 7]) + frames + lf_frame(c, b"partial")[:-2]
    s["c2-too-big"] = header(2) + struct.pack("<H", 301) + b"z" * 10
    s["c4-huge-len"] = header(4) + b"\xff" * 8
    s["c6-limit"] = header(6) + b"\x07" + b"1234567" + b"\x08" + b"12345678"
    return s


# ---- line (configs: see fuzz_line.cc) ----

LINE_DELIMS = [b"\n", b"\r\n", b"abc", b"\0", b"aa", b"\r\n\r\n", b"aab"]


def line_seeds():
    s = {}
    for c, d in enumerate(LINE_DELIMS):
        body = b"one" + d + d + b"two" + d + b"three"
        s[f"c{c}-lines"] = header(c) + body
        s[f"c{c}-bytewise"] = header(c, [1]) + body
        s[f"c{c}-split"] = header(c, [2, 5, 1]) + body + d
    s["c1-long"] = header(1, [4]) + b"x" * 17 + b"\r\n"
    s["c4-overlap"] = header(4, [1]) + b"baaaa" + b"aaa"
    s["c6-overlap"] = header(6, [1, 2]) + b"aaab" + b"aaaab" + b"aaaaaab"
    s["c3-empty"] = header(3) + b"\0\0\0x\0"
    return s


# ---- websocket (configs: see fuzz_websocket.cc / fuzz_websocket_nodeflate.cc) ----

KEY = base64.b64encode(bytes(range(16))).decode()
MASK = b"\x37\xfa\x21\x3d"


def handshake(extensions=None, protocols=None, extra="", method="GET", version="13",
              key=KEY, target="/chat", upgrade="websocket", connection="Upgrade"):
    lines = [f"{method} {target} HTTP/1.1", "Host: example.com:8080"]
    if upgrade is not None:
        lines.append(f"Upgrade: {upgrade}")
    if connection is not None:
        lines.append(f"Connection: {connection}")
    if key is not None:
        lines.append(f"Sec-WebSocket-Key: {key}")
    if version is not None:
        lines.append(f"Sec-WebSocket-Version: {version}")
    if protocols:
        lines.append(f"Sec-WebSocket-Protocol: {protocols}")
    if extensions:
        lines.append(f"Sec-WebSocket-Extensions: {extensions}")
    if extra:
        lines.append(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def frame(opcode, payload=b"", fin=True, rsv1=False, mask=MASK, rsv=0):
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | rsv | opcode
    n = len(payload)
    m = 0x80 if mask is not None else 0
    if n < 126:
        head = bytes([b0, m | n])
    elif n < 65536:
        head = bytes([b0, m | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, m | 127]) + struct.pack(">Q", n)
    if mask is None:
        return head + payload
    return head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))


class Deflater:
    """permessage-deflate, client side: raw deflate, sync flush, tail 00 00 ff ff cut."""

    def __init__(self, wbits=15, takeover=True):
        self.wbits, self.takeover = wbits, takeover
        self.z = zlib.compressobj(6, zlib.DEFLATED, -wbits)

    def message(self, data):
        if not self.takeover:
            self.z = zlib.compressobj(6, zlib.DEFLATED, -self.wbits)
        out = self.z.compress(data) + self.z.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(b"\x00\x00\xff\xff")
        return out[:-4]


def close_payload(code, reason=b""):
    return struct.pack(">H", code) + reason


def websocket_frames():
    """Uncompressed traffic, valid and not."""
    return {
        "text": frame(1, b"Hello, world"),
        "binary": frame(2, bytes(range(200))),
        "fragmented": frame(1, b"Hel", fin=False) + frame(9, b"ping!") +
                      frame(0, b"lo ", fin=False) + frame(0, "wörld".encode()),
        "ping-pong": frame(9, b"") + frame(10, b"pong") + frame(9, b"x" * 125),
        "close": frame(8, close_payload(1000, b"bye")) + frame(1, b"after close"),
        "close-empty": frame(8),
        "close-bad-code": frame(8, close_payload(1005)),
        "close-one-byte": frame(8, b"\x03"),
        "close-bad-utf8": frame(8, close_payload(1000, b"\xff")),
        "bad-utf8": frame(1, b"ok \xe2\x82", fin=False) + frame(0, b"\x28"),
        "utf8-split": frame(1, "€".encode()[:1], fin=False) + frame(0, "€".encode()[1:]),
        "unmasked": frame(1, b"no mask", mask=None),
        "rsv2": frame(1, b"x", rsv=0x20),
        "opcode3": frame(3, b"x"),
        "long-control": frame(9, b"p" * 126),
        "fragmented-control": frame(9, b"p", fin=False),
        "stray-continuation": frame(0, b"x"),
        "len16": frame(2, b"m" * 300),
        "len64": frame(2, b"n" * 70000)[:200],
        "len64-top-bit": bytes([0x82, 0xFF]) + b"\x80" + b"\0" * 7 + MASK,
        "too-big": frame(2, b"b" * 100),
    }


def websocket_deflate_frames():
    """Compressed traffic (needs permessage-deflate negotiated)."""
    d = Deflater()
    one = d.message(b"Hello Hello Hello Hello")
    two = d.message(b"Hello Hello again")  # uses the first message's window
    frag = Deflater().message(b"A fragmented compressed message " * 4)
    fresh = Deflater(takeover=False)
    big = Deflater().message(b"\0" * 5000)  # inflates far past a small max_message
    return {
        "deflate-two": frame(1, one, rsv1=True) + frame(1, two, rsv1=True),
        "deflate-fragmented": frame(1, frag[:10], fin=False, rsv1=True) +
                              frame(0, frag[10:20], fin=False) + frame(9, b"mid") +
                              frame(0, frag[20:]),
        "deflate-binary": frame(2, fresh.message(bytes(range(256)) * 2), rsv1=True),
        "deflate-empty": frame(1, fresh.message(b""), rsv1=True),
        "deflate-bomb": frame(2, big, rsv1=True),
        "deflate-garbage": frame(1, b"\xff\xfe\xfd\xfc", rsv1=True),
        "deflate-rsv1-continuation": frame(1, one[:3], fin=False, rsv1=True) +
                                     frame(0, one[3:], rsv1=True),
        "deflate-rsv1-control": frame(9, b"x", rsv1=True),
        "deflate-bad-utf8": frame(1, Deflater().message(b"bad \xc3\x28"), rsv1=True),
    }


def bad_handshakes():
    return {
        "hs-post": handshake(method="POST"),
        "hs-version-8": handshake(version="8"),
        "hs-no-version": handshake(version=None),
        "hs-bad-key": handshake(key="short"),
        "hs-no-key": handshake(key=None),
        "hs-no-upgrade": handshake(upgrade=None, connection=None),  # plain GET: HTTP
        "hs-bad-connection": handshake(connection="keep-alive"),
        "hs-http10": handshake().replace(b"HTTP/1.1", b"HTTP/1.0", 1),
        "hs-no-host": handshake().replace(b"Host: example.com:8080\r\n", b""),
        "hs-long-header": handshake(extra="X-Pad: " + "p" * 400),
        "hs-garbage": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\0" * 40,
        "hs-bare-lf": handshake().replace(b"\r\n", b"\n"),
        "hs-token-list": handshake(connection="keep-alive, Upgrade", upgrade="WebSocket"),
    }


def websocket_seeds(deflate):
    """config 0 is the target's default; 1 has small limits (see the target's file)."""
    s = {}
    hs = handshake()
    for name, data in websocket_frames().items():
        cfg = 1 if name == "too-big" else 0
        s[f"{name}"] = header(cfg) + hs + data
    s["text-chunked"] = header(0, [17, 5, 1, 64]) + hs + websocket_frames()["fragmented"]
    s["text-timers"] = header(0, [0], FIRE_AT_END) + hs + frame(1, b"hi", fin=False)
    s["hs-partial-timer"] = header(0, [], FIRE_AT_END) + hs[:30]
    s["close-timer"] = header(0, [0], FIRE_AT_END) + hs + frame(8, close_payload(1001))
    s["subprotocol"] = header(1) + handshake(protocols="superchat, chat") + frame(1, b"p")
    for name, data in bad_handshakes().items():
        s[name] = header(1 if name == "hs-long-header" else 0) + data
    offers = {
        "plain": "permessage-deflate",
        "params": "permessage-deflate; client_max_window_bits; server_max_window_bits=10",
        "notakeover": "permessage-deflate; server_no_context_takeover; "
                      "client_no_context_takeover",
        "declined-then-ok": "permessage-deflate; server_max_window_bits=8, "
                            "permessage-deflate",
        "bad-param": "permessage-deflate; bogus=1",
        "dup-param": "permessage-deflate; client_max_window_bits=9; client_max_window_bits=9",
        "other-ext": "x-webkit-deflate-frame, permessage-deflate;client_max_window_bits=15",
    }
    for oname, offer in offers.items():
        hs_d = handshake(extensions=offer)
        for name, data in websocket_deflate_frames().items():
            if oname != "plain" and name not in ("deflate-two", "deflate-fragmented"):
                continue
            cfg = 1 if name == "deflate-bomb" else 0
            s[f"{oname}-{name}"] = header(cfg) + hs_d + data
    if deflate:
        s["deflate-chunked"] = (header(0, [3, 1, 0]) + handshake(extensions=offers["plain"]) +
                                websocket_deflate_frames()["deflate-fragmented"])
        s["deflate-small-window"] = (
            header(2) + handshake(extensions="permessage-deflate; client_max_window_bits=9") +
            frame(1, Deflater(wbits=9).message(b"window nine " * 50), rsv1=True))
    return s


# ---- utf8 (input: the bytes to validate) ----

def utf8_seeds():
    s = {
        "ascii": b"hello, world: more than eight bytes of ASCII",
        "two-three-four": "é€𝄞".encode(),
        "overlong": b"\xc0\xaf",
        "surrogate": b"\xed\xa0\x80",
        "max": b"\xf4\x8f\xbf\xbf",
        "truncated": "€".encode()[:2],
        "bad-cont": b"\xe2\x28\xa1",
        "mixed": "κόσμε ".encode() * 3 + b"\x80",
    }
    # The leads whose first continuation byte has a narrower range, at its edges.
    for lead in (0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xED, 0xEF, 0xF0, 0xF3, 0xF4, 0xF5):
        for second in (0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0):
            s[f"{lead:02x}{second:02x}"] = bytes([lead, second, 0x80, 0x80, 0x41])
    return s


# ---- protobuf (configs: see fuzz_protobuf.cc) ----

def pb_frame(name, payload, length=None):
    body = struct.pack(">H", len(name)) + name + payload
    return struct.pack(">I", len(body) if length is None else length) + body


def protobuf_seeds():
    s = {}
    frames = (pb_frame(b"main.Hello", b"\x0a\x05world") + pb_frame(b"", b"") +
              pb_frame(b"x", b"payload" * 3))
    for c in range(3):
        s[f"c{c}-three"] = header(c) + frames
        s[f"c{c}-bytewise"] = header(c, [1]) + frames
        s[f"c{c}-split"] = header(c, [5, 2, 9]) + frames + pb_frame(b"part", b"ial")[:-3]
    s["c1-too-big"] = header(1) + pb_frame(b"n", b"p" * 64)
    s["c0-len-1"] = header(0) + b"\0\0\0\x01\0"
    s["c0-name-too-long"] = header(0) + b"\0\0\0\x04\0\x09ab"
    s["c0-huge"] = header(0) + b"\xff\xff\xff\xff\0\0"
    return s


def main():
    write("fuzz_length_field", length_field_seeds())
    write("fuzz_line", line_seeds())
    write("fuzz_websocket", websocket_seeds(deflate=True))
    write("fuzz_websocket_nodeflate", websocket_seeds(deflate=False))
    write("fuzz_utf8", utf8_seeds())
    write("fuzz_protobuf", protobuf_seeds())


if __name__ == "__main__":
    main()
