// pb_router: a handler for the protobuf protocol that routes by the frame's type name
// (frame.meta): gev.example.Add is answered with a gev.example.Sum, gev.example.Echo with
// the same Echo. An unknown type or a payload that does not parse closes the connection.
#include <gev/sdk/cpp/module.h>

#include <climits>
#include <cstdint>
#include <string>
#include <string_view>

#include "messages.pb.h"

namespace {

constexpr const char* kName = "pb_router";

class Router : public gev::sdk::Handler {
 public:
  explicit Router(const gev::sdk::Config& cfg) { cfg.allow_only({}); }

  gev_status on_message(gev::sdk::Conn c, const gev_frame& msg, gev_frame&) override {
    if (msg.data.len > INT_MAX) return refuse("a payload too large for protobuf parsing");
    const int size = static_cast<int>(msg.data.len);
    const std::string_view type = gev::sdk::view(msg.meta);
    if (type == add_name_) {
      gev::example::Add add;
      if (!add.ParseFromArray(msg.data.ptr, size)) return refuse("an Add that does not parse");
      gev::example::Sum sum;
      // Wrapping addition: a signed overflow would be undefined behaviour.
      sum.set_sum(
          static_cast<int64_t>(static_cast<uint64_t>(add.a()) + static_cast<uint64_t>(add.b())));
      return send(c, sum);
    }
    if (type == echo_name_) {
      gev::example::Echo echo;
      if (!echo.ParseFromArray(msg.data.ptr, size)) return refuse("an Echo that does not parse");
      return send(c, echo);
    }
    return refuse("an unknown message type");
  }

 private:
  // Replies go out through Conn::send rather than the reply frame: the reply frame's
  // view must outlive on_message (so would need per-connection storage), while send, on
  // the loop thread, encodes at once and copies, so a local buffer will do. A message
  // whose fields all hold their defaults (Sum{0}, Echo{""}) serializes to zero bytes
  // and still goes out, as a frame with an empty payload.
  static gev_status send(gev::sdk::Conn c, const google::protobuf::MessageLite& m) {
    std::string payload;
    if (!m.SerializeToString(&payload)) return GEV_ERR_INVALID;
    const std::string& type = m.GetTypeName();
    gev_frame f{sizeof(gev_frame), 0, gev::sdk::bytes(payload), gev::sdk::bytes(type)};
    return c.send(f);
  }

  static gev_status refuse(const char* why) {
    gev::sdk::log(GEV_LOG_WARN, kName, std::string(why) + ": closing");
    return GEV_ERR_INVALID;
  }

  const std::string add_name_ = gev::example::Add::default_instance().GetTypeName();
  const std::string echo_name_ = gev::example::Echo::default_instance().GetTypeName();
};

}  // namespace

GEV_HANDLER_MODULE(Router, "pb_router", "1.0.0")
