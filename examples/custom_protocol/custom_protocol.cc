// custom_protocol: gev's example protocol as an out-of-tree module. A frame is a 4-byte
// big-endian payload length followed by the payload.
#include <gev/sdk/cpp/module.h>

namespace {

class CustomProtocol : public gev::sdk::Protocol {
 public:
  explicit CustomProtocol(const gev::sdk::Config& config)
      : max_frame_(config.get_uint("max_frame", 1u << 20)) {}

  void decode(gev::sdk::Conn, void*, gev_bytes in, gev_decode_result& out) override {
    if (in.len < 4) return;  // NEED_MORE
    uint32_t len = (uint32_t{in.ptr[0]} << 24) | (uint32_t{in.ptr[1]} << 16) |
                   (uint32_t{in.ptr[2]} << 8) | uint32_t{in.ptr[3]};
    if (len > max_frame_) {
      out.status = GEV_DECODE_ERROR;
      out.error = "custom_protocol: frame over max_frame";
      return;
    }
    if (in.len < 4 + uint64_t{len}) return;  // NEED_MORE
    out.status = GEV_DECODE_FRAME;
    out.consumed = 4 + uint64_t{len};
    out.frame.data = {in.ptr + 4, len};
  }

  gev_status encode(gev::sdk::Conn, void*, const gev_frame& msg, gev::sdk::Writer& w) override {
    uint8_t* h = w.reserve(4);
    if (!h) return GEV_ERR_NOMEM;
    uint32_t len = static_cast<uint32_t>(msg.data.len);
    h[0] = static_cast<uint8_t>(len >> 24);
    h[1] = static_cast<uint8_t>(len >> 16);
    h[2] = static_cast<uint8_t>(len >> 8);
    h[3] = static_cast<uint8_t>(len);
    return w.append(msg.data);
  }

 private:
  uint64_t max_frame_;
};

}  // namespace

GEV_PROTOCOL_MODULE(CustomProtocol, "custom_protocol", "1.0.0")
