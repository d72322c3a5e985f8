// udp_probe: a test handler for UDP listeners: what a handler can do with a datagram
// peer through the SDK. A datagram "probe" is answered with one line of facts:
//   datagram=1 pause=-4 resume=-4 shutdown=-4 link=-4 context=N peers=P
// (GEV_ERR_UNSUPPORTED is -4; context counts this peer's probes, kept in its per-
// connection context; peers counts the open peers for_each_conn finds on its loop), then "timer" 20 ms later from a timer the peer owns, and
// "send_to" through send_to by the peer's id. Any other datagram is echoed.
#include <gev/sdk/cpp/module.h>

#include <string>

namespace {

using gev::sdk::Conn;

class UdpProbe : public gev::sdk::Handler {
 public:
  explicit UdpProbe(const gev::sdk::Config&) {}

  gev_status on_connect(Conn c) override {
    c.set_context(new uint64_t(0));
    return GEV_OK;
  }
  void on_close(Conn c) override { delete static_cast<uint64_t*>(c.context()); }

  gev_status on_message(Conn c, const gev_frame& msg, gev_frame& reply) override {
    if (gev::sdk::view(msg.data) != "probe") {
      reply.data = msg.data;
      return GEV_OK;
    }
    uint64_t& probes = *static_cast<uint64_t*>(c.context());
    ++probes;
    gev_status pause = c.pause_reading(), resume = c.resume_reading();
    gev_status shut = c.shutdown_write(), link = c.link(c);
    const gev_host_api* h = gev::sdk::host_api();
    size_t peers = 0;
    h->for_each_conn(h->host, c.loop(), [](gev_conn*, void* n) { ++*static_cast<size_t*>(n); },
                     &peers);
    c.send("datagram=" + std::to_string(c.datagram() ? 1 : 0) + " pause=" + std::to_string(pause) +
           " resume=" + std::to_string(resume) + " shutdown=" + std::to_string(shut) +
           " link=" + std::to_string(link) + " context=" + std::to_string(probes) +
           " peers=" + std::to_string(peers));
    gev::sdk::host_api()->timer_start(c.loop(), c.get(), 20'000'000, 0, &later, c.get());
    gev::sdk::send_to(c.id(), "send_to");
    return GEV_OK;
  }

 private:
  static void later(void* conn) { Conn(static_cast<gev_conn*>(conn)).send("timer"); }
};

}  // namespace

GEV_HANDLER_MODULE(UdpProbe, "udp_probe", "1.0.0")
