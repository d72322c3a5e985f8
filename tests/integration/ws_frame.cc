// WebSocket frame encoding and parsing for the test client (RFC 6455 5.2).
#include "ws_frame.h"

#include <cstring>

namespace gev::test::ws {

std::string encode_header(const Frame& f, uint64_t length) {
  std::string h;
  h.push_back(static_cast<char>((f.fin ? 0x80 : 0) | (f.rsv1 ? 0x40 : 0) | (f.rsv2 ? 0x20 : 0) |
                                (f.rsv3 ? 0x10 : 0) | (f.opcode & 0x0f)));
  const uint8_t mask_bit = f.masked ? 0x80 : 0;
  int bits = f.length_bits;
  if (bits == 0) bits = length < 126 ? 7 : length <= 0xffff ? 16 : 64;
  if (bits == 7) {
    h.push_back(static_cast<char>(mask_bit | (length & 0x7f)));
  } else if (bits == 16) {
    h.push_back(static_cast<char>(mask_bit | 126));
    h.push_back(static_cast<char>(length >> 8));
    h.push_back(static_cast<char>(length));
  } else {
    h.push_back(static_cast<char>(mask_bit | 127));
    for (int i = 7; i >= 0; --i) h.push_back(static_cast<char>(length >> (8 * i)));
  }
  if (f.masked) h.append(reinterpret_cast<const char*>(f.mask_key.data()), 4);
  return h;
}

std::string mask_payload(const std::array<uint8_t, 4>& key, std::string_view payload,
                         uint64_t offset) {
  std::string out(payload);
  // Eight bytes at a time: masking 16 MiB byte by byte is slow in sanitizer builds.
  uint8_t k8[8];
  for (size_t i = 0; i < 8; ++i) k8[i] = key[(offset + i) & 3];
  uint64_t k;
  std::memcpy(&k, k8, 8);
  size_t i = 0;
  for (; i + 8 <= out.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, out.data() + i, 8);
    w ^= k;
    std::memcpy(out.data() + i, &w, 8);
  }
  for (; i < out.size(); ++i)
    out[i] = static_cast<char>(static_cast<uint8_t>(out[i]) ^ key[(offset + i) & 3]);
  return out;
}

std::string encode(const Frame& f) {
  std::string out = encode_header(f, f.declared_length.value_or(f.payload.size()));
  out += f.masked ? mask_payload(f.mask_key, f.payload) : f.payload;
  return out;
}

std::optional<Received> parse(std::string_view buf) {
  if (buf.size() < 2) return std::nullopt;
  const auto b0 = static_cast<uint8_t>(buf[0]);
  const auto b1 = static_cast<uint8_t>(buf[1]);
  Received r;
  r.fin = b0 & 0x80;
  r.rsv1 = b0 & 0x40;
  r.rsv2 = b0 & 0x20;
  r.rsv3 = b0 & 0x10;
  r.opcode = b0 & 0x0f;
  r.masked = b1 & 0x80;
  uint64_t len = b1 & 0x7f;
  size_t pos = 2;
  r.length_bits = 7;
  if (len >= 126) {
    const size_t n = len == 126 ? 2 : 8;
    r.length_bits = len == 126 ? 16 : 64;
    if (buf.size() < pos + n) return std::nullopt;
    len = 0;
    for (size_t i = 0; i < n; ++i) len = (len << 8) | static_cast<uint8_t>(buf[pos + i]);
    pos += n;
  }
  std::array<uint8_t, 4> key{};
  if (r.masked) {
    if (buf.size() < pos + 4) return std::nullopt;
    for (size_t i = 0; i < 4; ++i) key[i] = static_cast<uint8_t>(buf[pos + i]);
    pos += 4;
  }
  if (buf.size() - pos < len) return std::nullopt;
  r.payload = std::string(buf.substr(pos, static_cast<size_t>(len)));
  if (r.masked) r.payload = mask_payload(key, r.payload);
  r.wire_size = pos + static_cast<size_t>(len);
  return r;
}

std::string close_payload(uint16_t code, std::string_view reason) {
  std::string p;
  p.push_back(static_cast<char>(code >> 8));
  p.push_back(static_cast<char>(code & 0xff));
  p += reason;
  return p;
}

bool minimal_length(const Received& r) {
  const size_t n = r.payload.size();
  return r.length_bits == (n < 126 ? 7 : n <= 0xffff ? 16 : 64);
}

}  // namespace gev::test::ws
