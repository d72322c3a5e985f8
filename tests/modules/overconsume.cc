// overconsume: a buggy protocol that claims to consume more input than it was given
// (after one good frame). The host must close only that connection, with a log line.
#include <gev/sdk/cpp/module.h>

namespace {
class Overconsume : public gev::sdk::Protocol {
 public:
  explicit Overconsume(const gev::sdk::Config&) {}
  void decode(gev::sdk::Conn, void*, gev_bytes in, gev_decode_result& out) override {
    out.status = GEV_DECODE_FRAME;
    out.frame.data = in;
    out.consumed = gev::sdk::view(in) == "bad" ? in.len + 10 : in.len;
  }
  gev_status encode(gev::sdk::Conn, void*, const gev_frame& msg, gev::sdk::Writer& w) override {
    return w.append(msg.data);
  }
};
}  // namespace

GEV_PROTOCOL_MODULE(Overconsume, "overconsume", "1.0.0")
