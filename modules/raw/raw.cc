// raw: gev's default protocol. Every chunk of input is one frame; replies go out as is.
#include <gev/sdk/cpp/module.h>

namespace {

class Raw : public gev::sdk::Protocol {
 public:
  // Over UDP each datagram is one frame, as each read is over TCP.
  static constexpr uint32_t kProtocolFlags = GEV_PROTOCOL_DATAGRAMS;
  explicit Raw(const gev::sdk::Config&) {}
  void decode(gev::sdk::Conn, void*, gev_bytes in, gev_decode_result& out) override {
    out.status = GEV_DECODE_FRAME;
    out.consumed = in.len;
    out.frame.data = in;
  }
  gev_status encode(gev::sdk::Conn, void*, const gev_frame& msg, gev::sdk::Writer& w) override {
    return w.append(msg.data);
  }
};

}  // namespace

GEV_PROTOCOL_MODULE(Raw, "raw", "1.0.0")
