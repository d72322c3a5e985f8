// protobuf: the framing of gev's protobuf plugin (Go: github.com/Allenxuxu/gev,
// plugins/protobuf/protocol.go and protobuf.go):
//
//   [u32 BE length][u16 BE type-name length][type name][payload]
//
// The u32 length counts everything AFTER itself: the 2-byte type-name length, the type
// name and the payload (Go's PackMessage writes len(data) + len(msgType) + 2, and
// UnPacket waits for length + 4 bytes). decode delivers the payload as frame.data and the
// type name as frame.meta (type 0); encode writes msg.meta as the type name and msg.data
// as the payload, so a reply that keeps the request's meta (echo) comes back unchanged.
// (Go's Packet passes bytes through and its handlers call PackMessage themselves; the
// bytes on the wire are the same.)
//
//   --module-opt protobuf.max_frame=N    largest u32 length accepted (default 4 MiB)
//
// (The core also caps a connection's undecoded input, 64 MiB by default: a max_frame
// above that cannot be reached.)
//
// Where Go would panic or wait forever, this refuses the frame (a decode error: the host
// closes that one connection): a length over max_frame (seen from the first 4 bytes,
// before any payload is awaited or anything allocated), a length under 2 (no room for
// the name length), a name longer than the frame. Go also waits for a 7th byte before
// looking at a header, so it never decodes the 6-byte frame "empty name, empty payload";
// this does. Frames are views into the input: decode never allocates. A frame with an
// empty payload is a message like any other (its data is an empty view with a non-null
// pointer), so echo answers it with the same empty-payload frame.
#include <gev/sdk/cpp/module.h>

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <stdexcept>
#include <string>

namespace {

constexpr const char* kName = "protobuf";
constexpr uint64_t kLengthBytes = 4;      // the u32 frame length
constexpr uint64_t kNameLengthBytes = 2;  // the u16 type-name length
constexpr uint64_t kHeaderBytes = kLengthBytes + kNameLengthBytes;

uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
uint16_t be16(const uint8_t* p) {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}

class Protobuf : public gev::sdk::Protocol {
 public:
  explicit Protobuf(const gev::sdk::Config& cfg) {
    cfg.allow_only({"max_frame"});
    max_frame_ = cfg.get_uint("max_frame", uint64_t{4} << 20);
    if (max_frame_ < kNameLengthBytes)
      throw std::invalid_argument("protobuf.max_frame must be at least 2 (the name length)");
  }

  void decode(gev::sdk::Conn, void*, gev_bytes in, gev_decode_result& out) override {
    out.status = GEV_DECODE_NEED_MORE;
    if (in.len < kLengthBytes) return;
    const uint64_t len = be32(in.ptr);
    // Judged on the length alone, so a hostile length costs neither memory nor a wait.
    if (len > max_frame_) return fail(out, "protobuf: frame length exceeds protobuf.max_frame");
    if (len < kNameLengthBytes) return fail(out, "protobuf: frame length shorter than 2");
    if (in.len < kHeaderBytes) return;
    const uint64_t name_len = be16(in.ptr + kLengthBytes);
    if (name_len > len - kNameLengthBytes)
      return fail(out, "protobuf: type-name length exceeds the frame length");
    if (in.len - kLengthBytes < len) return;
    out.status = GEV_DECODE_FRAME;
    out.consumed = kLengthBytes + len;
    out.frame.type = 0;
    out.frame.meta = {in.ptr + kHeaderBytes, name_len};  // views into the input: no copy
    out.frame.data = {in.ptr + kHeaderBytes + name_len, len - kNameLengthBytes - name_len};
  }

  gev_status encode(gev::sdk::Conn, void*, const gev_frame& msg, gev::sdk::Writer& w) override {
    const uint64_t name_len = msg.meta.len;
    if (name_len > UINT16_MAX || msg.data.len > UINT32_MAX - kNameLengthBytes - name_len) {
      gev::sdk::log(GEV_LOG_WARN, kName, "a reply too long for the frame header: closing");
      return GEV_ERR_INVALID;
    }
    const uint64_t len = kNameLengthBytes + name_len + msg.data.len;
    // Header and name in one reserved piece; the payload may then be referenced.
    uint8_t* h = w.reserve(kHeaderBytes + name_len);
    if (!h) return GEV_ERR_NOMEM;
    h[0] = static_cast<uint8_t>(len >> 24);
    h[1] = static_cast<uint8_t>(len >> 16);
    h[2] = static_cast<uint8_t>(len >> 8);
    h[3] = static_cast<uint8_t>(len);
    h[4] = static_cast<uint8_t>(name_len >> 8);
    h[5] = static_cast<uint8_t>(name_len);
    if (name_len) std::memcpy(h + kHeaderBytes, msg.meta.ptr, name_len);
    return w.append(msg.data);
  }

 private:
  static void fail(gev_decode_result& out, const char* why) {
    out.status = GEV_DECODE_ERROR;
    out.error = why;
  }

  uint64_t max_frame_ = 0;
};

}  // namespace

GEV_PROTOCOL_MODULE(Protobuf, "protobuf", "1.0.0")
