// Units of modules/websocket that need no socket: the handshake parser and extension
// negotiation, the UTF-8 validator, unmasking, and the deflate wrappers' limits.
#include <doctest/doctest.h>
#include <zlib.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bytes.h"
#include "deflate.h"
#include "frame.h"
#include "handshake.h"
#include "utf8.h"

using namespace gev::ws;

namespace {

std::string request(const std::string& extra, const std::string& version = "13") {
  return "GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"
         "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
         "Sec-WebSocket-Version: " +
         version + "\r\n" + extra + "\r\n";
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// Code point by code point, straight from RFC 3629's grammar: the reference.
bool reference_utf8(const std::vector<uint8_t>& s) {
  size_t i = 0;
  while (i < s.size()) {
    uint32_t b = s[i], cp, need;
    if (b < 0x80) {
      ++i;
      continue;
    } else if ((b & 0xE0) == 0xC0) {
      cp = b & 0x1F, need = 1;
    } else if ((b & 0xF0) == 0xE0) {
      cp = b & 0x0F, need = 2;
    } else if ((b & 0xF8) == 0xF0) {
      cp = b & 0x07, need = 3;
    } else {
      return false;
    }
    if (i + need >= s.size()) return false;
    for (uint32_t k = 1; k <= need; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    uint32_t min = need == 1 ? 0x80 : need == 2 ? 0x800 : 0x10000;
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += need + 1;
  }
  return true;
}

}  // namespace

TEST_CASE("websocket: Sec-WebSocket-Accept of RFC 6455's example key") {
  CHECK(accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST_CASE("websocket: handshake parser outcomes") {
  HandshakeConfig cfg;
  std::string good = request("");
  Handshake h = parse_handshake(good, cfg);
  REQUIRE(h.kind == Handshake::Kind::kUpgrade);
  CHECK(h.head_size == good.size());
  CHECK(contains(h.response, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
  CHECK(parse_handshake(good.substr(0, good.size() - 1), cfg).kind == Handshake::Kind::kNeedMore);
  CHECK(parse_handshake(request("", "12"), cfg).status == 426);
  std::string firefox = good;
  firefox.replace(firefox.find("Connection: Upgrade"), 19, "connection: keep-alive, Upgrade");
  CHECK(parse_handshake(firefox, cfg).kind == Handshake::Kind::kUpgrade);
  std::string no_host = good;
  no_host.erase(no_host.find("Host: example.com\r\n"), 19);
  CHECK(parse_handshake(no_host, cfg).status == 400);
  std::string bad_key = good;
  bad_key.replace(bad_key.find("dGhlIHNhbXBsZSBub25jZQ=="), 24, "dGhlIHNhbXBsZSBub25jZR==");
  CHECK(parse_handshake(bad_key, cfg).status == 400);  // R carries bits past 16 bytes
  std::string post = good;
  post.replace(0, 3, "POST");
  CHECK(parse_handshake(post, cfg).status == 405);
  CHECK(parse_handshake("GET / HTTP/1.1\r\nHost: x\r\n\r\n", cfg).kind ==
        Handshake::Kind::kPlainGet);
  cfg.max_head = 100;
  CHECK(parse_handshake(std::string(100, 'a'), cfg).status == 431);
}

TEST_CASE("websocket: max_headers counts header lines, not the request line") {
  auto lines = [](int n) {
    std::string extra;
    for (int i = 0; i < n; ++i) extra += "X-H" + std::to_string(i) + ": v\r\n";
    return extra;
  };
  HandshakeConfig cfg;
  REQUIRE(cfg.max_headers == 100);
  // request() sends 5 header lines of its own.
  CHECK(parse_handshake(request(lines(95)), cfg).kind == Handshake::Kind::kUpgrade);
  Handshake over = parse_handshake(request(lines(96)), cfg);
  CHECK(over.kind == Handshake::Kind::kReject);
  CHECK(over.status == 431);
  CHECK(over.head_size == request(lines(96)).size());
  cfg.max_headers = 5;
  CHECK(parse_handshake(request(""), cfg).kind == Handshake::Kind::kUpgrade);
  CHECK(parse_handshake(request(lines(1)), cfg).status == 431);
  // Checked first: a head with too many lines is 431 even if it is otherwise a 400.
  CHECK(parse_handshake("GET / HTTP/1.1\r\nno colon\r\n" + lines(5) + "\r\n", cfg).status == 431);
  CHECK(parse_handshake("GET / HTTP/1.1\r\nno colon\r\n" + lines(4) + "\r\n", cfg).status == 400);
  // An unfinished head is refused once the line over the limit is complete.
  std::string head = request(lines(1));
  std::string partial = head.substr(0, head.size() - 2);  // the blank line not yet sent
  CHECK(parse_handshake(partial, cfg).status == 431);
  CHECK(parse_handshake(partial.substr(0, partial.size() - 1), cfg).kind ==
        Handshake::Kind::kNeedMore);
}

TEST_CASE("websocket: subprotocol chosen by the server's preference") {
  HandshakeConfig cfg;
  cfg.subprotocols = {"b", "a"};
  Handshake h = parse_handshake(request("Sec-WebSocket-Protocol: a, b\r\n"), cfg);
  CHECK(contains(h.response, "Sec-WebSocket-Protocol: b\r\n"));
  h = parse_handshake(request("Sec-WebSocket-Protocol: c\r\n"), cfg);
  CHECK_FALSE(contains(h.response, "Sec-WebSocket-Protocol"));
}

TEST_CASE("websocket: permessage-deflate negotiation (RFC 7692 7.1)") {
  DeflateConfig cfg;
  Deflate d;
  CHECK(negotiate_deflate("permessage-deflate", cfg, &d) == "permessage-deflate");
  CHECK(d.on);
  CHECK(negotiate_deflate("permessage-deflate; client_max_window_bits", cfg, &d) ==
        "permessage-deflate");
  CHECK(negotiate_deflate("permessage-deflate; server_no_context_takeover", cfg, &d) ==
        "permessage-deflate; server_no_context_takeover");
  CHECK(d.server_no_context_takeover);
  CHECK(negotiate_deflate("permessage-deflate; server_max_window_bits=10", cfg, &d) ==
        "permessage-deflate; server_max_window_bits=10");
  CHECK(d.server_window_bits == 10);
  // 8 bits is beyond zlib: that offer is declined, the next one taken.
  CHECK(negotiate_deflate("permessage-deflate; server_max_window_bits=8, permessage-deflate", cfg,
                          &d) == "permessage-deflate");
  CHECK(negotiate_deflate("permessage-deflate; server_max_window_bits=8", cfg, &d).empty());
  CHECK(negotiate_deflate("permessage-deflate; foo=1", cfg, &d).empty());
  CHECK(negotiate_deflate("permessage-deflate; server_max_window_bits", cfg, &d).empty());
  CHECK(negotiate_deflate("permessage-deflate; client_max_window_bits=16", cfg, &d).empty());
  CHECK(negotiate_deflate("permessage-deflate; server_no_context_takeover; "
                          "server_no_context_takeover",
                          cfg, &d)
            .empty());
  CHECK(negotiate_deflate("x-webkit-deflate-frame", cfg, &d).empty());
  cfg.client_max_window_bits = 12;
  CHECK(negotiate_deflate("permessage-deflate; client_max_window_bits", cfg, &d) ==
        "permessage-deflate; client_max_window_bits=12");
}

TEST_CASE("websocket: UTF-8 validator agrees with the reference, whole and split anywhere") {
  std::mt19937 rng(7);
  const std::vector<std::vector<uint8_t>> fixed = {
      {0xF4, 0x8F, 0xBF, 0xBF},                                            // U+10FFFF
      {0xF4, 0x90, 0x80, 0x80},                                            // past U+10FFFF
      {0xED, 0x9F, 0xBF},                                                  // U+D7FF
      {0xED, 0xA0, 0x80},                                                  // U+D800, a surrogate
      {0xEF, 0xBF, 0xBF},                                                  // U+FFFF
      {0xC0, 0x80},                                                        // overlong NUL
      {0xE0, 0x80, 0xAF},                                                  // overlong '/'
      {0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5},  // "kosme"
      {0x80},
      {0xF8, 0x88, 0x80, 0x80, 0x80},
  };
  std::vector<std::vector<uint8_t>> cases = fixed;
  const uint8_t interesting[] = {0x00, 0x41, 0x7F, 0x80, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0,
                                 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF, 0x9F, 0xA0, 0x8F, 0x90};
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> s(rng() % 9);
    for (uint8_t& b : s) b = interesting[rng() % sizeof interesting];
    cases.push_back(s);
  }
  for (const auto& s : cases) {
    bool want = reference_utf8(s);
    CHECK(valid_utf8(s.data(), s.size()) == want);
    for (size_t cut = 0; cut <= s.size(); ++cut) {
      Utf8Validator v;
      bool ok = v.feed(s.data(), cut) && v.feed(s.data() + cut, s.size() - cut) && v.complete();
      if (ok != want) FAIL("split at " << cut << " disagrees");
    }
  }
}

TEST_CASE("websocket: unmasking in pieces equals unmasking whole") {
  std::mt19937 rng(3);
  std::vector<uint8_t> src(1000);
  for (auto& b : src) b = static_cast<uint8_t>(rng());
  const uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
  std::vector<uint8_t> want(src.size());
  for (size_t i = 0; i < src.size(); ++i) want[i] = src[i] ^ mask[i % 4];
  for (size_t cut = 0; cut < 40; ++cut) {
    std::vector<uint8_t> got(src.size());
    unmask_copy(got.data(), src.data(), cut, mask, 0);
    unmask_copy(got.data() + cut, src.data() + cut, src.size() - cut, mask, cut);
    CHECK(got == want);
  }
}

TEST_CASE("websocket: frame header lengths 7, 16 and 64 bits; a top bit refused") {
  uint8_t out[kMaxHeader];
  for (uint64_t len : {uint64_t{0}, uint64_t{125}, uint64_t{126}, uint64_t{65535}, uint64_t{65536},
                       uint64_t{1} << 40}) {
    size_t n = write_header(out, kBinary, false, len);
    CHECK(n == header_size(len));
    FrameHeader h;
    CHECK(parse_header(out, n, h) == static_cast<int>(n));
    CHECK(h.length == len);
    CHECK(h.fin);
    CHECK_FALSE(h.masked);
    CHECK(parse_header(out, n - 1, h) == 0);
  }
  const uint8_t huge[10] = {0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0};
  FrameHeader h;
  CHECK(parse_header(huge, sizeof huge, h) == -1);
}

TEST_CASE("websocket: deflate round trip with and without context takeover; bomb capped") {
  for (bool reset : {false, true}) {
    Deflater d(1, 15);
    Inflater inf;
    for (int i = 0; i < 5; ++i) {
      std::string text(1000 + i, static_cast<char>('a' + i));
      std::vector<uint8_t> z;
      REQUIRE(d.compress(reinterpret_cast<const uint8_t*>(text.data()), text.size(), z, reset));
      Bytes out;
      REQUIRE(inf.feed(z.data(), z.size(), out, 1 << 20) == Inflater::Result::kOk);
      REQUIRE(inf.finish(out, 1 << 20, reset) == Inflater::Result::kOk);
      CHECK(std::string(reinterpret_cast<const char*>(out.data()), out.size()) == text);
    }
  }
  // 10 MiB of zeros deflates to about 10 KiB; with a 64 KiB cap inflation stops early.
  std::vector<uint8_t> zeros(10 << 20, 0), z;
  Deflater d(9, 15);
  REQUIRE(d.compress(zeros.data(), zeros.size(), z, false));
  CHECK(z.size() < 64 * 1024);
  Inflater inf;
  Bytes out;
  CHECK(inf.feed(z.data(), z.size(), out, 64 * 1024) == Inflater::Result::kTooBig);
  CHECK(out.size() <= 64 * 1024);
  Bytes exact;
  Inflater inf2;
  CHECK(inf2.feed(z.data(), 0, exact, 0) == Inflater::Result::kOk);
  const uint8_t garbage[] = {0xFF, 0xFF, 0xFF, 0xFF};
  CHECK(inf2.feed(garbage, sizeof garbage, exact, 1024) == Inflater::Result::kError);
}
