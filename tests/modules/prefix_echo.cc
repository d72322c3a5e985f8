// prefix_echo: echo with a prefix (option prefix, default "v2:"), the "new build" whose
// replies differ from echo's in the hand-off and reload tests (built a second time as
// echo_v2.so, named "echo", so a reload can swap it in for echo.so).
#include <gev/sdk/cpp/module.h>

#include <string>

namespace {
class PrefixEcho : public gev::sdk::Handler {
 public:
  explicit PrefixEcho(const gev::sdk::Config& cfg) {
    cfg.allow_only({"prefix"});
    prefix_ = cfg.get("prefix", "v2:");
  }
#ifdef PREFIX_ECHO_ADOPTS  // echo_v2m: takes over echo's connections at a reload
  static constexpr bool kAdopts = true;
#endif
  gev_status on_message(gev::sdk::Conn c, const gev_frame& msg, gev_frame&) override {
    std::string reply = prefix_;
    reply += gev::sdk::view(msg.data);
    return c.send(reply, msg.type);  // copied by the host
  }

 private:
  std::string prefix_;
};
}  // namespace

#ifndef PREFIX_ECHO_NAME
#define PREFIX_ECHO_NAME "prefix_echo"
#endif
GEV_HANDLER_MODULE(PrefixEcho, PREFIX_ECHO_NAME, "1.0.0")
