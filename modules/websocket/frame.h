// RFC 6455 section 5.2 frame headers: parsing the client's, writing the server's, and
// unmasking payload bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace gev::ws {

enum Opcode : uint8_t {
  kContinuation = 0,
  kText = 1,
  kBinary = 2,
  kClose = 8,
  kPing = 9,
  kPong = 10,
};

inline bool is_control(uint8_t opcode) {
  return opcode & 0x8;
}
inline bool is_known_opcode(uint8_t opcode) {
  return opcode <= kBinary || (opcode >= kClose && opcode <= kPong);
}

struct FrameHeader {
  bool fin = false;
  uint8_t rsv = 0;  // RSV1..3 as bits 2..0 (RSV1 = 4)
  uint8_t opcode = 0;
  bool masked = false;
  uint64_t length = 0;
  uint8_t mask[4] = {0, 0, 0, 0};
};

inline constexpr uint8_t kRsv1 = 4;
inline constexpr size_t kMaxHeader = 14;

// Parses a header from the front of p[0..n). Returns its length, 0 if more bytes are
// needed, or -1 for a 64-bit length with the top bit set (RFC 6455 5.2).
inline int parse_header(const uint8_t* p, size_t n, FrameHeader& h) {
  if (n < 2) return 0;
  h.fin = p[0] & 0x80;
  h.rsv = (p[0] >> 4) & 0x7;
  h.opcode = p[0] & 0x0F;
  h.masked = p[1] & 0x80;
  uint64_t len = p[1] & 0x7F;
  size_t pos = 2;
  if (len == 126) {
    if (n < 4) return 0;
    len = (uint64_t{p[2]} << 8) | p[3];
    pos = 4;
  } else if (len == 127) {
    if (n < 10) return 0;
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
    if (len >> 63) return -1;
    pos = 10;
  }
  if (h.masked) {
    if (n < pos + 4) return 0;
    std::memcpy(h.mask, p + pos, 4);
    pos += 4;
  }
  h.length = len;
  return static_cast<int>(pos);
}

// Writes an unmasked, final server frame header; returns its length (2, 4 or 10).
inline size_t write_header(uint8_t* out, uint8_t opcode, bool rsv1, uint64_t len) {
  out[0] = static_cast<uint8_t>(0x80 | (rsv1 ? 0x40 : 0) | opcode);
  if (len < 126) {
    out[1] = static_cast<uint8_t>(len);
    return 2;
  }
  if (len <= 0xFFFF) {
    out[1] = 126;
    out[2] = static_cast<uint8_t>(len >> 8);
    out[3] = static_cast<uint8_t>(len);
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<uint8_t>(len >> (56 - 8 * i));
  return 10;
}

inline size_t header_size(uint64_t len) {
  return len < 126 ? 2 : len <= 0xFFFF ? 4 : 10;
}

// dst[i] = src[i] ^ mask[(offset + i) % 4]: `offset` is where src starts in the payload,
// so a payload can be unmasked in pieces as it arrives. 32 bytes a step with GCC/Clang
// vector types (SSE2 on x86-64 without -march), the rest 8 and then 1 at a time.
inline void unmask_copy(uint8_t* dst, const uint8_t* src, size_t n, const uint8_t mask[4],
                        uint64_t offset) {
  uint8_t m[16];
  for (int i = 0; i < 16; ++i) m[i] = mask[(offset + static_cast<uint64_t>(i)) & 3];
  size_t i = 0;
#if defined(__GNUC__) || defined(__clang__)
  typedef uint8_t v16 __attribute__((vector_size(16)));
  v16 mv;
  std::memcpy(&mv, m, 16);
  for (; i + 32 <= n; i += 32) {
    v16 a, b;
    std::memcpy(&a, src + i, 16);
    std::memcpy(&b, src + i + 16, 16);
    a ^= mv;
    b ^= mv;
    std::memcpy(dst + i, &a, 16);
    std::memcpy(dst + i + 16, &b, 16);
  }
#endif
  uint64_t m64;
  std::memcpy(&m64, m, 8);
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, src + i, 8);
    w ^= m64;
    std::memcpy(dst + i, &w, 8);
  }
  for (; i < n; ++i) dst[i] = src[i] ^ m[i & 7];
}

}  // namespace gev::ws
