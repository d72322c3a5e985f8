// WebSocket frames as the raw-socket test client builds and reads them: every header bit
// is settable, the declared length can lie about the payload, and parsing reports the
// exact header form the server used so tests can check its encoding.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gev::test::ws {

// Opcodes (RFC 6455 5.2); plain constants so tests can also send the reserved ones.
inline constexpr uint8_t kContinuation = 0;
inline constexpr uint8_t kText = 1;
inline constexpr uint8_t kBinary = 2;
inline constexpr uint8_t kClose = 8;
inline constexpr uint8_t kPing = 9;
inline constexpr uint8_t kPong = 10;

// A client frame to put on the wire. Defaults give a masked, final, minimal-length frame.
struct Frame {
  uint8_t opcode = kText;
  std::string payload;
  bool fin = true;
  bool rsv1 = false, rsv2 = false, rsv3 = false;
  bool masked = true;
  std::array<uint8_t, 4> mask_key = {0x37, 0xfa, 0x21, 0x3d};
  // 0: the minimal encoding; 7, 16 or 64 force that length field (a lie if too small).
  int length_bits = 0;
  // Written in the length field instead of payload.size() (payload is still sent whole).
  std::optional<uint64_t> declared_length;
};

// The frame's bytes: header, mask key if masked, (masked) payload.
std::string encode(const Frame& f);

// Just the header (with mask key) of `f`, for tests that send the payload separately or
// never; the payload that follows must be masked with mask_payload(f.mask_key, ...).
std::string encode_header(const Frame& f, uint64_t length);
std::string mask_payload(const std::array<uint8_t, 4>& key, std::string_view payload,
                         uint64_t offset = 0);

// A frame as the server sent it.
struct Received {
  uint8_t opcode = 0;
  bool fin = false;
  bool rsv1 = false, rsv2 = false, rsv3 = false;
  bool masked = false;
  int length_bits = 0;  // 7, 16 or 64: which length field the server used
  std::string payload;  // unmasked if it was masked
  size_t wire_size = 0;
};

// Parses one frame from the front of `buf`: the frame and its size, or nullopt when
// `buf` does not yet hold a whole frame.
std::optional<Received> parse(std::string_view buf);

// A close payload: 2-byte big-endian code + reason.
std::string close_payload(uint16_t code, std::string_view reason = {});

// True when the length field used is the shortest one that fits (RFC 6455 5.2).
bool minimal_length(const Received& r);

}  // namespace gev::test::ws
