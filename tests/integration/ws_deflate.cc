// permessage-deflate for the test client: response parsing and zlib raw-deflate streams.
#include "ws_deflate.h"

#include <zlib.h>

#include <cstring>
#include <set>
#include <vector>

namespace gev::test::ws {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (;;) {
    const size_t i = s.find(sep);
    out.push_back(trim(s.substr(0, i)));
    if (i == std::string_view::npos) return out;
    s.remove_prefix(i + 1);
  }
}

// A window-bits value, quoted or not: 8..15, or -1 when malformed.
int window_bits(std::string_view v) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  if (v.empty() || v.size() > 2) return -1;
  int n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return -1;
    n = n * 10 + (c - '0');
  }
  return n >= 8 && n <= 15 ? n : -1;
}

const uint8_t kTail[4] = {0x00, 0x00, 0xff, 0xff};

}  // namespace

std::optional<DeflateParams> parse_deflate_response(std::string_view value, std::string* error) {
  std::optional<DeflateParams> result;
  for (std::string_view ext : split(value, ',')) {
    std::vector<std::string_view> parts = split(ext, ';');
    if (parts[0] != "permessage-deflate") continue;
    if (result) {
      *error = "permessage-deflate answered twice";
      return result;
    }
    DeflateParams p;
    std::set<std::string_view> seen;
    for (size_t i = 1; i < parts.size(); ++i) {
      const size_t eq = parts[i].find('=');
      std::string_view name = trim(parts[i].substr(0, eq));
      std::string_view val = eq == std::string_view::npos ? "" : trim(parts[i].substr(eq + 1));
      if (!seen.insert(name).second) *error = "duplicate parameter " + std::string(name);
      if (name == "server_no_context_takeover" && val.empty()) {
        p.server_no_context_takeover = true;
      } else if (name == "client_no_context_takeover" && val.empty()) {
        p.client_no_context_takeover = true;
      } else if (name == "server_max_window_bits" && window_bits(val) > 0) {
        p.server_max_window_bits = window_bits(val);
      } else if (name == "client_max_window_bits" && window_bits(val) > 0) {
        p.client_max_window_bits = window_bits(val);
      } else {
        *error = "bad parameter in response: " + std::string(parts[i]);
      }
    }
    result = p;
  }
  return result;
}

struct Deflater::State {
  z_stream z{};
};

Deflater::Deflater(int window_bits, bool no_context_takeover, int level)
    : s_(std::make_unique<State>()), no_context_takeover_(no_context_takeover) {
  // zlib cannot produce an 8-bit window; 9 is the smallest it writes (see zlib.h).
  deflateInit2(&s_->z, level, Z_DEFLATED, -(window_bits < 9 ? 9 : window_bits), 8,
               Z_DEFAULT_STRATEGY);
}

Deflater::~Deflater() {
  deflateEnd(&s_->z);
}

std::string Deflater::compress(std::string_view message) {
  std::string out;
  z_stream& z = s_->z;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(message.data()));
  z.avail_in = static_cast<uInt>(message.size());
  char buf[16384];
  do {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    deflate(&z, Z_SYNC_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
  } while (z.avail_out == 0 || z.avail_in > 0);
  if (out.size() >= 4 && std::memcmp(out.data() + out.size() - 4, kTail, 4) == 0)
    out.resize(out.size() - 4);
  // A second sync flush with no new input produces nothing, and an empty payload does
  // not inflate (00 00 ff ff alone is a broken stored block): send the 0x00 byte that
  // RFC 7692 7.2.3.6 gives for an empty message instead.
  if (out.empty()) out.push_back('\0');
  if (no_context_takeover_) deflateReset(&z);
  return out;
}

struct Inflater::State {
  z_stream z{};
};

Inflater::Inflater(int window_bits, bool no_context_takeover)
    : s_(std::make_unique<State>()), no_context_takeover_(no_context_takeover) {
  inflateInit2(&s_->z, -window_bits);
}

Inflater::~Inflater() {
  inflateEnd(&s_->z);
}

std::optional<std::string> Inflater::inflate(std::string_view compressed, size_t limit) {
  std::string in(compressed);
  in.append(reinterpret_cast<const char*>(kTail), 4);
  z_stream& z = s_->z;
  z.next_in = reinterpret_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  std::string out;
  char buf[16384];
  // Runs until the input is used up and zlib has room left over (nothing more pending).
  for (;;) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    const int rc = ::inflate(&z, Z_SYNC_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
    if (out.size() > limit) return std::nullopt;
    if (rc == Z_STREAM_END) {
      // A final block ends the stream; the next message starts a new one.
      inflateReset(&z);
      if (z.avail_in == 0) break;
      continue;
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) return std::nullopt;
    if (z.avail_out != 0) break;
  }
  if (z.avail_in != 0) return std::nullopt;
  if (no_context_takeover_) inflateReset(&z);
  return out;
}

std::string deflate_message(std::string_view message, int window_bits, int level) {
  Deflater d(window_bits, true, level);
  return d.compress(message);
}

}  // namespace gev::test::ws
