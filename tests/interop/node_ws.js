// Interop: Node's `ws` (Debian node-ws, from /usr/share/nodejs) against gev-host's
// websocket module. Run by node_interop.py, which starts the hosts.
//
//   node node_ws.js echo PORT DEFLATE EXPECT_DEFLATE   echo handler, subprotocols chat.v2,chat.v1
//   node node_ws.js chat PORT DEFLATE                  chat handler
//
// DEFLATE 1/0: the client's perMessageDeflate. Exits 0 after printing "ok ...", or 1 with
// "FAIL <what>" on the first failed check. Every wait is bounded.
"use strict";
const WebSocket = require("ws");
const crypto = require("crypto");

const OP_TIMEOUT_MS = 10000;
const [mode, portArg, deflateArg, expectArg] = process.argv.slice(2);
const port = Number(portArg);
const deflate = deflateArg === "1";
const label = `node ws ${mode} perMessageDeflate=${deflate}` +
              (mode === "echo" ? `, server deflate expected ${expectArg === "1"}` : "");

class CheckFailed extends Error {}
function check(cond, what) {
  if (!cond) throw new CheckFailed(what);
}
function withTimeout(promise, what, ms = OP_TIMEOUT_MS) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new CheckFailed(`${what}: no answer in ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// A client whose messages queue up, so a check can await "the next one".
class Client {
  constructor(path, protocols) {
    this.queue = [];
    this.waiters = [];
    this.closed = null;
    // GEV_WS_SCHEME=wss: over TLS, the certificate trusted through NODE_EXTRA_CA_CERTS.
    const scheme = process.env.GEV_WS_SCHEME || "ws";
    const where = scheme === "wss" ? "localhost" : "127.0.0.1";
    this.ws = new WebSocket(`${scheme}://${where}:${port}${path}`, protocols, {
      perMessageDeflate: deflate,
      maxPayload: 4 << 20,
      handshakeTimeout: OP_TIMEOUT_MS,
    });
    this.opened = withTimeout(
      new Promise((resolve, reject) => {
        this.ws.once("open", resolve);
        this.ws.once("error", reject);
        this.ws.once("unexpected-response", (req, res) => {
          reject(new CheckFailed(`upgrade on ${path} answered ${res.statusCode}`));
          req.destroy();
        });
      }),
      `connect ${path}`);
    this.opened.catch(() => {});  // awaited by the checks; no unhandled rejection meanwhile
    this.ws.on("message", (data, isBinary) => this.push({ data, isBinary }));
    this.done = new Promise((resolve) => {
      this.ws.addEventListener("close", (ev) => {
        this.closed = { code: ev.code, reason: ev.reason, wasClean: ev.wasClean };
        this.push(null);
        resolve(this.closed);
      });
    });
    this.ws.on("error", (e) => { this.error = e; });
  }
  push(m) {
    if (this.waiters.length) this.waiters.shift()(m);
    else this.queue.push(m);
  }
  next(what) {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    return withTimeout(new Promise((resolve) => this.waiters.push(resolve)), what);
  }
  send(data, options = {}) {
    return withTimeout(new Promise((resolve, reject) =>
      this.ws.send(data, options, (e) => (e ? reject(e) : resolve()))), "send");
  }
}

function randomText(n) {
  const alphabet = "abcdefghij klmnop€";
  const chars = [];
  let bytes = 0;
  while (bytes < n) {
    const ch = alphabet[crypto.randomInt(alphabet.length)];
    const b = Buffer.byteLength(ch);
    if (bytes + b > n) break;
    chars.push(ch);
    bytes += b;
  }
  return chars.join("") + "x".repeat(n - bytes);  // exactly n bytes of UTF-8
}

async function expectEcho(c, sent, isBinary, what) {
  const m = await c.next(what);
  check(m !== null, `${what}: connection closed (${JSON.stringify(c.closed)})`);
  check(m.isBinary === isBinary, `${what}: came back as ${m.isBinary ? "binary" : "text"}`);
  const want = Buffer.isBuffer(sent) ? sent : Buffer.from(sent);
  check(Buffer.compare(m.data, want) === 0,
        `${what}: echo differs (sent ${want.length} B, got ${m.data.length} B)`);
}

async function echo() {
  const expectDeflate = expectArg === "1";
  const c = new Client("/echo");
  await c.opened;
  const ext = c.ws.extensions;
  if (expectDeflate) check(ext.includes("permessage-deflate"), `extensions "${ext}": no deflate`);
  else check(ext === "", `extensions "${ext}": expected none`);

  for (const n of [0, 1, 125, 126, 127, 65535, 65536, 1 << 20]) {
    const text = randomText(n);
    await c.send(text);
    await expectEcho(c, text, false, `text ${n} B`);
    const bin = crypto.randomBytes(n);
    await c.send(bin, { binary: true });
    await expectEcho(c, bin, true, `binary ${n} B`);
  }
  const compressible = "gev ".repeat(1 << 18);
  await c.send(compressible);
  await expectEcho(c, compressible, false, "compressible text 1 MiB");

  // Fragments: fin=false sends a fragment; ws compresses each one when deflate is on.
  const parts = ["frag", "mented ", "", "text €", "!"];
  for (let i = 0; i < parts.length; ++i) await c.send(parts[i], { fin: i === parts.length - 1 });
  await expectEcho(c, parts.join(""), false, "5 text fragments");
  const bparts = [crypto.randomBytes(1000), crypto.randomBytes(70000), crypto.randomBytes(3)];
  for (let i = 0; i < bparts.length; ++i)
    await c.send(bparts[i], { binary: true, fin: i === bparts.length - 1 });
  await expectEcho(c, Buffer.concat(bparts), true, "3 binary fragments");

  // A ping between two fragments of one message: answered at once, message intact.
  const between = withTimeout(new Promise((resolve) => c.ws.once("pong", resolve)),
                              "pong for a ping between fragments");
  await c.send("before the ping, ", { fin: false });
  c.ws.ping("mid");
  check((await between).toString() === "mid", "pong between fragments: wrong payload");
  await c.send("after it", { fin: true });
  await expectEcho(c, "before the ping, after it", false, "message around a ping");

  for (const payload of [Buffer.alloc(0), Buffer.from("gev ping"), crypto.randomBytes(125)]) {
    const pong = withTimeout(new Promise((resolve) => c.ws.once("pong", resolve)),
                             `pong for ${payload.length} B`);
    c.ws.ping(payload);
    const got = await pong;
    check(Buffer.compare(got, payload) === 0, `pong payload differs (${got.length} B)`);
  }

  const started = Date.now();
  c.ws.close(1000, "done");
  const closed = await withTimeout(c.done, "close 1000");
  check(closed.code === 1000, `close: code ${closed.code}, want 1000`);
  check(closed.wasClean, "close: wasClean false (no close frame both ways)");
  check(Date.now() - started < 3000, `close took ${Date.now() - started} ms`);

  // Subprotocols: the server's preference (chat.v2, chat.v1) decides.
  // ws fails the connection itself when it offered and got none ("Server sent no
  // subprotocol"): for ["other"] that failure is the pass.
  const none = new Client("/echo", ["other"]);
  let err = null;
  await none.opened.catch((e) => { err = e.message; });
  check(err && err.includes("no subprotocol"),
        `offered ["other"]: want no subprotocol selected, got ${err || `"${none.ws.protocol}"`}`);
  for (const [offer, want] of [[["chat.v1"], "chat.v1"], [["chat.v1", "chat.v2"], "chat.v2"],
                               [["other", "chat.v1"], "chat.v1"], [undefined, ""]]) {
    const s = new Client("/echo", offer);
    await s.opened;
    check(s.ws.protocol === want, `offered ${offer}: protocol "${s.ws.protocol}", want "${want}"`);
    await s.send("sub");
    await expectEcho(s, "sub", false, `echo with subprotocol "${want}"`);
    s.ws.close(1000);
    const sc = await withTimeout(s.done, "subprotocol close");
    check(sc.code === 1000 && sc.wasClean, `subprotocol close: ${JSON.stringify(sc)}`);
  }
}

async function nextChat(c, what) {
  for (let i = 0; i < 20; ++i) {  // bounded: skips a few notices ("* ...")
    const m = await c.next(what);
    check(m !== null, `${what}: connection closed (${JSON.stringify(c.closed)})`);
    check(!m.isBinary, `${what}: binary message from the room`);
    const text = m.data.toString();
    if (!text.startsWith("* ")) return text;
  }
  throw new CheckFailed(`${what}: only notices`);
}

async function chat() {
  const members = [new Client("/ws"), new Client("/ws"), new Client("/ws")];
  await Promise.all(members.map((m) => m.opened));
  for (const [i, text] of [[0, "hello from node"], [1, "ünïcödé €"], [2, "z".repeat(3000)]]) {
    await members[i].send(text);
    for (let j = 0; j < members.length; ++j) {
      const got = await nextChat(members[j], `member ${j} waiting for member ${i}`);
      check(got === text, `member ${j} got "${got.slice(0, 40)}" (${got.length}), want ` +
                          `member ${i}'s "${text.slice(0, 40)}" (${text.length})`);
    }
  }
  const bad = new Client("/elsewhere");
  let refused = null;
  try {
    await bad.opened;
  } catch (e) {
    refused = e.message;
  }
  check(refused && refused.includes("404"), `upgrade on /elsewhere: ${refused || "accepted"}`);
  for (const m of members) {
    m.ws.close(1000);
    const cl = await withTimeout(m.done, "chat close");
    check(cl.code === 1000 && cl.wasClean, `chat close: ${JSON.stringify(cl)}`);
  }
}

(mode === "echo" ? echo() : chat()).then(
  () => {
    console.log(`ok   ${label}`);
    process.exit(0);
  },
  (e) => {
    console.log(`FAIL ${label}: ${e instanceof CheckFailed ? e.message : e.stack || e}`);
    process.exit(1);
  });
