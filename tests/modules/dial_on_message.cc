// dial_on_message: a test handler that dials `dial_on_message.upstream` when a line says
// "dial" and answers whether the host let it ("dialed" or "refused N"); the dialled
// connection sends "hi from <generation tag>" and closes. A reload that replaces this
// module leaves its old instance serving old connections, which may then dial no more.
#include <gev/sdk/cpp/module.h>

#include <string>

namespace {
class DialOnMessage : public gev::sdk::Handler {
 public:
  explicit DialOnMessage(const gev::sdk::Config& cfg)
      : upstream_(cfg.get("upstream", "127.0.0.1:9")), tag_(cfg.get("tag", "")) {}
  gev_status on_connect(gev::sdk::Conn c) override {
    if (c.outbound()) {
      c.send("hi from " + tag_ + "\n");
      c.close();
    }
    return GEV_OK;
  }
  gev_status on_message(gev::sdk::Conn c, const gev_frame& msg, gev_frame& reply) override {
    if (c.outbound() || gev::sdk::view(msg.data) != "dial") return GEV_OK;
    gev_status st = gev::sdk::dial(c.loop(), upstream_, nullptr, "raw");
    thread_local std::string answer;  // (the reply's view must outlive on_message)
    answer = st == GEV_OK ? "dialed" : "refused " + std::to_string(st);
    reply.data = gev::sdk::bytes(answer);
    return GEV_OK;
  }

 private:
  std::string upstream_, tag_;
};
}  // namespace

GEV_HANDLER_MODULE(DialOnMessage, "dial_on_message", "1.0.0")
